import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/testing/TestClock"
import { McpClient } from "@effect-mcp/client"
import { MemoryTransport, Transport } from "@effect-mcp/core"
import { JsonRpcCodec } from "@effect-mcp/jsonrpc"
import { McpServer, Tool } from "@effect-mcp/server"
import * as ReconnectingTransport from "../src/ReconnectingTransport.ts"

const slowCalls = { count: 0 }

const slow = Tool.make("slow", {
  description: "Takes 5 s (of the TestClock) and counts its runs",
  input: Schema.Struct({}),
  handler: () =>
    Effect.sync(() => slowCalls.count++).pipe(Effect.andThen(Effect.sleep("5 seconds")), Effect.as("done"))
})
const echo = Tool.make("echo", {
  description: "echo",
  input: Schema.Struct({ message: Schema.String }),
  handler: ({ message }) => Effect.succeed(message)
})

/**
 * A connect effect over in-memory pairs: fails `failFirst` times, then serves a fresh McpServer connection per
 * attempt. `drop` ends the current connection (as a dropped socket would).
 */
const harness = (failFirst: number, failWhen: (attempt: number) => boolean = (n) => n < failFirst) =>
  Effect.gen(function*() {
    const server = yield* McpServer.make({ info: { name: "s", version: "1" }, tools: [slow, echo] })
    const attempts = yield* Ref.make(0)
    const live = yield* Ref.make<Effect.Effect<void> | undefined>(undefined)
    const connect = Effect.gen(function*() {
      const n = yield* Ref.getAndUpdate(attempts, (a) => a + 1)
      if (failWhen(n)) return yield* new Transport.TransportFailure({ detail: `refused (attempt ${n})` })
      const [client, serverSide] = yield* MemoryTransport.makePair()
      yield* Effect.forkScoped(server.serve(serverSide))
      yield* Ref.set(live, client.close)
      return client
    })
    const drop = Effect.flatMap(Ref.get(live), (close) => close ?? Effect.void)
    return { connect, attempts, drop }
  })

describe("ReconnectingTransport (FM-07, FM-21, FM-25), on the TestClock", () => {
  it.effect("retries a refused connection with full-jitter delays within the bounds, then connects", () =>
    Effect.gen(function*() {
      const h = yield* harness(5)
      const states: Array<ReconnectingTransport.ConnectionState> = []
      const making = yield* Effect.forkChild(
        Effect.tap(ReconnectingTransport.make({ connect: h.connect }), (t) =>
          Effect.forkChild(Stream.runForEach(t.state, (s) => Effect.sync(() => states.push(s)))))
      )
      // drive the clock past every backoff (bounds: 1, 2, 4, 8, 16 s)
      for (let i = 0; i < 40; i++) yield* TestClock.adjust("1 second")
      const transport = yield* Fiber.join(making)
      expect(yield* Ref.get(h.attempts)).toBe(6)
      expect((yield* transport.current)._tag).toBe("Connected")
      const client = yield* McpClient.connect(transport, { info: { name: "c", version: "1" }, revisions: ["2025-11-25"] })
      expect((yield* client.callTool("echo", { message: "hi" })).content[0]).toMatchObject({ text: "hi" })
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))

  it.effect("after a drop, the delays on the state stream stay under min(cap, base·2^n); the cap holds", () =>
    Effect.gen(function*() {
      // attempt 0 connects; attempts 1-8 are refused; attempt 9 connects again
      const h = yield* harness(0, (n) => n >= 1 && n <= 8)
      const transport = yield* ReconnectingTransport.make({ connect: h.connect, backoff: { base: "1 second", cap: "4 seconds" } })
      const delays: Array<number> = []
      yield* Effect.forkChild(Stream.runForEach(transport.state, (s) =>
        Effect.sync(() => {
          if (s._tag === "Disconnected") delays.push(s.retryInMs)
        })))
      yield* TestClock.adjust("10 millis")
      yield* h.drop
      for (let i = 0; i < 60; i++) yield* TestClock.adjust("1 second")
      expect(yield* Ref.get(h.attempts)).toBe(10)
      expect((yield* transport.current)._tag).toBe("Connected")
      expect(delays.length).toBe(9)
      delays.forEach((d, n) => {
        expect(d).toBeGreaterThanOrEqual(0)
        expect(d).toBeLessThan(Math.min(4_000, 1_000 * 2 ** n))
      })
      // full jitter: not every delay sits at the bound
      expect(delays.some((d, n) => d < Math.min(4_000, 1_000 * 2 ** n) * 0.9)).toBe(true)
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))

  it.effect("a dropped connection fails plain requests at once, sends keyed ones again, and re-initializes", () =>
    Effect.gen(function*() {
      slowCalls.count = 0
      const h = yield* harness(0)
      const transport = yield* ReconnectingTransport.make({ connect: h.connect })
      const client = yield* McpClient.connect(transport, { info: { name: "c", version: "1" }, revisions: ["2025-11-25"] })
      const plain = yield* Effect.forkChild(Effect.flip(client.callTool("slow", {})))
      const keyed = yield* Effect.forkChild(client.callTool("slow", {}, { idempotencyKey: "k-1" }))
      yield* TestClock.adjust("1 second")
      expect(slowCalls.count).toBe(2)
      yield* h.drop
      // the plain call fails at once with the typed connection-lost error
      const error = yield* Fiber.join(plain)
      expect(error).toMatchObject({ _tag: "RemoteError", code: -32000 })
      expect(JSON.stringify(error)).toContain("FM-07")
      // reconnect (first retry is under 1 s) and the keyed call is answered on the new connection
      for (let i = 0; i < 10; i++) yield* TestClock.adjust("1 second")
      const result = yield* Fiber.join(keyed)
      expect(result.content[0]).toMatchObject({ text: "done" })
      expect(yield* Ref.get(h.attempts)).toBe(2)
      // the new connection was initialized again: plain calls work
      expect((yield* client.callTool("echo", { message: "after" })).content[0]).toMatchObject({ text: "after" })
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))

  it.effect("gives up after maxAttempts and says so on the state stream", () =>
    Effect.gen(function*() {
      const h = yield* harness(1_000)
      const making = yield* Effect.forkChild(ReconnectingTransport.make({ connect: h.connect, maxAttempts: 3 }))
      for (let i = 0; i < 30; i++) yield* TestClock.adjust("1 second")
      const transport = yield* Fiber.join(making)
      const state = yield* transport.current
      expect(state._tag).toBe("Closed")
      expect(yield* Ref.get(h.attempts)).toBe(3)
      const ended = yield* Effect.flip(Stream.runDrain(transport.incoming))
      expect(ended).toMatchObject({ _tag: "ConnectionClosed" })
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))
})
