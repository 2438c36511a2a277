// The organization secret through the WebAssembly module, checked with independent code:
// node:crypto makes Node 1's identity key, signs the attestation statement (written out
// here from docs, not from the module) and opens the ciphertexts with RSA-OAEP-SHA256; the
// bindings are recomputed here from their spec (planbok_envelope::binding, v1). That
// Node 1 itself opens what the module seals is checked by planbok-sdk-wasm's native test
// (tests/it/roundtrip.rs) and, against a running server, by e2e.test.ts.

import assert from "node:assert/strict";
import { createHash, generateKeyPairSync, privateDecrypt, sign, constants, type KeyObject } from "node:crypto";
import { inspect } from "node:util";
import { test } from "node:test";

import { hashMessage, hashTypedData } from "viem";

import {
  MemoryPins,
  OrgSecret,
  PlanbokClient,
  Sealer,
  SecretError,
  bindings,
  chainCurve,
  signPayload,
  verifyOrgKey,
  type PublicKey,
} from "../src/index.js";
import { err, fakeFetch, ok } from "./fake.js";

const ORG = "6f2b8d0e-8a55-4b7e-9f0a-2c1d3e4f5a6b";

function lp(b: Buffer | string): Buffer {
  const bytes = typeof b === "string" ? Buffer.from(b, "utf8") : b;
  const len = Buffer.alloc(4);
  len.writeUInt32BE(bytes.length);
  return Buffer.concat([len, bytes]);
}

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest();

/** Node 1: an Ed25519 identity that attests organization keys (planbok_envelope::org_key). */
class Node1 {
  readonly key: KeyObject;
  readonly raw: Buffer;
  constructor() {
    const { privateKey, publicKey } = generateKeyPairSync("ed25519");
    this.key = privateKey;
    // The SPKI DER of an Ed25519 key ends with the 32-byte key.
    this.raw = publicKey.export({ format: "der", type: "spki" }).subarray(-32);
  }
  get text(): string {
    return `ed25519:${this.raw.toString("hex")}`;
  }
  get keyId(): string {
    return sha256(this.raw).subarray(0, 8).toString("hex");
  }
  attest(org: string, pem: string, createdAt: number, publicKey: KeyObject): PublicKey {
    const der = publicKey.export({ format: "der", type: "spki" });
    const at = Buffer.alloc(8);
    at.writeBigInt64BE(BigInt(createdAt));
    const statement = Buffer.concat([lp("planbok/org-key/v1"), lp(org), lp(der), at]);
    return {
      publicKey: pem,
      signature: sign(null, statement, this.key).toString("base64"),
      nodeKeyId: this.keyId,
      createdAt,
    };
  }
}

function rsa(bits: number) {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: bits });
  return { privateKey, publicKey, pem: publicKey.export({ format: "pem", type: "spki" }).toString() };
}

const node = new Node1();
const orgKey = rsa(3072);
const CREATED = 1_754_000_000_000;
const served = node.attest(ORG, orgKey.pem, CREATED, orgKey.publicKey);

function open(ct: string): { secret: string; timestamp: number; context: string; binding?: string } {
  const plain = privateDecrypt(
    { key: orgKey.privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" },
    Buffer.from(ct, "base64"),
  );
  return JSON.parse(plain.toString("utf8"));
}

function refused(f: () => unknown, code: string): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof SecretError, `not a SecretError: ${String(e)}`);
    assert.equal(e.code, code, e.message);
    return true;
  });
}

/** binding v1, from its spec: SHA-256 over length-prefixed fields. */
function binding(context: string, key: Buffer, path: string, kind: string, digest: Buffer): string {
  return sha256(
    Buffer.concat([lp("planbok/binding/v1"), lp(context), lp(ORG), lp(key), lp(path), lp(kind), lp(digest)]),
  ).toString("hex");
}

