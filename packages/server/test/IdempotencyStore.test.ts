import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as readline from "node:readline"
import { fileURLToPath } from "node:url"
import { afterAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/testing/TestClock"
import { MemoryTransport, Protocol, ProtocolError } from "@effect-mcp/core"
import { ErrorCode, JsonRpcCodec } from "@effect-mcp/jsonrpc"
import * as IdempotencyStore from "../src/IdempotencyStore.ts"
import * as McpServer from "../src/McpServer.ts"
import * as Tool from "../src/Tool.ts"

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "idempotency-store-"))
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))
let files = 0
const journalPath = () => path.join(dir, `journal-${++files}.jsonl`)

/** Lets every runnable fiber run (the journal's writer included). */
const settle = Effect.forEach(Array.from({ length: 20 }), () => Effect.yieldNow, { discard: true })

const result = (text: string): IdempotencyStore.Outcome => ({ _tag: "Result", result: { content: [{ type: "text", text }] } })

/** A store of its own scope, closed by the caller (a "process" that ends). */
const openStore = (options: IdempotencyStore.FileOptions) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const store = yield* IdempotencyStore.makeFile(options).pipe(Scope.provide(scope))
    return { store, close: Scope.close(scope, Exit.void) }
  })

/** A journal file whose writes never finish (a disk that hangs), or fail with `code`. */
const brokenFile = (behaviour: "hang" | string) => (file: string) =>
  Effect.succeed<IdempotencyStore.JournalFile>({
    read: Effect.succeed(""),
    append: () =>
      behaviour === "hang"
        ? Effect.never
        : Effect.fail(new IdempotencyStore.JournalFailed({ path: file, op: "write", code: behaviour, detail: "injected" })),
    sync: Effect.void,
    replace: () => Effect.void
  })

/** A server with one side-effecting tool `charge`, and a connected client. */
const serve = (store: McpServer.Options<never, IdempotencyStore.JournalFailed>["idempotency"], charges: { n: number }) =>
  Effect.gen(function*() {
    const server = yield* McpServer.make({
      info: { name: "pay", version: "1" },
      ...(store === undefined ? {} : { idempotency: store }),
      tools: [
        Tool.make("charge", {
          input: Schema.Struct({ fail: Schema.optionalKey(Schema.Boolean) }),
          handler: ({ fail }) =>
            Effect.sync(() => ++charges.n).pipe(
              Effect.flatMap((n) =>
                fail === true
                  ? Effect.fail(new ProtocolError.McpError({ code: ErrorCode.InvalidParams, message: `declined #${n}`, data: { n } }))
                  : Effect.succeed(`charge #${n}`)
              )
            )
        })
      ]
    })
    const [a, b] = yield* MemoryTransport.makePair()
    yield* Effect.forkScoped(server.serve(a))
    const client = yield* Protocol.make(b, { handler: () => undefined })
    yield* client.request("initialize", { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "c", version: "1" } })
    return (key: string, args: Record<string, unknown> = {}) =>
      client.request("tools/call", { name: "charge", arguments: args, _meta: { "io.effect-mcp/idempotencyKey": key } })
  })

