/**
 * FM-09 (connection leak on process crash), with real sockets and real processes, in real time:
 *
 * - a TCP or WebSocket listener is a tier-4 transport whose accepted connections are tier-3 servers
 *   (`ServerTier.handler`); when the listener, or the whole transport tier, crashes and restarts, every
 *   accepted connection is closed (each client sees its connection end, and no socket of the process is left
 *   open), requests in flight fail with a typed `ConnectionClosed`, their handlers are interrupted, the
 *   connection servers are gone, and the listener listens again on its port;
 * - a stdio server whose parent is killed with SIGKILL (no chance to close anything) sees EOF on stdin and
 *   exits by itself within seconds: no orphan process.
 */
import { describe, expect, it } from "@effect/vitest"
import * as childProcess from "node:child_process"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import { pathToFileURL } from "node:url"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import { Protocol, type Transport } from "@effect-mcp/core"
import { JsonRpcCodec } from "@effect-mcp/jsonrpc"
import { ResourceMonitor, Runtime, Tiers } from "@effect-mcp/runtime"
import { TcpTransport, WebSocketTransport } from "@effect-mcp/transports"
import { sampleMain } from "../../../test/support/sample.ts"
import { freePort, quiet } from "./support/world.ts"

const layer = Layer.merge(
  Runtime.Runtime.layer({ faultInjection: true, resourceSource: ResourceMonitor.Source.fromSync(() => ({})) }),
  JsonRpcCodec.JsonRpcCodec.layer
)

/** Polls `effect` in real time (every 10 ms, at most `ms`) until `ok` holds; dies otherwise. */
const eventually = <A, E, R>(what: string, effect: Effect.Effect<A, E, R>, ok: (a: A) => boolean, ms = 5_000) =>
  Effect.gen(function*() {
    for (let waited = 0; waited <= ms; waited += 10) {
      const a = yield* effect
      if (ok(a)) return a
      yield* Effect.sleep("10 millis")
    }
    return yield* Effect.die(new Error(`never: ${what}`))
  })

/** The process's open TCP sockets and listening servers (both ends of every loopback connection count). */
const handles = Effect.sync(() => {
  const info = process.getActiveResourcesInfo()
  return { sockets: info.filter((r) => r === "TCPSocketWrap").length, servers: info.filter((r) => r === "TCPServerWrap").length }
})

/** Clients per test, each with a request in flight when the listener crashes. */
const CLIENTS = 8

/** What the server side saw. */
interface Probe {
  started: number
  interrupted: number
}

/** A connection's server: `slow` never answers (a request in flight), `ping` answers; returns when the connection ends. */
const serveConnection = (probe: Probe) => (transport: Transport.Transport): Effect.Effect<void> =>
  Effect.scoped(Effect.gen(function*() {
    const protocol = yield* Protocol.make(transport, {
      handler: (method) =>
        method === "slow"
          ? () => Effect.andThen(Effect.sync(() => probe.started++), Effect.never).pipe(Effect.onInterrupt(() => Effect.sync(() => probe.interrupted++)))
          : method === "ping"
          ? () => Effect.succeed({})
          : undefined
    })
    yield* protocol.closed
  }))

/** One kind of socket transport: its listener and its client. */
interface Kind {
  readonly name: string
  readonly listen: (
    port: number,
    handle: (transport: Transport.Transport) => Effect.Effect<void>
  ) => Effect.Effect<{ readonly connections: Effect.Effect<number> }, Transport.TransportFailure, JsonRpcCodec.JsonRpcCodec | Scope.Scope>
  readonly connect: (port: number) => Effect.Effect<Transport.Transport, unknown, JsonRpcCodec.JsonRpcCodec | Scope.Scope>
}

const kinds: ReadonlyArray<Kind> = [
  {
    name: "tcp",
    listen: (port, handle) => TcpTransport.serve({ port, closeTimeout: "500 millis" }, handle),
    connect: (port) => TcpTransport.connect({ port, connectTimeout: "1 second" })
  },
  {
    name: "websocket",
    listen: (port, handle) => WebSocketTransport.serve({ port }, handle),
    connect: (port) => WebSocketTransport.connect(`ws://127.0.0.1:${port}/mcp`, { connectTimeout: "1 second" })
  }
]

