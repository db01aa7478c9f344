/**
 * An OTP-style supervisor built from Effect's parts (Effect 4 has none). Policy is data, as in Erlang's
 * `supervisor`: child specs (id, start, restart type, shutdown) and a supervisor spec (strategy, intensity,
 * period, optional restart backoff).
 *
 * - Children start left to right and stop in reverse order.
 * - `permanent` children are always restarted, `transient` ones only after an abnormal exit (a failure or a
 *   defect, not success or interruption), `temporary` ones never.
 * - Strategies: `one_for_one` restarts the child that exited; `one_for_all` stops the others (in reverse
 *   order) and restarts all; `rest_for_one` stops and restarts the children started after it;
 *   `simple_one_for_one` supervises dynamic children of one template, each restarted on its own.
 * - More than `intensity` restarts within `period` stops every child (in reverse order) and fails the
 *   supervisor with `SupervisorEscalated` (FM-02), so that its parent's policy decides.
 * - Every start, exit (with its cause), restart, stop and escalation is an event on a PubSub and a log line.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as PubSub from "effect/PubSub"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"

/** When a child is restarted. */
export const Restart = Schema.Literals(["permanent", "transient", "temporary"])
/** When a child is restarted. */
export type Restart = typeof Restart.Type

/** How a supervisor reacts to a child's exit. */
export const Strategy = Schema.Literals(["one_for_one", "one_for_all", "rest_for_one", "simple_one_for_one"])
/** How a supervisor reacts to a child's exit. */
export type Strategy = typeof Strategy.Type

/** How long a child's finalizers get when it is stopped: a time in ms, `"brutal_kill"` (0) or `"infinity"`. */
export const Shutdown = Schema.Union([Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0)), Schema.Literals(["brutal_kill", "infinity"])])
/** How long a child's finalizers get when it is stopped. */
export type Shutdown = typeof Shutdown.Type

/** The data part of a child spec (validated with Schema). */
export const ChildSpecData = Schema.Struct({
  id: Schema.String.check(Schema.isMinLength(1)),
  restart: Restart,
  shutdown: Shutdown
})

/** A child: its id, how to run it (a long-running effect), its restart type and shutdown time. */
export interface ChildSpec<E = unknown, R = never> {
  readonly id: string
  readonly start: Effect.Effect<unknown, E, R>
  readonly restart: Restart
  readonly shutdown: Shutdown
}

/** The supervisor's policy (validated with Schema). */
export const SupervisorSpec = Schema.Struct({
  strategy: Strategy,
  /** Most restarts allowed within `period` (OTP default 1). */
  intensity: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)),
  /** The sliding window, in ms (OTP default 5,000). */
  periodMs: Schema.Finite.check(Schema.isGreaterThan(0))
})
/** The supervisor's policy. */
export type SupervisorSpec = typeof SupervisorSpec.Type & {
  /** Optional delay before each restart (e.g. exponential backoff with jitter). Delays do not count as time. */
  readonly backoff?: Schedule.Schedule<unknown, unknown, never, never>
}

/** The OTP defaults: one_for_one, 1 restart in 5 s. */
export const defaults: SupervisorSpec = { strategy: "one_for_one", intensity: 1, periodMs: 5_000 }

/** FM-02: a spec that cannot be run (duplicate ids, invalid values). Nothing was started. */
export class InvalidSpec extends Schema.TaggedError<InvalidSpec>()("InvalidSpec", {
  mode: Schema.tag("FM-02"),
  detail: Schema.String
}) {}

/**
 * FM-02: more than `intensity` restarts within `period`. Every child was stopped (in reverse order); the
 * parent's policy decides what happens next.
 */
export class SupervisorEscalated extends Schema.TaggedError<SupervisorEscalated>()("SupervisorEscalated", {
  mode: Schema.tag("FM-02"),
  childId: Schema.String,
  restarts: Schema.Int,
  intensity: Schema.Int,
  periodMs: Schema.Finite,
  lastCause: Schema.String
}) {
  override get message(): string {
    return `Supervisor gave up: ${this.restarts} restarts within ${this.periodMs} ms (intensity ${this.intensity}), last from ${this.childId}: ${this.lastCause}`
  }
}

/** How a child ended, in OTP terms. */
export type ExitReason = "normal" | "shutdown" | "abnormal"

/** What a supervisor reports. */
export type Event =
  | { readonly _tag: "Started"; readonly id: string; readonly generation: number }
  | { readonly _tag: "Exited"; readonly id: string; readonly reason: ExitReason; readonly cause: string }
  | { readonly _tag: "Restarting"; readonly id: string; readonly restarts: number }
  | { readonly _tag: "Stopped"; readonly id: string }
  | { readonly _tag: "Escalated"; readonly error: SupervisorEscalated }

