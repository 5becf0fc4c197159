//! Headless Chromium for ferrobill's browser tests (`/dashboard`, the load suite's
//! `report.html`) and for the load suite's `--watch-dashboard`: finds the browser, runs it with
//! the flags a root user on a machine without internet needs, and returns a page's DOM once its
//! scripts have run, takes a screenshot, or keeps a page open until dropped.
//!
//! The browser is `FERROBILL_CHROMIUM`, else `chromium` or `chromium-browser` on the PATH
//! (Debian's `chromium` package, which `scripts/ensure-chromium.sh` installs). Every run gets a
//! fresh profile directory, removed afterwards, and ends within [`RUN_TIMEOUT`]. This crate
//! drives the browser only; what a page should contain is for its callers to check.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::process::{Child, Command};

/// Longest a DOM dump or a screenshot may take, scripts included.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(90);
/// Names the browser binary to use instead of the one on the PATH.
pub const BROWSER_VARIABLE: &str = "FERROBILL_CHROMIUM";
const COMMANDS: [&str; 2] = ["chromium", "chromium-browser"];

/// Headless, as root (no sandbox), no GPU, and none of the background connections (updates,
/// sync, QUIC probes) that a closed network refuses and that would slow every start.
const FLAGS: [&str; 10] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--mute-audio",
];

#[derive(Debug, thiserror::Error)]
pub enum BrowserError {
    #[error(
        "Chromium not found: run scripts/ensure-chromium.sh (it installs Debian's chromium package), or set {BROWSER_VARIABLE} to a Chromium binary"
    )]
    NotFound,
    #[error("cannot start {binary}: {source}")]
    Start {
        binary: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot create a browser profile directory: {0}")]
    Profile(#[source] std::io::Error),
    #[error("{binary} did not finish within {} s", RUN_TIMEOUT.as_secs())]
    TimedOut { binary: String },
    #[error("{binary} failed ({status}): {stderr}")]
    Failed {
        binary: String,
        status: String,
        stderr: String,
    },
    #[error("no screenshot at {path}: {reason}")]
    Screenshot { path: String, reason: String },
}

/// A Chromium binary.
#[derive(Debug, Clone)]
pub struct Chromium {
    binary: PathBuf,
}

/// A page kept open in a headless browser, running its scripts, until dropped.
pub struct OpenPage {
    _browser: Child,
    _profile: tempfile::TempDir,
}

impl Chromium {
    /// `FERROBILL_CHROMIUM`, else the first of `chromium`, `chromium-browser` on the PATH.
    pub fn find() -> Result<Chromium, BrowserError> {
        if let Some(binary) = std::env::var_os(BROWSER_VARIABLE) {
            let binary = PathBuf::from(binary);
            return if binary.is_file() {
                Ok(Chromium { binary })
            } else {
                Err(BrowserError::NotFound)
            };
        }
        let path = std::env::var_os("PATH").unwrap_or_default();
        COMMANDS
            .iter()
            .flat_map(|command| std::env::split_paths(&path).map(move |dir| dir.join(command)))
            .find(|candidate| candidate.is_file())
            .map(|binary| Chromium { binary })
            .ok_or(BrowserError::NotFound)
    }

    /// The page's DOM as HTML once its scripts have run for `scripts_for` of virtual time
    /// (timers advance at once; the browser waits for network answers meanwhile).
    pub async fn dump_dom(&self, url: &str, scripts_for: Duration) -> Result<String, BrowserError> {
        let output = self
            .run(&[
                budget(scripts_for),
                OsString::from("--dump-dom"),
                OsString::from(url),
            ])
            .await?;
        Ok(String::from_utf8_lossy(&output).into_owned())
    }

    /// A PNG of the page at `width` × `height` once its scripts have run for `scripts_for`,
    /// saved at `path` (its directory created if needed).
    pub async fn screenshot(
        &self,
        url: &str,
        path: &Path,
        (width, height): (u32, u32),
        scripts_for: Duration,
    ) -> Result<(), BrowserError> {
        let failed = |reason: String| BrowserError::Screenshot {
            path: path.display().to_string(),
            reason,
        };
        if let Some(directory) = path.parent() {
            std::fs::create_dir_all(directory).map_err(|error| failed(error.to_string()))?;
        }
        let mut screenshot = OsString::from("--screenshot=");
        screenshot.push(path);
        self.run(&[
            budget(scripts_for),
            OsString::from(format!("--window-size={width},{height}")),
            screenshot,
            OsString::from(url),
        ])
        .await?;
        let png = std::fs::read(path).map_err(|error| failed(error.to_string()))?;
        if !png.starts_with(b"\x89PNG") {
            return Err(failed("the file is not a PNG".to_string()));
        }
        Ok(())
    }

    /// Opens `url` and keeps it open, its scripts running in real time, until the returned
    /// page is dropped.
    pub fn open(&self, url: &str) -> Result<OpenPage, BrowserError> {
        let profile = profile()?;
        let browser = self
            .command(&profile, &[OsString::from(url)])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|source| self.start_error(source))?;
        Ok(OpenPage {
            _browser: browser,
            _profile: profile,
        })
    }

    async fn run(&self, arguments: &[OsString]) -> Result<Vec<u8>, BrowserError> {
        let profile = profile()?;
        let mut browser = self
            .command(&profile, arguments)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| self.start_error(source))?;
        let (mut stdout, mut stderr) = (browser.stdout.take(), browser.stderr.take());
        let finished = async {
            // Both pipes at once: a full stderr pipe must not block the browser's stdout.
            let (out, err) = tokio::join!(read_all(stdout.as_mut()), read_all(stderr.as_mut()));
            Ok::<_, std::io::Error>((browser.wait().await?, out?, err?))
        };
        let (status, out, err) = match tokio::time::timeout(RUN_TIMEOUT, finished).await {
            Ok(Ok(finished)) => finished,
            Ok(Err(source)) => return Err(self.start_error(source)),
            Err(_) => {
                return Err(BrowserError::TimedOut {
                    binary: self.name(),
                })
            }
        };
        if !status.success() {
            return Err(BrowserError::Failed {
                binary: self.name(),
                status: status.to_string(),
                stderr: String::from_utf8_lossy(&err).trim().to_string(),
            });
        }
        Ok(out)
    }

    fn command(&self, profile: &tempfile::TempDir, arguments: &[OsString]) -> Command {
        let mut user_data_dir = OsString::from("--user-data-dir=");
        user_data_dir.push(profile.path());
        let mut command = Command::new(&self.binary);
        command
            .args(FLAGS)
            .arg(user_data_dir)
            .args(arguments)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        command
    }

    fn start_error(&self, source: std::io::Error) -> BrowserError {
        BrowserError::Start {
            binary: self.name(),
            source,
        }
    }

    fn name(&self) -> String {
        self.binary.display().to_string()
    }
}

