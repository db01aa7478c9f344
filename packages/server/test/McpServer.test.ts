import { describe, expect, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Queue from "effect/Queue"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/testing/TestClock"
import { MemoryTransport, Protocol } from "@effect-mcp/core"
import { ErrorCode, JsonRpcCodec } from "@effect-mcp/jsonrpc"
import * as McpServer from "../src/McpServer.ts"
import * as Prompt from "../src/Prompt.ts"
import { RequestContext } from "../src/RequestContext.ts"
import * as Resource from "../src/Resource.ts"
import * as Tool from "../src/Tool.ts"

const echo = Tool.make("echo", {
  description: "Echoes a message",
  input: Schema.Struct({ message: Schema.String }),
  handler: ({ message }) => Effect.succeed(message)
})

const slow = Tool.make("slow", {
  input: Schema.Struct({}),
  timeout: "2 seconds",
  handler: () => Effect.as(Effect.sleep("1 hour"), "never")
})

const logs = Tool.make("logs", {
  input: Schema.Struct({}),
  handler: () =>
    Effect.gen(function*() {
      const ctx = yield* RequestContext
      yield* ctx.log("info", { step: 1 })
      yield* ctx.log("debug", "hidden below the threshold")
      yield* ctx.progress(1, 2, "half")
      return "logged"
    })
})

const broken = Tool.make("broken", {
  input: Schema.Struct({}),
  handler: () => Effect.die(new Error("SECRET internal state"))
})

const visible = Tool.make("visible", {
  input: Schema.Struct({}),
  handler: () => Effect.fail(new Tool.ToolFailure({ message: "the file does not exist" }))
})

const readme = Resource.make("docs://readme", { name: "readme", mimeType: "text/markdown", read: Effect.succeed("# Hello") })
const notes = Resource.template("notes://{id}", {
  name: "note",
  read: (_uri, { id }) => Effect.succeed(`note ${id}`),
  complete: { id: (value) => Effect.succeed(["alpha", "beta", "gamma"].filter((v) => v.startsWith(value))) }
})
const greet = Prompt.make("greet", {
  args: Schema.Struct({ name: Schema.String }),
  get: ({ name }) => Effect.succeed(`Hello ${name}`),
  complete: { name: (value) => Effect.succeed(["Ada", "Alan"].filter((v) => v.startsWith(value))) }
})

const meta2026 = {
  "io.modelcontextprotocol/protocolVersion": "2026-07-28",
  "io.modelcontextprotocol/clientCapabilities": {},
  "io.modelcontextprotocol/clientInfo": { name: "test", version: "1" }
}

/** A server on one end of an in-memory connection and a raw engine (the client) on the other. */
const connect = (options: Partial<McpServer.Options<never>> = {}) =>
  Effect.gen(function*() {
    const server = yield* McpServer.make({
      info: { name: "test-server", version: "1.0.0" },
      tools: [echo, slow, logs, broken, visible],
      resources: [readme],
      resourceTemplates: [notes],
      prompts: [greet],
      ...options
    })
    const [a, b] = yield* MemoryTransport.makePair()
    yield* Effect.forkScoped(server.serve(a))
    const notifications = yield* Queue.unbounded<{ method: string; params: unknown }>()
    const client = yield* Protocol.make(b, {
      handler: () => undefined,
      onNotification: (n) => Effect.asVoid(Queue.offer(notifications, { method: n.method, params: n.params }))
    })
    return { server, client, notifications }
  }).pipe(Effect.provide(JsonRpcCodec.JsonRpcCodec.layer))

const initialize = (client: Protocol.Protocol, protocolVersion = "2025-11-25") =>
  Effect.gen(function*() {
    const result = yield* client.request("initialize", {
      protocolVersion,
      capabilities: {},
      clientInfo: { name: "test", version: "1" }
    })
    yield* client.notify("notifications/initialized")
    return result as Record<string, unknown>
  })

describe("McpServer, stateful era", () => {
  it.effect("negotiates the version at initialize and refuses requests before it", () =>
    Effect.gen(function*() {
      const { client } = yield* connect({ instructions: "Be nice" })
      expect(yield* client.request("ping")).toEqual({})
      expect(yield* Effect.flip(client.request("tools/list"))).toMatchObject({ code: ErrorCode.InvalidRequest })
      const result = yield* initialize(client, "2025-06-18")
      expect(result).toMatchObject({
        protocolVersion: "2025-06-18",
        serverInfo: { name: "test-server", version: "1.0.0" },
        instructions: "Be nice",
        capabilities: { tools: { listChanged: true }, resources: { subscribe: true }, prompts: {}, logging: {}, completions: {} }
      })
      const other = yield* connect()
      expect(yield* initialize(other.client, "1999-01-01")).toMatchObject({ protocolVersion: "2025-11-25" })
    }))

  it.effect("lists and calls tools; unknown tool is -32602; ToolFailure is an isError result", () =>
    Effect.gen(function*() {
      const { client } = yield* connect()
      yield* initialize(client)
      const list = (yield* client.request("tools/list")) as { tools: Array<Record<string, unknown>> }
      expect(list.tools.map((t) => t.name)).toEqual(["echo", "slow", "logs", "broken", "visible"])
      expect(list.tools[0]).toMatchObject({ inputSchema: { type: "object", required: ["message"] } })
      expect(yield* client.request("tools/call", { name: "echo", arguments: { message: "hi" } })).toEqual({
        content: [{ type: "text", text: "hi" }]
      })
      expect(yield* Effect.flip(client.request("tools/call", { name: "nope" }))).toMatchObject({ code: ErrorCode.InvalidParams })
      expect(yield* client.request("tools/call", { name: "visible", arguments: {} })).toEqual({
        content: [{ type: "text", text: "the file does not exist" }],
        isError: true
      })
      const died = yield* Effect.flip(client.request("tools/call", { name: "broken", arguments: {} }))
      expect(died).toMatchObject({ code: ErrorCode.InternalError, message: "Internal error" })
      expect(JSON.stringify(died)).not.toContain("SECRET")
      // the server is still serving
      expect(yield* client.request("tools/call", { name: "echo", arguments: { message: "still here" } })).toMatchObject({
        content: [{ text: "still here" }]
      })
    }))

  it.effect("bounds a tool's time (per tool) and answers with a timeout error", () =>
    Effect.gen(function*() {
      const { client } = yield* connect()
      yield* initialize(client)
      const call = yield* client.request("tools/call", { name: "slow", arguments: {} }).pipe(Effect.flip, Effect.forkChild)
      yield* TestClock.adjust("2 seconds")
      expect(yield* Fiber.join(call)).toMatchObject({ code: ErrorCode.RequestTimeout })
    }))

  it.effect("logging/setLevel filters log notifications; progress goes to the caller", () =>
    Effect.gen(function*() {
      const { client, notifications } = yield* connect()
      yield* initialize(client)
      yield* client.request("logging/setLevel", { level: "info" })
      expect(yield* Effect.flip(client.request("logging/setLevel", { level: "loud" }))).toMatchObject({ code: ErrorCode.InvalidParams })
      const progress: Array<unknown> = []
      yield* client.request("tools/call", { name: "logs", arguments: {} }, { onProgress: (p) => Effect.sync(() => progress.push(p)) })
      expect(yield* Queue.take(notifications)).toEqual({ method: "notifications/message", params: { level: "info", data: { step: 1 } } })
      expect(progress).toEqual([{ progress: 1, total: 2, message: "half" }])
    }))

  it.effect("paginates with opaque cursors; a bad cursor is -32602", () =>
    Effect.gen(function*() {
      const { client } = yield* connect({ pageSize: 2 })
      yield* initialize(client)
      const first = (yield* client.request("tools/list")) as { tools: Array<{ name: string }>; nextCursor: string }
      const second = (yield* client.request("tools/list", { cursor: first.nextCursor })) as typeof first
      const third = (yield* client.request("tools/list", { cursor: second.nextCursor })) as typeof first
      expect([...first.tools, ...second.tools, ...third.tools].map((t) => t.name)).toEqual(["echo", "slow", "logs", "broken", "visible"])
      expect(third.nextCursor).toBeUndefined()
      expect(yield* Effect.flip(client.request("tools/list", { cursor: "garbage" }))).toMatchObject({ code: ErrorCode.InvalidParams })
    }))

  it.effect("reads resources and templates; not found is -32002 before 2026-07-28", () =>
    Effect.gen(function*() {
      const { client } = yield* connect()
      yield* initialize(client)
      expect(yield* client.request("resources/read", { uri: "docs://readme" })).toEqual({
        contents: [{ uri: "docs://readme", mimeType: "text/markdown", text: "# Hello" }]
      })
      expect(yield* client.request("resources/read", { uri: "notes://42" })).toEqual({ contents: [{ uri: "notes://42", text: "note 42" }] })
      expect(yield* Effect.flip(client.request("resources/read", { uri: "nope://x" }))).toMatchObject({ code: -32002 })
      expect(yield* client.request("resources/templates/list")).toEqual({ resourceTemplates: [{ uriTemplate: "notes://{id}", name: "note" }] })
    }))

  it.effect("prompts and completion", () =>
    Effect.gen(function*() {
      const { client } = yield* connect()
      yield* initialize(client)
      expect(yield* client.request("prompts/get", { name: "greet", arguments: { name: "Ada" } })).toEqual({
        messages: [{ role: "user", content: { type: "text", text: "Hello Ada" } }]
      })
      expect(yield* Effect.flip(client.request("prompts/get", { name: "greet", arguments: {} }))).toMatchObject({ code: ErrorCode.InvalidParams })
      expect(yield* client.request("completion/complete", { ref: { type: "ref/prompt", name: "greet" }, argument: { name: "name", value: "A" } }))
        .toEqual({ completion: { values: ["Ada", "Alan"], total: 2, hasMore: false } })
      expect(yield* client.request("completion/complete", { ref: { type: "ref/resource", uri: "notes://{id}" }, argument: { name: "id", value: "b" } }))
        .toEqual({ completion: { values: ["beta"], total: 1, hasMore: false } })
    }))

  it.effect("list_changed and resource updates reach initialized clients", () =>
    Effect.gen(function*() {
      const { client, server, notifications } = yield* connect()
      yield* initialize(client)
      yield* client.request("resources/subscribe", { uri: "docs://readme" })
      yield* server.addTool(Tool.make("extra", { input: Schema.Struct({}), handler: () => Effect.succeed("x") }))
      expect(yield* Queue.take(notifications)).toEqual({ method: "notifications/tools/list_changed", params: undefined })
      yield* server.resourceUpdated("docs://other")
      yield* server.resourceUpdated("docs://readme")
      expect(yield* Queue.take(notifications)).toEqual({ method: "notifications/resources/updated", params: { uri: "docs://readme" } })
      const invalid = yield* Effect.flip(server.addTool(Tool.make("bad name!", { input: Schema.Struct({}), handler: () => Effect.succeed("") })))
      expect(invalid).toMatchObject({ _tag: "InvalidDefinition", mode: "FM-47" })
    }))

  it.effect("refuses duplicate definitions", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(McpServer.make({ info: { name: "x", version: "1" }, tools: [echo, echo] }))
      expect(error).toMatchObject({ _tag: "InvalidDefinition", kind: "tool", name: "echo" })
    }))
})

