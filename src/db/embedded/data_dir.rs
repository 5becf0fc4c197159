//! The data directory and its neighbours: creating and canonicalising it, telling an
//! initialised cluster from an empty directory, choosing the socket directory, opening the
//! server log, and running `initdb` on first use. It must never delete anything in a data
//! directory.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use sha2::{Digest, Sha256};

use super::binaries::{binaries_for_cluster, find_binaries, Binaries, VERSIONED_INSTALL_ROOT};
use super::error::io_error;
use super::privileges::{drop_privileges, grant_ancestor_search, take_ownership, RunAs};
use super::{tail_lines, EmbeddedError, EmbeddedOptions, LOG_TAIL_LINES, SUPERUSER};

const VERSION_FILE_NAME: &str = "PG_VERSION";

/// Unix socket paths must fit in `sun_path` (108 bytes with the NUL); stay
/// clear of the limit so a longer port number can never tip it over.
pub(super) const MAX_SOCKET_PATH_LEN: usize = 100;
/// Fixed rather than `$TMPDIR`, which may itself be long enough to defeat the
/// point of the fallback.
const SHORT_SOCKET_ROOT: &str = "/tmp";

#[derive(Debug, Clone)]
pub(super) struct Prepared {
    pub(super) data_dir: PathBuf,
    pub(super) socket_dir: PathBuf,
    pub(super) run_as: RunAs,
    pub(super) binaries: Binaries,
    pub(super) needs_initdb: bool,
}

pub(super) fn prepare(options: &EmbeddedOptions) -> Result<Prepared, EmbeddedError> {
    let found = find_binaries(
        std::env::var_os("PATH").as_deref(),
        Path::new(VERSIONED_INSTALL_ROOT),
    )
    .ok_or(EmbeddedError::BinariesNotFound)?;
    let run_as = RunAs::resolve()?;
    let data_dir = create_data_dir(&options.data_dir)?;
    if run_as.switch_from_root {
        grant_ancestor_search(&data_dir, &run_as)?;
        take_ownership(&data_dir, &run_as)?;
    }

    let (needs_initdb, binaries) = match read_cluster_version(&data_dir)? {
        Some(version) => (false, binaries_for_cluster(found, &data_dir, &version)?),
        None => (true, found),
    };

    let socket_dir = choose_socket_dir(&data_dir, options.port);
    if socket_dir != data_dir {
        prepare_private_socket_dir(&socket_dir, &run_as)?;
        if run_as.switch_from_root {
            grant_ancestor_search(&socket_dir, &run_as)?;
        }
    }
    Ok(Prepared {
        data_dir,
        socket_dir,
        run_as,
        binaries,
        needs_initdb,
    })
}

fn create_data_dir(requested: &Path) -> Result<PathBuf, EmbeddedError> {
    let absolute = if requested.is_absolute() {
        requested.to_path_buf()
    } else {
        let cwd =
            std::env::current_dir().map_err(io_error("resolving against the cwd", requested))?;
        cwd.join(requested)
    };
    if let Some(parent) = absolute.parent() {
        fs::create_dir_all(parent).map_err(io_error("creating directory", parent))?;
    }
    // Only the leaf is private; parents keep the umask so others can pass.
    match DirBuilder::new().mode(0o700).create(&absolute) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
        Err(error) => return Err(io_error("creating directory", &absolute)(error)),
    }
    let canonical = fs::canonicalize(&absolute).map_err(io_error("resolving", &absolute))?;
    if !canonical.is_dir() {
        return Err(EmbeddedError::Io {
            action: "using as data directory",
            path: canonical,
            source: io::Error::from(io::ErrorKind::NotADirectory),
        });
    }
    Ok(canonical)
}

/// `Some(major)` for an initialised cluster, `None` for an empty directory.
fn read_cluster_version(data_dir: &Path) -> Result<Option<String>, EmbeddedError> {
    let version_file = data_dir.join(VERSION_FILE_NAME);
    match fs::read_to_string(&version_file) {
        Ok(version) => Ok(Some(version.trim().to_owned())),
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            let mut entries = fs::read_dir(data_dir).map_err(io_error("listing", data_dir))?;
            if entries.next().is_some() {
                Err(EmbeddedError::NotADataDirectory {
                    path: data_dir.to_path_buf(),
                })
            } else {
                Ok(None)
            }
        }
        Err(error) => Err(io_error("reading", &version_file)(error)),
    }
}

