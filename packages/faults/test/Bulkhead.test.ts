import { describe, expect, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Metric from "effect/Metric"
import * as TestClock from "effect/testing/TestClock"
import fc from "fast-check"
import * as Bulkhead from "../src/Bulkhead.ts"
import { captureLogs, metricValue, onTestClock } from "./support.ts"

interface Arrival {
  readonly at: number
  readonly serviceMs: number
}

type Outcome = { readonly started: number } | { readonly refused: "BulkheadFull" | "QueueTimeout"; readonly at: number }

/**
 * The bulkhead as documented, as a discrete-event simulation: a FIFO queue, a freed permit to the oldest
 * waiter, a newcomer never overtaking a waiter, a refusal past maxQueue, a timeout after queueTimeoutMs.
 * Arrivals and service times are multiples of 10 ms and the queue timeout is not, so no two events tie.
 */
const simulate = (maxConcurrent: number, maxQueue: number, queueTimeoutMs: number, arrivals: ReadonlyArray<Arrival>) => {
  const outcomes: Array<Outcome | undefined> = arrivals.map(() => undefined)
  const running: Array<number> = [] // finish times
  let queue: Array<{ readonly index: number; readonly deadline: number }> = []
  const start = (index: number, at: number) => {
    outcomes[index] = { started: at }
    running.push(at + arrivals[index]!.serviceMs)
  }
  const advanceTo = (t: number) => {
    while (true) {
      const nextFinish = Math.min(...running)
      const nextTimeout = queue.length === 0 ? Infinity : Math.min(...queue.map((w) => w.deadline))
      const next = Math.min(nextFinish, nextTimeout)
      if (next > t || next === Infinity) return
      if (nextFinish <= nextTimeout) {
        running.splice(running.indexOf(nextFinish), 1)
        while (running.length < maxConcurrent && queue.length > 0) start(queue.shift()!.index, nextFinish)
      } else {
        const expired = queue.find((w) => w.deadline === nextTimeout)!
        queue = queue.filter((w) => w !== expired)
        outcomes[expired.index] = { refused: "QueueTimeout", at: nextTimeout }
      }
    }
  }
  arrivals.forEach((arrival, index) => {
    advanceTo(arrival.at)
    if (running.length < maxConcurrent && queue.length === 0) start(index, arrival.at)
    else if (queue.length >= maxQueue) outcomes[index] = { refused: "BulkheadFull", at: arrival.at }
    else queue.push({ index, deadline: arrival.at + queueTimeoutMs })
  })
  advanceTo(Infinity)
  return outcomes
}

const scenario = fc.record({
  maxConcurrent: fc.integer({ min: 1, max: 4 }),
  maxQueue: fc.integer({ min: 0, max: 4 }),
  queueTimeoutMs: fc.integer({ min: 0, max: 20 }).map((n) => n * 10 + 5),
  arrivals: fc
    .array(fc.record({ gap: fc.integer({ min: 0, max: 5 }), serviceMs: fc.integer({ min: 1, max: 20 }) }), { minLength: 1, maxLength: 30 })
    .map((list) => {
      let at = 0
      return list.map(({ gap, serviceMs }) => {
        at += gap * 10
        return { at, serviceMs: serviceMs * 10 }
      })
    })
})

describe("Bulkhead (FM-04, FM-37, FM-45)", () => {
  it("FM-45 bounded concurrency, a FIFO queue bounded in length and in time: every call starts, or is refused, exactly when the model says (property, TestClock)", async () => {
    await fc.assert(
      fc.asyncProperty(scenario, ({ arrivals, maxConcurrent, maxQueue, queueTimeoutMs }) =>
        onTestClock(Effect.gen(function*() {
          const bulkhead = yield* Bulkhead.make("prop", { maxConcurrent, maxQueue, queueTimeout: queueTimeoutMs })
          let now = 0
          let peak = 0
          const fibers: Array<Fiber.Fiber<number, Bulkhead.Rejection>> = []
          for (const arrival of arrivals) {
            yield* TestClock.adjust(arrival.at - now)
            now = arrival.at
            const call = Effect.gen(function*() {
              const started = yield* Clock.currentTimeMillis
              peak = Math.max(peak, (yield* bulkhead.stats).active)
              yield* Effect.sleep(arrival.serviceMs)
              return started
            })
            fibers.push(yield* Effect.forkChild(bulkhead.run(call), { startImmediately: true }))
            const stats = yield* bulkhead.stats
            expect(stats.active).toBeLessThanOrEqual(maxConcurrent)
            expect(stats.queued).toBeLessThanOrEqual(maxQueue)
          }
          yield* TestClock.adjust(1_000_000)
          const observed: Array<Outcome> = []
          for (const fiber of fibers) {
            const exit = yield* Fiber.await(fiber)
            if (Exit.isSuccess(exit)) observed.push({ started: exit.value })
            else {
              const error = exit.cause.reasons[0]!._tag === "Fail" ? exit.cause.reasons[0]!.error : undefined
              expect(error?.retryAfterMs).toBeGreaterThan(0)
              observed.push({ refused: error!._tag, at: -1 })
            }
          }
          const expected = simulate(maxConcurrent, maxQueue, queueTimeoutMs, arrivals)
          expect(observed).toEqual(expected.map((o) => (o !== undefined && "refused" in o ? { refused: o.refused, at: -1 } : o)))
          // nobody waited longer than the queue timeout
          arrivals.forEach((arrival, i) => {
            const o = expected[i]!
            if ("started" in o) expect(o.started - arrival.at).toBeLessThan(queueTimeoutMs)
          })
          expect(peak).toBeLessThanOrEqual(maxConcurrent)
          expect(yield* bulkhead.stats).toMatchObject({ active: 0, queued: 0 })
        }))
      ),
      { numRuns: 300 }
    )
  })

  it.effect("FM-04 past maxQueue a call is refused at once with BulkheadFull and a retry hint; FM-45 a queued call is refused after queueTimeout", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make("tools", { maxConcurrent: 1, maxQueue: 1, queueTimeout: "2 seconds" })
      const release = yield* Deferred.make<void>()
      const first = yield* Effect.forkChild(bulkhead.run(Deferred.await(release)), { startImmediately: true })
      const queued = yield* Effect.forkChild(bulkhead.run(Effect.succeed("second")), { startImmediately: true })
      const full = yield* Effect.flip(bulkhead.run(Effect.succeed("third")))
      expect(full).toMatchObject({ _tag: "BulkheadFull", mode: "FM-04", bulkhead: "tools", maxConcurrent: 1, maxQueue: 1 })
      expect(full.retryAfterMs).toBeGreaterThan(0)
      yield* TestClock.adjust("2 seconds")
      const timedOut = yield* Effect.flip(Fiber.join(queued))
      expect(timedOut).toMatchObject({ _tag: "QueueTimeout", mode: "FM-45", queueTimeoutMs: 2_000 })
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(first)
      // the hint follows how long calls held a permit (the first held it 2 s) times the calls ahead per permit
      const next = yield* Effect.forkChild(bulkhead.run(Effect.never), { startImmediately: true })
      const waiter = yield* Effect.forkChild(bulkhead.run(Effect.never), { startImmediately: true })
      const hint = yield* Effect.flip(bulkhead.run(Effect.void))
      expect(hint).toMatchObject({ _tag: "BulkheadFull", retryAfterMs: 4_000 })
      yield* Fiber.interrupt(waiter)
      yield* Fiber.interrupt(next)
      expect(yield* bulkhead.stats).toMatchObject({ active: 0, queued: 0 })
    }))

  it.effect("reconfigure applies new limits at once: a larger maxConcurrent admits the waiters", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make("grow", { maxConcurrent: 1, maxQueue: 5, queueTimeout: "1 minute" })
      const gate = yield* Deferred.make<void>()
      const fibers = yield* Effect.forEach([1, 2, 3], (i) => Effect.forkChild(bulkhead.run(Effect.as(Deferred.await(gate), i)), { startImmediately: true }))
      expect(yield* bulkhead.stats).toMatchObject({ active: 1, queued: 2 })
      yield* bulkhead.reconfigure({ maxConcurrent: 3, maxQueue: 0 })
      expect(yield* bulkhead.stats).toMatchObject({ active: 3, queued: 0, maxConcurrent: 3, maxQueue: 0 })
      expect(yield* Effect.flip(bulkhead.run(Effect.void))).toMatchObject({ _tag: "BulkheadFull", maxQueue: 0 })
      yield* Deferred.succeed(gate, undefined)
      expect(yield* Effect.forEach(fibers, Fiber.join)).toEqual([1, 2, 3])
    }))

  it.effect("an interrupted waiter leaves the queue; an interrupted call frees its permit", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make("interrupt", { maxConcurrent: 1, maxQueue: 2, queueTimeout: "1 minute" })
      const running = yield* Effect.forkChild(bulkhead.run(Effect.never), { startImmediately: true })
      const waiting = yield* Effect.forkChild(bulkhead.run(Effect.never), { startImmediately: true })
      expect(yield* bulkhead.stats).toMatchObject({ active: 1, queued: 1 })
      yield* Fiber.interrupt(waiting)
      expect(yield* bulkhead.stats).toMatchObject({ active: 1, queued: 0 })
      yield* Fiber.interrupt(running)
      expect(yield* bulkhead.stats).toMatchObject({ active: 0, queued: 0 })
      expect(yield* bulkhead.run(Effect.succeed("free"))).toBe("free")
    }))

  it.effect("FM-37 occupancy, queue wait and refusals are metrics; saturation and recovery are log lines", () => {
    const logs = captureLogs()
    return Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make("obs", { maxConcurrent: 1, maxQueue: 1, queueTimeout: "1 second" })
      const gate = yield* Deferred.make<void>()
      const first = yield* Effect.forkChild(bulkhead.run(Deferred.await(gate)), { startImmediately: true })
      const second = yield* Effect.forkChild(bulkhead.run(Effect.void), { startImmediately: true })
      expect(yield* metricValue("mcp_bulkhead_active", { bulkhead: "obs" })).toBe(1)
      expect(yield* metricValue("mcp_bulkhead_queued", { bulkhead: "obs" })).toBe(1)
      yield* Effect.flip(bulkhead.run(Effect.void))
      expect(yield* metricValue("mcp_bulkhead_rejections_total", { bulkhead: "obs", reason: "full" })).toBe(1)
      expect(yield* metricValue("mcp_bulkhead_saturated", { bulkhead: "obs" })).toBe(1)
      yield* TestClock.adjust("500 millis")
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(first)
      yield* Fiber.join(second)
      expect(yield* metricValue("mcp_bulkhead_queue_wait_ms", { bulkhead: "obs" })).toBe(1)
      yield* bulkhead.run(Effect.void)
      expect(yield* metricValue("mcp_bulkhead_saturated", { bulkhead: "obs" })).toBe(0)
      expect(logs.lines.filter((l) => l.annotations.bulkhead === "obs").map((l) => `${l.level} ${l.annotations.mode}`)).toEqual([
        "Warn FM-04",
        "Info FM-37"
      ])
    }).pipe(Effect.provideService(Metric.MetricRegistry, new Map()), Effect.provide(logs.layer))
  })
})