/** A client: a protocol engine in its own scope, closed by `close`. */
const client = (kind: Kind, port: number) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const protocol = yield* Effect.flatMap(kind.connect(port), (transport) => Protocol.make(transport, { handler: () => undefined })).pipe(
      Scope.provide(scope)
    )
    return { protocol, close: Scope.close(scope, Exit.void) }
  })

/** The tests' names, written out (the FMEA catalogue cites them). */
const names: Record<string, string> = {
  "tcp transports/listener": "FM-09 tcp: a crash of the listener closes every accepted connection (no socket left open), fails in-flight requests with ConnectionClosed, and the listener listens again on its port",
  "tcp tier/transports": "FM-09 tcp: a crash of the whole transport tier closes every accepted connection (no socket left open), fails in-flight requests with ConnectionClosed, and the listener listens again on its port",
  "websocket transports/listener": "FM-09 websocket: a crash of the listener closes every accepted connection (no socket left open), fails in-flight requests with ConnectionClosed, and the listener listens again on its port",
  "websocket tier/transports": "FM-09 websocket: a crash of the whole transport tier closes every accepted connection (no socket left open), fails in-flight requests with ConnectionClosed, and the listener listens again on its port"
}

describe("FM-09 connections are not leaked when their transport crashes (real sockets)", () => {
  for (const kind of kinds) {
    for (const target of ["transports/listener", "tier/transports"] as const) {
      it.live(names[`${kind.name} ${target}`]!, () =>
        quiet(Effect.gen(function*() {
          const runtime = yield* Runtime.Runtime
          const servers = yield* Tiers.ServerTier
          const transports = yield* Tiers.TransportTier
          const before = yield* handles // (taken before the port probe, whose closed server may linger in the list a moment)
          const port = yield* freePort
          const probe: Probe = { started: 0, interrupted: 0 }
          const listeners: Array<{ readonly connections: Effect.Effect<number> }> = []
          yield* transports.startTransport("listener", Effect.scoped(Effect.gen(function*() {
            listeners.push(yield* kind.listen(port, servers.handler(serveConnection(probe))))
            return yield* Effect.never
          })))
          yield* eventually("listening", Effect.sync(() => listeners.length), (n) => n === 1)

          // eight clients, each with a request in flight on the server
          const clients = yield* Effect.forEach(Array.from({ length: CLIENTS }, (_, i) => i), () => client(kind, port))
          const inFlight = yield* Effect.forEach(clients, (c) => Effect.forkChild(Effect.flip(c.protocol.request("slow", {}, { timeout: "1 minute" }))))
          yield* eventually("requests in flight", Effect.sync(() => probe.started), (n) => n === CLIENTS)
          expect(yield* clients[0]!.protocol.request("ping")).toEqual({})
          expect(yield* listeners[0]!.connections).toBe(CLIENTS)
          expect((yield* servers.servers).filter((s) => s.running)).toHaveLength(CLIENTS)
          const open = yield* handles
          expect(open.sockets - before.sockets).toBe(2 * CLIENTS) // both ends of every loopback connection
          expect(open.servers - before.servers).toBe(1)

          const crashedAt = Date.now()
          expect(yield* runtime.crash(target, "FM-09")).toBe(true)

          // every request in flight fails, typed, at once: not after its 1-minute timeout, and not one close
          // timeout (500 ms) per connection (the connections close together, not one after another)
          for (const fiber of inFlight) {
            const error = yield* Fiber.join(fiber).pipe(Effect.timeout("5 seconds"))
            expect(error).toMatchObject({ _tag: "ConnectionClosed", mode: "FM-40" })
          }
          expect(Date.now() - crashedAt).toBeLessThan(1_000)
          // every client sees its connection end
          for (const c of clients) yield* c.protocol.closed.pipe(Effect.timeout("5 seconds"))
          // server side: handlers interrupted, connection servers gone, the old listener has no connection
          yield* eventually("handlers interrupted", Effect.sync(() => probe.interrupted), (n) => n === CLIENTS)
          yield* eventually("connection servers gone", servers.servers, (list) => list.length === 0)
          yield* eventually("the old listener has no connection", listeners[0]!.connections, (n) => n === 0)
          // the listener comes back on its port (after the backoff), and the old one is closed
          yield* eventually("listening again", Effect.sync(() => listeners.length), (n) => n === 2)
          expect(Date.now() - crashedAt).toBeLessThan(2_500) // one close timeout, plus the backoff
          // the server's ends are closed without the clients' help (at most the clients' own ends remain)...
          yield* eventually("the server's ends closed", handles, (h) => h.sockets - before.sockets <= CLIENTS)
          // ...and once the clients close theirs, no socket is left
          for (const c of clients) yield* c.close
          const after = yield* eventually("no socket left open", handles, (h) => h.sockets === before.sockets)
          expect(after.servers - before.servers).toBe(1)

          const again = yield* client(kind, port)
          expect(yield* again.protocol.request("ping")).toEqual({})
          expect(yield* listeners[1]!.connections).toBe(1)
          yield* again.close
          yield* eventually("closed", handles, (h) => h.sockets === before.sockets)
        }).pipe(Effect.provide(layer))), 30_000)
    }
  }
})

