/**
 * The JSON-RPC 2.0 message model, as Effect Schema and as plain types.
 *
 * MCP speaks JSON-RPC 2.0 with two restrictions: request ids are strings or numbers (never `null`), and
 * `params` is an object. This module models JSON-RPC itself (params may be an object or an array); the MCP
 * restrictions are applied by the MCP schemas in `@effect-mcp/schema`.
 *
 * The codec (`JsonRpcCodec`) validates envelopes with a hand-written classifier that is property-tested to
 * agree with these schemas; the schemas are the specification, the classifier is the fast path.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/** The `jsonrpc` member of every message. */
export const VERSION = "2.0" as const

/** A request id: a string or a finite number. */
export const RequestId = Schema.Union([Schema.String, Schema.Finite])
/** A request id: a string or a finite number. */
export type RequestId = string | number

/** Structured parameters: an object or an array. */
export const Params = Schema.Union([
  Schema.Record(Schema.String, Schema.Unknown),
  Schema.Array(Schema.Unknown)
])
/** Structured parameters: an object or an array. */
export type Params = { readonly [key: string]: unknown } | ReadonlyArray<unknown>

/** A member that must be absent (used to keep the four message kinds mutually exclusive). */
const Absent = Schema.optionalKey(Schema.Never)

/** A request: has a `method` and an `id`; the peer must answer it. */
export const Request = Schema.Struct({
  jsonrpc: Schema.Literal(VERSION),
  id: RequestId,
  method: Schema.String,
  params: Schema.optionalKey(Params),
  result: Absent,
  error: Absent
})
/** A request: has a `method` and an `id`; the peer must answer it. */
export interface Request {
  readonly jsonrpc: "2.0"
  readonly id: RequestId
  readonly method: string
  readonly params?: Params
}

/** A notification: has a `method` and no `id`; it is never answered. */
export const Notification = Schema.Struct({
  jsonrpc: Schema.Literal(VERSION),
  method: Schema.String,
  params: Schema.optionalKey(Params),
  id: Absent,
  result: Absent,
  error: Absent
})
/** A notification: has a `method` and no `id`; it is never answered. */
export interface Notification {
  readonly jsonrpc: "2.0"
  readonly method: string
  readonly params?: Params
}

/** A successful response to the request with the same `id`. */
export const Success = Schema.Struct({
  jsonrpc: Schema.Literal(VERSION),
  id: RequestId,
  result: Schema.Unknown,
  method: Absent,
  error: Absent
})
/** A successful response to the request with the same `id`. */
export interface Success {
  readonly jsonrpc: "2.0"
  readonly id: RequestId
  readonly result: unknown
}

/** The `error` member of an error response. */
export const ErrorObject = Schema.Struct({
  code: Schema.Int,
  message: Schema.String,
  data: Schema.optionalKey(Schema.Unknown)
})
/** The `error` member of an error response. */
export interface ErrorObject {
  readonly code: number
  readonly message: string
  readonly data?: unknown
}

/** An error response; `id` is `null` when the request's id could not be read (parse errors). */
export const Failure = Schema.Struct({
  jsonrpc: Schema.Literal(VERSION),
  id: Schema.NullOr(RequestId),
  error: ErrorObject,
  method: Absent,
  result: Absent
})
/** An error response; `id` is `null` when the request's id could not be read (parse errors). */
export interface Failure {
  readonly jsonrpc: "2.0"
  readonly id: RequestId | null
  readonly error: ErrorObject
}

/** A response: success or error. */
export const Response = Schema.Union([Success, Failure])
/** A response: success or error. */
export type Response = Success | Failure

/** Any single JSON-RPC message. */
export const Message = Schema.Union([Request, Notification, Success, Failure])
/** Any single JSON-RPC message. */
export type Message = Request | Notification | Success | Failure

/** A non-empty batch of messages (only the 2025-03-26 MCP revision allows batches). */
export const Batch = Schema.NonEmptyArray(Message)
/** A non-empty batch of messages (only the 2025-03-26 MCP revision allows batches). */
export type Batch = readonly [Message, ...Array<Message>]

/** What one frame decodes to: a message, or a batch when batches are allowed. */
export type Incoming = Message | Batch

/** The kind of a message, read from its members. */
export type Kind = "request" | "notification" | "success" | "failure"

/** The kind of a valid message. */
export const kind = (message: Message): Kind =>
  "method" in message
    ? ("id" in message ? "request" : "notification")
    : ("error" in message ? "failure" : "success")

/** Is this a request? */
export const isRequest = (message: Message): message is Request => "method" in message && "id" in message
/** Is this a notification? */
export const isNotification = (message: Message): message is Notification =>
  "method" in message && !("id" in message)
/** Is this a response (success or error)? */
export const isResponse = (message: Message): message is Response => !("method" in message)
/** Is this frame a batch? */
export const isBatch = (incoming: Incoming): incoming is Batch => Array.isArray(incoming)

/** Builds a request. */
export const request = (id: RequestId, method: string, params?: Params): Request =>
  params === undefined ? { jsonrpc: VERSION, id, method } : { jsonrpc: VERSION, id, method, params }

/** Builds a notification. */
export const notification = (method: string, params?: Params): Notification =>
  params === undefined ? { jsonrpc: VERSION, method } : { jsonrpc: VERSION, method, params }

/** Builds a success response. */
export const success = (id: RequestId, result: unknown): Success => ({ jsonrpc: VERSION, id, result })

/** Builds an error response. */
export const failure = (id: RequestId | null, code: number, message: string, data?: unknown): Failure => ({
  jsonrpc: VERSION,
  id,
  error: data === undefined ? { code, message } : { code, message, data }
})
