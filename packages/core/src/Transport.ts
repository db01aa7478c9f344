/**
 * The abstract transport under the protocol engine: decoded frames in, messages out. A transport knows
 * nothing of MCP; it moves bytes and always decodes and encodes through the shared `JsonRpcCodec`, so a bad
 * frame arrives here as a typed error value, never as an exception.
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as Stream from "effect/Stream"
import type { CodecError, JsonRpc, JsonRpcCodec } from "@effect-mcp/jsonrpc"

/**
 * FM-40: the connection is closed (the peer hung up, the child exited, the stream ended). `reason` says why
 * in words a person can act on (e.g. "child exited with code 1").
 */
export class ConnectionClosed extends Schema.TaggedError<ConnectionClosed>()("ConnectionClosed", {
  mode: Schema.tag("FM-40"),
  reason: Schema.String
}) {
  override get message(): string {
    return `Connection closed: ${this.reason}`
  }
}

/** FM-40: the transport failed (an I/O error on a socket or pipe). The connection is unusable after it. */
export class TransportFailure extends Schema.TaggedError<TransportFailure>()("TransportFailure", {
  mode: Schema.tag("FM-40"),
  detail: Schema.String,
  cause: Schema.optionalKey(Schema.Unknown)
}) {
  override get message(): string {
    return `Transport failure: ${this.detail}`
  }
}

/**
 * FM-28: the host name did not resolve, so no connection was attempted. `code` is the resolver's: `ENOTFOUND`
 * (no such name), `EAI_AGAIN` (the resolver failed for now; `retryable`), `EAI_FAIL`, …. Retry with backoff
 * (a resolver comes back, a name gets published); check the host name when it stays `ENOTFOUND`.
 */
export class HostUnresolved extends Schema.TaggedError<HostUnresolved>()("HostUnresolved", {
  mode: Schema.tag("FM-28"),
  host: Schema.String,
  port: Schema.Number,
  code: Schema.String,
  retryable: Schema.Boolean,
  cause: Schema.optionalKey(Schema.Unknown)
}) {
  override get message(): string {
    return `cannot resolve ${this.host} (${this.code}${this.retryable ? ", temporary" : ""}): no connection to ${this.host}:${this.port}`
  }
}

/**
 * FM-29 (or FM-12): the TLS layer failed. `code` is OpenSSL's or Node's: a certificate the client does not
 * trust (`CERT_HAS_EXPIRED`, `DEPTH_ZERO_SELF_SIGNED_CERT`, `UNABLE_TO_VERIFY_LEAF_SIGNATURE`,
 * `SELF_SIGNED_CERT_IN_CHAIN`, …), a certificate for another name (`ERR_TLS_CERT_ALTNAME_INVALID`), a protocol
 * failure (`ERR_SSL_*`: a peer that does not speak TLS, a refused client certificate, no common version), or a
 * handshake that did not finish in time (`ERR_TLS_HANDSHAKE_TIMEOUT`). Mode FM-12 marks a record that failed its
 * integrity check in flight (`ERR_SSL_*BAD_RECORD_MAC*`, `*DECRYPTION_FAILED*`): bytes were corrupted on the wire
 * and the connection is dropped before any of them reach the application. Certificate and protocol failures
 * are not `retryable` (fix the certificate, the trust store or the name); a timeout and a corrupted record
 * are (reconnect with backoff).
 */
export class TlsFailure extends Schema.TaggedError<TlsFailure>()("TlsFailure", {
  mode: Schema.Literals(["FM-29", "FM-12"]),
  host: Schema.String,
  port: Schema.Number,
  code: Schema.String,
  reason: Schema.String,
  retryable: Schema.Boolean,
  cause: Schema.optionalKey(Schema.Unknown)
}) {
  override get message(): string {
    return `TLS with ${this.host}:${this.port} failed (${this.mode}, ${this.code}${this.retryable ? ", temporary" : ""}): ${this.reason}`
  }
}

/** Resolver error codes (`dns.lookup`, getaddrinfo) that mean the name did not resolve. */
const RESOLUTION_CODES = new Set(["ENOTFOUND", "EAI_AGAIN", "EAI_FAIL", "EAI_NONAME", "EAI_NODATA", "ENODATA"])

/**
 * The `HostUnresolved` of a connect error, if it is a name resolution failure (else `undefined`: a refused or
 * reset connection stays a `TransportFailure`).
 */
export const hostUnresolved = (error: unknown, host: string, port: number): HostUnresolved | undefined => {
  if (typeof error !== "object" || error === null) return undefined
  const { code, syscall } = error as { readonly code?: unknown; readonly syscall?: unknown }
  if (typeof code !== "string") return undefined
  if (!RESOLUTION_CODES.has(code) && syscall !== "getaddrinfo") return undefined
  return new HostUnresolved({ host, port, code, retryable: code === "EAI_AGAIN", cause: error })
}

/** Every error a transport reports. */
export type TransportError = ConnectionClosed | TransportFailure | HostUnresolved | TlsFailure

/** What a sender knows about an outgoing message that a transport may route by. */
export interface SendOptions {
  /**
   * The incoming request this message belongs to (a progress or log notification, or a request to the peer
   * made while handling it). Transports with one stream per request (Streamable HTTP) send it on that
   * request's stream; the others ignore it.
   */
  readonly relatedRequestId?: JsonRpc.RequestId
}

/** One connection's frames, in and out. */
export interface Transport {
  /**
   * Every frame received, decoded by the codec: a message (or batch) or a typed decode error, in order. The
   * stream ends when the peer closes cleanly and fails with a `TransportError` when the connection breaks.
   * It can be consumed once.
   */
  readonly incoming: Stream.Stream<JsonRpcCodec.Decoded, TransportError>
  /**
   * Sends one message (or batch). Completes when the transport has accepted it (respecting backpressure);
   * fails with `UnencodableMessage` if the message cannot be serialised (nothing is sent) or with a
   * `TransportError` if the connection is gone.
   */
  readonly send: (
    message: JsonRpc.Incoming,
    options?: SendOptions
  ) => Effect.Effect<void, TransportError | CodecError.UnencodableMessage>
  /** Closes the connection (idempotent). `incoming` ends after it. */
  readonly close: Effect.Effect<void>
  /**
   * Ends the response stream of one incoming request now, so the client polls for the rest (Streamable HTTP,
   * SEP-1699). Transports without per-request streams leave it out.
   */
  readonly closeRequestStream?: (requestId: JsonRpc.RequestId) => Effect.Effect<void>
  /**
   * Ends the connection for a server that crashed, without ending the session it carries when the transport can
   * rebuild it (Streamable HTTP whose session store keeps set-ups: the client's next request gets a new server,
   * FM-52); otherwise the same as `close`. A supervisor calls it instead of `close` when the server's fiber
   * fails or is interrupted. Transports without sessions leave it out.
   */
  readonly abandon?: Effect.Effect<void>
}
