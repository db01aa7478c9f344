/**
 * Streamable HTTP, server side, for both protocol eras on one endpoint.
 *
 * - Stateful era (2025-03-26 … 2025-11-25): an `initialize` POST without a session mints a session id from the
 *   CSPRNG and starts one long-lived connection (a `Transport` handed to `handle`). Later POSTs carry
 *   `Mcp-Session-Id`; each request is answered on its own POST response, as JSON or as an SSE stream, chosen
 *   lazily (JSON unless something must be streamed before the answer). Messages that belong to no request go
 *   to the GET stream. SSE events carry ids and are kept in a bounded per-session `EventStore`, so a client
 *   resumes with `Last-Event-ID` (FM-13), also after the server ended a stream on purpose and sent `retry`
 *   (SEP-1699). DELETE ends a session; unknown, ended or expired sessions get 404. Idle sessions expire and
 *   all their state is freed; the number of sessions is capped and the least recently used one is evicted.
 *   The session table (ids, activity, idle expiry, the cap) and the event stores are pluggable
 *   (`sessionStore`, `eventStores`): by default they live in this server (`memorySessions`); the runtime's
 *   `HttpState` puts them in its tier-2 `SessionManager` and `EventStore`. Each session's connection (the
 *   handler's fiber, its response streams, its inbox) stays here.
 *   A POST of a request whose id is in flight in the session (duplicated by the network, or retried while the
 *   first runs) is answered 409 with the engine's duplicate error (`id: null`, `data.duplicateId`, FM-10) and
 *   never reaches the handler; the original POST keeps its response. A cancelled request is no longer in flight.
 * - Stateless era (2026-07-28): every POST is its own connection, closed when the answer is written; closing
 *   the response stream cancels the request. `MCP-Protocol-Version`, `Mcp-Method` and `Mcp-Name` are checked
 *   against the body (-32020 on mismatch), and the HTTP status follows the JSON-RPC error (400, 404).
 * - Security and bounds on by default: Host and Origin allow-lists, failing closed (FM-29); the body size is
 *   checked before reading (413); header, body and idle timeouts against slow clients; a bounded inbox per
 *   session (503 with `Retry-After` past it).
 * - Backpressure on SSE responses (FM-48): a send completes once its event is recorded in the session's event
 *   store and written, and waits while the response asks for a drain (one `drain` listener per response, never
 *   one per write), so a handler never runs ahead of a slow reader. Only the sends to that response wait:
 *   every response has its own. A reader that does not read for `stallTimeout`, or that lets more than
 *   `maxBufferedBytes` wait, is cut off (FM-15): the waiting sends fail with `TransportFailure` naming FM-15,
 *   the session goes on, and the client resumes with `Last-Event-ID` to get what it missed.
 * - The deprecated HTTP+SSE transport of 2024-11-05 (GET `/sse`, POST `/messages`) when enabled.
 *
 * The transport knows the HTTP binding of MCP (sessions, headers) and nothing else of it: `handle` (usually
 * `McpServer.serve`) receives plain `Transport`s.
 *
 * @since 0.1.0
 */
import * as crypto from "node:crypto"
import * as http from "node:http"
import * as https from "node:https"
import type * as tls from "node:tls"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Queue from "effect/Queue"
import * as Result from "effect/Result"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { Transport } from "@effect-mcp/core"
import { CodecError, ErrorCode, JsonRpc, JsonRpcCodec } from "@effect-mcp/jsonrpc"
import * as EventStore from "./EventStore.ts"
import * as HttpGuard from "./internal/httpGuard.ts"
import * as McpHeaders from "./internal/mcpHeaders.ts"
import { handshakeTimeoutMs, secureServerOptions, type TlsServerOptions, watchTlsHandshakes } from "./TcpTransport.ts"

/** Server settings. */
export interface Options {
  /** Address to bind (default 127.0.0.1). */
  readonly host?: string
  /** Port (0 picks a free one). */
  readonly port: number
  /** The MCP endpoint's path (default `/mcp`). */
  readonly path?: string
  /**
   * Serves HTTPS (FM-29): the server's certificate and key, optionally mutual TLS (`requestCert` with `ca`),
   * the lowest protocol version (TLS 1.2) and the handshake bound (`handshakeTimeout`, 10 s on Effect's Clock;
   * a client that does not finish in time is dropped). Failed handshakes are logged with their code and
   * counted (`stats.tlsHandshakeFailures`). Without it, plain HTTP (terminate TLS in front, or on loopback).
   */
  readonly tls?: TlsServerOptions
  /** Allowed `Host` names (no port). Default: loopback names for a loopback bind, none otherwise. */
  readonly allowedHosts?: ReadonlyArray<string> | "any"
  /** Allowed `Origin`s as `scheme://host` (no port). Default: loopback origins for a loopback bind, none otherwise. */
  readonly allowedOrigins?: ReadonlyArray<string> | "any"
  /** Largest request body in bytes, checked before reading (default: the codec's frame limit). */
  readonly maxBodyBytes?: number
  /**
   * Most sessions at once (default 1,000); past it a session never used after `initialize` is ended, else the
   * least recently used. Unused with a `sessionStore` (the store has its own bound).
   */
  readonly maxSessions?: number
  /**
   * A session with no request for this long ends and its state is freed (default 10 minutes). Unused with a
   * `sessionStore` (the store expires sessions).
   */
  readonly sessionIdleTimeout?: Duration.Input
  /**
   * Where the session table lives: ids, activity, idle expiry and the bound (default: `memorySessions` with
   * `maxSessions` and `sessionIdleTimeout`, in this server). E.g. the runtime's `HttpState`, for its tier-2
   * `SessionManager`.
   */
  readonly sessionStore?: SessionStore
  /**
   * Longest the rebuild of a session's connection may take (its recorded set-up replayed to a new handler,
   * see `SessionStore.loadSetup`); past it the session ends and the client gets 404 (default 10 s).
   */
  readonly restoreTimeout?: Duration.Input
  /** Messages queued per session before the server answers 503 (default 256). */
  readonly sessionInbox?: number
  /** Bounds of each session's event store, or `false` for no resumption (default 1,000 events / 4 MiB). */
  readonly eventStore?: EventStore.Options | false
  /**
   * Where a session's SSE events are kept (default: a new `EventStore.make(eventStore)` per session, in this
   * server). Called once per new session; `clear` is called when the session ends. Unused when `eventStore`
   * is `false`. E.g. the runtime's `HttpState`.
   */
  readonly eventStores?: (sessionId: string) => EventStore.EventStore
  /** The SSE `retry` hint sent to clients, in milliseconds (default 1,000). */
  readonly retryMs?: number
  /** How requests are answered: lazily JSON or SSE (`auto`, the default), or always one of them. */
  readonly response?: "auto" | "json" | "sse"
  /** SSE keep-alive comment interval (default 15 s). */
  readonly keepAliveInterval?: Duration.Input
  /**
   * Unsent bytes allowed per response before its reader is judged one that does not keep up and is cut off
   * (FM-15): the send fails with `TransportFailure` naming FM-15 (`cause: { mode, bufferedBytes,
   * maxBufferedBytes }`). Sends wait for the response to drain, so only concurrent sends or one huge message
   * reach it: keep it above your largest message (default 8 MiB).
   */
  readonly maxBufferedBytes?: number
  /**
   * Longest a send may wait for an SSE response to drain. Past it the reader is judged one that does not read
   * (FM-15): the response is cut, and the sends waiting on it fail with `TransportFailure` naming FM-15
   * (`cause: { mode, stallTimeoutMs }`); later messages of the stream go to the event store, for the client to
   * resume with `Last-Event-ID` (default 30 s; `false`: wait as long as it takes).
   */
  readonly stallTimeout?: Duration.Input | false
  /** Time to receive a request's headers (default 10 s) and its whole body (default 30 s). */
  readonly headersTimeout?: Duration.Input
  readonly requestTimeout?: Duration.Input
  /** Keep-alive connections idle longer than this are closed (default 5 s). */
  readonly keepAliveTimeout?: Duration.Input
  /** Protocol versions served with the stateless binding (default `["2026-07-28"]`). */
  readonly statelessVersions?: ReadonlyArray<string>
  /** Protocol versions served with sessions (default 2024-11-05 … 2025-11-25). */
  readonly statefulVersions?: ReadonlyArray<string>
  /** Serves the deprecated 2024-11-05 HTTP+SSE transport too (off by default). */
  readonly legacySse?: boolean | { readonly ssePath?: string; readonly messagesPath?: string }
  /**
   * The input schema of a tool by name, to check the `Mcp-Param-*` headers of 2026-07-28 `tools/call`s against
   * the body (SEP-2243); e.g. `(name) => server.findTool(name)?.inputSchema`. Without it those headers pass.
   */
  readonly toolInputSchema?: (name: string) => unknown
  /**
   * Admission control (load shedding, drain): asked before a new session (`"session"`) and before each request
   * (`"request"`); a failure answers 503 with `Retry-After` and -32010 (`data.retryAfterMs` from the error when
   * it has one). E.g. the runtime's `ResourceMonitor.admit`.
   */
  readonly admit?: (kind: "session" | "request") => Effect.Effect<void, unknown>
  /** Extra routes served before the MCP endpoint (health checks, metrics); return `true` when handled. */
  readonly routes?: (request: http.IncomingMessage, response: http.ServerResponse) => boolean
}

/** A listening server. */
export interface HttpServer {
  readonly host: string
  readonly port: number
  /** The MCP endpoint's URL. */
  readonly url: string
  /** Sessions open now. */
  readonly sessions: Effect.Effect<number>
  /** Counters since start. */
  readonly stats: Effect.Effect<Stats>
}

/** Why a session store ended a session on its own. */
export type SessionEndReason = "expired" | "evicted"

