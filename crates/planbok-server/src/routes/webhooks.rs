//! Webhook endpoints, their secrets and their delivery log (owners and admins).
//!
//! A secret is shown on creation and rotation only; it is stored encrypted
//! (`secret_box::SecretBox`) and never written to the audit trail, the logs or the
//! idempotency record: a repeated creation gets the stored answer with the endpoint's
//! current secret put back in.

use std::collections::HashSet;

use axum::Extension;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use planbok_api::ErrorCode;
use planbok_api::model::{CreateWebhook, DeliveryFilter, UpdateWebhook, WebhookWithSecret};
use planbok_api::{ListQuery, Success};
use planbok_store::StoreError;
use planbok_store::server::{Commit, EndpointPatch, EndpointRecord, delivery_id};
use serde_json::Value;

use super::{Page, convert, json_response, ok, query};
use crate::audit::Op;
use crate::auth::Caller;
use crate::body::Body;
use crate::context::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::webhooks::{self, EVENTS, TEST_EVENT, guard};
use crate::{App, idem, now_ms};

/// Longest description.
const MAX_DESCRIPTION: usize = 200;

/// Checks the URL's form and every address its host resolves to now.
async fn check_url(app: &App, url: &str) -> ApiResult<String> {
    let url = url.trim();
    let target = guard::parse(url, &app.config.webhooks).map_err(refused)?;
    guard::resolve(&target, &app.config.webhooks)
        .await
        .map_err(refused)?;
    Ok(url.to_owned())
}

fn refused(e: guard::Refused) -> ApiError {
    match e {
        guard::Refused::Malformed(_) => ApiError::invalid(e.to_string()),
        _ => ApiError::new(ErrorCode::WebhookUrlRefused, e.to_string()),
    }
}

/// Known event names (or `*` alone), each once.
fn check_events(events: &[String]) -> ApiResult<Vec<String>> {
    if events.is_empty() {
        return Err(ApiError::invalid(
            "events must name at least one event, or [\"*\"]",
        ));
    }
    let mut seen = HashSet::new();
    for e in events {
        if e != "*" && !EVENTS.contains(&e.as_str()) {
            return Err(ApiError::invalid(format!(
                "events: unknown event {e:?}; expected one of {}, or \"*\"",
                EVENTS.join(", ")
            )));
        }
        if !seen.insert(e) {
            return Err(ApiError::invalid(format!("events: {e} appears twice")));
        }
    }
    if events.len() > 1 && seen.contains(&"*".to_owned()) {
        return Err(ApiError::invalid("events: \"*\" stands alone"));
    }
    Ok(events.to_vec())
}

fn description(d: Option<&str>) -> ApiResult<Option<String>> {
    match d.map(str::trim) {
        None | Some("") => Ok(None),
        Some(d) if d.chars().count() > MAX_DESCRIPTION => Err(ApiError::invalid(format!(
            "description must be at most {MAX_DESCRIPTION} characters"
        ))),
        Some(d) => Ok(Some(d.to_owned())),
    }
}

fn not_found(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound(_) => ApiError::not_found("webhook"),
        e => e.into(),
    }
}

async fn load(app: &App, caller: &Caller, id: &str) -> ApiResult<EndpointRecord> {
    app.store
        .webhook(&caller.org_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("webhook"))
}

fn with_secret(app: &App, w: &EndpointRecord) -> ApiResult<WebhookWithSecret> {
    let secret = app
        .secrets
        .open(&w.id, &w.secret)
        .map_err(ApiError::internal)?;
    Ok(WebhookWithSecret {
        webhook: convert::webhook(w),
        secret: secret.to_string(),
    })
}