/** Is the process gone (or a zombie nobody has reaped yet)? */
const exited = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
  } catch {
    return true
  }
  try {
    // "pid (comm) S ..." — the state follows the last ")"
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) === "Z"
  } catch {
    return true
  }
}

/** The parent: starts the sample server on stdio (one Node process, tsx as a loader), initializes it, prints its pid, and waits. */
const parentScript = (tsxLoader: string, main: string) => `
const { spawn } = require("node:child_process")
const child = spawn(process.execPath, ["--import", ${JSON.stringify(tsxLoader)}, ${JSON.stringify(main)}, "--transport", "stdio"], { stdio: ["pipe", "pipe", "ignore"] })
let out = ""
child.stdout.setEncoding("utf8").on("data", (data) => {
  out += data
  if (out.includes('"id":1')) { process.stdout.write("ready " + child.pid + "\\n"); out = "" }
})
child.stdin.write(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "parent", version: "1" } } }) + "\\n")
child.stdin.write(JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }) + "\\n")
process.stdin.resume()
`

describe("FM-09 a stdio server outlives no parent (real processes)", () => {
  it.live("FM-09 stdio: a server whose parent is killed with SIGKILL exits by itself on stdin EOF within seconds", () =>
    Effect.gen(function*() {
      const tsxLoader = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href
      const parent = yield* Effect.acquireRelease(
        Effect.sync(() => childProcess.spawn(process.execPath, ["-e", parentScript(tsxLoader, sampleMain)], { stdio: ["pipe", "pipe", "inherit"] })),
        (p) => Effect.sync(() => p.kill("SIGKILL"))
      )
      const pid = yield* Effect.callback<number, Error>((resume) => {
        let out = ""
        parent.stdout!.setEncoding("utf8").on("data", (data: string) => {
          out += data
          const match = /ready (\d+)/.exec(out)
          if (match !== null) resume(Effect.succeed(Number(match[1])))
        })
        parent.once("exit", (code) => resume(Effect.fail(new Error(`the parent exited early (${code})`))))
      }).pipe(Effect.timeout("20 seconds"))
      // if the test fails, the orphan must not outlive it
      yield* Effect.addFinalizer(() => Effect.sync(() => {
        if (!exited(pid)) process.kill(pid, "SIGKILL")
      }))
      expect(exited(pid)).toBe(false)

      parent.kill("SIGKILL") // no finalizer runs in the parent: only the kernel closes its end of the pipes
      const killedAt = Date.now()
      yield* eventually("the orphaned server exited", Effect.sync(() => exited(pid)), (gone) => gone, 5_000)
      expect(Date.now() - killedAt).toBeLessThan(5_000)
    }), 30_000)
})
