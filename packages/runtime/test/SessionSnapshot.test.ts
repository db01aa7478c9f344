import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterEach, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Metric from "effect/Metric"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/testing/TestClock"
import { SessionManager } from "@effect-mcp/runtime"
import { settle } from "./support/world.ts"
import { captureLogs, metricValue } from "../../faults/test/support.ts"

/** Temporary directories made by the tests, removed after each one. */
const dirs: Array<string> = []
const tempDir = (): string => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "session-snapshot-"))
  dirs.push(dir)
  return dir
}
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true })
})

/** Runs `body` against a table of its own (a fresh layer, its own scope: the table stops when `body` ends). */
const withTable = <A, E>(options: SessionManager.Options, body: (sessions: SessionManager.Shape) => Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    return yield* body(yield* SessionManager.SessionManager)
  }).pipe(
    Effect.provide(SessionManager.SessionManager.layer(options), { local: true })
  )

/** The snapshot file's contents, as written. */
interface SnapshotContents {
  readonly version: number
  readonly sessions: ReadonlyArray<{ readonly id: string; readonly openedAt: number; readonly state: unknown }>
}
const readFile = (file: string): SnapshotContents => JSON.parse(fs.readFileSync(file, "utf8")) as SnapshotContents
const idsIn = (file: string): ReadonlyArray<string> => readFile(file).sessions.map((s) => s.id)

/** A short real sleep: lets the file system work (the TestClock does not move). */
const realSleep = Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, 10)))

/** Waits (real time, at most 5 s) until `condition` holds; fails the test otherwise. */
const eventually = (label: string, condition: () => boolean) =>
  Effect.gen(function*() {
    const deadline = Date.now() + 5_000
    while (!condition()) {
      if (Date.now() > deadline) return expect.fail(`timed out waiting for: ${label}`)
      yield* realSleep
    }
  })

/** The count of `mcp_session_snapshot_failures_total` in the current metric registry. */
const snapshotFailures = metricValue("mcp_session_snapshot_failures_total", {})

const initialize = { messages: [{ jsonrpc: "2.0", id: 1, method: "initialize", params: {} }] }

