import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { MemoryTransport, Protocol } from "@effect-mcp/core"
import { ErrorCode, JsonRpcCodec } from "@effect-mcp/jsonrpc"
import * as McpServer from "../src/McpServer.ts"
import * as RequestContext from "../src/RequestContext.ts"
import * as Tool from "../src/Tool.ts"

const meta = (capabilities: Record<string, unknown> = { elicitation: {}, sampling: {}, roots: {} }) => ({
  "io.modelcontextprotocol/protocolVersion": "2026-07-28",
  "io.modelcontextprotocol/clientCapabilities": capabilities,
  "io.modelcontextprotocol/clientInfo": { name: "test", version: "1" }
})

const nameForm = { message: "Name?", requestedSchema: { type: "object", properties: { name: { type: "string" } } } }

/** Asks for a name under a chosen key. */
const named = Tool.make("named", {
  input: Schema.Struct({}),
  handler: () =>
    Effect.map(
      RequestContext.ask("elicitation/create", nameForm, { key: "user_name" }),
      (answer) => `Hello, ${(answer.content as { name: string }).name}!`
    )
})

/** Asks three things at once. */
const survey = Tool.make("survey", {
  input: Schema.Struct({}),
  handler: () =>
    Effect.map(
      RequestContext.askAll({
        user_name: { method: "elicitation/create", params: nameForm },
        greeting: { method: "sampling/createMessage", params: { messages: [], maxTokens: 5 } },
        client_roots: { method: "roots/list" }
      }),
      (answers) =>
        `${(answers.user_name!.content as { name: string }).name}, ${(answers.greeting!.content as { text: string }).text}, ${
          (answers.client_roots!.roots as Array<unknown>).length
        } root(s)`
    )
})

const setup = (options: Partial<McpServer.Options<never>> = {}) =>
  Effect.gen(function*() {
    const server = yield* McpServer.make({ info: { name: "mrtr", version: "1" }, tools: [named, survey], ...options })
    const [a, b] = yield* MemoryTransport.makePair()
    yield* Effect.forkScoped(server.serve(a))
    // the client answers server-to-client requests (stateful era)
    const client = yield* Protocol.make(b, {
      handler: (method) =>
        method === "elicitation/create"
          ? () => Effect.succeed({ action: "accept", content: { name: "Ada" } })
          : method === "sampling/createMessage"
          ? () => Effect.succeed({ role: "assistant", content: { type: "text", text: "hi" }, model: "m" })
          : method === "roots/list"
          ? () => Effect.succeed({ roots: [{ uri: "file:///a" }, { uri: "file:///b" }] })
          : undefined
    })
    return { server, client }
  }).pipe(Effect.provide(JsonRpcCodec.JsonRpcCodec.layer))

const answers = {
  user_name: { action: "accept", content: { name: "Ada" } },
  greeting: { role: "assistant", content: { type: "text", text: "hi" }, model: "m" },
  client_roots: { roots: [{ uri: "file:///a" }] }
}

