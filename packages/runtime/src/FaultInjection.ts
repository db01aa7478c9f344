/**
 * Fault injection for the supervision tree: every supervised effect of the runtime (each tier, each member,
 * each server and transport) is wrapped with `crashable(target)`, so that `crash(target)` kills it with a
 * defect, exactly as a bug would. Off by default (`crash` then does nothing); the blast-radius tests and a
 * chaos app turn it on.
 *
 * Targets are paths: `"tier/registry"`, `"registry/routes"`, `"infrastructure/sessions"`,
 * `"servers/<id>"`, `"transports/<id>"`, `"observability/resource-monitor"`, and so on (`targets` lists the
 * live ones).
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"

/**
 * The defect an injected crash dies with. Its `mode` names the failure being simulated (default FM-02, a
 * crash that the supervisor must contain).
 *
 * @since 0.1.0
 * @category errors
 */
export class InjectedFault extends Schema.TaggedError<InjectedFault>()("InjectedFault", {
  mode: Schema.String.check(Schema.isPattern(/^FM-\d\d$/)),
  target: Schema.String
}) {
  override get message(): string {
    return `injected fault in ${this.target} (${this.mode})`
  }
}

/** The service's shape. @since 0.1.0 @category models */
export interface Shape {
  readonly enabled: boolean
  /** Makes an effect crashable under `target` (a no-op when injection is off). */
  readonly crashable: (target: string) => <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  /** Crashes every live incarnation of `target`; `false` when none is live or injection is off. */
  readonly crash: (target: string, mode?: string) => Effect.Effect<boolean>
  /** The targets live now. */
  readonly targets: Effect.Effect<ReadonlyArray<string>>
}

/** Makes the service. @since 0.1.0 @category constructors */
export const make = (enabled: boolean): Effect.Effect<Shape> =>
  Effect.sync(() => {
    const live = new Map<string, Set<Deferred.Deferred<InjectedFault>>>()
    const crashable = (target: string) => <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
      !enabled ? self : Effect.suspend(() => {
        const trigger = Deferred.makeUnsafe<InjectedFault>()
        const set = live.get(target) ?? new Set()
        set.add(trigger)
        live.set(target, set)
        return Effect.raceFirst(self, Effect.flatMap(Deferred.await(trigger), Effect.die)).pipe(
          Effect.ensuring(Effect.sync(() => {
            set.delete(trigger)
            if (set.size === 0 && live.get(target) === set) live.delete(target)
          }))
        )
      })
    return {
      enabled,
      crashable,
      crash: (target, mode = "FM-02") =>
        Effect.suspend(() => {
          const set = live.get(target)
          if (!enabled || set === undefined || set.size === 0) return Effect.succeed(false)
          const fault = new InjectedFault({ mode, target })
          return Effect.as(Effect.forEach([...set], (d) => Deferred.succeed(d, fault), { discard: true }), true)
        }).pipe(Effect.tap((hit) => hit ? Effect.logWarning(`fault injected into ${target}`).pipe(Effect.annotateLogs({ mode })) : Effect.void)),
      targets: Effect.sync(() => [...live.keys()].sort())
    }
  })

/**
 * Crash injection into supervised effects.
 *
 * @since 0.1.0
 * @category services
 */
export class FaultInjection extends Context.Service<FaultInjection, Shape>()("effect-mcp/runtime/FaultInjection") {
  /** Injection on (`true`) or off. */
  static readonly layer = (enabled: boolean): Layer.Layer<FaultInjection> => Layer.effect(FaultInjection)(make(enabled))
  /** Injection off: `crashable` is the identity. */
  static readonly disabled: Layer.Layer<FaultInjection> = FaultInjection.layer(false)
}
