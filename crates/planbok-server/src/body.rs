//! The JSON body extractor: `application/json` only, at most 1 MiB, and errors with our
//! codes (`malformed_json` for syntax, `invalid_request` naming the field for shape,
//! `payload_too_large`, `unsupported_media_type`). It keeps the parsed JSON value too, for
//! the idempotency fingerprint.

use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use planbok_api::{ErrorCode, MAX_BODY_BYTES};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::ApiError;

/// A parsed body and its JSON value.
#[derive(Debug)]
pub struct Body<T> {
    /// The typed body.
    pub value: T,
    /// The same body as JSON.
    pub json: Value,
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, ApiError> {
        let is_json = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"));
        if !is_json {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                "the body must be application/json",
            ));
        }
        let bytes = axum::body::to_bytes(req.into_body(), MAX_BODY_BYTES)
            .await
            .map_err(|_| {
                ApiError::new(
                    ErrorCode::PayloadTooLarge,
                    format!("the body is over {MAX_BODY_BYTES} bytes"),
                )
            })?;
        let json: Value = serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::new(ErrorCode::MalformedJson, format!("malformed JSON: {e}")))?;
        if !json.is_object() {
            return Err(ApiError::invalid("the body must be a JSON object"));
        }
        // Most bodies hold no `8.0`: copied only when one does.
        let typed = if has_integral_float(&json) {
            std::borrow::Cow::Owned(integral(json.clone()))
        } else {
            std::borrow::Cow::Borrowed(&json)
        };
        let value = serde_path_to_error::deserialize(typed.as_ref()).map_err(|e| {
            let path = e.path().to_string();
            if path == "." {
                ApiError::invalid(e.into_inner().to_string())
            } else {
                ApiError::invalid(format!("{path}: {}", e.into_inner()))
            }
        })?;
        Ok(Body { value, json })
    }
}

/// Whether `v` holds a float with no fractional part (what [`integral`] rewrites).
fn has_integral_float(v: &Value) -> bool {
    match v {
        Value::Number(n) => n.as_f64().is_some_and(|f| n.is_f64() && f.fract() == 0.0),
        Value::Array(items) => items.iter().any(has_integral_float),
        Value::Object(m) => m.values().any(has_integral_float),
        _ => false,
    }
}

/// `v` with every number that has no fractional part written as an integer (`8.0` → `8`):
/// JSON, and the OpenAPI document's `integer`, do not tell them apart; serde's integer
/// types do.
fn integral(v: Value) -> Value {
    match v {
        Value::Number(n) if n.is_f64() => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f >= 0.0 && f <= u64::MAX as f64 => {
                Value::from(f as u64)
            }
            Some(f) if f.fract() == 0.0 && f < 0.0 && f >= i64::MIN as f64 => Value::from(f as i64),
            _ => Value::Number(n),
        },
        Value::Array(items) => Value::Array(items.into_iter().map(integral).collect()),
        Value::Object(m) => Value::Object(m.into_iter().map(|(k, v)| (k, integral(v))).collect()),
        v => v,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn integral_numbers_become_integers_and_fractions_stay() {
        let v =
            super::integral(json!({"a": 8.0, "b": [1.5, -2.0, 3], "c": {"d": 1e3}, "e": "8.0"}));
        assert_eq!(
            v,
            json!({"a": 8, "b": [1.5, -2, 3], "c": {"d": 1000}, "e": "8.0"})
        );
        assert!(v["a"].is_u64());
        assert!(v["b"][1].is_i64());
        assert!(v["b"][0].is_f64());
        assert!(!super::has_integral_float(&v));
        assert!(super::has_integral_float(&json!({"x": [{"y": 2.0}]})));
        assert!(!super::has_integral_float(&json!({"x": [1.5, 2, "3.0"]})));
    }
}
