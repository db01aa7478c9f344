/**
 * Streamable HTTP, client side, for both protocol eras.
 *
 * Every message is its own POST; answers come back as JSON or as an SSE stream and are fed, decoded by the
 * shared codec, to `incoming`. The transport follows the HTTP binding of MCP and nothing more:
 *
 * - Stateful era: it keeps the `Mcp-Session-Id` the server assigned at `initialize` and sends the negotiated
 *   `MCP-Protocol-Version`. When the server answers 404 for the session (expired, restarted), it replays the
 *   `initialize` handshake it saw, takes the new session and sends the message again, so the application
 *   carries on (the official clients get stuck here). It opens the GET stream for server-initiated messages
 *   and reconnects it with `Last-Event-ID` after the server's `retry` hint or with full-jitter backoff
 *   (FM-07), also when the server sent no event ids. A POST stream that ends before its answer is resumed
 *   the same way (SEP-1699).
 * - A response cut before its answer (connection reset or closed mid-body, an SSE stream that cannot be
 *   resumed: no event id seen, 404/405, attempts exhausted) fails its requests with -32000 and
 *   `data: { mode: "FM-07", reason: "connection lost", retryable: true }`, as `ReconnectingTransport` does, so
 *   `McpClient.isTransient` retries them; the transport stays usable. A request the server refuses as a
 *   duplicate of one in flight (a copy of the POST got there first, FM-10) fails the same way at once.
 * - 2026-07-28: no session; `MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name` and the `Mcp-Param-*` headers of
 *   tools annotated with `x-mcp-header` are sent; tools with invalid annotations are left out of
 *   `tools/list` results. Cancelling a request closes its response stream.
 * - Bounds: responses larger than `maxResponseBytes` are cut (typed error to the caller); one keep-alive
 *   agent, no listener per request left behind; every wait has a timeout.
 *
 * @since 0.1.0
 */
import * as http from "node:http"
import type * as net from "node:net"
import * as https from "node:https"
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Queue from "effect/Queue"
import * as Result from "effect/Result"
import type * as Scope from "effect/Scope"
import * as Sse from "effect/encoding/Sse"
import * as Stream from "effect/Stream"
import { Backoff, Transport } from "@effect-mcp/core"
import { type CodecError, ErrorCode, JsonRpc, JsonRpcCodec } from "@effect-mcp/jsonrpc"
import * as McpHeaders from "./internal/mcpHeaders.ts"
import { secureClientOptions, type TlsClientOptions, tlsFailureOf } from "./TcpTransport.ts"

/** Client settings. */
export interface ClientOptions {
  /** The MCP endpoint. */
  readonly url: string | URL
  /** Extra headers on every request (e.g. `authorization`); a function is called per request with its method and URL. */
  readonly headers?:
    | Readonly<Record<string, string>>
    | ((request: { readonly method: string; readonly url: URL }) => Readonly<Record<string, string>>)
  /** Largest response body or SSE event accepted, in bytes (default: the codec's frame limit). */
  readonly maxResponseBytes?: number
  /** Time to wait for a response's headers (default 60 s). */
  readonly responseTimeout?: Duration.Input
  /**
   * The resolver (node's `lookup`; default `dns.lookup`), e.g. `HostResolver.cachingLookup` to keep the last
   * good addresses through a resolver outage, or a stub in tests. A name that does not resolve fails the send
   * with `HostUnresolved` (FM-28).
   */
  readonly lookup?: net.LookupFunction
  /**
   * TLS of an `https:` URL: the CAs to trust (default: the system's), the name to verify, a client certificate
   * for mutual TLS, the lowest protocol version (TLS 1.2). A handshake that fails (a certificate that does not
   * verify, a name that does not match, a protocol error) fails the send with `TlsFailure` (FM-29).
   */
  readonly tls?: TlsClientOptions
  /** Backoff of stream reconnections (default base 1 s, cap 16 s, full jitter). */
  readonly reconnect?: Backoff.Policy
  /** Reconnections of one broken stream before giving up (default 10). */
  readonly maxReconnects?: number
  /** Open the GET stream for server-initiated messages (stateful era; default true). */
  readonly standaloneStream?: boolean
  /** Messages held for the application before the transport fails as overrun (default 4,096). */
  readonly inboxCapacity?: number
  /** Authorization (e.g. an OAuth client): headers for every request, and what to do on 401/403. */
  readonly authorization?: Authorization
}

