// The REST client against a fake fetch: what it sends, how it reads envelopes and errors.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { API_KEY_HEADER, PlanbokClient, PlanbokError } from "../src/index.js";
import { err, fakeFetch, ok } from "./fake.js";

const KEY = "pbk_key_0123_topsecretvalue";
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

function client(handler: Parameters<typeof fakeFetch>[0]) {
  const f = fakeFetch(handler);
  return { c: new PlanbokClient({ baseUrl: "http://planbok.test:8080/", apiKey: KEY, fetch: f.fetch }), seen: f.seen };
}

async function rejects(p: Promise<unknown>, want: { status: number; code: string }): Promise<PlanbokError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof PlanbokError, `not a PlanbokError: ${String(e)}`);
    assert.equal(e.status, want.status);
    assert.equal(e.code, want.code);
    return e;
  }
  assert.fail("did not reject");
}

test("the API key goes in PLANBOK-X-API-KEY; JSON bodies with a content type", async () => {
  const { c, seen } = client(() => ok({ walletSet: { id: "ws-1", name: "treasury" } }, 201));
  const set = await c.createWalletSet({ name: "treasury" });
  assert.deepEqual(set, { id: "ws-1", name: "treasury" });
  const r = seen[0]!;
  assert.equal(r.method, "POST");
  assert.equal(r.url.href, "http://planbok.test:8080/v2/organization/wallet-sets");
  assert.equal(r.headers.get(API_KEY_HEADER), KEY);
  assert.equal(r.headers.get("authorization"), null);
  assert.equal(r.headers.get("content-type"), "application/json");
  const body = r.body as Record<string, unknown>;
  assert.equal(body["name"], "treasury");
  assert.match(String(body["idempotencyKey"]), UUID_V4);
});

test("idempotency keys: a fresh UUID v4 per call unless given", async () => {
  const { c, seen } = client(() => ok({ signature: "0x" }));
  await c.signMessage({ walletId: "w", message: "a" });
  await c.signMessage({ walletId: "w", message: "a" });
  await c.signMessage({ walletId: "w", message: "a", idempotencyKey: "f0f0f0f0-0000-4000-8000-000000000000" });
  const keys = seen.map((s) => (s.body as Record<string, unknown>)["idempotencyKey"]);
  assert.notEqual(keys[0], keys[1]);
  assert.equal(keys[2], "f0f0f0f0-0000-4000-8000-000000000000");
  assert.equal(seen[0]!.url.pathname, "/v2/organization/sign/message");
});

test("path parameters are encoded, query values without undefined", async () => {
  const { c, seen } = client(() => ok({ items: [], page: 1, limit: 5, total: 0 }));
  const page = await c.listWallets({ walletSetId: "a/b", blockchain: undefined, limit: 5 });
  assert.deepEqual(page, { items: [], page: 1, limit: 5, total: 0 });
  assert.equal(seen[0]!.url.pathname, "/v2/wallets");
  assert.equal(seen[0]!.url.search, "?walletSetId=a%2Fb&limit=5");
  assert.equal(seen[0]!.body, undefined);
  assert.equal(seen[0]!.headers.get("content-type"), null);

  await c.getWallet("x y/../z");
  assert.equal(seen[1]!.url.pathname, "/v2/wallets/x%20y%2F..%2Fz");
  await c.request("GET", "/v2/webhooks/{id}/deliveries", undefined, { params: { id: "wh_1" }, query: { status: "failed" } });
  assert.equal(seen[2]!.url.href, "http://planbok.test:8080/v2/webhooks/wh_1/deliveries?status=failed");
  await assert.rejects(c.getWallet(""), TypeError);
});

