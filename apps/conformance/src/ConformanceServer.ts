/**
 * The server definition run against the official MCP conformance suite (`@modelcontextprotocol/conformance`,
 * both the 0.1.x line and the 0.2.0 alphas), built with effect-mcp's own server API.
 *
 * It mirrors the suite's reference "everything server" (`examples/servers/typescript/everything-server.ts`):
 * the same tool, resource and prompt names, the same texts and argument schemas, the same elicitation and
 * sampling requests. Where the reference hand-writes 2026-07-28 (MRTR) results, this server writes one handler
 * with `RequestContext.ask` / `askAll` (with the reference's input keys) and lets `McpServer` turn the asks into
 * server-to-client requests (2025-era sessions) or an `input_required` result (2026-07-28). The tasks-extension fixtures the `tasks/*` scenarios
 * name (`greet`, `slow_compute`, `failing_job`, `protocol_error_job`, `confirm_delete`, `multi_input`,
 * `test_tool_with_task`) are here too.
 *
 * Transport-level behaviour (Streamable HTTP status codes, SSE resumption, header validation) is not part of
 * this definition; serve it over whichever transport the conformance runner drives.
 */
import { ErrorCode } from "@effect-mcp/jsonrpc"
import { Content, McpServer, Prompt, RequestContext, Resource, Tool } from "@effect-mcp/server"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"

// ---- fixtures ---------------------------------------------------------------------------------------------

/** A 1×1 red PNG pixel (base64), as the reference uses for image content and the binary resource. */
export const TEST_IMAGE_BASE64 =
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="

/** A minimal WAV file (base64). */
export const TEST_AUDIO_BASE64 = "UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA="

/**
 * SEP-1613 / SEP-2106: the raw JSON Schema 2020-12 `inputSchema` of `json_schema_2020_12_tool`, sent as is by
 * `tools/list` ($schema, $defs with $anchor, allOf/anyOf, if/then/else, additionalProperties).
 */
export const JSON_SCHEMA_2020_12_INPUT_SCHEMA = {
  $schema: "https://json-schema.org/draft/2020-12/schema",
  type: "object",
  $defs: {
    address: {
      $anchor: "addressDef",
      type: "object",
      properties: {
        street: { type: "string" },
        city: { type: "string" }
      }
    }
  },
  properties: {
    name: { type: "string" },
    address: { $ref: "#/$defs/address" },
    contactMethod: { type: "string", enum: ["phone", "email"] },
    phone: { type: "string" },
    email: { type: "string" }
  },
  allOf: [{ anyOf: [{ required: ["phone"] }, { required: ["email"] }] }],
  if: {
    properties: { contactMethod: { const: "phone" } },
    required: ["contactMethod"]
  },
  then: { required: ["phone"] },
  else: { required: ["email"] },
  additionalProperties: false
} as const

/** The server's self-description (the reference's name and version). */
export const info = { name: "mcp-conformance-test-server", version: "1.0.0" } as const

/** SEP-2549 cache hints, as the reference sends them: 5 minutes, public for lists, private for the rest (reads). */
export const cache: McpServer.CachePolicy = {
  default: { ttlMs: 300_000, scope: "private" },
  "tools/list": { ttlMs: 300_000, scope: "public" },
  "prompts/list": { ttlMs: 300_000, scope: "public" },
  "resources/list": { ttlMs: 300_000, scope: "public" },
  "resources/templates/list": { ttlMs: 300_000, scope: "public" }
}

const WATCHED_URI = "test://watched-resource"

// ---- helpers ----------------------------------------------------------------------------------------------

const NoArgs = Schema.Struct({})

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

/** Completes from a fixed list by prefix (case-insensitive). */
const byPrefix = (values: ReadonlyArray<string>) => (value: string) =>
  Effect.succeed(values.filter((v) => v.toLowerCase().startsWith(value.toLowerCase())))

/**
 * Failures of `ask` that must reach the server untouched: the 2026-07-28 signals (`InputRequired`, which the
 * server turns into an `input_required` result) and -32021 (a missing client capability is a protocol error in
 * 2026-07-28, never a text the model reads).
 */
const mustPropagate = (e: unknown): boolean =>
  RequestContext.isSignal(e) ||
  (e instanceof McpServer.McpError && e.code === ErrorCode.MissingRequiredClientCapability)

const messageOf = (e: unknown): string =>
  isRecord(e) && typeof e.message === "string" ? e.message : String(e)

/**
 * Asks the client and formats the answer; any other failure (a 2025-era client without the capability, or
 * one that answered with an error) becomes text, as the reference does.
 */
