import { describe, expect, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Ref from "effect/Ref"
import * as TestClock from "effect/testing/TestClock"
import { Bulkhead, CircuitBreaker, RateLimit } from "@effect-mcp/faults"
import { ErrorCode } from "@effect-mcp/jsonrpc"
import type * as Protocol from "../src/Protocol.ts"
import { handlers, pair } from "./helpers.ts"

describe("admission: shared bulkheads, shared rate limits, the outbound breaker", () => {
  it.effect("FM-45 a bulkhead shared by two connections queues their requests for at most its queue timeout; past its queue the peer gets -32010 with retryAfterMs", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make("server", { maxConcurrent: 1, maxQueue: 1, queueTimeout: "2 seconds" })
      const release = yield* Deferred.make<void>()
      const recorded = yield* Ref.make<Array<string>>([])
      const options: Protocol.Options = {
        handler: handlers({
          work: () => Effect.as(Deferred.await(release), "done"),
          ping: () => Effect.succeed({})
        }),
        bulkheads: (request) => (request.method === "work" ? [bulkhead] : []),
        onDiagnostic: (d) => Ref.update(recorded, (r) => [...r, `${d._tag}:${d.mode}`])
      }
      const one = yield* pair(options)
      const two = yield* pair(options)
      const running = yield* Effect.forkChild(one.client.request("work"), { startImmediately: true })
      const queued = yield* Effect.forkChild(Effect.flip(two.client.request("work")), { startImmediately: true })
      while ((yield* bulkhead.stats).queued < 1) yield* Effect.yieldNow
      // the queue is full: refused at once, on either connection
      const full = yield* Effect.flip(one.client.request("work"))
      expect(full).toMatchObject({ _tag: "RemoteError", code: ErrorCode.Overloaded, data: { mode: "FM-04" } })
      expect((full as { data: { retryAfterMs: number } }).data.retryAfterMs).toBeGreaterThan(0)
      // requests outside the bulkhead are not held up
      expect(yield* two.client.request("ping")).toEqual({})
      // the queued one gives up after the queue timeout
      yield* TestClock.adjust("2 seconds")
      expect(yield* Fiber.join(queued)).toMatchObject({ code: ErrorCode.Overloaded, data: { mode: "FM-45" } })
      yield* Deferred.succeed(release, undefined)
      expect(yield* Fiber.join(running)).toBe("done")
      expect(yield* two.client.request("work")).toBe("done")
      expect(yield* Ref.get(recorded)).toEqual(["BulkheadFull:FM-04", "QueueTimeout:FM-45"])
    }))

  it.effect("FM-46 a rate limit shared by connections refuses a client's requests on every connection; FM-17 a closed limiter that fails refuses with -32011", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimit.make({ name: "clients", limit: 2, window: "1 second" })
      const options: Protocol.Options = {
        handler: handlers({ ping: () => Effect.succeed({}) }),
        rateLimiter: (request) => limiter.consume(String(request.meta?.client)),
        onDiagnostic: () => Effect.void
      }
      const one = yield* pair(options)
      const two = yield* pair(options)
      const ping = (client: Protocol.Protocol, name: string) => client.request("ping", { _meta: { client: name } })
      yield* ping(one.client, "alice")
      yield* ping(two.client, "alice")
      const refused = yield* Effect.flip(ping(one.client, "alice"))
      expect(refused).toMatchObject({ code: ErrorCode.Overloaded, data: { limit: 2, mode: "FM-46" } })
      expect((refused as { data: { retryAfterMs: number } }).data.retryAfterMs).toBe(500)
      expect(yield* ping(two.client, "bob")).toEqual({})
      yield* TestClock.adjust("500 millis")
      expect(yield* ping(two.client, "alice")).toEqual({})

      const down = yield* pair({
        handler: handlers({ ping: () => Effect.succeed({}) }),
        rateLimiter: () => Effect.fail(new RateLimit.LimiterUnavailable({ limiter: "x", detail: "store down", retryAfterMs: 3_000 })),
        onDiagnostic: () => Effect.void
      })
      expect(yield* Effect.flip(down.client.request("ping"))).toMatchObject({
        code: ErrorCode.Unavailable,
        data: { mode: "FM-17", retryAfterMs: 3_000 }
      })
    }))

  it.effect("FM-42 an outbound circuit breaker opens after the peer's server-side errors; requests then fail at once with CircuitOpen until it half-opens", () =>
    Effect.gen(function*() {
      let healthy = false
      let served = 0
      const breaker = yield* CircuitBreaker.make({ name: "outbound", policy: { consecutiveFailures: 2, openDuration: "5 seconds" } })
      const { client } = yield* pair(
        {
          handler: handlers({
            call: () => Effect.suspend(() => (++served, healthy ? Effect.succeed("ok") : Effect.fail(new Error("down"))))
          }),
          onDiagnostic: () => Effect.void
        },
        { outboundBreaker: { breaker, key: "server-a" } }
      )
      // an unknown method is the caller's mistake: it shows the peer is up and never trips the circuit
      for (let i = 0; i < 3; i++) expect(yield* Effect.flip(client.request("nope"))).toMatchObject({ code: ErrorCode.MethodNotFound })
      for (let i = 0; i < 2; i++) expect(yield* Effect.flip(client.request("call"))).toMatchObject({ code: ErrorCode.InternalError })
      expect(yield* Effect.flip(client.request("call"))).toMatchObject({ _tag: "CircuitOpen", mode: "FM-42", key: "server-a", retryAfterMs: 5_000 })
      expect(served).toBe(2)
      healthy = true
      yield* TestClock.adjust("5 seconds")
      expect(yield* client.request("call")).toBe("ok")
      expect((yield* breaker.state("server-a"))._tag).toBe("Closed")
    }))

  it.effect("FM-37 maxConcurrentIncoming given as a function is read at every request", () =>
    Effect.gen(function*() {
      let bound = 1
      let running = 0
      const release = yield* Deferred.make<void>()
      const { client } = yield* pair({
        handler: handlers({ block: () => Effect.suspend(() => (running++, Effect.as(Deferred.await(release), "done"))) }),
        maxConcurrentIncoming: () => bound,
        onDiagnostic: () => Effect.void
      })
      const first = yield* Effect.forkChild(client.request("block"), { startImmediately: true })
      while (running < 1) yield* Effect.yieldNow
      expect(yield* Effect.flip(client.request("block"))).toMatchObject({ code: ErrorCode.Overloaded, data: { limit: 1, mode: "FM-37" } })
      bound = 2
      // the second request must reach the server while the first still runs: the bound now read is 2
      const second = yield* Effect.forkChild(client.request("block"), { startImmediately: true })
      for (let i = 0; i < 1_000 && running < 2 && second.pollUnsafe() === undefined; i++) yield* Effect.yieldNow
      expect(running).toBe(2)
      yield* Deferred.succeed(release, undefined)
      expect([yield* Fiber.join(first), yield* Fiber.join(second)]).toEqual(["done", "done"])
    }))
})
