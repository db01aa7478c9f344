// The FMEA mutation check: for each mutant of packages/faults/mutants/Mutants.ts (a mitigation removed or
// disabled), runs the mode's proving tests and expects at least one of them to fail.
//
// The working tree is never written to (other people edit and test it at the same time), except for the
// report, docs/fmea-mutants.md, on a full run. Each worker copies the repository to a temporary directory
// (real copies, no hard links), links node_modules to the originals except the workspace packages, which are
// linked to the copy's own packages, checks that with a deliberate mutation, and mutates only there.
//
//   pnpm fmea:mutants                  every mutant; writes docs/fmea-mutants.md; exit 1 on a survivor
//   pnpm fmea:mutants --mode FM-15     the mutants of one mode (repeatable; nothing written)
//   pnpm fmea:mutants --id FM-15b      one mutant (repeatable; nothing written)
//   pnpm fmea:mutants --list           the table, and whether every `find` is still there exactly once
//   pnpm fmea:mutants --report F       rewrites docs/fmea-mutants.md from a run's results (F: the JSON a full run
//                                      saves in the temporary directory), with the table's current notes
//   pnpm fmea:mutants --id X --merge F reruns some mutants and merges them into F's results, then rewrites the report
//   options: --jobs N (parallel copies, default 1), --timeout S (per mutant, default 180), --keep (keep copies)
import { spawn } from "node:child_process"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"

const major = Number(process.versions.node.split(".")[0])
if (!Number.isInteger(major) || major < 22) {
  console.error(`fmea-mutants needs Node 22+ (this is ${process.versions.node}); run it with \`pnpm fmea:mutants\`.`)
  process.exit(1)
}

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const TABLE = path.join(ROOT, "packages/faults/mutants/Mutants.ts")
const REPORT = path.join(ROOT, "docs/fmea-mutants.md")
/** Top-level entries never copied. */
const SKIP_TOP = new Set([".git", "node_modules"])
/** Caches inside node_modules: never linked (a run in the copy must not write into the original's). */
const CACHES = new Set([".vite", ".vite-temp", ".vitest", ".vitest-cache", ".cache"])

// ---- arguments ----------------------------------------------------------------------------------------

const args = process.argv.slice(2)
const opt = { modes: [], ids: [], list: false, jobs: 1, timeout: 180, keep: false, report: undefined, merge: undefined }
for (let i = 0; i < args.length; i++) {
  const a = args[i]
  const value = () => {
    const v = args[++i]
    if (v === undefined) throw new Error(`${a} needs a value`)
    return v
  }
  if (a === "--mode") opt.modes.push(value())
  else if (a === "--id") opt.ids.push(value())
  else if (a === "--list") opt.list = true
  else if (a === "--jobs") opt.jobs = Math.max(1, Number(value()))
  else if (a === "--timeout") opt.timeout = Math.max(10, Number(value()))
  else if (a === "--keep") opt.keep = true
  else if (a === "--report") opt.report = value()
  else if (a === "--merge") opt.merge = value()
  else {
    console.error(`unknown argument ${a}`)
    process.exit(2)
  }
}

// ---- the table ----------------------------------------------------------------------------------------

const loadTable = async () => {
  try {
    // Node 22.18+ strips types natively; the table is data with type-only imports
    return await import(pathToFileURL(TABLE).href)
  } catch {
    const { tsImport } = await import("tsx/esm/api")
    return await tsImport(pathToFileURL(TABLE).href, import.meta.url)
  }
}
const { mutants: allMutants } = await loadTable()

const occurrences = (text, find) => {
  let n = 0
  for (let at = text.indexOf(find); at !== -1; at = text.indexOf(find, at + 1)) n++
  return n
}

/** Every mutant's `find` must occur exactly once in its file of the working tree (read only). */
const checkFinds = (list) =>
  list.map((m) => {
    const file = path.join(ROOT, m.file)
    if (!fs.existsSync(file)) return { mutant: m, problem: `file ${m.file} does not exist` }
    const n = occurrences(fs.readFileSync(file, "utf8"), m.find)
    return n === 1 ? { mutant: m, problem: undefined } : { mutant: m, problem: `find occurs ${n} times in ${m.file}` }
  })

