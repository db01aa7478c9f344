/**
 * Arbitrary MCP messages of every revision, derived from the generated Effect Schemas of `@effect-mcp/schema`
 * (so they are exactly the specification's shapes, unknown members included), as fast-check arbitraries and
 * as Effect `Arbitrary`s (for `it.effect.prop`).
 *
 * Values are *wire* values: encoded by the schema and passed through JSON, as a peer would send them, and
 * checked to decode again. Effect derives the values (`Arbitrary.schema`); fast-check drives the seed, so a
 * fast-check seed and path replay the same messages (shrinking acts on the seed, not the message).
 *
 * @since 0.1.0
 */
import * as Arbitrary from "effect/Arbitrary"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import fc from "fast-check"
import { McpSchema, Revision } from "@effect-mcp/schema"

/**
 * Where a message goes in a revision: its method, kind and sender.
 *
 * @since 0.1.0
 * @category models
 */
export type MethodInfo = Revision.MethodInfo

/**
 * A generated message with what it is.
 *
 * @since 0.1.0
 * @category models
 */
export interface Generated {
  readonly revision: Revision.Revision
  readonly method: string
  readonly kind: "request" | "notification" | "result"
  readonly from: Revision.Sender
  /** The wire value (a whole JSON-RPC message, or a result object). */
  readonly value: unknown
}

type Codec = Schema.Codec<unknown, unknown, never, never>

const compiled = new WeakMap<object, Arbitrary.Arbitrary<unknown>>()

const toWire = (schema: Codec) => {
  const encode = Schema.encodeUnknownResult(schema)
  const decode = Schema.decodeUnknownResult(schema)
  return (value: unknown): { readonly ok: true; readonly wire: unknown } | { readonly ok: false } => {
    const encoded = encode(value)
    if (Result.isFailure(encoded)) return { ok: false }
    let wire: unknown
    try {
      wire = JSON.parse(JSON.stringify(encoded.success))
    } catch {
      return { ok: false }
    }
    return Result.isSuccess(decode(wire)) ? { ok: true, wire } : { ok: false }
  }
}

/**
 * The Effect `Arbitrary` of a schema's wire values (encoded, through JSON, decodable again).
 *
 * @since 0.1.0
 * @category effect arbitraries
 */
export const effectArbitrary = (schema: Schema.Top): Arbitrary.Arbitrary<unknown> => {
  const known = compiled.get(schema)
  if (known !== undefined) return known
  const codec = schema as unknown as Codec
  const wire = toWire(codec)
  const arbitrary = Arbitrary.schema(codec).pipe(
    Arbitrary.filterMap((value) => {
      const w = wire(value)
      return w.ok ? Result.succeed(w.wire) : Result.failVoid
    })
  )
  compiled.set(schema, arbitrary)
  return arbitrary
}

/**
 * A fast-check arbitrary of a schema's wire values: Effect generates them (`Arbitrary.schema`) from a seed
 * fast-check draws. `size` bounds strings and collections (default 6).
 *
 * @since 0.1.0
 * @category arbitraries
 */
export const fromSchema = (schema: Schema.Top, options: { readonly size?: number } = {}): fc.Arbitrary<unknown> => {
  const arbitrary = effectArbitrary(schema)
  const size = options.size ?? 6
  // fast-check's generators are synchronous: sampling one value from a seed is the bridge
  return fc.noShrink(fc.integer({ min: 0, max: 0x7fffffff })).map((seed) =>
    Effect.runSync(Arbitrary.sampleEffect(arbitrary, { seed, count: 1, size, maxDiscards: 1_000 }))[0]
  )
}

const schemaOf = (revision: Revision.Revision, method: string, from: Revision.Sender, kind: "message" | "result") => {
  const schema = kind === "message" ? McpSchema.message(revision, method, from) : McpSchema.result(revision, method, from)
  if (schema === undefined) throw new RangeError(`MCP ${revision} has no ${kind} for ${from}:${method}`)
  return schema
}

/**
 * The methods of a revision (requests and notifications, both senders), optionally filtered.
 *
 * @since 0.1.0
 * @category queries
 */
