/**
 * NDJSON over TCP: a server that hands each accepted connection to a handler as a `Transport`, and a client
 * transport. Both move frames through the shared codec (with its frame-size guard) and know nothing of MCP.
 *
 * Every connection, on either side:
 * - TCP keep-alive is on (the kernel finds dead hosts and broken routes; FM-31);
 * - an optional application heartbeat finds hung peers (FM-31): a JSON-RPC request whose method the caller
 *   names (`"ping"` for MCP) goes out every interval and its reply must come back in time;
 * - an optional idle timeout closes a connection on which nothing has arrived for a while;
 * - backpressure holds both ways (FM-15): input is read only as fast as it is consumed (the peer's writes
 *   stall, nothing piles up here), and sends wait for the socket to drain. A peer that stops reading is
 *   disconnected once `maxBufferedBytes` wait for it, or once a send has waited `stallTimeout` for it;
 * - half-close is handled: when the peer ends its side, `incoming` ends, requests already accepted are still
 *   answered (the protocol engine drains them), and then the connection closes. Closing sends what is queued,
 *   then FIN, and destroys the socket only after `closeTimeout`.
 *
 * Why a connection was dropped is always typed: `ConnectionClosed` for the idle timeout and the heartbeat,
 * `TransportFailure` for a peer that does not read, each naming its cause and FMEA mode in words.
 *
 * The server binds to 127.0.0.1 unless told otherwise and bounds its connections (FM-36): past the bound a new
 * connection gets exactly one JSON-RPC error frame, `{"jsonrpc":"2.0","id":null,"error":{"code":-32010,
 * "message":…,"data":{"retryAfterMs":…}}}`, and is closed; connections being served are not affected. The
 * client transport recognises that frame and fails with a `ConnectionClosed` that says so. Each connection
 * runs in its own fiber under the server's scope and every connection closes when the scope closes.
 *
 * A host name the client cannot resolve fails the connect with `HostUnresolved` (FM-28) naming the host and the
 * resolver's code, distinct from a refused or timed-out connection (`TransportFailure`, FM-40); both are meant
 * to be retried with backoff (`ReconnectingTransport`). The resolver can be replaced (`lookup`).
 *
 * @since 0.1.0
 */
import * as net from "node:net"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Result from "effect/Result"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as NodeStream from "@effect/platform-node/NodeStream"
import { Transport } from "@effect-mcp/core"
import { ErrorCode, JsonRpc, JsonRpcCodec } from "@effect-mcp/jsonrpc"
import * as Liveness from "./internal/liveness.ts"
import * as Writer from "./internal/writer.ts"

/**
 * The application heartbeat of a TCP connection (FM-31). TCP keep-alive only proves the peer's kernel is
 * there; this proves the program on the other side still reads and answers.
 *
 * Every `interval` a JSON-RPC request `{"jsonrpc":"2.0","id":"heartbeat:…","method":<method>}` goes out. Any
 * reply with that id, a result or an error alike, proves the peer alive; the transport consumes it, so the
 * layer above never sees it. A peer that does not take the probe within `timeout` (it does not read), or does
 * not answer it within `timeout`, is hung: the connection is dropped with `ConnectionClosed` naming FM-31.
 * The transport knows no MCP: the caller names the method (`"ping"` for MCP, which both sides answer; in the
 * stateless 2026-07-28 era a server answers it with an error, which proves life just as well). Turn it on only
 * towards peers that answer every JSON-RPC request, as JSON-RPC requires: a peer that ignores the probe is
 * taken for hung.
 */
export interface HeartbeatOptions {
  /** The JSON-RPC method of the probe request, e.g. `"ping"` (MCP). */
  readonly method: string
  /** Time from one answered probe to the next (default 30 s). */
  readonly interval?: Duration.Input
  /** Time the peer has to take a probe and to answer it (default 10 s). */
  readonly timeout?: Duration.Input
}

