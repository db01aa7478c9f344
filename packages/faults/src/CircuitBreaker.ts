/**
 * Keyed circuit breakers with failure-rate and slow-call thresholds over a sliding window, a limited number of
 * half-open probes, manual reset and forced open, and their state as metrics (FM-14, FM-42).
 *
 * Why not `effect/persistence/CircuitBreaker` as is: its trip policies are `consecutive(n)` and `rate(...)`
 * over the last `size` outcomes, with exactly one half-open probe and no manual control; it has no slow-call
 * threshold, no time window, and emits no metrics. This module keeps its model and vocabulary (Closed, Open,
 * HalfOpen; outcomes success / failure / ignored; a transitions stream; a retry hint on rejection) and adds
 * those pieces.
 *
 * **Details**
 *
 * - Closed: calls run; each outcome goes into the key's window (the last `size` calls, or the calls of the
 *   last `duration` at a granularity of a tenth of it). The circuit opens after `consecutiveFailures`
 *   failures in a row, or once the window holds at least `minimumCalls` calls and the failure rate reaches
 *   `failureRateThreshold` or the slow-call rate reaches `slowCallRateThreshold` (a call is slow when it takes
 *   at least `slowCallDuration`, success or not).
 * - Open: calls fail at once with `CircuitOpen` (mode FM-42) and a `retryAfterMs` hint. After `openDuration`
 *   the circuit moves to HalfOpen by itself (a timer on Effect's `Clock`, so a circuit is never stuck open:
 *   FM-14), whether or not calls arrive.
 * - HalfOpen: up to `halfOpenProbes` calls run at once as probes; others are rejected. Any probe that fails
 *   (or is slow) reopens the circuit; once `halfOpenProbes` probes succeeded it closes with an empty window.
 *   An interrupted or ignored probe frees its slot.
 * - ForcedOpen (manual, `forceOpen`): every call is rejected until `reset`, which closes the circuit and
 *   empties its window whatever its state.
 * - A key with no policy (see `Options.policy`) is only subject to `forceOpen`.
 * - Outcomes of calls admitted before a transition change nothing (each admission carries a generation).
 *
 * Every transition is a log line (a warning when opening), an update of the `mcp_circuit_state` gauge
 * (0 closed, 1 half-open, 2 open, 3 forced open; attributes `breaker` and `key`), a count on
 * `mcp_circuit_transitions_total` (`breaker`, `from`, `to`) and an element of `transitions`. Rejections count
 * on `mcp_circuit_rejections_total` (`breaker`, `key`).
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Metric from "effect/Metric"
import * as PubSub from "effect/PubSub"
import type * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Take from "effect/Take"
import { DurationInput, Fraction, PositiveDurationInput, PositiveInt, type Problem, toMillis, validate } from "./Tunable.ts"

/**
 * The sliding window of a breaker: the last `size` calls, or the calls of the last `duration` (exactly one).
 *
 * @since 0.1.0
 * @category models
 */
export const Window = Schema.Struct({
  size: Schema.optionalKey(PositiveInt),
  duration: Schema.optionalKey(PositiveDurationInput)
}).check(
  Schema.makeFilter((w) => (w.size === undefined) !== (w.duration === undefined) || "give exactly one of size and duration")
)

/**
 * When a circuit opens and how it recovers. Validate untrusted input with this schema (or
 * `validatePolicy`) before handing it to `make`.
 *
 * - `consecutiveFailures` (older name: `failures`): open after that many failures in a row.
 * - `failureRateThreshold`: open when that fraction of the window's calls failed (default 0.5 when neither
 *   `consecutiveFailures` nor `slowCallDuration` is given).
 * - `slowCallDuration` and `slowCallRateThreshold` (default 1): open when that fraction of the window's calls
 *   took at least that long.
 * - `window`: `{ size }` calls (default 100) or `{ duration }`.
 * - `minimumCalls`: rates are judged only once the window holds that many calls (default 10, at most `size`).
 * - `openDuration`: how long an open circuit rejects calls before probing.
 * - `halfOpenProbes`: probe calls let through at once when half-open, all of which must succeed (default 1).
 *
 * @since 0.1.0
 * @category models
 */
