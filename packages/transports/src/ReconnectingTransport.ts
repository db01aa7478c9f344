/**
 * Reconnection, the same for every client transport (FM-07, FM-21, FM-25): wraps a `connect` effect (TCP,
 * WebSocket, a spawned stdio server…) into one long-lived `Transport` that reconnects with full-jitter backoff
 * (`Backoff`: base 1 s, cap 16 s, reset after a healthy period) when the connection drops.
 *
 * - Requests in flight when the connection drops fail at once with a JSON-RPC error (-32000, `data.mode`
 *   "FM-07", `data.reason` "connection lost") — unless they carry an idempotency key
 *   (`_meta["io.effect-mcp/idempotencyKey"]`), then they are sent again on the new connection (the server
 *   runs a keyed call once).
 * - A keyed request is sent again only within `resendWithin` (default 30 s) of the application sending it:
 *   older, it fails with the same -32000 / FM-07 error instead (its caller has most likely given up, and the
 *   server remembers keys for a bounded time and number, so a late copy could run the side effect twice).
 * - An outgoing `notifications/cancelled` (alone or in a batch) withdraws its `params.requestId`: that request
 *   is never sent again. While not connected the notice itself is dropped, successfully: the server either
 *   never got the request or saw its connection drop, which cancels it.
 * - A stateful session is re-established on each new connection: the `initialize` request and the
 *   `notifications/initialized` the application sent are replayed (the answer to the replayed `initialize`
 *   is not passed on), so the engine above carries on. Nothing else goes out before the replayed `initialize`
 *   is answered: the connection counts as up (state `Connected`) only then. If the connection dies during
 *   the replay it reconnects at once; if no answer comes within `handshakeTimeout` (default 10 s) the
 *   connection is closed and retried with backoff. Until the session is back, messages are treated as when
 *   disconnected: keyed requests wait, anything else fails with `TransportFailure` "not connected".
 * - The connection state is observable: `state` is a Stream of `ConnectionState` changes.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Result from "effect/Result"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import { Backoff, Transport } from "@effect-mcp/core"
import { type CodecError, ErrorCode, JsonRpc, JsonRpcCodec } from "@effect-mcp/jsonrpc"

/** Where the connection is. */
export type ConnectionState =
  | { readonly _tag: "Connecting"; readonly attempt: number }
  | { readonly _tag: "Connected"; readonly connections: number }
  | { readonly _tag: "Disconnected"; readonly reason: string; readonly retryInMs: number }
  | { readonly _tag: "Closed"; readonly reason: string }

/** Settings. */
export interface Options<E> {
  /** Opens one connection (its resources live in the scope it is given). */
  readonly connect: Effect.Effect<Transport.Transport, E, Scope.Scope | JsonRpcCodec.JsonRpcCodec>
  /** Backoff between attempts (default base 1 s, cap 16 s, reset after 30 s connected). */
  readonly backoff?: Backoff.Policy
  /**
   * Attempts in a row before giving up and closing (default: never give up). A connection whose session could
   * not be re-established (see `handshakeTimeout`) counts as a failed attempt.
   */
  readonly maxAttempts?: number
  /** Messages held for the application (default 4,096). */
  readonly inboxCapacity?: number
  /**
   * How long a new connection may take to answer the replayed `initialize` and take back the requests to send
   * again (default 10 s). Past it the connection counts as broken: it is closed and retried with backoff.
   */
  readonly handshakeTimeout?: Duration.Input
  /**
   * How long after the application sent it a keyed request may still be sent again on a new connection
   * (default 30 s). An older one fails with -32000 (`data.mode` "FM-07") instead: its caller has most likely
   * given up, and the server's idempotency record may be gone, so a copy could run the side effect twice.
   */
  readonly resendWithin?: Duration.Input
}

/** A reconnecting transport: a `Transport` plus its connection state. */
export interface ReconnectingTransport extends Transport.Transport {
  /** State changes, starting with the current state. */
  readonly state: Stream.Stream<ConnectionState>
  /** The current state. */
  readonly current: Effect.Effect<ConnectionState>
}

