//! The access policy: one row per route (who may call it, which rate-limit category it
//! counts against), enforced by one middleware before any handler runs. `docs/api.md`
//! prints this table; a test calls every route with every role and key access.
//!
//! Read-only keys may only call routes that change nothing: every `GET`, and the one `POST`
//! that only computes (validate-address). A key acts with its member's role. Routes of
//! another organization's objects answer 404 (the handlers look objects up by the caller's
//! org).
//!
//! Authentication is budgeted per client IP before anything is looked up: an IP whose
//! failed authentications used its budget gets 429 without a database read or an audit
//! write, unless it presents a key whose secret this process has already seen succeed.

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use planbok_api::model::{KeyAccess, Role};
use planbok_api::{API_KEY_HEADER, ErrorCode, OPERATOR_TOKEN_HEADER};
use planbok_store::server::ApiKeyRecord;

use crate::App;
use crate::audit::{self, Actor};
use crate::auth::{self, Caller};
use crate::context::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::metrics::RouteLabel;
use crate::ratelimit::Category;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone (health, readiness, metrics, the API document).
    Public,
    /// The operator token (organization bootstrap).
    Operator,
    /// An API key whose member has at least this role.
    Key(Role),
    /// A pending challenge's one-time token (the Gateway's routes); never an API key.
    Challenge,
}

/// One route's row.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// HTTP method.
    pub method: &'static str,
    /// The route template, as the router declares it.
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
    /// Rate-limit category.
    pub category: Category,
    /// Whether it may change anything; read-only keys may call only the routes that do not.
    pub writes: bool,
}

const fn rule(
    method: &'static str,
    path: &'static str,
    access: Access,
    category: Category,
) -> Rule {
    Rule {
        method,
        path,
        access,
        category,
        writes: !matches!(method.as_bytes(), b"GET"),
    }
}

/// A non-`GET` route that changes nothing (it takes a body, that is all).
const fn computes(
    method: &'static str,
    path: &'static str,
    access: Access,
    category: Category,
) -> Rule {
    Rule {
        writes: false,
        ..rule(method, path, access, category)
    }
}

use Access::{Challenge, Key, Operator, Public};
use Category::{Authentication, Management, None as Unlimited, Reads, Signing};
use Role::{Admin, Member, Owner};

