//! Creating the databases ferrobill uses inside the private cluster, safely when several
//! processes race to do it. This is the only SQL the embedded cluster runs; it must never
//! touch a table.

use tokio_postgres::error::SqlState;

use super::EmbeddedError;

/// PostgreSQL truncates longer identifiers, which would make the existence
/// check in `ensure_database` compare against a name that never gets created.
const MAX_IDENTIFIER_BYTES: usize = 63;

pub(super) fn validate_database_name(name: &str) -> Result<(), EmbeddedError> {
    let reason = if name.is_empty() {
        "it is empty"
    } else if name.contains('\0') {
        "it contains a NUL character"
    } else if name.len() > MAX_IDENTIFIER_BYTES {
        "it is longer than 63 bytes"
    } else {
        return Ok(());
    };
    Err(EmbeddedError::InvalidDatabaseName {
        name: name.to_owned(),
        reason,
    })
}

pub(super) fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

async fn database_exists(
    client: &tokio_postgres::Client,
    name: &str,
) -> Result<bool, EmbeddedError> {
    let row = client
        .query_opt(
            "SELECT 1 FROM pg_catalog.pg_database WHERE datname = $1",
            &[&name],
        )
        .await?;
    Ok(row.is_some())
}

pub(super) async fn create_database_if_missing(
    client: &tokio_postgres::Client,
    name: &str,
) -> Result<(), EmbeddedError> {
    if database_exists(client, name).await? {
        return Ok(());
    }
    match client
        .batch_execute(&format!("CREATE DATABASE {}", quote_identifier(name)))
        .await
    {
        Ok(()) => {
            tracing::info!(database = name, "created database in embedded PostgreSQL");
            Ok(())
        }
        Err(error) if error.code() == Some(&SqlState::DUPLICATE_DATABASE) => Ok(()),
        // Two concurrent creators can both pass the duplicate check; the loser
        // then trips over the catalog's unique index instead.
        Err(error) if error.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
            if database_exists(client, name).await? {
                Ok(())
            } else {
                Err(error.into())
            }
        }
        Err(error) => Err(error.into()),
    }
}
