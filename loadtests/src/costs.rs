//! What one step cost a spawned server's PostgreSQL and the server itself, from just before to
//! just after the measured window: statements (`pg_stat_statements` calls of the server's
//! database, BEGIN/COMMIT/ROLLBACK counted apart as explicit transactions), transactions
//! (`pg_stat_database` commits and rollbacks of that database), PostgreSQL's CPU (the
//! postmaster and every backend, from /proc) and ferrobill's own CPU; per request, per
//! operation when one sampler makes at least 90 % of the requests, and the step's top
//! statements.
//!
//! The probe reads the statistics over one connection to the cluster's maintenance database
//! (`postgres`), where it also creates the `pg_stat_statements` view, so that its own
//! statements and transactions never count in the server's database; it reads them before
//! the CPU at the window's start and after it at the end, so that its own CPU falls outside.
//! It must never write to the server's database nor reset any statistics.

use std::collections::HashMap;

use anyhow::{Context, Result};
use serde::Serialize;
use tokio_postgres::NoTls;

use crate::cluster::{Cluster, MAINTENANCE_DATABASE, SERVER_DATABASE};
use crate::machine::CpuMark;
use crate::stats::Table;

/// The spawned server's embedded-PostgreSQL settings (`ferrobill.embedded.postgresSettings`)
/// that let the probe count statements; `track_io_timing` adds their I/O time.
pub const POSTGRES_SETTINGS: (&str, &str) = (
    "FERROBILL_EMBEDDED_POSTGRESSETTINGS",
    "shared_preload_libraries=pg_stat_statements,track_io_timing=on",
);
/// `environment` (a spawned server's) with the settings of `POSTGRES_SETTINGS`: added when it
/// does not name that variable, put before its own pairs when it does (PostgreSQL takes the
/// last value of a setting, so those win), left out when it sets the variable empty.
pub fn with_statement_statistics(mut environment: Vec<(String, String)>) -> Vec<(String, String)> {
    let (name, ours) = POSTGRES_SETTINGS;
    match environment.iter_mut().find(|(known, _)| known == name) {
        Some((_, value)) if !value.is_empty() => *value = format!("{ours},{value}"),
        Some(_) => {}
        None => environment.insert(0, (name.to_string(), ours.to_string())),
    }
    environment
}

/// A sampler making at least this share of a step's requests gets the costs per operation.
const DOMINANT_SHARE: f64 = 0.9;
const TOP_STATEMENTS: usize = 10;
/// Statement texts are cut here in the reports.
const QUERY_TEXT_LIMIT: usize = 160;

const STATEMENT_COUNTERS: &str = "select s.userid, s.queryid, s.query, s.calls, s.total_exec_time
     from pg_stat_statements s join pg_database d on d.oid = s.dbid
     where d.datname = $1";
const TRANSACTION_COUNTER: &str =
    "select xact_commit + xact_rollback from pg_stat_database where datname = $1";

/// The statistics of a spawned server's cluster over one connection kept for a whole
/// configuration: a connection per mark would add a backend's start and exit to the CPU.
struct Probe {
    client: tokio_postgres::Client,
    /// `pg_stat_statements` is there (the cluster was started with it).
    statements: bool,
}

impl Probe {
    async fn connect(cluster: &Cluster) -> Result<Probe> {
        let (client, connection) = cluster
            .pg_config(MAINTENANCE_DATABASE)
            .connect(NoTls)
            .await
            .with_context(|| format!("cannot connect to {}", cluster.socket_dir.display()))?;
        tokio::spawn(connection);
        let created = client
            .batch_execute("create extension if not exists pg_stat_statements")
            .await;
        if let Err(error) = &created {
            eprintln!(
                "ferrobill-load: no statement counts ({}); they need the cluster started with \
                 {}={}",
                postgres_message(error),
                POSTGRES_SETTINGS.0,
                POSTGRES_SETTINGS.1
            );
        }
        Ok(Probe {
            client,
            statements: created.is_ok(),
        })
    }

