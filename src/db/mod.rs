//! The database underneath ferrobill: the private PostgreSQL cluster started when no URL is
//! configured ([`embedded`]), the two connection pools Kill Bill has ([`pool`]), the unit of
//! work through which everything else reaches them ([`work`]), and the schema migrations in
//! `migrations/` ([`migrate`]).
//!
//! Nothing here knows about HTTP, tenants or billing rules; SQL other than migrations and
//! `create database` lives in `storage/`.

pub mod embedded;
pub mod gate;
pub mod migrate;
pub mod pool;
pub mod sql;
pub mod work;