/** Settings of one connection, server or client side. */
export interface ConnectionOptions {
  /**
   * TCP keep-alive: the kernel starts probing a silent peer after this delay (default 30 s; `false` turns it
   * off). Finds dead hosts and broken routes (FM-31), not hung programs: see `heartbeat`.
   */
  readonly keepAlive?: Duration.Input | false
  /** The application heartbeat (default: none). See `HeartbeatOptions`. */
  readonly heartbeat?: HeartbeatOptions
  /**
   * Closes the connection when no byte has arrived for this long, with `ConnectionClosed` naming the idle
   * timeout (default: none). Heartbeat replies are bytes too: with a heartbeat a live peer is never idle.
   * Input waiting unread on our side counts as activity (a slow consumer here is not an idle peer).
   */
  readonly idleTimeout?: Duration.Input
  /**
   * Most bytes accepted for sending that the peer has not taken yet (queued here and in the socket's buffer;
   * text counted in UTF-16 units). Past it the peer is a reader that does not keep up and is disconnected with
   * `TransportFailure` naming FM-15, instead of letting memory grow. Keep it above your largest frame
   * (default 16 MiB).
   */
  readonly maxBufferedBytes?: number
  /**
   * Longest a send may wait for the peer to read anything (for the socket to drain). Past it the peer is a
   * reader that does not read and is disconnected with `TransportFailure` naming FM-15, so that a stalled peer
   * cannot hold a connection and its waiting senders forever (default 30 s; `false`: wait as long as it takes).
   */
  readonly stallTimeout?: Duration.Input | false
  /**
   * How long closing may take: queued frames are sent, then FIN, then the peer has this long to close its
   * side before the socket is destroyed (default 2 s).
   */
  readonly closeTimeout?: Duration.Input
}

/** FM-28: the host name did not resolve (`Transport.HostUnresolved`, shared by every client transport). */
export const HostUnresolved = Transport.HostUnresolved
/** FM-28: the host name did not resolve. */
export type HostUnresolved = Transport.HostUnresolved
/** The `HostUnresolved` of a connect error, if it is a name resolution failure (`Transport.hostUnresolved`). */
export const hostUnresolved = Transport.hostUnresolved

const DEFAULT_KEEP_ALIVE = Duration.seconds(30)
const DEFAULT_MAX_BUFFERED = 16 * 1024 * 1024
const HEARTBEAT_ID = "heartbeat:"

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

/** The refusal frame of a full server, if `decoded` is one. */
const refusalOf = (decoded: JsonRpcCodec.Decoded): JsonRpc.Failure | undefined => {
  if (Result.isFailure(decoded)) return undefined
  const message = decoded.success
  return !JsonRpc.isBatch(message) && "error" in message && message.id === null && message.error.code === ErrorCode.Overloaded &&
      isRecord(message.error.data) && typeof message.error.data.retryAfterMs === "number"
    ? message
    : undefined
}

