import { describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as FailureMode from "../src/FailureMode.ts"
import * as FmeaReport from "../src/FmeaReport.ts"

const repo = new URL("../../../", import.meta.url)
const designFmea = new URL("../shared/design/fmea.md", repo)
const fixture = new URL("./fixtures/fmea-summary-table.md", import.meta.url)

interface TableRow {
  readonly number: number
  readonly name: string
  readonly category: string
  readonly s: number
  readonly o: number
  readonly d: number
  readonly rpn: number
  readonly priority: string
}

/** Parses the FMEA summary table rows out of a markdown document. */
const parseTable = (markdown: string): Array<TableRow> =>
  markdown.split("\n").flatMap((line) => {
    const cells = line.split("|").slice(1, -1).map((c) => c.trim())
    if (cells.length !== 10 || !/^\d+$/.test(cells[0]!)) return []
    const [n, name, category, s, o, d, rpn, priority] = cells
    return [{ number: Number(n), name: name!, category: category!, s: Number(s), o: Number(o), d: Number(d), rpn: Number(rpn), priority: priority! }]
  })

const checkAgainst = (rows: ReadonlyArray<TableRow>) => {
  expect(rows).toHaveLength(52)
  for (const row of rows) {
    const mode = FailureMode.all[row.number - 1]!
    expect({ n: mode.number, name: mode.name, c: mode.category, s: mode.severity, o: mode.occurrence, d: mode.detection, rpn: mode.rpn, p: mode.priority })
      .toEqual({ n: row.number, name: row.name, c: row.category, s: row.s, o: row.o, d: row.d, rpn: row.rpn, p: row.priority })
  }
}

describe("FailureMode", () => {
  it("holds the 52 modes in order, with ids that match their numbers", () => {
    expect(FailureMode.all).toHaveLength(52)
    FailureMode.all.forEach((m, i) => {
      expect(m.number).toBe(i + 1)
      expect(m.id).toBe(`FM-${String(i + 1).padStart(2, "0")}`)
      expect(FailureMode.get(m.id)).toBe(m)
      expect(m.mitigationWanted.length).toBeGreaterThan(10)
      expect(m.mitigation.length).toBeGreaterThan(10)
    })
  })

  it("computes every RPN as S × O × D and it equals the FMEA table's", () => {
    for (const m of FailureMode.all) {
      expect(m.rpn).toBe(m.severity * m.occurrence * m.detection)
      expect(m.rpn, m.id).toBe(m.documentedRpn)
    }
    checkAgainst(parseTable(fs.readFileSync(fixture, "utf8")))
  })

  it.skipIf(!fs.existsSync(designFmea))("matches the design document's table (when ../shared is present)", () => {
    const doc = fs.readFileSync(designFmea, "utf8")
    checkAgainst(parseTable(doc))
    // the committed copy of the table is current
    expect(fs.readFileSync(fixture, "utf8")).toContain(doc.split("\n").slice(71, 125).join("\n"))
  })

  it("mitigated modes name their typed errors, where they live, and tests that exist", () => {
    for (const m of FailureMode.all) {
      if (m.status === "planned") {
        expect(m.mitigation.startsWith("Planned:"), m.id).toBe(true)
        continue
      }
      expect(m.errors.length + m.location.length, m.id).toBeGreaterThan(0)
      expect(m.tests.length, m.id).toBeGreaterThan(0)
      for (const file of m.location) expect(fs.existsSync(new URL(file, repo)), `${m.id}: ${file}`).toBe(true)
      for (const test of m.tests) {
        const path = new URL(test.file, repo)
        expect(fs.existsSync(path), `${m.id}: ${test.file}`).toBe(true)
        expect(fs.readFileSync(path, "utf8"), `${m.id}: test "${test.name}" in ${test.file}`).toContain(`"${test.name}"`)
      }
    }
  })

  it("finds the mode of a typed error and ranks modes by RPN", () => {
    expect(FailureMode.modeOf({ _tag: "FrameTooLarge", mode: "FM-01" })?.name).toBe("Message size limit bypass (stdio)")
    expect(FailureMode.modeOf({ mode: "FM-99" })).toBeUndefined()
    expect(FailureMode.modeOf("FM-01")).toBeUndefined()
    const top = FailureMode.topByRpn(3)
    expect(top.map((m) => m.id)).toEqual(["FM-01", "FM-03", "FM-02"])
    expect(FailureMode.modesOfError("InvalidUtf8").map((m) => m.id)).toEqual(["FM-50"])
    expect(FailureMode.byCategory("Data").every((m) => m.category === "Data")).toBe(true)
  })

  it("docs/fmea.md is generated from the catalogue", () => {
    const committed = fs.readFileSync(new URL("docs/fmea.md", repo), "utf8")
    expect(committed === FmeaReport.renderMarkdown(), "docs/fmea.md is stale: run pnpm docs:fmea").toBe(true)
  })
})
