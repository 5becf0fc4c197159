//! Who may call the API and what they may do: the users of `ferrobill.security.users` and those
//! created through `/1.0/kb/security/users`, their roles, and the permissions of each role, as
//! Kill Bill's Shiro realms hold them (the `ini` realm for configured users, the JDBC realm for
//! the others).
//!
//! Configured users keep every permission they always had: those of
//! `ferrobill.security.adminUsers` hold the built-in role `admin` (`*:*`, every permission, as
//! Kill Bill's default `root` role), the others every permission outside the `admin` and `user`
//! groups (all but administration and user management, which would let them grant themselves
//! anything). Users of the database hold what their roles hold.
//!
//! Database passwords are argon2id hashes, slow on purpose, so a verified pair is remembered per
//! node: the user name with the SHA-256 of the password and the permissions read with it,
//! compared in constant time. Any change to a user, a password, a user's roles or a role
//! definition forgets every remembered pair on every node (a NOTIFY in the change's
//! transaction, as `tenant_values.rs` does), and on this node at once, so a change takes effect
//! on the next request. A read racing a change never stores what it read.
//!
//! This file owns those rules. It never writes SQL (storage does), never logs or returns a
//! password, and never decides which operation needs which permission (the HTTP layer's table).

pub mod permissions;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use chrono::Utc;
use parking_lot::Mutex;
use subtle::{ConditionallySelectable, ConstantTimeEq};
use tokio::sync::watch;

use self::permissions::{sanitize_role_permissions, Permission, WildcardPermission};
use super::secrets::{self, digest, Hasher};
use super::{listen_and_forget, CallContext, Listener, ServiceError};
use crate::db::work::Db;
use crate::java_hash::hash_set_order;
use crate::service::duplicate_on;
use crate::storage::security;

/// The built-in role of the users in `ferrobill.security.adminUsers`: every permission.
pub const ADMIN_ROLE_PERMISSION: &str = "*:*";
/// Permission groups the other configured users do not hold.
const ADMIN_ONLY_GROUPS: [&str; 2] = ["admin", "user"];
/// At most this many verified pairs are remembered; past it everything is forgotten.
const VERIFIED_CAPACITY: usize = 10_000;

/// An authenticated caller and what it may do.
#[derive(Debug)]
pub struct Subject {
    name: String,
    /// As Kill Bill lists them: the iteration order of its `HashSet` filled role by role.
    permissions: Vec<String>,
    granted: Vec<WildcardPermission>,
}

impl Subject {
    fn new(name: &str, held: Vec<String>) -> Subject {
        let permissions = hash_set_order(held);
        let granted = permissions
            .iter()
            .filter_map(|permission| WildcardPermission::parse(permission))
            .collect();
        Subject {
            name: name.to_string(),
            permissions,
            granted,
        }
    }

    /// The user name (Shiro's principal).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Every permission held, in Kill Bill's listing order (`/1.0/kb/security/permissions`).
    pub fn permissions(&self) -> &[String] {
        &self.permissions
    }

    /// Whether one of the held permissions grants `required`.
    pub fn is_permitted(&self, required: &WildcardPermission) -> bool {
        self.granted.iter().any(|held| held.implies(required))
    }
}

/// A user of `ferrobill.security.users`: SHA-256 digests of the name and the password, so that
/// comparing takes the same time whatever their lengths, and the subject it authenticates as.
struct ConfiguredUser {
    name: [u8; 32],
    password: [u8; 32],
    subject: Arc<Subject>,
}

#[derive(Clone)]
pub struct SecurityService {
    db: Db,
    hasher: Hasher,
    configured: Arc<Vec<ConfiguredUser>>,
    verified: Arc<Verified>,
}

impl SecurityService {
    /// `users` from `ferrobill.security.users`; those named in `admins` hold the admin role.
    pub fn new(
        db: Db,
        hasher: Hasher,
        users: &[(String, String)],
        admins: &[String],
    ) -> SecurityService {
        let configured = users
            .iter()
            .map(|(name, password)| ConfiguredUser {
                name: digest(name),
                password: digest(password),
                subject: Arc::new(Subject::new(
                    name,
                    configured_permissions(admins.contains(name)),
                )),
            })
            .collect();
        SecurityService {
            db,
            hasher,
            configured: Arc::new(configured),
            verified: Arc::default(),
        }
    }

