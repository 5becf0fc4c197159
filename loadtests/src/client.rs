//! The Kill Bill REST calls the scenarios make, as ready-to-send `reqwest` requests carrying
//! the right authentication headers, plus the one-off setup call that obtains a tenant.
//! Timing and error accounting are the runner's job, not this module's.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use reqwest::{Client, Method, RequestBuilder, StatusCode};

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

/// The gateway's always-approved test card (docs/gateway.md).
const TEST_CARD: &str = "4242424242424242";
/// Kill Bill's profiling request header; its answer comes back in `X-Killbill-Profiling-Resp`.
const PROFILING_HEADER: &str = "X-Killbill-Profiling-Req";

#[derive(Debug, Clone)]
pub struct KillBill {
    http: Client,
    base_url: String,
    user: String,
    password: String,
    /// `X-Killbill-Profiling-Req` sent on every request, to measure what profiling costs.
    profiling: Option<String>,
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
            profiling: None,
        })
    }

    /// Sends `X-Killbill-Profiling-Req: {value}` on every tenant-scoped request from now on.
    pub fn with_profiling(mut self, value: Option<String>) -> Self {
        self.profiling = value;
        self
    }

    /// A tenant-scoped request: Basic auth, the tenant's key and secret, the audit user, and
    /// the profiling header when asked for.
    fn kb(&self, method: Method, path: &str, tenant: &TenantCredentials) -> RequestBuilder {
        let request = self
            .http
            .request(method, format!("{}{path}", self.base_url))
            .basic_auth(&self.user, Some(&self.password))
            .header("X-Killbill-ApiKey", &tenant.api_key)
            .header("X-Killbill-ApiSecret", &tenant.api_secret)
            .header("X-Killbill-CreatedBy", CREATED_BY);
        match &self.profiling {
            Some(value) => request.header(PROFILING_HEADER, value),
            None => request,
        }
    }

    pub fn create_account(&self, tenant: &TenantCredentials, external_key: &str) -> RequestBuilder {
        self.kb(Method::POST, "/1.0/kb/accounts", tenant)
            .json(&serde_json::json!({
                "externalKey": external_key,
                "name": "Load Test",
                "email": "load@example.invalid",
                "currency": "USD",
            }))
    }

    pub fn get_account(&self, tenant: &TenantCredentials, account_id: &str) -> RequestBuilder {
        self.kb(
            Method::GET,
            &format!("/1.0/kb/accounts/{account_id}"),
            tenant,
        )
    }

    /// The seed's "Stripe (Default) Payment Method": a card on the simulated gateway under the
    /// Stripe plugin's name, made the account's default.
    pub fn add_card_payment_method(
        &self,
        tenant: &TenantCredentials,
        account_id: &str,
    ) -> RequestBuilder {
        let property = |key: &str, value: &str| serde_json::json!({ "key": key, "value": value });
        self.kb(
            Method::POST,
            &format!("/1.0/kb/accounts/{account_id}/paymentMethods?isDefault=true"),
            tenant,
        )
        .json(&serde_json::json!({
            "pluginName": "killbill-stripe",
            "pluginInfo": { "properties": [
                property("ccNumber", TEST_CARD),
                property("ccExpirationMonth", "12"),
                property("ccExpirationYear", "2030"),
                property("ccFirstName", "Load"),
                property("ccLastName", "Test"),
            ]},
        }))
    }

    /// Kill Bill's built-in `__EXTERNAL_PAYMENT__` method, made the account's default: payments
    /// through it call no gateway, so they cost only ferrobill and PostgreSQL.
    pub fn add_external_payment_method(
        &self,
        tenant: &TenantCredentials,
        account_id: &str,
    ) -> RequestBuilder {
        self.kb(
            Method::POST,
            &format!("/1.0/kb/accounts/{account_id}/paymentMethods?isDefault=true"),
            tenant,
        )
        .json(&serde_json::json!({ "pluginName": "__EXTERNAL_PAYMENT__" }))
    }

    /// `AUTHORIZE` or `PURCHASE` on the account's default payment method.
    pub fn create_payment(
        &self,
        tenant: &TenantCredentials,
        account_id: &str,
        transaction_type: &str,
        external_key: &str,
    ) -> RequestBuilder {
        self.kb(
            Method::POST,
            &format!("/1.0/kb/accounts/{account_id}/payments"),
            tenant,
        )
        .json(&serde_json::json!({
            "transactionType": transaction_type,
            "amount": 10,
            "currency": "USD",
            "paymentExternalKey": external_key,
        }))
    }

    pub fn capture(&self, tenant: &TenantCredentials, payment_id: &str) -> RequestBuilder {
        self.kb(
            Method::POST,
            &format!("/1.0/kb/payments/{payment_id}"),
            tenant,
        )
        .json(&serde_json::json!({ "amount": 10, "currency": "USD" }))
    }

    pub fn get_payment(&self, tenant: &TenantCredentials, payment_id: &str) -> RequestBuilder {
        self.kb(
            Method::GET,
            &format!("/1.0/kb/payments/{payment_id}"),
            tenant,
        )
    }

    /// Registers a push-notification callback, so every bus event also costs an HTTP call.
    pub fn register_callback(&self, tenant: &TenantCredentials, url: &str) -> RequestBuilder {
        self.kb(
            Method::POST,
            "/1.0/kb/tenants/registerNotificationCallback",
            tenant,
        )
        .query(&[("cb", url)])
    }

    /// `GET /1.0/threads` or `GET /1.0/metrics`: no authentication, as in Kill Bill.
    pub fn observe(&self, path: &str) -> RequestBuilder {
        self.http.get(format!("{}{path}", self.base_url))
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
        let id = location
            .as_deref()
            .and_then(id_from_location)
            .context("tenant created but the answer has no usable Location")?;
        // The first request with the tenant's secret pays for checking it (Kill Bill hashes it
        // many times, and so does ferrobill): paid here, so no measured request carries it.
        let response = self
            .http
            .get(format!(
                "{}/1.0/kb/accounts/pagination?offset=0&limit=1",
                self.base_url
            ))
            .basic_auth(&self.user, Some(&self.password))
            .header("X-Killbill-ApiKey", &tenant.api_key)
            .header("X-Killbill-ApiSecret", &tenant.api_secret)
            .send()
            .await
            .with_context(|| format!("cannot reach {}", self.base_url))?;
        if !response.status().is_success() {
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            bail!("the load tenant's first request answered {status}: {body}");
        }
        Ok(id)
    }
}

/// The last path segment of `.../1.0/kb/tenants/{id}` (or of an account's or a payment's
/// Location, which Kill Bill ends with a slash).
pub fn id_from_location(location: &str) -> Option<String> {
    let id = location.trim_end_matches('/').rsplit('/').next()?;
    (!id.is_empty()).then(|| id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_is_the_last_location_segment() {
        assert_eq!(
            id_from_location("http://h:1/1.0/kb/tenants/abc-1").as_deref(),
            Some("abc-1")
        );
        assert_eq!(
            id_from_location("http://h:1/1.0/kb/payments/p-2/").as_deref(),
            Some("p-2")
        );
        assert_eq!(id_from_location(""), None);
    }
}
