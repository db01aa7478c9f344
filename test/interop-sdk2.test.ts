/**
 * Interoperability with real processes, both directions:
 * - the official v2 client (2026-07-28) against our sample server;
 * - our client against the official v2 server (2026-07-28) and the official 1.32 server (stateful era).
 */
import { Client } from "@modelcontextprotocol/client"
import { StdioClientTransport as SdkStdioClientTransport } from "@modelcontextprotocol/client/stdio"
import { McpClient } from "@effect-mcp/client"
import { JsonRpcCodec } from "@effect-mcp/jsonrpc"
import { StdioClientTransport } from "@effect-mcp/transports"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { fileURLToPath } from "node:url"
import { sampleServerCommand } from "./support/sample.ts"

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url))

describe("official v2 client (2026-07-28) → our stdio server", () => {
  for (const mode of [{ pin: "2026-07-28" } as const, "auto" as const]) {
    it(`negotiates 2026-07-28 (${typeof mode === "string" ? mode : "pinned"}) and uses every feature`, async () => {
      const transport = new SdkStdioClientTransport({ ...sampleServerCommand, args: [...sampleServerCommand.args], stderr: "pipe" })
      const client = new Client(
        { name: "sdk2-interop", version: "2.4.0" },
        { versionNegotiation: { mode }, capabilities: { elicitation: {} } }
      )
      client.setRequestHandler("elicitation/create", async () => ({ action: "accept", content: { name: "Grace" } }))
      await client.connect(transport)
      try {
        expect(client.getNegotiatedProtocolVersion()).toBe("2026-07-28")
        expect(client.getServerVersion()).toMatchObject({ name: "effect-mcp-sample" })
        const { tools } = await client.listTools()
        expect(tools.map((t) => t.name)).toContain("echo")
        expect(await client.callTool({ name: "echo", arguments: { message: "modern" } })).toMatchObject({
          content: [{ type: "text", text: "modern" }]
        })
        expect(await client.callTool({ name: "add", arguments: { a: 1, b: 2 } })).toMatchObject({ structuredContent: { sum: 3 } })
        expect(await client.callTool({ name: "fail", arguments: { kind: "tool-error" } })).toMatchObject({ isError: true })
        // the server asks for input with an input_required result; the SDK fulfils it and retries (MRTR)
        expect(await client.callTool({ name: "greet_me", arguments: {} })).toMatchObject({ content: [{ type: "text", text: "Hello, Grace!" }] })
        const read = await client.readResource({ uri: "fmea://modes/FM-30" })
        expect(JSON.stringify(read.contents)).toContain("FM-30")
        const prompt = await client.getPrompt({ name: "explain_failure_mode", arguments: { id: "FM-01" } })
        expect(JSON.stringify(prompt.messages)).toContain("FM-01")
        const completion = await client.complete({ ref: { type: "ref/resource", uri: "fmea://modes/{id}" }, argument: { name: "id", value: "FM-5" } })
        expect(completion.completion.values).toEqual(["FM-50", "FM-51", "FM-52"])
      } finally {
        await client.close()
      }
    })
  }
})

const connectTo = (script: string, handlers?: McpClient.Handlers) =>
  Effect.gen(function*() {
    const transport = yield* StdioClientTransport.make({ command: process.execPath, args: [fixture(script)], stderr: "ignore" })
    return yield* McpClient.connect(transport, { info: { name: "effect-mcp-client", version: "0.1.0" }, ...(handlers ? { handlers } : {}) })
  }).pipe(Effect.provide(JsonRpcCodec.JsonRpcCodec.layer))

describe("our client → official servers", () => {
  it.live("the v2 server: 2026-07-28 via server/discover", () =>
    Effect.gen(function*() {
      const client = yield* connectTo("sdk2-server.mjs")
      expect(client.server).toMatchObject({ revision: "2026-07-28", era: "stateless", serverInfo: { name: "sdk2-server" } })
      const tools = yield* client.listAllTools
      expect(tools.map((t) => t.name).sort()).toEqual(["add", "echo"])
      expect(yield* client.callTool("echo", { message: "to v2" })).toMatchObject({ content: [{ type: "text", text: "to v2" }] })
      expect(yield* client.callTool("add", { a: 20, b: 22 })).toMatchObject({ structuredContent: { sum: 42 } })
      expect(yield* client.readResource("docs://readme")).toMatchObject({ contents: [{ text: "hello from sdk2" }] })
      expect(yield* client.getPrompt("greet", { name: "Ada" })).toMatchObject({ messages: [{ content: { text: "Hello Ada" } }] })
      const unknown = yield* Effect.flip(client.callTool("nope"))
      expect(unknown._tag).toBe("RemoteError")
    }), 30_000)

  it.live("the 1.32 server: falls back to initialize and answers its elicitation", () =>
    Effect.gen(function*() {
      const client = yield* connectTo("sdk1-server.mjs", {
        elicitation: () => Effect.succeed({ action: "accept", content: { name: "Grace" } })
      })
      expect(client.server).toMatchObject({ era: "stateful", revision: "2025-11-25", serverInfo: { name: "sdk1-server" } })
      expect(yield* client.callTool("echo", { message: "to v1" })).toEqual({ content: [{ type: "text", text: "to v1" }] })
      expect(yield* client.callTool("add", { a: 1, b: 1 })).toMatchObject({ structuredContent: { sum: 2 } })
      expect(yield* client.callTool("ask")).toMatchObject({ content: [{ text: "hello Grace" }] })
      expect(yield* client.readResource("docs://readme")).toMatchObject({ contents: [{ text: "hello from sdk1" }] })
      expect(yield* client.getPrompt("greet", { name: "Alan" })).toMatchObject({ messages: [{ content: { text: "Hello Alan" } }] })
      yield* client.ping
    }), 30_000)
})
