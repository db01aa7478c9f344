import { describe, expect, it } from "@effect/vitest"
import { spawn } from "node:child_process"
import { createRequire } from "node:module"
import { fileURLToPath } from "node:url"

const tsxCli = createRequire(import.meta.url).resolve("tsx/cli")
const main = fileURLToPath(new URL("../src/main.ts", import.meta.url))

/** Runs the sample app as a real child process with the given stdin; resolves with its output and exit code. */
const run = (args: ReadonlyArray<string>, input: string | Uint8Array) =>
  new Promise<{ stdout: string; stderr: string; code: number | null }>((resolve, reject) => {
    const child = spawn(process.execPath, [tsxCli, main, ...args], { stdio: ["pipe", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d))
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d))
    const timer = setTimeout(() => {
      child.kill("SIGKILL")
      reject(new Error(`sample app did not exit; stderr: ${stderr}`))
    }, 30_000)
    child.on("error", reject)
    child.on("close", (code) => {
      clearTimeout(timer)
      resolve({ stdout, stderr, code })
    })
    child.stdin.end(input)
  })

describe("sample app --decode", () => {
  it("decodes each frame on stdin into one JSON line on stdout, errors typed with their FMEA mode", async () => {
    const input = [
      "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}",
      "{\"jsonrpc\":\"2.0\",",
      "{\"jsonrpc\":\"1.0\",\"id\":7,\"method\":\"ping\"}",
      "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}",
      "x".repeat(100),
      "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{}}"
    ].join("\n") + "\n"
    const { stdout, code } = await run(["--decode", "--max-frame-bytes", "64"], input)
    expect(code).toBe(0)
    const lines = stdout.trimEnd().split("\n").map((l) => JSON.parse(l))
    expect(lines).toHaveLength(6)
    expect(lines[0]).toMatchObject({ ok: true, kind: "request", message: { id: 1, method: "ping" } })
    expect(lines[1]).toMatchObject({
      ok: false,
      error: { _tag: "MalformedJson", mode: "FM-08" },
      response: { id: null, error: { code: -32700 } }
    })
    expect(lines[2]).toMatchObject({
      ok: false,
      error: { _tag: "InvalidMessage", mode: "FM-47" },
      response: { id: 7, error: { code: -32600 } }
    })
    expect(lines[3]).toMatchObject({ ok: true, kind: "notification" })
    expect(lines[4]).toMatchObject({ ok: false, error: { _tag: "FrameTooLarge", mode: "FM-01" } })
    expect(lines[5]).toMatchObject({ ok: true, kind: "success" })
  })

  it("reports invalid UTF-8 and a truncated last frame without crashing", async () => {
    const input = new Uint8Array([0xff, 0xfe, 0x0a, ...new TextEncoder().encode("{\"jsonrpc\":\"2.0\",\"id\":3,\"meth")])
    const { stdout, code } = await run(["--decode"], input)
    expect(code).toBe(0)
    const lines = stdout.trimEnd().split("\n").map((l) => JSON.parse(l))
    expect(lines.map((l) => l.error?._tag)).toEqual(["InvalidUtf8", "TruncatedFrame"])
    expect(lines.map((l) => l.error?.mode)).toEqual(["FM-50", "FM-30"])
  })

  it("--help prints the options and the top RPN modes", async () => {
    const { stdout, code } = await run(["--help"], "")
    expect(code).toBe(0)
    expect(stdout).toContain("--max-frame-bytes")
    expect(stdout).toContain("FM-01")
    expect(stdout).toContain("RPN 336")
  })

  it("a bad --max-frame-bytes fails with a clear message", async () => {
    const { stderr, code } = await run(["--decode", "--max-frame-bytes", "nope"], "")
    expect(code).not.toBe(0)
    expect(stderr).toContain("--max-frame-bytes must be a positive integer")
  })
})
