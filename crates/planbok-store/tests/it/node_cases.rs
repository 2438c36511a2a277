//! `NodeStore` behaviour, the same on every backend.

use planbok_store::{Custody, CustodySummary, NewKey, NodeStore, StoreError};
use sqlx::{AnyConnection, Connection};

use crate::harness::{TestDb, on_every_backend};

on_every_backend!(
    reports_its_backend,
    pending_key_invisible_until_activated,
    activate_is_idempotent_and_needs_a_row,
    cleanup_removes_pending_only,
    delete_pending_key_leaves_active_keys,
    duplicate_key_is_conflict,
    replace_share_is_optimistic,
    refreshed_share_pending_until_activated,
    pending_share_conflicts_and_aborts,
    record_grant_once,
    record_grant_survives_reconnect,
    record_grant_concurrent_exactly_one_wins,
    prune_grants_after_grace,
    ciphertext_set,
    org_key_once,
    org_secret_once,
    org_secret_mode_checked,
    require_binding_only_switches_on,
    blob_upsert,
    migrations_idempotent,
    unknown_record_format_refused,
    key_custody_recorded_and_disabling_is_for_good,
    unrecorded_custody_is_set_once_and_never_overrides,
    an_old_schema_database_migrates_and_fails_closed_where_the_mode_is_unknown,
);

fn new_key(id: &str) -> NewKey {
    NewKey {
        key_id: id.into(),
        org_id: "org-1".into(),
        protocol: "cggmp21".into(),
        public_key: vec![2; 33],
        chain_code: Some(vec![7; 32]),
        sealed_share: vec![0xAB; 100],
        custody: Custody::Standard,
        customer_id: None,
    }
}

async fn reports_its_backend(db: &TestDb) {
    let store = db.connect().await;
    let expected = if db.url.starts_with("sqlite") {
        "sqlite"
    } else {
        "postgres"
    };
    assert_eq!(store.backend(), expected);
}

async fn pending_key_invisible_until_activated(db: &TestDb) {
    let store = db.connect().await;
    let k = new_key("k1");
    store.insert_pending_key(&k).await.unwrap();
    assert_eq!(store.active_key("k1").await.unwrap(), None);
    assert!(store.list_key_ids().await.unwrap().is_empty());

    store.activate_key("k1").await.unwrap();
    let rec = store.active_key("k1").await.unwrap().unwrap();
    assert_eq!(rec.key_id, k.key_id);
    assert_eq!(rec.org_id, k.org_id);
    assert_eq!(rec.protocol, k.protocol);
    assert_eq!(rec.public_key, k.public_key);
    assert_eq!(rec.chain_code, k.chain_code);
    assert_eq!(rec.sealed_share, k.sealed_share);
    assert_eq!(rec.share_version, 1);
    assert!(
        rec.created_at_ms > 1_700_000_000_000,
        "{}",
        rec.created_at_ms
    );
    assert_eq!(store.list_key_ids().await.unwrap(), vec!["k1".to_string()]);

    // No chain code (ed25519) round-trips as None.
    let mut ed = new_key("k2");
    ed.chain_code = None;
    ed.protocol = "frost-ed25519".into();
    store.insert_pending_key(&ed).await.unwrap();
    store.activate_key("k2").await.unwrap();
    assert_eq!(
        store.active_key("k2").await.unwrap().unwrap().chain_code,
        None
    );
    assert_eq!(
        store.list_key_ids().await.unwrap(),
        vec!["k1".to_string(), "k2".to_string()]
    );
}

async fn activate_is_idempotent_and_needs_a_row(db: &TestDb) {
    let store = db.connect().await;
    assert!(matches!(
        store.activate_key("nope").await,
        Err(StoreError::NotFound(_))
    ));
    store.insert_pending_key(&new_key("k1")).await.unwrap();
    store.activate_key("k1").await.unwrap();
    store.activate_key("k1").await.unwrap();
    assert!(store.active_key("k1").await.unwrap().is_some());
}

async fn cleanup_removes_pending_only(db: &TestDb) {
    let store = db.connect().await;
    for id in ["a", "b", "c"] {
        store.insert_pending_key(&new_key(id)).await.unwrap();
    }
    store.activate_key("b").await.unwrap();
    assert_eq!(store.cleanup_pending_keys().await.unwrap(), 2);
    assert_eq!(store.list_key_ids().await.unwrap(), vec!["b".to_string()]);
    assert_eq!(store.cleanup_pending_keys().await.unwrap(), 0);
    // A cleaned-up id is free again; the active one is not.
    store.insert_pending_key(&new_key("a")).await.unwrap();
    assert!(matches!(
        store.activate_key("c").await,
        Err(StoreError::NotFound(_))
    ));
}

