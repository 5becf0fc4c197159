//! ferrobill's integration tests: one binary, one harness. Every test talks to a real
//! PostgreSQL (a private cluster started once per test run, or `DATABASE_URL`) through a fresh
//! database cloned from a migrated template, and to the server over real HTTP on loopback.

mod harness;

mod account_extras;
mod accounts;
mod admin_queues;
mod admission;
mod bad_input;
mod bus;
mod cluster;
mod configuration;
mod custom_fields;
mod dashboard;
mod embedded_cluster;
mod embedded_default;
mod faults;
mod fuzz_bodies;
mod gateway;
mod health;
mod js_client_requests;
mod lifecycle;
mod node_death;
mod nodes;
mod notifications;
mod object_tags;
mod observability;
mod payment_crash;
mod payment_method_listings;
mod payment_methods;
mod payment_operations;
mod payments;
mod payments_gateway;
mod pools;
mod process;
mod push_notifications;
mod queue_health;
mod queues;
mod rbac;
mod restart_in_flight;
mod security;
mod self_contained;
mod settled_payments;
mod small_pools;
mod tags;
mod tenant_config;
mod tenants;
mod wire_parity;
