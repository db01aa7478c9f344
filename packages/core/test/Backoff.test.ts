import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import * as TestClock from "effect/testing/TestClock"
import fc from "fast-check"
import { Backoff } from "../src/index.ts"

describe("Backoff (FM-07, FM-21, FM-25)", () => {
  it("every delay is within [0, min(cap, base·2^n)) (property)", () => {
    fc.assert(
      fc.property(fc.nat(80), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (n, u) => {
        const d = Backoff.delayMs(n, u)
        expect(d).toBeGreaterThanOrEqual(0)
        expect(d).toBeLessThan(Math.max(1, Math.min(16_000, 1_000 * 2 ** n)))
      })
    )
  })

  it("the bound doubles from the base and the cap holds", () => {
    expect([0, 1, 2, 3, 4, 5, 30].map((n) => Backoff.boundMs(n))).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 16_000, 16_000])
    expect(Backoff.boundMs(3, { base: "100 millis", cap: "500 millis" })).toBe(500)
  })

  it.effect("the schedule's delays stay within the bounds and are jittered (not all equal)", () =>
    Effect.gen(function*() {
      const step = yield* Schedule.toStep(Backoff.schedule())
      const delays: Array<number> = []
      for (let i = 0; i < 40; i++) {
        const [, delay] = yield* step(0, undefined)
        delays.push(Duration.toMillis(delay))
      }
      delays.forEach((d, i) => {
        expect(d).toBeGreaterThanOrEqual(0)
        expect(d).toBeLessThan(Math.min(16_000, 1_000 * 2 ** i))
      })
      expect(new Set(delays.slice(5)).size).toBeGreaterThan(1)
    }))

  it.effect("a healthy period resets the attempt count; a short one does not", () =>
    Effect.gen(function*() {
      const backoff = Backoff.make({ resetAfter: "30 seconds" })
      for (let i = 0; i < 5; i++) yield* backoff.next
      expect(yield* backoff.attempts).toBe(5)
      yield* backoff.connected
      yield* TestClock.adjust("10 seconds")
      yield* backoff.disconnected
      expect(yield* backoff.attempts).toBe(5)
      yield* backoff.connected
      yield* TestClock.adjust("30 seconds")
      yield* backoff.disconnected
      expect(yield* backoff.attempts).toBe(0)
      const first = yield* backoff.next
      expect(Duration.toMillis(first)).toBeLessThan(1_000)
    }))
})