/// The policy.
pub const POLICY: &[Rule] = &[
    rule("POST", "/v2/organizations", Operator, Authentication),
    rule("GET", "/v2/organization", Key(Member), Reads),
    rule("POST", "/v2/organization/members", Key(Admin), Management),
    rule("GET", "/v2/organization/members", Key(Admin), Reads),
    rule(
        "PATCH",
        "/v2/organization/members/{id}",
        Key(Admin),
        Management,
    ),
    rule(
        "DELETE",
        "/v2/organization/members/{id}",
        Key(Admin),
        Management,
    ),
    rule("POST", "/v2/organization/api-keys", Key(Admin), Management),
    rule("GET", "/v2/organization/api-keys", Key(Admin), Reads),
    rule(
        "DELETE",
        "/v2/organization/api-keys/{id}",
        Key(Admin),
        Management,
    ),
    rule(
        "GET",
        "/v2/config/organization/public-key",
        Key(Member),
        Reads,
    ),
    rule("POST", "/v2/organization/secret", Key(Owner), Management),
    rule(
        "POST",
        "/v2/organization/require-binding",
        Key(Owner),
        Management,
    ),
    rule(
        "POST",
        "/v2/organization/email-recovery",
        Key(Owner),
        Management,
    ),
    rule(
        "POST",
        "/v2/organization/email-notices",
        Key(Owner),
        Management,
    ),
    rule("GET", "/v2/organization/branding", Key(Member), Reads),
    rule("PUT", "/v2/organization/branding", Key(Admin), Management),
    rule("GET", "/v2/config/chains", Key(Member), Reads),
    rule(
        "POST",
        "/v2/organization/wallet-sets",
        Key(Admin),
        Management,
    ),
    rule(
        "PUT",
        "/v2/organization/wallet-sets/{id}",
        Key(Admin),
        Management,
    ),
    rule("GET", "/v2/wallet-sets", Key(Member), Reads),
    rule("GET", "/v2/wallet-sets/{id}", Key(Member), Reads),
    rule("POST", "/v2/organization/wallets", Key(Admin), Management),
    rule("GET", "/v2/wallets", Key(Member), Reads),
    rule("GET", "/v2/wallets/{id}", Key(Member), Reads),
    rule("PUT", "/v2/wallets/{id}", Key(Admin), Management),
    computes("POST", "/v2/wallets/validate-address", Key(Member), Reads),
    rule(
        "POST",
        "/v2/organization/sign/message",
        Key(Member),
        Signing,
    ),
    rule(
        "POST",
        "/v2/organization/sign/typed-data",
        Key(Member),
        Signing,
    ),
    rule(
        "POST",
        "/v2/organization/sign/transaction",
        Key(Member),
        Signing,
    ),
    rule(
        "POST",
        "/v2/organization/sign/delegate-action",
        Key(Member),
        Signing,
    ),
    rule(
        "POST",
        "/v2/organization/wallets/export",
        Key(Owner),
        Signing,
    ),
    rule("GET", "/v2/tokens/metadata", Key(Member), Reads),
    rule("POST", "/v2/tokens", Key(Admin), Management),
    rule("GET", "/v2/tokens", Key(Member), Reads),
    rule("GET", "/v2/tokens/{id}", Key(Member), Reads),
    rule("DELETE", "/v2/tokens/{id}", Key(Admin), Management),
    rule("GET", "/v2/wallets/{id}/balances", Key(Member), Reads),
    rule("GET", "/v2/wallet-sets/{id}/balances", Key(Member), Reads),
    rule(
        "POST",
        "/v2/organization/transactions/transfer",
        Key(Member),
        Signing,
    ),
    computes(
        "POST",
        "/v2/transactions/transfer/estimate-fee",
        Key(Member),
        Reads,
    ),
    rule(
        "POST",
        "/v2/organization/transactions/contract-execution",
        Key(Member),
        Signing,
    ),
    computes(
        "POST",
        "/v2/transactions/contract-execution/estimate-fee",
        Key(Member),
        Reads,
    ),
    computes(
        "POST",
        "/v2/transactions/contract-view/call",
        Key(Member),
        Reads,
    ),
    rule(
        "POST",
        "/v2/organization/transactions/{id}/cancel",
        Key(Member),
        Signing,
    ),
    rule(
        "POST",
        "/v2/organization/transactions/{id}/accelerate",
        Key(Member),
        Signing,
    ),
    rule("GET", "/v2/organization/transactions", Key(Member), Reads),
    rule(
        "GET",
        "/v2/organization/transactions/{id}",
        Key(Member),
        Reads,
    ),
    rule("GET", "/v2/transactions", Key(Member), Reads),
    rule("GET", "/v2/transactions/{id}", Key(Member), Reads),
    rule("GET", "/v2/audit-logs", Key(Admin), Reads),
    rule("GET", "/v2/audit-logs/export", Key(Admin), Reads),
    rule("POST", "/v2/webhooks", Key(Admin), Management),
    rule("GET", "/v2/webhooks", Key(Admin), Reads),
    rule("GET", "/v2/webhooks/{id}", Key(Admin), Reads),
    rule("PATCH", "/v2/webhooks/{id}", Key(Admin), Management),
    rule("DELETE", "/v2/webhooks/{id}", Key(Admin), Management),
    rule(
        "POST",
        "/v2/webhooks/{id}/rotate-secret",
        Key(Admin),
        Management,
    ),
    rule("POST", "/v2/webhooks/{id}/test", Key(Admin), Management),
    rule("GET", "/v2/webhooks/{id}/deliveries", Key(Admin), Reads),
    rule(
        "POST",
        "/v2/webhooks/deliveries/{id}/replay",
        Key(Admin),
        Management,
    ),
    rule("POST", "/v2/customers", Key(Admin), Management),
    rule("GET", "/v2/customers", Key(Member), Reads),
    rule("GET", "/v2/customers/{id}", Key(Member), Reads),
    rule(
        "POST",
        "/v2/customers/{id}/initialize",
        Key(Admin),
        Management,
    ),
    rule(
        "POST",
        "/v2/customers/{id}/update-pin",
        Key(Admin),
        Management,
    ),
    rule(
        "POST",
        "/v2/customers/{id}/wallet/create",
        Key(Admin),
        Management,
    ),
    rule(
        "POST",
        "/v2/customers/{id}/recovery",
        Key(Admin),
        Management,
    ),
    rule(
        "POST",
        "/v2/customers/{id}/reset-pin",
        Key(Admin),
        Management,
    ),
    rule(
        "POST",
        "/v2/customers/{id}/sign/message",
        Key(Member),
        Signing,
    ),
    rule(
        "POST",
        "/v2/customers/{id}/sign/typed-data",
        Key(Member),
        Signing,
    ),
    rule(
        "POST",
        "/v2/customers/{id}/sign/transaction",
        Key(Member),
        Signing,
    ),
    rule(
        "POST",
        "/v2/customers/{id}/sign/delegate-action",
        Key(Member),
        Signing,
    ),
    rule(
        "POST",
        "/v2/customers/{id}/export-private-keys",
        Key(Admin),
        Signing,
    ),
    rule(
        "POST",
        "/v2/customers/{id}/transactions/transfer",
        Key(Member),
        Signing,
    ),
    rule(
        "POST",
        "/v2/customers/{id}/transactions/contract-execution",
        Key(Member),
        Signing,
    ),
    rule(
        "POST",
        "/v2/customers/{id}/transactions/{txId}/cancel",
        Key(Member),
        Signing,
    ),
    rule(
        "POST",
        "/v2/customers/{id}/transactions/{txId}/accelerate",
        Key(Member),
        Signing,
    ),
    rule("GET", "/v2/customers/{id}/challenges", Key(Member), Reads),
    rule(
        "GET",
        "/v2/customers/{id}/challenges/{challengeId}",
        Key(Member),
        Reads,
    ),
    rule("GET", "/gateway/api/challenge", Challenge, Reads),
    rule("POST", "/gateway/api/pin/evaluate", Challenge, Signing),
    rule("POST", "/gateway/api/pin/enroll", Challenge, Signing),
    rule("POST", "/gateway/api/pin/unlock", Challenge, Signing),
    rule("POST", "/gateway/api/pin/commit", Challenge, Signing),
    rule("POST", "/gateway/api/operation", Challenge, Signing),
    rule(
        "POST",
        "/gateway/api/transaction/prepare",
        Challenge,
        Signing,
    ),
    rule("POST", "/gateway/api/recovery/evaluate", Challenge, Signing),
    rule("POST", "/gateway/api/recovery/unlock", Challenge, Signing),
    rule("POST", "/gateway/api/recovery/enroll", Challenge, Signing),
    rule("POST", "/gateway/api/recovery/commit", Challenge, Signing),
    rule("POST", "/gateway/api/email/evaluate", Challenge, Signing),
    rule("POST", "/gateway/api/email/unlock", Challenge, Signing),
    rule("GET", "/health", Public, Unlimited),
    rule("GET", "/ready", Public, Unlimited),
    rule("GET", "/metrics", Public, Unlimited),
    rule("GET", "/v2/openapi.json", Public, Unlimited),
    rule("GET", "/v2/docs", Public, Unlimited),
    rule("GET", "/v2/docs/{file}", Public, Unlimited),
];

