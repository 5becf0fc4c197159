//! ferrobill: a billing server that speaks Kill Bill's REST API on PostgreSQL.
//!
//! The crate is layered; each layer uses only the layers below it:
//!
//! | module     | owns                                                                              |
//! |------------|-----------------------------------------------------------------------------------|
//! | [`app`]    | wiring: config → embedded database → pools → migrations → HTTP, and shutdown      |
//! | `http`     | the route table, handlers per Kill Bill resource, authentication and the permission of every operation, extractors, Kill Bill's error JSON, admission |
//! | `health`   | the checks behind `/1.0/healthcheck`                                              |
//! | [`dashboard`] | `/dashboard`: a sample a second of what saturates the server, 15 minutes kept, its figures and charts |
//! | [`metrics`] | the one recorder behind `/1.0/metrics` and `/metrics`, metric names, recording API; per-second windows for the dashboard |
//! | [`chart`]  | time-series charts as SVG (plotters), for the dashboard and the load suite's reports |
//! | [`procfs`] | a process's CPU time and memory from /proc                                        |
//! | [`html`]   | escaping text for HTML (the dashboard page, the load suite's report)              |
//! | [`java_hash`] | the iteration order of Java's HashMap and HashSet, for answers Kill Bill builds by walking one |
//! | [`profiling`] | `X-Killbill-Profiling-Req`: per-request spans (DAO, DAO_CONNECTION, PLUGIN, …) |
//! | `service`  | the rules: tenants and their key-values, users and permissions, accounts and their emails, payment methods, tags, custom fields, payments (and combo payments, hosted payment pages), export, nodes, caches, audit levels |
//! | `plugin`   | payment plugins (PaymentPluginApi), registry, executor, `__EXTERNAL_PAYMENT__`, the simulated gateway |
//! | `storage`  | SQL, one file per aggregate; takes a client or a transaction from the caller      |
//! | [`bus`]    | the persistent event bus: posting in the caller's transaction, dispatch, reaper   |
//! | [`db`]     | the embedded PostgreSQL cluster, the two connection pools, migrations            |
//! | `domain`  | value types every layer shares: a transaction's type and status, ObjectType names |
//! | [`config`] | Kill Bill's property names, the properties file and the environment               |
//! | [`clock`]  | "now" for code that decides by time: the wall clock, or tokio's paused clock in tests |
//!
//! The binary (`src/main.rs`) only parses the command line and calls [`app`]; the
//! integration tests start the same [`app::App`] on a fresh database.

pub mod app;
pub mod bus;
pub mod chart;
pub mod clock;
pub mod config;
pub mod dashboard;
pub mod db;
pub mod domain;
mod health;
pub mod html;
mod http;
pub mod java_hash;
pub mod metrics;
pub mod plugin;
pub mod procfs;
pub mod profiling;
mod service;
mod storage;
