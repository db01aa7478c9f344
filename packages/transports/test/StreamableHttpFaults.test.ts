/**
 * Streamable HTTP under network faults (real HTTP on 127.0.0.1): a response cut mid-way is a retryable typed
 * outcome (FM-07), resumed first when the SSE stream gave an event id; a duplicated POST of a request in
 * flight is answered with the duplicate error and does not take the original's response (FM-10).
 */
import { describe, expect, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as http from "node:http"
import * as net from "node:net"
import { McpClient } from "@effect-mcp/client"
import { McpServer, RequestContext, Tool } from "@effect-mcp/server"
import { type Transport } from "@effect-mcp/core"
import { JsonRpc, JsonRpcCodec } from "@effect-mcp/jsonrpc"
import * as StreamableHttpClient from "../src/StreamableHttpClient.ts"
import * as StreamableHttpServer from "../src/StreamableHttpServer.ts"

/** Listens on 127.0.0.1 until the scope closes; the port. */
const listen = (server: http.Server | net.Server, sockets?: Set<net.Socket>) =>
  Effect.acquireRelease(
    Effect.promise(() => new Promise<number>((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as net.AddressInfo).port)))),
    () =>
      Effect.promise(() =>
        new Promise<void>((resolve) => {
          if (server instanceof http.Server) server.closeAllConnections()
          for (const socket of sockets ?? []) socket.destroy()
          server.close(() => resolve())
        })
      )
  )

type Behaviour = "cut-json" | "cut-sse" | "cut-sse-after-id" | "duplicate" | "ok"

/**
 * A minimal stateful MCP server over raw node:http: a session, no GET stream (405), and `tools/call`s served
 * as the test says, one behaviour per call (then "ok").
 */
const fakeServer = (behaviours: Array<Behaviour>) =>
  Effect.gen(function*() {
    const seen = { calls: 0, gets: 0 }
    const server = http.createServer((req, res) => {
      if (req.method === "DELETE") return void res.writeHead(200).end()
      if (req.method === "GET") {
        seen.gets++
        return void res.writeHead(405, { allow: "POST, DELETE" }).end()
      }
      let body = ""
      req.setEncoding("utf8").on("data", (d: string) => (body += d)).on("end", () => {
        const m = JSON.parse(body)
        if (m.id === undefined) return void res.writeHead(202).end()
        if (m.method === "initialize") {
          res.writeHead(200, { "content-type": "application/json", "mcp-session-id": "s1" })
          return void res.end(JSON.stringify({
            jsonrpc: "2.0",
            id: m.id,
            result: { protocolVersion: "2025-11-25", capabilities: { tools: {} }, serverInfo: { name: "fake", version: "1" } }
          }))
        }
        seen.calls++
        const answer = JSON.stringify({ jsonrpc: "2.0", id: m.id, result: { content: [{ type: "text", text: `answer ${seen.calls}` }] } })
        const cut = () => setTimeout(() => req.socket.destroy(), 20)
        switch (behaviours.shift() ?? "ok") {
          case "cut-json":
            // the headers and half the body, then the connection is gone
            res.writeHead(200, { "content-type": "application/json", "content-length": String(answer.length) })
            res.write(answer.slice(0, answer.length >> 1))
            return cut()
          case "cut-sse":
            // an event without an id: nothing to resume from
            res.writeHead(200, { "content-type": "text/event-stream" })
            res.write(`event: message\ndata: {"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"working"}}\n\n`)
            return cut()
          case "cut-sse-after-id":
            // an event id, but the server has no GET stream to resume it on (405)
            res.writeHead(200, { "content-type": "text/event-stream" })
            res.write(`id: a.1\nretry: 10\nevent: message\ndata: {"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"working"}}\n\n`)
            return cut()
          case "duplicate":
            // what our server answers a POST whose request id is in flight (a copy of it arrived first)
            res.writeHead(409, { "content-type": "application/json" })
            return void res.end(JSON.stringify({
              jsonrpc: "2.0",
              id: null,
              error: { code: -32600, message: `Invalid Request: a request with id ${JSON.stringify(m.id)} is in flight`, data: { duplicateId: m.id } }
            }))
          case "ok":
            res.writeHead(200, { "content-type": "application/json" })
            return void res.end(answer)
        }
      })
    })
    const port = yield* listen(server)
    return { url: `http://127.0.0.1:${port}/mcp`, seen }
  })

const clientOf = (url: string) =>
  Effect.flatMap(StreamableHttpClient.connect({ url, standaloneStream: false }), (transport) =>
    McpClient.connect(transport, { info: { name: "c", version: "1" }, revisions: ["2025-11-25"] }))

