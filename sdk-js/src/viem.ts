// A viem account backed by a planbok wallet: viem's `toAccount` with signMessage,
// signTypedData and signTransaction done by the REST sign routes (the MPC nodes sign; no
// key is ever here). Each signature is checked before it is handed to viem: it must be over
// the digest viem computes for the same input and recover to the account's address.

import type {
  Address,
  Hex,
  LocalAccount,
  SignableMessage,
  TransactionSerializable,
  TransactionSerialized,
  TypedDataDefinition,
} from "viem";
import {
  getAddress,
  getTypesForEIP712Domain,
  hashMessage,
  hashTypedData,
  isAddressEqual,
  recoverAddress,
  recoverTransactionAddress,
  serializeTransaction,
  toHex,
} from "viem";
import { toAccount } from "viem/accounts";

import { idempotencyKey, toJson, type PlanbokClient } from "./client.js";
import { PlanbokError } from "./error.js";
import type { MessageSignature } from "./types.js";

/** The sign route a secret is asked for, and the request it will go with (no secret in it). */
export interface SecretRequest {
  route: "/v2/organization/sign/message" | "/v2/organization/sign/typed-data" | "/v2/organization/sign/transaction";
  body: Record<string, unknown>;
}

/**
 * Makes a fresh `encryptedOrganizationSecret` (context `sign`) for one request: what a
 * trustless organization must send with every signature (docs/api.md, "Custody and
 * secrets"; the platform calls it the entity secret ciphertext). Each ciphertext is
 * single-use, so this is called once per signature, with the request it is for (a client
 * that binds ciphertexts to operations computes the binding from it).
 */
export type SecretProvider = (request: SecretRequest) => string | Promise<string>;

export interface PlanbokAccountOptions {
  client: PlanbokClient;
  /** The planbok wallet (an EVM chain's: `ETH-SEPOLIA`, `BASE`, …). */
  walletId: string;
  /** The wallet's address; every signature is checked to recover to it. */
  address: Address;
  /** Trustless organizations only: a fresh ciphertext per signature. */
  encryptedOrganizationSecret?: SecretProvider | undefined;
  /** Recorded with each signature in the audit trail (at most 256 characters). */
  memo?: string | undefined;
}

export type PlanbokAccount = LocalAccount<"custom">;

/**
 * The `0x` + r ‖ s ‖ v transaction signature's parts, as viem's serializers take them. Typed
 * transactions: v is yParity. Legacy: the EIP-155 v (chainId * 2 + 35 + recid), kept as is
 * so that viem encodes it (also for a transaction without a chain id, which the server signs
 * as EIP-155 with the chain's id).
 */
function parts(signature: string, typed: boolean): { r: Hex; s: Hex; v: bigint; yParity: number } {
  const hex = signature.startsWith("0x") ? signature.slice(2) : "";
  if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length < 130 || hex.length % 2 !== 0) {
    throw new PlanbokError(200, "unexpected_response", "the server's signature is not 0x + r ‖ s ‖ v");
  }
  const r = `0x${hex.slice(0, 64)}` as Hex;
  const s = `0x${hex.slice(64, 128)}` as Hex;
  const v = BigInt(`0x${hex.slice(128)}`);
  let yParity: number;
  if (typed) yParity = Number(v);
  else if (v >= 35n) yParity = Number((v - 35n) % 2n);
  else yParity = Number(v - 27n);
  if (yParity !== 0 && yParity !== 1) {
    throw new PlanbokError(200, "unexpected_response", `the server's signature has v = ${v}`);
  }
  return { r, s, v: !typed && v >= 35n ? v : 27n + BigInt(yParity), yParity };
}

async function checkRecovers(hash: Hex, signature: Hex, address: Address, what: string): Promise<void> {
  const signer = await recoverAddress({ hash, signature });
  if (!isAddressEqual(signer, address)) {
    throw new PlanbokError(
      200,
      "signature_mismatch",
      `the ${what} signature recovers to ${signer}, not the account's ${address}: is the wallet id the address's?`,
    );
  }
}

function checkDigest(sig: MessageSignature, want: Hex, what: string): void {
  if (sig.digest.toLowerCase() !== want.toLowerCase()) {
    throw new PlanbokError(
      200,
      "signature_mismatch",
      `the server signed ${what} digest ${sig.digest}, viem computes ${want}`,
    );
  }
}