export const Policy = Schema.Struct({
  consecutiveFailures: Schema.optionalKey(PositiveInt),
  failures: Schema.optionalKey(PositiveInt),
  failureRateThreshold: Schema.optionalKey(Fraction),
  slowCallDuration: Schema.optionalKey(PositiveDurationInput),
  slowCallRateThreshold: Schema.optionalKey(Fraction),
  window: Schema.optionalKey(Window),
  minimumCalls: Schema.optionalKey(PositiveInt),
  openDuration: DurationInput,
  halfOpenProbes: Schema.optionalKey(PositiveInt)
}).check(
  Schema.makeFilter((p) => {
    const problems: Array<{ readonly path: ReadonlyArray<string>; readonly issue: string }> = []
    if (p.consecutiveFailures !== undefined && p.failures !== undefined) {
      problems.push({ path: ["failures"], issue: "give consecutiveFailures or its older name failures, not both" })
    }
    if (p.slowCallRateThreshold !== undefined && p.slowCallDuration === undefined) {
      problems.push({ path: ["slowCallRateThreshold"], issue: "needs slowCallDuration" })
    }
    if (p.minimumCalls !== undefined && p.window?.size !== undefined && p.minimumCalls > p.window.size) {
      problems.push({ path: ["minimumCalls"], issue: `must be at most window.size (${p.window.size})` })
    }
    return problems
  })
)

/**
 * A breaker policy (see the `Policy` schema).
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
 * The states of a circuit.
 *
 * @since 0.1.0
 * @category models
 */
export type StateTag = "Closed" | "Open" | "HalfOpen" | "ForcedOpen"

/**
 * One circuit's state, as read by `state`.
 *
 * @since 0.1.0
 * @category models
 */
export type State =
  | {
    readonly _tag: "Closed"
    readonly key: string
    /** Calls in the window, and how many of them failed or were slow. */
    readonly calls: number
    readonly failures: number
    readonly slowCalls: number
    readonly consecutiveFailures: number
  }
  | { readonly _tag: "Open"; readonly key: string; readonly retryAfterMs: number; readonly openings: number }
  | {
    readonly _tag: "HalfOpen"
    readonly key: string
    /** Probes running, probes that succeeded, probes needed to close. */
    readonly probing: number
    readonly succeeded: number
    readonly probes: number
  }
  | { readonly _tag: "ForcedOpen"; readonly key: string }

/**
 * Why a circuit changed state.
 *
 * @since 0.1.0
 * @category models
 */
export type Reason =
  | "consecutive-failures"
  | "failure-rate"
  | "slow-call-rate"
  | "probe-failed"
  | "probes-succeeded"
  | "open-elapsed"
  | "reset"
  | "forced-open"

/**
 * A change of state of one circuit.
 *
 * @since 0.1.0
 * @category models
 */
export interface Transition {
  readonly breaker: string
  readonly key: string
  readonly from: StateTag
  readonly to: StateTag
  readonly reason: Reason
  /** Clock time of the change, in ms. */
  readonly at: number
}

/**
 * FM-42: the call was refused without running because its circuit is open (`state` says how). Retry after
 * `retryAfterMs`; a `ForcedOpen` circuit stays open until an operator resets it.
 *
 * @since 0.1.0
 * @category errors
 */
export class CircuitOpen extends Schema.TaggedError<CircuitOpen>()("CircuitOpen", {
  mode: Schema.tag("FM-42"),
  breaker: Schema.String,
  key: Schema.String,
  state: Schema.Literals(["Open", "HalfOpen", "ForcedOpen"]),
  retryAfterMs: Schema.Number
}) {
  override get message(): string {
    return this.state === "ForcedOpen"
      ? `Circuit ${this.key} of ${this.breaker} is forced open`
      : this.state === "HalfOpen"
      ? `Circuit ${this.key} of ${this.breaker} is half-open and its probes are running; retry after ${this.retryAfterMs} ms`
      : `Circuit ${this.key} of ${this.breaker} is open; retry after ${this.retryAfterMs} ms`
  }
}

/**
 * How a call's exit counts: against the dependency (`failure`), for it (`success`), or not at all
 * (`ignored`, e.g. an error that is the caller's fault).
 *
 * @since 0.1.0
 * @category models
 */
export type Outcome = "success" | "failure" | "ignored"

/**
 * Keyed circuits under one policy source.
 *
 * @since 0.1.0
 * @category models
 */
