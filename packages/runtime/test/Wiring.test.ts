/**
 * The tiers around a real listener: Streamable HTTP as a tier-4 transport whose connections are tier-3
 * servers (`ServerTier.handler`), with the health routes on the same port. Real time and real sockets.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import type { Transport } from "@effect-mcp/core"
import { JsonRpc, JsonRpcCodec } from "@effect-mcp/jsonrpc"
import { StreamableHttpServer } from "@effect-mcp/transports"
import { Health, Registry, ResourceMonitor, Runtime, Tiers } from "@effect-mcp/runtime"
import { freePort, quiet } from "./support/world.ts"

/** A minimal MCP peer on a transport: answers initialize and ping. */
const echo = (transport: Transport.Transport): Effect.Effect<void> =>
  transport.incoming.pipe(
    Stream.runForEach((decoded) => {
      if (Result.isFailure(decoded) || Array.isArray(decoded.success)) return Effect.void
      const message = decoded.success as JsonRpc.Message
      if (!JsonRpc.isRequest(message)) return Effect.void
      const result = message.method === "initialize"
        ? { protocolVersion: "2025-11-25", capabilities: {}, serverInfo: { name: "echo", version: "1" } }
        : {}
      return Effect.ignore(transport.send(JsonRpc.success(message.id, result)))
    }),
    Effect.ignore
  )

const json = { "content-type": "application/json", accept: "application/json, text/event-stream" }
const post = (url: string, body: unknown, session?: string) =>
  Effect.promise(async () => {
    const response = await fetch(url, {
      method: "POST",
      headers: { ...json, ...(session === undefined ? {} : { "mcp-session-id": session, "mcp-protocol-version": "2025-11-25" }) },
      body: JSON.stringify(body)
    })
    return { status: response.status, session: response.headers.get("mcp-session-id") ?? undefined, body: await response.text() }
  })
const initialize = { jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "t", version: "1" } } }
const ping = (id: number) => ({ jsonrpc: "2.0", id, method: "ping" })

/** A request that may find nobody listening yet (`undefined`). */
const attempt = <A>(effect: Effect.Effect<A>) => Effect.map(Effect.exit(effect), (exit) => (exit._tag === "Success" ? exit.value : undefined))

const eventually = <A, E>(what: string, effect: Effect.Effect<A, E>, ok: (a: A) => boolean) =>
  Effect.gen(function*() {
    for (let i = 0; i < 200; i++) {
      const a = yield* effect
      if (ok(a)) return a
      yield* Effect.sleep("10 millis")
    }
    return yield* Effect.die(new Error(`never: ${what}`))
  })

const layer = Layer.merge(
  Runtime.Runtime.layer({ faultInjection: true, resourceSource: ResourceMonitor.Source.fromSync(() => ({})) }),
  JsonRpcCodec.JsonRpcCodec.layer
)

describe("wiring: Streamable HTTP under the tiers", () => {
  it.live("each connection is a tier-3 server; a crashed one loses its connection only, and its session gets a new server at the next request (FM-52); a crashed listener comes back on its port", () =>
    quiet(Effect.gen(function*() {
      const runtime = yield* Runtime.Runtime
      const servers = yield* Tiers.ServerTier
      const transports = yield* Tiers.TransportTier
      const registry = yield* Registry.Registry
      const health = yield* Health.Health
      const port = yield* freePort
      const routes = yield* health.routes()
      yield* transports.startTransport("http", Effect.andThen(
        StreamableHttpServer.serve({ port, routes }, servers.handler(echo)),
        Effect.never
      ).pipe(Effect.scoped))
      const url = `http://127.0.0.1:${port}/mcp`

      const a = yield* eventually("listening", attempt(post(url, initialize)), (r) => r?.status === 200)
      const b = yield* post(url, initialize)
      expect((yield* servers.servers).map((s) => [s.id, s.running])).toEqual([["conn/1", true], ["conn/2", true]])
      expect(yield* registry.lookup("server/conn/1")).toEqual(Option.some("conn/1"))
      expect((yield* post(url, ping(2), a!.session)).status).toBe(200)

      // one server crashes: the other's session is served throughout; the crashed one's session is rebuilt on a
      // new server (its set-up replayed) at its next request, under the same id
      expect(yield* runtime.crash("servers/conn/1", "FM-38")).toBe(true)
      yield* eventually("conn/1 gone", servers.servers, (list) => list.every((s) => s.id !== "conn/1"))
      expect((yield* post(url, ping(4), b.session)).status).toBe(200)
      const rebuilt = yield* post(url, ping(3), a!.session)
      expect(rebuilt.status).toBe(200)
      expect(rebuilt.session).toBe(a!.session)
      expect((yield* servers.servers).map((s) => s.id)).toEqual(["conn/2", "conn/3"])

      // the listener crashes: its connections end with it; after the backoff it listens again on its port
      expect(yield* runtime.crash("transports/http", "FM-40")).toBe(true)
      const c = yield* eventually("listening again", attempt(post(url, initialize)), (r) => r?.status === 200)
      expect(c!.session).toBeDefined()
      expect((yield* post(url, ping(5), b.session)).status).toBe(404)
      yield* eventually("old servers gone", servers.servers, (list) => list.every((s) => s.id !== "conn/2"))
      expect((yield* eventually("ready", Effect.promise(() => fetch(`http://127.0.0.1:${port}/ready`)), (r) => r.status === 200)).status).toBe(200)
    }).pipe(Effect.provide(layer))))
})
