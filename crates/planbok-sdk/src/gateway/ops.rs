//! The Gateway's side of an operation challenge (wallet creation, signing, export), with
//! no IO (it compiles to WASM with the rest of [`crate::gateway`]; the caller passes the
//! time).
//!
//! From the challenge's view the Gateway: checks the organization key against Node 1's
//! identity key ([`trusted_key`]); shows the user what is authorized ([`describe`]);
//! recomputes, on its own, the exact bytes every operation acts on and their digests
//! ([`operations`]: a signature's payload per the chain's standard, from the message,
//! typed data or transaction it shows, never a digest the server supplies); and, with the
//! opened PIN, signs them for Node 2 and encrypts the customer secret to the organization
//! key bound to them ([`OpenedPin::authorize`]).

use base64::Engine as _;
use planbok_api::customer_ops::{GatewayOperate, GatewayOperation, GatewaySign};
use planbok_api::customers::GatewayChallenge;
use planbok_envelope::customer_op::{self, CustomerOp};
use planbok_envelope::{Context, NodeIdentity};

use super::{B64, GatewayError, OpenedPin};
use crate::trust::TrustedOrgKey;

mod tx;
use tx::describe_transaction;
pub use tx::{transaction_call, transaction_input};

/// The proto `Protocol` number of a plan's protocol name (the internal contract's stable
/// numbers: the operation digests carry them).
pub fn protocol_number(name: &str) -> Option<i32> {
    match name {
        "cggmp" => Some(1),
        "dkls23" => Some(2),
        "frost" => Some(3),
        _ => None,
    }
}

fn operation(ch: &GatewayChallenge) -> Result<&GatewayOperation, GatewayError> {
    ch.operation
        .as_ref()
        .ok_or(GatewayError::Malformed("challenge without an operation"))
}

/// The organization key of the challenge, verified against Node 1's identity key (given
/// to the Gateway out of band): the only key the customer secret is encrypted to.
pub fn trusted_key(
    ch: &GatewayChallenge,
    node: &NodeIdentity,
) -> Result<TrustedOrgKey, GatewayError> {
    let k = &operation(ch)?.org_key;
    let signature = base64::engine::general_purpose::STANDARD
        .decode(&k.signature)
        .map_err(|_| GatewayError::Malformed("organization key signature"))?;
    let key = node
        .verify_org_key(
            &ch.organization_id,
            &k.public_key,
            k.created_at,
            &signature,
            &k.node_key_id,
        )
        .map_err(GatewayError::OrgKey)?;
    Ok(TrustedOrgKey {
        org_id: ch.organization_id.clone(),
        key,
        verified_by_node: true,
        pinned_now: false,
    })
}

fn hex_bytes(what: &'static str, s: &str) -> Result<Vec<u8>, GatewayError> {
    hex::decode(s.trim_start_matches("0x")).map_err(|_| GatewayError::Malformed(what))
}

/// The exact input a signature request signs, computed here from what is shown.
pub fn sign_input(s: &GatewaySign) -> Result<planbok_chains::SignInput, GatewayError> {
    let chain = planbok_chains::Chain::parse(&s.blockchain)
        .map_err(|e| GatewayError::Request(e.to_string()))?;
    let r = match s.what.as_str() {
        "message" => planbok_chains::message_input(
            chain,
            s.message.as_deref().unwrap_or_default(),
            s.encoded_by_hex,
        ),
        "typed_data" => {
            planbok_chains::typed_data_input(chain, s.typed_data.as_deref().unwrap_or_default())
        }
        "transaction" => planbok_chains::transaction_input(
            chain,
            s.raw_transaction.as_deref(),
            s.transaction.as_deref(),
            &hex_bytes("wallet public key", &s.public_key)?,
        ),
        "delegate_action" => planbok_chains::delegate_action_input(
            chain,
            s.unsigned_delegate_action.as_deref().unwrap_or_default(),
            &hex_bytes("wallet public key", &s.public_key)?,
        ),
        _ => return Err(GatewayError::Malformed("signing request")),
    };
    r.map_err(|e| GatewayError::Request(e.to_string()))
}

