/**
 * Side-by-side stdio server benchmark: our sample server, the official SDK 1.32 stdio server and a raw Node
 * NDJSON echo (the physical limit of the pipe), driven by one minimal raw JSON-RPC client, interleaved.
 *
 * Work per run: initialize, 500 warm-up calls, then 5,000 sequential `tools/call echo` and 5,000 with 32 in
 * flight. Reported: requests/s, p50/p99 latency, server RSS, and ratios.
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import { fileURLToPath } from "node:url"
import { fmt, machine, measureCalls, median } from "./Measure.ts"

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url))

/** The servers compared. */
export const servers = [
  // tsx as a loader in the server's own process (its CLI would add a wrapper process and measure that)
  { name: "effect-mcp (sample server)", command: process.execPath, args: ["--import", "tsx", here("../../sample/src/main.ts"), "--transport", "stdio"] },
  { name: "official SDK 1.32 (McpServer + StdioServerTransport)", command: process.execPath, args: [here("../fixtures/sdk-echo-server.mjs")] },
  { name: "raw Node NDJSON echo", command: process.execPath, args: [here("../fixtures/raw-echo.mjs")] }
] as const

interface RunResult {
  readonly sequentialRps: number
  readonly sequentialP50: number
  readonly sequentialP99: number
  readonly concurrentRps: number
  readonly concurrentP50: number
  readonly concurrentP99: number
  readonly rssMiB: number
  /** Server CPU (user + system) per request over both measured phases, in microseconds. */
  readonly cpuMicrosPerRequest: number
}

/** A minimal JSON-RPC client over a child's stdio: one pending map, NDJSON framing, no validation. */
const startClient = (command: string, args: ReadonlyArray<string>) => {
  const child = spawn(command, [...args], { stdio: ["pipe", "pipe", "ignore"] })
  const pending = new Map<number, (value: unknown) => void>()
  let buffer = ""
  child.stdout.setEncoding("utf8")
  child.stdout.on("data", (chunk: string) => {
    buffer += chunk
    let newline: number
    while ((newline = buffer.indexOf("\n")) !== -1) {
      const line = buffer.slice(0, newline)
      buffer = buffer.slice(newline + 1)
      if (line.length === 0) continue
      const message = JSON.parse(line) as { id?: number; result?: unknown; error?: unknown }
      if (message.id === undefined) continue
      const resolve = pending.get(message.id)
      if (resolve) {
        pending.delete(message.id)
        resolve(message.error ?? message.result)
      }
    }
  })
  let nextId = 0
  const request = (method: string, params: unknown) =>
    new Promise<unknown>((resolve, reject) => {
      const id = nextId++
      const timer = setTimeout(() => reject(new Error(`${method} ${id} timed out`)), 30_000)
      pending.set(id, (value) => {
        clearTimeout(timer)
        resolve(value)
      })
      child.stdin.write(JSON.stringify({ jsonrpc: "2.0", id, method, params }) + "\n")
    })
  const notify = (method: string) => child.stdin.write(JSON.stringify({ jsonrpc: "2.0", method }) + "\n")
  const rss = (): number => {
    try {
      const status = fs.readFileSync(`/proc/${child.pid}/status`, "utf8")
      const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? "0")
      return kb / 1024
    } catch {
      return Number.NaN
    }
  }
  const close = () =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000)
      child.once("exit", () => {
        clearTimeout(timer)
        resolve()
      })
      child.stdin.end()
    })
  return { request, notify, rss, close, pid: child.pid! }
}

const call = (client: ReturnType<typeof startClient>, i: number) =>
  client.request("tools/call", { name: "echo", arguments: { message: `hello ${i}` } })

