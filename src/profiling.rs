//! Kill Bill's per-request profiling: a request carrying `X-Killbill-Profiling-Req` (a comma
//! list of JAXRS, API, DAO, DAO_DETAILS, DAO_CONNECTION, GLOCK, PLUGIN; unknown words are
//! ignored, as killbill-commons' `ProfilingFeature` ignores them) gets
//! `X-Killbill-Profiling-Resp`, the time spent per category in Kill Bill's `ProfilingDataJson`
//! shape: `{"rawData":[{"name":"DAO:…","durationUsec":N,"calls":[…]}]}`, spans nested by
//! time, `calls` left out when empty and `{}` when nothing was recorded.
//!
//! The collector lives in a tokio task-local set only for profiled requests, so everywhere
//! else [`measure`] is one failed task-local lookup. Code below the HTTP layer calls
//! [`measure`] with a category and a name; it never sees a header. Work moved to another task
//! (`tokio::spawn`) is not profiled, as Kill Bill's thread-local profiling does not follow work
//! to other threads.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;
use serde::Serialize;

/// What a span measures; Kill Bill's `ProfilingFeatureType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// The whole request.
    Jaxrs,
    Api,
    /// SQL run through a pooled connection.
    Dao,
    DaoDetails,
    /// Waiting for a pooled connection.
    DaoConnection,
    /// Waiting for an account's global lock.
    Glock,
    /// A payment plugin call.
    Plugin,
}

impl Category {
    const ALL: [Category; 7] = [
        Category::Jaxrs,
        Category::Api,
        Category::Dao,
        Category::DaoDetails,
        Category::DaoConnection,
        Category::Glock,
        Category::Plugin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Jaxrs => "JAXRS",
            Category::Api => "API",
            Category::Dao => "DAO",
            Category::DaoDetails => "DAO_DETAILS",
            Category::DaoConnection => "DAO_CONNECTION",
            Category::Glock => "GLOCK",
            Category::Plugin => "PLUGIN",
        }
    }

    /// Kill Bill's masks: asking for DAO_DETAILS also turns on DAO.
    fn mask(self) -> u8 {
        match self {
            Category::Jaxrs => 0x1,
            Category::Api => 0x2,
            Category::Dao => 0x4,
            Category::DaoDetails => 0x4 | 0x8,
            Category::Glock => 0x10,
            Category::Plugin => 0x20,
            Category::DaoConnection => 0x40,
        }
    }
}

tokio::task_local! {
    static PROFILE: Arc<Profile>;
}

/// The spans of one profiled request.
pub struct Profile {
    features: u8,
    spans: Mutex<Vec<Span>>,
}

struct Span {
    name: String,
    start: Instant,
    end: Instant,
}

impl Profile {
    /// The categories named in an `X-Killbill-Profiling-Req` value.
    pub fn from_header(value: &str) -> Profile {
        let features = value
            .split(',')
            .filter_map(|word| {
                Category::ALL
                    .into_iter()
                    .find(|category| category.as_str() == word.trim())
            })
            .fold(0, |bits, category| bits | category.mask());
        Profile {
            features,
            spans: Mutex::new(Vec::new()),
        }
    }

    pub fn wants(&self, category: Category) -> bool {
        self.features & category.mask() == category.mask()
    }

    pub fn record(&self, category: Category, name: &str, start: Instant, end: Instant) {
        let name = format!("{}:{name}", category.as_str());
        self.spans.lock().push(Span { name, start, end });
    }

    /// Kill Bill's `X-Killbill-Profiling-Resp` value. A span is nested under the latest
    /// earlier span that contains it, as Kill Bill nests start/end pairs.
    pub fn to_json(&self) -> String {
        let mut spans = self.spans.lock();
        if spans.is_empty() {
            return "{}".to_string();
        }
        spans.sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
        let mut children: Vec<Vec<usize>> = vec![Vec::new(); spans.len()];
        let mut roots = Vec::new();
        let mut open: Vec<usize> = Vec::new();
        for (index, span) in spans.iter().enumerate() {
            while let Some(&top) = open.last() {
                if spans[top].end >= span.end {
                    break;
                }
                open.pop();
            }
            match open.last() {
                Some(&parent) => children[parent].push(index),
                None => roots.push(index),
            }
            open.push(index);
        }
        fn item(index: usize, spans: &[Span], children: &[Vec<usize>]) -> Item {
            let span = &spans[index];
            Item {
                name: span.name.clone(),
                duration_usec: span.end.duration_since(span.start).as_micros() as u64,
                calls: children[index]
                    .iter()
                    .map(|&child| item(child, spans, children))
                    .collect(),
            }
        }
        let raw: Vec<Item> = roots
            .into_iter()
            .map(|index| item(index, &spans, &children))
            .collect();
        // Serialized from structs, not a serde_json::Value, to keep Kill Bill's field order.
        serde_json::to_string(&Data { raw_data: raw }).unwrap_or_else(|_| "{}".to_string())
    }
}

