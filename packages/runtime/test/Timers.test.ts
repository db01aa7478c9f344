/**
 * FM-43 (timer process crash): every periodic fiber of the runtime (the registry's health check, the session
 * sweeper, the task reaper, the event-store and run-once janitors, the resource sampler, the health monitor)
 * is a supervised member on `Schedule.spaced`, so the TestClock drives it. Killed with a defect (fault
 * injection), each restarts alone after its tier's backoff and fires again on its schedule; a tick that fails
 * crashes only its own fiber, and the ticks after it still come.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/testing/TestClock"
import { Health, ResourceMonitor, SessionManager, type Tiers } from "@effect-mcp/runtime"
import { changed, generations, memberGenerations, quiet, runtimeLayer, settle, until, world } from "./support/world.ts"

/** The runtime's periodic members: tier and member id. */
const periodic: ReadonlyArray<readonly [Tiers.TierId, string]> = [
  ["registry", "health"],
  ["infrastructure", "sessions/sweeper"],
  ["infrastructure", "tasks/reaper"],
  ["infrastructure", "event-store/janitor"],
  ["infrastructure", "dedup/janitor"],
  ["observability", "resource-monitor/sampler"],
  ["observability", "health/monitor"]
]
/** The members that are not timers (a table holder, a coordinator, a watcher of a stream). */
const notPeriodic = ["registry/routes", "infrastructure/subscriptions/hub", "infrastructure/drain/coordinator", "observability/recovery/watcher"]

/** A resource source that counts its readings and throws (a failed reading) when `failing` says so. */
const countingSource = (failing: (reading: number) => boolean = () => false) => {
  const state = { readings: 0 }
  const source = ResourceMonitor.Source.fromSync(() => {
    state.readings++
    if (failing(state.readings)) throw new Error(`reading ${state.readings} failed`)
    return {}
  })
  return { state, source }
}