const make = (
  socket: net.Socket,
  name: string,
  options: ConnectionOptions,
  side: "server" | "client"
): Effect.Effect<Transport.Transport, never, JsonRpcCodec.JsonRpcCodec | Scope.Scope> =>
  Effect.gen(function*() {
    const codec = yield* JsonRpcCodec.JsonRpcCodec
    socket.setNoDelay(true)
    if (options.keepAlive !== false) {
      socket.setKeepAlive(true, Duration.toMillis(Duration.fromInputUnsafe(options.keepAlive ?? DEFAULT_KEEP_ALIVE)))
    }
    const maxBuffered = options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED
    const writer = yield* Writer.make(socket, name, {
      maxBufferedBytes: maxBuffered,
      onOverflow: (buffered) =>
        terminate(
          new Transport.TransportFailure({
            detail: `${name}: the peer is not reading (FM-15): ${buffered} bytes wait to be sent, past the bound of ${maxBuffered}`,
            cause: { mode: "FM-15", bufferedBytes: buffered, maxBufferedBytes: maxBuffered }
          })
        ),
      stallTimeout: options.stallTimeout === false ? undefined : options.stallTimeout ?? Duration.seconds(30),
      onStall: (ms) =>
        terminate(
          new Transport.TransportFailure({
            detail: `${name}: the peer is not reading (FM-15): nothing it was sent has been read for ${ms} ms`,
            cause: { mode: "FM-15", stallTimeoutMs: ms }
          })
        )
    })
    /** Why this side dropped the connection (first reason wins); `incoming` and `send` fail with it. */
    let terminal: Transport.TransportError | undefined
    const terminate = (error: Transport.TransportError): Transport.TransportError => {
      if (terminal !== undefined) return terminal
      terminal = error
      writer.abort(error)
      socket.destroy()
      return error
    }
    const activity = yield* Liveness.activity
    const behind = () => socket.readableLength > 0

    // ---- closing: what is queued, then FIN, then (bounded) the peer's FIN; destroy last --------------------
    const closed = Deferred.makeUnsafe<void>()
    let closing = false
    const close = Effect.suspend(() => {
      if (closing) return Deferred.await(closed)
      closing = true
      return writer.end.pipe(
        Effect.andThen(Effect.callback<void>((resume) => {
          if (socket.destroyed) return resume(Effect.void)
          const done = () => resume(Effect.void)
          socket.once("close", done)
          // input is of no use any more: read it away, so that closing never resets the connection (RST)
          socket.resume()
          return Effect.sync(() => socket.off("close", done))
        })),
        Effect.timeoutOrElse({ duration: options.closeTimeout ?? Duration.seconds(2), orElse: () => Effect.void }),
        Effect.ensuring(Effect.sync(() => {
          socket.destroy()
          Deferred.doneUnsafe(closed, Effect.void)
        }))
      )
    })
    yield* Effect.addFinalizer(() => close)

    // ---- liveness: idle timeout and heartbeat (fibers on Effect's Clock, in this connection's scope) -------
    if (options.idleTimeout !== undefined) {
      yield* Effect.forkScoped(Liveness.idleWatch({
        timeout: options.idleTimeout,
        activity,
        behind,
        onIdle: (ms) => {
          terminate(new Transport.ConnectionClosed({ reason: `idle timeout: no bytes received from ${name} for ${ms} ms` }))
        }
      }))
    }
    let awaiting: { readonly id: string; readonly answered: () => void } | undefined
    const heartbeat = options.heartbeat
    const heartbeatPrefix = heartbeat === undefined ? HEARTBEAT_ID : `${HEARTBEAT_ID}${crypto.randomUUID()}:`
    if (heartbeat !== undefined) {
      let round = 0
      const probe = (answered: () => void) =>
        Effect.suspend((): Effect.Effect<void, unknown> => {
          const id = `${heartbeatPrefix}${round++}`
          awaiting = { id, answered }
          const frame = codec.encode(JsonRpc.request(id, heartbeat.method))
          return Result.isFailure(frame) ? Effect.fail(frame.failure) : Effect.asVoid(writer.write(frame.success + "\n"))
        })
      yield* Effect.forkScoped(Liveness.heartbeat({
        interval: heartbeat.interval ?? Duration.seconds(30),
        timeout: heartbeat.timeout ?? Duration.seconds(10),
        probe,
        behind,
        onHung: (hung) => {
          terminate(
            new Transport.ConnectionClosed({
              reason: hung._tag === "NotRead"
                ? `heartbeat (FM-31): ${name} did not read a probe within ${hung.timeoutMs} ms`
                : `heartbeat (FM-31): ${name} did not answer a probe within ${hung.timeoutMs} ms`
            })
          )
        }
      }))
    }
    /** Consumes heartbeat replies (and, on a client, the server's refusal); everything else passes. */
    let first = side === "client"
    const pass = (decoded: JsonRpcCodec.Decoded): boolean => {
      if (first) {
        first = false
        const refusal = refusalOf(decoded)
        if (refusal !== undefined) {
          terminate(new Transport.ConnectionClosed({ reason: `${name} refused the connection: ${refusal.error.message}` }))
          return false
        }
      }
      if (heartbeat === undefined || Result.isFailure(decoded)) return true
      const message = decoded.success
      if (JsonRpc.isBatch(message) || "method" in message || typeof message.id !== "string" || !message.id.startsWith(heartbeatPrefix)) {
        return true
      }
      if (awaiting !== undefined && awaiting.id === message.id) awaiting.answered()
      return false
    }

    const socketBytes = NodeStream.fromReadable<Uint8Array, Transport.TransportError>({
      evaluate: () => socket,
      onError: (error) =>
        terminal ??
          writer.failure() ??
          new Transport.TransportFailure({ detail: `${name}: ${error instanceof Error ? error.message : String(error)}`, cause: error }),
      closeOnDone: false
    })
    // the per-chunk and per-frame steps are there only when something needs them (the hot path stays bare)
    const bytes = options.idleTimeout === undefined ? socketBytes : Stream.mapArray(socketBytes, (chunk) => {
      activity.touch()
      return chunk
    })
    const decoded = codec.decodeNdjson(bytes, { allowBatch: true })
    const incoming = (side === "client" || heartbeat !== undefined ? Stream.filter(decoded, pass) : decoded).pipe(
      // a connection dropped here (refused, idle, hung) fails, even if the socket's end raced the reason
      Stream.concat(Stream.suspend(() => (terminal === undefined ? Stream.empty : Stream.fail(terminal))))
    )
    return {
      incoming,
      send: (message) => {
        if (terminal !== undefined) return Effect.fail(terminal)
        const frame = codec.encode(message)
        return Result.isFailure(frame) ? Effect.fail(frame.failure) : writer.write(frame.success + "\n")
      },
      close
    } satisfies Transport.Transport
  })

