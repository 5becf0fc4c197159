//! The private PostgreSQL cluster that ferrobill runs when no database URL is
//! configured. This module owns that cluster's whole lifecycle: finding the
//! server binaries, preparing the data directory (and initialising it on first
//! use), starting `postgres` on a Unix socket only, recovering from a previous
//! run that was killed, and shutting the server down again. It must never run
//! SQL beyond creating databases, and it must never delete a data directory or
//! anything inside one except a lock file that provably belongs to no running
//! server.

use std::ffi::{CString, OsStr};
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::prctl::set_pdeathsig;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitid, Id, WaitPidFlag};
use nix::unistd::{
    getegid, geteuid, getgrouplist, getppid, setgid, setgroups, setuid, Gid, Pid, Uid, User,
};
use sha2::{Digest, Sha256};
use tokio::sync::{oneshot, watch};
use tokio_postgres::error::SqlState;
use tokio_postgres::NoTls;

/// initdb creates this role; it is the only one the private cluster has.
pub const SUPERUSER: &str = "postgres";
/// Always present after initdb, so readiness probes and CREATE DATABASE use it.
pub const MAINTENANCE_DB: &str = "postgres";
const LOG_FILE_NAME: &str = "postgres.log";
const PID_FILE_NAME: &str = "postmaster.pid";
const VERSION_FILE_NAME: &str = "PG_VERSION";
/// Debian/Ubuntu install server binaries here, one directory per major
/// version, and deliberately keep them off PATH.
const VERSIONED_INSTALL_ROOT: &str = "/usr/lib/postgresql";
/// Unix socket paths must fit in `sun_path` (108 bytes with the NUL); stay
/// clear of the limit so a longer port number can never tip it over.
const MAX_SOCKET_PATH_LEN: usize = 100;
/// Fixed rather than `$TMPDIR`, which may itself be long enough to defeat the
/// point of the fallback.
const SHORT_SOCKET_ROOT: &str = "/tmp";
const LOG_TAIL_LINES: usize = 20;
/// PostgreSQL truncates longer identifiers, which would make the existence
/// check in `ensure_database` compare against a name that never gets created.
const MAX_IDENTIFIER_BYTES: usize = 63;
const NON_DURABLE_SETTINGS: [&str; 3] = [
    "fsync=off",
    "synchronous_commit=off",
    "full_page_writes=off",
];

/// ferrobill's tuning of its own cluster, for a billing workload of many short write
/// transactions on small queue tables (docs/operations.md gives the measurements): the queue
/// tables are vacuumed within a second of needing it rather than a minute, and checkpoints
/// (each followed by a burst of full-page writes) come at most every 15 minutes or 4 GB of
/// WAL. Durability stays as PostgreSQL ships it.
const TUNED_SETTINGS: [&str; 4] = [
    "autovacuum_naptime=1s",
    "max_wal_size=4GB",
    "checkpoint_timeout=15min",
    "shared_buffers=256MB",
];

/// How the embedded cluster is laid out and tuned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddedOptions {
    /// Where the cluster lives, e.g. `./data/postgres`. Relative paths are
    /// resolved against the current directory, then canonicalised.
    pub data_dir: PathBuf,
    /// Only names the socket file (`.s.PGSQL.<port>`); no TCP port is opened.
    pub port: u16,
    /// PostgreSQL's `max_connections`.
    pub max_connections: u32,
    /// `false` for throw-away test clusters: `initdb --no-sync`, and postgres
    /// runs with fsync, synchronous_commit and full_page_writes off.
    pub durable: bool,
    /// More settings (`name`, `value`), applied after ferrobill's own.
    pub settings: Vec<(String, String)>,
}

impl Default for EmbeddedOptions {
    fn default() -> Self {
        EmbeddedOptions {
            data_dir: PathBuf::from("./data/postgres"),
            port: 5432,
            max_connections: 300,
            durable: true,
            settings: Vec::new(),
        }
    }
}

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

/// Connection settings for `dbname` as the superuser over the Unix socket in `socket_dir`:
/// how this process, and the load suite for a server it spawned, reach a private cluster.
pub fn superuser_config(socket_dir: &Path, port: u16, dbname: &str) -> tokio_postgres::Config {
    let mut config = tokio_postgres::Config::new();
    config
        .host_path(socket_dir)
        .port(port)
        .user(SUPERUSER)
        .dbname(dbname);
    config
}

fn describe_exit(status: &Option<ExitStatus>) -> String {
    match status {
        Some(status) => status.to_string(),
        None => "exit status unknown".to_owned(),
    }
}

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> EmbeddedError {
    let path = path.to_path_buf();
    move |source| EmbeddedError::Io {
        action,
        path,
        source,
    }
}