async fn delete_pending_key_leaves_active_keys(db: &TestDb) {
    let store = db.connect().await;
    store.insert_pending_key(&new_key("p")).await.unwrap();
    store.insert_pending_key(&new_key("q")).await.unwrap();
    store.activate_key("q").await.unwrap();
    assert!(store.delete_pending_key("p").await.unwrap());
    assert!(!store.delete_pending_key("p").await.unwrap());
    assert!(!store.delete_pending_key("q").await.unwrap());
    assert!(store.active_key("q").await.unwrap().is_some());
}

async fn duplicate_key_is_conflict(db: &TestDb) {
    let store = db.connect().await;
    store.insert_pending_key(&new_key("k1")).await.unwrap();
    assert!(matches!(
        store.insert_pending_key(&new_key("k1")).await,
        Err(StoreError::Conflict(_))
    ));
    store.activate_key("k1").await.unwrap();
    let mut other = new_key("k1");
    other.sealed_share = vec![1, 2, 3];
    assert!(matches!(
        store.insert_pending_key(&other).await,
        Err(StoreError::Conflict(_))
    ));
    // The stored share is untouched.
    assert_eq!(
        store.active_key("k1").await.unwrap().unwrap().sealed_share,
        vec![0xAB; 100]
    );
}

async fn replace_share_is_optimistic(db: &TestDb) {
    let store = db.connect().await;
    store.insert_pending_key(&new_key("k1")).await.unwrap();
    // A pending key cannot be refreshed.
    assert!(matches!(
        store.replace_share("k1", 1, vec![1]).await,
        Err(StoreError::NotFound(_))
    ));
    store.activate_key("k1").await.unwrap();

    store.replace_share("k1", 1, vec![0x11; 50]).await.unwrap();
    let rec = store.active_key("k1").await.unwrap().unwrap();
    assert_eq!(
        (rec.share_version, rec.sealed_share.as_slice()),
        (2, &[0x11; 50][..])
    );

    // A second refresh based on the old version loses.
    assert!(matches!(
        store.replace_share("k1", 1, vec![0x22]).await,
        Err(StoreError::Conflict(_))
    ));
    let rec = store.active_key("k1").await.unwrap().unwrap();
    assert_eq!(
        (rec.share_version, rec.sealed_share.as_slice()),
        (2, &[0x11; 50][..])
    );

    store.replace_share("k1", 2, vec![0x33]).await.unwrap();
    assert_eq!(
        store.active_key("k1").await.unwrap().unwrap().share_version,
        3
    );
    assert!(matches!(
        store.replace_share("nope", 1, vec![1]).await,
        Err(StoreError::NotFound(_))
    ));
}

async fn record_grant_once(db: &TestDb) {
    let store = db.connect().await;
    let g = [5u8; 16];
    assert!(store.record_grant(&g, 1_000).await.unwrap());
    assert!(!store.record_grant(&g, 1_000).await.unwrap());
    // A different expiry does not make it new.
    assert!(!store.record_grant(&g, 9_000).await.unwrap());
    assert!(store.record_grant(&[6u8; 16], 1_000).await.unwrap());
}

async fn record_grant_survives_reconnect(db: &TestDb) {
    let g = [9u8; 16];
    let c = [9u8; 32];
    {
        let store = db.connect().await;
        assert!(store.record_grant(&g, i64::MAX).await.unwrap());
        assert!(store.record_ciphertext(&c, i64::MAX).await.unwrap());
        store.insert_pending_key(&new_key("k1")).await.unwrap();
        store.activate_key("k1").await.unwrap();
    }
    let store = db.connect().await;
    assert!(!store.record_grant(&g, i64::MAX).await.unwrap());
    assert!(!store.record_ciphertext(&c, i64::MAX).await.unwrap());
    assert!(store.active_key("k1").await.unwrap().is_some());
}

async fn record_grant_concurrent_exactly_one_wins(db: &TestDb) {
    let g = [0x42u8; 16];
    let firsts = race(db, move |store| async move {
        store.record_grant(&g, i64::MAX).await
    })
    .await;
    assert_eq!(firsts, 1);
    let d = [0x42u8; 32];
    let firsts = race(db, move |store| async move {
        store.record_ciphertext(&d, i64::MAX).await
    })
    .await;
    assert_eq!(firsts, 1);
}

