//! Customers and the challenges that the organization creates for them (API key). Each
//! challenge is completed by the end user in the Gateway (`routes/gateway.rs`), authorized
//! by a one-time token that only its Gateway URL carries.

use axum::Extension;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use base64::Engine as _;
use planbok_api::ListQuery;
use planbok_api::customers::{
    Challenge, CreateChallenge, CreateCustomer, Customer, RECOVERY_EMAIL,
    RECOVERY_SECURITY_QUESTIONS, ResetPin,
};
use planbok_store::StoreError;
use planbok_store::server::{ChallengeRecord, Commit, CustomerRecord, MailKind};
use rand_core::{OsRng, RngCore as _};
use sha2::{Digest as _, Sha256};

pub(crate) use super::challenge_kind::{Kind, check_pin_state};

use super::convert::rfc3339;
use super::orgs::finish;
use super::{Page, envelope_json, json_response, name, ok, query};
use crate::App;
use crate::audit::Op;
use crate::auth::Caller;
use crate::body::Body;
use crate::context::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::idem;
use crate::now_ms;
use crate::webhooks::event;

/// A challenge's life.
pub(crate) const CHALLENGE_TTL_MS: i64 = 15 * 60_000;
/// How long an expired or finished challenge is kept for `GET …/challenges` (then pruned).
pub(crate) const CHALLENGE_KEPT_MS: i64 = 24 * 3_600_000;

/// SHA-256 of a challenge token: all the server stores of it.
pub(crate) fn token_hash(token: &str) -> [u8; 32] {
    Sha256::new()
        .chain_update(b"planbok/challenge-token/v1\0")
        .chain_update(token.as_bytes())
        .finalize()
        .into()
}

/// The API view of a customer.
pub(crate) fn customer_view(c: &CustomerRecord) -> Customer {
    Customer {
        id: c.id.clone(),
        name: c.name.clone(),
        ref_id: c.ref_id.clone(),
        email: c.email.clone(),
        pin_status: c.pin_status.clone(),
        has_recovery: c.recovery.is_some(),
        recovery_methods: recovery_methods(c),
        create_date: rfc3339(c.created_at_ms),
        update_date: rfc3339(c.updated_at_ms),
    }
}

/// The recovery methods a customer has set up.
pub(crate) fn recovery_methods(c: &CustomerRecord) -> Vec<String> {
    let mut m = Vec::new();
    if c.recovery.is_some() {
        m.push(RECOVERY_SECURITY_QUESTIONS.to_owned());
    }
    if c.email_code.is_some() {
        m.push(RECOVERY_EMAIL.to_owned());
    }
    m
}

/// A pending challenge past its expiry is expired, whatever housekeeping has done yet.
pub(crate) fn effective_status(ch: &ChallengeRecord, now: i64) -> &str {
    if ch.status == "pending" && now > ch.expires_at_ms {
        "expired"
    } else {
        &ch.status
    }
}

/// The API view of a challenge (`redirect_url`: the Gateway URL, only on creation).
pub(crate) fn challenge_view(ch: &ChallengeRecord, redirect_url: Option<String>) -> Challenge {
    Challenge {
        challenge_id: ch.id.clone(),
        id: ch.id.clone(),
        customer_id: ch.customer_id.clone(),
        kind: ch.kind.clone(),
        status: effective_status(ch, now_ms()).to_owned(),
        redirect_url: redirect_url.or_else(|| ch.return_url.clone()),
        expires_at: rfc3339(ch.expires_at_ms),
        result: ch
            .result
            .as_deref()
            .and_then(|r| serde_json::from_str(r).ok()),
        error_code: ch.error_code.clone(),
    }
}

fn optional(field: &str, v: Option<&str>, max: usize) -> ApiResult<Option<String>> {
    match v.map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) if s.chars().count() > max => Err(ApiError::invalid(format!(
            "{field} must be at most {max} characters"
        ))),
        Some(s) => Ok(Some(s.to_owned())),
    }
}

