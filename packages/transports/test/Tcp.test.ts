import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as net from "node:net"
import { McpClient } from "@effect-mcp/client"
import { JsonRpcCodec } from "@effect-mcp/jsonrpc"
import * as SampleServer from "../../../apps/sample/src/SampleServer.ts"
import * as TcpTransport from "../src/TcpTransport.ts"

const withServer = (maxConnections?: number) =>
  Effect.gen(function*() {
    const server = yield* SampleServer.make
    return yield* TcpTransport.serve({ port: 0, ...(maxConnections === undefined ? {} : { maxConnections }) }, server.serve)
  })

describe("TCP transport (real sockets on 127.0.0.1)", () => {
  it.live("serves MCP to several clients at once, in both eras", () =>
    Effect.gen(function*() {
      const listening = yield* withServer()
      expect(listening.host).toBe("127.0.0.1")
      const clients = yield* Effect.forEach(["2026-07-28", "2025-11-25", "2025-03-26"] as const, (revision) =>
        Effect.flatMap(TcpTransport.connect({ port: listening.port }), (transport) =>
          McpClient.connect(transport, { info: { name: `c-${revision}`, version: "1" }, revisions: [revision] })))
      expect(clients.map((c) => c.server.revision)).toEqual(["2026-07-28", "2025-11-25", "2025-03-26"])
      const results = yield* Effect.forEach(clients, (c, i) => c.callTool("echo", { message: `tcp ${i}` }), { concurrency: "unbounded" })
      expect(results.map((r) => r.content[0])).toEqual([0, 1, 2].map((i) => ({ type: "text", text: `tcp ${i}` })))
      expect(yield* listening.connections).toBe(3)
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))

  it.live("FM-36 past maxConnections a new connection is refused and the others keep working", () =>
    Effect.gen(function*() {
      const listening = yield* withServer(1)
      const first = yield* Effect.flatMap(TcpTransport.connect({ port: listening.port }), (t) => McpClient.connect(t, { info: { name: "a", version: "1" } }))
      // the second socket is closed by the server at once
      const closed = yield* Effect.promise(() =>
        new Promise<boolean>((resolve) => {
          const socket = net.connect(listening.port, "127.0.0.1")
          socket.on("close", () => resolve(true))
          socket.on("error", () => resolve(true))
          setTimeout(() => resolve(false), 5_000)
        })
      )
      expect(closed).toBe(true)
      expect(yield* first.callTool("echo", { message: "still served" })).toMatchObject({ content: [{ text: "still served" }] })
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))

  it.live("a refused connection is a TransportFailure; garbage on the socket gets a parse error and the connection lives", () =>
    Effect.gen(function*() {
      const port = yield* Effect.promise(() =>
        new Promise<number>((resolve) => {
          const probe = net.createServer().listen(0, "127.0.0.1", () => {
            const p = (probe.address() as net.AddressInfo).port
            probe.close(() => resolve(p))
          })
        })
      )
      const error = yield* Effect.flip(TcpTransport.connect({ port }))
      expect(error).toMatchObject({ _tag: "TransportFailure", mode: "FM-40" })
      const listening = yield* withServer()
      const reply = yield* Effect.promise(() =>
        new Promise<string>((resolve) => {
          const socket = net.connect(listening.port, "127.0.0.1")
          let data = ""
          socket.setEncoding("utf8").on("data", (d: string) => {
            data += d
            if (data.split("\n").length > 2) {
              socket.destroy()
              resolve(data)
            }
          })
          socket.write("{not json\n{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\n")
        })
      )
      const lines = reply.trim().split("\n").map((l) => JSON.parse(l))
      expect(lines[0]).toMatchObject({ id: null, error: { code: -32700 } })
      expect(lines[1]).toEqual({ jsonrpc: "2.0", id: 1, result: {} })
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))
})
