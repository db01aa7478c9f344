import { describe, expect, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/testing/TestClock"
import * as Supervisor from "../src/Supervisor.ts"

type Command = "crash" | "fail" | "normal"

/** A harness of controllable children that record starts and stops. */
const harness = () => {
  const log: Array<string> = []
  const starts: Record<string, number> = {}
  const controls = new Map<string, Deferred.Deferred<Command>>()
  const child = (id: string, restart: Supervisor.Restart, shutdown: Supervisor.Shutdown = 1_000): Supervisor.ChildSpec<string> => ({
    id,
    restart,
    shutdown,
    start: Effect.gen(function*() {
      starts[id] = (starts[id] ?? 0) + 1
      log.push(`start ${id}`)
      const control = yield* Deferred.make<Command>()
      controls.set(id, control)
      const command = yield* Deferred.await(control)
      if (command === "crash") return yield* Effect.die(new Error(`${id} crashed`))
      if (command === "fail") return yield* Effect.fail(`${id} failed`)
    }).pipe(Effect.onInterrupt(() => Effect.sync(() => log.push(`stop ${id}`))))
  })
  const send = (id: string, command: Command) => Effect.suspend(() => Deferred.succeed(controls.get(id)!, command))
  /** Lets the supervisor's fibers run until the condition holds (bounded). */
  const until = (condition: () => boolean) =>
    Effect.gen(function*() {
      for (let i = 0; i < 10_000 && !condition(); i++) yield* Effect.yieldNow
      expect(condition()).toBe(true)
    })
  return { log, starts, child, send, until }
}

describe("Supervisor (OTP semantics)", () => {
  it.effect("starts children left to right and stops them in reverse order", () =>
    Effect.gen(function*() {
      const h = harness()
      yield* Effect.scoped(Effect.gen(function*() {
        yield* Supervisor.make(Supervisor.defaults, [h.child("a", "permanent"), h.child("b", "permanent"), h.child("c", "permanent")])
        yield* h.until(() => h.log.length === 3)
      }))
      expect(h.log).toEqual(["start a", "start b", "start c", "stop c", "stop b", "stop a"])
    }))

  it.effect("one_for_one restarts only the child that crashed", () =>
    Effect.gen(function*() {
      const h = harness()
      yield* Supervisor.make({ ...Supervisor.defaults, intensity: 3 }, [h.child("a", "permanent"), h.child("b", "permanent")])
      yield* h.until(() => h.starts.b === 1)
      yield* h.send("a", "crash")
      yield* h.until(() => h.starts.a === 2)
      expect(h.starts).toEqual({ a: 2, b: 1 })
    }))

  it.effect("one_for_all stops the others in reverse order and restarts all", () =>
    Effect.gen(function*() {
      const h = harness()
      yield* Supervisor.make({ strategy: "one_for_all", intensity: 3, periodMs: 5_000 }, [
        h.child("a", "permanent"),
        h.child("b", "permanent"),
        h.child("c", "permanent")
      ])
      yield* h.until(() => h.starts.c === 1)
      yield* h.send("b", "crash")
      yield* h.until(() => h.starts.c === 2)
      expect(h.log.slice(3)).toEqual(["stop c", "stop a", "start a", "start b", "start c"])
    }))

  it.effect("rest_for_one restarts the child and those started after it", () =>
    Effect.gen(function*() {
      const h = harness()
      yield* Supervisor.make({ strategy: "rest_for_one", intensity: 3, periodMs: 5_000 }, [
        h.child("a", "permanent"),
        h.child("b", "permanent"),
        h.child("c", "permanent")
      ])
      yield* h.until(() => h.starts.c === 1)
      yield* h.send("b", "crash")
      yield* h.until(() => h.starts.c === 2)
      expect(h.starts).toEqual({ a: 1, b: 2, c: 2 })
      expect(h.log.slice(3)).toEqual(["stop c", "start b", "start c"])
    }))

  it.effect("permanent always restarts; transient only after an abnormal exit; temporary never", () =>
    Effect.gen(function*() {
      const h = harness()
      const sup = yield* Supervisor.make({ ...Supervisor.defaults, intensity: 10 }, [
        h.child("p", "permanent"),
        h.child("t", "transient"),
        h.child("t2", "transient"),
        h.child("x", "temporary")
      ])
      yield* h.until(() => h.starts.x === 1)
      yield* h.send("p", "normal")
      yield* h.until(() => h.starts.p === 2)
      yield* h.send("t", "normal") // normal exit: not restarted
      yield* h.send("t2", "fail") // abnormal exit: restarted
      yield* h.until(() => h.starts.t2 === 2)
      yield* h.send("x", "crash") // temporary: never, and removed
      yield* h.until(() => Supervisor.reasonOf(Exit.succeed(1)) === "normal")
      for (let i = 0; i < 100; i++) yield* Effect.yieldNow
      expect(h.starts).toEqual({ p: 2, t: 1, t2: 2, x: 1 })
      const children = yield* sup.children
      expect(children.map((c) => [c.id, c.running])).toEqual([["p", true], ["t", false], ["t2", true]])
    }))

  it.effect("FM-02 more than intensity restarts within period escalates: children stopped in reverse order, typed failure", () =>
    Effect.gen(function*() {
      const h = harness()
      const sup = yield* Supervisor.make({ strategy: "one_for_one", intensity: 2, periodMs: 5_000 }, [
        h.child("a", "permanent"),
        h.child("b", "permanent")
      ])
      const events = yield* sup.events.pipe(Stream.filter((e) => e._tag === "Escalated"), Stream.take(1), Stream.runCollect, Effect.forkChild)
      yield* h.until(() => h.starts.b === 1)
      // crashes spaced wider than the period do not accumulate
      for (let i = 0; i < 4; i++) {
        yield* h.send("a", "crash")
        yield* h.until(() => h.starts.a === i + 2)
        yield* TestClock.adjust("6 seconds")
      }
      // three crashes within 5 s exceed intensity 2
      yield* h.send("a", "crash")
      yield* h.until(() => h.starts.a === 6)
      yield* h.send("a", "crash")
      yield* h.until(() => h.starts.a === 7)
      yield* h.send("a", "crash")
      const error = yield* Effect.flip(sup.await)
      expect(error).toMatchObject({ _tag: "SupervisorEscalated", mode: "FM-02", childId: "a", restarts: 3, intensity: 2 })
      expect(h.log.slice(-1)).toEqual(["stop b"])
      expect((yield* Fiber.join(events))[0]).toMatchObject({ _tag: "Escalated" })
    }))

  it.effect("a child whose finalizer outlives its shutdown time does not hold the supervisor", () =>
    Effect.gen(function*() {
      const h = harness()
      const slow: Supervisor.ChildSpec<string> = {
        id: "slow",
        restart: "permanent",
        shutdown: 100,
        start: Effect.never.pipe(Effect.onInterrupt(() => Effect.sleep("1 hour")))
      }
      const fiber = yield* Effect.scoped(Effect.gen(function*() {
        yield* Supervisor.make(Supervisor.defaults, [h.child("a", "permanent"), slow])
        yield* h.until(() => h.starts.a === 1)
      })).pipe(Effect.forkChild)
      yield* TestClock.adjust("200 millis")
      yield* Fiber.join(fiber)
      expect(h.log).toContain("stop a")
    }))

  it.effect("simple_one_for_one supervises dynamic children; invalid specs are typed errors", () =>
    Effect.gen(function*() {
      const h = harness()
      const sup = yield* Supervisor.make<string, never>({ strategy: "simple_one_for_one", intensity: 5, periodMs: 5_000 }, [])
      yield* sup.startChild("w1", h.child("w1", "transient").start)
      yield* sup.startChild("w2", h.child("w2", "transient").start)
      yield* h.until(() => h.starts.w2 === 1)
      yield* h.send("w1", "crash")
      yield* h.until(() => h.starts.w1 === 2)
      expect(h.starts.w2).toBe(1)
      yield* sup.terminateChild("w2")
      expect(h.log).toContain("stop w2")
      expect(yield* Effect.flip(sup.startChild("w1", Effect.never))).toMatchObject({ _tag: "InvalidSpec" })
      const dup = yield* Effect.flip(Supervisor.make(Supervisor.defaults, [h.child("a", "permanent"), h.child("a", "permanent")]))
      expect(dup).toMatchObject({ _tag: "InvalidSpec", mode: "FM-02" })
      const bad = yield* Effect.flip(Supervisor.make<string, never>({ strategy: "one_for_one", intensity: -1, periodMs: 5_000 }, []))
      expect(bad._tag).toBe("InvalidSpec")
    }))
})
