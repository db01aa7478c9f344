import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import * as Cursor from "../src/Cursor.ts"

describe("Cursor", () => {
  const items = Array.from({ length: 250 }, (_, i) => `item-${i}`)

  it("pages through a list with opaque cursors", () => {
    const pages: Array<ReadonlyArray<string>> = []
    let cursor: string | undefined
    do {
      const page = Cursor.paginate(items, cursor, (s) => s, 100)!
      pages.push(page.items)
      cursor = page.nextCursor
    } while (cursor !== undefined)
    expect(pages.map((p) => p.length)).toEqual([100, 100, 50])
    expect(pages.flat()).toEqual(items)
  })

  it("rejects garbage, tampered and foreign cursors (property)", () => {
    const valid = Cursor.paginate(items, undefined, (s) => s, 10)!.nextCursor!
    expect(Cursor.paginate(["other"], valid, (s) => s, 10)).toBeUndefined()
    fc.assert(
      fc.property(fc.string(), (garbage) => {
        const page = Cursor.paginate(items, garbage, (s) => s, 10)
        if (page !== undefined) expect(garbage).toBe(Cursor.encode(Cursor.decode(garbage, Cursor.fingerprint(items))!, Cursor.fingerprint(items)))
      }),
      { numRuns: 500 }
    )
  })
})
