import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import { RateLimiter } from "effect/persistence"
import * as TestClock from "effect/testing/TestClock"
import fc from "fast-check"
import * as RateLimit from "../src/RateLimit.ts"
import { captureLogs, metricValue, onTestClock } from "./support.ts"

/** A token bucket as specified: `limit` tokens, one more every `refillMs`, never more than `limit`. */
class Bucket {
  tokens: number
  lastRefill: number
  constructor(readonly limit: number, readonly refillMs: number, now: number) {
    this.tokens = limit
    this.lastRefill = now
  }
  take(now: number): { readonly admitted: true } | { readonly admitted: false; readonly retryAfterMs: number } {
    const add = Math.floor((now - this.lastRefill) / this.refillMs)
    if (add > 0) {
      this.tokens = Math.min(this.limit, this.tokens + add)
      this.lastRefill += add * this.refillMs
    }
    if (this.tokens >= this.limit) this.lastRefill = now
    if (this.tokens > 0) {
      this.tokens--
      return { admitted: true }
    }
    return { admitted: false, retryAfterMs: Math.max(1, this.refillMs - (now - this.lastRefill)) }
  }
}

const requests = fc.array(
  fc.record({ gapMs: fc.integer({ min: 0, max: 400 }), key: fc.constantFrom("alice", "bob", "carol") }),
  { minLength: 1, maxLength: 80 }
)

/** A store whose failures the test controls, counting the calls that reach it. */
const flakyStore = () => {
  const control = { broken: false, hang: false, calls: 0 }
  const layer = Layer.effect(
    RateLimiter.RateLimiterStore,
    Effect.gen(function*() {
      const inner = yield* RateLimiter.RateLimiterStore
      return RateLimiter.RateLimiterStore.of({
        ...inner,
        tokenBucket: (options) =>
          Effect.suspend(() => {
            control.calls++
            if (control.hang) return Effect.never
            if (control.broken) {
              return Effect.fail(
                new RateLimiter.RateLimiterError({ reason: new RateLimiter.RateLimitStoreError({ message: "connection refused" }) })
              )
            }
            return inner.tokenBucket(options)
          })
      })
    })
  ).pipe(Layer.provide(RateLimit.storeMemory()))
  return { control, layer }
}

