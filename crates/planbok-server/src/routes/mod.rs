//! The routes. Each handler finds objects by the caller's organization, so another
//! organization's ids answer 404.

mod audit_logs;
pub(crate) mod challenge_kind;
mod contracts;
pub(crate) mod convert;
pub(crate) mod customer_tx;
pub(crate) mod customer_wallets;
pub(crate) mod customers;
mod export;
pub(crate) mod gateway;
mod gateway_email;
pub(crate) mod gateway_ops;
pub(crate) mod gateway_recovery;
mod gateway_tx;
mod members;
mod ops;
pub(crate) mod org_settings;
mod orgs;
pub(crate) mod replace;
pub(crate) mod sign;
mod tokens;
pub(crate) mod transfers;
pub(crate) mod tx_list;
mod tx_submit;
mod wallet_sets;
mod wallets;
mod webhooks;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post, put};
use planbok_api::{ErrorCode, ListQuery, Order, Success};
use serde::Serialize;

use crate::App;
use crate::error::{ApiError, ApiResult};

/// Every route; the policy table has one row for each (a test checks both ways).
pub(crate) fn routes() -> Router<App> {
    api_routes().merge(gateway_routes())
}

/// The Gateway's routes (authorized by a challenge's token): served on the API's listener
/// and on the Gateway's own.
pub(crate) fn gateway_routes() -> Router<App> {
    Router::new()
        .route("/gateway/api/challenge", get(gateway::challenge))
        .route("/gateway/api/pin/evaluate", post(gateway::evaluate))
        .route("/gateway/api/pin/enroll", post(gateway::enroll))
        .route("/gateway/api/pin/unlock", post(gateway::unlock))
        .route("/gateway/api/pin/commit", post(gateway::commit))
        .route("/gateway/api/email/evaluate", post(gateway_email::evaluate))
        .route("/gateway/api/email/unlock", post(gateway_email::unlock))
        .route("/gateway/api/operation", post(gateway_ops::operate))
        .route(
            "/gateway/api/transaction/prepare",
            post(gateway_tx::prepare),
        )
        .route(
            "/gateway/api/recovery/evaluate",
            post(gateway_recovery::evaluate),
        )
        .route(
            "/gateway/api/recovery/unlock",
            post(gateway_recovery::unlock),
        )
        .route(
            "/gateway/api/recovery/enroll",
            post(gateway_recovery::enroll),
        )
        .route(
            "/gateway/api/recovery/commit",
            post(gateway_recovery::commit),
        )
}

