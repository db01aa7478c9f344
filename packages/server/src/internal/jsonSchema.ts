/**
 * JSON Schema 2020-12 for tool input and output schemas, generated from Effect Schema.
 *
 * MCP requires `type: "object"` at the root of a tool's schemas; definitions are inlined as `$defs`.
 */
import type * as JsonSchema from "effect/JsonSchema"
import * as Schema from "effect/Schema"

/** A JSON Schema object as it goes on the wire. */
export type JsonSchemaObject = { readonly type: "object" } & Record<string, unknown>

/** The JSON Schema 2020-12 of an object schema, with `type: "object"` at the root and `$defs` inlined. */
export const objectJsonSchema = (schema: Schema.Top): JsonSchemaObject => {
  const document: JsonSchema.Document<"draft-2020-12"> = Schema.toJsonSchemaDocument(schema)
  const root = document.schema as Record<string, unknown>
  const base: Record<string, unknown> = root.type === "object"
    ? { ...root }
    : root.properties !== undefined
    ? { ...root, type: "object" }
    : { type: "object", properties: {} }
  if (Object.keys(document.definitions).length > 0) base.$defs = document.definitions
  return base as JsonSchemaObject
}
