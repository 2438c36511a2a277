import type { ErrorCode } from "./types.js";

/**
 * Codes the SDK itself gives an error that did not come as the server's error envelope:
 * `network_error` (fetch failed: no connection, DNS, abort), `unexpected_response` (an
 * answer that is not planbok's JSON envelope, e.g. a proxy's HTML page), and
 * `signature_mismatch` (the viem account refused a signature that does not recover to the
 * account's address over the digest viem computes).
 */
export type ClientErrorCode = "network_error" | "unexpected_response" | "signature_mismatch";

/** An error answer of the planbok API, or a client-side failure (see [`ClientErrorCode`]). */
export class PlanbokError extends Error {
  /** The HTTP status (0 when no answer arrived). */
  readonly status: number;
  /**
   * Stable: match on this. One of the server's codes (`docs/api.md`), a client code, or
   * a code this SDK version does not know yet (a newer server).
   */
  readonly code: ErrorCode | ClientErrorCode | (string & {});
  /** The server's request id (`x-request-id`), for its log and audit trail. */
  readonly requestId: string | undefined;

  constructor(
    status: number,
    code: PlanbokError["code"],
    message: string,
    options?: { requestId?: string | undefined; cause?: unknown },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "PlanbokError";
    this.status = status;
    this.code = code;
    this.requestId = options?.requestId;
  }
}
