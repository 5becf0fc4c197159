//! The shared test harness: [`TestApp::spawn`] starts ferrobill on a fresh database and port 0
//! and hands back an HTTP client that knows Kill Bill's headers.
//!
//! The database server is started once per test process: the embedded cluster under
//! `target/tmp` (the same code the server uses), or the server `DATABASE_URL` points at. A
//! template database is migrated once; each test clones it, so tests never see each other's
//! rows. A test that stops and restarts PostgreSQL starts a cluster of its own
//! ([`own_postgres`]).
//!
//! It also holds the fixtures the tests share: accounts, payment methods (external or a card)
//! and purchases made over HTTP, kbswagger's field lists, the rows the fault and cluster tests
//! read (bus entries left, charges against SUCCESS transactions), and the waits.

#![allow(dead_code)]

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ferrobill::app::App;
use ferrobill::config::Config;
use ferrobill::db::embedded::{EmbeddedCluster, EmbeddedOptions};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::Value;
use tokio::sync::{Mutex, OnceCell};
use tokio_postgres::NoTls;

const TEMPLATE_PREFIX: &str = "ferrobill_template";

/// Where test databases live for this test process.
struct DatabaseServer {
    /// Connects to the maintenance database, for CREATE/DROP DATABASE.
    admin: tokio_postgres::Config,
    template: String,
    /// Kept alive for the life of the process; postgres exits with it (parent-death signal).
    _cluster: Option<EmbeddedCluster>,
    /// CREATE DATABASE … TEMPLATE fails if two run at once on one template.
    create_lock: Mutex<()>,
}

static SERVER: OnceCell<DatabaseServer> = OnceCell::const_new();
static NEXT_DATABASE: AtomicUsize = AtomicUsize::new(0);

async fn server() -> &'static DatabaseServer {
    SERVER
        .get_or_init(|| async {
            let (admin, cluster) = match std::env::var("DATABASE_URL") {
                Ok(url) => {
                    let config = tokio_postgres::Config::from_str(&url)
                        .expect("DATABASE_URL is a PostgreSQL URL");
                    (config, None)
                }
                Err(_) => {
                    let cluster = start_test_cluster().await;
                    (cluster.pg_config("postgres"), Some(cluster))
                }
            };
            let template = format!("{TEMPLATE_PREFIX}_{}", std::process::id());
            let client = connect(&admin).await;
            client
                .batch_execute(&format!("drop database if exists {template}"))
                .await
                .expect("drop a stale template");
            client
                .batch_execute(&format!("create database {template}"))
                .await
                .expect("create the template database");
            let mut target = admin.clone();
            target.dbname(&template);
            ferrobill::db::migrate::run(&target)
                .await
                .expect("migrate the template database");
            DatabaseServer {
                admin,
                template,
                _cluster: cluster,
                create_lock: Mutex::new(()),
            }
        })
        .await
}

/// A private cluster for this test process under `target/tmp`, after removing the directories
/// of earlier runs whose process is gone.
async fn start_test_cluster() -> EmbeddedCluster {
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("pg");
    std::fs::create_dir_all(&root).expect("create target/tmp/pg");
    if let Ok(entries) = std::fs::read_dir(&root) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            let stale = name
                .strip_prefix("run-")
                .and_then(|pid| pid.parse::<u32>().ok())
                .is_some_and(|pid| !PathBuf::from(format!("/proc/{pid}")).exists());
            if stale {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    let data_dir = root.join(format!("run-{}", std::process::id()));
    EmbeddedCluster::start(EmbeddedOptions {
        data_dir,
        port: 5432,
        max_connections: 500,
        durable: false,
        settings: Vec::new(),
    })
    .await
    .expect("start the test PostgreSQL cluster")
}

/// A PostgreSQL cluster of one test's own under `target/tmp/{name}-{pid}`, for a test that
/// stops and restarts it (stopping the shared one would fail every other test), with the
/// database `ferrobill` created: the running cluster, the options to start it again, and the
/// database.
pub async fn own_postgres(name: &str) -> (EmbeddedCluster, EmbeddedOptions, TestDatabase) {
    let data_dir =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data_dir);
    let options = EmbeddedOptions {
        data_dir,
        port: 5432,
        max_connections: 100,
        durable: false,
        settings: Vec::new(),
    };
    let cluster = EmbeddedCluster::start(options.clone())
        .await
        .expect("start the test's own PostgreSQL");
    cluster
        .ensure_database("ferrobill")
        .await
        .expect("create the database");
    let db = TestDatabase {
        name: "ferrobill".to_string(),
        config: cluster.pg_config("ferrobill"),
    };
    (cluster, options, db)
}

