//! The custody drills of customer PINs: with the server, its database and grant key and
//! Node 1 (everything but Node 2) a PIN guess cannot be tested offline and costs an attempt
//! online; a replayed unlock, a used or expired challenge token are refused; no PIN, `h`,
//! customer secret, security answer or token in any file, `pg_dump` or audit entry.

use base64::Engine as _;
use planbok_envelope::pin::{self, OprfKey, PinError, PinKeys};
use planbok_proto::grant;
use planbok_proto::pb::{CustomerPinRequest, CustomerPinStep, Operation};
use planbok_store::FactorTable;
use planbok_testkit::cluster::NodeRole::{Node1, Node2};
use planbok_testkit::cluster::{Options, SERVER};
use sqlx::Connection as _;
use zeroize::Zeroizing;

use crate::customers::{
    B64, PIN, attempt, challenge, customer, direct, gateway, initialize, server_db,
};
use crate::rest::{Custody, Stack, assert_err};
use planbok_sdk::gateway::GatewayLink;

async fn everything_but_node2_cannot_test_a_pin_guess(opts: Options) {
    let s = Stack::start(opts, Custody::Unset, "").await;
    let id = customer(&s);
    let init_url = challenge(&s, &id, "initialize");
    let secret = initialize(&init_url, PIN);

    // The attacker holds the server's database: the salt, the parameters and W_pin.
    let mut db = server_db(&s).await;
    let (salt, params, wrap): (Vec<u8>, String, Vec<u8>) =
        sqlx::query_as("SELECT pin_salt, pin_params, pin_wrap FROM customers WHERE id = $1")
            .bind(&id)
            .fetch_one(&mut db)
            .await
            .unwrap();
    let params: pin::KdfParams = serde_json::from_str(&params).unwrap();
    // Even with the right PIN, every OPRF output computable without Node 2's key (here:
    // under keys of the attacker's own) leaves the wrap shut.
    let started = std::time::Instant::now();
    let h = pin::hash_pin(PIN.as_bytes(), &salt, &params).unwrap();
    eprintln!("FIGURE Argon2id {params:?}: {:?}", started.elapsed());
    for _ in 0..3 {
        let mine = OprfKey::generate().unwrap();
        let b = pin::Blinded::new(h.clone()).unwrap();
        let evaluated = mine.evaluate(&b.message).unwrap();
        let keys = b.finish(&evaluated, &s.org_id, &id).unwrap();
        assert_eq!(keys.unwrap(&wrap), Err(PinError::WrongPin));
    }
    let naive = PinKeys::derive(&[h.as_slice(), h.as_slice()].concat(), &s.org_id, &id);
    assert_eq!(naive.unwrap(&wrap), Err(PinError::WrongPin));
    // Node 2 keeps the OPRF key sealed; Node 1 and the server hold none of it.
    let rec = planbok_store::NodeStore::connect(&s.cluster.node(Node2).database_url)
        .await
        .unwrap()
        .factor_record(FactorTable::Pin, &s.org_id, &id)
        .await
        .unwrap()
        .unwrap();
    let sealed = rec.sealed_key.unwrap();
    assert!(
        sealed.len() > 64,
        "the OPRF key is stored sealed (envelope), not raw"
    );
    for (role, url) in [
        ("node 1", s.cluster.node(Node1).database_url.clone()),
        ("server", s.cluster.node(SERVER).database_url.clone()),
    ] {
        let mut c = sqlx::AnyConnection::connect(&url).await.unwrap();
        let tables: Vec<String> = match url.starts_with("postgres") {
            true => sqlx::query_scalar(
                "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'",
            )
            .fetch_all(&mut c)
            .await
            .unwrap(),
            false => sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
                .fetch_all(&mut c)
                .await
                .unwrap(),
        };
        // Node 1 has the node schema's table, and never a row in it.
        if tables.iter().any(|t| t == "customer_pins") {
            let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM customer_pins")
                .fetch_one(&mut c)
                .await
                .unwrap();
            assert_eq!((role, rows), ("node 1", 0), "{tables:?}");
        }
    }

    // With the grant key and Node 1, each guess goes to Node 2, which counts it.
    let mut left = Vec::new();
    for _ in 0..2 {
        let b = pin::Blinded::new(h.clone()).unwrap();
        let r = direct(&s, &id, CustomerPinStep::Evaluate, |r| {
            r.blinded = b.message.to_vec()
        })
        .await
        .unwrap();
        left.push(r.attempts_left);
        // This guess was right: it opens the wrap, and it cost an attempt all the same.
        let keys = b.finish(&r.evaluated, &s.org_id, &id).unwrap();
        assert_eq!(*keys.unwrap(&wrap).unwrap(), *secret);
    }
    assert_eq!(left, [4, 3]);
    // The same grant twice: refused by Node 1 (and Node 2 records each grant too).
    let mut req = CustomerPinRequest {
        step: CustomerPinStep::Evaluate as i32,
        customer_id: id.clone(),
        blinded: pin::Blinded::new(h.clone()).unwrap().message.to_vec(),
        ..Default::default()
    };
    req.grant = Some(s.cluster.grant(
        &s.org_id,
        &id,
        Operation::CustomerPin,
        grant::customer_pin_params(&req),
    ));
    let mut node1 = s.cluster.server().unwrap();
    node1.customer_pin(req.clone()).await.unwrap();
    assert_eq!(
        crate::common::code(&node1.customer_pin(req.clone()).await.unwrap_err()),
        "grant_replayed"
    );
    // Node 2 checks its own: no grant, or a grant for other bytes, is refused there.
    let mut peer = s.cluster.as_node1().unwrap();
    let mut bare = req.clone();
    bare.grant = None;
    assert_eq!(
        crate::common::code(&peer.customer_pin(bare).await.unwrap_err()),
        "grant_missing"
    );
    let mut other = req.clone();
    other.blinded = pin::Blinded::new(Zeroizing::new([9; 32]))
        .unwrap()
        .message
        .to_vec();
    assert_eq!(
        crate::common::code(&peer.customer_pin(other).await.unwrap_err()),
        "grant_digest_mismatch"
    );

    // A captured unlock (signature over a retired attempt nonce) resets nothing.
    let url = challenge(&s, &id, "update-pin");
    let gw = gateway(&url);
    let (opened, _) = attempt(&gw, PIN);
    let opened = opened.unwrap();
    assert_eq!(format!("{opened:?}"), "OpenedPin(<redacted>)");
    let unlock = opened.unlock().unwrap();
    gw.gateway_unlock(&unlock).unwrap();
    let (_, eval) = attempt(&gw, "502977");
    assert_eq!(eval.attempts_left, 4);
    assert_err(
        gw.raw(
            "POST",
            "/gateway/api/pin/unlock",
            Some(&serde_json::to_value(&unlock).unwrap()),
        )
        .unwrap(),
        "pin_proof_invalid",
    );
    let r = direct(&s, &id, CustomerPinStep::Unlock, |r| {
        r.nonce = B64.decode(&unlock.nonce).unwrap();
        r.signature = B64.decode(&unlock.signature).unwrap();
    })
    .await;
    assert_eq!(crate::common::code(&r.unwrap_err()), "pin_proof_invalid");
    // An enrollment over the set PIN without the old PIN's rekey nonce is refused.
    let r = direct(&s, &id, CustomerPinStep::Enroll, |r| {
        r.blinded = pin::Blinded::new(Zeroizing::new([3; 32]))
            .unwrap()
            .message
            .to_vec();
    })
    .await;
    assert_eq!(crate::common::code(&r.unwrap_err()), "pin_already_set");

    // An expired challenge opens nothing and reads as expired.
    let url = challenge(&s, &id, "update-pin");
    let link = GatewayLink::parse(&url).unwrap();
    sqlx::query("UPDATE customer_challenges SET expires_at_ms = 0 WHERE id = $1")
        .bind(&link.challenge_id)
        .execute(&mut db)
        .await
        .unwrap();
    assert_err(
        gateway(&url)
            .raw("GET", "/gateway/api/challenge", None)
            .unwrap(),
        "unauthorized",
    );
    assert_eq!(
        s.owner.challenge(&id, &link.challenge_id).unwrap().status,
        "expired"
    );

    // Nothing secret in any log, database file or audit entry: the PIN, h, S_c, the
    // challenge tokens.
    let init_token = GatewayLink::parse(&init_url).unwrap().token.to_string();
    let mut needles: Vec<(String, Vec<u8>)> = vec![
        ("PIN".into(), PIN.as_bytes().to_vec()),
        ("h".into(), h.to_vec()),
        ("h hex".into(), hex::encode(h.as_slice()).into_bytes()),
        ("S_c".into(), secret.to_vec()),
        (
            "S_c hex".into(),
            hex::encode(secret.as_slice()).into_bytes(),
        ),
        ("S_c b64".into(), B64.encode(secret.as_slice()).into_bytes()),
        ("token".into(), init_token.clone().into_bytes()),
        ("token 2".into(), link.token.as_bytes().to_vec()),
    ];
    // The security answers set at initialize, as typed and normalized (the recovery
    // drills scan for the rest of recovery's secrets).
    for a in crate::customers::ANSWERS {
        needles.push((format!("answer {a}"), a.as_bytes().to_vec()));
        let n = planbok_envelope::recovery::normalize(a);
        needles.push((format!("normalized {a}"), n.as_bytes().to_vec()));
    }
    let mut haystacks: Vec<(String, Vec<u8>)> = Vec::new();
    for entry in walk(s.cluster.dir.path()) {
        haystacks.push((
            entry.display().to_string(),
            std::fs::read(&entry).unwrap_or_default(),
        ));
    }
    for (name, dump) in s.cluster.pg_dumps().unwrap() {
        haystacks.push((format!("pg_dump {name}"), dump));
    }
    let export = s
        .owner
        .raw("GET", "/v2/audit-logs?limit=100", None)
        .unwrap()
        .1
        .to_string();
    haystacks.push(("audit".into(), export.into_bytes()));
    for (what, needle) in &needles {
        for (name, hay) in &haystacks {
            assert!(
                !hay.windows(needle.len()).any(|w| w == needle.as_slice()),
                "{what} found in {name}"
            );
        }
    }
}

pub(crate) fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

on_sqlite_and_postgres!(everything_but_node2_cannot_test_a_pin_guess);
