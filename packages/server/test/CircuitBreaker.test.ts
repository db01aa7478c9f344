import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/testing/TestClock"
import { MemoryTransport, Protocol } from "@effect-mcp/core"
import { ErrorCode, JsonRpcCodec } from "@effect-mcp/jsonrpc"
import * as McpServer from "../src/McpServer.ts"
import * as Tool from "../src/Tool.ts"

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
})
