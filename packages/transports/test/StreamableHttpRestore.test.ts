/**
 * FM-52 on the Streamable HTTP server with its default, in-process session store: a session outlives the
 * connection of a handler that crashed. The store keeps the session's set-up, and the client's next request
 * for it rebuilds the connection: a new handler gets the set-up replayed (its answers are the server's own),
 * then the request. Real HTTP on 127.0.0.1; `restoreTimeout` on the TestClock.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/testing/TestClock"
import { type Transport } from "@effect-mcp/core"
import { JsonRpc, JsonRpcCodec } from "@effect-mcp/jsonrpc"
import * as StreamableHttpServer from "../src/StreamableHttpServer.ts"
import { eventually, realSleep } from "./support/realTime.ts"

/** A message a connection received. */
interface Seen {
  readonly method: string
  readonly id: JsonRpc.RequestId | undefined
  readonly params: unknown
}

/**
 * How a connection (by its start order, from 0) answers `initialize`: at once, with an error, never, or once
 * `after` completes (the peer takes nothing else meanwhile).
 */
type OnInitialize = (connection: number) => "answer" | "refuse" | "ignore" | { readonly after: Effect.Effect<void> }

/**
 * A minimal MCP peer, one request at a time: answers `initialize` (as `onInitialize` says), echoes the params
 * of any other request as its result; `crash` makes the handler die (the whole `handle` fails: a crashed
 * server); `bye` answers, then closes the transport; `quit` ends the handler normally without an answer.
 * Records what each connection received, one list per connection in start order.
 */
const peer = (connections: Array<Array<Seen>>, onInitialize: OnInitialize = () => "answer") =>
(transport: Transport.Transport): Effect.Effect<void> => {
  const index = connections.length
  const received: Array<Seen> = []
  connections.push(received)
  const send = (message: JsonRpc.Message) => Effect.ignore(transport.send(message))
  const answer = (request: JsonRpc.Request): Effect.Effect<void> => {
    const initialized = send(JsonRpc.success(request.id, {
      protocolVersion: "2025-11-25",
      capabilities: { logging: {}, resources: { subscribe: true } },
      serverInfo: { name: "peer", version: "1" }
    }))
    switch (request.method) {
      case "initialize": {
        const how = onInitialize(index)
        if (typeof how === "object") return Effect.andThen(how.after, initialized)
        switch (how) {
          case "answer":
            return initialized
          case "refuse":
            return send(JsonRpc.failure(request.id, -32602, "this server will not be initialized"))
          case "ignore":
            return Effect.void
        }
      }
      case "crash":
        return Effect.die(new Error("the server crashed"))
      case "notify":
        // a message of no request: the session's GET stream's
        return Effect.andThen(
          send(JsonRpc.notification("notifications/message", { level: "info", data: request.params })),
          send(JsonRpc.success(request.id, {}))
        )
      case "bye":
        return Effect.andThen(send(JsonRpc.success(request.id, { bye: true })), transport.close)
      default:
        return send(JsonRpc.success(request.id, request.params ?? {}))
    }
  }
  return transport.incoming.pipe(
    Stream.takeWhile((decoded) => !(Result.isSuccess(decoded) && !Array.isArray(decoded.success) && "method" in decoded.success && decoded.success.method === "quit")),
    Stream.runForEach((decoded) => {
      if (Result.isFailure(decoded) || Array.isArray(decoded.success)) return Effect.void
      const message = decoded.success as JsonRpc.Message
      if (!("method" in message)) return Effect.void
      received.push({ method: message.method, id: "id" in message ? message.id : undefined, params: message.params })
      return JsonRpc.isRequest(message) ? answer(message) : Effect.void
    }),
    // the end of the connection (ConnectionClosed) is a normal end; a defect (`crash`) is not
    Effect.ignore
  )
}

const listen = (connections: Array<Array<Seen>>, onInitialize?: OnInitialize, options: Partial<StreamableHttpServer.Options> = {}) =>
  StreamableHttpServer.serve({ port: 0, ...options }, peer(connections, onInitialize))