describe("McpServer, 2026-07-28", () => {
  it.effect("serves without a handshake: discover, resultType, serverInfo, cache hints", () =>
    Effect.gen(function*() {
      const { client } = yield* connect({ cache: { ttlMs: 60_000, scope: "public" } })
      const discover = yield* client.request("server/discover", { _meta: meta2026 })
      expect(discover).toMatchObject({
        resultType: "complete",
        supportedVersions: ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28"],
        capabilities: { tools: {} },
        ttlMs: 60_000,
        cacheScope: "public",
        _meta: { "io.modelcontextprotocol/serverInfo": { name: "test-server" } }
      })
      const list = (yield* client.request("tools/list", { _meta: meta2026 })) as Record<string, unknown>
      expect(list).toMatchObject({ resultType: "complete", ttlMs: 60_000, cacheScope: "public" })
      expect(yield* client.request("tools/call", { name: "echo", arguments: { message: "hi" }, _meta: meta2026 })).toMatchObject({
        resultType: "complete",
        content: [{ type: "text", text: "hi" }]
      })
      expect(yield* Effect.flip(client.request("resources/read", { uri: "nope://x", _meta: meta2026 }))).toMatchObject({
        code: ErrorCode.InvalidParams
      })
    }))

  it.effect("unsupported versions get -32022 with the supported list; stateful-only methods do not exist", () =>
    Effect.gen(function*() {
      const { client } = yield* connect()
      const error = yield* Effect.flip(
        client.request("tools/list", { _meta: { ...meta2026, "io.modelcontextprotocol/protocolVersion": "1900-01-01" } })
      )
      expect(error).toMatchObject({ code: ErrorCode.UnsupportedProtocolVersion, data: { requested: "1900-01-01" } })
      expect(yield* Effect.flip(client.request("resources/subscribe", { uri: "docs://readme", _meta: meta2026 }))).toMatchObject({
        code: ErrorCode.MethodNotFound
      })
    }))

  it.effect("per-request log level in _meta", () =>
    Effect.gen(function*() {
      const { client, notifications } = yield* connect()
      yield* client.request("tools/call", {
        name: "logs",
        arguments: {},
        _meta: { ...meta2026, "io.modelcontextprotocol/logLevel": "info" }
      })
      expect(yield* Queue.take(notifications)).toMatchObject({ method: "notifications/message", params: { level: "info" } })
    }))

  it.effect("a 2026-07-28-only server refuses initialize with -32022", () =>
    Effect.gen(function*() {
      const { client } = yield* connect({ revisions: ["2026-07-28"] })
      expect(yield* Effect.flip(initialize(client))).toMatchObject({ code: ErrorCode.UnsupportedProtocolVersion })
      yield* Deferred.make<void>()
    }))
})

