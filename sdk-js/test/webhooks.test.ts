// Webhook verification against vectors computed independently (scripts/webhook-vectors.py:
// the standardwebhooks reference package and Python's hmac), plus the refusals.

import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import {
  WebhookVerificationError,
  WebhookVerifier,
  header,
  signPlatform,
  signStandard,
} from "../src/index.js";

interface Vector {
  name: string;
  secret: string;
  id: string;
  timestamp: number;
  body: string;
  standard: string;
  platform?: string;
}
interface Rotation {
  previous: string;
  new: string;
  id: string;
  timestamp: number;
  body: string;
  standard: string;
  platform: string;
  platformNext: string;
}
const file = JSON.parse(readFileSync(new URL("../../test/vectors/webhooks.json", import.meta.url), "utf8")) as {
  vectors: Vector[];
  rotation: Rotation;
};

function refused(f: () => unknown, code: string): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof WebhookVerificationError, `not a WebhookVerificationError: ${String(e)}`);
    assert.equal(e.code, code, e.message);
    return true;
  });
}

function standardHeaders(v: { id: string; timestamp: number; standard: string }): Record<string, string> {
  return { "webhook-id": v.id, "webhook-timestamp": String(v.timestamp), "webhook-signature": v.standard };
}

test("the vectors are there", () => {
  assert.ok(file.vectors.length >= 4);
  assert.ok(file.vectors.filter((v) => v.platform).length >= 3);
});

for (const v of file.vectors) {
  test(`signs like the reference: ${v.name}`, () => {
    assert.equal(signStandard(v.secret, v.id, v.timestamp, v.body), v.standard);
    assert.equal(signStandard(v.secret, v.id, v.timestamp, Buffer.from(v.body, "utf8")), v.standard);
    if (v.platform) assert.equal(signPlatform(v.secret, v.timestamp, v.body), v.platform);
  });

  test(`verifies the Standard Webhooks signature: ${v.name}`, () => {
    const verifier = new WebhookVerifier(v.secret);
    verifier.verifyStandard(v.id, String(v.timestamp), v.standard, v.body, v.timestamp);
    // Bytes as received, as a Uint8Array view into a larger buffer.
    const big = Buffer.concat([Buffer.from("xx"), Buffer.from(v.body, "utf8"), Buffer.from("yy")]);
    const view = new Uint8Array(big.buffer, big.byteOffset + 2, big.length - 4);
    verifier.verifyStandard(v.id, String(v.timestamp), v.standard, view, v.timestamp);
    // Within the tolerance either way, not beyond.
    verifier.verifyStandard(v.id, String(v.timestamp), v.standard, v.body, v.timestamp + 300);
    verifier.verifyStandard(v.id, String(v.timestamp), v.standard, v.body, v.timestamp - 300);
    refused(() => verifier.verifyStandard(v.id, String(v.timestamp), v.standard, v.body, v.timestamp + 301), "expired");
    refused(() => verifier.verifyStandard(v.id, String(v.timestamp), v.standard, v.body, v.timestamp - 301), "expired");
    // Anything changed: the body (one byte), the id, the timestamp, the signature.
    const flipped = Buffer.from(v.body, "utf8");
    flipped[flipped.length >> 1]! ^= 1;
    refused(() => verifier.verifyStandard(v.id, String(v.timestamp), v.standard, flipped, v.timestamp), "bad_signature");
    refused(() => verifier.verifyStandard(`${v.id}x`, String(v.timestamp), v.standard, v.body, v.timestamp), "bad_signature");
    refused(() => verifier.verifyStandard(v.id, String(v.timestamp + 1), v.standard, v.body, v.timestamp), "bad_signature");
    const sig = Buffer.from(v.standard.slice(3), "base64");
    sig[0]! ^= 0x80;
    refused(
      () => verifier.verifyStandard(v.id, String(v.timestamp), `v1,${sig.toString("base64")}`, v.body, v.timestamp),
      "bad_signature",
    );
    // Another scheme's tag, a truncated signature: no match.
    refused(() => verifier.verifyStandard(v.id, String(v.timestamp), `v2,${v.standard.slice(3)}`, v.body, v.timestamp), "bad_signature");
    refused(() => verifier.verifyStandard(v.id, String(v.timestamp), v.standard.slice(0, 20), v.body, v.timestamp), "bad_signature");
    // Another secret does not verify it.
    const other = file.vectors.find((o) => o.secret !== v.secret)!;
    refused(
      () => new WebhookVerifier(other.secret).verifyStandard(v.id, String(v.timestamp), v.standard, v.body, v.timestamp),
      "bad_signature",
    );
  });

  if (v.platform) {
    const platform = v.platform;
    test(`verifies the platform signature: ${v.name}`, () => {
      const verifier = new WebhookVerifier(v.secret);
      verifier.verifyPlatform(String(v.timestamp), platform, undefined, v.body, v.timestamp);
      verifier.verifyPlatform(String(v.timestamp), ` ${platform.toUpperCase().replace("SHA256=", "sha256=")} `, undefined, v.body, v.timestamp);
      refused(() => verifier.verifyPlatform(String(v.timestamp + 1), platform, undefined, v.body, v.timestamp), "bad_signature");
      refused(() => verifier.verifyPlatform(String(v.timestamp), platform, undefined, `${v.body} `, v.timestamp), "bad_signature");
      refused(() => verifier.verifyPlatform(String(v.timestamp), platform.slice(7), undefined, v.body, v.timestamp), "bad_signature");
      refused(() => verifier.verifyPlatform(String(v.timestamp), platform, undefined, v.body, v.timestamp + 301), "expired");
      // The key is the secret as shown, `whsec_` included: the Standard key does not verify.
      const decodedKey = createHmac("sha256", Buffer.from(v.secret.slice(6), "base64"))
        .update(`${v.timestamp}.${v.body}`)
        .digest("hex");
      refused(() => verifier.verifyPlatform(String(v.timestamp), `sha256=${decodedKey}`, undefined, v.body, v.timestamp), "bad_signature");
    });

    test(`verify() picks the scheme from the headers: ${v.name}`, () => {
      const verifier = new WebhookVerifier(v.secret);
      const platformHeaders = {
        "X-Webhook-Id": v.id,
        "X-Webhook-Timestamp": String(v.timestamp),
        "X-Webhook-Signature": platform,
      };
      if (v.body.startsWith("{\"id\"")) {
        const both = { ...standardHeaders(v), ...platformHeaders };
        const r = verifier.verify(v.body, both, { now: v.timestamp });
        assert.equal(r.scheme, "standard");
        assert.equal(r.event.id, JSON.parse(v.body).id);
        const p = verifier.verify(v.body, platformHeaders, { now: v.timestamp });
        assert.equal(p.scheme, "platform");
        assert.deepEqual(p.event, JSON.parse(v.body));
        // fetch's Headers and [name, value] pairs.
        assert.equal(verifier.verify(v.body, new Headers(both), { now: v.timestamp }).scheme, "standard");
        assert.equal(verifier.verify(v.body, Object.entries(platformHeaders), { now: v.timestamp }).scheme, "platform");
        // A bad Standard signature is not rescued by a good platform one.
        refused(() => verifier.verify(v.body, { ...both, "webhook-signature": "v1,AAAA" }, { now: v.timestamp }), "bad_signature");
      }
    });
  }
}

