/**
 * The Streamable HTTP server with its state in tier 2 (`HttpState`): a Runtime-hosted server (a tier-4
 * listener whose connections are tier-3 servers) keeps its sessions in the `SessionManager` and its SSE events
 * in the `EventStore`. Real HTTP on 127.0.0.1; expiry and restarts on the TestClock.
 */
import { describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as os from "node:os"
import * as nodePath from "node:path"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/testing/TestClock"
import type { Transport } from "@effect-mcp/core"
import { JsonRpc, JsonRpcCodec } from "@effect-mcp/jsonrpc"
import { StreamableHttpClient, StreamableHttpServer } from "@effect-mcp/transports"
import { EventStore, HttpState, Runtime, SessionManager, Tiers } from "@effect-mcp/runtime"
import { allRunning, freePort, memberGenerations, quiet, runtimeLayer, settle, until } from "./support/world.ts"

/** Waits in real time (the condition may wait on sockets) until `condition` holds, for at most 5 s. */
const eventually = <E>(label: string, condition: Effect.Effect<boolean, E>) =>
  Effect.gen(function*() {
    for (let i = 0; i < 1_000; i++) {
      if (yield* condition) return
      yield* Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, 5)))
    }
    expect.fail(`timed out waiting for: ${label}`)
  })

/** What the test releases: a `block` request's answer, and the rest of a `poll`. */
interface Gates {
  readonly block: Deferred.Deferred<void>
  readonly go: Deferred.Deferred<void>
  /** The methods each connection received, one list per connection in start order. */
  readonly received: Array<Array<string>>
}

/**
 * A minimal MCP peer: answers `initialize`; `block` when the test opens its gate; `poll` sends progress 1,
 * ends its response stream (SEP-1699), and once `go` opens sends progress 2 and its answer; anything else is
 * echoed. Each request in its own fiber.
 */
const peer = (gates: Gates) => (transport: Transport.Transport): Effect.Effect<void> => {
  const answer = (request: JsonRpc.Request) => {
    const progress = (n: number) =>
      transport.send(JsonRpc.notification("notifications/progress", { progressToken: 1, progress: n }), { relatedRequestId: request.id })
    switch (request.method) {
      case "initialize":
        return transport.send(JsonRpc.success(request.id, {
          protocolVersion: "2025-11-25",
          capabilities: {},
          serverInfo: { name: "peer", version: "1" }
        }))
      case "block":
        return Effect.andThen(Deferred.await(gates.block), transport.send(JsonRpc.success(request.id, { blocked: true })))
      case "notify":
        // a message that belongs to no request: the GET stream's
        return Effect.andThen(
          transport.send(JsonRpc.notification("notifications/message", { level: "info", data: (request.params as { readonly n?: unknown } | undefined)?.n })),
          transport.send(JsonRpc.success(request.id, {}))
        )
      case "poll":
        return Effect.gen(function*() {
          yield* progress(1)
          if (transport.closeRequestStream !== undefined) yield* transport.closeRequestStream(request.id)
          yield* Deferred.await(gates.go)
          yield* progress(2)
          yield* transport.send(JsonRpc.success(request.id, { polled: true }))
        })
      default:
        return transport.send(JsonRpc.success(request.id, request.params ?? {}))
    }
  }
  const received: Array<string> = []
  gates.received.push(received)
  return Effect.scoped(transport.incoming.pipe(
    Stream.runForEach((decoded) => {
      if (Result.isFailure(decoded) || Array.isArray(decoded.success)) return Effect.void
      const message = decoded.success as JsonRpc.Message
      if ("method" in message) received.push(message.method)
      return JsonRpc.isRequest(message) ? Effect.asVoid(Effect.forkScoped(Effect.ignore(answer(message)))) : Effect.void
    })
  )).pipe(Effect.ignore)
}

