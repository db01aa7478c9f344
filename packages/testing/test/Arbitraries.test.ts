import { describe, expect, it } from "@effect/vitest"
import * as Arbitrary from "effect/Arbitrary"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import fc from "fast-check"
import { Protocol } from "@effect-mcp/core"
import { ErrorCode, JsonRpc, JsonRpcCodec } from "@effect-mcp/jsonrpc"
import { McpSchema, Revision } from "@effect-mcp/schema"
import { McpServer } from "@effect-mcp/server"
import * as Fault from "../src/Fault.ts"
import * as FaultSchedule from "../src/FaultSchedule.ts"
import * as FaultyTransport from "../src/FaultyTransport.ts"
import * as HostileFrame from "../src/HostileFrame.ts"
import * as McpArbitrary from "../src/McpArbitrary.ts"
import * as Property from "../src/Property.ts"
import * as Scenario from "../src/Scenario.ts"
import { codec } from "./helpers.ts"

const decodes = (g: McpArbitrary.Generated) =>
  g.kind === "result"
    ? McpSchema.decodeResult(g.revision, g.method, g.from, g.value)
    : McpSchema.decodeMessage(g.revision, g.method, g.from, g.value)

describe("McpArbitrary", () => {
  it("every method of every revision generates wire values its schema accepts and the codec classifies", () => {
    const wire = JsonRpcCodec.make()
    for (const revision of Revision.all) {
      for (const m of McpArbitrary.methods(revision)) {
        for (const value of fc.sample(McpArbitrary.message(revision, m.method, m.from), { numRuns: 3, seed: 1 })) {
          expect(Result.isSuccess(McpSchema.decodeMessage(revision, m.method, m.from, value)), `${revision} ${m.method}`).toBe(true)
          const classified = wire.decodeText(JSON.stringify(value))
          expect(Result.isSuccess(classified), `${revision} ${m.method}`).toBe(true)
          expect((value as { method: string }).method).toBe(m.method)
          expect("id" in (value as object)).toBe(m.kind === "request")
        }
      }
    }
  })

  it("results and mixed streams decode with their revision's schema; methods a revision lacks are refused", () => {
    const values = fc.sample(McpArbitrary.any({ results: true }), { numRuns: 200, seed: 7 })
    expect(new Set(values.map((g) => g.revision)).size).toBe(Revision.all.length)
    expect(values.some((g) => g.kind === "result")).toBe(true)
    for (const g of values) expect(Result.isSuccess(decodes(g)), `${g.revision} ${g.kind} ${g.method}`).toBe(true)
    // the same seed gives the same values
    expect(fc.sample(McpArbitrary.any(), { numRuns: 20, seed: 3 })).toEqual(fc.sample(McpArbitrary.any(), { numRuns: 20, seed: 3 }))
    expect(() => McpArbitrary.message("2024-11-05", "server/discover", "client")).toThrow(RangeError)
  })

  it.effect.prop(
    "Effect arbitraries for it.effect.prop: a 2025-11-25 tools/call request",
    [McpArbitrary.effectMessage("2025-11-25", "tools/call", "client")],
    ([request]) =>
      Effect.sync(() => {
        expect(request).toMatchObject({ jsonrpc: "2.0", method: "tools/call" })
        expect(Result.isSuccess(McpSchema.decodeMessage("2025-11-25", "tools/call", "client", request))).toBe(true)
      }),
    { arbitrary: { runs: 20 } }
  )

  it.effect("an MCP server answers every schema-valid client request of every revision exactly once, under faults", () =>
    Effect.gen(function*() {
      // long-lived by design: they answer when a task ends or a subscription closes
      const longLived = new Set(["tasks/result", "subscriptions/listen"])
      const request = McpArbitrary.any({ kind: "request", from: "client" }).filter((g) => !longLived.has(g.method))
      yield* Property.check(
        fc.tuple(fc.array(request, { minLength: 1, maxLength: 8 }), FaultSchedule.arbitrary({ tags: ["HighLatency", "MessageFragmentation", "OutOfOrderPackets"], maxDelayMs: 200 })),
        ([requests, schedule]) =>
          Effect.gen(function*() {
            const server = yield* McpServer.make({ info: { name: "s", version: "1" } })
            const revision = requests[0]!.revision
            const report = yield* Scenario.run({
              server,
              client: Scenario.engineClient({ initialize: Revision.era(revision) === "stateful" ? revision : false, defaultTimeout: "30 seconds" }),
              workload: requests.map((g, i) => {
                const { params } = g.value as { readonly params?: Record<string, unknown> }
                return Scenario.request(g.method, params, { label: `${g.revision} ${g.method}`, at: `${i * 10} millis` })
              }),
              schedule,
              seed: 1,
              answerWithin: "1 minute"
            })
            expect(report.errors.RequestTimedOut ?? 0).toBe(0)
            yield* Scenario.assert(report)
          }),
        { numRuns: 20, seed: 11 }
      )
    }).pipe(Effect.provide(codec)))
})

