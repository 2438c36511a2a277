// The Gateway page: shows one state at a time and moves JSON between the WebAssembly
// client (`wasm_bindgen`, built from crates/planbok-gateway-web) and /gateway/api/….
// No cryptography happens here: PINs, answers and codes go straight into the module, which
// returns the requests to send. The challenge token is read from the URL's fragment (never
// sent to a server by the browser) and removed from the address bar at once.
"use strict";

(function () {
  const TOKEN_HEADER = "PLANBOK-X-CHALLENGE-TOKEN";
  const $ = (sel) => document.querySelector(sel);
  const meta = (name) => document.querySelector(`meta[name="${name}"]`);

  let token = "";
  let session = null;
  let challenge = null;

  // ---- page states --------------------------------------------------------------

  function show(state) {
    for (const el of document.querySelectorAll("[data-state]")) {
      el.hidden = el.dataset.state !== state;
    }
    const shown = document.querySelector(`[data-state="${state}"]`);
    const first = shown && shown.querySelector("input, select");
    if (first) {
      first.focus();
    } else {
      $("#title").focus();
    }
  }

  function working(text) {
    $("#working-text").textContent = text;
    show("working");
    // Let the browser paint before the module's Argon2id holds the thread.
    return new Promise((resolve) => setTimeout(resolve, 30));
  }

  function problem(state, text) {
    show(state);
    const p = document.querySelector(`[data-state="${state}"] [data-problem]`);
    p.textContent = text;
  }

  function clearProblems() {
    for (const p of document.querySelectorAll("[data-problem]")) p.textContent = "";
  }

  function returnLink(el, status) {
    const url = challenge && challenge.returnUrl;
    if (!url) return null;
    const target = new URL(url);
    target.searchParams.set("challengeId", challenge.challengeId);
    target.searchParams.set("status", status);
    el.href = target.toString();
    el.hidden = false;
    return target.toString();
  }

  function fatal(text, status) {
    $("#fatal-text").textContent = text;
    returnLink($("#fatal-return"), status || "failed");
    show("error");
  }

  function done(text) {
    $("#done-text").textContent = text;
    const target = returnLink($("#done-return"), "complete");
    show("done");
    if (target) setTimeout(() => window.location.assign(target), 1500);
  }

  // ---- the server ---------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  async function api(method, path, body) {
    const headers = { [TOKEN_HEADER]: token };
    const init = { method, headers, cache: "no-store", credentials: "omit" };
    if (body !== undefined) {
      headers["content-type"] = "application/json";
      init.body = body;
    }
    const res = await fetch(`/gateway/api/${path}`, init);
    let json = null;
    try {
      json = await res.json();
    } catch (_) {
      throw new ApiError(res.status, "bad_response", `The server answered ${res.status}.`);
    }
    if (!res.ok) {
      throw new ApiError(res.status, json.code || "error", json.message || `error ${res.status}`);
    }
    return JSON.stringify(json.data);
  }

  // ---- errors in words ----------------------------------------------------------

  function attempts(n) {
    return n === "1" ? "1 attempt left" : `${n} attempts left`;
  }

  /// The words for an error; `state`: where the user can try again (or null: final).
  function explain(e) {
    if (e instanceof ApiError) {
      switch (e.code) {
        case "customer_locked":
          return ["Too many wrong PINs: this wallet is locked. Reset your PIN with your security questions to unlock it.", null, "failed"];
        case "recovery_locked":
          return ["Too many wrong answers: recovery is locked. Contact support.", null, "failed"];
        case "challenge_not_pending":
          return ["This request has already been completed or has expired.", null, "expired"];
        case "unauthorized":
          return ["This link has expired or was already used. Start again from the app.", null, "expired"];
        case "pin_proof_invalid":
          return ["The code is not right.", "retry", null];
        case "rate_limited":
          return ["Too many requests. Wait a moment and try again.", "retry", null];
        default:
          return [e.message, null, "failed"];
      }
    }
    switch (e && e.name) {
      case "wrong_pin":
        return [`Wrong PIN: ${attempts(e.message)} before the wallet is locked.`, "retry", null];
      case "wrong_answers":
        return [`Those answers are not right: ${attempts(e.message)} before recovery is locked.`, "retry", null];
      case "weak_pin":
      case "invalid_input":
      case "wrong_code":
        return [e.message, "retry", null];
      case "org_key_refused":
        return ["This request does not carry a key this page can verify, so it was not approved. Nothing was signed.", null, "failed"];
      default:
        return [(e && e.message) || String(e), null, "failed"];
    }
  }

  /// Runs `step`; on an error, words it and shows it on `state` (or the error page).
  async function attempt(state, step) {
    clearProblems();
    try {
      await step();
    } catch (e) {
      const [text, retry, status] = explain(e);
      if (retry) {
        const where = e.state || state;
        // A refused PIN is not left in the field.
        for (const input of document.querySelectorAll(`[data-state="${where}"] input[type=password]`)) {
          input.value = "";
        }
        problem(where, text);
      } else {
        fatal(text, status);
      }
    }
  }

  // ---- inputs -------------------------------------------------------------------

  function readNewPin() {
    const pin = $("#new-pin").value;
    const again = $("#new-pin-again").value;
    wasm_bindgen.checkNewPin(pin);
    if (pin !== again) {
      const e = new Error("The two PINs are not the same.");
      e.name = "invalid_input";
      throw e;
    }
    return pin;
  }

  function liveRule() {
    const pin = $("#new-pin").value;
    const rule = $("#new-pin-rule");
    if (pin.length < 6) {
      rule.textContent = "6 digits; not a sequence, a repeat or a common PIN.";
      return;
    }
    try {
      wasm_bindgen.checkNewPin(pin);
      rule.textContent = "This PIN is acceptable.";
    } catch (e) {
      rule.textContent = e.message;
    }
  }

  function questionRows() {
    const catalog = JSON.parse(wasm_bindgen.questionCatalog());
    const rows = $("#question-rows");
    rows.replaceChildren();
    for (let i = 1; i <= 3; i++) {
      const set = document.createElement("fieldset");
      const legend = document.createElement("legend");
      legend.textContent = `Question ${i}`;
      set.append(legend);
      const sel = field(set, "select", `q${i}`, "Question");
      for (const q of catalog) sel.append(new Option(q.text, q.id));
      sel.append(new Option("Write my own question", "custom"));
      sel.selectedIndex = i - 1;
      const custom = field(set, "input", `q${i}-custom`, "Your question");
      custom.type = "text";
      custom.parentElement.hidden = true;
      sel.addEventListener("change", () => {
        custom.parentElement.hidden = sel.value !== "custom";
      });
      const answer = field(set, "input", `a${i}`, "Answer");
      answer.type = "text";
      answer.autocomplete = "off";
      answer.spellcheck = false;
      const hint = field(set, "input", `h${i}`, "Hint (optional)");
      hint.type = "text";
      rows.append(set);
    }
  }

  function field(parent, tag, id, text) {
    const wrap = document.createElement("div");
    const label = document.createElement("label");
    label.htmlFor = id;
    label.textContent = text;
    const el = document.createElement(tag);
    el.id = id;
    el.name = id;
    wrap.append(label, el);
    parent.append(wrap);
    return el;
  }

  function readQuestions() {
    const questions = [];
    const answers = [];
    for (let i = 1; i <= 3; i++) {
      const id = $(`#q${i}`).value;
      const hint = $(`#h${i}`).value.trim();
      const q = id === "custom" ? { text: $(`#q${i}-custom`).value.trim() } : { id };
      if (hint) q.hint = hint;
      questions.push(q);
      answers.push($(`#a${i}`).value);
    }
    return [JSON.stringify(questions), JSON.stringify(answers)];
  }

  function answerRows() {
    const rows = $("#answer-rows");
    rows.replaceChildren();
    const catalog = JSON.parse(wasm_bindgen.questionCatalog());
    const enrolled = challenge.recovery ? challenge.recovery.questions : [];
    enrolled.forEach((q, i) => {
      const text = q.text || (catalog.find((c) => c.id === q.id) || {}).text || q.id;
      const input = field(rows, "input", `ra${i + 1}`, text);
      input.type = "text";
      input.autocomplete = "off";
      input.spellcheck = false;
      if (q.hint) {
        const hint = document.createElement("p");
        hint.className = "hint";
        hint.id = `ra${i + 1}-hint`;
        hint.textContent = `Hint: ${q.hint}`;
        input.setAttribute("aria-describedby", hint.id);
        input.parentElement.append(hint);
      }
    });
  }

  function readAnswers() {
    const n = challenge.recovery ? challenge.recovery.questions.length : 0;
    const answers = [];
    for (let i = 1; i <= n; i++) answers.push($(`#ra${i}`).value);
    return JSON.stringify(answers);
  }

  // ---- flows --------------------------------------------------------------------

  /// What happens when the form of a state is submitted.
  const flows = {};

  function startNewPin(title, next) {
    $("#new-pin-title").textContent = title;
    $("#new-pin").value = "";
    $("#new-pin-again").value = "";
    liveRule();
    flows["new-pin"] = next;
    show("new-pin");
  }

  /// Enrolls the new PIN (after `unlocked`, the rekey permission) and commits it.
  async function enrollAndCommit(pin, unlocked, commit) {
    await working("Setting your new PIN…");
    const evaluated = await api("POST", "pin/enroll", session.enrollPin(pin, unlocked));
    await api("POST", "pin/commit", commit(evaluated));
  }

  /// The current PIN, counted by Node 2; the unlock request it produced.
  async function openPin(pin, state) {
    await working("Checking your PIN…");
    const evaluated = await api("POST", "pin/evaluate", session.evaluatePin(pin));
    return inState(state, () => session.openPin(evaluated));
  }

  /// Runs a step whose failure belongs to the form `state` (where it is tried again).
  function inState(state, step) {
    try {
      return step();
    } catch (e) {
      e.state = state;
      throw e;
    } finally {
      show(state);
    }
  }

  function initialize() {
    startNewPin("Choose a PIN", async () => {
      const pin = readNewPin();
      questionRows();
      flows.questions = async () => {
        const [questions, answers] = readQuestions();
        const answersReq = session.enrollAnswers(questions, answers);
        const pinReq = session.enrollPin(pin, "");
        await working("Protecting your wallet…");
        const pinEval = await api("POST", "pin/enroll", pinReq);
        const answersEval = await api("POST", "recovery/enroll", answersReq);
        await api("POST", "pin/commit", session.commitFirst(pinEval, answersEval));
        done("Your PIN and security questions are set.");
      };
      show("questions");
    });
  }

  function updatePin() {
    flows["current-pin"] = async () => {
      const current = $("#current-pin").value;
      startNewPin("Choose a new PIN", async () => {
        const pin = readNewPin();
        // The old PIN is tried only once the new one passes the rules.
        const unlock = await openPin(current, "current-pin");
        const unlocked = await api("POST", "pin/unlock", unlock);
        await enrollAndCommit(pin, unlocked, (ev) => session.commitUpdate(ev));
        done("Your PIN has been changed.");
      });
    };
    show("current-pin");
  }

  function changeQuestions() {
    flows["current-pin"] = async () => {
      const unlock = await openPin($("#current-pin").value, "current-pin");
      await api("POST", "pin/unlock", unlock);
      questionRows();
      flows.questions = async () => {
        const [questions, answers] = readQuestions();
        const req = session.enrollAnswers(questions, answers);
        await working("Saving your security questions…");
        const evaluated = await api("POST", "recovery/enroll", req);
        await api("POST", "recovery/commit", session.commitAnswers(evaluated));
        done("Your security questions have been changed.");
      };
      show("questions");
    };
    show("current-pin");
  }

  function resetPin() {
    if (challenge.recoveryMethod === "email") {
      flows["email-code"] = async () => {
        session.emailCode($("#email-code").value);
        startNewPin("Choose a new PIN", async () => {
          const pin = readNewPin();
          await working("Checking the code…");
          const counted = await api("POST", "email/evaluate");
          const unlock = session.emailUnlock(counted);
          let unlocked;
          try {
            unlocked = await api("POST", "email/unlock", unlock);
          } catch (e) {
            if (e.code === "pin_proof_invalid") {
              const left = JSON.parse(counted).attemptsLeft;
              const err = new Error(`The code is not right: ${attempts(String(left))} before recovery is locked.`);
              err.name = "invalid_input";
              err.state = "email-code";
              throw err;
            }
            throw e;
          }
          session.emailOpen(unlocked);
          await enrollAndCommit(pin, unlocked, (ev) => session.commitReset(ev));
          done("Your PIN has been reset.");
        });
      };
      show("email-code");
      return;
    }
    answerRows();
    flows.answer = async () => {
      const req = session.evaluateAnswers(readAnswers());
      await working("Checking your answers…");
      const evaluated = await api("POST", "recovery/evaluate", req);
      const unlock = inState("answer", () => session.openAnswers(evaluated));
      const unlocked = await api("POST", "recovery/unlock", unlock);
      startNewPin("Choose a new PIN", async () => {
        const pin = readNewPin();
        await enrollAndCommit(pin, unlocked, (ev) => session.commitReset(ev));
        done("Your PIN has been reset.");
      });
    };
    show("answer");
  }

  const TITLES = {
    wallet_create: "Create wallets",
    sign_message: "Sign a message",
    sign_typed_data: "Sign typed data",
    sign_transaction: "Sign a transaction",
    sign_delegate_action: "Sign a delegate action",
    transfer: "Send a transfer",
    contract_execution: "Call a contract",
    cancel_transaction: "Cancel a transaction",
    accelerate_transaction: "Speed up a transaction",
    export_private_keys: "Export private keys",
  };

  /// The CSV the module wrote, offered as a file (a Blob URL, revoked when the page
  /// goes); once it is saved, back to the app.
  function exported(csv, count) {
    const file = new Blob([csv], { type: "text/csv" });
    const url = URL.createObjectURL(file);
    const link = $("#exported-file");
    link.href = url;
    link.download = `private-keys-${challenge.challengeId}.csv`;
    $("#exported-text").textContent =
      `The private keys of ${count} wallet(s) are ready. Save the file and keep it secret: anyone who has it controls these wallets.`;
    const target = returnLink($("#exported-return"), "complete");
    window.addEventListener("pagehide", () => URL.revokeObjectURL(url));
    link.addEventListener("click", () => {
      if (target) setTimeout(() => window.location.assign(target), 1500);
    });
    show("exported");
    link.focus();
  }

  function exportKeys() {
    const lines = $("#export-lines");
    lines.replaceChildren();
    for (const line of JSON.parse(session.describe())) {
      const li = document.createElement("li");
      li.textContent = line;
      lines.append(li);
    }
    flows.export = async () => {
      await openPin($("#export-pin").value, "export");
      const body = session.authorize(Date.now());
      await working("Rebuilding your keys on this device…");
      const operated = await api("POST", "operation", body);
      exported(session.exportCsv(operated), challenge.operation.export.wallets.length);
    };
    show("export");
  }

  async function operation() {
    session.trust(meta("planbok-node-key").content);
    const op = challenge.operation;
    if (op.export) return exportKeys();
    if (op.transaction) {
      await working("Preparing the transaction…");
      session.prepared(await api("POST", "transaction/prepare"));
    }
    $("#approve-title").textContent = TITLES[challenge.type] || "Approve";
    const details = $("#approve-details");
    details.replaceChildren();
    const row = (k, v) => {
      const dt = document.createElement("dt");
      dt.textContent = k;
      const dd = document.createElement("dd");
      dd.textContent = v;
      details.append(dt, dd);
    };
    row("Request", challenge.challengeId);
    row("Expires", new Date(challenge.expiresAt).toLocaleString());
    const lines = $("#approve-lines");
    lines.replaceChildren();
    for (const line of JSON.parse(session.describe())) {
      const li = document.createElement("li");
      li.textContent = line;
      lines.append(li);
    }
    flows.approve = async () => {
      await openPin($("#approve-pin").value, "approve");
      const body = session.authorize(Date.now());
      await working("Approving…");
      await api("POST", "operation", body);
      done("Approved.");
    };
    show("approve");
  }

  // ---- the organization's look --------------------------------------------------

  const COLOUR = /^#[0-9a-fA-F]{6}$/;

  /// Shows the organization's name, colours and logo (checked by the server when they
  /// were set; the colours again here, as they go into the page's style).
  function brand(org) {
    if (!org) return;
    $("#brand-name").textContent = org.name;
    document.title = `${org.name} — Wallet Gateway`;
    const style = document.documentElement.style;
    if (COLOUR.test(org.primaryColor || "")) style.setProperty("--accent", org.primaryColor);
    if (COLOUR.test(org.backgroundColor || "")) style.setProperty("--bg", org.backgroundColor);
    if (org.logo && (org.logo.mediaType === "image/png" || org.logo.mediaType === "image/jpeg")) {
      const bytes = Uint8Array.from(atob(org.logo.data), (c) => c.charCodeAt(0));
      const img = $("#brand-logo");
      img.src = URL.createObjectURL(new Blob([bytes], { type: org.logo.mediaType }));
      img.alt = `${org.name} logo`;
      img.hidden = false;
    }
  }

  // ---- start --------------------------------------------------------------------

  async function start() {
    const params = new URLSearchParams(window.location.search);
    token = window.location.hash.slice(1);
    const id = params.get("challenge");
    // The token stays in memory only: out of the address bar and the history.
    history.replaceState(null, "", window.location.pathname + window.location.search);
    if (!token || !id) {
      fatal("This link is incomplete. Open it again from the app.", "failed");
      return;
    }
    const wasm = meta("planbok-wasm");
    await wasm_bindgen({
      module_or_path: fetch(wasm.content, { integrity: wasm.dataset.integrity }),
    });
    const data = await api("GET", "challenge");
    session = new wasm_bindgen.Gateway(data);
    challenge = JSON.parse(session.challenge());
    if (challenge.challengeId !== id) {
      fatal("This link opens another request than it names.", "failed");
      return;
    }
    brand(challenge.organization);
    for (const form of document.querySelectorAll("form[data-state]")) {
      form.addEventListener("submit", (ev) => {
        ev.preventDefault();
        const state = form.dataset.state;
        if (flows[state]) attempt(state, flows[state]);
      });
    }
    $("#new-pin").addEventListener("input", liveRule);
    for (const decline of document.querySelectorAll("[data-action=decline]")) {
      decline.addEventListener("click", () => {
        fatal("You declined this request. Nothing was signed or exported.", "declined");
      });
    }
    switch (challenge.type) {
      case "initialize":
        return initialize();
      case "update_pin":
        return updatePin();
      case "recovery":
        return changeQuestions();
      case "reset_pin":
        return resetPin();
      default:
        if (challenge.operation) return operation();
        fatal(`This page cannot complete a “${challenge.type}” request.`, "failed");
    }
  }

  attempt("error", start);
})();
