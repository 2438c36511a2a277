//! Tokens (the chains' native coins, with ids derived from the chain id, and the
//! organization's registered ERC-20s, ERC-721s and ERC-1155s) and balances read from the
//! chain.

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use planbok_api::model::{Balance, Balances, CreateToken, Token, TokenChain, TokenMetadata};
use planbok_api::{ErrorCode, ListQuery};
use planbok_chains::{Address, Chain, Family, TransferToken, U256};
use planbok_store::server::{Commit, TokenRecord, WalletQuery, WalletRecord};

use super::convert::rfc3339;
use super::transfers::NATIVE_DECIMALS;
use super::{Page, envelope_json, json_response, name, ok, query};
use crate::audit::Op;
use crate::auth::Caller;
use crate::body::Body;
use crate::context::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::evm::rpc::CallRequest;
use crate::evm::{ChainRpc, unavailable};
use crate::{App, idem, now_ms};

/// The standards `POST /v2/tokens` accepts.
const STANDARDS: &[&str] = planbok_api::TOKEN_STANDARDS;
/// The most tokens an organization may register (balances read each one).
const MAX_TOKENS: i64 = 1000;

/// A token a request names.
pub(crate) enum ResolvedToken {
    /// A chain's native coin.
    Native(Chain),
    /// A registered token.
    Registered(TokenRecord),
}

impl ResolvedToken {
    pub(crate) fn blockchain(&self) -> &str {
        match self {
            ResolvedToken::Native(c) => c.id(),
            ResolvedToken::Registered(t) => &t.blockchain,
        }
    }

    pub(crate) fn decimals(&self) -> u8 {
        match self {
            ResolvedToken::Native(_) => NATIVE_DECIMALS,
            ResolvedToken::Registered(t) => t.decimals,
        }
    }

    /// `native`, `erc20`, `erc721` or `erc1155`.
    pub(crate) fn standard(&self) -> &str {
        match self {
            ResolvedToken::Native(_) => "native",
            ResolvedToken::Registered(t) => &t.standard,
        }
    }

    /// The contract (`None` for a native coin).
    pub(crate) fn address(&self) -> Option<&str> {
        match self {
            ResolvedToken::Native(_) => None,
            ResolvedToken::Registered(t) => Some(&t.address),
        }
    }

    pub(crate) fn symbol(&self) -> &str {
        match self {
            ResolvedToken::Native(c) => c.native_symbol(),
            ResolvedToken::Registered(t) => &t.symbol,
        }
    }

    /// What a transfer of it calls (`planbok_chains::transfer_call`).
    pub(crate) fn transfer_token(&self) -> ApiResult<TransferToken> {
        TransferToken::from_standard(self.standard(), self.address(), self.decimals())
            .map_err(ApiError::internal)
    }
}

/// The EVM chains, whose native coins are tokens.
fn evm_chains() -> impl Iterator<Item = Chain> {
    Chain::all()
        .iter()
        .copied()
        .filter(|c| c.family() == Family::Evm)
}

/// The native coin with id `id`, if it is one.
fn native(id: &str) -> Option<Chain> {
    evm_chains().find(|c| planbok_chains::native_token_id(*c) == id)
}

/// The token `id` of `org_id` (404 `not_found` otherwise).
pub(crate) async fn resolve_token(app: &App, org_id: &str, id: &str) -> ApiResult<ResolvedToken> {
    if let Some(c) = native(id) {
        return Ok(ResolvedToken::Native(c));
    }
    app.store
        .token(org_id, id)
        .await?
        .map(ResolvedToken::Registered)
        .ok_or_else(|| ApiError::not_found("token"))
}

fn native_token(c: Chain) -> Token {
    Token {
        id: planbok_chains::native_token_id(c),
        blockchain: c.id().into(),
        standard: "native".into(),
        name: c.display_name().into(),
        symbol: c.native_symbol().into(),
        decimals: NATIVE_DECIMALS,
        address: None,
        is_native: true,
        created_at: None,
    }
}

fn token(t: &TokenRecord) -> Token {
    Token {
        id: t.id.clone(),
        blockchain: t.blockchain.clone(),
        standard: t.standard.clone(),
        name: t.name.clone(),
        symbol: t.symbol.clone(),
        decimals: t.decimals,
        address: Some(t.address.clone()),
        is_native: false,
        created_at: Some(rfc3339(t.created_at_ms)),
    }
}

fn resolved(t: &ResolvedToken) -> Token {
    match t {
        ResolvedToken::Native(c) => native_token(*c),
        ResolvedToken::Registered(t) => token(t),
    }
}