/** Starts the runtime-hosted server (tier 4 listener, tier 3 connections, tier-2 state); its address and the services. */
const host = (options: Partial<StreamableHttpServer.Options> = {}) =>
  Effect.gen(function*() {
    const runtime = yield* Runtime.Runtime
    yield* until("the tree is up", allRunning(runtime))
    const transports = yield* Tiers.TransportTier
    const servers = yield* Tiers.ServerTier
    const gates: Gates = { block: yield* Deferred.make<void>(), go: yield* Deferred.make<void>(), received: [] }
    const ready = yield* Deferred.make<StreamableHttpServer.HttpServer>()
    // the listener of now (a restarted one replaces it)
    const current: { listening?: StreamableHttpServer.HttpServer } = {}
    yield* transports.startTransport("http", Effect.scoped(Effect.gen(function*() {
      const state = yield* HttpState.options
      const listening = yield* StreamableHttpServer.serve({ port: 0, ...options, ...state }, servers.handler(peer(gates)))
      current.listening = listening
      yield* Deferred.succeed(ready, listening)
      return yield* Effect.never
    })))
    return {
      runtime,
      gates,
      current,
      listening: yield* Deferred.await(ready),
      sessions: yield* SessionManager.SessionManager,
      events: yield* EventStore.EventStore
    }
  })

interface Reply {
  readonly status: number
  readonly session: string | undefined
  readonly retryAfter: string | null
  readonly body: string
}

const json = { "content-type": "application/json", accept: "application/json, text/event-stream" }
const withSession = (session: string | undefined) =>
  session === undefined ? {} : { "mcp-session-id": session, "mcp-protocol-version": "2025-11-25" }

/** One raw HTTP request, its body read to the end. */
const send = (url: string, method: string, headers: Record<string, string>, body?: unknown) =>
  Effect.promise(async (): Promise<Reply> => {
    const response = await fetch(url, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) })
    return {
      status: response.status,
      session: response.headers.get("mcp-session-id") ?? undefined,
      retryAfter: response.headers.get("retry-after"),
      body: await response.text()
    }
  })
const post = (url: string, body: unknown, session?: string) => send(url, "POST", { ...json, ...withSession(session) }, body)

const initialize = JsonRpc.request(1, "initialize", {
  protocolVersion: "2025-11-25",
  capabilities: {},
  clientInfo: { name: "raw", version: "1" }
})
const initialized = JsonRpc.notification("notifications/initialized")
const ping = (id: number) => JsonRpc.request(id, "ping")

/** A session whose client came back after `initialize` (in use: never evicted). */
const openSession = (url: string) =>
  Effect.gen(function*() {
    const init = yield* post(url, initialize)
    expect(init.status).toBe(200)
    expect((yield* post(url, initialized, init.session)).status).toBe(202)
    return init.session!
  })

/** A client of our own transport (`StreamableHttpClient`), calling the peer's methods by request and answer. */
const connect = (url: string) =>
  Effect.gen(function*() {
    const transport = yield* StreamableHttpClient.connect({ url, standaloneStream: false })
    const answers = new Map<JsonRpc.RequestId, Deferred.Deferred<JsonRpc.Message>>()
    yield* Effect.forkScoped(Stream.runForEach(transport.incoming, (decoded) => {
      if (Result.isFailure(decoded) || Array.isArray(decoded.success)) return Effect.void
      const message = decoded.success as JsonRpc.Message
      const waiting = JsonRpc.isResponse(message) && message.id !== null ? answers.get(message.id) : undefined
      return waiting === undefined ? Effect.void : Effect.asVoid(Deferred.succeed(waiting, message))
    }))
    let next = 100
    const request = (method: string, params?: JsonRpc.Params) =>
      Effect.gen(function*() {
        const id = next++
        const answer = yield* Deferred.make<JsonRpc.Message>()
        answers.set(id, answer)
        yield* Effect.orDie(transport.send(JsonRpc.request(id, method, params)))
        return yield* Deferred.await(answer)
      })
    yield* request("initialize", initialize.params)
    yield* Effect.orDie(transport.send(initialized))
    return { request }
  })

/** An SSE event as read: its id and its message. */
interface SseEvent {
  readonly id: string | undefined
  readonly data: unknown
}

/**
 * Opens a GET stream and reads its events until `enough` holds (real time, at most 5 s), then closes it;
 * `during` runs once the stream is open.
 */
