/**
 * RFC 6570 URI templates, as used by MCP resource templates: parsing, matching a URI against a template
 * (to route `resources/read`), and expansion.
 *
 * Supported expressions: `{var}` (one path segment, percent-decoded), `{+var}` (reserved: may contain `/`),
 * `{#var}` (fragment), `{/var}` (a path segment with its slash), `{.var}` and `{?a,b}` / `{&a}` (query).
 * Several variables in one expression (`{x,y}`) are comma-separated.
 *
 * @since 0.1.0
 */

type Operator = "" | "+" | "#" | "/" | "." | "?" | "&"

interface Expression {
  readonly operator: Operator
  readonly names: ReadonlyArray<string>
}

type Part = string | Expression

/** A parsed template. */
export interface UriTemplate {
  readonly template: string
  readonly variables: ReadonlyArray<string>
  readonly parts: ReadonlyArray<Part>
  readonly regex: RegExp
}

/** Thrown (at definition time only) for a malformed template. */
export class InvalidUriTemplate extends Error {
  override readonly name = "InvalidUriTemplate"
}

const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

const MAX_TEMPLATE_LENGTH = 2048

/** Parses a template. Throws `InvalidUriTemplate` for unbalanced braces or empty names. */
export const parse = (template: string): UriTemplate => {
  if (template.length > MAX_TEMPLATE_LENGTH) throw new InvalidUriTemplate("template is too long")
  const parts: Array<Part> = []
  const variables: Array<string> = []
  let regex = "^"
  let i = 0
  while (i < template.length) {
    const open = template.indexOf("{", i)
    if (open === -1) {
      parts.push(template.slice(i))
      regex += escapeRegex(template.slice(i))
      break
    }
    if (open > i) {
      parts.push(template.slice(i, open))
      regex += escapeRegex(template.slice(i, open))
    }
    const close = template.indexOf("}", open)
    if (close === -1) throw new InvalidUriTemplate(`unclosed "{" at ${open} in ${template}`)
    let body = template.slice(open + 1, close)
    let operator: Operator = ""
    if (body.length > 0 && "+#/.?&".includes(body[0]!)) {
      operator = body[0] as Operator
      body = body.slice(1)
    }
    const names = body.split(",").map((n) => n.replace(/\*$/, "").trim())
    if (names.some((n) => !/^[A-Za-z0-9_.%]+$/.test(n))) {
      throw new InvalidUriTemplate(`invalid variable name in {${template.slice(open + 1, close)}}`)
    }
    const index = parts.length
    parts.push({ operator, names })
    variables.push(...names)
    switch (operator) {
      case "":
        regex += names.map((n) => `(?<${groupName(n)}>[^/?#,]*)`).join(",")
        break
      case "+":
        regex += names.map((n) => `(?<${groupName(n)}>[^?#,]*)`).join(",")
        break
      case "#":
        regex += "(?:#" + names.map((n) => `(?<${groupName(n)}>[^,]*)`).join(",") + ")?"
        break
      case "/":
        regex += names.map((n) => `(?:/(?<${groupName(n)}>[^/?#]*))`).join("")
        break
      case ".":
        regex += names.map((n) => `(?:\\.(?<${groupName(n)}>[^/?#.]*))`).join("")
        break
      case "?":
      case "&":
        regex += `(?:[?&](?<${groupName("__query" + index)}>[^#]*))?`
        break
    }
    i = close + 1
  }
  return { template, variables, parts, regex: new RegExp(regex + "$") }
}

const groupName = (name: string) => "v_" + name.replace(/[^A-Za-z0-9_]/g, (c) => "_" + c.charCodeAt(0).toString(16))

const decode = (s: string): string => {
  try {
    return decodeURIComponent(s)
  } catch {
    return s
  }
}

/**
 * Matches a URI against a template; returns the variables (percent-decoded) or `undefined` when it does not
 * match. Query expressions accept their variables in any order and ignore unknown ones.
 */
export const match = (template: UriTemplate, uri: string): Record<string, string> | undefined => {
  if (uri.length > 8192) return undefined
  const m = template.regex.exec(uri)
  if (m === null) return undefined
  const groups = m.groups ?? {}
  const out: Record<string, string> = {}
  template.parts.forEach((part, index) => {
    if (typeof part === "string") return
    if (part.operator === "?" || part.operator === "&") {
      const query = groups[groupName("__query" + index)]
      if (query === undefined) return
      for (const pair of query.split("&")) {
        const eq = pair.indexOf("=")
        const key = decode(eq === -1 ? pair : pair.slice(0, eq))
        if (part.names.includes(key)) out[key] = decode(eq === -1 ? "" : pair.slice(eq + 1))
      }
      return
    }
    for (const name of part.names) {
      const value = groups[groupName(name)]
      if (value !== undefined) out[name] = decode(value)
    }
  })
  return out
}

const encode = (value: string, reserved: boolean) =>
  reserved ? encodeURI(value).replace(/%25([0-9A-Fa-f]{2})/g, "%$1") : encodeURIComponent(value)

/** Expands a template with the given variables (missing ones are left out). */
export const expand = (template: UriTemplate, variables: Readonly<Record<string, string>>): string =>
  template.parts.map((part) => {
    if (typeof part === "string") return part
    const present = part.names.filter((n) => variables[n] !== undefined)
    if (present.length === 0) return ""
    const reserved = part.operator === "+" || part.operator === "#"
    switch (part.operator) {
      case "?":
      case "&":
        return part.operator + present.map((n) => `${encodeURIComponent(n)}=${encode(variables[n]!, false)}`).join("&")
      case "/":
      case ".":
        return present.map((n) => part.operator + encode(variables[n]!, false)).join("")
      case "#":
        return "#" + present.map((n) => encode(variables[n]!, true)).join(",")
      default:
        return present.map((n) => encode(variables[n]!, reserved)).join(",")
    }
  }).join("")
