//! A customer transaction challenge in the server store (schema 12): its prepared nonce
//! and fees recorded only while it is pending, and its completion storing the signed
//! transaction in the same database transaction, only under the nonce lease it was
//! prepared with (a new transaction) or only while its original is pending (a
//! replacement); otherwise nothing at all is written.

use planbok_store::StoreError;
use planbok_store::server::{ChallengeRecord, ChallengeTx, Commit};

use crate::harness::{TestDb, on_every_backend};
use crate::server_fixtures::T0;
use crate::server_mail::{challenge, customer};
use crate::server_transactions::{ADDR, CHAIN, setup, tx};

on_every_backend!(
    a_transaction_challenge_completes_only_under_its_lease,
    a_replacement_challenge_completes_only_while_its_original_is_pending,
);

async fn open(store: &planbok_store::ServerStore, id: &str, kind: &str) -> ChallengeRecord {
    let mut ch = challenge("org_a", "c1", id);
    ch.kind = kind.into();
    ch.params = Some("{}".into());
    store.create_challenge(&ch, &Commit::none()).await.unwrap();
    ch
}

async fn status(store: &planbok_store::ServerStore, id: &str) -> String {
    store
        .challenge("org_a", "c1", id)
        .await
        .unwrap()
        .unwrap()
        .status
}

async fn a_transaction_challenge_completes_only_under_its_lease(db: &TestDb) {
    let store = setup(db).await;
    store
        .create_customer(&customer("org_a", "c1"), &Commit::none())
        .await
        .unwrap();
    let ch = open(&store, "ch_1", "transfer").await;
    assert!(
        store
            .set_challenge_prepared(&ch, Some("{\"nonce\":0}"))
            .await
            .unwrap()
    );
    let read = store
        .challenge("org_a", "c1", "ch_1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.prepared.as_deref(), Some("{\"nonce\":0}"));
    assert_eq!(
        store
            .lease_nonce(CHAIN, ADDR, "lease_a", T0, T0 + 100)
            .await
            .unwrap(),
        Some(0)
    );
    // Under another holder's token: a conflict, and nothing written.
    let t = tx("t_0", 0);
    let stolen = ChallengeTx {
        record: &t,
        lease_token: Some("lease_b"),
    };
    let r = store
        .complete_op_challenge(&ch, "{}", &[], Some(stolen), T0, &Commit::none())
        .await;
    assert!(matches!(r, Err(StoreError::Conflict(_))), "{r:?}");
    assert!(store.transaction("org_a", "t_0").await.unwrap().is_none());
    assert_eq!(status(&store, "ch_1").await, "pending");
    // Under its own lease: the challenge completes, the transaction is stored and the
    // nonce is used.
    let own = ChallengeTx {
        record: &t,
        lease_token: Some("lease_a"),
    };
    assert!(
        store
            .complete_op_challenge(
                &ch,
                "{\"transactionId\":\"t_0\"}",
                &[],
                Some(own),
                T0,
                &Commit::none()
            )
            .await
            .unwrap()
    );
    assert_eq!(status(&store, "ch_1").await, "complete");
    assert!(store.transaction("org_a", "t_0").await.unwrap().is_some());
    assert_eq!(
        store
            .lease_nonce(CHAIN, ADDR, "lease_c", T0, T0 + 100)
            .await
            .unwrap(),
        Some(1)
    );
    // Complete, it takes no new preparation and no second completion.
    assert!(!store.set_challenge_prepared(&ch, None).await.unwrap());
    let again = tx("t_1", 1);
    let second = ChallengeTx {
        record: &again,
        lease_token: Some("lease_c"),
    };
    assert!(
        !store
            .complete_op_challenge(&ch, "{}", &[], Some(second), T0, &Commit::none())
            .await
            .unwrap()
    );
    assert!(store.transaction("org_a", "t_1").await.unwrap().is_none());
}

async fn a_replacement_challenge_completes_only_while_its_original_is_pending(db: &TestDb) {
    let store = setup(db).await;
    store
        .create_customer(&customer("org_a", "c1"), &Commit::none())
        .await
        .unwrap();
    store
        .lease_nonce(CHAIN, ADDR, "lease_a", T0, T0 + 100)
        .await
        .unwrap();
    store
        .insert_transaction(&tx("t_0", 0), "lease_a", &Commit::none())
        .await
        .unwrap();
    let replacement = |id: &str| {
        let mut r = tx(id, 0);
        r.replaces = Some("t_0".into());
        r.tx_hash = format!("0xhash-{id}");
        r
    };
    let (first, second) = (replacement("t_1"), replacement("t_2"));
    let cancel = open(&store, "ch_1", "cancel_transaction").await;
    let done = ChallengeTx {
        record: &first,
        lease_token: None,
    };
    assert!(
        store
            .complete_op_challenge(&cancel, "{}", &[], Some(done), T0, &Commit::none())
            .await
            .unwrap()
    );
    let original = store.transaction("org_a", "t_0").await.unwrap().unwrap();
    assert_eq!(original.replaced_by.as_deref(), Some("t_1"));
    // A second replacement of the same original (another challenge made before the first
    // completed): a conflict, its challenge still pending, nothing stored.
    let late = open(&store, "ch_2", "accelerate_transaction").await;
    let r = store
        .complete_op_challenge(
            &late,
            "{}",
            &[],
            Some(ChallengeTx {
                record: &second,
                lease_token: None,
            }),
            T0,
            &Commit::none(),
        )
        .await;
    assert!(matches!(r, Err(StoreError::Conflict(_))), "{r:?}");
    assert_eq!(status(&store, "ch_2").await, "pending");
    assert!(store.transaction("org_a", "t_2").await.unwrap().is_none());
}
