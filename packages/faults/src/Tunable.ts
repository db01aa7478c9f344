/**
 * Schemas for tunable settings (durations, fractions, counts) and validation that lists every problem, shared
 * by the resilience policies of this package and by configurations built from them (FM-20).
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as SchemaIssue from "effect/SchemaIssue"

const isDurationInput = (u: unknown): u is Duration.Input => {
  if (typeof u !== "number" && typeof u !== "string" && !Duration.isDuration(u)) return false
  try {
    return Option.isSome(Duration.fromInput(u as Duration.Input))
  } catch {
    return false
  }
}

/**
 * Milliseconds of a duration input.
 *
 * @since 0.1.0
 * @category conversions
 */
export const toMillis = (d: Duration.Input): number => Duration.toMillis(Duration.fromInputUnsafe(d))

/**
 * A finite, non-negative duration: milliseconds, a string such as `"5 seconds"`, or a `Duration`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const DurationInput = Schema.declare(isDurationInput, {
  expected: "a duration (milliseconds, or a string such as \"5 seconds\")"
}).check(
  Schema.makeFilter((d: Duration.Input) => {
    const ms = toMillis(d)
    return (Number.isFinite(ms) && ms >= 0) || "must be a finite duration, not negative"
  })
)

/**
 * A finite duration of more than zero.
 *
 * @since 0.1.0
 * @category schemas
 */
export const PositiveDurationInput = Schema.declare(isDurationInput, {
  expected: "a duration (milliseconds, or a string such as \"5 seconds\")"
}).check(
  Schema.makeFilter((d: Duration.Input) => {
    const ms = toMillis(d)
    return (Number.isFinite(ms) && ms > 0) || "must be a finite duration of more than zero"
  })
)

/**
 * An integer of at least 1.
 *
 * @since 0.1.0
 * @category schemas
 */
export const PositiveInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(1))

/**
 * An integer of at least 0.
 *
 * @since 0.1.0
 * @category schemas
 */
export const NonNegativeInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))

/**
 * A fraction in (0, 1].
 *
 * @since 0.1.0
 * @category schemas
 */
export const Fraction = Schema.Finite.check(
  Schema.makeFilter((n: number) => (n > 0 && n <= 1) || "must be a fraction in (0, 1]")
)

/**
 * One problem found in a setting: where (a dotted path, empty for the whole) and what.
 *
 * @since 0.1.0
 * @category models
 */
export interface Problem {
  readonly path: string
  readonly message: string
}

/**
 * The schema of a `Problem`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ProblemSchema = Schema.Struct({ path: Schema.String, message: Schema.String })

const formatter = SchemaIssue.makeFormatterStandardSchemaV1()

/**
 * Every problem of a schema issue, flattened. A union member that is only `false` (a switch) does not add
 * "Expected false" where its other member has problems of its own.
 *
 * @since 0.1.0
 * @category validation
 */
export const problemsOf = (issue: SchemaIssue.Issue): ReadonlyArray<Problem> => {
  const all = formatter(issue).issues.map((i): Problem => ({
    path: (i.path ?? []).map((p) => String(typeof p === "object" && p !== null && "key" in p ? p.key : p)).join("."),
    message: i.message
  }))
  return all.filter((p) =>
    p.message !== "Expected false" || !all.some((q) => q !== p && q.path.startsWith(p.path === "" ? "" : `${p.path}.`))
  )
}

/**
 * A validator for `schema`: the decoded value, or every problem (unknown keys are problems too).
 *
 * @since 0.1.0
 * @category validation
 */
export const validate = <S extends Schema.ConstraintDecoder<unknown>>(schema: S) => {
  const decode = Schema.decodeUnknownResult(schema, { errors: "all", onExcessProperty: "error" })
  return (input: unknown): Result.Result<S["Type"], ReadonlyArray<Problem>> => {
    const result = decode(input)
    return Result.isSuccess(result) ? Result.succeed(result.success) : Result.fail(problemsOf(result.failure.issue))
  }
}