    async fn sql_mark(&self) -> SqlMark {
        let transactions = match self
            .client
            .query_one(TRANSACTION_COUNTER, &[&SERVER_DATABASE])
            .await
        {
            Ok(row) => row.try_get::<_, i64>(0).ok(),
            Err(error) => {
                eprintln!(
                    "ferrobill-load: cannot read pg_stat_database: {}",
                    postgres_message(&error)
                );
                None
            }
        };
        let statements = if self.statements {
            match self
                .client
                .query(STATEMENT_COUNTERS, &[&SERVER_DATABASE])
                .await
            {
                Ok(rows) => Some(
                    rows.iter()
                        .filter_map(|row| {
                            let key = (row.try_get(0).ok()?, row.try_get(1).ok()?);
                            let counter = StatementCounter {
                                query: row.try_get(2).ok()?,
                                calls: row.try_get(3).ok()?,
                                total_ms: row.try_get(4).ok()?,
                            };
                            Some((key, counter))
                        })
                        .collect(),
                ),
                Err(error) => {
                    eprintln!(
                        "ferrobill-load: cannot read pg_stat_statements: {}",
                        postgres_message(&error)
                    );
                    None
                }
            }
        } else {
            None
        };
        SqlMark {
            transactions,
            statements,
        }
    }
}

/// PostgreSQL's own message when it sent one: tokio-postgres only says "db error".
fn postgres_message(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db_error) => db_error.message().to_string(),
        None => error.to_string(),
    }
}

/// A statement's entry: its user and query id.
type StatementKey = (u32, Option<i64>);

#[derive(Debug, Clone)]
struct StatementCounter {
    query: String,
    calls: i64,
    total_ms: f64,
}

#[derive(Debug, Default)]
struct SqlMark {
    transactions: Option<i64>,
    statements: Option<HashMap<StatementKey, StatementCounter>>,
}

/// The counters at one end of a measured window.
#[derive(Debug, Default)]
pub struct WindowMark {
    pub cpu: Option<CpuMark>,
    sql: SqlMark,
}

/// Takes the marks at both ends of a step's measured window, for whichever of the server's
/// process and its cluster the suite knows.
pub struct WindowMarker {
    server_pid: Option<u32>,
    cluster: Option<Cluster>,
    probe: Option<Probe>,
}

impl WindowMarker {
    /// Connects to `cluster`, if any; without a connection the marks have CPU figures only.
    pub async fn new(server_pid: Option<u32>, cluster: Option<&Cluster>) -> WindowMarker {
        let probe = match cluster {
            Some(cluster) => match Probe::connect(cluster).await {
                Ok(probe) => Some(probe),
                Err(error) => {
                    eprintln!("ferrobill-load: no SQL costs: {error:#}");
                    None
                }
            },
            None => None,
        };
        WindowMarker {
            server_pid,
            cluster: cluster.cloned(),
            probe,
        }
    }

    /// Before the window: the statistics, then the CPU.
    pub async fn start(&self) -> WindowMark {
        let sql = self.sql_mark().await;
        WindowMark {
            cpu: self.cpu_mark(),
            sql,
        }
    }

    /// After the window: the CPU, then the statistics.
    pub async fn end(&self) -> WindowMark {
        let cpu = self.cpu_mark();
        WindowMark {
            cpu,
            sql: self.sql_mark().await,
        }
    }

    async fn sql_mark(&self) -> SqlMark {
        match &self.probe {
            Some(probe) => probe.sql_mark().await,
            None => SqlMark::default(),
        }
    }

    fn cpu_mark(&self) -> Option<CpuMark> {
        let postmaster = self.cluster.as_ref().and_then(Cluster::postmaster_pid);
        CpuMark::take(self.server_pid?, postmaster)
    }
}

/// A step's costs: what its window's requests cost in all, and which statements did it.
#[derive(Debug, Clone, Serialize)]
pub struct StepCosts {
    /// Requests answered within the measured window, every sampler, any outcome.
    pub requests: u64,
    /// The sampler with at least 90 % of them, if one has.
    pub operation: Option<Operation>,
    pub totals: CostTotals,
    /// The statements that took the most execution time, most first.
    pub top_statements: Vec<StatementCost>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Operation {
    pub sampler: String,
    pub count: u64,
}

/// Each `None` when its source could not be read.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct CostTotals {
    /// `pg_stat_statements` calls, transaction control left out.
    pub statements: Option<f64>,
    /// BEGIN … COMMIT or ROLLBACK blocks (their COMMIT and ROLLBACK calls).
    pub explicit_transactions: Option<f64>,
    /// `pg_stat_database` commits and rollbacks: explicit ones and single statements.
    pub transactions: Option<f64>,
    pub postgres_cpu_ms: Option<f64>,
    pub ferrobill_cpu_ms: Option<f64>,
}

