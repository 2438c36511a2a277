//! The audit trail: appends, concurrency, the triggers, verification of tampered chains,
//! and the hash format's test vector.

use planbok_store::StoreError;
use planbok_store::server::{
    AuditEntry, AuditQuery, ChainVerifier, FaultKind, GENESIS_HASH, audit_hash, canonical_json,
    verify_chain,
};
use serde_json::json;

use crate::harness::{TestDb, on_every_backend};
use crate::server_fixtures::{T0, draft};

on_every_backend!(
    audit_appends_chain_per_chain,
    audit_concurrent_appends_form_one_chain,
    audit_triggers_refuse_update_and_delete,
    audit_verify_finds_tampering_at_the_right_seq,
    audit_list_filters_and_pages,
    audit_range_pages,
    audit_bad_drafts_refused,
);

async fn audit_appends_chain_per_chain(db: &TestDb) {
    let store = db.server().await;
    assert_eq!(store.audit_head("org_a").await.unwrap(), None);
    assert!(store.audit_chains().await.unwrap().is_empty());

    let mut entries = Vec::new();
    for i in 0..3 {
        let mut d = draft("org_a", "wallet_set.create");
        d.at_ms = T0 + i;
        entries.push(store.append_audit(d).await.unwrap());
    }
    let sys = store
        .append_audit(draft("system", "operator.unseal"))
        .await
        .unwrap();
    assert_eq!((sys.seq, sys.prev_hash.as_str()), (1, GENESIS_HASH));

    assert_eq!(entries[0].prev_hash, GENESIS_HASH);
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(e.seq, i as i64 + 1);
        assert_eq!(e.hash, audit_hash(e));
        assert_eq!(e.hash.len(), 64);
        if i > 0 {
            assert_eq!(e.prev_hash, entries[i - 1].hash);
        }
    }
    assert_eq!(
        store.audit_head("org_a").await.unwrap(),
        Some((3, entries[2].hash.clone()))
    );
    assert_eq!(
        store.audit_chains().await.unwrap(),
        vec!["org_a".to_string(), "system".to_string()]
    );
    // What comes back from the database is what was appended, detail included.
    let stored = store.audit_range("org_a", 1, None).await.unwrap();
    assert_eq!(stored, entries);
    for (chain, report) in store.verify_audit(None).await.unwrap() {
        assert!(report.is_ok(), "{chain}: {report:?}");
        assert_eq!(report.head_matches, Some(true));
    }
}

async fn audit_concurrent_appends_form_one_chain(db: &TestDb) {
    const CALLS: usize = 48;
    let results = db
        .race(CALLS, |store, i| async move {
            let chain = if i % 3 == 0 { "system" } else { "org_a" };
            let mut d = draft(chain, "sign.message");
            d.request_id = format!("req_{i}");
            store.append_audit(d).await
        })
        .await;
    let mut seqs: Vec<(String, i64)> = results
        .into_iter()
        .map(|r| {
            let e = r.unwrap();
            (e.chain, e.seq)
        })
        .collect();
    seqs.sort();
    let store = db.server().await;
    for (chain, n) in [("org_a", 32), ("system", 16)] {
        let mine: Vec<i64> = seqs
            .iter()
            .filter(|(c, _)| c == chain)
            .map(|(_, s)| *s)
            .collect();
        assert_eq!(mine, (1..=n).collect::<Vec<_>>(), "{chain}");
        let entries = store.audit_range(chain, 1, None).await.unwrap();
        assert_eq!(entries.len() as i64, n);
        let head = store.audit_head(chain).await.unwrap();
        let report = verify_chain(entries, head);
        assert!(report.is_ok(), "{chain}: {report:?}");
        assert_eq!(report.head_matches, Some(true));
    }
}

async fn audit_triggers_refuse_update_and_delete(db: &TestDb) {
    let store = db.server().await;
    store.append_audit(draft("org_a", "a")).await.unwrap();
    store.append_audit(draft("org_a", "b")).await.unwrap();
    let before = store.audit_range("org_a", 1, None).await.unwrap();
    let mut conn = db.raw().await;
    for sql in [
        "UPDATE audit_entries SET actor = 'member:evil' WHERE seq = 1",
        "UPDATE audit_entries SET detail = 'null'",
        "DELETE FROM audit_entries WHERE seq = 2",
        "DELETE FROM audit_entries",
    ] {
        let err = sqlx::query(sql).execute(&mut conn).await.unwrap_err();
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    if db.is_postgres() {
        let err = sqlx::query("TRUNCATE audit_entries")
            .execute(&mut conn)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("append-only"), "{err}");
    }
    assert_eq!(store.audit_range("org_a", 1, None).await.unwrap(), before);
    assert!(
        store.verify_audit(Some("org_a")).await.unwrap()[0]
            .1
            .is_ok()
    );
}

