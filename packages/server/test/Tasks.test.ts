import { describe, expect, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Queue from "effect/Queue"
import * as Schema from "effect/Schema"
import { MemoryTransport, Protocol } from "@effect-mcp/core"
import { ErrorCode, JsonRpcCodec } from "@effect-mcp/jsonrpc"
import * as McpServer from "../src/McpServer.ts"
import * as RequestContextModule from "../src/RequestContext.ts"
import * as Tool from "../src/Tool.ts"

const setup = (revision = "2025-11-25") =>
  Effect.gen(function*() {
    const release = yield* Deferred.make<void>()
    const server = yield* McpServer.make({
      info: { name: "tasks", version: "1" },
      tools: [
        Tool.make("report", {
          taskSupport: "optional",
          input: Schema.Struct({ pages: Schema.Finite }),
          handler: ({ pages }) => Effect.as(Deferred.await(release), `report of ${pages} pages`)
        }),
        Tool.make("forever", { taskSupport: "required", input: Schema.Struct({}), handler: () => Effect.never }),
        Tool.make("broken", { taskSupport: "optional", input: Schema.Struct({}), handler: () => Effect.fail(new Tool.ToolFailure({ message: "no" })) }),
        Tool.make("plain", { input: Schema.Struct({}), handler: () => Effect.succeed("plain") })
      ]
    })
    const [a, b] = yield* MemoryTransport.makePair()
    yield* Effect.forkScoped(server.serve(a))
    const notifications = yield* Queue.unbounded<{ method: string; params: any }>()
    const client = yield* Protocol.make(b, {
      handler: () => undefined,
      onNotification: (n) => Effect.asVoid(Queue.offer(notifications, { method: n.method, params: n.params }))
    })
    const init = (yield* client.request("initialize", { protocolVersion: revision, capabilities: {}, clientInfo: { name: "c", version: "1" } })) as any
    yield* client.notify("notifications/initialized")
    return { client, init, release, notifications }
  }).pipe(Effect.provide(JsonRpcCodec.JsonRpcCodec.layer))

describe("tasks (2025-11-25)", () => {
  it.effect("a task-augmented tools/call answers with a task; tasks/get, tasks/result, status notification", () =>
    Effect.gen(function*() {
      const { client, init, release, notifications } = yield* setup()
      expect(init.capabilities.tasks).toEqual({ list: {}, cancel: {}, requests: { tools: { call: {} } } })
      const list = (yield* client.request("tools/list")) as any
      expect(list.tools.find((t: any) => t.name === "report").execution).toEqual({ taskSupport: "optional" })
      const created = (yield* client.request("tools/call", { name: "report", arguments: { pages: 3 }, task: { ttl: 60_000 } })) as any
      expect(created.task).toMatchObject({ status: "working", ttl: 60_000 })
      const taskId = created.task.taskId as string
      expect(yield* client.request("tasks/get", { taskId })).toMatchObject({ taskId, status: "working" })
      const result = yield* Effect.forkChild(client.request("tasks/result", { taskId }))
      yield* Deferred.succeed(release, undefined)
      expect(yield* Fiber.join(result)).toMatchObject({
        content: [{ type: "text", text: "report of 3 pages" }],
        _meta: { "io.modelcontextprotocol/related-task": { taskId } }
      })
      expect(yield* Queue.take(notifications)).toMatchObject({ method: "notifications/tasks/status", params: { taskId, status: "completed" } })
      expect(yield* client.request("tasks/list")).toMatchObject({ tasks: [{ taskId, status: "completed" }] })
    }))

  it.effect("cancel ends a task once; isError makes it failed; unknown ids are -32602", () =>
    Effect.gen(function*() {
      const { client } = yield* setup()
      const created = (yield* client.request("tools/call", { name: "forever", arguments: {}, task: {} })) as any
      const taskId = created.task.taskId
      expect(yield* client.request("tasks/cancel", { taskId })).toMatchObject({ taskId, status: "cancelled" })
      expect(yield* Effect.flip(client.request("tasks/cancel", { taskId }))).toMatchObject({ code: ErrorCode.InvalidParams })
      expect(yield* Effect.flip(client.request("tasks/result", { taskId }))).toMatchObject({ code: ErrorCode.InternalError })
      const broken = (yield* client.request("tools/call", { name: "broken", arguments: {}, task: {} })) as any
      expect(yield* client.request("tasks/result", { taskId: broken.task.taskId })).toMatchObject({ isError: true })
      expect(yield* client.request("tasks/get", { taskId: broken.task.taskId })).toMatchObject({ status: "failed" })
      expect(yield* Effect.flip(client.request("tasks/get", { taskId: "nope" }))).toMatchObject({ code: ErrorCode.InvalidParams })
    }))

  it.effect("taskSupport is enforced; tasks do not exist before 2025-11-25", () =>
    Effect.gen(function*() {
      const { client } = yield* setup()
      expect(yield* Effect.flip(client.request("tools/call", { name: "plain", arguments: {}, task: {} }))).toMatchObject({ code: ErrorCode.MethodNotFound })
      expect(yield* Effect.flip(client.request("tools/call", { name: "forever", arguments: {} }))).toMatchObject({ code: ErrorCode.MethodNotFound })
      const old = yield* setup("2025-06-18")
      expect(old.init.capabilities.tasks).toBeUndefined()
      expect(yield* Effect.flip(old.client.request("tasks/list"))).toMatchObject({ code: ErrorCode.MethodNotFound })
    }))
})

describe("tasks extension (2026-07-28, io.modelcontextprotocol/tasks)", () => {
  const meta = (extensions: boolean) => ({
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {
      elicitation: {},
      ...(extensions ? { extensions: { "io.modelcontextprotocol/tasks": {} } } : {})
    },
    "io.modelcontextprotocol/clientInfo": { name: "c", version: "1" }
  })

  it.effect("a task tool answers with a task handle; input_required is answered with tasks/update; tasks/get shows the result", () =>
    Effect.gen(function*() {
      const server = yield* McpServer.make({
        info: { name: "tasks", version: "1" },
        tools: [
          Tool.make("interview", {
            taskSupport: "required",
            input: Schema.Struct({}),
            handler: () =>
              Effect.gen(function*() {
                const form = yield* RequestContextModule.ask("elicitation/create", { mode: "form", message: "Name?", requestedSchema: { type: "object", properties: {} } })
                return `hello ${(form.content as { name: string }).name}`
              })
          })
        ]
      })
      const [a, b] = yield* MemoryTransport.makePair()
      yield* Effect.forkScoped(server.serve(a))
      const notifications = yield* Queue.unbounded<{ method: string; params: any }>()
      const client = yield* Protocol.make(b, {
        handler: () => undefined,
        onNotification: (n) => Effect.asVoid(Queue.offer(notifications, { method: n.method, params: n.params }))
      })
      const discover = (yield* client.request("server/discover", { _meta: meta(true) })) as any
      expect(discover.capabilities.extensions).toEqual({ "io.modelcontextprotocol/tasks": {} })
      // a client without the extension cannot call a task-required tool
      expect(yield* Effect.flip(client.request("tools/call", { name: "interview", arguments: {}, _meta: meta(false) }))).toMatchObject({
        code: ErrorCode.MissingRequiredClientCapability
      })
      const handle = (yield* client.request("tools/call", { name: "interview", arguments: {}, _meta: meta(true) })) as any
      expect(handle).toMatchObject({ resultType: "task", status: "working" })
      expect(handle.ttlMs).toBeTypeOf("number")
      const taskId = handle.taskId as string
      yield* Effect.forkScoped(client.request("subscriptions/listen", { notifications: { taskIds: [taskId] }, _meta: meta(true) }, { timeout: "1 hour" }))
      expect(yield* Queue.take(notifications)).toMatchObject({ method: "notifications/subscriptions/acknowledged", params: { notifications: { taskIds: [taskId] } } })
      let detail = (yield* client.request("tasks/get", { taskId, _meta: meta(true) })) as any
      while (detail.status === "working") {
        yield* Effect.yieldNow
        detail = yield* client.request("tasks/get", { taskId, _meta: meta(true) })
      }
      expect(detail).toMatchObject({ resultType: "complete", status: "input_required", inputRequests: { "elicitation-0": { method: "elicitation/create" } } })
      expect(yield* client.request("tasks/update", {
        taskId,
        inputResponses: { "elicitation-0": { action: "accept", content: { name: "Ada" } } },
        _meta: meta(true)
      })).toMatchObject({ resultType: "complete" })
      let done: any
      do {
        const n = yield* Queue.take(notifications)
        if (n.method === "notifications/tasks" && n.params.status === "completed") done = n.params
      } while (done === undefined)
      expect(done.result).toMatchObject({ content: [{ type: "text", text: "hello Ada" }] })
      expect(yield* client.request("tasks/get", { taskId, _meta: meta(true) })).toMatchObject({ status: "completed", result: { content: [{ text: "hello Ada" }] } })
      expect(yield* Effect.flip(client.request("tasks/list", { _meta: meta(true) }))).toMatchObject({ code: ErrorCode.MethodNotFound })
    }).pipe(Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))
})