/** A 401 or 403 from the server, with its `WWW-Authenticate` challenge. */
export interface Challenge {
  readonly status: number
  readonly wwwAuthenticate: string | undefined
  readonly url: URL
  /** The response's headers (lower-case names), e.g. `dpop-nonce`. */
  readonly headers: Readonly<Record<string, string | undefined>>
}

/** The hook an authorization client (OAuth 2.1) plugs into the transport. */
export interface Authorization {
  /** Headers to send now (e.g. `authorization: Bearer …`); called at start and after each challenge. */
  readonly headers: Effect.Effect<Readonly<Record<string, string>>, unknown>
  /** Handles a challenge (obtains or upgrades a token); `true` means retry the request. */
  readonly challenge: (challenge: Challenge) => Effect.Effect<boolean, unknown>
}

/** Challenges answered per message before the transport gives up (a server that never accepts a token). */
const MAX_AUTH_ATTEMPTS = 3

const STATEFUL = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"]

/** The `data` of the error a request gets when its response was cut (the same as `ReconnectingTransport`'s). */
const connectionLost = { mode: "FM-07", reason: "connection lost", retryable: true } as const

/** The `data` of the error a request gets when the server answers it on another (duplicated) POST. */
const answeredElsewhere = { mode: "FM-10", reason: "answered on another response", retryable: true } as const

const isRecord = (u: unknown): u is Record<string, unknown> =>
  typeof u === "object" && u !== null && !Array.isArray(u)

/** The protocol version a message names in `_meta` when it is of the stateless era. */
const statelessVersion = (message: JsonRpc.Message): string | undefined => {
  if (!("method" in message) || !isRecord(message.params)) return undefined
  const meta = message.params._meta
  const version = isRecord(meta) ? meta["io.modelcontextprotocol/protocolVersion"] : undefined
  return typeof version === "string" && !STATEFUL.includes(version) ? version : undefined
}

interface Exchange {
  request: http.ClientRequest | undefined
  /** A 2026-07-28 request: cancelling it closes its stream. */
  readonly stateless: boolean
  /** Ids of the requests this POST carried that are not answered yet. */
  readonly open: Set<JsonRpc.RequestId>
}

