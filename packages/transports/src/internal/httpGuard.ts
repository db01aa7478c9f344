/**
 * Host and Origin validation against DNS rebinding (FM-29). Fails closed: an empty allow-list allows nothing,
 * and the defaults for a loopback bind are the loopback names only. `"any"` is the explicit opt-out.
 */
import type * as http from "node:http"

/** Allow-lists. Host entries are host names without port; Origin entries are `scheme://host` without port. */
export interface Policy {
  readonly allowedHosts: ReadonlyArray<string> | "any"
  readonly allowedOrigins: ReadonlyArray<string> | "any"
}

const LOOPBACK_HOSTS = ["localhost", "127.0.0.1", "[::1]"]

/** Whether an address is a loopback address. */
export const isLoopback = (host: string): boolean =>
  host === "localhost" || host === "::1" || host === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(host)

/**
 * The default policy for a bind address: loopback names (Host) and `http(s)://` loopback origins for a loopback
 * bind; nothing at all for any other bind (the operator must name what is allowed).
 */
export const defaults = (bindHost: string): Policy =>
  isLoopback(bindHost)
    ? {
      allowedHosts: LOOPBACK_HOSTS,
      allowedOrigins: LOOPBACK_HOSTS.flatMap((h) => [`http://${h}`, `https://${h}`])
    }
    : { allowedHosts: [], allowedOrigins: [] }

/** The host name of a `Host` header, without its port, lower-cased (`[::1]` keeps its brackets). */
export const hostName = (header: string): string => {
  const value = header.trim().toLowerCase()
  if (value.startsWith("[")) {
    const end = value.indexOf("]")
    return end === -1 ? value : value.slice(0, end + 1)
  }
  const colon = value.indexOf(":")
  return colon === -1 ? value : value.slice(0, colon)
}

/** `scheme://host` of an `Origin` header without its port, lower-cased; `undefined` when unparseable. */
export const originBase = (header: string): string | undefined => {
  try {
    const url = new URL(header)
    return `${url.protocol}//${url.hostname.toLowerCase()}`
  } catch {
    return undefined
  }
}

/** Why a request is refused, or `undefined` when it may pass. */
export const check = (policy: Policy, request: http.IncomingMessage): string | undefined => {
  if (policy.allowedHosts !== "any") {
    const host = request.headers.host
    if (host === undefined) return "Missing Host header"
    if (!policy.allowedHosts.includes(hostName(host))) return `Host not allowed: ${host}`
  }
  const origin = request.headers.origin
  // requests without Origin come from non-browser clients; a browser always sends it cross-origin
  if (origin !== undefined && policy.allowedOrigins !== "any") {
    const base = originBase(origin)
    if (base === undefined || !policy.allowedOrigins.includes(base)) return `Origin not allowed: ${origin}`
  }
  return undefined
}
