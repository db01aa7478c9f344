/**
 * The root of the supervision tree: the five tiers (`Tiers`) as children of one supervisor, in tier order,
 * with a configurable strategy:
 *
 * - `one_for_one` (the default; failure-domains.md's v2.0 recommendation): each tier restarts alone. Safe
 *   because nothing holds a reference into another tier's incarnation: services are stable handles, and a
 *   restarted registry rebuilds its routes from the servers and transports that are still up.
 * - `rest_for_one` (failure-domains.md's v1.3): a tier's restart restarts every tier after it, as OTP does
 *   (a registry crash restarts tiers 2–5; tier 5 is last, so its own restart touches nothing else).
 *
 * Beyond the root's intensity the whole tree stops and `await` fails with `SupervisorEscalated`; liveness
 * then reports down, and the process should exit so that its supervisor (systemd, Kubernetes) replaces it.
 *
 * The runtime registers its health checks: liveness is the root running; readiness is every tier up, the
 * registry healthy, not draining, and resources under critical.
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { Supervisor } from "@effect-mcp/faults"
import * as Drain from "./Drain.ts"
import { FaultInjection } from "./FaultInjection.ts"
import * as Health from "./Health.ts"
import * as Registry from "./Registry.ts"
import * as ResourceMonitor from "./ResourceMonitor.ts"
import * as Tiers from "./Tiers.ts"

/** The root's strategy. @since 0.1.0 @category models */
export const RootStrategy = Schema.Literals(["one_for_one", "rest_for_one"])
/** The root's strategy. @since 0.1.0 @category models */
export type RootStrategy = typeof RootStrategy.Type

/** Everything the runtime can be told. @since 0.1.0 @category models */
export interface RuntimeConfig {
  /** Default `one_for_one`. */
  readonly rootStrategy?: RootStrategy
  /** The root's restart policy (default 5 restarts in 60 s, backoff 50 ms doubling to 2 s). */
  readonly root?: Tiers.Policy
  readonly registry?: Tiers.RegistryTierOptions
  readonly infrastructure?: Tiers.InfrastructureTierOptions
  readonly servers?: Tiers.ServerTierOptions
  readonly transports?: Tiers.TransportTierOptions
  readonly observability?: Tiers.ObservabilityTierOptions
  /** Where resource samples come from (default: Node's, with this memory limit). */
  readonly resourceSource?: Layer.Layer<ResourceMonitor.Source>
  readonly memoryLimitBytes?: number
  /** Turns on `crash` (fault injection). Off by default. */
  readonly faultInjection?: boolean
}

