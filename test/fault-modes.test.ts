/**
 * The fault domains, end to end, on the testing kit (`@effect-mcp/testing`): a real `McpServer` and a real
 * `McpClient` over a faulty in-memory network, one network failure mode of the FMEA at a time, on the
 * TestClock, checking the scenario invariants (every call answered or a typed error, no duplicate side
 * effect, nothing left behind, recovery within the backoff bounds); crashes contained to their fault domain;
 * and every typed error and every fault naming a catalogued mode.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import fc from "fast-check"
import { McpClient } from "@effect-mcp/client"
import { FailureMode } from "@effect-mcp/faults"
import { CodecError, JsonRpcCodec } from "@effect-mcp/jsonrpc"
import { McpServer, Tool } from "@effect-mcp/server"
import { BlastRadius, Fault, FaultSchedule, Ledger, Property, Scenario } from "@effect-mcp/testing"

/** One instance of every typed error the packages export, to check each names a catalogued mode. */
const errors = [
  new CodecError.FrameTooLarge({ limit: 1, received: 2 }),
  new CodecError.MalformedJson({ detail: "x" }),
  new CodecError.TruncatedFrame({ received: 1 }),
  new CodecError.InvalidMessage({ id: null, detail: "x" }),
  new CodecError.InvalidUtf8({ size: 1 }),
  new CodecError.UnencodableMessage({ detail: "x" })
]

describe("typed errors and the FMEA catalogue", () => {
  it.each(errors.map((e) => [e._tag, e] as const))("%s carries a catalogued mode that lists it", (_tag, error) => {
    const mode = FailureMode.modeOf(error)
    expect(mode, `${error._tag} has mode ${error.mode}`).toBeDefined()
    expect(mode!.errors).toContain(error._tag)
    expect(mode!.status).not.toBe("planned")
  })

  it("every error class the catalogue names as mitigated is one of the exported errors checked here or elsewhere", () => {
    const known = new Set<string>(errors.map((e) => e._tag))
    const codecModes = ["FM-01", "FM-08", "FM-30", "FM-47", "FM-50"] as const
    for (const id of codecModes) {
      for (const tag of FailureMode.get(id).errors) expect(known.has(tag), `${id}: ${tag}`).toBe(true)
    }
  })

  it("every fault of the testing kit carries the catalogued mode it is named after", () => {
    const faults = [
      [Fault.highLatency("100 millis"), "High latency (100ms→1s)"],
      [Fault.packetLoss(0.01), "Packet loss (1%)"],
      [Fault.packetLoss(0.1), "Packet loss (10%)"],
      [Fault.duplicatePackets(0.5), "Duplicate packets"],
      [Fault.outOfOrderPackets(0.5, "1 second"), "Out-of-order packets"],
      [Fault.messageCorruption(0.5), "Message corruption (bit flip)"],
      [Fault.messageFragmentation(0.5), "Message fragmentation"],
      [Fault.connectionHang(0, "1 second"), "Connection hang"],
      [Fault.networkPartition("toServer"), "Network partition split-brain"],
      [Fault.disconnect(0, "abrupt"), "Transport process crash"],
      [Fault.connectionLoss(0, "1 second"), "Persistent connection loss"]
    ] as const
    for (const [fault, name] of faults) {
      expect(FailureMode.isModeId(fault.mode), fault._tag).toBe(true)
      expect(FailureMode.get(fault.mode as FailureMode.ModeId).name).toBe(name)
    }
  })
})

// ---- network failure modes, one at a time, as properties ------------------------------------------------

const shop = Effect.gen(function*() {
  const ledger = yield* Ledger.make()
  const server = yield* McpServer.make({
    info: { name: "shop", version: "1" },
    tools: [
      Tool.make("echo", { input: Schema.Struct({ text: Schema.String }), handler: ({ text }) => Effect.succeed(text) }),
      Tool.make("charge", {
        input: Schema.Struct({ orderId: Schema.String }),
        handler: ({ orderId }) => Effect.as(Effect.andThen(Effect.sleep("20 millis"), ledger.record(orderId)), `charged ${orderId}`)
      })
    ]
  })
  return { ledger, server }
})

const retry = Schedule.exponential("100 millis").pipe(Schedule.jittered, Schedule.upTo({ times: 5 }))

