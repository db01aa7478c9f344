import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Metric from "effect/Metric"
import * as Result from "effect/Result"
import * as TestClock from "effect/testing/TestClock"
import fc from "fast-check"
import * as AdaptiveTimeout from "../src/AdaptiveTimeout.ts"
import { captureLogs, metricValue, onTestClock } from "./support.ts"

/** The documented bound, computed from scratch: nearest-rank percentile × factor, within [min, max]. */
const expectedBound = (
  p: { percentile: number; factor: number; min: number; max: number; window: number; minSamples: number },
  samples: ReadonlyArray<number>
): number => {
  const recent = samples.slice(-p.window)
  if (recent.length < p.minSamples) return p.max
  const sorted = [...recent].sort((a, b) => a - b)
  const rank = Math.ceil(p.percentile * sorted.length)
  const observed = sorted[Math.max(0, rank - 1)]!
  return Math.min(p.max, Math.max(p.min, Math.ceil(observed * p.factor)))
}

const policyArbitrary = fc
  .record({
    percentile: fc.constantFrom(0.5, 0.9, 0.95, 0.99, 1),
    factor: fc.constantFrom(1, 1.5, 2, 3),
    min: fc.integer({ min: 0, max: 100 }),
    span: fc.integer({ min: 1, max: 2_000 }),
    window: fc.integer({ min: 1, max: 30 }),
    minSamplesRatio: fc.double({ min: 0, max: 1, noNaN: true })
  })
  .map(({ minSamplesRatio, span, ...p }) => ({
    ...p,
    max: p.min + span,
    minSamples: Math.max(1, Math.ceil(minSamplesRatio * p.window))
  }))

