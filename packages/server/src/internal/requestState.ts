/**
 * Signed `requestState` for 2026-07-28 multi round-trip requests: the answers a replayed handler already has,
 * as base64url JSON with an HMAC-SHA256, so a client cannot forge or alter them.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto"

/** The signing key: the given secret, or random bytes. */
export const key = (secret: string | undefined): Buffer =>
  secret === undefined ? randomBytes(32) : Buffer.from(secret, "utf8")

const MAX_STATE = 256 * 1024

/** Seals answers into a state string. */
export const seal = (k: Buffer, answers: Record<string, unknown>): string => {
  const payload = Buffer.from(JSON.stringify(answers), "utf8").toString("base64url")
  const mac = createHmac("sha256", k).update(payload).digest("base64url")
  return `${payload}.${mac}`
}

/** Opens a state string; `undefined` when it is malformed, too large or not signed with this key. */
export const open = (k: Buffer, state: string): Record<string, unknown> | undefined => {
  if (state.length > MAX_STATE) return undefined
  const dot = state.lastIndexOf(".")
  if (dot <= 0) return undefined
  const payload = state.slice(0, dot)
  const mac = Buffer.from(state.slice(dot + 1), "base64url")
  const expected = createHmac("sha256", k).update(payload).digest()
  if (mac.length !== expected.length || !timingSafeEqual(mac, expected)) return undefined
  try {
    const value: unknown = JSON.parse(Buffer.from(payload, "base64url").toString("utf8"))
    return typeof value === "object" && value !== null && !Array.isArray(value) ? value as Record<string, unknown> : undefined
  } catch {
    return undefined
  }
}
