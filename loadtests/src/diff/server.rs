//! One side of the comparison: a server's base URL and credentials, the names captured from
//! its answers, and sending a [`Step`] to it. Knows HTTP, not comparison.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result};
use reqwest::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use reqwest::Client;

use super::compare::{Reply, HEADERS};
use super::normalise::Names;
use super::step::{Auth, Body, Source, Step};

/// Long enough for a payment whose plugin times out (Kill Bill's default plugin timeout is
/// 30 s, and its external plugin's `fail.timeout` sleeps one second longer).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(90);
pub const CREATED_BY: &str = "ferrobill-diff";

pub struct Server {
    /// `Kill Bill` or `ferrobill`, for messages.
    pub label: &'static str,
    pub base: String,
    user: String,
    password: String,
    http: Client,
    pub names: Names,
}

impl Server {
    pub fn new(label: &'static str, base: &str, user: &str, password: &str) -> Result<Server> {
        let http = Client::builder()
            .no_proxy()
            .timeout(REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .context("cannot build the HTTP client")?;
        let base = base.trim_end_matches('/').to_string();
        let mut names = Names::default();
        names.set("base", &base);
        Ok(Server {
            label,
            base,
            user: user.to_string(),
            password: password.to_string(),
            http,
            names,
        })
    }

    /// Sends the step (its burst at once when concurrent) and keeps what it captures. The
    /// placeholders it could not fill are returned with the replies.
    pub async fn send(&mut self, step: &Step) -> Result<(Vec<Reply>, Vec<String>)> {
        let (path, mut missing) = self.names.fill(&step.path);
        let url = format!("{}{path}", self.base);
        let mut headers = Vec::new();
        let mut basic = None;
        match &step.auth {
            Auth::None => {}
            Auth::Basic => basic = Some((self.user.clone(), self.password.clone())),
            Auth::BasicAs(user, password) => {
                basic = Some((
                    self.fill(user, &mut missing),
                    self.fill(password, &mut missing),
                ))
            }
            Auth::Tenant | Auth::Keys(..) | Auth::UserInTenant(..) => {
                basic = Some(match &step.auth {
                    Auth::UserInTenant(user, password) => (
                        self.fill(user, &mut missing),
                        self.fill(password, &mut missing),
                    ),
                    _ => (self.user.clone(), self.password.clone()),
                });
                let (key, secret) = match &step.auth {
                    Auth::Keys(key, secret) => (key.as_str(), secret.as_str()),
                    _ => ("${tenantKey}", "${tenantSecret}"),
                };
                let key = self.fill(key, &mut missing);
                let secret = self.fill(secret, &mut missing);
                headers.push(("X-Killbill-ApiKey".to_string(), key));
                headers.push(("X-Killbill-ApiSecret".to_string(), secret));
            }
        }
        if step.created_by {
            headers.push(("X-Killbill-CreatedBy".to_string(), CREATED_BY.to_string()));
        }
        for (name, value) in &step.headers {
            let value = self.fill(value, &mut missing);
            headers.push((name.clone(), value));
        }
        let (body, content_type) = match &step.body {
            Body::None => (None, None),
            Body::Json(template) => (
                Some(self.fill(template, &mut missing).into_bytes()),
                Some("application/json".to_string()),
            ),
            Body::Raw(bytes, content_type) => (Some(bytes.clone()), content_type.clone()),
        };
        let mut burst = Vec::with_capacity(step.concurrent);
        for _ in 0..step.concurrent {
            let mut request = self.http.request(step.method.clone(), &url);
            if let Some((user, password)) = &basic {
                request = request.basic_auth(user, Some(password));
            }
            for (name, value) in &headers {
                if let (Ok(name), Ok(value)) = (
                    HeaderName::from_bytes(name.as_bytes()),
                    HeaderValue::from_str(value),
                ) {
                    request = request.header(name, value);
                }
            }
            if let Some(content_type) = &content_type {
                request = request.header(CONTENT_TYPE, content_type);
            }
            if let Some(body) = &body {
                request = request.body(body.clone());
            }
            // Spawned, so the requests of a burst really overlap.
            burst.push(tokio::spawn(receive(request)));
        }
        let mut replies = Vec::with_capacity(burst.len());
        for handle in burst {
            let reply = handle
                .await
                .context("a request task failed")?
                .with_context(|| format!("{} {} {url}", self.label, step.method))?;
            replies.push(reply);
        }
        if let Some(reply) = replies.first() {
            self.capture(step, reply);
        }
        missing.sort();
        missing.dedup();
        Ok((replies, missing))
    }

    fn fill(&self, template: &str, missing: &mut Vec<String>) -> String {
        let (filled, unresolved) = self.names.fill(template);
        missing.extend(unresolved);
        filled
    }

    fn capture(&mut self, step: &Step, reply: &Reply) {
        for (name, source) in &step.captures {
            let value = match source {
                Source::Location => reply.headers.get("location").and_then(|location| {
                    location
                        .trim_end_matches('/')
                        .rsplit('/')
                        .next()
                        .map(str::to_string)
                }),
                Source::Pointer(pointer) => {
                    serde_json::from_slice::<serde_json::Value>(&reply.body)
                        .ok()
                        .and_then(|body| body.pointer(pointer).cloned())
                        .and_then(|value| match value {
                            serde_json::Value::String(text) => Some(text),
                            serde_json::Value::Null => None,
                            other => Some(other.to_string()),
                        })
                }
            };
            if let Some(value) = value.filter(|value| !value.is_empty()) {
                self.names.set(name, &value);
            }
        }
    }
}

async fn receive(request: reqwest::RequestBuilder) -> reqwest::Result<Reply> {
    let response = request.send().await?;
    let status = response.status().as_u16();
    let headers: BTreeMap<String, String> = HEADERS
        .iter()
        .filter_map(|name| {
            let value = response.headers().get(*name)?.to_str().ok()?;
            Some((name.to_string(), value.to_string()))
        })
        .collect();
    let body = response.bytes().await?.to_vec();
    Ok(Reply {
        status,
        headers,
        body,
    })
}
