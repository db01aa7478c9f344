import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as TestClock from "effect/testing/TestClock"
import { Registry } from "@effect-mcp/runtime"
import { quiet, runtimeLayer, settle, until, world } from "./support/world.ts"

describe("Registry", () => {
  it.effect("routes: register, lookup, unregister, list", () =>
    Effect.gen(function*() {
      const registry = yield* Registry.Registry
      yield* until("table up", Effect.map(Effect.option(registry.routes), Option.isSome))
      yield* registry.register({ key: "session/1", target: "s1" })
      expect(yield* registry.lookup("session/1")).toEqual(Option.some("s1"))
      expect(yield* registry.routes).toEqual([{ key: "session/1", target: "s1" }])
      expect(yield* registry.unregister("session/1")).toBe(true)
      expect(yield* registry.lookup("session/1")).toEqual(Option.none())
    }).pipe(Effect.provide(Registry.Registry.layer())))

  it.effect("FM-06 every call has a timeout: while the table is down, calls fail with RegistryTimeout after callTimeout; unregister never waits", () =>
    quiet(Effect.gen(function*() {
      const w = yield* world
      yield* w.runtime.crash("registry/routes", "FM-06")
      yield* settle
      const lookup = yield* Effect.forkChild(Effect.flip(w.registry.lookup("server/s1")))
      const register = yield* Effect.forkChild(Effect.flip(w.registry.register({ key: "session/x", target: "s1" })))
      expect(yield* w.registry.unregister("server/s2")).toBe(false) // no table: nothing to remove, at once
      yield* TestClock.adjust("999 millis")
      yield* settle
      expect(lookup.pollUnsafe()).toBeUndefined()
      yield* TestClock.adjust("1 millis")
      expect(yield* Fiber.join(lookup)).toMatchObject({ _tag: "RegistryTimeout", mode: "FM-06", operation: "lookup", timeoutMs: 1_000 })
      expect(yield* Fiber.join(register)).toMatchObject({ _tag: "RegistryTimeout", operation: "register" })
      // the table comes back after the tier's backoff (10 s here), rebuilt from the live servers and transports
      yield* TestClock.adjust("9 seconds")
      yield* until("table back", Effect.map(Effect.option(w.registry.lookup("server/s1")), (o) => Option.isSome(o) && Option.isSome(o.value)))
      expect((yield* w.registry.routes).map((r) => r.key).sort()).toEqual(["server/s1", "server/s2", "transport/t1", "transport/t2", "transport/t3"])
    }).pipe(Effect.provide(runtimeLayer({ registry: { policy: { backoff: Schedule.spaced("10 seconds") } } })))))

  it.effect("a source that does not answer is skipped after the call timeout: the rebuilt table has every other source's routes", () =>
    quiet(Effect.gen(function*() {
      const w = yield* world
      yield* w.registry.addSource("stuck", Effect.never)
      yield* w.registry.addSource("sessions", Effect.succeed([{ key: "session/a", target: "s1" }]))
      yield* w.runtime.crash("registry/routes")
      yield* settle
      yield* TestClock.adjust("50 millis") // the table restarts and waits up to 1 s for the stuck source
      yield* settle
      yield* TestClock.adjust("500 millis")
      const lookup = yield* Effect.forkChild(w.registry.lookup("session/a"))
      yield* TestClock.adjust("499 millis")
      yield* settle
      expect(lookup.pollUnsafe()).toBeUndefined()
      yield* TestClock.adjust("1 millis")
      expect(yield* Fiber.join(lookup)).toEqual(Option.some("s1"))
      expect((yield* w.registry.routes).length).toBe(6)
    }).pipe(Effect.provide(runtimeLayer()))))

  it.effect("the health check reports an unhealthy registry while its table is down", () =>
    quiet(Effect.gen(function*() {
      const w = yield* world
      yield* TestClock.adjust("5 seconds")
      yield* until("healthy", w.registry.healthy)
      yield* w.runtime.crash("registry/routes")
      yield* settle
      yield* TestClock.adjust("5 seconds") // next check: waits 1 s for the table, none comes
      yield* TestClock.adjust("1 second")
      yield* until("unhealthy", Effect.map(w.registry.healthy, (h) => !h))
      yield* TestClock.adjust("25 seconds") // the table is back (backoff 30 s), the next check sees it
      yield* TestClock.adjust("5 seconds")
      yield* until("healthy again", w.registry.healthy)
    }).pipe(Effect.provide(runtimeLayer({ registry: { policy: { backoff: Schedule.spaced("30 seconds") } } })))))
})
