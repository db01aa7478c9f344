/**
 * `@effect-mcp/transports`: transports that move frames through the shared codec and know nothing of MCP.
 *
 * @since 0.1.0
 */

/** stdio, server side. @since 0.1.0 */
export * as StdioServerTransport from "./StdioServerTransport.ts"

/** stdio, client side (spawns the server). @since 0.1.0 */
export * as StdioClientTransport from "./StdioClientTransport.ts"

/** NDJSON over TCP, server and client. @since 0.1.0 */
export * as TcpTransport from "./TcpTransport.ts"

/** JSON-RPC over WebSocket, server and client. @since 0.1.0 */
export * as WebSocketTransport from "./WebSocketTransport.ts"

/** Streamable HTTP (both eras, sessions, SSE, resumption) and the legacy HTTP+SSE, server side. @since 0.1.0 */
export * as StreamableHttpServer from "./StreamableHttpServer.ts"

/** The bounded per-session store of SSE events that makes streams resumable. @since 0.1.0 */
export * as EventStore from "./EventStore.ts"

/** Streamable HTTP, client side (both eras, session recovery, stream resumption). @since 0.1.0 */
export * as StreamableHttpClient from "./StreamableHttpClient.ts"

/** Reconnection with full-jitter backoff for any client transport, with observable state. @since 0.1.0 */
export * as ReconnectingTransport from "./ReconnectingTransport.ts"

/** A caching `lookup` that keeps the last good addresses through a resolver outage (FM-28). @since 0.1.0 */
export * as HostResolver from "./HostResolver.ts"
