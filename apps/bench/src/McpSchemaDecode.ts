/**
 * Decision benchmark: decoding MCP messages with our generated schemas (`@effect-mcp/schema`) against
 * `effect/ai`'s `McpSchema`, on the same realistic values, interleaved, in the same run.
 */
import { V2025_11_25 } from "@effect-mcp/schema"
import * as AiMcpSchema from "effect/ai/McpSchema"
import * as Schema from "effect/Schema"
import { fmt, interleave, machine, type Measured } from "./Measure.ts"

const tool = (i: number) => ({
  name: `tool_${i}`,
  title: `Tool ${i}`,
  description: "Searches the issue tracker for matching issues and returns a summary of each.",
  inputSchema: {
    type: "object",
    properties: {
      query: { type: "string", description: "search terms" },
      limit: { type: "integer", minimum: 1, maximum: 100 },
      labels: { type: "array", items: { type: "string" } }
    },
    required: ["query"]
  },
  annotations: { readOnlyHint: true, openWorldHint: true }
})

/** The values decoded: params of a tools/call, a tools/list result with 20 tools, initialize params. */
const values = {
  callToolParams: {
    name: "search_issues",
    arguments: { query: "label:bug state:open", limit: 50, labels: ["bug", "p1"] },
    _meta: { progressToken: 17 }
  },
  listToolsResult: { tools: Array.from({ length: 20 }, (_, i) => tool(i)), nextCursor: "abc" },
  initializeParams: {
    protocolVersion: "2025-11-25",
    capabilities: { roots: { listChanged: true }, sampling: {}, elicitation: { form: {} } },
    clientInfo: { name: "bench-client", version: "1.0.0" }
  }
}

const decoder = (schema: Schema.Top) => Schema.decodeUnknownSync(schema as Schema.Codec<unknown, unknown, never, never>)

const pairs = [
  {
    name: "tools/call params",
    value: values.callToolParams,
    ours: decoder(V2025_11_25.CallToolRequestParams),
    theirs: decoder(AiMcpSchema.CallTool.payloadSchema)
  },
  {
    name: "tools/list result (20 tools)",
    value: values.listToolsResult,
    ours: decoder(V2025_11_25.ListToolsResult),
    theirs: decoder(AiMcpSchema.ListToolsResult)
  },
  {
    name: "initialize params",
    value: values.initializeParams,
    ours: decoder(V2025_11_25.InitializeRequestParams),
    theirs: decoder(AiMcpSchema.Initialize.payloadSchema)
  }
]

/** Runs the decision benchmark and returns its report section. */
export const runMcpSchemaDecodeBench = async (options: { readonly iterations: number }): Promise<{ readonly markdown: string }> => {
  const rows: Array<string> = []
  for (const pair of pairs) {
    const repeat = (f: (u: unknown) => unknown) => () => {
      for (let i = 0; i < options.iterations; i++) f(pair.value)
      return options.iterations
    }
    const [ours, theirs] = interleave(
      [{ name: "ours", run: repeat(pair.ours) }, { name: "effect/ai", run: repeat(pair.theirs) }],
      { rounds: 9, warmup: 2 }
    ) as [Measured, Measured]
    rows.push(`| ${pair.name} | ${fmt(ours.medianPerSecond)} | ${fmt(theirs.medianPerSecond)} | ${(ours.medianPerSecond / theirs.medianPerSecond).toFixed(2)}× |`)
  }
  return {
    markdown: [
      "## MCP schema decoding: ours vs effect/ai McpSchema",
      "",
      `${fmt(options.iterations)} decodes per round, 9 interleaved rounds after warm-up, median. ${machine()}.`,
      "",
      "| message | ours (decodes/s) | effect/ai (decodes/s) | ours / effect/ai |",
      "| --- | ---: | ---: | ---: |",
      ...rows,
      ""
    ].join("\n")
  }
}
