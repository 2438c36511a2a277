// The REST client for planbok's organization API (`/v2`, docs/api.md).

import { randomUUID } from "node:crypto";

import { PlanbokError } from "./error.js";
import type { paths } from "./openapi.js";
import { trustedOrgKey, type OrgKeyTrust } from "./sealer.js";
import type { TrustedOrgKey } from "./secret.js";
import type {
  AddressValidity,
  Challenge,
  ChainInfo,
  CreateChallenge,
  CreateContractExecution,
  CreateCustomer,
  CreateCustomerWallets,
  CreateTransfer,
  CreateWallets,
  CreateWalletSet,
  CreateWebhook,
  Customer,
  CustomerContractExecution,
  CustomerSignDelegateAction,
  CustomerSignMessage,
  CustomerSignTransaction,
  CustomerSignTypedData,
  CustomerTransfer,
  DelegateActionSignature,
  EstimateTransferFee,
  FeeEstimate,
  ListPage,
  ListQuery,
  MessageSignature,
  Method,
  Organization,
  PathParams,
  PathsWith,
  PublicKey,
  QueryParams,
  RegisterSecret,
  ReplaceTransaction,
  RequestBody,
  RequireBinding,
  ResetPin,
  ResponseData,
  SetEmailRecovery,
  SignDelegateAction,
  SignMessage,
  SignTransaction,
  SignTypedData,
  Transaction,
  TransactionSignature,
  UpdateWallet,
  UpdateWebhook,
  ValidateAddress,
  Wallet,
  WalletSet,
  Webhook,
  WebhookDelivery,
  WebhookWithSecret,
} from "./types.js";

/** The header that carries an API key (`planbok_api::API_KEY_HEADER`). */
export const API_KEY_HEADER = "PLANBOK-X-API-KEY";

export interface PlanbokClientOptions {
  /** The server, e.g. `http://127.0.0.1:8080` (what `planbok dev` prints). */
  baseUrl: string;
  /** `pbk_<key id>_<secret>`; sent in `PLANBOK-X-API-KEY`. Never printed by the SDK. */
  apiKey?: string | undefined;
  /** Another `fetch` (tests, a proxy agent); the global one by default. */
  fetch?: typeof fetch | undefined;
  /** Extra headers on every request. */
  headers?: Record<string, string> | undefined;
}

export interface RequestOptions<P extends keyof paths = keyof paths, M extends Method = Method> {
  /** Values for the path's `{…}` placeholders. */
  params?: PathParams<P, M> | undefined;
  /** The query string; `undefined` and `null` values are left out. */
  query?: QueryParams<P, M> | undefined;
  /** Extra headers for this request. */
  headers?: Record<string, string> | undefined;
  signal?: AbortSignal | undefined;
}

/** What [`PlanbokClient.raw`] answers: the status, headers and body text, unparsed. */
export interface RawResponse {
  status: number;
  headers: Headers;
  body: string;
}

/** An idempotency key where the caller gave none: UUID v4, as the API requires. */
export function idempotencyKey(): string {
  return randomUUID();
}

/**
 * JSON with bigints as decimal strings (viem's typed data and transactions carry bigints;
 * the API takes integers as numbers or decimal strings).
 */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v));
}

type Query = Record<string, string | number | boolean | null | undefined>;

/** With `idempotencyKey` optional: the client makes one when it is absent. */
// Distributive: a body whose fields are exclusive (`oneOf`) keeps its alternatives.
type Idem<T> = T extends unknown
  ? Omit<T, "idempotencyKey"> & { idempotencyKey?: string | null | undefined }
  : never;

/** `GET /v2/wallets` filters. */
export type WalletFilter = NonNullable<QueryParams<"/v2/wallets", "GET">>;
/** `GET /v2/transactions` filters. */
export type TransactionFilter = NonNullable<QueryParams<"/v2/transactions", "GET">>;
/** `GET /v2/webhooks/{id}/deliveries` filters. */
export type DeliveryFilter = NonNullable<QueryParams<"/v2/webhooks/{id}/deliveries", "GET">>;