/** A child's state as the supervisor sees it. */
export interface ChildStatus {
  readonly id: string
  readonly restart: Restart
  readonly running: boolean
  readonly generation: number
}

/** A running supervisor. */
export interface Supervisor<E, R> {
  /** Every event, from now on. */
  readonly events: Stream.Stream<Event>
  /** The children, in start order. */
  readonly children: Effect.Effect<ReadonlyArray<ChildStatus>>
  /** `simple_one_for_one`: starts a new child of the template under the given id. */
  readonly startChild: (id: string, start: Effect.Effect<unknown, E, R>) => Effect.Effect<void, InvalidSpec>
  /** Stops a child (its finalizers get its shutdown time) and removes it; it is not restarted. */
  readonly terminateChild: (id: string) => Effect.Effect<void>
  /** Completes when the supervisor stops; fails with `SupervisorEscalated` when it gave up. */
  readonly await: Effect.Effect<void, SupervisorEscalated>
}

/** OTP's view of an exit: success is normal, interruption is shutdown, a failure or defect is abnormal. */
export const reasonOf = (exit: Exit.Exit<unknown, unknown>): ExitReason =>
  Exit.isSuccess(exit) ? "normal" : Cause.hasInterruptsOnly(exit.cause) ? "shutdown" : "abnormal"

/** Does a child with this restart type get restarted after this exit? */
export const shouldRestart = (restart: Restart, reason: ExitReason): boolean =>
  restart === "permanent" || (restart === "transient" && reason === "abnormal")

interface Child<E, R> {
  readonly spec: ChildSpec<E, R>
  fiber: Fiber.Fiber<unknown, E> | undefined
  generation: number
}

/**
 * Validates the specs and starts the children, left to right, in the current scope. Closing the scope stops
 * them in reverse order.
 */
