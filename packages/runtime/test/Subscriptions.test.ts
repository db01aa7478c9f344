import { describe, expect, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/testing/TestClock"
import { Subscriptions } from "@effect-mcp/runtime"
import { quiet, runtimeLayer, settle, until, world } from "./support/world.ts"

describe("Subscriptions", () => {
  it.effect("delivers a topic's messages to its subscribers and counts them; an unsubscribed topic is freed", () =>
    Effect.gen(function*() {
      const hub = yield* Subscriptions.Subscriptions
      const a = yield* Effect.forkChild(Stream.runCollect(Stream.take(hub.subscribe("file:///a"), 2)))
      const b = yield* Effect.forkChild(Stream.runCollect(Stream.take(hub.subscribe("file:///a"), 1)))
      yield* until("subscribed", Effect.map(hub.topics, (t) => t[0]?.subscribers === 2))
      expect(yield* hub.publish("file:///a", "changed 1")).toBe(2)
      expect(yield* hub.publish("file:///b", "nobody")).toBe(0)
      expect(yield* Fiber.join(b)).toEqual(["changed 1"])
      yield* until("b left", Effect.map(hub.topics, (t) => t[0]?.subscribers === 1))
      expect(yield* hub.publish("file:///a", "changed 2")).toBe(1)
      expect(yield* Fiber.join(a)).toEqual(["changed 1", "changed 2"])
      yield* until("topic freed", Effect.map(hub.topics, (t) => t.length === 0))
    }).pipe(Effect.provide(Subscriptions.Subscriptions.layer())))

  it.effect("FM-15 a slow subscriber keeps only the newest messages; the publisher never waits", () =>
    Effect.gen(function*() {
      const hub = yield* Subscriptions.Subscriptions
      const gate = yield* Deferred.make<void>()
      const slow = yield* Effect.forkChild(Stream.runCollect(hub.subscribe("t").pipe(
        Stream.tap((n) => n === 0 ? Deferred.await(gate) : Effect.void), // busy with the first message
        Stream.takeUntil((n) => n === 9)
      )))
      yield* until("subscribed", Effect.map(hub.topics, (t) => t.length === 1))
      yield* hub.publish("t", 0)
      yield* settle
      for (let i = 1; i < 10; i++) expect(yield* hub.publish("t", i)).toBe(1)
      yield* Deferred.succeed(gate, undefined)
      // the first message, at most one already in the stream's pipeline, then the buffer's newest two
      const got = yield* Fiber.join(slow)
      expect(got[0]).toBe(0)
      expect(got.slice(-2)).toEqual([8, 9])
      expect(got.length).toBeLessThanOrEqual(4)
    }).pipe(Effect.provide(Subscriptions.Subscriptions.layer({ bufferSize: 2 }))))

  it.effect("a crashed hub ends every subscription stream cleanly; subscribers come back to the restarted hub", () =>
    quiet(Effect.gen(function*() {
      const w = yield* world
      const hub = yield* Subscriptions.Subscriptions
      const before = yield* Effect.forkChild(Stream.runCollect(hub.subscribe("t")))
      yield* until("subscribed", Effect.map(hub.topics, (t) => t.length === 1))
      yield* hub.publish("t", "one")
      expect(yield* w.runtime.crash("infrastructure/subscriptions/hub")).toBe(true)
      expect(yield* Fiber.join(before)).toEqual(["one"]) // ended, not failed, not hung
      // published while the hub restarts: waits (at most 1 s), then reaches the new hub's subscribers (none yet)
      const lost = yield* Effect.forkChild(hub.publish("t", "lost"))
      yield* settle
      yield* TestClock.adjust("50 millis")
      expect(yield* Fiber.join(lost)).toBe(0)
      const after = yield* Effect.forkChild(Stream.runCollect(Stream.take(hub.subscribe("t"), 1)))
      yield* until("resubscribed", Effect.map(hub.topics, (t) => t.length === 1))
      expect(yield* hub.publish("t", "two")).toBe(1)
      expect(yield* Fiber.join(after)).toEqual(["two"])
    }).pipe(Effect.provide(runtimeLayer()))))
})
