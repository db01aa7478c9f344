/**
 * Fuzzing the codec: random and mutated frames through the real `JsonRpcCodec` (NDJSON with random chunk
 * boundaries, and single frames as text and bytes), counting crashes (anything thrown, anything that is not
 * a message or a typed error) and watching memory; then a slice of them over a real TCP socket to the main
 * server, which must live and keep serving.
 */
import * as net from "node:net"
import * as Result from "effect/Result"
import { JsonRpcCodec } from "@effect-mcp/jsonrpc"
import { probe } from "../Clients.ts"
import { type Context, specs, window } from "../Context.ts"
import * as FaultProxy from "../FaultProxy.ts"
import { isAlive, memoryOf, now, sleep } from "../Harness.ts"
import { Tally } from "../Load.ts"
import { rowOf } from "../Report.ts"
import { writeAll } from "./Abuse.ts"

const templates: ReadonlyArray<unknown> = [
  { jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-11-25", capabilities: { roots: { listChanged: true } }, clientInfo: { name: "fuzz", version: "1" } } },
  { jsonrpc: "2.0", method: "notifications/initialized" },
  { jsonrpc: "2.0", id: "a-7", method: "tools/call", params: { name: "echo", arguments: { message: "héllo ✓ \u0000 \ud83d\ude00" }, _meta: { progressToken: 7 } } },
  { jsonrpc: "2.0", id: 3, method: "tools/list", params: { cursor: "eyJvZmZzZXQiOjEwMH0=" } },
  { jsonrpc: "2.0", id: 4, method: "ping" },
  { jsonrpc: "2.0", method: "notifications/progress", params: { progressToken: 7, progress: 0.5, total: 1, message: "half" } },
  { jsonrpc: "2.0", id: 5, result: { content: [{ type: "text", text: "ok" }], structuredContent: { n: 1.5e300 } } },
  { jsonrpc: "2.0", id: 6, error: { code: -32602, message: "Invalid params", data: { path: ["a", 0] } } },
  [{ jsonrpc: "2.0", id: 8, method: "ping" }, { jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: 8 } }],
  { jsonrpc: "2.0", id: 9, method: "resources/read", params: { uri: "fmea://modes/FM-01" } },
  { jsonrpc: "2.0", id: 10, method: "server/discover", params: { _meta: { "io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {} } } }
]

const encoder = new TextEncoder()
const base = templates.map((t) => encoder.encode(JSON.stringify(t)))

/** A frame: a template mutated, or random bytes, or a structural oddity. Never contains a newline unless `allowNewline`. */
export const frame = (rand: () => number, maxLarge: number): Uint8Array => {
  const pick = rand()
  if (pick < 0.05) {
    // random bytes
    const out = new Uint8Array(1 + Math.floor(rand() * 300))
    for (let i = 0; i < out.length; i++) out[i] = Math.floor(rand() * 256)
    return out
  }
  if (pick < 0.055) {
    // deep nesting
    const depth = 1 + Math.floor(rand() * 20_000)
    const open = rand() < 0.5 ? "[" : "{\"a\":"
    return encoder.encode(open.repeat(depth) + "1" + (open === "[" ? "]" : "}").repeat(rand() < 0.5 ? depth : Math.floor(depth / 2)))
  }
  if (pick < 0.056) {
    // larger than the limit
    return encoder.encode("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":{\"pad\":\"" + "x".repeat(maxLarge) + "\"}}")
  }
  if (pick < 0.07) {
    // odd numbers, ids and strings
    const odd = ["1e400", "-0", "0.0000001", "9007199254740993", "NaN", "Infinity", "\"\\ud800\"", "\"\\u0000\"", "null", "true", "[]", "{}"]
    const value = odd[Math.floor(rand() * odd.length)]!
    return encoder.encode(`{"jsonrpc":"2.0","id":${value},"method":${rand() < 0.5 ? value : "\"ping\""},"params":${value}}`)
  }
  const template = base[Math.floor(rand() * base.length)]!
  const out = Array.from(template)
  const mutations = 1 + Math.floor(rand() * 4)
  for (let m = 0; m < mutations; m++) {
    const kind = rand()
    const at = Math.floor(rand() * Math.max(1, out.length))
    if (kind < 0.25) out[at] = (out[at] ?? 0) ^ (1 << Math.floor(rand() * 8)) // bit flip
    else if (kind < 0.4) out.splice(at, 1 + Math.floor(rand() * 8)) // delete
    else if (kind < 0.55) out.splice(at, 0, Math.floor(rand() * 256)) // insert a byte
    else if (kind < 0.65) out.length = at // truncate
    else if (kind < 0.75) out.splice(at, 0, ...[0xc0, 0x80, 0xed, 0xa0, 0x80, 0xff, 0xfe].slice(0, 1 + Math.floor(rand() * 7))) // invalid UTF-8
    else if (kind < 0.85) out.splice(at, 0, ...out.slice(Math.floor(rand() * out.length), Math.floor(rand() * out.length))) // duplicate a span
    else if (kind < 0.9) out.splice(at, 0, 13) // CR
    else out.splice(at, 0, ...Array.from(encoder.encode(["\"", "\\", "{", "}", "[", "]", ",", ":", "\\u12", "\"jsonrpc\""][Math.floor(rand() * 10)]!)))
  }
  // frames are lines: no newline inside (a split line is two frames, which the NDJSON test covers anyway)
  return Uint8Array.from(out.filter((b) => b !== 10))
}

/** One decoded result is fine when it is a message or a typed error with an FMEA mode. */
const typed = (decoded: unknown): boolean => {
  if (!Result.isResult(decoded)) return false
  if (Result.isSuccess(decoded)) return typeof decoded.success === "object" && decoded.success !== null
  const error = decoded.failure as { readonly _tag?: unknown; readonly mode?: unknown }
  return typeof error._tag === "string" && typeof error.mode === "string"
}

const fuzzCodec = async (ctx: Context) => {
  const total = ctx.budget.fuzzFrames
  const maxFrameBytes = 64 * 1024
  const codec = JsonRpcCodec.make({ maxFrameBytes })
  const rand = FaultProxy.random(2026)
  const measure = window(ctx)
  const rssBefore = process.memoryUsage.rss() / 2 ** 20
  let rssPeak = rssBefore
  let crashes = 0
  let untyped = 0
  let messages = 0
  const errors = new Map<string, number>()
  const count = (decoded: JsonRpcCodec.Decoded) => {
    if (!typed(decoded)) untyped++
    else if (Result.isSuccess(decoded)) messages++
    else errors.set(decoded.failure._tag, (errors.get(decoded.failure._tag) ?? 0) + 1)
  }
  const crash = (error: unknown) => {
    crashes++
    if (crashes <= 3) ctx.observations.push(`Fuzz: the codec threw: ${error instanceof Error ? error.stack?.split("\n").slice(0, 3).join(" ") : String(error)}`)
  }
  const start = now()
  let decoder = codec.ndjsonDecoder({ allowBatch: true })
  let pending: Array<Uint8Array> = []
  let pendingBytes = 0
  const flush = () => {
    // one buffer, cut at random boundaries
    const all = new Uint8Array(pendingBytes)
    let o = 0
    for (const p of pending) {
      all.set(p, o)
      o += p.length
    }
    pending = []
    pendingBytes = 0
    let at = 0
    while (at < all.length) {
      const size = 1 + Math.floor(rand() ** 3 * 65_536)
      try {
        decoder.push(all.subarray(at, at + size), count)
      } catch (error) {
        crash(error)
        decoder = codec.ndjsonDecoder({ allowBatch: true })
      }
      at += size
    }
  }
  for (let i = 0; i < total; i++) {
    const f = frame(rand, maxFrameBytes + 1)
    if (i % 5 === 0) {
      // a single frame, as WebSocket text and as an HTTP body
      try {
        count(rand() < 0.5 ? codec.decodeBytes(f, { allowBatch: rand() < 0.5 }) : codec.decodeText(new TextDecoder().decode(f)))
      } catch (error) {
        crash(error)
      }
    }
    pending.push(f, NEWLINE)
    pendingBytes += f.length + 1
    if (pendingBytes > 256 * 1024) flush()
    if (i % 20_000 === 0) {
      rssPeak = Math.max(rssPeak, process.memoryUsage.rss() / 2 ** 20)
      ctx.monitor.sample()
      await new Promise((r) => setImmediate(r))
    }
  }
  flush()
  try {
    decoder.end(count)
  } catch (error) {
    crash(error)
  }
  rssPeak = Math.max(rssPeak, process.memoryUsage.rss() / 2 ** 20)
  const seconds = (now() - start) / 1000
  const figures = measure()
  const grown = rssPeak - rssBefore
  const tally = new Tally("fuzz")
  ctx.rows.push(rowOf(`fuzz: ${total.toLocaleString("en-US")} random and mutated frames through JsonRpcCodec`, "codec", tally, undefined, {
    ...figures,
    crashes: crashes + untyped,
    notes: [
      `${Math.round(total / seconds).toLocaleString("en-US")} frames/s; ${messages.toLocaleString("en-US")} messages, typed errors: ${
        [...errors].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v.toLocaleString("en-US")}`).join(", ")
      }; ${untyped} results that were neither; ${crashes} exceptions`,
      `harness RSS ${Math.round(rssBefore)} MiB before, peak ${Math.round(rssPeak)} MiB (codec limit ${maxFrameBytes / 1024} KiB, frames up to 20,000 levels deep)`
    ]
  }))
  ctx.goals.push({
    name: `0 crashes from ${total.toLocaleString("en-US")} fuzzed frames, memory bounded (peak < 256 MiB over the start)`,
    ok: crashes === 0 && untyped === 0 && grown < 256,
    detail: `${crashes} exceptions, ${untyped} untyped results; RSS +${Math.round(grown)} MiB`
  })
  ctx.log(`  fuzz codec: ${total} frames in ${seconds.toFixed(1)} s, ${crashes} crashes, ${untyped} untyped, RSS +${Math.round(grown)} MiB`)
}

const NEWLINE = Uint8Array.of(10)

const fuzzSocket = async (ctx: Context) => {
  const total = ctx.budget.fuzzSocketFrames
  const rand = FaultProxy.random(7)
  const measure = window(ctx)
  const before = memoryOf(ctx.main.pid).rss
  const connections = 4
  let answers = 0
  let resets = 0
  let sent = 0
  await Promise.all(Array.from({ length: connections }, async () => {
    const socket = net.connect(ctx.main.tcp!, "127.0.0.1")
    socket.on("error", () => resets++)
    socket.on("data", (d: Buffer) => {
      for (let i = 0; i < d.length; i++) if (d[i] === 10) answers++
    })
    await new Promise<void>((r) => socket.once("connect", () => r()))
    for (let i = 0; i < total / connections && !socket.destroyed; i++) {
      const f = frame(rand, 5 * 1024 * 1024)
      sent++
      await writeAll(socket, Buffer.concat([f, NEWLINE]))
    }
    for (let last = -1, i = 0; i < 25 && answers !== last; i++) {
      last = answers
      await sleep(200)
    }
    socket.destroy()
  }))
  const alive = isAlive(ctx.main.pid)
  const served = await probe(specs("tcp", ctx.main.tcp!, 1, "after-fuzz")[0]!, 5_000)
  const figures = measure()
  ctx.rows.push(rowOf(`fuzz: ${total.toLocaleString("en-US")} frames over TCP to the server`, "tcp", new Tally("fuzz-socket"), undefined, {
    ...figures,
    crashes: alive ? 0 : 1,
    ...(served === undefined ? {} : { recoveryMs: served }),
    recoveryNote: served === undefined ? "a fresh client was NOT served after the fuzz" : "a fresh client's first answer after the fuzz",
    notes: [
      `${sent.toLocaleString("en-US")} frames on ${connections} connections (0.1 % over 5 MiB); ${answers.toLocaleString("en-US")} answers; ${resets} connection errors; server RSS ${
        Math.round(before)
      } MiB before, alive after: ${alive}`
    ]
  }))
  ctx.goals.push({
    name: "fuzzed frames over a real socket: the server lives and serves a fresh client",
    ok: alive && served !== undefined,
    detail: `alive: ${alive}; fresh client ${served === undefined ? "not served" : `served in ${Math.round(served)} ms`}; server peak RSS ${Math.round(figures.serverPeakRssMiB)} MiB`
  })
  ctx.log(`  fuzz socket: ${sent} frames, ${answers} answers, alive ${alive}, fresh client ${served === undefined ? "not served" : `${Math.round(served)} ms`}`)
}

export const fuzz = async (ctx: Context) => {
  await fuzzCodec(ctx)
  await fuzzSocket(ctx)
}
