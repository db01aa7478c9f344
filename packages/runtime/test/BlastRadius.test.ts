/**
 * Blast radius of every tier: crash one member, then the whole tier, under both root strategies, and check
 * what restarted, what kept running, and when it came back (on the TestClock, with the default backoff:
 * 50 ms before a first restart).
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as TestClock from "effect/testing/TestClock"
import * as fc from "fast-check"
import { Health, ResourceMonitor, Runtime, SessionManager, Tiers } from "@effect-mcp/runtime"
import { changed, generations, memberGenerations, quiet, runtimeLayer, settle, until, world } from "./support/world.ts"

const strategies: ReadonlyArray<Runtime.RootStrategy> = ["rest_for_one", "one_for_one"]

/** What a whole-tier crash restarts: OTP's rest_for_one restarts the tier and those after it. Tier 5 heals itself. */
const expectedRestarts = (strategy: Runtime.RootStrategy, tier: Tiers.TierId): ReadonlyArray<Tiers.TierId> =>
  tier === "observability" ? [] : strategy === "one_for_one" ? [tier] : Tiers.order.slice(Tiers.order.indexOf(tier))

describe("blast radius: one member crashes", () => {
  it.effect("tier 1: the routing table restarts alone after 50 ms; a call made meanwhile waits and succeeds; routes with a source are rebuilt", () =>
    quiet(Effect.gen(function*() {
      const w = yield* world
      yield* w.registry.register({ key: "session/ad-hoc", target: "s1" }) // no source: cannot be rebuilt
      const before = yield* generations(w.runtime)
      const members = yield* memberGenerations(w.runtime, "registry")
      expect(yield* w.runtime.crash("registry/routes", "FM-06")).toBe(true)
      yield* settle
      const lookup = yield* Effect.forkChild(w.registry.lookup("server/s1"))
      yield* TestClock.adjust("49 millis")
      yield* settle
      expect(lookup.pollUnsafe()).toBeUndefined() // waiting, not failed, not hung forever
      yield* TestClock.adjust("1 millis")
      expect(yield* Fiber.join(lookup)).toEqual(Option.some("s1"))
      expect(yield* w.registry.lookup("transport/t1")).toEqual(Option.some("t1"))
      expect(yield* w.registry.lookup("session/ad-hoc")).toEqual(Option.none())
      const after = yield* memberGenerations(w.runtime, "registry")
      expect(Object.keys(after).filter((id) => after[id] !== members[id])).toEqual(["routes"])
      expect(changed(before, yield* generations(w.runtime))).toEqual([])
      expect(w.starts).toEqual({ s1: 1, s2: 1, t1: 1, t2: 1, t3: 1 })
    }).pipe(Effect.provide(runtimeLayer()))))

  it.effect("tier 2: a crashed session sweeper restarts alone and no session is lost (FM-41)", () =>
    quiet(Effect.gen(function*() {
      const w = yield* world
      const sessions = yield* SessionManager.SessionManager
      const session = yield* sessions.open()
      const before = yield* generations(w.runtime)
      const members = yield* memberGenerations(w.runtime, "infrastructure")
      expect(yield* w.runtime.crash("infrastructure/sessions/sweeper", "FM-41")).toBe(true)
      yield* settle
      expect((yield* memberGenerations(w.runtime, "infrastructure"))["sessions/sweeper"]).toBe(members["sessions/sweeper"])
      yield* TestClock.adjust("50 millis")
      yield* until("sweeper restarted", Effect.map(memberGenerations(w.runtime, "infrastructure"), (m) => m["sessions/sweeper"] !== members["sessions/sweeper"]))
      const after = yield* memberGenerations(w.runtime, "infrastructure")
      expect(Object.keys(after).filter((id) => after[id] !== members[id])).toEqual(["sessions/sweeper"])
      expect((yield* sessions.get(session.id)).id).toBe(session.id)
      expect(changed(before, yield* generations(w.runtime))).toEqual([])
      expect(w.starts).toEqual({ s1: 1, s2: 1, t1: 1, t2: 1, t3: 1 })
    }).pipe(Effect.provide(runtimeLayer()))))

  it.effect("tier 3: a crashed server is temporary: it is gone, with its route; the other server runs on", () =>
    quiet(Effect.gen(function*() {
      const w = yield* world
      const before = yield* generations(w.runtime)
      expect(yield* w.runtime.crash("servers/s1", "FM-38")).toBe(true)
      yield* until("s1 gone", Effect.map(w.servers.servers, (s) => s.length === 1))
      expect((yield* w.servers.servers).map((s) => [s.id, s.running])).toEqual([["s2", true]])
      yield* until("route removed", Effect.map(w.registry.lookup("server/s1"), Option.isNone))
      yield* TestClock.adjust("10 seconds")
      yield* settle
      expect(w.starts).toEqual({ s1: 1, s2: 1, t1: 1, t2: 1, t3: 1 })
      expect(changed(before, yield* generations(w.runtime))).toEqual([])
    }).pipe(Effect.provide(runtimeLayer()))))

  it.effect("tier 4: a crashed transient transport restarts after 50 ms; the other transports never notice (FM-40)", () =>
    quiet(Effect.gen(function*() {
      const w = yield* world
      const before = yield* generations(w.runtime)
      expect(yield* w.runtime.crash("transports/t1", "FM-40")).toBe(true)
      yield* settle
      yield* TestClock.adjust("49 millis")
      yield* settle
      expect(w.starts.t1).toBe(1)
      yield* TestClock.adjust("1 millis")
      yield* until("t1 restarted", Effect.sync(() => w.starts.t1 === 2))
      expect(w.starts).toEqual({ s1: 1, s2: 1, t1: 2, t2: 1, t3: 1 })
      expect(yield* w.registry.lookup("transport/t1")).toEqual(Option.some("t1"))
      expect(changed(before, yield* generations(w.runtime))).toEqual([])
    }).pipe(Effect.provide(runtimeLayer()))))

  it.effect("tier 5: a crashed resource sampler restarts alone; admission keeps answering from the last status", () =>
    quiet(Effect.gen(function*() {
      const w = yield* world
      const monitor = yield* ResourceMonitor.ResourceMonitor
      const before = yield* generations(w.runtime)
      const members = yield* memberGenerations(w.runtime, "observability")
      expect(yield* w.runtime.crash("observability/resource-monitor/sampler", "FM-44")).toBe(true)
      yield* settle
      yield* monitor.admit("session")
      yield* TestClock.adjust("50 millis")
      yield* until("sampler restarted", Effect.map(memberGenerations(w.runtime, "observability"), (m) => m["resource-monitor/sampler"] !== members["resource-monitor/sampler"]))
      const after = yield* memberGenerations(w.runtime, "observability")
      expect(Object.keys(after).filter((id) => after[id] !== members[id])).toEqual(["resource-monitor/sampler"])
      expect(changed(before, yield* generations(w.runtime))).toEqual([])
      expect(w.starts).toEqual({ s1: 1, s2: 1, t1: 1, t2: 1, t3: 1 })
    }).pipe(Effect.provide(runtimeLayer()))))
})

