//! `ferrobill-load`: targets a running server (`--url`) or spawns one per server configuration
//! of the scenario (and per `--sweep-env` value), runs the suite against each, then prints the report and saves it with
//! `report.html`, `summary.json`, `chart.svg`, the snapshots and the servers' logs under
//! `loadtests/results/<scenario>-<unix time>/`.

use std::path::Path;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Result};
use clap::Parser;
use loadtests::cli::Cli;
use loadtests::client::TenantCredentials;
use loadtests::costs;
use loadtests::machine::Machine;
use loadtests::scenario::{Configuration, Scenario};
use loadtests::server::{self, SpawnedServer};
use loadtests::suite::{self, ConfigurationReport, SuitePlan, Summary, Target};

/// The embedded PostgreSQL's max_connections with `--with-sql-limit`.
const SQL_LIMIT_MAX_CONNECTIONS: u32 = 600;

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
    if cli.scenario == Scenario::Overload && cli.rate.is_none() {
        bail!("the overload scenario needs an open-loop --rate past capacity, e.g. --rate 5000");
    }
    let started_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|since| since.as_secs())
        .unwrap_or_default();
    let run_directory = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("results")
        .join(format!("{}-{started_at}", cli.scenario.name()));
    let plan = SuitePlan {
        scenario: cli.scenario,
        steps: if cli.sweep.is_empty() {
            vec![cli.users]
        } else {
            cli.sweep.clone()
        },
        warmup: cli.warmup,
        duration: cli.duration,
        max_requests: cli.max_requests,
        rate: cli.rate,
        profiling: cli.profiling.clone(),
        accounts: cli.accounts,
        callback_latency: cli.callback_latency,
        with_sql_limit: cli.with_sql_limit,
        watch_dashboard: cli.watch_dashboard,
        user: cli.user.clone(),
        password: cli.password.clone(),
        tenant: cli
            .api_key
            .clone()
            .zip(cli.api_secret.clone())
            .map(|(api_key, api_secret)| TenantCredentials {
                api_key,
                api_secret,
            }),
    };
    let summary_start = suite::utc_now();
    let mut configurations = Vec::new();
    match &cli.url {
        Some(url) => {
            let target = Target {
                label: "target".into(),
                base_url: url.clone(),
                server_env: Vec::new(),
                pid: None,
                database: None,
            };
            configurations.push(suite::run_configuration(&plan, &target, &run_directory).await?);
        }
        None => {
            let presets = if cli.no_presets {
                vec![Configuration {
                    label: "server-env only".into(),
                    server_env: Vec::new(),
                }]
            } else {
                cli.scenario.configurations()
            };
            let servers = match &cli.sweep_env {
                Some(sweep) => {
                    let servers = sweep.configurations(&presets);
                    // What each server will see: this process's environment, then ours.
                    let environments: Vec<_> = servers
                        .iter()
                        .map(|server| {
                            server::merge_env(std::env::vars().chain(server_env(&cli, server)))
                        })
                        .collect();
                    sweep.check_takes_effect(&environments)?;
                    servers
                }
                None => presets,
            };
            for (index, configuration) in servers.into_iter().enumerate() {
                let report = spawned(&cli, &plan, &run_directory, index, configuration).await?;
                configurations.push(report);
            }
        }
    }
    let summary = Summary {
        scenario: cli.scenario,
        started_at_utc: summary_start,
        command: std::env::args().collect::<Vec<_>>().join(" "),
        model: plan.model(),
        warmup_seconds: plan.warmup.as_secs_f64(),
        duration_seconds: plan.duration.as_secs_f64(),
        profiling: plan.profiling.clone(),
        callback_latency_ms: plan.callback_latency.map(|latency| latency.as_millis()),
        dashboard_watched: plan.watch_dashboard,
        machine: Machine::describe(),
        configurations,
    };
    println!("{}", suite::render_report(&summary));
    let report_path = suite::write_files(&run_directory, &summary)?;
    eprintln!("ferrobill-load: report saved to {}", report_path.display());
    Ok(())
}

/// A spawned server's environment: the suite's own settings (room for pgbench), the
/// configuration's, then `--server-env`, a later value of a name replacing an earlier one; and
/// the statement statistics' PostgreSQL settings before any given.
fn server_env(cli: &Cli, configuration: &Configuration) -> Vec<(String, String)> {
    let mut env = Vec::new();
    if cli.with_sql_limit {
        // pgbench's clients come on top of the server's open pools (seed 000's add up to
        // 240): room for both, unless --server-env says otherwise.
        env.push((
            "FERROBILL_EMBEDDED_MAXCONNECTIONS".to_string(),
            SQL_LIMIT_MAX_CONNECTIONS.to_string(),
        ));
    }
    let configured = configuration.server_env.iter().chain(&cli.server_env);
    costs::with_statement_statistics(server::merge_env(
        env.into_iter().chain(configured.cloned()),
    ))
}

/// One configuration on its own freshly spawned server (a new data directory).
async fn spawned(
    cli: &Cli,
    plan: &SuitePlan,
    run_directory: &Path,
    index: usize,
    configuration: Configuration,
) -> Result<ConfigurationReport> {
    let binary = cli
        .server_binary
        .clone()
        .unwrap_or_else(server::default_binary);
    let env = server_env(cli, &configuration);
    let directory = run_directory.join(format!("server-{index}"));
    let server = SpawnedServer::start(&binary, &directory, &env).await?;
    let target = Target {
        label: configuration.label,
        base_url: server.base_url().to_string(),
        server_env: env,
        pid: server.pid(),
        database: server.cluster(),
    };
    let outcome = suite::run_configuration(plan, &target, run_directory).await;
    let stopped = server.stop().await;
    // The log stays with the report; the database goes. Its WAL alone grows to gigabytes under
    // load (the embedded max_wal_size is 4 GB), and one sweep filled this box's disk.
    if stopped.is_ok() {
        match std::fs::remove_dir_all(directory.join("data")) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                eprintln!("ferrobill-load: cannot remove the server's database: {error}");
            }
            _ => {}
        }
    }
    if let (Err(error), Err(_)) = (&stopped, &outcome) {
        // Only one error can be returned; the load's comes first, this one must not vanish.
        eprintln!("ferrobill-load: {error:#}");
    }
    let report = outcome?;
    eprintln!("ferrobill-load: server stopped ({})", stopped?);
    Ok(report)
}
