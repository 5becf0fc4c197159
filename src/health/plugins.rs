//! Kill Bill's `KillbillPluginsHealthcheck`: healthy when every registered payment plugin says
//! it is (or there are none), with one detail entry per plugin name holding that plugin's own
//! report. Plugins answer from what they know; nothing here calls a gateway.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::{BoxFuture, HealthCheck, Outcome};
use crate::plugin::PluginRegistry;

pub const KILLBILL_PLUGINS_HEALTHCHECK: &str =
    "org.killbill.billing.server.healthchecks.KillbillPluginsHealthcheck";

pub struct PluginsHealthcheck {
    plugins: Arc<PluginRegistry>,
}

impl PluginsHealthcheck {
    pub fn new(plugins: Arc<PluginRegistry>) -> PluginsHealthcheck {
        PluginsHealthcheck { plugins }
    }
}

impl HealthCheck for PluginsHealthcheck {
    fn name(&self) -> String {
        KILLBILL_PLUGINS_HEALTHCHECK.to_string()
    }

    fn check(&self) -> BoxFuture<'_, Outcome> {
        Box::pin(async move {
            let mut details = Map::new();
            let mut unhealthy = Vec::new();
            for (name, plugin) in self.plugins.all() {
                let health = plugin.health();
                if !health.healthy {
                    unhealthy.push(name.clone());
                }
                let mut detail = json!({ "healthy": health.healthy });
                if let (Some(message), Value::Object(fields)) = (health.message, &mut detail) {
                    fields.insert("message".into(), Value::String(message));
                }
                details.insert(name, detail);
            }
            let mut outcome = if unhealthy.is_empty() {
                Outcome::healthy(None)
            } else {
                Outcome::unhealthy(format!("Unhealthy plugins: {}", unhealthy.join(", ")))
            };
            outcome.details = details;
            outcome
        })
    }
}
