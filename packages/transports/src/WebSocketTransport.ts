/**
 * JSON-RPC over WebSocket (one message per WebSocket frame), server and client, on the `ws` library. Frames go
 * through the shared codec: text frames with `decodeText`, binary ones with `decodeBytes`; the size limit is
 * enforced before decoding (and by `ws` itself, which refuses larger frames with close code 1009).
 *
 * Every connection, on either side:
 * - an optional ping/pong heartbeat finds hung peers (FM-31): a ping every interval, and a peer whose pong
 *   does not come back in time is terminated with `ConnectionClosed` naming FM-31. `ws` (and every browser)
 *   answers pings by itself, so a peer needs no code for it. The server pings by default; the client can;
 * - backpressure holds both ways (FM-15): a peer that sends faster than we consume is paused (never queued
 *   without bound), sends complete when the frame is written out, and a peer that does not read while we keep
 *   sending is terminated with `TransportFailure` naming FM-15 once `maxBufferedBytes` wait for it.
 *
 * The server binds to 127.0.0.1 unless told otherwise, refuses browser origins that are not allowed (by
 * default only localhost origins; FM-29, the DNS-rebinding class of attack), bounds its connections (FM-36:
 * past the bound the handshake is answered with HTTP 503 and `Retry-After`; a connection that raced past the
 * check is closed with code 1013 "Try Again Later"), and serves each connection in its own fiber under the
 * server's scope.
 *
 * A host name the client cannot resolve fails the connect with `HostUnresolved` (FM-28), distinct from a refused
 * connection or a refused handshake (`TransportFailure`); the resolver can be replaced (`lookup`).
 *
 * **TLS** (FM-29, FM-12): `serve({ tls: { key, cert } })` listens for `wss://` (`ca` and `requestCert: true` for
 * mutual TLS; the options are `TcpTransport.TlsServerOptions`), and `connect("wss://…", { tls: { ca } })`
 * verifies the server's certificate and name (`rejectUnauthorized` defaults to `true`; without `tls` a `wss:` URL
 * trusts the system's CAs). A failed handshake is a `TlsFailure` naming the code (`CERT_HAS_EXPIRED`,
 * `ERR_TLS_CERT_ALTNAME_INVALID`, `ERR_SSL_…`), a handshake that does not finish within `connectTimeout` a
 * `TlsFailure` `ERR_TLS_HANDSHAKE_TIMEOUT`, and a record corrupted in flight ends the connection with a
 * `TlsFailure` of mode FM-12 (nothing of it is delivered). The server counts and logs (FM-29) every failed
 * handshake (`tlsFailures`), drops one not finished within `handshakeTimeout` (default 10 s), and counts
 * handshakes under way towards `maxConnections` (past it: HTTP 503 after the handshake).
 *
 * ```ts
 * const server = WebSocketTransport.serve({ port: 8443, tls: { key, cert } }, mcpServer.serve) // wss://…:8443/mcp
 * const transport = WebSocketTransport.connect("wss://mcp.internal:8443/mcp", { tls: { ca } })
 * ```
 *
 * @since 0.1.0
 */
import * as http from "node:http"
import * as https from "node:https"
import * as net from "node:net"
import * as tls from "node:tls"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Queue from "effect/Queue"
import * as Result from "effect/Result"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { type RawData, WebSocket, WebSocketServer } from "ws"
import { Transport } from "@effect-mcp/core"
import { JsonRpcCodec } from "@effect-mcp/jsonrpc"
import * as Liveness from "./internal/liveness.ts"
import {
  HostUnresolved,
  hostUnresolved,
  handshakeTimeoutMs,
  secureClientOptions,
  secureServerOptions,
  TlsFailure,
  tlsFailureOf,
  type TlsClientOptions,
  type TlsServerOptions,
  watchTlsHandshakes
} from "./TcpTransport.ts"

/**
 * FM-28: the host name of the URL did not resolve (the same error as `TcpTransport.HostUnresolved`).
 *
 * @since 0.1.0
 * @category errors
 */
export { HostUnresolved }

/**
 * FM-29/FM-12: the TLS layer failed (the same error as `TcpTransport.TlsFailure`).
 *
 * @since 0.1.0
 * @category errors
 */
export { TlsFailure }

