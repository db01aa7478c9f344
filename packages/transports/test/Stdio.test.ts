import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { fileURLToPath } from "node:url"
import { Protocol } from "@effect-mcp/core"
import { JsonRpc, JsonRpcCodec } from "@effect-mcp/jsonrpc"
import * as StdioClientTransport from "../src/StdioClientTransport.ts"
import { sampleServerCommand } from "../../../test/support/sample.ts"

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url))
const node = (name: string, ...args: Array<string>) => ({ command: process.execPath, args: [fixture(name), ...args] })

/** A child that reads nothing for 1 s, then counts the notifications it reads and answers `count` with it. */
const PAUSED_READER = `
let lines = 0
let rest = ""
setTimeout(() => {
  process.stdin.setEncoding("utf8").on("data", (chunk) => {
    const parts = (rest + chunk).split("\\n")
    rest = parts.pop()
    for (const line of parts) {
      const message = JSON.parse(line)
      if (message.id === undefined) lines++
      else process.stdout.write(JSON.stringify({ jsonrpc: "2.0", id: message.id, result: { lines } }) + "\\n")
    }
  })
  process.stdin.on("end", () => process.exit(0))
}, 1000)
`

const connect = (options: StdioClientTransport.Options, diagnostics: Array<string> = []) =>
  Effect.gen(function*() {
    const transport = yield* StdioClientTransport.make(options)
    const protocol = yield* Protocol.make(transport, {
      handler: () => undefined,
      onDiagnostic: (d) => Effect.sync(() => diagnostics.push(d._tag))
    })
    return { transport, protocol }
  }).pipe(Effect.provide(JsonRpcCodec.JsonRpcCodec.layer))

