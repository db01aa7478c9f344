/**
 * Reconnection, the same for every client transport (FM-07, FM-21, FM-25): wraps a `connect` effect (TCP,
 * WebSocket, a spawned stdio server…) into one long-lived `Transport` that reconnects with full-jitter backoff
 * (`Backoff`: base 1 s, cap 16 s, reset after a healthy period) when the connection drops.
 *
 * - Requests in flight when the connection drops fail at once with a JSON-RPC error (-32000, `data.mode`
 *   "FM-07", `data.reason` "connection lost") — unless they carry an idempotency key
 *   (`_meta["io.effect-mcp/idempotencyKey"]`), then they are sent again on the new connection (the server
 *   runs a keyed call once).
 * - A stateful session is re-established on each new connection: the `initialize` request and the
 *   `notifications/initialized` the application sent are replayed (the answer to the replayed `initialize`
 *   is not passed on), so the engine above carries on.
 * - The connection state is observable: `state` is a Stream of `ConnectionState` changes.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Queue from "effect/Queue"
import * as Result from "effect/Result"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import { Backoff, Transport } from "@effect-mcp/core"
import { type CodecError, ErrorCode, JsonRpc, type JsonRpcCodec } from "@effect-mcp/jsonrpc"

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
  /** Attempts in a row before giving up and closing (default: never give up). */
  readonly maxAttempts?: number
  /** Messages held for the application (default 4,096). */
  readonly inboxCapacity?: number
}

/** A reconnecting transport: a `Transport` plus its connection state. */
export interface ReconnectingTransport extends Transport.Transport {
  /** State changes, starting with the current state. */
  readonly state: Stream.Stream<ConnectionState>
  /** The current state. */
  readonly current: Effect.Effect<ConnectionState>
}

const IDEMPOTENCY_KEY = "io.effect-mcp/idempotencyKey"

const isRecord = (u: unknown): u is Record<string, unknown> =>
  typeof u === "object" && u !== null && !Array.isArray(u)

const idempotent = (message: JsonRpc.Request): boolean =>
  isRecord(message.params) && isRecord(message.params._meta) && typeof message.params._meta[IDEMPOTENCY_KEY] === "string"

