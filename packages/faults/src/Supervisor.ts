/**
 * An OTP-style supervisor built from Effect's parts (Effect 4 has none). Policy is data, as in Erlang's
 * `supervisor`: child specs (id, start, restart type, shutdown, significant) and a supervisor spec (strategy,
 * intensity, period, auto shutdown, the template of `simple_one_for_one` children, optional restart backoff).
 *
 * The OTP rules, as implemented (each has a test in `test/Supervisor.test.ts`):
 * - Children start left to right and stop in reverse order (`simple_one_for_one` children stop concurrently:
 *   OTP gives them no order).
 * - `permanent` children are always restarted, `transient` ones only after an abnormal exit (a failure or a
 *   defect, not success or interruption), `temporary` ones never, and a temporary child that exits is removed.
 * - Strategies: `one_for_one` restarts the child that exited; `one_for_all` stops the others (in reverse
 *   order) and restarts all; `rest_for_one` stops the children started after it (in reverse order) and
 *   restarts it and them; `simple_one_for_one` supervises dynamic children of one template, each restarted on
 *   its own. A temporary sibling stopped by `one_for_all` or `rest_for_one` is removed, not restarted.
 * - A restart is counted when it is decided; once more than `intensity` restarts fall within `period`
 *   (inclusive window, as `add_restart/1`), every child is stopped (in reverse order) and the supervisor
 *   fails with `SupervisorEscalated` (FM-02), so that its parent's policy decides.
 * - `autoShutdown` (OTP 24): with `any_significant` the supervisor shuts down, normally, when a significant
 *   child ends by itself and is not restarted; with `all_significant` when all of them have.
 * - Extension (not OTP): `backoff`, a Schedule of delays before each restart (after the affected siblings are
 *   stopped). It starts afresh when a restart comes with no other restart in the window.
 * - Not modelled: a failed *start* (a child is one long-running effect with no init phase, so a child that
 *   fails at once is an exit like any other, restarted until the intensity stops it), and `restart_child`
 *   (`terminateChild` is OTP's `terminate_child` followed by `delete_child`).
 *
 * Every start, exit (with its `Cause`), restart, stop, auto shutdown and escalation is an event on a PubSub
 * (the supervisor's own and, optionally, a shared one), a counter (`mcp_supervisor_<kind>_total`, tagged
 * `supervisor` and `child`) and a log line annotated with both.
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
import * as Metric from "effect/Metric"
import * as PubSub from "effect/PubSub"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Semaphore from "effect/Semaphore"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"

/** When a child is restarted. @since 0.1.0 @category models */
export const Restart = Schema.Literals(["permanent", "transient", "temporary"])
/** When a child is restarted. @since 0.1.0 @category models */
export type Restart = typeof Restart.Type

/** How a supervisor reacts to a child's exit. @since 0.1.0 @category models */
export const Strategy = Schema.Literals(["one_for_one", "one_for_all", "rest_for_one", "simple_one_for_one"])
/** How a supervisor reacts to a child's exit. @since 0.1.0 @category models */
export type Strategy = typeof Strategy.Type

/** How long a child's finalizers get when it is stopped: a time in ms, `"brutal_kill"` (0) or `"infinity"`. @since 0.1.0 @category models */
export const Shutdown = Schema.Union([Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0)), Schema.Literals(["brutal_kill", "infinity"])])
/** How long a child's finalizers get when it is stopped. @since 0.1.0 @category models */
export type Shutdown = typeof Shutdown.Type

/** When significant children end the supervisor (OTP's `auto_shutdown`). @since 0.1.0 @category models */
export const AutoShutdown = Schema.Literals(["never", "any_significant", "all_significant"])
/** When significant children end the supervisor. @since 0.1.0 @category models */
export type AutoShutdown = typeof AutoShutdown.Type

/** The data part of a child spec (validated with Schema). @since 0.1.0 @category models */
export const ChildSpecData = Schema.Struct({
  id: Schema.String.check(Schema.isMinLength(1)),
  restart: Restart,
  shutdown: Shutdown,
  significant: Schema.optionalKey(Schema.Boolean)
})

/** A child: its id, how to run it (a long-running effect), its restart type and shutdown time. @since 0.1.0 @category models */
export interface ChildSpec<E = unknown, R = never> {
  readonly id: string
  readonly start: Effect.Effect<unknown, E, R>
  readonly restart: Restart
  readonly shutdown: Shutdown
  /** Whether its own end can shut the supervisor down (`autoShutdown`); never for `permanent` children. */
  readonly significant?: boolean
}

