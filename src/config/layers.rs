//! Layering: built-in defaults < the properties file < the environment, and what becomes of
//! the explicit settings before they are typed (legacy keys rewritten, the plugin pool's
//! login inherited, the queue creator name generated or cut). Every value carries its
//! [`Source`], so that an error or a warning can say where it came from.
//!
//! This file decides precedence only. Reading variables and the file belongs to
//! `environment.rs` and `file.rs`, parsing and typing to the table's kinds and `build.rs`;
//! the host name (for the creator name) is the one thing it asks the system for.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use super::build::build_config;
use super::environment::read_environment;
use super::file::{file_settings, locate_file, read_file};
use super::legacy::apply_legacy_keys;
use super::table::{
    properties, CREATOR_NAME, MAIN_PASSWORD, MAIN_USER, PLUGIN_PASSWORD, PLUGIN_URL, PLUGIN_USER,
    SERVER_PROPERTIES,
};
use super::{Config, ConfigError, LoadedConfig};

/// Kill Bill cuts the creator name to 45 characters (killbill-commons `CreatorName`); the
/// `creating_owner`/`processing_owner` columns are `varchar(50)`.
const CREATOR_NAME_MAX_CHARS: usize = 45;

/// Where a value came from, so that an error can point at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Source {
    Default,
    Generated,
    Given,
    CommandLine,
    File {
        path: PathBuf,
        line: usize,
    },
    Env {
        var: String,
    },
    Legacy {
        key: &'static str,
        origin: Box<Source>,
    },
    Inherited {
        from: &'static str,
        origin: Box<Source>,
    },
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("built-in default"),
            Source::Generated => f.write_str("generated at startup"),
            Source::Given => f.write_str("properties given by the caller"),
            Source::CommandLine => f.write_str("the --config option"),
            Source::File { path, line } => write!(f, "file {} line {line}", path.display()),
            Source::Env { var } => write!(f, "environment variable {var}"),
            Source::Legacy { key, origin } => write!(f, "legacy key {key}, {origin}"),
            Source::Inherited { from, origin } => write!(f, "{from}, {origin}"),
        }
    }
}

/// One value as given, before it is parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Entry {
    pub(super) value: String,
    pub(super) source: Source,
}

/// Property (or legacy key) name → value, before or after defaults are filled in.
pub(super) type Settings = BTreeMap<&'static str, Entry>;

pub(super) fn load_layers(
    explicit_file: Option<&Path>,
    env: &[(String, String)],
    default_location: Option<&Path>,
) -> Result<LoadedConfig, ConfigError> {
    let mut warnings = Vec::new();
    let env_settings = read_environment(env, &mut warnings);

    let location = locate_file(
        explicit_file,
        &env_settings,
        default_location,
        &mut warnings,
    )?;
    let mut settings = Settings::new();
    let mut file = None;
    if let Some(location) = location {
        if let Some(text) = read_file(&location)? {
            settings = file_settings(&text, &location.path, &mut warnings)?;
            settings.insert(
                SERVER_PROPERTIES,
                Entry {
                    value: location.path.display().to_string(),
                    source: location.origin,
                },
            );
            file = Some(location.path);
        }
    }

    for (name, entry) in env_settings {
        if name == SERVER_PROPERTIES {
            continue;
        }
        if let Some(from_file) = settings.get(name) {
            if from_file.value != entry.value {
                warnings.push(format!(
                    "{name}: {} overrides the value from {}",
                    entry.source, from_file.source
                ));
            }
        }
        settings.insert(name, entry);
    }

    let config = resolve_and_build(settings, &mut warnings)?;
    Ok(LoadedConfig {
        config,
        warnings,
        file,
    })
}

/// From explicit settings (file and environment, or given pairs) to the typed configuration.
pub(super) fn resolve_and_build(
    mut settings: Settings,
    warnings: &mut Vec<String>,
) -> Result<Config, ConfigError> {
    apply_legacy_keys(&mut settings, warnings)?;
    inherit_plugin_pool_credentials(&mut settings);
    for property in properties() {
        settings.entry(property.name).or_insert_with(|| Entry {
            value: property.default.to_owned(),
            source: Source::Default,
        });
    }
    settle_creator_name(&mut settings, warnings);
    build_config(&settings, warnings)
}

/// A value that does not parse, as one line: the property, the value (already quoted for
/// display by its kind, or `<hidden>`), where it came from and what was expected.
pub(super) fn invalid_value(
    property: &'static str,
    quoted: String,
    source: &Source,
    expected: String,
) -> ConfigError {
    ConfigError::InvalidValue {
        property,
        value: quoted,
        origin: source.to_string(),
        expected,
    }
}

