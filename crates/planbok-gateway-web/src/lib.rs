//! The Gateway page's client, compiled to WebAssembly: [`Session`]'s steps exported to the
//! page's script with `wasm_bindgen`. Everything that touches a PIN, an answer, a recovery
//! code or the customer secret (Argon2id, the OPRF, HKDF, the wraps, the unlock and permit
//! signatures, the envelope to the organization key, an export's one-time key, the opening
//! of the sealed shares and the rebuilt keys' CSV) runs here, in `planbok-sdk`'s Gateway
//! code — the same code as the CLI's; the script only moves JSON between these steps and
//! `/gateway/api/…`, and words the errors. `scripts/build-gateway-web.sh` builds it into
//! `crates/planbok-server/gateway/pkg/`, which the server embeds.

#![forbid(unsafe_code)]

use wasm_bindgen::prelude::*;

mod session;
pub mod vectors;
pub use session::{Session, StepError, catalog, check_pin};

/// A step's error as a JavaScript `Error` whose `name` is the stable code.
fn js(e: StepError) -> JsValue {
    let err = js_sys::Error::new(&e.message);
    err.set_name(e.code);
    err.into()
}

/// The question catalog, JSON `[{id, text}]`.
#[wasm_bindgen(js_name = questionCatalog)]
pub fn question_catalog() -> String {
    catalog()
}

/// Throws `weak_pin` naming the rule a new PIN breaks.
#[wasm_bindgen(js_name = checkNewPin)]
pub fn check_new_pin(pin: &str) -> Result<(), JsValue> {
    check_pin(pin).map_err(js)
}

/// The cross-check vectors: one [`vectors::VectorInput`] (JSON) in, its
/// [`vectors::VectorOutput`] (JSON) out. Deterministic and bound to no session: it
/// computes from its arguments only (the OPRF blinding factor among them), so that a test
/// can check this module against the native build (`sdk-js/test/vectors/pin.json`). The
/// page never calls it.
#[wasm_bindgen]
pub fn vectors(input: &str) -> Result<String, JsValue> {
    vectors::compute_json(input).map_err(js)
}

/// One challenge's steps (see [`Session`]); every argument and result is JSON text.
#[wasm_bindgen(js_name = Gateway)]
#[derive(Debug)]
pub struct WebSession(Session);

#[wasm_bindgen(js_class = Gateway)]
impl WebSession {
    /// From `GET /gateway/api/challenge`'s `data` (JSON text).
    #[wasm_bindgen(constructor)]
    pub fn new(challenge: &str) -> Result<WebSession, JsValue> {
        Session::new(challenge).map(WebSession).map_err(js)
    }

    /// The challenge, JSON.
    pub fn challenge(&self) -> Result<String, JsValue> {
        self.0.challenge().map_err(js)
    }

    /// See [`Session::enroll_pin`].
    #[wasm_bindgen(js_name = enrollPin)]
    pub fn enroll_pin(&mut self, pin: &str, unlocked: &str) -> Result<String, JsValue> {
        self.0.enroll_pin(pin, unlocked).map_err(js)
    }

    /// See [`Session::enroll_answers`].
    #[wasm_bindgen(js_name = enrollAnswers)]
    pub fn enroll_answers(&mut self, questions: &str, answers: &str) -> Result<String, JsValue> {
        self.0.enroll_answers(questions, answers).map_err(js)
    }

    /// See [`Session::commit_first`].
    #[wasm_bindgen(js_name = commitFirst)]
    pub fn commit_first(&mut self, pin_eval: &str, answers_eval: &str) -> Result<String, JsValue> {
        self.0.commit_first(pin_eval, answers_eval).map_err(js)
    }

    /// See [`Session::commit_update`].
    #[wasm_bindgen(js_name = commitUpdate)]
    pub fn commit_update(&mut self, eval: &str) -> Result<String, JsValue> {
        self.0.commit_update(eval).map_err(js)
    }

    /// See [`Session::commit_reset`].
    #[wasm_bindgen(js_name = commitReset)]
    pub fn commit_reset(&mut self, eval: &str) -> Result<String, JsValue> {
        self.0.commit_reset(eval).map_err(js)
    }

    /// See [`Session::commit_answers`].
    #[wasm_bindgen(js_name = commitAnswers)]
    pub fn commit_answers(&mut self, eval: &str) -> Result<String, JsValue> {
        self.0.commit_answers(eval).map_err(js)
    }

    /// See [`Session::evaluate_pin`].
    #[wasm_bindgen(js_name = evaluatePin)]
    pub fn evaluate_pin(&mut self, pin: &str) -> Result<String, JsValue> {
        self.0.evaluate_pin(pin).map_err(js)
    }

    /// See [`Session::open_pin`].
    #[wasm_bindgen(js_name = openPin)]
    pub fn open_pin(&mut self, eval: &str) -> Result<String, JsValue> {
        self.0.open_pin(eval).map_err(js)
    }

    /// See [`Session::evaluate_answers`].
    #[wasm_bindgen(js_name = evaluateAnswers)]
    pub fn evaluate_answers(&mut self, answers: &str) -> Result<String, JsValue> {
        self.0.evaluate_answers(answers).map_err(js)
    }

    /// See [`Session::open_answers`].
    #[wasm_bindgen(js_name = openAnswers)]
    pub fn open_answers(&mut self, eval: &str) -> Result<String, JsValue> {
        self.0.open_answers(eval).map_err(js)
    }

    /// See [`Session::email_code`].
    #[wasm_bindgen(js_name = emailCode)]
    pub fn email_code(&mut self, typed: &str) -> Result<(), JsValue> {
        self.0.email_code(typed).map_err(js)
    }

    /// See [`Session::email_unlock`].
    #[wasm_bindgen(js_name = emailUnlock)]
    pub fn email_unlock(&mut self, attempt: &str) -> Result<String, JsValue> {
        self.0.email_unlock(attempt).map_err(js)
    }

    /// See [`Session::email_open`].
    #[wasm_bindgen(js_name = emailOpen)]
    pub fn email_open(&mut self, unlocked: &str) -> Result<(), JsValue> {
        self.0.email_open(unlocked).map_err(js)
    }

    /// See [`Session::trust`].
    pub fn trust(&mut self, node_key: &str) -> Result<(), JsValue> {
        self.0.trust(node_key).map_err(js)
    }

    /// See [`Session::prepared`].
    pub fn prepared(&mut self, prepared: &str) -> Result<(), JsValue> {
        self.0.prepared(prepared).map_err(js)
    }

    /// See [`Session::describe`].
    pub fn describe(&self) -> Result<String, JsValue> {
        self.0.describe().map_err(js)
    }

    /// See [`Session::authorize`].
    pub fn authorize(&mut self, now_ms: f64) -> Result<String, JsValue> {
        self.0.authorize(now_ms).map_err(js)
    }

    /// See [`Session::export_csv`]: the CSV text, for the page to offer as a download.
    /// Copied straight into a JavaScript string; the module's copy is zeroized.
    #[wasm_bindgen(js_name = exportCsv)]
    pub fn export_csv(&mut self, operated: &str) -> Result<js_sys::JsString, JsValue> {
        let csv = self.0.export_csv(operated).map_err(js)?;
        Ok(js_sys::JsString::from(csv.as_str()))
    }
}
