/**
 * `McpClient`: typed calls to an MCP server over any transport, in both protocol eras, on the shared engine.
 *
 * Negotiation: when the client speaks 2026-07-28 it first probes with `server/discover`; a recognised modern
 * answer (a result, or -32022 listing the supported versions) means a modern server, any other answer of the
 * server (-32601, -32602, a result without `supportedVersions`…) means a legacy one and the client falls back
 * to `initialize`. No answer is no evidence of the era: a lost connection or a timeout during the probe fails
 * the connect with `NegotiationFailed` (after `connectRetry`, if given), and a refusal for load (-32010,
 * -32011) or an open circuit fails it with that error, instead of silently downgrading to the legacy era.
 * In the stateless era every request carries the
 * client's version, capabilities and info in `_meta`, and `input_required` results (MRTR) are answered by the
 * client's sampling/elicitation/roots handlers and retried. In the stateful era those handlers answer the
 * server's requests.
 *
 * Calls time out (default 60 s) with a timeout that resets on progress whether or not the caller watches
 * progress; interrupting a call sends `notifications/cancelled`.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as PubSub from "effect/PubSub"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { Protocol, ProtocolError, type Transport } from "@effect-mcp/core"
import type { CircuitBreaker } from "@effect-mcp/faults"
import * as Deferred from "effect/Deferred"
import * as Schedule from "effect/Schedule"
import { ErrorCode, type JsonRpc } from "@effect-mcp/jsonrpc"
import * as Result from "effect/Result"
import { McpSchema, Revision, type V2025_11_25 } from "@effect-mcp/schema"

const isRecord = (u: unknown): u is Record<string, unknown> =>
  typeof u === "object" && u !== null && !Array.isArray(u)

/** How the client describes itself. */
export interface ClientInfo {
  readonly name: string
  readonly version: string
  readonly title?: string
}

/** Handlers for what a server may ask of the client. Each one present is declared as a capability. */
export interface Handlers {
  /** `sampling/createMessage`: run an LLM completion for the server. */
  readonly sampling?: (params: Record<string, unknown>) => Effect.Effect<Record<string, unknown>, ProtocolError.McpError>
  /** `elicitation/create`: ask the user for input (form or URL mode). */
  readonly elicitation?: (params: Record<string, unknown>) => Effect.Effect<Record<string, unknown>, ProtocolError.McpError>
  /** `roots/list`: the roots the server may use. */
  readonly roots?: Effect.Effect<ReadonlyArray<{ readonly uri: string; readonly name?: string }>>
}

/** Client settings. */
export interface Options {
  readonly info: ClientInfo
  readonly handlers?: Handlers
  /** The revisions the client speaks (default all five); the newest is preferred. */
  readonly revisions?: ReadonlyArray<Revision.Revision>
  /** Default time a call may go without a response or progress (default 60 s). */
  readonly requestTimeout?: Duration.Input
  /**
   * Time for the `server/discover` probe (default 10 s). Give it more when connecting can include an
   * authorization flow (an OAuth login runs inside the first request).
   */
  readonly discoverTimeout?: Duration.Input
  /** Most `input_required` rounds of one call before giving up (default 8). */
  readonly maxInputRounds?: number
  /** Extra client capabilities to declare (e.g. `experimental`, `extensions`). */
  readonly capabilities?: Record<string, unknown>
  /**
   * A circuit breaker over every request to this server, negotiation included (the engine's
   * `outboundBreaker`, FM-14/FM-42): timeouts, lost connections and the server's internal, overload,
   * unavailable and timeout errors count as failures; while the circuit is open, requests fail at once with
   * `CircuitOpen`, which `isTransient` counts as transient and `defaultRetry` waits out (`retryAfterMs`). One
   * breaker can guard several connections: give connections to the same server the same `key` (default
   * `"peer"`), and different servers different keys.
   */
  readonly outboundBreaker?: { readonly breaker: CircuitBreaker.CircuitBreaker; readonly key?: string }
  /**
   * Retries the `server/discover` probe while it fails transiently (`isTransient`: a timeout, a lost
   * connection that a `ReconnectingTransport` restores, a refusal for load, an open circuit), e.g.
   * `McpClient.defaultRetry`. Without it the first such failure fails the connect. `initialize` is never
   * repeated (a legacy server may refuse a second one).
   */
  readonly connectRetry?: Schedule.Schedule<unknown, CallError, never, never>
  /**
   * Whether a `server/discover` probe that gets no answer within `discoverTimeout` means a legacy server.
   * Default true, as the 2026-07-28 specification says ("does not respond within a reasonable timeout: the
   * server is legacy"; some legacy servers ignore unknown requests before `initialize`). `false` makes silence
   * fail the connect with `NegotiationFailed` (reason `timeout`) — for clients that only talk to modern
   * servers over links that may stall. A lost connection never means legacy, whatever this says.
   */
  readonly legacyOnDiscoverTimeout?: boolean
}

