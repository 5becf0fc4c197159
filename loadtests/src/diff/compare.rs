//! Comparing one step's answers from the two servers, after [`super::normalise`]: the status,
//! the headers clients read (`Location`, `Content-Type`, `WWW-Authenticate`, the pagination
//! headers), the body's kind, and for JSON every key path, every value's type and every value
//! (amounts as numbers, so `10.00` and `10.0` are equal). Sequence numbers (`recordId`,
//! `paymentNumber`, …) are compared by type only: each server numbers its own rows.
//!
//! The result is a list of [`Difference`]s, each naming its aspect (`status`,
//! `header:Location`, `body:/path`); deciding whether one is documented is
//! [`super::documented`]'s job.

use std::collections::BTreeMap;

use serde_json::Value;

use super::normalise::Names;
use super::step::Compare;

/// The response headers compared, lower-case.
pub const HEADERS: &[&str] = &[
    "location",
    "content-type",
    "www-authenticate",
    "x-killbill-pagination-currentoffset",
    "x-killbill-pagination-nextoffset",
    "x-killbill-pagination-totalnbrecords",
    "x-killbill-pagination-maxnbrecords",
    "x-killbill-pagination-nextpageuri",
];

/// Keys whose values each server numbers or stamps on its own: compared by type only.
const TYPE_ONLY: &[&str] = &[
    "recordId",
    "paymentNumber",
    "targetRecordId",
    "accountRecordId",
    "tenantRecordId",
    "searchKey1",
    "searchKey2",
];

/// One server's raw answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    /// The [`HEADERS`] present, lower-case names.
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

/// An answer after normalisation.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub status: u16,
    pub headers: BTreeMap<String, String>,
    pub body: BodyView,
}

#[derive(Debug, Clone, PartialEq)]
pub enum BodyView {
    Empty,
    Json(Value),
    /// Plain text (e.g. Kill Bill's 412 body), normalised.
    Text(String),
    /// An HTML error page: compared by kind only.
    Html,
}

impl BodyView {
    fn kind(&self) -> &'static str {
        match self {
            BodyView::Empty => "empty",
            BodyView::Json(_) => "JSON",
            BodyView::Text(_) => "text",
            BodyView::Html => "HTML",
        }
    }
}

/// One aspect in which the answers differ, with each side's normalised value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub aspect: String,
    pub killbill: String,
    pub ferrobill: String,
}

/// Normalises a reply with this side's names; `step` names the UUIDs first seen here. A body
/// compared by its keys or kind only is kept as it is: its ids teach no roles.
pub fn normalise(reply: &Reply, names: &mut Names, step: &str, compare: Compare) -> Answer {
    let headers = reply
        .headers
        .iter()
        .map(|(name, value)| {
            let value = if name == "content-type" {
                value.to_ascii_lowercase().replace(' ', "")
            } else if name == "x-killbill-pagination-nextpageuri" {
                // Kill Bill builds the query from a hash map: its order varies, and means nothing.
                sorted_query(&names.string(value, &format!("{step}:header:{name}")))
            } else {
                names.string(value, &format!("{step}:header:{name}"))
            };
            (name.clone(), value)
        })
        .collect();
    let text = String::from_utf8_lossy(&reply.body);
    let body = if text.trim().is_empty() {
        BodyView::Empty
    } else if let Ok(value) = serde_json::from_slice::<Value>(&reply.body) {
        match compare {
            Compare::Full => BodyView::Json(names.json(&value, step, "")),
            Compare::TopLevelKeys | Compare::Kind => BodyView::Json(value),
        }
    } else if looks_like_html(&text) {
        BodyView::Html
    } else {
        BodyView::Text(names.string(text.trim(), &format!("{step}:text")))
    };
    Answer {
        status: reply.status,
        headers,
        body,
    }
}

/// A URI with its query parameters in sorted order.
fn sorted_query(uri: &str) -> String {
    match uri.split_once('?') {
        Some((path, query)) => {
            let mut pairs: Vec<&str> = query.split('&').collect();
            pairs.sort_unstable();
            format!("{path}?{}", pairs.join("&"))
        }
        None => uri.to_string(),
    }
}

fn looks_like_html(text: &str) -> bool {
    let start = text.trim_start().to_ascii_lowercase();
    start.starts_with("<html") || start.starts_with("<!doctype") || start.starts_with("<?xml")
}

/// The differences between the two answers of a step.
pub fn differences(killbill: &Answer, ferrobill: &Answer, compare: Compare) -> Vec<Difference> {
    let mut found = Vec::new();
    let mut differ = |aspect: String, kb: String, fb: String| {
        found.push(Difference {
            aspect,
            killbill: kb,
            ferrobill: fb,
        })
    };
    if killbill.status != ferrobill.status {
        differ(
            "status".to_string(),
            killbill.status.to_string(),
            ferrobill.status.to_string(),
        );
    }
    for name in HEADERS {
        let kb = killbill.headers.get(*name);
        let fb = ferrobill.headers.get(*name);
        if kb != fb {
            differ(format!("header:{name}"), shown(kb), shown(fb));
        }
    }
    match (&killbill.body, &ferrobill.body) {
        (BodyView::Json(kb), BodyView::Json(fb)) => match compare {
            Compare::Full => json_differences(kb, fb, "", &mut differ),
            Compare::TopLevelKeys => {
                let keys = |value: &Value| match value {
                    Value::Object(fields) => fields.keys().cloned().collect::<Vec<_>>().join(","),
                    other => type_name(other).to_string(),
                };
                if keys(kb) != keys(fb) {
                    differ("body:keys".to_string(), keys(kb), keys(fb));
                }
            }
            Compare::Kind => {}
        },
        (BodyView::Text(kb), BodyView::Text(fb)) if compare == Compare::Full && kb != fb => {
            differ("body:text".to_string(), kb.clone(), fb.clone());
        }
        (kb, fb) if kb.kind() != fb.kind() => {
            differ(
                "body".to_string(),
                format!("{} {}", kb.kind(), preview(kb)),
                format!("{} {}", fb.kind(), preview(fb)),
            );
        }
        _ => {}
    }
    found
}

