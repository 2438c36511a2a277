//! Organizations, members and API keys; no lookup crosses organizations.

use planbok_store::server::{Commit, ServerStore, WalletQuery};
use planbok_store::{NodeStore, StoreError};

use crate::harness::{TestDb, on_every_backend};
use crate::server_fixtures::{T0, api_key, draft, member, new_org, org, wallet, wallet_set};

on_every_backend!(
    org_created_with_owner_key_and_audit,
    custody_mode_set_once,
    orgs_counted_per_node_pair,
    members_crud,
    delete_member_revokes_its_keys,
    two_owners_demoting_or_removing_each_other_at_once_leave_one,
    a_change_decided_on_a_stale_role_is_refused,
    api_keys_crud,
    touch_api_key_is_coarse,
    org_isolation_of_every_lookup,
    server_and_node_schemas_share_a_database,
);

fn not_found<T: std::fmt::Debug>(r: Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::NotFound(_)))
}

fn conflict<T: std::fmt::Debug>(r: Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::Conflict(_)))
}

async fn org_created_with_owner_key_and_audit(db: &TestDb) {
    let store = db.server().await;
    assert_eq!(store.org("org_a").await.unwrap(), None);
    new_org(&store, "org_a").await;
    assert_eq!(store.org("org_a").await.unwrap(), Some(org("org_a")));
    assert_eq!(
        store.member("org_a", "mem_org_a").await.unwrap(),
        Some(member("org_a", "mem_org_a", "owner"))
    );
    let key = store.api_key("key_org_a").await.unwrap().unwrap();
    assert_eq!(key, api_key("org_a", "mem_org_a", "key_org_a"));
    assert_eq!(store.count_owners("org_a").await.unwrap(), 1);
    let (entries, total) = store
        .list_audit(&planbok_store::server::AuditQuery::first_page("org_a", 10))
        .await
        .unwrap();
    assert_eq!(
        (entries[0].action.as_str(), total),
        ("organization.create", 1)
    );

    // The same org again is a conflict, and writes nothing (no second audit entry).
    let owner = member("org_a", "mem_2", "owner");
    let r = store
        .create_org(
            &org("org_a"),
            &owner,
            &api_key("org_a", "mem_2", "key_2"),
            &Commit::audit(draft("org_a", "organization.create")),
        )
        .await;
    assert!(conflict(r));
    assert_eq!(store.member("org_a", "mem_2").await.unwrap(), None);
    assert_eq!(store.audit_head("org_a").await.unwrap().unwrap().0, 1);

    // Shapes the store refuses outright.
    let r = store
        .create_org(
            &org("org_b"),
            &member("org_b", "m", "admin"),
            &api_key("org_b", "m", "k"),
            &Commit::none(),
        )
        .await;
    assert!(matches!(r, Err(StoreError::InvalidInput(_))));
    let r = store
        .create_org(
            &org("org_b"),
            &member("org_b", "m", "owner"),
            &api_key("org_a", "m", "k"),
            &Commit::none(),
        )
        .await;
    assert!(matches!(r, Err(StoreError::InvalidInput(_))));
    assert_eq!(store.org("org_b").await.unwrap(), None);
}

async fn orgs_counted_per_node_pair(db: &TestDb) {
    let store = db.server().await;
    assert!(store.orgs_per_node_pair().await.unwrap().is_empty());
    for (id, pair) in [("org_a", "eu-1"), ("org_b", "eu-2"), ("org_c", "eu-1")] {
        let mut o = org(id);
        o.node_pair = pair.into();
        let owner = member(id, &format!("mem_{id}"), "owner");
        let key = api_key(id, &owner.id, &format!("key_{id}"));
        store
            .create_org(&o, &owner, &key, &Commit::none())
            .await
            .unwrap();
        assert_eq!(store.org(id).await.unwrap().unwrap().node_pair, pair);
    }
    assert_eq!(
        store.orgs_per_node_pair().await.unwrap(),
        [("eu-1".to_owned(), 2), ("eu-2".to_owned(), 1)]
    );
}

async fn custody_mode_set_once(db: &TestDb) {
    let store = db.server().await;
    new_org(&store, "org_a").await;
    assert!(matches!(
        store
            .set_custody_mode("org_a", "unset", T0, &Commit::none())
            .await,
        Err(StoreError::InvalidInput(_))
    ));
    store
        .set_custody_mode("org_a", "trustless", T0 + 5, &Commit::none())
        .await
        .unwrap();
    let o = store.org("org_a").await.unwrap().unwrap();
    assert_eq!(
        (o.custody_mode.as_str(), o.updated_at_ms),
        ("trustless", T0 + 5)
    );
    assert!(conflict(
        store
            .set_custody_mode("org_a", "standard", T0, &Commit::none())
            .await
    ));
    assert!(not_found(
        store
            .set_custody_mode("org_x", "standard", T0, &Commit::none())
            .await
    ));
    assert_eq!(
        store.org("org_a").await.unwrap().unwrap().custody_mode,
        "trustless"
    );
}

