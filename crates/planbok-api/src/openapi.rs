//! The OpenAPI 3.1 document, served at `/v2/openapi.json`.
//!
//! The route declarations below are documentation only (the server's handlers live in
//! `planbok-server`); a server test checks that every route the router serves appears here
//! and vice versa. Every response is wrapped in the success envelope (`Success`) or is an
//! `ErrorBody`; the schemas named are the envelope's `data`.

use utoipa::openapi::security::{ApiKey as ApiKeyScheme, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::customer_ops::*;
use crate::customers::*;
use crate::model::*;
use crate::{ErrorBody, ErrorCode, ListQuery, Order};

/// The document.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "planbok",
        description = "Self-hosted MPC wallets: the platform's v2 API. Every response is `{success, status, message, data}` or `{success: false, status, message, code}`; match errors on `code`.",
        license(name = "Apache-2.0")
    ),
    paths(
        create_organization, get_organization, create_member, list_members, update_member,
        delete_member, create_api_key, list_api_keys, delete_api_key, organization_public_key,
        register_secret, require_binding, set_email_recovery, set_email_notices, branding, set_branding, chains, create_wallet_set, update_wallet_set, list_wallet_sets,
        get_wallet_set, create_wallets, list_wallets, get_wallet, update_wallet,
        validate_address, sign_message, sign_typed_data, sign_transaction, sign_delegate_action, export_wallets,
        audit_logs, audit_export, create_webhook, list_webhooks, get_webhook, update_webhook,
        delete_webhook, rotate_webhook_secret, test_webhook, webhook_deliveries, replay_delivery,
        token_metadata, create_token, list_tokens, get_token, delete_token, wallet_balances,
        wallet_set_balances, create_transfer, estimate_transfer_fee, create_contract_execution,
        estimate_contract_fee, call_contract_view, cancel_transaction, accelerate_transaction,
        list_org_transactions,
        get_org_transaction, list_transactions, get_transaction,
        health, ready, metrics,
        create_customer, list_customers, get_customer,
        initialize_customer, update_customer_pin, list_challenges, get_challenge,
        gateway::gateway_challenge, gateway::gateway_evaluate, gateway::gateway_enroll, gateway::gateway_unlock, gateway::gateway_commit,
        customer_wallet_create, customer_sign_message, customer_sign_typed_data,
        customer_sign_transaction, customer_sign_delegate_action, customer_export, gateway::gateway_operate,
        customer_transfer, customer_contract_execution, customer_cancel_transaction,
        customer_accelerate_transaction, gateway::gateway_prepare_transaction,
        customer_recovery, reset_customer_pin, gateway::gateway_recovery_evaluate, gateway::gateway_recovery_unlock,
        gateway::gateway_recovery_enroll, gateway::gateway_recovery_commit, gateway::gateway_email_evaluate,
        gateway::gateway_email_unlock
    ),
    components(schemas(ErrorBody, ErrorCode, Order)),
    modifiers(&Security),
    tags((name = "customers", description = "End users with PIN-protected custody; each operation is a challenge the user completes in the Gateway"),
        (name = "gateway", description = "The Gateway's own routes, authorized only by a challenge's one-time token (header `PLANBOK-X-CHALLENGE-TOKEN`), never by an API key")),
    security(("apiKey" = []))
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "apiKey",
            SecurityScheme::ApiKey(ApiKeyScheme::Header(ApiKeyValue::new(
                crate::API_KEY_HEADER,
            ))),
        );
        components.add_security_scheme(
            "challengeToken",
            SecurityScheme::ApiKey(ApiKeyScheme::Header(ApiKeyValue::new(
                crate::customers::CHALLENGE_TOKEN_HEADER,
            ))),
        );
        components.add_security_scheme(
            "operatorToken",
            SecurityScheme::ApiKey(ApiKeyScheme::Header(ApiKeyValue::new(
                crate::OPERATOR_TOKEN_HEADER,
            ))),
        );
    }
}

