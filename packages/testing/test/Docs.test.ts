/**
 * The snippets of docs/testing.md, as they appear there (keep them in step).
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/testing/TestClock"
import fc from "fast-check"
import { McpClient } from "@effect-mcp/client"
import type { Transport } from "@effect-mcp/core"
import { JsonRpcCodec } from "@effect-mcp/jsonrpc"
import { McpServer, Tool } from "@effect-mcp/server"
import { BlastRadius, Fault, FaultSchedule, FaultyTransport, HostileFrame, Ledger, Property, Scenario } from "@effect-mcp/testing"

// ---- step 1 ----------------------------------------------------------------------------------------------

const greet = Tool.make("greet", {
  input: Schema.Struct({ name: Schema.String }),
  handler: ({ name }) => Effect.succeed(`Hello, ${name}`)
})

describe("docs/testing.md", () => {
  it.effect("step 1: a faulty connection by hand", () =>
    Effect.gen(function*() {
      const server = yield* McpServer.make({ info: { name: "greeter", version: "1.0.0" }, tools: [greet] })
      const link = yield* FaultyTransport.pair([Fault.highLatency("200 millis")], { seed: 42 })
      yield* Effect.forkScoped(server.serve(link.server))
      const connecting = yield* Effect.forkChild(McpClient.connect(link.client, { info: { name: "test", version: "1" } }))
      yield* TestClock.adjust("1 second") // the handshake takes two round trips of 400 ms
      const client = yield* Fiber.join(connecting)
      const call = yield* Effect.forkChild(client.callTool("greet", { name: "Ada" }))
      yield* TestClock.adjust("400 millis") // one round trip
      expect(yield* Fiber.join(call)).toMatchObject({ content: [{ type: "text", text: "Hello, Ada" }] })
    }).pipe(Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))

  // ---- step 2 --------------------------------------------------------------------------------------------

  it.effect("step 2: a scenario and its invariants", () =>
    Effect.gen(function*() {
      const server = yield* McpServer.make({ info: { name: "greeter", version: "1.0.0" }, tools: [greet] })
      const report = yield* Scenario.run({
        server,
        client: Scenario.mcpClient({ requestTimeout: "5 seconds" }),
        workload: [
          Scenario.callTool("greet", { name: "Ada" }),
          Scenario.callTool("greet", { name: "Grace" }, { at: "1 second" })
        ],
        schedule: [Fault.packetLoss(0.1, { from: "500 millis" }), Fault.outOfOrderPackets(0.3, "100 millis")],
        seed: 7
      })
      expect(report.sent).toBe(2)
      yield* Scenario.assert(report) // fails with InvariantViolated (and the report) if any invariant broke
    }).pipe(Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))

  // ---- step 3 --------------------------------------------------------------------------------------------

  it.effect("step 3: property-test a tool with side effects", () =>
    Property.check(
      fc.tuple(FaultSchedule.arbitrary({ maxFaults: 3 }), FaultSchedule.seedArbitrary),
      ([schedule, seed]) =>
        Effect.gen(function*() {
          const ledger = yield* Ledger.make()
          const charge = Tool.make("charge", {
            input: Schema.Struct({ orderId: Schema.String, cents: Schema.Int }),
            handler: ({ orderId }) => Effect.as(ledger.record(orderId), "charged")
          })
          const server = yield* McpServer.make({ info: { name: "shop", version: "1.0.0" }, tools: [charge] })
          const retry = Schedule.exponential("100 millis").pipe(Schedule.jittered, Schedule.upTo({ times: 5 }))
          yield* Scenario.check({
            server,
            client: Scenario.mcpClient({ requestTimeout: "5 seconds" }),
            workload: ["o-1", "o-2", "o-3"].map((orderId, i) =>
              Scenario.callTool("charge", { orderId, cents: 500 }, { idempotencyKey: orderId, retry, at: `${i} seconds` })
            ),
            schedule,
            seed,
            ledger,
            reconnect: {}
          })
        }),
      { numRuns: 10 }
    ).pipe(Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))

  // ---- step 4 --------------------------------------------------------------------------------------------

  it.effect("step 4: property-test your own client", () => {
    /** The client under test: a wrapper that retries `greet` and falls back to a default. */
    const friendly = (client: McpClient.McpClient) => (name: string) =>
      client.callTool("greet", { name }, { retry: Schedule.spaced("1 second").pipe(Schedule.upTo({ times: 3 })) }).pipe(
        Effect.orElseSucceed(() => ({ content: [{ type: "text" as const, text: `Hi, ${name}` }] }))
      )
    type Greet = ReturnType<typeof friendly>
    const connectFriendly = (transport: Transport.Transport) =>
      Effect.map(McpClient.connect(transport, { info: { name: "friendly", version: "1" }, requestTimeout: "2 seconds" }), friendly)
    return Property.check(
      fc.tuple(FaultSchedule.arbitrary({ tags: ["PacketLoss", "HighLatency", "ConnectionHang"] }), FaultSchedule.seedArbitrary),
      ([schedule, seed]) =>
        Effect.gen(function*() {
          const server = yield* McpServer.make({ info: { name: "greeter", version: "1.0.0" }, tools: [greet] })
          const report = yield* Scenario.run({
            server,
            client: { connect: connectFriendly },
            workload: ["Ada", "Grace", "Edsger"].map((name, i): Scenario.Call<Greet> => ({ label: name, at: `${i} seconds`, run: (greet) => greet(name) })),
            schedule,
            seed,
            reconnect: {}
          })
          // the wrapper never fails: every call that was sent was answered
          expect(report.answered).toBe(report.sent)
          yield* Scenario.assert(report)
        }),
      { numRuns: 10 }
    ).pipe(Effect.provide(JsonRpcCodec.JsonRpcCodec.layer))
  })

  // ---- step 5 --------------------------------------------------------------------------------------------

  it.effect("step 5: hostile frames", () =>
    Property.check(fc.array(HostileFrame.any(), { maxLength: 10 }), (frames) =>
      Effect.gen(function*() {
        const server = yield* McpServer.make({ info: { name: "greeter", version: "1.0.0" }, tools: [greet] })
        const network = yield* FaultyTransport.network([], { seed: 1 })
        const hostile = yield* network.connect
        const friendly = yield* network.connect
        yield* Effect.forkScoped(server.serve(hostile.server))
        yield* Effect.forkScoped(server.serve(friendly.server))
        // a peer writes garbage on one connection…
        for (const frame of frames) yield* hostile.inject("toServer", frame.bytes)
        // …the server still serves everyone else
        const client = yield* McpClient.connect(friendly.client, { info: { name: "test", version: "1" } })
        expect(yield* client.callTool("greet", { name: "Ada" })).toMatchObject({ content: [{ text: "Hello, Ada" }] })
      }), { numRuns: 20 }).pipe(Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))

  // ---- step 6 --------------------------------------------------------------------------------------------

  it.effect("step 6: crash a component, check the blast radius", () =>
    Effect.gen(function*() {
      const points = yield* BlastRadius.crashPoints
      const lookup = Tool.make("lookup", {
        input: Schema.Struct({}),
        handler: () => Effect.as(points.point("database"), "found")
      })
      const server = yield* McpServer.make({ info: { name: "s", version: "1" }, tools: [greet, lookup] })
      const sessions = yield* BlastRadius.sessions(server, { count: 2, client: { requestTimeout: "2 seconds" } })
      const [alice, bob] = sessions.clients
      const report = yield* BlastRadius.measure({
        components: {
          "lookup (alice)": alice!.callTool("lookup"),
          "greet (alice)": alice!.callTool("greet", { name: "Alice" }),
          "bob's session": bob!.ping
        },
        crash: points.arm("database", "die")
      })
      yield* BlastRadius.assertContained(report, ["lookup (alice)"], { expectAffected: ["lookup (alice)"] })
    }).pipe(Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))
})
