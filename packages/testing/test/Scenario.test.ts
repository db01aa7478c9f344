import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { JsonRpc } from "@effect-mcp/jsonrpc"
import { McpServer, Tool } from "@effect-mcp/server"
import * as Fault from "../src/Fault.ts"
import * as Ledger from "../src/Ledger.ts"
import * as Scenario from "../src/Scenario.ts"
import { codec } from "./helpers.ts"

const echo = Tool.make("echo", {
  input: Schema.Struct({ text: Schema.String }),
  handler: ({ text }) => Effect.succeed(text)
})

/** A tool with a side effect: each run records its order id in the ledger. */
const charge = (ledger: Ledger.Ledger) =>
  Tool.make("charge", {
    input: Schema.Struct({ orderId: Schema.String }),
    handler: ({ orderId }) => Effect.as(ledger.record(orderId), `charged ${orderId}`)
  })

const invariants = (report: Scenario.Report) => [...new Set(report.violations.map((v) => v.invariant))].sort()

/** A raw server that reads frames and answers each request `times` times (0: never). */
const rawServer = (times: number): Scenario.Server => ({
  serve: (transport) =>
    Stream.runForEach(transport.incoming, (decoded) => {
      if (Result.isFailure(decoded)) return Effect.void
      const m = decoded.success as JsonRpc.Message
      if (!("method" in m && "id" in m)) return Effect.void
      return Effect.ignore(Effect.repeat(transport.send(JsonRpc.success(m.id, { ok: true })), { times: times - 1 })).pipe(
        Effect.when(Effect.succeed(times > 0))
      )
    }).pipe(Effect.ignore)
})

