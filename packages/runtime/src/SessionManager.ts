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
 * Session data (FM-52): each session may hold its transport's `state` (for Streamable HTTP, the messages that
 * set the session up, from which a new listener rebuilds its connection), so a session outlives the listener
 * that opened it. With `snapshot`, the table also outlives the process, as an ETS table backed by a file: the
 * sessions that have a state are written to the file (atomically: a temporary file renamed over it; mode
 * 0600, for the ids are secrets) at most every `interval` when something changed and when the table stops,
 * and read back when it starts. A kill -9 loses at most the last `interval` of changes: those sessions get
 * 404 and their clients initialize again. A snapshot that cannot be written or read is a `SnapshotFailed`
 * (logged and counted, `mcp_session_snapshot_failures_total`); it never stops the table.
 *
 * @since 0.1.0
 */
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Schema from "effect/Schema"
import * as Semaphore from "effect/Semaphore"
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

/**
 * FM-52: the session snapshot could not be written or read (`operation`). The table goes on; a snapshot not
 * written is tried again at the next interval, a snapshot not read leaves the table empty (clients initialize
 * again).
 *
 * @since 0.1.0
 * @category errors
 */
export class SnapshotFailed extends Schema.TaggedError<SnapshotFailed>()("SnapshotFailed", {
  mode: Schema.tag("FM-52"),
  operation: Schema.Literals(["read", "write"]),
  path: Schema.String,
  reason: Schema.String
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
  /** Its transport's data to rebuild the session's connection (`setState`; JSON), or `undefined`. */
  readonly state: unknown
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
  /** Keeps the sessions that have a state in a file, so they outlive the process (FM-52; off by default). */
  readonly snapshot?: SnapshotOptions
}

/** Where and how often the table is written (FM-52). @since 0.1.0 @category models */
export interface SnapshotOptions {
  /** The snapshot file (read at start; written through `<path>.tmp`). */
  readonly path: string
  /** Longest time a change waits to be written (default 1 s). */
  readonly interval?: Duration.Input
  /** Longest a write may take before it counts as failed (default 5 s). */
  readonly timeout?: Duration.Input
  /** Largest snapshot read back, checked before reading (default 64 MiB). */
  readonly maxBytes?: number
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
  /** Sets a session's transport state (JSON data; written to the snapshot when there is one). */
  readonly setState: (id: string, state: unknown) => Effect.Effect<void, SessionNotFound>
  /** Writes the snapshot now if something changed (a no-op without `snapshot`). */
  readonly flush: Effect.Effect<void, SnapshotFailed>
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

const snapshotFailures = Metric.counter("mcp_session_snapshot_failures_total", {
  description: "Session snapshots that could not be written or read (FM-52)",
  incremental: true
})

/** The snapshot file's contents. */
const SnapshotFile = Schema.Struct({
  version: Schema.Literal(1),
  sessions: Schema.Array(Schema.Struct({ id: Schema.String, openedAt: Schema.Number, state: Schema.Unknown }))
})
const decodeSnapshot = Schema.decodeUnknownExit(Schema.fromJsonString(SnapshotFile))

const reasonOf = (error: unknown) => error instanceof Error ? error.message : String(error)

/** The sessions of a snapshot file (none when there is no file); bounded by `maxBytes` before reading. */
const readSnapshot = (path: string, maxBytes: number): Effect.Effect<ReadonlyArray<typeof SnapshotFile.Type.sessions[number]>, SnapshotFailed> =>
  Effect.try({
    try: () => {
      let size: number
      try {
        size = fs.statSync(path).size
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "ENOENT") return []
        throw error
      }
      if (size > maxBytes) throw new Error(`the file has ${size} bytes, past the bound of ${maxBytes}`)
      const decoded = decodeSnapshot(fs.readFileSync(path, "utf8"))
      if (decoded._tag === "Failure") throw new Error(`not a session snapshot: ${Cause.pretty(decoded.cause).split("\n")[0]}`)
      return decoded.value.sessions
    },
    catch: (error) => new SnapshotFailed({ operation: "read", path, reason: reasonOf(error) })
  })

/** The service and its members (`sweeper`; `snapshot` with the `snapshot` option). @since 0.1.0 @category constructors */
export const make = (options: Options = {}): Effect.Effect<Member.Supervised<Shape>> =>
  Effect.gen(function*() {
    const idleMs = Duration.toMillis(Member.duration(options.idleTimeout, "10 minutes"))
    const maxSessions = options.maxSessions ?? 1_000
    const sweepInterval = Member.duration(options.sweepInterval, "30 seconds")
    // insertion order is open order: the first provisional session found is the oldest
    const sessions = new Map<string, Session>()
    // every session ends at most once, and subscribers (the HTTP server) take each at once: bounded by the table
    const ended = yield* PubSub.unbounded<Ended>()
    /** Something the snapshot holds changed since it was last written. */
    let dirty = false

    const snapshot = options.snapshot
    if (snapshot !== undefined) {
      const start = yield* Clock.currentTimeMillis
      const restored = yield* Effect.catch(
        readSnapshot(snapshot.path, snapshot.maxBytes ?? 64 * 1024 * 1024),
        (error) =>
          Effect.as(
            Effect.andThen(Metric.update(snapshotFailures, 1), Effect.logWarning(`sessions: ${error.reason} (${error.path}); starting empty`).pipe(
              Effect.annotateLogs({ mode: error.mode })
            )),
            []
          )
      )
      // idle time starts again: the clients had no server to talk to while it was down
      for (const { id, openedAt, state } of restored.slice(-maxSessions)) {
        sessions.set(id, { id, openedAt, lastActivity: start, provisional: false, busy: false, state })
      }
      yield* Metric.update(sessionsGauge, sessions.size)
      if (restored.length > 0) yield* Effect.logInfo(`sessions: ${sessions.size} restored from ${snapshot.path}`)
    }

    /**
     * Writes the snapshot if something changed, through a temporary file renamed over it. One write at a time
     * (two would share the temporary file), and a write once started runs to its end on a fiber of its own:
     * a caller that stops waiting (interrupted, or past `timeout`) never leaves half a file, and the next write
     * waits for it. A write that fails keeps the change to be written again.
     */
    const writing = Semaphore.makeUnsafe(1)
    const writeIfDirty = (path: string): Effect.Effect<void, SnapshotFailed> =>
      Effect.suspend(() => {
        if (!dirty) return Effect.void
        dirty = false
        const entries = [...sessions.values()].filter((s) => s.state !== undefined).map(({ id, openedAt, state }) => ({ id, openedAt, state }))
        const text = JSON.stringify({ version: 1, sessions: entries })
        const tmp = `${path}.tmp`
        return Effect.tryPromise({
          try: async () => {
            const file = await fs.promises.open(tmp, "w", 0o600)
            try {
              await file.writeFile(text)
              await file.sync()
            } finally {
              await file.close()
            }
            await fs.promises.rename(tmp, path)
          },
          catch: (error) => new SnapshotFailed({ operation: "write", path, reason: reasonOf(error) })
        }).pipe(Effect.tapError(() => Effect.sync(() => void (dirty = true))))
      })
    const flush: Effect.Effect<void, SnapshotFailed> = snapshot === undefined
      ? Effect.void
      : Effect.gen(function*() {
        const timeout = Member.duration(snapshot.timeout, "5 seconds")
        const write = yield* Effect.forkDetach(writing.withPermit(writeIfDirty(snapshot.path)))
        return yield* Fiber.join(write).pipe(
          Effect.timeoutOrElse({
            duration: timeout,
            orElse: () =>
              Effect.fail(new SnapshotFailed({ operation: "write", path: snapshot.path, reason: `not written within ${Duration.toMillis(timeout)} ms` }))
          })
        )
      })

    const found = (id: string) =>
      Effect.suspend(() => {
        const session = sessions.get(id)
        return session === undefined ? Effect.fail(new SessionNotFound({ sessionId: id })) : Effect.succeed(session)
      })

    const sweep = Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const gone = [...sessions.values()].filter((s) => !s.busy && now - s.lastActivity >= idleMs).map((s) => s.id)
      for (const id of gone) sessions.delete(id)
      if (gone.length > 0) dirty = true
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
      dirty = true
      yield* PubSub.publish(ended, { id: oldest.id, reason: "evicted" } satisfies Ended)
      yield* Metric.update(evictedCounter, 1)
    })

    const service: Shape = {
      open: Effect.fn("SessionManager.open")(function*(id?: string, openOptions?: OpenOptions) {
        const now = yield* Clock.currentTimeMillis
        const known = id === undefined ? undefined : sessions.get(id)
        if (known === undefined) {
          while (sessions.size >= maxSessions) yield* makeRoom
        }
        const session: Session = {
          id: id ?? crypto.randomUUID(),
          openedAt: now,
          lastActivity: now,
          provisional: openOptions?.provisional === true,
          busy: false,
          state: known?.state
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
      setState: (id, state) =>
        Effect.map(found(id), (session) => {
          sessions.set(id, { ...session, state })
          dirty = true
        }),
      flush,
      close: (id) =>
        Effect.suspend(() => {
          const removed = sessions.delete(id)
          if (removed) dirty = true
          return Effect.as(Metric.update(sessionsGauge, sessions.size), removed)
        }),
      size: Effect.sync(() => sessions.size),
      expired: Stream.fromPubSub(ended).pipe(Stream.filter((e) => e.reason === "expired"), Stream.map((e) => e.id)),
      ended: Stream.fromPubSub(ended)
    }
    const logFailure = (error: SnapshotFailed) =>
      Effect.andThen(
        Metric.update(snapshotFailures, 1),
        Effect.logWarning(`sessions: snapshot not written (${error.path}): ${error.reason}`).pipe(Effect.annotateLogs({ mode: error.mode }))
      )
    const members = [Member.periodic("sweeper", sweepInterval, sweep)]
    if (snapshot !== undefined) {
      // a failed write is logged and tried again, never a crash of the member; the last changes are written
      // when it stops
      const write = Effect.catch(flush, logFailure)
      const writer = Member.periodic("snapshot", Member.duration(snapshot.interval, "1 second"), write)
      members.push({ ...writer, start: Effect.ensuring(writer.start, write) })
    }
    return { service, members }
  })

/** The session, or `None`, for callers that treat a missing one as data. @since 0.1.0 @category combinators */
export const getOption = (sessions: Shape, id: string): Effect.Effect<Option.Option<Session>> =>
  Effect.option(sessions.get(id))
