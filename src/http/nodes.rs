//! `/1.0/kb/nodesInfo` and `/1.0/kb/pluginsInfo`: Kill Bill's NodesInfoResource (the nodes
//! sharing the database, and node commands; no tenant headers, nodes are cross-tenant) and
//! PluginInfoResource (the plugins this node runs; tenant headers, as in Kill Bill). This file
//! only shapes Kill Bill's JSON; it never decides which nodes are alive (the service does).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::error::{ApiError, Result};
use super::extract::{kill_bill_json_body, CurrentTenant, KbJson, QueryPairs};
use super::lenient;
use super::AppState;
use crate::service::nodes::{NodeCommand, NodeInfo, PluginInfo};

/// Kill Bill's PluginServiceInfoJson.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct PluginServiceInfoJson {
    service_type_name: String,
    registration_name: String,
}

/// Kill Bill's PluginInfoJson.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PluginInfoJson {
    bundle_symbolic_name: String,
    plugin_key: String,
    plugin_name: String,
    version: String,
    state: String,
    is_selected_for_start: bool,
    services: Vec<PluginServiceInfoJson>,
}

impl From<&PluginInfo> for PluginInfoJson {
    fn from(plugin: &PluginInfo) -> Self {
        PluginInfoJson {
            bundle_symbolic_name: plugin.bundle_symbolic_name.clone(),
            plugin_key: plugin.plugin_key.clone(),
            plugin_name: plugin.plugin_name.clone(),
            version: plugin.version.clone(),
            state: plugin.state.clone(),
            is_selected_for_start: plugin.is_selected_for_start,
            services: plugin
                .services
                .iter()
                .map(
                    |(service_type_name, registration_name)| PluginServiceInfoJson {
                        service_type_name: service_type_name.clone(),
                        registration_name: registration_name.clone(),
                    },
                )
                .collect(),
        }
    }
}

/// Kill Bill's NodeInfoJson.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct NodeInfoJson {
    node_name: String,
    boot_time: String,
    last_updated_date: String,
    kb_version: String,
    api_version: String,
    plugin_api_version: String,
    common_version: String,
    platform_version: String,
    plugins_info: Vec<PluginInfoJson>,
}

/// Joda's default date-time format, as Kill Bill writes it.
fn date_time(date: &DateTime<Utc>) -> String {
    date.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

impl From<NodeInfo> for NodeInfoJson {
    fn from(node: NodeInfo) -> Self {
        NodeInfoJson {
            node_name: node.node_name,
            boot_time: date_time(&node.boot_time),
            last_updated_date: date_time(&node.last_updated_date),
            plugins_info: node
                .details
                .plugins
                .iter()
                .map(PluginInfoJson::from)
                .collect(),
            kb_version: node.details.kb_version,
            api_version: node.details.api_version,
            plugin_api_version: node.details.plugin_api_version,
            common_version: node.details.common_version,
            platform_version: node.details.platform_version,
        }
    }
}

/// Kill Bill's NodeCommandJson, as read.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeCommandJson {
    #[serde(default, deserialize_with = "lenient::boolean")]
    is_system_command_type: Option<bool>,
    #[serde(default, deserialize_with = "lenient::string")]
    node_command_type: Option<String>,
    #[serde(default)]
    node_command_properties: Option<Vec<NodeCommandPropertyJson>>,
}

/// Kill Bill's NodeCommandPropertyJson.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeCommandPropertyJson {
    #[serde(default, deserialize_with = "lenient::string")]
    key: Option<String>,
    #[serde(default)]
    value: serde_json::Value,
}

kill_bill_json_body!(NodeCommandJson, "NodeCommandJson");

/// `GET /1.0/kb/nodesInfo`: every live node sharing the database.
pub(super) async fn get_nodes_info(
    State(state): State<AppState>,
) -> Result<Json<Vec<NodeInfoJson>>> {
    let nodes = state.nodes.nodes().await?;
    Ok(Json(nodes.into_iter().map(NodeInfoJson::from).collect()))
}

/// `POST /1.0/kb/nodesInfo?localNodeOnly=` → 202. Kill Bill needs `nodeCommandProperties`
/// (a list, possibly empty); it needs no `X-Killbill-CreatedBy`.
pub(super) async fn trigger_node_command(
    State(state): State<AppState>,
    params: QueryPairs,
    KbJson(body): KbJson<NodeCommandJson>,
) -> Result<StatusCode> {
    let properties = body.node_command_properties.ok_or_else(|| {
        ApiError::InvalidParameter("NodeCommandJson nodeCommandProperties needs to be set".into())
    })?;
    let command = NodeCommand {
        is_system_command_type: body.is_system_command_type.unwrap_or(false),
        node_command_type: body.node_command_type,
        properties: properties
            .into_iter()
            .map(|property| (property.key.unwrap_or_default(), property.value))
            .collect(),
    };
    state.nodes.trigger(&command, params.flag("localNodeOnly"));
    Ok(StatusCode::ACCEPTED)
}

/// `GET /1.0/kb/pluginsInfo`: the plugins this node runs.
pub(super) async fn get_plugins_info(
    State(state): State<AppState>,
    CurrentTenant(_): CurrentTenant,
) -> Json<Vec<PluginInfoJson>> {
    Json(
        state
            .nodes
            .plugins()
            .iter()
            .map(PluginInfoJson::from)
            .collect(),
    )
}