    /// Starts forgetting on every announced change; runs until `stop` turns true.
    /// Also returns what tells when the first LISTEN is in place (see [`crate::bus::listen`]).
    pub fn listen(&self, stop: watch::Receiver<bool>) -> Listener {
        let verified = self.verified.clone();
        listen_and_forget(
            &self.db,
            security::CHANGED_CHANNEL,
            "users and roles",
            stop,
            move || verified.forget(),
        )
    }

    /// Forgets every verified pair on this node (`DELETE /1.0/kb/admin/cache`, a change made
    /// here); each is verified again on its next use.
    pub fn forget(&self) {
        self.verified.forget();
    }

    /// The subject `user` authenticates as with `password`, or `None`.
    pub async fn authenticate(
        &self,
        user: &str,
        password: &str,
    ) -> Result<Option<Arc<Subject>>, ServiceError> {
        if let Some(subject) = self.authenticate_known(user, password) {
            return Ok(Some(subject));
        }
        let password_digest = digest(password);
        let generation = self.verified.generation();
        if let Some(subject) = self.configured_subject(user, &password_digest) {
            self.verified
                .remember(generation, user, password_digest, subject.clone());
            return Ok(Some(subject));
        }
        let _slot = self.hasher.slot().await?;
        // Another request may have verified the same pair while this one waited.
        if let Some(subject) = self.authenticate_known(user, password) {
            return Ok(Some(subject));
        }
        let generation = self.verified.generation();
        let (hash, held) = {
            let work = self.db.read().await?;
            let hash = security::password_hash(work.client(), user).await?;
            let held = match hash {
                Some(_) => security::user_permissions(work.client(), user).await?,
                None => Vec::new(),
            };
            (hash, held)
        };
        // An unknown name costs no hash: hashing a decoy would hide which names exist, but let
        // anyone burn a hashing slot per made-up name, which the per-user counting of failures
        // does not limit (Kill Bill's realm answers an unknown name at once too).
        let Some(hash) = hash else {
            return Ok(None);
        };
        if !secrets::verify_secret(password.to_string(), hash).await? {
            return Ok(None);
        }
        let subject = Arc::new(Subject::new(user, held));
        self.verified
            .remember(generation, user, password_digest, subject.clone());
        Ok(Some(subject))
    }

    /// The subject `user` authenticates as if this node has verified that very pair since the
    /// user last changed: never hashes, so it answers at once and tells nothing about a pair
    /// not yet verified.
    pub fn authenticate_known(&self, user: &str, password: &str) -> Option<Arc<Subject>> {
        self.verified.lookup(user, &digest(password))
    }

    /// Compares with every configured user in constant time, with no branch on the outcome, so
    /// the timing says nothing about which user exists or which part was wrong.
    fn configured_subject(&self, user: &str, password: &[u8; 32]) -> Option<Arc<Subject>> {
        let name = digest(user);
        // The index plus one of the match; 0 for none.
        let mut found = 0u64;
        for (index, known) in self.configured.iter().enumerate() {
            let matched = known.name.ct_eq(&name) & known.password.ct_eq(password);
            found.conditional_assign(&(index as u64 + 1), matched);
        }
        let index = usize::try_from(found).ok()?.checked_sub(1)?;
        self.configured.get(index).map(|user| user.subject.clone())
    }

    fn is_configured(&self, user: &str) -> bool {
        let name = digest(user);
        self.configured
            .iter()
            .any(|known| bool::from(known.name.ct_eq(&name)))
    }

