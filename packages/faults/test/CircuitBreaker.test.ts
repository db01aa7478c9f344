import { describe, expect, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Metric from "effect/Metric"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/testing/TestClock"
import fc from "fast-check"
import * as CircuitBreaker from "../src/CircuitBreaker.ts"
import { captureLogs, metricValue, onTestClock } from "./support.ts"

// ---- a reference model of the documented behaviour -----------------------------------------------------

type Command =
  | { readonly _tag: "call"; readonly fail: boolean; readonly ms: number }
  | { readonly _tag: "advance"; readonly ms: number }
  | { readonly _tag: "reset" }
  | { readonly _tag: "forceOpen" }

type Observed =
  | { readonly result: "ok" | "failed" }
  | { readonly result: "rejected"; readonly state: "Open" | "HalfOpen" | "ForcedOpen"; readonly retryAfterMs: number }

/** The breaker as its documentation describes it, one call at a time. */
class Model {
  state: CircuitBreaker.StateTag = "Closed"
  now = 0
  openUntil = 0
  streak = 0
  succeeded = 0
  entries: Array<{ readonly t: number; readonly failed: boolean; readonly slow: boolean }> = []
  readonly consecutive: number | undefined
  readonly failureRate: number | undefined
  readonly slowMs: number | undefined
  readonly slowRate: number
  readonly size: number | undefined
  readonly windowMs: number | undefined
  readonly minimumCalls: number
  readonly openMs: number
  readonly probes: number

  constructor(policy: CircuitBreaker.Policy) {
    this.consecutive = policy.consecutiveFailures ?? policy.failures
    this.slowMs = policy.slowCallDuration as number | undefined
    this.failureRate = policy.failureRateThreshold ?? (this.consecutive === undefined && this.slowMs === undefined ? 0.5 : undefined)
    this.slowRate = policy.slowCallRateThreshold ?? 1
    this.windowMs = policy.window?.duration as number | undefined
    this.size = this.windowMs === undefined ? policy.window?.size ?? 100 : undefined
    this.minimumCalls = Math.min(policy.minimumCalls ?? 10, this.size ?? Infinity)
    this.openMs = policy.openDuration as number
    this.probes = policy.halfOpenProbes ?? 1
  }

  advance(ms: number) {
    this.now += ms
    if (this.state === "Open" && this.now >= this.openUntil) {
      this.state = "HalfOpen"
      this.succeeded = 0
    }
  }

  private open() {
    this.state = "Open"
    this.openUntil = this.now + this.openMs
  }

  private close() {
    this.state = "Closed"
    this.entries = []
    this.streak = 0
  }

  private window() {
    if (this.size !== undefined) return this.entries.slice(-this.size)
    const width = this.windowMs! / 10
    const current = Math.floor(this.now / width)
    return this.entries.filter((e) => Math.floor(e.t / width) > current - 10)
  }

  call(fail: boolean, ms: number): Observed {
    if (this.state === "ForcedOpen") {
      this.advance(ms)
      return { result: "rejected", state: "ForcedOpen", retryAfterMs: this.openMs }
    }
    if (this.state === "Open") {
      const retryAfterMs = this.openUntil - this.now
      this.advance(ms)
      return { result: "rejected", state: "Open", retryAfterMs }
    }
    this.now += ms
    const slow = this.slowMs !== undefined && ms >= this.slowMs
    const result = fail ? "failed" : "ok"
    if (this.state === "HalfOpen") {
      if (fail || slow) this.open()
      else if (++this.succeeded >= this.probes) this.close()
      return { result }
    }
    this.streak = fail ? this.streak + 1 : 0
    this.entries.push({ t: this.now, failed: fail, slow })
    if (this.consecutive !== undefined && this.streak >= this.consecutive) {
      this.open()
      return { result }
    }
    const window = this.window()
    const calls = window.length
    const failures = window.filter((e) => e.failed).length
    const slowCalls = window.filter((e) => e.slow).length
    if (calls >= this.minimumCalls) {
      if (this.failureRate !== undefined && failures > 0 && failures / calls >= this.failureRate) this.open()
      else if (this.slowMs !== undefined && slowCalls > 0 && slowCalls / calls >= this.slowRate) this.open()
    }
    return { result }
  }

  reset() {
    this.close()
  }

  forceOpen() {
    this.state = "ForcedOpen"
  }
}

const policyArbitrary: fc.Arbitrary<CircuitBreaker.Policy> = fc
  .record({
    consecutiveFailures: fc.option(fc.integer({ min: 1, max: 5 }), { nil: undefined }),
    failureRateThreshold: fc.option(fc.constantFrom(0.2, 0.25, 0.5, 0.75, 1), { nil: undefined }),
    slow: fc.option(
      fc.record({ duration: fc.integer({ min: 1, max: 50 }), rate: fc.option(fc.constantFrom(0.3, 0.5, 1), { nil: undefined }) }),
      { nil: undefined }
    ),
    window: fc.oneof(
      fc.record({ size: fc.integer({ min: 1, max: 12 }) }),
      fc.record({ duration: fc.integer({ min: 20, max: 400 }) })
    ),
    minimumCalls: fc.option(fc.integer({ min: 1, max: 12 }), { nil: undefined }),
    openDuration: fc.integer({ min: 1, max: 300 }),
    halfOpenProbes: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined })
  })
  .map(({ slow, window, minimumCalls, ...rest }) => {
    const policy: Record<string, unknown> = { window, openDuration: rest.openDuration }
    if (rest.consecutiveFailures !== undefined) policy.consecutiveFailures = rest.consecutiveFailures
    if (rest.failureRateThreshold !== undefined) policy.failureRateThreshold = rest.failureRateThreshold
    if (rest.halfOpenProbes !== undefined) policy.halfOpenProbes = rest.halfOpenProbes
    if (slow !== undefined) {
      policy.slowCallDuration = slow.duration
      if (slow.rate !== undefined) policy.slowCallRateThreshold = slow.rate
    }
    if (minimumCalls !== undefined) policy.minimumCalls = "size" in window ? Math.min(minimumCalls, window.size) : minimumCalls
    const checked = CircuitBreaker.validatePolicy(policy)
    if (Result.isFailure(checked)) throw new Error(JSON.stringify(checked.failure))
    return checked.success
  })

