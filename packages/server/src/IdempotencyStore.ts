/**
 * `IdempotencyStore`: where the server keeps the outcomes of tool calls that carry an idempotency key
 * (FM-10), so that a retry gets the first call's outcome instead of running its side effect again: within
 * one process (`layerMemory`, the default) or across restarts, kill -9 included (`layerFile`).
 *
 * A key is claimed (`begin`) before its call runs and settled after it: `complete` with the call's outcome,
 * or `release` when the call ended without one (interrupted, or a 2026-07-28 round asking for input). The
 * file store records the claim durably *before* the side effect runs; a key found claimed but never settled
 * in the journal of a dead process comes back as `Unknown`: its side effect may or may not have happened, so
 * it must not run again, and the retry gets a typed "outcome unknown" error (`OutcomeUnknown`).
 *
 * Journal writes are bounded (FM-34): in time (`writeTimeout`) and in number (`maxPendingWrites`, past it
 * `JournalOverloaded` at once). A full disk, an unwritable file or a slow one is a typed error, never a
 * crash; a claim that could not be recorded fails `begin`, so the call does not run.
 *
 * Why a journal and not `effect/persistence`: `KeyValueStore.layerFileSystem` keeps one file per key,
 * rewritten with `writeFile` (no fsync; a kill -9 in the middle leaves it truncated) and has no atomic
 * claim (`modify` is a read then a write), and `Persistence` stores finished `Exit`s only, with no "claimed,
 * outcome pending" state; neither bounds the time of a write. The journal appends one JSON line per event
 * (a torn last line is skipped on load), flushes each batch of lines with one fsync (group commit), claims
 * keys atomically in the process, and is compacted to its live entries when it grows.
 *
 * @since 0.1.0
 */
import * as nodeFs from "node:fs"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { ErrorCode } from "@effect-mcp/jsonrpc"

/**
 * JSON-RPC error code of a retry whose first attempt's outcome is unknown (`ErrorCode.OutcomeUnknown`).
 *
 * @since 0.1.0
 * @category constants
 */
export const OutcomeUnknown = ErrorCode.OutcomeUnknown

/**
 * How a keyed call ended, as stored: its `CallToolResult`, or the JSON-RPC error it was answered with.
 *
 * @since 0.1.0
 * @category models
 */
export const Outcome = Schema.Union([
  Schema.TaggedStruct("Result", { result: Schema.Unknown }),
  Schema.TaggedStruct("Error", {
    code: Schema.Int,
    message: Schema.String,
    data: Schema.optionalKey(Schema.Unknown)
  })
])

/** @since 0.1.0 @category models */
export type Outcome = typeof Outcome.Type

/**
 * What `begin` found: the key is now ours (`Claimed`: run the call, then `complete` or `release`), or it
 * was settled (`Completed`), or it is claimed by a call still running under this store (`InProgress`), or
 * it was claimed by an earlier process that died before settling it (`Unknown`, claimed at `since`).
 *
 * @since 0.1.0
 * @category models
 */
export type Claim =
  | { readonly _tag: "Claimed" }
  | { readonly _tag: "Completed"; readonly outcome: Outcome }
  | { readonly _tag: "InProgress" }
  | { readonly _tag: "Unknown"; readonly since: number }

/**
 * FM-34: the journal has `limit` writes waiting already (the disk is not keeping up). Nothing was recorded
 * and the call did not run; retry later.
 *
 * @since 0.1.0
 * @category errors
 */
export class JournalOverloaded extends Schema.TaggedError<JournalOverloaded>()("JournalOverloaded", {
  mode: Schema.tag("FM-34"),
  path: Schema.String,
  limit: Schema.Int
}) {
  override get message(): string {
    return `Idempotency journal ${this.path} has ${this.limit} writes pending`
  }
}

/**
 * FM-34: a journal write did not finish within `timeoutMs`. For `begin` the call did not run (the claim may
 * still reach the disk: a retry may then be told the outcome is unknown, never run twice); retry later.
 *
 * @since 0.1.0
 * @category errors
 */
