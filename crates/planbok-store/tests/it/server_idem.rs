//! Idempotency records: states, lease takeover, concurrency, pruning.

use planbok_store::StoreError;
use planbok_store::server::{AuditQuery, IdemBegin, IdemClaim, IdemDone, ServerStore};

use crate::harness::{TestDb, on_every_backend};
use crate::server_fixtures::{T0, draft};

on_every_backend!(
    idem_lifecycle,
    idem_abandon_lets_the_client_retry,
    idem_expired_lease_is_taken_over,
    idem_concurrent_duplicates_one_started,
    idem_concurrent_takeover_one_started,
    idem_prune,
    idem_begin_audited_appends_the_requested_entry_only_when_it_starts,
    idem_stored_answers_only_a_done_record_with_the_same_parameters,
);

const LEASE: i64 = 60_000;
const FP: [u8; 32] = [0xF1; 32];
const ROUTE: &str = "sign.message";

fn done(org: &str, key: &str, body: &str) -> IdemDone {
    IdemDone {
        org_id: org.into(),
        key: key.into(),
        status: 200,
        body: body.into(),
    }
}

async fn idem_lifecycle(db: &TestDb) {
    let store = db.server().await;
    let begin = |org: &'static str, key: &'static str, route: &'static str, fp: [u8; 32], now| {
        let store = store.clone();
        async move {
            store
                .idem_begin(org, key, route, &fp, now, LEASE)
                .await
                .unwrap()
        }
    };
    assert_eq!(
        begin("org_a", "k1", ROUTE, FP, T0).await,
        IdemBegin::Started
    );
    assert_eq!(
        begin("org_a", "k1", ROUTE, FP, T0 + 1).await,
        IdemBegin::InProgress
    );
    assert_eq!(
        begin("org_a", "k1", ROUTE, [0; 32], T0 + 1).await,
        IdemBegin::Conflict
    );
    assert_eq!(
        begin("org_a", "k1", "sign.typed_data", FP, T0 + 1).await,
        IdemBegin::Conflict
    );
    // Keys are per organization.
    assert_eq!(
        begin("org_b", "k1", ROUTE, FP, T0).await,
        IdemBegin::Started
    );

    store
        .idem_finish(done("org_a", "k1", "{\"signature\":\"0x1\"}"))
        .await
        .unwrap();
    let replay = IdemBegin::Done {
        status: 200,
        body: "{\"signature\":\"0x1\"}".into(),
    };
    assert_eq!(begin("org_a", "k1", ROUTE, FP, T0 + 2).await, replay);
    // Long after the lease, a done record is still a replay, never a takeover.
    assert_eq!(
        begin("org_a", "k1", ROUTE, FP, T0 + 10 * LEASE).await,
        replay
    );
    assert_eq!(
        begin("org_a", "k1", ROUTE, [0; 32], T0 + 2).await,
        IdemBegin::Conflict
    );

    assert!(matches!(
        store.idem_finish(done("org_a", "k1", "{}")).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store.idem_finish(done("org_a", "k9", "{}")).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(!store.idem_abandon("org_a", "k1").await.unwrap());
    assert_eq!(begin("org_a", "k1", ROUTE, FP, T0 + 3).await, replay);
    // org_b's record is its own, still running.
    assert_eq!(
        begin("org_b", "k1", ROUTE, FP, T0 + 3).await,
        IdemBegin::InProgress
    );
}

async fn idem_abandon_lets_the_client_retry(db: &TestDb) {
    let store = db.server().await;
    let s = |now| store.idem_begin("org_a", "k1", ROUTE, &FP, now, LEASE);
    assert_eq!(s(T0).await.unwrap(), IdemBegin::Started);
    assert!(store.idem_abandon("org_a", "k1").await.unwrap());
    assert!(!store.idem_abandon("org_a", "k1").await.unwrap());
    assert_eq!(s(T0 + 1).await.unwrap(), IdemBegin::Started);
    // After an abandon the parameters may differ: the key is free.
    store.idem_abandon("org_a", "k1").await.unwrap();
    assert_eq!(
        store
            .idem_begin("org_a", "k1", ROUTE, &[2; 32], T0 + 2, LEASE)
            .await
            .unwrap(),
        IdemBegin::Started
    );
}

async fn idem_expired_lease_is_taken_over(db: &TestDb) {
    let store = db.server().await;
    let s = |fp: [u8; 32], now| {
        let store = store.clone();
        async move {
            store
                .idem_begin("org_a", "k1", ROUTE, &fp, now, LEASE)
                .await
                .unwrap()
        }
    };
    assert_eq!(s(FP, T0).await, IdemBegin::Started);
    assert_eq!(s(FP, T0 + LEASE - 1).await, IdemBegin::InProgress);
    // Other parameters are a conflict even once the lease has expired.
    assert_eq!(s([3; 32], T0 + LEASE).await, IdemBegin::Conflict);
    assert_eq!(s(FP, T0 + LEASE).await, IdemBegin::Started);
    // The lease now counts from the takeover.
    assert_eq!(s(FP, T0 + LEASE + 1).await, IdemBegin::InProgress);
    store.idem_finish(done("org_a", "k1", "{}")).await.unwrap();
    assert!(matches!(
        s(FP, T0 + 5 * LEASE).await,
        IdemBegin::Done { .. }
    ));
}

async fn idem_concurrent_duplicates_one_started(db: &TestDb) {
    let results = db
        .race(32, |store, _| async move {
            store
                .idem_begin("org_a", "dup", ROUTE, &FP, T0, LEASE)
                .await
                .unwrap()
        })
        .await;
    let started = results.iter().filter(|r| **r == IdemBegin::Started).count();
    let in_progress = results
        .iter()
        .filter(|r| **r == IdemBegin::InProgress)
        .count();
    assert_eq!((started, in_progress), (1, 31), "{results:?}");
}

async fn idem_concurrent_takeover_one_started(db: &TestDb) {
    let store = db.server().await;
    assert_eq!(
        store
            .idem_begin("org_a", "dead", ROUTE, &FP, T0, LEASE)
            .await
            .unwrap(),
        IdemBegin::Started
    );
    let later = T0 + 2 * LEASE;
    let results = db
        .race(32, move |store, _| async move {
            store
                .idem_begin("org_a", "dead", ROUTE, &FP, later, LEASE)
                .await
                .unwrap()
        })
        .await;
    let started = results.iter().filter(|r| **r == IdemBegin::Started).count();
    let in_progress = results
        .iter()
        .filter(|r| **r == IdemBegin::InProgress)
        .count();
    assert_eq!((started, in_progress), (1, 31), "{results:?}");
}

async fn idem_prune(db: &TestDb) {
    let store = db.server().await;
    for (key, at) in [
        ("old-done", T0),
        ("old-running", T0 + 1),
        ("new-done", T0 + 100),
    ] {
        store
            .idem_begin("org_a", key, ROUTE, &FP, at, LEASE)
            .await
            .unwrap();
    }
    store
        .idem_finish(done("org_a", "old-done", "{}"))
        .await
        .unwrap();
    store
        .idem_finish(done("org_a", "new-done", "{}"))
        .await
        .unwrap();
    assert_eq!(store.prune_idempotency(T0 + 100).await.unwrap(), 2);
    assert_eq!(store.prune_idempotency(T0 + 100).await.unwrap(), 0);
    // A pruned key is new again; the kept one still replays.
    assert_eq!(
        store
            .idem_begin("org_a", "old-done", ROUTE, &[9; 32], T0 + 200, LEASE)
            .await
            .unwrap(),
        IdemBegin::Started
    );
    assert!(matches!(
        store
            .idem_begin("org_a", "new-done", ROUTE, &FP, T0 + 200, LEASE)
            .await
            .unwrap(),
        IdemBegin::Done { .. }
    ));
}

fn claim<'a>(key: &'a str, fingerprint: &'a [u8; 32]) -> IdemClaim<'a> {
    IdemClaim {
        org_id: "org_a",
        key,
        route: ROUTE,
        fingerprint,
    }
}

/// How many entries `org_a`'s chain has.
async fn entries(store: &ServerStore) -> i64 {
    store
        .list_audit(&AuditQuery::first_page("org_a", 10))
        .await
        .unwrap()
        .1
}

async fn idem_begin_audited_appends_the_requested_entry_only_when_it_starts(db: &TestDb) {
    let store = db.server().await;
    let requested = draft("org_a", "sign.message");
    let begin = |key: &'static str, fp: [u8; 32], now: i64| {
        let (store, requested) = (store.clone(), requested.clone());
        async move {
            store
                .idem_begin_audited(claim(key, &fp), now, LEASE, Some(&requested))
                .await
                .unwrap()
        }
    };
    assert_eq!(begin("k1", FP, T0).await, IdemBegin::Started);
    assert_eq!(entries(&store).await, 1);
    // In progress, conflicting, replayed: nothing is appended.
    assert_eq!(begin("k1", FP, T0 + 1).await, IdemBegin::InProgress);
    assert_eq!(begin("k1", [0; 32], T0 + 1).await, IdemBegin::Conflict);
    assert_eq!(entries(&store).await, 1);
    // A takeover after the lease is a new start, with its own entry.
    assert_eq!(begin("k1", FP, T0 + LEASE + 1).await, IdemBegin::Started);
    assert_eq!(entries(&store).await, 2);
    store.idem_finish(done("org_a", "k1", "{}")).await.unwrap();
    assert!(matches!(
        begin("k1", FP, T0 + LEASE + 2).await,
        IdemBegin::Done { .. }
    ));
    assert_eq!(entries(&store).await, 2);

    // An entry that cannot be appended takes the claim down with it: the key stays free.
    let mut bad = requested.clone();
    bad.chain = String::new();
    assert!(
        store
            .idem_begin_audited(claim("k2", &FP), T0, LEASE, Some(&bad))
            .await
            .is_err()
    );
    assert_eq!(begin("k2", FP, T0 + 1).await, IdemBegin::Started);
    assert_eq!(entries(&store).await, 3);
}

async fn idem_stored_answers_only_a_done_record_with_the_same_parameters(db: &TestDb) {
    let store = db.server().await;
    assert_eq!(store.idem_stored(claim("k1", &FP)).await.unwrap(), None);
    store
        .idem_begin("org_a", "k1", ROUTE, &FP, T0, LEASE)
        .await
        .unwrap();
    // Running: nothing to replay.
    assert_eq!(store.idem_stored(claim("k1", &FP)).await.unwrap(), None);
    store
        .idem_finish(done("org_a", "k1", "{\"ok\":1}"))
        .await
        .unwrap();
    assert_eq!(
        store.idem_stored(claim("k1", &FP)).await.unwrap(),
        Some((200, "{\"ok\":1}".into()))
    );
    assert_eq!(
        store.idem_stored(claim("k1", &[0; 32])).await.unwrap(),
        None
    );
    let other_route = IdemClaim {
        route: "sign.typed_data",
        ..claim("k1", &FP)
    };
    assert_eq!(store.idem_stored(other_route).await.unwrap(), None);
    let other_org = IdemClaim {
        org_id: "org_b",
        ..claim("k1", &FP)
    };
    assert_eq!(store.idem_stored(other_org).await.unwrap(), None);
}