export interface CircuitBreaker {
  /** The breaker's name (the `breaker` attribute of its metrics). */
  readonly name: string
  /**
   * Runs `effect` through the circuit of `key`. `classify` (default: success is `success`, failure or defect
   * is `failure`) decides how the exit counts; an exit that is only interruption is always `ignored`.
   */
  readonly execute: <A, E, R>(
    key: string,
    effect: Effect.Effect<A, E, R>,
    options?: { readonly classify?: ((exit: Exit.Exit<A, E>) => Outcome) | undefined }
  ) => Effect.Effect<A, E | CircuitOpen, R>
  /** The circuit's state (`Closed` with an empty window for a key never seen). */
  readonly state: (key: string) => Effect.Effect<State>
  /** Closes the circuit and empties its window, whatever its state (manual override, FM-14). */
  readonly reset: (key: string) => Effect.Effect<void>
  /** Opens the circuit until `reset` (manual override). */
  readonly forceOpen: (key: string) => Effect.Effect<void>
  /** This breaker's transitions, from subscription on; ends when the breaker's scope closes. */
  readonly transitions: Stream.Stream<Transition>
}

/**
 * Breaker settings.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The `breaker` attribute of the metrics and log lines. */
  readonly name: string
  /**
   * One policy for every key, or the policy of each key, read at every call (so a new configuration applies
   * at once). `undefined` for a key: no automatic tripping, only `forceOpen`.
   */
  readonly policy: Policy | ((key: string) => Policy | undefined)
}

/** The state gauge's value of each state. @since 0.1.0 @category metrics */
export const stateValue: Readonly<Record<StateTag, number>> = { Closed: 0, HalfOpen: 1, Open: 2, ForcedOpen: 3 }

const stateGauge = Metric.gauge("mcp_circuit_state", {
  description: "Circuit state by breaker and key: 0 closed, 1 half-open, 2 open, 3 forced open (FM-14, FM-42)"
})
const transitionsTotal = Metric.counter("mcp_circuit_transitions_total", {
  description: "Circuit state changes by breaker, from and to",
  incremental: true
})
const rejectionsTotal = Metric.counter("mcp_circuit_rejections_total", {
  description: "Calls refused by an open circuit, by breaker and key (FM-42)",
  incremental: true
})

// ---- internals ------------------------------------------------------------------------------------------

interface Resolved {
  readonly consecutive: number | undefined
  readonly failureRate: number | undefined
  readonly slowMs: number | undefined
  readonly slowRate: number
  readonly windowSize: number | undefined
  readonly windowMs: number | undefined
  readonly minimumCalls: number
  readonly openMs: number
  readonly probes: number
}

const resolvedCache = new WeakMap<Policy, Resolved>()

/** The policy with its defaults, in milliseconds. */
const resolve = (policy: Policy): Resolved => {
  const cached = resolvedCache.get(policy)
  if (cached !== undefined) return cached
  const consecutive = policy.consecutiveFailures ?? policy.failures
  const slowMs = policy.slowCallDuration === undefined ? undefined : toMillis(policy.slowCallDuration)
  const windowMs = policy.window?.duration === undefined ? undefined : toMillis(policy.window.duration)
  const windowSize = windowMs === undefined ? policy.window?.size ?? 100 : undefined
  const resolved: Resolved = {
    consecutive,
    failureRate: policy.failureRateThreshold ??
      (consecutive === undefined && slowMs === undefined ? 0.5 : undefined),
    slowMs,
    slowRate: policy.slowCallRateThreshold ?? 1,
    windowSize,
    windowMs,
    minimumCalls: Math.min(policy.minimumCalls ?? 10, windowSize ?? Infinity),
    openMs: toMillis(policy.openDuration),
    probes: policy.halfOpenProbes ?? 1
  }
  resolvedCache.set(policy, resolved)
  return resolved
}

/** The outcomes of a window: the last `size` calls, or the calls of the last `ms` in ten buckets. */
interface SlidingWindow {
  readonly add: (now: number, failed: boolean, slow: boolean) => void
  readonly totals: (now: number) => { readonly calls: number; readonly failures: number; readonly slow: number }
}

const BUCKETS = 10

