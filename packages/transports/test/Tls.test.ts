import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/testing/TestClock"
import * as fs from "node:fs"
import * as net from "node:net"
import * as tls from "node:tls"
import { McpClient } from "@effect-mcp/client"
import type { Transport } from "@effect-mcp/core"
import { JsonRpc, JsonRpcCodec } from "@effect-mcp/jsonrpc"
import * as SampleServer from "../../../apps/sample/src/SampleServer.ts"
import * as ReconnectingTransport from "../src/ReconnectingTransport.ts"
import * as TcpTransport from "../src/TcpTransport.ts"
import * as WebSocketTransport from "../src/WebSocketTransport.ts"
import * as StreamableHttpClient from "../src/StreamableHttpClient.ts"
import * as StreamableHttpServer from "../src/StreamableHttpServer.ts"
import * as RealTime from "./support/realTime.ts"

/** A test-only fixture (see fixtures/tls/README.md). */
const pem = (name: string) => fs.readFileSync(new URL(`./fixtures/tls/${name}`, import.meta.url))
const CA = pem("ca.crt")
const SERVER = { key: pem("server.key"), cert: pem("server.crt") }
const EXPIRED = { key: pem("expired.key"), cert: pem("expired.crt") }
const WRONG_NAME = { key: pem("wrongname.key"), cert: pem("wrongname.crt") }
const SELF_SIGNED = { key: pem("selfsigned.key"), cert: pem("selfsigned.crt") }
const CLIENT = { key: pem("client.key"), cert: pem("client.crt") }

const INFO = { info: { name: "tls-test", version: "1" } }

/** Polls `condition` in real time for up to 3_000 ms by default. */
const eventually = (condition: () => boolean, ms = 3_000) => RealTime.eventually(condition, ms)
const realSleep = RealTime.realSleep

/** A resolver that answers 127.0.0.1 for every name. */
const localhost: net.LookupFunction = (_host, options, callback) =>
  options.all === true
    ? (callback as (error: null, addresses: Array<{ address: string; family: number }>) => void)(null, [{ address: "127.0.0.1", family: 4 }])
    : callback(null, "127.0.0.1", 4)

const now = <A>(effect: Effect.Effect<A>): A => Effect.runSync(effect)

/** A sample MCP server over TLS on TCP. */
const tcpServer = (tlsOptions: TcpTransport.TlsServerOptions, options: Partial<TcpTransport.ServerOptions> = {}) =>
  Effect.flatMap(SampleServer.make, (sample) => TcpTransport.serve({ port: 0, ...options, tls: tlsOptions }, sample.serve))

/** A sample MCP server over TLS on WebSocket (`wss://`). */
const wsServer = (tlsOptions: TcpTransport.TlsServerOptions, options: Partial<WebSocketTransport.ServerOptions> = {}) =>
  Effect.flatMap(SampleServer.make, (sample) => WebSocketTransport.serve({ port: 0, ...options, tls: tlsOptions }, sample.serve))

/** A sample MCP server over HTTPS (Streamable HTTP). */
const httpsServer = (tlsOptions: TcpTransport.TlsServerOptions, options: Partial<StreamableHttpServer.Options> = {}) =>
  Effect.flatMap(SampleServer.make, (sample) => StreamableHttpServer.serve({ port: 0, ...options, tls: tlsOptions }, sample.serve))

/** What the first message sent over a Streamable HTTP client of `url` fails with (its TLS failure, here). */
const httpsSendFailure = (url: string, tlsOptions?: TcpTransport.TlsClientOptions) =>
  Effect.gen(function*() {
    const transport = yield* StreamableHttpClient.connect({ url, standaloneStream: false, ...(tlsOptions === undefined ? {} : { tls: tlsOptions }) })
    return yield* Effect.flip(transport.send(JsonRpc.request(1, "initialize", {
      protocolVersion: "2025-11-25",
      capabilities: {},
      clientInfo: { name: "tls-test", version: "1" }
    })))
  })

/** A raw TCP peer: whether it is closed, and what it received. */
const rawPeer = (port: number, send?: string | Uint8Array) =>
  Effect.promise(() =>
    new Promise<{ readonly socket: net.Socket; readonly closed: () => boolean; readonly received: () => string }>((resolve, reject) => {
      const socket = net.connect(port, "127.0.0.1")
      let closed = false
      let received = ""
      socket.on("error", () => {})
      socket.on("close", () => (closed = true))
      socket.on("data", (data) => (received += data.toString("latin1")))
      socket.once("connect", () => {
        if (send !== undefined) socket.write(send)
        resolve({ socket, closed: () => closed, received: () => received })
      })
      socket.once("error", reject)
    })
  )