test("an organization key is trusted only as Node 1 signed it, for its organization, and as pinned", () => {
  const key = verifyOrgKey(ORG, served, { nodeKey: node.text });
  assert.equal(key.orgId, ORG);
  assert.equal(key.verifiedByNode, true);
  assert.equal(key.pinnedNow, true);
  const der = orgKey.publicKey.export({ format: "der", type: "spki" });
  assert.equal(key.fingerprint, sha256(der).toString("hex"));
  assert.equal(verifyOrgKey(ORG, served, { nodeKey: node.text, pinned: key.fingerprint }).pinnedNow, false);

  // The server swaps in a key of its own, keeping Node 1's signature: refused.
  const evil = rsa(3072);
  refused(() => verifyOrgKey(ORG, { ...served, publicKey: evil.pem }, { nodeKey: node.text }), "org_key_bad_signature");
  // It signs its key with an identity of its own: not the configured Node 1.
  const impostor = new Node1();
  const forged = impostor.attest(ORG, evil.pem, CREATED, evil.publicKey);
  refused(() => verifyOrgKey(ORG, forged, { nodeKey: node.text }), "org_key_wrong_signer");
  refused(() => verifyOrgKey(ORG, { ...forged, nodeKeyId: node.keyId }, { nodeKey: node.text }), "org_key_bad_signature");
  // The wrong node key configured: the genuine key is refused too.
  refused(() => verifyOrgKey(ORG, served, { nodeKey: impostor.text }), "org_key_wrong_signer");
  // Another organization's key, another creation time, no signature.
  refused(() => verifyOrgKey("someone-else", served, { nodeKey: node.text }), "org_key_bad_signature");
  refused(() => verifyOrgKey(ORG, { ...served, createdAt: CREATED + 1 }, { nodeKey: node.text }), "org_key_bad_signature");
  refused(() => verifyOrgKey(ORG, { ...served, signature: "" }, { nodeKey: node.text }), "org_key_unsigned");
  // Another key than the pinned one, even signed.
  refused(() => verifyOrgKey(ORG, served, { nodeKey: node.text, pinned: "00".repeat(32) }), "org_key_pin_mismatch");
  // Under 3072 bits, even signed.
  const small = rsa(2048);
  refused(() => verifyOrgKey(ORG, node.attest(ORG, small.pem, 1, small.publicKey), { nodeKey: node.text }), "org_key_too_small");
  refused(() => verifyOrgKey(ORG, served, { nodeKey: "ed25519:zz" }), "node_key_malformed");
  // Without a node key: pinned only, and it says so.
  const tofu = verifyOrgKey(ORG, served, { nodeKey: null });
  assert.equal(tofu.verifiedByNode, false);
  assert.equal(tofu.pinnedNow, true);
});

test("a sealed secret is the documented JSON under RSA-OAEP-SHA256, with its binding and time", () => {
  const key = verifyOrgKey(ORG, served, { nodeKey: node.text });
  const hex = "5a".repeat(16) + "c3".repeat(16);
  const secret = OrgSecret.fromHex(`  ${hex}\n`);
  assert.equal(secret.toHex(), hex);
  const b = bindings.registration(ORG);
  const ct = secret.seal(key, "dkg", b, { timestampMs: 1234 });
  assert.deepEqual(open(ct), { secret: hex, timestamp: 1234, context: "dkg", binding: b });
  // Fresh each time (OAEP is randomized), timestamped now by default.
  const before = Date.now();
  const again = open(secret.seal(key, "dkg", b));
  assert.ok(again.timestamp >= before && again.timestamp <= Date.now());
  assert.notEqual(secret.seal(key, "dkg", b), ct);
  assert.deepEqual(open(secret.sealUnbound(key, "sign", { timestampMs: 5 })), { secret: hex, timestamp: 5, context: "sign" });

  // A generated secret: 32 random bytes, different each time.
  const g = OrgSecret.generate();
  assert.match(g.toHex(), /^[0-9a-f]{64}$/);
  assert.notEqual(g.toHex(), OrgSecret.generate().toHex());
  assert.equal(open(g.seal(key, "sign", b)).secret, g.toHex());

  // Refusals, before anything is encrypted.
  refused(() => OrgSecret.fromHex("12"), "secret_malformed");
  refused(() => secret.seal(key, "export" as never, b), "invalid_input");
  refused(() => secret.seal(key, "sign", "not a binding"), "invalid_input");
  refused(() => secret.seal(key, "sign", b, { timestampMs: Number.NaN }), "invalid_input");

  // The secret never shows.
  for (const shown of [JSON.stringify({ secret }), String(secret), inspect(secret, { depth: 5 }), inspect(key, { depth: 5 })]) {
    assert.ok(!shown.includes(hex), shown);
  }
  secret.dispose();
  refused(() => secret.toHex(), "invalid_input");
});