describe("FM-43 the runtime's timers are supervised fibers", () => {
  it.effect("FM-43 the list of periodic members is the tree's: every member is either a timer below or named as not one", () =>
    quiet(Effect.gen(function*() {
      const w = yield* world
      const fixed = (yield* w.runtime.tiers).filter((t) => t.id !== "servers" && t.id !== "transports") // tiers 3 and 4 hold workloads
      const members = fixed.flatMap((t) => t.members.map((m) => `${t.id}/${m.id}`)).sort()
      expect(members).toEqual([...periodic.map(([tier, id]) => `${tier}/${id}`), ...notPeriodic].sort())
    }).pipe(Effect.provide(runtimeLayer()))))

  for (const [tier, id] of periodic) {
    it.effect(`FM-43 ${tier}/${id}: killed with a defect between ticks, it restarts alone after 50 ms; no tier restarts`, () =>
      quiet(Effect.gen(function*() {
        const w = yield* world
        const before = yield* generations(w.runtime)
        const members = yield* memberGenerations(w.runtime, tier)
        yield* TestClock.adjust("10 millis") // between ticks: every timer is asleep
        expect(yield* w.runtime.crash(`${tier}/${id}`, "FM-43")).toBe(true)
        yield* settle
        yield* TestClock.adjust("49 millis")
        yield* settle
        expect((yield* memberGenerations(w.runtime, tier))[id]).toBe(members[id])
        yield* TestClock.adjust("1 millis")
        yield* until(`${id} restarted`, Effect.map(memberGenerations(w.runtime, tier), (m) => m[id] === members[id]! + 1))
        const after = yield* memberGenerations(w.runtime, tier)
        expect(Object.keys(after).filter((m) => after[m] !== members[m])).toEqual([id])
        expect(changed(before, yield* generations(w.runtime))).toEqual([])
        expect(w.starts).toEqual({ s1: 1, s2: 1, t1: 1, t2: 1, t3: 1 })
      }).pipe(Effect.provide(runtimeLayer()))))
  }

  it.effect("FM-43 the resource sampler, killed, restarts after 50 ms and samples every interval again (TestClock)", () => {
    const { source, state } = countingSource()
    return quiet(Effect.gen(function*() {
      const { runtime } = yield* world
      const monitor = yield* ResourceMonitor.ResourceMonitor
      expect(state.readings).toBe(1) // the first tick, at start
      yield* TestClock.adjust("500 millis")
      expect(yield* runtime.crash("observability/resource-monitor/sampler", "FM-43")).toBe(true)
      yield* settle
      yield* TestClock.adjust("600 millis") // t = 1.1 s: the tick of t = 1 s never came (the fiber was dead)...
      yield* until("restarted and sampled", Effect.sync(() => state.readings === 2)) // ...its restart at 550 ms sampled
      expect((yield* monitor.current).sampledAt).toBe(550)
      yield* TestClock.adjust("449 millis") // t = 1.549 s
      for (const t of [1_550, 2_550, 3_550]) {
        yield* settle
        const readings = state.readings
        yield* TestClock.adjust("1 millis")
        yield* until(`a sample at ${t} ms`, Effect.sync(() => state.readings === readings + 1))
        expect((yield* monitor.current).sampledAt).toBe(t)
        yield* TestClock.adjust("999 millis")
      }
    }).pipe(Effect.provide(runtimeLayer({ resourceSource: source }))))
  })

  it.effect("FM-43 a tick that fails does not stop future ticks: a failed reading crashes the sampler, which restarts and samples on schedule", () => {
    const { source, state } = countingSource((reading) => reading === 3)
    return quiet(Effect.gen(function*() {
      const w = yield* world
      const before = yield* generations(w.runtime)
      const monitor = yield* ResourceMonitor.ResourceMonitor
      yield* TestClock.adjust("1 second") // t = 1 s: reading 2
      yield* until("reading 2", Effect.sync(() => state.readings === 2))
      yield* TestClock.adjust("1 second") // t = 2 s: reading 3 fails, the sampler dies
      yield* until("reading 3", Effect.sync(() => state.readings === 3))
      yield* settle
      expect((yield* monitor.current).sampledAt).toBe(1_000)
      yield* TestClock.adjust("50 millis") // restarted after the backoff: reading 4 at once
      yield* until("reading 4", Effect.sync(() => state.readings === 4))
      expect((yield* monitor.current).sampledAt).toBe(2_050)
      for (const t of [3_050, 4_050, 5_050]) {
        yield* TestClock.adjust("1 second")
        yield* until(`a sample at ${t} ms`, Effect.map(monitor.current, (s) => s.sampledAt === t))
      }
      expect(state.readings).toBe(7)
      expect(changed(before, yield* generations(w.runtime))).toEqual([])
    }).pipe(Effect.provide(runtimeLayer({ resourceSource: source }))))
  })

  it.effect("FM-43 ticks that keep failing never stop the schedule for good: past the tier's intensity tier 5 replaces itself, and sampling resumes once readings recover", () => {
    const { source, state } = countingSource((reading) => reading >= 2 && reading <= 8)
    return quiet(Effect.gen(function*() {
      const w = yield* world
      const before = yield* generations(w.runtime)
      const monitor = yield* ResourceMonitor.ResourceMonitor
      const escalations: Array<string> = []
      yield* Effect.forkChild(Stream.runForEach(w.runtime.events, (e) => Effect.sync(() => void (e._tag === "Escalated" && escalations.push(e.supervisor)))))
      yield* settle
      // readings 2..8 fail: the sampler crashes and restarts (backoff 50, 100, 200, 400, 800 ms) until its
      // tier gives up; tier 5 replaces itself after its cooldown (1 s) and never escalates to the root
      for (let i = 0; i < 200 && state.readings < 10; i++) {
        yield* TestClock.adjust("50 millis")
        yield* settle
      }
      expect(state.readings).toBeGreaterThanOrEqual(10)
      expect(escalations).toEqual(["observability"]) // the tier gave up once, and replaced itself
      const resumed = (yield* monitor.current).sampledAt
      for (let n = 1; n <= 3; n++) {
        yield* TestClock.adjust("1 second")
        yield* until(`sampling every second again (${n})`, Effect.map(monitor.current, (s) => s.sampledAt === resumed + n * 1_000))
      }
      expect(changed(before, yield* generations(w.runtime))).toEqual([])
      expect(w.starts).toEqual({ s1: 1, s2: 1, t1: 1, t2: 1, t3: 1 })
    }).pipe(Effect.provide(runtimeLayer({ resourceSource: source }))))
  })

  it.effect("FM-43 the health monitor, killed, restarts after 50 ms and runs the readiness checks every interval again", () =>
    quiet(Effect.gen(function*() {
      const { runtime } = yield* world
      const health = yield* Health.Health
      let runs = 0
      yield* health.addReadinessCheck("probe", Effect.sync(() => ++runs > 0))
      expect(yield* runtime.crash("observability/health/monitor", "FM-43")).toBe(true)
      yield* settle
      yield* TestClock.adjust("49 millis")
      yield* settle
      expect(runs).toBe(0)
      yield* TestClock.adjust("1 millis")
      yield* until("first run after the restart", Effect.sync(() => runs === 1))
      for (let n = 2; n <= 4; n++) {
        yield* TestClock.adjust("4999 millis")
        yield* settle
        expect(runs).toBe(n - 1)
        yield* TestClock.adjust("1 millis")
        yield* until(`run ${n}`, Effect.sync(() => runs === n))
      }
    }).pipe(Effect.provide(runtimeLayer()))))

  it.effect("FM-43 the session sweeper, killed, restarts after 50 ms and still expires idle sessions on its schedule", () =>
    quiet(Effect.gen(function*() {
      const w = yield* world
      const sessions = yield* SessionManager.SessionManager
      const session = yield* sessions.open() // t = 0, idle from now on
      yield* TestClock.adjust("10 seconds")
      expect(yield* w.runtime.crash("infrastructure/sessions/sweeper", "FM-43")).toBe(true)
      yield* settle
      // restarted at 10.05 s, it sweeps at 10.05, 40.05 and 70.05 s: the session (idle 60 s at 60 s) goes at 70.05 s
      yield* TestClock.adjust("60049 millis")
      yield* settle
      expect((yield* sessions.get(session.id)).id).toBe(session.id)
      yield* TestClock.adjust("1 millis")
      yield* until("expired", Effect.map(Effect.exit(sessions.get(session.id)), (exit) => exit._tag === "Failure"))
      expect(yield* Effect.flip(sessions.get(session.id))).toMatchObject({ _tag: "SessionNotFound", mode: "FM-41" })
    }).pipe(Effect.provide(runtimeLayer({ infrastructure: { sessions: { idleTimeout: "1 minute", sweepInterval: "30 seconds" } } })))))

  it.effect("FM-43 the registry's health check, killed, reports unhealthy at once and healthy again at its first tick after the restart", () =>
    quiet(Effect.gen(function*() {
      const w = yield* world
      yield* until("healthy", w.registry.healthy)
      expect(yield* w.runtime.crash("registry/health", "FM-43")).toBe(true)
      yield* settle
      expect(yield* w.registry.healthy).toBe(false) // a stopped check reports nothing healthy
      yield* TestClock.adjust("49 millis")
      yield* settle
      expect(yield* w.registry.healthy).toBe(false)
      yield* TestClock.adjust("1 millis")
      yield* until("healthy again", w.registry.healthy)
    }).pipe(Effect.provide(runtimeLayer()))))
})
