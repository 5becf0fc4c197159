//! Kill Bill's obsolete queue keys (`sticky`, `useInflightQ`, `inflight.claimed`): which
//! names are still accepted besides the property table's, and what each becomes.
//!
//! This file rewrites explicit settings (file and environment) before defaults are filled in;
//! it never reads input itself and never touches the typed configuration. Every rewrite is
//! reported as a warning, so an operator learns the current key.

use super::kinds::{Kind, BOOL};
use super::layers::{invalid_value, Entry, Settings, Source};
use super::table::{properties, NOTIFICATION_QUEUE_MODE};
use super::ConfigError;

/// Kill Bill queue keys from before the `queue.mode` property (killbill-commons, removed in
/// commit 0cb7b0e6, August 2015). `sticky` ("whether a node should only pick entries it
/// inserted", default false) filtered polling on `creating_owner`, which is STICKY_POLLING
/// today. `useInflightQ` (default false) fed the dispatcher from an in-memory queue of ids
/// committed by this node; its replacement test is `mode == STICKY_EVENTS`, and the last
/// release with the key documented `sticky` as required with it, so `useInflightQ=true`
/// maps to STICKY_EVENTS with or without `sticky`. The notification queue only had `sticky`
/// (its `useInflightQ` was declared unavailable).
pub(super) struct LegacyModeKeys {
    pub(super) sticky: &'static str,
    pub(super) use_inflight_queue: Option<&'static str>,
    pub(super) mode: &'static str,
}

pub(super) const LEGACY_MODE_KEYS: &[LegacyModeKeys] = &[
    LegacyModeKeys {
        sticky: "org.killbill.persistent.bus.main.sticky",
        use_inflight_queue: Some("org.killbill.persistent.bus.main.useInflightQ"),
        mode: "org.killbill.persistent.bus.main.queue.mode",
    },
    LegacyModeKeys {
        sticky: "org.killbill.persistent.bus.external.sticky",
        use_inflight_queue: Some("org.killbill.persistent.bus.external.useInflightQ"),
        mode: "org.killbill.persistent.bus.external.queue.mode",
    },
    LegacyModeKeys {
        sticky: "org.killbill.notificationq.main.sticky",
        use_inflight_queue: None,
        mode: NOTIFICATION_QUEUE_MODE,
    },
];

/// `inflight.claimed` ("number of bus events to dispatch from the inflightQ at once"; default
/// 5, later 30) was removed with `useInflightQ`; `inflight.max` (2019) took over its meaning.
/// Kill Bill's Docker image still sets it from `KILLBILL_EXTERNAL_INFLIGHT_CLAIMED`.
pub(super) const LEGACY_RENAMED_KEYS: &[(&str, &str)] = &[
    (
        "org.killbill.persistent.bus.main.inflight.claimed",
        "org.killbill.persistent.bus.main.inflight.max",
    ),
    (
        "org.killbill.persistent.bus.external.inflight.claimed",
        "org.killbill.persistent.bus.external.inflight.max",
    ),
];

pub(super) fn legacy_names() -> impl Iterator<Item = &'static str> {
    LEGACY_MODE_KEYS
        .iter()
        .flat_map(|keys| std::iter::once(keys.sticky).chain(keys.use_inflight_queue))
        .chain(LEGACY_RENAMED_KEYS.iter().map(|(legacy, _)| *legacy))
}

/// Every name a file or a `KB_` variable may set: the table's and the legacy keys.
pub(super) fn known_names() -> impl Iterator<Item = &'static str> {
    properties().iter().map(|p| p.name).chain(legacy_names())
}

pub(super) fn known_name(name: &str) -> Option<&'static str> {
    known_names().find(|known| *known == name)
}