pub(super) fn socket_file_name(port: u16) -> String {
    format!(".s.PGSQL.{port}")
}

fn short_hash(path: &Path) -> String {
    let digest = Sha256::digest(path.as_os_str().as_bytes());
    digest[..6]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

pub(super) fn choose_socket_dir(data_dir: &Path, port: u16) -> PathBuf {
    let in_data_dir = data_dir.join(socket_file_name(port));
    if in_data_dir.as_os_str().len() <= MAX_SOCKET_PATH_LEN {
        data_dir.to_path_buf()
    } else {
        Path::new(SHORT_SOCKET_ROOT).join(format!("ferrobill-{}", short_hash(data_dir)))
    }
}

/// The fallback socket directory sits in world-writable /tmp, so a
/// pre-existing one is only trusted if it is a real directory we control.
fn prepare_private_socket_dir(dir: &Path, run_as: &RunAs) -> Result<(), EmbeddedError> {
    match DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
        Err(error) => return Err(io_error("creating socket directory", dir)(error)),
    }
    let meta = fs::symlink_metadata(dir).map_err(io_error("inspecting", dir))?;
    if !meta.file_type().is_dir() {
        return Err(EmbeddedError::UnsafeSocketDir {
            path: dir.to_path_buf(),
            reason: "it is not a directory (or is a symbolic link)".to_owned(),
        });
    }
    if meta.uid() != run_as.uid.as_raw() {
        if !run_as.switch_from_root {
            return Err(EmbeddedError::UnsafeSocketDir {
                path: dir.to_path_buf(),
                reason: format!("it is owned by uid {}, not by us", meta.uid()),
            });
        }
        std::os::unix::fs::lchown(dir, Some(run_as.uid.as_raw()), Some(run_as.gid.as_raw()))
            .map_err(io_error("changing owner of", dir))?;
    }
    if meta.mode() & 0o7777 != 0o700 {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .map_err(io_error("restricting permissions of", dir))?;
    }
    Ok(())
}

pub(super) fn open_log(path: &Path, run_as: &RunAs) -> Result<(File, u64), EmbeddedError> {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .map_err(io_error("opening", path))?;
    let meta = file.metadata().map_err(io_error("inspecting", path))?;
    if run_as.switch_from_root && meta.uid() != run_as.uid.as_raw() {
        // Keep everything under the data directory owned by its user, so
        // later tools (pg_upgrade, backups) run as that user can handle it.
        std::os::unix::fs::fchown(&file, Some(run_as.uid.as_raw()), Some(run_as.gid.as_raw()))
            .map_err(io_error("changing owner of", path))?;
    }
    Ok((file, meta.len()))
}

// ---------------------------------------------------------------------------
// initdb

pub(super) fn run_initdb(prepared: &Prepared, durable: bool) -> Result<(), EmbeddedError> {
    let began = Instant::now();
    tracing::info!(
        data_dir = %prepared.data_dir.display(),
        user = %prepared.run_as.name,
        initdb = %prepared.binaries.initdb.display(),
        "initialising a new PostgreSQL cluster"
    );
    let mut command = Command::new(&prepared.binaries.initdb);
    command.arg("-D").arg(&prepared.data_dir).args([
        "-U",
        SUPERUSER,
        "-A",
        "trust",
        "-E",
        "UTF8",
        "--locale=C",
    ]);
    if !durable {
        command.arg("--no-sync");
    }
    // The caller's cwd may be unreachable for the unprivileged user.
    command.current_dir(&prepared.data_dir).stdin(Stdio::null());
    let run_as = prepared.run_as.clone();
    // SAFETY: the closure only performs raw credential syscalls on data
    // prepared before fork; it neither allocates nor takes locks.
    unsafe {
        command.pre_exec(move || drop_privileges(&run_as));
    }
    let output = command
        .output()
        .map_err(io_error("running", &prepared.binaries.initdb))?;
    let mut transcript = String::from_utf8_lossy(&output.stdout).into_owned();
    transcript.push_str(&String::from_utf8_lossy(&output.stderr));
    if !output.status.success() {
        return Err(EmbeddedError::InitdbFailed {
            status: output.status,
            log_tail: tail_lines(&transcript, LOG_TAIL_LINES),
        });
    }
    tracing::debug!(output = %transcript, "initdb output");
    tracing::info!(
        data_dir = %prepared.data_dir.display(),
        elapsed_ms = began.elapsed().as_millis() as u64,
        "PostgreSQL cluster initialised"
    );
    Ok(())
}
