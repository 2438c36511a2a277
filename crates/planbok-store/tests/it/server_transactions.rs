//! The nonce allocator and the tracker's claims: a nonce is used only by the commit that
//! stores its transaction, under a live lease; a released or lapsed lease gives the same
//! nonce to the next holder; racing holders never share one; claims are leased.

use planbok_store::StoreError;
use planbok_store::server::{Commit, TxQuery, TxRecord};

use crate::harness::{TestDb, on_every_backend};
use crate::server_fixtures::{T0, new_org, wallet, wallet_set};

on_every_backend!(
    a_released_or_lapsed_lease_gives_the_same_nonce_again,
    racing_transfers_get_consecutive_nonces,
    tracker_claims_are_leased_and_stale_results_ignored,
    a_nonce_is_replaced_once_per_transaction_and_only_while_pending,
);

pub(crate) const CHAIN: &str = "ETH-SEPOLIA";
pub(crate) const ADDR: &str = "0xaddr0";

pub(crate) async fn setup(db: &TestDb) -> planbok_store::ServerStore {
    let store = db.server().await;
    new_org(&store, "org_a").await;
    store
        .create_wallet_set(&wallet_set("org_a", "ws_1"), &Commit::none())
        .await
        .unwrap();
    store
        .create_wallets(&[wallet("org_a", "ws_1", "w_0", CHAIN, 0)], &Commit::none())
        .await
        .unwrap();
    store
}

pub(crate) fn tx(id: &str, nonce: i64) -> TxRecord {
    TxRecord {
        id: id.into(),
        org_id: "org_a".into(),
        wallet_id: "w_0".into(),
        blockchain: CHAIN.into(),
        operation: "TRANSFER".into(),
        status: "signed".into(),
        source_address: ADDR.into(),
        destination_address: "0xdest".into(),
        token_id: "native".into(),
        amounts: vec!["1.5".into()],
        fee_level: "medium".into(),
        nonce,
        gas_limit: "25200".into(),
        max_fee_per_gas: "3".into(),
        max_priority_fee_per_gas: "1".into(),
        raw_tx: format!("0xraw{nonce}"),
        tx_hash: format!("0xhash{nonce}"),
        network_fee: None,
        block_number: None,
        block_hash: None,
        confirmations: None,
        error_reason: None,
        ref_id: Some(format!("ref-{id}")),
        broadcasts: 0,
        last_broadcast_at_ms: None,
        next_check_at_ms: T0,
        created_at_ms: T0 + nonce,
        updated_at_ms: T0 + nonce,
        replaces: None,
        replaced_by: None,
        abi_function_signature: None,
        abi_parameters: None,
        nft_token_ids: None,
    }
}

