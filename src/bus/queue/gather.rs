//! Gathering a batch from a channel against a deadline: the completers' linger (outcomes
//! recorded together, not one transaction per handler call) and STICKY_EVENTS' inflight wait
//! (`inflight.min` ids, or whatever came within 100 ms). The deadline is a
//! `tokio::time::Instant`, so both follow tokio's paused clock in tests.
//!
//! This file only collects what the channel hands over. It never touches the database and
//! never drops an item: what it does not take stays in the channel.

use tokio::sync::mpsc;
use tokio::time::Instant;

/// Adds to `batch` what `receiver` already holds, up to `max` items in all; while the batch
/// has fewer than `min`, waits for more until `until`. Returns at once, taking nothing more,
/// once the channel is closed and empty.
pub(super) async fn gather<T>(
    receiver: &mut mpsc::UnboundedReceiver<T>,
    batch: &mut Vec<T>,
    min: usize,
    max: usize,
    until: Instant,
) {
    while batch.len() < max {
        match receiver.try_recv() {
            Ok(item) => batch.push(item),
            Err(_) if batch.len() >= min => break,
            // `timeout_at` polls the channel before the timer: an item already there is
            // taken even once `until` has passed.
            Err(_) => match tokio::time::timeout_at(until, receiver.recv()).await {
                Ok(Some(item)) => batch.push(item),
                Ok(None) | Err(_) => break,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const WAIT: Duration = Duration::from_millis(100);

    #[tokio::test(start_paused = true)]
    async fn short_of_the_minimum_it_waits_exactly_until_the_deadline() {
        let (sender, mut receiver) = mpsc::unbounded_channel();
        sender.send(2).expect("open");
        let start = Instant::now();
        let mut batch = vec![1];
        gather(&mut receiver, &mut batch, 3, 5, start + WAIT).await;
        assert_eq!(batch, [1, 2]);
        assert_eq!(start.elapsed(), WAIT);
    }

    #[tokio::test(start_paused = true)]
    async fn it_stops_waiting_as_soon_as_the_minimum_arrives() {
        let (sender, mut receiver) = mpsc::unbounded_channel();
        let start = Instant::now();
        let gathering = tokio::spawn(async move {
            let mut batch = vec![1];
            gather(&mut receiver, &mut batch, 3, 5, start + WAIT).await;
            (batch, start.elapsed())
        });
        tokio::time::advance(Duration::from_millis(30)).await;
        sender.send(2).expect("open");
        tokio::time::advance(Duration::from_millis(30)).await;
        sender.send(3).expect("open");
        let (batch, waited) = gathering.await.expect("gathered");
        assert_eq!(batch, [1, 2, 3]);
        assert_eq!(waited, Duration::from_millis(60));
    }

    #[tokio::test(start_paused = true)]
    async fn what_is_ready_is_taken_up_to_the_maximum_without_waiting() {
        let (sender, mut receiver) = mpsc::unbounded_channel();
        for item in 2..=9 {
            sender.send(item).expect("open");
        }
        let start = Instant::now();
        let mut batch = vec![1];
        gather(&mut receiver, &mut batch, 1, 5, start + WAIT).await;
        assert_eq!(batch, [1, 2, 3, 4, 5]);
        assert_eq!(start.elapsed(), Duration::ZERO);
        assert_eq!(receiver.try_recv().ok(), Some(6), "the rest stays queued");
    }

    #[tokio::test(start_paused = true)]
    async fn a_linger_as_long_as_the_batch_takes_the_whole_wait_or_a_full_batch() {
        // The completers' form: minimum = maximum.
        let (sender, mut receiver) = mpsc::unbounded_channel();
        let start = Instant::now();
        let mut batch = vec![1];
        gather(&mut receiver, &mut batch, 15, 15, start + WAIT).await;
        assert_eq!((batch.len(), start.elapsed()), (1, WAIT));
        for item in 0..20 {
            sender.send(item).expect("open");
        }
        let start = Instant::now();
        gather(&mut receiver, &mut batch, 15, 15, start + WAIT).await;
        assert_eq!((batch.len(), start.elapsed()), (15, Duration::ZERO));
    }

    #[tokio::test(start_paused = true)]
    async fn a_closed_channel_ends_the_wait_at_once() {
        let (sender, mut receiver) = mpsc::unbounded_channel();
        sender.send(2).expect("open");
        drop(sender);
        let start = Instant::now();
        let mut batch = vec![1];
        gather(&mut receiver, &mut batch, 5, 5, start + WAIT).await;
        assert_eq!((batch, start.elapsed()), (vec![1, 2], Duration::ZERO));
    }
}
