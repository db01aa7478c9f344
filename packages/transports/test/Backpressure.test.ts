/**
 * FM-48 "backpressure signal lost", validated end to end on real sockets on 127.0.0.1 for every network
 * transport: a reader that reads slowly while the other side writes thousands of ~10 KB frames must get every
 * frame, in order, while the writer waits (its buffered bytes stay bounded, one `drain` listener, never one per
 * write); a reader that stops for good must end the writer's wait with a typed error (FM-15) instead of
 * letting it buffer forever.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/testing/TestClock"
import * as http from "node:http"
import * as net from "node:net"
import { WebSocket, WebSocketServer } from "ws"
import { Protocol, type Transport } from "@effect-mcp/core"
import { type CodecError, JsonRpc, JsonRpcCodec } from "@effect-mcp/jsonrpc"
import * as StreamableHttpServer from "../src/StreamableHttpServer.ts"
import * as TcpTransport from "../src/TcpTransport.ts"
import * as WebSocketTransport from "../src/WebSocketTransport.ts"
import * as RealTime from "./support/realTime.ts"

/** Frames per run and their payload (~10 KB each: ~30 MB in all, far beyond every buffer on the way). */
const FRAMES = 3_000
const PAYLOAD = "p".repeat(10 * 1024)
/** The writer's bound on unsent bytes in these tests. */
const BOUND = 1024 * 1024
/** The frame at which the slow reader takes one long pause, and its length (real ms). */
const PAUSE_AT = 1_000
const PAUSE_MS = 400

/** Polls `condition` in real time for up to 10_000 ms by default. */
const eventually = (condition: () => boolean, ms = 10_000) => RealTime.eventually(condition, ms)
const realSleep = RealTime.realSleep

/** The typed error an exit failed with, if any. */
const errorOf = <A, E>(exit: Exit.Exit<A, E>): E | undefined =>
  Exit.isFailure(exit) ? Option.getOrUndefined(Cause.findErrorOption(exit.cause)) : undefined

/** What the writer side looks like from outside, sampled every millisecond. */
interface Probe {
  /** Bytes accepted for sending and not yet handed to the kernel. */
  readonly buffered: () => number
  /** `drain` listeners on the writable the writer waits on. */
  readonly drainListeners: () => number
}

/** Samples a probe every millisecond (real time) until the scope closes; the maxima seen. */
const sample = (probe: Probe) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const max = { buffered: 0, drainListeners: 0 }
      const timer = setInterval(() => {
        max.buffered = Math.max(max.buffered, probe.buffered())
        max.drainListeners = Math.max(max.drainListeners, probe.drainListeners())
      }, 1)
      return { max, timer }
    }),
    ({ timer }) => Effect.sync(() => clearInterval(timer))
  ).pipe(Effect.map(({ max }) => max))

/** The `i` of a `bulk` notification, or -1. */
const indexOf = (decoded: unknown): number => {
  const message = decoded as { readonly params?: { readonly i?: unknown } }
  return typeof message.params?.i === "number" ? message.params.i : -1
}

/** What a slow-reader run saw. */
interface Run {
  readonly received: ReadonlyArray<number>
  /** Frames the writer had completed when the long pause started, 150 ms into it, and at its end. */
  readonly sentAtPause: readonly [number, number, number]
  readonly writerExit: Exit.Exit<void, unknown>
}

/**
 * Writes FRAMES `bulk` notifications one after the other with `send` (counting completed sends) while the
 * reader consumes `incoming` slowly: a real 2 ms pause every 50 frames, and one pause of PAUSE_MS at frame
 * PAUSE_AT, during which the writer's progress is recorded.
 */
