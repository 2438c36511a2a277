//! The webhook outbox: events only with their change, fan-out by subscription, dedupe,
//! claims with leases bounded per endpoint, stale workers ignored, failure runs disabling
//! an endpoint with its audit entry, replay, deletion.

use planbok_store::StoreError;
use planbok_store::server::{
    AttemptOutcome, Commit, EndpointPatch, EndpointRecord, EventDraft, IdemDone, delivery_id,
};

use crate::harness::{TestDb, on_every_backend};
use crate::server_fixtures::{T0, draft, new_org, wallet, wallet_set};

on_every_backend!(
    a_rolled_back_change_leaves_no_event,
    events_fan_out_to_matching_enabled_endpoints_once,
    claims_are_leased_and_bounded_per_endpoint,
    failures_disable_the_endpoint_with_an_audit_entry,
    replay_and_delete,
);

fn endpoint(org: &str, id: &str, events: &[&str]) -> EndpointRecord {
    EndpointRecord {
        id: id.into(),
        org_id: org.into(),
        url: format!("https://example.com/{id}"),
        description: None,
        events: events.iter().map(|e| e.to_string()).collect(),
        enabled: true,
        disabled_reason: None,
        secret: vec![1, 2, 3],
        previous_secret: None,
        previous_expires_at_ms: None,
        failing_since_ms: None,
        created_at_ms: T0,
        updated_at_ms: T0,
    }
}

fn event(org: &str, id: &str, name: &str) -> EventDraft {
    EventDraft {
        id: id.into(),
        org_id: org.into(),
        event: name.into(),
        body: format!("{{\"id\":\"{id}\"}}"),
        dedupe: None,
        only_endpoint: None,
        at_ms: T0,
    }
}

async fn emit(store: &planbok_store::ServerStore, e: EventDraft) {
    store
        .record(&Commit::none().with_events(vec![e]))
        .await
        .unwrap();
}

async fn a_rolled_back_change_leaves_no_event(db: &TestDb) {
    let store = db.server().await;
    new_org(&store, "org_a").await;
    store
        .create_webhook(&endpoint("org_a", "wh_1", &["*"]), &Commit::none())
        .await
        .unwrap();
    store
        .create_wallet_set(&wallet_set("org_a", "ws_1"), &Commit::none())
        .await
        .unwrap();
    // The mutation fails in its own transaction (its idempotency record was never begun):
    // the wallet, its audit entry and its event all roll back.
    let commit = Commit {
        mails: Vec::new(),
        audit: vec![draft("org_a", "wallet.create")],
        idempotency: Some(IdemDone {
            org_id: "org_a".into(),
            key: "never-begun".into(),
            status: 201,
            body: "{}".into(),
        }),
        events: vec![event("org_a", "evt_rolled_back", "wallet.created")],
    };
    assert!(
        store
            .create_wallets(&[wallet("org_a", "ws_1", "w_1", "ETH", 0)], &commit)
            .await
            .is_err()
    );
    assert_eq!(
        store
            .count_webhook_events("org_a", "wallet.created")
            .await
            .unwrap(),
        0
    );
    assert!(
        store
            .claim_deliveries(T0 + 1, 10, 10, T0 + 100, "t")
            .await
            .unwrap()
            .is_empty()
    );
    // The same change committed: one event, one delivery.
    let mut ok = commit.clone();
    ok.idempotency = None;
    ok.events = vec![event("org_a", "evt_1", "wallet.created")];
    store
        .create_wallets(&[wallet("org_a", "ws_1", "w_1", "ETH", 0)], &ok)
        .await
        .unwrap();
    assert_eq!(
        store
            .count_webhook_events("org_a", "wallet.created")
            .await
            .unwrap(),
        1
    );
    let claimed = store
        .claim_deliveries(T0 + 1, 10, 10, T0 + 100, "t")
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].event_id, "evt_1");
}

