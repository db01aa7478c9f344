import { describe, expect, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/testing/TestClock"
import { McpClient } from "@effect-mcp/client"
import { MemoryTransport, Transport } from "@effect-mcp/core"
import { JsonRpc, JsonRpcCodec } from "@effect-mcp/jsonrpc"
import { McpServer, Tool } from "@effect-mcp/server"
import * as ReconnectingTransport from "../src/ReconnectingTransport.ts"

const slowCalls = { count: 0 }

const slow = Tool.make("slow", {
  description: "Takes 5 s (of the TestClock) and counts its runs",
  input: Schema.Struct({}),
  handler: () =>
    Effect.sync(() => slowCalls.count++).pipe(Effect.andThen(Effect.sleep("5 seconds")), Effect.as("done"))
})
const echo = Tool.make("echo", {
  description: "echo",
  input: Schema.Struct({ message: Schema.String }),
  handler: ({ message }) => Effect.succeed(message)
})

/**
 * A connect effect over in-memory pairs: fails `failFirst` times (or while `failWhen`), then serves a fresh
 * McpServer connection per attempt (keyed outcomes kept `idempotencyTtl`, default 10 min). `drop` ends the
 * current connection (as a dropped socket would).
 */
const harness = (
  failFirst: number,
  failWhen: (attempt: number) => boolean = (n) => n < failFirst,
  idempotencyTtl?: Duration.Input
) =>
  Effect.gen(function*() {
    const server = yield* McpServer.make({
      info: { name: "s", version: "1" },
      tools: [slow, echo],
      ...(idempotencyTtl === undefined ? {} : { idempotency: { ttl: idempotencyTtl } })
    })
    const attempts = yield* Ref.make(0)
    const live = yield* Ref.make<Effect.Effect<void> | undefined>(undefined)
    const connect = Effect.gen(function*() {
      const n = yield* Ref.getAndUpdate(attempts, (a) => a + 1)
      if (failWhen(n)) return yield* new Transport.TransportFailure({ detail: `refused (attempt ${n})` })
      const [client, serverSide] = yield* MemoryTransport.makePair()
      yield* Effect.forkScoped(server.serve(serverSide))
      yield* Ref.set(live, client.close)
      return client
    })
    const drop = Effect.flatMap(Ref.get(live), (close) => close ?? Effect.void)
    return { connect, attempts, drop }
  })

describe("ReconnectingTransport (FM-07, FM-21, FM-25), on the TestClock", () => {
  it.effect("retries a refused connection with full-jitter delays within the bounds, then connects", () =>
    Effect.gen(function*() {
      const h = yield* harness(5)
      // when each attempt is made (the TestClock wakes each sleep at its own deadline, so the gaps are exact)
      const at: Array<number> = []
      const connect = Effect.flatMap(Clock.currentTimeMillis, (now) => (at.push(now), h.connect))
      const making = yield* Effect.forkChild(ReconnectingTransport.make({ connect }))
      // drive the clock past every backoff (bounds: 1, 2, 4, 8, 16 s)
      for (let i = 0; i < 40; i++) yield* TestClock.adjust("1 second")
      const transport = yield* Fiber.join(making)
      expect(yield* Ref.get(h.attempts)).toBe(6)
      const gaps = at.slice(1).map((t, n) => t - at[n]!)
      const bounds = [1_000, 2_000, 4_000, 8_000, 16_000]
      expect(gaps.length).toBe(5)
      gaps.forEach((gap, n) => {
        expect(gap).toBeGreaterThanOrEqual(0)
        expect(gap).toBeLessThan(bounds[n]!) // full jitter: [0, bound), never the bound itself
      })
      // jittered, not the bound minus a constant: some delay is well below its bound
      expect(gaps.some((gap, n) => gap < bounds[n]! * 0.9)).toBe(true)
      expect((yield* transport.current)._tag).toBe("Connected")
      const client = yield* McpClient.connect(transport, { info: { name: "c", version: "1" }, revisions: ["2025-11-25"] })
      expect((yield* client.callTool("echo", { message: "hi" })).content[0]).toMatchObject({ text: "hi" })
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))

  it.effect("after a drop, the delays on the state stream stay under min(cap, base·2^n); the cap holds", () =>
    Effect.gen(function*() {
      // attempt 0 connects; attempts 1-8 are refused; attempt 9 connects again
      const h = yield* harness(0, (n) => n >= 1 && n <= 8)
      const transport = yield* ReconnectingTransport.make({ connect: h.connect, backoff: { base: "1 second", cap: "4 seconds" } })
      const delays: Array<number> = []
      yield* Effect.forkChild(Stream.runForEach(transport.state, (s) =>
        Effect.sync(() => {
          if (s._tag === "Disconnected") delays.push(s.retryInMs)
        })))
      yield* TestClock.adjust("10 millis")
      yield* h.drop
      for (let i = 0; i < 60; i++) yield* TestClock.adjust("1 second")
      expect(yield* Ref.get(h.attempts)).toBe(10)
      expect((yield* transport.current)._tag).toBe("Connected")
      expect(delays.length).toBe(9)
      delays.forEach((d, n) => {
        expect(d).toBeGreaterThanOrEqual(0)
        expect(d).toBeLessThan(Math.min(4_000, 1_000 * 2 ** n))
      })
      // full jitter: not every delay sits at the bound
      expect(delays.some((d, n) => d < Math.min(4_000, 1_000 * 2 ** n) * 0.9)).toBe(true)
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))

  it.effect("a dropped connection fails plain requests at once, sends keyed ones again, and re-initializes", () =>
    Effect.gen(function*() {
      slowCalls.count = 0
      const h = yield* harness(0)
      const transport = yield* ReconnectingTransport.make({ connect: h.connect })
      const client = yield* McpClient.connect(transport, { info: { name: "c", version: "1" }, revisions: ["2025-11-25"] })
      const plain = yield* Effect.forkChild(Effect.flip(client.callTool("slow", {})))
      const keyed = yield* Effect.forkChild(client.callTool("slow", {}, { idempotencyKey: "k-1" }))
      yield* TestClock.adjust("1 second")
      expect(slowCalls.count).toBe(2)
      yield* h.drop
      // the plain call fails at once with the typed connection-lost error
      const error = yield* Fiber.join(plain)
      expect(error).toMatchObject({ _tag: "RemoteError", code: -32000 })
      expect(JSON.stringify(error)).toContain("FM-07")
      // reconnect (first retry is under 1 s) and the keyed call is answered on the new connection
      for (let i = 0; i < 10; i++) yield* TestClock.adjust("1 second")
      const result = yield* Fiber.join(keyed)
      expect(result.content[0]).toMatchObject({ text: "done" })
      expect(yield* Ref.get(h.attempts)).toBe(2)
      // the new connection was initialized again: plain calls work
      expect((yield* client.callTool("echo", { message: "after" })).content[0]).toMatchObject({ text: "after" })
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))

  it.effect("gives up after maxAttempts and says so on the state stream", () =>
    Effect.gen(function*() {
      const h = yield* harness(1_000)
      const making = yield* Effect.forkChild(ReconnectingTransport.make({ connect: h.connect, maxAttempts: 3 }))
      for (let i = 0; i < 30; i++) yield* TestClock.adjust("1 second")
      const transport = yield* Fiber.join(making)
      const state = yield* transport.current
      expect(state._tag).toBe("Closed")
      expect(yield* Ref.get(h.attempts)).toBe(3)
      const ended = yield* Effect.flip(Stream.runDrain(transport.incoming))
      expect(ended).toMatchObject({ _tag: "ConnectionClosed" })
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))
})

/** What a scripted server does on one connection attempt. */
type Script =
  | "answer" // answers `initialize`, records the rest and answers nothing else
  | "die" // closes the connection when `initialize` arrives
  | "silent" // records everything, answers nothing
  | "held" // answers `initialize` only when the test says so (`answer`)
  | "refuse" // the connection is refused

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)
const decoder = new TextDecoder()

/**
 * A connect effect whose attempt n follows `scripts[n]` (the last one repeats), over an in-memory transport and
 * its raw wire. Records, per attempt, every message received, when it connected and when it was closed.
 */
const scripted = (scripts: ReadonlyArray<Script>) =>
  Effect.gen(function*() {
    const received: Array<Array<Record<string, unknown>>> = []
    const connectedAt: Array<number> = []
    const endedAt: Array<number> = []
    const wires: Array<MemoryTransport.Wire> = []
    const held: Array<unknown> = []
    const answerTo = (wire: MemoryTransport.Wire, id: unknown) => {
      const result = { protocolVersion: "2025-11-25", capabilities: {}, serverInfo: { name: "s", version: "1" } }
      return wire.write(JSON.stringify({ jsonrpc: "2.0", id, result }) + "\n")
    }
    const connect = Effect.gen(function*() {
      const n = received.length
      received.push([])
      connectedAt.push(yield* Clock.currentTimeMillis)
      const script = scripts[Math.min(n, scripts.length - 1)]!
      if (script === "refuse") return yield* new Transport.TransportFailure({ detail: `refused (attempt ${n})` })
      const [client, wire] = yield* MemoryTransport.makeWithWire()
      wires[n] = wire
      yield* Effect.forkScoped(
        Stream.runForEach(wire.read, (bytes) =>
          Effect.gen(function*() {
            const message: unknown = JSON.parse(decoder.decode(bytes))
            for (const m of Array.isArray(message) ? message : [message]) {
              if (!isRecord(m)) continue
              received[n]!.push(m)
              if (m.method !== "initialize") continue
              if (script === "die") yield* wire.close
              if (script === "answer") yield* answerTo(wire, m.id)
              if (script === "held") held[n] = m.id
            }
          })).pipe(Effect.ensuring(Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sync(() => endedAt[n] = now))))
      )
      return client
    })
    /** Ends connection `n` from the server side, as a dropped socket would. */
    const drop = (n: number) => wires[n]!.close
    /** Answers the `initialize` connection `n` holds. */
    const answer = (n: number) => answerTo(wires[n]!, held[n])
    const methods = (n: number) => (received[n] ?? []).map((m) => `${m.method}${"id" in m ? `#${String(m.id)}` : ""}`)
    return { connect, received, connectedAt, endedAt, drop, answer, methods }
  })

const IDEMPOTENCY_KEY = "io.effect-mcp/idempotencyKey"
const keyed = (id: number, key: string) =>
  JsonRpc.request(id, "tools/call", { name: "charge", arguments: {}, _meta: { [IDEMPOTENCY_KEY]: key } })
const cancelled = (requestId: number) => JsonRpc.notification("notifications/cancelled", { requestId, reason: "gave up" })

/** Opens a session the way the engine does (initialize, then initialized) and collects what comes in. */
const initialized = (transport: ReconnectingTransport.ReconnectingTransport) =>
  Effect.gen(function*() {
    const incoming: Array<JsonRpc.Message> = []
    yield* Effect.forkChild(Stream.runForEach(transport.incoming, (decoded) =>
      Effect.sync(() => {
        if (decoded._tag === "Success") incoming.push(...(Array.isArray(decoded.success) ? decoded.success : [decoded.success]))
      })))
    yield* transport.send(JsonRpc.request(1, "initialize", {
      protocolVersion: "2025-11-25",
      capabilities: {},
      clientInfo: { name: "c", version: "1" }
    }))
    yield* TestClock.adjust("10 millis")
    yield* transport.send(JsonRpc.notification("notifications/initialized"))
    return incoming
  })

/** Moves the TestClock forward in small steps, so every fiber gets to run at its time. */
const advance = (millis: number) =>
  Effect.gen(function*() {
    for (let t = 0; t < millis; t += 100) yield* TestClock.adjust("100 millis")
  })

describe("ReconnectingTransport: the replayed handshake and the requests sent again (FM-07, FM-25)", () => {
  it.effect("a connection that dies during the replayed handshake is retried at once, not after the handshake timeout", () =>
    Effect.gen(function*() {
      const h = yield* scripted(["answer", "die", "answer"])
      const transport = yield* ReconnectingTransport.make({ connect: h.connect, handshakeTimeout: "10 seconds" })
      yield* initialized(transport)
      yield* transport.send(keyed(10, "k-10"))
      yield* TestClock.adjust("10 millis")
      yield* h.drop(0)
      // backoff bounds 1 s then 2 s: well under the 10 s handshake timeout
      yield* advance(4_000)
      expect(h.connectedAt.length).toBe(3)
      expect(h.connectedAt[2]! - h.connectedAt[1]!).toBeLessThan(2_000)
      // the dying connection got the replayed initialize and nothing else
      expect(h.methods(1)).toEqual(["initialize#effect-mcp-replay-2"])
      expect(h.methods(2)).toEqual(["initialize#effect-mcp-replay-3", "notifications/initialized", "tools/call#10"])
      expect((yield* transport.current)._tag).toBe("Connected")
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))

  it.effect("a replayed handshake never answered: after handshakeTimeout the connection is closed and retried with backoff", () =>
    Effect.gen(function*() {
      const h = yield* scripted(["answer", "silent", "answer"])
      const transport = yield* ReconnectingTransport.make({ connect: h.connect, handshakeTimeout: "5 seconds" })
      const states: Array<ReconnectingTransport.ConnectionState> = []
      yield* Effect.forkChild(Stream.runForEach(transport.state, (s) => Effect.sync(() => states.push(s))))
      yield* initialized(transport)
      yield* transport.send(keyed(10, "k-10"))
      yield* TestClock.adjust("10 millis")
      yield* h.drop(0)
      // waiting for the answer: not connected, nothing else sent into a session that may not exist
      yield* advance(3_000)
      expect(h.connectedAt.length).toBe(2)
      expect((yield* transport.current)._tag).toBe("Connecting")
      expect(h.methods(1)).toEqual(["initialize#effect-mcp-replay-2"])
      yield* advance(6_000)
      expect(h.connectedAt.length).toBe(3)
      // closed at the timeout, retried within the second backoff bound (2 s)
      expect(h.endedAt[1]! - h.connectedAt[1]!).toBeGreaterThanOrEqual(5_000)
      expect(h.endedAt[1]! - h.connectedAt[1]!).toBeLessThan(5_100)
      expect(h.connectedAt[2]! - h.connectedAt[1]!).toBeGreaterThanOrEqual(5_000)
      expect(h.connectedAt[2]! - h.connectedAt[1]!).toBeLessThan(7_000)
      expect(h.methods(1)).toEqual(["initialize#effect-mcp-replay-2"])
      expect(h.methods(2)).toEqual(["initialize#effect-mcp-replay-3", "notifications/initialized", "tools/call#10"])
      expect(states.some((s) => s._tag === "Disconnected" && s.reason.includes("handshakeTimeout"))).toBe(true)
      expect((yield* transport.current)._tag).toBe("Connected")
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))

  it.effect("while the replayed handshake waits, nothing goes out: a keyed request waits and is sent once, a plain one fails", () =>
    Effect.gen(function*() {
      const h = yield* scripted(["answer", "held"])
      const transport = yield* ReconnectingTransport.make({ connect: h.connect })
      yield* initialized(transport)
      yield* TestClock.adjust("10 millis")
      yield* h.drop(0)
      yield* advance(2_000)
      expect(h.methods(1)).toEqual(["initialize#effect-mcp-replay-2"])
      expect((yield* transport.current)._tag).toBe("Connecting")
      yield* transport.send(keyed(30, "k-30"))
      const plain = yield* Effect.flip(transport.send(JsonRpc.request(31, "tools/list", {})))
      expect(plain).toMatchObject({ _tag: "TransportFailure", detail: "not connected (reconnecting)" })
      yield* TestClock.adjust("10 millis")
      expect(h.methods(1)).toEqual(["initialize#effect-mcp-replay-2"])
      yield* h.answer(1)
      yield* advance(200)
      expect((yield* transport.current)._tag).toBe("Connected")
      expect(h.methods(1)).toEqual(["initialize#effect-mcp-replay-2", "notifications/initialized", "tools/call#30"])
      // from here on messages go straight out
      yield* transport.send(JsonRpc.request(32, "tools/list", {}))
      yield* TestClock.adjust("10 millis")
      expect(h.methods(1).at(-1)).toBe("tools/list#32")
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))

  it.effect("a keyed request its caller cancelled is not sent again on the next connection; a cancel while disconnected is dropped", () =>
    Effect.gen(function*() {
      const h = yield* scripted(["answer"])
      const transport = yield* ReconnectingTransport.make({ connect: h.connect })
      yield* initialized(transport)
      yield* transport.send(keyed(10, "k-10"))
      yield* transport.send(keyed(11, "k-11"))
      yield* transport.send(keyed(12, "k-12"))
      // 10 is cancelled while connected, inside a batch: the server gets the notice
      yield* transport.send([cancelled(10), JsonRpc.notification("notifications/roots/list_changed")])
      yield* TestClock.adjust("10 millis")
      expect(h.methods(0)).toContain("notifications/cancelled")
      yield* h.drop(0)
      yield* TestClock.adjust("1 millis")
      expect((yield* transport.current)._tag).toBe("Disconnected")
      // 11 is cancelled while disconnected: accepted (nothing to reach), and dropped
      const exit = yield* Effect.exit(transport.send(cancelled(11)))
      expect(Exit.isSuccess(exit)).toBe(true)
      yield* advance(2_000)
      expect((yield* transport.current)._tag).toBe("Connected")
      expect(h.methods(1)).toEqual(["initialize#effect-mcp-replay-2", "notifications/initialized", "tools/call#12"])
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))

  it.effect("a keyed call whose caller gave up during the outage does not run again once the server forgot its key", () =>
    Effect.gen(function*() {
      slowCalls.count = 0
      let down = false
      // the server keeps a settled key 1 s: a copy arriving later runs the tool again
      const h = yield* harness(0, () => down, "1 second")
      const transport = yield* ReconnectingTransport.make({ connect: h.connect })
      const client = yield* McpClient.connect(transport, { info: { name: "c", version: "1" }, revisions: ["2025-11-25"] })
      const call = yield* Effect.forkChild(client.callTool("slow", {}, { idempotencyKey: "k-gave-up" }))
      yield* TestClock.adjust("1 second")
      expect(slowCalls.count).toBe(1)
      down = true
      yield* h.drop
      yield* TestClock.adjust("1 millis")
      // the caller gives up while the transport reconnects: the engine sends notifications/cancelled
      yield* Fiber.interrupt(call)
      // the first run ends at 5 s and its key is forgotten at 6 s; the network is back at 8 s
      for (let i = 0; i < 7; i++) yield* TestClock.adjust("1 second")
      down = false
      // back within one backoff bound (16 s), before resendWithin (30 s) could have stopped the copy
      for (let i = 0; i < 20; i++) yield* TestClock.adjust("1 second")
      expect((yield* transport.current)._tag).toBe("Connected")
      expect((yield* client.callTool("echo", { message: "after" })).content[0]).toMatchObject({ text: "after" })
      expect(slowCalls.count).toBe(1)
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))

  it.effect("a keyed request pending longer than resendWithin fails with -32000 / FM-07 instead of being sent again", () =>
    Effect.gen(function*() {
      const h = yield* scripted(["answer"])
      const transport = yield* ReconnectingTransport.make({ connect: h.connect, resendWithin: "5 seconds" })
      const incoming = yield* initialized(transport)
      yield* transport.send(keyed(20, "k-old"))
      yield* advance(4_000)
      yield* transport.send(keyed(21, "k-young"))
      yield* advance(2_000)
      // 20 has waited 6 s, 21 has waited 2 s
      yield* h.drop(0)
      yield* advance(2_000)
      expect((yield* transport.current)._tag).toBe("Connected")
      expect(h.methods(1)).toEqual(["initialize#effect-mcp-replay-2", "notifications/initialized", "tools/call#21"])
      const failed = incoming.filter((m) => JsonRpc.isResponse(m) && m.id === 20)
      expect(failed).toHaveLength(1)
      expect(failed[0]).toMatchObject({ error: { code: -32000, data: { mode: "FM-07", reason: "connection lost" } } })
      expect(JSON.stringify(failed[0])).toContain("resendWithin")
      expect(incoming.some((m) => JsonRpc.isResponse(m) && m.id === 21)).toBe(false)
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))
})
