//! The persistent-bus benchmark behind `ferrobill-bus-bench`: ferrobill's [`Bus`] driven
//! through the library (no HTTP) on a private embedded PostgreSQL, one case per queue mode,
//! `nbThreads` and `claimed`, each on emptied bus tables.
//!
//! A case posts `events` events from `posters` concurrent tasks, one event per transaction
//! (as a business change would), to a bus whose only subscriber counts calls. It reports the
//! posting rate (until the last commit returned) and the dispatch rate (from the first post
//! until the handler has run `events` times and the live table is empty, i.e. everything moved
//! to history). In the "preloaded" posting the events are inserted by a bus that is `off`
//! under the same node name and only then a dispatching bus starts, so the dispatch rate is
//! measured alone. Every case is bounded by `case_time_limit` and reports a timeout instead
//! of hanging.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use ferrobill::bus::nodes::NodeMonitor;
use ferrobill::bus::{Bus, BusEntry, BusEvent, HandlerError, SearchKeys};
use ferrobill::config::Config;
use ferrobill::db::embedded::{EmbeddedCluster, EmbeddedOptions};
use ferrobill::db::pool::DbPool;
use ferrobill::db::work::Db;
use serde::Serialize;

/// The database every case runs in; the bus tables are truncated between cases.
pub const DATABASE_NAME: &str = "ferrobill_bus_bench";
/// Both buses of a case (posting and dispatching) use this node name, so a STICKY_* bus
/// dispatches what the posting bus inserted.
pub const NODE_NAME: &str = "bus-bench-node";
/// How long the bus gets to stop after a case.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the drain watcher looks at the handler count while events are still arriving.
const HANDLED_POLL: Duration = Duration::from_millis(2);
/// How often it counts the live table once the handler count is complete.
const LIVE_TABLE_POLL: Duration = Duration::from_millis(10);

/// Kill Bill's three persistent queue modes (`org.killbill.persistent.bus.main.queue.mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BusMode {
    #[value(name = "POLLING", alias = "polling")]
    Polling,
    #[value(name = "STICKY_POLLING", alias = "sticky_polling")]
    StickyPolling,
    #[value(name = "STICKY_EVENTS", alias = "sticky_events")]
    StickyEvents,
}

impl BusMode {
    pub const ALL: [BusMode; 3] = [
        BusMode::Polling,
        BusMode::StickyPolling,
        BusMode::StickyEvents,
    ];

    /// The property value, as Kill Bill spells it.
    pub fn property_value(self) -> &'static str {
        match self {
            BusMode::Polling => "POLLING",
            BusMode::StickyPolling => "STICKY_POLLING",
            BusMode::StickyEvents => "STICKY_EVENTS",
        }
    }

    /// Whether `claimed` matters: STICKY_EVENTS reads ids from memory, `inflight.max` at a time.
    pub fn claims_rows(self) -> bool {
        self != BusMode::StickyEvents
    }
}

/// How the events reach the table before being dispatched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Posting {
    /// Posted while the bus dispatches: the production pattern.
    Concurrent,
    /// Posted with the bus off, then a dispatching bus starts: dispatch measured alone.
    Preloaded,
}

impl Posting {
    pub fn name(self) -> &'static str {
        match self {
            Posting::Concurrent => "concurrent",
            Posting::Preloaded => "preloaded",
        }
    }
}

/// One bus configuration to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BusCase {
    pub mode: BusMode,
    pub nb_threads: u32,
    /// `None` for STICKY_EVENTS, where it is not used.
    pub claimed: Option<u32>,
    pub posting: Posting,
}

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchPlan {
    pub events: u64,
    pub posters: usize,
    /// The bus's `sleep`: how long a polling fetcher waits between claims when no NOTIFY
    /// wakes it.
    pub sleep: Duration,
    pub cases: Vec<BusCase>,
    /// A case still running after this is stopped and reported as timed out.
    pub case_time_limit: Duration,
}

impl BenchPlan {
    /// Every combination, in order: modes, then thread counts, then claimed values (polling
    /// modes only), then postings.
    pub fn cases_for(
        modes: &[BusMode],
        threads: &[u32],
        claimed: &[u32],
        postings: &[Posting],
    ) -> Vec<BusCase> {
        let mut cases = Vec::new();
        for &mode in modes {
            for &nb_threads in threads {
                let claimed_values: Vec<Option<u32>> = if mode.claims_rows() {
                    claimed.iter().copied().map(Some).collect()
                } else {
                    vec![None]
                };
                for claimed in claimed_values {
                    for &posting in postings {
                        cases.push(BusCase {
                            mode,
                            nb_threads,
                            claimed,
                            posting,
                        });
                    }
                }
            }
        }
        cases
    }
}