export class JournalTimeout extends Schema.TaggedError<JournalTimeout>()("JournalTimeout", {
  mode: Schema.tag("FM-34"),
  path: Schema.String,
  op: Schema.Literals(["begin", "complete"]),
  timeoutMs: Schema.Number
}) {
  override get message(): string {
    return `Idempotency journal ${this.path}: ${this.op} not written within ${this.timeoutMs} ms`
  }
}

/**
 * FM-34: the journal could not be opened, read or written (`code`: the system's, e.g. `ENOSPC` for a full
 * disk, `EACCES`, `EIO`). At start the store is not built; later the call is refused and does not run.
 * Recovery: free the disk or fix the path; the store recovers by itself at its next write.
 *
 * @since 0.1.0
 * @category errors
 */
export class JournalFailed extends Schema.TaggedError<JournalFailed>()("JournalFailed", {
  mode: Schema.tag("FM-34"),
  path: Schema.String,
  op: Schema.Literals(["open", "read", "write", "sync", "compact"]),
  code: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    return `Idempotency journal ${this.path}: ${this.op} failed (${this.code}): ${this.detail}`
  }
}

/** The store's failures (all FM-34). @since 0.1.0 @category errors */
export type StoreError = JournalOverloaded | JournalTimeout | JournalFailed

/**
 * The service's shape.
 *
 * @since 0.1.0
 * @category models
 */
export interface Store {
  /** Claims `key` atomically, or says why not (see `Claim`). Fails (and claims nothing) if the claim was not recorded. */
  readonly begin: (key: string) => Effect.Effect<Claim, StoreError>
  /** Settles a claimed key with its call's outcome; retries within the TTL get it. */
  readonly complete: (key: string, outcome: Outcome) => Effect.Effect<void, StoreError>
  /** Drops a claim whose call ended without an outcome (interrupted): the key may run again. Best effort. */
  readonly release: (key: string) => Effect.Effect<void>
}

/**
 * The idempotency store a server uses.
 *
 * **When to use:** `layerFile` when keyed calls must run once across restarts of the process; the default
 * (`layerMemory`) keeps them once per process.
 *
 * **Gotchas:** one journal per process: two live processes over one file do not see each other's claims.
 *
 * @since 0.1.0
 * @category services
 */
export class IdempotencyStore extends Context.Service<IdempotencyStore, Store>()("effect-mcp/server/IdempotencyStore") {
  /** In memory: keys live `ttl` after they settle, at most `capacity` (oldest dropped first). */
  static readonly layerMemory = (options: MemoryOptions = {}): Layer.Layer<IdempotencyStore> =>
    Layer.effect(IdempotencyStore)(makeMemory(options))
  /** A journal file, loaded at start: keys survive the process. Fails to build with `JournalFailed`. */
  static readonly layerFile = (options: FileOptions): Layer.Layer<IdempotencyStore, JournalFailed> =>
    Layer.effect(IdempotencyStore)(makeFile(options))
}

/** Bounds of every store. @since 0.1.0 @category models */
export interface MemoryOptions {
  /** Keys kept at most (default 10,000); past it the oldest go first. */
  readonly capacity?: number
  /** How long a key is kept after its last event (default 10 minutes); then it may run again. */
  readonly ttl?: Duration.Input
}

