//! Operator views of the server's own machinery: which queue entries a tenant has.

use chrono::{DateTime, Duration, Utc};
use tokio::sync::mpsc;

use crate::bus::inspect::{self, QueueEntry, QueueFilter};
use crate::bus::BusError;
use crate::db::work::Db;
use crate::service::tenants::Tenant;

/// What `GET /1.0/kb/admin/queues` asks for, with Kill Bill's defaults already applied by
/// [`QueueQuery::new`].
#[derive(Debug, Clone)]
pub struct QueueQuery {
    pub account_id: Option<uuid::Uuid>,
    pub queue_name: Option<String>,
    pub service_name: Option<String>,
    pub with_history: bool,
    pub min_date: DateTime<Utc>,
    pub max_date: DateTime<Utc>,
    pub with_in_processing: bool,
    pub with_bus_events: bool,
    pub with_notifications: bool,
}

impl QueueQuery {
    /// Kill Bill limits the listing to now ± 2 days unless dates are given.
    pub fn default_window(now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
        (now - Duration::days(2), now + Duration::days(2))
    }
}

pub type EntryStream = mpsc::Receiver<Result<QueueEntry, BusError>>;

#[derive(Clone)]
pub struct AdminService {
    db: Db,
}

impl AdminService {
    pub fn new(db: Db) -> AdminService {
        AdminService { db }
    }

    /// The tenant's bus events and notifications, each `None` when not asked for.
    pub fn queue_entries(
        &self,
        tenant: &Tenant,
        query: QueueQuery,
    ) -> (Option<EntryStream>, Option<EntryStream>) {
        // Accounts do not exist yet, so an account filter matches nothing; with accounts it
        // becomes the account's record id.
        let account_record_id = query.account_id.map(|_| -1);
        let filter = QueueFilter {
            tenant_record_id: tenant.record_id,
            account_record_id,
            min_date: query.min_date,
            max_date: query.max_date,
            with_history: query.with_history,
            with_in_processing: query.with_in_processing,
            queue_name: query.queue_name,
            service_name: query.service_name,
        };
        let bus = query
            .with_bus_events
            .then(|| inspect::bus_entries(self.db.clone(), filter.clone()));
        let notifications = query
            .with_notifications
            .then(|| inspect::notification_entries(self.db.clone(), filter));
        (bus, notifications)
    }
}