/**
 * A transport over one connected socket (closed with the scope). The socket should allow half-open
 * connections (`allowHalfOpen: true`), or a peer's FIN ends our side at once and its last answers are lost.
 */
export const fromSocket = (
  socket: net.Socket,
  name: string,
  options: ConnectionOptions = {}
): Effect.Effect<Transport.Transport, never, JsonRpcCodec.JsonRpcCodec | Scope.Scope> => make(socket, name, options, "server")

/** Server settings. */
export interface ServerOptions extends ConnectionOptions {
  /** Address to bind (default 127.0.0.1). */
  readonly host?: string
  /** Port (0 picks a free one). */
  readonly port: number
  /**
   * Most connections served at once (default 1,024). Past it a new connection gets one JSON-RPC error frame
   * (code -32010, `data.retryAfterMs`) and is closed; the connections being served are not affected (FM-36).
   */
  readonly maxConnections?: number
  /** The `retryAfterMs` hint sent to a refused connection (default 1 s). */
  readonly retryAfter?: Duration.Input
}

/** A listening server. */
export interface TcpServer {
  /** The address bound. */
  readonly host: string
  /** The port bound (the one picked when 0 was asked for). */
  readonly port: number
  /** Connections open now. */
  readonly connections: Effect.Effect<number>
  /** Connections refused (past `maxConnections`) since the server started. */
  readonly refused: Effect.Effect<number>
}

/** Refused connections closing at once; past it a refused socket is destroyed right after its frame. */
const MAX_REFUSALS_CLOSING = 1_024
/** How long a refused connection may take to close after its frame. */
const REFUSAL_LINGER = Duration.seconds(2)