/** The template of `simple_one_for_one` children. @since 0.1.0 @category models */
export const Template = Schema.Struct({ restart: Restart, shutdown: Shutdown, significant: Schema.optionalKey(Schema.Boolean) })

/** The supervisor's policy (validated with Schema). @since 0.1.0 @category models */
export const SupervisorSpec = Schema.Struct({
  strategy: Strategy,
  /** Most restarts allowed within `period` (OTP default 1). */
  intensity: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)),
  /** The sliding window, in ms (OTP default 5,000). */
  periodMs: Schema.Finite.check(Schema.isGreaterThan(0)),
  /** Names the supervisor in events, logs and metrics (default `"supervisor"`). */
  name: Schema.optionalKey(Schema.String.check(Schema.isMinLength(1))),
  /** OTP's `auto_shutdown` (default `"never"`). */
  autoShutdown: Schema.optionalKey(AutoShutdown),
  /** `simple_one_for_one`: restart type and shutdown of every dynamic child (default transient, 5,000 ms). */
  template: Schema.optionalKey(Template)
})
/** The supervisor's policy. @since 0.1.0 @category models */
export type SupervisorSpec = typeof SupervisorSpec.Type & {
  /** Optional delay before each restart (e.g. exponential backoff with jitter); reset after a quiet window. */
  readonly backoff?: Schedule.Schedule<unknown, unknown, never, never>
}

/** The OTP defaults: one_for_one, 1 restart in 5 s. @since 0.1.0 @category constructors */
export const defaults: SupervisorSpec = { strategy: "one_for_one", intensity: 1, periodMs: 5_000 }

/** FM-02: a spec that cannot be run (duplicate ids, invalid values). Nothing was started. @since 0.1.0 @category errors */
export class InvalidSpec extends Schema.TaggedError<InvalidSpec>()("InvalidSpec", {
  mode: Schema.tag("FM-02"),
  detail: Schema.String
}) {}

/** FM-02: the supervisor has stopped (escalated, shut down or its scope closed); it takes no new children. @since 0.1.0 @category errors */
export class SupervisorStopped extends Schema.TaggedError<SupervisorStopped>()("SupervisorStopped", {
  mode: Schema.tag("FM-02"),
  supervisor: Schema.String
}) {}

/**
 * FM-02: more than `intensity` restarts within `period`. Every child was stopped (in reverse order); the
 * parent's policy decides what happens next.
 *
 * @since 0.1.0
 * @category errors
 */
export class SupervisorEscalated extends Schema.TaggedError<SupervisorEscalated>()("SupervisorEscalated", {
  mode: Schema.tag("FM-02"),
  supervisor: Schema.String,
  childId: Schema.String,
  restarts: Schema.Int,
  intensity: Schema.Int,
  periodMs: Schema.Finite,
  lastCause: Schema.String
}) {
  override get message(): string {
    return `Supervisor ${this.supervisor} gave up: ${this.restarts} restarts within ${this.periodMs} ms (intensity ${this.intensity}), last from ${this.childId}: ${this.lastCause}`
  }
}

/** How a child ended, in OTP terms. @since 0.1.0 @category models */
export type ExitReason = "normal" | "shutdown" | "abnormal"

/** What a supervisor reports. Every event names its supervisor. @since 0.1.0 @category models */
export type Event =
  | { readonly _tag: "Started"; readonly supervisor: string; readonly id: string; readonly generation: number }
  | {
    readonly _tag: "Exited"
    readonly supervisor: string
    readonly id: string
    readonly reason: ExitReason
    /** The child's `Cause` (empty after a normal exit). */
    readonly cause: Cause.Cause<unknown>
    /** The cause's first line, for logs. */
    readonly detail: string
  }
  | {
    readonly _tag: "Restarting"
    readonly supervisor: string
    readonly id: string
    /** Restarts within the period, this one included. */
    readonly restarts: number
    /** The children restarted, in start order (the strategy decides). */
    readonly affected: ReadonlyArray<string>
    /** The backoff delay before they start. */
    readonly delayMs: number
  }
  | { readonly _tag: "Stopped"; readonly supervisor: string; readonly id: string; readonly timedOut: boolean }
  | { readonly _tag: "AutoShutdown"; readonly supervisor: string; readonly id: string }
  | { readonly _tag: "Escalated"; readonly supervisor: string; readonly error: SupervisorEscalated }

