//! The ops pages: `/1.0/metrics` in Kill Bill's JSON shapes and `/metrics` in Prometheus text
//! from the same recorded values, pool waits seen in the metrics and in `/1.0/threads`, and
//! Kill Bill's request profiling headers.
//!
//! The metrics recorder is process-wide and every test in this binary shares it, so counters
//! are compared before and after, and exact figures are checked only on series no other test
//! records (a method a route does not allow).

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::{expect_status, wait_until, TestApp};

/// A series: the Prometheus-sanitised name and its labels.
type Series = (String, BTreeMap<String, String>);

async fn metrics_json(app: &TestApp) -> Value {
    let response = app
        .bare(Method::GET, "/1.0/metrics")
        .send()
        .await
        .expect("GET /1.0/metrics");
    let response = expect_status(response, StatusCode::OK).await;
    response.json().await.expect("JSON")
}

async fn prometheus(app: &TestApp) -> HashMap<Series, f64> {
    let response = app
        .bare(Method::GET, "/metrics")
        .send()
        .await
        .expect("GET /metrics");
    let response = expect_status(response, StatusCode::OK).await;
    let text = response.text().await.expect("text");
    parse_prometheus(&text)
}

/// A small parser for the text exposition format: `name{k="v",…} value` lines, `#` comments.
fn parse_prometheus(text: &str) -> HashMap<Series, f64> {
    let mut series = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name_and_labels, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("a sample line: {line}"));
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            other => other
                .parse()
                .unwrap_or_else(|_| panic!("a number in {line}")),
        };
        let (name, labels) = parse_series(name_and_labels);
        for c in name.chars() {
            assert!(
                c.is_ascii_alphanumeric() || c == '_' || c == ':',
                "invalid metric name in {line}"
            );
        }
        series.insert((name, labels), value);
    }
    series
}

/// `name{k="v",…}` → (name, labels), unescaping `\"`, `\\` and `\n` in values.
fn parse_series(text: &str) -> Series {
    let Some((name, rest)) = text.split_once('{') else {
        return (text.to_string(), BTreeMap::new());
    };
    let body = rest.strip_suffix('}').expect("labels end with }");
    let mut labels = BTreeMap::new();
    let mut chars = body.chars().peekable();
    while chars.peek().is_some() {
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        assert_eq!(chars.next(), Some('"'), "a quoted label value in {text}");
        let mut value = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some(other) => value.push(other),
                    None => panic!("a dangling escape in {text}"),
                },
                '"' => break,
                other => value.push(other),
            }
        }
        labels.insert(key.trim_start_matches(',').to_string(), value);
        if chars.peek() == Some(&',') {
            chars.next();
        }
    }
    (name.to_string(), labels)
}

/// The Prometheus series of a `/1.0/metrics` entry name, with `suffix` (`_count`, `_sum`).
fn prometheus_series(json_name: &str, suffix: &str) -> Series {
    let (name, labels) = parse_series(json_name);
    let sanitised: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    (format!("{sanitised}{suffix}"), labels)
}

fn http_series(route: &str, method: &str, status: u16) -> String {
    format!("ferrobill.http.requests{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}}")
}

fn count(json: &Value, section: &str, name: &str) -> u64 {
    json[section][name]["count"].as_u64().unwrap_or(0)
}

fn assert_keys(object: &Value, expected: &[&str], what: &str) {
    let mut keys: Vec<&str> = object
        .as_object()
        .unwrap_or_else(|| panic!("{what} is an object: {object}"))
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    let mut expected = expected.to_vec();
    expected.sort_unstable();
    assert_eq!(keys, expected, "{what}: {object}");
}

const HISTOGRAM: &[&str] = &[
    "count", "max", "mean", "min", "p50", "p75", "p95", "p98", "p99", "p999", "stddev",
];
const RATES: &[&str] = &["m15_rate", "m1_rate", "m5_rate", "mean_rate"];

