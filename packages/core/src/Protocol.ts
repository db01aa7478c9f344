/**
 * The protocol engine shared by server and client (as the official SDK's `Protocol`): request/response
 * correlation by id, notifications, requests in both directions, progress, cancellation and timeouts, over
 * any `Transport`.
 *
 * Every incoming request runs in its own fiber (keyed by request id, forked in the engine's scope):
 * a failure, a defect or an exception in one handler becomes a JSON-RPC error with a safe message, is recorded
 * with its FMEA mode, and affects nothing else (FM-16, FM-38, FM-42, FM-49). Concurrent handlers are bounded
 * (FM-37); pending outgoing requests are bounded; every wait has a timeout.
 *
 * Admission, in order: the rate limits (per connection, and any shared one such as per client: FM-46, with
 * a policy for a failing limiter: FM-17), the duplicate-id and per-connection bounds, then, in the handler's
 * fiber, the shared bulkheads with their bounded, time-limited queues (FM-04, FM-45). Every refusal is an
 * immediate JSON-RPC error with `data.mode` and `data.retryAfterMs`, and a recorded diagnostic. Outgoing
 * requests can go through a circuit breaker (FM-42).
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Tracer from "effect/Tracer"
import { Bulkhead, CircuitBreaker, RateLimit } from "@effect-mcp/faults"
import { CodecError, ErrorCode, JsonRpc } from "@effect-mcp/jsonrpc"
import {
  DuplicateRequestId,
  HandlerDefect,
  HandlerError,
  HandlerTimedOut,
  McpError,
  Overloaded,
  RateLimited,
  RemoteError,
  RequestTimedOut,
  UnknownResponseId
} from "./ProtocolError.ts"
import { ConnectionClosed, type SendOptions, type Transport, type TransportError } from "./Transport.ts"

/** A progress update: `progress` increases; `total` and `message` are optional. */
export interface Progress {
  readonly progress: number
  readonly total?: number
  readonly message?: string
}

/** Options of one outgoing request. */
export interface RequestOptions {
  /** Time without a response or progress before the request fails (default: the engine's `defaultTimeout`). */
  readonly timeout?: Duration.Input
  /** Whether progress notifications reset the timeout (default true). */
  readonly resetTimeoutOnProgress?: boolean
  /** Upper bound on the total time, progress or not. */
  readonly maxTotalTimeout?: Duration.Input
  /** Called with each progress notification the peer sends for this request. */
  readonly onProgress?: (progress: Progress) => Effect.Effect<void>
  /** Called with the request's id before it is sent (e.g. to correlate a subscription's notifications). */
  readonly onId?: (id: JsonRpc.RequestId) => Effect.Effect<void>
  /** The incoming request this one is made for (see `Transport.SendOptions`). */
  readonly relatedRequestId?: JsonRpc.RequestId
}

/** Everything that can fail an outgoing request. */
export type RequestError =
  | RemoteError
  | RequestTimedOut
  | Overloaded
  | TransportError
  | CodecError.UnencodableMessage
  | CircuitBreaker.CircuitOpen

/** One incoming request, as a handler sees it. */
export interface IncomingRequest {
  readonly id: JsonRpc.RequestId
  readonly method: string
  readonly params: Readonly<Record<string, unknown>> | undefined
  /** `params._meta`, if any. */
  readonly meta: Readonly<Record<string, unknown>> | undefined
  /** `params._meta.progressToken`, if the peer asked for progress. */
  readonly progressToken: string | number | undefined
  /** Sends `notifications/progress` for this request (a no-op without a progress token). */
  readonly sendProgress: (progress: Progress) => Effect.Effect<void>
}

/** A request handler. Fail with `McpError` to send a specific error; anything else becomes a safe -32603. */
export type RequestHandler = (request: IncomingRequest) => Effect.Effect<unknown, unknown>

/** What the engine records: every typed error that did not go to a caller. */
export type Diagnostic =
  | CodecError.DecodeError
  | UnknownResponseId
  | DuplicateRequestId
  | HandlerError
  | HandlerDefect
  | HandlerTimedOut
  | Overloaded
  | RateLimited
  | RateLimit.LimiterUnavailable
  | Bulkhead.BulkheadFull
  | Bulkhead.QueueTimeout