async fn members_crud(db: &TestDb) {
    let store = db.server().await;
    new_org(&store, "org_a").await;
    for i in 0..4 {
        let mut m = member("org_a", &format!("mem_{i}"), "member");
        m.created_at_ms = T0 + 10 + i;
        store.create_member(&m, &Commit::none()).await.unwrap();
    }
    // Same email in the same org: conflict. Same id: conflict. Unknown org: not found.
    let mut dup = member("org_a", "mem_9", "member");
    dup.email = "mem_1@example.com".into();
    assert!(conflict(store.create_member(&dup, &Commit::none()).await));
    assert!(conflict(
        store
            .create_member(&member("org_a", "mem_1", "member"), &Commit::none())
            .await
    ));
    assert!(not_found(
        store
            .create_member(&member("org_x", "mem_x", "member"), &Commit::none())
            .await
    ));
    assert!(matches!(
        store
            .create_member(&member("org_a", "mem_r", "root"), &Commit::none())
            .await,
        Err(StoreError::InvalidInput(_))
    ));

    let ids = |v: Vec<planbok_store::server::MemberRecord>| {
        v.into_iter().map(|m| m.id).collect::<Vec<_>>()
    };
    let (page, total) = store.list_members("org_a", 1, 2, false).await.unwrap();
    assert_eq!(
        (ids(page), total),
        (vec!["mem_org_a".into(), "mem_0".into()], 5)
    );
    let (page, _) = store.list_members("org_a", 2, 2, false).await.unwrap();
    assert_eq!(ids(page), vec!["mem_1".to_string(), "mem_2".into()]);
    let (page, _) = store.list_members("org_a", 1, 2, true).await.unwrap();
    assert_eq!(ids(page), vec!["mem_3".to_string(), "mem_2".into()]);

    let m = store
        .update_member(
            "org_a",
            "mem_1",
            None,
            None,
            Some("admin".into()),
            T0 + 99,
            &Commit::none(),
        )
        .await
        .unwrap();
    assert_eq!(
        (m.role.as_str(), m.name.as_str(), m.updated_at_ms),
        ("admin", "name of mem_1", T0 + 99)
    );
    let m = store
        .update_member(
            "org_a",
            "mem_1",
            None,
            Some("Ada".into()),
            None,
            T0 + 100,
            &Commit::none(),
        )
        .await
        .unwrap();
    assert_eq!((m.role.as_str(), m.name.as_str()), ("admin", "Ada"));
    assert_eq!(store.member("org_a", "mem_1").await.unwrap(), Some(m));
    assert!(matches!(
        store
            .update_member(
                "org_a",
                "mem_1",
                None,
                None,
                Some("god".into()),
                T0,
                &Commit::none()
            )
            .await,
        Err(StoreError::InvalidInput(_))
    ));
    assert!(not_found(
        store
            .update_member(
                "org_a",
                "mem_x",
                None,
                Some("x".into()),
                None,
                T0,
                &Commit::none()
            )
            .await
    ));

    store
        .update_member(
            "org_a",
            "mem_2",
            None,
            None,
            Some("owner".into()),
            T0,
            &Commit::none(),
        )
        .await
        .unwrap();
    assert_eq!(store.count_owners("org_a").await.unwrap(), 2);
    store
        .delete_member("org_a", "mem_2", None, T0, &Commit::none())
        .await
        .unwrap();
    assert_eq!(store.count_owners("org_a").await.unwrap(), 1);
    assert!(not_found(
        store
            .delete_member("org_a", "mem_2", None, T0, &Commit::none())
            .await
    ));
    assert_eq!(
        store.list_members("org_a", 1, 10, false).await.unwrap().1,
        4
    );
}