const readSse = (
  url: string,
  headers: Record<string, string>,
  enough: (events: ReadonlyArray<SseEvent>) => boolean,
  during?: Effect.Effect<unknown>
) =>
  Effect.promise(async () => {
    const controller = new AbortController()
    const bound = setTimeout(() => controller.abort(), 5_000)
    const events: Array<SseEvent> = []
    let status = 0
    try {
      const response = await fetch(url, { method: "GET", headers, signal: controller.signal })
      status = response.status
      if (during !== undefined) await Effect.runPromise(during)
      const reader = response.body!.getReader()
      const decoder = new TextDecoder()
      let buffer = ""
      while (!enough(events)) {
        const { done, value } = await reader.read()
        if (done) break
        buffer += decoder.decode(value, { stream: true })
        for (let end = buffer.indexOf("\n\n"); end !== -1; end = buffer.indexOf("\n\n")) {
          const block = buffer.slice(0, end)
          buffer = buffer.slice(end + 2)
          const id = /^id: (.+)$/m.exec(block)?.[1]
          const data = /^data: (.+)$/m.exec(block)?.[1]
          if (data !== undefined) events.push({ id, data: JSON.parse(data) })
        }
      }
    } catch {
      // aborted: the bound, or the test is done
    } finally {
      clearTimeout(bound)
      controller.abort()
    }
    return { status, events }
  })

const notice = (n: number) => ({ jsonrpc: "2.0", method: "notifications/message", params: { level: "info", data: n } })

const testLayer = (infrastructure: Tiers.InfrastructureTierOptions) =>
  Layer.merge(runtimeLayer({ infrastructure }), JsonRpcCodec.JsonRpcCodec.layer)

