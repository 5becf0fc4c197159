//! `ferrobill-diff`: sends one scripted sequence of requests to a Kill Bill and to a ferrobill
//! and reports where their answers differ (see `loadtests::diff`). Exit status: 0 when every
//! difference is documented in `docs/compatibility.md`, 1 when some is not, 2 when the run
//! itself failed (a server unreachable, a report not writable).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;
use loadtests::cli::parse_duration;
use loadtests::diff::{self, Options};

#[derive(Debug, Parser)]
#[command(
    name = "ferrobill-diff",
    version,
    about = "Sends the same requests to Kill Bill and ferrobill and compares the answers"
)]
struct Cli {
    /// Base URL of the Kill Bill to compare with, e.g. http://127.0.0.1:8081.
    #[arg(long)]
    kill_bill: String,
    /// Base URL of the ferrobill, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    ferrobill: String,
    /// Basic-auth user on both servers.
    #[arg(long, default_value = "admin")]
    user: String,
    #[arg(long, default_value = "password")]
    password: String,
    /// Where to write the report (Markdown).
    #[arg(long, default_value = "target/ferrobill-diff/report.md")]
    report: PathBuf,
    /// Where to write the report as JSON too.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Notifications are compared once neither server sent one for this long.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    settle: Duration,
    /// The longest wait for the notifications to settle.
    #[arg(long, default_value = "120s", value_parser = parse_duration)]
    events_timeout: Duration,
    /// The address the two notification receivers listen on, which both servers must reach
    /// (an address of this machine when a server runs elsewhere).
    #[arg(long, default_value = "127.0.0.1")]
    callback_host: String,
    /// Print each step's verdict as it runs.
    #[arg(long, short)]
    verbose: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(error) => {
            eprintln!("ferrobill-diff: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// Whether every difference was documented.
async fn run(cli: Cli) -> Result<bool> {
    let options = Options {
        killbill: cli.kill_bill,
        ferrobill: cli.ferrobill,
        user: cli.user,
        password: cli.password,
        settle: cli.settle,
        events_timeout: cli.events_timeout,
        callback_host: cli.callback_host,
        verbose: cli.verbose,
    };
    let report = diff::run(&options).await?;
    write(&cli.report, &report.markdown())?;
    if let Some(path) = &cli.json {
        let text = serde_json::to_string_pretty(&report.json()).context("report as JSON")?;
        write(path, &text)?;
    }
    println!("ferrobill-diff: {}", report.summary());
    println!("report: {}", cli.report.display());
    Ok(report.undocumented() == 0)
}

fn write(path: &PathBuf, text: &str) -> Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}