/** A child's state as the supervisor sees it. @since 0.1.0 @category models */
export interface ChildStatus {
  readonly id: string
  readonly restart: Restart
  readonly running: boolean
  /** Starts so far, plus deliberate stops (a new incarnation has a higher generation). */
  readonly generation: number
}

/** A running supervisor. @since 0.1.0 @category models */
export interface Supervisor<E, R> {
  /** Its name (`spec.name`). */
  readonly name: string
  /** Every event, from now on. */
  readonly events: Stream.Stream<Event>
  /** The children, in start order. */
  readonly children: Effect.Effect<ReadonlyArray<ChildStatus>>
  /** `simple_one_for_one`: starts a new child of the template under the given id. */
  readonly startChild: (id: string, start: Effect.Effect<unknown, E, R>) => Effect.Effect<void, InvalidSpec | SupervisorStopped>
  /** Other strategies: appends a child (OTP `start_child/2` with a child spec) and starts it. */
  readonly addChild: (child: ChildSpec<E, R>) => Effect.Effect<void, InvalidSpec | SupervisorStopped>
  /** Stops a child (its finalizers get its shutdown time) and removes it; it is not restarted. */
  readonly terminateChild: (id: string) => Effect.Effect<boolean>
  /** Completes when the supervisor stops; fails with `SupervisorEscalated` when it gave up. */
  readonly await: Effect.Effect<void, SupervisorEscalated>
}

/** Options that are wiring, not policy. @since 0.1.0 @category models */
export interface Options {
  /** A shared bus that receives every event too (e.g. a runtime's, for its health monitor). */
  readonly events?: PubSub.PubSub<Event>
}

/** OTP's view of an exit: success is normal, interruption is shutdown, a failure or defect is abnormal. @since 0.1.0 @category predicates */
export const reasonOf = (exit: Exit.Exit<unknown, unknown>): ExitReason =>
  Exit.isSuccess(exit) ? "normal" : Cause.hasInterruptsOnly(exit.cause) ? "shutdown" : "abnormal"

/** Does a child with this restart type get restarted after this exit? @since 0.1.0 @category predicates */
export const shouldRestart = (restart: Restart, reason: ExitReason): boolean =>
  restart === "permanent" || (restart === "transient" && reason === "abnormal")

/**
 * OTP's `add_restart/1`: the restart times still within the period (inclusive: a restart exactly `periodMs`
 * ago still counts) plus `now`, and whether that exceeds the intensity.
 *
 * @since 0.1.0
 * @category policies
 */
export const addRestart = (
  restarts: ReadonlyArray<number>,
  now: number,
  intensity: number,
  periodMs: number
): { readonly restarts: ReadonlyArray<number>; readonly escalate: boolean } => {
  const kept = [...restarts.filter((t) => now - t <= periodMs), now]
  return { restarts: kept, escalate: kept.length > intensity }
}

/** The name of the counter of one event kind. @since 0.1.0 @category metrics */
export const metricName = (kind: "starts" | "exits" | "restarts" | "stops" | "escalations" | "auto_shutdowns"): string =>
  `mcp_supervisor_${kind}_total`

const counters = {
  Started: Metric.counter(metricName("starts"), { description: "Children started by a supervisor", incremental: true }),
  Exited: Metric.counter(metricName("exits"), { description: "Children that exited by themselves (tagged by OTP reason)", incremental: true }),
  Restarting: Metric.counter(metricName("restarts"), { description: "Restarts decided by a supervisor", incremental: true }),
  Stopped: Metric.counter(metricName("stops"), { description: "Children stopped by their supervisor", incremental: true }),
  AutoShutdown: Metric.counter(metricName("auto_shutdowns"), { description: "Supervisors shut down by a significant child", incremental: true }),
  Escalated: Metric.counter(metricName("escalations"), { description: "Supervisors that gave up (FM-02)", incremental: true })
}

interface Child<E, R> {
  readonly spec: ChildSpec<E, R>
  fiber: Fiber.Fiber<unknown, E> | undefined
  generation: number
  /** A significant child that ended by itself and was not restarted. */
  ended: boolean
}

const firstLine = (cause: Cause.Cause<unknown>): string => Cause.pretty(cause).split("\n")[0] ?? ""

const checkChild = (child: { readonly id: string; readonly restart: Restart; readonly shutdown: Shutdown; readonly significant?: boolean }, autoShutdown: AutoShutdown): string | undefined => {
  const data = Schema.decodeUnknownExit(ChildSpecData)(child)
  if (Exit.isFailure(data)) return `child ${child.id}: ${Cause.pretty(data.cause)}`
  if (child.significant === true && child.restart === "permanent") return `child ${child.id}: a permanent child cannot be significant`
  if (child.significant === true && autoShutdown === "never") return `child ${child.id}: significant needs autoShutdown`
  return undefined
}

