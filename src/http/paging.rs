//! Kill Bill's paged listings on the wire (JaxRsResourceBase.buildStreamingPaginationResponse
//! and JaxrsUriBuilder.nextPage): the `offset` and `limit` query parameters, and a page as its
//! JSON array with the `X-Killbill-Pagination-*` headers, `NextOffset` and `NextPageUri` only
//! when a next page exists.
//!
//! [`Listing`] lets one handler serve a resource's `…/pagination` and `…/search/{searchKey}`.
//!
//! This file only shapes requests and responses; which items a page holds is `service`'s.

use axum::extract::{FromRequestParts, MatchedPath};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use super::audit::audit_level_name;
use super::error::{ApiError, Result};
use super::extract::{encode_uri_component, OptionalKbPath, QueryPairs};
use crate::service::{AuditLevel, Page, PageRequest};

/// `offset` (default 0) and `limit` (default 100) as JAX-RS reads them: unparsable → 404.
pub fn page_request(params: &QueryPairs) -> Result<PageRequest> {
    Ok(PageRequest::new(
        params.long("offset", 0)?,
        params.long("limit", 100)?,
    ))
}

/// What the `NextPageUri` of a listing says beside the next offset: the listing's path, the
/// limit as given, and the parameters the resource echoes, in its order.
struct NextPage<'a> {
    path: &'a str,
    limit: i64,
    query: Vec<(&'static str, String)>,
}

impl NextPage<'_> {
    fn uri(&self, offset: i64) -> String {
        let mut uri = format!("{}?offset={offset}&limit={}", self.path, self.limit);
        for (name, value) in &self.query {
            uri.push_str(&format!("&{name}={}", encode_uri_component(value)));
        }
        uri
    }
}

/// The page's items as a JSON array with Kill Bill's pagination headers.
fn page_response<T: Serialize>(page: Page<T>, next: NextPage<'_>) -> Result<Response> {
    let mut headers = HeaderMap::new();
    let mut put = |name: &'static str, value: String| -> Result<()> {
        let value = header::HeaderValue::from_str(&value)
            .map_err(|error| ApiError::InvalidParameter(error.to_string()))?;
        headers.insert(name, value);
        Ok(())
    };
    put(
        "X-Killbill-Pagination-CurrentOffset",
        page.offset.to_string(),
    )?;
    put(
        "X-Killbill-Pagination-TotalNbRecords",
        page.total.to_string(),
    )?;
    put("X-Killbill-Pagination-MaxNbRecords", page.max.to_string())?;
    if let Some(offset) = page.next_offset {
        put("X-Killbill-Pagination-NextOffset", offset.to_string())?;
        put("X-Killbill-Pagination-NextPageUri", next.uri(offset))?;
    }
    Ok((headers, Json(page.items)).into_response())
}

/// Which listing a `…/pagination` or `…/search/{searchKey}` route serves: the search key (none
/// on `/pagination`), and the listing's path as the next page's URI names it (the route with
/// the key put back, encoded). One handler per resource serves both routes.
pub struct Listing {
    pub search: Option<String>,
    path: String,
}

impl<S: Send + Sync> FromRequestParts<S> for Listing {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self> {
        let OptionalKbPath(search) = OptionalKbPath::from_request_parts(parts, state).await?;
        let route = match parts.extensions.get::<MatchedPath>() {
            Some(matched) => matched.as_str().to_string(),
            None => parts.uri.path().to_string(),
        };
        let path = match &search {
            Some(key) => format!(
                "{}{}",
                route.trim_end_matches("{*search_key}"),
                encode_uri_component(key)
            ),
            None => route,
        };
        Ok(Listing { search, path })
    }
}

impl Listing {
    /// `page` with Kill Bill's pagination headers; the next page's URI carries `limit` as
    /// given, then `echoed` and `audit`, as every paged resource of Kill Bill echoes them.
    pub fn respond<T: Serialize>(
        &self,
        page: Page<T>,
        limit: i64,
        mut echoed: Vec<(&'static str, String)>,
        audit: AuditLevel,
    ) -> Result<Response> {
        echoed.push(("audit", audit_level_name(audit).to_string()));
        let next = NextPage {
            path: &self.path,
            limit,
            query: echoed,
        };
        page_response(page, next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_pages_carry_the_echoed_parameters_encoded() {
        let next = NextPage {
            path: "/1.0/kb/tags/search/a%20b",
            limit: -2,
            query: vec![
                ("audit", "NONE".to_string()),
                ("pluginName", "a b".to_string()),
            ],
        };
        assert_eq!(
            next.uri(4),
            "/1.0/kb/tags/search/a%20b?offset=4&limit=-2&audit=NONE&pluginName=a%20b"
        );
    }

    #[test]
    fn a_next_page_exists_while_the_offset_and_limit_stay_below_the_total() {
        let page = Page::new(vec![1, 2], PageRequest::new(0, 2), 5, 9);
        assert_eq!(page.next_offset, Some(2));
        let last = Page::new(vec![5], PageRequest::new(4, 2), 5, 9);
        assert_eq!(last.next_offset, None);
        let backwards = PageRequest::new(-3, -2);
        assert_eq!((backwards.offset, backwards.size()), (0, 2));
        assert!(backwards.descending());
    }
}