const slowReaderRun = (
  send: (message: JsonRpc.Notification) => Effect.Effect<void, Transport.TransportError | CodecError.UnencodableMessage>,
  incoming: Stream.Stream<JsonRpcCodec.Decoded, Transport.TransportError>
): Effect.Effect<Run, Transport.TransportError, Scope.Scope> =>
  Effect.gen(function*() {
    let sent = 0
    const writer = yield* Effect.forkScoped(
      Effect.exit(Effect.forEach(Array.from({ length: FRAMES }, (_, i) => i), (i) =>
        Effect.andThen(send(JsonRpc.notification("bulk", { i, payload: PAYLOAD })), Effect.sync(() => sent++)), { discard: true }))
    )
    const received: Array<number> = []
    const sentAtPause: [number, number, number] = [0, 0, 0]
    yield* incoming.pipe(
      Stream.take(FRAMES),
      Stream.runForEach((decoded) =>
        Effect.gen(function*() {
          received.push(Result.isSuccess(decoded) ? indexOf(decoded.success) : -2)
          if (received.length === PAUSE_AT) {
            sentAtPause[0] = sent
            yield* realSleep(150)
            sentAtPause[1] = sent
            yield* realSleep(PAUSE_MS - 150)
            sentAtPause[2] = sent
          } else if (received.length % 50 === 0) {
            yield* realSleep(2)
          }
        })
      )
    )
    const writerExit = yield* Fiber.join(writer)
    return { received, sentAtPause, writerExit }
  })

/** The checks every transport must pass after a slow-reader run. */
const expectLossless = (run: Run, max: { readonly buffered: number; readonly drainListeners: number }, bound: number) => {
  // nothing lost, nothing duplicated, order kept
  expect(run.received).toEqual(Array.from({ length: FRAMES }, (_, i) => i))
  expect(run.writerExit).toMatchObject({ _tag: "Success" })
  // the writer waited: while the reader paused it stopped making progress (a bounded lead, then nothing)
  const [atStart, after150, atEnd] = run.sentAtPause
  expect(atEnd).toBe(after150)
  expect(atEnd).toBeLessThan(FRAMES)
  expect(atStart).toBeGreaterThanOrEqual(PAUSE_AT)
  // the writer's own buffer stayed under its bound (the rest of the lead is in the kernel's socket buffers)
  expect(max.buffered).toBeLessThanOrEqual(bound + 16 * 1024)
  // one drain listener at most, whatever the number of writes
  expect(max.drainListeners).toBeLessThanOrEqual(1)
}

/** Listens with a plain `net` server (so that the test holds the server's socket); the first connection. */
const tcpServer = Effect.gen(function*() {
  const accepted = yield* Deferred.make<net.Socket>()
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    socket.on("error", () => {})
    Deferred.doneUnsafe(accepted, Effect.succeed(socket))
  })
  yield* Effect.acquireRelease(
    Effect.promise(() => new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()))),
    () => Effect.sync(() => server.close())
  )
  return { port: (server.address() as net.AddressInfo).port, accepted: Deferred.await(accepted) }
})

/** The same with a plain `ws` server. */
const wsServer = Effect.gen(function*() {
  const accepted = yield* Deferred.make<WebSocket>()
  const wss = yield* Effect.acquireRelease(
    Effect.promise(() =>
      new Promise<WebSocketServer>((resolve) => {
        const server: WebSocketServer = new WebSocketServer({ host: "127.0.0.1", port: 0 }, () => resolve(server))
      })
    ),
    (server) =>
      Effect.sync(() => {
        for (const c of server.clients) c.terminate()
        server.close()
      })
  )
  wss.on("connection", (socket) => {
    socket.on("error", () => {})
    Deferred.doneUnsafe(accepted, Effect.succeed(socket))
  })
  return { url: `ws://127.0.0.1:${(wss.address() as net.AddressInfo).port}`, accepted: Deferred.await(accepted) }
})

/** The net socket under a `ws` WebSocket (to count its drain listeners). */
const netSocketOf = (socket: WebSocket): net.Socket => (socket as unknown as { readonly _socket: net.Socket })._socket

