//! `/1.0/kb/security`: Kill Bill's SecurityResource: the caller's permissions and subject, role
//! definitions, and the users of the database with their passwords and roles. No tenant
//! headers (permissions are cross-tenant, as in Kill Bill); writes need `user:create`, which
//! `auth.rs` checks, and `X-Killbill-CreatedBy`. This file reads and shapes Kill Bill's JSON;
//! it never checks a permission or a password itself, and never returns a password.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::auth::CurrentSubject;
use super::error::Result;
use super::extract::{
    encode_uri_component, kill_bill_json_body, BaseUrl, KbJson, KbPath, WriteContext,
};
use super::lenient;
use super::respond::created;
use super::AppState;

/// Kill Bill's UserRolesJson, as read.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserRolesInputJson {
    #[serde(default, deserialize_with = "lenient::string")]
    username: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    password: Option<String>,
    #[serde(default, deserialize_with = "lenient::strings")]
    roles: Option<Vec<Option<String>>>,
}

kill_bill_json_body!(UserRolesInputJson, "UserRolesJson");

impl UserRolesInputJson {
    /// The roles given, `null` entries dropped.
    fn roles(&mut self) -> Option<Vec<String>> {
        self.roles
            .take()
            .map(|roles| roles.into_iter().flatten().collect())
    }
}

/// Kill Bill's UserRolesJson, as answered: the password is always null.
#[derive(Debug, Serialize)]
pub(super) struct UserRolesJson {
    username: String,
    password: Option<String>,
    roles: Vec<String>,
}

/// Kill Bill's RoleDefinitionJson.
#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RoleDefinitionJson {
    #[serde(default, deserialize_with = "lenient::string")]
    role: Option<String>,
    #[serde(default, deserialize_with = "lenient::strings")]
    permissions: Option<Vec<Option<String>>>,
}

kill_bill_json_body!(RoleDefinitionJson, "RoleDefinitionJson");

/// Kill Bill's SubjectJson: ferrobill keeps no sessions, so `session` is null, as Kill Bill's
/// for a Basic-auth request.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SubjectJson {
    principal: String,
    is_authenticated: bool,
    is_remembered: bool,
    session: Option<()>,
}

/// `GET /1.0/kb/security/permissions`: what the caller holds, in Kill Bill's order.
pub(super) async fn get_permissions(CurrentSubject(subject): CurrentSubject) -> Json<Vec<String>> {
    Json(subject.permissions().to_vec())
}

/// `GET /1.0/kb/security/subject`.
pub(super) async fn get_subject(CurrentSubject(subject): CurrentSubject) -> Json<SubjectJson> {
    Json(SubjectJson {
        principal: subject.name().to_string(),
        is_authenticated: true,
        is_remembered: false,
        session: None,
    })
}

/// `POST /1.0/kb/security/users` → 201 with the user's roles as `Location`.
pub(super) async fn add_user(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    WriteContext(context): WriteContext,
    KbJson(mut body): KbJson<UserRolesInputJson>,
) -> Result<Response> {
    let roles = body.roles();
    let username = state
        .security
        .add_user(body.username, body.password, roles, &context)
        .await?;
    let location = format!(
        "{base}/1.0/kb/security/users/{}/roles",
        encode_uri_component(&username)
    );
    Ok(created(location))
}

/// `PUT /1.0/kb/security/users/{username}/password` → 204.
pub(super) async fn update_password(
    State(state): State<AppState>,
    KbPath(username): KbPath<String>,
    WriteContext(context): WriteContext,
    KbJson(body): KbJson<UserRolesInputJson>,
) -> Result<StatusCode> {
    state
        .security
        .update_password(&username, body.password, &context)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /1.0/kb/security/users/{username}/roles`.
pub(super) async fn get_user_roles(
    State(state): State<AppState>,
    KbPath(username): KbPath<String>,
) -> Result<Json<UserRolesJson>> {
    let roles = state.security.user_roles(&username).await?;
    Ok(Json(UserRolesJson {
        username,
        password: None,
        roles,
    }))
}

/// `PUT /1.0/kb/security/users/{username}/roles` → 204; effective from the next request.
pub(super) async fn update_user_roles(
    State(state): State<AppState>,
    KbPath(username): KbPath<String>,
    WriteContext(context): WriteContext,
    KbJson(mut body): KbJson<UserRolesInputJson>,
) -> Result<StatusCode> {
    let roles = body.roles();
    state
        .security
        .update_user_roles(&username, roles, &context)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /1.0/kb/security/users/{username}` → 204; the user is refused from then on.
pub(super) async fn invalidate_user(
    State(state): State<AppState>,
    KbPath(username): KbPath<String>,
    WriteContext(context): WriteContext,
) -> Result<StatusCode> {
    state.security.invalidate_user(&username, &context).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /1.0/kb/security/roles` → 201 with the role as `Location`.
pub(super) async fn add_role_definition(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    WriteContext(context): WriteContext,
    KbJson(body): KbJson<RoleDefinitionJson>,
) -> Result<Response> {
    let role = state
        .security
        .add_role(body.role, body.permissions, &context)
        .await?;
    let location = format!(
        "{base}/1.0/kb/security/roles/{}",
        encode_uri_component(&role)
    );
    Ok(created(location))
}

/// `PUT /1.0/kb/security/roles` → 204.
pub(super) async fn update_role_definition(
    State(state): State<AppState>,
    WriteContext(context): WriteContext,
    KbJson(body): KbJson<RoleDefinitionJson>,
) -> Result<StatusCode> {
    state
        .security
        .update_role(body.role, body.permissions, &context)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /1.0/kb/security/roles/{role}`: its permissions, none for an unknown role.
pub(super) async fn get_role_definition(
    State(state): State<AppState>,
    KbPath(role): KbPath<String>,
) -> Result<Json<RoleDefinitionJson>> {
    let permissions = state.security.role_permissions(&role).await?;
    Ok(Json(RoleDefinitionJson {
        role: Some(role),
        permissions: Some(permissions.into_iter().map(Some).collect()),
    }))
}
