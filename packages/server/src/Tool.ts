/**
 * Tools defined with Effect Schema: the input schema validates arguments and becomes the tool's
 * `inputSchema` (JSON Schema 2020-12); an optional output schema validates the handler's result, which is
 * sent as `structuredContent` (with a JSON text copy in `content` for clients that ignore it).
 *
 * A handler fails with `ToolFailure` for errors the model should see (`isError: true` results); any other
 * failure is a server error that the engine isolates and answers with a safe -32603.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import type * as Duration from "effect/Duration"
import * as Content from "./Content.ts"
import { type JsonSchemaObject, objectJsonSchema } from "./internal/jsonSchema.ts"
import type { RequestContext } from "./RequestContext.ts"

/** A JSON Schema object with `type: "object"` at the root, as tools' schemas go on the wire. */
export type { JsonSchemaObject }

/** Hints about a tool's behaviour (never trusted for security decisions). */
export interface ToolAnnotations {
  readonly title?: string
  readonly readOnlyHint?: boolean
  readonly destructiveHint?: boolean
  readonly idempotentHint?: boolean
  readonly openWorldHint?: boolean
}

/** An icon a client can show. */
export interface Icon {
  readonly src: string
  readonly mimeType?: string
  readonly sizes?: ReadonlyArray<string>
  readonly theme?: "light" | "dark"
}

/** The result of `tools/call`, as sent. */
export interface CallToolResult {
  readonly content: ReadonlyArray<Content.ContentBlock>
  readonly structuredContent?: Record<string, unknown>
  readonly isError?: boolean
  readonly _meta?: Record<string, unknown>
}

/**
 * FM-16: a tool failed in a way the model should see. Sent as a result with `isError: true` (not as a
 * protocol error), so the model can read `message` and correct itself. Nothing else is affected.
 */
export class ToolFailure extends Schema.TaggedError<ToolFailure>()("ToolFailure", {
  mode: Schema.tag("FM-16"),
  message: Schema.String,
  content: Schema.optionalKey(Schema.Array(Schema.Unknown))
}) {}

/**
 * FM-50: a tool's handler returned a value that does not match its output schema. A server bug: the client
 * gets a safe -32603 and the error is recorded with its mode.
 */
export class InvalidToolOutput extends Schema.TaggedError<InvalidToolOutput>()("InvalidToolOutput", {
  mode: Schema.tag("FM-50"),
  tool: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    return `Tool "${this.tool}" returned a value that does not match its outputSchema: ${this.detail}`
  }
}

/** What a handler without an output schema may return: text, content blocks, or a whole result. */
export type ToolContent = string | ReadonlyArray<Content.ContentBlock> | CallToolResult

/** Tool metadata shared by both kinds of definition. */
export interface ToolInfo {
  readonly title?: string
  readonly description?: string
  readonly icons?: ReadonlyArray<Icon>
  readonly annotations?: ToolAnnotations
  readonly _meta?: Record<string, unknown>
  /** Longest time a call may run before it is interrupted and answered with a timeout error. */
  readonly timeout?: Duration.Input
  /**
   * Whether the tool may run as a task (MCP 2025-11-25 task-augmented `tools/call`, and the 2026-07-28 tasks
   * extension): `forbidden` (default), `optional` or `required`.
   */
  readonly taskSupport?: "forbidden" | "optional" | "required"
  /**
   * When a 2026-07-28 task starts (tasks extension): `call` (default) as the call arrives; `handler` when the
   * handler reaches `RequestContext.startTask`, so what it asks before that is asked in `input_required` rounds
   * of `tools/call` itself. Without the extension, and in 2025-11-25, it changes nothing.
   */
  readonly taskStart?: "call" | "handler"
}

/** A tool, ready to register with a server. `R` is what its handler needs from the environment. */
export interface Tool<R = never> {
  readonly _tag: "Tool"
  readonly name: string
  readonly info: ToolInfo
  readonly inputSchema: JsonSchemaObject
  readonly outputSchema: JsonSchemaObject | undefined
  /**
   * Decodes the arguments, runs the handler and builds the result. Fails with `InvalidToolOutput` or with
   * whatever the handler failed with (other than `ToolFailure`, which becomes an `isError` result).
   */
  readonly call: (args: unknown) => Effect.Effect<CallToolResult, unknown, R | RequestContext>
}