async fn events_fan_out_to_matching_enabled_endpoints_once(db: &TestDb) {
    let store = db.server().await;
    new_org(&store, "org_a").await;
    new_org(&store, "org_b").await;
    let c = Commit::none();
    store
        .create_webhook(&endpoint("org_a", "wh_all", &["*"]), &c)
        .await
        .unwrap();
    store
        .create_webhook(&endpoint("org_a", "wh_wallet", &["wallet.created"]), &c)
        .await
        .unwrap();
    store
        .create_webhook(&endpoint("org_a", "wh_key", &["key.disabled"]), &c)
        .await
        .unwrap();
    let mut off = endpoint("org_a", "wh_off", &["*"]);
    off.enabled = false;
    store.create_webhook(&off, &c).await.unwrap();
    store
        .create_webhook(&endpoint("org_b", "wh_b", &["*"]), &c)
        .await
        .unwrap();

    emit(&store, event("org_a", "evt_w", "wallet.created")).await;
    let mut k = event("org_a", "evt_k1", "key.disabled");
    k.dedupe = Some("key.disabled:k1".into());
    emit(&store, k.clone()).await;
    k.id = "evt_k2".into();
    emit(&store, k).await; // dropped: the organization already reported this key
    let mut t = event("org_a", "evt_t", "webhook.test");
    t.only_endpoint = Some("wh_key".into());
    emit(&store, t).await;

    let claimed = store
        .claim_deliveries(T0 + 1, 100, 100, T0 + 100, "t")
        .await
        .unwrap();
    let mut pairs: Vec<(String, String)> = claimed
        .iter()
        .map(|d| (d.event_id.clone(), d.endpoint_id.clone()))
        .collect();
    pairs.sort();
    let want = [
        ("evt_k1", "wh_all"),
        ("evt_k1", "wh_key"),
        ("evt_t", "wh_key"),
        ("evt_w", "wh_all"),
        ("evt_w", "wh_wallet"),
    ];
    assert_eq!(
        pairs,
        want.map(|(a, b)| (a.to_owned(), b.to_owned())).to_vec()
    );
    assert!(
        claimed
            .iter()
            .all(|d| d.attempt == 1 && d.org_id == "org_a")
    );
    assert_eq!(
        claimed[0].id,
        delivery_id(&claimed[0].event_id, &claimed[0].endpoint_id)
    );
    assert!(matches!(
        store
            .create_webhook(&endpoint("org_x", "wh_x", &["*"]), &c)
            .await,
        Err(StoreError::NotFound(_))
    ));
}

async fn claims_are_leased_and_bounded_per_endpoint(db: &TestDb) {
    let store = db.server().await;
    new_org(&store, "org_a").await;
    store
        .create_webhook(&endpoint("org_a", "wh_1", &["*"]), &Commit::none())
        .await
        .unwrap();
    for i in 0..5 {
        emit(
            &store,
            event("org_a", &format!("evt_{i}"), "wallet.created"),
        )
        .await;
    }
    let now = T0 + 10;
    let a = store
        .claim_deliveries(now, 10, 2, now + 1000, "a")
        .await
        .unwrap();
    assert_eq!(a.len(), 2, "two in flight per endpoint");
    assert!(
        store
            .claim_deliveries(now, 10, 2, now + 1000, "b")
            .await
            .unwrap()
            .is_empty()
    );
    // One finishes: one more may start.
    let ok = AttemptOutcome::Succeeded { status: 200 };
    assert!(
        store
            .record_attempt(&a[0], &ok, now + 5, 0, |_| unreachable!())
            .await
            .unwrap()
    );
    let b = store
        .claim_deliveries(now + 5, 10, 2, now + 1000, "b")
        .await
        .unwrap();
    assert_eq!(b.len(), 1);
    // a[1]'s worker dies: once its lease lapses the delivery is claimed again, attempt 2,
    // and the dead worker's late report is ignored.
    let later = now + 1001;
    let c = store
        .claim_deliveries(later, 10, 2, later + 1000, "c")
        .await
        .unwrap();
    let again = c.iter().find(|d| d.id == a[1].id).expect("re-claimed");
    assert_eq!(again.attempt, 2);
    assert_eq!(again.event_id, a[1].event_id);
    assert!(
        !store
            .record_attempt(&a[1], &ok, later, 0, |_| unreachable!())
            .await
            .unwrap()
    );
    assert!(
        store
            .record_attempt(again, &ok, later, 0, |_| unreachable!())
            .await
            .unwrap()
    );
    // A failure with a retry time is due again only then (no per-endpoint bound from here).
    let d = c.iter().find(|d| d.id != a[1].id).unwrap();
    let fail = AttemptOutcome::Failed {
        status: Some(500),
        error: "HTTP 500".into(),
        retry_at_ms: Some(later + 500),
        disable: None,
    };
    assert!(
        store
            .record_attempt(d, &fail, later, 0, |_| unreachable!())
            .await
            .unwrap()
    );
    let log = store
        .list_deliveries("org_a", "wh_1", Some("pending"), (1, 100, false))
        .await
        .unwrap();
    assert!(
        log.0
            .iter()
            .any(|x| x.id == d.id && x.last_status_code == Some(500))
    );
    let soon = store
        .claim_deliveries(later + 499, 10, 10, later + 2000, "d")
        .await
        .unwrap();
    assert!(soon.iter().all(|x| x.id != d.id));
    let due = store
        .claim_deliveries(later + 500, 10, 10, later + 2000, "e")
        .await
        .unwrap();
    assert!(
        due.iter()
            .any(|x| x.id == d.id && x.attempt == d.attempt + 1)
    );
}

