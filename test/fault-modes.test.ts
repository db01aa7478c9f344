import { FailureMode } from "@effect-mcp/faults"
import { CodecError } from "@effect-mcp/jsonrpc"
import { describe, expect, it } from "@effect/vitest"

/** One instance of every typed error the packages export, to check each names a catalogued mode. */
const errors = [
  new CodecError.FrameTooLarge({ limit: 1, received: 2 }),
  new CodecError.MalformedJson({ detail: "x" }),
  new CodecError.TruncatedFrame({ received: 1 }),
  new CodecError.InvalidMessage({ id: null, detail: "x" }),
  new CodecError.InvalidUtf8({ size: 1 }),
  new CodecError.UnencodableMessage({ detail: "x" })
]

describe("typed errors and the FMEA catalogue", () => {
  it.each(errors.map((e) => [e._tag, e] as const))("%s carries a catalogued mode that lists it", (_tag, error) => {
    const mode = FailureMode.modeOf(error)
    expect(mode, `${error._tag} has mode ${error.mode}`).toBeDefined()
    expect(mode!.errors).toContain(error._tag)
    expect(mode!.status).not.toBe("planned")
  })

  it("every error class the catalogue names as mitigated is one of the exported errors checked here or elsewhere", () => {
    const known = new Set<string>(errors.map((e) => e._tag))
    const codecModes = ["FM-01", "FM-08", "FM-30", "FM-47", "FM-50"] as const
    for (const id of codecModes) {
      for (const tag of FailureMode.get(id).errors) expect(known.has(tag), `${id}: ${tag}`).toBe(true)
    }
  })
})
