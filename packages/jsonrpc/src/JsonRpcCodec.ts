/**
 * The JSON-RPC codec service: the one path by which every transport turns bytes or text into typed messages
 * (or typed errors) and messages into bytes.
 *
 * Decoding never throws and never hangs. Each frame is parsed once; its envelope is validated by a
 * classifier that agrees with the `JsonRpc` schemas (property-tested). Results are values
 * (`Result<Incoming, DecodeError>`), so a stream of frames yields one result per frame and a bad frame never
 * ends the stream.
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import {
  type DecodeError,
  FrameTooLarge,
  InvalidMessage,
  InvalidUtf8,
  MalformedJson,
  TruncatedFrame,
  UnencodableMessage
} from "./CodecError.ts"
import { DEFAULT_MAX_FRAME_BYTES, type FrameEvent, NdjsonFramer } from "./FrameDecoder.ts"
import type * as JsonRpc from "./JsonRpc.ts"

/** The result of decoding one frame. */
export type Decoded = Result.Result<JsonRpc.Incoming, DecodeError>

/** Codec settings. */
export interface Options {
  /** Largest frame accepted, in bytes, checked before decoding. Default 4 MiB. */
  readonly maxFrameBytes?: number | undefined
  /** Accept JSON-RPC batches (only MCP 2025-03-26 has them). Default `false`. */
  readonly allowBatch?: boolean | undefined
}

/** Per-call overrides (a connection learns whether batches are allowed when it negotiates a revision). */
export interface DecodeOptions {
  readonly allowBatch?: boolean | undefined
}

/** The codec's operations. */
export interface Codec {
  /** The largest frame accepted, in bytes. */
  readonly maxFrameBytes: number
  /** Whether batches are accepted unless a call says otherwise. */
  readonly allowBatch: boolean
  /** Decodes one complete frame of bytes (an HTTP body, a WebSocket binary message). Size is checked first. */
  readonly decodeBytes: (bytes: Uint8Array, options?: DecodeOptions) => Decoded
  /** Decodes one complete frame of text (a WebSocket text message). Size is checked first, in UTF-8 bytes. */
  readonly decodeText: (text: string, options?: DecodeOptions) => Decoded
  /** Validates an already-parsed JSON value as a JSON-RPC message (or batch). */
  readonly decodeValue: (value: unknown, options?: DecodeOptions) => Result.Result<JsonRpc.Incoming, InvalidMessage>
  /** Decodes an NDJSON byte stream (stdio, TCP): one result per frame, in order. */
  readonly decodeNdjson: <E, R>(self: Stream.Stream<Uint8Array, E, R>, options?: DecodeOptions) => Stream.Stream<
    Decoded,
    E,
    R
  >
  /** A fresh incremental NDJSON decoder, for transports that drive framing themselves. */
  readonly ndjsonDecoder: (options?: DecodeOptions) => NdjsonDecoder
  /** Serialises a message (or batch) to JSON text. */
  readonly encode: (message: JsonRpc.Incoming) => Result.Result<string, UnencodableMessage>
  /** Serialises a message (or batch) to one NDJSON frame: UTF-8 JSON followed by `\n`. */
  readonly encodeNdjson: (message: JsonRpc.Incoming) => Result.Result<Uint8Array, UnencodableMessage>
}

/** An incremental NDJSON decoder for one byte stream. */
export interface NdjsonDecoder {
  /** Feeds bytes; calls `emit` with each complete frame's result, in order. */
  readonly push: (chunk: Uint8Array, emit: (decoded: Decoded) => void) => void
  /** Signals end of input; an unterminated last line is decoded if complete, else `TruncatedFrame`. */
  readonly end: (emit: (decoded: Decoded) => void) => void
  /** Bytes held for an incomplete frame (bounded by the limit). */
  readonly bufferedBytes: () => number
}

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })
const encoder = new TextEncoder()

const hasOwn = Object.prototype.hasOwnProperty

