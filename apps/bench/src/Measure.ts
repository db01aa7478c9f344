/**
 * Small measurement helpers shared by the benchmarks: interleaved rounds, medians, percentiles, machine facts.
 */
import * as fs from "node:fs"
import * as os from "node:os"

/** A named variant to measure: `run` does one round of work and returns how many units it processed. */
export interface Variant {
  readonly name: string
  readonly run: () => number
}

/** Result of one variant over all rounds: units per second, median and spread. */
export interface Measured {
  readonly name: string
  readonly medianPerSecond: number
  readonly minPerSecond: number
  readonly maxPerSecond: number
  readonly rounds: number
}

/** The median of a list of numbers. */
export const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** The p-th percentile (0..100) of a list of numbers, nearest rank. */
export const percentile = (values: ReadonlyArray<number>, p: number): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[rank]!
}

/**
 * Runs the variants in interleaved rounds (A B C A B C …) after a warm-up, so that drift in machine load
 * affects every variant alike. Synchronous work only.
 */
export const interleave = (variants: ReadonlyArray<Variant>, options: { rounds: number; warmup: number }): Array<Measured> => {
  for (let i = 0; i < options.warmup; i++) for (const v of variants) v.run()
  const rates = variants.map(() => [] as Array<number>)
  for (let round = 0; round < options.rounds; round++) {
    variants.forEach((v, i) => {
      const start = process.hrtime.bigint()
      const units = v.run()
      const seconds = Number(process.hrtime.bigint() - start) / 1e9
      rates[i]!.push(units / seconds)
    })
  }
  return variants.map((v, i) => ({
    name: v.name,
    medianPerSecond: median(rates[i]!),
    minPerSecond: Math.min(...rates[i]!),
    maxPerSecond: Math.max(...rates[i]!),
    rounds: options.rounds
  }))
}

/** One line describing the machine and runtime, for reports. */
export const machine = (): string =>
  `Node ${process.version}, ${os.cpus()[0]?.model ?? "unknown CPU"} × ${os.cpus().length}, ${
    Math.round(os.totalmem() / 2 ** 30)
  } GiB, ${os.platform()} ${os.arch()}`

/** Formats a number with thousands separators and a fixed number of decimals. */
export const fmt = (n: number, decimals = 0): string =>
  n.toLocaleString("en-US", { minimumFractionDigits: decimals, maximumFractionDigits: decimals })

/**
 * CPU time (user + system) a process has used so far, in milliseconds, from /proc (NaN elsewhere). The CPU a
 * server spends per request is less sensitive to other load on the machine than its throughput.
 */
export const cpuMillis = (pid: number): number => {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    // fields[11] and [12] are utime and stime (the 14th and 15th of the whole line), in clock ticks
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND
  } catch {
    return Number.NaN
  }
}

/** Linux's USER_HZ: 100 on every mainstream configuration. */
const TICKS_PER_SECOND = 100

/** What one side-by-side server run measures. */
export interface CallRun {
  readonly sequentialRps: number
  readonly sequentialP50: number
  readonly sequentialP99: number
  readonly concurrentRps: number
  readonly concurrentP50: number
  readonly concurrentP99: number
  /** Server CPU (user + system) per request over both phases, in microseconds. */
  readonly cpuMicrosPerRequest: number
}

/**
 * The shared workload of the server benchmarks: `calls` sequential calls, then `calls` with 32 in flight;
 * latencies, throughput and the server process's CPU per request.
 */
export const measureCalls = async (call: (i: number) => Promise<unknown>, calls: number, serverPid: number): Promise<CallRun> => {
  const cpuStart = cpuMillis(serverPid)
  const seq: Array<number> = []
  let start = performance.now()
  for (let i = 0; i < calls; i++) {
    const t = performance.now()
    await call(i)
    seq.push(performance.now() - t)
  }
  const seqSeconds = (performance.now() - start) / 1000
  const conc: Array<number> = []
  let next = 0
  start = performance.now()
  await Promise.all(Array.from({ length: 32 }, async () => {
    while (next < calls) {
      const i = next++
      const t = performance.now()
      await call(i)
      conc.push(performance.now() - t)
    }
  }))
  const concSeconds = (performance.now() - start) / 1000
  return {
    sequentialRps: calls / seqSeconds,
    sequentialP50: percentile(seq, 50),
    sequentialP99: percentile(seq, 99),
    concurrentRps: calls / concSeconds,
    concurrentP50: percentile(conc, 50),
    concurrentP99: percentile(conc, 99),
    cpuMicrosPerRequest: ((cpuMillis(serverPid) - cpuStart) * 1000) / (2 * calls)
  }
}