pub async fn connect(config: &tokio_postgres::Config) -> tokio_postgres::Client {
    let (client, connection) = config.connect(NoTls).await.expect("connect to PostgreSQL");
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

/// A fresh database cloned from the migrated template. Clones name the same database (the
/// nodes of a [`TestCluster`] share one).
#[derive(Clone)]
pub struct TestDatabase {
    pub name: String,
    pub config: tokio_postgres::Config,
}

impl TestDatabase {
    pub async fn create() -> TestDatabase {
        let template = server().await.template.clone();
        Self::create_from(&template).await
    }

    /// A fresh database with no schema at all, for migration tests.
    pub async fn create_empty() -> TestDatabase {
        Self::create_from("template0").await
    }

    async fn create_from(template: &str) -> TestDatabase {
        let server = server().await;
        let name = format!(
            "ferrobill_test_{}_{}",
            std::process::id(),
            NEXT_DATABASE.fetch_add(1, Ordering::SeqCst)
        );
        {
            let _guard = server.create_lock.lock().await;
            let client = connect(&server.admin).await;
            client
                .batch_execute(&format!("create database {name} template {template}"))
                .await
                .expect("create a test database");
        }
        let mut config = server.admin.clone();
        config.dbname(&name);
        TestDatabase { name, config }
    }

    /// A URL for `org.killbill.dao.url`, Unix socket or TCP.
    pub fn url(&self) -> String {
        let mut url = format!("postgresql:///{}?", self.name);
        let mut params = Vec::new();
        match self.config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Unix(path)) => {
                params.push(format!("host={}", path.display()))
            }
            Some(tokio_postgres::config::Host::Tcp(host)) => params.push(format!("host={host}")),
            None => {}
        }
        if let Some(port) = self.config.get_ports().first() {
            params.push(format!("port={port}"));
        }
        if let Some(user) = self.config.get_user() {
            params.push(format!("user={user}"));
        }
        if let Some(password) = self.config.get_password() {
            params.push(format!("password={}", String::from_utf8_lossy(password)));
        }
        url.push_str(&params.join("&"));
        url
    }

    pub async fn client(&self) -> tokio_postgres::Client {
        connect(&self.config).await
    }

    async fn drop_database(name: String) {
        let Some(server) = SERVER.get() else { return };
        let client = connect(&server.admin).await;
        let _ = client
            .batch_execute(&format!("drop database if exists {name} with (force)"))
            .await;
    }
}

/// A table locked by [`TestApp::lock_table`]; rolled back on release.
pub struct TableLock {
    client: tokio_postgres::Client,
}

impl TableLock {
    pub async fn release(self) {
        self.client
            .batch_execute("rollback")
            .await
            .expect("release the lock");
    }
}

/// Kill Bill credentials for one tenant.
#[derive(Clone, Debug)]
pub struct TenantKeys {
    pub api_key: String,
    pub api_secret: String,
    pub id: String,
}

