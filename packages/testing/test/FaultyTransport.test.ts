import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Result from "effect/Result"
import * as TestClock from "effect/testing/TestClock"
import { Protocol } from "@effect-mcp/core"
import { JsonRpc } from "@effect-mcp/jsonrpc"
import * as Fault from "../src/Fault.ts"
import * as FaultyTransport from "../src/FaultyTransport.ts"
import { codec, messages, numbers, readAll, reader } from "./helpers.ts"

const note = (i: number) => JsonRpc.notification("test/n", { i, text: `frame number ${i} with some text in it` })
const sendAll = (link: FaultyTransport.Link, n: number, way: "toServer" | "toClient" = "toServer") =>
  Effect.forEach(Array.from({ length: n }, (_, i) => i), (i) => (way === "toServer" ? link.client : link.server).send(note(i)), {
    discard: true
  })
const received = (trace: ReadonlyArray<FaultyTransport.TraceEntry>, way: "toServer" | "toClient") =>
  trace.filter((e): e is Extract<FaultyTransport.TraceEntry, { _tag: "Received" }> => e._tag === "Received" && e.way === way)
const delivered = (trace: ReadonlyArray<FaultyTransport.TraceEntry>, way: "toServer" | "toClient") =>
  trace.filter((e): e is Extract<FaultyTransport.TraceEntry, { _tag: "Delivered" }> => e._tag === "Delivered" && e.way === way)
const range = (n: number) => Array.from({ length: n }, (_, i) => i)

