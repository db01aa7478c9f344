/**
 * The chaos target: a small `McpServer` whose one tool with a side effect, `charge`, is what the harness
 * counts. Every run of `charge` is its side effect: a per-key counter goes up, and the key is appended to a
 * ledger file with a synchronous write (so the record survives a kill -9 of the server: the bytes are in the
 * kernel before the answer leaves), with the server's pid. The harness reads the ledgers at the end: a key
 * written twice is a duplicated side effect (by one server process, or across a restart).
 *
 * `charge` works like a call to a payment service: half its work before the side effect commits, half after
 * (the answer coming back), so a run can be interrupted after its side effect, as a real one can.
 *
 * With `idempotencyJournal` the server keeps its idempotency keys in that journal
 * (`IdempotencyStore.layerFile`): a server restarted over the same journal (after a kill -9) answers the keys
 * the dead one settled with their stored outcome, and the keys it had started and not settled with -32012
 * (outcome unknown), instead of charging them again (FM-10 across restarts).
 */
import * as fs from "node:fs"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as References from "effect/References"
import * as Schema from "effect/Schema"
import { IdempotencyStore, McpServer, Tool } from "@effect-mcp/server"

/** What the server counted since it started. */
export interface ServerStats {
  readonly pid: number
  readonly charges: number
  readonly keys: number
  /** Keys charged more than once by this server (their side effect ran again). */
  readonly duplicateKeys: number
  readonly sampleDuplicates: ReadonlyArray<string>
  readonly rssMiB: number
  readonly heapUsedMiB: number
  /** Warnings and errors the SDK logged, by FMEA mode (or by message when it has none). */
  readonly diagnostics: Record<string, number>
}

/** The server's mutable state: counters, the ledger and the diagnostics tally. */
export interface State {
  readonly counts: Map<string, number>
  charges: number
  readonly duplicates: Set<string>
  readonly diagnostics: Map<string, number>
  readonly ledgerFd: number | undefined
}

export const makeState = (ledgerPath: string | undefined): State => ({
  counts: new Map(),
  charges: 0,
  duplicates: new Set(),
  diagnostics: new Map(),
  ledgerFd: ledgerPath === undefined ? undefined : fs.openSync(ledgerPath, "a")
})

export const stats = (state: State): ServerStats => {
  // with --expose-gc, measure what is live, not what the collector has not got to yet
  ;(globalThis as { gc?: () => void }).gc?.()
  const memory = process.memoryUsage()
  return {
    pid: process.pid,
    charges: state.charges,
    keys: state.counts.size,
    duplicateKeys: state.duplicates.size,
    sampleDuplicates: [...state.duplicates].slice(0, 10),
    rssMiB: Math.round(memory.rss / 2 ** 20),
    heapUsedMiB: Math.round(memory.heapUsed / 2 ** 20),
    diagnostics: Object.fromEntries(state.diagnostics)
  }
}

/**
 * A logger that writes nothing and counts warnings and errors by their FMEA mode (the SDK annotates its
 * diagnostics with `mode`), so a flood of bad frames costs no I/O and still shows in `stats`.
 */
export const countingLogger = (state: State) =>
  Logger.make((options) => {
    if (options.logLevel !== "Warn" && options.logLevel !== "Error" && options.logLevel !== "Fatal") return
    const annotations = options.fiber.getRef(References.CurrentLogAnnotations)
    const mode = typeof annotations.mode === "string" ? annotations.mode : undefined
    const error = typeof annotations.error === "string" ? annotations.error : undefined
    const message = Array.isArray(options.message) ? String(options.message[0]) : String(options.message)
    const key = mode !== undefined ? `${mode}${error === undefined ? "" : ` ${error}`}` : message.slice(0, 60)
    state.diagnostics.set(key, (state.diagnostics.get(key) ?? 0) + 1)
  })

/** Records one run of `charge` (the side effect) and returns the key's count. */
const commit = (state: State, key: string): number => {
  const count = (state.counts.get(key) ?? 0) + 1
  state.counts.set(key, count)
  state.charges++
  if (count > 1) state.duplicates.add(key)
  if (state.ledgerFd !== undefined) fs.writeSync(state.ledgerFd, `${key} ${process.pid}\n`)
  return count
}

/** How the chaos server is built. */
export interface Options {
  /** Idempotency keys kept (the SDK's default otherwise). */
  readonly idempotencyCapacity?: number
  /** A journal for the idempotency keys, so that they survive a restart (in memory otherwise). */
  readonly idempotencyJournal?: string
  /** Flush every journal write to the disk (`"always"`, default) or only to the OS (`"none"`: survives kill -9). */
  readonly idempotencySync?: "always" | "none"
  readonly onStopReading?: () => void
}

/** The chaos server's tools over `state`. Fails with `JournalFailed` if the journal cannot be opened. */
export const make = (state: State, options: Options = {}) =>
  McpServer.make({
    info: { name: "effect-mcp-chaos", version: "0.1.0" },
    idempotency: {
      ...(options.idempotencyCapacity === undefined ? {} : { capacity: options.idempotencyCapacity }),
      ...(options.idempotencyJournal === undefined ? {} : {
        store: IdempotencyStore.IdempotencyStore.layerFile({
          path: options.idempotencyJournal,
          sync: options.idempotencySync ?? "always",
          ...(options.idempotencyCapacity === undefined ? {} : { capacity: options.idempotencyCapacity })
        })
      })
    },
    tools: [
      Tool.make("charge", {
        description: "Charges `cents` under `key` (a side effect, once per idempotency key); returns the key's count.",
        input: Schema.Struct({
          key: Schema.String,
          cents: Schema.Finite,
          workMs: Schema.optionalKey(Schema.Finite),
          /** Padding, to make calls as large as a test needs. */
          pad: Schema.optionalKey(Schema.String)
        }),
        output: Schema.Struct({ key: Schema.String, count: Schema.Finite, pid: Schema.Finite }),
        timeout: "30 seconds",
        handler: ({ key, workMs }) =>
          Effect.gen(function*() {
            const half = Math.max(0, (workMs ?? 0) / 2)
            // the request on its way to the payment service…
            if (half > 0) yield* Effect.sleep(half)
            else yield* Effect.yieldNow
            const count = commit(state, key)
            // …and its answer on the way back
            if (half > 0) yield* Effect.sleep(half)
            else yield* Effect.yieldNow
            return { key, count, pid: process.pid }
          })
      }),
      Tool.make("stats", {
        description: "What the server counted: charges, keys, keys charged twice, memory, SDK diagnostics by mode.",
        input: Schema.Struct({}),
        handler: () => Effect.sync(() => JSON.stringify(stats(state)))
      }),
      Tool.make("stop_reading", {
        description: "stdio only: after answering, the server never reads its input again (a process fault).",
        input: Schema.Struct({}),
        handler: () =>
          Effect.sync(() => {
            setTimeout(() => options.onStopReading?.(), 50)
            return options.onStopReading === undefined ? "not on stdio" : "stopping"
          })
      }),
      Tool.make("echo", {
        description: "Returns the message.",
        input: Schema.Struct({ message: Schema.String }),
        handler: ({ message }) => Effect.succeed(message)
      })
    ]
  })