/** The `tools/list` entry for a tool. */
export const describe = (tool: Tool<any>): Record<string, unknown> => {
  const { timeout: _timeout, taskSupport, taskStart: _taskStart, ...info } = tool.info
  return {
    name: tool.name,
    ...info,
    ...(taskSupport === undefined ? {} : { execution: { taskSupport } }),
    inputSchema: tool.inputSchema,
    ...(tool.outputSchema === undefined ? {} : { outputSchema: tool.outputSchema })
  }
}

const validationFailure = (issue: unknown): CallToolResult => ({
  content: [Content.text(`Invalid arguments: ${String(issue)}`)],
  isError: true
})

const failureResult = (failure: ToolFailure): CallToolResult => ({
  content: (failure.content as ReadonlyArray<Content.ContentBlock> | undefined) ?? [Content.text(failure.message)],
  isError: true
})

const toResult = (value: ToolContent): CallToolResult =>
  typeof value === "string"
    ? { content: [Content.text(value)] }
    : Array.isArray(value)
    ? { content: value as ReadonlyArray<Content.ContentBlock> }
    : value as CallToolResult

/** How a tool's arguments are described and decoded. */
export interface InputOptions<I> {
  /** Decodes (and validates) the arguments; its JSON Schema is the listed `inputSchema` by default. */
  readonly input: Schema.Codec<I, unknown, never, never>
  /**
   * The `inputSchema` that `tools/list` shows, sent as is, for JSON Schema that Effect Schema does not express
   * (`if`/`then`, `$anchor`, ...). Arguments are still decoded with `input`: keep the two in agreement.
   */
  readonly inputJsonSchema?: JsonSchemaObject
}

/**
 * Defines a tool whose handler returns content. Arguments that do not match `input` give an `isError`
 * result naming the problem (as MCP asks), not a protocol error.
 *
 * @example
 * ```ts
 * const echo = Tool.make("echo", {
 *   description: "Echoes a message",
 *   input: Schema.Struct({ message: Schema.String }),
 *   handler: ({ message }) => Effect.succeed(message)
 * })
 * ```
 */
export function make<I, E, R>(
  name: string,
  options: ToolInfo & InputOptions<I> & {
    readonly handler: (input: I) => Effect.Effect<ToolContent, ToolFailure | E, R>
  }
): Tool<Exclude<R, RequestContext>>
/** Defines a tool with an output schema: the handler returns structured data, validated before sending. */
export function make<I, O, E, R>(
  name: string,
  options: ToolInfo & InputOptions<I> & {
    readonly output: Schema.Codec<O, unknown, never, never>
    readonly handler: (input: I) => Effect.Effect<O, ToolFailure | E, R>
  }
): Tool<Exclude<R, RequestContext>>
export function make(
  name: string,
  options: ToolInfo & InputOptions<any> & {
    readonly output?: Schema.Codec<any, unknown, never, never>
    readonly handler: (input: any) => Effect.Effect<any, any, any>
  }
): Tool<any> {
  const { input, inputJsonSchema, output, handler, ...info } = options
  // synchronous decoding: one Result per call, no Effect around it (tool calls are the hot path)
  const decodeInput = Schema.decodeUnknownResult(Schema.toCodecJson(input))
  const encodeOutput = output === undefined ? undefined : Schema.encodeUnknownResult(Schema.toCodecJson(output))
  const isToolFailure = (e: unknown): e is ToolFailure => e instanceof ToolFailure
  const recover = Effect.catchIf(isToolFailure, (failure: ToolFailure) => Effect.succeed(failureResult(failure)))
  const call = (args: unknown): Effect.Effect<CallToolResult, unknown, any> => {
    const decoded = decodeInput(args ?? {})
    if (Result.isFailure(decoded)) return Effect.succeed(validationFailure(decoded.failure))
    const run = handler(decoded.success)
    const mapped = encodeOutput === undefined
      ? Effect.map(run, (value) => toResult(value as ToolContent))
      : Effect.flatMap(run, (value) => {
        const encoded = encodeOutput(value)
        return Result.isFailure(encoded)
          ? Effect.fail(new InvalidToolOutput({ tool: name, detail: String(encoded.failure) }))
          : Effect.succeed({
            content: [Content.text(JSON.stringify(encoded.success))],
            structuredContent: encoded.success as Record<string, unknown>
          })
      })
    return recover(mapped)
  }
  return {
    _tag: "Tool",
    name,
    info,
    inputSchema: inputJsonSchema ?? objectJsonSchema(input),
    outputSchema: output === undefined ? undefined : objectJsonSchema(output),
    call
  }
}