/** Engine settings. */
export interface Options {
  /** The handler of a method, or `undefined` for "Method not found" (-32601). */
  readonly handler: (method: string) => RequestHandler | undefined
  /** Called for each incoming notification other than cancellation and progress. */
  readonly onNotification?: (notification: JsonRpc.Notification) => Effect.Effect<void>
  /**
   * Most handlers running (or waiting in a bulkhead's queue) at once on this connection; past it the peer
   * gets `ErrorCode.Overloaded` at once (default 64). A function is read at every request, so the bound can
   * be reconfigured while the connection lives.
   */
  readonly maxConcurrentIncoming?: number | (() => number)
  /** Most of our requests awaiting a response; past it `request` fails with `Overloaded` (default 1024). */
  readonly maxPendingOutgoing?: number
  /** Default timeout of our requests (default 60 s). */
  readonly defaultTimeout?: Duration.Input
  /** Time bound of a handler, by request (default none). Past it the handler is interrupted. */
  readonly handlerTimeout?: (request: IncomingRequest) => Duration.Input | undefined
  /**
   * Requests a peer may send per `window` on this connection (a token bucket: `RateLimit` of
   * `@effect-mcp/faults`, on effect/persistence RateLimiter). Past it, requests are answered at once with
   * `ErrorCode.Overloaded` and a `retryAfterMs` hint (FM-46). `onLimiterFailure` (default `"open"`) decides
   * what a failing limiter does (FM-17). Default: no limit.
   */
  readonly rateLimit?: {
    readonly limit: number
    readonly window: Duration.Input
    readonly onLimiterFailure?: "open" | "closed"
  }
  /**
   * A rate limit shared beyond this connection (e.g. per client, across its connections), asked before each
   * request is admitted (`undefined`: no limit for this request). `RateLimitExceeded` is answered with
   * `ErrorCode.Overloaded`, `LimiterUnavailable` (a fail-closed limiter that is down) with
   * `ErrorCode.Unavailable`; both carry `retryAfterMs`.
   */
  readonly rateLimiter?: (request: IncomingRequest) => Effect.Effect<void, RateLimit.Rejection> | undefined
  /**
   * The bulkheads a request must pass, outermost first (e.g. the tool's, then the server's), shared beyond
   * this connection. The request waits in their bounded queues for at most their queue timeouts, inside its
   * own fiber; the handler's time bound starts once it is admitted. A refusal (`BulkheadFull`, FM-04;
   * `QueueTimeout`, FM-45) is answered with `ErrorCode.Overloaded` and `retryAfterMs`.
   */
  readonly bulkheads?: (request: IncomingRequest) => ReadonlyArray<Bulkhead.Bulkhead>
  /**
   * A circuit breaker over our outgoing requests (e.g. one per connection to a server): timeouts, transport
   * failures and the peer's internal, overload, unavailable and timeout errors count as failures; other
   * error responses show the peer is up. While it is open, `request` fails at once with `CircuitOpen`.
   */
  readonly outboundBreaker?: { readonly breaker: CircuitBreaker.CircuitBreaker; readonly key?: string }
  /** Whether incoming frames may be JSON-RPC batches (only MCP 2025-03-26). */
  readonly allowBatch?: () => boolean
  /**
   * When the peer ends its input cleanly, how long handlers still running may take to finish and send their
   * responses before the connection closes (default 10 s). Nothing already accepted is dropped before that.
   */
  readonly drainTimeout?: Duration.Input
  /** Receives every recorded diagnostic (they are also logged at warning level with their mode). */
  readonly onDiagnostic?: (diagnostic: Diagnostic) => Effect.Effect<void>
  /**
   * Whether each handled request is a server span `Protocol.handle` (default: when a tracer other than
   * Effect's native one is installed where the engine is made, e.g. `Telemetry`'s; spans nobody exports are
   * not worth their cost on the request path).
   */
  readonly traceRequests?: boolean
}

