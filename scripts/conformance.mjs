#!/usr/bin/env node
/**
 * Runs the official MCP conformance referees against our conformance server or client and prints their
 * totals: @modelcontextprotocol/conformance 0.1.16 (the 2025-era wire) and 0.2.0-alpha.12 with the frozen
 * requirement sets of 2025-11-25 and 2026-07-28 (only scored scenarios decide its exit code).
 *
 *   node scripts/conformance.mjs server      # starts apps/conformance on a free port, runs the three referees
 *   node scripts/conformance.mjs client      # runs the referees' client scenarios against our client
 *
 * Exits non-zero when a referee reports a scored failure not listed in apps/conformance/expected-failures.yml.
 * Everything runs on 127.0.0.1 and stops by itself (each referee run is bounded in time).
 */
import { spawn } from "node:child_process"
import { existsSync, mkdtempSync } from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const bin = (p) => path.join(root, "node_modules", p)
const referees = {
  stable: bin("@modelcontextprotocol/conformance/dist/index.js"),
  alpha: bin("conformance-alpha/dist/index.js")
}
const tsx = bin("tsx/dist/cli.mjs")
const expected = path.join(root, "apps/conformance/expected-failures.yml")
const mode = process.argv[2]
if (mode !== "server" && mode !== "client") {
  console.error("usage: node scripts/conformance.mjs server|client")
  process.exit(2)
}

const freePort = () =>
  new Promise((resolve) => {
    const probe = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = probe.address()
      probe.close(() => resolve(port))
    })
  })

/** Runs a command, streaming nothing; resolves with its exit code and output (bounded by `timeoutMs`). */
const run = (args, cwd, timeoutMs) =>
  new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd, stdio: ["ignore", "pipe", "pipe"], env: process.env })
    let output = ""
    child.stdout.on("data", (d) => (output += d))
    child.stderr.on("data", (d) => (output += d))
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs)
    child.on("close", (code) => {
      clearTimeout(timer)
      resolve({ code: code ?? 1, output })
    })
  })

const summarize = (label, { code, output }) => {
  const total = output.match(/Total: (\d+) passed, (\d+) failed/)
  const scenarios = [...output.matchAll(/^([✓✗]) (\S+): (\d+) passed, (\d+) failed/gm)]
  const failing = scenarios.filter((m) => m[1] === "✗").map((m) => m[2])
  const notScored = output.match(/Not scored for [^:]+: (\d+) scenario\(s\) run, (\d+) failing/)
  console.log(
    `${code === 0 ? "PASS" : "FAIL"}  ${label}: ${scenarios.length} scenarios, ${scenarios.length - failing.length} passing` +
      (total ? ` (${total[1]} checks passed, ${total[2]} failed)` : "") +
      (notScored ? `; not scored: ${notScored[1]} run, ${notScored[2]} failing` : "")
  )
  if (failing.length > 0) console.log(`      failing: ${failing.join(", ")}`)
  if (code !== 0 && scenarios.length === 0) console.log(output.split("\n").slice(-15).join("\n"))
  return code === 0
}

const work = mkdtempSync(path.join(os.tmpdir(), "effect-mcp-conformance-"))
const expectations = existsSync(expected) ? ["--expected-failures", expected] : []
let ok = true

if (mode === "server") {
  const port = await freePort()
  const server = spawn(process.execPath, [tsx, path.join(root, "apps/conformance/src/serve.ts"), "--port", String(port)], {
    cwd: root,
    stdio: ["ignore", "ignore", "pipe"]
  })
  let log = ""
  server.stderr.on("data", (d) => (log += d))
  const url = `http://127.0.0.1:${port}/mcp`
  const started = Date.now()
  while (!log.includes("conformance server on")) {
    if (Date.now() - started > 30_000 || server.exitCode !== null) {
      console.error(`the conformance server did not start:\n${log}`)
      server.kill("SIGKILL")
      process.exit(1)
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  try {
    ok = summarize("0.1.16 server (active suite)", await run([referees.stable, "server", "--url", url], work, 600_000)) && ok
    for (const revision of ["2025-11-25", "2026-07-28"]) {
      ok = summarize(
        `0.2.0-alpha.12 server --requirements ${revision}`,
        await run([referees.alpha, "server", "--url", url, "--requirements", revision, ...expectations], work, 600_000)
      ) && ok
    }
  } finally {
    server.kill("SIGTERM")
  }
} else {
  // the referees start one client per scenario, many at once: a bundle starts in a fraction of tsx's time,
  // which keeps timing-sensitive scenarios (sse-retry) honest on a small, busy machine
  const { build } = await import("esbuild")
  const bundle = path.join(work, "client.mjs")
  await build({
    entryPoints: [path.join(root, "apps/conformance/src/client.ts")],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node22",
    outfile: bundle,
    banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
    logLevel: "warning"
  })
  const command = `${process.execPath} ${bundle}`
  // clients start in parallel (one tsx process per scenario): on a small machine they need more than 30 s
  const timeout = ["--timeout", "120000"]
  // 0.1.16 runs a suite's clients all at once, which on a two-core machine can make a timing check (sse-retry's
  // ±200 ms) fail for the machine's sake: its scenarios run one at a time instead
  const listed = await run([referees.stable, "list", "--client"], work, 60_000)
  const scenarios = [...listed.output.matchAll(/^\s+- (\S+) \[/gm)].map((m) => m[1])
  const outputs = []
  let failed = 0
  for (const scenario of scenarios) {
    const result = await run([referees.stable, "client", "--command", command, "--scenario", scenario, ...timeout, ...expectations], work, 300_000)
    if (result.code !== 0) failed++
    const counts = result.output.match(/Passed: (\d+)\/(\d+), (\d+) failed/)
    outputs.push(`${result.code === 0 ? "✓" : "✗"} ${scenario}: ${counts ? counts[1] : 0} passed, ${counts ? counts[3] : "?"} failed`)
  }
  const totals = outputs.reduce((acc, line) => {
    const m = line.match(/: (\d+) passed, (\d+|\?) failed/)
    return m ? [acc[0] + Number(m[1]), acc[1] + (m[2] === "?" ? 0 : Number(m[2]))] : acc
  }, [0, 0])
  ok = summarize("0.1.16 client (every scenario, one at a time)", {
    code: failed === 0 ? 0 : 1,
    output: `${outputs.join("\n")}\nTotal: ${totals[0]} passed, ${totals[1]} failed\n`
  }) && ok
  for (const revision of ["2025-11-25", "2026-07-28"]) {
    ok = summarize(
      `0.2.0-alpha.12 client --requirements ${revision}`,
      await run([referees.alpha, "client", "--command", command, "--requirements", revision, ...timeout, ...expectations], work, 900_000)
    ) && ok
  }
}
process.exit(ok ? 0 : 1)
