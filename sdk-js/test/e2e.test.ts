// End to end against a running planbok (`planbok dev`): PLANBOK_URL and PLANBOK_API_KEY (an
// owner or admin key of a standard-custody organization). Skipped without them, unless
// PLANBOK_REQUIRE_E2E=1, which makes their absence a failure (the Rust test
// crates/planbok-cli/tests/it/sdk_js.rs starts `planbok dev` and sets them all).
// PLANBOK_OPERATOR_TOKEN and PLANBOK_NODE_KEY (Node 1's identity key, as `planbok dev`
// prints it) add a trustless organization whose secret the WebAssembly module seals; with
// PLANBOK_REQUIRE_E2E=1 they are required too.

import assert from "node:assert/strict";
import { generateKeyPairSync, randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";

import type { Address, Hex, TransactionSerializable } from "viem";
import { parseTransaction, recoverTransactionAddress, serializeTransaction, verifyMessage, verifyTypedData } from "viem";

import {
  MemoryPins,
  OrgSecret,
  PlanbokClient,
  PlanbokError,
  Sealer,
  SecretError,
  WebhookVerifier,
  idempotencyKey,
  type Wallet,
  type WalletSet,
} from "../src/index.js";
import { planbokAccount, planbokAccountForWallet, type PlanbokAccount } from "../src/viem.js";

const url = process.env["PLANBOK_URL"];
const apiKey = process.env["PLANBOK_API_KEY"];
const required = process.env["PLANBOK_REQUIRE_E2E"] === "1";
const missing = !url || !apiKey;

const operatorToken = process.env["PLANBOK_OPERATOR_TOKEN"];
const nodeKey = process.env["PLANBOK_NODE_KEY"];
const noTrustless = missing || !operatorToken || !nodeKey;

if (missing && required) {
  test("e2e: PLANBOK_URL and PLANBOK_API_KEY are set", () => {
    assert.fail("PLANBOK_REQUIRE_E2E=1 but PLANBOK_URL or PLANBOK_API_KEY is not set");
  });
}
if (noTrustless && required) {
  test("e2e: PLANBOK_OPERATOR_TOKEN and PLANBOK_NODE_KEY are set", () => {
    assert.fail("PLANBOK_REQUIRE_E2E=1 but PLANBOK_OPERATOR_TOKEN or PLANBOK_NODE_KEY is not set");
  });
}

/** Rejects with a PlanbokError of this status and code. */
function planbokError(status: number, code: string) {
  return (e: unknown) => {
    assert.ok(e instanceof PlanbokError, `not a PlanbokError: ${String(e)}`);
    assert.equal(`${e.status} ${e.code}`, `${status} ${code}`, e.message);
    return true;
  };
}

const SEPOLIA = 11155111;

describe("e2e against planbok", { skip: missing ? "PLANBOK_URL and PLANBOK_API_KEY are not set" : false }, () => {
  const client = new PlanbokClient({ baseUrl: url ?? "", apiKey });
  let set: WalletSet;
  let wallet: Wallet;
  let account: PlanbokAccount;

  before(async () => {
    set = await client.createWalletSet({ name: `sdk-js e2e ${randomUUID().slice(0, 8)}` });
    const wallets = await client.createWallets({ walletSetId: set.id, blockchains: ["ETH-SEPOLIA"], count: 1 });
    assert.equal(wallets.length, 1);
    wallet = wallets[0]!;
    assert.match(wallet.address, /^0x[0-9a-fA-F]{40}$/);
    account = planbokAccount({ client, walletId: wallet.id, address: wallet.address as Address, memo: "sdk-js e2e" });
  });

  test("the OpenAPI snapshot is what the server serves (npm run openapi:fetch)", async () => {
    const served = await client.openapi();
    const snapshot = readFileSync(new URL("../../openapi.json", import.meta.url), "utf8");
    assert.ok(
      served.trimEnd() === snapshot.trimEnd(),
      "sdk-js/openapi.json differs from GET /v2/openapi.json: run `PLANBOK_URL=… npm run openapi:fetch` and commit",
    );
  });

  test("wallet sets and wallets read back; lists are pages", async () => {
    assert.deepEqual(await client.getWalletSet(set.id), set);
    assert.deepEqual(await client.getWallet(wallet.id), wallet);
    const sets = await client.listWalletSets({ limit: 100 });
    assert.ok(sets.items.some((s) => s.id === set.id));
    assert.ok(sets.total >= 1);
    const page = await client.listWallets({ walletSetId: set.id });
    assert.deepEqual(page.items, [wallet]);
    assert.equal(page.total, 1);
    assert.equal(page.page, 1);
    const generic = await client.request("GET", "/v2/wallets/{id}", undefined, { params: { id: wallet.id } });
    assert.deepEqual(generic, wallet);
    const chains = await client.chains();
    assert.equal(chains.find((c) => c.id === "ETH-SEPOLIA")?.chainId, SEPOLIA);
    const txs = await client.listTransactions({ walletIds: wallet.id });
    assert.deepEqual(txs.items, []);
    assert.equal(txs.total, 0);
  });

  test("signMessage with the viem account verifies with viem's verifyMessage", async () => {
    const message = `hello planbok ${randomUUID()}`;
    const signature = await account.signMessage({ message });
    assert.ok(await verifyMessage({ address: account.address, message, signature }));
    assert.equal(await verifyMessage({ address: account.address, message: `${message}!`, signature }), false);
    const raw = new Uint8Array([0xde, 0xad, 0xbe, 0xef, 0x00, 0x01]);
    const rawSig = await account.signMessage({ message: { raw } });
    assert.ok(await verifyMessage({ address: account.address, message: { raw }, signature: rawSig }));
  });

  test("signTypedData (EIP-712) verifies with viem's verifyTypedData", async () => {
    const typedData = {
      domain: {
        name: "planbok sdk-js",
        version: "1",
        chainId: BigInt(SEPOLIA),
        verifyingContract: "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC",
      },
      types: {
        Person: [
          { name: "name", type: "string" },
          { name: "wallet", type: "address" },
        ],
        Mail: [
          { name: "from", type: "Person" },
          { name: "to", type: "Person" },
          { name: "amount", type: "uint256" },
          { name: "contents", type: "string" },
        ],
      },
      primaryType: "Mail",
      message: {
        from: { name: "Cow", wallet: "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826" },
        to: { name: "Bob", wallet: "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB" },
        amount: 2n ** 200n + 1n,
        contents: "Hello, Bob!",
      },
    } as const;
    const signature = await account.signTypedData(typedData);
    assert.ok(await verifyTypedData({ address: account.address, ...typedData, signature }));
    assert.equal(
      await verifyTypedData({ address: account.address, ...typedData, message: { ...typedData.message, amount: 1n }, signature }),
      false,
    );
    // A domain for another chain is refused by the server with its stable code.
    await assert.rejects(
      account.signTypedData({ ...typedData, domain: { ...typedData.domain, chainId: 1n } }),
      (e: unknown) => e instanceof PlanbokError && e.status === 422 && e.code === "chain_id_mismatch",
    );
  });

  test("signTransaction: EIP-1559 and legacy, recovered by viem", async () => {
    const txs: TransactionSerializable[] = [
      {
        type: "eip1559",
        chainId: SEPOLIA,
        nonce: 0,
        to: "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB",
        value: 10n ** 15n,
        gas: 21000n,
        maxFeePerGas: 30n * 10n ** 9n,
        maxPriorityFeePerGas: 10n ** 9n,
      },
      { type: "legacy", chainId: SEPOLIA, nonce: 1, to: "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB", value: 1n, gas: 21000n, gasPrice: 10n ** 9n },
    ];
    for (const tx of txs) {
      const signed = await account.signTransaction(tx);
      assert.equal(await recoverTransactionAddress({ serializedTransaction: signed as never }), account.address);
      const back = parseTransaction(signed);
      assert.equal(back.chainId, SEPOLIA);
      assert.equal(back.nonce, tx.nonce);
      assert.equal(back.value, tx.value);
      // Unsigned again, it is what was sent.
      const { r: _r, s: _s, v: _v, yParity: _y, ...unsigned } = back;
      assert.equal(serializeTransaction(unsigned as TransactionSerializable), serializeTransaction(tx));
    }
  });

  test("an account from the wallet id alone", async () => {
    const a = await planbokAccountForWallet(client, wallet.id);
    assert.equal(a.address, account.address);
    const signature = await a.signMessage({ message: "by id" });
    assert.ok(await verifyMessage({ address: a.address, message: "by id", signature }));
  });

  test("errors are PlanbokError with the server's status, code and request id", async () => {
    const e = await client.getWallet(randomUUID()).then(
      () => assert.fail("found a wallet that does not exist"),
      (x: unknown) => x,
    );
    assert.ok(e instanceof PlanbokError);
    assert.equal(e.status, 404);
    assert.equal(e.code, "not_found");
    assert.ok(e.requestId && e.requestId.length > 0, "a request id");
    await assert.rejects(
      client.createWallets({ walletSetId: set.id, blockchains: ["NOPE"] }),
      (x: unknown) => x instanceof PlanbokError && x.status === 422 && x.code === "unsupported_chain",
    );
  });

  test("customers: one created, an initialize challenge for it, both read back", async () => {
    const refId = `sdk-js-${randomUUID()}`;
    const idem = idempotencyKey();
    const customer = await client.createCustomer({ name: "Ada Lovelace", refId, idempotencyKey: idem });
    assert.equal(customer.refId, refId);
    assert.equal(customer.pinStatus, "unset");
    assert.equal(customer.hasRecovery, false);
    assert.deepEqual(customer.recoveryMethods, []);
    assert.deepEqual(await client.getCustomer(customer.id), customer);
    assert.deepEqual(await client.createCustomer({ name: "Ada Lovelace", refId, idempotencyKey: idem }), customer);
    assert.ok((await client.listCustomers({ limit: 100 })).items.some((c) => c.id === customer.id));

    const challengeIdem = idempotencyKey();
    const done = "https://app.example/planbok/done";
    const ch = await client.initializeCustomer(customer.id, { redirectUrl: done, idempotencyKey: challengeIdem });
    assert.equal(ch.type, "initialize");
    assert.equal(ch.status, "pending");
    assert.equal(ch.customerId, customer.id);
    assert.equal(ch.id, ch.challengeId);
    // The Gateway URL, its one-time token in the fragment: shown here only.
    const gateway = new URL(ch.redirectUrl ?? "");
    assert.equal(gateway.pathname, "/gateway/");
    assert.equal(gateway.searchParams.get("challenge"), ch.challengeId);
    assert.ok(gateway.hash.length > 20, "a token in the fragment");
    const again = await client.initializeCustomer(customer.id, { redirectUrl: done, idempotencyKey: challengeIdem });
    assert.equal(again.challengeId, ch.challengeId);
    assert.equal(new URL(again.redirectUrl ?? "").hash, "", "the repeat answers without the token");

    const back = await client.getCustomerChallenge(customer.id, ch.challengeId);
    assert.equal(back.status, "pending");
    assert.equal(back.type, "initialize");
    assert.equal(back.redirectUrl, done);
    assert.equal(back.expiresAt, ch.expiresAt);
    const page = await client.listCustomerChallenges(customer.id);
    assert.deepEqual(page.items.map((c) => c.challengeId), [ch.challengeId]);
    assert.equal(page.total, 1);

    // Before the customer has completed initialize, no wallet; none listed; another's id
    // is not found.
    await assert.rejects(client.createCustomerWallets(customer.id, { blockchains: ["ETH-SEPOLIA"] }), planbokError(409, "pin_not_set"));
    assert.deepEqual((await client.listCustomerWallets(customer.id)).items, []);
    await assert.rejects(client.getCustomer(randomUUID()), planbokError(404, "not_found"));
    await assert.rejects(client.getCustomerChallenge(customer.id, randomUUID()), planbokError(404, "not_found"));
  });

  describe("webhooks: real deliveries verify", () => {
    const received: { headers: IncomingHttpHeaders; body: Buffer }[] = [];
    const receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        received.push({ headers: req.headers, body: Buffer.concat(chunks) });
        res.writeHead(204).end();
      });
    });
    let port = 0;

    before(async () => {
      await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
      port = (receiver.address() as AddressInfo).port;
    });
    after(async () => {
      await new Promise<void>((resolve) => receiver.close(() => resolve()));
    });

    async function delivery(eventId: string): Promise<{ headers: IncomingHttpHeaders; body: Buffer }> {
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline) {
        const d = received.find((r) => r.headers["webhook-id"] === eventId);
        if (d) return d;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`no delivery of ${eventId} within 60 s`);
    }

    test("subscribe, test, verify both schemes; rotate, verify with either secret", async () => {
      const hook = await client.createWebhook({
        url: `http://127.0.0.1:${port}/hook`,
        // `webhook.test` goes to the endpoint tested whatever it subscribes to; this event
        // is one no step of this test emits, so the delivery log holds the tests only.
        events: ["key.disabled"],
        description: "sdk-js e2e",
      });
      assert.match(hook.secret, /^whsec_/);
      assert.equal(hook.enabled, true);
      assert.ok((await client.listWebhooks({ limit: 100 })).items.some((w) => w.id === hook.id));
      assert.equal((await client.getWebhook(hook.id)).url, hook.url);

      const first = await client.testWebhook(hook.id);
      const d1 = await delivery(first.eventId);
      const v1 = new WebhookVerifier(hook.secret);
      const standard = v1.verify(d1.body, d1.headers);
      assert.equal(standard.scheme, "standard");
      assert.equal(standard.event.id, first.eventId);
      assert.equal(standard.event.event, "webhook.test");
      assert.deepEqual((standard.event.data as { webhookId: string }).webhookId, hook.id);
      const platformOnly = Object.fromEntries(Object.entries(d1.headers).filter(([k]) => k.startsWith("x-webhook-")));
      assert.equal(v1.verify(d1.body, platformOnly).scheme, "platform");
      // One changed byte, or another endpoint's secret: refused.
      const tampered = Buffer.from(d1.body);
      tampered[tampered.length - 2]! ^= 1;
      assert.throws(() => v1.verify(tampered, d1.headers), /no signature matches/);
      assert.throws(() => v1.verify(tampered, platformOnly), /no signature matches/);

      const rotated = await client.rotateWebhookSecret(hook.id);
      assert.notEqual(rotated.secret, hook.secret);
      const second = await client.testWebhook(hook.id);
      const d2 = await delivery(second.eventId);
      assert.equal(String(d2.headers["webhook-signature"]).split(" ").length, 2);
      const p2 = Object.fromEntries(Object.entries(d2.headers).filter(([k]) => k.startsWith("x-webhook-")));
      for (const secrets of [[rotated.secret], [hook.secret], [rotated.secret, hook.secret]]) {
        const v = new WebhookVerifier(secrets);
        assert.equal(v.verify(d2.body, d2.headers).event.id, second.eventId);
        assert.equal(v.verify(d2.body, p2).scheme, "platform");
      }
      const stranger = "whsec_" + Buffer.alloc(32, 7).toString("base64");
      assert.throws(() => new WebhookVerifier(stranger).verify(d2.body, d2.headers), /no signature matches/);

      // The delivery log shows them delivered.
      const deadline = Date.now() + 30_000;
      let log = await client.listWebhookDeliveries(hook.id);
      while (log.items.some((d) => d.status !== "succeeded") && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200));
        log = await client.listWebhookDeliveries(hook.id);
      }
      assert.deepEqual(log.items.map((d) => d.status), ["succeeded", "succeeded"]);
      assert.deepEqual(new Set(log.items.map((d) => d.eventId)), new Set([first.eventId, second.eventId]));

      const disabled = await client.updateWebhook(hook.id, { enabled: false });
      assert.equal(disabled.enabled, false);
      await assert.rejects(
        client.testWebhook(hook.id),
        (x: unknown) => x instanceof PlanbokError && x.status === 409 && x.code === "webhook_disabled",
      );
      assert.equal((await client.deleteWebhook(hook.id)).id, hook.id);
    });
  });
});