describe("blast radius: a whole tier crashes", () => {
  for (const strategy of strategies) {
    for (const tier of Tiers.order) {
      const restarts = expectedRestarts(strategy, tier)
      it.effect(`${strategy}: tier ${tier} crashes → restarts [${restarts.join(", ")}]; the others' fibers keep going`, () =>
        quiet(Effect.gen(function*() {
          const w = yield* world
          const sessions = yield* SessionManager.SessionManager
          const session = yield* sessions.open()
          const before = yield* generations(w.runtime)
          expect(yield* w.runtime.crash(`tier/${tier}`)).toBe(true)
          yield* settle
          // before the root's backoff (50 ms) has passed, the restarted tiers are down and the others up
          const down = (yield* w.runtime.tiers).filter((t) => !t.running).map((t) => t.id)
          expect(down).toEqual(tier === "observability" ? ["observability"] : restarts)
          yield* TestClock.adjust("49 millis")
          yield* settle
          expect((yield* w.runtime.tiers).filter((t) => !t.running).map((t) => t.id)).toEqual(down)
          // 50 ms: the root restarts; tier 5 replaces itself after its own cooldown (1 s)
          yield* TestClock.adjust(tier === "observability" ? "951 millis" : "1 millis")
          yield* until("all tiers up", Effect.map(w.runtime.tiers, (ts) => ts.every((t) => t.running)))
          expect(changed(before, yield* generations(w.runtime))).toEqual(restarts)

          const serversRestarted = restarts.includes("servers")
          const transportsRestarted = restarts.includes("transports")
          yield* until("transports back", Effect.sync(() => w.starts.t1 === (transportsRestarted ? 2 : 1) && w.starts.t2 === w.starts.t1))
          yield* settle
          // servers are temporary: a restart of their tier ends them; transient transports come back, stdio does not
          expect(w.starts).toEqual({ s1: 1, s2: 1, t1: transportsRestarted ? 2 : 1, t2: transportsRestarted ? 2 : 1, t3: 1 })
          expect((yield* w.servers.servers).map((s) => s.id)).toEqual(serversRestarted ? [] : ["s1", "s2"])
          expect((yield* w.transports.transports).map((t) => t.id)).toEqual(transportsRestarted ? ["t1", "t2"] : ["t1", "t2", "t3"])
          // routes follow what runs, whoever restarted
          yield* until("routes rebuilt", Effect.map(w.registry.routes, (routes) => routes.length === (serversRestarted ? 0 : 2) + (transportsRestarted ? 2 : 3)))
          // session state lives outside the supervised sweeper: even a restart of tier 2 keeps it
          expect((yield* sessions.get(session.id)).id).toBe(session.id)
        }).pipe(Effect.provide(runtimeLayer({ rootStrategy: strategy })))))
    }
  }
})

