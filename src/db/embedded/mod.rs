//! The private PostgreSQL cluster that ferrobill runs when no database URL is
//! configured. This module owns that cluster's whole lifecycle and its public face
//! ([`EmbeddedCluster`], [`EmbeddedOptions`], [`EmbeddedError`]); the steps live in the
//! submodules: finding the server binaries ([`binaries`]), running as root through an
//! unprivileged user ([`privileges`]), the data directory and initdb ([`data_dir`]),
//! recovering from a previous run that was killed ([`recovery`]), the postgres process
//! itself ([`postmaster`]) and creating databases ([`databases`]). It must never run SQL
//! beyond creating databases, and it must never delete a data directory or anything inside
//! one except a lock file that provably belongs to no running server.

mod binaries;
mod data_dir;
mod databases;
mod error;
mod postmaster;
mod privileges;
mod recovery;

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use parking_lot::Mutex;
use tokio_postgres::NoTls;

use data_dir::{open_log, prepare, run_initdb};
use databases::{create_database_if_missing, validate_database_name};
use error::describe_exit;
pub use error::EmbeddedError;
use postmaster::{postmaster_command, Postmaster, ProcState};
use recovery::{clear_stale_postmaster_pid, settle_socket_lock};

/// initdb creates this role; it is the only one the private cluster has.
pub const SUPERUSER: &str = "postgres";
/// Always present after initdb, so readiness probes and CREATE DATABASE use it.
pub const MAINTENANCE_DB: &str = "postgres";
const LOG_FILE_NAME: &str = "postgres.log";

const LOG_TAIL_LINES: usize = 20;

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
// One start per data directory per process

static ACTIVE_DATA_DIRS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Stops a second `start` in the same process from treating the first one's
/// postgres as a leftover and shutting it down.
struct DataDirClaim(PathBuf);

impl DataDirClaim {
    fn acquire(data_dir: &Path) -> Result<DataDirClaim, EmbeddedError> {
        let mut active = ACTIVE_DATA_DIRS.lock();
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
        ACTIVE_DATA_DIRS.lock().retain(|dir| dir != &self.0);
    }
}

#[cfg(test)]
mod tests;