/** `POST /v2/organization/sign/typed-data` with `typedData` as JSON text or as an object. */
export type SignTypedDataInput = Idem<Omit<SignTypedData, "typedData">> & {
  typedData: string | Record<string, unknown>;
};

/** `POST /v2/customers/{id}/sign/typed-data` with `typedData` as JSON text or as an object. */
export type CustomerSignTypedDataInput = Idem<Omit<CustomerSignTypedData, "typedData">> & {
  typedData: string | Record<string, unknown>;
};

/** `GET /v2/wallets` filters of one customer's wallets. */
export type CustomerWalletFilter = Omit<WalletFilter, "customerId">;

/**
 * A client for one server and one API key. Every method answers the success envelope's
 * `data`, or throws a [`PlanbokError`] with the server's `status`, `code` and `message`.
 *
 * Creating and signing methods send the `idempotencyKey` given, else a fresh UUID v4: to
 * retry a request safely (after a timeout, `node_unavailable`, …), pass the same key again.
 */
export class PlanbokClient {
  readonly baseUrl: string;
  readonly #apiKey: string | undefined;
  readonly #fetch: typeof fetch;
  readonly #headers: Record<string, string>;

  constructor(options: PlanbokClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.#apiKey = options.apiKey;
    this.#fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.#headers = { ...options.headers };
  }

  /** Never shows the API key. */
  toJSON(): { baseUrl: string } {
    return { baseUrl: this.baseUrl };
  }

  /**
   * Any route of the OpenAPI document, typed by it: `body` is the route's request schema,
   * the answer its response schema (a [`ListPage`] for the list routes).
   *
   * ```ts
   * const w = await client.request("GET", "/v2/wallets/{id}", undefined, { params: { id } });
   * ```
   */
  async request<M extends Method, P extends PathsWith<M>>(
    method: M,
    path: P,
    body?: RequestBody<P, M>,
    options?: RequestOptions<P, M>,
  ): Promise<ResponseData<P, M>> {
    const url = this.url(path, options?.params as Record<string, string> | undefined, options?.query as unknown as Query | undefined);
    const res = await this.send(method, url, body, options?.headers, options?.signal);
    return (await this.unwrap(res)) as ResponseData<P, M>;
  }

  /**
   * Any path, untyped and unparsed (e.g. `GET /metrics`, `GET /v2/audit-logs/export`'s
   * NDJSON). Throws only when no answer arrives.
   */
  async raw(
    method: Method,
    path: string,
    body?: unknown,
    options?: { query?: Query; headers?: Record<string, string>; signal?: AbortSignal },
  ): Promise<RawResponse> {
    const res = await this.send(method, this.url(path, undefined, options?.query), body, options?.headers, options?.signal);
    return { status: res.status, headers: res.headers, body: await res.text() };
  }

  /** The OpenAPI document the server serves (`GET /v2/openapi.json`), as text. */
  async openapi(): Promise<string> {
    const r = await this.raw("GET", "/v2/openapi.json");
    if (r.status !== 200) {
      throw new PlanbokError(r.status, "unexpected_response", `GET /v2/openapi.json answered ${r.status}`);
    }
    return r.body;
  }

  // ---------------------------------------------------------------------------------------
  // Organization

  organization(): Promise<Organization> {
    return this.request("GET", "/v2/organization");
  }

  /** The supported chains (`GET /v2/config/chains`). */
  chains(): Promise<ChainInfo[]> {
    return this.request("GET", "/v2/config/chains");
  }

  /**
   * The organization's RSA key with Node 1's signature over it, as served: unchecked.
   * Encrypt only to [`trustedOrgKey`]'s answer, which verifies that signature first.
   */
  organizationPublicKey(): Promise<PublicKey> {
    return this.request("GET", "/v2/config/organization/public-key");
  }

  /**
   * The organization's key, checked: Node 1's signature against `trust.nodeKey` and the
   * pin in `trust.pins` (pinned now on first use). What [`OrgSecret.seal`] takes; throws
   * [`SecretError`] (`org_key_*`) for a key not to encrypt to.
   */
  trustedOrgKey(trust: OrgKeyTrust): Promise<TrustedOrgKey> {
    return trustedOrgKey(this, trust);
  }

