import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/testing/TestClock"
import { WebSocket, WebSocketServer } from "ws"
import { McpClient } from "@effect-mcp/client"
import type { Transport } from "@effect-mcp/core"
import { JsonRpc, JsonRpcCodec } from "@effect-mcp/jsonrpc"
import * as SampleServer from "../../../apps/sample/src/SampleServer.ts"
import * as WebSocketTransport from "../src/WebSocketTransport.ts"
import { eventually, realSleep } from "./support/realTime.ts"

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


/** A raw `ws` client: the messages it received and its close code once closed. */
interface RawClient {
  readonly ws: WebSocket
  readonly messages: Array<string>
  readonly closeCode: () => number | undefined
}

/** Opens a raw client; `autoPong: false` makes a peer that reads but never answers pings. */
const rawClient = (url: string, options: { readonly autoPong?: boolean } = {}) =>
  Effect.promise(() =>
    new Promise<RawClient>((resolve, reject) => {
      const ws = new WebSocket(url, { autoPong: options.autoPong ?? true })
      const messages: Array<string> = []
      let closeCode: number | undefined
      ws.on("message", (data) => messages.push(data.toString()))
      ws.on("close", (code) => (closeCode = code))
      ws.on("error", () => {})
      ws.once("open", () => resolve({ ws, messages, closeCode: () => closeCode }))
      ws.once("unexpected-response", (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)))
    })
  )

/** A handler that only drains `incoming` and reports how it ended. */
const draining = Effect.gen(function*() {
  const ended = yield* Deferred.make<Exit.Exit<void, Transport.TransportError>>()
  const handle = (transport: Transport.Transport) =>
    Effect.flatMap(Effect.exit(Stream.runDrain(transport.incoming)), (exit) => Deferred.succeed(ended, exit))
  return { ended, handle }
})

/** The typed error an exit failed with, if any. */
const errorOf = <A, E>(exit: Exit.Exit<A, E>): E | undefined =>
  Exit.isFailure(exit) ? Option.getOrUndefined(Cause.findErrorOption(exit.cause)) : undefined

