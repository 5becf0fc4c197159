//! Running as root: PostgreSQL refuses to, so the cluster is handed to an unprivileged user
//! (`postgres`, else `nobody`). This module picks that user, lets it reach and own the
//! directories it needs, and drops privileges between fork and exec. It must never widen a
//! permission beyond the search bit for others on an ancestor directory.

use std::ffi::CString;
use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use nix::unistd::{getegid, geteuid, getgrouplist, setgid, setgroups, setuid, Gid, Uid, User};

use super::error::io_error;
use super::EmbeddedError;

#[derive(Debug, Clone)]
pub(super) struct RunAs {
    pub(super) name: String,
    pub(super) uid: Uid,
    pub(super) gid: Gid,
    pub(super) groups: Vec<Gid>,
    /// Set when we are root and must hand postgres to an unprivileged user.
    pub(super) switch_from_root: bool,
}

pub(super) fn pick_unprivileged<T>(lookup: impl FnMut(&str) -> Option<T>) -> Option<T> {
    ["postgres", "nobody"].into_iter().find_map(lookup)
}

impl RunAs {
    pub(super) fn resolve() -> Result<RunAs, EmbeddedError> {
        let euid = geteuid();
        if !euid.is_root() {
            let name = User::from_uid(euid)
                .ok()
                .flatten()
                .map_or_else(|| euid.to_string(), |user| user.name);
            return Ok(RunAs {
                name,
                uid: euid,
                gid: getegid(),
                groups: Vec::new(),
                switch_from_root: false,
            });
        }
        let user = pick_unprivileged(|name| User::from_name(name).ok().flatten())
            .ok_or(EmbeddedError::NoUnprivilegedUser)?;
        let groups = CString::new(user.name.as_str())
            .ok()
            .and_then(|name| getgrouplist(&name, user.gid).ok())
            .unwrap_or_else(|| vec![user.gid]);
        Ok(RunAs {
            name: user.name,
            uid: user.uid,
            gid: user.gid,
            groups,
            switch_from_root: true,
        })
    }

    fn in_group(&self, gid: u32) -> bool {
        self.gid.as_raw() == gid || self.groups.iter().any(|g| g.as_raw() == gid)
    }
}

/// Which permission class a directory grants `run_as`, and whether it
/// includes search (x).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SearchAccess {
    Granted,
    DeniedToOwner,
    DeniedToGroup,
    DeniedToOthers,
}

pub(super) fn search_access(mode: u32, owner: u32, group: u32, run_as: &RunAs) -> SearchAccess {
    // Unix picks exactly one class; a lacking owner or group bit is not
    // rescued by the "others" bit.
    if owner == run_as.uid.as_raw() {
        if mode & 0o100 != 0 {
            SearchAccess::Granted
        } else {
            SearchAccess::DeniedToOwner
        }
    } else if run_as.in_group(group) {
        if mode & 0o010 != 0 {
            SearchAccess::Granted
        } else {
            SearchAccess::DeniedToGroup
        }
    } else if mode & 0o001 != 0 {
        SearchAccess::Granted
    } else {
        SearchAccess::DeniedToOthers
    }
}

/// The unprivileged user must be able to walk down to `dir`. Typical case:
/// a checkout under /root (mode 0700). Only the search bit for others is
/// added — no read, no write — so directory listings stay private.
pub(super) fn grant_ancestor_search(dir: &Path, run_as: &RunAs) -> Result<(), EmbeddedError> {
    for ancestor in dir.ancestors().skip(1) {
        let meta = fs::metadata(ancestor).map_err(io_error("inspecting", ancestor))?;
        match search_access(meta.mode(), meta.uid(), meta.gid(), run_as) {
            SearchAccess::Granted => {}
            SearchAccess::DeniedToOthers => {
                let mode = (meta.mode() & 0o7777) | 0o001;
                fs::set_permissions(ancestor, fs::Permissions::from_mode(mode))
                    .map_err(io_error("adding o+x to", ancestor))?;
                tracing::warn!(
                    directory = %ancestor.display(),
                    user = %run_as.name,
                    new_mode = format_args!("{mode:04o}"),
                    "added search permission for others (o+x) to an ancestor of the embedded \
                     PostgreSQL directory: PostgreSQL refuses to run as root and the user it \
                     runs as could not reach the directory otherwise"
                );
            }
            SearchAccess::DeniedToOwner | SearchAccess::DeniedToGroup => {
                return Err(EmbeddedError::AncestorNotSearchable {
                    path: ancestor.to_path_buf(),
                    user: run_as.name.clone(),
                });
            }
        }
    }
    Ok(())
}

fn chown_recursive(root: &Path, run_as: &RunAs) -> Result<(), EmbeddedError> {
    let (uid, gid) = (Some(run_as.uid.as_raw()), Some(run_as.gid.as_raw()));
    let mut pending = vec![root.to_path_buf()];
    while let Some(path) = pending.pop() {
        // lchown and symlink_metadata: never follow a link out of the tree.
        std::os::unix::fs::lchown(&path, uid, gid).map_err(io_error("changing owner of", &path))?;
        let meta = fs::symlink_metadata(&path).map_err(io_error("inspecting", &path))?;
        if meta.is_dir() {
            for entry in fs::read_dir(&path).map_err(io_error("listing", &path))? {
                pending.push(entry.map_err(io_error("listing", &path))?.path());
            }
        }
    }
    Ok(())
}

/// Makes `dir` (which exists) owned by `run_as` and private, as postgres
/// insists, when we have the right to.
pub(super) fn take_ownership(dir: &Path, run_as: &RunAs) -> Result<(), EmbeddedError> {
    let meta = fs::symlink_metadata(dir).map_err(io_error("inspecting", dir))?;
    if meta.uid() != run_as.uid.as_raw() {
        tracing::warn!(
            directory = %dir.display(),
            from_uid = meta.uid(),
            user = %run_as.name,
            "changing ownership of the embedded PostgreSQL directory recursively"
        );
        chown_recursive(dir, run_as)?;
    }
    let mode = meta.mode() & 0o7777;
    // 0750 is postgres's own "group access" layout (initdb -g); keep it.
    if mode != 0o700 && mode != 0o750 {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .map_err(io_error("restricting permissions of", dir))?;
    }
    Ok(())
}

/// Runs between fork and exec.
pub(super) fn drop_privileges(run_as: &RunAs) -> io::Result<()> {
    if run_as.switch_from_root {
        // Groups first: once the uid is gone we may no longer change them.
        setgroups(&run_as.groups)?;
        setgid(run_as.gid)?;
        setuid(run_as.uid)?;
    }
    Ok(())
}
