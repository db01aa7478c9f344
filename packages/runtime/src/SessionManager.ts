/**
 * Tier 2: the process-wide session table with idle expiry (FM-41). A session is opened, touched by every
 * request, and ends when closed or idle for longer than `idleTimeout`; a busy session (a request in flight,
 * `setBusy`) does not expire. The number of sessions is bounded (FM-36): past the bound, the oldest
 * provisional session (opened with `provisional: true` and never touched since: a client that did not come
 * back after `initialize`) is evicted to make room; when there is none, `open` fails with
 * `SessionLimitReached` and nothing is evicted, so a flood of new sessions never pushes out the ones in use.
 * Sessions the table ends on its own (expired, evicted) are published on `ended`.
 *
 * `HttpState` puts the Streamable HTTP server's sessions in this table.
 *
 * The table outlives its supervised member (the expiry sweeper), like an ETS table owned by the tier: a
 * crashed sweeper restarts without losing a session. A session that is gone answers `SessionNotFound`, so
 * the transport answers 404 and the client initializes again.
 *
 * @since 0.1.0
 */
import * as crypto from "node:crypto"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as Member from "./internal/member.ts"

/** FM-41: no such session (never opened, closed or expired). The client must initialize again (HTTP 404). @since 0.1.0 @category errors */
export class SessionNotFound extends Schema.TaggedError<SessionNotFound>()("SessionNotFound", {
  mode: Schema.tag("FM-41"),
  sessionId: Schema.String
}) {}

/** FM-36: the session bound is reached; the new session is refused (HTTP 503 with Retry-After). @since 0.1.0 @category errors */
export class SessionLimitReached extends Schema.TaggedError<SessionLimitReached>()("SessionLimitReached", {
  mode: Schema.tag("FM-36"),
  limit: Schema.Number
}) {}

/** A session as the table keeps it. @since 0.1.0 @category models */
export interface Session {
  readonly id: string
  readonly openedAt: number
  readonly lastActivity: number
  /** Opened provisionally and not touched since: the first to be evicted to make room for a new session. */
  readonly provisional: boolean
  /** A request of the session is in flight (`setBusy`): it does not expire. */
  readonly busy: boolean
}

/** How a session is opened. @since 0.1.0 @category models */
export interface OpenOptions {
  /**
   * Provisional until first touched: past the bound, the oldest provisional session is evicted to make room
   * rather than the new one refused (default `false`: a session is never evicted).
   */
  readonly provisional?: boolean
}

/** Why the table ended a session on its own. @since 0.1.0 @category models */
export type EndReason = "expired" | "evicted"

/** A session the table ended on its own. @since 0.1.0 @category models */
export interface Ended {
  readonly id: string
  readonly reason: EndReason
}

/** Settings. @since 0.1.0 @category models */
export interface Options {
  /** A session with no activity for this long expires (default 10 minutes). */
  readonly idleTimeout?: Duration.Input
  /** Most sessions at once (default 1,000). */
  readonly maxSessions?: number
  /** How often expired sessions are swept (default 30 s). */
  readonly sweepInterval?: Duration.Input
}

/** The service's shape. @since 0.1.0 @category models */
export interface Shape {
  /**
   * Opens a session under a fresh id (or the given one; reopening a known id is not a new session). Past the
   * bound it evicts the oldest provisional session, or fails with `SessionLimitReached` when there is none.
   */
  readonly open: (id?: string, options?: OpenOptions) => Effect.Effect<Session, SessionLimitReached>
  /** Records activity; a provisional session is provisional no more. */
  readonly touch: (id: string) => Effect.Effect<Session, SessionNotFound>
  /**
   * Marks whether a request of the session is in flight: a busy session does not expire, and the end of
   * being busy counts as activity. Nothing happens for an unknown session.
   */
  readonly setBusy: (id: string, busy: boolean) => Effect.Effect<void>
  readonly get: (id: string) => Effect.Effect<Session, SessionNotFound>
  /** Ends a session; `false` when there was none. */
  readonly close: (id: string) => Effect.Effect<boolean>
  readonly size: Effect.Effect<number>
  /** Ids of sessions that expired, from now on. */
  readonly expired: Stream.Stream<string>
  /** Sessions the table ended on its own (expired or evicted), from now on; a closed session is not one. */
  readonly ended: Stream.Stream<Ended>
}

/**
 * The session table.
 *
 * @since 0.1.0
 * @category services
 */
