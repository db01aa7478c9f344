/**
 * FM-18 (auth service timeout) against a real authorization server on 127.0.0.1 whose token endpoint can be
 * made to hang: typed timeouts within the configured bound, the per-server circuit breaker, the held token as
 * the fallback while the server is down, and the discovery cache's TTL. Time is the TestClock's.
 */
import { describe, expect, it } from "@effect/vitest"
import * as http from "node:http"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Queue from "effect/Queue"
import * as TestClock from "effect/testing/TestClock"
import * as OAuthClient from "../src/OAuthClient.ts"

type TokenMode = "ok" | "hang"

/**
 * The protected resource metadata of `<base>/mcp` and an authorization server with issuer `<base>/as` whose
 * token endpoint issues client credentials and refresh grants (`expiresIn` seconds), or hangs. Every request is
 * counted by kind and announced on `arrivals`.
 */
const startAs = (options: { readonly expiresIn?: number } = {}) =>
  Effect.gen(function*() {
    const state = { token: "ok" as TokenMode }
    const counts = { prm: 0, metadata: 0, token: 0 }
    const arrivals = yield* Queue.unbounded<"prm" | "metadata" | "token">()
    let issued = 0
    let base = ""
    const json = (res: http.ServerResponse, status: number, body: unknown) =>
      void res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body))
    const server = http.createServer((req, res) => {
      const url = new URL(req.url ?? "/", base)
      let text = ""
      req.setEncoding("utf8").on("data", (d: string) => (text += d)).on("end", () => {
        if (req.method === "GET" && url.pathname === "/.well-known/oauth-protected-resource/mcp") {
          counts.prm++
          Queue.offerUnsafe(arrivals, "prm")
          return json(res, 200, { resource: `${base}/mcp`, authorization_servers: [`${base}/as`] })
        }
        if (req.method === "GET" && url.pathname === "/.well-known/oauth-authorization-server/as") {
          counts.metadata++
          Queue.offerUnsafe(arrivals, "metadata")
          return json(res, 200, {
            issuer: `${base}/as`,
            token_endpoint: `${base}/as/token`,
            response_types_supported: ["code"],
            grant_types_supported: ["client_credentials", "refresh_token"],
            code_challenge_methods_supported: ["S256"],
            token_endpoint_auth_methods_supported: ["client_secret_post"]
          })
        }
        if (req.method === "POST" && url.pathname === "/as/token") {
          counts.token++
          Queue.offerUnsafe(arrivals, "token")
          if (state.token === "hang") return // never answers
          const form = Object.fromEntries(new URLSearchParams(text))
          if (form.client_id !== "client-1" || form.client_secret !== "secret-1") return json(res, 401, { error: "invalid_client" })
          issued++
          return json(res, 200, {
            access_token: `token-${issued}`,
            token_type: "Bearer",
            expires_in: options.expiresIn ?? 3600,
            refresh_token: `refresh-${issued}`,
            ...(form.scope === undefined ? {} : { scope: form.scope })
          })
        }
        res.writeHead(404).end()
      })
    })
    yield* Effect.acquireRelease(
      Effect.promise(() => new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()))),
      () =>
        Effect.promise(() =>
          new Promise<void>((resolve) => {
            server.closeAllConnections()
            server.close(() => resolve())
          })
        )
    )
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`
    /** Waits (in real time) until `n` requests of that kind have arrived in all. */
    const arrived = (kind: "prm" | "metadata" | "token", n: number): Effect.Effect<void> =>
      Effect.suspend(() => (counts[kind] >= n ? Effect.void : Effect.andThen(Queue.take(arrivals), arrived(kind, n))))
    return { base, issuer: `${base}/as`, state, counts, arrived }
  })

const clientFor = (base: string) =>
  OAuthClient.make({
    serverUrl: `${base}/mcp`,
    grant: { type: "client_credentials" },
    preRegistered: { clientId: "client-1", clientSecret: "secret-1" },
    requestTimeout: "2 seconds",
    circuitBreaker: { consecutiveFailures: 3, openDuration: "30 seconds" }
  })

describe("OAuthClient FM-18: auth service timeout, on the TestClock", () => {
  it.effect("a token endpoint that hangs fails with AuthServerTimeout exactly at the configured timeout", () =>
    Effect.gen(function*() {
      const as = yield* startAs()
      as.state.token = "hang"
      const oauth = yield* clientFor(as.base)
      const authorizing = yield* Effect.forkChild(Effect.flip(oauth.authorize()))
      yield* as.arrived("token", 1)
      yield* TestClock.adjust("1999 millis")
      expect(authorizing.pollUnsafe()).toBeUndefined()
      yield* TestClock.adjust("1 millis")
      const error = yield* Fiber.join(authorizing)
      expect(error).toMatchObject({ _tag: "AuthServerTimeout", mode: "FM-18", endpoint: `${as.base}/as/token`, timeoutMs: 2000 })
      expect(OAuthClient.isAuthServiceError(error)).toBe(true)
      expect(yield* oauth.tokens).toBeUndefined()
    }).pipe(Effect.scoped), 30_000)

  it.effect("repeated timeouts open the breaker: calls fail fast with AuthServerUnavailable and retryAfterMs; a probe after the open time closes it", () =>
    Effect.gen(function*() {
      const as = yield* startAs()
      as.state.token = "hang"
      const oauth = yield* clientFor(as.base)
      for (let i = 0; i < 3; i++) {
        const authorizing = yield* Effect.forkChild(Effect.flip(oauth.authorize()))
        yield* as.arrived("token", i + 1)
        yield* TestClock.adjust("2 seconds")
        expect(yield* Fiber.join(authorizing)).toMatchObject({ _tag: "AuthServerTimeout", mode: "FM-18" })
      }
      expect(as.counts.token).toBe(3)
      // open: no request reaches the server, and no clock time passes for the answer
      const rejected = yield* Effect.flip(oauth.authorize())
      expect(rejected).toMatchObject({
        _tag: "AuthServerUnavailable",
        mode: "FM-18",
        server: as.issuer,
        endpoint: `${as.base}/as/token`,
        retryAfterMs: 30_000
      })
      expect(as.counts.token).toBe(3)
      yield* TestClock.adjust("10 seconds")
      expect(yield* Effect.flip(oauth.authorize())).toMatchObject({ _tag: "AuthServerUnavailable", retryAfterMs: 20_000 })
      expect(as.counts.token).toBe(3)
      // the server is back: after the open time one probe goes through and closes the circuit
      as.state.token = "ok"
      yield* TestClock.adjust("20 seconds")
      expect(yield* oauth.authorize()).toMatchObject({ accessToken: "token-1", issuer: as.issuer })
      expect(yield* oauth.authorize("more")).toMatchObject({ accessToken: "token-2" })
      expect(as.counts.token).toBe(5)
    }).pipe(Effect.scoped), 30_000)

  it.effect("while the server hangs a held token keeps being used; once it has expired the refresh reports AuthServerTimeout", () =>
    Effect.gen(function*() {
      const as = yield* startAs({ expiresIn: 60 })
      const oauth = yield* clientFor(as.base)
      expect(yield* oauth.authorize()).toMatchObject({ accessToken: "token-1", refreshToken: "refresh-1", expiresAt: 60_000 })
      const before = { ...as.counts }
      as.state.token = "hang"
      // a token good for a while: nothing asks the server
      expect(yield* oauth.headers).toEqual({ authorization: "Bearer token-1" })
      expect(yield* oauth.authorize()).toMatchObject({ accessToken: "token-1" })
      expect(as.counts).toEqual(before)
      // 20 s before expiry the refresh is due; the server hangs, so the token that is still valid stays in use
      yield* TestClock.adjust("40 seconds")
      const nearly = yield* Effect.forkChild(oauth.headers)
      yield* as.arrived("token", 2)
      yield* TestClock.adjust("2 seconds")
      expect(yield* Fiber.join(nearly)).toEqual({ authorization: "Bearer token-1" })
      // expired: the refresh's timeout is the answer, and the refresh token is kept for later
      yield* TestClock.adjust("19 seconds")
      const expired = yield* Effect.forkChild(Effect.flip(oauth.headers))
      yield* as.arrived("token", 3)
      yield* TestClock.adjust("2 seconds")
      expect(yield* Fiber.join(expired)).toMatchObject({ _tag: "AuthServerTimeout", mode: "FM-18", endpoint: `${as.base}/as/token` })
      expect(yield* oauth.tokens).toMatchObject({ accessToken: "token-1", refreshToken: "refresh-1" })
      // the server is back: the next call refreshes
      as.state.token = "ok"
      expect(yield* oauth.headers).toEqual({ authorization: "Bearer token-2" })
      expect(as.counts.token).toBe(before.token + 3)
    }).pipe(Effect.scoped), 30_000)

  it.effect("discovery documents are reused for the TTL (5 minutes) and fetched again after it; a 401 for a held token re-reads the resource metadata", () =>
    Effect.gen(function*() {
      const as = yield* startAs()
      const oauth = yield* clientFor(as.base)
      expect(yield* oauth.authorize("a")).toMatchObject({ accessToken: "token-1", scope: "a" })
      expect(as.counts).toEqual({ prm: 1, metadata: 1, token: 1 })
      // a held token with the scope asked for: no request at all
      expect(yield* oauth.authorize("a")).toMatchObject({ accessToken: "token-1" })
      expect(as.counts).toEqual({ prm: 1, metadata: 1, token: 1 })
      // a new scope: a token request, with both documents from the cache
      expect(yield* oauth.authorize("b")).toMatchObject({ accessToken: "token-2", scope: "a b" })
      expect(as.counts).toEqual({ prm: 1, metadata: 1, token: 2 })
      yield* TestClock.adjust("4 minutes")
      yield* TestClock.adjust("59 seconds")
      expect(yield* oauth.authorize("c")).toMatchObject({ accessToken: "token-3" })
      expect(as.counts).toEqual({ prm: 1, metadata: 1, token: 3 })
      // past the TTL: both documents are fetched again
      yield* TestClock.adjust("2 seconds")
      expect(yield* oauth.authorize("d")).toMatchObject({ accessToken: "token-4" })
      expect(as.counts).toEqual({ prm: 2, metadata: 2, token: 4 })
      // a 401 for a held token: the resource may have moved, so its metadata is read again (not the server's)
      const url = new URL(`${as.base}/mcp`)
      expect(yield* oauth.challenge({ status: 401, wwwAuthenticate: `Bearer error="invalid_token"`, url })).toBe(true)
      expect(as.counts).toEqual({ prm: 3, metadata: 2, token: 5 })
    }).pipe(Effect.scoped), 30_000)
})
