//! Idempotency and the audit trail through the REST API, and what a node outage does.

use planbok_testkit::cluster::NodeRole::{Node1, Node2};
use std::process::Command;

use planbok_sdk::secret::Context;
use planbok_testkit::cluster::Options;
use serde_json::{Value, json};

use crate::rest::{Custody, Stack, assert_err, assert_ok, idem};

/// The server's database URL, from its configuration.
fn server_db(s: &Stack) -> String {
    let text =
        std::fs::read_to_string(&s.cluster.node(planbok_testkit::cluster::SERVER).config).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("database_url"))
        .unwrap();
    line.split('"').nth(1).unwrap().to_owned()
}

/// Runs SQL directly on the server's database (as an attacker with database access would).
fn sql(s: &Stack, sql: &str) -> Result<(), String> {
    let url = server_db(s);
    let out = match url.strip_prefix("sqlite://") {
        Some(path) => Command::new("python3")
            .args(["-c", "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.executescript(sys.argv[2]); c.commit()"])
            .arg(path)
            .arg(sql)
            .output()
            .unwrap(),
        None => Command::new("psql")
            .arg(&url)
            .args(["-v", "ON_ERROR_STOP=1", "-qc", sql])
            .output()
            .unwrap(),
    };
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

async fn idempotency(opts: Options) {
    let mut s = Stack::start(opts, Custody::Trustless, "").await;
    let key = idem();
    let body = |ct: String| json!({"idempotencyKey": key, "name": "once", "ecdsaProtocol": "dkls23", "encryptedOrganizationSecret": ct});
    let first = s.post("/v2/organization/wallet-sets", body(s.ct(Context::Dkg)));
    assert_eq!(first.0, 201, "{first:?}");
    // A retry carries a fresh ciphertext (the fingerprint ignores it) and gets the same answer.
    let again = s.post("/v2/organization/wallet-sets", body(s.ct(Context::Dkg)));
    assert_eq!(again, first);
    // Also after the server restarts.
    s.cluster
        .restart(planbok_testkit::cluster::SERVER)
        .await
        .unwrap();
    let after = s.post("/v2/organization/wallet-sets", body(s.ct(Context::Dkg)));
    assert_eq!(after, first);
    // Same key, other parameters.
    let mut other = body(s.ct(Context::Dkg));
    other["name"] = json!("twice");
    assert_err(
        s.post("/v2/organization/wallet-sets", other),
        "idempotency_conflict",
    );
    let sets = assert_ok(s.owner.raw("GET", "/v2/wallet-sets", None).unwrap());
    assert_eq!(sets["total"], 1);
    // Concurrent duplicates: one runs; the others wait their turn and replay, or are told
    // it is in progress. Exactly one wallet set more.
    let key = idem();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let owner = s.owner.clone();
            let b = json!({"idempotencyKey": key, "name": "race", "ecdsaProtocol": "dkls23", "encryptedOrganizationSecret": s.ct(Context::Dkg)});
            std::thread::spawn(move || owner.raw("POST", "/v2/organization/wallet-sets", Some(&b)).unwrap())
        })
        .collect();
    let results: Vec<(u16, Value)> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let created: Vec<_> = results.iter().filter(|r| r.0 == 201).collect();
    assert!(!created.is_empty(), "{results:?}");
    for r in &results {
        assert!(
            r.0 == 201 || r.1["code"] == "idempotency_in_progress",
            "{r:?}"
        );
    }
    let ids: std::collections::HashSet<_> = created
        .iter()
        .map(|r| r.1["data"]["walletSet"]["id"].clone())
        .collect();
    assert_eq!(ids.len(), 1, "{results:?}");
    let sets = assert_ok(s.owner.raw("GET", "/v2/wallet-sets", None).unwrap());
    assert_eq!(sets["total"], 2);
    // A signature's retry returns the first signature, not a new one.
    let set = &ids.into_iter().next().unwrap();
    let w = s
        .wallets(set.as_str().unwrap(), &["SOL"], 1, true)
        .remove(0);
    let key = idem();
    let sign = |ct: String| json!({"idempotencyKey": key, "walletId": w.id, "message": "m", "encryptedOrganizationSecret": ct});
    let a = s.post("/v2/organization/sign/message", sign(s.ct(Context::Sign)));
    assert_eq!(a.0, 200, "{a:?}");
    assert_eq!(
        s.post("/v2/organization/sign/message", sign(s.ct(Context::Sign))),
        a
    );
    // Even a repeat that would now fail its checks (no ciphertext) replays the answer.
    let mut bare = sign(String::new());
    bare.as_object_mut()
        .unwrap()
        .remove("encryptedOrganizationSecret");
    assert_eq!(s.post("/v2/organization/sign/message", bare), a);
    // A failed request does not burn its key: the retry with a valid secret succeeds.
    let key = idem();
    let r = s.post(
        "/v2/organization/sign/message",
        json!({"idempotencyKey": key, "walletId": w.id, "message": "m"}),
    );
    assert_err(r, "secret_required");
    let r = s.post("/v2/organization/sign/message", json!({"idempotencyKey": key, "walletId": w.id, "message": "m", "encryptedOrganizationSecret": s.ct(Context::Sign)}));
    assert_eq!(r.0, 200, "{r:?}");
}

