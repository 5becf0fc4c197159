//! The ferrobill process that `--spawn` starts: launched in its own working directory (so its
//! embedded PostgreSQL and logs stay with the run's results), on an ephemeral loopback port
//! read back from its "ferrobill is serving" log line, and stopped with SIGTERM at the end.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

use crate::cluster::Cluster;

/// The first start runs initdb for the embedded PostgreSQL, which takes a while on a busy box.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(120);
/// Matches the server's own shutdown budget for in-flight requests and the database.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);
const SERVING_MARKER: &str = "ferrobill is serving";
const LOG_FILE: &str = "ferrobill.log";

pub fn default_binary() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/ferrobill")
}

pub struct SpawnedServer {
    child: Child,
    base_url: String,
    log_path: PathBuf,
}

impl SpawnedServer {
    /// Starts `binary` in `directory` (created if needed) and waits until it serves.
    pub async fn start(binary: &Path, directory: &Path, env: &[(String, String)]) -> Result<Self> {
        if !binary.is_file() {
            bail!(
                "no server binary at {}: run `cargo build --release` first (or pass --server-binary)",
                binary.display()
            );
        }
        std::fs::create_dir_all(directory)
            .with_context(|| format!("cannot create {}", directory.display()))?;
        let log_path = directory.join(LOG_FILE);
        let mut log = tokio::fs::File::create(&log_path)
            .await
            .with_context(|| format!("cannot create {}", log_path.display()))?;
        // stderr carries only what the server prints before its logging is up (bad config).
        let stderr_path = directory.join("ferrobill.stderr.log");
        let stderr = std::fs::File::create(&stderr_path)
            .with_context(|| format!("cannot create {}", stderr_path.display()))?;
        let mut child = Command::new(binary)
            .current_dir(directory)
            .env("FERROBILL_SERVER_BINDADDRESS", "127.0.0.1")
            .env("FERROBILL_SERVER_PORT", "0")
            .env("RUST_LOG", "info")
            .envs(env.iter().map(|(key, value)| (key, value)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            // Last resort if we bail out before `stop`: never leave a server behind.
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let stdout = child.stdout.take().context("server stdout was not piped")?;
        let mut lines = BufReader::new(stdout).lines();

        let wait_for_address = async {
            while let Some(line) = lines.next_line().await? {
                log.write_all(line.as_bytes()).await?;
                log.write_all(b"\n").await?;
                if let Some(address) = serving_address(&line) {
                    return Ok(Some(address));
                }
            }
            Ok::<_, std::io::Error>(None)
        };
        let address = match tokio::time::timeout(STARTUP_TIMEOUT, wait_for_address).await {
            Ok(Ok(Some(address))) => address,
            outcome => {
                let _ = child.kill().await;
                let why = match outcome {
                    Ok(Ok(_)) => "exited before serving".to_string(),
                    Ok(Err(error)) => format!("log could not be read: {error}"),
                    Err(_) => format!("did not serve within {}s", STARTUP_TIMEOUT.as_secs()),
                };
                bail!(
                    "the server {why}; see {} and {}",
                    log_path.display(),
                    stderr_path.display()
                );
            }
        };
        // Keep draining stdout into the log: a full pipe would block the server's logging.
        let mut rest = lines.into_inner();
        tokio::spawn(async move {
            let _ = tokio::io::copy(&mut rest, &mut log).await;
            let _ = log.flush().await;
        });
        eprintln!(
            "ferrobill-load: server {} serving on {address}, log in {}",
            binary.display(),
            log_path.display()
        );
        Ok(SpawnedServer {
            child,
            base_url: format!("http://{address}"),
            log_path,
        })
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Its embedded PostgreSQL, as its log announced it (none with a database URL).
    pub fn cluster(&self) -> Option<Cluster> {
        let log = std::fs::read_to_string(&self.log_path).ok()?;
        Cluster::from_server_log(&log)
    }

    /// SIGTERM, then SIGKILL if it has not exited within `SHUTDOWN_TIMEOUT`. A server that
    /// had already exited is an error: the run's figures then describe a dead server.
    pub async fn stop(mut self) -> Result<ExitStatus> {
        if let Some(status) = self.child.try_wait().context("cannot check the server")? {
            bail!("the server exited by itself during the run ({status}); see its log");
        }
        if let Some(pid) = self.child.id().and_then(|id| i32::try_from(id).ok()) {
            kill(Pid::from_raw(pid), Signal::SIGTERM).context("cannot send SIGTERM")?;
        }
        match tokio::time::timeout(SHUTDOWN_TIMEOUT, self.child.wait()).await {
            Ok(status) => status.context("cannot wait for the server"),
            Err(_) => {
                eprintln!(
                    "ferrobill-load: server still running {}s after SIGTERM; killing it",
                    SHUTDOWN_TIMEOUT.as_secs()
                );
                self.child.kill().await.context("cannot kill the server")?;
                self.child
                    .wait()
                    .await
                    .context("cannot wait for the server")
            }
        }
    }
}

/// Environment pairs in order, a later value of a name replacing an earlier one in its place:
/// what a process started with all of them sees.
pub fn merge_env(pairs: impl IntoIterator<Item = (String, String)>) -> Vec<(String, String)> {
    let mut merged: Vec<(String, String)> = Vec::new();
    for (name, value) in pairs {
        match merged.iter_mut().find(|(known, _)| *known == name) {
            Some(entry) => entry.1 = value,
            None => merged.push((name, value)),
        }
    }
    merged
}

/// The address in `... ferrobill is serving local_addr=127.0.0.1:41234`, or in the same event
/// logged as JSON (`"local_addr":"127.0.0.1:41234"`) when the server logs JSON.
pub fn serving_address(line: &str) -> Option<String> {
    if !line.contains(SERVING_MARKER) {
        return None;
    }
    let address = if let Some((_, rest)) = line.split_once("local_addr=") {
        rest.split_whitespace().next()?
    } else {
        let (_, rest) = line.split_once("\"local_addr\":\"")?;
        rest.split('"').next()?
    };
    (!address.is_empty()).then(|| address.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_values_replace_earlier_ones_in_place() {
        let pair = |name: &str, value: &str| (name.to_string(), value.to_string());
        let merged = merge_env([pair("A", "1"), pair("B", "2"), pair("A", "3")]);
        assert_eq!(merged, [pair("A", "3"), pair("B", "2")]);
    }

    #[test]
    fn address_is_read_from_text_and_json_logs() {
        let text = "2025-01-01T00:00:00Z  INFO ferrobill::app: ferrobill is serving \
                    local_addr=127.0.0.1:41234";
        assert_eq!(serving_address(text).as_deref(), Some("127.0.0.1:41234"));
        let json = r#"{"fields":{"message":"ferrobill is serving","local_addr":"[::1]:80"}}"#;
        assert_eq!(serving_address(json).as_deref(), Some("[::1]:80"));
        assert_eq!(serving_address("INFO starting local_addr=1.2.3.4:5"), None);
    }
}
