import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Metric from "effect/Metric"
import * as References from "effect/References"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/testing/TestClock"
import * as fc from "fast-check"
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

  it.effect("rest_for_one and one_for_all remove a temporary sibling they stopped instead of restarting it", () =>
    Effect.gen(function*() {
      const h = harness()
      const rest = yield* Supervisor.make({ strategy: "rest_for_one", intensity: 3, periodMs: 5_000 }, [
        h.child("a", "permanent"),
        h.child("b", "permanent"),
        h.child("tmp", "temporary"),
        h.child("c", "permanent")
      ])
      yield* h.until(() => h.starts.c === 1)
      yield* h.send("b", "crash")
      yield* h.until(() => h.starts.c === 2)
      expect(h.starts).toEqual({ a: 1, b: 2, tmp: 1, c: 2 })
      expect((yield* rest.children).map((c) => c.id)).toEqual(["a", "b", "c"])

      const g = harness()
      const all = yield* Supervisor.make({ strategy: "one_for_all", intensity: 3, periodMs: 5_000 }, [
        g.child("t", "transient"),
        g.child("tmp", "temporary"),
        g.child("p", "permanent")
      ])
      yield* g.until(() => g.starts.p === 1)
      yield* g.send("t", "normal") // a transient child that ended normally stays in the list, not running
      yield* g.until(() => Supervisor.reasonOf(Exit.void) === "normal")
      for (let i = 0; i < 50; i++) yield* Effect.yieldNow
      yield* g.send("p", "crash")
      yield* g.until(() => g.starts.p === 2)
      // OTP's start_children starts every child kept in the list, the ended transient one included
      expect(g.starts).toEqual({ t: 2, tmp: 1, p: 2 })
      expect((yield* all.children).map((c) => [c.id, c.running])).toEqual([["t", true], ["p", true]])
    }))

  it.effect("the intensity window is inclusive: a restart exactly periodMs after another still counts (add_restart/1)", () =>
    Effect.gen(function*() {
      const h = harness()
      const sup = yield* Supervisor.make({ strategy: "one_for_one", intensity: 1, periodMs: 1_000 }, [h.child("a", "permanent")])
      yield* h.until(() => h.starts.a === 1)
      yield* h.send("a", "crash")
      yield* h.until(() => h.starts.a === 2)
      yield* TestClock.adjust("1001 millis") // outside the window: forgotten
      yield* h.send("a", "crash")
      yield* h.until(() => h.starts.a === 3)
      yield* TestClock.adjust("1000 millis") // exactly the period: still inside
      yield* h.send("a", "crash")
      expect(yield* Effect.flip(sup.await)).toMatchObject({ _tag: "SupervisorEscalated", restarts: 2, intensity: 1 })
    }))

  it.effect("backoff: the affected siblings stop first, then the delay, which grows and starts afresh after a quiet window", () =>
    Effect.gen(function*() {
      const h = harness()
      yield* Supervisor.make({
        strategy: "rest_for_one",
        intensity: 10,
        periodMs: 10_000,
        backoff: Schedule.exponential("100 millis")
      }, [h.child("a", "permanent"), h.child("b", "permanent")])
      yield* h.until(() => h.starts.b === 1)
      yield* h.send("a", "crash")
      yield* h.until(() => h.log.includes("stop b")) // b stops at once, before the delay
      yield* TestClock.adjust("99 millis")
      expect(h.starts).toEqual({ a: 1, b: 1 })
      yield* TestClock.adjust("1 millis")
      yield* h.until(() => h.starts.b === 2)
      yield* h.send("a", "crash") // second restart in the window: 200 ms
      yield* TestClock.adjust("199 millis")
      for (let i = 0; i < 50; i++) yield* Effect.yieldNow
      expect(h.starts.a).toBe(2)
      yield* TestClock.adjust("1 millis")
      yield* h.until(() => h.starts.b === 3)
      yield* TestClock.adjust("11 seconds") // a quiet window: the backoff starts again at 100 ms
      yield* h.send("a", "crash")
      yield* TestClock.adjust("100 millis")
      yield* h.until(() => h.starts.b === 4)
    }))

  it.effect("autoShutdown: any_significant ends the supervisor normally when a significant child ends by itself", () =>
    Effect.gen(function*() {
      const h = harness()
      const any = yield* Supervisor.make({ ...Supervisor.defaults, autoShutdown: "any_significant" }, [
        h.child("worker", "permanent"),
        { ...h.child("stdio", "transient"), significant: true }
      ])
      yield* h.until(() => h.starts.stdio === 1)
      yield* h.send("stdio", "normal")
      yield* any.await
      expect(h.log).toContain("stop worker")

      const g = harness()
      const all = yield* Supervisor.make({ ...Supervisor.defaults, autoShutdown: "all_significant" }, [
        { ...g.child("x", "temporary"), significant: true },
        { ...g.child("y", "temporary"), significant: true }
      ])
      const waiting = yield* Effect.forkChild(all.await)
      yield* g.until(() => g.starts.y === 1)
      yield* g.send("x", "crash")
      for (let i = 0; i < 50; i++) yield* Effect.yieldNow
      expect(waiting.pollUnsafe()).toBeUndefined()
      yield* g.send("y", "normal")
      yield* Fiber.join(waiting)
      const invalid = yield* Effect.flip(Supervisor.make(Supervisor.defaults, [{ ...g.child("p", "permanent"), significant: true }]))
      expect(invalid).toMatchObject({ _tag: "InvalidSpec" })
    }))

  it.effect("every start, exit (with its Cause), restart, stop and escalation is an event and a counter tagged by supervisor and child", () =>
    Effect.gen(function*() {
      const h = harness()
      const registry: Metric.MetricRegistry = new Map()
      yield* Effect.gen(function*() {
        const sup = yield* Supervisor.make({ strategy: "one_for_one", intensity: 1, periodMs: 5_000, name: "tier" }, [
          h.child("a", "permanent"),
          h.child("b", "permanent")
        ])
        const collected = yield* sup.events.pipe(Stream.takeUntil((e) => e._tag === "Escalated"), Stream.runCollect, Effect.forkChild)
        yield* h.until(() => h.starts.b === 1)
        yield* Effect.yieldNow
        yield* h.send("a", "crash")
        yield* h.until(() => h.starts.a === 2)
        yield* h.send("a", "fail")
        const events = yield* Fiber.join(collected)
        expect(events.map((e) => `${e._tag}:${e._tag === "Escalated" ? e.error.childId : e.id}`)).toEqual([
          "Exited:a",
          "Restarting:a",
          "Started:a",
          "Exited:a",
          "Stopped:b",
          "Escalated:a"
        ])
        const exited = events.filter((e) => e._tag === "Exited")
        expect(exited.map((e) => e.supervisor)).toEqual(["tier", "tier"])
        const first = exited[0]!
        expect(first._tag === "Exited" && first.reason).toBe("abnormal")
        expect(first._tag === "Exited" && Cause.hasDies(first.cause)).toBe(true)
        const second = exited[1]!
        expect(second._tag === "Exited" && Cause.hasFails(second.cause)).toBe(true)
        expect(events.find((e) => e._tag === "Restarting")).toMatchObject({ id: "a", restarts: 1, affected: ["a"], delayMs: 0 })
        expect(events.at(-1)).toMatchObject({ _tag: "Escalated", supervisor: "tier" })
        yield* Effect.flip(sup.await) // the escalation's event, counter and log come before the failure
        const snapshot = yield* Metric.snapshot
        const count = (name: string, attributes: Record<string, string>) => {
          const found = snapshot.find((m) => m.id === name && JSON.stringify(m.attributes) === JSON.stringify(attributes))
          return found?.type === "Counter" ? found.state.count : undefined
        }
        expect(count(Supervisor.metricName("starts"), { supervisor: "tier", child: "a" })).toBe(2)
        expect(count(Supervisor.metricName("starts"), { supervisor: "tier", child: "b" })).toBe(1)
        expect(count(Supervisor.metricName("exits"), { supervisor: "tier", child: "a", reason: "abnormal" })).toBe(2)
        expect(count(Supervisor.metricName("restarts"), { supervisor: "tier", child: "a" })).toBe(1)
        expect(count(Supervisor.metricName("stops"), { supervisor: "tier", child: "b" })).toBe(1)
        expect(count(Supervisor.metricName("escalations"), { supervisor: "tier", child: "a" })).toBe(1)
      }).pipe(Effect.provideService(Metric.MetricRegistry, registry))
    }))

  it.effect("addChild appends children to a running supervisor; a stopped supervisor takes none", () =>
    Effect.gen(function*() {
      const h = harness()
      const sup = yield* Supervisor.make({ strategy: "rest_for_one", intensity: 0, periodMs: 5_000 }, [h.child("a", "permanent")])
      yield* sup.addChild(h.child("late", "transient"))
      yield* h.until(() => h.starts.late === 1)
      expect((yield* sup.children).map((c) => c.id)).toEqual(["a", "late"])
      expect(yield* Effect.flip(sup.addChild(h.child("a", "permanent")))).toMatchObject({ _tag: "InvalidSpec" })
      expect(yield* Effect.flip(sup.startChild("x", Effect.never))).toMatchObject({ _tag: "InvalidSpec" })
      yield* h.send("a", "crash") // intensity 0: the first restart escalates
      yield* Effect.flip(sup.await)
      expect(yield* Effect.flip(sup.addChild(h.child("b", "permanent")))).toMatchObject({ _tag: "SupervisorStopped", mode: "FM-02" })
    }))

  it.effect("simple_one_for_one: the template's restart type applies to every dynamic child", () =>
    Effect.gen(function*() {
      const h = harness()
      const sup = yield* Supervisor.make<string, never>({
        strategy: "simple_one_for_one",
        intensity: 5,
        periodMs: 5_000,
        template: { restart: "temporary", shutdown: 1_000 }
      }, [])
      yield* sup.startChild("s1", h.child("s1", "temporary").start)
      yield* sup.startChild("s2", h.child("s2", "temporary").start)
      yield* h.until(() => h.starts.s2 === 1)
      yield* h.send("s1", "crash")
      yield* h.until(() => h.log.length === 2)
      for (let i = 0; i < 50; i++) yield* Effect.yieldNow
      expect(h.starts).toEqual({ s1: 1, s2: 1 })
      expect((yield* sup.children).map((c) => c.id)).toEqual(["s2"])
    }))

  it.effect("a supervisor as a child: its escalation is an abnormal exit that its parent's policy handles", () =>
    Effect.gen(function*() {
      const h = harness()
      const inner = Supervisor.child("inner", { strategy: "one_for_one", intensity: 0, periodMs: 5_000 }, Effect.succeed([h.child("w", "permanent")]))
      const parent = yield* Supervisor.make<unknown, never>({ strategy: "one_for_one", intensity: 3, periodMs: 5_000, name: "root" }, [inner])
      const restarting = yield* parent.events.pipe(Stream.filter((e) => e._tag === "Restarting"), Stream.take(1), Stream.runCollect, Effect.forkChild)
      yield* h.until(() => h.starts.w === 1)
      yield* Effect.yieldNow
      yield* h.send("w", "crash") // inner gives up at once; the root restarts it, with a fresh w
      yield* h.until(() => h.starts.w === 2)
      expect((yield* Fiber.join(restarting))[0]).toMatchObject({ supervisor: "root", id: "inner" })
    }))
})