/** A session the store ended on its own: the server ends its connection, and the id gets 404 from then on. */
export interface EndedSession {
  readonly id: string
  readonly reason: SessionEndReason
}

/**
 * The table of stateful sessions the server asks (the `sessionStore` option): which ids are open, their
 * activity, idle expiry and the bound. The server mints the ids and keeps each session's connection itself; it
 * calls these in order as things happen, and they should complete at once (the built-in stores are
 * synchronous).
 */
export interface SessionStore {
  /**
   * Admits a new session (its `initialize` arrived). A failure refuses it: 503 with `Retry-After` and -32010
   * (`data.retryAfterMs` from the error when it has one). To make room the store may end another session,
   * and reports it on `ended`; a session not yet `touch`ed (never used) should go before one in use.
   */
  readonly open: (id: string) => Effect.Effect<void, unknown>
  /**
   * The client came back (a request or GET after the `initialize` answer): activity, and the session is in use.
   * A failure means the store no longer has it: the server ends it and answers 404.
   */
  readonly touch: (id: string) => Effect.Effect<void, unknown>
  /** Whether requests of the session are in flight: a busy session does not expire; its end counts as activity. */
  readonly busy: (id: string, busy: boolean) => Effect.Effect<void>
  /** The server ended the session (DELETE, the handler closed it, shutdown): the store forgets it. */
  readonly close: (id: string) => Effect.Effect<void>
  /** Sessions the store ends on its own (expired, evicted), from subscription on; ids the server does not hold are ignored. */
  readonly ended: Stream.Stream<EndedSession>
  /**
   * Keeps a session's set-up (FM-52), called when it changes: after `initialize`, `notifications/initialized`,
   * `logging/setLevel`, `resources/subscribe` and `resources/unsubscribe`. With `loadSetup`, it makes the
   * store's sessions outlive their connections.
   */
  readonly saveSetup?: (id: string, setup: SessionSetup) => Effect.Effect<void, unknown>
  /**
   * The set-up of a session the store has but this server holds no connection for (its handler crashed, or
   * the session was opened by an earlier listener or process sharing the store), or `undefined` when the store
   * does not have the session. The server then rebuilds the session's connection: a new handler gets the
   * set-up replayed, and the client's request is served as if nothing had happened (FM-52). Without it, such a
   * session is unknown (404), and a listener that stops ends its sessions in the store.
   */
  readonly loadSetup?: (id: string) => Effect.Effect<SessionSetup | undefined, unknown>
}

/**
 * What rebuilds a session's connection (FM-52): the messages of its client that set it up, in order:
 * `initialize`, `notifications/initialized`, the last `logging/setLevel`, and the live `resources/subscribe`s.
 * JSON data, so a store may keep it anywhere.
 */
export interface SessionSetup {
  readonly messages: ReadonlyArray<JsonRpc.Message>
}

/**
 * FM-52: a session's connection could not be rebuilt from its set-up (the new server refused the replayed
 * `initialize`, or did not answer within `restoreTimeout`, or the session's inbox was full). The session ends
 * and its client gets 404; it is logged with its mode and counted (`stats.restoresFailed`).
 */
export class SessionRestoreFailed extends Schema.TaggedError<SessionRestoreFailed>()("SessionRestoreFailed", {
  mode: Schema.tag("FM-52"),
  sessionId: Schema.String,
  reason: Schema.String
}) {}

/** Settings of the in-process session table. */
export interface MemorySessionsOptions {
  /** Most sessions at once (default 1,000). */
  readonly maxSessions?: number
  /** A session with no activity for this long expires (default 10 minutes). */
  readonly idleTimeout?: Duration.Input
}

interface MemoryEntry {
  lastActivity: number
  setup: SessionSetup | undefined
  /** The client came back after `initialize`. */
  used: boolean
  busy: boolean
}

/**
 * The in-process session table, the server's default. It keeps each session's set-up, so the session of a
 * handler that crashed is rebuilt at its client's next request (for as long as the listener lives). Idle
 * sessions that are not busy expire (checked every quarter of the timeout, at most every 30 s); past
 * `maxSessions` a new session evicts a session that was never used (the oldest), or else the least recently
 * active one, so a flood of `initialize`s cannot push out the sessions in use. It lives in the scope (its
 * sweeper is a fiber of it).
 */
export const memorySessions = (options: MemorySessionsOptions = {}): Effect.Effect<SessionStore, never, Scope.Scope> =>
  Effect.gen(function*() {
    const maxSessions = options.maxSessions ?? 1_000
    const idleMs = Duration.toMillis(Duration.fromInputUnsafe(options.idleTimeout ?? Duration.minutes(10)))
    const clock = yield* Clock.Clock
    // insertion order is activity order: a used session moves to the end
    const table = new Map<string, MemoryEntry>()
    // each session ends once and the server takes each at once: bounded by the table
    const ended = yield* PubSub.unbounded<EndedSession>()
    yield* Effect.addFinalizer(() => PubSub.shutdown(ended))
    const activity = (id: string, entry: MemoryEntry) => {
      entry.lastActivity = clock.currentTimeMillisUnsafe()
      table.delete(id)
      table.set(id, entry)
    }
    const sweep = Effect.suspend(() => {
      const at = clock.currentTimeMillisUnsafe()
      const gone: Array<EndedSession> = []
      for (const [id, entry] of table) {
        if (!entry.busy && at - entry.lastActivity >= idleMs) gone.push({ id, reason: "expired" })
      }
      for (const e of gone) table.delete(e.id)
      return PubSub.publishAll(ended, gone)
    })
    yield* Effect.forkScoped(Effect.repeat(sweep, Schedule.spaced(Duration.millis(Math.max(10, Math.min(idleMs / 4, 30_000))))))
    return {
      open: (id) =>
        Effect.suspend(() => {
          const evicted: Array<EndedSession> = []
          while (table.size >= maxSessions && table.size > 0) {
            let oldest: string | undefined
            for (const [key, entry] of table) {
              if (!entry.used) {
                oldest = key
                break
              }
            }
            oldest ??= table.keys().next().value!
            table.delete(oldest)
            evicted.push({ id: oldest, reason: "evicted" })
          }
          table.set(id, { lastActivity: clock.currentTimeMillisUnsafe(), setup: undefined, used: false, busy: false })
          return PubSub.publishAll(ended, evicted)
        }),
      touch: (id) =>
        Effect.suspend(() => {
          const entry = table.get(id)
          if (entry === undefined) return Effect.fail(new Cause.NoSuchElementError(`no session ${id}`))
          entry.used = true
          activity(id, entry)
          return Effect.void
        }),
      busy: (id, busy) =>
        Effect.sync(() => {
          const entry = table.get(id)
          if (entry === undefined) return
          entry.busy = busy
          if (!busy) activity(id, entry)
        }),
      close: (id) => Effect.sync(() => void table.delete(id)),
      ended: Stream.fromPubSub(ended),
      saveSetup: (id, setup) =>
        Effect.sync(() => {
          const entry = table.get(id)
          if (entry !== undefined) entry.setup = setup
        }),
      loadSetup: (id) => Effect.sync(() => table.get(id)?.setup)
    } satisfies SessionStore
  })

/** What the server has done, for metrics and tests. */
export interface Stats {
  readonly sessionsCreated: number
  readonly sessionsExpired: number
  readonly sessionsEvicted: number
  readonly sessionsDeleted: number
  readonly rejectedHostOrOrigin: number
  readonly rejectedTooLarge: number
  readonly rejectedOverloaded: number
  readonly slowReadersCut: number
  /** POSTs of a request whose id is in flight in the session, answered with the duplicate error (FM-10). */
  readonly rejectedDuplicates: number
  /** TLS handshakes that failed or did not finish in time (`tls`; FM-29). */
  readonly tlsHandshakeFailures: number
  /** Sessions whose connection was rebuilt from their set-up in the session store (FM-52). */
  readonly sessionsRestored: number
  /** Rebuilds that failed (the set-up was refused or not answered in time): those sessions ended (404). */
  readonly restoresFailed: number
}

const DEFAULT_STATEFUL = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"]

const isRecord = (u: unknown): u is Record<string, unknown> =>
  typeof u === "object" && u !== null && !Array.isArray(u)

const header = (request: http.IncomingMessage, name: string): string | undefined => {
  const value = request.headers[name]
  return Array.isArray(value) ? value[0] : value
}

const failureText = (id: JsonRpc.RequestId | null, code: number, message: string, data?: unknown) =>
  JSON.stringify(JsonRpc.failure(id, code, message, data))

/**
 * FM-10: the answer to a request whose id is already in flight in its session, the engine's own (id null, so
 * that it is not taken for the answer of the original; `data.duplicateId` names it).
 */
const duplicateFailure = (id: JsonRpc.RequestId): JsonRpc.Failure =>
  JsonRpc.failure(null, ErrorCode.InvalidRequest, `Invalid Request: a request with id ${JSON.stringify(id)} is in flight`, {
    duplicateId: id
  })

/** The HTTP status of a stateless-era answer (the binding maps some JSON-RPC errors to 4xx). */
const statelessStatus = (message: JsonRpc.Message): number => {
  if (!("error" in message)) return 200
  switch (message.error.code) {
    case ErrorCode.MethodNotFound:
      return 404
    case ErrorCode.HeaderMismatch:
    case ErrorCode.UnsupportedProtocolVersion:
    case ErrorCode.MissingRequiredClientCapability:
    case ErrorCode.InvalidParams:
    case ErrorCode.InvalidRequest:
    case ErrorCode.ParseError:
      return 400
    default:
      return 200
  }
}

type Mode = "pending" | "json" | "sse"