impl CostTotals {
    fn per(&self, count: u64) -> CostTotals {
        let each = |total: Option<f64>| total.map(|total| total / count.max(1) as f64);
        CostTotals {
            statements: each(self.statements),
            explicit_transactions: each(self.explicit_transactions),
            transactions: each(self.transactions),
            postgres_cpu_ms: each(self.postgres_cpu_ms),
            ferrobill_cpu_ms: each(self.ferrobill_cpu_ms),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct StatementCost {
    pub query: String,
    pub calls: u64,
    pub total_ms: f64,
}

impl StepCosts {
    /// The costs between two marks of a window whose requests per sampler were
    /// `window_counts`; `None` without requests or without any figure.
    pub fn between(
        start: &WindowMark,
        end: &WindowMark,
        window_counts: &[(String, u64)],
    ) -> Option<StepCosts> {
        let requests: u64 = window_counts.iter().map(|(_, count)| count).sum();
        let operation = window_counts
            .iter()
            .find(|(_, count)| *count as f64 >= DOMINANT_SHARE * requests as f64)
            .map(|(sampler, count)| Operation {
                sampler: sampler.clone(),
                count: *count,
            });
        let statements = statement_differences(&start.sql, &end.sql);
        let cpu = start.cpu.zip(end.cpu);
        let totals = CostTotals {
            statements: statements.as_ref().map(|all| {
                all.iter()
                    .filter(|statement| transaction_control(&statement.query).is_none())
                    .map(|statement| statement.calls as f64)
                    .sum()
            }),
            explicit_transactions: statements.as_ref().map(|all| {
                all.iter()
                    .filter(|statement| transaction_control(&statement.query) == Some(End))
                    .map(|statement| statement.calls as f64)
                    .sum()
            }),
            transactions: start
                .sql
                .transactions
                .zip(end.sql.transactions)
                .map(|(start, end)| (end - start).max(0) as f64),
            postgres_cpu_ms: cpu.map(|(start, end)| (end.postgres - start.postgres) * 1000.0),
            ferrobill_cpu_ms: cpu.map(|(start, end)| (end.server - start.server) * 1000.0),
        };
        let measured = [
            totals.statements,
            totals.transactions,
            totals.postgres_cpu_ms,
            totals.ferrobill_cpu_ms,
        ];
        if requests == 0 || measured.iter().all(Option::is_none) {
            return None;
        }
        let mut top_statements = statements.unwrap_or_default();
        top_statements.sort_by(|a, b| b.total_ms.total_cmp(&a.total_ms));
        top_statements.truncate(TOP_STATEMENTS);
        Some(StepCosts {
            requests,
            operation,
            totals,
            top_statements,
        })
    }

    pub fn per_request(&self) -> CostTotals {
        self.totals.per(self.requests)
    }

    /// Everything the window cost divided by the dominant sampler's requests.
    pub fn per_operation(&self) -> Option<(&Operation, CostTotals)> {
        let operation = self.operation.as_ref()?;
        Some((operation, self.totals.per(operation.count)))
    }
}

/// Every statement's calls and time between two marks, those not called left out.
fn statement_differences(start: &SqlMark, end: &SqlMark) -> Option<Vec<StatementCost>> {
    let (before, after) = (start.statements.as_ref()?, end.statements.as_ref()?);
    Some(
        after
            .iter()
            .filter_map(|(key, counter)| {
                let (calls, total_ms) = match before.get(key) {
                    Some(earlier) => (
                        counter.calls - earlier.calls,
                        counter.total_ms - earlier.total_ms,
                    ),
                    None => (counter.calls, counter.total_ms),
                };
                (calls > 0).then(|| StatementCost {
                    query: one_line(&counter.query),
                    calls: calls as u64,
                    total_ms,
                })
            })
            .collect(),
    )
}

#[derive(Debug, PartialEq)]
enum TransactionControl {
    Begin,
    End,
}
use TransactionControl::{Begin, End};

/// BEGIN (or START TRANSACTION) opens an explicit transaction; COMMIT, END, ROLLBACK and
/// ABORT close one. ROLLBACK TO a savepoint does neither.
fn transaction_control(query: &str) -> Option<TransactionControl> {
    let first: Vec<String> = query
        .split_whitespace()
        .take(2)
        .map(|word| word.trim_end_matches(';').to_ascii_uppercase())
        .collect();
    match first.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["BEGIN", ..] | ["START", "TRANSACTION"] => Some(Begin),
        ["ROLLBACK", "TO"] => None,
        ["COMMIT" | "END" | "ROLLBACK" | "ABORT", ..] => Some(End),
        _ => None,
    }
}

/// The statement on one line, cut to `QUERY_TEXT_LIMIT` characters.
fn one_line(query: &str) -> String {
    let words: Vec<&str> = query.split_whitespace().collect();
    let line = words.join(" ");
    match line.char_indices().nth(QUERY_TEXT_LIMIT) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line,
    }
}

fn figure(value: Option<f64>, decimals: usize) -> String {
    value.map_or("-".into(), |value| format!("{value:.decimals$}"))
}

/// The cost columns of one row: statements, transactions (explicit), PostgreSQL and
/// ferrobill CPU.
fn cost_cells(costs: &CostTotals) -> [String; 5] {
    [
        figure(costs.statements, 1),
        figure(costs.transactions, 1),
        figure(costs.explicit_transactions, 1),
        figure(costs.postgres_cpu_ms, 3),
        figure(costs.ferrobill_cpu_ms, 3),
    ]
}

/// `21.3 statements, 10.1 transactions (3.3 explicit), PostgreSQL CPU 4.400 ms, ferrobill
/// CPU 1.350 ms`, leaving out what could not be measured.
fn describe(costs: &CostTotals) -> String {
    let mut parts = Vec::new();
    if let Some(statements) = costs.statements {
        parts.push(format!("{statements:.1} statements"));
    }
    match (costs.transactions, costs.explicit_transactions) {
        (Some(all), Some(explicit)) => {
            parts.push(format!("{all:.1} transactions ({explicit:.1} explicit)"))
        }
        (Some(all), None) => parts.push(format!("{all:.1} transactions")),
        (None, Some(explicit)) => parts.push(format!("{explicit:.1} explicit transactions")),
        (None, None) => {}
    }
    if let Some(cpu) = costs.postgres_cpu_ms {
        parts.push(format!("PostgreSQL CPU {cpu:.3} ms"));
    }
    if let Some(cpu) = costs.ferrobill_cpu_ms {
        parts.push(format!("ferrobill CPU {cpu:.3} ms"));
    }
    parts.join(", ")
}

/// A step's costs as `(what, value)` lines of both reports.
pub fn facts(costs: &StepCosts) -> Vec<(String, String)> {
    let mut facts = vec![(
        "SQL and CPU per request".to_string(),
        format!(
            "{} over the window's {} requests",
            describe(&costs.per_request()),
            costs.requests
        ),
    )];
    if let Some((operation, each)) = costs.per_operation() {
        facts.push((
            format!("SQL and CPU per {}", operation.sampler),
            format!(
                "{} ({} of the {} requests)",
                describe(&each),
                operation.count,
                costs.requests
            ),
        ));
    }
    facts
}

/// One row per step per request, and one per operation for steps dominated by one sampler.
pub fn summary_table(steps: &[(String, &StepCosts)]) -> Table {
    let header = [
        "step",
        "per",
        "count",
        "statements",
        "transactions",
        "explicit",
        "PostgreSQL CPU ms",
        "ferrobill CPU ms",
    ];
    let mut body = Vec::new();
    for (label, costs) in steps {
        let mut line = vec![label.clone(), "request".into(), costs.requests.to_string()];
        line.extend(cost_cells(&costs.per_request()));
        body.push(line);
        if let Some((operation, per_operation)) = costs.per_operation() {
            let share = operation.count as f64 * 100.0 / costs.requests.max(1) as f64;
            let mut line = vec![
                label.clone(),
                format!("{} ({share:.1} %)", operation.sampler),
                operation.count.to_string(),
            ];
            line.extend(cost_cells(&per_operation));
            body.push(line);
        }
    }
    Table::new(&header, body)
}

/// A step's top statements: calls per request, mean and total time.
pub fn statements_table(costs: &StepCosts) -> Table {
    let requests = costs.requests.max(1) as f64;
    let body = costs
        .top_statements
        .iter()
        .map(|statement| {
            vec![
                statement.query.clone(),
                format!("{:.2}", statement.calls as f64 / requests),
                format!("{:.3}", statement.total_ms / statement.calls.max(1) as f64),
                format!("{:.3}", statement.total_ms / requests),
            ]
        })
        .collect();
    Table::new(
        &["statement", "calls/request", "mean ms", "ms/request"],
        body,
    )
}

/// What the figures count, for both reports.
pub const EXPLANATION: &str = "Per request: the step's whole cost from just before to just \
    after its measured window, divided by the requests answered in it (every sampler, any \
    outcome; setup requests of the warm-up are not in it). Per operation: the same cost divided \
    by the requests of the sampler that made at least 90 % of them, the others' share included. \
    Statements are pg_stat_statements calls in the server's database, BEGIN/COMMIT/ROLLBACK \
    left out; explicit transactions are the COMMIT and ROLLBACK calls; transactions are \
    pg_stat_database's commits and rollbacks, explicit and single-statement, which a backend \
    publishes at most once a second (an idle one 10 s after its last), so each edge of the \
    window blurs by up to a second of traffic: with a warm-up both edges blur alike, without \
    one the figure is low. PostgreSQL CPU is the postmaster's and every backend's, exited ones \
    included; ferrobill CPU the server process's. Background work (bus dispatch, the suite's \
    healthcheck and /dashboard/data polls) is included.";

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(calls: &[(i64, &str, i64, f64)], transactions: i64, cpu: (f64, f64)) -> WindowMark {
        WindowMark {
            cpu: Some(CpuMark {
                server: cpu.0,
                postgres: cpu.1,
                at: std::time::Instant::now(),
            }),
            sql: SqlMark {
                transactions: Some(transactions),
                statements: Some(
                    calls
                        .iter()
                        .map(|&(id, query, calls, total_ms)| {
                            let counter = StatementCounter {
                                query: query.to_string(),
                                calls,
                                total_ms,
                            };
                            ((10, Some(id)), counter)
                        })
                        .collect(),
                ),
            },
        }
    }