describe("FM-48 backpressure, end to end on real sockets", () => {
  it.live("TCP: a slow reader gets 3,000 frames of 10 KB, in order; the writer waits, its buffer stays bounded, one drain listener", () =>
    Effect.gen(function*() {
      const server = yield* tcpServer
      const client = yield* TcpTransport.connect({ port: server.port })
      const socket = yield* server.accepted
      const writer = yield* TcpTransport.fromSocket(socket, "server", { maxBufferedBytes: BOUND })
      const max = yield* sample({ buffered: () => socket.writableLength, drainListeners: () => socket.listenerCount("drain") })
      const run = yield* slowReaderRun(writer.send, client.incoming)
      expectLossless(run, max, BOUND)
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)), 60_000)

  it.effect("TCP: a reader that stops for good ends the writer's wait after stallTimeout with TransportFailure (FM-15), not a buffer that grows (TestClock)", () =>
    Effect.gen(function*() {
      const server = yield* tcpServer
      // the client transport is connected but nobody consumes its input: it stops reading from the socket
      yield* TcpTransport.connect({ port: server.port })
      const socket = yield* server.accepted
      const writer = yield* TcpTransport.fromSocket(socket, "server", { maxBufferedBytes: BOUND, stallTimeout: "30 seconds", firstMessageTimeout: false })
      let sent = 0
      const writing = yield* Effect.forkChild(Effect.exit(Effect.forever(
        Effect.andThen(writer.send(JsonRpc.notification("bulk", { i: sent, payload: PAYLOAD })), Effect.sync(() => sent++))
      )))
      // the writer blocks once the kernel's buffers are full (no progress for 200 ms of polling)
      let last = -1
      let still = 0
      expect(yield* eventually(() => {
        still = sent > 0 && sent === last ? still + 1 : 0
        last = sent
        return still >= 40
      })).toBe(true)
      expect(socket.writableLength).toBeLessThanOrEqual(BOUND + 16 * 1024)
      yield* TestClock.adjust("29 seconds")
      yield* realSleep(30)
      expect(writing.pollUnsafe()).toBeUndefined()
      yield* TestClock.adjust("1 second")
      const error = errorOf(yield* Fiber.join(writing)) as Transport.TransportError
      expect(error).toMatchObject({ _tag: "TransportFailure", cause: { mode: "FM-15", stallTimeoutMs: 30_000 } })
      expect(socket.destroyed).toBe(true)
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)), 30_000)

  it.live("TCP: writers that keep writing to a reader that stopped are cut at maxBufferedBytes with TransportFailure (FM-15)", () =>
    Effect.gen(function*() {
      const server = yield* tcpServer
      yield* TcpTransport.connect({ port: server.port })
      const socket = yield* server.accepted
      const writer = yield* TcpTransport.fromSocket(socket, "server", { maxBufferedBytes: BOUND })
      // many handlers answering at once (as the engine's concurrent handlers do): ~30 MB for a reader that reads nothing
      const exits = yield* Effect.forEach(Array.from({ length: FRAMES }, (_, i) => i), (i) =>
        Effect.exit(writer.send(JsonRpc.notification("bulk", { i, payload: PAYLOAD }))), { concurrency: "unbounded" })
      const failures = exits.filter(Exit.isFailure).map(errorOf)
      expect(failures.length).toBeGreaterThan(0)
      expect(failures[0]).toMatchObject({ _tag: "TransportFailure", cause: { mode: "FM-15", maxBufferedBytes: BOUND } })
      for (const failure of failures) expect(failure).toBe(failures[0])
      expect(socket.destroyed).toBe(true)
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)), 30_000)

  it.live("WebSocket: a slow reader gets 3,000 frames of 10 KB, in order; the writer waits, its buffer stays bounded, one drain listener", () =>
    Effect.gen(function*() {
      const server = yield* wsServer
      // a small inbox: the reader's slowness reaches the socket (paused) quickly
      const client = yield* WebSocketTransport.connect(server.url, { inboxCapacity: 16 })
      const socket = yield* server.accepted
      const writer = yield* WebSocketTransport.fromWebSocket(socket, "server", { maxBufferedBytes: BOUND })
      const max = yield* sample({ buffered: () => socket.bufferedAmount, drainListeners: () => netSocketOf(socket).listenerCount("drain") })
      const run = yield* slowReaderRun(writer.send, client.incoming)
      expectLossless(run, max, BOUND)
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)), 60_000)

  it.live("WebSocket: writers that keep writing to a reader that stopped are cut at maxBufferedBytes with TransportFailure (FM-15)", () =>
    Effect.gen(function*() {
      const server = yield* wsServer
      const client = yield* WebSocketTransport.connect(server.url, { inboxCapacity: 16 })
      void client
      const socket = yield* server.accepted
      const writer = yield* WebSocketTransport.fromWebSocket(socket, "server", { maxBufferedBytes: BOUND })
      const exits = yield* Effect.forEach(Array.from({ length: FRAMES }, (_, i) => i), (i) =>
        Effect.exit(writer.send(JsonRpc.notification("bulk", { i, payload: PAYLOAD }))), { concurrency: "unbounded" })
      const failures = exits.filter(Exit.isFailure).map(errorOf)
      expect(failures.length).toBeGreaterThan(0)
      expect(failures[0]).toMatchObject({ _tag: "TransportFailure", cause: { mode: "FM-15", maxBufferedBytes: BOUND } })
      for (const failure of failures) expect(failure).toBe(failures[0])
      expect(yield* eventually(() => socket.readyState === WebSocket.CLOSED)).toBe(true)
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)), 30_000)

  it.effect("WebSocket: one writer waiting on a reader that stopped for good is ended by the heartbeat (ConnectionClosed, FM-31), not left waiting (TestClock)", () =>
    Effect.gen(function*() {
      const server = yield* wsServer
      yield* WebSocketTransport.connect(server.url, { inboxCapacity: 16 })
      const socket = yield* server.accepted
      const writer = yield* WebSocketTransport.fromWebSocket(socket, "server", {
        maxBufferedBytes: BOUND,
        heartbeat: { interval: "10 seconds", timeout: "5 seconds" }
      })
      let sent = 0
      const writing = yield* Effect.forkChild(Effect.exit(Effect.forever(
        Effect.andThen(writer.send(JsonRpc.notification("bulk", { i: sent, payload: PAYLOAD })), Effect.sync(() => sent++))
      )))
      let last = -1
      let still = 0
      expect(yield* eventually(() => {
        still = sent > 0 && sent === last ? still + 1 : 0
        last = sent
        return still >= 40
      })).toBe(true)
      expect(socket.bufferedAmount).toBeLessThanOrEqual(BOUND)
      yield* TestClock.adjust("10 seconds")
      yield* realSleep(30)
      yield* TestClock.adjust("5 seconds")
      const error = errorOf(yield* Fiber.join(writing)) as Transport.TransportError
      expect(error).toMatchObject({ _tag: "ConnectionClosed" })
      expect(error.message).toMatch(/FM-31/)
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)), 30_000)
})

