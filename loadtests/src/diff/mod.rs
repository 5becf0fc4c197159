//! `ferrobill-diff`: the same scripted sequence of requests sent to a Kill Bill and to a
//! ferrobill, step by step, and every answer compared after normalising what only names an
//! object or an instant; then the push notifications each server sent to its loopback
//! callback, compared as a whole. Each difference is either documented (an id of
//! [`documented::DOCUMENTED`], explained in `docs/compatibility.md`) or not; the report
//! counts steps, same, documented and undocumented.
//!
//! Layout: [`step`] (a request and what to keep), [`script`] (the sequence), [`server`] (one
//! side), [`normalise`], [`compare`], [`documented`], [`report`]. This module only runs them.

pub mod compare;
pub mod documented;
pub mod normalise;
pub mod report;
pub mod script;
pub mod server;
pub mod step;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Result;
use serde_json::Value;

use crate::callback::CallbackReceiver;
use compare::{differences, normalise, Answer, Difference};
use report::{Classified, Report, StepOutcome};
use server::Server;
use step::Step;

/// What a run needs.
pub struct Options {
    pub killbill: String,
    pub ferrobill: String,
    pub user: String,
    pub password: String,
    /// Notifications are compared once neither receiver got one for this long.
    pub settle: Duration,
    /// The longest wait for notifications to settle.
    pub events_timeout: Duration,
    /// Where the two notification receivers listen: an address of this machine both servers
    /// can reach (loopback when they run here).
    pub callback_host: String,
    /// Prints each step as it runs.
    pub verbose: bool,
}

/// The step name under which the notifications are compared.
pub const EVENTS_STEP: &str = "events/push-notifications";

pub async fn run(options: &Options) -> Result<Report> {
    let run = run_token();
    let mut killbill = Server::new(
        "Kill Bill",
        &options.killbill,
        &options.user,
        &options.password,
    )?;
    let mut ferrobill = Server::new(
        "ferrobill",
        &options.ferrobill,
        &options.user,
        &options.password,
    )?;
    let kb_callback = CallbackReceiver::start_on(&options.callback_host, Duration::ZERO).await?;
    let fb_callback = CallbackReceiver::start_on(&options.callback_host, Duration::ZERO).await?;
    let unknown = uuid_v4_like(&run);
    for (server, callback) in [
        (&mut killbill, &kb_callback),
        (&mut ferrobill, &fb_callback),
    ] {
        server.names.set("run", &run);
        server.names.set("callback", callback.url());
        server.names.set("unknown", &unknown);
        for (name, value) in script::credentials(&run) {
            server.names.set(name, &value);
        }
    }
    let mut outcomes = Vec::new();
    for step in script::script() {
        let outcome = run_step(&step, &mut killbill, &mut ferrobill).await?;
        report_progress(options, &outcome);
        outcomes.push(outcome);
    }
    let events = compare_events(
        options,
        &mut killbill,
        &kb_callback,
        &mut ferrobill,
        &fb_callback,
    )
    .await;
    report_progress(options, &events);
    outcomes.push(events);
    // The callback is removed only once its notifications are in.
    for step in script::closing() {
        let outcome = run_step(&step, &mut killbill, &mut ferrobill).await?;
        report_progress(options, &outcome);
        outcomes.push(outcome);
    }
    Ok(Report {
        killbill: killbill.base.clone(),
        ferrobill: ferrobill.base.clone(),
        run,
        steps: outcomes,
    })
}

fn report_progress(options: &Options, outcome: &StepOutcome) {
    if options.verbose {
        let verdict = if outcome.is_same() {
            "same"
        } else if outcome.is_documented() {
            "documented"
        } else {
            "UNDOCUMENTED"
        };
        eprintln!("{verdict:>12}  {}", outcome.name);
    }
}

async fn run_step(
    step: &Step,
    killbill: &mut Server,
    ferrobill: &mut Server,
) -> Result<StepOutcome> {
    let (kb, fb) = tokio::join!(killbill.send(step), ferrobill.send(step));
    let ((kb_replies, kb_missing), (fb_replies, fb_missing)) = (kb?, fb?);
    // Roles learned from answers whose statuses differ would name the same id differently on
    // the two sides from then on: such a step teaches none.
    let learned_before = (killbill.names.clone(), ferrobill.names.clone());
    let mut kb_answers: Vec<Answer> = kb_replies
        .iter()
        .map(|reply| normalise(reply, &mut killbill.names, &step.name, step.compare))
        .collect();
    let mut fb_answers: Vec<Answer> = fb_replies
        .iter()
        .map(|reply| normalise(reply, &mut ferrobill.names, &step.name, step.compare))
        .collect();
    let mut found = Vec::new();
    if step.concurrent > 1 {
        // A burst's answers come back in any order: compare them sorted.
        let key = |answer: &Answer| format!("{} {:?}", answer.status, answer.body);
        kb_answers.sort_by_key(key);
        fb_answers.sort_by_key(key);
        for (index, (kb, fb)) in kb_answers.iter().zip(&fb_answers).enumerate() {
            for mut difference in differences(kb, fb, step.compare) {
                difference.aspect = format!("[{index}]{}", difference.aspect);
                found.push(difference);
            }
        }
    } else if let (Some(kb), Some(fb)) = (kb_answers.first(), fb_answers.first()) {
        found = differences(kb, fb, step.compare);
    }
    let mut kb_statuses: Vec<u16> = kb_replies.iter().map(|reply| reply.status).collect();
    let mut fb_statuses: Vec<u16> = fb_replies.iter().map(|reply| reply.status).collect();
    kb_statuses.sort_unstable();
    fb_statuses.sort_unstable();
    if kb_statuses != fb_statuses {
        killbill.names.forget_roles_since(&learned_before.0);
        ferrobill.names.forget_roles_since(&learned_before.1);
    }
    let mut unresolved: Vec<String> = kb_missing
        .iter()
        .map(|name| format!("Kill Bill: ${{{name}}}"))
        .chain(
            fb_missing
                .iter()
                .map(|name| format!("ferrobill: ${{{name}}}")),
        )
        .collect();
    unresolved.sort();
    Ok(StepOutcome {
        request: format!("{} {}", step.method, step.path),
        differences: classify(&step.name, found),
        name: step.name.clone(),
        unresolved,
    })
}