describe("AdaptiveTimeout (FM-21, FM-24)", () => {
  it("FM-21 every call is bounded by percentile × factor of the recent window within [min, max] (max while warming up); a call past it is interrupted and recorded at the bound (property, TestClock)", async () => {
    await fc.assert(
      fc.asyncProperty(policyArbitrary, fc.array(fc.integer({ min: 0, max: 3_000 }), { minLength: 1, maxLength: 60 }), (policy, durations) =>
        onTestClock(Effect.gen(function*() {
          const checked = AdaptiveTimeout.validatePolicy(policy)
          expect(Result.isSuccess(checked)).toBe(true)
          const timer = yield* AdaptiveTimeout.make({ name: "prop", policy: Result.getOrThrow(checked) })
          const samples: Array<number> = []
          for (const planned of durations) {
            const bound = expectedBound(policy, samples)
            expect((yield* timer.bound("tool"))?.timeoutMs).toBe(bound)
            expect(bound).toBeGreaterThanOrEqual(policy.min)
            expect(bound).toBeLessThanOrEqual(policy.max)
            // a call that ends exactly at the bound would race its own timeout: keep clear of the tie
            const duration = planned === bound ? bound + 1 : planned
            let interrupted = false
            const call = Effect.sleep(duration).pipe(Effect.as("done"), Effect.onInterrupt(() => Effect.sync(() => (interrupted = true))))
            const fiber = yield* Effect.forkChild(Effect.exit(timer.run("tool", call)), { startImmediately: true })
            yield* TestClock.adjust(Math.min(duration, bound))
            const exit = yield* Fiber.join(fiber)
            if (duration < bound) {
              expect(exit).toStrictEqual(Exit.succeed("done"))
              samples.push(duration)
            } else {
              expect(interrupted).toBe(true)
              expect(Exit.isFailure(exit) && exit.cause.reasons[0]?._tag === "Fail" ? exit.cause.reasons[0].error : undefined).toMatchObject({
                _tag: "AdaptiveTimeoutExceeded",
                mode: "FM-21",
                key: "tool",
                timeoutMs: bound
              })
              samples.push(bound)
            }
          }
        }))
      ),
      { numRuns: 200 }
    )
  })

  it.effect("FM-21 the bound tightens around a fast tool, follows it when it slows down for good, and stops at max", () =>
    Effect.gen(function*() {
      const timer = yield* AdaptiveTimeout.make({
        name: "tools",
        policy: { percentile: 0.99, factor: 2, min: "50 millis", max: "10 seconds", window: 20, minSamples: 10 }
      })
      const call = (ms: number) =>
        Effect.gen(function*() {
          const fiber = yield* Effect.forkChild(Effect.exit(timer.run("search", Effect.sleep(ms))), { startImmediately: true })
          yield* TestClock.adjust(ms)
          return yield* Fiber.join(fiber)
        })
      expect(yield* timer.bound("search")).toMatchObject({ timeoutMs: 10_000, phase: "warmup" })
      for (let i = 0; i < 10; i++) yield* call(100 + i)
      expect(yield* timer.bound("search")).toMatchObject({ timeoutMs: 218, phase: "tracking", percentileMs: 109, samples: 10 })
      // a hung call is cut at 218 ms, not 10 s
      const hung = yield* Effect.forkChild(Effect.flip(timer.run("search", Effect.never)), { startImmediately: true })
      yield* TestClock.adjust("218 millis")
      expect(yield* Fiber.join(hung)).toMatchObject({ _tag: "AdaptiveTimeoutExceeded", timeoutMs: 218, percentileMs: 109, samples: 10 })
      expect(yield* timer.bound("search")).toMatchObject({ timeoutMs: 436 })
      // the tool now takes 3 s: each timeout is recorded at the bound, so the bound doubles until calls fit,
      // then settles at p99 × 2
      const bounds: Array<number> = []
      for (let i = 0; i < 6; i++) {
        yield* call(3_000)
        bounds.push((yield* timer.bound("search"))!.timeoutMs)
      }
      expect(bounds).toEqual([872, 1_744, 3_488, 6_000, 6_000, 6_000])
      // it hangs for good: the bound grows to max and stays there
      for (let i = 0; i < 3; i++) {
        const stuck = yield* Effect.forkChild(Effect.exit(timer.run("search", Effect.never)), { startImmediately: true })
        yield* TestClock.adjust("10 seconds")
        yield* Fiber.join(stuck)
      }
      expect(yield* timer.bound("search")).toMatchObject({ timeoutMs: 10_000, phase: "at-max" })
    }))

  it.effect("FM-24 the bound and the observed percentile are gauges; each change of phase is a log line", () => {
    const logs = captureLogs()
    return Effect.gen(function*() {
      const timer = yield* AdaptiveTimeout.make({ name: "obs", policy: { min: "1 second", max: "1 minute", minSamples: 2, window: 5 } })
      yield* timer.record("t", 10)
      yield* timer.record("t", 20)
      expect(yield* metricValue("mcp_adaptive_timeout_ms", { timer: "obs", key: "t" })).toBe(1_000)
      expect(yield* metricValue("mcp_latency_percentile_ms", { timer: "obs", key: "t" })).toBe(20)
      yield* timer.record("t", 5_000)
      expect(yield* metricValue("mcp_adaptive_timeout_ms", { timer: "obs", key: "t" })).toBe(10_000)
      expect(logs.lines.filter((l) => l.annotations.timer === "obs").map((l) => l.message)).toEqual([
        "Adaptive timeout of t (obs): warmup → at-min, bound 1000 ms",
        "Adaptive timeout of t (obs): at-min → tracking, bound 10000 ms"
      ])
      // a key with no policy is not bounded here
      const none = yield* AdaptiveTimeout.make({ name: "none", policy: () => undefined })
      expect(yield* none.bound("t")).toBeUndefined()
      expect(yield* none.run("t", Effect.succeed(1))).toBe(1)
    }).pipe(Effect.provideService(Metric.MetricRegistry, new Map()), Effect.provide(logs.layer))
  })

  it("policies are validated with every problem listed", () => {
    const checked = AdaptiveTimeout.validatePolicy({ percentile: 0, factor: 0.5, min: "2 seconds", max: "1 second", window: 5, minSamples: 10 })
    expect(Result.isFailure(checked) ? checked.failure.map((p) => p.path).sort() : []).toEqual(["factor", "percentile"])
    const crossField = AdaptiveTimeout.validatePolicy({ min: "2 seconds", max: "1 second", window: 5, minSamples: 10 })
    expect(Result.isFailure(crossField) ? crossField.failure.map((p) => p.path).sort() : []).toEqual(["min", "minSamples"])
  })
})
