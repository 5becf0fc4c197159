//! Smoke runs of every load scenario within `cargo test`: a few seconds each with a few users
//! against ferrobill started in this process on its embedded PostgreSQL (a throw-away cluster
//! under `target/tmp`). They check that the report files are written and that their figures
//! agree with each other (counts equal the requests sent, percentiles ordered, errors counted
//! by class and by message), not how fast anything is: timing goals live in
//! docs/benchmarks.md.

use std::path::{Path, PathBuf};
use std::time::Duration;

use browser::Chromium;
use ferrobill::app::App;
use ferrobill::config::Config;
use loadtests::cluster::Cluster;
use loadtests::costs;
use loadtests::machine::Machine;
use loadtests::scenario::Scenario;
use loadtests::server::merge_env;
use loadtests::suite::{self, ConfigurationReport, StepReport, SuitePlan, Summary, Target};
use loadtests::sweep::EnvSweep;

/// Each scenario's run, snapshots included, must end within this.
const SCENARIO_TIME_LIMIT: Duration = Duration::from_secs(20);

/// Long enough for a user's setup (account, card) and a few payments on a busy machine.
const PAYMENTS_DURATION: Duration = Duration::from_secs(4);

fn plan(scenario: Scenario, steps: &[u32], rate: Option<f64>) -> SuitePlan {
    let duration = match scenario {
        Scenario::Payments | Scenario::PoolStarvation => PAYMENTS_DURATION,
        _ => Duration::from_secs(2),
    };
    SuitePlan {
        scenario,
        steps: steps.to_vec(),
        warmup: Duration::ZERO,
        duration,
        max_requests: None,
        rate,
        profiling: None,
        accounts: 10,
        callback_latency: None,
        with_sql_limit: false,
        watch_dashboard: false,
        user: "admin".into(),
        password: "password".into(),
        tenant: None,
    }
}

/// ferrobill on its own embedded cluster in `directory`, with `properties` on top.
async fn start(directory: &Path, properties: &[(&str, &str)]) -> App {
    let _ = std::fs::remove_dir_all(directory);
    let data_dir = directory.join("postgres").display().to_string();
    let mut pairs = vec![
        ("ferrobill.server.bindAddress", "127.0.0.1"),
        ("ferrobill.server.port", "0"),
        ("ferrobill.embedded.dataDir", data_dir.as_str()),
    ];
    pairs.extend_from_slice(properties);
    let config = Config::from_properties(&pairs).expect("valid smoke configuration");
    App::start(config).await.expect("ferrobill starts")
}

/// A run's summary of `configurations`, as the binary writes it.
fn summary(plan: &SuitePlan, configurations: Vec<ConfigurationReport>) -> Summary {
    Summary {
        scenario: plan.scenario,
        started_at_utc: suite::utc_now(),
        command: "smoke".into(),
        model: plan.model(),
        warmup_seconds: plan.warmup.as_secs_f64(),
        duration_seconds: plan.duration.as_secs_f64(),
        profiling: None,
        callback_latency_ms: None,
        dashboard_watched: false,
        machine: Machine::describe(),
        configurations,
    }
}

/// Runs `plan` against `app` and writes its files under `directory`; returns what it wrote.
async fn run(app: &App, plan: &SuitePlan, directory: &Path) -> Summary {
    let target = Target {
        label: "smoke".into(),
        base_url: format!("http://{}", app.local_addr()),
        server_env: Vec::new(),
        pid: None,
        database: None,
    };
    let report = tokio::time::timeout(
        SCENARIO_TIME_LIMIT,
        suite::run_configuration(plan, &target, directory),
    )
    .await
    .unwrap_or_else(|_| panic!("{} finishes in time", plan.scenario.name()))
    .expect("the run succeeds");
    let summary = summary(plan, vec![report]);
    suite::write_files(directory, &summary).expect("the files are written");
    check_files(directory, &summary);
    summary
}

