//! What a property can hold: one small type per kind of value (a count, a duration, a
//! choice among spellings, a database URL…), each saying how its text is read, how the value
//! shows in the effective dump and in an error, and what Rust type it yields. The property
//! table pairs each property with one of these and a setter taking exactly that Rust type,
//! so a property can only ever reach a field of its own type: the compiler checks what the
//! old getters by name could only check at run time.
//!
//! Nothing here knows a property's name, its default or where a value came from; the
//! grammars themselves live in `values.rs`.

use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

use super::typed::{Latency, LogFormat, QueueMode, Rate};
use super::values::{
    mask_secret, mask_url, mask_users, parse_bool, parse_count, parse_database_url, parse_duration,
    parse_ip_list, parse_latency, parse_names, parse_postgres_settings, parse_rate, parse_users,
    BareNumber,
};

/// One kind of property value.
pub(super) trait Kind: Send + Sync + 'static {
    /// What the setter of a property of this kind receives.
    type Value;

    /// The value, or what was expected (to finish "expected …").
    fn parse(&self, raw: &str) -> Result<Self::Value, String>;

    /// How the value appears in the effective dump: canonical where the kind has a canonical
    /// spelling, masked where it is secret, as written otherwise (so that durations show as
    /// the operator wrote them).
    fn show(&self, raw: &str, _value: &Self::Value) -> String {
        raw.trim().to_owned()
    }

    /// Whether the value is masked when printed.
    fn is_secret(&self) -> bool {
        false
    }

    /// How a bad value is quoted in an error: never a secret in clear.
    fn quote(&self, raw: &str) -> String {
        format!("{raw:?}")
    }

    /// Whether a bad value of this kind is reported only when every other property parsed.
    /// The lists checked item by item (trusted proxies, PostgreSQL settings) were once
    /// checked while building, after all parsing; keeping their errors last keeps the one
    /// line an operator sees the same when several values are wrong at once.
    fn reported_last(&self) -> bool {
        false
    }

    /// Valid values, for the test proving every property reaches a field of its own.
    #[cfg(test)]
    fn samples(&self) -> Vec<&'static str>;
}

/// An integer in `min..=u32::MAX`; `min` is 1 where 0 makes no sense (pool sizes, threads).
#[derive(Debug, Clone, Copy)]
pub(super) struct Count {
    min: u32,
}

pub(super) const POSITIVE: Count = Count { min: 1 };
pub(super) const NON_NEGATIVE: Count = Count { min: 0 };

impl Kind for Count {
    type Value = u32;

    fn parse(&self, raw: &str) -> Result<u32, String> {
        let number = parse_count(raw, u64::from(self.min), u64::from(u32::MAX))?;
        // Within u32 after the check above.
        Ok(u32::try_from(number).unwrap_or(u32::MAX))
    }

    fn show(&self, _raw: &str, value: &u32) -> String {
        value.to_string()
    }

    #[cfg(test)]
    fn samples(&self) -> Vec<&'static str> {
        vec!["7", "1000"]
    }
}

/// A duration, a bare number read in `bare`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Span {
    bare: BareNumber,
    allow_zero: bool,
}

impl Span {
    const fn new(bare: BareNumber, allow_zero: bool) -> Span {
        Span { bare, allow_zero }
    }
}

pub(super) const TIMESPAN: Span = Span::new(BareNumber::Milliseconds, true);
pub(super) const POSITIVE_TIMESPAN: Span = Span::new(BareNumber::Milliseconds, false);
pub(super) const POSITIVE_SECONDS: Span = Span::new(BareNumber::Seconds, false);
pub(super) const SECONDS: Span = Span::new(BareNumber::Seconds, true);
pub(super) const MILLISECONDS: Span = Span::new(BareNumber::Milliseconds, true);

impl Kind for Span {
    type Value = Duration;

