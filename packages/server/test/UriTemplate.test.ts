import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import * as UriTemplate from "../src/UriTemplate.ts"

describe("UriTemplate", () => {
  it("matches simple, reserved, path and query expressions", () => {
    expect(UriTemplate.match(UriTemplate.parse("users://{id}/profile"), "users://42/profile")).toEqual({ id: "42" })
    expect(UriTemplate.match(UriTemplate.parse("users://{id}/profile"), "users://4/2/profile")).toBeUndefined()
    expect(UriTemplate.match(UriTemplate.parse("file:///{+path}"), "file:///a/b%20c.txt")).toEqual({ path: "a/b c.txt" })
    expect(UriTemplate.match(UriTemplate.parse("search://q{?q,limit}"), "search://q?limit=5&q=a%26b&x=1")).toEqual({
      q: "a&b",
      limit: "5"
    })
    expect(UriTemplate.match(UriTemplate.parse("repo://{owner}{/name}"), "repo://effect/mcp")).toEqual({
      owner: "effect",
      name: "mcp"
    })
  })

  it("rejects malformed templates at definition time", () => {
    expect(() => UriTemplate.parse("a://{unclosed")).toThrow(UriTemplate.InvalidUriTemplate)
    expect(() => UriTemplate.parse("a://{}")).toThrow(UriTemplate.InvalidUriTemplate)
  })

  it("expand then match gives back the variables (property)", () => {
    const template = UriTemplate.parse("notes://{folder}/{id}{?tag}")
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), fc.string({ minLength: 1 }), fc.string(), (folder, id, tag) => {
        const uri = UriTemplate.expand(template, { folder, id, tag })
        expect(UriTemplate.match(template, uri)).toEqual({ folder, id, tag })
      }),
      { numRuns: 300 }
    )
  })
})