/// ferrobill running in this process on a fresh database.
pub struct TestApp {
    pub address: String,
    pub http: reqwest::Client,
    pub db: TestDatabase,
    pub tenant: Option<TenantKeys>,
    app: Option<App>,
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(&[]).await
    }

    /// Starts the server with these properties over the test defaults (loopback, port 0, the
    /// fresh database).
    pub async fn spawn_with(properties: &[(&str, &str)]) -> TestApp {
        Self::spawn_on(TestDatabase::create().await, properties).await
    }

    /// Starts a server on an existing database, e.g. one more node of a [`TestCluster`].
    pub async fn spawn_on(db: TestDatabase, properties: &[(&str, &str)]) -> TestApp {
        let url = db.url();
        let mut pairs: Vec<(&str, &str)> = vec![
            ("org.killbill.dao.url", url.as_str()),
            ("ferrobill.server.bindAddress", "127.0.0.1"),
            ("ferrobill.server.port", "0"),
        ];
        pairs.extend_from_slice(properties);
        let config = Config::from_properties(&pairs).expect("valid test configuration");
        let app = App::start(config).await.expect("ferrobill starts");
        let address = format!("http://{}", app.local_addr());
        TestApp {
            address,
            http: http_client(),
            db,
            tenant: None,
            app: Some(app),
        }
    }

    /// Starts a server and creates a tenant whose headers [`TestApp::kb`] then sends.
    pub async fn spawn_with_tenant() -> TestApp {
        let mut app = Self::spawn().await;
        app.tenant = Some(app.create_tenant("tenant-key", "tenant-secret").await);
        app
    }

    /// Creates the tenant `api_key` (secret `{api_key}-secret`) and sends as it from now on.
    pub async fn use_new_tenant(&mut self, api_key: &str) {
        let keys = self
            .create_tenant(api_key, &format!("{api_key}-secret"))
            .await;
        self.tenant = Some(keys);
    }

    pub fn app(&self) -> &App {
        self.app.as_ref().expect("the app is running")
    }

    /// Takes the running server out of the harness, for tests that drive its shutdown.
    pub fn take_app(&mut self) -> App {
        self.app.take().expect("the app is running")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// A request with no credentials at all.
    pub fn bare(&self, method: Method, path: &str) -> RequestBuilder {
        self.http.request(method, self.url(path))
    }

    /// A request with Basic auth (admin/password) but no tenant headers.
    pub fn admin(&self, method: Method, path: &str) -> RequestBuilder {
        self.bare(method, path)
            .basic_auth("admin", Some("password"))
    }

    /// A request as the test tenant, with `X-Killbill-CreatedBy` set.
    pub fn kb(&self, method: Method, path: &str) -> RequestBuilder {
        let tenant = self.tenant.as_ref().expect("spawn_with_tenant() first");
        self.admin(method, path)
            .header("X-Killbill-ApiKey", &tenant.api_key)
            .header("X-Killbill-ApiSecret", &tenant.api_secret)
            .header("X-Killbill-CreatedBy", "integration-test")
    }

    pub async fn create_tenant(&self, api_key: &str, api_secret: &str) -> TenantKeys {
        let response = self
            .admin(Method::POST, "/1.0/kb/tenants")
            .header("X-Killbill-CreatedBy", "integration-test")
            .json(&serde_json::json!({ "apiKey": api_key, "apiSecret": api_secret }))
            .send()
            .await
            .expect("POST /1.0/kb/tenants");
        let response = expect_status(response, StatusCode::CREATED).await;
        let location = header(&response, "location");
        let id = location
            .rsplit('/')
            .next()
            .expect("a Location ending in the id")
            .to_string();
        TenantKeys {
            api_key: api_key.to_string(),
            api_secret: api_secret.to_string(),
            id,
        }
    }

    /// A request as the test tenant, with `body` as JSON when given.
    pub async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Response {
        let request = self.kb(method, path);
        let request = match body {
            Some(body) => request.json(&body),
            None => request,
        };
        request.send().await.expect("a response")
    }

    /// A GET as the test tenant answered 200: its JSON.
    pub async fn get_json(&self, path: &str) -> Value {
        let response = self.kb(Method::GET, path).send().await.expect("GET");
        expect_status(response, StatusCode::OK)
            .await
            .json()
            .await
            .expect("JSON")
    }

    /// Creates an account as the test tenant: the 201 response.
    pub async fn create_account_answer(&self, body: serde_json::Value) -> Response {
        let response = self
            .kb(Method::POST, "/1.0/kb/accounts")
            .json(&body)
            .send()
            .await
            .expect("POST /1.0/kb/accounts");
        expect_status(response, StatusCode::CREATED).await
    }

    /// Creates an account as the test tenant; returns its id.
    pub async fn create_account(&self, body: serde_json::Value) -> String {
        let response = self.create_account_answer(body).await;
        last_segment(&header(&response, "location"))
    }

    /// An account in USD under `external_key`; returns its id.
    pub async fn usd_account(&self, external_key: &str) -> String {
        self.create_account(serde_json::json!({ "externalKey": external_key, "currency": "USD" }))
            .await
    }

    /// An account in USD under `external_key` with a default `__EXTERNAL_PAYMENT__` method:
    /// (account id, payment method id).
    pub async fn account_with_external_method(&self, external_key: &str) -> (String, String) {
        let account = self.usd_account(external_key).await;
        let response = self
            .kb(
                Method::POST,
                &format!("/1.0/kb/accounts/{account}/paymentMethods?isDefault=true"),
            )
            .json(&serde_json::json!({ "pluginName": "__EXTERNAL_PAYMENT__" }))
            .send()
            .await
            .expect("POST paymentMethods");
        let response = expect_status(response, StatusCode::CREATED).await;
        let method = last_segment(&header(&response, "location"));
        (account, method)
    }

    /// An account in USD under `external_key` whose default method is a `killbill-stripe`
    /// card (see [`card_method`]); returns the account id.
    pub async fn account_with_card(&self, external_key: &str, card: &str) -> String {
        let account_id = self.usd_account(external_key).await;
        let response = self
            .kb(
                Method::POST,
                &format!("/1.0/kb/accounts/{account_id}/paymentMethods?isDefault=true"),
            )
            .json(&card_method(card))
            .send()
            .await
            .expect("POST paymentMethods");
        expect_status(response, StatusCode::CREATED).await;
        account_id
    }

    /// A PURCHASE of `amount` USD on the account's default method: (payment id, transaction
    /// id).
    pub async fn purchase(&self, account_id: &str, amount: &str) -> (String, String) {
        let response = self
            .kb(
                Method::POST,
                &format!("/1.0/kb/accounts/{account_id}/payments"),
            )
            .json(&serde_json::json!({
                "transactionType": "PURCHASE", "amount": amount, "currency": "USD"
            }))
            .send()
            .await
            .expect("POST payments");
        let response = expect_status(response, StatusCode::CREATED).await;
        let payment_id = last_segment(&header(&response, "location"));
        let payment = self
            .get_json(&format!("/1.0/kb/payments/{payment_id}"))
            .await;
        let transaction_id = payment["transactions"][0]["transactionId"]
            .as_str()
            .expect("a transaction id")
            .to_string();
        (payment_id, transaction_id)
    }

    /// Registers `url` as the test tenant's push-notification callback.
    pub async fn register_callback(&self, url: &str) {
        let response = self
            .kb(Method::POST, "/1.0/kb/tenants/registerNotificationCallback")
            .query(&[("cb", url)])
            .send()
            .await
            .expect("POST registerNotificationCallback");
        expect_status(response, StatusCode::CREATED).await;
    }

    /// `select count(*) …` on this test's database.
    pub async fn count(&self, sql: &str) -> i64 {
        count(&self.db.client().await, sql).await
    }

    /// Takes an exclusive lock on `table` from a separate session, so requests that touch it
    /// block inside PostgreSQL until [`TableLock::release`]: a way to hold requests in flight.
    pub async fn lock_table(&self, table: &str) -> TableLock {
        let client = self.db.client().await;
        client
            .batch_execute(&format!(
                "begin; lock table {table} in access exclusive mode"
            ))
            .await
            .expect("lock the table");
        TableLock { client }
    }

    /// Waits until `count` sessions of this test's database are blocked on a lock.
    pub async fn wait_for_lock_waiters(&self, count: i64) {
        let observer = self.db.client().await;
        wait_until(
            &format!("{count} requests to block on the lock"),
            Duration::from_secs(30),
            || {
                let observer = &observer;
                async move { lock_waiters(observer).await == count }
            },
        )
        .await;
    }

    /// Sends `POST /1.0/kb/tenants` in the background, for requests held by a [`TableLock`].
    pub fn spawn_create_tenant(
        &self,
        api_key: &str,
    ) -> tokio::task::JoinHandle<reqwest::Result<Response>> {
        let request = self
            .admin(Method::POST, "/1.0/kb/tenants")
            .header("X-Killbill-CreatedBy", "integration-test")
            .json(&serde_json::json!({ "apiKey": api_key, "apiSecret": "secret" }));
        tokio::spawn(async move { request.send().await })
    }

    /// Graceful shutdown, then the database is dropped.
    pub async fn stop(mut self) {
        if let Some(app) = self.app.take() {
            app.shutdown().await.expect("clean shutdown");
        }
        TestDatabase::drop_database(self.db.name.clone()).await;
    }
}

