//! The environment forms real Kill Bill deployments use: `KB_<name>` (Kill Bill's rule),
//! `KILLBILL_*` and `FERROBILL_*` matched loosely against the table's names, the Docker
//! image's `KILLBILL_*` aliases, and `DATABASE_URL`; which form wins when several set one
//! property.
//!
//! Every spelling is derived from the names in the property table and the legacy keys, so a
//! new property gets its environment forms without a line here. This file turns variables
//! given to it into settings; it never reads `std::env` itself (only `Config::load` does),
//! never parses a value and never fills defaults.

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use super::layers::{Entry, Settings, Source};
use super::legacy::{known_name, known_names};
use super::table::{MAIN_URL, NOTIFICATION_QUEUE_MODE};

/// `KILLBILL_*` names from Kill Bill's Docker image (killbill-cloud
/// `docker/templates/killbill/latest/setenv2.sh`, earlier the ansible `killbill.properties.j2`)
/// that do not follow the property names, so name matching alone would miss them. An alias
/// with several targets sets all of them, as the image does.
pub(super) const KILLBILL_ALIASES: &[(&str, &[&str])] = &[
    (
        "KILLBILL_PLUGIN_THREADS_NB",
        &["org.killbill.payment.plugin.threads.nb"],
    ),
    (
        "KILLBILL_MAIN_QUEUE_MODE",
        &[
            "org.killbill.persistent.bus.main.queue.mode",
            NOTIFICATION_QUEUE_MODE,
        ],
    ),
    (
        "KILLBILL_MAX_FAILURE_RETRY",
        &[
            "org.killbill.persistent.bus.main.max.failure.retry",
            "org.killbill.persistent.bus.external.max.failure.retry",
            "org.killbill.notificationq.main.max.failure.retry",
        ],
    ),
    (
        "KILLBILL_MAIN_CLAIM_TIME",
        &[
            "org.killbill.persistent.bus.main.claim.time",
            "org.killbill.notificationq.main.claim.time",
        ],
    ),
    (
        "KILLBILL_MAIN_QUEUE_CAPACITY",
        &[
            "org.killbill.persistent.bus.main.queue.capacity",
            "org.killbill.notificationq.main.queue.capacity",
        ],
    ),
    (
        "KILLBILL_EXTERNAL_CLAIM_TIME",
        &["org.killbill.persistent.bus.external.claim.time"],
    ),
    (
        "KILLBILL_EXTERNAL_QUEUE_CAPACITY",
        &["org.killbill.persistent.bus.external.queue.capacity"],
    ),
    (
        "KILLBILL_EXTERNAL_INFLIGHT_CLAIMED",
        &["org.killbill.persistent.bus.external.inflight.claimed"],
    ),
    (
        "KILLBILL_MAIN_NOTIFICATION_NB_THREADS",
        &["org.killbill.notificationq.main.notification.nbThreads"],
    ),
    (
        "KILLBILL_MAIN_NOTIFICATION_OFF",
        &["org.killbill.notificationq.main.notification.off"],
    ),
    (
        "KILLBILL_MAIN_REAP_THRESHOLD",
        &["org.killbill.notificationq.main.reapThreshold"],
    ),
    (
        "KILLBILL_MAIN_MAX_REDISPATCH_COUNT",
        &["org.killbill.notificationq.main.maxReDispatchCount"],
    ),
    (
        "KILLBILL_MAIN_REAP_SCHEDULE",
        &["org.killbill.notificationq.main.reapSchedule"],
    ),
];

/// Name prefixes a `KILLBILL_*`/`FERROBILL_*` variable may leave out. `persistent.` is here
/// because Kill Bill's image spells the bus variables `KILLBILL_BUS_MAIN_*`.
const DROPPABLE_PREFIXES: &[&str] = &[
    "org.killbill.billing.",
    "org.killbill.persistent.",
    "org.killbill.",
    "ferrobill.",
];