/** Options of one call. */
export interface CallOptions {
  readonly timeout?: Duration.Input
  readonly maxTotalTimeout?: Duration.Input
  readonly onProgress?: (progress: Protocol.Progress) => Effect.Effect<void>
  readonly onId?: (id: JsonRpc.RequestId) => Effect.Effect<void>
  /**
   * Retries transient failures (a timeout, an overloaded or rate-limited server, an open circuit) with this
   * policy, e.g. `McpClient.defaultRetry`. Only for calls that are safe to repeat: give an `idempotencyKey`
   * for tools with side effects (an effect-mcp server then runs the call once).
   */
  readonly retry?: Schedule.Schedule<unknown, CallError, never, never>
  /** Sent as `_meta["io.effect-mcp/idempotencyKey"]` so that retries of this call run it once. */
  readonly idempotencyKey?: string
}

/** The longest wait a failure's retry hint can impose on `defaultRetry` (a peer's hint is not trusted beyond it). */
export const maxRetryAfter: Duration.Duration = Duration.seconds(30)

/**
 * The wait a failure asks for before a retry, in ms: an open circuit's `retryAfterMs` (FM-42; a retry before
 * it only meets the open circuit again), or the `data.retryAfterMs` of a server's refusal (rate limit,
 * overload, open breaker: -32010, -32011). Capped at `maxRetryAfter`; `undefined` when there is no hint.
 */
export const retryAfterMs = (error: CallError): number | undefined => {
  const hint = error._tag === "CircuitOpen"
    ? error.retryAfterMs
    : error._tag === "RemoteError" && isRecord(error.data) && typeof error.data.retryAfterMs === "number"
    ? error.data.retryAfterMs
    : undefined
  return hint === undefined || !Number.isFinite(hint) || hint < 0 ? undefined : Math.min(hint, Duration.toMillis(maxRetryAfter))
}

/**
 * Makes a retry policy wait at least what the failure asks for (`retryAfterMs`): each delay is the larger of
 * the policy's own and the hint.
 */
export const respectRetryAfter = <Output>(
  self: Schedule.Schedule<Output, CallError, never, never>
): Schedule.Schedule<Output, CallError, never, never> =>
  Schedule.modifyDelay(self, ({ duration, input }) => {
    const hint = retryAfterMs(input)
    return Effect.succeed(hint === undefined ? duration : Duration.max(duration, Duration.millis(hint)))
  })

/**
 * A retry policy for transient failures: exponential from 100 ms with jitter, each delay capped at 5 s but at
 * least the failure's retry hint (an open circuit's `retryAfterMs`, a server's `data.retryAfterMs`; at most
 * `maxRetryAfter`), at most 5 retries.
 */
export const defaultRetry: Schedule.Schedule<unknown, CallError, never, never> = Schedule.exponential("100 millis").pipe(
  Schedule.jittered,
  // each delay at most 5 s; then at most 5 retries (`min` recurs while either side does, so the count goes last)
  (schedule) => Schedule.min([schedule, Schedule.spaced("5 seconds")]),
  Schedule.setInputType<CallError>(),
  respectRetryAfter,
  Schedule.upTo({ times: 5 })
)

