/**
 * Keeps the FMEA mutation table (`mutants/Mutants.ts`) true to the code and the catalogue, without running
 * the mutants (that is `pnpm fmea:mutants`, minutes long): every mitigated mode has a mutant, every `find`
 * still occurs exactly once, every test a mutant runs is a proving test of its mode (or a test of the same
 * file), and the last run's report lists every mutant.
 */
import * as fs from "node:fs"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "@effect/vitest"
import * as FailureMode from "../src/FailureMode.ts"
import { mutants } from "../mutants/Mutants.ts"

const root = fileURLToPath(new URL("../../../", import.meta.url))
const read = (file: string): string => fs.readFileSync(`${root}${file}`, "utf8")

const occurrences = (text: string, find: string): number => {
  let n = 0
  for (let at = text.indexOf(find); at !== -1; at = text.indexOf(find, at + 1)) n++
  return n
}

describe("FMEA mutants", () => {
  it("every mitigated mode has at least one mutant; ids are unique and name their mode", () => {
    const covered = new Set(mutants.map((m) => m.mode))
    const uncovered = FailureMode.all.filter((m) => m.status === "mitigated" && !covered.has(m.id)).map((m) => m.id)
    expect(uncovered).toEqual([])
    const ids = mutants.map((m) => m.id)
    expect(new Set(ids).size).toBe(ids.length)
    for (const m of mutants) {
      expect(m.id, m.id).toMatch(/^FM-\d\d[a-z]$/)
      expect(m.id.slice(0, 5), m.id).toBe(m.mode)
      expect(FailureMode.get(m.mode).status, `${m.id}: a planned mode has nothing to mutate`).not.toBe("planned")
    }
  })

  it("every mutant's find occurs exactly once in its file, and its replacement differs", () => {
    const problems: Array<string> = []
    for (const m of mutants) {
      if (!fs.existsSync(`${root}${m.file}`)) {
        problems.push(`${m.id}: ${m.file} does not exist`)
        continue
      }
      const n = occurrences(read(m.file), m.find)
      if (n !== 1) problems.push(`${m.id}: find occurs ${n} times in ${m.file}`)
      if (m.replace === m.find) problems.push(`${m.id}: replace equals find`)
    }
    expect(problems).toEqual([])
  })

  it("every mutant runs tests of its mode's catalogue entry, or tests that exist in the same files", () => {
    const problems: Array<string> = []
    for (const m of mutants) {
      expect(m.tests.length, m.id).toBeGreaterThan(0)
      const catalogue = FailureMode.get(m.mode).tests
      for (const test of m.tests) {
        if (catalogue.some((c) => c.file === test.file && c.name === test.name)) continue
        if (!fs.existsSync(`${root}${test.file}`) || !read(test.file).includes(test.name)) {
          problems.push(`${m.id}: ${test.file} › ${test.name} is neither a catalogue test of ${m.mode} nor a test of that file`)
        }
      }
    }
    expect(problems).toEqual([])
  })

  it("docs/fmea-mutants.md records a run of every mutant", () => {
    const report = read("docs/fmea-mutants.md")
    const rows = new Set([...report.matchAll(/^\| (FM-\d\d[a-z]) \|/gm)].map((match) => match[1]))
    expect(mutants.map((m) => m.id).filter((id) => !rows.has(id))).toEqual([])
  })
})
