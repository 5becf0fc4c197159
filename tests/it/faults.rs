//! Faults outside ferrobill, injected while it serves: PostgreSQL restarted (fast shutdown,
//! then start) under load, PostgreSQL stalled by a lock, and push-notification callbacks that
//! hang or fail. Each test asserts that nothing acknowledged is lost or done twice, that
//! failures are fast 503s with Kill Bill's error JSON, and prints what it measured for
//! docs/reliability.md (lines starting `FAULT`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode as AxumStatus;
use axum::routing::post;
use axum::Router;
use ferrobill::db::embedded::EmbeddedCluster;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{json, Value};

use crate::harness::{
    bus_entries_left, count, external_account_creations, own_postgres, wait_until, TenantKeys,
    TestApp, TestCluster,
};

const CONNECTION_EXCEPTION: &str = "java.sql.SQLTransientConnectionException";
const SERVICE_UNAVAILABLE_EXCEPTION: &str = "javax.ws.rs.ServiceUnavailableException";

/// One answered request of a load generator.
#[derive(Debug, Clone)]
struct Answer {
    key: String,
    started: Instant,
    finished: Instant,
    status: Option<StatusCode>,
    class_name: Option<String>,
}

impl Answer {
    fn elapsed(&self) -> Duration {
        self.finished - self.started
    }
}

/// Creates an account and records how it was answered.
async fn create_account(request: RequestBuilder, key: String) -> Answer {
    let started = Instant::now();
    let response = request
        .json(&json!({"externalKey": key, "currency": "USD"}))
        .send()
        .await;
    let (status, class_name) = match response {
        Ok(response) => {
            let status = response.status();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            (Some(status), body["className"].as_str().map(str::to_string))
        }
        Err(_) => (None, None),
    };
    Answer {
        key,
        started,
        finished: Instant::now(),
        status,
        class_name,
    }
}

/// Every acknowledged account is in the database exactly once, and nothing else is.
async fn assert_acknowledged_accounts_stored(sql: &tokio_postgres::Client, answers: &[Answer]) {
    let acknowledged: Vec<&Answer> = answers
        .iter()
        .filter(|answer| answer.status == Some(StatusCode::CREATED))
        .collect();
    for answer in &acknowledged {
        let found = sql
            .query_one(
                "select count(*) from accounts where external_key = $1",
                &[&answer.key],
            )
            .await
            .expect("a count")
            .get::<_, i64>(0);
        assert_eq!(found, 1, "acknowledged account {} stored once", answer.key);
    }
}

