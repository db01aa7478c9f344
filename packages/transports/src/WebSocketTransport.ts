/**
 * JSON-RPC over WebSocket (one message per WebSocket frame), server and client, on the `ws` library. Frames go
 * through the shared codec: text frames with `decodeText`, binary ones with `decodeBytes`; the size limit is
 * enforced before decoding (and by `ws` itself, which refuses larger frames).
 *
 * The server binds to 127.0.0.1 unless told otherwise, refuses browser origins that are not allowed (by
 * default only localhost origins; FM-29, the DNS-rebinding class of attack), bounds its connections (FM-36),
 * and serves each connection in its own fiber under the server's scope.
 *
 * @since 0.1.0
 */
import type * as http from "node:http"
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import * as Result from "effect/Result"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { type RawData, WebSocket, WebSocketServer } from "ws"
import { Transport } from "@effect-mcp/core"
import { JsonRpcCodec } from "@effect-mcp/jsonrpc"

const LOCAL_ORIGIN = /^https?:\/\/(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$/

/** A transport over one open WebSocket (closed with the scope). */
export const fromWebSocket = (
  socket: WebSocket,
  name: string,
  options: { readonly inboxCapacity?: number } = {}
): Effect.Effect<Transport.Transport, never, JsonRpcCodec.JsonRpcCodec | Scope.Scope> =>
  Effect.gen(function*() {
    const codec = yield* JsonRpcCodec.JsonRpcCodec
    const inbox = yield* Queue.bounded<JsonRpcCodec.Decoded, Transport.TransportError | Cause.Done>(options.inboxCapacity ?? 1_024)
    socket.on("message", (data: RawData, isBinary: boolean) => {
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
      // a normal close ends the stream (the engine lets accepted requests finish); anything else is a failure
      if (code === 1000 || code === 1001) Queue.endUnsafe(inbox)
      else {
        Queue.failCauseUnsafe(
          inbox,
          Cause.fail(new Transport.ConnectionClosed({ reason: `websocket closed (${code}${reason.length > 0 ? `: ${reason.toString()}` : ""})` }))
        )
      }
    })
    socket.on("error", (error: Error) => {
      Queue.failCauseUnsafe(inbox, Cause.fail(new Transport.TransportFailure({ detail: `${name}: ${error.message}`, cause: error })))
    })
    yield* Effect.addFinalizer(() => Effect.sync(() => socket.terminate()))
    return {
      incoming: Stream.fromQueue(inbox),
      send: (message) => {
        const frame = codec.encode(message)
        if (Result.isFailure(frame)) return Effect.fail(frame.failure)
        if (socket.readyState !== WebSocket.OPEN) {
          return Effect.fail(new Transport.ConnectionClosed({ reason: `${name} is not open` }))
        }
        return Effect.callback<void, Transport.TransportError>((resume) => {
          socket.send(frame.success, (error) =>
            resume(error ? Effect.fail(new Transport.TransportFailure({ detail: `${name}: ${error.message}`, cause: error })) : Effect.void))
        })
      },
      close: Effect.sync(() => socket.close(1000))
    } satisfies Transport.Transport
  })

/** Server settings. */
export interface ServerOptions {
  /** Address to bind (default 127.0.0.1). */
  readonly host?: string
  /** Port (0 picks a free one). */
  readonly port: number
  /** Path of the endpoint (default `/mcp`). */
  readonly path?: string
  /** Most connections at once (default 1,024). */
  readonly maxConnections?: number
  /** Largest frame, in bytes (default: the codec's limit). */
  readonly maxFrameBytes?: number
  /**
   * Browser origins allowed to connect (an `Origin` header is checked only when present; clients outside a
   * browser send none). Default: localhost origins only. An empty list allows no browser origin.
   */
  readonly allowedOrigins?: ReadonlyArray<string>
}

/** A listening WebSocket server. */
export interface WebSocketServerInfo {
  readonly host: string
  readonly port: number
  readonly url: string
  readonly connections: Effect.Effect<number>
}

/** Listens and serves each connection with `handle` until the scope closes. */
export const serve = <E, R>(
  options: ServerOptions,
  handle: (transport: Transport.Transport) => Effect.Effect<void, E, R>
): Effect.Effect<WebSocketServerInfo, Transport.TransportFailure, R | JsonRpcCodec.JsonRpcCodec | Scope.Scope> =>
  Effect.gen(function*() {
    const codec = yield* JsonRpcCodec.JsonRpcCodec
    const context = yield* Effect.context<R | JsonRpcCodec.JsonRpcCodec>()
    const scope = yield* Effect.scope
    const host = options.host ?? "127.0.0.1"
    const path = options.path ?? "/mcp"
    const maxConnections = options.maxConnections ?? 1_024
    const originAllowed = (origin: string | undefined) =>
      origin === undefined || (options.allowedOrigins === undefined ? LOCAL_ORIGIN.test(origin) : options.allowedOrigins.includes(origin))
    let open = 0
    const server = yield* Effect.callback<WebSocketServer, Transport.TransportFailure>((resume) => {
      const wss = new WebSocketServer({
        host,
        port: options.port,
        path,
        maxPayload: options.maxFrameBytes ?? codec.maxFrameBytes,
        verifyClient: (info: { origin: string; req: http.IncomingMessage }, done: (ok: boolean, code?: number, message?: string) => void) => {
          if (!originAllowed(info.req.headers.origin)) return done(false, 403, "Origin not allowed")
          if (open >= maxConnections) return done(false, 503, "Too many connections")
          done(true)
        }
      })
      wss.once("listening", () => resume(Effect.succeed(wss)))
      wss.once("error", (error) =>
        resume(Effect.fail(new Transport.TransportFailure({ detail: `cannot listen on ${host}:${options.port}: ${error.message}`, cause: error }))))
    })
    server.on("error", () => {})
    server.on("connection", (socket) => {
      open++
      socket.on("error", () => {})
      const connection = Effect.scoped(Effect.flatMap(fromWebSocket(socket, "websocket connection"), handle)).pipe(
        Effect.ignoreCause,
        Effect.ensuring(Effect.sync(() => {
          open--
          socket.terminate()
        })),
        Effect.provide(context)
      )
      Effect.runFork(Effect.forkIn(connection, scope))
    })
    yield* Effect.addFinalizer(() =>
      Effect.callback<void>((resume) => {
        for (const client of server.clients) client.terminate()
        server.close(() => resume(Effect.void))
      }).pipe(Effect.timeoutOption(Duration.seconds(5)))
    )
    const address = server.address() as { address: string; port: number }
    return {
      host: address.address,
      port: address.port,
      url: `ws://${address.address}:${address.port}${path}`,
      connections: Effect.sync(() => open)
    }
  })

/** Connects to a WebSocket MCP endpoint; fails with `TransportFailure` when it cannot in time. */
export const connect = (
  url: string,
  options: { readonly connectTimeout?: Duration.Input; readonly headers?: Record<string, string> } = {}
): Effect.Effect<Transport.Transport, Transport.TransportFailure, JsonRpcCodec.JsonRpcCodec | Scope.Scope> =>
  Effect.gen(function*() {
    const socket = new WebSocket(url, options.headers === undefined ? {} : { headers: options.headers })
    socket.on("error", () => {})
    yield* Effect.addFinalizer(() => Effect.sync(() => socket.terminate()))
    yield* Effect.callback<void, Transport.TransportFailure>((resume) => {
      socket.once("open", () => resume(Effect.void))
      socket.once("error", (error) => resume(Effect.fail(new Transport.TransportFailure({ detail: `cannot connect to ${url}: ${error.message}`, cause: error }))))
      socket.once("unexpected-response", (_request, response) =>
        resume(Effect.fail(new Transport.TransportFailure({ detail: `cannot connect to ${url}: HTTP ${response.statusCode}` }))))
    }).pipe(
      Effect.timeoutOrElse({
        duration: options.connectTimeout ?? Duration.seconds(10),
        orElse: () => Effect.fail(new Transport.TransportFailure({ detail: `connecting to ${url} timed out` }))
      })
    )
    return yield* fromWebSocket(socket, url)
  })
