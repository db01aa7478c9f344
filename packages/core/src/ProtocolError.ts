/**
 * The protocol engine's typed errors. Each carries its FMEA mode. `McpError` is the one a handler fails with
 * on purpose to send a specific JSON-RPC error; every other handler failure is answered with a safe -32603 and
 * recorded as `HandlerError` or `HandlerDefect`.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import { JsonRpc } from "@effect-mcp/jsonrpc"

export { ConnectionClosed, TransportFailure } from "./Transport.ts"

/**
 * FM-47: a JSON-RPC error to send to the peer, as is (code, message, data). Handlers fail with it for
 * protocol-level errors: unknown tool (-32602), resource not found, invalid params.
 */
export class McpError extends Schema.TaggedError<McpError>()("McpError", {
  mode: Schema.tag("FM-47"),
  code: Schema.Int,
  message: Schema.String,
  data: Schema.optionalKey(Schema.Unknown)
}) {}

/** FM-42: the peer answered our request with a JSON-RPC error. */
export class RemoteError extends Schema.TaggedError<RemoteError>()("RemoteError", {
  mode: Schema.tag("FM-42"),
  method: Schema.String,
  code: Schema.Int,
  message: Schema.String,
  data: Schema.optionalKey(Schema.Unknown)
}) {}

/**
 * FM-21: our request got no response in time (the timeout resets on every progress notification). The peer
 * was sent `notifications/cancelled`.
 */
export class RequestTimedOut extends Schema.TaggedError<RequestTimedOut>()("RequestTimedOut", {
  mode: Schema.tag("FM-21"),
  method: Schema.String,
  timeoutMs: Schema.Number
}) {
  override get message(): string {
    return `Request ${this.method} timed out after ${this.timeoutMs} ms without a response or progress`
  }
}

/**
 * FM-37: too many requests in flight. Locally: our pending requests are at their bound. From the peer: its
 * handlers are at their bound (the error response carries `ErrorCode.Overloaded`).
 */
export class Overloaded extends Schema.TaggedError<Overloaded>()("Overloaded", {
  mode: Schema.tag("FM-37"),
  limit: Schema.Number
}) {
  override get message(): string {
    return `Too many requests in flight (limit ${this.limit})`
  }
}

/** FM-51: a response arrived for an id we are not waiting for. Recorded and dropped. */
export class UnknownResponseId extends Schema.TaggedError<UnknownResponseId>()("UnknownResponseId", {
  mode: Schema.tag("FM-51"),
  id: Schema.NullOr(JsonRpc.RequestId)
}) {
  override get message(): string {
    return `Response for unknown request id ${String(this.id)} dropped`
  }
}

/** FM-10: the peer sent a request with the id of one still in flight. Refused with -32600; the first continues. */
export class DuplicateRequestId extends Schema.TaggedError<DuplicateRequestId>()("DuplicateRequestId", {
  mode: Schema.tag("FM-10"),
  id: JsonRpc.RequestId
}) {
  override get message(): string {
    return `Request id ${String(this.id)} is already in flight; the duplicate was refused`
  }
}

/** FM-42: a handler failed with an error not meant for the peer. The peer got a safe -32603. */
export class HandlerError extends Schema.TaggedError<HandlerError>()("HandlerError", {
  mode: Schema.tag("FM-42"),
  method: Schema.String,
  requestId: JsonRpc.RequestId,
  detail: Schema.String
}) {
  override get message(): string {
    return `Handler of ${this.method} (request ${String(this.requestId)}) failed: ${this.detail}`
  }
}

/** FM-38: a handler died (a defect or a thrown exception). The peer got a safe -32603; nothing else was affected. */
export class HandlerDefect extends Schema.TaggedError<HandlerDefect>()("HandlerDefect", {
  mode: Schema.tag("FM-38"),
  method: Schema.String,
  requestId: JsonRpc.RequestId,
  detail: Schema.String
}) {
  override get message(): string {
    return `Handler of ${this.method} (request ${String(this.requestId)}) died: ${this.detail}`
  }
}

/** FM-38: a handler ran past its time bound; it was interrupted and the peer got a timeout error. */
export class HandlerTimedOut extends Schema.TaggedError<HandlerTimedOut>()("HandlerTimedOut", {
  mode: Schema.tag("FM-38"),
  method: Schema.String,
  requestId: JsonRpc.RequestId,
  timeoutMs: Schema.Number
}) {
  override get message(): string {
    return `Handler of ${this.method} (request ${String(this.requestId)}) exceeded ${this.timeoutMs} ms and was interrupted`
  }
}

/**
 * FM-46: the peer sent more requests than its rate limit allows. Answered with `ErrorCode.Overloaded` and a
 * `retryAfterMs` hint; nothing else on the connection is affected.
 */
export class RateLimited extends Schema.TaggedError<RateLimited>()("RateLimited", {
  mode: Schema.tag("FM-46"),
  limit: Schema.Number,
  retryAfterMs: Schema.Number
}) {
  override get message(): string {
    return `Rate limit of ${this.limit} requests exceeded; retry after ${this.retryAfterMs} ms`
  }
}