/**
 * Three echoes and, with side effects, keyed charges (2, or `charges`: o-1 at 300 ms, o-2 at 1.5 s, then one
 * every 100 ms from 2.1 s). Every call expects its own answer: the echo of its text, `charged <its order>`.
 */
const workload = (sideEffects: boolean, charges = 2) => [
  Scenario.callTool("echo", { text: "a" }, { at: "100 millis", expectText: "a" }),
  Scenario.callTool("echo", { text: "b" }, { at: "700 millis", expectText: "b" }),
  Scenario.callTool("echo", { text: "c" }, { at: "2 seconds", expectText: "c" }),
  ...(sideEffects
    ? Array.from({ length: charges }, (_, i) => {
      const orderId = `o-${i + 1}`
      const at = i === 0 ? 300 : i === 1 ? 1_500 : 2_100 + 100 * (i - 2)
      return Scenario.callTool("charge", { orderId }, { idempotencyKey: orderId, retry, at: `${at} millis`, expectText: `charged ${orderId}` })
    })
    : [])
]

/** A fault of one mode, with its parameters drawn by fast-check. */
const modes: ReadonlyArray<{
  /** The test's name, written out so the FMEA catalogue can cite it. */
  readonly name: string
  readonly mode: string
  readonly fault: fc.Arbitrary<FaultSchedule.FaultSchedule>
  readonly reconnect?: boolean
  /** Corruption can rewrite an idempotency key (JSON-RPC has no checksum): no side effects in that workload. */
  readonly sideEffects?: boolean
  /** Runs (of 6) in which the fault must have acted (default 3): the property is not vacuous. */
  readonly acted?: number
  /** Keyed charges in the workload (default 2). */
  readonly charges?: number
  /** Runs (of 6) in which the answer of a keyed call must have been lost, so that only a retry could get it. */
  readonly keyedAnswersLost?: number
  /** Invariants this mode cannot keep (reported, not checked). */
  readonly allow?: ReadonlyArray<Scenario.Invariant>
  /** Calls started from this time (ms; after the fault's window) must be answered: the connection survived it. */
  readonly servingFrom?: number
}> = [
  { name: "FM-24 high latency: every call answered or a typed error, no duplicate side effect, nothing left behind", mode: "FM-24 high latency", fault: fc.tuple(fc.integer({ min: 100, max: 1_000 }), fc.integer({ min: 0, max: 500 })).map(([ms, jitter]) => [Fault.highLatency(ms, { jitter })]) },
  { name: "FM-22 packet loss (≤ 5%): every call answered or a typed error, no duplicate side effect, nothing left behind", mode: "FM-22 packet loss (≤ 5%)", fault: fc.integer({ min: 1, max: 5 }).map((p) => [Fault.packetLoss(p / 100)]), acted: 1, charges: 30, keyedAnswersLost: 1 },
  { name: "FM-23 packet loss (10%): every call answered or a typed error, no duplicate side effect, nothing left behind", mode: "FM-23 packet loss (10%)", fault: fc.integer({ min: 6, max: 15 }).map((p) => [Fault.packetLoss(p / 100)]) },
  { name: "FM-26 duplicate packets: every call answered or a typed error, no duplicate side effect, nothing left behind", mode: "FM-26 duplicate packets", fault: fc.integer({ min: 0, max: 200 }).map((gap) => [Fault.duplicatePackets(0.5, { gap })]) },
  { name: "FM-27 out-of-order packets: every call answered or a typed error, no duplicate side effect, nothing left behind", mode: "FM-27 out-of-order packets", fault: fc.integer({ min: 1, max: 1_000 }).map((hold) => [Fault.outOfOrderPackets(0.5, hold)]) },
  { name: "FM-30 message fragmentation: every call answered or a typed error, no duplicate side effect, nothing left behind", mode: "FM-30 message fragmentation", fault: fc.integer({ min: 2, max: 32 }).map((maxPieces) => [Fault.messageFragmentation(1, { maxPieces, gap: "20 millis" })]) },
  { name: "FM-31 connection hang: every call answered or a typed error, no duplicate side effect, nothing left behind", mode: "FM-31 connection hang", fault: fc.tuple(fc.integer({ min: 0, max: 2_000 }), fc.integer({ min: 500, max: 20_000 }), fc.constantFrom<Fault.Direction>("toServer", "toClient", "both")).map(([from, length, direction]) => [Fault.connectionHang(from, from + length, direction)]) },
  { name: "FM-13 one-way network partition: every call answered or a typed error, no duplicate side effect, nothing left behind", mode: "FM-13 one-way network partition", fault: fc.tuple(fc.integer({ min: 0, max: 2_000 }), fc.integer({ min: 500, max: 20_000 }), fc.constantFrom<Fault.Direction>("toServer", "toClient")).map(([from, length, direction]) => [Fault.networkPartition(direction, { from, until: from + length })]) },
  { name: "FM-12 message corruption: every call answered or a typed error, no duplicate side effect, nothing left behind", mode: "FM-12 message corruption", fault: fc.integer({ min: 1, max: 8 }).map((bits) => [Fault.messageCorruption(0.3, { bits, from: "50 millis", until: "1500 millis" })]), sideEffects: false, allow: ["WrongAnswer"], servingFrom: 1_500 },
  { name: "FM-40 transport crash (clean or abrupt): every call answered or a typed error, no duplicate side effect, nothing left behind", mode: "FM-40 transport crash (clean or abrupt)", fault: fc.tuple(fc.integer({ min: 0, max: 2_500 }), fc.constantFrom<"clean" | "abrupt">("clean", "abrupt")).map(([at, kind]) => [Fault.disconnect(at, kind)]), reconnect: true },
  { name: "FM-25 persistent connection loss: every call answered or a typed error, no duplicate side effect, nothing left behind", mode: "FM-25 persistent connection loss", fault: fc.tuple(fc.integer({ min: 0, max: 2_500 }), fc.integer({ min: 0, max: 30_000 })).map(([at, length]) => [Fault.connectionLoss(at, length)]), reconnect: true }
]

