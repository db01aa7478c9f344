import { describe, expect, it } from "@effect/vitest"
import * as crypto from "node:crypto"
import * as http from "node:http"
import * as Effect from "effect/Effect"
import { JsonRpcCodec } from "@effect-mcp/jsonrpc"
import { StreamableHttpClient } from "@effect-mcp/transports"
import * as McpClient from "../src/McpClient.ts"
import * as OAuthClient from "../src/OAuthClient.ts"

describe("OAuthClient: WWW-Authenticate", () => {
  it("parses a Bearer challenge with quoted values, escapes, commas and mixed-case names", () => {
    const header =
      `Bearer realm="mcp", Error="insufficient_scope", scope="files:read files:write", resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp", error_description="needs \\"write\\", sorry"`
    const [challenge] = OAuthClient.parseWwwAuthenticate(header)
    expect(challenge?.scheme).toBe("Bearer")
    expect(challenge?.params).toEqual({
      realm: "mcp",
      error: "insufficient_scope",
      scope: "files:read files:write",
      resource_metadata: "https://mcp.example.com/.well-known/oauth-protected-resource/mcp",
      error_description: "needs \"write\", sorry"
    })
  })

  it("splits several challenges in one header, token68 and bare schemes included", () => {
    const challenges = OAuthClient.parseWwwAuthenticate(
      `Basic realm="legacy", Negotiate abc+/def==, DPoP algs="ES256", error=use_dpop_nonce, Bearer`
    )
    expect(challenges.map((c) => c.scheme)).toEqual(["Basic", "Negotiate", "DPoP", "Bearer"])
    expect(challenges[0]!.params).toEqual({ realm: "legacy" })
    expect(challenges[1]!.token68).toBe("abc+/def==")
    expect(challenges[2]!.params).toEqual({ algs: "ES256", error: "use_dpop_nonce" })
    expect(challenges[3]!.params).toEqual({})
    expect(OAuthClient.parseWwwAuthenticate(undefined)).toEqual([])
    expect(OAuthClient.parseWwwAuthenticate("")).toEqual([])
  })

  it("bearerChallenge picks the Bearer challenge and names its parameters", () => {
    expect(OAuthClient.bearerChallenge(`Basic realm="x", bearer scope=mcp:basic, resource_metadata="https://a/b"`)).toEqual({
      scheme: "bearer",
      scope: "mcp:basic",
      resourceMetadata: "https://a/b"
    })
    expect(OAuthClient.bearerChallenge(`Basic realm="x"`)).toBeUndefined()
  })
})

