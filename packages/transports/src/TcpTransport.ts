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
 * **TLS** (FM-29, FM-12): give `serve` a `tls` option (PEM `key` and `cert`; `ca` and `requestCert: true` for
 * mutual TLS) and `connect` a `tls` option (`ca` to trust a private CA, `cert`/`key` for mTLS, `servername`);
 * everything above works the same over TLS. The client verifies the server's certificate and name
 * (`rejectUnauthorized` is `true` unless you say otherwise) and a failed handshake is a `TlsFailure` naming
 * OpenSSL's or Node's code (`CERT_HAS_EXPIRED`, `ERR_TLS_CERT_ALTNAME_INVALID`, `ERR_SSL_…`), never a generic
 * `TransportFailure`; a handshake that does not finish within `connectTimeout` is a `TlsFailure`
 * `ERR_TLS_HANDSHAKE_TIMEOUT`. The server counts every failed handshake (`TcpServer.tlsFailures`) and logs it
 * with FM-29 (a plaintext client, a refused client certificate, a client that never finishes: TLS-level
 * slowloris); a handshake holds a connection slot (`maxConnections`) and is dropped after `handshakeTimeout`
 * (default 10 s, on Effect's `Clock`). A refused connection still gets its refusal frame, over TLS. A record
 * corrupted on the wire fails TLS's integrity check: the connection fails with `TlsFailure` mode FM-12 and
 * none of its bytes reach the codec.
 *
 * ```ts
 * const server = TcpTransport.serve({
 *   port: 7443,
 *   tls: { key: fs.readFileSync("server.key"), cert: fs.readFileSync("server.crt") }
 * }, mcpServer.serve)
 * const transport = TcpTransport.connect({
 *   host: "mcp.internal",
 *   port: 7443,
 *   tls: { ca: fs.readFileSync("ca.crt") } // omit `ca` to trust the system's CAs
 * })
 * ```
 *
 * @since 0.1.0
 */
import * as net from "node:net"
import * as tls from "node:tls"
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
  /**
   * Server side: a connection that has not sent one complete message this long after it was accepted is
   * closed with `ConnectionClosed` naming the timeout, so connections that send nothing, or trickle a frame a
   * byte at a time (slowloris), cannot hold the connection slots (FM-36). Default 30 s on a server, none on
   * a client; `false` turns it off.
   */
  readonly firstMessageTimeout?: Duration.Input | false
}

/** FM-28: the host name did not resolve (`Transport.HostUnresolved`, shared by every client transport). */
export const HostUnresolved = Transport.HostUnresolved
/** FM-28: the host name did not resolve. */
export type HostUnresolved = Transport.HostUnresolved
/** The `HostUnresolved` of a connect error, if it is a name resolution failure (`Transport.hostUnresolved`). */
export const hostUnresolved = Transport.hostUnresolved

/** FM-29/FM-12: the TLS layer failed (`Transport.TlsFailure`, shared by the TCP and WebSocket transports). */
export const TlsFailure = Transport.TlsFailure
/** FM-29/FM-12: the TLS layer failed. */
export type TlsFailure = Transport.TlsFailure

/** PEM text or bytes (`tls.SecureContextOptions`). */
type Pem = NonNullable<tls.SecureContextOptions["cert"]>

/** TLS of a server: its certificate, and optionally mutual TLS. */
export interface TlsServerOptions {
  /** The private key (PEM). */
  readonly key: NonNullable<tls.SecureContextOptions["key"]>
  /** The certificate chain (PEM), leaf first. */
  readonly cert: Pem
  /** CAs trusted for client certificates (mTLS); default: the system's. */
  readonly ca?: Pem
  /**
   * Mutual TLS: every client must present a certificate signed by `ca`; a client without one, or with one that
   * does not verify, is refused during the handshake (counted as a failed handshake). Default `false`.
   */
  readonly requestCert?: boolean
  /** Lowest protocol version accepted (default `"TLSv1.2"`). */
  readonly minVersion?: tls.SecureVersion
  /**
   * Longest a client may take to finish the handshake (on Effect's `Clock`), holding a connection slot meanwhile;
   * past it the connection is dropped and counted as a failed handshake (default 10 s).
   */
  readonly handshakeTimeout?: Duration.Input
}

