//! Node 2's security-question rows: their own counter, never past its limit; the unlock
//! that permits a new PIN changes both tables or neither; initialize's commit of the PIN
//! and the questions is all or nothing.

use planbok_store::{FactorTable, NodeStore, PinAttempt};

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
        s.factor_record(FactorTable::Pin, ORG, CUST)
            .await
            .unwrap()
            .unwrap()
            .verify_key,
        None
    );
    assert!(
        s.commit_pin_with_recovery(ORG, CUST, &[1; 32], &[7; 32], &[2; 32], &[8; 32], None, 11)
            .await
            .unwrap()
    );
    let rec = s
        .factor_record(FactorTable::Questions, ORG, CUST)
        .await
        .unwrap()
        .unwrap();
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
            .count_attempt(FactorTable::Questions, ORG, CUST, 3, &[i; 32], 20)
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
        s.count_attempt(FactorTable::Questions, ORG, CUST, 3, &[4; 32], 21)
            .await
            .unwrap(),
        PinAttempt::Locked
    );
    // The PIN's counter is untouched.
    assert_eq!(
        s.factor_record(FactorTable::Pin, ORG, CUST)
            .await
            .unwrap()
            .unwrap()
            .failures,
        0
    );
    // Only the current attempt nonce (the third) unlocks, once; the PIN gets the rekey.
    assert!(
        !s.unlock_recovery_factor(
            FactorTable::Questions,
            ORG,
            CUST,
            &[1; 32],
            &[8; 32],
            &[5; 32],
            1_000,
            22
        )
        .await
        .unwrap()
    );
    assert!(
        s.unlock_recovery_factor(
            FactorTable::Questions,
            ORG,
            CUST,
            &[3; 32],
            &[8; 32],
            &[5; 32],
            1_000,
            22
        )
        .await
        .unwrap()
    );
    assert!(
        !s.unlock_recovery_factor(
            FactorTable::Questions,
            ORG,
            CUST,
            &[3; 32],
            &[8; 32],
            &[6; 32],
            1_000,
            23
        )
        .await
        .unwrap()
    );
    assert_eq!(
        s.factor_record(FactorTable::Questions, ORG, CUST)
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
        !s.unlock_recovery_factor(
            FactorTable::Questions,
            ORG,
            "c2",
            &[2; 32],
            &[8; 32],
            &[5; 32],
            1_000,
            22
        )
        .await
        .unwrap()
    );
    assert_eq!(
        s.count_attempt(FactorTable::Questions, ORG, "c2", 3, &[1; 32], 20)
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
    let rec = s
        .factor_record(FactorTable::Questions, ORG, CUST)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (rec.verify_key, rec.sealed_key, rec.failures),
        (Some(vec![9; 32]), Some(b"rec-key-2".to_vec()), 0)
    );
}

async fn the_email_code_counts_on_its_own_and_unlock_gives_the_pin_a_rekey(db: &TestDb) {
    let s = initialized(db).await;
    // Only over the enrolled PIN it names.
    assert!(
        !s.put_email(ORG, CUST, &[1; 32], &[6; 32], b"w-email", &[4; 32], 50)
            .await
            .unwrap()
    );
    assert!(
        s.put_email(ORG, CUST, &[7; 32], &[6; 32], b"w-email", &[4; 32], 50)
            .await
            .unwrap()
    );
    for i in 1..=2u8 {
        assert_eq!(
            s.count_attempt(FactorTable::Email, ORG, CUST, 2, &[i; 32], 51)
                .await
                .unwrap(),
            PinAttempt::Counted {
                failures: i64::from(i),
                sealed_key: b"w-email".to_vec()
            }
        );
    }
    assert_eq!(
        s.count_attempt(FactorTable::Email, ORG, CUST, 2, &[3; 32], 52)
            .await
            .unwrap(),
        PinAttempt::Locked
    );
    // The other factors' counters are untouched.
    assert_eq!(
        s.factor_record(FactorTable::Pin, ORG, CUST)
            .await
            .unwrap()
            .unwrap()
            .failures,
        0
    );
    assert_eq!(
        s.factor_record(FactorTable::Questions, ORG, CUST)
            .await
            .unwrap()
            .unwrap()
            .failures,
        0
    );
    // The current nonce (the second) unlocks once; an older one never.
    let unlock = async |n: u8| {
        s.unlock_recovery_factor(
            FactorTable::Email,
            ORG,
            CUST,
            &[n; 32],
            &[6; 32],
            &[5; 32],
            1_000,
            53,
        )
        .await
    };
    assert!(!unlock(1).await.unwrap());
    assert!(unlock(2).await.unwrap());
    assert!(!unlock(2).await.unwrap());
    let rec = s
        .factor_record(FactorTable::Email, ORG, CUST)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (rec.failures, rec.sealed_key, rec.enroll_nonce),
        (0, Some(b"w-email".to_vec()), Some(vec![4; 32]))
    );
    // The PIN may now be re-enrolled with the rekey nonce.
    s.put_pending_pin(ORG, CUST, b"pin-key-2", &[9; 32], Some(&[5; 32]), 54)
        .await
        .unwrap();
    assert!(
        s.unlock_recovery_factor(
            FactorTable::Pin,
            ORG,
            CUST,
            &[2; 32],
            &[6; 32],
            &[5; 32],
            1,
            1
        )
        .await
        .is_err()
    );
}

on_every_backend!(
    the_questions_count_on_their_own_and_unlock_gives_the_pin_a_rekey,
    a_new_enrollment_replaces_only_the_enrolled_key_it_names,
    the_email_code_counts_on_its_own_and_unlock_gives_the_pin_a_rekey,
);