test("bindings are planbok_envelope's v1, recomputed here from the spec", () => {
  const setKey = Buffer.alloc(33, 2);
  const msg = signPayload({ blockchain: "ETH-SEPOLIA", kind: "message", message: "hello planbok" });
  // EIP-191, as viem computes it.
  assert.equal(msg.digest, hashMessage("hello planbok"));
  assert.equal(msg.payload, hashMessage("hello planbok").slice(2));
  assert.equal(msg.standard, "eip191");
  const payload = Buffer.from(msg.payload, "hex");
  assert.equal(
    bindings.sign(ORG, setKey.toString("hex"), "m/44/60/0/0/3", msg.payload),
    binding("sign", setKey, "m/44/60/0/0/3", "payload", sha256(payload)),
  );
  assert.equal(bindings.registration(ORG), binding("dkg", Buffer.alloc(0), "", "registration", Buffer.alloc(0)));
  assert.equal(
    bindings.creation("sign", ORG, "idem-1"),
    binding("sign", Buffer.alloc(0), "", "reference", sha256(Buffer.from("idem-1"))),
  );
  assert.equal(bindings.refresh(ORG, "0202"), binding("sign", Buffer.from([2, 2]), "", "refresh", Buffer.alloc(0)));
  // An export: the recipient, then the sorted, deduplicated keys.
  const recipient = Buffer.alloc(32, 9);
  const [k1, k2] = [Buffer.from("0101", "hex"), Buffer.from("02", "hex")];
  const count = Buffer.alloc(4);
  count.writeUInt32BE(2);
  const body = Buffer.concat([lp(recipient), count, lp(k1), lp(k2)]);
  assert.equal(
    bindings.export(ORG, recipient.toString("base64"), ["02", "0101", "02"]),
    binding("verify", Buffer.alloc(0), "", "export", sha256(body)),
  );
  refused(() => bindings.export(ORG, "AAAA", ["01"]), "invalid_input");
  refused(() => bindings.sign(ORG, "zz", "m", "00"), "invalid_input");
  // Ed25519 chains sign the message bytes themselves.
  assert.deepEqual(signPayload({ blockchain: "SOL-DEVNET", kind: "message", message: "0x0102", encodedByHex: true }), {
    payload: "0102",
    digest: "0x0102",
    standard: "ed25519",
  });
  assert.equal(chainCurve("NEAR"), "ed25519");
  assert.equal(chainCurve("BASE-SEPOLIA"), "secp256k1");
  refused(() => signPayload({ blockchain: "NOPE", kind: "message", message: "x" }), "invalid_operation");
  refused(() => signPayload({ blockchain: "SOL", kind: "typedData", typedData: "{}" }), "invalid_operation");
});

/** A server with one organization, its attested key, one wallet set and two wallets. */
function server(answer: PublicKey) {
  const setKey = "02" + "ab".repeat(32);
  const wallets: Record<string, unknown> = {
    "w-eth": { id: "w-eth", walletSetId: "ws-1", blockchain: "ETH-SEPOLIA", address: "0x", publicKey: "03" + "cd".repeat(32), derivationPath: "m/44/60/0/0/7" },
    "w-sol": { id: "w-sol", walletSetId: "ws-1", blockchain: "SOL-DEVNET", address: "x", publicKey: "ef".repeat(32), derivationPath: "m/44/501/0/0/1" },
  };
  return {
    setKey,
    ...fakeFetch((req) => {
      const p = req.url.pathname;
      if (p === "/v2/organization") return ok({ id: ORG, name: "o", custodyMode: "trustless" });
      if (p === "/v2/config/organization/public-key") return ok(answer);
      if (p === "/v2/wallet-sets/ws-1") return ok({ id: "ws-1", secp256k1PublicKey: setKey, ed25519PublicKey: "00" });
      const w = wallets[p.replace("/v2/wallets/", "")];
      return w ? ok(w) : err(404, "not_found", "no such wallet");
    }),
  };
}

