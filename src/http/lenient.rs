//! Request body fields read as Kill Bill's Jackson reads them, coercions included: a number or
//! a boolean where a string is expected becomes its text, a numeric string where a number is
//! expected becomes that number (a fraction is truncated), `"true"`/`"false"` and integers
//! become booleans, an empty string is an absent id, number or date, and a date-time may be an
//! ISO date, an ISO date-time or epoch milliseconds.
//!
//! What cannot be read fails with a message that starts with one of the tags below, so
//! `extract.rs` can answer Jackson's exception class for it: [`INVALID_FORMAT`] (a value of
//! the right JSON type that does not parse: `InvalidFormatException`), [`MISMATCHED`] (a value
//! of the wrong JSON type: `MismatchedInputException`), [`MAPPING`] (a number out of range, an
//! unreadable date: `JsonMappingException`). This file only reads values; which are required
//! and what they mean is the handlers' and the services' business.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde::de::{Deserialize, Deserializer, Error};
use serde_json::Value;
use uuid::Uuid;

pub const INVALID_FORMAT: &str = "[InvalidFormat] ";
pub const MISMATCHED: &str = "[MismatchedInput] ";
pub const MAPPING: &str = "[JsonMapping] ";

fn value<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Ok(Option::<Value>::deserialize(deserializer)?.filter(|value| !value.is_null()))
}

/// Jackson's name for the token a value starts with.
fn token(value: &Value) -> (&'static str, &'static str) {
    match value {
        Value::Null => ("Null", "VALUE_NULL"),
        Value::Bool(true) => ("Boolean", "VALUE_TRUE"),
        Value::Bool(false) => ("Boolean", "VALUE_FALSE"),
        Value::Number(number) if number.is_f64() => ("Floating-point", "VALUE_NUMBER_FLOAT"),
        Value::Number(_) => ("Integer", "VALUE_NUMBER_INT"),
        Value::String(_) => ("String", "VALUE_STRING"),
        Value::Array(_) => ("Array", "START_ARRAY"),
        Value::Object(_) => ("Object", "START_OBJECT"),
    }
}

/// A value of a JSON type `java_type` cannot be read from.
pub fn mismatched<E: Error>(java_type: &str, found: &Value) -> E {
    let (kind, token) = token(found);
    E::custom(format!(
        "{MISMATCHED}Cannot deserialize value of type `{java_type}` from {kind} value (token `JsonToken.{token}`)"
    ))
}

fn invalid_format<E: Error>(java_type: &str, text: &str, why: &str) -> E {
    E::custom(format!(
        "{INVALID_FORMAT}Cannot deserialize value of type `{java_type}` from String \"{text}\": {why}"
    ))
}

/// A `String` field.
pub fn string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    match value(deserializer)? {
        None => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(Value::Number(number)) => Ok(Some(number.to_string())),
        Some(Value::Bool(flag)) => Ok(Some(flag.to_string())),
        Some(other) => Err(mismatched("java.lang.String", &other)),
    }
}

/// A `List<String>` field; `null` entries stay `None`, numbers and booleans become their text.
pub fn strings<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Vec<Option<String>>>, D::Error> {
    list(deserializer, "java.lang.String", |item| match item {
        Value::String(text) => Ok(Some(text)),
        Value::Number(number) => Ok(Some(number.to_string())),
        Value::Bool(flag) => Ok(Some(flag.to_string())),
        other => Err(mismatched("java.lang.String", &other)),
    })
}