describe("HostileFrame", () => {
  const limit = 512
  const wire = JsonRpcCodec.make({ maxFrameBytes: limit })
  const decodeAll = (bytes: Uint8Array) => {
    const out: Array<JsonRpcCodec.Decoded> = []
    const decoder = wire.ndjsonDecoder({ allowBatch: true })
    decoder.push(bytes, (d) => out.push(d))
    decoder.end((d) => out.push(d))
    return out
  }

  it("every hostile frame decodes as labelled (typed error with its mode, valid message, or nothing)", () => {
    fc.assert(
      fc.property(HostileFrame.any({ maxFrameBytes: limit }), (frame) => {
        const out = decodeAll(frame.bytes)
        if (frame.kind === "Blank") return out.length === 0
        expect(out, frame.description).toHaveLength(1)
        const [d] = out
        if (frame.kind === "Valid") {
          expect(Result.isSuccess(d!), frame.description).toBe(true)
        } else {
          expect(Result.isFailure(d!) && d.failure._tag, frame.description).toBe(frame.kind)
          expect(Result.isFailure(d!) && d.failure.mode).toBe(frame.mode)
        }
        return true
      }),
      { numRuns: 300, seed: 5 }
    )
    // every kind is generated
    const kinds = new Set(fc.sample(HostileFrame.any({ maxFrameBytes: limit }), { numRuns: 300, seed: 1 }).map((f) => f.kind))
    expect([...kinds].sort()).toEqual(["Blank", "FrameTooLarge", "InvalidMessage", "InvalidUtf8", "MalformedJson", "Valid"])
  })

  it.effect("a server fed hostile frames over a fragmenting link answers each as the codec says and keeps serving", () =>
    Property.check(fc.array(HostileFrame.any({ maxFrameBytes: limit }), { minLength: 1, maxLength: 10 }), (frames) =>
      Effect.gen(function*() {
        const link = yield* FaultyTransport.pair([Fault.messageFragmentation(0.5, { maxPieces: 6 })], { seed: 2 })
        const diagnostics: Array<string> = []
        yield* Protocol.make(link.server, {
          handler: (method) => (method === "ping" ? () => Effect.succeed({}) : undefined),
          onDiagnostic: (d) => Effect.sync(() => void diagnostics.push(d._tag))
        })
        yield* Effect.forkScoped(Stream.runDrain(link.client.incoming))
        for (const frame of frames) yield* link.inject("toServer", frame.bytes)
        // then a well-formed request with an id no hostile frame uses: the connection still serves
        yield* link.inject("toServer", JSON.stringify(JsonRpc.request("still-alive?", "ping")) + "\n")
        const answers = () =>
          Effect.map(link.trace, (trace) => trace.flatMap((e) => (e._tag === "Sent" && e.way === "toClient" ? FaultyTransport.messagesOf(e) : [])))
        while (!(yield* answers()).some((m) => "id" in m && m.id === "still-alive?")) yield* Effect.yieldNow
        expect((yield* answers()).find((m) => "id" in m && m.id === "still-alive?")).toEqual(JsonRpc.success("still-alive?", {}))
        // one typed diagnostic per undecodable frame, in order, with the kind the arbitrary promised
        const expected = frames.filter((f) => f.mode !== undefined).map((f) => f.kind)
        expect(diagnostics.filter((d) => d !== "UnknownResponseId")).toEqual(expected)
        // error answers carry the codec's codes
        for (const m of yield* answers()) {
          if ("error" in m) expect([ErrorCode.ParseError, ErrorCode.InvalidRequest, ErrorCode.MethodNotFound]).toContain(m.error.code)
        }
        expect(({} as Record<string, unknown>).polluted).toBeUndefined()
      }).pipe(Effect.provide(JsonRpcCodec.JsonRpcCodec.layerWith({ maxFrameBytes: limit }))), { numRuns: 30, seed: 8 }))

  it.effect("schedule arbitraries stay within their bounds and only use the kinds asked for", () =>
    Effect.sync(() => {
      const schedules = fc.sample(
        FaultSchedule.arbitrary({ tags: ["PacketLoss", "ConnectionHang", "Disconnect"], maxFaults: 4, horizonMs: 1_000, maxProbability: 0.2, maxOutageMs: 300 }),
        { numRuns: 200, seed: 4 }
      )
      const tags = new Set<string>()
      for (const schedule of schedules) {
        expect(schedule.length).toBeLessThanOrEqual(4)
        for (const f of schedule) {
          tags.add(f._tag)
          if (f._tag === "PacketLoss") expect(f.probability).toBeLessThanOrEqual(0.2)
          if (f._tag === "ConnectionHang") expect(f.until - f.from).toBeLessThanOrEqual(300)
          if (f._tag === "Disconnect") expect(f.at).toBeLessThan(1_000)
        }
        // and they are valid data (the Schema accepts them, so they round-trip through JSON for replay)
        expect(FaultSchedule.FaultSchedule.make(JSON.parse(JSON.stringify(schedule)))).toEqual(schedule)
      }
      expect([...tags].sort()).toEqual(["ConnectionHang", "Disconnect", "PacketLoss"])
    }))

  it("Effect's own arbitrary of the fault Schema generates valid faults too", () => {
    const faults = Effect.runSync(Arbitrary.sampleEffect(Arbitrary.schema(Fault.Fault), { seed: 1, count: 50, size: 4 }))
    for (const f of faults) expect(Fault.tags).toContain(f._tag)
  })
})