/** The first bytes of a TLS ClientHello (a record header and the start of the message): a handshake left hanging. */
const PARTIAL_CLIENT_HELLO = Uint8Array.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03])

/**
 * A handshake left hanging on a listener whose `handshakeTimeout` is 3 s: still open at 2 s on the TestClock,
 * dropped at 3 s and counted once in `failures`.
 */
const hangingHandshakeDropped = (port: number, failures: Effect.Effect<number>) =>
  Effect.gen(function*() {
    const partial = yield* rawPeer(port, PARTIAL_CLIENT_HELLO)
    yield* realSleep(50)
    yield* TestClock.adjust("2 seconds")
    yield* realSleep(50)
    expect(partial.closed()).toBe(false)
    yield* TestClock.adjust("1 second")
    expect(yield* eventually(partial.closed)).toBe(true)
    expect(yield* eventually(() => now(failures) === 1)).toBe(true)
  })

/**
 * A TCP proxy on 127.0.0.1 in front of `target` that can flip one bit of the next TLS application-data record
 * going one way (the last byte of the chunk: inside the record's authentication tag).
 */
const corruptingProxy = (target: number) =>
  Effect.acquireRelease(
    Effect.promise(() =>
      new Promise<{
        readonly server: net.Server
        readonly port: number
        readonly sockets: Set<net.Socket>
        readonly armed: { toClient: boolean; toServer: boolean }
        readonly flipped: Array<"toClient" | "toServer">
      }>((resolve) => {
        const sockets = new Set<net.Socket>()
        const armed = { toClient: false, toServer: false }
        const flipped: Array<"toClient" | "toServer"> = []
        const corrupt = (chunk: Buffer, direction: "toClient" | "toServer"): Buffer => {
          // 0x17: an application-data record (after the handshake), long enough to hold a tag
          if (!armed[direction] || chunk[0] !== 0x17 || chunk.length < 32) return chunk
          armed[direction] = false
          flipped.push(direction)
          const copy = Buffer.from(chunk)
          copy[copy.length - 1] = copy[copy.length - 1]! ^ 0x01
          return copy
        }
        const server = net.createServer((client) => {
          const upstream = net.connect(target, "127.0.0.1")
          for (const socket of [client, upstream]) {
            sockets.add(socket)
            socket.on("error", () => {})
            socket.on("close", () => {
              sockets.delete(socket)
              client.destroy()
              upstream.destroy()
            })
          }
          client.on("data", (chunk: Buffer) => upstream.write(corrupt(chunk, "toServer")))
          upstream.on("data", (chunk: Buffer) => client.write(corrupt(chunk, "toClient")))
        })
        server.listen(0, "127.0.0.1", () => resolve({ server, port: (server.address() as net.AddressInfo).port, sockets, armed, flipped }))
      })
    ),
    (proxy) =>
      Effect.promise(() =>
        new Promise<void>((resolve) => {
          for (const socket of proxy.sockets) socket.destroy()
          proxy.server.close(() => resolve())
        })
      )
  )

const codec = Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)