    /// Defines `role` (Kill Bill's addRoleDefinition): refused if it already holds a
    /// permission. A role defined with no permission holds none and can be defined again.
    pub async fn add_role(
        &self,
        role: Option<String>,
        permissions: Option<Vec<Option<String>>>,
        context: &CallContext,
    ) -> Result<String, ServiceError> {
        let role = name(role, "role")?;
        let permissions = sanitized(permissions)?;
        let work = self.db.begin().await?;
        let transaction = work.client();
        security::lock_security(transaction).await?;
        if !security::role_permissions(transaction, &role)
            .await?
            .is_empty()
        {
            return Err(ServiceError::SecurityRoleAlreadyExists { role });
        }
        insert_permissions(transaction, &role, permissions.iter(), context).await?;
        self.commit_change(work).await?;
        Ok(role)
    }

    /// Replaces the permissions of `role` (Kill Bill's updateRoleDefinition): the ones no longer
    /// listed are removed, the new ones added; an unknown role is defined.
    pub async fn update_role(
        &self,
        role: Option<String>,
        permissions: Option<Vec<Option<String>>>,
        context: &CallContext,
    ) -> Result<(), ServiceError> {
        let role = name(role, "role")?;
        let wanted = sanitized(permissions)?;
        let now = Utc::now();
        let work = self.db.begin().await?;
        let transaction = work.client();
        security::lock_security(transaction).await?;
        let existing = security::role_permissions(transaction, &role).await?;
        let removed: Vec<String> = existing
            .iter()
            .filter(|permission| !wanted.contains(permission))
            .cloned()
            .collect();
        security::deactivate_role_permissions(
            transaction,
            &role,
            &removed,
            &context.created_by,
            now,
        )
        .await?;
        let added = wanted.iter().filter(|wanted| !existing.contains(wanted));
        insert_permissions(transaction, &role, added, context).await?;
        self.commit_change(work).await
    }

    /// The permissions of `role`, sorted; none for a role never defined.
    pub async fn role_permissions(&self, role: &str) -> Result<Vec<String>, ServiceError> {
        let work = self.db.read().await?;
        Ok(security::role_permissions(work.client(), role).await?)
    }

    /// Creates a user with these roles (Kill Bill's addUserRoles); roles need not be defined.
    pub async fn add_user(
        &self,
        username: Option<String>,
        password: Option<String>,
        roles: Option<Vec<String>>,
        context: &CallContext,
    ) -> Result<String, ServiceError> {
        let username = name(username, "username")?;
        let password = required_field(password, "UserRolesJson", "password")?;
        let roles = roles.ok_or_else(|| missing_field("UserRolesJson", "roles"))?;
        if self.is_configured(&username) {
            return Err(ServiceError::SecurityUserAlreadyExists { username });
        }
        // Hashed before taking a connection: a connection never waits for a hashing slot.
        let hash = self.hasher.hash(password).await?;
        let now = Utc::now();
        let work = self.db.begin().await?;
        let transaction = work.client();
        security::lock_security(transaction).await?;
        let already_exists = || ServiceError::SecurityUserAlreadyExists {
            username: username.clone(),
        };
        if security::password_hash(transaction, &username)
            .await?
            .is_some()
        {
            return Err(already_exists());
        }
        security::insert_user(transaction, &username, &hash, &context.created_by, now)
            .await
            .map_err(duplicate_on(security::USERNAME_INDEX, already_exists))?;
        for role in &roles {
            security::insert_user_role(transaction, &username, role, &context.created_by, now)
                .await?;
        }
        self.commit_change(work).await?;
        Ok(username)
    }

    /// Replaces the password of `username`; the old one is refused from the next request on.
    pub async fn update_password(
        &self,
        username: &str,
        password: Option<String>,
        context: &CallContext,
    ) -> Result<(), ServiceError> {
        let password = required_field(password, "UserRolesJson", "password")?;
        let hash = self.hasher.hash(password).await?;
        let work = self.db.begin().await?;
        let transaction = work.client();
        security::lock_security(transaction).await?;
        let changed = security::update_password(
            transaction,
            username,
            &hash,
            &context.created_by,
            Utc::now(),
        )
        .await?;
        if changed == 0 {
            return Err(user_not_found(username));
        }
        self.commit_change(work).await
    }