describe("SessionManager snapshot", () => {
  it.effect("FM-52 sessions with a state outlive the table: written to the snapshot within its interval and read back by a new table", () =>
    Effect.gen(function*() {
      const file = path.join(tempDir(), "sessions.json")
      const options: SessionManager.Options = { snapshot: { path: file, interval: "1 second" } }
      yield* withTable(options, (a) =>
        Effect.gen(function*() {
          yield* settle // the writer has run its first (empty) round and waits for its interval
          yield* a.open("with-state")
          yield* a.open("stateless")
          yield* a.setState("with-state", initialize)
          yield* settle
          expect(fs.existsSync(file)).toBe(false) // not written before the interval passes
          yield* TestClock.adjust("1 second")
          yield* eventually("the snapshot file", () => fs.existsSync(file))
          expect(readFile(file)).toEqual({ version: 1, sessions: [{ id: "with-state", openedAt: 0, state: initialize }] })
          expect(fs.statSync(file).mode & 0o777).toBe(0o600)
          expect(fs.existsSync(`${file}.tmp`)).toBe(false) // renamed over the snapshot

          // a new table on the same path, while the first still runs: it reads what the interval wrote
          yield* withTable(options, (b) =>
            Effect.gen(function*() {
              expect(yield* b.get("with-state")).toMatchObject({ id: "with-state", openedAt: 0, provisional: false, busy: false, state: initialize })
              expect(yield* Effect.flip(b.get("stateless"))).toMatchObject({ _tag: "SessionNotFound", mode: "FM-41", sessionId: "stateless" })
              expect(yield* b.size).toBe(1)
            }))
        }))
    }))

  it.effect("FM-52 the last changes are written when the table stops", () =>
    Effect.gen(function*() {
      const file = path.join(tempDir(), "sessions.json")
      const options: SessionManager.Options = { snapshot: { path: file, interval: "1 second" } }
      const first = { messages: [{ jsonrpc: "2.0", id: 1, method: "initialize", params: { step: 1 } }] }
      const last = { messages: [{ jsonrpc: "2.0", id: 1, method: "initialize", params: { step: 2 } }] }
      yield* withTable(options, (a) =>
        Effect.gen(function*() {
          yield* settle
          yield* a.open("changed")
          yield* a.setState("changed", first)
          yield* a.flush
          expect(readFile(file).sessions).toEqual([{ id: "changed", openedAt: 0, state: first }])
          yield* a.setState("changed", last)
          yield* a.open("added")
          yield* a.setState("added", { n: 1 })
          yield* settle
          // no interval passed: the file still holds the flushed contents
          expect(readFile(file).sessions).toEqual([{ id: "changed", openedAt: 0, state: first }])
        }))
      // the table stopped: its last changes are in the file
      expect(readFile(file)).toEqual({
        version: 1,
        sessions: [{ id: "changed", openedAt: 0, state: last }, { id: "added", openedAt: 0, state: { n: 1 } }]
      })
      yield* withTable(options, (b) =>
        Effect.gen(function*() {
          expect((yield* b.get("changed")).state).toEqual(last)
          expect((yield* b.get("added")).state).toEqual({ n: 1 })
          expect(yield* b.size).toBe(2)
        }))
    }))

  it.effect("FM-52 closed and expired sessions leave the snapshot", () =>
    Effect.gen(function*() {
      const file = path.join(tempDir(), "sessions.json")
      const options: SessionManager.Options = {
        idleTimeout: "1 minute",
        sweepInterval: "30 seconds",
        snapshot: { path: file, interval: "1 hour" }
      }
      yield* withTable(options, (a) =>
        Effect.gen(function*() {
          const expired = yield* Effect.forkChild(Stream.runCollect(Stream.take(a.expired, 1)))
          yield* settle
          for (const id of ["closed", "expired", "kept"]) {
            yield* a.open(id)
            yield* a.setState(id, { id })
          }
          yield* a.flush
          expect(idsIn(file)).toEqual(["closed", "expired", "kept"])

          expect(yield* a.close("closed")).toBe(true)
          yield* a.flush
          expect(idsIn(file)).toEqual(["expired", "kept"])

          yield* TestClock.adjust("40 seconds")
          yield* a.touch("kept")
          yield* TestClock.adjust("30 seconds") // sweep at 60 s: "expired" is 60 s idle, "kept" 20 s
          expect(yield* Fiber.join(expired)).toEqual(["expired"])
          yield* a.flush
          expect(idsIn(file)).toEqual(["kept"])
        }))
      yield* withTable(options, (b) =>
        Effect.gen(function*() {
          expect((yield* b.get("kept")).state).toEqual({ id: "kept" })
          expect(yield* Effect.flip(b.get("closed"))).toMatchObject({ _tag: "SessionNotFound", sessionId: "closed" })
          expect(yield* Effect.flip(b.get("expired"))).toMatchObject({ _tag: "SessionNotFound", sessionId: "expired" })
          expect(yield* b.size).toBe(1)
        }))
    }))

  it.effect("FM-52 a corrupt or oversized snapshot is a SnapshotFailed: the table starts empty and serves", () =>
    Effect.gen(function*() {
      const dir = tempDir()

      // not JSON
      const corrupt = path.join(dir, "corrupt.json")
      fs.writeFileSync(corrupt, "{ this is not json", { mode: 0o600 })
      const corruptLogs = captureLogs()
      yield* withTable({ snapshot: { path: corrupt } }, (sessions) =>
        Effect.gen(function*() {
          expect(yield* sessions.size).toBe(0)
          const opened = yield* sessions.open()
          expect(yield* sessions.get(opened.id)).toMatchObject({ id: opened.id })
          yield* sessions.setState(opened.id, initialize)
          yield* sessions.flush // the table serves: a valid snapshot replaces the corrupt one
          expect(readFile(corrupt)).toEqual({ version: 1, sessions: [{ id: opened.id, openedAt: 0, state: initialize }] })
          expect(yield* snapshotFailures).toBe(1)
        })).pipe(
          Effect.provide(corruptLogs.layer),
          Effect.provideService(Metric.MetricRegistry, new Map())
        )
      const corruptWarnings = corruptLogs.lines.filter((l) => l.level === "Warn")
      expect(corruptWarnings).toHaveLength(1)
      expect(corruptWarnings[0]).toMatchObject({ annotations: { mode: "FM-52" } })
      expect(corruptWarnings[0]!.message).toContain("not a session snapshot")
      expect(corruptWarnings[0]!.message).toContain("starting empty")

      // a valid snapshot, but past maxBytes
      const big = path.join(dir, "big.json")
      fs.writeFileSync(big, JSON.stringify({ version: 1, sessions: [{ id: "big", openedAt: 0, state: initialize }] }), { mode: 0o600 })
      const bigLogs = captureLogs()
      yield* withTable({ snapshot: { path: big, maxBytes: 10 } }, (sessions) =>
        Effect.gen(function*() {
          expect(yield* sessions.size).toBe(0)
          expect(yield* Effect.flip(sessions.get("big"))).toMatchObject({ _tag: "SessionNotFound" })
          const opened = yield* sessions.open()
          expect(yield* sessions.size).toBe(1)
          expect(yield* sessions.touch(opened.id)).toMatchObject({ id: opened.id })
          expect(yield* snapshotFailures).toBe(1)
        })).pipe(
          Effect.provide(bigLogs.layer),
          Effect.provideService(Metric.MetricRegistry, new Map())
        )
      const bigWarnings = bigLogs.lines.filter((l) => l.level === "Warn")
      expect(bigWarnings).toHaveLength(1)
      expect(bigWarnings[0]).toMatchObject({ annotations: { mode: "FM-52" } })
      expect(bigWarnings[0]!.message).toContain("past the bound of 10")

      // the control: the same file under the default bound is read back (it was the size that refused it)
      yield* withTable({ snapshot: { path: big } }, (sessions) =>
        Effect.gen(function*() {
          expect((yield* sessions.get("big")).state).toEqual(initialize)
        }))
    }))

  it.effect("FM-52 a snapshot that cannot be written is a SnapshotFailed and is tried again; the table goes on", () =>
    Effect.gen(function*() {
      const missing = path.join(tempDir(), "missing")
      const file = path.join(missing, "sessions.json")
      const logs = captureLogs()
      yield* withTable({ snapshot: { path: file, interval: "1 second" } }, (sessions) =>
        Effect.gen(function*() {
          yield* settle
          yield* sessions.open("s")
          yield* sessions.setState("s", initialize)

          const failed = yield* Effect.flip(sessions.flush)
          expect(failed).toBeInstanceOf(SessionManager.SnapshotFailed)
          expect(failed).toMatchObject({ _tag: "SnapshotFailed", mode: "FM-52", operation: "write", path: file })

          // the writer fails too, at its interval: logged and counted, not a crash
          yield* TestClock.adjust("1 second")
          yield* eventually("the writer's failure", () => logs.lines.some((l) => l.message.includes("snapshot not written")))
          expect(logs.lines.find((l) => l.message.includes("snapshot not written"))).toMatchObject({
            level: "Warn",
            annotations: { mode: "FM-52" }
          })
          expect(yield* snapshotFailures).toBe(1)

          // the table goes on
          expect((yield* sessions.get("s")).state).toEqual(initialize)
          yield* sessions.open("t")
          expect(yield* sessions.size).toBe(2)

          // the change was kept: once the directory exists, it is written
          fs.mkdirSync(missing)
          yield* sessions.flush
          expect(readFile(file)).toEqual({ version: 1, sessions: [{ id: "s", openedAt: 0, state: initialize }] })
          expect(fs.statSync(file).mode & 0o777).toBe(0o600)
        })).pipe(
          Effect.provide(logs.layer),
          Effect.provideService(Metric.MetricRegistry, new Map())
        )
    }))
})
