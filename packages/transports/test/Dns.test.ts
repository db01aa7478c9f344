/**
 * FM-28 (DNS resolution failure): a host name that does not resolve is a typed `HostUnresolved` from the TCP and
 * WebSocket clients, distinct from a refused connection, and `ReconnectingTransport` keeps retrying it with its
 * backoff. Names are under `.invalid` (RFC 2606: never resolves); every other lookup goes through a stub
 * resolver, so nothing leaves 127.0.0.1 but the one query for a `.invalid` name.
 */
import { describe, expect, it } from "@effect/vitest"
import type * as dns from "node:dns"
import * as net from "node:net"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/testing/TestClock"
import type { Transport } from "@effect-mcp/core"
import { JsonRpc, JsonRpcCodec } from "@effect-mcp/jsonrpc"
import * as HostResolver from "../src/HostResolver.ts"
import * as StreamableHttpClient from "../src/StreamableHttpClient.ts"
import * as ReconnectingTransport from "../src/ReconnectingTransport.ts"
import * as TcpTransport from "../src/TcpTransport.ts"
import * as WebSocketTransport from "../src/WebSocketTransport.ts"

const HOST = "mcp-server.invalid"

type Answer = "127.0.0.1" | "EAI_AGAIN" | "ENOTFOUND"

/** A resolver that answers what `answer()` says now, and counts its calls. */
const stubResolver = (answer: () => Answer) => {
  const calls: Array<string> = []
  const lookup: net.LookupFunction = (
    hostname: string,
    options: dns.LookupOptions,
    callback: (err: NodeJS.ErrnoException | null, address: string | Array<dns.LookupAddress>, family?: number) => void
  ) => {
    calls.push(hostname)
    const now = answer()
    if (now !== "127.0.0.1") {
      const error: NodeJS.ErrnoException = Object.assign(new Error(`getaddrinfo ${now} ${hostname}`), {
        code: now,
        syscall: "getaddrinfo",
        hostname
      })
      return callback(error, "")
    }
    if (options.all === true) callback(null, [{ address: now, family: 4 }])
    else callback(null, now, 4)
  }
  return { lookup, calls }
}

/** A port nothing listens on (bound once, then released). */
const closedPort = Effect.promise(() =>
  new Promise<number>((resolve) => {
    const probe = net.createServer().listen(0, "127.0.0.1", () => {
      const p = (probe.address() as net.AddressInfo).port
      probe.close(() => resolve(p))
    })
  })
)

describe("FM-28 DNS resolution failure: typed connect errors", () => {
  it.live("a name under .invalid: the TCP and WebSocket clients fail with HostUnresolved naming the host", () =>
    Effect.gen(function*() {
      const tcp = yield* Effect.flip(TcpTransport.connect({ host: HOST, port: 4321 }))
      // ENOTFOUND where a resolver answers, EAI_AGAIN where none is reachable: either way FM-28, not FM-40
      expect(tcp).toMatchObject({ _tag: "HostUnresolved", mode: "FM-28", host: HOST, port: 4321 })
      expect(["ENOTFOUND", "EAI_AGAIN"]).toContain((tcp as TcpTransport.HostUnresolved).code)
      expect(tcp.message).toContain(`cannot resolve ${HOST}`)
      const ws = yield* Effect.flip(WebSocketTransport.connect(`ws://${HOST}:4322/mcp`))
      expect(ws).toMatchObject({ _tag: "HostUnresolved", mode: "FM-28", host: HOST, port: 4322 })
      expect(["ENOTFOUND", "EAI_AGAIN"]).toContain((ws as WebSocketTransport.HostUnresolved).code)
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)), 30_000)

  it.live("EAI_AGAIN from the resolver is a retryable HostUnresolved; ENOTFOUND is not retryable", () =>
    Effect.gen(function*() {
      let answer: Answer = "EAI_AGAIN"
      const resolver = stubResolver(() => answer)
      const tcp = yield* Effect.flip(TcpTransport.connect({ host: HOST, port: 4321, lookup: resolver.lookup }))
      expect(tcp).toMatchObject({ _tag: "HostUnresolved", mode: "FM-28", host: HOST, port: 4321, code: "EAI_AGAIN", retryable: true })
      const ws = yield* Effect.flip(WebSocketTransport.connect(`ws://${HOST}:4322/mcp`, { lookup: resolver.lookup }))
      expect(ws).toMatchObject({ _tag: "HostUnresolved", mode: "FM-28", host: HOST, port: 4322, code: "EAI_AGAIN", retryable: true })
      answer = "ENOTFOUND"
      const gone = yield* Effect.flip(TcpTransport.connect({ host: HOST, port: 4321, lookup: resolver.lookup }))
      expect(gone).toMatchObject({ _tag: "HostUnresolved", code: "ENOTFOUND", retryable: false })
      // the injected resolver is the one asked
      expect(resolver.calls).toEqual([HOST, HOST, HOST])
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)), 30_000)

  it.live("a name that resolves to a closed port stays a refused connection: TransportFailure (FM-40)", () =>
    Effect.gen(function*() {
      const resolver = stubResolver(() => "127.0.0.1")
      const port = yield* closedPort
      const tcp = yield* Effect.flip(TcpTransport.connect({ host: HOST, port, lookup: resolver.lookup }))
      expect(tcp).toMatchObject({ _tag: "TransportFailure", mode: "FM-40" })
      expect(tcp.message).toMatch(/ECONNREFUSED/)
      const ws = yield* Effect.flip(WebSocketTransport.connect(`ws://${HOST}:${port}/mcp`, { lookup: resolver.lookup }))
      expect(ws).toMatchObject({ _tag: "TransportFailure", mode: "FM-40" })
      expect(ws.message).toMatch(/ECONNREFUSED/)
      expect(resolver.calls.length).toBe(2)
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)), 30_000)
})

