/**
 * The clients under test, as an application would build them: `McpClient` over `ReconnectingTransport` for
 * TCP, WebSocket and a spawned stdio server, and over `StreamableHttpClient` for Streamable HTTP. Either
 * protocol era: `stateless` (2026-07-28, negotiated by `server/discover`) or `stateful` (2025-11-25, with
 * `initialize`, replayed on every new connection).
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { McpClient } from "@effect-mcp/client"
import type { Transport } from "@effect-mcp/core"
import {
  ReconnectingTransport,
  StdioClientTransport,
  StreamableHttpClient,
  TcpTransport,
  WebSocketTransport
} from "@effect-mcp/transports"
import { now, provide, run, serverArgs, sleep } from "./Harness.ts"

export type Kind = "tcp" | "ws" | "http" | "stdio"
export type Era = "stateless" | "stateful"

export interface ClientSpec {
  readonly name: string
  readonly kind: Kind
  readonly era: Era
  /** The port to connect to (the server's or a proxy's). */
  readonly port?: number
  /** For stdio: the ledger of the child it spawns. */
  readonly ledger?: string
  /** Reconnection backoff (default base 100 ms, cap 1 s, reset after 5 s connected). */
  readonly backoff?: { readonly base: Duration.Input; readonly cap: Duration.Input; readonly resetAfter?: Duration.Input }
  /** Time for one request (default 3 s). */
  readonly requestTimeoutMs?: number
}

/** A connected client and what the harness needs to know about it. */
export interface ChaosClient {
  readonly spec: ClientSpec
  readonly client: McpClient.McpClient
  /** The stdio child's pid now (stdio only). */
  readonly childPid: () => number | undefined
  /** Connection state changes seen (reconnecting transports). */
  readonly connections: () => number
  readonly close: () => Promise<void>
}

export const defaultBackoff = { base: "100 millis", cap: "1 second", resetAfter: "5 seconds" } as const

/** Builds one client in `scope`. */
const build = (spec: ClientSpec, scope: Scope.Scope, pid: { current: number | undefined }, connected: { count: number }) =>
  Effect.gen(function*() {
    const backoff = spec.backoff ?? defaultBackoff
    const reconnecting = (connect: Effect.Effect<Transport.Transport, unknown, any>) =>
      Effect.gen(function*() {
        const transport = yield* ReconnectingTransport.make({ connect, backoff })
        yield* Effect.forkIn(
          Stream.runForEach(transport.state, (s) =>
            Effect.sync(() => {
              if (s._tag === "Connected") connected.count = s.connections
            })),
          scope
        )
        return transport as Transport.Transport
      })
    let transport: Transport.Transport
    switch (spec.kind) {
      case "tcp":
        transport = yield* reconnecting(TcpTransport.connect({ port: spec.port!, connectTimeout: "2 seconds" }))
        break
      case "ws":
        transport = yield* reconnecting(WebSocketTransport.connect(`ws://127.0.0.1:${spec.port!}/mcp`, { connectTimeout: "2 seconds" }))
        break
      case "http":
        transport = yield* StreamableHttpClient.connect({
          url: `http://127.0.0.1:${spec.port!}/mcp`,
          responseTimeout: "5 seconds",
          reconnect: { base: backoff.base, cap: backoff.cap }
        })
        break
      case "stdio":
        transport = yield* reconnecting(
          Effect.tap(
            StdioClientTransport.make({
              command: process.execPath,
              args: serverArgs({ stdio: true, ledger: spec.ledger! }),
              inheritEnv: true,
              stderr: "ignore",
              closeTimeouts: { stdin: "1 second", sigterm: "1 second" }
            }),
            (t) =>
              Effect.sync(() => {
                pid.current = t.pid
              })
          )
        )
        break
    }
    return yield* McpClient.connect(transport, {
      info: { name: `chaos-${spec.name}`, version: "0.1.0" },
      requestTimeout: Duration.millis(spec.requestTimeoutMs ?? 3_000),
      ...(spec.era === "stateful" ? { revisions: ["2025-11-25"] as const } : {})
    })
  }).pipe(Scope.provide(scope))

/**
 * Connects, trying again (a fresh transport each time) until `deadline` (performance.now() ms): connecting
 * under faults can fail like any call.
 */
export const connect = async (spec: ClientSpec, deadline = now() + 60_000): Promise<ChaosClient> => {
  let lastError: unknown
  for (let attempt = 0; now() < deadline; attempt++) {
    const scope = Scope.makeUnsafe()
    const pid = { current: undefined as number | undefined }
    const connected = { count: 0 }
    const exit = await Effect.runPromise(Effect.exit(provide(build(spec, scope, pid, connected))))
    if (Exit.isSuccess(exit)) {
      const client = exit.value
      return {
        spec,
        client,
        childPid: () => pid.current,
        connections: () => connected.count,
        close: () => closeScope(scope)
      }
    }
    lastError = exit.cause
    await closeScope(scope)
    await sleep(Math.min(1_000, 50 * 2 ** attempt))
  }
  throw new Error(`${spec.name}: could not connect before the deadline: ${String(lastError)}`)
}

/** Closes a client's scope, bounded (a stuck close must not hold the harness). */
const closeScope = (scope: Scope.Closeable) =>
  run(Scope.close(scope, Exit.void).pipe(Effect.timeoutOption("10 seconds"), Effect.asVoid))

/** Connects several clients at once. */
export const connectAll = (specs: ReadonlyArray<ClientSpec>, deadline?: number) => Promise.all(specs.map((s) => connect(s, deadline)))

export const closeAll = (clients: ReadonlyArray<ChaosClient>) => Promise.all(clients.map((c) => c.close()))

/**
 * A fresh client's first answer: connects (one attempt) and calls `echo`, all within `ms`. Resolves with the
 * time it took, or `undefined` when it could not (the reason in `why`).
 */
export const probe = async (
  spec: ClientSpec,
  ms: number,
  why?: (reason: string) => void
): Promise<number | undefined> => {
  const start = now()
  const scope = Scope.makeUnsafe()
  const pid = { current: undefined as number | undefined }
  const connected = { count: 0 }
  let phase = "connecting"
  const attempt = Effect.gen(function*() {
    const client = yield* build({ ...spec, backoff: spec.backoff ?? defaultBackoff }, scope, pid, connected)
    phase = `calling (connected as ${client.server.revision}, ${connected.count} connections)`
    yield* client.callTool("echo", { message: "probe" }, { timeout: Duration.millis(ms) })
  }).pipe(Effect.timeoutOption(Duration.millis(ms)))
  const exit = await Effect.runPromise(Effect.exit(provide(attempt)))
  void closeScope(scope)
  if (Exit.isSuccess(exit) && exit.value._tag === "Some") return now() - start
  why?.(Exit.isSuccess(exit) ? `no answer within ${ms} ms (${phase}, ${connected.count} connections)` : String(exit.cause).slice(0, 200))
  return undefined
}
