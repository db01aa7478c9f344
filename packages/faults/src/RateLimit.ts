/**
 * Token-bucket rate limiting per key (a client, a connection) on `effect/persistence/RateLimiter`, with a
 * policy for when the limiter itself fails (FM-17, FM-46).
 *
 * Each key gets a bucket of `limit` tokens that refills one token every `window / limit`. A request that
 * finds the bucket empty fails at once with `RateLimitExceeded` (FM-46) and the time until the next token.
 *
 * When the limiter's store fails (a remote store down, or slower than `storeTimeout`), `onLimiterFailure`
 * decides: `"open"` (the default) admits the request, `"closed"` refuses it with `LimiterUnavailable` (FM-17).
 * Either way a bypass breaker (this package's `CircuitBreaker`, consecutive failures) stops calling a store
 * that keeps failing for a cooldown, so a dead limiter costs nothing per request; after the cooldown one
 * probe tries the store again.
 *
 * The default store is in memory and bounded to `maxKeys` buckets (least recently used dropped first; a
 * dropped key starts again with a full bucket). Give `store` (e.g. `RateLimiter.layerStoreRedis`) to share
 * the limits between processes.
 *
 * Metrics, with attribute `limiter`: `mcp_rate_limited_total` (refused requests), `mcp_rate_limiter_errors_total`
 * (store failures, with `policy`), `mcp_rate_limiter_healthy` (1 while the store answers); the bypass breaker
 * has its own (`breaker` = `<name>-store`). A log line marks the store failing and recovering.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import { RateLimiter } from "effect/persistence"
import type * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as CircuitBreaker from "./CircuitBreaker.ts"
import { PositiveDurationInput, PositiveInt, type Problem, toMillis, validate } from "./Tunable.ts"

/**
 * A rate limit: `limit` requests per `window` per key (a token bucket), and what to do when the limiter
 * fails (`onLimiterFailure`: `"open"` admits, `"closed"` refuses; default `"open"`).
 *
 * @since 0.1.0
 * @category models
 */
export const Limit = Schema.Struct({
  limit: PositiveInt,
  window: PositiveDurationInput,
  onLimiterFailure: Schema.optionalKey(Schema.Literals(["open", "closed"]))
})

/**
 * A rate limit (see the `Limit` schema).
 *
 * @since 0.1.0
 * @category models
 */
export type Limit = typeof Limit.Type

/**
 * Checks a rate limit, listing every problem.
 *
 * @since 0.1.0
 * @category validation
 */
export const validateLimit: (input: unknown) => Result.Result<Limit, ReadonlyArray<Problem>> = validate(Limit)

/**
 * FM-46: the key's bucket is empty. Retry after `retryAfterMs` (the time until the next token).
 *
 * @since 0.1.0
 * @category errors
 */
export class RateLimitExceeded extends Schema.TaggedError<RateLimitExceeded>()("RateLimitExceeded", {
  mode: Schema.tag("FM-46"),
  limiter: Schema.String,
  key: Schema.String,
  limit: Schema.Number,
  windowMs: Schema.Number,
  retryAfterMs: Schema.Number
}) {
  override get message(): string {
    return `Rate limit of ${this.limit} per ${this.windowMs} ms exceeded; retry after ${this.retryAfterMs} ms`
  }
}

/**
 * FM-17: the limiter's store failed and the policy is fail-closed, so the request was refused. Retry after
 * `retryAfterMs` (the bypass breaker's remaining cooldown, or 1 s).
 *
 * @since 0.1.0
 * @category errors
 */
export class LimiterUnavailable extends Schema.TaggedError<LimiterUnavailable>()("LimiterUnavailable", {
  mode: Schema.tag("FM-17"),
  limiter: Schema.String,
  detail: Schema.String,
  retryAfterMs: Schema.Number
}) {
  override get message(): string {
    return `Rate limiter ${this.limiter} is unavailable (${this.detail}); failing closed, retry after ${this.retryAfterMs} ms`
  }
}

/**
 * What a rate limit refuses a request with.
 *
 * @since 0.1.0
 * @category errors
 */
export type Rejection = RateLimitExceeded | LimiterUnavailable

