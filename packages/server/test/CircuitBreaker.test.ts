import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Metric from "effect/Metric"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/testing/TestClock"
import { MemoryTransport, Protocol } from "@effect-mcp/core"
import { ErrorCode, JsonRpcCodec } from "@effect-mcp/jsonrpc"
import * as McpServer from "../src/McpServer.ts"
import * as Tool from "../src/Tool.ts"

const connect = (server: McpServer.McpServer<never>) =>
  Effect.gen(function*() {
    const [a, b] = yield* MemoryTransport.makePair()
    yield* Effect.forkScoped(server.serve(a))
    const client = yield* Protocol.make(b, { handler: () => undefined })
    yield* client.request("initialize", { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "c", version: "1" } })
    return (name: string) => client.request("tools/call", { name, arguments: {} })
  })

/** The value of a gauge or counter with exactly these attributes. */
const metricValue = (name: string, attributes: Record<string, string>) =>
  Effect.map(Metric.snapshot, (snapshot) => {
    const found = snapshot.find((m) => m.id === name && JSON.stringify(m.attributes) === JSON.stringify(attributes))
    return found?.type === "Gauge" ? Number(found.state.value) : found?.type === "Counter" ? Number(found.state.count) : undefined
  })

describe("circuit breaker per tool", () => {
  it.effect("FM-42 repeated server-side failures open the tool's circuit; it closes after a good probe; tool errors do not count", () =>
    Effect.gen(function*() {
      let healthy = false
      const server = yield* McpServer.make({
        info: { name: "cb", version: "1" },
        circuitBreaker: { failures: 2, openDuration: "10 seconds" },
        tools: [
          Tool.make("flaky", {
            input: Schema.Struct({}),
            handler: () => (healthy ? Effect.succeed("ok") : Effect.die(new Error("backend down")))
          }),
          Tool.make("picky", { input: Schema.Struct({}), handler: () => Effect.fail(new Tool.ToolFailure({ message: "nope" })) }),
          Tool.make("fine", { input: Schema.Struct({}), handler: () => Effect.succeed("fine") })
        ]
      })
      const [a, b] = yield* MemoryTransport.makePair()
      yield* Effect.forkScoped(server.serve(a))
      const client = yield* Protocol.make(b, { handler: () => undefined })
      yield* client.request("initialize", { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "c", version: "1" } })
      const call = (name: string) => client.request("tools/call", { name, arguments: {} })
      for (let i = 0; i < 2; i++) expect(yield* Effect.flip(call("flaky"))).toMatchObject({ code: ErrorCode.InternalError })
      // open: refused without running, with a hint
      expect(yield* Effect.flip(call("flaky"))).toMatchObject({ code: ErrorCode.Unavailable, data: { retryAfterMs: 10_000 } })
      // other tools are unaffected; tool errors the model sees never trip a circuit
      expect(yield* call("fine")).toMatchObject({ content: [{ text: "fine" }] })
      for (let i = 0; i < 3; i++) expect(yield* call("picky")).toMatchObject({ isError: true })
      // after the open time, one probe decides: healthy again closes the circuit
      healthy = true
      yield* TestClock.adjust("10 seconds")
      expect(yield* call("flaky")).toMatchObject({ content: [{ text: "ok" }] })
      expect(yield* call("flaky")).toMatchObject({ content: [{ text: "ok" }] })
    }).pipe(Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))

  it.effect("FM-14 server.breaker(tool): forceOpen refuses the tool on every connection until reset; reset closes a circuit stuck open at once; its state is a metric", () =>
    Effect.gen(function*() {
      let healthy = false
      let runs = 0
      const server = yield* McpServer.make({
        info: { name: "cb", version: "1" },
        circuitBreaker: { consecutiveFailures: 1, openDuration: "1 hour" },
        tools: [
          Tool.make("backend", {
            input: Schema.Struct({}),
            handler: () => Effect.suspend(() => (++runs, healthy ? Effect.succeed("ok") : Effect.die(new Error("down"))))
          }),
          Tool.make("other", { input: Schema.Struct({}), handler: () => Effect.succeed("other") })
        ]
      })
      const one = yield* connect(server)
      const two = yield* connect(server)
      // stuck open for an hour after one failure
      yield* Effect.flip(one("backend"))
      expect(yield* server.breaker("backend").state).toMatchObject({ _tag: "Open", retryAfterMs: 3_600_000 })
      expect(yield* metricValue("mcp_circuit_state", { breaker: "tool", key: "backend" })).toBe(2)
      expect(yield* Effect.flip(two("backend"))).toMatchObject({ code: ErrorCode.Unavailable, data: { state: "Open", mode: "FM-42" } })
      // the operator knows the backend is back: reset closes it now, on every connection
      healthy = true
      yield* server.breaker("backend").reset
      expect(yield* two("backend")).toMatchObject({ content: [{ text: "ok" }] })
      expect(yield* metricValue("mcp_circuit_state", { breaker: "tool", key: "backend" })).toBe(0)
      // forced open: refused everywhere, and time does not reopen it
      yield* server.breaker("backend").forceOpen
      const before = runs
      expect(yield* Effect.flip(one("backend"))).toMatchObject({ code: ErrorCode.Unavailable, data: { state: "ForcedOpen" } })
      expect(yield* Effect.flip(two("backend"))).toMatchObject({ code: ErrorCode.Unavailable })
      yield* TestClock.adjust("2 hours")
      expect(yield* Effect.flip(one("backend"))).toMatchObject({ data: { state: "ForcedOpen" } })
      expect(runs).toBe(before)
      expect(yield* metricValue("mcp_circuit_state", { breaker: "tool", key: "backend" })).toBe(3)
      expect(yield* one("other")).toMatchObject({ content: [{ text: "other" }] })
      yield* server.breaker("backend").reset
      expect(yield* one("backend")).toMatchObject({ content: [{ text: "ok" }] })
      // a tool with no breaker policy can still be disabled by hand
      yield* server.breaker("other").forceOpen
      expect(yield* Effect.flip(two("other"))).toMatchObject({ code: ErrorCode.Unavailable, message: "Tool other is disabled by an operator" })
      yield* server.breaker("other").reset
      expect(yield* two("other")).toMatchObject({ content: [{ text: "other" }] })
    }).pipe(Effect.provide(JsonRpcCodec.JsonRpcCodec.layer), Effect.provideService(Metric.MetricRegistry, new Map())))

  it.effect("FM-42 a slow-call and failure-rate policy with half-open probes guards a tool; adaptive timeouts count as failures", () =>
    Effect.gen(function*() {
      let delay = 0
      const server = yield* McpServer.make({
        info: { name: "cb", version: "1" },
        circuitBreaker: {
          failureRateThreshold: 0.5,
          slowCallDuration: "1 second",
          slowCallRateThreshold: 0.5,
          window: { size: 4 },
          minimumCalls: 4,
          openDuration: "10 seconds",
          halfOpenProbes: 2
        },
        adaptiveTimeout: { min: "100 millis", max: "3 seconds", minSamples: 100, window: 100 },
        tools: [Tool.make("search", { input: Schema.Struct({}), handler: () => Effect.as(Effect.sleep(delay), "found") })]
      })
      const call = yield* connect(server)
      const timed = (ms: number) =>
        Effect.gen(function*() {
          delay = ms
          const fiber = yield* Effect.forkChild(Effect.result(call("search")), { startImmediately: true })
          yield* TestClock.adjust(Math.min(ms, 3_000))
          return yield* Fiber.join(fiber)
        })
      yield* timed(10)
      yield* timed(10)
      // a slow call (1.5 s), then a hung one cut by the adaptive bound (3 s: -32001): 2 of 4 bad
      expect(yield* timed(1_500)).toMatchObject({ _tag: "Success" })
      expect(yield* timed(60_000)).toMatchObject({ _tag: "Failure", failure: { code: ErrorCode.RequestTimeout, data: { mode: "FM-21", timeoutMs: 3_000 } } })
      expect(yield* server.breaker("search").state).toMatchObject({ _tag: "Open" })
      expect(yield* timed(10)).toMatchObject({ _tag: "Failure", failure: { code: ErrorCode.Unavailable, data: { retryAfterMs: 10_000 } } })
      // half-open: two quick probes close it
      yield* TestClock.adjust("10 seconds")
      yield* timed(10)
      expect(yield* server.breaker("search").state).toMatchObject({ _tag: "HalfOpen", succeeded: 1, probes: 2 })
      yield* timed(10)
      expect(yield* server.breaker("search").state).toMatchObject({ _tag: "Closed" })
    }).pipe(Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))
})
