//! Reading one property value from text, and hiding secrets when a value is shown: the
//! duration, count, boolean, URL, user-list, latency and rate grammars every property kind
//! (`kinds.rs`) is built from, and the masks the effective dump, `Debug` and error messages
//! use.
//!
//! Pure functions of their input: nothing here knows a property name, where a value came
//! from or the typed [`Config`](super::Config). A parser's error is only what was expected,
//! for the caller to finish into one line naming the property and the value.

use std::net::IpAddr;
use std::time::Duration;

use super::typed::{Latency, Rate};

pub(super) const MASK: &str = "***";

/// What a number without a unit means for a duration property: its documented unit. Kill
/// Bill's skife `TimeSpan` rejects a bare number, but operators write `connectionTimeout=5000`
/// in real manifests, so each property names the unit a bare number is read in.
#[derive(Debug, Clone, Copy)]
pub(super) enum BareNumber {
    /// The unit Kill Bill converts these properties to (Hikari timeouts, queue times, the
    /// queues' `sleep`, which Kill Bill declares as a `long` of milliseconds).
    Milliseconds,
    /// Request-scale timeouts that operators think of in seconds.
    Seconds,
}

/// `50ms` (any duration form; a bare number is milliseconds) or
/// `lognormal:median=50ms,p99=400ms` (keys in any order and case, p99 at least the median).
pub(super) fn parse_latency(raw: &str) -> Result<Latency, String> {
    const EXPECTED: &str = "a duration such as 50ms, or lognormal:median=50ms,p99=400ms with p99 no less than the median";
    let text = raw.trim();
    let Some(parameters) = text
        .split_once(':')
        .filter(|(shape, _)| shape.trim().eq_ignore_ascii_case("lognormal"))
        .map(|(_, parameters)| parameters)
    else {
        return parse_duration(text, BareNumber::Milliseconds, true)
            .map(Latency::Fixed)
            .map_err(|_| EXPECTED.to_owned());
    };
    let (mut median, mut p99) = (None, None);
    for pair in parameters.split(',') {
        let (key, value) = pair.split_once('=').ok_or(EXPECTED)?;
        let value = parse_duration(value, BareNumber::Milliseconds, false).map_err(|_| EXPECTED)?;
        let slot = match key.trim().to_ascii_lowercase().as_str() {
            "median" => &mut median,
            "p99" => &mut p99,
            _ => return Err(EXPECTED.to_owned()),
        };
        if slot.replace(value).is_some() {
            return Err(EXPECTED.to_owned());
        }
    }
    match (median, p99) {
        (Some(median), Some(p99)) if p99 >= median => Ok(Latency::LogNormal { median, p99 }),
        _ => Err(EXPECTED.to_owned()),
    }
}

/// `0.05` or `5%`, from 0 to 1. Only digits and one dot: Rust's float parser would also take
/// `inf`, `NaN` and `1e-2`, which no operator means.
pub(super) fn parse_rate(raw: &str) -> Result<Rate, String> {
    const EXPECTED: &str = "a probability from 0 to 1 such as 0.05, or a percentage such as 5%";
    let text = raw.trim();
    let (number, scale) = match text.strip_suffix('%') {
        Some(number) => (number.trim_end(), 100.0),
        None => (text, 1.0),
    };
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(EXPECTED.to_owned());
    }
    let probability = number.parse::<f64>().map_err(|_| EXPECTED)? / scale;
    if !(0.0..=1.0).contains(&probability) {
        return Err(EXPECTED.to_owned());
    }
    // In 0..=1_000_000 after the check above, so the cast cannot truncate.
    Ok(Rate((probability * f64::from(Rate::ONE)).round() as u32))
}

pub(super) fn parse_count(raw: &str, min: u64, max: u64) -> Result<u64, String> {
    let expected = if min == 0 {
        "a non-negative integer"
    } else {
        "a positive integer"
    };
    let text = raw.trim();
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(expected.to_owned());
    }
    match text.parse::<u64>() {
        Ok(number) if number < min => Err(expected.to_owned()),
        Ok(number) if number <= max => Ok(number),
        _ => Err(format!("{expected} no greater than {max}")),
    }
}

/// Only `true` and `false` (any case). Stricter than Kill Bill, where Java's
/// `Boolean.valueOf` silently reads every other word, `yes` and `1` included, as false.
pub(super) fn parse_bool(raw: &str) -> Result<bool, String> {
    let text = raw.trim();
    if text.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if text.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err("true or false".to_owned())
    }
}