fn classify(step: &str, found: Vec<Difference>) -> Vec<Classified> {
    found
        .into_iter()
        .map(|difference| Classified {
            documented: documented::documented_by(step, &difference),
            difference,
        })
        .collect()
}

/// Waits until neither receiver got a notification for `settle`, then compares the two
/// multisets of normalised notifications (the buses of both servers may deliver out of
/// order).
async fn compare_events(
    options: &Options,
    killbill: &mut Server,
    kb_callback: &CallbackReceiver,
    ferrobill: &mut Server,
    fb_callback: &CallbackReceiver,
) -> StepOutcome {
    let started = Instant::now();
    let mut last = (kb_callback.received(), fb_callback.received());
    let mut quiet_since = Instant::now();
    while started.elapsed() < options.events_timeout && quiet_since.elapsed() < options.settle {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let now = (kb_callback.received(), fb_callback.received());
        if now != last {
            last = now;
            quiet_since = Instant::now();
        }
    }
    let kb_events = events(&kb_callback.bodies(), &mut killbill.names);
    let fb_events = events(&fb_callback.bodies(), &mut ferrobill.names);
    let mut found = Vec::new();
    let mut all: BTreeMap<&String, (usize, usize)> = BTreeMap::new();
    for event in &kb_events {
        all.entry(event).or_default().0 += 1;
    }
    for event in &fb_events {
        all.entry(event).or_default().1 += 1;
    }
    for (event, (kb, fb)) in all {
        if kb != fb {
            let event_type = serde_json::from_str::<Value>(event)
                .ok()
                .and_then(|value| value["eventType"].as_str().map(str::to_string))
                .unwrap_or_else(|| "?".to_string());
            found.push(Difference {
                aspect: format!("event:{event_type}"),
                killbill: format!("{kb}× {event}"),
                ferrobill: format!("{fb}× {event}"),
            });
        }
    }
    StepOutcome {
        name: EVENTS_STEP.to_string(),
        request: format!(
            "the notifications of the main tenant's callback ({} from Kill Bill, {} from ferrobill)",
            kb_events.len(),
            fb_events.len()
        ),
        differences: classify(EVENTS_STEP, found),
        unresolved: Vec::new(),
    }
}

/// Each notification body normalised, as compact JSON (or text when it is not JSON). The id
/// of a tenant key-value (TENANT_CONFIG_CHANGE) is shown nowhere else in the API, so it only
/// keeps its type; numbers compare as numbers (`10.50` is `10.5`).
fn events(bodies: &[Vec<u8>], names: &mut normalise::Names) -> Vec<String> {
    bodies
        .iter()
        .map(|body| match serde_json::from_slice::<Value>(body) {
            Ok(mut value) => {
                if value["objectType"] == "TENANT_KVS" && value["objectId"].is_string() {
                    value["objectId"] = Value::String("{tenant key-value id}".to_string());
                }
                numbers_as_floats(names.json(&value, EVENTS_STEP, "")).to_string()
            }
            Err(_) => names.string(&String::from_utf8_lossy(body), EVENTS_STEP),
        })
        .collect()
}

fn numbers_as_floats(value: Value) -> Value {
    match value {
        Value::Number(number) => number
            .as_f64()
            .and_then(serde_json::Number::from_f64)
            .map_or(Value::Number(number), Value::Number),
        Value::String(text) => match text.strip_prefix("(json)") {
            Some(inner) => match serde_json::from_str::<Value>(inner) {
                Ok(inner) => Value::String(format!("(json){}", numbers_as_floats(inner))),
                Err(_) => Value::String(text),
            },
            None => Value::String(text),
        },
        Value::Array(items) => Value::Array(items.into_iter().map(numbers_as_floats).collect()),
        Value::Object(fields) => Value::Object(
            fields
                .into_iter()
                .map(|(key, item)| (key, numbers_as_floats(item)))
                .collect(),
        ),
        other => other,
    }
}

/// A token unique to this run, in every key the script creates, so runs never collide on a
/// server that keeps its data (Kill Bill's keys are unique per server, not per run). Short:
/// tag definition names, which carry it, have 20 characters at most.
fn run_token() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|since| since.as_nanos())
        .unwrap_or_default();
    let mixed = (nanos as u64) ^ (nanos >> 64) as u64 ^ u64::from(std::process::id()) << 40;
    format!("d{:09x}", mixed & 0xf_ffff_ffff)
}

/// A UUID no server knows, the same on both sides, derived from the run token.
fn uuid_v4_like(run: &str) -> String {
    let mut digits: String = run
        .bytes()
        .flat_map(|byte| format!("{byte:02x}").into_bytes())
        .map(char::from)
        .rev()
        .collect();
    while digits.len() < 32 {
        digits.push('7');
    }
    let d = &digits[..32];
    format!(
        "{}-{}-4{}-8{}-{}",
        &d[0..8],
        &d[8..12],
        &d[13..16],
        &d[17..20],
        &d[20..32]
    )
}
