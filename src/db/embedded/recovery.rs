//! Leftovers of a previous run that was killed: a stale `postmaster.pid` or socket lock whose
//! pid is gone, a zombie or reused, and a previous server still serving the data directory,
//! which is waited for and then asked to stop. It must never remove a lock file that may
//! belong to a running server.

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::data_dir::socket_file_name;
use super::error::io_error;
use super::{EmbeddedError, Timeouts};

const PID_FILE_NAME: &str = "postmaster.pid";

/// What the pid in a lock file currently is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum LockHolder {
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
pub(super) fn read_lock_pid(path: &Path) -> Result<Option<Pid>, EmbeddedError> {
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

pub(super) fn classify_lock_holder(pid: Pid) -> LockHolder {
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
pub(super) fn is_postgres_cmdline(cmdline: &[u8]) -> bool {
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

pub(super) fn data_dir_argument(cmdline: &[u8]) -> Option<PathBuf> {
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

pub(super) async fn clear_stale_postmaster_pid(
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

pub(super) async fn still_serves(pid: Pid, data_dir: &Path) -> Result<bool, EmbeddedError> {
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
pub(super) fn settle_socket_lock(socket_dir: &Path, port: u16) -> Result<(), EmbeddedError> {
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