/// Kill Bill's `TimeSpan` forms (`500ms`, `30s`, `5m`, `1h`, `2d`, the long names, one
/// optional blank before the unit), with units matched ignoring case and any number of
/// blanks, both more lenient than Kill Bill.
pub(super) fn parse_duration(
    raw: &str,
    bare: BareNumber,
    allow_zero: bool,
) -> Result<Duration, String> {
    let expected = || {
        let unit = match bare {
            BareNumber::Milliseconds => "milliseconds",
            BareNumber::Seconds => "seconds",
        };
        let positive = if allow_zero { "" } else { "positive " };
        format!("a {positive}number of {unit} or a duration such as 500ms, 30s, 5m, 1h or 2d")
    };
    let text = raw.trim();
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let amount: u64 = number.parse().map_err(|_| expected())?;
    let unit = unit.trim_start();
    let duration = if unit.is_empty() {
        match bare {
            BareNumber::Milliseconds => Duration::from_millis(amount),
            BareNumber::Seconds => Duration::from_secs(amount),
        }
    } else {
        let millis_per_unit: u64 = match unit.to_ascii_lowercase().as_str() {
            "ms" | "millisecond" | "milliseconds" => 1,
            "s" | "second" | "seconds" => 1_000,
            "m" | "min" | "minute" | "minutes" => 60_000,
            "h" | "hour" | "hours" => 3_600_000,
            "d" | "day" | "days" => 86_400_000,
            _ => return Err(expected()),
        };
        Duration::from_millis(amount.checked_mul(millis_per_unit).ok_or_else(expected)?)
    };
    if duration.is_zero() && !allow_zero {
        return Err(expected());
    }
    Ok(duration)
}

pub(super) fn parse_database_url(raw: &str, when_empty: &str) -> Result<Option<String>, String> {
    const SCHEMES: [&str; 3] = ["jdbc:postgresql://", "postgres://", "postgresql://"];
    let url = raw.trim();
    if url.is_empty() {
        return Ok(None);
    }
    let lower = url.to_ascii_lowercase();
    if SCHEMES
        .iter()
        .any(|scheme| lower.starts_with(scheme) && lower.len() > scheme.len())
    {
        Ok(Some(url.to_owned()))
    } else {
        Err(format!(
            "a PostgreSQL URL (jdbc:postgresql://..., postgres://... or postgresql://...) or {when_empty}"
        ))
    }
}

/// Users are split at the first `:` so that passwords may contain `:`; neither part may be
/// empty, start or end with blanks, or contain a comma.
pub(super) fn parse_users(raw: &str) -> Result<Vec<(String, String)>, String> {
    const EXPECTED: &str = "comma-separated user:password pairs";
    let mut users: Vec<(String, String)> = Vec::new();
    for (index, item) in raw.split(',').enumerate() {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let position = index + 1;
        let Some((user, password)) = item.split_once(':') else {
            return Err(format!("{EXPECTED} (entry {position} has no ':')"));
        };
        let (user, password) = (user.trim(), password.trim());
        if user.is_empty() || password.is_empty() {
            return Err(format!(
                "{EXPECTED} (entry {position} has an empty user or password)"
            ));
        }
        if users.iter().any(|(known, _)| known == user) {
            return Err(format!("{EXPECTED} (user {user} appears twice)"));
        }
        users.push((user.to_owned(), password.to_owned()));
    }
    if users.is_empty() {
        return Err(format!("{EXPECTED}, at least one"));
    }
    Ok(users)
}

pub(super) fn mask_secret(secret: &str) -> String {
    if secret.is_empty() {
        String::new()
    } else {
        MASK.to_owned()
    }
}

