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

describe("tasks extension: server-wide tasks, input, errors, cancellation", () => {
  const meta = (extensions = true) => ({
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {
      elicitation: {},
      ...(extensions ? { extensions: { "io.modelcontextprotocol/tasks": {} } } : {})
    },
    "io.modelcontextprotocol/clientInfo": { name: "c", version: "1" }
  })
  const form = (message: string) => ({ message, requestedSchema: { type: "object", properties: {} } })

  const make = Effect.gen(function*() {
    const release = yield* Deferred.make<void>()
    const server = yield* McpServer.make({
      info: { name: "tasks", version: "1" },
      tools: [
        Tool.make("report", {
          taskSupport: "optional",
          input: Schema.Struct({}),
          handler: () => Effect.as(Deferred.await(release), "the report")
        }),
        Tool.make("broken", {
          taskSupport: "required",
          input: Schema.Struct({}),
          handler: () => Effect.fail(new Tool.ToolFailure({ message: "no" }))
        }),
        Tool.make("crash", {
          taskSupport: "optional",
          input: Schema.Struct({}),
          handler: () => Effect.fail(new McpServer.McpError({ code: ErrorCode.InternalError, message: "boom" }))
        }),
        Tool.make("pair", {
          taskSupport: "optional",
          input: Schema.Struct({}),
          handler: () =>
            Effect.map(
              RequestContextModule.askAll({
                first: { method: "elicitation/create", params: form("First?") },
                second: { method: "elicitation/create", params: form("Second?") }
              }),
              (answers) => `${(answers.first!.content as any).v} and ${(answers.second!.content as any).v}`
            )
        }),
        Tool.make("interview", {
          taskSupport: "required",
          taskStart: "handler",
          input: Schema.Struct({}),
          handler: () =>
            Effect.gen(function*() {
              const name = yield* RequestContextModule.ask("elicitation/create", form("Name?"), { key: "user_name" })
              yield* RequestContextModule.startTask
              const color = yield* RequestContextModule.ask("elicitation/create", form("Color?"), { key: "color" })
              return `${(name.content as any).v} likes ${(color.content as any).v}`
            })
        })
      ]
    })
    return { server, release }
  })

  /** A connection of its own, as every 2026-07-28 POST is over Streamable HTTP. */
  const connection = (server: McpServer.McpServer<never>) =>
    Effect.gen(function*() {
      const [a, b] = yield* MemoryTransport.makePair()
      const served = yield* Effect.forkScoped(server.serve(a))
      const client = yield* Protocol.make(b, { handler: () => undefined })
      return { client, close: Effect.andThen(client.close, Fiber.join(served)) }
    })

  /** Sends one request on a fresh connection, then closes it. */
  const once = (server: McpServer.McpServer<never>, method: string, params: Record<string, unknown>) =>
    Effect.scoped(Effect.gen(function*() {
      const { client, close } = yield* connection(server)
      const result = yield* client.request(method, params)
      yield* close
      return result as any
    }))

  const until = (server: McpServer.McpServer<never>, taskId: string, done: (task: any) => boolean) =>
    Effect.gen(function*() {
      for (;;) {
        const task = yield* once(server, "tasks/get", { taskId, _meta: meta() })
        if (done(task)) return task
        yield* Effect.sleep("5 millis")
      }
    })

  it.live("a task outlives the connection that started it: others see it progress and complete", () =>
    Effect.gen(function*() {
      const { server, release } = yield* make
      const handle = yield* once(server, "tools/call", { name: "report", arguments: {}, _meta: meta() })
      expect(handle).toMatchObject({ resultType: "task", status: "working" })
      expect(handle.ttlMs).toBeTypeOf("number")
      expect(handle).not.toHaveProperty("ttl")
      expect(yield* once(server, "tasks/get", { taskId: handle.taskId, _meta: meta() })).toMatchObject({ status: "working" })
      yield* Deferred.succeed(release, undefined)
      const done = yield* until(server, handle.taskId, (t) => t.status !== "working")
      expect(done).toMatchObject({ status: "completed", result: { content: [{ type: "text", text: "the report" }] } })
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))

  it.live("a tool error completes the task with isError; a protocol error fails it", () =>
    Effect.gen(function*() {
      const { server } = yield* make
      const broken = yield* once(server, "tools/call", { name: "broken", arguments: {}, _meta: meta() })
      const tool = yield* until(server, broken.taskId, (t) => t.status !== "working")
      expect(tool).toMatchObject({ status: "completed", result: { isError: true, content: [{ text: "no" }] } })
      const crash = yield* once(server, "tools/call", { name: "crash", arguments: {}, _meta: meta() })
      const protocol = yield* until(server, crash.taskId, (t) => t.status !== "working")
      expect(protocol).toMatchObject({ status: "failed", error: { code: ErrorCode.InternalError, message: "boom" } })
      expect(protocol).not.toHaveProperty("result")
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))

  it.live("tasks/cancel acknowledges, also for a terminal task; unknown ids are -32602", () =>
    Effect.gen(function*() {
      const { server } = yield* make
      const handle = yield* once(server, "tools/call", { name: "report", arguments: {}, _meta: meta() })
      const ack = yield* once(server, "tasks/cancel", { taskId: handle.taskId, _meta: meta() })
      expect(ack.resultType).toBe("complete")
      expect(Object.keys(ack).sort()).toEqual(["_meta", "resultType"])
      expect(yield* once(server, "tasks/get", { taskId: handle.taskId, _meta: meta() })).toMatchObject({ status: "cancelled" })
      expect(yield* once(server, "tasks/cancel", { taskId: handle.taskId, _meta: meta() })).toMatchObject({ resultType: "complete" })
      const error = yield* Effect.flip(once(server, "tasks/cancel", { taskId: "nope", _meta: meta() }))
      expect(error).toMatchObject({ code: ErrorCode.InvalidParams })
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))

  it.live("tasks/get, update and cancel need the extension in the request's capabilities (-32021)", () =>
    Effect.gen(function*() {
      const { server } = yield* make
      for (const method of ["tasks/get", "tasks/update", "tasks/cancel"]) {
        const error = yield* Effect.flip(once(server, method, { taskId: "any", inputResponses: {}, _meta: meta(false) }))
        expect(error).toMatchObject({
          code: ErrorCode.MissingRequiredClientCapability,
          data: { requiredCapabilities: { extensions: { "io.modelcontextprotocol/tasks": {} } } }
        })
      }
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))

  it.live("askAll parks the task until every answer is in; tasks/update may bring them one at a time", () =>
    Effect.gen(function*() {
      const { server } = yield* make
      const handle = yield* once(server, "tools/call", { name: "pair", arguments: {}, _meta: meta() })
      const waiting = yield* until(server, handle.taskId, (t) => t.status === "input_required")
      expect(Object.keys(waiting.inputRequests).sort()).toEqual(["first", "second"])
      const accept = (v: string) => ({ action: "accept", content: { v } })
      // an answer to nothing pending is ignored; a partial answer leaves the rest pending
      expect(yield* once(server, "tasks/update", {
        taskId: handle.taskId,
        inputResponses: { first: accept("one"), other: accept("x") },
        _meta: meta()
      })).toMatchObject({ resultType: "complete" })
      const partial = yield* once(server, "tasks/get", { taskId: handle.taskId, _meta: meta() })
      expect(partial).toMatchObject({ status: "input_required" })
      expect(Object.keys(partial.inputRequests)).toEqual(["second"])
      yield* once(server, "tasks/update", { taskId: handle.taskId, inputResponses: { second: accept("two") }, _meta: meta() })
      const done = yield* until(server, handle.taskId, (t) => t.status === "completed" || t.status === "failed")
      expect(done).toMatchObject({ status: "completed", result: { content: [{ text: "one and two" }] } })
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))

  it.live("taskStart: \"handler\": input rounds on tools/call first, then a task that keeps the answers", () =>
    Effect.gen(function*() {
      const { server } = yield* make
      const first = yield* once(server, "tools/call", { name: "interview", arguments: {}, _meta: meta() })
      expect(first).toMatchObject({ resultType: "input_required", inputRequests: { user_name: { method: "elicitation/create" } } })
      expect(first).not.toHaveProperty("taskId")
      const handle = yield* once(server, "tools/call", {
        name: "interview",
        arguments: {},
        inputResponses: { user_name: { action: "accept", content: { v: "Ada" } } },
        requestState: first.requestState,
        _meta: meta()
      })
      expect(handle).toMatchObject({ resultType: "task", status: "working" })
      expect(handle).not.toHaveProperty("requestState")
      expect(handle).not.toHaveProperty("inputRequests")
      // inside the task the earlier answer is known; what comes after startTask is task input
      const waiting = yield* until(server, handle.taskId, (t) => t.status === "input_required")
      expect(Object.keys(waiting.inputRequests)).toEqual(["color"])
      yield* once(server, "tasks/update", {
        taskId: handle.taskId,
        inputResponses: { color: { action: "accept", content: { v: "blue" } } },
        _meta: meta()
      })
      const done = yield* until(server, handle.taskId, (t) => t.status === "completed" || t.status === "failed")
      expect(done).toMatchObject({ status: "completed", result: { content: [{ text: "Ada likes blue" }] } })
      // without the extension the required tool is refused
      expect(yield* Effect.flip(once(server, "tools/call", { name: "interview", arguments: {}, _meta: meta(false) }))).toMatchObject({
        code: ErrorCode.MissingRequiredClientCapability
      })
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))
})
