import { describe, expect, it } from "@effect/vitest"
import * as Schema from "effect/Schema"
import * as Revision from "../src/Revision.ts"

/**
 * For every revision and every message type in its method table (requests, notifications, results),
 * arbitrary valid values survive encode → JSON text → decode unchanged.
 */
describe("encode ∘ decode round trip (property)", () => {
  for (const revision of Revision.all) {
    const schemas = new Map<string, Schema.Top>()
    for (const entry of Object.values(Revision.methodTable(revision)) as Array<{ message: Schema.Top; result: Schema.Top | undefined; method: string }>) {
      schemas.set(`${entry.method} message`, entry.message)
      if (entry.result !== undefined) schemas.set(`${entry.method} result`, entry.result)
    }
    describe(revision, () => {
      for (const [name, schema] of schemas) {
        const codec = schema as Schema.Codec<unknown, unknown, never, never>
        it.prop(name, [codec], ([value]) => {
          const encoded = Schema.encodeUnknownSync(codec)(value)
          const wire = JSON.parse(JSON.stringify(encoded))
          const decoded = Schema.decodeUnknownSync(codec)(wire)
          expect(Schema.encodeUnknownSync(codec)(decoded)).toEqual(wire)
        }, { arbitrary: { runs: 25 } })
      }
    })
  }
})
