/**
 * Arbitrary hostile frames: NDJSON lines a broken or malicious peer could send, each labelled with what the
 * codec must make of it (the typed error and its FMEA mode, or a valid message that must not hurt, or nothing
 * at all). Inject them with `link.inject("toServer", frame.bytes)` (or `MemoryTransport`'s wire) and check
 * that the receiver answers as labelled and keeps serving.
 *
 * @since 0.1.0
 */
import fc from "fast-check"

/**
 * What the codec makes of a frame.
 *
 * - `MalformedJson` (FM-08), `InvalidUtf8` (FM-50), `FrameTooLarge` (FM-01), `InvalidMessage` (FM-47): a typed
 *   decode error, answered with -32700 or -32600;
 * - `Valid`: a valid JSON-RPC message with something hostile in it (prototype-pollution keys, extreme numbers,
 *   unknown methods and ids, odd line endings);
 * - `Blank`: whitespace only, ignored.
 *
 * @since 0.1.0
 * @category models
 */
export type Kind = "MalformedJson" | "InvalidUtf8" | "FrameTooLarge" | "InvalidMessage" | "Valid" | "Blank"

/**
 * One hostile frame: its bytes (newline included) and what it must decode to.
 *
 * @since 0.1.0
 * @category models
 */
export interface HostileFrame {
  readonly kind: Kind
  /** The FMEA mode of the expected decode error, if any. */
  readonly mode: "FM-01" | "FM-08" | "FM-47" | "FM-50" | undefined
  readonly description: string
  readonly bytes: Uint8Array
}

const encoder = new TextEncoder()

const frame = (kind: Kind, description: string, content: Uint8Array | string, ending = "\n"): HostileFrame => {
  const body = typeof content === "string" ? encoder.encode(content) : content
  const tail = encoder.encode(ending)
  const bytes = new Uint8Array(body.length + tail.length)
  bytes.set(body)
  bytes.set(tail, body.length)
  const mode = kind === "MalformedJson"
    ? "FM-08"
    : kind === "InvalidUtf8"
    ? "FM-50"
    : kind === "FrameTooLarge"
    ? "FM-01"
    : kind === "InvalidMessage"
    ? "FM-47"
    : undefined
  return { kind, mode, description, bytes }
}

/** Text without line feeds (a frame is one line). */
const line = (s: string) => s.replace(/[\n\u2028\u2029]/g, " ")

const id = fc.oneof(fc.integer({ min: -1_000_000, max: 1_000_000 }), fc.string({ maxLength: 12 }).map(line))
const method = fc.oneof(
  fc.constantFrom("tools/call", "initialize", "ping", "resources/read", "notifications/cancelled"),
  fc.string({ minLength: 1, maxLength: 24 }).map(line)
)
const jsonValue = fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.parse(line(JSON.stringify(v))) as unknown)
const params = fc.dictionary(fc.string({ maxLength: 8 }).map(line), jsonValue, { maxKeys: 4 })

/** A valid request or notification, as an object. */
const validObject = fc.oneof(
  fc.record({ id, method, params }).map((m) => ({ jsonrpc: "2.0", ...m })),
  fc.record({ method, params }).map((m) => ({ jsonrpc: "2.0", ...m }))
)

/**
 * FM-08: text that is not JSON (a cut-off object, single quotes, trailing commas, bare words, a byte-order
 * mark).
 *
 * @since 0.1.0
 * @category arbitraries
 */
