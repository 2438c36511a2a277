//! The custody drills of recovery by security questions: with the server, its database
//! and grant key and Node 1 (everything but Node 2), an answer guess cannot be tested
//! offline and costs an attempt online; such an attacker cannot plant questions of its own
//! (Node 2 wants the PIN's signature) nor commit a PIN with a captured rekey nonce (Node 2
//! wants the questions' signature); a replayed recovery proof resets nothing; no answer,
//! hash, customer secret or token in any file, `pg_dump` or audit entry.

use base64::Engine as _;
use planbok_envelope::pin::{self, Factor, KdfParams, OprfKey, PinError, PinKeys};
use planbok_envelope::recovery::{self, Question};
use planbok_proto::pb::{CustomerFactor, CustomerPinStep};
use planbok_sdk::gateway::{GatewayLink, PreparedPin};
use planbok_store::FactorTable;
use planbok_testkit::cluster::NodeRole::{Node1, Node2};
use planbok_testkit::cluster::Options;
use zeroize::Zeroizing;

use crate::customers::{
    ANSWERS, B64, NEW_PIN, PIN, attempt, challenge, customer, direct, gateway, initialize,
    server_db,
};
use crate::customers_drills::walk;
use crate::customers_recovery::recover;
use crate::rest::{Custody, Stack, assert_err};

fn code(r: Result<planbok_proto::pb::CustomerPinResponse, tonic::Status>) -> String {
    crate::common::code(&r.unwrap_err()).to_owned()
}

fn blinded(seed: u8) -> Vec<u8> {
    pin::Blinded::new(Zeroizing::new([seed; 32]))
        .unwrap()
        .message
        .to_vec()
}