/** TLS of a client. */
export interface TlsClientOptions {
  /** CAs trusted for the server's certificate (PEM); default: the system's. */
  readonly ca?: Pem
  /** The name to ask for (SNI) and to verify the certificate against; default: the host connected to. */
  readonly servername?: string
  /** Client certificate (PEM) for mutual TLS, with its `key`. */
  readonly cert?: Pem
  /** The client certificate's private key (PEM). */
  readonly key?: NonNullable<tls.SecureContextOptions["key"]>
  /**
   * Verify the server's certificate and name (default `true`). `false` accepts any certificate, including an
   * attacker's: only for a test against a throwaway certificate, never in production.
   */
  readonly rejectUnauthorized?: boolean
  /** Lowest protocol version accepted (default `"TLSv1.2"`). */
  readonly minVersion?: tls.SecureVersion
}

/** Certificate verification codes (OpenSSL's, as Node reports them). */
const CERTIFICATE_CODES = new Set([
  "UNABLE_TO_GET_ISSUER_CERT", "UNABLE_TO_GET_CRL", "UNABLE_TO_DECRYPT_CERT_SIGNATURE", "UNABLE_TO_DECRYPT_CRL_SIGNATURE",
  "UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY", "CERT_SIGNATURE_FAILURE", "CRL_SIGNATURE_FAILURE", "CERT_NOT_YET_VALID",
  "CERT_HAS_EXPIRED", "CRL_NOT_YET_VALID", "CRL_HAS_EXPIRED", "ERROR_IN_CERT_NOT_BEFORE_FIELD", "ERROR_IN_CERT_NOT_AFTER_FIELD",
  "ERROR_IN_CRL_LAST_UPDATE_FIELD", "ERROR_IN_CRL_NEXT_UPDATE_FIELD", "DEPTH_ZERO_SELF_SIGNED_CERT", "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY", "UNABLE_TO_VERIFY_LEAF_SIGNATURE", "CERT_CHAIN_TOO_LONG", "CERT_REVOKED", "INVALID_CA",
  "PATH_LENGTH_EXCEEDED", "INVALID_PURPOSE", "CERT_UNTRUSTED", "CERT_REJECTED", "HOSTNAME_MISMATCH"
])
/** A record that failed its integrity check: corrupted on the wire (FM-12), here or as the peer's alert. */
const CORRUPTION = /BAD_RECORD_MAC|DECRYPTION_FAILED/
const HANDSHAKE_TIMEOUT = "ERR_TLS_HANDSHAKE_TIMEOUT"

const codeOf = (error: unknown): string | undefined => {
  const code = isRecord(error) ? error.code : undefined
  return typeof code === "string" ? code : undefined
}

/**
 * The `TlsFailure` of an error on a TLS socket, if the TLS layer failed (a certificate, a name, a protocol or
 * integrity error; `duringHandshake`: also a connection that ended before the handshake finished). Anything
 * else (a refused connection, a reset after the handshake) is `undefined`: it stays a `TransportFailure`.
 */
export const tlsFailureOf = (
  error: unknown,
  host: string,
  port: number,
  duringHandshake = false
): TlsFailure | undefined => {
  const code = codeOf(error)
  const message = error instanceof Error ? error.message : String(error)
  const tlsCode = code !== undefined &&
    (CERTIFICATE_CODES.has(code) || code.startsWith("ERR_SSL_") || code.startsWith("ERR_TLS_"))
  if (!tlsCode && !duringHandshake) return undefined
  const corrupted = code !== undefined && CORRUPTION.test(code)
  return new Transport.TlsFailure({
    mode: corrupted ? "FM-12" : "FM-29",
    host,
    port,
    code: code ?? "ECONNRESET",
    reason: tlsCode ? message.trim() : `the connection ended during the TLS handshake: ${message}`,
    retryable: corrupted || code === HANDSHAKE_TIMEOUT || !tlsCode,
    cause: error
  })
}

