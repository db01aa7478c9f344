/**
 * The conformance server: every fixture both official referees need, on one Streamable HTTP endpoint that
 * serves both protocol eras. `pnpm -s conformance:serve --port 3000` → http://127.0.0.1:3000/mcp
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import { JsonRpcCodec } from "@effect-mcp/jsonrpc"
import { StreamableHttpServer } from "@effect-mcp/transports"
import * as ConformanceServer from "./ConformanceServer.ts"

const flag = (name: string): string | undefined => {
  const i = process.argv.indexOf(name)
  return i === -1 ? undefined : process.argv[i + 1]
}

const program = Effect.gen(function*() {
  const port = Number(flag("--port") ?? "3000")
  if (!Number.isSafeInteger(port) || port < 0 || port > 65535) return yield* Effect.fail(new Error("--port must be a port number"))
  const server = yield* ConformanceServer.make
  const http = yield* StreamableHttpServer.serve({
    port,
    host: flag("--host") ?? "127.0.0.1",
    toolInputSchema: (name) => server.findTool(name)?.inputSchema
  }, server.serve)
  yield* Effect.logInfo(`conformance server on ${http.url}`)
  return yield* Effect.never
}).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer), Effect.provideService(Logger.LogToStderr, true))

NodeRuntime.runMain(program)
