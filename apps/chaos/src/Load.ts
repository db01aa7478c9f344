/**
 * The load: workers that call `charge` in a loop, each call with its own idempotency key and a bounded retry
 * on transient errors, exactly as the guide tells an application to. Every call ends in one of:
 *
 * - **answered**: a result (checked: it is the answer to this key);
 * - **failed**: a typed error (by tag, and by JSON-RPC code for remote errors) — a defect (an untyped
 *   failure) is counted apart, as a crash;
 * - **lost**: neither within `lostAfterMs` (a bound well above the call's own timeouts and retries), measured
 *   with a plain timer outside Effect so that nothing in the SDK can hold it up.
 *
 * Afterwards the server ledgers say which keys' side effects ran more than once (duplicated), and which
 * failed or lost calls were charged all the same.
 */
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as References from "effect/References"
import * as Schedule from "effect/Schedule"
import { McpClient } from "@effect-mcp/client"
import type { ChaosClient } from "./Clients.ts"
import { type Charges, loggers, now } from "./Harness.ts"

/**
 * The retry of every call: exponential from 50 ms, jittered, each delay at most 1 s, at most 5 retries.
 * (Not `Schedule.min([…, Schedule.spaced(…)])` as `McpClient.defaultRetry` does: `min` recurs while either
 * schedule does, and `spaced` always does, so that retries forever; see the `retry-policy` check.)
 */
export const retry: Schedule.Schedule<unknown, McpClient.CallError, never, never> = Schedule.exponential("50 millis").pipe(
  Schedule.jittered,
  Schedule.modifyDelay(({ duration }) => Effect.succeed(Duration.min(duration, Duration.seconds(1)))),
  Schedule.upTo({ times: 5 })
)

/** What a load did. */
export class Tally {
  sent = 0
  answered = 0
  failed = 0
  lost = 0
  /** Failures that were not typed errors (defects): crashes. */
  defects = 0
  /** Answers that belong to another key (a correlation error). */
  mismatched = 0
  /** Answers saying the key had already been charged on that server (count > 1). */
  visibleDuplicates = 0
  readonly failures = new Map<string, number>()
  readonly failureSamples = new Map<string, string>()
  readonly failedKeys = new Set<string>()
  readonly lostKeys: Array<string> = []
  readonly latencies: Array<number> = []
  /** Completion times of answered calls, per client, and the pid of the server process that answered. */
  readonly successes = new Map<string, Array<number>>()
  readonly successPids = new Map<string, Array<number>>()
  readonly clients = new Set<string>()
  constructor(readonly prefix: string) {}

  fail(key: string, kind: string, sample: string) {
    this.failed++
    this.failedKeys.add(key)
    this.failures.set(kind, (this.failures.get(kind) ?? 0) + 1)
    if (!this.failureSamples.has(kind)) this.failureSamples.set(kind, sample.slice(0, 240))
  }

  /**
   * First answer completed at or after `t`, per client (undefined for a client with none); with `notFrom`,
   * only answers from another server process count (the new one, after a kill).
   */
  firstSuccessAfter(t: number, notFrom?: ReadonlySet<number>): Map<string, number | undefined> {
    const out = new Map<string, number | undefined>()
    for (const name of this.clients) {
      const times = this.successes.get(name) ?? []
      const pids = this.successPids.get(name) ?? []
      out.set(name, times.find((x, i) => x >= t && (notFrom === undefined || !notFrom.has(pids[i]!))))
    }
    return out
  }

  /** The longest time any client went without an answer between `from` and `to`. */
  longestOutage(from: number, to: number): number {
    let longest = 0
    for (const name of this.clients) {
      let previous = from
      for (const t of this.successes.get(name) ?? []) {
        if (t < from || t > to) continue
        longest = Math.max(longest, t - previous)
        previous = t
      }
      longest = Math.max(longest, to - previous)
    }
    return longest
  }