describe("IdempotencyStore", () => {
  describe("memory", () => {
    it.effect("FM-10 claims a key once, returns its outcome, and forgets it after the TTL", () =>
      Effect.gen(function*() {
        const store = yield* IdempotencyStore.makeMemory({ ttl: "1 minute", capacity: 2 })
        expect(yield* store.begin("a")).toEqual({ _tag: "Claimed" })
        expect(yield* store.begin("a")).toEqual({ _tag: "InProgress" })
        yield* store.complete("a", result("one"))
        expect(yield* store.begin("a")).toEqual({ _tag: "Completed", outcome: result("one") })
        yield* TestClock.adjust("59 seconds")
        expect(yield* store.begin("a")).toEqual({ _tag: "Completed", outcome: result("one") })
        yield* TestClock.adjust("1 second")
        expect(yield* store.begin("a")).toEqual({ _tag: "Claimed" })
        // a released claim runs again
        yield* store.release("a")
        expect(yield* store.begin("a")).toEqual({ _tag: "Claimed" })
        // capacity 2: the oldest key goes first
        yield* store.complete("a", result("a"))
        yield* store.complete("b", result("b"))
        yield* store.complete("c", result("c"))
        expect(yield* store.begin("a")).toEqual({ _tag: "Claimed" })
        expect(yield* store.begin("c")).toEqual({ _tag: "Completed", outcome: result("c") })
      }))
  })

  describe("file", () => {
    it.effect("FM-10 claims and outcomes survive a new store over the same journal (a restart)", () =>
      Effect.gen(function*() {
        const file = journalPath()
        const first = yield* openStore({ path: file })
        expect(yield* first.store.begin("done")).toEqual({ _tag: "Claimed" })
        yield* first.store.complete("done", result("charge #1"))
        const declined: IdempotencyStore.Outcome = { _tag: "Error", code: -32602, message: "declined", data: { n: 2 } }
        expect(yield* first.store.begin("declined")).toEqual({ _tag: "Claimed" })
        yield* first.store.complete("declined", declined)
        expect(yield* first.store.begin("crashed")).toEqual({ _tag: "Claimed" })
        expect(yield* first.store.begin("released")).toEqual({ _tag: "Claimed" })
        yield* first.store.release("released")
        yield* first.close
        // the next process loads the journal
        const second = yield* openStore({ path: file })
        expect(yield* second.store.begin("done")).toEqual({ _tag: "Completed", outcome: result("charge #1") })
        expect(yield* second.store.begin("declined")).toEqual({ _tag: "Completed", outcome: declined })
        expect(yield* second.store.begin("crashed")).toMatchObject({ _tag: "Unknown" })
        expect(yield* second.store.begin("released")).toEqual({ _tag: "Claimed" })
        yield* second.close
      }))

    it.effect("FM-10 entries past their TTL are dropped at load, torn lines skipped, and the journal compacted", () =>
      Effect.gen(function*() {
        const file = journalPath()
        const first = yield* openStore({ path: file, ttl: "10 minutes", compactAfter: 16 })
        for (let i = 0; i < 40; i++) {
          yield* first.store.begin(`k${i}`)
          yield* first.store.complete(`k${i}`, result(`r${i}`))
        }
        yield* first.close
        // 80 records written, compacted along the way: the journal holds the live entries and a few more
        const lines = fs.readFileSync(file, "utf8").split("\n").filter((l) => l.length > 0)
        expect(lines.length).toBeLessThan(40 + 2 * 16)
        // a crash tore the last line
        fs.appendFileSync(file, `{"o":"c","k":"k0","t":0,"r":{"_ta`)
        const second = yield* openStore({ path: file, ttl: "10 minutes", compactAfter: 16 })
        expect(yield* second.store.begin("k39")).toEqual({ _tag: "Completed", outcome: result("r39") })
        expect(yield* second.store.begin("k0")).toEqual({ _tag: "Completed", outcome: result("r0") })
        yield* second.close
        // after the TTL nothing is left, and the journal is rewritten to nothing at load
        yield* TestClock.adjust("11 minutes")
        const third = yield* openStore({ path: file, ttl: "10 minutes", compactAfter: 16 })
        expect(yield* third.store.begin("k39")).toEqual({ _tag: "Claimed" })
        yield* third.close
        expect(fs.readFileSync(file, "utf8").split("\n").filter((l) => l.length > 0).length).toBe(1)
      }))

    it.effect("FM-10 a keyed call begun and never completed by a dead server is not run again: the retry gets -32012", () =>
      Effect.gen(function*() {
        const file = journalPath()
        // the first server claimed the key, ran the side effect, and died before recording the outcome
        const dead = yield* openStore({ path: file })
        yield* dead.store.begin("charge:order-1")
        yield* dead.close
        const charges = { n: 0 }
        const call = yield* serve({ store: IdempotencyStore.IdempotencyStore.layerFile({ path: file }) }, charges)
        const error = yield* Effect.flip(call("order-1"))
        expect(error).toMatchObject({
          _tag: "RemoteError",
          code: IdempotencyStore.OutcomeUnknown,
          data: { mode: "FM-10", outcome: "unknown", key: "order-1", tool: "charge" }
        })
        expect(charges.n).toBe(0)
        // and again: still no run
        expect(yield* Effect.flip(call("order-1"))).toMatchObject({ code: IdempotencyStore.OutcomeUnknown })
        expect(charges.n).toBe(0)
        // another key runs
        expect(yield* call("order-2")).toEqual({ content: [{ type: "text", text: "charge #1" }] })
      }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))

    it.effect("FM-10 a restarted server answers a completed key with the stored result or error, without running it", () =>
      Effect.gen(function*() {
        const file = journalPath()
        const charges = { n: 0 }
        const layer = IdempotencyStore.IdempotencyStore.layerFile({ path: file })
        // the first server: one call answered, one declined with a JSON-RPC error
        const before = yield* Effect.scoped(Effect.gen(function*() {
          const call = yield* serve({ store: layer }, charges)
          return { ok: yield* call("a"), declined: yield* Effect.flip(call("b", { fail: true })) }
        }))
        expect(before.ok).toEqual({ content: [{ type: "text", text: "charge #1" }] })
        expect(before.declined).toMatchObject({ code: ErrorCode.InvalidParams, message: "declined #2", data: { n: 2 } })
        // the next server, over the same journal
        const call = yield* serve({ store: layer }, charges)
        expect(yield* call("a")).toEqual(before.ok)
        expect(yield* Effect.flip(call("b", { fail: true }))).toMatchObject({ code: ErrorCode.InvalidParams, message: "declined #2", data: { n: 2 } })
        expect(charges.n).toBe(2)
      }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))
  })

  describe("FM-34 disk I/O", () => {
    it.effect("FM-34 a journal write that does not finish in time refuses the call (-32011) and the call does not run", () =>
      Effect.gen(function*() {
        const charges = { n: 0 }
        const call = yield* serve({
          store: IdempotencyStore.IdempotencyStore.layerFile({ path: "/hangs", writeTimeout: "2 seconds", open: brokenFile("hang") })
        }, charges)
        const attempt = yield* Effect.forkChild(Effect.flip(call("k")))
        yield* TestClock.adjust("1999 millis")
        expect(attempt.pollUnsafe()).toBeUndefined()
        yield* TestClock.adjust("1 millis")
        expect(yield* Fiber.join(attempt)).toMatchObject({
          _tag: "RemoteError",
          code: ErrorCode.Unavailable,
          data: { mode: "FM-34", timeoutMs: 2000 }
        })
        expect(charges.n).toBe(0)
      }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))

    it.effect("FM-34 journal writes are bounded: past maxPendingWrites the call is refused at once (-32010) and does not run", () =>
      Effect.gen(function*() {
        const { store } = yield* openStore({ path: "/hangs", maxPendingWrites: 2, writeTimeout: "1 minute", open: brokenFile("hang") })
        // one write taken by the (stuck) writer, two waiting: the next is refused without waiting
        const stuck = yield* Effect.forEach(["a", "b", "c"], (key) => Effect.forkChild(store.begin(key)).pipe(Effect.tap(() => settle)))
        const refused = yield* Effect.flip(store.begin("d"))
        expect(refused).toMatchObject({ _tag: "JournalOverloaded", mode: "FM-34", limit: 2 })
        yield* TestClock.adjust("1 minute")
        for (const fiber of stuck) expect(yield* Effect.flip(Fiber.join(fiber))).toMatchObject({ _tag: "JournalTimeout", op: "begin" })
        // the disk is still stuck: still refused at once, and nothing stays claimed
        expect(yield* Effect.flip(store.begin("a"))).toMatchObject({ _tag: "JournalOverloaded" })

        const charges = { n: 0 }
        const call = yield* serve({
          store: IdempotencyStore.IdempotencyStore.layerFile({ path: "/hangs", maxPendingWrites: 1, writeTimeout: "30 seconds", open: brokenFile("hang") })
        }, charges)
        const first = yield* Effect.forkChild(Effect.flip(call("x")))
        yield* settle
        const second = yield* Effect.forkChild(Effect.flip(call("y")))
        yield* settle
        expect(yield* Effect.flip(call("z"))).toMatchObject({ code: ErrorCode.Overloaded, data: { mode: "FM-34" } })
        yield* TestClock.adjust("30 seconds")
        expect(yield* Fiber.join(first)).toMatchObject({ code: ErrorCode.Unavailable })
        expect(yield* Fiber.join(second)).toMatchObject({ code: ErrorCode.Unavailable })
        expect(charges.n).toBe(0)
      }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))

    it.effect("FM-34 a full disk (ENOSPC from /dev/full) is a typed refusal, the call does not run, the server lives on", () =>
      Effect.gen(function*() {
        // a real ENOSPC from the kernel: appends go to /dev/full
        const devFull = (file: string) =>
          Effect.map(IdempotencyStore.openNodeFile(file), (f): IdempotencyStore.JournalFile => ({ ...f, read: Effect.succeed("") }))
        const { store } = yield* openStore({ path: "/dev/full", open: devFull })
        expect(yield* Effect.flip(store.begin("k"))).toMatchObject({ _tag: "JournalFailed", mode: "FM-34", op: "write", code: "ENOSPC" })

        const charges = { n: 0 }
        const call = yield* serve({ store: IdempotencyStore.IdempotencyStore.layerFile({ path: "/dev/full", open: devFull }) }, charges)
        for (const key of ["a", "a", "b"]) {
          expect(yield* Effect.flip(call(key))).toMatchObject({ code: ErrorCode.Unavailable, data: { mode: "FM-34", code: "ENOSPC" } })
        }
        expect(charges.n).toBe(0)
        // an injected failure of the same kind
        const injected = yield* serve({ store: IdempotencyStore.IdempotencyStore.layerFile({ path: "/x", open: brokenFile("EIO") }) }, charges)
        expect(yield* Effect.flip(injected("a"))).toMatchObject({ code: ErrorCode.Unavailable, data: { mode: "FM-34", code: "EIO" } })
        expect(charges.n).toBe(0)
      }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)))

    it.effect("FM-34 an unwritable journal fails the server's construction with JournalFailed, not a crash", () =>
      Effect.gen(function*() {
        const notADirectory = path.join(dir, "plain-file")
        fs.writeFileSync(notADirectory, "")
        const error = yield* Effect.flip(McpServer.make({
          info: { name: "pay", version: "1" },
          idempotency: { store: IdempotencyStore.IdempotencyStore.layerFile({ path: path.join(notADirectory, "journal") }) }
        }))
        expect(error).toMatchObject({ _tag: "JournalFailed", mode: "FM-34", op: "open", code: "ENOTDIR" })
      }))
  })

  describe("kill -9", () => {
    const fixture = fileURLToPath(new URL("./fixtures/idempotency-child.ts", import.meta.url))
    const root = fileURLToPath(new URL("../../..", import.meta.url))

    interface Child {
      readonly process: ChildProcess
      readonly send: (command: { readonly key: string; readonly hang?: boolean }) => void
      readonly answer: (key: string) => Promise<Record<string, any>>
    }
    const start = (journal: string, ledger: string) =>
      new Promise<Child>((resolve, reject) => {
        const child = spawn(process.execPath, ["--import", "tsx", fixture, journal, ledger], { cwd: root, stdio: ["pipe", "pipe", "pipe"] })
        let stderr = ""
        child.stderr!.on("data", (chunk) => (stderr += String(chunk)))
        const answers = new Map<string, Record<string, any>>()
        const waiting = new Map<string, (answer: Record<string, any>) => void>()
        const timer = setTimeout(() => reject(new Error(`child did not start: ${stderr}`)), 50_000)
        child.once("exit", (code) => reject(new Error(`child exited (${code}): ${stderr}`)))
        readline.createInterface({ input: child.stdout! }).on("line", (line) => {
          if (line === "ready") {
            clearTimeout(timer)
            resolve({
              process: child,
              send: (command) => child.stdin!.write(`${JSON.stringify(command)}\n`),
              answer: (key) =>
                new Promise((done) => {
                  const known = answers.get(key)
                  if (known !== undefined) {
                    answers.delete(key)
                    done(known)
                  } else waiting.set(key, done)
                })
            })
            return
          }
          const answer = JSON.parse(line) as Record<string, any>
          const waiter = waiting.get(answer.key)
          if (waiter !== undefined) {
            waiting.delete(answer.key)
            waiter(answer)
          } else answers.set(answer.key, answer)
        })
      })
    const killed = (child: Child) =>
      new Promise<void>((resolve) => {
        child.process.once("exit", () => resolve())
        child.process.kill("SIGKILL")
      })
    const sideEffects = (ledger: string) => fs.readFileSync(ledger, "utf8").split("\n").filter((l) => l.length > 0).map((l) => l.split(" ")[0])

    it("FM-10 a server killed with -9 right after a side effect: the restarted server does not run the key again", async () => {
      const journal = journalPath()
      const ledger = path.join(dir, `ledger-${files}.txt`)
      const first = await start(journal, ledger)
      try {
        first.send({ key: "done" })
        const answered = await first.answer("done")
        expect(answered.result).toEqual({ content: [{ type: "text", text: `charged done by ${first.process.pid}` }] })
        first.send({ key: "hang", hang: true })
        // the side effect is in the ledger; the answer never comes: kill -9 now
        const deadline = Date.now() + 20_000
        while (!sideEffects(ledger).includes("hang") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5))
        expect(sideEffects(ledger)).toEqual(["done", "hang"])
      } finally {
        await killed(first)
      }
      const second = await start(journal, ledger)
      try {
        second.send({ key: "hang" })
        expect(await second.answer("hang")).toMatchObject({
          error: { tag: "RemoteError", code: IdempotencyStore.OutcomeUnknown, data: { mode: "FM-10", outcome: "unknown", key: "hang" } }
        })
        second.send({ key: "done" })
        expect((await second.answer("done")).result).toEqual({ content: [{ type: "text", text: `charged done by ${first.process.pid}` }] })
        second.send({ key: "new" })
        expect((await second.answer("new")).result).toEqual({ content: [{ type: "text", text: `charged new by ${second.process.pid}` }] })
        // one side effect per key, across the restart
        expect(sideEffects(ledger)).toEqual(["done", "hang", "new"])
      } finally {
        await killed(second)
      }
    })
  })
})