async fn everything_but_node2_cannot_test_an_answer_or_plant_one(opts: Options) {
    let s = Stack::start(opts, Custody::Unset, "").await;
    let id = customer(&s);
    let init_url = challenge(&s, &id, "initialize");
    let secret = initialize(&init_url, PIN);

    // The attacker holds the server's database: salt, parameters, W_rec, the questions.
    let mut db = server_db(&s).await;
    let (salt, params, wrap, stored): (Vec<u8>, String, Vec<u8>, String) = sqlx::query_as(
        "SELECT rec_salt, rec_params, rec_wrap, rec_questions FROM customers WHERE id = $1",
    )
    .bind(&id)
    .fetch_one(&mut db)
    .await
    .unwrap();
    assert!(
        !stored.contains("Rex") && !stored.to_lowercase().contains("rex"),
        "{stored}"
    );
    let params: KdfParams = serde_json::from_str(&params).unwrap();
    let qs: Vec<Question> = ["first_pet", "birth_city", "first_school"]
        .iter()
        .map(|i| Question {
            id: Some((*i).into()),
            custom: None,
            hint: None,
        })
        .collect();
    // Even the right answers, with any OPRF output computable without Node 2's key (here:
    // keys of the attacker's own), leave the wrap shut.
    let input = recovery::answers_input(&qs, &ANSWERS).unwrap();
    let h = pin::hash_pin(&input, &salt, &params).unwrap();
    for _ in 0..3 {
        let mine = OprfKey::generate().unwrap();
        let b = pin::Blinded::new(h.clone()).unwrap();
        let evaluated = mine.evaluate(&b.message).unwrap();
        let keys = b
            .finish_for(Factor::Questions, &evaluated, &s.org_id, &id)
            .unwrap();
        assert_eq!(keys.unwrap(&wrap), Err(PinError::WrongPin));
    }
    let naive = PinKeys::derive_for(
        Factor::Questions,
        &[h.as_slice(), h.as_slice()].concat(),
        &s.org_id,
        &id,
    );
    assert_eq!(naive.unwrap(&wrap), Err(PinError::WrongPin));
    let node2 = planbok_store::NodeStore::connect(&s.cluster.node(Node2).database_url)
        .await
        .unwrap();
    let rec = node2
        .factor_record(FactorTable::Questions, &s.org_id, &id)
        .await
        .unwrap()
        .unwrap();
    assert!(
        rec.sealed_key.unwrap().len() > 64,
        "the OPRF key is stored sealed"
    );
    // Node 1 has the node schema's table, and never a row in it.
    let node1 = planbok_store::NodeStore::connect(&s.cluster.node(Node1).database_url)
        .await
        .unwrap();
    assert_eq!(
        node1
            .factor_record(FactorTable::Questions, &s.org_id, &id)
            .await
            .unwrap(),
        None
    );

    // With the grant key and Node 1, each guess goes to Node 2, which counts it against
    // the questions (not the PIN).
    let mut left = Vec::new();
    for _ in 0..2 {
        let b = pin::Blinded::new(h.clone()).unwrap();
        let r = direct(&s, &id, CustomerPinStep::Evaluate, |r| {
            r.factor = CustomerFactor::Questions as i32;
            r.blinded = b.message.to_vec();
        })
        .await
        .unwrap();
        left.push(r.attempts_left);
        let keys = b
            .finish_for(Factor::Questions, &r.evaluated, &s.org_id, &id)
            .unwrap();
        assert_eq!(*keys.unwrap(&wrap).unwrap(), *secret);
    }
    assert_eq!(left, [4, 3]);
    assert_eq!(
        node2
            .factor_record(FactorTable::Pin, &s.org_id, &id)
            .await
            .unwrap()
            .unwrap()
            .failures,
        0
    );

    // It cannot plant questions of its own: an enrollment is free (a pending key tests
    // nothing), but its commit needs the PIN's signature.
    let attacker = PinKeys::derive_for(Factor::Questions, b"attacker", &s.org_id, &id);
    let enrolled = direct(&s, &id, CustomerPinStep::Enroll, |r| {
        r.factor = CustomerFactor::Questions as i32;
        r.blinded = blinded(4);
    })
    .await
    .unwrap();
    let vk = attacker.verify_key();
    let forged = attacker.sign_commit_of(Factor::Questions, &enrolled.nonce, &vk);
    let r = direct(&s, &id, CustomerPinStep::Commit, |r| {
        r.factor = CustomerFactor::Questions as i32;
        r.nonce = enrolled.nonce.clone();
        r.verify_key = vk.to_vec();
        r.signature = forged.to_vec();
    })
    .await;
    assert_eq!(code(r), "pin_proof_invalid");
    let r = direct(&s, &id, CustomerPinStep::Commit, |r| {
        r.factor = CustomerFactor::Questions as i32;
        r.nonce = enrolled.nonce.clone();
        r.verify_key = vk.to_vec();
    })
    .await;
    assert_eq!(code(r), "invalid_argument");
    // Nor enroll a PIN without a rekey nonce, nor commit one over the set PIN without a
    // signature by the old PIN or the questions.
    let r = direct(&s, &id, CustomerPinStep::Enroll, |r| r.blinded = blinded(5)).await;
    assert_eq!(code(r), "pin_already_set");

    // The user recovers (the right answers); the attacker captures the unlock and the
    // rekey nonce it returned.
    let url = challenge(&s, &id, "reset-pin");
    let gw = gateway(&url);
    let (recovered, eval) = recover(&gw, &ANSWERS);
    assert_eq!(
        eval.attempts_left, 2,
        "the attacker's two guesses were counted"
    );
    let recovered = recovered.unwrap();
    assert_eq!(format!("{recovered:?}"), "OpenedRecovery(<redacted>)");
    let unlock = recovered.unlock().unwrap();
    let rekey = gw.gateway_recovery_unlock(&unlock).unwrap().rekey_nonce;
    // A replayed proof resets nothing and issues nothing, through the Gateway or direct.
    assert_err(
        gw.raw(
            "POST",
            "/gateway/api/recovery/unlock",
            Some(&serde_json::to_value(&unlock).unwrap()),
        )
        .unwrap(),
        "pin_proof_invalid",
    );
    let r = direct(&s, &id, CustomerPinStep::Unlock, |r| {
        r.factor = CustomerFactor::Questions as i32;
        r.nonce = B64.decode(&unlock.nonce).unwrap();
        r.signature = B64.decode(&unlock.signature).unwrap();
    })
    .await;
    assert_eq!(code(r), "pin_proof_invalid");
    // Nor does a signature by any other key over the same nonce.
    let r = direct(&s, &id, CustomerPinStep::Unlock, |r| {
        r.factor = CustomerFactor::Questions as i32;
        r.nonce = B64.decode(&unlock.nonce).unwrap();
        r.signature = PinKeys::derive(b"x", &s.org_id, &id)
            .sign_unlock(&B64.decode(&unlock.nonce).unwrap())
            .to_vec();
    })
    .await;
    assert_eq!(code(r), "pin_proof_invalid");
    // With the captured rekey nonce the attacker enrolls a pending PIN of its own, but
    // its commit, signed by anything but the questions' key, is refused.
    let mine = pin::Blinded::new(Zeroizing::new([6; 32])).unwrap();
    let pending = direct(&s, &id, CustomerPinStep::Enroll, |r| {
        r.blinded = mine.message.to_vec();
        r.nonce = B64.decode(&rekey).unwrap();
    })
    .await
    .unwrap();
    let keys = mine.finish(&pending.evaluated, &s.org_id, &id).unwrap();
    let new_vk = keys.verify_key();
    for signer in [CustomerFactor::Questions, CustomerFactor::Pin] {
        let forged = attacker.sign_commit_of(Factor::Pin, &pending.nonce, &new_vk);
        let r = direct(&s, &id, CustomerPinStep::Commit, |r| {
            r.nonce = pending.nonce.clone();
            r.verify_key = new_vk.to_vec();
            r.signature = forged.to_vec();
            r.signer = signer as i32;
        })
        .await;
        assert_eq!(code(r), "pin_proof_invalid", "{signer:?}");
    }
    // The rekey nonce was spent by that enrollment: the user's own reset now needs a new
    // recovery (which works, and the old PIN still works until then).
    let (_, req) = PreparedPin::new_pin(NEW_PIN, Some(rekey)).unwrap();
    assert_err(
        gw.raw(
            "POST",
            "/gateway/api/pin/enroll",
            Some(&serde_json::to_value(&req).unwrap()),
        )
        .unwrap(),
        "pin_proof_invalid",
    );
    let (opened, _) = attempt(&gateway(&challenge(&s, &id, "update-pin")), PIN);
    assert_eq!(*opened.unwrap().secret(), *secret);
    let done =
        crate::customers_recovery::reset(&challenge(&s, &id, "reset-pin"), &ANSWERS, NEW_PIN);
    assert_eq!(done.status, "complete");

    // Initialize commits the PIN and the questions in one step at Node 2: questions not
    // signed by the new PIN are refused and leave nothing committed, not even the PIN.
    let fresh = customer(&s);
    let pin_b = pin::Blinded::new(Zeroizing::new([7; 32])).unwrap();
    let p = direct(&s, &fresh, CustomerPinStep::Enroll, |r| {
        r.blinded = pin_b.message.to_vec()
    })
    .await
    .unwrap();
    let pin_keys = pin_b.finish(&p.evaluated, &s.org_id, &fresh).unwrap();
    let rec_b = pin::Blinded::new(Zeroizing::new([8; 32])).unwrap();
    let q = direct(&s, &fresh, CustomerPinStep::Enroll, |r| {
        r.factor = CustomerFactor::Questions as i32;
        r.blinded = rec_b.message.to_vec();
    })
    .await
    .unwrap();
    let rec_keys = rec_b
        .finish_for(Factor::Questions, &q.evaluated, &s.org_id, &fresh)
        .unwrap();
    let commit = |by: &PinKeys| planbok_proto::pb::CustomerQuestionsCommit {
        nonce: q.nonce.clone(),
        verify_key: rec_keys.verify_key().to_vec(),
        signature: by
            .sign_commit_of(Factor::Questions, &q.nonce, &rec_keys.verify_key())
            .to_vec(),
    };
    let bad = commit(&attacker);
    let r = direct(&s, &fresh, CustomerPinStep::Commit, |r| {
        r.nonce = p.nonce.clone();
        r.verify_key = pin_keys.verify_key().to_vec();
        r.questions = Some(bad);
    })
    .await;
    assert_eq!(code(r), "pin_proof_invalid");
    let pins = node2
        .factor_record(FactorTable::Pin, &s.org_id, &fresh)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pins.verify_key, None, "nothing committed");
    for _ in 0..2 {
        // The right one commits both; a repeat (a retry after a lost answer) succeeds.
        let good = commit(&pin_keys);
        direct(&s, &fresh, CustomerPinStep::Commit, |r| {
            r.nonce = p.nonce.clone();
            r.verify_key = pin_keys.verify_key().to_vec();
            r.questions = Some(good);
        })
        .await
        .unwrap();
    }
    let recs = node2
        .factor_record(FactorTable::Questions, &s.org_id, &fresh)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(recs.verify_key, Some(rec_keys.verify_key().to_vec()));

    // Nothing secret anywhere: the answers (as typed and normalized), the hashed input,
    // h, S_c, the tokens.
    let reset_token = GatewayLink::parse(&url).unwrap().token.to_string();
    let init_token = GatewayLink::parse(&init_url).unwrap().token.to_string();
    let mut needles: Vec<(String, Vec<u8>)> = vec![
        ("h".into(), h.to_vec()),
        ("h hex".into(), hex::encode(h.as_slice()).into_bytes()),
        ("input".into(), input.to_vec()),
        ("S_c".into(), secret.to_vec()),
        (
            "S_c hex".into(),
            hex::encode(secret.as_slice()).into_bytes(),
        ),
        ("S_c b64".into(), B64.encode(secret.as_slice()).into_bytes()),
        ("token".into(), init_token.into_bytes()),
        ("reset token".into(), reset_token.into_bytes()),
    ];
    for a in ANSWERS {
        needles.push((format!("answer {a}"), a.as_bytes().to_vec()));
        needles.push((
            format!("normalized {a}"),
            recovery::normalize(a).as_bytes().to_vec(),
        ));
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

on_sqlite_and_postgres!(everything_but_node2_cannot_test_an_answer_or_plant_one);
