/**
 * Host name resolution that rides out a resolver outage (FM-28): `cachingLookup` is a drop-in `lookup` for
 * the TCP, WebSocket and Streamable HTTP clients that keeps each name's addresses for `ttl`, and when the
 * resolver then fails to answer for a name it resolved before (`ENOTFOUND`, `EAI_AGAIN`, …), answers with the
 * last good addresses for up to `maxStale` more ("stale if error", as HTTP caches do). A name never resolved,
 * or stale for longer, still fails, and the transports report it as `HostUnresolved`.
 *
 * @since 0.1.0
 */
import * as dns from "node:dns"
import type * as net from "node:net"
import * as Duration from "effect/Duration"

/** Settings. @since 0.1.0 @category models */
export interface Options {
  /** How long a resolved name is used without asking the resolver again (default 30 s). */
  readonly ttl?: Duration.Input
  /** How long past `ttl` the last good addresses answer while the resolver fails (default 10 minutes). */
  readonly maxStale?: Duration.Input
  /** Most names kept (default 1,000; the least recently resolved goes first). */
  readonly maxEntries?: number
  /** The resolver asked (default `dns.lookup`). */
  readonly lookup?: net.LookupFunction
  /** The clock, in ms (default `Date.now`; a test's own). */
  readonly now?: () => number
}

/** What a caching lookup did so far. @since 0.1.0 @category models */
export interface Stats {
  /** Answers from the cache within the TTL. */
  readonly hits: number
  /** Names sent to the resolver. */
  readonly lookups: number
  /** Resolver failures answered with the last good addresses (FM-28 ridden out). */
  readonly staleAnswers: number
  /** Resolver failures passed on (no address to fall back on). */
  readonly failures: number
}

/** A `lookup` function with its counters. @since 0.1.0 @category models */
export interface CachingLookup extends net.LookupFunction {
  readonly stats: () => Stats
  /** Forgets every name. */
  readonly clear: () => void
}

/** Resolver codes that mean the name did not resolve (only these fall back on stale addresses). */
const RESOLUTION_CODES = new Set(["ENOTFOUND", "EAI_AGAIN", "EAI_FAIL", "EAI_NONAME", "EAI_NODATA", "ENODATA", "ETIMEOUT", "ESERVFAIL", "ECONNREFUSED"])

interface Entry {
  readonly addresses: ReadonlyArray<dns.LookupAddress>
  readonly at: number
}

/**
 * A caching `lookup` with stale-if-error (see the module). Pass it as the `lookup` option of a client
 * transport; share one between transports to share the cache.
 *
 * @since 0.1.0
 * @category constructors
 */
export const cachingLookup = (options: Options = {}): CachingLookup => {
  const ttl = Duration.toMillis(Duration.fromInputUnsafe(options.ttl ?? Duration.seconds(30)))
  const maxStale = Duration.toMillis(Duration.fromInputUnsafe(options.maxStale ?? Duration.minutes(10)))
  const maxEntries = Math.max(1, options.maxEntries ?? 1_000)
  const resolve = options.lookup ?? (dns.lookup as unknown as net.LookupFunction)
  const now = options.now ?? Date.now
  const cache = new Map<string, Entry>()
  const stats = { hits: 0, lookups: 0, staleAnswers: 0, failures: 0 }

  const lookup = ((hostname: string, lookupOptions: dns.LookupOptions, callback: (...args: Array<any>) => void) => {
    const all = lookupOptions.all === true
    const key = `${hostname}|${lookupOptions.family ?? 0}|${lookupOptions.hints ?? 0}`
    const reply = (addresses: ReadonlyArray<dns.LookupAddress>) =>
      all ? callback(null, addresses) : callback(null, addresses[0]!.address, addresses[0]!.family)
    const entry = cache.get(key)
    const at = now()
    if (entry !== undefined && at - entry.at < ttl && entry.addresses.length > 0) {
      stats.hits++
      return reply(entry.addresses)
    }
    stats.lookups++
    resolve(hostname, { ...lookupOptions, all: true }, (error: NodeJS.ErrnoException | null, result: string | Array<dns.LookupAddress>, family?: number) => {
      if (error !== null) {
        const code = typeof error.code === "string" ? error.code : ""
        if (entry !== undefined && entry.addresses.length > 0 && now() - entry.at < ttl + maxStale && RESOLUTION_CODES.has(code)) {
          stats.staleAnswers++
          return reply(entry.addresses)
        }
        stats.failures++
        return callback(error, all ? [] : "", undefined)
      }
      const addresses = typeof result === "string" ? [{ address: result, family: family ?? 4 }] : result
      if (addresses.length === 0) {
        stats.failures++
        const empty = Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: "ENOTFOUND", syscall: "getaddrinfo", hostname })
        return callback(empty, all ? [] : "", undefined)
      }
      cache.delete(key)
      cache.set(key, { addresses, at: now() })
      while (cache.size > maxEntries) cache.delete(cache.keys().next().value!)
      reply(addresses)
    })
  }) as CachingLookup
  return Object.assign(lookup, {
    stats: (): Stats => ({ ...stats }),
    clear: () => cache.clear()
  })
}
