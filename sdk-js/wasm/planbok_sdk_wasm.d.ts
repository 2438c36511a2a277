/* tslint:disable */
/* eslint-disable */

/**
 * The organization secret: 32 bytes held in this module's memory, zeroized when freed
 * (`free()`, or when JavaScript collects the object).
 */
export class OrgSecret {
    private constructor();
    free(): void;
    [Symbol.dispose](): void;
    /**
     * From 64 hex characters. The module's copy of the text is zeroized.
     */
    static fromHex(hex: string): OrgSecret;
    /**
     * 32 bytes from `crypto.getRandomValues`.
     */
    static generate(): OrgSecret;
    /**
     * [`WasmOrgSecret::seal`] without a binding: only for what cannot be bound (a
     * transfer, a contract execution, a cancel or an acceleration: the server chooses
     * the transaction's nonce and fees). Refused by organizations that require bindings.
     */
    sealUnbound(key: TrustedOrgKey, context: string, timestampMs: number): string;
    /**
     * `encryptedOrganizationSecret` for one operation: RSA-OAEP-SHA256 to `key` of
     * `{"secret", "timestamp": timestampMs, "context", "binding"}`, base64. `binding` is
     * the operation's (64 hex, from the `binding…` functions).
     */
    seal(key: TrustedOrgKey, context: string, binding: string, timestampMs: number): string;
    /**
     * As 64 lowercase hex characters, to store like a password. Copied straight into a
     * JavaScript string; the module's copy is zeroized.
     */
    toHex(): string;
}

/**
 * An organization key that passed every check (Node 1's signature, the pin): the only
 * key [`WasmOrgSecret::seal`] encrypts to. Made only by [`verify_org_key`].
 */
export class TrustedOrgKey {
    private constructor();
    free(): void;
    [Symbol.dispose](): void;
    /**
     * SHA-256 of the key's SPKI DER, hex: what is pinned.
     */
    readonly fingerprint: string;
    /**
     * The organization.
     */
    readonly orgId: string;
    /**
     * No pin was given: the caller should pin [`WasmTrustedOrgKey::fingerprint`] now.
     */
    readonly pinnedNow: boolean;
    /**
     * The key, SPKI PEM.
     */
    readonly publicKey: string;
    /**
     * Node 1's signature over it verified (false: only pinned, no node key was given).
     */
    readonly verifiedByNode: boolean;
}

/**
 * The binding of a creation request named by its idempotency key (wallet set: `dkg`;
 * wallets: `sign`).
 */
export function bindingCreation(context: string, orgId: string, idempotencyKey: string): string;

/**
 * The binding of an export (`verify`) of the keys `groupKeys` (hex) to the request's
 * `recipientPublicKey` (base64).
 */
export function bindingExport(orgId: string, recipientPublicKey: string, groupKeys: string[]): string;

/**
 * The binding of a refresh of the key `groupKey` (hex), context `sign`.
 */
export function bindingRefresh(orgId: string, groupKey: string): string;

/**
 * The binding of the secret's registration (`POST /v2/organization/secret`, `dkg`).
 */
export function bindingRegistration(orgId: string): string;

/**
 * The binding of a signature (`sign`): the key's group public key (hex), the wallet's
 * derivation path, the payload the nodes sign (hex, from [`sign_payload`]).
 */
export function bindingSign(orgId: string, groupKey: string, derivationPath: string, payload: string): string;

/**
 * `secp256k1` or `ed25519`: which key a wallet of `blockchain` signs with (the wallet
 * set's master, or the wallet's own).
 */
export function chainCurve(blockchain: string): string;

/**
 * What the nodes sign for a signing request (JSON [`ops::SignRequest`]); answers JSON
 * `{payload, digest, standard}`.
 */
export function signPayload(request: string): string;

/**
 * Checks `GET /v2/config/organization/public-key`'s `data` (JSON text) for `orgId`
 * against Node 1's identity key (`ed25519:<hex>`; `undefined`: pinning only) and the
 * fingerprint pinned before (`undefined`: none yet). See [`ops::check_org_key`].
 */
export function verifyOrgKey(orgId: string, served: string, nodeKey?: string | null, pinned?: string | null): TrustedOrgKey;

export type InitInput = RequestInfo | URL | Response | BufferSource | WebAssembly.Module;

export interface InitOutput {
    readonly memory: WebAssembly.Memory;
    readonly __wbg_orgsecret_free: (a: number, b: number) => void;
    readonly __wbg_trustedorgkey_free: (a: number, b: number) => void;
    readonly bindingCreation: (a: number, b: number, c: number, d: number, e: number, f: number) => [number, number, number, number];
    readonly bindingExport: (a: number, b: number, c: number, d: number, e: number, f: number) => [number, number, number, number];
    readonly bindingRefresh: (a: number, b: number, c: number, d: number) => [number, number, number, number];
    readonly bindingRegistration: (a: number, b: number) => [number, number];
    readonly bindingSign: (a: number, b: number, c: number, d: number, e: number, f: number, g: number, h: number) => [number, number, number, number];
    readonly chainCurve: (a: number, b: number) => [number, number, number, number];
    readonly orgsecret_fromHex: (a: number, b: number) => [number, number, number];
    readonly orgsecret_generate: () => number;
    readonly orgsecret_seal: (a: number, b: number, c: number, d: number, e: number, f: number, g: number) => [number, number, number, number];
    readonly orgsecret_sealUnbound: (a: number, b: number, c: number, d: number, e: number) => [number, number, number, number];
    readonly orgsecret_toHex: (a: number) => any;
    readonly signPayload: (a: number, b: number) => [number, number, number, number];
    readonly trustedorgkey_fingerprint: (a: number) => [number, number];
    readonly trustedorgkey_orgId: (a: number) => [number, number];
    readonly trustedorgkey_pinnedNow: (a: number) => number;
    readonly trustedorgkey_publicKey: (a: number) => [number, number];
    readonly trustedorgkey_verifiedByNode: (a: number) => number;
    readonly verifyOrgKey: (a: number, b: number, c: number, d: number, e: number, f: number, g: number, h: number) => [number, number, number];
    readonly __wbindgen_malloc: (a: number, b: number) => number;
    readonly __wbindgen_realloc: (a: number, b: number, c: number, d: number) => number;
    readonly __wbindgen_free: (a: number, b: number, c: number) => void;
    readonly __wbindgen_exn_store: (a: number) => void;
    readonly __externref_table_alloc: () => number;
    readonly __wbindgen_externrefs: WebAssembly.Table;
    readonly __externref_table_dealloc: (a: number) => void;
    readonly __externref_drop_slice: (a: number, b: number) => void;
    readonly __wbindgen_start: () => void;
}

export type SyncInitInput = BufferSource | WebAssembly.Module;

/**
 * Instantiates the given `module`, which can either be bytes or
 * a precompiled `WebAssembly.Module`.
 *
 * @param {{ module: SyncInitInput }} module - Passing `SyncInitInput` directly is deprecated.
 *
 * @returns {InitOutput}
 */
export function initSync(module: { module: SyncInitInput } | SyncInitInput): InitOutput;

/**
 * If `module_or_path` is {RequestInfo} or {URL}, makes a request and
 * for everything else, calls `WebAssembly.instantiate` directly.
 *
 * @param {{ module_or_path: InitInput | Promise<InitInput> }} module_or_path - Passing `InitInput` directly is deprecated.
 *
 * @returns {Promise<InitOutput>}
 */
export default function __wbg_init (module_or_path?: { module_or_path: InitInput | Promise<InitInput> } | InitInput | Promise<InitInput>): Promise<InitOutput>;