/// Case, dots, underscores and dashes carry no meaning in the loose env forms.
fn normalize(name: &str) -> String {
    name.chars()
        .filter(|c| !matches!(c, '.' | '_' | '-'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// Every loose spelling that designates `name`.
fn loose_spellings(name: &str) -> Vec<String> {
    let mut spellings = vec![normalize(name)];
    for prefix in DROPPABLE_PREFIXES {
        if let Some(rest) = name.strip_prefix(prefix) {
            spellings.push(normalize(rest));
        }
    }
    spellings.dedup();
    spellings
}

fn loose_index() -> &'static HashMap<String, &'static str> {
    static INDEX: OnceLock<HashMap<String, &'static str>> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut index = HashMap::new();
        for name in known_names() {
            for spelling in loose_spellings(name) {
                index.entry(spelling).or_insert(name);
            }
        }
        index
    })
}

pub(super) fn loose_match(spelling: &str) -> Option<&'static str> {
    loose_index().get(&normalize(spelling)).copied()
}

/// Which env form set a value; earlier variants are more specific and win.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum EnvForm {
    /// `KB_<name>`, Kill Bill's own rule.
    Kb,
    Ferrobill,
    /// A `KILLBILL_*` name for one property (name match or one-target alias).
    Killbill,
    /// A `KILLBILL_*` alias that sets several properties at once.
    KillbillShared,
    DatabaseUrl,
}

pub(super) fn is_ours(var: &str) -> bool {
    var.starts_with("KB_") || var.starts_with("KILLBILL_") || var.starts_with("FERROBILL_")
}

struct EnvCandidate {
    form: EnvForm,
    var: String,
    value: String,
}