test("a Sealer checks the key, pins it, and binds each ciphertext to its request", async () => {
  const s = server(served);
  const client = new PlanbokClient({ baseUrl: "http://planbok.test", apiKey: "pbk_x_y", fetch: s.fetch });
  const pins = new MemoryPins();
  const secret = OrgSecret.fromHex("11".repeat(32));
  const sealer = await Sealer.create(client, secret, { nodeKey: node.text, pins });
  assert.equal(pins.get(ORG), sealer.key.fingerprint);
  assert.ok(!JSON.stringify(sealer).includes("11".repeat(32)));

  assert.equal(open(sealer.registration()).binding, bindings.registration(ORG));
  assert.equal(open(sealer.creation("dkg", "k")).binding, bindings.creation("dkg", ORG, "k"));
  assert.equal(open(sealer.unbound()).binding, undefined);

  // A message on an EVM wallet: the set's master at the wallet's path, over EIP-191.
  const eth = open(await sealer.signRequest("/v2/organization/sign/message", { walletId: "w-eth", message: "hi" }));
  assert.equal(eth.context, "sign");
  assert.equal(
    eth.binding,
    binding("sign", Buffer.from(s.setKey, "hex"), "m/44/60/0/0/7", "payload", sha256(Buffer.from(hashMessage("hi").slice(2), "hex"))),
  );
  // An ed25519 wallet signs with its own key, over the message bytes.
  const sol = open(await sealer.signRequest("/v2/organization/sign/message", { walletId: "w-sol", message: "hi" }));
  assert.equal(sol.binding, binding("sign", Buffer.alloc(32, 0xef), "m/44/501/0/0/1", "payload", sha256(Buffer.from("hi"))));
  // The viem account's provider binds the same way; each wallet is looked up once.
  const viaViem = open(await sealer.secretProvider()({ route: "/v2/organization/sign/message", body: { walletId: "w-eth", message: "hi" } }));
  assert.equal(viaViem.binding, eth.binding);
  assert.equal(s.seen.filter((r) => r.url.pathname === "/v2/wallets/w-eth").length, 1);
  // EIP-712 typed data, as JSON text or as an object with bigints: the same payload, viem's digest.
  const typedData = {
    types: {
      EIP712Domain: [{ name: "name", type: "string" }, { name: "chainId", type: "uint256" }],
      Mail: [{ name: "contents", type: "string" }],
    },
    primaryType: "Mail",
    domain: { name: "planbok", chainId: 11155111n },
    message: { contents: "hi" },
  } as const;
  const digest = hashTypedData(typedData);
  const viaObject = open(await sealer.signRequest("/v2/organization/sign/typed-data", { walletId: "w-eth", typedData }));
  const text = JSON.stringify({ ...typedData, domain: { name: "planbok", chainId: "11155111" } });
  const viaText = open(await sealer.signRequest("/v2/organization/sign/typed-data", { walletId: "w-eth", typedData: text }));
  assert.equal(viaObject.binding, viaText.binding);
  assert.equal(
    viaObject.binding,
    binding("sign", Buffer.from(s.setKey, "hex"), "m/44/60/0/0/7", "payload", sha256(Buffer.from(digest.slice(2), "hex"))),
  );
  // An export names the recipient and each wallet's key.
  const recipient = Buffer.alloc(32, 4).toString("base64");
  assert.equal(
    open(await sealer.export(recipient, ["w-eth", "w-sol"])).binding,
    bindings.export(ORG, recipient, [s.setKey, "ef".repeat(32)]),
  );
  await assert.rejects(sealer.signRequest("/v2/organization/sign/message", { message: "hi" }), SecretError);
  await assert.rejects(sealer.sign("w-none", "00"), (e: unknown) => (e as { code?: string }).code === "not_found");

  // The same client later served another key (signed by Node 1 or not): the pin refuses it.
  const other = rsa(3072);
  const rotated = server(node.attest(ORG, other.pem, 2, other.publicKey));
  const c2 = new PlanbokClient({ baseUrl: "http://planbok.test", apiKey: "pbk_x_y", fetch: rotated.fetch });
  await assert.rejects(Sealer.create(c2, secret, { nodeKey: node.text, pins }), (e: unknown) => {
    return e instanceof SecretError && e.code === "org_key_pin_mismatch";
  });
  // A server answering a key of its own, unsigned by Node 1: refused before any secret is sealed.
  const evil = server({ ...served, publicKey: other.pem });
  const c3 = new PlanbokClient({ baseUrl: "http://planbok.test", apiKey: "pbk_x_y", fetch: evil.fetch });
  await assert.rejects(c3.trustedOrgKey({ nodeKey: node.text }), (e: unknown) => {
    return e instanceof SecretError && e.code === "org_key_bad_signature";
  });
  assert.equal(evil.seen.filter((r) => r.method === "POST").length, 0);
});