/** The failure a request gets when its response was cut and cannot be resumed. */
const expectConnectionLost = (exit: Exit.Exit<unknown, McpClient.CallError>) => {
  expect(Exit.isFailure(exit)).toBe(true)
  const error = Exit.isFailure(exit) ? exit.cause.reasons.find((r) => r._tag === "Fail")?.error : undefined
  expect(error).toMatchObject({
    _tag: "RemoteError",
    code: -32000,
    data: { mode: "FM-07", reason: "connection lost", retryable: true }
  })
  // the code McpClient retries (not -32603, which it does not)
  expect(McpClient.isTransient(error!)).toBe(true)
}

/**
 * A TCP proxy that passes everything, except that the first server-to-client chunk containing `trigger` is
 * delivered and then both sides of its connection are destroyed.
 */
const cuttingProxy = (targetPort: number, trigger: string) =>
  Effect.gen(function*() {
    const state = { cuts: 0 }
    const sockets = new Set<net.Socket>()
    const proxy = net.createServer((client) => {
      const upstream = net.connect(targetPort, "127.0.0.1")
      for (const socket of [client, upstream]) {
        sockets.add(socket)
        socket.on("error", () => {})
        socket.on("close", () => sockets.delete(socket))
      }
      client.on("data", (chunk) => upstream.write(chunk))
      upstream.on("data", (chunk: Buffer) => {
        if (state.cuts === 0 && chunk.toString("utf8").includes(trigger)) {
          state.cuts++
          client.write(chunk, () => {
            client.destroy()
            upstream.destroy()
          })
          return
        }
        client.write(chunk)
      })
      client.on("close", () => upstream.destroy())
      upstream.on("close", () => client.destroy())
    })
    const port = yield* listen(proxy, sockets)
    return { url: `http://127.0.0.1:${port}/mcp`, state }
  })

interface Reply {
  readonly status: number
  readonly headers: http.IncomingHttpHeaders
  readonly body: string
}

/** One raw HTTP request. */
const send = (url: string, headers: Record<string, string>, body?: string): Effect.Effect<Reply> =>
  Effect.promise(() =>
    new Promise<Reply>((resolve, reject) => {
      const request = http.request(url, { method: "POST", headers }, (res) => {
        let text = ""
        res.setEncoding("utf8").on("data", (d: string) => (text += d)).on("end", () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }))
      })
      request.on("error", reject)
      request.end(body)
    })
  )

const json = { "content-type": "application/json", accept: "application/json, text/event-stream" }

/** A server with one tool, `hold`, that counts its runs and answers when the test releases it. */
const holdingServer = Effect.gen(function*() {
  const started = yield* Deferred.make<void>()
  const release = yield* Deferred.make<void>()
  const runs = { count: 0 }
  const hold = Tool.make("hold", {
    description: "Runs until released",
    input: Schema.Struct({}),
    handler: () =>
      Effect.gen(function*() {
        runs.count++
        yield* Deferred.succeed(started, undefined)
        yield* Deferred.await(release)
        return `held ${runs.count}`
      })
  })
  const server = yield* McpServer.make({ info: { name: "hold", version: "1" }, tools: [hold] })
  const listening = yield* StreamableHttpServer.serve({ port: 0 }, server.serve)
  return { listening, started, release, runs }
})

/** A session on `url` of `revision`: its headers for later POSTs. */
const openSession = (url: string, revision: string) =>
  Effect.gen(function*() {
    const init = yield* send(url, json, JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: { protocolVersion: revision, capabilities: {}, clientInfo: { name: "raw", version: "1" } }
    }))
    expect(init.status).toBe(200)
    const headers = { ...json, "mcp-session-id": init.headers["mcp-session-id"] as string, "mcp-protocol-version": revision }
    yield* send(url, headers, JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }))
    return headers
  })

const call = (id: number) => ({ jsonrpc: "2.0", id, method: "tools/call", params: { name: "hold", arguments: {} } })

