//! The plugin executor: Kill Bill's `Plugin-th-*` pool as a semaphore of
//! `org.killbill.payment.plugin.threads.nb` slots. Every payment plugin call runs on a task of
//! its own holding a slot, and the caller waits at most until its deadline (Kill Bill's
//! `org.killbill.payment.plugin.timeout`, which counts the wait for a slot and for the account
//! lock). A call that misses the deadline is not cancelled: as in Kill Bill, it runs to its end
//! and its late result is logged and left to the janitor.
//!
//! This file owns the slots and the deadline; it never records an outcome.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::PluginError;
use crate::metrics::window::Tally;

/// Why a call produced no answer.
#[derive(Debug, thiserror::Error)]
pub enum ExecutorError {
    /// The deadline passed (waiting for a slot or for the plugin).
    #[error("plugin call timed out")]
    Timeout,
    /// The plugin answered with an error.
    #[error(transparent)]
    Plugin(#[from] PluginError),
}

#[derive(Clone)]
pub struct PluginExecutor {
    slots: Arc<Semaphore>,
    size: usize,
    /// Timed-out calls since the dashboard last looked.
    recent_timeouts: Arc<Tally>,
}

impl PluginExecutor {
    pub fn new(threads: usize) -> PluginExecutor {
        PluginExecutor {
            slots: Arc::new(Semaphore::new(threads)),
            size: threads,
            recent_timeouts: Arc::default(),
        }
    }

    /// Slots taken right now.
    pub fn busy(&self) -> usize {
        self.size - self.slots.available_permits()
    }

    /// `org.killbill.payment.plugin.threads.nb`.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Calls that timed out since the last call; the dashboard's sampler is the only caller.
    pub fn take_timeouts(&self) -> u64 {
        self.recent_timeouts.take()
    }

    fn timed_out(&self) {
        crate::metrics::plugin_call_timed_out();
        self.recent_timeouts.add(1);
    }

    /// Runs `call` on a slot, waiting for it at most until `deadline`. `what` names the call
    /// in the log line of a late result.
    pub async fn run<T, F>(
        &self,
        deadline: Instant,
        what: String,
        call: F,
    ) -> Result<T, ExecutorError>
    where
        T: Send + std::fmt::Debug + 'static,
        F: Future<Output = Result<T, PluginError>> + Send + 'static,
    {
        crate::db::work::ensure_not_holding("a plugin thread slot")
            .map_err(|held| PluginError(held.to_string()))?;
        let slot = match tokio::time::timeout_at(deadline, self.slots.clone().acquire_owned()).await
        {
            Ok(Ok(slot)) => slot,
            // The semaphore is never closed; a closed one means the server is stopping.
            Ok(Err(_)) | Err(_) => {
                self.timed_out();
                tracing::warn!(
                    call = what,
                    slots = self.size,
                    "plugin call timed out waiting for a plugin thread slot"
                );
                return Err(ExecutorError::Timeout);
            }
        };
        crate::metrics::plugin_slots_in_use(self.busy());
        let (answer, answered) = tokio::sync::oneshot::channel();
        let executor = self.clone();
        let name = what.clone();
        tokio::spawn(async move {
            let result = call.await;
            drop(slot);
            crate::metrics::plugin_slots_in_use(executor.busy());
            if let Err(late) = answer.send(result) {
                tracing::warn!(call = what, result = ?late, "late plugin result dropped after the timeout; the janitor will ask the plugin");
            }
        });
        match tokio::time::timeout_at(deadline, answered).await {
            Ok(Ok(result)) => result.map_err(ExecutorError::Plugin),
            // The task panicked: no answer is an unknown outcome, as a timeout.
            Ok(Err(_)) | Err(_) => {
                self.timed_out();
                tracing::warn!(
                    call = name,
                    "plugin call timed out; its transaction stays UNKNOWN for the janitor"
                );
                Err(ExecutorError::Timeout)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_slow_call_times_out_but_runs_to_its_end() {
        let executor = PluginExecutor::new(1);
        let (finished, was_finished) = tokio::sync::oneshot::channel();
        let result = executor
            .run(
                Instant::now() + Duration::from_secs(1),
                "slow".to_string(),
                async move {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    let _ = finished.send(());
                    Ok(())
                },
            )
            .await;
        assert!(matches!(result, Err(ExecutorError::Timeout)));
        assert_eq!(executor.busy(), 1, "the late call still holds its slot");
        was_finished.await.expect("the call ran to its end");
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_waiting_for_a_slot_counts_the_wait_toward_its_deadline() {
        let executor = PluginExecutor::new(1);
        let blocker = executor.clone();
        let (release, released) = tokio::sync::oneshot::channel::<()>();
        let held = tokio::spawn(async move {
            blocker
                .run(
                    Instant::now() + Duration::from_secs(60),
                    "holder".to_string(),
                    async move {
                        let _ = released.await;
                        Ok(())
                    },
                )
                .await
        });
        tokio::task::yield_now().await;
        let waited = executor
            .run(
                Instant::now() + Duration::from_secs(1),
                "waiter".to_string(),
                async { Ok(()) },
            )
            .await;
        assert!(matches!(waited, Err(ExecutorError::Timeout)));
        let _ = release.send(());
        assert!(held.await.expect("joined").is_ok());
    }
}