fn shown(value: Option<&String>) -> String {
    value.cloned().unwrap_or_else(|| "(absent)".to_string())
}

fn preview(body: &BodyView) -> String {
    match body {
        BodyView::Json(value) => short(value),
        BodyView::Text(text) => truncate(text),
        BodyView::Empty | BodyView::Html => String::new(),
    }
}

/// A value as shown in the report: compact JSON, cut at 400 characters.
pub fn short(value: &Value) -> String {
    truncate(&value.to_string())
}

fn truncate(text: &str) -> String {
    const LIMIT: usize = 400;
    if text.chars().count() <= LIMIT {
        return text.to_string();
    }
    let cut: String = text.chars().take(LIMIT).collect();
    format!("{cut}…")
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn json_differences(
    kb: &Value,
    fb: &Value,
    path: &str,
    differ: &mut impl FnMut(String, String, String),
) {
    let aspect = || format!("body:{}", if path.is_empty() { "/" } else { path });
    let last_key = path.rsplit('/').next().unwrap_or_default();
    match (kb, fb) {
        (Value::Object(kb_fields), Value::Object(fb_fields)) => {
            for (key, kb_value) in kb_fields {
                let child = format!("{path}/{key}");
                match fb_fields.get(key) {
                    Some(fb_value) => json_differences(kb_value, fb_value, &child, differ),
                    None => differ(format!("body:{child}"), short(kb_value), "(absent)".into()),
                }
            }
            for (key, fb_value) in fb_fields {
                if !kb_fields.contains_key(key) {
                    differ(
                        format!("body:{path}/{key}"),
                        "(absent)".into(),
                        short(fb_value),
                    );
                }
            }
        }
        (Value::Array(kb_items), Value::Array(fb_items)) => {
            if kb_items.len() != fb_items.len() {
                differ(
                    format!("{}(length)", aspect()),
                    format!("{} items: {}", kb_items.len(), short(kb)),
                    format!("{} items: {}", fb_items.len(), short(fb)),
                );
            }
            for (index, (kb_item, fb_item)) in kb_items.iter().zip(fb_items).enumerate() {
                json_differences(kb_item, fb_item, &format!("{path}/{index}"), differ);
            }
        }
        (Value::Number(kb_number), Value::Number(fb_number)) => {
            if !TYPE_ONLY.contains(&last_key) && kb_number.as_f64() != fb_number.as_f64() {
                differ(aspect(), kb_number.to_string(), fb_number.to_string());
            }
        }
        (Value::String(kb_text), Value::String(fb_text)) => {
            if !TYPE_ONLY.contains(&last_key) && kb_text != fb_text {
                differ(aspect(), short(kb), short(fb));
            }
        }
        (kb, fb) if type_name(kb) != type_name(fb) => {
            differ(aspect(), short(kb), short(fb));
        }
        (kb, fb) => {
            if kb != fb {
                differ(aspect(), short(kb), short(fb));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn answer(status: u16, body: Value) -> Answer {
        Answer {
            status,
            headers: BTreeMap::new(),
            body: BodyView::Json(body),
        }
    }

    #[test]
    fn amounts_compare_as_numbers_and_sequence_numbers_by_type() {
        let kb = answer(
            200,
            json!({"amount": 10.00, "paymentNumber": "7", "recordId": 3}),
        );
        let fb = answer(
            200,
            json!({"amount": 10, "paymentNumber": "1", "recordId": 99}),
        );
        assert!(differences(&kb, &fb, Compare::Full).is_empty());
        let fb = answer(
            200,
            json!({"amount": 0, "paymentNumber": 1, "recordId": 99}),
        );
        let aspects: Vec<String> = differences(&kb, &fb, Compare::Full)
            .into_iter()
            .map(|d| d.aspect)
            .collect();
        assert_eq!(aspects, vec!["body:/amount", "body:/paymentNumber"]);
    }

    #[test]
    fn the_order_of_a_next_page_query_means_nothing() {
        let reply = |uri: &str| Reply {
            status: 200,
            headers: [(
                "x-killbill-pagination-nextpageuri".to_string(),
                uri.to_string(),
            )]
            .into_iter()
            .collect(),
            body: Vec::new(),
        };
        let mut names = Names::default();
        let kb = normalise(
            &reply("/p?offset=3&audit=NONE&pluginName="),
            &mut names,
            "s",
            Compare::Full,
        );
        let fb = normalise(
            &reply("/p?offset=3&pluginName=&audit=NONE"),
            &mut names,
            "s",
            Compare::Full,
        );
        assert!(differences(&kb, &fb, Compare::Full).is_empty());
    }

    #[test]
    fn missing_keys_lengths_statuses_and_kinds_are_differences() {
        let kb = answer(404, json!({"a": [1, 2], "b": null}));
        let fb = answer(400, json!({"a": [1], "c": 1}));
        let aspects: Vec<String> = differences(&kb, &fb, Compare::Full)
            .into_iter()
            .map(|d| d.aspect)
            .collect();
        assert_eq!(
            aspects,
            vec!["status", "body:/a(length)", "body:/b", "body:/c"]
        );
        let html = Answer {
            status: 404,
            headers: BTreeMap::new(),
            body: BodyView::Html,
        };
        assert_eq!(
            differences(&html, &kb, Compare::Full)[0].aspect,
            "body".to_string()
        );
    }
}
