//! Form input: one extractor whose rejection is a Chinese page, field errors shown beside fields,
//! and the small parsers of selects and checkboxes every stage's forms share.

use crate::error::AppError;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

/// Like axum-extra's `Form` (repeated keys → `Vec`), but a malformed body is a 400 in Chinese.
pub struct Form<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Form<T> {
    type Rejection = AppError;
    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        match axum_extra::extract::Form::<T>::from_request(req, state).await {
            Ok(f) => Ok(Form(f.0)),
            Err(e) => {
                tracing::debug!(error = %e, "form rejected");
                // A body cut off by the size limit (e.g. chunked, with no Content-Length to refuse up front).
                if axum::response::IntoResponse::into_response(e).status()
                    == axum::http::StatusCode::PAYLOAD_TOO_LARGE
                {
                    return Err(AppError::TooLarge);
                }
                Err(AppError::BadRequest(
                    "提交的内容无法识别，请返回重新填写。".into(),
                ))
            }
        }
    }
}

/// Messages keyed by field name; templates ask `errors.get("field")` (empty when fine).
#[derive(Default, Debug)]
pub struct Errors(Vec<(&'static str, String)>);

impl Errors {
    pub fn add(&mut self, field: &'static str, message: impl Into<String>) {
        if self.get(field).is_empty() {
            self.0.push((field, message.into()));
        }
    }
    pub fn get(&self, field: &str) -> &str {
        self.0
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, m)| m.as_str())
            .unwrap_or("")
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.0.iter().map(|(f, m)| (*f, m.as_str()))
    }
}

/// An error of a refused form as the summary at its top lists it: the id of the field it links
/// to, and the message.
pub struct ErrorLink {
    pub target: String,
    pub text: String,
}

/// Trim a text field and check its length in characters (not bytes: Chinese is 3 bytes a character).
pub fn text(
    errors: &mut Errors,
    field: &'static str,
    label: &str,
    value: &str,
    min: usize,
    max: usize,
) -> String {
    let v = value.trim().to_owned();
    let n = v.chars().count();
    if n < min {
        errors.add(field, format!("请填写{label}"));
    } else if n > max {
        errors.add(field, format!("{label}不能超过 {max} 个字"));
    }
    v
}

/// An `<option>` of a select: id and label.
pub struct Choice {
    pub id: i64,
    pub label: String,
}

/// Parse an optional id from a select ("" means none).
pub fn opt_id(s: &str) -> Option<i64> {
    s.trim().parse().ok()
}

/// The ids of a multi-select (repeated keys), without duplicates; `None` if any is not a number.
pub fn ids(values: &[String]) -> Option<Vec<i64>> {
    let mut out: Vec<i64> = Vec::with_capacity(values.len());
    for v in values.iter().map(|v| v.trim()).filter(|v| !v.is_empty()) {
        let id = v.parse().ok()?;
        if !out.contains(&id) {
            out.push(id);
        }
    }
    Some(out)
}

/// A unique constraint refused the row (another request won a race the pre-check could not see).
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.code().as_deref() == Some("23505"))
}

/// A checkbox is present ("1") when ticked and absent otherwise.
pub fn checked(value: &str) -> bool {
    !value.trim().is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_counts_characters_not_bytes() {
        let mut e = Errors::default();
        assert_eq!(text(&mut e, "name", "姓名", "  张三丰 ", 1, 3), "张三丰");
        assert!(e.is_empty());
        text(&mut e, "name", "姓名", "张三丰四", 1, 3);
        assert_eq!(e.get("name"), "姓名不能超过 3 个字");
        text(&mut e, "title", "职务", "  ", 1, 10);
        assert_eq!(e.get("title"), "请填写职务");
        assert_eq!(e.get("other"), "");
    }
}
