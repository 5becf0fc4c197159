//! The main pool (`org.killbill.dao.*`) and the plugin pool (`org.killbill.billing.osgi.dao.*`).
//!
//! Kill Bill sizes both with Hikari; here each is a deadpool-postgres pool sized by its
//! `maxActive`, with the whole acquisition (slot wait plus connect) bounded by its
//! `connectionTimeout`, so a starved pool fails the request instead of queueing it forever.
//! A small maintenance task keeps `minIdle` connections warm and retires connections older
//! than `idleMaxAge` idle or `maxConnectionAge` alive. This module never runs business SQL.

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;

use super::gate::{Gate, Place, Priority, Waiting};
use crate::config::PoolConfig;
use crate::metrics::{PoolMetrics, PoolWaits};
use crate::profiling::{self, Category};

/// Why a connection could not be handed out.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// Worded as the seed reports show it (seed 001), because operators grep for it.
    #[error(
        "could not obtain a database connection within {:.3} seconds (waited {:.3} seconds)",
        timeout.as_secs_f64(),
        waited.as_secs_f64()
    )]
    Timeout {
        pool: &'static str,
        timeout: Duration,
        waited: Duration,
    },
    #[error("cannot connect to the database: {source}")]
    Connect {
        pool: &'static str,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error("the {pool} pool is closed (the server is shutting down)")]
    Closed { pool: &'static str },
    /// A task holding a connection asked for another one (see `db::work`): refused rather
    /// than waited for, since enough such waits starve the pool for good.
    #[error("refused a {pool}-pool connection to a task already holding a {held}-pool connection")]
    Nested {
        pool: &'static str,
        held: &'static str,
    },
}

impl PoolError {
    /// The pool that failed, `main` or `osgi`, as in Kill Bill's pool names.
    pub fn pool(&self) -> &'static str {
        match self {
            PoolError::Timeout { pool, .. }
            | PoolError::Connect { pool, .. }
            | PoolError::Closed { pool }
            | PoolError::Nested { pool, .. } => pool,
        }
    }
}

/// A configuration error found while building a pool: a URL PostgreSQL would not accept.
#[derive(Debug, thiserror::Error)]
#[error("invalid value for {property}: {reason}")]
pub struct PoolConfigError {
    pub property: String,
    pub reason: String,
}

/// One named pool. Cheap to clone.
#[derive(Clone)]
pub struct DbPool {
    inner: Arc<PoolInner>,
}

struct PoolInner {
    name: &'static str,
    pool: Pool,
    /// Who gets the next connection: queue work before requests.
    gate: Arc<Gate>,
    connection_timeout: Duration,
    max_active: usize,
    target: tokio_postgres::Config,
    /// Waits longer than this are logged as warnings.
    wait_warning: Option<Duration>,
    metrics: PoolMetrics,
}

/// A snapshot of a pool's state, for health and diagnostics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolState {
    pub max_size: usize,
    pub size: usize,
    pub available: usize,
    /// Callers waiting for a connection, all kinds.
    pub waiting: usize,
    /// Who waits: queue work and requests, and the longest wait now.
    pub waiters: Waiting,
}

impl DbPool {
    /// Builds the pool; no connection is opened until one is needed (or by the warm-up task).
    pub fn new(
        name: &'static str,
        config: &PoolConfig,
        target: tokio_postgres::Config,
    ) -> Result<DbPool, PoolConfigError> {
        let manager = Manager::from_config(
            target.clone(),
            NoTls,
            ManagerConfig {
                // A closed socket is detected without a round trip; a dead server shows up as
                // a failed query, which the caller maps to 503.
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let max_active = config.max_active as usize;
        let pool = Pool::builder(manager)
            .max_size(max_active)
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| PoolConfigError {
                property: format!("{}.maxActive", property_prefix(name)),
                reason: e.to_string(),
            })?;
        Ok(DbPool {
            inner: Arc::new(PoolInner {
                name,
                pool,
                gate: Gate::new(max_active),
                connection_timeout: config.connection_timeout,
                max_active,
                target,
                wait_warning: config.wait_warning,
                metrics: PoolMetrics::new(name),
            }),
        })
    }

    pub fn name(&self) -> &'static str {
        self.inner.name
    }

