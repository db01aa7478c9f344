/**
 * Tier 5: liveness and readiness as data, and the HTTP routes that serve them with the metrics.
 *
 * - Checks are registered by name (the runtime registers its own: the supervision tree is up, the registry is
 *   healthy, the process is not draining, the resources are under critical); each runs with a time bound, so
 *   a stuck check reads as a failed one, never as a hung probe.
 * - `routes()` gives a Node `(request, response) => boolean` handler for `GET /health` (liveness),
 *   `GET /ready` (readiness; 503 when not ready) and `GET /metrics` (the Prometheus text exposition of every
 *   Effect metric, through `effect/observability/PrometheusMetrics`). It fits the `routes` option of
 *   `StreamableHttpServer.serve`.
 * - The health monitor (this tier's member) evaluates readiness on a schedule, keeps the last report for
 *   `changes`, logs transitions and sets the `mcp_ready` gauge.
 *
 * @since 0.1.0
 */
import type * as http from "node:http"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as PrometheusMetrics from "effect/observability/PrometheusMetrics"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import * as Member from "./internal/member.ts"

/** What a check says: a boolean, or a verdict with a reason. @since 0.1.0 @category models */
export type Verdict = boolean | { readonly ok: boolean; readonly detail: string }

/** One check's outcome. @since 0.1.0 @category models */
export interface CheckResult {
  readonly name: string
  readonly ok: boolean
  readonly detail?: string
}

/** A liveness or readiness report. @since 0.1.0 @category models */
export interface Report {
  readonly status: "up" | "down"
  readonly checks: ReadonlyArray<CheckResult>
  readonly checkedAt: number
}

/** Settings. @since 0.1.0 @category models */
export interface Options {
  /** Bound of each check (default 1 s). */
  readonly checkTimeout?: Duration.Input
  /** How often the health monitor evaluates readiness (default 5 s). */
  readonly interval?: Duration.Input
}

/** The paths of `routes` (defaults `/health`, `/ready`, `/metrics`) and the metric name prefix. @since 0.1.0 @category models */
export interface RoutesOptions {
  readonly healthPath?: string
  readonly readyPath?: string
  readonly metricsPath?: string
  readonly metricsPrefix?: string
}

/** A Node route handler: `true` when it answered the request. @since 0.1.0 @category models */
export type Routes = (request: http.IncomingMessage, response: http.ServerResponse) => boolean

/** The service's shape. @since 0.1.0 @category models */
export interface Shape {
  readonly addLivenessCheck: (name: string, check: Effect.Effect<Verdict>) => Effect.Effect<void>
  readonly addReadinessCheck: (name: string, check: Effect.Effect<Verdict>) => Effect.Effect<void>
  readonly liveness: Effect.Effect<Report>
  readonly readiness: Effect.Effect<Report>
  /** The readiness the monitor last saw (`None` before its first run), then each change of status. */
  readonly changes: Stream.Stream<Report>
  /** The `/health`, `/ready` and `/metrics` handler, running in the current context. */
  readonly routes: (options?: RoutesOptions) => Effect.Effect<Routes>
}

/**
 * Liveness, readiness and their routes.
 *
 * @since 0.1.0
 * @category services
 */
export class Health extends Context.Service<Health, Shape>()("effect-mcp/runtime/Health") {
  /** Health supervised on its own (outside the tiers). */
  static readonly layer = (options: Options = {}): Layer.Layer<Health> =>
    Layer.effect(Health)(Effect.flatMap(make(options), (s) => Member.standalone("health", s)))
}

const readyGauge = Metric.gauge("mcp_ready", { description: "1 when the process is ready to serve" })

/** Renders the Prometheus text exposition of the metrics of a context. @since 0.1.0 @category metrics */
export const prometheus = (context: Context.Context<never>, prefix?: string): string =>
  PrometheusMetrics.formatUnsafe(context, prefix === undefined ? undefined : { prefix })