describe("escalation", () => {
  for (const strategy of strategies) {
    it.effect(`${strategy}: a member past its tier's intensity makes the tier give up; the root restarts it (FM-02)`, () =>
      quiet(Effect.gen(function*() {
        const w = yield* world
        const before = yield* generations(w.runtime)
        yield* w.runtime.crash("registry/health")
        yield* settle
        yield* TestClock.adjust("50 millis") // first restart, after the tier's backoff
        yield* until("health restarted", Effect.map(memberGenerations(w.runtime, "registry"), (m) => m.health === 2))
        yield* w.runtime.crash("registry/health") // second within the period: intensity 1 exceeded
        yield* until("registry tier down", Effect.map(w.runtime.tiers, (ts) => !ts[0]!.running))
        yield* settle
        yield* TestClock.adjust("50 millis") // the root's backoff
        yield* until("all tiers up", Effect.map(w.runtime.tiers, (ts) => ts.every((t) => t.running)))
        expect(changed(before, yield* generations(w.runtime))).toEqual(expectedRestarts(strategy, "registry"))
      }).pipe(Effect.provide(runtimeLayer({ rootStrategy: strategy, registry: { policy: { intensity: 1, periodMs: 5_000 } } })))))
  }

  it.effect("past the root's intensity the runtime stops: await fails with SupervisorEscalated and liveness is down", () =>
    quiet(Effect.gen(function*() {
      const w = yield* world
      const health = yield* Health.Health
      expect((yield* health.liveness).status).toBe("up")
      yield* w.runtime.crash("tier/transports")
      yield* settle
      yield* TestClock.adjust("50 millis")
      yield* until("transports back", Effect.map(w.runtime.tiers, (ts) => ts[3]!.running))
      yield* w.runtime.crash("tier/transports")
      const error = yield* Effect.flip(w.runtime.await)
      expect(error).toMatchObject({ _tag: "SupervisorEscalated", supervisor: "root", childId: "transports", mode: "FM-02" })
      expect((yield* w.runtime.tiers).every((t) => !t.running)).toBe(true)
      expect((yield* health.liveness).status).toBe("down")
    }).pipe(Effect.provide(runtimeLayer({ root: { intensity: 1, periodMs: 10_000 } })))))

  it.effect("tier 5 flapping never spends the root's intensity: tiers 1–4 are never touched", () =>
    quiet(Effect.gen(function*() {
      const w = yield* world
      const before = yield* generations(w.runtime)
      for (let i = 0; i < 10; i++) {
        yield* until("observability up", Effect.map(w.runtime.tiers, (ts) => ts[4]!.running))
        expect(yield* w.runtime.crash("tier/observability", "FM-44")).toBe(true)
        yield* settle
        yield* TestClock.adjust("1 second")
      }
      yield* until("observability up", Effect.map(w.runtime.tiers, (ts) => ts[4]!.running))
      expect(changed(before, yield* generations(w.runtime))).toEqual([])
      expect(w.starts).toEqual({ s1: 1, s2: 1, t1: 1, t2: 1, t3: 1 })
      const awaiting = yield* Effect.forkChild(w.runtime.await)
      yield* settle
      expect(awaiting.pollUnsafe()).toBeUndefined()
    }).pipe(Effect.provide(runtimeLayer({ root: { intensity: 1, periodMs: 60_000 } })))))
})

