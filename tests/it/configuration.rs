//! Configuration through the environment in every form real deployments use, applied to the
//! real pools; malformed values stop startup with one line.

use ferrobill::app::App;
use ferrobill::config::Config;

use crate::harness::TestDatabase;
use std::time::Duration;

use crate::process::{ferrobill, fresh_workdir, output_within};

fn env_pairs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test]
async fn environment_forms_reach_the_effective_configuration_and_the_pools() {
    let db = TestDatabase::create().await;
    let env = env_pairs(&[
        ("DATABASE_URL", &db.url()),
        ("KILLBILL_DAO_MAXACTIVE", "7"),
        ("KB_org_killbill_billing_osgi_dao_maxActive", "3"),
        ("KILLBILL_PAYMENT_PLUGIN_THREADS_NB", "42"),
        ("FERROBILL_SERVER_BINDADDRESS", "127.0.0.1"),
        ("FERROBILL_SERVER_PORT", "0"),
    ]);
    let loaded = Config::load_from(None, &env).expect("valid environment");
    let effective = loaded.config.effective_properties();
    let value = |name: &str| {
        effective
            .iter()
            .find(|(property, _)| *property == name)
            .map(|(_, value)| value.clone())
            .unwrap_or_else(|| panic!("{name} is not in the effective configuration"))
    };
    assert_eq!(value("org.killbill.dao.maxActive"), "7");
    assert_eq!(value("org.killbill.billing.osgi.dao.maxActive"), "3");
    assert_eq!(value("org.killbill.payment.plugin.threads.nb"), "42");

    let app = App::start(loaded.config).await.expect("starts");
    assert_eq!(app.main_pool_state().max_size, 7);
    assert_eq!(app.plugin_pool_state().max_size, 3);
    app.shutdown().await.expect("stops");
}

#[test]
fn the_binary_prints_the_effective_configuration_with_secrets_masked() {
    let workdir = fresh_workdir("print-config");
    let mut command = ferrobill(&workdir);
    command
        .arg("print-config")
        .env("KILLBILL_DAO_MAX_ACTIVE", "7")
        .env("KB_org_killbill_billing_osgi_dao_maxActive", "3")
        .env("KILLBILL_PAYMENT_PLUGIN_THREADS_NB", "42")
        .env("KILLBILL_DAO_PASSWORD", "hunter2");
    let output = output_within(command, Duration::from_secs(60));
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    for line in [
        "org.killbill.dao.maxActive=7",
        "org.killbill.billing.osgi.dao.maxActive=3",
        "org.killbill.payment.plugin.threads.nb=42",
    ] {
        assert!(
            stdout.lines().any(|l| l == line),
            "missing {line}:\n{stdout}"
        );
    }
    assert!(!stdout.contains("hunter2"), "password printed:\n{stdout}");
}

#[test]
fn a_malformed_value_stops_startup_with_one_line_naming_it() {
    let workdir = fresh_workdir("malformed");
    for (name, value, property) in [
        (
            "KILLBILL_DAO_MAXACTIVE",
            "abc",
            "org.killbill.dao.maxActive",
        ),
        (
            "KB_org_killbill_dao_connectionTimeout",
            "5x",
            "org.killbill.dao.connectionTimeout",
        ),
        (
            "KILLBILL_PAYMENT_PLUGIN_THREADS_NB",
            "-1",
            "org.killbill.payment.plugin.threads.nb",
        ),
    ] {
        let mut command = ferrobill(&workdir);
        command.env(name, value);
        let output = output_within(command, Duration::from_secs(60));
        assert_eq!(output.status.code(), Some(2), "{name}={value}: {output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one line for {name}={value}: {stderr}");
        assert!(
            lines[0].contains(property) && lines[0].contains(value),
            "{}",
            lines[0]
        );
        assert!(
            !workdir.join("data").exists(),
            "nothing was started for a bad configuration"
        );
    }
}

#[tokio::test]
async fn a_pool_larger_than_the_database_allows_stops_startup_with_one_line() {
    let db = TestDatabase::create().await;
    let workdir = fresh_workdir("pool-too-large");
    for (name, property) in [
        ("KILLBILL_DAO_MAXACTIVE", "org.killbill.dao.maxActive"),
        (
            "KILLBILL_OSGI_DAO_MAXACTIVE",
            "org.killbill.billing.osgi.dao.maxActive",
        ),
    ] {
        let mut command = ferrobill(&workdir);
        command.env("DATABASE_URL", db.url()).env(name, "100000");
        let output = output_within(command, Duration::from_secs(60));
        assert_eq!(output.status.code(), Some(1), "{name}: {output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one line for {name}: {stderr}");
        assert!(
            lines[0].contains(property) && lines[0].contains("100000"),
            "{}",
            lines[0]
        );
    }
}

#[tokio::test]
async fn ferrobill_migrate_applies_the_schema_and_exits() {
    let db = TestDatabase::create_empty().await;
    let workdir = fresh_workdir("migrate");
    let mut command = ferrobill(&workdir);
    command.arg("migrate").env("DATABASE_URL", db.url());
    let output = output_within(command, Duration::from_secs(60));
    assert!(output.status.success(), "{output:?}");
    let client = db.client().await;
    let tables: i64 = client
        .query_one(
            "select count(*) from information_schema.tables where table_name in ('tenants', 'audit_log')",
            &[],
        )
        .await
        .expect("count")
        .get(0);
    assert_eq!(tables, 2);
    // Running it again is a no-op.
    let mut again = ferrobill(&workdir);
    again.arg("migrate").env("DATABASE_URL", db.url());
    assert!(output_within(again, Duration::from_secs(60))
        .status
        .success());
}
