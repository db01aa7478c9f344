/**
 * Bulkheads: bounded concurrency with a bounded wait queue and a queue-time limit (FM-04, FM-37, FM-45).
 *
 * At most `maxConcurrent` calls run at once. A call that finds them all busy waits in a FIFO queue of at most
 * `maxQueue` calls for at most `queueTimeout`; past either bound it fails at once with a typed error carrying
 * a `retryAfterMs` estimate (`BulkheadFull`, FM-04; `QueueTimeout`, FM-45), so overload is refused early
 * instead of piling up. The time bound of the call itself is not the bulkhead's business: it starts when the
 * call is admitted.
 *
 * **Details**
 *
 * - A freed permit goes to the oldest waiter first; a new call never overtakes a waiting one.
 * - `reconfigure` changes the limits at once: a larger `maxConcurrent` admits waiters, a smaller one lets
 *   running calls finish; waiters keep the deadline they had.
 * - Interrupting a waiting call removes it from the queue; interrupting a running call frees its permit.
 * - `retryAfterMs` is the average time a call has held a permit (an exponential moving average) times the
 *   calls ahead of a newcomer per permit, at least 1 ms; 1 s before any call has finished.
 *
 * Metrics, with attribute `bulkhead`: `mcp_bulkhead_active` and `mcp_bulkhead_queued` (gauges),
 * `mcp_bulkhead_saturated` (1 while rejecting), `mcp_bulkhead_rejections_total` (with `reason`) and the
 * histogram `mcp_bulkhead_queue_wait_ms` (time spent queued, FM-37). A log line marks the moment it starts
 * rejecting and the moment it admits again without a wait.
 *
 * Why not `Semaphore.withPermits` with `Effect.timeoutOption` around the take: the take and the timeout
 * race in separate fibers, so a permit granted at the deadline can be lost; here the grant and the timeout
 * are decided in one place.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import type * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import { DurationInput, NonNegativeInt, PositiveInt, type Problem, toMillis, validate } from "./Tunable.ts"

/**
 * A bulkhead's limits: `maxConcurrent` calls at once, at most `maxQueue` waiting (default 0: no queue), each
 * for at most `queueTimeout` (default 5 seconds).
 *
 * @since 0.1.0
 * @category models
 */
export const Limits = Schema.Struct({
  maxConcurrent: PositiveInt,
  maxQueue: Schema.optionalKey(NonNegativeInt),
  queueTimeout: Schema.optionalKey(DurationInput)
})

/**
 * A bulkhead's limits (see the `Limits` schema).
 *
 * @since 0.1.0
 * @category models
 */
export type Limits = typeof Limits.Type

/**
 * Checks limits, listing every problem.
 *
 * @since 0.1.0
 * @category validation
 */
export const validateLimits: (input: unknown) => Result.Result<Limits, ReadonlyArray<Problem>> = validate(Limits)

/**
 * FM-04: every permit is taken and the wait queue is full; the call was refused without waiting. Retry after
 * `retryAfterMs`.
 *
 * @since 0.1.0
 * @category errors
 */
export class BulkheadFull extends Schema.TaggedError<BulkheadFull>()("BulkheadFull", {
  mode: Schema.tag("FM-04"),
  bulkhead: Schema.String,
  maxConcurrent: Schema.Int,
  maxQueue: Schema.Int,
  retryAfterMs: Schema.Number
}) {
  override get message(): string {
    return `Bulkhead ${this.bulkhead} is full (${this.maxConcurrent} running, ${this.maxQueue} queued); retry after ${this.retryAfterMs} ms`
  }
}

/**
 * FM-45: the call waited `queueTimeout` in the queue without getting a permit and was refused. Retry after
 * `retryAfterMs`.
 *
 * @since 0.1.0
 * @category errors
 */
