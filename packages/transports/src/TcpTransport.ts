/**
 * NDJSON over TCP: a server that hands each accepted connection to a handler as a `Transport`, and a client
 * transport. Both move frames through the shared codec and know nothing of MCP.
 *
 * The server binds to 127.0.0.1 unless told otherwise, bounds its connections (FM-36: past the bound a new
 * connection is refused, closed at once, and nothing else is affected), runs each connection in its own fiber
 * under the server's scope, and closes every connection when the scope closes.
 *
 * @since 0.1.0
 */
import * as net from "node:net"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import type * as Scope from "effect/Scope"
import * as NodeStream from "@effect/platform-node/NodeStream"
import { Transport } from "@effect-mcp/core"
import { JsonRpcCodec } from "@effect-mcp/jsonrpc"
import * as Writer from "./internal/writer.ts"

/** A transport over one connected socket (closed with the scope). */
export const fromSocket = (
  socket: net.Socket,
  name: string
): Effect.Effect<Transport.Transport, never, JsonRpcCodec.JsonRpcCodec | Scope.Scope> =>
  Effect.gen(function*() {
    const codec = yield* JsonRpcCodec.JsonRpcCodec
    socket.setNoDelay(true)
    const writer = yield* Writer.make(socket, name)
    const close = Effect.sync(() => {
      socket.end()
      socket.destroySoon?.()
    })
    yield* Effect.addFinalizer(() => Effect.sync(() => socket.destroy()))
    const bytes = NodeStream.fromReadable<Uint8Array, Transport.TransportError>({
      evaluate: () => socket,
      onError: (error) => new Transport.TransportFailure({ detail: `${name}: ${error instanceof Error ? error.message : String(error)}`, cause: error }),
      closeOnDone: false
    })
    return {
      incoming: codec.decodeNdjson(bytes, { allowBatch: true }),
      send: (message) => {
        const frame = codec.encode(message)
        return Result.isFailure(frame) ? Effect.fail(frame.failure) : writer.write(frame.success + "\n")
      },
      close
    } satisfies Transport.Transport
  })

/** Server settings. */
export interface ServerOptions {
  /** Address to bind (default 127.0.0.1). */
  readonly host?: string
  /** Port (0 picks a free one). */
  readonly port: number
  /** Most connections at once (default 1,024); past it new connections are refused. */
  readonly maxConnections?: number
}

/** A listening server. */
export interface TcpServer {
  readonly host: string
  readonly port: number
  /** Connections open now. */
  readonly connections: Effect.Effect<number>
}

/** Listens and serves each connection with `handle` (in its own fiber and scope) until the scope closes. */
export const serve = <E, R>(
  options: ServerOptions,
  handle: (transport: Transport.Transport) => Effect.Effect<void, E, R>
): Effect.Effect<TcpServer, Transport.TransportFailure, R | JsonRpcCodec.JsonRpcCodec | Scope.Scope> =>
  Effect.gen(function*() {
    const maxConnections = options.maxConnections ?? 1_024
    const host = options.host ?? "127.0.0.1"
    const context = yield* Effect.context<R | JsonRpcCodec.JsonRpcCodec>()
    const scope = yield* Effect.scope
    let open = 0
    const server = net.createServer()
    server.on("connection", (socket) => {
      if (open >= maxConnections) {
        socket.destroy()
        return
      }
      open++
      socket.on("error", () => {})
      const connection = Effect.scoped(
        Effect.flatMap(fromSocket(socket, `tcp ${socket.remoteAddress}:${socket.remotePort}`), handle)
      ).pipe(
        Effect.ignoreCause,
        Effect.ensuring(Effect.sync(() => {
          open--
          socket.destroy()
        })),
        Effect.provide(context)
      )
      Effect.runFork(Effect.forkIn(connection, scope))
    })
    const address = yield* Effect.callback<net.AddressInfo, Transport.TransportFailure>((resume) => {
      server.once("error", (error) =>
        resume(Effect.fail(new Transport.TransportFailure({ detail: `cannot listen on ${host}:${options.port}: ${error.message}`, cause: error }))))
      server.listen(options.port, host, () => resume(Effect.succeed(server.address() as net.AddressInfo)))
    })
    server.on("error", () => {})
    yield* Effect.addFinalizer(() =>
      Effect.callback<void>((resume) => {
        server.close(() => resume(Effect.void))
      }).pipe(Effect.timeoutOption(Duration.seconds(5)))
    )
    return { host: address.address, port: address.port, connections: Effect.sync(() => open) }
  })

/** Client settings. */
export interface ClientOptions {
  readonly host?: string
  readonly port: number
  /** Time to wait for the connection (default 10 s). */
  readonly connectTimeout?: Duration.Input
}

/** Connects; fails with `TransportFailure` when the connection cannot be made in time. */
export const connect = (
  options: ClientOptions
): Effect.Effect<Transport.Transport, Transport.TransportFailure, JsonRpcCodec.JsonRpcCodec | Scope.Scope> =>
  Effect.gen(function*() {
    const host = options.host ?? "127.0.0.1"
    const socket = new net.Socket()
    socket.on("error", () => {})
    const connected = yield* Deferred.make<void, Transport.TransportFailure>()
    socket.once("connect", () => Deferred.doneUnsafe(connected, Effect.void))
    socket.once("error", (error) =>
      Deferred.doneUnsafe(connected, Effect.fail(new Transport.TransportFailure({ detail: `cannot connect to ${host}:${options.port}: ${error.message}`, cause: error }))))
    socket.connect(options.port, host)
    yield* Effect.addFinalizer(() => Effect.sync(() => socket.destroy()))
    yield* Deferred.await(connected).pipe(
      Effect.timeoutOrElse({
        duration: options.connectTimeout ?? Duration.seconds(10),
        orElse: () => Effect.fail(new Transport.TransportFailure({ detail: `connecting to ${host}:${options.port} timed out` }))
      })
    )
    return yield* fromSocket(socket, `tcp ${host}:${options.port}`)
  })
