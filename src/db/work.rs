//! The unit of work: the only way the service layer, the buses and every background task reach
//! a pool. A [`Work`] holds exactly one pooled connection, in a transaction or not, for as long
//! as it lives.
//!
//! Connections are the scarce resource, so the rule is structural: while a task holds a
//! `Work`, it may not wait for anything that can itself be waiting for the database (a second
//! connection, the account lock, a plugin slot or call, an HTTP callback). Each of those waits
//! calls [`ensure_not_holding`] first, and acquiring a `Work` does too. A task that breaks the
//! rule is refused at once (and panics in debug builds, so every test exercising the path
//! fails) instead of deadlocking the pool under load, which is how Kill Bill's pools collapse
//! in seed 001.
//!
//! The rule is checked per tokio task: a task holding a `Work` that awaits another task which
//! takes one is not seen, so nothing here spawns while holding, and neither should callers.
//!
//! This file owns the connection's life (BEGIN, COMMIT, rollback on drop) and the holding
//! registry. It never runs business SQL (storage and bus do, through [`Work::client`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::LazyLock;

use deadpool_postgres::Object;
use futures_util::FutureExt;
use parking_lot::Mutex;

use super::gate::{Place, Priority};
use super::pool::{DbPool, PoolError, PoolState};

/// One database reached through units of work: the main pool or the plugin pool, for requests
/// or for queue work ([`Db::for_queues`]). Cheap to clone.
#[derive(Clone)]
pub struct Db {
    pool: DbPool,
    priority: Priority,
}

/// A task asked to wait for something while it holds a pooled connection.
#[derive(Debug, Clone, thiserror::Error)]
#[error("refused to wait for {what} while holding a {pool} database connection (a connection must never wait)")]
pub struct HeldConnection {
    pub what: &'static str,
    pub pool: &'static str,
}

impl Db {
    pub fn new(pool: DbPool) -> Db {
        Db {
            pool,
            priority: Priority::Request,
        }
    }

    /// The same database for the queues' own work, served before requests when connections
    /// are scarce (`db::gate`).
    pub fn for_queues(&self) -> Db {
        Db {
            pool: self.pool.clone(),
            priority: Priority::Queue,
        }
    }

    /// The same database for a request's later unit of work, after it queued once already
    /// (for its account's turn, or for its first transaction): served before fresh requests
    /// (`db::gate`).
    pub fn resumed(&self) -> Db {
        Db {
            pool: self.pool.clone(),
            priority: Priority::Resumed,
        }
    }

    /// `main` or `osgi`, as Kill Bill names its pools.
    pub fn name(&self) -> &'static str {
        self.pool.name()
    }

    /// The pool's size and waiters now, for health and diagnostics; takes no connection.
    pub fn state(&self) -> PoolState {
        self.pool.state()
    }

    /// The pool itself, for what only observes it (metrics sampling, maintenance).
    pub fn pool(&self) -> &DbPool {
        &self.pool
    }

    /// A unit of work outside any transaction: each statement commits on its own. For reads
    /// and for single-statement writes.
    pub async fn read(&self) -> Result<Work, PoolError> {
        self.acquire(false).await
    }

    /// [`Db::read`] only if a connection is free now, without joining the line: `None`
    /// otherwise. For observers that must not wait behind what they observe.
    pub async fn try_read(&self) -> Result<Option<Work>, PoolError> {
        let holder = Holder::enter(self.pool.name()).map_err(|held| PoolError::Nested {
            pool: self.pool.name(),
            held: held.pool,
        })?;
        let Some((connection, place)) = self.pool.try_checkout().await? else {
            return Ok(None);
        };
        Ok(Some(Work {
            connection: Some(connection),
            place: Some(place),
            in_transaction: false,
            finished: AtomicBool::new(true),
            _holder: holder,
        }))
    }

    /// A unit of work in a transaction. BEGIN is sent at once but not waited for: it travels
    /// with the first statement, so a transaction costs no round trip of its own (a broken
    /// connection fails that statement instead).
    pub async fn begin(&self) -> Result<Work, PoolError> {
        self.acquire(true).await
    }

    async fn acquire(&self, transaction: bool) -> Result<Work, PoolError> {
        let holder = Holder::enter(self.pool.name()).map_err(|held| PoolError::Nested {
            pool: self.pool.name(),
            held: held.pool,
        })?;
        let (connection, place) = self.pool.checkout(self.priority).await?;
        let work = Work {
            connection: Some(connection),
            place: Some(place),
            in_transaction: transaction,
            finished: AtomicBool::new(!transaction),
            _holder: holder,
        };
        if transaction {
            // The first poll of the simple query hands BEGIN to the connection's task; its
            // answer is read and dropped there. Whatever comes next queues behind it.
            let _ = work.client().batch_execute("BEGIN").now_or_never();
        }
        Ok(work)
    }
}

/// One pooled connection, held by one task. Dropped in a transaction that was not committed,
/// it rolls back before the connection goes back to the pool.
pub struct Work {
    connection: Option<Object>,
    /// The connection's place in the pool, given back after the connection.
    place: Option<Place>,
    in_transaction: bool,
    /// Committed (or never in a transaction): nothing to roll back on drop.
    finished: AtomicBool,
    _holder: Holder,
}

impl Work {
    /// The connection, for storage and bus functions (`&impl GenericClient`).
    pub fn client(&self) -> &Object {
        // Only `Drop` takes the connection out.
        self.connection
            .as_ref()
            .expect("a live unit of work has its connection")
    }