pub(super) fn mask_users(users: &[(String, String)]) -> String {
    users
        .iter()
        .map(|(user, _)| format!("{user}:{MASK}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Hides a password given in the URL's user info or as a `password=` parameter.
pub(super) fn mask_url(url: &str) -> String {
    let mut masked = url.to_owned();
    if let Some(scheme_end) = masked.find("://") {
        let start = scheme_end + 3;
        let end = masked[start..]
            .find(['/', '?', '#'])
            .map_or(masked.len(), |offset| start + offset);
        if let Some(at) = masked[start..end].rfind('@') {
            if let Some(colon) = masked[start..start + at].find(':') {
                masked.replace_range(start + colon + 1..start + at, MASK);
            }
        }
    }
    let Some(question) = masked.find('?') else {
        return masked;
    };
    let (base, query) = masked.split_at(question + 1);
    let query = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}={MASK}"),
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&");
    format!("{base}{query}")
}

/// Comma-separated words, blanks around them ignored, empty items dropped.
pub(super) fn parse_names(raw: &str) -> Vec<String> {
    raw.split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(str::to_string)
        .collect()
}

/// Comma-separated IP addresses (`ferrobill.security.trustedProxies`).
pub(super) fn parse_ip_list(raw: &str) -> Result<Vec<IpAddr>, String> {
    parse_names(raw)
        .iter()
        .map(|entry| entry.parse::<IpAddr>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| "comma-separated IP addresses".to_owned())
}

/// `name=value` PostgreSQL settings, comma-separated. Durability is not negotiable: a
/// setting that would lose committed payments is refused.
pub(super) fn parse_postgres_settings(raw: &str) -> Result<Vec<(String, String)>, String> {
    const EXPECTED: &str = "comma-separated name=value PostgreSQL settings";
    const NOT_OFF: [&str; 3] = ["fsync", "synchronous_commit", "full_page_writes"];
    let mut settings = Vec::new();
    for entry in parse_names(raw) {
        let Some((name, value)) = entry.split_once('=') else {
            return Err(EXPECTED.to_owned());
        };
        let (name, value) = (name.trim(), value.trim());
        let valid_name = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
        if !valid_name || value.is_empty() {
            return Err(EXPECTED.to_owned());
        }
        let lowered = value.to_ascii_lowercase();
        if NOT_OFF.contains(&name) && matches!(lowered.as_str(), "off" | "false" | "0" | "no") {
            return Err(
                "settings that keep committed data durable (fsync, synchronous_commit and full_page_writes stay on)"
                    .to_owned(),
            );
        }
        settings.push((name.to_string(), value.to_string()));
    }
    Ok(settings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_accept_kill_bills_forms() {
        let cases: &[(&str, u64)] = &[
            ("500ms", 500),
            ("30s", 30_000),
            ("5m", 300_000),
            ("1h", 3_600_000),
            ("2d", 172_800_000),
            ("5 milliseconds", 5),
            ("1 millisecond", 1),
            ("7seconds", 7_000),
            ("1second", 1_000),
            ("7min", 420_000),
            ("15minutes", 900_000),
            ("25hours", 90_000_000),
            ("1day", 86_400_000),
            ("5 h", 18_000_000),
            ("  10S ", 10_000),
            ("0", 0),
            ("0m", 0),
        ];
        for (text, millis) in cases {
            assert_eq!(
                parse_duration(text, BareNumber::Milliseconds, true),
                Ok(Duration::from_millis(*millis)),
                "{text}"
            );
        }
        assert_eq!(
            parse_duration("5", BareNumber::Seconds, true),
            Ok(Duration::from_secs(5))
        );
        for bad in [
            "5x",
            "-1s",
            "1.5s",
            "s",
            "",
            "99999999999999999999d",
            "1 2s",
        ] {
            assert!(
                parse_duration(bad, BareNumber::Milliseconds, true).is_err(),
                "{bad}"
            );
        }
        assert!(parse_duration("0s", BareNumber::Milliseconds, false).is_err());
    }

    #[test]
    fn gateway_latency_and_rates_parse_in_their_documented_forms() {
        let ms = Duration::from_millis;
        assert_eq!(parse_latency("50ms"), Ok(Latency::Fixed(ms(50))));
        assert_eq!(parse_latency(" 75 "), Ok(Latency::Fixed(ms(75))));
        assert_eq!(parse_latency("0"), Ok(Latency::Fixed(Duration::ZERO)));
        assert_eq!(
            parse_latency("LogNormal: p99=1s, median=50ms"),
            Ok(Latency::LogNormal {
                median: ms(50),
                p99: ms(1000)
            })
        );
        for bad in [
            "lognormal:median=50ms",
            "lognormal:median=500ms,p99=400ms",
            "lognormal:median=50ms,p99=400ms,p99=1s",
            "lognormal:mean=50ms,p99=1s",
            "lognormal:median=0ms,p99=1s",
            "uniform:min=1ms,max=2ms",
            "fast",
        ] {
            assert!(parse_latency(bad).is_err(), "{bad} was accepted");
        }
        assert_eq!(parse_rate("0"), Ok(Rate(0)));
        assert_eq!(parse_rate("0.05"), Ok(Rate(50_000)));
        assert_eq!(parse_rate("5 %"), parse_rate("0.05"));
        assert_eq!(parse_rate("1"), Ok(Rate(1_000_000)));
        for bad in [
            "", "1.5", "150%", "-0.1", "inf", "NaN", "1e-2", "0.1.2", "%",
        ] {
            assert!(parse_rate(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn mask_url_handles_each_place_a_password_hides() {
        assert_eq!(mask_url("postgres://db/killbill"), "postgres://db/killbill");
        assert_eq!(mask_url("postgres://user@db/kb"), "postgres://user@db/kb");
        assert_eq!(
            mask_url("postgres://u:p@ss@db/kb"),
            "postgres://u:***@db/kb"
        );
        assert_eq!(
            mask_url("jdbc:postgresql://db/kb?user=u&Password=p"),
            "jdbc:postgresql://db/kb?user=u&Password=***"
        );
    }
}