const selected = allMutants.filter((m) =>
  (opt.modes.length === 0 && opt.ids.length === 0) || opt.modes.includes(m.mode) || opt.ids.includes(m.id)
)
const full = opt.modes.length === 0 && opt.ids.length === 0

if (opt.list) {
  for (const { mutant: m, problem } of checkFinds(selected)) {
    console.log(`${m.id.padEnd(7)} ${problem === undefined ? "ok  " : "MISSING"} ${m.file}  ${m.description}`)
    for (const t of m.tests) console.log(`          ${t.file} › ${t.name}`)
    if (problem !== undefined) console.log(`          ${problem}`)
  }
  process.exit(checkFinds(selected).some((c) => c.problem !== undefined) ? 1 : 0)
}
if (opt.report !== undefined) {
  const saved = JSON.parse(fs.readFileSync(opt.report, "utf8"))
  writeReport(saved)
  process.exit(0)
}
if (selected.length === 0) {
  console.error("no mutant selected")
  process.exit(2)
}

// ---- the copies ---------------------------------------------------------------------------------------

const base = fs.mkdtempSync(path.join(os.tmpdir(), "fmea-mutants-"))
/** Refuses any write outside the temporary directory: the working tree is read only for this script. */
const guard = (p) => {
  const resolved = path.resolve(p)
  if (!resolved.startsWith(base + path.sep)) throw new Error(`refusing to write outside ${base}: ${resolved}`)
  return resolved
}
const write = (p, text) => fs.writeFileSync(guard(p), text)

const workspaceDirs = () =>
  ["packages", "apps"].flatMap((group) =>
    fs.readdirSync(path.join(ROOT, group), { withFileTypes: true })
      .filter((d) => d.isDirectory() && fs.existsSync(path.join(ROOT, group, d.name, "package.json")))
      .map((d) => path.join(group, d.name))
  )

/** A node_modules link target: a workspace package maps into the copy, anything else stays the original. */
const linkTarget = (copy, original) => {
  const real = fs.realpathSync(original)
  const relative = path.relative(ROOT, real)
  const inWorkspace = !relative.startsWith("..") && !path.isAbsolute(relative) && !relative.split(path.sep).includes("node_modules")
  return inWorkspace ? path.join(copy, relative) : real
}

/** Recreates a node_modules directory in the copy: a real directory of links. */
const linkNodeModules = (copy, from, to) => {
  fs.mkdirSync(guard(to), { recursive: true })
  for (const entry of fs.readdirSync(from, { withFileTypes: true })) {
    if (CACHES.has(entry.name)) continue
    const source = path.join(from, entry.name)
    const target = path.join(to, entry.name)
    if (entry.name.startsWith("@") && entry.isDirectory()) {
      linkNodeModules(copy, source, target)
      continue
    }
    if (!fs.existsSync(source)) continue // a dangling link
    fs.symlinkSync(linkTarget(copy, source), guard(target))
  }
}

const makeCopy = (name) => {
  const copy = path.join(base, name)
  fs.mkdirSync(guard(copy))
  for (const entry of fs.readdirSync(ROOT)) {
    if (SKIP_TOP.has(entry)) continue
    // cpSync copies file contents (never hard links); node_modules inside packages are recreated below
    fs.cpSync(path.join(ROOT, entry), guard(path.join(copy, entry)), {
      recursive: true,
      verbatimSymlinks: true,
      filter: (src) => path.basename(src) !== "node_modules" && path.basename(src) !== ".git"
    })
  }
  linkNodeModules(copy, path.join(ROOT, "node_modules"), path.join(copy, "node_modules"))
  for (const dir of workspaceDirs()) {
    const nm = path.join(ROOT, dir, "node_modules")
    if (fs.existsSync(nm)) linkNodeModules(copy, nm, path.join(copy, dir, "node_modules"))
  }
  return copy
}

/** Every @effect-mcp/* link of the copy resolves inside the copy (else a mutation would not be seen). */
const checkLinks = (copy) => {
  const problems = []
  const nms = [path.join(copy, "node_modules"), ...workspaceDirs().map((d) => path.join(copy, d, "node_modules"))]
  for (const nm of nms) {
    const scope = path.join(nm, "@effect-mcp")
    if (!fs.existsSync(scope)) continue
    for (const name of fs.readdirSync(scope)) {
      const real = fs.realpathSync(path.join(scope, name))
      if (!real.startsWith(copy + path.sep)) problems.push(`${path.relative(copy, scope)}/${name} → ${real}`)
    }
  }
  if (problems.length > 0) throw new Error(`the copy's workspace links leave the copy:\n  ${problems.join("\n  ")}`)
}

