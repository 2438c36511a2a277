//! Wallet sets, wallets, index reservation, and the atomicity of a `Commit`.

use planbok_store::StoreError;
use planbok_store::server::{Commit, IdemBegin, IdemDone, WalletQuery, WalletRecord};

use crate::harness::{TestDb, on_every_backend};
use crate::server_fixtures::{T0, draft, member, new_org, wallet, wallet_set};

on_every_backend!(
    wallet_sets_crud,
    reserve_indices_concurrent_never_overlap,
    wallets_crud_and_filters,
    failed_mutation_writes_no_audit_and_no_response,
    successful_mutation_writes_all_three,
);

async fn wallet_sets_crud(db: &TestDb) {
    let store = db.server().await;
    new_org(&store, "org_a").await;
    let c = Commit::none();
    for i in 0..3 {
        let mut s = wallet_set("org_a", &format!("ws_{i}"));
        s.created_at_ms = T0 + i;
        store.create_wallet_set(&s, &c).await.unwrap();
    }
    assert!(matches!(
        store
            .create_wallet_set(&wallet_set("org_a", "ws_0"), &c)
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store
            .create_wallet_set(&wallet_set("org_x", "ws_x"), &c)
            .await,
        Err(StoreError::NotFound(_))
    ));
    let mut bad = wallet_set("org_a", "ws_bad");
    bad.secp_public_key = vec![2; 65];
    assert!(matches!(
        store.create_wallet_set(&bad, &c).await,
        Err(StoreError::InvalidInput(_))
    ));
    let mut bad = wallet_set("org_a", "ws_bad");
    bad.ecdsa_protocol = "gg18".into();
    assert!(matches!(
        store.create_wallet_set(&bad, &c).await,
        Err(StoreError::InvalidInput(_))
    ));

    let mut expected = wallet_set("org_a", "ws_1");
    expected.created_at_ms = T0 + 1;
    assert_eq!(
        store.wallet_set("org_a", "ws_1").await.unwrap(),
        Some(expected.clone())
    );
    let (page, total) = store.list_wallet_sets("org_a", 1, 2, true).await.unwrap();
    let ids: Vec<_> = page.iter().map(|s| s.id.as_str()).collect();
    assert_eq!((ids, total), (vec!["ws_2", "ws_1"], 3));

    let renamed = store
        .rename_wallet_set("org_a", "ws_1", "Treasury", T0 + 40, &c)
        .await
        .unwrap();
    expected.name = "Treasury".into();
    expected.updated_at_ms = T0 + 40;
    assert_eq!(renamed, expected);
    assert_eq!(
        store.wallet_set("org_a", "ws_1").await.unwrap(),
        Some(expected)
    );
    assert!(matches!(
        store.rename_wallet_set("org_a", "ws_9", "x", T0, &c).await,
        Err(StoreError::NotFound(_))
    ));
}

async fn reserve_indices_concurrent_never_overlap(db: &TestDb) {
    let store = db.server().await;
    new_org(&store, "org_a").await;
    store
        .create_wallet_set(&wallet_set("org_a", "ws_1"), &Commit::none())
        .await
        .unwrap();
    assert!(matches!(
        store.reserve_indices("org_a", "ws_1", 0).await,
        Err(StoreError::InvalidInput(_))
    ));
    const CALLS: usize = 32;
    let counts = |i: usize| (i % 3) as i64 + 1;
    let results = db
        .race(CALLS, move |store, i| async move {
            let first = store.reserve_indices("org_a", "ws_1", counts(i)).await;
            (first, counts(i))
        })
        .await;
    let mut taken: Vec<i64> = Vec::new();
    for (first, count) in results {
        let first = first.unwrap();
        taken.extend(first..first + count);
    }
    taken.sort();
    let total: i64 = (0..CALLS).map(counts).sum();
    assert_eq!(taken, (0..total).collect::<Vec<_>>());
    assert_eq!(
        store.reserve_indices("org_a", "ws_1", 1).await.unwrap(),
        total
    );
}

