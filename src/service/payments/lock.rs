//! Kill Bill's per-account payment lock (`ACCNT_INV_PAY-<accountId>`), in two levels.
//!
//! On one node, operations on an account queue on an in-memory FIFO mutex: no polling and no
//! connection held while waiting. Across nodes, every transaction of an operation first takes
//! PostgreSQL's transaction-scoped advisory lock on the account (never waiting for it), and an
//! operation that calls out also holds a lease row in `account_locks` from its first
//! transaction to its last, so no pooled connection sits idle while the plugin runs. A node
//! that finds the account locked, or leased by another live node, retries every 100 ms up to
//! `org.killbill.payment.globalLock.retries` times, as Kill Bill does. A lease of a node that
//! stopped heartbeating passes to the others at once; one of this node's own is stale by
//! construction (whoever holds the local turn is the only one working on the account here), so
//! it is taken over too.
//!
//! This file owns the in-memory queue only; the lock and lease SQL lives in storage.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use uuid::Uuid;

use crate::db::work::{ensure_not_holding, HeldConnection};

/// The in-memory queues, one per account with an operation in progress on this node.
#[derive(Clone, Default)]
pub struct LocalAccountLocks {
    accounts: Arc<Mutex<HashMap<Uuid, Arc<tokio::sync::Mutex<()>>>>>,
}

/// This node's turn on an account; the next waiter goes when it drops.
pub struct LocalTurn {
    locks: LocalAccountLocks,
    account_id: Uuid,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
    waited: bool,
}

impl LocalAccountLocks {
    /// Waits for this node's turn on `account_id` (FIFO). Refused to a task holding a
    /// connection: the turn's holder may need one to finish.
    pub async fn turn(&self, account_id: Uuid) -> Result<LocalTurn, HeldConnection> {
        ensure_not_holding("an account's turn")?;
        let queue = {
            let mut accounts = self.accounts.lock();
            accounts.entry(account_id).or_default().clone()
        };
        let (guard, waited) = match queue.clone().try_lock_owned() {
            Ok(guard) => (guard, false),
            Err(_) => (queue.lock_owned().await, true),
        };
        Ok(LocalTurn {
            locks: self.clone(),
            account_id,
            guard: Some(guard),
            waited,
        })
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.accounts.lock().len()
    }
}

impl LocalTurn {
    /// Whether this turn came after another operation's on the same account.
    pub fn waited(&self) -> bool {
        self.waited
    }
}

impl Drop for LocalTurn {
    fn drop(&mut self) {
        let mut accounts = self.locks.accounts.lock();
        drop(self.guard.take());
        // Forget the account's queue once nobody holds or waits on it, so the map only holds
        // accounts with work in progress. Waiters hold a clone of the Arc, so a count of one
        // (the map's) means nobody.
        if let Some(queue) = accounts.get(&self.account_id) {
            if Arc::strong_count(queue) == 1 {
                accounts.remove(&self.account_id);
            }
        }
    }
}

/// The lease row's name: Kill Bill's lock name for the account.
pub fn lock_name(account_id: Uuid) -> String {
    format!("ACCNT_INV_PAY-{account_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn turns_on_one_account_are_one_at_a_time_and_forgotten_after() {
        let locks = LocalAccountLocks::default();
        let account = Uuid::new_v4();
        let first = locks.turn(account).await.expect("free");
        assert!(!first.waited());
        let waiting = {
            let locks = locks.clone();
            tokio::spawn(async move { locks.turn(account).await })
        };
        // Let the waiter find the account taken before the first turn ends.
        tokio::task::yield_now().await;
        // Another account is not held up.
        let other = locks.turn(Uuid::new_v4()).await.expect("free");
        drop(other);
        assert!(!waiting.is_finished());
        drop(first);
        let second = waiting
            .await
            .expect("the waiter gets its turn")
            .expect("free");
        assert!(second.waited());
        drop(second);
        assert_eq!(locks.len(), 0);
    }
}