export const methods = (
  revision: Revision.Revision,
  filter: { readonly kind?: "request" | "notification"; readonly from?: Revision.Sender } = {}
): ReadonlyArray<MethodInfo> =>
  Revision.methods(revision).filter((m) =>
    (filter.kind === undefined || m.kind === filter.kind) && (filter.from === undefined || m.from === filter.from)
  )

/**
 * Arbitrary whole messages (`jsonrpc`, `id`, `method`, `params`) of one method of one revision.
 *
 * @since 0.1.0
 * @category arbitraries
 */
export const message = (
  revision: Revision.Revision,
  method: string,
  from: Revision.Sender,
  options?: { readonly size?: number }
): fc.Arbitrary<unknown> => {
  const schema = schemaOf(revision, method, from, "message")
  const kind = Revision.methods(revision).find((m) => m.method === method && m.from === from)!.kind
  return fc.tuple(fromSchema(schema, options), fc.integer({ min: 0, max: 1_000_000 })).map(([value, id]) => envelope(value, kind, id))
}

/**
 * The JSON-RPC envelope of a message: the schemas of 2024-11-05 … 2025-06-18 describe only `method` and
 * `params`, the envelope (`jsonrpc`, `id`) being JSON-RPC's; a wire message has both.
 */
const envelope = (value: unknown, kind: "request" | "notification", id: number): unknown => {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return value
  const v = value as Record<string, unknown>
  const withVersion = v.jsonrpc === "2.0" ? v : { ...v, jsonrpc: "2.0" }
  if (kind === "request") return "id" in withVersion ? withVersion : { ...withVersion, id }
  if (!("id" in withVersion)) return withVersion
  const { id: _id, ...notification } = withVersion
  return notification
}

/**
 * Arbitrary results of one request of one revision.
 *
 * @since 0.1.0
 * @category arbitraries
 */
export const result = (
  revision: Revision.Revision,
  method: string,
  from: Revision.Sender,
  options?: { readonly size?: number }
): fc.Arbitrary<unknown> => fromSchema(schemaOf(revision, method, from, "result"), options)

/**
 * Arbitrary messages of a revision (default: every revision), requests and notifications of both senders
 * (filter with `kind` and `from`), each with what it is; results of requests with `results: true`.
 *
 * @since 0.1.0
 * @category arbitraries
 */
export const any = (
  options: {
    readonly revisions?: ReadonlyArray<Revision.Revision>
    readonly kind?: "request" | "notification"
    readonly from?: Revision.Sender
    readonly results?: boolean
    readonly size?: number
  } = {}
): fc.Arbitrary<Generated> => {
  const choices: Array<fc.Arbitrary<Generated>> = []
  for (const revision of options.revisions ?? Revision.all) {
    for (const m of methods(revision, { ...(options.kind === undefined ? {} : { kind: options.kind }), ...(options.from === undefined ? {} : { from: options.from }) })) {
      choices.push(
        message(revision, m.method, m.from, options).map((value) => ({ revision, method: m.method, kind: m.kind, from: m.from, value }))
      )
      if (options.results === true && m.kind === "request") {
        choices.push(
          result(revision, m.method, m.from, options).map((value) => ({ revision, method: m.method, kind: "result" as const, from: m.from, value }))
        )
      }
    }
  }
  if (choices.length === 0) throw new RangeError("no MCP method matches")
  return fc.oneof(...choices)
}

/**
 * The Effect `Arbitrary` of one method's whole messages (for `it.effect.prop`).
 *
 * @since 0.1.0
 * @category effect arbitraries
 */
export const effectMessage = (revision: Revision.Revision, method: string, from: Revision.Sender): Arbitrary.Arbitrary<unknown> => {
  const kind = Revision.methods(revision).find((m) => m.method === method && m.from === from)?.kind
  const schema = schemaOf(revision, method, from, "message")
  return Arbitrary.map(effectArbitrary(schema), (value) => envelope(value, kind ?? "request", 0))
}

/**
 * The Effect `Arbitrary` of one request's results (for `it.effect.prop`).
 *
 * @since 0.1.0
 * @category effect arbitraries
 */
export const effectResult = (revision: Revision.Revision, method: string, from: Revision.Sender): Arbitrary.Arbitrary<unknown> =>
  effectArbitrary(schemaOf(revision, method, from, "result"))