/**
 * The options of `tls.createServer` (and `https.createServer`) for `options`.
 *
 * @internal
 */
export const secureServerOptions = (options: TlsServerOptions): tls.TlsOptions => ({
  key: options.key,
  cert: options.cert,
  ...(options.ca === undefined ? {} : { ca: options.ca }),
  minVersion: options.minVersion ?? "TLSv1.2",
  // mTLS: OpenSSL refuses a client without a certificate, Node one whose certificate does not verify
  ...(options.requestCert === true ? { requestCert: true, rejectUnauthorized: true } : {}),
  // ours runs on Effect's Clock (see watchTlsHandshakes); Node's, which cannot be turned off, is the backstop
  handshakeTimeout: 2 * handshakeTimeoutMs(options)
})

/**
 * `options.handshakeTimeout` in milliseconds (default 10 s).
 *
 * @internal
 */
export const handshakeTimeoutMs = (options: TlsServerOptions): number =>
  Math.max(1, Duration.toMillis(Duration.fromInputUnsafe(options.handshakeTimeout ?? Duration.seconds(10))))

/**
 * The options of `tls.connect` (and of `ws` for `wss:` URLs) for `options`.
 *
 * @internal
 */
export const secureClientOptions = (options: TlsClientOptions): {
  readonly ca?: Pem
  readonly cert?: Pem
  readonly key?: NonNullable<tls.SecureContextOptions["key"]>
  readonly servername?: string
  readonly rejectUnauthorized: boolean
  readonly minVersion: tls.SecureVersion
} => ({
  ...(options.ca === undefined ? {} : { ca: options.ca }),
  ...(options.cert === undefined ? {} : { cert: options.cert }),
  ...(options.key === undefined ? {} : { key: options.key }),
  ...(options.servername === undefined ? {} : { servername: options.servername }),
  rejectUnauthorized: options.rejectUnauthorized ?? true,
  minVersion: options.minVersion ?? "TLSv1.2"
})

/** What a TLS listener does with a new connection: serve it, refuse it gracefully (after the handshake), or drop it. */
type Admission = "serve" | "refuse" | "drop"

/** One TCP connection whose TLS handshake is under way (or done). */
interface Handshake {
  readonly raw: net.Socket
  readonly peer: string
  readonly admission: Admission
  secure: boolean
  code: string | undefined
  reason: string | undefined
  timer: Fiber.Fiber<void> | undefined
}

/**
 * The handshakes of a TLS listener (shared with `WebSocketTransport`; not for applications). Every new TCP
 * connection is admitted (`admit`, which holds a slot for it until `release`), gets `timeout` to finish its
 * handshake (a fiber on Effect's `Clock`), and when it closes without having finished is counted and logged with
 * FM-29 and its code. `secured` tells a finished handshake's admission (`undefined`: unknown or too late; destroy).
 *
 * @internal
 */
