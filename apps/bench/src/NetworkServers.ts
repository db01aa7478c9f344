/**
 * Side-by-side network server benchmark: our sample server over Streamable HTTP (JSON and SSE answers), TCP
 * and WebSocket; the official SDK 1.32 Streamable HTTP server (JSON and SSE); and a raw Node HTTP echo (the
 * HTTP baseline). One minimal raw client per transport (keep-alive HTTP agent, NDJSON socket, ws), runs
 * interleaved, everything on 127.0.0.1.
 *
 * Work per run: initialize (+ initialized), warm-up calls, then N sequential `tools/call echo` and N with 32
 * in flight. Reported: requests/s, p50/p99 latency, server RSS, and ratios.
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as http from "node:http"
import * as net from "node:net"
import { fileURLToPath } from "node:url"
import WebSocket from "ws"
import { fmt, machine, measureCalls, median } from "./Measure.ts"

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url))
const sample = here("../../sample/src/main.ts")

type Kind = "http-json" | "http-sse" | "tcp" | "ws"

interface Target {
  readonly name: string
  readonly kind: Kind
  readonly args: ReadonlyArray<string>
  /** Finds the listening port in the server's output. */
  readonly port: RegExp
}

/** The servers compared. */
export const targets: ReadonlyArray<Target> = [
  { name: "effect-mcp, Streamable HTTP, JSON answers", kind: "http-json", args: ["--import", "tsx", sample, "--transport", "http", "--port", "0", "--http-response", "json"], port: /127\.0\.0\.1:(\d+)/ },
  { name: "official SDK 1.32, Streamable HTTP, JSON answers", kind: "http-json", args: [here("../fixtures/sdk-http-server.mjs"), "0", "json"], port: /listening (\d+)/ },
  { name: "effect-mcp, Streamable HTTP, SSE answers", kind: "http-sse", args: ["--import", "tsx", sample, "--transport", "http", "--port", "0", "--http-response", "sse"], port: /127\.0\.0\.1:(\d+)/ },
  { name: "official SDK 1.32, Streamable HTTP, SSE answers", kind: "http-sse", args: [here("../fixtures/sdk-http-server.mjs"), "0", "sse"], port: /listening (\d+)/ },
  { name: "raw Node HTTP echo (no MCP)", kind: "http-json", args: [here("../fixtures/raw-http-echo.mjs"), "0"], port: /listening (\d+)/ },
  { name: "effect-mcp, TCP (NDJSON)", kind: "tcp", args: ["--import", "tsx", sample, "--transport", "tcp", "--port", "0"], port: /127\.0\.0\.1:(\d+)/ },
  { name: "effect-mcp, WebSocket", kind: "ws", args: ["--import", "tsx", sample, "--transport", "ws", "--port", "0"], port: /127\.0\.0\.1:(\d+)/ }
]

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

interface RawClient {
  readonly request: (method: string, params: unknown) => Promise<unknown>
  readonly notify: (method: string) => Promise<void>
  readonly close: () => void
}

