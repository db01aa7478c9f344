/**
 * Tier 2: graceful drain (FM-40, FM-09). Work in flight is counted with `track`; `drain` stops accepting
 * (new work fails with `Draining`), lets what is in flight finish until the deadline, interrupts what is
 * left, then runs the close hooks (last registered first: listeners, stores) and reports.
 *
 * The phase, the in-flight count and the absolute deadline outlive the supervised member (the
 * coordinator): a coordinator that crashes mid-drain restarts and carries on against the same deadline,
 * and a close hook is never run twice.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import * as Member from "./internal/member.ts"

/** Where the drain is. @since 0.1.0 @category models */
export type Phase = "accepting" | "draining" | "closed"

/** FM-40: the process is draining or closed and takes no new work. Answer 503 and let the client go elsewhere. @since 0.1.0 @category errors */
export class Draining extends Schema.TaggedError<Draining>()("Draining", {
  mode: Schema.tag("FM-40"),
  phase: Schema.Literals(["draining", "closed"])
}) {}

/** What a drain did. @since 0.1.0 @category models */
export interface Report {
  /** Work that finished by itself after the drain began. */
  readonly finished: number
  /** Work interrupted at the deadline. */
  readonly interrupted: number
  /** Whether the deadline passed with work still in flight. */
  readonly timedOut: boolean
  readonly durationMs: number
}

/** Settings. @since 0.1.0 @category models */
export interface Options {
  /** The default deadline of `drain` (default 30 s). */
  readonly deadline?: Duration.Input
}

/** The service's shape. @since 0.1.0 @category models */
export interface Shape {
  readonly phase: Effect.Effect<Phase>
  readonly changes: Stream.Stream<Phase>
  readonly inFlight: Effect.Effect<number>
  /** Runs `effect` as work in flight; fails with `Draining` once the drain began. */
  readonly track: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | Draining, R>
  /** Registers a hook run after the in-flight work is done (last registered, first run). */
  readonly onClose: (hook: Effect.Effect<void>) => Effect.Effect<void>
  /** Starts the drain (once; later calls join it) and waits for its report. */
  readonly drain: (deadline?: Duration.Input) => Effect.Effect<Report>
  /** Waits for the drain's report. */
  readonly await: Effect.Effect<Report>
}

/**
 * The graceful drain.
 *
 * @since 0.1.0
 * @category services
 */
export class Drain extends Context.Service<Drain, Shape>()("effect-mcp/runtime/Drain") {
  /** The drain supervised on its own (outside the tiers). */
  static readonly layer = (options: Options = {}): Layer.Layer<Drain> =>
    Layer.effect(Drain)(Effect.flatMap(make(options), (s) => Member.standalone("drain", s)))
}

/** The service and its member (`coordinator`). @since 0.1.0 @category constructors */
export const make = (options: Options = {}): Effect.Effect<Member.Supervised<Shape>> =>
  Effect.gen(function*() {
    const defaultDeadline = Member.duration(options.deadline, "30 seconds")
    const phase = yield* SubscriptionRef.make<Phase>("accepting")
    const inFlight = yield* SubscriptionRef.make(0)
    const requested = yield* Deferred.make<void>()
    const hardStop = yield* Deferred.make<void>()
    const report = yield* Deferred.make<Report>()
    const hooks: Array<Effect.Effect<void>> = []
    const state = { startedAt: 0, deadlineAt: 0, finished: 0, interrupted: 0, timedOut: false }

    const track = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | Draining, R> =>
      Effect.suspend((): Effect.Effect<A, E | Draining, R> => {
        const now = SubscriptionRef.getUnsafe(phase)
        if (now !== "accepting") return Effect.fail(new Draining({ phase: now }))
        return SubscriptionRef.update(inFlight, (n) => n + 1).pipe(
          Effect.andThen(Effect.raceFirst(effect, Effect.andThen(Deferred.await(hardStop), Effect.interrupt))),
          Effect.onExit((exit) =>
            Effect.andThen(
              Effect.sync(() => {
                if (SubscriptionRef.getUnsafe(phase) === "accepting") return
                if (Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause)) state.interrupted++
                else state.finished++
              }),
              SubscriptionRef.update(inFlight, (n) => n - 1)
            )
          )
        )
      })

    const idle = SubscriptionRef.changes(inFlight).pipe(Stream.takeUntil((n) => n === 0), Stream.runDrain)

    // the coordinator: waits for a request, then runs (or resumes) the drain against the stored deadline
    const coordinate = Effect.gen(function*() {
      yield* Deferred.await(requested)
      if (!(yield* Deferred.isDone(report))) {
        const now = yield* Clock.currentTimeMillis
        const left = Math.max(0, state.deadlineAt - now)
        const finished = yield* Effect.timeoutOption(idle, Duration.millis(left))
        if (finished._tag === "None") {
          state.timedOut = true
          yield* Effect.logWarning(`drain: deadline passed with ${SubscriptionRef.getUnsafe(inFlight)} in flight; interrupting`).pipe(
            Effect.annotateLogs({ mode: "FM-40" })
          )
          yield* Deferred.succeed(hardStop, undefined)
          yield* idle
        }
        // each hook leaves the list before it runs, so a restarted coordinator never runs one twice
        for (let hook = hooks.pop(); hook !== undefined; hook = hooks.pop()) {
          yield* Effect.exit(hook)
        }
        yield* SubscriptionRef.set(phase, "closed")
        const end = yield* Clock.currentTimeMillis
        const done: Report = { finished: state.finished, interrupted: state.interrupted, timedOut: state.timedOut, durationMs: end - state.startedAt }
        yield* Effect.logInfo(`drain: closed (${done.finished} finished, ${done.interrupted} interrupted, ${done.durationMs} ms)`)
        yield* Deferred.succeed(report, done)
      }
      return yield* Effect.never
    })

    const service: Shape = {
      phase: SubscriptionRef.get(phase),
      changes: SubscriptionRef.changes(phase),
      inFlight: SubscriptionRef.get(inFlight),
      track,
      onClose: (hook) => Effect.sync(() => void hooks.push(hook)),
      drain: Effect.fn("Drain.drain")(function*(deadline?: Duration.Input) {
        if (SubscriptionRef.getUnsafe(phase) === "accepting") {
          const now = yield* Clock.currentTimeMillis
          state.startedAt = now
          state.deadlineAt = now + Duration.toMillis(Member.duration(deadline, defaultDeadline))
          yield* SubscriptionRef.set(phase, "draining")
          yield* Effect.logInfo(`drain: stopped accepting; ${SubscriptionRef.getUnsafe(inFlight)} in flight`)
          yield* Deferred.succeed(requested, undefined)
        }
        return yield* Deferred.await(report)
      }),
      await: Deferred.await(report)
    }
    return {
      service,
      members: [{ id: "coordinator", restart: "permanent", shutdown: 1_000, start: coordinate }]
    }
  })
