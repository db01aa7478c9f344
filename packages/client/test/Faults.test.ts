import { describe, expect, it } from "@effect/vitest"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Ref from "effect/Ref"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/testing/TestClock"
import { MemoryTransport, Protocol, ProtocolError } from "@effect-mcp/core"
import { CircuitBreaker } from "@effect-mcp/faults"
import { JsonRpcCodec } from "@effect-mcp/jsonrpc"
import { McpServer } from "@effect-mcp/server"
import * as ReconnectingTransport from "../../transports/src/ReconnectingTransport.ts"
import * as McpClient from "../src/McpClient.ts"

const info = { name: "c", version: "1" }

const discovered = {
  resultType: "complete",
  supportedVersions: ["2026-07-28", "2025-11-25"],
  capabilities: { tools: {} },
  _meta: { "io.modelcontextprotocol/serverInfo": { name: "modern", version: "1" } },
  ttlMs: 0,
  cacheScope: "private"
}
const initialized = { protocolVersion: "2025-11-25", capabilities: {}, serverInfo: { name: "legacy", version: "1" } }

interface Frame {
  readonly id?: string | number
  readonly method?: string
}

/** What a scripted server does with one frame from the client: answer it, ignore it, or hang up. */
type Reply = { readonly result: unknown } | { readonly error: { code: number; message: string; data?: unknown } } | "silence" | "hang-up"

/**
 * A client transport whose other end is a script on the raw wire: every frame the client sends is decoded and
 * answered as `script` says (its method and the how-many-th time that method came). `methods` is what the
 * client sent, in order.
 */
const scripted = (script: (frame: Frame, nth: number) => Reply) =>
  Effect.gen(function*() {
    const [transport, wire] = yield* MemoryTransport.makeWithWire()
    const methods: Array<string> = []
    const decoder = new TextDecoder()
    yield* wire.read.pipe(
      Stream.runForEach((bytes) =>
        Effect.forEach(decoder.decode(bytes).split("\n").filter((line) => line.length > 0), (line) => {
          const frame = JSON.parse(line) as Frame
          if (frame.method === undefined || frame.id === undefined) return Effect.void
          methods.push(frame.method)
          const reply = script(frame, methods.filter((m) => m === frame.method).length)
          if (reply === "silence") return Effect.void
          if (reply === "hang-up") return wire.close
          return wire.write(JSON.stringify({ jsonrpc: "2.0", id: frame.id, ...reply }) + "\n")
        }, { discard: true })),
      Effect.forkScoped
    )
    return { transport, methods }
  })

/** What a reconnecting transport answers, locally, for a request lost with its connection. */
const lostDuringDiscover = { error: { code: -32000, message: "Connection lost: socket reset", data: { mode: "FM-07", reason: "connection lost" } } }

/** Runs `effect` in a fiber and moves the TestClock in `step`s until it ends (at most `steps` times). */
const driven = <A, E, R>(effect: Effect.Effect<A, E, R>, step: Duration.Input, steps = 100) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.forkChild(effect)
    for (let i = 0; i < steps && fiber.pollUnsafe() === undefined; i++) yield* TestClock.adjust(step)
    return yield* Fiber.await(fiber)
  })

