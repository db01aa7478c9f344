import { describe, expect, it } from "@effect/vitest"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as fs from "node:fs"
import * as V from "../src/generated/v2026_07_28.ts"
import * as McpSchema from "../src/McpSchema.ts"

const dir = new URL("./fixtures/examples-2026-07-28/", import.meta.url)
const types = fs.readdirSync(dir).sort()
const definitions = V.definitions as unknown as Record<string, Schema.Codec<unknown, unknown, never, never> | undefined>

describe("2026-07-28 examples", () => {
  it("covers every example type with a schema", () => {
    expect(types.length).toBeGreaterThanOrEqual(80)
    expect(types.filter((t) => definitions[t] === undefined)).toEqual([])
  })

  it.each(types)("every %s example decodes with its schema", (type) => {
    const schema = definitions[type]!
    for (const file of fs.readdirSync(new URL(`${type}/`, dir))) {
      const value = JSON.parse(fs.readFileSync(new URL(`${type}/${file}`, dir), "utf8"))
      const decoded = Schema.decodeUnknownResult(schema)(value)
      expect(Result.isSuccess(decoded), `${type}/${file}: ${Result.isFailure(decoded) ? decoded.failure.message : ""}`).toBe(true)
      // unknown members survive a decode → encode round trip
      if (Result.isSuccess(decoded)) expect(Schema.encodeUnknownSync(schema)(decoded.success)).toEqual(value)
    }
  })

  it("rejects invalid messages", () => {
    const reject = (method: string, from: "client" | "server", value: unknown) =>
      expect(Result.isFailure(McpSchema.decodeMessage("2026-07-28", method, from, value)), JSON.stringify(value)).toBe(true)
    const meta = {
      "io.modelcontextprotocol/protocolVersion": "2026-07-28",
      "io.modelcontextprotocol/clientCapabilities": {},
      "io.modelcontextprotocol/clientInfo": { name: "t", version: "1" }
    }
    // a tools/call without a tool name
    reject("tools/call", "client", { jsonrpc: "2.0", id: 1, method: "tools/call", params: { arguments: {}, _meta: meta } })
    // wrong JSON-RPC version
    reject("tools/list", "client", { jsonrpc: "1.0", id: 1, method: "tools/list", params: { _meta: meta } })
    // initialize does not exist in 2026-07-28
    const init = McpSchema.decodeMessage("2026-07-28", "initialize", "client", { jsonrpc: "2.0", id: 1, method: "initialize" })
    expect(Result.isFailure(init) && init.failure).toMatchObject({ _tag: "McpSchemaError", mode: "FM-50" })
    // a tools/list result whose tools is not an array
    const list = McpSchema.decodeResult("2026-07-28", "tools/list", "client", { resultType: "complete", tools: {} })
    expect(Result.isFailure(list)).toBe(true)
  })

  it("decodes input_required results as InputRequiredResult", () => {
    const example = fs.readdirSync(new URL("InputRequiredResult/", dir))[0]!
    const value = JSON.parse(fs.readFileSync(new URL(`InputRequiredResult/${example}`, dir), "utf8"))
    expect(Result.isSuccess(McpSchema.decodeResult("2026-07-28", "tools/call", "client", value))).toBe(true)
  })
})