    /// The connection target, for the migrator and diagnostics.
    pub fn target(&self) -> &tokio_postgres::Config {
        &self.inner.target
    }

    /// Hands out a connection and its place in the pool, waiting at most `connectionTimeout`
    /// in all, queue work first (`gate`). The wait is Hikari's `pool.Wait` metric and a
    /// profiled request's DAO_CONNECTION span. Only units of work (`db::work`) check
    /// connections out; the place must be dropped after the connection.
    pub(super) async fn checkout(&self, priority: Priority) -> Result<(Object, Place), PoolError> {
        profiling::measure(
            Category::DaoConnection,
            self.inner.name,
            self.acquire(priority),
        )
        .await
    }

    async fn acquire(&self, priority: Priority) -> Result<(Object, Place), PoolError> {
        let started = Instant::now();
        let name = self.inner.name;
        let waiting = self.inner.metrics.waiting();
        let result = tokio::time::timeout(self.inner.connection_timeout, async {
            let place = self.inner.gate.enter(priority).await;
            // Never waits: the gate has as many places as the pool has connections.
            let connection = self.inner.pool.get().await?;
            Ok::<_, deadpool_postgres::PoolError>((connection, place))
        })
        .await;
        drop(waiting);
        let waited = started.elapsed();
        if self.inner.wait_warning.is_some_and(|limit| waited > limit) {
            let state = self.state();
            tracing::warn!(
                pool = name,
                waited_ms = waited.as_millis() as u64,
                priority = priority.as_str(),
                size = state.size,
                max_size = state.max_size,
                waiting_requests = state.waiters.requests,
                waiting_queue_work = state.waiters.queue,
                "slow wait for a database connection"
            );
        }
        match result {
            Ok(Ok(connection)) => {
                self.inner
                    .metrics
                    .acquired(waited, priority == Priority::Queue);
                Ok(connection)
            }
            Ok(Err(deadpool_postgres::PoolError::Backend(source))) => {
                Err(PoolError::Connect { pool: name, source })
            }
            Ok(Err(deadpool_postgres::PoolError::Closed)) => Err(PoolError::Closed { pool: name }),
            Ok(Err(_)) | Err(_) => {
                self.inner
                    .metrics
                    .timed_out(waited, priority == Priority::Queue);
                Err(PoolError::Timeout {
                    pool: name,
                    timeout: self.inner.connection_timeout,
                    waited,
                })
            }
        }
    }

    /// A connection and its place only if a place is free now (an idle connection, or a new
    /// one while the pool is below `maxActive`); `None` otherwise. For observers that must not
    /// join the line they are observing. Not counted in the pool's wait metrics.
    pub(super) async fn try_checkout(&self) -> Result<Option<(Object, Place)>, PoolError> {
        let name = self.inner.name;
        let Some(place) = self.inner.gate.try_enter() else {
            return Ok(None);
        };
        match tokio::time::timeout(self.inner.connection_timeout, self.inner.pool.get()).await {
            Ok(Ok(connection)) => Ok(Some((connection, place))),
            Ok(Err(deadpool_postgres::PoolError::Backend(source))) => {
                Err(PoolError::Connect { pool: name, source })
            }
            Ok(Err(deadpool_postgres::PoolError::Closed)) => Err(PoolError::Closed { pool: name }),
            Ok(Err(_)) | Err(_) => Err(PoolError::Timeout {
                pool: name,
                timeout: self.inner.connection_timeout,
                waited: self.inner.connection_timeout,
            }),
        }
    }

    /// The longest wait for a connection and the timeouts since the last call; the
    /// dashboard's sampler is the only caller.
    pub fn take_waits(&self) -> PoolWaits {
        self.inner.metrics.take_waits()
    }

    /// Sets the pool's size gauges (`<pool>.pool.TotalConnections` …) from its state now; called
    /// when a metrics page is rendered.
    pub fn sample_metrics(&self) {
        let state = self.state();
        self.inner
            .metrics
            .sampled(state.max_size, state.size, state.available);
        self.inner.metrics.sampled_waiters(
            state.waiters.queue,
            state.waiters.requests,
            state.waiters.longest,
        );
    }