/** The replayed `initialize` was not answered in time: the connection is closed and retried (never escapes). */
class HandshakeTimedOut extends Data.TaggedError("HandshakeTimedOut")<{ readonly timeoutMs: number }> {
  override get message(): string {
    return `the server did not take back the session within ${this.timeoutMs} ms (handshakeTimeout)`
  }
}

const IDEMPOTENCY_KEY = "io.effect-mcp/idempotencyKey"

const isRecord = (u: unknown): u is Record<string, unknown> =>
  typeof u === "object" && u !== null && !Array.isArray(u)

const idempotent = (message: JsonRpc.Message): message is JsonRpc.Request =>
  JsonRpc.isRequest(message) && isRecord(message.params) && isRecord(message.params._meta) &&
  typeof message.params._meta[IDEMPOTENCY_KEY] === "string"

/** The request a `notifications/cancelled` withdraws, if `message` is one. */
const cancels = (message: JsonRpc.Message): JsonRpc.RequestId | undefined => {
  if (!JsonRpc.isNotification(message) || message.method !== "notifications/cancelled") return undefined
  const id = isRecord(message.params) ? message.params.requestId : undefined
  return typeof id === "string" || typeof id === "number" ? id : undefined
}

const errorOf = (e: unknown): string =>
  isRecord(e) && typeof e.message === "string" ? e.message : String(e)

const lost = (id: JsonRpc.RequestId, message: string) =>
  Result.succeed(JsonRpc.failure(id, ErrorCode.ConnectionClosed, message, { mode: "FM-07", reason: "connection lost" }))

/** A request sent and not answered yet, and when the application sent it (ms, `Clock`). */
interface Pending {
  readonly request: JsonRpc.Request
  readonly since: number
}

/**
 * Connects (returning once the first connection is up, or once it gave up) and keeps the connection up until
 * the scope closes. Never fails: connection failures are retried (observable on `state`); after
 * `maxAttempts` failures in a row it closes (`incoming` fails with `ConnectionClosed`).
 */
