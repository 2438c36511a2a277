// End to end against a running planbok (`planbok dev`): PLANBOK_URL and PLANBOK_API_KEY (an
// owner or admin key of a standard-custody organization). Skipped without them, unless
// PLANBOK_REQUIRE_E2E=1, which makes their absence a failure (the Rust test
// crates/planbok-cli/tests/it/sdk_js.rs starts `planbok dev` and sets all three).

import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";

import type { Address, TransactionSerializable } from "viem";
import { parseTransaction, recoverTransactionAddress, serializeTransaction, verifyMessage, verifyTypedData } from "viem";

import { PlanbokClient, PlanbokError, WebhookVerifier, type Wallet, type WalletSet } from "../src/index.js";
import { planbokAccount, planbokAccountForWallet, type PlanbokAccount } from "../src/viem.js";

const url = process.env["PLANBOK_URL"];
const apiKey = process.env["PLANBOK_API_KEY"];
const required = process.env["PLANBOK_REQUIRE_E2E"] === "1";
const missing = !url || !apiKey;

if (missing && required) {
  test("e2e: PLANBOK_URL and PLANBOK_API_KEY are set", () => {
    assert.fail("PLANBOK_REQUIRE_E2E=1 but PLANBOK_URL or PLANBOK_API_KEY is not set");
  });
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