/// The document as pretty JSON.
pub fn json() -> String {
    let mut doc = match serde_json::to_value(ApiDoc::openapi()) {
        Ok(d) => d,
        Err(e) => return format!("{{\"error\": \"{e}\"}}"),
    };
    crate::openapi_wire::wire(&mut doc);
    serde_json::to_string_pretty(&doc).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// Every `(method, path)` the document declares, for the server's route-coverage test.
pub fn routes() -> Vec<(String, String)> {
    let doc = ApiDoc::openapi();
    let mut out = Vec::new();
    for (path, item) in doc.paths.paths {
        let methods = [
            ("GET", item.get.is_some()),
            ("POST", item.post.is_some()),
            ("PUT", item.put.is_some()),
            ("PATCH", item.patch.is_some()),
            ("DELETE", item.delete.is_some()),
        ];
        for (m, present) in methods {
            if present {
                out.push((m.to_owned(), path.clone()));
            }
        }
    }
    out.sort();
    out
}

macro_rules! doc_route {
    ($(#[$attr:meta])* $vis:vis $name:ident) => {
        $(#[$attr])*
        #[allow(dead_code, reason = "a carrier for its #[utoipa::path] attribute, never called")]
        $vis fn $name() {}
    };
}

doc_route!(
    #[utoipa::path(post, path = "/v2/organizations", tag = "organization", request_body = CreateOrganization,
    security(("operatorToken" = [])),
    responses((status = 201, body = OrganizationCreated), (status = 401, body = ErrorBody)))]
    create_organization
);
doc_route!(
    #[utoipa::path(get, path = "/v2/organization", tag = "organization", responses((status = 200, body = Organization)))]
    get_organization
);
doc_route!(
    #[utoipa::path(post, path = "/v2/organization/members", tag = "organization", request_body = CreateMember,
    responses((status = 201, body = Member), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
    create_member
);
doc_route!(
    #[utoipa::path(get, path = "/v2/organization/members", tag = "organization", params(ListQuery),
    responses((status = 200, body = Vec<Member>, description = "a list page of members")))]
    list_members
);
doc_route!(
    #[utoipa::path(patch, path = "/v2/organization/members/{id}", tag = "organization", request_body = UpdateMember,
    params(("id" = String, Path)), responses((status = 200, body = Member), (status = 404, body = ErrorBody)))]
    update_member
);
doc_route!(
    #[utoipa::path(delete, path = "/v2/organization/members/{id}", tag = "organization",
    params(("id" = String, Path)), responses((status = 200, body = Member), (status = 404, body = ErrorBody)))]
    delete_member
);
doc_route!(
    #[utoipa::path(post, path = "/v2/organization/api-keys", tag = "organization", request_body = CreateApiKey,
    responses((status = 201, body = ApiKeyCreated)))]
    create_api_key
);
doc_route!(
    #[utoipa::path(get, path = "/v2/organization/api-keys", tag = "organization", params(ListQuery),
    responses((status = 200, body = Vec<ApiKey>, description = "a list page of keys")))]
    list_api_keys
);
doc_route!(
    #[utoipa::path(delete, path = "/v2/organization/api-keys/{id}", tag = "organization",
    params(("id" = String, Path)), responses((status = 200, body = ApiKey), (status = 404, body = ErrorBody)))]
    delete_api_key
);
doc_route!(
    #[utoipa::path(get, path = "/v2/config/organization/public-key", tag = "organization",
    responses((status = 200, body = PublicKey)))]
    organization_public_key
);
doc_route!(
    #[utoipa::path(post, path = "/v2/organization/secret", tag = "organization", request_body = RegisterSecret,
    responses((status = 201, body = Organization), (status = 409, body = ErrorBody)))]
    register_secret
);
doc_route!(
    #[utoipa::path(post, path = "/v2/organization/require-binding", tag = "organization", request_body = RequireBinding,
    responses((status = 200, body = Organization), (status = 409, body = ErrorBody)))]
    require_binding
);
doc_route!(
    #[utoipa::path(post, path = "/v2/organization/email-recovery", tag = "organization", request_body = SetEmailRecovery,
    responses((status = 200, body = Organization, description = "recovery by email switched on or off for the organization's customers")))]
    set_email_recovery
);
doc_route!(
    #[utoipa::path(post, path = "/v2/organization/email-notices", tag = "organization", request_body = SetEmailNotices,
    responses((status = 200, body = Organization, description = "security notices by email switched on or off for the organization's customers")))]
    set_email_notices
);
doc_route!(
    #[utoipa::path(get, path = "/v2/organization/branding", tag = "organization",
    responses((status = 200, body = Branding, description = "how the Gateway shows the organization")))]
    branding
);
doc_route!(
    #[utoipa::path(put, path = "/v2/organization/branding", tag = "organization", request_body = SetBranding,
    responses((status = 200, body = Branding, description = "the branding, replaced whole")))]
    set_branding
);
doc_route!(
    #[utoipa::path(get, path = "/v2/config/chains", tag = "organization",
    responses((status = 200, body = Vec<ChainInfo>)))]
    chains
);
doc_route!(
    #[utoipa::path(post, path = "/v2/organization/wallet-sets", tag = "wallets", request_body = CreateWalletSet,
    responses((status = 201, body = WalletSetCreated), (status = 503, body = ErrorBody)))]
    create_wallet_set
);
doc_route!(
    #[utoipa::path(put, path = "/v2/organization/wallet-sets/{id}", tag = "wallets", request_body = UpdateWalletSet,
    params(("id" = String, Path)), responses((status = 200, body = WalletSet)))]
    update_wallet_set
);
doc_route!(
    #[utoipa::path(get, path = "/v2/wallet-sets", tag = "wallets", params(ListQuery),
    responses((status = 200, body = Vec<WalletSet>, description = "a list page of wallet sets")))]
    list_wallet_sets
);
doc_route!(
    #[utoipa::path(get, path = "/v2/wallet-sets/{id}", tag = "wallets",
    params(("id" = String, Path)), responses((status = 200, body = WalletSet), (status = 404, body = ErrorBody)))]
    get_wallet_set
);
doc_route!(
    #[utoipa::path(post, path = "/v2/organization/wallets", tag = "wallets", request_body = CreateWallets,
    responses((status = 201, body = WalletsCreated)))]
    create_wallets
);
doc_route!(
    #[utoipa::path(get, path = "/v2/wallets", tag = "wallets", params(WalletFilter),
    responses((status = 200, body = Vec<Wallet>, description = "a list page of wallets")))]
    list_wallets
);
doc_route!(
    #[utoipa::path(get, path = "/v2/wallets/{id}", tag = "wallets",
    params(("id" = String, Path)), responses((status = 200, body = Wallet), (status = 404, body = ErrorBody)))]
    get_wallet
);
doc_route!(
    #[utoipa::path(put, path = "/v2/wallets/{id}", tag = "wallets", request_body = UpdateWallet,
    params(("id" = String, Path)), responses((status = 200, body = Wallet)))]
    update_wallet
);
doc_route!(
    #[utoipa::path(post, path = "/v2/wallets/validate-address", tag = "wallets", request_body = ValidateAddress,
    responses((status = 200, body = AddressValidity)))]
    validate_address
);
doc_route!(
    #[utoipa::path(post, path = "/v2/organization/sign/message", tag = "signing", request_body = SignMessage,
    responses((status = 200, body = MessageSignature), (status = 401, body = ErrorBody), (status = 503, body = ErrorBody)))]
    sign_message
);
doc_route!(
    #[utoipa::path(post, path = "/v2/organization/sign/typed-data", tag = "signing", request_body = SignTypedData,
    responses((status = 200, body = MessageSignature), (status = 422, body = ErrorBody)))]
    sign_typed_data
);
doc_route!(
    #[utoipa::path(post, path = "/v2/organization/sign/transaction", tag = "signing", request_body = SignTransaction,
    responses((status = 200, body = TransactionSignature), (status = 422, body = ErrorBody)))]
    sign_transaction
);
doc_route!(
    #[utoipa::path(post, path = "/v2/organization/sign/delegate-action", tag = "signing", request_body = SignDelegateAction,
    responses((status = 200, body = DelegateActionSignature, description = "NEAR (NEP-366): the signed delegate action for a relayer"),
        (status = 422, body = ErrorBody, description = "`invalid_transaction`, `not_signer`, `unsupported_operation` (not NEAR)")))]
    sign_delegate_action
);
doc_route!(
    #[utoipa::path(post, path = "/v2/organization/wallets/export", tag = "signing", request_body = ExportWallets,
    responses((status = 200, body = WalletsExported),
        (status = 400, body = ErrorBody, description = "`invalid_request`: more than 200 wallets or more than 64 MPC keys"),
        (status = 403, body = ErrorBody)))]
    export_wallets
);
doc_route!(
    #[utoipa::path(get, path = "/v2/audit-logs", tag = "audit", params(AuditFilter),
    responses((status = 200, body = Vec<AuditEntry>, description = "a list page of entries")))]
    audit_logs
);
doc_route!(
    #[utoipa::path(get, path = "/v2/audit-logs/export", tag = "audit", params(AuditExportQuery),
    responses((status = 200, content_type = "application/x-ndjson", description = "one entry per line, then a final `{\"head\": {seq, hash}}` line")))]
    audit_export
);
doc_route!(
    #[utoipa::path(post, path = "/v2/webhooks", tag = "webhooks", request_body = CreateWebhook,
    responses((status = 201, body = WebhookWithSecret, description = "the endpoint and its secret, shown once"),
        (status = 422, body = ErrorBody, description = "`webhook_url_refused`")))]
    create_webhook
);
doc_route!(
    #[utoipa::path(get, path = "/v2/webhooks", tag = "webhooks", params(ListQuery),
    responses((status = 200, body = Vec<Webhook>, description = "a list page of endpoints")))]
    list_webhooks
);
doc_route!(
    #[utoipa::path(get, path = "/v2/webhooks/{id}", tag = "webhooks", params(("id" = String, Path)),
    responses((status = 200, body = Webhook), (status = 404, body = ErrorBody)))]
    get_webhook
);
doc_route!(
    #[utoipa::path(patch, path = "/v2/webhooks/{id}", tag = "webhooks", request_body = UpdateWebhook,
    params(("id" = String, Path)), responses((status = 200, body = Webhook), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
    update_webhook
);
doc_route!(
    #[utoipa::path(delete, path = "/v2/webhooks/{id}", tag = "webhooks", params(("id" = String, Path)),
    responses((status = 200, body = Webhook), (status = 404, body = ErrorBody)))]
    delete_webhook
);
doc_route!(
    #[utoipa::path(post, path = "/v2/webhooks/{id}/rotate-secret", tag = "webhooks", params(("id" = String, Path)),
    responses((status = 200, body = WebhookWithSecret, description = "the new secret, shown once; the previous one is still signed with for the overlap (24 h)")))]
    rotate_webhook_secret
);
doc_route!(
    #[utoipa::path(post, path = "/v2/webhooks/{id}/test", tag = "webhooks", params(("id" = String, Path)),
    responses((status = 201, body = WebhookDelivery, description = "a `webhook.test` event queued to this endpoint"),
        (status = 409, body = ErrorBody, description = "`webhook_disabled`")))]
    test_webhook
);
doc_route!(
    #[utoipa::path(get, path = "/v2/webhooks/{id}/deliveries", tag = "webhooks", params(("id" = String, Path), DeliveryFilter),
    responses((status = 200, body = Vec<WebhookDelivery>, description = "a list page of deliveries")))]
    webhook_deliveries
);
doc_route!(
    #[utoipa::path(post, path = "/v2/webhooks/deliveries/{id}/replay", tag = "webhooks", params(("id" = String, Path, description = "the delivery id")),
    responses((status = 201, body = WebhookDelivery, description = "a new delivery of the same event (same event id)"),
        (status = 404, body = ErrorBody)))]
    replay_delivery
);
doc_route!(
    #[utoipa::path(get, path = "/health", tag = "operations", security(()),
    responses((status = 200, body = Health)))]
    health
);
doc_route!(
    #[utoipa::path(get, path = "/ready", tag = "operations", security(()),
    responses((status = 200, body = Health), (status = 503, body = Health)))]
    ready
);
doc_route!(
    #[utoipa::path(get, path = "/metrics", tag = "operations", security(()),
    responses((status = 200, content_type = "text/plain", description = "Prometheus text format")))]
    metrics
);

