/**
 * The retry policy the guide recommends, `McpClient.defaultRetry`, against a call that always fails with a
 * transient error (a server that never answers): it must stop, as documented, after 5 retries. Run on the
 * TestClock (its delays reach 5 s), so it takes no time.
 */
import * as Effect from "effect/Effect"
import * as TestClock from "effect/testing/TestClock"
import { McpClient } from "@effect-mcp/client"
import { ProtocolError } from "@effect-mcp/core"
import { closeAll, connectAll, type Kind } from "../Clients.ts"
import { type Context, checkLedgers, window } from "../Context.ts"
import * as FaultProxy from "../FaultProxy.ts"
import { sleep } from "../Harness.ts"
import { retry, runLoad, Tally } from "../Load.ts"
import { rowOf } from "../Report.ts"

/** Attempts made by a call retried with `schedule` that always times out (capped at 200), and whether it ended. */
export const attemptsOf = (schedule: typeof McpClient.defaultRetry) =>
  Effect.runPromise(
    Effect.gen(function*() {
      let attempts = 0
      const failing = Effect.suspend(() => {
        attempts++
        return Effect.fail(new ProtocolError.RequestTimedOut({ method: "tools/call", timeoutMs: 60_000 }))
      })
      const fiber = yield* Effect.forkChild(Effect.retry(failing, { schedule, while: McpClient.isTransient }))
      for (let i = 0; i < 200 && fiber.pollUnsafe() === undefined && attempts < 200; i++) yield* TestClock.adjust("10 seconds")
      const ended = fiber.pollUnsafe() !== undefined
      fiber.interruptUnsafe()
      return { attempts, ended }
    }).pipe(Effect.provide(TestClock.layer()))
  )

export const policy = async (ctx: Context) => {
  const guide = await attemptsOf(McpClient.defaultRetry)
  ctx.goals.push({
    name: "McpClient.defaultRetry (the guide's retry) stops after 5 retries",
    ok: guide.ended && guide.attempts <= 6,
    detail: guide.ended
      ? `${guide.attempts} attempts`
      : `still retrying after ${guide.attempts} attempts (${guide.attempts * 10} s of the TestClock): a call to a server that never answers never ends`
  })
  const ours = await attemptsOf(retry)
  ctx.observations.push(
    `The harness's own retry (exponential from 50 ms, jittered, delays capped at 1 s by modifyDelay, upTo 5 times) ends after ${ours.attempts} attempts; ` +
      `McpClient.defaultRetry ${guide.ended ? `ends after ${guide.attempts}` : `did not end after ${guide.attempts}`}.`
  )
  ctx.log(`  defaultRetry: ${guide.attempts} attempts, ended: ${guide.ended}; harness retry: ${ours.attempts} attempts`)
}

/**
 * One keyed call at a time, with the fault placed exactly: the connection reset after the tool's side effect
 * (it commits half-way through 400 ms of work) but before its answer; and an attempt timeout shorter than the
 * tool. An idempotency key promises one side effect however many retries arrive.
 */
export const keyed = async (ctx: Context) => {
  const cases: ReadonlyArray<{ readonly name: string; readonly kind: Kind; readonly era: "stateless" | "stateful"; readonly fault: "reset" | "close" | "timeout" }> = [
    { name: "keyed call, connection reset after the side effect", kind: "tcp", era: "stateless", fault: "reset" },
    { name: "keyed call, connection reset after the side effect", kind: "ws", era: "stateful", fault: "reset" },
    { name: "keyed call, connection reset after the side effect", kind: "http", era: "stateless", fault: "reset" },
    { name: "keyed call, connection closed cleanly after the side effect", kind: "ws", era: "stateless", fault: "close" },
    { name: "keyed call, attempt timeout (300 ms) shorter than the tool (400 ms)", kind: "tcp", era: "stateless", fault: "timeout" }
  ]
  const port = (kind: Kind) => (kind === "tcp" ? ctx.main.tcp! : kind === "ws" ? ctx.main.ws! : ctx.main.http!)
  const framing = (kind: Kind): FaultProxy.Framing => (kind === "tcp" ? "ndjson" : kind === "ws" ? "websocket" : "http")
  let i = 0
  for (const c of cases) {
    const proxy = await FaultProxy.start({ target: { port: port(c.kind) }, framing: framing(c.kind) })
    const [client] = await connectAll([{ name: `keyed-${c.kind}-${i}`, kind: c.kind, era: c.era, port: proxy.port }])
    const measure = window(ctx)
    const tally = new Tally(`keyed-${i++}`)
    const timer = c.fault === "timeout" ? undefined : setTimeout(() => (c.fault === "reset" ? proxy.reset() : proxy.closeClean()), 300)
    await runLoad({
      clients: [client!],
      workersPerClient: 1,
      until: Infinity,
      maxCalls: 1,
      tally,
      workMs: () => 400,
      ...(c.fault === "timeout" ? { attemptTimeoutMs: 300 } : {})
    })
    if (timer !== undefined) clearTimeout(timer)
    await sleep(300)
    const ledger = checkLedgers(tally, [ctx.mainLedger])
    ctx.rows.push(rowOf(c.name, `${c.kind} (${c.era === "stateless" ? "2026-07-28" : "2025-11-25"})`, tally, ledger, {
      ...measure(),
      notes: [`side effect ran ${1 + ledger.extraRuns} time(s) for one key`]
    }))
    ctx.log(`  ${c.name} / ${c.kind}: answered ${tally.answered}, failed ${tally.failed}; side effect ran ${1 + ledger.extraRuns} time(s)`)
    await closeAll([client!])
    await proxy.close()
  }
}
