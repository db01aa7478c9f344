/**
 * Interoperability over Streamable HTTP with real peers:
 * - the official v2 client (2026-07-28 and auto negotiation) and the official 1.32 client (stateful sessions,
 *   SSE progress, server-to-client elicitation) against our server;
 * - our client against the official 1.32 Streamable HTTP server (a real child process).
 */
import { Client as Sdk2Client, StreamableHTTPClientTransport as Sdk2Http } from "@modelcontextprotocol/client"
import { Client as Sdk1Client } from "@modelcontextprotocol/sdk/client/index.js"
import { StreamableHTTPClientTransport as Sdk1Http } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import { ElicitRequestSchema } from "@modelcontextprotocol/sdk/types.js"
import { McpClient } from "@effect-mcp/client"
import { JsonRpcCodec } from "@effect-mcp/jsonrpc"
import { StreamableHttpClient, StreamableHttpServer } from "@effect-mcp/transports"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import * as SampleServer from "../apps/sample/src/SampleServer.ts"

const ourServer = Effect.gen(function*() {
  const server = yield* SampleServer.make
  return yield* StreamableHttpServer.serve({ port: 0 }, server.serve)
}).pipe(Effect.provide(JsonRpcCodec.JsonRpcCodec.layer))

describe("official clients → our Streamable HTTP server", () => {
  for (const mode of [{ pin: "2026-07-28" } as const, "auto" as const]) {
    it.live(`v2 client negotiates 2026-07-28 (${typeof mode === "string" ? mode : "pinned"}) over HTTP`, () =>
      Effect.gen(function*() {
        const listening = yield* ourServer
        const client = new Sdk2Client({ name: "sdk2-http", version: "2.4.0" }, { versionNegotiation: { mode }, capabilities: { elicitation: {} } })
        client.setRequestHandler("elicitation/create", async () => ({ action: "accept", content: { name: "Grace" } }))
        yield* Effect.acquireRelease(
          Effect.promise(() => client.connect(new Sdk2Http(new URL(listening.url)))),
          () => Effect.promise(() => client.close())
        )
        expect(client.getNegotiatedProtocolVersion()).toBe("2026-07-28")
        const { tools } = yield* Effect.promise(() => client.listTools())
        expect(tools.map((t) => t.name)).toContain("echo")
        expect(yield* Effect.promise(() => client.callTool({ name: "echo", arguments: { message: "modern http" } }))).toMatchObject({
          content: [{ type: "text", text: "modern http" }]
        })
        // MRTR over HTTP: input_required, then the retry with the answer
        expect(yield* Effect.promise(() => client.callTool({ name: "greet_me", arguments: {} }))).toMatchObject({
          content: [{ type: "text", text: "Hello, Grace!" }]
        })
        // the server kept no session for it
        expect(yield* listening.sessions).toBe(0)
      }).pipe(Effect.scoped))
  }

  it.live("1.32 client: a session, SSE progress, elicitation on the request's stream, DELETE at close", () =>
    Effect.gen(function*() {
      const listening = yield* ourServer
      const client = new Sdk1Client({ name: "sdk1-http", version: "1.32.2" }, { capabilities: { elicitation: {} } })
      client.setRequestHandler(ElicitRequestSchema, async () => ({ action: "accept", content: { name: "Ada" } }))
      const transport = new Sdk1Http(new URL(listening.url))
      yield* Effect.promise(() => client.connect(transport))
      expect(transport.sessionId).toMatch(/^[0-9a-f]{32}$/)
      expect(yield* listening.sessions).toBe(1)
      const progress: Array<number> = []
      const counted = yield* Effect.promise(() =>
        client.callTool({ name: "countdown", arguments: { seconds: 1 } }, undefined, { onprogress: (p) => void progress.push(p.progress) })
      )
      expect(JSON.stringify(counted.content)).toContain("Counted down")
      expect(progress.length).toBeGreaterThan(0)
      expect(yield* Effect.promise(() => client.callTool({ name: "greet_me", arguments: {} }))).toMatchObject({
        content: [{ type: "text", text: "Hello, Ada!" }]
      })
      yield* Effect.promise(() => transport.terminateSession())
      yield* Effect.promise(() => client.close())
      expect(yield* listening.sessions).toBe(0)
    }).pipe(Effect.scoped))
})

describe("our client → the official 1.32 Streamable HTTP server (a child process)", () => {
  for (const answers of ["json", "sse"] as const) {
    it.live(`initializes, lists and calls (${answers} answers)`, () =>
      Effect.gen(function*() {
        const child = yield* Effect.acquireRelease(
          Effect.sync(() =>
            spawn(process.execPath, [fileURLToPath(new URL("../apps/bench/fixtures/sdk-http-server.mjs", import.meta.url)), "0", answers], {
              stdio: ["ignore", "pipe", "ignore"]
            })
          ),
          (c) => Effect.sync(() => c.kill("SIGKILL"))
        )
        const port = yield* Effect.promise(() =>
          new Promise<number>((resolve) => {
            child.stdout.on("data", (d: Buffer) => {
              const match = /listening (\d+)/.exec(d.toString())
              if (match !== null) resolve(Number(match[1]))
            })
          })
        ).pipe(Effect.timeout("20 seconds"))
        const transport = yield* StreamableHttpClient.connect({ url: `http://127.0.0.1:${port}/mcp` })
        const client = yield* McpClient.connect(transport, { info: { name: "effect-mcp", version: "0.1.0" } })
        expect(client.server.era).toBe("stateful")
        expect((yield* client.listAllTools).map((t) => t.name)).toEqual(["echo"])
        expect((yield* client.callTool("echo", { message: "to the SDK" })).content[0]).toMatchObject({ text: "to the SDK" })
      }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))
  }
})
