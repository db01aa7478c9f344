/**
 * Process faults on stdio: the server is a child process spawned by the client (`StdioClientTransport` under
 * `ReconnectingTransport`), and the harness kills it with -9, stops it with SIGSTOP and continues it with
 * SIGCONT, or has it stop reading its stdin for good.
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { McpClient } from "@effect-mcp/client"
import { StdioClientTransport } from "@effect-mcp/transports"
import { type ChaosClient, closeAll, connectAll } from "../Clients.ts"
import { type Context, checkLedgers, ledgerPath, window } from "../Context.ts"
import { isAlive, now, provide, serverArgs, sleep } from "../Harness.ts"
import { runLoad, Tally } from "../Load.ts"
import { rowOf } from "../Report.ts"

const stdioSpecs = (ctx: Context, prefix: string) =>
  (["stateless", "stateful"] as const).map((era, i) => ({
    name: `${prefix}-stdio-${era === "stateless" ? "2026" : "2025"}-${i}`,
    kind: "stdio" as const,
    era,
    ledger: ledgerPath(ctx, `${prefix}-${i}`)
  }))

const firstAfter = (tally: Tally, t: number, name: string, notFrom?: ReadonlySet<number>) => tally.firstSuccessAfter(t, notFrom).get(name)

/** Waits for every client's first answer after `t` (from a process not in `notFrom`); the slowest client's wait. */
const awaitAll = async (tally: Tally, clients: ReadonlyArray<ChaosClient>, t: number, ms: number, notFrom?: ReadonlySet<number>) => {
  const deadline = now() + ms
  while (now() < deadline && clients.some((c) => firstAfter(tally, t, c.spec.name, notFrom) === undefined)) await sleep(20)
  let worst = 0
  for (const c of clients) {
    const first = firstAfter(tally, t, c.spec.name, notFrom)
    worst = Math.max(worst, first === undefined ? Infinity : first - t)
  }
  return worst
}

/** Load on the stdio clients while `fault` runs; one row per fault. */
const underFault = async (
  ctx: Context,
  clients: ReadonlyArray<ChaosClient>,
  ledgers: ReadonlyArray<string>,
  name: string,
  prefix: string,
  fault: (tally: Tally) => Promise<{ readonly recoveryMs: number; readonly note: string }>
) => {
  const measure = window(ctx)
  const tally = new Tally(prefix)
  let done = false
  const load = runLoad({ clients, workersPerClient: ctx.budget.workers, until: Infinity, maxCalls: Infinity, tally, stop: () => done })
  const { recoveryMs, note } = await fault(tally)
  await sleep(ctx.budget.stdioLoadMs)
  done = true
  await load
  const figures = measure()
  ctx.rows.push(rowOf(name, "stdio", tally, checkLedgers(tally, ledgers), { ...figures, recoveryMs, recoveryNote: note }))
  ctx.log(`  ${name}: ${tally.sent} sent, ${tally.answered} answered, ${tally.failed} failed, ${tally.lost} lost; recovery ${Math.round(recoveryMs)} ms`)
}

/** kill -9 of the child under load: the transport spawns a new one. */
const kill9 = (ctx: Context, clients: ReadonlyArray<ChaosClient>, ledgers: ReadonlyArray<string>) =>
  underFault(ctx, clients, ledgers, `kill -9 of the stdio child ×${ctx.budget.stdioKills}`, "stdio-kill", async (tally) => {
    const recoveries: Array<number> = []
    for (let i = 0; i < ctx.budget.stdioKills; i++) {
      await sleep(ctx.budget.stdioLoadMs)
      const killed = now()
      const dead = new Set<number>()
      for (const c of clients) {
        const pid = c.childPid()!
        dead.add(pid)
        ctx.monitor.unwatch(pid)
        process.kill(pid, "SIGKILL")
      }
      // recovered: an answer from the new child (an answer of the old one may still arrive just after the kill)
      recoveries.push(await awaitAll(tally, clients, killed, 40_000, dead))
      for (const c of clients) ctx.monitor.watch(c.childPid()!)
    }
    return {
      recoveryMs: Math.max(...recoveries),
      note: `from the kill to every client's first answer from its new child, spawned and started in between (each kill: ${
        recoveries.map((r) => (Number.isFinite(r) ? String(Math.round(r)) : "none within 40 s")).join(", ")
      } ms)`
    }
  })

/** SIGSTOP for a while, then SIGCONT, under load. */
const stopCont = (ctx: Context, clients: ReadonlyArray<ChaosClient>, ledgers: ReadonlyArray<string>) =>
  underFault(ctx, clients, ledgers, `SIGSTOP ${(ctx.budget.stopMs / 1000).toFixed(0)} s then SIGCONT ×${ctx.budget.stopCycles}`, "stdio-stop", async (tally) => {
    const recoveries: Array<number> = []
    for (let i = 0; i < ctx.budget.stopCycles; i++) {
      await sleep(ctx.budget.stdioLoadMs)
      const pids = clients.map((c) => c.childPid()!)
      for (const pid of pids) process.kill(pid, "SIGSTOP")
      await sleep(ctx.budget.stopMs)
      for (const pid of pids) process.kill(pid, "SIGCONT")
      const continued = now()
      recoveries.push(await awaitAll(tally, clients, continued, 30_000))
    }
    return {
      recoveryMs: Math.max(...recoveries),
      note: `from SIGCONT to every client's first answer (each: ${recoveries.map((r) => Math.round(r)).join(", ")} ms)`
    }
  })

