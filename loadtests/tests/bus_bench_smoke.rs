//! A smoke run of the persistent-bus benchmark: 300 events in STICKY_EVENTS with nbThreads 10,
//! posted concurrently and preloaded, on a throw-away embedded cluster under `target/tmp`.
//! It checks the figures are consistent (every posted event handled and in history, rates
//! above zero), not how fast they are: timing goals live in docs/benchmarks.md.

use std::path::PathBuf;
use std::time::Duration;

use loadtests::bus_bench::{BenchDatabase, BenchPlan, BusMode, ClusterPlan, Posting};

const SMOKE_EVENTS: u64 = 300;
/// The whole test, cluster start and stop included, stops by itself after this.
const SMOKE_TIME_LIMIT: Duration = Duration::from_secs(90);

#[tokio::test]
async fn a_quick_sticky_events_run_dispatches_every_posted_event() {
    let data_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("bus-bench-smoke-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data_dir);
    let database = BenchDatabase::start(&ClusterPlan {
        data_dir: data_dir.clone(),
        durable: false,
        max_connections: 60,
    })
    .await
    .expect("the embedded cluster starts and the database is migrated");
    let plan = BenchPlan {
        events: SMOKE_EVENTS,
        posters: 10,
        sleep: Duration::from_millis(10),
        cases: BenchPlan::cases_for(
            &[BusMode::StickyEvents],
            &[10],
            &[10],
            &[Posting::Concurrent, Posting::Preloaded],
        ),
        case_time_limit: Duration::from_secs(30),
    };
    let outcome = tokio::time::timeout(
        SMOKE_TIME_LIMIT,
        loadtests::bus_bench::run_plan(&database, &plan, |_| {}),
    )
    .await;
    database.stop().await.expect("PostgreSQL stops");
    let _ = std::fs::remove_dir_all(&data_dir);

    let figures = outcome
        .expect("the smoke run finishes in time")
        .expect("the smoke run succeeds");
    assert_eq!(figures.len(), 2);
    for row in &figures {
        assert!(!row.timed_out, "{row:?}");
        assert_eq!(row.posted, SMOKE_EVENTS, "{row:?}");
        assert_eq!(row.handled, row.posted, "{row:?}");
        assert_eq!(row.in_history, row.posted as i64, "{row:?}");
        assert_eq!(row.left_live, 0, "{row:?}");
        assert!(row.is_consistent(), "{row:?}");
        assert!(row.posted_per_second() > 0.0, "{row:?}");
        assert!(row.dispatched_per_second() > 0.0, "{row:?}");
        assert!(row.dispatch_time >= row.drain_after_last_post, "{row:?}");
        assert!(
            row.completion_transactions > 0 && row.entries_per_completion() <= 15.0,
            "{row:?}"
        );
    }
    let table = loadtests::bus_bench::markdown_table(&figures);
    assert_eq!(table.lines().count(), 2 + figures.len(), "{table}");
    assert!(
        table.contains("| STICKY_EVENTS | concurrent | 10 | n/a |"),
        "{table}"
    );
}