/// Every wait in this module, gathered so tests can shrink them.
#[derive(Debug, Clone, Copy)]
struct Timeouts {
    ready: Duration,
    poll: Duration,
    previous_grace: Duration,
    previous_after_sigint: Duration,
    previous_after_sigquit: Duration,
    stop: Duration,
    stop_after_sigquit: Duration,
}

impl Timeouts {
    const DEFAULT: Timeouts = Timeouts {
        ready: Duration::from_secs(60),
        poll: Duration::from_millis(25),
        previous_grace: Duration::from_secs(10),
        previous_after_sigint: Duration::from_secs(30),
        previous_after_sigquit: Duration::from_secs(10),
        stop: Duration::from_secs(60),
        stop_after_sigquit: Duration::from_secs(10),
    };
}

/// A running private cluster. Call [`EmbeddedCluster::stop`] to shut it down
/// and wait; merely dropping it asks postgres for a fast shutdown without
/// waiting, and if the whole process dies postgres follows by itself.
pub struct EmbeddedCluster {
    // Declared before the claim so postgres is told to stop before another
    // start in this process may take the directory over.
    postmaster: Option<Postmaster>,
    _claim: DataDirClaim,
    data_dir: PathBuf,
    socket_dir: PathBuf,
    port: u16,
    timeouts: Timeouts,
}

impl std::fmt::Debug for EmbeddedCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedCluster")
            .field("data_dir", &self.data_dir)
            .field("socket_dir", &self.socket_dir)
            .field("port", &self.port)
            .field("pid", &self.postmaster.as_ref().and_then(Postmaster::pid))
            .finish()
    }
}

impl EmbeddedCluster {
    /// Initialises the cluster if needed, starts postgres and returns once it
    /// accepts connections.
    pub async fn start(options: EmbeddedOptions) -> Result<EmbeddedCluster, EmbeddedError> {
        Self::start_with(options, Timeouts::DEFAULT).await
    }

    async fn start_with(
        options: EmbeddedOptions,
        timeouts: Timeouts,
    ) -> Result<EmbeddedCluster, EmbeddedError> {
        let began = Instant::now();
        let prepared = {
            let options = options.clone();
            tokio::task::spawn_blocking(move || prepare(&options)).await??
        };
        let claim = DataDirClaim::acquire(&prepared.data_dir)?;
        tracing::debug!(
            data_dir = %prepared.data_dir.display(),
            socket_dir = %prepared.socket_dir.display(),
            user = %prepared.run_as.name,
            bin_dir = %prepared.binaries.dir.display(),
            "embedded PostgreSQL prepared"
        );

        if prepared.needs_initdb {
            let prepared = prepared.clone();
            let durable = options.durable;
            tokio::task::spawn_blocking(move || run_initdb(&prepared, durable)).await??;
        }

        clear_stale_postmaster_pid(&prepared.data_dir, &timeouts).await?;
        {
            let socket_dir = prepared.socket_dir.clone();
            let port = options.port;
            tokio::task::spawn_blocking(move || settle_socket_lock(&socket_dir, port)).await??;
        }

        let log_path = prepared.data_dir.join(LOG_FILE_NAME);
        let (log, log_offset) = {
            let log_path = log_path.clone();
            let run_as = prepared.run_as.clone();
            tokio::task::spawn_blocking(move || open_log(&log_path, &run_as)).await??
        };
        let command = postmaster_command(&prepared, &options, log)?;
        let postmaster = Postmaster::launch(command, &prepared.binaries.postgres).await?;

        let cluster = EmbeddedCluster {
            postmaster: Some(postmaster),
            _claim: claim,
            data_dir: prepared.data_dir,
            socket_dir: prepared.socket_dir,
            port: options.port,
            timeouts,
        };
        // On any error from here on, dropping `cluster` asks postgres to stop.
        cluster.wait_until_ready(&log_path, log_offset).await?;
        tracing::info!(
            data_dir = %cluster.data_dir.display(),
            socket_dir = %cluster.socket_dir.display(),
            port = cluster.port,
            pid = ?cluster.postmaster.as_ref().and_then(Postmaster::pid).map(Pid::as_raw),
            initialised = prepared.needs_initdb,
            elapsed_ms = began.elapsed().as_millis() as u64,
            "embedded PostgreSQL is ready"
        );
        Ok(cluster)
    }

