//! Members and API keys. Admins manage members and keys but cannot create, change or
//! remove owners, nor mint keys that act as an owner; the last owner cannot be removed or
//! demoted.

use axum::Extension;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use planbok_api::model::{ApiKeyCreated, CreateApiKey, CreateMember, Role, UpdateMember};
use planbok_api::{ErrorCode, ListQuery};
use planbok_store::server::{ApiKeyRecord, Commit, MemberRecord};

use super::{Page, convert, name, ok, query};
use crate::App;
use crate::audit::Op;
use crate::auth::{self, Caller};
use crate::body::Body;
use crate::context::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::now_ms;

const MAX_ALLOWLIST: usize = 100;

fn may_manage(caller: &Caller, role: Role) -> ApiResult<()> {
    if role == Role::Owner && caller.role != Role::Owner {
        return Err(ApiError::forbidden(
            "only an owner may create, change or remove owners",
        ));
    }
    Ok(())
}

async fn load_member(app: &App, caller: &Caller, id: &str) -> ApiResult<MemberRecord> {
    app.store
        .member(&caller.org_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("member"))
}

/// `POST /v2/organization/members`.
pub(crate) async fn create(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Extension(ctx): Extension<Ctx>,
    body: Body<CreateMember>,
) -> ApiResult<Response> {
    let b = body.value;
    may_manage(&caller, b.role)?;
    let now = now_ms();
    let m = MemberRecord {
        id: format!("mem_{}", uuid::Uuid::new_v4().simple()),
        org_id: caller.org_id.clone(),
        name: name("name", &b.name, 100)?,
        email: super::orgs::email(&b.email)?,
        role: b.role.as_str().into(),
        created_at_ms: now,
        updated_at_ms: now,
    };
    let op = Op::new(
        &app,
        &caller,
        &ctx,
        "member.create",
        Some(m.id.clone()),
        serde_json::json!({ "role": m.role, "email": m.email }),
    );
    let commit = Commit::audit(op.draft("success", None));
    app.store
        .create_member(&m, &commit)
        .await
        .map_err(|e| match e {
            planbok_store::StoreError::Conflict(_) => {
                ApiError::new(ErrorCode::Conflict, "a member with this email exists")
            }
            e => e.into(),
        })?;
    Ok(ok(
        StatusCode::CREATED,
        "Member created",
        convert::member(&m)?,
    ))
}

/// `GET /v2/organization/members`.
pub(crate) async fn list(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let p = Page::from_query(&query(q)?)?;
    let (items, total) = app
        .store
        .list_members(&caller.org_id, p.page, p.limit, p.desc)
        .await?;
    let items = items
        .iter()
        .map(convert::member)
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(ok(StatusCode::OK, "Members", p.list(items, total)))
}

/// `PATCH /v2/organization/members/{id}`.
pub(crate) async fn update(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
    body: Body<UpdateMember>,
) -> ApiResult<Response> {
    let b = body.value;
    let current = load_member(&app, &caller, &id).await?;
    let current_role = convert::stored_role(&current)?;
    may_manage(&caller, current_role)?;
    if let Some(role) = b.role {
        may_manage(&caller, role)?;
    }
    let new_name = b
        .name
        .as_deref()
        .map(|n| name("name", n, 100))
        .transpose()?;
    let op = Op::new(
        &app,
        &caller,
        &ctx,
        "member.update",
        Some(id.clone()),
        serde_json::json!({ "role": b.role.map(Role::as_str), "renamed": new_name.is_some() }),
    );
    let commit = Commit::audit(op.draft("success", None));
    // The store refuses to demote the last owner, and refuses if the role this was decided
    // on changed meanwhile, in the transaction of the change (concurrent requests).
    let m = app
        .store
        .update_member(
            &caller.org_id,
            &id,
            Some(&current.role),
            new_name,
            b.role.map(|r| r.as_str().to_owned()),
            now_ms(),
            &commit,
        )
        .await?;
    Ok(ok(StatusCode::OK, "Member updated", convert::member(&m)?))
}

