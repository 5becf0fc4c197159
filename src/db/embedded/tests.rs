//! Tests of the module's internals; the public lifecycle is exercised against
//! a real PostgreSQL in `tests/embedded_cluster.rs`.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};

use nix::sys::signal::kill;
use nix::sys::wait::{waitid, Id, WaitPidFlag};
use nix::unistd::{Gid, Uid};

use super::binaries::*;
use super::data_dir::*;
use super::databases::*;
use super::privileges::*;
use super::recovery::*;
use super::*;

fn fake_install(dir: &Path, programs: &[&str]) {
    fs::create_dir_all(dir).unwrap();
    for program in programs {
        let path = dir.join(program);
        fs::write(&path, "#!/bin/sh\nexit 0\n").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    }
}

fn scratch_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("ferrobill-embedded-unit-")
        .tempdir()
        .unwrap()
}

#[test]
fn binaries_come_from_path_first_then_the_highest_numeric_major() {
    let root = scratch_dir();
    let versioned = root.path().join("lib-postgresql");
    fake_install(&versioned.join("9.6/bin"), &["initdb", "postgres"]);
    fake_install(&versioned.join("10/bin"), &["initdb", "postgres"]);
    fake_install(&versioned.join("15/bin"), &["initdb", "postgres"]);
    // Incomplete (client-only) and non-version directories do not count.
    fake_install(&versioned.join("16/bin"), &["initdb"]);
    fake_install(&versioned.join("common/bin"), &["initdb", "postgres"]);

    let found = find_binaries(None, &versioned).unwrap();
    assert_eq!(
        found.dir,
        versioned.join("15/bin"),
        "numeric, not lexical: 15 > 10 > 9.6"
    );
    assert_eq!(found.postgres, versioned.join("15/bin/postgres"));

    let partial = root.path().join("partial");
    fake_install(&partial, &["postgres"]);
    let full = root.path().join("full");
    fake_install(&full, &["initdb", "postgres"]);
    let path =
        std::env::join_paths([partial.as_path(), Path::new("relative"), full.as_path()]).unwrap();
    let found = find_binaries(Some(&path), &versioned).unwrap();
    assert_eq!(
        found.dir, full,
        "PATH wins, but only a directory holding both programs"
    );

    let nowhere = root.path().join("missing");
    assert_eq!(find_binaries(Some(OsStr::new("")), &nowhere), None);
    assert_eq!(find_binaries(Some(partial.as_os_str()), &nowhere), None);
}

#[test]
fn missing_binaries_error_says_what_to_install() {
    let message = EmbeddedError::BinariesNotFound.to_string();
    for hint in [
        "apt-get install postgresql",
        "dnf install postgresql-server",
        "brew install postgresql",
        "org.killbill.dao.url",
    ] {
        assert!(message.contains(hint), "{message:?} lacks {hint:?}");
    }
}

#[test]
fn major_versions_match_pg_version_spelling() {
    assert_eq!(major_version("15.14").as_deref(), Some("15"));
    assert_eq!(major_version("16devel").as_deref(), Some("16"));
    assert_eq!(major_version("17beta1").as_deref(), Some("17"));
    assert_eq!(major_version("9.6.24").as_deref(), Some("9.6"));
    assert_eq!(major_version("9"), None);
    assert_eq!(major_version("devel"), None);
    assert_eq!(version_key("9.6"), Some(vec![9, 6]));
    assert_eq!(version_key("main"), None);
}

#[test]
fn installed_server_reports_the_version_initdb_writes() {
    let Some(binaries) = find_binaries(
        std::env::var_os("PATH").as_deref(),
        Path::new(VERSIONED_INSTALL_ROOT),
    ) else {
        panic!("these tests need the PostgreSQL server binaries");
    };
    let major = server_major_version(&binaries.postgres).unwrap();
    assert!(major.parse::<u32>().is_ok_and(|m| m >= 10), "{major}");
}

