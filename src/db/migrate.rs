//! Schema migrations: the plain SQL files in `migrations/`, embedded in the binary and applied
//! with sqlx's migrator (which takes an advisory lock, so several nodes starting at once on one
//! database apply each migration exactly once). sqlx is used for this and nothing else.

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};
use tokio_postgres::config::Host;

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("cannot connect to the database to migrate it: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("the database target has no host or socket directory")]
    NoHost,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Applies every pending migration to the database `target` points at.
pub async fn run(target: &tokio_postgres::Config) -> Result<(), MigrateError> {
    let options = sqlx_options(target)?.disable_statement_logging();
    let mut connection = options.connect().await.map_err(MigrateError::Connect)?;
    MIGRATOR.run(&mut connection).await?;
    // Closing explicitly matters for the test template database: PostgreSQL refuses to copy a
    // template that still has a session open.
    connection.close().await.map_err(MigrateError::Connect)?;
    Ok(())
}

fn sqlx_options(target: &tokio_postgres::Config) -> Result<PgConnectOptions, MigrateError> {
    let mut options = PgConnectOptions::new_without_pgpass();
    options = match target.get_hosts().first().ok_or(MigrateError::NoHost)? {
        Host::Tcp(host) => options.host(host),
        Host::Unix(dir) => options.socket(dir),
    };
    if let Some(port) = target.get_ports().first() {
        options = options.port(*port);
    }
    if let Some(user) = target.get_user() {
        options = options.username(user);
    }
    if let Some(password) = target.get_password() {
        options = options.password(&String::from_utf8_lossy(password));
    }
    if let Some(dbname) = target.get_dbname() {
        options = options.database(dbname);
    }
    Ok(options)
}
