/**
 * FM-43 (timer process crash): the library's timers are Effect's `Clock` and `Schedule` (fibers, supervised
 * where they are periodic, driven by the TestClock in tests), never raw Node timers. This scans every source
 * file of `packages/*\/src` for `setTimeout`, `setInterval` and `setImmediate` (called, passed as values, read
 * from `globalThis`, or imported from `node:timers`) and fails on any use the allow-list below does not name.
 *
 * Each allowed use has its reason and a verdict: `keep` (not a timer that can fire into a dead owner or be
 * lost: e.g. setImmediate coalescing one turn's frames) or `replace` (a real timer at a Node-callback edge
 * that should become a fiber; listed so that it is known and counted, never silently joined by another).
 * Counts are exact: removing a use fails the test too, so the list never keeps a stale permission.
 */
import { describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")

type Timer = "setTimeout" | "setInterval" | "setImmediate" | "node:timers"

interface Allowed {
  /** Relative to the repository root. */
  readonly file: string
  readonly timer: Timer
  /** Exactly how many uses of `timer` the file has. */
  readonly count: number
  readonly verdict: "keep" | "replace"
  readonly reason: string
}

const allowed: ReadonlyArray<Allowed> = [
  {
    file: "packages/transports/src/internal/writer.ts",
    timer: "setImmediate",
    count: 2,
    verdict: "keep",
    reason: "Coalesces the frames written during one event-loop turn into one socket write (no delay, no deadline: " +
      "a scheduling hint, not a timer). `end` flushes synchronously, so a pending flush is never lost, and the " +
      "writer's stall timeout is an Effect fiber."
  },
  {
    file: "packages/transports/src/StreamableHttpServer.ts",
    timer: "setTimeout",
    count: 1,
    verdict: "keep",
    reason: "In Node's `clientError` callback (a request Node already rejected with 400/408, outside any fiber): a " +
      "last-resort `socket.destroy()` one second after the error reply, idempotent and `unref`'d, so it holds " +
      "nothing open and has nothing to crash."
  },
  {
    file: "packages/transports/src/StreamableHttpServer.ts",
    timer: "setInterval",
    count: 1,
    verdict: "replace",
    reason: "The SSE keep-alive comment every `keepAliveInterval`. Cleared in the listener's finalizer and `unref`'d, " +
      "but outside Effect: not on the TestClock and not supervised. To become a scoped fiber: " +
      "`Effect.forkScoped(Effect.repeat(Effect.sync(writeKeepAlives), Schedule.spaced(keepAliveInterval)))`."
  }
]

/** Every `.ts` file under `packages/<name>/src`. */
const sourceFiles = (): ReadonlyArray<string> => {
  const out: Array<string> = []
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name)
      if (entry.isDirectory()) walk(full)
      else if (entry.name.endsWith(".ts")) out.push(full)
    }
  }
  const packages = path.join(ROOT, "packages")
  for (const name of fs.readdirSync(packages)) {
    const src = path.join(packages, name, "src")
    if (fs.existsSync(src)) walk(src)
  }
  return out.sort()
}