#[tokio::test]
async fn postgres_restarted_under_load_fails_fast_then_recovers_without_a_restart() {
    let (cluster, options, db) = own_postgres("pg-restart").await;
    let data_dir = options.data_dir.clone();
    let mut app = TestApp::spawn_on(
        db.clone(),
        &[
            ("org.killbill.dao.maxActive", "10"),
            ("org.killbill.billing.osgi.dao.maxActive", "10"),
            ("org.killbill.dao.connectionTimeout", "2s"),
            ("org.killbill.persistent.bus.main.sleep", "100"),
            ("org.killbill.persistent.bus.external.sleep", "100"),
            ("org.killbill.notificationq.main.sleep", "100"),
        ],
    )
    .await;
    app.use_new_tenant("restart").await;

    // Four clients creating accounts, paced, until told to stop.
    let answers = Arc::new(Mutex::new(Vec::<Answer>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let unavailable = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for worker in 0..4 {
        let (answers, stop, unavailable) = (answers.clone(), stop.clone(), unavailable.clone());
        let node = (app.address.clone(), app.tenant.clone().expect("a tenant"));
        let http = app.http.clone();
        workers.push(tokio::spawn(async move {
            let mut pace = tokio::time::interval(Duration::from_millis(25));
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                pace.tick().await;
                let request =
                    tenant_request(&http, &node.0, &node.1, Method::POST, "/1.0/kb/accounts");
                let answer = create_account(request, format!("restart-{worker}-{n}")).await;
                if answer.status == Some(StatusCode::SERVICE_UNAVAILABLE) {
                    unavailable.fetch_add(1, Ordering::SeqCst);
                }
                answers.lock().expect("answers").push(answer);
                n += 1;
            }
        }));
    }
    let acknowledged = || {
        answers
            .lock()
            .expect("answers")
            .iter()
            .filter(|answer| answer.status == Some(StatusCode::CREATED))
            .count()
    };
    wait_until(
        "load before the outage",
        Duration::from_secs(30),
        || async { acknowledged() >= 20 },
    )
    .await;

    // Fast shutdown: PostgreSQL disconnects every session and exits.
    let stopping = Instant::now();
    cluster.stop().await.expect("fast shutdown");
    let down_at = Instant::now();
    println!(
        "PostgreSQL stopped in {:.0} ms",
        (down_at - stopping).as_secs_f64() * 1000.0
    );
    wait_until(
        "requests refused during the outage",
        Duration::from_secs(30),
        // Long enough (about 3 s at this pace) that work in flight when the database went
        // away cannot be recorded by a few quick retries.
        || async { unavailable.load(Ordering::SeqCst) >= 450 },
    )
    .await;
    let health = app
        .bare(Method::GET, "/1.0/healthcheck")
        .send()
        .await
        .expect("GET /1.0/healthcheck");
    assert_eq!(health.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let health: Value = health.json().await.expect("health JSON");
    assert_eq!(
        health["main.pool.ConnectivityCheck"]["healthy"], false,
        "{health}"
    );

    let restarting = Instant::now();
    let cluster = EmbeddedCluster::start(options)
        .await
        .expect("restart PostgreSQL");
    let up_at = Instant::now();
    wait_until(
        "a request served again",
        Duration::from_secs(30),
        || async {
            answers.lock().expect("answers").iter().any(|answer| {
                answer.started >= restarting && answer.status == Some(StatusCode::CREATED)
            })
        },
    )
    .await;
    let served_again = answers
        .lock()
        .expect("answers")
        .iter()
        .filter(|answer| answer.started >= restarting && answer.status == Some(StatusCode::CREATED))
        .map(|answer| answer.finished)
        .min()
        .expect("a request served after the restart");
    // Whichever comes last: PostgreSQL's own start (EmbeddedCluster::start returns once it
    // accepts connections), or ferrobill's first success after it began.
    let recovery = served_again.saturating_duration_since(up_at);
    let served_before = acknowledged();
    wait_until("load after the outage", Duration::from_secs(30), || async {
        acknowledged() >= served_before + 20
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    for worker in workers {
        worker.await.expect("a load worker");
    }
    let answers = answers.lock().expect("answers").clone();

    // During the outage: only fast 503s with Kill Bill's connection error.
    let during: Vec<&Answer> = answers
        .iter()
        .filter(|answer| answer.started >= down_at && answer.finished <= restarting)
        .collect();
    assert!(
        during.len() >= 40,
        "{} requests during the outage",
        during.len()
    );
    for answer in &during {
        assert_eq!(
            answer.status,
            Some(StatusCode::SERVICE_UNAVAILABLE),
            "{answer:?}"
        );
        assert_eq!(
            answer.class_name.as_deref(),
            Some(CONNECTION_EXCEPTION),
            "{answer:?}"
        );
    }
    let slowest_refusal = during
        .iter()
        .map(|answer| answer.elapsed())
        .max()
        .unwrap_or_default();
    assert!(
        slowest_refusal < Duration::from_secs(1),
        "refusals are fast: {slowest_refusal:?}"
    );
    // Around it: 201 or 503, never a 500 or a dropped connection.
    for answer in &answers {
        assert!(
            matches!(
                answer.status,
                Some(StatusCode::CREATED) | Some(StatusCode::SERVICE_UNAVAILABLE)
            ),
            "{answer:?}"
        );
    }
    assert!(
        recovery < Duration::from_secs(10),
        "served again {recovery:?} after PostgreSQL came back"
    );

    let sql = db.client().await;
    assert_acknowledged_accounts_stored(&sql, &answers).await;
    // Pools refilled and the health check agrees; the bus resumed and dispatched every
    // creation event exactly once.
    wait_until(
        "the health check healthy again",
        Duration::from_secs(30),
        || async {
            let Ok(response) = app.bare(Method::GET, "/1.0/healthcheck").send().await else {
                return false;
            };
            let health: Value = response.json().await.unwrap_or(Value::Null);
            health["main.pool.ConnectivityCheck"]["healthy"] == true
                && health["osgi.pool.ConnectivityCheck"]["healthy"] == true
        },
    )
    .await;
    assert!(
        app.app().main_pool_state().size > 0,
        "the main pool refilled"
    );
    wait_until("both buses drained", Duration::from_secs(60), || async {
        bus_entries_left(&sql).await == 0
    })
    .await;
    let accounts = count(&sql, "select count(*) from accounts").await;
    assert_eq!(
        count(
            &sql,
            "select count(*) from bus_events_history
             where class_name like '%AccountCreationEvent' and processing_state = 'PROCESSED'"
        )
        .await,
        accounts,
        "one creation event per account"
    );
    assert_eq!(
        external_account_creations(&sql).await,
        accounts,
        "one external creation event per account"
    );
    let acknowledged_total = answers
        .iter()
        .filter(|answer| answer.status == Some(StatusCode::CREATED))
        .count();
    println!(
        "FAULT postgres-restart: {} requests, {acknowledged_total} acknowledged, {} refused with 503 \
         ({} during the outage, slowest refusal {:.0} ms), losses 0, duplicates 0; outage {:.1} s; \
         PostgreSQL took {:.0} ms to start again; first request served {:.0} ms after the restart \
         began, {:.0} ms after start() returned",
        answers.len(),
        answers.len() - acknowledged_total,
        during.len(),
        slowest_refusal.as_secs_f64() * 1000.0,
        (up_at - stopping).as_secs_f64(),
        (up_at - restarting).as_secs_f64() * 1000.0,
        (served_again - restarting).as_secs_f64() * 1000.0,
        recovery.as_secs_f64() * 1000.0
    );
    app.take_app().shutdown().await.expect("clean shutdown");
    cluster.stop().await.expect("stop PostgreSQL");
    let _ = std::fs::remove_dir_all(&data_dir);
}

/// A request as `tenant` to the server at `address`.
fn tenant_request(
    http: &reqwest::Client,
    address: &str,
    tenant: &TenantKeys,
    method: Method,
    path: &str,
) -> RequestBuilder {
    http.request(method, format!("{address}{path}"))
        .basic_auth("admin", Some("password"))
        .header("X-Killbill-ApiKey", &tenant.api_key)
        .header("X-Killbill-ApiSecret", &tenant.api_secret)
        .header("X-Killbill-CreatedBy", "integration-test")
}

/// This process's resident memory in kB.
fn resident_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmRSS:"))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|kb| kb.parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::test]
async fn a_stalled_database_gives_pool_timeouts_and_sheds_the_excess_at_once() {
    const REQUESTS: usize = 60;
    const MAX_IN_FLIGHT: usize = 10;
    const MAX_WAITING: usize = 5;
    let connection_timeout = Duration::from_secs(1);
    let mut app = TestApp::spawn_with(&[
        ("org.killbill.dao.maxActive", "6"),
        ("org.killbill.dao.connectionTimeout", "1s"),
        ("ferrobill.server.maxInFlight", "10"),
        ("ferrobill.server.maxWaiting", "5"),
        ("ferrobill.server.requestTimeout", "30s"),
        ("org.killbill.persistent.bus.main.sleep", "100"),
        ("org.killbill.persistent.bus.external.sleep", "100"),
    ])
    .await;
    app.use_new_tenant("stalled").await;
    // The tenant is cached and the buses are idle before the database stalls.
    let warm_up = create_account(app.kb(Method::POST, "/1.0/kb/accounts"), "warm-up".into()).await;
    assert_eq!(warm_up.status, Some(StatusCode::CREATED));
    let sql = app.db.client().await;
    wait_until("the buses idle", Duration::from_secs(30), || async {
        bus_entries_left(&sql).await == 0
    })
    .await;

    // Every statement on accounts now waits inside PostgreSQL, holding its connection.
    let lock = app.lock_table("accounts").await;
    let rss_before = resident_kb();
    // Each answer is collected as it comes, so those held by the stall do not hide the rest.
    let answered = Arc::new(Mutex::new(Vec::<Answer>::new()));
    let mut requests = Vec::with_capacity(REQUESTS);
    for index in 0..REQUESTS {
        let request = app.kb(Method::POST, "/1.0/kb/accounts");
        let answered = answered.clone();
        requests.push(tokio::spawn(async move {
            let answer = create_account(request, format!("stalled-{index}")).await;
            answered.lock().expect("answers").push(answer);
        }));
    }
    // Everything not stuck behind the lock is answered while the lock is held.
    let observer = app.db.client().await;
    wait_until(
        "every request answered or blocked on the lock",
        Duration::from_secs(30),
        || async {
            let waiters = crate::harness::lock_waiters(&observer).await as usize;
            let count = answered.lock().expect("answers").len();
            waiters > 0 && count + waiters == REQUESTS
        },
    )
    .await;
    let rss_stalled = resident_kb();
    let blocked = REQUESTS - answered.lock().expect("answers").len();
    lock.release().await;
    for request in requests {
        request.await.expect("a request task");
    }
    let answers = answered.lock().expect("answers").clone();

    let shed: Vec<&Answer> = answers
        .iter()
        .filter(|answer| answer.class_name.as_deref() == Some(SERVICE_UNAVAILABLE_EXCEPTION))
        .collect();
    let pool_timeouts: Vec<&Answer> = answers
        .iter()
        .filter(|answer| answer.class_name.as_deref() == Some(CONNECTION_EXCEPTION))
        .collect();
    let created = answers
        .iter()
        .filter(|answer| answer.status == Some(StatusCode::CREATED))
        .count();
    assert_eq!(
        shed.len() + pool_timeouts.len() + created,
        REQUESTS,
        "every answer is 201 or a 503: {answers:?}"
    );
    assert!(
        shed.len() >= REQUESTS - MAX_IN_FLIGHT - MAX_WAITING,
        "the excess is refused: {} of {REQUESTS}",
        shed.len()
    );
    for answer in shed.iter().chain(&pool_timeouts) {
        assert_eq!(
            answer.status,
            Some(StatusCode::SERVICE_UNAVAILABLE),
            "{answer:?}"
        );
    }
    let slowest_shed = shed
        .iter()
        .map(|answer| answer.elapsed())
        .max()
        .unwrap_or_default();
    assert!(
        slowest_shed < Duration::from_millis(500),
        "refused at once, not queued: {slowest_shed:?}"
    );
    assert!(!pool_timeouts.is_empty(), "the pool ran dry: {answers:?}");
    for answer in &pool_timeouts {
        let waited = answer.elapsed();
        assert!(
            // At most two rounds of admission waits (the slots free up as pool waits time
            // out), then the pool's own wait; the rest is slack for a loaded machine.
            waited >= connection_timeout.mul_f64(0.9)
                && waited < connection_timeout * 3 + Duration::from_secs(2),
            "a pool timeout after about connectionTimeout (admission wait included): {answer:?}"
        );
    }
    assert_eq!(
        created, blocked,
        "the requests held by the stall complete after it"
    );
    assert_acknowledged_accounts_stored(&sql, &answers).await;
    assert_eq!(
        count(&sql, "select count(*) from accounts").await,
        created as i64 + 1,
        "nothing refused was stored"
    );
    let (fastest_timeout, slowest_timeout) = (
        pool_timeouts
            .iter()
            .map(|a| a.elapsed())
            .min()
            .unwrap_or_default(),
        pool_timeouts
            .iter()
            .map(|a| a.elapsed())
            .max()
            .unwrap_or_default(),
    );
    println!(
        "FAULT postgres-stalled: {REQUESTS} concurrent requests (maxInFlight {MAX_IN_FLIGHT}, \
         maxWaiting {MAX_WAITING}, main pool 6, connectionTimeout 1s): {} shed with 503 in at most \
         {:.0} ms, {} pool timeouts (503) after {:.2}-{:.2} s, {created} held by the stall and \
         created after it; losses 0, duplicates 0; test process RSS {rss_before} kB before, \
         {rss_stalled} kB while stalled",
        shed.len(),
        slowest_shed.as_secs_f64() * 1000.0,
        pool_timeouts.len(),
        fastest_timeout.as_secs_f64(),
        slowest_timeout.as_secs_f64(),
    );
    app.stop().await;
}

/// How a callback server answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Behaviour {
    Healthy,
    Fails,
    Hangs,
}

struct CallbackState {
    behaviour: Behaviour,
    /// Arrival times of ACCOUNT_CREATION notifications, by account id.
    arrivals: Mutex<HashMap<String, Vec<Instant>>>,
}

async fn callback(State(state): State<Arc<CallbackState>>, body: String) -> AxumStatus {
    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    if body["eventType"] == "ACCOUNT_CREATION" {
        let account = body["objectId"].as_str().unwrap_or_default().to_string();
        state
            .arrivals
            .lock()
            .expect("arrivals")
            .entry(account)
            .or_default()
            .push(Instant::now());
    }
    match state.behaviour {
        Behaviour::Healthy => AxumStatus::OK,
        Behaviour::Fails => AxumStatus::INTERNAL_SERVER_ERROR,
        Behaviour::Hangs => {
            std::future::pending::<()>().await;
            AxumStatus::OK
        }
    }
}

/// A callback server on loopback behaving as told; returns its URL and what it received.
async fn start_callback(behaviour: Behaviour) -> (String, Arc<CallbackState>) {
    let state = Arc::new(CallbackState {
        behaviour,
        arrivals: Mutex::new(HashMap::new()),
    });
    let router = Router::new()
        .route("/callback", post(callback))
        .with_state(state.clone());
    let address = crate::harness::serve_on_loopback(router).await;
    (format!("http://{address}/callback"), state)
}

fn attempts(state: &CallbackState) -> usize {
    state
        .arrivals
        .lock()
        .expect("arrivals")
        .values()
        .map(Vec::len)
        .sum()
}

#[tokio::test]
async fn a_hanging_or_failing_callback_slows_nothing_else() {
    const ACCOUNTS_PER_TENANT: usize = 6;
    // One delivery and two retries, 300 ms then 600 ms after a failure.
    const DELIVERIES: usize = 3;
    let delivery_timeout = Duration::from_millis(500);
    let mut cluster = TestCluster::spawn_with(&[
        ("ferrobill.notifications.timeout", "500ms"),
        (
            "org.killbill.billing.server.notifications.retries",
            "300ms,600ms",
        ),
        ("org.killbill.notificationq.main.sleep", "50"),
        ("org.killbill.persistent.bus.main.sleep", "50"),
        ("org.killbill.persistent.bus.external.sleep", "50"),
    ])
    .await;
    let mut tenants = Vec::new();
    for (name, behaviour) in [
        ("healthy", Behaviour::Healthy),
        ("failing", Behaviour::Fails),
        ("hanging", Behaviour::Hangs),
    ] {
        let keys = cluster.create_tenant(name, &format!("{name}-secret")).await;
        let (url, state) = start_callback(behaviour).await;
        let node = cluster.node(0);
        let response = tenant_request(
            &node.http,
            &node.address,
            &keys,
            Method::POST,
            "/1.0/kb/tenants/registerNotificationCallback",
        )
        .query(&[("cb", url.as_str())])
        .send()
        .await
        .expect("register a callback");
        assert_eq!(response.status(), StatusCode::CREATED);
        tenants.push((keys, state));
    }

    // Interleaved creations over the three nodes; each tenant's accounts, in order.
    let mut created: Vec<(usize, String, Instant)> = Vec::new();
    let mut latencies = Vec::new();
    for index in 0..ACCOUNTS_PER_TENANT * tenants.len() {
        let tenant = index % tenants.len();
        let node = cluster.node(index);
        let request = tenant_request(
            &node.http,
            &node.address,
            &tenants[tenant].0,
            Method::POST,
            "/1.0/kb/accounts",
        );
        let started = Instant::now();
        let response = request
            .json(&json!({"externalKey": format!("push-{index}"), "currency": "USD"}))
            .send()
            .await
            .expect("POST /1.0/kb/accounts");
        let finished = Instant::now();
        assert_eq!(response.status(), StatusCode::CREATED);
        latencies.push(finished - started);
        let account_id = response
            .headers()
            .get("location")
            .and_then(|value| value.to_str().ok())
            .and_then(|location| location.rsplit('/').next())
            .expect("a Location")
            .to_string();
        created.push((tenant, account_id, finished));
    }
    latencies.sort_unstable();
    let median_creation = latencies[latencies.len() / 2];
    let slowest_creation = latencies.last().copied().unwrap_or_default();
    // The median is the claim; the slowest only guards against a stall (one request on a
    // machine shared with builds can take a second).
    assert!(
        median_creation < Duration::from_millis(500) && slowest_creation < Duration::from_secs(5),
        "account creation stays fast: median {median_creation:?}, slowest {slowest_creation:?}"
    );

    // The healthy tenant's notifications arrive promptly despite the others.
    let healthy = tenants[0].1.clone();
    wait_until(
        "the healthy callback's notifications",
        Duration::from_secs(30),
        || async { attempts(&healthy) >= ACCOUNTS_PER_TENANT },
    )
    .await;
    let mut slowest_delivery = Duration::ZERO;
    {
        let arrivals = healthy.arrivals.lock().expect("arrivals");
        for (_, account_id, acknowledged_at) in created.iter().filter(|(t, _, _)| *t == 0) {
            let times = arrivals
                .get(account_id)
                .expect("a notification per account");
            assert_eq!(times.len(), 1, "delivered once: {account_id}");
            slowest_delivery =
                slowest_delivery.max(times[0].saturating_duration_since(*acknowledged_at));
        }
    }
    assert!(
        slowest_delivery < Duration::from_secs(3),
        "the healthy tenant is served promptly: {slowest_delivery:?}"
    );

    // The others: one delivery and every retry, spaced by the back-off, then given up.
    for (_, state) in &tenants[1..] {
        let state = state.clone();
        wait_until(
            "every retry of the failing callbacks",
            Duration::from_secs(60),
            || async { attempts(&state) >= ACCOUNTS_PER_TENANT * DELIVERIES },
        )
        .await;
    }
    let sql = cluster.db.client().await;
    wait_until("the retry queue empty", Duration::from_secs(30), || async {
        count(
            &sql,
            "select count(*) from notifications
             where queue_name = 'server-service:push-notification-queue'",
        )
        .await
            == 0
    })
    .await;
    let mut shortest_gaps = [Duration::MAX; DELIVERIES - 1];
    for (_, state) in &tenants[1..] {
        let arrivals = state.arrivals.lock().expect("arrivals");
        assert_eq!(arrivals.len(), ACCOUNTS_PER_TENANT, "{:?}", state.behaviour);
        for times in arrivals.values() {
            assert_eq!(times.len(), DELIVERIES, "{:?}: {times:?}", state.behaviour);
            for (retry, pair) in times.windows(2).enumerate() {
                shortest_gaps[retry] = shortest_gaps[retry].min(pair[1] - pair[0]);
            }
        }
    }
    // A retry comes its delay after the failure; a hang fails at the delivery timeout.
    assert!(
        shortest_gaps[0] >= Duration::from_millis(250),
        "{shortest_gaps:?}"
    );
    assert!(
        shortest_gaps[1] >= Duration::from_millis(550),
        "{shortest_gaps:?}"
    );
    println!(
        "FAULT push-callback: 3 nodes, {} accounts for 3 tenants (callbacks healthy, 500, hanging \
         with a {} ms delivery timeout): account creation median {:.0} ms, slowest {:.0} ms; slowest healthy \
         delivery {:.0} ms after the 201, failing callbacks tried {DELIVERIES} times each with \
         gaps of at least {:.0} ms and {:.0} ms, then dropped; losses 0 (healthy), duplicates 0",
        created.len(),
        delivery_timeout.as_millis(),
        median_creation.as_secs_f64() * 1000.0,
        slowest_creation.as_secs_f64() * 1000.0,
        slowest_delivery.as_secs_f64() * 1000.0,
        shortest_gaps[0].as_secs_f64() * 1000.0,
        shortest_gaps[1].as_secs_f64() * 1000.0,
    );
    cluster.stop().await;
}
