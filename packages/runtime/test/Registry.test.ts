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
      expect(yield* w.registry.unregister("session/gone")).toBe(false) // no table: nothing to remove, at once
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

  it.effect("FM-39 a crashed registry tier is rebuilt from what runs: every live route resolves again, dead ones do not; lookups meanwhile fail typed at the call timeout or are answered", () =>
    quiet(Effect.gen(function*() {
      const w = yield* world
      yield* w.registry.register({ key: "session/ad-hoc", target: "s1" }) // no source: dies with the table
      expect(yield* w.runtime.crash("tier/registry", "FM-39")).toBe(true)
      yield* settle
      // t = 0: the tier is down for the root's backoff (2 s); a lookup now waits at most the call timeout (1 s)
      const early = yield* Effect.forkChild(Effect.flip(w.registry.lookup("server/s1")))
      // meanwhile a server crashes, a transport is stopped, a new server starts, and a transport crashes and is
      // restarted by its tier after 50 ms (the last two register again; their registers time out at 1 s)
      expect(yield* w.runtime.crash("servers/s2", "FM-38")).toBe(true)
      expect(yield* w.transports.stopTransport("t2")).toBe(true)
      yield* w.servers.startServer("s3", Effect.never)
      expect(yield* w.runtime.crash("transports/t1", "FM-40")).toBe(true)
      yield* settle
      yield* TestClock.adjust("50 millis")
      yield* settle
      yield* TestClock.adjust("949 millis")
      yield* settle
      expect(early.pollUnsafe()).toBeUndefined()
      yield* TestClock.adjust("1 millis")
      expect(yield* Fiber.join(early)).toMatchObject({ _tag: "RegistryTimeout", mode: "FM-06", operation: "lookup", timeoutMs: 1_000 })
      // t = 1.5 s: these lookups are answered when the tier is back (t = 2 s), within their own timeout
      yield* TestClock.adjust("500 millis")
      yield* until("t1 restarted", Effect.sync(() => w.starts.t1 === 2))
      const live = yield* Effect.forkChild(w.registry.lookup("server/s1"))
      const dead = yield* Effect.forkChild(w.registry.lookup("server/s2"))
      yield* TestClock.adjust("499 millis")
      yield* settle
      expect(live.pollUnsafe()).toBeUndefined()
      yield* TestClock.adjust("1 millis")
      expect(yield* Fiber.join(live)).toEqual(Option.some("s1"))
      expect(yield* Fiber.join(dead)).toEqual(Option.none())
      expect((yield* w.registry.routes).map((r) => r.key).sort()).toEqual(["server/s1", "server/s3", "transport/t1", "transport/t3"])
      for (const key of ["server/s3", "transport/t1", "transport/t3"]) expect(Option.isSome(yield* w.registry.lookup(key))).toBe(true)
      for (const key of ["server/s2", "transport/t2", "session/ad-hoc"]) expect(yield* w.registry.lookup(key)).toEqual(Option.none())
      // the rebuilt table serves as before
      yield* w.registry.register({ key: "session/new", target: "s3" })
      expect(yield* w.registry.lookup("session/new")).toEqual(Option.some("s3"))
    }).pipe(Effect.provide(runtimeLayer({ root: { backoff: Schedule.spaced("2 seconds") } })))))

  it.effect("FM-39 a route whose owner ends while the table is rebuilding stays dead, even if its source listed it a moment before; an owner that comes back is routed again", () =>
    quiet(Effect.gen(function*() {
      const w = yield* world
      // a source that answers 200 ms into the rebuild with what was live when it was asked
      yield* w.registry.addSource("slow", Effect.as(Effect.sleep("200 millis"), [
        { key: "session/gone", target: "s1" },
        { key: "session/live", target: "s1" },
        { key: "session/back", target: "s2" }
      ]))
      expect(yield* w.runtime.crash("registry/routes", "FM-39")).toBe(true)
      yield* settle
      yield* TestClock.adjust("50 millis") // the table restarts; its rebuild waits for the slow source
      yield* settle
      yield* TestClock.adjust("100 millis")
      const waiting = yield* Effect.forkChild(w.registry.lookup("session/live"))
      // two owners end while the table is down; one of them comes back at once
      expect(yield* w.registry.unregister("session/gone")).toBe(false)
      expect(yield* w.registry.unregister("session/back")).toBe(false)
      const back = yield* Effect.forkChild(w.registry.register({ key: "session/back", target: "s3" }))
      yield* settle
      expect(waiting.pollUnsafe()).toBeUndefined()
      yield* TestClock.adjust("100 millis")
      expect(yield* Fiber.join(waiting)).toEqual(Option.some("s1"))
      yield* Fiber.join(back)
      expect(yield* w.registry.lookup("session/gone")).toEqual(Option.none())
      expect(yield* w.registry.lookup("session/back")).toEqual(Option.some("s3"))
      expect(yield* w.registry.lookup("server/s1")).toEqual(Option.some("s1"))
      expect((yield* w.registry.routes).length).toBe(7)
    }).pipe(Effect.provide(runtimeLayer()))))
})