// ---- running tests ------------------------------------------------------------------------------------

const escapeRegExp = (s) => s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")

/** Runs vitest in a copy on the given tests; resolves with what happened, never rejects. */
const runTests = (copy, tests, timeoutS) =>
  new Promise((resolve) => {
    const files = [...new Set(tests.map((t) => t.file))]
    const pattern = tests.map((t) => `(${escapeRegExp(t.name)})`).join("|")
    const out = path.join(copy, `.fmea-${crypto.randomUUID()}.json`)
    const log = []
    const started = Date.now()
    const child = spawn("pnpm", ["exec", "vitest", "run", ...files, "-t", pattern, "--reporter=json", `--outputFile=${out}`], {
      cwd: copy,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, CI: "1", FORCE_COLOR: "0" }
    })
    child.stdout.on("data", (d) => log.push(d))
    child.stderr.on("data", (d) => log.push(d))
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      try {
        process.kill(-child.pid, "SIGKILL") // the vitest process group this script started
      } catch {}
    }, timeoutS * 1000)
    child.on("close", (code) => {
      clearTimeout(timer)
      const seconds = (Date.now() - started) / 1000
      let results = []
      try {
        const json = JSON.parse(fs.readFileSync(out, "utf8"))
        results = json.testResults.flatMap((f) =>
          f.assertionResults.map((a) => ({ file: path.relative(copy, f.name), name: a.title, status: a.status }))
        )
        fs.rmSync(guard(out))
      } catch {}
      const named = tests.map((t) => ({
        ...t,
        status: results.find((r) => r.file === t.file && r.name === t.name)?.status ?? "missing"
      }))
      resolve({ code, timedOut, seconds, named, log: Buffer.concat(log).toString("utf8") })
    })
  })

/** killed: a named test failed (or the run hung); survived: every named test passed; error: anything else. */
const verdict = (run) => {
  if (run.timedOut) return { result: "killed", how: "timeout" }
  if (run.named.some((t) => t.status === "failed")) return { result: "killed", how: run.named.filter((t) => t.status === "failed").length + " failed" }
  if (run.named.every((t) => t.status === "passed") && run.code === 0) return { result: "survived", how: "all passed" }
  const missing = run.named.filter((t) => t.status !== "passed").map((t) => `${t.status}: ${t.name}`)
  return { result: "error", how: missing.length > 0 ? missing.join("; ") : `vitest exited ${run.code}` }
}

// ---- the canary: one deliberate mutation that the copy's tests must see -----------------------------------

const CANARY_TEST = `import { expect, it } from "@effect/vitest"
import { FrameDecoder } from "@effect-mcp/jsonrpc"
it("fmea canary", () => {
  expect(FrameDecoder.DEFAULT_MAX_FRAME_BYTES).toBe(4242)
})
`
const canary = async (copy) => {
  const source = path.join(copy, "packages/jsonrpc/src/FrameDecoder.ts")
  const original = fs.readFileSync(source, "utf8")
  const find = "export const DEFAULT_MAX_FRAME_BYTES = 4 * 1024 * 1024"
  if (occurrences(original, find) !== 1) throw new Error("canary: FrameDecoder.ts changed; update the canary")
  // imported through the root's link and through another package's link
  const places = ["test/fmea-canary.test.ts", "packages/server/test/fmea-canary.test.ts"]
  for (const p of places) write(path.join(copy, p), CANARY_TEST)
  const tests = places.map((file) => ({ file, name: "fmea canary" }))
  try {
    const before = await runTests(copy, tests, 120)
    if (!before.named.every((t) => t.status === "failed")) {
      throw new Error(`canary: unmutated, the canary should fail:\n${before.log.slice(-2000)}`)
    }
    write(source, original.replace(find, "export const DEFAULT_MAX_FRAME_BYTES = 4242"))
    const after = await runTests(copy, tests, 120)
    if (!after.named.every((t) => t.status === "passed")) {
      throw new Error(`canary: the copy's tests do not see a mutation of the copy:\n${after.log.slice(-2000)}`)
    }
  } finally {
    write(source, original)
    for (const p of places) fs.rmSync(guard(path.join(copy, p)), { force: true })
  }
}