const countWindow = (size: number): SlidingWindow => {
  const ring = new Uint8Array(size)
  let head = 0
  let calls = 0
  let failures = 0
  let slow = 0
  return {
    add: (_now, failed, isSlow) => {
      if (calls === size) {
        const old = ring[head]!
        failures -= old & 1
        slow -= (old >> 1) & 1
      } else {
        calls++
      }
      ring[head] = (failed ? 1 : 0) | (isSlow ? 2 : 0)
      if (failed) failures++
      if (isSlow) slow++
      head = (head + 1) % size
    },
    totals: () => ({ calls, failures, slow })
  }
}

const timeWindow = (ms: number): SlidingWindow => {
  const width = ms / BUCKETS
  const index = new Float64Array(BUCKETS).fill(-Infinity)
  const calls = new Int32Array(BUCKETS)
  const failures = new Int32Array(BUCKETS)
  const slow = new Int32Array(BUCKETS)
  return {
    add: (now, failed, isSlow) => {
      const i = Math.floor(now / width)
      const slot = ((i % BUCKETS) + BUCKETS) % BUCKETS
      if (index[slot] !== i) {
        index[slot] = i
        calls[slot] = 0
        failures[slot] = 0
        slow[slot] = 0
      }
      calls[slot]!++
      if (failed) failures[slot]!++
      if (isSlow) slow[slot]!++
    },
    totals: (now) => {
      const current = Math.floor(now / width)
      let c = 0
      let f = 0
      let s = 0
      for (let slot = 0; slot < BUCKETS; slot++) {
        if (index[slot]! > current - BUCKETS && index[slot]! <= current) {
          c += calls[slot]!
          f += failures[slot]!
          s += slow[slot]!
        }
      }
      return { calls: c, failures: f, slow: s }
    }
  }
}

interface Circuit {
  state: StateTag
  generation: number
  window: SlidingWindow | undefined
  /** The policy the window was made for (a new policy starts a new window). */
  windowFor: Resolved | undefined
  streak: number
  openUntil: number
  openings: number
  probing: number
  succeeded: number
  timer: Fiber.Fiber<void> | undefined
}

interface Admission {
  readonly generation: number
  readonly probe: boolean
  readonly recorded: boolean
}

const defaultClassify = <A, E>(exit: Exit.Exit<A, E>): Outcome => (Exit.isSuccess(exit) ? "success" : "failure")

