//! The reference files generated from the property table: the sample properties file
//! (`config/ferrobill.properties`, every property commented out at its default) and
//! `docs/configuration.md` (every property, the environment forms, the Docker aliases and
//! the legacy keys, then how values are written). A test fails when either file on disk is
//! stale; `cargo test -- --ignored regenerate_reference_files` rewrites both.
//!
//! Text only: this file reads no configuration and never changes how a value is parsed.
//! The prose that is not generated lives here too, so that the whole page has one source.

use super::environment::KILLBILL_ALIASES;
use super::legacy::{LEGACY_MODE_KEYS, LEGACY_RENAMED_KEYS};
use super::table::properties;

/// The sample properties file: every property commented out at its default, by group.
pub fn properties_file_template() -> String {
    let mut out = String::new();
    out.push_str(
        "# ferrobill configuration (generated from the property table in src/config/table.rs).\n",
    );
    out.push_str("#\n");
    out.push_str(
        "# Every supported property, commented out at its default. Uncomment to change.\n",
    );
    out.push_str("# Precedence: built-in defaults < this file < environment variables\n");
    out.push_str(
        "# (KB_org_killbill_dao_maxActive, KILLBILL_DAO_MAX_ACTIVE, FERROBILL_SERVER_PORT,\n",
    );
    out.push_str("# DATABASE_URL); see configuration.md.\n");
    let mut group = None;
    for property in properties() {
        if group != Some(property.group) {
            group = Some(property.group);
            out.push('\n');
            out.push_str(&format!(
                "# --- {}: {}\n",
                property.group.title(),
                property.group.explanation()
            ));
        }
        out.push_str(&format!("# {}\n", property.doc));
        out.push_str(&format!("#{}={}\n", property.name, property.default));
    }
    out
}

/// The Markdown reference: every property, then where values come from.
pub fn markdown_reference() -> String {
    let mut out = String::new();
    out.push_str("# ferrobill configuration\n\n");
    out.push_str(
        "Generated from the property table in `src/config/table.rs`; do not edit by hand \
         (`cargo test -- --ignored regenerate_reference_files` rewrites it).\n\n",
    );
    out.push_str(
        "Kill Bill's property names and defaults are kept wherever Kill Bill has the \
         property; `ferrobill.*` properties are ferrobill's own.\n\n",
    );
    out.push_str("## Properties\n");
    let mut group = None;
    for property in properties() {
        if group != Some(property.group) {
            group = Some(property.group);
            out.push_str(&format!(
                "\n### {}\n\n{}\n\n| Property | Default | Meaning |\n|---|---|---|\n",
                property.group.title(),
                property.group.explanation()
            ));
        }
        out.push_str(&format!(
            "| `{}` | {} | {} |\n",
            property.name,
            markdown_default(property.default),
            property.doc.replace('|', "\\|")
        ));
    }
    out.push_str(ENVIRONMENT_DOC);
    out.push_str("\n### Kill Bill Docker aliases\n\n");
    out.push_str(
        "`KILLBILL_*` names from Kill Bill's Docker image that do not follow the property \
         names. An alias with several properties sets all of them.\n\n",
    );
    out.push_str("| Variable | Properties |\n|---|---|\n");
    for (alias, targets) in KILLBILL_ALIASES {
        let targets = targets
            .iter()
            .map(|target| format!("`{target}`"))
            .collect::<Vec<_>>()
            .join(", ");
        out.push_str(&format!("| `{alias}` | {targets} |\n"));
    }
    out.push_str(LEGACY_DOC);
    out.push_str("\n| Legacy key | Becomes |\n|---|---|\n");
    for keys in LEGACY_MODE_KEYS {
        out.push_str(&format!(
            "| `{}` | `{}` (`true`: STICKY_POLLING) |\n",
            keys.sticky, keys.mode
        ));
        if let Some(use_inflight_queue) = keys.use_inflight_queue {
            out.push_str(&format!(
                "| `{use_inflight_queue}` | `{}` (`true`: STICKY_EVENTS) |\n",
                keys.mode
            ));
        }
    }
    for (legacy, current) in LEGACY_RENAMED_KEYS {
        out.push_str(&format!("| `{legacy}` | `{current}` |\n"));
    }
    out.push_str(PER_TENANT_DOC);
    out.push_str(VALUES_DOC);
    out
}

fn markdown_default(default: &str) -> String {
    if default.is_empty() {
        "*(empty)*".to_owned()
    } else {
        format!("`{default}`")
    }
}

const ENVIRONMENT_DOC: &str = "
## Where values come from

Built-in defaults < the properties file < the environment. Every problem that does not stop
the server (unknown names, legacy keys, conflicts) is reported as one warning line at startup,
followed by every property with its effective value (secrets masked).

