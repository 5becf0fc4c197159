//! Configuration: the one table of every property ferrobill supports (Kill Bill's names and
//! Kill Bill's defaults where Kill Bill has the property, `ferrobill.*` where it is ours),
//! the layering built-in defaults < properties file < environment, and the typed [`Config`]
//! the rest of the server reads.
//!
//! This module owns the process environment: it is the only place in ferrobill that reads
//! `std::env`, so that every setting has one name, one default and one place where it is
//! documented. Other modules take what they need from [`Config`] and never look at the
//! environment themselves. Beyond reading the environment, the one properties file and the
//! host name (for the default queue creator name), this module does no I/O: it writes
//! nothing, opens no sockets and logs nothing by itself (logging is configured from here, so
//! warnings are handed back in [`LoadedConfig`] and [`LoadedConfig::log`] emits them once the
//! caller has set logging up).
//!
//! | file | owns |
//! |---|---|
//! | `table.rs` | every property, declared once: name, default, kind, group, doc, setter |
//! | `kinds.rs` | what a property can hold, and the Rust type its setter receives |
//! | `values.rs` | the text grammars (durations, counts, URLs, rates…) and secret masks |
//! | `typed.rs` | [`Config`] and its parts, and `Debug` without secrets |
//! | `layers.rs` | defaults < file < environment, where each value came from |
//! | `environment.rs` | `KB_*`, `KILLBILL_*`, `FERROBILL_*`, Docker aliases, `DATABASE_URL` |
//! | `legacy.rs` | Kill Bill's obsolete queue keys and what they become |
//! | `file.rs` | finding and reading the properties file, Java's properties syntax |
//! | `build.rs` | filling [`Config`] from the table, the rules between properties |
//! | `reference.rs` | the sample properties file and docs/configuration.md |
//!
//! To add a property: one row in `table.rs` (and its field in `typed.rs`), then
//! `cargo test -- --ignored regenerate_reference_files`.

mod build;
mod environment;
mod file;
mod kinds;
mod layers;
mod legacy;
mod reference;
mod table;
mod typed;
mod values;

#[cfg(test)]
mod test_support;

use std::path::{Path, PathBuf};

pub use build::{gateway_with_overrides, parse_time_span_list};
pub use reference::{markdown_reference, properties_file_template};
pub use table::Property;
pub use typed::{
    ClusterConfig, Config, EmbeddedConfig, GatewayConfig, Latency, LogFormat, PaymentConfig,
    PoolConfig, PushNotificationConfig, QueueConfig, QueueHealthcheckConfig, QueueMode, Rate,
    SecurityConfig, ServerConfig,
};

use environment::is_ours;
use layers::{load_layers, resolve_and_build, Entry, Settings, Source};
use legacy::known_name;

/// Where the server looks for a properties file when neither `--config` nor
/// `org.killbill.server.properties` names one (relative to the working directory).
pub const DEFAULT_PROPERTIES_FILE: &str = "config/ferrobill.properties";

/// A loaded configuration with what the operator should be told about it.
#[derive(Clone, Debug)]
pub struct LoadedConfig {
    pub config: Config,
    /// One line each: unknown names, legacy keys and what they became, conflicts.
    pub warnings: Vec<String>,
    /// The properties file that was read, if any.
    pub file: Option<PathBuf>,
}

impl LoadedConfig {
    /// Logs the file used, every effective property (secrets masked) and every warning.
    /// Separate from loading because the log format is itself part of the configuration.
    pub fn log(&self) {
        match &self.file {
            Some(path) => tracing::info!(file = %path.display(), "configuration file read"),
            None => tracing::info!("no configuration file; defaults and environment only"),
        }
        for (name, value) in self.config.effective_properties() {
            tracing::info!("{name}={value}");
        }
        for warning in &self.warnings {
            tracing::warn!("{warning}");
        }
    }
}

/// Why a configuration could not be built. Every message is one line.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// `value` is already quoted for display, or `<hidden>` for secrets.
    #[error("invalid value {value} for {property} (from {origin}): expected {expected}")]
    InvalidValue {
        property: &'static str,
        value: String,
        origin: String,
        expected: String,
    },
    #[error("configuration file {} does not exist (named by {origin})", path.display())]
    FileNotFound { path: PathBuf, origin: String },
    #[error("cannot read configuration file {}: {source}", path.display())]
    FileUnreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("syntax error in configuration file {} line {line}: {message}", path.display())]
    FileSyntax {
        path: PathBuf,
        line: usize,
        message: String,
    },
    /// Only from [`Config::from_properties`], whose callers are programs, not operators.
    #[error("unknown property {name}")]
    UnknownProperty { name: String },
}