const askOr = (
  method: RequestContext.AskMethod,
  params: Record<string, unknown>,
  onAnswer: (answer: Record<string, unknown>) => string,
  onError: (message: string) => string
): Effect.Effect<string, unknown, RequestContext.RequestContext> =>
  RequestContext.ask(method, params).pipe(
    Effect.map(onAnswer),
    Effect.catchIf((e: unknown) => !mustPropagate(e), (e) => Effect.succeed(onError(messageOf(e))))
  )

/** `content.<field>` of an elicitation answer, as text. */
const field = (answer: Record<string, unknown>, name: string, fallback = "unknown"): string => {
  const content = answer.content
  const value = isRecord(content) ? content[name] : undefined
  return typeof value === "string" ? value : fallback
}

/** The text of a sampling answer (`content.text`). */
const sampledText = (answer: Record<string, unknown>): string | undefined => {
  const content = answer.content
  return isRecord(content) && typeof content.text === "string" ? content.text : undefined
}

const elicitationSummary = (answer: Record<string, unknown>) =>
  `action=${String(answer.action)}, content=${JSON.stringify(answer.content ?? {})}`

const elicitForm = (message: string, properties: Record<string, unknown>, required: ReadonlyArray<string>) => ({
  message,
  requestedSchema: { type: "object", properties, required }
})

const sampleText = (text: string, maxTokens: number) => ({
  messages: [{ role: "user", content: { type: "text", text } }],
  maxTokens
})

// ---- tools: content ---------------------------------------------------------------------------------------

/** `test_simple_text`: one text block. */
export const simpleText = Tool.make("test_simple_text", {
  description: "Tests simple text content response",
  input: NoArgs,
  handler: () => Effect.succeed("This is a simple text response for testing.")
})

/** `test_image_content`: one PNG image block. */
export const imageContent = Tool.make("test_image_content", {
  description: "Tests image content response",
  input: NoArgs,
  handler: () => Effect.succeed([Content.image(TEST_IMAGE_BASE64, "image/png")])
})

/** `test_audio_content`: one WAV audio block. */
export const audioContent = Tool.make("test_audio_content", {
  description: "Tests audio content response",
  input: NoArgs,
  handler: () => Effect.succeed([Content.audio(TEST_AUDIO_BASE64, "audio/wav")])
})

/** `test_embedded_resource`: one embedded text resource. */
export const embeddedResource = Tool.make("test_embedded_resource", {
  description: "Tests embedded resource content response",
  input: NoArgs,
  handler: () =>
    Effect.succeed([Content.embeddedText("test://embedded-resource", "This is an embedded resource content.", "text/plain")])
})

/** `test_multiple_content_types`: text, image and an embedded JSON resource. */
export const multipleContentTypes = Tool.make("test_multiple_content_types", {
  description: "Tests response with multiple content types (text, image, resource)",
  input: NoArgs,
  handler: () =>
    Effect.succeed([
      Content.text("Multiple content types test:"),
      Content.image(TEST_IMAGE_BASE64, "image/png"),
      Content.embeddedText("test://mixed-content-resource", JSON.stringify({ test: "data", value: 123 }), "application/json")
    ])
})

/** `test_error_handling`: always an `isError` result the model can read. */
export const errorHandling = Tool.make("test_error_handling", {
  description: "Tests error response handling",
  input: NoArgs,
  handler: () => Effect.fail(new Tool.ToolFailure({ message: "This tool intentionally returns an error for testing" }))
})

// ---- tools: notifications during a call -------------------------------------------------------------------

/** `test_tool_with_logging`: three info log messages ~50 ms apart (sent when the client's level lets them). */
export const toolWithLogging = Tool.make("test_tool_with_logging", {
  description: "Tests tool that emits log messages during execution",
  input: NoArgs,
  handler: () =>
    Effect.gen(function*() {
      const ctx = yield* RequestContext.RequestContext
      yield* ctx.log("info", "Tool execution started")
      yield* Effect.sleep("50 millis")
      yield* ctx.log("info", "Tool processing data")
      yield* Effect.sleep("50 millis")
      yield* ctx.log("info", "Tool execution completed")
      return "Tool with logging executed successfully"
    })
})

/** `test_tool_with_progress`: progress 0, 50, 100 of 100 ~50 ms apart; returns the progress token. */
export const toolWithProgress = Tool.make("test_tool_with_progress", {
  description: "Tests tool that reports progress notifications",
  input: NoArgs,
  handler: () =>
    Effect.gen(function*() {
      const ctx = yield* RequestContext.RequestContext
      for (const step of [0, 50, 100]) {
        if (step > 0) yield* Effect.sleep("50 millis")
        yield* ctx.progress(step, 100, `Completed step ${step} of 100`)
      }
      return String(ctx.meta?.progressToken ?? 0)
    })
})