interface Reply {
  readonly status: number
  readonly session: string | undefined
  readonly body: string
}

const json = { "content-type": "application/json", accept: "application/json, text/event-stream" }
const withSession = (session: string | undefined): Record<string, string> =>
  session === undefined ? {} : { "mcp-session-id": session, "mcp-protocol-version": "2025-11-25" }

/** One raw HTTP request, its body read to the end; bounded to 5 s of real time (status 0 past it, or on an error). */
const send = (url: string, method: string, headers: Record<string, string>, body?: unknown) =>
  Effect.promise(async (): Promise<Reply> => {
    try {
      const response = await fetch(url, {
        method,
        headers,
        signal: AbortSignal.timeout(5_000),
        ...(body === undefined ? {} : { body: JSON.stringify(body) })
      })
      return { status: response.status, session: response.headers.get("mcp-session-id") ?? undefined, body: await response.text() }
    } catch {
      return { status: 0, session: undefined, body: "" }
    }
  })
const post = (url: string, body: unknown, session?: string) => send(url, "POST", { ...json, ...withSession(session) }, body)

/** Reads a GET stream of the session for `ms` of real time, then lets it go; its status and what came. */
const readGet = (url: string, session: string, ms: number, lastEventId?: string) =>
  Effect.promise(async () => {
    const controller = new AbortController()
    const timer = setTimeout(() => controller.abort(), ms)
    let status = 0
    let text = ""
    try {
      const response = await fetch(url, {
        headers: { accept: "text/event-stream", ...withSession(session), ...(lastEventId === undefined ? {} : { "last-event-id": lastEventId }) },
        signal: controller.signal
      })
      status = response.status
      const reader = response.body!.getReader()
      const decoder = new TextDecoder()
      for (;;) {
        const chunk = await reader.read()
        if (chunk.done) break
        text += decoder.decode(chunk.value, { stream: true })
      }
    } catch {
      // aborted: the stream was read for `ms`
    } finally {
      clearTimeout(timer)
    }
    return { status, text }
  })

const initialize = JsonRpc.request(1, "initialize", {
  protocolVersion: "2025-11-25",
  capabilities: {},
  clientInfo: { name: "raw", version: "1" }
})

/** A session set up with `initialize` and `notifications/initialized`; its id. */
const openSession = (url: string) =>
  Effect.gen(function*() {
    const opened = yield* post(url, initialize)
    expect(opened.status).toBe(200)
    const session = opened.session!
    expect(session).toMatch(/^[0-9a-f]{32}$/)
    expect((yield* post(url, JsonRpc.notification("notifications/initialized"), session)).status).toBe(202)
    return session
  })

/** Makes the session's handler die; the POST of `crash` gets whatever it gets, but comes back (bounded). */
const crash = (url: string, session: string, connections: ReadonlyArray<ReadonlyArray<Seen>>, id: number) =>
  Effect.gen(function*() {
    const before = connections.length
    const crashed = yield* post(url, JsonRpc.request(id, "crash"), session)
    // not left hanging: the connection's end ends its response streams
    expect(crashed.status).not.toBe(0)
    expect(connections.length).toBe(before)
    expect(connections[before - 1]!.at(-1)?.method).toBe("crash")
  })

const methods = (seen: ReadonlyArray<Seen>) => seen.map((s) => s.method)

/** The events of an SSE text: id and message. */
const eventsOf = (text: string) =>
  [...text.matchAll(/^id: (\S+)\nevent: message\ndata: (.+)$/gm)].map((m) => ({ id: m[1]!, data: JSON.parse(m[2]!) as unknown }))
const notice = (n: number) => ({ jsonrpc: "2.0", method: "notifications/message", params: { level: "info", data: { n } } })

