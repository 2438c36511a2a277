// Fresh, bound ciphertexts for one organization, computed from the requests they go with:
// the TypeScript counterpart of the Rust SDK's `trust::Sealer`. It fetches what a binding
// names (the organization, its key, a wallet and its set); the WebAssembly module checks,
// computes and seals (src/secret.ts).

import type { PlanbokClient } from "./client.js";
import {
  bindings,
  chainCurve,
  OrgSecret,
  SecretError,
  signPayload,
  verifyOrgKey,
  type OrgKeyPins,
  type SealOptions,
  type SecretContext,
  type SignPayloadRequest,
  type TrustedOrgKey,
} from "./secret.js";
import type { Wallet } from "./types.js";
import type { SecretProvider } from "./viem.js";

/** What a client trusts an organization key by. */
export interface OrgKeyTrust {
  /** Node 1's identity key (`ed25519:…`), or `null` to trust on first use only (see [`verifyOrgKey`]). */
  nodeKey: string | null;
  /** Where fingerprints are pinned; without one, each process pins anew. */
  pins?: OrgKeyPins | undefined;
}

/**
 * `GET /v2/organization` and `GET /v2/config/organization/public-key`, the key checked
 * against Node 1's identity key and the pins (pinned now when it is the first). Throws
 * [`SecretError`] (`org_key_*`) for a key not to encrypt to.
 */
export async function trustedOrgKey(client: PlanbokClient, trust: OrgKeyTrust): Promise<TrustedOrgKey> {
  const org = await client.organization();
  const served = await client.organizationPublicKey();
  const pinned = await trust.pins?.get(org.id);
  const key = verifyOrgKey(org.id, served, { nodeKey: trust.nodeKey, pinned });
  if (key.pinnedNow) await trust.pins?.set(org.id, key.fingerprint);
  return key;
}

/** A wallet as Node 1 knows it: the key it signs with (hex) and its path, with the wallet. */
export interface WalletKey {
  wallet: Wallet;
  /** The wallet set's secp256k1 master, or the ed25519 wallet's own key. */
  groupKey: string;
}

/** The organization sign routes a [`Sealer`] computes bindings for from their bodies. */
export type SignRoute =
  | "/v2/organization/sign/message"
  | "/v2/organization/sign/typed-data"
  | "/v2/organization/sign/transaction"
  | "/v2/organization/sign/delegate-action";

const KINDS: Record<SignRoute, SignPayloadRequest["kind"]> = {
  "/v2/organization/sign/message": "message",
  "/v2/organization/sign/typed-data": "typedData",
  "/v2/organization/sign/transaction": "transaction",
  "/v2/organization/sign/delegate-action": "delegateAction",
};

const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);
/** Typed data given as an object, as the client sends it: bigints as decimal strings. */
const json = (v: unknown): string => JSON.stringify(v, (_k, x: unknown) => (typeof x === "bigint" ? x.toString() : x));

/**
 * Fresh `encryptedOrganizationSecret`s for one organization, each bound to its request:
 *
 * ```ts
 * const sealer = await Sealer.create(client, OrgSecret.fromHex(hex), { nodeKey: process.env.PLANBOK_NODE_KEY! });
 * const idem = idempotencyKey();
 * await client.createWalletSet({ name, idempotencyKey: idem, encryptedOrganizationSecret: sealer.creation("dkg", idem) });
 * ```
 */
export class Sealer {
  readonly client: PlanbokClient;
  readonly key: TrustedOrgKey;
  readonly #secret: OrgSecret;
  /** What a wallet signs with never changes: one lookup per wallet. */
  readonly #wallets = new Map<string, WalletKey>();

  constructor(client: PlanbokClient, secret: OrgSecret, key: TrustedOrgKey) {
    this.client = client;
    this.#secret = secret;
    this.key = key;
  }