// ---- main ---------------------------------------------------------------------------------------------

const finds = checkFinds(selected)
const missing = finds.filter((c) => c.problem !== undefined)
for (const { mutant, problem } of missing) console.error(`✗ ${mutant.id}: ${problem}`)
const runnable = finds.filter((c) => c.problem === undefined).map((c) => c.mutant)

const t0 = Date.now()
const workers = Math.min(opt.jobs, Math.max(1, runnable.length))
console.log(`${runnable.length} mutants, ${workers} worker(s), copies under ${base}`)
const copies = []
for (let w = 0; w < workers; w++) {
  const copy = makeCopy(`w${w}`)
  checkLinks(copy)
  copies.push(copy)
}
await canary(copies[0])
console.log(`canary: the copy's tests see a mutation made in the copy (links checked in ${copies.length} copies)`)

// baseline: every test the selected mutants run passes unmutated (one run per test file, in the first copy)
const byFile = new Map()
for (const m of runnable) for (const t of m.tests) byFile.set(t.file, [...(byFile.get(t.file) ?? []), t])
const baselineFailures = new Map()
{
  const files = [...byFile.keys()]
  let next = 0
  await Promise.all(copies.map(async (copy) => {
    while (next < files.length) {
      const file = files[next++]
      const tests = [...new Map(byFile.get(file).map((t) => [t.name, t])).values()]
      const run = await runTests(copy, tests, opt.timeout)
      for (const t of run.named) if (t.status !== "passed") baselineFailures.set(`${t.file} › ${t.name}`, t.status)
      console.log(`baseline ${file}: ${run.named.filter((t) => t.status === "passed").length}/${run.named.length} passed (${run.seconds.toFixed(1)} s)`)
    }
  }))
}
for (const [test, status] of baselineFailures) console.error(`✗ baseline: ${status}: ${test}`)

const results = []
{
  let next = 0
  await Promise.all(copies.map(async (copy) => {
    while (next < runnable.length) {
      const m = runnable[next++]
      const broken = m.tests.filter((t) => baselineFailures.has(`${t.file} › ${t.name}`))
      if (broken.length > 0) {
        results.push({ mutant: m, result: "error", how: "a test fails unmutated (baseline)", seconds: 0 })
        console.log(`? ${m.id} skipped: baseline failure`)
        continue
      }
      const file = path.join(copy, m.file)
      const original = fs.readFileSync(file, "utf8")
      if (occurrences(original, m.find) !== 1) throw new Error(`${m.id}: the copy differs from the working tree`)
      write(file, original.replace(m.find, () => m.replace))
      let run
      try {
        run = await runTests(copy, m.tests, opt.timeout)
      } finally {
        write(file, original)
      }
      if (fs.readFileSync(file, "utf8") !== original) throw new Error(`${m.id}: ${m.file} not restored in the copy`)
      const v = verdict(run)
      results.push({ mutant: m, ...v, seconds: run.seconds, named: run.named })
      const mark = v.result === "killed" ? "✓" : v.result === "survived" ? "✗" : "?"
      console.log(`${mark} ${m.id} ${v.result} (${v.how}) ${run.seconds.toFixed(1)} s — ${m.description}`)
      if (v.result === "error") console.log(run.log.slice(-3000))
    }
  }))
}
if (!opt.keep && path.dirname(base) === path.resolve(os.tmpdir())) fs.rmSync(base, { recursive: true, force: true })

// ---- the report ---------------------------------------------------------------------------------------

