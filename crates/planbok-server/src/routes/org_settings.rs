//! The organization's customer-facing settings: recovery by email and security notices by
//! email (`POST /v2/organization/email-recovery`, `…/email-notices`, one switch) and its
//! branding on the Gateway
//! (`GET`/`PUT /v2/organization/branding`, `docs/gateway.md`, "Branding").
//!
//! A logo is served to customers on the Gateway's origin, where they type their PIN: it
//! is only ever a PNG or JPEG (checked by its first bytes, never SVG, which can carry
//! script), at most [`MAX_LOGO_BYTES`], and the page shows it as an image only.

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine as _;
use planbok_api::ErrorCode;
use planbok_api::customers::GatewayOrganization;
use planbok_api::model::{
    Branding, Logo, MAX_LOGO_BYTES, SetBranding, SetEmailNotices, SetEmailRecovery,
};
use planbok_store::server::{ChallengeRecord, Commit, MailDraft, MailKind, OrgBranding, OrgFlag};

use super::orgs::{finish, load_org};
use super::{Req, convert, envelope_json, json_response, ok};
use crate::App;
use crate::audit::Op;
use crate::auth::Caller;
use crate::body::Body;
use crate::context::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::idem;
use crate::now_ms;

/// An owner's on/off switch of the organization, answered with the organization.
struct Switch {
    flag: OrgFlag,
    action: &'static str,
    on: &'static str,
    off: &'static str,
    /// The refusal to switch it on without an SMTP relay.
    no_relay: ErrorCode,
}

/// `POST /v2/organization/email-recovery`: lets the organization's customers recover a
/// forgotten PIN by an emailed code, or stops it (new email resets are refused; codes
/// already enrolled stay until a PIN commit replaces them). Owners only: it is a choice of
/// the organization's security (`docs/customer-custody.md`, "Honest strength").
pub(crate) async fn set_email_recovery(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Extension(ctx): Extension<Ctx>,
    body: Body<SetEmailRecovery>,
) -> ApiResult<Response> {
    let s = Switch {
        flag: OrgFlag::EmailRecovery,
        action: "organization.email_recovery",
        on: "Email recovery enabled",
        off: "Email recovery disabled",
        no_relay: ErrorCode::EmailRecoveryDisabled,
    };
    let b = &body.value;
    let r = Req {
        app: &app,
        caller: &caller,
        ctx: &ctx,
    };
    switch(r, s, b.idempotency_key.as_deref(), b.enabled, &body.json).await
}

/// `POST /v2/organization/email-notices`: mails the organization's customers (those with
/// an address) a notice when their PIN is changed or reset, when they are locked out and
/// when their keys are exported, or stops it. Owners only, like recovery by email.
pub(crate) async fn set_email_notices(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Extension(ctx): Extension<Ctx>,
    body: Body<SetEmailNotices>,
) -> ApiResult<Response> {
    let s = Switch {
        flag: OrgFlag::EmailNotices,
        action: "organization.email_notices",
        on: "Email notices enabled",
        off: "Email notices disabled",
        no_relay: ErrorCode::MailNotConfigured,
    };
    let b = &body.value;
    let r = Req {
        app: &app,
        caller: &caller,
        ctx: &ctx,
    };
    switch(r, s, b.idempotency_key.as_deref(), b.enabled, &body.json).await
}

/// Switches `s` on or off: idempotent, audited, refused on without an SMTP relay (both
/// switches are about mail).
async fn switch(
    r: Req<'_>,
    s: Switch,
    idempotency_key: Option<&str>,
    enabled: bool,
    json: &serde_json::Value,
) -> ApiResult<Response> {
    let Req { app, caller, ctx } = r;
    let idem = idem::begin_or_replay!(app, caller, s.action, idempotency_key, json);
    let op = Op::new(
        app,
        caller,
        ctx,
        s.action,
        Some(caller.org_id.clone()),
        serde_json::json!({ "enabled": enabled }),
    );
    let result = async {
        if enabled && app.mailer.is_none() {
            return Err(ApiError::new(
                s.no_relay,
                "this server has no SMTP relay ([smtp] in its configuration)",
            ));
        }
        let org = load_org(app, &caller.org_id).await?;
        let settings = s
            .flag
            .set(app.store.org_settings(&caller.org_id).await?, enabled);
        let message = if enabled { s.on } else { s.off };
        let text = envelope_json(StatusCode::OK, message, convert::org(&org, settings))?;
        let commit = Commit {
            audit: vec![op.draft("success", None)],
            idempotency: Some(idem.done(200, text.clone())),
            ..Commit::none()
        };
        app.store
            .set_org_flag(&caller.org_id, s.flag, enabled, now_ms(), &commit)
            .await?;
        Ok(json_response(StatusCode::OK, text))
    }
    .await;
    finish(app, &op, &idem, result).await
}