describe("network failure modes on the testing kit (properties on the TestClock)", () => {
  for (const { acted = 3, allow, charges, fault, keyedAnswersLost = 0, name, reconnect = false, servingFrom, sideEffects = true } of modes) {
    it.effect(name, () => {
      let faulted = 0
      let keyedLost = 0
      return Property.check(
        fc.tuple(fault, FaultSchedule.seedArbitrary),
        ([schedule, seed]) =>
          Effect.gen(function*() {
            const { ledger, server } = yield* shop
            const report = yield* Scenario.run({
              server,
              client: Scenario.mcpClient({ requestTimeout: "5 seconds" }),
              workload: workload(sideEffects, charges),
              schedule,
              seed,
              ledger,
              ...(reconnect ? { reconnect: {} } : {}),
              ...(allow === undefined ? {} : { allow })
            })
            if (Object.keys(report.faults).length > 0) faulted++
            if (report.keyedAnswersLost > 0) keyedLost++
            yield* Scenario.assert(report)
            if (servingFrom !== undefined) {
              // the connection kept serving through the fault: calls made after it are answered, not failed
              const late = report.outcomes.filter((o) => !("startedAt" in o) || o.startedAt >= servingFrom)
              expect(late.length, Scenario.format(report)).toBeGreaterThan(0)
              for (const o of late) expect(o, Scenario.format(report)).toMatchObject({ _tag: "Answered" })
            }
          }),
        { numRuns: 6, seed: 2_026 }
      ).pipe(
        // the mode really acted in most runs (and, where asked, lost answers that only a retry could get)
        Effect.andThen(Effect.sync(() => {
          expect(faulted).toBeGreaterThanOrEqual(acted)
          expect(keyedLost).toBeGreaterThanOrEqual(keyedAnswersLost)
        })),
        Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)
      )
    })
  }

  it.effect("FM-25 after an outage the client is back within one backoff bound of the network", () =>
    Effect.gen(function*() {
      const { ledger, server } = yield* shop
      const report = yield* Scenario.run({
        server,
        client: Scenario.mcpClient({ requestTimeout: "5 seconds" }),
        workload: [...workload(true), Scenario.callTool("echo", { text: "after" }, { at: "1 minute" })],
        schedule: [Fault.connectionLoss("1 second", "20 seconds")],
        seed: 25,
        ledger,
        reconnect: { policy: { base: "500 millis", cap: "8 seconds" } }
      })
      yield* Scenario.assert(report)
      const [recovery] = report.recoveries
      expect(recovery!.recoveredAt! - recovery!.networkBackAt).toBeLessThanOrEqual(8_000)
      expect(report.outcomes.at(-1)).toMatchObject({ _tag: "Answered", label: "tools/call echo" })
    }).pipe(Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))
})