/// A push-notification callback on 127.0.0.1: what it receives, one NotificationJson at a time.
pub struct Callback {
    pub url: String,
    received: tokio::sync::mpsc::UnboundedReceiver<Value>,
}

impl Callback {
    /// A callback answering 200 to every notification.
    pub async fn start() -> Callback {
        let (sender, received) = tokio::sync::mpsc::unbounded_channel();
        let router = axum::Router::new().route(
            "/callback",
            axum::routing::post(move |body: String| {
                let sender = sender.clone();
                async move {
                    let _ = sender.send(serde_json::from_str(&body).unwrap_or(Value::String(body)));
                    axum::http::StatusCode::OK
                }
            }),
        );
        let address = serve_on_loopback(router).await;
        Callback {
            url: format!("http://{address}/callback"),
            received,
        }
    }

    /// The next notification, within a minute.
    pub async fn next(&mut self) -> Value {
        tokio::time::timeout(Duration::from_secs(60), self.received.recv())
            .await
            .expect("a push notification in time")
            .expect("the callback server is running")
    }

    /// The next `count` notifications of `event_type`, skipping the others.
    pub async fn next_of(&mut self, event_type: &str, count: usize) -> Vec<Value> {
        let mut found = Vec::with_capacity(count);
        while found.len() < count {
            let notification = self.next().await;
            if notification["eventType"] == event_type {
                found.push(notification);
            }
        }
        found
    }