    fn parse(&self, raw: &str) -> Result<Duration, String> {
        parse_duration(raw, self.bare, self.allow_zero)
    }

    #[cfg(test)]
    fn samples(&self) -> Vec<&'static str> {
        vec!["1ms", "1d"]
    }
}

/// Comma-separated durations (Kill Bill's `List<TimeSpan>`), at least one.
#[derive(Debug, Clone, Copy)]
pub(super) struct SpanList {
    bare: BareNumber,
}

pub(super) const TIMESPAN_LIST: SpanList = SpanList {
    bare: BareNumber::Milliseconds,
};

impl Kind for SpanList {
    type Value = Vec<Duration>;

    fn parse(&self, raw: &str) -> Result<Vec<Duration>, String> {
        raw.split(',')
            .map(|item| parse_duration(item, self.bare, false))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|expected| format!("a comma-separated list of {expected}"))
    }

    #[cfg(test)]
    fn samples(&self) -> Vec<&'static str> {
        vec!["1ms"]
    }
}

/// Text, blanks around it dropped.
#[derive(Debug, Clone, Copy)]
pub(super) struct Text {
    allow_empty: bool,
}

pub(super) const TEXT: Text = Text { allow_empty: true };
pub(super) const NON_EMPTY_TEXT: Text = Text { allow_empty: false };

impl Kind for Text {
    type Value = String;

    fn parse(&self, raw: &str) -> Result<String, String> {
        let text = raw.trim();
        if text.is_empty() && !self.allow_empty {
            Err("a non-empty value".to_owned())
        } else {
            Ok(text.to_owned())
        }
    }

    fn show(&self, _raw: &str, value: &String) -> String {
        value.clone()
    }

    #[cfg(test)]
    fn samples(&self) -> Vec<&'static str> {
        vec!["x"]
    }
}

/// One of these spellings, matched ignoring case, each standing for a value.
#[derive(Debug, Clone, Copy)]
pub(super) struct Choice<T: 'static> {
    options: &'static [(&'static str, T)],
}

pub(super) const BUS_MODES: Choice<QueueMode> = Choice {
    options: &[
        ("POLLING", QueueMode::Polling),
        ("STICKY_POLLING", QueueMode::StickyPolling),
        ("STICKY_EVENTS", QueueMode::StickyEvents),
    ],
};
/// Kill Bill's notification queues only poll.
pub(super) const NOTIFICATION_QUEUE_MODES: Choice<QueueMode> = Choice {
    options: &[
        ("POLLING", QueueMode::Polling),
        ("STICKY_POLLING", QueueMode::StickyPolling),
    ],
};
pub(super) const LOG_FORMATS: Choice<LogFormat> = Choice {
    options: &[("text", LogFormat::Text), ("json", LogFormat::Json)],
};
/// Whether the gateway plugin reports itself healthy.
pub(super) const GATEWAY_HEALTH: Choice<bool> = Choice {
    options: &[("healthy", true), ("unhealthy", false)],
};

impl<T: Copy + Send + Sync + 'static> Choice<T> {
    fn find(&self, raw: &str) -> Option<&'static (&'static str, T)> {
        self.options
            .iter()
            .find(|(spelling, _)| spelling.eq_ignore_ascii_case(raw.trim()))
    }
}

impl<T: Copy + Send + Sync + 'static> Kind for Choice<T> {
    type Value = T;

    fn parse(&self, raw: &str) -> Result<T, String> {
        self.find(raw).map(|(_, value)| *value).ok_or_else(|| {
            let spellings: Vec<&str> = self.options.iter().map(|(spelling, _)| *spelling).collect();
            format!("one of {}", spellings.join(", "))
        })
    }

    fn show(&self, raw: &str, _value: &T) -> String {
        self.find(raw)
            .map(|(spelling, _)| (*spelling).to_owned())
            .unwrap_or_else(|| raw.trim().to_owned())
    }

    #[cfg(test)]
    fn samples(&self) -> Vec<&'static str> {
        self.options.iter().map(|(spelling, _)| *spelling).collect()
    }
}