test("every typed method hits its route", async () => {
  const { c, seen } = client(() => ok({ wallets: [], walletSet: {} }));
  const calls: [() => Promise<unknown>, string, string][] = [
    [() => c.organization(), "GET", "/v2/organization"],
    [() => c.chains(), "GET", "/v2/config/chains"],
    [() => c.organizationPublicKey(), "GET", "/v2/config/organization/public-key"],
    [() => c.listWalletSets({ page: 2 }), "GET", "/v2/wallet-sets?page=2"],
    [() => c.getWalletSet("s"), "GET", "/v2/wallet-sets/s"],
    [() => c.renameWalletSet("s", "n"), "PUT", "/v2/organization/wallet-sets/s"],
    [() => c.createWallets({ walletSetId: "s", blockchains: ["ETH-SEPOLIA"] }), "POST", "/v2/organization/wallets"],
    [() => c.updateWallet("w", { name: "n" }), "PUT", "/v2/wallets/w"],
    [() => c.validateAddress({ address: "0x", blockchain: "ETH" }), "POST", "/v2/wallets/validate-address"],
    [() => c.signTransaction({ walletId: "w", rawTransaction: "0x02" }), "POST", "/v2/organization/sign/transaction"],
    [() => c.signDelegateAction({ walletId: "w", unsignedDelegateAction: "AA==" }), "POST", "/v2/organization/sign/delegate-action"],
    [
      () => c.createTransfer({ walletId: "w", destinationAddress: "0x", tokenId: "t", amounts: ["1"] }),
      "POST",
      "/v2/organization/transactions/transfer",
    ],
    [
      () => c.estimateTransferFee({ walletId: "w", destinationAddress: "0x", tokenId: "t", amounts: ["1"] }),
      "POST",
      "/v2/transactions/transfer/estimate-fee",
    ],
    [
      () => c.createContractExecution({ walletId: "w", contractAddress: "0x", abiFunctionSignature: "f()" }),
      "POST",
      "/v2/organization/transactions/contract-execution",
    ],
    [() => c.cancelTransaction("t"), "POST", "/v2/organization/transactions/t/cancel"],
    [() => c.accelerateTransaction("t"), "POST", "/v2/organization/transactions/t/accelerate"],
    [() => c.listTransactions({ walletIds: "a,b" }), "GET", "/v2/transactions?walletIds=a%2Cb"],
    [() => c.getTransaction("t"), "GET", "/v2/transactions/t"],
    [() => c.createWebhook({ url: "https://x.test/h", events: ["*"] }), "POST", "/v2/webhooks"],
    [() => c.listWebhooks(), "GET", "/v2/webhooks"],
    [() => c.getWebhook("h"), "GET", "/v2/webhooks/h"],
    [() => c.updateWebhook("h", { enabled: false }), "PATCH", "/v2/webhooks/h"],
    [() => c.deleteWebhook("h"), "DELETE", "/v2/webhooks/h"],
    [() => c.rotateWebhookSecret("h"), "POST", "/v2/webhooks/h/rotate-secret"],
    [() => c.testWebhook("h"), "POST", "/v2/webhooks/h/test"],
    [() => c.listWebhookDeliveries("h"), "GET", "/v2/webhooks/h/deliveries"],
    [() => c.replayWebhookDelivery("d"), "POST", "/v2/webhooks/deliveries/d/replay"],
  ];
  for (const [call, method, path] of calls) {
    await call();
    const r = seen.at(-1)!;
    assert.equal(`${r.method} ${r.url.pathname}${r.url.search}`, `${method} ${path}`);
  }
  // The creating and signing routes carry an idempotency key; the others send none.
  for (const r of seen) {
    const body = r.body as Record<string, unknown> | undefined;
    const creates = /\/(wallets|sign\/.*|transfer|contract-execution|cancel|accelerate)$|^\/v2\/webhooks$/.test(r.url.pathname) && r.method === "POST";
    assert.equal(body !== undefined && "idempotencyKey" in body, creates, `${r.method} ${r.url.pathname}`);
  }
});

test("typed data objects go as JSON text, bigints as decimal strings", async () => {
  const { c, seen } = client(() => ok({}));
  await c.signTypedData({
    walletId: "w",
    typedData: { domain: { chainId: 11155111n }, message: { amount: 2n ** 70n } },
  });
  const body = seen[0]!.body as Record<string, unknown>;
  assert.equal(typeof body["typedData"], "string");
  assert.deepEqual(JSON.parse(body["typedData"] as string), {
    domain: { chainId: "11155111" },
    message: { amount: "1180591620717411303424" },
  });
  await c.signTypedData({ walletId: "w", typedData: '{"a":1}' });
  assert.equal((seen[1]!.body as Record<string, unknown>)["typedData"], '{"a":1}');
});

