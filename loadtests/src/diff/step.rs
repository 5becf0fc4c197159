//! One scripted request (or a burst of identical concurrent ones) and what to keep from its
//! answer. Steps are built with a small builder ([`step`]) so the script reads as a list of
//! requests; `${name}` placeholders in the path, headers and body are filled per server from
//! what earlier steps captured there.

use reqwest::Method;

/// Who the request claims to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// No credentials at all.
    None,
    /// Basic auth only (no tenant headers).
    Basic,
    /// Basic auth with these credentials (templates), no tenant headers.
    BasicAs(String, String),
    /// Basic auth and the main tenant's headers (`${tenantKey}`, `${tenantSecret}`).
    Tenant,
    /// Basic auth and these tenant headers (templates).
    Keys(String, String),
    /// Basic auth with these credentials (templates) and the main tenant's headers: a user
    /// created by the script, working in the main tenant.
    UserInTenant(String, String),
}

#[derive(Debug, Clone)]
pub enum Body {
    None,
    /// A JSON text (a template), sent as `application/json`.
    Json(String),
    /// Any bytes with this content type (`None`: no Content-Type header).
    Raw(Vec<u8>, Option<String>),
}

/// What to compare of the answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compare {
    /// Status, the headers that matter and the whole body (the default).
    Full,
    /// Status, headers, and the body's top-level keys only (pages whose content is the
    /// server's own: metrics, the API description, queue listings).
    TopLevelKeys,
    /// Status and headers, and the body's kind (empty, JSON, text, HTML).
    Kind,
}

/// Where a captured value comes from.
#[derive(Debug, Clone)]
pub enum Source {
    /// The last path segment of `Location`.
    Location,
    /// A JSON pointer into the body.
    Pointer(&'static str),
}

#[derive(Debug, Clone)]
pub struct Step {
    /// Unique, stable: `area/what`, e.g. `accounts/create-array-body`. Documented differences
    /// name steps by it.
    pub name: String,
    pub method: Method,
    /// Path and query, a template.
    pub path: String,
    pub auth: Auth,
    /// `X-Killbill-CreatedBy` (on by default for writes).
    pub created_by: bool,
    pub headers: Vec<(String, String)>,
    pub body: Body,
    pub captures: Vec<(String, Source)>,
    pub compare: Compare,
    /// How many identical requests to send at once (1: a plain request).
    pub concurrent: usize,
}

/// A request as the main tenant, with `X-Killbill-CreatedBy` on writes.
pub fn step(name: &str, method: Method, path: &str) -> Step {
    let write = method != Method::GET;
    Step {
        name: name.to_string(),
        method,
        path: path.to_string(),
        auth: Auth::Tenant,
        created_by: write,
        headers: Vec::new(),
        body: Body::None,
        captures: Vec::new(),
        compare: Compare::Full,
        concurrent: 1,
    }
}

pub fn get(name: &str, path: &str) -> Step {
    step(name, Method::GET, path)
}

pub fn post(name: &str, path: &str) -> Step {
    step(name, Method::POST, path)
}

pub fn put(name: &str, path: &str) -> Step {
    step(name, Method::PUT, path)
}

pub fn delete(name: &str, path: &str) -> Step {
    step(name, Method::DELETE, path)
}

impl Step {
    pub fn json(mut self, body: &str) -> Step {
        self.body = Body::Json(body.to_string());
        self
    }

    pub fn raw(mut self, body: impl Into<Vec<u8>>, content_type: Option<&str>) -> Step {
        self.body = Body::Raw(body.into(), content_type.map(str::to_string));
        self
    }

    pub fn auth(mut self, auth: Auth) -> Step {
        self.auth = auth;
        self
    }

    pub fn no_created_by(mut self) -> Step {
        self.created_by = false;
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Step {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Keeps the id at the end of `Location` as `${name}`.
    pub fn location_as(mut self, name: &str) -> Step {
        self.captures.push((name.to_string(), Source::Location));
        self
    }

    /// Keeps the string at this JSON pointer as `${name}`.
    pub fn capture(mut self, pointer: &'static str, name: &str) -> Step {
        self.captures
            .push((name.to_string(), Source::Pointer(pointer)));
        self
    }

    pub fn compare(mut self, compare: Compare) -> Step {
        self.compare = compare;
        self
    }

    pub fn concurrent(mut self, count: usize) -> Step {
        self.concurrent = count.max(1);
        self
    }
}