/// A `List<T>` body or field of Java element type `java_type`: each non-null entry read by
/// `item`, `null` entries `None`.
fn list<'de, D: Deserializer<'de>, T>(
    deserializer: D,
    java_type: &str,
    item: impl Fn(Value) -> Result<Option<T>, D::Error>,
) -> Result<Option<Vec<Option<T>>>, D::Error> {
    match value(deserializer)? {
        None => Ok(None),
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|entry| match entry {
                Value::Null => Ok(None),
                other => item(other),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(other) => Err(mismatched(
            &format!("java.util.ArrayList<{java_type}>"),
            &other,
        )),
    }
}

/// An `Integer` field.
pub fn int<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i32>, D::Error> {
    const JAVA: &str = "java.lang.Integer";
    let in_range = |number: i64, shown: &str| {
        i32::try_from(number).map_err(|_| {
            D::Error::custom(format!(
                "{MAPPING}Numeric value ({shown}) out of range of int (-2147483648 - 2147483647)"
            ))
        })
    };
    match value(deserializer)? {
        None => Ok(None),
        Some(Value::Number(number)) => match number.as_i64() {
            Some(whole) => in_range(whole, &number.to_string()).map(Some),
            // Jackson accepts a fraction for an int and truncates it.
            None => match number.as_f64() {
                Some(fraction) if fraction.abs() < 2_147_483_648.0 => Ok(Some(fraction as i32)),
                _ => Err(D::Error::custom(format!(
                    "{MAPPING}Numeric value ({number}) out of range of int (-2147483648 - 2147483647)"
                ))),
            },
        },
        Some(Value::String(text)) => {
            let trimmed = text.trim();
            if trimmed.is_empty() {
                return Ok(None);
            }
            match trimmed.parse::<i64>() {
                Ok(whole) => in_range(whole, trimmed).map(Some),
                Err(_) => Err(invalid_format(
                    JAVA,
                    &text,
                    "not a valid `java.lang.Integer` value",
                )),
            }
        }
        Some(other) => Err(mismatched(JAVA, &other)),
    }
}

/// A `Boolean` field.
pub fn boolean<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<bool>, D::Error> {
    const JAVA: &str = "java.lang.Boolean";
    match value(deserializer)? {
        None => Ok(None),
        Some(Value::Bool(flag)) => Ok(Some(flag)),
        Some(Value::Number(number)) if number.is_i64() || number.is_u64() => {
            Ok(Some(number.as_i64() != Some(0)))
        }
        Some(Value::String(text)) => match text.trim() {
            "" => Ok(None),
            "true" | "True" | "TRUE" => Ok(Some(true)),
            "false" | "False" | "FALSE" => Ok(Some(false)),
            _ => Err(invalid_format(
                JAVA,
                &text,
                "only \"true\" or \"false\" recognized",
            )),
        },
        Some(other) => Err(mismatched(JAVA, &other)),
    }
}

/// A `UUID` field.
pub fn uuid<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Uuid>, D::Error> {
    const JAVA: &str = "java.util.UUID";
    match value(deserializer)? {
        None => Ok(None),
        Some(Value::String(text)) if text.is_empty() => Ok(None),
        Some(Value::String(text)) => parse_uuid(&text).map(Some),
        Some(other) => Err(mismatched(JAVA, &other)),
    }
}

fn parse_uuid<E: Error>(text: &str) -> Result<Uuid, E> {
    Uuid::parse_str(text).map_err(|_| {
        invalid_format(
            "java.util.UUID",
            text,
            "UUID has to be represented by standard 36-char representation",
        )
    })
}

/// A `List<UUID>` body or field; `null` entries stay `None`.
pub fn uuids<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Vec<Option<Uuid>>>, D::Error> {
    list(deserializer, "java.util.UUID", |item| match item {
        Value::String(text) if text.is_empty() => Ok(None),
        Value::String(text) => parse_uuid(&text).map(Some),
        other => Err(mismatched("java.util.UUID", &other)),
    })
}

/// A Joda `DateTime` field: an ISO date-time (UTC when it names no offset), an ISO date, or
/// epoch milliseconds.
pub fn date_time<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<DateTime<Utc>>, D::Error> {
    match value(deserializer)? {
        None => Ok(None),
        Some(Value::String(text)) if text.trim().is_empty() => Ok(None),
        Some(Value::String(text)) => parse_date_time(text.trim())
            .map(Some)
            .ok_or_else(|| D::Error::custom(format!("{MAPPING}Invalid format: \"{text}\""))),
        Some(Value::Number(number)) => number
            .as_i64()
            .and_then(|millis| Utc.timestamp_millis_opt(millis).single())
            .map(Some)
            .ok_or_else(|| D::Error::custom(format!("{MAPPING}Invalid instant: {number}"))),
        Some(other) => Err(mismatched("org.joda.time.DateTime", &other)),
    }
}

/// Joda's ISO parser: a date, a local date-time or one with an offset (local ones are UTC, as
/// Kill Bill's server runs in UTC).
pub fn parse_date_time(raw: &str) -> Option<DateTime<Utc>> {
    if let Ok(parsed) = DateTime::parse_from_rfc3339(raw) {
        return Some(parsed.with_timezone(&Utc));
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f%:z",
        "%Y-%m-%dT%H:%M%:z",
        "%Y-%m-%dT%H%:z",
    ] {
        if let Ok(parsed) = DateTime::parse_from_str(raw, format) {
            return Some(parsed.with_timezone(&Utc));
        }
    }
    if let Some(local) = raw.strip_suffix('Z') {
        if let Some(parsed) = parse_local(local) {
            return Some(parsed);
        }
    }
    parse_local(raw)
}

fn parse_local(raw: &str) -> Option<DateTime<Utc>> {
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(parsed) = NaiveDateTime::parse_from_str(raw, format) {
            return Some(parsed.and_utc());
        }
    }
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .ok()
        .and_then(|date| date.and_hms_opt(0, 0, 0))
        .map(|time| time.and_utc())
}

/// A Java enum field: the text must be one of the constants `known` accepts.
fn enum_value<'de, D: Deserializer<'de>>(
    deserializer: D,
    java_type: &str,
    known: impl Fn(&str) -> bool,
) -> Result<Option<String>, D::Error> {
    match value(deserializer)? {
        None => Ok(None),
        Some(Value::String(text)) if text.is_empty() => Err(D::Error::custom(format!(
            "{INVALID_FORMAT}Cannot coerce empty String (\"\") to `{java_type}` value"
        ))),
        Some(Value::String(text)) if known(&text) => Ok(Some(text)),
        Some(Value::String(text)) => Err(invalid_format(
            java_type,
            &text,
            "not one of the values accepted for Enum class",
        )),
        Some(other) => Err(mismatched(java_type, &other)),
    }
}

