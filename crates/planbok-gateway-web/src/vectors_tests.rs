//! The committed vectors (`sdk-js/test/vectors/pin.json`) are this crate's native output:
//! each case's evaluation is a real one by its OPRF key, [`compute`] gives its outputs, and
//! the page's own [`Session`] — blinding at random, as it does for a user — reaches the
//! same keys. `PLANBOK_WRITE_VECTORS=1` writes the file anew (the wraps are fresh each
//! time; everything else is fixed by the inputs below).

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test: a panic is the failure report"
)]

use base64::Engine as _;
use planbok_envelope::pin::{OprfKey, unlock_message_for, verify_signature};
use planbok_envelope::recovery::Question;
use sha2::{Digest as _, Sha256};

use super::*;
use crate::session::Session;

const PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../sdk-js/test/vectors/pin.json"
);
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    about: String,
    cases: Vec<Case>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Case {
    name: String,
    /// Node 2's OPRF key the evaluation was made with (`pin`, `questions`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    oprf_key: Option<String>,
    input: VectorInput,
    output: VectorOutput,
}

/// 32 bytes named by `label`, as a canonical nonzero scalar (top nibble cleared: under
/// the group order): a blinding factor or an OPRF key.
fn scalar(label: &str) -> [u8; 32] {
    let mut s: [u8; 32] = Sha256::digest(label.as_bytes()).into();
    s[31] &= 0x0f;
    s
}

fn bytes(label: &str, n: usize) -> Vec<u8> {
    Sha256::digest(label.as_bytes())[..n].to_vec()
}

/// The inputs, without the evaluation and the wrap (made by [`generate`]).
fn inputs() -> Vec<(String, VectorInput)> {
    let base = |factor: &str, n: &str| VectorInput {
        factor: factor.into(),
        org_id: "3f1c2a9e-0d4b-4c7a-9e51-7b2d8c6a0f13".into(),
        customer_id: format!("cus_vectors_{n}"),
        pin: None,
        questions: None,
        answers: None,
        code: None,
        salt: Some(hex::encode(bytes(&format!("salt {n}"), 16))),
        params: Some(KdfParams::V1),
        blind: Some(hex::encode(scalar(&format!("blind {n}")))),
        evaluated: None,
        nonce: hex::encode(bytes(&format!("nonce {n}"), 32)),
        wrapped: String::new(),
    };
    let q = |id: Option<&str>, text: Option<&str>| VectorQuestion {
        id: id.map(Into::into),
        text: text.map(Into::into),
    };
    vec![
        (
            "a PIN, the parameters of every enrollment (64 MiB, 3 passes, 1 lane)".into(),
            VectorInput {
                pin: Some("284913".into()),
                ..base("pin", "1")
            },
        ),
        (
            "a PIN under raised parameters (65 MiB, 4 passes, 2 lanes)".into(),
            VectorInput {
                pin: Some("730518".into()),
                params: Some(KdfParams {
                    version: 1,
                    m_kib: 65 * 1024,
                    t: 4,
                    p: 2,
                }),
                ..base("pin", "2")
            },
        ),
        (
            "security answers: catalog and custom questions, answers normalized (NFKC, lowercase, spaces)".into(),
            VectorInput {
                questions: Some(vec![
                    q(Some("first_pet"), None),
                    q(Some("birth_city"), None),
                    q(None, Some("Ｗhat was my  grandmother's   maiden name?")),
                ]),
                answers: Some(vec![
                    "  Rex\u{00a0} the  Dog ".into(),
                    "ＭÜNCHEN".into(),
                    "Straße ǅemal".into(),
                ]),
                ..base("questions", "3")
            },
        ),
        (
            "an emailed recovery code, typed in lowercase with spaces (no Argon2id, no OPRF)".into(),
            VectorInput {
                code: Some(
                    EmailCode::from_bytes(&bytes("code 4", 20))
                        .unwrap()
                        .display()
                        .to_lowercase()
                        .replace('-', " "),
                ),
                salt: None,
                params: None,
                blind: None,
                ..base("email", "4")
            },
        ),
    ]
}