/**
 * A server on 127.0.0.1 reached by the name `HOST` through a stub resolver; `drop` ends the connection being
 * served (as a restarting server would).
 */
const reachable = (kind: "tcp" | "ws", answer: () => Answer) =>
  Effect.gen(function*() {
    const resolver = stubResolver(answer)
    let release = Deferred.makeUnsafe<void>()
    // serves until the client goes away or `drop`
    const handle = (transport: Transport.Transport) =>
      Effect.suspend(() => Effect.raceFirst(Deferred.await(release), Effect.ignore(Stream.runDrain(transport.incoming))))
    const connect = kind === "tcp"
      ? Effect.flatMap(TcpTransport.serve({ port: 0 }, handle), (server) =>
        Effect.succeed(TcpTransport.connect({ host: HOST, port: server.port, lookup: resolver.lookup })))
      : Effect.flatMap(WebSocketTransport.serve({ port: 0 }, handle), (server) =>
        Effect.succeed(WebSocketTransport.connect(`ws://${HOST}:${server.port}/mcp`, { lookup: resolver.lookup })))
    const drop = Effect.sync(() => {
      Deferred.doneUnsafe(release, Effect.void)
      release = Deferred.makeUnsafe<void>()
    })
    return { connect: yield* connect, drop, calls: resolver.calls }
  })

describe("FM-28 DNS resolution failure: ReconnectingTransport retries with backoff, on the TestClock", () => {
  for (const kind of ["tcp", "ws"] as const) {
    it.effect(`${kind}: while the name does not resolve the state is Disconnected with the FM-28 reason and a retryInMs; it reconnects once it does`, () =>
      Effect.gen(function*() {
        let answer: Answer = "127.0.0.1"
        const server = yield* reachable(kind, () => answer)
        const transport = yield* ReconnectingTransport.make({
          connect: server.connect,
          backoff: { base: "1 second", cap: "8 seconds" }
        })
        expect(yield* transport.current).toMatchObject({ _tag: "Connected", connections: 1 })
        const states = yield* Queue.unbounded<ReconnectingTransport.ConnectionState>()
        yield* Effect.forkScoped(Stream.runForEach(transport.state, (s) => Queue.offer(states, s)))
        expect(yield* Queue.take(states)).toMatchObject({ _tag: "Connected" })

        // the resolver goes down, then the server drops the connection
        answer = "EAI_AGAIN"
        yield* server.drop
        // the first drop: the connection ended (the reason depends on the transport)
        let next = yield* Queue.take(states)
        expect(next).toMatchObject({ _tag: "Disconnected" })
        const delays: Array<number> = []
        for (let attempt = 0; attempt < 4; attempt++) {
          // each retry waits for its backoff on the clock, asks the resolver, and fails typed
          if (next._tag === "Disconnected") {
            delays.push(next.retryInMs)
            yield* TestClock.adjust(next.retryInMs)
          }
          const connecting = next._tag === "Connecting" ? next : yield* Queue.take(states)
          expect(connecting._tag).toBe("Connecting")
          next = yield* Queue.take(states)
          expect(next).toMatchObject({ _tag: "Disconnected" })
          if (next._tag !== "Disconnected") return
          expect(next.reason).toContain(`cannot resolve ${HOST} (EAI_AGAIN, temporary)`)
          expect(next.retryInMs).toBeGreaterThanOrEqual(0)
        }
        // full-jitter delays within min(cap, base·2^n): 1, 2, 4, 8 s
        delays.forEach((d, n) => expect(d).toBeLessThan(Math.min(8_000, 1_000 * 2 ** n)))
        const asked = server.calls.length
        expect(asked).toBeGreaterThanOrEqual(5)

        // the resolver comes back: the next attempt connects
        answer = "127.0.0.1"
        if (next._tag === "Disconnected") yield* TestClock.adjust(next.retryInMs)
        expect(yield* Queue.take(states)).toMatchObject({ _tag: "Connecting" })
        expect(yield* Queue.take(states)).toMatchObject({ _tag: "Connected", connections: 2 })
        expect(server.calls.length).toBe(asked + 1)
        yield* transport.close
      }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)), 30_000)
  }

  it.effect("tcp: a name that never resolves: after maxAttempts the transport closes with the FM-28 reason (no crash)", () =>
    Effect.gen(function*() {
      const server = yield* reachable("tcp", () => "ENOTFOUND")
      const failures = yield* Queue.unbounded<unknown>()
      const connect = Effect.tapError(server.connect, (error) => Queue.offer(failures, error))
      const making = yield* Effect.forkChild(ReconnectingTransport.make({ connect, maxAttempts: 3 }))
      // every attempt fails typed; the backoff between them (bounds 1 s, 2 s) runs on the clock
      for (let attempt = 0; attempt < 3; attempt++) {
        expect(yield* Queue.take(failures)).toMatchObject({ _tag: "HostUnresolved", mode: "FM-28", code: "ENOTFOUND", retryable: false })
        if (attempt < 2) yield* TestClock.adjust("2 seconds")
      }
      const transport = yield* Fiber.join(making)
      const state = yield* transport.current
      expect(state).toMatchObject({ _tag: "Closed" })
      if (state._tag === "Closed") expect(state.reason).toMatch(/gave up after 3 attempts: cannot resolve mcp-server\.invalid \(ENOTFOUND\)/)
      expect(server.calls).toEqual([HOST, HOST, HOST])
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)), 30_000)
})

