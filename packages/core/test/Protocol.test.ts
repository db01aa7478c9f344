import { describe, expect, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Ref from "effect/Ref"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/testing/TestClock"
import * as Tracer from "effect/Tracer"
import { ErrorCode } from "@effect-mcp/jsonrpc"
import * as Protocol from "../src/Protocol.ts"
import { McpError } from "../src/ProtocolError.ts"
import type * as Transport from "../src/Transport.ts"
import { handlers, pair, withWire } from "./helpers.ts"

const decoder = new TextDecoder()
/** Reads the next `n` frames the engine wrote to the wire, parsed. */
const readFrames = (read: Stream.Stream<Uint8Array>, n: number) =>
  read.pipe(
    Stream.map((bytes) => decoder.decode(bytes)),
    Stream.flatMap((text) => Stream.fromIterable(text.split("\n").filter((l) => l.length > 0))),
    Stream.take(n),
    Stream.map((line) => JSON.parse(line)),
    Stream.runCollect
  )

describe("Protocol", () => {
  it.effect("requests and responses in both directions, notifications", () =>
    Effect.gen(function*() {
      const seen = yield* Ref.make<Array<string>>([])
      const { server, client } = yield* pair(
        {
          handler: handlers({ add: (r) => Effect.succeed({ sum: (r.params!.a as number) + (r.params!.b as number) }) }),
          onNotification: (n) => Ref.update(seen, (s) => [...s, n.method])
        },
        { handler: handlers({ "roots/list": () => Effect.succeed({ roots: [] }) }) }
      )
      expect(yield* client.request("add", { a: 1, b: 2 })).toEqual({ sum: 3 })
      expect(yield* server.request("roots/list")).toEqual({ roots: [] })
      yield* client.notify("notifications/initialized")
      yield* Effect.gen(function*() {
        while ((yield* Ref.get(seen)).length === 0) yield* Effect.yieldNow
      }).pipe(Effect.timeout("1 second"))
      expect(yield* Ref.get(seen)).toEqual(["notifications/initialized"])
    }))

  it.effect("unknown method is -32601; McpError passes code, message and data", () =>
    Effect.gen(function*() {
      const { client } = yield* pair({
        handler: handlers({ fail: () => Effect.fail(new McpError({ code: -32602, message: "Unknown tool: x", data: { tool: "x" } })) })
      })
      expect(yield* Effect.flip(client.request("nope"))).toMatchObject({ _tag: "RemoteError", code: ErrorCode.MethodNotFound, method: "nope" })
      expect(yield* Effect.flip(client.request("fail"))).toMatchObject({
        _tag: "RemoteError",
        code: -32602,
        message: "Unknown tool: x",
        data: { tool: "x" }
      })
    }))

  it.effect("progress reaches onProgress", () =>
    Effect.gen(function*() {
      const { client } = yield* pair({
        handler: handlers({
          work: (r) => Effect.gen(function*() {
            for (let i = 1; i <= 3; i++) yield* r.sendProgress({ progress: i, total: 3, message: `step ${i}` })
            return { done: true }
          })
        })
      })
      const progress = yield* Ref.make<Array<Protocol.Progress>>([])
      const result = yield* client.request("work", {}, { onProgress: (p) => Ref.update(progress, (ps) => [...ps, p]) })
      expect(result).toEqual({ done: true })
      expect(yield* Ref.get(progress)).toEqual([
        { progress: 1, total: 3, message: "step 1" },
        { progress: 2, total: 3, message: "step 2" },
        { progress: 3, total: 3, message: "step 3" }
      ])
    }))

  it.effect("FM-21 timeout resets on progress", () =>
    Effect.gen(function*() {
      const tick = yield* Deferred.make<void>()
      const cancelled = yield* Deferred.make<unknown>()
      const { client } = yield* pair(
        {
          handler: handlers({
            slow: (r) =>
              Effect.gen(function*() {
                yield* Effect.sleep("50 seconds")
                yield* r.sendProgress({ progress: 1 })
                yield* Deferred.succeed(tick, undefined)
                return yield* Effect.never
              })
          }),
          onNotification: () => Effect.void
        }
      )
      // the server sees notifications/cancelled as a handler interruption; observe it through the engine
      const fiber = yield* client.request("slow").pipe(Effect.flip, Effect.forkChild)
      yield* TestClock.adjust("50 seconds")
      yield* Deferred.await(tick)
      // 50 s after the progress the request is still alive (the default timeout is 60 s)
      yield* TestClock.adjust("50 seconds")
      expect(fiber.pollUnsafe()).toBeUndefined()
      yield* TestClock.adjust("10 seconds")
      const error = yield* Fiber.join(fiber)
      expect(error).toMatchObject({ _tag: "RequestTimedOut", mode: "FM-21", method: "slow", timeoutMs: 60_000 })
      yield* Deferred.succeed(cancelled, undefined)
    }))

  it.effect("FM-21 the timeout covers the send: a peer that stopped reading ends the call with RequestTimedOut in time", () =>
    Effect.gen(function*() {
      // a transport whose writes wait forever for a drain (the peer stopped reading) and whose reads never end
      const sends: Array<unknown> = []
      const stuck: Transport.Transport = {
        incoming: Stream.never,
        send: (message) => Effect.andThen(Effect.sync(() => sends.push(message)), Effect.never),
        close: Effect.void
      }
      const protocol = yield* Protocol.make(stuck, { handler: () => undefined })
      const fiber = yield* protocol.request("tools/call", { name: "x" }, { timeout: "2 seconds" }).pipe(Effect.flip, Effect.forkChild)
      yield* TestClock.adjust("1999 millis")
      expect(fiber.pollUnsafe()).toBeUndefined()
      // the timeout fires although the write never finished; the cancellation notice is bounded too (1 s)
      yield* TestClock.adjust("1 millis")
      yield* TestClock.adjust("1 second")
      const error = yield* Fiber.join(fiber)
      expect(error).toMatchObject({ _tag: "RequestTimedOut", mode: "FM-21", method: "tools/call", timeoutMs: 2_000 })
      expect(sends.map((m) => (m as { method: string }).method)).toEqual(["tools/call", "notifications/cancelled"])
    }))

  it.effect("each handled request is a server span Protocol.handle with its MCP attributes; a failure adds error.type and the FMEA mode", () => {
    const spans: Array<Tracer.NativeSpan> = []
    const tracer = Tracer.make({
      span(options) {
        const span = new Tracer.NativeSpan(options)
        spans.push(span)
        return span
      }
    })
    return Effect.gen(function*() {
      const { client } = yield* pair({
        handler: handlers({
          ok: () => Effect.succeed({ fine: true }),
          shed: () => Effect.fail(new McpError({ code: ErrorCode.Overloaded, message: "busy", data: { mode: "FM-37" } })),
          broken: () => Effect.fail("boom")
        })
      })
      yield* client.request("ok")
      yield* Effect.flip(client.request("shed"))
      yield* Effect.flip(client.request("broken"))
      const handled = spans.filter((s) => s.name === "Protocol.handle")
      expect(handled.map((s) => [s.kind, s.attributes.get("mcp.method.name"), s.status._tag])).toEqual([
        ["server", "ok", "Ended"],
        ["server", "shed", "Ended"],
        ["server", "broken", "Ended"]
      ])
      expect(handled.map((s) => s.attributes.get("jsonrpc.request.id"))).toEqual(["0", "1", "2"])
      expect(handled[0]!.attributes.has("error.type")).toBe(false)
      expect([handled[1]!.attributes.get("error.type"), handled[1]!.attributes.get("mcp.fault.mode")]).toEqual([String(ErrorCode.Overloaded), "FM-37"])
      expect([handled[2]!.attributes.get("error.type"), handled[2]!.attributes.get("mcp.fault.mode")]).toEqual([String(ErrorCode.InternalError), "FM-42"])
      // the client's side of each call is its own span
      expect(spans.filter((s) => s.name === "Protocol.request").map((s) => s.attributes.get("mcp.method.name"))).toEqual(["ok", "shed", "broken"])
    }).pipe(Effect.withTracer(tracer))
  })

  it.effect("maxTotalTimeout bounds a request even while progress keeps coming", () =>
    Effect.gen(function*() {
      const { client } = yield* pair({
        handler: handlers({
          chatty: (r) =>
            Effect.gen(function*() {
              for (let i = 0;; i++) {
                yield* Effect.sleep("1 second")
                yield* r.sendProgress({ progress: i })
              }
            })
        })
      })
      const fiber = yield* client.request("chatty", {}, { timeout: "5 seconds", maxTotalTimeout: "30 seconds" }).pipe(
        Effect.flip,
        Effect.forkChild
      )
      for (let i = 0; i < 29; i++) yield* TestClock.adjust("1 second")
      expect(fiber.pollUnsafe()).toBeUndefined()
      yield* TestClock.adjust("2 seconds")
      expect(yield* Fiber.join(fiber)).toMatchObject({ _tag: "RequestTimedOut" })
    }))

  it.effect("interrupting a request sends notifications/cancelled and the handler's finalizer runs", () =>
    Effect.gen(function*() {
      const started = yield* Deferred.make<void>()
      const finalized = yield* Deferred.make<void>()
      const { client, server } = yield* pair({
        handler: handlers({
          long: () =>
            Effect.andThen(Deferred.succeed(started, undefined), Effect.never).pipe(
              Effect.onInterrupt(() => Deferred.succeed(finalized, undefined))
            )
        })
      })
      const fiber = yield* client.request("long").pipe(Effect.forkChild)
      yield* Deferred.await(started)
      expect(yield* server.inFlight).toBe(1)
      yield* Fiber.interrupt(fiber)
      yield* Deferred.await(finalized).pipe(Effect.timeout("1 second"))
      while ((yield* server.inFlight) !== 0) yield* Effect.yieldNow
    }))

  it.effect("FM-51 a response with an unknown id is recorded and dropped", () =>
    Effect.gen(function*() {
      const recorded = yield* Ref.make<Array<string>>([])
      const { protocol, wire } = yield* withWire({
        handler: handlers({ ping: () => Effect.succeed({}) }),
        onDiagnostic: (d) => Ref.update(recorded, (r) => [...r, `${d._tag}:${d.mode}`])
      })
      yield* wire.write("{\"jsonrpc\":\"2.0\",\"id\":999,\"result\":{}}\n")
      // the connection keeps serving
      yield* wire.write("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\n")
      const [response] = yield* readFrames(wire.read, 1)
      expect(response).toEqual({ jsonrpc: "2.0", id: 1, result: {} })
      expect(yield* Ref.get(recorded)).toEqual(["UnknownResponseId:FM-51"])
      // ids match exactly: "0" is not 0
      const pendingCall = yield* protocol.request("x").pipe(Effect.flip, Effect.forkChild)
      const [sent] = yield* readFrames(wire.read, 1)
      expect(sent).toMatchObject({ id: 0, method: "x" })
      yield* wire.write("{\"jsonrpc\":\"2.0\",\"id\":\"0\",\"result\":{}}\n")
      yield* wire.write("{\"jsonrpc\":\"2.0\",\"id\":0,\"error\":{\"code\":-1,\"message\":\"no\"}}\n")
      expect(yield* Fiber.join(pendingCall)).toMatchObject({ _tag: "RemoteError", code: -1 })
      expect(yield* Ref.get(recorded)).toEqual(["UnknownResponseId:FM-51", "UnknownResponseId:FM-51"])
    }))

  it.effect("FM-10 a duplicate in-flight request id is refused with id null (the original's answer stays its own)", () =>
    Effect.gen(function*() {
      const release = yield* Deferred.make<void>()
      const { wire } = yield* withWire({
        handler: handlers({ wait: () => Effect.as(Deferred.await(release), { first: true }) }),
        onDiagnostic: () => Effect.void
      })
      yield* wire.write("{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"wait\"}\n{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"wait\"}\n")
      const [refused] = yield* readFrames(wire.read, 1)
      expect(refused).toMatchObject({ id: null, error: { code: ErrorCode.InvalidRequest, data: { duplicateId: 7 } } })
      yield* Deferred.succeed(release, undefined)
      const [first] = yield* readFrames(wire.read, 1)
      expect(first).toEqual({ jsonrpc: "2.0", id: 7, result: { first: true } })
    }))

  it.effect("malformed frames get -32700 with id null and the connection continues", () =>
    Effect.gen(function*() {
      const { wire } = yield* withWire({ handler: handlers({ ping: () => Effect.succeed({}) }), onDiagnostic: () => Effect.void })
      yield* wire.write("{not json\n[1,2]\n{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}\n")
      const frames = yield* readFrames(wire.read, 3)
      expect(frames).toEqual([
        { jsonrpc: "2.0", id: null, error: { code: ErrorCode.ParseError, message: "Parse error: malformed JSON" } },
        expect.objectContaining({ id: null, error: expect.objectContaining({ code: ErrorCode.InvalidRequest }) }),
        { jsonrpc: "2.0", id: 2, result: {} }
      ])
    }))

  it.effect("batches are answered as one array when allowed", () =>
    Effect.gen(function*() {
      const { wire } = yield* withWire({
        handler: handlers({ echo: (r) => Effect.succeed(r.params ?? {}) }),
        allowBatch: () => true
      })
      yield* wire.write(
        "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\",\"params\":{\"a\":1}},{\"jsonrpc\":\"2.0\",\"method\":\"n\"},{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"nope\"}]\n"
      )
      const [batch] = yield* readFrames(wire.read, 1)
      expect(batch).toEqual([
        { jsonrpc: "2.0", id: 1, result: { a: 1 } },
        { jsonrpc: "2.0", id: 2, error: { code: ErrorCode.MethodNotFound, message: "Method not found: nope" } }
      ])
    }))

  it.effect("closing the connection fails every pending request at once with ConnectionClosed", () =>
    Effect.gen(function*() {
      const { client, server } = yield* pair({ handler: handlers({ hang: () => Effect.never }) })
      const fibers = yield* Effect.forEach([1, 2, 3], () => client.request("hang").pipe(Effect.flip, Effect.forkChild))
      while ((yield* server.inFlight) < 3) yield* Effect.yieldNow
      yield* server.close
      const errors = yield* Effect.forEach(fibers, Fiber.join)
      for (const e of errors) expect(e).toMatchObject({ _tag: "ConnectionClosed", mode: "FM-40" })
      expect(yield* client.closed).toMatchObject({ _tag: "ConnectionClosed" })
      expect(yield* Effect.flip(client.request("after"))).toMatchObject({ _tag: "ConnectionClosed" })
    }))
})
