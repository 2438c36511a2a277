//! The audit entry, and the exact bytes its hash covers (format version 1).
//!
//! This file is the reference for anyone verifying a chain outside the database (the CLI,
//! an organization checking its NDJSON export offline); `docs/storage.md` spells the same
//! encoding out byte by byte. Changing anything here breaks every stored chain: a new
//! encoding is a new version, and the old one must keep verifying.

use std::fmt::Write as _;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::StoreError;

/// The hash format this build writes. Entries carry their version.
pub const AUDIT_HASH_VERSION: u8 = 1;

/// The `prev_hash` of every chain's first entry: 64 zeros.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Domain separation: the hash input starts with this (length-prefixed).
const DOMAIN: &str = "planbok-audit";

/// The largest canonical `detail` accepted, in bytes. An audit entry describes an event;
/// payloads belong elsewhere.
pub const MAX_DETAIL_BYTES: usize = 16 * 1024;

/// An audit event as the server describes it, before it is placed on its chain.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditDraft {
    /// The organization id, or `"system"` for operator events.
    pub chain: String,
    /// When it happened, unix milliseconds (UTC), from the server's clock.
    pub at_ms: i64,
    /// Who: `"member:mem_…"`, `"operator"`, `"anonymous"`.
    pub actor: String,
    /// The API key used, if any.
    pub api_key_id: Option<String>,
    /// The client's address.
    pub ip: Option<String>,
    /// The client's `User-Agent`.
    pub user_agent: Option<String>,
    /// What: `"wallet_set.create"`, `"sign.message"`, `"auth.denied"`.
    pub action: String,
    /// The object acted on, if any.
    pub target: Option<String>,
    /// `"success"`, `"failure"` or `"requested"`.
    pub outcome: String,
    /// The request id, to join with the logs.
    pub request_id: String,
    /// Never secrets. A small JSON value (usually an object, may be `Null`) without
    /// floating-point numbers: floats do not survive every JSON parser bit for bit, and
    /// the hash must.
    pub detail: Value,
}

/// An entry of an audit chain: the draft plus its place and hashes.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    /// The chain: an organization id, or `"system"`.
    pub chain: String,
    /// 1, 2, 3, … within the chain, without gaps.
    pub seq: i64,
    /// The hash format (`AUDIT_HASH_VERSION`).
    pub version: u8,
    /// The previous entry's `hash`; `GENESIS_HASH` for seq 1.
    pub prev_hash: String,
    /// `audit_hash` of this entry: 64 lowercase hex digits.
    pub hash: String,
    /// The draft's fields, unchanged (see [`AuditDraft`]).
    pub at_ms: i64,
    pub actor: String,
    pub api_key_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub outcome: String,
    pub request_id: String,
    pub detail: Value,
}

impl AuditEntry {
    /// Places `draft` at `seq` after `prev_hash` and computes its hash (current version).
    pub fn from_draft(draft: AuditDraft, seq: i64, prev_hash: String) -> AuditEntry {
        let mut entry = AuditEntry {
            chain: draft.chain,
            seq,
            version: AUDIT_HASH_VERSION,
            prev_hash,
            hash: String::new(),
            at_ms: draft.at_ms,
            actor: draft.actor,
            api_key_id: draft.api_key_id,
            ip: draft.ip,
            user_agent: draft.user_agent,
            action: draft.action,
            target: draft.target,
            outcome: draft.outcome,
            request_id: draft.request_id,
            detail: draft.detail,
        };
        entry.hash = audit_hash(&entry);
        entry
    }
}

/// The hash an entry must carry: lowercase hex SHA-256 of [`audit_hash_input`]. The
/// entry's own `hash` field is ignored.
pub fn audit_hash(entry: &AuditEntry) -> String {
    hex::encode(Sha256::digest(audit_hash_input(entry)))
}

