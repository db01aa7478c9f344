/**
 * The five supervision tiers (design: failure-domains.md), each a Layer that provides its members' services
 * and its supervisor as a child spec for the root (`Runtime.layer` composes them):
 *
 * | tier | Layer | strategy | restart of members | members |
 * | --- | --- | --- | --- | --- |
 * | 1 | `RegistryTier` | one_for_one | permanent | `Registry` (table, health check) |
 * | 2 | `InfrastructureTier` | one_for_one | permanent | `SessionManager`, `TaskManager`, `Subscriptions`, `EventStore`, `DedupCache`, `Drain` |
 * | 3 | `ServerTier` | simple_one_for_one | temporary | server instances (`startServer`) |
 * | 4 | `TransportTier` | one_for_one | transient by default (`startTransport`) | listeners and connections |
 * | 5 | `ObservabilityTier` | one_for_one | permanent | `ResourceMonitor`, `Health`, `RecoveryManager` |
 *
 * A tier's services outlive its supervisor's incarnations: each incarnation attaches to them, so callers
 * keep one handle across restarts. Servers and transports register a route in the registry (`server/<id>`,
 * `transport/<id>`) and are the registry's rebuild sources. Transports (except temporary ones) come back
 * when their tier restarts; servers are temporary, so a tier restart ends them and clients reconnect.
 *
 * Tier 5 never escalates to the root: an incarnation that dies is replaced after a cooldown by the tier
 * itself, so a flapping monitor cannot spend the root's restart intensity (failure-domains: its failure has
 * no blast radius).
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type { Transport } from "@effect-mcp/core"
import { Supervisor } from "@effect-mcp/faults"
import * as DedupCache from "./DedupCache.ts"
import * as Drain from "./Drain.ts"
import * as EventStore from "./EventStore.ts"
import { FaultInjection } from "./FaultInjection.ts"
import * as Health from "./Health.ts"
import * as Member from "./internal/member.ts"
import * as RecoveryManager from "./RecoveryManager.ts"
import * as Registry from "./Registry.ts"
import * as ResourceMonitor from "./ResourceMonitor.ts"
import * as SessionManager from "./SessionManager.ts"
import * as Subscriptions from "./Subscriptions.ts"
import * as TaskManager from "./TaskManager.ts"

/** The tiers, in root start order. @since 0.1.0 @category models */
export const TierId = Schema.Literals(["registry", "infrastructure", "servers", "transports", "observability"])
/** A tier. @since 0.1.0 @category models */
export type TierId = typeof TierId.Type

/** Root start order. @since 0.1.0 @category models */
export const order: ReadonlyArray<TierId> = ["registry", "infrastructure", "servers", "transports", "observability"]

/** A tier's restart policy (defaults: 5 restarts in 60 s, as the design's supervisors; backoff 50 ms doubling to 2 s). @since 0.1.0 @category models */
export interface Policy {
  readonly intensity?: number
  readonly periodMs?: number
  readonly backoff?: Schedule.Schedule<unknown, unknown, never, never>
}

/** The default restart backoff: 50 ms, doubling, capped at 2 s. @since 0.1.0 @category policies */
export const defaultBackoff: Schedule.Schedule<unknown, unknown> = Schedule.min([Schedule.exponential("50 millis"), Schedule.spaced("2 seconds")])

/** FM-02: the tier is restarting (or stopped) and did not come back within the call timeout. Retry later. @since 0.1.0 @category errors */
export class TierUnavailable extends Schema.TaggedError<TierUnavailable>()("TierUnavailable", {
  mode: Schema.tag("FM-02"),
  tier: TierId,
  timeoutMs: Schema.Number
}) {}

/** What every tier offers the root. @since 0.1.0 @category models */
export interface Tier {
  readonly id: TierId
  /** The tier's supervisor, as a child of the root (shutdown `infinity`: its members get their own times). */
  readonly child: Supervisor.ChildSpec<unknown>
  /** The running incarnation, if the tier is up. */
  readonly supervisor: Effect.Effect<Option.Option<Supervisor.Supervisor<unknown, never>>>
  /** The running incarnation, waiting at most `timeout` for a restarting tier. */
  readonly awaitSupervisor: (timeout: Duration.Input) => Effect.Effect<Supervisor.Supervisor<unknown, never>, TierUnavailable>
}

