import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Schema } from "effect"
import { TestClock } from "effect/testing"
import { placeholder } from "@effect-mcp/faults"

class E extends Schema.TaggedError<E>()("E", { mode: Schema.tag("FM-01"), limit: Schema.Int }) {}

describe("smoke", () => {
  it.effect("works", () => Effect.gen(function*() {
    const f = yield* Effect.sleep("1 second").pipe(Effect.as(placeholder), Effect.forkChild)
    yield* TestClock.adjust("1 second")
    expect(yield* Fiber.join(f)).toBe(1)
    const e = new E({ limit: 3 })
    expect(e.mode).toBe("FM-01")
  }))
})
