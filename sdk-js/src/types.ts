// Types taken from the OpenAPI document (src/openapi.ts, generated from openapi.json), and
// the helpers that map a route to its request body, parameters and response `data`.

import type { components, paths } from "./openapi.js";

/** Every schema of the OpenAPI document. */
export type Schemas = components["schemas"];

export type Organization = Schemas["Organization"];
export type ChainInfo = Schemas["ChainInfo"];
export type PublicKey = Schemas["PublicKey"];
export type WalletSet = Schemas["WalletSet"];
export type CreateWalletSet = Schemas["CreateWalletSet"];
export type UpdateWalletSet = Schemas["UpdateWalletSet"];
export type Wallet = Schemas["Wallet"];
export type CreateWallets = Schemas["CreateWallets"];
export type UpdateWallet = Schemas["UpdateWallet"];
export type WalletMetadata = Schemas["WalletMetadata"];
export type ValidateAddress = Schemas["ValidateAddress"];
export type AddressValidity = Schemas["AddressValidity"];
export type SignMessage = Schemas["SignMessage"];
export type SignTypedData = Schemas["SignTypedData"];
export type SignTransaction = Schemas["SignTransaction"];
export type SignDelegateAction = Schemas["SignDelegateAction"];
export type MessageSignature = Schemas["MessageSignature"];
export type TransactionSignature = Schemas["TransactionSignature"];
export type DelegateActionSignature = Schemas["DelegateActionSignature"];
export type Transaction = Schemas["Transaction"];
export type CreateTransfer = Schemas["CreateTransfer"];
export type EstimateTransferFee = Schemas["EstimateTransferFee"];
export type CreateContractExecution = Schemas["CreateContractExecution"];
export type ReplaceTransaction = Schemas["ReplaceTransaction"];
export type FeeEstimate = Schemas["FeeEstimate"];
export type Webhook = Schemas["Webhook"];
export type WebhookWithSecret = Schemas["WebhookWithSecret"];
export type CreateWebhook = Schemas["CreateWebhook"];
export type UpdateWebhook = Schemas["UpdateWebhook"];
export type WebhookDelivery = Schemas["WebhookDelivery"];
export type RegisterSecret = Schemas["RegisterSecret"];
export type RequireBinding = Schemas["RequireBinding"];
export type SetEmailRecovery = Schemas["SetEmailRecovery"];
export type Customer = Schemas["Customer"];
export type CreateCustomer = Schemas["CreateCustomer"];
export type Challenge = Schemas["Challenge"];
export type CreateChallenge = Schemas["CreateChallenge"];
export type ResetPin = Schemas["ResetPin"];
export type CreateCustomerWallets = Schemas["CreateCustomerWallets"];
export type CustomerSignMessage = Schemas["CustomerSignMessage"];
export type CustomerSignTypedData = Schemas["CustomerSignTypedData"];
export type CustomerSignTransaction = Schemas["CustomerSignTransaction"];
export type CustomerSignDelegateAction = Schemas["CustomerSignDelegateAction"];
export type CustomerTransfer = Schemas["CustomerTransfer"];
export type CustomerContractExecution = Schemas["CustomerContractExecution"];
export type ErrorBody = Schemas["ErrorBody"];
/** The server's stable error codes (`docs/api.md`). */
export type ErrorCode = Schemas["ErrorCode"];
export type Order = Schemas["Order"];

/**
 * One page of a list (`planbok_api::List`): what every `GET` list route answers in
 * `data` (described "a list page of …" in the OpenAPI document); [`LIST_ROUTES`] lists
 * them.
 */
export interface ListPage<T> {
  items: T[];
  page: number;
  limit: number;
  total: number;
}

/** `page` (1-based, default 1), `limit` (1..=100, default 10), `order` (`desc`). */
export interface ListQuery {
  page?: number;
  limit?: number;
  order?: Order;
}

/**
 * The `GET` routes whose `data` is a [`ListPage`] of the documented item type. A unit test
 * checks this against the OpenAPI snapshot (every 200 answer described "a list page").
 */
export const LIST_ROUTES = [
  "/v2/audit-logs",
  "/v2/customers",
  "/v2/customers/{id}/challenges",
  "/v2/organization/api-keys",
  "/v2/organization/members",
  "/v2/organization/transactions",
  "/v2/tokens",
  "/v2/transactions",
  "/v2/wallet-sets",
  "/v2/wallets",
  "/v2/webhooks",
  "/v2/webhooks/{id}/deliveries",
] as const;
export type ListRoute = (typeof LIST_ROUTES)[number];

/** The HTTP methods of the API. */
export type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

type Operation<P extends keyof paths, M extends Method> = NonNullable<paths[P][Lowercase<M> & keyof paths[P]]>;

/** The routes that answer `M`. */
export type PathsWith<M extends Method> = {
  [P in keyof paths]: [NonNullable<paths[P][Lowercase<M> & keyof paths[P]]>] extends [never] ? never : P;
}[keyof paths];

/** The JSON request body of `M P` (`undefined` when it takes none). */
export type RequestBody<P extends keyof paths, M extends Method> =
  Operation<P, M> extends { requestBody: { content: { "application/json": infer B } } }
    ? B
    : Operation<P, M> extends { requestBody?: { content: { "application/json": infer B } } }
      ? B | undefined
      : undefined;

type Params<P extends keyof paths, M extends Method, In extends "path" | "query"> =
  Operation<P, M> extends { parameters: infer X }
    ? X extends { [k in In]?: infer Y }
      ? [Y] extends [never]
        ? undefined
        : [Y] extends [undefined]
          ? undefined
          : Y
      : undefined
    : undefined;

/** The path parameters of `M P` (`{id}` and the like). */
export type PathParams<P extends keyof paths, M extends Method> = Params<P, M, "path">;
/** The query parameters of `M P`. */
export type QueryParams<P extends keyof paths, M extends Method> = Params<P, M, "query">;

type Documented<P extends keyof paths, M extends Method> =
  Operation<P, M> extends { responses: infer R }
    ? R extends { 200: { content: { "application/json": infer T } } }
      ? T
      : R extends { 201: { content: { "application/json": infer T } } }
        ? T
        : unknown
    : unknown;

/**
 * The success envelope's `data` of `M P`: the document declares each answer whole
 * (`{success, status, message, data}`), a list route's `data` as a [`ListPage`].
 */
export type ResponseData<P extends keyof paths, M extends Method> =
  Documented<P, M> extends { data: infer D } ? D : unknown;

export type { components, paths };
