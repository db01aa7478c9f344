/**
 * JSON-RPC 2.0 and MCP error codes.
 *
 * The standard codes are fixed by JSON-RPC 2.0. MCP adds codes in the implementation-defined server-error
 * range; which of them a revision uses is data in `@effect-mcp/schema`'s `Revision` module.
 *
 * @since 0.1.0
 */

/** Invalid JSON was received: the text could not be parsed. Sent with `id: null`. */
export const ParseError = -32700
/** The JSON sent is not a valid request object. */
export const InvalidRequest = -32600
/** The method does not exist or is not available. */
export const MethodNotFound = -32601
/** Invalid method parameters. */
export const InvalidParams = -32602
/** Internal JSON-RPC error. */
export const InternalError = -32603

/** MCP (2024-11-05 … 2025-11-25): resource not found. */
export const ResourceNotFound = -32002
/** MCP 2025-11-25 only: the server needs the user to complete a URL-mode elicitation first. */
export const UrlElicitationRequired = -32042
/** MCP 2026-07-28: an HTTP header disagrees with the request body (e.g. `Mcp-Method`). */
export const HeaderMismatch = -32020
/** MCP 2026-07-28: the request needs a client capability the client did not declare. */
export const MissingRequiredClientCapability = -32021
/** MCP 2026-07-28: the server does not support the protocol version the request names. */
export const UnsupportedProtocolVersion = -32022

/** As the official SDKs: the connection closed before the response arrived (local, never sent). */
export const ConnectionClosed = -32000
/** As the official SDKs: the request timed out. */
export const RequestTimeout = -32001
/**
 * effect-mcp: the connection already has the maximum number of requests in flight. Outside the range
 * -32020 … -32099 that MCP reserves for itself.
 */
export const Overloaded = -32010
/**
 * effect-mcp: the tool's circuit breaker is open after repeated failures; `data.retryAfterMs` says when to try
 * again.
 */
export const Unavailable = -32011
/**
 * effect-mcp: a retry of a keyed call whose first attempt's outcome is unknown (`data: { mode: "FM-10",
 * outcome: "unknown", key }`): the server that ran it died before recording how it ended. Not transient: the
 * call will not run again under this key; reconcile with the side effect's owner.
 */
export const OutcomeUnknown = -32012

/** The standard JSON-RPC codes by name. */
export const standard = {
  ParseError,
  InvalidRequest,
  MethodNotFound,
  InvalidParams,
  InternalError
} as const

/** Is this code in the range JSON-RPC reserves for pre-defined errors (-32768 … -32000)? */
export const isReserved = (code: number): boolean => code >= -32768 && code <= -32000

/** The standard message for a standard code, or `undefined`. */
export const standardMessage = (code: number): string | undefined => {
  switch (code) {
    case ParseError:
      return "Parse error"
    case InvalidRequest:
      return "Invalid Request"
    case MethodNotFound:
      return "Method not found"
    case InvalidParams:
      return "Invalid params"
    case InternalError:
      return "Internal error"
    default:
      return undefined
  }
}