const LOCAL_ORIGIN = /^https?:\/\/(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$/

/** The ping/pong heartbeat (FM-31). */
export interface HeartbeatOptions {
  /** Time from one answered ping to the next (default 30 s). */
  readonly interval?: Duration.Input
  /**
   * Time the peer has to answer a ping with a pong (default 10 s); past it the connection is terminated with
   * `ConnectionClosed` naming FM-31. While we are not reading (our consumer is slow and the socket is paused),
   * the pong may be waiting unread, so the deadline is extended.
   */
  readonly timeout?: Duration.Input
}

/** Settings of one connection, server or client side. */
export interface ConnectionOptions {
  /** Decoded frames buffered for a slow consumer before the socket is paused (default 1,024). */
  readonly inboxCapacity?: number
  /** The ping/pong heartbeat; `false` or absent: none (the server's `serve` pings by default). */
  readonly heartbeat?: HeartbeatOptions | false
  /**
   * Most bytes sent but not yet written out to the network (`ws`'s `bufferedAmount`). Past it the peer is a
   * reader that does not keep up and is terminated with `TransportFailure` naming FM-15, instead of letting
   * memory grow. Keep it above your largest frame (default 16 MiB).
   */
  readonly maxBufferedBytes?: number
}

const DEFAULT_MAX_BUFFERED = 16 * 1024 * 1024

/** A transport over one open WebSocket (closed with the scope). */
export const fromWebSocket = (
  socket: WebSocket,
  name: string,
  options: ConnectionOptions = {}
): Effect.Effect<Transport.Transport, never, JsonRpcCodec.JsonRpcCodec | Scope.Scope> => make(socket, name, options, undefined)

/**
 * Follows the errors of a connection's TLS socket (`ws` closes with 1006 and keeps the error to itself): the
 * `TlsFailure` of the first one of the TLS layer, if any.
 */
const tlsFailures = (socket: net.Socket, host: string, port: number): () => TlsFailure | undefined => {
  let failure: TlsFailure | undefined
  socket.on("error", (error) => {
    failure ??= tlsFailureOf(error, host, port)
  })
  return () => failure
}

const make = (
  socket: WebSocket,
  name: string,
  options: ConnectionOptions,
  /** The TLS failure that ended the connection, if it runs over TLS. */
  tlsFailure: (() => TlsFailure | undefined) | undefined,
  /** Server side: the connection is closed if no message arrives within this long (slowloris, FM-36). */
  firstMessageTimeout?: Duration.Duration
): Effect.Effect<Transport.Transport, never, JsonRpcCodec.JsonRpcCodec | Scope.Scope> =>
  Effect.gen(function*() {
    const codec = yield* JsonRpcCodec.JsonRpcCodec
    const maxBuffered = options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED
    const inbox = yield* Queue.bounded<JsonRpcCodec.Decoded, Transport.TransportError | Cause.Done>(options.inboxCapacity ?? 1_024)
    /** Sends waiting for `ws` to write their frame: failed at once when the connection goes. */
    const sending = new Set<(effect: Effect.Effect<void, Transport.TransportError>) => void>()
    const failSending = (error: Transport.TransportError) => {
      for (const resume of sending) resume(Effect.fail(error))
      sending.clear()
    }
    /** Why this side dropped the connection (first reason wins); `incoming` and `send` fail with it. */
    let terminal: Transport.TransportError | undefined
    const terminate = (error: Transport.TransportError) => {
      if (terminal !== undefined) return
      terminal = error
      Queue.failCauseUnsafe(inbox, Cause.fail(error))
      failSending(error)
      socket.terminate()
    }
    let received = false
    socket.on("message", (data: RawData, isBinary: boolean) => {
      received = true
      const decoded = isBinary
        ? codec.decodeBytes(Array.isArray(data) ? Buffer.concat(data) : new Uint8Array(data as ArrayBuffer))
        : codec.decodeText(data.toString(), { allowBatch: true })
      // a peer that sends faster than we handle is paused (backpressure), never queued without bound
      if (!Queue.offerUnsafe(inbox, decoded)) {
        socket.pause()
        Effect.runFork(Effect.andThen(Queue.offer(inbox, decoded), Effect.sync(() => socket.resume())))
      }
    })
    socket.on("close", (code: number, reason: Buffer) => {
      if (terminal !== undefined) return
      // a normal close ends the stream (the engine lets accepted requests finish); anything else is a failure,
      // the TLS layer's if it failed (a corrupted record, FM-12: nothing of it was delivered)
      const closed = tlsFailure?.() ?? new Transport.ConnectionClosed({
        reason: `websocket closed (${code}${reason.length > 0 ? `: ${reason.toString()}` : ""})`
      })
      failSending(closed)
      if ((code === 1000 || code === 1001) && closed._tag === "ConnectionClosed") Queue.endUnsafe(inbox)
      else Queue.failCauseUnsafe(inbox, Cause.fail(closed))
    })
    socket.on("error", (error: Error) => {
      const failure = tlsFailure?.() ??
        new Transport.TransportFailure({ detail: `${name}: ${error.message}`, cause: error })
      failSending(failure)
      Queue.failCauseUnsafe(inbox, Cause.fail(failure))
    })
    let pong: (() => void) | undefined
    socket.on("pong", () => {
      const answered = pong
      pong = undefined
      answered?.()
    })
    yield* Effect.addFinalizer(() => Effect.sync(() => socket.terminate()))
    if (firstMessageTimeout !== undefined) {
      yield* Effect.forkScoped(Effect.andThen(
        Effect.sleep(firstMessageTimeout),
        Effect.sync(() => {
          if (received) return
          terminate(new Transport.ConnectionClosed({
            reason: `${name} sent no message within ${Duration.toMillis(firstMessageTimeout)} ms of connecting (slowloris, FM-36)`
          }))
        })
      ))
    }
    const heartbeat = options.heartbeat
    if (heartbeat !== undefined && heartbeat !== false) {
      yield* Effect.forkScoped(Liveness.heartbeat({
        interval: heartbeat.interval ?? Duration.seconds(30),
        timeout: heartbeat.timeout ?? Duration.seconds(10),
        probe: (answered) =>
          Effect.suspend(() => {
            if (socket.readyState !== WebSocket.OPEN) return Effect.fail(new Transport.ConnectionClosed({ reason: `${name} is not open` }))
            pong = answered
            socket.ping()
            return Effect.void
          }),
        behind: () => socket.isPaused,
        onHung: (hung) =>
          terminate(
            new Transport.ConnectionClosed({ reason: `heartbeat (FM-31): ${name} did not answer a ping within ${hung.timeoutMs} ms` })
          )
      }))
    }
    return {
      incoming: Stream.fromQueue(inbox),
      send: (message) => {
        if (terminal !== undefined) return Effect.fail(terminal)
        const frame = codec.encode(message)
        if (Result.isFailure(frame)) return Effect.fail(frame.failure)
        if (socket.readyState !== WebSocket.OPEN) {
          return Effect.fail(new Transport.ConnectionClosed({ reason: `${name} is not open` }))
        }
        return Effect.callback<void, Transport.TransportError>((resume) => {
          sending.add(resume)
          socket.send(frame.success, (error) => {
            if (!sending.delete(resume)) return
            resume(error ? Effect.fail(new Transport.TransportFailure({ detail: `${name}: ${error.message}`, cause: error })) : Effect.void)
          })
          const buffered = socket.bufferedAmount
          if (buffered > maxBuffered) {
            terminate(
              new Transport.TransportFailure({
                detail: `${name}: the peer is not reading (FM-15): ${buffered} bytes wait to be sent, past the bound of ${maxBuffered}`,
                cause: { mode: "FM-15", bufferedBytes: buffered, maxBufferedBytes: maxBuffered }
              })
            )
          }
        })
      },
      close: Effect.sync(() => socket.close(1000))
    } satisfies Transport.Transport
  })

/** Server settings. */
export interface ServerOptions extends Omit<ConnectionOptions, "heartbeat"> {
  /** Address to bind (default 127.0.0.1). */
  readonly host?: string
  /** Port (0 picks a free one). */
  readonly port: number
  /** Path of the endpoint (default `/mcp`). */
  readonly path?: string
  /**
   * Most connections at once (default 1,024). Past it the handshake is refused with HTTP 503 and a
   * `Retry-After` header (FM-36); the connections being served are not affected.
   */
  readonly maxConnections?: number
  /** The retry hint of a refusal: `Retry-After` (whole seconds, rounded up) and the 1013 reason (default 1 s). */
  readonly retryAfter?: Duration.Input
  /** Largest frame, in bytes (default: the codec's limit). */
  readonly maxFrameBytes?: number
  /**
   * Browser origins allowed to connect (an `Origin` header is checked only when present; clients outside a
   * browser send none). Default: localhost origins only. An empty list allows no browser origin.
   */
  readonly allowedOrigins?: ReadonlyArray<string>
  /** The ping/pong heartbeat of every connection (default: a ping every 30 s, 10 s for the pong); `false`: none. */
  readonly heartbeat?: HeartbeatOptions | false
  /** Serve `wss://` (default: `ws://`). See `TcpTransport.TlsServerOptions`. */
  readonly tls?: TlsServerOptions
  /**
   * A connection that has sent no message this long after its handshake is closed with `ConnectionClosed`
   * naming the timeout, so idle connections opened to hold slots (slowloris) cannot lock clients out (FM-36).
   * Default 30 s; `false` turns it off.
   */
  readonly firstMessageTimeout?: Duration.Input | false
}

/** A listening WebSocket server. */
export interface WebSocketServerInfo {
  /** The address bound. */
  readonly host: string
  /** The port bound (the one picked when 0 was asked for). */
  readonly port: number
  /** The endpoint's `ws://` (or, over TLS, `wss://`) URL. */
  readonly url: string
  /** Connections open now. */
  readonly connections: Effect.Effect<number>
  /** Connections refused (past `maxConnections`, with 503 or 1013) since the server started. */
  readonly refused: Effect.Effect<number>
  /** TLS handshakes that failed or timed out since the server started (FM-29; always 0 without TLS). */
  readonly tlsFailures: Effect.Effect<number>
}

/** The answer to a plain HTTP request on the endpoint (what `ws` answers on a server of its own). */
const upgradeRequired = (_request: http.IncomingMessage, response: http.ServerResponse) => {
  const body = http.STATUS_CODES[426] ?? "Upgrade Required"
  response.writeHead(426, { "Content-Length": Buffer.byteLength(body), "Content-Type": "text/plain" })
  response.end(body)
}

/** Listens and serves each connection with `handle` until the scope closes. */
export const serve = <E, R>(
  options: ServerOptions,
  handle: (transport: Transport.Transport) => Effect.Effect<void, E, R>
): Effect.Effect<WebSocketServerInfo, Transport.TransportFailure, R | JsonRpcCodec.JsonRpcCodec | Scope.Scope> =>
  Effect.gen(function*() {
    const codec = yield* JsonRpcCodec.JsonRpcCodec
    const context = yield* Effect.context<R | JsonRpcCodec.JsonRpcCodec>()
    const host = options.host ?? "127.0.0.1"
    const path = options.path ?? "/mcp"
    const maxConnections = options.maxConnections ?? 1_024
    const retryAfterMs = Duration.toMillis(Duration.fromInputUnsafe(options.retryAfter ?? Duration.seconds(1)))
    const connectionOptions: ConnectionOptions = {
      heartbeat: options.heartbeat ?? {},
      ...(options.inboxCapacity === undefined ? {} : { inboxCapacity: options.inboxCapacity }),
      ...(options.maxBufferedBytes === undefined ? {} : { maxBufferedBytes: options.maxBufferedBytes })
    }
    const firstMessageTimeout = options.firstMessageTimeout === false
      ? undefined
      : Duration.fromInputUnsafe(options.firstMessageTimeout ?? Duration.seconds(30))
    const originAllowed = (origin: string | undefined) =>
      origin === undefined || (options.allowedOrigins === undefined ? LOCAL_ORIGIN.test(origin) : options.allowedOrigins.includes(origin))
    let open = 0
    let refused = 0
    /** Every connection's fiber (and every TLS handshake's timer): interrupted together when the scope closes. */
    const fibers = new Set<Fiber.Fiber<void>>()
    const run = (effect: Effect.Effect<void, never, R | JsonRpcCodec.JsonRpcCodec>): Fiber.Fiber<void> => {
      const fiber = Effect.runFork(Effect.provide(effect, context))
      fibers.add(fiber)
      fiber.addObserver(() => fibers.delete(fiber))
      return fiber
    }
    // over TLS the HTTP server is ours (`ws` makes a plaintext one itself); handshakes under way count towards
    // the bound, and past it a flood of them is dropped before it costs a handshake
    const secure = options.tls === undefined
      ? undefined
      : https.createServer({ ...secureServerOptions(options.tls) }, upgradeRequired)
    const handshakes = secure === undefined || options.tls === undefined ? undefined : watchTlsHandshakes(secure, {
      timeoutMs: handshakeTimeoutMs(options.tls),
      name: `wss ${host}:${options.port}`,
      run,
      admit: () => {
        if (handshakes === undefined || handshakes.pending() < maxConnections) return "serve"
        refused++
        return "drop"
      },
      release: () => {}
    })
    /** Connections served plus TLS handshakes under way. */
    const busy = () => open + (handshakes?.pending() ?? 0)
    const tlsErrors = new WeakMap<net.Socket, () => TlsFailure | undefined>()
    secure?.on("secureConnection", (socket: tls.TLSSocket) => {
      if (handshakes?.secured(socket) !== "serve") return socket.destroy()
      tlsErrors.set(socket, tlsFailures(socket, socket.remoteAddress ?? "?", socket.remotePort ?? 0))
    })
    const server = yield* Effect.callback<WebSocketServer, Transport.TransportFailure>((resume) => {
      const wss = new WebSocketServer({
        ...(secure === undefined ? { host, port: options.port } : { server: secure }),
        path,
        maxPayload: options.maxFrameBytes ?? codec.maxFrameBytes,
        verifyClient: (
          info: { origin: string; req: http.IncomingMessage },
          done: (ok: boolean, code?: number, message?: string, headers?: http.OutgoingHttpHeaders) => void
        ) => {
          if (!originAllowed(info.req.headers.origin)) return done(false, 403, "Origin not allowed")
          if (busy() >= maxConnections) {
            refused++
            return done(false, 503, "Too many connections", { "Retry-After": String(Math.max(1, Math.ceil(retryAfterMs / 1000))) })
          }
          done(true)
        }
      })
      wss.once("listening", () => resume(Effect.succeed(wss)))
      wss.once("error", (error) =>
        resume(Effect.fail(new Transport.TransportFailure({ detail: `cannot listen on ${host}:${options.port}: ${error.message}`, cause: error }))))
      secure?.listen(options.port, host)
    })
    server.on("error", () => {})
    secure?.on("error", () => {})
    server.on("connection", (socket, request) => {
      socket.on("error", () => {})
      if (open >= maxConnections) {
        // handshakes that passed the check together can overshoot it: the late ones are told to come back
        refused++
        socket.close(1013, `Too many connections; retry after ${retryAfterMs} ms`)
        return
      }
      open++
      const tlsFailure = tlsErrors.get(request.socket)
      const connection = Effect.scoped(Effect.flatMap(make(socket, "websocket connection", connectionOptions, tlsFailure, firstMessageTimeout), handle)).pipe(
        Effect.ignoreCause,
        Effect.ensuring(Effect.sync(() => {
          open--
          socket.terminate()
        }))
      )
      run(connection)
    })
    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        const stopped = Deferred.makeUnsafe<void>()
        for (const client of server.clients) client.terminate()
        if (secure === undefined) server.close(() => Deferred.doneUnsafe(stopped, Effect.void))
        else {
          // `ws` leaves a server it was given open: close it, with its idle HTTP connections and handshakes
          server.close()
          secure.close(() => Deferred.doneUnsafe(stopped, Effect.void))
          secure.closeAllConnections()
          handshakes?.dropAll()
        }
        yield* Fiber.interruptAll([...fibers])
        yield* Effect.timeoutOption(Deferred.await(stopped), Duration.seconds(5))
      })
    )
    const address = (secure ?? server).address() as { address: string; port: number }
    return {
      host: address.address,
      port: address.port,
      url: `${secure === undefined ? "ws" : "wss"}://${address.address}:${address.port}${path}`,
      connections: Effect.sync(() => open),
      refused: Effect.sync(() => refused),
      tlsFailures: Effect.sync(() => handshakes?.failures() ?? 0)
    }
  })