describe("HttpState: the Streamable HTTP server's sessions and event stores in tier 2", () => {
  it.effect("FM-41 sessions live in the SessionManager: its expiry ends the HTTP session (404) and drops its event store; the client initializes again and carries on", () =>
    quiet(Effect.gen(function*() {
      const { events, listening, sessions } = yield* host({ response: "sse" })
      const client = yield* connect(listening.url)
      expect(yield* client.request("echo", { n: 1 })).toMatchObject({ result: { n: 1 } })
      const raw = yield* openSession(listening.url)
      expect((yield* post(listening.url, ping(2), raw)).status).toBe(200)
      // the HTTP sessions are the SessionManager's, in use; their SSE events are in the EventStore
      expect(yield* sessions.size).toBe(2)
      expect(yield* listening.sessions).toBe(2)
      expect(yield* sessions.get(raw)).toMatchObject({ id: raw, provisional: false, busy: false })
      expect(yield* events.sessions).toBe(2)

      yield* TestClock.adjust("70 seconds") // idle 1 minute, swept every 10 s
      yield* eventually("the HTTP sessions ended", Effect.map(listening.sessions, (n) => n === 0))
      expect(yield* sessions.size).toBe(0)
      expect(yield* events.sessions).toBe(0)
      expect((yield* listening.stats).sessionsExpired).toBe(2)
      const gone = yield* post(listening.url, ping(3), raw)
      expect(gone.status).toBe(404)
      expect(JSON.parse(gone.body).error.code).toBe(-32001)

      // the client gets 404 too, initializes again by itself and is answered
      expect(yield* client.request("echo", { n: 2 })).toMatchObject({ result: { n: 2 } })
      expect((yield* listening.stats).sessionsCreated).toBe(3)
      expect(yield* sessions.size).toBe(1)
    }).pipe(Effect.scoped, Effect.provide(testLayer({ sessions: { idleTimeout: "1 minute", sweepInterval: "10 seconds" } })))))

  it.effect("FM-41 a session with a request in flight does not expire; the answer counts as activity", () =>
    quiet(Effect.gen(function*() {
      const { gates, listening, sessions } = yield* host()
      const session = yield* openSession(listening.url)
      const blocked = yield* Effect.forkChild(post(listening.url, JsonRpc.request(2, "block"), session))
      yield* eventually("busy", Effect.map(sessions.get(session), (s) => s.busy))
      yield* TestClock.adjust("3 minutes")
      yield* settle
      expect(yield* listening.sessions).toBe(1)
      yield* Deferred.succeed(gates.block, undefined)
      expect(yield* Fiber.join(blocked)).toMatchObject({ status: 200 })
      expect(yield* sessions.get(session)).toMatchObject({ busy: false, lastActivity: 180_000 })
      yield* TestClock.adjust("50 seconds")
      yield* settle
      expect(yield* listening.sessions).toBe(1)
      yield* TestClock.adjust("20 seconds")
      yield* eventually("expired", Effect.map(listening.sessions, (n) => n === 0))
      expect((yield* post(listening.url, ping(3), session)).status).toBe(404)
    }).pipe(Effect.scoped, Effect.provide(testLayer({ sessions: { idleTimeout: "1 minute", sweepInterval: "10 seconds" } })))))

  it.effect("FM-36 past the SessionManager's bound a never-used session is evicted (404), sessions in use never are; with all in use a new one gets 503 with Retry-After", () =>
    quiet(Effect.gen(function*() {
      const { listening, sessions } = yield* host()
      const a = yield* openSession(listening.url)
      const b = yield* post(listening.url, initialize) // the client never comes back
      expect(b.status).toBe(200)
      const c = yield* post(listening.url, initialize)
      expect(c.status).toBe(200)
      yield* eventually("b evicted", Effect.map(listening.stats, (s) => s.sessionsEvicted === 1))
      expect((yield* post(listening.url, ping(2), b.session)).status).toBe(404)
      expect((yield* post(listening.url, ping(3), a)).status).toBe(200)
      expect((yield* post(listening.url, initialized, c.session)).status).toBe(202)

      // both in use: the next session is refused, and nothing is evicted
      const refused = yield* post(listening.url, initialize)
      expect(refused.status).toBe(503)
      expect(refused.retryAfter).toBe("1")
      expect(JSON.parse(refused.body)).toMatchObject({ id: 1, error: { code: -32010, data: { retryAfterMs: 1000 } } })
      expect(yield* sessions.size).toBe(2)
      expect(yield* listening.stats).toMatchObject({ sessionsCreated: 3, sessionsEvicted: 1, rejectedOverloaded: 1 })
      expect((yield* post(listening.url, ping(4), a)).status).toBe(200)
      expect((yield* post(listening.url, ping(5), c.session)).status).toBe(200)

      // a session ended by its client makes room
      expect((yield* send(listening.url, "DELETE", withSession(a))).status).toBe(200)
      expect(yield* sessions.size).toBe(1)
      expect((yield* post(listening.url, initialize)).status).toBe(200)
    }).pipe(Effect.scoped, Effect.provide(testLayer({ sessions: { maxSessions: 2 } })))))

  it.effect("FM-41 a crash of the SessionManager's sweeper loses no HTTP session: they are served through its restart, and the restarted sweeper expires them", () =>
    quiet(Effect.gen(function*() {
      const { listening, runtime, sessions } = yield* host()
      const a = yield* openSession(listening.url)
      const b = yield* openSession(listening.url)
      const before = yield* memberGenerations(runtime, "infrastructure")
      expect(yield* runtime.crash("infrastructure/sessions/sweeper", "FM-41")).toBe(true)
      yield* settle
      // while it is down (the backoff is 50 ms) and after it is back, the sessions are there
      expect((yield* post(listening.url, ping(2), a)).status).toBe(200)
      yield* TestClock.adjust("50 millis")
      yield* eventually("sweeper restarted", Effect.map(memberGenerations(runtime, "infrastructure"), (m) => m["sessions/sweeper"] !== before["sessions/sweeper"]))
      expect((yield* post(listening.url, ping(3), a)).status).toBe(200)
      expect((yield* post(listening.url, ping(4), b)).status).toBe(200)
      expect(yield* sessions.size).toBe(2)
      expect(yield* listening.sessions).toBe(2)
      expect((yield* listening.stats).sessionsExpired).toBe(0)

      yield* TestClock.adjust("2 minutes")
      yield* eventually("expired by the restarted sweeper", Effect.map(listening.sessions, (n) => n === 0))
      expect((yield* post(listening.url, ping(5), a)).status).toBe(404)
      expect((yield* post(listening.url, ping(6), b)).status).toBe(404)
    }).pipe(Effect.scoped, Effect.provide(testLayer({ sessions: { idleTimeout: "1 minute", sweepInterval: "10 seconds" } })))))

  it.effect("FM-52 a crash of the EventStore's janitor loses no event: a stream the server ended is resumed with Last-Event-ID from the tier-2 store", () =>
    quiet(Effect.gen(function*() {
      const { events, gates, listening, runtime } = yield* host()
      const session = yield* openSession(listening.url)
      // progress 1, then the server ends the response on purpose (retry); the request goes on
      const first = yield* post(listening.url, JsonRpc.request(2, "poll"), session)
      expect(first.status).toBe(200)
      expect(first.body).toContain("retry: 1000")
      const ids = [...first.body.matchAll(/^id: (\S+)$/gm)].map((m) => m[1]!)
      const last = ids[ids.length - 1]!
      const stream = last.slice(0, last.lastIndexOf("."))
      expect(first.body).toContain(`"progress":1`)

      const before = yield* memberGenerations(runtime, "infrastructure")
      expect(yield* runtime.crash("infrastructure/event-store/janitor", "FM-52")).toBe(true)
      yield* TestClock.adjust("50 millis")
      yield* eventually("janitor restarted", Effect.map(memberGenerations(runtime, "infrastructure"), (m) => m["event-store/janitor"] !== before["event-store/janitor"]))

      // the rest is sent while no response is open: it is kept in the tier-2 store only
      yield* Deferred.succeed(gates.go, undefined)
      yield* eventually("kept", Effect.map(events.after(session, stream, 0), (kept) => kept.length === 3))
      expect(yield* events.sessions).toBe(1)
      const resumed = yield* send(listening.url, "GET", { accept: "text/event-stream", ...withSession(session), "last-event-id": last })
      expect(resumed.status).toBe(200)
      const replayed = [...resumed.body.matchAll(/^data: (.+)$/gm)].map((m) => JSON.parse(m[1]!))
      expect(replayed).toEqual([
        { jsonrpc: "2.0", method: "notifications/progress", params: { progressToken: 1, progress: 2 } },
        { jsonrpc: "2.0", id: 2, result: { polled: true } }
      ])
    }).pipe(Effect.scoped, Effect.provide(testLayer({})))))

  it.effect("FM-52 a crashed listener loses no session: restarted by its tier, it rebuilds the session at its next request (same id, no 404, no new initialize; the set-up replayed to a new server), and a GET resumed with Last-Event-ID gets what was sent after the stream closed", () =>
    quiet(Effect.gen(function*() {
      const port = yield* freePort
      const { current, gates, listening, runtime, sessions } = yield* host({ port })
      const url = listening.url
      const session = yield* openSession(url)
      expect((yield* post(url, JsonRpc.request(2, "logging/setLevel", { level: "debug" }), session)).status).toBe(200)
      // the GET stream gets notice 1; notice 2 is sent once it is closed: kept in the event store only
      const first = yield* readSse(
        url,
        { accept: "text/event-stream", ...withSession(session) },
        (events) => events.length >= 1,
        post(url, JsonRpc.request(3, "notify", { n: 1 }), session)
      )
      expect(first.events.map((e) => e.data)).toEqual([notice(1)])
      const seen = first.events[0]!.id!
      expect((yield* post(url, JsonRpc.request(4, "notify", { n: 2 }), session)).status).toBe(200)
      expect(gates.received).toHaveLength(1)

      // the listener crashes; its tier restarts it on its port after the backoff
      expect(yield* runtime.crash("transports/http", "FM-52")).toBe(true)
      for (let i = 0; i < 200 && current.listening === listening; i++) {
        yield* TestClock.adjust("100 millis")
        yield* Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, 5)))
      }
      expect(current.listening).not.toBe(listening)
      const restarted = current.listening!
      expect(restarted.port).toBe(port)

      // the same client, the same session: served, not 404
      const reply = yield* post(url, ping(5), session)
      expect(reply.status).toBe(200)
      expect(reply.session).toBe(session)
      expect(JSON.parse(reply.body)).toEqual({ jsonrpc: "2.0", id: 5, result: {} })
      // a new server got the session's set-up, in order, then the request
      expect(gates.received).toHaveLength(2)
      expect(gates.received[1]).toEqual(["initialize", "notifications/initialized", "logging/setLevel", "ping"])
      expect(yield* restarted.stats).toMatchObject({ sessionsCreated: 0, sessionsRestored: 1, restoresFailed: 0 })
      expect(yield* sessions.size).toBe(1)

      // resumed from the last event seen: notice 2 (from the old stream), then the new stream's notice 3
      const resumed = yield* readSse(
        url,
        { accept: "text/event-stream", ...withSession(session), "last-event-id": seen },
        (events) => events.length >= 2,
        post(url, JsonRpc.request(6, "notify", { n: 3 }), session)
      )
      expect(resumed.status).toBe(200)
      expect(resumed.events.map((e) => e.data)).toEqual([notice(2), notice(3)])
      expect(resumed.events[0]!.id!.split(".")[0]).toBe(seen.split(".")[0])
      expect(resumed.events[1]!.id).toMatch(/^g-/)
      expect(resumed.events[1]!.id!.split(".")[0]).not.toBe(seen.split(".")[0])

      // it ends as any session does
      expect((yield* send(url, "DELETE", withSession(session))).status).toBe(200)
      expect((yield* post(url, ping(7), session)).status).toBe(404)
    }).pipe(Effect.scoped, Effect.provide(testLayer({})))))

  it.effect("FM-52 with the SessionManager's snapshot a session outlives the process: a new runtime on the same file serves it under its id, its set-up replayed; a session deleted meanwhile is not", () =>
    quiet(Effect.gen(function*() {
      const dir = fs.mkdtempSync(nodePath.join(os.tmpdir(), "effect-mcp-sessions-"))
      const path = nodePath.join(dir, "sessions.json")
      const layer = () => testLayer({ sessions: { snapshot: { path } } })
      const port = yield* freePort
      const url = `http://127.0.0.1:${port}/mcp`
      yield* Effect.gen(function*() {
        const [kept, deleted] = yield* Effect.gen(function*() {
          yield* host({ port })
          const a = yield* openSession(url)
          expect((yield* post(url, JsonRpc.request(2, "logging/setLevel", { level: "debug" }), a)).status).toBe(200)
          const b = yield* openSession(url)
          expect((yield* send(url, "DELETE", withSession(b))).status).toBe(200)
          return [a, b] as const
        }).pipe(Effect.scoped, Effect.provide(layer()))
        // the first runtime is gone (its port too); the snapshot holds the session
        expect(JSON.parse(fs.readFileSync(path, "utf8")).sessions.map((s: { id: string }) => s.id)).toEqual([kept])

        yield* Effect.gen(function*() {
          const { gates, listening } = yield* host({ port })
          const reply = yield* post(url, ping(9), kept)
          expect(reply.status).toBe(200)
          expect(reply.session).toBe(kept)
          expect(gates.received[0]).toEqual(["initialize", "notifications/initialized", "logging/setLevel", "ping"])
          expect((yield* listening.stats).sessionsRestored).toBe(1)
          expect((yield* post(url, ping(10), deleted)).status).toBe(404)
        }).pipe(Effect.scoped, Effect.provide(layer()))
      }).pipe(Effect.ensuring(Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))))
    })))

  it.effect("FM-36 SessionManager: provisional sessions make room, oldest first; touched and plain ones never; a busy session does not expire", () =>
    Effect.gen(function*() {
      const sessions = yield* SessionManager.SessionManager
      const ended = yield* Effect.forkChild(Stream.runCollect(Stream.take(sessions.ended, 5)))
      yield* settle
      yield* sessions.open("plain")
      yield* sessions.open("p1", { provisional: true })
      yield* sessions.open("p2", { provisional: true })
      yield* sessions.touch("p2")
      yield* sessions.open("p3", { provisional: true }) // p1 goes
      yield* sessions.open("p4", { provisional: true }) // p3 goes
      yield* sessions.touch("p4")
      expect(yield* Effect.flip(sessions.open("p5", { provisional: true }))).toMatchObject({ _tag: "SessionLimitReached", mode: "FM-36", limit: 3 })
      expect(yield* Effect.flip(sessions.get("p1"))).toMatchObject({ _tag: "SessionNotFound" })
      expect(yield* sessions.size).toBe(3)

      yield* sessions.setBusy("plain", true)
      yield* TestClock.adjust("2 minutes")
      expect(yield* sessions.get("plain")).toMatchObject({ busy: true, lastActivity: 0 })
      yield* sessions.setBusy("plain", false)
      yield* TestClock.adjust("50 seconds")
      expect(yield* sessions.size).toBe(1)
      yield* TestClock.adjust("10 seconds")
      expect(yield* Fiber.join(ended)).toEqual([
        { id: "p1", reason: "evicted" },
        { id: "p3", reason: "evicted" },
        { id: "p2", reason: "expired" },
        { id: "p4", reason: "expired" },
        { id: "plain", reason: "expired" }
      ])
    }).pipe(Effect.provide(SessionManager.SessionManager.layer({ maxSessions: 3, idleTimeout: "1 minute", sweepInterval: "10 seconds" }))))
})
