//! `/dashboard` and `/dashboard/data`: strict query reading with Kill Bill's 400s, a page that
//! loads nothing from elsewhere and names each live figure, and, in headless Chromium, the
//! pool, plugin, queue and request figures moving when load arrives.
//!
//! The load is bounded: it stops when the test says so, and by itself after [`LOAD_LIMIT`].
//! The browser is Chromium (`scripts/ensure-chromium.sh`); without it the browser test fails
//! with the one line saying how to install it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use browser::Chromium;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{json, Value};

use crate::harness::{expect_kb_error, expect_status, header, wait_until, TestApp, APPROVED_CARD};

/// Load stops by itself after this, whatever the test does.
const LOAD_LIMIT: Duration = Duration::from_secs(90);
/// Virtual time the page's script gets in a DOM dump or screenshot.
const SCRIPTS_FOR: Duration = Duration::from_secs(3);

/// Figures a dashboard always shows, one per kind of row.
const FIGURES: [&str; 16] = [
    "ferrobill.dashboard.sample",
    "ferrobill.health.status",
    "ferrobill.health.message",
    "ferrobill.http.all.perSecond",
    "ferrobill.http.accounts.p99",
    "ferrobill.http.payments.perSecond",
    "ferrobill.http.responses.503.admission",
    "ferrobill.http.responses.429",
    "main.pool.ActiveConnections",
    "osgi.pool.PendingConnections",
    "osgi.pool.Wait.max",
    "ferrobill.plugin.slotsInUse",
    "org.killbill.payment.plugin.threads.nb",
    "ferrobill.queue.bus-bus_events.readyEntries",
    "ferrobill.queue.notif-notifications.growthSlope",
    "ferrobill.process.rssMiB",
];

async fn data(app: &TestApp, query: &str) -> Value {
    let response = app
        .bare(Method::GET, &format!("/dashboard/data{query}"))
        .send()
        .await
        .expect("GET /dashboard/data");
    expect_status(response, StatusCode::OK)
        .await
        .json()
        .await
        .expect("JSON")
}

fn figure(figures: &BTreeMap<String, String>, name: &str) -> f64 {
    let value = figures
        .get(name)
        .unwrap_or_else(|| panic!("no figure {name} in {figures:?}"));
    value.parse().unwrap_or(0.0)
}

fn figures_of(data: &Value) -> BTreeMap<String, String> {
    serde_json::from_value(data["figures"].clone()).expect("figures are text")
}

#[tokio::test]
async fn bad_queries_are_refused_with_kill_bills_error_json() {
    let app = TestApp::spawn().await;
    for query in [
        "/dashboard/data?seconds=5",
        "/dashboard/data?seconds=901",
        "/dashboard/data?seconds=ten",
        "/dashboard/data?charts=yes",
        "/dashboard/data?since=-1",
        "/dashboard/data?since=1&since=2",
        "/dashboard/data?window=60",
        "/dashboard/data?seconds=%ZZ",
        "/dashboard?since=3",
        "/dashboard?seconds=0",
    ] {
        let response = app.bare(Method::GET, query).send().await.expect(query);
        let body = expect_kb_error(response, StatusCode::BAD_REQUEST).await;
        assert_eq!(
            body["className"], "java.lang.IllegalArgumentException",
            "{query}: {body}"
        );
    }
    let fine = data(&app, "?charts=false&seconds=60&since=0").await;
    assert!(fine["samples"].is_array(), "{fine}");
    app.stop().await;
}

#[tokio::test]
async fn the_page_loads_nothing_from_elsewhere_and_names_every_figure() {
    let app = TestApp::spawn().await;
    let response = app
        .bare(Method::GET, "/dashboard")
        .send()
        .await
        .expect("GET /dashboard");
    let response = expect_status(response, StatusCode::OK).await;
    assert_eq!(
        header(&response, "content-type"),
        "text/html; charset=utf-8"
    );
    let page = response.text().await.expect("HTML");
    for outside in ["src=", "@import", "url("] {
        assert!(
            !page.contains(outside),
            "the page loads something: {outside}"
        );
    }
    // Links go to the page itself (its chart windows) or are inline (the empty favicon).
    for link in page.split("href=\"").skip(1) {
        assert!(
            link.starts_with('?') || link.starts_with("data:"),
            "the page links elsewhere: {}",
            &link[..link.len().min(60)]
        );
    }
    let shown = browser::metric_values(&page);
    let figures = figures_of(&data(&app, "").await);
    for name in figures.keys() {
        assert!(
            shown.contains_key(name),
            "{name} has no data-metric element"
        );
    }
    for name in FIGURES {
        assert!(figures.contains_key(name), "{name} is not a figure");
    }
    assert!(page.contains("data-property=\"org.killbill.dao.maxActive\""));
    wait_until("a first sample", Duration::from_secs(30), || async {
        data(&app, "").await["sequence"].as_u64() >= Some(1)
    })
    .await;
    let charts = data(&app, "?charts=true&seconds=60").await;
    let svg = charts["charts"]["osgi"]
        .as_str()
        .expect("the plugin pool's chart");
    assert!(
        svg.starts_with("<svg") && svg.contains("maxActive 100"),
        "{svg}"
    );
    app.stop().await;
}