describe("RateLimit (FM-17, FM-46)", () => {
  it("FM-46 a token bucket per client: admitted exactly while the client's bucket has a token, refilled one token per window/limit, keys independent; after retryAfterMs the next request is admitted (property, TestClock)", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 10, max: 200 }), requests, (limit, refillMs, sequence) =>
        onTestClock(Effect.gen(function*() {
          const limiter = yield* RateLimit.make({ name: "prop", limit, window: limit * refillMs })
          const buckets = new Map<string, Bucket>()
          let now = 0
          for (const { gapMs, key } of sequence) {
            yield* TestClock.adjust(gapMs)
            now += gapMs
            const bucket = buckets.get(key) ?? new Bucket(limit, refillMs, now)
            buckets.set(key, bucket)
            const expected = bucket.take(now)
            const exit = yield* Effect.exit(limiter.consume(key))
            if (expected.admitted) {
              expect(Exit.isSuccess(exit), `${key} at ${now}`).toBe(true)
              continue
            }
            const error = Exit.isFailure(exit) && exit.cause.reasons[0]?._tag === "Fail" ? exit.cause.reasons[0].error : undefined
            expect(error, `${key} at ${now}`).toMatchObject({
              _tag: "RateLimitExceeded",
              mode: "FM-46",
              key,
              limit,
              retryAfterMs: expected.retryAfterMs
            })
            // the hint is honest: waiting that long is enough (checked on a copy of the model)
            const probe = new Bucket(limit, refillMs, 0)
            Object.assign(probe, { tokens: bucket.tokens, lastRefill: bucket.lastRefill })
            expect(probe.take(now + expected.retryAfterMs).admitted).toBe(true)
          }
        }))
      ),
      { numRuns: 200 }
    )
  })

  it.effect("FM-17 a failing limiter fails open by policy: requests are admitted, the store is bypassed after repeated failures, and a probe after the cooldown restores the limit", () => {
    const logs = captureLogs()
    const { control, layer } = flakyStore()
    return Effect.gen(function*() {
      const limiter = yield* RateLimit.make({
        name: "open",
        limit: 1,
        window: "1 minute",
        onLimiterFailure: "open",
        store: layer,
        bypass: { failures: 3, cooldown: "10 seconds" }
      })
      yield* limiter.consume("alice")
      expect(yield* Effect.flip(limiter.consume("alice"))).toMatchObject({ _tag: "RateLimitExceeded" })
      control.broken = true
      for (let i = 0; i < 10; i++) yield* limiter.consume("alice") // admitted: failing open
      expect(yield* limiter.healthy).toBe(false)
      // the bypass opened after 3 failures: the other 7 requests never reached the store
      expect(control.calls).toBe(2 + 3)
      expect(yield* metricValue("mcp_rate_limiter_errors_total", { limiter: "open", policy: "open" })).toBe(10)
      expect(yield* metricValue("mcp_rate_limiter_healthy", { limiter: "open" })).toBe(0)
      // the store comes back; after the cooldown one probe finds it, and the limit applies again
      control.broken = false
      yield* TestClock.adjust("10 seconds")
      expect(yield* Effect.flip(limiter.consume("alice"))).toMatchObject({ _tag: "RateLimitExceeded" })
      expect(yield* limiter.healthy).toBe(true)
      expect(logs.lines.filter((l) => l.annotations.limiter === "open").map((l) => `${l.level} ${l.message}`)).toEqual([
        "Warn Rate limiter open is unavailable (connection refused): failing open",
        "Info Rate limiter open answers again"
      ])
    }).pipe(Effect.provideService(Metric.MetricRegistry, new Map()), Effect.provide(logs.layer))
  })

  it.effect("FM-17 a failing limiter fails closed by policy: requests are refused with LimiterUnavailable and the remaining cooldown", () => {
    const { control, layer } = flakyStore()
    return Effect.gen(function*() {
      const limiter = yield* RateLimit.make({
        name: "closed",
        limit: 5,
        window: "1 second",
        onLimiterFailure: "closed",
        store: layer,
        bypass: { failures: 2, cooldown: "30 seconds" }
      })
      control.broken = true
      expect(yield* Effect.flip(limiter.consume("bob"))).toMatchObject({
        _tag: "LimiterUnavailable",
        mode: "FM-17",
        limiter: "closed",
        detail: "connection refused",
        retryAfterMs: 1_000
      })
      yield* Effect.flip(limiter.consume("bob"))
      yield* TestClock.adjust("5 seconds")
      expect(yield* Effect.flip(limiter.consume("bob"))).toMatchObject({
        _tag: "LimiterUnavailable",
        detail: "bypassed after repeated failures",
        retryAfterMs: 25_000
      })
      control.broken = false
      yield* TestClock.adjust("25 seconds")
      yield* limiter.consume("bob")
      expect(yield* limiter.healthy).toBe(true)
    }).pipe(Effect.provideService(Metric.MetricRegistry, new Map()))
  })

  it.effect("FM-17 a store that does not answer within storeTimeout counts as failed", () => {
    const { control, layer } = flakyStore()
    return Effect.gen(function*() {
      const limiter = yield* RateLimit.make({ name: "slow", limit: 5, window: "1 second", onLimiterFailure: "closed", store: layer, storeTimeout: "100 millis" })
      control.hang = true
      const fiber = yield* Effect.forkChild(Effect.flip(limiter.consume("carol")), { startImmediately: true })
      yield* TestClock.adjust("100 millis")
      expect(yield* Fiber.join(fiber)).toMatchObject({ _tag: "LimiterUnavailable", detail: "no answer within 100 ms" })
    }).pipe(Effect.provideService(Metric.MetricRegistry, new Map()))
  })

  it.effect("the in-memory store keeps at most maxKeys buckets; reconfigure applies a new limit at once", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimit.make({ name: "lru", limit: 1, window: "1 hour", maxKeys: 2 })
      yield* limiter.consume("a")
      yield* limiter.consume("b")
      expect(yield* Effect.flip(limiter.consume("a"))).toMatchObject({ _tag: "RateLimitExceeded" })
      yield* limiter.consume("c") // pushes out b, the least recently used
      yield* limiter.consume("b") // a fresh bucket
      yield* limiter.reconfigure({ limit: 3, window: "1 hour" })
      yield* limiter.consume("d")
      yield* limiter.consume("d")
      yield* limiter.consume("d")
      expect(yield* Effect.flip(limiter.consume("d"))).toMatchObject({ _tag: "RateLimitExceeded", limit: 3 })
      expect(yield* metricValue("mcp_rate_limited_total", { limiter: "lru" })).toBe(2)
    }).pipe(Effect.provideService(Metric.MetricRegistry, new Map())))
})
