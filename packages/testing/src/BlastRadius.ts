/**
 * Crash a component and check the blast radius: probe every component (a session, a tool, a store…) before
 * and after the crash, and report which healthy ones stopped working. A fault domain holds when only the
 * components you allow are affected.
 *
 * Crash helpers: `crashPoints` (named points in your handlers that die, hang or are interrupted once armed),
 * `sessions` (several client sessions on one server, each over its own faulty link, crashable one by one).
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { McpClient } from "@effect-mcp/client"
import type { Transport } from "@effect-mcp/core"
import type { JsonRpcCodec } from "@effect-mcp/jsonrpc"
import type { FaultSchedule } from "./FaultSchedule.ts"
import * as FaultyTransport from "./FaultyTransport.ts"
import * as Scenario from "./Scenario.ts"

/**
 * A component's health as a probe saw it.
 *
 * @since 0.1.0
 * @category models
 */
export type Health =
  | { readonly _tag: "Healthy" }
  | { readonly _tag: "Unhealthy"; readonly detail: string }

/**
 * What a crash did.
 *
 * @since 0.1.0
 * @category models
 */
export interface Report {
  readonly before: Readonly<Record<string, Health>>
  readonly after: Readonly<Record<string, Health>>
  /** Components healthy before the crash and unhealthy after it. */
  readonly affected: ReadonlyArray<string>
  /** Components healthy before and after. */
  readonly unaffected: ReadonlyArray<string>
  /** How the crash itself ended. */
  readonly crash: Health
}

const describe = (cause: Cause.Cause<unknown>): string => {
  const error = Cause.findErrorOption(cause)
  if (Option.isSome(error)) {
    const e = error.value
    if (typeof e === "object" && e !== null && "_tag" in e) {
      const message = (e as { message?: unknown }).message
      return typeof message === "string" && message.length > 0 ? `${String(e._tag)}: ${message}` : String(e._tag)
    }
    return String(e)
  }
  return Cause.hasInterruptsOnly(cause) ? "interrupted" : Cause.pretty(cause).split("\n")[0] ?? "defect"
}

const probeAll = <R>(
  components: Readonly<Record<string, Effect.Effect<unknown, unknown, R>>>,
  withinMs: number
): Effect.Effect<Record<string, Health>, never, R> =>
  Effect.map(
    Effect.forEach(Object.entries(components), ([name, probe]) =>
      probe.pipe(
        Effect.exit,
        Effect.timeoutOption(Duration.millis(withinMs)),
        Effect.map((exit): readonly [string, Health] => {
          if (Option.isNone(exit)) return [name, { _tag: "Unhealthy", detail: `no answer within ${withinMs} ms` }]
          return Exit.isSuccess(exit.value)
            ? [name, { _tag: "Healthy" }]
            : [name, { _tag: "Unhealthy", detail: describe(exit.value.cause) }]
        })
      ), { concurrency: "unbounded" }),
    Object.fromEntries
  )

/**
 * Probes every component, runs `crash`, waits `settle` (default 0), probes again, and reports which healthy
 * components were affected. Each probe must answer within `within` (default 5 s). It moves the TestClock
 * itself (see `Scenario.drive`).
 *
 * @since 0.1.0
 * @category measuring
 */
export const measure = <R>(options: {
  readonly components: Readonly<Record<string, Effect.Effect<unknown, unknown, R>>>
  readonly crash: Effect.Effect<unknown, unknown, R>
  readonly within?: Duration.Input
  readonly settle?: Duration.Input
}): Effect.Effect<Report, Scenario.StillRunning, R> => {
  const withinMs = Duration.toMillis(Duration.fromInputUnsafe(options.within ?? Duration.seconds(5)))
  return Scenario.drive(
    Effect.gen(function*() {
      const before = yield* probeAll(options.components, withinMs)
      const crashed = yield* Effect.exit(options.crash)
      if (options.settle !== undefined) yield* Effect.sleep(options.settle)
      const after = yield* probeAll(options.components, withinMs)
      const names = Object.keys(options.components)
      const healthyBefore = names.filter((n) => before[n]!._tag === "Healthy")
      return {
        before,
        after,
        affected: healthyBefore.filter((n) => after[n]!._tag !== "Healthy"),
        unaffected: healthyBefore.filter((n) => after[n]!._tag === "Healthy"),
        crash: Exit.isSuccess(crashed) ? { _tag: "Healthy" } : { _tag: "Unhealthy", detail: describe(crashed.cause) }
      } satisfies Report
    }),
    { within: Duration.millis(20 * withinMs + 60_000) }
  )
}

/**
 * FM-49: a crash reached components outside its fault domain.
 *
 * @since 0.1.0
 * @category errors
 */
export class BlastRadiusExceeded extends Schema.TaggedError<BlastRadiusExceeded>()("BlastRadiusExceeded", {
  mode: Schema.tag("FM-49"),
  affected: Schema.Array(Schema.String),
  allowed: Schema.Array(Schema.String),
  details: Schema.String
}) {
  override get message(): string {
    return `The crash affected ${this.affected.join(", ")}, beyond the allowed ${this.allowed.join(", ") || "(none)"}: ${this.details}`
  }
}

