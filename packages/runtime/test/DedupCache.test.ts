import { describe, expect, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as TestClock from "effect/testing/TestClock"
import { DedupCache } from "@effect-mcp/runtime"
import { until } from "./support/world.ts"

describe("DedupCache", () => {
  it.effect("FM-10 runs once per key within the TTL; concurrent callers join the running one; failures are pinned too", () =>
    Effect.gen(function*() {
      const cache = yield* DedupCache.DedupCache
      let runs = 0
      const gate = yield* Deferred.make<void>()
      const call = cache.run("tools/call:charge:key-1", Effect.andThen(Deferred.await(gate), Effect.sync(() => ++runs)))
      const first = yield* Effect.forkChild(call)
      const second = yield* Effect.forkChild(call)
      yield* until("both waiting", Effect.map(cache.size, (n) => n === 1))
      yield* Deferred.succeed(gate, undefined)
      expect([yield* Fiber.join(first), yield* Fiber.join(second), yield* call]).toEqual([1, 1, 1])
      expect(yield* Effect.flip(cache.run("k2", Effect.fail("boom")))).toBe("boom")
      expect(yield* Effect.flip(cache.run("k2", Effect.succeed("other")))).toBe("boom")
      yield* TestClock.adjust("10 minutes")
      expect(yield* call).toBe(2) // expired: runs again
    }).pipe(Effect.provide(DedupCache.DedupCache.layer())))

  it.effect("an interrupted run pins nothing; the janitor drops expired keys; the capacity evicts the oldest", () =>
    Effect.gen(function*() {
      const cache = yield* DedupCache.DedupCache
      const interrupted = yield* Effect.forkChild(cache.run("k", Effect.never))
      yield* until("running", Effect.map(cache.size, (n) => n === 1))
      yield* Fiber.interrupt(interrupted)
      expect(yield* cache.run("k", Effect.succeed("ran"))).toBe("ran")
      yield* cache.run("a", Effect.succeed(1))
      yield* cache.run("b", Effect.succeed(2)) // capacity 2: k goes
      expect(yield* cache.run("k", Effect.succeed("again"))).toBe("again")
      yield* TestClock.adjust("2 minutes") // TTL 1 minute, janitor every minute
      expect(yield* cache.size).toBe(0)
    }).pipe(Effect.provide(DedupCache.DedupCache.layer({ capacity: 2, ttl: "1 minute" }))))
})