/// The files exist and `summary.json` says what the run returned.
fn check_files(directory: &Path, summary: &Summary) {
    let report = std::fs::read_to_string(directory.join("report.md")).expect("report.md");
    assert!(report.contains(" TOTAL |"), "{report}");
    assert!(report.contains("### Logs"), "{report}");
    let chart = std::fs::read_to_string(directory.join("chart.svg")).expect("chart.svg");
    assert!(
        chart.starts_with("<svg") || chart.contains("<svg"),
        "an SVG"
    );
    let html = std::fs::read_to_string(directory.join("report.html")).expect("report.html");
    assert!(
        html.contains("<h2>Summary</h2>") && html.contains("<svg"),
        "{html}"
    );
    assert!(
        !html.contains("src=") && !html.contains("<script"),
        "self-contained"
    );
    let json = std::fs::read_to_string(directory.join("summary.json")).expect("summary.json");
    let json: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
    let steps = json["configurations"][0]["steps"]
        .as_array()
        .expect("steps");
    let configuration = &summary.configurations[0];
    assert_eq!(steps.len(), configuration.steps.len());
    for (saved, step) in steps.iter().zip(&configuration.steps) {
        let total = step.total().expect("a TOTAL row");
        assert_eq!(
            saved["rows"].as_array().map(Vec::len),
            Some(step.rows.len())
        );
        assert_eq!(
            saved["rows"]
                .as_array()
                .and_then(|rows| rows.last())
                .map(|row| row["count"].as_u64()),
            Some(Some(total.count))
        );
    }
    for moment in ["setup", "teardown"] {
        let snapshots = directory.join("snapshots");
        let threads =
            std::fs::read_to_string(snapshots.join(format!("smoke-threads-{moment}.txt")))
                .expect("threads snapshot saved");
        assert!(threads.starts_with("ferrobill"), "{threads}");
        let metrics =
            std::fs::read_to_string(snapshots.join(format!("smoke-metrics-{moment}.json")))
                .expect("metrics snapshot saved");
        let metrics: serde_json::Value = serde_json::from_str(&metrics).expect("metrics are JSON");
        assert!(metrics["gauges"].is_object(), "{metrics}");
    }
}

/// The figures of one step agree with each other and with what was sent.
fn check_step(scenario: Scenario, step: &StepReport, observability_samples: u64) {
    let (samplers, total) = step.rows.split_at(step.rows.len() - 1);
    let total = &total[0];
    assert_eq!(total.name, "TOTAL");
    assert_eq!(
        total.count,
        samplers.iter().map(|row| row.count).sum::<u64>()
    );
    // No warm-up: every request sent was recorded (plus the suite's own snapshots).
    assert_eq!(
        total.count,
        step.requests_sent + observability_samples,
        "{scenario:?}"
    );
    assert!(total.count > 0, "{scenario:?} sent nothing");
    assert_eq!(
        total.errors,
        samplers.iter().map(|row| row.errors).sum::<u64>()
    );
    assert_eq!(total.errors, step.errors_by_class.values().sum::<u64>());
    assert_eq!(
        total.errors,
        step.errors_by_message
            .iter()
            .map(|line| line.count)
            .sum::<u64>()
    );
    let outcomes = &step.outcomes;
    assert_eq!(
        outcomes.ok
            + outcomes.rejected_429_503
            + outcomes.timeouts
            + outcomes.connection_resets
            + outcomes.other_errors,
        total.count
    );
    for row in &step.rows {
        if row.count == 0 {
            continue;
        }
        assert!(row.min_ms <= row.median_ms, "{row:?}");
        assert!(row.median_ms <= row.p90_ms, "{row:?}");
        assert!(row.p90_ms <= row.p95_ms, "{row:?}");
        assert!(row.p95_ms <= row.p99_ms, "{row:?}");
        assert!(row.p99_ms <= row.max_ms, "{row:?}");
        assert!(row.throughput_per_second > 0.0, "{row:?}");
    }
    assert!(!step.timeline.is_empty(), "one point a second");
    assert_eq!(step.abandoned_users, 0);
}

fn only_step(configuration: &ConfigurationReport) -> &StepReport {
    assert_eq!(configuration.steps.len(), 1);
    &configuration.steps[0]
}

fn row<'a>(step: &'a StepReport, name: &str) -> &'a loadtests::stats::Row {
    step.rows
        .iter()
        .find(|row| row.name == name)
        .unwrap_or_else(|| panic!("a {name} row"))
}