    /// Whether a notification arrives within `wait`.
    pub async fn is_quiet_for(&mut self, wait: Duration) -> bool {
        tokio::time::timeout(wait, self.received.recv())
            .await
            .is_err()
    }
}

/// Serves `router` on 127.0.0.1 on a free port, in the background; its address.
pub async fn serve_on_loopback(router: axum::Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let address = listener.local_addr().expect("a local address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    address
}

/// How many nodes a [`TestCluster`] runs.
pub const CLUSTER_SIZE: usize = 3;

/// Kill Bill's deployment in miniature: [`CLUSTER_SIZE`] ferrobill nodes in this process, each
/// on its own loopback port and under its own `org.killbill.queue.creator.name` (`node-1` …),
/// sharing one fresh database. In-process nodes stop gracefully; a test that needs SIGKILL runs
/// the binary instead (`tests/it/cluster.rs`).
pub struct TestCluster {
    pub db: TestDatabase,
    pub nodes: Vec<TestApp>,
}

impl TestCluster {
    /// Starts the nodes one after the other with these properties over the test defaults.
    pub async fn spawn_with(properties: &[(&str, &str)]) -> TestCluster {
        let db = TestDatabase::create().await;
        let mut nodes = Vec::with_capacity(CLUSTER_SIZE);
        for index in 1..=CLUSTER_SIZE {
            let name = node_name(index);
            let mut pairs = properties.to_vec();
            pairs.push(("org.killbill.queue.creator.name", name.as_str()));
            nodes.push(TestApp::spawn_on(db.clone(), &pairs).await);
        }
        TestCluster { db, nodes }
    }

    /// Creates a tenant through the first node; [`TestApp::kb`] on every node then sends its
    /// headers.
    pub async fn create_tenant(&mut self, api_key: &str, api_secret: &str) -> TenantKeys {
        let keys = self.nodes[0].create_tenant(api_key, api_secret).await;
        for node in &mut self.nodes {
            node.tenant = Some(keys.clone());
        }
        keys
    }

    /// The node for the `index`-th request: requests spread round robin, as a load balancer
    /// spreads them.
    pub fn node(&self, index: usize) -> &TestApp {
        &self.nodes[index % self.nodes.len()]
    }

    /// Graceful shutdown of every node, then the database is dropped.
    pub async fn stop(mut self) {
        for node in &mut self.nodes {
            if let Some(app) = node.app.take() {
                app.shutdown().await.expect("clean shutdown");
            }
        }
        TestDatabase::drop_database(self.db.name.clone()).await;
    }
}

/// The creator name of the `index`-th node (from 1).
pub fn node_name(index: usize) -> String {
    format!("node-{index}")
}

/// The property names of kbswagger.yaml's `Account` definition, in its order.
pub const ACCOUNT_FIELDS: &[&str] = &[
    "accountId",
    "name",
    "firstNameLength",
    "externalKey",
    "email",
    "billCycleDayLocal",
    "currency",
    "parentAccountId",
    "isPaymentDelegatedToParent",
    "paymentMethodId",
    "referenceTime",
    "timeZone",
    "address1",
    "address2",
    "postalCode",
    "company",
    "city",
    "state",
    "country",
    "locale",
    "phone",
    "notes",
    "isMigrated",
    "accountBalance",
    "accountCBA",
    "auditLogs",
];

/// The property names of kbswagger.yaml's `PaymentMethod` definition, in its order.
pub const PAYMENT_METHOD_FIELDS: &[&str] = &[
    "paymentMethodId",
    "externalKey",
    "accountId",
    "isDefault",
    "pluginName",
    "pluginInfo",
    "auditLogs",
];

/// A card number the simulated gateway approves.
pub const APPROVED_CARD: &str = "4242424242424242";

/// The body of a `killbill-stripe` payment method for `card` (number, expiry, CVV), as Kill
/// Bill clients send it.
pub fn card_method(card: &str) -> Value {
    serde_json::json!({
        "pluginName": "killbill-stripe",
        "pluginInfo": {"properties": [
            {"key": "ccNumber", "value": card},
            {"key": "ccExpirationMonth", "value": 12},
            {"key": "ccExpirationYear", "value": 2030},
            {"key": "ccVerificationValue", "value": "123"}
        ]}
    })
}

pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("an HTTP client")
}