    /// The roles of the active user `username`, sorted.
    pub async fn user_roles(&self, username: &str) -> Result<Vec<String>, ServiceError> {
        let work = self.db.read().await?;
        if security::password_hash(work.client(), username)
            .await?
            .is_none()
        {
            return Err(user_not_found(username));
        }
        Ok(security::user_roles(work.client(), username).await?)
    }

    /// Gives `username` exactly `roles` (Kill Bill's updateUserRoles).
    pub async fn update_user_roles(
        &self,
        username: &str,
        roles: Option<Vec<String>>,
        context: &CallContext,
    ) -> Result<(), ServiceError> {
        let roles = roles.ok_or_else(|| missing_field("UserRolesJson", "roles"))?;
        let now = Utc::now();
        let work = self.db.begin().await?;
        let transaction = work.client();
        security::lock_security(transaction).await?;
        if security::password_hash(transaction, username)
            .await?
            .is_none()
        {
            return Err(user_not_found(username));
        }
        let existing = security::user_roles(transaction, username).await?;
        let removed: Vec<String> = existing
            .iter()
            .filter(|role| !roles.contains(role))
            .cloned()
            .collect();
        security::deactivate_user_roles(transaction, username, &removed, &context.created_by, now)
            .await?;
        for role in roles.iter().filter(|role| !existing.contains(role)) {
            security::insert_user_role(transaction, username, role, &context.created_by, now)
                .await?;
        }
        self.commit_change(work).await
    }

    /// Deactivates `username` and its roles (Kill Bill's invalidateUser): refused from the next
    /// request on; the name can be given to a new user.
    pub async fn invalidate_user(
        &self,
        username: &str,
        context: &CallContext,
    ) -> Result<(), ServiceError> {
        let work = self.db.begin().await?;
        let transaction = work.client();
        security::lock_security(transaction).await?;
        let changed =
            security::deactivate_user(transaction, username, &context.created_by, Utc::now())
                .await?;
        if changed == 0 {
            return Err(user_not_found(username));
        }
        self.commit_change(work).await
    }

    /// Announces the change to every node, commits, and forgets here at once.
    async fn commit_change(&self, work: crate::db::work::Work) -> Result<(), ServiceError> {
        security::announce_change(work.client()).await?;
        work.commit().await?;
        drop(work);
        self.verified.forget();
        Ok(())
    }
}

/// Gives `role` each of `permissions`.
async fn insert_permissions(
    transaction: &impl deadpool_postgres::GenericClient,
    role: &str,
    permissions: impl Iterator<Item = &String>,
    context: &CallContext,
) -> Result<(), ServiceError> {
    let now = Utc::now();
    for permission in permissions {
        security::insert_role_permission(transaction, role, permission, &context.created_by, now)
            .await?;
    }
    Ok(())
}

/// What a configured user holds: `*:*` for an administrator, otherwise every group but the
/// administrative ones.
fn configured_permissions(admin: bool) -> Vec<String> {
    if admin {
        return vec![ADMIN_ROLE_PERMISSION.to_string()];
    }
    let mut groups: Vec<&str> = Vec::new();
    for permission in Permission::ALL {
        let group = permission.group();
        if !ADMIN_ONLY_GROUPS.contains(&group) && !groups.contains(&group) {
            groups.push(group);
        }
    }
    groups
        .into_iter()
        .map(|group| format!("{group}:*"))
        .collect()
}

fn sanitized(permissions: Option<Vec<Option<String>>>) -> Result<Vec<String>, ServiceError> {
    sanitize_role_permissions(&permissions.unwrap_or_default())
        .map_err(|permission| ServiceError::SecurityInvalidPermission { permission })
}

fn missing_field(body: &str, field: &str) -> ServiceError {
    ServiceError::InvalidArgument(format!("{body} {field} needs to be set"))
}

/// The name of the role or user being created: Kill Bill fails to build its `Location` without
/// one, with this message (after storing rows without a name, which ferrobill does not).
fn name(value: Option<String>, field: &str) -> Result<String, ServiceError> {
    value.filter(|value| !value.is_empty()).ok_or_else(|| {
        ServiceError::InvalidArgument(format!("The template variable '{field}' has no value"))
    })
}

