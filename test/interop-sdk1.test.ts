/**
 * Interoperability: the official TypeScript SDK 1.x client against our sample server over stdio, as real
 * processes.
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js"
import { CallToolResultSchema, ElicitRequestSchema } from "@modelcontextprotocol/sdk/types.js"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { sampleServerCommand } from "./support/sample.ts"

describe("official SDK 1.x client → our stdio server", () => {
  let client: Client
  let transport: StdioClientTransport
  const stderr: Array<string> = []

  beforeAll(async () => {
    transport = new StdioClientTransport({ ...sampleServerCommand, args: [...sampleServerCommand.args], stderr: "pipe" })
    transport.stderr?.on("data", (d: Buffer) => stderr.push(d.toString()))
    client = new Client({ name: "sdk1-interop", version: "1.0.0" }, { capabilities: { elicitation: {} } })
    client.setRequestHandler(ElicitRequestSchema, async () => ({ action: "accept", content: { name: "Ada" } }))
    await client.connect(transport)
  })

  afterAll(async () => {
    await client.close()
  })

  it("negotiates and describes the server", () => {
    expect(client.getServerVersion()).toMatchObject({ name: "effect-mcp-sample", version: "0.1.0" })
    expect(client.getServerCapabilities()).toMatchObject({ tools: { listChanged: true }, resources: {}, prompts: {}, logging: {} })
    expect(client.getInstructions()).toContain("FMEA")
  })

  it("lists tools with JSON Schema and calls them", async () => {
    const { tools } = await client.listTools()
    expect(tools.map((t) => t.name).sort()).toEqual(["add", "countdown", "echo", "fail", "failure_mode", "greet_me", "now", "top_risks"])
    const echo = tools.find((t) => t.name === "echo")!
    expect(echo.inputSchema).toMatchObject({ type: "object", required: ["message"] })
    expect(await client.callTool({ name: "echo", arguments: { message: "hello from the SDK" } })).toEqual({
      content: [{ type: "text", text: "hello from the SDK" }]
    })
    // structured output is validated by the SDK against the tool's outputSchema
    expect(await client.callTool({ name: "add", arguments: { a: 2, b: 40 } })).toMatchObject({ structuredContent: { sum: 42 } })
    const top = await client.callTool({ name: "top_risks", arguments: { count: 3 } })
    expect(top.structuredContent).toMatchObject({ modes: [{ id: "FM-01" }, { id: "FM-03" }, { id: "FM-02" }] })
  })

  it("isolates failing tools: the model sees tool errors, crashes are safe -32603, the server keeps serving", async () => {
    expect(await client.callTool({ name: "fail", arguments: { kind: "tool-error" } })).toMatchObject({ isError: true })
    for (const kind of ["error", "defect", "throw"]) {
      await expect(client.callTool({ name: "fail", arguments: { kind } })).rejects.toThrow(/Internal error/)
    }
    // invalid arguments are a tool error the model can read
    const invalid = await client.callTool({ name: "add", arguments: { a: "x" } })
    expect(invalid.isError).toBe(true)
    expect(await client.callTool({ name: "echo", arguments: { message: "still up" } })).toMatchObject({
      content: [{ text: "still up" }]
    })
  })

  it("answers the server's elicitation (a server-to-client request)", async () => {
    expect(await client.callTool({ name: "greet_me", arguments: {} })).toEqual({ content: [{ type: "text", text: "Hello, Ada!" }] })
  })

  it("reports progress and honours cancellation", async () => {
    const progress: Array<number> = []
    const result = await client.callTool({ name: "countdown", arguments: { seconds: 2 } }, CallToolResultSchema, {
      onprogress: (p) => progress.push(p.progress)
    })
    expect(result).toMatchObject({ content: [{ text: "Counted down from 2." }] })
    // the SDK dispatches notifications a microtask after responses, so the progress sent just before the
    // response may not reach onprogress; the ones before it must
    expect(progress.slice(0, 2)).toEqual([0, 1])
    const controller = new AbortController()
    const pending = client.callTool({ name: "countdown", arguments: { seconds: 30 } }, CallToolResultSchema, {
      signal: controller.signal
    })
    setTimeout(() => controller.abort("changed my mind"), 200)
    await expect(pending).rejects.toThrow()
    expect(await client.ping()).toEqual({})
  })

  it("reads resources and templates, gets prompts, completes arguments", async () => {
    const { resources } = await client.listResources()
    expect(resources.map((r) => r.uri)).toEqual(["fmea://modes"])
    const { resourceTemplates } = await client.listResourceTemplates()
    expect(resourceTemplates.map((t) => t.uriTemplate)).toEqual(["fmea://modes/{id}"])
    const mode = await client.readResource({ uri: "fmea://modes/FM-01" })
    expect(JSON.parse(String((mode.contents[0] as { text: string }).text))).toMatchObject({ id: "FM-01", status: "mitigated" })
    await expect(client.readResource({ uri: "nothing://here" })).rejects.toThrow(/-32002|not found/i)
    const prompt = await client.getPrompt({ name: "explain_failure_mode", arguments: { id: "FM-08" } })
    expect(JSON.stringify(prompt.messages)).toContain("FM-08")
    const completion = await client.complete({ ref: { type: "ref/prompt", name: "explain_failure_mode" }, argument: { name: "id", value: "FM-4" } })
    expect(completion.completion.values).toContain("FM-47")
    await client.setLoggingLevel("debug")
  })

  it("wrote nothing but protocol to stdout (the SDK would have failed to parse it) and logs to stderr", async () => {
    expect(stderr.join("")).toContain("FM-38")
    // notifications/cancelled interrupted the countdown's fiber: its finalizer logged
    await expect.poll(() => stderr.join(""), { timeout: 5_000 }).toContain("countdown cancelled")
  })
})
