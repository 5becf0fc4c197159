//! Kill Bill's paged listings on the wire (JaxRsResourceBase.buildStreamingPaginationResponse
//! and JaxrsUriBuilder.nextPage): the `offset` and `limit` query parameters, and a page as its
//! JSON array with the `X-Killbill-Pagination-*` headers, `NextOffset` and `NextPageUri` only
//! when a next page exists.
//!
//! This file only shapes requests and responses; which items a page holds is `service`'s.

use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use super::error::{ApiError, Result};
use super::extract::{encode_uri_component, QueryPairs};
use crate::service::{Page, PageRequest};

/// `offset` (default 0) and `limit` (default 100) as JAX-RS reads them: unparsable → 404.
pub fn page_request(params: &QueryPairs) -> Result<PageRequest> {
    Ok(PageRequest::new(
        params.long("offset", 0)?,
        params.long("limit", 100)?,
    ))
}

/// What the `NextPageUri` of a listing says beside the next offset: the listing's path, the
/// limit as given, and the parameters the resource echoes, in its order.
pub struct NextPage<'a> {
    pub path: &'a str,
    pub limit: i64,
    pub query: Vec<(&'static str, String)>,
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
pub fn page_response<T: Serialize>(page: Page<T>, next: NextPage<'_>) -> Result<Response> {
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