/** Settings of the file store. @since 0.1.0 @category models */
export interface FileOptions extends MemoryOptions {
  /** The journal (created if absent; its directory must exist). */
  readonly path: string
  /**
   * `"always"` (default): every batch of records is flushed to the disk (fsync) before `begin`/`complete`
   * return, so records survive a power loss; `"none"`: written to the OS only, which survives a kill -9 of
   * the process but not of the machine.
   */
  readonly sync?: "always" | "none"
  /** A write (and its flush) not done within this fails the operation (default 5 seconds). */
  readonly writeTimeout?: Duration.Input
  /** Writes waiting at most (default 1,024); past it `JournalOverloaded` at once. */
  readonly maxPendingWrites?: number
  /** The journal is rewritten to its live entries once it holds this many records (default 4 × capacity). */
  readonly compactAfter?: number
  /** A result whose JSON is larger is not kept; a retry learns the call completed, not its result (default 64 KiB). */
  readonly maxOutcomeBytes?: number
  /** Opens the journal (default `openNodeFile`); tests give failing or slow files. */
  readonly open?: (path: string) => Effect.Effect<JournalFile, JournalFailed, Scope.Scope>
}

/**
 * The file operations of the journal.
 *
 * @since 0.1.0
 * @category models
 */
export interface JournalFile {
  /** The whole journal (`""` when there is none). */
  readonly read: Effect.Effect<string, JournalFailed>
  /** Appends `data` (all of it, or fails). */
  readonly append: (data: string) => Effect.Effect<void, JournalFailed>
  /** Flushes what was appended to the disk. */
  readonly sync: Effect.Effect<void, JournalFailed>
  /** Replaces the journal's content atomically (written aside, flushed, renamed over); appends follow it. */
  readonly replace: (data: string) => Effect.Effect<void, JournalFailed>
}

// ---- the in-memory index shared by both stores ----------------------------------------------------------

type Entry =
  | { readonly _tag: "Claimed"; readonly at: number; readonly expiresAt: number }
  | { readonly _tag: "Unknown"; readonly at: number; readonly expiresAt: number }
  | { readonly _tag: "Completed"; readonly at: number; readonly outcome: Outcome; readonly expiresAt: number }

const makeIndex = (capacity: number) => {
  // insertion order is age order: the oldest key is dropped first
  const entries = new Map<string, Entry>()
  return {
    entries,
    lookup: (key: string, now: number): Entry | undefined => {
      const entry = entries.get(key)
      if (entry !== undefined && entry.expiresAt <= now) {
        entries.delete(key)
        return undefined
      }
      return entry
    },
    put: (key: string, entry: Entry) => {
      entries.delete(key)
      while (entries.size >= capacity) entries.delete(entries.keys().next().value!)
      entries.set(key, entry)
    }
  }
}

const claimOf = (entry: Entry): Claim =>
  entry._tag === "Claimed"
    ? { _tag: "InProgress" }
    : entry._tag === "Unknown"
    ? { _tag: "Unknown", since: entry.at }
    : { _tag: "Completed", outcome: entry.outcome }

const bounds = (options: MemoryOptions) => ({
  capacity: Math.max(1, options.capacity ?? 10_000),
  ttlMs: Duration.toMillis(Duration.fromInputUnsafe(options.ttl ?? Duration.minutes(10)))
})

/**
 * A store in memory: today's behaviour, once per process.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemory = (options: MemoryOptions = {}): Effect.Effect<Store> =>
  Effect.sync(() => {
    const { capacity, ttlMs } = bounds(options)
    const index = makeIndex(capacity)
    return {
      begin: (key) =>
        Effect.map(Clock.currentTimeMillis, (now): Claim => {
          const known = index.lookup(key, now)
          if (known !== undefined) return claimOf(known)
          index.put(key, { _tag: "Claimed", at: now, expiresAt: now + ttlMs })
          return { _tag: "Claimed" }
        }),
      complete: (key, outcome) =>
        Effect.map(Clock.currentTimeMillis, (now) => index.put(key, { _tag: "Completed", at: now, outcome, expiresAt: now + ttlMs })),
      release: (key) =>
        Effect.sync(() => {
          if (index.entries.get(key)?._tag === "Claimed") index.entries.delete(key)
        })
    }
  })

// ---- the journal ----------------------------------------------------------------------------------------

/** One line of the journal: a claim (`b`), an outcome (`c`) or a release (`r`). */
const JournalRecord = Schema.Union([
  Schema.Struct({ o: Schema.Literal("b"), k: Schema.String, t: Schema.Number }),
  Schema.Struct({ o: Schema.Literal("c"), k: Schema.String, t: Schema.Number, r: Outcome }),
  Schema.Struct({ o: Schema.Literal("r"), k: Schema.String })
])
const decodeRecord = Schema.decodeUnknownOption(Schema.fromJsonString(JournalRecord))