/**
 * Makes a breaker. Its open-to-half-open timers and its transitions stream live in the current scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = Effect.fnUntraced(function*(options: Options): Effect.fn.Return<CircuitBreaker, never, Scope.Scope> {
  const scope = yield* Effect.scope
  const pubsub = yield* PubSub.sliding<Take.Take<Transition>>(1024)
  yield* Scope.addFinalizer(scope, PubSub.end(pubsub, Exit.void))
  const name = options.name
  const policyOf: (key: string) => Policy | undefined = typeof options.policy === "function"
    ? options.policy
    : (() => {
      const policy = options.policy
      return () => policy
    })()
  const circuits = new Map<string, Circuit>()

  const fresh = (): Circuit => ({
    state: "Closed",
    generation: 0,
    window: undefined,
    windowFor: undefined,
    streak: 0,
    openUntil: 0,
    openings: 0,
    probing: 0,
    succeeded: 0,
    timer: undefined
  })

  const windowOf = (circuit: Circuit, policy: Resolved): SlidingWindow => {
    if (circuit.window === undefined || circuit.windowFor !== policy) {
      circuit.window = policy.windowMs !== undefined ? timeWindow(policy.windowMs) : countWindow(policy.windowSize!)
      circuit.windowFor = policy
    }
    return circuit.window
  }

  /** Moves a circuit to a state (sync) and returns the transition, if it changed. */
  const move = (key: string, circuit: Circuit, to: StateTag, reason: Reason, now: number): Transition | undefined => {
    const from = circuit.state
    circuit.generation++
    circuit.state = to
    circuit.probing = 0
    circuit.succeeded = 0
    if (to === "Closed") {
      circuit.window = undefined
      circuit.streak = 0
    }
    return from === to ? undefined : { breaker: name, key, from, to, reason, at: now }
  }

  const announce = (transition: Transition | undefined): Effect.Effect<void> => {
    if (transition === undefined) return Effect.void
    const { from, key, reason, to } = transition
    const log = to === "Open" || to === "ForcedOpen" ? Effect.logWarning : Effect.logInfo
    return Effect.all([
      log(`Circuit ${key} of ${name}: ${from} → ${to} (${reason})`).pipe(
        Effect.annotateLogs({ mode: to === "ForcedOpen" || reason === "reset" ? "FM-14" : "FM-42", breaker: name, key, from, to, reason })
      ),
      Metric.update(Metric.withAttributes(stateGauge, { breaker: name, key }), stateValue[to]),
      Metric.update(Metric.withAttributes(transitionsTotal, { breaker: name, from, to }), 1),
      PubSub.publish(pubsub, [transition])
    ], { discard: true })
  }

  const stopTimer = (circuit: Circuit): Effect.Effect<void> => {
    const timer = circuit.timer
    circuit.timer = undefined
    return timer === undefined ? Effect.void : Fiber.interrupt(timer)
  }

  /** Opens a circuit for the policy's open time, with a timer that moves it to HalfOpen. */
  const open = (key: string, circuit: Circuit, policy: Resolved, reason: Reason, now: number): Effect.Effect<void> =>
    Effect.suspend(() => {
      circuit.openUntil = now + policy.openMs
      circuit.openings++
      const transition = move(key, circuit, "Open", reason, now)
      const generation = circuit.generation
      const halfOpen = Effect.sleep(policy.openMs).pipe(
        Effect.andThen(Clock.currentTimeMillis),
        Effect.flatMap((at) => {
          if (circuit.generation !== generation || circuit.state !== "Open") return Effect.void
          circuit.timer = undefined
          return announce(move(key, circuit, "HalfOpen", "open-elapsed", at))
        }),
        Effect.interruptible
      )
      return stopTimer(circuit).pipe(
        Effect.andThen(announce(transition)),
        Effect.andThen(Effect.forkIn(halfOpen, scope)),
        Effect.map((fiber) => {
          if (circuit.generation === generation) circuit.timer = fiber
        })
      )
    })

  const reject = (key: string, state: "Open" | "HalfOpen" | "ForcedOpen", retryAfterMs: number) =>
    Metric.update(Metric.withAttributes(rejectionsTotal, { breaker: name, key }), 1).pipe(
      Effect.andThen(Effect.fail(new CircuitOpen({ breaker: name, key, state, retryAfterMs: Math.max(0, Math.ceil(retryAfterMs)) })))
    )

  /** Admits a call, or rejects it. */
  const admit = (key: string, policy: Resolved | undefined, now: number): Effect.Effect<Admission, CircuitOpen> => {
    let circuit = circuits.get(key)
    if (circuit === undefined) {
      if (policy === undefined) return Effect.succeed({ generation: 0, probe: false, recorded: false })
      circuit = fresh()
      circuits.set(key, circuit)
    }
    if (circuit.state === "ForcedOpen") return reject(key, "ForcedOpen", policy?.openMs ?? 60_000)
    if (policy === undefined) return Effect.succeed({ generation: circuit.generation, probe: false, recorded: false })
    let moved: Transition | undefined
    if (circuit.state === "Open") {
      if (now < circuit.openUntil) return reject(key, "Open", circuit.openUntil - now)
      // the timer has not run yet: the open time is over all the same
      moved = move(key, circuit, "HalfOpen", "open-elapsed", now)
    }
    const c = circuit
    const announced = moved === undefined ? Effect.void : Effect.andThen(stopTimer(c), announce(moved))
    if (c.state === "HalfOpen") {
      if (c.probing >= policy.probes) {
        return Effect.andThen(announced, reject(key, "HalfOpen", Math.min(1_000, policy.openMs)))
      }
      c.probing++
      return Effect.as(announced, { generation: c.generation, probe: true, recorded: true })
    }
    return Effect.as(announced, { generation: c.generation, probe: false, recorded: true })
  }

  /** Records a call's outcome; may open or close the circuit. */
  const record = (
    key: string,
    admission: Admission,
    outcome: Outcome,
    durationMs: number,
    now: number
  ): Effect.Effect<void> => {
    const circuit = circuits.get(key)
    const raw = policyOf(key)
    if (circuit === undefined || raw === undefined || circuit.generation !== admission.generation) return Effect.void
    const policy = resolve(raw)
    const slow = policy.slowMs !== undefined && durationMs >= policy.slowMs
    if (circuit.state === "HalfOpen" && admission.probe) {
      circuit.probing--
      if (outcome === "ignored") return Effect.void
      if (outcome === "failure" || slow) return open(key, circuit, policy, "probe-failed", now)
      circuit.succeeded++
      if (circuit.succeeded < policy.probes) return Effect.void
      return announce(move(key, circuit, "Closed", "probes-succeeded", now))
    }
    if (circuit.state !== "Closed" || outcome === "ignored") return Effect.void
    const failed = outcome === "failure"
    circuit.streak = failed ? circuit.streak + 1 : 0
    const window = windowOf(circuit, policy)
    window.add(now, failed, slow)
    if (policy.consecutive !== undefined && circuit.streak >= policy.consecutive) {
      return open(key, circuit, policy, "consecutive-failures", now)
    }
    const { calls, failures, slow: slowCalls } = window.totals(now)
    if (calls < policy.minimumCalls) return Effect.void
    if (policy.failureRate !== undefined && failures > 0 && failures / calls >= policy.failureRate) {
      return open(key, circuit, policy, "failure-rate", now)
    }
    if (policy.slowMs !== undefined && slowCalls > 0 && slowCalls / calls >= policy.slowRate) {
      return open(key, circuit, policy, "slow-call-rate", now)
    }
    return Effect.void
  }

  const execute = <A, E, R>(
    key: string,
    effect: Effect.Effect<A, E, R>,
    executeOptions?: { readonly classify?: ((exit: Exit.Exit<A, E>) => Outcome) | undefined }
  ): Effect.Effect<A, E | CircuitOpen, R> =>
    Effect.uninterruptibleMask((restore) =>
      Effect.gen(function*() {
        const raw = policyOf(key)
        if (raw === undefined && !circuits.has(key)) return yield* restore(effect)
        const policy = raw === undefined ? undefined : resolve(raw)
        const start = yield* Clock.currentTimeMillis
        const admission = yield* admit(key, policy, start)
        if (!admission.recorded) return yield* restore(effect)
        const exit = yield* Effect.exit(restore(effect))
        const end = yield* Clock.currentTimeMillis
        const classify = executeOptions?.classify ?? defaultClassify
        const outcome: Outcome = Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause) ? "ignored" : classify(exit)
        yield* record(key, admission, outcome, end - start, end)
        return yield* exit
      })
    )

  const state = (key: string): Effect.Effect<State> =>
    Effect.map(Clock.currentTimeMillis, (now): State => {
      const circuit = circuits.get(key)
      if (circuit === undefined) return { _tag: "Closed", key, calls: 0, failures: 0, slowCalls: 0, consecutiveFailures: 0 }
      switch (circuit.state) {
        case "Closed": {
          const totals = circuit.window?.totals(now) ?? { calls: 0, failures: 0, slow: 0 }
          return {
            _tag: "Closed",
            key,
            calls: totals.calls,
            failures: totals.failures,
            slowCalls: totals.slow,
            consecutiveFailures: circuit.streak
          }
        }
        case "Open":
          return { _tag: "Open", key, retryAfterMs: Math.max(0, circuit.openUntil - now), openings: circuit.openings }
        case "HalfOpen": {
          const raw = policyOf(key)
          return {
            _tag: "HalfOpen",
            key,
            probing: circuit.probing,
            succeeded: circuit.succeeded,
            probes: raw === undefined ? 1 : resolve(raw).probes
          }
        }
        case "ForcedOpen":
          return { _tag: "ForcedOpen", key }
      }
    })

  const reset = (key: string): Effect.Effect<void> =>
    Effect.flatMap(Clock.currentTimeMillis, (now) => {
      const circuit = circuits.get(key)
      if (circuit === undefined) return Effect.void
      circuit.openings = 0
      const transition = move(key, circuit, "Closed", "reset", now)
      return Effect.andThen(stopTimer(circuit), announce(transition))
    })

  const forceOpen = (key: string): Effect.Effect<void> =>
    Effect.flatMap(Clock.currentTimeMillis, (now) => {
      let circuit = circuits.get(key)
      if (circuit === undefined) {
        circuit = fresh()
        circuits.set(key, circuit)
      }
      const transition = move(key, circuit, "ForcedOpen", "forced-open", now)
      return Effect.andThen(stopTimer(circuit), announce(transition))
    })

  return {
    name,
    execute,
    state,
    reset,
    forceOpen,
    transitions: Stream.fromPubSubTake(pubsub)
  } satisfies CircuitBreaker
})