test("a rotation: either secret, either header", () => {
  const r = file.rotation;
  const headers = {
    "webhook-id": r.id,
    "webhook-timestamp": String(r.timestamp),
    "webhook-signature": r.standard,
    "x-webhook-timestamp": String(r.timestamp),
    "x-webhook-signature": r.platform,
    "x-webhook-signature-next": r.platformNext,
  };
  const platformOnly = Object.fromEntries(Object.entries(headers).filter(([k]) => k.startsWith("x-")));
  for (const secrets of [[r.previous], [r.new], [r.new, r.previous]]) {
    const v = new WebhookVerifier(secrets);
    assert.equal(v.verify(r.body, headers, { now: r.timestamp }).scheme, "standard");
    assert.equal(v.verify(r.body, platformOnly, { now: r.timestamp }).scheme, "platform");
  }
  // The new secret alone needs the Next header when only the platform's are read.
  const { ["x-webhook-signature-next"]: _next, ...noNext } = platformOnly;
  refused(() => new WebhookVerifier(r.new).verify(r.body, noNext, { now: r.timestamp }), "bad_signature");
  assert.equal(new WebhookVerifier(r.previous).verify(r.body, noNext, { now: r.timestamp }).scheme, "platform");
  // A third secret verifies neither.
  const stranger = file.vectors[1]!.secret;
  refused(() => new WebhookVerifier(stranger).verify(r.body, headers, { now: r.timestamp }), "bad_signature");
  refused(() => new WebhookVerifier(stranger).verify(r.body, platformOnly, { now: r.timestamp }), "bad_signature");
});

test("refusals: secrets, headers, timestamps, bodies", () => {
  const v = file.vectors[1]!;
  for (const bad of ["", "whsec_", "C2FVsBQIhrscChlQIMV+b5sSYspob7oD", "whsec_not base64!", "whsec_abc"]) {
    refused(() => new WebhookVerifier(bad), "bad_secret");
  }
  refused(() => new WebhookVerifier([]), "bad_secret");
  const verifier = new WebhookVerifier(v.secret);
  const h = standardHeaders(v);
  refused(() => verifier.verify(v.body, {}, { now: v.timestamp }), "missing_header");
  refused(() => verifier.verify(v.body, { ...h, "webhook-id": undefined }, { now: v.timestamp }), "missing_header");
  refused(() => verifier.verify(v.body, { "webhook-id": v.id, "webhook-signature": v.standard }, { now: v.timestamp }), "missing_header");
  refused(() => verifier.verify(v.body, { "x-webhook-signature": v.platform }, { now: v.timestamp }), "missing_header");
  for (const ts of ["", "abc", "1.5", "0x10", "１２"]) {
    refused(() => verifier.verifyStandard(v.id, ts, v.standard, v.body, v.timestamp), "bad_timestamp");
  }
  // The clock by default: a vector signed years from now is refused as expired.
  refused(() => verifier.verify(v.body, h), "expired");
  // A signed body that is not an event.
  const now = 1_800_000_000;
  for (const body of ["not json", "[1]", '{"id":"evt_1"}']) {
    const headers = { "webhook-id": "evt_1", "webhook-timestamp": String(now), "webhook-signature": signStandard(v.secret, "evt_1", now, body) };
    refused(() => verifier.verify(body, headers, { now }), "bad_body");
  }
  // No secret in what a verifier shows.
  assert.ok(!JSON.stringify(verifier).includes(v.secret.slice(6, 20)));
});

test("header() is case-insensitive over every shape", () => {
  assert.equal(header({ "Webhook-Id": "a" }, "webhook-id"), "a");
  assert.equal(header({ "x-a": ["1", "2"] }, "X-A"), "1, 2");
  assert.equal(header(new Headers({ "X-Webhook-Event": "e" }), "x-webhook-event"), "e");
  assert.equal(header(new Map([["WEBHOOK-ID", "m"]]), "webhook-id"), "m");
  assert.equal(header({}, "webhook-id"), undefined);
});