/**
 * `test_reconnection` (SEP-1699): the tool ends its own response stream (`RequestContext.closeStream`) and
 * answers a little later; the client must resume the stream with `Last-Event-ID` to get the result.
 */
export const reconnection = Tool.make("test_reconnection", {
  description:
    "Tests SSE stream disconnection and client reconnection (SEP-1699). Server will close the stream mid-call and send the result after client reconnects.",
  input: NoArgs,
  handler: () =>
    Effect.gen(function*() {
      const context = yield* RequestContext.RequestContext
      // ends the response stream now; the client resumes with Last-Event-ID after the retry hint
      yield* context.closeStream
      yield* Effect.sleep("100 millis")
      return "Reconnection test completed successfully. If you received this, the client properly reconnected after stream closure."
    })
})

// ---- tools: asking the client (sampling, elicitation) -----------------------------------------------------

/** `test_sampling`: asks the client's LLM with the given prompt. */
export const sampling = Tool.make("test_sampling", {
  description: "Tests server-initiated sampling (LLM completion request)",
  input: Schema.Struct({ prompt: Schema.String.annotate({ description: "The prompt to send to the LLM" }) }),
  handler: ({ prompt }) =>
    askOr(
      "sampling/createMessage",
      sampleText(prompt, 100),
      (answer) => `LLM response: ${sampledText(answer) ?? "No response"}`,
      (message) => `Sampling not supported or error: ${message}`
    )
})

/** `test_elicitation`: asks the user for a response with the given message. */
export const elicitation = Tool.make("test_elicitation", {
  description: "Tests server-initiated elicitation (user input request)",
  input: Schema.Struct({ message: Schema.String.annotate({ description: "The message to show the user" }) }),
  handler: ({ message }) =>
    askOr(
      "elicitation/create",
      elicitForm(message, { response: { type: "string", description: "User's response" } }, ["response"]),
      (answer) => `User response: ${elicitationSummary(answer)}`,
      (error) => `Elicitation not supported or error: ${error}`
    )
})

/** `test_elicitation_sep1034_defaults`: a form with a default for every primitive type (SEP-1034). */
export const elicitationDefaults = Tool.make("test_elicitation_sep1034_defaults", {
  description: "Tests elicitation with default values per SEP-1034",
  input: NoArgs,
  handler: () =>
    askOr(
      "elicitation/create",
      elicitForm("Please review and update the form fields with defaults", {
        name: { type: "string", description: "User name", default: "John Doe" },
        age: { type: "integer", description: "User age", default: 30 },
        score: { type: "number", description: "User score", default: 95.5 },
        status: {
          type: "string",
          description: "User status",
          enum: ["active", "inactive", "pending"],
          default: "active"
        },
        verified: { type: "boolean", description: "Verification status", default: true }
      }, []),
      (answer) => `Elicitation completed: ${elicitationSummary(answer)}`,
      (error) => `Elicitation not supported or error: ${error}`
    )
})

/** `test_elicitation_sep1330_enums`: the five enum shapes of SEP-1330. */
export const elicitationEnums = Tool.make("test_elicitation_sep1330_enums", {
  description: "Tests elicitation with enum schema improvements per SEP-1330",
  input: NoArgs,
  handler: () =>
    askOr(
      "elicitation/create",
      elicitForm("Please select options from the enum fields", {
        untitledSingle: {
          type: "string",
          description: "Select one option",
          enum: ["option1", "option2", "option3"]
        },
        titledSingle: {
          type: "string",
          description: "Select one option with titles",
          oneOf: [
            { const: "value1", title: "First Option" },
            { const: "value2", title: "Second Option" },
            { const: "value3", title: "Third Option" }
          ]
        },
        legacyEnum: {
          type: "string",
          description: "Select one option (legacy)",
          enum: ["opt1", "opt2", "opt3"],
          enumNames: ["Option One", "Option Two", "Option Three"]
        },
        untitledMulti: {
          type: "array",
          description: "Select multiple options",
          minItems: 1,
          maxItems: 3,
          items: { type: "string", enum: ["option1", "option2", "option3"] }
        },
        titledMulti: {
          type: "array",
          description: "Select multiple options with titles",
          minItems: 1,
          maxItems: 3,
          items: {
            anyOf: [
              { const: "value1", title: "First Choice" },
              { const: "value2", title: "Second Choice" },
              { const: "value3", title: "Third Choice" }
            ]
          }
        }
      }, []),
      (answer) => `Elicitation completed: ${elicitationSummary(answer)}`,
      (error) => `Elicitation not supported or error: ${error}`
    )
})