export const malformedJson: fc.Arbitrary<HostileFrame> = fc.oneof(
  // any strict prefix of an object's JSON is not JSON: its braces balance only at the very end
  fc.tuple(validObject, fc.nat()).map(([value, n]) => {
    const text = JSON.stringify(value)
    const cutAt = 1 + (n % (text.length - 1))
    return frame("MalformedJson", "an object cut off", text.slice(0, cutAt))
  }),
  validObject.map((value) => frame("MalformedJson", "single quotes", JSON.stringify(value).replace(/"/g, "'"))),
  validObject.map((value) => frame("MalformedJson", "a trailing comma", JSON.stringify(value).replace(/}$/, ",}"))),
  validObject.map((value) => frame("MalformedJson", "a byte-order mark before the JSON", "\uFEFF" + JSON.stringify(value))),
  fc.constantFrom("undefined", "NaN", "{a:1}", "{\"jsonrpc\":\"2.0\",}", "[1,]", "{\"a\":01}", "'x'", "}{", "{{}}", "nul")
    .map((text) => frame("MalformedJson", `not JSON: ${text}`, text))
)

/** Byte sequences that are never valid UTF-8 (and contain no line feed). */
const badUtf8 = fc.constantFrom(
  [0x80],
  [0xbf, 0x80],
  [0xc0, 0x80],
  [0xc3],
  [0xe2, 0x82],
  [0xed, 0xa0, 0x80],
  [0xf0, 0x9f, 0x98],
  [0xf5, 0x80, 0x80, 0x80],
  [0xf8, 0x88, 0x80, 0x80, 0x80],
  [0xff],
  [0xfe, 0xff]
)

/**
 * FM-50: bytes that are not UTF-8 (lone continuation bytes, overlong forms, encoded surrogates, cut-off
 * sequences, 0xFF), inside an otherwise valid message.
 *
 * @since 0.1.0
 * @category arbitraries
 */
export const invalidUtf8: fc.Arbitrary<HostileFrame> = fc.tuple(validObject, badUtf8).map(([value, bad]) => {
  const text = JSON.stringify({ ...value, note: "@@" })
  const at = text.indexOf("@@")
  const head = encoder.encode(text.slice(0, at))
  const tail = encoder.encode(text.slice(at + 2))
  const bytes = new Uint8Array(head.length + bad.length + tail.length)
  bytes.set(head)
  bytes.set(bad, head.length)
  bytes.set(tail, head.length + bad.length)
  return frame("InvalidUtf8", `invalid UTF-8 bytes ${bad.map((b) => b.toString(16)).join(" ")}`, bytes)
})

/**
 * FM-01: a frame longer than `maxFrameBytes` (by up to `excess` bytes, default 64).
 *
 * @since 0.1.0
 * @category arbitraries
 */
export const oversized = (maxFrameBytes: number, excess = 64): fc.Arbitrary<HostileFrame> =>
  fc.tuple(fc.integer({ min: 1, max: Math.max(1, excess) }), fc.constantFrom("a", "é", "€", "😀")).map(([extra, pad]) => {
    const head = "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/padding\",\"params\":{\"pad\":\""
    const tail = "\"}}"
    const fixed = encoder.encode(head + tail).length
    const unit = encoder.encode(pad).length
    const count = Math.ceil(Math.max(0, maxFrameBytes + extra - fixed) / unit)
    return frame("FrameTooLarge", `a ${fixed + count * unit}-byte frame (limit ${maxFrameBytes})`, head + pad.repeat(count) + tail)
  })

/**
 * FM-47: valid JSON that is not a JSON-RPC 2.0 message (wrong version, wrong member types, a request with a
 * result, an error without a message, a non-integer code, primitives, empty or broken batches).
 *
 * @since 0.1.0
 * @category arbitraries
 */
export const invalidMessage: fc.Arbitrary<HostileFrame> = fc.oneof(
  fc.tuple(id, method).map(([i, m]) => frame("InvalidMessage", "jsonrpc 1.0", JSON.stringify({ jsonrpc: "1.0", id: i, method: m }))),
  id.map((i) => frame("InvalidMessage", "no jsonrpc member", JSON.stringify({ id: i, method: "ping" }))),
  fc.integer().map((m) => frame("InvalidMessage", "a numeric method", JSON.stringify({ jsonrpc: "2.0", id: 1, method: m }))),
  fc.constantFrom<unknown>(null, true, {}, [1]).map((i) =>
    frame("InvalidMessage", `id ${JSON.stringify(i)}`, JSON.stringify({ jsonrpc: "2.0", id: i, method: "ping" }))
  ),
  fc.tuple(id, fc.oneof(fc.integer(), fc.string({ maxLength: 5 }).map(line), fc.boolean())).map(([i, p]) =>
    frame("InvalidMessage", "params neither object nor array", JSON.stringify({ jsonrpc: "2.0", id: i, method: "ping", params: p }))
  ),
  id.map((i) => frame("InvalidMessage", "neither method, result nor error", JSON.stringify({ jsonrpc: "2.0", id: i }))),
  id.map((i) => frame("InvalidMessage", "a request with a result", JSON.stringify({ jsonrpc: "2.0", id: i, method: "ping", result: {} }))),
  id.map((i) =>
    frame("InvalidMessage", "both result and error", JSON.stringify({ jsonrpc: "2.0", id: i, result: 1, error: { code: 1, message: "x" } }))
  ),
  fc.tuple(id, fc.double({ min: -1e6, max: 1e6, noNaN: true }).filter((d) => !Number.isInteger(d))).map(([i, code]) =>
    frame("InvalidMessage", "a non-integer error code", JSON.stringify({ jsonrpc: "2.0", id: i, error: { code, message: "x" } }))
  ),
  id.map((i) => frame("InvalidMessage", "an error without a message", JSON.stringify({ jsonrpc: "2.0", id: i, error: { code: -1 } }))),
  fc.constantFrom("42", "\"text\"", "null", "true", "[]", "[1,2]", "[{\"jsonrpc\":\"2.0\"}]").map((text) =>
    frame("InvalidMessage", `not a message: ${text}`, text)
  )
)

/**
 * Valid messages with something hostile in them: prototype-pollution keys, extreme numbers and unicode,
 * unknown methods, responses to ids nobody asked for, CRLF line endings. They must decode, and must not
 * pollute `Object.prototype` or crash the receiver.
 *
 * @since 0.1.0
 * @category arbitraries
 */
export const hostileValid: fc.Arbitrary<HostileFrame> = fc.oneof(
  fc.constantFrom("__proto__", "constructor", "prototype").map((key) =>
    frame(
      "Valid",
      `a ${key} key`,
      `{"jsonrpc":"2.0","method":"notifications/hostile","params":{"${key}":{"polluted":"yes"},"nested":{"${key}":{"polluted":"yes"}}}}`
    )
  ),
  fc.tuple(fc.integer({ min: 1, max: 1_000_000 }), fc.constantFrom("1e308", "-1e308", "5e-324", "123456789012345678901234567890", "-0"))
    .map(([i, n]) => frame("Valid", `an extreme number ${n}`, `{"jsonrpc":"2.0","id":${i},"method":"ping","params":{"n":${n}}}`)),
  fc.tuple(id, fc.string({ minLength: 1, maxLength: 40, unit: "grapheme" }).map(line)).map(([i, m]) =>
    frame("Valid", "an unknown method", JSON.stringify({ jsonrpc: "2.0", id: i, method: `x/${m}` }))
  ),
  fc.tuple(fc.integer({ min: 1_000_000, max: 2_000_000 }), jsonValue).map(([i, r]) =>
    frame("Valid", "a response nobody asked for", JSON.stringify({ jsonrpc: "2.0", id: i, result: r }))
  ),
  validObject.map((value) => frame("Valid", "a CRLF line ending", JSON.stringify(value), "\r\n"))
)

/**
 * Whitespace-only lines: ignored.
 *
 * @since 0.1.0
 * @category arbitraries
 */
export const blank: fc.Arbitrary<HostileFrame> = fc.array(fc.constantFrom(" ", "\t", "\r"), { maxLength: 8 }).map((ws) =>
  frame("Blank", "whitespace only", ws.join(""))
)

/**
 * Any hostile frame (oversized ones only when `maxFrameBytes` is given: the default limit is 4 MiB).
 *
 * @since 0.1.0
 * @category arbitraries
 */
export const any = (options: { readonly maxFrameBytes?: number } = {}): fc.Arbitrary<HostileFrame> => {
  const limit = options.maxFrameBytes
  // under a small limit, only the oversized frames may pass it (a line's limit excludes its newline)
  const fits = (f: HostileFrame) => limit === undefined || f.bytes.length - 1 <= limit
  return fc.oneof(
    malformedJson.filter(fits),
    invalidUtf8.filter(fits),
    invalidMessage.filter(fits),
    hostileValid.filter(fits),
    blank,
    ...(limit === undefined ? [] : [oversized(limit)])
  )
}
