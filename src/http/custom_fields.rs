//! Kill Bill's custom field endpoints: the fields of one object (`…/customFields` under
//! accounts, payment methods, payments and payment transactions: list, add, modify, remove,
//! from JaxRsResourceBase), an account's fields and its objects' (`allCustomFields`), and
//! CustomFieldResource (paging, search by key, search by object type and name, audit logs with
//! history), with CustomFieldJson exactly as Kill Bill writes it.
//!
//! This file owns the wire shape and the query parameters (`audit`, the repeatable
//! `customField`, `objectType`, `fieldName`, `fieldValue`, paging). It must never hold SQL or a
//! business rule: those are `service::custom_fields`'s.

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
    parse_id, BaseUrl, CurrentTenant, JsonBody, KbJson, KbPath, ObjectPath, QueryPairs, TenantWrite,
};
use super::paging::{page_request, Listing};
use super::respond::created;
use super::{lenient, object_location, AppState};
use crate::domain::object_types::{is_object_type, unknown_object_type};
use crate::service::custom_fields::{CustomFieldView, FieldChange, FieldFilter, NewField};
use crate::service::ObjectKind;

/// List, add, modify and remove the fields of objects of `kind`, the path's id naming one.
pub(super) fn object_routes(kind: ObjectKind) -> MethodRouter<AppState> {
    get(get_object_fields)
        .post(create_object_fields)
        .put(modify_object_fields)
        .delete(delete_object_fields)
        .layer(Extension(kind))
}

/// Kill Bill's ObjectType of a custom field, in its audit logs.
const CUSTOM_FIELD_OBJECT_TYPE: &str = "CUSTOM_FIELD";

/// Kill Bill's CustomFieldJson as a response, fields in its order.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CustomFieldJson {
    custom_field_id: Uuid,
    object_id: Uuid,
    object_type: String,
    name: String,
    value: Option<String>,
    audit_logs: Vec<AuditLogJson>,
}

impl From<CustomFieldView> for CustomFieldJson {
    fn from(view: CustomFieldView) -> Self {
        let field = view.field;
        CustomFieldJson {
            custom_field_id: field.id,
            audit_logs: audit_logs_json(CUSTOM_FIELD_OBJECT_TYPE, field.id, view.audit_logs),
            object_id: field.object_id,
            object_type: field.object_type,
            name: field.name,
            value: field.value,
        }
    }
}

/// Kill Bill's CustomFieldJson as an element of a request body. `objectId` and `auditLogs` are
/// accepted and ignored, and so is `objectType` once Jackson has read it as an ObjectType: the
/// path names the object. `customFieldId` only matters to a modification.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CustomFieldInputJson {
    #[serde(default, deserialize_with = "lenient::uuid")]
    custom_field_id: Option<Uuid>,
    #[serde(default, rename = "objectId", deserialize_with = "lenient::uuid")]
    _object_id: Option<Uuid>,
    #[serde(
        default,
        rename = "objectType",
        deserialize_with = "lenient::object_type"
    )]
    _object_type: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    name: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    value: Option<String>,
    #[serde(default, rename = "auditLogs")]
    _audit_logs: Option<serde::de::IgnoredAny>,
}

/// The body of `POST` and `PUT …/customFields`: a JSON array of CustomFieldJson. A `null`
/// entry is skipped, as an absent one would be.
#[derive(Debug, Deserialize)]
#[serde(transparent)]
struct CustomFieldsJson(Vec<Option<CustomFieldInputJson>>);

impl JsonBody for CustomFieldsJson {
    const NAME: &'static str = "CustomFieldJson list";
    const ARRAY: bool = true;
    const JAVA_TYPE: &'static str =
        "java.util.ArrayList<org.killbill.billing.jaxrs.json.CustomFieldJson>";
}

impl CustomFieldsJson {
    fn fields(self) -> impl Iterator<Item = CustomFieldInputJson> {
        self.0.into_iter().flatten()
    }
}

/// `GET …/{id}/customFields?audit=NONE`.
async fn get_object_fields(
    State(state): State<AppState>,
    CurrentTenant(tenant): CurrentTenant,
    path: ObjectPath,
    params: QueryPairs,
) -> Result<Json<Vec<CustomFieldJson>>> {
    let object = path.object()?;
    let audit = params.audit()?;
    let views = state
        .custom_fields
        .object_fields(&tenant, object, audit)
        .await?;
    Ok(Json(views.into_iter().map(Into::into).collect()))
}

