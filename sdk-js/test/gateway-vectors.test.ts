// The Gateway page's committed WebAssembly client (crates/planbok-server/gateway/pkg, what
// the server embeds and browsers run) computes exactly what the native client computes:
// Argon2id, the OPRF blind and finalization, the keys derived from them, for every vector
// of test/vectors/pin.json, which is the native build's output (checked natively by
// crates/planbok-gateway-web/src/vectors_tests.rs). Loaded as the page loads it: the
// `--target no-modules` script run in a fresh context, instantiated with the module bytes.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { createContext, runInContext } from "node:vm";

const pkg = new URL("../../../crates/planbok-server/gateway/pkg/", import.meta.url);
const file = JSON.parse(readFileSync(new URL("../../test/vectors/pin.json", import.meta.url), "utf8")) as {
  cases: { name: string; input: Record<string, unknown>; output: Record<string, string> }[];
};

interface GatewayModule {
  vectors(input: string): string;
}

/**
 * The page's script in a context of its own (its own realm, no Node globals), as a browser
 * runs it, instantiated there with the module's bytes.
 */
function gatewayModule(): GatewayModule {
  const script = readFileSync(new URL("planbok_gateway_web.js", pkg), "utf8");
  const context = createContext({
    TextEncoder,
    TextDecoder,
    FinalizationRegistry,
    crypto: globalThis.crypto,
    console,
    moduleBytes: readFileSync(new URL("planbok_gateway_web_bg.wasm", pkg)),
  });
  return runInContext(`${script}\n;wasm_bindgen.initSync({ module: moduleBytes });\nwasm_bindgen`, context, {
    filename: "planbok_gateway_web.js",
  }) as GatewayModule;
}

const gateway = gatewayModule();
const run = (input: Record<string, unknown>) => JSON.parse(gateway.vectors(JSON.stringify(input))) as Record<string, string>;

test("the vectors cover the PIN (two parameter sets), the security answers and the email code", () => {
  assert.deepEqual(
    file.cases.map((c) => c.input["factor"]),
    ["pin", "pin", "questions", "email"],
  );
});

for (const c of file.cases) {
  test(`the Gateway's WebAssembly client computes the native output: ${c.name}`, () => {
    assert.deepEqual(run(c.input), c.output);
  });
}

test("a changed input changes the output or is refused, with a named error", () => {
  const pin = file.cases[0]!;
  // An error of the module's realm: named by its stable code.
  const named = (name: string, message: RegExp) => (e: unknown) => {
    const x = e as { name?: unknown; message?: unknown };
    assert.equal(x.name, name);
    assert.match(String(x.message), message);
    return true;
  };
  // Another PIN, or the evaluation unblinded with another factor than the one it was made
  // for: other keys, and the wrap does not open.
  const blind = `01${String(pin.input["blind"]).slice(2)}`;
  for (const changed of [{ pin: "284914" }, { blind }]) {
    assert.throws(() => run({ ...pin.input, ...changed }), named("invalid_input", /the PIN is wrong/));
  }
  // Another attempt nonce: another signature, the same keys.
  const other = run({ ...pin.input, nonce: "00".repeat(32) });
  assert.notEqual(other["unlockSignature"], pin.output["unlockSignature"]);
  assert.equal(other["verifyKey"], pin.output["verifyKey"]);
  // Parameters under the floor are refused here as at every enrollment.
  assert.throws(() => run({ ...pin.input, params: { version: 1, mKib: 1024, t: 1, p: 1 } }), named("invalid_input", /64 MiB/));
  assert.throws(() => gateway.vectors("{}"), named("invalid_input", /not a vector input/));
});
