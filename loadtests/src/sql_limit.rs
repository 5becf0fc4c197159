//! The physical limit: pgbench replaying the SQL one scenario request costs
//! (`loadtests/pgbench/*.sql`) at the run's concurrency, on the spawned server's own embedded
//! PostgreSQL, right after the HTTP run. The database's transactions per second are then the
//! ceiling ferrobill's rate is compared against: what is left between them is ferrobill's
//! own cost (HTTP, JSON, pools, bus dispatch, the gateway's rows).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::machine;
use crate::scenario::Scenario;
use crate::stats::Row;

const SETUP: &str = include_str!("../pgbench/setup.sql");
const CLEANUP: &str = include_str!("../pgbench/cleanup.sql");
const ACCOUNT_CREATE: &str = include_str!("../pgbench/account_create.sql");
const PAYMENT: &str = include_str!("../pgbench/payment.sql");
/// The embedded cluster's superuser and database (src/db/embedded.rs, src/app.rs).
const SUPERUSER: &str = "postgres";
const DATABASE: &str = "ferrobill";
/// Marks the log line the server prints once its embedded PostgreSQL is up.
const READY_MARKER: &str = "embedded PostgreSQL is ready";

/// Where a spawned server's embedded PostgreSQL listens.
#[derive(Debug, Clone)]
pub struct SqlTarget {
    pub socket_dir: PathBuf,
    pub port: u16,
}

