/**
 * The chaos server as a process of its own (so that it can be killed with -9, stopped and continued):
 *
 *   node --import tsx apps/chaos/src/server.ts [--tcp PORT] [--ws PORT] [--http PORT] [--stdio]
 *        [--ledger FILE] [--idempotency-capacity N] [--idempotency-journal FILE|off]
 *        [--idempotency-sync always|none] [--never-read]
 *
 * Serves the same `McpServer` on every transport asked for (127.0.0.1; port 0 picks one) and prints one line
 * on stderr once everything listens: `chaos-server listening pid=… tcp=… ws=… http=…`. With `--stdio` it
 * serves MCP on stdin/stdout and exits when stdin closes; its tool `stop_reading` makes it never read its
 * stdin again. `--never-read` is a child that never reads its stdin at all. Both are process faults: the
 * client's writes back up.
 *
 * Idempotency keys go to a journal (`--idempotency-journal`; by default `LEDGER.journal` next to the ledger,
 * `off` for none), so that the server restarted after a kill -9 with the same arguments loads what the dead
 * one recorded and does not charge its keys again.
 */
import { PassThrough } from "node:stream"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import { JsonRpcCodec } from "@effect-mcp/jsonrpc"
import { StdioServerTransport, StreamableHttpServer, TcpTransport, WebSocketTransport } from "@effect-mcp/transports"
import * as ChaosServer from "./ChaosServer.ts"

const args = process.argv.slice(2)
const flag = (name: string): string | undefined => {
  const i = args.indexOf(name)
  return i === -1 ? undefined : args[i + 1]
}

if (args.includes("--never-read")) {
  // a child that never reads stdin: the pipe fills up and the client's writes back up
  process.stderr.write(`chaos-server listening pid=${process.pid} never-read\n`)
  setInterval(() => {}, 1 << 30)
} else {
  const ledger = flag("--ledger")
  const state = ChaosServer.makeState(ledger)
  const capacity = flag("--idempotency-capacity")
  const journalFlag = flag("--idempotency-journal")
  const journal = journalFlag === "off" ? undefined : journalFlag ?? (ledger === undefined ? undefined : `${ledger}.journal`)
  const sync = flag("--idempotency-sync")
  // stdio input goes through a pass-through, so that `stop_reading` can stop reading it for good
  const input = new PassThrough()
  let reading = true
  const forward = (chunk: Buffer) => {
    if (reading) input.write(chunk)
  }
  const stopReading = () => {
    reading = false
    process.stdin.off("data", forward)
    process.stdin.pause()
    // a paused stdin no longer holds the event loop: stay alive, deaf
    setInterval(() => {}, 1 << 30)
  }
  const program = Effect.gen(function*() {
    const server = yield* ChaosServer.make(state, {
      ...(capacity === undefined ? {} : { idempotencyCapacity: Number(capacity) }),
      ...(journal === undefined ? {} : { idempotencyJournal: journal }),
      ...(sync === "none" || sync === "always" ? { idempotencySync: sync } : {}),
      ...(args.includes("--stdio") ? { onStopReading: stopReading } : {})
    })
    const listening: Array<string> = []
    const tcp = flag("--tcp")
    if (tcp !== undefined) {
      const s = yield* TcpTransport.serve({ port: Number(tcp) }, server.serve)
      listening.push(`tcp=${s.port}`)
    }
    const ws = flag("--ws")
    if (ws !== undefined) {
      const s = yield* WebSocketTransport.serve({ port: Number(ws) }, server.serve)
      listening.push(`ws=${s.port}`)
    }
    const http = flag("--http")
    if (http !== undefined) {
      const s = yield* StreamableHttpServer.serve({ port: Number(http), toolInputSchema: (name) => server.findTool(name)?.inputSchema }, server.serve)
      listening.push(`http=${s.port}`)
    }
    if (args.includes("--stdio")) {
      process.stderr.write(`chaos-server listening pid=${process.pid} stdio\n`)
      process.stdin.on("data", forward)
      process.stdin.once("end", () => input.end())
      yield* server.serve(yield* StdioServerTransport.make({ stdin: input }))
      return
    }
    process.stderr.write(`chaos-server listening pid=${process.pid} ${listening.join(" ")}\n`)
    return yield* Effect.never
  }).pipe(
    Effect.scoped,
    Effect.provide(JsonRpcCodec.JsonRpcCodec.layer),
    Effect.provide(Logger.layer([ChaosServer.countingLogger(state)]))
  )
  Effect.runPromise(program).then(
    () => process.exit(0),
    (error) => {
      process.stderr.write(`chaos-server failed: ${String(error)}\n`)
      process.exit(1)
    }
  )
}
