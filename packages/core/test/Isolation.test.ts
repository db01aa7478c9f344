import { describe, expect, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Ref from "effect/Ref"
import * as TestClock from "effect/testing/TestClock"
import fc from "fast-check"
import { ErrorCode } from "@effect-mcp/jsonrpc"
import type * as Protocol from "../src/Protocol.ts"
import { handlers, pair } from "./helpers.ts"

const SECRET = "SECRET-db-password-hunter2"

describe("handler isolation", () => {
  it.effect("FM-16 a failing handler does not affect other requests", () =>
    Effect.gen(function*() {
      const recorded = yield* Ref.make<Array<Protocol.Diagnostic>>([])
      const gate = yield* Deferred.make<void>()
      const { client } = yield* pair({
        handler: handlers({
          fails: () => Effect.andThen(Deferred.await(gate), Effect.fail(new Error(`connection to ${SECRET} refused`))),
          dies: () => Effect.andThen(Deferred.await(gate), Effect.die(new TypeError(`cannot read ${SECRET}`))),
          throws: () =>
            Effect.andThen(
              Deferred.await(gate),
              Effect.sync(() => {
                throw new RangeError(SECRET)
              })
            ),
          works: () => Effect.as(Deferred.await(gate), { ok: true })
        }),
        onDiagnostic: (d) => Ref.update(recorded, (r) => [...r, d])
      })
      const calls = yield* Effect.forEach(
        ["fails", "dies", "throws", "works"],
        (m) => client.request(m).pipe(Effect.result, Effect.forkChild)
      )
      yield* Deferred.succeed(gate, undefined)
      const [fails, dies, throws, works] = yield* Effect.forEach(calls, Fiber.join)
      expect(works).toMatchObject({ _tag: "Success", success: { ok: true } })
      for (const r of [fails, dies, throws]) {
        expect(r).toMatchObject({ _tag: "Failure", failure: { _tag: "RemoteError", code: ErrorCode.InternalError, message: "Internal error" } })
        const text = JSON.stringify(r)
        expect(text).not.toContain("SECRET")
        expect(text).not.toContain("at ")
      }
      const modes = (yield* Ref.get(recorded)).map((d) => `${d._tag}:${d.mode}`).sort()
      expect(modes).toEqual(["HandlerDefect:FM-38", "HandlerDefect:FM-38", "HandlerError:FM-42"])
      // locally the details are kept for the operator
      expect((yield* Ref.get(recorded)).some((d) => "detail" in d && String(d.detail).includes(SECRET))).toBe(true)
      // and the connection still serves
      expect(yield* client.request("works")).toEqual({ ok: true })
    }))

  it.effect("FM-37 past maxConcurrentIncoming the peer gets Overloaded", () =>
    Effect.gen(function*() {
      const release = yield* Deferred.make<void>()
      const { client, server } = yield* pair({
        handler: handlers({ block: () => Effect.as(Deferred.await(release), "done") }),
        maxConcurrentIncoming: 4,
        onDiagnostic: () => Effect.void
      })
      const blocked = yield* Effect.forEach([1, 2, 3, 4], () => Effect.forkChild(client.request("block")))
      while ((yield* server.inFlight) < 4) yield* Effect.yieldNow
      const refused = yield* Effect.flip(client.request("block"))
      expect(refused).toMatchObject({ _tag: "RemoteError", code: ErrorCode.Overloaded, data: { limit: 4 } })
      yield* Deferred.succeed(release, undefined)
      expect(yield* Effect.forEach(blocked, Fiber.join)).toEqual(["done", "done", "done", "done"])
      expect(yield* client.request("block")).toBe("done")
    }))

  it.effect("FM-46 past the rate limit requests are refused with a retry hint, then admitted again", () =>
    Effect.gen(function*() {
      const recorded = yield* Ref.make<Array<string>>([])
      const { client } = yield* pair({
        handler: handlers({ ping: () => Effect.succeed({}) }),
        rateLimit: { limit: 3, window: "1 second" },
        onDiagnostic: (d) => Ref.update(recorded, (r) => [...r, `${d._tag}:${d.mode}`])
      })
      for (let i = 0; i < 3; i++) expect(yield* client.request("ping")).toEqual({})
      const refused = yield* Effect.flip(client.request("ping"))
      expect(refused).toMatchObject({ _tag: "RemoteError", code: ErrorCode.Overloaded, data: { limit: 3 } })
      expect((refused as { data: { retryAfterMs: number } }).data.retryAfterMs).toBeGreaterThan(0)
      expect(yield* Ref.get(recorded)).toEqual(["RateLimited:FM-46"])
      yield* TestClock.adjust("1 second")
      expect(yield* client.request("ping")).toEqual({})
    }))

  it.effect("FM-38 a handler past its time bound is interrupted and answered", () =>
    Effect.gen(function*() {
      const finalized = yield* Deferred.make<void>()
      const recorded = yield* Ref.make<Array<string>>([])
      const { client } = yield* pair({
        handler: handlers({
          slow: () => Effect.never.pipe(Effect.onInterrupt(() => Deferred.succeed(finalized, undefined))),
          quick: () => Effect.succeed("quick")
        }),
        handlerTimeout: (r) => (r.method === "slow" ? "5 seconds" : undefined),
        onDiagnostic: (d) => Ref.update(recorded, (r) => [...r, `${d._tag}:${d.mode}`])
      })
      const call = yield* client.request("slow").pipe(Effect.flip, Effect.forkChild)
      yield* TestClock.adjust("4 seconds")
      expect(call.pollUnsafe()).toBeUndefined()
      yield* TestClock.adjust("1 second")
      expect(yield* Fiber.join(call)).toMatchObject({ _tag: "RemoteError", code: ErrorCode.RequestTimeout })
      yield* Deferred.await(finalized)
      expect(yield* Ref.get(recorded)).toEqual(["HandlerTimedOut:FM-38"])
      expect(yield* client.request("quick")).toBe("quick")
    }))

  it.effect("FM-49 a crashing handler leaves the connection serving (property)", () =>
    Effect.gen(function*() {
      type Outcome = "ok" | "fail" | "die" | "throw" | "sleep"
      const run = (outcomes: ReadonlyArray<Outcome>) =>
        Effect.scoped(Effect.gen(function*() {
          const { client } = yield* pair({
            handler: (method) => (r) => {
              const i = r.params!.i as number
              switch (method as Outcome) {
                case "ok":
                  return Effect.succeed(i)
                case "fail":
                  return Effect.fail("nope")
                case "die":
                  return Effect.die("boom")
                case "throw":
                  return Effect.sync(() => {
                    throw new Error("thrown")
                  })
                case "sleep":
                  return Effect.as(Effect.yieldNow, i)
              }
            },
            onDiagnostic: () => Effect.void
          })
          const results = yield* Effect.forEach(outcomes, (o, i) => Effect.result(client.request(o, { i })), {
            concurrency: "unbounded"
          })
          results.forEach((r, i) => {
            const o = outcomes[i]!
            if (o === "ok" || o === "sleep") expect(r).toMatchObject({ _tag: "Success", success: i })
            else expect(r).toMatchObject({ _tag: "Failure", failure: { code: ErrorCode.InternalError } })
          })
          expect(yield* client.request("ok", { i: -1 })).toBe(-1)
        }))
      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(
            fc.array(fc.constantFrom<Outcome>("ok", "fail", "die", "throw", "sleep"), { minLength: 1, maxLength: 40 }),
            (outcomes) => Effect.runPromise(run(outcomes))
          ),
          { numRuns: 50 }
        )
      )
    }))
})