/// The rule for a request.
pub fn lookup(method: &Method, path: &str) -> Option<&'static Rule> {
    POLICY
        .iter()
        .find(|r| r.path == path && r.method == method.as_str())
}

/// The middleware: authenticates, authorizes, rate-limits, and hands the handler a
/// [`Caller`] (for key routes) in the request extensions.
pub(crate) async fn middleware(State(app): State<App>, mut req: Request, next: Next) -> Response {
    let path = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let label = RouteLabel(path.clone());
    let result = match lookup(req.method(), &path) {
        Some(rule) => admit(&app, rule, &mut req).await,
        None => Err(ApiError::internal(format!(
            "no policy row for {} {path}",
            req.method()
        ))),
    };
    let mut response = match result {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    };
    response.extensions_mut().insert(label);
    response
}

async fn admit(app: &App, rule: &Rule, req: &mut Request) -> ApiResult<()> {
    let ctx = req
        .extensions()
        .get::<Ctx>()
        .cloned()
        .ok_or_else(|| ApiError::internal("request context missing"))?;
    // Owned copies: the request body is not `Sync`, so no borrow of it may live across an
    // await.
    let (token, key) = {
        let header = |name: &str| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        (header(OPERATOR_TOKEN_HEADER), header(API_KEY_HEADER))
    };
    if rule.access == Challenge {
        let token = req
            .headers()
            .get(planbok_api::customers::CHALLENGE_TOKEN_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let gate = challenge_gate(app, token, &ctx).await?;
        limit(app, rule.category, Some(&gate.0.org_id), &ctx).await?;
        req.extensions_mut().insert(gate);
        return Ok(());
    }
    match rule.access {
        Public | Challenge => Ok(()),
        Operator => {
            limit(app, rule.category, None, &ctx).await?;
            let ok = token.is_some_and(|t| auth::token_matches(&t, &app.operator_token_hash));
            if ok {
                Ok(())
            } else {
                let e = ApiError::new(ErrorCode::Unauthorized, "missing or wrong operator token");
                audit::denied(app, audit::SYSTEM_CHAIN, Actor::Anonymous, &ctx, &e).await;
                Err(e)
            }
        }
        Key(min) => {
            let presented = key.as_deref().and_then(auth::parse);
            // The budget before any lookup: an IP that spent it costs nothing more. A key
            // this process has seen succeed passes on (its secret proves it is no guess),
            // so a neighbour behind the same address cannot lock a working key out.
            let proven = presented
                .as_ref()
                .is_some_and(|(id, secret)| app.proven_key(id, secret));
            if !proven
                && !app
                    .limits
                    .may_authenticate(ctx.ip)
                    .await
                    .map_err(limiter_down)?
            {
                return Err(rate_limited());
            }
            let caller = match authenticate(app, presented, &ctx).await {
                Ok(c) => c,
                Err(Failure::Error(e)) => return Err(e),
                Err(Failure::Denied { error, key }) => {
                    if let Some((id, _)) = &key {
                        app.forget_proven_key(id);
                    }
                    if !app
                        .limits
                        .authentication_failed(ctx.ip)
                        .await
                        .map_err(limiter_down)?
                    {
                        // Over budget (requests racing past the check above): refused
                        // like the others, without an audit write.
                        return Err(rate_limited());
                    }
                    if let Some((id, org)) = &key {
                        audit::denied(app, org, Actor::Key(id), &ctx, &error).await;
                    }
                    return Err(error);
                }
            };
            if rule.writes && caller.access == KeyAccess::ReadOnly {
                let e = ApiError::forbidden("this API key is read-only");
                audit::denied(app, &caller.org_id, Actor::Caller(&caller), &ctx, &e).await;
                return Err(e);
            }
            if caller.role < min {
                let e = ApiError::forbidden(format!(
                    "this needs the {} role; the key's member is {}",
                    min.as_str(),
                    caller.role.as_str()
                ));
                audit::denied(app, &caller.org_id, Actor::Caller(&caller), &ctx, &e).await;
                return Err(e);
            }
            limit(app, rule.category, Some(&caller.org_id), &ctx).await?;
            req.extensions_mut().insert(caller);
            Ok(())
        }
    }
}

/// A challenge token's gate: the authentication budget first (as for API keys), then the
/// challenge it hashes to, which must be pending and unexpired. Anything else is the same
/// 401, counted against the address's budget: a token is 256 random bits, so a wrong one is
/// a guess or a replay of a used one.
async fn challenge_gate(
    app: &App,
    token: Option<String>,
    ctx: &Ctx,
) -> ApiResult<crate::routes::gateway::Gate> {
    if !app
        .limits
        .may_authenticate(ctx.ip)
        .await
        .map_err(limiter_down)?
    {
        return Err(rate_limited());
    }
    let found = match token.as_deref().filter(|t| !t.is_empty() && t.len() <= 128) {
        Some(t) => {
            app.store
                .challenge_by_token(&crate::routes::customers::token_hash(t))
                .await?
        }
        None => None,
    };
    let now = crate::now_ms();
    match found {
        Some(ch) if crate::routes::customers::effective_status(&ch, now) == "pending" => {
            Ok(crate::routes::gateway::Gate(ch))
        }
        other => {
            let e = ApiError::new(
                ErrorCode::Unauthorized,
                "missing, unknown, used or expired challenge token",
            );
            if !app
                .limits
                .authentication_failed(ctx.ip)
                .await
                .map_err(limiter_down)?
            {
                return Err(rate_limited());
            }
            if let Some(ch) = other {
                audit::denied(app, &ch.org_id, Actor::Challenge(&ch.id), ctx, &e).await;
            }
            Err(e)
        }
    }
}

/// Why an API key was not accepted.
enum Failure {
    /// The key is missing, malformed, unknown, revoked, wrong, or refused by its
    /// allowlists: a failed authentication (with the key's id and organization when it
    /// names a real key, for the audit trail).
    Denied {
        error: ApiError,
        key: Option<(String, String)>,
    },
    /// The server could not decide (the database): no one's fault, not counted.
    Error(ApiError),
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        Failure::Error(e)
    }
}