/// Kill Bill's `ProfilingDataJson`. Its mapper leaves empty arrays out, so no spans is `{}`.
#[derive(Serialize)]
struct Data {
    #[serde(rename = "rawData", skip_serializing_if = "Vec::is_empty")]
    raw_data: Vec<Item>,
}

/// One item of Kill Bill's `ProfilingDataJson`, fields in Kill Bill's order.
#[derive(Serialize)]
struct Item {
    name: String,
    #[serde(rename = "durationUsec")]
    duration_usec: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    calls: Vec<Item>,
}

/// Runs `future` with `profile` collecting the spans recorded inside it.
pub async fn collect<F: Future>(profile: Arc<Profile>, future: F) -> F::Output {
    PROFILE.scope(profile, future).await
}

/// Runs `future`, recording how long it took as `CATEGORY:name` when the current request is
/// profiled for `category`; otherwise just runs it. For the payment work: `Category::Plugin`
/// around a plugin call, `Category::Glock` around taking an account lock.
pub async fn measure<F: Future>(category: Category, name: &str, future: F) -> F::Output {
    let profile = PROFILE
        .try_with(|profile| profile.wants(category).then(|| profile.clone()))
        .ok()
        .flatten();
    let Some(profile) = profile else {
        return future.await;
    };
    let start = Instant::now();
    let output = future.await;
    profile.record(category, name, start, Instant::now());
    output
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};
    use std::time::Duration;

    fn parsed(profile: &Profile) -> Value {
        serde_json::from_str(&profile.to_json()).expect("JSON")
    }

    #[test]
    fn the_header_is_read_as_kill_bill_reads_it() {
        let profile = Profile::from_header("DAO_DETAILS, PLUGIN,FOO");
        assert!(profile.wants(Category::Dao));
        assert!(profile.wants(Category::DaoDetails));
        assert!(profile.wants(Category::Plugin));
        assert!(!profile.wants(Category::Jaxrs));
        assert!(!profile.wants(Category::DaoConnection));
    }

    #[test]
    fn spans_nest_by_time_and_empty_calls_are_left_out() {
        let profile = Profile::from_header("JAXRS,DAO");
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        profile.record(Category::Dao, "b", at(10), at(20));
        profile.record(Category::Jaxrs, "/x", at(0), at(100));
        profile.record(Category::Dao, "c", at(30), at(40));
        let text = profile.to_json();
        assert!(
            text.starts_with(
                r#"{"rawData":[{"name":"JAXRS:/x","durationUsec":100000,"calls":[{"name""#
            ),
            "{text}"
        );
        assert_eq!(
            parsed(&profile),
            json!({"rawData": [{
                "name": "JAXRS:/x",
                "durationUsec": 100_000,
                "calls": [
                    {"name": "DAO:b", "durationUsec": 10_000},
                    {"name": "DAO:c", "durationUsec": 10_000},
                ]
            }]})
        );
        assert_eq!(Profile::from_header("DAO").to_json(), "{}");
    }

    #[tokio::test]
    async fn measure_records_only_inside_a_profiled_request() {
        assert_eq!(measure(Category::Dao, "outside", async { 1 }).await, 1);
        let profile = Arc::new(Profile::from_header("DAO"));
        collect(profile.clone(), async {
            measure(Category::Dao, "inside", async {}).await;
            measure(Category::Plugin, "not asked for", async {}).await;
        })
        .await;
        let json = parsed(&profile);
        let raw = json["rawData"].as_array().expect("rawData");
        assert_eq!(raw.len(), 1);
        assert_eq!(raw[0]["name"], json!("DAO:inside"));
    }
}