/**
 * A child that stops reading its stdin for good (its tool `stop_reading`) while the client keeps calling
 * with large arguments: the pipe fills and the client's writes back up. Every call must still end (a typed
 * error within its timeout), and closing the client must not hang.
 */
const neverReads = async (ctx: Context, client: ChaosClient | undefined, ledgers: ReadonlyArray<string>) => {
  const measure = window(ctx)
  await Effect.runPromise(client!.client.callTool("stop_reading", {}))
  await sleep(200)
  const tally = new Tally("stdio-deaf")
  await runLoad({
    clients: [client!],
    workersPerClient: 16,
    until: now() + 1_000,
    maxCalls: 64,
    tally,
    padBytes: 32 * 1024,
    attemptTimeoutMs: 1_000,
    retry: null,
    lostAfterMs: 5_000
  })
  const pid = client!.childPid()!
  const closing = now()
  await client!.close()
  const closeMs = now() - closing
  const aliveRightAfter = isAlive(pid)
  while (isAlive(pid) && now() - closing < 10_000) await sleep(20)
  const goneAfter = now() - closing
  const exited = !isAlive(pid)
  const figures = measure()
  ctx.rows.push(rowOf("stdio child stops reading its stdin (32 KiB calls, 1 s timeout, no retry)", "stdio", tally, checkLedgers(tally, ledgers), {
    ...figures,
    recoveryMs: closeMs,
    recoveryNote: `closing the client took ${Math.round(closeMs)} ms; the child was ${aliveRightAfter ? "still alive when it returned" : "gone when it returned"}, and ${
      exited ? `gone ${Math.round(goneAfter)} ms after the close began` : "STILL ALIVE 10 s after the close began"
    }`,
    notes: ["a call is lost here when it has no outcome 5 s after it started, though its own timeout is 1 s"]
  }))
  ctx.log(`  never reads: ${tally.sent} sent, ${tally.answered} answered, ${tally.failed} failed, ${tally.lost} lost; close ${Math.round(closeMs)} ms, child gone after ${Math.round(goneAfter)} ms: ${exited}`)
  if (!exited) {
    try {
      process.kill(pid, "SIGKILL")
    } catch {
      // gone
    }
  }
}

/** Connecting to a child that never reads at all must fail with a typed error, in bounded time. */
const neverReadsFromStart = async (ctx: Context) => {
  const scope = Scope.makeUnsafe()
  const start = now()
  const attempt = Effect.gen(function*() {
    const transport = yield* StdioClientTransport.make({
      command: process.execPath,
      args: serverArgs({ neverRead: true, ledger: ledgerPath(ctx, "never-read") }),
      inheritEnv: true,
      stderr: "ignore",
      closeTimeouts: { stdin: "1 second", sigterm: "1 second" }
    })
    return yield* McpClient.connect(transport, { info: { name: "chaos-never-read", version: "0.1.0" }, requestTimeout: "3 seconds" })
  }).pipe(Scope.provide(scope), Effect.timeoutOption("30 seconds"))
  const exit = await Effect.runPromise(Effect.exit(provide(attempt)))
  const elapsed = now() - start
  await Effect.runPromise(Scope.close(scope, Exit.void).pipe(Effect.timeoutOption("10 seconds")))
  const typed = Exit.isFailure(exit) && exit.cause.reasons.some((r) => r._tag === "Fail")
  const lost = Exit.isSuccess(exit) && exit.value._tag === "None"
  ctx.observations.push(
    `Connecting an McpClient to a stdio child that never reads: ${
      typed ? `a typed error after ${(elapsed / 1000).toFixed(1)} s` : lost ? "NO OUTCOME within 30 s" : `unexpected: ${String(exit)}`
    } (server/discover waits 10 s, then initialize its request timeout).`
  )
  if (lost) {
    ctx.goals.push({ name: "connecting to a child that never reads ends in bounded time", ok: false, detail: "no outcome within 30 s" })
  }
}

export const stdio = async (ctx: Context) => {
  const specs = stdioSpecs(ctx, "stdio")
  const ledgers = specs.map((s) => s.ledger)
  const clients = await connectAll(specs)
  for (const c of clients) ctx.monitor.watch(c.childPid()!)
  await kill9(ctx, clients, ledgers)
  await stopCont(ctx, clients, ledgers)
  // the last fault ends the first client's child for good; the other client is closed normally
  await neverReads(ctx, clients[0], ledgers)
  await closeAll(clients.slice(1))
  if (ctx.mode === "full") await neverReadsFromStart(ctx)
}
