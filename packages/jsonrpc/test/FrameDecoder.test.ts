import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import fc from "fast-check"
import { FrameTooLarge } from "../src/CodecError.ts"
import { type FrameEvent, NdjsonFramer } from "../src/FrameDecoder.ts"
import * as JsonRpcCodec from "../src/JsonRpcCodec.ts"

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** Renders framer events to comparable values. */
const render = (events: ReadonlyArray<FrameEvent>) =>
  events.map((e) => (e._tag === "FrameTooLarge" ? { tooLarge: e.limit } : { [e._tag]: decoder.decode(e.bytes) }))

/** Splits `bytes` at the given cut points (any byte boundary). */
const splitAt = (bytes: Uint8Array, cuts: ReadonlyArray<number>): Array<Uint8Array> => {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)
  const chunks: Array<Uint8Array> = []
  let start = 0
  for (const p of points) {
    chunks.push(bytes.slice(start, p))
    start = p
  }
  chunks.push(bytes.slice(start))
  return chunks
}

const feed = (framer: NdjsonFramer, chunks: ReadonlyArray<Uint8Array>) => [
  ...chunks.flatMap((c) => framer.push(c)),
  ...framer.end()
]

describe("NdjsonFramer", () => {
  it("splits lines, strips \\r, skips blank lines, returns an unterminated remainder", () => {
    const framer = new NdjsonFramer(1024)
    const events = feed(framer, [encoder.encode("{\"a\":1}\r\n\n  \n{\"b\":2}\n{\"c\"")])
    expect(render(events)).toEqual([{ Frame: "{\"a\":1}" }, { Frame: "{\"b\":2}" }, { Remainder: "{\"c\"" }])
  })

  it("FM-01 oversize frame is rejected before parsing", () => {
    const limit = 64
    const framer = new NdjsonFramer(limit)
    const events: Array<FrameEvent> = []
    // 10 MiB of a line with no newline, in 4 KiB chunks: one error, nothing buffered past the limit
    const chunk = new Uint8Array(4096).fill(0x61)
    for (let i = 0; i < 2560; i++) {
      framer.pushTo(chunk, (e) => events.push(e))
      expect(framer.bufferedBytes).toBeLessThanOrEqual(limit)
    }
    expect(events).toHaveLength(1)
    const error = events[0]
    expect(error).toBeInstanceOf(FrameTooLarge)
    expect(error).toMatchObject({ _tag: "FrameTooLarge", mode: "FM-01", limit })
    expect((error as FrameTooLarge).message).toContain("64 bytes")
    // the rest of the oversize line is skipped; the next line decodes normally
    framer.pushTo(encoder.encode("tail of the big line\n{\"ok\":true}\n"), (e) => events.push(e))
    expect(render(events.slice(1))).toEqual([{ Frame: "{\"ok\":true}" }])
    // a line that ends exactly at the limit is accepted, one byte more is not
    const exact = feed(new NdjsonFramer(8), [encoder.encode("12345678\n123456789\nok\n")])
    expect(render(exact)).toEqual([{ Frame: "12345678" }, { tooLarge: 8 }, { Frame: "ok" }])
  })

  it("FM-01 a 1 GiB line with no newline leaves RSS bounded", () =>
    Effect.gen(function*() {
      const codec = JsonRpcCodec.make()
      const chunk = new Uint8Array(1024 * 1024).fill(0x20 + 0x41) // 1 MiB of "a"
      const before = process.memoryUsage().rss
      let peak = before
      const results = yield* Stream.fromIterable(
        (function*() {
          for (let i = 0; i < 1024; i++) {
            if (i % 64 === 0) peak = Math.max(peak, process.memoryUsage().rss)
            yield chunk
          }
          yield encoder.encode("\n{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"id\":1}\n")
        })()
      ).pipe(codec.decodeNdjson, Stream.runCollect)
      peak = Math.max(peak, process.memoryUsage().rss)
      expect(results).toHaveLength(2)
      expect(results[0]).toMatchObject({ _tag: "Failure", failure: { _tag: "FrameTooLarge", limit: 4 * 1024 * 1024 } })
      expect(results[1]).toMatchObject({ _tag: "Success", success: { method: "ping", id: 1 } })
      // 1 GiB went through; memory grew by far less than that (the limit is 4 MiB, allow for GC slack)
      expect(peak - before).toBeLessThan(128 * 1024 * 1024)
    }).pipe(Effect.runPromise))

  it("FM-30 arbitrary chunkings decode identically", () => {
    const line = fc.oneof(
      fc.jsonValue().map((v) => JSON.stringify(v)),
      fc.string({ unit: "binary", maxLength: 40 }).map((s) => s.replace(/\n/g, "")),
      fc.constant("")
    )
    fc.assert(
      fc.property(
        fc.array(line, { maxLength: 12 }),
        fc.boolean(),
        fc.array(fc.nat(), { maxLength: 30 }),
        fc.integer({ min: 1, max: 200 }),
        (lines, terminated, cuts, limit) => {
          const bytes = encoder.encode(lines.join("\n") + (terminated ? "\n" : ""))
          const whole = render(feed(new NdjsonFramer(limit), [bytes]))
          const split = render(feed(new NdjsonFramer(limit), splitAt(bytes, cuts)))
          const bytewise = render(feed(new NdjsonFramer(limit), splitAt(bytes, [...bytes.keys()])))
          expect(split).toEqual(whole)
          expect(bytewise).toEqual(whole)
        }
      ),
      { numRuns: 300 }
    )
  })

  it("FM-30 a multi-byte character split between chunks is reassembled", () => {
    const codec = JsonRpcCodec.make()
    const bytes = encoder.encode("{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"params\":{\"s\":\"é😀中\"}}\n")
    const decoder = codec.ndjsonDecoder()
    const out: Array<JsonRpcCodec.Decoded> = []
    for (const chunk of splitAt(bytes, [...bytes.keys()])) decoder.push(chunk, (d) => out.push(d))
    expect(out).toHaveLength(1)
    expect(out[0]).toMatchObject({ _tag: "Success", success: { params: { s: "é😀中" } } })
  })

  it("rejects an invalid limit", () => {
    expect(() => new NdjsonFramer(0)).toThrow(RangeError)
  })
})
