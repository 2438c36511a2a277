//! Reading and updating what was created: wallet sets and wallets (get, list with filters
//! and paging, rename, metadata), the chain list, and member management.

use serde_json::json;

use crate::rest::{Custody, Stack, assert_err, assert_ok, idem};

#[tokio::test(flavor = "multi_thread")]
async fn wallets_and_sets_list_filter_page_and_update() {
    let s = Stack::sqlite(Custody::Standard).await;
    let set = s.wallet_set("dkls23", false);
    let other = s.wallet_set("dkls23", false);
    let created = assert_ok(s.post(
        "/v2/organization/wallets",
        json!({"idempotencyKey": idem(), "walletSetId": set.id, "blockchains": ["ETH", "SOL"], "count": 3,
               "metadata": [{"name": "a", "refId": "user-1"}, {"name": "b", "refId": "user-2"}, {"refId": "user-3"}]}),
    ));
    let wallets = created["wallets"].as_array().unwrap();
    assert_eq!(wallets.len(), 6);
    // Each index gets its own path; a later call moves the index on.
    let paths: Vec<&str> = wallets
        .iter()
        .filter(|w| w["blockchain"] == "ETH")
        .map(|w| w["derivationPath"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["m/44/60/0/0", "m/44/60/0/1", "m/44/60/0/2"]);
    let next = s.wallets(&set.id, &["ETH"], 1, false).remove(0);
    assert_eq!(next.derivation_path, "m/44/60/0/3");
    s.wallets(&other.id, &["BTC"], 1, false);
    // Sets: get, list, rename.
    let got = assert_ok(
        s.owner
            .raw("GET", &format!("/v2/wallet-sets/{}", set.id), None)
            .unwrap(),
    );
    assert_eq!(got["id"], set.id);
    let list = assert_ok(
        s.owner
            .raw("GET", "/v2/wallet-sets?order=asc&limit=1&page=2", None)
            .unwrap(),
    );
    assert_eq!(
        (list["total"].as_u64(), list["items"][0]["id"].as_str()),
        (Some(2), Some(other.id.as_str()))
    );
    let renamed = assert_ok(
        s.owner
            .raw(
                "PUT",
                &format!("/v2/organization/wallet-sets/{}", set.id),
                Some(&json!({"name": "treasury"})),
            )
            .unwrap(),
    );
    assert_eq!(renamed["name"], "treasury");
    assert_err(
        s.owner
            .raw(
                "PUT",
                &format!("/v2/organization/wallet-sets/{}", set.id),
                Some(&json!({"name": ""})),
            )
            .unwrap(),
        "invalid_request",
    );
    // Wallets: filters and paging.
    let q = |query: &str| {
        assert_ok(
            s.owner
                .raw("GET", &format!("/v2/wallets?{query}"), None)
                .unwrap(),
        )
    };
    assert_eq!(q(&format!("walletSetId={}", set.id))["total"], 7);
    assert_eq!(
        q(&format!("walletSet={}&blockchain=SOL", set.id))["total"],
        3
    );
    assert_eq!(q("refId=user-2")["total"], 2);
    assert_eq!(q("blockchain=BTC")["total"], 1);
    let eth_addr = wallets[0]["address"].as_str().unwrap();
    let by_addr = q(&format!("address={eth_addr}"));
    assert!(by_addr["total"].as_u64().unwrap() >= 1);
    let page = q("limit=2&page=2&order=asc");
    assert_eq!(
        (
            page["items"].as_array().unwrap().len(),
            page["page"].as_u64(),
            page["limit"].as_u64()
        ),
        (2, Some(2), Some(2))
    );
    // Update name and refId.
    let id = wallets[0]["id"].as_str().unwrap();
    let w = assert_ok(
        s.owner
            .raw(
                "PUT",
                &format!("/v2/wallets/{id}"),
                Some(&json!({"name": "hot", "refId": "ops"})),
            )
            .unwrap(),
    );
    assert_eq!(
        (w["name"].as_str(), w["refId"].as_str()),
        (Some("hot"), Some("ops"))
    );
    assert_eq!(w["address"], wallets[0]["address"]);
    assert_err(
        s.owner
            .raw(
                "PUT",
                &format!("/v2/wallets/{id}"),
                Some(&json!({"address": "0x00"})),
            )
            .unwrap(),
        "invalid_request",
    );
    let one = assert_ok(
        s.owner
            .raw("GET", &format!("/v2/wallets/{id}"), None)
            .unwrap(),
    );
    assert_eq!(one["name"], "hot");
    // The chain list.
    let chains = assert_ok(s.owner.raw("GET", "/v2/config/chains", None).unwrap());
    let chains = chains.as_array().unwrap();
    assert_eq!(chains.len(), 18);
    let base = chains.iter().find(|c| c["id"] == "BASE-SEPOLIA").unwrap();
    assert_eq!(
        (
            base["chainId"].as_u64(),
            base["curve"].as_str(),
            base["testnet"].as_bool()
        ),
        (Some(84532), Some("secp256k1"), Some(true))
    );
    assert_eq!(base["derivationPath"], "m/44/60/0/{index}");
    let sol = chains.iter().find(|c| c["id"] == "SOL").unwrap();
    assert_eq!(
        (sol["family"].as_str(), sol["derivationPath"].as_str()),
        (Some("solana"), Some("m"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn members_are_listed_changed_and_removed() {
    let s = Stack::sqlite(Custody::Unset).await;
    let m = assert_ok(s.post(
        "/v2/organization/members",
        json!({"name": "Ann", "email": "Ann@Example.com", "role": "member"}),
    ));
    assert_eq!(m["email"], "ann@example.com");
    assert_err(
        s.post(
            "/v2/organization/members",
            json!({"name": "Ann again", "email": "ann@example.com", "role": "admin"}),
        ),
        "conflict",
    );
    let id = m["id"].as_str().unwrap();
    let up = assert_ok(
        s.owner
            .raw(
                "PATCH",
                &format!("/v2/organization/members/{id}"),
                Some(&json!({"role": "admin", "name": "Ann B"})),
            )
            .unwrap(),
    );
    assert_eq!(
        (up["role"].as_str(), up["name"].as_str()),
        (Some("admin"), Some("Ann B"))
    );
    assert_err(
        s.owner
            .raw(
                "PATCH",
                &format!("/v2/organization/members/{id}"),
                Some(&json!({"role": "root"})),
            )
            .unwrap(),
        "invalid_request",
    );
    let list = assert_ok(
        s.owner
            .raw("GET", "/v2/organization/members", None)
            .unwrap(),
    );
    assert_eq!(list["total"], 2);
    assert_ok(
        s.owner
            .raw("DELETE", &format!("/v2/organization/members/{id}"), None)
            .unwrap(),
    );
    assert_err(
        s.owner
            .raw("DELETE", &format!("/v2/organization/members/{id}"), None)
            .unwrap(),
        "not_found",
    );
    let list = assert_ok(
        s.owner
            .raw("GET", "/v2/organization/members", None)
            .unwrap(),
    );
    assert_eq!(list["total"], 1);
}