  /** Merges another tally into this one (for totals). */
  add(other: Tally) {
    this.sent += other.sent
    this.answered += other.answered
    this.failed += other.failed
    this.lost += other.lost
    this.defects += other.defects
    this.mismatched += other.mismatched
    this.visibleDuplicates += other.visibleDuplicates
    for (const [k, v] of other.failures) this.failures.set(k, (this.failures.get(k) ?? 0) + v)
    for (const [k, v] of other.failureSamples) if (!this.failureSamples.has(k)) this.failureSamples.set(k, v)
  }
}

export interface LoadOptions {
  readonly clients: ReadonlyArray<ChaosClient>
  readonly workersPerClient: number
  /** Stop starting calls at this time (performance.now() ms)… */
  readonly until: number
  /** …or after this many calls. */
  readonly maxCalls: number
  readonly tally: Tally
  /** Timeout of one attempt (default 2 s). */
  readonly attemptTimeoutMs?: number
  /** The retry policy (default `retry`); `undefined` for none. */
  readonly retry?: Schedule.Schedule<unknown, McpClient.CallError, never, never> | null
  /** A call with no outcome after this long is lost (default 25 s: 6 attempts of 2 s and their delays, with room). */
  readonly lostAfterMs?: number
  /** Tool work per call, in ms (default random 0–4). */
  readonly workMs?: () => number
  /** Stops the load early when it returns true. */
  readonly stop?: () => boolean
  /** Padding added to every call's arguments, in bytes (default none). */
  readonly padBytes?: number
}

type Outcome = { readonly _tag: "Lost" } | { readonly _tag: "Done"; readonly exit: Exit.Exit<unknown, McpClient.CallError> }

const describeError = (error: McpClient.CallError): { kind: string; sample: string } => {
  // the kind: the code and the start of the message, numbers left out (one kind per cause, not per id)
  if (error._tag === "RemoteError") {
    return { kind: `RemoteError ${error.code} "${error.message.replace(/\d+/g, "N").slice(0, 48)}"`, sample: error.message }
  }
  const other = error as { readonly _tag: string; readonly message?: unknown }
  return { kind: other._tag, sample: typeof other.message === "string" ? other.message : other._tag }
}

/** One call of `charge`, classified. */
const callOnce = (client: ChaosClient, key: string, options: LoadOptions): Promise<Outcome> =>
  new Promise((resolve) => {
    const workMs = options.workMs?.() ?? Math.floor(Math.random() * 5)
    const schedule = options.retry === null ? undefined : options.retry ?? retry
    const pad = options.padBytes === undefined ? {} : { pad: "p".repeat(options.padBytes) }
    const call = client.client.callTool("charge", { key, cents: 100, workMs, ...pad }, {
      timeout: Duration.millis(options.attemptTimeoutMs ?? 2_000),
      idempotencyKey: key,
      ...(schedule === undefined ? {} : { retry: schedule })
    }).pipe(Effect.provideService(References.CurrentLoggers, loggers))
    const fiber = Effect.runFork(call)
    let settled = false
    const timer = setTimeout(() => {
      if (settled) return
      settled = true
      resolve({ _tag: "Lost" })
      // stop it in the background; nothing waits for this
      Effect.runFork(Fiber.interrupt(fiber))
    }, options.lostAfterMs ?? 25_000)
    fiber.addObserver((exit) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      resolve({ _tag: "Done", exit })
    })
  })

let sequence = 0

