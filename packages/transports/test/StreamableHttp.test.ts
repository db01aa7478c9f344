import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as http from "node:http"
import * as v8 from "node:v8"
import * as vm from "node:vm"
import * as net from "node:net"
import { McpClient } from "@effect-mcp/client"
import { McpServer, RequestContext, Tool } from "@effect-mcp/server"
import { JsonRpcCodec } from "@effect-mcp/jsonrpc"
import * as SampleServer from "../../../apps/sample/src/SampleServer.ts"
import * as StreamableHttpClient from "../src/StreamableHttpClient.ts"
import * as StreamableHttpServer from "../src/StreamableHttpServer.ts"

v8.setFlagsFromString("--expose_gc")
/** A full garbage collection, so heap figures measure what is retained. */
const gc = vm.runInNewContext("gc") as () => void

const withServer = (options: Partial<StreamableHttpServer.Options> = {}) =>
  Effect.gen(function*() {
    const server = yield* SampleServer.make
    return yield* StreamableHttpServer.serve({ port: 0, ...options }, server.serve)
  })

interface Reply {
  readonly status: number
  readonly headers: http.IncomingHttpHeaders
  readonly body: string
}

/** One raw HTTP request (the test's own minimal client). */
const send = (
  url: string,
  method: string,
  headers: Record<string, string>,
  body?: string
): Effect.Effect<Reply> =>
  Effect.promise(() =>
    new Promise<Reply>((resolve, reject) => {
      const request = http.request(url, { method, headers }, (res) => {
        let text = ""
        res.setEncoding("utf8").on("data", (d: string) => (text += d)).on("end", () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }))
      })
      request.on("error", reject)
      request.end(body)
    })
  )

const json = { "content-type": "application/json", accept: "application/json, text/event-stream" }
const initialize = JSON.stringify({
  jsonrpc: "2.0",
  id: 1,
  method: "initialize",
  params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "raw", version: "1" } }
})
const meta2026 = {
  "io.modelcontextprotocol/protocolVersion": "2026-07-28",
  "io.modelcontextprotocol/clientCapabilities": {}
}
const headers2026 = (method: string, name?: string): Record<string, string> => ({
  ...json,
  "mcp-protocol-version": "2026-07-28",
  "mcp-method": method,
  ...(name === undefined ? {} : { "mcp-name": name })
})