test("an error envelope is a PlanbokError with status, code, message and request id", async () => {
  const { c } = client(() => err(401, "secret_reused", "this ciphertext was used before"));
  const e = await rejects(c.getWallet("w"), { status: 401, code: "secret_reused" });
  assert.equal(e.message, "this ciphertext was used before");
  assert.equal(e.requestId, "req-body-1");
  assert.equal(e.name, "PlanbokError");

  const camel = client(() => ({ status: 404, body: { success: false, status: 404, message: "no", code: "not_found", requestId: "r2" } }));
  assert.equal((await rejects(camel.c.getWallet("w"), { status: 404, code: "not_found" })).requestId, "r2");
  const none = client(() => ({ status: 409, body: { success: false, status: 409, message: "m", code: "conflict" } }));
  assert.equal((await rejects(none.c.getWallet("w"), { status: 409, code: "conflict" })).requestId, "req-header-1");
});

test("answers that are not planbok's envelope", async () => {
  const html = client(() => ({ status: 502, text: "<html>bad gateway</html>", headers: { "content-type": "text/html" } }));
  await rejects(html.c.organization(), { status: 502, code: "unexpected_response" });
  const bare = client(() => ({ status: 200, body: { id: "x" } }));
  await rejects(bare.c.organization(), { status: 200, code: "unexpected_response" });
  const refused = new PlanbokClient({
    baseUrl: "http://planbok.test",
    apiKey: KEY,
    fetch: (async () => {
      throw new TypeError("fetch failed");
    }) as typeof fetch,
  });
  const e = await rejects(refused.organization(), { status: 0, code: "network_error" });
  assert.match(e.message, /GET \/v2\/organization: fetch failed/);
});

test("the API key is never shown", async () => {
  const { c } = client(() => err(401, "unauthorized", "wrong key"));
  assert.ok(!JSON.stringify(c).includes("topsecret"));
  assert.ok(!String(Object.values(c)).includes("topsecret"));
  const e = await rejects(c.organization(), { status: 401, code: "unauthorized" });
  assert.ok(!`${e.message} ${e.stack}`.includes("topsecret"));
});

test("raw() answers anything, unparsed", async () => {
  const { c, seen } = client(() => ({ status: 200, text: "# HELP x\n", headers: { "content-type": "text/plain" } }));
  const r = await c.raw("GET", "/metrics");
  assert.equal(r.status, 200);
  assert.equal(r.body, "# HELP x\n");
  assert.equal(seen[0]!.url.pathname, "/metrics");
});