/// The digests of the challenge's operations, in the plan's order; `recipient`: an
/// export's X25519 public key (made by the Gateway).
pub fn operations(
    ch: &GatewayChallenge,
    recipient: Option<&[u8]>,
) -> Result<Vec<[u8; 32]>, GatewayError> {
    let op = operation(ch)?;
    let digest = |o: CustomerOp<'_>| {
        customer_op::op_digest(&ch.organization_id, &ch.customer_id, &ch.challenge_id, o)
    };
    if let Some(c) = &op.create {
        return c
            .dkgs
            .iter()
            .map(|d| {
                let protocol =
                    protocol_number(&d.protocol).ok_or(GatewayError::Malformed("DKG protocol"))?;
                Ok(digest(CustomerOp::Dkg {
                    key_id: &d.key_id,
                    protocol,
                }))
            })
            .collect();
    }
    if let Some(s) = &op.sign {
        let input = sign_input(s)?;
        return Ok(vec![digest(CustomerOp::Sign {
            key_id: &s.key_id,
            path: &s.derivation_path,
            payload: &input.payload,
        })]);
    }
    if let Some(t) = &op.transaction {
        let input = transaction_input(t)?;
        return Ok(vec![digest(CustomerOp::Sign {
            key_id: &t.key_id,
            path: &t.derivation_path,
            payload: &input.payload,
        })]);
    }
    if let Some(e) = &op.export {
        let recipient = recipient.ok_or(GatewayError::Malformed("export without a recipient"))?;
        return Ok(e
            .keys
            .iter()
            .map(|k| {
                digest(CustomerOp::Export {
                    key_id: &k.key_id,
                    recipient,
                })
            })
            .collect());
    }
    Err(GatewayError::Malformed("challenge without an operation"))
}

/// The secret's context for the challenge's operations.
fn context(op: &GatewayOperation) -> Context {
    if op.create.is_some() {
        Context::Dkg
    } else if op.export.is_some() {
        Context::Verify
    } else {
        Context::Sign
    }
}

/// What the user authorizes, one line each, as the Gateway shows it before asking for the
/// PIN.
pub fn describe(ch: &GatewayChallenge) -> Result<Vec<String>, GatewayError> {
    let op = operation(ch)?;
    let mut out = Vec::new();
    if let Some(c) = &op.create {
        out.push(format!(
            "Create {} wallet(s) on {}",
            c.count,
            c.blockchains.join(", ")
        ));
    }
    if let Some(s) = &op.sign {
        out.push(format!("Sign with {} ({})", s.address, s.blockchain));
        match s.what.as_str() {
            "message" if s.encoded_by_hex => {
                out.push(format!(
                    "Message (hex): {}",
                    s.message.as_deref().unwrap_or_default()
                ));
            }
            "message" => out.push(format!(
                "Message: {}",
                s.message.as_deref().unwrap_or_default()
            )),
            "typed_data" => {
                let v: serde_json::Value =
                    serde_json::from_str(s.typed_data.as_deref().unwrap_or_default())
                        .map_err(|_| GatewayError::Malformed("typed data"))?;
                out.push(format!("Typed data domain: {}", v["domain"]));
                out.push(format!("Primary type: {}", v["primaryType"]));
                out.push(format!("Fields: {}", v["message"]));
            }
            "delegate_action" => out.push(describe_delegate(s)?),
            _ => {
                let input = sign_input(s)?;
                out.push(format!(
                    "Transaction ({}): {}",
                    input.standard,
                    describe_tx(s)
                ));
            }
        }
        if let Some(m) = &s.memo {
            out.push(format!("Memo: {m}"));
        }
    }
    if let Some(t) = &op.transaction {
        out.extend(describe_transaction(t)?);
    }
    if let Some(e) = &op.export {
        out.push(format!(
            "Export the private keys of {} wallet(s) ({} key(s)) of {}",
            e.wallets.len(),
            e.keys.len(),
            e.customer_name
        ));
        for w in &e.wallets {
            out.push(format!(
                "{} {} ({})",
                w.wallet.blockchain, w.wallet.address, w.wallet.derivation_path
            ));
        }
    }
    Ok(out)
}

