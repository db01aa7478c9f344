import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { McpClient } from "@effect-mcp/client"
import { MemoryTransport } from "@effect-mcp/core"
import { JsonRpcCodec } from "@effect-mcp/jsonrpc"
import type { Revision } from "@effect-mcp/schema"
import * as ConformanceServer from "../src/ConformanceServer.ts"

/** Serves the conformance server over an in-memory pair and connects our client speaking `revision`. */
const connect = (revision: Revision.Revision) =>
  Effect.gen(function*() {
    const server = yield* ConformanceServer.make
    const [serverEnd, clientEnd] = yield* MemoryTransport.makePair()
    yield* Effect.forkScoped(server.serve(serverEnd))
    return yield* McpClient.connect(clientEnd, {
      info: { name: "conformance-app-test", version: "1.0.0" },
      revisions: [revision],
      handlers: {
        elicitation: () => Effect.succeed({ action: "accept", content: { name: "Alice" } })
      }
    })
  }).pipe(Effect.provide(JsonRpcCodec.JsonRpcCodec.layer))

describe.each(["2025-11-25", "2026-07-28"] as const)("conformance server, %s", (revision) => {
  it.effect("lists every fixture tool", () =>
    Effect.gen(function*() {
      const client = yield* connect(revision)
      expect(client.server.revision).toBe(revision)
      const tools = yield* client.listAllTools
      expect(tools.map((t) => t.name)).toEqual(ConformanceServer.toolNames)
      for (const tool of tools) expect(tool.description).toBeTruthy()
      // SEP-1613 / SEP-2106: the raw 2020-12 schema goes out as is
      const jsonSchemaTool = tools.find((t) => t.name === "json_schema_2020_12_tool")
      expect(jsonSchemaTool?.inputSchema).toEqual(ConformanceServer.JSON_SCHEMA_2020_12_INPUT_SCHEMA)
    }))

  it.effect("test_simple_text answers with its text", () =>
    Effect.gen(function*() {
      const client = yield* connect(revision)
      const result = yield* client.callTool("test_simple_text")
      expect(result.content).toEqual([{ type: "text", text: "This is a simple text response for testing." }])
      expect(result.isError).toBeUndefined()
    }))

  it.effect("test_input_required_result_elicitation gets the answer (a request, or an MRTR round)", () =>
    Effect.gen(function*() {
      const client = yield* connect(revision)
      const result = yield* client.callTool("test_input_required_result_elicitation")
      expect(result.content).toEqual([{ type: "text", text: "Hello, Alice!" }])
    }))
})