on_sqlite_and_postgres!(
    idempotency,
    the_audit_trail_records_chains_and_refuses_edits,
    an_operation_whose_audit_entry_cannot_be_written_is_refused,
);

async fn the_audit_trail_records_chains_and_refuses_edits(opts: Options) {
    let s = Stack::start(opts, Custody::Standard, "").await;
    let set = s.wallet_set("dkls23", false);
    let w = s.wallets(&set.id, &["ETH"], 1, false).remove(0);
    assert_ok(s.post("/v2/organization/sign/message", json!({"idempotencyKey": idem(), "walletId": w.id, "message": "audited", "memo": "invoice 7"})));
    // A denied request is audited too.
    let ro = assert_ok(s.post(
        "/v2/organization/api-keys",
        json!({"name": "ro", "access": "read_only"}),
    ));
    let ro = s.owner.with_key(ro["secret"].as_str().unwrap());
    assert_err(
        ro.raw("POST", "/v2/organization/wallet-sets", Some(&json!({})))
            .unwrap(),
        "forbidden",
    );

    let list = assert_ok(
        s.owner
            .raw("GET", "/v2/audit-logs?limit=100&order=asc", None)
            .unwrap(),
    );
    let items = list["items"].as_array().unwrap();
    let actions: Vec<(&str, &str)> = items
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    for expected in [
        ("organization.create", "success"),
        ("organization.secret.register", "success"),
        ("wallet_set.create", "requested"),
        ("wallet_set.create", "success"),
        ("wallet.create", "success"),
        ("sign.message", "requested"),
        ("sign.message", "success"),
        ("api_key.create", "success"),
        ("auth.denied", "failure"),
    ] {
        assert!(
            actions.contains(&expected),
            "{expected:?} missing from {actions:?}"
        );
    }
    for (i, e) in items.iter().enumerate() {
        assert_eq!(e["seq"], i as i64 + 1);
        if i > 0 {
            assert_eq!(e["prevHash"], items[i - 1]["hash"]);
        }
    }
    let sign = items
        .iter()
        .find(|e| e["action"] == "sign.message" && e["outcome"] == "success")
        .unwrap();
    assert_eq!(sign["detail"]["memo"], "invoice 7");
    assert_eq!(sign["ip"], "127.0.0.1");
    // Nothing secret in the trail.
    let text = list.to_string();
    assert!(
        !text.contains("pbk_") && !text.contains(&*s.secret.to_hex()),
        "{text}"
    );
    let filtered = assert_ok(
        s.owner
            .raw("GET", "/v2/audit-logs?action=sign.message", None)
            .unwrap(),
    );
    assert_eq!(filtered["total"], 2);

    // The export ends with the head, and verifies offline.
    let (status, body) = s.owner.raw("GET", "/v2/audit-logs/export", None).unwrap();
    assert_eq!(status, 200);
    let text = body.as_str().unwrap().to_owned();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), items.len() + 1);
    assert_eq!(
        lines.last().unwrap()["head"]["hash"],
        items.last().unwrap()["hash"]
    );
    let file = s.cluster.dir.path().join("export.ndjson");
    std::fs::write(&file, &text).unwrap();
    let out = Command::new(crate::common::bin())
        .args(["audit", "verify", "--file"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let edited = text.replacen("invoice 7", "invoice 8", 1);
    std::fs::write(&file, &edited).unwrap();
    let out = Command::new(crate::common::bin())
        .args(["audit", "verify", "--file"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!out.status.success(), "an edited export must fail");

    // The database refuses UPDATE and DELETE; an attacker who drops the trigger is caught.
    let (ok, report) = s.audit_verify();
    assert!(ok, "{report}");
    let e = sql(
        &s,
        "UPDATE audit_entries SET outcome = 'success' WHERE seq = 1",
    );
    assert!(e.is_err(), "UPDATE must be refused");
    let e = sql(&s, "DELETE FROM audit_entries WHERE seq = 2");
    assert!(e.is_err(), "DELETE must be refused");
    let seq = sign["seq"].as_i64().unwrap();
    let drop = if server_db(&s).starts_with("sqlite") {
        "DROP TRIGGER audit_entries_no_update;"
    } else {
        "DROP TRIGGER audit_entries_no_update ON audit_entries;"
    };
    sql(&s, &format!(
        "{drop} UPDATE audit_entries SET detail = '{{\"memo\":\"forged\"}}' WHERE chain = '{}' AND seq = {seq}",
        s.org_id
    )).unwrap();
    let (ok, report) = s.audit_verify();
    assert!(!ok, "{report}");
    assert!(report.contains(&format!("seq {seq}")), "{report}");
}

async fn an_operation_whose_audit_entry_cannot_be_written_is_refused(opts: Options) {
    let s = Stack::start(opts, Custody::Standard, "").await;
    let set = s.wallet_set("dkls23", false);
    let wallet = s.wallets(&set.id, &["SOL-DEVNET"], 1, false).remove(0);
    let sqlite = server_db(&s).starts_with("sqlite");
    let (refuse, allow) = if sqlite {
        (
            "CREATE TRIGGER test_refuse_audit BEFORE INSERT ON audit_entries WHEN NEW.action IN ('wallet_set.create', 'sign.message') BEGIN SELECT RAISE(ABORT, 'test: audit unavailable'); END;",
            "DROP TRIGGER test_refuse_audit;",
        )
    } else {
        (
            "CREATE FUNCTION test_refuse_audit() RETURNS trigger AS $$ BEGIN IF NEW.action IN ('wallet_set.create', 'sign.message') THEN RAISE EXCEPTION 'test: audit unavailable'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql; CREATE TRIGGER test_refuse_audit BEFORE INSERT ON audit_entries FOR EACH ROW EXECUTE FUNCTION test_refuse_audit();",
            "DROP TRIGGER test_refuse_audit ON audit_entries;",
        )
    };
    sql(&s, refuse).unwrap();
    let r = s.post(
        "/v2/organization/wallet-sets",
        json!({"idempotencyKey": idem(), "name": "x", "ecdsaProtocol": "dkls23"}),
    );
    assert_eq!(r.1["success"], false, "{r:?}");
    assert!(r.0 >= 500, "{r:?}");
    let sets = assert_ok(s.owner.raw("GET", "/v2/wallet-sets", None).unwrap());
    assert_eq!(sets["total"], 1);
    // A signature is refused before any node is asked, and its key is not used up.
    let key = idem();
    let body = json!({"idempotencyKey": key, "walletId": wallet.id, "message": "m"});
    assert_err(
        s.post("/v2/organization/sign/message", body.clone()),
        "storage_unavailable",
    );
    sql(&s, allow).unwrap();
    let r = s.post("/v2/organization/sign/message", body);
    assert_eq!(r.0, 200, "{r:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_that_is_down_gives_503_and_leaves_nothing_half_done() {
    let mut s = Stack::sqlite(Custody::Standard).await;
    let set = s.wallet_set("dkls23", false);
    let w = s.wallets(&set.id, &["ETH"], 1, false).remove(0);
    s.cluster.kill(Node2).unwrap();
    let key = idem();
    let r = s.post(
        "/v2/organization/wallet-sets",
        json!({"idempotencyKey": key, "name": "x", "ecdsaProtocol": "dkls23"}),
    );
    assert_err(r, "node_unavailable");
    let sk = idem();
    assert_err(
        s.post(
            "/v2/organization/sign/message",
            json!({"idempotencyKey": sk, "walletId": w.id, "message": "m"}),
        ),
        "node_unavailable",
    );
    let sets = assert_ok(s.owner.raw("GET", "/v2/wallet-sets", None).unwrap());
    assert_eq!(sets["total"], 1);
    let ready = s.owner.raw("GET", "/ready", None).unwrap();
    assert_eq!(ready.0, 503, "{ready:?}");
    assert_eq!(ready.1["success"], false, "{ready:?}");
    assert_eq!(ready.1["data"]["healthy"], false, "{ready:?}");
    s.cluster.kill(Node1).unwrap();
    assert_err(
        s.post(
            "/v2/organization/sign/message",
            json!({"idempotencyKey": sk, "walletId": w.id, "message": "m"}),
        ),
        "node_unavailable",
    );
    s.cluster.restart(Node2).await.unwrap();
    s.cluster.restart(Node1).await.unwrap();
    // The same keys now succeed: the failures did not use them up.
    let r = s.post(
        "/v2/organization/wallet-sets",
        json!({"idempotencyKey": key, "name": "x", "ecdsaProtocol": "dkls23"}),
    );
    assert_eq!(r.0, 201, "{r:?}");
    let r = s.post(
        "/v2/organization/sign/message",
        json!({"idempotencyKey": sk, "walletId": w.id, "message": "m"}),
    );
    assert_eq!(r.0, 200, "{r:?}");
    assert_eq!(s.owner.raw("GET", "/ready", None).unwrap().0, 200);
}