/// A `Currency` field (killbill-api's enum).
pub fn currency<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    enum_value(
        deserializer,
        "org.killbill.billing.catalog.api.Currency",
        crate::service::accounts::is_currency,
    )
}

/// A `TransactionType` field.
pub fn transaction_type<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    enum_value(
        deserializer,
        "org.killbill.billing.payment.api.TransactionType",
        |text| crate::domain::payments::TransactionType::parse(text).is_some(),
    )
}

/// An `ObjectType` field.
pub fn object_type<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    enum_value(
        deserializer,
        "org.killbill.billing.ObjectType",
        crate::domain::object_types::is_object_type,
    )
}

/// A `List<ObjectType>` field.
pub fn object_types<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Vec<String>>, D::Error> {
    const JAVA: &str = "org.killbill.billing.ObjectType";
    match value(deserializer)? {
        None => Ok(None),
        Some(Value::Array(items)) => items
            .into_iter()
            .filter(|item| !item.is_null())
            .map(|item| match item {
                Value::String(text) if crate::domain::object_types::is_object_type(&text) => {
                    Ok(text)
                }
                Value::String(text) => Err(invalid_format(
                    JAVA,
                    &text,
                    "not one of the values accepted for Enum class",
                )),
                other => Err(mismatched(JAVA, &other)),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(other) => Err(mismatched(
            "java.util.ArrayList<org.killbill.billing.ObjectType>",
            &other,
        )),
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Sample {
        #[serde(default, deserialize_with = "string")]
        name: Option<String>,
        #[serde(default, deserialize_with = "int")]
        day: Option<i32>,
        #[serde(default, deserialize_with = "boolean")]
        flag: Option<bool>,
        #[serde(default, deserialize_with = "uuid")]
        id: Option<Uuid>,
        #[serde(default, deserialize_with = "date_time")]
        at: Option<DateTime<Utc>>,
    }

    fn read(value: serde_json::Value) -> Result<Sample, String> {
        serde_json::from_value(value).map_err(|error| error.to_string())
    }

    #[test]
    fn scalars_are_coerced_as_jackson_does() {
        let sample = read(json!({"name": 5, "day": "7", "flag": 1, "id": "", "at": "2024-05-01"}))
            .expect("coerced");
        assert_eq!(sample.name.as_deref(), Some("5"));
        assert_eq!(sample.day, Some(7));
        assert_eq!(sample.flag, Some(true));
        assert_eq!(sample.id, None);
        assert_eq!(
            sample.at.map(|at| at.to_rfc3339()),
            Some("2024-05-01T00:00:00+00:00".to_string())
        );
        let sample = read(json!({"day": 5.7, "flag": "False", "name": true})).expect("coerced");
        assert_eq!((sample.day, sample.flag), (Some(5), Some(false)));
        assert_eq!(sample.name.as_deref(), Some("true"));
        let sample = read(json!({"at": 1714557600000i64})).expect("epoch millis");
        assert_eq!(
            sample.at.map(|at| at.to_rfc3339()),
            Some("2024-05-01T10:00:00+00:00".to_string())
        );
    }

    #[test]
    fn iso_dates_parse_in_joda_forms() {
        let expected = DateTime::parse_from_rfc3339("2024-05-01T12:30:00Z")
            .map(|d| d.with_timezone(&Utc))
            .ok();
        assert_eq!(parse_date_time("2024-05-01T12:30:00Z"), expected);
        assert_eq!(parse_date_time("2024-05-01T12:30:00.000Z"), expected);
        assert_eq!(parse_date_time("2024-05-01T14:30:00+02:00"), expected);
        assert_eq!(parse_date_time("2024-05-01T12:30:00"), expected);
        assert_eq!(parse_date_time("2024-05-01T12:30"), expected);
        assert!(parse_date_time("2024-05-01").is_some());
        assert!(parse_date_time("yesterday").is_none());
    }

    #[test]
    fn unreadable_values_are_tagged_with_jackson_s_exception() {
        let tagged = |value, tag: &str| {
            let error = read(value).expect_err("refused");
            assert!(error.starts_with(tag), "{error}");
        };
        tagged(json!({"day": "x"}), INVALID_FORMAT);
        tagged(json!({"day": true}), MISMATCHED);
        tagged(json!({"day": 99_999_999_999i64}), MAPPING);
        tagged(json!({"flag": "perhaps"}), INVALID_FORMAT);
        tagged(json!({"name": [1]}), MISMATCHED);
        tagged(json!({"id": "nope"}), INVALID_FORMAT);
        tagged(json!({"at": "yesterday"}), MAPPING);
    }
}
