import { describe, expect, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/testing/TestClock"
import fc from "fast-check"
import { McpServer, Tool } from "@effect-mcp/server"
import * as FaultSchedule from "../src/FaultSchedule.ts"
import * as Ledger from "../src/Ledger.ts"
import * as Property from "../src/Property.ts"
import * as Scenario from "../src/Scenario.ts"
import { codec } from "./helpers.ts"

describe("Property", () => {
  it.effect("each run gets a fresh TestClock and its own scope", () =>
    Effect.gen(function*() {
      yield* TestClock.adjust("1 hour")
      const starts: Array<number> = []
      yield* Property.check(fc.integer({ min: 0, max: 10 }), (n) =>
        Effect.gen(function*() {
          starts.push(yield* Clock.currentTimeMillis)
          yield* TestClock.adjust(`${n} seconds`)
          yield* Effect.addFinalizer(() => Effect.void)
        }), { numRuns: 5 })
      expect(starts).toEqual([0, 0, 0, 0, 0])
    }))

  it.effect("a falsified property fails with the counterexample and the seed to replay it", () =>
    Effect.gen(function*() {
      const failed = yield* Effect.flip(
        Property.check(fc.integer({ min: 0, max: 1000 }), (n) => Effect.succeed(n < 500), { numRuns: 200, seed: 42 })
      )
      expect(failed).toMatchObject({ _tag: "PropertyFailed", seed: 42, counterexample: "500" })
      expect(failed.message).toContain("Counterexample: [[500,")
      // a failing effect falsifies too, and the replay finds the same counterexample
      const replay = yield* Effect.flip(
        Property.check(fc.integer({ min: 0, max: 1000 }), (n) => (n < 500 ? Effect.void : Effect.fail("too big")), {
          numRuns: 200,
          seed: 42
        })
      )
      expect(replay.counterexample).toBe("500")
    }))
})

describe("effect-mcp under arbitrary faults (property)", () => {
  const world = Effect.gen(function*() {
    const ledger = yield* Ledger.make()
    const server = yield* McpServer.make({
      info: { name: "shop", version: "1" },
      tools: [
        Tool.make("echo", { input: Schema.Struct({ text: Schema.String }), handler: ({ text }) => Effect.succeed(text) }),
        Tool.make("charge", {
          input: Schema.Struct({ orderId: Schema.String }),
          handler: ({ orderId }) => Effect.as(Effect.andThen(Effect.sleep("20 millis"), ledger.record(orderId)), "ok")
        })
      ]
    })
    return { ledger, server }
  })
  // bounded: exponential from 100 ms, jittered, 5 retries (McpClient.defaultRetry never stops: see test/fault-modes.test.ts)
  const retry = Schedule.exponential("100 millis").pipe(Schedule.jittered, Schedule.upTo({ times: 5 }))
  const workload = [
    Scenario.callTool("echo", { text: "a" }),
    Scenario.callTool("charge", { orderId: "o-1" }, { idempotencyKey: "o-1", retry, at: "100 millis" }),
    Scenario.callTool("echo", { text: "b" }, { at: "500 millis" }),
    Scenario.callTool("charge", { orderId: "o-2" }, { idempotencyKey: "o-2", retry, at: "1 second" }),
    Scenario.callTool("charge", { orderId: "o-3" }, { idempotencyKey: "o-3", retry, at: "3 seconds" })
  ]

  it.effect("loss, latency, duplication, reordering, fragmentation, hangs and partitions: every invariant holds", () => {
    const seen = { runs: 0, faulted: 0, answered: 0, typedErrors: 0, sideEffects: 0 }
    return Property.check(
      fc.tuple(
        FaultSchedule.arbitrary({
          tags: ["HighLatency", "PacketLoss", "DuplicatePackets", "OutOfOrderPackets", "MessageFragmentation", "ConnectionHang", "NetworkPartition"],
          minFaults: 1,
          maxFaults: 3,
          horizonMs: 3_000
        }),
        FaultSchedule.seedArbitrary
      ),
      ([schedule, seed]) =>
        Effect.gen(function*() {
          const { ledger, server } = yield* world
          const report = yield* Scenario.run({
            server,
            client: Scenario.mcpClient({ requestTimeout: "5 seconds" }),
            workload,
            schedule,
            seed,
            ledger,
            reconnect: {},
            answerWithin: "2 minutes"
          })
          seen.runs++
          if (Object.keys(report.faults).length > 0) seen.faulted++
          seen.answered += report.answered
          seen.typedErrors += report.typedErrors
          seen.sideEffects += report.sideEffects
          if (process.env.SCENARIO_DEBUG) console.log(Scenario.format(report))
          yield* Scenario.assert(report)
        }),
      { numRuns: 15, seed: 20_260_728 }
    ).pipe(
      Effect.andThen(Effect.sync(() => {
        // not vacuous: faults acted in most runs, calls were answered and tools ran
        expect(seen.runs).toBe(15)
        expect(seen.faulted).toBeGreaterThan(7)
        expect(seen.answered).toBeGreaterThan(30)
        expect(seen.sideEffects).toBeGreaterThan(20)
      })),
      Effect.provide(codec)
    )
  })
})
