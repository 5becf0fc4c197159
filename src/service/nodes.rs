//! The nodes sharing the database and the plugins each runs: Kill Bill's KillbillNodesApi
//! (`/1.0/kb/nodesInfo`) and PluginsInfoApi (`/1.0/kb/pluginsInfo`).
//!
//! Each node writes what it says about itself (boot time, the Kill Bill versions whose API it
//! serves, its plugins) to `node_infos` when it starts and removes it when it stops gracefully;
//! a node that died keeps its row, and is no longer listed once this node's [`NodeMonitor`]
//! finds it dead (its heartbeat in `bus_nodes` standing still for `ferrobill.cluster.deadAfter`). Node commands (KPM's plugin installs) are accepted and logged: ferrobill's plugins
//! are built in, so there is nothing to install.
//!
//! This file owns that description. It never writes SQL (storage does).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ServiceError;
use crate::bus::nodes::NodeMonitor;
use crate::db::work::Db;
use crate::plugin::{PluginRegistry, EXTERNAL_PAYMENT_PLUGIN_NAME};
use crate::storage::node_infos;

/// The Kill Bill 0.24.16 versions whose API ferrobill serves, as its NodeInfo reports them.
pub const KILL_BILL_VERSION: &str = "0.24.16";
const API_VERSION: &str = "0.54.0";
const PLUGIN_API_VERSION: &str = "0.27.3";
const COMMON_VERSION: &str = "0.26.13";
const PLATFORM_VERSION: &str = "0.41.19";
/// The service every payment plugin registers (Kill Bill's OSGi service type).
const PAYMENT_PLUGIN_SERVICE: &str = "org.killbill.billing.payment.plugin.api.PaymentPluginApi";

/// A plugin a node runs (Kill Bill's PluginInfo).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginInfo {
    pub bundle_symbolic_name: String,
    pub plugin_key: String,
    pub plugin_name: String,
    pub version: String,
    /// `RUNNING` or `STOPPED` (Kill Bill's PluginState).
    pub state: String,
    pub is_selected_for_start: bool,
    /// (service type, registration name) of each service the plugin registers.
    pub services: Vec<(String, String)>,
}

/// What a node says about itself beside its name and dates, as stored in `node_infos`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeDetails {
    pub kb_version: String,
    pub api_version: String,
    pub plugin_api_version: String,
    pub common_version: String,
    pub platform_version: String,
    pub plugins: Vec<PluginInfo>,
}

/// A node sharing the database (Kill Bill's NodeInfo).
#[derive(Debug, Clone)]
pub struct NodeInfo {
    pub node_name: String,
    pub boot_time: DateTime<Utc>,
    pub last_updated_date: DateTime<Utc>,
    pub details: NodeDetails,
}

/// A node command as posted (Kill Bill's NodeCommand).
#[derive(Debug, Clone)]
pub struct NodeCommand {
    pub is_system_command_type: bool,
    pub node_command_type: Option<String>,
    /// (key, value) of each property.
    pub properties: Vec<(String, serde_json::Value)>,
}

/// This node's description and the others'. Cheap to clone.
#[derive(Clone)]
pub struct NodesService {
    db: Db,
    /// Which of the other nodes are dead.
    monitor: NodeMonitor,
    node_name: String,
    boot_time: DateTime<Utc>,
    plugins: Vec<PluginInfo>,
}

impl NodesService {
    /// This node, named `node_name` (`org.killbill.queue.creator.name`), running the plugins
    /// of `registry` (the built-in `__EXTERNAL_PAYMENT__` is part of Kill Bill itself, not a
    /// plugin, and is not listed).
    pub fn new(
        db: Db,
        monitor: NodeMonitor,
        node_name: &str,
        registry: &PluginRegistry,
    ) -> NodesService {
        let plugins = registry
            .all()
            .into_iter()
            .map(|(name, _)| name)
            .filter(|name| name != EXTERNAL_PAYMENT_PLUGIN_NAME)
            .map(|name| PluginInfo {
                bundle_symbolic_name: format!("org.ferrobill.plugin.{name}"),
                plugin_key: name.clone(),
                plugin_name: name.clone(),
                version: env!("CARGO_PKG_VERSION").to_string(),
                state: "RUNNING".to_string(),
                is_selected_for_start: true,
                services: vec![(PAYMENT_PLUGIN_SERVICE.to_string(), name)],
            })
            .collect();
        NodesService {
            db,
            monitor,
            node_name: node_name.to_string(),
            boot_time: Utc::now(),
            plugins,
        }
    }

    fn details(&self) -> NodeDetails {
        NodeDetails {
            kb_version: KILL_BILL_VERSION.to_string(),
            api_version: API_VERSION.to_string(),
            plugin_api_version: PLUGIN_API_VERSION.to_string(),
            common_version: COMMON_VERSION.to_string(),
            platform_version: PLATFORM_VERSION.to_string(),
            plugins: self.plugins.clone(),
        }
    }

    /// Records this node for the others to list; call once at startup.
    pub async fn register(&self) -> Result<(), ServiceError> {
        let details = serde_json::to_value(self.details())
            .map_err(|error| ServiceError::Internal(format!("node info: {error}")))?;
        let work = self.db.read().await?;
        node_infos::upsert_node_info(work.client(), &self.node_name, self.boot_time, &details)
            .await?;
        Ok(())
    }

    /// Removes this node's record; call at graceful shutdown.
    pub async fn unregister(&self) -> Result<(), ServiceError> {
        let work = self.db.read().await?;
        node_infos::delete_node_info(work.client(), &self.node_name).await?;
        Ok(())
    }

    /// This node and every other one not found dead, in the order they booted.
    pub async fn nodes(&self) -> Result<Vec<NodeInfo>, ServiceError> {
        let rows = {
            let work = self.db.read().await?;
            node_infos::node_infos(work.client()).await?
        };
        let dead = self.monitor.dead_nodes();
        rows.into_iter()
            .filter(|row| !dead.contains(&row.node_name))
            .map(|row| {
                let details = serde_json::from_value(row.node_info).map_err(|error| {
                    ServiceError::Internal(format!(
                        "the node info of {} is unreadable: {error}",
                        row.node_name
                    ))
                })?;
                Ok(NodeInfo {
                    node_name: row.node_name,
                    boot_time: row.boot_date,
                    last_updated_date: row.updated_date,
                    details,
                })
            })
            .collect()
    }

    /// The plugins this node runs.
    pub fn plugins(&self) -> &[PluginInfo] {
        &self.plugins
    }

    /// Accepts a node command. Kill Bill broadcasts it to the nodes' plugin managers (KPM);
    /// ferrobill's plugins are built in, so it is only logged.
    pub fn trigger(&self, command: &NodeCommand, local_node_only: bool) {
        let keys: Vec<&str> = command
            .properties
            .iter()
            .map(|(key, _)| key.as_str())
            .collect();
        tracing::info!(
            node = %self.node_name,
            command_type = command.node_command_type.as_deref().unwrap_or("(none)"),
            system = command.is_system_command_type,
            local_node_only,
            properties = ?keys,
            "node command accepted; ferrobill's plugins are built in, nothing to do"
        );
    }
}
