/** The MCP Inspector's CLI (a real process) lists and calls our sample server's tools. */
import { createRequire } from "node:module"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type ChildProcess, execFile, spawn } from "node:child_process"

const require = createRequire(import.meta.url)
const inspector = require.resolve("@modelcontextprotocol/inspector/package.json").replace(/package\.json$/, "clients/launcher/build/index.js")
const sample = fileURLToPath(new URL("../apps/sample/src/main.ts", import.meta.url))

const stdioTarget = ["--", process.execPath, "--import", "tsx", sample, "--transport", "stdio"]

const run = (args: ReadonlyArray<string>, target: ReadonlyArray<string> = stdioTarget) =>
  new Promise<unknown>((resolve, reject) => {
    execFile(
      process.execPath,
      // a command goes after the options (behind --); a URL before them (--tool-arg is variadic)
      [inspector, "--cli", ...(target[0] === "--" ? [...args, ...target] : [...target, ...args])],
      { timeout: 60_000, env: { ...process.env, MCP_CATALOG_PATH: "/dev/null" } },
      (error, stdout, stderr) => {
        if (error) return reject(new Error(`${error.message}\n${stderr}`))
        try {
          resolve(JSON.parse(stdout))
        } catch {
          reject(new Error(`not JSON: ${stdout}\n${stderr}`))
        }
      }
    )
  })

describe("MCP Inspector CLI → our sample server", () => {
  it("lists the tools", async () => {
    const result = await run(["--method", "tools/list"]) as { tools: Array<{ name: string }> }
    expect(result.tools.map((t) => t.name)).toEqual(["echo", "add", "countdown", "fail", "failure_mode", "top_risks", "greet_me", "now"])
  })

  it("calls a tool", async () => {
    expect(await run(["--method", "tools/call", "--tool-name", "echo", "--tool-arg", "message=from the inspector"])).toEqual({
      content: [{ type: "text", text: "from the inspector" }]
    })
    expect(await run(["--method", "tools/call", "--tool-name", "add", "--tool-arg", "a=2", "b=40"])).toMatchObject({
      structuredContent: { sum: 42 }
    })
  })

  it("reads a resource; sees a tool error as a tool error", async () => {
    const read = await run(["--method", "resources/read", "--uri", "fmea://modes/FM-01"]) as { contents: Array<{ text: string }> }
    expect(JSON.parse(read.contents[0]!.text)).toMatchObject({ id: "FM-01" })
    // the Inspector CLI exits non-zero for an isError result and says so
    await expect(run(["--method", "tools/call", "--tool-name", "fail", "--tool-arg", "kind=tool-error"])).rejects.toThrow(/tool_is_error/)
  })
})

describe("MCP Inspector CLI → our sample server over HTTP", () => {
  let server: ChildProcess | undefined
  let port = 0
  beforeAll(async () => {
    server = spawn(process.execPath, ["--import", "tsx", sample, "--transport", "http", "--port", "0", "--legacy-sse"], {
      stdio: ["ignore", "ignore", "pipe"]
    })
    port = await new Promise<number>((resolve, reject) => {
      let log = ""
      const timer = setTimeout(() => reject(new Error(`the sample server did not start: ${log}`)), 30_000)
      server!.stderr!.on("data", (d: Buffer) => {
        log += d.toString()
        const match = /127\.0\.0\.1:(\d+)/.exec(log)
        if (match !== null) {
          clearTimeout(timer)
          resolve(Number(match[1]))
        }
      })
    })
  }, 40_000)
  afterAll(() => {
    server?.kill("SIGTERM")
  })

  it("calls a tool over Streamable HTTP", async () => {
    expect(await run(["--method", "tools/call", "--tool-name", "echo", "--tool-arg", "message=over http"], [`http://127.0.0.1:${port}/mcp`])).toEqual({
      content: [{ type: "text", text: "over http" }]
    })
  })

  it("lists the tools over the deprecated HTTP+SSE transport", async () => {
    const result = await run(["--method", "tools/list"], [`http://127.0.0.1:${port}/sse`, "--transport", "sse"]) as { tools: Array<{ name: string }> }
    expect(result.tools.map((t) => t.name)).toContain("echo")
  })
})
