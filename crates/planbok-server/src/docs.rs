//! The OpenAPI document and an interactive API page (Swagger UI, vendored from
//! `swagger-ui-dist` so that it works with no network).

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

const BUNDLE: &[u8] = include_bytes!("../assets/swagger-ui/swagger-ui-bundle.js");
const CSS: &[u8] = include_bytes!("../assets/swagger-ui/swagger-ui.css");

const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>planbok API</title>
  <link rel="stylesheet" href="/v2/docs/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/v2/docs/swagger-ui-bundle.js"></script>
  <script src="/v2/docs/init.js"></script>
</body>
</html>
"#;

// A separate file, not inline, so a strict Content-Security-Policy can forbid inline scripts.
const INIT: &str = r##"window.ui = SwaggerUIBundle({ url: "/v2/openapi.json", dom_id: "#swagger-ui", persistAuthorization: false });
"##;

fn with_type(body: impl IntoResponse, content_type: &'static str) -> Response {
    let mut r = body.into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r.headers_mut().insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'",
        ),
    );
    r
}

/// The OpenAPI document: the same for the life of the process, built on first use.
static OPENAPI: std::sync::LazyLock<String> = std::sync::LazyLock::new(planbok_api::openapi::json);

/// `GET /v2/openapi.json`.
pub(crate) async fn openapi() -> Response {
    with_type(OPENAPI.as_str(), "application/json")
}

/// `GET /v2/docs`.
pub(crate) async fn page() -> Response {
    with_type(PAGE, "text/html; charset=utf-8")
}

/// `GET /v2/docs/{file}`.
pub(crate) async fn asset(Path(file): Path<String>) -> Result<Response, ApiError> {
    match file.as_str() {
        "swagger-ui-bundle.js" => Ok(with_type(BUNDLE, "text/javascript")),
        "swagger-ui.css" => Ok(with_type(CSS, "text/css")),
        "init.js" => Ok(with_type(INIT, "text/javascript")),
        _ => Err(ApiError::not_found("file")),
    }
    .map(|mut r| {
        *r.status_mut() = StatusCode::OK;
        r
    })
}
