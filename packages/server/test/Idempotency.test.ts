import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/testing/TestClock"
import { MemoryTransport, Protocol } from "@effect-mcp/core"
import { JsonRpcCodec } from "@effect-mcp/jsonrpc"
import * as McpServer from "../src/McpServer.ts"
import * as Tool from "../src/Tool.ts"

describe("idempotent tool calls", () => {
  it.effect("FM-10 a retried call with the same idempotency key runs once, on any connection", () =>
    Effect.gen(function*() {
      let charges = 0
      const server = yield* McpServer.make({
        info: { name: "pay", version: "1" },
        idempotency: { ttl: "1 minute" },
        tools: [
          Tool.make("charge", {
            input: Schema.Struct({ cents: Schema.Finite }),
            handler: ({ cents }) => Effect.sleep("1 second").pipe(Effect.andThen(Effect.sync(() => `charge #${++charges} of ${cents}`)))
          })
        ]
      })
      const connect = Effect.gen(function*() {
        const [a, b] = yield* MemoryTransport.makePair()
        yield* Effect.forkScoped(server.serve(a))
        const client = yield* Protocol.make(b, { handler: () => undefined })
        yield* client.request("initialize", { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "c", version: "1" } })
        return client
      })
      const first = yield* connect
      const second = yield* connect
      const call = (client: Protocol.Protocol, key: string) =>
        client.request("tools/call", { name: "charge", arguments: { cents: 500 }, _meta: { "io.effect-mcp/idempotencyKey": key } })
      // the original and a retry on another connection, while the first is still running
      const a = yield* Effect.forkChild(call(first, "order-1"))
      const b = yield* Effect.forkChild(call(second, "order-1"))
      yield* TestClock.adjust("1 second")
      expect(yield* Fiber.join(a)).toEqual({ content: [{ type: "text", text: "charge #1 of 500" }] })
      expect(yield* Fiber.join(b)).toEqual({ content: [{ type: "text", text: "charge #1 of 500" }] })
      // a later retry gets the same outcome; another key runs
      expect(yield* call(first, "order-1")).toEqual({ content: [{ type: "text", text: "charge #1 of 500" }] })
      const c = yield* Effect.forkChild(call(first, "order-2"))
      yield* TestClock.adjust("1 second")
      expect(yield* Fiber.join(c)).toEqual({ content: [{ type: "text", text: "charge #2 of 500" }] })
      // after the TTL the key is forgotten
      yield* TestClock.adjust("2 minutes")
      const d = yield* Effect.forkChild(call(second, "order-1"))
      yield* TestClock.adjust("1 second")
      expect(yield* Fiber.join(d)).toEqual({ content: [{ type: "text", text: "charge #3 of 500" }] })
    }).pipe(Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))

  // found by apps/chaos: the call used to be interrupted with its caller and run again by the retry
  it.effect("FM-10 a keyed call cancelled after its side effect is joined by the retry, not run again", () =>
    Effect.gen(function*() {
      let charges = 0
      const server = yield* McpServer.make({
        info: { name: "pay", version: "1" },
        tools: [
          Tool.make("charge", {
            input: Schema.Struct({}),
            timeout: "10 seconds",
            // the side effect happens first; the answer takes a while
            handler: () => Effect.sync(() => ++charges).pipe(Effect.tap(() => Effect.sleep("1 second")), Effect.map((n) => `charge #${n}`))
          })
        ]
      })
      const [a, b] = yield* MemoryTransport.makePair()
      yield* Effect.forkScoped(server.serve(a))
      const client = yield* Protocol.make(b, { handler: () => undefined })
      yield* client.request("initialize", { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "c", version: "1" } })
      const call = client.request("tools/call", { name: "charge", arguments: {}, _meta: { "io.effect-mcp/idempotencyKey": "order-9" } })
      const first = yield* Effect.forkChild(call)
      yield* TestClock.adjust("100 millis")
      expect(charges).toBe(1)
      // the caller gives up after the side effect (its attempt timed out): notifications/cancelled
      yield* Fiber.interrupt(first)
      yield* TestClock.adjust("100 millis")
      // the retry with the same key should join the running call: one charge
      const retry = yield* Effect.forkChild(call)
      yield* TestClock.adjust("1 second")
      expect(yield* Fiber.join(retry)).toEqual({ content: [{ type: "text", text: "charge #1" }] })
      expect(charges).toBe(1)
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))
})