/// The id a `Location` ends with (a payment's ends with a slash).
pub fn last_segment(location: &str) -> String {
    location
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .expect("a Location ending in an id")
        .to_string()
}

pub fn header(response: &Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("response has no {name} header: {response:?}"))
        .to_string()
}

/// Sends `request`, which must be answered.
pub async fn send(request: RequestBuilder) -> Response {
    request.send().await.expect("request")
}

/// Asserts the status, printing the body when it differs.
pub async fn expect_status(response: Response, expected: StatusCode) -> Response {
    if response.status() != expected {
        let status = response.status();
        let url = response.url().clone();
        let body = response.text().await.unwrap_or_default();
        panic!("{url}: expected {expected}, got {status}: {body}");
    }
    response
}

/// Asserts a 200 and returns its JSON.
pub async fn json_of(response: Response) -> Value {
    expect_status(response, StatusCode::OK)
        .await
        .json()
        .await
        .expect("a JSON body")
}

/// Asserts a Kill Bill error: the status and a JSON body of Kill Bill's shape; returns it.
pub async fn expect_kb_error(response: Response, expected: StatusCode) -> Value {
    let response = expect_status(response, expected).await;
    let body: Value = response.json().await.expect("a JSON error body");
    for key in [
        "className",
        "code",
        "message",
        "causeClassName",
        "causeMessage",
        "stackTrace",
    ] {
        assert!(body.get(key).is_some(), "error JSON lacks {key}: {body}");
    }
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    body
}