export const watchTlsHandshakes = (
  server: tls.Server,
  options: {
    readonly timeoutMs: number
    readonly admit: () => Admission
    readonly release: (admission: Admission) => void
    readonly run: (effect: Effect.Effect<void>) => Fiber.Fiber<void>
    readonly name: string
  }
) => {
  const pending = new Map<string, Handshake>()
  let failures = 0
  const keyOf = (socket: net.Socket): string | undefined =>
    socket.remoteAddress === undefined || socket.remotePort === undefined ? undefined : `${socket.remoteAddress}:${socket.remotePort}`
  const log = (message: string, annotations: Record<string, unknown>) =>
    options.run(Effect.logWarning(message).pipe(Effect.annotateLogs({ mode: "FM-29", ...annotations })))
  // a listener of our own runs after Node's, which has wrapped the socket in a TLSSocket by then
  server.on("connection", (raw: net.Socket) => {
    raw.on("error", () => {})
    const peer = keyOf(raw)
    if (peer === undefined || pending.has(peer)) return raw.destroy()
    const admission = options.admit()
    if (admission === "drop") {
      options.release(admission)
      return raw.destroy()
    }
    const handshake: Handshake = { raw, peer, admission, secure: false, code: undefined, reason: undefined, timer: undefined }
    pending.set(peer, handshake)
    handshake.timer = options.run(Effect.sleep(Duration.millis(options.timeoutMs)).pipe(
      Effect.andThen(Effect.sync(() => {
        handshake.timer = undefined
        if (handshake.secure) return
        handshake.code ??= HANDSHAKE_TIMEOUT
        handshake.reason ??= `no TLS handshake within ${options.timeoutMs} ms (handshakeTimeout)`
        raw.destroy()
      }))
    ))
    raw.once("close", () => {
      if (pending.get(peer) === handshake) pending.delete(peer)
      handshake.timer?.interruptUnsafe()
      options.release(admission)
      if (handshake.secure) return
      failures++
      const code = handshake.code ?? "ECONNRESET"
      const reason = handshake.reason ?? "the peer closed the connection during the handshake, or its certificate was refused"
      log(`${options.name}: TLS handshake with ${peer} failed (FM-29, ${code}): ${reason}`, { code, peer })
    })
  })
  server.on("tlsClientError", (error: Error, socket: tls.TLSSocket) => {
    const peer = keyOf(socket)
    const handshake = peer === undefined ? undefined : pending.get(peer)
    const code = socket.authorizationError === null ? codeOf(error) : String(socket.authorizationError)
    if (handshake !== undefined) {
      handshake.code ??= code
      handshake.reason ??= error.message.trim()
    } else if (socket.authorizationError !== null) {
      // Node refused a client certificate and closed the socket, which no longer knows its peer
      log(`${options.name}: a client certificate was refused (FM-29, ${code})`, { code })
    }
    // Node leaves a failed handshake open (its own timeout among them): close it, or it holds a slot
    socket.destroy()
  })
  return {
    /** The admission of a connection whose handshake has just finished (`undefined`: drop it). */
    secured: (socket: tls.TLSSocket): Admission | undefined => {
      const peer = keyOf(socket)
      const handshake = peer === undefined ? undefined : pending.get(peer)
      if (handshake === undefined || handshake.secure || handshake.code !== undefined) return undefined
      handshake.secure = true
      pending.delete(handshake.peer)
      handshake.timer?.interruptUnsafe()
      handshake.timer = undefined
      return handshake.admission
    },
    /** Handshakes under way. */
    pending: () => pending.size,
    /** Handshakes failed (or timed out) since the listener started. */
    failures: () => failures,
    /** Drops every handshake under way (the listener is closing). */
    dropAll: () => {
      for (const handshake of pending.values()) handshake.raw.destroy()
    }
  }
}