const commandArbitrary: fc.Arbitrary<Command> = fc.oneof(
  { weight: 12, arbitrary: fc.record({ _tag: fc.constant("call" as const), fail: fc.boolean(), ms: fc.integer({ min: 0, max: 80 }) }) },
  { weight: 3, arbitrary: fc.record({ _tag: fc.constant("advance" as const), ms: fc.integer({ min: 0, max: 400 }) }) },
  { weight: 1, arbitrary: fc.constant({ _tag: "reset" as const }) },
  { weight: 1, arbitrary: fc.constant({ _tag: "forceOpen" as const }) }
)

/** Runs the commands against a real breaker on the TestClock, comparing every step with the model. */
const checkAgainstModel = (policy: CircuitBreaker.Policy, commands: ReadonlyArray<Command>) =>
  onTestClock(Effect.gen(function*() {
    const breaker = yield* CircuitBreaker.make({ name: "prop", policy })
    const model = new Model(policy)
    for (const [step, command] of commands.entries()) {
      const where = `step ${step}: ${JSON.stringify(command)}`
      switch (command._tag) {
        case "call": {
          const call = Effect.sleep(command.ms).pipe(Effect.andThen(command.fail ? Effect.fail("boom" as const) : Effect.succeed("ok" as const)))
          const fiber = yield* Effect.forkChild(Effect.exit(breaker.execute("k", call)), { startImmediately: true })
          yield* TestClock.adjust(command.ms)
          const exit = yield* Fiber.join(fiber)
          const observed: Observed = Exit.isSuccess(exit)
            ? { result: "ok" }
            : exit.cause.reasons[0]?._tag === "Fail" && exit.cause.reasons[0].error instanceof CircuitBreaker.CircuitOpen
            ? {
              result: "rejected",
              state: exit.cause.reasons[0].error.state,
              retryAfterMs: exit.cause.reasons[0].error.retryAfterMs
            }
            : { result: "failed" }
          expect(observed, where).toEqual(model.call(command.fail, command.ms))
          break
        }
        case "advance":
          yield* TestClock.adjust(command.ms)
          model.advance(command.ms)
          break
        case "reset":
          yield* breaker.reset("k")
          model.reset()
          break
        case "forceOpen":
          yield* breaker.forceOpen("k")
          model.forceOpen()
          break
      }
      yield* Effect.yieldNow
      expect((yield* breaker.state("k"))._tag, where).toBe(model.state)
    }
  }))

