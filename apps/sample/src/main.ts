/**
 * The sample app: the sample MCP server on stdio (default), or, with `--decode`, the codec's front door (one
 * JSON line per NDJSON frame on stdin: the decoded message, or the typed error with its FMEA mode and the
 * JSON-RPC error response a server would send).
 *
 * stdout carries nothing but output (MCP frames, or decoded frames); logs go to stderr.
 */
import { FailureMode } from "@effect-mcp/faults"
import { JsonRpcCodec } from "@effect-mcp/jsonrpc"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeStdio from "@effect/platform-node/NodeStdio"
import * as Cause from "effect/Cause"
import * as fs from "node:fs"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Stdio from "effect/Stdio"
import * as Stream from "effect/Stream"
import type { Transport } from "@effect-mcp/core"
import type { McpServer } from "@effect-mcp/server"
import { Health, HttpState, ResourceMonitor, Runtime, Telemetry, Tiers } from "@effect-mcp/runtime"
import { StdioServerTransport, StreamableHttpServer, TcpTransport, WebSocketTransport } from "@effect-mcp/transports"
import type * as Scope from "effect/Scope"
import { render } from "./Render.ts"
import * as SampleServer from "./SampleServer.ts"

const usage = (): string => {
  const top = FailureMode.topByRpn(10)
  return [
    "effect-mcp sample app: an MCP server about effect-mcp's own failure-mode catalogue.",
    "",
    "usage: pnpm -s sample [--transport stdio|tcp|ws|http] [--port N] [--host H] [--max-frame-bytes N]",
    "       pnpm -s sample --decode [--max-frame-bytes N] [--batch]",
    "",
    "  Serves MCP on stdio (every revision, 2024-11-05 to 2026-07-28): tools echo, add, countdown (progress,",
    "  cancellation), fail (isolation), failure_mode, top_risks, now; resources fmea://modes and",
    "  fmea://modes/{id}; prompt explain_failure_mode. Nothing but MCP goes to stdout; logs go to stderr.",
    "  An MCP host launches it as: pnpm -s sample --transport stdio (from this repository's root).",
    "",
    "  --transport tcp      NDJSON over TCP on --host (default 127.0.0.1) and --port (default 3333)",
    "  --transport ws       WebSocket at ws://HOST:PORT/mcp (default port 3334; browser origins: localhost only)",
    "  --tls-cert F --tls-key F  (tcp, ws, http) serve over TLS with this PEM certificate chain and key (wss://, https://)",
    "  --transport http     Streamable HTTP at http://HOST:PORT/mcp, both protocol eras (default port 3335;",
    "                       Host and Origin: localhost only)",
    "  --http-response M    how HTTP requests are answered: auto (JSON unless something streams first), json, sse",
    "  --legacy-sse         also serve the deprecated 2024-11-05 HTTP+SSE transport (GET /sse, POST /messages)",
    "  --decode             instead, decode NDJSON (one JSON-RPC message per line) on stdin into one JSON line",
    "                       per frame: {\"ok\":true,\"kind\":...} or {\"ok\":false,\"error\":{...,\"mode\":\"FM-xx\"},...}",
    "  --max-frame-bytes N  largest frame accepted (default 4194304, or MCP_MAX_FRAME_BYTES)",
    "  --batch              (with --decode) accept JSON-RPC batches (as MCP 2025-03-26 does)",
    "",
    "  With OTEL_EXPORTER_OTLP_ENDPOINT (e.g. http://127.0.0.1:4318) the network transports also export their",
    "  spans and metrics over OTLP/HTTP; see docs/observability.md for the other OTEL_* variables.",
    "",
    "example:",
    "  printf '%s\\n' '{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}' '{\"jsonrpc\":\"2.0\",' | pnpm -s sample --decode",
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

/** `--decode`: one JSON line per NDJSON frame on stdin. */
const decode = Effect.gen(function*() {
  const stdio = yield* Stdio.Stdio
  const args = yield* stdio.args
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

const portOf = (args: ReadonlyArray<string>, fallback: number) => {
  const port = Number(flagValue(args, "--port") ?? String(fallback))
  return Number.isSafeInteger(port) && port >= 0 && port <= 65535
    ? Effect.succeed(port)
    : Effect.fail(new Error(`--port must be a port number`))
}

/** `--tls-cert`/`--tls-key`: the TLS of the tcp, ws and http listeners (both or neither). */
const tlsOf = (args: ReadonlyArray<string>) => {
  const cert = flagValue(args, "--tls-cert")
  const key = flagValue(args, "--tls-key")
  if (cert === undefined && key === undefined) return Effect.succeed({})
  if (cert === undefined || key === undefined) return Effect.fail(new Error(`--tls-cert and --tls-key go together`))
  return Effect.try({
    try: () => ({ tls: { cert: fs.readFileSync(cert), key: fs.readFileSync(key) } }),
    catch: (cause) => new Error(`cannot read the TLS certificate or key: ${String(cause)}`)
  })
}

/**
 * A network listener under the supervision tiers: the listener is a tier-4 transport (restarted with backoff if
 * it crashes), each connection a tier-3 server (a crash ends that connection only), with the resource monitor
 * shedding load and, on HTTP, /health, /ready and /metrics next to /mcp. With `OTEL_EXPORTER_OTLP_ENDPOINT`
 * (or the per-signal endpoints) set, spans and metrics are also exported over OTLP/HTTP (docs/observability.md);
 * without, nothing changes. Returns when the runtime stops.
 */
const supervised = <E>(
  name: string,
  listen: (
    server: McpServer.McpServer<never>,
    handle: (transport: Transport.Transport) => Effect.Effect<void>,
    observability: { readonly routes: StreamableHttpServer.Options["routes"]; readonly admit: StreamableHttpServer.Options["admit"] }
  ) => Effect.Effect<string, E, Scope.Scope | JsonRpcCodec.JsonRpcCodec | Tiers.Infrastructure>
) =>
  Effect.gen(function*() {
    const runtime = yield* Runtime.Runtime
    const transports = yield* Tiers.TransportTier
    const servers = yield* Tiers.ServerTier
    const health = yield* Health.Health
    const monitor = yield* ResourceMonitor.ResourceMonitor
    const telemetry = yield* Telemetry.Telemetry
    const server = yield* SampleServer.make
    const routes = yield* health.routes()
    const exported = Object.entries(telemetry.enabled).filter(([, on]) => on).map(([signal]) => signal)
    if (exported.length > 0) yield* Effect.logInfo(`OTLP export: ${exported.join(" and ")} (see docs/observability.md)`)
    yield* transports.startTransport(name, Effect.scoped(Effect.gen(function*() {
      const where = yield* listen(server, servers.handler(server.serve), { routes, admit: monitor.admit })
      yield* Effect.logInfo(`effect-mcp sample server: ${where} (Ctrl-C to stop)`)
      return yield* Effect.never
    })))
    return yield* runtime.await
  }).pipe(
    // telemetry below the runtime: the tiers' own spans (Health.readiness, ...) are exported too
    Effect.provide(Runtime.Runtime.layerConfig.pipe(Layer.provideMerge(Telemetry.Telemetry.layerConfig)))
  )

/** The sample MCP server: on stdio it returns when stdin closes; on the network it runs until stopped. */
const serve = Effect.gen(function*() {
  const stdio = yield* Stdio.Stdio
  const args = yield* stdio.args
  const transport = flagValue(args, "--transport") ?? "stdio"
  const host = flagValue(args, "--host") ?? "127.0.0.1"
  if (transport === "tcp") {
    const port = yield* portOf(args, 3333)
    const tls = yield* tlsOf(args)
    return yield* supervised("tcp", (_server, handle) =>
      Effect.map(TcpTransport.serve({
        ...tls,
        port,
        host,
        // hung clients are found (FM-31): a ping every 30 s answered within 10 s, and 10 minutes of silence at most
        heartbeat: { method: "ping" },
        idleTimeout: "10 minutes"
      }, handle), (listening) => `NDJSON over TCP on ${listening.host}:${listening.port}`))
  }
  if (transport === "ws") {
    const port = yield* portOf(args, 3334)
    const tls = yield* tlsOf(args)
    return yield* supervised("ws", (_server, handle) =>
      Effect.map(WebSocketTransport.serve({ ...tls, port, host }, handle), (listening) => `WebSocket on ${listening.url}`))
  }
  if (transport === "http") {
    const port = yield* portOf(args, 3335)
    const response = flagValue(args, "--http-response") ?? "auto"
    if (response !== "auto" && response !== "json" && response !== "sse") {
      return yield* Effect.fail(new Error(`--http-response must be auto, json or sse`))
    }
    const tls = yield* tlsOf(args)
    return yield* supervised("http", (server, handle, { admit, routes }) =>
      Effect.gen(function*() {
        // sessions and SSE event stores live in tier 2 (SessionManager, EventStore): /metrics' mcp_sessions is them
        const state = yield* HttpState.options
        const listening = yield* StreamableHttpServer.serve({
          ...state,
          ...tls,
          port,
          host,
          response,
          legacySse: args.includes("--legacy-sse"),
          toolInputSchema: (name) => server.findTool(name)?.inputSchema,
          ...(routes === undefined ? {} : { routes }),
          ...(admit === undefined ? {} : { admit })
        }, handle)
        const base = listening.url.replace(/\/mcp$/, "")
        return `Streamable HTTP on ${listening.url} (health: ${base}/health, ${base}/ready, ${base}/metrics)`
      }))
  }
  if (transport !== "stdio") {
    return yield* Effect.fail(new Error(`--transport ${transport} is not available (stdio, tcp, ws and http are)`))
  }
  if (yield* stdio.stdinIsTerminal) {
    yield* Effect.logInfo("effect-mcp sample server on stdio: an MCP host should launch this; --help for more")
  }
  const server = yield* SampleServer.make
  yield* server.serve(yield* StdioServerTransport.make())
}).pipe(Effect.scoped)

const main = Effect.gen(function*() {
  const stdio = yield* Stdio.Stdio
  const args = yield* stdio.args
  if (args.includes("--help") || args.includes("-h")) {
    return yield* Stream.make(usage()).pipe(Stream.run(stdio.stdout()))
  }
  return yield* (args.includes("--decode") ? decode : serve)
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
