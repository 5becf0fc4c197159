//! The physical limit: pgbench replaying the SQL one scenario request costs
//! (`loadtests/pgbench/*.sql`) at the run's concurrency, on the spawned server's own embedded
//! PostgreSQL, right after the HTTP run. The database's transactions per second are then the
//! ceiling ferrobill's rate is compared against: what is left between them is ferrobill's
//! own cost (HTTP, JSON, pools, bus dispatch, the gateway's rows). Payments are also compared
//! with Kill Bill's own write pattern for one AUTHORIZE (`killbill_authorize.sql`).

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::cluster::{Cluster, SERVER_DATABASE};
use crate::machine;
use crate::scenario::Scenario;
use crate::stats::Row;

const SETUP: &str = include_str!("../pgbench/setup.sql");
const CLEANUP: &str = include_str!("../pgbench/cleanup.sql");

/// One pgbench script and what one run of it stands for.
struct Script {
    file: &'static str,
    text: &'static str,
    replays: &'static str,
    /// The least fraction of its rate ferrobill should reach, when an issue set one.
    target: Option<f64>,
}

const ACCOUNT_CREATE: Script = Script {
    file: "account_create.sql",
    text: include_str!("../pgbench/account_create.sql"),
    replays: "one account creation as ferrobill issues it",
    target: None,
};
const PAYMENT: Script = Script {
    file: "payment.sql",
    text: include_str!("../pgbench/payment.sql"),
    replays: "one payment operation as ferrobill issues it",
    target: None,
};
const KILL_BILL_AUTHORIZE: Script = Script {
    file: "killbill_authorize.sql",
    text: include_str!("../pgbench/killbill_authorize.sql"),
    replays: "Kill Bill's writes for one AUTHORIZE: 13 prepared statements, 2 commits",
    // Issue 12: purchases at no less than 0.8 × PostgreSQL's rate for Kill Bill's pattern.
    target: Some(0.8),
};

/// The scripts replayed after each step of `scenario`, in order.
fn scripts(scenario: Scenario) -> &'static [Script] {
    match scenario {
        Scenario::Accounts | Scenario::Overload => &[ACCOUNT_CREATE],
        Scenario::Payments | Scenario::Purchases => &[PAYMENT, KILL_BILL_AUTHORIZE],
        Scenario::PoolStarvation => &[PAYMENT],
        Scenario::StatusMix | Scenario::Tenants | Scenario::Healthcheck => &[],
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SqlLimit {
    pub script: &'static str,
    /// What one run of the script stands for.
    pub replays: &'static str,
    pub target: Option<f64>,
    pub clients: u32,
    /// pgbench's transactions per second (one script run = one request's SQL).
    pub script_per_second: f64,
    /// ferrobill's rate of the requests the script stands for, over the same concurrency.
    pub ferrobill_per_second: f64,
    /// The samplers of those requests that the step had.
    pub compared: Vec<String>,
    pub fraction: f64,
}

impl SqlLimit {
    /// Fills in ferrobill's side from the run's rows: the requests the script replays.
    pub fn compare(&mut self, scenario: Scenario, rows: &[Row]) {
        let replayed: &[&str] = match scenario {
            Scenario::Accounts | Scenario::Overload => &["Create Account"],
            _ => &["Authorize Payment", "Capture Payment", "Purchase Payment"],
        };
        let compared = rows
            .iter()
            .filter(|row| row.count > 0 && replayed.contains(&row.name.as_str()));
        self.compared = compared.clone().map(|row| row.name.clone()).collect();
        self.ferrobill_per_second = compared
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
            "{} {:.2}× {:.0}/s",
            self.script.trim_end_matches(".sql"),
            self.fraction,
            self.script_per_second
        )
    }

    pub fn describe(&self) -> String {
        format!(
            "pgbench `{}` ({}) with {} clients ran {:.1} transactions/s on the same \
             PostgreSQL; ferrobill's successful {} ran {:.1}/s: {}/s ÷ pgbench's tps = {:.2}{}.",
            self.script,
            self.replays,
            self.clients,
            self.script_per_second,
            self.compared.join(" + "),
            self.ferrobill_per_second,
            self.compared.join(" + "),
            self.fraction,
            self.target
                .map(|target| format!(" (target ≥ {target:.2})"))
                .unwrap_or_default()
        )
    }
}