pub(super) fn apply_legacy_keys(
    settings: &mut Settings,
    warnings: &mut Vec<String>,
) -> Result<(), ConfigError> {
    for keys in LEGACY_MODE_KEYS {
        let mut present: Vec<(&'static str, Entry)> = Vec::new();
        for key in std::iter::once(keys.sticky).chain(keys.use_inflight_queue) {
            if let Some(entry) = settings.remove(key) {
                present.push((key, entry));
            }
        }
        let Some((first_key, first_entry)) = present.first() else {
            continue;
        };
        let mut sticky = false;
        let mut use_inflight_queue = false;
        for (key, entry) in &present {
            let on = BOOL.parse(&entry.value).map_err(|expected| {
                invalid_value(key, BOOL.quote(&entry.value), &entry.source, expected)
            })?;
            if *key == keys.sticky {
                sticky = on;
            } else {
                use_inflight_queue = on;
            }
        }
        let described = present
            .iter()
            .map(|(key, entry)| format!("{key}={} ({})", entry.value.trim(), entry.source))
            .collect::<Vec<_>>()
            .join(" and ");
        if let Some(current) = settings.get(keys.mode) {
            warnings.push(format!(
                "obsolete {described} ignored: {} is set explicitly ({})",
                keys.mode, current.source
            ));
            continue;
        }
        let mode = match (sticky, use_inflight_queue) {
            (_, true) => "STICKY_EVENTS",
            (true, false) => "STICKY_POLLING",
            (false, false) => "POLLING",
        };
        let note = if use_inflight_queue && !sticky {
            " (Kill Bill documented sticky=true as required with useInflightQ)"
        } else {
            ""
        };
        warnings.push(format!(
            "obsolete {described} taken as {}={mode}{note}",
            keys.mode
        ));
        let entry = Entry {
            value: mode.to_owned(),
            source: Source::Legacy {
                key: first_key,
                origin: Box::new(first_entry.source.clone()),
            },
        };
        settings.insert(keys.mode, entry);
    }

    for (legacy, current) in LEGACY_RENAMED_KEYS {
        let Some(entry) = settings.remove(legacy) else {
            continue;
        };
        if let Some(existing) = settings.get(current) {
            warnings.push(format!(
                "obsolete {legacy} ({}) ignored: {current} is set explicitly ({})",
                entry.source, existing.source
            ));
            continue;
        }
        warnings.push(format!(
            "obsolete {legacy}={} ({}) taken as {current}",
            entry.value.trim(),
            entry.source
        ));
        let renamed = Entry {
            value: entry.value,
            source: Source::Legacy {
                key: legacy,
                origin: Box::new(entry.source),
            },
        };
        settings.insert(*current, renamed);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::layers::load_layers;
    use crate::config::test_support::{assert_warns, config, env_error, loaded, TempFile};
    use crate::config::typed::QueueMode;

    #[test]
    fn legacy_sticky_becomes_sticky_polling() {
        let l = loaded(&[("KB_org_killbill_persistent_bus_main_sticky", "true")]);
        assert_eq!(l.config.main_bus.mode, QueueMode::StickyPolling);
        assert_warns(&l, &["obsolete org.killbill.persistent.bus.main.sticky=true (environment variable KB_org_killbill_persistent_bus_main_sticky) \
             taken as org.killbill.persistent.bus.main.queue.mode=STICKY_POLLING"]);
    }

    #[test]
    fn legacy_sticky_with_inflight_queue_becomes_sticky_events() {
        let file = TempFile::new(
            b"org.killbill.persistent.bus.external.sticky=true\norg.killbill.persistent.bus.external.useInflightQ=true\n",
        );
        let l = load_layers(Some(&file.0), &[], None).expect("loads");
        assert_eq!(l.config.external_bus.mode, QueueMode::StickyEvents);
        assert_warns(
            &l,
            &[
                "org.killbill.persistent.bus.external.sticky=true",
                "org.killbill.persistent.bus.external.useInflightQ=true",
                "taken as org.killbill.persistent.bus.external.queue.mode=STICKY_EVENTS",
            ],
        );
    }

    #[test]
    fn legacy_inflight_queue_alone_becomes_sticky_events_with_a_note() {
        let l = loaded(&[("KILLBILL_BUS_EXTERNAL_USE_INFLIGHT_Q", "true")]);
        assert_eq!(l.config.external_bus.mode, QueueMode::StickyEvents);
        assert_warns(&l, &["Kill Bill documented sticky=true as required"]);
    }

    #[test]
    fn legacy_false_keys_keep_polling() {
        let l = loaded(&[("KB_org_killbill_persistent_bus_main_sticky", "false")]);
        assert_eq!(l.config.main_bus.mode, QueueMode::Polling);
        assert_warns(&l, &["queue.mode=POLLING"]);
    }

    #[test]
    fn explicit_queue_mode_beats_legacy_keys() {
        let l = loaded(&[
            ("KB_org_killbill_persistent_bus_main_sticky", "true"),
            ("KB_org_killbill_persistent_bus_main_queue_mode", "POLLING"),
        ]);
        assert_eq!(l.config.main_bus.mode, QueueMode::Polling);
        assert_warns(&l, &["ignored: org.killbill.persistent.bus.main.queue.mode is set explicitly (environment variable KB_org_killbill_persistent_bus_main_queue_mode)"]);
    }

    #[test]
    fn legacy_notification_queue_sticky() {
        let c = config(&[("org.killbill.notificationq.main.sticky", "true")]);
        assert_eq!(c.notification_queue.mode, QueueMode::StickyPolling);
    }

    #[test]
    fn legacy_inflight_claimed_becomes_inflight_max() {
        let l = loaded(&[("KILLBILL_EXTERNAL_INFLIGHT_CLAIMED", "30")]);
        assert_eq!(l.config.external_bus.inflight_max, 30);
        assert_warns(&l, &["obsolete org.killbill.persistent.bus.external.inflight.claimed=30 (environment variable KILLBILL_EXTERNAL_INFLIGHT_CLAIMED) \
             taken as org.killbill.persistent.bus.external.inflight.max"]);

        let l = loaded(&[
            ("KB_org_killbill_persistent_bus_main_inflight_claimed", "30"),
            ("KB_org_killbill_persistent_bus_main_inflight_max", "70"),
        ]);
        assert_eq!(l.config.main_bus.inflight_max, 70);
        assert_warns(&l, &["inflight.claimed (environment variable KB_org_killbill_persistent_bus_main_inflight_claimed) ignored"]);
    }

    #[test]
    fn bad_legacy_values_name_their_origin() {
        assert_eq!(
            env_error(&[("KB_org_killbill_persistent_bus_main_useInflightQ", "maybe")]),
            "invalid value \"maybe\" for org.killbill.persistent.bus.main.useInflightQ \
             (from environment variable KB_org_killbill_persistent_bus_main_useInflightQ): expected true or false"
        );
        assert_eq!(
            env_error(&[("KILLBILL_EXTERNAL_INFLIGHT_CLAIMED", "lots")]),
            "invalid value \"lots\" for org.killbill.persistent.bus.external.inflight.max \
             (from legacy key org.killbill.persistent.bus.external.inflight.claimed, environment variable KILLBILL_EXTERNAL_INFLIGHT_CLAIMED): \
             expected a positive integer"
        );
    }
}