async fn delete_member_revokes_its_keys(db: &TestDb) {
    let store = db.server().await;
    new_org(&store, "org_a").await;
    store
        .create_member(&member("org_a", "mem_1", "admin"), &Commit::none())
        .await
        .unwrap();
    for id in ["k1", "k2"] {
        store
            .create_api_key(&api_key("org_a", "mem_1", id), &Commit::none())
            .await
            .unwrap();
    }
    store
        .revoke_api_key("org_a", "k2", T0 + 1, &Commit::none())
        .await
        .unwrap();
    store
        .delete_member(
            "org_a",
            "mem_1",
            None,
            T0 + 50,
            &Commit::audit(draft("org_a", "member.delete")),
        )
        .await
        .unwrap();
    assert_eq!(store.member("org_a", "mem_1").await.unwrap(), None);
    // The active key is revoked now; the one revoked before keeps its time.
    assert_eq!(
        store.api_key("k1").await.unwrap().unwrap().revoked_at_ms,
        Some(T0 + 50)
    );
    assert_eq!(
        store.api_key("k2").await.unwrap().unwrap().revoked_at_ms,
        Some(T0 + 1)
    );
    // Authentication reads the key and its member's role in one query; the key of a
    // deleted member comes back revoked and without a role.
    let (k1, role) = store.api_key_with_role("k1").await.unwrap().unwrap();
    assert_eq!((k1.revoked_at_ms, role), (Some(T0 + 50), None));
    let (owner, role) = store.api_key_with_role("key_org_a").await.unwrap().unwrap();
    assert_eq!(owner, store.api_key("key_org_a").await.unwrap().unwrap());
    assert_eq!(role.as_deref(), Some("owner"));
    assert_eq!(store.api_key_with_role("nope").await.unwrap(), None);
    // The owner's key is untouched.
    assert_eq!(
        store
            .api_key("key_org_a")
            .await
            .unwrap()
            .unwrap()
            .revoked_at_ms,
        None
    );
    assert_eq!(store.audit_head("org_a").await.unwrap().unwrap().0, 2);
}

async fn api_keys_crud(db: &TestDb) {
    let store = db.server().await;
    new_org(&store, "org_a").await;
    let mut k = api_key("org_a", "mem_org_a", "k1");
    k.access = "read_only".into();
    k.allowed_origins = vec!["https://app.example.com".into()];
    k.created_at_ms = T0 + 1;
    store.create_api_key(&k, &Commit::none()).await.unwrap();
    assert_eq!(store.api_key("k1").await.unwrap(), Some(k.clone()));
    assert!(conflict(store.create_api_key(&k, &Commit::none()).await));
    // The member must exist in the key's organization.
    assert!(not_found(
        store
            .create_api_key(&api_key("org_a", "mem_nobody", "k2"), &Commit::none())
            .await
    ));
    let mut bad = api_key("org_a", "mem_org_a", "k3");
    bad.secret_hash = vec![1; 31];
    assert!(matches!(
        store.create_api_key(&bad, &Commit::none()).await,
        Err(StoreError::InvalidInput(_))
    ));
    let mut bad = api_key("org_a", "mem_org_a", "k3");
    bad.access = "admin".into();
    assert!(matches!(
        store.create_api_key(&bad, &Commit::none()).await,
        Err(StoreError::InvalidInput(_))
    ));

    let (page, total) = store.list_api_keys("org_a", 1, 10, true).await.unwrap();
    let ids: Vec<_> = page.iter().map(|k| k.id.as_str()).collect();
    assert_eq!((ids, total), (vec!["k1", "key_org_a"], 2));

    store
        .revoke_api_key(
            "org_a",
            "k1",
            T0 + 7,
            &Commit::audit(draft("org_a", "api_key.revoke")),
        )
        .await
        .unwrap();
    assert_eq!(
        store.api_key("k1").await.unwrap().unwrap().revoked_at_ms,
        Some(T0 + 7)
    );
    assert!(not_found(
        store
            .revoke_api_key("org_a", "k1", T0 + 8, &Commit::none())
            .await
    ));
    assert!(not_found(
        store
            .revoke_api_key("org_a", "nope", T0, &Commit::none())
            .await
    ));
    assert_eq!(
        store.list_api_keys("org_a", 1, 10, true).await.unwrap().1,
        2
    );

    // Debug shows the hash's length, not its bytes.
    let printed = format!("{k:?}");
    assert!(
        printed.contains("<32 bytes>") && !printed.contains("90, 90"),
        "{printed}"
    );
}