describe("FaultyTransport", () => {
  it.effect("without faults: every frame arrives once, unchanged and in order, through the real codec", () =>
    Effect.gen(function*() {
      const link = yield* FaultyTransport.pair([], { seed: 1 })
      const toServer = yield* reader(link.server, 30)
      const toClient = yield* reader(link.client, 30)
      yield* sendAll(link, 30, "toServer")
      yield* sendAll(link, 30, "toClient")
      expect(numbers(yield* Fiber.join(toServer))).toEqual(range(30))
      expect(numbers(yield* Fiber.join(toClient))).toEqual(range(30))
      const stats = yield* link.stats
      expect(stats.toServer).toMatchObject({ sent: 30, delivered: 30, chunks: 30, lost: 0, duplicated: 0 })
      // and two engines talk over it
      const engines = yield* FaultyTransport.pair([], { seed: 1 })
      yield* Protocol.make(engines.server, { handler: () => (r) => Effect.succeed({ echo: r.params?.x }) })
      const client = yield* Protocol.make(engines.client, { handler: () => undefined })
      expect(yield* client.request("echo", { x: 42 })).toEqual({ echo: 42 })
    }).pipe(Effect.provide(codec)))

  it.effect("FM-24 HighLatency delays each frame by the latency plus at most the jitter, and keeps the order", () =>
    Effect.gen(function*() {
      const link = yield* FaultyTransport.pair([Fault.highLatency("100 millis", { jitter: "50 millis", direction: "toServer" })], { seed: 7 })
      const toServer = yield* reader(link.server, 20)
      const toClient = yield* reader(link.client, 1)
      yield* sendAll(link, 20)
      yield* link.server.send(note(0))
      // the other way is not delayed
      expect(numbers(yield* Fiber.join(toClient))).toEqual([0])
      yield* TestClock.adjust("99 millis")
      expect(received(yield* link.trace, "toServer")).toEqual([])
      yield* TestClock.adjust("52 millis")
      expect(numbers(yield* Fiber.join(toServer))).toEqual(range(20))
      const times = delivered(yield* link.trace, "toServer").map((e) => e.at)
      for (const t of times) expect(t).toBeGreaterThanOrEqual(100)
      for (const t of times) expect(t).toBeLessThanOrEqual(150)
      // jitter happened (times differ), order did not change (times never go back)
      expect(new Set(times).size).toBeGreaterThan(1)
      expect([...times].sort((a, b) => a - b)).toEqual(times)
    }).pipe(Effect.provide(codec)))

  it.effect("FM-22/FM-23 PacketLoss loses whole frames with its probability, the same ones for the same seed", () =>
    Effect.gen(function*() {
      const all = yield* FaultyTransport.pair([Fault.packetLoss(1)], { seed: 1 })
      const nothing = yield* readAll(all.server)
      yield* sendAll(all, 10)
      yield* all.disconnect("clean")
      expect((yield* Fiber.join(nothing)).got).toEqual([])
      expect((yield* all.stats).toServer).toMatchObject({ sent: 10, lost: 10, delivered: 0 })
      expect(Fault.packetLoss(0.01).mode).toBe("FM-22")
      expect(Fault.packetLoss(0.1).mode).toBe("FM-23")

      const run = (seed: number) =>
        Effect.scoped(Effect.gen(function*() {
          const link = yield* FaultyTransport.pair([Fault.packetLoss(0.5)], { seed })
          const read = yield* readAll(link.server)
          yield* sendAll(link, 40)
          yield* link.disconnect("clean")
          return numbers((yield* Fiber.join(read)).got)
        }))
      const a = yield* run(3)
      expect(a.length).toBeGreaterThan(5)
      expect(a.length).toBeLessThan(35)
      expect(yield* run(3)).toEqual(a)
      expect(yield* run(4)).not.toEqual(a)
    }).pipe(Effect.provide(codec)))

  it.effect("FM-26 DuplicatePackets delivers frames twice, the copy within the gap", () =>
    Effect.gen(function*() {
      const link = yield* FaultyTransport.pair([Fault.duplicatePackets(1, { gap: "20 millis" })], { seed: 2 })
      const read = yield* reader(link.server, 20)
      yield* sendAll(link, 10)
      yield* TestClock.adjust("20 millis")
      const got = numbers(yield* Fiber.join(read))
      expect([...got].sort((a, b) => a - b)).toEqual(range(10).flatMap((i) => [i, i]))
      expect((yield* link.stats).toServer).toMatchObject({ sent: 10, duplicated: 10, delivered: 20 })
    }).pipe(Effect.provide(codec)))

  it.effect("FM-27 OutOfOrderPackets lets later frames overtake held ones; each frame still arrives once", () =>
    Effect.gen(function*() {
      const link = yield* FaultyTransport.pair([Fault.outOfOrderPackets(0.5, "100 millis")], { seed: 5 })
      const read = yield* reader(link.server, 30)
      yield* sendAll(link, 30)
      yield* TestClock.adjust("100 millis")
      const got = numbers(yield* Fiber.join(read))
      expect([...got].sort((a, b) => a - b)).toEqual(range(30))
      expect(got).not.toEqual(range(30))
      expect((yield* link.stats).toServer.reordered).toBeGreaterThan(0)
    }).pipe(Effect.provide(codec)))

  it.effect("FM-12 MessageCorruption flips real bits: no corrupted frame decodes to what was sent", () =>
    Effect.gen(function*() {
      const link = yield* FaultyTransport.pair([Fault.messageCorruption(1, { bits: 1 })], { seed: 9 })
      const read = yield* reader(link.server, 40)
      yield* sendAll(link, 40)
      const got = yield* Fiber.join(read)
      // one frame in, one result out (a flipped bit never makes or removes a newline)
      expect(got).toHaveLength(40)
      const sent = range(40).map((i) => JSON.stringify(note(i)))
      for (const [i, d] of got.entries()) {
        if (Result.isSuccess(d)) expect(JSON.stringify(d.success)).not.toBe(sent[i])
      }
      const errors = got.filter(Result.isFailure).map((d) => d.failure._tag)
      expect(errors.length).toBeGreaterThan(0)
      for (const tag of errors) expect(["MalformedJson", "InvalidUtf8", "InvalidMessage"]).toContain(tag)
      const undecodable = (yield* link.trace).filter((e) => e._tag === "Undecodable")
      expect(undecodable).toHaveLength(errors.length)
    }).pipe(Effect.provide(codec)))

  it.effect("FM-30 MessageFragmentation cuts frames into chunks (even inside UTF-8 characters) that reassemble exactly", () =>
    Effect.gen(function*() {
      const link = yield* FaultyTransport.pair([Fault.messageFragmentation(1, { maxPieces: 12, gap: "5 millis" })], { seed: 11 })
      const read = yield* reader(link.server, 20)
      const frames = range(20).map((i) => JsonRpc.notification("test/n", { i, text: "é€😀 ".repeat(i + 1) }))
      yield* Effect.forEach(frames, (f) => link.client.send(f), { discard: true })
      yield* TestClock.adjust("2 seconds")
      expect(messages(yield* Fiber.join(read))).toEqual(frames)
      const stats = (yield* link.stats).toServer
      expect(stats.fragmented).toBe(20)
      expect(stats.chunks).toBeGreaterThan(2 * 20)
      expect(stats.delivered).toBe(20)
    }).pipe(Effect.provide(codec)))

  it.effect("FM-31 ConnectionHang holds frames until the hang ends, then delivers them in order; the other way flows", () =>
    Effect.gen(function*() {
      const link = yield* FaultyTransport.pair([Fault.connectionHang("100 millis", "500 millis", "toServer")], { seed: 1 })
      const toServer = yield* reader(link.server, 5)
      const toClient = yield* reader(link.client, 1)
      yield* TestClock.adjust("150 millis")
      yield* sendAll(link, 5)
      yield* link.server.send(note(0))
      expect(numbers(yield* Fiber.join(toClient))).toEqual([0])
      yield* TestClock.adjust("349 millis")
      expect(received(yield* link.trace, "toServer")).toEqual([])
      yield* TestClock.adjust("1 millis")
      expect(numbers(yield* Fiber.join(toServer))).toEqual(range(5))
      expect(delivered(yield* link.trace, "toServer").map((e) => e.at)).toEqual([500, 500, 500, 500, 500])
      expect((yield* link.stats).toServer.hung).toBe(5)
    }).pipe(Effect.provide(codec)))

  it.effect("FM-13 NetworkPartition (one way) swallows frames silently while the connection stays open", () =>
    Effect.gen(function*() {
      const link = yield* FaultyTransport.pair([Fault.networkPartition("toServer", { until: "1 second" })], { seed: 1 })
      const toServer = yield* reader(link.server, 1)
      const toClient = yield* reader(link.client, 1)
      yield* sendAll(link, 3)
      yield* link.server.send(note(7))
      expect(numbers(yield* Fiber.join(toClient))).toEqual([7])
      expect((yield* link.state)._tag).toBe("Open")
      yield* TestClock.adjust("1 second")
      yield* link.client.send(note(3))
      expect(numbers(yield* Fiber.join(toServer))).toEqual([3])
      expect((yield* link.stats).toServer).toMatchObject({ sent: 4, lost: 3, delivered: 1 })
      // a partition started by hand, healed by hand
      yield* link.partition("toClient")
      yield* sendAll(link, 2, "toClient")
      yield* link.heal
      const later = yield* reader(link.client, 1)
      yield* link.server.send(note(9))
      expect(numbers(yield* Fiber.join(later))).toEqual([9])
    }).pipe(Effect.provide(codec)))

  it.effect("FM-40 a clean Disconnect delivers what is in flight, then ends input; sends fail with ConnectionClosed", () =>
    Effect.gen(function*() {
      const link = yield* FaultyTransport.pair([Fault.highLatency("100 millis"), Fault.disconnect("50 millis", "clean")], { seed: 1 })
      const read = yield* readAll(link.server)
      yield* sendAll(link, 3)
      yield* TestClock.adjust("50 millis")
      expect((yield* link.state)._tag).toBe("Closed")
      expect(yield* Effect.flip(link.client.send(note(9)))).toMatchObject({ _tag: "ConnectionClosed" })
      yield* TestClock.adjust("50 millis")
      const { exit, got } = yield* Fiber.join(read)
      expect(numbers(got)).toEqual([0, 1, 2])
      expect(Exit.isSuccess(exit)).toBe(true)
    }).pipe(Effect.provide(codec)))

  it.effect("FM-40 an abrupt Disconnect loses what is in flight and fails both ends with TransportFailure", () =>
    Effect.gen(function*() {
      const link = yield* FaultyTransport.pair([Fault.highLatency("100 millis"), Fault.disconnect("50 millis", "abrupt")], { seed: 1 })
      const server = yield* readAll(link.server)
      const client = yield* readAll(link.client)
      yield* sendAll(link, 3)
      yield* TestClock.adjust("50 millis")
      const s = yield* Fiber.join(server)
      const c = yield* Fiber.join(client)
      expect(s.got).toEqual([])
      expect(s.exit).toMatchObject({ _tag: "Failure" })
      expect(JSON.stringify(s.exit)).toContain("TransportFailure")
      expect(JSON.stringify(c.exit)).toContain("TransportFailure")
      expect((yield* link.stats).toServer.reset).toBe(3)
      expect(yield* Effect.flip(link.client.send(note(9)))).toMatchObject({ _tag: "TransportFailure" })
    }).pipe(Effect.provide(codec)))

  it.effect("FM-25 ConnectionLoss resets open links and refuses new ones until the network is back", () =>
    Effect.gen(function*() {
      const network = yield* FaultyTransport.network([Fault.connectionLoss("100 millis", "1 second")], { seed: 1 })
      const first = yield* network.connect
      yield* TestClock.adjust("100 millis")
      expect(yield* first.state).toMatchObject({ _tag: "Closed", kind: "abrupt" })
      yield* TestClock.adjust("500 millis")
      expect(yield* Effect.flip(network.connect)).toMatchObject({ _tag: "TransportFailure" })
      expect(yield* network.refusedUntil).toBe(1100)
      yield* TestClock.adjust("500 millis")
      const second = yield* network.connect
      expect(second.index).toBe(1)
      expect((yield* network.trace).some((e) => e._tag === "Refused")).toBe(true)
    }).pipe(Effect.provide(codec)))

  it.effect("a full link pushes back on the sender (bounded), and a reader frees it", () =>
    Effect.gen(function*() {
      const link = yield* FaultyTransport.pair([Fault.connectionHang(0, "1 second", "toServer")], { seed: 1, capacity: 4 })
      yield* sendAll(link, 4)
      const fifth = yield* Effect.forkChild(link.client.send(note(4)))
      yield* Effect.yieldNow
      expect(fifth.pollUnsafe()).toBeUndefined()
      expect(yield* link.buffered).toBe(4)
      const read = yield* reader(link.server, 5)
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(fifth)
      expect(numbers(yield* Fiber.join(read))).toEqual(range(5))
    }).pipe(Effect.provide(codec)))

  it.effect("the same seed and schedule replay the same trace; another seed does not", () =>
    Effect.gen(function*() {
      const schedule = [
        Fault.highLatency("10 millis", { jitter: "40 millis" }),
        Fault.packetLoss(0.2),
        Fault.duplicatePackets(0.2, { gap: "30 millis" }),
        Fault.outOfOrderPackets(0.2, "50 millis"),
        Fault.messageCorruption(0.1),
        Fault.messageFragmentation(0.3)
      ]
      const run = (seed: number) =>
        Effect.scoped(Effect.gen(function*() {
          const link = yield* FaultyTransport.pair(schedule, { seed })
          const read = yield* readAll(link.server)
          yield* sendAll(link, 50)
          yield* TestClock.adjust("1 second")
          yield* link.disconnect("clean")
          yield* Fiber.join(read)
          return (yield* link.trace).map((e) => JSON.stringify(e))
        }))
      const a = yield* run(21)
      expect(yield* run(21)).toEqual(a)
      expect(yield* run(22)).not.toEqual(a)
    }).pipe(Effect.provide(codec)))

  it.effect("inject writes raw bytes in order with the frames; the receiver sees the codec's typed error", () =>
    Effect.gen(function*() {
      const link = yield* FaultyTransport.pair([], { seed: 1 })
      const read = yield* reader(link.server, 3)
      yield* link.client.send(note(0))
      yield* link.inject("toServer", "{not json\n")
      yield* link.client.send(note(1))
      const got = yield* Fiber.join(read)
      expect(got.map((d) => (Result.isSuccess(d) ? "ok" : d.failure._tag))).toEqual(["ok", "MalformedJson", "ok"])
      expect((yield* link.trace).filter((e) => e._tag === "Undecodable")).toMatchObject([{ error: "MalformedJson", mode: "FM-08" }])
    }).pipe(Effect.provide(codec)))
})