/// The organization's, the operator's and the public routes.
fn api_routes() -> Router<App> {
    Router::new()
        .route("/v2/organizations", post(orgs::create))
        .route("/v2/organization", get(orgs::get))
        .route(
            "/v2/organization/members",
            post(members::create).get(members::list),
        )
        .route(
            "/v2/organization/members/{id}",
            patch(members::update).delete(members::remove),
        )
        .route(
            "/v2/organization/api-keys",
            post(members::create_key).get(members::list_keys),
        )
        .route(
            "/v2/organization/api-keys/{id}",
            axum::routing::delete(members::revoke_key),
        )
        .route("/v2/config/organization/public-key", get(orgs::public_key))
        .route("/v2/organization/secret", post(orgs::register_secret))
        .route(
            "/v2/organization/require-binding",
            post(orgs::require_binding),
        )
        .route(
            "/v2/organization/email-recovery",
            post(org_settings::set_email_recovery),
        )
        .route(
            "/v2/organization/email-notices",
            post(org_settings::set_email_notices),
        )
        .route(
            "/v2/organization/branding",
            get(org_settings::branding).put(org_settings::set_branding),
        )
        .route("/v2/config/chains", get(orgs::chains))
        .route("/v2/organization/wallet-sets", post(wallet_sets::create))
        .route(
            "/v2/organization/wallet-sets/{id}",
            put(wallet_sets::rename),
        )
        .route("/v2/wallet-sets", get(wallet_sets::list))
        .route("/v2/wallet-sets/{id}", get(wallet_sets::get))
        .route("/v2/organization/wallets", post(wallets::create))
        .route("/v2/wallets", get(wallets::list))
        .route("/v2/wallets/{id}", get(wallets::get).put(wallets::update))
        .route(
            "/v2/wallets/validate-address",
            post(wallets::validate_address),
        )
        .route("/v2/organization/sign/message", post(sign::message))
        .route("/v2/organization/sign/typed-data", post(sign::typed_data))
        .route("/v2/organization/sign/transaction", post(sign::transaction))
        .route(
            "/v2/organization/sign/delegate-action",
            post(sign::delegate_action),
        )
        .route("/v2/organization/wallets/export", post(export::export))
        .route("/v2/tokens/metadata", get(tokens::metadata))
        .route("/v2/tokens", post(tokens::create).get(tokens::list))
        .route("/v2/tokens/{id}", get(tokens::get).delete(tokens::remove))
        .route("/v2/wallets/{id}/balances", get(tokens::wallet_balances))
        .route(
            "/v2/wallet-sets/{id}/balances",
            get(tokens::wallet_set_balances),
        )
        .route(
            "/v2/organization/transactions/transfer",
            post(transfers::transfer),
        )
        .route(
            "/v2/transactions/transfer/estimate-fee",
            post(transfers::estimate),
        )
        .route(
            "/v2/organization/transactions/contract-execution",
            post(contracts::execute),
        )
        .route(
            "/v2/transactions/contract-execution/estimate-fee",
            post(contracts::estimate),
        )
        .route("/v2/transactions/contract-view/call", post(contracts::view))
        .route(
            "/v2/organization/transactions/{id}/cancel",
            post(replace::cancel),
        )
        .route(
            "/v2/organization/transactions/{id}/accelerate",
            post(replace::accelerate),
        )
        .route("/v2/organization/transactions", get(tx_list::list))
        .route("/v2/organization/transactions/{id}", get(tx_list::get))
        .route("/v2/transactions", get(tx_list::list))
        .route("/v2/transactions/{id}", get(tx_list::get))
        .route("/v2/audit-logs", get(audit_logs::list))
        .route("/v2/audit-logs/export", get(audit_logs::export))
        .route("/v2/webhooks", post(webhooks::create).get(webhooks::list))
        .route(
            "/v2/webhooks/{id}",
            get(webhooks::get)
                .patch(webhooks::update)
                .delete(webhooks::remove),
        )
        .route(
            "/v2/webhooks/{id}/rotate-secret",
            post(webhooks::rotate_secret),
        )
        .route("/v2/webhooks/{id}/test", post(webhooks::test))
        .route("/v2/webhooks/{id}/deliveries", get(webhooks::deliveries))
        .route(
            "/v2/webhooks/deliveries/{id}/replay",
            post(webhooks::replay),
        )
        .route(
            "/v2/customers",
            post(customers::create).get(customers::list),
        )
        .route("/v2/customers/{id}", get(customers::get))
        .route("/v2/customers/{id}/initialize", post(customers::initialize))
        .route("/v2/customers/{id}/update-pin", post(customers::update_pin))
        .route("/v2/customers/{id}/recovery", post(customers::recovery))
        .route("/v2/customers/{id}/reset-pin", post(customers::reset_pin))
        .route(
            "/v2/customers/{id}/wallet/create",
            post(customer_wallets::wallet_create),
        )
        .route(
            "/v2/customers/{id}/sign/message",
            post(customer_wallets::sign_message),
        )
        .route(
            "/v2/customers/{id}/sign/typed-data",
            post(customer_wallets::sign_typed_data),
        )
        .route(
            "/v2/customers/{id}/sign/transaction",
            post(customer_wallets::sign_transaction),
        )
        .route(
            "/v2/customers/{id}/sign/delegate-action",
            post(customer_wallets::sign_delegate_action),
        )
        .route(
            "/v2/customers/{id}/export-private-keys",
            post(customer_wallets::export),
        )
        .route(
            "/v2/customers/{id}/transactions/transfer",
            post(customer_tx::transfer),
        )
        .route(
            "/v2/customers/{id}/transactions/contract-execution",
            post(customer_tx::contract_execution),
        )
        .route(
            "/v2/customers/{id}/transactions/{txId}/cancel",
            post(customer_tx::cancel),
        )
        .route(
            "/v2/customers/{id}/transactions/{txId}/accelerate",
            post(customer_tx::accelerate),
        )
        .route(
            "/v2/customers/{id}/challenges",
            get(customers::list_challenges),
        )
        .route(
            "/v2/customers/{id}/challenges/{challengeId}",
            get(customers::get_challenge),
        )
        .route("/health", get(ops::health))
        .route("/ready", get(ops::ready))
        .route("/metrics", get(ops::metrics))
        .route("/v2/openapi.json", get(crate::docs::openapi))
        .route("/v2/docs", get(crate::docs::page))
        .route("/v2/docs/{file}", get(crate::docs::asset))
}

