import { describe, expect, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Logger from "effect/Logger"
import * as Metric from "effect/Metric"
import * as Schema from "effect/Schema"
import fc from "fast-check"
import { MemoryTransport, Protocol } from "@effect-mcp/core"
import { ErrorCode, JsonRpcCodec } from "@effect-mcp/jsonrpc"
import * as McpServer from "../src/McpServer.ts"
import * as ServerConfig from "../src/ServerConfig.ts"
import * as Tool from "../src/Tool.ts"

const echo = Tool.make("echo", { input: Schema.Struct({}), handler: () => Effect.succeed("echo") })

const connect = (server: McpServer.McpServer<never>) =>
  Effect.gen(function*() {
    const [a, b] = yield* MemoryTransport.makePair()
    yield* Effect.forkScoped(server.serve(a))
    const client = yield* Protocol.make(b, { handler: () => undefined })
    yield* client.request("initialize", { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "c", version: "1" } })
    return { client, call: (name: string) => client.request("tools/call", { name, arguments: {} }) }
  }).pipe(Effect.provide(JsonRpcCodec.JsonRpcCodec.layer))

const metricValue = (name: string, attributes: Record<string, string>) =>
  Effect.map(Metric.snapshot, (snapshot) => {
    const found = snapshot.find((m) => m.id === name && JSON.stringify(m.attributes ?? {}) === JSON.stringify(attributes))
    return found?.type === "Gauge" ? Number(found.state.value) : found?.type === "Counter" ? Number(found.state.count) : undefined
  })

const invalid = {
  maxConcurrentRequests: 0,
  rateLimit: { limit: 0, window: "soon" },
  bulkhead: { maxConcurrent: 2, queueTimeout: -1 },
  circuitBreaker: { failureRateThreshold: 2, openDuration: "30 seconds" },
  perTool: { echo: { timeout: "never", circuitBreaker: { openDuration: "1 second", windw: { size: 3 } } } },
  toolTimout: "1 minute"
}