    pub fn state(&self) -> PoolState {
        let status = self.inner.pool.status();
        let waiters = self.inner.gate.waiting();
        PoolState {
            max_size: status.max_size,
            size: status.size,
            available: status.available,
            waiting: waiters.queue + waiters.requests + status.waiting,
            waiters,
        }
    }

    /// Refuses new checkouts and drops idle connections; checked-out ones close when returned.
    pub fn close(&self) {
        self.inner.pool.close();
    }

    /// Retires expired connections and tops the pool up to `min_idle`, every `period`, until
    /// the pool is closed. Spawned once per pool by the app.
    pub async fn maintain(self, config: PoolConfig, period: Duration) {
        let mut ticker = tokio::time::interval(period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            if self.inner.pool.is_closed() {
                return;
            }
            let idle_max_age = config.idle_max_age;
            let max_age = config.max_connection_age;
            self.inner.pool.retain(|_, metrics| {
                let idle_ok = idle_max_age.is_zero() || metrics.last_used() < idle_max_age;
                let age_ok = max_age.is_none_or(|max| metrics.age() < max);
                idle_ok && age_ok
            });
            self.top_up(config.min_idle as usize).await;
        }
    }

    async fn top_up(&self, min_idle: usize) {
        let wanted = min_idle.min(self.inner.max_active);
        let missing = wanted.saturating_sub(self.inner.pool.status().size);
        let mut opened = Vec::with_capacity(missing);
        for _ in 0..missing {
            // Failures are left to the next request: a warm-up must never fail the server.
            match self.checkout(Priority::Request).await {
                Ok(connection) => opened.push(connection),
                Err(error) => {
                    tracing::debug!(pool = self.inner.name, %error, "pool warm-up skipped");
                    break;
                }
            }
        }
    }
}

/// How many sessions the PostgreSQL server at `target` lets an ordinary user open:
/// `max_connections` less the slots reserved for superusers. `None` if it could not be asked
/// (the pools then find out on their own, as Kill Bill's do).
pub async fn connections_allowed(target: &tokio_postgres::Config) -> Option<u32> {
    let (client, connection) = target.connect(NoTls).await.ok()?;
    let session = tokio::spawn(connection);
    let row = client
        .query_one(
            "select current_setting('max_connections')::int
                    - current_setting('superuser_reserved_connections')::int",
            &[],
        )
        .await
        .ok();
    drop(client);
    let _ = session.await;
    row.and_then(|row| u32::try_from(row.get::<_, i32>(0)).ok())
}

/// Refuses a pool that could never fill on a server allowing `allowed` sessions: one line
/// naming the property and its value.
pub fn check_fits(config: &PoolConfig, allowed: u32) -> Result<(), PoolConfigError> {
    if config.max_active <= allowed {
        return Ok(());
    }
    Err(PoolConfigError {
        property: format!("{}.maxActive", property_prefix(config.name)),
        reason: format!(
            "{} connections, but the database allows {allowed} (max_connections less \
             superuser_reserved_connections); lower it or raise max_connections",
            config.max_active
        ),
    })
}

/// The Kill Bill property prefix of a pool, for error messages.
fn property_prefix(pool: &str) -> &'static str {
    if pool == "main" {
        "org.killbill.dao"
    } else {
        "org.killbill.billing.osgi.dao"
    }
}