// ---- tools: JSON Schema 2020-12 ---------------------------------------------------------------------------

/**
 * `json_schema_2020_12_tool`: `tools/list` shows the raw JSON Schema 2020-12 document (`inputJsonSchema`);
 * arguments are decoded with what Effect Schema expresses of it.
 */
export const jsonSchema2020_12 = Tool.make("json_schema_2020_12_tool", {
  description: "Tool with JSON Schema 2020-12 features for conformance testing (SEP-1613)",
  inputJsonSchema: JSON_SCHEMA_2020_12_INPUT_SCHEMA,
  input: Schema.Struct({
    name: Schema.optionalKey(Schema.String),
    address: Schema.optionalKey(Schema.Struct({
      street: Schema.optionalKey(Schema.String),
      city: Schema.optionalKey(Schema.String)
    })),
    contactMethod: Schema.optionalKey(Schema.Literals(["phone", "email"])),
    phone: Schema.optionalKey(Schema.String),
    email: Schema.optionalKey(Schema.String)
  }),
  handler: (args) => Effect.succeed(`JSON Schema 2020-12 tool called with: ${JSON.stringify(args)}`)
})

/** The `inputSchema` of `test_header_param`: `region` is mirrored in the `Mcp-Param-Region` header (SEP-2243). */
export const HEADER_PARAM_INPUT_SCHEMA = {
  type: "object",
  properties: {
    region: { type: "string", description: "A region, sent in the Mcp-Param-Region header too", "x-mcp-header": "Region" }
  },
  required: ["region"]
} as const

/**
 * `test_header_param` (SEP-2243 custom headers): a string argument annotated with `x-mcp-header`, so 2026-07-28
 * clients send it in `Mcp-Param-Region` as well; checking the header against the body is the HTTP transport's.
 */
export const headerParam = Tool.make("test_header_param", {
  description: "Echoes its region argument, which is mirrored in the Mcp-Param-Region request header",
  inputJsonSchema: HEADER_PARAM_INPUT_SCHEMA,
  input: Schema.Struct({ region: Schema.String }),
  handler: ({ region }) => Effect.succeed(`Region: ${region}`)
})

// ---- tools: 2026-07-28 (stateless era) diagnostics --------------------------------------------------------

/**
 * `test_missing_capability` (SEP-2575): needs the client's `sampling` capability; without it the request fails
 * with -32021 and `data.requiredCapabilities: { sampling: {} }` (2025-era sessions: -32600, as `ask` does).
 */
export const missingCapability = Tool.make("test_missing_capability", {
  description: "Test tool requiring sampling",
  input: NoArgs,
  handler: () =>
    Effect.gen(function*() {
      const ctx = yield* RequestContext.RequestContext
      if (isRecord(ctx.clientCapabilities.sampling)) return "Success"
      return yield* ctx.revision >= "2026-07-28"
        ? new McpServer.McpError({
          code: ErrorCode.MissingRequiredClientCapability,
          message: "MissingRequiredClientCapabilityError",
          data: { requiredCapabilities: { sampling: {} } }
        })
        : new McpServer.McpError({ code: ErrorCode.InvalidRequest, message: "The client did not declare the \"sampling\" capability" })
    })
})

/** `test_streaming_elicitation`: progress on the response stream, then the result; never a request on it. */
export const streamingElicitation = Tool.make("test_streaming_elicitation", {
  description: "Diagnostic tool validating response progress streams",
  input: NoArgs,
  handler: () =>
    Effect.gen(function*() {
      const ctx = yield* RequestContext.RequestContext
      yield* ctx.progress(50, 100, "Streaming")
      return "Streaming complete"
    })
})

/** `test_logging_tool`: logs once; nothing is sent unless the request named a log level. */
export const loggingTool = Tool.make("test_logging_tool", {
  description: "Diagnostic logging validator tool",
  input: NoArgs,
  handler: () =>
    Effect.gen(function*() {
      const ctx = yield* RequestContext.RequestContext
      yield* ctx.log("info", "Diagnostic trace logging activated")
      return "Logging evaluated"
    })
})

// ---- tools: 2026-07-28 MRTR (input_required) --------------------------------------------------------------

const askName = (message: string) =>
  elicitForm(message, { name: { type: "string" } }, ["name"])

