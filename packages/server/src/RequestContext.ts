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
   * write handlers so that everything before an `ask` can run again.
   */
  readonly ask: (method: AskMethod, params?: Record<string, unknown>) => Effect.Effect<Record<string, unknown>, unknown>
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

/**
 * The 2026-07-28 (MRTR) signal that a handler needs input it does not have yet. The server answers the
 * request with `resultType: "input_required"`, and the client retries with the answer; the handler then runs
 * again and `ask` returns the answer. Not an error the peer sees.
 */
export class InputRequired {
  readonly _tag = "InputRequired"
  constructor(readonly key: string, readonly request: { readonly method: AskMethod; readonly params: Record<string, unknown> }) {}
}

/** The current request's context, provided to every handler. */
export class RequestContext extends Context.Service<RequestContext, RequestContextShape>()(
  "effect-mcp/server/RequestContext"
) {}

/** Asks the client for input, from within a handler (see `RequestContextShape.ask`). */
export const ask = (method: AskMethod, params?: Record<string, unknown>) =>
  Effect.gen(function*() {
    const context = yield* RequestContext
    return yield* context.ask(method, params)
  })
