//! Fuzzed request bodies on the account and payment-method writes: random JSON, wrong types,
//! over-long strings, unknown fields, broken bytes. Every answer is below 500, and a refused
//! request leaves every stored row as it was.
//!
//! The bodies come from a seeded generator, so a failure names the seed and the case that
//! reproduces it.

use reqwest::{Method, StatusCode};
use serde_json::{json, Map, Value};

use crate::harness::{expect_status, TestApp, ACCOUNT_FIELDS, PAYMENT_METHOD_FIELDS};

/// xorshift64*: deterministic, dependency-free, good enough to pick shapes.
struct Generator(u64);

impl Generator {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    fn string(&mut self) -> String {
        let length = match self.below(4) {
            0 => 0,
            1 => self.below(12) as usize,
            2 => 250 + self.below(20) as usize,
            _ => 1_000 + self.below(3_000) as usize,
        };
        let alphabet = [
            'a', 'Z', '7', ' ', '%', '_', 'é', '€', '😀', '"', '\\', '\u{0}',
        ];
        (0..length).map(|_| *self.pick(&alphabet)).collect()
    }

    fn scalar(&mut self) -> Value {
        match self.below(9) {
            0 => Value::Null,
            1 => json!(self.below(2) == 0),
            2 => json!(self.next() as i64),
            3 => json!(-(self.below(40) as i64)),
            4 => json!(1.5e300),
            5 => json!(self.string()),
            6 => json!(*self.pick(&["USD", "usd", "XXX", "EUR", "", "US"])),
            7 => json!(*self.pick(&["UTC", "Europe/Paris", "Mars/Olympus", "+01:00", ""])),
            _ => json!(*self.pick(&[
                "2024-02-30T00:00:00.000Z",
                "2024-01-01T00:00:00.000Z",
                "not a date",
                "00000000-0000-0000-0000-000000000000",
                "__EXTERNAL_PAYMENT__",
            ])),
        }
    }

    fn value(&mut self, depth: u32) -> Value {
        if depth == 0 {
            return self.scalar();
        }
        match self.below(6) {
            0 => Value::Array((0..self.below(4)).map(|_| self.value(depth - 1)).collect()),
            1 => {
                let mut object = Map::new();
                for _ in 0..self.below(4) {
                    let key = self.string();
                    object.insert(key, self.value(depth - 1));
                }
                Value::Object(object)
            }
            _ => self.scalar(),
        }
    }

    /// An object over `fields` (and some unknown ones), each with a random value.
    fn object_over(&mut self, fields: &[&str]) -> Value {
        let mut object = Map::new();
        for _ in 0..self.below(8) {
            let field = if self.below(6) == 0 {
                format!("unknown{}", self.below(5))
            } else {
                self.pick(fields).to_string()
            };
            object.insert(field, self.value(2));
        }
        Value::Object(object)
    }

    /// The body bytes of one case: mostly objects over the resource's fields, some random
    /// JSON, some broken JSON.
    fn body(&mut self, fields: &[&str]) -> Vec<u8> {
        match self.below(10) {
            0 => serde_json::to_vec(&self.value(3)).unwrap_or_default(),
            1 => {
                let mut bytes = serde_json::to_vec(&self.object_over(fields)).unwrap_or_default();
                let cut = self.below(bytes.len() as u64 + 1) as usize;
                bytes.truncate(cut);
                bytes
            }
            2 => vec![0xff, 0xfe, b'{', b'}'],
            _ => serde_json::to_vec(&self.object_over(fields)).unwrap_or_default(),
        }
    }
}

/// Everything a refused write must leave untouched: row counts of every table the writes
/// touch (bus entries live or dispatched), and the target account's full row.
async fn snapshot(app: &TestApp, account_id: &str) -> Vec<String> {
    let client = app.db.client().await;
    let mut state = Vec::new();
    for table in [
        "accounts",
        "account_history",
        "payment_methods",
        "payment_method_history",
        "audit_log",
        // Dispatch moves entries from the live table to history at any time: one statement
        // counts both at one instant.
        "(select record_id from bus_events union all select record_id from bus_events_history) as bus",
    ] {
        let row = client
            .query_one(&format!("select count(*) from {table}"), &[])
            .await
            .expect("count");
        state.push(format!("{table}: {}", row.get::<_, i64>(0)));
    }
    let row = client
        .query_one(
            "select row_to_json(a)::text from accounts a where id::text = $1",
            &[&account_id],
        )
        .await
        .expect("the target account");
    state.push(row.get(0));
    state
}

#[tokio::test]
async fn fuzzed_account_and_payment_method_bodies_never_fail_and_refusals_change_nothing() {
    const SEED: u64 = 0x5eed_f122_ba11_0042;
    const CASES: usize = 240;
    let app = TestApp::spawn_with_tenant().await;
    let created = expect_status(
        app.kb(Method::POST, "/1.0/kb/accounts")
            .json(&json!({"externalKey": "fuzz-target", "currency": "USD"}))
            .send()
            .await
            .expect("create"),
        StatusCode::CREATED,
    )
    .await;
    let location = crate::harness::header(&created, "location");
    let account_id = location.rsplit('/').next().expect("an id").to_string();

    let mut generator = Generator(SEED);
    let mut before = snapshot(&app, &account_id).await;
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for case in 0..CASES {
        let (method, path, fields) = match generator.below(3) {
            0 => (Method::POST, "/1.0/kb/accounts".to_string(), ACCOUNT_FIELDS),
            1 => (
                Method::PUT,
                format!("/1.0/kb/accounts/{account_id}"),
                ACCOUNT_FIELDS,
            ),
            _ => (
                Method::POST,
                format!("/1.0/kb/accounts/{account_id}/paymentMethods"),
                PAYMENT_METHOD_FIELDS,
            ),
        };
        let body = generator.body(fields);
        let shown = String::from_utf8_lossy(&body)
            .chars()
            .take(300)
            .collect::<String>();
        let response = app
            .kb(method.clone(), &path)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("an answer");
        let status = response.status();
        *statuses.entry(status.as_u16()).or_default() += 1;
        let text = response.text().await.unwrap_or_default();
        assert!(
            status.as_u16() < 500,
            "seed {SEED:#x} case {case}: {method} {path} {shown} answered {status}: {text}"
        );
        let after = snapshot(&app, &account_id).await;
        if status.is_client_error() {
            assert_eq!(
                before, after,
                "seed {SEED:#x} case {case}: refused {method} {path} {shown} ({status}) changed rows"
            );
            let error: Value = serde_json::from_str(&text).unwrap_or_else(|_| {
                panic!("case {case}: a refusal carries Kill Bill's error JSON, got {text}")
            });
            assert!(
                error.get("message").is_some() && error.get("causeMessage").is_some(),
                "case {case}: {error}"
            );
        }
        before = after;
    }
    // The generator must reach both sides, or the test proves nothing.
    let refused: usize = statuses
        .iter()
        .filter(|(status, _)| (400..500).contains(*status))
        .map(|(_, count)| count)
        .sum();
    let accepted: usize = statuses
        .iter()
        .filter(|(status, _)| (200..300).contains(*status))
        .map(|(_, count)| count)
        .sum();
    assert!(
        refused > CASES / 4 && accepted > 5,
        "statuses: {statuses:?}"
    );
}
