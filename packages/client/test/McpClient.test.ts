import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Schema from "effect/Schema"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/testing/TestClock"
import { MemoryTransport, Protocol } from "@effect-mcp/core"
import { type JsonRpc, JsonRpcCodec } from "@effect-mcp/jsonrpc"
import { McpServer, RequestContext, Resource, Tool } from "@effect-mcp/server"
import type { Revision } from "@effect-mcp/schema"
import * as McpClient from "../src/McpClient.ts"

const tools = [
  Tool.make("echo", { input: Schema.Struct({ message: Schema.String }), handler: ({ message }) => Effect.succeed(message) }),
  Tool.make("slow", {
    input: Schema.Struct({}),
    handler: () =>
      Effect.gen(function*() {
        const ctx = yield* RequestContext.RequestContext
        for (let i = 0; i < 5; i++) {
          yield* Effect.sleep("50 seconds")
          yield* ctx.progress(i)
        }
        return "done after 250 s of progress"
      })
  }),
  ...Array.from({ length: 7 }, (_, i) => Tool.make(`t${i}`, { input: Schema.Struct({}), handler: () => Effect.succeed(`${i}`) }))
]

const setup = (serverRevisions?: ReadonlyArray<Revision.Revision>, clientRevisions?: ReadonlyArray<Revision.Revision>) =>
  Effect.gen(function*() {
    const server = yield* McpServer.make({
      info: { name: "srv", version: "1" },
      tools,
      pageSize: 3,
      ...(serverRevisions === undefined ? {} : { revisions: serverRevisions })
    })
    const [a, b] = yield* MemoryTransport.makePair()
    yield* Effect.forkScoped(server.serve(a))
    return yield* McpClient.connect(b, {
      info: { name: "client", version: "1" },
      ...(clientRevisions === undefined ? {} : { revisions: clientRevisions })
    })
  }).pipe(Effect.provide(JsonRpcCodec.JsonRpcCodec.layer))