/** Listens and serves each connection with `handle` (in its own fiber and scope) until the scope closes. */
export const serve = <E, R>(
  options: ServerOptions,
  handle: (transport: Transport.Transport) => Effect.Effect<void, E, R>
): Effect.Effect<TcpServer, Transport.TransportFailure, R | JsonRpcCodec.JsonRpcCodec | Scope.Scope> =>
  Effect.gen(function*() {
    const maxConnections = options.maxConnections ?? 1_024
    const host = options.host ?? "127.0.0.1"
    const retryAfterMs = Duration.toMillis(Duration.fromInputUnsafe(options.retryAfter ?? Duration.seconds(1)))
    const refusal = JSON.stringify(
      JsonRpc.failure(null, ErrorCode.Overloaded, `Too many connections: the server serves at most ${maxConnections}; retry after ${retryAfterMs} ms`, {
        retryAfterMs
      })
    ) + "\n"
    const context = yield* Effect.context<R | JsonRpcCodec.JsonRpcCodec>()
    /** Every connection's fiber (and every refused one's closing): interrupted together when the scope closes. */
    const fibers = new Set<Fiber.Fiber<void>>()
    const run = (effect: Effect.Effect<void, never, R | JsonRpcCodec.JsonRpcCodec>) => {
      const fiber = Effect.runFork(Effect.provide(effect, context))
      fibers.add(fiber)
      fiber.addObserver(() => fibers.delete(fiber))
    }
    let open = 0
    let refused = 0
    let refusing = 0
    const refuse = (socket: net.Socket) => {
      refused++
      socket.end(refusal)
      if (refusing >= MAX_REFUSALS_CLOSING) {
        socket.destroySoon()
        return
      }
      refusing++
      // read whatever the peer sent away (closing with unread input resets the connection and can lose the
      // frame), and give the peer a moment to close its side
      socket.resume()
      const closing = Effect.callback<void>((resume) => {
        if (socket.destroyed) return resume(Effect.void)
        socket.once("close", () => resume(Effect.void))
      }).pipe(
        Effect.timeoutOption(REFUSAL_LINGER),
        Effect.ensuring(Effect.sync(() => {
          refusing--
          socket.destroy()
        }))
      )
      run(Effect.asVoid(closing))
    }
    const server = net.createServer({ allowHalfOpen: true })
    server.on("connection", (socket) => {
      socket.on("error", () => {})
      if (open >= maxConnections) return refuse(socket)
      open++
      const connection = Effect.scoped(
        Effect.flatMap(fromSocket(socket, `tcp ${socket.remoteAddress}:${socket.remotePort}`, options), handle)
      ).pipe(
        Effect.ignoreCause,
        Effect.ensuring(Effect.sync(() => {
          open--
          socket.destroy()
        }))
      )
      run(connection)
    })
    const address = yield* Effect.callback<net.AddressInfo, Transport.TransportFailure>((resume) => {
      server.once("error", (error) =>
        resume(Effect.fail(new Transport.TransportFailure({ detail: `cannot listen on ${host}:${options.port}: ${error.message}`, cause: error }))))
      server.listen(options.port, host, () => resume(Effect.succeed(server.address() as net.AddressInfo)))
    })
    server.on("error", () => {})
    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        // stop accepting, then close every connection at once (each closes gracefully, within its closeTimeout)
        const stopped = Deferred.makeUnsafe<void>()
        server.close(() => Deferred.doneUnsafe(stopped, Effect.void))
        yield* Fiber.interruptAll([...fibers])
        yield* Effect.timeoutOption(Deferred.await(stopped), Duration.seconds(5))
      })
    )
    return {
      host: address.address,
      port: address.port,
      connections: Effect.sync(() => open),
      refused: Effect.sync(() => refused)
    }
  })

/** Client settings. */
export interface ClientOptions extends ConnectionOptions {
  /** Host to connect to (default 127.0.0.1). */
  readonly host?: string
  /** Port to connect to. */
  readonly port: number
  /** Time to wait for the connection, name resolution included (default 10 s). */
  readonly connectTimeout?: Duration.Input
  /** The resolver (node's `lookup` option; default `dns.lookup`), e.g. a caching one or a stub in tests. */
  readonly lookup?: net.LookupFunction
}

/**
 * Connects; fails with `HostUnresolved` (FM-28) when the host name does not resolve, and with
 * `TransportFailure` when the connection is refused or cannot be made in time. A server at its connection
 * limit answers with its refusal frame: `incoming` then fails with `ConnectionClosed` whose reason carries the
 * server's message (with its retry-after hint).
 */
export const connect = (
  options: ClientOptions
): Effect.Effect<Transport.Transport, Transport.TransportFailure | HostUnresolved, JsonRpcCodec.JsonRpcCodec | Scope.Scope> =>
  Effect.gen(function*() {
    const host = options.host ?? "127.0.0.1"
    const socket = new net.Socket({ allowHalfOpen: true })
    socket.on("error", () => {})
    const connected = yield* Deferred.make<void, Transport.TransportFailure | HostUnresolved>()
    socket.once("connect", () => Deferred.doneUnsafe(connected, Effect.void))
    socket.once("error", (error) =>
      Deferred.doneUnsafe(
        connected,
        Effect.fail(
          hostUnresolved(error, host, options.port) ??
            new Transport.TransportFailure({ detail: `cannot connect to ${host}:${options.port}: ${error.message}`, cause: error })
        )
      ))
    socket.connect(options.lookup === undefined ? { port: options.port, host } : { port: options.port, host, lookup: options.lookup })
    yield* Effect.addFinalizer(() => Effect.sync(() => socket.destroy()))
    yield* Deferred.await(connected).pipe(
      Effect.timeoutOrElse({
        duration: options.connectTimeout ?? Duration.seconds(10),
        orElse: () => Effect.fail(new Transport.TransportFailure({ detail: `connecting to ${host}:${options.port} timed out` }))
      })
    )
    return yield* make(socket, `tcp ${host}:${options.port}`, options, "client")
  })