// ---- Streamable HTTP ------------------------------------------------------------------------------------

/** A raw HTTP exchange with the server: the response, paused (the test decides when to read). */
const exchange = (port: number, method: "POST" | "GET", headers: Record<string, string>, body?: unknown) =>
  Effect.promise(() =>
    new Promise<http.IncomingMessage>((resolve, reject) => {
      const request = http.request({ host: "127.0.0.1", port, path: "/mcp", method, headers: { ...headers, "content-type": "application/json" } }, (res) => {
        res.pause()
        resolve(res)
      })
      request.on("error", reject)
      request.end(body === undefined ? undefined : JSON.stringify(body))
    })
  )

/** Reads an SSE body slowly (a 2 ms pause every 50 events, one pause of PAUSE_MS at event PAUSE_AT); the `i`s in order. */
const readSseSlowly = (res: http.IncomingMessage, progressOf: () => number, until: number) =>
  Effect.promise(() =>
    new Promise<{ readonly received: Array<number>; readonly sentAtPause: [number, number, number]; readonly ended: boolean }>((resolve) => {
      const received: Array<number> = []
      const sentAtPause: [number, number, number] = [0, 0, 0]
      let rest = ""
      let done = false
      const finish = (ended: boolean) => {
        if (done) return
        done = true
        resolve({ received, sentAtPause, ended })
      }
      res.setEncoding("utf8")
      res.on("data", (chunk: string) => {
        const events = (rest + chunk).split("\n\n")
        rest = events.pop()!
        for (const event of events) {
          const data = event.split("\n").find((line) => line.startsWith("data: "))
          if (data === undefined || data.length <= 6) continue
          const i = progressIndex(JSON.parse(data.slice(6)))
          if (i < 0) continue
          received.push(i)
          if (received.length === PAUSE_AT) {
            res.pause()
            sentAtPause[0] = progressOf()
            setTimeout(() => (sentAtPause[1] = progressOf()), 150)
            setTimeout(() => {
              sentAtPause[2] = progressOf()
              res.resume()
            }, PAUSE_MS)
          } else if (received.length % 50 === 0 && !res.isPaused()) {
            res.pause()
            setTimeout(() => res.resume(), 2)
          }
          if (received.length === until) finish(true)
        }
      })
      res.on("end", () => finish(true))
      res.on("close", () => finish(false))
      // a response already cut by the server has nothing more to say; a stuck one is given up after 20 s
      if (res.destroyed || res.readableEnded) finish(false)
      setTimeout(() => finish(false), 20_000).unref()
      res.resume()
    })
  )

