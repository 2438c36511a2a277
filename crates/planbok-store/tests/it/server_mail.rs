//! Recovery by email in the server store (schema 11): the organization's opt-in, the mail
//! outbox queued only with its challenge, claims with leases (one claimer per row, a
//! lapsed lease re-claimed, a stale claimer's record ignored), and the sealed code staged
//! on a challenge becoming the customer's only with the challenge's completion. Schema 13:
//! security notices queued with the commit that owes them (and only if it commits), the
//! notices opt-in, and the organization's branding.

use planbok_store::server::{
    ChallengeRecord, Commit, CustomerRecord, Logo, MailDraft, MailKind, MailOutcome, OrgBranding,
    OrgSettings, PinEnrollment,
};

use crate::harness::{TestDb, on_every_backend};
use crate::server_fixtures::{T0, draft, new_org};

on_every_backend!(
    email_recovery_is_an_org_setting,
    mail_is_queued_with_its_challenge_and_claimed_with_a_lease,
    a_staged_code_becomes_the_customers_with_the_challenge,
    a_notice_is_queued_with_the_commit_that_owes_it_and_only_then,
    branding_is_stored_whole_and_replaced_whole,
);

pub(crate) fn customer(org: &str, id: &str) -> CustomerRecord {
    CustomerRecord {
        id: id.into(),
        org_id: org.into(),
        name: "Alice".into(),
        ref_id: None,
        email: Some("alice@example.com".into()),
        pin_status: "unset".into(),
        pin: None,
        recovery: None,
        email_code: None,
        created_at_ms: T0,
        updated_at_ms: T0,
    }
}

pub(crate) fn challenge(org: &str, customer: &str, id: &str) -> ChallengeRecord {
    ChallengeRecord {
        id: id.into(),
        org_id: org.into(),
        customer_id: customer.into(),
        kind: "reset_pin".into(),
        status: "pending".into(),
        token_hash: id.as_bytes().to_vec(),
        return_url: None,
        result: None,
        error_code: None,
        created_at_ms: T0,
        expires_at_ms: T0 + 900_000,
        completed_at_ms: None,
        params: Some("{\"method\":\"email\"}".into()),
        prepared: None,
    }
}

async fn email_recovery_is_an_org_setting(db: &TestDb) {
    let store = db.server().await;
    new_org(&store, "org_a").await;
    assert_eq!(
        store.org_settings("org_a").await.unwrap(),
        OrgSettings::default()
    );
    store
        .set_email_recovery("org_a", true, T0, &Commit::audit(draft("org_a", "x")))
        .await
        .unwrap();
    store
        .set_require_binding("org_a", T0, &Commit::none())
        .await
        .unwrap();
    assert_eq!(
        store.org_settings("org_a").await.unwrap(),
        OrgSettings {
            require_binding: true,
            email_recovery: true,
            ..OrgSettings::default()
        }
    );
    store
        .set_email_recovery("org_a", false, T0, &Commit::none())
        .await
        .unwrap();
    let s = store.org_settings("org_a").await.unwrap();
    assert!(s.require_binding && !s.email_recovery, "{s:?}");
}