async fn a_released_or_lapsed_lease_gives_the_same_nonce_again(db: &TestDb) {
    let store = setup(db).await;
    // First use: nonce 0; a second holder waits.
    assert_eq!(
        store
            .lease_nonce(CHAIN, ADDR, "a", T0, T0 + 100)
            .await
            .unwrap(),
        Some(0)
    );
    assert_eq!(
        store
            .lease_nonce(CHAIN, ADDR, "b", T0 + 1, T0 + 101)
            .await
            .unwrap(),
        None
    );
    // A failed sign releases it: the next holder gets the same nonce.
    store.release_nonce(CHAIN, ADDR, "a").await.unwrap();
    assert_eq!(
        store
            .lease_nonce(CHAIN, ADDR, "b", T0 + 2, T0 + 102)
            .await
            .unwrap(),
        Some(0)
    );
    store
        .insert_transaction(&tx("t0", 0), "b", &Commit::none())
        .await
        .unwrap();
    // The commit used it and released the lease.
    assert_eq!(
        store
            .lease_nonce(CHAIN, ADDR, "c", T0 + 3, T0 + 103)
            .await
            .unwrap(),
        Some(1)
    );
    // c dies holding it; once the lease lapses d gets nonce 1 and c's late commit is
    // refused, writing nothing.
    assert_eq!(
        store
            .lease_nonce(CHAIN, ADDR, "d", T0 + 50, T0 + 150)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .lease_nonce(CHAIN, ADDR, "d", T0 + 104, T0 + 204)
            .await
            .unwrap(),
        Some(1)
    );
    assert!(matches!(
        store
            .insert_transaction(&tx("t1_late", 1), "c", &Commit::none())
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.transaction("org_a", "t1_late").await.unwrap(), None);
    store
        .insert_transaction(&tx("t1", 1), "d", &Commit::none())
        .await
        .unwrap();
    // A nonce is never stored twice, even under a valid lease.
    assert_eq!(
        store
            .lease_nonce(CHAIN, ADDR, "e", T0 + 105, T0 + 205)
            .await
            .unwrap(),
        Some(2)
    );
    assert!(
        store
            .insert_transaction(&tx("t1_again", 1), "e", &Commit::none())
            .await
            .is_err()
    );
    let (all, total) = store
        .list_transactions(
            "org_a",
            &TxQuery {
                page: 1,
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(total, 2);
    assert_eq!(all.iter().map(|t| t.nonce).collect::<Vec<_>>(), vec![0, 1]);
    assert_eq!(all[0], tx("t0", 0));
}

async fn racing_transfers_get_consecutive_nonces(db: &TestDb) {
    let _ = setup(db).await;
    // Twelve holders over four pools, each retrying until it holds the lease, then
    // storing its transaction with the nonce it was given.
    let nonces = db
        .race(12, |store, i| async move {
            let token = format!("holder-{i}");
            let mut now = T0;
            loop {
                now += 1;
                if let Some(n) = store
                    .lease_nonce(CHAIN, ADDR, &token, now, now + 1_000_000)
                    .await
                    .unwrap()
                {
                    store
                        .insert_transaction(&tx(&format!("t{i}"), n), &token, &Commit::none())
                        .await
                        .unwrap();
                    return n;
                }
                tokio::task::yield_now().await;
            }
        })
        .await;
    let mut sorted = nonces.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..12).collect::<Vec<i64>>());
}

async fn tracker_claims_are_leased_and_stale_results_ignored(db: &TestDb) {
    let store = setup(db).await;
    for n in 0..3 {
        store
            .lease_nonce(CHAIN, ADDR, "h", T0, T0 + 10)
            .await
            .unwrap();
        store
            .insert_transaction(&tx(&format!("t{n}"), n), "h", &Commit::none())
            .await
            .unwrap();
    }
    let first = store
        .claim_transactions(T0, 2, T0 + 100, "w1")
        .await
        .unwrap();
    assert_eq!(first.len(), 2);
    // Leased rows are not claimed again; the third is.
    let second = store
        .claim_transactions(T0 + 1, 10, T0 + 101, "w2")
        .await
        .unwrap();
    assert_eq!(second.len(), 1);
    assert!(
        store
            .claim_transactions(T0 + 2, 10, T0 + 102, "w3")
            .await
            .unwrap()
            .is_empty()
    );
    // w1's lease lapses and w4 takes the row; w1's late result is ignored.
    let mut late = first[0].tx.clone();
    let retaken = store
        .claim_transactions(T0 + 200, 10, T0 + 300, "w4")
        .await
        .unwrap();
    assert_eq!(retaken.len(), 3);
    late.status = "broadcast".into();
    assert!(
        !store
            .record_progress(&late, "w1", &Commit::none())
            .await
            .unwrap()
    );
    let mut done = retaken
        .iter()
        .find(|c| c.tx.id == late.id)
        .unwrap()
        .tx
        .clone();
    done.status = "confirmed".into();
    done.block_number = Some(7);
    assert!(
        store
            .record_progress(&done, "w4", &Commit::none())
            .await
            .unwrap()
    );
    assert_eq!(
        store.transaction("org_a", &done.id).await.unwrap(),
        Some(done.clone())
    );
    // Confirmed rows are no longer claimed; a filtered list finds it.
    let (found, total) = store
        .list_transactions(
            "org_a",
            &TxQuery {
                status: Some("confirmed".into()),
                wallet_ids: vec!["w_0".into(), "w_other".into()],
                tx_hash: Some(done.tx_hash.to_uppercase().replace("0X", "0x")),
                page: 1,
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!((total, found[0].id.as_str()), (1, done.id.as_str()));
    let again = store
        .claim_transactions(T0 + 400, 10, T0 + 500, "w5")
        .await
        .unwrap();
    assert!(again.iter().all(|c| c.tx.id != done.id));
}

async fn a_nonce_is_replaced_once_per_transaction_and_only_while_pending(db: &TestDb) {
    let store = setup(db).await;
    store
        .lease_nonce(CHAIN, ADDR, "h", T0, T0 + 10)
        .await
        .unwrap();
    store
        .insert_transaction(&tx("a", 0), "h", &Commit::none())
        .await
        .unwrap();
    let replacement = |id: &str, of: &str| TxRecord {
        replaces: Some(of.into()),
        raw_tx: format!("0xraw-{id}"),
        tx_hash: format!("0xhash-{id}"),
        created_at_ms: T0 + 10,
        ..tx(id, 0)
    };
    // B replaces A: the same nonce, A marked.
    store
        .insert_replacement(&replacement("b", "a"), &Commit::none())
        .await
        .unwrap();
    let a = store.transaction("org_a", "a").await.unwrap().unwrap();
    assert_eq!(a.replaced_by.as_deref(), Some("b"));
    assert_eq!(a.status, "signed");
    // A is replaced once: a second replacement of A is refused, and nothing is written.
    assert!(matches!(
        store
            .insert_replacement(&replacement("c", "a"), &Commit::none())
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.transaction("org_a", "c").await.unwrap(), None);
    // Another organization's transaction, a wrong nonce, or no original: refused.
    let mut other = replacement("c", "b");
    other.org_id = "org_b".into();
    assert!(
        store
            .insert_replacement(&other, &Commit::none())
            .await
            .is_err()
    );
    let mut wrong = replacement("c", "b");
    wrong.nonce = 5;
    assert!(matches!(
        store.insert_replacement(&wrong, &Commit::none()).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store.insert_replacement(&tx("c", 0), &Commit::none()).await,
        Err(StoreError::InvalidInput(_))
    ));
    // B settled (confirmed): it cannot be replaced any more.
    let claimed = store
        .claim_transactions(T0 + 100, 10, T0 + 200, "w")
        .await
        .unwrap();
    let mut b = claimed.iter().find(|c| c.tx.id == "b").unwrap().tx.clone();
    b.status = "confirmed".into();
    assert!(
        store
            .record_progress(&b, "w", &Commit::none())
            .await
            .unwrap()
    );
    assert!(matches!(
        store
            .insert_replacement(&replacement("c", "b"), &Commit::none())
            .await,
        Err(StoreError::Conflict(_))
    ));
    // The nonce's family, oldest first.
    let family = store.nonce_family(CHAIN, ADDR, 0).await.unwrap();
    let ids: Vec<&str> = family.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["a", "b"]);
    assert_eq!(family[1].replaces.as_deref(), Some("a"));
}