/// The security notice `kind` about `ch` to queue with its commit, when the organization
/// opted in, this server can mail, and the customer has an address; `None` otherwise.
/// Nothing secret goes in (what happened, and when).
pub(crate) async fn notice(
    app: &App,
    ch: &ChallengeRecord,
    kind: MailKind,
    now: i64,
) -> ApiResult<Option<MailDraft>> {
    if app.mailer.is_none() || !app.store.org_settings(&ch.org_id).await?.email_notices {
        return Ok(None);
    }
    let has_address = app
        .store
        .customer(&ch.org_id, &ch.customer_id)
        .await?
        .is_some_and(|c| c.email.is_some());
    Ok(has_address.then(|| crate::mail_sender::queued(ch, kind, now)))
}

/// `GET /v2/organization/branding`.
pub(crate) async fn branding(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Response> {
    let b = app.store.org_branding(&caller.org_id).await?;
    Ok(ok(StatusCode::OK, "Branding", view(&b)))
}

/// `PUT /v2/organization/branding`: replaces the branding whole.
pub(crate) async fn set_branding(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Extension(ctx): Extension<Ctx>,
    body: Body<SetBranding>,
) -> ApiResult<Response> {
    let b = body.value;
    let stored = OrgBranding {
        primary_color: b
            .primary_color
            .as_deref()
            .map(|c| readable_under_white("primaryColor", c))
            .transpose()?,
        background_color: b
            .background_color
            .as_deref()
            .map(|c| color("backgroundColor", c).map(|(hex, _)| hex))
            .transpose()?,
        logo: b.logo.as_ref().map(logo).transpose()?,
        updated_at_ms: now_ms(),
    };
    // The audit entry says what changed, never the image (its type and size only).
    let op = Op::new(
        &app,
        &caller,
        &ctx,
        "organization.branding",
        Some(caller.org_id.clone()),
        serde_json::json!({
            "primaryColor": stored.primary_color,
            "backgroundColor": stored.background_color,
            "logo": stored.logo.as_ref().map(|l| serde_json::json!({
                "mediaType": l.media_type,
                "bytes": l.bytes.len(),
            })),
        }),
    );
    let commit = Commit::audit(op.draft("success", None));
    if let Err(e) = app
        .store
        .set_org_branding(&caller.org_id, &stored, &commit)
        .await
    {
        let e = ApiError::from(e);
        op.failed(&e).await;
        return Err(e);
    }
    Ok(ok(StatusCode::OK, "Branding updated", view(&stored)))
}

/// The organization as the Gateway shows it.
pub(crate) async fn gateway_organization(
    app: &App,
    org_id: &str,
) -> ApiResult<GatewayOrganization> {
    let org = load_org(app, org_id).await?;
    let b = app.store.org_branding(org_id).await?;
    Ok(GatewayOrganization {
        name: org.name,
        branding: view(&b),
    })
}

fn view(b: &OrgBranding) -> Branding {
    Branding {
        primary_color: b.primary_color.clone(),
        background_color: b.background_color.clone(),
        logo: b.logo.as_ref().map(|l| Logo {
            media_type: l.media_type.clone(),
            data: base64::engine::general_purpose::STANDARD.encode(&l.bytes),
        }),
    }
}

/// `#rrggbb` (any case; stored lower-case) and its red, green and blue.
fn color(field: &str, s: &str) -> ApiResult<(String, [u8; 3])> {
    let bad = || ApiError::invalid(format!("{field} must be a colour #rrggbb"));
    let hex = s.strip_prefix('#').ok_or_else(bad)?;
    if hex.len() != 6 || !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
        return Err(bad());
    }
    let channel = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).map_err(|_| bad());
    Ok((
        format!("#{}", hex.to_ascii_lowercase()),
        [channel(0)?, channel(2)?, channel(4)?],
    ))
}