export class SessionManager extends Context.Service<SessionManager, Shape>()("effect-mcp/runtime/SessionManager") {
  /** The session manager supervised on its own (outside the tiers). */
  static readonly layer = (options: Options = {}): Layer.Layer<SessionManager> =>
    Layer.effect(SessionManager)(Effect.flatMap(make(options), (s) => Member.standalone("sessions", s)))
}

const sessionsGauge = Metric.gauge("mcp_sessions", { description: "Open sessions" })
const expiredCounter = Metric.counter("mcp_sessions_expired_total", { description: "Sessions ended by idle expiry", incremental: true })
const evictedCounter = Metric.counter("mcp_sessions_evicted_total", {
  description: "Provisional sessions evicted to make room for a new one",
  incremental: true
})

/** The service and its member (`sweeper`). @since 0.1.0 @category constructors */
export const make = (options: Options = {}): Effect.Effect<Member.Supervised<Shape>> =>
  Effect.gen(function*() {
    const idleMs = Duration.toMillis(Member.duration(options.idleTimeout, "10 minutes"))
    const maxSessions = options.maxSessions ?? 1_000
    const sweepInterval = Member.duration(options.sweepInterval, "30 seconds")
    // insertion order is open order: the first provisional session found is the oldest
    const sessions = new Map<string, Session>()
    // every session ends at most once, and subscribers (the HTTP server) take each at once: bounded by the table
    const ended = yield* PubSub.unbounded<Ended>()

    const found = (id: string) =>
      Effect.suspend(() => {
        const session = sessions.get(id)
        return session === undefined ? Effect.fail(new SessionNotFound({ sessionId: id })) : Effect.succeed(session)
      })

    const sweep = Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const gone = [...sessions.values()].filter((s) => !s.busy && now - s.lastActivity >= idleMs).map((s) => s.id)
      for (const id of gone) sessions.delete(id)
      yield* PubSub.publishAll(ended, gone.map((id): Ended => ({ id, reason: "expired" })))
      yield* Metric.update(expiredCounter, gone.length)
      yield* Metric.update(sessionsGauge, sessions.size)
      if (gone.length > 0) yield* Effect.logDebug(`sessions: ${gone.length} expired`)
    })

    /** Makes room for one more session: evicts the oldest provisional one, if any. */
    const makeRoom = Effect.gen(function*() {
      let oldest: Session | undefined
      for (const session of sessions.values()) {
        if (session.provisional) {
          oldest = session
          break
        }
      }
      if (oldest === undefined) return yield* new SessionLimitReached({ limit: maxSessions })
      sessions.delete(oldest.id)
      yield* PubSub.publish(ended, { id: oldest.id, reason: "evicted" } satisfies Ended)
      yield* Metric.update(evictedCounter, 1)
    })

    const service: Shape = {
      open: Effect.fn("SessionManager.open")(function*(id?: string, openOptions?: OpenOptions) {
        const now = yield* Clock.currentTimeMillis
        if (id === undefined || !sessions.has(id)) {
          while (sessions.size >= maxSessions) yield* makeRoom
        }
        const session: Session = {
          id: id ?? crypto.randomUUID(),
          openedAt: now,
          lastActivity: now,
          provisional: openOptions?.provisional === true,
          busy: false
        }
        sessions.set(session.id, session)
        yield* Metric.update(sessionsGauge, sessions.size)
        return session
      }),
      touch: (id) =>
        Effect.flatMap(found(id), (session) =>
          Effect.map(Clock.currentTimeMillis, (now) => {
            const touched = { ...session, lastActivity: now, provisional: false }
            sessions.set(id, touched)
            return touched
          })),
      setBusy: (id, busy) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) =>
          Effect.sync(() => {
            const session = sessions.get(id)
            if (session !== undefined) sessions.set(id, { ...session, busy, lastActivity: busy ? session.lastActivity : now })
          })),
      get: found,
      close: (id) =>
        Effect.suspend(() => {
          const removed = sessions.delete(id)
          return Effect.as(Metric.update(sessionsGauge, sessions.size), removed)
        }),
      size: Effect.sync(() => sessions.size),
      expired: Stream.fromPubSub(ended).pipe(Stream.filter((e) => e.reason === "expired"), Stream.map((e) => e.id)),
      ended: Stream.fromPubSub(ended)
    }
    return { service, members: [Member.periodic("sweeper", sweepInterval, sweep)] }
  })

/** The session, or `None`, for callers that treat a missing one as data. @since 0.1.0 @category combinators */
export const getOption = (sessions: Shape, id: string): Effect.Effect<Option.Option<Session>> =>
  Effect.option(sessions.get(id))
