import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/testing/TestClock"
import { SessionManager } from "@effect-mcp/runtime"
import { settle } from "./support/world.ts"

describe("SessionManager", () => {
  it.effect("FM-41 an idle session expires at the next sweep; a touched one lives on; a gone one is SessionNotFound", () =>
    Effect.gen(function*() {
      const sessions = yield* SessionManager.SessionManager
      const expired = yield* Effect.forkChild(Stream.runCollect(Stream.take(sessions.expired, 1)))
      yield* settle
      const idle = yield* sessions.open("idle")
      const busy = yield* sessions.open()
      yield* TestClock.adjust("40 seconds")
      yield* sessions.touch(busy.id)
      yield* TestClock.adjust("30 seconds") // sweep at 60 s: idle is 60 s old, busy 20 s
      expect(yield* Fiber.join(expired)).toEqual([idle.id])
      expect(yield* Effect.flip(sessions.get(idle.id))).toMatchObject({ _tag: "SessionNotFound", mode: "FM-41", sessionId: "idle" })
      expect((yield* sessions.get(busy.id)).lastActivity).toBe(40_000)
      expect(yield* sessions.size).toBe(1)
      expect(yield* sessions.close(busy.id)).toBe(true)
      expect(yield* Effect.flip(sessions.touch(busy.id))).toMatchObject({ _tag: "SessionNotFound" })
    }).pipe(Effect.provide(SessionManager.SessionManager.layer({ idleTimeout: "1 minute", sweepInterval: "30 seconds" }))))

  it.effect("FM-36 past maxSessions a new session is refused and none is evicted", () =>
    Effect.gen(function*() {
      const sessions = yield* SessionManager.SessionManager
      yield* sessions.open("a")
      yield* sessions.open("b")
      expect(yield* Effect.flip(sessions.open("c"))).toMatchObject({ _tag: "SessionLimitReached", mode: "FM-36", limit: 2 })
      yield* sessions.open("a") // reopening a known id is not a new session
      expect(yield* sessions.size).toBe(2)
    }).pipe(Effect.provide(SessionManager.SessionManager.layer({ maxSessions: 2 }))))
})
