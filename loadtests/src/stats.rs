//! Everything the run measures and how it is reported: latency histograms (microseconds) and
//! error counts per sampler, error counts per class, and the tables in the layout of the seed
//! reports (seed 000's JMeter summary table), latencies in milliseconds, which report.md
//! writes as Markdown and report.html as HTML. Setup samples made during the warm-up are kept
//! apart in the count so that rates only ever count the measured window.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// One hour: anything slower is clamped, and is a failed run anyway.
const HIGHEST_TRACKABLE_MICROS: u64 = 3_600_000_000;
const SIGNIFICANT_DIGITS: u8 = 3;

pub fn empty_histogram() -> Histogram<u64> {
    Histogram::new_with_max(HIGHEST_TRACKABLE_MICROS, SIGNIFICANT_DIGITS)
        .expect("constant histogram bounds are valid")
}

struct SamplerStats {
    name: String,
    latencies: Histogram<u64>,
    errors: u64,
    /// Samples taken before the measured window (setup requests during the warm-up).
    before_window: u64,
}

impl SamplerStats {
    fn new(name: &str) -> SamplerStats {
        SamplerStats {
            name: name.to_string(),
            latencies: empty_histogram(),
            errors: 0,
            before_window: 0,
        }
    }
}

/// Samples of one run. Failed samples count too (as in JMeter): their latency is the time to
/// the error answer or to the failure, and they make up the errors %.
pub struct Recorder {
    samplers: Vec<SamplerStats>,
    errors_by_class: BTreeMap<String, u64>,
    /// Seed 001's "Logs": how often each (class, message) came back.
    errors_by_message: BTreeMap<(String, String), u64>,
}

/// One line of the results table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    pub name: String,
    pub count: u64,
    pub mean_ms: f64,
    pub median_ms: f64,
    pub p90_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
    pub errors: u64,
    pub error_percent: f64,
    /// Of `count`, the setup samples taken during the warm-up: counted, but in no rate.
    pub before_window: u64,
    /// Samples of the measured window per second of it (warm-up setup samples left out).
    pub throughput_per_second: f64,
}

impl Recorder {
    /// `samplers` fixes the row order, and shows a sampler that never completed as zeros.
    pub fn new(samplers: &[&str]) -> Self {
        Recorder {
            samplers: samplers
                .iter()
                .map(|name| SamplerStats::new(name))
                .collect(),
            errors_by_class: BTreeMap::new(),
            errors_by_message: BTreeMap::new(),
        }
    }

    pub fn record(&mut self, sampler: &str, latency: Duration, error_class: Option<&str>) {
        self.record_error(sampler, latency, error_class.map(|class| (class, "")));
    }

    /// Records one sample; `error` is its class and the server's (normalized) message.
    pub fn record_error(&mut self, sampler: &str, latency: Duration, error: Option<(&str, &str)>) {
        self.record_sample(sampler, latency, error, false);
    }

    /// Records a setup sample taken during the warm-up: seed 000's table lists every setup
    /// request, but the rates must stay those of the measured window.
    pub fn record_before_window(
        &mut self,
        sampler: &str,
        latency: Duration,
        error: Option<(&str, &str)>,
    ) {
        self.record_sample(sampler, latency, error, true);
    }

    fn record_sample(
        &mut self,
        sampler: &str,
        latency: Duration,
        error: Option<(&str, &str)>,
        before_window: bool,
    ) {
        let index = match self.samplers.iter().position(|s| s.name == sampler) {
            Some(index) => index,
            None => {
                self.samplers.push(SamplerStats::new(sampler));
                self.samplers.len() - 1
            }
        };
        let stats = &mut self.samplers[index];
        if before_window {
            stats.before_window += 1;
        }
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        stats.latencies.saturating_record(micros);
        if let Some((class, message)) = error {
            stats.errors += 1;
            *self.errors_by_class.entry(class.to_string()).or_default() += 1;
            *self
                .errors_by_message
                .entry((class.to_string(), message.to_string()))
                .or_default() += 1;
        }
    }

    pub fn errors_by_class(&self) -> &BTreeMap<String, u64> {
        &self.errors_by_class
    }

    pub fn errors_by_message(&self) -> &BTreeMap<(String, String), u64> {
        &self.errors_by_message
    }

    /// Samples of the measured window per sampler (warm-up setup samples left out).
    pub fn window_counts(&self) -> Vec<(String, u64)> {
        self.samplers
            .iter()
            .map(|stats| {
                (
                    stats.name.clone(),
                    stats.latencies.len() - stats.before_window,
                )
            })
            .collect()
    }

