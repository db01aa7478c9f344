/**
 * The server side of the stdio transport: JSON-RPC frames as NDJSON on stdin and stdout.
 *
 * Nothing but frames is written to stdout (log to stderr). `incoming` ends when stdin ends, so a server
 * serving one stdio connection exits when its client closes the pipe (no orphan processes). Writes respect
 * backpressure with one persistent `drain` listener.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Result from "effect/Result"
import * as NodeStream from "@effect/platform-node/NodeStream"
import { Transport } from "@effect-mcp/core"
import { JsonRpcCodec } from "@effect-mcp/jsonrpc"
import * as Writer from "./internal/writer.ts"

/** Where to read and write (default: the process's stdin and stdout). */
export interface Options {
  readonly stdin?: NodeJS.ReadableStream
  readonly stdout?: NodeJS.WritableStream
}

/** A stdio transport for the current process (or the given streams), closed with the scope. */
export const make = (
  options: Options = {}
): Effect.Effect<Transport.Transport, never, JsonRpcCodec.JsonRpcCodec | Scope.Scope> =>
  Effect.gen(function*() {
    const codec = yield* JsonRpcCodec.JsonRpcCodec
    const stdin = options.stdin ?? process.stdin
    const stdout = options.stdout ?? process.stdout
    const writer = yield* Writer.make(stdout, "stdout")
    const bytes = NodeStream.fromReadable<Uint8Array, Transport.TransportError>({
      evaluate: () => stdin,
      onError: (error) =>
        new Transport.TransportFailure({ detail: `stdin: ${error instanceof Error ? error.message : String(error)}`, cause: error }),
      closeOnDone: false
    })
    return {
      // batches are framed here and accepted or refused by the engine, which knows the negotiated revision
      incoming: codec.decodeNdjson(bytes, { allowBatch: true }),
      send: (message) => {
        // text frames: the stream encodes UTF-8 natively, cheaper than TextEncoder plus a copy
        const frame = codec.encode(message)
        return Result.isFailure(frame) ? Effect.fail(frame.failure) : writer.write(frame.success + "\n")
      },
      close: writer.end
    } satisfies Transport.Transport
  })