const beginLine = (key: string, t: number) => `${JSON.stringify({ o: "b", k: key, t })}\n`
const releaseLine = (key: string) => `${JSON.stringify({ o: "r", k: key })}\n`
const completeLine = (key: string, t: number, outcome: Outcome): string | undefined => {
  try {
    return `${JSON.stringify({ o: "c", k: key, t, r: outcome })}\n`
  } catch {
    return undefined // not JSON (a BigInt, a cycle): kept as "completed, result not kept"
  }
}

/** The outcome kept for a call whose result was too large (or not JSON) to keep. */
const notKept = (key: string): Outcome => ({
  _tag: "Error",
  code: OutcomeUnknown,
  message: "The first call with this idempotency key completed; its result was too large to keep",
  data: { mode: "FM-10", outcome: "completed", key }
})

interface Job {
  readonly data: string
  readonly done: Deferred.Deferred<void, JournalFailed>
}

/**
 * A store over a journal file: loaded at start (entries past their TTL dropped; claims never settled become
 * `Unknown`), appended to by one writer fiber (batches, one fsync each), compacted when it grows. Needs a
 * scope (the writer and the file).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeFile = (options: FileOptions): Effect.Effect<Store, JournalFailed, Scope.Scope> =>
  Effect.gen(function*() {
    const { capacity, ttlMs } = bounds(options)
    const path = options.path
    const syncAlways = (options.sync ?? "always") === "always"
    const writeTimeout = Duration.fromInputUnsafe(options.writeTimeout ?? Duration.seconds(5))
    const maxPending = Math.max(1, options.maxPendingWrites ?? 1_024)
    const compactAfter = Math.max(16, options.compactAfter ?? 4 * capacity)
    const maxOutcomeBytes = options.maxOutcomeBytes ?? 64 * 1024
    const file = yield* (options.open ?? openNodeFile)(path)
    const index = makeIndex(capacity)

    // load: replay the records; what the dead process claimed and never settled is Unknown
    const text = yield* file.read
    const now = yield* Clock.currentTimeMillis
    let records = 0
    let skipped = 0
    for (const line of text.split("\n")) {
      if (line.length === 0) continue
      records++
      const decoded = decodeRecord(line)
      if (Option.isNone(decoded)) {
        skipped++ // a line torn by a crash, or not ours
        continue
      }
      const r = decoded.value
      if (r.o === "r") index.entries.delete(r.k)
      else if (r.o === "b") index.put(r.k, { _tag: "Unknown", at: r.t, expiresAt: r.t + ttlMs })
      else index.put(r.k, { _tag: "Completed", at: r.t, outcome: r.r, expiresAt: r.t + ttlMs })
    }
    for (const [key, entry] of index.entries) if (entry.expiresAt <= now) index.entries.delete(key)
    if (skipped > 0) {
      yield* Effect.logWarning(`Idempotency journal ${path}: ${skipped} unreadable line(s) skipped`).pipe(
        Effect.annotateLogs({ mode: "FM-34" })
      )
    }

    const snapshot = () => {
      let out = ""
      for (const [key, entry] of index.entries) {
        out += entry._tag === "Completed" ? completeLine(key, entry.at, entry.outcome) ?? "" : beginLine(key, entry.at)
      }
      return out
    }
    /** Records in the journal now; compaction is due past `nextCompaction`. */
    let written = records
    let nextCompaction = compactAfter
    // a failed or torn write may have left half a line: the next write starts on a new line
    let torn = text.length > 0 && !text.endsWith("\n")
    const compact = Effect.gen(function*() {
      const exit = yield* Effect.exit(file.replace(snapshot()))
      if (Exit.isSuccess(exit)) {
        written = index.entries.size
        torn = false
        nextCompaction = written + compactAfter
      } else {
        nextCompaction = written + compactAfter
        yield* Effect.logWarning(`Idempotency journal ${path}: compaction failed`).pipe(
          Effect.annotateLogs({ mode: "FM-34", cause: String(exit.cause) })
        )
      }
    })
    if (written > index.entries.size && (written >= compactAfter || skipped > 0 || written > 2 * index.entries.size)) {
      yield* compact
    }

    // one writer: takes every waiting line, writes them at once, flushes once (group commit)
    const queue = yield* Queue.dropping<Job, Cause.Done>(maxPending)
    const writer = yield* Effect.forkScoped(Effect.ignore(Effect.forever(Effect.gen(function*() {
      const jobs = yield* Queue.takeAll(queue)
      const data = (torn ? "\n" : "") + jobs.map((job) => job.data).join("")
      const exit = yield* Effect.exit(syncAlways ? Effect.andThen(file.append(data), file.sync) : file.append(data))
      if (Exit.isFailure(exit)) torn = true
      written += jobs.length
      for (const job of jobs) yield* Deferred.done(job.done, exit)
      if (written >= nextCompaction) yield* compact
    }))))
    // closing: no new writes; what is queued (releases, say) is written, within the write timeout
    yield* Effect.addFinalizer(() =>
      Queue.end(queue).pipe(Effect.andThen(Fiber.await(writer)), Effect.timeoutOption(writeTimeout), Effect.asVoid)
    )

    const write = (op: "begin" | "complete", data: string) =>
      Effect.gen(function*() {
        const done = Deferred.makeUnsafe<void, JournalFailed>()
        if (!(yield* Queue.offer(queue, { data, done }))) {
          return yield* new JournalOverloaded({ path, limit: maxPending })
        }
        yield* Deferred.await(done).pipe(
          Effect.timeoutOrElse({
            duration: writeTimeout,
            orElse: () => Effect.fail(new JournalTimeout({ path, op, timeoutMs: Duration.toMillis(writeTimeout) }))
          })
        )
      })
    // a release is bookkeeping: queued, not waited for (lost, the key reads Unknown after a restart: safe)
    const enqueueRelease = (key: string) => Queue.offer(queue, { data: releaseLine(key), done: Deferred.makeUnsafe<void, JournalFailed>() })

    return {
      begin: Effect.fn("IdempotencyStore.begin")(function*(key: string) {
        const now = yield* Clock.currentTimeMillis
        const known = index.lookup(key, now)
        if (known !== undefined) return claimOf(known)
        const claim: Entry = { _tag: "Claimed", at: now, expiresAt: now + ttlMs }
        index.put(key, claim)
        // the claim is on disk before the caller runs anything; if it is not, nothing runs
        yield* write("begin", beginLine(key, now)).pipe(
          Effect.onError(() =>
            Effect.suspend(() => {
              if (index.entries.get(key) !== claim) return Effect.void
              index.entries.delete(key)
              return Effect.asVoid(enqueueRelease(key))
            })
          )
        )
        const claimed: Claim = { _tag: "Claimed" }
        return claimed
      }),
      complete: Effect.fn("IdempotencyStore.complete")(function*(key: string, outcome: Outcome) {
        const now = yield* Clock.currentTimeMillis
        let line = completeLine(key, now, outcome)
        let kept = outcome
        if (line === undefined || line.length > maxOutcomeBytes) {
          kept = notKept(key)
          line = completeLine(key, now, kept)!
        }
        index.put(key, { _tag: "Completed", at: now, outcome: kept, expiresAt: now + ttlMs })
        yield* write("complete", line)
      }),
      release: (key) =>
        Effect.suspend(() => {
          if (index.entries.get(key)?._tag !== "Claimed") return Effect.void
          index.entries.delete(key)
          return Effect.asVoid(enqueueRelease(key))
        })
    } satisfies Store
  })