    /// One row per sampler then TOTAL; throughput is samples over the measured `window`.
    pub fn rows(&self, window: Duration) -> Vec<Row> {
        let mut total = empty_histogram();
        let mut total_errors = 0;
        let mut total_before_window = 0;
        let mut rows = Vec::with_capacity(self.samplers.len() + 1);
        for stats in &self.samplers {
            total
                .add(&stats.latencies)
                .expect("histograms share the same bounds");
            total_errors += stats.errors;
            total_before_window += stats.before_window;
            let counts = (stats.errors, stats.before_window);
            rows.push(row(&stats.name, &stats.latencies, counts, window));
        }
        let counts = (total_errors, total_before_window);
        rows.push(row("TOTAL", &total, counts, window));
        rows
    }
}

/// `counts` are the errors and the samples taken before the window.
fn row(
    name: &str,
    latencies: &Histogram<u64>,
    (errors, before_window): (u64, u64),
    window: Duration,
) -> Row {
    let count = latencies.len();
    let ms = |micros: u64| micros as f64 / 1000.0;
    let (mean_ms, min_ms) = if count == 0 {
        // hdrhistogram reports min of an empty histogram as u64::MAX.
        (0.0, 0.0)
    } else {
        (latencies.mean() / 1000.0, ms(latencies.min()))
    };
    let seconds = window.as_secs_f64();
    Row {
        name: name.to_string(),
        count,
        mean_ms,
        median_ms: ms(latencies.value_at_quantile(0.5)),
        p90_ms: ms(latencies.value_at_quantile(0.9)),
        p95_ms: ms(latencies.value_at_quantile(0.95)),
        p99_ms: ms(latencies.value_at_quantile(0.99)),
        min_ms,
        max_ms: ms(latencies.max()),
        errors,
        error_percent: if count == 0 {
            0.0
        } else {
            errors as f64 * 100.0 / count as f64
        },
        before_window,
        throughput_per_second: if seconds > 0.0 {
            (count - before_window) as f64 / seconds
        } else {
            0.0
        },
    }
}

pub fn results_table(rows: &[Row]) -> Table {
    let header = [
        "sampler",
        "#count",
        "average",
        "median",
        "90%",
        "99%",
        "min",
        "max",
        "errors",
        "bandwidth",
    ];
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            vec![
                row.name.clone(),
                row.count.to_string(),
                format!("{:.2}", row.mean_ms),
                format!("{:.2}", row.median_ms),
                format!("{:.2}", row.p90_ms),
                format!("{:.2}", row.p99_ms),
                format!("{:.2}", row.min_ms),
                format!("{:.2}", row.max_ms),
                format!("{:.5}%", row.error_percent),
                format!("{:.2}/s", row.throughput_per_second),
            ]
        })
        .collect();
    Table::new(&header, body)
}

/// Errors by class (`HTTP 503`, `timeout`, `connection error`...) with a TOTAL line.
pub fn errors_table(errors_by_class: &BTreeMap<String, u64>) -> Table {
    let mut body: Vec<Vec<String>> = errors_by_class
        .iter()
        .map(|(class, count)| vec![class.clone(), count.to_string()])
        .collect();
    let total: u64 = errors_by_class.values().sum();
    body.push(vec!["TOTAL".to_string(), total.to_string()]);
    Table::new(&["error class", "Count"], body)
}

/// Seed 001's "Logs" in a table: each class and message with its count, most frequent first.
pub fn error_messages_table(errors: &BTreeMap<(String, String), u64>) -> Table {
    let mut lines: Vec<_> = errors.iter().collect();
    lines.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
    let body: Vec<Vec<String>> = lines
        .into_iter()
        .map(|((class, message), count)| vec![class.clone(), message.clone(), count.to_string()])
        .collect();
    Table::new(&["class", "message", "Count"], body)
}

/// Longest message kept per error: enough for Kill Bill's one-line messages, and bounded so a
/// server answering with a page of HTML cannot bloat the report.
const MESSAGE_LIMIT: usize = 200;

/// `code N: message` from Kill Bill's error JSON, or the start of a body that is not one.
pub fn error_message(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let message = match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(json) => {
            let message = json["message"].as_str().unwrap_or_default();
            match json["code"].as_i64() {
                Some(code) => format!("code {code}: {message}"),
                None => message.to_string(),
            }
        }
        Err(_) => text.trim().to_string(),
    };
    normalize_message(&message)
}

