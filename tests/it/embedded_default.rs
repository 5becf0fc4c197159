//! The embedded default: with no database URL, `ferrobill` runs its own PostgreSQL under
//! `./data/postgres`, reuses it on the next start, and recovers after being killed.

use std::time::Duration;

use nix::sys::signal::Signal;
use reqwest::StatusCode;

use crate::harness::http_client;
use crate::process::{ferrobill, fresh_workdir, ServerProcess};

async fn healthcheck(server: &ServerProcess) -> StatusCode {
    http_client()
        .get(format!("{}/1.0/healthcheck", server.address))
        .send()
        .await
        .expect("GET /1.0/healthcheck")
        .status()
}

fn postmaster_pid(workdir: &std::path::Path) -> Option<i32> {
    std::fs::read_to_string(workdir.join("data/postgres/postmaster.pid"))
        .ok()?
        .lines()
        .next()?
        .trim()
        .parse()
        .ok()
}

fn alive(pid: i32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

#[tokio::test]
async fn starts_on_its_own_database_reuses_it_and_recovers_after_kill_9() {
    let workdir = fresh_workdir("embedded");

    // First start: initdb, migrations, healthy.
    let server = ServerProcess::start(ferrobill(&workdir));
    assert_eq!(healthcheck(&server).await, StatusCode::OK);
    assert!(workdir.join("data/postgres/PG_VERSION").exists());
    server.signal(Signal::SIGTERM);
    let status = server.wait();
    assert!(status.success(), "graceful exit on SIGTERM: {status:?}");
    assert!(
        postmaster_pid(&workdir).is_none(),
        "the embedded cluster was stopped with the server"
    );

    // Second start reuses the data directory.
    let server = ServerProcess::start(ferrobill(&workdir));
    assert_eq!(healthcheck(&server).await, StatusCode::OK);
    let postmaster = postmaster_pid(&workdir).expect("postgres is running");

    // kill -9: postgres follows its parent down, and the next start recovers.
    server.signal(Signal::SIGKILL);
    let _ = server.wait();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while alive(postmaster) {
        assert!(
            std::time::Instant::now() < deadline,
            "postgres outlived its killed parent"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let server = ServerProcess::start(ferrobill(&workdir));
    assert_eq!(healthcheck(&server).await, StatusCode::OK);
    // SIGINT (Ctrl-C) stops it as gracefully as SIGTERM.
    server.signal(Signal::SIGINT);
    assert!(server.wait().success());
    assert!(postmaster_pid(&workdir).is_none());
    let _ = std::fs::remove_dir_all(&workdir);
}