describe("McpClient", () => {
  it.effect("prefers 2026-07-28 with server/discover", () =>
    Effect.gen(function*() {
      const client = yield* setup()
      expect(client.server).toMatchObject({ revision: "2026-07-28", era: "stateless", serverInfo: { name: "srv" } })
      expect(client.server.supportedVersions).toContain("2025-11-25")
      expect(yield* client.callTool("echo", { message: "hi" })).toMatchObject({ resultType: "complete", content: [{ text: "hi" }] })
    }))

  it.effect("falls back to initialize for a server that only knows the stateful era", () =>
    Effect.gen(function*() {
      const client = yield* setup(["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"])
      expect(client.server).toMatchObject({ revision: "2025-11-25", era: "stateful", serverInfo: { name: "srv" } })
      expect(yield* client.callTool("echo", { message: "old" })).toEqual({ content: [{ type: "text", text: "old" }] })
      yield* client.ping
    }))

  it.effect("a stateful-only client initializes against a dual-era server", () =>
    Effect.gen(function*() {
      const client = yield* setup(undefined, ["2025-03-26"])
      expect(client.server).toMatchObject({ revision: "2025-03-26", era: "stateful" })
    }))

  it.effect("fails with UnsupportedRevision when nothing is shared", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(setup(["2026-07-28"], ["2025-06-18"]))
      expect(error).toMatchObject({ _tag: "UnsupportedRevision", mode: "FM-47" })
    }))

  it.effect("pagination helpers follow nextCursor", () =>
    Effect.gen(function*() {
      const client = yield* setup()
      const all = yield* client.listAllTools
      expect(all.map((t) => t.name)).toEqual(["echo", "slow", "t0", "t1", "t2", "t3", "t4", "t5", "t6"])
      const first = yield* client.listTools()
      expect(first.nextCursor).toBeTypeOf("string")
    }))

  it.effect("the call timeout resets on progress even when the caller does not watch progress", () =>
    Effect.gen(function*() {
      const client = yield* setup()
      const call = yield* Effect.forkChild(client.callTool("slow"))
      for (let i = 0; i < 5; i++) yield* TestClock.adjust("50 seconds")
      expect(yield* Fiber.join(call)).toMatchObject({ content: [{ text: "done after 250 s of progress" }] })
    }))

  it.effect("an MRTR input_required result is answered by the client's handlers and retried", () =>
    Effect.gen(function*() {
      // a hand-written 2026-07-28 server that asks for an elicitation, then checks the answer and its state
      const [a, b] = yield* MemoryTransport.makePair()
      const rounds: Array<unknown> = []
      yield* Protocol.make(a, {
        handler: (method) => (request) => {
          if (method === "server/discover") {
            return Effect.succeed({ resultType: "complete", supportedVersions: ["2026-07-28"], capabilities: {}, ttlMs: 0, cacheScope: "private" })
          }
          rounds.push(request.params)
          const responses = request.params?.inputResponses as Record<string, { content?: { name?: string } }> | undefined
          if (responses === undefined) {
            return Effect.succeed({
              resultType: "input_required",
              requestState: "state-1",
              inputRequests: {
                ask: { method: "elicitation/create", params: { mode: "form", message: "Name?", requestedSchema: { type: "object", properties: {} } } }
              }
            })
          }
          return Effect.succeed({
            resultType: "complete",
            content: [{ type: "text", text: `hello ${responses.ask?.content?.name} (${String(request.params?.requestState)})` }]
          })
        }
      })
      const client = yield* McpClient.connect(b, {
        info: { name: "c", version: "1" },
        handlers: { elicitation: () => Effect.succeed({ action: "accept", content: { name: "Ada" } }) }
      })
      expect(yield* client.callTool("greet")).toMatchObject({ content: [{ text: "hello Ada (state-1)" }] })
      expect(rounds).toHaveLength(2)
      expect(rounds[1]).toMatchObject({ name: "greet", requestState: "state-1", inputResponses: { ask: { action: "accept" } } })
    }).pipe(Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))

  it.effect("2026-07-28 subscriptions/listen: acknowledgment first, only what was asked for, tagged with the subscription id", () =>
    Effect.gen(function*() {
      const server = yield* McpServer.make({
        info: { name: "srv", version: "1" },
        tools,
        resources: [Resource.make("docs://a", { name: "a", read: Effect.succeed("A") })]
      })
      const [a, b] = yield* MemoryTransport.makePair()
      yield* Effect.forkScoped(server.serve(a))
      const client = yield* McpClient.connect(b, { info: { name: "c", version: "1" } })
      expect(client.server.era).toBe("stateless")
      const received = yield* Effect.scoped(Effect.gen(function*() {
        const stream = yield* client.listen({ toolsListChanged: true, promptsListChanged: true, resourceSubscriptions: ["docs://a"] })
        const inbox = yield* Queue.unbounded<JsonRpc.Notification>()
        yield* stream.pipe(Stream.runForEach((n) => Queue.offer(inbox, n)), Effect.forkScoped)
        // the acknowledgment arrives before anything else on this subscription
        const ack = yield* Queue.take(inbox)
        yield* server.resourceUpdated("docs://other")
        yield* server.resourceUpdated("docs://a")
        yield* server.removeTool("t1")
        const collected = Effect.all([Effect.succeed(ack), Queue.take(inbox), Queue.take(inbox)])
        return yield* collected
      }))
      expect(received.map((n) => n.method)).toEqual([
        "notifications/subscriptions/acknowledged",
        "notifications/resources/updated",
        "notifications/tools/list_changed"
      ])
      // prompts were asked for but the server has none: not honoured
      expect(received[0]!.params).toMatchObject({ notifications: { toolsListChanged: true, resourceSubscriptions: ["docs://a"] } })
      expect((received[0]!.params as { notifications: object }).notifications).not.toHaveProperty("promptsListChanged")
      const ids = received.map((n) => ((n.params as { _meta: Record<string, unknown> })._meta)["io.modelcontextprotocol/subscriptionId"])
      expect(new Set(ids).size).toBe(1)
      // closing the scope cancelled the subscription: the server is serving no handler any more
      expect(yield* client.callTool("echo", { message: "after" })).toMatchObject({ content: [{ text: "after" }] })
    }).pipe(Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))

  it.effect("2025-11-25 tasks: call as a task, poll, await the result", () =>
    Effect.gen(function*() {
      const server = yield* McpServer.make({
        info: { name: "srv", version: "1" },
        tools: [Tool.make("job", { taskSupport: "optional", input: Schema.Struct({}), handler: () => Effect.as(Effect.sleep("10 seconds"), "job done") })]
      })
      const [a, b] = yield* MemoryTransport.makePair()
      yield* Effect.forkScoped(server.serve(a))
      const client = yield* McpClient.connect(b, { info: { name: "c", version: "1" }, revisions: ["2025-11-25"] })
      const created = (yield* client.callToolAsTask("job", {}, { ttl: 60_000 })) as { task: { taskId: string } }
      expect(yield* client.getTask(created.task.taskId)).toMatchObject({ status: "working" })
      const result = yield* Effect.forkChild(client.taskResult(created.task.taskId))
      yield* TestClock.adjust("10 seconds")
      expect(yield* Fiber.join(result)).toMatchObject({ content: [{ text: "job done" }] })
      expect(yield* client.listTasks()).toMatchObject({ tasks: [{ status: "completed" }] })
    }).pipe(Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))

  it.effect("FM-50 a malformed result is a typed InvalidResponse, validated with the negotiated revision's schema", () =>
    Effect.gen(function*() {
      const [a, b] = yield* MemoryTransport.makePair()
      yield* Protocol.make(a, {
        handler: (method) => () => {
          switch (method) {
            case "initialize":
              return Effect.succeed({ protocolVersion: "2025-06-18", capabilities: { tools: {} }, serverInfo: { name: "bad", version: "1" } })
            case "tools/list":
              return Effect.succeed({ tools: { not: "an array" } })
            case "tools/call":
              return Effect.succeed({ content: "text instead of blocks" })
            default:
              return Effect.fail("nope")
          }
        }
      })
      const client = yield* McpClient.connect(b, { info: { name: "c", version: "1" }, revisions: ["2025-06-18"] })
      expect(yield* Effect.flip(client.listTools())).toMatchObject({ _tag: "InvalidResponse", mode: "FM-50", method: "tools/list" })
      expect(yield* Effect.flip(client.callTool("x"))).toMatchObject({ _tag: "InvalidResponse", method: "tools/call" })
    }).pipe(Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))

  it.effect("FM-21 transient failures are retried with backoff; an idempotency key makes the retries run the tool once", () =>
    Effect.gen(function*() {
      let runs = 0
      const server = yield* McpServer.make({
        info: { name: "srv", version: "1" },
        // two requests per second: initialize and the first call use them up
        rateLimit: { limit: 2, window: "2 seconds" },
        tools: [Tool.make("once", { input: Schema.Struct({}), handler: () => Effect.sync(() => `run ${++runs}`) })]
      })
      const [a, b] = yield* MemoryTransport.makePair()
      yield* Effect.forkScoped(server.serve(a))
      const client = yield* McpClient.connect(b, { info: { name: "c", version: "1" }, revisions: ["2025-11-25"] })
      expect(yield* client.callTool("once")).toMatchObject({ content: [{ text: "run 1" }] })
      // rate limited now: without a retry policy the caller sees the typed error
      expect(yield* Effect.flip(client.callTool("once"))).toMatchObject({ _tag: "RemoteError", code: -32010 })
      // with one, the call is retried after a backoff and succeeds
      const retried = yield* Effect.forkChild(client.callTool("once", {}, { retry: McpClient.defaultRetry, idempotencyKey: "k1" }))
      for (let i = 0; i < 20 && retried.pollUnsafe() === undefined; i++) yield* TestClock.adjust("500 millis")
      expect(yield* Fiber.join(retried).pipe(Effect.mapError((e) => `retried call failed: ${e.message}`))).toMatchObject({ content: [{ text: "run 2" }] })
      // the same key again: the server answers with the first outcome, without running the tool
      const again = yield* Effect.forkChild(client.callTool("once", {}, { retry: McpClient.defaultRetry, idempotencyKey: "k1" }))
      for (let i = 0; i < 20 && again.pollUnsafe() === undefined; i++) yield* TestClock.adjust("500 millis")
      expect(yield* Fiber.join(again)).toMatchObject({ content: [{ text: "run 2" }] })
      expect(runs).toBe(2)
      expect(McpClient.isTransient(new McpClient.InvalidResponse({ method: "x", detail: "y" }))).toBe(false)
    }).pipe(Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))

  it.effect("server notifications are a Stream", () =>
    Effect.gen(function*() {
      const server = yield* McpServer.make({ info: { name: "srv", version: "1" }, tools })
      const [a, b] = yield* MemoryTransport.makePair()
      yield* Effect.forkScoped(server.serve(a))
      const client = yield* McpClient.connect(b, { info: { name: "c", version: "1" }, revisions: ["2025-11-25"] })
      const first = yield* client.notifications.pipe(Stream.take(1), Stream.runCollect, Effect.forkChild)
      yield* Effect.yieldNow
      yield* server.removeTool("t0")
      const [n] = yield* Fiber.join(first)
      expect(n).toMatchObject({ method: "notifications/tools/list_changed" })
    }).pipe(Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))
})