/** Every supervisor's events (root and tiers) on one bus, for the health monitor, tests and operators. @since 0.1.0 @category services */
export class SupervisionEvents extends Context.Service<SupervisionEvents, PubSub.PubSub<Supervisor.Event>>()("effect-mcp/runtime/SupervisionEvents") {
  /** A bus keeping the last 4,096 events for slow subscribers. */
  static readonly layer: Layer.Layer<SupervisionEvents> = Layer.effect(SupervisionEvents)(PubSub.sliding<Supervisor.Event>(4_096))
}

/** Builds a tier: its supervisor, as a root child, over members rebuilt for each incarnation. */
const makeTier = <R>(
  id: TierId,
  spec: Omit<Supervisor.SupervisorSpec, "name" | "intensity" | "periodMs">,
  policy: Policy | undefined,
  members: Effect.Effect<ReadonlyArray<Supervisor.ChildSpec<unknown>>, never, R>,
  options: { readonly selfHealing?: Duration.Duration } = {}
): Effect.Effect<Tier, never, SupervisionEvents | FaultInjection | R> =>
  Effect.gen(function*() {
    const bus = yield* SupervisionEvents
    const faults = yield* FaultInjection
    const context = yield* Effect.context<R>()
    const cell = yield* Member.makeCell<Supervisor.Supervisor<unknown, never>>()
    const full: Supervisor.SupervisorSpec = {
      ...spec,
      name: id,
      intensity: policy?.intensity ?? 5,
      periodMs: policy?.periodMs ?? 60_000,
      backoff: policy?.backoff ?? defaultBackoff
    }
    const incarnation = faults.crashable(`tier/${id}`)(Effect.scoped(Effect.gen(function*() {
      const children = (yield* Effect.provide(members, context)).map((c) => ({ ...c, start: faults.crashable(`${id}/${c.id}`)(c.start) }))
      const supervisor = yield* Supervisor.make(full, children, { events: bus })
      yield* Effect.addFinalizer(() => cell.clear)
      yield* cell.set(supervisor)
      return yield* supervisor.await
    })))
    const start = options.selfHealing === undefined ? incarnation : selfHealing(id, incarnation, options.selfHealing)
    return {
      id,
      child: { id, restart: "permanent", shutdown: "infinity", start },
      supervisor: cell.current,
      awaitSupervisor: (timeout) => {
        const bound = Duration.fromInputUnsafe(timeout)
        return Effect.flatMap(cell.await(bound), (found) =>
          Option.isSome(found)
            ? Effect.succeed(found.value)
            : Effect.fail(new TierUnavailable({ tier: id, timeoutMs: Duration.toMillis(bound) })))
      }
    }
  })

/** Replaces a dead incarnation after a cooldown instead of exiting: the parent never sees it fail. */
const selfHealing = <E>(id: TierId, incarnation: Effect.Effect<void, E>, cooldown: Duration.Duration): Effect.Effect<never> =>
  Effect.forever(Effect.gen(function*() {
    const exit = yield* Effect.exit(incarnation)
    const detail = Exit.isFailure(exit) ? Cause.pretty(exit.cause).split("\n")[0] : "stopped"
    yield* Effect.logWarning(`${id}: tier ended (${detail}); replacing it in ${Duration.format(cooldown)}`).pipe(Effect.annotateLogs({ mode: "FM-44" }))
    yield* Effect.sleep(cooldown)
  }))

/** A member's children under prefixed ids (`sessions/sweeper`), so a tier's ids stay unique. */
const prefixed = (prefix: string, members: ReadonlyArray<Supervisor.ChildSpec<unknown>>) =>
  members.map((m) => ({ ...m, id: `${prefix}/${m.id}` }))

/** Makes a dynamic child effect need nothing: it runs with the caller's services. */
const withContext = <E, R>(effect: Effect.Effect<unknown, E, R>) =>
  Effect.map(Effect.context<R>(), (context) => Effect.provide(effect, context))

