/**
 * Tasks (MCP 2025-11-25, and the 2026-07-28 `io.modelcontextprotocol/tasks` extension): durable, polled
 * executions of requests. A task starts `working`, may go to `input_required`, and ends `completed`, `failed`
 * or `cancelled`; its final outcome (a result or a JSON-RPC error) is kept until its time-to-live passes.
 *
 * A store is bounded in size; expired tasks are dropped when the store is touched. `McpServer` keeps one per
 * connection for 2025-11-25 and one for the whole server for 2026-07-28.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as Schema from "effect/Schema"

/** A task's status. */
export type Status = "working" | "input_required" | "completed" | "failed" | "cancelled"

/** Terminal statuses: no transition leaves them. */
export const isTerminal = (status: Status): boolean =>
  status === "completed" || status === "failed" || status === "cancelled"

/** The wire shape of a task. */
export interface Task {
  readonly taskId: string
  readonly status: Status
  readonly statusMessage?: string
  readonly createdAt: string
  readonly lastUpdatedAt: string
  readonly ttl: number | null
  readonly pollInterval?: number
}

/** How a task ended: the result to return, or the JSON-RPC error to return. */
export type Outcome =
  | { readonly _tag: "Result"; readonly result: Record<string, unknown> }
  | { readonly _tag: "Error"; readonly code: number; readonly message: string; readonly data?: unknown }

/** FM-05: the store holds its maximum number of live tasks; the request is refused, nothing is evicted. */
export class TaskLimitReached extends Schema.TaggedError<TaskLimitReached>()("TaskLimitReached", {
  mode: Schema.tag("FM-05"),
  limit: Schema.Number
}) {
  override get message(): string {
    return `Too many live tasks (limit ${this.limit})`
  }
}

interface Entry {
  task: Task
  readonly expiresAt: number | undefined
  readonly outcome: Deferred.Deferred<Outcome>
  fiber: Fiber.Fiber<unknown, unknown> | undefined
  /** 2026-07-28 extension: the input requests still unanswered while `input_required`. */
  inputRequests: Record<string, unknown> | undefined
  /** 2026-07-28 extension: the answers `tasks/update` brought for the current input requests so far. */
  inputResponses: Record<string, unknown>
  /** 2026-07-28 extension: completed once every current input request has its answer. */
  update: Deferred.Deferred<Record<string, unknown>> | undefined
}

/** Store settings. */
export interface Options {
  /** Most live tasks per store (default 1,000). */
  readonly maxTasks?: number
  /** Longest time-to-live granted, in ms (default 1 hour); requests asking for more get this. */
  readonly maxTtlMs?: number
  /** Time-to-live when the request gives none, in ms (default 5 minutes). */
  readonly defaultTtlMs?: number
  /** Suggested polling interval, in ms (default 1,000). */
  readonly pollIntervalMs?: number
}

/** A store of tasks. */
export const make = (options: Options = {}) =>
  Effect.sync(() => {
    const maxTasks = options.maxTasks ?? 1_000
    const maxTtl = options.maxTtlMs ?? 3_600_000
    const defaultTtl = options.defaultTtlMs ?? 300_000
    const pollInterval = options.pollIntervalMs ?? 1_000
    const entries = new Map<string, Entry>()

    const sweep = (now: number) => {
      for (const [id, entry] of entries) if (entry.expiresAt !== undefined && entry.expiresAt <= now) entries.delete(id)
    }
    const iso = (ms: number) => new Date(ms).toISOString()

    /** Creates a task in `working`. */
    const create = (requestedTtl: unknown) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        sweep(now)
        if (entries.size >= maxTasks) return yield* new TaskLimitReached({ limit: maxTasks })
        const ttl = typeof requestedTtl === "number" && requestedTtl >= 0 ? Math.min(requestedTtl, maxTtl) : defaultTtl
        const task: Task = {
          taskId: crypto.randomUUID(),
          status: "working",
          createdAt: iso(now),
          lastUpdatedAt: iso(now),
          ttl,
          pollInterval
        }
        const entry: Entry = {
          task,
          expiresAt: now + ttl,
          outcome: yield* Deferred.make<Outcome>(),
          fiber: undefined,
          inputRequests: undefined,
          inputResponses: {},
          update: undefined
        }
        entries.set(task.taskId, entry)
        return entry
      })

    const get = (taskId: unknown) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        sweep(now)
        return typeof taskId === "string" ? entries.get(taskId) : undefined
      })

    /** Moves a task to a new status (terminal statuses are final) and returns the updated task. */
    const transition = (entry: Entry, status: Status, statusMessage?: string) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        if (isTerminal(entry.task.status)) return undefined
        const { statusMessage: _previous, ...rest } = entry.task
        entry.task = {
          ...rest,
          status,
          lastUpdatedAt: iso(now),
          ...(statusMessage === undefined ? {} : { statusMessage })
        }
        return entry.task
      })

    const list = Effect.map(Clock.currentTimeMillis, (now) => {
      sweep(now)
      return [...entries.values()].map((e) => e.task)
    })

    return { create, get, transition, list }
  })

/** A store. */
export type TaskStore = Effect.Success<ReturnType<typeof make>>

/** A store entry. */
export type TaskEntry = Effect.Success<ReturnType<TaskStore["create"]>>

/**
 * 2026-07-28 extension: records the answers of `tasks/update` to the input requests the task waits for (others
 * are ignored); answered requests leave `inputRequests`. When none is left the task's wait ends.
 */
export const answer = (entry: TaskEntry, responses: Record<string, unknown>): Effect.Effect<void> =>
  Effect.suspend(() => {
    const pending = entry.inputRequests
    const update = entry.update
    if (pending === undefined || update === undefined) return Effect.void
    for (const [key, value] of Object.entries(responses)) {
      if (!Object.hasOwn(pending, key)) continue
      delete pending[key]
      entry.inputResponses[key] = value
    }
    return Object.keys(pending).length === 0 ? Effect.asVoid(Deferred.succeed(update, entry.inputResponses)) : Effect.void
  })

/**
 * The 2026-07-28 extension's view of a task (`io.modelcontextprotocol/tasks`): `ttlMs`/`pollIntervalMs`, and
 * the details of its status (`inputRequests`, `result`, `error`).
 */
export const detailV2 = (entry: TaskEntry, outcome: Outcome | undefined): Record<string, unknown> => {
  const { ttl, pollInterval, ...base } = entry.task
  const task: Record<string, unknown> = {
    ...base,
    ttlMs: ttl,
    ...(pollInterval === undefined ? {} : { pollIntervalMs: pollInterval })
  }
  switch (entry.task.status) {
    case "input_required":
      return { ...task, inputRequests: entry.inputRequests ?? {} }
    case "completed":
      return outcome?._tag === "Result" ? { ...task, result: outcome.result } : task
    case "failed":
      return outcome === undefined
        ? task
        : outcome._tag === "Error"
        ? { ...task, error: { code: outcome.code, message: outcome.message, ...(outcome.data === undefined ? {} : { data: outcome.data }) } }
        : { ...task, error: { code: -32603, message: "The tool reported an error", data: outcome.result } }
    default:
      return task
  }
}