const withTimeout = <A>(promise: Promise<A>, label: string) =>
  new Promise<A>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${label} timed out`)), 30_000)
    promise.then((a) => {
      clearTimeout(timer)
      resolve(a)
    }, (e) => {
      clearTimeout(timer)
      reject(e)
    })
  })

/** A minimal Streamable HTTP client: keep-alive agent, session header, JSON or SSE answers, no validation. */
const httpClient = (port: number): RawClient => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 })
  let session: string | undefined
  let nextId = 0
  const post = (body: string) =>
    new Promise<{ status: number; text: string; type: string }>((resolve, reject) => {
      const request = http.request({
        host: "127.0.0.1",
        port,
        path: "/mcp",
        method: "POST",
        agent,
        headers: {
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
          ...(session === undefined ? {} : { "mcp-session-id": session, "mcp-protocol-version": "2025-11-25" })
        }
      }, (res) => {
        const id = res.headers["mcp-session-id"]
        if (typeof id === "string") session = id
        let text = ""
        res.setEncoding("utf8").on("data", (d: string) => (text += d)).on("end", () =>
          resolve({ status: res.statusCode ?? 0, text, type: String(res.headers["content-type"] ?? "") }))
      })
      request.on("error", reject)
      request.end(body)
    })
  const answer = (text: string, type: string): unknown => {
    if (type.includes("text/event-stream")) {
      for (const line of text.split("\n")) {
        if (line.startsWith("data:") && line.length > 6) {
          const m = JSON.parse(line.slice(5)) as { id?: unknown; result?: unknown; error?: unknown }
          if (m.id !== undefined) return m.error ?? m.result
        }
      }
      throw new Error(`no answer in SSE: ${text.slice(0, 200)}`)
    }
    const m = JSON.parse(text) as { result?: unknown; error?: unknown }
    return m.error ?? m.result
  }
  return {
    request: async (method, params) => {
      const { text, type } = await withTimeout(post(JSON.stringify({ jsonrpc: "2.0", id: nextId++, method, params })), method)
      return answer(text, type)
    },
    notify: async (method) => {
      await post(JSON.stringify({ jsonrpc: "2.0", method }))
    },
    close: () => agent.destroy()
  }
}

/** A minimal JSON-RPC client over frames: NDJSON on a TCP socket, or one message per WebSocket text frame. */
const framedClient = (write: (frame: string) => void, pending: Map<number, (v: unknown) => void>) => {
  let nextId = 0
  return {
    onFrame: (line: string) => {
      const m = JSON.parse(line) as { id?: number; result?: unknown; error?: unknown }
      if (m.id === undefined) return
      const resolve = pending.get(m.id)
      if (resolve !== undefined) {
        pending.delete(m.id)
        resolve(m.error ?? m.result)
      }
    },
    request: (method: string, params: unknown) =>
      withTimeout(new Promise<unknown>((resolve) => {
        const id = nextId++
        pending.set(id, resolve)
        write(JSON.stringify({ jsonrpc: "2.0", id, method, params }))
      }), method),
    notify: async (method: string) => write(JSON.stringify({ jsonrpc: "2.0", method }))
  }
}

const tcpClient = (port: number): Promise<RawClient> =>
  new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1")
    socket.setNoDelay(true)
    const client = framedClient((frame) => socket.write(frame + "\n"), new Map())
    let buffer = ""
    socket.setEncoding("utf8").on("data", (chunk: string) => {
      buffer += chunk
      let newline: number
      while ((newline = buffer.indexOf("\n")) !== -1) {
        const line = buffer.slice(0, newline)
        buffer = buffer.slice(newline + 1)
        if (line.length > 0) client.onFrame(line)
      }
    })
    socket.once("error", reject)
    socket.once("connect", () => resolve({ request: client.request, notify: client.notify, close: () => socket.destroy() }))
  })

const wsClient = (port: number): Promise<RawClient> =>
  new Promise((resolve, reject) => {
    const socket = new WebSocket(`ws://127.0.0.1:${port}/mcp`)
    const client = framedClient((frame) => socket.send(frame), new Map())
    socket.on("message", (data) => client.onFrame(data.toString()))
    socket.once("error", reject)
    socket.once("open", () => resolve({ request: client.request, notify: client.notify, close: () => socket.terminate() }))
  })

const startServer = (target: Target) =>
  new Promise<{ port: number; pid: number; stop: () => Promise<void> }>((resolve, reject) => {
    const child = spawn(process.execPath, [...target.args], { stdio: ["ignore", "pipe", "pipe"] })
    let output = ""
    const timer = setTimeout(() => {
      child.kill("SIGKILL")
      reject(new Error(`${target.name} did not start: ${output}`))
    }, 30_000)
    const onData = (d: Buffer) => {
      output += d.toString()
      const match = target.port.exec(output)
      if (match !== null) {
        clearTimeout(timer)
        child.stdout.off("data", onData)
        child.stderr.off("data", onData)
        child.stdout.resume()
        child.stderr.resume()
        resolve({
          port: Number(match[1]),
          pid: child.pid!,
          stop: () =>
            new Promise<void>((done) => {
              const kill = setTimeout(() => child.kill("SIGKILL"), 5_000)
              child.once("exit", () => {
                clearTimeout(kill)
                done()
              })
              child.kill("SIGTERM")
            })
        })
      }
    }
    child.stdout.on("data", onData)
    child.stderr.on("data", onData)
  })

const rssOf = (pid: number): number => {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, "utf8")
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? "0") / 1024
  } catch {
    return Number.NaN
  }
}

