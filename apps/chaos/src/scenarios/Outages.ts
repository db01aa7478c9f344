/**
 * Outages under load: a network that flaps (every connection reset, then for a while new ones reset or
 * black-holed), and kill -9 of the server process, restarted on the same ports.
 */
import type { ChaosClient, Kind } from "../Clients.ts"
import { closeAll, connectAll } from "../Clients.ts"
import { type Context, checkLedgers, ledgerPath, specs, window } from "../Context.ts"
import * as FaultProxy from "../FaultProxy.ts"
import { freePort, now, type ServerProcess, sleep, startServer } from "../Harness.ts"
import { runLoad, Tally } from "../Load.ts"
import { rowOf } from "../Report.ts"
import { transports } from "./Steady.ts"

const framing: Record<(typeof transports)[number], FaultProxy.Framing> = { tcp: "ndjson", ws: "websocket", http: "http" }

/** Waits until every client of `tally` has an answer completed after `t`, or `ms` passed. */
const awaitRecovery = async (tally: Tally, t: number, ms: number) => {
  const deadline = now() + ms
  while (now() < deadline) {
    const firsts = tally.firstSuccessAfter(t)
    if ([...firsts.values()].every((x) => x !== undefined)) return
    await sleep(20)
  }
}

/** The slowest client's recovery after `t` (Infinity when one never recovered). */
const recoveryAfter = (tally: Tally, t: number): number => {
  let worst = 0
  for (const first of tally.firstSuccessAfter(t).values()) worst = Math.max(worst, first === undefined ? Infinity : first - t)
  return worst
}

/** The network flaps: down (reset, then black hole, alternately), up, again. */
export const flap = async (ctx: Context) => {
  const b = ctx.budget
  const proxies = new Map<Kind, FaultProxy.FaultProxy>()
  const ports: Record<(typeof transports)[number], number> = { tcp: ctx.main.tcp!, ws: ctx.main.ws!, http: ctx.main.http! }
  for (const kind of transports) proxies.set(kind, await FaultProxy.start({ target: { port: ports[kind] }, framing: framing[kind], seed: 7 }))
  const clients = new Map<Kind, Array<ChaosClient>>()
  for (const kind of transports) clients.set(kind, await connectAll(specs(kind, proxies.get(kind)!.port, b.clientsPerTransport, "flap")))
  const measure = window(ctx)
  const tallies = new Map<Kind, Tally>(transports.map((k) => [k, new Tally(`flap-${k}`)]))
  let done = false
  const loads = Promise.all(transports.map((kind) =>
    runLoad({ clients: clients.get(kind)!, workersPerClient: b.workers, until: Infinity, maxCalls: Infinity, tally: tallies.get(kind)!, stop: () => done })
  ))
  const recoveries = new Map<Kind, Array<number>>(transports.map((k) => [k, []]))
  for (let cycle = 0; cycle < b.flaps; cycle++) {
    await sleep(b.flapUpMs)
    const mode = cycle % 2 === 0 ? "reset" : "blackhole"
    for (const proxy of proxies.values()) proxy.down(b.flapDownMs, mode)
    await sleep(b.flapDownMs)
    const up = now()
    await Promise.all(transports.map((kind) => awaitRecovery(tallies.get(kind)!, up, b.recoveryWaitMs)))
    for (const kind of transports) recoveries.get(kind)!.push(recoveryAfter(tallies.get(kind)!, up))
  }
  await sleep(b.flapUpMs)
  done = true
  await loads
  const figures = measure()
  for (const kind of transports) {
    const tally = tallies.get(kind)!
    const r = recoveries.get(kind)!
    ctx.rows.push(rowOf(`network flap ×${b.flaps} (${b.flapDownMs} ms down, reset / black hole)`, kind, tally, checkLedgers(tally, [ctx.mainLedger]), {
      ...figures,
      recoveryMs: Math.max(...r),
      recoveryNote: `from the network coming back to every client's first answer, slowest client, worst flap (each flap: ${
        r.map((x) => (Number.isFinite(x) ? `${Math.round(x)}` : `none within ${b.recoveryWaitMs / 1000} s`)).join(", ")
      } ms)`
    }))
    ctx.log(`  flap / ${kind}: ${tally.sent} sent, ${tally.answered} answered, ${tally.failed} failed, ${tally.lost} lost; recovery ${r.map((x) => Math.round(x)).join(", ")} ms`)
  }
  await Promise.all(transports.map((kind) => closeAll(clients.get(kind)!)))
  await Promise.all([...proxies.values()].map((p) => p.close()))
}

