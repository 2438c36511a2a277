//! Node 2's customer-PIN rows: the guess counter never passes its limit, whatever the
//! concurrency; enrollment, unlock and commit match on their nonces.

use planbok_store::FactorTable;
use planbok_store::{NodeStore, PinAttempt, StoreError};

use crate::harness::{TestDb, on_every_backend};

const ORG: &str = "org_1";
const CUST: &str = "c1";

async fn enrolled(db: &TestDb) -> NodeStore {
    let s = db.connect().await;
    s.put_pending_pin(ORG, CUST, b"sealed-key", &[1; 32], None, 10)
        .await
        .unwrap();
    assert!(
        s.commit_pin(ORG, CUST, &[1; 32], &[7; 32], None, 11)
            .await
            .unwrap()
    );
    s
}

async fn concurrent_attempts_never_pass_the_limit(db: &TestDb) {
    enrolled(db).await;
    let mut stores = Vec::new();
    for _ in 0..4 {
        stores.push(db.connect().await);
    }
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(40));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..40u8 {
        let s = stores[usize::from(i) % 4].clone();
        let b = barrier.clone();
        tasks.spawn(async move {
            b.wait().await;
            s.count_attempt(FactorTable::Pin, ORG, CUST, 5, &[i; 32], 100)
                .await
                .unwrap()
        });
    }
    let mut counted = Vec::new();
    let mut locked = 0;
    while let Some(r) = tasks.join_next().await {
        match r.unwrap() {
            PinAttempt::Counted {
                failures,
                sealed_key,
            } => {
                assert_eq!(sealed_key, b"sealed-key");
                counted.push(failures);
            }
            PinAttempt::Locked => locked += 1,
            PinAttempt::NotSet => panic!("enrolled"),
        }
    }
    counted.sort_unstable();
    assert_eq!(counted, [1, 2, 3, 4, 5]);
    assert_eq!(locked, 35);
    let s = db.connect().await;
    assert_eq!(
        s.factor_record(FactorTable::Pin, ORG, CUST)
            .await
            .unwrap()
            .unwrap()
            .failures,
        5
    );
    assert_eq!(
        s.count_attempt(FactorTable::Pin, ORG, "nobody", 5, &[0; 32], 1)
            .await
            .unwrap(),
        PinAttempt::NotSet
    );
}

async fn unlock_and_rekey_match_on_their_nonces(db: &TestDb) {
    let s = enrolled(db).await;
    // A second first-enrollment is refused once a PIN is set.
    assert!(matches!(
        s.put_pending_pin(ORG, CUST, b"k2", &[2; 32], None, 12)
            .await,
        Err(StoreError::Conflict(_))
    ));
    s.count_attempt(FactorTable::Pin, ORG, CUST, 5, &[3; 32], 13)
        .await
        .unwrap();
    // Another nonce, or another key, unlocks nothing.
    assert!(
        !s.unlock_pin(ORG, CUST, &[4; 32], &[7; 32], &[9; 32], 1000, 14)
            .await
            .unwrap()
    );
    assert!(
        !s.unlock_pin(ORG, CUST, &[3; 32], &[8; 32], &[9; 32], 1000, 14)
            .await
            .unwrap()
    );
    assert!(
        s.unlock_pin(ORG, CUST, &[3; 32], &[7; 32], &[9; 32], 1000, 14)
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
    // The nonce is retired.
    assert!(
        !s.unlock_pin(ORG, CUST, &[3; 32], &[7; 32], &[9; 32], 1000, 15)
            .await
            .unwrap()
    );
    // The rekey nonce: not another one, not after it expires, once.
    assert!(matches!(
        s.put_pending_pin(ORG, CUST, b"k3", &[5; 32], Some(&[8; 32]), 16)
            .await,
        Err(StoreError::NotFound(_))
    ));
    s.put_pending_pin(ORG, CUST, b"k3", &[5; 32], Some(&[9; 32]), 16)
        .await
        .unwrap();
    assert!(matches!(
        s.put_pending_pin(ORG, CUST, b"k4", &[6; 32], Some(&[9; 32]), 17)
            .await,
        Err(StoreError::NotFound(_))
    ));
    // The commit replaces the enrolled key only from the old one, with the pending nonce.
    assert!(
        !s.commit_pin(ORG, CUST, &[5; 32], &[6; 32], None, 18)
            .await
            .unwrap()
    );
    assert!(
        !s.commit_pin(ORG, CUST, &[1; 32], &[6; 32], Some(&[7; 32]), 18)
            .await
            .unwrap()
    );
    assert!(
        s.commit_pin(ORG, CUST, &[5; 32], &[6; 32], Some(&[7; 32]), 18)
            .await
            .unwrap()
    );
    let r = s
        .factor_record(FactorTable::Pin, ORG, CUST)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            r.sealed_key.as_deref(),
            r.verify_key.as_deref(),
            r.enroll_nonce.as_deref()
        ),
        (Some(&b"k3"[..]), Some(&[6u8; 32][..]), Some(&[5u8; 32][..]))
    );
    // An expired rekey nonce is refused.
    s.count_attempt(FactorTable::Pin, ORG, CUST, 5, &[10; 32], 19)
        .await
        .unwrap();
    assert!(
        s.unlock_pin(ORG, CUST, &[10; 32], &[6; 32], &[11; 32], 100, 20)
            .await
            .unwrap()
    );
    assert!(matches!(
        s.put_pending_pin(ORG, CUST, b"k5", &[12; 32], Some(&[11; 32]), 101)
            .await,
        Err(StoreError::NotFound(_))
    ));
}

on_every_backend!(
    concurrent_attempts_never_pass_the_limit,
    unlock_and_rekey_match_on_their_nonces,
);
