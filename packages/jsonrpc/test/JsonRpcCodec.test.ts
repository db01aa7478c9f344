import { describe, expect, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import fc from "fast-check"
import * as CodecError from "../src/CodecError.ts"
import * as ErrorCode from "../src/ErrorCode.ts"
import * as JsonRpc from "../src/JsonRpc.ts"
import * as JsonRpcCodec from "../src/JsonRpcCodec.ts"

const codec = JsonRpcCodec.make()
const encoder = new TextEncoder()
const bytes = (text: string) => encoder.encode(text)

const failureOf = (decoded: JsonRpcCodec.Decoded): CodecError.DecodeError => {
  if (Result.isSuccess(decoded)) throw new Error(`expected a failure, got ${JSON.stringify(decoded.success)}`)
  return decoded.failure
}

/** Arbitrary valid JSON-RPC messages (JSON values only, as they would arrive on the wire). */
const id = fc.oneof(fc.string({ maxLength: 10 }), fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }))
const params = fc.oneof(fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 3 })), fc.array(fc.jsonValue({ maxDepth: 2 })))
const withParams = <A extends object>(base: A) =>
  fc.option(params, { nil: undefined }).map((p) => (p === undefined ? base : { ...base, params: p }))
const message: fc.Arbitrary<JsonRpc.Message> = fc.oneof(
  fc.tuple(id, fc.string({ maxLength: 20 })).chain(([i, m]) => withParams({ jsonrpc: "2.0" as const, id: i, method: m })),
  fc.string({ maxLength: 20 }).chain((m) => withParams({ jsonrpc: "2.0" as const, method: m })),
  fc.tuple(id, fc.jsonValue({ maxDepth: 3 })).map(([i, r]) => JsonRpc.success(i, r)),
  fc.tuple(fc.option(id, { nil: null }), fc.integer(), fc.string(), fc.option(fc.jsonValue({ maxDepth: 2 }), { nil: undefined }))
    .map(([i, c, m, d]) => JsonRpc.failure(i, c, m, d))
)

/** Arbitrary JSON values that look a lot like messages (members present or missing, right or wrong types). */
const messageish = fc.record(
  {
    jsonrpc: fc.oneof(fc.constant("2.0"), fc.constant("1.0"), fc.jsonValue({ maxDepth: 0 })),
    id: fc.oneof(id, fc.constant(null), fc.boolean(), fc.array(fc.integer(), { maxLength: 1 })),
    method: fc.oneof(fc.string({ maxLength: 5 }), fc.integer()),
    params: fc.oneof(params, fc.jsonValue({ maxDepth: 0 })),
    result: fc.jsonValue({ maxDepth: 1 }),
    error: fc.oneof(
      fc.record({ code: fc.oneof(fc.integer(), fc.double(), fc.string()), message: fc.oneof(fc.string(), fc.integer()) }, { requiredKeys: [] }),
      fc.jsonValue({ maxDepth: 0 })
    ),
    extra: fc.jsonValue({ maxDepth: 1 })
  },
  { requiredKeys: [] }
)

