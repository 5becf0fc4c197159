//! The catalogue of load scenarios. Each scenario lives in its own file and exposes the names
//! of its samplers and one `iteration`: what a virtual user does once, through
//! `VirtualUser::send`. Adding a scenario means a file, a variant and its match arms here.
//! Scenarios named after a seed report reproduce that report (`payments` seed 000,
//! `pool-starvation` 001, `accounts` 002, `overload` 003, `status-mix` 004's shape).

mod accounts;
mod healthcheck;
mod overload;
mod payments;
mod pool_starvation;
mod purchases;
mod status_mix;
mod tenants;

use clap::ValueEnum;
use serde::Serialize;

pub use payments::{METRICS, THREADS};

use crate::runner::{Stop, VirtualUser};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// Seed 000: account, visit, default card, then authorize / capture / purchase.
    Payments,
    /// PURCHASE through `__EXTERNAL_PAYMENT__` on a random one of --accounts shared accounts:
    /// the cost of a payment itself, with no gateway.
    Purchases,
    /// Seed 001: payments with a plugin pool (30) smaller than the plugin threads (100).
    PoolStarvation,
    /// Seed 002: one account creation per iteration; use --sweep for the concurrency sweep.
    Accounts,
    /// Seed 003: account creations at an open-loop --rate past capacity.
    Overload,
    /// Seed 004's shape: reads of an account and a payment.
    StatusMix,
    /// Each iteration creates a tenant, then reads it back with its own credentials.
    Tenants,
    /// Each iteration is one GET /1.0/healthcheck.
    Healthcheck,
}

/// One server configuration a scenario runs under when the suite spawns the server.
#[derive(Debug, Clone, Serialize)]
pub struct Configuration {
    pub label: String,
    pub server_env: Vec<(String, String)>,
}

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Payments => "payments",
            Scenario::Purchases => "purchases",
            Scenario::PoolStarvation => "pool-starvation",
            Scenario::Accounts => "accounts",
            Scenario::Overload => "overload",
            Scenario::StatusMix => "status-mix",
            Scenario::Tenants => "tenants",
            Scenario::Healthcheck => "healthcheck",
        }
    }

    /// Report rows, in the order they are printed.
    pub fn samplers(self) -> &'static [&'static str] {
        match self {
            Scenario::Payments | Scenario::PoolStarvation => payments::SAMPLERS,
            Scenario::Purchases => purchases::SAMPLERS,
            Scenario::Accounts => accounts::SAMPLERS,
            Scenario::Overload => overload::SAMPLERS,
            Scenario::StatusMix => status_mix::SAMPLERS,
            Scenario::Tenants => tenants::SAMPLERS,
            Scenario::Healthcheck => healthcheck::SAMPLERS,
        }
    }

    /// The samplers of a user's (or a shared account's) setup, in the report even when they
    /// run during the warm-up, as seed 000's table lists them.
    pub fn setup_samplers(self) -> &'static [&'static str] {
        match self {
            Scenario::Payments | Scenario::PoolStarvation => payments::SETUP_SAMPLERS,
            Scenario::Purchases => purchases::SETUP_SAMPLERS,
            Scenario::StatusMix => status_mix::SETUP_SAMPLERS,
            Scenario::Accounts | Scenario::Overload | Scenario::Tenants | Scenario::Healthcheck => {
                &[]
            }
        }
    }

    /// Whether the suite takes the seed's `Threads` and `Metrics` samples at setup and
    /// teardown into the table (the snapshots are saved for every scenario).
    pub fn samples_observability(self) -> bool {
        matches!(self, Scenario::Payments | Scenario::PoolStarvation)
    }

    /// The server configurations the scenario runs under with `--spawn`, in order; one
    /// server each. `--server-env` comes on top of every one.
    pub fn configurations(self) -> Vec<Configuration> {
        let owned = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(key, value)| (key.to_string(), value.to_string()))
                .collect()
        };
        match self {
            Scenario::Payments | Scenario::StatusMix => vec![Configuration {
                label: "seed 000 pools".into(),
                server_env: owned(payments::SERVER_ENV),
            }],
            Scenario::PoolStarvation => pool_starvation::POOLS
                .iter()
                .map(|(label, pool)| Configuration {
                    label: label.to_string(),
                    server_env: pool_starvation::server_env(pool),
                })
                .collect(),
            Scenario::Purchases
            | Scenario::Accounts
            | Scenario::Overload
            | Scenario::Tenants
            | Scenario::Healthcheck => {
                vec![Configuration {
                    label: "defaults".into(),
                    server_env: Vec::new(),
                }]
            }
        }
    }

    /// One pass of the scenario; `Err(Stop)` once the run is over.
    pub async fn iteration(self, user: &mut VirtualUser) -> Result<(), Stop> {
        match self {
            Scenario::Payments => payments::iteration(user).await,
            Scenario::Purchases => purchases::iteration(user).await,
            Scenario::PoolStarvation => pool_starvation::iteration(user).await,
            Scenario::Accounts => accounts::iteration(user).await,
            Scenario::Overload => overload::iteration(user).await,
            Scenario::StatusMix => status_mix::iteration(user).await,
            Scenario::Tenants => tenants::iteration(user).await,
            Scenario::Healthcheck => healthcheck::iteration(user).await,
        }
    }
}