/** One SSE event as the client saw it: its id (if any) and its message. */
interface SseEvent {
  readonly id: string | undefined
  readonly message: { readonly id?: unknown; readonly method?: string; readonly result?: unknown; readonly params?: unknown }
}

/**
 * Reads an SSE body at full speed: every event until the body ends, or only the first `stopAfter` (then the
 * response stays paused for good: a reader that stopped).
 */
const readEvents = (res: http.IncomingMessage, stopAfter = Infinity) =>
  Effect.promise(() =>
    new Promise<Array<SseEvent>>((resolve) => {
      const events: Array<SseEvent> = []
      let rest = ""
      let done = false
      const finish = () => {
        if (done) return
        done = true
        resolve(events)
      }
      res.setEncoding("utf8")
      res.on("data", (chunk: string) => {
        if (done) return
        const blocks = (rest + chunk).split("\n\n")
        rest = blocks.pop()!
        for (const block of blocks) {
          const lines = block.split("\n")
          const data = lines.find((line) => line.startsWith("data: "))
          if (data === undefined || data.length <= 6) continue
          const id = lines.find((line) => line.startsWith("id: "))?.slice(4)
          events.push({ id, message: JSON.parse(data.slice(6)) })
          if (events.length >= stopAfter) {
            res.pause()
            return finish()
          }
        }
      })
      res.on("end", finish)
      res.on("close", finish)
      setTimeout(finish, 20_000).unref()
      res.resume()
    })
  )

/** Reads a whole (JSON) body. */
const readBody = (res: http.IncomingMessage) =>
  Effect.promise(() =>
    new Promise<unknown>((resolve) => {
      let text = ""
      res.setEncoding("utf8")
      res.on("data", (chunk: string) => (text += chunk))
      res.on("end", () => resolve(JSON.parse(text)))
      res.resume()
    })
  )

/** Polls (real time) until `count()` has not moved for 200 ms: the writer blocks; whether it did within 10 s. */
const blocked = (count: () => number) => {
  let last = -1
  let still = 0
  return eventually(() => {
    still = count() > 0 && count() === last ? still + 1 : 0
    last = count()
    return still >= 40
  })
}

/** What the handlers of `httpServer` did. */
interface HttpProbe {
  /** Floods' sends that completed (either way). */
  sent: number
  /** Typed errors of the floods' sends that failed. */
  readonly failures: Array<unknown>
}

const accept = { accept: "application/json, text/event-stream" }

/** Opens a session (initialize, then initialized); the headers of its requests. */
const openSession = (port: number) =>
  Effect.gen(function*() {
    const init = yield* exchange(port, "POST", accept, {
      jsonrpc: "2.0",
      id: 0,
      method: "initialize",
      params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "slow", version: "1" } }
    })
    init.resume()
    const session = { ...accept, "mcp-session-id": String(init.headers["mcp-session-id"]), "mcp-protocol-version": "2025-11-25" }
    const initializedRes = yield* exchange(port, "POST", session, { jsonrpc: "2.0", method: "notifications/initialized" })
    initializedRes.resume()
    return session
  })

/**
 * A Streamable HTTP server whose connections run the engine with these methods: `flood` sends FRAMES progress
 * notifications (10 KB each) on the request's own SSE response; `flood-get` sends FRAMES notifications that
 * belong to no request (the GET stream); `flood-stubborn` sends FRAMES on the request's response one after the
 * other, going on past failures; `flood-burst` sends FRAMES on it all at once (as many concurrent handlers
 * do); each counts the sends that completed in `sent` and keeps their typed errors in `failures`. `ping`
 * answers at once, `step` sends one progress notification and answers, `notify` sends one notification that
 * belongs to no request (`bulk` with i 7) and answers. Every server-side response is kept in `responses`.
 */