/**
 * Is this failure transient (worth a retry of a call that is safe to repeat)? A timeout, an overloaded or
 * unavailable server, a lost connection (FM-07), an open or half-open circuit (FM-42; not one forced open,
 * which stays open until an operator resets it).
 */
export const isTransient = (error: CallError): boolean =>
  error._tag === "RequestTimedOut" || error._tag === "Overloaded" || error._tag === "TransportFailure" ||
  (error._tag === "CircuitOpen" && error.state !== "ForcedOpen") ||
  (error._tag === "RemoteError" &&
    (error.code === ErrorCode.Overloaded || error.code === ErrorCode.Unavailable || error.code === ErrorCode.RequestTimeout ||
      // a lost connection (ReconnectingTransport, FM-07)
      error.code === ErrorCode.ConnectionClosed))

/** What a 2026-07-28 subscription asks for (`subscriptions/listen`). */
export interface SubscriptionFilter {
  readonly toolsListChanged?: boolean
  readonly promptsListChanged?: boolean
  readonly resourcesListChanged?: boolean
  readonly resourceSubscriptions?: ReadonlyArray<string>
}

/** FM-47: the server speaks no revision this client speaks. */
export class UnsupportedRevision extends Schema.TaggedError<UnsupportedRevision>()("UnsupportedRevision", {
  mode: Schema.tag("FM-47"),
  offered: Schema.Array(Schema.String),
  supported: Schema.Array(Schema.String)
}) {
  override get message(): string {
    return `The server offers ${this.offered.join(", ") || "nothing"}; this client speaks ${this.supported.join(", ")}`
  }
}

/** FM-50: the server's answer does not have the shape MCP requires. */
export class InvalidResponse extends Schema.TaggedError<InvalidResponse>()("InvalidResponse", {
  mode: Schema.tag("FM-50"),
  method: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    return `Invalid ${this.method} response: ${this.detail}`
  }
}

/** FM-42: a multi round-trip request needed more rounds than allowed, or input the client cannot give. */
export class InputRequiredFailed extends Schema.TaggedError<InputRequiredFailed>()("InputRequiredFailed", {
  mode: Schema.tag("FM-42"),
  method: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    return `${this.method} asked for input the client could not give: ${this.detail}`
  }
}

/**
 * FM-07 / FM-21: connecting could not tell the server's era, because the `server/discover` probe got no answer:
 * the connection was lost while it was pending (`connection-lost`, mode FM-07: a closed or failed transport,
 * or the -32000 a reconnecting transport answers for a request lost with its connection) or nothing came back
 * in time (`timeout`, mode FM-21). The client did not fall back to `initialize`: no answer is no evidence of a
 * legacy server. Connect again once the connection is back, or give `connectRetry`. (Silence is taken for a
 * legacy server by default, as the specification says; `legacyOnDiscoverTimeout: false` makes it this error.)
 */
export class NegotiationFailed extends Schema.TaggedError<NegotiationFailed>()("NegotiationFailed", {
  mode: Schema.Literals(["FM-07", "FM-21"]),
  method: Schema.String,
  revision: Schema.String,
  reason: Schema.Literals(["connection-lost", "timeout"]),
  detail: Schema.String,
  cause: Schema.optionalKey(Schema.Unknown)
}) {
  override get message(): string {
    return `Cannot tell the server's protocol era: ${this.method} (${this.revision}) got no answer (${this.reason}): ${this.detail}`
  }
}

/** Every error a call can fail with. */
export type CallError = Protocol.RequestError | InvalidResponse | InputRequiredFailed

/** Everything connecting can fail with. */
export type ConnectError = CallError | UnsupportedRevision | NegotiationFailed

/** What the server said about itself. */
export interface ServerDescription {
  readonly revision: Revision.Revision
  readonly era: Revision.Era
  readonly capabilities: Record<string, unknown>
  readonly serverInfo: Record<string, unknown> | undefined
  readonly instructions: string | undefined
  readonly supportedVersions: ReadonlyArray<string>
}