/// Six entries on each of several chains, then one attack per chain, made directly in SQL
/// after dropping the triggers (an attacker with full database access).
async fn audit_verify_finds_tampering_at_the_right_seq(db: &TestDb) {
    let store = db.server().await;
    let chains = [
        "c_ok", "c_edit", "c_detail", "c_delete", "c_swap", "c_rehash", "c_tail",
    ];
    for chain in chains {
        for i in 0..6 {
            let mut d = draft(chain, "wallet.create");
            d.at_ms = T0 + i;
            d.detail = json!({"i": i});
            store.append_audit(d).await.unwrap();
        }
    }
    let mut conn = db.raw().await;
    let drops: &[&str] = if db.is_postgres() {
        &[
            "DROP TRIGGER audit_entries_no_update ON audit_entries",
            "DROP TRIGGER audit_entries_no_delete ON audit_entries",
        ]
    } else {
        &[
            "DROP TRIGGER audit_entries_no_update",
            "DROP TRIGGER audit_entries_no_delete",
        ]
    };
    for sql in drops {
        sqlx::query(*sql).execute(&mut conn).await.unwrap();
    }

    // A re-hashed edit: seq 3's content changed and its hash recomputed to match, so only
    // the link from seq 4 gives it away.
    let mut forged = store
        .audit_range("c_rehash", 3, Some(3))
        .await
        .unwrap()
        .remove(0);
    forged.outcome = "failure".into();
    let forged_hash = audit_hash(&forged);

    for sql in [
        "UPDATE audit_entries SET actor = 'member:evil' WHERE chain = 'c_edit' AND seq = 3",
        "UPDATE audit_entries SET detail = '{\"i\":99}' WHERE chain = 'c_detail' AND seq = 5",
        "DELETE FROM audit_entries WHERE chain = 'c_delete' AND seq = 4",
        // Swap seq 2 and 3 (through a free number, the primary key forbids a clash).
        "UPDATE audit_entries SET seq = 1000 WHERE chain = 'c_swap' AND seq = 2",
        "UPDATE audit_entries SET seq = 2 WHERE chain = 'c_swap' AND seq = 3",
        "UPDATE audit_entries SET seq = 3 WHERE chain = 'c_swap' AND seq = 1000",
        "DELETE FROM audit_entries WHERE chain = 'c_tail' AND seq >= 5",
    ] {
        sqlx::query(sql).execute(&mut conn).await.unwrap();
    }
    sqlx::query(
        "UPDATE audit_entries SET outcome = 'failure', hash = $1 \
         WHERE chain = 'c_rehash' AND seq = 3",
    )
    .bind(forged_hash)
    .execute(&mut conn)
    .await
    .unwrap();

    let reports = store.verify_audit(None).await.unwrap();
    let found: Vec<(&str, Option<(i64, FaultKind)>)> = reports
        .iter()
        .map(|(chain, r)| (chain.as_str(), r.fault.as_ref().map(|f| (f.seq, f.kind))))
        .collect();
    assert_eq!(
        found,
        vec![
            ("c_delete", Some((4, FaultKind::Deleted))),
            ("c_detail", Some((5, FaultKind::Edited))),
            ("c_edit", Some((3, FaultKind::Edited))),
            ("c_ok", None),
            ("c_rehash", Some((4, FaultKind::BrokenLink))),
            ("c_swap", Some((2, FaultKind::Reordered))),
            ("c_tail", Some((5, FaultKind::Truncated))),
        ]
    );
    let tail = &reports.iter().find(|(c, _)| c == "c_tail").unwrap().1;
    assert_eq!(tail.head_matches, Some(false));
    assert_eq!(tail.entries, 4);

    // The same verdicts offline, from the entries alone and the head noted earlier.
    let entries = store.audit_range("c_edit", 1, None).await.unwrap();
    let head = store.audit_head("c_edit").await.unwrap();
    let report = verify_chain(entries, head);
    assert_eq!(report.fault.unwrap().kind, FaultKind::Edited);
}

