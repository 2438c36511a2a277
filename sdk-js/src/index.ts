// @planbok/sdk: the REST client for planbok's organization API, the organization secret
// (through the Rust SDK's WebAssembly build), webhook verification and (in
// "@planbok/sdk/viem") a viem account backed by a planbok wallet. See docs/sdk-js.md.

export { API_KEY_HEADER, PlanbokClient, idempotencyKey, toJson } from "./client.js";
export type {
  CustomerSignTypedDataInput,
  CustomerWalletFilter,
  DeliveryFilter,
  PlanbokClientOptions,
  RawResponse,
  RequestOptions,
  SignTypedDataInput,
  TransactionFilter,
  WalletFilter,
} from "./client.js";
export { PlanbokError } from "./error.js";
export { Sealer, trustedOrgKey } from "./sealer.js";
export type { OrgKeyTrust, SignRoute, WalletKey } from "./sealer.js";
export {
  MemoryPins,
  OrgSecret,
  SecretError,
  TrustedOrgKey,
  bindings,
  chainCurve,
  signPayload,
  verifyOrgKey,
} from "./secret.js";
export type {
  OrgKeyPins,
  SealOptions,
  SecretContext,
  SecretErrorCode,
  SignPayload,
  SignPayloadRequest,
  VerifyOrgKeyOptions,
} from "./secret.js";
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