describe("input requests (2026-07-28 MRTR)", () => {
  it.effect("ask names its input request with the key given", () =>
    Effect.gen(function*() {
      const { client } = yield* setup()
      const first = (yield* client.request("tools/call", { name: "named", arguments: {}, _meta: meta() })) as any
      expect(first).toMatchObject({
        resultType: "input_required",
        inputRequests: { user_name: { method: "elicitation/create", params: nameForm } }
      })
      expect(Object.keys(first.inputRequests)).toEqual(["user_name"])
      const second = yield* client.request("tools/call", {
        name: "named",
        arguments: {},
        inputResponses: { user_name: answers.user_name },
        requestState: first.requestState,
        _meta: meta()
      })
      expect(second).toMatchObject({ resultType: "complete", content: [{ type: "text", text: "Hello, Ada!" }] })
    }))

  it.effect("askAll asks every missing answer in one round, and only the missing ones", () =>
    Effect.gen(function*() {
      const { client } = yield* setup()
      const first = (yield* client.request("tools/call", { name: "survey", arguments: {}, _meta: meta() })) as any
      expect(first.resultType).toBe("input_required")
      expect(first.inputRequests).toEqual({
        user_name: { method: "elicitation/create", params: nameForm },
        greeting: { method: "sampling/createMessage", params: { messages: [], maxTokens: 5 } },
        client_roots: { method: "roots/list", params: {} }
      })
      expect(first.requestState).toBeTypeOf("string")
      // a partial answer: the next round asks for the rest, carrying the answer in requestState
      const second = (yield* client.request("tools/call", {
        name: "survey",
        arguments: {},
        inputResponses: { user_name: answers.user_name },
        requestState: first.requestState,
        _meta: meta()
      })) as any
      expect(second.resultType).toBe("input_required")
      expect(Object.keys(second.inputRequests).sort()).toEqual(["client_roots", "greeting"])
      const third = yield* client.request("tools/call", {
        name: "survey",
        arguments: {},
        inputResponses: { greeting: answers.greeting, client_roots: answers.client_roots },
        requestState: second.requestState,
        _meta: meta()
      })
      expect(third).toMatchObject({ resultType: "complete", content: [{ text: "Ada, hi, 1 root(s)" }] })
    }))

  it.effect("askAll needs every capability it asks for: -32021 names all the missing ones", () =>
    Effect.gen(function*() {
      const { client } = yield* setup()
      const error = yield* Effect.flip(client.request("tools/call", { name: "survey", arguments: {}, _meta: meta({ elicitation: {} }) }))
      expect(error).toMatchObject({
        code: ErrorCode.MissingRequiredClientCapability,
        data: { requiredCapabilities: { sampling: {}, roots: {} } }
      })
    }))

  it.effect("in the stateful era askAll sends the requests to the client and gathers the answers", () =>
    Effect.gen(function*() {
      const { client } = yield* setup()
      yield* client.request("initialize", {
        protocolVersion: "2025-11-25",
        capabilities: { elicitation: {}, sampling: {}, roots: {} },
        clientInfo: { name: "c", version: "1" }
      })
      yield* client.notify("notifications/initialized")
      expect(yield* client.request("tools/call", { name: "survey", arguments: {} })).toEqual({
        content: [{ type: "text", text: "Ada, hi, 2 root(s)" }]
      })
      expect(yield* client.request("tools/call", { name: "named", arguments: {} })).toEqual({
        content: [{ type: "text", text: "Hello, Ada!" }]
      })
    }))

  it.effect("input rounds neither trip the circuit breaker nor pin an idempotent outcome", () =>
    Effect.gen(function*() {
      const { client } = yield* setup({ circuitBreaker: { failures: 1, openDuration: "1 hour" } })
      const keyed = { ...meta(), "io.effect-mcp/idempotencyKey": "k-1" }
      for (let round = 0; round < 3; round++) {
        expect(yield* client.request("tools/call", { name: "named", arguments: {}, _meta: keyed })).toMatchObject({
          resultType: "input_required"
        })
      }
      const first = (yield* client.request("tools/call", { name: "named", arguments: {}, _meta: keyed })) as any
      expect(yield* client.request("tools/call", {
        name: "named",
        arguments: {},
        inputResponses: { user_name: answers.user_name },
        requestState: first.requestState,
        _meta: keyed
      })).toMatchObject({ resultType: "complete", content: [{ text: "Hello, Ada!" }] })
    }))

  it.effect("a stateless-era connection needs the protocol version in every request's _meta (-32602)", () =>
    Effect.gen(function*() {
      const { client } = yield* setup()
      yield* client.request("tools/list", { _meta: meta() })
      expect(yield* Effect.flip(client.request("tools/list"))).toMatchObject({ code: ErrorCode.InvalidParams })
      const { "io.modelcontextprotocol/protocolVersion": _version, ...noVersion } = meta()
      expect(yield* Effect.flip(client.request("tools/list", { _meta: noVersion }))).toMatchObject({ code: ErrorCode.InvalidParams })
      const { "io.modelcontextprotocol/clientCapabilities": _capabilities, ...noCapabilities } = meta()
      expect(yield* Effect.flip(client.request("tools/list", { _meta: noCapabilities }))).toMatchObject({
        code: ErrorCode.InvalidParams
      })
    }))
})
