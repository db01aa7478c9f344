/** The MCP Inspector's CLI (a real process) lists and calls our sample server's tools. */
import { execFile } from "node:child_process"
import { createRequire } from "node:module"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"

const require = createRequire(import.meta.url)
const inspector = require.resolve("@modelcontextprotocol/inspector/package.json").replace(/package\.json$/, "clients/launcher/build/index.js")
const sample = fileURLToPath(new URL("../apps/sample/src/main.ts", import.meta.url))

const run = (args: ReadonlyArray<string>) =>
  new Promise<unknown>((resolve, reject) => {
    execFile(
      process.execPath,
      [inspector, "--cli", ...args, "--", process.execPath, "--import", "tsx", sample, "--transport", "stdio"],
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
