/**
 * Tier 1: the routing table between servers and transports (`key → target`, e.g. a session id to the server
 * instance that serves it), and its health check.
 *
 * - Every call has a timeout (FM-06): while the table restarts, callers wait at most `callTimeout` and then
 *   fail with `RegistryTimeout`, never block; `unregister` does not wait at all.
 * - A crash of the table (its member, or the whole tier) loses no live route (FM-39). The table is a cache;
 *   the source of truth outlives it: owners add a `source` of routes (ServerTier and TransportTier list the
 *   children their supervisors run now: servers, connections, listeners), and each new incarnation loads
 *   every source, concurrently and each bounded by `callTimeout` (one that does not answer is skipped),
 *   before it answers anyone. So after a restart every live route resolves again.
 * - Dead routes stay dead: an owner that ends while the table is down unregisters as usual; its removal is
 *   remembered (a tombstone per key, cleared when the new table is published) and applied to the rebuilt
 *   table, even if a source listed the route in the moment before its owner ended. A `register` of the same
 *   key afterwards (an owner that came back) cancels the tombstone.
 * - Routes registered without a source die with the incarnation, as they would with gproc; their owners find
 *   out at their next lookup.
 * - The health check looks the table up every `healthInterval` and keeps `healthy` for readiness.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as SubscriptionRef from "effect/SubscriptionRef"
import type { Supervisor } from "@effect-mcp/faults"
import * as Member from "./internal/member.ts"

/** A route: a key (`session/<id>`, `server/<id>`, `transport/<id>`) and where it leads. @since 0.1.0 @category models */
export interface Route {
  readonly key: string
  readonly target: string
}

/** FM-06: the registry did not answer within the call timeout (it is restarting or stuck). Retry later or fail the request. @since 0.1.0 @category errors */
export class RegistryTimeout extends Schema.TaggedError<RegistryTimeout>()("RegistryTimeout", {
  mode: Schema.tag("FM-06"),
  operation: Schema.String,
  timeoutMs: Schema.Number
}) {
  override get message(): string {
    return `registry ${this.operation} timed out after ${this.timeoutMs} ms`
  }
}

/** Settings. @since 0.1.0 @category models */
export interface Options {
  /** Bound of every call, and of each source while rebuilding (default 1 s). */
  readonly callTimeout?: Duration.Input
  /** How often the health check looks the table up (default 5 s). */
  readonly healthInterval?: Duration.Input
}

/** The service's shape. @since 0.1.0 @category models */
export interface Shape {
  readonly register: (route: Route) => Effect.Effect<void, RegistryTimeout>
  /**
   * Removes a route at once, without waiting (owners unregister in finalizers, never blocking): `true` when it
   * was in the table. While the table restarts the removal is remembered and applied to the rebuilt table
   * (`false` then), so a route whose owner ended meanwhile is not brought back by a source (FM-39).
   */
  readonly unregister: (key: string) => Effect.Effect<boolean>
  readonly lookup: (key: string) => Effect.Effect<Option.Option<string>, RegistryTimeout>
  readonly routes: Effect.Effect<ReadonlyArray<Route>, RegistryTimeout>
  /** Adds a source of routes that every new incarnation of the table loads. */
  readonly addSource: (name: string, routes: Effect.Effect<ReadonlyArray<Route>>) => Effect.Effect<void>
  /** What the last health check found. */
  readonly healthy: Effect.Effect<boolean>
}

/**
 * The routing table.
 *
 * @since 0.1.0
 * @category services
 */
export class Registry extends Context.Service<Registry, Shape>()("effect-mcp/runtime/Registry") {
  /** The registry supervised on its own (outside the tiers). */
  static readonly layer = (options: Options = {}): Layer.Layer<Registry> =>
    Layer.effect(Registry)(Effect.flatMap(make(options), (s) => Member.standalone("registry", s)))
}

const routesGauge = Metric.gauge("mcp_registry_routes", { description: "Routes in the registry's table" })
const timeouts = Metric.counter("mcp_registry_timeouts_total", { description: "Registry calls that timed out (FM-06)", incremental: true })