/// Makes messages that differ only by an id or a measured time count as one: every UUID
/// becomes `{id}` and every decimal number `N.N`, so seed 001's "(waited 8.904 seconds)"
/// messages fall into one line.
pub fn normalize_message(message: &str) -> String {
    let mut normalized = String::with_capacity(message.len());
    let bytes = message.as_bytes();
    let mut index = 0;
    while index < message.len() {
        if is_uuid_at(bytes, index) {
            normalized.push_str("{id}");
            index += 36;
            continue;
        }
        let rest = &message[index..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 && rest[digits..].starts_with('.') {
            let fraction = rest[digits + 1..]
                .bytes()
                .take_while(u8::is_ascii_digit)
                .count();
            if fraction > 0 {
                normalized.push_str("N.N");
                index += digits + 1 + fraction;
                continue;
            }
        }
        let Some(character) = rest.chars().next() else {
            break;
        };
        normalized.push(character);
        index += character.len_utf8();
    }
    if normalized.len() > MESSAGE_LIMIT {
        let mut end = MESSAGE_LIMIT;
        while !normalized.is_char_boundary(end) {
            end -= 1;
        }
        normalized.truncate(end);
        normalized.push('…');
    }
    normalized
}

fn is_uuid_at(bytes: &[u8], start: usize) -> bool {
    let Some(candidate) = bytes.get(start..start + 36) else {
        return false;
    };
    candidate
        .iter()
        .enumerate()
        .all(|(position, byte)| match position {
            8 | 13 | 18 | 23 => *byte == b'-',
            _ => byte.is_ascii_hexdigit(),
        })
}

/// A table of text, written as Markdown in report.md and as HTML in report.html.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub header: Vec<String>,
    pub body: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&str], body: Vec<Vec<String>>) -> Table {
        Table {
            header: header.iter().map(|cell| cell.to_string()).collect(),
            body,
        }
    }

    /// Right-aligned, padded columns so the table also reads well as plain text.
    pub fn to_markdown(&self) -> String {
        // A `|` would end the Markdown cell early.
        let escape = |line: &Vec<String>| -> Vec<String> {
            line.iter().map(|cell| cell.replace('|', "\\|")).collect()
        };
        let header = escape(&self.header);
        let body: Vec<Vec<String>> = self.body.iter().map(escape).collect();
        let mut widths: Vec<usize> = header.iter().map(|cell| cell.len().max(3)).collect();
        for line in &body {
            for (width, cell) in widths.iter_mut().zip(line) {
                *width = (*width).max(cell.len());
            }
        }
        let format_line = |cells: &[String]| {
            let padded: Vec<String> = cells
                .iter()
                .zip(&widths)
                .map(|(cell, width)| format!("{cell:>width$}"))
                .collect();
            format!("| {} |\n", padded.join(" | "))
        };
        let rule: Vec<String> = widths.iter().map(|width| "-".repeat(*width)).collect();
        let mut table = format_line(&header);
        table += &format_line(&rule);
        for line in &body {
            table += &format_line(line);
        }
        table
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn millis(value: u64) -> Duration {
        Duration::from_millis(value)
    }

    fn sample_recorder() -> Recorder {
        let mut recorder = Recorder::new(&["Create Tenant", "Get Tenant"]);
        for latency in 1..=100 {
            recorder.record("Create Tenant", millis(latency), None);
        }
        recorder.record("Create Tenant", millis(900), Some("HTTP 503"));
        for latency in [2, 3, 4] {
            recorder.record("Get Tenant", millis(latency), None);
        }
        recorder.record("Get Tenant", millis(30_000), Some("timeout"));
        recorder
    }

    #[test]
    fn percentiles_are_ordered() {
        for row in sample_recorder().rows(Duration::from_secs(10)) {
            assert!(row.min_ms <= row.median_ms, "{row:?}");
            assert!(row.median_ms <= row.p90_ms, "{row:?}");
            assert!(row.p90_ms <= row.p99_ms, "{row:?}");
            assert!(row.p99_ms <= row.max_ms, "{row:?}");
            assert!(
                row.min_ms <= row.mean_ms && row.mean_ms <= row.max_ms,
                "{row:?}"
            );
        }
    }

    #[test]
    fn totals_add_up() {
        let rows = sample_recorder().rows(Duration::from_secs(10));
        let (samplers, total) = rows.split_at(rows.len() - 1);
        let total = &total[0];
        assert_eq!(total.name, "TOTAL");
        assert_eq!(total.count, samplers.iter().map(|r| r.count).sum::<u64>());
        assert_eq!(total.count, 105);
        assert_eq!(total.errors, 2);
        assert!((total.throughput_per_second - 10.5).abs() < 1e-9);
        assert!((total.error_percent - 200.0 / 105.0).abs() < 1e-9);
        let slowest = samplers.iter().map(|r| r.max_ms).fold(0.0, f64::max);
        assert_eq!(total.max_ms, slowest);
    }

    #[test]
    fn latencies_are_reported_in_milliseconds() {
        let rows = sample_recorder().rows(Duration::from_secs(1));
        let create = &rows[0];
        assert_eq!(create.count, 101);
        assert_eq!(create.min_ms, 1.0);
        // hdrhistogram keeps 3 significant digits.
        assert!((create.median_ms - 51.0).abs() < 0.1, "{create:?}");
        assert!((create.max_ms - 900.0).abs() < 1.0, "{create:?}");
    }

    #[test]
    fn errors_are_counted_per_class() {
        let recorder = sample_recorder();
        let classes: Vec<_> = recorder.errors_by_class().iter().collect();
        assert_eq!(
            classes,
            [(&"HTTP 503".to_string(), &1), (&"timeout".to_string(), &1)]
        );
        let table = errors_table(recorder.errors_by_class()).to_markdown();
        assert!(table.lines().last().is_some_and(|l| l.contains("TOTAL")));
        assert!(table.lines().last().is_some_and(|l| l.ends_with(" 2 |")));
    }

    #[test]
    fn messages_are_grouped_without_ids_and_timings() {
        let body = br#"{"className":"x","code":7199,"message":"could not obtain a database connection within 5.000 seconds (waited 8.904 seconds)"}"#;
        assert_eq!(
            error_message(body),
            "code 7199: could not obtain a database connection within N.N seconds (waited N.N seconds)"
        );
        assert_eq!(
            normalize_message("payment 0b6a2f1e-1c2d-4e5f-8a9b-0c1d2e3f4a5b not found"),
            "payment {id} not found"
        );
        assert_eq!(error_message(b"  plain text "), "plain text");
        assert!(error_message(&[b'x'; 1000]).chars().count() <= MESSAGE_LIMIT + 1);
        let mut recorder = Recorder::new(&["A"]);
        recorder.record_error("A", millis(1), Some(("HTTP 400", "m")));
        recorder.record_error("A", millis(1), Some(("HTTP 400", "m")));
        let table = error_messages_table(recorder.errors_by_message()).to_markdown();
        assert!(
            table.contains("| HTTP 400 |") && table.contains(" 2 |"),
            "{table}"
        );
    }

    #[test]
    fn empty_samplers_and_windows_give_zeros() {
        let rows = Recorder::new(&["Idle"]).rows(Duration::ZERO);
        assert_eq!(rows.len(), 2);
        for row in rows {
            assert_eq!(row.count, 0);
            assert_eq!(row.min_ms, 0.0);
            assert_eq!(row.throughput_per_second, 0.0);
            assert_eq!(row.error_percent, 0.0);
        }
    }

    #[test]
    fn warm_up_setup_samples_count_but_not_in_rates() {
        let mut recorder = Recorder::new(&["Create Account", "Purchase Payment"]);
        for _ in 0..3 {
            recorder.record_before_window("Create Account", millis(5), None);
        }
        recorder.record("Create Account", millis(5), None);
        for _ in 0..10 {
            recorder.record("Purchase Payment", millis(2), None);
        }
        let rows = recorder.rows(Duration::from_secs(2));
        assert_eq!((rows[0].count, rows[0].before_window), (4, 3));
        assert_eq!(rows[0].throughput_per_second, 0.5);
        assert_eq!((rows[2].count, rows[2].before_window), (14, 3));
        assert_eq!(rows[2].throughput_per_second, 5.5);
        assert_eq!(
            recorder.window_counts(),
            [
                ("Create Account".to_string(), 1),
                ("Purchase Payment".to_string(), 10)
            ]
        );
    }

    #[test]
    fn unknown_samplers_get_their_own_row() {
        let mut recorder = Recorder::new(&[]);
        recorder.record("Surprise", millis(5), None);
        let rows = recorder.rows(Duration::from_secs(1));
        assert_eq!(rows[0].name, "Surprise");
        assert_eq!(rows[1].count, 1);
    }

    #[test]
    fn results_table_has_aligned_columns() {
        let table = results_table(&sample_recorder().rows(Duration::from_secs(10))).to_markdown();
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 5, "header, rule, two samplers, TOTAL");
        assert!(lines[0].contains("#count") && lines[0].contains("99%"));
        assert!(lines.iter().all(|line| line.len() == lines[0].len()));
        assert!(lines[4].contains("TOTAL") && lines[4].contains("10.50/s"));
    }
}