const NEWLINE = 10
const CR = 13

const isBlankText = (text: string, start: number, end: number): boolean => {
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i)
    if (c !== 32 && c !== 9 && c !== CR) return false
  }
  return true
}

const isId = (u: unknown): u is JsonRpc.RequestId =>
  typeof u === "string" || (typeof u === "number" && Number.isFinite(u))

const readId = (value: object): JsonRpc.RequestId | null => {
  const id = (value as { readonly id?: unknown }).id
  return isId(id) ? id : null
}

const invalid = (id: JsonRpc.RequestId | null, detail: string) => new InvalidMessage({ id, detail })

/**
 * Validates one JSON value as a single JSON-RPC 2.0 message. Returns the value itself (no copy) when valid.
 * Unknown members are kept; members that would make the kind ambiguous (a `method` with a `result`, a
 * `result` with an `error`, an `id` on a notification) are rejected.
 */
export const classifyMessage = (value: unknown): JsonRpc.Message | InvalidMessage => {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return invalid(null, "a message must be a JSON object")
  }
  const v = value as Record<string, unknown>
  if (v.jsonrpc !== "2.0") return invalid(readId(v), "\"jsonrpc\" must be \"2.0\"")
  const hasResult = hasOwn.call(v, "result")
  const hasError = hasOwn.call(v, "error")
  if (hasOwn.call(v, "method")) {
    if (typeof v.method !== "string") return invalid(readId(v), "\"method\" must be a string")
    if (hasResult || hasError) return invalid(readId(v), "a request cannot have \"result\" or \"error\"")
    if (hasOwn.call(v, "params") && (typeof v.params !== "object" || v.params === null)) {
      return invalid(readId(v), "\"params\" must be an object or an array")
    }
    if (hasOwn.call(v, "id") && !isId(v.id)) return invalid(null, "\"id\" must be a string or a number")
    return v as unknown as JsonRpc.Message
  }
  // an invalid *response* is reported with id null: answering it with the peer's own id could fail one of
  // the peer's pending requests
  if (hasResult) {
    if (hasError) return invalid(null, "a response cannot have both \"result\" and \"error\"")
    if (!isId(v.id)) return invalid(null, "a success response needs a string or number \"id\"")
    return v as unknown as JsonRpc.Success
  }
  if (hasError) {
    const id = v.id
    if (id !== null && !isId(id)) return invalid(null, "\"id\" must be a string, a number or null")
    const error = v.error
    if (typeof error !== "object" || error === null || Array.isArray(error)) {
      return invalid(null, "\"error\" must be an object")
    }
    const e = error as Record<string, unknown>
    if (typeof e.code !== "number" || !Number.isSafeInteger(e.code)) return invalid(null, "\"error.code\" must be an integer")
    if (typeof e.message !== "string") return invalid(null, "\"error.message\" must be a string")
    return v as unknown as JsonRpc.Failure
  }
  return invalid(null, "not a request, notification or response (no \"method\", \"result\" or \"error\")")
}

/** Validates one JSON value as a message, or as a batch when `allowBatch`. */
export const classify = (value: unknown, allowBatch: boolean): Result.Result<JsonRpc.Incoming, InvalidMessage> => {
  if (Array.isArray(value)) {
    if (!allowBatch) return Result.fail(invalid(null, "batches are not supported by this protocol revision"))
    if (value.length === 0) return Result.fail(invalid(null, "a batch must not be empty"))
    for (let i = 0; i < value.length; i++) {
      const item = classifyMessage(value[i])
      if (item instanceof InvalidMessage) {
        return Result.fail(invalid(null, `batch element ${i}: ${item.detail}`))
      }
    }
    return Result.succeed(value as unknown as JsonRpc.Batch)
  }
  const message = classifyMessage(value)
  return message instanceof InvalidMessage ? Result.fail(message) : Result.succeed(message)
}