/// Runs `call` 32 times at once and counts the `true`s. The calls are spread over four
/// stores (four pools, as if four processes shared the database) and held at a barrier
/// until all are ready, so the inserts really overlap instead of queueing one by one for a
/// single pool's first connection.
async fn race<F, Fut>(db: &TestDb, call: F) -> usize
where
    F: Fn(NodeStore) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Result<bool, StoreError>> + Send,
{
    const CALLS: usize = 32;
    let mut stores = Vec::new();
    for _ in 0..4 {
        stores.push(db.connect().await);
    }
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(CALLS));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..CALLS {
        let store = stores[i % stores.len()].clone();
        let barrier = barrier.clone();
        let call = call.clone();
        tasks.spawn(async move {
            barrier.wait().await;
            call(store).await
        });
    }
    let mut firsts = 0;
    while let Some(r) = tasks.join_next().await {
        if r.unwrap().unwrap() {
            firsts += 1;
        }
    }
    firsts
}

async fn prune_grants_after_grace(db: &TestDb) {
    let store = db.connect().await;
    let now = 10_000_000;
    assert!(store.record_grant(&[1; 16], now - 60_001).await.unwrap()); // expired > 60 s ago
    assert!(store.record_grant(&[2; 16], now - 60_000).await.unwrap()); // exactly 60 s: kept
    assert!(store.record_grant(&[3; 16], now - 1).await.unwrap()); // within grace: kept
    assert!(store.record_grant(&[4; 16], now + 1_000).await.unwrap()); // live
    assert_eq!(store.prune_grants(now).await.unwrap(), 1);
    assert_eq!(store.prune_grants(now).await.unwrap(), 0);
    // The pruned one is forgotten, the others still count as used.
    assert!(store.record_grant(&[1; 16], now + 1_000).await.unwrap());
    for g in [[2; 16], [3; 16], [4; 16]] {
        assert!(!store.record_grant(&g, now + 1_000).await.unwrap());
    }
    // Later, the two that expired at `now - 60 s` and `now - 1 ms` go too.
    assert_eq!(store.prune_grants(now + 61_000).await.unwrap(), 2);
    // Extreme clocks do not overflow.
    assert_eq!(store.prune_grants(i64::MIN).await.unwrap(), 0);
}

async fn ciphertext_set(db: &TestDb) {
    let store = db.connect().await;
    let now = 50_000_000;
    let d1 = [0xC1; 32];
    let d2 = [0xC2; 32];
    assert!(store.record_ciphertext(&d1, now - 120_000).await.unwrap());
    assert!(!store.record_ciphertext(&d1, now).await.unwrap());
    assert!(store.record_ciphertext(&d2, now + 1).await.unwrap());
    // The replay sets are separate tables: a grant id never collides with a digest.
    assert!(store.record_grant(&[0xC1; 16], now).await.unwrap());
    assert_eq!(store.prune_ciphertexts(now).await.unwrap(), 1);
    assert!(store.record_ciphertext(&d1, now).await.unwrap());
    assert!(!store.record_ciphertext(&d2, now).await.unwrap());
    assert_eq!(store.prune_grants(now).await.unwrap(), 0);
}

async fn org_key_once(db: &TestDb) {
    let store = db.connect().await;
    assert_eq!(store.org_key("org-1").await.unwrap(), None);
    let pem = "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----\n";
    store
        .put_org_key("org-1", pem, vec![0x5E; 64])
        .await
        .unwrap();
    assert!(matches!(
        store.put_org_key("org-1", "other", vec![1]).await,
        Err(StoreError::Conflict(_))
    ));
    let rec = store.org_key("org-1").await.unwrap().unwrap();
    assert_eq!(rec.org_id, "org-1");
    assert_eq!(rec.public_key_pem, pem);
    assert_eq!(rec.sealed_private_key, vec![0x5E; 64]);
    assert!(rec.created_at_ms > 0);
    assert_eq!(store.org_key("org-2").await.unwrap(), None);
}