async fn touch_api_key_is_coarse(db: &TestDb) {
    let store = db.server().await;
    new_org(&store, "org_a").await;
    let last = |store: ServerStore| async move {
        store
            .api_key("key_org_a")
            .await
            .unwrap()
            .unwrap()
            .last_used_at_ms
    };
    store.touch_api_key("key_org_a", T0 + 1_000).await.unwrap();
    assert_eq!(last(store.clone()).await, Some(T0 + 1_000));
    store.touch_api_key("key_org_a", T0 + 30_000).await.unwrap();
    assert_eq!(last(store.clone()).await, Some(T0 + 1_000));
    store.touch_api_key("key_org_a", T0 + 61_000).await.unwrap();
    assert_eq!(last(store.clone()).await, Some(T0 + 61_000));
    store.touch_api_key("key_org_a", T0).await.unwrap();
    assert_eq!(last(store.clone()).await, Some(T0 + 61_000));
    store.touch_api_key("nope", T0).await.unwrap();
}

/// Organization B asks for everything of organization A by id: nothing comes back, and
/// nothing changes.
async fn org_isolation_of_every_lookup(db: &TestDb) {
    let store = db.server().await;
    new_org(&store, "org_a").await;
    new_org(&store, "org_b").await;
    let c = Commit::none();
    store
        .create_member(&member("org_a", "mem_1", "member"), &c)
        .await
        .unwrap();
    store
        .create_api_key(&api_key("org_a", "mem_1", "k_a"), &c)
        .await
        .unwrap();
    store
        .create_wallet_set(&wallet_set("org_a", "ws_a"), &c)
        .await
        .unwrap();
    store
        .create_wallets(&[wallet("org_a", "ws_a", "w_a", "ETH", 0)], &c)
        .await
        .unwrap();

    let b = "org_b";
    assert_eq!(store.member(b, "mem_1").await.unwrap(), None);
    assert_eq!(store.member(b, "mem_org_a").await.unwrap(), None);
    assert!(not_found(
        store
            .update_member(b, "mem_1", None, Some("x".into()), None, T0, &c)
            .await
    ));
    assert!(not_found(
        store.delete_member(b, "mem_1", None, T0, &c).await
    ));
    assert!(not_found(store.revoke_api_key(b, "k_a", T0, &c).await));
    assert!(not_found(
        store.create_api_key(&api_key(b, "mem_1", "k_b"), &c).await
    ));
    assert_eq!(store.wallet_set(b, "ws_a").await.unwrap(), None);
    assert!(not_found(
        store.rename_wallet_set(b, "ws_a", "x", T0, &c).await
    ));
    assert!(not_found(store.reserve_indices(b, "ws_a", 1).await));
    assert_eq!(store.wallet(b, "w_a").await.unwrap(), None);
    assert!(not_found(
        store
            .update_wallet(b, "w_a", Some(Some("x".into())), None, T0, &c)
            .await
    ));
    // A wallet of B under A's set: refused by the (org, set) reference.
    assert!(not_found(
        store
            .create_wallets(&[wallet(b, "ws_a", "w_b", "ETH", 0)], &c)
            .await
    ));
    let q = WalletQuery {
        wallet_set_id: Some("ws_a".into()),
        page: 1,
        limit: 10,
        ..WalletQuery::default()
    };
    assert_eq!(store.list_wallets(b, &q).await.unwrap(), (vec![], 0));
    assert_eq!(store.list_members(b, 1, 10, false).await.unwrap().1, 1);
    assert_eq!(store.list_api_keys(b, 1, 10, false).await.unwrap().1, 1);
    assert_eq!(
        store.list_wallet_sets(b, 1, 10, false).await.unwrap(),
        (vec![], 0)
    );

    // A's objects are all still there, unchanged.
    assert_eq!(
        store.member("org_a", "mem_1").await.unwrap(),
        Some(member("org_a", "mem_1", "member"))
    );
    assert_eq!(
        store.api_key("k_a").await.unwrap().unwrap().revoked_at_ms,
        None
    );
    assert_eq!(
        store.wallet_set("org_a", "ws_a").await.unwrap(),
        Some(wallet_set("org_a", "ws_a"))
    );
    assert_eq!(store.reserve_indices("org_a", "ws_a", 1).await.unwrap(), 0);
    assert_eq!(
        store.wallet("org_a", "w_a").await.unwrap(),
        Some(wallet("org_a", "ws_a", "w_a", "ETH", 0))
    );
}

async fn server_and_node_schemas_share_a_database(db: &TestDb) {
    let server = db.server().await;
    let node = db.connect().await;
    new_org(&server, "org_a").await;
    node.put_blob("b", vec![1]).await.unwrap();
    // Reconnecting applies nothing twice.
    let again = ServerStore::connect(&db.url).await.unwrap();
    let _ = NodeStore::connect(&db.url).await.unwrap();
    assert!(again.org("org_a").await.unwrap().is_some());
    let mut conn = db.raw().await;
    let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _planbok_server_migrations")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    // Each server migration once: as many rows as migration files.
    let files = std::fs::read_dir(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/migrations/server/sqlite"
    ))
    .unwrap()
    .count();
    assert_eq!(applied, i64::try_from(files).unwrap());
}

