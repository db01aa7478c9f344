/**
 * Tier 2: the process-wide session table with idle expiry (FM-41). A session is opened, touched by every
 * request, and ends when closed or idle for longer than `idleTimeout`; the number of sessions is bounded
 * (FM-36: past the bound, `open` fails and nothing is evicted).
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
  /** Opens a session under a fresh id (or the given one). */
  readonly open: (id?: string) => Effect.Effect<Session, SessionLimitReached>
  /** Records activity. */
  readonly touch: (id: string) => Effect.Effect<Session, SessionNotFound>
  readonly get: (id: string) => Effect.Effect<Session, SessionNotFound>
  /** Ends a session; `false` when there was none. */
  readonly close: (id: string) => Effect.Effect<boolean>
  readonly size: Effect.Effect<number>
  /** Ids of sessions that expired, from now on. */
  readonly expired: Stream.Stream<string>
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

/** The service and its member (`sweeper`). @since 0.1.0 @category constructors */
export const make = (options: Options = {}): Effect.Effect<Member.Supervised<Shape>> =>
  Effect.gen(function*() {
    const idleMs = Duration.toMillis(Member.duration(options.idleTimeout, "10 minutes"))
    const maxSessions = options.maxSessions ?? 1_000
    const sweepInterval = Member.duration(options.sweepInterval, "30 seconds")
    const sessions = new Map<string, Session>()
    const expired = yield* PubSub.unbounded<string>()

    const found = (id: string) =>
      Effect.suspend(() => {
        const session = sessions.get(id)
        return session === undefined ? Effect.fail(new SessionNotFound({ sessionId: id })) : Effect.succeed(session)
      })

    const sweep = Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const ended = [...sessions.values()].filter((s) => now - s.lastActivity >= idleMs).map((s) => s.id)
      for (const id of ended) sessions.delete(id)
      yield* PubSub.publishAll(expired, ended)
      yield* Metric.update(expiredCounter, ended.length)
      yield* Metric.update(sessionsGauge, sessions.size)
      if (ended.length > 0) yield* Effect.logDebug(`sessions: ${ended.length} expired`)
    })

    const service: Shape = {
      open: Effect.fn("SessionManager.open")(function*(id?: string) {
        const now = yield* Clock.currentTimeMillis
        if (id === undefined || !sessions.has(id)) {
          if (sessions.size >= maxSessions) return yield* new SessionLimitReached({ limit: maxSessions })
        }
        const session = { id: id ?? crypto.randomUUID(), openedAt: now, lastActivity: now }
        sessions.set(session.id, session)
        yield* Metric.update(sessionsGauge, sessions.size)
        return session
      }),
      touch: (id) =>
        Effect.flatMap(found(id), (session) =>
          Effect.map(Clock.currentTimeMillis, (now) => {
            const touched = { ...session, lastActivity: now }
            sessions.set(id, touched)
            return touched
          })),
      get: found,
      close: (id) =>
        Effect.suspend(() => {
          const removed = sessions.delete(id)
          return Effect.as(Metric.update(sessionsGauge, sessions.size), removed)
        }),
      size: Effect.sync(() => sessions.size),
      expired: Stream.fromPubSub(expired)
    }
    return { service, members: [Member.periodic("sweeper", sweepInterval, sweep)] }
  })

/** The session, or `None`, for callers that treat a missing one as data. @since 0.1.0 @category combinators */
export const getOption = (sessions: Shape, id: string): Effect.Effect<Option.Option<Session>> =>
  Effect.option(sessions.get(id))