describe("Streamable HTTP under faults (real HTTP on 127.0.0.1)", () => {
  it.live("FM-07 a JSON response cut after its headers fails the request with retryable -32000, not -32603; the client carries on", () =>
    Effect.gen(function*() {
      const fake = yield* fakeServer(["cut-json", "ok", "cut-json"])
      const client = yield* clientOf(fake.url)
      const exit = yield* Effect.exit(client.callTool("t", {}, { timeout: "5 seconds" }))
      expectConnectionLost(exit)
      // the same transport serves the next request
      expect((yield* client.callTool("t", {}, { timeout: "5 seconds" })).content[0]).toMatchObject({ text: "answer 2" })
      // and McpClient's retry takes the cut for what it is: the call is answered on its second attempt
      const retried = yield* client.callTool("t", {}, { timeout: "5 seconds", retry: McpClient.defaultRetry })
      expect(retried.content[0]).toMatchObject({ text: "answer 4" })
      expect(fake.seen.calls).toBe(4)
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))

  it.live("FM-07 an SSE response cut with no event id fails the request with retryable -32000 at once; the client carries on", () =>
    Effect.gen(function*() {
      const fake = yield* fakeServer(["cut-sse"])
      const client = yield* clientOf(fake.url)
      const exit = yield* Effect.exit(client.callTool("t", {}, { timeout: "5 seconds" }))
      expectConnectionLost(exit)
      // no event id: no resumption was tried
      expect(fake.seen.gets).toBe(0)
      expect((yield* client.callTool("t", {}, { timeout: "5 seconds" })).content[0]).toMatchObject({ text: "answer 2" })
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))

  it.live("FM-07 an SSE response cut after an event id that cannot be resumed (405) fails with retryable -32000", () =>
    Effect.gen(function*() {
      const fake = yield* fakeServer(["cut-sse-after-id"])
      const client = yield* clientOf(fake.url)
      const exit = yield* Effect.exit(client.callTool("t", {}, { timeout: "5 seconds" }))
      expectConnectionLost(exit)
      // resumption was tried first (one GET, refused)
      expect(fake.seen.gets).toBe(1)
      expect((yield* client.callTool("t", {}, { timeout: "5 seconds" })).content[0]).toMatchObject({ text: "answer 2" })
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))

  it.live("FM-07 an SSE response cut after an event id is resumed with Last-Event-ID and answered once; the handler ran once", () =>
    Effect.gen(function*() {
      const runs = { count: 0 }
      const work = Tool.make("work", {
        description: "Reports progress, works a little, answers",
        input: Schema.Struct({}),
        handler: () =>
          Effect.gen(function*() {
            runs.count++
            const context = yield* RequestContext.RequestContext
            yield* context.progress(1, 2)
            yield* Effect.sleep("150 millis")
            yield* context.progress(2, 2)
            return "worked"
          })
      })
      const server = yield* McpServer.make({ info: { name: "work", version: "1" }, tools: [work] })
      const resumes: Array<string> = []
      const listening = yield* StreamableHttpServer.serve({
        port: 0,
        retryMs: 20,
        routes: (request) => {
          const lastEventId = request.headers["last-event-id"]
          if (request.method === "GET" && typeof lastEventId === "string") resumes.push(lastEventId)
          return false
        }
      }, server.serve)
      const proxy = yield* cuttingProxy(listening.port, "notifications/progress")
      const transport = yield* StreamableHttpClient.connect({ url: proxy.url, standaloneStream: false })
      // every answer the application sees, by id
      const answers = new Map<JsonRpc.RequestId, number>()
      const counted: Transport.Transport = {
        ...transport,
        incoming: transport.incoming.pipe(Stream.tap((decoded) =>
          Effect.sync(() => {
            if (Result.isFailure(decoded)) return
            const messages = (Array.isArray(decoded.success) ? decoded.success : [decoded.success]) as ReadonlyArray<JsonRpc.Message>
            for (const m of messages) if (JsonRpc.isResponse(m) && m.id !== null) answers.set(m.id, (answers.get(m.id) ?? 0) + 1)
          })
        ))
      }
      const client = yield* McpClient.connect(counted, { info: { name: "c", version: "1" }, revisions: ["2025-11-25"] })
      const progress: Array<number> = []
      const result = yield* client.callTool("work", {}, {
        timeout: "5 seconds",
        onProgress: (p) => Effect.sync(() => progress.push(p.progress))
      })
      expect(result.content[0]).toMatchObject({ text: "worked" })
      expect(proxy.state.cuts).toBe(1)
      expect(resumes.length).toBeGreaterThanOrEqual(1)
      expect(resumes[0]).toMatch(/^[0-9a-z-]+\.[1-9]\d*$/)
      expect(progress).toEqual([1, 2])
      expect(runs.count).toBe(1)
      expect([...answers.values()].every((n) => n === 1)).toBe(true)
      expect(answers.size).toBe(2) // initialize and the call
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))

  it.live("FM-10 when a copy of the client's POST reached the server first (its own gets the duplicate error), the call fails at once with retryable -32000", () =>
    Effect.gen(function*() {
      const fake = yield* fakeServer(["duplicate"])
      const client = yield* clientOf(fake.url)
      const exit = yield* Effect.exit(client.callTool("t", {}, { timeout: "5 seconds" }))
      expect(Exit.isFailure(exit)).toBe(true)
      const error = Exit.isFailure(exit) ? exit.cause.reasons.find((r) => r._tag === "Fail")?.error : undefined
      expect(error).toMatchObject({
        _tag: "RemoteError",
        code: -32000,
        data: { mode: "FM-10", reason: "answered on another response", retryable: true }
      })
      expect(McpClient.isTransient(error!)).toBe(true)
      expect((yield* client.callTool("t", {}, { timeout: "5 seconds" })).content[0]).toMatchObject({ text: "answer 2" })
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))

  it.live("FM-10 a duplicated POST of a request in flight gets the duplicate error (409); the first POST gets its result; the handler ran once", () =>
    Effect.gen(function*() {
      const { listening, release, runs, started } = yield* holdingServer
      const session = yield* openSession(listening.url, "2025-11-25")
      const first = yield* Effect.forkChild(send(listening.url, session, JSON.stringify(call(5))))
      yield* Deferred.await(started).pipe(Effect.timeout("5 seconds"))
      const second = yield* send(listening.url, session, JSON.stringify(call(5))).pipe(Effect.timeout("5 seconds"))
      expect(second.status).toBe(409)
      expect(JSON.parse(second.body)).toMatchObject({ id: null, error: { code: -32600, data: { duplicateId: 5 } } })
      yield* Deferred.succeed(release, undefined)
      const answered = yield* Fiber.join(first).pipe(Effect.timeout("5 seconds"))
      expect(answered.status).toBe(200)
      expect(JSON.parse(answered.body)).toMatchObject({ id: 5, result: { content: [{ type: "text", text: "held 1" }] } })
      expect(runs.count).toBe(1)
      expect((yield* listening.stats).rejectedDuplicates).toBe(1)
      // once answered, the id is no longer in flight
      const again = yield* send(listening.url, session, JSON.stringify(call(5))).pipe(Effect.timeout("5 seconds"))
      expect(JSON.parse(again.body)).toMatchObject({ id: 5, result: {} })
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))

  it.live("FM-10 a batch (2025-03-26) carrying the id of a request in flight: the rest is answered with the duplicate error alongside", () =>
    Effect.gen(function*() {
      const { listening, release, runs, started } = yield* holdingServer
      const session = yield* openSession(listening.url, "2025-03-26")
      const first = yield* Effect.forkChild(send(listening.url, session, JSON.stringify(call(5))))
      yield* Deferred.await(started).pipe(Effect.timeout("5 seconds"))
      const batch = yield* send(listening.url, session, JSON.stringify([call(5), { jsonrpc: "2.0", id: 6, method: "ping" }])).pipe(
        Effect.timeout("5 seconds")
      )
      expect(batch.status).toBe(200)
      const answers = JSON.parse(batch.body) as Array<Record<string, unknown>>
      expect(answers).toHaveLength(2)
      expect(answers).toContainEqual({ jsonrpc: "2.0", id: 6, result: {} })
      expect(answers).toContainEqual(expect.objectContaining({ id: null, error: expect.objectContaining({ data: { duplicateId: 5 } }) }))
      yield* Deferred.succeed(release, undefined)
      const answered = yield* Fiber.join(first).pipe(Effect.timeout("5 seconds"))
      expect(JSON.parse(answered.body)).toMatchObject({ id: 5, result: { content: [{ text: "held 1" }] } })
      expect(runs.count).toBe(1)
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))

  it.live("a cancelled request's id is no longer in flight: its response ends, and the id is not taken for a duplicate", () =>
    Effect.gen(function*() {
      const { listening, release, runs, started } = yield* holdingServer
      const session = yield* openSession(listening.url, "2025-11-25")
      const first = yield* Effect.forkChild(send(listening.url, session, JSON.stringify(call(5))))
      yield* Deferred.await(started).pipe(Effect.timeout("5 seconds"))
      const cancelled = yield* send(listening.url, session, JSON.stringify({
        jsonrpc: "2.0",
        method: "notifications/cancelled",
        params: { requestId: 5, reason: "test" }
      }))
      expect(cancelled.status).toBe(202)
      // the cancelled request's response ends without an answer
      const ended = yield* Fiber.join(first).pipe(Effect.timeout("5 seconds"))
      expect(ended.body).toBe("")
      yield* Deferred.succeed(release, undefined)
      const again = yield* send(listening.url, session, JSON.stringify(call(5))).pipe(Effect.timeout("5 seconds"))
      expect(again.status).toBe(200)
      expect(JSON.parse(again.body)).toMatchObject({ id: 5, result: { content: [{ text: "held 2" }] } })
      expect(runs.count).toBe(2)
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))
})
