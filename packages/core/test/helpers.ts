import * as Effect from "effect/Effect"
import { JsonRpcCodec } from "@effect-mcp/jsonrpc"
import * as MemoryTransport from "../src/MemoryTransport.ts"
import * as Protocol from "../src/Protocol.ts"

/** Two engines linked by an in-memory transport (through the real codec), in the test's scope. */
export const pair = (server: Protocol.Options, client: Partial<Protocol.Options> = {}) =>
  Effect.gen(function*() {
    const [a, b] = yield* MemoryTransport.makePair()
    const s = yield* Protocol.make(a, server)
    const c = yield* Protocol.make(b, { handler: () => undefined, ...client })
    return { server: s, client: c }
  }).pipe(Effect.provide(JsonRpcCodec.JsonRpcCodec.layer))

/** An engine and the raw wire at its other end. */
export const withWire = (options: Protocol.Options) =>
  Effect.gen(function*() {
    const [transport, wire] = yield* MemoryTransport.makeWithWire()
    const protocol = yield* Protocol.make(transport, options)
    return { protocol, wire }
  }).pipe(Effect.provide(JsonRpcCodec.JsonRpcCodec.layer))

/** Handlers from a record. */
export const handlers = (record: Record<string, Protocol.RequestHandler>) => (method: string) => record[method]
