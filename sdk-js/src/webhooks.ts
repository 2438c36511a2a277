// Verifying the webhooks a planbok server sends (docs/webhooks.md), with node:crypto only.
//
// Every delivery carries two signatures of the same raw body:
//
// - Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`): one or more
//   space-separated `v1,<base64>` entries, each HMAC-SHA256 over `"{id}.{timestamp}.{body}"`
//   keyed with the base64-decoded part of the secret after `whsec_`; one entry per valid
//   secret during a rotation.
// - The platform's (`X-Webhook-Timestamp`, `X-Webhook-Signature: sha256=<hex>`): HMAC-SHA256
//   over `"{timestamp}.{body}"` keyed with the secret's UTF-8 bytes as shown, `whsec_`
//   included. During a rotation it is the previous secret's, and `X-Webhook-Signature-Next`
//   carries the new secret's.
//
// `verify` checks the Standard Webhooks signature when its header is there (it also covers
// the event id), else the platform's; both compare in constant time and refuse a timestamp
// more than the tolerance (5 minutes) away from now. Verify the raw bytes as received,
// before parsing; deduplicate on the event id (a retry repeats it).

import { createHmac, timingSafeEqual } from "node:crypto";

/** The default tolerance between the signed timestamp and now, either way, in seconds. */
export const DEFAULT_TOLERANCE_SECONDS = 300;

export type WebhookErrorCode =
  | "bad_secret"
  | "missing_header"
  | "bad_timestamp"
  | "expired"
  | "bad_signature"
  | "bad_body";

/** Why a delivery was refused. The message never contains a secret. */
export class WebhookVerificationError extends Error {
  readonly code: WebhookErrorCode;
  constructor(code: WebhookErrorCode, message: string) {
    super(message);
    this.name = "WebhookVerificationError";
    this.code = code;
  }
}

/** A verified event: `{id, event, timestamp, organizationId, data}`. */
export interface WebhookEvent<T = unknown> {
  /** `evt_…`: the same on every attempt and replay; deduplicate on it. */
  id: string;
  /** E.g. `wallet.created`, `webhook.test`. */
  event: string;
  /** When the event happened (RFC 3339). */
  timestamp: string;
  organizationId: string;
  data: T;
}

/** Which signature was checked. */
export type WebhookScheme = "standard" | "platform";

/**
 * Headers as a fetch `Headers`, node's `IncomingHttpHeaders`, a plain object or
 * `[name, value]` pairs; names are matched case-insensitively.
 */
export type HeadersLike =
  | Headers
  | Record<string, string | string[] | undefined>
  | Iterable<readonly [string, string]>;

/** The raw body as received: bytes, or the exact text. */
export type RawBody = string | Uint8Array;

