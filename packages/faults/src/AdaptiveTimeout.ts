/**
 * Adaptive time bounds: a key's timeout follows its observed latency, `percentile × factor` of the last
 * `window` calls, kept within `[min, max]` (FM-21, FM-24).
 *
 * A fixed timeout is either too tight for a slow dependency (healthy calls fail, retries pile up: the
 * timeout cascade of FM-21) or too loose for a fast one (a hung call holds its resources for the whole
 * bound). Here each key keeps a bounded window of its latest durations; until `minSamples` are in, the bound
 * is `max`. A call past the bound is interrupted (its finalizers run) and fails with
 * `AdaptiveTimeoutExceeded`; it is recorded at the bound, so a dependency that slows down for good moves the
 * bound up (by up to `factor` per window) until it reaches `max`.
 *
 * Metrics, with attributes `timer` and `key`: `mcp_adaptive_timeout_ms` (the current bound) and
 * `mcp_latency_percentile_ms` (the observed percentile, FM-24). A log line marks each change of phase:
 * `warmup` (too few samples), `tracking`, `at-min`, `at-max` (the bound is clamped).
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import type * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import { DurationInput, Fraction, PositiveDurationInput, PositiveInt, type Problem, toMillis, validate } from "./Tunable.ts"

/**
 * How a key's bound follows its latency: `percentile` (default 0.99) of the last `window` durations (default
 * 100) times `factor` (default 2), within `[min, max]`; `max` until `minSamples` (default 20) are in.
 *
 * @since 0.1.0
 * @category models
 */
export const Policy = Schema.Struct({
  percentile: Schema.optionalKey(Fraction),
  factor: Schema.optionalKey(Schema.Finite.check(Schema.isGreaterThanOrEqualTo(1))),
  min: DurationInput,
  max: PositiveDurationInput,
  window: Schema.optionalKey(PositiveInt),
  minSamples: Schema.optionalKey(PositiveInt)
}).check(
  Schema.makeFilter((p) => {
    const problems: Array<{ readonly path: ReadonlyArray<string>; readonly issue: string }> = []
    if (toMillis(p.min) > toMillis(p.max)) problems.push({ path: ["min"], issue: "must be at most max" })
    if ((p.minSamples ?? 20) > (p.window ?? 100)) problems.push({ path: ["minSamples"], issue: `must be at most window (${p.window ?? 100})` })
    return problems
  })
)

/**
 * An adaptive timeout policy (see the `Policy` schema).
 *
 * @since 0.1.0
 * @category models
 */
export type Policy = typeof Policy.Type

/**
 * Checks a policy, listing every problem.
 *
 * @since 0.1.0
 * @category validation
 */
export const validatePolicy: (input: unknown) => Result.Result<Policy, ReadonlyArray<Problem>> = validate(Policy)

/**
 * Where a key's bound stands.
 *
 * @since 0.1.0
 * @category models
 */
export type Phase = "warmup" | "tracking" | "at-min" | "at-max"

/**
 * A key's bound and what it comes from.
 *
 * @since 0.1.0
 * @category models
 */
export interface Bound {
  readonly key: string
  readonly timeoutMs: number
  readonly phase: Phase
  readonly samples: number
  /** The observed percentile, once there are `minSamples`. */
  readonly percentileMs: number | undefined
}

/**
 * FM-21: the call ran past its key's adaptive bound and was interrupted. `percentileMs` is what the bound
 * came from (none while warming up). Retrying at once is unlikely to help; back off.
 *
 * @since 0.1.0
 * @category errors
 */
export class AdaptiveTimeoutExceeded extends Schema.TaggedError<AdaptiveTimeoutExceeded>()("AdaptiveTimeoutExceeded", {
  mode: Schema.tag("FM-21"),
  timer: Schema.String,
  key: Schema.String,
  timeoutMs: Schema.Number,
  percentileMs: Schema.optionalKey(Schema.Number),
  samples: Schema.Int
}) {
  override get message(): string {
    return `${this.key} ran past its adaptive bound of ${this.timeoutMs} ms${
      this.percentileMs === undefined ? "" : ` (observed percentile ${this.percentileMs} ms over ${this.samples} calls)`
    }`
  }
}

/**
 * Adaptive bounds for many keys.
 *
 * @since 0.1.0
 * @category models
 */
export interface AdaptiveTimeout {
  readonly name: string
  /** Runs `effect` within `key`'s current bound and records how long it took (unbounded for a key with no policy). */
  readonly run: <A, E, R>(key: string, effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | AdaptiveTimeoutExceeded, R>
  /** Records a duration for `key` (when the call is bounded elsewhere). */
  readonly record: (key: string, durationMs: number) => Effect.Effect<void>
  /** `key`'s current bound, or `undefined` for a key with no policy. */
  readonly bound: (key: string) => Effect.Effect<Bound | undefined>
}

/**
 * Adaptive timeout settings.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The `timer` attribute of the metrics and log lines. */
  readonly name: string
  /** One policy for every key, or each key's (read at every call); `undefined`: the key is not bounded here. */
  readonly policy: Policy | ((key: string) => Policy | undefined)
}

const boundGauge = Metric.gauge("mcp_adaptive_timeout_ms", { description: "Current adaptive time bound by timer and key (FM-21)" })
const percentileGauge = Metric.gauge("mcp_latency_percentile_ms", {
  description: "Observed latency percentile by timer and key, over the adaptive window (FM-24)"
})

interface Resolved {
  readonly percentile: number
  readonly factor: number
  readonly minMs: number
  readonly maxMs: number
  readonly window: number
  readonly minSamples: number
}