fn smoke_directory(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("load-smoke-{}-{name}", std::process::id()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_writes_consistent_reports() {
    let root = smoke_directory("default");
    let app = start(
        &root.join("server"),
        &[("org.killbill.payment.plugin.threads.nb", "20")],
    )
    .await;

    // payments: seed 000's rows, no errors, captures follow authorizations.
    let summary = run(
        &app,
        &plan(Scenario::Payments, &[3], None),
        &root.join("payments"),
    )
    .await;
    let step = only_step(&summary.configurations[0]);
    check_step(Scenario::Payments, step, 4);
    assert_eq!(
        step.total().map(|total| total.errors),
        Some(0),
        "{:?}",
        step.errors_by_message
    );
    assert_eq!(row(step, "Threads").count, 2);
    assert_eq!(row(step, "Metrics").count, 2);
    assert!(row(step, "Create Account").count >= 3);
    // Each iteration authorizes, captures what it authorized, then purchases; a run cut short
    // ends anywhere in that sequence.
    let authorized = row(step, "Authorize Payment").count;
    assert!(authorized > 0);
    assert!(authorized >= row(step, "Capture Payment").count);
    assert!(authorized >= row(step, "Purchase Payment").count);

    // purchases: the shared accounts are set up once each, then every iteration purchases.
    let summary = run(
        &app,
        &plan(Scenario::Purchases, &[4], None),
        &root.join("purchases"),
    )
    .await;
    let step = only_step(&summary.configurations[0]);
    check_step(Scenario::Purchases, step, 0);
    assert_eq!(
        step.total().map(|total| total.errors),
        Some(0),
        "{:?}",
        step.errors_by_message
    );
    let created = row(step, "Create Account").count;
    assert!(
        (1..=10).contains(&created),
        "{created} accounts for 10 slots"
    );
    // A user stopped by the end of the run between its account and its method leaves one
    // account without a method.
    let methods = row(step, "External Payment Method").count;
    assert!(
        (1..=created).contains(&methods),
        "{methods} methods for {created} accounts"
    );
    assert!(row(step, "Purchase Payment").count > created);

    // accounts as a two-step sweep on the same server.
    let summary = run(
        &app,
        &plan(Scenario::Accounts, &[2, 4], None),
        &root.join("accounts"),
    )
    .await;
    let configuration = &summary.configurations[0];
    assert_eq!(
        configuration
            .steps
            .iter()
            .map(|step| step.users)
            .collect::<Vec<_>>(),
        [2, 4]
    );
    for step in &configuration.steps {
        check_step(Scenario::Accounts, step, 0);
        assert!(!step.health_polls.is_empty(), "the health poll ran");
    }
    assert!(
        configuration
            .bus_teardown
            .keys()
            .any(|name| name.contains("bus")),
        "{:?}",
        configuration.bus_teardown.keys()
    );

    // status-mix: reads after the setup rows.
    let summary = run(
        &app,
        &plan(Scenario::StatusMix, &[3], None),
        &root.join("status-mix"),
    )
    .await;
    let step = only_step(&summary.configurations[0]);
    check_step(Scenario::StatusMix, step, 0);
    assert!(row(step, "Get Account").count > 0 && row(step, "Get Payment").count > 0);

    // The open loop never starts more than its rate allows, and drops what finds no idle user.
    let summary = run(
        &app,
        &plan(Scenario::Accounts, &[2], Some(20.0)),
        &root.join("open"),
    )
    .await;
    let step = only_step(&summary.configurations[0]);
    check_step(Scenario::Accounts, step, 0);
    assert!(step.requests_sent <= 2 * 20 + 1, "{}", step.requests_sent);
    app.shutdown().await.expect("ferrobill stops");
    let _ = std::fs::remove_dir_all(&root);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overload_is_shed_with_fast_rejections() {
    let root = smoke_directory("admission");
    // One request served, one waiting (the ops endpoints the suite polls are exempt): an open
    // loop at 200/s overloads it at once.
    let app = start(
        &root.join("server"),
        &[
            ("ferrobill.server.maxInFlight", "1"),
            ("ferrobill.server.maxWaiting", "1"),
        ],
    )
    .await;
    let summary = run(
        &app,
        &plan(Scenario::Overload, &[20], Some(200.0)),
        &root.join("overload"),
    )
    .await;
    let step = only_step(&summary.configurations[0]);
    check_step(Scenario::Overload, step, 0);
    assert!(
        step.outcomes.rejected_429_503 > 0,
        "{:?}",
        step.errors_by_class
    );
    assert!(step.outcomes.ok > 0, "{:?}", step.errors_by_class);
    assert_eq!(
        step.outcomes.timeouts + step.outcomes.connection_resets,
        0,
        "{:?}",
        step.errors_by_class
    );
    app.shutdown().await.expect("ferrobill stops");
    let _ = std::fs::remove_dir_all(&root);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_starved_plugin_pool_is_reported_as_seed_001() {
    let root = smoke_directory("starved");
    // One plugin connection, held a second per payment call, and a 100 ms wait for it: the
    // calls of the other users fail with the pool's message.
    let app = start(
        &root.join("server"),
        &[
            ("org.killbill.payment.plugin.threads.nb", "10"),
            ("org.killbill.billing.osgi.dao.maxActive", "1"),
            ("org.killbill.billing.osgi.dao.connectionTimeout", "100ms"),
            ("ferrobill.gateway.latency", "1s"),
        ],
    )
    .await;
    let summary = run(
        &app,
        &plan(Scenario::PoolStarvation, &[6], None),
        &root.join("pool-starvation"),
    )
    .await;
    let step = only_step(&summary.configurations[0]);
    check_step(Scenario::PoolStarvation, step, 4);
    let starved = step
        .errors_by_message
        .iter()
        .find(|line| {
            line.message
                .contains("could not obtain a database connection")
                && line.message.contains("code 7199")
        })
        .unwrap_or_else(|| {
            panic!(
                "the pool's message is reported: {:?}",
                step.errors_by_message
            )
        });
    assert_eq!(starved.class, "HTTP 400", "{starved:?}");
    app.shutdown().await.expect("ferrobill stops");
    let _ = std::fs::remove_dir_all(&root);
}

/// report.html in headless Chromium: its tables, its charts with one curve per step, and the
/// server's own figures showing what the load did to the plugin pool, the plugin slots and the
/// main bus (which dispatches nothing here, so its ready entries grow).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_html_shows_the_servers_saturation_in_chromium() {
    let chromium = Chromium::find().unwrap_or_else(|error| panic!("{error}"));
    let root = smoke_directory("html");
    let app = start(
        &root.join("server"),
        &[
            ("org.killbill.payment.plugin.threads.nb", "4"),
            ("org.killbill.billing.osgi.dao.maxActive", "1"),
            ("ferrobill.gateway.latency", "200ms"),
            ("org.killbill.persistent.bus.main.off", "true"),
        ],
    )
    .await;
    let directory = root.join("payments");
    run(&app, &plan(Scenario::Payments, &[2, 4], None), &directory).await;
    app.shutdown().await.expect("ferrobill stops");
    let url = format!("file://{}", directory.join("report.html").display());
    let dom = chromium
        .dump_dom(&url, Duration::from_secs(1))
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    for heading in ["Setup", "Summary", "Over time", "2 users", "4 users"] {
        assert!(
            dom.contains(&format!("<h2>{heading}")),
            "no {heading} section"
        );
    }
    assert!(dom.matches("<table").count() >= 10, "tables");
    assert!(dom.matches("<svg").count() >= 8, "charts");
    for chart in [
        "Throughput per sampler",
        "osgi (plugin) pool connections",
        "ready queue entries",
    ] {
        assert!(dom.contains(chart), "no chart {chart}");
    }
    // The last step's figures (each step's table names the same metrics).
    let figures = browser::metric_values(&dom);
    let figure = |name: &str| -> f64 {
        figures
            .get(name)
            .and_then(|value| value.parse().ok())
            .unwrap_or_else(|| panic!("no figure {name}: {figures:?}"))
    };
    assert!(figure("ferrobill.http.all.total") > 0.0);
    assert_eq!(figure("osgi.pool.ActiveConnections.max"), 1.0);
    assert!(figure("osgi.pool.PendingConnections.max") >= 1.0);
    assert!(figure("ferrobill.plugin.slotsInUse.max") >= 1.0);
    assert!(figure("ferrobill.queue.bus-bus_events.readyEntries.max") > 0.0);
    let screenshot = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("screenshots")
        .join("load-report.png");
    chromium
        .screenshot(&url, &screenshot, (1200, 3000), Duration::from_secs(1))
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    let _ = std::fs::remove_dir_all(&root);
}

/// `--sweep-env` as the binary runs it, with ferrobill in this process instead of spawned: one
/// fresh server (a new embedded cluster, started with pg_stat_statements as the suite starts
/// spawned servers) per value of the main pool's size, each run for a warm-up and a short
/// window of purchases. Both steps come back labelled by their value, with SQL and CPU costs
/// (ferrobill's CPU here is this whole process's, load generator included) and the warm-up's
/// setup requests in the table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_setting_sweep_reports_each_value_with_its_costs() {
    let root = smoke_directory("sweep");
    let sweep: EnvSweep = "KILLBILL_DAO_MAXACTIVE=4,8".parse().expect("a valid sweep");
    // Two accounts: their setup fits in the warm-up even on a loaded machine, so purchases
    // are the window's requests.
    let plan = SuitePlan {
        warmup: Duration::from_secs(1),
        accounts: 2,
        ..plan(Scenario::Purchases, &[4], None)
    };
    let mut reports = Vec::new();
    for (index, configuration) in sweep
        .configurations(&Scenario::Purchases.configurations())
        .into_iter()
        .enumerate()
    {
        let data_dir = root.join(format!("server-{index}")).join("postgres");
        let _ = std::fs::remove_dir_all(&data_dir);
        let owned = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect()
        };
        let environment = costs::with_statement_statistics(merge_env(
            owned(&[
                ("FERROBILL_SERVER_BINDADDRESS", "127.0.0.1"),
                ("FERROBILL_SERVER_PORT", "0"),
                (
                    "FERROBILL_EMBEDDED_DATADIR",
                    &data_dir.display().to_string(),
                ),
            ])
            .into_iter()
            .chain(configuration.server_env.clone()),
        ));
        let config = Config::load_from(None, &environment).expect("valid configuration");
        assert!(config.warnings.is_empty(), "{:?}", config.warnings);
        let app = App::start(config.config).await.expect("ferrobill starts");
        let target = Target {
            label: configuration.label,
            base_url: format!("http://{}", app.local_addr()),
            server_env: configuration.server_env,
            pid: Some(std::process::id()),
            database: Cluster::from_data_dir(&data_dir),
        };
        assert!(
            target.database.is_some(),
            "postmaster.pid names the cluster"
        );
        let report = tokio::time::timeout(
            SCENARIO_TIME_LIMIT,
            suite::run_configuration(&plan, &target, &root),
        )
        .await
        .expect("each value's run finishes in time")
        .expect("the run succeeds");
        reports.push(report);
        app.shutdown().await.expect("ferrobill stops");
    }
    let summary = summary(&plan, reports);
    suite::write_files(&root, &summary).expect("the files are written");

    let labels: Vec<String> = summary
        .labelled_steps()
        .into_iter()
        .map(|(label, _)| label)
        .collect();
    assert_eq!(
        labels,
        ["KILLBILL_DAO_MAXACTIVE=4", "KILLBILL_DAO_MAXACTIVE=8"]
    );
    for (label, step) in summary.labelled_steps() {
        // The setup requests are rows of the table, outside every rate (made during the
        // warm-up, unless a loaded machine made them slower than that).
        let created = row(step, "Create Account");
        let methods = row(step, "External Payment Method").count;
        assert!(created.count > 0, "{label}: {created:?}");
        assert!(
            methods <= created.count,
            "{label}: {methods} methods, {created:?}"
        );
        let total = step.total().expect("a TOTAL row");
        let purchases = row(step, "Purchase Payment");
        assert!(purchases.count > 0, "{label}");
        let window_requests = total.count - total.before_window;
        let rated = total.throughput_per_second * step.measured_seconds;
        assert!((rated - window_requests as f64).abs() < 1e-6, "{label}");
        let costs = step
            .costs
            .as_ref()
            .unwrap_or_else(|| panic!("{label}: costs"));
        assert_eq!(costs.requests, window_requests, "{label}");
        let each = costs.per_request();
        let positive = |figure: Option<f64>, what: &str| {
            assert!(
                figure.is_some_and(|value| value > 0.0),
                "{label}: {what} {figure:?}"
            );
        };
        positive(each.statements, "statements per request");
        positive(each.transactions, "transactions per request");
        positive(
            each.explicit_transactions,
            "explicit transactions per request",
        );
        positive(each.postgres_cpu_ms, "PostgreSQL CPU per request");
        positive(each.ferrobill_cpu_ms, "ferrobill CPU per request");
        // A purchase writes a payment and a transaction: more than one statement.
        assert!(
            each.statements.is_some_and(|n| n > 1.0 && n < 200.0),
            "{label}: {each:?}"
        );
        let (operation, _) = costs
            .per_operation()
            .unwrap_or_else(|| panic!("{label}: purchases dominate: {:?} {costs:?}", step.rows));
        assert_eq!(operation.sampler, "Purchase Payment");
        assert!(!costs.top_statements.is_empty(), "{label}");
        assert!(step.server.is_some(), "{label}: CPU in cores");
    }
    let report = std::fs::read_to_string(root.join("report.md")).expect("report.md");
    for text in [
        "## KILLBILL_DAO_MAXACTIVE=4 (",
        "## KILLBILL_DAO_MAXACTIVE=8 (",
        "SQL and CPU per request and per operation",
        "| KILLBILL_DAO_MAXACTIVE=8 | Purchase Payment (",
        "Top statements",
        "Setup requests made during the warm-up",
    ] {
        assert!(report.contains(text), "no {text} in {report}");
    }
    let html = std::fs::read_to_string(root.join("report.html")).expect("report.html");
    assert!(html.contains("<h2>KILLBILL_DAO_MAXACTIVE=8 ("), "{html}");
    let json = std::fs::read_to_string(root.join("summary.json")).expect("summary.json");
    let json: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
    assert!(
        json["configurations"][1]["steps"][0]["costs"]["totals"]["statements"].as_f64() > Some(0.0),
        "{json}"
    );
    let _ = std::fs::remove_dir_all(&root);
}
