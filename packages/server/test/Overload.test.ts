import { describe, expect, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import { RateLimiter } from "effect/persistence"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/testing/TestClock"
import { MemoryTransport, Protocol } from "@effect-mcp/core"
import { RateLimit } from "@effect-mcp/faults"
import { ErrorCode, JsonRpcCodec } from "@effect-mcp/jsonrpc"
import * as McpServer from "../src/McpServer.ts"
import * as Tool from "../src/Tool.ts"

/** A stateful-era client of `server`, initialized as `clientName`. */
const connect = (server: McpServer.McpServer<never>, clientName = "c") =>
  Effect.gen(function*() {
    const [a, b] = yield* MemoryTransport.makePair()
    yield* Effect.forkScoped(server.serve(a))
    const client = yield* Protocol.make(b, { handler: () => undefined })
    yield* client.request("initialize", { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: clientName, version: "1" } })
    return {
      client,
      call: (name: string) => client.request("tools/call", { name, arguments: {} })
    }
  })

const retryAfter = (error: unknown): number => (error as { data: { retryAfterMs: number } }).data.retryAfterMs

/** Lets the connections' fibers run until `done` holds (requests cross the in-memory transport in a few hops). */
const until = (done: () => boolean) =>
  Effect.gen(function*() {
    for (let i = 0; i < 1_000 && !done(); i++) yield* Effect.yieldNow
    expect(done()).toBe(true)
  })

/** The value of a gauge with exactly these attributes. */
const gauge = (name: string, attributes: Record<string, string>) =>
  Effect.map(Metric.snapshot, (snapshot) => {
    const found = snapshot.find((m) => m.id === name && JSON.stringify(m.attributes) === JSON.stringify(attributes))
    return found?.type === "Gauge" ? Number(found.state.value) : undefined
  })