/// `POST …/{id}/customFields` with `[{"name":…,"value":…}, …]` → 201 with an empty body and
/// the absolute `Location` of the object's fields.
async fn create_object_fields(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    TenantWrite { tenant, context }: TenantWrite,
    path: ObjectPath,
    KbJson(body): KbJson<CustomFieldsJson>,
) -> Result<Response> {
    let object = path.object()?;
    let fields = body
        .fields()
        .map(|field| NewField {
            name: field.name,
            value: field.value,
        })
        .collect();
    state
        .custom_fields
        .add(&tenant, object, fields, &context)
        .await?;
    Ok(created(object_location(&base, object, "customFields")))
}

/// `PUT …/{id}/customFields` with `[{"customFieldId":…,"value":…}, …]` → 204.
async fn modify_object_fields(
    State(state): State<AppState>,
    TenantWrite { tenant, context }: TenantWrite,
    path: ObjectPath,
    KbJson(body): KbJson<CustomFieldsJson>,
) -> Result<StatusCode> {
    let object = path.object()?;
    let changes = body
        .fields()
        .map(|field| FieldChange {
            id: field.custom_field_id,
            name: field.name,
            value: field.value,
        })
        .collect();
    state
        .custom_fields
        .modify(&tenant, object, changes, &context)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE …/{id}/customFields?customField=<id>&customField=<id>` → 204; without any
/// `customField`, every field of the object goes.
async fn delete_object_fields(
    State(state): State<AppState>,
    TenantWrite { tenant, context }: TenantWrite,
    path: ObjectPath,
    params: QueryPairs,
) -> Result<StatusCode> {
    let object = path.object()?;
    let ids = params.uuids("customField")?;
    state
        .custom_fields
        .remove(&tenant, object, &ids, &context)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /1.0/kb/accounts/{accountId}/allCustomFields?objectType=&audit=NONE`.
pub(super) async fn get_all_account_fields(
    State(state): State<AppState>,
    CurrentTenant(tenant): CurrentTenant,
    KbPath(raw_id): KbPath<String>,
    params: QueryPairs,
) -> Result<Json<Vec<CustomFieldJson>>> {
    let account_id = parse_id(&raw_id)?;
    let object_type = params.object_type()?;
    let views = state
        .custom_fields
        .account_fields(&tenant, account_id, object_type, params.audit()?)
        .await?;
    Ok(Json(views.into_iter().map(Into::into).collect()))
}

/// `GET /1.0/kb/customFields/pagination?offset=0&limit=100&audit=NONE` and
/// `GET /1.0/kb/customFields/search/{searchKey}?offset=0&limit=100&audit=NONE`.
pub(super) async fn list_fields(
    State(state): State<AppState>,
    CurrentTenant(tenant): CurrentTenant,
    listing: Listing,
    params: QueryPairs,
) -> Result<Response> {
    let filter = match listing.search.as_deref() {
        Some(key) => FieldFilter::Key(key),
        None => FieldFilter::All,
    };
    paged(&state, &tenant, filter, &listing, &params, Vec::new()).await
}

/// One page of fields with Kill Bill's pagination headers; `echoed` are the parameters the
/// next page's URI carries before `audit`.
async fn paged(
    state: &AppState,
    tenant: &crate::service::tenants::Tenant,
    filter: FieldFilter<'_>,
    listing: &Listing,
    params: &QueryPairs,
    echoed: Vec<(&'static str, String)>,
) -> Result<Response> {
    let request = page_request(params)?;
    let audit = params.audit()?;
    let page = state
        .custom_fields
        .page(tenant, filter, request, audit)
        .await?;
    listing.respond(
        page.map(CustomFieldJson::from),
        request.limit,
        echoed,
        audit,
    )
}

/// `GET /1.0/kb/customFields/search?objectType=&fieldName=&fieldValue=`: both the object type
/// and the name are required (Kill Bill's checkNotNull), the value is optional.
pub(super) async fn search_fields_by_name(
    State(state): State<AppState>,
    CurrentTenant(tenant): CurrentTenant,
    listing: Listing,
    params: QueryPairs,
) -> Result<Response> {
    let required = |name: &str| {
        params.value(name).ok_or_else(|| {
            ApiError::NullParameter(format!("{name} in searchCustomFieldsByTypeName() is null"))
        })
    };
    let object_type = required("objectType")?;
    let name = required("fieldName")?;
    // ObjectType.valueOf in the resource: an IllegalArgumentException, not JAX-RS's 404.
    if !is_object_type(object_type) {
        return Err(ApiError::InvalidParameter(unknown_object_type(object_type)));
    }
    let value = params.value("fieldValue");
    let echoed = vec![
        ("objectType", object_type.to_string()),
        ("fieldName", name.to_string()),
        ("fieldValue", value.unwrap_or_default().to_string()),
    ];
    let filter = FieldFilter::Named {
        object_type,
        name,
        value,
    };
    paged(&state, &tenant, filter, &listing, &params, echoed).await
}