/// Two owners, each demoting (or removing) the other at the same instant, from two pools
/// (two server processes): exactly one wins, the organization keeps one owner. Many
/// rounds, because a lost race is a matter of timing.
async fn two_owners_demoting_or_removing_each_other_at_once_leave_one(db: &TestDb) {
    let (a, b) = (db.server().await, db.server().await);
    const ROUNDS: usize = 60;
    for round in 0..ROUNDS {
        let org_id = format!("org_{round}");
        new_org(&a, &org_id).await;
        let first = format!("mem_{org_id}");
        let second = format!("mem_second_{round}");
        a.create_member(&member(&org_id, &second, "owner"), &Commit::none())
            .await
            .unwrap();
        // Round 0 mod 3: both demote; 1: both remove; 2: one of each.
        let removes = |who: usize| match round % 3 {
            0 => false,
            1 => true,
            _ => who == 1,
        };
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(2));
        let mut tasks = Vec::new();
        for (who, (store, target)) in [(a.clone(), first.clone()), (b.clone(), second.clone())]
            .into_iter()
            .enumerate()
        {
            let (barrier, org_id, remove) = (barrier.clone(), org_id.clone(), removes(who));
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                if remove {
                    store
                        .delete_member(&org_id, &target, Some("owner"), T0, &Commit::none())
                        .await
                } else {
                    store
                        .update_member(
                            &org_id,
                            &target,
                            Some("owner"),
                            None,
                            Some("admin".into()),
                            T0,
                            &Commit::none(),
                        )
                        .await
                        .map(|_| ())
                }
            }));
        }
        let mut results = Vec::new();
        for t in tasks {
            results.push(t.await.unwrap());
        }
        let owners = a.count_owners(&org_id).await.unwrap();
        assert_eq!(owners, 1, "round {round}: {results:?}");
        let won = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(won, 1, "round {round}: {results:?}");
        assert!(
            results.iter().any(|r| conflict_with(r, "last owner")),
            "round {round}: {results:?}"
        );
    }
}

fn conflict_with<T: std::fmt::Debug>(r: &Result<T, StoreError>, text: &str) -> bool {
    matches!(r, Err(StoreError::Conflict(m)) if m.contains(text))
}

/// The server decides who may change a member on the role it read; the store refuses the
/// change if that role moved meanwhile (an admin demoting a member just made owner).
async fn a_change_decided_on_a_stale_role_is_refused(db: &TestDb) {
    let store = db.server().await;
    new_org(&store, "org_a").await;
    store
        .create_member(&member("org_a", "mem_1", "member"), &Commit::none())
        .await
        .unwrap();
    store
        .update_member(
            "org_a",
            "mem_1",
            Some("member"),
            None,
            Some("owner".into()),
            T0,
            &Commit::none(),
        )
        .await
        .unwrap();
    let stale = store
        .update_member(
            "org_a",
            "mem_1",
            Some("member"),
            None,
            Some("admin".into()),
            T0,
            &Commit::audit(draft("org_a", "member.update")),
        )
        .await;
    assert!(conflict_with(&stale, "changed meanwhile"), "{stale:?}");
    let stale = store
        .delete_member("org_a", "mem_1", Some("admin"), T0, &Commit::none())
        .await;
    assert!(conflict_with(&stale, "changed meanwhile"), "{stale:?}");
    assert_eq!(store.count_owners("org_a").await.unwrap(), 2);
    // Nothing was written: no audit entry beyond the organization's creation.
    let (_, total) = store
        .list_audit(&planbok_store::server::AuditQuery::first_page("org_a", 10))
        .await
        .unwrap();
    assert_eq!(total, 1);
    // The last owner, alone, can be neither demoted nor removed.
    store
        .delete_member("org_a", "mem_1", Some("owner"), T0, &Commit::none())
        .await
        .unwrap();
    let last = store
        .update_member(
            "org_a",
            "mem_org_a",
            None,
            None,
            Some("member".into()),
            T0,
            &Commit::none(),
        )
        .await;
    assert!(conflict_with(&last, "last owner"), "{last:?}");
    let last = store
        .delete_member("org_a", "mem_org_a", None, T0, &Commit::none())
        .await;
    assert!(conflict_with(&last, "last owner"), "{last:?}");
}
