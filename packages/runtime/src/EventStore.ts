/**
 * Tier 2: the SSE event stores of all sessions in one place, so that a client resumes a stream with
 * `Last-Event-ID` (FM-13). Each session has its own bounded store (the transports' `EventStore`: by count
 * and bytes, oldest first), so one session's traffic never evicts another's; the number of stores is bounded
 * too (the least recently used goes first), and a store untouched for `idleTimeout` is dropped by the
 * janitor.
 *
 * The stores outlive their supervised member (the janitor): a crashed janitor loses no event. `forSession`
 * gives one session's store the transports' synchronous shape, which is what `StreamableHttpServer` writes
 * to and replays from when its `eventStores` option comes from `HttpState`.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import { EventStore as SessionEvents } from "@effect-mcp/transports"
import * as Member from "./internal/member.ts"

/** Settings. @since 0.1.0 @category models */
export interface Options {
  /** Bounds of each session's store (default 1,000 events / 4 MiB). */
  readonly perSession?: SessionEvents.Options
  /** Most stores at once (default 1,000); past it the least recently used is dropped. */
  readonly maxSessions?: number
  /** A store untouched for this long is dropped (default 10 minutes). */
  readonly idleTimeout?: Duration.Input
  /** How often the janitor runs (default 1 minute). */
  readonly sweepInterval?: Duration.Input
}

/** The service's shape. @since 0.1.0 @category models */
export interface Shape {
  readonly append: (sessionId: string, event: SessionEvents.StoredEvent) => Effect.Effect<void>
  /** The session's stored events of a stream after `seq`, in order (none for an unknown session). */
  readonly after: (sessionId: string, streamId: string, seq: number) => Effect.Effect<ReadonlyArray<SessionEvents.StoredEvent>>
  /** Drops a session's store (the session ended). */
  readonly drop: (sessionId: string) => Effect.Effect<void>
  /** Stores held now. */
  readonly sessions: Effect.Effect<number>
  /**
   * One session's store as the transports' synchronous `EventStore` (the `eventStores` option of
   * `StreamableHttpServer`): `append` and `after` go through the table and count as use, `clear` drops the
   * store, and `size`, `bytes` and `evicted` read it (zero once it is gone). A store that was dropped (LRU,
   * janitor) is created again by the next `append`.
   */
  readonly forSession: (sessionId: string) => SessionEvents.EventStore
}

/**
 * The event stores.
 *
 * @since 0.1.0
 * @category services
 */
export class EventStore extends Context.Service<EventStore, Shape>()("effect-mcp/runtime/EventStore") {
  /** The event stores supervised on their own (outside the tiers). */
  static readonly layer = (options: Options = {}): Layer.Layer<EventStore> =>
    Layer.effect(EventStore)(Effect.flatMap(make(options), (s) => Member.standalone("event-store", s)))
}

const storesGauge = Metric.gauge("mcp_event_stores", { description: "Sessions with a resumption event store" })

interface Entry {
  readonly store: SessionEvents.EventStore
  lastUsed: number
}

/** The service and its member (`janitor`). @since 0.1.0 @category constructors */
export const make = (options: Options = {}): Effect.Effect<Member.Supervised<Shape>> =>
  Effect.gen(function*() {
    const maxSessions = options.maxSessions ?? 1_000
    const idleMs = Duration.toMillis(Member.duration(options.idleTimeout, "10 minutes"))
    // insertion order is recency order: a used store moves to the end
    const stores = new Map<string, Entry>()
    // the synchronous view (`forSession`) reads the time of the clock the service was made with
    const clock = yield* Clock.Clock

    const useAt = (sessionId: string, create: boolean, now: number): SessionEvents.EventStore | undefined => {
      let entry = stores.get(sessionId)
      if (entry === undefined && !create) return undefined
      if (entry === undefined) {
        while (stores.size >= maxSessions) stores.delete(stores.keys().next().value!)
        entry = { store: SessionEvents.make(options.perSession), lastUsed: now }
      }
      stores.delete(sessionId)
      stores.set(sessionId, entry)
      entry.lastUsed = now
      return entry.store
    }
    const use = (sessionId: string, create: boolean) => Effect.map(Clock.currentTimeMillis, (now) => useAt(sessionId, create, now))

    const sweep = Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      for (const [id, entry] of stores) if (now - entry.lastUsed >= idleMs) stores.delete(id)
      yield* Metric.update(storesGauge, stores.size)
    })

    const forSession = (sessionId: string): SessionEvents.EventStore => ({
      append: (event) => useAt(sessionId, true, clock.currentTimeMillisUnsafe())!.append(event),
      after: (streamId, seq) => useAt(sessionId, false, clock.currentTimeMillisUnsafe())?.after(streamId, seq) ?? [],
      size: () => stores.get(sessionId)?.store.size() ?? 0,
      bytes: () => stores.get(sessionId)?.store.bytes() ?? 0,
      evicted: () => stores.get(sessionId)?.store.evicted() ?? 0,
      clear: () => void stores.delete(sessionId)
    })

    const service: Shape = {
      append: (sessionId, event) => Effect.map(use(sessionId, true), (store) => store!.append(event)),
      after: (sessionId, streamId, seq) => Effect.map(use(sessionId, false), (store) => store?.after(streamId, seq) ?? []),
      drop: (sessionId) => Effect.sync(() => void stores.delete(sessionId)),
      sessions: Effect.sync(() => stores.size),
      forSession
    }
    return { service, members: [Member.periodic("janitor", Member.duration(options.sweepInterval, "1 minute"), sweep)] }
  })
