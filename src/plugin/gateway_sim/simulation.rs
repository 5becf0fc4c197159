//! The gateway's dice: how long a call takes and whether a configured rate turns it into a
//! decline, a processing error or a hang. Pure functions of the configuration and a random
//! generator the caller passes in, so tests can seed it; rates of 0 never draw at all, which
//! keeps the default configuration deterministic. No I/O, no sleeping.

use std::time::Duration;

use rand::Rng;

use super::card::CardClass;
use crate::config::{GatewayConfig, Latency};

/// The standard normal quantile at 0.99: p99 = median · e^(σ · Z99).
const Z99: f64 = 2.326_347_874_040_841;
/// A log-normal draw is capped at this many times p99, so a freak draw never turns into a
/// hang: hangs are what `timeoutRate` is for.
const P99_CAP: f64 = 10.0;

/// What the gateway will do with a call, before the amount rules are checked: one of the
/// outcomes a test card forces, [`CardClass::Approve`] then meaning approved.
pub type Fate = CardClass;

/// The card's class wins; an approving card is then subject to the configured rates, drawn
/// once: `[0, timeout)` hangs, `[timeout, timeout + error)` errors, the next `decline` share
/// declines (the configuration keeps their sum at most 1).
pub fn draw_fate(class: CardClass, config: &GatewayConfig, rng: &mut impl Rng) -> Fate {
    if class != CardClass::Approve {
        return class;
    }
    let shares = [
        (config.timeout_rate.probability(), Fate::Hang),
        (config.error_rate.probability(), Fate::Error),
        (config.decline_rate.probability(), Fate::Decline),
    ];
    if shares.iter().all(|(share, _)| *share == 0.0) {
        return Fate::Approve;
    }
    let draw: f64 = rng.gen();
    let mut bound = 0.0;
    for (share, fate) in shares {
        bound += share;
        if draw < bound {
            return fate;
        }
    }
    Fate::Approve
}

/// How long this call's simulated gateway round trip takes.
pub fn sample_latency(latency: &Latency, rng: &mut impl Rng) -> Duration {
    match *latency {
        Latency::Fixed(duration) => duration,
        Latency::LogNormal { median, p99 } => {
            let median_secs = median.as_secs_f64();
            let sigma = (p99.as_secs_f64() / median_secs).ln() / Z99;
            let drawn = median_secs * (sigma * standard_normal(rng)).exp();
            Duration::from_secs_f64(drawn.min(p99.as_secs_f64() * P99_CAP))
        }
    }
}

/// Box–Muller: one standard normal draw from two uniform ones.
fn standard_normal(rng: &mut impl Rng) -> f64 {
    // `1 - u` is in (0, 1], so the logarithm is finite.
    let u1: f64 = 1.0 - rng.gen::<f64>();
    let u2: f64 = rng.gen();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;
    use crate::config::Config;

    fn gateway(pairs: &[(&str, &str)]) -> GatewayConfig {
        Config::from_properties(pairs)
            .expect("a valid configuration")
            .gateway
    }

    #[test]
    fn log_normal_latency_has_the_configured_median_and_p99() {
        let latency = Latency::LogNormal {
            median: Duration::from_millis(50),
            p99: Duration::from_millis(400),
        };
        let mut rng = StdRng::seed_from_u64(7);
        let mut draws: Vec<Duration> = (0..40_000)
            .map(|_| sample_latency(&latency, &mut rng))
            .collect();
        draws.sort();
        let median = draws[draws.len() / 2].as_secs_f64();
        let p99 = draws[draws.len() * 99 / 100].as_secs_f64();
        assert!((median - 0.050).abs() < 0.050 * 0.05, "median {median}");
        assert!((p99 - 0.400).abs() < 0.400 * 0.10, "p99 {p99}");
        assert!(draws.iter().all(|draw| *draw <= Duration::from_secs(4)));
    }

    #[test]
    fn fixed_latency_and_zero_rates_never_vary() {
        let config = gateway(&[("ferrobill.gateway.latency", "50ms")]);
        let mut rng = StdRng::seed_from_u64(1);
        for _ in 0..1000 {
            assert_eq!(
                sample_latency(&config.latency, &mut rng),
                Duration::from_millis(50)
            );
            assert_eq!(
                draw_fate(CardClass::Approve, &config, &mut rng),
                Fate::Approve
            );
        }
    }

    #[test]
    fn test_cards_override_the_rates() {
        let config = gateway(&[("ferrobill.gateway.declineRate", "1")]);
        let mut rng = StdRng::seed_from_u64(3);
        assert_eq!(
            draw_fate(CardClass::Approve, &config, &mut rng),
            Fate::Decline
        );
        assert_eq!(draw_fate(CardClass::Error, &config, &mut rng), Fate::Error);
        assert_eq!(draw_fate(CardClass::Hang, &config, &mut rng), Fate::Hang);
    }

    #[test]
    fn rates_split_the_draws_in_their_shares() {
        let config = gateway(&[
            ("ferrobill.gateway.declineRate", "20%"),
            ("ferrobill.gateway.errorRate", "0.1"),
            ("ferrobill.gateway.timeoutRate", "0.05"),
        ]);
        let mut rng = StdRng::seed_from_u64(11);
        let mut counts = [0u32; 4];
        let draws = 100_000;
        for _ in 0..draws {
            let slot = match draw_fate(CardClass::Approve, &config, &mut rng) {
                Fate::Approve => 0,
                Fate::Decline => 1,
                Fate::Error => 2,
                Fate::Hang => 3,
                Fate::LostAnswer | Fate::Pending => panic!("rates never lose or defer an answer"),
            };
            counts[slot] += 1;
        }
        let share = |count: u32| f64::from(count) / f64::from(draws);
        assert!((share(counts[1]) - 0.20).abs() < 0.01, "{counts:?}");
        assert!((share(counts[2]) - 0.10).abs() < 0.01, "{counts:?}");
        assert!((share(counts[3]) - 0.05).abs() < 0.01, "{counts:?}");
    }
}