/**
 * Rate limiter settings.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends Limit {
  /** The `limiter` attribute of the metrics and log lines. */
  readonly name: string
  /** The store of the buckets (default: in memory, bounded to `maxKeys`). */
  readonly store?: Layer.Layer<RateLimiter.RateLimiterStore>
  /** Buckets kept by the default store (default 10,000). */
  readonly maxKeys?: number
  /** Longest wait for the store before it counts as failed (default: none; set one for a remote store). */
  readonly storeTimeout?: Duration.Input
  /** Consecutive store failures that open the bypass, and how long it stays open (default 3, 10 seconds). */
  readonly bypass?: { readonly failures: number; readonly cooldown: Duration.Input }
}

/**
 * A rate limiter.
 *
 * @since 0.1.0
 * @category models
 */
export interface RateLimit {
  readonly name: string
  /** Takes `tokens` (default 1) from `key`'s bucket, or refuses. */
  readonly consume: (key: string, tokens?: number) => Effect.Effect<void, Rejection>
  /** Applies a new limit at once (validate it first); existing buckets keep their tokens. */
  readonly reconfigure: (limit: Limit) => Effect.Effect<void>
  /** Whether the store answered the last time it was asked. */
  readonly healthy: Effect.Effect<boolean>
}

const limitedTotal = Metric.counter("mcp_rate_limited_total", {
  description: "Requests refused by a rate limit (FM-46)",
  incremental: true
})
const errorsTotal = Metric.counter("mcp_rate_limiter_errors_total", {
  description: "Rate limiter store failures, by policy: open admitted the request, closed refused it (FM-17)",
  incremental: true
})
const healthyGauge = Metric.gauge("mcp_rate_limiter_healthy", { description: "1 while a rate limiter's store answers (FM-17)" })

/**
 * An in-memory token-bucket store bounded to `maxKeys` buckets, least recently used dropped first (the
 * memory store of `effect/persistence` never forgets a key). Only `tokenBucket` and `fixedWindow` are kept;
 * the adaptive operations are inactive.
 *
 * @since 0.1.0
 * @category layers
 */
export const storeMemory = (maxKeys = 10_000): Layer.Layer<RateLimiter.RateLimiterStore> =>
  Layer.sync(RateLimiter.RateLimiterStore, () => {
    const buckets = new Map<string, { tokens: number; lastRefill: number }>()
    const windows = new Map<string, { count: number; expiresAt: number }>()
    const touch = <V>(map: Map<string, V>, key: string, value: V) => {
      map.delete(key)
      map.set(key, value)
      while (map.size > maxKeys) map.delete(map.keys().next().value!)
    }
    return RateLimiter.RateLimiterStore.of({
      tokenBucket: (options) =>
        Effect.clockWith((clock) =>
          Effect.sync(() => {
            const refillMs = Duration.toMillis(options.refillRate)
            const now = clock.currentTimeMillisUnsafe()
            const bucket = buckets.get(options.key) ?? { tokens: options.limit, lastRefill: now }
            touch(buckets, options.key, bucket)
            const add = Math.floor((now - bucket.lastRefill) / refillMs)
            if (add > 0) {
              bucket.tokens = Math.min(options.limit, bucket.tokens + add)
              bucket.lastRefill += add * refillMs
            }
            if (bucket.tokens >= options.limit) {
              bucket.tokens = options.limit
              bucket.lastRefill = now
            }
            const left = bucket.tokens - options.tokens
            if (options.allowOverflow || left >= 0) bucket.tokens = left
            return [left, Math.max(0, now - bucket.lastRefill)] as const
          })
        ),
      fixedWindow: (options) =>
        Effect.clockWith((clock) =>
          Effect.sync(() => {
            const refillMs = Duration.toMillis(options.refillRate)
            const now = clock.currentTimeMillisUnsafe()
            let counter = windows.get(options.key)
            if (counter === undefined || counter.expiresAt <= now) counter = { count: 0, expiresAt: now }
            touch(windows, options.key, counter)
            if (options.limit !== undefined && counter.count + options.tokens > options.limit) {
              return [counter.count + options.tokens, counter.expiresAt - now] as const
            }
            counter.count += options.tokens
            counter.expiresAt += refillMs * options.tokens
            return [counter.count, counter.expiresAt - now] as const
          })
        ),
      adaptiveConsume: () => Effect.succeed({ delay: Duration.zero, epoch: 0, phase: "inactive" as const }),
      adaptiveFeedback: () => Effect.void
    })
  })

/** The store failed (or timed out). */
class StoreFailed {
  readonly _tag = "StoreFailed"
  constructor(readonly detail: string) {}
}

