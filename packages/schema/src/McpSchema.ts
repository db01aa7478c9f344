/**
 * MCP messages by revision and method: find the schema of a request, notification or result, and decode
 * wire values with it. The schemas are generated from each revision's JSON Schema (`generated/`), so their
 * shapes are exactly the specification's; unknown members are kept (MCP is extensible).
 *
 * @since 0.1.0
 */
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as V2026_07_28 from "./generated/v2026_07_28.ts"
import * as Revision from "./Revision.ts"

/** A decode failure: which schema rejected the value, and why. */
export class McpSchemaError extends Schema.TaggedError<McpSchemaError>()("McpSchemaError", {
  mode: Schema.tag("FM-50"),
  revision: Schema.String,
  method: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    return `Invalid ${this.method} message for MCP ${this.revision}: ${this.detail}`
  }
}

type Entry = {
  readonly method: string
  readonly kind: "request" | "notification"
  readonly from: Revision.Sender
  readonly message: Schema.Top
  readonly result: Schema.Top | undefined
}

const entry = (revision: Revision.Revision, method: string, from: Revision.Sender): Entry | undefined =>
  (Revision.methodTable(revision) as Record<string, Entry | undefined>)[`${from}:${method}`]

/** The schema of a whole request or notification message (`jsonrpc`, `method`, `params`…), if the method exists. */
export const message = (revision: Revision.Revision, method: string, from: Revision.Sender): Schema.Top | undefined =>
  entry(revision, method, from)?.message

/** The schema of a request's result, if the request exists. */
export const result = (revision: Revision.Revision, method: string, from: Revision.Sender): Schema.Top | undefined =>
  entry(revision, method, from)?.result

type Decoder = (u: unknown) => Result.Result<unknown, McpSchemaError>

const cache = new Map<string, Decoder>()

/** A decoder for one schema, cached by revision, method and role; failures become `McpSchemaError`. */
const decoderOf = (key: string, revision: Revision.Revision, method: string, schemaOf: () => Schema.Top | undefined): Decoder => {
  let decode = cache.get(key)
  if (decode === undefined) {
    const schema = schemaOf()
    if (schema === undefined) {
      const missing = Result.fail(new McpSchemaError({ revision, method, detail: `no such method in ${revision}` }))
      decode = () => missing
    } else {
      const d = Schema.decodeUnknownResult(schema as Schema.Codec<unknown, unknown, never, never>)
      decode = (u) => {
        const r = d(u)
        // a success is returned as is (no re-wrapping on the hot path)
        return Result.isSuccess(r)
          ? r as unknown as Result.Result<unknown, McpSchemaError>
          : Result.fail(new McpSchemaError({ revision, method, detail: r.failure.message }))
      }
    }
    // bounded: unknown methods share one entry per revision and role
    if (schema !== undefined || cache.size < 4096) cache.set(key, decode)
  }
  return decode
}

/** Decodes a whole request or notification message sent by `from`. */
export const decodeMessage = (
  revision: Revision.Revision,
  method: string,
  from: Revision.Sender,
  value: unknown
): Result.Result<unknown, McpSchemaError> =>
  decoderOf(`m:${revision}:${from}:${method}`, revision, method, () => message(revision, method, from))(value)

/**
 * Decodes the result of a request sent by `from`. In 2026-07-28 a result whose `resultType` is
 * `input_required` is decoded as `InputRequiredResult` (a multi round-trip request).
 */
export const decodeResult = (
  revision: Revision.Revision,
  method: string,
  from: Revision.Sender,
  value: unknown
): Result.Result<unknown, McpSchemaError> => {
  if (
    revision === "2026-07-28" && typeof value === "object" && value !== null &&
    (value as { readonly resultType?: unknown }).resultType === "input_required"
  ) {
    return decoderOf(`i:${method}`, revision, method, () => V2026_07_28.InputRequiredResult)(value)
  }
  return decoderOf(`r:${revision}:${from}:${method}`, revision, method, () => result(revision, method, from))(value)
}
