//! The Gateway's routes in the OpenAPI document (documentation only, as in the parent).

use crate::ErrorBody;
use crate::customer_ops::*;
use crate::customers::*;

doc_route!(
    #[utoipa::path(get, path = "/gateway/api/challenge", tag = "gateway", security(("challengeToken" = [])),
    responses((status = 200, body = GatewayChallenge), (status = 401, body = ErrorBody, description = "no, a wrong, a used or an expired token")))]
    pub(super) gateway_challenge
);
doc_route!(
    #[utoipa::path(post, path = "/gateway/api/pin/evaluate", tag = "gateway", security(("challengeToken" = [])),
    request_body = GatewayEvaluate,
    responses((status = 200, body = GatewayEvaluated, description = "one PIN attempt, counted by Node 2 before it evaluated"),
        (status = 423, body = ErrorBody, description = "`customer_locked`")))]
    pub(super) gateway_evaluate
);
doc_route!(
    #[utoipa::path(post, path = "/gateway/api/pin/enroll", tag = "gateway", security(("challengeToken" = [])),
    request_body = GatewayEvaluate,
    responses((status = 200, body = GatewayEvaluated), (status = 409, body = ErrorBody, description = "`pin_already_set`")))]
    pub(super) gateway_enroll
);
doc_route!(
    #[utoipa::path(post, path = "/gateway/api/pin/unlock", tag = "gateway", security(("challengeToken" = [])),
    request_body = GatewayUnlock,
    responses((status = 200, body = GatewayUnlocked), (status = 403, body = ErrorBody, description = "`pin_proof_invalid`")))]
    pub(super) gateway_unlock
);
doc_route!(
    #[utoipa::path(post, path = "/gateway/api/pin/commit", tag = "gateway", security(("challengeToken" = [])),
    request_body = GatewayCommit,
    responses((status = 200, body = Challenge, description = "the completed challenge"), (status = 403, body = ErrorBody)))]
    pub(super) gateway_commit
);
doc_route!(
    #[utoipa::path(post, path = "/gateway/api/operation", tag = "gateway", security(("challengeToken" = [])),
    request_body = GatewayOperate,
    responses((status = 200, body = GatewayOperated, description = "the completed challenge (and, for an export, each node's share sealed to the Gateway's key)"),
        (status = 403, body = ErrorBody, description = "`pin_proof_invalid`, `permit_required`")))]
    pub(super) gateway_operate
);
doc_route!(
    #[utoipa::path(post, path = "/gateway/api/transaction/prepare", tag = "gateway", security(("challengeToken" = [])),
    responses((status = 200, body = GatewayPrepared, description = "the transaction's nonce (held for the challenge) and fees; the Gateway signs exactly these"),
        (status = 409, body = ErrorBody, description = "`transaction_not_pending` (a replaced transaction settled meanwhile)"),
        (status = 422, body = ErrorBody, description = "`transaction_would_fail`: the fee rose above what the customer was shown, or funds are short"),
        (status = 503, body = ErrorBody, description = "`wallet_busy`, `chain_unavailable`")))]
    pub(super) gateway_prepare_transaction
);
doc_route!(
    #[utoipa::path(post, path = "/gateway/api/recovery/evaluate", tag = "gateway", security(("challengeToken" = [])),
    request_body = GatewayEvaluate,
    responses((status = 200, body = GatewayEvaluated, description = "one recovery attempt (reset-pin), counted by Node 2 before it evaluated"),
        (status = 423, body = ErrorBody, description = "`recovery_locked`")))]
    pub(super) gateway_recovery_evaluate
);
doc_route!(
    #[utoipa::path(post, path = "/gateway/api/recovery/unlock", tag = "gateway", security(("challengeToken" = [])),
    request_body = GatewayUnlock,
    responses((status = 200, body = GatewayUnlocked, description = "the answers proven; the rekey nonce permits a new PIN"),
        (status = 403, body = ErrorBody, description = "`pin_proof_invalid`")))]
    pub(super) gateway_recovery_unlock
);
doc_route!(
    #[utoipa::path(post, path = "/gateway/api/recovery/enroll", tag = "gateway", security(("challengeToken" = [])),
    request_body = GatewayEvaluate,
    responses((status = 200, body = GatewayEvaluated, description = "a fresh OPRF key for new answers (initialize, recovery)")))]
    pub(super) gateway_recovery_enroll
);
doc_route!(
    #[utoipa::path(post, path = "/gateway/api/recovery/commit", tag = "gateway", security(("challengeToken" = [])),
    request_body = GatewayRecoveryCommit,
    responses((status = 200, body = Challenge, description = "the completed recovery challenge"),
        (status = 403, body = ErrorBody, description = "`pin_proof_invalid`: not signed by the PIN")))]
    pub(super) gateway_recovery_commit
);
doc_route!(
    #[utoipa::path(post, path = "/gateway/api/email/evaluate", tag = "gateway", security(("challengeToken" = [])),
    responses((status = 200, body = GatewayEmailAttempt, description = "one attempt at the emailed code (reset-pin by email), counted by Node 2 before it answers"),
        (status = 423, body = ErrorBody, description = "`recovery_locked`")))]
    pub(super) gateway_email_evaluate
);
doc_route!(
    #[utoipa::path(post, path = "/gateway/api/email/unlock", tag = "gateway", security(("challengeToken" = [])),
    request_body = GatewayUnlock,
    responses((status = 200, body = GatewayEmailUnlocked, description = "the code proven: W_email and the rekey nonce that permits a new PIN"),
        (status = 403, body = ErrorBody, description = "`pin_proof_invalid`: a wrong code")))]
    pub(super) gateway_email_unlock
);