/** One HTTP response that answers one POST (or a GET stream), and the stream id its events carry. */
interface ResponseStream {
  readonly id: string
  res: http.ServerResponse | undefined
  mode: Mode
  /** Ids of the requests still to be answered on this stream. */
  readonly pending: Set<JsonRpc.RequestId>
  readonly batch: boolean
  readonly parts: Array<string>
  /** Answers to the batch's requests whose ids were already in flight (FM-10), sent with the batch's answer. */
  readonly duplicates: Array<JsonRpc.Failure>
  /** Last event sequence number used, and the last one written to a live response. */
  seq: number
  written: number
  /** What the client accepts. */
  readonly json: boolean
  readonly sse: boolean
  readonly stateless: boolean
  readonly session: Session | undefined
  /** The SSE stream opened by `initialize` carries the session id header. */
  done: boolean
}

/**
 * The sending side of one SSE response (FM-48): sends wait while the response asks for a drain, on ONE
 * persistent `drain` listener per response whatever the number of writes.
 */
interface Sink {
  readonly res: http.ServerResponse
  /** The last write was refused (`res.write` returned false) and no `drain` has come since. */
  needDrain: boolean
  /** Completed at the next drain (or end of the response) for every send waiting; failed when the response is cut. */
  drained: Deferred.Deferred<void, Transport.TransportError> | undefined
  /** Why the response was cut (FM-15); the sends waiting on it fail with it. */
  failed: Transport.TransportError | undefined
  /** Lets every waiting send go (drained, or the response ended: nothing more to wait for). */
  readonly release: () => void
}

interface Session {
  readonly id: string
  readonly inbox: Queue.Queue<JsonRpcCodec.Decoded, Transport.TransportError | Cause.Done>
  readonly streams: Map<string, ResponseStream>
  readonly requestStreams: Map<JsonRpc.RequestId, ResponseStream>
  readonly standalone: ResponseStream
  readonly events: EventStore.EventStore | undefined
  protocolVersion: string | undefined
  initializeId: JsonRpc.RequestId | undefined
  ended: boolean
  /** What the store was last told: whether requests of the session are in flight. */
  busy: boolean
  /** Legacy HTTP+SSE: every message goes to the GET stream. */
  readonly legacy: boolean
  /** The client's messages that set the session up, as last saved (FM-52). */
  setup: ReadonlyArray<JsonRpc.Message>
  /** The replayed set-up requests of a rebuilt session, by their ids: their answers go here, not to the client. */
  readonly replays: Map<JsonRpc.RequestId, Deferred.Deferred<JsonRpc.Message, Transport.TransportError>>
}

/**
 * Listens and serves MCP over Streamable HTTP until the scope closes. `handle` serves each connection (a
 * session, or one stateless request) in its own fiber.
 */