fn required_field(value: Option<String>, body: &str, field: &str) -> Result<String, ServiceError> {
    value
        .filter(|value| !value.is_empty())
        .ok_or_else(|| missing_field(body, field))
}

fn user_not_found(username: &str) -> ServiceError {
    ServiceError::SecurityUserNotFound {
        username: username.to_string(),
    }
}

/// User name → (SHA-256 of the password, the subject it authenticated as).
type VerifiedPairs = HashMap<String, ([u8; 32], Arc<Subject>)>;

/// Verified pairs, with a generation that every forgetting moves on, so a read that raced a
/// change is not stored.
#[derive(Default)]
struct Verified {
    entries: Mutex<VerifiedPairs>,
    generation: AtomicU64,
}

impl Verified {
    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn lookup(&self, user: &str, password: &[u8; 32]) -> Option<Arc<Subject>> {
        let entries = self.entries.lock();
        let (known, subject) = entries.get(user)?;
        bool::from(known.ct_eq(password)).then(|| subject.clone())
    }

    /// Stores the pair unless something was forgotten since `generation` was read.
    fn remember(&self, generation: u64, user: &str, password: [u8; 32], subject: Arc<Subject>) {
        let mut entries = self.entries.lock();
        if self.generation() != generation {
            return;
        }
        if entries.len() >= VERIFIED_CAPACITY && !entries.contains_key(user) {
            entries.clear();
        }
        entries.insert(user.to_string(), (password, subject));
    }

    fn forget(&self) {
        let mut entries = self.entries.lock();
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service() -> SecurityService {
        let config = crate::config::Config::from_properties(&[]).expect("a configuration");
        // Building a pool opens no connection; configured users never take one.
        let pool =
            crate::db::pool::DbPool::new("main", &config.main_pool, tokio_postgres::Config::new())
                .expect("a pool");
        SecurityService::new(
            Db::new(pool),
            Hasher::default(),
            &[
                ("admin".into(), "password".into()),
                ("clerk".into(), "clerk-pw".into()),
            ],
            &["admin".into()],
        )
    }

    fn permission(text: &str) -> WildcardPermission {
        WildcardPermission::parse(text).expect("a permission")
    }

    #[tokio::test]
    async fn configured_users_keep_every_permission_and_admins_the_admin_ones() {
        let security = service();
        let admin = security
            .authenticate("admin", "password")
            .await
            .expect("authenticates")
            .expect("the admin");
        assert_eq!(admin.permissions(), ["*:*"]);
        assert!(admin.is_permitted(&permission("admin:*")));
        let clerk = security
            .authenticate("clerk", "clerk-pw")
            .await
            .expect("authenticates")
            .expect("the clerk");
        assert!(clerk.is_permitted(&permission("payment:trigger")));
        assert!(clerk.is_permitted(&permission("tenant_kvs:add")));
        assert!(!clerk.is_permitted(&permission("admin:*")));
        assert!(!clerk.is_permitted(&permission("user:create")));
        assert_eq!(clerk.name(), "clerk");
        // Verified once, then known without hashing; a wrong password never is.
        assert!(security.authenticate_known("clerk", "clerk-pw").is_some());
        assert!(security.authenticate_known("clerk", "wrong").is_none());
        security.forget();
        assert!(security.authenticate_known("clerk", "clerk-pw").is_none());
    }

    #[test]
    fn a_read_racing_a_change_is_not_remembered() {
        let verified = Verified::default();
        let subject = Arc::new(Subject::new("u", vec!["account:*".into()]));
        let before = verified.generation();
        verified.forget();
        verified.remember(before, "u", digest("pw"), subject.clone());
        assert!(verified.lookup("u", &digest("pw")).is_none());
        verified.remember(verified.generation(), "u", digest("pw"), subject);
        assert!(verified.lookup("u", &digest("pw")).is_some());
        assert!(verified.lookup("u", &digest("other")).is_none());
    }
}