impl Config {
    /// Defaults < properties file < process environment. The only place in ferrobill that
    /// reads `std::env`.
    pub fn load(explicit_file: Option<&Path>) -> Result<LoadedConfig, ConfigError> {
        let mut unreadable = Vec::new();
        let env: Vec<(String, String)> = std::env::vars_os()
            .filter_map(
                |(name, value)| match (name.into_string(), value.into_string()) {
                    (Ok(name), Ok(value)) => Some((name, value)),
                    (Ok(name), Err(_)) => {
                        if is_ours(&name) {
                            unreadable.push(format!(
                                "environment variable {name} is not valid UTF-8; ignored"
                            ));
                        }
                        None
                    }
                    (Err(_), _) => None,
                },
            )
            .collect();
        let mut loaded = load_layers(
            explicit_file,
            &env,
            Some(Path::new(DEFAULT_PROPERTIES_FILE)),
        )?;
        loaded.warnings.splice(0..0, unreadable);
        Ok(loaded)
    }

    /// Same as [`Config::load`] with the environment given (tests).
    pub fn load_from(
        explicit_file: Option<&Path>,
        env: &[(String, String)],
    ) -> Result<LoadedConfig, ConfigError> {
        load_layers(explicit_file, env, Some(Path::new(DEFAULT_PROPERTIES_FILE)))
    }

    /// Defaults < these pairs, property names as keys; no file, no environment (test
    /// harnesses). Legacy keys are accepted; their warnings are dropped.
    pub fn from_properties(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let mut settings = Settings::new();
        for (name, value) in pairs {
            let Some(name) = known_name(name) else {
                return Err(ConfigError::UnknownProperty {
                    name: (*name).to_owned(),
                });
            };
            settings.insert(
                name,
                Entry {
                    value: (*value).to_owned(),
                    source: Source::Given,
                },
            );
        }
        let mut ignored_warnings = Vec::new();
        resolve_and_build(settings, &mut ignored_warnings)
    }

    /// Every property with its effective value, secrets masked, in table order: logged at
    /// startup.
    pub fn effective_properties(&self) -> Vec<(&'static str, String)> {
        self.effective.clone()
    }
}

/// The property table, for docs generation and tests elsewhere.
pub fn properties() -> &'static [Property] {
    table::properties()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::table::{CREATOR_NAME, MAIN_PASSWORD, MAIN_URL};
    use crate::config::test_support::{config, effective, env_error, error_of, loaded};

    #[test]
    fn unknown_name_in_from_properties_is_an_error() {
        assert_eq!(
            error_of(&[("org.killbill.dao.maxactive", "1")]),
            "unknown property org.killbill.dao.maxactive"
        );
    }

    #[test]
    fn effective_properties_list_every_property_in_order_with_secrets_masked() {
        let c = config(&[
            (MAIN_PASSWORD, "hunter2"),
            ("ferrobill.security.users", "admin:topsecret,ops:alsosecret"),
            (
                MAIN_URL,
                "postgres://kb:urlsecret@db/killbill?sslmode=require&password=paramsecret",
            ),
            ("org.killbill.persistent.bus.main.sleep", "5s"),
        ]);
        let listed = c.effective_properties();
        let names: Vec<&str> = listed.iter().map(|(name, _)| *name).collect();
        let table: Vec<&str> = properties().iter().map(|p| p.name).collect();
        assert_eq!(names, table);
        let everything = format!("{listed:?}");
        for secret in [
            "hunter2",
            "topsecret",
            "alsosecret",
            "urlsecret",
            "paramsecret",
        ] {
            assert!(
                !everything.contains(secret),
                "{secret} leaked: {everything}"
            );
        }
        assert_eq!(effective(&c, MAIN_PASSWORD), "***");
        assert_eq!(
            effective(&c, "ferrobill.security.users"),
            "admin:***,ops:***"
        );
        assert_eq!(
            effective(&c, MAIN_URL),
            "postgres://kb:***@db/killbill?sslmode=require&password=***"
        );
        assert_eq!(
            effective(&c, "org.killbill.persistent.bus.main.sleep"),
            "5s"
        );
        assert_eq!(effective(&c, "org.killbill.dao.maxActive"), "32");
        assert_eq!(effective(&c, CREATOR_NAME), c.creator_name);
    }

    #[test]
    fn log_runs_without_a_subscriber() {
        loaded(&[("KILLBILL_CATALOG_URI", "x")]).log();
    }

    #[test]
    fn malformed_value_from_env_names_everything_in_one_line() {
        let message = env_error(&[("KILLBILL_DAO_MAXACTIVE", "abc")]);
        assert_eq!(
            message,
            "invalid value \"abc\" for org.killbill.dao.maxActive (from environment variable KILLBILL_DAO_MAXACTIVE): expected a positive integer"
        );
        assert!(!message.contains('\n'));
    }
}