test("every customer-custody route of the OpenAPI document has a typed method", async () => {
  const { c, seen } = client(() => ok({ items: [], page: 1, limit: 10, total: 0 }));
  // [call, method, the route as the document writes it, the path called]
  const calls: [() => Promise<unknown>, string, string, string][] = [
    [() => c.createCustomer({ name: "Ada", refId: "u-1" }), "POST", "/v2/customers", "/v2/customers"],
    [() => c.listCustomers({ page: 2 }), "GET", "/v2/customers", "/v2/customers?page=2"],
    [() => c.getCustomer("cu"), "GET", "/v2/customers/{id}", "/v2/customers/cu"],
    [() => c.initializeCustomer("cu", { redirectUrl: "https://app.test/done" }), "POST", "/v2/customers/{id}/initialize", "/v2/customers/cu/initialize"],
    [() => c.updateCustomerPin("cu"), "POST", "/v2/customers/{id}/update-pin", "/v2/customers/cu/update-pin"],
    [() => c.resetCustomerPin("cu", { method: "email" }), "POST", "/v2/customers/{id}/reset-pin", "/v2/customers/cu/reset-pin"],
    [() => c.setCustomerRecovery("cu"), "POST", "/v2/customers/{id}/recovery", "/v2/customers/cu/recovery"],
    [() => c.listCustomerChallenges("cu", { order: "asc" }), "GET", "/v2/customers/{id}/challenges", "/v2/customers/cu/challenges?order=asc"],
    [
      () => c.getCustomerChallenge("cu", "ch/1"),
      "GET",
      "/v2/customers/{id}/challenges/{challengeId}",
      "/v2/customers/cu/challenges/ch%2F1",
    ],
    [
      () => c.createCustomerWallets("cu", { blockchains: ["ETH-SEPOLIA", "SOL-DEVNET"] }),
      "POST",
      "/v2/customers/{id}/wallet/create",
      "/v2/customers/cu/wallet/create",
    ],
    [
      () => c.customerSignMessage("cu", { walletId: "w", message: "hi" }),
      "POST",
      "/v2/customers/{id}/sign/message",
      "/v2/customers/cu/sign/message",
    ],
    [
      () => c.customerSignTypedData("cu", { walletId: "w", typedData: { message: { n: 1n } } }),
      "POST",
      "/v2/customers/{id}/sign/typed-data",
      "/v2/customers/cu/sign/typed-data",
    ],
    [
      () => c.customerSignTransaction("cu", { walletId: "w", rawTransaction: "0x02" }),
      "POST",
      "/v2/customers/{id}/sign/transaction",
      "/v2/customers/cu/sign/transaction",
    ],
    [
      () => c.customerSignDelegateAction("cu", { walletId: "w", unsignedDelegateAction: "AA==" }),
      "POST",
      "/v2/customers/{id}/sign/delegate-action",
      "/v2/customers/cu/sign/delegate-action",
    ],
    [
      () => c.customerTransfer("cu", { walletId: "w", destinationAddress: "0x", tokenId: "t", amounts: ["1"] }),
      "POST",
      "/v2/customers/{id}/transactions/transfer",
      "/v2/customers/cu/transactions/transfer",
    ],
    [
      () => c.customerContractExecution("cu", { walletId: "w", contractAddress: "0x", abiFunctionSignature: "f()" }),
      "POST",
      "/v2/customers/{id}/transactions/contract-execution",
      "/v2/customers/cu/transactions/contract-execution",
    ],
    [
      () => c.customerCancelTransaction("cu", "tx"),
      "POST",
      "/v2/customers/{id}/transactions/{txId}/cancel",
      "/v2/customers/cu/transactions/tx/cancel",
    ],
    [
      () => c.customerAccelerateTransaction("cu", "tx"),
      "POST",
      "/v2/customers/{id}/transactions/{txId}/accelerate",
      "/v2/customers/cu/transactions/tx/accelerate",
    ],
    [() => c.exportCustomerKeys("cu"), "POST", "/v2/customers/{id}/export-private-keys", "/v2/customers/cu/export-private-keys"],
  ];
  for (const [call, method, , path] of calls) {
    await call();
    const r = seen.at(-1)!;
    assert.equal(`${r.method} ${r.url.pathname}${r.url.search}`, `${method} ${path}`);
    // Every customer POST creates (a customer or a challenge): it carries an idempotency key.
    const body = r.body as Record<string, unknown> | undefined;
    assert.equal(body !== undefined && typeof body["idempotencyKey"] === "string", method === "POST", path);
  }
  assert.equal((seen[3]!.body as Record<string, unknown>)["redirectUrl"], "https://app.test/done");
  assert.equal((seen[5]!.body as Record<string, unknown>)["method"], "email");
  assert.equal((seen[11]!.body as Record<string, unknown>)["typedData"], '{"message":{"n":"1"}}');

  // The table is the document's: every customer route, each once.
  const doc = JSON.parse(readFileSync(new URL("../../openapi.json", import.meta.url), "utf8")) as {
    paths: Record<string, Record<string, unknown>>;
  };
  const documented = Object.entries(doc.paths)
    .filter(([p]) => p.startsWith("/v2/customers"))
    .flatMap(([p, item]) => Object.keys(item).filter((m) => ["get", "post", "put", "patch", "delete"].includes(m)).map((m) => `${m.toUpperCase()} ${p}`))
    .sort();
  assert.deepEqual(calls.map(([, m, route]) => `${m} ${route}`).sort(), documented);
});

test("customer wallets, the secret's registration, binding and email recovery", async () => {
  const { c, seen } = client(() => ok({ items: [], page: 1, limit: 10, total: 0 }));
  await c.listCustomerWallets("cu 1", { blockchain: "ETH-SEPOLIA" });
  assert.equal(seen[0]!.url.search, "?blockchain=ETH-SEPOLIA&customerId=cu+1");
  await c.registerSecret({ encryptedOrganizationSecret: "AAAA", custodyMode: "trustless" });
  await c.requireBinding();
  await c.setEmailRecovery({ enabled: true });
  assert.deepEqual(
    seen.slice(1).map((r) => `${r.method} ${r.url.pathname}`),
    ["POST /v2/organization/secret", "POST /v2/organization/require-binding", "POST /v2/organization/email-recovery"],
  );
  for (const r of seen.slice(1)) assert.match(String((r.body as Record<string, unknown>)["idempotencyKey"]), UUID_V4);
});