/// `GET /v2/tokens/metadata`.
pub(crate) async fn metadata(State(app): State<App>) -> Response {
    let chains = evm_chains()
        .map(|c| TokenChain {
            blockchain: c.id().into(),
            native_token_id: planbok_chains::native_token_id(c),
            native_symbol: c.native_symbol().into(),
            configured: app.chains.has(c),
        })
        .collect();
    ok(
        StatusCode::OK,
        "Token metadata",
        TokenMetadata {
            chains,
            standards: STANDARDS.iter().map(|s| (*s).to_owned()).collect(),
        },
    )
}

/// `POST /v2/tokens`.
pub(crate) async fn create(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Extension(ctx): Extension<Ctx>,
    body: Body<CreateToken>,
) -> ApiResult<Response> {
    let b = &body.value;
    let chain = Chain::parse(&b.blockchain)?;
    if chain.family() != Family::Evm {
        return Err(ApiError::new(
            ErrorCode::UnsupportedOperation,
            format!("tokens on {} are not supported yet", chain.id()),
        ));
    }
    if !STANDARDS.contains(&b.standard.as_str()) {
        return Err(ApiError::invalid(format!(
            "standard must be one of {} (native coins are built in)",
            STANDARDS.join(", ")
        )));
    }
    if b.decimals > planbok_chains::MAX_DECIMALS {
        return Err(ApiError::invalid("decimals must be 0 to 77"));
    }
    if b.standard != "erc20" && b.decimals != 0 {
        return Err(ApiError::invalid(format!(
            "decimals of an {} token is 0 (NFTs are counted whole)",
            b.standard
        )));
    }
    let address = planbok_chains::parse_evm_address(&b.address)
        .map_err(|e| ApiError::invalid(format!("address: {e}")))?;
    let token_name = name("name", &b.name, 100)?;
    let symbol = name("symbol", &b.symbol, 32)?;
    let idem = idem::begin_or_replay!(
        &app,
        &caller,
        "token.create",
        b.idempotency_key.as_deref(),
        &body.json
    );
    let op = Op::new(
        &app,
        &caller,
        &ctx,
        "token.create",
        None,
        serde_json::json!({ "blockchain": chain.id(), "standard": b.standard, "address": b.address }),
    );
    let result = async {
        let (_, total) = app.store.list_tokens(&caller.org_id, (1, 1, false)).await?;
        if total >= MAX_TOKENS {
            return Err(ApiError::invalid(format!(
                "an organization registers at most {MAX_TOKENS} tokens"
            )));
        }
        let record = TokenRecord {
            id: uuid::Uuid::new_v4().to_string(),
            org_id: caller.org_id.clone(),
            blockchain: chain.id().into(),
            standard: b.standard.clone(),
            name: token_name.clone(),
            symbol: symbol.clone(),
            decimals: b.decimals,
            address: format!("{address:#x}"),
            created_at_ms: now_ms(),
        };
        let text = envelope_json(StatusCode::CREATED, "Token registered", token(&record))?;
        let commit = Commit {
            mails: Vec::new(),
            audit: vec![op.draft("success", Some(serde_json::json!({ "tokenId": record.id })))],
            idempotency: Some(idem.done(201, text.clone())),
            events: Vec::new(),
        };
        app.store
            .create_token(&record, &commit)
            .await
            .map_err(|e| match e {
                planbok_store::StoreError::Conflict(_) => ApiError::new(
                    ErrorCode::Conflict,
                    "this organization already registered a token at this address on this chain",
                ),
                e => e.into(),
            })?;
        Ok(json_response(StatusCode::CREATED, text))
    }
    .await;
    super::orgs::finish(&app, &op, &idem, result).await
}

/// `GET /v2/tokens`: the native coins, then the organization's tokens, oldest first.
pub(crate) async fn list(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let q = query(q)?;
    let page = Page::from_query(&q)?;
    let (registered, _) = app
        .store
        .list_tokens(&caller.org_id, (1, MAX_TOKENS as u32, false))
        .await?;
    let mut all: Vec<Token> = evm_chains().map(native_token).collect();
    all.extend(registered.iter().map(token));
    if page.desc {
        all.reverse();
    }
    let total = all.len() as i64;
    // In u64: a page number near u32::MAX times the limit overflows u32.
    let start =
        usize::try_from((u64::from(page.page) - 1) * u64::from(page.limit)).unwrap_or(usize::MAX);
    let items: Vec<Token> = all
        .into_iter()
        .skip(start)
        .take(page.limit as usize)
        .collect();
    Ok(ok(StatusCode::OK, "Tokens", page.list(items, total)))
}