async fn mail_is_queued_with_its_challenge_and_claimed_with_a_lease(db: &TestDb) {
    let store = db.server().await;
    new_org(&store, "org_a").await;
    store
        .create_customer(&customer("org_a", "c1"), &Commit::none())
        .await
        .unwrap();
    // Nothing due before a challenge asks for mail; a challenge without mail queues none.
    assert_eq!(store.claim_mail(T0, T0 + 10, "w0").await.unwrap(), None);
    let mut plain = challenge("org_a", "c1", "ch0");
    plain.params = None;
    store
        .create_challenge(&plain, &Commit::none())
        .await
        .unwrap();
    assert_eq!(
        store
            .mail_status("ch0", MailKind::RecoveryCode)
            .await
            .unwrap(),
        None
    );
    // A challenge for an unknown customer fails whole: no mail row either.
    let orphan = challenge("org_a", "nobody", "ch_x");
    assert!(
        store
            .create_challenge(&orphan, &code_mail("m_x", "ch_x"))
            .await
            .is_err()
    );
    assert_eq!(
        store
            .mail_status("ch_x", MailKind::RecoveryCode)
            .await
            .unwrap(),
        None
    );

    store
        .create_challenge(&challenge("org_a", "c1", "ch1"), &code_mail("m1", "ch1"))
        .await
        .unwrap();
    assert_eq!(
        store
            .mail_status("ch1", MailKind::RecoveryCode)
            .await
            .unwrap(),
        Some(("pending".into(), 0))
    );
    let a = store
        .claim_mail(T0, T0 + 1_000, "w1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            a.id.as_str(),
            a.challenge_id.as_str(),
            a.attempt,
            a.kind.as_str()
        ),
        ("m1", "ch1", 1, "recovery_code")
    );
    // Leased: nobody else gets it until the lease lapses.
    assert_eq!(
        store.claim_mail(T0 + 500, T0 + 1_500, "w2").await.unwrap(),
        None
    );
    let b = store
        .claim_mail(T0 + 1_000, T0 + 2_000, "w2")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((b.id.as_str(), b.attempt), ("m1", 2));
    // The first claimer's late record is ignored; the holder's counts.
    assert!(
        !store
            .record_mail(&a, &MailOutcome::Sent, T0 + 1_100, &Commit::none())
            .await
            .unwrap()
    );
    let retry = MailOutcome::Retry {
        retry_at_ms: T0 + 5_000,
        error: "the relay answered 451".into(),
    };
    assert!(
        store
            .record_mail(&b, &retry, T0 + 1_100, &Commit::none())
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .claim_mail(T0 + 4_999, T0 + 6_000, "w3")
            .await
            .unwrap(),
        None
    );
    let c = store
        .claim_mail(T0 + 5_000, T0 + 6_000, "w3")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.attempt, 3);
    assert!(
        store
            .record_mail(
                &c,
                &MailOutcome::Sent,
                T0 + 5_100,
                &Commit::audit(draft("org_a", "customer.recovery_email_sent"))
            )
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .mail_status("ch1", MailKind::RecoveryCode)
            .await
            .unwrap(),
        Some(("sent".into(), 3))
    );
    // Sent is final.
    assert_eq!(
        store
            .claim_mail(T0 + 99_000, T0 + 100_000, "w4")
            .await
            .unwrap(),
        None
    );
}

async fn a_staged_code_becomes_the_customers_with_the_challenge(db: &TestDb) {
    let store = db.server().await;
    new_org(&store, "org_a").await;
    store
        .create_customer(&customer("org_a", "c1"), &Commit::none())
        .await
        .unwrap();
    let mut ch = challenge("org_a", "c1", "ch1");
    ch.kind = "initialize".into();
    ch.params = None;
    store.create_challenge(&ch, &Commit::none()).await.unwrap();
    let pin = PinEnrollment {
        salt: vec![1; 16],
        params: "{}".into(),
        wrap: vec![2; 61],
    };
    assert!(store.stage_pin("ch1", &pin, T0).await.unwrap());
    assert!(store.stage_email_code("ch1", &[9; 49], T0).await.unwrap());
    // Staged only: not the customer's yet.
    let c = store.customer("org_a", "c1").await.unwrap().unwrap();
    assert_eq!(c.email_code, None);
    assert!(
        store
            .complete_pin_challenge(&ch, "{}", T0 + 1, &Commit::none())
            .await
            .unwrap()
    );
    let c = store.customer("org_a", "c1").await.unwrap().unwrap();
    assert_eq!(c.email_code, Some(vec![9; 49]));
    assert_eq!(c.pin_status, "set");
    // A finished challenge stages nothing more.
    assert!(
        !store
            .stage_email_code("ch1", &[8; 49], T0 + 2)
            .await
            .unwrap()
    );
}

/// A reset by email's creation: the recovery code queued with the challenge.
fn code_mail(id: &str, challenge_id: &str) -> Commit {
    Commit::none().with_mail(Some(notice(id, challenge_id, MailKind::RecoveryCode, T0)))
}

fn notice(id: &str, challenge_id: &str, kind: MailKind, at_ms: i64) -> MailDraft {
    MailDraft {
        id: id.into(),
        org_id: "org_a".into(),
        customer_id: "c1".into(),
        challenge_id: challenge_id.into(),
        kind,
        at_ms,
    }
}

