/**
 * Tier 2: run-once by key (FM-10). `run(key, effect)` runs the effect for the first caller of a key; every
 * caller with the same key within `ttl` gets that outcome, joining it while it still runs. An interrupted
 * run pins nothing (the next caller runs again), nor does any outcome that `pins` rejects. Bounded by
 * `capacity` (the oldest key goes first); the janitor drops expired keys so they do not hold memory.
 *
 * The same rule `McpServer` applies to tool calls carrying an idempotency key, as a process-wide service.
 * The keys outlive the supervised member (the janitor).
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Member from "./internal/member.ts"

/** Settings. @since 0.1.0 @category models */
export interface Options {
  /** Most keys kept (default 10,000). */
  readonly capacity?: number
  /** How long an outcome answers repeats (default 10 minutes). */
  readonly ttl?: Duration.Input
  /** Which outcomes are kept (default: all but interruption). */
  readonly pins?: (exit: Exit.Exit<unknown, unknown>) => boolean
  /** How often the janitor drops expired keys (default 1 minute). */
  readonly sweepInterval?: Duration.Input
}

/** The service's shape. @since 0.1.0 @category models */
export interface Shape {
  /**
   * Runs `effect` once per key within the TTL. Callers of one key must expect one type: the key names the
   * operation and its arguments.
   */
  readonly run: <A, E, R>(key: string, effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  readonly invalidate: (key: string) => Effect.Effect<void>
  readonly size: Effect.Effect<number>
}

/**
 * The run-once cache.
 *
 * @since 0.1.0
 * @category services
 */
export class DedupCache extends Context.Service<DedupCache, Shape>()("effect-mcp/runtime/DedupCache") {
  /** The cache supervised on its own (outside the tiers). */
  static readonly layer = (options: Options = {}): Layer.Layer<DedupCache> =>
    Layer.effect(DedupCache)(Effect.flatMap(make(options), (s) => Member.standalone("dedup", s)))
}

const hits = Metric.counter("mcp_dedup_hits_total", { description: "Calls answered by an earlier run of the same key (FM-10)", incremental: true })

interface Entry {
  readonly done: Deferred.Deferred<unknown, unknown>
  readonly expiresAt: number
}

/** The default of `pins`: everything but an interruption. @since 0.1.0 @category policies */
export const notInterrupted = (exit: Exit.Exit<unknown, unknown>): boolean =>
  Exit.isSuccess(exit) || !Cause.hasInterruptsOnly(exit.cause)

/** The service and its member (`janitor`). @since 0.1.0 @category constructors */
export const make = (options: Options = {}): Effect.Effect<Member.Supervised<Shape>> =>
  Effect.gen(function*() {
    const capacity = options.capacity ?? 10_000
    const ttlMs = Duration.toMillis(Member.duration(options.ttl, "10 minutes"))
    const pins = options.pins ?? notInterrupted
    const entries = new Map<string, Entry>()

    const run = <A, E, R>(key: string, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const known = entries.get(key)
        if (known !== undefined && known.expiresAt > now) {
          yield* Metric.update(hits, 1)
          // the key names one operation, so its outcome has this caller's type
          return yield* (Deferred.await(known.done) as Effect.Effect<A, E>)
        }
        entries.delete(key)
        while (entries.size >= capacity) entries.delete(entries.keys().next().value!)
        const entry: Entry = { done: Deferred.makeUnsafe<unknown, unknown>(), expiresAt: now + ttlMs }
        entries.set(key, entry)
        return yield* effect.pipe(
          Effect.onExit((exit) =>
            Effect.suspend(() => {
              // joiners of an unpinned run see its outcome; the next caller runs again
              if (!pins(exit) && entries.get(key) === entry) entries.delete(key)
              return Deferred.done(entry.done, exit)
            })
          )
        )
      })

    const sweep = Effect.map(Clock.currentTimeMillis, (now) => {
      for (const [key, entry] of entries) if (entry.expiresAt <= now) entries.delete(key)
    })

    const service: Shape = {
      run,
      invalidate: (key) => Effect.sync(() => void entries.delete(key)),
      size: Effect.sync(() => entries.size)
    }
    return { service, members: [Member.periodic("janitor", Member.duration(options.sweepInterval, "1 minute"), sweep)] }
  })
