//! Runs the real `ferrobill` binary as an operator would: in its own directory, configured
//! through the environment, stopped with signals; and what the tests that kill such processes
//! share (`cluster.rs`, `node_death.rs`, `payment_crash.rs`): a node's command in a cluster, a
//! slow gateway with a janitor that outlasts it, and a client that buys on a node as a tenant.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::harness::{card_method, header, last_segment, APPROVED_CARD};

static NEXT_DIR: AtomicUsize = AtomicUsize::new(0);

/// A fresh working directory under `target/tmp` for one server process.
pub fn fresh_workdir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "{name}-{}-{}",
        std::process::id(),
        NEXT_DIR.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a work directory");
    dir
}

/// The command for the binary, with the test runner's own database and ferrobill settings
/// removed so each test states its configuration.
pub fn ferrobill(workdir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ferrobill"));
    command.current_dir(workdir);
    for (name, _) in std::env::vars() {
        if name == "DATABASE_URL"
            || name.starts_with("KB_")
            || name.starts_with("KILLBILL_")
            || name.starts_with("FERROBILL_")
        {
            command.env_remove(name);
        }
    }
    command.env("RUST_LOG", "info").env("NO_COLOR", "1");
    command
}

/// Runs a command that is expected to exit by itself, killing it after `limit` so a test can
/// never hang on a server that unexpectedly started.
pub fn output_within(mut command: Command, limit: Duration) -> std::process::Output {
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ferrobill");
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let (done, finished) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if finished.recv_timeout(limit).is_err() {
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            return true;
        }
        false
    });
    let output = child.wait_with_output().expect("wait for ferrobill");
    let _ = done.send(());
    let killed = watchdog.join().unwrap_or(false);
    assert!(
        !killed,
        "the command did not exit within {limit:?}: {output:?}"
    );
    output
}

pub struct ServerProcess {
    child: Child,
    pub address: String,
    /// Every stdout line so far, for tests that read the logs.
    output: Arc<Mutex<Vec<String>>>,
}

impl ServerProcess {
    /// Starts the binary on loopback, port 0, and waits for its "serving" log line.
    pub fn start(mut command: Command) -> ServerProcess {
        command
            .env("FERROBILL_SERVER_BINDADDRESS", "127.0.0.1")
            .env("FERROBILL_SERVER_PORT", "0")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = command.spawn().expect("spawn ferrobill");
        let stdout = child.stdout.take().expect("stdout");
        let (sender, receiver) = std::sync::mpsc::channel();
        let output = Arc::new(Mutex::new(Vec::new()));
        let lines = output.clone();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if !sent && line.contains("ferrobill is serving") {
                    if let Some(address) = line.split("local_addr=").nth(1) {
                        let address = address.split_whitespace().next().unwrap_or_default();
                        let _ = sender.send(address.to_string());
                        sent = true;
                    }
                }
                println!("[ferrobill] {line}");
                lines
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .push(line);
            }
        });
        let address = match receiver.recv_timeout(Duration::from_secs(120)) {
            Ok(address) => address,
            Err(_) => {
                let _ = child.kill();
                panic!("ferrobill did not report serving within 120 s");
            }
        };
        ServerProcess {
            child,
            address: format!("http://{address}"),
            output,
        }
    }

    /// The stdout lines printed so far.
    pub fn output(&self) -> Vec<String> {
        self.output
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid()), signal)
            .expect("signal ferrobill");
    }

    /// Waits for the process to exit by itself (after a signal).
    pub fn wait(mut self) -> ExitStatus {
        self.child.wait().expect("wait for ferrobill")
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The queues a node runs, as their properties are named in the environment
/// (`KB_org_killbill_{queue}_…`).
pub const QUEUES: [&str; 3] = [
    "persistent_bus_main",
    "persistent_bus_external",
    "notificationq_main",
];

/// The command for the node `name` of a cluster on `database_url`, in a fresh directory, with
/// STICKY_POLLING on every queue: a node takes only the entries it created, so a dead node's
/// entries can reach the others only by being reaped or taken over.
pub fn cluster_node(database_url: &str, name: &str) -> Command {
    let mut command = ferrobill(&fresh_workdir(&format!("cluster-{name}")));
    command
        .env("DATABASE_URL", database_url)
        .env("KB_org_killbill_queue_creator_name", name);
    for queue in QUEUES {
        command.env(
            format!("KB_org_killbill_{queue}_queue_mode"),
            "STICKY_POLLING",
        );
    }
    command
}

/// The janitor's looks at an UNKNOWN transaction, in seconds apart: 35 s in all.
const JANITOR_LOOKS: [u64; 13] = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 5, 10, 10];