/// `POST /v2/webhooks`.
pub(crate) async fn create(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Extension(ctx): Extension<Ctx>,
    body: Body<CreateWebhook>,
) -> ApiResult<Response> {
    let b = &body.value;
    let events = check_events(&b.events)?;
    let description = description(b.description.as_deref())?;
    let url = check_url(&app, &b.url).await?;
    let idem = match idem::begin_raw(
        &app,
        &caller,
        "webhook.create",
        b.idempotency_key.as_deref(),
        &body.json,
    )
    .await?
    {
        Ok(i) => i,
        Err((status, stored)) => return replay_created(&app, &caller, status, stored).await,
    };
    let now = now_ms();
    let id = format!("wh_{}", uuid::Uuid::new_v4().simple());
    let secret = webhooks::new_secret();
    let result = async {
        let record = EndpointRecord {
            id: id.clone(),
            org_id: caller.org_id.clone(),
            url,
            description,
            events,
            enabled: true,
            disabled_reason: None,
            secret: app.secrets.seal(&id, &secret)?,
            previous_secret: None,
            previous_expires_at_ms: None,
            failing_since_ms: None,
            created_at_ms: now,
            updated_at_ms: now,
        };
        let op = Op::new(
            &app,
            &caller,
            &ctx,
            "webhook.create",
            Some(id.clone()),
            serde_json::json!({ "url": record.url, "events": record.events }),
        );
        // The stored answer has no secret; a repeat gets it put back from the endpoint.
        let stored = serde_json::to_string(&Success::new(
            201,
            "Webhook created",
            convert::webhook(&record),
        ))
        .map_err(ApiError::internal)?;
        let commit = Commit {
            mails: Vec::new(),
            audit: vec![op.draft("success", None)],
            idempotency: Some(idem.done(201, stored)),
            events: Vec::new(),
        };
        app.store.create_webhook(&record, &commit).await?;
        let data = WebhookWithSecret {
            webhook: convert::webhook(&record),
            secret: secret.to_string(),
        };
        Ok(ok(StatusCode::CREATED, "Webhook created", data))
    }
    .await;
    if result.is_err() {
        idem.abandon(&app).await;
    }
    result
}

/// A repeated creation: the stored answer with the endpoint's current secret.
async fn replay_created(
    app: &App,
    caller: &Caller,
    status: u16,
    stored: String,
) -> ApiResult<Response> {
    let mut v: Value = serde_json::from_str(&stored).map_err(ApiError::internal)?;
    let id = v["data"]["id"].as_str().unwrap_or_default().to_owned();
    if let Some(w) = app.store.webhook(&caller.org_id, &id).await? {
        let secret = app
            .secrets
            .open(&w.id, &w.secret)
            .map_err(ApiError::internal)?;
        if let Some(data) = v["data"].as_object_mut() {
            data.insert("secret".into(), Value::String(secret.to_string()));
        }
    }
    Ok(idem::replay(status, v.to_string()))
}

/// `GET /v2/webhooks`.
pub(crate) async fn list(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let p = Page::from_query(&query(q)?)?;
    let (items, total) = app
        .store
        .list_webhooks(&caller.org_id, p.page, p.limit, p.desc)
        .await?;
    let items = items.iter().map(convert::webhook).collect();
    Ok(ok(StatusCode::OK, "Webhooks", p.list(items, total)))
}

/// `GET /v2/webhooks/{id}`.
pub(crate) async fn get(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let w = load(&app, &caller, &id).await?;
    Ok(ok(StatusCode::OK, "Webhook", convert::webhook(&w)))
}

/// `PATCH /v2/webhooks/{id}`.
pub(crate) async fn update(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
    body: Body<UpdateWebhook>,
) -> ApiResult<Response> {
    let b = body.value;
    load(&app, &caller, &id).await?;
    let patch = EndpointPatch {
        url: match &b.url {
            Some(u) => Some(check_url(&app, u).await?),
            None => None,
        },
        description: match &b.description {
            Some(d) => Some(description(Some(d))?),
            None => None,
        },
        events: b.events.as_deref().map(check_events).transpose()?,
        enabled: b.enabled,
    };
    let op = Op::new(
        &app,
        &caller,
        &ctx,
        "webhook.update",
        Some(id.clone()),
        serde_json::json!({ "url": patch.url, "events": patch.events, "enabled": patch.enabled }),
    );
    let commit = Commit::audit(op.draft("success", None));
    let w = app
        .store
        .update_webhook(&caller.org_id, &id, &patch, now_ms(), &commit)
        .await
        .map_err(not_found)?;
    if w.enabled {
        // Deliveries that waited for the endpoint are due again.
        app.webhooks.wake();
    }
    Ok(ok(StatusCode::OK, "Webhook updated", convert::webhook(&w)))
}

/// `DELETE /v2/webhooks/{id}`.
pub(crate) async fn remove(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let op = Op::new(
        &app,
        &caller,
        &ctx,
        "webhook.delete",
        Some(id.clone()),
        Value::Null,
    );
    let commit = Commit::audit(op.draft("success", None));
    let w = app
        .store
        .delete_webhook(&caller.org_id, &id, &commit)
        .await
        .map_err(not_found)?;
    Ok(ok(StatusCode::OK, "Webhook deleted", convert::webhook(&w)))
}