describe("FM-28 DNS resolution failure: riding out a resolver outage (HostResolver.cachingLookup)", () => {
  it.live("the last good addresses answer while the resolver fails, within maxStale; after it, or for a name never resolved, the failure stands", () =>
    Effect.gen(function*() {
      let answer: Answer = "127.0.0.1"
      let now = 0
      const resolver = stubResolver(() => answer)
      const lookup = HostResolver.cachingLookup({ ttl: "30 seconds", maxStale: "10 minutes", lookup: resolver.lookup, now: () => now })
      const ask = (name: string) =>
        Effect.callback<string, NodeJS.ErrnoException>((resume) =>
          lookup(name, { all: true }, (error, addresses) =>
            resume(error === null ? Effect.succeed((addresses as Array<dns.LookupAddress>)[0]!.address) : Effect.fail(error))))
      expect(yield* ask(HOST)).toBe("127.0.0.1")
      // within the TTL the resolver is not asked again
      now = 29_000
      expect(yield* ask(HOST)).toBe("127.0.0.1")
      expect(resolver.calls.length).toBe(1)
      // past the TTL the resolver is down: the last good address answers
      answer = "EAI_AGAIN"
      now = 60_000
      expect(yield* ask(HOST)).toBe("127.0.0.1")
      expect(lookup.stats()).toMatchObject({ hits: 1, lookups: 2, staleAnswers: 1, failures: 0 })
      // a name never resolved has nothing to fall back on
      expect((yield* Effect.flip(ask("other.invalid"))).code).toBe("EAI_AGAIN")
      // past TTL + maxStale the failure stands
      now = 30_000 + 600_000
      expect((yield* Effect.flip(ask(HOST))).code).toBe("EAI_AGAIN")
    }))

  it.live("a TCP client and a Streamable HTTP client reconnect through a resolver outage with cachingLookup; without it the HTTP send fails with HostUnresolved", () =>
    Effect.gen(function*() {
      let answer: Answer = "127.0.0.1"
      const resolver = stubResolver(() => answer)
      const lookup = HostResolver.cachingLookup({ ttl: "0 millis", lookup: resolver.lookup })
      const handle = (transport: Transport.Transport) => Effect.ignore(Stream.runDrain(transport.incoming))
      const server = yield* TcpTransport.serve({ port: 0 }, handle)
      yield* TcpTransport.connect({ host: HOST, port: server.port, lookup })
      answer = "EAI_AGAIN"
      // the resolver is down: the next connection still finds the server
      yield* TcpTransport.connect({ host: HOST, port: server.port, lookup })
      expect(lookup.stats().staleAnswers).toBe(1)

      // Streamable HTTP: the send of a name that does not resolve fails with the typed error
      const http = yield* StreamableHttpClient.connect({ url: `http://${HOST}:${server.port}/mcp`, lookup: resolver.lookup })
      const error = yield* Effect.flip(http.send(JsonRpc.request(1, "ping")))
      expect(error).toMatchObject({ _tag: "HostUnresolved", mode: "FM-28", host: HOST, code: "EAI_AGAIN", retryable: true })
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)), 30_000)
})