/** Runs the load until its deadline or count; resolves when every call it started has an outcome. */
export const runLoad = async (options: LoadOptions): Promise<Tally> => {
  const tally = options.tally
  const worker = async (client: ChaosClient) => {
    const name = client.spec.name
    tally.clients.add(name)
    let times = tally.successes.get(name)
    if (times === undefined) tally.successes.set(name, times = [])
    let pids = tally.successPids.get(name)
    if (pids === undefined) tally.successPids.set(name, pids = [])
    while (now() < options.until && tally.sent < options.maxCalls && options.stop?.() !== true) {
      const key = `${tally.prefix}:${name}:${sequence++}`
      tally.sent++
      const start = now()
      const outcome = await callOnce(client, key, options)
      const end = now()
      if (outcome._tag === "Lost") {
        tally.lost++
        tally.lostKeys.push(key)
        continue
      }
      const exit = outcome.exit
      if (Exit.isSuccess(exit)) {
        const result = exit.value as { structuredContent?: { key?: unknown; count?: unknown; pid?: unknown }; isError?: boolean }
        if (result.isError === true) {
          tally.fail(key, "tool error (isError)", JSON.stringify(result).slice(0, 200))
          continue
        }
        if (result.structuredContent?.key !== key) {
          tally.mismatched++
          tally.fail(key, "answer for another key", JSON.stringify(result).slice(0, 200))
          continue
        }
        tally.answered++
        if (typeof result.structuredContent.count === "number" && result.structuredContent.count > 1) tally.visibleDuplicates++
        tally.latencies.push(end - start)
        times.push(end)
        pids.push(typeof result.structuredContent.pid === "number" ? result.structuredContent.pid : -1)
        continue
      }
      const error = Cause.findErrorOption(exit.cause)
      if (Option.isSome(error)) {
        const { kind, sample } = describeError(error.value as McpClient.CallError)
        tally.fail(key, kind, sample)
        continue
      }
      if (Cause.hasInterruptsOnly(exit.cause)) {
        tally.fail(key, "interrupted", Cause.pretty(exit.cause))
        continue
      }
      tally.defects++
      tally.fail(key, "defect", Cause.pretty(exit.cause))
    }
  }
  const workers: Array<Promise<void>> = []
  for (const client of options.clients) {
    for (let i = 0; i < options.workersPerClient; i++) workers.push(worker(client))
  }
  await Promise.all(workers)
  return tally
}

/** The nearest-rank percentile of a list (NaN for none). */
export const percentile = (values: ReadonlyArray<number>, p: number): number => {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!
}

/** What the ledgers say about a tally's keys. */
export interface LedgerCheck {
  /** Keys whose side effect ran more than once. */
  readonly duplicatedKeys: number
  /** Of those, keys run once in each of several server processes (a restart lost the idempotency record). */
  readonly acrossRestarts: number
  /** Extra runs beyond the first, over all keys. */
  readonly extraRuns: number
  /** Calls that failed with a typed error although their side effect ran. */
  readonly failedYetCharged: number
  /** Lost calls whose side effect ran. */
  readonly lostYetCharged: number
  /** Answered calls whose side effect is not in the ledger (should be impossible). */
  readonly answeredNotCharged: number
  readonly sampleDuplicates: ReadonlyArray<string>
}

export const checkLedger = (tally: Tally, counts: ReadonlyMap<string, Charges>): LedgerCheck => {
  let duplicatedKeys = 0
  let acrossRestarts = 0
  let extraRuns = 0
  let charged = 0
  const sampleDuplicates: Array<string> = []
  const prefix = `${tally.prefix}:`
  for (const [key, { count, pids }] of counts) {
    if (!key.startsWith(prefix)) continue
    charged++
    if (count > 1) {
      duplicatedKeys++
      extraRuns += count - 1
      // every run in another server process: the first server died before its answer left
      if (pids.size === count) acrossRestarts++
      if (sampleDuplicates.length < 3) sampleDuplicates.push(`${key} ×${count}${pids.size > 1 ? ` (${pids.size} server processes)` : ""}`)
    }
  }
  let failedYetCharged = 0
  for (const key of tally.failedKeys) if (counts.has(key)) failedYetCharged++
  let lostYetCharged = 0
  for (const key of tally.lostKeys) if (counts.has(key)) lostYetCharged++
  const distinctCharged = charged
  const answeredNotCharged = Math.max(0, tally.answered - (distinctCharged - failedYetCharged - lostYetCharged))
  return { duplicatedKeys, acrossRestarts, extraRuns, failedYetCharged, lostYetCharged, answeredNotCharged, sampleDuplicates }
}
