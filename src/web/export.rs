//! Exports of personal data (DESIGN §7) are POSTs that answer only to this site's own pages: a
//! request whose `Sec-Fetch-Site` is present and not `same-origin`, or — browsers omit
//! `Sec-Fetch-*` on plain-HTTP intranets — whose `Origin` names another site, is refused with 403.
//! Every export handler takes `SameOrigin`; the pages post their filters as hidden fields.

use crate::error::AppError;
use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::header::{HOST, ORIGIN};
use axum::http::request::Parts;

/// The request came from this site's own page (see the module comment).
pub struct SameOrigin;

/// Whether `headers` show a request from this site's own page; no header at all is a client
/// that is not a browser (no cross-site forgery without a browser).
pub fn same_origin(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        return site.as_bytes() == b"same-origin";
    }
    let Some(origin) = headers.get(ORIGIN) else {
        return true;
    };
    let authority = origin.to_str().ok().and_then(|o| {
        o.strip_prefix("https://")
            .or_else(|| o.strip_prefix("http://"))
    });
    let host = headers.get(HOST).and_then(|h| h.to_str().ok());
    matches!((authority, host), (Some(a), Some(h)) if a.eq_ignore_ascii_case(h))
}

impl<S: Send + Sync> FromRequestParts<S> for SameOrigin {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, AppError> {
        if same_origin(&parts.headers) {
            Ok(SameOrigin)
        } else {
            Err(AppError::CrossSite)
        }
    }
}

/// Named filter values as hidden fields of an export form (the empty ones left out).
pub fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// A filter's query string as (name, value) pairs, for the hidden fields of an export form.
pub fn hidden_fields(query: &str) -> Vec<(String, String)> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(query)
        .unwrap_or_default()
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn only_this_sites_pages_may_export() {
        let host = ("host", "xf.example.gov.cn");
        assert!(same_origin(&headers(&[
            host,
            ("sec-fetch-site", "same-origin")
        ])));
        for site in ["cross-site", "same-site", "none"] {
            let h = headers(&[
                host,
                ("sec-fetch-site", site),
                ("origin", "https://xf.example.gov.cn"),
            ]);
            assert!(!same_origin(&h), "{site}");
        }
        assert!(same_origin(&headers(&[
            host,
            ("origin", "https://xf.example.gov.cn")
        ])));
        assert!(same_origin(&headers(&[
            host,
            ("origin", "http://XF.example.gov.cn")
        ])));
        for origin in [
            "https://evil.example",
            "null",
            "https://xf.example.gov.cn.evil.example",
        ] {
            assert!(
                !same_origin(&headers(&[host, ("origin", origin)])),
                "{origin}"
            );
        }
        assert!(same_origin(&headers(&[host])), "no browser");
    }

    #[test]
    fn hidden_fields_keep_the_filters_that_are_set() {
        assert_eq!(
            hidden_fields("window=&status=submitted&township=%E9%BB%84%E5%AE%85%E9%95%87"),
            vec![
                ("status".to_owned(), "submitted".to_owned()),
                ("township".to_owned(), "黄宅镇".to_owned())
            ]
        );
    }
}