export class QueueTimeout extends Schema.TaggedError<QueueTimeout>()("QueueTimeout", {
  mode: Schema.tag("FM-45"),
  bulkhead: Schema.String,
  queueTimeoutMs: Schema.Number,
  retryAfterMs: Schema.Number
}) {
  override get message(): string {
    return `Waited ${this.queueTimeoutMs} ms in the queue of bulkhead ${this.bulkhead} without a permit; retry after ${this.retryAfterMs} ms`
  }
}

/**
 * What a bulkhead refuses a call with.
 *
 * @since 0.1.0
 * @category errors
 */
export type Rejection = BulkheadFull | QueueTimeout

/**
 * A bulkhead's occupancy.
 *
 * @since 0.1.0
 * @category models
 */
export interface Stats {
  readonly active: number
  readonly queued: number
  readonly maxConcurrent: number
  readonly maxQueue: number
  readonly queueTimeoutMs: number
}

/**
 * A bulkhead.
 *
 * @since 0.1.0
 * @category models
 */
export interface Bulkhead {
  readonly name: string
  /** Runs `effect` with a permit, after a bounded wait; or refuses it. */
  readonly run: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | Rejection, R>
  /** Current occupancy and limits. */
  readonly stats: Effect.Effect<Stats>
  /** Applies new limits at once (validate them first). */
  readonly reconfigure: (limits: Limits) => Effect.Effect<void>
}

const activeGauge = Metric.gauge("mcp_bulkhead_active", { description: "Calls running in a bulkhead" })
const queuedGauge = Metric.gauge("mcp_bulkhead_queued", { description: "Calls waiting in a bulkhead's queue (FM-37)" })
const saturatedGauge = Metric.gauge("mcp_bulkhead_saturated", { description: "1 while a bulkhead is refusing calls (FM-04, FM-45)" })
const rejectionsTotal = Metric.counter("mcp_bulkhead_rejections_total", {
  description: "Calls refused by a bulkhead, by reason: full (FM-04) or queue timeout (FM-45)",
  incremental: true
})
const queueWait = Metric.histogram("mcp_bulkhead_queue_wait_ms", {
  description: "Time calls spent in a bulkhead's queue before a permit (FM-37)",
  boundaries: Metric.exponentialBoundaries({ start: 1, factor: 2, count: 16 })
})

interface Waiter {
  readonly deferred: Deferred.Deferred<void>
  granted: boolean
}