const DEFAULT_KEEP_ALIVE = Duration.seconds(30)
const DEFAULT_MAX_BUFFERED = 16 * 1024 * 1024
const HEARTBEAT_ID = "heartbeat:"
const DEFAULT_FIRST_MESSAGE_TIMEOUT = Duration.seconds(30)

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
  side: "server" | "client",
  /** The peer of a TLS socket: an error of the TLS layer fails the connection with a `TlsFailure` naming it. */
  tlsPeer?: { readonly host: string; readonly port: number },
  /** Called once, when the first complete message (or decode error) arrives. */
  onFirstMessage?: () => void
): Effect.Effect<Transport.Transport, never, JsonRpcCodec.JsonRpcCodec | Scope.Scope> =>
  Effect.gen(function*() {
    const codec = yield* JsonRpcCodec.JsonRpcCodec
    if (tlsPeer !== undefined) {
      // before the writer's listener: the TLS failure (a corrupted record, FM-12; an alert, FM-29) is the reason,
      // for `incoming` and `send` alike
      socket.on("error", (error) => {
        const failure = tlsFailureOf(error, tlsPeer.host, tlsPeer.port)
        if (failure !== undefined) terminate(failure)
      })
    }
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
    const frames = codec.decodeNdjson(bytes, { allowBatch: true })
    // ---- slowloris: the first complete message must come within firstMessageTimeout (server side) ---------
    const firstMessageTimeout = side === "server" && options.firstMessageTimeout !== false
      ? Duration.fromInputUnsafe(options.firstMessageTimeout ?? DEFAULT_FIRST_MESSAGE_TIMEOUT)
      : undefined
    let received = false
    const decoded = firstMessageTimeout === undefined && onFirstMessage === undefined ? frames : Stream.mapArray(frames, (chunk) => {
      if (!received) {
        received = true
        onFirstMessage?.()
      }
      return chunk
    })
    if (firstMessageTimeout !== undefined) {
      yield* Effect.forkScoped(Effect.andThen(
        Effect.sleep(firstMessageTimeout),
        Effect.sync(() => {
          if (received) return
          terminate(new Transport.ConnectionClosed({
            reason: `${name} sent no complete message within ${Duration.toMillis(firstMessageTimeout)} ms of connecting (slowloris, FM-36)`
          }))
        })
      ))
    }
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
   * Most connections served at once (default 1,024). Past it the oldest connection that has not sent a
   * complete message yet is closed to make room (`evicted`); when every connection has talked, the new one
   * gets one JSON-RPC error frame (code -32010, `data.retryAfterMs`) and is closed. Connections that talk are
   * never affected (FM-36).
   */
  readonly maxConnections?: number
  /** The `retryAfterMs` hint sent to a refused connection (default 1 s). */
  readonly retryAfter?: Duration.Input
  /** Serve over TLS (default: plaintext). See `TlsServerOptions`. */
  readonly tls?: TlsServerOptions
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
  /** Connections that had sent no message, closed to make room for a new one while full (FM-36). */
  readonly evicted: Effect.Effect<number>
  /** TLS handshakes that failed or timed out since the server started (FM-29; always 0 without TLS). */
  readonly tlsFailures: Effect.Effect<number>
}

/** Refused connections closing at once; past it a refused socket is destroyed right after its frame. */
const MAX_REFUSALS_CLOSING = 1_024
/** How long a refused connection may take to close after its frame. */
const REFUSAL_LINGER = Duration.seconds(2)

/**
 * Listens and serves each connection with `handle` (in its own fiber and scope) until the scope closes; over TLS
 * when `tls` is given (a handshake holds a slot and must finish within `tls.handshakeTimeout`).
 */
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
    const run = (effect: Effect.Effect<void, never, R | JsonRpcCodec.JsonRpcCodec>): Fiber.Fiber<void> => {
      const fiber = Effect.runFork(Effect.provide(effect, context))
      fibers.add(fiber)
      fiber.addObserver(() => fibers.delete(fiber))
      return fiber
    }
    let open = 0
    let refused = 0
    let refusing = 0
    /** Reads whatever the peer sent away (closing with unread input resets the connection and can lose the
     * frame), and gives the peer a moment to close its side. */
    const linger = (socket: net.Socket, done: () => void) => {
      socket.resume()
      const closing = Effect.callback<void>((resume) => {
        if (socket.destroyed) return resume(Effect.void)
        socket.once("close", () => resume(Effect.void))
      }).pipe(
        Effect.timeoutOption(REFUSAL_LINGER),
        Effect.ensuring(Effect.sync(() => {
          done()
          socket.destroy()
        }))
      )
      run(Effect.asVoid(closing))
    }
    const refuse = (socket: net.Socket) => {
      refused++
      socket.end(refusal)
      if (refusing >= MAX_REFUSALS_CLOSING) {
        socket.destroySoon()
        return
      }
      refusing++
      linger(socket, () => refusing--)
    }
    /**
     * Connections that have not sent a complete message yet, oldest first. When the server is full, the oldest
     * of them makes room for a new connection (silent or trickling connections, slowloris, cannot lock out
     * new clients; FM-36); the connections being served are never evicted.
     */
    const silent = new Set<net.Socket>()
    let evicted = 0
    const evictSilent = (): boolean => {
      const oldest = silent.values().next()
      if (oldest.done === true) return false
      silent.delete(oldest.value)
      evicted++
      oldest.value.destroy()
      return true
    }
    /** Serves one connected (and, over TLS, secured) socket; `done` runs when its fiber ends. */
    const serveSocket = (socket: net.Socket, done: () => void, tlsPeer?: { readonly host: string; readonly port: number }) => {
      silent.add(socket)
      const connection = Effect.scoped(
        Effect.flatMap(
          make(socket, `tcp ${socket.remoteAddress}:${socket.remotePort}`, options, "server", tlsPeer, () => silent.delete(socket)),
          handle
        )
      ).pipe(
        Effect.ignoreCause,
        Effect.ensuring(Effect.sync(() => {
          silent.delete(socket)
          done()
          socket.destroy()
        }))
      )
      run(connection)
    }
    let handshakes: ReturnType<typeof watchTlsHandshakes> | undefined
    let server: net.Server
    if (options.tls === undefined) {
      server = net.createServer({ allowHalfOpen: true })
      server.on("connection", (socket) => {
        socket.on("error", () => {})
        // full: the oldest connection that never sent a message makes room (it closes at once; until its fiber
        // has ended the count may exceed the bound by the evictions in flight), else the new one is refused
        if (open >= maxConnections && !evictSilent()) return refuse(socket)
        open++
        serveSocket(socket, () => open--)
      })
    } else {
      // not half-open during the handshake: a client that gives up (FIN) closes it at once, so it is counted and
      // frees its slot; half-open once secured, as over plaintext
      const secure = tls.createServer({ allowHalfOpen: false, ...secureServerOptions(options.tls) })
      server = secure
      // a connection holds its slot from the first byte of its handshake until its socket closes
      const watched = watchTlsHandshakes(secure, {
        timeoutMs: handshakeTimeoutMs(options.tls),
        name: `tcp ${host}:${options.port}`,
        run,
        admit: () => {
          if (open < maxConnections) {
            open++
            return "serve"
          }
          refused++
          if (refusing >= MAX_REFUSALS_CLOSING) return "drop"
          refusing++
          return "refuse"
        },
        release: (admission) => {
          if (admission === "serve") open--
          else if (admission === "refuse") refusing--
        }
      })
      handshakes = watched
      secure.on("secureConnection", (socket: tls.TLSSocket) => {
        socket.on("error", () => {})
        socket.allowHalfOpen = true
        const admission = watched.secured(socket)
        if (admission === undefined || admission === "drop") return socket.destroy()
        if (admission === "refuse") {
          // the refusal frame, over TLS: the client recognises it as it does over plaintext
          socket.end(refusal)
          return linger(socket, () => {})
        }
        const peer = { host: socket.remoteAddress ?? "?", port: socket.remotePort ?? 0 }
        serveSocket(socket, () => {}, peer)
      })
    }
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
        handshakes?.dropAll()
        yield* Fiber.interruptAll([...fibers])
        yield* Effect.timeoutOption(Deferred.await(stopped), Duration.seconds(5))
      })
    )
    return {
      host: address.address,
      port: address.port,
      connections: Effect.sync(() => open),
      refused: Effect.sync(() => refused),
      evicted: Effect.sync(() => evicted),
      tlsFailures: Effect.sync(() => handshakes?.failures() ?? 0)
    }
  })