describe("OAuthClient: discovery URLs", () => {
  it("protected resource metadata: path-inserted first, then the root (RFC 9728 §3.1, MCP order)", () => {
    expect(OAuthClient.protectedResourceMetadataUrls("https://example.com/public/mcp").map(String)).toEqual([
      "https://example.com/.well-known/oauth-protected-resource/public/mcp",
      "https://example.com/.well-known/oauth-protected-resource"
    ])
    expect(OAuthClient.protectedResourceMetadataUrls("https://example.com/mcp/?x=1").map(String)).toEqual([
      "https://example.com/.well-known/oauth-protected-resource/mcp?x=1",
      "https://example.com/.well-known/oauth-protected-resource"
    ])
    expect(OAuthClient.protectedResourceMetadataUrls("https://example.com/").map(String)).toEqual([
      "https://example.com/.well-known/oauth-protected-resource"
    ])
  })

  it("authorization server metadata: RFC 8414 and OIDC path insertion, then OIDC appending; two for a bare issuer", () => {
    expect(OAuthClient.authorizationServerMetadataUrls("https://auth.example.com/tenant1").map(String)).toEqual([
      "https://auth.example.com/.well-known/oauth-authorization-server/tenant1",
      "https://auth.example.com/.well-known/openid-configuration/tenant1",
      "https://auth.example.com/tenant1/.well-known/openid-configuration"
    ])
    expect(OAuthClient.authorizationServerMetadataUrls("https://auth.example.com").map(String)).toEqual([
      "https://auth.example.com/.well-known/oauth-authorization-server",
      "https://auth.example.com/.well-known/openid-configuration"
    ])
    expect(OAuthClient.authorizationServerMetadataUrls("https://auth.example.com/").map(String)).toEqual([
      "https://auth.example.com/.well-known/oauth-authorization-server",
      "https://auth.example.com/.well-known/openid-configuration"
    ])
  })

  it("a resource names the server when the origin is the same and its path is a segment prefix", () => {
    const server = "https://mcp.example.com/mcp"
    expect(OAuthClient.resourceMatches(server, "https://mcp.example.com/mcp")).toBe(true)
    expect(OAuthClient.resourceMatches(server, "https://mcp.example.com")).toBe(true)
    expect(OAuthClient.resourceMatches(server, "https://MCP.example.com/mcp/")).toBe(true)
    expect(OAuthClient.resourceMatches(server, "https://mcp.example.com:443/mcp")).toBe(true)
    expect(OAuthClient.resourceMatches(server, "https://evil.example.com/mcp")).toBe(false)
    expect(OAuthClient.resourceMatches(server, "http://mcp.example.com/mcp")).toBe(false)
    expect(OAuthClient.resourceMatches(server, "https://mcp.example.com:8443/mcp")).toBe(false)
    expect(OAuthClient.resourceMatches(server, "https://mcp.example.com/mc")).toBe(false)
    expect(OAuthClient.resourceMatches(server, "https://mcp.example.com/mcp/other")).toBe(false)
    expect(OAuthClient.resourceMatches(server, "https://mcp.example.com/mcp#x")).toBe(false)
    expect(OAuthClient.resourceMatches(server, "not a url")).toBe(false)
  })
})

