import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as TestClock from "effect/testing/TestClock"
import { EventStore } from "@effect-mcp/runtime"

describe("EventStore", () => {
  it.effect("FM-13 keeps each session's events apart, replays after a sequence number, bounds sessions (LRU) and drops idle ones", () =>
    Effect.gen(function*() {
      const store = yield* EventStore.EventStore
      yield* store.append("s1", { streamId: "get", seq: 1, text: "a" })
      yield* store.append("s1", { streamId: "get", seq: 2, text: "b" })
      yield* store.append("s2", { streamId: "get", seq: 1, text: "x" })
      expect((yield* store.after("s1", "get", 1)).map((e) => e.text)).toEqual(["b"])
      expect((yield* store.after("s2", "get", 0)).map((e) => e.text)).toEqual(["x"])
      expect(yield* store.after("nobody", "get", 0)).toEqual([])
      yield* store.after("s1", "get", 0) // s1 is now the most recently used
      yield* store.append("s3", { streamId: "get", seq: 1, text: "y" }) // bound 2: s2 goes
      expect(yield* store.after("s2", "get", 0)).toEqual([])
      expect(yield* store.sessions).toBe(2)
      yield* TestClock.adjust("11 minutes")
      expect(yield* store.sessions).toBe(0)
    }).pipe(Effect.provide(EventStore.EventStore.layer({ maxSessions: 2 }))))
})
