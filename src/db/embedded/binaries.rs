//! Finding the PostgreSQL server binaries (`initdb`, `postgres`): on PATH first, then under
//! Debian's versioned install root, and the install matching an existing cluster's major
//! version. It must never run anything but `postgres --version`.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::EmbeddedError;

/// Debian/Ubuntu install server binaries here, one directory per major
/// version, and deliberately keep them off PATH.
pub(super) const VERSIONED_INSTALL_ROOT: &str = "/usr/lib/postgresql";

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Binaries {
    pub(super) dir: PathBuf,
    pub(super) initdb: PathBuf,
    pub(super) postgres: PathBuf,
}

impl Binaries {
    pub(super) fn in_dir(dir: &Path) -> Option<Binaries> {
        let initdb = dir.join("initdb");
        let postgres = dir.join("postgres");
        if !is_executable_file(&initdb) || !is_executable_file(&postgres) {
            return None;
        }
        // Resolve symlinks (e.g. /usr/local/bin/postgres) so both programs can
        // find their share/ and lib/ directories without consulting a cwd the
        // unprivileged user may not be allowed to enter.
        let resolve = |path: PathBuf| fs::canonicalize(&path).unwrap_or(path);
        Some(Binaries {
            dir: dir.to_path_buf(),
            initdb: resolve(initdb),
            postgres: resolve(postgres),
        })
    }
}

fn is_executable_file(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|meta| meta.is_file() && meta.mode() & 0o111 != 0)
}

/// PATH first (both programs in one directory), then the highest major
/// version under `versioned_root`.
pub(super) fn find_binaries(path_var: Option<&OsStr>, versioned_root: &Path) -> Option<Binaries> {
    let on_path = path_var
        .into_iter()
        .flat_map(std::env::split_paths)
        .find_map(|dir| {
            // An empty or relative PATH entry means "wherever we happen to be",
            // which is no place to pick up a database server from.
            if dir.is_absolute() {
                Binaries::in_dir(&dir)
            } else {
                None
            }
        });
    on_path.or_else(|| {
        versioned_installs(versioned_root)
            .into_iter()
            .next_back()
            .map(|(_, binaries)| binaries)
    })
}

/// Complete installs under `root`, ascending by numeric version.
fn versioned_installs(root: &Path) -> Vec<(Vec<u32>, Binaries)> {
    let Ok(entries) = fs::read_dir(root) else {
        return Vec::new();
    };
    let mut installs: Vec<(Vec<u32>, Binaries)> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let key = version_key(entry.file_name().to_str()?)?;
            Some((key, Binaries::in_dir(&entry.path().join("bin"))?))
        })
        .collect();
    installs.sort_by(|a, b| a.0.cmp(&b.0));
    installs
}

/// "15" → [15], "9.6" → [9, 6]; anything else is not a version directory.
pub(super) fn version_key(name: &str) -> Option<Vec<u32>> {
    name.split('.').map(|part| part.parse().ok()).collect()
}

/// The major version as PG_VERSION spells it: "15" for 15.4, "9.6" for 9.6.24.
pub(super) fn major_version(version: &str) -> Option<String> {
    let mut parts = version.split('.');
    let leading_digits =
        |part: &str| -> String { part.chars().take_while(char::is_ascii_digit).collect() };
    let first = leading_digits(parts.next()?);
    let number: u32 = first.parse().ok()?;
    if number >= 10 {
        return Some(first);
    }
    let second = leading_digits(parts.next()?);
    if second.is_empty() {
        None
    } else {
        Some(format!("{first}.{second}"))
    }
}

/// Parses `postgres --version`, e.g. "postgres (PostgreSQL) 15.14 (Debian …)".
pub(super) fn server_major_version(postgres: &Path) -> Option<String> {
    let output = Command::new(postgres)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let version = text
        .split_whitespace()
        .find(|token| token.starts_with(|c: char| c.is_ascii_digit()))?;
    major_version(version)
}

/// An existing cluster can only be served by its own major version; when
/// several are installed side by side, use the matching one.
pub(super) fn binaries_for_cluster(
    found: Binaries,
    data_dir: &Path,
    data_version: &str,
) -> Result<Binaries, EmbeddedError> {
    let Some(server_version) = server_major_version(&found.postgres) else {
        tracing::warn!(
            postgres = %found.postgres.display(),
            "could not determine the server version; letting postgres check the data directory"
        );
        return Ok(found);
    };
    if server_version == data_version {
        return Ok(found);
    }
    let matching_dir = Path::new(VERSIONED_INSTALL_ROOT)
        .join(data_version)
        .join("bin");
    if let Some(matching) = Binaries::in_dir(&matching_dir) {
        tracing::info!(
            bin_dir = %matching.dir.display(),
            data_version,
            newest = %server_version,
            "using the server binaries matching the existing cluster's version"
        );
        return Ok(matching);
    }
    Err(EmbeddedError::VersionMismatch {
        data_dir: data_dir.to_path_buf(),
        data_version: data_version.to_owned(),
        server_version,
        bin_dir: found.dir,
    })
}
