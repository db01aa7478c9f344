/**
 * fast-check properties whose body is an Effect, each run on a fresh TestClock in its own scope, from inside
 * an `it.effect` test. A failure reports fast-check's seed and path, so the counterexample replays:
 * `Property.check(arbitrary, body, { seed, path })`.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Random from "effect/Random"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as TestClock from "effect/testing/TestClock"
import fc from "fast-check"

/**
 * A property failed: fast-check's report (counterexample, seed, path, and the failure).
 *
 * @since 0.1.0
 * @category errors
 */
export class PropertyFailed extends Schema.TaggedError<PropertyFailed>()("PropertyFailed", {
  report: Schema.String,
  seed: Schema.Number,
  path: Schema.optionalKey(Schema.String),
  counterexample: Schema.String
}) {
  override get message(): string {
    return this.report
  }
}

/**
 * Settings: fast-check's parameters (default 25 runs) and whether each run gets a fresh TestClock (default
 * true; set `false` to run on the clock the test already has, e.g. a live clock).
 *
 * @since 0.1.0
 * @category models
 */
export type Parameters<A> = fc.Parameters<[readonly [A, number]]> & { readonly freshClock?: boolean }

const show = (u: unknown): string => {
  try {
    return fc.stringify(u)
  } catch {
    return String(u)
  }
}

/**
 * Checks `property` for values of `arbitrary`: each run is its own scope (and, by default, its own TestClock
 * starting at 0) with Effect's `Random` seeded by fast-check (so jitter and other random choices replay), with
 * the services of the calling effect. The property holds when its effect succeeds with
 * anything but `false`; a failure, a defect or `false` falsifies it, and fast-check shrinks the value.
 *
 * @example
 * ```ts
 * it.effect("every call is answered under packet loss", () =>
 *   Property.check(FaultSchedule.arbitrary({ tags: ["PacketLoss"] }), (schedule) =>
 *     Effect.flatMap(Scenario.run({ server, client, workload, schedule, seed: 1 }), Scenario.assert)
 *   ).pipe(Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))
 * ```
 *
 * @since 0.1.0
 * @category running
 */
export const check = <A, E, R>(
  arbitrary: fc.Arbitrary<A>,
  property: (value: A) => Effect.Effect<unknown, E, R | Scope.Scope>,
  parameters: Parameters<A> = {}
): Effect.Effect<void, PropertyFailed, Exclude<R, Scope.Scope>> =>
  Effect.gen(function*() {
    const context = yield* Effect.context<Exclude<R, Scope.Scope>>()
    const { freshClock = true, ...fcParameters } = parameters
    const runOne = ([value, seed]: readonly [A, number]): Promise<boolean> => {
      const scoped = Effect.scoped(Effect.suspend(() => property(value))).pipe(Random.withSeed(seed)) as Effect.Effect<
        unknown,
        E,
        Exclude<R, Scope.Scope>
      >
      const program = freshClock ? Effect.provide(scoped, TestClock.layer()) : scoped
      return Effect.runPromiseWith(context)(Effect.exit(program)).then((exit) => {
        if (Exit.isSuccess(exit)) return exit.value !== false
        // fast-check reports the thrown error with the counterexample
        throw new Error(Cause.pretty(exit.cause))
      })
    }
    const result = yield* Effect.promise(() =>
      fc.check(
        // every run also gets a seed for Effect's Random (fixed while shrinking), so what it draws replays
        fc.asyncProperty(fc.tuple(arbitrary, fc.noShrink(fc.integer())), runOne),
        { numRuns: 25, ...fcParameters } as fc.Parameters<[readonly [A, number]]>
      )
    )
    if (!result.failed) return
    const error = result.errorInstance
    const why = error instanceof Error ? error.message : error === undefined || error === null ? "" : String(error)
    return yield* new PropertyFailed({
      report: `${fc.defaultReportMessage(result) ?? "property failed"}${why === "" ? "" : `\nFailure: ${why}`}`,
      seed: result.seed,
      ...(result.counterexamplePath === null ? {} : { path: result.counterexamplePath }),
      counterexample: result.counterexample === null ? "" : show(result.counterexample[0][0])
    })
  })
