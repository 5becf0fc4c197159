//! Runs the real `ferrobill` binary as an operator would: in its own directory, configured
//! through the environment, stopped with signals.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

static NEXT_DIR: AtomicUsize = AtomicUsize::new(0);

/// A fresh working directory under `target/tmp` for one server process.
pub fn fresh_workdir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "{name}-{}-{}",
        std::process::id(),
        NEXT_DIR.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a work directory");
    dir
}

/// The command for the binary, with the test runner's own database and ferrobill settings
/// removed so each test states its configuration.
pub fn ferrobill(workdir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ferrobill"));
    command.current_dir(workdir);
    for (name, _) in std::env::vars() {
        if name == "DATABASE_URL"
            || name.starts_with("KB_")
            || name.starts_with("KILLBILL_")
            || name.starts_with("FERROBILL_")
        {
            command.env_remove(name);
        }
    }
    command.env("RUST_LOG", "info").env("NO_COLOR", "1");
    command
}

/// Runs a command that is expected to exit by itself, killing it after `limit` so a test can
/// never hang on a server that unexpectedly started.
pub fn output_within(mut command: Command, limit: Duration) -> std::process::Output {
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ferrobill");
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let (done, finished) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if finished.recv_timeout(limit).is_err() {
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            return true;
        }
        false
    });
    let output = child.wait_with_output().expect("wait for ferrobill");
    let _ = done.send(());
    let killed = watchdog.join().unwrap_or(false);
    assert!(
        !killed,
        "the command did not exit within {limit:?}: {output:?}"
    );
    output
}

pub struct ServerProcess {
    child: Child,
    pub address: String,
    /// Every stdout line so far, for tests that read the logs.
    output: Arc<Mutex<Vec<String>>>,
}

impl ServerProcess {
    /// Starts the binary on loopback, port 0, and waits for its "serving" log line.
    pub fn start(mut command: Command) -> ServerProcess {
        command
            .env("FERROBILL_SERVER_BINDADDRESS", "127.0.0.1")
            .env("FERROBILL_SERVER_PORT", "0")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = command.spawn().expect("spawn ferrobill");
        let stdout = child.stdout.take().expect("stdout");
        let (sender, receiver) = std::sync::mpsc::channel();
        let output = Arc::new(Mutex::new(Vec::new()));
        let lines = output.clone();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if !sent && line.contains("ferrobill is serving") {
                    if let Some(address) = line.split("local_addr=").nth(1) {
                        let address = address.split_whitespace().next().unwrap_or_default();
                        let _ = sender.send(address.to_string());
                        sent = true;
                    }
                }
                println!("[ferrobill] {line}");
                lines
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .push(line);
            }
        });
        let address = match receiver.recv_timeout(Duration::from_secs(120)) {
            Ok(address) => address,
            Err(_) => {
                let _ = child.kill();
                panic!("ferrobill did not report serving within 120 s");
            }
        };
        ServerProcess {
            child,
            address: format!("http://{address}"),
            output,
        }
    }

    /// The stdout lines printed so far.
    pub fn output(&self) -> Vec<String> {
        self.output
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid()), signal)
            .expect("signal ferrobill");
    }

    /// Waits for the process to exit by itself (after a signal).
    pub fn wait(mut self) -> ExitStatus {
        self.child.wait().expect("wait for ferrobill")
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