describe("TLS over TCP (real sockets on 127.0.0.1)", () => {
  it.live("TLS over TCP: MCP clients in both eras call tools on a TLS server that verifies their CA and name", () =>
    Effect.gen(function*() {
      const listening = yield* tcpServer(SERVER)
      const clients = yield* Effect.forEach(["2026-07-28", "2025-11-25"] as const, (revision) =>
        Effect.flatMap(
          TcpTransport.connect({ port: listening.port, tls: { ca: CA } }),
          (transport) => McpClient.connect(transport, { ...INFO, revisions: [revision] })
        ))
      expect(clients.map((c) => c.server.revision)).toEqual(["2026-07-28", "2025-11-25"])
      const results = yield* Effect.forEach(clients, (c, i) => c.callTool("echo", { message: `tls ${i}` }), { concurrency: "unbounded" })
      expect(results.map((r) => r.content[0])).toEqual([{ type: "text", text: "tls 0" }, { type: "text", text: "tls 1" }])
      // by name too (SNI and the name check use "localhost")
      const byName = yield* Effect.flatMap(
        TcpTransport.connect({ host: "localhost", port: listening.port, tls: { ca: CA }, lookup: localhost }),
        (transport) => McpClient.connect(transport, INFO)
      )
      expect(yield* byName.callTool("echo", { message: "by name" })).toMatchObject({ content: [{ text: "by name" }] })
      expect(yield* listening.connections).toBe(3)
      expect(yield* listening.tlsFailures).toBe(0)
    }).pipe(Effect.scoped, codec), 10_000)

  it.live("FM-29 an expired server certificate: connect fails with TlsFailure CERT_HAS_EXPIRED, not retryable", () =>
    Effect.gen(function*() {
      const listening = yield* tcpServer(EXPIRED)
      const error = yield* Effect.flip(TcpTransport.connect({ port: listening.port, tls: { ca: CA } }))
      expect(error).toMatchObject({ _tag: "TlsFailure", mode: "FM-29", host: "127.0.0.1", port: listening.port, code: "CERT_HAS_EXPIRED", retryable: false })
      expect(error.message).toMatch(/certificate has expired/)
      // the server saw the client give up on the handshake
      expect(yield* eventually(() => now(listening.tlsFailures) === 1)).toBe(true)
    }).pipe(Effect.scoped, codec), 10_000)

  it.live("FM-29 a certificate for another name: connect fails with TlsFailure ERR_TLS_CERT_ALTNAME_INVALID", () =>
    Effect.gen(function*() {
      const listening = yield* tcpServer(WRONG_NAME)
      const error = yield* Effect.flip(TcpTransport.connect({ port: listening.port, tls: { ca: CA } }))
      expect(error).toMatchObject({ _tag: "TlsFailure", mode: "FM-29", code: "ERR_TLS_CERT_ALTNAME_INVALID", retryable: false })
      expect(error.message).toMatch(/127\.0\.0\.1/)
      const byName = yield* Effect.flip(TcpTransport.connect({ port: listening.port, tls: { ca: CA, servername: "localhost" } }))
      expect(byName).toMatchObject({ _tag: "TlsFailure", code: "ERR_TLS_CERT_ALTNAME_INVALID" })
    }).pipe(Effect.scoped, codec), 10_000)

  it.live("FM-29 an unknown issuer: a self-signed server certificate and a CA the client does not trust are typed TlsFailures", () =>
    Effect.gen(function*() {
      const selfSigned = yield* tcpServer(SELF_SIGNED)
      const untrusted = yield* Effect.flip(TcpTransport.connect({ port: selfSigned.port, tls: { ca: CA } }))
      expect(untrusted).toMatchObject({ _tag: "TlsFailure", mode: "FM-29", code: "DEPTH_ZERO_SELF_SIGNED_CERT", retryable: false })
      const good = yield* tcpServer(SERVER)
      // the client trusts another issuer only (and, without `ca`, the system's CAs, which never signed ours)
      const otherCa = yield* Effect.flip(TcpTransport.connect({ port: good.port, tls: { ca: SELF_SIGNED.cert } }))
      expect(otherCa).toMatchObject({ _tag: "TlsFailure", mode: "FM-29", code: "UNABLE_TO_VERIFY_LEAF_SIGNATURE", retryable: false })
      const systemCas = yield* Effect.flip(TcpTransport.connect({ port: good.port, tls: {} }))
      expect(systemCas).toMatchObject({ _tag: "TlsFailure", mode: "FM-29", code: "UNABLE_TO_VERIFY_LEAF_SIGNATURE" })
      // a TLS client that reaches a plaintext server: the handshake fails, typed, not a hang
      const plain = yield* Effect.flatMap(SampleServer.make, (sample) => TcpTransport.serve({ port: 0 }, sample.serve))
      const mismatch = yield* Effect.flip(TcpTransport.connect({ port: plain.port, tls: { ca: CA }, connectTimeout: "3 seconds" }))
      expect(mismatch).toMatchObject({ _tag: "TlsFailure", mode: "FM-29" })
      expect((mismatch as Transport.TlsFailure).code).toMatch(/^ERR_SSL_|^ECONNRESET$/)
    }).pipe(Effect.scoped, codec), 10_000)

  it.live("FM-29 mTLS: a client without a certificate, or with one from an unknown issuer, is refused and counted; a client with a good one is served throughout", () =>
    Effect.gen(function*() {
      const listening = yield* tcpServer({ ...SERVER, ca: CA, requestCert: true })
      const good = yield* Effect.flatMap(
        TcpTransport.connect({ port: listening.port, tls: { ca: CA, ...CLIENT } }),
        (transport) => McpClient.connect(transport, INFO)
      )
      expect(yield* good.callTool("echo", { message: "mutual" })).toMatchObject({ content: [{ text: "mutual" }] })
      // without a certificate: TLS 1.3 finishes the client's side of the handshake, then the server's alert arrives
      const anonymous = yield* Effect.exit(Effect.flatMap(
        TcpTransport.connect({ port: listening.port, tls: { ca: CA } }),
        (transport) => McpClient.connect(transport, { ...INFO, requestTimeout: "3 seconds" })
      ))
      expect(anonymous._tag).toBe("Failure")
      const bare = yield* TcpTransport.connect({ port: listening.port, tls: { ca: CA } })
      const refusal = yield* Effect.flip(Stream.runDrain(bare.incoming))
      expect(refusal).toMatchObject({ _tag: "TlsFailure", mode: "FM-29", code: "ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED", retryable: false })
      // a certificate nobody vouches for: Node refuses it and closes the connection
      const rogue = yield* TcpTransport.connect({ port: listening.port, tls: { ca: CA, ...SELF_SIGNED } })
      yield* rogue.send(JsonRpc.request(1, "ping"))
      const rogueExit = yield* Effect.exit(Stream.runCollect(rogue.incoming))
      // closed without an answer (ended, or failed): nothing was served to it
      expect(Exit.isSuccess(rogueExit) ? rogueExit.value : []).toEqual([])
      expect(yield* eventually(() => now(listening.tlsFailures) === 3)).toBe(true)
      expect(yield* good.callTool("echo", { message: "still served" })).toMatchObject({ content: [{ text: "still served" }] })
      expect(yield* eventually(() => now(listening.connections) === 1)).toBe(true)
    }).pipe(Effect.scoped, codec), 10_000)

  it.live("FM-29 a plaintext client to a TLS server is refused and counted; the listener keeps serving", () =>
    Effect.gen(function*() {
      const listening = yield* tcpServer(SERVER)
      const plain = yield* rawPeer(listening.port, `${JSON.stringify(JsonRpc.request(1, "ping"))}\n`)
      expect(yield* eventually(plain.closed)).toBe(true)
      // nothing of MCP was answered: at most a TLS alert
      expect(plain.received()).not.toContain("jsonrpc")
      expect(yield* eventually(() => now(listening.tlsFailures) === 1)).toBe(true)
      const plainClient = yield* Effect.exit(TcpTransport.connect({ port: listening.port }).pipe(
        Effect.flatMap((transport) => McpClient.connect(transport, { ...INFO, requestTimeout: "3 seconds" }))
      ))
      expect(plainClient._tag).toBe("Failure")
      expect(yield* eventually(() => now(listening.tlsFailures) === 2)).toBe(true)
      const client = yield* Effect.flatMap(TcpTransport.connect({ port: listening.port, tls: { ca: CA } }), (t) => McpClient.connect(t, INFO))
      expect(yield* client.callTool("echo", { message: "served" })).toMatchObject({ content: [{ text: "served" }] })
      expect(yield* eventually(() => now(listening.connections) === 1)).toBe(true)
    }).pipe(Effect.scoped, codec), 10_000)

  it.effect("FM-29 a TLS slowloris (a handshake left hanging) holds a slot until handshakeTimeout, then is dropped and counted (TestClock)", () =>
    Effect.gen(function*() {
      const listening = yield* tcpServer({ ...SERVER, handshakeTimeout: "5 seconds" }, { maxConnections: 1 })
      const silent = yield* rawPeer(listening.port)
      const partial = yield* rawPeer(listening.port, PARTIAL_CLIENT_HELLO)
      expect(yield* eventually(() => now(listening.refused) === 1)).toBe(true)
      // the first holds the only slot: the second was refused (its refusal waits for its handshake)
      expect(yield* listening.connections).toBe(1)
      yield* TestClock.adjust("4 seconds")
      yield* realSleep(50)
      expect(silent.closed()).toBe(false)
      expect(partial.closed()).toBe(false)
      yield* TestClock.adjust("1 second")
      expect(yield* eventually(() => silent.closed() && partial.closed())).toBe(true)
      expect(yield* eventually(() => now(listening.tlsFailures) === 2)).toBe(true)
      expect(yield* eventually(() => now(listening.connections) === 0)).toBe(true)
      // the slot is free again: a real client is served
      const client = yield* Effect.flatMap(TcpTransport.connect({ port: listening.port, tls: { ca: CA } }), (t) => McpClient.connect(t, INFO))
      expect(yield* client.callTool("echo", { message: "after the stall" })).toMatchObject({ content: [{ text: "after the stall" }] })
    }).pipe(Effect.scoped, codec), 10_000)

  it.live("FM-36 over TLS a connection past maxConnections gets the refusal frame over TLS; the client reports it", () =>
    Effect.gen(function*() {
      const listening = yield* tcpServer(SERVER, { maxConnections: 1 })
      const first = yield* Effect.flatMap(TcpTransport.connect({ port: listening.port, tls: { ca: CA } }), (t) => McpClient.connect(t, INFO))
      const second = yield* TcpTransport.connect({ port: listening.port, tls: { ca: CA } })
      const error = yield* Effect.flip(Stream.runDrain(second.incoming))
      expect(error).toMatchObject({ _tag: "ConnectionClosed" })
      expect(error.message).toMatch(/refused the connection: Too many connections.*retry after 1000 ms/)
      expect(yield* listening.refused).toBe(1)
      expect(yield* listening.tlsFailures).toBe(0)
      expect(yield* first.callTool("echo", { message: "first" })).toMatchObject({ content: [{ text: "first" }] })
    }).pipe(Effect.scoped, codec), 10_000)

  it.effect("FM-29 a server that never finishes the handshake: connect fails after connectTimeout with TlsFailure ERR_TLS_HANDSHAKE_TIMEOUT (TestClock)", () =>
    Effect.gen(function*() {
      const sockets: Array<net.Socket> = []
      const mute = net.createServer((socket) => {
        sockets.push(socket)
        socket.on("error", () => {})
      })
      yield* Effect.acquireRelease(
        Effect.promise(() => new Promise<void>((resolve) => mute.listen(0, "127.0.0.1", () => resolve()))),
        () =>
          Effect.sync(() => {
            for (const socket of sockets) socket.destroy()
            mute.close()
          })
      )
      const port = (mute.address() as net.AddressInfo).port
      const connecting = yield* Effect.forkChild(Effect.flip(TcpTransport.connect({ port, tls: { ca: CA }, connectTimeout: "5 seconds" })))
      const wsConnecting = yield* Effect.forkChild(Effect.flip(WebSocketTransport.connect(`wss://127.0.0.1:${port}/mcp`, { tls: { ca: CA }, connectTimeout: "5 seconds" })))
      expect(yield* eventually(() => sockets.length === 2)).toBe(true)
      yield* TestClock.adjust("5 seconds")
      const error = yield* Fiber.join(connecting)
      expect(error).toMatchObject({ _tag: "TlsFailure", mode: "FM-29", code: "ERR_TLS_HANDSHAKE_TIMEOUT", retryable: true })
      expect(error.message).toMatch(/did not finish within 5000 ms/)
      const wsError = yield* Fiber.join(wsConnecting)
      expect(wsError).toMatchObject({ _tag: "TlsFailure", mode: "FM-29", code: "ERR_TLS_HANDSHAKE_TIMEOUT", retryable: true })
    }).pipe(Effect.scoped, codec), 10_000)
})