async fn a_notice_is_queued_with_the_commit_that_owes_it_and_only_then(db: &TestDb) {
    let store = db.server().await;
    new_org(&store, "org_a").await;
    assert!(!store.org_settings("org_a").await.unwrap().email_notices);
    store
        .set_email_notices("org_a", true, T0, &Commit::none())
        .await
        .unwrap();
    let s = store.org_settings("org_a").await.unwrap();
    assert!(
        s.email_notices && !s.email_recovery && !s.require_binding,
        "{s:?}"
    );
    store
        .create_customer(&customer("org_a", "c1"), &Commit::none())
        .await
        .unwrap();
    let mut ch = challenge("org_a", "c1", "ch1");
    ch.kind = "update_pin".into();
    ch.params = None;
    store.create_challenge(&ch, &Commit::none()).await.unwrap();
    let pin = PinEnrollment {
        salt: vec![1; 16],
        params: "{}".into(),
        wrap: vec![2; 61],
    };
    assert!(store.stage_pin("ch1", &pin, T0).await.unwrap());
    let with =
        |id: &str| Commit::none().with_mail(Some(notice(id, "ch1", MailKind::PinChanged, T0 + 1)));
    assert!(
        store
            .complete_pin_challenge(&ch, "{}", T0 + 1, &with("m1"))
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .mail_status("ch1", MailKind::PinChanged)
            .await
            .unwrap(),
        Some(("pending".into(), 0))
    );
    // A second completion does not happen, and neither does its notice.
    assert!(
        !store
            .complete_pin_challenge(&ch, "{}", T0 + 2, &with("m2"))
            .await
            .unwrap()
    );
    let m = store
        .claim_mail(T0 + 10, T0 + 1_000, "w1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (m.id.as_str(), m.kind, m.created_at_ms),
        ("m1", MailKind::PinChanged, T0 + 1)
    );
    assert_eq!(
        store.claim_mail(T0 + 10, T0 + 1_000, "w2").await.unwrap(),
        None
    );
    // Every kind is one the schema takes, and reads back as itself.
    for (i, kind) in MailKind::ALL.into_iter().enumerate() {
        assert_eq!(MailKind::parse(kind.as_str()), Some(kind));
        let id = format!("k{i}");
        store
            .set_email_notices(
                "org_a",
                true,
                T0,
                &Commit::none().with_mail(Some(notice(&id, "ch1", kind, T0 + 100))),
            )
            .await
            .unwrap();
        assert_eq!(
            store.mail_status("ch1", kind).await.unwrap().map(|s| s.0),
            Some("pending".into()),
            "{kind:?}"
        );
    }
}

async fn branding_is_stored_whole_and_replaced_whole(db: &TestDb) {
    let store = db.server().await;
    new_org(&store, "org_a").await;
    assert_eq!(
        store.org_branding("org_a").await.unwrap(),
        OrgBranding::default()
    );
    let full = OrgBranding {
        primary_color: Some("#0b3d91".into()),
        background_color: Some("#fafafa".into()),
        logo: Some(Logo {
            media_type: "image/png".into(),
            bytes: b"\x89PNG\r\n\x1a\n rest".to_vec(),
        }),
        updated_at_ms: T0,
    };
    store
        .set_org_branding(
            "org_a",
            &full,
            &Commit::audit(draft("org_a", "organization.branding")),
        )
        .await
        .unwrap();
    assert_eq!(store.org_branding("org_a").await.unwrap(), full);
    // Replaced whole: what is left out is gone.
    let colour_only = OrgBranding {
        primary_color: Some("#000000".into()),
        updated_at_ms: T0 + 1,
        ..OrgBranding::default()
    };
    store
        .set_org_branding("org_a", &colour_only, &Commit::none())
        .await
        .unwrap();
    assert_eq!(store.org_branding("org_a").await.unwrap(), colour_only);
    // The schema keeps a logo's type with its bytes, and only the two image types.
    let svg = OrgBranding {
        logo: Some(Logo {
            media_type: "image/svg+xml".into(),
            bytes: b"<svg/>".to_vec(),
        }),
        ..colour_only.clone()
    };
    assert!(
        store
            .set_org_branding("org_a", &svg, &Commit::none())
            .await
            .is_err()
    );
    assert_eq!(store.org_branding("org_a").await.unwrap(), colour_only);
}
