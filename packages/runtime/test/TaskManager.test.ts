import { describe, expect, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as TestClock from "effect/testing/TestClock"
import { TaskManager } from "@effect-mcp/runtime"
import { quiet, runtimeLayer, settle, until, world } from "./support/world.ts"

describe("TaskManager", () => {
  it.effect("runs tasks by id: status, outcome, cancel; results are reaped after their TTL", () =>
    Effect.gen(function*() {
      const tasks = yield* TaskManager.TaskManager
      const gate = yield* Deferred.make<number>()
      const id = yield* tasks.submit(Deferred.await(gate), "t1")
      expect(yield* tasks.status(id)).toMatchObject(Option.some({ _tag: "Running" }))
      yield* Deferred.succeed(gate, 42)
      expect(yield* tasks.await(id)).toEqual(Option.some(Exit.succeed(42)))
      const stuck = yield* tasks.submit(Effect.never)
      expect(yield* tasks.cancel(stuck)).toBe(true)
      yield* until("cancelled", Effect.map(tasks.status(stuck), (s) => Option.isSome(s) && s.value._tag === "Done"))
      expect(yield* tasks.cancel(stuck)).toBe(false)
      yield* TestClock.adjust("2 minutes") // TTL 1 minute, reaper every minute
      expect(yield* tasks.status(id)).toEqual(Option.none())
      expect(yield* tasks.size).toBe(0)
    }).pipe(Effect.provide(TaskManager.TaskManager.layer({ resultTtl: "1 minute" }))))

  it.effect("FM-05 past maxTasks a task is refused", () =>
    Effect.gen(function*() {
      const tasks = yield* TaskManager.TaskManager
      yield* tasks.submit(Effect.never)
      expect(yield* Effect.flip(tasks.submit(Effect.never))).toMatchObject({ _tag: "TaskLimitReached", mode: "FM-05", limit: 1 })
    }).pipe(Effect.provide(TaskManager.TaskManager.layer({ maxTasks: 1 }))))

  it.effect("running tasks survive a crash of the reaper (they live in the manager's scope, not the member's)", () =>
    quiet(Effect.gen(function*() {
      const w = yield* world
      const tasks = yield* TaskManager.TaskManager
      const gate = yield* Deferred.make<string>()
      const id = yield* tasks.submit(Deferred.await(gate))
      expect(yield* w.runtime.crash("infrastructure/tasks/reaper")).toBe(true)
      yield* settle
      yield* TestClock.adjust("50 millis")
      yield* settle
      yield* Deferred.succeed(gate, "done")
      expect(yield* tasks.await(id)).toEqual(Option.some(Exit.succeed("done")))
    }).pipe(Effect.provide(runtimeLayer()))))
})