#[test]
fn socket_dir_moves_to_tmp_only_when_the_path_would_be_too_long() {
    let short = Path::new("/srv/ferrobill/data/postgres");
    assert_eq!(choose_socket_dir(short, 5432), short);

    let long = PathBuf::from(format!("/srv/{}/postgres", "x".repeat(90)));
    let chosen = choose_socket_dir(&long, 5432);
    let name = chosen.file_name().unwrap().to_str().unwrap().to_owned();
    assert_eq!(chosen.parent(), Some(Path::new("/tmp")));
    let hash = name.strip_prefix("ferrobill-").unwrap();
    assert_eq!(hash.len(), 12);
    assert!(hash.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(
        choose_socket_dir(&long, 5432),
        chosen,
        "stable across starts"
    );
    assert_ne!(
        choose_socket_dir(&long.join("other"), 5432),
        chosen,
        "distinct per data directory"
    );
    assert!(chosen.join(socket_file_name(65535)).as_os_str().len() <= MAX_SOCKET_PATH_LEN);

    // Exactly at the limit stays in the data directory.
    let socket = socket_file_name(5432);
    let edge = PathBuf::from(format!(
        "/{}",
        "d".repeat(MAX_SOCKET_PATH_LEN - 2 - socket.len())
    ));
    assert_eq!(edge.join(&socket).as_os_str().len(), MAX_SOCKET_PATH_LEN);
    assert_eq!(choose_socket_dir(&edge, 5432), edge);
}

fn run_as(uid: u32, gid: u32, groups: &[u32]) -> RunAs {
    RunAs {
        name: "pg".to_owned(),
        uid: Uid::from_raw(uid),
        gid: Gid::from_raw(gid),
        groups: groups.iter().copied().map(Gid::from_raw).collect(),
        switch_from_root: true,
    }
}

#[test]
fn search_access_uses_exactly_one_permission_class() {
    let pg = run_as(101, 104, &[104, 110]);
    // /root: owned by root, 0700 → only "others" applies, and it lacks x.
    assert_eq!(
        search_access(0o700, 0, 0, &pg),
        SearchAccess::DeniedToOthers
    );
    assert_eq!(search_access(0o701, 0, 0, &pg), SearchAccess::Granted);
    assert_eq!(search_access(0o755, 0, 0, &pg), SearchAccess::Granted);
    // A supplementary group's missing x is not rescued by o+x.
    assert_eq!(
        search_access(0o701, 0, 110, &pg),
        SearchAccess::DeniedToGroup
    );
    assert_eq!(search_access(0o710, 0, 110, &pg), SearchAccess::Granted);
    assert_eq!(
        search_access(0o071, 101, 0, &pg),
        SearchAccess::DeniedToOwner
    );
    assert_eq!(search_access(0o100, 101, 0, &pg), SearchAccess::Granted);
}

#[test]
fn postgres_user_is_preferred_over_nobody() {
    let both = |name: &str| Some(name.to_owned());
    assert_eq!(pick_unprivileged(both).as_deref(), Some("postgres"));
    let only_nobody = |name: &str| (name == "nobody").then(|| name.to_owned());
    assert_eq!(pick_unprivileged(only_nobody).as_deref(), Some("nobody"));
    assert_eq!(pick_unprivileged(|_: &str| None::<String>), None);
}

#[test]
fn database_names_are_quoted_and_validated() {
    assert_eq!(quote_identifier("killbill"), "\"killbill\"");
    assert_eq!(quote_identifier("a\"b; DROP"), "\"a\"\"b; DROP\"");
    assert!(validate_database_name("killbill").is_ok());
    assert!(validate_database_name(&"x".repeat(63)).is_ok());
    for bad in [String::new(), "x".repeat(64), "a\0b".to_owned()] {
        assert!(matches!(
            validate_database_name(&bad),
            Err(EmbeddedError::InvalidDatabaseName { .. })
        ));
    }
}

#[test]
fn postgres_processes_are_recognised_by_their_command_line() {
    assert!(is_postgres_cmdline(
        b"/usr/lib/postgresql/15/bin/postgres\0-D\0/data\0"
    ));
    assert!(is_postgres_cmdline(b"postgres: 15/main: checkpointer "));
    assert!(is_postgres_cmdline(b"postmaster\0-D\0/data\0"));
    assert!(!is_postgres_cmdline(b"/usr/bin/sleep\x00600\x00"));
    assert!(!is_postgres_cmdline(b"/usr/bin/postgres_exporter\0"));
    assert!(!is_postgres_cmdline(b""));

    assert_eq!(
        data_dir_argument(b"postgres\0-D\0/nonexistent/data\0-p\x005432\0"),
        Some(PathBuf::from("/nonexistent/data"))
    );
    assert_eq!(
        data_dir_argument(b"postgres\0-D/nonexistent/x\0"),
        Some(PathBuf::from("/nonexistent/x"))
    );
    assert_eq!(data_dir_argument(b"postgres\0-D\0relative\0"), None);
    assert_eq!(data_dir_argument(b"postgres\0"), None);
}

#[test]
fn lock_pids_are_read_from_the_first_line() {
    let dir = scratch_dir();
    let lock = dir.path().join("postmaster.pid");
    assert_eq!(read_lock_pid(&lock).unwrap(), None);
    fs::write(&lock, "4242\n/data\n").unwrap();
    assert_eq!(read_lock_pid(&lock).unwrap(), Some(Pid::from_raw(4242)));
    // Standalone backends write their pid negated.
    fs::write(&lock, "-4242\n/data\n").unwrap();
    assert_eq!(read_lock_pid(&lock).unwrap(), Some(Pid::from_raw(4242)));
    fs::write(&lock, "").unwrap();
    assert_eq!(read_lock_pid(&lock).unwrap(), None);
}

#[test]
fn lock_holders_are_classified() {
    assert_eq!(classify_lock_holder(Pid::this()), LockHolder::NotPostgres);

    let mut exited = Command::new("true").spawn().unwrap();
    let exited_pid = Pid::from_raw(exited.id() as i32);
    // Wait without reaping: the child is now a zombie, deterministically.
    waitid(
        Id::Pid(exited_pid),
        WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT,
    )
    .unwrap();
    assert_eq!(classify_lock_holder(exited_pid), LockHolder::Zombie);
    exited.wait().unwrap();
    assert_eq!(classify_lock_holder(exited_pid), LockHolder::Gone);
}

/// Kills the child on the way out, whatever happened in the test.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = kill(Pid::from_raw(self.0.id() as i32), Signal::SIGINT);
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn a_postgres_started_by_someone_else_on_our_data_dir_is_shut_down() {
    let dir = scratch_dir();
    let options = EmbeddedOptions {
        data_dir: dir.path().join("data"),
        port: 5432,
        max_connections: 20,
        durable: false,
        settings: Vec::new(),
    };
    EmbeddedCluster::start(options.clone())
        .await
        .unwrap()
        .stop()
        .await
        .unwrap();

    // Start postgres behind the module's back, as a stray `pg_ctl start`
    // would: not our child's thread, no claim, no parent-death signal.
    let prepared = {
        let options = options.clone();
        tokio::task::spawn_blocking(move || prepare(&options))
            .await
            .unwrap()
            .unwrap()
    };
    let mut foreign = Command::new(&prepared.binaries.postgres);
    foreign
        .arg("-D")
        .arg(&prepared.data_dir)
        .arg("-k")
        .arg(&prepared.socket_dir)
        .args(["-p", "5432", "-c", "listen_addresses=", "-c", "fsync=off"])
        .current_dir(&prepared.data_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if prepared.run_as.switch_from_root {
        foreign
            .uid(prepared.run_as.uid.as_raw())
            .gid(prepared.run_as.gid.as_raw());
    }
    let mut foreign = ChildGuard(foreign.spawn().unwrap());
    let foreign_pid = Pid::from_raw(foreign.0.id() as i32);
    let mut probe = tokio_postgres::Config::new();
    probe
        .host_path(&prepared.socket_dir)
        .port(5432)
        .user(SUPERUSER)
        .dbname(MAINTENANCE_DB);
    let deadline = Instant::now() + Duration::from_secs(60);
    while probe.connect(NoTls).await.is_err() {
        assert!(
            foreign.0.try_wait().unwrap().is_none(),
            "foreign postgres died"
        );
        assert!(
            Instant::now() < deadline,
            "foreign postgres never became ready"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(still_serves(foreign_pid, &prepared.data_dir).await.unwrap());

    let timeouts = Timeouts {
        previous_grace: Duration::from_millis(300),
        ..Timeouts::DEFAULT
    };
    let cluster = EmbeddedCluster::start_with(options, timeouts)
        .await
        .unwrap();
    // It exited after our SIGINT (the grace period alone would never end it),
    // and cleanly: a fast shutdown exits 0.
    let status = foreign
        .0
        .try_wait()
        .unwrap()
        .expect("foreign postgres still running");
    assert!(status.success(), "{status}");

    let (client, connection) = cluster.pg_config("postgres").connect(NoTls).await.unwrap();
    let driver = tokio::spawn(connection);
    let row = client.query_one("SELECT 1", &[]).await.unwrap();
    assert_eq!(row.get::<_, i32>(0), 1);
    drop(client);
    driver.await.unwrap().unwrap();
    cluster.stop().await.unwrap();
}

#[test]
fn a_cluster_of_another_major_version_is_not_started_with_the_wrong_binaries() {
    let found = find_binaries(
        std::env::var_os("PATH").as_deref(),
        Path::new(VERSIONED_INSTALL_ROOT),
    )
    .expect("these tests need the PostgreSQL server binaries");
    let installed = server_major_version(&found.postgres).unwrap();
    let dir = scratch_dir();
    assert_eq!(
        binaries_for_cluster(found.clone(), dir.path(), &installed).unwrap(),
        found
    );
    // No 9.1 server is installed anywhere: refuse rather than let a newer
    // server loose on old files.
    let outcome = binaries_for_cluster(found, dir.path(), "9.1");
    let Err(EmbeddedError::VersionMismatch {
        data_version,
        server_version,
        ..
    }) = outcome
    else {
        panic!("expected VersionMismatch, got {outcome:?}");
    };
    assert_eq!((data_version.as_str(), server_version), ("9.1", installed));
}

#[test]
fn handles_and_errors_can_cross_threads() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<EmbeddedCluster>();
    assert_send_sync::<EmbeddedError>();
}