/// `POST /v2/webhooks/{id}/rotate-secret`.
pub(crate) async fn rotate_secret(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    load(&app, &caller, &id).await?;
    let now = now_ms();
    let secret = webhooks::new_secret();
    let sealed = app.secrets.seal(&id, &secret)?;
    let until = now + app.config.webhooks.rotation_overlap_ms as i64;
    let op = Op::new(
        &app,
        &caller,
        &ctx,
        "webhook.rotate_secret",
        Some(id.clone()),
        serde_json::json!({ "previousValidUntilMs": until }),
    );
    let commit = Commit::audit(op.draft("success", None));
    let w = app
        .store
        .rotate_webhook_secret(&caller.org_id, &id, &sealed, until, now, &commit)
        .await
        .map_err(not_found)?;
    let data = with_secret(&app, &w)?;
    Ok(ok(StatusCode::OK, "Webhook secret rotated", data))
}

/// `POST /v2/webhooks/{id}/test`: a `webhook.test` event to this endpoint only.
pub(crate) async fn test(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let w = load(&app, &caller, &id).await?;
    if !w.enabled {
        return Err(ApiError::new(
            ErrorCode::WebhookDisabled,
            "the webhook is disabled; enable it first",
        ));
    }
    let now = now_ms();
    let mut event = webhooks::event(
        &caller.org_id,
        TEST_EVENT,
        serde_json::json!({ "webhookId": id, "message": "a test event from planbok" }),
        now,
    );
    event.only_endpoint = Some(id.clone());
    let delivery = delivery_id(&event.id, &id);
    let op = Op::new(
        &app,
        &caller,
        &ctx,
        "webhook.test",
        Some(id.clone()),
        serde_json::json!({ "eventId": event.id }),
    );
    let commit = Commit::audit(op.draft("success", None)).with_events(vec![event]);
    app.store.record(&commit).await?;
    app.webhooks.wake();
    let d = app
        .store
        .delivery(&caller.org_id, &delivery)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::WebhookDisabled,
                "the webhook was disabled meanwhile",
            )
        })?;
    Ok(ok(
        StatusCode::CREATED,
        "Test event queued",
        convert::delivery(&d),
    ))
}

/// `GET /v2/webhooks/{id}/deliveries`.
pub(crate) async fn deliveries(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    q: Result<Query<DeliveryFilter>, QueryRejection>,
) -> ApiResult<Response> {
    let f = query(q)?;
    let p = Page::from_parts(f.page, f.limit, f.order)?;
    if let Some(s) = &f.status
        && !planbok_api::DELIVERY_STATUSES.contains(&s.as_str())
    {
        return Err(ApiError::invalid(
            "status must be pending, delivering, succeeded or failed",
        ));
    }
    load(&app, &caller, &id).await?;
    let (items, total) = app
        .store
        .list_deliveries(
            &caller.org_id,
            &id,
            f.status.as_deref(),
            (p.page, p.limit, p.desc),
        )
        .await?;
    let items = items.iter().map(convert::delivery).collect();
    Ok(ok(StatusCode::OK, "Deliveries", p.list(items, total)))
}

/// `POST /v2/webhooks/deliveries/{id}/replay`: sends the event again to the same
/// endpoint, as a new delivery with the same event id and body.
pub(crate) async fn replay(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Extension(ctx): Extension<Ctx>,
    Path(delivery): Path<String>,
) -> ApiResult<Response> {
    let original = app
        .store
        .delivery(&caller.org_id, &delivery)
        .await?
        .ok_or_else(|| ApiError::not_found("delivery"))?;
    let new_id = format!("whd_{}", uuid::Uuid::new_v4().simple());
    let op = Op::new(
        &app,
        &caller,
        &ctx,
        "webhook.replay",
        Some(original.endpoint_id.clone()),
        serde_json::json!({ "deliveryId": delivery, "eventId": original.event_id, "replayId": new_id }),
    );
    let commit = Commit::audit(op.draft("success", None));
    let d = app
        .store
        .replay_delivery(&caller.org_id, &delivery, &new_id, now_ms(), &commit)
        .await
        .map_err(|e| match e {
            StoreError::NotFound(_) => ApiError::not_found("delivery"),
            e => e.into(),
        })?;
    app.webhooks.wake();
    let text = super::envelope_json(
        StatusCode::CREATED,
        "Delivery queued",
        convert::delivery(&d),
    )?;
    Ok(json_response(StatusCode::CREATED, text))
}