/** `test_input_required_result_elicitation`: asks the user's name, greets them. */
export const inputRequiredElicitation = Tool.make("test_input_required_result_elicitation", {
  description: "MRTR: returns InputRequiredResult with elicitation request",
  input: NoArgs,
  handler: () =>
    Effect.map(
      RequestContext.ask("elicitation/create", askName("What is your name?"), { key: "user_name" }),
      (answer) => `Hello, ${field(answer, "name")}!`
    )
})

/** `test_input_required_result_sampling`: asks the client's LLM a question. */
export const inputRequiredSampling = Tool.make("test_input_required_result_sampling", {
  description: "MRTR: returns InputRequiredResult with sampling request",
  input: NoArgs,
  handler: () =>
    Effect.map(
      RequestContext.ask("sampling/createMessage", sampleText("What is the capital of France?", 100), {
        key: "capital_question"
      }),
      (answer) => `Sampling result: ${sampledText(answer) ?? "no response"}`
    )
})

/** `test_input_required_result_list_roots`: asks for the client's roots. */
export const inputRequiredListRoots = Tool.make("test_input_required_result_list_roots", {
  description: "MRTR: returns InputRequiredResult with roots/list request",
  input: NoArgs,
  handler: () =>
    Effect.map(RequestContext.ask("roots/list", {}, { key: "client_roots" }), (answer) => {
      const roots = Array.isArray(answer.roots) ? answer.roots : []
      return `Found ${roots.length} root(s)`
    })
})

/**
 * `test_input_required_result_request_state`: one confirmation. The `requestState` is the server's signed
 * state (the answers so far); a replay with it validated completes.
 */
export const inputRequiredRequestState = Tool.make("test_input_required_result_request_state", {
  description: "MRTR: returns InputRequiredResult with requestState",
  input: NoArgs,
  handler: () =>
    Effect.map(
      RequestContext.ask("elicitation/create", elicitForm("Please confirm", { ok: { type: "boolean" } }, ["ok"]), {
        key: "confirm"
      }),
      (answer) =>
        isRecord(answer.content) && answer.content.ok === true
          ? "state-ok: requestState validated"
          : "state-ok: requestState validated (not confirmed)"
    )
})

/** `test_input_required_result_multiple_inputs`: a name (elicitation), a greeting (sampling) and the roots. */
export const inputRequiredMultipleInputs = Tool.make("test_input_required_result_multiple_inputs", {
  description: "MRTR: returns InputRequiredResult with multiple input requests",
  input: NoArgs,
  handler: () =>
    Effect.map(
      // all three in one input_required round
      RequestContext.askAll({
        user_name: { method: "elicitation/create", params: askName("What is your name?") },
        greeting: { method: "sampling/createMessage", params: sampleText("Generate a greeting", 50) },
        client_roots: { method: "roots/list" }
      }),
      ({ client_roots, greeting, user_name }) => {
        const count = Array.isArray(client_roots!.roots) ? client_roots!.roots.length : 0
        return `Name: ${field(user_name!, "name")}; Greeting: ${sampledText(greeting!) ?? "Hello there!"}; Roots: ${count}`
      }
    )
})

/** `test_input_required_result_multi_round`: two rounds (name, then favourite colour), state growing each round. */
export const inputRequiredMultiRound = Tool.make("test_input_required_result_multi_round", {
  description: "MRTR: multi-round InputRequiredResult workflow",
  input: NoArgs,
  handler: () =>
    Effect.gen(function*() {
      const step1 = yield* RequestContext.ask("elicitation/create", askName("Step 1: What is your name?"), { key: "step1" })
      const step2 = yield* RequestContext.ask(
        "elicitation/create",
        elicitForm("Step 2: What is your favorite color?", { color: { type: "string" } }, ["color"]),
        { key: "step2" }
      )
      return `Multi-round complete for ${field(step1, "name", "friend")} who likes ${field(step2, "color")}`
    })
})

/** `test_input_required_result_tampered_state`: the server signs `requestState`; an altered one is -32602. */
export const inputRequiredTamperedState = Tool.make("test_input_required_result_tampered_state", {
  description: "MRTR: HMAC-signed requestState integrity test",
  input: NoArgs,
  handler: () =>
    Effect.as(
      RequestContext.ask("elicitation/create", elicitForm("Please confirm", { ok: { type: "boolean" } }, ["ok"]), {
        key: "confirm"
      }),
      "integrity-ok: state verified"
    )
})