const connectOptionsOf = (
  options: TlsClientOptions,
  target: { readonly port: number; readonly host: string; readonly lookup?: net.LookupFunction }
): tls.ConnectionOptions & { readonly allowHalfOpen: boolean } => ({ ...secureClientOptions(options), ...target, allowHalfOpen: true }) // tls.connect takes allowHalfOpen (Node's types omit it)

/** Client settings. */
export interface ClientOptions extends ConnectionOptions {
  /** Host to connect to (default 127.0.0.1). */
  readonly host?: string
  /** Port to connect to. */
  readonly port: number
  /** Time to wait for the connection, name resolution and TLS handshake included (default 10 s). */
  readonly connectTimeout?: Duration.Input
  /** The resolver (node's `lookup` option; default `dns.lookup`), e.g. a caching one or a stub in tests. */
  readonly lookup?: net.LookupFunction
  /** Connect over TLS (default: plaintext). See `TlsClientOptions`; `{}` trusts the system's CAs. */
  readonly tls?: TlsClientOptions
}

/**
 * Connects; fails with `HostUnresolved` (FM-28) when the host name does not resolve, with `TlsFailure` (FM-29)
 * when the TLS handshake fails or does not finish within `connectTimeout` (code `ERR_TLS_HANDSHAKE_TIMEOUT`), and
 * with `TransportFailure` when the connection is refused or cannot be made in time. A server at its connection
 * limit answers with its refusal frame: `incoming` then fails with `ConnectionClosed` whose reason carries the
 * server's message (with its retry-after hint).
 */
