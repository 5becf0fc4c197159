//! `ferrobill-bus-bench`: measures ferrobill's persistent bus through the library, no HTTP.
//! Starts a private PostgreSQL in a fresh `loadtests/results/bus-<unix time>/` directory
//! (durable, like production, unless `--non-durable`), runs every mode × nbThreads × claimed
//! case (see `loadtests::bus_bench`), prints a Markdown table and saves it as `report.md`
//! next to the cluster's data directory.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use clap::Parser;
use loadtests::bus_bench::{self, BenchDatabase, BenchPlan, BusMode, ClusterPlan, Posting};
use loadtests::cli::parse_duration;

/// Events posted per case in `--quick` mode.
const QUICK_EVENTS: u64 = 300;

#[derive(Debug, Parser)]
#[command(
    name = "ferrobill-bus-bench",
    version,
    about = "Throughput of ferrobill's persistent bus (posting and dispatching) on an embedded PostgreSQL"
)]
struct BusBenchCli {
    /// Events posted per case, one per transaction.
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(1..))]
    events: u64,
    /// Concurrent posting tasks, each with its own connection.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=1000))]
    posters: u64,
    /// Queue modes, comma-separated.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "POLLING,STICKY_POLLING,STICKY_EVENTS"
    )]
    modes: Vec<BusMode>,
    /// nbThreads values (handler calls at once), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,10,30")]
    threads: Vec<u32>,
    /// claimed values for the polling modes (entries per claim; Kill Bill's default is 10).
    #[arg(long, value_delimiter = ',', default_value = "10")]
    claimed: Vec<u32>,
    /// The bus's sleep between polls when no NOTIFY wakes it (e.g. 10ms).
    #[arg(long, default_value = "10ms", value_parser = parse_duration)]
    sleep: Duration,
    /// concurrent: post while the bus dispatches; preloaded: post with the bus off, then
    /// dispatch (measures dispatch alone). Comma-separated.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "concurrent")]
    posting: Vec<Posting>,
    /// A case still running after this stops and is reported as timed out.
    #[arg(long, default_value = "120s", value_parser = parse_duration)]
    case_time_limit: Duration,
    /// Run PostgreSQL with synchronous_commit=off (fsync stays on): shows what per-commit
    /// WAL flushes cost.
    #[arg(long)]
    synchronous_commit_off: bool,
    /// initdb --no-sync and fsync/synchronous_commit/full_page_writes off (test settings).
    #[arg(long)]
    non_durable: bool,
    /// A smoke run: 300 events per case and at most 10 posters.
    #[arg(long)]
    quick: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(BusBenchCli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("ferrobill-bus-bench: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: BusBenchCli) -> Result<()> {
    let started_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|since| since.as_secs())
        .unwrap_or_default();
    let run_directory = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("results")
        .join(format!("bus-{started_at}"));
    let (events, posters) = if cli.quick {
        (QUICK_EVENTS, cli.posters.min(10) as usize)
    } else {
        (cli.events, cli.posters as usize)
    };
    let plan = BenchPlan {
        events,
        posters,
        sleep: cli.sleep,
        cases: BenchPlan::cases_for(&cli.modes, &cli.threads, &cli.claimed, &cli.posting),
        case_time_limit: cli.case_time_limit,
    };
    let cluster_plan = ClusterPlan {
        data_dir: run_directory.join("postgres"),
        durable: !cli.non_durable,
        max_connections: (posters as u32).saturating_mul(2).saturating_add(50),
    };
    eprintln!(
        "ferrobill-bus-bench: starting PostgreSQL in {}",
        cluster_plan.data_dir.display()
    );
    let database = BenchDatabase::start(&cluster_plan).await?;
    let outcome = measure(&cli, &plan, &database, &run_directory).await;
    let stopped = database.stop().await;
    outcome?;
    stopped
}

async fn measure(
    cli: &BusBenchCli,
    plan: &BenchPlan,
    database: &BenchDatabase,
    run_directory: &Path,
) -> Result<()> {
    if cli.synchronous_commit_off {
        database.set_synchronous_commit(false).await?;
    }
    let settings = database.durability_settings().await?;
    eprintln!(
        "ferrobill-bus-bench: {} cases, {} events each from {} posters, sleep {} ms ({settings})",
        plan.cases.len(),
        plan.events,
        plan.posters,
        plan.sleep.as_millis()
    );
    let figures = bus_bench::run_plan(database, plan, |figures| {
        eprintln!(
            "ferrobill-bus-bench: {} {} nbThreads={} claimed={}: posted {:.0}/s, dispatched {:.0}/s, drained {:.2} s after the last post{}",
            figures.case.mode.property_value(),
            figures.case.posting.name(),
            figures.case.nb_threads,
            figures
                .case
                .claimed
                .map_or_else(|| "n/a".to_string(), |claimed| claimed.to_string()),
            figures.posted_per_second(),
            figures.dispatched_per_second(),
            figures.drain_after_last_post.as_secs_f64(),
            if figures.is_consistent() { "" } else { " (INCONSISTENT, see the table)" },
        );
    })
    .await?;
    let mut report = format!(
        "{} events per case, {} posters (one event per transaction), sleep {} ms, no-op \
         counting handler; PostgreSQL: {settings}\n\n",
        plan.events,
        plan.posters,
        plan.sleep.as_millis()
    );
    report += &bus_bench::markdown_table(&figures);
    println!("{report}");
    let report_path = run_directory.join("report.md");
    std::fs::write(&report_path, &report)
        .with_context(|| format!("cannot write {}", report_path.display()))?;
    eprintln!(
        "ferrobill-bus-bench: report saved to {}",
        report_path.display()
    );
    let inconsistent = figures.iter().filter(|f| !f.is_consistent()).count();
    if inconsistent > 0 {
        anyhow::bail!("{inconsistent} case(s) timed out or lost events; see the table");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_is_consistent() {
        BusBenchCli::command().debug_assert();
        let cli = BusBenchCli::try_parse_from([
            "ferrobill-bus-bench",
            "--modes",
            "STICKY_EVENTS,POLLING",
            "--threads",
            "1,30",
            "--posting",
            "concurrent,preloaded",
        ]);
        assert!(
            cli.is_ok_and(|cli| cli.modes == [BusMode::StickyEvents, BusMode::Polling]
                && cli.threads == [1, 30]
                && cli.events == 20_000
                && cli.sleep == Duration::from_millis(10))
        );
    }
}