const parseText = (text: string, allowBatch: boolean): Decoded => {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (cause) {
    return Result.fail(new MalformedJson({ detail: cause instanceof Error ? cause.message : String(cause) }))
  }
  return classify(value, allowBatch)
}

const decodeUtf8 = (bytes: Uint8Array): string | InvalidUtf8 => {
  try {
    return utf8.decode(bytes)
  } catch {
    return new InvalidUtf8({ size: bytes.length })
  }
}

/** UTF-8 length of a string without allocating. */
const utf8Length = (text: string): number => {
  let length = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c < 0x80) length += 1
    else if (c < 0x800) length += 2
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1)
      if (next >= 0xdc00 && next <= 0xdfff) {
        length += 4
        i++
      } else length += 3
    } else length += 3
  }
  return length
}

/** Builds a codec. Throws `RangeError` only for an invalid `maxFrameBytes` setting. */
export const make = (options: Options = {}): Codec => {
  const maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES
  const allowBatchDefault = options.allowBatch ?? false
  // validates maxFrameBytes
  new NdjsonFramer(maxFrameBytes)

  const batch = (o: DecodeOptions | undefined) => o?.allowBatch ?? allowBatchDefault

  const frameToResult = (bytes: Uint8Array, allowBatch: boolean): Decoded => {
    const text = decodeUtf8(bytes)
    return typeof text === "string" ? parseText(text, allowBatch) : Result.fail(text)
  }

  const decodeBytes = (bytes: Uint8Array, o?: DecodeOptions): Decoded =>
    bytes.length > maxFrameBytes
      ? Result.fail(new FrameTooLarge({ limit: maxFrameBytes, received: bytes.length }))
      : frameToResult(bytes, batch(o))

  const decodeText = (text: string, o?: DecodeOptions): Decoded => {
    // a UTF-16 code unit is at most 3 UTF-8 bytes: count exactly only when it could matter
    if (text.length * 3 > maxFrameBytes) {
      const size = utf8Length(text)
      if (size > maxFrameBytes) return Result.fail(new FrameTooLarge({ limit: maxFrameBytes, received: size }))
    }
    return parseText(text, batch(o))
  }

  const ndjsonDecoder = (o?: DecodeOptions): NdjsonDecoder => {
    const framer = new NdjsonFramer(maxFrameBytes)
    const allowBatch = batch(o)
    const onEvent = (emit: (decoded: Decoded) => void) => (event: FrameEvent) => {
      switch (event._tag) {
        case "Frame":
          return emit(frameToResult(event.bytes, allowBatch))
        case "Remainder": {
          const decoded = frameToResult(event.bytes, allowBatch)
          return emit(
            Result.isFailure(decoded) && decoded.failure._tag === "MalformedJson"
              ? Result.fail(new TruncatedFrame({ received: event.bytes.length }))
              : decoded
          )
        }
        default:
          return emit(Result.fail(event))
      }
    }
    /**
     * Fast path for the common case (nothing buffered, the chunk smaller than the limit, so every line that
     * starts in it fits): decode all complete lines with one UTF-8 decode and split the text. Newline bytes
     * never occur inside a multi-byte UTF-8 sequence, so this is exactly equivalent to framing bytes first.
     * Anything else (a partial frame pending, invalid UTF-8, a huge chunk) goes through the framer.
     */
    const fast = (chunk: Uint8Array, emit: (decoded: Decoded) => void): boolean => {
      if (!framer.idle || chunk.length > maxFrameBytes) return false
      const last = chunk.lastIndexOf(NEWLINE)
      if (last === -1) return false
      let text: string
      try {
        text = utf8.decode(chunk.subarray(0, last))
      } catch {
        return false
      }
      let start = 0
      while (start <= text.length) {
        let end = text.indexOf("\n", start)
        if (end === -1) end = text.length
        let lineEnd = end
        if (lineEnd > start && text.charCodeAt(lineEnd - 1) === CR) lineEnd--
        if (lineEnd > start && !isBlankText(text, start, lineEnd)) {
          emit(parseText(text.slice(start, lineEnd), allowBatch))
        }
        start = end + 1
      }
      if (last + 1 < chunk.length) framer.pushTo(chunk.subarray(last + 1), onEvent(emit))
      return true
    }
    const push = (chunk: Uint8Array, emit: (decoded: Decoded) => void) => {
      if (!framer.idle && chunk.length <= maxFrameBytes) {
        // complete the pending frame through the framer, then take the fast path for the rest
        const first = chunk.indexOf(NEWLINE)
        if (first === -1) return framer.pushTo(chunk, onEvent(emit))
        framer.pushTo(chunk.subarray(0, first + 1), onEvent(emit))
        chunk = chunk.subarray(first + 1)
        if (chunk.length === 0) return
      }
      if (!fast(chunk, emit)) framer.pushTo(chunk, onEvent(emit))
    }
    return {
      push,
      end: (emit) => {
        for (const event of framer.end()) onEvent(emit)(event)
      },
      bufferedBytes: () => framer.bufferedBytes
    }
  }

  const decodeNdjson = <E, R>(self: Stream.Stream<Uint8Array, E, R>, o?: DecodeOptions) =>
    self.pipe(
      Stream.mapAccumArray(
        () => ndjsonDecoder(o),
        (decoder, chunks) => {
          const out: Array<Decoded> = []
          const emit = (d: Decoded) => {
            out.push(d)
          }
          for (const chunk of chunks) decoder.push(chunk, emit)
          return [decoder, out] as const
        },
        {
          onHalt: (decoder) => {
            const out: Array<Decoded> = []
            decoder.end((d) => {
              out.push(d)
            })
            return out
          }
        }
      )
    )

  const encode = (message: JsonRpc.Incoming): Result.Result<string, UnencodableMessage> => {
    try {
      const text = JSON.stringify(message)
      if (typeof text !== "string") return Result.fail(new UnencodableMessage({ detail: "not a JSON value" }))
      return Result.succeed(text)
    } catch (cause) {
      return Result.fail(new UnencodableMessage({ detail: cause instanceof Error ? cause.message : String(cause) }))
    }
  }

  const encodeNdjson = (message: JsonRpc.Incoming): Result.Result<Uint8Array, UnencodableMessage> =>
    Result.map(encode(message), (text) => encoder.encode(text + "\n"))

  return {
    maxFrameBytes,
    allowBatch: allowBatchDefault,
    decodeBytes,
    decodeText,
    decodeValue: (value, o) => classify(value, batch(o)),
    decodeNdjson,
    ndjsonDecoder,
    encode,
    encodeNdjson
  }
}