/** The service and its members: `routes` (the table) and `health`. @since 0.1.0 @category constructors */
export const make = (options: Options = {}): Effect.Effect<Member.Supervised<Shape>> =>
  Effect.gen(function*() {
    const callTimeout = Member.duration(options.callTimeout, "1 second")
    const healthInterval = Member.duration(options.healthInterval, "5 seconds")
    const table = yield* Member.makeCell<Map<string, string>>()
    const sources = new Map<string, Effect.Effect<ReadonlyArray<Route>>>()
    const healthy = yield* SubscriptionRef.make(false)
    // the published table (set and cleared in the same step as the tombstones are applied), and the keys
    // unregistered while there was none: at most one entry per key, cleared at every publication
    let live: Map<string, string> | undefined
    const tombstones = new Set<string>()

    const withTable = <A>(operation: string, f: (routes: Map<string, string>) => A): Effect.Effect<A, RegistryTimeout> =>
      Effect.flatMap(table.await(callTimeout), (found) =>
        Option.match(found, {
          onNone: () =>
            Effect.andThen(
              Metric.update(Metric.withAttributes(timeouts, { operation }), 1),
              Effect.fail(new RegistryTimeout({ operation, timeoutMs: Duration.toMillis(callTimeout) }))
            ),
          onSome: (routes) => Effect.sync(() => f(routes))
        }))

    /** Loads every source at once, each bounded by the call timeout; a source that does not answer is skipped. */
    const rebuild = Effect.gen(function*() {
      const routes = new Map<string, string>()
      const loaded = yield* Effect.forEach([...sources], ([name, source]) =>
        Effect.timeoutOption(Effect.exit(source), callTimeout).pipe(Effect.map((found) => ({ name, found }))), { concurrency: "unbounded" })
      for (const { found, name } of loaded) {
        if (Option.isNone(found) || found.value._tag === "Failure") {
          yield* Effect.logWarning(`registry: source ${name} did not answer; its routes are not rebuilt`).pipe(Effect.annotateLogs({ mode: "FM-39" }))
          continue
        }
        for (const route of found.value.value) routes.set(route.key, route.target)
      }
      return routes
    })

    /** Applies the removals made while the table was down and publishes it, in one step (no unregister in between). */
    const publish = (routes: Map<string, string>) =>
      Effect.suspend(() => {
        const dropped = [...tombstones].filter((key) => routes.delete(key)).length
        tombstones.clear()
        live = routes
        return Effect.andThen(table.set(routes), Effect.andThen(
          Metric.update(routesGauge, routes.size),
          Effect.logDebug(`registry: table rebuilt with ${routes.size} routes from ${sources.size} sources (${dropped} ended meanwhile)`)
        ))
      })

    /** The table's member: rebuilds and publishes the table, and takes it down when its incarnation ends. */
    const holder: Supervisor.ChildSpec<unknown> = {
      id: "routes",
      restart: "permanent",
      shutdown: 1_000,
      start: Effect.scoped(Effect.gen(function*() {
        yield* Effect.addFinalizer(() => Effect.andThen(Effect.sync(() => void (live = undefined)), table.clear))
        yield* publish(yield* rebuild)
        return yield* Effect.never
      }))
    }

    const lookup = Effect.fn("Registry.lookup")(function*(key: string) {
      return yield* withTable("lookup", (routes) => Option.fromUndefinedOr(routes.get(key)))
    })

    const check = Effect.gen(function*() {
      const ok = Option.isSome(yield* table.await(callTimeout))
      const before = yield* SubscriptionRef.getAndSet(healthy, ok)
      if (before !== ok) yield* (ok ? Effect.logInfo("registry: healthy") : Effect.logWarning("registry: unhealthy").pipe(Effect.annotateLogs({ mode: "FM-06" })))
    })

    const service: Shape = {
      register: Effect.fn("Registry.register")(function*(route: Route) {
        tombstones.delete(route.key) // the owner is back: a removal made while the table was down no longer holds
        const size = yield* withTable("register", (routes) => routes.set(route.key, route.target).size)
        yield* Metric.update(routesGauge, size)
      }),
      unregister: Effect.fn("Registry.unregister")(function*(key: string) {
        const routes = live
        if (routes === undefined) {
          tombstones.add(key)
          return false
        }
        const removed = routes.delete(key)
        yield* Metric.update(routesGauge, routes.size)
        return removed
      }),
      lookup,
      routes: withTable("routes", (routes) => [...routes].map(([key, target]) => ({ key, target }))),
      addSource: (name, routes) => Effect.sync(() => void sources.set(name, routes)),
      healthy: SubscriptionRef.get(healthy)
    }
    const health = Member.periodic("health", healthInterval, check)
    return {
      service,
      members: [
        holder,
        // a stopped health check reports nothing healthy
        { ...health, start: Effect.ensuring(health.start, SubscriptionRef.set(healthy, false)) }
      ]
    }
  })