/// A PostgreSQL URL or nothing; `when_empty` finishes "expected a PostgreSQL URL … or".
#[derive(Debug, Clone, Copy)]
pub(super) struct DatabaseUrl {
    when_empty: &'static str,
}

pub(super) const MAIN_DATABASE_URL: DatabaseUrl = DatabaseUrl {
    when_empty: "nothing for the embedded database",
};
pub(super) const PLUGIN_DATABASE_URL: DatabaseUrl = DatabaseUrl {
    when_empty: "nothing for the main pool's database",
};

impl Kind for DatabaseUrl {
    type Value = Option<String>;

    fn parse(&self, raw: &str) -> Result<Option<String>, String> {
        parse_database_url(raw, self.when_empty)
    }

    fn show(&self, _raw: &str, value: &Option<String>) -> String {
        value.as_deref().map(mask_url).unwrap_or_default()
    }

    fn quote(&self, raw: &str) -> String {
        format!("{:?}", mask_url(raw))
    }

    #[cfg(test)]
    fn samples(&self) -> Vec<&'static str> {
        vec!["postgres://db/kb"]
    }
}

/// A value read by one function: the kinds that need no state of their own.
#[derive(Debug, Clone, Copy)]
pub(super) struct Parsed<T: 'static> {
    parse: fn(&str) -> Result<T, String>,
    /// How the effective dump shows the value: [`canonical`] or [`as_written`].
    show: fn(&str, &T) -> String,
    quoting: Quoting,
    #[cfg(test)]
    samples: &'static [&'static str],
}

/// How a bad value is quoted in an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quoting {
    AsGiven,
    /// Lists checked item by item: quoted trimmed, and reported after every other property.
    Trimmed,
    /// Secrets: never shown, and masked in the effective dump.
    Hidden,
}

/// `raw` without blanks around it, read by the type's `FromStr`.
fn parse_trimmed<T: FromStr>(raw: &str, expected: &str) -> Result<T, String> {
    raw.trim().parse().map_err(|_| expected.to_owned())
}

fn canonical<T: ToString>(_raw: &str, value: &T) -> String {
    value.to_string()
}

fn as_written<T>(raw: &str, _value: &T) -> String {
    raw.trim().to_owned()
}

/// A size in bytes, at least 1.
pub(super) const BYTES: Parsed<u64> = Parsed {
    parse: |raw| parse_count(raw, 1, u64::MAX),
    show: canonical,
    quoting: Quoting::AsGiven,
    #[cfg(test)]
    samples: &["7"],
};
/// `true`/`false`, any case.
pub(super) const BOOL: Parsed<bool> = Parsed {
    parse: parse_bool,
    show: canonical,
    quoting: Quoting::AsGiven,
    #[cfg(test)]
    samples: &["true", "false"],
};
/// A TCP port, 0 included (a free one, for tests).
pub(super) const PORT: Parsed<u16> = Parsed {
    parse: |raw| parse_trimmed(raw, "a TCP port from 0 to 65535"),
    show: canonical,
    quoting: Quoting::AsGiven,
    #[cfg(test)]
    samples: &["7"],
};
pub(super) const IP_ADDRESS: Parsed<IpAddr> = Parsed {
    parse: |raw| parse_trimmed(raw, "an IP address such as 0.0.0.0, 127.0.0.1 or ::"),
    show: canonical,
    quoting: Quoting::AsGiven,
    #[cfg(test)]
    samples: &["127.0.0.1"],
};
/// A gateway latency: a duration, or `lognormal:median=…,p99=…`.
pub(super) const LATENCY: Parsed<Latency> = Parsed {
    parse: parse_latency,
    show: as_written,
    quoting: Quoting::AsGiven,
    #[cfg(test)]
    samples: &["7ms"],
};
/// A probability: `0` to `1`, or a percentage.
pub(super) const RATE: Parsed<Rate> = Parsed {
    parse: parse_rate,
    show: as_written,
    quoting: Quoting::AsGiven,
    #[cfg(test)]
    samples: &["0.25"],
};
/// Comma-separated words (user names); empty means none.
pub(super) const NAMES: Parsed<Vec<String>> = Parsed {
    parse: |raw| Ok(parse_names(raw)),
    show: as_written,
    quoting: Quoting::AsGiven,
    #[cfg(test)]
    samples: &["x"],
};
/// Comma-separated IP addresses; empty means none.
pub(super) const IP_LIST: Parsed<Vec<IpAddr>> = Parsed {
    parse: parse_ip_list,
    show: as_written,
    quoting: Quoting::Trimmed,
    #[cfg(test)]
    samples: &["127.0.0.1"],
};
/// Comma-separated `name=value` PostgreSQL settings that keep durability on.
pub(super) const POSTGRES_SETTINGS: Parsed<Vec<(String, String)>> = Parsed {
    parse: parse_postgres_settings,
    show: as_written,
    quoting: Quoting::Trimmed,
    #[cfg(test)]
    samples: &["a=b"],
};

