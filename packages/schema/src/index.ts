/**
 * `@effect-mcp/schema`: the MCP wire schemas of every revision, and the differences between revisions as
 * data.
 *
 * @since 0.1.0
 */

/** The protocol revisions and their differences. @since 0.1.0 */
export * as Revision from "./Revision.ts"

/** Schemas by revision and method, and decoding with them. @since 0.1.0 */
export * as McpSchema from "./McpSchema.ts"

/** MCP 2024-11-05 schemas (generated). @since 0.1.0 */
export * as V2024_11_05 from "./generated/v2024_11_05.ts"

/** MCP 2025-03-26 schemas (generated). @since 0.1.0 */
export * as V2025_03_26 from "./generated/v2025_03_26.ts"

/** MCP 2025-06-18 schemas (generated). @since 0.1.0 */
export * as V2025_06_18 from "./generated/v2025_06_18.ts"

/** MCP 2025-11-25 schemas (generated). @since 0.1.0 */
export * as V2025_11_25 from "./generated/v2025_11_25.ts"

/** MCP 2026-07-28 schemas (generated). @since 0.1.0 */
export * as V2026_07_28 from "./generated/v2026_07_28.ts"
