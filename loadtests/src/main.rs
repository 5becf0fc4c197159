//! `ferrobill-load`: targets a running server (`--url`) or spawns one, creates the run's
//! tenant, drives the chosen scenario, then prints the report and saves it with the server's
//! log under `loadtests/results/<scenario>-<unix time>/`.

use std::fmt::Write as _;
use std::hash::BuildHasher;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use clap::Parser;
use loadtests::cli::Cli;
use loadtests::client::{KillBill, TenantCredentials};
use loadtests::runner::{self, RunOutcome, RunPlan};
use loadtests::server::{self, SpawnedServer};
use loadtests::stats;

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("ferrobill-load: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<()> {
    let started_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|since| since.as_secs())
        .unwrap_or_default();
    let run_directory = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("results")
        .join(format!("{}-{started_at}", cli.scenario.name()));
    let server = match cli.url {
        Some(_) => None,
        None => {
            let binary = cli
                .server_binary
                .clone()
                .unwrap_or_else(server::default_binary);
            let directory = run_directory.join("server");
            Some(SpawnedServer::start(&binary, &directory, &cli.server_env).await?)
        }
    };
    let base_url = match (&server, &cli.url) {
        (Some(server), _) => server.base_url().to_string(),
        (None, url) => url.clone().unwrap_or_default(),
    };
    let outcome = load(&cli, &base_url, &run_directory).await;
    let Some(server) = server else {
        return outcome;
    };
    let stopped = server.stop().await;
    if let (Err(error), Err(_)) = (&stopped, &outcome) {
        // Only one error can be returned; the load's comes first, this one must not vanish.
        eprintln!("ferrobill-load: {error:#}");
    }
    outcome?;
    eprintln!("ferrobill-load: server stopped ({})", stopped?);
    Ok(())
}

async fn load(cli: &Cli, base_url: &str, run_directory: &Path) -> Result<()> {
    let client = KillBill::new(base_url, &cli.user, &cli.password)?;
    // Random per run, so keys never collide with an earlier run against the same database.
    let run_id = format!("{:016x}", random_u64());
    let tenant = match (&cli.api_key, &cli.api_secret) {
        (Some(api_key), Some(api_secret)) => TenantCredentials {
            api_key: api_key.clone(),
            api_secret: api_secret.clone(),
        },
        _ => {
            let api_key = format!("load-{run_id}");
            let api_secret = format!("{api_key}-secret");
            let tenant = TenantCredentials {
                api_key,
                api_secret,
            };
            let id = client.setup_tenant(&tenant).await?;
            eprintln!("ferrobill-load: created tenant {} ({id})", tenant.api_key);
            tenant
        }
    };
    eprintln!(
        "ferrobill-load: {} with {} users for {}s (warm-up {}s) against {}",
        cli.scenario.name(),
        cli.users,
        cli.duration.as_secs_f64(),
        cli.warmup.as_secs_f64(),
        client.base_url(),
    );
    let plan = RunPlan {
        users: cli.users,
        warmup: cli.warmup,
        duration: cli.duration,
        max_requests: cli.max_requests,
    };
    let outcome = runner::run(
        cli.scenario,
        Arc::new(client.clone()),
        Arc::new(tenant),
        &format!("load-{run_id}"),
        &plan,
    )
    .await;
    let report = render_report(cli, client.base_url(), &outcome);
    println!("{report}");
    std::fs::create_dir_all(run_directory)
        .with_context(|| format!("cannot create {}", run_directory.display()))?;
    let report_path: PathBuf = run_directory.join("report.md");
    std::fs::write(&report_path, &report)
        .with_context(|| format!("cannot write {}", report_path.display()))?;
    eprintln!("ferrobill-load: report saved to {}", report_path.display());
    Ok(())
}

fn render_report(cli: &Cli, base_url: &str, outcome: &RunOutcome) -> String {
    let mut report = String::new();
    let _ = writeln!(report, "## Setup\n");
    let _ = writeln!(report, "- target {base_url}");
    let _ = writeln!(
        report,
        "- scenario `{}`, {} users, closed loop, {:.1}s measured after {:.1}s warm-up{}",
        cli.scenario.name(),
        cli.users,
        outcome.measured.as_secs_f64(),
        cli.warmup.as_secs_f64(),
        cli.max_requests
            .map(|max| format!(", at most {max} requests"))
            .unwrap_or_default()
    );
    for (key, value) in &cli.server_env {
        let _ = writeln!(report, "- server env {key}={value}");
    }
    let _ = writeln!(report, "\n## Results (latencies in ms)\n");
    report += &stats::results_table(&outcome.recorder.rows(outcome.measured));
    let _ = writeln!(report, "\n## Errors\n");
    report += &stats::errors_table(outcome.recorder.errors_by_class());
    let polls: Vec<String> = outcome
        .health_polls
        .iter()
        .map(|(status, count)| format!("{status}: {count}"))
        .collect();
    let _ = writeln!(
        report,
        "\nHealthcheck polls (1/s): {}",
        if polls.is_empty() {
            "none".to_string()
        } else {
            polls.join(", ")
        }
    );
    if outcome.abandoned_users > 0 {
        let _ = writeln!(
            report,
            "\n**{} users were still waiting at the hard deadline and were abandoned.**",
            outcome.abandoned_users
        );
    }
    report
}

/// Randomness without a dependency: std seeds every `RandomState` from the OS.
fn random_u64() -> u64 {
    std::collections::hash_map::RandomState::new().hash_one(SystemTime::now())
}
