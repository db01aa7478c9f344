import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { WebSocket } from "ws"
import { McpClient } from "@effect-mcp/client"
import { JsonRpcCodec } from "@effect-mcp/jsonrpc"
import * as SampleServer from "../../../apps/sample/src/SampleServer.ts"
import * as WebSocketTransport from "../src/WebSocketTransport.ts"

const withServer = (options: Partial<WebSocketTransport.ServerOptions> = {}) =>
  Effect.gen(function*() {
    const server = yield* SampleServer.make
    return yield* WebSocketTransport.serve({ port: 0, ...options }, server.serve)
  })

/** Opens a raw socket and resolves with the handshake's outcome. */
const rawOpen = (url: string, headers: Record<string, string>) =>
  Effect.promise(() =>
    new Promise<string>((resolve) => {
      const ws = new WebSocket(url, { headers })
      ws.on("open", () => {
        ws.close()
        resolve("open")
      })
      ws.on("unexpected-response", (_req, res) => resolve(`HTTP ${res.statusCode}`))
      ws.on("error", () => resolve("error"))
    })
  )

describe("WebSocket transport (real sockets on 127.0.0.1)", () => {
  it.live("serves MCP over WebSocket in both eras", () =>
    Effect.gen(function*() {
      const listening = yield* withServer()
      expect(listening.url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/mcp$/)
      for (const revision of ["2026-07-28", "2025-06-18"] as const) {
        const client = yield* Effect.flatMap(WebSocketTransport.connect(listening.url), (t) =>
          McpClient.connect(t, { info: { name: "ws", version: "1" }, revisions: [revision] }))
        expect(client.server.revision).toBe(revision)
        expect(yield* client.callTool("echo", { message: `ws ${revision}` })).toMatchObject({ content: [{ text: `ws ${revision}` }] })
      }
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))

  it.live("FM-29 refuses browser origins that are not allowed; allows clients without an Origin", () =>
    Effect.gen(function*() {
      const listening = yield* withServer()
      expect(yield* rawOpen(listening.url, { Origin: "https://evil.example" })).toBe("HTTP 403")
      expect(yield* rawOpen(listening.url, { Origin: "http://localhost:5173" })).toBe("open")
      expect(yield* rawOpen(listening.url, {})).toBe("open")
      const strict = yield* withServer({ allowedOrigins: [] })
      expect(yield* rawOpen(strict.url, { Origin: "http://localhost:5173" })).toBe("HTTP 403")
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))

  it.live("FM-01 an oversize frame closes that connection only; bad JSON gets a parse error", () =>
    Effect.gen(function*() {
      const listening = yield* withServer({ maxFrameBytes: 1024 })
      const outcome = yield* Effect.promise(() =>
        new Promise<{ replies: Array<unknown>; closeCode: number }>((resolve) => {
          const ws = new WebSocket(listening.url)
          const replies: Array<unknown> = []
          ws.on("open", () => {
            ws.send("{not json")
            ws.send(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "echo", arguments: { message: "ok" }, _meta: { "io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {} } } }))
          })
          ws.on("message", (d) => {
            replies.push(JSON.parse(d.toString()))
            if (replies.length === 2) ws.send("x".repeat(4096))
          })
          ws.on("close", (code) => resolve({ replies, closeCode: code }))
        })
      )
      expect(outcome.replies[0]).toMatchObject({ id: null, error: { code: -32700 } })
      expect(outcome.replies[1]).toMatchObject({ id: 1, result: { content: [{ text: "ok" }] } })
      expect(outcome.closeCode).toBe(1009) // message too big
      // the server still serves others
      const client = yield* Effect.flatMap(WebSocketTransport.connect(listening.url), (t) => McpClient.connect(t, { info: { name: "c", version: "1" } }))
      yield* client.ping
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))
})