/** The service and its member (`monitor`). @since 0.1.0 @category constructors */
export const make = (options: Options = {}): Effect.Effect<Member.Supervised<Shape>> =>
  Effect.gen(function*() {
    const checkTimeout = Member.duration(options.checkTimeout, "1 second")
    const liveChecks = new Map<string, Effect.Effect<Verdict>>()
    const readyChecks = new Map<string, Effect.Effect<Verdict>>()
    const last = yield* SubscriptionRef.make<Option.Option<Report>>(Option.none())

    const run = (name: string, check: Effect.Effect<Verdict>): Effect.Effect<CheckResult> =>
      check.pipe(
        Effect.timeoutOption(checkTimeout),
        Effect.exit,
        Effect.map((exit): CheckResult => {
          if (exit._tag === "Failure") return { name, ok: false, detail: "the check failed" }
          if (Option.isNone(exit.value)) return { name, ok: false, detail: `no answer within ${Duration.format(checkTimeout)}` }
          const verdict = exit.value.value
          return typeof verdict === "boolean" ? { name, ok: verdict } : { name, ok: verdict.ok, detail: verdict.detail }
        })
      )

    const report = (checks: Map<string, Effect.Effect<Verdict>>) =>
      Effect.gen(function*() {
        const results = yield* Effect.forEach([...checks], ([name, check]) => run(name, check), { concurrency: "unbounded" })
        const checkedAt = yield* Clock.currentTimeMillis
        return { status: results.every((r) => r.ok) ? "up" : "down", checks: results, checkedAt } satisfies Report
      })

    const readiness = report(readyChecks).pipe(Effect.withSpan("Health.readiness"))
    const liveness = report(liveChecks).pipe(Effect.withSpan("Health.liveness"))

    const monitor = Effect.gen(function*() {
      const now = yield* readiness
      const before = yield* SubscriptionRef.getAndSet(last, Option.some(now))
      yield* Metric.update(readyGauge, now.status === "up" ? 1 : 0)
      if (Option.isSome(before) && before.value.status === now.status) return
      const failing = now.checks.filter((c) => !c.ok).map((c) => `${c.name}${c.detail === undefined ? "" : ` (${c.detail})`}`)
      yield* now.status === "up" ? Effect.logInfo("health: ready") : Effect.logWarning(`health: not ready: ${failing.join(", ")}`)
    })

    const routes = (routeOptions: RoutesOptions = {}) =>
      Effect.map(Effect.context<never>(), (context): Routes => {
        const healthPath = routeOptions.healthPath ?? "/health"
        const readyPath = routeOptions.readyPath ?? "/ready"
        const metricsPath = routeOptions.metricsPath ?? "/metrics"
        const runFork = Effect.runForkWith(context)
        const json = (response: http.ServerResponse, r: Report) => {
          const body = JSON.stringify(r)
          response.writeHead(r.status === "up" ? 200 : 503, { "content-type": "application/json", "cache-control": "no-store" })
          response.end(body)
        }
        return (request, response) => {
          const path = (request.url ?? "/").split("?")[0]
          if (path !== healthPath && path !== readyPath && path !== metricsPath) return false
          request.resume()
          if (request.method !== "GET" && request.method !== "HEAD") {
            response.writeHead(405, { allow: "GET, HEAD" })
            response.end()
            return true
          }
          if (path === metricsPath) {
            response.writeHead(200, { "content-type": "text/plain; version=0.0.4; charset=utf-8", "cache-control": "no-store" })
            response.end(prometheus(context, routeOptions.metricsPrefix))
            return true
          }
          runFork(Effect.map(path === healthPath ? liveness : readiness, (r) => json(response, r)).pipe(
            Effect.catchCause(() => Effect.sync(() => {
              response.writeHead(500)
              response.end()
            }))
          ))
          return true
        }
      })

    const service: Shape = {
      addLivenessCheck: (name, check) => Effect.sync(() => void liveChecks.set(name, check)),
      addReadinessCheck: (name, check) => Effect.sync(() => void readyChecks.set(name, check)),
      liveness,
      readiness,
      changes: SubscriptionRef.changes(last).pipe(
        Stream.filter(Option.isSome),
        Stream.map((r) => r.value),
        Stream.changesWith((a, b) => a.status === b.status)
      ),
      routes
    }
    return { service, members: [Member.periodic("monitor", Member.duration(options.interval, "5 seconds"), monitor)] }
  })