async fn read_all(pipe: Option<&mut (impl AsyncReadExt + Unpin)>) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    if let Some(pipe) = pipe {
        pipe.read_to_end(&mut bytes).await?;
    }
    Ok(bytes)
}

fn budget(scripts_for: Duration) -> OsString {
    OsString::from(format!("--virtual-time-budget={}", scripts_for.as_millis()))
}

fn profile() -> Result<tempfile::TempDir, BrowserError> {
    tempfile::Builder::new()
        .prefix("ferrobill-chromium-")
        .tempdir()
        .map_err(BrowserError::Profile)
}

/// Every `data-metric="name"` element's text in a DOM, by name (the last one wins).
pub fn metric_values(dom: &str) -> std::collections::BTreeMap<String, String> {
    const ATTRIBUTE: &str = "data-metric=\"";
    let mut values = std::collections::BTreeMap::new();
    let mut rest = dom;
    while let Some(start) = rest.find(ATTRIBUTE) {
        rest = &rest[start + ATTRIBUTE.len()..];
        let Some(name_end) = rest.find('"') else {
            break;
        };
        let name = &rest[..name_end];
        let Some(text_start) = rest.find('>') else {
            break;
        };
        let text = &rest[text_start + 1..];
        let text_end = text.find('<').unwrap_or(text.len());
        values.insert(name.to_string(), text[..text_end].trim().to_string());
        rest = &text[text_end..];
    }
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_values_are_read_from_the_dom() {
        let dom = r#"<td><span data-metric="main.pool.ActiveConnections">3</span></td>
            <b data-metric="ferrobill.health.status" class="x">healthy</b><i data-metric="empty"></i>"#;
        let values = metric_values(dom);
        assert_eq!(values["main.pool.ActiveConnections"], "3");
        assert_eq!(values["ferrobill.health.status"], "healthy");
        assert_eq!(values["empty"], "");
        assert_eq!(values.len(), 3);
    }
}
