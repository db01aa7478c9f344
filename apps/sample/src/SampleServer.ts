/**
 * The sample MCP server: a few tools, resources and prompts a person would find useful, that also show
 * progress, cancellation and isolation (a tool that fails never takes the server down). Its subject is
 * effect-mcp's own FMEA catalogue, so it is useful to anyone reading this repository.
 */
import { FailureMode } from "@effect-mcp/faults"
import { McpServer, Prompt, RequestContext, Resource, Tool } from "@effect-mcp/server"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"

const modeIds = FailureMode.all.map((m) => m.id)

const ModeId = Schema.String.annotate({ description: "A failure mode id, FM-01 … FM-52" })

const summary = (m: FailureMode.FailureMode) => ({
  id: m.id,
  name: m.name,
  category: m.category,
  rpn: m.rpn,
  status: m.status
})

/** `echo`: `{ message }` → one text content with the message (used by the benchmarks). */
export const echo = Tool.make("echo", {
  title: "Echo",
  description: "Returns the message it is given.",
  annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
  input: Schema.Struct({ message: Schema.String.annotate({ description: "The text to echo back" }) }),
  handler: ({ message }) => Effect.succeed(message)
})

/** `add`: structured output validated against its schema. */
export const add = Tool.make("add", {
  title: "Add two numbers",
  description: "Adds two numbers and returns the sum as structured content.",
  annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
  input: Schema.Struct({ a: Schema.Finite, b: Schema.Finite }),
  output: Schema.Struct({ sum: Schema.Finite }),
  handler: ({ a, b }) => Effect.succeed({ sum: a + b })
})

/** `countdown`: reports progress every second; cancelling it interrupts the wait (its finalizer logs). */
export const countdown = Tool.make("countdown", {
  title: "Count down",
  description: "Counts down from `seconds` to zero, reporting progress each second. Cancel it to stop early.",
  annotations: { readOnlyHint: true, openWorldHint: false },
  input: Schema.Struct({ seconds: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 60 })) }),
  handler: ({ seconds }) =>
    Effect.gen(function*() {
      const ctx = yield* RequestContext.RequestContext
      for (let left = seconds; left > 0; left--) {
        yield* ctx.progress(seconds - left, seconds, `${left} s left`)
        yield* Effect.sleep("1 second")
      }
      yield* ctx.progress(seconds, seconds, "done")
      return `Counted down from ${seconds}.`
    }).pipe(Effect.onInterrupt(() => Effect.logInfo("countdown cancelled")))
})

/** `fail`: fails on purpose, in the way asked, to show that the server survives it. */
export const fail = Tool.make("fail", {
  title: "Fail on purpose",
  description:
    "Fails in the way asked: `tool-error` (an error the model sees), `error` (a server error), `defect` (a crash) or `throw` (an exception). The server keeps serving.",
  annotations: { readOnlyHint: true, openWorldHint: false },
  input: Schema.Struct({ kind: Schema.Literals(["tool-error", "error", "defect", "throw"]) }),
  handler: ({ kind }) => {
    switch (kind) {
      case "tool-error":
        return Effect.fail(new Tool.ToolFailure({ message: "This tool failed on purpose; the model can see this." }))
      case "error":
        return Effect.fail(new Error("a typed failure inside the tool"))
      case "defect":
        return Effect.die(new Error("a defect inside the tool"))
      case "throw":
        return Effect.sync((): string => {
          throw new Error("an exception thrown inside the tool")
        })
    }
  }
})

/** `failure_mode`: looks up an FMEA mode (structured). */
export const failureMode = Tool.make("failure_mode", {
  title: "Look up a failure mode",
  description: "Returns one failure mode of effect-mcp's FMEA: scores, mitigation, status, typed errors, tests.",
  annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
  input: Schema.Struct({ id: ModeId }),
  handler: ({ id }) =>
    FailureMode.isModeId(id)
      ? Effect.succeed(JSON.stringify(FailureMode.get(id), null, 2))
      : Effect.fail(new Tool.ToolFailure({ message: `No failure mode ${id}; ids run from FM-01 to FM-52.` }))
})

