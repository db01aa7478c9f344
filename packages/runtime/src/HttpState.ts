/**
 * The Streamable HTTP server's state in tier 2: its session table is the `SessionManager` and its SSE event
 * stores are the `EventStore`, instead of copies of its own. `options` gives the `sessionStore` and
 * `eventStores` options of `StreamableHttpServer.serve`; the server keeps only each session's connection
 * (the handler's fiber, its response streams, its inbox).
 *
 * What follows:
 *
 * - Every HTTP session is a `SessionManager` session (`size`, the `mcp_sessions` gauge), opened provisional:
 *   past the bound, the oldest session whose client never came back after `initialize` is evicted to make
 *   room (FM-36), sessions in use never are; when every session is in use, the new one gets 503 with
 *   `Retry-After` (`SessionLimitReached`).
 * - A session the `SessionManager` expires (FM-41) ends its HTTP connection: 404 from then on, and the client
 *   initializes again; its event store is dropped with it. A session with a request in flight does not expire.
 * - The table and the stores outlive their supervised members: a crashed sweeper or janitor loses no session
 *   and no event, so a client still resumes its stream with `Last-Event-ID` (FM-52).
 * - Sessions outlive their listener (FM-52): each session's set-up (`initialize`, `notifications/initialized`,
 *   the log level, the subscriptions) is its `SessionManager` state, so when the listener crashes and its
 *   tier restarts it (or another listener shares the services), the next request of the session rebuilds its
 *   connection: a new server gets the set-up replayed and the client goes on with the same session id, no
 *   404, and a GET with `Last-Event-ID` gets what it missed from the `EventStore`. With the `SessionManager`'s
 *   `snapshot`, the sessions outlive the process too (not their events: those are in memory).
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { EventStore as SessionEvents, StreamableHttpServer } from "@effect-mcp/transports"
import * as EventStore from "./EventStore.ts"
import * as SessionManager from "./SessionManager.ts"

/**
 * The options of `StreamableHttpServer.serve` that put its state in tier 2.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly sessionStore: StreamableHttpServer.SessionStore
  readonly eventStores: (sessionId: string) => SessionEvents.EventStore
}

/**
 * The server's session table on the `SessionManager`: sessions are opened provisional (evicted first until
 * the client comes back), touched by every later request, busy while requests are in flight.
 *
 * @since 0.1.0
 * @category constructors
 */
export const sessionStore = (sessions: SessionManager.Shape): StreamableHttpServer.SessionStore => ({
  open: (id) => Effect.asVoid(sessions.open(id, { provisional: true })),
  touch: (id) => Effect.asVoid(sessions.touch(id)),
  busy: sessions.setBusy,
  close: (id) => Effect.asVoid(sessions.close(id)),
  ended: sessions.ended,
  saveSetup: (id, setup) => Effect.ignore(sessions.setState(id, setup)),
  loadSetup: (id) =>
    Effect.map(SessionManager.getOption(sessions, id), (found) =>
      Option.isSome(found) && isSetup(found.value.state) ? found.value.state : undefined)
})

/** Whether a session's state is a Streamable HTTP set-up (a snapshot is read back as plain JSON). */
const isSetup = (state: unknown): state is StreamableHttpServer.SessionSetup =>
  typeof state === "object" && state !== null && Array.isArray((state as { readonly messages?: unknown }).messages)

/**
 * The server's event stores in the `EventStore`: one per session, dropped when the session ends.
 *
 * @since 0.1.0
 * @category constructors
 */
export const eventStores = (events: EventStore.Shape): (sessionId: string) => SessionEvents.EventStore => events.forSession

/**
 * Both options from the runtime's services, to spread into the server's options.
 *
 * **Example**
 *
 * ```ts
 * import * as Effect from "effect/Effect"
 * import type { Transport } from "@effect-mcp/core"
 * import { StreamableHttpServer } from "@effect-mcp/transports"
 * import { HttpState } from "@effect-mcp/runtime"
 *
 * const listen = (handle: (transport: Transport.Transport) => Effect.Effect<void>) =>
 *   Effect.flatMap(HttpState.options, (state) => StreamableHttpServer.serve({ port: 3335, ...state }, handle))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const options: Effect.Effect<Options, never, SessionManager.SessionManager | EventStore.EventStore> = Effect.gen(function*() {
  const sessions = yield* SessionManager.SessionManager
  const events = yield* EventStore.EventStore
  return { sessionStore: sessionStore(sessions), eventStores: eventStores(events) }
})
