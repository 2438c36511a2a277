// The organization secret (docs/sdk-js.md, "The organization secret"): generating it,
// checking the organization key against Node 1's identity key, the binding of a
// ciphertext to one operation, and sealing. Every step runs in the WebAssembly build of
// the Rust SDK's own code (crates/planbok-sdk-wasm: planbok-sdk's key trust,
// planbok-envelope's bindings and envelope, planbok-chains' signing payloads); this file
// converts arguments and errors and does no cryptography of its own.

import type { OrgSecret as WasmOrgSecret, TrustedOrgKey as WasmTrustedOrgKey } from "#wasm";

import type { PublicKey } from "./types.js";
import { wasm } from "./wasm.js";

/** The operation a ciphertext is for: `dkg` (registration, wallet sets), `sign` (wallets, signatures, transactions), `verify` (export). */
export type SecretContext = "dkg" | "sign" | "verify";

/**
 * Why the module refused. Nothing was encrypted. `org_key_*` and `node_key_malformed`:
 * the organization key is not one to trust (`org_key_bad_signature`: swapped or altered on
 * the way; `org_key_wrong_signer`: signed by another node than the configured one;
 * `org_key_pin_mismatch`: not the key pinned before).
 */
export type SecretErrorCode =
  | "org_key_malformed"
  | "org_key_too_small"
  | "org_key_unsigned"
  | "org_key_wrong_signer"
  | "org_key_bad_signature"
  | "org_key_wrong_org"
  | "org_key_pin_mismatch"
  | "node_key_malformed"
  | "secret_malformed"
  | "encrypt_failed"
  | "invalid_input"
  | "invalid_operation";

/** A refusal of the organization-secret module: match on `code`. Never carries the secret. */
export class SecretError extends Error {
  readonly code: SecretErrorCode | (string & {});

  constructor(code: SecretError["code"], message: string) {
    super(message);
    this.name = "SecretError";
    this.code = code;
  }
}

/** Runs a module call, its refusals (JavaScript `Error`s named by code) as [`SecretError`]. */
function call<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof Error && e.name !== "Error" && /^[a-z_]+$/.test(e.name)) {
      throw new SecretError(e.name, e.message);
    }
    throw e;
  }
}

/**
 * An organization key that passed every check: Node 1's Ed25519 signature over it (when a
 * node key is given) and the pin. The only key [`OrgSecret.seal`] encrypts to; made only by
 * [`verifyOrgKey`].
 */
export class TrustedOrgKey {
  /** @internal */
  readonly inner: WasmTrustedOrgKey;
  /** The organization. */
  readonly orgId: string;
  /** SHA-256 of the key's SPKI DER, hex: what a pin store keeps. */
  readonly fingerprint: string;
  /** The key, SPKI PEM. */
  readonly publicKey: string;
  /** Node 1's signature verified; false when no node key was given (pinned only). */
  readonly verifiedByNode: boolean;
  /** No pin was given: this key is the first seen; pin [`fingerprint`] now. */
  readonly pinnedNow: boolean;

  private constructor(inner: WasmTrustedOrgKey) {
    this.inner = inner;
    this.orgId = inner.orgId;
    this.fingerprint = inner.fingerprint;
    this.publicKey = inner.publicKey;
    this.verifiedByNode = inner.verifiedByNode;
    this.pinnedNow = inner.pinnedNow;
  }

  /** @internal */
  static from(inner: WasmTrustedOrgKey): TrustedOrgKey {
    return new TrustedOrgKey(inner);
  }

  toJSON(): { orgId: string; fingerprint: string; verifiedByNode: boolean } {
    return { orgId: this.orgId, fingerprint: this.fingerprint, verifiedByNode: this.verifiedByNode };
  }
}

export interface VerifyOrgKeyOptions {
  /**
   * Node 1's identity key, `ed25519:<64 hex>` (`PLANBOK_NODE_KEY`, printed by `planbok dev`
   * and `planbok operator status`). `null`: no node key, the key is only pinned on first
   * use ([`TrustedOrgKey.verifiedByNode`] false) — a server that lies the first time is
   * then believed.
   */
  nodeKey: string | null;
  /** The fingerprint pinned for this organization before, if any. */
  pinned?: string | undefined;
}

/**
 * Checks `GET /v2/config/organization/public-key`'s answer for `orgId`, as the Rust SDK's
 * `OrgKeyTrust::check` (the same code): Node 1's signature over (org id, key, creation
 * time), the RSA size policy (3072 bits or more), then the pin. Throws [`SecretError`].
 */
export function verifyOrgKey(orgId: string, served: PublicKey, options: VerifyOrgKeyOptions): TrustedOrgKey {
  const m = wasm();
  return call(() =>
    TrustedOrgKey.from(m.verifyOrgKey(orgId, JSON.stringify(served), options.nodeKey ?? undefined, options.pinned)),
  );
}

/** Where organization-key fingerprints are pinned (a file, a database, a secret store). */
export interface OrgKeyPins {
  get(orgId: string): string | undefined | Promise<string | undefined>;
  set(orgId: string, fingerprint: string): void | Promise<void>;
}

/** Pins in memory, for one process. */
export class MemoryPins implements OrgKeyPins {
  readonly #pins = new Map<string, string>();
  get(orgId: string): string | undefined {
    return this.#pins.get(orgId);
  }
  set(orgId: string, fingerprint: string): void {
    this.#pins.set(orgId, fingerprint);
  }
}

export interface SealOptions {
  /** The envelope's time, unix ms (`Date.now()` by default); Node 1 refuses one over 5 minutes old. */
  timestampMs?: number | undefined;
}

