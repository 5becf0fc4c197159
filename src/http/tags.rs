//! Kill Bill's tag endpoints: an account's tags (AccountResource's `/{accountId}/tags`: add,
//! list, remove) and the tag definitions (TagDefinitionResource: list, read, create, delete,
//! audit logs with history), with TagJson and TagDefinitionJson exactly as Kill Bill writes
//! them.
//!
//! This file owns the wire shape and the query parameters (`includedDeleted`, `audit`, the
//! repeatable `tagDef`). It must never hold SQL or a business rule: those are
//! `service::tags`'s.

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::audit::{
    audit_logs_json, audit_logs_with_history_json, parse_audit_level, AuditLogJson,
};
use super::error::{ApiError, Result};
use super::extract::{parse_id, BaseUrl, CurrentTenant, JsonBody, KbJson, KbPath, WriteContext};
use super::lenient;
use super::AppState;
use crate::service::tags::{TagDefinitionInput, TagDefinitionView, TagView};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/1.0/kb/accounts/{account_id}/tags",
            get(get_account_tags)
                .post(create_account_tags)
                .delete(delete_account_tags),
        )
        .route(
            "/1.0/kb/tagDefinitions",
            get(get_tag_definitions).post(create_tag_definition),
        )
        .route(
            "/1.0/kb/tagDefinitions/{tag_definition_id}",
            get(get_tag_definition).delete(delete_tag_definition),
        )
        .route(
            "/1.0/kb/tagDefinitions/{tag_definition_id}/auditLogsWithHistory",
            get(get_tag_definition_audit_logs_with_history),
        )
}

/// Kill Bill's ObjectTypes of a tag and a tag definition, in their audit logs.
const TAG_OBJECT_TYPE: &str = "TAG";
const TAG_DEFINITION_OBJECT_TYPE: &str = "TAG_DEFINITION";

/// Kill Bill's TagJson, fields in its order.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct TagJson {
    tag_id: Uuid,
    object_type: String,
    object_id: Uuid,
    tag_definition_id: Uuid,
    tag_definition_name: String,
    audit_logs: Vec<AuditLogJson>,
}

impl From<TagView> for TagJson {
    fn from(view: TagView) -> Self {
        TagJson {
            tag_id: view.tag.id,
            audit_logs: audit_logs_json(TAG_OBJECT_TYPE, view.tag.id, view.audit_logs),
            object_type: view.tag.object_type,
            object_id: view.tag.object_id,
            tag_definition_id: view.definition.id,
            tag_definition_name: view.definition.name,
        }
    }
}

/// Kill Bill's TagDefinitionJson as a response, fields in its order.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct TagDefinitionJson {
    id: Uuid,
    is_control_tag: bool,
    name: String,
    description: String,
    applicable_object_types: Vec<String>,
    audit_logs: Vec<AuditLogJson>,
}

impl From<TagDefinitionView> for TagDefinitionJson {
    fn from(view: TagDefinitionView) -> Self {
        let definition = view.definition;
        TagDefinitionJson {
            id: definition.id,
            audit_logs: audit_logs_json(TAG_DEFINITION_OBJECT_TYPE, definition.id, view.audit_logs),
            is_control_tag: definition.is_control_tag,
            name: definition.name,
            description: definition.description,
            applicable_object_types: definition.applicable_object_types,
        }
    }
}

/// Kill Bill's TagDefinitionJson as a request body. `id`, `isControlTag` and `auditLogs` are
/// accepted and ignored, as Kill Bill does; an explicit `null` is an absent field.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TagDefinitionInputJson {
    #[serde(default, rename = "id")]
    _id: Option<serde::de::IgnoredAny>,
    #[serde(default, rename = "isControlTag")]
    _is_control_tag: Option<serde::de::IgnoredAny>,
    #[serde(default, deserialize_with = "lenient::string")]
    name: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    description: Option<String>,
    #[serde(default, deserialize_with = "lenient::object_types")]
    applicable_object_types: Option<Vec<String>>,
    #[serde(default, rename = "auditLogs")]
    _audit_logs: Option<serde::de::IgnoredAny>,
}

impl JsonBody for TagDefinitionInputJson {
    const NAME: &'static str = "TagDefinitionJson";
    const JAVA_TYPE: &'static str = "org.killbill.billing.jaxrs.json.TagDefinitionJson";
}

/// The body of `POST …/tags`: a JSON array of tag definition ids, as kbswagger.yaml says. A
/// `null` entry is skipped, as an absent one would be.
#[derive(Debug, Deserialize)]
#[serde(transparent)]
struct TagDefinitionIdsJson(
    #[serde(deserialize_with = "lenient::uuids")] Option<Vec<Option<Uuid>>>,
);

impl JsonBody for TagDefinitionIdsJson {
    const NAME: &'static str = "Tag definition id list";
    const ARRAY: bool = true;
    const JAVA_TYPE: &'static str = "java.util.ArrayList<java.util.UUID>";
}

/// The read parameters of Kill Bill's getTags and getTagDefinitions. `includedDeleted` follows
/// JAX-RS (anything other than `true` is false); `audit` must name an AuditLevel (else 404).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReadQuery {
    included_deleted: Option<String>,
    audit: Option<String>,
}

type RawQuery = std::result::Result<Query<ReadQuery>, axum::extract::rejection::QueryRejection>;

fn read_query(query: RawQuery) -> ReadQuery {
    query.map(|Query(query)| query).unwrap_or_default()
}

