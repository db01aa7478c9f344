/**
 * What a handler can see and do while it serves one request: who is asking, in which protocol revision,
 * and how to report progress, log to the client, and ask the client for input.
 *
 * Handlers get it from the environment: `const ctx = yield* RequestContext`.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type { JsonRpc } from "@effect-mcp/jsonrpc"

/** MCP logging levels (RFC 5424), lowest to highest. */
export const LOG_LEVELS = ["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"] as const

/** An MCP logging level. */
export type LogLevel = typeof LOG_LEVELS[number]

/** Is `level` at or above `threshold`? */
export const isLogged = (level: LogLevel, threshold: LogLevel): boolean =>
  LOG_LEVELS.indexOf(level) >= LOG_LEVELS.indexOf(threshold)

/** The client that sent the request, as it described itself. */
export interface ClientInfo {
  readonly name: string
  readonly version: string
  readonly title?: string
}

/** The per-request operations. */
export interface RequestContextShape {
  /** The JSON-RPC id of the request being served. */
  readonly requestId: JsonRpc.RequestId
  /** The method being served. */
  readonly method: string
  /** The protocol revision of this request (negotiated, or named in its `_meta` in 2026-07-28). */
  readonly revision: string
  /** The client's declared capabilities. */
  readonly clientCapabilities: Readonly<Record<string, unknown>>
  /** The client's self-description, when known. */
  readonly clientInfo: ClientInfo | undefined
  /** The request's `_meta`, if any. */
  readonly meta: Readonly<Record<string, unknown>> | undefined
  /** Sends `notifications/progress` for this request (a no-op when the client gave no progress token). */
  readonly progress: (progress: number, total?: number, message?: string) => Effect.Effect<void>
  /** Sends a `notifications/message` log entry when `level` passes the client's log level. */
  readonly log: (level: LogLevel, data: unknown, logger?: string) => Effect.Effect<void>
  /**
   * Asks the client for something: `sampling/createMessage`, `elicitation/create` or `roots/list`. In the
   * stateful era this is a request to the client; in 2026-07-28 the handler is replayed (see `InputRequired`):
   * write handlers so that everything before an `ask` can run again. `options.key` names the 2026-07-28 input
   * request (default `<capability>-<n>`, n counting this run's asks); there, the same key gets the same answer.
   */
  readonly ask: (
    method: AskMethod,
    params?: Record<string, unknown>,
    options?: AskOptions
  ) => Effect.Effect<Record<string, unknown>, unknown>
  /**
   * Asks several things at once, keyed by name, and answers with the answers under the same keys. In the stateful
   * era the requests go to the client concurrently; in 2026-07-28 every missing answer is asked in one
   * `input_required` round (or one task `input_required` state).
   */
  readonly askAll: (
    requests: Readonly<Record<string, AskRequest>>
  ) => Effect.Effect<Record<string, Record<string, unknown>>, unknown>
  /**
   * For a tool defined with `taskStart: "handler"`, called under the 2026-07-28 tasks extension: ends the
   * plain-request part of the call. The server answers with a task handle and runs the handler again, from the
   * start, inside the task, with the answers gathered so far (so the `ask`s before this point return at once).
   * A no-op everywhere else, including inside the task.
   */
  readonly startTask: Effect.Effect<void, unknown>
  /**
   * Ends this request's response stream now and lets the client poll for the rest (Streamable HTTP, SEP-1699):
   * frees the HTTP connection during long work. The handler goes on; a no-op on other transports.
   */
  readonly closeStream: Effect.Effect<void>
}

/** What a server may ask of a client. */
export type AskMethod = "sampling/createMessage" | "elicitation/create" | "roots/list"

/** The client capability each `ask` needs. */
export const capabilityOf = (method: AskMethod): "sampling" | "elicitation" | "roots" =>
  method === "sampling/createMessage" ? "sampling" : method === "elicitation/create" ? "elicitation" : "roots"

/** One request to the client: a method and its params. */
export interface AskRequest {
  readonly method: AskMethod
  readonly params?: Record<string, unknown>
}

/** Options of `ask`. */
export interface AskOptions {
  /** The 2026-07-28 input request key (the `inputRequests`/`inputResponses` key). */
  readonly key?: string
}

/**
 * The 2026-07-28 (MRTR) signal that a handler needs input it does not have yet. The server answers the
 * request with `resultType: "input_required"` and these `inputRequests` (or parks the task in `input_required`),
 * and the handler runs again with the answers; `ask` then returns them. Not an error the peer sees: handlers
 * that catch failures must let it through.
 */
export class InputRequired {
  readonly _tag = "InputRequired"
  constructor(
    readonly requests: Readonly<
      Record<string, { readonly method: AskMethod; readonly params: Record<string, unknown> }>
    >
  ) {}
}

/**
 * The signal of `startTask` (a tool with `taskStart: "handler"` asking to go on as a task). Like
 * `InputRequired`, handlers that catch failures must let it through.
 */
export class StartTask {
  readonly _tag = "StartTask"
}

/** Is `u` one of the server's control signals (`InputRequired`, `StartTask`) rather than a failure? */
export const isSignal = (u: unknown): u is InputRequired | StartTask => u instanceof InputRequired || u instanceof StartTask

/** The current request's context, provided to every handler. */
export class RequestContext extends Context.Service<RequestContext, RequestContextShape>()(
  "effect-mcp/server/RequestContext"
) {}

/** Asks the client for input, from within a handler (see `RequestContextShape.ask`). */
export const ask = (method: AskMethod, params?: Record<string, unknown>, options?: AskOptions) =>
  Effect.gen(function*() {
    const context = yield* RequestContext
    return yield* context.ask(method, params, options)
  })

/** Asks the client for several inputs at once, from within a handler (see `RequestContextShape.askAll`). */
export const askAll = (requests: Readonly<Record<string, AskRequest>>) =>
  Effect.gen(function*() {
    const context = yield* RequestContext
    return yield* context.askAll(requests)
  })

/** Ends the plain-request part of a `taskStart: "handler"` tool (see `RequestContextShape.startTask`). */
export const startTask: Effect.Effect<void, unknown, RequestContext> = Effect.gen(function*() {
  const context = yield* RequestContext
  return yield* context.startTask
})
