// @planbok/sdk: the REST client for planbok's organization API, webhook verification and
// (in "@planbok/sdk/viem") a viem account backed by a planbok wallet. See docs/sdk-js.md.

export { API_KEY_HEADER, PlanbokClient, idempotencyKey, toJson } from "./client.js";
export type {
  DeliveryFilter,
  PlanbokClientOptions,
  RawResponse,
  RequestOptions,
  SignTypedDataInput,
  TransactionFilter,
  WalletFilter,
} from "./client.js";
export { PlanbokError } from "./error.js";
export type { ClientErrorCode } from "./error.js";
export * from "./types.js";
export {
  DEFAULT_TOLERANCE_SECONDS,
  WebhookVerificationError,
  WebhookVerifier,
  header,
  signPlatform,
  signStandard,
} from "./webhooks.js";
export type { HeadersLike, RawBody, WebhookErrorCode, WebhookEvent, WebhookScheme } from "./webhooks.js";