/// `GET /1.0/kb/accounts/{accountId}/tags?includedDeleted=false&audit=NONE`.
async fn get_account_tags(
    State(state): State<AppState>,
    CurrentTenant(tenant): CurrentTenant,
    KbPath(raw_id): KbPath<String>,
    query: RawQuery,
) -> Result<Json<Vec<TagJson>>> {
    let account_id = parse_id(&raw_id)?;
    let query = read_query(query);
    let audit = parse_audit_level(query.audit.as_deref())?;
    let include_deleted = query
        .included_deleted
        .as_deref()
        .is_some_and(|value| value.eq_ignore_ascii_case("true"));
    let views = state
        .tags
        .account_tags(&tenant, account_id, include_deleted, audit)
        .await?;
    Ok(Json(views.into_iter().map(Into::into).collect()))
}

/// `POST /1.0/kb/accounts/{accountId}/tags` with `["<tag definition id>", …]` → 201 with an
/// empty body and the absolute `Location` of the account's tags, even when every tag was
/// already there (Kill Bill's addTag is idempotent).
async fn create_account_tags(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    CurrentTenant(tenant): CurrentTenant,
    WriteContext(context): WriteContext,
    KbPath(raw_id): KbPath<String>,
    KbJson(body): KbJson<TagDefinitionIdsJson>,
) -> Result<Response> {
    let account_id = parse_id(&raw_id)?;
    let ids: Vec<Uuid> = body
        .0
        .ok_or(ApiError::MissingBody(TagDefinitionIdsJson::NAME))?
        .into_iter()
        .flatten()
        .collect();
    state
        .tags
        .add_account_tags(&tenant, account_id, &ids, &context)
        .await?;
    let location = format!("{base}/1.0/kb/accounts/{account_id}/tags");
    Ok((StatusCode::CREATED, [(header::LOCATION, location)]).into_response())
}

/// `DELETE /1.0/kb/accounts/{accountId}/tags?tagDef=<id>&tagDef=<id>` → 204.
async fn delete_account_tags(
    State(state): State<AppState>,
    CurrentTenant(tenant): CurrentTenant,
    WriteContext(context): WriteContext,
    KbPath(raw_id): KbPath<String>,
    query: std::result::Result<
        Query<Vec<(String, String)>>,
        axum::extract::rejection::QueryRejection,
    >,
) -> Result<StatusCode> {
    let account_id = parse_id(&raw_id)?;
    let pairs = query.map(|Query(pairs)| pairs).unwrap_or_default();
    // A `tagDef` that is not a UUID fails JAX-RS's List<UUID> conversion: 404.
    let ids = pairs
        .iter()
        .filter(|(name, _)| name == "tagDef")
        .map(|(_, value)| {
            Uuid::parse_str(value)
                .map_err(|_| ApiError::NotFound(format!("Invalid tagDef {value}")))
        })
        .collect::<Result<Vec<Uuid>>>()?;
    state
        .tags
        .remove_account_tags(&tenant, account_id, &ids, &context)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /1.0/kb/tagDefinitions?audit=NONE`: the tenant's own definitions, then the system
/// and control ones.
async fn get_tag_definitions(
    State(state): State<AppState>,
    CurrentTenant(tenant): CurrentTenant,
    query: RawQuery,
) -> Result<Json<Vec<TagDefinitionJson>>> {
    let audit = parse_audit_level(read_query(query).audit.as_deref())?;
    let views = state.tags.definitions(&tenant, audit).await?;
    Ok(Json(views.into_iter().map(Into::into).collect()))
}

/// `POST /1.0/kb/tagDefinitions` → 201 with an empty body and the new definition's absolute
/// `Location`.
async fn create_tag_definition(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    CurrentTenant(tenant): CurrentTenant,
    WriteContext(context): WriteContext,
    KbJson(body): KbJson<TagDefinitionInputJson>,
) -> Result<Response> {
    let input = TagDefinitionInput {
        name: body.name,
        description: body.description,
        applicable_object_types: body.applicable_object_types,
    };
    let definition = state
        .tags
        .create_definition(&tenant, input, &context)
        .await?;
    let location = format!("{base}/1.0/kb/tagDefinitions/{}", definition.id);
    Ok((StatusCode::CREATED, [(header::LOCATION, location)]).into_response())
}

/// `DELETE /1.0/kb/tagDefinitions/{tagDefinitionId}` → 204 (a soft delete).
async fn delete_tag_definition(
    State(state): State<AppState>,
    CurrentTenant(tenant): CurrentTenant,
    WriteContext(context): WriteContext,
    KbPath(raw_id): KbPath<String>,
) -> Result<StatusCode> {
    let id = parse_id(&raw_id)?;
    state.tags.delete_definition(&tenant, id, &context).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /1.0/kb/tagDefinitions/{tagDefinitionId}/auditLogsWithHistory`.
async fn get_tag_definition_audit_logs_with_history(
    State(state): State<AppState>,
    CurrentTenant(tenant): CurrentTenant,
    KbPath(raw_id): KbPath<String>,
) -> Result<Json<Vec<AuditLogJson>>> {
    let id = parse_id(&raw_id)?;
    let logs = state
        .tags
        .definition_audit_logs_with_history(&tenant, id)
        .await?;
    Ok(Json(audit_logs_with_history_json(
        TAG_DEFINITION_OBJECT_TYPE,
        id,
        logs,
    )))
}

/// `GET /1.0/kb/tagDefinitions/{tagDefinitionId}?audit=NONE`.
async fn get_tag_definition(
    State(state): State<AppState>,
    CurrentTenant(tenant): CurrentTenant,
    KbPath(raw_id): KbPath<String>,
    query: RawQuery,
) -> Result<Json<TagDefinitionJson>> {
    let id = parse_id(&raw_id)?;
    let audit = parse_audit_level(read_query(query).audit.as_deref())?;
    Ok(Json(
        state.tags.definition(&tenant, id, audit).await?.into(),
    ))
}