  /** `POST /v2/organization/secret` (owner): registers the secret once, fixing the custody mode for good. */
  registerSecret(body: Idem<RegisterSecret>): Promise<Organization> {
    return this.request("POST", "/v2/organization/secret", withKey(body));
  }

  /** `POST /v2/organization/require-binding`: from now on every ciphertext must carry a binding (for good). */
  requireBinding(body: Idem<RequireBinding> = {}): Promise<Organization> {
    return this.request("POST", "/v2/organization/require-binding", withKey(body));
  }

  /** `POST /v2/organization/email-recovery`: recovery of customers' PINs by email on or off. */
  setEmailRecovery(body: Idem<SetEmailRecovery>): Promise<Organization> {
    return this.request("POST", "/v2/organization/email-recovery", withKey(body));
  }

  // ---------------------------------------------------------------------------------------
  // Wallet sets and wallets

  /** `POST /v2/organization/wallet-sets`: two DKGs; answers the new set. */
  async createWalletSet(body: Idem<CreateWalletSet>): Promise<WalletSet> {
    const created = await this.request("POST", "/v2/organization/wallet-sets", withKey(body));
    return created.walletSet;
  }

  listWalletSets(query?: ListQuery): Promise<ListPage<WalletSet>> {
    return this.request("GET", "/v2/wallet-sets", undefined, { query });
  }

  getWalletSet(id: string): Promise<WalletSet> {
    return this.request("GET", "/v2/wallet-sets/{id}", undefined, { params: { id } });
  }

  renameWalletSet(id: string, name: string): Promise<WalletSet> {
    return this.request("PUT", "/v2/organization/wallet-sets/{id}", { name }, { params: { id } });
  }

  /** `POST /v2/organization/wallets`: one wallet per (index, chain). */
  async createWallets(body: Idem<CreateWallets>): Promise<Wallet[]> {
    const created = await this.request("POST", "/v2/organization/wallets", withKey(body));
    return created.wallets;
  }

  listWallets(filter?: WalletFilter): Promise<ListPage<Wallet>> {
    return this.request("GET", "/v2/wallets", undefined, { query: filter });
  }

  getWallet(id: string): Promise<Wallet> {
    return this.request("GET", "/v2/wallets/{id}", undefined, { params: { id } });
  }

  updateWallet(id: string, body: UpdateWallet): Promise<Wallet> {
    return this.request("PUT", "/v2/wallets/{id}", body, { params: { id } });
  }

  validateAddress(body: ValidateAddress): Promise<AddressValidity> {
    return this.request("POST", "/v2/wallets/validate-address", body);
  }

  // ---------------------------------------------------------------------------------------
  // Signing

  /** `POST /v2/organization/sign/message`: EIP-191 on EVM (docs/chains.md). */
  signMessage(body: Idem<SignMessage>): Promise<MessageSignature> {
    return this.request("POST", "/v2/organization/sign/message", withKey(body));
  }

  /** `POST /v2/organization/sign/typed-data`: EIP-712; `typedData` as JSON text or an object. */
  signTypedData(body: SignTypedDataInput): Promise<MessageSignature> {
    const typedData = typeof body.typedData === "string" ? body.typedData : toJson(body.typedData);
    return this.request("POST", "/v2/organization/sign/typed-data", withKey({ ...body, typedData }));
  }

  /** `POST /v2/organization/sign/transaction`: exactly one of `rawTransaction` and `transaction`. */
  signTransaction(body: Idem<SignTransaction>): Promise<TransactionSignature> {
    return this.request("POST", "/v2/organization/sign/transaction", withKey(body));
  }

  /** `POST /v2/organization/sign/delegate-action` (NEAR, NEP-366). */
  signDelegateAction(body: Idem<SignDelegateAction>): Promise<DelegateActionSignature> {
    return this.request("POST", "/v2/organization/sign/delegate-action", withKey(body));
  }

  // ---------------------------------------------------------------------------------------
  // Transfers and transactions (docs/transactions.md)