/// Runs each of the scenario's scripts for `duration` with `clients` clients, one after the
/// other; none for scenarios without one.
pub async fn measure(
    scenario: Scenario,
    clients: u32,
    duration: Duration,
    target: &Cluster,
    run_directory: &Path,
) -> Result<Vec<SqlLimit>> {
    let scripts = scripts(scenario);
    if scripts.is_empty() {
        return Ok(Vec::new());
    }
    let pgbench = machine::pg_binary("pgbench").context("no pgbench under /usr/lib/postgresql")?;
    let psql = machine::pg_binary("psql").context("no psql under /usr/lib/postgresql")?;
    let directory = run_directory.join("pgbench");
    std::fs::create_dir_all(&directory)
        .with_context(|| format!("cannot create {}", directory.display()))?;
    run_psql(&psql, target, SETUP).await?;
    let mut limits = Vec::new();
    let mut measured = Ok(());
    for script in scripts {
        match run_pgbench(&pgbench, script, clients, duration, target, &directory).await {
            Ok(tps) => limits.push(SqlLimit {
                script: script.file,
                replays: script.replays,
                target: script.target,
                clients,
                script_per_second: tps,
                ferrobill_per_second: 0.0,
                compared: Vec::new(),
                fraction: 0.0,
            }),
            Err(error) => {
                measured = Err(error);
                break;
            }
        }
    }
    // Clean up even after a failed run: the rows would otherwise stay in the server's tables.
    let cleaned = run_psql(&psql, target, CLEANUP).await;
    measured?;
    cleaned?;
    Ok(limits)
}

/// One pgbench run of `script`; its transactions per second.
async fn run_pgbench(
    pgbench: &Path,
    script: &Script,
    clients: u32,
    duration: Duration,
    target: &Cluster,
    directory: &Path,
) -> Result<f64> {
    let script_path = directory.join(script.file);
    std::fs::write(&script_path, script.text)
        .with_context(|| format!("cannot write {}", script_path.display()))?;
    eprintln!(
        "ferrobill-load: pgbench {} with {clients} clients for {}s",
        script.file,
        duration.as_secs()
    );
    // pgbench refuses more threads than clients.
    let threads = clients.min(2);
    let output = tokio::process::Command::new(pgbench)
        .args(target.command_line_args(SERVER_DATABASE))
        .args(["-n", "-M", "prepared", "-c", &clients.to_string()])
        .args(["-j", &threads.to_string()])
        .args(["-T", &duration.as_secs().max(1).to_string(), "-f"])
        .arg(&script_path)
        .output()
        .await
        .with_context(|| format!("cannot run {}", pgbench.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    let log_path = directory.join(format!("{}.log", script.file));
    std::fs::write(&log_path, format!("{stdout}\n{stderr}"))
        .with_context(|| format!("cannot write {}", log_path.display()))?;
    if !output.status.success() {
        bail!(
            "pgbench failed ({}); see {}",
            output.status,
            log_path.display()
        );
    }
    tps(&stdout).with_context(|| format!("no tps in {}", log_path.display()))
}

async fn run_psql(psql: &Path, target: &Cluster, sql: &str) -> Result<()> {
    let output = tokio::process::Command::new(psql)
        .args(target.command_line_args(SERVER_DATABASE))
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
    fn purchases_are_compared_with_kill_bills_authorize() {
        let mut recorder = crate::stats::Recorder::new(&["Create Account", "Purchase Payment"]);
        recorder.record_before_window("Create Account", Duration::from_millis(3), None);
        for _ in 0..1000 {
            recorder.record("Purchase Payment", Duration::from_millis(3), None);
        }
        let mut limit = SqlLimit {
            script: KILL_BILL_AUTHORIZE.file,
            replays: KILL_BILL_AUTHORIZE.replays,
            target: KILL_BILL_AUTHORIZE.target,
            clients: 10,
            script_per_second: 1000.0,
            ferrobill_per_second: 0.0,
            compared: Vec::new(),
            fraction: 0.0,
        };
        limit.compare(Scenario::Purchases, &recorder.rows(Duration::from_secs(2)));
        assert_eq!(limit.fraction, 0.5);
        let text = limit.describe();
        assert!(
            text.contains("Purchase Payment/s ÷ pgbench's tps = 0.50 (target ≥ 0.80)"),
            "{text}"
        );
        assert_eq!(limit.short(), "killbill_authorize 0.50× 1000/s");
        let scripts: Vec<&str> = scripts(Scenario::Purchases)
            .iter()
            .map(|s| s.file)
            .collect();
        assert_eq!(scripts, ["payment.sql", "killbill_authorize.sql"]);
    }

    #[test]
    fn tps_is_read_from_pgbench_output() {
        let output =
            "latency average = 5.1 ms\ntps = 1953.420011 (without initial connection time)\n";
        assert_eq!(tps(output), Some(1953.420011));
        assert_eq!(tps("no"), None);
    }
}
