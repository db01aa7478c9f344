import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import type { Transport } from "@effect-mcp/core"
import { type JsonRpc, JsonRpcCodec } from "@effect-mcp/jsonrpc"

export const codec = JsonRpcCodec.JsonRpcCodec.layer

/** Starts reading `n` decoded frames from a transport; join the fiber for them. */
export const reader = (transport: Transport.Transport, n: number) =>
  Effect.forkChild(transport.incoming.pipe(Stream.take(n), Stream.runCollect))

/** Reads everything a transport receives until it ends or fails (as an Exit with what was read). */
export const readAll = (transport: Transport.Transport) =>
  Effect.forkChild(
    Effect.gen(function*() {
      const got: Array<JsonRpcCodec.Decoded> = []
      const exit = yield* Effect.exit(Stream.runForEach(transport.incoming, (d) => Effect.sync(() => got.push(d))))
      return { got, exit }
    })
  )

/** The decoded messages of a list of decode results (errors dropped). */
export const messages = (decoded: ReadonlyArray<JsonRpcCodec.Decoded>): Array<JsonRpc.Incoming> =>
  decoded.filter(Result.isSuccess).map((d) => d.success)

/** The `i` param of numbered notifications. */
export const numbers = (decoded: ReadonlyArray<JsonRpcCodec.Decoded>): Array<number> =>
  messages(decoded).map((m) => ((m as JsonRpc.Notification).params as { i: number }).i)

export const join = Fiber.join