// ---- fault domains: crashes stay where they happen ------------------------------------------------------

describe("fault domains (blast radius)", () => {
  it.effect("FM-40 a crashed connection takes down its own session only", () =>
    Effect.gen(function*() {
      const { server } = yield* shop
      const sessions = yield* BlastRadius.sessions(server, { count: 4, seed: 1 })
      for (const kind of ["abrupt", "clean"] as const) {
        const i = kind === "abrupt" ? 1 : 2
        const report = yield* BlastRadius.measure({ components: sessions.probes, crash: sessions.crash(i, kind) })
        yield* BlastRadius.assertContained(report, [`session-${i}`], { expectAffected: [`session-${i}`] })
      }
    }).pipe(Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))

  it.effect("FM-49 a handler that dies or hangs affects its own tool only, on every session", () =>
    Effect.gen(function*() {
      const points = yield* BlastRadius.crashPoints
      const server = yield* McpServer.make({
        info: { name: "s", version: "1" },
        tools: [
          Tool.make("echo", { input: Schema.Struct({ text: Schema.String }), handler: ({ text }) => Effect.succeed(text) }),
          Tool.make("db", { input: Schema.Struct({}), handler: () => Effect.as(points.point("db"), "rows") })
        ]
      })
      const sessions = yield* BlastRadius.sessions(server, { count: 2, seed: 1, client: { requestTimeout: "2 seconds" } })
      const [a, b] = sessions.clients
      const components = {
        "db on session 0": a!.callTool("db"),
        "echo on session 0": a!.callTool("echo", { text: "x" }),
        "echo on session 1": b!.callTool("echo", { text: "y" }),
        "session 1": sessions.probes["session-1"]!
      }
      for (const kind of ["die", "hang"] as const) {
        yield* points.disarm("db")
        const report = yield* BlastRadius.measure({ components, crash: points.arm("db", kind) })
        yield* BlastRadius.assertContained(report, ["db on session 0"], { expectAffected: ["db on session 0"] })
      }
    }).pipe(Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))
})

// ---- what the kit found ---------------------------------------------------------------------------------
// Two bugs the kit found in other packages, now fixed; each test fails if its fix is undone.

describe("issues found by the kit, fixed", () => {
  it.effect("FM-21 McpClient.defaultRetry gives up after 5 retries", () =>
    Effect.gen(function*() {
      const server = yield* McpServer.make({
        info: { name: "s", version: "1" },
        tools: [Tool.make("stuck", { input: Schema.Struct({}), timeout: "1 hour", handler: () => Effect.never })]
      })
      const report = yield* Scenario.run({
        server,
        client: Scenario.mcpClient({ requestTimeout: "1 second" }),
        workload: [Scenario.callTool("stuck", {}, { retry: McpClient.defaultRetry })],
        seed: 1
      })
      // 6 attempts of 1 s and at most 5 delays of ≤ 5 s: a typed timeout well within the bound
      expect(report.errors).toEqual({ RequestTimedOut: 1 })
      yield* Scenario.assert(report)
    }).pipe(Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))

  it.effect("FM-26 a duplicated request that arrives while the original is in flight does not fail the original call", () =>
    Effect.gen(function*() {
      const { ledger, server } = yield* shop
      const report = yield* Scenario.run({
        server,
        client: Scenario.mcpClient(),
        workload: [1, 2, 3].map((i) => Scenario.callTool("charge", { orderId: `o-${i}` }, { idempotencyKey: `o-${i}`, at: `${i * 100} millis` })),
        schedule: [Fault.duplicatePackets(1, { direction: "toServer", gap: "1 millis" })],
        seed: 1,
        ledger
      })
      yield* Scenario.assert(report)
      // the engine refuses the copy with -32600 *and the original's id*, so the client takes it as the answer
      expect(report.answered).toBe(3)
    }).pipe(Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))
})