/// `select count(*) …` (or any single bigint) on a test database.
pub async fn count(client: &tokio_postgres::Client, sql: &str) -> i64 {
    client
        .query_one(sql, &[])
        .await
        .expect("a count query")
        .get::<_, i64>(0)
}

/// The entries waiting on both buses (`bus_events` and `bus_ext_events`).
pub async fn bus_entries_left(sql: &tokio_postgres::Client) -> i64 {
    count(
        sql,
        "select (select count(*) from bus_events) + (select count(*) from bus_ext_events)",
    )
    .await
}

/// The external ACCOUNT_CREATION events dispatched.
pub async fn external_account_creations(sql: &tokio_postgres::Client) -> i64 {
    count(
        sql,
        "select count(*) from bus_ext_events_history
         where event_json like '%ACCOUNT_CREATION%' and processing_state = 'PROCESSED'",
    )
    .await
}

/// The SUCCESS payment transactions and the simulated gateway's charges (PROCESSED), for
/// tests that check one charge per SUCCESS transaction.
pub async fn successes_and_charges(sql: &tokio_postgres::Client) -> (i64, i64) {
    let successes = count(
        sql,
        "select count(*) from payment_transactions where transaction_status = 'SUCCESS'",
    )
    .await;
    let charged = count(
        sql,
        "select count(*) from gateway_transactions where status = 'PROCESSED'",
    )
    .await;
    (successes, charged)
}

/// The simulated gateway's charges with no SUCCESS transaction behind them.
pub async fn charges_without_a_success(sql: &tokio_postgres::Client) -> i64 {
    count(
        sql,
        "select count(*) from gateway_transactions g
         where g.status = 'PROCESSED' and not exists (
             select 1 from payment_transactions t
             where t.id = g.kb_transaction_id and t.transaction_status = 'SUCCESS')",
    )
    .await
}

/// The payments with more than one transaction.
pub async fn payments_with_several_transactions(sql: &tokio_postgres::Client) -> i64 {
    count(
        sql,
        "select count(*) from (select payment_id from payment_transactions
                               group by payment_id having count(*) > 1) doubled",
    )
    .await
}

/// Polls `condition` until it holds, for states that cannot be awaited directly (a session
/// blocked on a lock inside PostgreSQL). Panics after `limit`.
pub async fn wait_until<F, Fut>(what: &str, limit: Duration, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !condition().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls `left` until it is empty, for what other processes must finish (a dead node's work
/// taken over, transactions repaired). Panics after `limit`, naming what was still left.
pub async fn wait_until_none_left<F, Fut>(what: &str, limit: Duration, mut left: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Vec<String>>,
{
    let deadline = Instant::now() + limit;
    loop {
        let still = left().await;
        if still.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: still {still:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The number of sessions of `db` waiting on a lock.
pub async fn lock_waiters(client: &tokio_postgres::Client) -> i64 {
    client
        .query_one(
            "select count(*) from pg_stat_activity
             where datname = current_database() and wait_event_type = 'Lock'",
            &[],
        )
        .await
        .map(|row| row.get::<_, i64>(0))
        .unwrap_or(0)
}
