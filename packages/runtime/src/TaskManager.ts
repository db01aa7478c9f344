/**
 * Tier 2: process-wide background tasks by id (long-running tool calls, MCP tasks that outlive their
 * request). The number of tasks is bounded (FM-05: past it `submit` fails, nothing is evicted); a finished
 * task's outcome is kept for `resultTtl` and then dropped by the reaper.
 *
 * Task fibers live in the manager's own scope, not in its supervised member (the reaper): a crashed reaper
 * restarts and every running task keeps running.
 *
 * @since 0.1.0
 */
import * as crypto from "node:crypto"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Member from "./internal/member.ts"

/** FM-05: the bound on live tasks is reached; the task is refused. Retry later. @since 0.1.0 @category errors */
export class TaskLimitReached extends Schema.TaggedError<TaskLimitReached>()("TaskLimitReached", {
  mode: Schema.tag("FM-05"),
  limit: Schema.Number
}) {}

/** A task's state. @since 0.1.0 @category models */
export type Status =
  | { readonly _tag: "Running"; readonly startedAt: number }
  | { readonly _tag: "Done"; readonly startedAt: number; readonly endedAt: number; readonly exit: Exit.Exit<unknown, unknown> }

/** Settings. @since 0.1.0 @category models */
export interface Options {
  /** Most tasks kept at once, running or done (default 1,000). */
  readonly maxTasks?: number
  /** How long a finished task's outcome is kept (default 1 hour). */
  readonly resultTtl?: Duration.Input
  /** How often the reaper runs (default 1 minute). */
  readonly sweepInterval?: Duration.Input
}

/** The service's shape. @since 0.1.0 @category models */
export interface Shape {
  /** Starts a task; returns its id (fresh unless given). */
  readonly submit: <A, E, R>(effect: Effect.Effect<A, E, R>, id?: string) => Effect.Effect<string, TaskLimitReached, R>
  readonly status: (id: string) => Effect.Effect<Option.Option<Status>>
  /** Waits for a task's outcome; `None` for an unknown task. */
  readonly await: (id: string) => Effect.Effect<Option.Option<Exit.Exit<unknown, unknown>>>
  /** Interrupts a running task; `false` when it was not running. */
  readonly cancel: (id: string) => Effect.Effect<boolean>
  readonly size: Effect.Effect<number>
}

/**
 * The task manager.
 *
 * @since 0.1.0
 * @category services
 */
export class TaskManager extends Context.Service<TaskManager, Shape>()("effect-mcp/runtime/TaskManager") {
  /** The task manager supervised on its own (outside the tiers). */
  static readonly layer = (options: Options = {}): Layer.Layer<TaskManager> =>
    Layer.effect(TaskManager)(Effect.flatMap(make(options), (s) => Member.standalone("tasks", s)))
}

const tasksGauge = Metric.gauge("mcp_tasks", { description: "Tasks kept by the task manager (running or done)" })

interface Entry {
  status: Status
  fiber: Fiber.Fiber<unknown, unknown> | undefined
}

/** The service and its member (`reaper`); tasks run in the current scope. @since 0.1.0 @category constructors */
export const make = (options: Options = {}): Effect.Effect<Member.Supervised<Shape>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const maxTasks = options.maxTasks ?? 1_000
    const ttlMs = Duration.toMillis(Member.duration(options.resultTtl, "1 hour"))
    const scope = yield* Effect.scope
    const clock = yield* Clock.Clock
    const tasks = new Map<string, Entry>()

    const reap = Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      for (const [id, entry] of tasks) {
        if (entry.status._tag === "Done" && now - entry.status.endedAt >= ttlMs) tasks.delete(id)
      }
      yield* Metric.update(tasksGauge, tasks.size)
    })

    const service: Shape = {
      submit: <A, E, R>(effect: Effect.Effect<A, E, R>, id?: string) =>
        Effect.gen(function*() {
          if (tasks.size >= maxTasks) return yield* new TaskLimitReached({ limit: maxTasks })
          const taskId = id ?? crypto.randomUUID()
          const startedAt = yield* Clock.currentTimeMillis
          const previous = tasks.get(taskId)
          if (previous?.fiber !== undefined) yield* Fiber.interrupt(previous.fiber)
          const entry: Entry = { status: { _tag: "Running", startedAt }, fiber: undefined }
          tasks.set(taskId, entry)
          const fiber = yield* effect.pipe(Effect.withSpan("TaskManager.task", { attributes: { taskId } }), Effect.forkIn(scope))
          entry.fiber = fiber
          // observed from outside: a task cancelled before it ever ran still ends
          fiber.addObserver((exit) => {
            entry.status = { _tag: "Done", startedAt, endedAt: clock.currentTimeMillisUnsafe(), exit }
          })
          yield* Metric.update(tasksGauge, tasks.size)
          return taskId
        }),
      status: (id) => Effect.sync(() => Option.map(Option.fromUndefinedOr(tasks.get(id)), (e) => e.status)),
      await: (id) =>
        Effect.suspend(() => {
          const entry = tasks.get(id)
          if (entry === undefined) return Effect.succeed(Option.none())
          if (entry.status._tag === "Done") return Effect.succeed(Option.some(entry.status.exit))
          return entry.fiber === undefined ? Effect.succeed(Option.none()) : Effect.map(Fiber.await(entry.fiber), Option.some)
        }),
      cancel: (id) =>
        Effect.suspend(() => {
          const entry = tasks.get(id)
          if (entry?.fiber === undefined || entry.status._tag === "Done") return Effect.succeed(false)
          return Effect.as(Fiber.interrupt(entry.fiber), true)
        }),
      size: Effect.sync(() => tasks.size)
    }
    return { service, members: [Member.periodic("reaper", Member.duration(options.sweepInterval, "1 minute"), reap)] }
  })
