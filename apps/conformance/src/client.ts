/**
 * The conformance client: our `McpClient` over our Streamable HTTP client transport, doing what each referee
 * scenario asks. The referee runs it with `MCP_CONFORMANCE_SCENARIO`, optionally
 * `MCP_CONFORMANCE_PROTOCOL_VERSION` and `MCP_CONFORMANCE_CONTEXT`, and the server URL as the last argument.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import { McpClient } from "@effect-mcp/client"
import { JsonRpcCodec } from "@effect-mcp/jsonrpc"
import { Revision } from "@effect-mcp/schema"
import { StreamableHttpClient } from "@effect-mcp/transports"

const scenario = process.env.MCP_CONFORMANCE_SCENARIO ?? ""
const version = process.env.MCP_CONFORMANCE_PROTOCOL_VERSION
const context = ((): Record<string, unknown> => {
  try {
    return JSON.parse(process.env.MCP_CONFORMANCE_CONTEXT ?? "{}")
  } catch {
    return {}
  }
})()
const url = process.argv[process.argv.length - 1] ?? ""

interface ToolCall {
  readonly name: string
  readonly arguments?: Record<string, unknown>
}

/** Runs a step and logs (not fails on) a server error: the referee judges what was sent. */
const attempt = <A, E>(label: string, effect: Effect.Effect<A, E>) =>
  effect.pipe(
    Effect.tap(() => Effect.logDebug(`${label}: ok`)),
    Effect.catch((error) => Effect.as(Effect.logWarning(`${label} failed: ${String((error as { message?: string }).message ?? error)}`), undefined))
  )

const program = Effect.gen(function*() {
  if (url === "" || scenario === "") {
    return yield* Effect.fail(new Error("usage: MCP_CONFORMANCE_SCENARIO=<scenario> client.ts <server-url>"))
  }
  // the referee names the revision; without it (the 0.1.x referees) the stateful era, as they expect
  const revisions = version !== undefined && Revision.isRevision(version) ? [version] : Revision.stateful
  const transport = yield* StreamableHttpClient.connect({ url })
  const client = yield* McpClient.connect(transport, {
    info: { name: "effect-mcp-conformance-client", version: "0.1.0" },
    revisions,
    handlers: {
      sampling: () =>
        Effect.succeed({ role: "assistant", content: { type: "text", text: "A sampled answer." }, model: "conformance", stopReason: "endTurn" }),
      // defaults are applied by the client (SEP-1034); MRTR scenarios want a confirmation
      elicitation: () => Effect.succeed({ action: "accept", content: scenario.startsWith("sep-2322") ? { confirmed: true } : {} }),
      roots: Effect.succeed([{ uri: "file:///conformance", name: "conformance" }])
    }
  })

  const tools = (yield* attempt("tools/list", client.listAllTools)) ?? []
  if (scenario === "json-schema-ref-no-deref" || scenario === "request-metadata") return

  if (scenario === "json-schema-2020-12-preservation") {
    const focal = tools.find((t) => t.name === "json_schema_2020_12_tool")
    if (focal !== undefined) yield* attempt("echo", client.callTool("json_schema_echo", { schema: focal.inputSchema }))
    return
  }

  if (scenario.startsWith("sep-2322")) {
    for (const name of ["test_mrtr_echo_state", "test_mrtr_unrelated", "test_mrtr_no_state", "test_mrtr_no_result_type"]) {
      if (tools.some((t) => t.name === name)) yield* attempt(name, client.callTool(name, {}))
    }
    return
  }

  const calls = Array.isArray(context.toolCalls) ? context.toolCalls as ReadonlyArray<ToolCall> : undefined
  if (calls !== undefined) {
    for (const call of calls) yield* attempt(call.name, client.callTool(call.name, call.arguments ?? {}))
  } else {
    for (const tool of tools) yield* attempt(tool.name, client.callTool(tool.name, { a: 2, b: 3 }))
  }
  if (client.server.capabilities.resources !== undefined) {
    const resources = (yield* attempt("resources/list", client.listAllResources)) ?? []
    for (const resource of resources) yield* attempt(resource.uri, client.readResource(resource.uri))
  }
  if (client.server.capabilities.prompts !== undefined) {
    const prompts = (yield* attempt("prompts/list", client.listAllPrompts)) ?? []
    for (const prompt of prompts) yield* attempt(prompt.name, client.getPrompt(prompt.name, {}))
  }
}).pipe(
  Effect.scoped,
  Effect.provide(JsonRpcCodec.JsonRpcCodec.layer),
  Effect.provideService(Logger.LogToStderr, true),
  Effect.timeout("60 seconds")
)

NodeRuntime.runMain(program)
