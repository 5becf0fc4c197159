//! Turning one server's answer into something comparable with the other's: every value that
//! only says *which* object or *when* (ids, keys, hosts, dates) is replaced by its role.
//!
//! - the values the script captured (`${acct}`, the tenant keys, the callback URL) become
//!   `{acct}`, …; the server's base URL becomes `{base}`; the run's token becomes `{run}`;
//! - any other UUID becomes the role where this side first saw it (`{step:/json/path}`), so an
//!   id the script never named still has to come back where the other server's came back;
//!   Kill Bill's fixed ids (`00000000-0000-…`) stay as they are;
//! - date-times in Kill Bill's format (`2024-05-01T12:00:00.000Z`) become `{datetime}`, other
//!   date-time shapes `{datetime:dddd-dd-ddTdd:dd:ddZ}` (so a format difference still shows),
//!   dates `{date}`.
//!
//! Nothing here compares or decides; it only rewrites strings and JSON for [`super::compare`].

use std::collections::HashMap;

use serde_json::Value;

/// One server's names: the captured variables and the roles learned for other UUIDs.
#[derive(Debug, Default, Clone)]
pub struct Names {
    /// name → value, as the script's `${name}` placeholders read them.
    vars: HashMap<String, String>,
    /// value → name, longest value first (so a key that contains another is replaced whole).
    by_value: Vec<(String, String)>,
    /// UUID → role, learned on first sight.
    roles: HashMap<String, String>,
}

impl Names {
    pub fn set(&mut self, name: &str, value: &str) {
        self.vars.insert(name.to_string(), value.to_string());
        self.by_value.retain(|(_, existing)| existing != name);
        if !value.is_empty() {
            self.by_value.push((value.to_string(), name.to_string()));
            self.by_value
                .sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        }
    }

    /// Forgets the roles learned since `before` was taken (the captured variables stay).
    pub fn forget_roles_since(&mut self, before: &Names) {
        self.roles.retain(|uuid, _| before.roles.contains_key(uuid));
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// `template` with every `${name}` replaced by its value; the names it could not resolve
    /// are returned too (the caller decides what an unresolved placeholder means).
    pub fn fill(&self, template: &str) -> (String, Vec<String>) {
        let mut out = String::with_capacity(template.len());
        let mut missing = Vec::new();
        let mut rest = template;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            match after.find('}') {
                Some(end) => {
                    let name = &after[..end];
                    match self.vars.get(name) {
                        Some(value) => out.push_str(value),
                        None => {
                            missing.push(name.to_string());
                            out.push_str(UNRESOLVED);
                        }
                    }
                    rest = &after[end + 1..];
                }
                None => {
                    out.push_str(&rest[start..]);
                    rest = "";
                }
            }
        }
        out.push_str(rest);
        (out, missing)
    }

    /// A string with every known value, UUID and date-time replaced by its role. `role` is
    /// where the string was found (`step:/json/path`), used to name UUIDs seen here first.
    pub fn string(&mut self, text: &str, role: &str) -> String {
        let mut text = text.to_string();
        for (value, name) in &self.by_value {
            if text.contains(value.as_str()) {
                text = text.replace(value.as_str(), &format!("{{{name}}}"));
            }
        }
        let text = self.uuids(&text, role);
        date_times(&text)
    }

    fn uuids(&mut self, text: &str, role: &str) -> String {
        let bytes = text.as_bytes();
        let mut out = String::with_capacity(text.len());
        let mut index = 0;
        let mut last = 0;
        let mut seen_here = 0;
        while index + 36 <= bytes.len() {
            if is_uuid(&bytes[index..index + 36])
                && (index == 0 || !bytes[index - 1].is_ascii_hexdigit())
                && bytes.get(index + 36).is_none_or(|b| !b.is_ascii_hexdigit())
            {
                let uuid = text[index..index + 36].to_ascii_lowercase();
                out.push_str(&text[last..index]);
                if uuid.starts_with("00000000-0000-") {
                    out.push_str(&uuid);
                } else {
                    let next = if seen_here == 0 {
                        role.to_string()
                    } else {
                        format!("{role}#{seen_here}")
                    };
                    let name = self.roles.entry(uuid).or_insert(next).clone();
                    seen_here += 1;
                    out.push('{');
                    out.push_str(&name);
                    out.push('}');
                }
                index += 36;
                last = index;
            } else {
                index += 1;
            }
        }
        out.push_str(&text[last..]);
        out
    }