    /// Directory holding the server's Unix socket.
    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }

    /// Canonical path of the data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn superuser(&self) -> &str {
        SUPERUSER
    }

    /// Connection settings for `dbname` as the superuser over the Unix socket.
    pub fn pg_config(&self, dbname: &str) -> tokio_postgres::Config {
        superuser_config(&self.socket_dir, self.port, dbname)
    }

    /// Creates database `name` unless it already exists. Safe to call
    /// concurrently, from this process or another.
    pub async fn ensure_database(&self, name: &str) -> Result<(), EmbeddedError> {
        validate_database_name(name)?;
        let (client, connection) = self.pg_config(MAINTENANCE_DB).connect(NoTls).await?;
        let driver = tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "maintenance connection ended with an error");
            }
        });
        let outcome = create_database_if_missing(&client, name).await;
        // Dropping the client lets the connection say goodbye and finish.
        drop(client);
        driver.await?;
        outcome
    }

    /// Fast shutdown: SIGINT, then wait for postgres to exit (SIGQUIT if it
    /// has not after a minute).
    pub async fn stop(mut self) -> Result<(), EmbeddedError> {
        let Some(postmaster) = self.postmaster.take() else {
            return Ok(());
        };
        let pid = postmaster.pid().map_or(0, Pid::as_raw);
        tracing::info!(pid, data_dir = %self.data_dir.display(), "stopping embedded PostgreSQL");
        postmaster.signal(Signal::SIGINT)?;
        let status = match postmaster.wait_exit(self.timeouts.stop).await {
            Some(status) => status,
            None => {
                tracing::warn!(
                    pid,
                    waited = ?self.timeouts.stop,
                    "postgres ignored the fast shutdown request; sending SIGQUIT (immediate shutdown)"
                );
                postmaster.signal(Signal::SIGQUIT)?;
                match postmaster.wait_exit(self.timeouts.stop_after_sigquit).await {
                    Some(status) => status,
                    None => {
                        return Err(EmbeddedError::StopTimedOut {
                            pid,
                            waited: self.timeouts.stop + self.timeouts.stop_after_sigquit,
                        })
                    }
                }
            }
        };
        postmaster.join().await?;
        tracing::info!(pid, status = %describe_exit(&status), "embedded PostgreSQL stopped");
        Ok(())
    }

    async fn wait_until_ready(
        &self,
        log_path: &Path,
        log_offset: u64,
    ) -> Result<(), EmbeddedError> {
        let Some(postmaster) = self.postmaster.as_ref() else {
            return Ok(());
        };
        let mut config = self.pg_config(MAINTENANCE_DB);
        config.connect_timeout(Duration::from_secs(5));
        let deadline = tokio::time::Instant::now() + self.timeouts.ready;
        let mut state = postmaster.state.clone();
        loop {
            let current = *state.borrow_and_update();
            if let ProcState::Exited(status) = current {
                return Err(start_failed(status, log_path, log_offset).await);
            }
            let last_error = match config.connect(NoTls).await {
                Ok((client, connection)) => {
                    drop(client);
                    // Let the probe connection terminate cleanly instead of
                    // leaving an "unexpected EOF" in the server log.
                    let _ = connection.await;
                    return Ok(());
                }
                Err(error) => error,
            };
            if tokio::time::Instant::now() >= deadline {
                return Err(EmbeddedError::NotReady {
                    waited: self.timeouts.ready,
                    last_error: last_error.to_string(),
                });
            }
            tokio::select! {
                changed = state.changed() => {
                    if changed.is_err() {
                        return Err(start_failed(None, log_path, log_offset).await);
                    }
                }
                () = tokio::time::sleep(self.timeouts.poll) => {}
            }
        }
    }
}

async fn start_failed(status: Option<ExitStatus>, log: &Path, offset: u64) -> EmbeddedError {
    let path = log.to_path_buf();
    let log_tail = tokio::task::spawn_blocking(move || read_log_tail(&path, offset))
        .await
        .unwrap_or_else(|error| format!("(could not read the log: {error})"));
    EmbeddedError::StartFailed {
        status,
        log: log.to_path_buf(),
        log_tail,
    }
}

fn read_log_tail(path: &Path, offset: u64) -> String {
    let read = || -> io::Result<String> {
        let mut file = File::open(path)?;
        let len = file.metadata()?.len();
        // Someone truncated the log meanwhile: everything in it is ours.
        file.seek(SeekFrom::Start(if offset <= len { offset } else { 0 }))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        Ok(tail_lines(&String::from_utf8_lossy(&bytes), LOG_TAIL_LINES))
    };
    read().unwrap_or_else(|error| format!("(could not read {}: {error})", path.display()))
}

fn tail_lines(text: &str, count: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(count)..].join("\n")
}

// ---------------------------------------------------------------------------
// Databases

fn validate_database_name(name: &str) -> Result<(), EmbeddedError> {
    let reason = if name.is_empty() {
        "it is empty"
    } else if name.contains('\0') {
        "it contains a NUL character"
    } else if name.len() > MAX_IDENTIFIER_BYTES {
        "it is longer than 63 bytes"
    } else {
        return Ok(());
    };
    Err(EmbeddedError::InvalidDatabaseName {
        name: name.to_owned(),
        reason,
    })
}

fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

async fn database_exists(
    client: &tokio_postgres::Client,
    name: &str,
) -> Result<bool, EmbeddedError> {
    let row = client
        .query_opt(
            "SELECT 1 FROM pg_catalog.pg_database WHERE datname = $1",
            &[&name],
        )
        .await?;
    Ok(row.is_some())
}

async fn create_database_if_missing(
    client: &tokio_postgres::Client,
    name: &str,
) -> Result<(), EmbeddedError> {
    if database_exists(client, name).await? {
        return Ok(());
    }
    match client
        .batch_execute(&format!("CREATE DATABASE {}", quote_identifier(name)))
        .await
    {
        Ok(()) => {
            tracing::info!(database = name, "created database in embedded PostgreSQL");
            Ok(())
        }
        Err(error) if error.code() == Some(&SqlState::DUPLICATE_DATABASE) => Ok(()),
        // Two concurrent creators can both pass the duplicate check; the loser
        // then trips over the catalog's unique index instead.
        Err(error) if error.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
            if database_exists(client, name).await? {
                Ok(())
            } else {
                Err(error.into())
            }
        }
        Err(error) => Err(error.into()),
    }
}

// ---------------------------------------------------------------------------
// One start per data directory per process

static ACTIVE_DATA_DIRS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn lock_ignoring_poison<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Stops a second `start` in the same process from treating the first one's
/// postgres as a leftover and shutting it down.
struct DataDirClaim(PathBuf);

impl DataDirClaim {
    fn acquire(data_dir: &Path) -> Result<DataDirClaim, EmbeddedError> {
        let mut active = lock_ignoring_poison(&ACTIVE_DATA_DIRS);
        if active.iter().any(|dir| dir == data_dir) {
            return Err(EmbeddedError::AlreadyRunning {
                path: data_dir.to_path_buf(),
            });
        }
        active.push(data_dir.to_path_buf());
        Ok(DataDirClaim(data_dir.to_path_buf()))
    }
}

impl Drop for DataDirClaim {
    fn drop(&mut self) {
        lock_ignoring_poison(&ACTIVE_DATA_DIRS).retain(|dir| dir != &self.0);
    }
}

// ---------------------------------------------------------------------------
// Binaries

#[derive(Debug, Clone, PartialEq, Eq)]
struct Binaries {
    dir: PathBuf,
    initdb: PathBuf,
    postgres: PathBuf,
}