interface Secret {
  /** As shown, `whsec_` included: the platform signature's key. */
  text: Buffer;
  /** The base64-decoded part after `whsec_`: the Standard Webhooks key. */
  key: Buffer;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function strictBase64(s: string): Buffer | undefined {
  return BASE64.test(s) ? Buffer.from(s, "base64") : undefined;
}

function parseSecret(secret: string): Secret {
  const b64 = secret.startsWith("whsec_") ? secret.slice("whsec_".length) : undefined;
  const key = b64 === undefined ? undefined : strictBase64(b64);
  if (!key || key.length === 0) {
    throw new WebhookVerificationError("bad_secret", "the secret is not a whsec_<base64> key");
  }
  return { text: Buffer.from(secret, "utf8"), key };
}

function bytes(body: RawBody): Buffer {
  return typeof body === "string" ? Buffer.from(body, "utf8") : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
}

function hmac(key: Buffer, ...parts: (string | Buffer)[]): Buffer {
  const mac = createHmac("sha256", key);
  for (const p of parts) mac.update(p);
  return mac.digest();
}

/** Constant time for equal lengths; the length of an HMAC-SHA256 is no secret. */
function equal(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** A header's value, looked up case-insensitively; several values are joined by ", ". */
export function header(headers: HeadersLike, name: string): string | undefined {
  const want = name.toLowerCase();
  if (typeof Headers !== "undefined" && headers instanceof Headers) {
    return headers.get(want) ?? undefined;
  }
  if (Symbol.iterator in headers) {
    for (const [k, v] of headers as Iterable<readonly [string, string]>) {
      if (k.toLowerCase() === want) return v;
    }
    return undefined;
  }
  for (const [k, v] of Object.entries(headers)) {
    if (k.toLowerCase() === want && v !== undefined) return Array.isArray(v) ? v.join(", ") : v;
  }
  return undefined;
}

/**
 * Verifies deliveries with one or more secrets (several while a rotation settles).
 *
 * ```ts
 * const v = new WebhookVerifier(process.env.PLANBOK_WEBHOOK_SECRET!);
 * const { event } = v.verify(rawBody, req.headers); // throws WebhookVerificationError
 * ```
 */
export class WebhookVerifier {
  readonly #secrets: Secret[];
  readonly toleranceSeconds: number;

  /** `secrets`: `whsec_…` as the server showed it (creation or rotation). */
  constructor(secrets: string | readonly string[], options?: { toleranceSeconds?: number }) {
    const list = typeof secrets === "string" ? [secrets] : [...secrets];
    if (list.length === 0) throw new WebhookVerificationError("bad_secret", "no secret given");
    this.#secrets = list.map(parseSecret);
    this.toleranceSeconds = options?.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  }

  /** Never shows a secret. */
  toJSON(): { secrets: number; toleranceSeconds: number } {
    return { secrets: this.#secrets.length, toleranceSeconds: this.toleranceSeconds };
  }

  /**
   * Verifies a delivery: `webhook-signature` when present, else `X-Webhook-Signature` (and
   * `-Next`); then parses the body. `now` is Unix seconds (the clock by default).
   */
  verify<T = unknown>(
    body: RawBody,
    headers: HeadersLike,
    options?: { now?: number },
  ): { event: WebhookEvent<T>; scheme: WebhookScheme } {
    const now = options?.now ?? Math.floor(Date.now() / 1000);
    const h = (name: string) => header(headers, name);
    let scheme: WebhookScheme;
    const standard = h("webhook-signature");
    if (standard !== undefined) {
      const id = h("webhook-id");
      if (id === undefined) throw new WebhookVerificationError("missing_header", "missing header webhook-id");
      const ts = h("webhook-timestamp");
      if (ts === undefined) throw new WebhookVerificationError("missing_header", "missing header webhook-timestamp");
      this.verifyStandard(id, ts, standard, body, now);
      scheme = "standard";
    } else {
      const sig = h("x-webhook-signature");
      if (sig === undefined) {
        throw new WebhookVerificationError("missing_header", "missing header webhook-signature or X-Webhook-Signature");
      }
      const ts = h("x-webhook-timestamp");
      if (ts === undefined) throw new WebhookVerificationError("missing_header", "missing header X-Webhook-Timestamp");
      this.verifyPlatform(ts, sig, h("x-webhook-signature-next"), body, now);
      scheme = "platform";
    }
    return { event: parseEvent<T>(body), scheme };
  }

  /** Checks a Standard Webhooks `webhook-signature` (any `v1,` entry against any secret). */
  verifyStandard(id: string, timestamp: string, signature: string, body: RawBody, now?: number): void {
    this.checkTime(timestamp, now);
    const raw = bytes(body);
    const wants = this.#secrets.map((s) => hmac(s.key, `${id}.${timestamp}.`, raw));
    let ok = false;
    for (const entry of signature.split(/\s+/)) {
      if (!entry.startsWith("v1,")) continue;
      const got = strictBase64(entry.slice(3));
      if (!got) continue;
      for (const want of wants) ok = equal(want, got) || ok;
    }
    if (!ok) throw new WebhookVerificationError("bad_signature", "no signature matches");
  }

  /** Checks the platform's `sha256=<hex>` `X-Webhook-Signature` (and `-Next`). */
  verifyPlatform(timestamp: string, signature: string, next: string | undefined, body: RawBody, now?: number): void {
    this.checkTime(timestamp, now);
    const raw = bytes(body);
    const wants = this.#secrets.map((s) => hmac(s.text, `${timestamp}.`, raw));
    let ok = false;
    for (const value of next === undefined ? [signature] : [signature, next]) {
      const hex = value.trim();
      if (!hex.startsWith("sha256=") || !/^[0-9a-fA-F]{64}$/.test(hex.slice(7))) continue;
      const got = Buffer.from(hex.slice(7), "hex");
      for (const want of wants) ok = equal(want, got) || ok;
    }
    if (!ok) throw new WebhookVerificationError("bad_signature", "no signature matches");
  }

  private checkTime(timestamp: string, now: number | undefined): void {
    const t = timestamp.trim();
    if (!/^-?[0-9]{1,15}$/.test(t)) {
      throw new WebhookVerificationError("bad_timestamp", "the timestamp is not Unix seconds");
    }
    const skew = Math.abs((now ?? Math.floor(Date.now() / 1000)) - Number(t));
    if (skew > this.toleranceSeconds) {
      throw new WebhookVerificationError("expired", `the timestamp is ${skew} s away from now, more than the tolerance`);
    }
  }
}

function parseEvent<T>(body: RawBody): WebhookEvent<T> {
  let v: unknown;
  try {
    v = JSON.parse(typeof body === "string" ? body : bytes(body).toString("utf8"));
  } catch (e) {
    throw new WebhookVerificationError("bad_body", `the body is not JSON: ${(e as Error).message}`);
  }
  const o = v as Record<string, unknown>;
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new WebhookVerificationError("bad_body", "the body is not an event object");
  }
  for (const k of ["id", "event", "timestamp", "organizationId"]) {
    if (typeof o[k] !== "string") throw new WebhookVerificationError("bad_body", `the event has no string ${k}`);
  }
  if (!("data" in o)) throw new WebhookVerificationError("bad_body", "the event has no data");
  return o as unknown as WebhookEvent<T>;
}

/** The `v1,<base64>` entry a server signs with `secret` (for tests and local tools). */
export function signStandard(secret: string, id: string, timestamp: number | string, body: RawBody): string {
  const s = parseSecret(secret);
  return `v1,${hmac(s.key, `${id}.${timestamp}.`, bytes(body)).toString("base64")}`;
}

/** The platform's `sha256=<hex>` a server signs with `secret` (for tests and local tools). */
export function signPlatform(secret: string, timestamp: number | string, body: RawBody): string {
  const s = parseSecret(secret);
  return `sha256=${hmac(s.text, `${timestamp}.`, bytes(body)).toString("hex")}`;
}
