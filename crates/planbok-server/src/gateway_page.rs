//! The Gateway page (`GET /gateway/` and its assets), served on the `[gateway]` listener:
//! its own origin, so nothing on the API's origin (or any other) can script it.
//!
//! Everything is embedded in the binary (`crates/planbok-server/gateway/`: the HTML, the
//! stylesheet, the page script, and the WebAssembly client built from
//! `planbok-gateway-web` by `scripts/build-gateway-web.sh`). The HTML is rendered once at
//! start: each asset's SHA-384 as its Subresource Integrity, the pinned Node 1 key, the
//! name. Every response of this listener, the API's JSON included, carries [`HEADERS`]: a
//! strict Content-Security-Policy (no inline script, nothing off this origin, no framing).

use axum::Router;
use axum::extract::{Path, Request};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use sha2::{Digest as _, Sha384};

use crate::App;
use crate::config::GatewayConfig;
use crate::error::ApiError;

const INDEX: &str = include_str!("../gateway/index.html");

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "icon.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("../gateway/icon.svg"),
    },
    Asset {
        name: "gateway.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../gateway/gateway.css"),
    },
    Asset {
        name: "gateway.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../gateway/gateway.js"),
    },
    Asset {
        name: "planbok_gateway_web.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../gateway/pkg/planbok_gateway_web.js"),
    },
    Asset {
        name: "planbok_gateway_web_bg.wasm",
        content_type: "application/wasm",
        body: include_bytes!("../gateway/pkg/planbok_gateway_web_bg.wasm"),
    },
];

/// The Content-Security-Policy of every response on the Gateway's listener. Scripts only
/// from this origin (each with its integrity in the page), WebAssembly compilation
/// allowed (`'wasm-unsafe-eval'`: compiling the module, never `eval`), requests only to
/// this origin, no framing, no forms posting anywhere, DOM sinks closed (Trusted Types).
/// Images also from `blob:` URLs, which only this origin's script can make: the
/// organization's logo, which arrives in the challenge and is shown from a Blob.
pub const CSP: &str = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; \
     style-src 'self'; img-src 'self' blob:; connect-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'; require-trusted-types-for 'script'";

/// The headers every Gateway response carries.
pub const HEADERS: &[(&str, &str)] = &[
    ("content-security-policy", CSP),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
    (
        "permissions-policy",
        "camera=(), microphone=(), geolocation=(), payment=(), usb=(), clipboard-read=()",
    ),
];

/// `sha384-<base64>`: an asset's Subresource Integrity.
fn integrity(body: &[u8]) -> String {
    format!(
        "sha384-{}",
        base64::engine::general_purpose::STANDARD.encode(Sha384::digest(body))
    )
}

/// Text for an HTML attribute or element.
fn escape(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '&' => "&amp;".to_owned(),
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '"' => "&quot;".to_owned(),
            '\'' => "&#39;".to_owned(),
            c => c.to_string(),
        })
        .collect()
}

/// The page with its integrities, key and name filled in; an error names a placeholder
/// left over (an asset the page names but the binary does not carry).
pub(crate) fn render(cfg: &GatewayConfig) -> Result<String, String> {
    planbok_envelope::org_key::NodeIdentity::parse(&cfg.node_key)
        .map_err(|e| format!("[gateway] node_key: {e}"))?;
    let mut html = INDEX
        .replace("{{node_key}}", &escape(&cfg.node_key))
        .replace("{{name}}", &escape(&cfg.name));
    for a in ASSETS {
        html = html.replace(&format!("{{{{sri:{}}}}}", a.name), &integrity(a.body));
    }
    match html.find("{{") {
        Some(i) => Err(format!(
            "the Gateway page has an unfilled placeholder at byte {i}"
        )),
        None => Ok(html),
    }
}

/// `GET /gateway/` and `GET /gateway/assets/{file}`.
pub(crate) fn routes(page: String) -> Router<App> {
    let page = axum::body::Bytes::from(page);
    let index = move || {
        let page = page.clone();
        async move {
            (
                [
                    (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                    (header::CACHE_CONTROL, "no-store"),
                ],
                page,
            )
                .into_response()
        }
    };
    Router::new()
        .route("/gateway/", get(index.clone()))
        .route("/gateway", get(index))
        .route("/gateway/assets/{file}", get(asset))
}

async fn asset(Path(file): Path<String>) -> Result<Response, ApiError> {
    let a = ASSETS
        .iter()
        .find(|a| a.name == file)
        .ok_or_else(|| ApiError::not_found("file"))?;
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, a.content_type),
            // Revalidated each time: a new binary may carry new assets, and the page
            // pins each one by its hash.
            (header::CACHE_CONTROL, "no-cache"),
        ],
        a.body,
    )
        .into_response())
}

/// Adds [`HEADERS`] to every response of the Gateway's listener.
pub(crate) async fn headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    for (name, value) in HEADERS {
        res.headers_mut().insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    res
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "a test: a panic is the failure report")]
mod tests {
    use super::*;

    fn config() -> GatewayConfig {
        GatewayConfig {
            listen: "127.0.0.1:0".into(),
            node_key: planbok_envelope::org_key::NodeIdentity::of(
                &ed25519_dalek::SigningKey::from_bytes(&[7; 32]),
            )
            .to_text(),
            name: "Acme <Wallet>".into(),
        }
    }

    #[test]
    fn the_page_names_every_asset_by_its_hash_and_nothing_else() {
        let html = render(&config()).unwrap();
        for a in ASSETS {
            assert!(
                html.contains(&format!("/gateway/assets/{}", a.name)),
                "{}",
                a.name
            );
            // The icon is an image: integrity does not apply to it.
            if a.name != "icon.svg" {
                assert!(html.contains(&integrity(a.body)), "{}", a.name);
            }
        }
        // Every script and stylesheet is an asset with its integrity; none is inline.
        assert_eq!(html.matches("<script").count(), 2);
        assert_eq!(html.matches("<script src=").count(), 2);
        // Both scripts, the stylesheet, and the module (fetched with its integrity).
        assert_eq!(
            html.matches("integrity=\"sha384-").count(),
            ASSETS.len() - 1
        );
        assert!(!html.contains("style="));
        assert!(!html.contains("http://") && !html.contains("https://"));
        assert!(html.contains("Acme &lt;Wallet&gt;"));
    }

    /// Invariant 52: the page's own script does no cryptography and writes no HTML; what
    /// it shows goes in as text.
    #[test]
    fn the_page_script_does_no_crypto_and_writes_no_html() {
        let script = ASSETS.iter().find(|a| a.name == "gateway.js").unwrap();
        let script = std::str::from_utf8(script.body).unwrap();
        for banned in [
            "crypto.",
            "Math.random",
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
            "new Function",
            "localStorage",
            "sessionStorage",
            "document.cookie",
        ] {
            assert!(!script.contains(banned), "gateway.js uses {banned}");
        }
    }

    #[test]
    fn a_malformed_node_key_is_refused_at_start() {
        let mut c = config();
        c.node_key = "not-a-key".into();
        assert!(render(&c).unwrap_err().contains("node_key"));
    }
}