/** The reference model of intensity/period: the index of the crash that makes the tier give up, if any. */
const escalatesAt = (times: ReadonlyArray<number>, intensity: number, periodMs: number): number | undefined => {
  let window: Array<number> = []
  for (let i = 0; i < times.length; i++) {
    const now = times[i]!
    window = [...window.filter((t) => now - t <= periodMs), now]
    if (window.length > intensity) return i
  }
  return undefined
}

describe("tier intensity and period (property, TestClock)", () => {
  it.effect("a tier gives up (and the root restarts it) at exactly the member crash the model predicts", () =>
    Effect.promise(() =>
      fc.assert(
        fc.asyncProperty(
          fc.array(fc.integer({ min: 1, max: 1_500 }), { minLength: 1, maxLength: 8 }),
          fc.integer({ min: 0, max: 3 }),
          fc.integer({ min: 100, max: 2_000 }),
          (gaps, intensity, periodMs) =>
            Effect.runPromise(quiet(Effect.scoped(Effect.gen(function*() {
              const w = yield* world
              const times = gaps.reduce<Array<number>>((acc, gap) => [...acc, (acc.at(-1) ?? 0) + gap], [])
              const expected = escalatesAt(times, intensity, periodMs)
              let escalated: number | undefined
              for (let i = 0; i < gaps.length && escalated === undefined; i++) {
                yield* TestClock.adjust(gaps[i]!)
                const health = (yield* memberGenerations(w.runtime, "registry")).health!
                yield* w.runtime.crash("registry/health")
                // either the member is back (restarted within the tier) or the root restarted the whole tier
                yield* until("restart or escalation", Effect.map(w.runtime.tiers, (ts) => {
                  const member = ts[0]!.members.find((m) => m.id === "health")
                  return ts[0]!.generation > 1 || (member !== undefined && member.running && member.generation > health)
                }))
                if ((yield* w.runtime.tiers)[0]!.generation > 1) escalated = i
              }
              expect(escalated).toBe(expected)
            }).pipe(Effect.provide(runtimeLayer({
              registry: { policy: { intensity, periodMs, backoff: Schedule.spaced("0 millis") } },
              root: { backoff: Schedule.spaced("0 millis") }
            }))))).pipe(Effect.provide(TestClock.layer())))
        ),
        { numRuns: 25 }
      )
    ))
})

describe("readiness follows the tree", () => {
  it.effect("a crashed tier makes readiness down until it is back; liveness stays up", () =>
    quiet(Effect.gen(function*() {
      const w = yield* world
      const health = yield* Health.Health
      expect((yield* health.readiness).status).toBe("up")
      yield* w.runtime.crash("tier/infrastructure")
      yield* settle
      const down = yield* health.readiness
      expect(down.status).toBe("down")
      expect(down.checks.find((c) => c.name === "tiers")).toMatchObject({ ok: false, detail: "down: infrastructure" })
      expect((yield* health.liveness).status).toBe("up")
      yield* TestClock.adjust("50 millis")
      yield* until("ready", Effect.map(health.readiness, (r) => r.status === "up"))
      const exit = yield* Effect.exit(w.runtime.crash("nothing/here"))
      expect(Exit.isSuccess(exit) && exit.value).toBe(false)
    }).pipe(Effect.provide(runtimeLayer()))))
})