pub(super) fn read_environment(env: &[(String, String)], warnings: &mut Vec<String>) -> Settings {
    let mut sorted: Vec<&(String, String)> = env.iter().collect();
    sorted.sort();
    let mut candidates: BTreeMap<&'static str, Vec<EnvCandidate>> = BTreeMap::new();
    for (var, value) in sorted {
        for (name, form, value) in env_targets(var, value, warnings) {
            candidates.entry(name).or_default().push(EnvCandidate {
                form,
                var: var.clone(),
                value,
            });
        }
    }

    let mut settings = Settings::new();
    for (name, mut list) in candidates {
        list.sort_by(|a, b| (a.form, &a.var).cmp(&(b.form, &b.var)));
        let Some((winner, others)) = list.split_first() else {
            continue;
        };
        if others.iter().any(|other| other.value != winner.value) {
            let losers = others
                .iter()
                .map(|other| other.var.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            warnings.push(format!(
                "{name} is set by several environment variables with different values; \
                 using {} over {losers} (KB_ > FERROBILL_ > KILLBILL_ > DATABASE_URL)",
                winner.var
            ));
        }
        settings.insert(
            name,
            Entry {
                value: winner.value.clone(),
                source: Source::Env {
                    var: winner.var.clone(),
                },
            },
        );
    }
    settings
}

fn env_targets(
    var: &str,
    value: &str,
    warnings: &mut Vec<String>,
) -> Vec<(&'static str, EnvForm, String)> {
    if let Some(rest) = var.strip_prefix("KB_") {
        let name = rest.replace('_', ".");
        if let Some(name) = known_name(&name) {
            return vec![(name, EnvForm::Kb, value.to_owned())];
        }
        let hint = loose_match(&name)
            .map(|known| format!("; did you mean KB_{}?", known.replace('.', "_")))
            .unwrap_or_default();
        warnings.push(format!(
            "environment variable {var} names {name}, which ferrobill does not support; ignored{hint}"
        ));
        return Vec::new();
    }
    if let Some(rest) = var.strip_prefix("FERROBILL_") {
        return match loose_match(rest) {
            Some(name) => vec![(name, EnvForm::Ferrobill, value.to_owned())],
            None => {
                warnings.push(unknown_variable(var));
                Vec::new()
            }
        };
    }
    if let Some(rest) = var.strip_prefix("KILLBILL_") {
        if let Some((_, targets)) = KILLBILL_ALIASES.iter().find(|(alias, _)| *alias == var) {
            let form = if targets.len() > 1 {
                EnvForm::KillbillShared
            } else {
                EnvForm::Killbill
            };
            return targets
                .iter()
                .map(|target| (*target, form, alias_value(var, target, value, warnings)))
                .collect();
        }
        return match loose_match(rest) {
            Some(name) => vec![(name, EnvForm::Killbill, value.to_owned())],
            None => {
                warnings.push(unknown_variable(var));
                Vec::new()
            }
        };
    }
    if var == "DATABASE_URL" {
        return vec![(MAIN_URL, EnvForm::DatabaseUrl, value.to_owned())];
    }
    Vec::new()
}

/// Kill Bill's image copies `KILLBILL_MAIN_QUEUE_MODE` to the notification queue too, where
/// STICKY_EVENTS makes Kill Bill fail at the first claim; STICKY_POLLING is the sticky mode
/// that queue has.
fn alias_value(var: &str, target: &str, value: &str, warnings: &mut Vec<String>) -> String {
    if target == NOTIFICATION_QUEUE_MODE && value.trim().eq_ignore_ascii_case("STICKY_EVENTS") {
        warnings.push(format!(
            "{var}=STICKY_EVENTS applies to the main bus only; {NOTIFICATION_QUEUE_MODE} gets STICKY_POLLING"
        ));
        return "STICKY_POLLING".to_owned();
    }
    value.to_owned()
}

fn unknown_variable(var: &str) -> String {
    format!("environment variable {var} matches no property ferrobill supports; ignored")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::legacy::{LEGACY_MODE_KEYS, LEGACY_RENAMED_KEYS};
    use crate::config::test_support::{assert_warns, find_property, loaded};
    use crate::config::typed::{LogFormat, QueueMode};

    #[test]
    fn no_two_names_share_a_loose_spelling() {
        let mut owners: HashMap<String, &str> = HashMap::new();
        for name in known_names() {
            for spelling in loose_spellings(name) {
                if let Some(other) = owners.insert(spelling.clone(), name) {
                    assert_eq!(
                        other, name,
                        "{other} and {name} both normalize to {spelling}"
                    );
                }
            }
        }
    }

    #[test]
    fn docker_aliases_point_at_known_names_and_shadow_nothing() {
        for (alias, targets) in KILLBILL_ALIASES {
            for target in *targets {
                assert!(known_name(target).is_some(), "{alias} → unknown {target}");
            }
            let rest = alias.trim_start_matches("KILLBILL_");
            assert_eq!(
                loose_match(rest),
                None,
                "{alias} also matches a property name"
            );
        }
        for (legacy, current) in LEGACY_RENAMED_KEYS {
            assert!(
                find_property(current).is_some(),
                "{legacy} → unknown {current}"
            );
        }
        for keys in LEGACY_MODE_KEYS {
            assert!(find_property(keys.mode).is_some());
        }
    }

    #[test]
    fn kb_form_follows_kill_bills_rule() {
        let l = loaded(&[
            ("KB_org_killbill_dao_maxActive", "42"),
            (
                "KB_org_killbill_persistent_bus_main_queue_mode",
                "STICKY_EVENTS",
            ),
            ("KB_org_killbill_notificationq_main_max_failure_retry", "7"),
        ]);
        assert_eq!(l.config.main_pool.max_active, 42);
        assert_eq!(l.config.main_bus.mode, QueueMode::StickyEvents);
        assert_eq!(l.config.notification_queue.max_failure_retry, 7);
        assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    }

    #[test]
    fn kb_form_is_case_sensitive_like_kill_bill() {
        let l = loaded(&[("KB_org_killbill_dao_maxactive", "42")]);
        assert_eq!(l.config.main_pool.max_active, 32);
        assert_warns(&l, &["did you mean KB_org_killbill_dao_maxActive?"]);
    }

    #[test]
    fn killbill_and_ferrobill_forms_match_loosely() {
        let cases: &[(&str, &str)] = &[
            ("KILLBILL_DAO_MAXACTIVE", "org.killbill.dao.maxActive"),
            ("KILLBILL_DAO_MAX_ACTIVE", "org.killbill.dao.maxActive"),
            (
                "KILLBILL_PAYMENT_PLUGIN_THREADS_NB",
                "org.killbill.payment.plugin.threads.nb",
            ),
            (
                "KILLBILL_OSGI_DAO_MAXACTIVE",
                "org.killbill.billing.osgi.dao.maxActive",
            ),
            (
                "KILLBILL_OSGI_DAO_MAX_ACTIVE",
                "org.killbill.billing.osgi.dao.maxActive",
            ),
            ("FERROBILL_SERVER_PORT", "ferrobill.server.port"),
            (
                "KILLBILL_QUEUE_CREATOR_NAME",
                "org.killbill.queue.creator.name",
            ),
            (
                "KILLBILL_BUS_MAIN_CLAIMED",
                "org.killbill.persistent.bus.main.claimed",
            ),
            (
                "KILLBILL_NOTIFICATIONQ_MAIN_CLAIMED",
                "org.killbill.notificationq.main.claimed",
            ),
            (
                "FERROBILL_ORG_KILLBILL_DAO_MAXACTIVE",
                "org.killbill.dao.maxActive",
            ),
            ("FERROBILL_LOG_FORMAT", "ferrobill.log.format"),
        ];
        for (var, property) in cases {
            let rest = var
                .strip_prefix("KILLBILL_")
                .or_else(|| var.strip_prefix("FERROBILL_"))
                .expect("prefixed");
            assert_eq!(loose_match(rest), Some(*property), "{var}");
        }
        let l = loaded(&[
            ("KILLBILL_DAO_MAX_ACTIVE", "12"),
            ("KILLBILL_OSGI_DAO_MAXACTIVE", "13"),
            ("KILLBILL_PAYMENT_PLUGIN_THREADS_NB", "4"),
            ("FERROBILL_SERVER_PORT", "9090"),
            ("KILLBILL_QUEUE_CREATOR_NAME", "node-a"),
            ("KILLBILL_BUS_MAIN_SLEEP", "250"),
            ("KILLBILL_NOTIFICATIONQ_MAIN_SLEEP", "1s"),
            ("FERROBILL_LOG_FORMAT", "JSON"),
        ]);
        let c = &l.config;
        assert_eq!(c.main_pool.max_active, 12);
        assert_eq!(c.plugin_pool.max_active, 13);
        assert_eq!(c.payment.plugin_threads, 4);
        assert_eq!(c.server.port, 9090);
        assert_eq!(c.creator_name, "node-a");
        assert_eq!(c.main_bus.sleep, Duration::from_millis(250));
        assert_eq!(c.notification_queue.sleep, Duration::from_secs(1));
        assert_eq!(c.log_format, LogFormat::Json);
        assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    }

    #[test]
    fn docker_aliases_fan_out() {
        let l = loaded(&[
            ("KILLBILL_MAIN_QUEUE_MODE", "STICKY_POLLING"),
            ("KILLBILL_MAX_FAILURE_RETRY", "9"),
            ("KILLBILL_PLUGIN_THREADS_NB", "6"),
            ("KILLBILL_MAIN_CLAIM_TIME", "7m"),
            ("KILLBILL_MAIN_NOTIFICATION_NB_THREADS", "3"),
        ]);
        let c = &l.config;
        assert_eq!(c.main_bus.mode, QueueMode::StickyPolling);
        assert_eq!(c.notification_queue.mode, QueueMode::StickyPolling);
        assert_eq!(c.external_bus.mode, QueueMode::Polling);
        assert_eq!(c.main_bus.max_failure_retry, 9);
        assert_eq!(c.external_bus.max_failure_retry, 9);
        assert_eq!(c.notification_queue.max_failure_retry, 9);
        assert_eq!(c.payment.plugin_threads, 6);
        assert_eq!(c.main_bus.claim_time, Duration::from_secs(420));
        assert_eq!(c.notification_queue.claim_time, Duration::from_secs(420));
        assert_eq!(c.notification_queue.nb_threads, 3);
        assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    }

    #[test]
    fn sticky_events_alias_gives_notification_queue_sticky_polling() {
        let l = loaded(&[("KILLBILL_MAIN_QUEUE_MODE", "sticky_events")]);
        assert_eq!(l.config.main_bus.mode, QueueMode::StickyEvents);
        assert_eq!(l.config.notification_queue.mode, QueueMode::StickyPolling);
        assert_warns(
            &l,
            &["KILLBILL_MAIN_QUEUE_MODE=STICKY_EVENTS applies to the main bus only"],
        );
    }

    #[test]
    fn database_url_sets_the_main_pool() {
        let l = loaded(&[("DATABASE_URL", "postgres://kb:secret@db:5432/killbill")]);
        assert_eq!(
            l.config.main_pool.url.as_deref(),
            Some("postgres://kb:secret@db:5432/killbill")
        );
        assert_eq!(l.config.plugin_pool.url, None);
    }

    #[test]
    fn unknown_names_warn_and_other_variables_are_ignored() {
        let l = loaded(&[
            ("KB_org_killbill_catalog_uri", "x"),
            ("KILLBILL_CATALOG_URI", "x"),
            ("FERROBILL_NO_SUCH_THING", "x"),
            ("PATH", "/usr/bin"),
            ("HOME", "/root"),
            ("KILLBILLING", "x"),
        ]);
        assert_eq!(l.warnings.len(), 3, "{:?}", l.warnings);
        assert_warns(
            &l,
            &[
                "KB_org_killbill_catalog_uri names org.killbill.catalog.uri",
                "KILLBILL_CATALOG_URI matches no property",
                "FERROBILL_NO_SUCH_THING matches no property",
            ],
        );
    }

    #[test]
    fn most_specific_env_form_wins_with_a_warning() {
        let l = loaded(&[
            ("DATABASE_URL", "postgres://a/one"),
            ("KILLBILL_DAO_URL", "postgres://b/two"),
            ("KB_org_killbill_dao_url", "postgres://c/three"),
        ]);
        assert_eq!(
            l.config.main_pool.url.as_deref(),
            Some("postgres://c/three")
        );
        assert_warns(
            &l,
            &["using KB_org_killbill_dao_url over KILLBILL_DAO_URL, DATABASE_URL"],
        );

        let l = loaded(&[
            ("DATABASE_URL", "postgres://a/one"),
            ("KILLBILL_DAO_URL", "postgres://b/two"),
        ]);
        assert_eq!(l.config.main_pool.url.as_deref(), Some("postgres://b/two"));

        let l = loaded(&[
            ("KILLBILL_SERVER_PORT", "1"),
            ("FERROBILL_SERVER_PORT", "2"),
        ]);
        assert_eq!(l.config.server.port, 2);
    }

    #[test]
    fn same_value_from_several_forms_is_no_conflict() {
        let l = loaded(&[
            ("DATABASE_URL", "postgres://a/one"),
            ("KB_org_killbill_dao_url", "postgres://a/one"),
        ]);
        assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    }

    #[test]
    fn specific_variable_beats_shared_alias() {
        let l = loaded(&[
            ("KILLBILL_MAX_FAILURE_RETRY", "9"),
            ("KILLBILL_BUS_EXTERNAL_MAX_FAILURE_RETRY", "1"),
        ]);
        assert_eq!(l.config.external_bus.max_failure_retry, 1);
        assert_eq!(l.config.main_bus.max_failure_retry, 9);
        assert_warns(
            &l,
            &["using KILLBILL_BUS_EXTERNAL_MAX_FAILURE_RETRY over KILLBILL_MAX_FAILURE_RETRY"],
        );
    }
}