async fn failures_disable_the_endpoint_with_an_audit_entry(db: &TestDb) {
    let store = db.server().await;
    new_org(&store, "org_a").await;
    store
        .create_webhook(&endpoint("org_a", "wh_1", &["*"]), &Commit::none())
        .await
        .unwrap();
    emit(&store, event("org_a", "evt_1", "wallet.created")).await;
    let fail = |retry| AttemptOutcome::Failed {
        status: None,
        error: "refused".into(),
        retry_at_ms: retry,
        disable: None,
    };
    let d = store
        .claim_deliveries(T0, 1, 1, T0 + 100, "a")
        .await
        .unwrap()
        .remove(0);
    store
        .record_attempt(
            &d,
            &fail(Some(T0 + 50)),
            T0 + 10,
            T0 - 1000,
            |_| unreachable!(),
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .webhook("org_a", "wh_1")
            .await
            .unwrap()
            .unwrap()
            .failing_since_ms,
        Some(T0 + 10)
    );
    let d = store
        .claim_deliveries(T0 + 50, 1, 1, T0 + 200, "b")
        .await
        .unwrap()
        .remove(0);
    store
        .record_attempt(
            &d,
            &fail(Some(T0 + 5000)),
            T0 + 2000,
            T0 + 2000 - 1000,
            |reason| {
                let mut a = draft("org_a", "webhook.disable");
                a.detail = serde_json::json!({ "reason": reason });
                a
            },
        )
        .await
        .unwrap();
    let w = store.webhook("org_a", "wh_1").await.unwrap().unwrap();
    assert!(!w.enabled);
    assert!(w.disabled_reason.is_some());
    let (entries, _) = store
        .list_audit(&planbok_store::server::AuditQuery {
            action: Some("webhook.disable".into()),
            ..planbok_store::server::AuditQuery::first_page("org_a", 10)
        })
        .await
        .unwrap();
    assert_eq!(entries.len(), 1);
    // Disabled: nothing is claimed; enabling resumes and clears the failure run.
    assert!(
        store
            .claim_deliveries(T0 + 6000, 1, 1, T0 + 9000, "c")
            .await
            .unwrap()
            .is_empty()
    );
    let patch = EndpointPatch {
        enabled: Some(true),
        ..EndpointPatch::default()
    };
    let w = store
        .update_webhook("org_a", "wh_1", &patch, T0 + 6000, &Commit::none())
        .await
        .unwrap();
    assert!(w.enabled && w.failing_since_ms.is_none() && w.disabled_reason.is_none());
    assert_eq!(
        store
            .claim_deliveries(T0 + 6000, 1, 1, T0 + 9000, "c")
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn replay_and_delete(db: &TestDb) {
    let store = db.server().await;
    new_org(&store, "org_a").await;
    new_org(&store, "org_b").await;
    store
        .create_webhook(&endpoint("org_a", "wh_1", &["*"]), &Commit::none())
        .await
        .unwrap();
    emit(&store, event("org_a", "evt_1", "wallet.created")).await;
    let d = store
        .claim_deliveries(T0, 1, 1, T0 + 100, "a")
        .await
        .unwrap()
        .remove(0);
    store
        .record_attempt(
            &d,
            &AttemptOutcome::Succeeded { status: 204 },
            T0 + 1,
            0,
            |_| unreachable!(),
        )
        .await
        .unwrap();
    assert!(matches!(
        store
            .replay_delivery("org_b", &d.id, "whd_r", T0 + 2, &Commit::none())
            .await,
        Err(StoreError::NotFound(_))
    ));
    let r = store
        .replay_delivery("org_a", &d.id, "whd_r", T0 + 2, &Commit::none())
        .await
        .unwrap();
    assert_eq!(
        (
            r.event_id.as_str(),
            r.status.as_str(),
            r.replay_of.as_deref()
        ),
        ("evt_1", "pending", Some(d.id.as_str()))
    );
    let again = store
        .claim_deliveries(T0 + 3, 1, 1, T0 + 100, "b")
        .await
        .unwrap();
    assert_eq!(again[0].id, "whd_r");
    assert_eq!(again[0].body, d.body);
    let (all, total) = store
        .list_deliveries("org_a", "wh_1", None, (1, 10, false))
        .await
        .unwrap();
    assert_eq!((all.len(), total), (2, 2));
    assert!(store.webhook("org_b", "wh_1").await.unwrap().is_none());
    store
        .delete_webhook("org_a", "wh_1", &Commit::none())
        .await
        .unwrap();
    assert!(store.webhook("org_a", "wh_1").await.unwrap().is_none());
    assert_eq!(
        store
            .list_deliveries("org_a", "wh_1", None, (1, 10, false))
            .await
            .unwrap()
            .1,
        0
    );
    assert!(matches!(
        store.delete_webhook("org_a", "wh_1", &Commit::none()).await,
        Err(StoreError::NotFound(_))
    ));
}
