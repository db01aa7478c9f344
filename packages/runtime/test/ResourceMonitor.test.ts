import { describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/testing/TestClock"
import * as fc from "fast-check"
import { Drain, RecoveryManager, ResourceMonitor } from "@effect-mcp/runtime"
import { quiet, settle, until } from "./support/world.ts"

/** A source the test drives: `set` changes what the next sample reads; `block` makes sampling hang. */
const driven = () => {
  const state: { sample: ResourceMonitor.Sample; blocked: boolean } = { sample: {}, blocked: false }
  const layer = Layer.succeed(ResourceMonitor.Source)({
    sample: Effect.suspend(() => state.blocked ? Effect.never : Effect.succeed(state.sample))
  })
  return { state, layer }
}

const GiB = 1024 ** 3
const heap = (ratio: number): ResourceMonitor.Sample => ({ heapUsedBytes: ratio * GiB, heapLimitBytes: GiB })

describe("ResourceMonitor", () => {
  it.effect("FM-03 heap at 70/85/95 % is elevated/high/critical, sampled on the schedule; levels are published on change", () =>
    quiet(Effect.gen(function*() {
      const monitor = yield* ResourceMonitor.ResourceMonitor
      const levels = yield* Effect.forkChild(Stream.runCollect(Stream.take(monitor.levels, 5)))
      for (const ratio of [0.5, 0.69, 0.7, 0.85, 0.95, 0.95, 0.3]) {
        src.state.sample = heap(ratio)
        yield* TestClock.adjust("1 second")
      }
      expect(yield* Fiber.join(levels)).toEqual(["normal", "elevated", "high", "critical", "normal"])
      expect((yield* monitor.current).signals).toMatchObject([{ name: "heap", mode: "FM-03", level: "normal" }])
    }).pipe(Effect.provide(ResourceMonitor.ResourceMonitor.layer().pipe(Layer.provide(src.layer))))))

  it.effect("hysteresis: a level falls only once its signal is 5 % (relative) below the threshold", () =>
    quiet(Effect.gen(function*() {
      const monitor = yield* ResourceMonitor.ResourceMonitor
      const seen: Array<ResourceMonitor.Level> = []
      for (const ratio of [0.86, 0.84, 0.81, 0.80, 0.70, 0.66]) {
        src2.state.sample = heap(ratio)
        seen.push((yield* monitor.sampleNow).level)
      }
      expect(seen).toEqual(["high", "high", "high", "elevated", "elevated", "normal"])
    }).pipe(Effect.provide(ResourceMonitor.ResourceMonitor.layer().pipe(Layer.provide(src2.layer))))))

  it.effect("admit sheds load: new sessions from high, everything at critical, with the mode of the resource that is short; CPU alone sheds nothing", () =>
    quiet(Effect.gen(function*() {
      const monitor = yield* ResourceMonitor.ResourceMonitor
      const shed = (kind: "session" | "request") => Effect.map(Effect.flip(monitor.admit(kind)), (e) => [e.mode, e.level, e.signal])
      src3.state.sample = { openFds: 870, fdLimit: 1000 }
      yield* monitor.sampleNow
      expect(yield* shed("session")).toEqual(["FM-32", "high", "fds"])
      yield* monitor.admit("request")
      src3.state.sample = { eventLoopDelayMs: 600 }
      yield* monitor.sampleNow
      expect(yield* shed("request")).toEqual(["FM-35", "critical", "event-loop-delay"])
      // a saturated CPU is reported (elevated) but sheds nothing: a busy Node process runs at 100 %
      src3.state.sample = { cpuUtilization: 0.99 }
      expect((yield* monitor.sampleNow).signals).toEqual([{ name: "cpu", mode: "FM-33", value: 0.99, limit: 1, level: "elevated" }])
      yield* monitor.admit("session")
      yield* monitor.admit("request")
      src3.state.sample = {}
      yield* monitor.reportQueue("inbox:session-1", 250, 256)
      yield* monitor.sampleNow
      expect(yield* shed("session")).toEqual(["FM-05", "critical", "queue:inbox:session-1"])
      yield* monitor.removeQueue("inbox:session-1")
      yield* monitor.sampleNow
      yield* monitor.admit("session")
    }).pipe(Effect.provide(ResourceMonitor.ResourceMonitor.layer().pipe(Layer.provide(src3.layer))))))

  it.effect("FM-33 sustained CPU throttling by the cgroup quota sheds (mean of the last readings, on the schedule); one throttled interval sheds nothing", () =>
    quiet(Effect.gen(function*() {
      const monitor = yield* ResourceMonitor.ResourceMonitor
      const levels: Array<ResourceMonitor.Level> = []
      // no quota at first (the sampler's first readings)
      yield* TestClock.adjust("1 second")
      // one interval throttled 90 % of the time: the mean over the 5-reading window is 0.18, normal
      srcThrottle.state.sample = { cpuThrottledRatio: 0.9 }
      yield* TestClock.adjust("1 second")
      levels.push((yield* monitor.current).level)
      srcThrottle.state.sample = { cpuThrottledRatio: 0 }
      for (let i = 0; i < 4; i++) yield* TestClock.adjust("1 second")
      levels.push((yield* monitor.current).level)
      yield* monitor.admit("session")
      // sustained: five intervals at 80 % throttled
      srcThrottle.state.sample = { cpuThrottledRatio: 0.8 }
      for (let i = 0; i < 5; i++) {
        yield* TestClock.adjust("1 second")
        levels.push((yield* monitor.current).level)
      }
      const refused = yield* Effect.flip(monitor.admit("request"))
      expect([refused.mode, refused.level, refused.signal]).toEqual(["FM-33", "critical", "cpu-throttled"])
      // the quota is lifted: the mean falls back over the window and work is admitted again
      srcThrottle.state.sample = { cpuThrottledRatio: 0 }
      for (let i = 0; i < 5; i++) yield* TestClock.adjust("1 second")
      yield* monitor.admit("session")
      expect(levels).toEqual(["normal", "normal", "normal", "elevated", "elevated", "high", "critical"])
    }).pipe(Effect.provide(ResourceMonitor.ResourceMonitor.layer().pipe(Layer.provide(srcThrottle.layer))))))

  it("parseThrottledUs reads cgroup v2 (µs) and v1 (ns) cpu.stat", () => {
    expect(ResourceMonitor.parseThrottledUs("usage_usec 10\nnr_periods 5\nnr_throttled 2\nthrottled_usec 1234\n")).toBe(1234)
    expect(ResourceMonitor.parseThrottledUs("nr_periods 5\nnr_throttled 2\nthrottled_time 5000000\n")).toBe(5000)
    expect(ResourceMonitor.parseThrottledUs("nr_periods 5\n")).toBeUndefined()
  })

  it.effect("a sampler that stops answering leaves a stale status, and a stale status admits everything (tier 5 never blocks serving)", () =>
    quiet(Effect.gen(function*() {
      const monitor = yield* ResourceMonitor.ResourceMonitor
      src4.state.sample = heap(0.99)
      yield* TestClock.adjust("1 second")
      yield* until("critical", Effect.map(monitor.current, (s) => s.level === "critical"))
      expect((yield* Effect.flip(monitor.admit("request")))._tag).toBe("LoadShed")
      src4.state.blocked = true
      yield* TestClock.adjust("3 seconds") // staleAfter: 3 intervals since the last reading (at 1 s)
      expect((yield* Effect.flip(monitor.admit("request")))._tag).toBe("LoadShed")
      yield* TestClock.adjust("1 millis")
      yield* monitor.admit("request")
      yield* monitor.admit("session")
    }).pipe(Effect.provide(ResourceMonitor.ResourceMonitor.layer().pipe(Layer.provide(src4.layer))))))

  it("levelOf is monotonic in the reading and never below the plain threshold's level (property)", () => {
    const order = ["normal", "elevated", "high", "critical"]
    fc.assert(
      fc.property(
        fc.double({ min: 0, max: 2, noNaN: true }),
        fc.double({ min: 0, max: 2, noNaN: true }),
        fc.constantFrom<ResourceMonitor.Level>("normal", "elevated", "high", "critical"),
        (a, b, previous) => {
          const [lo, hi] = a <= b ? [a, b] : [b, a]
          const t = [0.7, 0.85, 0.95] as const
          expect(order.indexOf(ResourceMonitor.levelOf(lo, t, previous, 0.05))).toBeLessThanOrEqual(order.indexOf(ResourceMonitor.levelOf(hi, t, previous, 0.05)))
          expect(order.indexOf(ResourceMonitor.levelOf(hi, t, previous, 0.05))).toBeGreaterThanOrEqual(order.indexOf(ResourceMonitor.levelOf(hi, t, "normal", 0)))
        }
      )
    )
  })

  it("reads the soft fd limit from /proc/self/limits", () => {
    const limits = "Limit                     Soft Limit           Hard Limit           Units\nMax open files            1024                 524288               files\n"
    expect(ResourceMonitor.parseFdLimit(limits)).toBe(1024)
    expect(ResourceMonitor.parseFdLimit("Max open files            unlimited            unlimited            files")).toBeUndefined()
    expect(ResourceMonitor.parseFdLimit("")).toBeUndefined()
  })

  it.live("FM-35 Node's source leaves out the event-loop delay of the interval the process started in (start-up is not load); the next intervals count", () =>
    Effect.gen(function*() {
      const source = yield* ResourceMonitor.Source
      const block = (ms: number) =>
        Effect.sync(() => {
          const until = performance.now() + ms
          while (performance.now() < until) { /* busy */ }
        })
      yield* Effect.sleep("50 millis") // the histogram's timer has run
      // start-up work: the event loop blocked for 150 ms in the first interval
      yield* block(150)
      yield* Effect.sleep("60 millis")
      expect((yield* source.sample).eventLoopDelayMs).toBeUndefined()
      yield* Effect.sleep("50 millis")
      yield* block(150)
      yield* Effect.sleep("60 millis")
      expect((yield* source.sample).eventLoopDelayMs).toBeGreaterThanOrEqual(100)
    }).pipe(Effect.provide(ResourceMonitor.Source.node())))

  it.live("Node's source reads heap, RSS, CPU, event-loop delay, and on Linux open fds against the soft limit", () =>
    Effect.gen(function*() {
      const source = yield* ResourceMonitor.Source
      yield* Effect.sleep("50 millis")
      yield* source.sample // resets the histogram
      yield* Effect.sleep("50 millis") // the histogram's timer runs again after a reset
      // block the event loop for 150 ms: the delay histogram must see it (p99 of this interval)
      yield* Effect.sync(() => {
        const until = performance.now() + 150
        while (performance.now() < until) { /* busy */ }
      })
      yield* Effect.sleep("60 millis")
      const sample = yield* source.sample
      expect(sample.eventLoopDelayMs).toBeGreaterThanOrEqual(100)
      expect(sample.heapUsedBytes).toBeGreaterThan(0)
      expect(sample.heapLimitBytes).toBeGreaterThan(sample.heapUsedBytes!)
      expect(sample.rssBytes).toBeGreaterThan(0)
      expect(sample.memoryLimitBytes).toBeGreaterThan(0)
      expect(sample.cpuUtilization).toBeGreaterThanOrEqual(0)
      if (fs.existsSync("/proc/self/fd")) {
        expect(sample.openFds).toBeGreaterThan(0)
        expect(sample.fdLimit).toBeGreaterThan(0)
      }
    }).pipe(Effect.provide(ResourceMonitor.Source.node())))
})

describe("RecoveryManager", () => {
  const recovery = (source: Layer.Layer<ResourceMonitor.Source>) => {
    const base = Layer.merge(ResourceMonitor.ResourceMonitor.layer().pipe(Layer.provide(source)), Drain.Drain.layer())
    return RecoveryManager.RecoveryManager.layer({ criticalGrace: "10 seconds" }).pipe(Layer.provideMerge(base))
  }

  it.effect("critical for less than the grace does nothing; critical for the whole grace drains the process", () =>
    quiet(Effect.gen(function*() {
      const drain = yield* Drain.Drain
      const manager = yield* RecoveryManager.RecoveryManager
      src5.state.sample = heap(0.99)
      yield* TestClock.adjust("1 second")
      yield* settle
      src5.state.sample = heap(0.5)
      yield* TestClock.adjust("9 seconds") // back to normal before the grace ran out
      yield* TestClock.adjust("5 seconds")
      expect(yield* drain.phase).toBe("accepting")
      src5.state.sample = heap(0.99)
      for (let i = 0; i < 11; i++) yield* TestClock.adjust("1 second")
      yield* until("drained", Effect.map(drain.phase, (p) => p === "closed"))
      expect(yield* manager.drainTriggered).toBe(true)
    }).pipe(Effect.provide(recovery(src5.layer)))))

  it.effect("FM-03 the grace is a sustained spell: a critical spell that ended does not drain when a later spell is critical at its deadline", () =>
    quiet(Effect.gen(function*() {
      const drain = yield* Drain.Drain
      const manager = yield* RecoveryManager.RecoveryManager
      // spell 1: critical from t = 1 s to t = 2 s (its grace would end at t = 11 s)
      src6.state.sample = heap(0.99)
      yield* TestClock.adjust("1 second")
      yield* settle
      src6.state.sample = heap(0.5)
      yield* TestClock.adjust("1 second")
      yield* settle
      yield* TestClock.adjust("3 seconds")
      // spell 2: critical from t = 6 s; at t = 11 s it has lasted 5 s, less than the grace
      src6.state.sample = heap(0.99)
      for (let i = 0; i < 8; i++) {
        yield* TestClock.adjust("1 second")
        yield* settle
      }
      expect(yield* drain.phase).toBe("accepting")
      expect(yield* manager.drainTriggered).toBe(false)
      // spell 2 lasts its whole grace (t = 16 s): now the process drains
      for (let i = 0; i < 4; i++) yield* TestClock.adjust("1 second")
      yield* until("drained", Effect.map(drain.phase, (p) => p === "closed"))
      expect(yield* manager.drainTriggered).toBe(true)
    }).pipe(Effect.provide(recovery(src6.layer)))))
})

const src = driven()
const src2 = driven()
const src3 = driven()
const src4 = driven()
const src5 = driven()
const src6 = driven()
const srcThrottle = driven()