/// `GET /v2/tokens/{id}`.
pub(crate) async fn get(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let t = resolve_token(&app, &caller.org_id, &id).await?;
    Ok(ok(StatusCode::OK, "Token", resolved(&t)))
}

/// `DELETE /v2/tokens/{id}`: a registered token (a native coin is 409 `conflict`).
pub(crate) async fn remove(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let t = match resolve_token(&app, &caller.org_id, &id).await? {
        ResolvedToken::Native(_) => {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                "a chain's native coin cannot be deleted",
            ));
        }
        ResolvedToken::Registered(t) => t,
    };
    let op = Op::new(
        &app,
        &caller,
        &ctx,
        "token.delete",
        Some(t.id.clone()),
        serde_json::json!({ "address": t.address, "blockchain": t.blockchain }),
    );
    app.store
        .delete_token(
            &caller.org_id,
            &t.id,
            &Commit::audit(op.draft("success", None)),
        )
        .await?;
    Ok(ok(StatusCode::OK, "Token deleted", token(&t)))
}

/// The balances of the wallets `wallets` (all on EVM chains this server reaches), summed
/// per token: each chain's native coin, then the organization's tokens on it.
async fn balances_of(app: &App, org_id: &str, wallets: &[WalletRecord]) -> ApiResult<Balances> {
    let mut items = Vec::new();
    let mut chains: Vec<Chain> = Vec::new();
    for w in wallets {
        let c = Chain::parse(&w.blockchain)?;
        if !chains.contains(&c) {
            chains.push(c);
        }
    }
    for chain in chains {
        let rpc = app.chains.get(chain)?;
        let mut owners: Vec<Address> = Vec::new();
        for w in wallets.iter().filter(|w| w.blockchain == chain.id()) {
            owners.push(
                planbok_chains::parse_evm_address(&w.address)
                    .map_err(|e| ApiError::internal(format!("stored wallet address: {e}")))?,
            );
        }
        let mut native_sum = U256::ZERO;
        for o in &owners {
            let b = rpc
                .rpc
                .balance(*o)
                .await
                .map_err(|e| unavailable(chain, e))?;
            native_sum = native_sum.saturating_add(b);
        }
        items.push(Balance {
            amount: planbok_chains::format_amount(native_sum, NATIVE_DECIMALS),
            token: native_token(chain),
            nft_token_id: None,
        });
        // ERC-20 and ERC-721 answer `balanceOf(owner)` (a count for ERC-721); ERC-1155
        // balances are per token id (below).
        for t in app.store.tokens_on(org_id, chain.id()).await? {
            let contract = planbok_chains::parse_evm_address(&t.address)
                .map_err(|e| ApiError::internal(format!("stored token address: {e}")))?;
            if t.standard == "erc1155" {
                items.extend(erc1155_balances(&rpc, chain, &t, contract, &owners).await?);
                continue;
            }
            let mut sum = U256::ZERO;
            for o in &owners {
                let answer = read(
                    &rpc,
                    chain,
                    contract,
                    planbok_chains::erc20_balance_of_data(*o),
                )
                .await?;
                if answer.len() != 32 {
                    return Err(ApiError::new(
                        ErrorCode::ChainUnavailable,
                        format!(
                            "token {} at {} did not answer balanceOf with a uint256",
                            t.symbol, t.address
                        ),
                    ));
                }
                sum = sum.saturating_add(U256::from_be_slice(&answer));
            }
            items.push(Balance {
                amount: planbok_chains::format_amount(sum, t.decimals),
                token: token(&t),
                nft_token_id: None,
            });
        }
    }
    Ok(Balances { items })
}

/// A read-only call of `contract` with `data` on the latest block.
async fn read(
    rpc: &ChainRpc,
    chain: Chain,
    contract: Address,
    data: Vec<u8>,
) -> ApiResult<Vec<u8>> {
    let call = CallRequest {
        from: None,
        to: contract,
        value: U256::ZERO,
        data,
        gas: None,
    };
    rpc.rpc
        .eth_call(&call, "latest")
        .await
        .map_err(|e| unavailable(chain, e))
}

/// The most (account, id) pairs one `balanceOfBatch` call asks for.
const BALANCE_BATCH: usize = 200;