export const make = <E>(
  options: Options<E>
): Effect.Effect<ReconnectingTransport, never, Scope.Scope | JsonRpcCodec.JsonRpcCodec> =>
  Effect.gen(function*() {
    const context = yield* Effect.context<JsonRpcCodec.JsonRpcCodec>()
    const codec = yield* JsonRpcCodec.JsonRpcCodec
    const inbox = yield* Queue.bounded<JsonRpcCodec.Decoded, Transport.TransportError | Cause.Done>(options.inboxCapacity ?? 4_096)
    const state = yield* SubscriptionRef.make<ConnectionState>({ _tag: "Connecting", attempt: 0 })
    const backoff = Backoff.make(options.backoff)
    const maxAttempts = options.maxAttempts ?? Infinity
    const handshakeTimeout = Duration.fromInputUnsafe(options.handshakeTimeout ?? Duration.seconds(10))
    const resendWithinMs = Duration.toMillis(Duration.fromInputUnsafe(options.resendWithin ?? Duration.seconds(30)))

    /** The connection messages go out on: set only once its session is established. */
    let current: Transport.Transport | undefined
    /** The connection being set up or in use (closed by `close`). */
    let live: Transport.Transport | undefined
    let closed = false
    let attempts = 0
    let connections = 0
    let failures = 0
    let handshake: JsonRpc.Request | undefined
    let initialized: JsonRpc.Notification | undefined
    /** Requests sent and not answered yet, in order. */
    const pending = new Map<JsonRpc.RequestId, Pending>()
    /** The id of a replayed `initialize`, whose answer is not passed on, and its arrival. */
    let replayId: JsonRpc.RequestId | undefined
    let replayed: Deferred.Deferred<void> | undefined

    const deliver = (decoded: JsonRpcCodec.Decoded) => {
      if (Result.isSuccess(decoded)) {
        const all: ReadonlyArray<JsonRpc.Message> = JsonRpc.isBatch(decoded.success) ? decoded.success : [decoded.success]
        const isReplay = (m: JsonRpc.Message) => replayId !== undefined && JsonRpc.isResponse(m) && m.id === replayId
        if (all.some(isReplay)) {
          replayId = undefined
          if (replayed !== undefined) Deferred.doneUnsafe(replayed, Exit.void)
          const rest = all.filter((m) => !isReplay(m))
          if (rest.length === 0) return
          decoded = Result.succeed(rest.length === 1 ? rest[0]! : [rest[0]!, ...rest.slice(1)])
        }
        for (const m of all) if (JsonRpc.isResponse(m) && m.id !== null) pending.delete(m.id)
      }
      if (!Queue.offerUnsafe(inbox, decoded)) {
        Queue.failCauseUnsafe(inbox, Cause.fail(new Transport.TransportFailure({ detail: "the application is not reading incoming messages (inbox full)" })))
      }
    }

    /** Fails a keyed request that has waited longer than `resendWithin`; true if it did. */
    const expire = (id: JsonRpc.RequestId, entry: Pending, now: number): boolean => {
      const age = now - entry.since
      if (age <= resendWithinMs) return false
      pending.delete(id)
      deliver(lost(id, `Connection lost, not sent again: pending for ${age} ms, longer than resendWithin (${resendWithinMs} ms)`))
      return true
    }

    /** Fails at once every request that cannot be sent again; keeps the keyed ones still within `resendWithin`. */
    const settleInFlight = (reason: string, now: number) => {
      for (const [id, entry] of [...pending]) {
        if (idempotent(entry.request)) {
          expire(id, entry, now)
          continue
        }
        pending.delete(id)
        deliver(lost(id, `Connection lost: ${reason}`))
      }
    }

    /**
     * Takes a new connection to where the application left off: replays the handshake and sends the keyed
     * requests again (those the application sends meanwhile too). Succeeds with false if the connection ended
     * first.
     */
    const establish = (transport: Transport.Transport, pump: Fiber.Fiber<void, Transport.TransportError>) =>
      Effect.gen(function*() {
        if (handshake !== undefined) {
          const answered = yield* Deferred.make<void>()
          replayed = answered
          replayId = `effect-mcp-replay-${attempts}`
          yield* transport.send({ ...handshake, id: replayId })
          // nothing else goes out before the server has the session again; a connection that dies meanwhile
          // ends the wait at once
          const up = yield* Effect.raceFirst(
            Effect.as(Deferred.await(answered), true),
            Effect.as(Fiber.await(pump), false)
          )
          if (!up) return false
          if (initialized !== undefined) yield* transport.send(initialized)
        }
        // one pass in order; requests the application sends meanwhile join the map and are picked up too
        const sent = new Set<JsonRpc.RequestId>()
        while (true) {
          const next = [...pending].find(([id]) => !sent.has(id))
          if (next === undefined) return true
          const [id, entry] = next
          if (expire(id, entry, yield* Clock.currentTimeMillis)) continue
          sent.add(id)
          yield* Effect.catchTag(transport.send(entry.request), "UnencodableMessage", (error) =>
            Effect.sync(() => {
              pending.delete(id)
              deliver(Result.succeed(JsonRpc.failure(id, ErrorCode.InternalError, error.message)))
            }))
        }
      })

    /** One connection's life: establish the session (bounded by `handshakeTimeout`), then pump until it ends. */
    const session = (transport: Transport.Transport) =>
      Effect.gen(function*() {
        attempts++
        live = transport
        const pump = yield* Effect.forkChild(transport.incoming.pipe(Stream.runForEach((decoded) => Effect.sync(() => deliver(decoded)))))
        const up = yield* Effect.timeoutOption(establish(transport, pump), handshakeTimeout)
        if (Option.isNone(up)) return yield* new HandshakeTimedOut({ timeoutMs: Duration.toMillis(handshakeTimeout) })
        if (up.value && !closed) {
          // synchronously after the last resend: from here on messages go straight out
          current = transport
          failures = 0
          connections++
          yield* backoff.connected
          yield* SubscriptionRef.set(state, { _tag: "Connected", connections })
        }
        yield* Fiber.join(pump)
      }).pipe(Effect.ensuring(Effect.sync(() => {
        replayId = undefined
        replayed = undefined
      })))

    const loop = Effect.gen(function*() {
      while (!closed) {
        yield* SubscriptionRef.set(state, { _tag: "Connecting", attempt: failures })
        const scope = yield* Scope.make()
        const before = connections
        const exit = yield* Effect.exit(Effect.flatMap(Scope.provide(options.connect, scope), session))
        current = undefined
        live = undefined
        yield* Scope.close(scope, Exit.void)
        if (closed) break
        const reason = Exit.isSuccess(exit) ? "the server closed the connection" : errorOf(Cause.squash(exit.cause))
        const wasUp = connections > before
        if (wasUp) yield* backoff.disconnected
        settleInFlight(reason, yield* Clock.currentTimeMillis)
        if (!wasUp || Exit.isFailure(exit)) failures++
        if (failures >= maxAttempts) {
          yield* SubscriptionRef.set(state, { _tag: "Closed", reason: `gave up after ${failures} attempts: ${reason}` })
          Queue.failCauseUnsafe(inbox, Cause.fail(new Transport.ConnectionClosed({ reason: `gave up reconnecting: ${reason}` })))
          return
        }
        const delay = yield* backoff.next
        yield* SubscriptionRef.set(state, { _tag: "Disconnected", reason, retryInMs: Duration.toMillis(delay) })
        yield* Effect.sleep(delay)
      }
    })
    yield* Effect.forkScoped(Effect.provideContext(loop, context))
    // the first connection (or giving up) before the transport is handed out
    yield* SubscriptionRef.changes(state).pipe(
      Stream.filter((s) => s._tag === "Connected" || s._tag === "Closed"),
      Stream.take(1),
      Stream.runDrain
    )

    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        closed = true
        yield* SubscriptionRef.set(state, { _tag: "Closed", reason: "closed" })
        Queue.endUnsafe(inbox)
      })
    )

    const send = (message: JsonRpc.Incoming, sendOptions: Transport.SendOptions | undefined, now: number) =>
      Effect.suspend((): Effect.Effect<void, Transport.TransportError | CodecError.UnencodableMessage> => {
        if (closed) return Effect.fail(new Transport.ConnectionClosed({ reason: "the transport is closed" }))
        const all: ReadonlyArray<JsonRpc.Message> = JsonRpc.isBatch(message) ? message : [message]
        // a withdrawn request is never sent again
        for (const m of all) {
          const id = cancels(m)
          if (id !== undefined) pending.delete(id)
        }
        const transport = current
        if (transport === undefined) {
          // not connected: a cancellation has nothing to reach (dropped), a keyed request waits for the next
          // connection, anything else fails now
          const rest = all.filter((m) => cancels(m) === undefined)
          if (rest.length === 0) return Effect.void
          if (!rest.every(idempotent)) return Effect.fail(new Transport.TransportFailure({ detail: "not connected (reconnecting)" }))
          const encoded = codec.encode(message)
          if (Result.isFailure(encoded)) return Effect.fail(encoded.failure)
          for (const m of rest) if (JsonRpc.isRequest(m)) pending.set(m.id, { request: m, since: now })
          return Effect.void
        }
        const first = all[0]!
        if (JsonRpc.isRequest(first) && first.method === "initialize") handshake = first
        if (JsonRpc.isNotification(first) && first.method === "notifications/initialized") initialized = first
        for (const m of all) if (JsonRpc.isRequest(m)) pending.set(m.id, { request: m, since: now })
        return Effect.catch(transport.send(message, sendOptions), (error) =>
          error._tag === "UnencodableMessage"
            ? Effect.sync(() => {
              for (const m of all) if (JsonRpc.isRequest(m)) pending.delete(m.id)
            }).pipe(Effect.andThen(Effect.fail(error)))
            // the connection is going down: the loop settles the request (again or at once)
            : Effect.void)
      })

    return {
      incoming: Stream.fromQueue(inbox),
      send: (message, sendOptions) => Effect.flatMap(Clock.currentTimeMillis, (now) => send(message, sendOptions, now)),
      close: Effect.sync(() => {
        closed = true
        Queue.endUnsafe(inbox)
        const transport = live
        if (transport !== undefined) Effect.runFork(transport.close)
      }),
      state: SubscriptionRef.changes(state),
      current: SubscriptionRef.get(state)
    } satisfies ReconnectingTransport
  })