/** Registers `key → id` while `effect` runs (best effort: the tier's registry source rebuilds it). */
const routed = <E>(registry: Registry.Shape, key: string, id: string, effect: Effect.Effect<unknown, E>) =>
  Effect.scoped(Effect.gen(function*() {
    yield* Effect.acquireRelease(
      Effect.catchTag(registry.register({ key, target: id }), "RegistryTimeout", (e) =>
        Effect.logWarning(`${key}: not routed yet (${e.message}); the registry rebuilds it`).pipe(Effect.annotateLogs({ mode: e.mode }))),
      () => Effect.asVoid(registry.unregister(key))
    )
    return yield* effect
  }))

// ---- tier 1 -----------------------------------------------------------------------------------------

/** Tier 1's settings. @since 0.1.0 @category models */
export interface RegistryTierOptions extends Registry.Options {
  readonly policy?: Policy
}

/**
 * Tier 1: the registry. Provides `Registry`.
 *
 * @since 0.1.0
 * @category tiers
 */
export class RegistryTier extends Context.Service<RegistryTier, Tier>()("effect-mcp/runtime/Tiers/RegistryTier") {
  static readonly layer = (options: RegistryTierOptions = {}): Layer.Layer<RegistryTier | Registry.Registry, never, SupervisionEvents | FaultInjection> =>
    Layer.effectContext(Effect.gen(function*() {
      const supervised = yield* Registry.make(options)
      const tier = yield* makeTier("registry", { strategy: "one_for_one" }, options.policy, Effect.succeed(supervised.members))
      return Context.make(RegistryTier, tier).pipe(Context.add(Registry.Registry, supervised.service))
    }))
}

// ---- tier 2 -----------------------------------------------------------------------------------------

/** Tier 2's settings. @since 0.1.0 @category models */
export interface InfrastructureTierOptions {
  readonly policy?: Policy
  readonly sessions?: SessionManager.Options
  readonly tasks?: TaskManager.Options
  readonly subscriptions?: Subscriptions.Options
  readonly eventStore?: EventStore.Options
  readonly dedup?: DedupCache.Options
  readonly drain?: Drain.Options
}

/** The services tier 2 provides. @since 0.1.0 @category models */
export type Infrastructure =
  | SessionManager.SessionManager
  | TaskManager.TaskManager
  | Subscriptions.Subscriptions
  | EventStore.EventStore
  | DedupCache.DedupCache
  | Drain.Drain

/**
 * Tier 2: infrastructure, each member independent (one_for_one). Provides `SessionManager`, `TaskManager`,
 * `Subscriptions`, `EventStore`, `DedupCache` and `Drain`.
 *
 * @since 0.1.0
 * @category tiers
 */
export class InfrastructureTier extends Context.Service<InfrastructureTier, Tier>()("effect-mcp/runtime/Tiers/InfrastructureTier") {
  static readonly layer = (
    options: InfrastructureTierOptions = {}
  ): Layer.Layer<InfrastructureTier | Infrastructure, never, SupervisionEvents | FaultInjection> =>
    Layer.effectContext(Effect.gen(function*() {
      const sessions = yield* SessionManager.make(options.sessions)
      const tasks = yield* TaskManager.make(options.tasks)
      const subscriptions = yield* Subscriptions.make(options.subscriptions)
      const events = yield* EventStore.make(options.eventStore)
      const dedup = yield* DedupCache.make(options.dedup)
      const drain = yield* Drain.make(options.drain)
      const members = [
        ...prefixed("sessions", sessions.members),
        ...prefixed("tasks", tasks.members),
        ...prefixed("subscriptions", subscriptions.members),
        ...prefixed("event-store", events.members),
        ...prefixed("dedup", dedup.members),
        ...prefixed("drain", drain.members)
      ]
      const tier = yield* makeTier("infrastructure", { strategy: "one_for_one" }, options.policy, Effect.succeed(members))
      return Context.make(InfrastructureTier, tier).pipe(
        Context.add(SessionManager.SessionManager, sessions.service),
        Context.add(TaskManager.TaskManager, tasks.service),
        Context.add(Subscriptions.Subscriptions, subscriptions.service),
        Context.add(EventStore.EventStore, events.service),
        Context.add(DedupCache.DedupCache, dedup.service),
        Context.add(Drain.Drain, drain.service)
      )
    }))
}

