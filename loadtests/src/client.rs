//! The Kill Bill REST calls the scenarios make, as ready-to-send `reqwest` requests carrying
//! the right authentication headers, plus the one-off setup call that obtains a tenant.
//! Timing and error accounting are the runner's job, not this module's.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use reqwest::{Client, RequestBuilder, StatusCode};

/// Generous so that a saturated server shows up as slow samples rather than as timeouts;
/// the run's hard deadline still bounds how long a stuck request can hold a user.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const CREATED_BY: &str = "ferrobill-load";

/// A tenant's API key and secret: the headers Kill Bill wants on tenant-scoped calls.
#[derive(Debug, Clone)]
pub struct TenantCredentials {
    pub api_key: String,
    pub api_secret: String,
}

#[derive(Debug, Clone)]
pub struct KillBill {
    http: Client,
    base_url: String,
    user: String,
    password: String,
}

impl KillBill {
    pub fn new(base_url: &str, user: &str, password: &str) -> Result<Self> {
        // One client for all users: its connection pool keeps one keep-alive connection per
        // concurrently busy user, like a browser-less JMeter thread group.
        let http = Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .context("cannot build the HTTP client")?;
        Ok(KillBill {
            http,
            base_url: base_url.trim_end_matches('/').to_string(),
            user: user.to_string(),
            password: password.to_string(),
        })
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn healthcheck(&self) -> RequestBuilder {
        self.http.get(format!("{}/1.0/healthcheck", self.base_url))
    }

    pub fn create_tenant(&self, api_key: &str, api_secret: &str) -> RequestBuilder {
        self.http
            .post(format!("{}/1.0/kb/tenants", self.base_url))
            .basic_auth(&self.user, Some(&self.password))
            .header("X-Killbill-CreatedBy", CREATED_BY)
            .json(&serde_json::json!({ "apiKey": api_key, "apiSecret": api_secret }))
    }

    pub fn get_tenant(&self, id: &str, tenant: &TenantCredentials) -> RequestBuilder {
        self.http
            .get(format!("{}/1.0/kb/tenants/{id}", self.base_url))
            .basic_auth(&self.user, Some(&self.password))
            .header("X-Killbill-ApiKey", &tenant.api_key)
            .header("X-Killbill-ApiSecret", &tenant.api_secret)
    }

    /// Creates the tenant the run works in and returns its id; fails loudly, since nothing
    /// else can work then.
    pub async fn setup_tenant(&self, tenant: &TenantCredentials) -> Result<String> {
        let response = self
            .create_tenant(&tenant.api_key, &tenant.api_secret)
            .send()
            .await
            .with_context(|| format!("cannot reach {}", self.base_url))?;
        let status = response.status();
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|value| value.to_str().ok())
            .map(str::to_string);
        if status != StatusCode::CREATED {
            let body = response.text().await.unwrap_or_default();
            bail!("creating the load tenant answered {status}: {body}");
        }
        location
            .as_deref()
            .and_then(tenant_id_from_location)
            .context("tenant created but the answer has no usable Location")
    }
}

/// The last path segment of `.../1.0/kb/tenants/{id}`.
pub fn tenant_id_from_location(location: &str) -> Option<String> {
    let id = location.trim_end_matches('/').rsplit('/').next()?;
    (!id.is_empty()).then(|| id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_id_is_the_last_location_segment() {
        assert_eq!(
            tenant_id_from_location("http://h:1/1.0/kb/tenants/abc-1").as_deref(),
            Some("abc-1")
        );
        assert_eq!(tenant_id_from_location(""), None);
    }
}