describe("Streamable HTTP: a session outlives its connection (FM-52)", () => {
  it.effect("FM-52 a GET resumed with the Last-Event-ID of the crashed connection's GET stream gets what was kept for it, then the new connection's messages", () =>
    Effect.gen(function*() {
      const connections: Array<Array<Seen>> = []
      const listening = yield* listen(connections)
      const url = listening.url
      const session = yield* openSession(url)
      // notice 1 on the GET stream; notices 2 and 3 once it is closed: kept in the session's event store
      const first = yield* Effect.forkChild(readGet(url, session, 400))
      yield* realSleep(100)
      expect((yield* post(url, JsonRpc.request(2, "notify", { n: 1 }), session)).status).toBe(200)
      const seen = eventsOf((yield* Fiber.join(first)).text)
      expect(seen.map((e) => e.data)).toEqual([notice(1)])
      expect(seen[0]!.id).toMatch(/^g-/)
      yield* realSleep(50)
      expect((yield* post(url, JsonRpc.request(3, "notify", { n: 2 }), session)).status).toBe(200)
      expect((yield* post(url, JsonRpc.request(4, "notify", { n: 3 }), session)).status).toBe(200)
      yield* crash(url, session, connections, 5)

      // the GET rebuilds the session: what the old stream missed, then this connection's own messages
      const resumed = yield* Effect.forkChild(readGet(url, session, 500, seen[0]!.id))
      yield* realSleep(150)
      expect(connections).toHaveLength(2)
      expect((yield* post(url, JsonRpc.request(6, "notify", { n: 4 }), session)).status).toBe(200)
      const got = eventsOf((yield* Fiber.join(resumed)).text)
      expect(got.map((e) => e.data)).toEqual([notice(2), notice(3), notice(4)])
      const streamOf = (id: string) => id.slice(0, id.lastIndexOf("."))
      expect(got.slice(0, 2).map((e) => streamOf(e.id))).toEqual([streamOf(seen[0]!.id), streamOf(seen[0]!.id)])
      expect(streamOf(got[2]!.id)).toMatch(/^g-/)
      expect(streamOf(got[2]!.id)).not.toBe(streamOf(seen[0]!.id))
      expect((yield* listening.stats).sessionsRestored).toBe(1)
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))

  it.effect("FM-52 the session of a crashed server is rebuilt at its client's next request: same session id, no 404, its set-up replayed in order to a new server, the replayed answers never reach the client", () =>
    Effect.gen(function*() {
      const connections: Array<Array<Seen>> = []
      const listening = yield* listen(connections)
      const url = listening.url
      const session = yield* openSession(url)
      for (
        const request of [
          JsonRpc.request(2, "logging/setLevel", { level: "debug" }),
          JsonRpc.request(3, "logging/setLevel", { level: "error" }),
          JsonRpc.request(4, "resources/subscribe", { uri: "test://a" }),
          JsonRpc.request(5, "resources/subscribe", { uri: "test://b" }),
          JsonRpc.request(6, "resources/unsubscribe", { uri: "test://a" })
        ]
      ) {
        const reply = yield* post(url, request, session)
        expect(reply.status).toBe(200)
        expect(JSON.parse(reply.body)).toMatchObject({ id: request.id })
      }
      yield* crash(url, session, connections, 7)
      expect(connections).toHaveLength(1)

      // the same client, the same session: served, not 404, its own answer only
      const reply = yield* post(url, JsonRpc.request(8, "echo", { n: 8 }), session)
      expect(reply.status).toBe(200)
      expect(reply.session).toBe(session)
      expect(JSON.parse(reply.body)).toEqual({ jsonrpc: "2.0", id: 8, result: { n: 8 } })

      // a new server got the set-up, in order: the last level, the live subscription; then the request
      expect(connections).toHaveLength(2)
      const replayed = connections[1]!
      expect(methods(replayed)).toEqual(["initialize", "notifications/initialized", "logging/setLevel", "resources/subscribe", "echo"])
      expect(replayed[0]!.params).toMatchObject({ protocolVersion: "2025-11-25", clientInfo: { name: "raw" } })
      expect(replayed[2]!.params).toEqual({ level: "error" })
      expect(replayed[3]!.params).toEqual({ uri: "test://b" })
      // the replayed requests are the server's own, under ids no client uses; the client's request keeps its id
      for (const seen of [replayed[0]!, replayed[2]!, replayed[3]!]) expect(String(seen.id)).toMatch(/^effect-mcp\/restore\//)
      expect(new Set(replayed.map((s) => s.id)).size).toBe(replayed.length)
      expect(replayed[4]!.id).toBe(8)

      // the answers to the replayed requests went nowhere: not to the GET stream (nor kept for it)
      const get = yield* readGet(url, session, 300)
      expect(get.status).toBe(200)
      expect(get.text).not.toContain("effect-mcp/restore")
      expect(get.text).not.toContain("\"protocolVersion\"")

      expect(yield* listening.stats).toMatchObject({ sessionsCreated: 1, sessionsRestored: 1, restoresFailed: 0 })
      expect(yield* listening.sessions).toBe(1)
      // the rebuilt session goes on as any session does
      const next = yield* post(url, JsonRpc.request(9, "echo", { n: 9 }), session)
      expect(JSON.parse(next.body)).toEqual({ jsonrpc: "2.0", id: 9, result: { n: 9 } })
      expect(connections).toHaveLength(2)
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)), 30_000)

  it.effect("FM-52 concurrent requests during a rebuild wait for one rebuild and are all answered", () =>
    Effect.gen(function*() {
      const connections: Array<Array<Seen>> = []
      // the new server answers the replayed initialize once the test lets it: the requests arrive meanwhile
      const gate = yield* Deferred.make<void>()
      const listening = yield* listen(connections, (connection) => connection === 0 ? "answer" : { after: Deferred.await(gate) })
      const url = listening.url
      const session = yield* openSession(url)
      yield* post(url, JsonRpc.request(2, "logging/setLevel", { level: "info" }), session)
      yield* crash(url, session, connections, 3)
      const ids = Array.from({ length: 10 }, (_, i) => 10 + i)
      const posting = yield* Effect.forkChild(
        Effect.forEach(ids, (id) => post(url, JsonRpc.request(id, "echo", { id }), session), { concurrency: "unbounded" })
      )
      expect(yield* eventually(() => connections.length >= 2 && connections[1]!.length >= 1)).toBe(true)
      // time for the other POSTs to reach the server while the rebuild is under way
      yield* realSleep(150)
      expect(posting.pollUnsafe()).toBeUndefined()
      yield* Deferred.succeed(gate, undefined)
      const replies = yield* Fiber.join(posting)
      expect(replies.map((r) => r.status)).toEqual(ids.map(() => 200))
      expect(replies.map((r) => r.session)).toEqual(ids.map(() => session))
      expect(replies.map((r) => JSON.parse(r.body))).toEqual(ids.map((id) => ({ jsonrpc: "2.0", id, result: { id } })))
      // one rebuild: one new connection, the whole set-up replayed once, before any of the ten requests
      expect(connections).toHaveLength(2)
      const replayed = methods(connections[1]!)
      expect(replayed.slice(0, 3)).toEqual(["initialize", "notifications/initialized", "logging/setLevel"])
      expect(replayed.slice(3)).toEqual(ids.map(() => "echo"))
      expect(yield* listening.stats).toMatchObject({ sessionsCreated: 1, sessionsRestored: 1, restoresFailed: 0 })
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)), 30_000)

  it.effect("FM-52 a rebuild the new server refuses ends the session: 404, restoresFailed", () =>
    Effect.gen(function*() {
      const connections: Array<Array<Seen>> = []
      const listening = yield* listen(connections, (connection) => connection === 0 ? "answer" : "refuse")
      const url = listening.url
      const session = yield* openSession(url)
      yield* crash(url, session, connections, 2)
      const refused = yield* post(url, JsonRpc.request(3, "echo", {}), session)
      expect(refused.status).toBe(404)
      expect(JSON.parse(refused.body)).toMatchObject({ id: 3, error: { code: -32001 } })
      // the rebuild was tried: a new server got the replayed initialize, and refused it
      expect(connections).toHaveLength(2)
      expect(methods(connections[1]!)).toEqual(["initialize"])
      expect(yield* listening.stats).toMatchObject({ sessionsRestored: 0, restoresFailed: 1 })
      // the session is over: no other rebuild
      const again = yield* post(url, JsonRpc.request(4, "echo", {}), session)
      expect(again.status).toBe(404)
      expect(connections).toHaveLength(2)
      expect(yield* listening.stats).toMatchObject({ sessionsRestored: 0, restoresFailed: 1 })
      expect(yield* listening.sessions).toBe(0)
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)), 30_000)

  it.effect("FM-52 a rebuild not answered within restoreTimeout ends the session (TestClock)", () =>
    Effect.gen(function*() {
      const connections: Array<Array<Seen>> = []
      const listening = yield* listen(connections, (connection) => connection === 0 ? "answer" : "ignore", { restoreTimeout: "2 seconds" })
      const url = listening.url
      const session = yield* openSession(url)
      yield* crash(url, session, connections, 2)
      const posting = yield* Effect.forkChild(post(url, JsonRpc.request(3, "echo", {}), session))
      // the new server got the replayed initialize and does not answer it: the POST waits for the rebuild
      expect(yield* eventually(() => connections.length === 2 && connections[1]!.length === 1)).toBe(true)
      expect(methods(connections[1]!)).toEqual(["initialize"])
      yield* realSleep(50)
      expect(posting.pollUnsafe()).toBeUndefined()
      yield* TestClock.adjust("1999 millis")
      yield* realSleep(50)
      expect(posting.pollUnsafe()).toBeUndefined()
      yield* TestClock.adjust("1 millis")
      const reply = yield* Fiber.join(posting)
      expect(reply.status).toBe(404)
      expect(yield* listening.stats).toMatchObject({ sessionsRestored: 0, restoresFailed: 1 })
      // the session is over: no other rebuild
      expect((yield* post(url, JsonRpc.request(4, "echo", {}), session)).status).toBe(404)
      expect(connections).toHaveLength(2)
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)), 30_000)

  it.effect("FM-52 a session whose server ended normally is not rebuilt (404)", () =>
    Effect.gen(function*() {
      const connections: Array<Array<Seen>> = []
      const listening = yield* listen(connections)
      const url = listening.url
      // the server closes its transport
      const closed = yield* openSession(url)
      const bye = yield* post(url, JsonRpc.request(2, "bye"), closed)
      expect(bye.status).toBe(200)
      expect(JSON.parse(bye.body)).toEqual({ jsonrpc: "2.0", id: 2, result: { bye: true } })
      const afterBye = yield* post(url, JsonRpc.request(3, "echo", {}), closed)
      expect(afterBye.status).toBe(404)
      expect(connections).toHaveLength(1)
      // the server's handler returns (without closing its transport)
      const returned = yield* openSession(url)
      expect(connections).toHaveLength(2)
      const quit = yield* post(url, JsonRpc.request(2, "quit"), returned)
      expect(quit.status).not.toBe(0)
      const afterQuit = yield* post(url, JsonRpc.request(3, "echo", {}), returned)
      expect(afterQuit.status).toBe(404)
      expect(connections).toHaveLength(2)
      expect(yield* listening.stats).toMatchObject({ sessionsCreated: 2, sessionsRestored: 0, restoresFailed: 0 })
      expect(yield* listening.sessions).toBe(0)
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)), 30_000)

  it.effect("FM-52 DELETE ends a session the listener holds no connection for", () =>
    Effect.gen(function*() {
      const connections: Array<Array<Seen>> = []
      const listening = yield* listen(connections)
      const url = listening.url
      const session = yield* openSession(url)
      yield* crash(url, session, connections, 2)
      expect(yield* listening.sessions).toBe(0)
      const deleted = yield* send(url, "DELETE", withSession(session))
      expect(deleted.status).toBe(200)
      // the DELETE rebuilt nothing
      expect(connections).toHaveLength(1)
      const after = yield* post(url, JsonRpc.request(3, "echo", {}), session)
      expect(after.status).toBe(404)
      expect(connections).toHaveLength(1)
      expect(yield* listening.stats).toMatchObject({ sessionsDeleted: 1, sessionsRestored: 0, restoresFailed: 0 })
      // a second DELETE finds nothing
      expect((yield* send(url, "DELETE", withSession(session))).status).toBe(404)
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)), 30_000)
})