/**
 * The runtime's settings from `Config` (environment variables by default):
 * `MCP_ROOT_STRATEGY` (`one_for_one` | `rest_for_one`), `MCP_SUPERVISOR_INTENSITY`, `MCP_SUPERVISOR_PERIOD`
 * (a duration), `MCP_SESSION_IDLE_TIMEOUT`, `MCP_MAX_SESSIONS`, `MCP_SESSION_SNAPSHOT` (a file that keeps the
 * sessions across restarts of the process, FM-52), `MCP_DRAIN_DEADLINE`, `MCP_MEMORY_LIMIT_BYTES`,
 * `MCP_RESOURCE_INTERVAL`, `MCP_DRAIN_ON_CRITICAL`. Anything unset keeps its default.
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<RuntimeConfig> = Config.all({
  rootStrategy: Config.option(Config.schema(RootStrategy, "MCP_ROOT_STRATEGY")),
  intensity: Config.option(Config.Int("MCP_SUPERVISOR_INTENSITY")),
  period: Config.option(Config.Duration("MCP_SUPERVISOR_PERIOD")),
  idle: Config.option(Config.Duration("MCP_SESSION_IDLE_TIMEOUT")),
  maxSessions: Config.option(Config.Int("MCP_MAX_SESSIONS")),
  sessionSnapshot: Config.option(Config.String("MCP_SESSION_SNAPSHOT")),
  drainDeadline: Config.option(Config.Duration("MCP_DRAIN_DEADLINE")),
  memoryLimitBytes: Config.option(Config.Int("MCP_MEMORY_LIMIT_BYTES")),
  resourceInterval: Config.option(Config.Duration("MCP_RESOURCE_INTERVAL")),
  drainOnCritical: Config.option(Config.Boolean("MCP_DRAIN_ON_CRITICAL"))
}).pipe(Config.map((c): RuntimeConfig => {
  const opt = <K extends string, A>(key: K, o: Option.Option<A>): { [P in K]?: A } =>
    (Option.isSome(o) ? { [key]: o.value } : {}) as { [P in K]?: A }
  return {
    ...opt("rootStrategy", c.rootStrategy),
    ...opt("memoryLimitBytes", c.memoryLimitBytes),
    root: { ...opt("intensity", c.intensity), ...opt("periodMs", Option.map(c.period, Duration.toMillis)) },
    infrastructure: {
      sessions: {
        ...opt("idleTimeout", c.idle),
        ...opt("maxSessions", c.maxSessions),
        ...opt("snapshot", Option.map(c.sessionSnapshot, (path) => ({ path })))
      },
      drain: { ...opt("deadline", c.drainDeadline) }
    },
    observability: {
      resources: { ...opt("interval", c.resourceInterval) },
      recovery: { ...opt("drainOnCritical", c.drainOnCritical) }
    }
  }
}))

/** One tier as the root sees it. @since 0.1.0 @category models */
export interface TierStatus {
  readonly id: Tiers.TierId
  readonly running: boolean
  /** Grows at every restart of the tier. */
  readonly generation: number
  readonly members: ReadonlyArray<Supervisor.ChildStatus>
}

/** The service's shape. @since 0.1.0 @category models */
export interface Shape {
  readonly rootStrategy: RootStrategy
  /** The tiers, in order, with their members. */
  readonly tiers: Effect.Effect<ReadonlyArray<TierStatus>>
  /** Every supervision event of the tree (root and tiers), from now on. */
  readonly events: Stream.Stream<Supervisor.Event>
  /** Completes when the runtime stops; fails when the root gave up. */
  readonly await: Effect.Effect<void, Supervisor.SupervisorEscalated>
  /** Fault injection (when on): crashes a target (`"tier/registry"`, `"infrastructure/sessions/sweeper"`). */
  readonly crash: (target: string, mode?: string) => Effect.Effect<boolean>
}

/** The services `Runtime.layer` provides. @since 0.1.0 @category models */
export type Services =
  | Runtime
  | Tiers.Tiers
  | Registry.Registry
  | Tiers.Infrastructure
  | Tiers.Observability
  | Tiers.SupervisionEvents
  | FaultInjection

/**
 * The running supervision tree.
 *
 * @since 0.1.0
 * @category services
 */
export class Runtime extends Context.Service<Runtime, Shape>()("effect-mcp/runtime/Runtime") {
  /** The tiers under the root, and every tier's services. */
  static readonly layer = (config: RuntimeConfig = {}): Layer.Layer<Services> => layer(config)
  /** The same, configured from `Config` (see `config`). */
  static readonly layerConfig: Layer.Layer<Services, Config.ConfigError> = Layer.unwrap(Effect.map(config, (c) => layer(c)))
}

const layer = (config: RuntimeConfig): Layer.Layer<Services> => {
  const base = Layer.mergeAll(
    Tiers.SupervisionEvents.layer,
    FaultInjection.layer(config.faultInjection ?? false),
    config.resourceSource ?? ResourceMonitor.Source.node(config.memoryLimitBytes === undefined ? {} : { memoryLimitBytes: config.memoryLimitBytes })
  )
  const lower = Layer.mergeAll(Tiers.RegistryTier.layer(config.registry), Tiers.InfrastructureTier.layer(config.infrastructure))
  const upper = Layer.mergeAll(
    Tiers.ServerTier.layer(config.servers),
    Tiers.TransportTier.layer(config.transports),
    Tiers.ObservabilityTier.layer(config.observability)
  )
  const tiers = upper.pipe(Layer.provideMerge(lower), Layer.provideMerge(base))
  return Layer.effect(Runtime)(make(config)).pipe(Layer.provideMerge(tiers))
}