/** A connected client. */
export interface McpClient {
  readonly server: ServerDescription
  /** Any request (with MRTR retries in the stateless era). */
  readonly request: (method: string, params?: Record<string, unknown>, options?: CallOptions) => Effect.Effect<Record<string, unknown>, CallError>
  readonly ping: Effect.Effect<void, CallError>
  readonly listTools: (cursor?: string) => Effect.Effect<V2025_11_25.ListToolsResult, CallError>
  /** Every tool, following `nextCursor` (bounded to 1,000 pages). */
  readonly listAllTools: Effect.Effect<ReadonlyArray<V2025_11_25.Tool>, CallError>
  readonly callTool: (
    name: string,
    args?: Record<string, unknown>,
    options?: CallOptions
  ) => Effect.Effect<V2025_11_25.CallToolResult, CallError>
  /** 2025-11-25 tasks: calls a tool as a task; the result is `{ task }` (poll it, or await `taskResult`). */
  readonly callToolAsTask: (
    name: string,
    args?: Record<string, unknown>,
    task?: { readonly ttl?: number }
  ) => Effect.Effect<Record<string, unknown>, CallError>
  readonly getTask: (taskId: string) => Effect.Effect<Record<string, unknown>, CallError>
  /** Waits (without a timeout) for the task to end and returns what the call would have returned. */
  readonly taskResult: (taskId: string) => Effect.Effect<Record<string, unknown>, CallError>
  /** 2026-07-28 tasks extension: answers a task's `inputRequests`. */
  readonly updateTask: (taskId: string, inputResponses: Record<string, unknown>) => Effect.Effect<Record<string, unknown>, CallError>
  readonly listTasks: (cursor?: string) => Effect.Effect<Record<string, unknown>, CallError>
  readonly cancelTask: (taskId: string) => Effect.Effect<Record<string, unknown>, CallError>
  readonly listResources: (cursor?: string) => Effect.Effect<V2025_11_25.ListResourcesResult, CallError>
  readonly listAllResources: Effect.Effect<ReadonlyArray<V2025_11_25.Resource>, CallError>
  readonly listResourceTemplates: (cursor?: string) => Effect.Effect<V2025_11_25.ListResourceTemplatesResult, CallError>
  readonly readResource: (uri: string) => Effect.Effect<V2025_11_25.ReadResourceResult, CallError>
  readonly subscribe: (uri: string) => Effect.Effect<void, CallError>
  readonly unsubscribe: (uri: string) => Effect.Effect<void, CallError>
  readonly listPrompts: (cursor?: string) => Effect.Effect<V2025_11_25.ListPromptsResult, CallError>
  readonly listAllPrompts: Effect.Effect<ReadonlyArray<V2025_11_25.Prompt>, CallError>
  readonly getPrompt: (name: string, args?: Record<string, string>) => Effect.Effect<V2025_11_25.GetPromptResult, CallError>
  readonly complete: (
    ref: Record<string, unknown>,
    argument: { readonly name: string; readonly value: string },
    context?: Record<string, string>
  ) => Effect.Effect<V2025_11_25.CompleteResult, CallError>
  /** `logging/setLevel` in the stateful era; in 2026-07-28 the level is sent with every request instead. */
  readonly setLogLevel: (level: string) => Effect.Effect<void, CallError>
  /** Tells the server the roots changed (stateful era). */
  readonly rootsChanged: Effect.Effect<void, CallError>
  /**
   * 2026-07-28: opens a `subscriptions/listen` stream for the scope's lifetime and returns its notifications
   * (the acknowledgment first). Closing the scope cancels the subscription at the server.
   */
  readonly listen: (filter: SubscriptionFilter) => Effect.Effect<Stream.Stream<JsonRpc.Notification>, never, Scope.Scope>
  /** Every notification the server sends (log messages, list changes, resource updates, progress…). */
  readonly notifications: Stream.Stream<JsonRpc.Notification>
  readonly close: Effect.Effect<void>
}

const asRecord = (method: string) => (u: unknown): Effect.Effect<Record<string, unknown>, InvalidResponse> =>
  isRecord(u) ? Effect.succeed(u) : Effect.fail(new InvalidResponse({ method, detail: "the result is not an object" }))

type RemoteOrUnsupported = ProtocolError.RemoteError | UnsupportedRevision