// ---- tier 3 -----------------------------------------------------------------------------------------

/** Tier 3's settings. @since 0.1.0 @category models */
export interface ServerTierOptions {
  readonly policy?: Policy
  /** How long `startServer`/`stopServer` wait for a restarting tier (default 1 s). */
  readonly callTimeout?: Duration.Input
  /** Each server's shutdown time (default 5 s). */
  readonly shutdown?: Supervisor.Shutdown
}

/** Tier 3's service. @since 0.1.0 @category models */
export interface ServerTierShape extends Tier {
  /** Starts a server instance under `id` (temporary: never restarted; clients reconnect). Routed as `server/<id>`. */
  readonly startServer: <E, R>(id: string, server: Effect.Effect<unknown, E, R>) => Effect.Effect<void, TierUnavailable | Supervisor.InvalidSpec | Supervisor.SupervisorStopped, R>
  /** Stops a server (its finalizers get the shutdown time); `false` when it was not running. */
  readonly stopServer: (id: string) => Effect.Effect<boolean, TierUnavailable>
  readonly servers: Effect.Effect<ReadonlyArray<Supervisor.ChildStatus>>
  /**
   * A listener's `handle` that serves each connection as a server of this tier (`conn/<n>`): it returns when
   * the server ends, the connection is closed whenever the server ends (a crash or a tier restart abandons it:
   * a Streamable HTTP session then outlives its server and the client's next request gets a new one), and a
   * connection arriving while the tier is unavailable is closed at once. When the listener ends (it crashed,
   * its tier restarted, it was stopped) every connection is closed at once, concurrently, and then its server
   * is stopped: nothing of a dead listener stays open (FM-09). For the `handle` of
   * `StreamableHttpServer.serve`, `TcpTransport.serve` and `WebSocketTransport.serve`.
   */
  readonly handler: <R>(
    serve: (transport: Transport.Transport) => Effect.Effect<void, never, R>
  ) => (transport: Transport.Transport) => Effect.Effect<void, never, R>
}

/**
 * Tier 3: server instances, dynamic (simple_one_for_one) and temporary.
 *
 * @since 0.1.0
 * @category tiers
 */