/// The measurements of one case.
#[derive(Debug, Clone)]
pub struct CaseFigures {
    pub case: BusCase,
    pub events: u64,
    /// Posting transactions that committed.
    pub posted: u64,
    /// Handler calls (at least once delivery: could exceed `posted` after a retry).
    pub handled: u64,
    /// PROCESSED rows in history at the end.
    pub in_history: i64,
    /// Rows left in the live table at the end.
    pub left_live: i64,
    /// Transactions that moved entries to history: the distinct inserting transactions
    /// (`xmin`) of the history rows. (Counting the `now()` stamps instead undercounts when two
    /// completers' transactions start in the same microsecond.)
    pub completion_transactions: i64,
    /// From the first post to the last commit.
    pub posting_time: Duration,
    /// From the first post (preloaded: from the bus start) until drained.
    pub dispatch_time: Duration,
    /// From the last commit until drained (preloaded: the whole dispatch).
    pub drain_after_last_post: Duration,
    /// Events handled by the time the last post committed (backlog = posted - this).
    pub handled_at_last_post: u64,
    pub timed_out: bool,
}

impl CaseFigures {
    pub fn posted_per_second(&self) -> f64 {
        rate(self.posted, self.posting_time)
    }

    pub fn dispatched_per_second(&self) -> f64 {
        rate(self.in_history.max(0) as u64, self.dispatch_time)
    }

    /// Entries moved to history per completion transaction (at most 15 in ferrobill).
    pub fn entries_per_completion(&self) -> f64 {
        if self.completion_transactions <= 0 {
            0.0
        } else {
            self.in_history as f64 / self.completion_transactions as f64
        }
    }

    /// Every posted event was handled and moved to history, nothing is left behind.
    pub fn is_consistent(&self) -> bool {
        !self.timed_out
            && self.posted == self.events
            && self.handled >= self.posted
            && self.in_history == self.posted as i64
            && self.left_live == 0
    }
}

fn rate(count: u64, elapsed: Duration) -> f64 {
    if elapsed.is_zero() {
        0.0
    } else {
        count as f64 / elapsed.as_secs_f64()
    }
}

/// The event posted: small, like most of Kill Bill's bus events.
#[derive(Debug, Serialize)]
struct BenchEvent {
    n: u64,
}

impl BusEvent for BenchEvent {
    const CLASS_NAME: &'static str = "org.ferrobill.loadtests.BenchEvent";

    fn search_keys(&self) -> SearchKeys {
        SearchKeys {
            account_record_id: Some(self.n as i64),
            tenant_record_id: 1,
        }
    }
}

/// The private cluster and the migrated database every case runs in.
pub struct BenchDatabase {
    cluster: EmbeddedCluster,
    target: tokio_postgres::Config,
    /// For truncating, counting and settings; never used by a bus.
    admin: Db,
}

/// How the private cluster is started.
#[derive(Debug, Clone)]
pub struct ClusterPlan {
    pub data_dir: PathBuf,
    /// Production settings (fsync and synchronous commit on) when true.
    pub durable: bool,
    pub max_connections: u32,
}

impl BenchDatabase {
    /// Starts (initialising if needed) the cluster in `plan.data_dir`, creates and migrates
    /// the benchmark database.
    pub async fn start(plan: &ClusterPlan) -> Result<BenchDatabase> {
        let cluster = EmbeddedCluster::start(EmbeddedOptions {
            data_dir: plan.data_dir.clone(),
            port: 5432,
            max_connections: plan.max_connections,
            durable: plan.durable,
            settings: Vec::new(),
        })
        .await
        .with_context(|| {
            format!(
                "cannot start the embedded PostgreSQL in {}",
                plan.data_dir.display()
            )
        })?;
        let prepared = prepare_database(&cluster).await;
        match prepared {
            Ok((target, admin)) => Ok(BenchDatabase {
                cluster,
                target,
                admin,
            }),
            Err(error) => {
                if let Err(stop_error) = cluster.stop().await {
                    eprintln!("ferrobill-bus-bench: stopping PostgreSQL failed: {stop_error}");
                }
                Err(error)
            }
        }
    }