/**
 * Makes a bulkhead named `name` (the `bulkhead` attribute of its metrics).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (name: string, initial: Limits): Effect.Effect<Bulkhead> =>
  Effect.sync(() => {
    const attributes = { bulkhead: name }
    const active$ = Metric.withAttributes(activeGauge, attributes)
    const queued$ = Metric.withAttributes(queuedGauge, attributes)
    const saturated$ = Metric.withAttributes(saturatedGauge, attributes)
    const full$ = Metric.withAttributes(rejectionsTotal, { ...attributes, reason: "full" })
    const timeout$ = Metric.withAttributes(rejectionsTotal, { ...attributes, reason: "queue-timeout" })
    const wait$ = Metric.withAttributes(queueWait, attributes)

    let maxConcurrent = initial.maxConcurrent
    let maxQueue = initial.maxQueue ?? 0
    let queueTimeoutMs = toMillis(initial.queueTimeout ?? Duration.seconds(5))
    let active = 0
    let saturated = false
    /** Average time a call held a permit (ms), or undefined before any finished. */
    let averageHoldMs: number | undefined
    /** Insertion-ordered: the first is the oldest waiter. */
    const queue = new Set<Waiter>()

    const gauges = Effect.suspend(() =>
      Effect.all([Metric.update(active$, active), Metric.update(queued$, queue.size)], { discard: true })
    )

    const retryAfterMs = (): number =>
      averageHoldMs === undefined
        ? 1_000
        : Math.max(1, Math.ceil(averageHoldMs * (queue.size + 1) / maxConcurrent))

    /** Hands free permits to the oldest waiters (sync). */
    const grant = () => {
      while (active < maxConcurrent && queue.size > 0) {
        const waiter = queue.values().next().value!
        queue.delete(waiter)
        active++
        waiter.granted = true
        Deferred.doneUnsafe(waiter.deferred, Exit.void)
      }
    }

    const release = (heldMs: number | undefined) =>
      Effect.suspend(() => {
        active--
        if (heldMs !== undefined) averageHoldMs = averageHoldMs === undefined ? heldMs : averageHoldMs * 0.8 + heldMs * 0.2
        grant()
        return gauges
      })

    const setSaturated = (value: boolean) =>
      Effect.suspend(() => {
        if (saturated === value) return Effect.void
        saturated = value
        const line = value
          ? Effect.logWarning(`Bulkhead ${name} is saturated: refusing calls (${maxConcurrent} running, ${maxQueue} queued at most)`)
          : Effect.logInfo(`Bulkhead ${name} admits calls again`)
        return Effect.andThen(
          line.pipe(Effect.annotateLogs({ mode: value ? "FM-04" : "FM-37", bulkhead: name })),
          Metric.update(saturated$, value ? 1 : 0)
        )
      })

    /** Runs with the permit already taken, and frees it after. */
    const withPermit = <A, E, R>(
      restore: <AX, EX, RX>(effect: Effect.Effect<AX, EX, RX>) => Effect.Effect<AX, EX, RX>,
      effect: Effect.Effect<A, E, R>
    ) =>
      Effect.flatMap(Clock.currentTimeMillis, (start) =>
        restore(effect).pipe(
          Effect.onExit(() => Effect.flatMap(Clock.currentTimeMillis, (end) => release(end - start)))
        ))

    const run = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | Rejection, R> =>
      Effect.uninterruptibleMask((restore) =>
        Effect.suspend((): Effect.Effect<A, E | Rejection, R> => {
          if (active < maxConcurrent && queue.size === 0) {
            active++
            return gauges.pipe(
              Effect.andThen(setSaturated(false)),
              Effect.andThen(withPermit(restore, effect))
            )
          }
          if (queue.size >= maxQueue) {
            const error = new BulkheadFull({ bulkhead: name, maxConcurrent, maxQueue, retryAfterMs: retryAfterMs() })
            return Metric.update(full$, 1).pipe(Effect.andThen(setSaturated(true)), Effect.andThen(Effect.fail(error)))
          }
          const waiter: Waiter = { deferred: Deferred.makeUnsafe<void>(), granted: false }
          queue.add(waiter)
          const timeoutMs = queueTimeoutMs
          return Effect.gen(function*() {
            const start = yield* Clock.currentTimeMillis
            yield* gauges
            const got = yield* restore(Effect.timeoutOption(Deferred.await(waiter.deferred), Duration.millis(timeoutMs))).pipe(
              Effect.onInterrupt(() =>
                Effect.suspend(() => {
                  // a permit granted at the moment of interruption is handed on
                  if (waiter.granted) return release(undefined)
                  queue.delete(waiter)
                  return gauges
                })
              )
            )
            if (Option.isNone(got) && !waiter.granted) {
              queue.delete(waiter)
              yield* gauges
              yield* Metric.update(timeout$, 1)
              yield* setSaturated(true)
              return yield* new QueueTimeout({ bulkhead: name, queueTimeoutMs: timeoutMs, retryAfterMs: retryAfterMs() })
            }
            const end = yield* Clock.currentTimeMillis
            yield* Metric.update(wait$, end - start)
            return yield* withPermit(restore, effect)
          })
        })
      )

    return {
      name,
      run,
      stats: Effect.sync(() => ({ active, queued: queue.size, maxConcurrent, maxQueue, queueTimeoutMs })),
      reconfigure: (limits) =>
        Effect.suspend(() => {
          maxConcurrent = limits.maxConcurrent
          maxQueue = limits.maxQueue ?? 0
          queueTimeoutMs = toMillis(limits.queueTimeout ?? Duration.seconds(5))
          grant()
          // waiters past a smaller queue bound stay: they keep their place and their deadline
          return gauges
        })
    } satisfies Bulkhead
  })
