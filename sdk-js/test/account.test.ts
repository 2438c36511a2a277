// The viem account's shape and checks against a fake server that signs with a local key the
// way docs/chains.md says planbok answers. The real check is e2e.test.ts against
// `planbok dev`.

import assert from "node:assert/strict";
import { test } from "node:test";

import type { Hex, TransactionSerializable } from "viem";
import {
  hashMessage,
  hashTypedData,
  keccak256,
  parseSignature,
  parseTransaction,
  recoverTransactionAddress,
  serializeTransaction,
  toHex,
  verifyMessage,
  verifyTypedData,
} from "viem";
import { privateKeyToAccount, sign } from "viem/accounts";

import { PlanbokClient, PlanbokError } from "../src/index.js";
import { planbokAccount, type SecretRequest } from "../src/viem.js";
import { ok, type Seen } from "./fake.js";

const KEY = "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba" as const;
const OTHER = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d" as const;
const signer = privateKeyToAccount(KEY);

interface Behaviour {
  key?: Hex;
  digest?: (real: Hex) => Hex;
}

/** Answers the sign routes as planbok does (docs/chains.md), signing with `key`. */
function server(b: Behaviour = {}) {
  const key = b.key ?? KEY;
  const seen: Seen[] = [];
  const f = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = new URL(String(input));
    const body = JSON.parse(String(init?.body)) as Record<string, unknown>;
    seen.push({ method: init?.method ?? "GET", url, headers: new Headers(init?.headers), body });
    const answer = (data: unknown) => new Response(JSON.stringify(ok(data).body), { status: 200 });
    if (url.pathname === "/v2/organization/sign/message" || url.pathname === "/v2/organization/sign/typed-data") {
      let digest: Hex;
      if (url.pathname.endsWith("/message")) {
        const m = body["message"] as string;
        digest = hashMessage(body["encodedByHex"] ? { raw: m as Hex } : m);
      } else {
        digest = hashTypedData(JSON.parse(body["typedData"] as string));
      }
      const sig = await sign({ hash: digest, privateKey: key, to: "hex" });
      const { r, s, v } = parseSignature(sig);
      return answer({
        signature: sig,
        r,
        s,
        v: Number(v),
        digest: b.digest ? b.digest(digest) : digest,
        standard: url.pathname.endsWith("/message") ? "eip191" : "eip712",
      });
    }
    if (url.pathname === "/v2/organization/sign/transaction") {
      const raw = body["rawTransaction"] as Hex;
      const tx = parseTransaction(raw) as TransactionSerializable;
      const typed = parseInt(raw.slice(2, 4), 16) < 0x7f;
      // Legacy: signed as EIP-155 with the chain's id (11155111) even without one.
      const chainId = tx.chainId ?? 11155111;
      const forHash = typed ? tx : { ...tx, chainId };
      const hash = keccak256(serializeTransaction(forHash));
      const parsed = parseSignature(await sign({ hash, privateKey: key, to: "hex" }));
      const yParity = parsed.yParity;
      const v = typed ? BigInt(yParity) : BigInt(chainId) * 2n + 35n + BigInt(yParity);
      const signed = serializeTransaction(forHash, typed ? { r: parsed.r, s: parsed.s, yParity } : { r: parsed.r, s: parsed.s, v });
      const vHex = v.toString(16);
      return answer({
        signature: `${parsed.r}${parsed.s.slice(2)}${vHex.length % 2 ? "0" : ""}${vHex}`,
        signedTransaction: signed,
        txHash: keccak256(signed),
      });
    }
    return new Response(JSON.stringify({ success: false, status: 404, message: "no", code: "not_found" }), { status: 404 });
  };
  return { fetch: f as typeof fetch, seen };
}

function account(b: Behaviour = {}, extra: Partial<Parameters<typeof planbokAccount>[0]> = {}) {
  const s = server(b);
  const client = new PlanbokClient({ baseUrl: "http://planbok.test", apiKey: "pbk_x_y", fetch: s.fetch });
  return { account: planbokAccount({ client, walletId: "wallet-1", address: signer.address, ...extra }), seen: s.seen };
}

const typedData = {
  domain: { name: "planbok", version: "1", chainId: 11155111n, verifyingContract: "0x00000000000000000000000000000000000000aa" },
  types: {
    Mail: [
      { name: "to", type: "address" },
      { name: "amount", type: "uint256" },
      { name: "note", type: "string" },
    ],
  },
  primaryType: "Mail",
  message: { to: "0x00000000000000000000000000000000000000bb", amount: 2n ** 200n, note: "hello" },
} as const;

test("a viem local account with the wallet's address", () => {
  const { account: a } = account();
  assert.equal(a.type, "local");
  assert.equal(a.source, "custom");
  assert.equal(a.address, signer.address);
  assert.equal(typeof a.signMessage, "function");
  assert.equal(typeof a.signTypedData, "function");
  assert.equal(typeof a.signTransaction, "function");
  // A lowercase address is checksummed.
  const s = server();
  const client = new PlanbokClient({ baseUrl: "http://planbok.test", fetch: s.fetch });
  assert.equal(planbokAccount({ client, walletId: "w", address: signer.address.toLowerCase() as Hex }).address, signer.address);
});