/**
 * A viem `LocalAccount` whose signatures the planbok wallet makes:
 *
 * ```ts
 * const account = planbokAccount({ client, walletId: wallet.id, address: wallet.address });
 * const signature = await account.signMessage({ message: "hello" });
 * await verifyMessage({ address: account.address, message: "hello", signature }); // true
 * ```
 *
 * Use it with a wallet client (`createWalletClient({ account, chain, transport })`) as any
 * local account: viem fills and serializes transactions, planbok signs them.
 */
export function planbokAccount(options: PlanbokAccountOptions): PlanbokAccount {
  const { client, walletId, memo } = options;
  const address = getAddress(options.address);

  async function body(route: SecretRequest["route"], fields: Record<string, unknown>) {
    const b: Record<string, unknown> = { walletId, ...fields };
    if (memo !== undefined) b["memo"] = memo;
    b["idempotencyKey"] = idempotencyKey();
    if (options.encryptedOrganizationSecret) {
      b["encryptedOrganizationSecret"] = await options.encryptedOrganizationSecret({ route, body: { ...b } });
    }
    return b;
  }

  const account = toAccount({
    address,

    async signMessage({ message }: { message: SignableMessage }): Promise<Hex> {
      const fields =
        typeof message === "string"
          ? { message, encodedByHex: false }
          : { message: typeof message.raw === "string" ? message.raw : toHex(message.raw), encodedByHex: true };
      const b = await body("/v2/organization/sign/message", fields);
      const sig = await client.signMessage(b as Parameters<PlanbokClient["signMessage"]>[0]);
      const hash = hashMessage(message);
      checkDigest(sig, hash, "message");
      await checkRecovers(hash, sig.signature as Hex, address, "message");
      return sig.signature as Hex;
    },

    async signTypedData(typedData): Promise<Hex> {
      const def = typedData as TypedDataDefinition;
      const domain = def.domain ?? {};
      const types = { EIP712Domain: getTypesForEIP712Domain({ domain }), ...def.types };
      const json = toJson({ types, primaryType: def.primaryType, domain, message: def.message ?? {} });
      const b = await body("/v2/organization/sign/typed-data", { typedData: json });
      const sig = await client.signTypedData(b as Parameters<PlanbokClient["signTypedData"]>[0]);
      const hash = hashTypedData(def);
      checkDigest(sig, hash, "typed data");
      await checkRecovers(hash, sig.signature as Hex, address, "typed data");
      return sig.signature as Hex;
    },

    async signTransaction(transaction, opts): Promise<Hex> {
      const serializer = (opts?.serializer ?? serializeTransaction) as (
        tx: TransactionSerializable,
        signature?: { r: Hex; s: Hex; v: bigint; yParity: number },
      ) => Hex | Promise<Hex>;
      const tx = transaction as TransactionSerializable;
      // Blob sidecars are not part of what is signed (as viem's own local accounts do).
      const signable = tx.type === "eip4844" ? ({ ...tx, sidecars: false } as TransactionSerializable) : tx;
      const unsigned = await serializer(signable);
      const b = await body("/v2/organization/sign/transaction", { rawTransaction: unsigned });
      const res = await client.signTransaction(b as Parameters<PlanbokClient["signTransaction"]>[0]);
      const typed = parseInt(unsigned.slice(2, 4), 16) < 0x7f;
      const signed = await serializer(tx, parts(res.signature, typed));
      if (signed.toLowerCase() !== res.signedTransaction.toLowerCase()) {
        throw new PlanbokError(
          200,
          "signature_mismatch",
          "the server's signed transaction differs from viem's serialization of the same signature",
        );
      }
      const signer = await recoverTransactionAddress({ serializedTransaction: signed as TransactionSerialized });
      if (!isAddressEqual(signer, address)) {
        throw new PlanbokError(
          200,
          "signature_mismatch",
          `the transaction signature recovers to ${signer}, not the account's ${address}: is the wallet id the address's?`,
        );
      }
      return signed;
    },
  });
  return account as PlanbokAccount;
}

/**
 * [`planbokAccount`] for a wallet id alone: reads the wallet (`GET /v2/wallets/{id}`) for its
 * address.
 */
export async function planbokAccountForWallet(
  client: PlanbokClient,
  walletId: string,
  options?: Omit<PlanbokAccountOptions, "client" | "walletId" | "address">,
): Promise<PlanbokAccount> {
  const wallet = await client.getWallet(walletId);
  if (!/^0x[0-9a-fA-F]{40}$/.test(wallet.address)) {
    throw new TypeError(`wallet ${walletId} is on ${wallet.blockchain}, not an EVM chain`);
  }
  return planbokAccount({ ...options, client, walletId, address: wallet.address as Address });
}
