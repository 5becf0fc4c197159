//! `--sweep-env NAME=v1,v2,…`: one server configuration per value of a server setting, each
//! labelled `NAME=value` and run on a freshly spawned server, and the check, before anything
//! is spawned, that the setting reaches the server: ferrobill's own configuration loader must
//! accept every value and give each a configuration of its own. This module only plans; it
//! never starts a server.

use std::str::FromStr;

use anyhow::{bail, Result};
use ferrobill::config::Config;

use crate::scenario::Configuration;

/// Properties whose default differs at every start (a random suffix), whatever the setting.
const DIFFERENT_AT_EVERY_START: &[&str] = &["org.killbill.queue.creator.name"];

/// A server setting in its environment form and the values to run it at, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvSweep {
    pub name: String,
    pub values: Vec<String>,
}

impl FromStr for EnvSweep {
    type Err = String;

    /// `NAME=v1,v2,…`; semicolons separate the values instead when there is one, for values
    /// that hold commas (`NAME=a=1,b=2;a=3,b=4`).
    fn from_str(text: &str) -> Result<EnvSweep, String> {
        let Some((name, values)) = text.split_once('=') else {
            return Err(format!("`{text}` is not NAME=v1,v2,…"));
        };
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(format!("`{name}` is not an environment variable name"));
        }
        let separator = if values.contains(';') { ';' } else { ',' };
        let values: Vec<String> = values.split(separator).map(str::to_string).collect();
        if values.iter().any(String::is_empty) {
            return Err(format!("`{text}`: a value is empty"));
        }
        Ok(EnvSweep {
            name: name.to_string(),
            values,
        })
    }
}

impl EnvSweep {
    /// Each of `presets` once per value, the setting on top of the preset's environment; the
    /// label is the setting, after the preset's label when there are several presets.
    pub fn configurations(&self, presets: &[Configuration]) -> Vec<Configuration> {
        presets
            .iter()
            .flat_map(|preset| {
                self.values.iter().map(move |value| {
                    let setting = format!("{}={value}", self.name);
                    let mut server_env = preset.server_env.clone();
                    server_env.push((self.name.clone(), value.clone()));
                    Configuration {
                        label: if presets.len() > 1 {
                            format!("{}, {setting}", preset.label)
                        } else {
                            setting
                        },
                        server_env,
                    }
                })
            })
            .collect()
    }

    /// Fails unless ferrobill's configuration loader accepts each value's whole environment
    /// (`environments`, in the order of `values`) and gives different values different
    /// configurations: an unknown name, or a preset setting the same property in a form that
    /// wins (KB_ > FERROBILL_ > KILLBILL_), would otherwise sweep nothing.
    pub fn check_takes_effect(&self, environments: &[Vec<(String, String)>]) -> Result<()> {
        let mut seen: Vec<(&str, Vec<(&'static str, String)>)> = Vec::new();
        for (value, environment) in self.values.iter().zip(environments) {
            let loaded = match Config::load_from(None, environment) {
                Ok(loaded) => loaded,
                Err(error) => bail!("--sweep-env {}={value}: {error}", self.name),
            };
            let mut effective = loaded.config.effective_properties();
            effective.retain(|(name, _)| !DIFFERENT_AT_EVERY_START.contains(name));
            if let Some((other, _)) = seen
                .iter()
                .find(|(other, properties)| *other != value && *properties == effective)
            {
                let warnings: Vec<&String> = loaded
                    .warnings
                    .iter()
                    .filter(|warning| warning.contains(self.name.as_str()))
                    .collect();
                bail!(
                    "--sweep-env: {name}={other} and {name}={value} give the server the same \
                     configuration, so the sweep would measure nothing: {name} is not one of \
                     ferrobill's settings, or another variable sets the same property and wins \
                     (KB_ > FERROBILL_ > KILLBILL_; the scenario's presets use the KB_ form, \
                     see --no-presets){}",
                    if warnings.is_empty() {
                        String::new()
                    } else {
                        format!(
                            " ({})",
                            warnings
                                .iter()
                                .map(|w| w.as_str())
                                .collect::<Vec<_>>()
                                .join("; ")
                        )
                    },
                    name = self.name,
                );
            }
            seen.push((value, effective));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect()
    }

    #[test]
    fn sweeps_parse_as_a_name_and_values() {
        let sweep: EnvSweep = "KILLBILL_DAO_MAXACTIVE=4,8,16".parse().expect("valid");
        assert_eq!(sweep.name, "KILLBILL_DAO_MAXACTIVE");
        assert_eq!(sweep.values, ["4", "8", "16"]);
        assert!("novalues".parse::<EnvSweep>().is_err());
        assert!("=1,2".parse::<EnvSweep>().is_err());
        assert!("X=1,,2".parse::<EnvSweep>().is_err());
        let pairs: EnvSweep =
            "S=commit_delay=0,commit_siblings=5;commit_delay=100,commit_siblings=5"
                .parse()
                .expect("valid");
        assert_eq!(pairs.values[1], "commit_delay=100,commit_siblings=5");
    }

    #[test]
    fn every_preset_runs_every_value_labelled_by_it() {
        let sweep: EnvSweep = "KILLBILL_DAO_MAXACTIVE=4,8".parse().expect("valid");
        let preset = |label: &str| Configuration {
            label: label.into(),
            server_env: pairs(&[("KB_org_killbill_payment_plugin_threads_nb", "100")]),
        };
        let one = sweep.configurations(&[preset("defaults")]);
        let labels: Vec<&str> = one.iter().map(|c| c.label.as_str()).collect();
        assert_eq!(
            labels,
            ["KILLBILL_DAO_MAXACTIVE=4", "KILLBILL_DAO_MAXACTIVE=8"]
        );
        assert_eq!(
            one[1].server_env.last(),
            Some(&("KILLBILL_DAO_MAXACTIVE".to_string(), "8".to_string()))
        );
        let two = sweep.configurations(&[preset("a"), preset("b")]);
        assert_eq!(two.len(), 4);
        assert_eq!(two[2].label, "b, KILLBILL_DAO_MAXACTIVE=4");
    }

    #[test]
    fn a_sweep_that_cannot_reach_the_server_is_refused() {
        let sweep: EnvSweep = "KILLBILL_DAO_MAXACTIVE=4,8".parse().expect("valid");
        let environments = |extra: &[(&str, &str)]| -> Vec<Vec<(String, String)>> {
            sweep
                .values
                .iter()
                .map(|value| {
                    let mut environment = pairs(extra);
                    environment.push((sweep.name.clone(), value.clone()));
                    environment
                })
                .collect()
        };
        assert!(sweep.check_takes_effect(&environments(&[])).is_ok());
        let overridden = sweep
            .check_takes_effect(&environments(&[("KB_org_killbill_dao_maxActive", "140")]))
            .expect_err("the KB_ form wins");
        assert!(
            overridden.to_string().contains("same configuration"),
            "{overridden}"
        );
        let unknown: EnvSweep = "KILLBILL_NO_SUCH_THING=1,2".parse().expect("valid");
        let environments: Vec<_> = unknown
            .values
            .iter()
            .map(|value| vec![(unknown.name.clone(), value.clone())])
            .collect();
        assert!(unknown.check_takes_effect(&environments).is_err());
        let zero: EnvSweep = "KILLBILL_DAO_MAXACTIVE=0".parse().expect("valid");
        let environments = vec![vec![(zero.name.clone(), "0".to_string())]];
        assert!(zero.check_takes_effect(&environments).is_err());
    }
}
