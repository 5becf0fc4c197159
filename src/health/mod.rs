//! The checks behind `/1.0/healthcheck`, named and shaped as Kill Bill's: each check is keyed
//! by the name Kill Bill registers it under and reports `healthy`, an optional `message`, an
//! optional `error`, and its details as sibling fields.
//!
//! This module decides health; it does not serve HTTP (the `http` layer turns a [`Report`]
//! into 200, 500 or 501) and it never changes state other than the rotation flag.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde_json::{json, Map, Value};

pub mod plugins;
pub mod queue_check;
mod queues;

pub use queues::GROWTH_THRESHOLD;

use crate::db::work::Db;

pub const KILLBILL_HEALTHCHECK: &str =
    "org.killbill.billing.server.healthchecks.KillbillHealthcheck";

/// The `error` of a Kill Bill unhealthy result that has no exception behind it:
/// killbill-commons' `UnhealthyResult` stores `new Throwable(null)` and `getError()` wraps it in
/// another Throwable whose message is the inner one's `toString()`. (Kill Bill also writes the
/// JVM stack and a `cause` with a null message, which an [`Outcome`] does not carry.)
pub const EMPTY_THROWABLE: (&str, &str) = ("java.lang.Throwable", "java.lang.Throwable");

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub healthy: bool,
    pub message: Option<String>,
    /// Kill Bill's `error`: the type and message of what made the check fail.
    pub error: Option<(String, String)>,
    pub details: Map<String, Value>,
}

impl Outcome {
    pub fn healthy(message: Option<&str>) -> Outcome {
        Outcome {
            healthy: true,
            message: message.map(str::to_string),
            error: None,
            details: Map::new(),
        }
    }

    /// An unhealthy result without a cause. Kill Bill's UnhealthyResult still carries an
    /// `error` (an empty `java.lang.Throwable`), so clients that read `error` see one here too.
    pub fn unhealthy(message: impl Into<String>) -> Outcome {
        Outcome {
            healthy: false,
            message: Some(message.into()),
            error: Some((EMPTY_THROWABLE.0.to_string(), EMPTY_THROWABLE.1.to_string())),
            details: Map::new(),
        }
    }

    /// Kill Bill's JSON for one check: `healthy`, then `message` and `error` when set, then the
    /// details as sibling fields.
    pub fn to_json(&self) -> Value {
        let mut object = Map::new();
        object.insert("healthy".into(), Value::Bool(self.healthy));
        if let Some(message) = &self.message {
            object.insert("message".into(), Value::String(message.clone()));
        }
        if let Some((kind, message)) = &self.error {
            object.insert(
                "error".into(),
                json!({ "type": kind, "message": message, "stack": [] }),
            );
        }
        for (key, value) in &self.details {
            object.insert(key.clone(), value.clone());
        }
        Value::Object(object)
    }
}

/// One named check. Later features (queues, plugins) add their own.
pub trait HealthCheck: Send + Sync {
    fn name(&self) -> String;
    fn check(&self) -> BoxFuture<'_, Outcome>;
}

/// Every check's outcome, sorted by name as Kill Bill's registry sorts them.
#[derive(Debug)]
pub struct Report {
    pub outcomes: BTreeMap<String, Outcome>,
}

impl Report {
    pub fn is_healthy(&self) -> bool {
        self.outcomes.values().all(|outcome| outcome.healthy)
    }

    pub fn to_json(&self) -> Value {
        Value::Object(
            self.outcomes
                .iter()
                .map(|(name, outcome)| (name.clone(), outcome.to_json()))
                .collect(),
        )
    }
}

/// The registry behind `/1.0/healthcheck`. Cheap to clone.
#[derive(Clone)]
pub struct Health {
    rotation: Arc<Rotation>,
    checks: Arc<Vec<Arc<dyn HealthCheck>>>,
}

impl Health {
    /// The rotation check, one connectivity check per pool, and `others` (queues, plugins).
    /// The node starts out of rotation, as Kill Bill's does until its HTTP layer is up.
    pub fn new(databases: &[Db], others: Vec<Arc<dyn HealthCheck>>) -> Health {
        let rotation = Arc::new(Rotation {
            in_rotation: AtomicBool::new(false),
        });
        let mut checks: Vec<Arc<dyn HealthCheck>> = vec![rotation.clone()];
        for db in databases {
            checks.push(Arc::new(ConnectivityCheck { db: db.clone() }));
        }
        checks.extend(others);
        Health {
            rotation,
            checks: Arc::new(checks),
        }
    }

    pub fn put_in_rotation(&self) {
        self.rotation.in_rotation.store(true, Ordering::SeqCst);
    }

    pub fn put_out_of_rotation(&self) {
        self.rotation.in_rotation.store(false, Ordering::SeqCst);
    }

    /// Runs every check concurrently.
    pub async fn report(&self) -> Report {
        let mut handles = Vec::with_capacity(self.checks.len());
        for check in self.checks.iter() {
            let check = check.clone();
            handles.push(tokio::spawn(async move {
                let outcome = check.check().await;
                (check.name(), outcome)
            }));
        }
        let mut outcomes = BTreeMap::new();
        for handle in handles {
            match handle.await {
                Ok((name, outcome)) => {
                    outcomes.insert(name, outcome);
                }
                Err(error) => {
                    // A check that panics is a failed check, as a throwing check is in Kill Bill.
                    outcomes.insert(
                        format!("check-task-{}", outcomes.len()),
                        Outcome::unhealthy(format!("health check task failed: {error}")),
                    );
                }
            }
        }
        Report { outcomes }
    }
}

struct Rotation {
    in_rotation: AtomicBool,
}

impl HealthCheck for Rotation {
    fn name(&self) -> String {
        KILLBILL_HEALTHCHECK.to_string()
    }

    fn check(&self) -> BoxFuture<'_, Outcome> {
        Box::pin(async move {
            if self.in_rotation.load(Ordering::SeqCst) {
                Outcome::healthy(Some("OK"))
            } else {
                Outcome::unhealthy("Out of rotation")
            }
        })
    }
}

/// Kill Bill's `<pool>.pool.ConnectivityCheck`: borrows a connection (waiting at most the
/// pool's `connectionTimeout`) and, unlike Hikari's check, also runs a trivial query, so a
/// server that went away is seen even while idle connections are still pooled.
struct ConnectivityCheck {
    db: Db,
}

impl HealthCheck for ConnectivityCheck {
    fn name(&self) -> String {
        format!("{}.pool.ConnectivityCheck", self.db.name())
    }

    fn check(&self) -> BoxFuture<'_, Outcome> {
        Box::pin(async move {
            let failure = |kind: &str, message: String| Outcome {
                healthy: false,
                message: Some(message.clone()),
                error: Some((kind.to_string(), message)),
                details: Map::new(),
            };
            match self.db.read().await {
                Err(error) => failure(
                    "java.sql.SQLTransientConnectionException",
                    error.to_string(),
                ),
                Ok(work) => match work.client().simple_query("select 1").await {
                    Ok(_) => Outcome::healthy(None),
                    Err(error) => failure("java.sql.SQLException", error.to_string()),
                },
            }
        })
    }
}