/** A running engine over one connection. */
export interface Protocol {
  /** Sends a request and waits for its result. Interrupting the caller sends `notifications/cancelled`. */
  readonly request: (
    method: string,
    params?: Record<string, unknown>,
    options?: RequestOptions
  ) => Effect.Effect<unknown, RequestError>
  /** Sends a notification. */
  readonly notify: (
    method: string,
    params?: Record<string, unknown>,
    options?: SendOptions
  ) => Effect.Effect<void, TransportError | CodecError.UnencodableMessage>
  /** Completes when the connection ends, with why. */
  readonly closed: Effect.Effect<ConnectionClosed>
  /** Closes the connection: pending requests fail with `ConnectionClosed`, handlers are interrupted. */
  readonly close: Effect.Effect<void>
  /** Requests currently being handled. */
  readonly inFlight: Effect.Effect<number>
}

interface Pending {
  readonly method: string
  readonly deferred: Deferred.Deferred<unknown, RequestError>
  readonly onProgress: ((progress: Progress) => Effect.Effect<void>) | undefined
  /** Clock time of the last activity (send or progress), for the resetting timeout. */
  lastActivity: number
  readonly resetOnProgress: boolean
}

/** Longest the `notifications/cancelled` of a timed-out or abandoned request may wait to be written. */
const CANCEL_SEND_TIMEOUT = Duration.seconds(1)

const isRecord = (u: unknown): u is Record<string, unknown> =>
  typeof u === "object" && u !== null && !Array.isArray(u)

/** Safe text of a failure for local records: the message of an Error, never a stack. */
const describe = (u: unknown): string => {
  if (u instanceof Error) return `${u.name}: ${u.message}`
  if (isRecord(u) && typeof u._tag === "string") return typeof u.message === "string" ? `${u._tag}: ${u.message}` : u._tag
  try {
    return String(u)
  } catch {
    return "unprintable failure"
  }
}

/**
 * Starts the engine on a transport. The engine lives in the current scope: closing it stops reading,
 * interrupts every handler (their finalizers run) and fails every pending request with `ConnectionClosed`.
 */