/** The JSON-RPC codec service. Every transport decodes and encodes through it. */
export class JsonRpcCodec extends Context.Service<JsonRpcCodec, Codec>()("effect-mcp/jsonrpc/JsonRpcCodec") {
  /** The codec with the defaults: 4 MiB frames, no batches. */
  static readonly layer: Layer.Layer<JsonRpcCodec> = Layer.succeed(JsonRpcCodec)(make())

  /** The codec with explicit settings. */
  static readonly layerWith = (options: Options): Layer.Layer<JsonRpcCodec> =>
    Layer.succeed(JsonRpcCodec)(make(options))

  /**
   * The codec configured from `Config`: `MCP_MAX_FRAME_BYTES`, a positive integer (default 4 MiB). An invalid
   * value fails the layer with a `ConfigError`.
   */
  static readonly layerConfig: Layer.Layer<JsonRpcCodec, Config.ConfigError> = Layer.effect(JsonRpcCodec)(
    Effect.gen(function*() {
      const maxFrameBytes = yield* Config.schema(
        Schema.Int.check(Schema.isGreaterThan(0)),
        "MCP_MAX_FRAME_BYTES"
      ).pipe(Config.withDefault(DEFAULT_MAX_FRAME_BYTES))
      return make({ maxFrameBytes })
    })
  )
}