/** A client transport over Streamable HTTP. Nothing is sent until the first message. */
export const connect = (
  options: ClientOptions
): Effect.Effect<Transport.Transport, never, JsonRpcCodec.JsonRpcCodec | Scope.Scope> =>
  Effect.gen(function*() {
    const codec = yield* JsonRpcCodec.JsonRpcCodec
    // timers are fibers on Effect's Clock (the TestClock in tests), forked with the client's services (FM-43)
    const runFork = Effect.runForkWith(yield* Effect.context<never>())
    /** Timers still waiting, interrupted when the client closes. */
    const timers = new Set<Fiber.Fiber<void>>()
    /** Runs `f` after `ms` on the Clock; the returned function cancels it. */
    const after = (ms: number, f: () => void): (() => void) => {
      let ended = false
      const fiber: Fiber.Fiber<void> = runFork(
        Effect.andThen(Effect.sleep(Duration.millis(ms)), Effect.sync(f)).pipe(
          Effect.ensuring(Effect.sync(() => {
            ended = true
            timers.delete(fiber)
          }))
        )
      )
      if (!ended) timers.add(fiber)
      return () => fiber.interruptUnsafe()
    }
    const url = new URL(options.url)
    const secure = url.protocol === "https:"
    const agentOptions = { keepAlive: true, maxSockets: 64, ...(options.lookup === undefined ? {} : { lookup: options.lookup }) }
    const agent = secure
      ? new https.Agent({ ...agentOptions, ...secureClientOptions(options.tls ?? {}) })
      : new http.Agent(agentOptions)
    const maxBytes = options.maxResponseBytes ?? codec.maxFrameBytes
    const responseTimeoutMs = Duration.toMillis(Duration.fromInputUnsafe(options.responseTimeout ?? Duration.seconds(60)))
    const maxReconnects = options.maxReconnects ?? 10
    const inbox = yield* Queue.bounded<JsonRpcCodec.Decoded, Transport.TransportError | Cause.Done>(options.inboxCapacity ?? 4_096)

    let closed = false
    let sessionId: string | undefined
    let protocolVersion: string | undefined
    let initializeRequest: JsonRpc.Request | undefined
    let initializedNotification: JsonRpc.Notification | undefined
    let standaloneOpen = false
    /** Method of each request in flight, to post-process results (tools/list, initialize). */
    const methods = new Map<JsonRpc.RequestId, string>()
    const exchanges = new Map<JsonRpc.RequestId, Exchange>()
    const toolHeaders = new Map<string, ReadonlyArray<McpHeaders.ParamHeader>>()
    const active = new Set<http.ClientRequest>()

    let authHeaders: Readonly<Record<string, string>> = options.authorization === undefined
      ? {}
      : yield* Effect.orElseSucceed(options.authorization.headers, () => ({}))
    const extraHeaders = (method: string) => ({
      ...(typeof options.headers === "function" ? options.headers({ method, url }) : options.headers ?? {}),
      ...authHeaders
    })

    // ---- incoming ---------------------------------------------------------------------------------------

    const push = (decoded: JsonRpcCodec.Decoded) => {
      if (closed) return
      if (!Queue.offerUnsafe(inbox, decoded)) {
        Queue.failCauseUnsafe(
          inbox,
          Cause.fail(new Transport.TransportFailure({ detail: "the application is not reading incoming messages (inbox full)" }))
        )
      }
    }

    /** Post-processes one incoming message: learns the session's version, filters tools/list. */
    const accept = (message: JsonRpc.Message): JsonRpc.Message => {
      if (!JsonRpc.isResponse(message) || message.id === null) return message
      const method = methods.get(message.id)
      methods.delete(message.id)
      for (const exchange of exchanges.values()) exchange.open.delete(message.id)
      exchanges.delete(message.id)
      if (!("result" in message) || !isRecord(message.result)) return message
      if (method === "initialize" && typeof message.result.protocolVersion === "string") {
        protocolVersion = message.result.protocolVersion
      }
      if (method === "tools/list" && Array.isArray(message.result.tools)) {
        const tools = message.result.tools.filter((tool: unknown) => {
          if (!isRecord(tool) || typeof tool.name !== "string") return true
          const found = McpHeaders.toolHeaders(tool.inputSchema)
          if ("error" in found) {
            Effect.runFork(Effect.logWarning(`Tool "${tool.name}" left out: ${found.error}`).pipe(Effect.annotateLogs({ mode: "FM-47" })))
            toolHeaders.delete(tool.name)
            return false
          }
          if (found.headers.length > 0) toolHeaders.set(tool.name, found.headers)
          else toolHeaders.delete(tool.name)
          return true
        })
        return { ...message, result: { ...message.result, tools } }
      }
      return message
    }

    const deliverText = (text: string) => {
      const decoded = codec.decodeText(text, { allowBatch: true })
      if (Result.isFailure(decoded)) return push(decoded)
      const incoming = decoded.success
      refusedAsDuplicates((Array.isArray(incoming) ? incoming : [incoming]) as ReadonlyArray<JsonRpc.Message>)
      push(Result.succeed(Array.isArray(incoming) ? incoming.map(accept) as unknown as JsonRpc.Batch : accept(incoming as JsonRpc.Message)))
    }

    /** Makes the requests of a POST fail at once (the answer cannot come). */
    const failOpen = (ids: Iterable<JsonRpc.RequestId>, code: number, message: string, data?: unknown) => {
      for (const id of [...ids]) {
        if (!methods.has(id)) continue
        methods.delete(id)
        exchanges.delete(id)
        push(Result.succeed(JsonRpc.failure(id, code, message, data)))
      }
    }

    /**
     * FM-07: the response of a POST was cut (connection reset or closed before the answer) and cannot be
     * resumed. Its requests fail at once with -32000 and `data.retryable`, as `ReconnectingTransport` fails the
     * requests in flight on a lost connection, so `McpClient.isTransient` retries them.
     */
    const failLost = (ids: Iterable<JsonRpc.RequestId>, detail: string) =>
      failOpen(ids, ErrorCode.ConnectionClosed, `Connection lost: ${detail}`, connectionLost)

    /**
     * FM-10: the server refused one of our requests as a duplicate of one in flight (`id: null`,
     * `data.duplicateId`): a copy of our POST (a proxy duplicated it) reached the server first and gets the answer
     * on a response we do not read. The request fails at once with a retryable -32000 rather than waiting for
     * an answer that cannot come here.
     */
    const refusedAsDuplicates = (messages: ReadonlyArray<JsonRpc.Message>) => {
      for (const m of messages) {
        if (!JsonRpc.isResponse(m) || m.id !== null || !("error" in m) || !isRecord(m.error.data)) continue
        const duplicateId = m.error.data.duplicateId
        if (typeof duplicateId !== "string" && typeof duplicateId !== "number") continue
        failOpen([duplicateId], ErrorCode.ConnectionClosed, `Answered elsewhere: ${m.error.message}`, answeredElsewhere)
      }
    }

    // ---- HTTP -------------------------------------------------------------------------------------------

    type Body =
      | { readonly _tag: "Text"; readonly text: string }
      | { readonly _tag: "TooLarge" }
      | { readonly _tag: "Cut" }

    interface Response {
      readonly status: number
      readonly headers: http.IncomingHttpHeaders
      readonly body: http.IncomingMessage
    }

    /** One HTTP request; the callback gets the response (headers only) or an error. */
    const exchange = (
      method: "POST" | "GET" | "DELETE",
      headers: Record<string, string>,
      body: string | undefined,
      onResponse: (error: Transport.TransportFailure | Transport.HostUnresolved | Transport.TlsFailure | undefined, response?: Response) => void
    ): http.ClientRequest => {
      let done = false
      const finish = (error: Transport.TransportFailure | Transport.HostUnresolved | Transport.TlsFailure | undefined, response?: Response) => {
        if (done) return
        done = true
        cancelTimer()
        onResponse(error, response)
      }
      const request = (secure ? https : http).request(url, {
        method,
        agent,
        headers: { ...extraHeaders(method), ...headers, ...(body === undefined ? {} : { "content-length": String(Buffer.byteLength(body)) }) }
      })
      active.add(request)
      const cancelTimer = after(responseTimeoutMs, () => {
        finish(new Transport.TransportFailure({ detail: `${method} ${url.href}: no response within ${responseTimeoutMs} ms` }))
        request.destroy()
      })
      request.on("response", (res) => {
        res.on("error", () => {})
        finish(undefined, { status: res.statusCode ?? 0, headers: res.headers, body: res })
      })
      request.on("error", (error) => {
        const port = Number(url.port || (secure ? 443 : 80))
        finish(
          Transport.hostUnresolved(error, url.hostname, port) ??
            (secure ? tlsFailureOf(error, url.hostname, port) : undefined) ??
            new Transport.TransportFailure({ detail: `${method} ${url.href}: ${error.message}`, cause: error })
        )
      })
      request.on("close", () => {
        active.delete(request)
        finish(new Transport.TransportFailure({ detail: `${method} ${url.href}: closed before a response` }))
      })
      request.end(body)
      return request
    }

    /** Reads a whole (bounded) body: its text, or why there is none (larger than allowed, or cut). */
    const readAll = (res: http.IncomingMessage, onBody: (body: Body) => void) => {
      const chunks: Array<Buffer> = []
      let size = 0
      let over = false
      res.on("data", (chunk: Buffer) => {
        if (over) return
        size += chunk.length
        if (size > maxBytes) {
          over = true
          res.destroy()
          onBody({ _tag: "TooLarge" })
          return
        }
        chunks.push(chunk)
      })
      res.on("end", () => {
        if (!over) {
          over = true
          onBody({ _tag: "Text", text: Buffer.concat(chunks).toString("utf8") })
        }
      })
      res.on("close", () => {
        if (!over && !res.complete) {
          over = true
          onBody({ _tag: "Cut" })
        }
      })
    }

    /**
     * Reads an SSE body: each event's data is a message. Calls `onEnd` with the last event id and the server's
     * retry hint when the stream ends.
     */
    const readSse = (
      res: http.IncomingMessage,
      onEnd: (lastEventId: string | undefined, retryMs: number | undefined, overflow: boolean) => void,
      lastId?: string
    ) => {
      let lastEventId = lastId
      let retryMs: number | undefined
      let overflow = false
      const parser = Sse.makeParser((event) => {
        if (event._tag === "Retry") {
          retryMs = Duration.toMillis(event.duration)
          if (event.lastEventId !== undefined) lastEventId = event.lastEventId
          return
        }
        if (event.id !== undefined) lastEventId = event.id
        if (event.data.length === 0) return // priming events and keep-alives
        if (event.event !== "message" && event.event !== "") return
        deliverText(event.data)
      }, { maxEventSize: maxBytes })
      res.setEncoding("utf8")
      res.on("data", (chunk: string) => {
        if (overflow) return
        const error = parser.feed(chunk)
        if (error !== undefined) {
          overflow = true
          res.destroy()
        }
      })
      let ended = false
      const end = () => {
        if (ended) return
        ended = true
        onEnd(lastEventId, retryMs, overflow)
      }
      res.on("end", end)
      res.on("close", end)
    }

    // ---- resuming streams ---------------------------------------------------------------------------------

    /**
     * Resumes a stream with GET and `Last-Event-ID` until `isDone` or the attempts run out; `onGiveUp` then.
     * The first attempt waits the server's retry hint when it gave one.
     */
    const resume = (
      lastEventId: string | undefined,
      retryMs: number | undefined,
      isDone: () => boolean,
      onGiveUp: (reason: string) => void
    ) => {
      const backoff = Backoff.make(options.reconnect)
      let attempts = 0
      const attempt = (id: string | undefined, hint: number | undefined) => {
        if (closed || isDone()) return
        if (attempts++ >= maxReconnects) return onGiveUp(`the stream could not be resumed after ${maxReconnects} attempts`)
        const delay = hint ?? Duration.toMillis(Effect.runSync(backoff.next))
        after(delay, () => {
          if (closed || isDone()) return
          const headers: Record<string, string> = { accept: "text/event-stream", ...sessionHeaders() }
          if (id !== undefined) headers["last-event-id"] = id
          exchange("GET", headers, undefined, (error, response) => {
            if (error !== undefined || response === undefined) return attempt(id, undefined)
            if (response.status === 405) {
              response.body.resume()
              return onGiveUp("the server has no GET stream (405)")
            }
            if (response.status === 404) {
              response.body.resume()
              return onGiveUp("the session is gone (404)")
            }
            if (response.status !== 200) {
              response.body.resume()
              return attempt(id, undefined)
            }
            Effect.runSync(backoff.connected)
            readSse(response.body, (nextId, nextRetry) => {
              Effect.runSync(backoff.disconnected)
              attempt(nextId ?? id, nextRetry)
            }, id)
          })
        })
      }
      attempt(lastEventId, retryMs)
    }

    const sessionHeaders = (): Record<string, string> => ({
      ...(sessionId === undefined ? {} : { "mcp-session-id": sessionId }),
      ...(protocolVersion === undefined ? {} : { "mcp-protocol-version": protocolVersion })
    })

    /** The GET stream of a stateful session (server-initiated messages), kept open with reconnection. */
    const openStandalone = () => {
      if (options.standaloneStream === false || sessionId === undefined || standaloneOpen || closed) return
      const owner = sessionId
      standaloneOpen = true
      resume(undefined, 0, () => closed || sessionId !== owner, () => {
        if (sessionId === owner) standaloneOpen = false
      })
    }

    // ---- sending ----------------------------------------------------------------------------------------

    /** POSTs one message and routes the answer; `onSent` when the server accepted it (or failed). */
    const post = (
      message: JsonRpc.Incoming,
      text: string,
      onSent: (error: Transport.TransportError | undefined) => void,
      retried = false,
      authAttempts = 0
    ) => {
      const first = (Array.isArray(message) ? message[0] : message) as JsonRpc.Message
      const version = statelessVersion(first)
      const isInitialize = JsonRpc.isRequest(first) && first.method === "initialize"
      if (version === undefined && !isInitialize && reinitializing !== undefined) {
        // a new session is being set up: this message goes out with it, not with the dead one (or none)
        reinitializing.push((error) => (error === undefined ? post(message, text, onSent, retried, authAttempts) : onSent(error)))
        return
      }
      const sentSession = sessionId
      const headers: Record<string, string> = {
        "content-type": "application/json",
        accept: "application/json, text/event-stream"
      }
      if (version !== undefined) {
        headers["mcp-protocol-version"] = version
        if (JsonRpc.isRequest(first)) {
          headers["mcp-method"] = first.method
          const params = isRecord(first.params) ? first.params : {}
          const name = first.method === "tools/call" || first.method === "prompts/get"
            ? params.name
            : first.method === "resources/read"
            ? params.uri
            : undefined
          if (typeof name === "string") headers["mcp-name"] = McpHeaders.encodeValue(name)
          if (first.method === "tools/call" && typeof params.name === "string") {
            Object.assign(headers, McpHeaders.paramHeaders(toolHeaders.get(params.name) ?? [], params.arguments))
          }
        }
      } else {
        Object.assign(headers, sessionHeaders())
      }
      const all = (Array.isArray(message) ? message : [message]) as ReadonlyArray<JsonRpc.Message>
      const ids = all.filter(JsonRpc.isRequest).map((m) => m.id)
      const entry: Exchange = { request: undefined, stateless: version !== undefined, open: new Set(ids) }
      for (const m of all) {
        if (JsonRpc.isRequest(m)) {
          methods.set(m.id, m.method)
          exchanges.set(m.id, entry)
        }
      }
      const request = exchange("POST", headers, text, (error, response) => {
        if (error !== undefined || response === undefined) {
          // the send fails (a transient `TransportFailure` to the caller)
          for (const id of ids) {
            methods.delete(id)
            if (exchanges.get(id) === entry) exchanges.delete(id)
          }
          return onSent(error)
        }
        const { status, body } = response
        const type = String(response.headers["content-type"] ?? "")
        if (version === undefined && typeof response.headers["mcp-session-id"] === "string") {
          sessionId = response.headers["mcp-session-id"]
        }
        const authorization = options.authorization
        if ((status === 401 || status === 403) && authorization !== undefined && authAttempts < MAX_AUTH_ATTEMPTS) {
          body.resume()
          const wwwAuthenticate = response.headers["www-authenticate"]
          const responseHeaders: Record<string, string | undefined> = {}
          for (const [name, value] of Object.entries(response.headers)) {
            responseHeaders[name] = Array.isArray(value) ? value.join(", ") : value
          }
          const answer = authorization.challenge({ status, wwwAuthenticate, url, headers: responseHeaders }).pipe(
            Effect.flatMap((retry) => retry ? Effect.map(authorization.headers, (h) => h) : Effect.succeed(undefined))
          )
          Effect.runCallback(answer, {
            onExit: (exit) => {
              if (exit._tag === "Success" && exit.value !== undefined) {
                authHeaders = exit.value
                return post(message, text, onSent, retried, authAttempts + 1)
              }
              const reason = exit._tag === "Failure" ? `authorization failed: ${Cause.pretty(exit.cause).split("\n")[0]}` : `HTTP ${status}: not authorized`
              failOpen(ids, ErrorCode.InvalidRequest, reason)
              onSent(ids.length > 0 ? undefined : new Transport.TransportFailure({ detail: reason }))
            }
          })
          return
        }
        if (status === 404 && sentSession !== undefined && version === undefined && !retried && initializeRequest !== undefined &&
          !(JsonRpc.isRequest(first) && first.method === "initialize")) {
          // the session is gone: a new handshake (one for every message that finds it gone), then the same
          // message again; a message sent with a session already replaced just goes again
          body.resume()
          if (sentSession !== sessionId) return post(message, text, onSent, true, authAttempts)
          return reinitialize((reinitError) => {
            if (reinitError !== undefined) {
              for (const id of ids) methods.delete(id)
              return onSent(reinitError)
            }
            post(message, text, onSent, true, authAttempts)
          })
        }
        if (status === 202) {
          body.resume()
          if (JsonRpc.isNotification(first) && first.method === "notifications/initialized") openStandalone()
          return onSent(undefined)
        }
        if (status >= 200 && status < 300 && type.includes("text/event-stream")) {
          onSent(undefined)
          return readSse(body, (lastEventId, retryMs, overflow) => {
            if (entry.open.size === 0) return
            if (overflow) return failOpen(entry.open, ErrorCode.InternalError, `An SSE event exceeded ${maxBytes} bytes`)
            if (version !== undefined) return failLost(entry.open, "the response stream ended before the answer")
            if (lastEventId === undefined) {
              return failLost(entry.open, "the response stream ended before the answer, with no event id to resume from")
            }
            // SEP-1699 (the server ended the stream on purpose), FM-07 (it was cut): resume it for the rest
            resume(lastEventId, retryMs, () => entry.open.size === 0, (reason) =>
              failLost(entry.open, `the response stream ended before the answer: ${reason}`))
          })
        }
        readAll(body, (read) => {
          if (read._tag === "TooLarge") {
            failOpen(ids, ErrorCode.InternalError, `The response was larger than ${maxBytes} bytes`)
            return onSent(undefined)
          }
          if (read._tag === "Cut") {
            failLost(ids, `HTTP ${status}: the response was cut before it was complete`)
            return onSent(undefined)
          }
          const bodyText = read.text
          if (bodyText.trim().length > 0) {
            const decoded = codec.decodeText(bodyText, { allowBatch: true })
            if (Result.isSuccess(decoded)) {
              const incoming = decoded.success
              const answers = (Array.isArray(incoming) ? incoming : [incoming]) as ReadonlyArray<JsonRpc.Message>
              refusedAsDuplicates(answers)
              if (answers.some((m) => JsonRpc.isResponse(m) && m.id !== null && ids.includes(m.id))) {
                deliverText(bodyText)
                failOpen(ids, ErrorCode.InternalError, `HTTP ${status}: the server did not answer every request`)
                return onSent(undefined)
              }
            }
          }
          if (ids.length > 0) {
            failOpen(ids, status >= 500 ? ErrorCode.InternalError : ErrorCode.InvalidRequest, `HTTP ${status}: ${bodyText.slice(0, 200)}`)
            return onSent(undefined)
          }
          return onSent(status >= 200 && status < 300 ? undefined : new Transport.TransportFailure({ detail: `HTTP ${status} for a notification: ${bodyText.slice(0, 200)}` }))
        })
      })
      entry.request = request
    }

    /** Replays the handshake after the server lost the session. */
    /** Messages waiting for the handshake in progress (undefined: none in progress). */
    let reinitializing: Array<(error: Transport.TransportError | undefined) => void> | undefined
    const reinitialize = (then: (error: Transport.TransportError | undefined) => void) => {
      if (reinitializing !== undefined) {
        reinitializing.push(then)
        return
      }
      const waiting = [then]
      reinitializing = waiting
      const done = (error: Transport.TransportError | undefined) => {
        reinitializing = undefined
        for (const next of waiting) next(error)
      }
      sessionId = undefined
      standaloneOpen = false
      const init = { ...initializeRequest!, id: `effect-mcp-reinitialize-${Date.now()}` }
      const headers: Record<string, string> = { "content-type": "application/json", accept: "application/json, text/event-stream" }
      exchange("POST", headers, JSON.stringify(init), (error, response) => {
        if (error !== undefined || response === undefined) return done(error)
        const session = response.headers["mcp-session-id"]
        const finish = (ok: boolean) => {
          if (!ok || typeof session !== "string") {
            return done(new Transport.TransportFailure({ detail: `re-initializing after the session was lost failed (HTTP ${response.status})` }))
          }
          sessionId = session
          if (initializedNotification === undefined) return done(undefined)
          exchange("POST", { ...headers, ...sessionHeaders() }, JSON.stringify(initializedNotification), (e, r) => {
            r?.body.resume()
            if (e === undefined) openStandalone()
            done(e)
          })
        }
        const type = String(response.headers["content-type"] ?? "")
        if (response.status !== 200) {
          response.body.resume()
          return finish(false)
        }
        if (type.includes("text/event-stream")) {
          // the answer to our own initialize is read and dropped (the application already has one)
          let ok = false
          const parser = Sse.makeParser((event) => {
            if (event._tag === "Event" && event.data.includes("\"result\"")) ok = true
          })
          response.body.setEncoding("utf8")
          response.body.on("data", (chunk: string) => parser.feed(chunk))
          response.body.on("end", () => finish(ok))
          return
        }
        readAll(response.body, (read) => finish(read._tag === "Text" && read.text.includes("\"result\"")))
      })
    }

    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        if (closed) return
        closed = true
        const owner = sessionId
        for (const request of [...active]) request.destroy()
        for (const timer of [...timers]) timer.interruptUnsafe()
        if (owner !== undefined) {
          // ends the session on the server; best effort, bounded
          yield* Effect.callback<void>((resumeEffect) => {
            exchange("DELETE", { "mcp-session-id": owner, ...(protocolVersion === undefined ? {} : { "mcp-protocol-version": protocolVersion }) }, undefined, (_e, r) => {
              r?.body.resume()
              resumeEffect(Effect.void)
            })
          }).pipe(Effect.timeoutOption(Duration.seconds(2)))
        }
        agent.destroy()
        Queue.endUnsafe(inbox)
      })
    )

    return {
      incoming: Stream.fromQueue(inbox),
      send: (message) =>
        Effect.suspend((): Effect.Effect<void, Transport.TransportError | CodecError.UnencodableMessage> => {
          if (closed) return Effect.fail(new Transport.ConnectionClosed({ reason: "the transport is closed" }))
          const first = (Array.isArray(message) ? message[0] : message) as JsonRpc.Message
          if (JsonRpc.isRequest(first) && first.method === "initialize") initializeRequest = first
          if (JsonRpc.isNotification(first) && first.method === "notifications/initialized") initializedNotification = first
          if (JsonRpc.isNotification(first) && first.method === "notifications/cancelled" && isRecord(first.params)) {
            const id = first.params.requestId as JsonRpc.RequestId
            const inFlight = exchanges.get(id)
            if (inFlight !== undefined && inFlight.stateless) {
              // 2026-07-28 over HTTP: closing the response stream is the cancellation
              methods.delete(id)
              exchanges.delete(id)
              inFlight.request?.destroy()
              return Effect.void
            }
          }
          const encoded = codec.encode(message)
          if (Result.isFailure(encoded)) return Effect.fail(encoded.failure)
          return Effect.callback<void, Transport.TransportError>((resumeEffect) => {
            post(message, encoded.success, (error) => resumeEffect(error === undefined ? Effect.void : Effect.fail(error)))
          })
        }),
      close: Effect.sync(() => {
        if (closed) return
        for (const request of [...active]) request.destroy()
        Queue.endUnsafe(inbox)
      })
    } satisfies Transport.Transport
  })