async fn wallets_crud_and_filters(db: &TestDb) {
    let store = db.server().await;
    new_org(&store, "org_a").await;
    let c = Commit::none();
    for s in ["ws_1", "ws_2"] {
        store
            .create_wallet_set(&wallet_set("org_a", s), &c)
            .await
            .unwrap();
    }
    let first = vec![
        wallet("org_a", "ws_1", "w_eth0", "ETH", 0),
        wallet("org_a", "ws_1", "w_base0", "BASE", 0),
        wallet("org_a", "ws_1", "w_eth1", "ETH", 1),
    ];
    store.create_wallets(&first, &c).await.unwrap();
    store
        .create_wallets(&[wallet("org_a", "ws_2", "w2_eth0", "ETH", 0)], &c)
        .await
        .unwrap();
    assert!(matches!(
        store.create_wallets(&[], &c).await,
        Err(StoreError::InvalidInput(_))
    ));
    assert_eq!(
        store.wallet("org_a", "w_eth1").await.unwrap(),
        Some(first[2].clone())
    );

    let ids = |v: Vec<WalletRecord>| v.into_iter().map(|w| w.id).collect::<Vec<_>>();
    let q = |f: fn(&mut WalletQuery)| {
        let mut q = WalletQuery {
            page: 1,
            limit: 10,
            ..WalletQuery::default()
        };
        f(&mut q);
        q
    };
    let (all, total) = store.list_wallets("org_a", &q(|_| {})).await.unwrap();
    assert_eq!(total, 4);
    assert_eq!(all.len(), 4);
    let (v, total) = store
        .list_wallets("org_a", &q(|q| q.wallet_set_id = Some("ws_1".into())))
        .await
        .unwrap();
    assert_eq!(
        (ids(v), total),
        (vec!["w_base0".into(), "w_eth0".into(), "w_eth1".into()], 3)
    );
    let (v, total) = store
        .list_wallets("org_a", &q(|q| q.blockchain = Some("ETH".into())))
        .await
        .unwrap();
    assert_eq!(total, 3);
    assert_eq!(v.len(), 3);
    let (v, _) = store
        .list_wallets(
            "org_a",
            &q(|q| {
                q.blockchain = Some("ETH".into());
                q.address = Some("0xaddr1".into());
            }),
        )
        .await
        .unwrap();
    assert_eq!(ids(v), vec!["w_eth1".to_string()]);
    let (v, _) = store
        .list_wallets("org_a", &q(|q| q.ref_id = Some("ref-w2_eth0".into())))
        .await
        .unwrap();
    assert_eq!(ids(v), vec!["w2_eth0".to_string()]);
    let (v, total) = store
        .list_wallets(
            "org_a",
            &q(|q| {
                q.limit = 2;
                q.page = 2;
                q.desc = true;
            }),
        )
        .await
        .unwrap();
    assert_eq!(total, 4);
    assert_eq!(v.len(), 2);

    // Update: set the name, clear the reference, leave what is not given.
    let w = store
        .update_wallet(
            "org_a",
            "w_eth0",
            Some(Some("Hot".into())),
            Some(None),
            T0 + 9,
            &c,
        )
        .await
        .unwrap();
    assert_eq!(
        (w.name.as_deref(), w.ref_id.as_deref(), w.updated_at_ms),
        (Some("Hot"), None, T0 + 9)
    );
    let w = store
        .update_wallet(
            "org_a",
            "w_eth0",
            None,
            Some(Some("r2".into())),
            T0 + 10,
            &c,
        )
        .await
        .unwrap();
    assert_eq!(
        (w.name.as_deref(), w.ref_id.as_deref()),
        (Some("Hot"), Some("r2"))
    );
    let w = store
        .update_wallet("org_a", "w_eth0", Some(None), None, T0 + 11, &c)
        .await
        .unwrap();
    assert_eq!((w.name.as_deref(), w.ref_id.as_deref()), (None, Some("r2")));
    assert_eq!(store.wallet("org_a", "w_eth0").await.unwrap(), Some(w));
}