async fn require_binding_only_switches_on(db: &TestDb) {
    let store = db.connect().await;
    assert!(matches!(
        store.set_require_binding("org-1").await,
        Err(StoreError::NotFound(_))
    ));
    store
        .put_org_secret("org-1", "trustless", [0x71; 32], None)
        .await
        .unwrap();
    assert!(
        !store
            .org_secret("org-1")
            .await
            .unwrap()
            .unwrap()
            .require_binding
    );
    store.set_require_binding("org-1").await.unwrap();
    store.set_require_binding("org-1").await.unwrap();
    assert!(
        store
            .org_secret("org-1")
            .await
            .unwrap()
            .unwrap()
            .require_binding
    );
    // Survives a new connection (it is the database's, not a cache).
    let again = db.connect().await;
    assert!(
        again
            .org_secret("org-1")
            .await
            .unwrap()
            .unwrap()
            .require_binding
    );
}

async fn org_secret_once(db: &TestDb) {
    let store = db.connect().await;
    assert_eq!(store.org_secret("org-1").await.unwrap(), None);
    store
        .put_org_secret("org-1", "standard", [0x71; 32], Some(vec![0x5E; 48]))
        .await
        .unwrap();
    store
        .put_org_secret("org-2", "trustless", [0x72; 32], None)
        .await
        .unwrap();
    assert!(matches!(
        store
            .put_org_secret("org-1", "trustless", [0; 32], None)
            .await,
        Err(StoreError::Conflict(_))
    ));
    let s1 = store.org_secret("org-1").await.unwrap().unwrap();
    assert_eq!(
        (s1.mode.as_str(), s1.verifier, s1.sealed_secret.as_deref()),
        ("standard", [0x71; 32], Some(&[0x5E; 48][..]))
    );
    let s2 = store.org_secret("org-2").await.unwrap().unwrap();
    assert_eq!(
        (s2.mode.as_str(), s2.verifier, s2.sealed_secret),
        ("trustless", [0x72; 32], None)
    );
}

async fn org_secret_mode_checked(db: &TestDb) {
    let store = db.connect().await;
    for (mode, secret) in [
        ("standard", None),
        ("trustless", Some(vec![1])),
        ("bogus", None),
        ("Standard", Some(vec![1])),
    ] {
        assert!(
            matches!(
                store.put_org_secret("org-1", mode, [0; 32], secret).await,
                Err(StoreError::InvalidInput(_))
            ),
            "{mode}"
        );
    }
    assert_eq!(store.org_secret("org-1").await.unwrap(), None);
}

async fn blob_upsert(db: &TestDb) {
    let store = db.connect().await;
    assert_eq!(store.blob("cggmp-aux").await.unwrap(), None);
    store.put_blob("cggmp-aux", vec![1; 10]).await.unwrap();
    assert_eq!(store.blob("cggmp-aux").await.unwrap(), Some(vec![1; 10]));
    store.put_blob("cggmp-aux", vec![2; 20]).await.unwrap();
    assert_eq!(store.blob("cggmp-aux").await.unwrap(), Some(vec![2; 20]));
    store.put_blob("other", Vec::new()).await.unwrap();
    assert_eq!(store.blob("other").await.unwrap(), Some(Vec::new()));
    assert_eq!(store.blob("cggmp-aux").await.unwrap(), Some(vec![2; 20]));
}

async fn migrations_idempotent(db: &TestDb) {
    let first = db.connect().await;
    first.put_blob("b", vec![1]).await.unwrap();
    let second = db.connect().await;
    let third = NodeStore::connect(&db.url).await.unwrap();
    assert_eq!(second.blob("b").await.unwrap(), Some(vec![1]));
    assert_eq!(third.blob("b").await.unwrap(), Some(vec![1]));

    let mut conn = raw(db).await;
    let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _planbok_node_migrations")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    // 0001-0004, 0005 (customer PINs), 0006 (customer keys), 0007 (customer recovery),
    // 0008 (customer email).
    assert_eq!(applied, 8);
}