/// The file: each case's evaluation by its OPRF key, a wrap of its secret, [`compute`]'s
/// outputs.
fn generate() -> File {
    let cases = inputs()
        .into_iter()
        .enumerate()
        .map(|(i, (name, mut input))| {
            let secret: [u8; 32] = bytes(&format!("customer secret {i}"), 32)
                .try_into()
                .unwrap();
            let factor = match input.factor.as_str() {
                "pin" => Factor::Pin,
                "questions" => Factor::Questions,
                _ => Factor::Email,
            };
            let (oprf_key, keys) = if factor == Factor::Email {
                let code = EmailCode::parse(input.code.as_deref().unwrap()).unwrap();
                (None, code.keys(&input.org_id, &input.customer_id))
            } else {
                let key_bytes = scalar(&format!("oprf key {i}"));
                let key = OprfKey::from_bytes(&key_bytes).unwrap();
                let blinded = blinded_of(&input);
                let evaluated = key.evaluate(&blinded.message).unwrap();
                input.evaluated = Some(hex::encode(evaluated));
                let keys = blinded
                    .finish_for(factor, &evaluated, &input.org_id, &input.customer_id)
                    .unwrap();
                (Some(hex::encode(key_bytes)), keys)
            };
            input.wrapped = hex::encode(keys.wrap(&secret).unwrap());
            let output = compute(&input).unwrap();
            assert_eq!(output.secret, hex::encode(secret));
            Case {
                name,
                oprf_key,
                input,
                output,
            }
        })
        .collect();
    File {
        about: "Generated by crates/planbok-gateway-web/src/vectors_tests.rs \
                (PLANBOK_WRITE_VECTORS=1 cargo test -p planbok-gateway-web vectors): the native \
                output of the Gateway client's PIN, security-answer and email-code math \
                (planbok-envelope) for fixed inputs, the OPRF blinding factor included. The \
                sdk-js test gateway-vectors.test.ts checks the committed WebAssembly module \
                (crates/planbok-server/gateway/pkg) against it. Bytes are hex."
            .into(),
        cases,
    }
}