fn rate_limited() -> ApiError {
    ApiError::new(ErrorCode::RateLimited, "too many requests; retry later")
}

fn limiter_down(_: crate::ratelimit::Unavailable) -> ApiError {
    ApiError::new(
        ErrorCode::RateLimiterUnavailable,
        "the rate limiter is unavailable; nothing was done, retry later",
    )
}

async fn limit(app: &App, category: Category, org: Option<&str>, ctx: &Ctx) -> ApiResult<()> {
    if app
        .limits
        .check(category, org, ctx.ip)
        .await
        .map_err(limiter_down)?
    {
        Ok(())
    } else {
        Err(rate_limited())
    }
}

async fn authenticate(
    app: &App,
    presented: Option<(String, &str)>,
    ctx: &Ctx,
) -> Result<Caller, Failure> {
    let unauthorized = || ApiError::new(ErrorCode::Unauthorized, "missing or invalid API key");
    let denied = |error: ApiError, key: &ApiKeyRecord| Failure::Denied {
        error,
        key: Some((key.id.clone(), key.org_id.clone())),
    };
    let Some((key_id, secret)) = presented else {
        return Err(Failure::Denied {
            error: unauthorized(),
            key: None,
        });
    };
    let Some((key, role)) = app
        .store
        .api_key_with_role(&key_id)
        .await
        .map_err(ApiError::from)?
    else {
        return Err(Failure::Denied {
            error: unauthorized(),
            key: None,
        });
    };
    if key.revoked_at_ms.is_some() || !auth::secret_matches(secret, &key.secret_hash) {
        return Err(denied(unauthorized(), &key));
    }
    if let Err(e) = auth::check_allowlists(&key, ctx.ip, ctx.origin.as_deref()) {
        return Err(denied(e, &key));
    }
    // A key whose member is gone is revoked with it; no member, no access either way.
    let Some(role) = role else {
        return Err(denied(unauthorized(), &key));
    };
    let role = Role::parse(&role)
        .ok_or_else(|| ApiError::internal(format!("member {} has role {role:?}", key.member_id)))?;
    let access = KeyAccess::parse(&key.access)
        .ok_or_else(|| ApiError::internal(format!("key {} has access {:?}", key.id, key.access)))?;
    app.touch_key(&key);
    app.remember_proven_key(&key);
    Ok(Caller {
        org_id: key.org_id,
        member_id: key.member_id,
        role,
        key_id: key.id,
        access,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The policy and the OpenAPI document name the same routes (the API page and the
    /// document itself are the only undocumented ones).
    #[test]
    fn the_policy_and_the_openapi_document_agree() {
        let mut policy: Vec<(String, String)> = POLICY
            .iter()
            .filter(|r| !r.path.starts_with("/v2/docs") && r.path != "/v2/openapi.json")
            .map(|r| (r.method.to_owned(), r.path.to_owned()))
            .collect();
        policy.sort();
        assert_eq!(policy, planbok_api::openapi::routes());
    }

    #[test]
    fn every_row_is_unique() {
        for (i, a) in POLICY.iter().enumerate() {
            for b in &POLICY[i + 1..] {
                assert!(
                    !(a.method == b.method && a.path == b.path),
                    "{} {} twice",
                    a.method,
                    a.path
                );
            }
        }
    }
}