/// The exact bytes [`audit_hash`] hashes (version 1):
///
/// ```text
/// str("planbok-audit") ‖ u8(version)
/// ‖ str(chain) ‖ i64(seq) ‖ str(prev_hash) ‖ i64(at_ms) ‖ str(actor)
/// ‖ opt(api_key_id) ‖ opt(ip) ‖ opt(user_agent) ‖ str(action) ‖ opt(target)
/// ‖ str(outcome) ‖ str(request_id) ‖ str(canonical_json(detail))
///
/// str(s)    = u32 big-endian byte length of s ‖ the UTF-8 bytes of s
/// opt(None) = 0x00;  opt(Some(s)) = 0x01 ‖ str(s)
/// i64(x)    = 8 bytes, big-endian two's complement
/// ```
///
/// The version byte is the entry's own, so a verifier sees what it was written with;
/// version 1 is the only layout so far.
pub fn audit_hash_input(e: &AuditEntry) -> Vec<u8> {
    let detail = canonical_json(&e.detail);
    let mut out = Vec::with_capacity(256 + detail.len());
    put_str(&mut out, DOMAIN);
    out.push(e.version);
    put_str(&mut out, &e.chain);
    out.extend_from_slice(&e.seq.to_be_bytes());
    put_str(&mut out, &e.prev_hash);
    out.extend_from_slice(&e.at_ms.to_be_bytes());
    put_str(&mut out, &e.actor);
    put_opt(&mut out, e.api_key_id.as_deref());
    put_opt(&mut out, e.ip.as_deref());
    put_opt(&mut out, e.user_agent.as_deref());
    put_str(&mut out, &e.action);
    put_opt(&mut out, e.target.as_deref());
    put_str(&mut out, &e.outcome);
    put_str(&mut out, &e.request_id);
    put_str(&mut out, &detail);
    out
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    // A field longer than 4 GiB cannot reach us (the detail is capped, the rest are
    // request metadata); saturating keeps this total rather than panicking.
    let len = u32::try_from(s.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn put_opt(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        None => out.push(0),
        Some(s) => {
            out.push(1);
            put_str(out, s);
        }
    }
}

/// Canonical JSON: no whitespace; object keys sorted by their UTF-8 bytes, recursively;
/// strings escaped as `"` `\\` and control characters only (`\b \f \n \r \t`, others
/// `\u00xx` lowercase), everything else as UTF-8; integers in decimal; `null`, `true`,
/// `false`. (Floats are refused when an entry is appended; were one present, it would
/// print as serde_json prints it.) This is also the form `detail` is stored in.
pub fn canonical_json(v: &Value) -> String {
    let mut out = String::new();
    write_canonical(v, &mut out);
    out
}

fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            // `str` orders by bytes, whatever order the map keeps (serde_json's
            // `preserve_order` feature may be on somewhere in the build).
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, value)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(key, out);
                out.push(':');
                write_canonical(value, out);
            }
            out.push('}');
        }
    }
}

fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Checks a draft before it is appended; returns its canonical `detail`.
pub(crate) fn check_draft(d: &AuditDraft) -> Result<String, StoreError> {
    if d.chain.is_empty() {
        return Err(StoreError::InvalidInput("audit chain is empty".into()));
    }
    if !matches!(d.outcome.as_str(), "success" | "failure" | "requested") {
        return Err(StoreError::InvalidInput(format!(
            "audit outcome {:?}: expected success, failure or requested",
            d.outcome
        )));
    }
    if has_float(&d.detail) {
        return Err(StoreError::InvalidInput(
            "audit detail must not contain floating-point numbers".into(),
        ));
    }
    let detail = canonical_json(&d.detail);
    if detail.len() > MAX_DETAIL_BYTES {
        return Err(StoreError::InvalidInput(format!(
            "audit detail is {} bytes, at most {MAX_DETAIL_BYTES}",
            detail.len()
        )));
    }
    Ok(detail)
}

fn has_float(v: &Value) -> bool {
    match v {
        Value::Number(n) => n.is_f64(),
        Value::Array(items) => items.iter().any(has_float),
        Value::Object(map) => map.values().any(has_float),
        _ => false,
    }
}
