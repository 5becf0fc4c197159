//! What can go wrong while running the private cluster: the one error enum of the
//! embedded cluster, and the small helpers that build it. It must never decide what to do
//! about an error; callers return it, and `app.rs` reports it.

use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::Signal;

/// Everything that can go wrong while running the private cluster.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    #[error(
        "PostgreSQL server binaries (initdb and postgres) were found neither on PATH nor under \
         /usr/lib/postgresql/*/bin. Install them with `apt-get install postgresql` \
         (Debian/Ubuntu), `dnf install postgresql-server` (Fedora/RHEL) or \
         `brew install postgresql` (macOS), or configure org.killbill.dao.url to use an \
         external PostgreSQL"
    )]
    BinariesNotFound,
    #[error(
        "data directory {data_dir} was initialised by PostgreSQL {data_version}, but the \
         server binaries in {bin_dir} are PostgreSQL {server_version}; install the \
         PostgreSQL {data_version} server package or upgrade the cluster with pg_upgrade"
    )]
    VersionMismatch {
        data_dir: PathBuf,
        data_version: String,
        server_version: String,
        bin_dir: PathBuf,
    },
    #[error(
        "running as root, but neither a `postgres` nor a `nobody` user exists to run \
         PostgreSQL as (PostgreSQL refuses to run as root)"
    )]
    NoUnprivilegedUser,
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "{path} is not empty but holds no PostgreSQL cluster (no PG_VERSION); refusing to \
         touch it: empty it or configure another data directory"
    )]
    NotADataDirectory { path: PathBuf },
    #[error(
        "{path} must be searchable by user {user}, which PostgreSQL runs as, and only its \
         owner or group permissions would grant that; run `chmod +x` on it or move the \
         data directory"
    )]
    AncestorNotSearchable { path: PathBuf, user: String },
    #[error("socket directory {path} cannot be used safely: {reason}")]
    UnsafeSocketDir { path: PathBuf, reason: String },
    #[error("data directory {path} is already used by another embedded cluster in this process")]
    AlreadyRunning { path: PathBuf },
    #[error("initdb failed ({status}):\n{log_tail}")]
    InitdbFailed {
        status: ExitStatus,
        log_tail: String,
    },
    #[error("postgres exited while starting ({}); last lines of {}:\n{log_tail}", describe_exit(.status), .log.display())]
    StartFailed {
        status: Option<ExitStatus>,
        log: PathBuf,
        log_tail: String,
    },
    #[error("postgres did not accept connections within {waited:?}; last error: {last_error}")]
    NotReady {
        waited: Duration,
        last_error: String,
    },
    #[error(
        "a previous postgres (pid {pid}) still serves {data_dir} after SIGINT and SIGQUIT; \
         stop it before starting ferrobill"
    )]
    PreviousServerStuck { pid: i32, data_dir: PathBuf },
    #[error("postgres (pid {pid}) did not exit within {waited:?} of SIGINT and SIGQUIT")]
    StopTimedOut { pid: i32, waited: Duration },
    #[error("could not send {signal} to postgres (pid {pid}): {source}")]
    Signal {
        pid: i32,
        signal: Signal,
        #[source]
        source: Errno,
    },
    #[error("invalid database name {name:?}: {reason}")]
    InvalidDatabaseName { name: String, reason: &'static str },
    #[error(transparent)]
    Postgres(#[from] tokio_postgres::Error),
    #[error("a background task of the embedded cluster failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

pub(super) fn describe_exit(status: &Option<ExitStatus>) -> String {
    match status {
        Some(status) => status.to_string(),
        None => "exit status unknown".to_owned(),
    }
}

pub(super) fn io_error(
    action: &'static str,
    path: &Path,
) -> impl FnOnce(io::Error) -> EmbeddedError {
    let path = path.to_path_buf();
    move |source| EmbeddedError::Io {
        action,
        path,
        source,
    }
}
