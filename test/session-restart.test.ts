/**
 * FM-52 end to end: the sample app (a real child process) serves Streamable HTTP under the runtime with its
 * session table snapshotted to a file (`MCP_SESSION_SNAPSHOT`); it is killed with SIGKILL and started again on
 * the same port and file, and the official 1.x client goes on with the same session, no 404 and no new
 * `initialize` (the 1.x client does not initialize again by itself: without the snapshot its next call fails).
 */
import { Client as Sdk1Client } from "@modelcontextprotocol/sdk/client/index.js"
import { StreamableHTTPClientTransport as Sdk1Http } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as nodePath from "node:path"
import { sampleMain } from "./support/sample.ts"

const freePort = () =>
  new Promise<number>((resolve) => {
    const server = net.createServer()
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as net.AddressInfo).port
      server.close(() => resolve(port))
    })
  })

const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Polls `check` every 50 ms for at most `ms`; fails with `what` past it. */
const waitFor = async (what: string, check: () => boolean | Promise<boolean>, ms = 20_000) => {
  const end = Date.now() + ms
  while (Date.now() < end) {
    if (await check()) return
    await pause(50)
  }
  throw new Error(`timed out waiting for ${what}`)
}

/** The sample app on HTTP with its sessions snapshotted to `snapshot`; resolves once it is ready. */
const startSample = async (port: number, snapshot: string): Promise<ChildProcess> => {
  // one process (not the tsx CLI, whose child would outlive a SIGKILL of it)
  const child = spawn(process.execPath, ["--import", "tsx", sampleMain, "--transport", "http", "--port", String(port)], {
    env: { ...process.env, MCP_SESSION_SNAPSHOT: snapshot },
    stdio: ["ignore", "ignore", "pipe"]
  })
  let stderr = ""
  child.stderr!.on("data", (chunk: Buffer) => void (stderr = (stderr + chunk.toString()).slice(-4_000)))
  await waitFor("the sample app to be ready", async () => {
    if (child.exitCode !== null) throw new Error(`the sample app exited (${child.exitCode}): ${stderr}`)
    try {
      return (await fetch(`http://127.0.0.1:${port}/ready`)).status === 200
    } catch {
      return false
    }
  })
  return child
}

const kill9 = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    child.once("exit", () => resolve())
    child.kill("SIGKILL")
  })

describe("sessions across a restart of the process (FM-52)", () => {
  it.live("the official 1.x client keeps its session through a kill -9 of the server and its restart on the session snapshot", () =>
    Effect.promise(async () => {
      const dir = fs.mkdtempSync(nodePath.join(os.tmpdir(), "effect-mcp-restart-"))
      const snapshot = nodePath.join(dir, "sessions.json")
      const port = await freePort()
      const children: Array<ChildProcess> = []
      const client = new Sdk1Client({ name: "sdk1-restart", version: "1.32.2" })
      client.onerror = () => {} // the GET stream is cut by the kill; the client reports it here
      try {
        children.push(await startSample(port, snapshot))
        // a server just started may shed new sessions for a moment (its start-up delays the event loop): 503 with
        // Retry-After, and the 1.x client does not retry on its own
        let transport = new Sdk1Http(new URL(`http://127.0.0.1:${port}/mcp`))
        await waitFor("a session", async () => {
          try {
            await client.connect(transport)
            return true
          } catch {
            transport = new Sdk1Http(new URL(`http://127.0.0.1:${port}/mcp`))
            await pause(250)
            return false
          }
        }, 15_000)
        const session = transport.sessionId
        expect(session).toMatch(/^[0-9a-f]{32}$/)
        await client.setLoggingLevel("warning")
        expect(await client.callTool({ name: "echo", arguments: { message: "before" } })).toMatchObject({
          content: [{ type: "text", text: "before" }]
        })
        // the snapshot holds the session within its interval (1 s)
        await waitFor("the snapshot", () => fs.existsSync(snapshot) && fs.readFileSync(snapshot, "utf8").includes(session!), 5_000)
        const saved = JSON.parse(fs.readFileSync(snapshot, "utf8")) as { sessions: Array<{ id: string; state: { messages: Array<{ method?: string }> } }> }
        expect(saved.sessions.find((s) => s.id === session)?.state.messages.map((m) => m.method)).toEqual([
          "initialize",
          "notifications/initialized",
          "logging/setLevel"
        ])

        await kill9(children[0]!)
        children.push(await startSample(port, snapshot))

        // the same client, the same session: no 404
        expect(await client.callTool({ name: "echo", arguments: { message: "after" } })).toMatchObject({
          content: [{ type: "text", text: "after" }]
        })
        expect(transport.sessionId).toBe(session)
        const { tools } = await client.listTools()
        expect(tools.map((t) => t.name)).toContain("echo")
      } finally {
        await client.close().catch(() => {})
        for (const child of children) await kill9(child)
        fs.rmSync(dir, { recursive: true, force: true })
      }
    }), 60_000)
})