  createTransfer(body: Idem<CreateTransfer>): Promise<Transaction> {
    return this.request("POST", "/v2/organization/transactions/transfer", withKey(body));
  }

  estimateTransferFee(body: EstimateTransferFee): Promise<FeeEstimate> {
    return this.request("POST", "/v2/transactions/transfer/estimate-fee", body);
  }

  createContractExecution(body: Idem<CreateContractExecution>): Promise<Transaction> {
    return this.request("POST", "/v2/organization/transactions/contract-execution", withKey(body));
  }

  cancelTransaction(id: string, body: Idem<ReplaceTransaction> = {}): Promise<Transaction> {
    return this.request("POST", "/v2/organization/transactions/{id}/cancel", withKey(body), { params: { id } });
  }

  accelerateTransaction(id: string, body: Idem<ReplaceTransaction> = {}): Promise<Transaction> {
    return this.request("POST", "/v2/organization/transactions/{id}/accelerate", withKey(body), { params: { id } });
  }

  listTransactions(filter?: TransactionFilter): Promise<ListPage<Transaction>> {
    return this.request("GET", "/v2/transactions", undefined, { query: filter });
  }

  getTransaction(id: string): Promise<Transaction> {
    return this.request("GET", "/v2/transactions/{id}", undefined, { params: { id } });
  }

  // ---------------------------------------------------------------------------------------
  // Customers and their challenges (docs/customer-custody.md). Each challenge-creating
  // method answers a pending challenge whose `redirectUrl` is the Gateway URL to send the
  // user to (its one-time token in the fragment, shown once); read it back with
  // `getCustomerChallenge` for its `status` and, once complete, its `result`.

  /** `POST /v2/customers`. */
  createCustomer(body: Idem<CreateCustomer>): Promise<Customer> {
    return this.request("POST", "/v2/customers", withKey(body));
  }

  listCustomers(query?: ListQuery): Promise<ListPage<Customer>> {
    return this.request("GET", "/v2/customers", undefined, { query });
  }

  getCustomer(id: string): Promise<Customer> {
    return this.request("GET", "/v2/customers/{id}", undefined, { params: { id } });
  }

  /** `POST /v2/customers/{id}/initialize`: the first PIN and the security questions. */
  initializeCustomer(id: string, body: Idem<CreateChallenge> = {}): Promise<Challenge> {
    return this.request("POST", "/v2/customers/{id}/initialize", withKey(body), { params: { id } });
  }

  /** `POST /v2/customers/{id}/update-pin`: a new PIN, proven by the current one. */
  updateCustomerPin(id: string, body: Idem<CreateChallenge> = {}): Promise<Challenge> {
    return this.request("POST", "/v2/customers/{id}/update-pin", withKey(body), { params: { id } });
  }

  /** `POST /v2/customers/{id}/reset-pin`: a forgotten PIN, by the security questions or (`method: "email"`) an emailed code. */
  resetCustomerPin(id: string, body: Idem<ResetPin> = {}): Promise<Challenge> {
    return this.request("POST", "/v2/customers/{id}/reset-pin", withKey(body), { params: { id } });
  }

  /** `POST /v2/customers/{id}/recovery`: set or change the security questions (with the PIN). */
  setCustomerRecovery(id: string, body: Idem<CreateChallenge> = {}): Promise<Challenge> {
    return this.request("POST", "/v2/customers/{id}/recovery", withKey(body), { params: { id } });
  }

  listCustomerChallenges(id: string, query?: ListQuery): Promise<ListPage<Challenge>> {
    return this.request("GET", "/v2/customers/{id}/challenges", undefined, { params: { id }, query });
  }

  /** One challenge: its `status` (`pending`, `complete`, `failed`, `expired`) and, once complete, `result`. */
  getCustomerChallenge(id: string, challengeId: string): Promise<Challenge> {
    return this.request("GET", "/v2/customers/{id}/challenges/{challengeId}", undefined, {
      params: { id, challengeId },
    });
  }

  /** `POST /v2/customers/{id}/wallet/create`: the DKGs run when the user completes the challenge. */
  createCustomerWallets(id: string, body: Idem<CreateCustomerWallets>): Promise<Challenge> {
    return this.request("POST", "/v2/customers/{id}/wallet/create", withKey(body), { params: { id } });
  }