    /// Sets `synchronous_commit` for the whole cluster (`ALTER SYSTEM`, then a reload), so
    /// every later connection, the bus's included, uses it.
    pub async fn set_synchronous_commit(&self, on: bool) -> Result<()> {
        let work = self.admin.read().await?;
        let client = work.client();
        let value = if on { "on" } else { "off" };
        client
            .batch_execute(&format!("alter system set synchronous_commit = {value}"))
            .await?;
        client.batch_execute("select pg_reload_conf()").await?;
        // The reload is only a signal: wait until a new session sees the value, so no case
        // (and no settings line in the report) runs with the old one.
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            let (fresh, connection) = self
                .target
                .connect(tokio_postgres::NoTls)
                .await
                .context("cannot connect to check synchronous_commit")?;
            let driver = tokio::spawn(connection);
            let current: String = fresh
                .query_one("select current_setting('synchronous_commit')", &[])
                .await?
                .get(0);
            drop(fresh);
            let _ = driver.await;
            if current == value {
                return Ok(());
            }
            if Instant::now() >= until {
                bail!("synchronous_commit is still {current} 10 s after the reload");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The server's settings that matter for commit cost, e.g. `fsync=on, synchronous_commit=on`.
    /// Read on a new session, so a value just changed by a reload is shown as the buses see it.
    pub async fn durability_settings(&self) -> Result<String> {
        let (client, connection) = self
            .target
            .connect(tokio_postgres::NoTls)
            .await
            .context("cannot connect to read the settings")?;
        let driver = tokio::spawn(connection);
        let mut settings = Vec::new();
        for name in [
            "fsync",
            "synchronous_commit",
            "wal_sync_method",
            "server_version",
        ] {
            let row = client
                .query_one("select current_setting($1)", &[&name])
                .await?;
            settings.push(format!("{name}={}", row.get::<_, String>(0)));
        }
        drop(client);
        let _ = driver.await;
        Ok(settings.join(", "))
    }

    /// Stops PostgreSQL and waits for it.
    pub async fn stop(self) -> Result<()> {
        drop(self.admin);
        self.cluster
            .stop()
            .await
            .context("cannot stop the embedded PostgreSQL")
    }

    async fn truncate_bus_tables(&self) -> Result<()> {
        let work = self.admin.read().await?;
        let client = work.client();
        client
            .batch_execute("truncate bus_events, bus_events_history, bus_nodes restart identity")
            .await
            .context("cannot empty the bus tables")?;
        // VACUUM refuses to run in the implicit transaction of a multi-statement batch.
        client
            .batch_execute("vacuum analyze bus_events, bus_events_history")
            .await
            .context("cannot vacuum the bus tables")?;
        Ok(())
    }

    async fn count(&self, sql: &str) -> Result<i64> {
        let work = self.admin.read().await?;
        let client = work.client();
        let row = client.query_one(sql, &[]).await?;
        Ok(row.get(0))
    }
}

async fn prepare_database(cluster: &EmbeddedCluster) -> Result<(tokio_postgres::Config, Db)> {
    cluster
        .ensure_database(DATABASE_NAME)
        .await
        .context("cannot create the benchmark database")?;
    let target = cluster.pg_config(DATABASE_NAME);
    ferrobill::db::migrate::run(&target)
        .await
        .context("cannot migrate the benchmark database")?;
    let config = bus_config(&[("org.killbill.dao.maxActive", "2")])?;
    let admin = Db::new(DbPool::new("main", &config.main_pool, target.clone())?);
    Ok((target, admin))
}

fn bus_config(pairs: &[(&str, &str)]) -> Result<Config> {
    Config::from_properties(pairs).map_err(|error| anyhow::anyhow!("{error}"))
}

/// The configuration of one case's buses and pools; `off` for the preloading bus.
fn case_config(case: &BusCase, plan: &BenchPlan, off: bool) -> Result<Config> {
    let prefix = "org.killbill.persistent.bus.main.";
    let max_active = (plan.posters + 10).to_string();
    let nb_threads = case.nb_threads.to_string();
    let sleep_ms = plan.sleep.as_millis().to_string();
    let claimed = case.claimed.unwrap_or(10).to_string();
    let owned: Vec<(String, String)> = vec![
        ("org.killbill.dao.maxActive".into(), max_active),
        (
            format!("{prefix}queue.mode"),
            case.mode.property_value().into(),
        ),
        (format!("{prefix}nbThreads"), nb_threads),
        (format!("{prefix}sleep"), sleep_ms),
        (format!("{prefix}claimed"), claimed),
        (format!("{prefix}off"), off.to_string()),
    ];
    let pairs: Vec<(&str, &str)> = owned
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    bus_config(&pairs)
}

/// Runs every case of `plan` in order, calling `report` after each.
pub async fn run_plan(
    database: &BenchDatabase,
    plan: &BenchPlan,
    mut report: impl FnMut(&CaseFigures),
) -> Result<Vec<CaseFigures>> {
    let mut all = Vec::new();
    for case in &plan.cases {
        let figures = run_case(database, plan, case).await?;
        report(&figures);
        all.push(figures);
    }
    Ok(all)
}

/// One case on emptied tables: a counting subscriber, the posters, the drain watcher.
pub async fn run_case(
    database: &BenchDatabase,
    plan: &BenchPlan,
    case: &BusCase,
) -> Result<CaseFigures> {
    database.truncate_bus_tables().await?;
    let config = case_config(case, plan, false)?;
    let bus_pool = Db::new(DbPool::new(
        "main",
        &config.main_pool,
        database.target.clone(),
    )?);
    let poster_pool = Db::new(DbPool::new(
        "main",
        &config.main_pool,
        database.target.clone(),
    )?);
    let handled = Arc::new(AtomicU64::new(0));
    // One node: nothing reaps during a case, so its monitor need not beat.
    let node = NodeMonitor::new(
        bus_pool.clone(),
        NODE_NAME,
        config.cluster.heartbeat,
        config.cluster.dead_after,
    );
    let bus = Bus::new(bus_pool, config.main_bus.clone(), &node);
    let counter = handled.clone();
    bus.subscribe(BenchEvent::CLASS_NAME, move |_entry: Arc<BusEntry>| {
        counter.fetch_add(1, Ordering::Relaxed);
        async { Ok::<(), HandlerError>(()) }
    });
    let deadline = Instant::now() + plan.case_time_limit;

    let outcome = match case.posting {
        Posting::Concurrent => {
            bus.start().await?;
            let first_post = Instant::now();
            let posting = post_events(&poster_pool, &bus, plan, deadline).await;
            let last_post = Instant::now();
            let handled_at_last_post = handled.load(Ordering::Relaxed);
            let posted = posting?;
            let drained = wait_until_drained(database, &handled, posted, deadline).await?;
            Measured {
                posted,
                posting_time: last_post - first_post,
                dispatch_time: drained.at.duration_since(first_post),
                drain_after_last_post: drained.at.duration_since(last_post),
                handled_at_last_post,
                timed_out: drained.timed_out || posted < plan.events,
            }
        }
        Posting::Preloaded => {
            let off_config = case_config(case, plan, true)?;
            let preloading_bus = Bus::new(poster_pool.clone(), off_config.main_bus, &node);
            let first_post = Instant::now();
            let posted = post_events(&poster_pool, &preloading_bus, plan, deadline).await?;
            let last_post = Instant::now();
            let started = Instant::now();
            bus.start().await?;
            let drained = wait_until_drained(database, &handled, posted, deadline).await?;
            Measured {
                posted,
                posting_time: last_post - first_post,
                dispatch_time: drained.at.duration_since(started),
                drain_after_last_post: drained.at.duration_since(started),
                handled_at_last_post: 0,
                timed_out: drained.timed_out || posted < plan.events,
            }
        }
    };
    bus.shutdown(SHUTDOWN_TIMEOUT).await;
    drop(poster_pool);
    let in_history = database
        .count("select count(*) from bus_events_history where processing_state = 'PROCESSED'")
        .await?;
    let left_live = database.count("select count(*) from bus_events").await?;
    let completion_transactions = database
        .count("select count(distinct xmin::text) from bus_events_history")
        .await?;
    Ok(CaseFigures {
        case: *case,
        events: plan.events,
        posted: outcome.posted,
        handled: handled.load(Ordering::Relaxed),
        in_history,
        left_live,
        completion_transactions,
        posting_time: outcome.posting_time,
        dispatch_time: outcome.dispatch_time,
        drain_after_last_post: outcome.drain_after_last_post,
        handled_at_last_post: outcome.handled_at_last_post,
        timed_out: outcome.timed_out,
    })
}

struct Measured {
    posted: u64,
    posting_time: Duration,
    dispatch_time: Duration,
    drain_after_last_post: Duration,
    handled_at_last_post: u64,
    timed_out: bool,
}

/// `plan.posters` tasks post `plan.events` events between them, one per transaction, until
/// done or `deadline`; returns how many committed.
async fn post_events(pool: &Db, bus: &Bus, plan: &BenchPlan, deadline: Instant) -> Result<u64> {
    let next_event = Arc::new(AtomicU64::new(0));
    let committed = Arc::new(AtomicU64::new(0));
    let mut posters = tokio::task::JoinSet::new();
    for _ in 0..plan.posters.max(1) {
        let pool = pool.clone();
        let bus = bus.clone();
        let next_event = next_event.clone();
        let committed = committed.clone();
        let events = plan.events;
        posters.spawn(async move {
            loop {
                let n = next_event.fetch_add(1, Ordering::Relaxed);
                if n >= events || Instant::now() >= deadline {
                    return Ok::<(), anyhow::Error>(());
                }
                let work = pool.begin().await?;
                let mut posted = bus.posted();
                posted.post(&work, &BenchEvent { n }, None).await?;
                work.commit().await?;
                drop(work);
                posted.committed().await;
                committed.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    while let Some(joined) = posters.join_next().await {
        match joined {
            Ok(Ok(())) => {}
            Ok(Err(error)) => return Err(error.context("posting an event failed")),
            Err(join_error) => bail!("a posting task failed: {join_error}"),
        }
    }
    Ok(committed.load(Ordering::Relaxed))
}

struct Drained {
    at: Instant,
    timed_out: bool,
}

/// Waits until the handler has run `expected` times and the live table is empty, or until
/// `deadline`.
async fn wait_until_drained(
    database: &BenchDatabase,
    handled: &AtomicU64,
    expected: u64,
    deadline: Instant,
) -> Result<Drained> {
    loop {
        if Instant::now() >= deadline {
            return Ok(Drained {
                at: Instant::now(),
                timed_out: true,
            });
        }
        if handled.load(Ordering::Relaxed) < expected {
            tokio::time::sleep(HANDLED_POLL).await;
            continue;
        }
        if database.count("select count(*) from bus_events").await? == 0 {
            return Ok(Drained {
                at: Instant::now(),
                timed_out: false,
            });
        }
        tokio::time::sleep(LIVE_TABLE_POLL).await;
    }
}

/// The results as a Markdown table.
pub fn markdown_table(figures: &[CaseFigures]) -> String {
    let mut table = String::from(
        "| mode | posting | nbThreads | claimed | posted/s | dispatched/s | drain time after last post | backlog at last post | moved per completion txn | check |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    for row in figures {
        let claimed = match row.case.claimed {
            Some(claimed) => claimed.to_string(),
            None => "n/a".to_string(),
        };
        let backlog = match row.case.posting {
            Posting::Concurrent => row
                .posted
                .saturating_sub(row.handled_at_last_post)
                .to_string(),
            Posting::Preloaded => row.posted.to_string(),
        };
        let check = if row.is_consistent() {
            "ok".to_string()
        } else if row.timed_out {
            format!(
                "TIMED OUT: {} posted, {} handled, {} in history",
                row.posted, row.handled, row.in_history
            )
        } else {
            format!(
                "MISMATCH: {} posted, {} handled, {} in history, {} left",
                row.posted, row.handled, row.in_history, row.left_live
            )
        };
        let _ = writeln!(
            table,
            "| {} | {} | {} | {} | {:.0} | {:.0} | {:.2} s | {} | {:.1} | {} |",
            row.case.mode.property_value(),
            row.case.posting.name(),
            row.case.nb_threads,
            claimed,
            row.posted_per_second(),
            row.dispatched_per_second(),
            row.drain_after_last_post.as_secs_f64(),
            backlog,
            row.entries_per_completion(),
            check,
        );
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claimed_multiplies_polling_cases_only() {
        let cases =
            BenchPlan::cases_for(&BusMode::ALL, &[1, 10], &[10, 100], &[Posting::Concurrent]);
        assert_eq!(cases.len(), 2 * 2 * 2 + 2);
        assert!(cases
            .iter()
            .filter(|case| case.mode == BusMode::StickyEvents)
            .all(|case| case.claimed.is_none()));
    }

    #[test]
    fn rates_divide_by_elapsed_time() {
        assert_eq!(rate(1000, Duration::from_millis(500)), 2000.0);
        assert_eq!(rate(1000, Duration::ZERO), 0.0);
    }
}
