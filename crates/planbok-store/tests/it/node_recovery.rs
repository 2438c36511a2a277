//! Node 2's security-question rows: their own counter, never past its limit; the unlock
//! that permits a new PIN changes both tables or neither; initialize's commit of the PIN
//! and the questions is all or nothing.

use planbok_store::{NodeStore, PinAttempt};

use crate::harness::{TestDb, on_every_backend};

const ORG: &str = "org_1";
const CUST: &str = "c1";

/// A customer with a PIN and questions enrolled through initialize's single commit.
async fn initialized(db: &TestDb) -> NodeStore {
    let s = db.connect().await;
    s.put_pending_pin(ORG, CUST, b"pin-key", &[1; 32], None, 10)
        .await
        .unwrap();
    s.put_pending_recovery(ORG, CUST, b"rec-key", &[2; 32], 10)
        .await
        .unwrap();
    // The wrong questions nonce: nothing is committed, not even the PIN.
    assert!(
        !s.commit_pin_with_recovery(ORG, CUST, &[1; 32], &[7; 32], &[9; 32], &[8; 32], None, 11)
            .await
            .unwrap()
    );
    assert_eq!(
        s.pin_record(ORG, CUST).await.unwrap().unwrap().verify_key,
        None
    );
    assert!(
        s.commit_pin_with_recovery(ORG, CUST, &[1; 32], &[7; 32], &[2; 32], &[8; 32], None, 11)
            .await
            .unwrap()
    );
    let rec = s.recovery_record(ORG, CUST).await.unwrap().unwrap();
    assert_eq!(
        (rec.verify_key, rec.enroll_nonce, rec.sealed_key),
        (
            Some(vec![8; 32]),
            Some(vec![2; 32]),
            Some(b"rec-key".to_vec())
        )
    );
    s
}

async fn the_questions_count_on_their_own_and_unlock_gives_the_pin_a_rekey(db: &TestDb) {
    let s = initialized(db).await;
    for i in 1..=3u8 {
        match s
            .count_recovery_attempt(ORG, CUST, 3, &[i; 32], 20)
            .await
            .unwrap()
        {
            PinAttempt::Counted {
                failures,
                sealed_key,
            } => assert_eq!((failures, sealed_key), (i64::from(i), b"rec-key".to_vec())),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        s.count_recovery_attempt(ORG, CUST, 3, &[4; 32], 21)
            .await
            .unwrap(),
        PinAttempt::Locked
    );
    // The PIN's counter is untouched.
    assert_eq!(s.pin_record(ORG, CUST).await.unwrap().unwrap().failures, 0);
    // Only the current attempt nonce (the third) unlocks, once; the PIN gets the rekey.
    assert!(
        !s.unlock_recovery(ORG, CUST, &[1; 32], &[8; 32], &[5; 32], 1_000, 22)
            .await
            .unwrap()
    );
    assert!(
        s.unlock_recovery(ORG, CUST, &[3; 32], &[8; 32], &[5; 32], 1_000, 22)
            .await
            .unwrap()
    );
    assert!(
        !s.unlock_recovery(ORG, CUST, &[3; 32], &[8; 32], &[6; 32], 1_000, 23)
            .await
            .unwrap()
    );
    assert_eq!(
        s.recovery_record(ORG, CUST)
            .await
            .unwrap()
            .unwrap()
            .failures,
        0
    );
    s.put_pending_pin(ORG, CUST, b"pin-key-2", &[11; 32], Some(&[5; 32]), 30)
        .await
        .unwrap();
    // Another customer without a PIN: its unlock writes nothing anywhere.
    s.put_pending_recovery(ORG, "c2", b"k", &[2; 32], 10)
        .await
        .unwrap();
    assert!(
        !s.unlock_recovery(ORG, "c2", &[2; 32], &[8; 32], &[5; 32], 1_000, 22)
            .await
            .unwrap()
    );
    assert_eq!(
        s.count_recovery_attempt(ORG, "c2", 3, &[1; 32], 20)
            .await
            .unwrap(),
        PinAttempt::NotSet
    );
}

async fn a_new_enrollment_replaces_only_the_enrolled_key_it_names(db: &TestDb) {
    let s = initialized(db).await;
    s.put_pending_recovery(ORG, CUST, b"rec-key-2", &[3; 32], 40)
        .await
        .unwrap();
    // Over another enrolled key: refused.
    assert!(
        !s.commit_recovery(ORG, CUST, &[3; 32], &[9; 32], Some(&[1; 32]), 41)
            .await
            .unwrap()
    );
    assert!(
        s.commit_recovery(ORG, CUST, &[3; 32], &[9; 32], Some(&[8; 32]), 41)
            .await
            .unwrap()
    );
    let rec = s.recovery_record(ORG, CUST).await.unwrap().unwrap();
    assert_eq!(
        (rec.verify_key, rec.sealed_key, rec.failures),
        (Some(vec![9; 32]), Some(b"rec-key-2".to_vec()), 0)
    );
}

on_every_backend!(
    the_questions_count_on_their_own_and_unlock_gives_the_pin_a_rekey,
    a_new_enrollment_replaces_only_the_enrolled_key_it_names,
);