/**
 * Validates the specs and starts the children, left to right, in the current scope. Closing the scope stops
 * them in reverse order. For `simple_one_for_one`, `children` must be empty: add them with `startChild`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <E, R>(
  spec: SupervisorSpec,
  children: ReadonlyArray<ChildSpec<E, R>>,
  options: Options = {}
): Effect.Effect<Supervisor<E, R>, InvalidSpec, R | Scope.Scope> =>
  Effect.gen(function*() {
    const { backoff: _backoff, ...data } = spec
    const checked = Schema.decodeUnknownExit(SupervisorSpec)(data)
    if (Exit.isFailure(checked)) return yield* new InvalidSpec({ detail: Cause.pretty(checked.cause) })
    const name = spec.name ?? "supervisor"
    const autoShutdown = spec.autoShutdown ?? "never"
    const simple = spec.strategy === "simple_one_for_one"
    const template = spec.template ?? { restart: "transient" as const, shutdown: 5_000 }
    const ids = new Set<string>()
    for (const child of children) {
      const problem = checkChild(child, autoShutdown)
      if (problem !== undefined) return yield* new InvalidSpec({ detail: problem })
      if (ids.has(child.id)) return yield* new InvalidSpec({ detail: `duplicate child id ${child.id}` })
      ids.add(child.id)
    }
    if (simple && children.length > 0) {
      return yield* new InvalidSpec({ detail: "simple_one_for_one starts with no children: use startChild" })
    }
    if (simple) {
      const problem = checkChild({ id: "template", ...template }, autoShutdown)
      if (problem !== undefined) return yield* new InvalidSpec({ detail: problem })
    }

    const scope = yield* Effect.scope
    const services = yield* Effect.context<R>()
    const events = yield* PubSub.unbounded<Event>()
    const exits = yield* Queue.unbounded<{ readonly id: string; readonly generation: number; readonly exit: Exit.Exit<unknown, E> }>()
    const done = yield* Deferred.make<void, SupervisorEscalated>()
    // one change at a time: the control loop and startChild/addChild/terminateChild take this lock
    const lock = Semaphore.makeUnsafe(1)
    const state: Array<Child<E, R>> = children.map((s) => ({ spec: s, fiber: undefined, generation: 0, ended: false }))
    let restarts: ReadonlyArray<number> = []
    let stopped = false

    /** The child label of metrics: dynamic children share one series, so ids cannot explode cardinality. */
    const label = (id: string) => (simple ? "*" : id)

    const emit = (event: Event) =>
      Effect.gen(function*() {
        yield* PubSub.publish(events, event)
        if (options.events !== undefined) yield* PubSub.publish(options.events, event)
        const child = event._tag === "Escalated" ? event.error.childId : event.id
        const attributes: Record<string, string> = { supervisor: name, child: label(child) }
        if (event._tag === "Exited") attributes.reason = event.reason
        yield* Metric.update(Metric.withAttributes(counters[event._tag], attributes), 1)
        const log = Effect.annotateLogs({ supervisor: name, child, event: event._tag })
        switch (event._tag) {
          case "Started":
            return yield* log(Effect.logDebug(`${name}: started ${child} (generation ${event.generation})`))
          case "Stopped":
            return yield* log(Effect.logDebug(`${name}: stopped ${child}${event.timedOut ? " (shutdown time exceeded, abandoned)" : ""}`))
          case "Exited":
            return yield* event.reason === "abnormal"
              ? log(Effect.logWarning(`${name}: ${child} exited abnormally`, event.cause))
              : log(Effect.logInfo(`${name}: ${child} exited (${event.reason})`))
          case "Restarting":
            return yield* log(Effect.logInfo(`${name}: restarting ${event.affected.join(", ")} (${event.restarts} within ${spec.periodMs} ms, delay ${event.delayMs} ms)`))
          case "AutoShutdown":
            return yield* log(Effect.logInfo(`${name}: significant child ${child} ended, shutting down`))
          case "Escalated":
            return yield* log(Effect.logError(event.error.message).pipe(Effect.annotateLogs({ mode: event.error.mode })))
        }
      })

    const startOne = (child: Child<E, R>) =>
      Effect.gen(function*() {
        child.generation++
        child.ended = false
        const generation = child.generation
        const id = child.spec.id
        child.fiber = yield* child.spec.start.pipe(
          Effect.provide(services),
          Effect.onExit((exit) => Queue.offer(exits, { id, generation, exit: exit as Exit.Exit<unknown, E> })),
          // detached: the supervisor, not the scope, stops its children, so that a child whose finalizers
          // outlive its shutdown time can be abandoned instead of holding everything up
          Effect.forkDetach
        )
        yield* emit({ _tag: "Started", supervisor: name, id, generation })
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
        let timedOut = false
        if (shutdown === "infinity") yield* Fiber.interrupt(fiber)
        else {
          const ms = shutdown === "brutal_kill" ? 0 : shutdown
          yield* Effect.forkDetach(Fiber.interrupt(fiber))
          const exited = yield* Effect.timeoutOption(Fiber.await(fiber), Duration.millis(ms))
          timedOut = exited._tag === "None"
        }
        yield* emit({ _tag: "Stopped", supervisor: name, id: child.spec.id, timedOut })
      })

    /** Stops children in reverse start order (`simple_one_for_one`: all at once, as OTP). */
    const stopAll = (list: ReadonlyArray<Child<E, R>>) =>
      simple
        ? Effect.forEach(list, stopOne, { discard: true, concurrency: "unbounded" })
        : Effect.forEach([...list].reverse(), stopOne, { discard: true })

    let nextDelay = spec.backoff === undefined ? undefined : yield* Schedule.toStep(spec.backoff)

    /** The backoff delay of this restart; the schedule starts afresh after a quiet window. */
    const delayOf = (fresh: boolean) =>
      Effect.gen(function*() {
        if (spec.backoff === undefined) return 0
        if (fresh || nextDelay === undefined) nextDelay = yield* Schedule.toStep(spec.backoff)
        const now = yield* Clock.currentTimeMillis
        const step = yield* Effect.exit(nextDelay(now, undefined))
        return Exit.isSuccess(step) ? Duration.toMillis(step.value[1]) : 0
      })

    /** Counts a restart; fails with `SupervisorEscalated` when over the intensity. */
    const countRestart = (id: string, cause: string) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const added = addRestart(restarts, now, spec.intensity, spec.periodMs)
        restarts = added.restarts
        if (added.escalate) {
          return yield* new SupervisorEscalated({
            supervisor: name,
            childId: id,
            restarts: added.restarts.length,
            intensity: spec.intensity,
            periodMs: spec.periodMs,
            lastCause: cause
          })
        }
        return added.restarts.length
      })

    const shutDown = (trigger: string) =>
      Effect.gen(function*() {
        yield* stopAll(state)
        stopped = true
        yield* emit({ _tag: "AutoShutdown", supervisor: name, id: trigger })
        yield* Deferred.succeed(done, undefined)
      })

    const onExit = (id: string, generation: number, exit: Exit.Exit<unknown, E>) =>
      Effect.uninterruptibleMask((restore) =>
        Effect.gen(function*() {
          const index = state.findIndex((c) => c.spec.id === id)
          const child = state[index]
          if (child === undefined || child.generation !== generation) return // a deliberate stop, or a stale exit
          child.fiber = undefined
          const reason = reasonOf(exit)
          const cause: Cause.Cause<unknown> = Exit.isFailure(exit) ? exit.cause : Cause.empty
          const detail = Exit.isFailure(exit) ? firstLine(exit.cause) : "normal"
          yield* emit({ _tag: "Exited", supervisor: name, id, reason, cause, detail })
          if (!shouldRestart(child.spec.restart, reason)) {
            if (child.spec.restart === "temporary" || simple) state.splice(index, 1)
            if (child.spec.significant === true) {
              child.ended = true
              if (autoShutdown === "any_significant") return yield* shutDown(id)
              if (autoShutdown === "all_significant") {
                const live = state.filter((c) => c.spec.significant === true && !c.ended)
                if (live.length === 0) return yield* shutDown(id)
              }
            }
            return
          }
          const count = yield* countRestart(id, detail)
          const affected = spec.strategy === "one_for_all"
            ? [...state]
            : spec.strategy === "rest_for_one"
            ? state.slice(index)
            : [child]
          yield* stopAll(affected.filter((c) => c !== child))
          // a temporary sibling stopped on the way is removed, never restarted (OTP)
          const restarted = affected.filter((c) => c === child || c.spec.restart !== "temporary")
          for (const c of affected) if (!restarted.includes(c)) state.splice(state.indexOf(c), 1)
          const delayMs = yield* delayOf(count === 1)
          yield* emit({ _tag: "Restarting", supervisor: name, id, restarts: count, affected: restarted.map((c) => c.spec.id), delayMs })
          if (delayMs > 0) yield* restore(Effect.sleep(Duration.millis(delayMs)))
          for (const c of restarted) yield* startOne(c)
        }).pipe(Effect.withSpan("Supervisor.onExit", { attributes: { supervisor: name, child: id } }))
      )

    // the control loop: one exit at a time, in order
    const loop = yield* Effect.gen(function*() {
      while (!stopped) {
        const { id, generation, exit } = yield* Queue.take(exits)
        yield* lock.withPermit(onExit(id, generation, exit))
      }
    }).pipe(
      Effect.catch((error: SupervisorEscalated) =>
        lock.withPermit(Effect.gen(function*() {
          yield* stopAll(state)
          stopped = true
          yield* emit({ _tag: "Escalated", supervisor: name, error })
          yield* Deferred.fail(done, error)
        }))
      ),
      Effect.forkIn(scope)
    )
    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        // the loop first, so that nothing restarts while the children stop
        yield* Fiber.interrupt(loop)
        yield* stopAll(state)
        stopped = true
        yield* Deferred.succeed(done, undefined)
      })
    )

    yield* lock.withPermit(Effect.forEach(state, startOne, { discard: true }))

    const add = (child: Child<E, R>) =>
      lock.withPermit(Effect.suspend((): Effect.Effect<void, InvalidSpec | SupervisorStopped> => {
        if (stopped) return Effect.fail(new SupervisorStopped({ supervisor: name }))
        if (state.some((c) => c.spec.id === child.spec.id)) {
          return Effect.fail(new InvalidSpec({ detail: `duplicate child id ${child.spec.id}` }))
        }
        state.push(child)
        return startOne(child)
      }))

    return {
      name,
      events: Stream.fromPubSub(events),
      children: Effect.sync(() =>
        state.map((c) => ({ id: c.spec.id, restart: c.spec.restart, running: c.fiber !== undefined, generation: c.generation }))
      ),
      startChild: (id, start) =>
        Effect.suspend(() => {
          if (!simple) return Effect.fail(new InvalidSpec({ detail: "startChild is for simple_one_for_one supervisors: use addChild" }))
          if (id.length === 0) return Effect.fail(new InvalidSpec({ detail: "empty child id" }))
          return add({ spec: { ...template, id, start }, fiber: undefined, generation: 0, ended: false })
        }),
      addChild: (child) =>
        Effect.suspend(() => {
          if (simple) return Effect.fail(new InvalidSpec({ detail: "addChild is not for simple_one_for_one supervisors: use startChild" }))
          const problem = checkChild(child, autoShutdown)
          if (problem !== undefined) return Effect.fail(new InvalidSpec({ detail: problem }))
          return add({ spec: child, fiber: undefined, generation: 0, ended: false })
        }),
      terminateChild: (id) =>
        lock.withPermit(Effect.suspend(() => {
          const index = state.findIndex((c) => c.spec.id === id)
          if (index === -1) return Effect.succeed(false)
          const [child] = state.splice(index, 1)
          return Effect.as(stopOne(child!), true)
        })),
      await: Deferred.await(done)
    } satisfies Supervisor<E, R>
  })

/**
 * A supervisor as a child of another (OTP's `type => supervisor`): starts it in its own scope, calls `onStart`
 * with it, and runs until it stops. Its escalation is an abnormal exit, so the parent's policy decides; its
 * shutdown time is `infinity`, so its own children get theirs.
 *
 * @since 0.1.0
 * @category constructors
 */
export const child = <E, R, R2 = never>(
  id: string,
  spec: SupervisorSpec,
  children: Effect.Effect<ReadonlyArray<ChildSpec<E, R>>, never, R2>,
  options: Options & {
    readonly restart?: Restart
    readonly onStart?: (supervisor: Supervisor<E, R>) => Effect.Effect<void, never, Scope.Scope>
  } = {}
): ChildSpec<InvalidSpec | SupervisorEscalated, R | R2> => ({
  id,
  restart: options.restart ?? "permanent",
  shutdown: "infinity",
  start: Effect.scoped(Effect.gen(function*() {
    const supervisor = yield* make({ ...spec, name: spec.name ?? id }, yield* children, options)
    if (options.onStart !== undefined) yield* options.onStart(supervisor)
    return yield* supervisor.await
  }))
})