const LAST = path.join(os.tmpdir(), "fmea-mutants-last.json")
let saved = {
  when: new Date().toISOString(),
  seconds: (Date.now() - t0) / 1000,
  workers,
  results: results.map(({ how, mutant, result, seconds }) => ({ id: mutant.id, result, how, seconds })),
  missing: missing.map(({ mutant, problem }) => ({ id: mutant.id, problem }))
}
const count = (r) => saved.results.filter((x) => x.result === r).length
console.log(`\n${summaryOf(saved)}`)
const exitCode = count("survived") > 0 || count("error") > 0 || saved.missing.length > 0 ? 1 : 0
if (opt.merge !== undefined) {
  const before = JSON.parse(fs.readFileSync(opt.merge, "utf8"))
  const rerun = new Set([...saved.results, ...saved.missing].map((r) => r.id))
  saved = {
    ...before,
    results: [...before.results.filter((r) => !rerun.has(r.id)), ...saved.results],
    missing: [...before.missing.filter((r) => !rerun.has(r.id)), ...saved.missing],
    reruns: [...(before.reruns ?? []), { when: saved.when, ids: [...rerun] }]
  }
  fs.writeFileSync(opt.merge, JSON.stringify(saved, null, 2))
  writeReport(saved)
} else if (full) {
  fs.writeFileSync(LAST, JSON.stringify(saved, null, 2))
  console.log(`results saved in ${LAST}`)
  writeReport(saved)
}
process.exit(exitCode)

function summaryOf(run) {
  const n = (r) => run.results.filter((x) => x.result === r).length
  return `${run.results.length + run.missing.length} mutants: ${n("killed")} killed, ${n("survived")} survived, ${n("error")} errors` +
    (run.missing.length > 0 ? `, ${run.missing.length} with a missing find` : "") +
    `; ${Math.round(run.seconds)} s with ${run.workers} worker(s)`
}

/** Writes docs/fmea-mutants.md from a run's results and the table as it is now (its notes on survivors). */
function writeReport(run) {
  const byId = new Map(allMutants.map((m) => [m.id, m]))
  const order = new Map(allMutants.map((m, i) => [m.id, i]))
  const rows = [...run.results, ...run.missing.map((r) => ({ id: r.id, result: "error", how: r.problem, seconds: 0 }))]
    .filter((r) => byId.has(r.id))
    .sort((a, b) => order.get(a.id) - order.get(b.id))
  const cell = (s) => String(s).replace(/\|/g, "\\|").replace(/\n/g, " ")
  const tests = (m) => m.tests.map((t) => cell(`${t.file} › ${t.name}`)).join("<br>")
  const result = (r) => r.result === "killed" ? `killed (${r.how})` : r.result === "survived" ? "**survived**" : `error: ${cell(r.how)}`
  const lines = [
    "# FMEA mutation check",
    "",
    "Generated by `pnpm fmea:mutants` (scripts/fmea-mutants.mjs) from the table in",
    "`packages/faults/mutants/Mutants.ts`. Each mutant removes or disables one mitigation of a mode of",
    "`packages/faults/src/FailureMode.ts`, in a temporary copy of the repository; the mode's proving tests run",
    "against it and must fail (*killed*). A *survived* mutant is a finding: the tests do not prove that",
    "mitigation. A hang past the per-mutant bound counts as killed (by timeout). *error*: the tests could not",
    "tell (a test fails unmutated, or a `find` is gone).",
    "",
    `Run: ${run.when.slice(0, 16).replace("T", " ")} UTC — ${summaryOf(run)}.` +
      (run.reruns === undefined ? "" : ` Rerun since: ${run.reruns.map((r) => `${r.ids.join(", ")} (${r.when.slice(0, 16).replace("T", " ")})`).join("; ")}.`),
    "",
    "| Mutant | Mode | What is removed | File | Test(s) | Result | Seconds |",
    "| --- | --- | --- | --- | --- | --- | --- |",
    ...rows.map((r) => {
      const m = byId.get(r.id)
      return `| ${m.id} | ${m.mode} | ${cell(m.description)} | \`${m.file}\` | ${tests(m)} | ${result(r)} | ${r.seconds.toFixed(1)} |`
    }),
    ""
  ]
  const survivors = rows.filter((r) => r.result === "survived")
  if (survivors.length > 0) {
    lines.push("## Survivors", "")
    for (const r of survivors) lines.push(`- **${r.id}** (${byId.get(r.id).mode}): ${byId.get(r.id).note ?? "no analysis recorded yet"}`)
    lines.push("")
  }
  const errors = rows.filter((r) => r.result === "error")
  if (errors.length > 0) {
    lines.push("## Errors", "")
    for (const r of errors) lines.push(`- **${r.id}**: ${cell(r.how)}${byId.get(r.id).note === undefined ? "" : ` — ${byId.get(r.id).note}`}`)
    lines.push("")
  }
  fs.writeFileSync(REPORT, lines.join("\n"))
  console.log(`wrote ${path.relative(ROOT, REPORT)}`)
}