/**
 * kill -9 of the server under load, restarted on the same ports; clients connect directly. Recovery: from
 * the new server listening to each client's first answer (goal: within 2 s, slowest client).
 */
export const kill9 = async (ctx: Context) => {
  const b = ctx.budget
  const ledger = ledgerPath(ctx, "kill9")
  const ports = { tcp: await freePort(), ws: await freePort(), http: await freePort() }
  let server: ServerProcess = await startServer({ ...ports, ledger })
  ctx.monitor.watch(server.pid)
  const clients = new Map<Kind, Array<ChaosClient>>()
  for (const kind of transports) clients.set(kind, await connectAll(specs(kind, ports[kind], b.clientsPerTransport, "kill")))
  const measure = window(ctx)
  const tallies = new Map<Kind, Tally>(transports.map((k) => [k, new Tally(`kill9-${k}`)]))
  let done = false
  const loads = Promise.all(transports.map((kind) =>
    runLoad({ clients: clients.get(kind)!, workersPerClient: b.workers, until: Infinity, maxCalls: Infinity, tally: tallies.get(kind)!, stop: () => done })
  ))
  const recoveries = new Map<Kind, Array<number>>(transports.map((k) => [k, []]))
  const restarts: Array<number> = []
  for (let cycle = 0; cycle < b.killCycles; cycle++) {
    await sleep(b.killLoadMs)
    const killedAt = now()
    server.child.kill("SIGKILL")
    await server.exited
    ctx.monitor.unwatch(server.pid)
    server = await startServer({ ...ports, ledger })
    ctx.monitor.watch(server.pid)
    const up = server.listeningAt
    restarts.push(up - killedAt)
    await Promise.all(transports.map((kind) => awaitRecovery(tallies.get(kind)!, up, b.recoveryWaitMs)))
    for (const kind of transports) recoveries.get(kind)!.push(recoveryAfter(tallies.get(kind)!, up))
  }
  await sleep(b.killLoadMs)
  done = true
  await loads
  const figures = measure()
  for (const kind of transports) {
    const tally = tallies.get(kind)!
    const r = recoveries.get(kind)!
    const worst = Math.max(...r)
    ctx.rows.push(rowOf(`kill -9 of the server ×${b.killCycles}, restarted`, kind, tally, checkLedgers(tally, [ledger]), {
      ...figures,
      recoveryMs: worst,
      recoveryNote: `from the new server listening to every client's first answer, slowest client (each restart: ${
        r.map((x) => Math.round(x)).join(", ")
      } ms; the server took ${restarts.map((x) => (x / 1000).toFixed(1)).join(", ")} s to listen again)`
    }))
    ctx.goals.push({
      name: `after kill -9, ${kind} clients answer within 2 s of the new server listening`,
      ok: worst <= 2_000,
      detail: `slowest client: ${r.map((x) => `${Math.round(x)} ms`).join(", ")}`
    })
    ctx.log(`  kill -9 / ${kind}: ${tally.sent} sent, ${tally.answered} answered, ${tally.failed} failed, ${tally.lost} lost; recovery ${r.map((x) => Math.round(x)).join(", ")} ms`)
  }
  await Promise.all(transports.map((kind) => closeAll(clients.get(kind)!)))
  ctx.monitor.unwatch(server.pid)
  await server.stop()
}
