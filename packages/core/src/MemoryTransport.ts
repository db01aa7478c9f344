/**
 * In-memory transports for tests: two linked ends whose messages really go through the codec (encoded to
 * NDJSON bytes on one side, framed and decoded on the other), over bounded queues that apply backpressure.
 *
 * @since 0.1.0
 */
import type * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import * as Result from "effect/Result"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { JsonRpcCodec } from "@effect-mcp/jsonrpc"
import { ConnectionClosed, type Transport } from "./Transport.ts"

/** The raw byte end of a connection, for tests that write frames by hand. */
export interface Wire {
  /** Writes bytes to the transport's incoming side (waits when the queue is full). */
  readonly write: (bytes: Uint8Array | string) => Effect.Effect<void>
  /** What the transport sent, as NDJSON bytes. */
  readonly read: Stream.Stream<Uint8Array>
  /** Ends both directions. */
  readonly close: Effect.Effect<void>
}

/** Options of the in-memory transports. */
export interface Options {
  /** Capacity of each direction's queue, in frames (default 1024). A full queue makes `send` wait. */
  readonly capacity?: number
}

const encoder = new TextEncoder()

const endBoth = (a: Queue.Queue<Uint8Array, Cause.Done>, b: Queue.Queue<Uint8Array, Cause.Done>) =>
  Effect.asVoid(Effect.all([Queue.end(a), Queue.end(b)]))

const transportOf = (
  codec: JsonRpcCodec.Codec,
  inbox: Queue.Queue<Uint8Array, Cause.Done>,
  outbox: Queue.Queue<Uint8Array, Cause.Done>,
  close: Effect.Effect<void>
): Transport => ({
  // batches are framed here and accepted or refused by the engine, which knows the negotiated revision
  incoming: codec.decodeNdjson(Stream.fromQueue(inbox), { allowBatch: true }),
  send: (message) => {
    const frame = codec.encodeNdjson(message)
    if (Result.isFailure(frame)) return Effect.fail(frame.failure)
    return Effect.flatMap(
      Queue.offer(outbox, frame.success),
      (accepted) => (accepted ? Effect.void : Effect.fail(new ConnectionClosed({ reason: "transport closed" })))
    )
  },
  close
})

/** Two linked transports: what one sends, the other receives. Both end when either closes or the scope ends. */
export const makePair = (
  options: Options = {}
): Effect.Effect<readonly [Transport, Transport], never, JsonRpcCodec.JsonRpcCodec | Scope.Scope> =>
  Effect.gen(function*() {
    const codec = yield* JsonRpcCodec.JsonRpcCodec
    const capacity = options.capacity ?? 1024
    const aToB = yield* Queue.bounded<Uint8Array, Cause.Done>(capacity)
    const bToA = yield* Queue.bounded<Uint8Array, Cause.Done>(capacity)
    const close = endBoth(aToB, bToA)
    yield* Effect.addFinalizer(() => close)
    return [transportOf(codec, bToA, aToB, close), transportOf(codec, aToB, bToA, close)] as const
  })

/** A transport and the raw wire at its other end. */
export const makeWithWire = (
  options: Options = {}
): Effect.Effect<readonly [Transport, Wire], never, JsonRpcCodec.JsonRpcCodec | Scope.Scope> =>
  Effect.gen(function*() {
    const codec = yield* JsonRpcCodec.JsonRpcCodec
    const capacity = options.capacity ?? 1024
    const inbox = yield* Queue.bounded<Uint8Array, Cause.Done>(capacity)
    const outbox = yield* Queue.bounded<Uint8Array, Cause.Done>(capacity)
    const close = endBoth(inbox, outbox)
    yield* Effect.addFinalizer(() => close)
    const wire: Wire = {
      write: (bytes) => Effect.asVoid(Queue.offer(inbox, typeof bytes === "string" ? encoder.encode(bytes) : bytes)),
      read: Stream.fromQueue(outbox),
      close
    }
    return [transportOf(codec, inbox, outbox, close), wire] as const
  })