const httpServer = (maxBufferedBytes: number, extra: Partial<StreamableHttpServer.Options> = {}) =>
  Effect.gen(function*() {
    const progress: HttpProbe = { sent: 0, failures: [] }
    const responses: Array<http.ServerResponse> = []
    const handle = (transport: Transport.Transport) =>
      Effect.scoped(Effect.gen(function*() {
        const sendOnRequest = (request: { readonly id: JsonRpc.RequestId }, i: number) =>
          transport.send(JsonRpc.notification("notifications/progress", { progressToken: 1, progress: i, message: PAYLOAD }), {
            relatedRequestId: request.id
          }).pipe(
            Effect.tapError((error) => Effect.sync(() => progress.failures.push(error))),
            Effect.ensuring(Effect.sync(() => progress.sent++)),
            Effect.ignore
          )
        const protocol = yield* Protocol.make(transport, {
          handler: (method) => {
            switch (method) {
              case "initialize":
                return () => Effect.succeed({ protocolVersion: "2025-11-25", capabilities: {}, serverInfo: { name: "flood", version: "1" } })
              case "flood":
                return (request) =>
                  Effect.forEach(Array.from({ length: FRAMES }, (_, i) => i), (i) =>
                    Effect.andThen(request.sendProgress({ progress: i, message: PAYLOAD }), Effect.sync(() => progress.sent++)), { discard: true }).pipe(
                    Effect.as({ done: true })
                  )
              case "flood-get":
                return () =>
                  Effect.forEach(Array.from({ length: FRAMES }, (_, i) => i), (i) =>
                    Effect.andThen(transport.send(JsonRpc.notification("bulk", { i, payload: PAYLOAD })), Effect.sync(() => progress.sent++)), {
                    discard: true
                  }).pipe(Effect.as({ done: true }))
              case "flood-stubborn":
                return (request) =>
                  Effect.forEach(Array.from({ length: FRAMES }, (_, i) => i), (i) => sendOnRequest(request, i), { discard: true }).pipe(
                    Effect.as({ done: true })
                  )
              case "flood-burst":
                return (request) =>
                  Effect.forEach(Array.from({ length: FRAMES }, (_, i) => i), (i) => sendOnRequest(request, i), {
                    discard: true,
                    concurrency: "unbounded"
                  }).pipe(Effect.as({ done: true }))
              case "ping":
                return () => Effect.succeed({ pong: true })
              case "step":
                return (request) => Effect.as(request.sendProgress({ progress: 42 }), { done: true })
              case "notify":
                return () => Effect.as(transport.send(JsonRpc.notification("bulk", { i: 7 })), { done: true })
              default:
                return undefined
            }
          }
        })
        yield* protocol.closed
      }))
    const server = yield* StreamableHttpServer.serve({
      port: 0,
      maxBufferedBytes,
      keepAliveInterval: "1 hour",
      routes: (_request, res) => {
        responses.push(res)
        return false
      },
      ...extra
    }, handle)
    const session = yield* openSession(server.port)
    return { server, session, progress, responses }
  })

/** The `i` of a progress notification or a `bulk` one. */
const progressIndex = (message: unknown): number => {
  const m = message as { readonly method?: string; readonly params?: { readonly progress?: unknown; readonly i?: unknown } }
  if (m.method === "notifications/progress" && typeof m.params?.progress === "number") return m.params.progress
  return typeof m.params?.i === "number" ? m.params.i : -1
}

/** The writer side of a server's responses: bytes waiting in any of them, and drain listeners on any of them. */
const responsesProbe = (responses: ReadonlyArray<http.ServerResponse>): Probe => ({
  buffered: () => responses.reduce((max, res) => Math.max(max, res.writableLength), 0),
  drainListeners: () => responses.reduce((max, res) => Math.max(max, res.listenerCount("drain")), 0)
})

