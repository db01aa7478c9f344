import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { RequestContext } from "../src/RequestContext.ts"
import * as Tool from "../src/Tool.ts"

const context = RequestContext.of({
  requestId: 1,
  method: "tools/call",
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

const run = <A, E>(effect: Effect.Effect<A, E, RequestContext>) =>
  effect.pipe(Effect.provideService(RequestContext, context), Effect.runPromise)

describe("Tool", () => {
  const echo = Tool.make("echo", {
    description: "Echoes a message",
    annotations: { readOnlyHint: true },
    input: Schema.Struct({ message: Schema.String.annotate({ description: "what to echo" }) }),
    handler: ({ message }) => Effect.succeed(message)
  })

  it("describes itself with JSON Schema 2020-12 rooted at type object", () => {
    expect(Tool.describe(echo)).toEqual({
      name: "echo",
      description: "Echoes a message",
      annotations: { readOnlyHint: true },
      inputSchema: {
        type: "object",
        properties: { message: { type: "string", description: "what to echo" } },
        required: ["message"],
        additionalProperties: true
      }
    })
    const empty = Tool.make("now", { input: Schema.Struct({}), handler: () => Effect.succeed("x") })
    expect(empty.inputSchema).toMatchObject({ type: "object" })
  })

  it("calls the handler with decoded input; bad arguments are an isError result", async () => {
    expect(await run(echo.call({ message: "hi" }))).toEqual({ content: [{ type: "text", text: "hi" }] })
    const bad = await run(echo.call({ message: 42 }))
    expect(bad.isError).toBe(true)
    expect(JSON.stringify(bad.content)).toContain("message")
  })

  it("validates output against the output schema and sends structuredContent", async () => {
    const add = Tool.make("add", {
      input: Schema.Struct({ a: Schema.Finite, b: Schema.Finite }),
      output: Schema.Struct({ sum: Schema.Finite }),
      handler: ({ a, b }) => Effect.succeed({ sum: a + b })
    })
    expect(Tool.describe(add).outputSchema).toMatchObject({ type: "object", required: ["sum"] })
    expect(await run(add.call({ a: 1, b: 2 }))).toEqual({
      content: [{ type: "text", text: "{\"sum\":3}" }],
      structuredContent: { sum: 3 }
    })
    const liar = Tool.make("liar", {
      input: Schema.Struct({}),
      output: Schema.Struct({ sum: Schema.Finite }),
      handler: () => Effect.succeed({ sum: "three" } as unknown as { sum: number })
    })
    const error = await liar.call({}).pipe(Effect.flip, Effect.provideService(RequestContext, context), Effect.runPromise)
    expect(error).toMatchObject({ _tag: "InvalidToolOutput", mode: "FM-50", tool: "liar" })
  })

  it("ToolFailure becomes an isError result; other failures propagate", async () => {
    const failing = Tool.make("failing", {
      input: Schema.Struct({}),
      handler: () => Effect.fail(new Tool.ToolFailure({ message: "disk full" }))
    })
    expect(await run(failing.call({}))).toEqual({ content: [{ type: "text", text: "disk full" }], isError: true })
    const broken = Tool.make("broken", {
      input: Schema.Struct({}),
      handler: () => Effect.fail("boom" as const)
    })
    expect(await broken.call({}).pipe(Effect.flip, Effect.provideService(RequestContext, context), Effect.runPromise)).toBe("boom")
  })
})