describe("JsonRpcCodec", () => {
  it("decodes each kind of message", () => {
    const cases: Array<[string, JsonRpc.Kind]> = [
      ["{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\",\"params\":{}}", "request"],
      ["{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}", "notification"],
      ["{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"result\":{}}", "success"],
      ["{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32700,\"message\":\"Parse error\"}}", "failure"]
    ]
    for (const [text, kind] of cases) {
      const decoded = codec.decodeBytes(bytes(text))
      expect(Result.isSuccess(decoded)).toBe(true)
      if (Result.isSuccess(decoded) && !JsonRpc.isBatch(decoded.success)) {
        expect(JsonRpc.kind(decoded.success)).toBe(kind)
      }
    }
  })

  it("FM-08 malformed JSON becomes -32700 with id null", () => {
    for (const text of ["{\"jsonrpc\":\"2.0\",", "not json", "{\"id\":1,}", "[1,2", "\"unterminated"]) {
      const error = failureOf(codec.decodeBytes(bytes(text)))
      expect(error).toBeInstanceOf(CodecError.MalformedJson)
      expect(error.mode).toBe("FM-08")
      expect(CodecError.toResponse(error)).toMatchObject({
        jsonrpc: "2.0",
        id: null,
        error: { code: ErrorCode.ParseError }
      })
    }
  })

  it("FM-47 invalid JSON-RPC becomes -32600 with the id", () => {
    const cases: Array<[unknown, JsonRpc.RequestId | null]> = [
      [{ jsonrpc: "1.0", id: 7, method: "ping" }, 7],
      [{ jsonrpc: "2.0", id: "x", method: 42 }, "x"],
      [{ jsonrpc: "2.0", id: 3, method: "ping", params: "nope" }, 3],
      [{ jsonrpc: "2.0", id: 4, method: "ping", result: {} }, 4],
      // invalid responses are answered with id null, never with the peer's own pending id
      [{ jsonrpc: "2.0", id: 5, result: {}, error: { code: 1, message: "" } }, null],
      [{ jsonrpc: "2.0", id: 6, error: { code: 1.5, message: "x" } }, null],
      // found by the property below: a code beyond the safe integers is not an integer code
      [{ jsonrpc: "2.0", id: "", error: { code: -9007199254740992, message: "" } }, null],
      [{ jsonrpc: "2.0", id: 8 }, null],
      [{ jsonrpc: "2.0", id: null, method: "ping" }, null],
      [{ jsonrpc: "2.0", id: true, method: "ping" }, null],
      [42, null],
      [null, null],
      [[], null],
      [[{ jsonrpc: "2.0", method: "ping" }], null]
    ]
    for (const [value, expectedId] of cases) {
      const error = failureOf(codec.decodeText(JSON.stringify(value)))
      expect(error).toBeInstanceOf(CodecError.InvalidMessage)
      expect(error.mode).toBe("FM-47")
      expect(CodecError.toResponse(error)).toMatchObject({
        jsonrpc: "2.0",
        id: expectedId,
        error: { code: ErrorCode.InvalidRequest }
      })
    }
  })

  it("FM-50 invalid UTF-8 is a typed error", () => {
    const invalid = [
      new Uint8Array([0x7b, 0xff, 0x7d]),
      new Uint8Array([0x22, 0xc3, 0x22]), // truncated 2-byte sequence
      new Uint8Array([0x22, 0xed, 0xa0, 0x80, 0x22]) // encoded surrogate
    ]
    for (const frame of invalid) {
      const error = failureOf(codec.decodeBytes(frame))
      expect(error).toBeInstanceOf(CodecError.InvalidUtf8)
      expect(error.mode).toBe("FM-50")
      expect(CodecError.toResponse(error).error.code).toBe(ErrorCode.ParseError)
    }
    // in a stream, the bad frame is reported and the next one still decodes
    const out: Array<JsonRpcCodec.Decoded> = []
    const decoder = codec.ndjsonDecoder()
    decoder.push(new Uint8Array([0xff, 0x0a, ...bytes("{\"jsonrpc\":\"2.0\",\"method\":\"ping\"}\n")]), (d) => out.push(d))
    expect(out.map((d) => (Result.isSuccess(d) ? "ok" : d.failure._tag))).toEqual(["InvalidUtf8", "ok"])
  })

  it("FM-01 a complete frame over the limit is rejected before parsing (bytes and text)", () => {
    const small = JsonRpcCodec.make({ maxFrameBytes: 16 })
    expect(failureOf(small.decodeBytes(new Uint8Array(17)))).toMatchObject({ _tag: "FrameTooLarge", limit: 16, received: 17 })
    // 6 UTF-16 units (could be 18 bytes) but 14 UTF-8 bytes: within the limit, so it is parsed
    expect(failureOf(small.decodeText("\"中中中中\""))._tag).toBe("InvalidMessage")
    expect(failureOf(small.decodeText("[\"中中中中中\"]"))).toMatchObject({ _tag: "FrameTooLarge", limit: 16, received: 19 })
    expect(CodecError.toResponse(failureOf(small.decodeBytes(new Uint8Array(17))))).toMatchObject({
      id: null,
      error: { code: ErrorCode.InvalidRequest, data: { limit: 16 } }
    })
  })

  it("FM-30 input that ends inside a frame is TruncatedFrame; a complete unterminated frame is accepted", () => {
    const run = (text: string) => {
      const out: Array<JsonRpcCodec.Decoded> = []
      const decoder = codec.ndjsonDecoder()
      decoder.push(bytes(text), (d) => out.push(d))
      decoder.end((d) => out.push(d))
      return out.map((d) => (Result.isSuccess(d) ? "ok" : d.failure._tag))
    }
    expect(run("{\"jsonrpc\":\"2.0\",\"method\":\"a\"}\n{\"jsonrpc\":\"2.0\",\"met")).toEqual(["ok", "TruncatedFrame"])
    expect(run("{\"jsonrpc\":\"2.0\",\"method\":\"a\"}\n{\"jsonrpc\":\"2.0\",\"method\":\"b\"}")).toEqual(["ok", "ok"])
  })

  it("batches only when allowed", () => {
    const text = JSON.stringify([JsonRpc.request(1, "ping"), JsonRpc.notification("notifications/initialized")])
    expect(failureOf(codec.decodeText(text))).toMatchObject({ _tag: "InvalidMessage", detail: expect.stringContaining("batches") })
    const decoded = codec.decodeText(text, { allowBatch: true })
    expect(Result.isSuccess(decoded) && JsonRpc.isBatch(decoded.success)).toBe(true)
    expect(failureOf(codec.decodeText("[]", { allowBatch: true }))._tag).toBe("InvalidMessage")
    expect(failureOf(JsonRpcCodec.make({ allowBatch: true }).decodeText("[{\"jsonrpc\":\"2.0\"}]"))).toMatchObject({
      _tag: "InvalidMessage",
      detail: expect.stringContaining("batch element 0")
    })
  })

  it("encodes to JSON and NDJSON; an unencodable message is a typed error, not a throw", () => {
    const request = JsonRpc.request(1, "tools/call", { name: "echo", arguments: { message: "hi" } })
    expect(Result.getOrThrow(codec.encode(request))).toBe(JSON.stringify(request))
    const line = new TextDecoder().decode(Result.getOrThrow(codec.encodeNdjson(request)))
    expect(line).toBe(JSON.stringify(request) + "\n")
    const cyclic: Record<string, unknown> = {}
    cyclic.self = cyclic
    const bad = codec.encode(JsonRpc.success(1, cyclic))
    expect(Result.isFailure(bad) && bad.failure).toMatchObject({ _tag: "UnencodableMessage", mode: "FM-50" })
    const bigint = codec.encode(JsonRpc.success(1, { n: 1n }))
    expect(Result.isFailure(bigint)).toBe(true)
  })

  it("round trip: encode then decode gives the same message (property)", () => {
    fc.assert(
      fc.property(message, (m) => {
        const line = Result.getOrThrow(codec.encodeNdjson(m))
        const out: Array<JsonRpcCodec.Decoded> = []
        codec.ndjsonDecoder().push(line, (d) => out.push(d))
        expect(out).toHaveLength(1)
        const decoded = out[0]!
        expect(Result.isSuccess(decoded)).toBe(true)
        expect(Result.getOrThrow(decoded)).toEqual(JSON.parse(JSON.stringify(m)))
      }),
      { numRuns: 500 }
    )
  })

  it("the classifier agrees with the JsonRpc schemas (property)", () => {
    const isMessage = Schema.is(JsonRpc.Message)
    const isBatch = Schema.is(JsonRpc.Batch)
    fc.assert(
      fc.property(fc.oneof(message, messageish, fc.jsonValue({ maxDepth: 2 }), fc.array(messageish, { maxLength: 3 })), (value) => {
        const single = JsonRpcCodec.classify(value, false)
        const batched = JsonRpcCodec.classify(value, true)
        expect(Result.isSuccess(single)).toBe(isMessage(value))
        expect(Result.isSuccess(batched)).toBe(isMessage(value) || isBatch(value))
      }),
      { numRuns: 2000 }
    )
  })

  it("arbitrary bytes never throw and always give messages or typed errors (property)", () => {
    const chunks = fc.array(
      fc.oneof(
        fc.uint8Array({ maxLength: 64 }),
        message.map((m) => bytes(JSON.stringify(m) + "\n")),
        fc.constant(bytes("\n"))
      ),
      { maxLength: 20 }
    )
    fc.assert(
      fc.property(chunks, fc.integer({ min: 1, max: 256 }), (input, limit) => {
        const small = JsonRpcCodec.make({ maxFrameBytes: limit })
        const decoder = small.ndjsonDecoder()
        const out: Array<JsonRpcCodec.Decoded> = []
        for (const chunk of input) decoder.push(chunk, (d) => out.push(d))
        decoder.end((d) => out.push(d))
        for (const d of out) {
          if (Result.isFailure(d)) {
            expect(CodecError.isDecodeError(d.failure)).toBe(true)
            expect(d.failure.mode).toMatch(/^FM-\d\d$/)
            expect(CodecError.toResponse(d.failure).jsonrpc).toBe("2.0")
          } else {
            expect(Schema.is(JsonRpc.Message)(d.success)).toBe(true)
          }
          expect(decoder.bufferedBytes()).toBeLessThanOrEqual(limit)
        }
      }),
      { numRuns: 500 }
    )
  })

  it("FM-30 the decoder gives identical results for any chunking, valid or not (property)", () => {
    const line = fc.oneof(
      message.map((m) => JSON.stringify(m)),
      fc.string({ maxLength: 30 }).map((t) => t.replace(/\n/g, " ")),
      fc.constant("  \r"),
      fc.constant("{\"jsonrpc\":\"2.0\",\"method\":\"é😀\"}\r")
    )
    const render = (out: ReadonlyArray<JsonRpcCodec.Decoded>) =>
      out.map((d) => (Result.isSuccess(d) ? { ok: d.success } : { error: d.failure._tag, mode: d.failure.mode }))
    const decodeAll = (small: JsonRpcCodec.Codec, chunks: ReadonlyArray<Uint8Array>) => {
      const decoder = small.ndjsonDecoder()
      const out: Array<JsonRpcCodec.Decoded> = []
      for (const c of chunks) decoder.push(c, (d) => out.push(d))
      decoder.end((d) => out.push(d))
      return render(out)
    }
    fc.assert(
      fc.property(
        fc.array(line, { maxLength: 10 }),
        fc.option(fc.uint8Array({ minLength: 1, maxLength: 4 }), { nil: undefined }),
        fc.array(fc.nat(), { maxLength: 12 }),
        fc.integer({ min: 8, max: 400 }),
        (lines, junk, cuts, limit) => {
          const text = bytes(lines.join("\n") + "\n")
          const all = junk === undefined ? text : new Uint8Array([...junk, 0x0a, ...text])
          const small = JsonRpcCodec.make({ maxFrameBytes: limit })
          const points = [...new Set(cuts.map((c) => c % (all.length + 1)))].sort((a, b) => a - b)
          const chunks: Array<Uint8Array> = []
          let start = 0
          for (const p of points) {
            chunks.push(all.slice(start, p))
            start = p
          }
          chunks.push(all.slice(start))
          expect(decodeAll(small, chunks)).toEqual(decodeAll(small, [all]))
          expect(decodeAll(small, [...all].map((b) => new Uint8Array([b])))).toEqual(decodeAll(small, [all]))
        }
      ),
      { numRuns: 400 }
    )
  })

  it("layerConfig reads MCP_MAX_FRAME_BYTES and rejects a bad value", () =>
    Effect.gen(function*() {
      const read = (env: Record<string, string>) =>
        Effect.gen(function*() {
          return yield* JsonRpcCodec.JsonRpcCodec
        }).pipe(
          Effect.provide(JsonRpcCodec.JsonRpcCodec.layerConfig),
          Effect.provide(ConfigProvider.layer(ConfigProvider.fromUnknown(env))),
          Effect.exit
        )
      const configured = yield* read({ MCP_MAX_FRAME_BYTES: "1024" })
      expect(Exit.isSuccess(configured) && configured.value.maxFrameBytes).toBe(1024)
      const defaulted = yield* read({})
      expect(Exit.isSuccess(defaulted) && defaulted.value.maxFrameBytes).toBe(4 * 1024 * 1024)
      expect(Exit.isFailure(yield* read({ MCP_MAX_FRAME_BYTES: "-5" }))).toBe(true)
      expect(Exit.isFailure(yield* read({ MCP_MAX_FRAME_BYTES: "lots" }))).toBe(true)
    }).pipe(Effect.runPromise))
})
