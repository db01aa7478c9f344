/**
 * Steady load through each fault of the proxy, one fault at a time, then all of them mixed: TCP, WebSocket
 * and Streamable HTTP side by side, each through its own proxy to the main chaos server.
 */
import type { ChaosClient, Kind } from "../Clients.ts"
import { closeAll, connectAll } from "../Clients.ts"
import { type Context, checkLedgers, specs, window } from "../Context.ts"
import * as FaultProxy from "../FaultProxy.ts"
import { now } from "../Harness.ts"
import { runLoad, Tally } from "../Load.ts"
import { rowOf } from "../Report.ts"

export const transports = ["tcp", "ws", "http"] as const

const framing: Record<(typeof transports)[number], FaultProxy.Framing> = { tcp: "ndjson", ws: "websocket", http: "http" }

/** A fault: applied to every proxy at the start of a phase; returns how to stop it. */
interface Fault {
  readonly name: string
  readonly apply: (proxy: FaultProxy.FaultProxy, rand: () => number) => () => void
}

/** Calls `action` at random intervals in [min, max) ms until stopped. */
export const every = (min: number, max: number, rand: () => number, action: () => void): () => void => {
  let timer: NodeJS.Timeout | undefined
  let stopped = false
  const loop = () => {
    timer = setTimeout(() => {
      if (stopped) return
      action()
      loop()
    }, min + rand() * (max - min))
  }
  loop()
  return () => {
    stopped = true
    if (timer !== undefined) clearTimeout(timer)
  }
}

const shaped = (name: string, shaping: FaultProxy.Shaping): Fault => ({
  name,
  apply: (proxy) => {
    proxy.shape(shaping)
    return () => proxy.shape({})
  }
})

export const faults: ReadonlyArray<Fault> = [
  shaped("latency 40 ms each way", { latencyMs: 40 }),
  shaped("jitter 0–60 ms", { latencyMs: 2, jitterMs: 60 }),
  shaped("bandwidth cap 32 kB/s per direction", { bandwidthBytesPerSecond: 32_000 }),
  shaped("split writes (1–16 bytes)", { splitWrites: 16 }),
  {
    name: "stalls (half the connections, 0.3–1.5 s)",
    apply: (proxy, rand) => every(800, 1_600, rand, () => proxy.stall(300 + rand() * 1_200, 0.5))
  },
  shaped("duplicated frames (5 %)", { duplicate: 0.05 }),
  {
    name: "clean close (30 % of connections, every 0.5–1 s)",
    apply: (proxy, rand) => every(500, 1_000, rand, () => proxy.closeClean(0.3))
  },
  {
    name: "hard reset (30 % of connections, every 0.5–1 s)",
    apply: (proxy, rand) => every(500, 1_000, rand, () => proxy.reset(0.3))
  }
]

/** All faults at once, redrawn every second. */
const mixed: Fault = {
  name: "mixed faults",
  apply: (proxy, rand) => {
    const redraw = () =>
      proxy.shape({
        latencyMs: rand() < 0.5 ? rand() * 10 : 0,
        jitterMs: rand() < 0.5 ? rand() * 10 : 0,
        ...(rand() < 0.15 ? { bandwidthBytesPerSecond: 64_000 + rand() * 256_000 } : {}),
        ...(rand() < 0.1 ? { splitWrites: 1 + Math.floor(rand() * 256) } : {}),
        ...(rand() < 0.3 ? { duplicate: rand() * 0.03 } : {})
      })
    redraw()
    const stops = [
      every(1_000, 1_001, rand, redraw),
      every(1_000, 3_000, rand, () => proxy.stall(200 + rand() * 800, 0.3)),
      every(1_000, 3_000, rand, () => proxy.closeClean(0.2)),
      every(1_000, 3_000, rand, () => proxy.reset(0.2))
    ]
    return () => {
      for (const stop of stops) stop()
      proxy.shape({})
    }
  }
}

/** One phase: fresh clients through fresh proxies, one fault, load on every transport at once. */
const phase = async (ctx: Context, fault: Fault, seed: number, load: { readonly ms: number; readonly calls: number; readonly workers: number }) => {
  const proxies = new Map<Kind, FaultProxy.FaultProxy>()
  const ports: Record<(typeof transports)[number], number> = { tcp: ctx.main.tcp!, ws: ctx.main.ws!, http: ctx.main.http! }
  for (const kind of transports) {
    proxies.set(kind, await FaultProxy.start({ target: { port: ports[kind] }, framing: framing[kind], seed: seed + kind.length }))
  }
  const clients = new Map<Kind, Array<ChaosClient>>()
  for (const kind of transports) {
    clients.set(kind, await connectAll(specs(kind, proxies.get(kind)!.port, ctx.budget.clientsPerTransport, `p${seed}`)))
  }
  const measure = window(ctx)
  const stops = transports.map((kind, i) => fault.apply(proxies.get(kind)!, FaultProxy.random(seed * 31 + i)))
  const start = now()
  const tallies = new Map<Kind, Tally>()
  await Promise.all(transports.map((kind) => {
    const tally = new Tally(`${fault.name.split(" ")[0]}-${seed}-${kind}`)
    tallies.set(kind, tally)
    return runLoad({ clients: clients.get(kind)!, workersPerClient: load.workers, until: start + load.ms, maxCalls: load.calls, tally })
  }))
  const end = now()
  for (const stop of stops) stop()
  const figures = measure()
  for (const kind of transports) {
    const tally = tallies.get(kind)!
    const stats = proxies.get(kind)!.stats()
    ctx.rows.push(rowOf(fault.name, kind, tally, checkLedgers(tally, [ctx.mainLedger]), {
      ...figures,
      recoveryMs: tally.longestOutage(start, end),
      recoveryNote: "longest time a client went without an answer",
      notes: [
        `proxy: ${stats.accepted} connections, ${stats.duplicated} duplicated frames, ${stats.stalls} stalls, ${stats.cleanCloses} clean closes, ${stats.resets} resets`
      ]
    }))
    ctx.log(`  ${fault.name} / ${kind}: ${tally.sent} sent, ${tally.answered} answered, ${tally.failed} failed, ${tally.lost} lost`)
  }
  await Promise.all(transports.map((kind) => closeAll(clients.get(kind)!)))
  await Promise.all([...proxies.values()].map((p) => p.close()))
}

/** Steady load through each fault in turn. */
export const steady = async (ctx: Context) => {
  let seed = 1
  for (const fault of faults) {
    await phase(ctx, fault, seed++, { ms: ctx.budget.phaseMs, calls: Infinity, workers: ctx.budget.workers })
  }
}

/** All faults mixed, until the call count per transport (or the time bound). */
export const mixedFaults = async (ctx: Context) => {
  await phase(ctx, mixed, 100, { ms: ctx.budget.mixedMs, calls: ctx.budget.mixedCalls, workers: ctx.budget.mixedWorkers })
}
