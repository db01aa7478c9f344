import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { McpClient } from "@effect-mcp/client"
import { MemoryTransport, Protocol } from "@effect-mcp/core"
import { JsonRpcCodec } from "@effect-mcp/jsonrpc"
import type { Revision } from "@effect-mcp/schema"
import type { McpServer } from "@effect-mcp/server"
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
        elicitation: () => Effect.succeed({ action: "accept", content: { name: "Alice" } }),
        sampling: () => Effect.succeed({ role: "assistant", content: { type: "text", text: "Hi Alice" }, model: "test" }),
        roots: Effect.succeed([{ uri: "file:///work" }])
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

  it.effect("test_input_required_result_multiple_inputs gets all three answers", () =>
    Effect.gen(function*() {
      const client = yield* connect(revision)
      const result = yield* client.callTool("test_input_required_result_multiple_inputs")
      expect(result.content).toEqual([{ type: "text", text: "Name: Alice; Greeting: Hi Alice; Roots: 1" }])
    }))

  it.effect("test_trigger_prompt_change changes the prompt list", () =>
    Effect.gen(function*() {
      const client = yield* connect(revision)
      const before = (yield* client.listAllPrompts).map((p) => p.name)
      expect(before).not.toContain("test_dynamic_prompt")
      yield* client.callTool("test_trigger_prompt_change")
      expect((yield* client.listAllPrompts).map((p) => p.name)).toEqual([...before, "test_dynamic_prompt"])
    }))
})

const meta2026 = (capabilities: Record<string, unknown>) => ({
  "io.modelcontextprotocol/protocolVersion": "2026-07-28",
  "io.modelcontextprotocol/clientCapabilities": capabilities,
  "io.modelcontextprotocol/clientInfo": { name: "conformance-app-test", version: "1.0.0" }
})

/** One raw 2026-07-28 request on its own connection (as every POST is over Streamable HTTP). */
const rawRequest = (server: McpServer.McpServer<never>, method: string, params: Record<string, unknown>) =>
  Effect.scoped(Effect.gen(function*() {
    const [serverEnd, clientEnd] = yield* MemoryTransport.makePair()
    yield* Effect.forkScoped(server.serve(serverEnd))
    const client = yield* Protocol.make(clientEnd, { handler: () => undefined })
    return (yield* client.request(method, params)) as any
  })).pipe(Effect.provide(JsonRpcCodec.JsonRpcCodec.layer))

describe("conformance server, 2026-07-28 raw wire", () => {
  const tasks = { elicitation: {}, extensions: { "io.modelcontextprotocol/tasks": {} } }

  it.effect("MRTR keys are the referee's; cache hints are public for lists, private for reads", () =>
    Effect.gen(function*() {
      const server = yield* ConformanceServer.make
      const call = (name: string) => rawRequest(server, "tools/call", { name, arguments: {}, _meta: meta2026({ elicitation: {}, sampling: {}, roots: {} }) })
      expect(Object.keys((yield* call("test_input_required_result_elicitation")).inputRequests)).toEqual(["user_name"])
      expect(Object.keys((yield* call("test_input_required_result_multiple_inputs")).inputRequests)).toEqual([
        "user_name",
        "greeting",
        "client_roots"
      ])
      const list = yield* rawRequest(server, "tools/list", { _meta: meta2026({}) })
      expect([list.ttlMs, list.cacheScope]).toEqual([300_000, "public"])
      const read = yield* rawRequest(server, "resources/read", { uri: "test://static-text", _meta: meta2026({}) })
      expect([read.ttlMs, read.cacheScope]).toEqual([300_000, "private"])
    }))

  it.live("test_tool_with_task: an input round on tools/call, then a task whose result has the answer", () =>
    Effect.gen(function*() {
      const server = yield* ConformanceServer.make
      const first = yield* rawRequest(server, "tools/call", { name: "test_tool_with_task", arguments: {}, _meta: meta2026(tasks) })
      expect(first).toMatchObject({ resultType: "input_required", inputRequests: { user_name: { method: "elicitation/create" } } })
      const handle = yield* rawRequest(server, "tools/call", {
        name: "test_tool_with_task",
        arguments: {},
        inputResponses: { user_name: { action: "accept", content: { name: "Alice" } } },
        requestState: first.requestState,
        _meta: meta2026(tasks)
      })
      expect(handle).toMatchObject({ resultType: "task" })
      let task = yield* rawRequest(server, "tasks/get", { taskId: handle.taskId, _meta: meta2026(tasks) })
      while (task.status === "working") {
        yield* Effect.sleep("5 millis")
        task = yield* rawRequest(server, "tasks/get", { taskId: handle.taskId, _meta: meta2026(tasks) })
      }
      expect(task).toMatchObject({ status: "completed", result: { content: [{ text: "Hello, Alice! This result came from a task." }] } })
    }))
})