describe("McpServer, changing definitions", () => {
  it.effect("prompts, resources and templates can be added and removed; clients hear list_changed", () =>
    Effect.gen(function*() {
      const { client, server, notifications } = yield* connect()
      yield* initialize(client)
      // a round trip: the server has seen notifications/initialized before anything changes
      yield* client.request("ping")
      const names = Effect.map(client.request("prompts/list"), (r: any) => r.prompts.map((p: any) => p.name))
      const farewell = Prompt.make("farewell", { args: Schema.Struct({}), get: () => Effect.succeed("Bye") })
      yield* server.addPrompt(farewell)
      expect(yield* Queue.take(notifications)).toEqual({ method: "notifications/prompts/list_changed", params: undefined })
      expect(yield* names).toEqual(["greet", "farewell"])
      expect(yield* client.request("prompts/get", { name: "farewell" })).toMatchObject({ messages: [{ content: { text: "Bye" } }] })
      yield* server.removePrompt("farewell")
      expect(yield* Queue.take(notifications)).toEqual({ method: "notifications/prompts/list_changed", params: undefined })
      expect(yield* names).toEqual(["greet"])
      // removing what is not there changes nothing and says nothing
      yield* server.removePrompt("farewell")

      yield* server.addResource(Resource.make("docs://changelog", { name: "changelog", read: Effect.succeed("v2") }))
      expect(yield* Queue.take(notifications)).toEqual({ method: "notifications/resources/list_changed", params: undefined })
      expect(yield* client.request("resources/read", { uri: "docs://changelog" })).toMatchObject({ contents: [{ text: "v2" }] })
      yield* server.removeResource("docs://changelog")
      expect(yield* Queue.take(notifications)).toEqual({ method: "notifications/resources/list_changed", params: undefined })
      expect(yield* Effect.flip(client.request("resources/read", { uri: "docs://changelog" }))).toMatchObject({ code: -32002 })

      yield* server.addResourceTemplate(Resource.template("tags://{tag}", { name: "tag", read: (_uri, { tag }) => Effect.succeed(`#${tag}`) }))
      expect(yield* Queue.take(notifications)).toEqual({ method: "notifications/resources/list_changed", params: undefined })
      expect(yield* client.request("resources/read", { uri: "tags://x" })).toMatchObject({ contents: [{ text: "#x" }] })
      yield* server.removeResourceTemplate("tags://{tag}")
      expect(yield* Queue.take(notifications)).toEqual({ method: "notifications/resources/list_changed", params: undefined })
      expect(yield* client.request("resources/templates/list")).toEqual({ resourceTemplates: [{ uriTemplate: "notes://{id}", name: "note" }] })
      expect(yield* Queue.size(notifications)).toBe(0)
    }))

  it.effect("a 2026-07-28 listener asking for prompt list changes hears them", () =>
    Effect.gen(function*() {
      const { client, server, notifications } = yield* connect()
      yield* Effect.forkScoped(client.request("subscriptions/listen", { notifications: { promptsListChanged: true }, _meta: meta2026 }, { timeout: "1 hour" }))
      expect(yield* Queue.take(notifications)).toMatchObject({
        method: "notifications/subscriptions/acknowledged",
        params: { notifications: { promptsListChanged: true } }
      })
      yield* server.addPrompt(Prompt.make("farewell", { args: Schema.Struct({}), get: () => Effect.succeed("Bye") }))
      expect(yield* Queue.take(notifications)).toMatchObject({ method: "notifications/prompts/list_changed" })
    }))
})