/**
 * Fails with `BlastRadiusExceeded` if a component outside `allowed` was affected. Use `expectAffected` to
 * also require that the crash did hit what it meant to (a crash that hits nothing proves nothing).
 *
 * @since 0.1.0
 * @category measuring
 */
export const assertContained = (
  report: Report,
  allowed: ReadonlyArray<string>,
  options: { readonly expectAffected?: ReadonlyArray<string> } = {}
): Effect.Effect<void, BlastRadiusExceeded> => {
  const outside = report.affected.filter((n) => !allowed.includes(n))
  const missed = (options.expectAffected ?? []).filter((n) => !report.affected.includes(n))
  if (outside.length === 0 && missed.length === 0) return Effect.void
  const details = [
    ...outside.map((n) => `${n}: ${(report.after[n] as { detail?: string }).detail ?? "unhealthy"}`),
    ...missed.map((n) => `${n} was expected to be affected and was not`)
  ].join("; ")
  return Effect.fail(new BlastRadiusExceeded({ affected: [...report.affected], allowed: [...allowed], details }))
}

// ---- crash helpers --------------------------------------------------------------------------------------

/**
 * A defect injected at a crash point.
 *
 * @since 0.1.0
 * @category errors
 */
export class CrashInjected extends Schema.TaggedError<CrashInjected>()("CrashInjected", {
  mode: Schema.tag("FM-38"),
  point: Schema.String
}) {
  override get message(): string {
    return `Crash injected at ${this.point}`
  }
}

/**
 * How an armed crash point crashes: a defect (`die`), never returning (`hang`), or an interruption.
 *
 * @since 0.1.0
 * @category crash helpers
 */
export type CrashKind = "die" | "hang" | "interrupt"

/**
 * Named crash points: put `yield* points.point("db")` in a handler; `arm("db")` makes it crash.
 *
 * @since 0.1.0
 * @category crash helpers
 */
export interface CrashPoints {
  readonly point: (name: string) => Effect.Effect<void>
  readonly arm: (name: string, kind?: CrashKind) => Effect.Effect<void>
  readonly disarm: (name: string) => Effect.Effect<void>
  /** How many times an armed point crashed. */
  readonly hits: (name: string) => Effect.Effect<number>
}

/**
 * A set of crash points, all disarmed.
 *
 * @since 0.1.0
 * @category crash helpers
 */
export const crashPoints: Effect.Effect<CrashPoints> = Effect.sync(() => {
  const armed = new Map<string, CrashKind>()
  const hits = new Map<string, number>()
  return {
    point: (name) =>
      Effect.suspend(() => {
        const kind = armed.get(name)
        if (kind === undefined) return Effect.void
        hits.set(name, (hits.get(name) ?? 0) + 1)
        return kind === "die" ? Effect.die(new CrashInjected({ point: name })) : kind === "hang" ? Effect.never : Effect.interrupt
      }),
    arm: (name, kind = "die") => Effect.sync(() => void armed.set(name, kind)),
    disarm: (name) => Effect.sync(() => void armed.delete(name)),
    hits: (name) => Effect.sync(() => hits.get(name) ?? 0)
  } satisfies CrashPoints
})

/**
 * Several sessions on one server.
 *
 * @since 0.1.0
 * @category crash helpers
 */
export interface Sessions {
  readonly network: FaultyTransport.Network
  readonly links: ReadonlyArray<FaultyTransport.Link>
  readonly clients: ReadonlyArray<McpClient.McpClient>
  /** `session-0`, `session-1`…: a ping through each session. */
  readonly probes: Readonly<Record<string, Effect.Effect<unknown, unknown>>>
  /** Crashes session `i`'s connection (abrupt: a reset; clean: a hang-up). */
  readonly crash: (i: number, kind?: "clean" | "abrupt") => Effect.Effect<void>
}

/**
 * `count` client sessions on one server, each over its own link of one faulty network (in the current
 * scope): the components of a session-level fault domain.
 *
 * @since 0.1.0
 * @category crash helpers
 */
export const sessions = <R>(
  server: Scenario.Server<R>,
  options: {
    readonly count: number
    readonly schedule?: FaultSchedule
    readonly seed?: string | number
    readonly client?: Partial<McpClient.Options>
  }
): Effect.Effect<Sessions, McpClient.ConnectError | Transport.TransportFailure, R | JsonRpcCodec.JsonRpcCodec | Scope.Scope> =>
  Effect.gen(function*() {
    const network = yield* FaultyTransport.network(options.schedule ?? [], options.seed === undefined ? {} : { seed: options.seed })
    const links: Array<FaultyTransport.Link> = []
    const clients: Array<McpClient.McpClient> = []
    for (let i = 0; i < options.count; i++) {
      const link = yield* network.connect
      yield* Effect.forkScoped(server.serve(link.server))
      clients.push(
        yield* McpClient.connect(link.client, { info: { name: `session-${i}`, version: "0.0.0" }, ...options.client })
      )
      links.push(link)
    }
    return {
      network,
      links,
      clients,
      probes: Object.fromEntries(clients.map((c, i) => [`session-${i}`, c.ping])),
      crash: (i, kind = "abrupt") => links[i]!.disconnect(kind, `session ${i} crashed`)
    } satisfies Sessions
  })