const runOnce = async (target: Target, calls: number, warmup: number): Promise<RunResult> => {
  const server = await startServer(target)
  const client = target.kind === "tcp"
    ? await tcpClient(server.port)
    : target.kind === "ws"
    ? await wsClient(server.port)
    : httpClient(server.port)
  try {
    const init = await client.request("initialize", {
      protocolVersion: "2025-11-25",
      capabilities: {},
      clientInfo: { name: "bench", version: "1" }
    }) as { protocolVersion?: string }
    if (init.protocolVersion === undefined) throw new Error(`initialize failed: ${JSON.stringify(init)}`)
    await client.notify("notifications/initialized")
    const call = (i: number) => client.request("tools/call", { name: "echo", arguments: { message: `hello ${i}` } })
    for (let i = 0; i < warmup; i++) {
      const r = await call(i) as { content?: Array<{ text: string }> }
      if (r.content?.[0]?.text !== `hello ${i}`) throw new Error(`${target.name}: bad echo: ${JSON.stringify(r)}`)
    }
    const measured = await measureCalls(call, calls, server.pid)
    return { ...measured, rssMiB: rssOf(server.pid) }
  } finally {
    client.close()
    await server.stop()
  }
}

/** Runs `rounds` interleaved rounds over every target; medians per target. */
export const runNetworkServers = async (options: { readonly calls: number; readonly warmup: number; readonly rounds: number }) => {
  const results = targets.map(() => [] as Array<RunResult>)
  for (let round = 0; round < options.rounds; round++) {
    for (let t = 0; t < targets.length; t++) results[t]!.push(await runOnce(targets[t]!, options.calls, options.warmup))
  }
  const med = (t: number, key: keyof RunResult) => median(results[t]!.map((r) => r[key]))
  const rows = targets.map((target, t) =>
    `| ${target.name} | ${fmt(med(t, "sequentialRps"))} | ${fmt(med(t, "sequentialP50"), 3)} | ${fmt(med(t, "sequentialP99"), 3)} | ${
      fmt(med(t, "concurrentRps"))
    } | ${fmt(med(t, "concurrentP50"), 3)} | ${fmt(med(t, "concurrentP99"), 3)} | ${fmt(med(t, "rssMiB"), 0)} | ${fmt(med(t, "cpuMicrosPerRequest"), 0)} |`
  )
  const ratio = (a: number, b: number) => (a / b).toFixed(2)
  const [oursJson, sdkJson, oursSse, sdkSse, raw] = [0, 1, 2, 3, 4]
  const markdown = [
    "## Network servers side by side: effect-mcp (Streamable HTTP, TCP, WebSocket) vs the official SDK's Streamable HTTP vs raw Node HTTP",
    "",
    `One minimal raw client per transport (keep-alive HTTP agent with a session, NDJSON socket, ws), no validation: initialize, ${
      fmt(options.warmup)
    } warm-up calls, then ${fmt(options.calls)} sequential \`tools/call echo\` and ${fmt(options.calls)} with 32 in flight. ${options.rounds} interleaved rounds, median. Server RSS from /proc after the run. ${machine()}.`,
    "",
    "| server | sequential req/s | p50 ms | p99 ms | 32 in flight req/s | p50 ms | p99 ms | RSS MiB | server CPU µs/req |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...rows,
    "",
    "| ratio | value | goal |",
    "| --- | ---: | --- |",
    `| ours / SDK, HTTP JSON, 32 in flight | ${ratio(med(oursJson, "concurrentRps"), med(sdkJson, "concurrentRps"))}× | ≥ 2× |`,
    `| ours / SDK, HTTP SSE, 32 in flight | ${ratio(med(oursSse, "concurrentRps"), med(sdkSse, "concurrentRps"))}× | ≥ 2× |`,
    `| SDK p50 / ours p50, HTTP JSON, sequential | ${ratio(med(sdkJson, "sequentialP50"), med(oursJson, "sequentialP50"))}× | ≥ 1× |`,
    `| ours / raw HTTP echo, JSON, 32 in flight | ${ratio(med(oursJson, "concurrentRps"), med(raw, "concurrentRps"))}× | — |`,
    `| SDK CPU / ours CPU per request, HTTP JSON (server process) | ${ratio(med(sdkJson, "cpuMicrosPerRequest"), med(oursJson, "cpuMicrosPerRequest"))}× | — |`,
    `| SDK CPU / ours CPU per request, HTTP SSE (server process) | ${ratio(med(sdkSse, "cpuMicrosPerRequest"), med(oursSse, "cpuMicrosPerRequest"))}× | — |`,
    ""
  ].join("\n")
  return { markdown, results }
}
