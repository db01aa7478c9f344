/**
 * The server's tunables as data (FM-20): concurrency, time bounds, circuit breakers, rate limits, bulkheads
 * and adaptive timeouts, server-wide and per tool. `McpServer.make` validates them before it starts;
 * `McpServer.reconfigure` validates a new set and swaps it in atomically, or keeps the old one and fails
 * with `InvalidConfig` listing every problem.
 *
 * Every field is optional; a missing field turns its mechanism off (`maxConcurrentRequests` and
 * `toolTimeout` have defaults instead: 64 and 5 minutes). Durations are milliseconds, strings such as
 * `"5 seconds"`, or `Duration`s. Unknown keys are problems, so a misspelt setting is refused, not ignored.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import { AdaptiveTimeout, Bulkhead, CircuitBreaker, RateLimit, Tunable } from "@effect-mcp/faults"

/**
 * A rate limit per client (FM-46): `limit` requests per `window` for each key (a token bucket). `per` says
 * what a key is: the connection (default) or the client's declared name (`clientInfo.name`, across its
 * connections; self-declared, so a fairness limit rather than a security one). `onLimiterFailure` decides
 * what a failing limiter does: `"open"` admits (default), `"closed"` refuses (FM-17).
 *
 * @since 0.1.0
 * @category models
 */
export const RateLimitSettings = Schema.Struct({
  ...RateLimit.Limit.fields,
  per: Schema.optionalKey(Schema.Literals(["connection", "client"]))
})

/**
 * A rate limit per client (see the `RateLimitSettings` schema).
 *
 * @since 0.1.0
 * @category models
 */
export type RateLimitSettings = typeof RateLimitSettings.Type

/**
 * One tool's settings, over the server-wide ones: `timeout` (over the tool's own and `toolTimeout`),
 * `circuitBreaker` (`false`: none for this tool), `bulkhead` (this tool's own, in front of the server's),
 * `adaptiveTimeout` (`false`: none for this tool).
 *
 * @since 0.1.0
 * @category models
 */
export const ToolSettings = Schema.Struct({
  timeout: Schema.optionalKey(Tunable.PositiveDurationInput),
  circuitBreaker: Schema.optionalKey(Schema.Union([CircuitBreaker.Policy, Schema.Literal(false)])),
  bulkhead: Schema.optionalKey(Bulkhead.Limits),
  adaptiveTimeout: Schema.optionalKey(Schema.Union([AdaptiveTimeout.Policy, Schema.Literal(false)]))
})

/**
 * One tool's settings (see the `ToolSettings` schema).
 *
 * @since 0.1.0
 * @category models
 */
export type ToolSettings = typeof ToolSettings.Type

/**
 * The server's tunables.
 *
 * - `maxConcurrentRequests`: requests handled (or queued) at once per connection; past it -32010 at once
 *   (FM-37; default 64).
 * - `toolTimeout`: time bound of a tool call unless the tool or `perTool` sets one (FM-38; default 5 min).
 * - `circuitBreaker`: a breaker per tool (`CircuitBreaker.Policy` of `@effect-mcp/faults`; the older
 *   `{ failures, openDuration }` is a policy too). Open: -32011 with `retryAfterMs` (FM-14, FM-42).
 * - `rateLimit`: a token bucket per client, failing open or closed (FM-17, FM-46).
 * - `bulkhead`: a bulkhead shared by all connections for the methods that run handlers (`tools/call`,
 *   `resources/read`, `prompts/get`, `completion/complete`), with a bounded, time-limited queue; full:
 *   -32010 with `retryAfterMs` (FM-04, FM-45).
 * - `adaptiveTimeout`: every tool's bound follows its observed latency, percentile × factor within
 *   `[min, max]` (never past its static bound); past it -32001 (FM-21, FM-24).
 * - `perTool`: settings by tool name.
 *
 * @since 0.1.0
 * @category models
 */
export const ServerConfig = Schema.Struct({
  maxConcurrentRequests: Schema.optionalKey(Tunable.PositiveInt),
  toolTimeout: Schema.optionalKey(Tunable.PositiveDurationInput),
  circuitBreaker: Schema.optionalKey(CircuitBreaker.Policy),
  rateLimit: Schema.optionalKey(RateLimitSettings),
  bulkhead: Schema.optionalKey(Bulkhead.Limits),
  adaptiveTimeout: Schema.optionalKey(AdaptiveTimeout.Policy),
  perTool: Schema.optionalKey(Schema.Record(Schema.String, ToolSettings))
})

/**
 * The server's tunables (see the `ServerConfig` schema).
 *
 * @since 0.1.0
 * @category models
 */
export type ServerConfig = typeof ServerConfig.Type

/**
 * The keys of `ServerConfig`, to pick them out of a larger object (e.g. `McpServer.Options`).
 *
 * @since 0.1.0
 * @category models
 */
export const keys: ReadonlyArray<keyof ServerConfig> = [
  "maxConcurrentRequests",
  "toolTimeout",
  "circuitBreaker",
  "rateLimit",
  "bulkhead",
  "adaptiveTimeout",
  "perTool"
]

/**
 * FM-20: a configuration was refused before anything was applied; `problems` lists every one (a dotted
 * path and what is wrong). The previous configuration stays in force; fix the problems and apply again.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidConfig extends Schema.TaggedError<InvalidConfig>()("InvalidConfig", {
  mode: Schema.tag("FM-20"),
  problems: Schema.Array(Tunable.ProblemSchema)
}) {
  override get message(): string {
    return `Invalid configuration: ${this.problems.map((p) => (p.path === "" ? p.message : `${p.path}: ${p.message}`)).join("; ")}`
  }
}

const check = Tunable.validate(ServerConfig)

/**
 * Validates a configuration: the decoded value, or `InvalidConfig` with every problem (those of the schema,
 * then those `extra` finds in a configuration that passed it).
 *
 * @since 0.1.0
 * @category validation
 */
export const validate = (
  input: unknown,
  extra?: (config: ServerConfig) => ReadonlyArray<Tunable.Problem>
): Effect.Effect<ServerConfig, InvalidConfig> =>
  Effect.suspend(() => {
    const result = check(input)
    if (Result.isFailure(result)) return Effect.fail(new InvalidConfig({ problems: result.failure }))
    const more = extra?.(result.success) ?? []
    return more.length === 0 ? Effect.succeed(result.success) : Effect.fail(new InvalidConfig({ problems: more }))
  })

/**
 * The `ServerConfig` fields of an object (those that are present).
 *
 * @since 0.1.0
 * @category constructors
 */
export const pick = (options: { readonly [K in keyof ServerConfig]?: unknown }): Record<string, unknown> => {
  const picked: Record<string, unknown> = {}
  for (const key of keys) if (options[key] !== undefined) picked[key] = options[key]
  return picked
}

/**
 * The top-level settings that differ between two configurations (for the log line of a reload).
 *
 * @since 0.1.0
 * @category models
 */
export const changed = (before: ServerConfig, after: ServerConfig): ReadonlyArray<keyof ServerConfig> =>
  keys.filter((key) => JSON.stringify(before[key]) !== JSON.stringify(after[key]))
