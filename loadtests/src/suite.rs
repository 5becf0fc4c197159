//! One load-suite run from its plan to its files: for each server configuration, snapshots of
//! `/1.0/threads` and `/1.0/metrics` at setup, one run per concurrency step with its SQL and
//! CPU costs (marks at both ends of the measured window), the optional SQL limit, snapshots at
//! teardown; then `report.md`, `report.html`, `summary.json` and `chart.svg` in the run
//! directory. Starting and stopping a spawned server is the caller's job (`main`, or the smoke
//! tests with an in-process server), so this module never owns a process.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use browser::Chromium;
use serde::Serialize;

use crate::callback::CallbackReceiver;
use crate::client::{KillBill, TenantCredentials};
use crate::cluster::Cluster;
use crate::costs::{self, StepCosts, WindowMarker};
use crate::machine::{self, Machine, ServerFigures};
use crate::runner::{self, LoadModel, RunPlan, TimelinePoint};
use crate::scenario::{Scenario, METRICS, THREADS};
use crate::server_samples;
use crate::sql_limit::{self, SqlLimit};
use crate::stats::{self, Recorder, Row, Table};
use ferrobill::dashboard::sample::Sample;

/// Observability snapshots must never hold a run up: a server too busy to answer in this
/// long is recorded as such.
const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct SuitePlan {
    pub scenario: Scenario,
    /// Concurrency of each step, run one after the other on the same server.
    pub steps: Vec<u32>,
    pub warmup: Duration,
    pub duration: Duration,
    pub max_requests: Option<u64>,
    /// Open loop at this many iterations per second; closed loop without it.
    pub rate: Option<f64>,
    pub profiling: Option<String>,
    /// Accounts the users share (the `purchases` scenario).
    pub accounts: u32,
    pub callback_latency: Option<Duration>,
    pub with_sql_limit: bool,
    /// Keep the target's `/dashboard` open in a headless Chromium during the steps.
    pub watch_dashboard: bool,
    pub user: String,
    pub password: String,
    /// An existing tenant; without it each configuration creates its own.
    pub tenant: Option<TenantCredentials>,
}

impl SuitePlan {
    pub fn model(&self) -> LoadModel {
        match self.rate {
            Some(rate) => LoadModel::Open { rate },
            None => LoadModel::Closed,
        }
    }
}

/// The server one configuration runs against.
#[derive(Debug, Clone)]
pub struct Target {
    pub label: String,
    pub base_url: String,
    /// The environment it was started with (reported; empty for `--url`).
    pub server_env: Vec<(String, String)>,
    /// A spawned server's process, for its RSS and CPU.
    pub pid: Option<u32>,
    /// A spawned server's embedded PostgreSQL, for the SQL costs and `--with-sql-limit`.
    pub database: Option<Cluster>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ErrorLine {
    pub class: String,
    pub message: String,
    pub count: u64,
}

/// The figures of one step (one concurrency on one configuration).
#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    pub users: u32,
    pub measured_seconds: f64,
    /// Per sampler, then TOTAL (always last).
    pub rows: Vec<Row>,
    pub errors_by_class: BTreeMap<String, u64>,
    pub errors_by_message: Vec<ErrorLine>,
    pub health_polls: BTreeMap<String, u64>,
    pub last_unhealthy: Option<String>,
    pub dropped: u64,
    /// Requests the generator sent in this step, warm-up included.
    pub requests_sent: u64,
    pub abandoned_users: usize,
    pub outcomes: Outcomes,
    pub server: Option<ServerFigures>,
    /// Statements, transactions and CPU of the measured window (spawned servers).
    pub costs: Option<StepCosts>,
    /// One per pgbench script replayed after the step (`--with-sql-limit`).
    pub sql_limits: Vec<SqlLimit>,
    pub load_average_before: Option<f64>,
    pub load_average_after: Option<f64>,
    pub timeline: Vec<TimelinePoint>,
    /// When the measured window began, in Unix milliseconds.
    pub measured_from_unix_ms: i64,
    /// The server's own samples over the measured window (ferrobill's `/dashboard/data`).
    pub server_samples: Vec<Sample>,
}

impl StepReport {
    pub fn total(&self) -> Option<&Row> {
        self.rows.last()
    }
}

