//! The `ferrobill-load` command line: what to target, which scenario, how hard and how long.
//! Also the small parsers for durations (`10s`, `500ms`) and `KEY=VALUE` pairs.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::scenario::Scenario;
use crate::sweep::EnvSweep;

#[derive(Debug, Parser)]
#[command(
    name = "ferrobill-load",
    version,
    about = "Closed- and open-loop load generator for ferrobill (or any Kill Bill)"
)]
pub struct Cli {
    /// Base URL of a running server, e.g. http://127.0.0.1:8080. Without it, --spawn is implied.
    #[arg(long, conflicts_with_all = ["spawn", "server_binary", "server_env", "no_presets"])]
    pub url: Option<String>,
    /// Start target/release/ferrobill in a fresh directory under loadtests/results/ (the default).
    #[arg(long)]
    pub spawn: bool,
    /// Kill Bill user for Basic auth.
    #[arg(long, default_value = "admin")]
    pub user: String,
    #[arg(long, default_value = "password")]
    pub password: String,
    /// Use this existing tenant instead of creating one.
    #[arg(long, requires = "api_secret")]
    pub api_key: Option<String>,
    #[arg(long, requires = "api_key")]
    pub api_secret: Option<String>,
    #[arg(long, value_enum)]
    pub scenario: Scenario,
    /// Virtual users, each sending one request at a time (open loop: the most iterations in
    /// flight at once).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub users: u32,
    /// Run once per concurrency, one after the other on the same server, e.g. 25,50,60,70,100
    /// (seed 002's sweep). Replaces --users.
    #[arg(long, value_delimiter = ',', value_parser = clap::value_parser!(u32).range(1..))]
    pub sweep: Vec<u32>,
    /// One step per value of a server setting, each on a freshly spawned server (a new data
    /// directory), reported side by side: NAME is any property's environment form, e.g.
    /// KILLBILL_DAO_MAXACTIVE=4,8,16,32,64,100. With --sweep, each value runs every
    /// concurrency.
    #[arg(long, value_name = "NAME=V1,V2,…", conflicts_with = "url")]
    pub sweep_env: Option<EnvSweep>,
    /// Accounts the users share in the `purchases` scenario (each set up once, by the first
    /// user that picks it).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub accounts: u32,
    /// Open loop: start this many iterations per second whatever the answers (k6's
    /// constant-arrival-rate); an arrival finding all --users busy is dropped and counted.
    /// Without it, the loop is closed.
    #[arg(long, value_parser = parse_rate)]
    pub rate: Option<f64>,
    /// Measured time, after the warm-up (e.g. 10s, 2m, 500ms).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Load sent before measuring starts; its samples are not reported.
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    pub warmup: Duration,
    /// Stop after this many requests (all samplers together, warm-up included).
    #[arg(long)]
    pub max_requests: Option<u64>,
    /// Server binary for --spawn. Default: target/release/ferrobill of this workspace.
    #[arg(long)]
    pub server_binary: Option<PathBuf>,
    /// Extra environment for the spawned server, e.g. FERROBILL_SERVER_MAXINFLIGHT=64.
    #[arg(long = "server-env", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub server_env: Vec<(String, String)>,
    /// Send `X-Killbill-Profiling-Req: VALUE` on every request (e.g. JAXRS,DAO,DAO_CONNECTION),
    /// to measure what profiling costs.
    #[arg(long, value_name = "VALUE")]
    pub profiling: Option<String>,
    /// Start a push-notification receiver on loopback that answers after this long, and
    /// register it as the tenant's callback: every bus event then costs that much of a bus
    /// thread (seed 002's growing queue).
    #[arg(long, value_parser = parse_duration)]
    pub callback_latency: Option<Duration>,
    /// After each run, replay the SQL of the scenario's requests with pgbench at the same
    /// concurrency on the spawned server's own PostgreSQL (accounts and payments scenarios).
    #[arg(long, conflicts_with = "url")]
    pub with_sql_limit: bool,
    /// Do not apply the scenario's preset server configurations (seed pools,
    /// pool-starvation's two pools): only --server-env.
    #[arg(long)]
    pub no_presets: bool,
    /// Keep the target's /dashboard open in a headless Chromium during each configuration's
    /// run, as a person watching it would (to measure what watching costs).
    #[arg(long)]
    pub watch_dashboard: bool,
}

/// `1000`, `1000/s` or `2.5`: iterations started per second.
pub fn parse_rate(text: &str) -> Result<f64, String> {
    let number = text.trim().trim_end_matches("/s");
    match number.parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 => Ok(rate),
        _ => Err(format!("`{text}` is not a positive rate like 500 or 500/s")),
    }
}

/// `250ms`, `10s`, `2m`, `1h`; a bare number means seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like 500ms, 10s, 2m or 1h"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(value)),
        "" | "s" => Ok(Duration::from_secs(value)),
        "m" => Ok(Duration::from_secs(value * 60)),
        "h" => Ok(Duration::from_secs(value * 3600)),
        _ => Err(format!(
            "`{text}`: unknown unit `{unit}` (use ms, s, m or h)"
        )),
    }
}

pub fn parse_key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
        _ => Err(format!("`{text}` is not KEY=VALUE")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("5d").is_err());
    }

    #[test]
    fn key_values_split_on_the_first_equals() {
        assert_eq!(
            parse_key_value("RUST_LOG=a=b"),
            Ok(("RUST_LOG".into(), "a=b".into()))
        );
        assert!(parse_key_value("=x").is_err());
        assert!(parse_key_value("novalue").is_err());
    }

    #[test]
    fn rates_parse_with_or_without_unit() {
        assert_eq!(parse_rate("500"), Ok(500.0));
        assert_eq!(parse_rate("2.5/s"), Ok(2.5));
        assert!(parse_rate("0").is_err());
        assert!(parse_rate("fast").is_err());
    }

    #[test]
    fn command_line_is_consistent() {
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from(["ferrobill-load", "--scenario", "healthcheck"]);
        assert!(cli.is_ok_and(|cli| cli.users == 10 && cli.url.is_none()));
        let both = Cli::try_parse_from(["x", "--scenario", "tenants", "--url", "u", "--spawn"]);
        assert!(both.is_err());
        let swept = [
            "x",
            "--scenario",
            "accounts",
            "--sweep-env",
            "KILLBILL_DAO_MAXACTIVE=4,8",
        ];
        let cli = Cli::try_parse_from(swept);
        assert!(cli.is_ok_and(|cli| cli.sweep_env.is_some_and(|s| s.values.len() == 2)));
        let remote = [&swept[..], &["--url", "http://127.0.0.1:1"]].concat();
        assert!(Cli::try_parse_from(remote).is_err());
    }
}
