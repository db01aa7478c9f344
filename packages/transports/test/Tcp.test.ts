import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/testing/TestClock"
import * as net from "node:net"
import { McpClient } from "@effect-mcp/client"
import { Protocol, type Transport } from "@effect-mcp/core"
import { JsonRpc, JsonRpcCodec } from "@effect-mcp/jsonrpc"
import * as SampleServer from "../../../apps/sample/src/SampleServer.ts"
import * as TcpTransport from "../src/TcpTransport.ts"
import { eventually, realSleep } from "./support/realTime.ts"

const withServer = (maxConnections?: number) =>
  Effect.gen(function*() {
    const server = yield* SampleServer.make
    return yield* TcpTransport.serve({ port: 0, ...(maxConnections === undefined ? {} : { maxConnections }) }, server.serve)
  })


/** A raw peer on a real socket: the lines it received and whether its connection is closed. */
interface RawPeer {
  readonly socket: net.Socket
  readonly lines: Array<string>
  readonly closed: () => boolean
  /** Resolves when the connection closes (or after `ms`, with false). */
  readonly awaitClose: (ms?: number) => Effect.Effect<boolean>
}

/** Connects a raw peer; `read: false` makes a peer that never reads. */
const rawPeer = (port: number, options: { readonly read?: boolean } = {}) =>
  Effect.promise(() =>
    new Promise<RawPeer>((resolve, reject) => {
      const socket = net.connect(port, "127.0.0.1")
      const lines: Array<string> = []
      let closed = false
      let rest = ""
      socket.on("error", () => {})
      socket.on("close", () => (closed = true))
      if (options.read !== false) {
        socket.setEncoding("utf8").on("data", (data: string) => {
          const parts = (rest + data).split("\n")
          rest = parts.pop()!
          lines.push(...parts)
        })
      } else socket.pause()
      socket.once("connect", () =>
        resolve({
          socket,
          lines,
          closed: () => closed,
          awaitClose: (ms = 5_000) => eventually(() => closed, ms)
        }))
      socket.once("error", reject)
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

const REFUSAL = /^\{"jsonrpc":"2\.0","id":null,"error":\{"code":-32010,"message":"[^"]+","data":\{"retryAfterMs":1000\}\}\}$/

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
      // the second socket gets the refusal frame and is closed
      const second = yield* rawPeer(listening.port)
      expect(yield* second.awaitClose()).toBe(true)
      expect(second.lines).toHaveLength(1)
      expect(second.lines[0]).toMatch(REFUSAL)
      expect(yield* first.callTool("echo", { message: "still served" })).toMatchObject({ content: [{ text: "still served" }] })
      expect(yield* listening.refused).toBe(1)
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))

  it.live("FM-36 a flood of 300 connections past a limit of 20: each refused one gets one retry-after frame; the served ones keep answering", () =>
    Effect.gen(function*() {
      const listening = yield* withServer(20)
      const served = yield* Effect.forEach(Array.from({ length: 20 }, (_, i) => i), (i) =>
        Effect.flatMap(TcpTransport.connect({ port: listening.port }), (t) => McpClient.connect(t, { info: { name: `s${i}`, version: "1" } })))
      expect(yield* listening.connections).toBe(20)
      // the flood, with the served clients calling throughout
      const [flood, during] = yield* Effect.all([
        Effect.forEach(Array.from({ length: 300 }), () => Effect.flatMap(rawPeer(listening.port), (peer) => Effect.as(peer.awaitClose(10_000), peer)), {
          concurrency: "unbounded"
        }),
        Effect.forEach(served, (c, i) => c.callTool("echo", { message: `during ${i}` }), { concurrency: "unbounded" })
      ], { concurrency: "unbounded" })
      expect(during.map((r) => r.content[0])).toEqual(served.map((_, i) => ({ type: "text", text: `during ${i}` })))
      for (const peer of flood) {
        expect(peer.closed()).toBe(true)
        expect(peer.lines).toHaveLength(1)
        expect(peer.lines[0]).toMatch(REFUSAL)
      }
      expect(yield* listening.refused).toBe(300)
      const after = yield* Effect.forEach(served, (c, i) => c.callTool("echo", { message: `after ${i}` }), { concurrency: "unbounded" })
      expect(after.map((r) => r.content[0])).toEqual(served.map((_, i) => ({ type: "text", text: `after ${i}` })))
      expect(yield* listening.connections).toBe(20)
      // the client transport turns the refusal into a ConnectionClosed that says so
      const refusedClient = yield* TcpTransport.connect({ port: listening.port })
      const error = yield* Effect.flip(Stream.runDrain(refusedClient.incoming))
      expect(error).toMatchObject({ _tag: "ConnectionClosed" })
      expect(error.message).toMatch(/refused the connection: Too many connections.*retry after 1000 ms/)
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)), 30_000)

  it.live("FM-36 a full server makes room for a new client by closing the oldest connection that never sent a message; clients that talk are never evicted", () =>
    Effect.gen(function*() {
      const listening = yield* withServer(3)
      // three silent connections (slowloris) fill the server
      const silentPeers = yield* Effect.forEach([1, 2, 3], () => rawPeer(listening.port))
      expect(yield* eventually(() => listening.connections.pipe(Effect.runSync) === 3)).toBe(true)
      // real clients still get in: each closes the oldest silent connection
      const clients = yield* Effect.forEach([0, 1, 2], (i) =>
        Effect.flatMap(TcpTransport.connect({ port: listening.port }), (t) => McpClient.connect(t, { info: { name: `c${i}`, version: "1" } })))
      for (const peer of silentPeers) expect(yield* peer.awaitClose(5_000)).toBe(true)
      expect(silentPeers.map((p) => p.lines.length)).toEqual([0, 0, 0])
      expect(yield* listening.evicted).toBe(3)
      const answers = yield* Effect.forEach(clients, (c, i) => c.callTool("echo", { message: `c${i}` }))
      expect(answers.map((r) => r.content[0])).toEqual([0, 1, 2].map((i) => ({ type: "text", text: `c${i}` })))
      // full of clients that talk: the next connection is refused, nobody is evicted
      const late = yield* rawPeer(listening.port)
      expect(yield* late.awaitClose(5_000)).toBe(true)
      expect(late.lines[0]).toMatch(REFUSAL)
      expect(yield* listening.evicted).toBe(3)
      expect(yield* listening.connections).toBe(3)
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)), 30_000)

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

  it.live("half-close: after the peer's FIN the server answers every request in flight, then closes", () =>
    Effect.gen(function*() {
      const listening = yield* TcpTransport.serve({ port: 0 }, (transport) =>
        Effect.scoped(Effect.gen(function*() {
          const protocol = yield* Protocol.make(transport, {
            handler: (method) => method === "slow" ? (request) => Effect.as(Effect.sleep("200 millis"), { n: request.params?.n }) : undefined
          })
          yield* protocol.closed
        })))
      const peer = yield* rawPeer(listening.port)
      peer.socket.end([1, 2, 3].map((n) => JSON.stringify(JsonRpc.request(n, "slow", { n })) + "\n").join(""))
      expect(yield* peer.awaitClose()).toBe(true)
      expect(peer.lines.map((l) => JSON.parse(l)).sort((a, b) => a.id - b.id)).toEqual(
        [1, 2, 3].map((n) => ({ jsonrpc: "2.0", id: n, result: { n } }))
      )
      expect(yield* Effect.andThen(realSleep(20), listening.connections)).toBe(0)
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))

  it.live("idle timeout: a silent peer is closed with a ConnectionClosed naming it; a talking peer is not", () =>
    Effect.gen(function*() {
      const { ended, handle } = yield* draining
      const listening = yield* TcpTransport.serve({ port: 0, idleTimeout: "300 millis" }, handle)
      const silent = yield* rawPeer(listening.port)
      expect(yield* silent.awaitClose(3_000)).toBe(true)
      const error = errorOf(yield* Deferred.await(ended))
      expect(error).toMatchObject({ _tag: "ConnectionClosed", mode: "FM-40" })
      expect(error?.message).toMatch(/idle timeout: no bytes received from .* for 300 ms/)
      // a peer that writes every 100 ms outlives several idle timeouts
      const talking = yield* rawPeer(listening.port)
      for (let i = 0; i < 8; i++) {
        talking.socket.write("\n")
        yield* realSleep(100)
      }
      expect(talking.closed()).toBe(false)
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))

  it.effect("idle timeout on Effect's Clock (TestClock): closed exactly when the peer has been silent for the timeout", () =>
    Effect.gen(function*() {
      const { ended, handle } = yield* draining
      const listening = yield* TcpTransport.serve({ port: 0, idleTimeout: "60 seconds", firstMessageTimeout: false }, handle)
      const peer = yield* rawPeer(listening.port)
      expect(yield* eventually(() => listening.connections.pipe(Effect.runSync) === 1)).toBe(true)
      yield* TestClock.adjust("59 seconds")
      yield* realSleep(30)
      expect(peer.closed()).toBe(false)
      // a byte at 59 s restarts the count
      peer.socket.write("\n")
      yield* realSleep(30)
      yield* TestClock.adjust("59 seconds")
      yield* realSleep(30)
      expect(peer.closed()).toBe(false)
      yield* TestClock.adjust("1 second")
      expect(yield* peer.awaitClose()).toBe(true)
      expect(errorOf(yield* Deferred.await(ended))?.message).toMatch(/idle timeout: .* for 60000 ms/)
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)), 15_000)

  it.effect("FM-36 slowloris: a connection that sends no complete message within firstMessageTimeout is closed; one that sent a message is kept (TestClock)", () =>
    Effect.gen(function*() {
      const { ended, handle } = yield* draining
      const listening = yield* TcpTransport.serve({ port: 0 }, handle)
      // one peer says nothing, one trickles a frame without ever ending it, one sends a whole message
      const silent = yield* rawPeer(listening.port)
      const trickler = yield* rawPeer(listening.port)
      const talker = yield* rawPeer(listening.port)
      expect(yield* eventually(() => listening.connections.pipe(Effect.runSync) === 3)).toBe(true)
      trickler.socket.write('{"jsonrpc":"2.0","id":1,')
      talker.socket.write('{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
      yield* realSleep(30)
      yield* TestClock.adjust("29 seconds")
      yield* realSleep(30)
      expect([silent.closed(), trickler.closed(), talker.closed()]).toEqual([false, false, false])
      // the default bound: 30 s from accept
      yield* TestClock.adjust("1 second")
      expect(yield* silent.awaitClose()).toBe(true)
      expect(yield* trickler.awaitClose()).toBe(true)
      expect(errorOf(yield* Deferred.await(ended))?.message).toMatch(/sent no complete message within 30000 ms of connecting \(slowloris, FM-36\)/)
      yield* realSleep(30)
      expect(talker.closed()).toBe(false)
      expect(yield* listening.connections).toBe(1)
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)), 15_000)

  it.live("FM-31 heartbeat: MCP peers answer the probe in both eras and never see it; a peer that does not answer is dropped", () =>
    Effect.gen(function*() {
      const sample = yield* SampleServer.make
      const heartbeat = { method: "ping", interval: "50 millis", timeout: "300 millis" } as const
      const listening = yield* TcpTransport.serve({ port: 0, heartbeat }, sample.serve)
      // the server probes its clients, and the clients probe the server
      const clients = yield* Effect.forEach(["2026-07-28", "2025-11-25"] as const, (revision) =>
        Effect.flatMap(TcpTransport.connect({ port: listening.port, heartbeat }), (t) =>
          McpClient.connect(t, { info: { name: revision, version: "1" }, revisions: [revision] })))
      yield* realSleep(500)
      expect(yield* listening.connections).toBe(2)
      for (const client of clients) expect(yield* client.callTool("echo", { message: "alive" })).toMatchObject({ content: [{ text: "alive" }] })
      // a peer that reads but never answers
      const mute = yield* rawPeer(listening.port)
      expect(yield* mute.awaitClose(3_000)).toBe(true)
      expect(JSON.parse(mute.lines[0]!)).toMatchObject({ jsonrpc: "2.0", method: "ping", id: expect.stringMatching(/^heartbeat:/) })
      expect(yield* listening.connections).toBe(2)
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))

  it.live("FM-31 heartbeat replies are consumed by the transport: the layer above sees only its own traffic", () =>
    Effect.gen(function*() {
      const diagnostics: Array<string> = []
      const listening = yield* TcpTransport.serve({ port: 0 }, (transport) =>
        Effect.scoped(Effect.gen(function*() {
          const protocol = yield* Protocol.make(transport, {
            handler: (method) => method === "ping" || method === "echo" ? (request) => Effect.succeed(request.params ?? {}) : undefined,
            onDiagnostic: (d) => Effect.sync(() => diagnostics.push(d._tag))
          })
          yield* protocol.closed
        })))
      const transport = yield* TcpTransport.connect({ port: listening.port, heartbeat: { method: "ping", interval: "20 millis" } })
      const seen: Array<unknown> = []
      yield* Effect.forkScoped(Stream.runForEach(transport.incoming, (d) => Effect.sync(() => seen.push(d))))
      yield* realSleep(300)
      expect(seen).toEqual([])
      yield* transport.send(JsonRpc.request(1, "echo", { x: 1 }))
      expect(yield* eventually(() => seen.length === 1)).toBe(true)
      expect(seen[0]).toMatchObject({ _tag: "Success", success: { id: 1, result: { x: 1 } } })
      expect(diagnostics).toEqual([])
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))

  it.effect("FM-31 heartbeat on Effect's Clock (TestClock): probes every interval; only the peer that misses the deadline is dropped", () =>
    Effect.gen(function*() {
      const { handle } = yield* draining
      const listening = yield* TcpTransport.serve({ port: 0, heartbeat: { method: "ping", interval: "30 seconds", timeout: "10 seconds" }, firstMessageTimeout: false }, handle)
      const answering = yield* rawPeer(listening.port)
      const mute = yield* rawPeer(listening.port)
      expect(yield* eventually(() => Effect.runSync(listening.connections) === 2)).toBe(true)
      /** Advances the clock to just before `at` (no probe yet), then to `at` (a probe): answers it. */
      const probeAt = (count: number) =>
        Effect.gen(function*() {
          yield* TestClock.adjust("19 seconds")
          yield* realSleep(30)
          expect(answering.lines).toHaveLength(count - 1)
          yield* TestClock.adjust("1 second")
          expect(yield* eventually(() => answering.lines.length === count)).toBe(true)
          const probe = JSON.parse(answering.lines[count - 1]!)
          expect(probe).toMatchObject({ jsonrpc: "2.0", method: "ping", id: expect.stringMatching(/^heartbeat:/) })
          answering.socket.write(JSON.stringify(JsonRpc.success(probe.id, {})) + "\n")
          yield* realSleep(30)
        })
      // t = 30 s: the first probe, to both; at 40 s the mute peer has missed its deadline
      yield* TestClock.adjust("10 seconds")
      yield* probeAt(1)
      yield* TestClock.adjust("9 seconds")
      yield* realSleep(30)
      expect(mute.closed()).toBe(false)
      yield* TestClock.adjust("1 second")
      expect(yield* mute.awaitClose()).toBe(true)
      expect(mute.lines).toHaveLength(1)
      expect(answering.closed()).toBe(false)
      // the next probe comes an interval after the answer (t = 60 s); answered, the peer stays
      yield* probeAt(2)
      yield* TestClock.adjust("10 seconds")
      yield* realSleep(30)
      expect(answering.closed()).toBe(false)
      expect(Effect.runSync(listening.connections)).toBe(1)
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)), 15_000)

  it.live("FM-15 reading pauses while the consumer is slow: the peer's writes stall, nothing piles up, nothing is lost", () =>
    Effect.gen(function*() {
      const go = yield* Deferred.make<void>()
      const count = yield* Deferred.make<number>()
      let serverSocket: net.Socket | undefined
      let consumed = 0
      const server = net.createServer({ allowHalfOpen: true })
      const context = yield* Effect.context<JsonRpcCodec.JsonRpcCodec>()
      server.on("connection", (socket) => {
        serverSocket = socket
        Effect.runFork(Effect.scoped(Effect.gen(function*() {
          const transport = yield* TcpTransport.fromSocket(socket, "test")
          // a consumer that is running but slow: it takes 100 frames, then stalls until `go`
          yield* Stream.runForEach(transport.incoming, () => ++consumed === 100 ? Deferred.await(go) : Effect.void)
          yield* Deferred.succeed(count, consumed)
        })).pipe(Effect.provide(context)))
      })
      yield* Effect.acquireRelease(
        Effect.promise(() => new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()))),
        () => Effect.sync(() => server.close())
      )
      const peer = yield* rawPeer((server.address() as net.AddressInfo).port)
      const line = JSON.stringify(JsonRpc.notification("n", { pad: "x".repeat(1_000) })) + "\n"
      const frames = 32_000 // ~33 MB: far more than the kernel's buffers
      peer.socket.end(line.repeat(frames))
      expect(yield* eventually(() => consumed === 100, 5_000)).toBe(true)
      yield* realSleep(500)
      // the consumer is stalled: the server holds at most a read buffer's worth, the rest waits at the peer
      expect(consumed).toBe(100)
      expect(serverSocket!.readableLength).toBeLessThan(1024 * 1024)
      const waiting = peer.socket.writableLength
      expect(waiting).toBeGreaterThan(16 * 1024 * 1024)
      // and it stays there: nothing more is taken from the socket while the consumer does not pull
      yield* realSleep(500)
      expect(consumed).toBe(100)
      expect(waiting - peer.socket.writableLength).toBeLessThan(256 * 1024)
      yield* Deferred.succeed(go, undefined)
      expect(yield* Deferred.await(count)).toBe(frames)
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)), 20_000)

  it.live("FM-15 a slow reader gets every frame in order and stays under maxBufferedBytes (backpressure, not buffering)", () =>
    Effect.gen(function*() {
      const done = yield* Deferred.make<Exit.Exit<void, unknown>>()
      const payload = "y".repeat(64 * 1024)
      const frames = 64 // 4 MiB through a 2 MiB bound
      const listening = yield* TcpTransport.serve({ port: 0, maxBufferedBytes: 2 * 1024 * 1024 }, (transport) =>
        Effect.forEach(Array.from({ length: frames }, (_, i) => i), (i) => transport.send(JsonRpc.notification("bulk", { i, payload })), {
          concurrency: 4,
          discard: true
        }).pipe(Effect.exit, Effect.flatMap((exit) => Deferred.succeed(done, exit))))
      const peer = yield* rawPeer(listening.port)
      // read in bursts with pauses
      const reading = setInterval(() => (peer.socket.isPaused() ? peer.socket.resume() : peer.socket.pause()), 20)
      yield* Effect.addFinalizer(() => Effect.sync(() => clearInterval(reading)))
      expect(yield* Deferred.await(done)).toMatchObject({ _tag: "Success" })
      expect(yield* eventually(() => peer.lines.length === frames, 10_000)).toBe(true)
      expect(peer.lines.map((l) => JSON.parse(l).params.i)).toEqual(Array.from({ length: frames }, (_, i) => i))
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)), 20_000)

  it.live("FM-15 a reader that never reads is disconnected once maxBufferedBytes wait for it (typed TransportFailure)", () =>
    Effect.gen(function*() {
      const result = yield* Deferred.make<{ sends: Array<Exit.Exit<void, unknown>>; incoming: Exit.Exit<void, unknown> }>()
      const payload = "z".repeat(256 * 1024)
      const listening = yield* TcpTransport.serve({ port: 0, maxBufferedBytes: 2 * 1024 * 1024 }, (transport) =>
        Effect.gen(function*() {
          // many handlers answering at once: 16 MiB for a peer that reads nothing
          const sends = yield* Effect.forEach(Array.from({ length: 64 }, (_, i) => i), (i) =>
            Effect.exit(transport.send(JsonRpc.notification("bulk", { i, payload }))), { concurrency: "unbounded" })
          const incoming = yield* Effect.exit(Stream.runDrain(transport.incoming))
          yield* Deferred.succeed(result, { sends, incoming })
        }))
      const peer = yield* rawPeer(listening.port, { read: false })
      const { incoming, sends } = yield* Deferred.await(result)
      const failure = errorOf(incoming) as Transport.TransportError
      expect(failure).toMatchObject({ _tag: "TransportFailure", cause: { mode: "FM-15", maxBufferedBytes: 2 * 1024 * 1024 } })
      expect(failure.message).toMatch(/the peer is not reading \(FM-15\)/)
      const failed = sends.filter(Exit.isFailure)
      expect(failed.length).toBeGreaterThan(0)
      for (const exit of failed) expect(errorOf(exit)).toBe(failure)
      // the peer, once it reads again, finds the connection closed
      peer.socket.resume()
      expect(yield* peer.awaitClose()).toBe(true)
      expect(yield* eventually(() => Effect.runSync(listening.connections) === 0)).toBe(true)
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)), 20_000)

  it.effect("FM-15 a send that waits stallTimeout for a peer that reads nothing disconnects it (TestClock)", () =>
    Effect.gen(function*() {
      const result = yield* Deferred.make<Exit.Exit<void, unknown>>()
      let sent = 0
      const payload = "s".repeat(64 * 1024)
      const listening = yield* TcpTransport.serve({ port: 0, stallTimeout: "30 seconds" }, (transport) =>
        Effect.gen(function*() {
          // one frame at a time: backpressure keeps memory bounded, the stall bound ends the wait
          while (true) {
            yield* transport.send(JsonRpc.notification("bulk", { payload }))
            sent++
          }
        }).pipe(Effect.exit, Effect.flatMap((exit) => Deferred.succeed(result, exit))))
      const peer = yield* rawPeer(listening.port, { read: false })
      // wait until the sender is blocked on the socket (no progress for 200 ms of polling)
      let last = -1
      let still = 0
      expect(yield* eventually(() => {
        still = sent > 0 && sent === last ? still + 1 : 0
        last = sent
        return still >= 40
      }, 10_000)).toBe(true)
      yield* realSleep(100)
      yield* TestClock.adjust("29 seconds")
      yield* realSleep(30)
      expect(peer.closed()).toBe(false)
      yield* TestClock.adjust("1 second")
      const error = errorOf(yield* Deferred.await(result)) as Transport.TransportError
      expect(error).toMatchObject({ _tag: "TransportFailure", cause: { mode: "FM-15", stallTimeoutMs: 30_000 } })
      expect(error.message).toMatch(/not reading \(FM-15\): nothing it was sent has been read for 30000 ms/)
      peer.socket.resume()
      expect(yield* peer.awaitClose()).toBe(true)
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)), 20_000)

  it.live("TCP keep-alive is on by default and can be turned off", () =>
    Effect.gen(function*() {
      const calls: Array<[boolean, number]> = []
      const make = (keepAlive?: false) =>
        Effect.gen(function*() {
          const [a, b] = yield* Effect.promise(() =>
            new Promise<[net.Socket, net.Socket]>((resolve) => {
              let client: net.Socket
              const server = net.createServer((s) => {
                server.close()
                resolve([s, client])
              }).listen(0, "127.0.0.1", () => {
                client = net.connect((server.address() as net.AddressInfo).port, "127.0.0.1")
              })
            })
          )
          const original = a.setKeepAlive.bind(a)
          a.setKeepAlive = (enable?: boolean, delay?: number) => {
            calls.push([enable ?? false, delay ?? 0])
            return original(enable, delay)
          }
          yield* Effect.addFinalizer(() => Effect.sync(() => b.destroy()))
          yield* TcpTransport.fromSocket(a, "keepalive", keepAlive === false ? { keepAlive: false } : {})
        })
      yield* make()
      yield* make(false)
      expect(calls).toEqual([[true, 30_000]])
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))
})