const make = (config: RuntimeConfig) =>
  Effect.gen(function*() {
    const tiers: ReadonlyArray<Tiers.Tier> = [
      yield* Tiers.RegistryTier,
      yield* Tiers.InfrastructureTier,
      yield* Tiers.ServerTier,
      yield* Tiers.TransportTier,
      yield* Tiers.ObservabilityTier
    ]
    const bus = yield* Tiers.SupervisionEvents
    const faults = yield* FaultInjection
    const rootStrategy = config.rootStrategy ?? "one_for_one"
    const root = yield* Supervisor.make({
      strategy: rootStrategy,
      name: "root",
      intensity: config.root?.intensity ?? 5,
      periodMs: config.root?.periodMs ?? 60_000,
      backoff: config.root?.backoff ?? Tiers.defaultBackoff
    }, tiers.map((t) => t.child), { events: bus }).pipe(Effect.orDie)

    const status = Effect.gen(function*() {
      const children = yield* root.children
      return yield* Effect.forEach(tiers, (tier) =>
        Effect.gen(function*() {
          const child = children.find((c) => c.id === tier.id)
          const incarnation = yield* tier.supervisor
          const members = Option.isSome(incarnation) ? yield* incarnation.value.children : []
          return {
            id: tier.id,
            running: child?.running === true && Option.isSome(incarnation),
            generation: child?.generation ?? 0,
            members
          } satisfies TierStatus
        }))
    })

    const health = yield* Health.Health
    const registry = yield* Registry.Registry
    const drain = yield* Drain.Drain
    const monitor = yield* ResourceMonitor.ResourceMonitor
    // the root ends with the runtime's scope, or when it gave up; either way the process is no longer live
    const done = yield* Deferred.make<void, Supervisor.SupervisorEscalated>()
    yield* Effect.forkDetach(Effect.flatMap(Effect.exit(root.await), (exit) => Deferred.done(done, exit)))
    yield* health.addLivenessCheck("supervision", Effect.map(Deferred.isDone(done), (stopped) => ({ ok: !stopped, detail: rootStrategy })))
    yield* health.addReadinessCheck("tiers", Effect.map(status, (list) => {
      const down = list.filter((t) => !t.running).map((t) => t.id)
      return { ok: down.length === 0, detail: down.length === 0 ? "all up" : `down: ${down.join(", ")}` }
    }))
    yield* health.addReadinessCheck("registry", registry.healthy)
    yield* health.addReadinessCheck("drain", Effect.map(drain.phase, (phase) => ({ ok: phase === "accepting", detail: phase })))
    yield* health.addReadinessCheck("resources", Effect.map(Effect.exit(monitor.admit("request")), (exit) => ({
      ok: exit._tag === "Success",
      detail: exit._tag === "Success" ? "under critical" : "critical"
    })))

    return {
      rootStrategy,
      tiers: status,
      events: Stream.fromPubSub(bus),
      await: Deferred.await(done),
      crash: faults.crash
    } satisfies Shape
  })

/** Re-exported for callers that wait on a specific shutdown. @since 0.1.0 @category models */
export type Escalated = Supervisor.SupervisorEscalated

/** A readable one-line summary of the tree, for logs. @since 0.1.0 @category formatting */
export const summary = (tiers: ReadonlyArray<TierStatus>): string =>
  tiers.map((t) => `${t.id}${t.running ? "" : " (down)"}#${t.generation}[${t.members.filter((m) => m.running).length}/${t.members.length}]`).join(" ")