/** The outcome of a raw handshake: `open`, or the HTTP status and its Retry-After. */
const handshake = (url: string) =>
  Effect.promise(() =>
    new Promise<string>((resolve) => {
      const ws = new WebSocket(url)
      ws.on("open", () => {
        ws.on("close", (code, reason) => resolve(`closed ${code} ${reason.toString()}`))
        // a refused-after-upgrade socket is closed by the server at once
        setTimeout(() => {
          ws.close()
          resolve("open")
        }, 100)
      })
      ws.on("unexpected-response", (_req, res) => {
        resolve(`HTTP ${res.statusCode} retry-after=${res.headers["retry-after"]}`)
        res.resume()
        _req.destroy()
      })
      ws.on("error", () => {})
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

  it.live("FM-36 a flood of 100 handshakes past a limit of 5: each refused one gets HTTP 503 with Retry-After; the served ones keep answering", () =>
    Effect.gen(function*() {
      const listening = yield* withServer({ maxConnections: 5, retryAfter: "2 seconds" })
      const served = yield* Effect.forEach(Array.from({ length: 5 }, (_, i) => i), (i) =>
        Effect.flatMap(WebSocketTransport.connect(listening.url), (t) => McpClient.connect(t, { info: { name: `s${i}`, version: "1" } })))
      const [outcomes, during] = yield* Effect.all([
        Effect.forEach(Array.from({ length: 100 }), () => handshake(listening.url), { concurrency: "unbounded" }),
        Effect.forEach(served, (c, i) => c.callTool("echo", { message: `during ${i}` }), { concurrency: "unbounded" })
      ], { concurrency: "unbounded" })
      expect(new Set(outcomes)).toEqual(new Set(["HTTP 503 retry-after=2"]))
      expect(during.map((r) => r.content[0])).toEqual(served.map((_, i) => ({ type: "text", text: `during ${i}` })))
      expect(yield* listening.refused).toBe(100)
      expect(yield* listening.connections).toBe(5)
      // the client transport reports the refusal with its retry hint
      const error = yield* Effect.flip(WebSocketTransport.connect(listening.url))
      expect(error).toMatchObject({ _tag: "TransportFailure" })
      expect(error.message).toMatch(/HTTP 503 \(retry after 2 s\)/)
      for (const c of served) yield* c.ping
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)), 30_000)

  it.live("FM-31 ping/pong heartbeat: clients that pong stay; one that never pongs is terminated with a typed reason", () =>
    Effect.gen(function*() {
      const heartbeat = { interval: "50 millis", timeout: "200 millis" } as const
      const listening = yield* withServer({ heartbeat })
      const client = yield* Effect.flatMap(WebSocketTransport.connect(listening.url, { heartbeat }), (t) =>
        McpClient.connect(t, { info: { name: "alive", version: "1" } }))
      const { ended, handle } = yield* draining
      const mute = yield* WebSocketTransport.serve({ port: 0, heartbeat }, handle)
      const peer = yield* rawClient(mute.url, { autoPong: false })
      yield* realSleep(500)
      expect(yield* client.callTool("echo", { message: "alive" })).toMatchObject({ content: [{ text: "alive" }] })
      expect(yield* listening.connections).toBe(1)
      const error = errorOf(yield* Deferred.await(ended))
      expect(error).toMatchObject({ _tag: "ConnectionClosed" })
      expect(error?.message).toMatch(/heartbeat \(FM-31\): websocket connection did not answer a ping within 200 ms/)
      expect(yield* eventually(() => peer.closeCode() === 1006)).toBe(true)
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))

  it.live("FM-31 the client's heartbeat finds a server that stopped answering pings", () =>
    Effect.gen(function*() {
      const wss = yield* Effect.acquireRelease(
        Effect.promise(() =>
          new Promise<WebSocketServer>((resolve) => {
            const server: WebSocketServer = new WebSocketServer({ host: "127.0.0.1", port: 0, autoPong: false }, () => resolve(server))
          })
        ),
        (server) => Effect.sync(() => {
          for (const c of server.clients) c.terminate()
          server.close()
        })
      )
      const port = (wss.address() as { port: number }).port
      const transport = yield* WebSocketTransport.connect(`ws://127.0.0.1:${port}`, { heartbeat: { interval: "50 millis", timeout: "200 millis" } })
      const error = yield* Effect.flip(Stream.runDrain(transport.incoming))
      expect(error).toMatchObject({ _tag: "ConnectionClosed" })
      expect(error.message).toMatch(/heartbeat \(FM-31\): ws:\/\/127\.0\.0\.1:\d+ did not answer a ping within 200 ms/)
      expect(yield* Effect.flip(transport.send(JsonRpc.notification("late")))).toBe(error)
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))

  it.effect("FM-31 heartbeat on Effect's Clock (TestClock): pings every interval; only the peer without a pong by the deadline goes", () =>
    Effect.gen(function*() {
      const { ended, handle } = yield* draining
      const listening = yield* WebSocketTransport.serve({ port: 0, heartbeat: { interval: "30 seconds", timeout: "10 seconds" }, firstMessageTimeout: false }, handle)
      let pings = 0
      const answering = yield* rawClient(listening.url)
      answering.ws.on("ping", () => pings++)
      const mute = yield* rawClient(listening.url, { autoPong: false })
      expect(yield* eventually(() => Effect.runSync(listening.connections) === 2)).toBe(true)
      yield* TestClock.adjust("29 seconds")
      yield* realSleep(30)
      expect(pings).toBe(0)
      yield* TestClock.adjust("1 second")
      expect(yield* eventually(() => pings === 1)).toBe(true)
      yield* realSleep(30)
      yield* TestClock.adjust("9 seconds")
      yield* realSleep(30)
      expect(mute.closeCode()).toBeUndefined()
      yield* TestClock.adjust("1 second")
      expect(yield* eventually(() => mute.closeCode() === 1006)).toBe(true)
      expect(errorOf(yield* Deferred.await(ended))?.message).toMatch(/did not answer a ping within 10000 ms/)
      expect(answering.closeCode()).toBeUndefined()
      // the next ping comes an interval after the pong
      yield* TestClock.adjust("20 seconds")
      expect(yield* eventually(() => pings === 2)).toBe(true)
      yield* realSleep(30)
      yield* TestClock.adjust("10 seconds")
      yield* realSleep(30)
      expect(answering.closeCode()).toBeUndefined()
      expect(Effect.runSync(listening.connections)).toBe(1)
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)), 15_000)

  it.effect("FM-36 slowloris: a WebSocket connection that sends no message within firstMessageTimeout is closed; one that sent a message is kept (TestClock)", () =>
    Effect.gen(function*() {
      const { ended, handle } = yield* draining
      const listening = yield* WebSocketTransport.serve({ port: 0, heartbeat: false }, handle)
      const silent = yield* rawClient(listening.url)
      const talker = yield* rawClient(listening.url)
      talker.ws.send('{"jsonrpc":"2.0","method":"notifications/initialized"}')
      expect(yield* eventually(() => Effect.runSync(listening.connections) === 2)).toBe(true)
      yield* realSleep(30)
      yield* TestClock.adjust("29 seconds")
      yield* realSleep(30)
      expect([silent.closeCode(), talker.closeCode()]).toEqual([undefined, undefined])
      // the default bound: 30 s after the handshake
      yield* TestClock.adjust("1 second")
      expect(yield* eventually(() => silent.closeCode() !== undefined)).toBe(true)
      expect(errorOf(yield* Deferred.await(ended))?.message).toMatch(/sent no message within 30000 ms of connecting \(slowloris, FM-36\)/)
      yield* realSleep(30)
      expect(talker.closeCode()).toBeUndefined()
      expect(Effect.runSync(listening.connections)).toBe(1)
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)), 15_000)

  it.live("FM-15 a slow reader gets every frame in order within maxBufferedBytes", () =>
    Effect.gen(function*() {
      const done = yield* Deferred.make<Exit.Exit<void, unknown>>()
      const payload = "y".repeat(64 * 1024)
      const frames = 64
      const listening = yield* WebSocketTransport.serve({ port: 0, maxBufferedBytes: 2 * 1024 * 1024 }, (transport) =>
        Effect.forEach(Array.from({ length: frames }, (_, i) => i), (i) => transport.send(JsonRpc.notification("bulk", { i, payload })), {
          concurrency: 4,
          discard: true
        }).pipe(Effect.exit, Effect.flatMap((exit) => Deferred.succeed(done, exit))))
      const peer = yield* rawClient(listening.url)
      const reading = setInterval(() => (peer.ws.isPaused ? peer.ws.resume() : peer.ws.pause()), 20)
      yield* Effect.addFinalizer(() => Effect.sync(() => clearInterval(reading)))
      expect(yield* Deferred.await(done)).toMatchObject({ _tag: "Success" })
      expect(yield* eventually(() => peer.messages.length === frames, 10_000)).toBe(true)
      expect(peer.messages.map((m) => JSON.parse(m).params.i)).toEqual(Array.from({ length: frames }, (_, i) => i))
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)), 20_000)

  it.live("FM-15 a reader that does not read is terminated once bufferedAmount passes maxBufferedBytes (typed TransportFailure)", () =>
    Effect.gen(function*() {
      const result = yield* Deferred.make<{ sends: Array<Exit.Exit<void, unknown>>; incoming: Exit.Exit<void, unknown> }>()
      const payload = "z".repeat(256 * 1024)
      const listening = yield* WebSocketTransport.serve({ port: 0, maxBufferedBytes: 2 * 1024 * 1024 }, (transport) =>
        Effect.gen(function*() {
          const sends = yield* Effect.forEach(Array.from({ length: 64 }, (_, i) => i), (i) =>
            Effect.exit(transport.send(JsonRpc.notification("bulk", { i, payload }))), { concurrency: "unbounded" })
          const incoming = yield* Effect.exit(Stream.runDrain(transport.incoming))
          yield* Deferred.succeed(result, { sends, incoming })
        }))
      const peer = yield* rawClient(listening.url)
      peer.ws.pause()
      const { incoming, sends } = yield* Deferred.await(result)
      const failure = errorOf(incoming) as Transport.TransportError
      expect(failure).toMatchObject({ _tag: "TransportFailure", cause: { mode: "FM-15", maxBufferedBytes: 2 * 1024 * 1024 } })
      expect(failure.message).toMatch(/the peer is not reading \(FM-15\)/)
      const failed = sends.filter(Exit.isFailure)
      expect(failed.length).toBeGreaterThan(0)
      for (const exit of failed) expect(errorOf(exit)).toBe(failure)
      peer.ws.resume()
      expect(yield* eventually(() => peer.closeCode() === 1006)).toBe(true)
      expect(yield* eventually(() => Effect.runSync(listening.connections) === 0)).toBe(true)
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)), 20_000)
})