/** `top_risks`: the highest-RPN modes. */
export const topRisks = Tool.make("top_risks", {
  title: "Top risks",
  description: "Lists the failure modes with the highest risk priority number.",
  annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
  input: Schema.Struct({ count: Schema.optionalKey(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 52 }))) }),
  output: Schema.Struct({
    modes: Schema.Array(Schema.Struct({
      id: Schema.String,
      name: Schema.String,
      category: Schema.String,
      rpn: Schema.Int,
      status: Schema.String
    }))
  }),
  handler: ({ count }) => Effect.succeed({ modes: FailureMode.topByRpn(count ?? 10).map(summary) })
})

/** `greet_me`: asks the user for their name (elicitation; in 2026-07-28 an MRTR round trip). */
export const greetMe = Tool.make("greet_me", {
  title: "Greet me",
  description: "Asks the user for their name (elicitation), then greets them. Needs a client that supports elicitation.",
  annotations: { readOnlyHint: true, openWorldHint: false },
  input: Schema.Struct({}),
  handler: () =>
    Effect.gen(function*() {
      const answer = yield* RequestContext.ask("elicitation/create", {
        mode: "form",
        message: "What is your name?",
        requestedSchema: { type: "object", properties: { name: { type: "string", title: "Name" } }, required: ["name"] }
      })
      if (answer.action !== "accept") return "No name given; hello anyway."
      const content = answer.content as { readonly name?: unknown } | undefined
      return `Hello, ${String(content?.name ?? "stranger")}!`
    })
})

/** `now`: the server's clock. */
export const now = Tool.make("now", {
  title: "Current time",
  description: "Returns the server's current time in ISO 8601.",
  annotations: { readOnlyHint: true, openWorldHint: false },
  input: Schema.Struct({}),
  handler: () => Effect.map(DateTime.now, DateTime.formatIso)
})

/** `fmea://modes`: the whole catalogue summary. */
export const catalogue = Resource.make("fmea://modes", {
  name: "fmea-catalogue",
  title: "FMEA catalogue",
  description: "All 52 failure modes with their RPN and status.",
  mimeType: "application/json",
  read: Effect.sync(() => JSON.stringify(FailureMode.all.map(summary), null, 2))
})

/** `fmea://modes/{id}`: one mode, with completion of its id. */
export const modeResource = Resource.template("fmea://modes/{id}", {
  name: "fmea-mode",
  title: "One failure mode",
  description: "A failure mode of the FMEA, in full.",
  mimeType: "application/json",
  read: (_uri, { id }) =>
    id !== undefined && FailureMode.isModeId(id)
      ? Effect.succeed(JSON.stringify(FailureMode.get(id), null, 2))
      : Effect.fail(new McpServer.McpError({ code: -32602, message: `No failure mode ${String(id)}` })),
  complete: { id: (value) => Effect.succeed(modeIds.filter((m) => m.startsWith(value.toUpperCase()))) }
})

/** `explain_failure_mode`: a prompt asking the model to explain a mode and its mitigation. */
export const explain = Prompt.make("explain_failure_mode", {
  title: "Explain a failure mode",
  description: "Asks the model to explain a failure mode of the FMEA and how effect-mcp mitigates it.",
  args: Schema.Struct({ id: ModeId }),
  get: ({ id }) =>
    FailureMode.isModeId(id)
      ? Effect.succeed(
        `Explain failure mode ${id} ("${FailureMode.get(id).name}") of an MCP server to an engineer: what goes wrong, ` +
          `why its RPN is ${FailureMode.get(id).rpn}, and whether this mitigation is enough:\n\n${FailureMode.get(id).mitigation}`
      )
      : Effect.fail(new McpServer.McpError({ code: -32602, message: `No failure mode ${id}` })),
  complete: { id: (value) => Effect.succeed(modeIds.filter((m) => m.startsWith(value.toUpperCase()))) }
})

/** The sample server. */
export const make = McpServer.make({
  info: { name: "effect-mcp-sample", title: "effect-mcp sample server", version: "0.1.0" },
  instructions:
    "Tools and resources about effect-mcp's failure-mode catalogue (FMEA), plus echo, add, countdown (progress and cancellation), fail (isolation) and greet_me (elicitation).",
  tools: [echo, add, countdown, fail, failureMode, topRisks, greetMe, now],
  resources: [catalogue],
  resourceTemplates: [modeResource],
  prompts: [explain]
})