/**
 * Makes a rate limiter. Its bypass breaker lives in the current scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = Effect.fnUntraced(function*(options: Options): Effect.fn.Return<RateLimit, never, Scope.Scope> {
  const name = options.name
  const limiter = yield* RateLimiter.make.pipe(Effect.provide(options.store ?? storeMemory(options.maxKeys)))
  const bypass = yield* CircuitBreaker.make({
    name: `${name}-store`,
    policy: {
      consecutiveFailures: options.bypass?.failures ?? 3,
      openDuration: options.bypass?.cooldown ?? Duration.seconds(10)
    }
  })
  const attributes = { limiter: name }
  const limited$ = Metric.withAttributes(limitedTotal, attributes)
  const healthy$ = Metric.withAttributes(healthyGauge, attributes)
  const storeTimeout = options.storeTimeout === undefined ? undefined : Duration.fromInputUnsafe(options.storeTimeout)
  let limit: Limit = { limit: options.limit, window: options.window, ...(options.onLimiterFailure === undefined ? {} : { onLimiterFailure: options.onLimiterFailure }) }
  let windowMs = toMillis(limit.window)
  let healthy = true
  yield* Metric.update(healthy$, 1)

  const setHealthy = (value: boolean, detail: string) =>
    Effect.suspend(() => {
      if (healthy === value) return Effect.void
      healthy = value
      const policy = limit.onLimiterFailure ?? "open"
      const line = value
        ? Effect.logInfo(`Rate limiter ${name} answers again`)
        : Effect.logWarning(`Rate limiter ${name} is unavailable (${detail}): failing ${policy}`)
      return Effect.andThen(line.pipe(Effect.annotateLogs({ mode: "FM-17", limiter: name, policy })), Metric.update(healthy$, value ? 1 : 0))
    })

  const ask = (key: string, tokens: number): Effect.Effect<RateLimitExceeded | undefined, StoreFailed> => {
    const current = limit
    const call = limiter.consume({ algorithm: "token-bucket", onExceeded: "fail", limit: current.limit, window: current.window, key, tokens }).pipe(
      Effect.matchEffect({
        onSuccess: () => Effect.succeed(undefined),
        onFailure: (error) =>
          error.reason._tag === "RateLimitExceeded"
            ? Effect.succeed(
              new RateLimitExceeded({
                limiter: name,
                key,
                limit: current.limit,
                windowMs,
                retryAfterMs: Math.max(1, Math.ceil(Duration.toMillis(error.reason.retryAfter)))
              })
            )
            : Effect.fail(new StoreFailed(error.reason.message))
      }),
      Effect.catchDefect((defect) => Effect.fail(new StoreFailed(String(defect))))
    )
    if (storeTimeout === undefined) return call
    return Effect.flatMap(Effect.timeoutOption(call, storeTimeout), (answer) =>
      Option.isSome(answer)
        ? Effect.succeed(answer.value)
        : Effect.fail(new StoreFailed(`no answer within ${Duration.toMillis(storeTimeout)} ms`)))
  }

  const consume = (key: string, tokens = 1): Effect.Effect<void, Rejection> =>
    bypass.execute("store", ask(key, tokens), {
      classify: (exit) => (exit._tag === "Success" ? "success" : "failure")
    }).pipe(
      Effect.matchEffect({
        onSuccess: (exceeded) =>
          Effect.andThen(
            setHealthy(true, ""),
            exceeded === undefined ? Effect.void : Effect.andThen(Metric.update(limited$, 1), Effect.fail(exceeded))
          ),
        onFailure: (failure) => {
          const policy = limit.onLimiterFailure ?? "open"
          const detail = failure instanceof CircuitBreaker.CircuitOpen ? "bypassed after repeated failures" : failure.detail
          const retryAfterMs = failure instanceof CircuitBreaker.CircuitOpen && failure.retryAfterMs > 0 ? failure.retryAfterMs : 1_000
          return setHealthy(false, detail).pipe(
            Effect.andThen(Metric.update(Metric.withAttributes(errorsTotal, { limiter: name, policy }), 1)),
            Effect.andThen(policy === "open" ? Effect.void : Effect.fail(new LimiterUnavailable({ limiter: name, detail, retryAfterMs })))
          )
        }
      })
    )

  return {
    name,
    consume,
    reconfigure: (next) =>
      Effect.sync(() => {
        limit = next
        windowMs = toMillis(next.window)
      }),
    healthy: Effect.sync(() => healthy)
  } satisfies RateLimit
})