describe("McpServer, 2026-07-28 cache hints per method", () => {
  it.effect("each cacheable method takes its hint, or the default", () =>
    Effect.gen(function*() {
      const { client } = yield* connect({
        cache: {
          default: { ttlMs: 1_000, scope: "private" },
          "tools/list": { ttlMs: 60_000, scope: "public" },
          "resources/read": { ttlMs: 5_000, scope: "private" }
        }
      })
      const hint = (method: string, params: Record<string, unknown> = {}) =>
        Effect.map(client.request(method, { ...params, _meta: meta2026 }), (r: any) => [r.ttlMs, r.cacheScope])
      expect(yield* hint("tools/list")).toEqual([60_000, "public"])
      expect(yield* hint("resources/read", { uri: "docs://readme" })).toEqual([5_000, "private"])
      expect(yield* hint("prompts/list")).toEqual([1_000, "private"])
      expect(yield* hint("server/discover")).toEqual([1_000, "private"])
      // results that are not cacheable carry no hint
      expect(yield* hint("tools/call", { name: "echo", arguments: { message: "x" } })).toEqual([undefined, undefined])
    }))

  it.effect("without any setting, hints say: do not reuse", () =>
    Effect.gen(function*() {
      const { client } = yield* connect()
      expect(yield* client.request("tools/list", { _meta: meta2026 })).toMatchObject({ ttlMs: 0, cacheScope: "private" })
    }))
})

describe("McpServer, raw JSON Schema input", () => {
  it.effect("tools/list shows inputJsonSchema as is; arguments are still decoded with input", () =>
    Effect.gen(function*() {
      const inputJsonSchema = {
        type: "object",
        properties: { region: { type: "string", "x-mcp-header": "Region" } },
        if: { required: ["region"] },
        then: { properties: { region: { minLength: 2 } } },
        additionalProperties: false
      } as const
      const where = Tool.make("where", {
        inputJsonSchema,
        input: Schema.Struct({ region: Schema.String }),
        handler: ({ region }) => Effect.succeed(`in ${region}`)
      })
      const { client } = yield* connect({ tools: [where] })
      yield* initialize(client)
      const list = (yield* client.request("tools/list")) as { tools: Array<Record<string, unknown>> }
      expect(list.tools[0]!.inputSchema).toEqual(inputJsonSchema)
      expect(yield* client.request("tools/call", { name: "where", arguments: { region: "eu" } })).toEqual({
        content: [{ type: "text", text: "in eu" }]
      })
      expect(yield* client.request("tools/call", { name: "where", arguments: { region: 1 } })).toMatchObject({ isError: true })
    }))
})