  /** A sealer for the client's organization, its key checked first ([`trustedOrgKey`]). */
  static async create(client: PlanbokClient, secret: OrgSecret, trust: OrgKeyTrust): Promise<Sealer> {
    return new Sealer(client, secret, await trustedOrgKey(client, trust));
  }

  /** For `POST /v2/organization/secret`. */
  registration(options?: SealOptions): string {
    return this.#secret.seal(this.key, "dkg", bindings.registration(this.key.orgId), options);
  }

  /** For a creation request with `idempotencyKey`: a wallet set (`dkg`) or wallets (`sign`). */
  creation(context: "dkg" | "sign", idempotencyKey: string, options?: SealOptions): string {
    return this.#secret.seal(this.key, context, bindings.creation(context, this.key.orgId, idempotencyKey), options);
  }

  /** For signing `payload` (hex: what the nodes sign, [`signPayload`]) with the wallet `walletId`. */
  async sign(walletId: string, payload: string, options?: SealOptions): Promise<string> {
    const k = await this.walletKey(walletId);
    const b = bindings.sign(this.key.orgId, k.groupKey, k.wallet.derivationPath, payload);
    return this.#secret.seal(this.key, "sign", b, options);
  }

  /**
   * For the request `body` of a sign route (its `walletId` and fields): the payload
   * computed from them as the server will, then bound.
   */
  async signRequest(route: SignRoute, body: Record<string, unknown>, options?: SealOptions): Promise<string> {
    const walletId = str(body["walletId"]);
    if (!walletId) throw new SecretError("invalid_input", `${route}: the body names no walletId`);
    const { wallet } = await this.walletKey(walletId);
    const typedData = body["typedData"];
    const { payload } = signPayload({
      blockchain: wallet.blockchain,
      kind: KINDS[route],
      publicKey: wallet.publicKey,
      message: str(body["message"]),
      encodedByHex: body["encodedByHex"] === true,
      typedData: typeof typedData === "string" || typedData === undefined ? typedData : json(typedData),
      rawTransaction: str(body["rawTransaction"]),
      transaction: str(body["transaction"]),
      unsignedDelegateAction: str(body["unsignedDelegateAction"]),
    });
    return this.sign(walletId, payload, options);
  }

  /** For exporting `walletIds` to `recipientPublicKey` (the request's, base64). */
  async export(recipientPublicKey: string, walletIds: string[], options?: SealOptions): Promise<string> {
    const keys: string[] = [];
    for (const id of walletIds) keys.push((await this.walletKey(id)).groupKey);
    return this.#secret.seal(this.key, "verify", bindings.export(this.key.orgId, recipientPublicKey, keys), options);
  }

  /**
   * Unbound (`sign`): for transfers, contract executions, cancels and accelerations, whose
   * transaction the server makes. Organizations that require bindings refuse it.
   */
  unbound(context: SecretContext = "sign", options?: SealOptions): string {
    return this.#secret.sealUnbound(this.key, context, options);
  }

  /** For [`planbokAccount`](./viem.ts)'s `encryptedOrganizationSecret`: each signature's request, bound. */
  secretProvider(): SecretProvider {
    return ({ route, body }) => this.signRequest(route, body);
  }

  /** The key a wallet signs with as Node 1 knows it; looked up once per wallet. */
  async walletKey(walletId: string): Promise<WalletKey> {
    const known = this.#wallets.get(walletId);
    if (known) return known;
    const wallet = await this.client.getWallet(walletId);
    const groupKey =
      chainCurve(wallet.blockchain) === "secp256k1"
        ? (await this.client.getWalletSet(wallet.walletSetId)).secp256k1PublicKey
        : wallet.publicKey;
    const k = { wallet, groupKey };
    this.#wallets.set(walletId, k);
    return k;
  }

  toJSON(): { orgId: string; fingerprint: string } {
    return { orgId: this.key.orgId, fingerprint: this.key.fingerprint };
  }
}