/// A mutation that fails (a duplicate wallet) takes its audit entries and its idempotent
/// response down with it: the record stays `running`, the chain does not move.
async fn failed_mutation_writes_no_audit_and_no_response(db: &TestDb) {
    let store = db.server().await;
    new_org(&store, "org_a").await;
    store
        .create_wallet_set(&wallet_set("org_a", "ws_1"), &Commit::none())
        .await
        .unwrap();
    store
        .create_wallets(&[wallet("org_a", "ws_1", "w_1", "ETH", 0)], &Commit::none())
        .await
        .unwrap();
    let head = store.audit_head("org_a").await.unwrap();
    let fp = [7u8; 32];
    assert_eq!(
        store
            .idem_begin("org_a", "idem-1", "wallets.create", &fp, T0, 60_000)
            .await
            .unwrap(),
        IdemBegin::Started
    );
    let commit = Commit {
        mails: Vec::new(),
        audit: vec![draft("org_a", "wallet.create"), draft("system", "x")],
        idempotency: Some(IdemDone {
            org_id: "org_a".into(),
            key: "idem-1".into(),
            status: 201,
            body: "{\"ok\":true}".into(),
        }),
        events: Vec::new(),
    };
    // A new wallet first, then one whose (set, chain, index) is taken.
    let batch = [
        wallet("org_a", "ws_1", "w_2", "ETH", 1),
        wallet("org_a", "ws_1", "w_3", "ETH", 0),
    ];
    assert!(matches!(
        store.create_wallets(&batch, &commit).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.wallet("org_a", "w_2").await.unwrap(), None);
    assert_eq!(store.audit_head("org_a").await.unwrap(), head);
    assert_eq!(store.audit_head("system").await.unwrap(), None);
    assert_eq!(
        store
            .idem_begin("org_a", "idem-1", "wallets.create", &fp, T0 + 1, 60_000)
            .await
            .unwrap(),
        IdemBegin::InProgress
    );

    // A bad audit draft fails the mutation too: nothing is written without its entry.
    let mut bad = draft("org_a", "member.create");
    bad.outcome = "unknown".into();
    assert!(matches!(
        store
            .create_member(&member("org_a", "mem_2", "member"), &Commit::audit(bad))
            .await,
        Err(StoreError::InvalidInput(_))
    ));
    assert_eq!(store.member("org_a", "mem_2").await.unwrap(), None);

    // Completing a record that is not running fails the mutation as well.
    let orphan = Commit {
        mails: Vec::new(),
        audit: vec![draft("org_a", "member.create")],
        idempotency: Some(IdemDone {
            org_id: "org_a".into(),
            key: "never-begun".into(),
            status: 201,
            body: "{}".into(),
        }),
        events: Vec::new(),
    };
    assert!(matches!(
        store
            .create_member(&member("org_a", "mem_3", "member"), &orphan)
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(store.member("org_a", "mem_3").await.unwrap(), None);
    assert_eq!(store.audit_head("org_a").await.unwrap(), head);
}

async fn successful_mutation_writes_all_three(db: &TestDb) {
    let store = db.server().await;
    new_org(&store, "org_a").await;
    store
        .create_wallet_set(&wallet_set("org_a", "ws_1"), &Commit::none())
        .await
        .unwrap();
    let fp = [8u8; 32];
    store
        .idem_begin("org_a", "idem-2", "wallets.create", &fp, T0, 60_000)
        .await
        .unwrap();
    let commit = Commit {
        mails: Vec::new(),
        audit: vec![
            draft("org_a", "wallet.create"),
            draft("org_a", "wallet.create"),
        ],
        idempotency: Some(IdemDone {
            org_id: "org_a".into(),
            key: "idem-2".into(),
            status: 201,
            body: "{\"wallets\":[\"w_1\"]}".into(),
        }),
        events: Vec::new(),
    };
    store
        .create_wallets(&[wallet("org_a", "ws_1", "w_1", "SOL", 0)], &commit)
        .await
        .unwrap();
    assert!(store.wallet("org_a", "w_1").await.unwrap().is_some());
    assert_eq!(store.audit_head("org_a").await.unwrap().unwrap().0, 3);
    assert_eq!(
        store
            .idem_begin("org_a", "idem-2", "wallets.create", &fp, T0 + 1, 60_000)
            .await
            .unwrap(),
        IdemBegin::Done {
            status: 201,
            body: "{\"wallets\":[\"w_1\"]}".into()
        }
    );
    // The same commit again cannot complete the record twice: all of it rolls back.
    assert!(matches!(
        store
            .create_wallets(&[wallet("org_a", "ws_1", "w_9", "SOL", 9)], &commit)
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.wallet("org_a", "w_9").await.unwrap(), None);
    assert_eq!(store.audit_head("org_a").await.unwrap().unwrap().0, 3);
}