// ---- node:fs ----------------------------------------------------------------------------------------------

const failed = (path: string, op: JournalFailed["op"], error: unknown) =>
  new JournalFailed({
    path,
    op,
    code: typeof error === "object" && error !== null && "code" in error && typeof error.code === "string" ? error.code : "UNKNOWN",
    detail: error instanceof Error ? error.message : String(error)
  })

/** A node callback API as an Effect; a synchronous throw is a failure too. */
const nodeCall = <A>(
  path: string,
  op: JournalFailed["op"],
  f: (callback: (error: NodeJS.ErrnoException | null, value: A) => void) => void
): Effect.Effect<A, JournalFailed> =>
  Effect.callback<A, JournalFailed>((resume) => {
    try {
      f((error, value) => resume(error === null ? Effect.succeed(value) : Effect.fail(failed(path, op, error))))
    } catch (error) {
      resume(Effect.fail(failed(path, op, error)))
    }
  })

const openAppend = (path: string, op: JournalFailed["op"]) =>
  nodeCall<number>(path, op, (cb) => nodeFs.open(path, "a", 0o600, cb))
const closeFd = (fd: number) => Effect.callback<void>((resume) => nodeFs.close(fd, () => resume(Effect.void)))
const writeAll = (path: string, op: JournalFailed["op"], fd: number, data: string) =>
  Effect.gen(function*() {
    const bytes = Buffer.from(data, "utf8")
    let offset = 0
    while (offset < bytes.length) {
      // a short write (the disk filling up) continues where it stopped; the next one reports the error
      offset += yield* nodeCall<number>(path, op, (cb) => nodeFs.write(fd, bytes, offset, bytes.length - offset, null, cb))
    }
  })