/// 404 for unknown routes.
pub(crate) async fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such route")
}

/// 405 for a known route with another method.
pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        "method not allowed on this route",
    )
}

/// What a handler of an organization's route works with: the server, the authenticated
/// caller and the request's context. Passed whole to the helpers that audit, sign or
/// check in the caller's name.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Req<'a> {
    pub(crate) app: &'a App,
    pub(crate) caller: &'a crate::auth::Caller,
    pub(crate) ctx: &'a crate::context::Ctx,
}

/// The success envelope as a response.
pub(crate) fn ok<T: Serialize>(status: StatusCode, message: &str, data: T) -> Response {
    (
        status,
        axum::Json(Success::new(status.as_u16(), message, data)),
    )
        .into_response()
}

/// The success envelope as the exact JSON text stored for idempotent replays.
pub(crate) fn envelope_json<T: Serialize>(
    status: StatusCode,
    message: &str,
    data: T,
) -> ApiResult<String> {
    serde_json::to_string(&Success::new(status.as_u16(), message, data)).map_err(ApiError::internal)
}

/// A stored JSON text as a response.
pub(crate) fn json_response(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    r
}

/// `page`, `limit`, `desc` after defaults and bounds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Page {
    pub page: u32,
    pub limit: u32,
    pub desc: bool,
}

impl Page {
    pub(crate) fn from_parts(
        page: Option<u32>,
        limit: Option<u32>,
        order: Option<Order>,
    ) -> ApiResult<Page> {
        let page = page.unwrap_or(1);
        let limit = limit.unwrap_or(10);
        // The document's `page` is an int32 (utoipa's `u32`), as most clients read it.
        if page == 0 || page > i32::MAX as u32 {
            return Err(ApiError::invalid("page must be between 1 and 2147483647"));
        }
        if !(1..=100).contains(&limit) {
            return Err(ApiError::invalid("limit must be between 1 and 100"));
        }
        Ok(Page {
            page,
            limit,
            desc: order.unwrap_or_default() == Order::Desc,
        })
    }

    pub(crate) fn from_query(q: &ListQuery) -> ApiResult<Page> {
        Page::from_parts(q.page, q.limit, q.order)
    }

    pub(crate) fn list<T>(&self, items: Vec<T>, total: i64) -> planbok_api::List<T> {
        planbok_api::List {
            items,
            page: self.page,
            limit: self.limit,
            total: total.max(0) as u64,
        }
    }
}

/// Query-string parsing with our error shape.
pub(crate) fn query<T: serde::de::DeserializeOwned>(
    q: Result<axum::extract::Query<T>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<T> {
    q.map(|q| q.0)
        .map_err(|e| ApiError::invalid(format!("query: {}", e.body_text())))
}

/// A non-empty trimmed name of at most `max` characters.
pub(crate) fn name(field: &str, s: &str, max: usize) -> ApiResult<String> {
    let t = s.trim();
    if t.is_empty() || t.chars().count() > max {
        return Err(ApiError::invalid(format!(
            "{field} must be 1 to {max} characters"
        )));
    }
    Ok(t.to_owned())
}