describe("Streamable HTTP (real HTTP on 127.0.0.1)", () => {
  it.live("our client serves both eras through our server: calls, progress over SSE, several clients at once", () =>
    Effect.gen(function*() {
      const listening = yield* withServer()
      const clients = yield* Effect.forEach(["2026-07-28", "2025-11-25", "2025-03-26"] as const, (revision) =>
        Effect.flatMap(StreamableHttpClient.connect({ url: listening.url }), (transport) =>
          McpClient.connect(transport, { info: { name: `c-${revision}`, version: "1" }, revisions: [revision] })))
      expect(clients.map((c) => c.server.revision)).toEqual(["2026-07-28", "2025-11-25", "2025-03-26"])
      const results = yield* Effect.forEach(clients, (c, i) => c.callTool("echo", { message: `http ${i}` }), { concurrency: "unbounded" })
      expect(results.map((r) => r.content[0])).toEqual([0, 1, 2].map((i) => ({ type: "text", text: `http ${i}` })))
      // stateful sessions: the 2026 client made none
      expect(yield* listening.sessions).toBe(2)
      for (const client of clients) {
        const progress: Array<number> = []
        const result = yield* client.callTool("countdown", { seconds: 1 }, {
          onProgress: (p) => Effect.sync(() => progress.push(p.progress))
        })
        expect(result.content[0]).toMatchObject({ type: "text" })
        expect(progress.length).toBeGreaterThan(0)
      }
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))

  it.live("FM-29 Host and Origin are checked (403), failing closed for a non-loopback bind with no lists", () =>
    Effect.gen(function*() {
      const listening = yield* withServer()
      const evilHost = yield* send(listening.url, "POST", { ...json, host: "evil.example.com" }, initialize)
      expect(evilHost.status).toBe(403)
      const evilOrigin = yield* send(listening.url, "POST", { ...json, origin: "http://evil.example.com" }, initialize)
      expect(evilOrigin.status).toBe(403)
      const localOrigin = yield* send(listening.url, "POST", { ...json, origin: `http://localhost:${listening.port}` }, initialize)
      expect(localOrigin.status).toBe(200)
      // bound to every interface with no allow-list: nothing passes
      const open = yield* withServer({ host: "0.0.0.0" })
      const refused = yield* send(`http://127.0.0.1:${open.port}/mcp`, "POST", json, initialize)
      expect(refused.status).toBe(403)
      expect((yield* open.stats).rejectedHostOrOrigin).toBe(1)
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))

  it.live("an oversize body gets 413 before it is read; bad JSON gets 400 with a parse error; the server lives", () =>
    Effect.gen(function*() {
      const listening = yield* withServer({ maxBodyBytes: 1024 })
      const big = yield* send(listening.url, "POST", json, JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping", params: { pad: "x".repeat(5000) } }))
      expect(big.status).toBe(413)
      const bad = yield* send(listening.url, "POST", json, "{not json")
      expect(bad.status).toBe(400)
      expect(JSON.parse(bad.body).error.code).toBe(-32700)
      const ok = yield* send(listening.url, "POST", json, initialize)
      expect(ok.status).toBe(200)
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))

  it.live("sessions: minted ids, 404 for unknown, DELETE ends one, idle ones expire and are freed", () =>
    Effect.gen(function*() {
      const listening = yield* withServer({ sessionIdleTimeout: "300 millis" })
      const a = yield* send(listening.url, "POST", json, initialize)
      const id = a.headers["mcp-session-id"] as string
      expect(id).toMatch(/^[0-9a-f]{32}$/)
      const unknown = yield* send(listening.url, "POST", { ...json, "mcp-session-id": "nope" }, JSON.stringify({ jsonrpc: "2.0", id: 2, method: "ping" }))
      expect(unknown.status).toBe(404)
      const deleted = yield* send(listening.url, "DELETE", { "mcp-session-id": id })
      expect(deleted.status).toBe(200)
      const after = yield* send(listening.url, "POST", { ...json, "mcp-session-id": id }, JSON.stringify({ jsonrpc: "2.0", id: 3, method: "ping" }))
      expect(after.status).toBe(404)
      yield* send(listening.url, "POST", json, initialize)
      expect(yield* listening.sessions).toBe(1)
      yield* Effect.sleep("700 millis")
      expect(yield* listening.sessions).toBe(0)
      expect((yield* listening.stats).sessionsExpired).toBe(1)
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))

  it.live("a flood of 10,000 session creations stays within the cap with memory bounded; sessions in use are not pushed out", () =>
    Effect.gen(function*() {
      const listening = yield* withServer({ maxSessions: 100 })
      const kept = yield* send(listening.url, "POST", json, initialize)
      const keptId = kept.headers["mcp-session-id"] as string
      yield* send(listening.url, "POST", { ...json, "mcp-session-id": keptId }, JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }))
      gc()
      const heapBefore = process.memoryUsage().heapUsed
      for (let round = 0; round < 20; round++) {
        yield* Effect.forEach(Array.from({ length: 500 }), () => send(listening.url, "POST", json, initialize), { concurrency: 50, discard: true })
        // the session in use stays recent
        yield* send(listening.url, "POST", { ...json, "mcp-session-id": keptId }, JSON.stringify({ jsonrpc: "2.0", id: round + 10, method: "ping" }))
        expect(yield* listening.sessions).toBeLessThanOrEqual(100)
      }
      const stats = yield* listening.stats
      expect(stats.sessionsCreated).toBe(10_001)
      expect(stats.sessionsEvicted).toBe(10_001 - 100)
      const ping = yield* send(listening.url, "POST", { ...json, "mcp-session-id": keptId }, JSON.stringify({ jsonrpc: "2.0", id: 99, method: "ping" }))
      expect(ping.status).toBe(200)
      gc()
      // 10,000 sessions came and went: what is left is the cap's worth, not the flood's
      expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(32 * 1024 * 1024)
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)), 120_000)

  it.live("oversize bodies are refused without being buffered: 200 MiB sent, RSS stays bounded", () =>
    Effect.gen(function*() {
      const listening = yield* withServer({ maxBodyBytes: 64 * 1024 })
      const rssBefore = process.memoryUsage().rss
      const chunk = Buffer.alloc(1024 * 1024, 0x61)
      const statuses = yield* Effect.forEach(Array.from({ length: 20 }), () =>
        Effect.promise(() =>
          new Promise<number>((resolve) => {
            // chunked: no Content-Length, so the limit is enforced while reading
            const request = http.request(listening.url, { method: "POST", headers: { ...json, "transfer-encoding": "chunked" } }, (res) => {
              res.resume()
              resolve(res.statusCode ?? 0)
            })
            request.on("error", () => resolve(-1))
            let sent = 0
            const pump = () => {
              while (sent < 10 && request.write(chunk)) sent++
              if (sent < 10) request.once("drain", pump)
              else request.end()
            }
            pump()
          })
        ), { concurrency: 4 })
      // each one is refused (413), or its connection is cut while it is still sending
      expect(statuses.every((s) => s === 413 || s === -1)).toBe(true)
      expect(statuses.filter((s) => s === 413).length).toBeGreaterThan(0)
      expect(process.memoryUsage().rss - rssBefore).toBeLessThan(100 * 1024 * 1024)
      expect((yield* listening.stats).rejectedTooLarge).toBeGreaterThan(0)
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)), 60_000)

  it.live("the client reconnects a GET stream the server keeps ending, honouring retry, with no event ids", () =>
    Effect.gen(function*() {
      // a minimal server: a session, and a GET stream that sends one message without an id, `retry: 50`, ends
      const gets: Array<number> = []
      const fake = http.createServer((req, res) => {
        if (req.method === "DELETE") return void res.writeHead(200).end()
        if (req.method === "GET") {
          gets.push(Date.now())
          res.writeHead(200, { "content-type": "text/event-stream" })
          res.end(`retry: 50\nevent: message\ndata: {"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"tick ${gets.length}"}}\n\n`)
          return
        }
        let body = ""
        req.setEncoding("utf8").on("data", (d: string) => (body += d)).on("end", () => {
          const m = JSON.parse(body)
          if (m.id === undefined) return void res.writeHead(202).end()
          res.writeHead(200, { "content-type": "application/json", "mcp-session-id": "s1" })
          res.end(JSON.stringify({ jsonrpc: "2.0", id: m.id, result: m.method === "initialize"
            ? { protocolVersion: "2025-11-25", capabilities: {}, serverInfo: { name: "fake", version: "1" } }
            : {} }))
        })
      })
      yield* Effect.acquireRelease(
        Effect.promise(() => new Promise<void>((resolve) => fake.listen(0, "127.0.0.1", () => resolve()))),
        () => Effect.promise(() => new Promise<void>((resolve) => {
          fake.closeAllConnections()
          fake.close(() => resolve())
        }))
      )
      const port = (fake.address() as { port: number }).port
      const transport = yield* StreamableHttpClient.connect({ url: `http://127.0.0.1:${port}/mcp`, maxReconnects: 5 })
      const client = yield* McpClient.connect(transport, { info: { name: "c", version: "1" }, revisions: ["2025-11-25"] })
      const ticks = yield* client.notifications.pipe(Stream.take(3), Stream.runCollect, Effect.timeout("5 seconds"))
      expect(ticks.map((n) => (n.params as { data: string }).data)).toEqual(["tick 1", "tick 2", "tick 3"])
      // each reconnection waited for the server's retry hint
      expect(gets.length).toBeGreaterThanOrEqual(3)
      for (let i = 1; i < 3; i++) expect(gets[i]! - gets[i - 1]!).toBeGreaterThanOrEqual(40)
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))

  it.live("2026-07-28: headers are checked against the body (-32020, 400), unknown methods are 404, GET is 405", () =>
    Effect.gen(function*() {
      const listening = yield* withServer()
      const call = (params: Record<string, unknown>) =>
        JSON.stringify({ jsonrpc: "2.0", id: 7, method: "tools/call", params: { ...params, _meta: meta2026 } })
      const ok = yield* send(listening.url, "POST", headers2026("tools/call", "echo"), call({ name: "echo", arguments: { message: "m" } }))
      expect(ok.status).toBe(200)
      expect(JSON.parse(ok.body).result.content[0].text).toBe("m")
      const base64 = yield* send(listening.url, "POST", headers2026("tools/call", `=?base64?${Buffer.from("echo").toString("base64")}?=`), call({ name: "echo", arguments: { message: "m" } }))
      expect(base64.status).toBe(200)
      const wrongName = yield* send(listening.url, "POST", headers2026("tools/call", "add"), call({ name: "echo", arguments: { message: "m" } }))
      expect(wrongName.status).toBe(400)
      expect(JSON.parse(wrongName.body).error).toMatchObject({ code: -32020 })
      expect(JSON.parse(wrongName.body).id).toBe(7)
      const noMethod = yield* send(listening.url, "POST", { ...json, "mcp-protocol-version": "2026-07-28" }, call({ name: "echo" }))
      expect(JSON.parse(noMethod.body).error.code).toBe(-32020)
      const unknown = yield* send(listening.url, "POST", headers2026("nope/nope"), JSON.stringify({ jsonrpc: "2.0", id: 8, method: "nope/nope", params: { _meta: meta2026 } }))
      expect(unknown.status).toBe(404)
      expect(JSON.parse(unknown.body).error.code).toBe(-32601)
      const get = yield* send(listening.url, "GET", { accept: "text/event-stream" })
      expect(get.status).toBe(405)
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))

  it.live("2026-07-28: closing the response stream cancels the request (the handler is interrupted)", () =>
    Effect.gen(function*() {
      const listening = yield* withServer()
      const client = yield* Effect.flatMap(StreamableHttpClient.connect({ url: listening.url }), (t) =>
        McpClient.connect(t, { info: { name: "c", version: "1" }, revisions: ["2026-07-28"] }))
      const fiber = yield* Effect.forkChild(client.callTool("countdown", { seconds: 30 }))
      yield* Effect.sleep("300 millis")
      yield* Fiber.interrupt(fiber)
      // the server still serves, and nothing is left in flight
      expect((yield* client.callTool("echo", { message: "after" })).content[0]).toMatchObject({ text: "after" })
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))

  it.live("the client re-initializes when its session expires (404) and carries on", () =>
    Effect.gen(function*() {
      const listening = yield* withServer({ sessionIdleTimeout: "200 millis" })
      const client = yield* Effect.flatMap(StreamableHttpClient.connect({ url: listening.url, standaloneStream: false }), (t) =>
        McpClient.connect(t, { info: { name: "c", version: "1" }, revisions: ["2025-11-25"] }))
      expect((yield* client.callTool("echo", { message: "one" })).content[0]).toMatchObject({ text: "one" })
      yield* Effect.sleep("600 millis")
      expect(yield* listening.sessions).toBe(0)
      // ten calls at once find the session gone: one new handshake, and every call is answered
      const answers = yield* Effect.forEach(Array.from({ length: 10 }, (_, i) => i), (i) => client.callTool("echo", { message: `two ${i}` }), {
        concurrency: "unbounded"
      })
      expect(answers.map((a) => a.content[0])).toEqual(Array.from({ length: 10 }, (_, i) => ({ type: "text", text: `two ${i}` })))
      expect((yield* listening.stats).sessionsCreated).toBe(2)
      expect(yield* listening.sessions).toBe(1)
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))

  it.live("a stream the server ends on purpose is resumed with Last-Event-ID and nothing is lost (SEP-1699)", () =>
    Effect.gen(function*() {
      const poll = Tool.make("poll", {
        description: "Ends its response stream, then reports progress and answers",
        input: Schema.Struct({}),
        handler: () =>
          Effect.gen(function*() {
            const context = yield* RequestContext.RequestContext
            yield* context.progress(1, 3)
            yield* context.closeStream
            // sent while the stream is down (the client waits the 200 ms retry hint): only a replay delivers it
            yield* Effect.sleep("50 millis")
            yield* context.progress(2, 3)
            // sent after the client has resumed: delivered live
            yield* Effect.sleep("400 millis")
            yield* context.progress(3, 3)
            return "polled"
          })
      })
      const server = yield* McpServer.make({ info: { name: "poll", version: "1" }, tools: [poll] })
      const listening = yield* StreamableHttpServer.serve({ port: 0, retryMs: 200 }, server.serve)
      const client = yield* Effect.flatMap(StreamableHttpClient.connect({ url: listening.url, standaloneStream: false }), (t) =>
        McpClient.connect(t, { info: { name: "c", version: "1" }, revisions: ["2025-11-25"] }))
      const progress: Array<number> = []
      const result = yield* client.callTool("poll", {}, { onProgress: (p) => Effect.sync(() => progress.push(p.progress)) })
      expect(result.content[0]).toMatchObject({ text: "polled" })
      expect(progress).toEqual([1, 2, 3])
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))

  it.live("a slowloris client (headers never finished, or a body trickled) is cut off; others are served meanwhile", () =>
    Effect.gen(function*() {
      const listening = yield* withServer({ headersTimeout: "300 millis", requestTimeout: "600 millis" })
      const cutAfter = (payload: string, trickle: boolean) =>
        Effect.promise(() =>
          new Promise<number>((resolve) => {
            const started = Date.now()
            const socket = net.connect(listening.port, "127.0.0.1")
            socket.on("error", () => {})
            socket.resume()
            socket.on("close", () => resolve(Date.now() - started))
            socket.write(payload)
            const timer = trickle ? setInterval(() => socket.write("x"), 100) : undefined
            socket.on("close", () => timer && clearInterval(timer))
            setTimeout(() => socket.destroy(), 10_000)
          })
        )
      const [headers, ok] = yield* Effect.all([
        cutAfter(`POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: `, false),
        // a normal client is served while the slow one hangs on
        Effect.delay(send(listening.url, "POST", json, initialize), "100 millis")
      ], { concurrency: "unbounded" })
      expect(ok.status).toBe(200)
      const body = yield* cutAfter(`POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{`, true)
      expect(headers).toBeLessThan(5_000)
      expect(body).toBeLessThan(5_000)
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)), 20_000)

  it.live("the GET stream carries server-initiated messages and replays what was sent while it was down", () =>
    Effect.gen(function*() {
      const server = yield* SampleServer.make
      const listening = yield* StreamableHttpServer.serve({ port: 0 }, server.serve)
      const init = yield* send(listening.url, "POST", json, initialize)
      const id = init.headers["mcp-session-id"] as string
      const session = { ...json, "mcp-session-id": id, "mcp-protocol-version": "2025-11-25" }
      yield* send(listening.url, "POST", session, JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }))
      // no GET stream open: the change is kept for it
      yield* server.removeTool("add")
      yield* Effect.sleep("50 millis")
      /** Opens the GET stream and reads it until `changes` list_changed events came (then closes it), or 3 s. */
      const get = (changes: number, lastEventId?: string) =>
        Effect.promise(() =>
          new Promise<string>((resolve) => {
            const headers: Record<string, string> = { accept: "text/event-stream", "mcp-session-id": id }
            if (lastEventId !== undefined) headers["last-event-id"] = lastEventId
            const request = http.request(listening.url, { method: "GET", headers }, (res) => {
              let text = ""
              res.setEncoding("utf8").on("data", (d: string) => {
                text += d
                if (text.split("list_changed").length - 1 >= changes) {
                  request.destroy()
                  resolve(text)
                }
              })
            })
            request.end()
            setTimeout(() => {
              request.destroy()
              resolve("")
            }, 3_000)
          })
        )
      const idsOf = (text: string) => [...text.matchAll(/id: ([0-9a-z-]+)\.(\d+)\nevent: message\ndata: .*list_changed/g)].map((m) => [m[1]!, Number(m[2])] as const)
      const events = yield* get(1)
      expect(events).toContain("notifications/tools/list_changed")
      expect(events).toMatch(/id: [0-9a-z-]+\.\d+/)
      const [[stream, seen]] = idsOf(events) as [readonly [string, number]]
      // the stream is down again (the client closed it); two more changes are sent while it is
      yield* Effect.sleep("50 millis")
      yield* server.removeTool("echo")
      yield* server.removeTool("countdown")
      yield* Effect.sleep("50 millis")
      // resumed with Last-Event-ID: both are replayed from the event store, in order, after the last one seen
      const resumed = yield* get(2, `${stream}.${seen}`)
      expect(idsOf(resumed)).toEqual([[stream, seen + 1], [stream, seen + 2]])
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))

  it.live("the deprecated HTTP+SSE transport (2024-11-05) serves a session when enabled, and is off by default", () =>
    Effect.gen(function*() {
      const off = yield* withServer()
      const refused = yield* send(`http://127.0.0.1:${off.port}/sse`, "GET", { accept: "text/event-stream" })
      expect(refused.status).toBe(404)
      const listening = yield* withServer({ legacySse: true })
      const answer = yield* Effect.promise(() =>
        new Promise<string>((resolve) => {
          const request = http.request(`http://127.0.0.1:${listening.port}/sse`, { headers: { accept: "text/event-stream" } }, (res) => {
            let text = ""
            let posted = false
            res.setEncoding("utf8").on("data", (d: string) => {
              text += d
              const endpoint = /event: endpoint\ndata: (\S+)/.exec(text)
              if (endpoint !== null && !posted) {
                posted = true
                const post = http.request(`http://127.0.0.1:${listening.port}${endpoint[1]}`, { method: "POST", headers: { "content-type": "application/json" } })
                post.end(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2024-11-05", capabilities: {}, clientInfo: { name: "old", version: "1" } } }))
              }
              if (text.includes("\"id\":1")) {
                request.destroy()
                resolve(text)
              }
            })
          })
          request.end()
          setTimeout(() => {
            request.destroy()
            resolve("")
          }, 5_000)
        })
      )
      expect(answer).toContain("\"protocolVersion\":\"2024-11-05\"")
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))

  it.live("as a Layer: listens while the layer lives and provides its address", () =>
    Effect.gen(function*() {
      const server = yield* SampleServer.make
      const url = yield* Effect.gen(function*() {
        const http = yield* StreamableHttpServer.StreamableHttp
        const ok = yield* send(http.url, "POST", json, initialize)
        expect(ok.status).toBe(200)
        return http.url
      }).pipe(Effect.provide(StreamableHttpServer.layer({ port: 0 }, server.serve)))
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/mcp$/)
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))

  it.live("admission control: a refused session or request gets 503 with Retry-After and -32010; admitted ones are served", () =>
    Effect.gen(function*() {
      let shedding: "session" | "request" | undefined
      const listening = yield* withServer({
        admit: (kind) =>
          kind === shedding || (shedding === "request")
            ? Effect.fail({ message: `shedding ${kind}s`, retryAfterMs: 2_500 })
            : Effect.void
      })
      const a = yield* send(listening.url, "POST", json, initialize)
      expect(a.status).toBe(200)
      const id = a.headers["mcp-session-id"] as string
      shedding = "session"
      const refused = yield* send(listening.url, "POST", json, initialize)
      expect(refused.status).toBe(503)
      expect(refused.headers["retry-after"]).toBe("3")
      expect(JSON.parse(refused.body).error).toMatchObject({ code: -32010, data: { retryAfterMs: 2_500 } })
      // new sessions are shed first: the session in use is still served
      const ping = JSON.stringify({ jsonrpc: "2.0", id: 2, method: "ping" })
      expect((yield* send(listening.url, "POST", { ...json, "mcp-session-id": id }, ping)).status).toBe(200)
      shedding = "request"
      expect((yield* send(listening.url, "POST", { ...json, "mcp-session-id": id }, ping)).status).toBe(503)
      shedding = undefined
      expect((yield* send(listening.url, "POST", { ...json, "mcp-session-id": id }, ping)).status).toBe(200)
      expect((yield* listening.stats).rejectedOverloaded).toBe(2)
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))
})
