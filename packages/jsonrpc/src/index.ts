/**
 * `@effect-mcp/jsonrpc`: the JSON-RPC 2.0 model and the one codec every transport uses.
 *
 * @since 0.1.0
 */

/** The codec's typed errors, each tagged with its FMEA mode. @since 0.1.0 */
export * as CodecError from "./CodecError.ts"

/** JSON-RPC 2.0 and MCP error codes. @since 0.1.0 */
export * as ErrorCode from "./ErrorCode.ts"

/** Incremental NDJSON framing with the size guard. @since 0.1.0 */
export * as FrameDecoder from "./FrameDecoder.ts"

/** The JSON-RPC 2.0 message model. @since 0.1.0 */
export * as JsonRpc from "./JsonRpc.ts"

/** The codec service every transport decodes and encodes through. @since 0.1.0 */
export * as JsonRpcCodec from "./JsonRpcCodec.ts"