/// `POST /v2/customers`.
pub(crate) async fn create(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Extension(ctx): Extension<Ctx>,
    body: Body<CreateCustomer>,
) -> ApiResult<Response> {
    let b = &body.value;
    let display = name("name", &b.name, 100)?;
    let ref_id = optional("refId", b.ref_id.as_deref(), 100)?;
    let email = optional("email", b.email.as_deref(), 254)?;
    if email.as_deref().is_some_and(|e| !e.contains('@')) {
        return Err(ApiError::invalid("email must be an address"));
    }
    let idem = idem::begin_or_replay!(
        &app,
        &caller,
        "customer.create",
        b.idempotency_key.as_deref(),
        &body.json
    );
    let id = uuid::Uuid::new_v4().to_string();
    let op = Op::new(
        &app,
        &caller,
        &ctx,
        "customer.create",
        Some(id.clone()),
        serde_json::json!({ "refId": ref_id }),
    );
    let result = async {
        let now = now_ms();
        let rec = CustomerRecord {
            id: id.clone(),
            org_id: caller.org_id.clone(),
            name: display.clone(),
            ref_id: ref_id.clone(),
            email: email.clone(),
            pin_status: "unset".into(),
            pin: None,
            recovery: None,
            email_code: None,
            created_at_ms: now,
            updated_at_ms: now,
        };
        let view = customer_view(&rec);
        let text = envelope_json(StatusCode::CREATED, "Customer created", &view)?;
        let commit = Commit {
            mails: Vec::new(),
            audit: vec![op.draft("success", None)],
            idempotency: Some(idem.done(201, text.clone())),
            events: vec![event(
                &caller.org_id,
                "customer.created",
                serde_json::json!({ "customerId": id, "refId": ref_id }),
                now,
            )],
        };
        app.store.create_customer(&rec, &commit).await?;
        Ok(json_response(StatusCode::CREATED, text))
    }
    .await;
    finish(&app, &op, &idem, result).await
}

/// `GET /v2/customers`.
pub(crate) async fn list(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let p = Page::from_query(&query(q)?)?;
    let (items, total) = app
        .store
        .list_customers(&caller.org_id, p.page, p.limit, p.desc)
        .await?;
    let items = items.iter().map(customer_view).collect();
    Ok(ok(StatusCode::OK, "Customers", p.list(items, total)))
}

async fn find(app: &App, caller: &Caller, id: &str) -> ApiResult<CustomerRecord> {
    app.store
        .customer(&caller.org_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("customer"))
}

/// `GET /v2/customers/{id}`.
pub(crate) async fn get(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let c = find(&app, &caller, &id).await?;
    Ok(ok(StatusCode::OK, "Customer", customer_view(&c)))
}

/// What a new challenge is, besides its customer: its kind, the request's idempotency
/// key, redirect URL and JSON (for the idempotency record), and, for an operation, what it
/// authorizes (`params`, JSON) with the audit entry's detail.
pub(crate) struct NewChallenge<'a> {
    pub(crate) kind: Kind,
    pub(crate) idempotency_key: Option<&'a str>,
    pub(crate) redirect_url: Option<&'a str>,
    pub(crate) json: &'a serde_json::Value,
    pub(crate) params: Option<String>,
    pub(crate) detail: serde_json::Value,
}

/// The Gateway's origin: the configured public URL, else the request's own host.
fn gateway_base(app: &App, headers: &HeaderMap) -> String {
    if let Some(u) = &app.config.public_url {
        return u.trim_end_matches('/').to_owned();
    }
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            h.chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
        })
        .unwrap_or("localhost");
    format!("http://{host}")
}

/// Checks a challenge's `redirectUrl`.
pub(crate) fn return_url(v: Option<&str>) -> ApiResult<Option<String>> {
    let return_url = optional("redirectUrl", v, 2048)?;
    if let Some(u) = &return_url
        && !(u.starts_with("https://") || u.starts_with("http://"))
    {
        return Err(ApiError::invalid("redirectUrl must be an http(s) URL"));
    }
    Ok(return_url)
}

/// A customer of the caller's organization, or 404.
pub(crate) async fn find_customer(
    app: &App,
    caller: &Caller,
    id: &str,
) -> ApiResult<CustomerRecord> {
    find(app, caller, id).await
}

