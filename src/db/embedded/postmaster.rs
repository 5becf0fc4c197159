//! The postmaster process: its command line and settings, the dedicated thread that spawns
//! and reaps it (so the parent-death signal stays armed exactly as long as postgres runs),
//! and signalling it without ever hitting a recycled pid. It must never signal a process it
//! has reaped.

use std::fs::File;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::prctl::set_pdeathsig;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitid, Id, WaitPidFlag};
use nix::unistd::{getppid, Pid};
use parking_lot::Mutex;
use tokio::sync::{oneshot, watch};

use super::data_dir::Prepared;
use super::error::{describe_exit, io_error};
use super::privileges::{drop_privileges, RunAs};
use super::{EmbeddedError, EmbeddedOptions, LOG_FILE_NAME};

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

pub(super) fn postmaster_command(
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
pub(super) enum ProcState {
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

pub(super) struct Postmaster {
    shared: Arc<Mutex<Shared>>,
    pub(super) state: watch::Receiver<ProcState>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Postmaster {
    /// Spawns `command` from a dedicated thread that then waits on it: the
    /// parent-death signal fires when the *thread* that forked the child
    /// exits, so that thread must live exactly as long as postgres.
    pub(super) async fn launch(
        command: Command,
        program: &Path,
    ) -> Result<Postmaster, EmbeddedError> {
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

    pub(super) fn pid(&self) -> Option<Pid> {
        self.shared.lock().pid
    }

    /// `Ok(false)` when there is no live child to signal.
    pub(super) fn signal(&self, signal: Signal) -> Result<bool, EmbeddedError> {
        let shared = self.shared.lock();
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
    pub(super) async fn wait_exit(&self, limit: Duration) -> Option<Option<ExitStatus>> {
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

    pub(super) async fn join(mut self) -> Result<(), EmbeddedError> {
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
        let mut shared = self.shared.lock();
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
        let mut shared = shared.lock();
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
    shared.lock().reaped = true;
    child.wait().ok()
}