/** `test_input_required_result_capabilities`: asks only for what the request's client capabilities allow. */
export const inputRequiredCapabilities = Tool.make("test_input_required_result_capabilities", {
  description: "MRTR: respects client capabilities in inputRequests",
  input: NoArgs,
  handler: () =>
    Effect.gen(function*() {
      const ctx = yield* RequestContext.RequestContext
      // only what the request's capabilities allow, all in one round
      const requests: Record<string, RequestContext.AskRequest> = {
        ...(isRecord(ctx.clientCapabilities.elicitation)
          ? {
            elicit_input: {
              method: "elicitation/create",
              params: elicitForm("Elicitation input", { value: { type: "string" } }, ["value"])
            }
          }
          : {}),
        ...(isRecord(ctx.clientCapabilities.sampling)
          ? { sample_input: { method: "sampling/createMessage", params: sampleText("Sample request", 50) } }
          : {})
      }
      if (Object.keys(requests).length === 0) return "No supported capabilities declared"
      const answers = yield* ctx.askAll(requests)
      const received = [
        ...("elicit_input" in answers ? ["elicitation"] : []),
        ...("sample_input" in answers ? ["sampling"] : [])
      ]
      return `capabilities-ok: received ${received.join(",")}`
    })
})

// ---- tools: tasks extension (SEP-2663) and 2025-11-25 tasks -----------------------------------------------

/** `greet`: synchronous only. */
export const greet = Tool.make("greet", {
  description: "Greets by name (sync only; never a task)",
  input: Schema.Struct({ name: Schema.String.annotate({ description: "Who to greet" }) }),
  handler: ({ name }) => Effect.succeed(`Hello, ${name}!`)
})

/** `slow_compute`: may run as a task; sleeps `seconds` (interrupted, and so cancelled, by `tasks/cancel`). */
export const slowCompute = Tool.make("slow_compute", {
  description: "Sleeps for `seconds` seconds, then returns a result (runs as a task when the client supports tasks)",
  taskSupport: "optional",
  input: Schema.Struct({
    seconds: Schema.Finite.check(Schema.isBetween({ minimum: 0, maximum: 600 })).annotate({
      description: "How long to work, in seconds"
    }),
    label: Schema.optionalKey(Schema.String.annotate({ description: "A label echoed in the result" }))
  }),
  handler: ({ label, seconds }) =>
    Effect.as(Effect.sleep(`${Math.round(seconds * 1000)} millis`), `Computed ${label ?? "result"} after ${seconds}s`)
})

/** `failing_job`: must run as a task; reports a tool error (`isError`) after about a second. */
export const failingJob = Tool.make("failing_job", {
  description: "Fails with a tool execution error after about a second (task required)",
  taskSupport: "required",
  input: NoArgs,
  handler: () =>
    Effect.andThen(
      Effect.sleep("1 second"),
      Effect.fail(new Tool.ToolFailure({ message: "failing_job failed on purpose" }))
    )
})

/** `protocol_error_job`: may run as a task; fails with a protocol-level error (-32603). */
export const protocolErrorJob = Tool.make("protocol_error_job", {
  description: "Fails with a protocol-level (JSON-RPC) error (runs as a task when the client supports tasks)",
  taskSupport: "optional",
  input: NoArgs,
  handler: () =>
    Effect.andThen(
      Effect.sleep("200 millis"),
      Effect.fail(new McpServer.McpError({ code: ErrorCode.InternalError, message: "protocol_error_job failed on purpose" }))
    )
})

/** `confirm_delete`: may run as a task; asks for a confirmation (the task parks in `input_required`). */
export const confirmDelete = Tool.make("confirm_delete", {
  description: "Asks the user to confirm deleting a file (elicitation), then reports the decision",
  taskSupport: "optional",
  input: Schema.Struct({ filename: Schema.String.annotate({ description: "The file to delete" }) }),
  handler: ({ filename }) =>
    Effect.map(
      RequestContext.ask(
        "elicitation/create",
        elicitForm(`Delete ${filename}?`, { confirm: { type: "boolean", description: "Delete the file" } }, ["confirm"])
      ),
      (answer) =>
        answer.action === "accept" && isRecord(answer.content) && answer.content.confirm === true
          ? `Deleted ${filename}`
          : `Kept ${filename}`
    )
})

/** `multi_input`: may run as a task; needs two answers at once (a name and a confirmation). */
export const multiInput = Tool.make("multi_input", {
  description: "Asks two questions at once (two elicitations), then reports both answers",
  taskSupport: "optional",
  input: NoArgs,
  handler: () =>
    Effect.map(
      // both pending together: a task stays input_required until tasks/update has brought both answers
      RequestContext.askAll({
        name: { method: "elicitation/create", params: askName("What is your name?") },
        confirm: {
          method: "elicitation/create",
          params: elicitForm("Confirm?", { confirm: { type: "boolean" } }, ["confirm"])
        }
      }),
      ({ confirm, name }) => {
        const confirmed = isRecord(confirm!.content) && confirm!.content.confirm === true
        return `Got ${field(name!, "name")} (confirmed: ${confirmed})`
      }
    )
})