    #[test]
    fn costs_are_differences_per_request_and_per_operation() {
        let start = mark(
            &[(1, "BEGIN", 5, 0.1), (2, "insert into x", 5, 1.0)],
            100,
            (1.0, 2.0),
        );
        let end = mark(
            &[
                (1, "BEGIN", 105, 0.2),
                (2, "insert  into\n x", 105, 21.0),
                (3, "COMMIT", 100, 5.0),
                (4, "select 1", 100, 2.0),
            ],
            300,
            (1.1, 2.4),
        );
        let counts = [
            ("Purchase Payment".to_string(), 95),
            ("Create Account".into(), 5),
        ];
        let costs = StepCosts::between(&start, &end, &counts).expect("costs");
        assert_eq!(costs.requests, 100);
        let each = costs.per_request();
        assert_eq!(each.statements, Some(2.0));
        assert_eq!(each.explicit_transactions, Some(1.0));
        assert_eq!(each.transactions, Some(2.0));
        assert!((each.postgres_cpu_ms.unwrap_or_default() - 4.0).abs() < 1e-9);
        assert!((each.ferrobill_cpu_ms.unwrap_or_default() - 1.0).abs() < 1e-9);
        let (operation, per_operation) = costs.per_operation().expect("one sampler dominates");
        assert_eq!(operation.sampler, "Purchase Payment");
        assert!((per_operation.statements.unwrap_or_default() - 200.0 / 95.0).abs() < 1e-9);
        assert_eq!(costs.top_statements[0].query, "insert into x");
        assert_eq!(costs.top_statements[0].total_ms, 20.0);
        let table = summary_table(&[("step".into(), &costs)]).to_markdown();
        assert!(table.contains("Purchase Payment (95.0 %)"), "{table}");
        let counts = [("A".to_string(), 50), ("B".into(), 50)];
        let even = StepCosts::between(&start, &end, &counts).expect("costs");
        assert!(even.per_operation().is_none());
        assert!(StepCosts::between(&start, &end, &[]).is_none());
    }

