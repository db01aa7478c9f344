/**
 * `@effect-mcp/core`: the protocol engine shared by server and client, and the transport contract.
 *
 * @since 0.1.0
 */

/** The abstract transport: decoded frames in, messages out. @since 0.1.0 */
export * as Transport from "./Transport.ts"

/** In-memory transports for tests, through the real codec. @since 0.1.0 */
export * as MemoryTransport from "./MemoryTransport.ts"

/** The protocol engine. @since 0.1.0 */
export * as Protocol from "./Protocol.ts"

/** The engine's typed errors. @since 0.1.0 */
export * as ProtocolError from "./ProtocolError.ts"

/** Reconnection backoff with full jitter, shared by every client transport. @since 0.1.0 */
export * as Backoff from "./Backoff.ts"
