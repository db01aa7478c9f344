import { describe, expect, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as TestClock from "effect/testing/TestClock"
import { Drain } from "@effect-mcp/runtime"
import { quiet, runtimeLayer, settle, until, world } from "./support/world.ts"

describe("Drain", () => {
  it.effect("FM-40 drain stops accepting, lets in-flight work finish, then runs the close hooks last-first and reports", () =>
    quiet(Effect.gen(function*() {
      const drain = yield* Drain.Drain
      const log: Array<string> = []
      const release = yield* Deferred.make<void>()
      const work = yield* Effect.forkChild(drain.track(Effect.andThen(Deferred.await(release), Effect.sync(() => log.push("work done")))))
      yield* until("in flight", Effect.map(drain.inFlight, (n) => n === 1))
      yield* drain.onClose(Effect.sync(() => log.push("close store")))
      yield* drain.onClose(Effect.sync(() => log.push("close listener")))
      const report = yield* Effect.forkChild(drain.drain("10 seconds"))
      yield* until("draining", Effect.map(drain.phase, (p) => p === "draining"))
      expect(yield* Effect.flip(drain.track(Effect.void))).toMatchObject({ _tag: "Draining", mode: "FM-40", phase: "draining" })
      yield* TestClock.adjust("3 seconds")
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(work)
      expect(yield* Fiber.join(report)).toEqual({ finished: 1, interrupted: 0, timedOut: false, durationMs: 3_000 })
      expect(log).toEqual(["work done", "close listener", "close store"])
      expect(yield* drain.phase).toBe("closed")
      expect(yield* drain.drain()).toMatchObject({ finished: 1 }) // later calls join the one drain
    }).pipe(Effect.provide(Drain.Drain.layer()))))

  it.effect("work still in flight at the deadline is interrupted", () =>
    quiet(Effect.gen(function*() {
      const drain = yield* Drain.Drain
      const stuck = yield* Effect.forkChild(Effect.exit(drain.track(Effect.never)))
      yield* until("in flight", Effect.map(drain.inFlight, (n) => n === 1))
      const report = yield* Effect.forkChild(drain.drain("5 seconds"))
      yield* settle
      yield* TestClock.adjust("4999 millis")
      yield* settle
      expect(report.pollUnsafe()).toBeUndefined()
      yield* TestClock.adjust("1 millis")
      expect(yield* Fiber.join(report)).toEqual({ finished: 0, interrupted: 1, timedOut: true, durationMs: 5_000 })
      const exit = yield* Fiber.join(stuck)
      expect(exit._tag).toBe("Failure")
    }).pipe(Effect.provide(Drain.Drain.layer()))))

  it.effect("a coordinator that crashes mid-drain restarts and keeps the same deadline; no hook runs twice", () =>
    quiet(Effect.gen(function*() {
      const w = yield* world
      const drain = yield* Drain.Drain
      let hooks = 0
      yield* drain.onClose(Effect.sync(() => void hooks++))
      yield* Effect.forkChild(Effect.exit(drain.track(Effect.never)))
      yield* until("in flight", Effect.map(drain.inFlight, (n) => n === 1))
      const report = yield* Effect.forkChild(drain.drain("2 seconds"))
      yield* settle
      yield* TestClock.adjust("1 second")
      expect(yield* w.runtime.crash("infrastructure/drain/coordinator", "FM-40")).toBe(true)
      yield* settle
      yield* TestClock.adjust("50 millis") // the coordinator is back, 950 ms before the deadline
      yield* settle
      expect(report.pollUnsafe()).toBeUndefined()
      yield* TestClock.adjust("950 millis")
      expect(yield* Fiber.join(report)).toMatchObject({ interrupted: 1, timedOut: true, durationMs: 2_000 })
      expect(hooks).toBe(1)
    }).pipe(Effect.provide(runtimeLayer()))))
})