/// Account creations and purchases until stopped, or [`LOAD_LIMIT`].
struct Load {
    stop: Arc<AtomicBool>,
    users: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    /// `creators` users creating accounts, and `buyers` users each purchasing on a card of
    /// its own.
    async fn start(app: &TestApp, creators: usize, buyers: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let deadline = Instant::now() + LOAD_LIMIT;
        let mut templates = Vec::new();
        for _ in 0..creators {
            templates.push(
                app.kb(Method::POST, "/1.0/kb/accounts")
                    .json(&json!({ "currency": "USD" })),
            );
        }
        for buyer in 0..buyers {
            let account_id = app
                .account_with_card(&format!("buyer-{buyer}"), APPROVED_CARD)
                .await;
            templates.push(
                app.kb(
                    Method::POST,
                    &format!("/1.0/kb/accounts/{account_id}/payments"),
                )
                .json(&json!({ "transactionType": "PURCHASE", "amount": 1 })),
            );
        }
        let users = templates
            .into_iter()
            .map(|template: RequestBuilder| {
                let stop = stop.clone();
                tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                        let request = template.try_clone().expect("a JSON body clones");
                        let _ = request.send().await;
                    }
                })
            })
            .collect();
        Load { stop, users }
    }

    async fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for user in self.users {
            let _ = user.await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_shows_the_dashboard_follow_the_load() {
    let chromium = Chromium::find().unwrap_or_else(|error| panic!("{error}"));
    // The plugin pool's one connection is held half a second per payment call, so the buyers
    // always fill it and queue for it; the main bus dispatches nothing here, so its ready
    // entries grow with every account created.
    let app = TestApp::spawn_with(&[
        ("org.killbill.billing.osgi.dao.maxActive", "1"),
        ("org.killbill.payment.plugin.threads.nb", "4"),
        ("ferrobill.gateway.latency", "500ms"),
        ("org.killbill.persistent.bus.main.off", "true"),
    ])
    .await;
    let mut app = app;
    app.use_new_tenant("dashboard").await;
    let page = app.url("/dashboard");
    // The probes (health, ready entries) start once someone watches.
    data(&app, "").await;
    wait_until("a first health report", Duration::from_secs(30), || async {
        figures_of(&data(&app, "").await)["ferrobill.health.status"] != "unknown"
    })
    .await;
    let idle = browser::metric_values(
        &chromium
            .dump_dom(&page, SCRIPTS_FOR)
            .await
            .unwrap_or_else(|error| panic!("{error}")),
    );
    for name in FIGURES {
        assert!(idle.contains_key(name), "{name} missing from the page");
    }
    assert_eq!(idle["ferrobill.health.status"], "healthy", "{idle:?}");

    let load = Load::start(&app, 3, 4).await;
    wait_until("the load to show", Duration::from_secs(60), || async {
        let figures = figures_of(&data(&app, "").await);
        figure(&figures, "ferrobill.http.accounts.perSecond") > 0.0
            && figure(&figures, "osgi.pool.ActiveConnections") >= 1.0
            && figure(&figures, "osgi.pool.PendingConnections") >= 1.0
            && figure(&figures, "ferrobill.plugin.slotsInUse") >= 2.0
            && figure(&figures, "ferrobill.queue.bus-bus_events.readyEntries") > 0.0
    })
    .await;
    let loaded = browser::metric_values(
        &chromium
            .dump_dom(&page, SCRIPTS_FOR)
            .await
            .unwrap_or_else(|error| panic!("{error}")),
    );
    let screenshot = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("screenshots")
        .join("dashboard-under-load.png");
    std::fs::create_dir_all(screenshot.parent().expect("a directory")).expect("mkdir");
    chromium
        .screenshot(&page, &screenshot, (1400, 2600), SCRIPTS_FOR)
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    let samples = data(&app, "?since=0").await;
    load.stop().await;

    let changed = |name: &str, grew: fn(f64, f64) -> bool| {
        let (before, after) = (figure(&idle, name), figure(&loaded, name));
        assert!(
            grew(before, after),
            "{name}: {before} idle, {after} under load"
        );
    };
    changed("ferrobill.http.accounts.perSecond", |idle, load| {
        idle == 0.0 && load > 0.0
    });
    changed("ferrobill.http.all.perSecond", |idle, load| load > idle);
    // Idle, the health probe may be holding the connection at the instant of the sample.
    changed("osgi.pool.ActiveConnections", |idle, load| {
        idle <= 1.0 && load == 1.0
    });
    changed("osgi.pool.PendingConnections", |idle, load| {
        idle == 0.0 && load >= 1.0
    });
    changed("ferrobill.plugin.slotsInUse", |idle, load| {
        idle == 0.0 && load >= 1.0
    });
    changed(
        "ferrobill.queue.bus-bus_events.readyEntries",
        |idle, load| load > idle,
    );
    let png = std::fs::read(&screenshot).expect("the screenshot was saved");
    assert!(png.starts_with(b"\x89PNG"), "{}", screenshot.display());

    // The raw samples say the same, second by second.
    let samples = samples["samples"].as_array().expect("samples");
    assert!(samples.iter().any(|sample| {
        sample["pools"][1]["waiting"].as_u64() >= Some(1)
            && sample["plugin"]["inUse"].as_u64() >= Some(1)
            && sample["queues"][0]["ready"].as_i64() > Some(0)
            && sample["http"]["groups"]["payments"]["count"].as_u64() >= Some(1)
    }));
    app.stop().await;
}
