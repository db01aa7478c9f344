/**
 * Codec throughput: NDJSON bytes in 64 KiB chunks (as a pipe delivers them) → validated JSON-RPC messages,
 * against a baseline of split-on-newline + `JSON.parse` with no validation at all, in the same run.
 */
import { JsonRpc, JsonRpcCodec } from "@effect-mcp/jsonrpc"
import { McpSchema } from "@effect-mcp/schema"
import * as Result from "effect/Result"
import { fmt, interleave, machine, type Measured } from "./Measure.ts"

const encoder = new TextEncoder()

/** A realistic mix of tools/call traffic: small calls, calls with larger arguments, and their results. */
const frames = (count: number): Array<string> => {
  const out: Array<string> = []
  for (let i = 0; i < count; i++) {
    switch (i % 4) {
      case 0:
        out.push(JSON.stringify({
          jsonrpc: "2.0",
          id: i,
          method: "tools/call",
          params: { name: "echo", arguments: { message: `hello ${i}` }, _meta: { progressToken: i } }
        }))
        break
      case 1:
        out.push(JSON.stringify({
          jsonrpc: "2.0",
          id: i,
          method: "tools/call",
          params: {
            name: "search_issues",
            arguments: {
              query: "label:bug state:open sort:updated-desc repo:effect-mcp/effect-mcp",
              limit: 50,
              fields: ["title", "body", "labels", "assignees", "comments"],
              filters: { since: "2026-01-01T00:00:00Z", authors: ["alice", "bob", "carol"] }
            }
          }
        }))
        break
      case 2:
        out.push(JSON.stringify({
          jsonrpc: "2.0",
          id: i - 2,
          result: { content: [{ type: "text", text: `hello ${i}` }], isError: false }
        }))
        break
      default:
        out.push(JSON.stringify({
          jsonrpc: "2.0",
          id: i - 2,
          result: {
            content: [{ type: "text", text: "Lorem ipsum dolor sit amet, consectetur adipiscing elit. ".repeat(12) }],
            structuredContent: { total: 3, items: [{ id: 1, title: "a" }, { id: 2, title: "b" }, { id: 3, title: "c" }] }
          }
        }))
    }
  }
  return out
}

const chunk = (bytes: Uint8Array, size: number): Array<Uint8Array> => {
  const out: Array<Uint8Array> = []
  for (let i = 0; i < bytes.length; i += size) out.push(bytes.slice(i, i + size))
  return out
}

/** Result of the codec benchmark. */
export interface CodecThroughputResult {
  readonly messages: number
  readonly bytes: number
  readonly results: ReadonlyArray<Measured>
  readonly markdown: string
}

/** Runs the codec benchmark. */
export const runCodecThroughput = (options: { messages: number; rounds: number }): CodecThroughputResult => {
  const lines = frames(options.messages)
  const bytes = encoder.encode(lines.join("\n") + "\n")
  const chunks = chunk(bytes, 64 * 1024)
  const codec = JsonRpcCodec.make()

  const baseline = () => {
    const decoder = new TextDecoder()
    let buffer = ""
    let count = 0
    for (const c of chunks) {
      buffer += decoder.decode(c, { stream: true })
      const parts = buffer.split("\n")
      buffer = parts.pop()!
      for (const line of parts) {
        if (line.length > 0) {
          JSON.parse(line)
          count++
        }
      }
    }
    return count
  }

  const ours = () => {
    const decoder = codec.ndjsonDecoder()
    let count = 0
    const emit = (d: JsonRpcCodec.Decoded) => {
      if (Result.isSuccess(d)) count++
      else throw new Error(`unexpected ${d.failure._tag}`)
    }
    for (const c of chunks) decoder.push(c, emit)
    decoder.end(emit)
    return count
  }

  /** Codec plus MCP validation: requests by their method's schema, results as the tools/call result. */
  const full = () => {
    const decoder = codec.ndjsonDecoder()
    let count = 0
    const emit = (d: JsonRpcCodec.Decoded) => {
      if (Result.isFailure(d) || JsonRpc.isBatch(d.success)) throw new Error("unexpected")
      const m = d.success
      const checked = "method" in m
        ? McpSchema.decodeMessage("2025-11-25", m.method, "client", m)
        : "result" in m
        ? McpSchema.decodeResult("2025-11-25", "tools/call", "client", m.result)
        : Result.succeed(m)
      if (Result.isSuccess(checked)) count++
      else throw new Error(checked.failure.message)
    }
    for (const c of chunks) decoder.push(c, emit)
    decoder.end(emit)
    return count
  }

  if (baseline() !== options.messages || ours() !== options.messages || full() !== options.messages) {
    throw new Error("variants disagree")
  }
  const results = interleave(
    [
      { name: "baseline: split + JSON.parse (no validation)", run: baseline },
      { name: "effect-mcp JsonRpcCodec (size guard, UTF-8 check, envelope validation)", run: ours },
      { name: "JsonRpcCodec + MCP 2025-11-25 schema validation of every message", run: full }
    ],
    { rounds: options.rounds, warmup: 3 }
  )
  const [base, codecResult, fullResult] = results as [Measured, Measured, Measured]
  const mb = bytes.length / 1e6
  const row = (m: Measured) =>
    `| ${m.name} | ${fmt(m.medianPerSecond)} | ${fmt((m.medianPerSecond * bytes.length) / options.messages / 1e6, 1)} | ${
      fmt(m.minPerSecond)
    } – ${fmt(m.maxPerSecond)} |`
  const ratio = codecResult.medianPerSecond / base.medianPerSecond
  const markdown = [
    "## Codec throughput (NDJSON → JSON-RPC messages)",
    "",
    `${fmt(options.messages)} realistic frames (tools/call requests and results, ${fmt(mb, 1)} MB), fed in 64 KiB chunks; ` +
    `${options.rounds} interleaved rounds after warm-up, median. ${machine()}.`,
    "",
    "| variant | messages/s | MB/s | range (messages/s) |",
    "| --- | ---: | ---: | --- |",
    row(base),
    row(codecResult),
    row(fullResult),
    "",
    `**Ratios: codec ${ratio.toFixed(2)}×, codec + MCP schema validation ${
      (fullResult.medianPerSecond / base.medianPerSecond).toFixed(2)
    }× the baseline** (goal ≥ 0.80× with full validation).`,
    ""
  ].join("\n")
  return { messages: options.messages, bytes: bytes.length, results, markdown }
}