/** One run against one server. */
const runOnce = async (command: string, args: ReadonlyArray<string>, calls: number, warmup: number): Promise<RunResult> => {
  const client = startClient(command, args)
  try {
    const init = await client.request("initialize", {
      protocolVersion: "2025-11-25",
      capabilities: {},
      clientInfo: { name: "bench", version: "1" }
    }) as { protocolVersion?: string }
    if (init.protocolVersion === undefined) throw new Error(`initialize failed: ${JSON.stringify(init)}`)
    client.notify("notifications/initialized")
    for (let i = 0; i < warmup; i++) {
      const r = await call(client, i) as { content?: Array<{ text: string }> }
      if (r.content?.[0]?.text !== `hello ${i}`) throw new Error(`bad echo: ${JSON.stringify(r)}`)
    }
    const measured = await measureCalls((i) => call(client, i), calls, client.pid)
    return { ...measured, rssMiB: client.rss() }
  } finally {
    await client.close()
  }
}

/** Runs the benchmark: `rounds` interleaved rounds over the three servers; medians per server. */
export const runStdioServers = async (
  options: { readonly calls: number; readonly warmup: number; readonly rounds: number; readonly title?: string }
) => {
  const results = servers.map(() => [] as Array<RunResult>)
  for (let round = 0; round < options.rounds; round++) {
    for (let s = 0; s < servers.length; s++) {
      const server = servers[s]!
      results[s]!.push(await runOnce(server.command, server.args, options.calls, options.warmup))
    }
  }
  const med = (s: number, key: keyof RunResult) => median(results[s]!.map((r) => r[key]))
  const rows = servers.map((server, s) =>
    `| ${server.name} | ${fmt(med(s, "sequentialRps"))} | ${fmt(med(s, "sequentialP50"), 3)} | ${fmt(med(s, "sequentialP99"), 3)} | ${
      fmt(med(s, "concurrentRps"))
    } | ${fmt(med(s, "concurrentP50"), 3)} | ${fmt(med(s, "concurrentP99"), 3)} | ${fmt(med(s, "rssMiB"), 0)} | ${fmt(med(s, "cpuMicrosPerRequest"), 0)} |`
  )
  const ratio = (a: number, b: number) => (a / b).toFixed(2)
  const ours = 0
  const sdk = 1
  const raw = 2
  const markdown = [
    `## stdio servers side by side: effect-mcp vs the official SDK vs raw Node${options.title === undefined ? "" : `, ${options.title}`}`,
    "",
    `One minimal raw JSON-RPC client (no validation) per run: initialize, ${fmt(options.warmup)} warm-up calls, then ${
      fmt(options.calls)
    } sequential \`tools/call echo\` and ${fmt(options.calls)} with 32 in flight. ${options.rounds} interleaved rounds (ours, SDK, raw, ours, …), median. Server RSS read from /proc after the run. ${machine()}.`,
    "",
    "| server | sequential req/s | p50 ms | p99 ms | 32 in flight req/s | p50 ms | p99 ms | RSS MiB | server CPU µs/req |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...rows,
    "",
    "| ratio | value | goal |",
    "| --- | ---: | --- |",
    `| ours / SDK, 32 in flight | ${ratio(med(ours, "concurrentRps"), med(sdk, "concurrentRps"))}× | ≥ 2× |`,
    `| ours / SDK, sequential req/s | ${ratio(med(ours, "sequentialRps"), med(sdk, "sequentialRps"))}× | — |`,
    `| SDK p50 / ours p50, sequential | ${ratio(med(sdk, "sequentialP50"), med(ours, "sequentialP50"))}× | ≥ 1× (ours no worse) |`,
    `| ours / raw echo, 32 in flight | ${ratio(med(ours, "concurrentRps"), med(raw, "concurrentRps"))}× | ≥ 0.6× |`,
    `| ours / raw echo, sequential | ${ratio(med(ours, "sequentialRps"), med(raw, "sequentialRps"))}× | — |`,
    `| SDK CPU / ours CPU per request (server process) | ${ratio(med(sdk, "cpuMicrosPerRequest"), med(ours, "cpuMicrosPerRequest"))}× | — |`,
    ""
  ].join("\n")
  return { markdown, results }
}