describe("Scenario", () => {
  it.effect("a healthy server and client on a perfect network: every call answered, every invariant holds", () =>
    Effect.gen(function*() {
      const server = yield* McpServer.make({ info: { name: "s", version: "1" }, tools: [echo] })
      // without a client, the runner connects an McpClient
      const report = yield* Scenario.run({
        server,
        workload: Array.from({ length: 10 }, (_, i) => Scenario.callTool("echo", { text: `hi ${i}` }, { at: `${i * 100} millis` })),
        seed: 1
      })
      expect(Scenario.format(report)).toContain("all invariants hold")
      expect(report).toMatchObject({ sent: 10, answered: 10, typedErrors: 0, lost: 0, defects: 0, notSent: 0, connections: 1 })
      expect(report.leaks).toEqual({ fibers: 0, sessions: 0, probes: {} })
      expect(report.violations).toEqual([])
      yield* Scenario.assert(report)
    }).pipe(Effect.provide(codec)))

  it.effect("the checker catches a server that answers twice (DuplicateAnswer)", () =>
    Effect.gen(function*() {
      const report = yield* Scenario.run({
        server: rawServer(2),
        client: Scenario.engineClient({ initialize: false }),
        workload: [Scenario.request("anything"), Scenario.request("anything")],
        seed: 1
      })
      // the client got its answers (the extra ones were dropped as unknown ids), but the wire shows the bug
      expect(report.answered).toBe(2)
      expect(report.duplicateAnswers).toBe(2)
      expect(invariants(report)).toEqual(["DuplicateAnswer"])
      expect(yield* Effect.flip(Scenario.assert(report))).toMatchObject({ _tag: "InvariantViolated" })
    }).pipe(Effect.provide(codec)))

  it.effect("the checker catches an answer that is not the call's own (WrongAnswer, FM-51); its own answer passes", () =>
    Effect.gen(function*() {
      const crossed = Tool.make("crossed", {
        input: Schema.Struct({ text: Schema.String }),
        handler: () => Effect.succeed("another call's answer")
      })
      const server = yield* McpServer.make({ info: { name: "s", version: "1" }, tools: [echo, crossed] })
      const report = yield* Scenario.run({
        server,
        workload: [
          Scenario.callTool("echo", { text: "mine" }, { expectText: "mine" }),
          Scenario.callTool("crossed", { text: "mine" }, { expectText: "mine", at: "100 millis" })
        ],
        seed: 1
      })
      expect(report).toMatchObject({ sent: 2, answered: 1, wrongAnswers: 1 })
      expect(report.outcomes).toContainEqual(expect.objectContaining({ _tag: "WrongAnswer", label: "tools/call crossed" }))
      expect(report.violations).toEqual([
        expect.objectContaining({ invariant: "WrongAnswer", mode: "FM-51", detail: expect.stringContaining("another call's answer") })
      ])
      expect(yield* Effect.flip(Scenario.assert(report))).toMatchObject({ _tag: "InvariantViolated" })
    }).pipe(Effect.provide(codec)))

  it.effect("the checker catches a peer that leaves a frame it could not decode unanswered (MalformedUnanswered, FM-08)", () =>
    Effect.gen(function*() {
      const report = yield* Scenario.run({
        server: rawServer(1),
        client: Scenario.engineClient({ initialize: false, defaultTimeout: "1 second" }),
        workload: [1, 2, 3].map((i) => Scenario.request("anything", {}, { at: `${i * 100} millis` })),
        // every request reaches the server with 8 bits flipped: none decodes, and this server answers none
        schedule: [Fault.messageCorruption(1, { bits: 8, direction: "toServer" })],
        seed: 1
      })
      expect(invariants(report)).toContain("MalformedUnanswered")
      expect(report.violations.find((v) => v.invariant === "MalformedUnanswered")).toMatchObject({
        mode: "FM-08",
        detail: expect.stringContaining("could not decode")
      })
    }).pipe(Effect.provide(codec)))

  it.effect("answers of keyed calls lost by the network are counted (keyedAnswersLost); the keyed retry does not run the side effect again", () =>
    Effect.gen(function*() {
      const ledger = yield* Ledger.make()
      const server = yield* McpServer.make({ info: { name: "s", version: "1" }, tools: [charge(ledger)] })
      const report = yield* Scenario.run({
        server,
        client: Scenario.mcpClient({ requestTimeout: "1 second" }),
        workload: [
          Scenario.callTool("charge", { orderId: "o-1" }, {
            idempotencyKey: "o-1",
            retry: Schedule.spaced("1 second").pipe(Schedule.upTo({ times: 5 })),
            expectText: "charged o-1",
            at: "300 millis"
          })
        ],
        // every answer from 200 ms to 2.5 s is lost: the first attempt charges, its answer never arrives
        schedule: [Fault.networkPartition("toClient", { from: "200 millis", until: "2500 millis" })],
        seed: 1,
        ledger
      })
      expect(report.keyedAnswersLost).toBeGreaterThanOrEqual(1)
      expect(report).toMatchObject({ answered: 1, sideEffects: 1, duplicatedSideEffects: 0 })
      yield* Scenario.assert(report)
    }).pipe(Effect.provide(codec)))

  it.effect("the checker catches a server that never answers: the call is lost and the request unanswered", () =>
    Effect.gen(function*() {
      const report = yield* Scenario.run({
        server: rawServer(0),
        client: Scenario.engineClient({ initialize: false, defaultTimeout: "10 minutes" }),
        workload: [Scenario.request("anything")],
        answerWithin: "30 seconds",
        seed: 1
      })
      expect(report).toMatchObject({ sent: 1, answered: 0, lost: 1, unanswered: 1 })
      expect(invariants(report)).toEqual(["Lost", "Unanswered"])
      // a client that times out first turns the silence into a typed error and cancels: no invariant breaks
      const timely = yield* Scenario.run({
        server: rawServer(0),
        client: Scenario.engineClient({ initialize: false, defaultTimeout: "5 seconds" }),
        workload: [Scenario.request("anything")],
        answerWithin: "30 seconds",
        seed: 1
      })
      expect(timely).toMatchObject({ sent: 1, typedErrors: 1, errors: { RequestTimedOut: 1 }, lost: 0, unanswered: 0 })
      expect(timely.violations).toEqual([])
    }).pipe(Effect.provide(codec)))

  it.effect("FM-10 under duplicated frames a side effect runs twice without an idempotency key, once with one", () =>
    Effect.gen(function*() {
      const run = (keyed: boolean) =>
        Effect.gen(function*() {
          const ledger = yield* Ledger.make()
          const server = yield* McpServer.make({ info: { name: "pay", version: "1" }, tools: [charge(ledger)] })
          return yield* Scenario.run({
            server,
            client: Scenario.mcpClient(),
            workload: Array.from({ length: 5 }, (_, i) =>
              Scenario.callTool("charge", { orderId: `order-${i}` }, { at: `${i * 100} millis`, ...(keyed ? { idempotencyKey: `order-${i}` } : {}) })),
            schedule: [Fault.duplicatePackets(1, { direction: "toServer", gap: "50 millis" })],
            ledger,
            seed: 3
          })
        })
      const unkeyed = yield* run(false)
      expect(unkeyed.duplicatedSideEffects).toBe(5)
      expect(invariants(unkeyed)).toEqual(["DuplicateSideEffect"])
      const keyed = yield* run(true)
      expect(keyed).toMatchObject({ sideEffects: 5, duplicatedSideEffects: 0, answered: 5 })
      expect(keyed.faults["FM-26 DuplicatePackets"]).toBeGreaterThanOrEqual(5)
      expect(keyed.violations).toEqual([])
    }).pipe(Effect.provide(codec)))

  it.effect("the checker catches fibers and sessions left behind, and probes that do not read 0", () =>
    Effect.gen(function*() {
      const server = yield* McpServer.make({ info: { name: "s", version: "1" }, tools: [echo] })
      const leaksAFiber: Scenario.Server = {
        serve: (transport) => Effect.andThen(Effect.forkDetach(Effect.never), server.serve(transport))
      }
      const fibers = yield* Scenario.run({
        server: leaksAFiber,
        client: Scenario.mcpClient(),
        workload: [Scenario.callTool("echo", { text: "x" })],
        seed: 1
      })
      expect(fibers.leaks.fibers).toBe(1)
      expect(invariants(fibers)).toEqual(["LeakedFibers"])

      const neverReturns: Scenario.Server = { serve: (transport) => Effect.andThen(server.serve(transport), Effect.never) }
      const sessions = yield* Scenario.run({
        server: neverReturns,
        client: Scenario.mcpClient(),
        workload: [Scenario.callTool("echo", { text: "x" })],
        probes: { "cache entries": Effect.succeed(3), "open files": Effect.succeed(0) },
        seed: 1
      })
      expect(sessions.leaks).toMatchObject({ sessions: 1, probes: { "cache entries": 3, "open files": 0 } })
      // the runner interrupts the stuck serve when it shuts the network down: a session leak, not a fiber leak
      expect(invariants(sessions)).toEqual(["LeakedProbe", "LeakedSessions"])
    }).pipe(Effect.provide(codec)))

  it.effect("the checker catches calls that die or fail untyped (Defect)", () =>
    Effect.gen(function*() {
      const server = yield* McpServer.make({ info: { name: "s", version: "1" }, tools: [echo] })
      const report = yield* Scenario.run({
        server,
        client: Scenario.mcpClient(),
        workload: [
          { label: "dies", run: () => Effect.die(new Error("boom")) },
          { label: "fails with a string", run: () => Effect.fail("nope") },
          Scenario.callTool("echo", { text: "fine" })
        ],
        seed: 1
      })
      expect(report).toMatchObject({ sent: 3, answered: 1, defects: 2 })
      expect(invariants(report)).toEqual(["Defect"])
      expect(report.violations.map((v) => v.detail).join("\n")).toContain("fails with a string: untyped failure: nope")
    }).pipe(Effect.provide(codec)))

  it.effect("FM-25 after a connection loss the client reconnects within the backoff bounds; a slower strategy is caught", () =>
    Effect.gen(function*() {
      const server = yield* McpServer.make({ info: { name: "s", version: "1" }, tools: [echo] })
      const options = {
        server,
        client: Scenario.mcpClient(),
        workload: [
          Scenario.callTool("echo", { text: "before" }),
          Scenario.callTool("echo", { text: "after" }, { at: "40 seconds" })
        ],
        schedule: [Fault.connectionLoss("1 second", "10 seconds")],
        seed: 5
      }
      const report = yield* Scenario.run({ ...options, reconnect: {} })
      expect(report.violations).toEqual([])
      expect(report.answered).toBe(2)
      expect(report.recoveries).toHaveLength(1)
      const recovery = report.recoveries[0]!
      expect(recovery.networkBackAt).toBe(11_000)
      expect(recovery.recoveredAt).toBeGreaterThanOrEqual(11_000)
      // refused while the network was down, then connected; every delay within its bound
      expect(recovery.attempts.filter((a) => !a.ok).length).toBeGreaterThan(0)
      expect(recovery.attempts.at(-1)!.ok).toBe(true)
      for (const a of recovery.attempts) expect(a.delayMs).toBeLessThanOrEqual(a.boundMs)
      expect(report.connections).toBe(2)

      const slow = yield* Scenario.run({
        ...options,
        reconnect: { delay: () => Effect.succeed(Duration.seconds(30)) }
      })
      expect(invariants(slow)).toContain("SlowRecovery")
    }).pipe(Effect.provide(codec)))

  it.effect("the runner itself cannot hang: a call that never ends, even uninterruptibly, is reported as Hung", () =>
    Effect.gen(function*() {
      const server = yield* McpServer.make({ info: { name: "s", version: "1" }, tools: [echo] })
      const report = yield* Scenario.run({
        server,
        workload: [{ label: "stuck", run: () => Effect.uninterruptible(Effect.never) }, Scenario.callTool("echo", { text: "x" })],
        answerWithin: "10 seconds",
        drainWithin: "5 seconds",
        seed: 1
      })
      expect(invariants(report)).toEqual(["Hung"])
      expect(report.answered).toBe(1)
    }).pipe(Effect.provide(codec)))

  it.effect("the same seed and schedule replay the same run", () =>
    Effect.gen(function*() {
      const run = Effect.gen(function*() {
        const server = yield* McpServer.make({ info: { name: "s", version: "1" }, tools: [echo] })
        return yield* Scenario.run({
          server,
          client: Scenario.mcpClient({ requestTimeout: "5 seconds" }),
          // jittered retries: Effect's Random is seeded by the scenario too
          workload: Array.from({ length: 20 }, (_, i) =>
            Scenario.callTool("echo", { text: `${i}` }, {
              at: `${100 + i * 50} millis`,
              retry: Schedule.exponential("200 millis").pipe(Schedule.jittered, Schedule.upTo({ times: 3 }))
            })),
          schedule: [
            Fault.highLatency("10 millis", { jitter: "90 millis", from: "100 millis" }),
            Fault.packetLoss(0.2, { from: "100 millis" }),
            Fault.outOfOrderPackets(0.3, "200 millis", { from: "100 millis" })
          ],
          seed: 99
        })
      })
      const a = yield* run
      const b = yield* run
      expect(b.outcomes).toEqual(a.outcomes)
      expect(b.faults).toEqual(a.faults)
      expect(Object.keys(a.faults).length).toBeGreaterThan(0)
      // some calls needed their retries (and so their jitter)
      expect(a.outcomes.some((o) => o._tag === "Answered" && o.endedAt - o.startedAt > 5_000)).toBe(true)
    }).pipe(Effect.provide(codec)))

  it.live("on a live clock the runner waits in real time instead of moving the TestClock", () =>
    Effect.gen(function*() {
      const server = yield* McpServer.make({ info: { name: "s", version: "1" }, tools: [echo] })
      const report = yield* Scenario.run({
        server,
        client: Scenario.mcpClient(),
        workload: [Scenario.callTool("echo", { text: "live" }), Scenario.callTool("echo", { text: "later" }, { at: "20 millis" })],
        schedule: [Fault.highLatency("5 millis")],
        seed: 1
      })
      expect(report).toMatchObject({ answered: 2, violations: [] })
      expect(report.elapsedMs).toBeGreaterThanOrEqual(20)
    }).pipe(Effect.provide(codec)))
})