async fn unknown_record_format_refused(db: &TestDb) {
    let store = db.connect().await;
    store.put_blob("b", vec![1]).await.unwrap();
    store.insert_pending_key(&new_key("k1")).await.unwrap();
    store.activate_key("k1").await.unwrap();
    store.put_org_key("o", "pem", vec![1]).await.unwrap();
    store
        .put_org_secret("o", "trustless", [0; 32], None)
        .await
        .unwrap();

    // As if written by a newer planbok.
    let mut conn = raw(db).await;
    for sql in [
        "UPDATE blobs SET format_version = 2",
        "UPDATE node_keys SET format_version = 2",
        "UPDATE org_keys SET format_version = 2",
        "UPDATE org_secrets SET format_version = 2",
    ] {
        sqlx::query(sql).execute(&mut conn).await.unwrap();
    }
    let unsupported = |e: StoreError| matches!(e, StoreError::UnsupportedRecord { .. });
    assert!(unsupported(store.blob("b").await.unwrap_err()));
    assert!(unsupported(store.active_key("k1").await.unwrap_err()));
    assert!(unsupported(store.org_key("o").await.unwrap_err()));
    assert!(unsupported(store.org_secret("o").await.unwrap_err()));
}

/// A direct connection, for looking under the store.
async fn raw(db: &TestDb) -> AnyConnection {
    sqlx::any::install_default_drivers();
    AnyConnection::connect(&db.url).await.unwrap()
}

async fn refreshed_share_pending_until_activated(db: &TestDb) {
    let store = db.connect().await;
    store.insert_pending_key(&new_key("k1")).await.unwrap();
    store.activate_key("k1").await.unwrap();
    let before = store.active_key("k1").await.unwrap().unwrap();
    assert_eq!(before.pending_share_version, None);

    store
        .insert_pending_share("k1", 2, vec![0x22; 60])
        .await
        .unwrap();
    // The active share is still the old one; the pending version is visible with it.
    let rec = store.active_key("k1").await.unwrap().unwrap();
    assert_eq!(
        (rec.share_version, rec.sealed_share.as_slice()),
        (1, before.sealed_share.as_slice())
    );
    assert_eq!(rec.pending_share_version, Some(2));

    store.activate_share("k1", 2).await.unwrap();
    let rec = store.active_key("k1").await.unwrap().unwrap();
    assert_eq!(
        (rec.share_version, rec.sealed_share.as_slice()),
        (2, &[0x22; 60][..])
    );
    assert_eq!(rec.pending_share_version, None);
    // A retried commit is fine; activating a version never stored is not.
    store.activate_share("k1", 2).await.unwrap();
    assert!(matches!(
        store.activate_share("k1", 3).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.activate_share("nope", 2).await,
        Err(StoreError::NotFound(_))
    ));
    // The next refresh builds on version 2.
    store
        .insert_pending_share("k1", 3, vec![0x33])
        .await
        .unwrap();
    store.activate_share("k1", 3).await.unwrap();
    assert_eq!(
        store.active_key("k1").await.unwrap().unwrap().share_version,
        3
    );
}