impl Binaries {
    fn in_dir(dir: &Path) -> Option<Binaries> {
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
fn find_binaries(path_var: Option<&OsStr>, versioned_root: &Path) -> Option<Binaries> {
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
fn version_key(name: &str) -> Option<Vec<u32>> {
    name.split('.').map(|part| part.parse().ok()).collect()
}

/// The major version as PG_VERSION spells it: "15" for 15.4, "9.6" for 9.6.24.
fn major_version(version: &str) -> Option<String> {
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
fn server_major_version(postgres: &Path) -> Option<String> {
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
fn binaries_for_cluster(
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

// ---------------------------------------------------------------------------
// Who postgres runs as

#[derive(Debug, Clone)]
struct RunAs {
    name: String,
    uid: Uid,
    gid: Gid,
    groups: Vec<Gid>,
    /// Set when we are root and must hand postgres to an unprivileged user.
    switch_from_root: bool,
}

fn pick_unprivileged<T>(lookup: impl FnMut(&str) -> Option<T>) -> Option<T> {
    ["postgres", "nobody"].into_iter().find_map(lookup)
}

impl RunAs {
    fn resolve() -> Result<RunAs, EmbeddedError> {
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
enum SearchAccess {
    Granted,
    DeniedToOwner,
    DeniedToGroup,
    DeniedToOthers,
}

fn search_access(mode: u32, owner: u32, group: u32, run_as: &RunAs) -> SearchAccess {
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
fn grant_ancestor_search(dir: &Path, run_as: &RunAs) -> Result<(), EmbeddedError> {
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
fn take_ownership(dir: &Path, run_as: &RunAs) -> Result<(), EmbeddedError> {
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

// ---------------------------------------------------------------------------
// Directory layout

#[derive(Debug, Clone)]
struct Prepared {
    data_dir: PathBuf,
    socket_dir: PathBuf,
    run_as: RunAs,
    binaries: Binaries,
    needs_initdb: bool,
}

fn prepare(options: &EmbeddedOptions) -> Result<Prepared, EmbeddedError> {
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

fn socket_file_name(port: u16) -> String {
    format!(".s.PGSQL.{port}")
}

fn short_hash(path: &Path) -> String {
    let digest = Sha256::digest(path.as_os_str().as_bytes());
    digest[..6]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

fn choose_socket_dir(data_dir: &Path, port: u16) -> PathBuf {
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

fn open_log(path: &Path, run_as: &RunAs) -> Result<(File, u64), EmbeddedError> {
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

fn run_initdb(prepared: &Prepared, durable: bool) -> Result<(), EmbeddedError> {
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

// ---------------------------------------------------------------------------
// Leftovers of a previous run

/// What the pid in a lock file currently is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum LockHolder {
    /// No such process: postgres itself will discard the lock file.
    Gone,
    /// Exited but never reaped (orphans become zombies where pid 1 does not
    /// reap). postgres would mistake it for alive.
    Zombie,
    /// Alive, and not a PostgreSQL server: the pid was reused.
    NotPostgres,
    /// A PostgreSQL server, with its data directory when we could tell.
    Postgres { data_dir: Option<PathBuf> },
    /// We are not allowed to look.
    Unknown,
}

/// The pid on a lock file's first line; standalone backends write it
/// negated. `None` when there is no lock file or it is unreadable garbage
/// (postgres reports the latter itself).
fn read_lock_pid(path: &Path) -> Result<Option<Pid>, EmbeddedError> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(io_error("reading", path)(error)),
    };
    let pid = text
        .lines()
        .next()
        .and_then(|line| line.trim().parse::<i32>().ok())
        .map(i32::unsigned_abs)
        .filter(|pid| *pid > 0)
        .and_then(|pid| i32::try_from(pid).ok());
    if pid.is_none() {
        tracing::warn!(lock_file = %path.display(), "lock file has no pid on its first line");
    }
    Ok(pid.map(Pid::from_raw))
}

fn classify_lock_holder(pid: Pid) -> LockHolder {
    match kill(pid, None) {
        Ok(()) | Err(Errno::EPERM) => {}
        Err(Errno::ESRCH) => return LockHolder::Gone,
        Err(_) => return LockHolder::Unknown,
    }
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    match fs::read_to_string(proc_dir.join("stat")) {
        // The command name in parentheses may itself contain ") ".
        Ok(stat) => match stat
            .rfind(')')
            .and_then(|end| stat[end + 1..].trim_start().chars().next())
        {
            Some('Z' | 'X') => return LockHolder::Zombie,
            Some(_) => {}
            None => return LockHolder::Unknown,
        },
        Err(error) if error.kind() == io::ErrorKind::NotFound => return LockHolder::Gone,
        Err(_) => return LockHolder::Unknown,
    }
    let cmdline = match fs::read(proc_dir.join("cmdline")) {
        Ok(cmdline) => cmdline,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return LockHolder::Gone,
        Err(_) => return LockHolder::Unknown,
    };
    if !is_postgres_cmdline(&cmdline) {
        return LockHolder::NotPostgres;
    }
    // postgres chdirs into its data directory, and the kernel reports the
    // cwd canonically whatever path it was started with.
    let data_dir = fs::read_link(proc_dir.join("cwd"))
        .ok()
        .or_else(|| data_dir_argument(&cmdline));
    LockHolder::Postgres { data_dir }
}

/// argv[0] is the binary path for the postmaster, and a rewritten process
/// title such as "postgres: 15/main: checkpointer" for its children.
fn is_postgres_cmdline(cmdline: &[u8]) -> bool {
    let argv0 = cmdline.split(|byte| *byte == 0).next().unwrap_or_default();
    let program = argv0
        .split(|byte| *byte == b' ' || *byte == b':')
        .next()
        .unwrap_or_default();
    let name = program
        .rsplit(|byte| *byte == b'/')
        .next()
        .unwrap_or_default();
    name == b"postgres" || name == b"postmaster"
}

fn data_dir_argument(cmdline: &[u8]) -> Option<PathBuf> {
    let mut args = cmdline.split(|byte| *byte == 0);
    while let Some(arg) = args.next() {
        let value = if arg == b"-D" {
            args.next()?
        } else if let Some(rest) = arg.strip_prefix(b"-D") {
            rest
        } else {
            continue;
        };
        let path = Path::new(OsStr::from_bytes(value));
        if path.is_absolute() {
            return Some(fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()));
        }
        return None;
    }
    None
}

fn remove_stale_lock(lock: &Path, pid: Pid, why: &'static str) -> Result<(), EmbeddedError> {
    match fs::remove_file(lock) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(io_error("removing stale lock file", lock)(error)),
    }
    tracing::warn!(lock_file = %lock.display(), pid = pid.as_raw(), why, "removed stale lock file");
    Ok(())
}

/// What is left to do about postmaster.pid after looking at it.
#[derive(Debug, PartialEq, Eq)]
enum PidFileOutcome {
    /// Absent, removed, or best left for postgres to judge.
    Settled,
    /// A live postgres serves this data directory.
    Serving(Pid),
}

/// Blocking: reads the lock file and /proc, may remove the lock file.
fn settle_postmaster_pid(data_dir: &Path) -> Result<PidFileOutcome, EmbeddedError> {
    let lock = data_dir.join(PID_FILE_NAME);
    let Some(pid) = read_lock_pid(&lock)? else {
        return Ok(PidFileOutcome::Settled);
    };
    match classify_lock_holder(pid) {
        LockHolder::Gone => {
            tracing::info!(
                pid = pid.as_raw(),
                "the server named in postmaster.pid is gone; postgres will discard the file"
            );
        }
        LockHolder::Zombie => {
            remove_stale_lock(&lock, pid, "the previous postgres exited (unreaped zombie)")?;
        }
        LockHolder::NotPostgres => {
            remove_stale_lock(
                &lock,
                pid,
                "the pid now belongs to a process that is not postgres",
            )?;
        }
        LockHolder::Postgres {
            data_dir: Some(other),
        } if other != data_dir => {
            remove_stale_lock(
                &lock,
                pid,
                "the pid now belongs to a postgres serving another data directory",
            )?;
        }
        LockHolder::Postgres { data_dir: Some(_) } => return Ok(PidFileOutcome::Serving(pid)),
        LockHolder::Postgres { data_dir: None } | LockHolder::Unknown => {
            tracing::warn!(
                pid = pid.as_raw(),
                lock_file = %lock.display(),
                "cannot tell whether the process named in postmaster.pid serves this data \
                 directory; leaving the lock file for postgres to judge"
            );
        }
    }
    Ok(PidFileOutcome::Settled)
}

async fn clear_stale_postmaster_pid(
    data_dir: &Path,
    timeouts: &Timeouts,
) -> Result<(), EmbeddedError> {
    // A second pass looks at whatever a server we shut down left behind.
    for _ in 0..2 {
        let dir = data_dir.to_path_buf();
        match tokio::task::spawn_blocking(move || settle_postmaster_pid(&dir)).await?? {
            PidFileOutcome::Settled => return Ok(()),
            PidFileOutcome::Serving(pid) => shut_down_previous(pid, data_dir, timeouts).await?,
        }
    }
    Ok(())
}

async fn still_serves(pid: Pid, data_dir: &Path) -> Result<bool, EmbeddedError> {
    let dir = data_dir.to_path_buf();
    let holder = tokio::task::spawn_blocking(move || classify_lock_holder(pid)).await?;
    Ok(matches!(holder, LockHolder::Postgres { data_dir: Some(d) } if d == dir))
}

async fn wait_until_not_serving(
    pid: Pid,
    data_dir: &Path,
    limit: Duration,
    poll: Duration,
) -> Result<bool, EmbeddedError> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if !still_serves(pid, data_dir).await? {
            return Ok(true);
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(false);
        }
        tokio::time::sleep(poll).await;
    }
}

/// A postgres still serving our data directory: most likely the previous
/// ferrobill's server finishing the fast shutdown its parent-death signal
/// started; otherwise something else started it and we take over.
async fn shut_down_previous(
    pid: Pid,
    data_dir: &Path,
    timeouts: &Timeouts,
) -> Result<(), EmbeddedError> {
    let raw = pid.as_raw();
    // Not our child, so there is no exit to await: poll the pid instead.
    let poll = timeouts.poll.max(Duration::from_millis(50));
    tracing::info!(
        pid = raw,
        data_dir = %data_dir.display(),
        "a previous postgres still serves this data directory; waiting for it to exit"
    );
    if wait_until_not_serving(pid, data_dir, timeouts.previous_grace, poll).await? {
        tracing::info!(pid = raw, "previous postgres exited");
        return Ok(());
    }
    for (signal, limit, what) in [
        (
            Signal::SIGINT,
            timeouts.previous_after_sigint,
            "fast shutdown",
        ),
        (
            Signal::SIGQUIT,
            timeouts.previous_after_sigquit,
            "immediate shutdown",
        ),
    ] {
        // Re-checked right before signalling, so a pid reused meanwhile is spared.
        if !still_serves(pid, data_dir).await? {
            return Ok(());
        }
        tracing::warn!(
            pid = raw,
            %signal,
            what,
            waited = ?timeouts.previous_grace,
            "previous postgres is still running; asking it to stop"
        );
        match kill(pid, signal) {
            Ok(()) | Err(Errno::ESRCH) => {}
            Err(source) => {
                return Err(EmbeddedError::Signal {
                    pid: raw,
                    signal,
                    source,
                })
            }
        }
        if wait_until_not_serving(pid, data_dir, limit, poll).await? {
            tracing::info!(pid = raw, %signal, "previous postgres exited");
            return Ok(());
        }
    }
    Err(EmbeddedError::PreviousServerStuck {
        pid: raw,
        data_dir: data_dir.to_path_buf(),
    })
}

/// Blocking. postgres applies the same liveness test to the socket lock as
/// to postmaster.pid, so a reused pid there blocks startup just the same. A
/// live postgres is left alone: it may really own the socket.
fn settle_socket_lock(socket_dir: &Path, port: u16) -> Result<(), EmbeddedError> {
    let lock = socket_dir.join(format!("{}.lock", socket_file_name(port)));
    let Some(pid) = read_lock_pid(&lock)? else {
        return Ok(());
    };
    match classify_lock_holder(pid) {
        LockHolder::Zombie => {
            remove_stale_lock(&lock, pid, "the previous postgres exited (unreaped zombie)")
        }
        LockHolder::NotPostgres => remove_stale_lock(
            &lock,
            pid,
            "the pid now belongs to a process that is not postgres",
        ),
        _ => Ok(()),
    }
}

// ---------------------------------------------------------------------------
// The postmaster process

fn postmaster_command(
    prepared: &Prepared,
    options: &EmbeddedOptions,
    log: File,
) -> Result<Command, EmbeddedError> {
    let log_path = prepared.data_dir.join(LOG_FILE_NAME);
    let stderr = log
        .try_clone()
        .map_err(io_error("duplicating handle of", &log_path))?;
    let mut command = Command::new(&prepared.binaries.postgres);
    command
        .arg("-D")
        .arg(&prepared.data_dir)
        .arg("-k")
        .arg(&prepared.socket_dir)
        .arg("-p")
        .arg(options.port.to_string())
        .arg("-c")
        .arg("listen_addresses=")
        .arg("-c")
        .arg(format!("max_connections={}", options.max_connections));
    for setting in TUNED_SETTINGS {
        command.arg("-c").arg(setting);
    }
    if !options.durable {
        for setting in NON_DURABLE_SETTINGS {
            command.arg("-c").arg(setting);
        }
    }
    for (name, value) in &options.settings {
        command.arg("-c").arg(format!("{name}={value}"));
    }
    command
        .current_dir(&prepared.data_dir)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(stderr)
        // Its own process group: a Ctrl-C in ferrobill's terminal must reach
        // ferrobill only, which then decides when the database goes down.
        .process_group(0);
    let run_as = prepared.run_as.clone();
    let parent = Pid::this();
    // SAFETY: the closure only issues raw syscalls (setgroups, setgid,
    // setuid, prctl, getppid) on data prepared before fork; it neither
    // allocates nor takes locks.
    unsafe {
        command.pre_exec(move || become_postmaster(&run_as, parent));
    }
    Ok(command)
}

/// Runs between fork and exec.
fn drop_privileges(run_as: &RunAs) -> io::Result<()> {
    if run_as.switch_from_root {
        // Groups first: once the uid is gone we may no longer change them.
        setgroups(&run_as.groups)?;
        setgid(run_as.gid)?;
        setuid(run_as.uid)?;
    }
    Ok(())
}

/// Runs between fork and exec.
fn become_postmaster(run_as: &RunAs, parent: Pid) -> io::Result<()> {
    drop_privileges(run_as)?;
    // The kernel clears the parent-death signal whenever credentials change,
    // so it is armed only now, after setuid (which is also why we do not use
    // Command::uid, which would switch users after this closure runs).
    // SIGINT is postgres's fast shutdown: sessions are cut, data stays safe.
    set_pdeathsig(Signal::SIGINT)?;
    // If ferrobill died between fork and prctl, no signal will ever come:
    // we would already have been re-parented.
    if getppid() != parent {
        return Err(io::Error::from(Errno::ESRCH));
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProcState {
    Running,
    Exited(Option<ExitStatus>),
}

/// State shared with the thread that owns the child. Holding the lock while
/// `reaped` is false guarantees the pid still names our child (a zombie at
/// worst), so a signal can never hit a recycled pid.
#[derive(Debug, Default)]
struct Shared {
    pid: Option<Pid>,
    reaped: bool,
    abandoned: bool,
}

struct Postmaster {
    shared: Arc<Mutex<Shared>>,
    state: watch::Receiver<ProcState>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Postmaster {
    /// Spawns `command` from a dedicated thread that then waits on it: the
    /// parent-death signal fires when the *thread* that forked the child
    /// exits, so that thread must live exactly as long as postgres.
    async fn launch(command: Command, program: &Path) -> Result<Postmaster, EmbeddedError> {
        let shared = Arc::new(Mutex::new(Shared::default()));
        let (spawned_tx, spawned_rx) = oneshot::channel::<io::Result<()>>();
        let (state_tx, state_rx) = watch::channel(ProcState::Running);
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("ferrobill-postgres".to_owned())
            .spawn(move || own_postmaster(command, &thread_shared, spawned_tx, &state_tx))
            .map_err(io_error("starting the thread that spawns", program))?;
        // Built before awaiting: if this future is dropped, Drop still stops postgres.
        let postmaster = Postmaster {
            shared,
            state: state_rx,
            thread: Some(thread),
        };
        match spawned_rx.await {
            Ok(Ok(())) => Ok(postmaster),
            Ok(Err(source)) => Err(EmbeddedError::Io {
                action: "spawning",
                path: program.to_path_buf(),
                source,
            }),
            Err(_) => Err(EmbeddedError::Io {
                action: "spawning",
                path: program.to_path_buf(),
                source: io::Error::other("the spawning thread ended unexpectedly"),
            }),
        }
    }

    fn pid(&self) -> Option<Pid> {
        lock_ignoring_poison(&self.shared).pid
    }

    /// `Ok(false)` when there is no live child to signal.
    fn signal(&self, signal: Signal) -> Result<bool, EmbeddedError> {
        let shared = lock_ignoring_poison(&self.shared);
        let Some(pid) = shared.pid.filter(|_| !shared.reaped) else {
            return Ok(false);
        };
        match kill(pid, signal) {
            Ok(()) => Ok(true),
            Err(Errno::ESRCH) => Ok(false),
            Err(source) => Err(EmbeddedError::Signal {
                pid: pid.as_raw(),
                signal,
                source,
            }),
        }
    }

    /// `None` on timeout, else the exit status if it could be collected.
    async fn wait_exit(&self, limit: Duration) -> Option<Option<ExitStatus>> {
        let mut state = self.state.clone();
        let waited = tokio::time::timeout(limit, async {
            match state.wait_for(|s| *s != ProcState::Running).await {
                Ok(exited) => *exited,
                // The thread is gone, and with it the child.
                Err(_) => ProcState::Exited(None),
            }
        })
        .await;
        match waited {
            Ok(ProcState::Exited(status)) => Some(status),
            Ok(ProcState::Running) => Some(None),
            Err(_elapsed) => None,
        }
    }

    async fn join(mut self) -> Result<(), EmbeddedError> {
        if let Some(thread) = self.thread.take() {
            tokio::task::spawn_blocking(move || {
                if thread.join().is_err() {
                    tracing::warn!("the thread that owned postgres panicked");
                }
            })
            .await?;
        }
        Ok(())
    }
}

impl Drop for Postmaster {
    fn drop(&mut self) {
        let mut shared = lock_ignoring_poison(&self.shared);
        shared.abandoned = true;
        if let Some(pid) = shared.pid.filter(|_| !shared.reaped) {
            if kill(pid, Signal::SIGINT).is_ok() {
                tracing::warn!(
                    pid = pid.as_raw(),
                    "embedded PostgreSQL dropped without stop(); requested a fast shutdown"
                );
            }
        }
    }
}

/// Body of the dedicated thread.
fn own_postmaster(
    mut command: Command,
    shared: &Mutex<Shared>,
    spawned: oneshot::Sender<io::Result<()>>,
    state: &watch::Sender<ProcState>,
) {
    let child = match command.spawn() {
        Ok(child) => child,
        Err(error) => {
            let _ = spawned.send(Err(error));
            state.send_replace(ProcState::Exited(None));
            return;
        }
    };
    let pid = Pid::from_raw(child.id() as i32);
    {
        let mut shared = lock_ignoring_poison(shared);
        shared.pid = Some(pid);
        if shared.abandoned {
            // start() was cancelled while we were spawning.
            let _ = kill(pid, Signal::SIGINT);
        }
    }
    let _ = spawned.send(Ok(()));
    let status = reap(child, pid, shared);
    tracing::debug!(pid = pid.as_raw(), status = %describe_exit(&status), "postgres exited");
    state.send_replace(ProcState::Exited(status));
}

fn reap(mut child: Child, pid: Pid, shared: &Mutex<Shared>) -> Option<ExitStatus> {
    // Wait without reaping first, so the pid stays ours until `reaped` is
    // set under the lock that signal senders take.
    loop {
        match waitid(Id::Pid(pid), WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT) {
            Ok(_) => break,
            Err(Errno::EINTR) => continue,
            Err(error) => {
                tracing::warn!(pid = pid.as_raw(), %error, "waiting for postgres failed");
                break;
            }
        }
    }
    lock_ignoring_poison(shared).reaped = true;
    child.wait().ok()
}

#[cfg(test)]
mod tests;