  /** The customer's wallets (`GET /v2/wallets?customerId=…`). */
  listCustomerWallets(id: string, filter?: CustomerWalletFilter): Promise<ListPage<Wallet>> {
    return this.request("GET", "/v2/wallets", undefined, { query: { ...filter, customerId: id } });
  }

  customerSignMessage(id: string, body: Idem<CustomerSignMessage>): Promise<Challenge> {
    return this.request("POST", "/v2/customers/{id}/sign/message", withKey(body), { params: { id } });
  }

  /** `typedData` as JSON text or an object (bigints as decimal strings). */
  customerSignTypedData(id: string, body: CustomerSignTypedDataInput): Promise<Challenge> {
    const typedData = typeof body.typedData === "string" ? body.typedData : toJson(body.typedData);
    return this.request("POST", "/v2/customers/{id}/sign/typed-data", withKey({ ...body, typedData }), {
      params: { id },
    });
  }

  /** Exactly one of `rawTransaction` and `transaction`. */
  customerSignTransaction(id: string, body: Idem<CustomerSignTransaction>): Promise<Challenge> {
    return this.request("POST", "/v2/customers/{id}/sign/transaction", withKey(body), { params: { id } });
  }

  /** NEAR (NEP-366). */
  customerSignDelegateAction(id: string, body: Idem<CustomerSignDelegateAction>): Promise<Challenge> {
    return this.request("POST", "/v2/customers/{id}/sign/delegate-action", withKey(body), { params: { id } });
  }

  customerTransfer(id: string, body: Idem<CustomerTransfer>): Promise<Challenge> {
    return this.request("POST", "/v2/customers/{id}/transactions/transfer", withKey(body), { params: { id } });
  }

  customerContractExecution(id: string, body: Idem<CustomerContractExecution>): Promise<Challenge> {
    return this.request("POST", "/v2/customers/{id}/transactions/contract-execution", withKey(body), {
      params: { id },
    });
  }

  /** Replaces the customer's pending transaction `txId` by a 0-value self-transfer (same nonce, fees +12.5 %). */
  customerCancelTransaction(id: string, txId: string, body: Idem<CreateChallenge> = {}): Promise<Challenge> {
    return this.request("POST", "/v2/customers/{id}/transactions/{txId}/cancel", withKey(body), {
      params: { id, txId },
    });
  }

  /** Replaces the customer's pending transaction `txId` by the same call with fees +12.5 %. */
  customerAccelerateTransaction(id: string, txId: string, body: Idem<CreateChallenge> = {}): Promise<Challenge> {
    return this.request("POST", "/v2/customers/{id}/transactions/{txId}/accelerate", withKey(body), {
      params: { id, txId },
    });
  }

  /** `POST /v2/customers/{id}/export-private-keys`: the Gateway rebuilds the keys on the user's device. */
  exportCustomerKeys(id: string, body: Idem<CreateChallenge> = {}): Promise<Challenge> {
    return this.request("POST", "/v2/customers/{id}/export-private-keys", withKey(body), { params: { id } });
  }

  // ---------------------------------------------------------------------------------------
  // Webhook endpoints (docs/webhooks.md)

  /** `POST /v2/webhooks`: the endpoint and its `secret` (`whsec_…`), shown here only. */
  createWebhook(body: Idem<CreateWebhook>): Promise<WebhookWithSecret> {
    return this.request("POST", "/v2/webhooks", withKey(body));
  }

  listWebhooks(query?: ListQuery): Promise<ListPage<Webhook>> {
    return this.request("GET", "/v2/webhooks", undefined, { query });
  }

  getWebhook(id: string): Promise<Webhook> {
    return this.request("GET", "/v2/webhooks/{id}", undefined, { params: { id } });
  }

  updateWebhook(id: string, body: UpdateWebhook): Promise<Webhook> {
    return this.request("PATCH", "/v2/webhooks/{id}", body, { params: { id } });
  }

