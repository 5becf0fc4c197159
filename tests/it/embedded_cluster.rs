//! The embedded cluster's public lifecycle, against a real PostgreSQL.
//! Every test owns a fresh directory under /tmp and stops what it starts.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrobill::db::embedded::{EmbeddedCluster, EmbeddedError, EmbeddedOptions};
use nix::unistd::{geteuid, User};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio_postgres::NoTls;

fn scratch_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("ferrobill-embedded-")
        .tempdir()
        .unwrap()
}

fn options(data_dir: impl Into<PathBuf>) -> EmbeddedOptions {
    EmbeddedOptions {
        data_dir: data_dir.into(),
        port: 5432,
        max_connections: 20,
        durable: false,
        settings: Vec::new(),
    }
}

async fn connect(cluster: &EmbeddedCluster, dbname: &str) -> tokio_postgres::Client {
    let (client, connection) = cluster.pg_config(dbname).connect(NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

async fn select_one(cluster: &EmbeddedCluster) -> i32 {
    let client = connect(cluster, "postgres").await;
    client.query_one("SELECT 1", &[]).await.unwrap().get(0)
}

fn postmaster_pid(data_dir: &Path) -> i32 {
    let text = std::fs::read_to_string(data_dir.join("postmaster.pid")).unwrap();
    text.lines().next().unwrap().trim().parse().unwrap()
}

/// Alive and not a zombie: orphans are never reaped where pid 1 does not
/// reap, so "no /proc entry" alone would be too strict a test of exit.
fn running(pid: i32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat
        .rfind(')')
        .and_then(|end| stat[end + 1..].trim_start().chars().next());
    !matches!(state, Some('Z' | 'X'))
}

/// For processes that are not our children there is nothing to await.
async fn wait_until_gone(pid: i32, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while running(pid) {
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    true
}

/// The (uid, gid) postgres runs as.
fn postgres_identity() -> (u32, u32) {
    if geteuid().is_root() {
        let user = User::from_name("postgres")
            .unwrap()
            .or_else(|| User::from_name("nobody").unwrap())
            .unwrap();
        (user.uid.as_raw(), user.gid.as_raw())
    } else {
        (geteuid().as_raw(), nix::unistd::getegid().as_raw())
    }
}

fn expected_owner() -> u32 {
    postgres_identity().0
}

#[tokio::test]
async fn start_query_stop_leaves_no_postgres_behind() {
    let dir = scratch_dir();
    let cluster = EmbeddedCluster::start(EmbeddedOptions {
        port: 54329,
        ..options(dir.path().join("data"))
    })
    .await
    .unwrap();
    assert_eq!(cluster.superuser(), "postgres");
    assert_eq!(cluster.port(), 54329);
    assert_eq!(
        cluster.socket_dir(),
        cluster.data_dir(),
        "short path: socket in the data dir"
    );
    assert!(cluster.socket_dir().join(".s.PGSQL.54329").exists());
    assert_eq!(select_one(&cluster).await, 1);

    let client = connect(&cluster, "postgres").await;
    let listen: String = client
        .query_one("SHOW listen_addresses", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(listen, "", "Unix socket only, no TCP");
    let fsync: String = client.query_one("SHOW fsync", &[]).await.unwrap().get(0);
    assert_eq!(fsync, "off", "non-durable test cluster");
    let max: String = client
        .query_one("SHOW max_connections", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(max, "20");
    drop(client);

    let pid = postmaster_pid(cluster.data_dir());
    assert!(running(pid));
    let data_dir = cluster.data_dir().to_path_buf();
    cluster.stop().await.unwrap();
    assert!(!running(pid), "postgres {pid} survived stop()");
    assert!(
        !data_dir.join("postmaster.pid").exists(),
        "clean shutdown removes the lock"
    );
}

#[tokio::test]
async fn second_start_reuses_the_cluster() {
    let dir = scratch_dir();
    let data_dir = dir.path().join("data");
    let cluster = EmbeddedCluster::start(options(&data_dir)).await.unwrap();
    let client = connect(&cluster, "postgres").await;
    client
        .batch_execute("CREATE TABLE survivor (id int); INSERT INTO survivor VALUES (7)")
        .await
        .unwrap();
    drop(client);
    cluster.stop().await.unwrap();
    let initialised_at = std::fs::metadata(data_dir.join("PG_VERSION"))
        .unwrap()
        .modified()
        .unwrap();

    let began = Instant::now();
    let cluster = EmbeddedCluster::start(options(&data_dir)).await.unwrap();
    let elapsed = began.elapsed();
    assert!(
        elapsed < Duration::from_secs(10),
        "restart took {elapsed:?}"
    );
    let modified = std::fs::metadata(data_dir.join("PG_VERSION"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(modified, initialised_at, "initdb ran again");
    let client = connect(&cluster, "postgres").await;
    let id: i32 = client
        .query_one("SELECT id FROM survivor", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(id, 7);
    drop(client);
    cluster.stop().await.unwrap();
}

#[tokio::test]
async fn long_data_dir_uses_a_short_socket_dir() {
    let dir = scratch_dir();
    let mut data_dir = dir.path().to_path_buf();
    for segment in [
        "a-rather-long-checkout-directory-name",
        "nested-deeper-still",
        "ferrobill",
    ] {
        data_dir.push(segment);
    }
    data_dir.push("data-postgres");
    assert!(data_dir.as_os_str().len() > 110, "{}", data_dir.display());

    let cluster = EmbeddedCluster::start(options(&data_dir)).await.unwrap();
    let socket_dir = cluster.socket_dir().to_path_buf();
    assert!(
        socket_dir.to_str().unwrap().starts_with("/tmp/ferrobill-"),
        "{}",
        socket_dir.display()
    );
    let meta = std::fs::symlink_metadata(&socket_dir).unwrap();
    assert_eq!(meta.mode() & 0o7777, 0o700);
    assert_eq!(meta.uid(), expected_owner());
    assert!(socket_dir.join(".s.PGSQL.5432").exists());
    assert_eq!(select_one(&cluster).await, 1);
    cluster.stop().await.unwrap();

    // Same data directory, same socket directory next time.
    let cluster = EmbeddedCluster::start(options(&data_dir)).await.unwrap();
    assert_eq!(cluster.socket_dir(), socket_dir);
    cluster.stop().await.unwrap();
    std::fs::remove_dir(&socket_dir).unwrap();
}

const HOLD_ENV: &str = "FERROBILL_EMBEDDED_HOLD_DATA_DIR";

/// Not a test: the child process of `postgres_follows_a_killed_owner`.
#[tokio::test]
#[ignore = "helper process, started by postgres_follows_a_killed_owner"]
async fn hold_cluster_until_killed() {
    let Some(data_dir) = std::env::var_os(HOLD_ENV) else {
        return;
    };
    let cluster = EmbeddedCluster::start(options(PathBuf::from(data_dir)))
        .await
        .unwrap();
    println!("READY {}", postmaster_pid(cluster.data_dir()));
    std::future::pending::<()>().await;
}

#[tokio::test]
async fn postgres_follows_a_killed_owner() {
    let dir = scratch_dir();
    let data_dir = dir.path().join("data");
    let helper_log = dir.path().join("helper.log");
    let mut holder = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "embedded_cluster::hold_cluster_until_killed",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(HOLD_ENV, &data_dir)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&helper_log).unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(holder.stdout.take().unwrap()).lines();
    let ready = tokio::time::timeout(Duration::from_secs(120), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            // libtest prints "test NAME ... " on the same line first.
            if let Some((_, pid)) = line.split_once("READY ") {
                return Some(pid.trim().parse::<i32>().unwrap());
            }
        }
        None
    })
    .await
    .unwrap();
    let Some(pid) = ready else {
        panic!(
            "helper exited before its cluster was ready:\n{}",
            std::fs::read_to_string(&helper_log).unwrap_or_default()
        );
    };
    assert!(running(pid));

    holder.start_kill().unwrap(); // SIGKILL: no destructor, no stop()
    holder.wait().await.unwrap();
    // Nobody signals postgres now; only its parent-death signal can end it.
    assert!(
        wait_until_gone(pid, Duration::from_secs(60)).await,
        "postgres {pid} outlived its killed owner"
    );
    assert!(
        !data_dir.join("postmaster.pid").exists(),
        "the parent-death SIGINT is a clean fast shutdown"
    );

    let began = Instant::now();
    let cluster = EmbeddedCluster::start(options(&data_dir)).await.unwrap();
    assert!(began.elapsed() < Duration::from_secs(10));
    assert_eq!(select_one(&cluster).await, 1);
    cluster.stop().await.unwrap();
}

/// Writes `template` (a real lock file of this cluster) back with `pid`.
fn write_lock(path: &Path, template: &str, pid: u32) {
    let rest: Vec<&str> = template.lines().skip(1).collect();
    std::fs::write(path, format!("{pid}\n{}\n", rest.join("\n"))).unwrap();
}

#[tokio::test]
async fn stale_lock_files_with_reused_or_dead_pids_do_not_block_startup() {
    let dir = scratch_dir();
    let data_dir = dir.path().join("data");
    let cluster = EmbeddedCluster::start(options(&data_dir)).await.unwrap();
    let data_dir = cluster.data_dir().to_path_buf();
    let pid_file = data_dir.join("postmaster.pid");
    let socket_lock = cluster.socket_dir().join(".s.PGSQL.5432.lock");
    let pid_template = std::fs::read_to_string(&pid_file).unwrap();
    let socket_template = std::fs::read_to_string(&socket_lock).unwrap();
    cluster.stop().await.unwrap();

    // As after a container restart: the recorded pid now names some other,
    // live process of postgres's own user. postgres alone would refuse to
    // start (it only ignores pids it may not signal).
    let (uid, gid) = postgres_identity();
    let mut sleeper = tokio::process::Command::new("sleep")
        .arg("600")
        .uid(uid)
        .gid(gid)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let sleeper_pid = sleeper.id().unwrap();
    write_lock(&pid_file, &pid_template, sleeper_pid);
    write_lock(&socket_lock, &socket_template, sleeper_pid);
    let cluster = EmbeddedCluster::start(options(&data_dir)).await.unwrap();
    assert_eq!(select_one(&cluster).await, 1);
    assert_ne!(postmaster_pid(&data_dir), sleeper_pid as i32);
    assert!(
        sleeper.try_wait().unwrap().is_none(),
        "the unrelated process was harmed"
    );
    cluster.stop().await.unwrap();
    sleeper.kill().await.unwrap();

    // A pid that no longer exists: left for postgres to discard.
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let gone_pid = gone.id();
    gone.wait().unwrap();
    write_lock(&pid_file, &pid_template, gone_pid);
    write_lock(&socket_lock, &socket_template, gone_pid);
    let cluster = EmbeddedCluster::start(options(&data_dir)).await.unwrap();
    assert_eq!(select_one(&cluster).await, 1);
    cluster.stop().await.unwrap();
}

#[tokio::test]
async fn dropping_without_stop_shuts_postgres_down() {
    let dir = scratch_dir();
    let data_dir = dir.path().join("data");
    let cluster = EmbeddedCluster::start(options(&data_dir)).await.unwrap();
    let pid = postmaster_pid(cluster.data_dir());
    drop(cluster);
    // Restarting at once must cope with the old server still shutting down.
    let cluster = EmbeddedCluster::start(options(&data_dir)).await.unwrap();
    assert!(
        !running(pid),
        "the dropped cluster's postgres is still running"
    );
    assert_ne!(postmaster_pid(cluster.data_dir()), pid);
    assert_eq!(select_one(&cluster).await, 1);
    cluster.stop().await.unwrap();
}

#[tokio::test]
async fn one_data_dir_cannot_be_started_twice_in_one_process() {
    let dir = scratch_dir();
    let data_dir = dir.path().join("data");
    let cluster = EmbeddedCluster::start(options(&data_dir)).await.unwrap();
    let second = EmbeddedCluster::start(options(&data_dir)).await;
    assert!(
        matches!(second, Err(EmbeddedError::AlreadyRunning { .. })),
        "{second:?}"
    );
    assert_eq!(
        select_one(&cluster).await,
        1,
        "the first cluster was left alone"
    );
    cluster.stop().await.unwrap();
}

#[tokio::test]
async fn root_hands_the_cluster_to_an_unprivileged_user() {
    let dir = scratch_dir();
    // Like a CI checkout under /root: an ancestor only its owner may enter.
    let private = dir.path().join("private");
    std::fs::create_dir(&private).unwrap();
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
    let data_dir = private.join("data");
    let owner = expected_owner();

    let cluster = EmbeddedCluster::start(options(&data_dir)).await.unwrap();
    let meta = std::fs::metadata(&data_dir).unwrap();
    assert_eq!(meta.uid(), owner);
    assert_eq!(meta.mode() & 0o7777, 0o700);
    assert_eq!(
        std::fs::metadata(data_dir.join("postgres.log"))
            .unwrap()
            .uid(),
        owner
    );
    let status =
        std::fs::read_to_string(format!("/proc/{}/status", postmaster_pid(&data_dir))).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    let uids: Vec<u32> = uid_line
        .split_whitespace()
        .skip(1)
        .map(|u| u.parse().unwrap())
        .collect();
    assert!(
        uids.iter().all(|u| *u == owner),
        "postgres runs as {uids:?}"
    );
    cluster.stop().await.unwrap();

    if !geteuid().is_root() {
        let mode = std::fs::metadata(&private).unwrap().mode() & 0o7777;
        assert_eq!(mode, 0o700, "a non-root run changes nothing");
        return;
    }
    let mode = std::fs::metadata(&private).unwrap().mode() & 0o7777;
    assert_eq!(mode, 0o701, "only the search bit for others is added");

    // E.g. restored from a backup by root: everything owned by root again.
    chown_tree(&data_dir, 0);
    let cluster = EmbeddedCluster::start(options(&data_dir)).await.unwrap();
    assert_eq!(select_one(&cluster).await, 1);
    cluster.stop().await.unwrap();
    let mut pending = vec![data_dir.clone()];
    while let Some(path) = pending.pop() {
        let meta = std::fs::symlink_metadata(&path).unwrap();
        assert_eq!(meta.uid(), owner, "{} not handed over", path.display());
        if meta.is_dir() {
            pending.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        }
    }
}

fn chown_tree(root: &Path, uid: u32) {
    let mut pending = vec![root.to_path_buf()];
    while let Some(path) = pending.pop() {
        std::os::unix::fs::lchown(&path, Some(uid), Some(uid)).unwrap();
        if std::fs::symlink_metadata(&path).unwrap().is_dir() {
            pending.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        }
    }
}

#[tokio::test]
async fn ensure_database_is_idempotent_and_concurrency_safe() {
    let dir = scratch_dir();
    let cluster = Arc::new(
        EmbeddedCluster::start(options(dir.path().join("data")))
            .await
            .unwrap(),
    );
    let name = "killbill \"tenant\" db";
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let cluster = Arc::clone(&cluster);
        tasks.spawn(async move { cluster.ensure_database(name).await });
    }
    while let Some(outcome) = tasks.join_next().await {
        outcome.unwrap().unwrap();
    }
    cluster.ensure_database(name).await.unwrap();
    cluster.ensure_database("postgres").await.unwrap();

    let client = connect(&cluster, "postgres").await;
    let count: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_database WHERE datname = $1",
            &[&name],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 1);
    let inside = connect(&cluster, name).await;
    let current: String = inside
        .query_one("SELECT current_database()", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(current, name);
    drop((client, inside));

    assert!(matches!(
        cluster.ensure_database("").await,
        Err(EmbeddedError::InvalidDatabaseName { .. })
    ));
    Arc::try_unwrap(cluster).unwrap().stop().await.unwrap();
}

#[tokio::test]
async fn a_non_empty_directory_without_a_cluster_is_refused_untouched() {
    let dir = scratch_dir();
    let data_dir = dir.path().join("data");
    std::fs::create_dir(&data_dir).unwrap();
    std::fs::write(data_dir.join("precious.txt"), "keep me").unwrap();
    let outcome = EmbeddedCluster::start(options(&data_dir)).await;
    assert!(
        matches!(outcome, Err(EmbeddedError::NotADataDirectory { .. })),
        "{outcome:?}"
    );
    assert_eq!(
        std::fs::read_to_string(data_dir.join("precious.txt")).unwrap(),
        "keep me"
    );
    assert_eq!(std::fs::read_dir(&data_dir).unwrap().count(), 1);
}

#[tokio::test]
async fn a_server_that_dies_while_starting_fails_fast_with_its_log() {
    let dir = scratch_dir();
    let data_dir = dir.path().join("data");
    let began = Instant::now();
    let outcome = EmbeddedCluster::start(EmbeddedOptions {
        max_connections: 0, // rejected by postgres at startup
        ..options(&data_dir)
    })
    .await;
    let Err(EmbeddedError::StartFailed { log_tail, .. }) = outcome else {
        panic!("expected StartFailed, got {outcome:?}");
    };
    assert!(log_tail.contains("max_connections"), "{log_tail}");
    assert!(
        began.elapsed() < Duration::from_secs(30),
        "waited for the full timeout"
    );

    // The data directory initialised on the way is fine for a correct start.
    let cluster = EmbeddedCluster::start(options(&data_dir)).await.unwrap();
    assert_eq!(select_one(&cluster).await, 1);
    cluster.stop().await.unwrap();
}
