//! What travels on the bus: the [`BusEvent`] trait a typed event implements to be posted, and
//! the [`BusEntry`] envelope a handler receives (one row of the live table), an
//! [`EventEntry`], whose columns every queue table shares.
//!
//! This file owns the shape of events and their JSON; it must never touch the database or know
//! which table an event lives in.

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::Serialize;
use uuid::Uuid;

use super::BusError;

/// Kill Bill's search keys: which account and tenant an event belongs to, stored as
/// `search_key1` and `search_key2` so events can be listed per account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchKeys {
    pub account_record_id: Option<i64>,
    pub tenant_record_id: i64,
}

impl SearchKeys {
    /// The keys of an event about one account of the tenant.
    pub fn account(account_record_id: i64, tenant_record_id: i64) -> SearchKeys {
        SearchKeys {
            account_record_id: Some(account_record_id),
            tenant_record_id,
        }
    }

    /// The keys of an event about the tenant itself, no account.
    pub fn tenant(tenant_record_id: i64) -> SearchKeys {
        SearchKeys {
            account_record_id: None,
            tenant_record_id,
        }
    }

    /// The keys of a row of a bus or notification table (`search_key1`, `search_key2`).
    pub(super) fn from_row(row: &tokio_postgres::Row) -> SearchKeys {
        SearchKeys {
            account_record_id: row.get("search_key1"),
            tenant_record_id: row.get("search_key2"),
        }
    }
}

/// A typed event that can be posted. `CLASS_NAME` is the `class_name` column, what subscribers
/// register for; keep Kill Bill's Java class names for events Kill Bill also has.
pub trait BusEvent: Serialize {
    const CLASS_NAME: &'static str;

    fn search_keys(&self) -> SearchKeys;
}

/// One entry as read back from a queue's live table and handed to its handlers (Kill Bill's
/// EventEntryModelDao): the columns every queue table has, and `extra`, what the queue's own
/// table adds to them (nothing on a bus, a notification's
/// [`Schedule`](super::notifications::Schedule)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventEntry<T> {
    pub record_id: i64,
    pub class_name: String,
    pub event_json: String,
    pub user_token: Option<Uuid>,
    pub created_date: DateTime<Utc>,
    pub creating_owner: String,
    pub search_keys: SearchKeys,
    /// How many earlier attempts failed: 0 on the first try.
    pub error_count: i32,
    pub extra: T,
}

/// One event as read back from the live table and handed to every subscriber of its class.
pub type BusEntry = EventEntry<()>;

impl BusEntry {
    /// The event, decoded from its JSON.
    pub fn decode<E: BusEvent + DeserializeOwned>(&self) -> Result<E, BusError> {
        serde_json::from_str(&self.event_json).map_err(|source| BusError::Decode {
            record_id: self.record_id,
            class_name: self.class_name.clone(),
            source,
        })
    }
}
