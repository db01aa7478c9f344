/**
 * Prompts: named message templates with arguments defined by an Effect Schema struct of strings.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as SchemaAST from "effect/SchemaAST"
import * as Content from "./Content.ts"
import type { RequestContext } from "./RequestContext.ts"
import type { Icon } from "./Tool.ts"

/** One message of a prompt. */
export interface PromptMessage {
  readonly role: "user" | "assistant"
  readonly content: Content.ContentBlock
}

/** The result of `prompts/get`. */
export interface GetPromptResult {
  readonly description?: string
  readonly messages: ReadonlyArray<PromptMessage>
  readonly _meta?: Record<string, unknown>
}

/** A prompt argument as listed by `prompts/list`. */
export interface PromptArgument {
  readonly name: string
  readonly title?: string
  readonly description?: string
  readonly required?: boolean
}

/** FM-47 (client side): the arguments do not match the prompt's schema; answered with -32602. */
export class InvalidPromptArguments extends Schema.TaggedError<InvalidPromptArguments>()("InvalidPromptArguments", {
  mode: Schema.tag("FM-47"),
  prompt: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    return `Invalid arguments for prompt "${this.prompt}": ${this.detail}`
  }
}

/** A prompt, ready to register. */
export interface Prompt<R = never> {
  readonly _tag: "Prompt"
  readonly name: string
  readonly title: string | undefined
  readonly description: string | undefined
  readonly icons: ReadonlyArray<Icon> | undefined
  readonly arguments: ReadonlyArray<PromptArgument>
  readonly get: (args: unknown) => Effect.Effect<GetPromptResult, unknown, R | RequestContext>
  readonly complete: Readonly<
    Record<string, (value: string, context: Readonly<Record<string, string>>) => Effect.Effect<ReadonlyArray<string>, unknown, R>>
  >
}

/** What `get` may return: one user text message, a list of messages, or the whole result. */
export type PromptContent = string | ReadonlyArray<PromptMessage> | GetPromptResult

const argumentsOf = (schema: Schema.Top): Array<PromptArgument> => {
  const ast = SchemaAST.toType(schema.ast)
  if (!SchemaAST.isObjects(ast)) return []
  return ast.propertySignatures.map((ps) => {
    const description = SchemaAST.resolveDescription(ps.type)
    const optional = SchemaAST.isOptional(ps.type)
    return {
      name: String(ps.name),
      ...(description === undefined ? {} : { description }),
      required: !optional
    }
  })
}

/**
 * Defines a prompt. `args` is a struct of strings (MCP prompt arguments are strings); the list of arguments
 * in `prompts/list` is derived from it, with descriptions from the fields' `description` annotations.
 */
export const make = <A, E, R, R2 = never>(
  name: string,
  options: {
    readonly title?: string
    readonly description?: string
    readonly icons?: ReadonlyArray<Icon>
    readonly args: Schema.Codec<A, unknown, never, never>
    readonly get: (args: A) => Effect.Effect<PromptContent, E, R>
    readonly complete?: Readonly<
      Record<string, (value: string, context: Readonly<Record<string, string>>) => Effect.Effect<ReadonlyArray<string>, unknown, R2>>
    >
  }
): Prompt<Exclude<R | R2, RequestContext>> => {
  const decode = Schema.decodeUnknownEffect(options.args)
  const prompt: Prompt<R | R2> = {
    _tag: "Prompt",
    name,
    title: options.title,
    description: options.description,
    icons: options.icons,
    arguments: argumentsOf(options.args),
    complete: options.complete ?? {},
    get: (args) =>
      decode(args ?? {}).pipe(
        Effect.mapError((issue) => new InvalidPromptArguments({ prompt: name, detail: String(issue) })),
        Effect.flatMap(options.get),
        Effect.map((content): GetPromptResult =>
          typeof content === "string"
            ? { messages: [{ role: "user", content: Content.text(content) }] }
            : Array.isArray(content)
            ? { messages: content as ReadonlyArray<PromptMessage> }
            : content as GetPromptResult
        )
      )
  }
  // RequestContext is provided by the server for every request
  return prompt as unknown as Prompt<Exclude<R | R2, RequestContext>>
}

/** The `prompts/list` entry of a prompt. */
export const describe = (prompt: Prompt<any>): Record<string, unknown> => ({
  name: prompt.name,
  ...(prompt.title === undefined ? {} : { title: prompt.title }),
  ...(prompt.description === undefined ? {} : { description: prompt.description }),
  ...(prompt.icons === undefined ? {} : { icons: prompt.icons }),
  arguments: prompt.arguments
})