impl SqlTarget {
    /// Reads `socket_dir=… port=…` from the server's "embedded PostgreSQL is ready" line.
    pub fn from_server_log(log: &str) -> Option<SqlTarget> {
        let line = log.lines().find(|line| line.contains(READY_MARKER))?;
        let field = |name: &str| {
            let (_, rest) = line.split_once(&format!("{name}="))?;
            rest.split_whitespace().next().map(str::to_string)
        };
        Some(SqlTarget {
            socket_dir: PathBuf::from(field("socket_dir")?),
            port: field("port")?.parse().ok()?,
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SqlLimit {
    pub script: &'static str,
    pub clients: u32,
    /// pgbench's transactions per second (one script run = one request's SQL).
    pub script_per_second: f64,
    /// ferrobill's rate of the requests the script stands for, over the same concurrency.
    pub ferrobill_per_second: f64,
    pub fraction: f64,
}

impl SqlLimit {
    /// Fills in ferrobill's side from the run's rows: the requests the script replays.
    pub fn compare(&mut self, scenario: Scenario, rows: &[Row]) {
        let replayed: &[&str] = match scenario {
            Scenario::Accounts | Scenario::Overload => &["Create Account"],
            _ => &["Authorize Payment", "Capture Payment", "Purchase Payment"],
        };
        self.ferrobill_per_second = rows
            .iter()
            .filter(|row| replayed.contains(&row.name.as_str()))
            .map(|row| row.throughput_per_second * (1.0 - row.error_percent / 100.0))
            .sum();
        self.fraction = if self.script_per_second > 0.0 {
            self.ferrobill_per_second / self.script_per_second
        } else {
            0.0
        };
    }

    pub fn short(&self) -> String {
        format!(
            "{:.0}% of {:.0}/s",
            self.fraction * 100.0,
            self.script_per_second
        )
    }

    pub fn describe(&self) -> String {
        format!(
            "pgbench `{}` with {} clients ran {:.1} transactions/s on the same \
             PostgreSQL; ferrobill's successful requests of that kind ran {:.1}/s, {:.1} % of it.",
            self.script,
            self.clients,
            self.script_per_second,
            self.ferrobill_per_second,
            self.fraction * 100.0
        )
    }
}

/// Runs the scenario's script for `duration` with `clients` clients; `None` for scenarios
/// without one.
pub async fn measure(
    scenario: Scenario,
    clients: u32,
    duration: Duration,
    target: &SqlTarget,
    run_directory: &Path,
) -> Result<Option<SqlLimit>> {
    let (script, text) = match scenario {
        Scenario::Accounts | Scenario::Overload => ("account_create.sql", ACCOUNT_CREATE),
        Scenario::Payments | Scenario::PoolStarvation => ("payment.sql", PAYMENT),
        _ => return Ok(None),
    };
    let pgbench = machine::pg_binary("pgbench").context("no pgbench under /usr/lib/postgresql")?;
    let psql = machine::pg_binary("psql").context("no psql under /usr/lib/postgresql")?;
    let directory = run_directory.join("pgbench");
    std::fs::create_dir_all(&directory)
        .with_context(|| format!("cannot create {}", directory.display()))?;
    let script_path = directory.join(script);
    std::fs::write(&script_path, text)
        .with_context(|| format!("cannot write {}", script_path.display()))?;
    run_psql(&psql, target, SETUP).await?;
    eprintln!(
        "ferrobill-load: pgbench {script} with {clients} clients for {}s",
        duration.as_secs()
    );
    let output = tokio::process::Command::new(&pgbench)
        .args(connection_args(target))
        .args(["-n", "-M", "prepared", "-c", &clients.to_string()])
        .args([
            "-j",
            "2",
            "-T",
            &duration.as_secs().max(1).to_string(),
            "-f",
        ])
        .arg(&script_path)
        .output()
        .await
        .with_context(|| format!("cannot run {}", pgbench.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    let log_path = directory.join(format!("{script}.log"));
    std::fs::write(&log_path, format!("{stdout}\n{stderr}"))
        .with_context(|| format!("cannot write {}", log_path.display()))?;
    // Clean up even after a failed run: the rows would otherwise stay in the server's tables.
    let cleaned = run_psql(&psql, target, CLEANUP).await;
    if !output.status.success() {
        bail!(
            "pgbench failed ({}); see {}",
            output.status,
            log_path.display()
        );
    }
    cleaned?;
    let tps = tps(&stdout).with_context(|| format!("no tps in {}", log_path.display()))?;
    Ok(Some(SqlLimit {
        script,
        clients,
        script_per_second: tps,
        ferrobill_per_second: 0.0,
        fraction: 0.0,
    }))
}

fn connection_args(target: &SqlTarget) -> Vec<String> {
    vec![
        "-h".into(),
        target.socket_dir.display().to_string(),
        "-p".into(),
        target.port.to_string(),
        "-U".into(),
        SUPERUSER.into(),
        DATABASE.into(),
    ]
}

async fn run_psql(psql: &Path, target: &SqlTarget, sql: &str) -> Result<()> {
    let output = tokio::process::Command::new(psql)
        .args(connection_args(target))
        .args(["-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
        .output()
        .await
        .with_context(|| format!("cannot run {}", psql.display()))?;
    if !output.status.success() {
        bail!(
            "psql failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

/// `tps = 1234.5 (without initial connection time)` from pgbench's summary.
fn tps(stdout: &str) -> Option<f64> {
    stdout
        .lines()
        .find(|line| line.starts_with("tps = "))?
        .trim_start_matches("tps = ")
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_socket_is_read_from_the_server_log() {
        let log =
            "2026-11-23T15:00:00Z  INFO ferrobill::db::embedded: embedded PostgreSQL is ready \
                   data_dir=./data/postgres socket_dir=/tmp/ferrobill-ab12 port=5432 pid=Some(7)";
        let target = SqlTarget::from_server_log(log).expect("found");
        assert_eq!(target.socket_dir, PathBuf::from("/tmp/ferrobill-ab12"));
        assert_eq!(target.port, 5432);
        assert!(SqlTarget::from_server_log("nothing").is_none());
    }

    #[test]
    fn tps_is_read_from_pgbench_output() {
        let output =
            "latency average = 5.1 ms\ntps = 1953.420011 (without initial connection time)\n";
        assert_eq!(tps(output), Some(1953.420011));
        assert_eq!(tps("no"), None);
    }
}