#[tokio::test]
async fn both_metrics_pages_show_kill_bills_shapes_and_the_same_figures() {
    let app = TestApp::spawn_with_tenant().await;
    let before = metrics_json(&app).await;

    // Series no other test records: a method /1.0/threads does not allow.
    for _ in 0..3 {
        let response = app
            .bare(Method::DELETE, "/1.0/threads")
            .send()
            .await
            .expect("DELETE");
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    }
    for i in 0..2 {
        let response = app
            .kb(Method::POST, "/1.0/kb/accounts")
            .json(&json!({ "name": format!("observed {i}"), "currency": "USD" }))
            .send()
            .await
            .expect("POST account");
        expect_status(response, StatusCode::CREATED).await;
    }

    let after = metrics_json(&app).await;
    assert_keys(
        &after,
        &["gauges", "counters", "histograms", "meters", "timers"],
        "/1.0/metrics",
    );
    for (name, gauge) in after["gauges"].as_object().expect("gauges") {
        assert_keys(gauge, &["value"], name);
    }
    for (name, counter) in after["counters"].as_object().expect("counters") {
        assert_keys(counter, &["count"], name);
    }
    for (name, histogram) in after["histograms"].as_object().expect("histograms") {
        assert_keys(histogram, HISTOGRAM, name);
    }
    let meter_keys: Vec<&str> = ["count", "units"].iter().chain(RATES).copied().collect();
    for (name, meter) in after["meters"].as_object().expect("meters") {
        assert_keys(meter, &meter_keys, name);
        assert_eq!(meter["units"], json!("events/second"), "{name}");
    }
    let timer_keys: Vec<&str> = HISTOGRAM
        .iter()
        .chain(RATES)
        .chain(&["duration_units", "rate_units"])
        .copied()
        .collect();
    for (name, timer) in after["timers"].as_object().expect("timers") {
        assert_keys(timer, &timer_keys, name);
        assert_eq!(timer["duration_units"], json!("seconds"), "{name}");
        assert_eq!(timer["rate_units"], json!("calls/second"), "{name}");
    }

    // Exactly the requests this test made, on the series only it records.
    let refused = http_series("/1.0/threads", "DELETE", 405);
    assert_eq!(
        count(&after, "timers", &refused) - count(&before, "timers", &refused),
        3,
        "{refused} in {}",
        after["timers"]
    );
    // At least this test's requests on shared series (other tests run alongside).
    let created = http_series("/1.0/kb/accounts", "POST", 201);
    assert!(count(&after, "timers", &created) >= count(&before, "timers", &created) + 2);
    let kb_created =
        "org.killbill.commons.metrics.servlets.InstrumentedFilter.responseCodes.created";
    assert!(count(&after, "meters", kb_created) >= count(&before, "meters", kb_created) + 2);
    let inserted = "org.killbill.queue.DBBackedQueue.bus-bus_events.totalInsert";
    assert!(
        count(&after, "counters", inserted) >= count(&before, "counters", inserted) + 2,
        "{inserted}: {} then {}",
        before["counters"][inserted],
        after["counters"][inserted]
    );
    assert!(after["gauges"]["main.pool.MaxConnections"]["value"].as_u64() >= Some(1));

    // /metrics renders the same values: the same count on this test's own series, and
    // shared counters no lower than the JSON showed just before.
    let prometheus = prometheus(&app).await;
    assert_eq!(
        prometheus.get(&prometheus_series(&refused, "_count")),
        Some(&(count(&after, "timers", &refused) as f64)),
        "{refused}"
    );
    for (section, name) in [
        ("meters", kb_created),
        ("counters", inserted),
        ("timers", created.as_str()),
    ] {
        let suffix = if section == "timers" { "_count" } else { "" };
        let series = prometheus_series(name, suffix);
        let value = prometheus
            .get(&series)
            .unwrap_or_else(|| panic!("/metrics has {series:?}"));
        assert!(*value >= count(&after, section, name) as f64, "{name}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_starved_pool_shows_its_waiters_in_the_metrics_and_the_thread_dump() {
    let app = TestApp::spawn_with(&[
        ("org.killbill.dao.maxActive", "2"),
        ("org.killbill.dao.connectionTimeout", "60s"),
    ])
    .await;
    let wait_count = prometheus_series("main.pool.Wait", "_count");
    let wait_sum = prometheus_series("main.pool.Wait", "_sum");
    let before = prometheus(&app).await;

    // Two tenant creations hold both connections, blocked on the lock; 18 more wait for one.
    let lock = app.lock_table("tenants").await;
    let requests: Vec<_> = (0..20)
        .map(|i| app.spawn_create_tenant(&format!("starved-{i}")))
        .collect();
    app.wait_for_lock_waiters(2).await;
    let last_dump = std::sync::Mutex::new(String::new());
    wait_until(
        "18 requests to wait for the main pool",
        // Each tenant creation hashes its secret first, two at a time: slow on a loaded box.
        Duration::from_secs(60),
        || {
            let app = &app;
            let last_dump = &last_dump;
            async move {
                let response = app
                    .bare(Method::GET, "/1.0/threads")
                    .send()
                    .await
                    .expect("GET /1.0/threads");
                let dump = response.text().await.expect("text");
                let waiting = dump
                    .lines()
                    .find(|line| line.trim_start().starts_with("main:"))
                    .and_then(|line| line.split_once("waiting="))
                    .and_then(|(_, rest)| rest.split_whitespace().next())
                    .and_then(|waiting| waiting.parse::<usize>().ok())
                    .is_some_and(|waiting| waiting >= 18);
                *last_dump.lock().expect("the dump") = dump;
                waiting
            }
        },
    )
    .await;
    let dump = last_dump.into_inner().expect("the dump");
    let waiting_since = Instant::now();
    let listed = dump
        .lines()
        .filter(|line| line.contains("POST /1.0/kb/tenants"))
        .count();
    assert_eq!(listed, 20, "every request is listed in flight:\n{dump}");
    // The twenty, and the request reading the page.
    assert!(dump.contains("\nrequests in flight: 21\n"), "{dump}");
    for section in ["runtime", "pools", "queues"] {
        assert!(
            dump.lines().any(|line| line == section),
            "{section}:\n{dump}"
        );
    }

    let json = metrics_json(&app).await;
    let pending = json["gauges"]["main.pool.PendingConnections"]["value"]
        .as_f64()
        .expect("a pending gauge");
    assert!(pending >= 18.0, "pending connections: {pending}");
    assert_eq!(
        json["gauges"]["main.pool.MaxConnections"]["value"],
        json!(2)
    );
    // Who waits (the requests, and the queues' own work behind the same lock), and for how
    // long.
    let main_pool_line = dump
        .lines()
        .find(|line| line.trim_start().starts_with("main:"))
        .expect("the main pool's line");
    let number_after = |label: &str| {
        main_pool_line
            .split_once(label)
            .and_then(|(_, rest)| rest.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|number| number.parse::<usize>().ok())
            .unwrap_or_else(|| panic!("no {label} in {main_pool_line}"))
    };
    assert_eq!(
        number_after("queue work ") + number_after("requests "),
        number_after("waiting="),
        "{main_pool_line}"
    );
    let waiting_requests = json["gauges"]["ferrobill.pool.main.waitingRequests"]["value"]
        .as_f64()
        .expect("a waiting-requests gauge");
    assert!(
        waiting_requests >= 1.0,
        "waiting requests: {waiting_requests}"
    );
    let longest = json["gauges"]["ferrobill.pool.main.longestCurrentWait"]["value"]
        .as_f64()
        .expect("a longest-wait gauge");
    assert!(longest > 0.0, "longest current wait: {longest}");

    lock.release().await;
    let waited_at_least = waiting_since.elapsed().as_secs_f64();
    for request in requests {
        let response = request.await.expect("task").expect("response");
        expect_status(response, StatusCode::CREATED).await;
    }

    let after = prometheus(&app).await;
    let delta = |series: &Series| {
        after.get(series).copied().unwrap_or(0.0) - before.get(series).copied().unwrap_or(0.0)
    };
    assert!(delta(&wait_count) >= 20.0, "{wait_count:?}");
    assert!(
        delta(&wait_sum) >= 18.0 * waited_at_least,
        "18 waits of at least {waited_at_least} s each: {}",
        delta(&wait_sum)
    );
    let json = metrics_json(&app).await;
    let max = json["timers"]["main.pool.Wait"]["max"]
        .as_f64()
        .expect("a wait timer");
    assert!(max >= waited_at_least, "longest wait {max} s");
    app.stop().await;
}

/// Every item of Kill Bill's profiling JSON, depth first: (name, durationUsec).
fn profiled_items(items: &Value, into: &mut Vec<(String, u64)>) {
    for item in items.as_array().expect("an array of items") {
        let name = item["name"].as_str().expect("a name").to_string();
        let duration = item["durationUsec"].as_u64().expect("durationUsec");
        into.push((name, duration));
        if let Some(calls) = item.get("calls") {
            profiled_items(calls, into);
        }
    }
}

#[tokio::test]
async fn a_profiled_request_reports_its_time_per_category() {
    let app = TestApp::spawn_with_tenant().await;
    let started = Instant::now();
    let response = app
        .admin(Method::GET, "/1.0/kb/tenants?apiKey=tenant-key")
        .header("X-Killbill-Profiling-Req", "DAO,DAO_CONNECTION")
        .send()
        .await
        .expect("GET");
    let wall_usec = started.elapsed().as_micros() as u64;
    let response = expect_status(response, StatusCode::OK).await;
    let header = crate::harness::header(&response, "X-Killbill-Profiling-Resp");
    let profile: Value = serde_json::from_str(&header).expect("JSON profiling data");
    assert_keys(&profile, &["rawData"], "profiling data");
    let top: u64 = profile["rawData"]
        .as_array()
        .expect("rawData")
        .iter()
        .map(|item| item["durationUsec"].as_u64().expect("durationUsec"))
        .sum();
    assert!(
        top <= wall_usec,
        "{top} µs profiled in {wall_usec} µs: {profile}"
    );
    let mut items = Vec::new();
    profiled_items(&profile["rawData"], &mut items);
    let names: Vec<&str> = items.iter().map(|(name, _)| name.as_str()).collect();
    assert!(names.contains(&"DAO_CONNECTION:main"), "{profile}");
    assert!(
        names.contains(&"DAO:tenants:find_tenant_by_api_key"),
        "{profile}"
    );

    // JAXRS wraps the rest; only the categories asked for appear.
    let response = app
        .admin(Method::GET, "/1.0/kb/tenants?apiKey=tenant-key")
        .header("X-Killbill-Profiling-Req", "JAXRS,DAO")
        .send()
        .await
        .expect("GET");
    let header = crate::harness::header(&response, "X-Killbill-Profiling-Resp");
    let profile: Value = serde_json::from_str(&header).expect("JSON profiling data");
    let raw = profile["rawData"].as_array().expect("rawData");
    assert_eq!(raw.len(), 1, "{profile}");
    assert_eq!(raw[0]["name"], json!("JAXRS:/1.0/kb/tenants"));
    let mut items = Vec::new();
    profiled_items(&raw[0]["calls"], &mut items);
    assert!(!items.is_empty(), "{profile}");
    assert!(
        items.iter().all(|(name, _)| name.starts_with("DAO:")),
        "{profile}"
    );

    // Without the request header there is no profiling header.
    let response = app
        .admin(Method::GET, "/1.0/kb/tenants?apiKey=tenant-key")
        .send()
        .await
        .expect("GET");
    assert!(response
        .headers()
        .get("X-Killbill-Profiling-Resp")
        .is_none());
    app.stop().await;
}

#[tokio::test]
async fn the_ops_pages_need_no_credentials() {
    let app = TestApp::spawn().await;
    for path in ["/1.0/metrics?pretty=true", "/metrics", "/1.0/threads"] {
        let response = app.bare(Method::GET, path).send().await.expect("GET");
        let response = expect_status(response, StatusCode::OK).await;
        let body = response.text().await.expect("a body");
        if path.starts_with("/1.0/metrics") {
            assert!(body.starts_with("{\n"), "indented: {body}");
        }
    }
    app.stop().await;
}

/// `ferrobill.metrics.enabled=false` installs no recorder, so it needs its own process (this
/// binary's servers share one): both pages still answer, with nothing in them.
#[tokio::test]
async fn disabled_metrics_leave_both_pages_answering_empty() {
    use crate::process::{ferrobill, fresh_workdir, ServerProcess};

    let workdir = fresh_workdir("metrics-disabled");
    let mut command = ferrobill(&workdir);
    command.env("FERROBILL_METRICS_ENABLED", "false");
    let server = ServerProcess::start(command);
    let http = crate::harness::http_client();
    // A request that would be counted if metrics were on.
    let health = http
        .get(format!("{}/1.0/healthcheck", server.address))
        .send()
        .await
        .expect("GET /1.0/healthcheck");
    assert_eq!(health.status(), StatusCode::OK);

    let json = http
        .get(format!("{}/1.0/metrics", server.address))
        .send()
        .await
        .expect("GET /1.0/metrics");
    assert_eq!(json.status(), StatusCode::OK);
    let json: Value = json.json().await.expect("JSON");
    for kind in ["gauges", "counters", "histograms", "meters", "timers"] {
        assert_eq!(json[kind], json!({}), "{kind} in {json}");
    }
    let text = http
        .get(format!("{}/metrics", server.address))
        .send()
        .await
        .expect("GET /metrics");
    assert_eq!(text.status(), StatusCode::OK);
    assert_eq!(text.text().await.expect("text").trim(), "");

    server.signal(nix::sys::signal::Signal::SIGTERM);
    assert!(server.wait().success());
    let _ = std::fs::remove_dir_all(&workdir);
}