/**
 * Whether a failed request got no answer from the server: the connection was lost (a closed or failed
 * transport; the -32000 that a reconnecting transport or the HTTP client answers, locally, for a request lost
 * with its connection, `data.mode` "FM-07") or it timed out (locally, or the -32001 the official SDKs use).
 */
const noAnswer = (error: CallError): "connection-lost" | "timeout" | undefined => {
  switch (error._tag) {
    case "ConnectionClosed":
    case "TransportFailure":
      return "connection-lost"
    case "RequestTimedOut":
      return "timeout"
    case "RemoteError":
      if (error.code === ErrorCode.ConnectionClosed || (isRecord(error.data) && error.data.mode === "FM-07")) return "connection-lost"
      return error.code === ErrorCode.RequestTimeout ? "timeout" : undefined
    default:
      return undefined
  }
}

/**
 * SEP-1034: an accepted form elicitation gets the schema's `default` for every field the user left out, so a
 * handler that returns partial (or empty) content still answers with a complete form.
 */
export const applyDefaults = (params: Record<string, unknown>, result: Record<string, unknown>): Record<string, unknown> => {
  const schema = params.requestedSchema
  if (result.action !== "accept" || !isRecord(schema) || !isRecord(schema.properties)) return result
  const content: Record<string, unknown> = isRecord(result.content) ? { ...result.content } : {}
  for (const [name, property] of Object.entries(schema.properties)) {
    if (!(name in content) && isRecord(property) && property.default !== undefined) content[name] = property.default
  }
  return { ...result, content }
}