/// A NEP-366 delegate action's sender and receiver (the actions are shown by size: the
/// Gateway signs exactly the bytes given).
fn describe_delegate(s: &GatewaySign) -> Result<String, GatewayError> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(s.unsigned_delegate_action.as_deref().unwrap_or_default())
        .map_err(|_| GatewayError::Malformed("delegate action"))?;
    let mut rest = raw.as_slice();
    let mut account = || -> Result<String, GatewayError> {
        let bad = GatewayError::Malformed("delegate action accounts");
        let (len, tail) = rest.split_first_chunk::<4>().ok_or(bad.clone())?;
        let len = u32::from_le_bytes(*len) as usize;
        let (name, tail) = tail.split_at_checked(len).ok_or(bad.clone())?;
        rest = tail;
        String::from_utf8(name.to_vec()).map_err(|_| bad)
    };
    let sender = account()?;
    let receiver = account()?;
    Ok(format!(
        "NEAR delegate action (NEP-366, {} bytes): {sender} acts on {receiver}, for a relayer to submit",
        raw.len()
    ))
}

/// An EVM transaction's recipient, value and call selector, as far as they can be read.
fn describe_tx(s: &GatewaySign) -> String {
    if let Some(t) = &s.transaction
        && let Ok(v) = serde_json::from_str::<serde_json::Value>(t)
    {
        let data = v["data"].as_str().unwrap_or("0x");
        let selector = data.get(..10).unwrap_or("none");
        return format!("to {} value {} selector {selector}", v["to"], v["value"]);
    }
    match &s.raw_transaction {
        Some(raw) => format!("raw {} bytes", raw.trim_start_matches("0x").len() / 2),
        None => String::new(),
    }
}

impl OpenedPin {
    /// Authorizes exactly the challenge's operations: the unlock key's signature over them
    /// (with this attempt's nonce) for Node 2, and the customer secret for Node 1,
    /// encrypted to `key` and bound to them, timestamped `now_ms`. `recipient`: an export's
    /// X25519 public key.
    pub fn authorize(
        &self,
        ch: &GatewayChallenge,
        key: &TrustedOrgKey,
        recipient: Option<&[u8; 32]>,
        now_ms: i64,
    ) -> Result<GatewayOperate, GatewayError> {
        let op = operation(ch)?;
        if key.org_id != ch.organization_id {
            return Err(GatewayError::Malformed(
                "organization key of another organization",
            ));
        }
        let ops = operations(ch, recipient.map(|r| r.as_slice()))?;
        let nonce = B64
            .decode(&self.attempt_nonce)
            .map_err(|_| GatewayError::Malformed("attempt nonce"))?;
        let signature = self.keys.sign_permit(&nonce, &ch.challenge_id, &ops);
        let encrypted_secret = if ops.is_empty() {
            String::new()
        } else {
            let ctx = context(op);
            let binding = customer_op::binding(
                ctx,
                &ch.organization_id,
                &ch.customer_id,
                &ch.challenge_id,
                &ops,
            );
            planbok_envelope::envelope::seal(&self.secret, &key.key.key, ctx, now_ms, Some(binding))
                .map_err(|e| GatewayError::Request(e.to_string()))?
        };
        Ok(GatewayOperate {
            nonce: self.attempt_nonce.clone(),
            signature: B64.encode(signature),
            permits: ops.iter().map(|o| B64.encode(o)).collect(),
            encrypted_secret,
            recipient_public_key: recipient
                .map(|r| base64::engine::general_purpose::STANDARD.encode(r)),
        })
    }
}
