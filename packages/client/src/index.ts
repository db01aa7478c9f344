/**
 * `@effect-mcp/client`: an MCP client for both protocol eras.
 *
 * @since 0.1.0
 */

/** The client. @since 0.1.0 */
export * as McpClient from "./McpClient.ts"

/** OAuth 2.1 authorization for the Streamable HTTP client transport. @since 0.1.0 */
export * as OAuthClient from "./OAuthClient.ts"