export const connect = (
  options: ClientOptions
): Effect.Effect<
  Transport.Transport,
  Transport.TransportFailure | HostUnresolved | TlsFailure,
  JsonRpcCodec.JsonRpcCodec | Scope.Scope
> =>
  Effect.gen(function*() {
    const host = options.host ?? "127.0.0.1"
    const port = options.port
    const target: { readonly port: number; readonly host: string; readonly lookup?: net.LookupFunction } =
      options.lookup === undefined ? { port, host } : { port, host, lookup: options.lookup }
    const socket = options.tls === undefined
      ? new net.Socket({ allowHalfOpen: true })
      : tls.connect(connectOptionsOf(options.tls, target))
    socket.on("error", () => {})
    /** TCP is up, the TLS handshake is not done. */
    let handshaking = false
    const connected = yield* Deferred.make<void, Transport.TransportFailure | HostUnresolved | TlsFailure>()
    if (options.tls === undefined) socket.once("connect", () => Deferred.doneUnsafe(connected, Effect.void))
    else {
      socket.once("connect", () => (handshaking = true))
      socket.once("secureConnect", () => {
        handshaking = false
        Deferred.doneUnsafe(connected, Effect.void)
      })
    }
    socket.once("error", (error) =>
      Deferred.doneUnsafe(
        connected,
        Effect.fail(
          hostUnresolved(error, host, port) ??
            (options.tls === undefined ? undefined : tlsFailureOf(error, host, port, handshaking)) ??
            new Transport.TransportFailure({ detail: `cannot connect to ${host}:${port}: ${error.message}`, cause: error })
        )
      ))
    if (options.tls === undefined) socket.connect(target)
    yield* Effect.addFinalizer(() => Effect.sync(() => socket.destroy()))
    const timeout = options.connectTimeout ?? Duration.seconds(10)
    yield* Deferred.await(connected).pipe(
      Effect.timeoutOrElse({
        duration: timeout,
        orElse: () =>
          Effect.fail(
            handshaking
              ? new Transport.TlsFailure({
                mode: "FM-29",
                host,
                port,
                code: HANDSHAKE_TIMEOUT,
                reason: `the TLS handshake did not finish within ${Duration.toMillis(Duration.fromInputUnsafe(timeout))} ms (connectTimeout)`,
                retryable: true
              })
              : new Transport.TransportFailure({ detail: `connecting to ${host}:${port} timed out` })
          )
      })
    )
    return yield* make(socket, `${options.tls === undefined ? "tcp" : "tls"} ${host}:${port}`, options, "client", options.tls === undefined ? undefined : { host, port })
  })