    /// A JSON value with every string normalised; `path` is the JSON pointer of `value`.
    pub fn json(&mut self, value: &Value, step: &str, path: &str) -> Value {
        match value {
            Value::String(text) => {
                // Kill Bill's push notifications carry JSON inside a string (`metaData`).
                if let Some(inner) = embedded_json(text) {
                    let normalised = self.json(&inner, step, &format!("{path}(json)"));
                    return Value::String(format!("(json){normalised}"));
                }
                Value::String(self.string(text, &format!("{step}:{path}")))
            }
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(index, item)| self.json(item, step, &format!("{path}/{index}")))
                    .collect(),
            ),
            Value::Object(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(key, item)| {
                        (key.clone(), self.json(item, step, &format!("{path}/{key}")))
                    })
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

/// What a placeholder becomes when its value was never captured on this side (the step that
/// should have captured it answered differently): a well-formed id no server knows.
pub const UNRESOLVED: &str = "0badc0de-0000-4000-8000-000000000000";

fn embedded_json(text: &str) -> Option<Value> {
    let trimmed = text.trim_start();
    if !(trimmed.starts_with('{') || trimmed.starts_with('[')) {
        return None;
    }
    serde_json::from_str::<Value>(text)
        .ok()
        .filter(|value| value.is_object() || value.is_array())
}

fn is_uuid(bytes: &[u8]) -> bool {
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(index, byte)| match index {
            8 | 13 | 18 | 23 => *byte == b'-',
            _ => byte.is_ascii_hexdigit(),
        })
}

/// Replaces ISO dates and date-times: Kill Bill's own format by `{datetime}`, other shapes by
/// their digit pattern, plain dates by `{date}`.
pub fn date_times(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut index = 0;
    let mut last = 0;
    while index + 10 <= bytes.len() {
        let preceded_by_digit = index > 0 && bytes[index - 1].is_ascii_digit();
        if preceded_by_digit || !matches_shape(&bytes[index..index + 10], b"dddd-dd-dd") {
            index += 1;
            continue;
        }
        let mut end = index + 10;
        let is_time = bytes.len() >= end + 9
            && (bytes[end] == b'T' || bytes[end] == b' ')
            && matches_shape(&bytes[end + 1..end + 9], b"dd:dd:dd");
        let replacement = if is_time {
            end += 9;
            if bytes.get(end) == Some(&b'.') {
                end += 1;
                while bytes.get(end).is_some_and(u8::is_ascii_digit) {
                    end += 1;
                }
            }
            if bytes.get(end) == Some(&b'Z') {
                end += 1;
            } else if matches!(bytes.get(end), Some(b'+') | Some(b'-'))
                && bytes.len() >= end + 6
                && matches_shape(&bytes[end + 1..end + 6], b"dd:dd")
            {
                end += 6;
            }
            let shape: String = text[index..end]
                .chars()
                .map(|c| if c.is_ascii_digit() { 'd' } else { c })
                .collect();
            if shape == "dddd-dd-ddTdd:dd:dd.dddZ" {
                "{datetime}".to_string()
            } else {
                format!("{{datetime:{shape}}}")
            }
        } else if bytes.get(end).is_some_and(u8::is_ascii_digit) {
            index += 1;
            continue;
        } else {
            "{date}".to_string()
        };
        out.push_str(&text[last..index]);
        out.push_str(&replacement);
        index = end;
        last = end;
    }
    out.push_str(&text[last..]);
    out
}

fn matches_shape(bytes: &[u8], shape: &[u8]) -> bool {
    bytes.len() == shape.len()
        && bytes
            .iter()
            .zip(shape)
            .all(|(byte, expected)| match expected {
                b'd' => byte.is_ascii_digit(),
                other => byte == other,
            })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn captured_values_uuids_and_dates_become_roles() {
        let mut names = Names::default();
        names.set("acct", "11111111-2222-4333-8444-555555555555");
        names.set("base", "http://127.0.0.1:8081");
        let text = "http://127.0.0.1:8081/1.0/kb/accounts/11111111-2222-4333-8444-555555555555";
        assert_eq!(names.string(text, "s"), "{base}/1.0/kb/accounts/{acct}");
        let other = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee";
        assert_eq!(names.string(other, "create:/id"), "{create:/id}");
        assert_eq!(names.string(other, "later:/x"), "{create:/id}");
        assert_eq!(
            names.string("00000000-0000-0000-0000-000000000001", "t"),
            "00000000-0000-0000-0000-000000000001"
        );
        assert_eq!(
            names.string(
                "at 2024-05-01T12:00:00.000Z and 2024-05-01T12:00:00Z on 2024-05-01",
                "t"
            ),
            "at {datetime} and {datetime:dddd-dd-ddTdd:dd:ddZ} on {date}"
        );
    }

    #[test]
    fn placeholders_are_filled_or_reported() {
        let mut names = Names::default();
        names.set("acct", "A");
        assert_eq!(names.fill("/x/${acct}/y"), ("/x/A/y".to_string(), vec![]));
        let (filled, missing) = names.fill("${nope}");
        assert_eq!(filled, UNRESOLVED);
        assert_eq!(missing, vec!["nope".to_string()]);
    }

    #[test]
    fn json_inside_strings_is_normalised_too() {
        let mut names = Names::default();
        names.set("pay", "11111111-2222-4333-8444-555555555555");
        let value = json!({"metaData": "{\"paymentId\":\"11111111-2222-4333-8444-555555555555\"}"});
        assert_eq!(
            names.json(&value, "s", ""),
            json!({"metaData": "(json){\"paymentId\":\"{pay}\"}"})
        );
    }
}
