/**
 * What every scenario shares: running SDK effects from the harness (with the codec and a logger that counts
 * the SDK's diagnostics instead of printing them), server processes (spawn, kill -9, restart on the same
 * ports), memory sampling, free ports.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import { fileURLToPath } from "node:url"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as References from "effect/References"
import { JsonRpcCodec } from "@effect-mcp/jsonrpc"

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

export const now = () => performance.now()

/** Warnings and errors the SDK logged in the harness process (the client side), by FMEA mode. */
export const clientDiagnostics = new Map<string, number>()

const countingLogger = Logger.make((options) => {
  if (options.logLevel !== "Warn" && options.logLevel !== "Error" && options.logLevel !== "Fatal") return
  const annotations = options.fiber.getRef(References.CurrentLogAnnotations)
  const mode = typeof annotations.mode === "string" ? annotations.mode : undefined
  const error = typeof annotations.error === "string" ? annotations.error : undefined
  const message = Array.isArray(options.message) ? String(options.message[0]) : String(options.message)
  const key = mode !== undefined ? `${mode}${error === undefined ? "" : ` ${error}`}` : message.slice(0, 60)
  clientDiagnostics.set(key, (clientDiagnostics.get(key) ?? 0) + 1)
})

export const loggers: ReadonlySet<Logger.Logger<unknown, any>> = new Set([countingLogger])

/** Gives an SDK effect the codec and the counting logger. */
export const provide = <A, E>(effect: Effect.Effect<A, E, JsonRpcCodec.JsonRpcCodec>): Effect.Effect<A, E> =>
  effect.pipe(
    Effect.provideService(JsonRpcCodec.JsonRpcCodec, codec),
    Effect.provideService(References.CurrentLoggers, loggers)
  )

export const codec = JsonRpcCodec.make()

/** Runs an SDK effect to a promise. */
export const run = <A, E>(effect: Effect.Effect<A, E, JsonRpcCodec.JsonRpcCodec>): Promise<A> => Effect.runPromise(provide(effect))

/** A free TCP port on 127.0.0.1 (to restart a server on the same port). */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as net.AddressInfo).port
      server.close(() => resolve(port))
    })
  })

/** Resident memory of a process now (VmRSS) and its peak since it started (VmHWM), in MiB; NaN when gone. */
export const memoryOf = (pid: number): { readonly rss: number; readonly peak: number } => {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, "utf8")
    return {
      rss: Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? "NaN") / 1024,
      peak: Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? "NaN") / 1024
    }
  } catch {
    return { rss: Number.NaN, peak: Number.NaN }
  }
}

/** Open file descriptors of a process (NaN when gone). */
export const fdsOf = (pid: number): number => {
  try {
    return fs.readdirSync(`/proc/${pid}/fd`).length
  } catch {
    return Number.NaN
  }
}

export const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Samples the resident memory of the harness and of the processes it watches, keeping the peaks. */
export class MemoryMonitor {
  private timer: NodeJS.Timeout | undefined
  private readonly pids = new Set<number>()
  harnessPeak = 0
  serverPeak = 0
  constructor(private readonly intervalMs = 200) {}
  watch(pid: number) {
    this.pids.add(pid)
  }
  unwatch(pid: number) {
    this.pids.delete(pid)
  }
  sample() {
    this.harnessPeak = Math.max(this.harnessPeak, process.memoryUsage.rss() / 2 ** 20)
    for (const pid of this.pids) {
      const { rss } = memoryOf(pid)
      if (!Number.isNaN(rss)) this.serverPeak = Math.max(this.serverPeak, rss)
    }
  }
  /** Starts a new window: peaks from now on. */
  reset() {
    this.harnessPeak = 0
    this.serverPeak = 0
    this.sample()
  }
  start() {
    this.timer = setInterval(() => this.sample(), this.intervalMs)
    this.timer.unref()
  }
  stop() {
    if (this.timer !== undefined) clearInterval(this.timer)
  }
}

const serverEntry = fileURLToPath(new URL("./server.ts", import.meta.url))

