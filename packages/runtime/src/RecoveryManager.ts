/**
 * Tier 5: what the runtime does about a sustained resource emergency. When the resource level stays
 * `critical` for `criticalGrace` (and the monitor's reading is fresh), the recovery manager drains the
 * process (FM-03, FM-32): the orchestrator sees readiness fall and liveness stay, stops sending traffic, and
 * replaces the process once it has closed.
 *
 * Restart policy itself is not here: it is the Supervisor's (intensity, period, backoff), so there is one
 * place that restarts things.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as Drain from "./Drain.ts"
import * as Member from "./internal/member.ts"
import * as ResourceMonitor from "./ResourceMonitor.ts"

/** Settings. @since 0.1.0 @category models */
export interface Options {
  /** Drain when the level stays critical (default true). */
  readonly drainOnCritical?: boolean
  /** How long critical must last (default 10 s). */
  readonly criticalGrace?: Duration.Input
  /** The deadline of that drain (default: the drain's own). */
  readonly drainDeadline?: Duration.Input
}

/** The service's shape. @since 0.1.0 @category models */
export interface Shape {
  /** Whether a drain was triggered for resources. */
  readonly drainTriggered: Effect.Effect<boolean>
}

/**
 * The recovery manager.
 *
 * @since 0.1.0
 * @category services
 */
export class RecoveryManager extends Context.Service<RecoveryManager, Shape>()("effect-mcp/runtime/RecoveryManager") {
  /** The recovery manager supervised on its own (outside the tiers). */
  static readonly layer = (options: Options = {}): Layer.Layer<RecoveryManager, never, ResourceMonitor.ResourceMonitor | Drain.Drain> =>
    Layer.effect(RecoveryManager)(
      Effect.gen(function*() {
        const supervised = yield* make(yield* ResourceMonitor.ResourceMonitor, yield* Drain.Drain, options)
        return yield* Member.standalone("recovery", supervised)
      })
    )
}

/** The service and its member (`watcher`). @since 0.1.0 @category constructors */
export const make = (
  monitor: ResourceMonitor.Shape,
  drain: Drain.Shape,
  options: Options = {}
): Effect.Effect<Member.Supervised<Shape>> =>
  Effect.sync(() => {
    const grace = Member.duration(options.criticalGrace, "10 seconds")
    let triggered = false
    const act = Effect.gen(function*() {
      yield* Effect.sleep(grace)
      // only on a fresh reading: a dead sampler admits everything and must not drain the process
      if (Exit.isSuccess(yield* Effect.exit(monitor.admit("request")))) return
      triggered = true
      yield* Effect.logError(`recovery: resources critical for ${Duration.format(grace)}; draining`).pipe(Effect.annotateLogs({ mode: "FM-03" }))
      yield* Effect.forkDetach(drain.drain(options.drainDeadline))
    })
    const watch = monitor.levels.pipe(
      Stream.switchMap((level) => (level === "critical" && options.drainOnCritical !== false ? Stream.fromEffect(act) : Stream.empty)),
      Stream.runDrain
    )
    return {
      service: { drainTriggered: Effect.sync(() => triggered) },
      members: [{ id: "watcher", restart: "permanent", shutdown: 1_000, start: watch }]
    }
  })
