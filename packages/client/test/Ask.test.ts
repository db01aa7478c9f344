import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { MemoryTransport, Protocol } from "@effect-mcp/core"
import { JsonRpcCodec } from "@effect-mcp/jsonrpc"
import { McpServer, RequestContext, Tool } from "@effect-mcp/server"
import type { Revision } from "@effect-mcp/schema"
import * as McpClient from "../src/McpClient.ts"

/** A tool that asks the client for roots, a name (elicitation) and a completion (sampling). */
const interview = Tool.make("interview", {
  input: Schema.Struct({}),
  handler: () =>
    Effect.gen(function*() {
      const roots = yield* RequestContext.ask("roots/list")
      const form = yield* RequestContext.ask("elicitation/create", {
        mode: "form",
        message: "Your name?",
        requestedSchema: { type: "object", properties: { name: { type: "string" } }, required: ["name"] }
      })
      const name = (form.content as { name: string }).name
      const sample = yield* RequestContext.ask("sampling/createMessage", {
        messages: [{ role: "user", content: { type: "text", text: `Greet ${name}` } }],
        maxTokens: 50
      })
      const rootCount = (roots.roots as ReadonlyArray<unknown>).length
      return `${(sample.content as { text: string }).text} (${rootCount} roots)`
    })
})

const handlers: McpClient.Handlers = {
  roots: Effect.succeed([{ uri: "file:///work", name: "work" }]),
  elicitation: () => Effect.succeed({ action: "accept", content: { name: "Ada" } }),
  sampling: (params) =>
    Effect.succeed({
      role: "assistant",
      model: "test-model",
      content: { type: "text", text: `Hello, ${JSON.stringify(params.messages).includes("Ada") ? "Ada" : "?"}!` }
    })
}

const run = (revisions: ReadonlyArray<Revision.Revision>, clientHandlers: McpClient.Handlers = handlers) =>
  Effect.gen(function*() {
    const server = yield* McpServer.make({ info: { name: "srv", version: "1" }, tools: [interview] })
    const [a, b] = yield* MemoryTransport.makePair()
    yield* Effect.forkScoped(server.serve(a))
    const client = yield* McpClient.connect(b, { info: { name: "c", version: "1" }, handlers: clientHandlers, revisions })
    return yield* client.callTool("interview")
  }).pipe(Effect.provide(JsonRpcCodec.JsonRpcCodec.layer))

describe("server asks the client (sampling, elicitation, roots)", () => {
  it.effect("stateful era: as server-to-client requests", () =>
    Effect.gen(function*() {
      expect(yield* run(["2025-11-25"])).toEqual({ content: [{ type: "text", text: "Hello, Ada! (1 roots)" }] })
    }))

  it.effect("2026-07-28: as input_required results the client answers and retries (MRTR)", () =>
    Effect.gen(function*() {
      expect(yield* run(["2026-07-28"])).toMatchObject({ resultType: "complete", content: [{ text: "Hello, Ada! (1 roots)" }] })
    }))

  it.effect("a missing client capability is a typed error in both eras", () =>
    Effect.gen(function*() {
      const stateless = yield* Effect.flip(run(["2026-07-28"], { roots: handlers.roots! }))
      expect(stateless).toMatchObject({ _tag: "RemoteError", code: -32021, data: { requiredCapabilities: { elicitation: {} } } })
      const stateful = yield* Effect.flip(run(["2025-11-25"], { roots: handlers.roots! }))
      expect(stateful).toMatchObject({ _tag: "RemoteError", code: -32600 })
    }))

  it.effect("a forged requestState is refused with -32602", () =>
    Effect.gen(function*() {
      const server = yield* McpServer.make({ info: { name: "srv", version: "1" }, tools: [interview] })
      const [a, b] = yield* MemoryTransport.makePair()
      yield* Effect.forkScoped(server.serve(a))
      const raw = yield* Protocol.make(b, { handler: () => undefined })
      const meta = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": { roots: {}, elicitation: {}, sampling: {} },
        "io.modelcontextprotocol/clientInfo": { name: "c", version: "1" }
      }
      const first = (yield* raw.request("tools/call", { name: "interview", arguments: {}, _meta: meta })) as Record<string, unknown>
      expect(first).toMatchObject({ resultType: "input_required", inputRequests: { "roots-0": { method: "roots/list" } } })
      const forged = Buffer.from(JSON.stringify({ "roots-0": { roots: [] } })).toString("base64url") + ".bad"
      const error = yield* Effect.flip(raw.request("tools/call", { name: "interview", arguments: {}, requestState: forged, _meta: meta }))
      expect(error).toMatchObject({ code: -32602 })
    }).pipe(Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))
})