const errorOf = (e: unknown): string =>
  isRecord(e) && typeof e.message === "string" ? e.message : String(e)

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
    const inbox = yield* Queue.bounded<JsonRpcCodec.Decoded, Transport.TransportError | Cause.Done>(options.inboxCapacity ?? 4_096)
    const state = yield* SubscriptionRef.make<ConnectionState>({ _tag: "Connecting", attempt: 0 })
    const backoff = Backoff.make(options.backoff)
    const maxAttempts = options.maxAttempts ?? Infinity

    let current: Transport.Transport | undefined
    let closed = false
    let connections = 0
    let handshake: JsonRpc.Request | undefined
    let initialized: JsonRpc.Notification | undefined
    /** Requests sent and not answered yet, in order. */
    const pending = new Map<JsonRpc.RequestId, JsonRpc.Request>()
    /** The id of a replayed `initialize`, whose answer is not passed on, and its arrival. */
    let replayId: JsonRpc.RequestId | undefined
    let replayed: Deferred.Deferred<void> | undefined

    const deliver = (decoded: JsonRpcCodec.Decoded) => {
      if (Result.isSuccess(decoded)) {
        const all = (Array.isArray(decoded.success) ? decoded.success : [decoded.success]) as ReadonlyArray<JsonRpc.Message>
        for (const m of all) {
          if (JsonRpc.isResponse(m) && m.id !== null) {
            if (m.id === replayId) {
              replayId = undefined
              if (replayed !== undefined) Deferred.doneUnsafe(replayed, Exit.void)
              return
            }
            pending.delete(m.id)
          }
        }
      }
      if (!Queue.offerUnsafe(inbox, decoded)) {
        Queue.failCauseUnsafe(inbox, Cause.fail(new Transport.TransportFailure({ detail: "the application is not reading incoming messages (inbox full)" })))
      }
    }

    /** Fails at once every request that cannot be sent again; returns those that can. */
    const settleInFlight = (reason: string): Array<JsonRpc.Request> => {
      const again: Array<JsonRpc.Request> = []
      for (const [id, request] of [...pending]) {
        if (idempotent(request)) {
          again.push(request)
          continue
        }
        pending.delete(id)
        deliver(Result.succeed(JsonRpc.failure(id, ErrorCode.ConnectionClosed, `Connection lost: ${reason}`, { mode: "FM-07", reason: "connection lost" })))
      }
      return again
    }

    /** One connection's life: replay the handshake, send again what may be, pump until it ends. */
    const session = (transport: Transport.Transport) =>
      Effect.gen(function*() {
        connections++
        current = transport
        yield* backoff.connected
        yield* SubscriptionRef.set(state, { _tag: "Connected", connections })
        const pump = yield* Effect.forkChild(transport.incoming.pipe(Stream.runForEach((decoded) => Effect.sync(() => deliver(decoded)))))
        if (connections > 1 && handshake !== undefined) {
          const answered = yield* Deferred.make<void>()
          replayed = answered
          replayId = `effect-mcp-replay-${connections}`
          yield* transport.send({ ...handshake, id: replayId })
          // nothing else goes out before the server has the session again
          yield* Deferred.await(answered).pipe(Effect.timeoutOption(Duration.seconds(30)))
          if (initialized !== undefined) yield* transport.send(initialized)
        }
        for (const request of [...pending.values()]) yield* transport.send(request)
        yield* Fiber.join(pump)
      })

    const loop = Effect.gen(function*() {
      let failures = 0
      while (!closed) {
        yield* SubscriptionRef.set(state, { _tag: "Connecting", attempt: failures })
        const scope = yield* Scope.make()
        const exit = yield* Effect.exit(
          Effect.flatMap(Scope.provide(options.connect, scope), (transport) => {
            failures = 0
            return session(transport)
          })
        )
        current = undefined
        yield* Scope.close(scope, Exit.void)
        if (closed) break
        yield* backoff.disconnected
        const reason = Exit.isSuccess(exit) ? "the server closed the connection" : errorOf(Cause.squash(exit.cause))
        settleInFlight(reason)
        if (connections === 0 || Exit.isFailure(exit)) failures++
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

    return {
      incoming: Stream.fromQueue(inbox),
      send: (message) =>
        Effect.suspend((): Effect.Effect<void, Transport.TransportError | CodecError.UnencodableMessage> => {
          if (closed) return Effect.fail(new Transport.ConnectionClosed({ reason: "the transport is closed" }))
          const first = (Array.isArray(message) ? message[0] : message) as JsonRpc.Message
          if (JsonRpc.isRequest(first) && first.method === "initialize") handshake = first
          if (JsonRpc.isNotification(first) && first.method === "notifications/initialized") initialized = first
          const all = (Array.isArray(message) ? message : [message]) as ReadonlyArray<JsonRpc.Message>
          for (const m of all) if (JsonRpc.isRequest(m)) pending.set(m.id, m)
          const transport = current
          if (transport === undefined) {
            // not connected: a keyed request waits for the next connection; anything else fails now
            for (const m of all) {
              if (JsonRpc.isRequest(m) && !idempotent(m)) pending.delete(m.id)
            }
            const waiting = all.every((m) => JsonRpc.isRequest(m) && idempotent(m))
            return waiting ? Effect.void : Effect.fail(new Transport.TransportFailure({ detail: "not connected (reconnecting)" }))
          }
          return Effect.catch(transport.send(message), (error) =>
            error._tag === "UnencodableMessage"
              ? Effect.sync(() => {
                for (const m of all) if (JsonRpc.isRequest(m)) pending.delete(m.id)
              }).pipe(Effect.andThen(Effect.fail(error)))
              // the connection is going down: the loop settles the request (again or at once)
              : Effect.void)
        }),
      close: Effect.sync(() => {
        closed = true
        Queue.endUnsafe(inbox)
        const transport = current
        if (transport !== undefined) Effect.runFork(transport.close)
      }),
      state: SubscriptionRef.changes(state),
      current: SubscriptionRef.get(state)
    } satisfies ReconnectingTransport
  })