export const serve = <E, R>(
  options: Options,
  handle: (transport: Transport.Transport) => Effect.Effect<void, E, R>
): Effect.Effect<HttpServer, Transport.TransportFailure, R | JsonRpcCodec.JsonRpcCodec | Scope.Scope> =>
  Effect.gen(function*() {
    const codec = yield* JsonRpcCodec.JsonRpcCodec
    const context = yield* Effect.context<R | JsonRpcCodec.JsonRpcCodec>()
    const scope = yield* Effect.scope
    const host = options.host ?? "127.0.0.1"
    const path = options.path ?? "/mcp"
    const defaults = HttpGuard.defaults(host)
    const guard: HttpGuard.Policy = {
      allowedHosts: options.allowedHosts ?? defaults.allowedHosts,
      allowedOrigins: options.allowedOrigins ?? defaults.allowedOrigins
    }
    const maxBodyBytes = options.maxBodyBytes ?? codec.maxFrameBytes
    const inboxSize = options.sessionInbox ?? 256
    const retryMs = options.retryMs ?? 1_000
    const responseMode = options.response ?? "auto"
    const maxBuffered = options.maxBufferedBytes ?? 8 * 1024 * 1024
    const stallTimeout = options.stallTimeout === false
      ? undefined
      : Duration.fromInputUnsafe(options.stallTimeout ?? Duration.seconds(30))
    const statelessVersions = options.statelessVersions ?? ["2026-07-28"]
    const statefulVersions = options.statefulVersions ?? DEFAULT_STATEFUL
    const legacy = options.legacySse === undefined || options.legacySse === false
      ? undefined
      : {
        ssePath: (options.legacySse === true ? undefined : options.legacySse.ssePath) ?? "/sse",
        messagesPath: (options.legacySse === true ? undefined : options.legacySse.messagesPath) ?? "/messages"
      }
    const sessions = new Map<string, Session>()
    // stream ids name a stream within its session (whose id is the secret): a counter will do, prefixed with
    // this listener's epoch, because a session outlives its listener (FM-52) and its event ids must not repeat;
    // a session's GET stream is marked `g-`, so a client resuming one of an earlier connection gets the new one
    const epoch = crypto.randomBytes(4).toString("hex")
    let nextStreamId = 1
    const stats = {
      sessionsCreated: 0,
      sessionsExpired: 0,
      sessionsEvicted: 0,
      sessionsDeleted: 0,
      rejectedHostOrOrigin: 0,
      rejectedTooLarge: 0,
      rejectedOverloaded: 0,
      slowReadersCut: 0,
      rejectedDuplicates: 0,
      sessionsRestored: 0,
      restoresFailed: 0
    }
    // the handlers' fibers live in a scope of their own, closed after the server's finalizer (below) has ended
    // the sessions: a handler interrupted by the shutdown finds its session ended (kept, for FM-52)
    const handlers = yield* Scope.fork(scope)
    const run = <A, E2>(effect: Effect.Effect<A, E2, R | JsonRpcCodec.JsonRpcCodec>) =>
      Effect.runFork(Effect.forkIn(Effect.provideContext(effect, context), handlers))
    const store = options.sessionStore ??
      (yield* memorySessions({
        ...(options.maxSessions === undefined ? {} : { maxSessions: options.maxSessions }),
        ...(options.sessionIdleTimeout === undefined ? {} : { idleTimeout: options.sessionIdleTimeout })
      }))
    const eventStoreOptions = options.eventStore
    // the default: one store per session id in this server, the same one for a session's rebuilt connection
    const ownStores = new Map<string, EventStore.EventStore>()
    const ownStore = (id: string): EventStore.EventStore => {
      const found = ownStores.get(id)
      if (found !== undefined) return found
      const made = EventStore.make(eventStoreOptions === false ? {} : eventStoreOptions)
      const store: EventStore.EventStore = {
        ...made,
        clear: () => {
          made.clear()
          ownStores.delete(id)
        }
      }
      ownStores.set(id, store)
      return store
    }
    const eventStores = eventStoreOptions === false ? undefined : options.eventStores ?? ownStore
    /** Runs a store call from a callback (at once when it is synchronous, as the built-in stores are). */
    const runStore = <A, E2>(effect: Effect.Effect<A, E2>, onExit?: (exit: Exit.Exit<A, E2>) => void) => {
      Effect.runCallbackWith(context)(effect, onExit === undefined ? undefined : { onExit })
    }

    // ---- responses ------------------------------------------------------------------------------------

    const reply = (res: http.ServerResponse, status: number, body?: string, headers: Record<string, string> = {}) => {
      if (res.headersSent || res.destroyed) return
      res.writeHead(status, body === undefined ? headers : { "content-type": "application/json", ...headers })
      res.end(body)
    }

    const newStream = (
      res: http.ServerResponse | undefined,
      session: Session | undefined,
      accept: { readonly json: boolean; readonly sse: boolean },
      batch = false,
      stateless = false,
      standalone = false
    ): ResponseStream => ({
      id: `${standalone ? "g-" : ""}${epoch}-${(nextStreamId++).toString(36)}`,
      res,
      mode: "pending",
      pending: new Set(),
      batch,
      parts: [],
      duplicates: [],
      seq: 0,
      written: 0,
      json: accept.json,
      sse: accept.sse,
      stateless,
      session,
      done: false
    })

    const sessionHeaders = (stream: ResponseStream): Record<string, string> =>
      stream.session === undefined || stream.session.legacy ? {} : { "mcp-session-id": stream.session.id }

    // ---- backpressure (FM-48) and slow readers (FM-15) on SSE responses ------------------------------------

    const sinks = new WeakMap<http.ServerResponse, Sink>()

    /** The sink of an SSE response, made at its first write with its one `drain` listener. */
    const sinkOf = (res: http.ServerResponse): Sink => {
      const existing = sinks.get(res)
      if (existing !== undefined) return existing
      const sink: Sink = {
        res,
        needDrain: false,
        drained: undefined,
        failed: undefined,
        release: () => {
          sink.needDrain = false
          const waiter = sink.drained
          sink.drained = undefined
          if (waiter !== undefined) Deferred.doneUnsafe(waiter, Effect.void)
        }
      }
      res.on("drain", sink.release)
      // flushed, or the client went away: what was written is in the event store for a client that resumes
      res.on("finish", sink.release)
      res.on("close", sink.release)
      sinks.set(res, sink)
      return sink
    }

    /**
     * Cuts a response whose reader does not keep up (FM-15): memory stays bounded, the sends waiting on it fail
     * with `error`, and the stream's later messages go to the event store only (the client resumes).
     */
    const cut = (stream: ResponseStream, sink: Sink, error: Transport.TransportError): Transport.TransportError => {
      if (sink.failed !== undefined) return sink.failed
      sink.failed = error
      stats.slowReadersCut++
      if (stream.res === sink.res) stream.res = undefined
      const waiter = sink.drained
      sink.drained = undefined
      if (waiter !== undefined) Deferred.doneUnsafe(waiter, Effect.fail(error))
      sink.res.destroy()
      return error
    }

    /** Ends a response the server is done with; sends waiting on it go (their events are in the event store). */
    const endResponse = (res: http.ServerResponse, last?: string) => {
      if (!res.writableEnded) res.end(last)
      sinks.get(res)?.release()
    }

    /** Whether a client whose response is cut can get what it missed (`Last-Event-ID`). */
    const resumable = (stream: ResponseStream) => stream.session?.events !== undefined && !stream.stateless && !stream.session.legacy

    /** What a send waits for after its write: the response's drain, at most `stallTimeout` (on Effect's Clock). */
    const awaitDrain = (stream: ResponseStream, sink: Sink): Effect.Effect<void, Transport.TransportError> =>
      Effect.suspend(() => {
        if (sink.failed !== undefined) return Effect.fail(sink.failed)
        if (!sink.needDrain) return Effect.void
        if (sink.drained === undefined) sink.drained = Deferred.makeUnsafe<void, Transport.TransportError>()
        const waiter = Deferred.await(sink.drained)
        if (stallTimeout === undefined) return waiter
        return Effect.flatMap(Effect.timeoutOption(waiter, stallTimeout), (drained) => {
          if (Option.isSome(drained)) return Effect.void
          const ms = Duration.toMillis(stallTimeout)
          return Effect.fail(cut(
            stream,
            sink,
            new Transport.TransportFailure({
              detail: `SSE stream ${stream.id}: the client has not read for ${ms} ms (FM-15): the response is cut${resumable(stream) ? "; the client may resume it with Last-Event-ID" : ""}`,
              cause: { mode: "FM-15", stallTimeoutMs: ms }
            })
          ))
        })
      })

    /**
     * Writes to the stream's live response, in order, at once (the caller has recorded the event already); the
     * effect the sender waits on: the response's drain when it asked for one, or the cut of a response past
     * `maxBufferedBytes` (FM-15).
     */
    const writeRaw = (stream: ResponseStream, text: string): Effect.Effect<void, Transport.TransportError> => {
      const res = stream.res
      if (res === undefined || res.destroyed || res.writableEnded) return Effect.void
      const sink = sinkOf(res)
      if (!res.write(text)) sink.needDrain = true
      const buffered = res.writableLength
      if (buffered > maxBuffered) {
        return Effect.fail(cut(
          stream,
          sink,
          new Transport.TransportFailure({
            detail: `SSE stream ${stream.id}: the client is not reading (FM-15): ${buffered} bytes wait to be sent, past the bound of ${maxBuffered}`,
            cause: { mode: "FM-15", bufferedBytes: buffered, maxBufferedBytes: maxBuffered }
          })
        ))
      }
      return sink.needDrain ? awaitDrain(stream, sink) : Effect.void
    }

    const startSse = (stream: ResponseStream, status = 200) => {
      const res = stream.res
      stream.mode = "sse"
      if (res === undefined || res.headersSent) return
      res.writeHead(status, {
        "content-type": "text/event-stream",
        "cache-control": "no-cache, no-transform",
        "connection": "keep-alive",
        "x-accel-buffering": "no",
        ...sessionHeaders(stream)
      })
      res.flushHeaders()
      // SEP-1699: a priming event gives the client an id to resume from before anything else is sent
      const session = stream.session
      if (session?.events !== undefined && !session.legacy && (session.protocolVersion ?? "") >= "2025-11-25") {
        // nobody waits here: the send that follows waits for the same response
        writeRaw(stream, `id: ${stream.id}.0\nretry: ${retryMs}\ndata: \n\n`)
      }
    }

    /** Records an event in the session's event store, then writes it; what the sender waits on (see `writeRaw`). */
    const writeEvent = (stream: ResponseStream, text: string): Effect.Effect<void, Transport.TransportError> => {
      const session = stream.session
      const seq = ++stream.seq
      if (session?.events !== undefined && !stream.stateless) session.events.append({ streamId: stream.id, seq, text })
      if (stream.res === undefined) return Effect.void
      const id = session?.events !== undefined && !stream.stateless ? `id: ${stream.id}.${seq}\n` : ""
      const sent = writeRaw(stream, `${id}event: message\ndata: ${text}\n\n`)
      stream.written = seq
      return sent
    }

    const finishStream = (stream: ResponseStream) => {
      stream.done = true
      stream.session?.streams.delete(stream.id)
      const res = stream.res
      stream.res = undefined
      if (res !== undefined) endResponse(res)
    }

    /** A message for the client that is not the answer of the stream's request: streams the response. */
    const deliverMessage = (stream: ResponseStream, text: string): Effect.Effect<void, Transport.TransportError> => {
      if (stream.mode === "pending") {
        if (!stream.sse || responseMode === "json") return Effect.void // the client takes JSON only: nothing but the answer
        startSse(stream)
      }
      return writeEvent(stream, text)
    }

    /** Writes an answer (`whole`: the batch's answers as one array, as the engine sends them). */
    const deliverAnswer = (
      stream: ResponseStream,
      id: JsonRpc.RequestId,
      message: JsonRpc.Message,
      text: string,
      whole = false
    ): Effect.Effect<void, Transport.TransportError> => {
      stream.pending.delete(id)
      const last = stream.pending.size === 0
      if (stream.mode === "pending" && (responseMode === "sse" ? !stream.sse : stream.json)) {
        stream.mode = "json"
        if (stream.batch && !whole) {
          stream.parts.push(text)
          if (!last) return Effect.void
          text = `[${stream.parts.join(",")}]`
        }
        const res = stream.res
        stream.done = true
        stream.session?.streams.delete(stream.id)
        if (res !== undefined) {
          reply(res, stream.stateless ? statelessStatus(message) : 200, text, sessionHeaders(stream))
          stream.res = undefined
        }
        return Effect.void
      }
      if (stream.mode === "pending" || stream.mode === "json") startSse(stream)
      const sent = writeEvent(stream, text)
      if (last) finishStream(stream)
      return sent
    }

    /** Routes one outgoing message of a connection to the response it belongs to. */
    const route = (
      session: Session | undefined,
      only: ResponseStream | undefined,
      message: JsonRpc.Incoming,
      sendOptions: Transport.SendOptions | undefined
    ): Effect.Effect<void, Transport.TransportError | CodecError.UnencodableMessage> => {
      const encoded = codec.encode(message)
      if (Result.isFailure(encoded)) return Effect.fail(encoded.failure)
      let text = encoded.success
      const first = Array.isArray(message) ? message[0] as JsonRpc.Message : message as JsonRpc.Message
      if (session !== undefined && session.ended) {
        return Effect.fail(new Transport.ConnectionClosed({ reason: "the session ended" }))
      }
      if (JsonRpc.isResponse(first)) {
        // the answer to a replayed set-up request of a rebuilt session is the server's own (FM-52)
        if (session !== undefined && session.replays.size > 0 && !Array.isArray(message) && first.id !== null) {
          const replay = session.replays.get(first.id)
          if (replay !== undefined) {
            session.replays.delete(first.id)
            Deferred.doneUnsafe(replay, Effect.succeed(first))
            return Effect.void
          }
        }
        // a batch's answer is found by the first of its ids (an element may be a duplicate's, with id null)
        const answers = Array.isArray(message) ? message as ReadonlyArray<JsonRpc.Message> : [first]
        let id: JsonRpc.RequestId | null = null
        for (const m of answers) {
          if (JsonRpc.isResponse(m) && m.id !== null) {
            id = m.id
            break
          }
        }
        const stream = only ?? (id === null || session === undefined ? undefined : session.requestStreams.get(id))
        if (session !== undefined) {
          for (const m of answers) if (JsonRpc.isResponse(m) && m.id !== null) session.requestStreams.delete(m.id)
          syncBusy(session)
        }
        if (stream !== undefined && Array.isArray(message) && stream.duplicates.length > 0) {
          const merged = codec.encode([...message, ...stream.duplicates.splice(0)] as unknown as JsonRpc.Batch)
          if (Result.isFailure(merged)) return Effect.fail(merged.failure)
          text = merged.success
        }
        if (stream === undefined || stream.done) {
          // the request's stream is gone: keep the answer for a client that resumes the GET stream
          return session !== undefined ? deliverMessage(session.standalone, text) : Effect.void
        }
        if (session !== undefined && id !== null && id === session.initializeId) {
          session.initializeId = undefined
          if ("error" in first) session.ended = true
        }
        if (Array.isArray(message)) {
          for (const m of message) if (JsonRpc.isResponse(m) && m.id !== null) stream.pending.delete(m.id)
          stream.pending.add(id ?? "")
        }
        const sent = deliverAnswer(stream, id ?? "", first, text, Array.isArray(message))
        if (session !== undefined && session.ended && !session.legacy) endSession(session, "initialization failed")
        return sent
      }
      const related = sendOptions?.relatedRequestId
      const target = only ??
        (session === undefined
          ? undefined
          : session.legacy
          ? session.standalone
          : (related === undefined ? undefined : session.requestStreams.get(related)) ?? session.standalone)
      // only the sends to this response wait for its reader: every response (and session) has its own sink
      return target !== undefined && !target.done ? deliverMessage(target, text) : Effect.void
    }

    // ---- sessions -------------------------------------------------------------------------------------

    /**
     * Ends a session's connection; the store forgets it (and its events go) unless it ended it itself
     * (`byStore`) or the session is `kept`: its connection ends here, but the store keeps it for a connection to
     * be rebuilt from its set-up at its client's next request (FM-52).
     */
    const endSession = (session: Session, reason: string, byStore = false, kept = false) => {
      if (sessions.get(session.id) === session) {
        sessions.delete(session.id)
        if (!byStore && !kept) runStore(store.close(session.id))
      }
      session.ended = true
      for (const stream of session.streams.values()) finishStream(stream)
      finishStream(session.standalone)
      session.requestStreams.clear()
      for (const replay of session.replays.values()) {
        Deferred.doneUnsafe(replay, Effect.fail(new Transport.ConnectionClosed({ reason })))
      }
      session.replays.clear()
      if (!kept) session.events?.clear()
      Queue.failCauseUnsafe(session.inbox, Cause.fail(new Transport.ConnectionClosed({ reason })))
    }

    /** Whether the store can rebuild sessions: then a session outlives its connection and this listener. */
    const restorable = store.loadSetup !== undefined && store.saveSetup !== undefined
    /** Whether a session whose connection ends now stays in the store, to be rebuilt (FM-52). */
    const keepable = (session: Session) => restorable && !session.legacy && session.setup.length > 0

    /** Tells the store when a session starts or stops having requests in flight (a busy session does not expire). */
    const syncBusy = (session: Session) => {
      const busy = session.requestStreams.size > 0
      if (busy === session.busy || session.ended) return
      session.busy = busy
      runStore(store.busy(session.id, busy))
    }

    /**
     * Starts a session's connection under `id` (the store has it): its inbox, its streams and its handler. A
     * handler that ends with a failure, a defect or an interruption (a crash), or whose supervisor calls the
     * transport's `abandon`, ends the connection only: a restorable store keeps the session, for the next
     * request to rebuild (FM-52); one that ends normally, or closes its transport, ends the session.
     */
    const startSession = (id: string, isLegacy: boolean): Session => {
      const inbox = Effect.runSync(Queue.bounded<JsonRpcCodec.Decoded, Transport.TransportError | Cause.Done>(inboxSize))
      const session: Session = {
        id,
        inbox,
        streams: new Map(),
        requestStreams: new Map(),
        standalone: undefined as unknown as ResponseStream,
        events: eventStores?.(id),
        protocolVersion: undefined,
        initializeId: undefined,
        ended: false,
        busy: false,
        legacy: isLegacy,
        setup: [],
        replays: new Map()
      }
      ;(session as { standalone: ResponseStream }).standalone = newStream(undefined, session, { json: false, sse: true }, false, false, true)
      session.standalone.mode = "sse"
      sessions.set(session.id, session)
      // the server crashed: its connection ends, a restorable store keeps the session for the next request
      const abandon = Effect.sync(() => {
        if (session.ended) return
        endSession(session, "the server of the session crashed", false, keepable(session))
      })
      const transport: Transport.Transport = {
        incoming: Stream.fromQueue(inbox),
        send: (message, sendOptions) => Effect.suspend(() => route(session, undefined, message, sendOptions)),
        close: Effect.sync(() => {
          if (!session.ended) endSession(session, "closed by the server")
        }),
        abandon,
        closeRequestStream: (id) =>
          Effect.sync(() => {
            const stream = session.requestStreams.get(id)
            if (stream === undefined || stream.done || session.events === undefined || !stream.sse) return
            // SEP-1699: end the response now; the client resumes with Last-Event-ID after `retry`
            if (stream.mode !== "sse") startSse(stream)
            const res = stream.res
            stream.res = undefined
            if (res !== undefined) endResponse(res, `retry: ${retryMs}\n\n`)
          })
      }
      run(handle(transport).pipe(
        Effect.onExit((exit) => exit._tag === "Failure" ? abandon : Effect.sync(() => {
          if (!session.ended) endSession(session, "the connection ended")
        })),
        Effect.ignoreCause
      ))
      return session
    }

    /** Opens a session in the store, then starts its connection; `refused` gets the store's error. */
    const createSession = (isLegacy: boolean, opened: (session: Session) => void, refused: (error: unknown) => void) => {
      const id = crypto.randomBytes(16).toString("hex")
      runStore(store.open(id), (exit) => {
        if (exit._tag === "Failure") return refused(Cause.squash(exit.cause))
        stats.sessionsCreated++
        opened(startSession(id, isLegacy))
      })
    }

    // ---- rebuilding a session's connection from its set-up (FM-52) -----------------------------------------

    const restoreTimeout = Duration.fromInputUnsafe(options.restoreTimeout ?? Duration.seconds(10))
    /** Sessions being rebuilt now, and the requests waiting for them (the session, or `undefined`: gone). */
    const restoring = new Map<string, Array<(session: Session | undefined) => void>>()

    /**
     * Replays a rebuilt session's set-up to its new handler, in order, each request answered before the next
     * message (as its client did); the answers are the server's own. Fails when `initialize` is refused or
     * the replay takes longer than `restoreTimeout`.
     */
    const replaySetup = (session: Session, setup: SessionSetup): Effect.Effect<void, SessionRestoreFailed> => {
      const failed = (reason: string) => Effect.fail(new SessionRestoreFailed({ sessionId: session.id, reason }))
      return Effect.gen(function*() {
        let n = 0
        for (const message of setup.messages) {
          if (!JsonRpc.isRequest(message)) {
            if (!Queue.offerUnsafe(session.inbox, Result.succeed(message))) return yield* failed("the session's inbox is full")
            continue
          }
          const id = `effect-mcp/restore/${session.id.slice(0, 8)}/${n++}`
          const answered = Deferred.makeUnsafe<JsonRpc.Message, Transport.TransportError>()
          session.replays.set(id, answered)
          if (!Queue.offerUnsafe(session.inbox, Result.succeed({ ...message, id }))) return yield* failed("the session's inbox is full")
          const answer = yield* Effect.catch(Deferred.await(answered), (error) => failed(`the connection ended: ${error.message}`))
          if ("error" in answer && message.method === "initialize") {
            return yield* failed(`the server refused the replayed initialize: ${answer.error.message}`)
          }
        }
      }).pipe(
        Effect.timeoutOrElse({
          duration: restoreTimeout,
          orElse: () => failed(`the set-up was not answered within ${Duration.toMillis(restoreTimeout)} ms`)
        })
      )
    }

    /**
     * The live session `id`, or one rebuilt from the store's set-up (FM-52); `undefined` when neither (404).
     * Requests for a session being rebuilt wait for it.
     */
    const findSession = (id: string, k: (session: Session | undefined) => void) => {
      // a session being rebuilt is in `sessions` already: its requests wait until its set-up is replayed
      const waiting = restoring.get(id)
      if (waiting !== undefined) return void waiting.push(k)
      const live = sessions.get(id)
      if (live !== undefined && !live.ended) return k(live)
      if (!restorable) return k(undefined)
      restoring.set(id, [k])
      const done = (session: Session | undefined) => {
        const waiters = restoring.get(id) ?? []
        restoring.delete(id)
        for (const w of waiters) w(session)
      }
      const rebuild = Effect.gen(function*() {
        const setup = yield* Effect.orElseSucceed(store.loadSetup!(id), () => undefined)
        const first = setup?.messages[0]
        if (setup === undefined || first === undefined || !JsonRpc.isRequest(first) || first.method !== "initialize") {
          return undefined
        }
        const session = startSession(id, false)
        session.setup = setup.messages
        const requested = isRecord(first.params) ? first.params.protocolVersion : undefined
        session.protocolVersion = typeof requested === "string" ? requested : undefined
        const exit = yield* Effect.exit(replaySetup(session, setup))
        if (exit._tag === "Failure") {
          stats.restoresFailed++
          const error = Cause.squash(exit.cause)
          const reason = error instanceof SessionRestoreFailed ? error.reason : String(error)
          yield* Effect.logWarning(`session ${id.slice(0, 8)}…: its connection could not be rebuilt: ${reason}`).pipe(
            Effect.annotateLogs({ mode: "FM-52", error: "SessionRestoreFailed" })
          )
          if (!session.ended) endSession(session, "its connection could not be rebuilt")
          return undefined
        }
        if (session.ended) return undefined
        stats.sessionsRestored++
        return session
      })
      run(Effect.flatMap(Effect.exit(rebuild), (exit) => Effect.sync(() => done(exit._tag === "Success" ? exit.value : undefined))))
    }

    /** A 503 for a session the store refused (full). */
    const refuseSession = (res: http.ServerResponse, id: JsonRpc.RequestId | null, error: unknown) => {
      stats.rejectedOverloaded++
      const hint = error as { readonly retryAfterMs?: unknown } | undefined
      const retryAfterMs = typeof hint?.retryAfterMs === "number" ? hint.retryAfterMs : 1_000
      reply(res, 503, failureText(id, ErrorCode.Overloaded, "Overloaded: no room for another session", { retryAfterMs }), {
        "retry-after": String(Math.max(1, Math.ceil(retryAfterMs / 1000)))
      })
    }

    /**
     * Activity of the client on a session, then `k`. Once the `initialize` answer is out, the store hears of it
     * (the session is in use); a session the store no longer has ends, and `gone` answers (404).
     */
    const touch = (session: Session, gone: () => void, k: () => void) => {
      if (session.initializeId !== undefined) return k()
      runStore(store.touch(session.id), (exit) => {
        if (exit._tag === "Success" && !session.ended) return k()
        if (!session.ended) endSession(session, "the session is gone from the session store")
        gone()
      })
    }

    // sessions the store ends on its own (idle expiry, eviction) end here too
    yield* Effect.forkScoped(
      Stream.runForEach(store.ended, ({ id, reason }) =>
        Effect.sync(() => {
          const session = sessions.get(id)
          // a session kept without a connection here (FM-52): its events go with it
          if (session === undefined && !restoring.has(id)) return eventStores?.(id).clear()
          if (session === undefined || session.ended) return
          if (reason === "expired") stats.sessionsExpired++
          else stats.sessionsEvicted++
          endSession(session, reason === "expired" ? "expired after being idle" : "evicted: too many sessions", true)
        })),
      { startImmediately: true }
    )

    // ---- requests -------------------------------------------------------------------------------------

    const acceptOf = (request: http.IncomingMessage) => {
      const accept = (header(request, "accept") ?? "").toLowerCase()
      const any = accept === "" || accept.includes("*/*")
      return { json: any || accept.includes("application/json"), sse: any || accept.includes("text/event-stream") }
    }

    const readBody = (request: http.IncomingMessage, res: http.ServerResponse, onBody: (body: Buffer) => void) => {
      const length = Number(header(request, "content-length") ?? NaN)
      if (Number.isFinite(length) && length > maxBodyBytes) {
        stats.rejectedTooLarge++
        reply(res, 413, failureText(null, ErrorCode.InvalidRequest, `Request body exceeds ${maxBodyBytes} bytes`), { connection: "close" })
        request.resume()
        return
      }
      const chunks: Array<Buffer> = []
      let size = 0
      let refused = false
      request.on("data", (chunk: Buffer) => {
        if (refused) return
        size += chunk.length
        if (size > maxBodyBytes) {
          refused = true
          chunks.length = 0
          stats.rejectedTooLarge++
          reply(res, 413, failureText(null, ErrorCode.InvalidRequest, `Request body exceeds ${maxBodyBytes} bytes`), { connection: "close" })
          request.destroy()
          return
        }
        chunks.push(chunk)
      })
      request.on("end", () => {
        if (!refused) onBody(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks))
      })
      request.on("error", () => {})
    }

    const requestIds = (incoming: JsonRpc.Incoming): Array<JsonRpc.RequestId> => {
      const all = Array.isArray(incoming) ? incoming as ReadonlyArray<JsonRpc.Message> : [incoming as JsonRpc.Message]
      const ids: Array<JsonRpc.RequestId> = []
      for (const m of all) if (JsonRpc.isRequest(m)) ids.push(m.id)
      return ids
    }

    /**
     * The requests the client cancels get no answer (the engine sends none): their ids are no longer in flight
     * here, and a response left with nothing to answer ends.
     */
    const release = (session: Session, incoming: JsonRpc.Incoming) => {
      const all = Array.isArray(incoming) ? incoming as ReadonlyArray<JsonRpc.Message> : [incoming as JsonRpc.Message]
      for (const m of all) {
        if (!JsonRpc.isNotification(m) || m.method !== "notifications/cancelled" || !isRecord(m.params)) continue
        const id = m.params.requestId
        if (typeof id !== "string" && typeof id !== "number") continue
        const stream = session.requestStreams.get(id)
        if (stream === undefined) continue
        session.requestStreams.delete(id)
        stream.pending.delete(id)
        if (stream.pending.size === 0 && !stream.done) finishStream(stream)
      }
      syncBusy(session)
    }

    /**
     * Keeps what sets the session up (FM-52) in the store when it changes: `initialize`, the
     * `notifications/initialized` that follows, the last `logging/setLevel`, the live `resources/subscribe`s
     * (at most 1,000).
     */
    const recordSetup = (session: Session, incoming: JsonRpc.Incoming) => {
      if (!restorable || session.legacy) return
      const all = Array.isArray(incoming) ? incoming as ReadonlyArray<JsonRpc.Message> : [incoming as JsonRpc.Message]
      let setup = session.setup
      let changed = false
      const methodOf = (m: JsonRpc.Message) => "method" in m ? m.method : undefined
      const uriOf = (m: JsonRpc.Message) => "params" in m && isRecord(m.params) ? m.params.uri : undefined
      for (const m of all) {
        const method = methodOf(m)
        if (method === "initialize" && JsonRpc.isRequest(m)) {
          setup = [m]
        } else if (setup.length === 0) {
          continue
        } else if (method === "notifications/initialized") {
          if (setup.some((x) => methodOf(x) === method)) continue
          setup = [...setup, m]
        } else if (method === "logging/setLevel" && JsonRpc.isRequest(m)) {
          setup = [...setup.filter((x) => methodOf(x) !== method), m]
        } else if ((method === "resources/subscribe" || method === "resources/unsubscribe") && JsonRpc.isRequest(m)) {
          const uri = uriOf(m)
          setup = setup.filter((x) => !(methodOf(x) === "resources/subscribe" && uriOf(x) === uri))
          if (method === "resources/subscribe" && setup.length <= 1_003) setup = [...setup, m]
        } else {
          continue
        }
        changed = true
      }
      if (!changed) return
      session.setup = setup
      runStore(Effect.ignore(store.saveSetup!(session.id, { messages: setup })))
    }

    /** Hands a decoded POST to a session and binds its requests to this response. */
    const postToSession = (
      session: Session,
      incoming: JsonRpc.Incoming,
      request: http.IncomingMessage,
      res: http.ServerResponse
    ) => {
      const first = (Array.isArray(incoming) ? incoming[0] : incoming) as JsonRpc.Message
      touch(session, () => reply(res, 404, failureText(JsonRpc.isRequest(first) ? first.id : null, -32001, "Session not found")), () => {
        release(session, incoming)
        recordSetup(session, incoming)
        handOver(session, incoming, request, res)
      })
    }

    /** Answers the requests of a POST that are in flight already (FM-10), and binds the others. */
    const handOver = (
      session: Session,
      incoming: JsonRpc.Incoming,
      request: http.IncomingMessage,
      res: http.ServerResponse
    ) => {
      // FM-10: a request whose id is in flight in the session (a duplicated POST, a retry while the first runs)
      // is answered here with the engine's duplicate error; it must not take the original's response stream
      const inFlight = requestIds(incoming).filter((id) => session.requestStreams.has(id))
      if (inFlight.length > 0) {
        stats.rejectedDuplicates += inFlight.length
        if (!Array.isArray(incoming)) return reply(res, 409, JSON.stringify(duplicateFailure(inFlight[0]!)))
        const rest = (incoming as ReadonlyArray<JsonRpc.Message>).filter((m) => !(JsonRpc.isRequest(m) && inFlight.includes(m.id)))
        if (!rest.some(JsonRpc.isRequest)) {
          // nothing left to answer on this response: the notifications go on, the duplicates are answered now
          if (rest.length > 0) Queue.offerUnsafe(session.inbox, Result.succeed(rest as unknown as JsonRpc.Batch))
          return reply(res, 409, JSON.stringify(inFlight.map(duplicateFailure)))
        }
        return bindToSession(session, rest as unknown as JsonRpc.Batch, inFlight.map(duplicateFailure), request, res)
      }
      return bindToSession(session, incoming, [], request, res)
    }

    /** Binds the requests of a POST (none of them in flight) to its response and hands it to the session. */
    const bindToSession = (
      session: Session,
      incoming: JsonRpc.Incoming,
      duplicates: ReadonlyArray<JsonRpc.Failure>,
      request: http.IncomingMessage,
      res: http.ServerResponse
    ) => {
      const ids = requestIds(incoming)
      if (ids.length === 0) {
        if (!Queue.offerUnsafe(session.inbox, Result.succeed(incoming))) {
          stats.rejectedOverloaded++
          return reply(res, 503, failureText(null, ErrorCode.Overloaded, "Session overloaded"), { "retry-after": "1" })
        }
        return reply(res, 202)
      }
      const stream = newStream(res, session, acceptOf(request), Array.isArray(incoming))
      stream.duplicates.push(...duplicates)
      for (const id of ids) {
        stream.pending.add(id)
        session.requestStreams.set(id, stream)
      }
      session.streams.set(stream.id, stream)
      syncBusy(session)
      res.on("close", () => {
        // the client went away: the requests go on (2025: a disconnect is not a cancellation); their
        // answers are kept in the event store for a client that resumes
        if (stream.res === res) stream.res = undefined
      })
      if (!Queue.offerUnsafe(session.inbox, Result.succeed(incoming))) {
        for (const id of ids) session.requestStreams.delete(id)
        session.streams.delete(stream.id)
        syncBusy(session)
        stats.rejectedOverloaded++
        return reply(res, 503, failureText(ids[0]!, ErrorCode.Overloaded, "Session overloaded: retry later", { retryAfterMs: 1000 }), {
          "retry-after": "1"
        })
      }
    }

    /** 2026-07-28: one request, one connection. */
    const postStateless = (message: JsonRpc.Request, request: http.IncomingMessage, res: http.ServerResponse) => {
      const stream = newStream(res, undefined, acceptOf(request), false, true)
      stream.pending.add(message.id)
      const inbox = Effect.runSync(Queue.bounded<JsonRpcCodec.Decoded, Transport.TransportError | Cause.Done>(2))
      Queue.offerUnsafe(inbox, Result.succeed(message))
      res.on("close", () => {
        if (!stream.done) {
          // closing the response stream is the cancellation signal of this era
          stream.done = true
          stream.res = undefined
          Queue.failCauseUnsafe(inbox, Cause.fail(new Transport.ConnectionClosed({ reason: "the client closed the request's stream" })))
        }
      })
      const transport: Transport.Transport = {
        incoming: Stream.fromQueue(inbox),
        send: (outgoing, sendOptions) =>
          Effect.suspend(() => {
            if (stream.done) return Effect.fail(new Transport.ConnectionClosed({ reason: "the request's stream is closed" }))
            const sent = route(undefined, stream, outgoing, sendOptions)
            if (stream.done) Queue.endUnsafe(inbox)
            return sent
          }),
        close: Effect.sync(() => {
          Queue.endUnsafe(inbox)
          if (!stream.done) finishStream(stream)
        })
      }
      run(handle(transport).pipe(
        Effect.ignoreCause,
        Effect.ensuring(Effect.sync(() => {
          if (!stream.done) {
            stream.done = true
            if (stream.res !== undefined) {
              if (stream.res.headersSent) stream.res.end()
              else reply(stream.res, 500, failureText(message.id, ErrorCode.InternalError, "The request ended without an answer"))
            }
          }
        }))
      ))
    }

    /** The checks of the 2026-07-28 request headers against the body; an error text, or undefined. */
    const headerMismatch = (request: http.IncomingMessage, message: JsonRpc.Request | JsonRpc.Notification) => {
      const params = isRecord(message.params) ? message.params : undefined
      const meta = params !== undefined && isRecord(params._meta) ? params._meta : undefined
      const bodyVersion = meta?.["io.modelcontextprotocol/protocolVersion"]
      const headerVersion = header(request, "mcp-protocol-version")
      if (headerVersion === undefined) return "the MCP-Protocol-Version header is required"
      if (bodyVersion !== undefined && bodyVersion !== headerVersion) {
        return `MCP-Protocol-Version header "${headerVersion}" does not match the body's "${String(bodyVersion)}"`
      }
      if (!JsonRpc.isRequest(message as JsonRpc.Message)) return undefined
      const method = header(request, "mcp-method")
      if (method === undefined) return "the Mcp-Method header is required"
      if (method !== message.method) return `Mcp-Method header "${method}" does not match the body's "${message.method}"`
      const named = message.method === "tools/call" || message.method === "prompts/get"
        ? params?.name
        : message.method === "resources/read"
        ? params?.uri
        : message.method === "tasks/get" || message.method === "tasks/update" || message.method === "tasks/cancel"
        ? params?.taskId
        : undefined
      if (named !== undefined) {
        const raw = header(request, "mcp-name")
        if (raw === undefined) return "the Mcp-Name header is required"
        const name = McpHeaders.decodeValue(raw)
        if (name === undefined) return "the Mcp-Name header is not valid base64"
        if (name !== named) return `Mcp-Name header "${name}" does not match the body's "${String(named)}"`
      }
      if (message.method === "tools/call" && typeof params?.name === "string" && options.toolInputSchema !== undefined) {
        const schema = options.toolInputSchema(params.name)
        const found = schema === undefined ? undefined : McpHeaders.toolHeaders(schema)
        if (found !== undefined && "headers" in found) {
          return McpHeaders.checkParamHeaders(found.headers, params.arguments, (name) => header(request, name))
        }
      }
      return undefined
    }

    const onPost = (request: http.IncomingMessage, res: http.ServerResponse) => {
      const contentType = (header(request, "content-type") ?? "").toLowerCase()
      if (!contentType.includes("application/json")) {
        request.resume()
        return reply(res, 415, failureText(null, ErrorCode.InvalidRequest, "Content-Type must be application/json"))
      }
      const accept = acceptOf(request)
      if (!accept.json && !accept.sse) {
        request.resume()
        return reply(res, 406, failureText(null, ErrorCode.InvalidRequest, "Accept must include application/json or text/event-stream"))
      }
      readBody(request, res, (body) => {
        const decoded = codec.decodeBytes(body, { allowBatch: true })
        if (Result.isFailure(decoded)) {
          return reply(res, 400, JSON.stringify(CodecError.toResponse(decoded.failure)))
        }
        const admit = options.admit
        if (admit === undefined) return dispatchPost(decoded.success, request, res)
        const first = (Array.isArray(decoded.success) ? decoded.success[0] : decoded.success) as JsonRpc.Message
        if (!JsonRpc.isRequest(first)) return dispatchPost(decoded.success, request, res)
        const kind = first.method === "initialize" && header(request, "mcp-session-id") === undefined ? "session" : "request"
        Effect.runCallback(admit(kind), {
          onExit: (exit) => {
            if (exit._tag === "Success") return dispatchPost(decoded.success, request, res)
            stats.rejectedOverloaded++
            const error = Cause.squash(exit.cause) as { readonly retryAfterMs?: unknown; readonly message?: unknown }
            const retryAfterMs = typeof error?.retryAfterMs === "number" ? error.retryAfterMs : 1_000
            const reason = typeof error?.message === "string" ? error.message : "the server is shedding load"
            reply(res, 503, failureText(first.id, ErrorCode.Overloaded, `Overloaded: ${reason}`, { retryAfterMs }), {
              "retry-after": String(Math.max(1, Math.ceil(retryAfterMs / 1000)))
            })
          }
        })
      })
    }

    /** Routes a decoded POST: the stateless binding, a new session, or an existing one. */
    const dispatchPost = (incoming: JsonRpc.Incoming, request: http.IncomingMessage, res: http.ServerResponse) => {
      const sessionId = header(request, "mcp-session-id")
      const headerVersion = header(request, "mcp-protocol-version")
      const first = Array.isArray(incoming) ? incoming[0] as JsonRpc.Message : incoming as JsonRpc.Message
      const params = "params" in first && isRecord(first.params) ? first.params : undefined
      const meta = params !== undefined && isRecord(params._meta) ? params._meta : undefined
      const bodyVersion = meta?.["io.modelcontextprotocol/protocolVersion"]
      const stateless = !Array.isArray(incoming) &&
        ((headerVersion !== undefined && statelessVersions.includes(headerVersion)) ||
          (typeof bodyVersion === "string" && !statefulVersions.includes(bodyVersion)))
      if (stateless) {
        // the stateless binding: sessions are ignored
        if (JsonRpc.isResponse(first)) {
          return reply(res, 400, failureText(null, ErrorCode.InvalidRequest, "This protocol version takes no responses from clients"))
        }
        const message = first as JsonRpc.Request | JsonRpc.Notification
        const mismatch = headerMismatch(request, message)
        const id = JsonRpc.isRequest(first) ? first.id : null
        if (mismatch !== undefined) return reply(res, 400, failureText(id, ErrorCode.HeaderMismatch, `Header mismatch: ${mismatch}`))
        if (id === null) return reply(res, 202)
        if (meta === undefined || bodyVersion === undefined) {
          return reply(res, 400, failureText(id, ErrorCode.InvalidParams, "params._meta must carry io.modelcontextprotocol/protocolVersion"))
        }
        return postStateless(first as JsonRpc.Request, request, res)
      }
      if (sessionId === undefined) {
        if (JsonRpc.isRequest(first) && first.method === "initialize" && !Array.isArray(incoming)) {
          return createSession(false, (session) => {
            session.initializeId = first.id
            const requested = params?.protocolVersion
            session.protocolVersion = typeof requested === "string" ? requested : undefined
            postToSession(session, incoming, request, res)
          }, (error) => refuseSession(res, first.id, error))
        }
        if (headerVersion !== undefined && !statefulVersions.includes(headerVersion)) {
          return reply(res, 400, failureText(JsonRpc.isRequest(first) ? first.id : null, ErrorCode.UnsupportedProtocolVersion, "Unsupported protocol version", {
            supported: [...statefulVersions, ...statelessVersions],
            requested: headerVersion
          }))
        }
        return reply(res, 400, failureText(JsonRpc.isRequest(first) ? first.id : null, ErrorCode.InvalidRequest, "Bad Request: Mcp-Session-Id header is required"))
      }
      if (headerVersion !== undefined && !statefulVersions.includes(headerVersion)) {
        return reply(res, 400, failureText(JsonRpc.isRequest(first) ? first.id : null, ErrorCode.InvalidRequest, `Unsupported MCP-Protocol-Version: ${headerVersion}`))
      }
      findSession(sessionId, (session) => {
        if (session === undefined) {
          return reply(res, 404, failureText(JsonRpc.isRequest(first) ? first.id : null, -32001, "Session not found"))
        }
        if (JsonRpc.isRequest(first) && first.method === "initialize") {
          return reply(res, 400, failureText(first.id, ErrorCode.InvalidRequest, "The session is already initialized"))
        }
        postToSession(session, incoming, request, res)
      })
    }

    const openSse = (stream: ResponseStream, res: http.ServerResponse) => {
      const previous = stream.res
      stream.res = res
      if (previous !== undefined && previous !== res) endResponse(previous)
      res.writeHead(200, {
        "content-type": "text/event-stream",
        "cache-control": "no-cache, no-transform",
        "connection": "keep-alive",
        "x-accel-buffering": "no",
        ...sessionHeaders(stream)
      })
      res.flushHeaders()
      res.on("close", () => {
        if (stream.res === res) stream.res = undefined
      })
    }

    const onGet = (request: http.IncomingMessage, res: http.ServerResponse) => {
      if (!acceptOf(request).sse) return reply(res, 406, failureText(null, ErrorCode.InvalidRequest, "Accept must include text/event-stream"))
      const sessionId = header(request, "mcp-session-id")
      if (sessionId === undefined) {
        return reply(res, 405, failureText(null, ErrorCode.InvalidRequest, "GET needs an Mcp-Session-Id (this protocol version has no GET stream)"), {
          allow: "POST, DELETE"
        })
      }
      findSession(sessionId, (session) => {
        if (session === undefined) return reply(res, 404, failureText(null, -32001, "Session not found"))
        touch(session, () => reply(res, 404, failureText(null, -32001, "Session not found")), () => openGet(session, request, res))
      })
    }

    /** A GET stream of a live session: the standalone stream, or any stream resumed with `Last-Event-ID`. */
    const openGet = (session: Session, request: http.IncomingMessage, res: http.ServerResponse) => {
      const lastEventId = header(request, "last-event-id")
      if (lastEventId !== undefined) {
        const dot = lastEventId.lastIndexOf(".")
        const streamId = dot === -1 ? lastEventId : lastEventId.slice(0, dot)
        const seq = dot === -1 ? 0 : Number(lastEventId.slice(dot + 1))
        const stream = streamId === session.standalone.id ? session.standalone : session.streams.get(streamId)
        const missed = session.events?.after(streamId, Number.isFinite(seq) ? seq : 0) ?? []
        const standalone = session.standalone
        if (stream === undefined && streamId.startsWith("g-") && (standalone.res === undefined || standalone.res.writableEnded)) {
          // the GET stream of an earlier connection of this session (FM-52): what it missed, then this one's
          openSse(standalone, res)
          for (const e of [...missed, ...(session.events?.after(standalone.id, standalone.written) ?? [])]) {
            writeRaw(standalone, `id: ${e.streamId}.${e.seq}\nevent: message\ndata: ${e.text}\n\n`)
          }
          standalone.written = standalone.seq
          return
        }
        if (stream === undefined) {
          // a finished stream: replay what is left of it and end
          res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", ...{ "mcp-session-id": session.id } })
          for (const e of missed) res.write(`id: ${e.streamId}.${e.seq}\nevent: message\ndata: ${e.text}\n\n`)
          return res.end()
        }
        openSse(stream, res)
        // a replay is no send: nobody waits (it is bounded by the event store); the sends that follow wait
        for (const e of missed) writeRaw(stream, `id: ${e.streamId}.${e.seq}\nevent: message\ndata: ${e.text}\n\n`)
        stream.written = stream.seq
        if (stream !== session.standalone && stream.pending.size === 0) finishStream(stream)
        return
      }
      const standalone = session.standalone
      if (standalone.res !== undefined && !standalone.res.writableEnded) {
        return reply(res, 409, failureText(null, ErrorCode.InvalidRequest, "Conflict: only one GET stream per session"))
      }
      openSse(standalone, res)
      // what was sent while no GET stream was open
      for (const e of session.events?.after(standalone.id, standalone.written) ?? []) {
        writeRaw(standalone, `id: ${e.streamId}.${e.seq}\nevent: message\ndata: ${e.text}\n\n`)
      }
      standalone.written = standalone.seq
    }

    const onDelete = (request: http.IncomingMessage, res: http.ServerResponse) => {
      const sessionId = header(request, "mcp-session-id")
      if (sessionId === undefined) {
        return reply(res, 405, failureText(null, ErrorCode.InvalidRequest, "DELETE needs an Mcp-Session-Id"), { allow: "POST" })
      }
      const session = sessions.get(sessionId)
      if (session !== undefined && !session.ended) {
        stats.sessionsDeleted++
        endSession(session, "the client ended the session")
        return reply(res, 200)
      }
      if (!restorable) return reply(res, 404, failureText(null, -32001, "Session not found"))
      // a session the store keeps without a connection here (FM-52): it ends in the store
      runStore(Effect.orElseSucceed(store.loadSetup!(sessionId), () => undefined), (exit) => {
        if (exit._tag === "Failure" || exit.value === undefined || sessions.has(sessionId)) {
          return reply(res, 404, failureText(null, -32001, "Session not found"))
        }
        stats.sessionsDeleted++
        runStore(store.close(sessionId))
        eventStores?.(sessionId).clear()
        reply(res, 200)
      })
    }

    // ---- the deprecated HTTP+SSE transport (2024-11-05) -----------------------------------------------

    const onLegacySse = (res: http.ServerResponse) =>
      createSession(true, (session) => {
        if (res.destroyed) return endSession(session, "the SSE stream closed")
        openSse(session.standalone, res)
        res.on("close", () => endSession(session, "the SSE stream closed"))
        writeRaw(session.standalone, `event: endpoint\ndata: ${legacy!.messagesPath}?sessionId=${session.id}\n\n`)
      }, (error) => refuseSession(res, null, error))

    const onLegacyMessage = (request: http.IncomingMessage, res: http.ServerResponse, url: URL) => {
      const session = sessions.get(url.searchParams.get("sessionId") ?? "")
      if (session === undefined || !session.legacy || session.ended) return reply(res, 404, failureText(null, -32001, "Session not found"))
      readBody(request, res, (body) => {
        const decoded = codec.decodeBytes(body, { allowBatch: true })
        if (Result.isFailure(decoded)) return reply(res, 400, JSON.stringify(CodecError.toResponse(decoded.failure)))
        touch(session, () => reply(res, 404, failureText(null, -32001, "Session not found")), () => {
          if (!Queue.offerUnsafe(session.inbox, decoded)) {
            stats.rejectedOverloaded++
            return reply(res, 503, failureText(null, ErrorCode.Overloaded, "Session overloaded"), { "retry-after": "1" })
          }
          reply(res, 202)
        })
      })
    }

    // ---- the server -----------------------------------------------------------------------------------

    const headersTimeoutMs = Duration.toMillis(Duration.fromInputUnsafe(options.headersTimeout ?? Duration.seconds(10)))
    const requestTimeoutMs = Duration.toMillis(Duration.fromInputUnsafe(options.requestTimeout ?? Duration.seconds(30)))
    const serverOptions: http.ServerOptions = {
      // slow clients are checked this often (Node's default, 30 s, lets a slowloris hold a socket that long)
      connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(Math.min(headersTimeoutMs, requestTimeoutMs) / 2)))
    }
    const onRequest = (request: http.IncomingMessage, res: http.ServerResponse) => {
      res.on("error", () => {})
      request.on("error", () => {})
      const refused = HttpGuard.check(guard, request)
      if (refused !== undefined) {
        stats.rejectedHostOrOrigin++
        request.resume()
        return reply(res, 403, failureText(null, ErrorCode.InvalidRequest, `Forbidden: ${refused}`))
      }
      if (options.routes !== undefined && options.routes(request, res)) return
      const target = request.url ?? "/"
      const query = target.indexOf("?")
      const pathname = query === -1 ? target : target.slice(0, query)
      if (pathname === path) {
        switch (request.method) {
          case "POST":
            return onPost(request, res)
          case "GET":
            return onGet(request, res)
          case "DELETE":
            return onDelete(request, res)
          default:
            request.resume()
            return reply(res, 405, failureText(null, ErrorCode.InvalidRequest, "Method not allowed"), { allow: "GET, POST, DELETE" })
        }
      }
      if (legacy !== undefined && pathname === legacy.ssePath && request.method === "GET") return onLegacySse(res)
      if (legacy !== undefined && pathname === legacy.messagesPath && request.method === "POST") {
        return onLegacyMessage(request, res, new URL(target, "http://localhost"))
      }
      request.resume()
      reply(res, 404, failureText(null, ErrorCode.InvalidRequest, "Not found"))
    }
    const server = options.tls === undefined
      ? http.createServer(serverOptions, onRequest)
      : https.createServer({ ...serverOptions, ...secureServerOptions(options.tls) }, onRequest)
    // FM-29: each TLS handshake is bounded on Effect's Clock, and a failed one is logged with its code and counted
    const handshakeTimers = new Set<Fiber.Fiber<void>>()
    const handshakes = options.tls === undefined ? undefined : watchTlsHandshakes(server as https.Server, {
      timeoutMs: handshakeTimeoutMs(options.tls),
      name: `https ${host}:${options.port}`,
      run: (effect) => {
        const fiber = Effect.runForkWith(context)(effect)
        handshakeTimers.add(fiber)
        fiber.addObserver(() => handshakeTimers.delete(fiber))
        return fiber
      },
      admit: () => "serve",
      release: () => {}
    })
    server.on("secureConnection", (socket: tls.TLSSocket) => {
      if (handshakes !== undefined && handshakes.secured(socket) !== "serve") socket.destroy()
    })
    server.headersTimeout = headersTimeoutMs
    server.requestTimeout = requestTimeoutMs
    server.keepAliveTimeout = Duration.toMillis(Duration.fromInputUnsafe(options.keepAliveTimeout ?? Duration.seconds(5)))
    server.on("clientError", (error: NodeJS.ErrnoException, socket) => {
      // malformed requests get 400; slow ones (header or body timeout) 408; either way the socket goes
      const status = error.code === "ERR_HTTP_REQUEST_TIMEOUT" ? "408 Request Timeout" : "400 Bad Request"
      if (socket.writable) socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`, () => socket.destroy())
      else socket.destroy()
      setTimeout(() => socket.destroy(), 1_000).unref()
    })

    // SSE keep-alive comments so idle streams survive intermediaries
    const keepAliveMs = Duration.toMillis(Duration.fromInputUnsafe(options.keepAliveInterval ?? Duration.seconds(15)))
    const keepAlive = setInterval(() => {
      for (const session of sessions.values()) {
        const res = session.standalone.res
        // a response waiting for its reader gets nothing more (its buffer only grows)
        if (res !== undefined && !res.writableEnded && sinks.get(res)?.needDrain !== true) res.write(":\n\n")
      }
    }, keepAliveMs)
    keepAlive.unref()

    const address = yield* Effect.callback<{ address: string; port: number }, Transport.TransportFailure>((resume) => {
      server.once("error", (error) =>
        resume(Effect.fail(new Transport.TransportFailure({ detail: `cannot listen on ${host}:${options.port}: ${error.message}`, cause: error }))))
      server.listen(options.port, host, () => resume(Effect.succeed(server.address() as { address: string; port: number })))
    })
    server.on("error", () => {})
    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        clearInterval(keepAlive)
        handshakes?.dropAll()
        for (const fiber of [...handshakeTimers]) fiber.interruptUnsafe()
        // a restorable store keeps the sessions, for another listener (or process) sharing it to rebuild (FM-52)
        for (const session of [...sessions.values()]) {
          endSession(session, "the server is shutting down", false, keepable(session))
        }
        yield* Effect.callback<void>((resume) => {
          server.close(() => resume(Effect.void))
          server.closeAllConnections()
        }).pipe(Effect.timeoutOption(Duration.seconds(5)))
      })
    )
    const shownHost = address.address.includes(":") ? `[${address.address}]` : address.address
    return {
      host: address.address,
      port: address.port,
      url: `${options.tls === undefined ? "http" : "https"}://${shownHost}:${address.port}${path}`,
      sessions: Effect.sync(() => sessions.size),
      stats: Effect.sync(() => ({ ...stats, tlsHandshakeFailures: handshakes?.failures() ?? 0 }))
    }
  })

/** The running Streamable HTTP server as a service (its address and counters), for applications built of Layers. */
export class StreamableHttp extends Context.Service<StreamableHttp, HttpServer>()("effect-mcp/transports/StreamableHttp") {}

/**
 * The server as a Layer: listens while the layer is alive, serving each connection with `handle` (usually
 * `McpServer.serve`), and provides its address and counters as `StreamableHttp`.
 */
export const layer = <E, R>(
  options: Options,
  handle: (transport: Transport.Transport) => Effect.Effect<void, E, R>
): Layer.Layer<StreamableHttp, Transport.TransportFailure, R | JsonRpcCodec.JsonRpcCodec> =>
  Layer.effect(StreamableHttp, serve(options, handle))