/// "Same database as the main pool" has to mean the same login too: otherwise a deployment
/// that only sets the main password would have its plugin pool log in with the default one.
fn inherit_plugin_pool_credentials(settings: &mut Settings) {
    let plugin_url_set = settings
        .get(PLUGIN_URL)
        .is_some_and(|entry| !entry.value.trim().is_empty());
    if plugin_url_set {
        return;
    }
    for (main, plugin) in [(MAIN_USER, PLUGIN_USER), (MAIN_PASSWORD, PLUGIN_PASSWORD)] {
        if settings.contains_key(plugin) {
            continue;
        }
        if let Some(entry) = settings.get(main).cloned() {
            let inherited = Entry {
                value: entry.value,
                source: Source::Inherited {
                    from: main,
                    origin: Box::new(entry.source),
                },
            };
            settings.insert(plugin, inherited);
        }
    }
}

fn settle_creator_name(settings: &mut Settings, warnings: &mut Vec<String>) {
    let Some(entry) = settings.get_mut(CREATOR_NAME) else {
        return;
    };
    let trimmed = entry.value.trim();
    if trimmed.is_empty() {
        entry.value = generated_creator_name();
        entry.source = Source::Generated;
    } else if trimmed.chars().count() > CREATOR_NAME_MAX_CHARS {
        let cut: String = trimmed.chars().take(CREATOR_NAME_MAX_CHARS).collect();
        warnings.push(format!(
            "{CREATOR_NAME} ({}) is longer than {CREATOR_NAME_MAX_CHARS} characters; using {cut:?}",
            entry.source
        ));
        entry.value = cut;
    }
}

fn generated_creator_name() -> String {
    let host = nix::unistd::gethostname()
        .ok()
        .and_then(|name| name.into_string().ok())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "ferrobill".to_owned());
    creator_name_for(&host, rand::random::<u32>())
}

/// The random suffix survives the 45-character cut: it is what keeps identical host names
/// (pods all called `localhost`, Kill Bill issue 2061) apart.
fn creator_name_for(host: &str, random: u32) -> String {
    let suffix = format!("-{:06x}", random & 0x00ff_ffff);
    let room = CREATOR_NAME_MAX_CHARS - suffix.len();
    let host: String = host.chars().take(room).collect();
    format!("{host}{suffix}")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::test_support::{assert_warns, config, env, loaded, TempFile};

    #[test]
    fn environment_beats_file_beats_default() {
        let file = TempFile::new(b"org.killbill.dao.maxActive=20\norg.killbill.dao.minIdle=2\n");
        let loaded = Config::load_from(Some(&file.0), &env(&[("KILLBILL_DAO_MAX_ACTIVE", "30")]))
            .expect("loads");
        assert_eq!(loaded.config.main_pool.max_active, 30);
        assert_eq!(loaded.config.main_pool.min_idle, 2);
        assert_eq!(
            loaded.config.main_pool.idle_max_age,
            Duration::from_secs(3600)
        );
        assert_eq!(loaded.file.as_deref(), Some(file.0.as_path()));
        assert_warns(&loaded, &["org.killbill.dao.maxActive: environment variable KILLBILL_DAO_MAX_ACTIVE overrides the value from file"]);
    }

    #[test]
    fn plugin_pool_on_main_database_follows_main_credentials() {
        let l = loaded(&[
            ("KILLBILL_DAO_USER", "billing"),
            ("KILLBILL_DAO_PASSWORD", "s3cret"),
        ]);
        assert_eq!(l.config.plugin_pool.user, "billing");
        assert_eq!(l.config.plugin_pool.password, "s3cret");

        let l = loaded(&[
            ("KILLBILL_DAO_USER", "billing"),
            ("KILLBILL_OSGI_DAO_USER", "plugins"),
        ]);
        assert_eq!(l.config.plugin_pool.user, "plugins");

        let l = loaded(&[
            ("KILLBILL_DAO_USER", "billing"),
            ("KILLBILL_OSGI_DAO_URL", "postgres://other/plugins"),
        ]);
        assert_eq!(l.config.plugin_pool.user, "killbill");
    }

    #[test]
    fn creator_name_is_generated_with_a_random_suffix() {
        let c = config(&[]);
        let (host, suffix) = c.creator_name.rsplit_once('-').expect("has a suffix");
        assert!(!host.is_empty());
        assert_eq!(suffix.len(), 6);
        assert!(suffix.chars().all(|ch| ch.is_ascii_hexdigit()));
        assert!(c.creator_name.chars().count() <= CREATOR_NAME_MAX_CHARS);

        let long_host = "h".repeat(80);
        let name = creator_name_for(&long_host, 0xabcdef);
        assert_eq!(name.chars().count(), CREATOR_NAME_MAX_CHARS);
        assert!(name.ends_with("-abcdef"));
        assert_eq!(
            creator_name_for("localhost", 0x1ff_0001),
            "localhost-ff0001"
        );
    }

    #[test]
    fn explicit_creator_name_is_cut_to_45_characters() {
        let long = "n".repeat(60);
        let l = loaded(&[("KILLBILL_QUEUE_CREATOR_NAME", long.as_str())]);
        assert_eq!(l.config.creator_name, "n".repeat(45));
        assert_warns(&l, &["longer than 45 characters"]);
    }
}