/**
 * The journal on the local disk with `node:fs`: asynchronous writes (so that a slow disk blocks no other
 * request and a write's wait can be bounded), fsync on demand, compaction by write-aside and rename.
 *
 * @since 0.1.0
 * @category constructors
 */
export const openNodeFile = (path: string): Effect.Effect<JournalFile, JournalFailed, Scope.Scope> =>
  Effect.gen(function*() {
    let fd: number | undefined = yield* openAppend(path, "open")
    yield* Effect.addFinalizer(() => (fd === undefined ? Effect.void : closeFd(fd)))
    /** The descriptor, reopened if a compaction lost it. */
    const current = Effect.suspend(() => (fd !== undefined ? Effect.succeed(fd) : Effect.map(openAppend(path, "write"), (n) => {
        fd = n
        return n
      })))
    return {
      read: nodeCall<string>(path, "read", (cb) => nodeFs.readFile(path, "utf8", cb)).pipe(
        Effect.catchIf((e) => e.code === "ENOENT", () => Effect.succeed(""))
      ),
      append: (data) => Effect.flatMap(current, (n) => writeAll(path, "write", n, data)),
      sync: Effect.flatMap(current, (n) => nodeCall<void>(path, "sync", (cb) => nodeFs.fsync(n, (e) => cb(e, undefined)))),
      replace: (data) =>
        Effect.gen(function*() {
          const aside = `${path}.compact`
          const tmp = yield* nodeCall<number>(aside, "compact", (cb) => nodeFs.open(aside, "w", 0o600, cb))
          yield* writeAll(aside, "compact", tmp, data).pipe(
            Effect.andThen(nodeCall<void>(aside, "compact", (cb) => nodeFs.fsync(tmp, (e) => cb(e, undefined)))),
            Effect.ensuring(closeFd(tmp))
          )
          yield* nodeCall<void>(path, "compact", (cb) => nodeFs.rename(aside, path, (e) => cb(e, undefined)))
          // appends go to the new file from now on
          const old = fd
          fd = undefined
          if (old !== undefined) yield* closeFd(old)
          fd = yield* openAppend(path, "compact")
        })
    } satisfies JournalFile
  })