describe("McpClient: negotiation when the probe gets no answer", () => {
  it.effect("FM-07 the connection lost during server/discover (-32000, data.mode FM-07) fails the connect with NegotiationFailed, never a legacy session", () =>
    Effect.gen(function*() {
      const { methods, transport } = yield* scripted((frame) =>
        frame.method === "server/discover" ? lostDuringDiscover : frame.method === "initialize" ? { result: initialized } : "silence"
      )
      const error = yield* Effect.flip(McpClient.connect(transport, { info }))
      expect(error).toMatchObject({
        _tag: "NegotiationFailed",
        mode: "FM-07",
        reason: "connection-lost",
        method: "server/discover",
        revision: "2026-07-28"
      })
      expect(error.message).toMatch(/got no answer \(connection-lost\)/)
      // the era was not guessed: no initialize went out
      expect(methods).toEqual(["server/discover"])
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))

  it.effect("FM-07 a transport that closes during server/discover fails the connect with NegotiationFailed (connection-lost)", () =>
    Effect.gen(function*() {
      const { methods, transport } = yield* scripted((frame) => frame.method === "server/discover" ? "hang-up" : { result: initialized })
      const error = yield* Effect.flip(McpClient.connect(transport, { info }))
      expect(error).toMatchObject({ _tag: "NegotiationFailed", mode: "FM-07", reason: "connection-lost", cause: { _tag: "ConnectionClosed" } })
      expect(methods).toEqual(["server/discover"])
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))

  it.effect("FM-21 server/discover unanswered within discoverTimeout is a legacy server as the specification says, or with legacyOnDiscoverTimeout false fails with NegotiationFailed (timeout)", () =>
    Effect.gen(function*() {
      const silentProbe = (frame: Frame): Reply => frame.method === "initialize" ? { result: initialized } : "silence"
      const first = yield* scripted(silentProbe)
      const exit = yield* driven(McpClient.connect(first.transport, { info, discoverTimeout: "5 seconds", legacyOnDiscoverTimeout: false }), "1 second")
      expect(exit).toMatchObject({ _tag: "Failure" })
      const error = yield* Effect.flip(exit)
      expect(error).toMatchObject({ _tag: "NegotiationFailed", mode: "FM-21", reason: "timeout", cause: { _tag: "RequestTimedOut", timeoutMs: 5_000 } })
      expect(first.methods).toEqual(["server/discover"])
      // the specification's rule (the default): legacy servers may ignore unknown requests before initialize
      const second = yield* scripted(silentProbe)
      const client = yield* Effect.flatten(
        driven(McpClient.connect(second.transport, { info, discoverTimeout: "5 seconds" }), "1 second")
      )
      expect(client.server).toMatchObject({ era: "stateful", revision: "2025-11-25", serverInfo: { name: "legacy" } })
      expect(second.methods).toEqual(["server/discover", "initialize"])
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))

  it.effect("a discover refused for load (-32010) is not a legacy server; connectRetry waits out its retryAfterMs and finds the modern server", () =>
    Effect.gen(function*() {
      const refusedOnce = (frame: Frame, nth: number): Reply =>
        frame.method === "server/discover"
          ? nth === 1
            ? { error: { code: -32010, message: "Rate limit exceeded", data: { retryAfterMs: 2_000, mode: "FM-46" } } }
            : { result: discovered }
          : frame.method === "initialize"
          ? { result: initialized }
          : "silence"
      const first = yield* scripted(refusedOnce)
      expect(yield* Effect.flip(McpClient.connect(first.transport, { info }))).toMatchObject({ _tag: "RemoteError", code: -32010 })
      expect(first.methods).toEqual(["server/discover"])
      // with a retry policy: nothing before the hint (a probe then would be refused again), the modern era after it
      const second = yield* scripted(refusedOnce)
      const connecting = yield* Effect.forkChild(McpClient.connect(second.transport, { info, connectRetry: McpClient.defaultRetry }))
      let elapsed = 0
      while (second.methods.length < 2 && elapsed < 10_000) {
        yield* TestClock.adjust("100 millis")
        elapsed += 100
      }
      expect(elapsed).toBeGreaterThanOrEqual(2_000)
      expect(elapsed).toBeLessThanOrEqual(2_200)
      const client = yield* Fiber.join(connecting)
      expect(client.server).toMatchObject({ era: "stateless", revision: "2026-07-28", serverInfo: { name: "modern" } })
      expect(second.methods).toEqual(["server/discover", "server/discover"])
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))

  it.effect("legacy servers are still found: -32601, -32602, -32603 and a result without supportedVersions fall back to initialize", () =>
    Effect.gen(function*() {
      const answers: ReadonlyArray<Reply> = [
        { error: { code: -32601, message: "Method not found" } },
        { error: { code: -32602, message: "Invalid request parameters" } },
        { error: { code: -32603, message: "Server not initialized" } },
        { result: {} }
      ]
      for (const answer of answers) {
        const { methods, transport } = yield* scripted((frame) =>
          frame.method === "server/discover" ? answer : frame.method === "initialize" ? { result: initialized } : "silence"
        )
        const client = yield* McpClient.connect(transport, { info })
        expect(client.server).toMatchObject({ era: "stateful", revision: "2025-11-25" })
        expect(methods.slice(0, 2)).toEqual(["server/discover", "initialize"])
      }
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))

  it.effect("FM-07 through a ReconnectingTransport: a connection dropped during server/discover is not a legacy server; with connectRetry the probe goes again on the new connection", () =>
    Effect.gen(function*() {
      // a dual-era server: a fallback to initialize would succeed, in the wrong era
      const server = yield* McpServer.make({ info: { name: "dual", version: "1" } })
      const makeTransport = Effect.gen(function*() {
        const attempts = yield* Ref.make(0)
        return yield* ReconnectingTransport.make({
          connect: Effect.gen(function*() {
            const n = yield* Ref.getAndUpdate(attempts, (a) => a + 1)
            const [client, serverSide] = yield* MemoryTransport.makePair()
            if (n === 0) {
              // the first connection drops as soon as the probe arrives
              yield* serverSide.incoming.pipe(Stream.take(1), Stream.runDrain, Effect.andThen(serverSide.close), Effect.forkScoped)
            } else {
              yield* Effect.forkScoped(server.serve(serverSide))
            }
            return client
          })
        })
      })
      const once = yield* makeTransport
      const error = yield* Effect.flip(McpClient.connect(once, { info }))
      expect(error).toMatchObject({ _tag: "NegotiationFailed", mode: "FM-07", reason: "connection-lost", cause: { _tag: "RemoteError", code: -32000 } })
      const retried = yield* makeTransport
      const client = yield* Effect.flatten(driven(McpClient.connect(retried, { info, connectRetry: McpClient.defaultRetry }), "500 millis"))
      expect(client.server).toMatchObject({ era: "stateless", revision: "2026-07-28", serverInfo: { name: "dual" } })
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))
})

describe("McpClient: outbound circuit breaker (FM-14, FM-42)", () => {
  /** A modern server as a hand-written engine: `work` fails with -32603 while `healthy` is false. */
  const setup = Effect.gen(function*() {
    const breaker = yield* CircuitBreaker.make({ name: "server-x", policy: { consecutiveFailures: 3, openDuration: "10 seconds" } })
    const healthy = yield* Ref.make(false)
    const served = yield* Ref.make(0)
    const connectTo = Effect.gen(function*() {
      const [a, b] = yield* MemoryTransport.makePair()
      yield* Protocol.make(a, {
        handler: (method) => () => {
          if (method === "server/discover") return Effect.succeed(discovered)
          return Ref.update(served, (n) => n + 1).pipe(
            Effect.andThen(Ref.get(healthy)),
            Effect.flatMap((ok) =>
              ok
                ? Effect.succeed({ resultType: "complete", done: true })
                : Effect.fail(new ProtocolError.McpError({ code: -32603, message: "database down" }))
            )
          )
        }
      })
      return yield* McpClient.connect(b, { info, outboundBreaker: { breaker, key: "server-x" } })
    })
    return { breaker, healthy, served, connectTo }
  })

  it.effect("FM-42 after consecutive failures the circuit opens: calls fail at once with CircuitOpen without reaching the server, and so does a new connect", () =>
    Effect.gen(function*() {
      const { breaker, connectTo, served } = yield* setup
      const client = yield* connectTo
      for (let i = 0; i < 3; i++) {
        expect(yield* Effect.flip(client.request("work"))).toMatchObject({ _tag: "RemoteError", code: -32603 })
      }
      const open = yield* Effect.flip(client.request("work"))
      expect(open).toMatchObject({ _tag: "CircuitOpen", mode: "FM-42", breaker: "server-x", key: "server-x", state: "Open", retryAfterMs: 10_000 })
      expect(yield* Ref.get(served)).toBe(3)
      expect(yield* breaker.state("server-x")).toMatchObject({ _tag: "Open" })
      // the same breaker guards every connection to that server: negotiation fails fast too, in no era
      expect(yield* Effect.flip(connectTo)).toMatchObject({ _tag: "CircuitOpen", state: "Open" })
      // an open circuit is transient and says how long to wait; one forced open is not transient
      expect(McpClient.isTransient(open)).toBe(true)
      expect(McpClient.retryAfterMs(open)).toBe(10_000)
      yield* breaker.forceOpen("server-x")
      const forced = yield* Effect.flip(client.request("work"))
      expect(forced).toMatchObject({ _tag: "CircuitOpen", state: "ForcedOpen" })
      expect(McpClient.isTransient(forced)).toBe(false)
      expect(yield* Ref.get(served)).toBe(3)
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))

  it.effect("FM-14 defaultRetry waits out the open circuit's retryAfterMs: no retry is spent on it, the half-open probe succeeds and closes it", () =>
    Effect.gen(function*() {
      const { breaker, connectTo, healthy, served } = yield* setup
      const client = yield* connectTo
      for (let i = 0; i < 3; i++) yield* Effect.flip(client.request("work"))
      yield* Ref.set(healthy, true)
      const call = yield* Effect.forkChild(client.request("work", {}, { retry: McpClient.defaultRetry }))
      // the first attempt meets the open circuit; the policy's own delays (≤ 3.8 s in all) would spend every
      // retry on it before it half-opens
      yield* TestClock.adjust("9900 millis")
      expect(call.pollUnsafe()).toBeUndefined()
      expect(yield* Ref.get(served)).toBe(3)
      yield* TestClock.adjust("200 millis")
      expect(yield* Fiber.join(call)).toMatchObject({ done: true })
      expect(yield* Ref.get(served)).toBe(4)
      expect(yield* breaker.state("server-x")).toMatchObject({ _tag: "Closed" })
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))

  it.effect("FM-21 retryAfterMs: a server's data.retryAfterMs is honoured and a hostile hint is capped at maxRetryAfter", () =>
    Effect.sync(() => {
      const refusal = (retryAfterMs: unknown) =>
        new ProtocolError.RemoteError({ method: "x", code: -32010, message: "busy", data: { retryAfterMs } })
      expect(McpClient.retryAfterMs(refusal(1_500))).toBe(1_500)
      expect(McpClient.retryAfterMs(refusal(1e12))).toBe(30_000)
      expect(McpClient.retryAfterMs(refusal("soon"))).toBeUndefined()
      expect(McpClient.retryAfterMs(refusal(-1))).toBeUndefined()
      expect(McpClient.retryAfterMs(new ProtocolError.RequestTimedOut({ method: "x", timeoutMs: 1 }))).toBeUndefined()
    }))
})