describe("OAuthClient: PKCE, iss, scopes, client authentication", () => {
  it("S256 matches the RFC 7636 Appendix B example; fresh pairs are 43 base64url characters", () => {
    expect(OAuthClient.pkceChallenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")).toBe("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
    const a = OAuthClient.pkcePair()
    const b = OAuthClient.pkcePair()
    expect(a.verifier).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(a.verifier).not.toBe(b.verifier)
    expect(a.challenge).toBe(crypto.createHash("sha256").update(a.verifier).digest("base64url"))
  })

  it("iss follows the 2026-07-28 table with simple string comparison", () => {
    const expected = "https://auth.example.com"
    const check = (issParameterSupported: boolean, received: string | undefined) =>
      OAuthClient.checkIssuer({ issParameterSupported, expected, received })
    expect(check(true, expected)).toBe("ok")
    expect(check(true, undefined)).toBe("missing")
    expect(check(false, undefined)).toBe("ok")
    expect(check(false, expected)).toBe("ok")
    expect(check(true, "https://evil.example.com")).toBe("mismatch")
    expect(check(false, "https://evil.example.com")).toBe("mismatch")
    // no normalization: trailing slash, case, default port
    expect(check(true, `${expected}/`)).toBe("mismatch")
    expect(check(true, "https://AUTH.example.com")).toBe("mismatch")
    expect(check(true, "https://auth.example.com:443")).toBe("mismatch")
  })

  it("scope: the challenge, else scopes_supported, else omitted; united with earlier ones; offline_access only with a scope", () => {
    expect(OAuthClient.selectScope({ challenged: "files:read", scopesSupported: ["a", "b"] })).toBe("files:read")
    expect(OAuthClient.selectScope({ scopesSupported: ["a", "b", "c"] })).toBe("a b c")
    expect(OAuthClient.selectScope({})).toBeUndefined()
    expect(OAuthClient.selectScope({ challenged: "  " })).toBeUndefined()
    expect(OAuthClient.selectScope({ challenged: "mcp:write", previous: "mcp:basic" })).toBe("mcp:basic mcp:write")
    expect(OAuthClient.selectScope({ challenged: "mcp:basic", previous: "mcp:basic" })).toBe("mcp:basic")
    expect(OAuthClient.selectScope({ scopesSupported: ["mcp:basic"], offlineAccess: true })).toBe("mcp:basic offline_access")
    expect(OAuthClient.selectScope({ offlineAccess: true })).toBeUndefined()
    expect(OAuthClient.scopeSet(" a  b a ")).toEqual(["a", "b"])
  })

  it("token endpoint authentication follows the server's list", () => {
    const secret = { hasSecret: true }
    expect(OAuthClient.tokenEndpointAuthMethod(["client_secret_basic"], secret)).toBe("client_secret_basic")
    expect(OAuthClient.tokenEndpointAuthMethod(["client_secret_post"], secret)).toBe("client_secret_post")
    expect(OAuthClient.tokenEndpointAuthMethod(["none"], secret)).toBe("none")
    expect(OAuthClient.tokenEndpointAuthMethod(undefined, secret)).toBe("client_secret_basic")
    expect(OAuthClient.tokenEndpointAuthMethod(["none", "client_secret_post"], { hasSecret: false })).toBe("none")
    expect(OAuthClient.tokenEndpointAuthMethod(["private_key_jwt"], { hasSecret: false, hasPrivateKey: true })).toBe("private_key_jwt")
    expect(OAuthClient.isClientIdMetadataUrl("https://app.example.com/client.json")).toBe(true)
    expect(OAuthClient.isClientIdMetadataUrl("https://app.example.com/")).toBe(false)
    expect(OAuthClient.isClientIdMetadataUrl("http://app.example.com/client.json")).toBe(false)
  })
})

// ---- end to end: a protected MCP endpoint and its authorization server on 127.0.0.1 -------------------

interface MockOptions {
  /** What the authorization redirect carries as `iss`. */
  readonly iss?: "correct" | "wrong"
  /** The `resource` the protected resource metadata names. */
  readonly resource?: (base: string) => string
  /** Issue refresh tokens, with access tokens that expire in `expiresIn` seconds. */
  readonly refresh?: { readonly expiresIn: number }
}

interface Seen {
  registrations: Array<Record<string, unknown>>
  authorizations: Array<Record<string, string>>
  tokens: Array<Record<string, string>>
  mcp: Array<{ method: string; authorization: string | undefined; status: number }>
}

/** The resource at /mcp, its metadata, and an authorization server with issuer `<base>/as` (path insertion). */
const startMock = (options: MockOptions = {}) =>
  Effect.gen(function*() {
    const seen: Seen = { registrations: [], authorizations: [], tokens: [], mcp: [] }
    const challenges = new Map<string, { challenge: string; scope: string }>()
    const issued = new Map<string, ReadonlyArray<string>>()
    const refreshTokens = new Map<string, ReadonlyArray<string>>()
    let base = ""
    const issuer = () => `${base}/as`
    const json = (res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) =>
      void res.writeHead(status, { "content-type": "application/json", ...headers }).end(JSON.stringify(body))
    const server = http.createServer((req, res) => {
      const url = new URL(req.url ?? "/", base)
      let text = ""
      req.setEncoding("utf8").on("data", (d: string) => (text += d)).on("end", () => {
        if (req.method === "GET" && url.pathname === "/.well-known/oauth-protected-resource/mcp") {
          return json(res, 200, {
            resource: options.resource?.(base) ?? `${base}/mcp`,
            authorization_servers: [issuer()],
            scopes_supported: ["mcp:read"]
          })
        }
        if (req.method === "GET" && url.pathname === "/.well-known/oauth-authorization-server/as") {
          return json(res, 200, {
            issuer: issuer(),
            authorization_endpoint: `${issuer()}/authorize`,
            token_endpoint: `${issuer()}/token`,
            registration_endpoint: `${issuer()}/register`,
            response_types_supported: ["code"],
            code_challenge_methods_supported: ["S256"],
            authorization_response_iss_parameter_supported: true,
            token_endpoint_auth_methods_supported: ["client_secret_post"]
          })
        }
        if (req.method === "POST" && url.pathname === "/as/register") {
          seen.registrations.push(JSON.parse(text))
          return json(res, 201, { client_id: "client-1", client_secret: "secret-1", token_endpoint_auth_method: "client_secret_post" })
        }
        if (req.method === "GET" && url.pathname === "/as/authorize") {
          const query = Object.fromEntries(url.searchParams)
          seen.authorizations.push(query)
          const code = `code-${seen.authorizations.length}`
          challenges.set(code, { challenge: query.code_challenge ?? "", scope: query.scope ?? "" })
          const back = new URL(query.redirect_uri!)
          back.searchParams.set("code", code)
          back.searchParams.set("state", query.state ?? "")
          back.searchParams.set("iss", options.iss === "wrong" ? "https://evil.example.com" : issuer())
          return void res.writeHead(302, { location: back.href }).end()
        }
        if (req.method === "POST" && url.pathname === "/as/token") {
          const form = Object.fromEntries(new URLSearchParams(text))
          seen.tokens.push(form)
          if (form.grant_type === "refresh_token") {
            const scopes = refreshTokens.get(form.refresh_token ?? "")
            if (scopes === undefined || form.client_secret !== "secret-1") return json(res, 400, { error: "invalid_grant" })
            refreshTokens.delete(form.refresh_token!)
            const token = `token-${seen.tokens.length}`
            issued.set(token, scopes)
            refreshTokens.set(`refresh-${seen.tokens.length}`, scopes)
            return json(res, 200, {
              access_token: token,
              token_type: "Bearer",
              expires_in: options.refresh!.expiresIn,
              refresh_token: `refresh-${seen.tokens.length}`
            })
          }
          const grant = challenges.get(form.code ?? "")
          if (
            form.client_id !== "client-1" || form.client_secret !== "secret-1" || grant === undefined ||
            crypto.createHash("sha256").update(form.code_verifier ?? "").digest("base64url") !== grant.challenge
          ) {
            return json(res, 400, { error: "invalid_grant" })
          }
          const token = `token-${seen.tokens.length}`
          const scopes = grant.scope.split(" ").filter((s) => s !== "")
          issued.set(token, scopes)
          if (options.refresh !== undefined) refreshTokens.set(`refresh-${seen.tokens.length}`, scopes)
          return json(res, 200, {
            access_token: token,
            token_type: "Bearer",
            expires_in: options.refresh?.expiresIn ?? 3600,
            scope: grant.scope,
            ...(options.refresh === undefined ? {} : { refresh_token: `refresh-${seen.tokens.length}` })
          })
        }
        if (url.pathname === "/mcp" && req.method !== "POST") return void res.writeHead(405).end()
        if (url.pathname === "/mcp") {
          const message = JSON.parse(text) as { id?: number | string; method: string }
          const authorization = req.headers.authorization
          const scopes = authorization?.startsWith("Bearer ") ? issued.get(authorization.slice(7)) : undefined
          const metadata = `${base}/.well-known/oauth-protected-resource/mcp`
          const reply = (status: number, body: unknown, headers: Record<string, string> = {}) => {
            seen.mcp.push({ method: message.method, authorization, status })
            return body === undefined ? void res.writeHead(status, headers).end() : json(res, status, body, headers)
          }
          if (scopes === undefined) {
            return reply(401, { error: "invalid_token" }, {
              "www-authenticate": `Bearer error="invalid_token", scope="mcp:read", resource_metadata="${metadata}"`
            })
          }
          if (message.method === "tools/call" && !scopes.includes("mcp:write")) {
            return reply(403, { error: "insufficient_scope" }, {
              "www-authenticate": `Bearer error="insufficient_scope", scope="mcp:write", resource_metadata="${metadata}"`
            })
          }
          if (message.id === undefined) return reply(202, undefined)
          const result = message.method === "initialize"
            ? { protocolVersion: "2025-11-25", capabilities: { tools: {} }, serverInfo: { name: "protected", version: "1" } }
            : message.method === "tools/list"
            ? { tools: [{ name: "echo", inputSchema: { type: "object" } }] }
            : message.method === "tools/call"
            ? { content: [{ type: "text", text: "done" }] }
            : {}
          return reply(200, { jsonrpc: "2.0", id: message.id, result })
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
    return { base, seen, issuer: issuer(), revoke: (token: string) => issued.delete(token) }
  })

const oauthFor = (base: string) =>
  OAuthClient.make({
    serverUrl: `${base}/mcp`,
    redirectUri: "http://127.0.0.1:1/callback",
    userAgent: OAuthClient.redirectUserAgent({ timeout: "5 seconds" }),
    clientName: "oauth-test",
    requestTimeout: "5 seconds",
    authorizationTimeout: "5 seconds",
    challengeTimeout: "20 seconds"
  })

describe("OAuthClient: end to end", () => {
  it.live("a 401 runs discovery, registration, PKCE and the token exchange; a 403 steps up to the union of scopes", () =>
    Effect.gen(function*() {
      const { base, seen, issuer } = yield* startMock()
      const oauth = yield* oauthFor(base)
      const transport = yield* StreamableHttpClient.connect({ url: `${base}/mcp`, authorization: oauth, standaloneStream: false })
      const client = yield* McpClient.connect(transport, { info: { name: "c", version: "1" }, revisions: ["2025-11-25"] })
      const tools = yield* client.listAllTools
      expect(tools.map((t) => t.name)).toEqual(["echo"])
      const result = yield* client.callTool("echo", {})
      expect(result.content).toEqual([{ type: "text", text: "done" }])

      // one registration (DCR, native), then two authorizations: the challenged scope, then the union
      expect(seen.registrations).toHaveLength(1)
      expect(seen.registrations[0]).toMatchObject({ application_type: "native", redirect_uris: ["http://127.0.0.1:1/callback"] })
      expect(seen.authorizations.map((a) => a.scope)).toEqual(["mcp:read", "mcp:read mcp:write"])
      for (const a of seen.authorizations) {
        expect(a).toMatchObject({ response_type: "code", client_id: "client-1", code_challenge_method: "S256", resource: `${base}/mcp` })
      }
      // the token requests carry the verifier, the resource and client_secret_post credentials
      expect(seen.tokens).toHaveLength(2)
      for (const t of seen.tokens) {
        expect(t).toMatchObject({ grant_type: "authorization_code", resource: `${base}/mcp`, client_secret: "secret-1" })
      }
      // the first request went without a token, every later one with the newest
      expect(seen.mcp[0]).toMatchObject({ method: "initialize", authorization: undefined, status: 401 })
      expect(seen.mcp.filter((m) => m.status === 403)).toHaveLength(1)
      expect(seen.mcp.at(-1)).toMatchObject({ method: "tools/call", authorization: "Bearer token-2", status: 200 })
      const held = yield* oauth.tokens
      expect(held).toMatchObject({ issuer, resource: `${base}/mcp`, scope: "mcp:read mcp:write" })
    }).pipe(Effect.scoped, Effect.provide(JsonRpcCodec.JsonRpcCodec.layer)), 30_000)

  it.live("a wrong iss in the authorization response is refused before the code reaches the token endpoint", () =>
    Effect.gen(function*() {
      const { base, seen, issuer } = yield* startMock({ iss: "wrong" })
      const oauth = yield* oauthFor(base)
      const error = yield* Effect.flip(oauth.challenge({
        status: 401,
        wwwAuthenticate: `Bearer resource_metadata="${base}/.well-known/oauth-protected-resource/mcp"`,
        url: new URL(`${base}/mcp`)
      }))
      expect(error._tag).toBe("IssuerMismatch")
      expect(error).toMatchObject({ where: "authorization-response", expected: issuer, received: "https://evil.example.com" })
      expect(seen.authorizations).toHaveLength(1)
      expect(seen.tokens).toHaveLength(0)
    }).pipe(Effect.scoped), 30_000)

  it.live("protected resource metadata for another resource stops the flow before any authorization", () =>
    Effect.gen(function*() {
      const { base, seen } = yield* startMock({ resource: () => "https://evil.example.com/mcp" })
      const oauth = yield* oauthFor(base)
      const error = yield* Effect.flip(oauth.challenge({ status: 401, wwwAuthenticate: undefined, url: new URL(`${base}/mcp`) }))
      expect(error._tag).toBe("ResourceMismatch")
      expect(seen.registrations).toHaveLength(0)
      expect(seen.authorizations).toHaveLength(0)
    }).pipe(Effect.scoped), 30_000)

  it.live("a 403 for scopes the token already has is not retried", () =>
    Effect.gen(function*() {
      const { base, seen } = yield* startMock()
      const oauth = yield* oauthFor(base)
      const url = new URL(`${base}/mcp`)
      expect(yield* oauth.challenge({ status: 401, wwwAuthenticate: `Bearer scope="mcp:read"`, url })).toBe(true)
      const error = yield* Effect.flip(
        oauth.challenge({ status: 403, wwwAuthenticate: `Bearer error="insufficient_scope", scope="mcp:read"`, url })
      )
      expect(error).toMatchObject({ _tag: "InsufficientScope", required: ["mcp:read"], granted: ["mcp:read"] })
      expect(seen.authorizations).toHaveLength(1)
      // a 403 that is not about scope is not an authorization matter
      expect(yield* oauth.challenge({ status: 403, wwwAuthenticate: undefined, url })).toBe(false)
    }).pipe(Effect.scoped), 30_000)

  it.live("refresh tokens: an expired token is refreshed before use, and a 401 tries the refresh token first", () =>
    Effect.gen(function*() {
      // tokens that expire within the 30 s margin: every `headers` call refreshes
      const { base, seen, revoke } = yield* startMock({ refresh: { expiresIn: 10 } })
      const oauth = yield* oauthFor(base)
      const url = new URL(`${base}/mcp`)
      expect(yield* oauth.challenge({ status: 401, wwwAuthenticate: `Bearer scope="mcp:read"`, url })).toBe(true)
      expect(yield* oauth.tokens).toMatchObject({ accessToken: "token-1", refreshToken: "refresh-1" })
      expect(yield* oauth.headers).toEqual({ authorization: "Bearer token-2" })
      expect(seen.tokens.map((t) => t.grant_type)).toEqual(["authorization_code", "refresh_token"])
      expect(seen.tokens[1]).toMatchObject({ refresh_token: "refresh-1", resource: `${base}/mcp` })
      // the refreshed token is revoked: a 401 more than 10 s after that refresh would try the refresh token; this
      // one comes at once, so the client authorizes again instead of refreshing in a loop
      revoke("token-2")
      expect(yield* oauth.challenge({ status: 401, wwwAuthenticate: `Bearer scope="mcp:read"`, url })).toBe(true)
      expect(seen.tokens.map((t) => t.grant_type)).toEqual(["authorization_code", "refresh_token", "authorization_code"])
      expect(seen.authorizations).toHaveLength(2)
      // a token from a grant (not a refresh) that meets a 401 is refreshed first
      expect(yield* oauth.challenge({ status: 401, wwwAuthenticate: `Bearer scope="mcp:read"`, url })).toBe(true)
      expect(seen.tokens.at(-1)).toMatchObject({ grant_type: "refresh_token", refresh_token: "refresh-3" })
      expect(seen.authorizations).toHaveLength(2)
    }).pipe(Effect.scoped), 30_000)

  it.live("concurrent challenges are serialized: one authorization (or step-up) serves them all", () =>
    Effect.gen(function*() {
      const { base, seen } = yield* startMock()
      const oauth = yield* oauthFor(base)
      const url = new URL(`${base}/mcp`)
      const answers = yield* Effect.all(
        Array.from({ length: 5 }, () => oauth.challenge({ status: 401, wwwAuthenticate: `Bearer scope="mcp:read"`, url })),
        { concurrency: "unbounded" }
      )
      expect(answers).toEqual([true, true, true, true, true])
      expect(seen.authorizations).toHaveLength(1)
      expect(seen.registrations).toHaveLength(1)
      // concurrent 403s for the same scope: one step-up, the others retry with its token
      const stepUps = yield* Effect.all(
        Array.from({ length: 3 }, () =>
          oauth.challenge({ status: 403, wwwAuthenticate: `Bearer error="insufficient_scope", scope="mcp:write"`, url })),
        { concurrency: "unbounded" }
      )
      expect(stepUps).toEqual([true, true, true])
      expect(seen.authorizations.map((a) => a.scope)).toEqual(["mcp:read", "mcp:read mcp:write"])
    }).pipe(Effect.scoped), 30_000)
})