describe("stdio transport (real child processes)", () => {
  it.live("stdio client: a child that dies fails incoming at once with the exit named", () =>
    Effect.gen(function*() {
      const { protocol } = yield* connect(node("dies-after-first.mjs"))
      const started = Date.now()
      const calls = yield* Effect.forEach([1, 2, 3], () => protocol.request("anything").pipe(Effect.flip, Effect.forkChild))
      const errors = yield* Effect.forEach(calls, Fiber.join)
      for (const error of errors) {
        expect(error).toMatchObject({ _tag: "ConnectionClosed", mode: "FM-40", reason: "child exited with code 3" })
      }
      // at once: not after the 60 s request timeout
      expect(Date.now() - started).toBeLessThan(5_000)
    }))

  it.live("stdio client: close escalates stdin EOF → SIGTERM → SIGKILL", () =>
    Effect.gen(function*() {
      const { transport } = yield* connect({ ...node("stubborn.mjs"), closeTimeouts: { stdin: "200 millis", sigterm: "200 millis" } })
      const started = Date.now()
      yield* transport.close
      const exit = yield* transport.exit
      expect(exit).toEqual({ code: null, signal: "SIGKILL" })
      expect(Date.now() - started).toBeGreaterThanOrEqual(400)
      expect(Date.now() - started).toBeLessThan(5_000)
    }))

  it.live("stdio client: backpressure on a slow reader loses nothing", () =>
    Effect.gen(function*() {
      const warnings: Array<string> = []
      const onWarning = (w: Error) => warnings.push(w.name)
      process.on("warning", onWarning)
      const { protocol } = yield* connect(node("echo-server.mjs", "--slow"))
      const payload = "x".repeat(10_000)
      const results = yield* Effect.forEach(
        Array.from({ length: 2_000 }, (_, i) => i),
        (i) => protocol.request("echo", { i, payload }),
        { concurrency: 256 }
      )
      expect(results).toHaveLength(2_000)
      results.forEach((r, i) => expect((r as { echo: { i: number } }).echo.i).toBe(i))

      // the writer waits for the reader: a child that reads nothing for its first second, then counts lines
      const paused = yield* connect({ command: process.execPath, args: ["-e", PAUSED_READER] })
      let sent = 0
      const sending = yield* Effect.forkChild(Effect.forEach(
        Array.from({ length: 2_000 }, (_, i) => i),
        (i) => Effect.tap(paused.transport.send(JsonRpc.notification("bulk", { i, payload })), () => Effect.sync(() => sent++)),
        { discard: true }
      ))
      yield* Effect.sleep("500 millis")
      // 20 MB offered, the reader paused: the sender is held after the pipe's and the writer's buffers
      // (well under 2 MB), not handed everything to buffer in memory
      expect(sent).toBeGreaterThan(0)
      expect(sent * payload.length).toBeLessThan(2 * 1024 * 1024)
      yield* Fiber.join(sending)
      expect(sent).toBe(2_000)
      // ... and nothing was lost once it read
      expect(yield* paused.protocol.request("count", {})).toEqual({ lines: 2_000 })
      process.off("warning", onWarning)
      // one drain listener for the whole run, never one per write
      expect(warnings).not.toContain("MaxListenersExceededWarning")
    }), 60_000)

  it.live("FM-15 stdio client: a child that stops reading fails the connection after the stall timeout, every pending call at once", () =>
    Effect.gen(function*() {
      const { protocol, transport } = yield* connect({ ...node("never-reads.mjs"), stallTimeout: "300 millis" })
      const started = Date.now()
      // 32 calls of 64 KiB: more than the kernel buffers of the child's stdin hold; the rest wait for a
      // drain that never comes
      const payload = "x".repeat(64 * 1024)
      const calls = yield* Effect.forEach(Array.from({ length: 32 }, (_, i) => i), (i) =>
        protocol.request("echo", { i, payload }, { timeout: "60 seconds" }).pipe(Effect.flip, Effect.forkChild))
      const errors = yield* Effect.forEach(calls, Fiber.join)
      // the call whose write stalled gets the stall itself; the others fail with the connection it ended
      for (const error of errors) expect(["TransportFailure", "ConnectionClosed"]).toContain(error._tag)
      expect(errors.some((e) => e._tag === "TransportFailure" && e.detail.includes("FM-15"))).toBe(true)
      // after the stall bound, not after the 60 s request timeout
      expect(Date.now() - started).toBeLessThan(10_000)
      yield* transport.close
    }))

  it.live("FM-21 stdio client: with no stall bound, the request timeout still ends a call whose write never drains", () =>
    Effect.gen(function*() {
      const { protocol, transport } = yield* connect({ ...node("never-reads.mjs"), stallTimeout: Duration.infinity })
      const started = Date.now()
      const payload = "x".repeat(64 * 1024)
      const calls = yield* Effect.forEach(Array.from({ length: 32 }, (_, i) => i), (i) =>
        protocol.request("echo", { i, payload }, { timeout: "400 millis" }).pipe(Effect.flip, Effect.forkChild))
      const errors = yield* Effect.forEach(calls, Fiber.join)
      for (const error of errors) expect(error).toMatchObject({ _tag: "RequestTimedOut", timeoutMs: 400 })
      expect(Date.now() - started).toBeLessThan(10_000)
      yield* transport.close
    }))

  it.live("stdio client: a missing command is a TransportFailure", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(connect({ command: "/nonexistent/effect-mcp-server" }))
      expect(error).toMatchObject({ _tag: "TransportFailure", mode: "FM-40" })
      expect(error.message).toContain("/nonexistent/effect-mcp-server")
    }))

  it.live("stdio server: exits when stdin closes and writes only protocol to stdout", () =>
    Effect.gen(function*() {
      const diagnostics: Array<string> = []
      const { transport, protocol } = yield* connect(
        { ...sampleServerCommand, args: [...sampleServerCommand.args], stderr: "pipe" },
        diagnostics
      )
      const result = yield* protocol.request("initialize", {
        protocolVersion: "2025-11-25",
        capabilities: {},
        clientInfo: { name: "t", version: "1" }
      })
      expect(result).toMatchObject({ protocolVersion: "2025-11-25", serverInfo: { name: "effect-mcp-sample" } })
      yield* protocol.notify("notifications/initialized")
      // a crash inside a tool is logged to stderr, never to stdout
      yield* Effect.flip(protocol.request("tools/call", { name: "fail", arguments: { kind: "throw" } }))
      expect(yield* protocol.request("tools/call", { name: "echo", arguments: { message: "ok" } })).toMatchObject({
        content: [{ text: "ok" }]
      })
      // closing stdin makes the server exit by itself, cleanly (no SIGTERM needed)
      const started = Date.now()
      yield* transport.close
      expect(yield* transport.exit).toEqual({ code: 0, signal: null })
      expect(Date.now() - started).toBeLessThan(2_000)
      // every line the server wrote to stdout decoded as a JSON-RPC message
      expect(diagnostics).toEqual([])
    }), 30_000)
})
