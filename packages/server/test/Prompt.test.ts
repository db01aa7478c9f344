import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Prompt from "../src/Prompt.ts"
import { RequestContext } from "../src/RequestContext.ts"

const context = RequestContext.of({
  requestId: 1,
  method: "prompts/get",
  revision: "2025-11-25",
  clientCapabilities: {},
  clientInfo: undefined,
  meta: undefined,
  progress: () => Effect.void,
  log: () => Effect.void,
  ask: () => Effect.die("no client"),
  closeStream: Effect.void,
  askAll: () => Effect.die("no client"),
  startTask: Effect.void
})

describe("Prompt", () => {
  const review = Prompt.make("review", {
    description: "Review code",
    args: Schema.Struct({
      code: Schema.String.annotate({ description: "the code" }),
      style: Schema.optionalKey(Schema.String)
    }),
    get: ({ code, style }) => Effect.succeed(`Review this (${style ?? "any"} style):\n${code}`)
  })

  it("derives its argument list from the schema", () => {
    expect(Prompt.describe(review)).toEqual({
      name: "review",
      description: "Review code",
      arguments: [
        { name: "code", description: "the code", required: true },
        { name: "style", required: false }
      ]
    })
  })

  it("gets messages; bad arguments are a typed error", async () => {
    const result = await review.get({ code: "x=1" }).pipe(Effect.provideService(RequestContext, context), Effect.runPromise)
    expect(result.messages[0]).toEqual({ role: "user", content: { type: "text", text: "Review this (any style):\nx=1" } })
    const error = await review.get({}).pipe(Effect.flip, Effect.provideService(RequestContext, context), Effect.runPromise)
    expect(error).toMatchObject({ _tag: "InvalidPromptArguments", mode: "FM-47" })
  })
})