async fn pending_share_conflicts_and_aborts(db: &TestDb) {
    let store = db.connect().await;
    // No active key: a pending DKG result cannot be refreshed.
    store.insert_pending_key(&new_key("k1")).await.unwrap();
    assert!(matches!(
        store.insert_pending_share("k1", 2, vec![1]).await,
        Err(StoreError::NotFound(_))
    ));
    store.activate_key("k1").await.unwrap();
    // The refresh must build on the active version.
    assert!(matches!(
        store.insert_pending_share("k1", 3, vec![1]).await,
        Err(StoreError::Conflict(_))
    ));
    store.insert_pending_share("k1", 2, vec![1]).await.unwrap();
    // One pending refresh per key.
    assert!(matches!(
        store.insert_pending_share("k1", 2, vec![2]).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(store.delete_pending_share("k1").await.unwrap());
    assert!(!store.delete_pending_share("k1").await.unwrap());
    assert!(matches!(
        store.activate_share("k1", 2).await,
        Err(StoreError::NotFound(_))
    ));
    let rec = store.active_key("k1").await.unwrap().unwrap();
    assert_eq!((rec.share_version, rec.pending_share_version), (1, None));
    // Cleanup at start removes pending shares only.
    store.insert_pending_share("k1", 2, vec![3]).await.unwrap();
    assert_eq!(store.cleanup_pending_shares().await.unwrap(), 1);
    let rec = store.active_key("k1").await.unwrap().unwrap();
    assert_eq!(
        (
            rec.share_version,
            rec.sealed_share,
            rec.pending_share_version
        ),
        (1, vec![0xAB; 100], None)
    );
}

async fn key_custody_recorded_and_disabling_is_for_good(db: &TestDb) {
    let store = db.connect().await;
    let mut t = new_key("t");
    t.custody = Custody::Trustless;
    store.insert_pending_key(&t).await.unwrap();
    store.insert_pending_key(&new_key("s")).await.unwrap();
    store.activate_key("t").await.unwrap();
    store.activate_key("s").await.unwrap();
    let rec = store.active_key("t").await.unwrap().unwrap();
    assert_eq!(rec.custody, Some(Custody::Trustless));
    assert!(rec.custody.unwrap().exportable());
    assert_eq!(rec.disabled, None);
    let rec = store.active_key("s").await.unwrap().unwrap();
    assert_eq!(rec.custody, Some(Custody::Standard));
    assert!(!rec.custody.unwrap().exportable());

    // The first reason is kept; a second disable changes nothing.
    assert!(store.disable_key("t", "DKLs23 ban: first").await.unwrap());
    assert!(!store.disable_key("t", "second").await.unwrap());
    let rec = store.active_key("t").await.unwrap().unwrap();
    let disabled = rec.disabled.expect("disabled");
    assert_eq!(disabled.reason, "DKLs23 ban: first");
    assert!(disabled.at_ms > 1_700_000_000_000);
    // Survives a new connection (a restart), and a refresh of the share does not clear it.
    store.replace_share("t", 1, vec![1; 10]).await.unwrap();
    store
        .insert_pending_share("t", 3, vec![2; 10])
        .await
        .unwrap();
    store.activate_share("t", 3).await.unwrap();
    let again = db.connect().await;
    assert!(
        again
            .active_key("t")
            .await
            .unwrap()
            .unwrap()
            .disabled
            .is_some()
    );
    assert_eq!(again.active_key("s").await.unwrap().unwrap().disabled, None);
    assert!(matches!(
        store.disable_key("nope", "x").await,
        Err(StoreError::NotFound(_))
    ));
}

async fn unrecorded_custody_is_set_once_and_never_overrides(db: &TestDb) {
    let store = db.connect().await;
    for (id, org) in [("a1", "org-a"), ("a2", "org-a"), ("b1", "org-b")] {
        let mut k = new_key(id);
        k.org_id = org.into();
        store.insert_pending_key(&k).await.unwrap();
        store.activate_key(id).await.unwrap();
    }
    // Keys made before modes were recorded: the column is NULL.
    let mut conn = raw(db).await;
    sqlx::query("UPDATE node_keys SET custody_mode = NULL WHERE key_id IN ('a1', 'a2', 'b1')")
        .execute(&mut conn)
        .await
        .unwrap();
    store.disable_key("a2", "ban").await.unwrap();
    assert_eq!(store.active_key("a1").await.unwrap().unwrap().custody, None);
    let summary = store.custody_summary(None).await.unwrap();
    assert_eq!(
        summary,
        vec![
            CustodySummary {
                org_id: "org-a".into(),
                custody: None,
                keys: 2,
                disabled: 1
            },
            CustodySummary {
                org_id: "org-b".into(),
                custody: None,
                keys: 1,
                disabled: 0
            },
        ]
    );
    assert_eq!(
        store
            .set_unrecorded_custody("org-a", Custody::Trustless)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        store.active_key("a1").await.unwrap().unwrap().custody,
        Some(Custody::Trustless)
    );
    // Recorded now: a second claim of the same mode sets nothing, another mode is refused
    // and changes nothing.
    assert_eq!(
        store
            .set_unrecorded_custody("org-a", Custody::Trustless)
            .await
            .unwrap(),
        0
    );
    assert!(matches!(
        store
            .set_unrecorded_custody("org-a", Custody::Standard)
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store.active_key("a2").await.unwrap().unwrap().custody,
        Some(Custody::Trustless)
    );
    // Another organization's keys are untouched.
    assert_eq!(store.active_key("b1").await.unwrap().unwrap().custody, None);
    assert_eq!(
        store.custody_summary(Some("org-b")).await.unwrap(),
        vec![CustodySummary {
            org_id: "org-b".into(),
            custody: None,
            keys: 1,
            disabled: 0
        }]
    );
    // A new key of an organization whose older keys are unrecorded: its mode blocks a
    // contradicting claim for the older ones.
    let mut b2 = new_key("b2");
    b2.org_id = "org-b".into();
    b2.custody = Custody::Standard;
    store.insert_pending_key(&b2).await.unwrap();
    assert!(matches!(
        store
            .set_unrecorded_custody("org-b", Custody::Trustless)
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.active_key("b1").await.unwrap().unwrap().custody, None);
}

/// Applies only the node schema's first two migrations, as a build before schema 3 did.
async fn old_schema(db: &TestDb) {
    use std::borrow::Cow;

    use sqlx::SqlSafeStr as _;
    use sqlx::migrate::{Migration, MigrationType, Migrator};
    let (one, two) = if db.is_postgres() {
        (
            include_str!("../../migrations/node/postgres/0001_node_schema.sql"),
            include_str!("../../migrations/node/postgres/0002_pending_shares.sql"),
        )
    } else {
        (
            include_str!("../../migrations/node/sqlite/0001_node_schema.sql"),
            include_str!("../../migrations/node/sqlite/0002_pending_shares.sql"),
        )
    };
    let mut migrator = Migrator::with_migrations(vec![
        Migration::new(
            1,
            Cow::Borrowed("node schema"),
            MigrationType::Simple,
            one.into_sql_str(),
            false,
        ),
        Migration::new(
            2,
            Cow::Borrowed("pending shares"),
            MigrationType::Simple,
            two.into_sql_str(),
            false,
        ),
    ]);
    migrator.dangerous_set_table_name("_planbok_node_migrations");
    sqlx::any::install_default_drivers();
    let url = if db.is_postgres() {
        db.url.clone()
    } else {
        format!("{}?mode=rwc", db.url)
    };
    let mut conn = AnyConnection::connect(&url).await.unwrap();
    migrator.run(&mut conn).await.unwrap();
}

async fn an_old_schema_database_migrates_and_fails_closed_where_the_mode_is_unknown(db: &TestDb) {
    old_schema(db).await;
    let mut conn = raw(db).await;
    // Two keys of a Trustless org and one of a Standard org, written by the old schema. On
    // Node 1 the orgs' secrets are registered; on Node 2 (no org_secrets rows) they are not.
    for (id, org) in [
        ("t1", "org-t"),
        ("t2", "org-t"),
        ("s1", "org-s"),
        ("u1", "org-u"),
    ] {
        sqlx::query(
            "INSERT INTO node_keys (key_id, org_id, protocol, status, public_key, chain_code, \
             sealed_share, share_version, format_version, created_at_ms) \
             VALUES ($1, $2, 'dkls23', 'active', $3, NULL, $4, 1, 1, 1)",
        )
        .bind(id)
        .bind(org)
        .bind(vec![2u8; 33])
        .bind(vec![0xABu8; 50])
        .execute(&mut conn)
        .await
        .unwrap();
    }
    for (org, mode, sealed) in [
        ("org-t", "trustless", None),
        ("org-s", "standard", Some(vec![1u8; 40])),
    ] {
        sqlx::query(
            "INSERT INTO org_secrets (org_id, mode, verifier, sealed_secret, format_version, \
             created_at_ms) VALUES ($1, $2, $3, $4, 1, 1)",
        )
        .bind(org)
        .bind(mode)
        .bind(vec![9u8; 32])
        .bind(sealed)
        .execute(&mut conn)
        .await
        .unwrap();
    }
    let store = db.connect().await;
    // What Node 1 knows, its keys take; what nobody recorded stays unknown (not exportable).
    let custody = |id: &'static str| {
        let store = store.clone();
        async move { store.active_key(id).await.unwrap().unwrap().custody }
    };
    assert_eq!(custody("t1").await, Some(Custody::Trustless));
    assert_eq!(custody("t2").await, Some(Custody::Trustless));
    assert_eq!(custody("s1").await, Some(Custody::Standard));
    assert_eq!(custody("u1").await, None);
    assert_eq!(
        store.active_key("t1").await.unwrap().unwrap().disabled,
        None
    );
    // The old rows keep working in every other way.
    assert_eq!(
        store.list_key_ids().await.unwrap(),
        vec!["s1", "t1", "t2", "u1"]
    );
    store
        .insert_pending_share("u1", 2, vec![3; 10])
        .await
        .unwrap();
    store.activate_share("u1", 2).await.unwrap();
    // The operator's path for the unknown one.
    assert_eq!(
        store
            .set_unrecorded_custody("org-u", Custody::Trustless)
            .await
            .unwrap(),
        1
    );
    assert_eq!(custody("u1").await, Some(Custody::Trustless));
    let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _planbok_node_migrations")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    // 0001-0004, 0005 (customer PINs), 0006 (customer keys), 0007 (customer recovery),
    // 0008 (customer email).
    assert_eq!(applied, 8);
}
