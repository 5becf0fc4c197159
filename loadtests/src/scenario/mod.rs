//! The catalogue of load scenarios. Each scenario lives in its own file and exposes the names
//! of its samplers and one `iteration`: what a virtual user does once, through
//! `VirtualUser::send`. Adding a scenario means a file, a variant and two match arms here.

mod healthcheck;
mod tenants;

use clap::ValueEnum;

use crate::runner::{Stop, VirtualUser};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// Each iteration creates a tenant, then reads it back with its own credentials.
    Tenants,
    /// Each iteration is one GET /1.0/healthcheck.
    Healthcheck,
}

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Tenants => "tenants",
            Scenario::Healthcheck => "healthcheck",
        }
    }

    /// Report rows, in the order they are printed.
    pub fn samplers(self) -> &'static [&'static str] {
        match self {
            Scenario::Tenants => tenants::SAMPLERS,
            Scenario::Healthcheck => healthcheck::SAMPLERS,
        }
    }

    /// One pass of the scenario; `Err(Stop)` once the run is over.
    pub async fn iteration(self, user: &mut VirtualUser) -> Result<(), Stop> {
        match self {
            Scenario::Tenants => tenants::iteration(user).await,
            Scenario::Healthcheck => healthcheck::iteration(user).await,
        }
    }
}