/**
 * The organization secret: 32 bytes that live in the WebAssembly module's memory, zeroized
 * there when [`dispose`]d (or collected). Store it like a password ([`toHex`]); the SDK
 * never prints it (`JSON.stringify` and `String` show nothing of it).
 */
export class OrgSecret {
  #inner: WasmOrgSecret | undefined;

  private constructor(inner: WasmOrgSecret) {
    this.#inner = inner;
  }

  /** 32 random bytes (`crypto.getRandomValues`, in the module). */
  static generate(): OrgSecret {
    return new OrgSecret(wasm().OrgSecret.generate());
  }

  /** From 64 hex characters (surrounding whitespace ignored). */
  static fromHex(hex: string): OrgSecret {
    const m = wasm();
    return new OrgSecret(call(() => m.OrgSecret.fromHex(hex)));
  }

  #secret() {
    if (!this.#inner) throw new SecretError("invalid_input", "this OrgSecret was disposed");
    return this.#inner;
  }

  /** As 64 lowercase hex characters: what to store (like a password). */
  toHex(): string {
    return this.#secret().toHex();
  }

  /**
   * `encryptedOrganizationSecret` for one operation, bound to it: RSA-OAEP-SHA256 to `key`
   * of `{"secret", "timestamp", "context", "binding"}`, base64. `binding` comes from
   * [`bindings`] (or a [`Sealer`](./sealer.ts), which computes it from the request). Each
   * ciphertext is single-use: make one per request.
   */
  seal(key: TrustedOrgKey, context: SecretContext, binding: string, options?: SealOptions): string {
    const s = this.#secret();
    return call(() => s.seal(key.inner, context, binding, options?.timestampMs ?? Date.now()));
  }

  /**
   * [`seal`] without a binding: only for what cannot be bound — a transfer, a contract
   * execution, a cancel or an acceleration, whose transaction (nonce, fees) the server
   * makes. Organizations that require bindings refuse it.
   */
  sealUnbound(key: TrustedOrgKey, context: SecretContext, options?: SealOptions): string {
    const s = this.#secret();
    return call(() => s.sealUnbound(key.inner, context, options?.timestampMs ?? Date.now()));
  }

  /** Zeroizes the module's copy; the object is unusable afterwards. */
  dispose(): void {
    this.#inner?.free();
    this.#inner = undefined;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  toJSON(): string {
    return "OrgSecret(<redacted>)";
  }

  toString(): string {
    return "OrgSecret(<redacted>)";
  }
}

/**
 * The binding of a ciphertext to one operation (`planbok_envelope::binding`, v1): 64 hex
 * characters, computed from what Node 1 checks on its own. Keys are hex (the wallet set's
 * `secp256k1PublicKey`, an ed25519 wallet's `publicKey`).
 */
export const bindings = {
  /** `POST /v2/organization/secret` (context `dkg`). */
  registration(orgId: string): string {
    return wasm().bindingRegistration(orgId);
  },
  /** A wallet set (`dkg`) or wallets (`sign`), named by the request's idempotency key. */
  creation(context: "dkg" | "sign", orgId: string, idempotencyKey: string): string {
    const m = wasm();
    return call(() => m.bindingCreation(context, orgId, idempotencyKey));
  },
  /** A signature by `groupKey` at `derivationPath` over `payload` (hex, [`signPayload`]), context `sign`. */
  sign(orgId: string, groupKey: string, derivationPath: string, payload: string): string {
    const m = wasm();
    return call(() => m.bindingSign(orgId, groupKey, derivationPath, payload));
  },
  /** An export of the keys `groupKeys` to `recipientPublicKey` (the request's, base64), context `verify`. */
  export(orgId: string, recipientPublicKey: string, groupKeys: string[]): string {
    const m = wasm();
    return call(() => m.bindingExport(orgId, recipientPublicKey, groupKeys));
  },
  /** A refresh of the key `groupKey`, context `sign`. */
  refresh(orgId: string, groupKey: string): string {
    const m = wasm();
    return call(() => m.bindingRefresh(orgId, groupKey));
  },
};

/** A signing request as the organization's sign routes take it, with its wallet's chain and key. */
export interface SignPayloadRequest {
  /** The wallet's `blockchain`. */
  blockchain: string;
  /** The route: `sign/message`, `sign/typed-data`, `sign/transaction`, `sign/delegate-action`. */
  kind: "message" | "typedData" | "transaction" | "delegateAction";
  /** The wallet's `publicKey` (transactions and delegate actions). */
  publicKey?: string | undefined;
  message?: string | undefined;
  encodedByHex?: boolean | undefined;
  typedData?: string | undefined;
  rawTransaction?: string | null | undefined;
  transaction?: string | null | undefined;
  unsignedDelegateAction?: string | undefined;
}

/** What the nodes sign. */
export interface SignPayload {
  /** The exact bytes (hex): a 32-byte digest, or an ed25519 message. */
  payload: string;
  /** `0x`-hex, as the server answers in `digest`. */
  digest: string;
  /** `eip191`, `eip712`, `bip137`, `ed25519`, `eip155`, `eip2930`, `eip1559`, `solana`, `near`. */
  standard: string;
}

/** What the nodes will sign for `request`, computed as the server computes it (`planbok-chains`). */
export function signPayload(request: SignPayloadRequest): SignPayload {
  const m = wasm();
  const clean = Object.fromEntries(Object.entries(request).filter(([, v]) => v !== undefined && v !== null));
  return JSON.parse(call(() => m.signPayload(JSON.stringify(clean)))) as SignPayload;
}

/** Which key a wallet of `blockchain` signs with: `secp256k1` (its wallet set's master) or `ed25519` (its own). */
export function chainCurve(blockchain: string): "secp256k1" | "ed25519" {
  const m = wasm();
  return call(() => m.chainCurve(blockchain)) as "secp256k1" | "ed25519";
}