async fn audit_list_filters_and_pages(db: &TestDb) {
    let store = db.server().await;
    for i in 0..5i64 {
        let mut d = draft(
            "org_a",
            if i % 2 == 0 {
                "sign.message"
            } else {
                "wallet.create"
            },
        );
        d.at_ms = T0 + i * 1000;
        d.actor = if i < 3 {
            "member:m1".into()
        } else {
            "operator".into()
        };
        store.append_audit(d).await.unwrap();
    }
    store
        .append_audit(draft("org_b", "sign.message"))
        .await
        .unwrap();
    let q = |page, limit, desc| AuditQuery {
        page,
        desc,
        ..AuditQuery::first_page("org_a", limit)
    };
    let seqs = |v: &[AuditEntry]| v.iter().map(|e| e.seq).collect::<Vec<_>>();

    let (page, total) = store.list_audit(&q(1, 2, false)).await.unwrap();
    assert_eq!((seqs(&page), total), (vec![1, 2], 5));
    let (page, _) = store.list_audit(&q(3, 2, false)).await.unwrap();
    assert_eq!(seqs(&page), vec![5]);
    let (page, _) = store.list_audit(&q(1, 2, true)).await.unwrap();
    assert_eq!(seqs(&page), vec![5, 4]);
    let (page, total) = store.list_audit(&q(9, 2, true)).await.unwrap();
    assert_eq!((seqs(&page), total), (vec![], 5));

    let mut f = q(1, 10, false);
    f.action = Some("sign.message".into());
    let (page, total) = store.list_audit(&f).await.unwrap();
    assert_eq!((seqs(&page), total), (vec![1, 3, 5], 3));
    f.actor = Some("operator".into());
    let (page, total) = store.list_audit(&f).await.unwrap();
    assert_eq!((seqs(&page), total), (vec![5], 1));

    let mut f = q(1, 10, false);
    f.from_ms = Some(T0 + 1000);
    f.to_ms = Some(T0 + 3000);
    let (page, total) = store.list_audit(&f).await.unwrap();
    assert_eq!((seqs(&page), total), (vec![2, 3, 4], 3));

    for (page, limit) in [(0, 10), (1, 0), (1, 1001)] {
        assert!(matches!(
            store.list_audit(&q(page, limit, false)).await,
            Err(StoreError::InvalidInput(_))
        ));
    }
}

async fn audit_range_pages(db: &TestDb) {
    let store = db.server().await;
    for _ in 0..5 {
        store.append_audit(draft("org_a", "x")).await.unwrap();
    }
    let seqs = |v: Vec<AuditEntry>| v.into_iter().map(|e| e.seq).collect::<Vec<_>>();
    assert_eq!(
        seqs(store.audit_range("org_a", 2, Some(4)).await.unwrap()),
        vec![2, 3, 4]
    );
    assert_eq!(
        seqs(store.audit_range("org_a", 4, None).await.unwrap()),
        vec![4, 5]
    );
    assert!(
        store
            .audit_range("org_a", 6, None)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .audit_range("org_b", 1, None)
            .await
            .unwrap()
            .is_empty()
    );
    // An export that resumes after a verified entry.
    let first = store.audit_range("org_a", 1, Some(2)).await.unwrap();
    let last = first.last().unwrap();
    let mut v = ChainVerifier::resume_after(last.seq, last.hash.clone());
    for e in store.audit_range("org_a", 3, None).await.unwrap() {
        v.push(&e);
    }
    let report = v.finish(store.audit_head("org_a").await.unwrap());
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.entries, 3);
}

async fn audit_bad_drafts_refused(db: &TestDb) {
    let store = db.server().await;
    let mut float = draft("org_a", "x");
    float.detail = json!({"amount": 1.5});
    let mut outcome = draft("org_a", "x");
    outcome.outcome = "maybe".into();
    let mut empty = draft("", "x");
    empty.chain = String::new();
    let mut big = draft("org_a", "x");
    big.detail = json!({"blob": "x".repeat(20_000)});
    for d in [float, outcome, empty, big] {
        assert!(matches!(
            store.append_audit(d).await,
            Err(StoreError::InvalidInput(_))
        ));
    }
    assert_eq!(store.audit_head("org_a").await.unwrap(), None);
    // Integers, nulls, strings and nesting are fine.
    let mut ok = draft("org_a", "x");
    ok.detail = json!({"n": -5, "u": u64::MAX, "s": null, "list": [[], {}]});
    store.append_audit(ok).await.unwrap();
}

// ---- Pure: the hash format ----------------------------------------------------------

fn vector_entry() -> AuditEntry {
    AuditEntry {
        chain: "org_2b9f".into(),
        seq: 7,
        version: 1,
        prev_hash: "ab".repeat(32),
        hash: String::new(),
        at_ms: 1_750_000_123_456,
        actor: "member:mem_1".into(),
        api_key_id: Some("key_1".into()),
        ip: None,
        user_agent: Some("curl/8.5".into()),
        action: "sign.message".into(),
        target: Some("wal_9".into()),
        outcome: "success".into(),
        request_id: "req_0001".into(),
        detail: json!({"walletId": "wal_9", "blockchain": "ETH", "bytes": 32, "memo": null}),
    }
}