/// WCAG 2 relative luminance of an sRGB colour.
fn luminance(rgb: [u8; 3]) -> f64 {
    let lin = |c: u8| {
        let c = f64::from(c) / 255.0;
        if c <= 0.04045 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * lin(rgb[0]) + 0.7152 * lin(rgb[1]) + 0.0722 * lin(rgb[2])
}

/// The least contrast of white text on the primary colour (WCAG AA, normal text).
const MIN_CONTRAST: f64 = 4.5;

/// White text on it reads at least [`MIN_CONTRAST`]:1 (the Gateway's buttons).
fn readable_under_white(field: &str, s: &str) -> ApiResult<String> {
    let (hex, rgb) = color(field, s)?;
    let contrast = 1.05 / (luminance(rgb) + 0.05);
    if contrast < MIN_CONTRAST {
        return Err(ApiError::new(
            ErrorCode::InvalidBranding,
            format!(
                "{field} {hex}: white text on it has contrast {contrast:.2}:1; \
             at least {MIN_CONTRAST}:1 is needed (a darker colour)"
            ),
        ));
    }
    Ok(hex)
}

const LENIENT_B64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n";
const JPEG_MAGIC: &[u8] = b"\xff\xd8\xff";

/// A logo the Gateway may show: base64 of a PNG or JPEG whose first bytes match its type.
fn logo(l: &Logo) -> ApiResult<planbok_store::server::Logo> {
    let magic = match l.media_type.as_str() {
        "image/png" => PNG_MAGIC,
        "image/jpeg" => JPEG_MAGIC,
        _ => {
            return Err(ApiError::invalid(
                "logo.mediaType must be image/png or image/jpeg",
            ));
        }
    };
    // base64 of MAX_LOGO_BYTES is at most 4/3 as long: refuse more before decoding.
    if l.data.len() > MAX_LOGO_BYTES.div_ceil(3) * 4 {
        return Err(too_big());
    }
    // The schema's pattern admits padding-less and non-canonical base64: what it admits
    // but is not an image of its type is refused by meaning (422), not by form.
    let bytes = LENIENT_B64
        .decode(l.data.trim())
        .map_err(|_| ApiError::invalid("logo.data must be standard base64"))?;
    if bytes.len() > MAX_LOGO_BYTES {
        return Err(ApiError::new(ErrorCode::InvalidBranding, too_big().message));
    }
    if !bytes.starts_with(magic) {
        return Err(ApiError::new(
            ErrorCode::InvalidBranding,
            format!("logo.data is not a {} image", l.media_type),
        ));
    }
    Ok(planbok_store::server::Logo {
        media_type: l.media_type.clone(),
        bytes,
    })
}

fn too_big() -> ApiError {
    ApiError::invalid(format!("logo.data must be at most {MAX_LOGO_BYTES} bytes"))
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "a test: a panic is the failure report")]
mod tests {
    use super::*;

    #[test]
    fn colours_parse_and_the_primary_must_read_under_white() {
        assert_eq!(color("c", "#1F5FBF").unwrap().0, "#1f5fbf");
        for bad in [
            "1f5fbf",
            "#1f5fb",
            "#1f5fbfa",
            "#gggggg",
            "#1f5fb\u{e9}",
            "",
        ] {
            assert!(color("c", bad).is_err(), "{bad}");
        }
        // The Gateway's own blue passes (5.9:1); black does; yellow and white do not.
        assert!(readable_under_white("c", "#1f5fbf").is_ok());
        assert!(readable_under_white("c", "#000000").is_ok());
        assert!(readable_under_white("c", "#ffff00").is_err());
        assert!(readable_under_white("c", "#ffffff").is_err());
        // WCAG's worked figure: #767676 is the lightest grey at 4.5:1 on white.
        assert!(readable_under_white("c", "#767676").is_ok());
        assert!(readable_under_white("c", "#777777").is_err());
    }

    #[test]
    fn a_logo_is_a_small_png_or_jpeg_and_nothing_else() {
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let png = [PNG_MAGIC, &[0u8; 16]].concat();
        let l = |t: &str, d: String| Logo {
            media_type: t.into(),
            data: d,
        };
        assert_eq!(logo(&l("image/png", b64(&png))).unwrap().bytes, png);
        assert!(logo(&l("image/jpeg", b64(b"\xff\xd8\xff\xe0rest"))).is_ok());
        // The type must match the bytes; SVG is never a logo.
        assert!(logo(&l("image/jpeg", b64(&png))).is_err());
        assert!(logo(&l("image/svg+xml", b64(b"<svg onload=alert(1)>"))).is_err());
        assert!(logo(&l("image/png", "not base64!".into())).is_err());
        let big = [PNG_MAGIC, &vec![0u8; MAX_LOGO_BYTES]].concat();
        assert!(logo(&l("image/png", b64(&big))).is_err());
        let max = [PNG_MAGIC, &vec![0u8; MAX_LOGO_BYTES - PNG_MAGIC.len()]].concat();
        assert!(logo(&l("image/png", b64(&max))).is_ok());
    }
}