/// Kept verbatim (no trimming: a password may end in a space) and masked when printed.
pub(super) const SECRET: Parsed<String> = Parsed {
    parse: |raw| Ok(raw.to_owned()),
    show: |raw, _| mask_secret(raw),
    quoting: Quoting::Hidden,
    #[cfg(test)]
    samples: &["x"],
};
/// `user:password,user:password`; passwords masked when printed.
pub(super) const USERS: Parsed<Vec<(String, String)>> = Parsed {
    parse: parse_users,
    show: |_, users| mask_users(users),
    quoting: Quoting::Hidden,
    #[cfg(test)]
    samples: &["u:p"],
};

impl<T: 'static> Kind for Parsed<T> {
    type Value = T;

    fn parse(&self, raw: &str) -> Result<T, String> {
        (self.parse)(raw)
    }

    fn show(&self, raw: &str, value: &T) -> String {
        (self.show)(raw, value)
    }

    fn is_secret(&self) -> bool {
        self.quoting == Quoting::Hidden
    }

    fn quote(&self, raw: &str) -> String {
        match self.quoting {
            Quoting::AsGiven => format!("{raw:?}"),
            Quoting::Trimmed => format!("{:?}", raw.trim()),
            Quoting::Hidden => "<hidden>".to_owned(),
        }
    }

    fn reported_last(&self) -> bool {
        self.quoting == Quoting::Trimmed
    }

    #[cfg(test)]
    fn samples(&self) -> Vec<&'static str> {
        self.samples.to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::table::{MAIN_PASSWORD, MAIN_URL, NOTIFICATION_QUEUE_MODE, PLUGIN_URL};
    use crate::config::test_support::{config, effective, env_error, error_of};

    #[test]
    fn choices_match_any_case_and_show_the_canonical_spelling() {
        assert_eq!(
            BUS_MODES.parse(" sticky_events "),
            Ok(QueueMode::StickyEvents)
        );
        assert_eq!(
            BUS_MODES.show("sticky_events", &QueueMode::StickyEvents),
            "STICKY_EVENTS"
        );
        assert_eq!(
            NOTIFICATION_QUEUE_MODES.parse("STICKY_EVENTS"),
            Err("one of POLLING, STICKY_POLLING".to_owned())
        );
        assert_eq!(GATEWAY_HEALTH.parse("UNHEALTHY"), Ok(false));
        assert_eq!(LOG_FORMATS.parse("Json"), Ok(LogFormat::Json));
    }

    #[test]
    fn secrets_are_masked_when_shown_and_hidden_in_errors() {
        assert_eq!(SECRET.show("hunter2", &"hunter2".to_owned()), "***");
        assert_eq!(SECRET.show("", &String::new()), "");
        assert_eq!(SECRET.quote("hunter2"), "<hidden>");
        assert_eq!(USERS.quote("a:b"), "<hidden>");
        assert!(SECRET.is_secret() && USERS.is_secret() && !TEXT.is_secret());
        assert_eq!(
            MAIN_DATABASE_URL.quote("mysql://kb:hunter2@db/kb"),
            "\"mysql://kb:***@db/kb\""
        );
    }

    #[test]
    fn counts_stay_within_u32() {
        assert_eq!(POSITIVE.parse("4294967295"), Ok(u32::MAX));
        assert_eq!(
            POSITIVE.parse("4294967296"),
            Err("a positive integer no greater than 4294967295".to_owned())
        );
        assert_eq!(NON_NEGATIVE.parse("0"), Ok(0));
        assert_eq!(POSITIVE.show("007", &7), "7");
    }

    #[test]
    fn lists_quote_their_value_trimmed() {
        assert_eq!(IP_LIST.quote(" 10.0.0.1,proxy "), "\"10.0.0.1,proxy\"");
        assert_eq!(
            IP_LIST.parse("10.0.0.1,proxy"),
            Err("comma-separated IP addresses".to_owned())
        );
        assert_eq!(
            NAMES.parse(" admin , ops ,"),
            Ok(vec!["admin".to_owned(), "ops".to_owned()])
        );
        assert_eq!(POSTGRES_SETTINGS.parse(""), Ok(Vec::new()));
    }

    #[test]
    fn queue_sleep_is_milliseconds_when_bare() {
        let c = config(&[
            ("org.killbill.persistent.bus.main.sleep", "250"),
            ("org.killbill.persistent.bus.external.sleep", "3s"),
            ("org.killbill.notificationq.main.sleep", "0"),
        ]);
        assert_eq!(c.main_bus.sleep, Duration::from_millis(250));
        assert_eq!(c.external_bus.sleep, Duration::from_secs(3));
        assert_eq!(c.notification_queue.sleep, Duration::ZERO);
    }

    #[test]
    fn bare_numbers_are_read_in_each_propertys_documented_unit() {
        let c = config(&[
            ("org.killbill.dao.connectionTimeout", "1500"),
            ("org.killbill.payment.plugin.timeout", "20"),
        ]);
        assert_eq!(c.main_pool.connection_timeout, Duration::from_millis(1500));
        assert_eq!(c.payment.plugin_timeout, Duration::from_secs(20));
        assert_eq!(
            error_of(&[("org.killbill.dao.connectionTimeout", "0")]),
            "invalid value \"0\" for org.killbill.dao.connectionTimeout (from properties given by the caller): \
             expected a positive number of milliseconds or a duration such as 500ms, 30s, 5m, 1h or 2d"
        );
        let c = config(&[("org.killbill.dao.maxConnectionAge", "30m")]);
        assert_eq!(
            c.main_pool.max_connection_age,
            Some(Duration::from_secs(1800))
        );
    }

    #[test]
    fn booleans_are_true_or_false_in_any_case() {
        let c = config(&[
            ("org.killbill.persistent.bus.main.inMemory", "TRUE"),
            ("org.killbill.persistent.bus.external.off", " True "),
            ("org.killbill.server.queue.healthcheck", "False"),
        ]);
        assert!(c.main_bus.in_memory);
        assert!(c.external_bus.off);
        assert!(!c.queue_healthcheck.enabled);
        for bad in ["yes", "1", "", "on"] {
            let message = error_of(&[("org.killbill.persistent.bus.main.off", bad)]);
            assert!(message.ends_with("expected true or false"), "{message}");
        }
    }

    #[test]
    fn choices_match_any_case() {
        let c = config(&[
            (
                "org.killbill.persistent.bus.external.queue.mode",
                "sticky_polling",
            ),
            ("ferrobill.log.format", "Json"),
        ]);
        assert_eq!(c.external_bus.mode, QueueMode::StickyPolling);
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(
            effective(&c, "org.killbill.persistent.bus.external.queue.mode"),
            "STICKY_POLLING"
        );
    }

    #[test]
    fn notification_queue_refuses_sticky_events() {
        assert_eq!(
            error_of(&[(NOTIFICATION_QUEUE_MODE, "STICKY_EVENTS")]),
            "invalid value \"STICKY_EVENTS\" for org.killbill.notificationq.main.queue.mode \
             (from properties given by the caller): expected one of POLLING, STICKY_POLLING"
        );
    }

    #[test]
    fn ports_addresses_sizes_and_urls() {
        let c = config(&[
            ("ferrobill.server.port", "0"),
            ("ferrobill.server.bindAddress", "::1"),
            ("ferrobill.server.maxBodySize", "10000000000"),
            (MAIN_URL, "jdbc:postgresql://db:5432/killbill"),
            (PLUGIN_URL, "postgresql://db/plugins"),
        ]);
        assert_eq!(c.server.port, 0);
        assert_eq!(c.server.bind_address.to_string(), "::1");
        assert_eq!(c.server.max_body_size, 10_000_000_000);
        assert_eq!(
            c.main_pool.url.as_deref(),
            Some("jdbc:postgresql://db:5432/killbill")
        );
        assert_eq!(
            c.plugin_pool.url.as_deref(),
            Some("postgresql://db/plugins")
        );
        assert!(error_of(&[("ferrobill.server.port", "65536")])
            .ends_with("expected a TCP port from 0 to 65535"));
        assert!(error_of(&[("ferrobill.server.bindAddress", "localhost")])
            .contains("expected an IP address"));
        assert_eq!(
            error_of(&[(MAIN_URL, "jdbc:mysql://db/killbill")]),
            "invalid value \"jdbc:mysql://db/killbill\" for org.killbill.dao.url (from properties given by the caller): \
             expected a PostgreSQL URL (jdbc:postgresql://..., postgres://... or postgresql://...) or nothing for the embedded database"
        );
        assert!(error_of(&[(PLUGIN_URL, "jdbc:h2:file:/tmp/x")])
            .ends_with("or nothing for the main pool's database"));
    }

    #[test]
    fn users_are_parsed_and_checked() {
        let c = config(&[("ferrobill.security.users", " admin:pw , ops:a:b:c ,")]);
        assert_eq!(
            c.security.users,
            vec![
                ("admin".to_owned(), "pw".to_owned()),
                ("ops".to_owned(), "a:b:c".to_owned())
            ]
        );
        assert_eq!(
            error_of(&[("ferrobill.security.users", "admin:pw,bobsecret")]),
            "invalid value <hidden> for ferrobill.security.users (from properties given by the caller): \
             expected comma-separated user:password pairs (entry 2 has no ':')"
        );
        assert!(
            error_of(&[("ferrobill.security.users", "a:x,a:y")]).contains("user a appears twice")
        );
        assert!(error_of(&[("ferrobill.security.users", ":x")]).contains("empty user or password"));
        assert!(error_of(&[("ferrobill.security.users", " , ")]).contains("at least one"));
    }

    #[test]
    fn passwords_are_kept_verbatim() {
        let c = config(&[(MAIN_PASSWORD, " pass word ")]);
        assert_eq!(c.main_pool.password, " pass word ");
    }

    #[test]
    fn security_roles_limits_and_proxies_are_parsed() {
        let c = config(&[
            ("ferrobill.security.adminUsers", " admin , ops ,"),
            ("ferrobill.security.trustedProxies", "10.0.0.1, ::1"),
        ]);
        assert_eq!(c.security.admin_users, vec!["admin", "ops"]);
        assert_eq!(
            c.security.trusted_proxies,
            vec![
                "10.0.0.1".parse::<IpAddr>().unwrap(),
                "::1".parse::<IpAddr>().unwrap()
            ]
        );
        let c = config(&[]);
        assert_eq!(c.security.admin_users, vec!["admin"]);
        assert_eq!(c.security.auth_failures_max, 20);
        assert_eq!(c.security.auth_failures_window, Duration::from_secs(60));
        assert!(c.security.trusted_proxies.is_empty());
        assert!(
            error_of(&[("ferrobill.security.trustedProxies", "10.0.0.1,proxy")])
                .ends_with("expected comma-separated IP addresses")
        );
    }

    #[test]
    fn embedded_postgres_settings_are_pairs_and_never_give_up_durability() {
        let c = config(&[(
            "ferrobill.embedded.postgresSettings",
            "shared_preload_libraries=pg_stat_statements, track_io_timing=on",
        )]);
        assert_eq!(
            c.embedded.postgres_settings,
            [
                (
                    "shared_preload_libraries".to_string(),
                    "pg_stat_statements".to_string()
                ),
                ("track_io_timing".to_string(), "on".to_string())
            ]
        );
        for bad in [
            "fsync=off",
            "synchronous_commit=off",
            "nonsense",
            "a b=1",
            "x=",
        ] {
            let error = error_of(&[("ferrobill.embedded.postgresSettings", bad)]);
            assert!(
                error.contains("ferrobill.embedded.postgresSettings"),
                "{bad}: {error}"
            );
        }
    }

    #[test]
    fn malformed_values_of_each_kind() {
        assert_eq!(
            env_error(&[("KB_org_killbill_payment_plugin_timeout", "5x")]),
            "invalid value \"5x\" for org.killbill.payment.plugin.timeout (from environment variable KB_org_killbill_payment_plugin_timeout): \
             expected a positive number of seconds or a duration such as 500ms, 30s, 5m, 1h or 2d"
        );
        assert_eq!(
            error_of(&[("ferrobill.server.maxBodySize", "-1")]),
            "invalid value \"-1\" for ferrobill.server.maxBodySize (from properties given by the caller): expected a positive integer"
        );
        assert_eq!(
            error_of(&[("org.killbill.dao.maxActive", "0")]),
            "invalid value \"0\" for org.killbill.dao.maxActive (from properties given by the caller): expected a positive integer"
        );
        assert_eq!(
            error_of(&[("org.killbill.dao.minIdle", "-3")]),
            "invalid value \"-3\" for org.killbill.dao.minIdle (from properties given by the caller): expected a non-negative integer"
        );
        assert_eq!(
            error_of(&[("org.killbill.persistent.bus.main.queue.mode", "FAST")]),
            "invalid value \"FAST\" for org.killbill.persistent.bus.main.queue.mode (from properties given by the caller): \
             expected one of POLLING, STICKY_POLLING, STICKY_EVENTS"
        );
        assert_eq!(
            error_of(&[("org.killbill.dao.maxActive", "4294967296")]),
            "invalid value \"4294967296\" for org.killbill.dao.maxActive (from properties given by the caller): \
             expected a positive integer no greater than 4294967295"
        );
        assert!(error_of(&[("ferrobill.embedded.dataDir", "  ")])
            .ends_with("expected a non-empty value"));
        let newline = error_of(&[("org.killbill.dao.maxActive", "1\n2")]);
        assert!(!newline.contains('\n'), "{newline}");
    }

    #[test]
    fn bad_url_in_error_is_masked() {
        let message = env_error(&[("DATABASE_URL", "mysql://kb:hunter2@db/killbill")]);
        assert!(!message.contains("hunter2"), "{message}");
        assert!(message.contains("mysql://kb:***@db/killbill"), "{message}");
        assert!(
            message.contains("(from environment variable DATABASE_URL)"),
            "{message}"
        );
    }
}
