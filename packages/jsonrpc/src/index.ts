/**
 * `@effect-mcp/jsonrpc`: the JSON-RPC 2.0 model and the one codec every transport uses.
 *
 * @since 0.1.0
 */
export * as CodecError from "./CodecError.ts"
export * as ErrorCode from "./ErrorCode.ts"
export * as FrameDecoder from "./FrameDecoder.ts"
export * as JsonRpc from "./JsonRpc.ts"
export * as JsonRpcCodec from "./JsonRpcCodec.ts"
