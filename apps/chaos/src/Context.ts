/**
 * What a scenario gets: the mode's budgets, the main chaos server, where ledgers go, the memory monitor, and
 * where its figures and goals go.
 */
import * as path from "node:path"
import type { ClientSpec, Kind } from "./Clients.ts"
import { MemoryMonitor, now, readLedgers, type ServerProcess } from "./Harness.ts"
import { checkLedger, type LedgerCheck, type Tally } from "./Load.ts"
import type { Goal, Row } from "./Report.ts"

export interface Budget {
  /** Load time of each steady-fault phase, ms. */
  readonly phaseMs: number
  /** Mixed faults: calls per transport, and the time bound. */
  readonly mixedCalls: number
  readonly mixedMs: number
  /** kill -9 cycles, and load time between them. */
  readonly killCycles: number
  readonly killLoadMs: number
  /** Network flaps: cycles, down time, up time. */
  readonly flaps: number
  readonly flapDownMs: number
  readonly flapUpMs: number
  /** Slowloris: slow sockets per transport, and how long. */
  readonly slowSockets: number
  readonly slowMs: number
  /** Floods: oversize frames per transport, malformed frames per transport, time bound. */
  readonly oversizeFrames: number
  readonly malformedFrames: number
  readonly floodMs: number
  /** Connections of the connection flood (per transport), and the transports flooded. */
  readonly floodConnections: number
  readonly floodTransports: ReadonlyArray<"tcp" | "ws" | "http">
  /** stdio: load time around each process fault, kill -9 cycles, SIGSTOP cycles and their length. */
  readonly stdioLoadMs: number
  readonly stdioKills: number
  readonly stopCycles: number
  readonly stopMs: number
  /** Fuzz: frames through the codec, and frames over a real TCP socket to the server. */
  readonly fuzzFrames: number
  readonly fuzzSocketFrames: number
  /** Workers per client, clients per transport (the mixed-fault load has its own, heavier). */
  readonly workers: number
  readonly mixedWorkers: number
  readonly clientsPerTransport: number
  /** How long to wait for every client to come back after an outage before calling it not recovered. */
  readonly recoveryWaitMs: number
}

export const budgets: Record<"short" | "full", Budget> = {
  short: {
    phaseMs: 2_000,
    mixedCalls: 20_000,
    mixedMs: 10_000,
    killCycles: 1,
    killLoadMs: 1_500,
    flaps: 2,
    flapDownMs: 800,
    flapUpMs: 1_500,
    slowSockets: 300,
    slowMs: 6_000,
    oversizeFrames: 10,
    malformedFrames: 20_000,
    floodMs: 5_000,
    floodConnections: 5_000,
    floodTransports: ["tcp"],
    stdioLoadMs: 1_000,
    stdioKills: 1,
    stopCycles: 1,
    stopMs: 3_000,
    fuzzFrames: 50_000,
    fuzzSocketFrames: 5_000,
    workers: 8,
    mixedWorkers: 8,
    clientsPerTransport: 4,
    recoveryWaitMs: 4_000
  },
  full: {
    phaseMs: 15_000,
    mixedCalls: 100_000,
    mixedMs: 600_000,
    killCycles: 5,
    killLoadMs: 3_000,
    flaps: 10,
    flapDownMs: 1_500,
    flapUpMs: 3_000,
    slowSockets: 1_100,
    slowMs: 15_000,
    oversizeFrames: 40,
    malformedFrames: 100_000,
    floodMs: 20_000,
    floodConnections: 10_000,
    floodTransports: ["tcp", "ws", "http"],
    stdioLoadMs: 3_000,
    stdioKills: 3,
    stopCycles: 3,
    stopMs: 4_000,
    fuzzFrames: 1_000_000,
    fuzzSocketFrames: 100_000,
    workers: 8,
    mixedWorkers: 16,
    clientsPerTransport: 4,
    recoveryWaitMs: 35_000
  }
}

export interface Context {
  readonly mode: "short" | "full"
  readonly budget: Budget
  readonly dir: string
  /** The main chaos server (TCP, WebSocket and HTTP) and its ledger. */
  main: ServerProcess
  readonly mainLedger: string
  readonly monitor: MemoryMonitor
  readonly rows: Array<Row>
  readonly goals: Array<Goal>
  /** Things worth a reader's attention that are not figures. */
  readonly observations: Array<string>
  readonly log: (line: string) => void
  /** Servers that died when nobody killed them. */
  crashes: number
}

export const ledgerPath = (ctx: Context, name: string) => path.join(ctx.dir, `${name}.ledger`)

export const checkLedgers = (tally: Tally, paths: ReadonlyArray<string>): LedgerCheck => checkLedger(tally, readLedgers(paths))

/** Client specs for one transport: half stateless, half stateful. */
export const specs = (kind: Kind, port: number, count: number, prefix: string, extra: Partial<ClientSpec> = {}): Array<ClientSpec> =>
  Array.from({ length: count }, (_, i) => ({
    name: `${prefix}-${kind}-${i % 2 === 0 ? "2026" : "2025"}-${i}`,
    kind,
    era: i % 2 === 0 ? "stateless" : "stateful",
    port,
    ...extra
  }))

/** Measures a window: elapsed seconds and peaks. */
export const window = (ctx: Context) => {
  ctx.monitor.reset()
  const start = now()
  return () => ({
    seconds: (now() - start) / 1000,
    serverPeakRssMiB: ctx.monitor.serverPeak,
    harnessPeakRssMiB: ctx.monitor.harnessPeak
  })
}
