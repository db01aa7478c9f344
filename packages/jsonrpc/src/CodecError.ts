/**
 * The codec's typed errors. Each carries the FMEA mode it belongs to (`mode`, fixed by its class) and the data
 * needed to act on it, and maps to exactly one JSON-RPC error response (`toResponse`).
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import * as ErrorCode from "./ErrorCode.ts"
import * as JsonRpc from "./JsonRpc.ts"

/**
 * FM-01: a frame passed the size limit. Detected while reading, before any parse; the rest of the frame is
 * skipped without buffering. `received` is the number of bytes seen when the limit was passed (at least
 * `limit + 1`), not necessarily the frame's full size.
 */
export class FrameTooLarge extends Schema.TaggedError<FrameTooLarge>()("FrameTooLarge", {
  mode: Schema.tag("FM-01"),
  limit: Schema.Number,
  received: Schema.Number
}) {
  override get message(): string {
    return `Frame exceeds the limit of ${this.limit} bytes (received at least ${this.received})`
  }
}

/** FM-08: the frame is not valid JSON. Answered with -32700 and `id: null`. */
export class MalformedJson extends Schema.TaggedError<MalformedJson>()("MalformedJson", {
  mode: Schema.tag("FM-08"),
  detail: Schema.String
}) {
  override get message(): string {
    return `Malformed JSON: ${this.detail}`
  }
}

/**
 * FM-30: the input ended in the middle of a frame (no newline, and the bytes so far are not a complete
 * JSON-RPC message). Nothing before it is lost.
 */
export class TruncatedFrame extends Schema.TaggedError<TruncatedFrame>()("TruncatedFrame", {
  mode: Schema.tag("FM-30"),
  received: Schema.Number
}) {
  override get message(): string {
    return `Input ended inside a frame after ${this.received} bytes`
  }
}

/**
 * FM-47: valid JSON that is not a valid JSON-RPC 2.0 message. `id` is the request's id when it could be read,
 * so the peer can correlate the -32600 error response.
 */
export class InvalidMessage extends Schema.TaggedError<InvalidMessage>()("InvalidMessage", {
  mode: Schema.tag("FM-47"),
  id: Schema.NullOr(JsonRpc.RequestId),
  detail: Schema.String
}) {
  override get message(): string {
    return `Invalid JSON-RPC message: ${this.detail}`
  }
}

/** FM-50: the frame's bytes are not valid UTF-8. Answered with -32700 and `id: null`. */
export class InvalidUtf8 extends Schema.TaggedError<InvalidUtf8>()("InvalidUtf8", {
  mode: Schema.tag("FM-50"),
  size: Schema.Number
}) {
  override get message(): string {
    return `Frame of ${this.size} bytes is not valid UTF-8`
  }
}

/**
 * FM-50: an outgoing message cannot be serialised to JSON (a cycle, a BigInt, a throwing `toJSON`). Local:
 * the message is not sent, the caller gets this error.
 */
export class UnencodableMessage extends Schema.TaggedError<UnencodableMessage>()("UnencodableMessage", {
  mode: Schema.tag("FM-50"),
  detail: Schema.String
}) {
  override get message(): string {
    return `Message cannot be encoded as JSON: ${this.detail}`
  }
}

/** Every error the decoder can produce. */
export type DecodeError = FrameTooLarge | MalformedJson | TruncatedFrame | InvalidMessage | InvalidUtf8

/** Every error of the codec. */
export type CodecError = DecodeError | UnencodableMessage

const decodeErrorTags = new Set(["FrameTooLarge", "MalformedJson", "TruncatedFrame", "InvalidMessage", "InvalidUtf8"])

/** Is this value one of the decoder's errors? */
export const isDecodeError = (u: unknown): u is DecodeError =>
  typeof u === "object" && u !== null && decodeErrorTags.has((u as { readonly _tag?: unknown })._tag as string)

/**
 * The JSON-RPC error response a peer should receive for a decode error: -32700 with `id: null` for frames
 * that could not be parsed (or read at all), -32600 for a message that is not valid JSON-RPC (with its id
 * when known). The message is safe to send: it names the problem, never internal state.
 */
export const toResponse = (error: DecodeError): JsonRpc.Failure => {
  switch (error._tag) {
    case "FrameTooLarge":
      return JsonRpc.failure(null, ErrorCode.InvalidRequest, error.message, { limit: error.limit })
    case "MalformedJson":
      return JsonRpc.failure(null, ErrorCode.ParseError, "Parse error: malformed JSON")
    case "TruncatedFrame":
      return JsonRpc.failure(null, ErrorCode.ParseError, "Parse error: input ended inside a frame")
    case "InvalidUtf8":
      return JsonRpc.failure(null, ErrorCode.ParseError, "Parse error: invalid UTF-8")
    case "InvalidMessage":
      return JsonRpc.failure(error.id, ErrorCode.InvalidRequest, `Invalid Request: ${error.detail}`)
  }
}
