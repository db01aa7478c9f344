/**
 * Opaque pagination cursors for the `*\/list` methods. A cursor encodes the offset of the next page and a
 * fingerprint of the list it came from; a cursor that cannot be decoded, or that came from a different list,
 * is rejected (the server answers -32602).
 *
 * @since 0.1.0
 */

/** The default page size of the list methods. */
export const DEFAULT_PAGE_SIZE = 100

/** A page of items and the cursor of the next page, if any. */
export interface Page<A> {
  readonly items: ReadonlyArray<A>
  readonly nextCursor: string | undefined
}

const toBase64Url = (text: string): string =>
  btoa(String.fromCharCode(...new TextEncoder().encode(text))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "")

const fromBase64Url = (cursor: string): string | undefined => {
  if (cursor.length === 0 || cursor.length > 512 || !/^[A-Za-z0-9_-]+$/.test(cursor)) return undefined
  try {
    const binary = atob(cursor.replace(/-/g, "+").replace(/_/g, "/"))
    return new TextDecoder("utf-8", { fatal: true }).decode(Uint8Array.from(binary, (c) => c.charCodeAt(0)))
  } catch {
    return undefined
  }
}

/** A cheap, stable fingerprint (FNV-1a) of a list's identity, e.g. the names of its items. */
export const fingerprint = (keys: ReadonlyArray<string>): string => {
  let hash = 0x811c9dc5
  for (const key of keys) {
    for (let i = 0; i < key.length; i++) {
      hash ^= key.charCodeAt(i)
      hash = Math.imul(hash, 0x01000193) >>> 0
    }
    hash ^= 0xff
    hash = Math.imul(hash, 0x01000193) >>> 0
  }
  return hash.toString(36)
}

/** Encodes a cursor for the page starting at `offset` of the list with this fingerprint. */
export const encode = (offset: number, listFingerprint: string): string =>
  toBase64Url(JSON.stringify({ o: offset, f: listFingerprint }))

/**
 * Decodes a cursor; `undefined` when it is malformed, negative, or from another list. Callers answer
 * `undefined` with -32602 Invalid params.
 */
export const decode = (cursor: string, listFingerprint: string): number | undefined => {
  const text = fromBase64Url(cursor)
  if (text === undefined) return undefined
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return undefined
  }
  if (typeof value !== "object" || value === null) return undefined
  const { o, f } = value as { readonly o?: unknown; readonly f?: unknown }
  if (typeof o !== "number" || !Number.isSafeInteger(o) || o < 0 || f !== listFingerprint) return undefined
  return o
}

/**
 * Pages `items`: the page at `cursor` (the first when `undefined`), or `undefined` when the cursor is
 * invalid. `key` names an item for the list's fingerprint.
 */
export const paginate = <A>(
  items: ReadonlyArray<A>,
  cursor: string | undefined,
  key: (a: A) => string,
  pageSize: number = DEFAULT_PAGE_SIZE
): Page<A> | undefined => {
  const print = fingerprint(items.map(key))
  const offset = cursor === undefined ? 0 : decode(cursor, print)
  if (offset === undefined || offset > items.length) return undefined
  const end = offset + pageSize
  return { items: items.slice(offset, end), nextCursor: end < items.length ? encode(end, print) : undefined }
}
