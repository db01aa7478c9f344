import { describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import { generate, generatedFile, REVISIONS, specFile } from "../../../scripts/generate-mcp-schemas.ts"

const shared = (revision: string) => new URL(`../../../../shared/spec/schema/${revision}/schema.json`, import.meta.url)

describe("generated schemas", () => {
  it.each(REVISIONS)("%s is generated from the committed spec copy", (revision) => {
    const expected = generate(revision, fs.readFileSync(specFile(revision), "utf8"))
    const actual = fs.readFileSync(generatedFile(revision), "utf8")
    expect(actual === expected, "stale: run pnpm exec tsx scripts/generate-mcp-schemas.ts").toBe(true)
  })

  it.skipIf(!fs.existsSync(shared("2026-07-28")))("the committed spec copies equal ../shared/spec", () => {
    for (const revision of REVISIONS) {
      expect(fs.readFileSync(specFile(revision), "utf8"), revision).toBe(fs.readFileSync(shared(revision), "utf8"))
    }
  })
})