const resolvedCache = new WeakMap<Policy, Resolved>()
const resolve = (policy: Policy): Resolved => {
  const cached = resolvedCache.get(policy)
  if (cached !== undefined) return cached
  const resolved: Resolved = {
    percentile: policy.percentile ?? 0.99,
    factor: policy.factor ?? 2,
    minMs: toMillis(policy.min),
    maxMs: toMillis(policy.max),
    window: policy.window ?? 100,
    minSamples: Math.min(policy.minSamples ?? 20, policy.window ?? 100)
  }
  resolvedCache.set(policy, resolved)
  return resolved
}

/**
 * The nearest-rank percentile of `samples` (the smallest value with at least `p` of the samples at or below
 * it).
 *
 * @since 0.1.0
 * @category math
 */
export const percentile = (samples: ReadonlyArray<number>, p: number): number => {
  const sorted = [...samples].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!
}

/**
 * The bound that `policy` gives for these samples (the most recent last): `max` before `minSamples`, then
 * `percentile × factor` of the last `window` samples within `[min, max]`. Pure; `make` uses it.
 *
 * @since 0.1.0
 * @category math
 */
export const boundOf = (
  policy: Policy,
  samples: ReadonlyArray<number>
): { readonly timeoutMs: number; readonly phase: Phase; readonly percentileMs: number | undefined } => {
  const r = resolve(policy)
  const window = samples.slice(-r.window)
  if (window.length < r.minSamples) return { timeoutMs: r.maxMs, phase: "warmup", percentileMs: undefined }
  const p = percentile(window, r.percentile)
  const raw = p * r.factor
  if (raw < r.minMs) return { timeoutMs: r.minMs, phase: "at-min", percentileMs: p }
  if (raw > r.maxMs) return { timeoutMs: r.maxMs, phase: "at-max", percentileMs: p }
  return { timeoutMs: Math.ceil(raw), phase: "tracking", percentileMs: p }
}

interface KeyState {
  /** The latest samples, oldest first (at most the policy's window). */
  samples: Array<number>
  policy: Policy
  timeoutMs: number
  phase: Phase
  percentileMs: number | undefined
}

/**
 * Makes adaptive bounds named `name`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<AdaptiveTimeout> =>
  Effect.sync(() => {
    const name = options.name
    const policyOf: (key: string) => Policy | undefined = typeof options.policy === "function"
      ? options.policy
      : (() => {
        const policy = options.policy
        return () => policy
      })()
    const keys = new Map<string, KeyState>()

    const stateOf = (key: string, policy: Policy): KeyState => {
      let state = keys.get(key)
      if (state === undefined) {
        const initial = boundOf(policy, [])
        state = { samples: [], policy, ...initial }
        keys.set(key, state)
      } else if (state.policy !== policy) {
        // a new policy (reconfiguration): keep the samples that fit its window, recompute the bound
        state.policy = policy
        state.samples = state.samples.slice(-resolve(policy).window)
        Object.assign(state, boundOf(policy, state.samples))
      }
      return state
    }

    const record = (key: string, durationMs: number): Effect.Effect<void> =>
      Effect.suspend(() => {
        const policy = policyOf(key)
        if (policy === undefined) return Effect.void
        const state = stateOf(key, policy)
        state.samples.push(Math.max(0, durationMs))
        if (state.samples.length > resolve(policy).window) state.samples.shift()
        const before = state.phase
        const next = boundOf(policy, state.samples)
        state.timeoutMs = next.timeoutMs
        state.phase = next.phase
        state.percentileMs = next.percentileMs
        const attributes = { timer: name, key }
        const gauges = Effect.all([
          Metric.update(Metric.withAttributes(boundGauge, attributes), next.timeoutMs),
          next.percentileMs === undefined ? Effect.void : Metric.update(Metric.withAttributes(percentileGauge, attributes), next.percentileMs)
        ], { discard: true })
        if (before === next.phase) return gauges
        const line = next.phase === "at-max" ? Effect.logWarning : Effect.logInfo
        return Effect.andThen(
          line(`Adaptive timeout of ${key} (${name}): ${before} → ${next.phase}, bound ${next.timeoutMs} ms`).pipe(
            Effect.annotateLogs({ mode: "FM-21", timer: name, key, phase: next.phase, timeoutMs: next.timeoutMs })
          ),
          gauges
        )
      })

    const run = <A, E, R>(key: string, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | AdaptiveTimeoutExceeded, R> =>
      Effect.suspend(() => {
        const policy = policyOf(key)
        if (policy === undefined) return effect
        const state = stateOf(key, policy)
        const timeoutMs = state.timeoutMs
        const samples = state.samples.length
        const percentileMs = state.percentileMs
        return Effect.gen(function*() {
          const start = yield* Clock.currentTimeMillis
          const exit = yield* Effect.timeoutOption(Effect.exit(effect), Duration.millis(timeoutMs))
          if (Option.isNone(exit)) {
            yield* record(key, timeoutMs)
            return yield* new AdaptiveTimeoutExceeded({
              timer: name,
              key,
              timeoutMs,
              samples,
              ...(percentileMs === undefined ? {} : { percentileMs })
            })
          }
          const end = yield* Clock.currentTimeMillis
          yield* record(key, end - start)
          return yield* exit.value
        })
      })

    const bound = (key: string): Effect.Effect<Bound | undefined> =>
      Effect.sync(() => {
        const policy = policyOf(key)
        if (policy === undefined) return undefined
        const state = stateOf(key, policy)
        return { key, timeoutMs: state.timeoutMs, phase: state.phase, samples: state.samples.length, percentileMs: state.percentileMs }
      })

    return { name, run, record, bound } satisfies AdaptiveTimeout
  })