/** The reference model of OTP's intensity/period rule: the index of the crash that escalates, if any. */
const escalatesAt = (times: ReadonlyArray<number>, intensity: number, periodMs: number): number | undefined => {
  let window: Array<number> = []
  for (let i = 0; i < times.length; i++) {
    const now = times[i]!
    window = [...window.filter((t) => now - t <= periodMs), now]
    if (window.length > intensity) return i
  }
  return undefined
}

const crashTimes = (gaps: ReadonlyArray<number>) => gaps.reduce<Array<number>>((acc, gap) => [...acc, (acc.at(-1) ?? 0) + gap], [])

describe("Supervisor intensity and period (properties)", () => {
  it("addRestart keeps exactly the restarts within the window and escalates past the intensity", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 3_000 }), { maxLength: 30 }),
        fc.integer({ min: 0, max: 6 }),
        fc.integer({ min: 1, max: 5_000 }),
        (gaps, intensity, periodMs) => {
          const times = crashTimes(gaps)
          let window: ReadonlyArray<number> = []
          let escalated: number | undefined
          times.forEach((now, i) => {
            if (escalated !== undefined) return
            const next = Supervisor.addRestart(window, now, intensity, periodMs)
            expect(next.restarts.every((t) => now - t <= periodMs)).toBe(true)
            expect(next.restarts.at(-1)).toBe(now)
            expect(next.restarts.length).toBe(times.slice(0, i + 1).filter((t) => now - t <= periodMs).length)
            window = next.restarts
            if (next.escalate) escalated = i
          })
          expect(escalated).toBe(escalatesAt(times, intensity, periodMs))
        }
      )
    )
  })

  it.effect("a supervisor on the TestClock escalates at exactly the crash the model predicts, never before", () =>
    Effect.promise(() =>
      fc.assert(
        fc.asyncProperty(
          fc.array(fc.integer({ min: 0, max: 2_000 }), { minLength: 1, maxLength: 12 }),
          fc.integer({ min: 0, max: 4 }),
          fc.integer({ min: 1, max: 3_000 }),
          (gaps, intensity, periodMs) =>
            Effect.runPromise(Effect.scoped(Effect.gen(function*() {
              const h = harness()
              const sup = yield* Supervisor.make({ strategy: "one_for_one", intensity, periodMs }, [h.child("a", "permanent")])
              const result = yield* Effect.forkChild(Effect.flip(sup.await))
              yield* h.until(() => h.starts.a === 1)
              const expected = escalatesAt(crashTimes(gaps), intensity, periodMs)
              for (let i = 0; i < gaps.length; i++) {
                yield* TestClock.adjust(gaps[i]!)
                yield* h.send("a", "crash")
                yield* h.until(() => h.starts.a === i + 2 || result.pollUnsafe() !== undefined)
                if (result.pollUnsafe() !== undefined) break
              }
              const escalated = result.pollUnsafe() === undefined ? undefined : h.starts.a! - 1
              expect(escalated).toBe(expected)
              if (expected !== undefined) {
                expect(yield* Fiber.join(result)).toMatchObject({ restarts: intensity + 1, intensity })
              }
            })).pipe(Effect.provideService(References.MinimumLogLevel, "None"), Effect.provide(TestClock.layer())))
        ),
        { numRuns: 60 }
      )
    ))
})