/// The blinded input of a `pin` or `questions` case, step by step.
fn blinded_of(input: &VectorInput) -> Blinded {
    let hashed: Zeroizing<Vec<u8>> = match input.factor.as_str() {
        "pin" => Zeroizing::new(input.pin.as_deref().unwrap().as_bytes().to_vec()),
        _ => {
            let qs: Vec<Question> = input
                .questions
                .as_deref()
                .unwrap()
                .iter()
                .map(|q| Question {
                    id: q.id.clone(),
                    custom: q.text.clone().filter(|_| q.id.is_none()),
                    hint: None,
                })
                .collect();
            let answers: Vec<&str> = input
                .answers
                .as_deref()
                .unwrap()
                .iter()
                .map(String::as_str)
                .collect();
            recovery::answers_input(&qs, &answers).unwrap()
        }
    };
    let salt = hex::decode(input.salt.as_deref().unwrap()).unwrap();
    let h = pin::hash_pin(&hashed, &salt, &input.params.unwrap()).unwrap();
    let blind: [u8; 32] = hex::decode(input.blind.as_deref().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    Blinded::with_fixed_blind_for_vectors(h, &blind).unwrap()
}

/// The unlock request the page's [`Session`] makes for `case` with a random blind, Node 2
/// played by the case's OPRF key: its signature, hex.
fn session_unlock(case: &Case) -> String {
    let i = &case.input;
    let b64 = |h: &str| B64.encode(hex::decode(h).unwrap());
    let params = serde_json::to_value(i.params).unwrap();
    let mut challenge = serde_json::json!({
        "challengeId": "ch_vectors",
        "type": "reset_pin",
        "organizationId": i.org_id,
        "customerId": i.customer_id,
        "expiresAt": "2030-01-01T00:00:00Z",
        "pin": null,
        "returnUrl": null,
    });
    let evaluate = |blinded_req: &str| {
        let req: serde_json::Value = serde_json::from_str(blinded_req).unwrap();
        let blinded = B64.decode(req["blinded"].as_str().unwrap()).unwrap();
        let key =
            OprfKey::from_bytes(&hex::decode(case.oprf_key.as_deref().unwrap()).unwrap()).unwrap();
        serde_json::json!({
            "evaluated": B64.encode(key.evaluate(&blinded).unwrap()),
            "nonce": b64(&i.nonce),
            "attemptsLeft": 4,
        })
        .to_string()
    };
    let unlock = match i.factor.as_str() {
        "pin" => {
            challenge["type"] = "update_pin".into();
            challenge["pin"] = serde_json::json!({
                "salt": b64(i.salt.as_deref().unwrap()),
                "params": params,
                "wrapped": b64(&i.wrapped),
            });
            let mut s = Session::new(&challenge.to_string()).unwrap();
            let req = s.evaluate_pin(i.pin.as_deref().unwrap()).unwrap();
            s.open_pin(&evaluate(&req)).unwrap()
        }
        "questions" => {
            challenge["recovery"] = serde_json::json!({
                "salt": b64(i.salt.as_deref().unwrap()),
                "params": params,
                "wrapped": b64(&i.wrapped),
                "questions": i.questions.as_deref().unwrap().iter()
                    .map(|q| serde_json::json!({"id": q.id, "text": q.text, "hint": null}))
                    .collect::<Vec<_>>(),
            });
            let mut s = Session::new(&challenge.to_string()).unwrap();
            let answers = serde_json::to_string(i.answers.as_deref().unwrap()).unwrap();
            let req = s.evaluate_answers(&answers).unwrap();
            s.open_answers(&evaluate(&req)).unwrap()
        }
        _ => {
            challenge["recoveryMethod"] = "email".into();
            let mut s = Session::new(&challenge.to_string()).unwrap();
            s.email_code(i.code.as_deref().unwrap()).unwrap();
            let attempt = serde_json::json!({"nonce": b64(&i.nonce), "attemptsLeft": 4});
            s.email_unlock(&attempt.to_string()).unwrap()
        }
    };
    let unlock: serde_json::Value = serde_json::from_str(&unlock).unwrap();
    assert_eq!(unlock["nonce"].as_str().unwrap(), b64(&i.nonce));
    hex::encode(B64.decode(unlock["signature"].as_str().unwrap()).unwrap())
}

#[test]
fn the_committed_vectors_are_the_native_output() {
    if std::env::var_os("PLANBOK_WRITE_VECTORS").is_some() {
        let text = serde_json::to_string_pretty(&generate()).unwrap();
        std::fs::write(PATH, format!("{text}\n")).unwrap();
    }
    let file: File = serde_json::from_str(&std::fs::read_to_string(PATH).expect(PATH)).unwrap();
    let factors: Vec<&str> = file.cases.iter().map(|c| c.input.factor.as_str()).collect();
    assert_eq!(factors, ["pin", "pin", "questions", "email"]);
    let fresh = inputs();
    assert_eq!(file.cases.len(), fresh.len());

    for (case, (name, input)) in file.cases.iter().zip(fresh) {
        let n = &case.name;
        assert_eq!(&name, n, "the file's cases are the inputs above, in order");
        // The inputs are the ones written here (the file adds only the evaluation and wrap).
        let mut committed = case.input.clone();
        committed.evaluated = None;
        committed.wrapped = String::new();
        assert_eq!(
            serde_json::to_value(&committed).unwrap(),
            serde_json::to_value(&input).unwrap(),
            "{n}"
        );

        // The evaluation is Node 2's, by the case's key, of the blinded element.
        if let Some(k) = &case.oprf_key {
            let key = OprfKey::from_bytes(&hex::decode(k).unwrap()).unwrap();
            let blinded = blinded_of(&case.input);
            assert_eq!(
                hex::encode(blinded.message),
                case.output.blinded.clone().unwrap()
            );
            let eval = key.evaluate(&blinded.message).unwrap();
            assert_eq!(Some(hex::encode(eval)), case.input.evaluated, "{n}");
        }

        // This crate, natively, computes the committed outputs, also through JSON.
        assert_eq!(compute(&case.input).unwrap(), case.output, "{n}");
        let json = compute_json(&serde_json::to_string(&case.input).unwrap()).unwrap();
        assert_eq!(
            serde_json::from_str::<VectorOutput>(&json).unwrap(),
            case.output,
            "{n}"
        );

        // The page's own steps, blinding at random as they do for a user, reach the same
        // keys: the same unlock signature (Ed25519 is deterministic).
        assert_eq!(session_unlock(case), case.output.unlock_signature, "{n}");

        // And Node 2 accepts that signature for this factor only.
        let factor = match case.input.factor.as_str() {
            "pin" => Factor::Pin,
            "questions" => Factor::Questions,
            _ => Factor::Email,
        };
        let nonce = hex::decode(&case.input.nonce).unwrap();
        let vk = hex::decode(&case.output.verify_key).unwrap();
        let sig = hex::decode(&case.output.unlock_signature).unwrap();
        let (org, cus) = (&case.input.org_id, &case.input.customer_id);
        assert!(verify_signature(
            &vk,
            &unlock_message_for(factor, org, cus, &nonce),
            &sig
        ));
        let other = if factor == Factor::Pin {
            Factor::Questions
        } else {
            Factor::Pin
        };
        assert!(!verify_signature(
            &vk,
            &unlock_message_for(other, org, cus, &nonce),
            &sig
        ));
    }
}

#[test]
fn a_changed_input_changes_the_output_or_is_refused() {
    let file: File = serde_json::from_str(&std::fs::read_to_string(PATH).expect(PATH)).unwrap();
    let pin = &file.cases[0];
    // Another evaluation: other keys, so the wrap does not open.
    let mut i = pin.input.clone();
    let mut e = hex::decode(i.evaluated.as_deref().unwrap()).unwrap();
    let other = OprfKey::from_bytes(&scalar("another key"))
        .unwrap()
        .evaluate(&hex::decode(pin.output.blinded.as_deref().unwrap()).unwrap())
        .unwrap();
    e.copy_from_slice(&other);
    i.evaluated = Some(hex::encode(e));
    assert_eq!(compute(&i).unwrap_err().message, "vector: the PIN is wrong");
    // Another PIN, another salt: another hash.
    for change in [
        |i: &mut VectorInput| i.pin = Some("284914".into()),
        |i: &mut VectorInput| i.salt = Some("00".repeat(16)),
    ] {
        let mut i = pin.input.clone();
        change(&mut i);
        assert!(compute(&i).is_err());
    }
    // Parameters under the floor are refused, here as in every enrollment.
    let mut i = pin.input.clone();
    i.params = Some(KdfParams {
        t: 2,
        ..KdfParams::V1
    });
    assert!(compute(&i).unwrap_err().message.contains("passes"));
    assert!(compute_json("{}").is_err());
}