describe("overload protection in McpServer", () => {
  it.effect("FM-45 the server bulkhead is shared by all connections: calls wait at most queueTimeout, past the queue they get -32010 with retryAfterMs; pings and lists are never queued", () =>
    Effect.gen(function*() {
      let started = 0
      const gate = yield* Deferred.make<void>()
      const server = yield* McpServer.make({
        info: { name: "bh", version: "1" },
        bulkhead: { maxConcurrent: 2, maxQueue: 1, queueTimeout: "3 seconds" },
        tools: [
          Tool.make("work", { input: Schema.Struct({}), handler: () => Effect.as(Effect.andThen(Effect.sync(() => started++), Deferred.await(gate)), "done") })
        ]
      })
      const one = yield* connect(server)
      const two = yield* connect(server)
      const running = yield* Effect.forEach([one, two], (c) => Effect.forkChild(c.call("work"), { startImmediately: true }))
      yield* until(() => started === 2)
      const queued = yield* Effect.forkChild(Effect.result(one.call("work")), { startImmediately: true })
      let queuedNow = 0
      while (queuedNow < 1) {
        yield* Effect.yieldNow
        queuedNow = (yield* gauge("mcp_bulkhead_queued", { bulkhead: "server" })) ?? 0
      }
      // two running, one queued (on either connection): the next is refused at once
      const full = yield* Effect.flip(two.call("work"))
      expect(full).toMatchObject({ code: ErrorCode.Overloaded, data: { mode: "FM-04", limit: 2 } })
      expect(retryAfter(full)).toBeGreaterThan(0)
      // housekeeping is never queued behind handlers
      expect(yield* two.client.request("ping")).toEqual({})
      expect(yield* two.client.request("tools/list")).toMatchObject({ tools: [{ name: "work" }] })
      // the queued call gives up after the queue timeout
      yield* TestClock.adjust("3 seconds")
      expect(yield* Fiber.join(queued)).toMatchObject({ _tag: "Failure", failure: { code: ErrorCode.Overloaded, data: { mode: "FM-45" } } })
      yield* Deferred.succeed(gate, undefined)
      expect(yield* Effect.forEach(running, Fiber.join)).toMatchObject([{ content: [{ text: "done" }] }, { content: [{ text: "done" }] }])
      expect(yield* two.call("work")).toMatchObject({ content: [{ text: "done" }] })
    }).pipe(Effect.provide(JsonRpcCodec.JsonRpcCodec.layer), Effect.provideService(Metric.MetricRegistry, new Map())))

  it.effect("FM-04 a tool's own bulkhead refuses that tool only; the others keep the server's capacity", () =>
    Effect.gen(function*() {
      let started = 0
      const gate = yield* Deferred.make<void>()
      const server = yield* McpServer.make({
        info: { name: "bh", version: "1" },
        bulkhead: { maxConcurrent: 10 },
        perTool: { report: { bulkhead: { maxConcurrent: 1 } } },
        tools: [
          Tool.make("report", { input: Schema.Struct({}), handler: () => Effect.as(Effect.andThen(Effect.sync(() => started++), Deferred.await(gate)), "report") }),
          Tool.make("echo", { input: Schema.Struct({}), handler: () => Effect.succeed("echo") })
        ]
      })
      const { call } = yield* connect(server)
      const first = yield* Effect.forkChild(call("report"), { startImmediately: true })
      yield* until(() => started === 1)
      expect(yield* Effect.flip(call("report"))).toMatchObject({ code: ErrorCode.Overloaded, data: { mode: "FM-04", limit: 1 } })
      expect(yield* call("echo")).toMatchObject({ content: [{ text: "echo" }] })
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(first)
      expect(yield* call("report")).toMatchObject({ content: [{ text: "report" }] })
    }).pipe(Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))

  it.effect("FM-46 a rate limit per client holds across the client's connections (per: client), with retryAfterMs; other clients are not affected", () =>
    Effect.gen(function*() {
      const server = yield* McpServer.make({
        info: { name: "rl", version: "1" },
        rateLimit: { limit: 3, window: "3 seconds", per: "client" },
        tools: [Tool.make("echo", { input: Schema.Struct({}), handler: () => Effect.succeed("echo") })]
      })
      // each initialize takes a token too
      const one = yield* connect(server, "alice")
      const two = yield* connect(server, "alice")
      yield* one.call("echo")
      const refused = yield* Effect.flip(two.call("echo"))
      expect(refused).toMatchObject({ code: ErrorCode.Overloaded, data: { mode: "FM-46", limit: 3 } })
      expect(retryAfter(refused)).toBe(1_000)
      const bob = yield* connect(server, "bob")
      expect(yield* bob.call("echo")).toMatchObject({ content: [{ text: "echo" }] })
      yield* TestClock.adjust("1 second")
      expect(yield* two.call("echo")).toMatchObject({ content: [{ text: "echo" }] })
    }).pipe(Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))

  it.effect("FM-17 when the rate limiter's store fails, the server fails open or closed as configured", () =>
    Effect.gen(function*() {
      const broken = Layer.succeed(RateLimiter.RateLimiterStore, {
        tokenBucket: () =>
          Effect.fail(new RateLimiter.RateLimiterError({ reason: new RateLimiter.RateLimitStoreError({ message: "redis unreachable" }) })),
        fixedWindow: () => Effect.die("unused"),
        adaptiveConsume: () => Effect.die("unused"),
        adaptiveFeedback: () => Effect.die("unused")
      })
      const tools = [Tool.make("echo", { input: Schema.Struct({}), handler: () => Effect.succeed("echo") })]
      const open = yield* McpServer.make({
        info: { name: "open", version: "1" },
        rateLimit: { limit: 1, window: "1 minute", onLimiterFailure: "open" },
        rateLimitStore: { layer: broken },
        tools
      })
      const admitted = yield* connect(open)
      for (let i = 0; i < 5; i++) expect(yield* admitted.call("echo")).toMatchObject({ content: [{ text: "echo" }] })
      const closed = yield* McpServer.make({
        info: { name: "closed", version: "1" },
        rateLimit: { limit: 1, window: "1 minute", onLimiterFailure: "closed" },
        rateLimitStore: { layer: broken },
        tools
      })
      const [a, b] = yield* MemoryTransport.makePair()
      yield* Effect.forkScoped(closed.serve(a))
      const client = yield* Protocol.make(b, { handler: () => undefined })
      const refused = yield* Effect.flip(
        client.request("initialize", { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "c", version: "1" } })
      )
      expect(refused).toMatchObject({ code: ErrorCode.Unavailable, data: { mode: "FM-17" } })
      expect(retryAfter(refused)).toBeGreaterThan(0)
      expect(RateLimit.LimiterUnavailable).toBeDefined()
    }).pipe(Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))

  it.effect("FM-21 with adaptiveTimeout a tool's bound follows its latency: a hung call is answered with -32001 after p99 × factor, long before toolTimeout", () =>
    Effect.gen(function*() {
      let started = 0
      let hang = false
      const server = yield* McpServer.make({
        info: { name: "at", version: "1" },
        toolTimeout: "5 minutes",
        adaptiveTimeout: { percentile: 0.99, factor: 3, min: "100 millis", max: "10 seconds", window: 50, minSamples: 5 },
        perTool: { raw: { adaptiveTimeout: false } },
        tools: [
          Tool.make("lookup", {
            input: Schema.Struct({}),
            handler: () => Effect.andThen(Effect.sync(() => started++), Effect.as(hang ? Effect.never : Effect.sleep("200 millis"), "hit"))
          }),
          Tool.make("raw", {
            input: Schema.Struct({}),
            handler: () => Effect.andThen(Effect.sync(() => started++), Effect.as(Effect.sleep("30 seconds"), "raw"))
          })
        ]
      })
      const { call } = yield* connect(server)
      for (let i = 0; i < 5; i++) {
        const fiber = yield* Effect.forkChild(call("lookup"), { startImmediately: true })
        yield* until(() => started === i + 1)
        yield* TestClock.adjust("200 millis")
        yield* Fiber.join(fiber)
      }
      hang = true
      const hung = yield* Effect.forkChild(Effect.flip(call("lookup")), { startImmediately: true })
      yield* until(() => started === 6)
      yield* TestClock.adjust("599 millis")
      expect(hung.pollUnsafe()).toBeUndefined()
      yield* TestClock.adjust("1 millis")
      expect(yield* Fiber.join(hung)).toMatchObject({ code: ErrorCode.RequestTimeout, data: { mode: "FM-21", timeoutMs: 600 } })
      // a tool opted out keeps its static bound only (adaptive, it would be cut at max, 10 s, while warming up)
      const raw = yield* Effect.forkChild(call("raw"), { startImmediately: true })
      yield* until(() => started === 7)
      yield* TestClock.adjust("30 seconds")
      expect(yield* Fiber.join(raw)).toMatchObject({ content: [{ text: "raw" }] })
    }).pipe(Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))
})