describe("FM-12 message corruption under TLS (a proxy flips one bit in flight)", () => {
  it.live("FM-12 a flipped bit in a TLS record fails the connection with TlsFailure (bad record MAC); nothing corrupted is delivered", () =>
    Effect.gen(function*() {
      const listening = yield* tcpServer(SERVER)
      const proxy = yield* corruptingProxy(listening.port)
      // server to client: the client's TLS layer rejects the record
      const transport = yield* TcpTransport.connect({ port: proxy.port, tls: { ca: CA, servername: "localhost" } })
      const delivered: Array<unknown> = []
      const reading = yield* Effect.forkChild(Effect.flip(Stream.runForEach(transport.incoming, (decoded) =>
        Effect.sync(() => {
          delivered.push(Result.isSuccess(decoded) ? decoded.success : decoded.failure)
        }))))
      yield* transport.send(JsonRpc.request(1, "ping"))
      expect(yield* eventually(() => delivered.length === 1)).toBe(true)
      expect(delivered[0]).toMatchObject({ jsonrpc: "2.0", id: 1, result: {} })
      proxy.armed.toClient = true
      yield* transport.send(JsonRpc.request(2, "ping"))
      const error = yield* Fiber.join(reading)
      expect(proxy.flipped).toEqual(["toClient"])
      expect(error).toMatchObject({ _tag: "TlsFailure", mode: "FM-12", retryable: true })
      expect((error as Transport.TlsFailure).code).toMatch(/^ERR_SSL_.*(BAD_RECORD_MAC|DECRYPTION_FAILED)/)
      // the answer to the corrupted record never reached the codec, let alone the application
      expect(delivered).toHaveLength(1)
      expect(yield* Effect.flip(transport.send(JsonRpc.request(3, "ping")))).toMatchObject({ _tag: "TlsFailure", mode: "FM-12" })

      // client to server: the server's TLS layer rejects the record and alerts the client
      const other = yield* TcpTransport.connect({ port: proxy.port, tls: { ca: CA, servername: "localhost" } })
      const otherDelivered: Array<unknown> = []
      const otherReading = yield* Effect.forkChild(Effect.flip(Stream.runForEach(other.incoming, (decoded) =>
        Effect.sync(() => {
          otherDelivered.push(decoded)
        }))))
      // a round trip first: the handshake is over on both sides
      yield* other.send(JsonRpc.request(1, "ping"))
      expect(yield* eventually(() => otherDelivered.length === 1)).toBe(true)
      proxy.armed.toServer = true
      yield* other.send(JsonRpc.request(2, "ping"))
      const otherError = yield* Fiber.join(otherReading)
      expect(proxy.flipped).toEqual(["toClient", "toServer"])
      expect(otherError).toMatchObject({ _tag: "TlsFailure", mode: "FM-12" })
      expect((otherError as Transport.TlsFailure).code).toMatch(/BAD_RECORD_MAC/)
      // the request in the corrupted record was never answered
      expect(otherDelivered).toHaveLength(1)
    }).pipe(Effect.scoped, codec), 10_000)

  it.live("FM-12 after a flipped bit kills the TLS connection, the reconnecting client reconnects and the next call is answered", () =>
    Effect.gen(function*() {
      const listening = yield* tcpServer(SERVER)
      const proxy = yield* corruptingProxy(listening.port)
      const reconnecting = yield* ReconnectingTransport.make({
        connect: TcpTransport.connect({ port: proxy.port, tls: { ca: CA, servername: "localhost" } }),
        backoff: { base: "20 millis", cap: "100 millis" }
      })
      const reasons: Array<string> = []
      let connections = 0
      yield* Effect.forkChild(Stream.runForEach(reconnecting.state, (state) =>
        Effect.sync(() => {
          if (state._tag === "Disconnected") reasons.push(state.reason)
          if (state._tag === "Connected") connections = state.connections
        })))
      // every message the application receives, checked below
      const delivered: Array<JsonRpcCodec.Decoded> = []
      const recorded: Transport.Transport = {
        ...reconnecting,
        incoming: Stream.tap(reconnecting.incoming, (decoded) => Effect.sync(() => delivered.push(decoded)))
      }
      const client = yield* McpClient.connect(recorded, { ...INFO, requestTimeout: "3 seconds" })
      expect(yield* client.callTool("echo", { message: "before" })).toMatchObject({ content: [{ text: "before" }] })
      proxy.armed.toClient = true
      const corrupted = yield* Effect.exit(client.callTool("echo", { message: "corrupted in flight" }))
      expect(proxy.flipped).toEqual(["toClient"])
      // the call fails (connection lost) rather than returning anything else
      expect(corrupted._tag).toBe("Failure")
      expect(yield* eventually(() => reasons.length >= 1)).toBe(true)
      expect(reasons[0]).toMatch(/FM-12/)
      expect(reasons[0]).toMatch(/BAD_RECORD_MAC|DECRYPTION_FAILED/)
      // the session is re-established on a new TLS connection
      expect(yield* eventually(() => connections === 2)).toBe(true)
      const after = yield* client.callTool("echo", { message: "after" })
      expect(after).toMatchObject({ content: [{ text: "after" }] })
      // nothing the application received was a corrupted or undecodable frame
      expect(delivered.every(Result.isSuccess)).toBe(true)
      const texts = JSON.stringify(delivered.map((d) => Result.isSuccess(d) ? d.success : null))
      expect(texts).toContain("before")
      expect(texts).toContain("after")
      expect(texts).not.toContain("corrupted in flight")
    }).pipe(Effect.scoped, codec), 10_000)
})