describe("e2e: a trustless organization's secret, sealed by the WebAssembly module", {
  skip: noTrustless ? "PLANBOK_OPERATOR_TOKEN and PLANBOK_NODE_KEY are not set" : false,
}, () => {
  let owner: PlanbokClient;
  let sealer: Sealer;
  let secret: OrgSecret;
  let set: WalletSet;
  let eth: Wallet;
  let sol: Wallet;
  const pins = new MemoryPins();

  before(async () => {
    const operator = new PlanbokClient({ baseUrl: url ?? "", headers: { "PLANBOK-X-OPERATOR-TOKEN": operatorToken ?? "" } });
    const created = await operator.request("POST", "/v2/organizations", {
      name: `sdk-js trustless ${randomUUID().slice(0, 8)}`,
      ownerName: "sdk-js",
      ownerEmail: "sdk-js@example.com",
    });
    owner = new PlanbokClient({ baseUrl: url ?? "", apiKey: created.apiKey.secret });
    secret = OrgSecret.generate();
    sealer = await Sealer.create(owner, secret, { nodeKey: nodeKey ?? "", pins });
  });

  after(() => secret?.dispose());

  test("the organization key verifies against Node 1's identity key, and only against it", async () => {
    assert.equal(sealer.key.verifiedByNode, true);
    assert.equal(pins.get(sealer.key.orgId), sealer.key.fingerprint);
    // Another node's identity (a real Ed25519 key: its SPKI DER ends with the 32 bytes).
    const other = generateKeyPairSync("ed25519").publicKey.export({ format: "der", type: "spki" }).subarray(-32);
    const stranger = `ed25519:${other.toString("hex")}`;
    await assert.rejects(owner.trustedOrgKey({ nodeKey: stranger }), (e: unknown) => e instanceof SecretError && e.code === "org_key_wrong_signer");
    await assert.rejects(
      owner.trustedOrgKey({ nodeKey: nodeKey ?? "", pins: { get: () => "00".repeat(32), set: () => undefined } }),
      (e: unknown) => e instanceof SecretError && e.code === "org_key_pin_mismatch",
    );
  });

  test("registration, wallet set, wallets, signatures and an export: every ciphertext bound and accepted by Node 1", async () => {
    const org = await owner.registerSecret({ custodyMode: "trustless", encryptedOrganizationSecret: sealer.registration() });
    assert.equal(org.custodyMode, "trustless");
    assert.equal(org.id, sealer.key.orgId);
    // From now on every ciphertext must carry a binding.
    await owner.requireBinding();

    let idem = idempotencyKey();
    set = await owner.createWalletSet({
      name: "sdk-js trustless",
      ecdsaProtocol: "dkls23",
      idempotencyKey: idem,
      encryptedOrganizationSecret: sealer.creation("dkg", idem),
    });
    idem = idempotencyKey();
    [eth, sol] = (await owner.createWallets({
      walletSetId: set.id,
      blockchains: ["ETH-SEPOLIA", "SOL-DEVNET"],
      idempotencyKey: idem,
      encryptedOrganizationSecret: sealer.creation("sign", idem),
    })) as [Wallet, Wallet];

    // The viem account asks the sealer for each signature's ciphertext.
    const account = planbokAccount({
      client: owner,
      walletId: eth.id,
      address: eth.address as Address,
      encryptedOrganizationSecret: sealer.secretProvider(),
    });
    const message = `trustless ${randomUUID()}`;
    const signature = await account.signMessage({ message });
    assert.ok(await verifyMessage({ address: account.address, message, signature }));
    const tx = { type: "eip1559", chainId: SEPOLIA, nonce: 0, to: eth.address as Address, value: 1n, gas: 21000n, maxFeePerGas: 2n * 10n ** 9n, maxPriorityFeePerGas: 10n ** 9n } as const;
    const signed = await account.signTransaction(tx);
    assert.equal(await recoverTransactionAddress({ serializedTransaction: signed as never }), account.address);

    // An ed25519 wallet: its own key, the message bytes.
    const body = { walletId: sol.id, message: "hello solana" };
    const solSig = await owner.signMessage({ ...body, encryptedOrganizationSecret: await sealer.signRequest("/v2/organization/sign/message", body) });
    assert.ok(solSig.signature.length > 40);

    // An export of the EVM wallet to a recipient key: bound to that key and wallet.
    const x25519 = Buffer.alloc(32, 7).toString("base64");
    const exported = await owner.request("POST", "/v2/organization/wallets/export", {
      idempotencyKey: idempotencyKey(),
      walletIds: [eth.id],
      recipientPublicKey: x25519,
      encryptedOrganizationSecret: await sealer.export(x25519, [eth.id]),
    });
    assert.ok(JSON.stringify(exported).includes(eth.id));
  });

  test("Node 1 refuses a ciphertext for another operation, a replay, an unbound one and another secret", async () => {
    const body = { walletId: eth.id, message: "the one authorized" };
    const sealed = await sealer.signRequest("/v2/organization/sign/message", body);
    await assert.rejects(
      owner.signMessage({ walletId: eth.id, message: "another one", encryptedOrganizationSecret: sealed }),
      planbokError(401, "secret_binding_mismatch"),
    );
    // Burned on its first decryption, even though that use was refused.
    await assert.rejects(owner.signMessage({ ...body, encryptedOrganizationSecret: sealed }), planbokError(401, "secret_reused"));
    await assert.rejects(owner.signMessage({ ...body, encryptedOrganizationSecret: sealer.unbound() }), planbokError(401, "secret_binding_required"));
    const stranger = OrgSecret.generate();
    const other = new Sealer(owner, stranger, sealer.key);
    await assert.rejects(
      owner.signMessage({ ...body, encryptedOrganizationSecret: await other.signRequest("/v2/organization/sign/message", body) }),
      planbokError(401, "secret_invalid"),
    );
    stranger.dispose();
    // A fresh, bound one signs.
    const ok = await owner.signMessage({ ...body, encryptedOrganizationSecret: await sealer.signRequest("/v2/organization/sign/message", body) });
    assert.ok(await verifyMessage({ address: eth.address as Address, message: body.message, signature: ok.signature as Hex }));
  });
});