/// Turns Kill Bill's `org.killbill.dao.url` (a JDBC URL or a PostgreSQL URL) into a connection
/// target, filling user and password from their own properties when the URL has none.
///
/// JDBC query parameters PostgreSQL's own client does not know (`ssl=false`,
/// `tcpKeepAlive=true`, …) are dropped with a warning instead of failing startup.
pub fn target_from_url(
    property: &str,
    url: &str,
    user: &str,
    password: &str,
) -> Result<(tokio_postgres::Config, Vec<String>), PoolConfigError> {
    const KNOWN_OPTIONS: &[&str] = &[
        "user",
        "password",
        "dbname",
        "options",
        "application_name",
        "sslmode",
        "host",
        "hostaddr",
        "port",
        "connect_timeout",
        "keepalives",
        "keepalives_idle",
        "target_session_attrs",
        "channel_binding",
    ];
    let trimmed = url.trim();
    let without_jdbc = trimmed.strip_prefix("jdbc:").unwrap_or(trimmed);
    let normalised = if let Some(rest) = without_jdbc.strip_prefix("postgresql://") {
        format!("postgresql://{rest}")
    } else if let Some(rest) = without_jdbc.strip_prefix("postgres://") {
        format!("postgresql://{rest}")
    } else {
        return Err(PoolConfigError {
            property: property.to_string(),
            reason: format!(
                "\"{}\" is not a PostgreSQL URL: expected jdbc:postgresql://host:port/db or postgres://user@host/db",
                mask_url_password(trimmed)
            ),
        });
    };
    let mut warnings = Vec::new();
    let cleaned = match normalised.split_once('?') {
        None => normalised.clone(),
        Some((base, query)) => {
            let kept: Vec<&str> = query
                .split('&')
                .filter(|pair| !pair.is_empty())
                .filter(|pair| {
                    let key = pair.split('=').next().unwrap_or_default();
                    let known = KNOWN_OPTIONS.contains(&key);
                    if !known {
                        warnings.push(format!(
                            "{property}: ignoring URL parameter \"{key}\", which PostgreSQL's client does not know"
                        ));
                    }
                    known
                })
                .collect();
            if kept.is_empty() {
                base.to_string()
            } else {
                format!("{base}?{}", kept.join("&"))
            }
        }
    };
    let mut target = tokio_postgres::Config::from_str(&cleaned).map_err(|e| PoolConfigError {
        property: property.to_string(),
        reason: format!("\"{}\": {e}", mask_url_password(trimmed)),
    })?;
    if target.get_user().is_none() {
        target.user(user);
    }
    if target.get_password().is_none() && !password.is_empty() {
        target.password(password);
    }
    if target.get_dbname().is_none() {
        target.dbname("killbill");
    }
    Ok((target, warnings))
}

/// `postgres://user:secret@host/db` → `postgres://user:*****@host/db`, for logs and errors.
pub fn mask_url_password(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let authority_start = scheme_end + 3;
    let rest = &url[authority_start..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match (authority.rfind('@'), authority.find(':')) {
        (Some(at), Some(colon)) if colon < at => format!(
            "{}{}:*****{}",
            &url[..authority_start],
            &authority[..colon],
            &url[authority_start + at..]
        ),
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jdbc_urls_are_accepted_and_unknown_parameters_dropped() {
        let (target, warnings) = target_from_url(
            "org.killbill.dao.url",
            "jdbc:postgresql://db.example:6543/killbill?ssl=false&application_name=kb",
            "killbill",
            "secret",
        )
        .expect("a JDBC URL parses");
        assert_eq!(target.get_ports(), &[6543]);
        assert_eq!(target.get_dbname(), Some("killbill"));
        assert_eq!(target.get_user(), Some("killbill"));
        assert_eq!(target.get_password(), Some(&b"secret"[..]));
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("\"ssl\""));
    }

    #[test]
    fn url_credentials_win_over_the_user_property() {
        let (target, _) = target_from_url(
            "DATABASE_URL",
            "postgres://alice:pw@localhost/x",
            "killbill",
            "k",
        )
        .expect("parses");
        assert_eq!(target.get_user(), Some("alice"));
        assert_eq!(target.get_password(), Some(&b"pw"[..]));
    }

    #[test]
    fn a_non_postgres_url_is_refused_with_the_password_masked() {
        let error = target_from_url("org.killbill.dao.url", "mysql://u:hunter2@h/db", "u", "p")
            .expect_err("mysql is refused");
        let message = error.to_string();
        assert!(message.contains("org.killbill.dao.url"));
        assert!(!message.contains("hunter2"), "{message}");
    }

    #[test]
    fn timeout_message_matches_the_seed_wording() {
        let error = PoolError::Timeout {
            pool: "osgi",
            timeout: Duration::from_secs(5),
            waited: Duration::from_millis(5004),
        };
        assert_eq!(
            error.to_string(),
            "could not obtain a database connection within 5.000 seconds (waited 5.004 seconds)"
        );
    }
}