async fn create_challenge(
    app: App,
    caller: Caller,
    ctx: Ctx,
    headers: HeaderMap,
    customer_id: String,
    body: Body<CreateChallenge>,
    kind: Kind,
) -> ApiResult<Response> {
    let b = &body.value;
    let return_url = return_url(b.redirect_url.as_deref())?;
    let customer = find(&app, &caller, &customer_id).await?;
    check_pin_state(kind, &customer)?;
    open_challenge(
        &app,
        &caller,
        &ctx,
        &headers,
        &customer_id,
        NewChallenge {
            kind,
            idempotency_key: b.idempotency_key.as_deref(),
            redirect_url: return_url.as_deref(),
            json: &body.json,
            params: None,
            detail: serde_json::json!({}),
        },
    )
    .await
}

/// Stores a new challenge (idempotently, audited) and answers it with its Gateway URL. The
/// caller has checked the customer and the request.
pub(crate) async fn open_challenge(
    app: &App,
    caller: &Caller,
    ctx: &Ctx,
    headers: &HeaderMap,
    customer_id: &str,
    n: NewChallenge<'_>,
) -> ApiResult<Response> {
    let (app, caller, ctx) = (app.clone(), caller.clone(), ctx.clone());
    let customer_id = customer_id.to_owned();
    let kind = n.kind;
    let return_url = n.redirect_url.map(str::to_owned);
    let action = kind.action();
    let idem = idem::begin_or_replay!(&app, &caller, action, n.idempotency_key, n.json);
    let id = uuid::Uuid::new_v4().to_string();
    let op = Op::new(&app, &caller, &ctx, action, Some(customer_id.clone()), {
        let mut d = n.detail;
        if let Some(m) = d.as_object_mut() {
            m.insert("challengeId".into(), serde_json::json!(id));
        }
        d
    });
    let result = async {
        let mut raw = [0u8; 32];
        OsRng.fill_bytes(&mut raw);
        let token =
            zeroize::Zeroizing::new(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw));
        let now = now_ms();
        let rec = ChallengeRecord {
            id: id.clone(),
            org_id: caller.org_id.clone(),
            customer_id: customer_id.clone(),
            kind: kind.as_str().into(),
            status: "pending".into(),
            token_hash: token_hash(&token).to_vec(),
            return_url: return_url.clone(),
            result: None,
            error_code: None,
            created_at_ms: now,
            expires_at_ms: now + CHALLENGE_TTL_MS,
            completed_at_ms: None,
            params: n.params,
            prepared: None,
        };
        let base = gateway_base(&app, headers);
        let gateway = format!("{base}/gateway/?challenge={id}");
        // The idempotent copy names the Gateway without the token: a token is shown once
        // and no idempotency record holds one.
        let stored = envelope_json(
            StatusCode::CREATED,
            "Challenge created",
            challenge_view(&rec, Some(gateway.clone())),
        )?;
        let events = match kind {
            Kind::ResetPin => vec![event(
                &caller.org_id,
                "customer.recovery_initiated",
                serde_json::json!({
                    "customerId": customer_id,
                    "challengeId": id,
                    "method": reset_method(&rec),
                }),
                now,
            )],
            _ => Vec::new(),
        };
        // A reset by email asks for the code's mail, queued with the challenge.
        let mail = (kind == Kind::ResetPin && reset_method(&rec) == RECOVERY_EMAIL)
            .then(|| crate::mail_sender::queued(&rec, MailKind::RecoveryCode, now));
        let commit = Commit {
            audit: vec![op.draft("success", None)],
            idempotency: Some(idem.done(201, stored)),
            events,
            ..Commit::none()
        }
        .with_mail(mail);
        app.store
            .create_challenge(&rec, &commit)
            .await
            .map_err(|e| match e {
                StoreError::NotFound(_) => ApiError::not_found("customer"),
                e => e.into(),
            })?;
        app.wake_mail_for(&commit);
        let url = format!("{gateway}#{}", token.as_str());
        Ok(ok(
            StatusCode::CREATED,
            "Challenge created",
            challenge_view(&rec, Some(url)),
        ))
    }
    .await;
    finish(&app, &op, &idem, result).await
}