/**
 * `test_tool_with_task`: must run as a task. Under the 2026-07-28 tasks extension it first asks the user's name
 * in an `input_required` round of `tools/call` (`user_name`), then goes on as a task (`startTask`) that answers
 * with the name.
 */
export const toolWithTask = Tool.make("test_tool_with_task", {
  description: "Gathers the user's name (elicitation), then completes as a task (task required)",
  taskSupport: "required",
  taskStart: "handler",
  input: NoArgs,
  handler: () =>
    Effect.gen(function*() {
      const answer = yield* RequestContext.ask("elicitation/create", askName("What is your name?"), { key: "user_name" })
      yield* RequestContext.startTask
      return `Hello, ${field(answer, "name")}! This result came from a task.`
    })
})

// ---- resources --------------------------------------------------------------------------------------------

/** `test://static-text`. */
export const staticText = Resource.make("test://static-text", {
  name: "static-text",
  title: "Static Text Resource",
  description: "A static text resource for testing",
  mimeType: "text/plain",
  read: Effect.succeed("This is the content of the static text resource.")
})

/** `test://static-binary`: a PNG as a base64 blob. */
export const staticBinary = Resource.make("test://static-binary", {
  name: "static-binary",
  title: "Static Binary Resource",
  description: "A static binary resource (image) for testing",
  mimeType: "image/png",
  read: Effect.succeed([{ uri: "test://static-binary", mimeType: "image/png", blob: TEST_IMAGE_BASE64 }])
})

/** `test://watched-resource`: for subscribe/unsubscribe (`McpServer.resourceUpdated` notifies subscribers). */
export const watchedResource = Resource.make(WATCHED_URI, {
  name: "watched-resource",
  title: "Watched Resource",
  description: "A resource that auto-updates every 3 seconds",
  mimeType: "text/plain",
  read: Effect.succeed("Watched resource content")
})

/** `test://template/{id}/data`: substitutes `id` into a JSON document; `id` completes from a few values. */
export const template = Resource.template("test://template/{id}/data", {
  name: "template",
  title: "Resource Template",
  description: "A resource template with parameter substitution",
  mimeType: "application/json",
  read: (_uri, { id }) => Effect.succeed(JSON.stringify({ id, templateTest: true, data: `Data for ID: ${id}` })),
  complete: { id: byPrefix(["1", "2", "3", "123"]) }
})

// ---- prompts ----------------------------------------------------------------------------------------------

/** `test_simple_prompt`. */
export const simplePrompt = Prompt.make("test_simple_prompt", {
  title: "Simple Test Prompt",
  description: "A simple prompt without arguments",
  args: NoArgs,
  get: () => Effect.succeed("This is a simple prompt for testing.")
})

/** `test_prompt_with_arguments`: `arg1`, `arg2` (required), both completed. */
export const promptWithArguments = Prompt.make("test_prompt_with_arguments", {
  title: "Prompt With Arguments",
  description: "A prompt with required arguments",
  args: Schema.Struct({
    arg1: Schema.String.annotate({ description: "First test argument" }),
    arg2: Schema.String.annotate({ description: "Second test argument" })
  }),
  get: ({ arg1, arg2 }) => Effect.succeed(`Prompt with arguments: arg1='${arg1}', arg2='${arg2}'`),
  complete: {
    arg1: byPrefix(["paris", "park", "party", "testValue1"]),
    arg2: byPrefix(["hello", "world", "testValue2"])
  }
})

/** `test_prompt_with_embedded_resource`: embeds a text resource at `resourceUri`. */
export const promptWithEmbeddedResource = Prompt.make("test_prompt_with_embedded_resource", {
  title: "Prompt With Embedded Resource",
  description: "A prompt that includes an embedded resource",
  args: Schema.Struct({ resourceUri: Schema.String.annotate({ description: "URI of the resource to embed" }) }),
  get: ({ resourceUri }) =>
    Effect.succeed([
      { role: "user", content: Content.embeddedText(resourceUri, "Embedded resource content for testing.", "text/plain") },
      { role: "user", content: Content.text("Please process the embedded resource above.") }
    ] as const),
  complete: { resourceUri: byPrefix(["test://static-text", "test://static-binary", WATCHED_URI]) }
})

/** `test_prompt_with_image`. */
export const promptWithImage = Prompt.make("test_prompt_with_image", {
  title: "Prompt With Image",
  description: "A prompt that includes image content",
  args: NoArgs,
  get: () =>
    Effect.succeed([
      { role: "user", content: Content.image(TEST_IMAGE_BASE64, "image/png") },
      { role: "user", content: Content.text("Please analyze the image above.") }
    ] as const)
})