doc_route!(
    #[utoipa::path(get, path = "/v2/tokens/metadata", tag = "tokens",
    responses((status = 200, body = TokenMetadata)))]
    token_metadata
);
doc_route!(
    #[utoipa::path(post, path = "/v2/tokens", tag = "tokens", request_body = CreateToken,
    responses((status = 201, body = Token), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
    create_token
);
doc_route!(
    #[utoipa::path(get, path = "/v2/tokens", tag = "tokens", params(ListQuery),
    responses((status = 200, body = Vec<Token>, description = "a list page: the native coins, then the organization's tokens")))]
    list_tokens
);
doc_route!(
    #[utoipa::path(get, path = "/v2/tokens/{id}", tag = "tokens", params(("id" = String, Path)),
    responses((status = 200, body = Token), (status = 404, body = ErrorBody)))]
    get_token
);
doc_route!(
    #[utoipa::path(delete, path = "/v2/tokens/{id}", tag = "tokens", params(("id" = String, Path)),
    responses((status = 200, body = Token), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "a native coin")))]
    delete_token
);
doc_route!(
    #[utoipa::path(get, path = "/v2/wallets/{id}/balances", tag = "transactions", params(("id" = String, Path)),
    responses((status = 200, body = Balances), (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
    wallet_balances
);
doc_route!(
    #[utoipa::path(get, path = "/v2/wallet-sets/{id}/balances", tag = "transactions", params(("id" = String, Path)),
    responses((status = 200, body = Balances), (status = 503, body = ErrorBody)))]
    wallet_set_balances
);
doc_route!(
    #[utoipa::path(post, path = "/v2/organization/transactions/transfer", tag = "transactions", request_body = CreateTransfer,
    responses((status = 201, body = Transaction, description = "signed and committed; broadcast by the tracker"),
    (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
    create_transfer
);
doc_route!(
    #[utoipa::path(post, path = "/v2/transactions/transfer/estimate-fee", tag = "transactions", request_body = EstimateTransferFee,
    responses((status = 200, body = FeeEstimate), (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
    estimate_transfer_fee
);
doc_route!(
    #[utoipa::path(post, path = "/v2/organization/transactions/contract-execution", tag = "transactions", request_body = CreateContractExecution,
    responses((status = 201, body = Transaction, description = "signed and committed; broadcast by the tracker"),
    (status = 400, body = ErrorBody, description = "invalid_abi: the signature or a parameter"),
    (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
    create_contract_execution
);
doc_route!(
    #[utoipa::path(post, path = "/v2/transactions/contract-execution/estimate-fee", tag = "transactions", request_body = EstimateContractFee,
    responses((status = 200, body = FeeEstimate), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
    estimate_contract_fee
);
doc_route!(
    #[utoipa::path(post, path = "/v2/transactions/contract-view/call", tag = "transactions", request_body = ContractViewCall,
    responses((status = 200, body = ContractViewResult, description = "read-only: nothing signed, nothing stored"),
    (status = 400, body = ErrorBody), (status = 422, body = ErrorBody, description = "the call reverts"), (status = 503, body = ErrorBody)))]
    call_contract_view
);
doc_route!(
    #[utoipa::path(post, path = "/v2/organization/transactions/{id}/cancel", tag = "transactions", request_body = ReplaceTransaction,
    params(("id" = String, Path)),
    responses((status = 201, body = Transaction, description = "the replacement: a 0-value self-transfer with the same nonce and higher fees"),
    (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "transaction_not_pending"), (status = 503, body = ErrorBody)))]
    cancel_transaction
);
doc_route!(
    #[utoipa::path(post, path = "/v2/organization/transactions/{id}/accelerate", tag = "transactions", request_body = ReplaceTransaction,
    params(("id" = String, Path)),
    responses((status = 201, body = Transaction, description = "the replacement: the same call and nonce with higher fees"),
    (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "transaction_not_pending"), (status = 503, body = ErrorBody)))]
    accelerate_transaction
);
doc_route!(
    #[utoipa::path(get, path = "/v2/organization/transactions", tag = "transactions", params(TransactionFilter),
    responses((status = 200, body = Vec<Transaction>, description = "a list page of transactions")))]
    list_org_transactions
);
doc_route!(
    #[utoipa::path(get, path = "/v2/organization/transactions/{id}", tag = "transactions", params(("id" = String, Path)),
    responses((status = 200, body = Transaction), (status = 404, body = ErrorBody)))]
    get_org_transaction
);
doc_route!(
    #[utoipa::path(get, path = "/v2/transactions", tag = "transactions", params(TransactionFilter),
    responses((status = 200, body = Vec<Transaction>, description = "a list page of transactions")))]
    list_transactions
);
doc_route!(
    #[utoipa::path(get, path = "/v2/transactions/{id}", tag = "transactions", params(("id" = String, Path)),
    responses((status = 200, body = Transaction), (status = 404, body = ErrorBody)))]
    get_transaction
);
doc_route!(
    #[utoipa::path(post, path = "/v2/customers", tag = "customers", request_body = CreateCustomer,
    responses((status = 201, body = Customer), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
    create_customer
);
doc_route!(
    #[utoipa::path(get, path = "/v2/customers", tag = "customers", params(ListQuery),
    responses((status = 200, body = Vec<Customer>, description = "a list page of customers")))]
    list_customers
);
doc_route!(
    #[utoipa::path(get, path = "/v2/customers/{id}", tag = "customers", params(("id" = String, Path)),
    responses((status = 200, body = Customer), (status = 404, body = ErrorBody)))]
    get_customer
);
doc_route!(
    #[utoipa::path(post, path = "/v2/customers/{id}/initialize", tag = "customers", request_body = CreateChallenge,
    params(("id" = String, Path)),
    responses((status = 201, body = Challenge, description = "a pending challenge; `redirectUrl` is the Gateway URL with the one-time token in its fragment"),
        (status = 409, body = ErrorBody, description = "`pin_already_set`"), (status = 423, body = ErrorBody, description = "`customer_locked`")))]
    initialize_customer
);
doc_route!(
    #[utoipa::path(post, path = "/v2/customers/{id}/update-pin", tag = "customers", request_body = CreateChallenge,
    params(("id" = String, Path)),
    responses((status = 201, body = Challenge), (status = 409, body = ErrorBody, description = "`pin_not_set`"),
        (status = 423, body = ErrorBody, description = "`customer_locked`")))]
    update_customer_pin
);
doc_route!(
    #[utoipa::path(get, path = "/v2/customers/{id}/challenges", tag = "customers", params(("id" = String, Path), ListQuery),
    responses((status = 200, body = Vec<Challenge>, description = "a list page of challenges, newest first by default")))]
    list_challenges
);
doc_route!(
    #[utoipa::path(get, path = "/v2/customers/{id}/challenges/{challengeId}", tag = "customers",
    params(("id" = String, Path), ("challengeId" = String, Path)),
    responses((status = 200, body = Challenge), (status = 404, body = ErrorBody)))]
    get_challenge
);
doc_route!(
    #[utoipa::path(post, path = "/v2/customers/{id}/wallet/create", tag = "customers", request_body = CreateCustomerWallets,
    params(("id" = String, Path)),
    responses((status = 201, body = Challenge, description = "a pending challenge whose completion runs the DKGs under the customer's PIN; its `result` lists the wallets"),
        (status = 409, body = ErrorBody, description = "`pin_not_set`"), (status = 423, body = ErrorBody, description = "`customer_locked`")))]
    customer_wallet_create
);
doc_route!(
    #[utoipa::path(post, path = "/v2/customers/{id}/sign/message", tag = "customers", request_body = CustomerSignMessage,
    params(("id" = String, Path)),
    responses((status = 201, body = Challenge, description = "a pending challenge; `result`: `{signature, r, s, v, digest, standard}`"),
        (status = 404, body = ErrorBody, description = "not the customer's wallet")))]
    customer_sign_message
);
doc_route!(
    #[utoipa::path(post, path = "/v2/customers/{id}/sign/typed-data", tag = "customers", request_body = CustomerSignTypedData,
    params(("id" = String, Path)),
    responses((status = 201, body = Challenge), (status = 422, body = ErrorBody, description = "`invalid_typed_data`")))]
    customer_sign_typed_data
);
doc_route!(
    #[utoipa::path(post, path = "/v2/customers/{id}/sign/transaction", tag = "customers", request_body = CustomerSignTransaction,
    params(("id" = String, Path)),
    responses((status = 201, body = Challenge, description = "`result`: `{signature, signedTransaction, txHash}`"),
        (status = 422, body = ErrorBody, description = "`invalid_transaction`")))]
    customer_sign_transaction
);
doc_route!(
    #[utoipa::path(post, path = "/v2/customers/{id}/transactions/transfer", tag = "customers", request_body = CustomerTransfer,
    params(("id" = String, Path)),
    responses((status = 201, body = Challenge, description = "a challenge to send the transfer; `result`: `{transactionId, transactionHash, nonce, digest}`"),
        (status = 422, body = ErrorBody, description = "`transaction_would_fail` (with the node's reason, or insufficient funds), `chain_not_configured`, `unsupported_operation`")))]
    customer_transfer
);
doc_route!(
    #[utoipa::path(post, path = "/v2/customers/{id}/transactions/contract-execution", tag = "customers", request_body = CustomerContractExecution,
    params(("id" = String, Path)),
    responses((status = 201, body = Challenge, description = "a challenge to send the contract call; `result` as a transfer's"),
        (status = 400, body = ErrorBody, description = "`invalid_abi`"),
        (status = 422, body = ErrorBody, description = "`transaction_would_fail`")))]
    customer_contract_execution
);
doc_route!(
    #[utoipa::path(post, path = "/v2/customers/{id}/transactions/{txId}/cancel", tag = "customers", request_body = CreateChallenge,
    params(("id" = String, Path), ("txId" = String, Path)),
    responses((status = 201, body = Challenge, description = "a challenge to replace the customer's pending transaction with a 0-value self-transfer (same nonce, fees +12.5 %)"),
        (status = 409, body = ErrorBody, description = "`transaction_not_pending`")))]
    customer_cancel_transaction
);
doc_route!(
    #[utoipa::path(post, path = "/v2/customers/{id}/transactions/{txId}/accelerate", tag = "customers", request_body = CreateChallenge,
    params(("id" = String, Path), ("txId" = String, Path)),
    responses((status = 201, body = Challenge, description = "a challenge to replace the customer's pending transaction with the same call at higher fees"),
        (status = 409, body = ErrorBody, description = "`transaction_not_pending`")))]
    customer_accelerate_transaction
);
doc_route!(
    #[utoipa::path(post, path = "/v2/customers/{id}/sign/delegate-action", tag = "customers", request_body = CustomerSignDelegateAction,
    params(("id" = String, Path)),
    responses((status = 201, body = Challenge, description = "`result`: `{signature, signedDelegateAction}`"),
        (status = 422, body = ErrorBody, description = "`invalid_transaction`, `not_signer`, `unsupported_operation` (not NEAR)")))]
    customer_sign_delegate_action
);
doc_route!(
    #[utoipa::path(post, path = "/v2/customers/{id}/export-private-keys", tag = "customers", request_body = CreateChallenge,
    params(("id" = String, Path)),
    responses((status = 201, body = Challenge, description = "a challenge to export every key of the customer; the keys are rebuilt only in the Gateway"),
        (status = 404, body = ErrorBody, description = "the customer has no wallets")))]
    customer_export
);
doc_route!(
    #[utoipa::path(post, path = "/v2/customers/{id}/recovery", tag = "customers", request_body = CreateChallenge,
    params(("id" = String, Path)),
    responses((status = 201, body = Challenge, description = "a challenge to set or change the security questions (the user proves the PIN)"),
        (status = 409, body = ErrorBody, description = "`pin_not_set`"), (status = 423, body = ErrorBody, description = "`customer_locked`")))]
    customer_recovery
);
doc_route!(
    #[utoipa::path(post, path = "/v2/customers/{id}/reset-pin", tag = "customers", request_body = ResetPin,
    params(("id" = String, Path)),
    responses((status = 201, body = Challenge, description = "a challenge to recover (security questions, or the recovery code the server emails: `method: email`) and set a new PIN; also for a locked customer (event `customer.recovery_initiated`)"),
        (status = 409, body = ErrorBody, description = "`pin_not_set`, `recovery_not_set`, `email_recovery_disabled`")))]
    reset_customer_pin
);

/// The Gateway's own routes (challenge token).
mod gateway;

#[cfg(test)]
mod tests {
    #[test]
    fn the_document_renders_and_lists_the_routes() {
        let json: serde_json::Value = serde_json::from_str(&super::json()).unwrap_or_default();
        assert_eq!(json["info"]["title"], "planbok");
        let routes = super::routes();
        assert_eq!(routes.len(), 95, "{routes:?}");
        assert!(routes.contains(&("POST".into(), "/v2/organization/sign/message".into())));
    }
}
