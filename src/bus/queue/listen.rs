//! Waking a fetcher when another node commits: LISTEN on the table's channel over a dedicated
//! connection (outside the pools, since a pooled connection would be recycled and lose the
//! subscription), reconnecting after errors.
//!
//! This file owns that connection. It must never run a query on it besides LISTEN, and never
//! take a pooled connection.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio_postgres::{AsyncMessage, NoTls};

use super::{stopped, ERROR_BACKOFF};
use crate::db::work::Db;

/// LISTENs on `channel` on a dedicated connection (a pooled one would be recycled and lose
/// the subscription) and calls `wake` on every notification, and once after each (re)connect
/// since anything committed meanwhile notified nobody. Reconnects after an error; the
/// fetcher's timer covers the gap. Also used outside the queues, through `bus::listen`.
pub(in crate::bus) async fn listen_for_wakeups(
    db: Db,
    channel: &'static str,
    queue: &'static str,
    mut stop: watch::Receiver<bool>,
    wake: impl Fn() + Send + Sync + 'static,
) {
    let wake = Arc::new(wake);
    loop {
        match listen_until_error(&db, channel, &mut stop, wake.clone()).await {
            Ok(()) => return,
            Err(error) => tracing::warn!(
                bus = queue,
                %error,
                "the NOTIFY listener lost its connection; reconnecting"
            ),
        }
        tokio::select! {
            _ = stopped(&mut stop) => return,
            _ = tokio::time::sleep(ERROR_BACKOFF) => {}
        }
    }
}

/// Returns `Ok` when the queue stops, `Err` when the connection fails.
async fn listen_until_error(
    db: &Db,
    channel: &str,
    stop: &mut watch::Receiver<bool>,
    wake: Arc<impl Fn() + Send + Sync + 'static>,
) -> Result<(), String> {
    let connect = db.pool().target().connect(NoTls);
    let (client, mut connection) = tokio::time::timeout(Duration::from_secs(10), connect)
        .await
        .map_err(|_| "connecting timed out".to_string())?
        .map_err(|error| error.to_string())?;
    let (closed, closed_receiver) = oneshot::channel::<String>();
    let woken = wake.clone();
    let driver = AbortOnDrop(tokio::spawn(async move {
        let reason = loop {
            match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notification(_))) => woken(),
                Some(Ok(_)) => {}
                Some(Err(error)) => break error.to_string(),
                None => break "the connection closed".to_string(),
            }
        };
        let _ = closed.send(reason);
    }));
    client
        .batch_execute(&format!("listen {channel}"))
        .await
        .map_err(|error| error.to_string())?;
    // Anything committed while the listener was (re)connecting sent its NOTIFY to nobody.
    wake();
    tokio::select! {
        _ = stopped(stop) => {
            drop(client);
            drop(driver);
            Ok(())
        }
        reason = closed_receiver => Err(reason.unwrap_or_else(|_| "the connection task ended".to_string())),
    }
}

struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