/** Connects over a transport: negotiates the era and revision, then returns the client. */
export const connect = (
  transport: Transport.Transport,
  options: Options
): Effect.Effect<McpClient, ConnectError, Scope.Scope> =>
  Effect.gen(function*() {
    const revisions = [...(options.revisions ?? Revision.all)].sort()
    const stateful = revisions.filter((r) => Revision.era(r) === "stateful")
    const stateless = revisions.filter((r) => Revision.era(r) === "stateless")
    const handlers = options.handlers ?? {}
    const capabilities: Record<string, unknown> = {
      ...(handlers.roots ? { roots: { listChanged: true } } : {}),
      ...(handlers.sampling ? { sampling: {} } : {}),
      ...(handlers.elicitation ? { elicitation: { form: {}, url: {} } } : {}),
      ...options.capabilities
    }
    const notifications = yield* PubSub.bounded<JsonRpc.Notification>({ capacity: 1024, replay: 0 })
    let logLevel: string | undefined

    const reverse = (method: string, params: Record<string, unknown>): Effect.Effect<unknown, ProtocolError.McpError> => {
      switch (method) {
        case "ping":
          return Effect.succeed({})
        case "sampling/createMessage":
          return handlers.sampling ? handlers.sampling(params) : notSupported(method)
        case "elicitation/create":
          return handlers.elicitation
            ? Effect.map(handlers.elicitation(params), (result) => applyDefaults(params, result))
            : notSupported(method)
        case "roots/list":
          return handlers.roots ? Effect.map(handlers.roots, (roots) => ({ roots })) : notSupported(method)
        default:
          return notSupported(method)
      }
    }
    const notSupported = (method: string) =>
      Effect.fail(new ProtocolError.McpError({ code: ErrorCode.MethodNotFound, message: `Client does not support ${method}` }))

    const protocol = yield* Protocol.make(transport, {
      handler: (method) =>
        ["ping", "sampling/createMessage", "elicitation/create", "roots/list"].includes(method)
          ? (request) => reverse(method, request.params ?? {})
          : undefined,
      onNotification: (n) => Effect.asVoid(PubSub.publish(notifications, n)),
      defaultTimeout: options.requestTimeout ?? Duration.seconds(60),
      ...(options.outboundBreaker === undefined ? {} : { outboundBreaker: options.outboundBreaker })
    })

    // ---- negotiation ------------------------------------------------------------------------------------
    const modernMeta = (revision: Revision.Revision) => ({
      [Revision.metaKeys.protocolVersion]: revision,
      [Revision.metaKeys.clientCapabilities]: capabilities,
      [Revision.metaKeys.clientInfo]: options.info
    })

    const discover = (revision: Revision.Revision) => {
      const once = protocol.request("server/discover", { _meta: modernMeta(revision) }, {
        timeout: options.discoverTimeout ?? Duration.seconds(10)
      })
      return options.connectRetry === undefined ? once : Effect.retry(once, { schedule: options.connectRetry, while: isTransient })
    }

    const legacy = Effect.gen(function*() {
      if (stateful.length === 0) {
        return yield* new UnsupportedRevision({ offered: [], supported: revisions })
      }
      const result = yield* Effect.flatMap(
        protocol.request("initialize", {
          protocolVersion: stateful.at(-1)!,
          capabilities,
          clientInfo: options.info
        }),
        asRecord("initialize")
      ).pipe(
        Effect.catchTag("RemoteError", (error): Effect.Effect<never, RemoteOrUnsupported> =>
          error.code === ErrorCode.UnsupportedProtocolVersion
            ? Effect.fail(
              new UnsupportedRevision({
                offered: isRecord(error.data) && Array.isArray(error.data.supported) ? error.data.supported.map(String) : [],
                supported: revisions
              })
            )
            : Effect.fail(error))
      )
      const version = result.protocolVersion
      if (!Revision.isRevision(version) || !stateful.includes(version)) {
        yield* protocol.close
        return yield* new UnsupportedRevision({ offered: [String(version)], supported: revisions })
      }
      yield* protocol.notify("notifications/initialized")
      return {
        revision: version,
        era: "stateful",
        capabilities: isRecord(result.capabilities) ? result.capabilities : {},
        serverInfo: isRecord(result.serverInfo) ? result.serverInfo : undefined,
        instructions: typeof result.instructions === "string" ? result.instructions : undefined,
        supportedVersions: [version]
      } satisfies ServerDescription
    })

    const modern = (revision: Revision.Revision) =>
      Effect.flatMap(discover(revision), asRecord("server/discover")).pipe(
        Effect.map((result): ServerDescription | undefined => {
          // a modern server lists its versions; any other answer (an empty result from a legacy server that
          // answers unknown methods with {}) means a legacy server
          if (!Array.isArray(result.supportedVersions)) return undefined
          const meta = isRecord(result._meta) ? result._meta : {}
          return {
            revision,
            era: "stateless",
            capabilities: isRecord(result.capabilities) ? result.capabilities : {},
            serverInfo: isRecord(meta[Revision.metaKeys.serverInfo]) ? meta[Revision.metaKeys.serverInfo] as Record<string, unknown> : undefined,
            instructions: typeof result.instructions === "string" ? result.instructions : undefined,
            supportedVersions: Array.isArray(result.supportedVersions) ? result.supportedVersions.map(String) : [revision]
          }
        })
      )

    /**
     * The probe and what its outcome says: a modern server (its description), a legacy one (`undefined`), or
     * nothing about the era (a failure). `renegotiate`: whether a -32022 may lead to one more probe.
     */
    const negotiate = (
      revision: Revision.Revision,
      renegotiate: boolean
    ): Effect.Effect<ServerDescription | undefined, ConnectError> =>
      modern(revision).pipe(
        Effect.catch((error): Effect.Effect<ServerDescription | undefined, ConnectError> => {
          const silence = noAnswer(error)
          if (silence !== undefined) {
            // the stdio binding's rule for legacy servers that stay silent, when asked for
            if (error._tag === "RequestTimedOut" && options.legacyOnDiscoverTimeout !== false) return Effect.succeed(undefined)
            return Effect.fail(
              new NegotiationFailed({
                mode: silence === "timeout" ? "FM-21" : "FM-07",
                method: "server/discover",
                revision,
                reason: silence,
                detail: error.message,
                cause: error
              })
            )
          }
          // an open circuit, an unencodable request, an invalid answer: not about the era either
          if (error._tag !== "RemoteError") return Effect.fail(error)
          // a refusal for load (an effect-mcp server's rate limit, bulkhead or breaker) says nothing of the era
          if (error.code === ErrorCode.Overloaded || error.code === ErrorCode.Unavailable) return Effect.fail(error)
          // a recognised modern error: the server is modern but wants another version
          if (error.code === ErrorCode.UnsupportedProtocolVersion && isRecord(error.data)) {
            const offered = Array.isArray(error.data.supported) ? error.data.supported.map(String) : []
            const common = stateless.filter((r) => offered.includes(r)).at(-1)
            if (common !== undefined && renegotiate) return negotiate(common, false)
            const commonLegacy = stateful.filter((r) => offered.includes(r))
            if (commonLegacy.length > 0) return Effect.succeed(undefined)
            return Effect.fail(new UnsupportedRevision({ offered, supported: revisions }))
          }
          // any other answer of the server identifies a legacy server (the binding: never one code only)
          return Effect.succeed(undefined)
        })
      )

    const server: ServerDescription = stateless.length === 0
      ? yield* legacy
      : yield* negotiate(stateless.at(-1)!, true).pipe(
        Effect.flatMap((described) => described === undefined ? legacy : Effect.succeed(described))
      )

    // ---- calls --------------------------------------------------------------------------------------------
    const maxRounds = options.maxInputRounds ?? 8

    const answerInputs = (method: string, requests: Record<string, unknown>) =>
      Effect.forEach(Object.entries(requests), ([key, request]) => {
        if (!isRecord(request) || typeof request.method !== "string") {
          return Effect.fail(new InputRequiredFailed({ method, detail: `input request ${key} has no method` }))
        }
        return reverse(request.method, isRecord(request.params) ? request.params : {}).pipe(
          Effect.map((response) => [key, response] as const),
          Effect.mapError((e) => new InputRequiredFailed({ method, detail: `${request.method}: ${e.message}` }))
        )
      }).pipe(Effect.map(Object.fromEntries))

    const request = (method: string, params: Record<string, unknown> = {}, callOptions: CallOptions = {}) => {
      const keyed = callOptions.idempotencyKey === undefined ? params : {
        ...params,
        _meta: { ...(isRecord(params._meta) ? params._meta : {}), "io.effect-mcp/idempotencyKey": callOptions.idempotencyKey }
      }
      const once = requestOnce(method, keyed, callOptions)
      return callOptions.retry === undefined ? once : Effect.retry(once, { schedule: callOptions.retry, while: isTransient })
    }

    const requestOnce = (method: string, params: Record<string, unknown>, callOptions: CallOptions) =>
      Effect.gen(function*() {
        let current: Record<string, unknown> = params
        for (let round = 0;; round++) {
          const withMeta = server.era === "stateless"
            ? {
              ...current,
              _meta: {
                ...(isRecord(current._meta) ? current._meta : {}),
                ...modernMeta(server.revision),
                ...(logLevel === undefined ? {} : { [Revision.metaKeys.logLevel]: logLevel })
              }
            }
            : current
          const result = yield* Effect.flatMap(protocol.request(method, withMeta, callOptions), asRecord(method))
          if (result.resultType !== "input_required") return result
          if (round >= maxRounds) {
            return yield* new InputRequiredFailed({ method, detail: `still asking for input after ${maxRounds} rounds` })
          }
          const inputResponses = isRecord(result.inputRequests) ? yield* answerInputs(method, result.inputRequests) : {}
          current = {
            ...params,
            inputResponses,
            ...(typeof result.requestState === "string" ? { requestState: result.requestState } : {})
          }
        }
      })

    const pageParams = (cursor: string | undefined) => (cursor === undefined ? {} : { cursor })

    /**
     * Validates a result with the negotiated revision's schema (FM-50: a malformed answer is `InvalidResponse`,
     * never a surprise later) and types it with the 2025-11-25 shape, which every revision's result satisfies.
     */
    const typed = <A>(method: string, result: Effect.Effect<Record<string, unknown>, CallError>) =>
      Effect.flatMap(result, (value): Effect.Effect<A, InvalidResponse> => {
        const decoded = McpSchema.decodeResult(server.revision, method, "client", value)
        return Result.isSuccess(decoded)
          ? Effect.succeed(value as unknown as A)
          : Effect.fail(new InvalidResponse({ method, detail: decoded.failure.detail }))
      })

    const all = <A>(method: string, key: string) =>
      Effect.gen(function*() {
        const items: Array<A> = []
        let cursor: string | undefined
        for (let page = 0; page < 1_000; page++) {
          const result = yield* typed<Record<string, unknown>>(method, request(method, pageParams(cursor)))
          const pageItems = result[key]
          if (!Array.isArray(pageItems)) return yield* new InvalidResponse({ method, detail: `${key} is not an array` })
          items.push(...(pageItems as Array<A>))
          cursor = typeof result.nextCursor === "string" ? result.nextCursor : undefined
          if (cursor === undefined) return items
        }
        return yield* new InvalidResponse({ method, detail: "more than 1,000 pages" })
      })

    return {
      server,
      request,
      ping: server.era === "stateful" ? Effect.asVoid(request("ping")) : Effect.asVoid(request("server/discover")),
      listTools: (cursor) => typed("tools/list", request("tools/list", pageParams(cursor))),
      listAllTools: all("tools/list", "tools"),
      callTool: (name, args = {}, callOptions) => typed("tools/call", request("tools/call", { name, arguments: args }, callOptions)),
      callToolAsTask: (name, args = {}, task = {}) => request("tools/call", { name, arguments: args, task }),
      getTask: (taskId) => request("tasks/get", { taskId }),
      taskResult: (taskId) => request("tasks/result", { taskId }, { timeout: Duration.infinity }),
      updateTask: (taskId, inputResponses) => request("tasks/update", { taskId, inputResponses }),
      listTasks: (cursor) => request("tasks/list", pageParams(cursor)),
      cancelTask: (taskId) => request("tasks/cancel", { taskId }),
      listResources: (cursor) => typed("resources/list", request("resources/list", pageParams(cursor))),
      listAllResources: all("resources/list", "resources"),
      listResourceTemplates: (cursor) => typed("resources/templates/list", request("resources/templates/list", pageParams(cursor))),
      readResource: (uri) => typed("resources/read", request("resources/read", { uri })),
      subscribe: (uri) => Effect.asVoid(request("resources/subscribe", { uri })),
      unsubscribe: (uri) => Effect.asVoid(request("resources/unsubscribe", { uri })),
      listPrompts: (cursor) => typed("prompts/list", request("prompts/list", pageParams(cursor))),
      listAllPrompts: all("prompts/list", "prompts"),
      getPrompt: (name, args = {}) => typed("prompts/get", request("prompts/get", { name, arguments: args })),
      complete: (ref, argument, context) =>
        typed(
          "completion/complete",
          request("completion/complete", { ref, argument, ...(context === undefined ? {} : { context: { arguments: context } }) })
        ),
      setLogLevel: (level) =>
        server.era === "stateless"
          ? Effect.sync(() => {
            logLevel = level
          })
          : Effect.asVoid(request("logging/setLevel", { level })),
      rootsChanged: server.era === "stateful" ? protocol.notify("notifications/roots/list_changed") : Effect.void,
      listen: (filter) =>
        Effect.gen(function*() {
          const id = yield* Deferred.make<JsonRpc.RequestId>()
          // subscribe before asking, so that the acknowledgment cannot be missed
          const subscription = yield* PubSub.subscribe(notifications)
          yield* request("subscriptions/listen", { notifications: filter }, {
            timeout: Duration.infinity,
            onId: (requestId) => Effect.asVoid(Deferred.succeed(id, requestId))
          }).pipe(Effect.ignore, Effect.forkScoped)
          const subscriptionId = yield* Deferred.await(id)
          return Stream.fromSubscription(subscription).pipe(
            Stream.filter((n) => {
              const meta = isRecord(n.params) && isRecord(n.params._meta) ? n.params._meta : undefined
              return meta?.[Revision.metaKeys.subscriptionId] === subscriptionId
            })
          )
        }),
      notifications: Stream.fromPubSub(notifications),
      close: protocol.close
    } satisfies McpClient
  })