describe("TLS over WebSocket (wss:// on 127.0.0.1)", () => {
  it.live("TLS over WebSocket: an MCP client calls a tool over wss://; a plain HTTP request gets 426", () =>
    Effect.gen(function*() {
      const listening = yield* wsServer(SERVER)
      expect(listening.url).toBe(`wss://127.0.0.1:${listening.port}/mcp`)
      const client = yield* Effect.flatMap(WebSocketTransport.connect(listening.url, { tls: { ca: CA } }), (t) => McpClient.connect(t, INFO))
      expect(yield* client.callTool("echo", { message: "wss" })).toMatchObject({ content: [{ text: "wss" }] })
      expect(yield* listening.connections).toBe(1)
      const status = yield* Effect.promise(() =>
        new Promise<number | undefined>((resolve) => {
          const request = tls.connect({ port: listening.port, host: "127.0.0.1", ca: CA }, () => {
            request.write("GET /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
          })
          let text = ""
          request.on("data", (data) => (text += data.toString()))
          request.on("close", () => resolve(Number(/^HTTP\/1\.1 (\d+)/.exec(text)?.[1])))
          request.on("error", () => resolve(undefined))
        })
      )
      expect(status).toBe(426)
      expect(yield* listening.tlsFailures).toBe(0)
    }).pipe(Effect.scoped, codec), 10_000)

  it.live("FM-29 wss: expired, wrong-name and unknown-issuer certificates are typed TlsFailures", () =>
    Effect.gen(function*() {
      const expired = yield* wsServer(EXPIRED)
      expect(yield* Effect.flip(WebSocketTransport.connect(expired.url, { tls: { ca: CA } }))).toMatchObject({
        _tag: "TlsFailure",
        mode: "FM-29",
        host: "127.0.0.1",
        port: expired.port,
        code: "CERT_HAS_EXPIRED",
        retryable: false
      })
      const wrongName = yield* wsServer(WRONG_NAME)
      expect(yield* Effect.flip(WebSocketTransport.connect(wrongName.url, { tls: { ca: CA } }))).toMatchObject({
        _tag: "TlsFailure",
        code: "ERR_TLS_CERT_ALTNAME_INVALID"
      })
      const selfSigned = yield* wsServer(SELF_SIGNED)
      expect(yield* Effect.flip(WebSocketTransport.connect(selfSigned.url, { tls: { ca: CA } }))).toMatchObject({
        _tag: "TlsFailure",
        code: "DEPTH_ZERO_SELF_SIGNED_CERT"
      })
      // without `tls` a wss: URL trusts the system's CAs only
      const good = yield* wsServer(SERVER)
      expect(yield* Effect.flip(WebSocketTransport.connect(good.url))).toMatchObject({ _tag: "TlsFailure", code: "UNABLE_TO_VERIFY_LEAF_SIGNATURE" })
    }).pipe(Effect.scoped, codec), 10_000)

  it.live("FM-29 wss mTLS: a client without a certificate is refused and counted; one with a good certificate is served", () =>
    Effect.gen(function*() {
      const listening = yield* wsServer({ ...SERVER, ca: CA, requestCert: true })
      const good = yield* Effect.flatMap(WebSocketTransport.connect(listening.url, { tls: { ca: CA, ...CLIENT } }), (t) => McpClient.connect(t, INFO))
      const anonymous = yield* Effect.flip(WebSocketTransport.connect(listening.url, { tls: { ca: CA } }))
      expect(anonymous).toMatchObject({ _tag: "TlsFailure", mode: "FM-29", code: "ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED" })
      const plain = yield* rawPeer(listening.port, "GET /mcp HTTP/1.1\r\nHost: x\r\n\r\n")
      expect(yield* eventually(plain.closed)).toBe(true)
      expect(yield* eventually(() => now(listening.tlsFailures) === 2)).toBe(true)
      expect(yield* good.callTool("echo", { message: "mutual wss" })).toMatchObject({ content: [{ text: "mutual wss" }] })
    }).pipe(Effect.scoped, codec), 10_000)

  it.effect("FM-29 wss: a handshake left hanging is dropped after handshakeTimeout and counted (TestClock)", () =>
    Effect.gen(function*() {
      const listening = yield* wsServer({ ...SERVER, handshakeTimeout: "3 seconds" })
      yield* hangingHandshakeDropped(listening.port, listening.tlsFailures)
    }).pipe(Effect.scoped, codec), 10_000)

  it.live("FM-12 wss: a flipped bit in a TLS record ends the connection with TlsFailure mode FM-12; nothing corrupted is delivered", () =>
    Effect.gen(function*() {
      const listening = yield* wsServer(SERVER)
      const proxy = yield* corruptingProxy(listening.port)
      const transport = yield* WebSocketTransport.connect(`wss://127.0.0.1:${proxy.port}/mcp`, { tls: { ca: CA } })
      const delivered: Array<JsonRpcCodec.Decoded> = []
      const reading = yield* Effect.forkChild(Effect.flip(Stream.runForEach(transport.incoming, (decoded) => Effect.sync(() => delivered.push(decoded)))))
      yield* transport.send(JsonRpc.request(1, "ping"))
      expect(yield* eventually(() => delivered.length === 1)).toBe(true)
      proxy.armed.toClient = true
      yield* transport.send(JsonRpc.request(2, "ping"))
      const error = yield* Fiber.join(reading)
      expect(proxy.flipped).toEqual(["toClient"])
      expect(error).toMatchObject({ _tag: "TlsFailure", mode: "FM-12" })
      expect(delivered).toHaveLength(1)
    }).pipe(Effect.scoped, codec), 10_000)

  it.live("TLS over Streamable HTTP: MCP clients in both eras call tools on an https:// server that verifies their CA and name", () =>
    Effect.gen(function*() {
      const listening = yield* httpsServer(SERVER)
      expect(listening.url).toBe(`https://127.0.0.1:${listening.port}/mcp`)
      for (const protocolVersion of ["2025-11-25", "2026-07-28"] as const) {
        const transport = yield* StreamableHttpClient.connect({ url: listening.url, tls: { ca: CA } })
        const client = yield* McpClient.connect(transport, { ...INFO, revisions: [protocolVersion] })
        expect(client.server.revision).toBe(protocolVersion)
        expect(yield* client.callTool("echo", { message: `https ${protocolVersion}` })).toMatchObject({ content: [{ text: `https ${protocolVersion}` }] })
      }
      // plaintext HTTP to the TLS port is not served
      const plain = yield* rawPeer(listening.port, "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-length: 2\r\n\r\n{}")
      expect(yield* eventually(plain.closed)).toBe(true)
      expect(plain.received()).not.toContain("HTTP/1.1 2")
      expect(yield* eventually(() => now(listening.stats).tlsHandshakeFailures === 1)).toBe(true)
    }).pipe(Effect.scoped, codec), 10_000)

  it.live("FM-29 https: expired, wrong-name and unknown-issuer certificates fail the send with typed TlsFailures", () =>
    Effect.gen(function*() {
      const expired = yield* httpsServer(EXPIRED)
      expect(yield* httpsSendFailure(expired.url, { ca: CA })).toMatchObject({
        _tag: "TlsFailure",
        mode: "FM-29",
        host: "127.0.0.1",
        port: expired.port,
        code: "CERT_HAS_EXPIRED",
        retryable: false
      })
      const wrongName = yield* httpsServer(WRONG_NAME)
      expect(yield* httpsSendFailure(wrongName.url, { ca: CA })).toMatchObject({ _tag: "TlsFailure", code: "ERR_TLS_CERT_ALTNAME_INVALID" })
      const selfSigned = yield* httpsServer(SELF_SIGNED)
      expect(yield* httpsSendFailure(selfSigned.url, { ca: CA })).toMatchObject({ _tag: "TlsFailure", code: "DEPTH_ZERO_SELF_SIGNED_CERT" })
      // without `tls` an https: URL trusts the system's CAs only
      const good = yield* httpsServer(SERVER)
      expect(yield* httpsSendFailure(good.url)).toMatchObject({ _tag: "TlsFailure", code: "UNABLE_TO_VERIFY_LEAF_SIGNATURE" })
    }).pipe(Effect.scoped, codec), 10_000)

  it.live("FM-29 https mTLS: a client without a certificate is refused and counted; one with a good certificate is served", () =>
    Effect.gen(function*() {
      const listening = yield* httpsServer({ ...SERVER, ca: CA, requestCert: true })
      const transport = yield* StreamableHttpClient.connect({ url: listening.url, tls: { ca: CA, ...CLIENT } })
      const good = yield* McpClient.connect(transport, INFO)
      expect(yield* httpsSendFailure(listening.url, { ca: CA })).toMatchObject({ _tag: "TlsFailure", mode: "FM-29" })
      expect(yield* eventually(() => now(listening.stats).tlsHandshakeFailures === 1)).toBe(true)
      expect(yield* good.callTool("echo", { message: "mutual https" })).toMatchObject({ content: [{ text: "mutual https" }] })
    }).pipe(Effect.scoped, codec), 10_000)

  it.effect("FM-29 https: a handshake left hanging is dropped after handshakeTimeout and counted (TestClock)", () =>
    Effect.gen(function*() {
      const listening = yield* httpsServer({ ...SERVER, handshakeTimeout: "3 seconds" })
      yield* hangingHandshakeDropped(listening.port, Effect.map(listening.stats, (stats) => stats.tlsHandshakeFailures))
    }).pipe(Effect.scoped, codec), 10_000)
})
