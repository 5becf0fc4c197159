//! Helpers the configuration's unit tests share: loading from a given environment with no
//! default file, building from pairs, reading warnings and effective values, temporary
//! properties files. Test-only; nothing here is compiled into the server.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::layers::load_layers;
use super::table::{properties, Property};
use super::{Config, ConfigError, LoadedConfig};

pub(super) fn find_property(name: &str) -> Option<&'static Property> {
    properties().iter().find(|p| p.name == name)
}

pub(super) fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect()
}

/// Loads with no default file location, so the tests never depend on the working directory.
pub(super) fn load_env(pairs: &[(&str, &str)]) -> Result<LoadedConfig, ConfigError> {
    load_layers(None, &env(pairs), None)
}

pub(super) fn loaded(pairs: &[(&str, &str)]) -> LoadedConfig {
    match load_env(pairs) {
        Ok(loaded) => loaded,
        Err(error) => panic!("unexpected error: {error}"),
    }
}

pub(super) fn error_of(pairs: &[(&str, &str)]) -> String {
    match Config::from_properties(pairs) {
        Ok(config) => panic!("expected an error, got {config:?}"),
        Err(error) => error.to_string(),
    }
}

pub(super) fn env_error(pairs: &[(&str, &str)]) -> String {
    match load_env(pairs) {
        Ok(loaded) => panic!("expected an error, got {:?}", loaded.config),
        Err(error) => error.to_string(),
    }
}

pub(super) fn config(pairs: &[(&str, &str)]) -> Config {
    match Config::from_properties(pairs) {
        Ok(config) => config,
        Err(error) => panic!("unexpected error: {error}"),
    }
}

pub(super) fn effective(config: &Config, name: &str) -> String {
    config
        .effective_properties()
        .into_iter()
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
        .unwrap_or_else(|| panic!("{name} missing from effective properties"))
}

pub(super) fn has_warning(loaded: &LoadedConfig, needle: &str) -> bool {
    loaded
        .warnings
        .iter()
        .any(|warning| warning.contains(needle))
}

/// Fails, listing every warning, unless each needle is part of some warning.
pub(super) fn assert_warns(loaded: &LoadedConfig, needles: &[&str]) {
    for needle in needles {
        assert!(
            has_warning(loaded, needle),
            "no warning contains {needle:?}; warnings: {:#?}",
            loaded.warnings
        );
    }
}

/// The error loading the properties file at `path` (and an empty environment) gives.
pub(super) fn load_error(path: &Path) -> String {
    match Config::load_from(Some(path), &[]) {
        Ok(_) => panic!("expected an error"),
        Err(error) => error.to_string(),
    }
}

/// A properties file in the temporary directory, removed when dropped.
pub(super) struct TempFile(pub(super) PathBuf);

impl TempFile {
    pub(super) fn new(contents: &[u8]) -> TempFile {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "ferrobill-config-test-{}-{}.properties",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::write(&path, contents).expect("write temp file");
        TempFile(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