/** Client settings. */
export interface ClientOptions extends ConnectionOptions {
  /** Time to wait for the connection, name resolution and TLS handshake included (default 10 s). */
  readonly connectTimeout?: Duration.Input
  /** Extra HTTP headers of the handshake. */
  readonly headers?: Record<string, string>
  /** The resolver (node's `lookup` option; default `dns.lookup`), e.g. a caching one or a stub in tests. */
  readonly lookup?: net.LookupFunction
  /**
   * TLS of a `wss:` URL (ignored for `ws:`): CAs to trust, client certificate, server name. Default: the system's
   * CAs, with the server's certificate and name verified. See `TcpTransport.TlsClientOptions`.
   */
  readonly tls?: TlsClientOptions
}

/** The host and port a WebSocket URL connects to (for error reports). */
const endpointOf = (url: string): { readonly host: string; readonly port: number; readonly secure: boolean } => {
  try {
    const parsed = new URL(url)
    const secure = parsed.protocol === "wss:" || parsed.protocol === "https:"
    return {
      host: parsed.hostname.replace(/^\[(.*)\]$/, "$1"),
      port: parsed.port === "" ? (secure ? 443 : 80) : Number(parsed.port),
      secure
    }
  } catch {
    return { host: url, port: 0, secure: false }
  }
}