/** `test_input_required_result_prompt` (SEP-2322 on `prompts/get`): asks for the context to use. */
export const inputRequiredPrompt = Prompt.make("test_input_required_result_prompt", {
  description: "MRTR: prompt that requires elicitation input",
  args: NoArgs,
  get: () =>
    Effect.map(
      RequestContext.ask(
        "elicitation/create",
        elicitForm("What context should the prompt use?", { context: { type: "string" } }, ["context"]),
        { key: "user_context" }
      ),
      (answer) => `Prompt with context: ${field(answer, "context")}`
    )
})

// ---- list mutation hooks ----------------------------------------------------------------------------------

/** `test_dynamic_tool`: replaced (with a new revision in its description) by `test_trigger_tool_change`. */
const dynamicTool = (revision: number) =>
  Tool.make("test_dynamic_tool", {
    description: `A tool whose definition changes when test_trigger_tool_change is called (revision ${revision})`,
    input: NoArgs,
    handler: () => Effect.succeed(`Dynamic tool, revision ${revision}`)
  })

/** `test_trigger_tool_change`: changes the tool list, so list_changed goes to those listening for it. */
const triggerToolChange = (server: McpServer.McpServer<never>) => {
  let revision = 0
  return Tool.make("test_trigger_tool_change", {
    description: "Changes the tool list (replaces test_dynamic_tool), notifying tools/list_changed",
    input: NoArgs,
    handler: () =>
      Effect.as(Effect.suspend(() => server.addTool(dynamicTool(++revision))), "Mutation triggered")
  })
}

/** `test_dynamic_prompt`: replaced (with a new revision in its description) by `test_trigger_prompt_change`. */
const dynamicPrompt = (revision: number) =>
  Prompt.make("test_dynamic_prompt", {
    description: `A prompt whose definition changes when test_trigger_prompt_change is called (revision ${revision})`,
    args: NoArgs,
    get: () => Effect.succeed(`Dynamic prompt, revision ${revision}`)
  })

/** `test_trigger_prompt_change`: changes the prompt list, so list_changed goes to those listening for it. */
const triggerPromptChange = (server: McpServer.McpServer<never>) => {
  let revision = 0
  return Tool.make("test_trigger_prompt_change", {
    description: "Changes the prompt list (replaces test_dynamic_prompt), notifying prompts/list_changed",
    input: NoArgs,
    handler: () => Effect.as(Effect.suspend(() => server.addPrompt(dynamicPrompt(++revision))), "Mutation triggered")
  })
}

// ---- the server -------------------------------------------------------------------------------------------

/** Every tool registered at `make`, in listing order (the list-change hooks are added after). */
export const tools: ReadonlyArray<Tool.Tool> = [
  simpleText,
  imageContent,
  audioContent,
  embeddedResource,
  multipleContentTypes,
  toolWithLogging,
  toolWithProgress,
  errorHandling,
  reconnection,
  sampling,
  elicitation,
  elicitationDefaults,
  elicitationEnums,
  jsonSchema2020_12,
  headerParam,
  missingCapability,
  inputRequiredElicitation,
  inputRequiredSampling,
  inputRequiredListRoots,
  inputRequiredRequestState,
  inputRequiredMultipleInputs,
  inputRequiredMultiRound,
  inputRequiredTamperedState,
  inputRequiredCapabilities,
  streamingElicitation,
  loggingTool,
  greet,
  slowCompute,
  failingJob,
  protocolErrorJob,
  confirmDelete,
  multiInput,
  toolWithTask,
  dynamicTool(0)
]

/** The names `tools/list` answers with, in order. */
export const toolNames: ReadonlyArray<string> = [
  ...tools.map((t) => t.name),
  "test_trigger_tool_change",
  "test_trigger_prompt_change"
]

/** The conformance server. */
export const make: Effect.Effect<McpServer.McpServer<never>, McpServer.InvalidDefinition> = Effect.gen(function*() {
  const server = yield* McpServer.make({
    info,
    tools,
    resources: [staticText, staticBinary, watchedResource],
    resourceTemplates: [template],
    prompts: [simplePrompt, promptWithArguments, promptWithEmbeddedResource, promptWithImage, inputRequiredPrompt],
    cache
  })
  // the hook needs the server it mutates; nobody is connected yet, so the list_changed these send reaches no one
  yield* server.addTool(triggerToolChange(server))
  yield* server.addTool(triggerPromptChange(server))
  return server
})
