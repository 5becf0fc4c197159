//! What happens when another node sharing the database dies: everything it held passes to
//! this node at once, instead of waiting for claims and leases to run out. The
//! [`NodeMonitor`](crate::bus::nodes::NodeMonitor) decides who is dead; this file hands the
//! dead node's bus and notification claims, account leases and unfinished payments to their
//! owners here. Several live nodes may take over the same dead node at once: each take-over
//! claims its rows with `for update skip locked`, so every row goes to exactly one of them.
//!
//! It never judges liveness itself and never holds a connection between two take-overs.

use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::bus::nodes::NodeMonitor;
use crate::bus::notifications::NotificationQueueService;
use crate::bus::Bus;
use crate::service::payments::PaymentService;

/// Why a take-over failed (a bus's, the notification queue's or the payments' error), only
/// ever logged.
type TakeOverError = Box<dyn std::error::Error + Send + Sync>;

/// Everything a node holds that another node can take over.
#[derive(Clone)]
pub struct Holdings {
    pub main_bus: Bus,
    pub external_bus: Bus,
    pub notification_queue: NotificationQueueService,
    pub payments: PaymentService,
}

/// Takes over each node `dead` announces until `stop` turns true. A take-over that fails
/// (the database is away) is tried again every `retry` while the node stays dead.
pub fn take_over_dead_nodes(
    holdings: Holdings,
    monitor: NodeMonitor,
    mut dead: mpsc::UnboundedReceiver<String>,
    retry: Duration,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let node = tokio::select! {
                _ = stop.wait_for(|stop| *stop) => return,
                node = dead.recv() => match node {
                    Some(node) => node,
                    None => return,
                },
            };
            while let Err(error) = holdings.take_over(&node).await {
                tracing::warn!(node, %error, "taking over a dead node failed; trying again");
                tokio::select! {
                    _ = stop.wait_for(|stop| *stop) => return,
                    _ = tokio::time::sleep(retry) => {}
                }
                if !monitor.dead_nodes().contains(&node) {
                    // It came back under its name: what it holds is its own again.
                    break;
                }
            }
        }
    })
}

impl Holdings {
    /// Queue claims first, so that the janitor entries of the dead node's payments are
    /// dispatched here; then its leases and the payments they protected.
    async fn take_over(&self, node: &str) -> Result<(), TakeOverError> {
        let main = self.main_bus.take_over(node).await?;
        let external = self.external_bus.take_over(node).await?;
        let notifications = self.notification_queue.take_over(node).await?;
        let leases = self.payments.take_over_node(node).await?;
        tracing::warn!(
            node,
            main_bus_entries = main,
            external_bus_entries = external,
            notifications,
            account_leases = leases,
            "took over a dead node's work"
        );
        Ok(())
    }
}