export class ServerTier extends Context.Service<ServerTier, ServerTierShape>()("effect-mcp/runtime/Tiers/ServerTier") {
  static readonly layer = (options: ServerTierOptions = {}): Layer.Layer<ServerTier, never, SupervisionEvents | FaultInjection | Registry.Registry> =>
    Layer.effect(ServerTier)(Effect.gen(function*() {
      const registry = yield* Registry.Registry
      const faults = yield* FaultInjection
      const timeout = Member.duration(options.callTimeout, "1 second")
      const tier = yield* makeTier("servers", {
        strategy: "simple_one_for_one",
        template: { restart: "temporary", shutdown: options.shutdown ?? 5_000 }
      }, options.policy, Effect.succeed([]))
      const servers = Effect.flatMap(tier.supervisor, Option.match({ onNone: () => Effect.succeed([]), onSome: (s) => s.children }))
      let connections = 0
      yield* registry.addSource("servers", Effect.map(servers, (list) => list.filter((s) => s.running).map((s) => ({ key: `server/${s.id}`, target: s.id }))))
      return {
        ...tier,
        startServer: Effect.fn("ServerTier.startServer")(function*<E, R>(id: string, server: Effect.Effect<unknown, E, R>) {
          const supervisor = yield* tier.awaitSupervisor(timeout)
          const run = yield* withContext(server)
          yield* supervisor.startChild(id, faults.crashable(`servers/${id}`)(routed(registry, `server/${id}`, id, run)))
        }),
        stopServer: (id) => Effect.flatMap(tier.awaitSupervisor(timeout), (s) => s.terminateChild(id)),
        servers,
        handler: (serve) => (transport) =>
          Effect.gen(function*() {
            const id = `conn/${++connections}`
            const ended = yield* Deferred.make<void>()
            // a server that crashed (or was stopped) abandons its connection: a transport that can rebuild the
            // session (Streamable HTTP, FM-52) keeps it for the client's next request and a new server
            const server = serve(transport).pipe(Effect.onExit((exit) =>
              Effect.andThen(
                Exit.isFailure(exit) && transport.abandon !== undefined ? transport.abandon : transport.close,
                Deferred.succeed(ended, undefined)
              )
            ))
            const run = yield* withContext(server)
            const started = yield* Effect.exit(tier.awaitSupervisor(timeout).pipe(
              Effect.flatMap((s) => s.startChild(id, faults.crashable(`servers/${id}`)(routed(registry, `server/${id}`, id, run))))
            ))
            if (Exit.isFailure(started)) {
              yield* Effect.logWarning(`servers: connection refused, the tier is unavailable`).pipe(Effect.annotateLogs({ mode: "FM-02" }))
              return yield* transport.close
            }
            yield* Deferred.await(ended).pipe(
              // the listener is ending (a crash, a restart, a stop; FM-09): every connection's handle is
              // interrupted at once, so each closes its own transport first, concurrently (each bounded by its
              // transport's close timeout), and only then stops its server. Stopping the servers first would
              // close the connections one at a time (the supervisor stops one child at a time), one close
              // timeout per connection whose peer does not close its side, holding the listener's restart.
              Effect.onInterrupt(() =>
                Effect.andThen(
                  transport.close,
                  Effect.ignore(Effect.flatMap(tier.supervisor, Option.match({ onNone: () => Effect.void, onSome: (s) => s.terminateChild(id) })))
                )
              )
            )
          })
      }
    }))
}

// ---- tier 4 -----------------------------------------------------------------------------------------

/** Tier 4's settings. @since 0.1.0 @category models */
export interface TransportTierOptions {
  readonly policy?: Policy
  /** How long `startTransport`/`stopTransport` wait for a restarting tier (default 1 s). */
  readonly callTimeout?: Duration.Input
}

/** How a transport is kept. @since 0.1.0 @category models */
export interface TransportOptions {
  /** Its shutdown time (default 5 s; stdio wants 2 s). */
  readonly shutdown?: Supervisor.Shutdown
}

/** Tier 4's service. @since 0.1.0 @category models */
export interface TransportTierShape extends Tier {
  /**
   * Starts a transport (a listener, or one connection) under `id`, routed as `transport/<id>`. `transient`
   * (the default) restarts it after a crash; `temporary` (stdio) never; `permanent` always. Unless temporary,
   * it comes back when the tier restarts, until it ends normally or is stopped.
   */
  readonly startTransport: <E, R>(
    id: string,
    transport: Effect.Effect<unknown, E, R>,
    restart?: Supervisor.Restart,
    options?: TransportOptions
  ) => Effect.Effect<void, TierUnavailable | Supervisor.InvalidSpec | Supervisor.SupervisorStopped, R>
  /** Stops a transport for good; `false` when it was not there. */
  readonly stopTransport: (id: string) => Effect.Effect<boolean, TierUnavailable>
  readonly transports: Effect.Effect<ReadonlyArray<Supervisor.ChildStatus>>
}

/**
 * Tier 4: transports, each independent (one_for_one): a crashed transport touches no other.
 *
 * @since 0.1.0
 * @category tiers
 */