test("signMessage: text and raw bytes, through the sign/message route", async () => {
  const { account: a, seen } = account({}, { memo: "unit test" });
  const sig = await a.signMessage({ message: "hello planbok" });
  assert.ok(await verifyMessage({ address: signer.address, message: "hello planbok", signature: sig }));
  assert.equal(sig, await signer.signMessage({ message: "hello planbok" }));
  const body = seen[0]!.body as Record<string, unknown>;
  assert.equal(seen[0]!.url.pathname, "/v2/organization/sign/message");
  assert.equal(body["walletId"], "wallet-1");
  assert.equal(body["message"], "hello planbok");
  assert.equal(body["encodedByHex"], false);
  assert.equal(body["memo"], "unit test");
  assert.ok(!("encryptedOrganizationSecret" in body));

  const bytes = new Uint8Array([0, 1, 2, 0xff]);
  const raw = await a.signMessage({ message: { raw: bytes } });
  assert.ok(await verifyMessage({ address: signer.address, message: { raw: bytes }, signature: raw }));
  assert.deepEqual(
    { message: (seen[1]!.body as Record<string, unknown>)["message"], hex: (seen[1]!.body as Record<string, unknown>)["encodedByHex"] },
    { message: toHex(bytes), hex: true },
  );
});

test("signTypedData: EIP-712 as JSON text with the domain's types", async () => {
  const { account: a, seen } = account();
  const sig = await a.signTypedData(typedData);
  assert.ok(await verifyTypedData({ address: signer.address, ...typedData, signature: sig }));
  const sent = JSON.parse((seen[0]!.body as Record<string, unknown>)["typedData"] as string);
  assert.deepEqual(sent.types.EIP712Domain, [
    { name: "name", type: "string" },
    { name: "version", type: "string" },
    { name: "chainId", type: "uint256" },
    { name: "verifyingContract", type: "address" },
  ]);
  assert.equal(sent.message.amount, (2n ** 200n).toString());
  assert.equal(sent.primaryType, "Mail");
});

test("signTransaction: EIP-1559, EIP-2930 and legacy serialize the planbok signature", async () => {
  const { account: a, seen } = account();
  const txs: TransactionSerializable[] = [
    {
      type: "eip1559",
      chainId: 11155111,
      nonce: 7,
      to: "0x00000000000000000000000000000000000000bb",
      value: 10n ** 15n,
      gas: 21000n,
      maxFeePerGas: 3n * 10n ** 9n,
      maxPriorityFeePerGas: 10n ** 9n,
    },
    { type: "eip2930", chainId: 11155111, nonce: 1, to: "0x00000000000000000000000000000000000000bb", gas: 30000n, gasPrice: 10n ** 9n, accessList: [] },
    { type: "legacy", chainId: 11155111, nonce: 2, to: "0x00000000000000000000000000000000000000bb", gas: 21000n, gasPrice: 10n ** 9n, value: 1n },
    { type: "legacy", nonce: 3, to: "0x00000000000000000000000000000000000000bb", gas: 21000n, gasPrice: 10n ** 9n },
  ];
  for (const tx of txs) {
    const signed = await a.signTransaction(tx);
    assert.equal(await recoverTransactionAddress({ serializedTransaction: signed as never }), signer.address);
    const back = parseTransaction(signed);
    assert.equal(back.nonce, tx.nonce);
    assert.equal(back.chainId, tx.chainId ?? 11155111);
    assert.equal(seen.at(-1)!.url.pathname, "/v2/organization/sign/transaction");
    assert.equal((seen.at(-1)!.body as Record<string, unknown>)["rawTransaction"], serializeTransaction(tx));
  }
});

test("a signature by another key is refused (the wallet id is not the address's)", async () => {
  const { account: a } = account({ key: OTHER });
  for (const p of [
    a.signMessage({ message: "m" }),
    a.signTypedData(typedData),
    a.signTransaction({ type: "eip1559", chainId: 11155111, nonce: 0, gas: 21000n, maxFeePerGas: 2n, maxPriorityFeePerGas: 1n }),
  ]) {
    await assert.rejects(p, (e: unknown) => e instanceof PlanbokError && e.code === "signature_mismatch");
  }
});

test("a signature over another digest is refused", async () => {
  const { account: a } = account({ digest: () => keccak256("0x01") });
  await assert.rejects(a.signMessage({ message: "m" }), (e: unknown) => e instanceof PlanbokError && e.code === "signature_mismatch");
  await assert.rejects(a.signTypedData(typedData), (e: unknown) => e instanceof PlanbokError && e.code === "signature_mismatch");
});

test("trustless: a fresh ciphertext per signature, made for that request", async () => {
  const asked: SecretRequest[] = [];
  let n = 0;
  const { account: a, seen } = account(
    {},
    {
      encryptedOrganizationSecret: async (r) => {
        asked.push(r);
        n += 1;
        return `ciphertext-${n}`;
      },
    },
  );
  await a.signMessage({ message: "one" });
  await a.signTypedData(typedData);
  await a.signTransaction({ type: "eip1559", chainId: 11155111, nonce: 0, gas: 21000n, maxFeePerGas: 2n, maxPriorityFeePerGas: 1n });
  assert.deepEqual(
    asked.map((r) => r.route),
    ["/v2/organization/sign/message", "/v2/organization/sign/typed-data", "/v2/organization/sign/transaction"],
  );
  seen.forEach((s, i) => {
    const body = s.body as Record<string, unknown>;
    assert.equal(body["encryptedOrganizationSecret"], `ciphertext-${i + 1}`);
    // The provider saw the request it was for, with its idempotency key and without a secret.
    assert.equal(asked[i]!.body["idempotencyKey"], body["idempotencyKey"]);
    assert.equal(asked[i]!.body["walletId"], "wallet-1");
    assert.ok(!("encryptedOrganizationSecret" in asked[i]!.body));
  });
  assert.equal(asked[0]!.body["message"], "one");
});