/** Keeps code, blanks out comments and the text of strings, templates and regular expressions (lines kept). */
const codeOnly = (text: string): string => {
  let out = ""
  let i = 0
  /** Open `${` of templates: the brace depth at which each resumes its template text. */
  const templates: Array<number> = []
  let depth = 0
  let last = "" // the last significant code character, to tell a regex from a division
  let recent = "" // the last few characters of plain code (for `return /re/`)
  const special = /[{}/'"`]/g
  const blank = (s: string) => s.replace(/[^\n]/g, " ")
  const readQuoted = (quote: string) => {
    const start = i++
    while (i < text.length && text[i] !== quote && text[i] !== "\n") i += text[i] === "\\" ? 2 : 1
    i++
    out += quote + blank(text.slice(start + 1, i - 1)) + quote
    last = quote
  }
  const readTemplate = () => {
    // from just after "`" or "}" to the closing "`" or the next "${"
    const start = i
    while (i < text.length && text[i] !== "`" && !(text[i] === "$" && text[i + 1] === "{")) i += text[i] === "\\" ? 2 : 1
    out += blank(text.slice(start, i))
    if (text[i] === "`") {
      out += "`"
      i++
      last = "`"
    } else {
      out += "${"
      i += 2
      templates.push(depth)
      depth++
      last = "{"
    }
  }
  while (i < text.length) {
    const c = text[i]!
    const next = text[i + 1]
    if (c === "/" && next === "/") {
      const end = text.indexOf("\n", i)
      const stop = end === -1 ? text.length : end
      out += blank(text.slice(i, stop))
      i = stop
    } else if (c === "/" && next === "*") {
      const end = text.indexOf("*/", i + 2)
      const stop = end === -1 ? text.length : end + 2
      out += blank(text.slice(i, stop))
      i = stop
    } else if (c === "'" || c === "\"") {
      readQuoted(c)
    } else if (c === "`") {
      out += "`"
      i++
      readTemplate()
    } else if (c === "/" && (last === "" || "(,=:[!&|?{};+-*%<>~^".includes(last) || /\b(return|typeof|case|in|of)\s*$/.test(recent))) {
      // a regular expression literal
      const start = i++
      let inClass = false
      while (i < text.length && text[i] !== "\n" && (inClass || text[i] !== "/")) {
        if (text[i] === "\\") i++
        else if (text[i] === "[") inClass = true
        else if (text[i] === "]") inClass = false
        i++
      }
      i++
      out += "/" + blank(text.slice(start + 1, i - 1)) + "/"
      last = "/"
    } else if (!"{}/".includes(c)) {
      // a run of plain code, up to the next character that may open or close something
      special.lastIndex = i + 1
      const stop = special.exec(text)?.index ?? text.length
      const run = text.slice(i, stop)
      out += run
      const trimmed = run.trimEnd()
      if (trimmed.length > 0) last = trimmed[trimmed.length - 1]!
      recent = (recent + run).slice(-16)
      i = stop
    } else {
      if (c === "{") depth++
      if (c === "}") {
        depth--
        if (templates.length > 0 && templates[templates.length - 1] === depth) {
          templates.pop()
          out += "}"
          i++
          readTemplate()
          continue
        }
      }
      out += c
      if (!/\s/.test(c)) last = c
      recent = (recent + c).slice(-16)
      i++
    }
  }
  return out
}

interface Use {
  readonly file: string
  readonly line: number
  readonly timer: Timer
  readonly text: string
}

/** The raw timer uses in one file's text. */
const usesIn = (file: string, text: string): ReadonlyArray<Use> => {
  const code = codeOnly(text)
  const lines = text.split("\n")
  const starts = [0, ...[...code.matchAll(/\n/g)].map((m) => m.index + 1)]
  const lineOf = (index: number) => starts.findLastIndex((start) => start <= index) + 1
  const found: Array<Use> = []
  // a global timer: not a method of another object (`socket.setTimeout` is the socket's idle timeout)
  for (const m of code.matchAll(/(?<![\w$])(?:(globalThis|global|window)\s*\.\s*)?(setTimeout|setInterval|setImmediate)(?![\w$])/g)) {
    const before = code.slice(Math.max(0, m.index - 40), m.index)
    if (m[1] === undefined && /\.\s*$/.test(before)) continue
    const line = lineOf(m.index)
    found.push({ file, line, timer: m[2] as Timer, text: lines[line - 1]!.trim() })
  }
  // Node's timers module, imported or required (the specifier is a string, so look at the raw text)
  for (const m of text.matchAll(/(?:from\s*|import\s*\(\s*|require\s*\(\s*)["'](?:node:)?timers(?:\/promises)?["']/g)) {
    const line = lineOf(m.index)
    if (code.slice(starts[line - 1], starts[line] ?? code.length).trim() === "") continue // inside a comment
    found.push({ file, line, timer: "node:timers", text: lines[line - 1]!.trim() })
  }
  return found
}

const scan = (): ReadonlyArray<Use> =>
  sourceFiles().flatMap((full) => usesIn(path.relative(ROOT, full).split(path.sep).join("/"), fs.readFileSync(full, "utf8")))

const keyOf = (file: string, timer: Timer) => `${file} ${timer}`

describe("FM-43 raw timers", () => {
  it("FM-43 no raw timers in packages/*/src: every setTimeout, setInterval and setImmediate is on the allow-list, with its reason", () => {
    const uses = scan()
    const permitted = new Map(allowed.map((a) => [keyOf(a.file, a.timer), a]))
    const counts = new Map<string, Array<Use>>()
    for (const use of uses) counts.set(keyOf(use.file, use.timer), [...(counts.get(keyOf(use.file, use.timer)) ?? []), use])
    const unexplained = [...counts].flatMap(([key, list]) => {
      const entry = permitted.get(key)
      return entry === undefined || list.length > entry.count ? list.map((u) => `${u.file}:${u.line} ${u.timer}: ${u.text}`) : []
    })
    expect(unexplained, "raw Node timers outside the allow-list: use Effect.sleep / Schedule in a (supervised) fiber").toEqual([])
    for (const entry of allowed) expect(entry.reason.length, keyOf(entry.file, entry.timer)).toBeGreaterThan(40)
  })

  it("FM-43 the allow-list is exact: each entry still has that many uses (no stale permission)", () => {
    const uses = scan()
    const stale = allowed
      .map((a) => ({ entry: keyOf(a.file, a.timer), allowed: a.count, found: uses.filter((u) => u.file === a.file && u.timer === a.timer).length }))
      .filter((a) => a.found !== a.allowed)
    expect(stale).toEqual([])
  })

  it("FM-43 the scanner sees through comments, strings and regular expressions, and finds globalThis timers and node:timers", () => {
    const sample = [
      "// setTimeout(() => 1) in a comment",
      "/* setInterval(f, 1) in a block */",
      "const a = \"setTimeout(f)\", b = 'setImmediate(f)', c = `x ${setTimeout} setInterval(f)`",
      "const r = /setInterval\\(/ , d = 4 / 2",
      "socket.setTimeout(1_000, onIdle) // the socket's own idle timeout",
      "setImmediate(flush)",
      "globalThis.setInterval(tick, 10)",
      "const s = setTimeout",
      "import { setTimeout as sleep } from \"node:timers/promises\""
    ].join("\n")
    expect(usesIn("x.ts", sample).map((u) => `${u.line} ${u.timer}`)).toEqual([
      "3 setTimeout",
      "6 setImmediate",
      "7 setInterval",
      "8 setTimeout",
      "9 setTimeout",
      "9 node:timers"
    ])
  })
})