/// `DELETE /v2/organization/members/{id}`: removes the member and revokes its keys.
pub(crate) async fn remove(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let current = load_member(&app, &caller, &id).await?;
    let role = convert::stored_role(&current)?;
    may_manage(&caller, role)?;
    let op = Op::new(
        &app,
        &caller,
        &ctx,
        "member.delete",
        Some(id.clone()),
        serde_json::json!({ "role": current.role }),
    );
    let commit = Commit::audit(op.draft("success", None));
    app.store
        .delete_member(&caller.org_id, &id, Some(&current.role), now_ms(), &commit)
        .await?;
    Ok(ok(
        StatusCode::OK,
        "Member removed",
        convert::member(&current)?,
    ))
}

/// `POST /v2/organization/api-keys`.
pub(crate) async fn create_key(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Extension(ctx): Extension<Ctx>,
    body: Body<CreateApiKey>,
) -> ApiResult<Response> {
    let b = body.value;
    let member_id = b
        .member_id
        .clone()
        .unwrap_or_else(|| caller.member_id.clone());
    let member = load_member(&app, &caller, &member_id).await?;
    may_manage(&caller, convert::stored_role(&member)?)?;
    if b.allowed_ips.len() > MAX_ALLOWLIST || b.allowed_origins.len() > MAX_ALLOWLIST {
        return Err(ApiError::invalid(format!(
            "allowedIps and allowedOrigins hold at most {MAX_ALLOWLIST} entries"
        )));
    }
    if let Some(bad) = b
        .allowed_ips
        .iter()
        .find(|r| auth::parse_ip_rule(r).is_none())
    {
        return Err(ApiError::invalid(format!(
            "allowedIps: {bad:?} is not an IP address or CIDR"
        )));
    }
    if let Some(bad) = b.allowed_origins.iter().find(|o| !auth::valid_origin(o)) {
        return Err(ApiError::invalid(format!(
            "allowedOrigins: {bad:?} is not an origin (scheme://host[:port])"
        )));
    }
    let minted = auth::mint();
    let now = now_ms();
    let key = ApiKeyRecord {
        id: minted.id.clone(),
        org_id: caller.org_id.clone(),
        member_id,
        name: name("name", &b.name, 100)?,
        secret_hash: minted.secret_hash.clone(),
        access: b.access.as_str().into(),
        allowed_ips: b.allowed_ips,
        allowed_origins: b.allowed_origins,
        created_at_ms: now,
        revoked_at_ms: None,
        last_used_at_ms: None,
    };
    let op = Op::new(
        &app,
        &caller,
        &ctx,
        "api_key.create",
        Some(key.id.clone()),
        serde_json::json!({
            "member": key.member_id, "access": key.access,
            "allowedIps": key.allowed_ips, "allowedOrigins": key.allowed_origins,
        }),
    );
    let commit = Commit::audit(op.draft("success", None));
    app.store.create_api_key(&key, &commit).await?;
    let data = ApiKeyCreated {
        key: convert::api_key(&key)?,
        secret: minted.full.to_string(),
    };
    Ok(ok(StatusCode::CREATED, "API key created", data))
}

/// `GET /v2/organization/api-keys`.
pub(crate) async fn list_keys(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let p = Page::from_query(&query(q)?)?;
    let (items, total) = app
        .store
        .list_api_keys(&caller.org_id, p.page, p.limit, p.desc)
        .await?;
    let items = items
        .iter()
        .map(convert::api_key)
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(ok(StatusCode::OK, "API keys", p.list(items, total)))
}

/// `DELETE /v2/organization/api-keys/{id}`.
pub(crate) async fn revoke_key(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let key = app
        .store
        .api_key(&id)
        .await?
        .filter(|k| k.org_id == caller.org_id && k.revoked_at_ms.is_none())
        .ok_or_else(|| ApiError::not_found("API key"))?;
    let member = load_member(&app, &caller, &key.member_id).await;
    if let Ok(m) = &member {
        may_manage(&caller, convert::stored_role(m)?)?;
    }
    let op = Op::new(
        &app,
        &caller,
        &ctx,
        "api_key.revoke",
        Some(id.clone()),
        serde_json::json!({ "member": key.member_id }),
    );
    let commit = Commit::audit(op.draft("success", None));
    app.store
        .revoke_api_key(&caller.org_id, &id, now_ms(), &commit)
        .await?;
    Ok(ok(
        StatusCode::OK,
        "API key revoked",
        convert::api_key(&key)?,
    ))
}