    /// Starts a transaction on a unit of work taken with [`Db::read`], after statements that
    /// each committed on their own. BEGIN travels with the next statement, as in [`Db::begin`].
    pub fn start_transaction(&mut self) {
        if self.in_transaction && !self.is_finished() {
            return;
        }
        let _ = self.client().batch_execute("BEGIN").now_or_never();
        self.in_transaction = true;
        self.finished.store(false, Ordering::Release);
    }

    /// Commits the transaction (nothing to do outside one). Takes `&self` so that the last
    /// statements and the COMMIT can be sent together: `db::sql::pipelined(try_join!(
    /// write(work.client()), work.commit()))` costs one round trip, the COMMIT goes last
    /// whatever the writes cost to prepare, and if a write fails PostgreSQL answers the COMMIT
    /// with a rollback.
    pub async fn commit(&self) -> Result<(), tokio_postgres::Error> {
        if !self.in_transaction || self.finished.load(Ordering::Acquire) {
            return Ok(());
        }
        super::sql::batch_execute(self.client(), "COMMIT").await?;
        self.finished.store(true, Ordering::Release);
        Ok(())
    }

    /// Whether a COMMIT has succeeded (always true outside a transaction).
    pub fn is_finished(&self) -> bool {
        self.finished.load(Ordering::Acquire)
    }
}

impl Drop for Work {
    fn drop(&mut self) {
        let place = self.place.take();
        let Some(connection) = self.connection.take() else {
            return;
        };
        if self.finished.load(Ordering::Acquire) {
            // Back in the pool before its place goes to the next waiter.
            drop(connection);
            drop(place);
            return;
        }
        // The ROLLBACK must be answered before anyone else gets the connection, and drop
        // cannot wait: a task of its own holds the connection until then. Without a runtime
        // (a test dropping a Work after its runtime), the connection is closed instead.
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    if let Err(error) = connection.batch_execute("ROLLBACK").await {
                        tracing::debug!(%error, "rollback of an abandoned unit of work failed; the connection is dropped");
                        drop(Object::take(connection));
                    } else {
                        drop(connection);
                    }
                    drop(place);
                });
            }
            Err(_) => {
                drop(Object::take(connection));
                drop(place);
            }
        }
    }
}

/// Refuses when the calling task holds a [`Work`]: call it before any wait that could itself
/// be waiting for a connection. Panics in debug builds, so a test that reaches such a path
/// fails where the mistake is.
pub fn ensure_not_holding(what: &'static str) -> Result<(), HeldConnection> {
    let Some(task) = tokio::task::try_id() else {
        return Ok(());
    };
    let held = HOLDERS.lock().get(&task).copied();
    match held {
        None => Ok(()),
        Some(pool) => Err(refuse(HeldConnection { what, pool })),
    }
}

fn refuse(held: HeldConnection) -> HeldConnection {
    tracing::error!(%held, "a task tried to wait while holding a database connection");
    if cfg!(debug_assertions) {
        panic!("{held}");
    }
    held
}

/// Tasks holding a connection now, with the pool it came from.
static HOLDERS: LazyLock<Mutex<HashMap<tokio::task::Id, &'static str>>> =
    LazyLock::new(Mutex::default);

/// This task's entry in [`HOLDERS`] for the life of one [`Work`].
struct Holder {
    task: Option<tokio::task::Id>,
}

impl Holder {
    fn enter(pool: &'static str) -> Result<Holder, HeldConnection> {
        let Some(task) = tokio::task::try_id() else {
            return Ok(Holder { task: None });
        };
        let mut holders = HOLDERS.lock();
        if let Some(&held) = holders.get(&task) {
            drop(holders);
            return Err(refuse(HeldConnection {
                what: if pool == "main" {
                    "a main-pool connection"
                } else {
                    "a plugin-pool connection"
                },
                pool: held,
            }));
        }
        holders.insert(task, pool);
        Ok(Holder { task: Some(task) })
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        if let Some(task) = self.task {
            HOLDERS.lock().remove(&task);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Holds are tracked per tokio task, so each test runs in a spawned one (a test's own body
    // runs outside any task, where nothing is checked).

    #[tokio::test]
    async fn a_task_holding_nothing_may_wait() {
        let waited = tokio::spawn(async { ensure_not_holding("anything").is_ok() });
        assert!(waited.await.expect("joined"));
    }

    #[tokio::test]
    async fn a_holder_is_refused_a_wait_and_free_again_once_dropped() {
        let checked = tokio::spawn(async {
            let holder = Holder::enter("main").expect("first hold");
            let refused = std::panic::catch_unwind(|| ensure_not_holding("the account lock"));
            let refused_as_expected = if cfg!(debug_assertions) {
                refused.is_err()
            } else {
                matches!(refused, Ok(Err(HeldConnection { pool: "main", .. })))
            };
            drop(holder);
            (
                refused_as_expected,
                ensure_not_holding("the account lock").is_ok(),
            )
        });
        assert_eq!(checked.await.expect("joined"), (true, true));
    }

    #[tokio::test]
    async fn holds_are_per_task() {
        let checked = tokio::spawn(async {
            let _holder = Holder::enter("main").expect("held here");
            tokio::spawn(async { ensure_not_holding("a plugin call").is_ok() }).await
        });
        assert!(checked.await.expect("joined").expect("joined"));
    }
}