export const make = Effect.fnUntraced(function*(
  transport: Transport,
  options: Options
): Effect.fn.Return<Protocol, never, Scope.Scope> {
  const configuredIncoming = options.maxConcurrentIncoming ?? 64
  const maxIncoming = typeof configuredIncoming === "function" ? configuredIncoming : () => configuredIncoming
  const maxPending = options.maxPendingOutgoing ?? 1024
  const defaultTimeout = Duration.fromInputUnsafe(options.defaultTimeout ?? Duration.seconds(60))
  const scope = yield* Effect.scope
  const traceRequests = options.traceRequests ?? (yield* Effect.tracer) !== Tracer.nativeTracer
  const limiter = options.rateLimit === undefined
    ? undefined
    : yield* RateLimit.make({ name: "connection", maxKeys: 1, ...options.rateLimit })
  /**
   * One fiber per request being handled, keyed by id (a plain Map: cheaper per request than FiberMap's hash
   * map, and the engine's scope owns every fiber anyway).
   */
  const fibers = new Map<JsonRpc.RequestId, Fiber.Fiber<void>>()
  const cancel = (id: JsonRpc.RequestId) =>
    Effect.suspend(() => {
      const fiber = fibers.get(id)
      return fiber === undefined ? Effect.void : Fiber.interrupt(fiber)
    })
  const awaitIdle: Effect.Effect<void> = Effect.suspend(() =>
    fibers.size === 0 ? Effect.void : Effect.andThen(Fiber.await([...fibers.values()][0]!), awaitIdle)
  )
  const pending = new Map<JsonRpc.RequestId, Pending>()
  const closedSignal = yield* Deferred.make<ConnectionClosed>()
  let nextId = 0
  let inFlight = 0
  /** Ids of the requests being handled (the admission check reads it without an effect). */
  const active = new Set<JsonRpc.RequestId>()

  const record = (diagnostic: Diagnostic) =>
    Effect.logWarning(diagnostic.message).pipe(
      Effect.annotateLogs({ mode: diagnostic.mode, error: diagnostic._tag }),
      Effect.andThen(options.onDiagnostic ? options.onDiagnostic(diagnostic) : Effect.void)
    )

  /** Sends and ignores a transport that is already gone (a response to a closed peer has nowhere to go). */
  const sendQuietly = (message: JsonRpc.Incoming, sendOptions?: SendOptions) =>
    Effect.ignore(transport.send(message, sendOptions))

  const errorResponse = (id: JsonRpc.RequestId | null, code: number, message: string, data?: unknown) =>
    JsonRpc.failure(id, code, message, data)

  // ---- incoming requests -------------------------------------------------------------------------------

  const incomingRequest = (request: JsonRpc.Request): IncomingRequest => {
    const params = isRecord(request.params) ? request.params : undefined
    const meta = params !== undefined && isRecord(params._meta) ? params._meta : undefined
    const token = meta?.progressToken
    const progressToken = typeof token === "string" || typeof token === "number" ? token : undefined
    const related: SendOptions = { relatedRequestId: request.id }
    return {
      id: request.id,
      method: request.method,
      params,
      meta,
      progressToken,
      sendProgress: (progress) =>
        progressToken === undefined
          ? Effect.void
          : sendQuietly(JsonRpc.notification("notifications/progress", { progressToken, ...progress }), related)
    }
  }

  // ---- handler time bounds: one sweeper fiber for the whole connection, not a timer per request ----------

  const deadlines = new Map<JsonRpc.RequestId, { readonly at: number; readonly ms: number; readonly method: string }>()
  const timedOut = new Set<JsonRpc.RequestId>()
  let sweeping = false

  const sweep: Effect.Effect<void> = Effect.gen(function*() {
    while (deadlines.size > 0) {
      let now = yield* Clock.currentTimeMillis
      let earliest = Infinity
      for (const d of deadlines.values()) earliest = Math.min(earliest, d.at)
      if (earliest > now) yield* Effect.sleep(Duration.millis(Math.min(earliest - now, 1_000)))
      now = yield* Clock.currentTimeMillis
      for (const [id, d] of [...deadlines]) {
        if (d.at > now) continue
        deadlines.delete(id)
        timedOut.add(id)
        yield* record(new HandlerTimedOut({ method: d.method, requestId: id, timeoutMs: d.ms }))
        yield* sendQuietly(errorResponse(id, ErrorCode.RequestTimeout, `Request timed out after ${d.ms} ms`))
        // interrupts the handler: its finalizers run; its own response, if any, is suppressed
        yield* cancel(id)
        timedOut.delete(id)
      }
    }
  }).pipe(Effect.ensuring(Effect.sync(() => {
    sweeping = false
  })))

  const bound = (request: JsonRpc.Request, incoming: IncomingRequest) =>
    Effect.suspend(() => {
      const limit = options.handlerTimeout?.(incoming)
      if (limit === undefined) return Effect.void
      const ms = Duration.toMillis(Duration.fromInputUnsafe(limit))
      return Effect.clockWith((clock) => {
        deadlines.set(request.id, { at: clock.currentTimeMillisUnsafe() + ms, ms, method: request.method })
        if (sweeping) return Effect.void
        sweeping = true
        return Effect.asVoid(Effect.forkIn(sweep, scope))
      })
    })

  /** The error attributes of a handled request's span (OpenTelemetry's `error.type`, and the FMEA mode if any). */
  const annotateError = (code: number, mode?: unknown) =>
    Effect.annotateCurrentSpan(
      typeof mode === "string" ? { "error.type": String(code), "rpc.response.status_code": String(code), "mcp.fault.mode": mode } : {
        "error.type": String(code),
        "rpc.response.status_code": String(code)
      }
    )

  /**
   * Runs a handler and turns its exit into the response to send, in a server span `Protocol.handle` carrying
   * the MCP attributes operators filter on (`mcp.method.name`, `jsonrpc.request.id`, and on failure
   * `error.type` and the FMEA mode).
   */
  const serve = (
    request: JsonRpc.Request,
    handler: RequestHandler,
    incoming: IncomingRequest
  ): Effect.Effect<JsonRpc.Response> => {
    return Effect.andThen(bound(request, incoming), Effect.suspend(() => handler(incoming))).pipe(
      Effect.exit,
      Effect.flatMap((exit): Effect.Effect<JsonRpc.Response> => {
        deadlines.delete(request.id)
        if (Exit.isSuccess(exit)) return Effect.succeed(JsonRpc.success(request.id, exit.value ?? {}))
        const failure = Cause.findErrorOption(exit.cause)
        if (Option.isSome(failure)) {
          const error = failure.value
          if (error instanceof McpError) {
            return Effect.as(
              annotateError(error.code, isRecord(error.data) ? error.data.mode : undefined),
              errorResponse(request.id, error.code, error.message, error.data)
            )
          }
          const diagnostic = new HandlerError({ method: request.method, requestId: request.id, detail: describe(error) })
          return Effect.as(
            Effect.andThen(annotateError(ErrorCode.InternalError, diagnostic.mode), record(diagnostic)),
            errorResponse(request.id, ErrorCode.InternalError, "Internal error")
          )
        }
        const defect = Cause.findDefect(exit.cause)
        const diagnostic = new HandlerDefect({
          method: request.method,
          requestId: request.id,
          detail: Result.isSuccess(defect) ? describe(defect.success) : "interrupted"
        })
        return Effect.as(
          Effect.andThen(annotateError(ErrorCode.InternalError, diagnostic.mode), record(diagnostic)),
          errorResponse(request.id, ErrorCode.InternalError, "Internal error")
        )
      }),
      (response) =>
        traceRequests
          ? Effect.withSpan(response, "Protocol.handle", {
            kind: "server",
            attributes: { "mcp.method.name": request.method, "jsonrpc.request.id": String(request.id) },
            // no stack trace per request: capturing one costs more than the rest of the span
            captureStackTrace: false
          })
          : response
    )
  }

  /** Admits a request (duplicate id, concurrency bound, known method): its handler, or the answer to send now. */
  const admitUnlimited = (request: JsonRpc.Request): Effect.Effect<JsonRpc.Response | RequestHandler> => {
    if (active.has(request.id)) {
      return Effect.as(
        record(new DuplicateRequestId({ id: request.id })),
        // answered with id null: an answer carrying the id would be taken as the answer of the original (FM-26)
        errorResponse(null, ErrorCode.InvalidRequest, `Invalid Request: a request with id ${JSON.stringify(request.id)} is in flight`, {
          duplicateId: request.id
        })
      )
    }
    const limit = maxIncoming()
    if (inFlight >= limit) {
      return Effect.as(
        record(new Overloaded({ limit })),
        errorResponse(
          request.id,
          ErrorCode.Overloaded,
          `Server overloaded: ${limit} requests already in flight on this connection`,
          { limit, mode: "FM-37" }
        )
      )
    }
    const handler = options.handler(request.method)
    return Effect.succeed(
      handler ?? errorResponse(request.id, ErrorCode.MethodNotFound, `Method not found: ${request.method}`)
    )
  }

  /** The answer to a request that a rate limit or a bulkhead refused (recorded as a diagnostic). */
  const refusal = (
    id: JsonRpc.RequestId,
    error: RateLimit.Rejection | Bulkhead.Rejection
  ): Effect.Effect<JsonRpc.Response> => {
    switch (error._tag) {
      case "RateLimitExceeded": {
        const { limit, retryAfterMs } = error
        return Effect.as(
          record(new RateLimited({ limit, retryAfterMs })),
          errorResponse(id, ErrorCode.Overloaded, `Rate limit exceeded: retry after ${retryAfterMs} ms`, {
            limit,
            retryAfterMs,
            mode: error.mode
          })
        )
      }
      case "LimiterUnavailable":
        return Effect.as(
          record(error),
          errorResponse(id, ErrorCode.Unavailable, "Rate limiter unavailable: request refused", {
            retryAfterMs: error.retryAfterMs,
            mode: error.mode
          })
        )
      case "BulkheadFull":
        return Effect.as(
          record(error),
          errorResponse(id, ErrorCode.Overloaded, `Server overloaded: ${error.bulkhead} is full`, {
            limit: error.maxConcurrent,
            retryAfterMs: error.retryAfterMs,
            mode: error.mode
          })
        )
      case "QueueTimeout":
        return Effect.as(
          record(error),
          errorResponse(
            id,
            ErrorCode.Overloaded,
            `Server overloaded: no capacity in ${error.bulkhead} within ${error.queueTimeoutMs} ms`,
            { retryAfterMs: error.retryAfterMs, mode: error.mode }
          )
        )
    }
  }

  const admit = (request: JsonRpc.Request, incoming: IncomingRequest): Effect.Effect<JsonRpc.Response | RequestHandler> => {
    const shared = options.rateLimiter?.(incoming)
    if (limiter === undefined && shared === undefined) return admitUnlimited(request)
    const own = limiter === undefined ? Effect.void : limiter.consume("connection")
    const checks = shared === undefined ? own : Effect.andThen(own, shared)
    return checks.pipe(
      Effect.matchEffect({
        onSuccess: () => admitUnlimited(request),
        onFailure: (error) => refusal(request.id, error)
      })
    )
  }

  /** Serves a request through the bulkheads that apply to it; a refusal becomes the response. */
  const handle = (
    request: JsonRpc.Request,
    handler: RequestHandler,
    incoming: IncomingRequest
  ): Effect.Effect<JsonRpc.Response> => {
    if (options.bulkheads === undefined) return serve(request, handler, incoming)
    const bulkheads = options.bulkheads(incoming)
    if (bulkheads.length === 0) return serve(request, handler, incoming)
    let guarded: Effect.Effect<JsonRpc.Response, Bulkhead.Rejection> = serve(request, handler, incoming)
    for (let i = bulkheads.length - 1; i >= 0; i--) guarded = bulkheads[i]!.run(guarded)
    return Effect.catch(guarded, (error) => refusal(request.id, error))
  }

  const onRequest = (request: JsonRpc.Request): Effect.Effect<void> => {
    const incoming = incomingRequest(request)
    return Effect.flatMap(admit(request, incoming), (admitted) => {
      if (typeof admitted !== "function") return sendQuietly(admitted)
      inFlight++
      active.add(request.id)
      let finished = false
      return handle(request, admitted, incoming).pipe(
        Effect.flatMap((response) => (timedOut.has(request.id) ? Effect.void : sendQuietly(response))),
        Effect.ensuring(Effect.sync(() => {
          finished = true
          inFlight--
          active.delete(request.id)
          deadlines.delete(request.id)
          fibers.delete(request.id)
        })),
        Effect.forkIn(scope, { startImmediately: true }),
        Effect.map((fiber) => {
          // a handler that finished synchronously has already cleaned up
          if (!finished) fibers.set(request.id, fiber)
        })
      )
    })
  }

  // ---- incoming notifications and responses -------------------------------------------------------------

  const onNotification = (notification: JsonRpc.Notification): Effect.Effect<void> => {
    const params = isRecord(notification.params) ? notification.params : {}
    switch (notification.method) {
      case "notifications/cancelled": {
        const id = params.requestId
        if (typeof id !== "string" && typeof id !== "number") return Effect.void
        // interrupts the handler (its finalizers run); no response is sent for a cancelled request
        return cancel(id)
      }
      case "notifications/progress": {
        const token = params.progressToken
        const entry = typeof token === "string" || typeof token === "number" ? pending.get(token) : undefined
        if (entry === undefined || typeof params.progress !== "number") return Effect.void
        return Effect.flatMap(Clock.currentTimeMillis, (now) => {
          if (entry.resetOnProgress) entry.lastActivity = now
          if (entry.onProgress === undefined) return Effect.void
          const { progressToken: _token, ...progress } = params
          return Effect.ignore(entry.onProgress(progress as unknown as Progress))
        })
      }
      default:
        return options.onNotification ? Effect.ignoreCause(options.onNotification(notification)) : Effect.void
    }
  }

  const onResponse = (response: JsonRpc.Response): Effect.Effect<void> => {
    const entry = response.id === null ? undefined : pending.get(response.id)
    if (entry === undefined) return record(new UnknownResponseId({ id: response.id }))
    pending.delete(response.id!)
    if ("result" in response) return Effect.asVoid(Deferred.succeed(entry.deferred, response.result))
    const { code, message, data } = response.error
    return Effect.asVoid(
      Deferred.fail(
        entry.deferred,
        new RemoteError(data === undefined ? { method: entry.method, code, message } : { method: entry.method, code, message, data })
      )
    )
  }

  const onMessage = (message: JsonRpc.Message): Effect.Effect<void> => {
    if ("method" in message) {
      return "id" in message ? onRequest(message as JsonRpc.Request) : onNotification(message)
    }
    return onResponse(message)
  }

  /** A batch: requests are answered together, as one array, once all are done. */
  const onBatch = (batch: JsonRpc.Batch): Effect.Effect<void> =>
    Effect.gen(function*() {
      const answers: Array<Effect.Effect<JsonRpc.Response>> = []
      for (const message of batch) {
        if ("method" in message && "id" in message) {
          const request = message as JsonRpc.Request
          const incoming = incomingRequest(request)
          const admitted = yield* admit(request, incoming)
          answers.push(typeof admitted === "function" ? handle(request, admitted, incoming) : Effect.succeed(admitted))
        } else {
          yield* onMessage(message)
        }
      }
      if (answers.length === 0) return
      yield* Effect.all(answers, { concurrency: maxIncoming() }).pipe(
        Effect.flatMap((responses) => sendQuietly(responses as unknown as JsonRpc.Batch)),
        Effect.forkIn(scope)
      )
    })

  const onDecoded = (decoded: Result.Result<JsonRpc.Incoming, CodecError.DecodeError>): Effect.Effect<void> => {
    if (Result.isFailure(decoded)) {
      return Effect.andThen(record(decoded.failure), sendQuietly(CodecError.toResponse(decoded.failure)))
    }
    const incoming = decoded.success
    if (JsonRpc.isBatch(incoming)) {
      if (options.allowBatch?.() === true) return onBatch(incoming)
      return sendQuietly(errorResponse(null, ErrorCode.InvalidRequest, "Invalid Request: batches are not supported"))
    }
    return onMessage(incoming)
  }

  // ---- lifecycle ----------------------------------------------------------------------------------------

  const shutdown = (reason: ConnectionClosed) =>
    Effect.gen(function*() {
      if (!(yield* Deferred.succeed(closedSignal, reason))) return
      for (const entry of pending.values()) yield* Deferred.fail(entry.deferred, reason)
      pending.clear()
      yield* Fiber.interruptAll([...fibers.values()])
    })

  yield* transport.incoming.pipe(
    Stream.runForEach(onDecoded),
    Effect.matchCauseEffect({
      onSuccess: () =>
        // the peer finished sending: let accepted requests finish and answer (bounded), then close
        awaitIdle.pipe(
          Effect.timeoutOption(options.drainTimeout ?? Duration.seconds(10)),
          Effect.andThen(shutdown(new ConnectionClosed({ reason: "the peer closed the connection" })))
        ),
      onFailure: (cause) => {
        const error = Cause.findErrorOption(cause)
        const reason = Option.isSome(error)
          ? error.value._tag === "ConnectionClosed" ? error.value : new ConnectionClosed({ reason: error.value.message })
          : new ConnectionClosed({ reason: "the connection's reader stopped" })
        return shutdown(reason)
      }
    }),
    Effect.forkScoped
  )
  yield* Effect.addFinalizer(() =>
    Effect.andThen(shutdown(new ConnectionClosed({ reason: "the connection was closed locally" })), transport.close)
  )

  // ---- outgoing -----------------------------------------------------------------------------------------

  /**
   * Sends the request and waits for its response within its timeout, which covers the send too: a peer that
   * stopped reading (the write waits for a drain that never comes) ends the call with RequestTimedOut in time
   * rather than when the connection dies (found by apps/chaos). One timer for both.
   */
  const sendAndAwait = <E>(
    send: Effect.Effect<void, E>,
    entry: Pending,
    timeout: Duration.Duration,
    maxTotal: Duration.Duration | undefined
  ) =>
    Effect.gen(function*() {
      const start = entry.lastActivity
      const timeoutMs = Duration.toMillis(timeout)
      const totalMs = maxTotal === undefined ? Infinity : Duration.toMillis(maxTotal)
      // a long-lived request (e.g. subscriptions/listen) waits for as long as the connection lives
      if (timeoutMs === Infinity && totalMs === Infinity) {
        yield* send
        return Option.some(yield* Deferred.await(entry.deferred))
      }
      let first: Effect.Effect<unknown, E | RequestError> | undefined = Effect.andThen(send, Deferred.await(entry.deferred))
      while (true) {
        const now = yield* Clock.currentTimeMillis
        const remaining = Math.min(entry.lastActivity + timeoutMs, start + totalMs) - now
        if (remaining <= 0) return Option.none()
        const result = yield* Effect.timeoutOption(first ?? Deferred.await(entry.deferred), Duration.millis(remaining))
        first = undefined
        if (Option.isSome(result)) return result
      }
    })

  const request = Effect.fn("Protocol.request")(function*(
    method: string,
    params?: Record<string, unknown>,
    requestOptions: RequestOptions = {}
  ) {
    const closed = yield* Deferred.poll(closedSignal)
    if (Option.isSome(closed)) return yield* Effect.fail(yield* closed.value)
    if (pending.size >= maxPending) return yield* new Overloaded({ limit: maxPending })
    const id = nextId++
    yield* Effect.annotateCurrentSpan({ "mcp.method.name": method, "jsonrpc.request.id": String(id) })
    const meta = isRecord(params?._meta) ? params._meta : {}
    const message = JsonRpc.request(id, method, { ...params, _meta: { ...meta, progressToken: id } })
    const entry: Pending = {
      method,
      deferred: yield* Deferred.make<unknown, RequestError>(),
      onProgress: requestOptions.onProgress,
      lastActivity: yield* Clock.currentTimeMillis,
      resetOnProgress: requestOptions.resetTimeoutOnProgress ?? true
    }
    const timeout = requestOptions.timeout === undefined ? defaultTimeout : Duration.fromInputUnsafe(requestOptions.timeout)
    const maxTotal = requestOptions.maxTotalTimeout === undefined
      ? undefined
      : Duration.fromInputUnsafe(requestOptions.maxTotalTimeout)
    const cancel = (reason: string) =>
      Effect.suspend(() => {
        if (!pending.delete(id)) return Effect.void
        // a peer that does not read must not hold the caller: the notice gets a short bound of its own
        return sendQuietly(JsonRpc.notification("notifications/cancelled", { requestId: id, reason })).pipe(
          Effect.timeoutOption(CANCEL_SEND_TIMEOUT),
          Effect.asVoid
        )
      })
    const timedOut = Effect.suspend(() => {
      const elapsed = Duration.toMillis(timeout)
      return Effect.andThen(cancel(`timed out after ${elapsed} ms`), Effect.fail(new RequestTimedOut({ method, timeoutMs: elapsed })))
    })
    pending.set(id, entry)
    return yield* Effect.gen(function*() {
      if (requestOptions.onId !== undefined) yield* requestOptions.onId(id)
      const send = transport.send(
        message,
        requestOptions.relatedRequestId === undefined ? undefined : { relatedRequestId: requestOptions.relatedRequestId }
      )
      const response = yield* sendAndAwait(send, entry, timeout, maxTotal)
      if (Option.isSome(response)) return response.value
      return yield* timedOut
    }).pipe(
      Effect.onInterrupt(() => cancel("the caller cancelled the request")),
      Effect.ensuring(Effect.sync(() => pending.delete(id)))
    )
  })

  const notify = (method: string, params?: Record<string, unknown>, sendOptions?: SendOptions) =>
    transport.send(JsonRpc.notification(method, params), sendOptions)

  /** Server-side trouble (or none at all) counts against the peer; an answer of any other kind shows it is up. */
  const classifyOutbound = (exit: Exit.Exit<unknown, RequestError>): CircuitBreaker.Outcome => {
    if (Exit.isSuccess(exit)) return "success"
    const error = Cause.findErrorOption(exit.cause)
    if (Option.isNone(error)) return "failure"
    switch (error.value._tag) {
      case "RemoteError": {
        const code = error.value.code
        return code === ErrorCode.InternalError || code === ErrorCode.Overloaded || code === ErrorCode.Unavailable ||
            code === ErrorCode.RequestTimeout
          ? "failure"
          : "success"
      }
      case "Overloaded":
      case "UnencodableMessage":
      case "CircuitOpen":
        return "ignored"
      default:
        return "failure"
    }
  }
  const outbound = options.outboundBreaker
  const guardedRequest: Protocol["request"] = outbound === undefined
    ? request
    : (method, params, requestOptions) =>
      outbound.breaker.execute(outbound.key ?? "peer", request(method, params, requestOptions), { classify: classifyOutbound })

  return {
    request: guardedRequest,
    notify,
    closed: Deferred.await(closedSignal),
    close: shutdown(new ConnectionClosed({ reason: "the connection was closed locally" })).pipe(
      Effect.andThen(transport.close)
    ),
    inFlight: Effect.sync(() => inFlight)
  } satisfies Protocol
})
