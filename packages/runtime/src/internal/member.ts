/**
 * Machinery shared by the tier members: a `Cell` that holds the current incarnation of a supervised
 * instance (empty while it restarts), a member's pairing of its service with its supervised children, and
 * running those children on their own when a service is used outside the tiers.
 */
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import { Supervisor } from "@effect-mcp/faults"

/** The current incarnation of a supervised instance; callers wait (boundedly) while it restarts. */
export interface Cell<A> {
  /** Publishes the instance of a new incarnation. */
  readonly set: (a: A) => Effect.Effect<void>
  /** Marks the instance gone (its incarnation ended). */
  readonly clear: Effect.Effect<void>
  /** The instance now, if any. */
  readonly current: Effect.Effect<Option.Option<A>>
  /** Waits for an instance for at most `timeout`. */
  readonly await: (timeout: Duration.Duration) => Effect.Effect<Option.Option<A>>
}

export const makeCell = <A>(): Effect.Effect<Cell<A>> =>
  Effect.sync(() => {
    let value: A | undefined
    let ready = Deferred.makeUnsafe<A>()
    return {
      set: (a) =>
        Effect.suspend(() => {
          value = a
          if (Deferred.isDoneUnsafe(ready)) ready = Deferred.makeUnsafe<A>()
          return Effect.asVoid(Deferred.succeed(ready, a))
        }),
      clear: Effect.sync(() => {
        value = undefined
        if (Deferred.isDoneUnsafe(ready)) ready = Deferred.makeUnsafe<A>()
      }),
      current: Effect.sync(() => Option.fromUndefinedOr(value)),
      await: (timeout) =>
        Effect.suspend(() => value !== undefined ? Effect.succeed(Option.some(value)) : Effect.timeoutOption(Deferred.await(ready), timeout))
    }
  })

/** A member's service and the children that keep it alive, for a tier (or `standalone`) to supervise. */
export interface Supervised<S> {
  readonly service: S
  readonly members: ReadonlyArray<Supervisor.ChildSpec<unknown>>
}

/** A permanent child that repeats `task` on a spaced schedule; a failed or defective task crashes it. */
export const periodic = <E>(id: string, interval: Duration.Duration, task: Effect.Effect<void, E>): Supervisor.ChildSpec<unknown> => ({
  id,
  restart: "permanent",
  shutdown: 1_000,
  start: Effect.repeat(task, Schedule.spaced(interval))
})

/** A permanent child that publishes an instance into a cell for as long as it runs. */
export const holder = <A, E>(id: string, cell: Cell<A>, acquire: Effect.Effect<A, E, Scope.Scope>): Supervisor.ChildSpec<unknown> => ({
  id,
  restart: "permanent",
  shutdown: 1_000,
  start: Effect.scoped(Effect.gen(function*() {
    yield* Effect.addFinalizer(() => cell.clear)
    const instance = yield* acquire
    yield* cell.set(instance)
    return yield* Effect.never
  }))
})

/** Runs a member's children under its own one_for_one supervisor in the current scope (no tiers). */
export const standalone = <S>(name: string, supervised: Supervised<S>): Effect.Effect<S, never, Scope.Scope> =>
  Effect.as(
    Effect.orDie(Supervisor.make({ strategy: "one_for_one", intensity: 5, periodMs: 60_000, name }, supervised.members)),
    supervised.service
  )

/** A duration from an option, with a default. */
export const duration = (input: Duration.Input | undefined, fallback: Duration.Input): Duration.Duration =>
  Duration.fromInputUnsafe(input ?? fallback)