/// Seed 003's breakdown: how each measured sample ended.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Outcomes {
    pub ok: u64,
    pub rejected_429_503: u64,
    pub timeouts: u64,
    pub connection_resets: u64,
    pub other_errors: u64,
}

impl Outcomes {
    fn of(total: &Row, errors_by_class: &BTreeMap<String, u64>) -> Outcomes {
        let count = |class: &str| errors_by_class.get(class).copied().unwrap_or(0);
        let rejected = count("HTTP 429") + count("HTTP 503");
        let timeouts = count("timeout");
        let resets = count("connection reset");
        Outcomes {
            ok: total.count - total.errors,
            rejected_429_503: rejected,
            timeouts,
            connection_resets: resets,
            other_errors: total.errors - rejected - timeouts - resets,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ConfigurationReport {
    pub label: String,
    pub server_env: Vec<(String, String)>,
    pub steps: Vec<StepReport>,
    /// Bus and notification-queue metrics of `/1.0/metrics` at teardown.
    pub bus_teardown: BTreeMap<String, serde_json::Value>,
    pub callbacks_received: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub scenario: Scenario,
    pub started_at_utc: String,
    pub command: String,
    pub model: LoadModel,
    pub warmup_seconds: f64,
    pub duration_seconds: f64,
    pub profiling: Option<String>,
    pub callback_latency_ms: Option<u128>,
    /// A headless browser kept `/dashboard` open during the run (`--watch-dashboard`).
    pub dashboard_watched: bool,
    pub machine: Machine,
    pub configurations: Vec<ConfigurationReport>,
}

impl Summary {
    /// Every step of the run, labelled for charts and tables: its configuration when there
    /// are several (a `--sweep-env` value: `KILLBILL_DAO_MAXACTIVE=8`), and its concurrency
    /// when a configuration has several.
    pub fn labelled_steps(&self) -> Vec<(String, &StepReport)> {
        let several_configurations = self.configurations.len() > 1;
        let several_concurrencies = self
            .configurations
            .iter()
            .any(|configuration| configuration.steps.len() > 1);
        self.configurations
            .iter()
            .flat_map(|configuration| {
                configuration.steps.iter().map(move |step| {
                    let users = format!("{} users", step.users);
                    let label = match (several_configurations, several_concurrencies) {
                        (true, true) => format!("{}, {users}", configuration.label),
                        (true, false) => configuration.label.clone(),
                        (false, _) => users,
                    };
                    (label, step)
                })
            })
            .collect()
    }

    /// The labelled steps that have SQL and CPU costs.
    pub fn step_costs(&self) -> Vec<(String, &StepCosts)> {
        self.labelled_steps()
            .into_iter()
            .filter_map(|(label, step)| Some((label, step.costs.as_ref()?)))
            .collect()
    }
}

/// Runs every step of `plan` against `target` and saves its snapshots under `run_directory`.
pub async fn run_configuration(
    plan: &SuitePlan,
    target: &Target,
    run_directory: &Path,
) -> Result<ConfigurationReport> {
    let client = KillBill::new(&target.base_url, &plan.user, &plan.password)?
        .with_profiling(plan.profiling.clone());
    let run_id = format!("{:016x}", random_u64());
    let tenant = match &plan.tenant {
        Some(tenant) => tenant.clone(),
        None => {
            let api_key = format!("load-{run_id}");
            let tenant = TenantCredentials {
                api_secret: format!("{api_key}-secret"),
                api_key,
            };
            let id = client.setup_tenant(&tenant).await?;
            eprintln!("ferrobill-load: created tenant {} ({id})", tenant.api_key);
            tenant
        }
    };
    let receiver = match plan.callback_latency {
        Some(latency) => {
            let receiver = CallbackReceiver::start(latency).await?;
            let answer = client
                .register_callback(&tenant, receiver.url())
                .send()
                .await
                .context("cannot register the push-notification callback")?;
            anyhow::ensure!(
                answer.status().is_success(),
                "registering the callback answered {}",
                answer.status()
            );
            Some(receiver)
        }
        None => None,
    };
    let snapshots = run_directory.join("snapshots");
    std::fs::create_dir_all(&snapshots)
        .with_context(|| format!("cannot create {}", snapshots.display()))?;
    let prefix = slug(&target.label);
    let setup = snapshot(&client, &snapshots, &prefix, "setup").await?;

    let client = Arc::new(client);
    let tenant = Arc::new(tenant);
    let watcher = if plan.watch_dashboard {
        let url = format!("{}/dashboard", target.base_url);
        let page = Chromium::find()?.open(&url)?;
        eprintln!("ferrobill-load: a headless Chromium watches {url}");
        Some(page)
    } else {
        None
    };
    let marker = WindowMarker::new(target.pid, target.database.as_ref()).await;
    let mut recorders = Vec::new();
    let mut steps = Vec::new();
    for (index, &users) in plan.steps.iter().enumerate() {
        eprintln!(
            "ferrobill-load: {} [{}] with {users} users, {} for {}s (warm-up {}s) against {}",
            plan.scenario.name(),
            target.label,
            match plan.model() {
                LoadModel::Closed => "closed loop".to_string(),
                LoadModel::Open { rate } => format!("open loop at {rate}/s"),
            },
            plan.duration.as_secs_f64(),
            plan.warmup.as_secs_f64(),
            target.base_url,
        );
        let run_plan = RunPlan {
            users,
            warmup: plan.warmup,
            duration: plan.duration,
            max_requests: plan.max_requests,
            model: plan.model(),
            accounts: plan.accounts as usize,
        };
        let load_before = machine::load_average();
        let key_prefix = format!("load-{run_id}-s{index}");
        // The window opens when the warm-up ends (the runner's own clock starts with this
        // one); it closes when the last user stopped.
        let window_start = async {
            tokio::time::sleep(plan.warmup).await;
            marker.start().await
        };
        let (start, outcome) = tokio::join!(
            window_start,
            runner::run(
                plan.scenario,
                client.clone(),
                tenant.clone(),
                &key_prefix,
                &run_plan,
            )
        );
        let end = marker.end().await;
        let server = target
            .pid
            .zip(start.cpu.zip(end.cpu))
            .map(|(pid, (start, end))| ServerFigures::between(pid, &start, &end));
        let costs = StepCosts::between(&start, &end, &outcome.recorder.window_counts());
        let load_after = machine::load_average();
        let sql_limits = match (&target.database, plan.with_sql_limit) {
            (Some(database), true) => {
                match sql_limit::measure(
                    plan.scenario,
                    users,
                    plan.duration,
                    database,
                    run_directory,
                )
                .await
                {
                    Ok(limits) => limits,
                    Err(error) => {
                        eprintln!("ferrobill-load: the SQL limit could not be measured: {error:#}");
                        Vec::new()
                    }
                }
            }
            _ => Vec::new(),
        };
        recorders.push(outcome.recorder);
        steps.push(StepReport {
            users,
            measured_seconds: outcome.measured.as_secs_f64(),
            rows: Vec::new(),
            errors_by_class: BTreeMap::new(),
            errors_by_message: Vec::new(),
            health_polls: outcome.health_polls,
            last_unhealthy: outcome.last_unhealthy,
            dropped: outcome.dropped,
            requests_sent: outcome.requests_sent,
            abandoned_users: outcome.abandoned_users,
            outcomes: Outcomes::default(),
            server,
            costs,
            sql_limits,
            load_average_before: load_before,
            load_average_after: load_after,
            timeline: outcome.timeline,
            measured_from_unix_ms: outcome.measured_from_unix_ms,
            server_samples: outcome.server_samples,
        });
    }
    drop(watcher);
    let teardown = snapshot(&client, &snapshots, &prefix, "teardown").await?;

    // Seed 000 lists the Threads and Metrics calls of setup and teardown in its table.
    if plan.scenario.samples_observability() {
        if let Some(first) = recorders.first_mut() {
            setup.record(first);
        }
        if let Some(last) = recorders.last_mut() {
            teardown.record(last);
        }
    }
    for (step, recorder) in steps.iter_mut().zip(&recorders) {
        step.rows = recorder.rows(Duration::from_secs_f64(step.measured_seconds));
        step.errors_by_class = recorder.errors_by_class().clone();
        step.errors_by_message = recorder
            .errors_by_message()
            .iter()
            .map(|((class, message), count)| ErrorLine {
                class: class.clone(),
                message: message.clone(),
                count: *count,
            })
            .collect();
        if let Some(total) = step.rows.last() {
            step.outcomes = Outcomes::of(total, &step.errors_by_class);
        }
        for limit in &mut step.sql_limits {
            limit.compare(plan.scenario, &step.rows);
        }
    }
    Ok(ConfigurationReport {
        label: target.label.clone(),
        server_env: target.server_env.clone(),
        steps,
        bus_teardown: bus_metrics(teardown.metrics.as_ref()),
        callbacks_received: receiver.as_ref().map(CallbackReceiver::received),
    })
}

/// The two observability answers at one moment, timed as samples.
struct Snapshot {
    threads: (Duration, Option<String>),
    metrics_sample: (Duration, Option<String>),
    metrics: Option<serde_json::Value>,
}

impl Snapshot {
    fn record(&self, recorder: &mut Recorder) {
        for (sampler, (latency, error)) in
            [(THREADS, &self.threads), (METRICS, &self.metrics_sample)]
        {
            let error = error.as_deref().map(|class| (class, ""));
            recorder.record_error(sampler, *latency, error);
        }
    }
}

async fn snapshot(
    client: &KillBill,
    directory: &Path,
    prefix: &str,
    moment: &str,
) -> Result<Snapshot> {
    let mut answers = Vec::new();
    // /1.0/threads is a text dump, like Kill Bill's; /1.0/metrics is JSON.
    for (name, path) in [
        ("threads.txt", "/1.0/threads"),
        ("metrics.json", "/1.0/metrics"),
    ] {
        let started = Instant::now();
        let answer = async {
            let response = client
                .observe(path)
                .timeout(SNAPSHOT_TIMEOUT)
                .send()
                .await?;
            let status = response.status();
            Ok::<_, reqwest::Error>((status, response.bytes().await?))
        }
        .await;
        let latency = started.elapsed();
        let (error, body) = match answer {
            Ok((status, body)) if status.is_success() => (None, body.to_vec()),
            Ok((status, body)) => (Some(format!("HTTP {}", status.as_u16())), body.to_vec()),
            Err(error) => (Some(runner::classify(&error).to_string()), Vec::new()),
        };
        let (stem, extension) = name.split_once('.').unwrap_or((name, "txt"));
        let file = directory.join(format!("{prefix}-{stem}-{moment}.{extension}"));
        std::fs::write(&file, &body).with_context(|| format!("cannot write {}", file.display()))?;
        answers.push((latency, error, body));
    }
    let metrics_answer = answers.pop().unwrap_or_default();
    let threads_answer = answers.pop().unwrap_or_default();
    Ok(Snapshot {
        threads: (threads_answer.0, threads_answer.1),
        metrics: serde_json::from_slice(&metrics_answer.2).ok(),
        metrics_sample: (metrics_answer.0, metrics_answer.1),
    })
}

/// Every `/1.0/metrics` entry about a queue (bus, external bus, notification queue).
fn bus_metrics(metrics: Option<&serde_json::Value>) -> BTreeMap<String, serde_json::Value> {
    let mut found = BTreeMap::new();
    let Some(metrics) = metrics.and_then(serde_json::Value::as_object) else {
        return found;
    };
    for (kind, entries) in metrics {
        let Some(entries) = entries.as_object() else {
            continue;
        };
        for (name, value) in entries {
            if name.contains("queue") || name.contains("bus") {
                found.insert(format!("{kind}: {name}"), value.clone());
            }
        }
    }
    found
}

/// Writes `report.md`, `report.html`, `summary.json` and `chart.svg` into `run_directory`.
pub fn write_files(run_directory: &Path, summary: &Summary) -> Result<PathBuf> {
    std::fs::create_dir_all(run_directory)
        .with_context(|| format!("cannot create {}", run_directory.display()))?;
    let report = render_report(summary);
    let report_path = run_directory.join("report.md");
    std::fs::write(&report_path, &report)
        .with_context(|| format!("cannot write {}", report_path.display()))?;
    let json = serde_json::to_string_pretty(summary).context("cannot serialize the summary")?;
    let json_path = run_directory.join("summary.json");
    std::fs::write(&json_path, json)
        .with_context(|| format!("cannot write {}", json_path.display()))?;
    crate::chart::draw_chart_svg(&run_directory.join("chart.svg"), &summary.labelled_steps())?;
    let html_path = run_directory.join("report.html");
    std::fs::write(&html_path, crate::html_report::render(summary)?)
        .with_context(|| format!("cannot write {}", html_path.display()))?;
    Ok(report_path)
}

pub fn render_report(summary: &Summary) -> String {
    let mut report = String::new();
    let _ = writeln!(
        report,
        "# ferrobill-load: `{}`, {}\n",
        summary.scenario.name(),
        summary.started_at_utc
    );
    let _ = writeln!(report, "## Setup\n");
    for (name, value) in setup_facts(summary) {
        let _ = writeln!(report, "- {name}: {value}");
    }
    for configuration in &summary.configurations {
        let _ = writeln!(report, "- configuration `{}`:", configuration.label);
        for (key, value) in server_environment(configuration) {
            let _ = writeln!(report, "  - `{key}{value}`");
        }
    }
    let _ = writeln!(report, "\n## Summary\n");
    report += &summary_table(summary).to_markdown();
    let step_costs = summary.step_costs();
    if !step_costs.is_empty() {
        let _ = writeln!(report, "\n### SQL and CPU per request and per operation\n");
        report += &costs::summary_table(&step_costs).to_markdown();
        let _ = writeln!(report, "\n{}", costs::EXPLANATION);
    }
    let _ = writeln!(
        report,
        "\n![throughput, p90, errors and ready bus entries over time, a curve per step](chart.svg)\n\n\
         `report.html` has the same tables and every chart, including the server's own samples."
    );
    let mut labels = summary.labelled_steps().into_iter();
    for configuration in &summary.configurations {
        for (label, step) in labels.by_ref().take(configuration.steps.len()) {
            render_step(&mut report, &label, step);
        }
        let _ = writeln!(report, "\n### Bus (`{}`, teardown)\n", configuration.label);
        for (name, value) in teardown_facts(configuration) {
            let _ = writeln!(report, "- {name}: `{value}`");
        }
    }
    let _ = writeln!(
        report,
        "\nSnapshots of `/1.0/threads` and `/1.0/metrics` at setup and teardown are in `snapshots/`."
    );
    report
}

/// The run's setup, as `(what, value)` lines of both reports.
pub fn setup_facts(summary: &Summary) -> Vec<(String, String)> {
    let model = match summary.model {
        LoadModel::Closed => "closed loop".to_string(),
        LoadModel::Open { rate } => format!("open loop, {rate} iterations/s"),
    };
    let machine = &summary.machine;
    let mut facts = vec![
        ("command".to_string(), summary.command.clone()),
        ("load model".to_string(), model),
        (
            "each step".to_string(),
            format!(
                "{:.0}s measured after {:.0}s warm-up",
                summary.duration_seconds, summary.warmup_seconds
            ),
        ),
        (
            "machine".to_string(),
            format!(
                "{} cores, {} MiB memory, kernel {}, {}; load generator, server and PostgreSQL share it",
                machine.cores,
                machine.memory_mib.map_or("?".into(), |mib| mib.to_string()),
                machine.kernel.as_deref().unwrap_or("?"),
                machine.postgresql.as_deref().unwrap_or("PostgreSQL version unknown"),
            ),
        ),
    ];
    if let Some(profiling) = &summary.profiling {
        facts.push((
            "profiling".to_string(),
            format!("every request sends X-Killbill-Profiling-Req: {profiling}"),
        ));
    }
    if let Some(latency) = summary.callback_latency_ms {
        facts.push((
            "push notifications".to_string(),
            format!("a callback on loopback answering after {latency} ms"),
        ));
    }
    if summary.dashboard_watched {
        facts.push((
            "dashboard".to_string(),
            "a headless Chromium kept /dashboard open during the run".to_string(),
        ));
    }
    facts
}

/// A configuration's server environment as `KEY` and `=VALUE`, or the line saying there is
/// none.
pub fn server_environment(configuration: &ConfigurationReport) -> Vec<(String, String)> {
    if configuration.server_env.is_empty() {
        return vec![(
            "server defaults (or a server started elsewhere)".to_string(),
            String::new(),
        )];
    }
    configuration
        .server_env
        .iter()
        .map(|(key, value)| (key.clone(), format!("={value}")))
        .collect()
}

/// What the queue metrics of `/1.0/metrics` said at a configuration's teardown.
pub fn teardown_facts(configuration: &ConfigurationReport) -> Vec<(String, String)> {
    let mut facts = Vec::new();
    if let Some(received) = configuration.callbacks_received {
        facts.push((
            "push notifications answered by the callback".to_string(),
            received.to_string(),
        ));
    }
    if configuration.bus_teardown.is_empty() {
        facts.push((
            "queue metrics".to_string(),
            "none in /1.0/metrics".to_string(),
        ));
    }
    for (name, value) in &configuration.bus_teardown {
        facts.push((name.clone(), value.to_string()));
    }
    facts
}

fn render_step(report: &mut String, label: &str, step: &StepReport) {
    let _ = writeln!(
        report,
        "\n## {label} ({:.1}s measured)\n",
        step.measured_seconds
    );
    let _ = writeln!(report, "### Results (latencies in ms)\n");
    *report += &stats::results_table(&step.rows).to_markdown();
    for (name, value) in step_facts(step) {
        let _ = writeln!(report, "\n{name}: {value}");
    }
    if let Some(costs) = step.costs.as_ref().filter(|c| !c.top_statements.is_empty()) {
        let _ = writeln!(report, "\n### Top statements (by execution time)\n");
        *report += &costs::statements_table(costs).to_markdown();
    }
    let server = server_samples::figures(&step.server_samples);
    if !server.is_empty() {
        let _ = writeln!(
            report,
            "\n### The server's own samples (`/dashboard/data`)\n"
        );
        *report += &server_samples::table(&server).to_markdown();
    }
    let _ = writeln!(report, "\n### Errors\n");
    *report += &stats::errors_table(&step.errors_by_class).to_markdown();
    let _ = writeln!(report, "\n### Logs (errors by class and message)\n");
    *report += &stats::error_messages_table(&error_messages(step)).to_markdown();
}

/// Seed 001's "Logs" of a step, as the table takes them.
pub fn error_messages(step: &StepReport) -> BTreeMap<(String, String), u64> {
    step.errors_by_message
        .iter()
        .map(|line| ((line.class.clone(), line.message.clone()), line.count))
        .collect()
}

/// A step's outcomes, health, server figures and load, as `(what, value)` lines of both
/// reports.
pub fn step_facts(step: &StepReport) -> Vec<(String, String)> {
    let outcomes = &step.outcomes;
    let mut facts = setup_rows_fact(step).into_iter().collect::<Vec<_>>();
    facts.push((
        "Outcomes".to_string(),
        format!(
            "2xx {}, rejected (429/503) {}, timeouts {}, connection resets {}, other errors {}{}",
            outcomes.ok,
            outcomes.rejected_429_503,
            outcomes.timeouts,
            outcomes.connection_resets,
            outcomes.other_errors,
            if step.dropped > 0 {
                format!(", dropped by the generator (no idle user) {}", step.dropped)
            } else {
                String::new()
            }
        ),
    ));
    let polls: Vec<String> = step
        .health_polls
        .iter()
        .map(|(status, count)| format!("{status}: {count}"))
        .collect();
    facts.push((
        "Healthcheck polls (1/s)".to_string(),
        if polls.is_empty() {
            "none".to_string()
        } else {
            polls.join(", ")
        },
    ));
    if let Some(body) = &step.last_unhealthy {
        facts.push((
            "Last unhealthy healthcheck answer".to_string(),
            body.clone(),
        ));
    }
    if let Some(server) = &step.server {
        facts.push((
            "Server".to_string(),
            format!(
                "peak RSS (VmHWM) {}, RSS at teardown {}, CPU {:.2} cores (server) + {:.2} cores (embedded PostgreSQL)",
                mib(server.peak_rss_mib),
                mib(server.rss_mib),
                server.server_cores,
                server.postgres_cores
            ),
        ));
    }
    facts.push((
        "Load average (1 min) before / after".to_string(),
        format!(
            "{} / {}",
            step.load_average_before
                .map_or("?".into(), |load| format!("{load:.2}")),
            step.load_average_after
                .map_or("?".into(), |load| format!("{load:.2}")),
        ),
    ));
    if let Some(costs) = &step.costs {
        facts.extend(costs::facts(costs));
    }
    for limit in &step.sql_limits {
        facts.push(("SQL limit".to_string(), limit.describe()));
    }
    if step.abandoned_users > 0 {
        facts.push((
            "Abandoned".to_string(),
            format!(
                "{} users were still waiting at the hard deadline and were abandoned",
                step.abandoned_users
            ),
        ));
    }
    facts
}

/// How a step's table counts the setup requests its warm-up made, when it made any.
fn setup_rows_fact(step: &StepReport) -> Option<(String, String)> {
    let (samplers, total) = step.rows.split_last().map(|(t, s)| (s, t))?;
    if total.before_window == 0 {
        return None;
    }
    let rows: Vec<String> = samplers
        .iter()
        .filter(|row| row.before_window > 0)
        .map(|row| format!("{} {} of {}", row.name, row.before_window, row.count))
        .collect();
    Some((
        "Setup requests made during the warm-up".to_string(),
        format!(
            "{}: in #count, TOTAL and the latencies, as seed 000's table lists every setup \
             request; not in any rate (bandwidth, rate, per minute), which counts the measured \
             window only",
            rows.join(", ")
        ),
    ))
}

fn mib(value: Option<f64>) -> String {
    value.map_or("?".into(), |mib| format!("{mib:.1} MiB"))
}

/// One line per step: seed 002's sweep columns plus the health seen during the step.
pub fn summary_table(summary: &Summary) -> Table {
    let header = [
        "configuration",
        "users",
        "total",
        "success",
        "rate",
        "per minute",
        "mean ms",
        "P50 ms",
        "P95 ms",
        "P99 ms",
        "errors",
        "health",
        "peak RSS",
        "SQL limit",
    ];
    let mut body = Vec::new();
    for configuration in &summary.configurations {
        for step in &configuration.steps {
            let Some(total) = step.total() else { continue };
            let success = if total.count == 0 {
                0.0
            } else {
                100.0 - total.error_percent
            };
            let health: Vec<String> = step
                .health_polls
                .iter()
                .map(|(status, count)| format!("{status}×{count}"))
                .collect();
            body.push(vec![
                configuration.label.clone(),
                step.users.to_string(),
                total.count.to_string(),
                format!("{success:.2}%"),
                format!("{:.1}/s", total.throughput_per_second),
                format!("{:.0}/min", total.throughput_per_second * 60.0),
                format!("{:.1}", total.mean_ms),
                format!("{:.1}", total.median_ms),
                format!("{:.1}", total.p95_ms),
                format!("{:.1}", total.p99_ms),
                total.errors.to_string(),
                health.join(" "),
                step.server
                    .as_ref()
                    .map_or("-".into(), |server| mib(server.peak_rss_mib)),
                if step.sql_limits.is_empty() {
                    "-".into()
                } else {
                    let limits: Vec<String> = step.sql_limits.iter().map(SqlLimit::short).collect();
                    limits.join("; ")
                },
            ]);
        }
    }
    Table::new(&header, body)
}

/// File-name-safe form of a configuration label.
fn slug(label: &str) -> String {
    label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

/// Randomness without a dependency: std seeds every `RandomState` from the OS.
fn random_u64() -> u64 {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(SystemTime::now())
}

/// `YYYY-MM-DD HH:MM:SS UTC` of now, without a date crate (Howard Hinnant's civil_from_days).
pub fn utc_now() -> String {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    format_utc(seconds)
}

fn format_utc(unix_seconds: u64) -> String {
    let days = (unix_seconds / 86_400) as i64;
    let time = unix_seconds % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        time / 3600,
        time % 3600 / 60,
        time % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_civil_utc() {
        assert_eq!(format_utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(format_utc(1_798_000_000), "2026-12-23 04:26:40 UTC");
    }

    #[test]
    fn slugs_are_file_names() {
        assert_eq!(slug("plugin pool 30"), "plugin-pool-30");
    }
}