### The properties file

1. `--config PATH`, if given; the file must exist.
2. Otherwise `org.killbill.server.properties` from the environment
   (`KB_org_killbill_server_properties`, `KILLBILL_SERVER_PROPERTIES` or
   `FERROBILL_SERVER_PROPERTIES`): a path or a `file:///path` URI (the form Kill Bill's image
   passes as a JVM property). The file must exist.
3. Otherwise `config/ferrobill.properties` under the working directory, if it exists.

Java properties syntax: `key=value`, `key: value` or `key value`; `#` and `!` comments; blank
lines; a trailing backslash continues a line; leading blanks are ignored; escapes `\\t \\n \\r
\\f \\\\ \\= \\: \\uXXXX`. The file is read as UTF-8, or as ISO-8859-1 (Java's encoding) if it
is not valid UTF-8. Unknown keys are reported and ignored.

### Environment variables

| Form | Example | Rule |
|---|---|---|
| `KB_<name>` | `KB_org_killbill_dao_maxActive` | Kill Bill's rule: drop `KB_`, every `_` becomes `.`, case kept. Must name a property exactly. |
| `FERROBILL_<name>` | `FERROBILL_SERVER_PORT` | Matched ignoring case, dots and underscores; the name may leave out a leading `org.killbill.`, `org.killbill.billing.`, `org.killbill.persistent.` or `ferrobill.`. |
| `KILLBILL_<name>` | `KILLBILL_DAO_MAX_ACTIVE`, `KILLBILL_OSGI_DAO_URL`, `KILLBILL_BUS_MAIN_CLAIMED` | Same matching as `FERROBILL_`, plus the Docker aliases below. |
| `DATABASE_URL` | `postgres://user:pw@db/killbill` | Sets `org.killbill.dao.url`. |

When several variables set the same property, the most specific wins: `KB_` over
`FERROBILL_` over `KILLBILL_` (one property) over `KILLBILL_` aliases that set several
properties over `DATABASE_URL`; if their values differ, a warning names them. The environment
wins over the file, with a warning when the values differ. A `KB_`, `KILLBILL_` or
`FERROBILL_` variable that matches no property is reported and ignored; other variables are
ignored silently.

`KILLBILL_OSGI_DAO_*` set the plugin pool only. Kill Bill's Docker image also copies
`KILLBILL_DAO_*` onto the plugin pool; ferrobill does not, but an empty plugin pool URL means
the main pool's database with the main pool's user and password (unless the plugin pool's
are set).

`KILLBILL_MAIN_QUEUE_MODE=STICKY_EVENTS` gives the notification queue STICKY_POLLING, the only
sticky mode it has.
";

const LEGACY_DOC: &str = "
### Legacy keys

Queue keys from Kill Bill releases before `queue.mode` (2015) are still accepted, in the file
and in the environment, and each one is reported with what it became. They are ignored, with
a warning, when the current key is also set.
";

const PER_TENANT_DOC: &str = "
## Per-tenant configuration

A tenant may upload a JSON object of property names and values
(`POST /1.0/kb/tenants/uploadPerTenantConfig`, text body) that overrides these properties for
its own work, as in Kill Bill. Any upload is stored and served as given; ferrobill applies
`org.killbill.billing.server.notifications.retries` (the tenant's push-notification retry
schedule). The other properties Kill Bill reads per tenant are stored only:
`org.killbill.billing.server.event.post.type.skip`,
`org.killbill.billing.server.event.dispatch.type.skip`,
`org.killbill.billing.server.event.bulk.subscription.aggregate`,
`org.killbill.payment.retry.days`, `org.killbill.payment.failure.retry.start.sec`,
`org.killbill.payment.failure.retry.multiplier`,
`org.killbill.payment.failure.retry.max.attempts`,
`org.killbill.payment.janitor.unknown.retries`,
`org.killbill.payment.janitor.pending.retries`, `org.killbill.payment.invoice.plugin`,
`org.killbill.rescheduleIntervalOnLock`,
`org.killbill.subscription.align.effectiveDateForExistingSubscriptions` and the
`org.killbill.invoice.*` properties. An upload that is not a JSON object, or a value that does
not parse, is logged and the node's value applies.

The simulated gateway reads its own per-tenant settings from the plugin configuration a tenant
uploads (`POST /1.0/kb/tenants/uploadPluginConfig/killbill-stripe` or `…/ferrobill-gateway`):
`ferrobill.gateway.latency`, `declineRate`, `errorRate`, `timeoutRate` and `hangTime` lines
override the properties above for that tenant ([gateway.md](gateway.md)).

## Users and roles

Kill Bill's users come from `shiro.ini` (default `admin`/`password`, role `root = *:*`) and
from its database. ferrobill's come from `ferrobill.security.users` and from its database
(`/1.0/kb/security/users` and `/1.0/kb/security/roles`):

| user | holds |
|---|---|
| in `ferrobill.security.users` and `ferrobill.security.adminUsers` | the built-in role `admin`: `*:*`, every permission |
| in `ferrobill.security.users` only | every permission outside the `admin` and `user` groups (`account:*`, `payment:*`, `tenant_kvs:*`, …) |
| created through `/1.0/kb/security/users` | the permissions of its roles |

Built-in roles are not stored: `/1.0/kb/security/roles/admin` shows only a role of that name
defined through the API. [security.md](security.md) describes the permission checks.
";

const VALUES_DOC: &str = "
## Values

- Durations: `500ms`, `30s`, `5m`, `1h`, `2d` or the long names (`milliseconds`, `seconds`,
  `minutes`, `hours`, `days`, singular too, `min`), with or without a blank before the unit,
  any case. A bare number is read in the property's documented unit: seconds for
  `org.killbill.payment.plugin.timeout`, `ferrobill.server.requestTimeout`,
  `ferrobill.server.shutdownTimeout` and `ferrobill.server.queue.healthcheck.period`;
  milliseconds for every other duration (the unit Kill Bill converts them to; Kill Bill's own
  `TimeSpan` rejects a bare number, ferrobill accepts it as real manifests use it).
- Booleans: `true` or `false`, any case. Anything else is an error (Kill Bill silently reads
  it as false).
- Choices (queue modes, log format, gateway health): any case.
- Gateway latency (`ferrobill.gateway.latency`): a duration (`50ms`, fixed), or
  `lognormal:median=50ms,p99=400ms` (a log-normal distribution with that median and 99th
  percentile; p99 no less than the median; draws are capped at ten times p99).
- Rates (`ferrobill.gateway.*Rate`): a probability from `0` to `1` (`0.05`) or a percentage
  (`5%`). `0` never draws a random number.
- Integers: plain digits; sizes and thread counts must be at least 1.
- Surrounding blanks are ignored, except in passwords.
- A bad value stops startup with one line naming the property, the value, where it came from
  and what was expected, e.g. `invalid value \"abc\" for org.killbill.dao.maxActive (from
  environment variable KILLBILL_DAO_MAXACTIVE): expected a positive integer`.
";

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::path::Path;

    use super::*;
    use crate::config::file::parse_properties;
    use crate::config::legacy::legacy_names;

    /// Where the generated reference files live; in the main repository the properties file
    /// is `config/ferrobill.properties`.
    const PROPERTIES_FILE_PATH: &str = "config/ferrobill.properties";
    const MARKDOWN_PATH: &str = "docs/configuration.md";

    fn reference_file(relative: &str) -> String {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
        std::fs::read_to_string(&path).unwrap_or_else(|error| {
            panic!(
                "cannot read {}: {error}; run `cargo test -- --ignored regenerate_reference_files`",
                path.display()
            )
        })
    }

    #[test]
    fn sample_properties_file_lists_every_property_at_its_default() {
        let text = reference_file(PROPERTIES_FILE_PATH);
        let lines: HashSet<&str> = text.lines().collect();
        for property in properties() {
            let line = format!("#{}={}", property.name, property.default);
            assert!(lines.contains(line.as_str()), "missing {line}");
        }
        // Everything is commented out, so the sample changes nothing when read.
        let parsed = parse_properties(&text).expect("parses");
        assert!(parsed.is_empty(), "{parsed:?}");
        assert_eq!(
            text,
            properties_file_template(),
            "stale: run `cargo test -- --ignored regenerate_reference_files`"
        );
    }

    #[test]
    fn markdown_reference_lists_every_property() {
        let text = reference_file(MARKDOWN_PATH);
        for property in properties() {
            let row = format!(
                "| `{}` | {} |",
                property.name,
                markdown_default(property.default)
            );
            assert!(text.contains(&row), "missing {row}");
        }
        for (alias, _) in KILLBILL_ALIASES {
            assert!(text.contains(alias), "missing {alias}");
        }
        for name in legacy_names() {
            assert!(text.contains(name), "missing {name}");
        }
        assert_eq!(
            text,
            markdown_reference(),
            "stale: run `cargo test -- --ignored regenerate_reference_files`"
        );
    }

    #[test]
    #[ignore = "writes the reference files; run on purpose after changing the table"]
    fn regenerate_reference_files() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        std::fs::write(root.join(PROPERTIES_FILE_PATH), properties_file_template())
            .expect("write properties file");
        std::fs::write(root.join(MARKDOWN_PATH), markdown_reference()).expect("write markdown");
    }
}