describe("ServerConfig and McpServer.reconfigure (FM-20)", () => {
  it.effect("FM-20 an invalid configuration is refused with every problem listed and nothing applied; a valid one applies to every connection at once", () =>
    Effect.gen(function*() {
      const server = yield* McpServer.make({ info: { name: "cfg", version: "1" }, rateLimit: { limit: 100, window: "1 minute" }, tools: [echo] })
      const { call } = yield* connect(server)
      const refused = yield* Effect.flip(server.reconfigure(invalid))
      expect(refused).toMatchObject({ _tag: "InvalidConfig", mode: "FM-20" })
      expect(refused.problems.map((p) => p.path).sort()).toEqual([
        "bulkhead.queueTimeout",
        "circuitBreaker.failureRateThreshold",
        "maxConcurrentRequests",
        "perTool.echo.circuitBreaker.windw",
        "perTool.echo.timeout",
        "rateLimit.limit",
        "rateLimit.window",
        "toolTimout"
      ])
      // nothing changed
      expect(yield* server.config).toEqual({ version: 1, config: { rateLimit: { limit: 100, window: "1 minute" } } })
      for (let i = 0; i < 5; i++) yield* call("echo")
      // a valid one applies at once, to the connection already open
      yield* server.reconfigure({ rateLimit: { limit: 1, window: "1 minute" } })
      expect((yield* server.config).version).toBe(2)
      yield* call("echo")
      expect(yield* Effect.flip(call("echo"))).toMatchObject({ code: ErrorCode.Overloaded, data: { mode: "FM-46", limit: 1 } })
      // a setting left out turns its mechanism off
      yield* server.reconfigure({})
      for (let i = 0; i < 5; i++) yield* call("echo")
    }))

  it.effect("FM-20 reload is atomic: a configuration with one bad field changes nothing; reloads run one at a time, versioned, logged and counted", () => {
    const lines: Array<string> = []
    const logger = Logger.make(({ message }) => {
      lines.push(Array.isArray(message) ? message.join(" ") : String(message))
    })
    return Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const server = yield* McpServer.make({
        info: { name: "cfg", version: "1" },
        maxConcurrentRequests: 8,
        tools: [echo, Tool.make("block", { input: Schema.Struct({}), handler: () => Effect.as(Deferred.await(gate), "unblocked") })],
        checkConfig: (config) =>
          (config.bulkhead?.maxConcurrent ?? 0) > 100 ? [{ path: "bulkhead.maxConcurrent", message: "this host allows at most 100" }] : []
      })
      const { call } = yield* connect(server)
      const good = { maxConcurrentRequests: 1, circuitBreaker: { failures: 3, openDuration: "10 seconds" } }
      yield* server.reconfigure(good)
      // half good, half bad: the good half is not applied either
      const half = yield* Effect.flip(server.reconfigure({ maxConcurrentRequests: 50, perTool: { echo: { bulkhead: { maxConcurrent: 0 } } } }))
      expect(half.problems).toEqual([{ path: "perTool.echo.bulkhead.maxConcurrent", message: "Expected a value greater than or equal to 1" }])
      // valid for the schema, refused by the host's own check
      const local = yield* Effect.flip(server.reconfigure({ bulkhead: { maxConcurrent: 500 } }))
      expect(local.problems).toEqual([{ path: "bulkhead.maxConcurrent", message: "this host allows at most 100" }])
      expect(yield* server.config).toEqual({ version: 2, config: good })
      // the configuration in force is the good one: one request at a time on this connection
      const blocked = yield* Effect.forkChild(call("block"), { startImmediately: true })
      for (let i = 0; i < 50; i++) yield* Effect.yieldNow
      expect(yield* Effect.flip(call("echo"))).toMatchObject({ code: ErrorCode.Overloaded, data: { limit: 1 } })
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(blocked)
      // concurrent reloads are serialised: every one applies whole, in turn
      const configs = [2, 3, 4, 5, 6].map((n) => ({ maxConcurrentRequests: n, toolTimeout: n * 1_000 }))
      yield* Effect.forEach(configs, (c) => server.reconfigure(c), { concurrency: "unbounded" })
      const final = yield* server.config
      expect(final.version).toBe(7)
      expect(configs).toContainEqual(final.config)
      expect(yield* metricValue("mcp_config_version", {})).toBe(7)
      expect(yield* metricValue("mcp_config_reloads_total", { outcome: "applied" })).toBe(6)
      expect(yield* metricValue("mcp_config_reloads_total", { outcome: "rejected" })).toBe(2)
      expect(lines.filter((l) => l.startsWith("Configuration"))).toContain(
        "Configuration v2 applied (changed: maxConcurrentRequests, circuitBreaker)"
      )
      expect(lines.some((l) => l.startsWith("Configuration refused, v2 stays in force: Invalid configuration: perTool.echo.bulkhead.maxConcurrent"))).toBe(true)
    }).pipe(Effect.provideService(Metric.MetricRegistry, new Map()), Effect.provide(Logger.layer([logger])))
  })

  it.effect("FM-20 a reload that fails while it is applied puts the previous configuration back whole, limits included", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const server = yield* McpServer.make({
        info: { name: "cfg", version: "1" },
        tools: [echo, Tool.make("block", { input: Schema.Struct({}), handler: () => Effect.as(Deferred.await(gate), "unblocked") })],
        // the host's own part of the configuration: it cannot apply a tool timeout of 13 s
        applyConfig: (config) => config.toolTimeout === 13_000 ? Effect.fail(new Error("the host cannot apply toolTimeout 13 s")) : Effect.void
      })
      const { call } = yield* connect(server)
      const good = { maxConcurrentRequests: 1, rateLimit: { limit: 100, window: "1 minute" } }
      yield* server.reconfigure(good)
      expect(yield* server.config).toEqual({ version: 2, config: good })
      // valid, swapped in, then its last step fails: refused, and the previous configuration is back
      const failing = yield* Effect.flip(server.reconfigure({ maxConcurrentRequests: 8, toolTimeout: 13_000, rateLimit: { limit: 1, window: "1 minute" } }))
      expect(failing).toMatchObject({ _tag: "InvalidConfig", mode: "FM-20" })
      expect(failing.problems[0]!.message).toContain("could not be applied")
      expect(failing.problems[0]!.message).toContain("the host cannot apply toolTimeout 13 s")
      expect(yield* server.config).toEqual({ version: 2, config: good })
      // the previous limits are in force: the rate limit of 100 (not 1) and one request at a time (not 8)
      for (let i = 0; i < 3; i++) expect(yield* call("echo")).toMatchObject({ content: [{ text: "echo" }] })
      const blocked = yield* Effect.forkChild(call("block"), { startImmediately: true })
      for (let i = 0; i < 50; i++) yield* Effect.yieldNow
      expect(yield* Effect.flip(call("echo"))).toMatchObject({ code: ErrorCode.Overloaded, data: { limit: 1 } })
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(blocked)
      // the next reload numbers on from the configuration in force
      yield* server.reconfigure({ maxConcurrentRequests: 4 })
      expect(yield* server.config).toEqual({ version: 3, config: { maxConcurrentRequests: 4 } })
    }).pipe(Effect.provideService(Metric.MetricRegistry, new Map())))

  it.effect("FM-20 reloads run one at a time: a reload waits while another is still being applied, and each gets its own version", () => {
    const opened: Array<Deferred.Deferred<void>> = []
    return Effect.gen(function*() {
      const gates = [yield* Deferred.make<void>(), yield* Deferred.make<void>()]
      opened.push(...gates)
      const applying: Array<number> = []
      let inside = 0
      let most = 0
      const server = yield* McpServer.make({
        info: { name: "cfg", version: "1" },
        tools: [echo],
        // the host's part takes a while (until the test opens its gate); the first one fails
        applyConfig: (config) =>
          Effect.gen(function*() {
            const n = config.maxConcurrentRequests!
            applying.push(n)
            most = Math.max(most, ++inside)
            yield* Deferred.await(gates[n - 2]!)
            inside--
            if (n === 2) return yield* Effect.fail(new Error("cannot apply 2"))
          })
      })
      const first = yield* Effect.forkChild(Effect.flip(server.reconfigure({ maxConcurrentRequests: 2 })), { startImmediately: true })
      const second = yield* Effect.forkChild(server.reconfigure({ maxConcurrentRequests: 3 }), { startImmediately: true })
      for (let i = 0; i < 100; i++) yield* Effect.yieldNow
      // the second waits for the first to finish (it has not even been swapped in)
      expect(applying).toEqual([2])
      yield* Deferred.succeed(gates[0]!, undefined)
      expect(yield* Fiber.join(first)).toMatchObject({ _tag: "InvalidConfig" })
      for (let i = 0; i < 100 && applying.length < 2; i++) yield* Effect.yieldNow
      expect(applying).toEqual([2, 3])
      yield* Deferred.succeed(gates[1]!, undefined)
      yield* Fiber.join(second)
      expect(most).toBe(1)
      // the failed first was rolled back before the second read the configuration in force
      expect(yield* server.config).toEqual({ version: 2, config: { maxConcurrentRequests: 3 } })
    }).pipe(
      // a failed assertion must not leave a reload waiting (uninterruptibly) on its gate
      Effect.ensuring(Effect.suspend(() => Effect.forEach(opened, (gate) => Deferred.succeed(gate, undefined), { discard: true }))),
      Effect.provideService(Metric.MetricRegistry, new Map())
    )
  })

  it("FM-20 any reload either applies exactly the validated configuration or leaves the previous one in force (property)", async () => {
    const duration = fc.oneof(fc.integer({ min: -5, max: 10_000 }), fc.constantFrom("5 seconds", "1 minute", "soon", "-1 seconds"))
    const count = fc.integer({ min: -2, max: 200 })
    const candidate = fc.record(
      {
        maxConcurrentRequests: count,
        toolTimeout: duration,
        rateLimit: fc.record({ limit: count, window: duration, onLimiterFailure: fc.constantFrom("open", "closed", "sideways") }, { requiredKeys: ["limit", "window"] }),
        bulkhead: fc.record({ maxConcurrent: count, maxQueue: count, queueTimeout: duration }, { requiredKeys: ["maxConcurrent"] }),
        circuitBreaker: fc.record(
          { consecutiveFailures: count, failureRateThreshold: fc.double({ min: -1, max: 2, noNaN: true }), openDuration: duration },
          { requiredKeys: ["openDuration"] }
        ),
        adaptiveTimeout: fc.record({ min: duration, max: duration, factor: fc.double({ min: 0, max: 4, noNaN: true }) }, { requiredKeys: ["min", "max"] }),
        extra: fc.constant(true)
      },
      { requiredKeys: [] }
    )
    await fc.assert(
      fc.asyncProperty(fc.array(candidate, { minLength: 1, maxLength: 6 }), (reloads) =>
        Effect.runPromise(Effect.scoped(Effect.gen(function*() {
          const server = yield* McpServer.make({ info: { name: "p", version: "1" }, tools: [echo] })
          for (const input of reloads) {
            const before = yield* server.config
            const checked = yield* Effect.exit(ServerConfig.validate(input))
            const applied = yield* Effect.exit(server.reconfigure(input))
            const after = yield* server.config
            if (Exit.isSuccess(checked)) {
              expect(Exit.isSuccess(applied)).toBe(true)
              expect(after).toEqual({ version: before.version + 1, config: checked.value })
            } else {
              expect(Exit.isFailure(applied)).toBe(true)
              expect(after).toBe(before)
            }
          }
        })).pipe(Effect.provideService(Metric.MetricRegistry, new Map()), Effect.provide(Logger.layer([]))))
      ),
      { numRuns: 200 }
    )
  })

  it.effect("the reconfigure example of docs/guide.md applies", () =>
    Effect.gen(function*() {
      const server = yield* McpServer.make({ info: { name: "guide", version: "1" }, tools: [echo] })
      const { call } = yield* connect(server)
      // as in docs/guide.md
      yield* server.reconfigure({
        rateLimit: { limit: 50, window: "1 second", per: "client" },
        bulkhead: { maxConcurrent: 32, maxQueue: 64, queueTimeout: "2 seconds" },
        circuitBreaker: { failureRateThreshold: 0.5, window: { duration: "1 minute" }, openDuration: "30 seconds" }
      })
      expect((yield* server.config).version).toBe(2)
      expect(yield* call("echo")).toMatchObject({ content: [{ text: "echo" }] })
      expect((yield* server.breaker("echo").state)._tag).toBe("Closed")
    }))

  it.effect("make refuses invalid tunables with every problem listed", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        McpServer.make({ info: { name: "bad", version: "1" }, toolTimeout: -1, rateLimit: { limit: 1.5, window: "1 second" } })
      )
      expect(error).toMatchObject({ _tag: "InvalidDefinition", kind: "configuration" })
      expect(error.problems?.map((p) => p.path).sort()).toEqual(["rateLimit.limit", "toolTimeout"])
    }))
})