describe("CircuitBreaker (FM-14, FM-42)", () => {
  it("FM-42 breaker transitions follow the model: failure and slow-call rates over the window, consecutive failures, half-open after openDuration, probes, reset, forced open (property, TestClock)", async () => {
    await fc.assert(
      fc.asyncProperty(policyArbitrary, fc.array(commandArbitrary, { minLength: 1, maxLength: 60 }), checkAgainstModel),
      { numRuns: 300 }
    )
  })

  it("FM-42 a failure rate over a time window opens the circuit only with minimumCalls in the window; old calls slide out (TestClock)", () =>
    onTestClock(Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.make({
        name: "rate",
        policy: { failureRateThreshold: 0.5, window: { duration: "10 seconds" }, minimumCalls: 4, openDuration: "5 seconds" }
      })
      const fail = Effect.ignore(breaker.execute("k", Effect.fail("boom")))
      const ok = breaker.execute("k", Effect.void)
      // 3 failures: not enough calls to judge
      yield* fail
      yield* fail
      yield* fail
      expect((yield* breaker.state("k"))._tag).toBe("Closed")
      // they slide out of the window; 3 successes and 1 failure: 25 %
      yield* TestClock.adjust("11 seconds")
      yield* ok
      yield* ok
      yield* ok
      yield* fail
      expect(yield* breaker.state("k")).toMatchObject({ _tag: "Closed", calls: 4, failures: 1 })
      // a second failure: 2 of 5 is 40 %, a third: 3 of 6 is 50 %
      yield* fail
      expect((yield* breaker.state("k"))._tag).toBe("Closed")
      yield* fail
      expect(yield* breaker.state("k")).toMatchObject({ _tag: "Open", retryAfterMs: 5_000 })
    })))

  it("FM-42 slow calls open the circuit even when they succeed (TestClock)", () =>
    onTestClock(Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.make({
        name: "slow",
        policy: { slowCallDuration: "1 second", slowCallRateThreshold: 0.5, window: { size: 4 }, minimumCalls: 4, openDuration: "5 seconds" }
      })
      const call = (ms: number) =>
        Effect.gen(function*() {
          const fiber = yield* Effect.forkChild(breaker.execute("k", Effect.as(Effect.sleep(ms), "ok")), { startImmediately: true })
          yield* TestClock.adjust(ms)
          return yield* Fiber.join(fiber)
        })
      yield* call(10)
      yield* call(1_000)
      yield* call(10)
      expect((yield* breaker.state("k"))._tag).toBe("Closed")
      yield* call(2_000)
      expect((yield* breaker.state("k"))._tag).toBe("Open")
      const rejected = yield* Effect.flip(call(10))
      expect(rejected).toMatchObject({ _tag: "CircuitOpen", mode: "FM-42", state: "Open" })
    })))

  it("FM-14 an open circuit half-opens by itself after openDuration, with no call arriving (TestClock)", () =>
    onTestClock(Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.make({ name: "auto", policy: { consecutiveFailures: 1, openDuration: "30 seconds" } })
      yield* Effect.ignore(breaker.execute("k", Effect.fail("boom")))
      expect(yield* breaker.state("k")).toMatchObject({ _tag: "Open", retryAfterMs: 30_000 })
      yield* TestClock.adjust("29 seconds")
      expect(yield* breaker.state("k")).toMatchObject({ _tag: "Open", retryAfterMs: 1_000 })
      yield* TestClock.adjust("1 second")
      yield* Effect.yieldNow
      expect((yield* breaker.state("k"))._tag).toBe("HalfOpen")
      expect(yield* metricValue("mcp_circuit_state", { breaker: "auto", key: "k" })).toBe(CircuitBreaker.stateValue.HalfOpen)
    })))

  it.effect("FM-14 at most halfOpenProbes probes run at once; all must succeed to close, one failure reopens", () =>
    Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.make({ name: "probes", policy: { consecutiveFailures: 1, openDuration: "1 second", halfOpenProbes: 2 } })
      yield* Effect.ignore(breaker.execute("k", Effect.fail("boom")))
      yield* TestClock.adjust("1 second")
      const gate = yield* Deferred.make<boolean>()
      const probe = breaker.execute("k", Effect.flatMap(Deferred.await(gate), (ok) => (ok ? Effect.succeed("ok") : Effect.fail("boom"))))
      const first = yield* Effect.forkChild(probe, { startImmediately: true })
      const second = yield* Effect.forkChild(probe, { startImmediately: true })
      // a third call while two probes run is refused
      expect(yield* Effect.flip(probe)).toMatchObject({ _tag: "CircuitOpen", state: "HalfOpen" })
      expect(yield* breaker.state("k")).toMatchObject({ _tag: "HalfOpen", probing: 2, succeeded: 0, probes: 2 })
      yield* Deferred.succeed(gate, true)
      expect([yield* Fiber.join(first), yield* Fiber.join(second)]).toEqual(["ok", "ok"])
      expect((yield* breaker.state("k"))._tag).toBe("Closed")
      // open again; this time one probe fails: open again, for the whole open time
      yield* Effect.ignore(breaker.execute("k", Effect.fail("boom")))
      yield* TestClock.adjust("1 second")
      yield* Effect.ignore(breaker.execute("k", Effect.fail("boom")))
      expect(yield* breaker.state("k")).toMatchObject({ _tag: "Open", retryAfterMs: 1_000 })
      // an interrupted probe frees its slot
      yield* TestClock.adjust("1 second")
      const hung = yield* Effect.forkChild(breaker.execute("k", Effect.never), { startImmediately: true })
      expect(yield* breaker.state("k")).toMatchObject({ _tag: "HalfOpen", probing: 1 })
      yield* Fiber.interrupt(hung)
      expect(yield* breaker.state("k")).toMatchObject({ _tag: "HalfOpen", probing: 0 })
    }).pipe(Effect.provideService(Metric.MetricRegistry, new Map())))

  it.effect("FM-14 manual override: forceOpen refuses every call until reset; reset closes an open circuit at once", () =>
    Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.make({ name: "manual", policy: { consecutiveFailures: 1, openDuration: "1 hour" } })
      let runs = 0
      const call = breaker.execute("k", Effect.sync(() => ++runs))
      yield* breaker.forceOpen("k")
      expect(yield* Effect.flip(call)).toMatchObject({ _tag: "CircuitOpen", state: "ForcedOpen", mode: "FM-42" })
      // forced open does not half-open with time
      yield* TestClock.adjust("2 hours")
      expect((yield* breaker.state("k"))._tag).toBe("ForcedOpen")
      expect(runs).toBe(0)
      yield* breaker.reset("k")
      expect(yield* call).toBe(1)
      // an open circuit (stuck for an hour) is closed by reset without waiting
      yield* Effect.ignore(breaker.execute("k", Effect.fail("boom")))
      expect((yield* breaker.state("k"))._tag).toBe("Open")
      yield* breaker.reset("k")
      expect(yield* breaker.state("k")).toMatchObject({ _tag: "Closed", calls: 0 })
      expect(yield* call).toBe(2)
      // a key with no policy can still be forced open
      const manualOnly = yield* CircuitBreaker.make({ name: "manual-only", policy: () => undefined })
      expect(yield* manualOnly.execute("x", Effect.succeed(1))).toBe(1)
      yield* manualOnly.forceOpen("x")
      expect(yield* Effect.flip(manualOnly.execute("x", Effect.succeed(1)))).toMatchObject({ state: "ForcedOpen" })
      yield* manualOnly.reset("x")
      expect(yield* manualOnly.execute("x", Effect.succeed(1))).toBe(1)
    }).pipe(Effect.provideService(Metric.MetricRegistry, new Map())))

  it.effect("every transition is a log line, a state gauge value, a counted transition and a stream element; rejections are counted", () => {
    const logs = captureLogs()
    return Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.make({ name: "obs", policy: { consecutiveFailures: 2, openDuration: "10 seconds" } })
      const seen = yield* breaker.transitions.pipe(Stream.take(4), Stream.runCollect, Effect.forkChild({ startImmediately: true }))
      yield* Effect.yieldNow
      const fail = Effect.ignore(breaker.execute("tool-a", Effect.fail("boom")))
      yield* fail
      yield* fail
      expect(yield* metricValue("mcp_circuit_state", { breaker: "obs", key: "tool-a" })).toBe(2)
      yield* Effect.ignore(breaker.execute("tool-a", Effect.void))
      expect(yield* metricValue("mcp_circuit_rejections_total", { breaker: "obs", key: "tool-a" })).toBe(1)
      yield* TestClock.adjust("10 seconds")
      yield* breaker.execute("tool-a", Effect.void)
      expect(yield* metricValue("mcp_circuit_state", { breaker: "obs", key: "tool-a" })).toBe(0)
      yield* breaker.forceOpen("tool-a")
      expect(yield* metricValue("mcp_circuit_state", { breaker: "obs", key: "tool-a" })).toBe(3)
      const transitions = yield* Fiber.join(seen)
      expect(transitions.map((t) => `${t.from}→${t.to}:${t.reason}`)).toEqual([
        "Closed→Open:consecutive-failures",
        "Open→HalfOpen:open-elapsed",
        "HalfOpen→Closed:probes-succeeded",
        "Closed→ForcedOpen:forced-open"
      ])
      expect(yield* metricValue("mcp_circuit_transitions_total", { breaker: "obs", from: "Closed", to: "Open" })).toBe(1)
      expect(logs.lines.filter((l) => l.annotations.breaker === "obs").map((l) => `${l.level} ${l.message}`)).toEqual([
        "Warn Circuit tool-a of obs: Closed → Open (consecutive-failures)",
        "Info Circuit tool-a of obs: Open → HalfOpen (open-elapsed)",
        "Info Circuit tool-a of obs: HalfOpen → Closed (probes-succeeded)",
        "Warn Circuit tool-a of obs: Closed → ForcedOpen (forced-open)"
      ])
    }).pipe(Effect.provideService(Metric.MetricRegistry, new Map()), Effect.provide(logs.layer))
  })

  it("policies are validated with every problem listed", () => {
    const checked = CircuitBreaker.validatePolicy({
      consecutiveFailures: 0,
      failureRateThreshold: 1.5,
      window: { size: 10, duration: "1 minute" },
      openDuration: "soon",
      extra: true
    })
    expect(Result.isFailure(checked)).toBe(true)
    const paths = Result.isFailure(checked) ? checked.failure.map((p) => p.path).sort() : []
    expect(paths).toEqual(["consecutiveFailures", "extra", "failureRateThreshold", "openDuration", "window"])
  })
})