  deleteWebhook(id: string): Promise<Webhook> {
    return this.request("DELETE", "/v2/webhooks/{id}", undefined, { params: { id } });
  }

  /** A new secret; the previous one still signs for the overlap (24 h). */
  rotateWebhookSecret(id: string): Promise<WebhookWithSecret> {
    return this.request("POST", "/v2/webhooks/{id}/rotate-secret", undefined, { params: { id } });
  }

  /** Queues a `webhook.test` event to this endpoint only; answers the delivery. */
  testWebhook(id: string): Promise<WebhookDelivery> {
    return this.request("POST", "/v2/webhooks/{id}/test", undefined, { params: { id } });
  }

  listWebhookDeliveries(id: string, filter?: DeliveryFilter): Promise<ListPage<WebhookDelivery>> {
    return this.request("GET", "/v2/webhooks/{id}/deliveries", undefined, { params: { id }, query: filter });
  }

  /** A new delivery of the same event (same id, same bytes) to the same endpoint. */
  replayWebhookDelivery(deliveryId: string): Promise<WebhookDelivery> {
    return this.request("POST", "/v2/webhooks/deliveries/{id}/replay", undefined, { params: { id: deliveryId } });
  }

  // ---------------------------------------------------------------------------------------

  private url(path: string, params: Record<string, string> | undefined, query: Query | undefined): string {
    const filled = path.replace(/\{([A-Za-z0-9_]+)\}/g, (_m, name: string) => {
      const v = params?.[name];
      if (v === undefined || v === null || String(v) === "") {
        throw new TypeError(`path parameter ${name} of ${path} is missing`);
      }
      return encodeURIComponent(String(v));
    });
    let url = this.baseUrl + filled;
    if (query) {
      const q = new URLSearchParams();
      for (const [k, v] of Object.entries(query)) {
        if (v !== undefined && v !== null) q.append(k, String(v));
      }
      const s = q.toString();
      if (s) url += `?${s}`;
    }
    return url;
  }

  private async send(
    method: Method,
    url: string,
    body: unknown,
    extra: Record<string, string> | undefined,
    signal: AbortSignal | undefined,
  ): Promise<Response> {
    const headers: Record<string, string> = { accept: "application/json", ...this.#headers, ...extra };
    if (this.#apiKey !== undefined) headers[API_KEY_HEADER] = this.#apiKey;
    const init: RequestInit = { method, headers };
    if (signal) init.signal = signal;
    if (body !== undefined) {
      headers["content-type"] = "application/json";
      init.body = toJson(body);
    }
    try {
      return await this.#fetch(url, init);
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      throw new PlanbokError(0, "network_error", `${method} ${new URL(url).pathname}: ${why}`, { cause: e });
    }
  }

  private async unwrap(res: Response): Promise<unknown> {
    const text = await res.text();
    const headerId = res.headers.get("x-request-id") ?? undefined;
    let parsed: unknown;
    try {
      parsed = text === "" ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    const env = isObject(parsed) ? parsed : undefined;
    if (!res.ok || env?.["success"] === false) {
      if (env && typeof env["code"] === "string") {
        // The server writes `request_id`; docs/api.md spells it `requestId`: read both.
        const bodyId = env["requestId"] ?? env["request_id"];
        const requestId = typeof bodyId === "string" ? bodyId : headerId;
        const message = typeof env["message"] === "string" ? env["message"] : env["code"];
        const status = typeof env["status"] === "number" ? env["status"] : res.status;
        throw new PlanbokError(status, env["code"], message, { requestId });
      }
      throw new PlanbokError(res.status, "unexpected_response", `HTTP ${res.status} without planbok's error envelope`, {
        requestId: headerId,
      });
    }
    if (!env || env["success"] !== true || !("data" in env)) {
      throw new PlanbokError(res.status, "unexpected_response", `HTTP ${res.status} without planbok's success envelope`, {
        requestId: headerId,
      });
    }
    return env["data"];
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function withKey<T extends { idempotencyKey?: string | null | undefined }>(body: T): T & { idempotencyKey: string } {
  return { ...body, idempotencyKey: body.idempotencyKey ?? idempotencyKey() };
}
