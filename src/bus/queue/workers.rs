//! Between fetching an entry and recording it: the worker loop that runs a queue's handlers
//! within `nbThreads` (each round in its own task, timed for the queue's metrics), the retry
//! decision after a round (Kill Bill's `max.failure.retry`), and the split of a batch of
//! outcomes into entries moving to history and entries going back for a retry.
//!
//! No SQL here, and nothing that knows which table an entry came from.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::{stopped, Dispatch, Entry, Queue};

/// A handler round's result, on its way to a completer.
pub(super) struct Outcome<E> {
    pub entry: Arc<E>,
    pub result: Result<(), String>,
}

/// What happens to an entry after a handler round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Completion {
    Processed,
    /// Back to AVAILABLE with this error count, for an immediate retry.
    Retry(i32),
    /// Out of retries; history keeps the count from before the last try, as Kill Bill does.
    Failed,
}

/// Kill Bill's retry rule: a failed round adds one error; up to `max_failure_retry` errors
/// the entry is retried at once, past it the entry fails.
pub(super) fn completion(error_count: i32, succeeded: bool, max_failure_retry: u32) -> Completion {
    if succeeded {
        return Completion::Processed;
    }
    let errors = error_count.saturating_add(1);
    if i64::from(errors) <= i64::from(max_failure_retry) {
        Completion::Retry(errors)
    } else {
        Completion::Failed
    }
}

/// A batch of decided entries, split the way the two completion statements take them.
#[derive(Debug, Default)]
pub(super) struct DecidedBatch {
    pub finished_ids: Vec<i64>,
    pub finished_states: Vec<&'static str>,
    pub finished_error_counts: Vec<i32>,
    pub retried_ids: Vec<i64>,
    pub retried_error_counts: Vec<i32>,
}

impl DecidedBatch {
    /// `(record_id, error_count before this round, decision)` for each entry.
    pub fn split(decided: impl IntoIterator<Item = (i64, i32, Completion)>) -> DecidedBatch {
        let mut batch = DecidedBatch::default();
        for (record_id, error_count, completion) in decided {
            match completion {
                Completion::Processed | Completion::Failed => {
                    batch.finished_ids.push(record_id);
                    batch
                        .finished_states
                        .push(if completion == Completion::Processed {
                            "PROCESSED"
                        } else {
                            "FAILED"
                        });
                    batch.finished_error_counts.push(error_count);
                }
                Completion::Retry(errors) => {
                    batch.retried_ids.push(record_id);
                    batch.retried_error_counts.push(errors);
                }
            }
        }
        batch
    }

    /// Counts for the queue's metrics: (processed, failed, first failures).
    pub fn counts(&self) -> (u64, u64, u64) {
        let failed = self
            .finished_states
            .iter()
            .filter(|s| **s == "FAILED")
            .count() as u64;
        let processed = self.finished_states.len() as u64 - failed;
        let first_failures = self
            .retried_error_counts
            .iter()
            .filter(|c| **c == 1)
            .count() as u64;
        (processed, failed, first_failures)
    }
}

/// Takes entries from the hand-over queue while fewer than `nbThreads` handler rounds run
/// (one permit of the queue's semaphore each), runs `dispatch` on each in its own task (so a
/// panicking handler counts as a failure instead of losing the entry's outcome), and sends the
/// outcome to the completers; returns when the queue stops or the hand-over queue closes.
pub(super) async fn run<E: Entry>(
    queue: Queue<E>,
    mut entries: mpsc::Receiver<Arc<E>>,
    outcomes: mpsc::UnboundedSender<Outcome<E>>,
    dispatch: Dispatch<E>,
) {
    let mut stop = queue.inner.stop.subscribe();
    loop {
        let permit = tokio::select! {
            biased;
            _ = stopped(&mut stop) => return,
            permit = queue.inner.workers.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return,
            },
        };
        let entry = tokio::select! {
            biased;
            _ = stopped(&mut stop) => return,
            entry = entries.recv() => match entry { Some(entry) => entry, None => return },
        };
        let round = dispatch(entry.clone());
        let outcomes = outcomes.clone();
        let queue = queue.clone();
        tokio::spawn(async move {
            let call = tokio::spawn(round);
            let inner = &queue.inner;
            let timed = inner
                .rounds
                .run(&inner.metrics_id, entry.due(), async move {
                    match call.await {
                        Ok(result) => result,
                        Err(join_error) => Err(format!("handler panicked: {join_error}")),
                    }
                });
            let result = timed.await;
            let _ = outcomes.send(Outcome { entry, result });
            drop(permit);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_entry_is_retried_max_failure_retry_times_then_fails() {
        assert_eq!(completion(0, true, 3), Completion::Processed);
        assert_eq!(completion(0, false, 3), Completion::Retry(1));
        assert_eq!(completion(2, false, 3), Completion::Retry(3));
        assert_eq!(completion(3, false, 3), Completion::Failed);
        assert_eq!(completion(0, false, 0), Completion::Failed);
    }

    #[test]
    fn a_batch_splits_into_history_and_retries() {
        let batch = DecidedBatch::split([
            (1, 0, Completion::Processed),
            (2, 0, Completion::Retry(1)),
            (3, 3, Completion::Failed),
            (4, 1, Completion::Retry(2)),
        ]);
        assert_eq!(batch.finished_ids, vec![1, 3]);
        assert_eq!(batch.finished_states, vec!["PROCESSED", "FAILED"]);
        assert_eq!(batch.finished_error_counts, vec![0, 3]);
        assert_eq!(batch.retried_ids, vec![2, 4]);
        assert_eq!(batch.retried_error_counts, vec![1, 2]);
        assert_eq!(batch.counts(), (1, 1, 1));
    }
}
