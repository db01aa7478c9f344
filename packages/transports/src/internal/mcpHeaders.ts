/**
 * The 2026-07-28 HTTP request headers mirrored from the body: `Mcp-Name` and the `Mcp-Param-{name}` headers
 * that tools designate with `x-mcp-header` (SEP-2243), their value encoding, and the validation of the
 * annotations.
 */

const SENTINEL = /^=\?base64\?.*\?=$/s
const PLAIN = /^[\x21-\x7E]([\x20-\x7E]*[\x21-\x7E])?$/
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/

/** Encodes a header value: as is when it is plain visible ASCII, else the `=?base64?…?=` sentinel form. */
export const encodeValue = (value: string): string =>
  value === "" || (PLAIN.test(value) && !SENTINEL.test(value))
    ? value
    : `=?base64?${Buffer.from(value, "utf8").toString("base64")}?=`

/** Decodes the sentinel form; `undefined` when the base64 is malformed. */
export const decodeValue = (value: string): string | undefined => {
  if (value.startsWith("=?base64?") && value.endsWith("?=") && value.length >= 11) {
    const encoded = value.slice(9, -2)
    // strict: the alphabet and the padding (Node's decoder would accept either wrong)
    if (encoded.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(encoded)) return undefined
    return Buffer.from(encoded, "base64").toString("utf8")
  }
  return value
}

/** One `x-mcp-header` annotation: the header's name part and the property path it reads. */
export interface ParamHeader {
  readonly name: string
  readonly path: ReadonlyArray<string>
}

const isRecord = (u: unknown): u is Record<string, unknown> =>
  typeof u === "object" && u !== null && !Array.isArray(u)

const PRIMITIVE = new Set(["string", "integer", "boolean"])

/**
 * The annotations of a tool's input schema, or why the tool must be rejected. Annotations are honoured only
 * on properties reached through `properties` keys alone; one anywhere else invalidates the tool.
 */
export const toolHeaders = (inputSchema: unknown): { readonly headers: ReadonlyArray<ParamHeader> } | { readonly error: string } => {
  const headers: Array<ParamHeader> = []
  const seen = new Set<string>()
  let error: string | undefined
  const visit = (schema: unknown, path: ReadonlyArray<string> | undefined, where: string) => {
    if (error !== undefined) return
    if (Array.isArray(schema)) {
      schema.forEach((s, i) => visit(s, undefined, `${where}[${i}]`))
      return
    }
    if (!isRecord(schema)) return
    if ("x-mcp-header" in schema && where !== "") {
      const name = schema["x-mcp-header"]
      if (path === undefined) {
        error = `x-mcp-header at ${where} is not reachable through properties alone`
        return
      }
      if (typeof name !== "string" || name.length === 0) {
        error = `x-mcp-header at ${where} is empty or not a string`
        return
      }
      if (!TOKEN.test(name)) {
        error = `x-mcp-header "${name}" is not an HTTP token`
        return
      }
      if (seen.has(name.toLowerCase())) {
        error = `x-mcp-header "${name}" is not unique`
        return
      }
      const type = schema.type
      if (typeof type !== "string" || !PRIMITIVE.has(type)) {
        error = `x-mcp-header "${name}" is on a property of type ${JSON.stringify(type)}, not a primitive`
        return
      }
      seen.add(name.toLowerCase())
      headers.push({ name, path })
    }
    for (const [key, value] of Object.entries(schema)) {
      if (key === "properties" && isRecord(value)) {
        for (const [property, sub] of Object.entries(value)) {
          visit(sub, path === undefined ? undefined : [...path, property], `${where}.properties.${property}`)
        }
      } else if (key !== "x-mcp-header" && (isRecord(value) || Array.isArray(value))) {
        visit(value, undefined, `${where}.${key}`)
      }
    }
  }
  visit(inputSchema, [], "")
  return error === undefined ? { headers } : { error }
}

/** The `Mcp-Param-*` headers of one call: a header per annotated argument that is present and primitive. */
export const paramHeaders = (headers: ReadonlyArray<ParamHeader>, args: unknown): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const header of headers) {
    let value: unknown = args
    for (const key of header.path) value = isRecord(value) ? value[key] : undefined
    if (typeof value === "string") out[`mcp-param-${header.name}`] = encodeValue(value)
    else if (typeof value === "number" && Number.isFinite(value)) out[`mcp-param-${header.name}`] = String(value)
    else if (typeof value === "boolean") out[`mcp-param-${header.name}`] = value ? "true" : "false"
  }
  return out
}

/** A header value may hold only visible ASCII, space and tab (RFC 9110). */
export const isValidValue = (value: string): boolean => /^[\t\x20-\x7E]*$/.test(value)

/**
 * Checks the `Mcp-Param-*` headers of a call against its arguments: every annotated argument present in the
 * body must be in its header, valid, and equal once decoded. Returns what is wrong, or `undefined`.
 */
export const checkParamHeaders = (
  headers: ReadonlyArray<ParamHeader>,
  args: unknown,
  read: (name: string) => string | undefined
): string | undefined => {
  for (const header of headers) {
    let value: unknown = args
    for (const key of header.path) value = isRecord(value) ? value[key] : undefined
    if (value === undefined || value === null) continue
    const raw = read(`mcp-param-${header.name.toLowerCase()}`)
    if (raw === undefined) return `the Mcp-Param-${header.name} header is required (the body has the value)`
    if (!isValidValue(raw)) return `the Mcp-Param-${header.name} header holds invalid characters`
    const decoded = decodeValue(raw)
    if (decoded === undefined) return `the Mcp-Param-${header.name} header is not valid base64`
    const matches = typeof value === "string"
      ? decoded === value
      : typeof value === "number"
      ? decoded.trim() !== "" && Number(decoded) === value
      : typeof value === "boolean"
      ? decoded === String(value)
      : false
    if (!matches) return `the Mcp-Param-${header.name} header does not match the body's value`
  }
  return undefined
}