/** A chaos server in a process of its own. */
export interface ServerProcess {
  readonly pid: number
  readonly tcp: number | undefined
  readonly ws: number | undefined
  readonly http: number | undefined
  /** When it printed that it listens (performance.now()). */
  readonly listeningAt: number
  readonly child: ChildProcess
  /** Resolves when the process has exited. */
  readonly exited: Promise<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }>
  /** The last lines of its stderr. */
  readonly stderr: () => string
  /** SIGTERM, then SIGKILL after 3 s; resolves once it exited. */
  readonly stop: () => Promise<void>
}

export interface ServerOptions {
  readonly tcp?: number
  readonly ws?: number
  readonly http?: number
  readonly ledger: string
  readonly idempotencyCapacity?: number
  /** Time to wait for it to listen (default 60 s: tsx compiles the SDK first, and the machine may be busy). */
  readonly startTimeoutMs?: number
}

/** The command line of a chaos server process. */
export const serverArgs = (options: Omit<ServerOptions, "startTimeoutMs"> & { readonly stdio?: boolean; readonly neverRead?: boolean }) => [
  "--expose-gc",
  "--import",
  "tsx",
  serverEntry,
  ...(options.tcp === undefined ? [] : ["--tcp", String(options.tcp)]),
  ...(options.ws === undefined ? [] : ["--ws", String(options.ws)]),
  ...(options.http === undefined ? [] : ["--http", String(options.http)]),
  ...(options.stdio === true ? ["--stdio"] : []),
  ...(options.neverRead === true ? ["--never-read"] : []),
  "--ledger",
  options.ledger,
  ...(options.idempotencyCapacity === undefined ? [] : ["--idempotency-capacity", String(options.idempotencyCapacity)])
]

/** Every server process started, so that none outlives the harness. */
export const children = new Set<ChildProcess>()
process.on("exit", () => {
  for (const child of children) child.kill("SIGKILL")
})

/** Starts a chaos server process and waits until it listens. */
export const startServer = (options: ServerOptions): Promise<ServerProcess> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, serverArgs(options), { stdio: ["ignore", "ignore", "pipe"] })
    children.add(child)
    let tail = ""
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
      child.once("exit", (code, signal) => {
        children.delete(child)
        done({ code, signal })
      })
    )
    const timer = setTimeout(() => {
      child.kill("SIGKILL")
      reject(new Error(`the chaos server did not start within ${options.startTimeoutMs ?? 60_000} ms: ${tail}`))
    }, options.startTimeoutMs ?? 60_000)
    let started = false
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
      tail = (tail + chunk).slice(-4_000)
      if (started) return
      const match = /chaos-server listening pid=(\d+)(.*)\n/.exec(tail)
      if (match === null) return
      started = true
      clearTimeout(timer)
      const port = (name: string) => {
        const m = new RegExp(`${name}=(\\d+)`).exec(match[2]!)
        return m === null ? undefined : Number(m[1])
      }
      resolve({
        pid: child.pid!,
        tcp: port("tcp"),
        ws: port("ws"),
        http: port("http"),
        listeningAt: now(),
        child,
        exited,
        stderr: () => tail,
        stop: async () => {
          if (child.exitCode !== null || child.signalCode !== null) return
          child.kill("SIGTERM")
          const killer = setTimeout(() => child.kill("SIGKILL"), 3_000)
          await exited
          clearTimeout(killer)
        }
      })
    })
    child.once("exit", (code, signal) => {
      if (!started) {
        clearTimeout(timer)
        reject(new Error(`the chaos server exited before listening (${code ?? signal}): ${tail}`))
      }
    })
  })

/** One key's charges in the ledgers: how many, and by which server processes. */
export interface Charges {
  count: number
  readonly pids: Set<string>
}

/** Reads ledgers (`key pid` per line): each key's charges. */
export const readLedgers = (paths: ReadonlyArray<string>): Map<string, Charges> => {
  const charges = new Map<string, Charges>()
  for (const path of paths) {
    if (!fs.existsSync(path)) continue
    for (const line of fs.readFileSync(path, "utf8").split("\n")) {
      if (line.length === 0) continue
      const space = line.lastIndexOf(" ")
      const key = space === -1 ? line : line.slice(0, space)
      const pid = space === -1 ? "?" : line.slice(space + 1)
      const entry = charges.get(key)
      if (entry === undefined) charges.set(key, { count: 1, pids: new Set([pid]) })
      else {
        entry.count++
        entry.pids.add(pid)
      }
    }
  }
  return charges
}