describe("FM-48 backpressure, Streamable HTTP (real sockets)", () => {
  it.live("Streamable HTTP, SSE response: a slow reader gets 3,000 events of 10 KB, in order, and the handler's sends wait for it", () =>
    Effect.gen(function*() {
      const { progress, responses, server, session } = yield* httpServer(BOUND)
      const max = yield* sample(responsesProbe(responses))
      const res = yield* exchange(server.port, "POST", session, { jsonrpc: "2.0", id: 1, method: "flood", params: { _meta: { progressToken: 1 } } })
      expect(String(res.headers["content-type"])).toMatch(/text\/event-stream/)
      const run = yield* readSseSlowly(res, () => progress.sent, FRAMES)
      const stats = yield* server.stats
      expect(stats.slowReadersCut).toBe(0)
      expect(run.received).toEqual(Array.from({ length: FRAMES }, (_, i) => i))
      const [, after150, atEnd] = run.sentAtPause
      expect(atEnd).toBe(after150)
      expect(atEnd).toBeLessThan(FRAMES)
      // the response's own buffer stayed under the bound; one drain listener per response, whatever the writes
      expect(max.buffered).toBeLessThanOrEqual(BOUND)
      expect(max.drainListeners).toBe(1)
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)), 60_000)

  it.live("Streamable HTTP, GET stream: a slow reader gets 3,000 events of 10 KB, in order, and the sends wait for it", () =>
    Effect.gen(function*() {
      const { progress, responses, server, session } = yield* httpServer(BOUND)
      const max = yield* sample(responsesProbe(responses))
      const get = yield* exchange(server.port, "GET", { ...session, accept: "text/event-stream" })
      expect(get.statusCode).toBe(200)
      // the POST's own (JSON) answer comes after the flood, which waits for the GET stream's reader: not awaited here
      const posting = yield* Effect.forkChild(exchange(server.port, "POST", session, { jsonrpc: "2.0", id: 1, method: "flood-get" }))
      const run = yield* readSseSlowly(get, () => progress.sent, FRAMES)
      const post = yield* Fiber.join(posting)
      expect(yield* readBody(post)).toMatchObject({ id: 1, result: { done: true } })
      const stats = yield* server.stats
      expect(stats.slowReadersCut).toBe(0)
      expect(run.received).toEqual(Array.from({ length: FRAMES }, (_, i) => i))
      const [, after150, atEnd] = run.sentAtPause
      expect(atEnd).toBe(after150)
      expect(atEnd).toBeLessThan(FRAMES)
      expect(max.buffered).toBeLessThanOrEqual(BOUND)
      expect(max.drainListeners).toBe(1)
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)), 60_000)

  it.effect("Streamable HTTP: a reader that stops for good holds the sends, is cut after stallTimeout with TransportFailure (FM-15), and resumes with Last-Event-ID without a gap (TestClock)", () =>
    Effect.gen(function*() {
      const { progress, server, session } = yield* httpServer(BOUND, {
        stallTimeout: "30 seconds",
        // room for every event, so that the resumed stream can be checked whole
        eventStore: { maxEvents: 2 * FRAMES, maxBytes: 64 * 1024 * 1024 }
      })
      const res = yield* exchange(server.port, "POST", session, { jsonrpc: "2.0", id: 1, method: "flood-stubborn" })
      expect(String(res.headers["content-type"])).toMatch(/text\/event-stream/)
      // the client reads 100 events, then stops reading for good
      const head = (yield* readEvents(res, 100)).map((e) => ({ id: e.id, i: progressIndex(e.message) }))
      expect(head.map((e) => e.i)).toEqual(Array.from({ length: 100 }, (_, i) => i))
      // the handler's sends wait for it instead of buffering ~30 MB: they stop short of FRAMES
      expect(yield* blocked(() => progress.sent)).toBe(true)
      const stalledAt = progress.sent
      expect(stalledAt).toBeLessThan(FRAMES)
      expect(progress.failures).toEqual([])
      yield* TestClock.adjust("29 seconds")
      yield* realSleep(30)
      expect(progress.sent).toBe(stalledAt)
      expect(progress.failures).toEqual([])
      yield* TestClock.adjust("1 second")
      // the waiting send fails, typed; the response is cut; the rest of the stream goes to the event store
      expect(yield* eventually(() => progress.sent === FRAMES)).toBe(true)
      expect(progress.failures).toHaveLength(1)
      expect(progress.failures[0]).toMatchObject({ _tag: "TransportFailure", cause: { mode: "FM-15", stallTimeoutMs: 30_000 } })
      expect((yield* server.stats).slowReadersCut).toBe(1)
      res.destroy()
      // the client resumes from the last event it read and gets everything it missed, then the answer
      const lastId = head[head.length - 1]!.id!
      const resumed = yield* exchange(server.port, "GET", { ...session, accept: "text/event-stream", "last-event-id": lastId })
      expect(resumed.statusCode).toBe(200)
      const rest = yield* readEvents(resumed)
      const answer = rest[rest.length - 1]!.message
      expect(answer).toMatchObject({ id: 1, result: { done: true } })
      expect(rest.slice(0, -1).map((e) => progressIndex(e.message))).toEqual(Array.from({ length: FRAMES - 100 }, (_, i) => 100 + i))
      // the session goes on
      const ping = yield* exchange(server.port, "POST", session, { jsonrpc: "2.0", id: 2, method: "ping" })
      expect(yield* readBody(ping)).toMatchObject({ id: 2, result: { pong: true } })
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)), 30_000)

  it.live("Streamable HTTP: sends that pile up on a reader that stopped are cut at maxBufferedBytes with TransportFailure (FM-15); the session goes on", () =>
    Effect.gen(function*() {
      const { progress, responses, server, session } = yield* httpServer(BOUND, { stallTimeout: false })
      const max = yield* sample(responsesProbe(responses))
      // FRAMES concurrent sends (~30 MB) on one response whose client reads nothing
      const res = yield* exchange(server.port, "POST", session, { jsonrpc: "2.0", id: 1, method: "flood-burst" })
      expect(yield* eventually(() => progress.sent === FRAMES)).toBe(true)
      expect(progress.failures.length).toBeGreaterThan(0)
      expect(progress.failures[0]).toMatchObject({ _tag: "TransportFailure", cause: { mode: "FM-15", maxBufferedBytes: BOUND } })
      for (const failure of progress.failures) expect(failure).toBe(progress.failures[0])
      expect((yield* server.stats).slowReadersCut).toBe(1)
      // memory stayed bounded: at most the bound plus one event past it
      expect(max.buffered).toBeLessThanOrEqual(BOUND + 16 * 1024)
      res.destroy()
      const ping = yield* exchange(server.port, "POST", session, { jsonrpc: "2.0", id: 2, method: "ping" })
      expect(yield* readBody(ping)).toMatchObject({ id: 2, result: { pong: true } })
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)), 30_000)

  it.live("Streamable HTTP: a reader that stopped holds only the sends to its own response; the session's other requests, its GET stream and other sessions go on at once", () =>
    Effect.gen(function*() {
      const { progress, server, session } = yield* httpServer(BOUND)
      const flood = yield* exchange(server.port, "POST", session, { jsonrpc: "2.0", id: 1, method: "flood", params: { _meta: { progressToken: 1 } } })
      expect(yield* blocked(() => progress.sent)).toBe(true)
      const stalledAt = progress.sent
      expect(stalledAt).toBeLessThan(FRAMES)
      const started = Date.now()
      // the same session: a JSON answer, and an SSE response with a progress event before its answer
      const ping = yield* exchange(server.port, "POST", session, { jsonrpc: "2.0", id: 2, method: "ping" })
      expect(yield* readBody(ping)).toMatchObject({ id: 2, result: { pong: true } })
      const step = yield* exchange(server.port, "POST", session, { jsonrpc: "2.0", id: 3, method: "step", params: { _meta: { progressToken: 3 } } })
      const stepEvents = (yield* readEvents(step)).map((e) => e.message)
      expect(stepEvents).toMatchObject([{ method: "notifications/progress", params: { progress: 42 } }, { id: 3, result: { done: true } }])
      // the same session's GET stream
      const get = yield* exchange(server.port, "GET", { ...session, accept: "text/event-stream" })
      expect(get.statusCode).toBe(200)
      const notify = yield* exchange(server.port, "POST", session, { jsonrpc: "2.0", id: 4, method: "notify" })
      expect(yield* readBody(notify)).toMatchObject({ id: 4, result: { done: true } })
      expect((yield* readEvents(get, 1)).map((e) => e.message)).toMatchObject([{ method: "bulk", params: { i: 7 } }])
      // another session
      const other = yield* openSession(server.port)
      const otherPing = yield* exchange(server.port, "POST", other, { jsonrpc: "2.0", id: 2, method: "ping" })
      expect(yield* readBody(otherPing)).toMatchObject({ id: 2, result: { pong: true } })
      // all of it at once, while the flood still waits for its reader (not cut, not advanced)
      expect(Date.now() - started).toBeLessThan(5_000)
      expect(progress.sent).toBe(stalledAt)
      expect((yield* server.stats).slowReadersCut).toBe(0)
      get.destroy()
      flood.destroy()
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)), 30_000)
})