/// The simulated gateway answers after a log-normal latency (`median`, `p99`), and the janitor
/// sweeps every second with looks that outlast the slowest answer the gateway can give (a draw
/// is capped at ten times p99): a schedule used up before the plugin answers leaves the
/// transaction UNKNOWN for good, as in Kill Bill (CI once drew a 15 s answer for a p99 of 3 s).
pub fn slow_gateway_and_janitor(command: &mut Command, median: &str, p99: Duration) {
    let looks = Duration::from_secs(JANITOR_LOOKS.iter().sum());
    assert!(
        looks > p99 * 10,
        "the janitor's looks ({looks:?}) outlast the gateway's slowest answer ({:?})",
        p99 * 10
    );
    let schedule: Vec<String> = JANITOR_LOOKS.iter().map(|s| format!("{s}s")).collect();
    command
        .env(
            "FERROBILL_GATEWAY_LATENCY",
            format!("lognormal:median={median},p99={}ms", p99.as_millis()),
        )
        .env("KB_org_killbill_payment_janitor_rate", "1s")
        .env(
            "KB_org_killbill_payment_janitor_unknown_retries",
            schedule.join(","),
        );
}

/// A client of one server process, sending as the tenant `{tenant}` (secret
/// `{tenant}-secret`).
#[derive(Clone)]
pub struct Node {
    http: reqwest::Client,
    base: String,
    tenant: &'static str,
}

impl Node {
    pub fn new(http: &reqwest::Client, process: &ServerProcess, tenant: &'static str) -> Node {
        Node {
            http: http.clone(),
            base: process.address.clone(),
            tenant,
        }
    }

    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .basic_auth("admin", Some("password"))
            .header("X-Killbill-ApiKey", self.tenant)
            .header("X-Killbill-ApiSecret", format!("{}-secret", self.tenant))
            .header("X-Killbill-CreatedBy", "integration-test")
    }

    /// Creates the tenant this client sends as: 201.
    pub async fn create_tenant(&self) {
        let response = self
            .request(Method::POST, "/1.0/kb/tenants")
            .json(&json!({"apiKey": self.tenant, "apiSecret": format!("{}-secret", self.tenant)}))
            .send()
            .await
            .expect("POST /1.0/kb/tenants");
        assert_eq!(response.status(), StatusCode::CREATED);
    }

    /// Adds an approved card as the account's default method.
    pub async fn add_card(&self, account_id: &str) -> reqwest::Result<reqwest::Response> {
        self.request(
            Method::POST,
            &format!("/1.0/kb/accounts/{account_id}/paymentMethods?isDefault=true"),
        )
        .json(&card_method(APPROVED_CARD))
        .send()
        .await
    }

    /// An account in USD under `key` with an approved card, each answered 201; its id.
    pub async fn account_with_card(&self, key: &str) -> String {
        let response = self
            .request(Method::POST, "/1.0/kb/accounts")
            .json(&json!({"externalKey": key, "currency": "USD"}))
            .send()
            .await
            .expect("POST /1.0/kb/accounts");
        assert_eq!(response.status(), StatusCode::CREATED);
        let account_id = last_segment(&header(&response, "location"));
        let response = self
            .add_card(&account_id)
            .await
            .expect("POST paymentMethods");
        assert_eq!(response.status(), StatusCode::CREATED);
        account_id
    }

    /// A PURCHASE of 1 under the payment key `key`: its status, none when it got no answer.
    pub async fn purchase(&self, account_id: &str, key: &str) -> Option<StatusCode> {
        self.request(
            Method::POST,
            &format!("/1.0/kb/accounts/{account_id}/payments"),
        )
        .json(&json!({"transactionType": "PURCHASE", "amount": 1, "paymentExternalKey": key}))
        .send()
        .await
        .map(|response| response.status())
        .ok()
    }
}
