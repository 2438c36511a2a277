//! Stored records as API objects.

use planbok_api::model::{
    ApiKey, AuditEntry, KeyAccess, Member, Organization, Role, Wallet, WalletSet,
};
use planbok_store::server::{
    ApiKeyRecord, AuditEntry as AuditRecord, MemberRecord, OrgRecord, OrgSettings, WalletRecord,
    WalletSetRecord,
};

use crate::error::{ApiError, ApiResult};

/// Unix ms as RFC 3339 UTC with milliseconds.
pub(crate) fn rfc3339(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    t.format(&fmt).unwrap_or_default()
}

fn hex0x(b: &[u8]) -> String {
    format!("0x{}", hex::encode(b))
}

pub(crate) fn org(o: &OrgRecord, settings: OrgSettings) -> Organization {
    Organization {
        id: o.id.clone(),
        name: o.name.clone(),
        custody_mode: o.custody_mode.clone(),
        require_binding: settings.require_binding,
        email_recovery: settings.email_recovery,
        email_notices: settings.email_notices,
        node_pair: o.node_pair.clone(),
        created_at: rfc3339(o.created_at_ms),
    }
}

/// A stored member's role. A value the API does not know is a 500 (the log names the
/// member), never a silent default (which would demote, or let an admin manage, whoever it
/// is).
pub(crate) fn stored_role(m: &MemberRecord) -> ApiResult<Role> {
    Role::parse(&m.role)
        .ok_or_else(|| ApiError::internal(format!("member {} has role {:?}", m.id, m.role)))
}

/// A stored key's access; an unknown one is a 500 (the log names the key).
pub(crate) fn stored_access(k: &ApiKeyRecord) -> ApiResult<KeyAccess> {
    KeyAccess::parse(&k.access)
        .ok_or_else(|| ApiError::internal(format!("key {} has access {:?}", k.id, k.access)))
}

pub(crate) fn member(m: &MemberRecord) -> ApiResult<Member> {
    Ok(Member {
        id: m.id.clone(),
        name: m.name.clone(),
        email: m.email.clone(),
        role: stored_role(m)?,
        created_at: rfc3339(m.created_at_ms),
        updated_at: rfc3339(m.updated_at_ms),
    })
}

pub(crate) fn api_key(k: &ApiKeyRecord) -> ApiResult<ApiKey> {
    Ok(ApiKey {
        id: k.id.clone(),
        name: k.name.clone(),
        member_id: k.member_id.clone(),
        access: stored_access(k)?,
        allowed_ips: k.allowed_ips.clone(),
        allowed_origins: k.allowed_origins.clone(),
        created_at: rfc3339(k.created_at_ms),
        last_used_at: k.last_used_at_ms.map(rfc3339),
    })
}

pub(crate) fn wallet_set(s: &WalletSetRecord) -> WalletSet {
    WalletSet {
        id: s.id.clone(),
        name: s.name.clone(),
        custody_type: s.custody_type.clone(),
        ecdsa_protocol: s.ecdsa_protocol.clone(),
        secp256k1_public_key: hex0x(&s.secp_public_key),
        ed25519_public_key: hex0x(&s.ed_public_key),
        created_at: rfc3339(s.created_at_ms),
        updated_at: rfc3339(s.updated_at_ms),
    }
}

pub(crate) fn wallet(w: &WalletRecord) -> Wallet {
    Wallet {
        id: w.id.clone(),
        wallet_set_id: w.wallet_set_id.clone(),
        blockchain: w.blockchain.clone(),
        address: w.address.clone(),
        public_key: hex0x(&w.public_key),
        derivation_path: w.derivation_path.clone(),
        ref_id: w.ref_id.clone(),
        name: w.name.clone(),
        state: w.state.clone(),
        created_at: rfc3339(w.created_at_ms),
        updated_at: rfc3339(w.updated_at_ms),
    }
}

pub(crate) fn audit_entry(e: &AuditRecord) -> AuditEntry {
    AuditEntry {
        seq: e.seq,
        chain: e.chain.clone(),
        version: e.version,
        at: rfc3339(e.at_ms),
        at_ms: e.at_ms,
        actor: e.actor.clone(),
        api_key_id: e.api_key_id.clone(),
        ip: e.ip.clone(),
        user_agent: e.user_agent.clone(),
        action: e.action.clone(),
        target: e.target.clone(),
        outcome: e.outcome.clone(),
        request_id: e.request_id.clone(),
        detail: e.detail.clone(),
        prev_hash: e.prev_hash.clone(),
        hash: e.hash.clone(),
    }
}

pub(crate) fn webhook(w: &planbok_store::server::EndpointRecord) -> planbok_api::model::Webhook {
    planbok_api::model::Webhook {
        id: w.id.clone(),
        url: w.url.clone(),
        description: w.description.clone(),
        events: w.events.clone(),
        enabled: w.enabled,
        disabled_reason: w.disabled_reason.clone(),
        previous_secret_expires_at: w
            .previous_expires_at_ms
            .filter(|_| w.previous_secret.is_some())
            .map(rfc3339),
        created_at: rfc3339(w.created_at_ms),
        updated_at: rfc3339(w.updated_at_ms),
    }
}

pub(crate) fn delivery(
    d: &planbok_store::server::DeliveryRecord,
) -> planbok_api::model::WebhookDelivery {
    planbok_api::model::WebhookDelivery {
        id: d.id.clone(),
        webhook_id: d.endpoint_id.clone(),
        event_id: d.event_id.clone(),
        event: d.event.clone(),
        status: d.status.clone(),
        attempts: u32::try_from(d.attempts).unwrap_or(u32::MAX),
        next_attempt_at: (d.status == "pending").then(|| rfc3339(d.next_attempt_at_ms)),
        last_attempt_at: d.last_attempt_at_ms.map(rfc3339),
        last_status_code: d.last_status_code.and_then(|c| u16::try_from(c).ok()),
        last_error: d.last_error.clone(),
        replay_of: d.replay_of.clone(),
        created_at: rfc3339(d.created_at_ms),
        updated_at: rfc3339(d.updated_at_ms),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn timestamps_are_rfc3339_utc_with_millis() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            super::rfc3339(1_700_000_000_123),
            "2023-11-14T22:13:20.123Z"
        );
    }

    #[test]
    fn an_unknown_stored_role_is_an_error_never_a_default() {
        let mut m = planbok_store::server::MemberRecord {
            id: "mem_1".into(),
            org_id: "org_1".into(),
            name: "n".into(),
            email: "n@example.com".into(),
            role: "admin".into(),
            created_at_ms: 0,
            updated_at_ms: 0,
        };
        assert_eq!(
            super::stored_role(&m).ok(),
            Some(planbok_api::model::Role::Admin)
        );
        m.role = "auditor".into();
        // A 500 (the detail goes to the log, not the client), not a member.
        let e = super::stored_role(&m).err().map(|e| e.code);
        assert_eq!(e, Some(planbok_api::ErrorCode::Internal));
        assert!(super::member(&m).is_err());
    }
}