/// `POST /v2/customers/{id}/initialize`: a challenge to set the first PIN.
pub(crate) async fn initialize(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Extension(ctx): Extension<Ctx>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body<CreateChallenge>,
) -> ApiResult<Response> {
    create_challenge(app, caller, ctx, headers, id, body, Kind::Initialize).await
}

/// `POST /v2/customers/{id}/update-pin`: a challenge to change the PIN (needs the old).
pub(crate) async fn update_pin(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Extension(ctx): Extension<Ctx>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body<CreateChallenge>,
) -> ApiResult<Response> {
    create_challenge(app, caller, ctx, headers, id, body, Kind::UpdatePin).await
}

/// `POST /v2/customers/{id}/recovery`: a challenge to set or change the security
/// questions (needs the PIN).
pub(crate) async fn recovery(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Extension(ctx): Extension<Ctx>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body<CreateChallenge>,
) -> ApiResult<Response> {
    create_challenge(app, caller, ctx, headers, id, body, Kind::Recovery).await
}

/// `POST /v2/customers/{id}/reset-pin`: a challenge to recover and set a new PIN (also
/// for a locked customer): with the security questions, or (`method: email`) with the
/// recovery code the server emails to the customer once the challenge is committed.
pub(crate) async fn reset_pin(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Extension(ctx): Extension<Ctx>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body<ResetPin>,
) -> ApiResult<Response> {
    let b = &body.value;
    let method = match b.method.as_deref() {
        None | Some(RECOVERY_SECURITY_QUESTIONS) => RECOVERY_SECURITY_QUESTIONS,
        Some(RECOVERY_EMAIL) => RECOVERY_EMAIL,
        Some(_) => {
            return Err(ApiError::invalid(
                "method must be securityQuestions or email",
            ));
        }
    };
    let return_url = return_url(b.redirect_url.as_deref())?;
    let customer = find(&app, &caller, &id).await?;
    check_pin_state(Kind::ResetPin, &customer)?;
    if method == RECOVERY_EMAIL {
        super::gateway_email::check_reset(&app, &customer).await?;
    }
    open_challenge(
        &app,
        &caller,
        &ctx,
        &headers,
        &id,
        NewChallenge {
            kind: Kind::ResetPin,
            idempotency_key: b.idempotency_key.as_deref(),
            redirect_url: return_url.as_deref(),
            json: &body.json,
            // Only a reset by email records its method (the questions are the default).
            params: (method == RECOVERY_EMAIL)
                .then(|| serde_json::json!({ "method": method }).to_string()),
            detail: serde_json::json!({ "method": method }),
        },
    )
    .await
}

/// How a reset-pin challenge recovers: `email` (recorded in its params at creation) or
/// `securityQuestions`.
pub(crate) fn reset_method(ch: &ChallengeRecord) -> &'static str {
    let by_email = ch
        .params
        .as_deref()
        .and_then(|p| serde_json::from_str::<serde_json::Value>(p).ok())
        .is_some_and(|v| v["method"] == RECOVERY_EMAIL);
    if by_email {
        RECOVERY_EMAIL
    } else {
        RECOVERY_SECURITY_QUESTIONS
    }
}

/// `GET /v2/customers/{id}/challenges`.
pub(crate) async fn list_challenges(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let q = query(q)?;
    let mut p = Page::from_query(&q)?;
    if q.order.is_none() {
        p.desc = true;
    }
    find(&app, &caller, &id).await?;
    let (items, total) = app
        .store
        .list_challenges(&caller.org_id, &id, p.page, p.limit, p.desc)
        .await?;
    let items = items.iter().map(|c| challenge_view(c, None)).collect();
    Ok(ok(StatusCode::OK, "Challenges", p.list(items, total)))
}

/// `GET /v2/customers/{id}/challenges/{challengeId}`.
pub(crate) async fn get_challenge(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Path((id, challenge_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let ch = app
        .store
        .challenge(&caller.org_id, &id, &challenge_id)
        .await?
        .ok_or_else(|| ApiError::not_found("challenge"))?;
    Ok(ok(StatusCode::OK, "Challenge", challenge_view(&ch, None)))
}
