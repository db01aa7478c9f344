/**
 * `pnpm chaos [--full] [--only a,b] [--no-write]`: the chaos harness. Runs every scenario (each bounded in
 * time and count), prints the figures, writes them to `docs/reliability.md`, and exits non-zero when a goal
 * figure is missed. The short run (default) takes a minute or two; `--full` runs the goal figures (about a
 * quarter of an hour on a 2-core machine). `--only` runs some scenarios and writes nothing.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Effect from "effect/Effect"
import type * as ChaosServer from "./ChaosServer.ts"
import { connect } from "./Clients.ts"
import { type Context, budgets } from "./Context.ts"
import { clientDiagnostics, isAlive, MemoryMonitor, now, startServer } from "./Harness.ts"
import * as Report from "./Report.ts"
import { connectionFlood, floods, slowloris } from "./scenarios/Abuse.ts"
import { fuzz } from "./scenarios/Fuzz.ts"
import { flap, kill9 } from "./scenarios/Outages.ts"
import { keyed, policy } from "./scenarios/Policy.ts"
import { stdio } from "./scenarios/Stdio.ts"
import { mixedFaults, steady } from "./scenarios/Steady.ts"

const args = process.argv.slice(2)
if (args.includes("--help")) {
  process.stdout.write("usage: pnpm chaos [--full] [--only policy,keyed,steady,mixed,flap,kill9,slowloris,floods,connflood,stdio,fuzz] [--no-write]\n")
  process.exit(0)
}
const mode = args.includes("--full") ? "full" : "short"
const onlyIndex = args.indexOf("--only")
const only = onlyIndex === -1 ? undefined : new Set((args[onlyIndex + 1] ?? "").split(","))
const write = !args.includes("--no-write") && only === undefined

const scenarios: ReadonlyArray<readonly [string, (ctx: Context) => Promise<void>]> = [
  ["policy", policy],
  ["keyed", keyed],
  ["steady", steady],
  ["mixed", mixedFaults],
  ["flap", flap],
  ["kill9", kill9],
  ["slowloris", slowloris],
  ["floods", floods],
  ["connflood", connectionFlood],
  ["stdio", stdio],
  ["fuzz", fuzz]
]

const log = (line: string) => process.stderr.write(`${line}\n`)
const started = now()
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "effect-mcp-chaos-"))
const mainLedger = path.join(dir, "main.ledger")
const monitor = new MemoryMonitor()
monitor.start()

log(`chaos (${mode}): ledgers in ${dir}`)
const startMain = () => startServer({ tcp: 0, ws: 0, http: 0, ledger: mainLedger })
const ctx: Context = {
  mode,
  budget: budgets[mode],
  dir,
  main: await startMain(),
  mainLedger,
  monitor,
  rows: [],
  goals: [],
  observations: [],
  log,
  crashes: 0
}
monitor.watch(ctx.main.pid)

const errors: Array<string> = []
for (const [name, scenario] of scenarios) {
  if (only !== undefined && !only.has(name)) continue
  const t = now()
  log(`${name}…`)
  try {
    await scenario(ctx)
  } catch (error) {
    errors.push(`${name}: ${error instanceof Error ? error.stack ?? error.message : String(error)}`)
    log(`${name} failed: ${String(error)}`)
  }
  if (!isAlive(ctx.main.pid) || ctx.main.child.exitCode !== null || ctx.main.child.signalCode !== null) {
    ctx.crashes++
    ctx.observations.push(`The main chaos server died during "${name}": ${ctx.main.stderr().slice(-1_000)}`)
    monitor.unwatch(ctx.main.pid)
    ctx.main = await startMain()
    monitor.watch(ctx.main.pid)
  }
  log(`${name} done in ${((now() - t) / 1000).toFixed(1)} s`)
}
// what the main server says about itself at the end: live heap (after a collection), RSS, SDK diagnostics
try {
  const client = await connect({ name: "final-stats", kind: "tcp", era: "stateless", port: ctx.main.tcp! }, now() + 20_000)
  const result = await Effect.runPromise(client.client.callTool("stats", {}, { timeout: "10 seconds" }))
  await client.close()
  const stats = JSON.parse((result.content[0] as { readonly text: string }).text) as ChaosServer.ServerStats
  const diagnostics = Object.entries(stats.diagnostics).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k}: ${v.toLocaleString("en-US")}`).join("; ")
  ctx.observations.push(
    `The main server at the end (${stats.charges.toLocaleString("en-US")} charges of ${stats.keys.toLocaleString("en-US")} keys since its start, ${stats.duplicateKeys.toLocaleString("en-US")} keys charged more than once by it): heap ${stats.heapUsedMiB} MiB after a collection, RSS ${stats.rssMiB} MiB. SDK diagnostics it logged, by FMEA mode: ${diagnostics || "none"}.`
  )
} catch (error) {
  ctx.observations.push(`The main server did not answer \`stats\` at the end: ${String(error)}`)
}
await ctx.main.stop()
monitor.stop()

// ---- goals -----------------------------------------------------------------------------------------------
const rows = ctx.rows
const sum = (f: (r: Report.Row) => number, filter: (r: Report.Row) => boolean = () => true) =>
  rows.filter(filter).reduce((n, r) => n + f(r), 0)
const lost = sum((r) => r.lost)
const duplicated = sum((r) => r.duplicated)
const crashes = sum((r) => r.crashes) + ctx.crashes
ctx.goals.unshift(
  { name: "0 lost calls (no answer and no typed error)", ok: lost === 0, detail: `${lost} lost over ${sum((r) => r.sent).toLocaleString("en-US")} calls` },
  { name: "0 duplicated side effects for keyed calls", ok: duplicated === 0, detail: `${duplicated} keys charged more than once` },
  { name: "0 crashes (defects, or a server that died unkilled)", ok: crashes === 0, detail: `${crashes}` }
)
if (mode === "full" && (only === undefined || only.has("mixed"))) {
  for (const kind of ["tcp", "ws", "http"]) {
    const mixedRows = rows.filter((r) => r.scenario === "mixed faults" && r.transport === kind)
    const calls = mixedRows.reduce((n, r) => n + r.sent, 0)
    const target = ctx.budget.mixedCalls
    ctx.goals.push({
      name: `${target.toLocaleString("en-US")} calls over ${kind} under mixed faults`,
      ok: calls >= target,
      detail: `${calls.toLocaleString("en-US")} calls, ${mixedRows.reduce((n, r) => n + r.lost, 0)} lost, ${mixedRows.reduce((n, r) => n + r.duplicated, 0)} duplicated`
    })
  }
}
for (const error of errors) ctx.goals.push({ name: "scenario ran to the end", ok: false, detail: error.split("\n")[0]! })

const elapsed = (now() - started) / 1000
const diagnostics = [...clientDiagnostics].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k}: ${v.toLocaleString("en-US")}`).join("; ")
const section = [
  `## ${mode === "full" ? "Full run (`pnpm chaos --full`)" : "Short run (`pnpm chaos`, CI)"}`,
  "",
  `${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC, ${elapsed.toFixed(0)} s. ${Report.machine()}.`,
  "",
  "### Goals",
  "",
  Report.goalsTable(ctx.goals),
  "",
  "### Figures",
  "",
  Report.table(rows),
  "",
  "### Failures, recovery and notes by row",
  "",
  Report.details(rows),
  "",
  "### A sample message of each failure kind",
  "",
  Report.samples(rows) || "(none)",
  "",
  "### What the figures point at",
  "",
  "Known causes, listed only when this run showed their signature:",
  "",
  Report.diagnose(rows, ctx.goals),
  "",
  "### Observations",
  "",
  ...(ctx.observations.length === 0 ? ["(none)"] : ctx.observations.map((o) => `- ${o}`)),
  `- SDK diagnostics logged on the client side, by FMEA mode: ${diagnostics || "none"}.`,
  ""
].join("\n")

process.stdout.write(section + "\n")
if (write) {
  const target = fileURL("../../../docs/reliability.md")
  Report.write(target, mode, section)
  log(`wrote ${target}`)
}
const failed = ctx.goals.filter((g) => !g.ok)
log(failed.length === 0 ? "every goal met" : `goals missed: ${failed.map((g) => g.name).join("; ")}`)
fs.rmSync(dir, { recursive: true, force: true })
process.exit(failed.length === 0 ? 0 : 1)

function fileURL(relative: string): string {
  return new URL(relative, import.meta.url).pathname
}