/// A checked-in vector: if this fails, the hash format changed and every stored chain
/// would stop verifying. A new format needs a new version, not an edit.
#[test]
fn audit_hash_test_vector() {
    let e = vector_entry();
    assert_eq!(
        canonical_json(&e.detail),
        r#"{"blockchain":"ETH","bytes":32,"memo":null,"walletId":"wal_9"}"#
    );
    assert_eq!(
        audit_hash(&e),
        "dbe651f4074de3aa6772e98911d15e507632c06b2617cc636d1e331dac1b75c3"
    );
}

#[test]
fn audit_hash_covers_every_field() {
    let base = audit_hash(&vector_entry());
    let edits: &[fn(&mut AuditEntry)] = &[
        |e| e.chain.push('x'),
        |e| e.seq += 1,
        |e| e.version = 2,
        |e| e.prev_hash = "cd".repeat(32),
        |e| e.at_ms += 1,
        |e| e.actor.push('x'),
        |e| e.api_key_id = None,
        |e| e.ip = Some(String::new()),
        |e| e.user_agent = None,
        |e| e.action.push('x'),
        |e| e.target = None,
        |e| e.outcome = "failure".into(),
        |e| e.request_id.push('x'),
        |e| e.detail = json!({"walletId": "wal_8"}),
        // The hash field itself is not an input.
    ];
    for (i, edit) in edits.iter().enumerate() {
        let mut e = vector_entry();
        edit(&mut e);
        assert_ne!(audit_hash(&e), base, "edit {i}");
    }
    let mut e = vector_entry();
    e.hash = "ff".repeat(32);
    assert_eq!(audit_hash(&e), base);
    // Moving bytes between adjacent fields changes the hash (length prefixes).
    let mut a = vector_entry();
    a.actor = "member:".into();
    a.api_key_id = Some("mem_1key_1".into());
    assert_ne!(audit_hash(&a), base);
}

#[test]
fn canonical_json_sorts_and_escapes() {
    let v = json!({"b": 1, "a": [true, null, "x\n\"\\\u{1}é/"], "A": {"d": -2, "c": {}}});
    assert_eq!(
        canonical_json(&v),
        r#"{"A":{"c":{},"d":-2},"a":[true,null,"x\n\"\\\u0001é/"],"b":1}"#
    );
    // It is JSON, and reads back to the same value.
    let back: serde_json::Value = serde_json::from_str(&canonical_json(&v)).unwrap();
    assert_eq!(back, v);
}

#[test]
fn verify_chain_in_memory() {
    let chain: Vec<AuditEntry> = (0..5).fold(Vec::new(), |mut acc, i| {
        let prev = acc
            .last()
            .map(|e: &AuditEntry| e.hash.clone())
            .unwrap_or_else(|| GENESIS_HASH.to_owned());
        let mut d = draft("org_a", "x");
        d.at_ms = T0 + i;
        acc.push(AuditEntry::from_draft(d, i + 1, prev));
        acc
    });
    let head = Some((5, chain[4].hash.clone()));
    let fault = |entries: Vec<AuditEntry>, head: Option<(i64, String)>| {
        verify_chain(entries, head).fault.map(|f| (f.seq, f.kind))
    };
    assert_eq!(fault(chain.clone(), head.clone()), None);
    assert_eq!(fault(Vec::new(), None), None);

    // Lines of an export out of order.
    let mut swapped = chain.clone();
    swapped.swap(1, 3);
    assert_eq!(
        fault(swapped, head.clone()),
        Some((2, FaultKind::Reordered))
    );
    let mut back = chain.clone();
    back.swap(2, 3);
    assert_eq!(fault(back, head.clone()), Some((3, FaultKind::Reordered)));
    let mut dup = chain.clone();
    dup.insert(2, chain[1].clone());
    assert_eq!(fault(dup, head.clone()), Some((2, FaultKind::Reordered)));

    let mut gap = chain.clone();
    gap.remove(0);
    assert_eq!(fault(gap, head.clone()), Some((1, FaultKind::Deleted)));

    let mut other = chain.clone();
    other[3].chain = "org_b".into();
    assert_eq!(fault(other, head.clone()), Some((4, FaultKind::WrongChain)));

    assert_eq!(
        fault(chain[..3].to_vec(), head.clone()),
        Some((4, FaultKind::Truncated))
    );
    assert_eq!(
        fault(Vec::new(), head.clone()),
        Some((1, FaultKind::Truncated))
    );
    assert_eq!(
        fault(chain.clone(), Some((5, "00".repeat(32)))),
        Some((5, FaultKind::HeadMismatch))
    );
    assert_eq!(
        fault(chain.clone(), Some((4, chain[3].hash.clone()))),
        Some((5, FaultKind::HeadMismatch))
    );
    let report = verify_chain(chain[..3].to_vec(), head);
    assert_eq!(report.head_matches, Some(false));
    assert_eq!(report.last, Some((3, chain[2].hash.clone())));
}