export const make = <E, R>(
  spec: SupervisorSpec,
  children: ReadonlyArray<ChildSpec<E, R>>
): Effect.Effect<Supervisor<E, R>, InvalidSpec, R | Scope.Scope> =>
  Effect.gen(function*() {
    const checked = Schema.decodeUnknownExit(SupervisorSpec)({ strategy: spec.strategy, intensity: spec.intensity, periodMs: spec.periodMs })
    if (Exit.isFailure(checked)) return yield* new InvalidSpec({ detail: Cause.pretty(checked.cause) })
    const ids = new Set<string>()
    for (const child of children) {
      const data = Schema.decodeUnknownExit(ChildSpecData)({ id: child.id, restart: child.restart, shutdown: child.shutdown })
      if (Exit.isFailure(data)) return yield* new InvalidSpec({ detail: `child ${child.id}: ${Cause.pretty(data.cause)}` })
      if (ids.has(child.id)) return yield* new InvalidSpec({ detail: `duplicate child id ${child.id}` })
      ids.add(child.id)
    }
    if (spec.strategy === "simple_one_for_one" && children.length > 0) {
      return yield* new InvalidSpec({ detail: "simple_one_for_one starts with no children: use startChild" })
    }

    const scope = yield* Effect.scope
    const services = yield* Effect.context<R>()
    const events = yield* PubSub.unbounded<Event>()
    const exits = yield* Queue.unbounded<{ readonly id: string; readonly generation: number; readonly exit: Exit.Exit<unknown, E> }>()
    const done = yield* Deferred.make<void, SupervisorEscalated>()
    const state: Array<Child<E, R>> = children.map((s) => ({ spec: s, fiber: undefined, generation: 0 }))
    let restarts: Array<number> = []
    let template: ChildSpec<E, R> | undefined

    const emit = (event: Event) =>
      Effect.andThen(
        PubSub.publish(events, event),
        Effect.logDebug(`supervisor: ${event._tag}`).pipe(Effect.annotateLogs({ event: JSON.stringify(event) }))
      )

    const startOne = (child: Child<E, R>) =>
      Effect.gen(function*() {
        child.generation++
        const generation = child.generation
        const id = child.spec.id
        child.fiber = yield* child.spec.start.pipe(
          Effect.provide(services),
          Effect.onExit((exit) => Queue.offer(exits, { id, generation, exit: exit as Exit.Exit<unknown, E> })),
          // detached: the supervisor, not the scope, stops its children, so that a child whose finalizers
          // outlive its shutdown time can be abandoned instead of holding everything up
          Effect.forkDetach
        )
        yield* emit({ _tag: "Started", id, generation })
      })

    /** Stops a child: interrupts it and waits up to its shutdown time for its finalizers. */
    const stopOne = (child: Child<E, R>) =>
      Effect.gen(function*() {
        const fiber = child.fiber
        child.fiber = undefined
        // the exit of a deliberate stop is not a crash: move the generation on so it is ignored
        child.generation++
        if (fiber === undefined) return
        const shutdown = child.spec.shutdown
        if (shutdown === "infinity") yield* Fiber.interrupt(fiber)
        else {
          const ms = shutdown === "brutal_kill" ? 0 : shutdown
          yield* Effect.forkDetach(Fiber.interrupt(fiber))
          yield* Effect.timeoutOption(Fiber.await(fiber), Duration.millis(ms))
        }
        yield* emit({ _tag: "Stopped", id: child.spec.id })
      })

    const stopAll = (list: ReadonlyArray<Child<E, R>>) => Effect.forEach([...list].reverse(), stopOne, { discard: true })

    const backoffDelays = spec.backoff === undefined ? undefined : yield* Schedule.toStepWithSleep(spec.backoff)

    /** Counts a restart; fails with `SupervisorEscalated` when over the intensity. */
    const countRestart = (id: string, cause: string) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        restarts = [...restarts.filter((t) => now - t < spec.periodMs), now]
        if (restarts.length > spec.intensity) {
          return yield* new SupervisorEscalated({
            childId: id,
            restarts: restarts.length,
            intensity: spec.intensity,
            periodMs: spec.periodMs,
            lastCause: cause
          })
        }
        yield* emit({ _tag: "Restarting", id, restarts: restarts.length })
        if (backoffDelays !== undefined) yield* Effect.ignore(backoffDelays(undefined))
      })

    const onExit = (id: string, generation: number, exit: Exit.Exit<unknown, E>) =>
      Effect.gen(function*() {
        const index = state.findIndex((c) => c.spec.id === id)
        const child = state[index]
        if (child === undefined || child.generation !== generation) return // a deliberate stop, or a stale exit
        child.fiber = undefined
        const reason = reasonOf(exit)
        const cause = Exit.isFailure(exit) ? Cause.pretty(exit.cause).split("\n")[0] ?? "" : "normal"
        yield* emit({ _tag: "Exited", id, reason, cause })
        if (!shouldRestart(child.spec.restart, reason)) {
          if (child.spec.restart === "temporary" || spec.strategy === "simple_one_for_one") state.splice(index, 1)
          return
        }
        yield* countRestart(id, cause)
        switch (spec.strategy) {
          case "one_for_one":
          case "simple_one_for_one":
            return yield* startOne(child)
          case "one_for_all": {
            yield* stopAll(state.filter((c) => c !== child))
            for (const c of state) yield* startOne(c)
            return
          }
          case "rest_for_one": {
            const rest = state.slice(index + 1)
            yield* stopAll(rest)
            for (const c of state.slice(index)) yield* startOne(c)
            return
          }
        }
      })

    // the control loop: one exit at a time, in order
    yield* Queue.take(exits).pipe(
      Effect.flatMap(({ id, generation, exit }) => onExit(id, generation, exit)),
      Effect.forever,
      Effect.catch((error: SupervisorEscalated) =>
        Effect.gen(function*() {
          yield* stopAll(state)
          yield* emit({ _tag: "Escalated", error })
          yield* Effect.logError(error.message).pipe(Effect.annotateLogs({ mode: error.mode }))
          yield* Deferred.fail(done, error)
        })
      ),
      Effect.forkIn(scope)
    )
    yield* Effect.addFinalizer(() => Effect.asVoid(Effect.andThen(stopAll(state), Deferred.succeed(done, undefined))))

    for (const child of state) yield* startOne(child)

    return {
      events: Stream.fromPubSub(events),
      children: Effect.sync(() =>
        state.map((c) => ({ id: c.spec.id, restart: c.spec.restart, running: c.fiber !== undefined, generation: c.generation }))
      ),
      startChild: (id, start) =>
        Effect.suspend(() => {
          if (spec.strategy !== "simple_one_for_one") {
            return Effect.fail(new InvalidSpec({ detail: "startChild is for simple_one_for_one supervisors" }))
          }
          if (state.some((c) => c.spec.id === id)) return Effect.fail(new InvalidSpec({ detail: `duplicate child id ${id}` }))
          const base = template ?? { id, start, restart: "transient" as const, shutdown: 5_000 }
          template = base
          const child: Child<E, R> = { spec: { ...base, id, start }, fiber: undefined, generation: 0 }
          state.push(child)
          return startOne(child)
        }),
      terminateChild: (id) =>
        Effect.suspend(() => {
          const index = state.findIndex((c) => c.spec.id === id)
          if (index === -1) return Effect.void
          const [child] = state.splice(index, 1)
          return stopOne(child!)
        }),
      await: Deferred.await(done)
    } satisfies Supervisor<E, R>
  })