    #[test]
    fn the_suites_postgres_settings_come_first() {
        let (name, ours) = POSTGRES_SETTINGS;
        let pair = |value: &str| (name.to_string(), value.to_string());
        let other = ("X".to_string(), "1".to_string());
        assert_eq!(
            with_statement_statistics(vec![other.clone()]),
            [pair(ours), other.clone()]
        );
        let given = with_statement_statistics(vec![other, pair("commit_delay=100")]);
        assert_eq!(given[1], pair(&format!("{ours},commit_delay=100")));
        assert_eq!(with_statement_statistics(vec![pair("")]), [pair("")]);
    }

    #[test]
    fn transaction_control_is_told_apart() {
        assert_eq!(transaction_control("BEGIN"), Some(Begin));
        assert_eq!(
            transaction_control("begin isolation level serializable"),
            Some(Begin)
        );
        assert_eq!(transaction_control("START TRANSACTION"), Some(Begin));
        assert_eq!(transaction_control("COMMIT;"), Some(End));
        assert_eq!(transaction_control("rollback"), Some(End));
        assert_eq!(transaction_control("ROLLBACK TO SAVEPOINT a"), None);
        assert_eq!(transaction_control("select 1"), None);
        assert_eq!(transaction_control("update commits set x = 1"), None);
    }

    #[test]
    fn statements_fit_on_one_line() {
        assert_eq!(one_line("select\n  1,\t2"), "select 1, 2");
        let long = "x ".repeat(200);
        assert_eq!(one_line(&long).chars().count(), QUERY_TEXT_LIMIT + 1);
    }
}