/**
 * Connects to a WebSocket MCP endpoint; fails with `HostUnresolved` (FM-28) when the URL's host name does not
 * resolve, with `TlsFailure` (FM-29) when the TLS handshake of a `wss:` URL fails or does not finish within
 * `connectTimeout` (code `ERR_TLS_HANDSHAKE_TIMEOUT`), and with `TransportFailure` when the connection is refused
 * or cannot be made in time. A server at its connection limit answers 503: the failure's detail carries its
 * `Retry-After`.
 */
export const connect = (
  url: string,
  options: ClientOptions = {}
): Effect.Effect<
  Transport.Transport,
  Transport.TransportFailure | HostUnresolved | TlsFailure,
  JsonRpcCodec.JsonRpcCodec | Scope.Scope
> =>
  Effect.gen(function*() {
    const { host, port, secure } = endpointOf(url)
    /** The TLS socket of a `wss:` connection: whether TCP is up and the handshake is not done. */
    let tlsSocket: tls.TLSSocket | undefined
    let handshaking = false
    let tlsFailure: (() => TlsFailure | undefined) | undefined
    // `ws` hands its options to `http.request`, which passes `lookup` on to the socket; over TLS we open the
    // socket ourselves (as `ws` would) to tell a stalled handshake from a stalled connection
    const socketOptions: WebSocket.ClientOptions & { lookup?: net.LookupFunction } = {
      ...(options.headers === undefined ? {} : { headers: options.headers }),
      ...(options.lookup === undefined ? {} : { lookup: options.lookup }),
      ...(secure
        ? {
          ...secureClientOptions(options.tls ?? {}),
          // `ws`'s own `tlsConnect`, plus the bookkeeping
          createConnection: ((connectOptions: tls.ConnectionOptions & { path?: string | undefined }) => {
            const servername = connectOptions.servername ??
              (connectOptions.host === undefined || net.isIP(connectOptions.host) !== 0 ? undefined : connectOptions.host)
            const socket = tls.connect({ ...connectOptions, path: undefined, ...(servername === undefined ? {} : { servername }) })
            tlsSocket = socket
            tlsFailure = tlsFailures(socket, host, port)
            socket.once("connect", () => (handshaking = true))
            socket.once("secureConnect", () => (handshaking = false))
            return socket
          }) as unknown as typeof net.createConnection
        }
        : {})
    }
    const socket = new WebSocket(url, socketOptions)
    socket.on("error", () => {})
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        socket.terminate()
        tlsSocket?.destroy()
      })
    )
    const timeout = options.connectTimeout ?? Duration.seconds(10)
    yield* Effect.callback<void, Transport.TransportFailure | HostUnresolved | TlsFailure>((resume) => {
      socket.once("open", () => resume(Effect.void))
      socket.once("error", (error) => {
        resume(Effect.fail(
          hostUnresolved(error, host, port) ??
            (secure ? tlsFailureOf(error, host, port, handshaking) : undefined) ??
            new Transport.TransportFailure({ detail: `cannot connect to ${url}: ${error.message}`, cause: error })
        ))
      })
      socket.once("unexpected-response", (_request, response) => {
        const retryAfter = response.headers["retry-after"]
        resume(Effect.fail(
          new Transport.TransportFailure({
            detail: `cannot connect to ${url}: HTTP ${response.statusCode}${retryAfter === undefined ? "" : ` (retry after ${retryAfter} s)`}`
          })
        ))
      })
    }).pipe(
      Effect.timeoutOrElse({
        duration: timeout,
        orElse: () =>
          Effect.fail(
            handshaking
              ? new Transport.TlsFailure({
                mode: "FM-29",
                host,
                port,
                code: "ERR_TLS_HANDSHAKE_TIMEOUT",
                reason: `the TLS handshake did not finish within ${Duration.toMillis(Duration.fromInputUnsafe(timeout))} ms (connectTimeout)`,
                retryable: true
              })
              : new Transport.TransportFailure({ detail: `connecting to ${url} timed out` })
          )
      })
    )
    return yield* make(socket, url, options, tlsFailure)
  })
