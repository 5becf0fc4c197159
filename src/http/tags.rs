//! Kill Bill's tag endpoints: the tags of one object (`…/tags` under accounts, payments and
//! payment transactions: add, list, remove, from JaxRsResourceBase), an account's tags and its
//! objects' (`allTags`), TagResource (paging, search, audit logs with history) and the tag
//! definitions (TagDefinitionResource: list, read, create, delete, audit logs with history),
//! with TagJson and TagDefinitionJson exactly as Kill Bill writes them.
//!
//! This file owns the wire shape and the query parameters (`includedDeleted`, `audit`, the
//! repeatable `tagDef`, `objectType`, paging). It must never hold SQL or a business rule: those
//! are `service::tags`'s.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, MethodRouter};
use axum::Extension;
use axum::Json;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::audit::{audit_logs_json, AuditLogJson};
use super::error::{ApiError, Result};
use super::extract::{
    kill_bill_json_body, parse_id, BaseUrl, CurrentTenant, JsonBody, KbJson, KbPath, ObjectPath,
    QueryPairs, TenantWrite,
};
use super::paging::{page_request, Listing};
use super::respond::created;
use super::{lenient, object_location, AppState};
use crate::service::tags::{TagDefinitionInput, TagDefinitionView, TagView};
use crate::service::ObjectKind;

/// List, add and remove the tags of objects of `kind`, the path's id naming one.
pub(super) fn object_routes(kind: ObjectKind) -> MethodRouter<AppState> {
    get(get_object_tags)
        .post(create_object_tags)
        .delete(delete_object_tags)
        .layer(Extension(kind))
}

/// Kill Bill's ObjectTypes of a tag and a tag definition, in their audit logs.
const TAG_OBJECT_TYPE: &str = "TAG";
const TAG_DEFINITION_OBJECT_TYPE: &str = "TAG_DEFINITION";

/// Kill Bill's TagJson, fields in its order.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TagJson {
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
pub(super) struct TagDefinitionJson {
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
pub(super) struct TagDefinitionInputJson {
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

kill_bill_json_body!(TagDefinitionInputJson, "TagDefinitionJson");

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

/// `GET …/{id}/tags?includedDeleted=false&audit=NONE`.
async fn get_object_tags(
    State(state): State<AppState>,
    CurrentTenant(tenant): CurrentTenant,
    path: ObjectPath,
    params: QueryPairs,
) -> Result<Json<Vec<TagJson>>> {
    let object = path.object()?;
    let audit = params.audit()?;
    let views = state
        .tags
        .object_tags(&tenant, object, params.flag("includedDeleted"), audit)
        .await?;
    Ok(Json(views.into_iter().map(Into::into).collect()))
}

/// `POST …/{id}/tags` with `["<tag definition id>", …]` → 201 with an empty body and the
/// absolute `Location` of the object's tags, even when every tag was already there (Kill
/// Bill's addTag is idempotent).
async fn create_object_tags(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    TenantWrite { tenant, context }: TenantWrite,
    path: ObjectPath,
    KbJson(body): KbJson<TagDefinitionIdsJson>,
) -> Result<Response> {
    let object = path.object()?;
    let ids: Vec<Uuid> = body
        .0
        .ok_or(ApiError::MissingBody(TagDefinitionIdsJson::NAME))?
        .into_iter()
        .flatten()
        .collect();
    state.tags.add_tags(&tenant, object, &ids, &context).await?;
    Ok(created(object_location(&base, object, "tags")))
}

/// `DELETE …/{id}/tags?tagDef=<id>&tagDef=<id>` → 204.
async fn delete_object_tags(
    State(state): State<AppState>,
    TenantWrite { tenant, context }: TenantWrite,
    path: ObjectPath,
    params: QueryPairs,
) -> Result<StatusCode> {
    let object = path.object()?;
    let ids = params.uuids("tagDef")?;
    state
        .tags
        .remove_tags(&tenant, object, &ids, &context)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /1.0/kb/accounts/{accountId}/allTags?objectType=&includedDeleted=false&audit=NONE`.
pub(super) async fn get_all_account_tags(
    State(state): State<AppState>,
    CurrentTenant(tenant): CurrentTenant,
    KbPath(raw_id): KbPath<String>,
    params: QueryPairs,
) -> Result<Json<Vec<TagJson>>> {
    let account_id = parse_id(&raw_id)?;
    let object_type = params.object_type()?;
    let views = state
        .tags
        .account_all_tags(
            &tenant,
            account_id,
            object_type,
            params.flag("includedDeleted"),
            params.audit()?,
        )
        .await?;
    Ok(Json(views.into_iter().map(Into::into).collect()))
}

/// `GET /1.0/kb/tags/pagination?offset=0&limit=100&audit=NONE` and
/// `GET /1.0/kb/tags/search/{searchKey}?offset=0&limit=100&audit=NONE` (TagResource echoes only
/// `audit`).
pub(super) async fn list_tags(
    State(state): State<AppState>,
    CurrentTenant(tenant): CurrentTenant,
    listing: Listing,
    params: QueryPairs,
) -> Result<Response> {
    let request = page_request(&params)?;
    let audit = params.audit()?;
    let search = listing.search.as_deref();
    let page = state.tags.page(&tenant, search, request, audit).await?;
    listing.respond(page.map(TagJson::from), request.limit, Vec::new(), audit)
}

/// `GET /1.0/kb/tagDefinitions?audit=NONE`: the tenant's own definitions, then the system
/// and control ones.
pub(super) async fn get_tag_definitions(
    State(state): State<AppState>,
    CurrentTenant(tenant): CurrentTenant,
    params: QueryPairs,
) -> Result<Json<Vec<TagDefinitionJson>>> {
    let audit = params.audit()?;
    let views = state.tags.definitions(&tenant, audit).await?;
    Ok(Json(views.into_iter().map(Into::into).collect()))
}

/// `POST /1.0/kb/tagDefinitions` → 201 with an empty body and the new definition's absolute
/// `Location`.
pub(super) async fn create_tag_definition(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    TenantWrite { tenant, context }: TenantWrite,
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
    Ok(created(location))
}

/// `DELETE /1.0/kb/tagDefinitions/{tagDefinitionId}` → 204 (a soft delete).
pub(super) async fn delete_tag_definition(
    State(state): State<AppState>,
    TenantWrite { tenant, context }: TenantWrite,
    KbPath(raw_id): KbPath<String>,
) -> Result<StatusCode> {
    let id = parse_id(&raw_id)?;
    state.tags.delete_definition(&tenant, id, &context).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /1.0/kb/tagDefinitions/{tagDefinitionId}?audit=NONE`.
pub(super) async fn get_tag_definition(
    State(state): State<AppState>,
    CurrentTenant(tenant): CurrentTenant,
    KbPath(raw_id): KbPath<String>,
    params: QueryPairs,
) -> Result<Json<TagDefinitionJson>> {
    let id = parse_id(&raw_id)?;
    let audit = params.audit()?;
    Ok(Json(
        state.tags.definition(&tenant, id, audit).await?.into(),
    ))
}
