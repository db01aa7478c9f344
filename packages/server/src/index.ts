/**
 * `@effect-mcp/server`: MCP servers for both protocol eras, with tools, resources and prompts defined with
 * Effect Schema.
 *
 * @since 0.1.0
 */

/** Content blocks and their constructors. @since 0.1.0 */
export * as Content from "./Content.ts"

/** Opaque pagination cursors. @since 0.1.0 */
export * as Cursor from "./Cursor.ts"

/** Where keyed tool calls keep their outcomes: in memory, or in a journal that survives restarts (FM-10, FM-34). @since 0.1.0 */
export * as IdempotencyStore from "./IdempotencyStore.ts"

/** The server. @since 0.1.0 */
export * as McpServer from "./McpServer.ts"

/** Prompts. @since 0.1.0 */
export * as Prompt from "./Prompt.ts"

/** What a handler sees of its request. @since 0.1.0 */
export * as RequestContext from "./RequestContext.ts"

/** Resources and resource templates. @since 0.1.0 */
export * as Resource from "./Resource.ts"

/** The server's tunables as a Schema, validated before they are applied (FM-20). @since 0.1.0 */
export * as ServerConfig from "./ServerConfig.ts"

/** Tools. @since 0.1.0 */
export * as Tool from "./Tool.ts"

/** RFC 6570 URI templates. @since 0.1.0 */
export * as UriTemplate from "./UriTemplate.ts"
