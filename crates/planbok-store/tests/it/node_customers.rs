//! Customer keys on the nodes: Node 2's permits are made only by an unlock that matches
//! the current attempt nonce, used once each (also when many runs race for one), and
//! expire; Node 1's customer-secret verifier is written once; a customer's key reads back
//! as `Custody::Customer` with its customer.

use planbok_store::FactorTable;
use planbok_store::{Custody, NewKey, NodeStore, StoreError};

use crate::harness::{TestDb, on_every_backend};

const ORG: &str = "org_1";
const CUST: &str = "c1";
const VK: [u8; 32] = [7; 32];

/// A customer with an enrolled PIN and a counted attempt whose nonce is `[5; 32]`.
async fn attempted(db: &TestDb) -> NodeStore {
    let s = db.connect().await;
    s.put_pending_pin(ORG, CUST, b"sealed-key", &[1; 32], None, 10)
        .await
        .unwrap();
    assert!(
        s.commit_pin(ORG, CUST, &[1; 32], &VK, None, 11)
            .await
            .unwrap()
    );
    s.count_attempt(FactorTable::Pin, ORG, CUST, 5, &[5; 32], 12)
        .await
        .unwrap();
    s
}

async fn permits_need_the_current_attempt_and_are_used_once(db: &TestDb) {
    let s = attempted(db).await;
    let ops = [[1u8; 32], [2u8; 32]];
    // Another nonce or another key makes nothing.
    assert!(
        !s.unlock_with_permits(ORG, CUST, &[6; 32], &VK, "ch", &ops, 1_000, 20)
            .await
            .unwrap()
    );
    assert!(
        !s.unlock_with_permits(ORG, CUST, &[5; 32], &[8; 32], "ch", &ops, 1_000, 20)
            .await
            .unwrap()
    );
    assert_eq!(s.permit_count(ORG, CUST).await.unwrap(), 0);
    assert!(
        s.unlock_with_permits(ORG, CUST, &[5; 32], &VK, "ch", &ops, 1_000, 20)
            .await
            .unwrap()
    );
    assert_eq!(
        s.factor_record(FactorTable::Pin, ORG, CUST)
            .await
            .unwrap()
            .unwrap()
            .failures,
        0
    );
    // The attempt nonce is spent: the same unlock again makes nothing more.
    assert!(
        !s.unlock_with_permits(ORG, CUST, &[5; 32], &VK, "ch", &ops, 1_000, 20)
            .await
            .unwrap()
    );
    assert_eq!(s.permit_count(ORG, CUST).await.unwrap(), 2);
    // Another challenge, another operation, another customer: no permit.
    assert!(
        !s.take_permit(ORG, CUST, "other", &ops[0], 30)
            .await
            .unwrap()
    );
    assert!(!s.take_permit(ORG, CUST, "ch", &[3; 32], 30).await.unwrap());
    assert!(!s.take_permit(ORG, "c2", "ch", &ops[0], 30).await.unwrap());
    // Once each.
    assert!(s.take_permit(ORG, CUST, "ch", &ops[0], 30).await.unwrap());
    assert!(!s.take_permit(ORG, CUST, "ch", &ops[0], 31).await.unwrap());
    // Expired: refused, and pruned.
    assert!(
        !s.take_permit(ORG, CUST, "ch", &ops[1], 1_001)
            .await
            .unwrap()
    );
    assert_eq!(s.permit_count(ORG, CUST).await.unwrap(), 0);
}

async fn racing_runs_use_a_permit_once(db: &TestDb) {
    let s = attempted(db).await;
    assert!(
        s.unlock_with_permits(ORG, CUST, &[5; 32], &VK, "ch", &[[9; 32]], 1_000, 20)
            .await
            .unwrap()
    );
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let s = db.connect().await;
        tasks.spawn(async move { s.take_permit(ORG, CUST, "ch", &[9; 32], 30).await.unwrap() });
    }
    let mut won = 0;
    while let Some(r) = tasks.join_next().await {
        won += usize::from(r.unwrap());
    }
    assert_eq!(won, 1);
}

async fn the_customer_verifier_is_written_once_and_keys_name_their_customer(db: &TestDb) {
    let s = db.connect().await;
    assert_eq!(s.customer_secret_verifier(ORG, CUST).await.unwrap(), None);
    assert_eq!(
        s.put_customer_secret_verifier(ORG, CUST, &[1; 32], 1)
            .await
            .unwrap(),
        vec![1; 32]
    );
    // The first writer's stands.
    assert_eq!(
        s.put_customer_secret_verifier(ORG, CUST, &[2; 32], 2)
            .await
            .unwrap(),
        vec![1; 32]
    );
    let key = |id: &str, custody, customer: Option<&str>| NewKey {
        key_id: id.into(),
        org_id: ORG.into(),
        protocol: "frost-ed25519".into(),
        public_key: vec![2; 32],
        chain_code: None,
        sealed_share: vec![0xAB; 64],
        custody,
        customer_id: customer.map(str::to_owned),
    };
    s.insert_pending_key(&key("kc_1", Custody::Customer, Some(CUST)))
        .await
        .unwrap();
    s.activate_key("kc_1").await.unwrap();
    let rec = s.active_key("kc_1").await.unwrap().unwrap();
    assert_eq!(
        (rec.custody, rec.customer_id.as_deref()),
        (Some(Custody::Customer), Some(CUST))
    );
    // A customer's key without its customer, or an organization's key with one: refused.
    for bad in [
        key("kc_2", Custody::Customer, None),
        key("k_3", Custody::Trustless, Some(CUST)),
    ] {
        assert!(matches!(
            s.insert_pending_key(&bad).await,
            Err(StoreError::InvalidInput(_))
        ));
    }
}

on_every_backend!(
    permits_need_the_current_attempt_and_are_used_once,
    racing_runs_use_a_permit_once,
    the_customer_verifier_is_written_once_and_keys_name_their_customer,
);
