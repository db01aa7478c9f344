import { describe, expect, it } from "@effect/vitest"
import * as Revision from "../src/Revision.ts"

describe("Revision", () => {
  it("lists five revisions in two eras", () => {
    expect(Revision.all).toEqual(["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28"])
    expect(Revision.all.map(Revision.era)).toEqual(["stateful", "stateful", "stateful", "stateful", "stateless"])
    expect(Revision.isRevision("2025-06-18")).toBe(true)
    expect(Revision.isRevision("2025-01-01")).toBe(false)
  })

  it("keeps which methods exist where as data read from the schemas", () => {
    expect(Revision.revisionsOf("initialize", "client")).toEqual(["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"])
    expect(Revision.revisionsOf("server/discover")).toEqual(["2026-07-28"])
    expect(Revision.revisionsOf("subscriptions/listen")).toEqual(["2026-07-28"])
    expect(Revision.revisionsOf("resources/subscribe")).toEqual(["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"])
    expect(Revision.revisionsOf("elicitation/create", "server")).toEqual(["2025-06-18", "2025-11-25"])
    expect(Revision.revisionsOf("tasks/get", "client")).toEqual(["2025-11-25"])
    expect(Revision.revisionsOf("ping")).toEqual(["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"])
    expect(Revision.revisionsOf("tools/call", "client")).toEqual(Revision.all)
    expect(Revision.revisionsOf("logging/setLevel")).not.toContain("2026-07-28")
    // no server-to-client requests in 2026-07-28: sampling, elicitation and roots go through MRTR
    expect(Revision.methods("2026-07-28").filter((m) => m.from === "server" && m.kind === "request")).toEqual([])
    expect(Revision.hasMethod("2024-11-05", "notifications/elicitation/complete")).toBe(false)
  })

  it("allows batches only in 2025-03-26", () => {
    expect(Revision.all.filter(Revision.supportsBatch)).toEqual(["2025-03-26"])
  })

  it("renumbers MCP error codes in 2026-07-28", () => {
    expect(Revision.errorCodesOf("2025-11-25").map((c) => c.code)).toEqual([-32002, -32042])
    expect(Revision.errorCodesOf("2026-07-28").map((c) => c.code)).toEqual([-32020, -32021, -32022])
    expect(Revision.errorCodesOf("2024-11-05").map((c) => c.code)).toEqual([-32002])
    expect(Revision.resourceNotFoundCode("2025-06-18")).toBe(-32002)
    expect(Revision.resourceNotFoundCode("2026-07-28")).toBe(-32602)
  })

  it("knows the 2026-07-28 _meta keys and resultType, and they are in that revision's schema", async () => {
    const fs = await import("node:fs")
    const spec = fs.readFileSync(new URL("../spec/2026-07-28.json", import.meta.url), "utf8")
    const older = fs.readFileSync(new URL("../spec/2025-11-25.json", import.meta.url), "utf8")
    for (const key of Object.values(Revision.metaKeys)) {
      expect(spec).toContain(`"${key}"`)
      expect(older).not.toContain(`"${key}"`)
    }
    expect(Revision.all.filter(Revision.hasResultType)).toEqual(["2026-07-28"])
  })

  it("negotiates as the stateful era says", () => {
    expect(Revision.negotiate("2025-03-26")).toBe("2025-03-26")
    expect(Revision.negotiate("2099-01-01")).toBe("2025-11-25")
    expect(Revision.negotiate("2024-11-05", ["2025-06-18", "2025-11-25"])).toBe("2025-11-25")
  })
})