export class TransportTier extends Context.Service<TransportTier, TransportTierShape>()("effect-mcp/runtime/Tiers/TransportTier") {
  static readonly layer = (options: TransportTierOptions = {}): Layer.Layer<TransportTier, never, SupervisionEvents | FaultInjection | Registry.Registry> =>
    Layer.effect(TransportTier)(Effect.gen(function*() {
      const registry = yield* Registry.Registry
      const faults = yield* FaultInjection
      const timeout = Member.duration(options.callTimeout, "1 second")
      // the transports to bring back when the tier restarts (temporary ones are not kept)
      const kept = new Map<string, Supervisor.ChildSpec<unknown>>()
      const tier = yield* makeTier("transports", { strategy: "one_for_one" }, options.policy, Effect.sync(() => [...kept.values()]))
      const transports = Effect.flatMap(tier.supervisor, Option.match({ onNone: () => Effect.succeed([]), onSome: (s) => s.children }))
      yield* registry.addSource(
        "transports",
        Effect.map(transports, (list) => list.filter((t) => t.running).map((t) => ({ key: `transport/${t.id}`, target: t.id })))
      )
      return {
        ...tier,
        startTransport: Effect.fn("TransportTier.startTransport")(function*<E, R>(
          id: string,
          transport: Effect.Effect<unknown, E, R>,
          restart: Supervisor.Restart = "transient",
          transportOptions: TransportOptions = {}
        ) {
          const supervisor = yield* tier.awaitSupervisor(timeout)
          const run = yield* withContext(transport)
          const child: Supervisor.ChildSpec<unknown> = {
            id,
            restart,
            shutdown: transportOptions.shutdown ?? 5_000,
            start: faults.crashable(`transports/${id}`)(routed(registry, `transport/${id}`, id, run)).pipe(
              // a transport that ended normally is done: the next incarnation of the tier does not bring it back
              Effect.onExit((exit) => Exit.isSuccess(exit) && restart !== "permanent" ? Effect.sync(() => kept.delete(id)) : Effect.void)
            )
          }
          yield* supervisor.addChild(child)
          if (restart !== "temporary") kept.set(id, child)
        }),
        stopTransport: (id) =>
          Effect.flatMap(tier.awaitSupervisor(timeout), (s) => {
            kept.delete(id)
            return s.terminateChild(id)
          }),
        transports
      }
    }))
}

// ---- tier 5 -----------------------------------------------------------------------------------------

/** Tier 5's settings. @since 0.1.0 @category models */
export interface ObservabilityTierOptions {
  readonly policy?: Policy
  /** How long a dead incarnation waits before it is replaced (default 1 s). */
  readonly cooldown?: Duration.Input
  readonly resources?: ResourceMonitor.Options
  readonly health?: Health.Options
  readonly recovery?: RecoveryManager.Options
}

/** The services tier 5 provides. @since 0.1.0 @category models */
export type Observability = ResourceMonitor.ResourceMonitor | Health.Health | RecoveryManager.RecoveryManager

/**
 * Tier 5: observability, isolated. Provides `ResourceMonitor`, `Health` and `RecoveryManager`.
 *
 * @since 0.1.0
 * @category tiers
 */
export class ObservabilityTier extends Context.Service<ObservabilityTier, Tier>()("effect-mcp/runtime/Tiers/ObservabilityTier") {
  static readonly layer = (
    options: ObservabilityTierOptions = {}
  ): Layer.Layer<ObservabilityTier | Observability, never, SupervisionEvents | FaultInjection | ResourceMonitor.Source | Drain.Drain> =>
    Layer.effectContext(Effect.gen(function*() {
      const monitor = yield* ResourceMonitor.make(options.resources)
      const health = yield* Health.make(options.health)
      const recovery = yield* RecoveryManager.make(monitor.service, yield* Drain.Drain, options.recovery)
      const members = [
        ...prefixed("resource-monitor", monitor.members),
        ...prefixed("health", health.members),
        ...prefixed("recovery", recovery.members)
      ]
      const tier = yield* makeTier("observability", { strategy: "one_for_one" }, options.policy, Effect.succeed(members), {
        selfHealing: Member.duration(options.cooldown, "1 second")
      })
      return Context.make(ObservabilityTier, tier).pipe(
        Context.add(ResourceMonitor.ResourceMonitor, monitor.service),
        Context.add(Health.Health, health.service),
        Context.add(RecoveryManager.RecoveryManager, recovery.service)
      )
    }))
}

/** The tiers' services, for code that needs all of them. @since 0.1.0 @category models */
export type Tiers = RegistryTier | InfrastructureTier | ServerTier | TransportTier | ObservabilityTier
