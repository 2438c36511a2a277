//! Records for the server-store tests: small builders with fixed, readable values.

use planbok_store::ServerStore;
use planbok_store::server::{
    ApiKeyRecord, AuditDraft, Commit, MemberRecord, OrgRecord, WalletRecord, WalletSetRecord,
};
use serde_json::json;

pub const T0: i64 = 1_750_000_000_000;

pub fn org(id: &str) -> OrgRecord {
    OrgRecord {
        id: id.into(),
        name: format!("{id} Inc"),
        custody_mode: "unset".into(),
        created_at_ms: T0,
        updated_at_ms: T0,
        node_pair: "default".into(),
    }
}

pub fn member(org_id: &str, id: &str, role: &str) -> MemberRecord {
    MemberRecord {
        id: id.into(),
        org_id: org_id.into(),
        name: format!("name of {id}"),
        email: format!("{id}@example.com"),
        role: role.into(),
        created_at_ms: T0,
        updated_at_ms: T0,
    }
}

pub fn api_key(org_id: &str, member_id: &str, id: &str) -> ApiKeyRecord {
    ApiKeyRecord {
        id: id.into(),
        org_id: org_id.into(),
        member_id: member_id.into(),
        name: format!("key {id}"),
        secret_hash: vec![0x5A; 32],
        access: "full".into(),
        allowed_ips: vec!["10.0.0.0/8".into(), "192.0.2.7".into()],
        allowed_origins: vec![],
        created_at_ms: T0,
        revoked_at_ms: None,
        last_used_at_ms: None,
    }
}

pub fn draft(chain: &str, action: &str) -> AuditDraft {
    AuditDraft {
        chain: chain.into(),
        at_ms: T0,
        actor: "member:mem_1".into(),
        api_key_id: Some("key_1".into()),
        ip: Some("192.0.2.7".into()),
        user_agent: Some("planbok-test/1".into()),
        action: action.into(),
        target: Some("ws_1".into()),
        outcome: "success".into(),
        request_id: "req_1".into(),
        detail: json!({"name": "treasury", "count": 2, "nested": {"z": null, "a": [1, "é"]}}),
    }
}

/// Creates organization `id` with owner `mem_<id>` and key `key_<id>`, audited on its chain.
pub async fn new_org(store: &ServerStore, id: &str) {
    let owner = member(id, &format!("mem_{id}"), "owner");
    let key = api_key(id, &owner.id, &format!("key_{id}"));
    store
        .create_org(
            &org(id),
            &owner,
            &key,
            &Commit::audit(draft(id, "organization.create")),
        )
        .await
        .unwrap();
}

pub fn wallet_set(org_id: &str, id: &str) -> WalletSetRecord {
    WalletSetRecord {
        id: id.into(),
        org_id: org_id.into(),
        name: format!("set {id}"),
        custody_type: "ENDUSER".into(),
        ecdsa_protocol: "cggmp".into(),
        secp_key_id: format!("{id}-secp"),
        secp_public_key: vec![2; 33],
        secp_chain_code: vec![7; 32],
        ed_key_id: format!("{id}-ed"),
        ed_public_key: vec![9; 32],
        created_at_ms: T0,
        updated_at_ms: T0,
    }
}

pub fn wallet(org_id: &str, set_id: &str, id: &str, chain: &str, index: i64) -> WalletRecord {
    WalletRecord {
        id: id.into(),
        org_id: org_id.into(),
        wallet_set_id: set_id.into(),
        blockchain: chain.into(),
        address: format!("0xaddr{index}"),
        public_key: vec![3; 33],
        key_id: format!("{set_id}-secp"),
        derivation_path: format!("m/44/60/0/{index}"),
        hd_index: index,
        ref_id: Some(format!("ref-{id}")),
        name: None,
        state: "LIVE".into(),
        created_at_ms: T0 + index,
        updated_at_ms: T0 + index,
    }
}
