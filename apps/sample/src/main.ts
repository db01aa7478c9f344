/**
 * The sample app, first version: the codec's front door.
 *
 * Reads NDJSON frames (JSON-RPC messages, one per line) on stdin and writes one JSON line per frame on
 * stdout: the decoded message, or the typed error with its FMEA mode and the JSON-RPC error response a server
 * would send. Logs and the interactive banner go to stderr. `--help` prints the options and the FMEA
 * catalogue's highest-risk modes.
 */
import { FailureMode } from "@effect-mcp/faults"
import { JsonRpcCodec } from "@effect-mcp/jsonrpc"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeStdio from "@effect/platform-node/NodeStdio"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Stdio from "effect/Stdio"
import * as Stream from "effect/Stream"
import { render } from "./Render.ts"

const usage = (): string => {
  const top = FailureMode.topByRpn(10)
  return [
    "effect-mcp sample app (first version): decodes JSON-RPC frames with the effect-mcp codec.",
    "",
    "usage: pnpm sample [--max-frame-bytes N] [--batch] [--help]",
    "",
    "  Reads NDJSON (one JSON-RPC message per line) on stdin; writes one JSON line per frame on stdout:",
    "  {\"ok\":true,\"kind\":...,\"message\":...} or {\"ok\":false,\"error\":{...,\"mode\":\"FM-xx\"},\"response\":...}.",
    "",
    "  --max-frame-bytes N  largest frame accepted (default 4194304, or MCP_MAX_FRAME_BYTES)",
    "  --batch              accept JSON-RPC batches (as MCP 2025-03-26 does)",
    "",
    "example:",
    "  printf '%s\\n' '{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}' '{\"jsonrpc\":\"2.0\",' | pnpm -s sample",
    "",
    "Highest-risk failure modes (FMEA, by RPN) and their status in effect-mcp:",
    ...top.map((m) =>
      `  ${m.id}  RPN ${String(m.rpn).padStart(3)}  ${m.status.padEnd(9)}  ${m.name}${
        m.errors.length > 0 ? ` → ${m.errors.join(", ")}` : ""
      }`
    ),
    "",
    "All 52 modes: docs/fmea.md"
  ].join("\n") + "\n"
}

const flagValue = (args: ReadonlyArray<string>, name: string): string | undefined => {
  const i = args.indexOf(name)
  return i === -1 ? undefined : args[i + 1]
}

const main = Effect.gen(function*() {
  const stdio = yield* Stdio.Stdio
  const args = yield* stdio.args
  if (args.includes("--help") || args.includes("-h")) {
    return yield* Stream.make(usage()).pipe(Stream.run(stdio.stdout()))
  }
  const codec = yield* JsonRpcCodec.JsonRpcCodec
  if (yield* stdio.stdinIsTerminal) {
    yield* Stream.make("Type JSON-RPC messages, one per line (Ctrl-D to end). --help for more.\n").pipe(
      Stream.run(stdio.stderr())
    )
  }
  const allowBatch = args.includes("--batch")
  yield* codec.decodeNdjson(stdio.stdin, { allowBatch }).pipe(
    Stream.map((decoded) => JSON.stringify(render(decoded)) + "\n"),
    Stream.run(stdio.stdout())
  )
})

const codecLayer = Layer.unwrap(Effect.gen(function*() {
  const stdio = yield* Stdio.Stdio
  const max = flagValue(yield* stdio.args, "--max-frame-bytes")
  if (max === undefined) return JsonRpcCodec.JsonRpcCodec.layerConfig
  const maxFrameBytes = Number(max)
  if (!Number.isSafeInteger(maxFrameBytes) || maxFrameBytes < 1) {
    return yield* Effect.fail(new Error(`--max-frame-bytes must be a positive integer, got ${max}`))
  }
  return JsonRpcCodec.JsonRpcCodec.layerWith({ maxFrameBytes })
}))

main.pipe(
  Effect.provide(codecLayer.pipe(Layer.provideMerge(NodeStdio.layer))),
  // stdout carries only output frames: every log, including the error report, goes to stderr
  Effect.provideService(Logger.LogToStderr, true),
  Effect.tapCause((cause) =>
    Cause.hasInterruptsOnly(cause) ? Effect.void : Effect.sync(() => process.stderr.write(Cause.pretty(cause) + "\n"))
  ),
  NodeRuntime.runMain({ disableErrorReporting: true })
)
