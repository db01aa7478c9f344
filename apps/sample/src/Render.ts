/**
 * How the sample app shows one decoded frame: the message with its kind, or the typed error with its FMEA
 * mode and the JSON-RPC error response a server would send for it.
 */
import { FailureMode } from "@effect-mcp/faults"
import { CodecError, JsonRpc, type JsonRpcCodec } from "@effect-mcp/jsonrpc"
import * as Result from "effect/Result"

/** One output line for one decoded frame. */
export const render = (decoded: JsonRpcCodec.Decoded): unknown => {
  if (Result.isSuccess(decoded)) {
    const incoming = decoded.success
    return JsonRpc.isBatch(incoming)
      ? { ok: true, kind: "batch", messages: incoming.map((m) => ({ kind: JsonRpc.kind(m), message: m })) }
      : { ok: true, kind: JsonRpc.kind(incoming), message: incoming }
  }
  const error = decoded.failure
  const mode = FailureMode.modeOf(error)
  return {
    ok: false,
    error: { _tag: error._tag, mode: error.mode, fmea: mode?.name, message: error.message },
    response: CodecError.toResponse(error)
  }
}