/// ERC-1155 token `t` (at `contract`) held by `owners`: one item per token id whose sum is
/// not zero, ids in ascending order. The ids are those the owners received (the contract's
/// `TransferSingle`/`TransferBatch` logs naming one of them as `to`, mints included); each
/// (owner, id) balance comes from `balanceOfBatch`.
async fn erc1155_balances(
    rpc: &ChainRpc,
    chain: Chain,
    t: &TokenRecord,
    contract: Address,
    owners: &[Address],
) -> ApiResult<Vec<Balance>> {
    let topics = [
        planbok_chains::erc1155_transfer_topics().to_vec(),
        Vec::new(),
        Vec::new(),
        owners
            .iter()
            .map(|o| planbok_chains::address_topic(*o))
            .collect(),
    ];
    let logs = rpc.rpc.logs(contract, &topics).await.map_err(|e| {
        tracing::warn!(chain = chain.id(), error = %e, "eth_getLogs failed");
        ApiError::new(
            ErrorCode::ChainUnavailable,
            format!(
                "the {} RPC did not list the transfer logs of token {} at {} (ERC-1155 balances \
                 need eth_getLogs over the whole chain for the token's address): {e}",
                chain.id(),
                t.symbol,
                t.address
            ),
        )
    })?;
    let mut ids = std::collections::BTreeSet::new();
    for l in &logs {
        if let Some(topic0) = l.topics.first() {
            let found = planbok_chains::erc1155_log_ids(topic0, &l.data).map_err(|e| {
                ApiError::new(
                    ErrorCode::ChainUnavailable,
                    format!("token {} at {}: {e}", t.symbol, t.address),
                )
            })?;
            ids.extend(found);
        }
    }
    let pairs: Vec<(U256, Address)> = ids
        .iter()
        .flat_map(|id| owners.iter().map(move |o| (*id, *o)))
        .collect();
    let mut sums = std::collections::BTreeMap::<U256, U256>::new();
    for chunk in pairs.chunks(BALANCE_BATCH) {
        let accounts: Vec<Address> = chunk.iter().map(|(_, o)| *o).collect();
        let chunk_ids: Vec<U256> = chunk.iter().map(|(id, _)| *id).collect();
        let data = planbok_chains::erc1155_balance_of_batch_data(&accounts, &chunk_ids);
        let answer = read(rpc, chain, contract, data).await?;
        let balances =
            planbok_chains::erc1155_decode_balances(&answer, chunk.len()).map_err(|e| {
                ApiError::new(
                    ErrorCode::ChainUnavailable,
                    format!("token {} at {}: {e}", t.symbol, t.address),
                )
            })?;
        for (id, b) in chunk_ids.into_iter().zip(balances) {
            let sum = sums.entry(id).or_default();
            *sum = sum.saturating_add(b);
        }
    }
    Ok(sums
        .into_iter()
        .filter(|(_, sum)| !sum.is_zero())
        .map(|(id, sum)| Balance {
            amount: planbok_chains::format_amount(sum, t.decimals),
            token: token(t),
            nft_token_id: Some(id.to_string()),
        })
        .collect())
}

/// `GET /v2/wallets/{id}/balances`.
pub(crate) async fn wallet_balances(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let w = app
        .store
        .wallet(&caller.org_id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("wallet"))?;
    let b = balances_of(&app, &caller.org_id, std::slice::from_ref(&w)).await?;
    Ok(ok(StatusCode::OK, "Balances", b))
}

/// `GET /v2/wallet-sets/{id}/balances`: summed over the set's wallets on the chains this
/// server reaches (others are left out).
pub(crate) async fn wallet_set_balances(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    app.store
        .wallet_set(&caller.org_id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("wallet set"))?;
    let mut wallets = Vec::new();
    let mut page = 1;
    loop {
        let (batch, total) = app
            .store
            .list_wallets(
                &caller.org_id,
                &WalletQuery {
                    wallet_set_id: Some(id.clone()),
                    page,
                    limit: planbok_store::server::MAX_PAGE_LIMIT,
                    desc: false,
                    ..Default::default()
                },
            )
            .await?;
        let done = batch.is_empty()
            || (page as i64) * i64::from(planbok_store::server::MAX_PAGE_LIMIT) >= total;
        wallets.extend(
            batch
                .into_iter()
                .filter(|w| Chain::parse(&w.blockchain).is_ok_and(|c| app.chains.has(c))),
        );
        if done {
            break;
        }
        page += 1;
    }
    let b = balances_of(&app, &caller.org_id, &wallets).await?;
    Ok(ok(StatusCode::OK, "Balances", b))
}
