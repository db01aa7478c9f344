/**
 * `OAuthClient`: MCP authorization (OAuth 2.1) on the client side, for 2025-11-25 and 2026-07-28, as the
 * `authorization` hook of the Streamable HTTP client transport (`StreamableHttpClient.Authorization`).
 *
 * On a 401 it runs the whole MCP authorization flow and on a 403 `insufficient_scope` a step-up:
 *
 * - Protected resource metadata (RFC 9728): the `resource_metadata` of the `WWW-Authenticate` challenge, else the
 *   well-known URL with the endpoint's path, then the root one. The document's `resource` must name this server
 *   (same origin, a path prefix of the endpoint's) or the flow stops (`ResourceMismatch`); that value is sent
 *   verbatim as the RFC 8707 `resource` of every authorization and token request.
 * - Authorization server metadata (RFC 8414 and OpenID Connect discovery, path insertion and appending in the
 *   spec's order). The document's `issuer` must be identical to the identifier the URL was built from
 *   (`IssuerMismatch`), and PKCE `S256` must be advertised (`PkceUnsupported`).
 * - Client registration, in the spec's priority: pre-registered credentials, a Client ID Metadata Document
 *   (when the server advertises `client_id_metadata_document_supported`), Dynamic Client Registration
 *   (RFC 7591, with `application_type`). Credentials are kept per issuer: when the protected resource moves
 *   to another authorization server, tokens are dropped and the client registers again (SEP-2352).
 * - The authorization code grant with PKCE S256, `state`, the RFC 9207 `iss` check (simple string comparison)
 *   before the code goes anywhere, the token endpoint authentication the server supports (`client_secret_basic`,
 *   `client_secret_post`, `none`, `private_key_jwt`), refresh tokens, and `offline_access` when the
 *   authorization server lists it. The "user agent" is a function the caller supplies
 *   (`redirectUserAgent` is a headless one for automation and tests).
 * - Scopes: the challenge's `scope`, else the resource's `scopes_supported`, else none; step-ups ask for the
 *   union of what was asked before and what the challenge names, a bounded number of times, and not at all when
 *   the token already carries every challenged scope.
 * - Non-interactive grants: `client_credentials` and the RFC 7523 JWT bearer grant (workload identity,
 *   enterprise-managed authorization with an ID-JAG); a failed non-interactive grant is not retried.
 * - DPoP (RFC 9449, ES256), opt-in: proofs at the token endpoint (answering `use_dpop_nonce`) and a fresh proof
 *   per request through `requestHeaders`, which is to be passed as the transport's `headers`.
 *
 * Every HTTP exchange goes through `fetch` with a timeout and a bound on the body; the user agent has its own
 * timeout. Concurrent challenges are serialized: one authorization at a time.
 *
 * An authorization server that is slow or down (FM-18) never takes the MCP session down with it while a token
 * is still good:
 *
 * - Each exchange has `requestTimeout` (default 10 s); one that runs out fails with `AuthServerTimeout`.
 * - Each exchange goes through a circuit breaker keyed by the authorization server's issuer (the protected
 *   resource metadata by its origin): after `circuitBreaker.consecutiveFailures` failures in a row (timeouts,
 *   unreachable, HTTP 5xx; default 3) calls fail at once with `AuthServerUnavailable` and its `retryAfterMs`
 *   until the breaker's open time (default 30 s) has passed and a probe succeeded.
 * - Discovery documents are cached for `metadataTtl` (default 5 minutes). A 401 while a token is held reads the
 *   protected resource metadata again (the resource may have moved to another authorization server).
 * - A held access token that is still valid is used without asking the authorization server: `headers` and
 *   `authorize` return it; when it is about to expire and the refresh fails because the server is slow or down,
 *   it keeps being used until it expires. A refresh that fails that way once it has expired reports the FM-18
 *   error (and keeps the refresh token for later).
 *
 * @since 0.1.0
 */
import * as crypto from "node:crypto"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Semaphore from "effect/Semaphore"
import { CircuitBreaker } from "@effect-mcp/faults"

// ---- errors -------------------------------------------------------------------------------------------

/**
 * FM-18: an endpoint could not be reached (connection refused, DNS, TLS) or sent a body over the limit. Retry
 * later; counts against the authorization server's circuit breaker.
 */
export class EndpointUnreachable extends Schema.TaggedError<EndpointUnreachable>()("EndpointUnreachable", {
  mode: Schema.tag("FM-18"),
  url: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    return `${this.url}: ${this.detail}`
  }
}

/**
 * FM-18: an authorization endpoint (metadata, registration, token, identity provider) did not answer within
 * `timeoutMs`. Retry later; a still-valid token keeps being used meanwhile. Counts against the server's
 * circuit breaker.
 */
export class AuthServerTimeout extends Schema.TaggedError<AuthServerTimeout>()("AuthServerTimeout", {
  mode: Schema.tag("FM-18"),
  endpoint: Schema.String,
  timeoutMs: Schema.Number
}) {
  override get message(): string {
    return `${this.endpoint} did not answer within ${this.timeoutMs} ms (authorization service timeout)`
  }
}

/**
 * FM-18: the circuit breaker of this authorization server (`server`: its issuer, or the origin of the protected
 * resource metadata) is open after repeated failures, so `endpoint` was not called. Retry after `retryAfterMs`.
 */
export class AuthServerUnavailable extends Schema.TaggedError<AuthServerUnavailable>()("AuthServerUnavailable", {
  mode: Schema.tag("FM-18"),
  server: Schema.String,
  endpoint: Schema.String,
  retryAfterMs: Schema.Number
}) {
  override get message(): string {
    return `${this.server} is failing (circuit open): ${this.endpoint} not called; retry after ${this.retryAfterMs} ms`
  }
}

/** The errors that say the authorization service is slow or down (FM-18), not that it said no. */
export type AuthServiceError = EndpointUnreachable | AuthServerTimeout | AuthServerUnavailable

/** Is this error one of the FM-18 availability errors (as opposed to a refusal or a protocol problem)? */
export const isAuthServiceError = (error: OAuthError): error is AuthServiceError =>
  error._tag === "EndpointUnreachable" || error._tag === "AuthServerTimeout" || error._tag === "AuthServerUnavailable"

/** Neither the protected resource metadata nor the authorization server metadata could be found. */
export class DiscoveryFailed extends Schema.TaggedError<DiscoveryFailed>()("DiscoveryFailed", {
  document: Schema.Literals(["protected-resource", "authorization-server"]),
  tried: Schema.Array(Schema.String),
  detail: Schema.String
}) {
  override get message(): string {
    return `No usable ${this.document} metadata (tried ${this.tried.join(", ") || "nothing"}): ${this.detail}`
  }
}

/** The protected resource metadata names another resource than the server the client talks to (RFC 9728 §3.3). */
export class ResourceMismatch extends Schema.TaggedError<ResourceMismatch>()("ResourceMismatch", {
  serverUrl: Schema.String,
  resource: Schema.String
}) {
  override get message(): string {
    return `The protected resource metadata is for ${this.resource}, not for ${this.serverUrl}`
  }
}

/**
 * An issuer did not match: the `issuer` of an authorization server metadata document is not the identifier the
 * document was looked up with (RFC 8414 §3.3), or the `iss` of an authorization response is missing or is not
 * the recorded issuer (RFC 9207 §2.4).
 */
export class IssuerMismatch extends Schema.TaggedError<IssuerMismatch>()("IssuerMismatch", {
  where: Schema.Literals(["metadata", "authorization-response"]),
  expected: Schema.String,
  received: Schema.optional(Schema.String),
  url: Schema.optional(Schema.String)
}) {
  override get message(): string {
    return this.where === "metadata"
      ? `The authorization server metadata at ${this.url ?? "?"} names issuer ${JSON.stringify(this.received)}, not ${this.expected}`
      : this.received === undefined
      ? `The authorization response has no iss although ${this.expected} advertises it`
      : `The authorization response comes from ${JSON.stringify(this.received)}, not from ${this.expected}`
  }
}

/** The authorization server does not advertise PKCE with S256; MCP clients must not proceed. */
export class PkceUnsupported extends Schema.TaggedError<PkceUnsupported>()("PkceUnsupported", {
  issuer: Schema.String,
  methods: Schema.Array(Schema.String)
}) {
  override get message(): string {
    return `${this.issuer} does not advertise PKCE S256 (code_challenge_methods_supported: ${this.methods.join(", ") || "absent"})`
  }
}

/** An endpoint of the authorization server is not HTTPS (loopback hosts excepted). */
export class InsecureEndpoint extends Schema.TaggedError<InsecureEndpoint>()("InsecureEndpoint", {
  url: Schema.String
}) {
  override get message(): string {
    return `${this.url} is not HTTPS`
  }
}

/** No client identity for this authorization server: registration failed or no mechanism was available. */
export class RegistrationFailed extends Schema.TaggedError<RegistrationFailed>()("RegistrationFailed", {
  issuer: Schema.String,
  status: Schema.optional(Schema.Number),
  error: Schema.optional(Schema.String),
  detail: Schema.String
}) {
  override get message(): string {
    return `No client registration with ${this.issuer}: ${this.detail}`
  }
}

/** The authorization step (user agent, redirect) did not yield a usable authorization code. */
export class AuthorizationFailed extends Schema.TaggedError<AuthorizationFailed>()("AuthorizationFailed", {
  reason: Schema.Literals(["denied", "state-mismatch", "missing-code", "user-agent", "not-configured", "timeout"]),
  error: Schema.optional(Schema.String),
  errorDescription: Schema.optional(Schema.String),
  detail: Schema.String
}) {
  override get message(): string {
    return `Authorization failed (${this.reason}): ${this.detail}`
  }
}

/** The token endpoint refused a grant or answered something that is not a usable token. */
export class TokenRequestFailed extends Schema.TaggedError<TokenRequestFailed>()("TokenRequestFailed", {
  grantType: Schema.String,
  status: Schema.Number,
  error: Schema.optional(Schema.String),
  errorDescription: Schema.optional(Schema.String),
  detail: Schema.String
}) {
  override get message(): string {
    return `The ${this.grantType} token request failed (HTTP ${this.status}): ${this.detail}`
  }
}

/**
 * A 403 `insufficient_scope` the client will not retry: the token already carries every challenged scope, or the
 * step-ups for this scope set ran out.
 */
export class InsufficientScope extends Schema.TaggedError<InsufficientScope>()("InsufficientScope", {
  required: Schema.Array(Schema.String),
  granted: Schema.Array(Schema.String),
  attempts: Schema.Number,
  detail: Schema.String
}) {
  override get message(): string {
    return `Insufficient scope (needs ${this.required.join(" ") || "unspecified scopes"}): ${this.detail}`
  }
}

/** The resource server asked for a DPoP nonce and gave none (or rejected the one it gave). */
export class DpopNonceRequired extends Schema.TaggedError<DpopNonceRequired>()("DpopNonceRequired", {
  url: Schema.String
}) {
  override get message(): string {
    return `${this.url} requires a DPoP nonce and did not accept one`
  }
}

/** Every error of the OAuth client. */
export type OAuthError =
  | EndpointUnreachable
  | AuthServerTimeout
  | AuthServerUnavailable
  | DiscoveryFailed
  | ResourceMismatch
  | IssuerMismatch
  | PkceUnsupported
  | InsecureEndpoint
  | RegistrationFailed
  | AuthorizationFailed
  | TokenRequestFailed
  | InsufficientScope
  | DpopNonceRequired

// ---- pure parts -----------------------------------------------------------------------------------------

/** One challenge of a `WWW-Authenticate` header (RFC 9110 §11.6.1). Parameter names are lower-cased. */
export interface WwwAuthenticateChallenge {
  readonly scheme: string
  readonly params: Readonly<Record<string, string>>
  readonly token68?: string
}

const TCHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/
const TOKEN68 = /[A-Za-z0-9\-._~+/]/

/** Parses a `WWW-Authenticate` header into its challenges (several may share one header). */
export const parseWwwAuthenticate = (header: string | undefined): ReadonlyArray<WwwAuthenticateChallenge> => {
  if (header === undefined) return []
  const s = header
  let i = 0
  const out: Array<WwwAuthenticateChallenge> = []
  const ws = () => {
    while (i < s.length && (s[i] === " " || s[i] === "\t")) i++
  }
  const token = () => {
    const start = i
    while (i < s.length && TCHAR.test(s[i]!)) i++
    return s.slice(start, i)
  }
  /** An unquoted value, read leniently (servers send `scope=mcp:read` although `:` is not a token character). */
  const bare = () => {
    const start = i
    while (i < s.length && s[i] !== "," && s[i] !== " " && s[i] !== "\t" && s[i] !== "\"") i++
    return s.slice(start, i)
  }
  const quoted = () => {
    i++
    let value = ""
    while (i < s.length) {
      const c = s[i]!
      if (c === "\\" && i + 1 < s.length) {
        value += s[i + 1]
        i += 2
        continue
      }
      i++
      if (c === "\"") break
      value += c
    }
    return value
  }
  /** Is `name = value` next (and not a token68 ending in `=` padding)? */
  const paramAhead = () => {
    const save = i
    ws()
    const name = token()
    ws()
    let ok = false
    if (name.length > 0 && s[i] === "=") {
      i++
      ws()
      ok = i < s.length && s[i] !== "," && s[i] !== "="
    }
    i = save
    return ok
  }
  while (i < s.length) {
    while (i < s.length && (s[i] === "," || s[i] === " " || s[i] === "\t")) i++
    if (i >= s.length) break
    const scheme = token()
    if (scheme === "") {
      i++
      continue
    }
    const params: Record<string, string> = {}
    let token68: string | undefined
    ws()
    if (i < s.length && s[i] !== "," && !paramAhead()) {
      const start = i
      while (i < s.length && TOKEN68.test(s[i]!)) i++
      while (i < s.length && s[i] === "=") i++
      if (i > start) token68 = s.slice(start, i)
    } else {
      while (paramAhead()) {
        ws()
        const name = token().toLowerCase()
        ws()
        i++ // "="
        ws()
        const value = s[i] === "\"" ? quoted() : bare()
        if (!(name in params)) params[name] = value
        ws()
        if (s[i] !== ",") break
        const save = i
        i++
        if (!paramAhead()) {
          i = save
          break
        }
      }
    }
    out.push(token68 === undefined ? { scheme, params } : { scheme, params, token68 })
    while (i < s.length && s[i] !== ",") i++
  }
  return out
}

/** What a `Bearer` (or `DPoP`) challenge says, per RFC 6750 §3 and RFC 9728 §5.1. */
export interface BearerChallenge {
  readonly scheme: string
  readonly resourceMetadata?: string
  readonly scope?: string
  readonly error?: string
  readonly errorDescription?: string
}

/** The first `Bearer` or `DPoP` challenge of a `WWW-Authenticate` header, if any. */
export const bearerChallenge = (header: string | undefined): BearerChallenge | undefined => {
  const found = parseWwwAuthenticate(header).find((c) => ["bearer", "dpop"].includes(c.scheme.toLowerCase()))
  if (found === undefined) return undefined
  const p = found.params
  return {
    scheme: found.scheme,
    ...(p.resource_metadata === undefined ? {} : { resourceMetadata: p.resource_metadata }),
    ...(p.scope === undefined ? {} : { scope: p.scope }),
    ...(p.error === undefined ? {} : { error: p.error }),
    ...(p.error_description === undefined ? {} : { errorDescription: p.error_description })
  }
}

const trimSlash = (path: string) => path.replace(/\/+$/, "")

/**
 * The well-known URLs of a server's protected resource metadata, in the order MCP requires: with the endpoint's
 * path inserted (RFC 9728 §3.1), then at the root.
 */
export const protectedResourceMetadataUrls = (serverUrl: string | URL): ReadonlyArray<URL> => {
  const url = new URL(serverUrl)
  const path = trimSlash(url.pathname)
  const root = new URL("/.well-known/oauth-protected-resource", url.origin)
  return path === "" ? [root] : [new URL(`/.well-known/oauth-protected-resource${path}${url.search}`, url.origin), root]
}

/**
 * The metadata URLs of an authorization server, in the order MCP requires: RFC 8414 and OpenID Connect discovery
 * with path insertion, then OpenID Connect path appending; for an issuer without a path, RFC 8414 then OpenID.
 */
export const authorizationServerMetadataUrls = (issuer: string | URL): ReadonlyArray<URL> => {
  const url = new URL(issuer)
  const path = trimSlash(url.pathname)
  if (path === "") {
    return [
      new URL("/.well-known/oauth-authorization-server", url.origin),
      new URL("/.well-known/openid-configuration", url.origin)
    ]
  }
  return [
    new URL(`/.well-known/oauth-authorization-server${path}`, url.origin),
    new URL(`/.well-known/openid-configuration${path}`, url.origin),
    new URL(`${path}/.well-known/openid-configuration`, url.origin)
  ]
}

/**
 * Does a protected resource identifier name this server? Same scheme, host and port (compared in canonical form),
 * no fragment, and its path is the endpoint's path or a segment prefix of it (a root resource covers `/mcp`).
 */
export const resourceMatches = (serverUrl: string | URL, resource: string): boolean => {
  let server: URL
  let named: URL
  try {
    server = new URL(serverUrl)
    named = new URL(resource)
  } catch {
    return false
  }
  if (named.hash !== "" || resource.includes("#")) return false
  if (server.protocol !== named.protocol || server.host !== named.host) return false
  const serverPath = trimSlash(server.pathname)
  const namedPath = trimSlash(named.pathname)
  return serverPath === namedPath || serverPath.startsWith(`${namedPath}/`)
}

const base64url = (data: Buffer | string) => Buffer.from(data).toString("base64url")

/** The S256 code challenge of a PKCE code verifier: BASE64URL(SHA256(verifier)) (RFC 7636 §4.2). */
export const pkceChallenge = (verifier: string): string => crypto.createHash("sha256").update(verifier, "ascii").digest("base64url")

/** A fresh PKCE pair: a 43-character verifier (32 random bytes) and its S256 challenge. */
export const pkcePair = (): { readonly verifier: string; readonly challenge: string } => {
  const verifier = base64url(crypto.randomBytes(32))
  return { verifier, challenge: pkceChallenge(verifier) }
}

/** The outcome of the RFC 9207 check of an authorization response. */
export type IssuerCheck = "ok" | "missing" | "mismatch"

/**
 * The RFC 9207 §2.4 check as MCP 2026-07-28 tabulates it: a present `iss` must equal the recorded issuer by
 * simple string comparison (no normalization) whether or not the server advertises the parameter; an absent one
 * is refused only when the server advertises it.
 */
export const checkIssuer = (options: {
  readonly issParameterSupported: boolean
  readonly expected: string
  readonly received: string | undefined
}): IssuerCheck =>
  options.received === undefined
    ? options.issParameterSupported ? "missing" : "ok"
    : options.received === options.expected
    ? "ok"
    : "mismatch"

/** The scopes of a space-separated scope string, without duplicates. */
export const scopeSet = (scope: string | undefined): ReadonlyArray<string> =>
  scope === undefined ? [] : [...new Set(scope.split(/\s+/).filter((s) => s.length > 0))]

const joinScopes = (scopes: ReadonlyArray<string>): string | undefined =>
  scopes.length === 0 ? undefined : [...new Set(scopes)].join(" ")

/**
 * The scope to request. The challenge's `scope`, else the resource's `scopes_supported`, else nothing (the
 * parameter is omitted); united with what was requested before (re-authorization keeps earlier grants); plus
 * `offline_access` when the client wants refresh tokens, the authorization server lists it and a scope is sent.
 */
export const selectScope = (options: {
  readonly challenged?: string | undefined
  readonly scopesSupported?: ReadonlyArray<string> | undefined
  readonly previous?: string | undefined
  readonly offlineAccess?: boolean | undefined
}): string | undefined => {
  const challenged = scopeSet(options.challenged)
  const base = challenged.length > 0 ? challenged : [...(options.scopesSupported ?? [])]
  const scopes = [...scopeSet(options.previous), ...base]
  if (scopes.length === 0) return undefined
  if (options.offlineAccess === true) scopes.push("offline_access")
  return joinScopes(scopes)
}

/** Token endpoint client authentication methods the client implements. */
export type TokenEndpointAuthMethod = "client_secret_basic" | "client_secret_post" | "none" | "private_key_jwt"

/**
 * The token endpoint authentication to use with credentials, from what the server advertises
 * (`token_endpoint_auth_methods_supported`; absent means `client_secret_basic`, RFC 8414 §2).
 */
export const tokenEndpointAuthMethod = (
  supported: ReadonlyArray<string> | undefined,
  credentials: { readonly hasSecret: boolean; readonly hasPrivateKey?: boolean }
): TokenEndpointAuthMethod => {
  const methods = supported ?? ["client_secret_basic"]
  if (credentials.hasPrivateKey === true && methods.includes("private_key_jwt")) return "private_key_jwt"
  if (credentials.hasSecret) {
    if (methods.includes("client_secret_basic")) return "client_secret_basic"
    if (methods.includes("client_secret_post")) return "client_secret_post"
  }
  if (credentials.hasPrivateKey === true) return "private_key_jwt"
  return credentials.hasSecret && !methods.includes("none") ? "client_secret_basic" : "none"
}

/** The method to ask for in Dynamic Client Registration: a public client when allowed, else a secret. */
const registrationAuthMethod = (supported: ReadonlyArray<string> | undefined): TokenEndpointAuthMethod => {
  if (supported === undefined) return "client_secret_basic"
  if (supported.includes("none")) return "none"
  if (supported.includes("client_secret_basic")) return "client_secret_basic"
  if (supported.includes("client_secret_post")) return "client_secret_post"
  return "none"
}

/** Is a Client ID Metadata Document URL usable: HTTPS with a path (draft-ietf-oauth-client-id-metadata-document)? */
export const isClientIdMetadataUrl = (url: string): boolean => {
  try {
    const parsed = new URL(url)
    return parsed.protocol === "https:" && trimSlash(parsed.pathname) !== "" && parsed.hash === ""
  } catch {
    return false
  }
}

const isLoopback = (url: URL) => {
  const host = url.hostname.toLowerCase()
  return host === "localhost" || host.endsWith(".localhost") || host === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(host)
}

// ---- JWS ------------------------------------------------------------------------------------------------

const HASHES: Record<string, string> = { "256": "sha256", "384": "sha384", "512": "sha512" }

/** Signs a compact JWS with a node key: ES*, RS*, PS* and EdDSA. */
const signJwt = (header: Record<string, unknown>, payload: Record<string, unknown>, key: crypto.KeyObject, alg: string): string => {
  const input = `${base64url(JSON.stringify({ ...header, alg }))}.${base64url(JSON.stringify(payload))}`
  const data = Buffer.from(input)
  const hash = HASHES[alg.slice(2)]
  let signature: Buffer
  if (alg === "EdDSA") signature = crypto.sign(null, data, key)
  else if (alg.startsWith("ES") && hash !== undefined) signature = crypto.sign(hash, data, { key, dsaEncoding: "ieee-p1363" })
  else if (alg.startsWith("RS") && hash !== undefined) signature = crypto.sign(hash, data, key)
  else if (alg.startsWith("PS") && hash !== undefined) {
    signature = crypto.sign(hash, data, { key, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: Number(alg.slice(2)) / 8 })
  } else throw new Error(`unsupported JWS algorithm ${alg}`)
  return `${input}.${base64url(signature)}`
}

// ---- options and the client -----------------------------------------------------------------------------

/** Credentials registered with an authorization server beforehand. */
export interface PreRegisteredClient {
  readonly clientId: string
  readonly clientSecret?: string
  /**
   * The issuer these credentials belong to. Without it they bind to the first authorization server they are
   * used with; another server then gets none of them (and the flow fails there rather than leak them).
   */
  readonly issuer?: string
  /** How to authenticate at the token endpoint (default: from the server's metadata). */
  readonly tokenEndpointAuthMethod?: TokenEndpointAuthMethod
  /** For `private_key_jwt` (RFC 7523): a PKCS#8 PEM private key and its JWS algorithm (default ES256). */
  readonly privateKey?: { readonly pem: string; readonly algorithm?: string; readonly keyId?: string }
}

/** What an assertion provider of the JWT bearer grant is told. */
export interface AssertionContext {
  readonly issuer: string
  readonly tokenEndpoint: string
  readonly resource: string
  readonly scope: string | undefined
}

/** The grant the client uses to get tokens. */
export type Grant =
  | { readonly type: "authorization_code" }
  | { readonly type: "client_credentials" }
  | {
    readonly type: "jwt_bearer"
    /** The assertion (RFC 7523 §2.1): a workload identity JWT, an ID-JAG, … */
    readonly assertion: (context: AssertionContext) => Effect.Effect<string, unknown>
  }

/** What the user agent is asked to do: open `url` and come back with the redirect to `redirectUri`. */
export interface AuthorizationRequest {
  readonly url: URL
  readonly redirectUri: string
  readonly state: string
}

/** Settings of the OAuth client. */
export interface Options {
  /** The MCP endpoint (the protected resource). */
  readonly serverUrl: string | URL
  /** The grant (default the authorization code grant). */
  readonly grant?: Grant
  /** The redirect URI registered for the authorization code grant. */
  readonly redirectUri?: string
  /** Opens the authorization URL and yields the URL the authorization server redirected back to. */
  readonly userAgent?: (request: AuthorizationRequest) => Effect.Effect<string | URL, unknown>
  /** `client_name` for registration (default "effect-mcp client"). */
  readonly clientName?: string
  /** `application_type` for registration (default "native"). */
  readonly applicationType?: "native" | "web"
  /** An HTTPS URL with a path serving this client's metadata document, used as `client_id` where supported. */
  readonly clientMetadataUrl?: string
  /** Extra client metadata for Dynamic Client Registration. */
  readonly clientMetadata?: Readonly<Record<string, unknown>>
  /** Credentials registered beforehand; used first when they fit the authorization server. */
  readonly preRegistered?: PreRegisteredClient | ReadonlyArray<PreRegisteredClient>
  /** Ask for `offline_access` (refresh tokens) when the authorization server lists it (default true). */
  readonly offlineAccess?: boolean
  /** Step-up authorizations per challenged scope set before giving up (default 2). */
  readonly maxStepUps?: number
  /** Use DPoP-bound tokens (ES256) when the authorization server supports them (default false). */
  readonly dpop?: boolean
  /**
   * 2025-03-26 compatibility: without protected resource metadata the server's origin is the authorization
   * server, and without its metadata the default `/authorize`, `/token` and `/register` endpoints are used
   * (default false).
   */
  readonly legacyDiscovery?: boolean
  /** Allow plain-HTTP authorization server endpoints beyond loopback hosts (default false). */
  readonly allowInsecureHttp?: boolean
  /** Time one HTTP exchange may take (default 10 s); past it the exchange fails with `AuthServerTimeout` (FM-18). */
  readonly requestTimeout?: Duration.Input
  /** How long discovery documents (protected resource and authorization server metadata) are reused (default 5 minutes). */
  readonly metadataTtl?: Duration.Input
  /**
   * The circuit breaker in front of each authorization server (default: open after 3 failures in a row, for
   * 30 s); `false` turns it off. Timeouts, unreachable endpoints and HTTP 5xx count as failures.
   */
  readonly circuitBreaker?: CircuitBreaker.Policy | false
  /** Time the user agent may take (default 5 minutes). */
  readonly authorizationTimeout?: Duration.Input
  /** Time one challenge may take in all, waiting for another one included (default 10 minutes). */
  readonly challengeTimeout?: Duration.Input
  /** Largest body read from an authorization endpoint, in bytes (default 1 MiB). */
  readonly maxResponseBytes?: number
  /** The fetch to use (default the global one). */
  readonly fetch?: typeof globalThis.fetch
}

/** The tokens the client holds. */
export interface Tokens {
  readonly accessToken: string
  /** "Bearer" or "DPoP". */
  readonly tokenType: string
  readonly refreshToken?: string
  /** When the access token expires (ms since the epoch), if the server said. */
  readonly expiresAt?: number
  /** The granted scope (the requested one when the server did not say). */
  readonly scope?: string
  readonly issuer: string
  readonly resource: string
}

/** A 401 or 403 from the MCP server (the transport's `Challenge`). */
export interface Challenge {
  readonly status: number
  readonly wwwAuthenticate: string | undefined
  readonly url: URL
  /** The response's headers (lower-case names): a DPoP resource server's nonce comes in `dpop-nonce`. */
  readonly headers?: Readonly<Record<string, string | undefined>>
}

/** The OAuth client: plugs into `StreamableHttpClient.connect({ authorization })`. */
export interface OAuthClient {
  /**
   * The `authorization` header to send (refreshing an expired token first when it can). While the authorization
   * server is slow or down (FM-18), a token that has not expired yet keeps being sent.
   */
  readonly headers: Effect.Effect<Readonly<Record<string, string>>, OAuthError>
  /** Handles a 401 or 403: obtains, refreshes or steps up a token; `true` means retry the request. */
  readonly challenge: (challenge: Challenge) => Effect.Effect<boolean, OAuthError>
  /**
   * Per-request headers: a fresh DPoP proof when the token is DPoP-bound (else none). Pass it as the transport's
   * `headers` when `dpop` is on.
   */
  readonly requestHeaders: (method?: string, url?: string | URL) => Readonly<Record<string, string>>
  /**
   * Obtains tokens without waiting for a challenge. A held token that is not about to expire and carries every
   * scope asked for is returned as is, without calling the authorization server (`clear` first to force a new
   * authorization).
   */
  readonly authorize: (scope?: string) => Effect.Effect<Tokens, OAuthError>
  /** The tokens held now. */
  readonly tokens: Effect.Effect<Tokens | undefined>
  /** Forgets tokens and registrations. */
  readonly clear: Effect.Effect<void>
}

/** A headless user agent: GETs the authorization URL without following redirects and returns its `Location`. */
export const redirectUserAgent = (options?: {
  readonly timeout?: Duration.Input
  readonly fetch?: typeof globalThis.fetch
}) =>
(request: AuthorizationRequest): Effect.Effect<URL, AuthorizationFailed> => {
  const fetchFn = options?.fetch ?? globalThis.fetch
  const ms = Duration.toMillis(Duration.fromInputUnsafe(options?.timeout ?? Duration.seconds(30)))
  return Effect.tryPromise({
    try: async (signal) => {
      const response = await fetchFn(request.url, { method: "GET", redirect: "manual", signal })
      await response.body?.cancel().catch(() => undefined)
      const location = response.headers.get("location")
      if (response.status < 300 || response.status >= 400 || location === null) {
        throw new Error(`the authorization endpoint answered ${response.status} without a redirect`)
      }
      return new URL(location, request.url)
    },
    catch: (error) => new AuthorizationFailed({ reason: "user-agent", detail: errorText(error) })
  }).pipe(
    Effect.timeoutOrElse({
      duration: ms,
      orElse: () => Effect.fail(new AuthorizationFailed({ reason: "user-agent", detail: `no redirect within ${ms} ms` }))
    })
  )
}

/**
 * An assertion provider for enterprise-managed authorization (SEP-990): exchanges the user's identity token at
 * the enterprise identity provider (RFC 8693 token exchange) for an ID-JAG addressed to the MCP server's
 * authorization server, to be used with the `jwt_bearer` grant.
 */
export const idJagAssertion = (options: {
  /** The identity provider's token endpoint. */
  readonly tokenEndpoint: string
  /** The identity token (or SAML assertion) to exchange. */
  readonly subjectToken: string
  /** Its type (default `urn:ietf:params:oauth:token-type:id_token`). */
  readonly subjectTokenType?: string
  /** The client's id at the identity provider. */
  readonly clientId: string
  /** The client's secret at the identity provider (sent with `client_secret_post`), if any. */
  readonly clientSecret?: string
  readonly timeout?: Duration.Input
  readonly fetch?: typeof globalThis.fetch
}) =>
(context: AssertionContext): Effect.Effect<string, TokenRequestFailed | EndpointUnreachable | AuthServerTimeout> => {
  const fetchFn = options.fetch ?? globalThis.fetch
  const ms = Duration.toMillis(Duration.fromInputUnsafe(options.timeout ?? Duration.seconds(30)))
  const grantType = "urn:ietf:params:oauth:grant-type:token-exchange"
  const body = new URLSearchParams({
    grant_type: grantType,
    requested_token_type: "urn:ietf:params:oauth:token-type:id-jag",
    audience: context.issuer,
    resource: context.resource,
    subject_token: options.subjectToken,
    subject_token_type: options.subjectTokenType ?? "urn:ietf:params:oauth:token-type:id_token",
    client_id: options.clientId,
    ...(options.clientSecret === undefined ? {} : { client_secret: options.clientSecret }),
    ...(context.scope === undefined ? {} : { scope: context.scope })
  })
  return Effect.tryPromise({
    try: async (signal) => {
      const response = await fetchFn(options.tokenEndpoint, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
        body: body.toString(),
        redirect: "manual",
        signal
      })
      return { status: response.status, text: await readBounded(response, 1024 * 1024) }
    },
    catch: (error) => new EndpointUnreachable({ url: options.tokenEndpoint, detail: errorText(error) })
  }).pipe(
    Effect.timeoutOrElse({
      duration: ms,
      orElse: () => Effect.fail(new AuthServerTimeout({ endpoint: options.tokenEndpoint, timeoutMs: ms }))
    }),
    Effect.flatMap(({ status, text }) => {
      let doc: unknown
      try {
        doc = JSON.parse(text)
      } catch {
        doc = undefined
      }
      const token = isRecord(doc) ? str(doc.access_token) : undefined
      if (status === 200 && token !== undefined) return Effect.succeed(token)
      return Effect.fail(
        new TokenRequestFailed({
          grantType,
          status,
          ...(isRecord(doc) && typeof doc.error === "string" ? { error: doc.error } : {}),
          ...(isRecord(doc) && typeof doc.error_description === "string" ? { errorDescription: doc.error_description } : {}),
          detail: isRecord(doc) && typeof doc.error === "string" ? doc.error : `HTTP ${status} without an ID-JAG`
        })
      )
    })
  )
}

/** Reads a response body, failing past `maxBytes` without buffering the rest. */
const readBounded = async (response: Response, maxBytes: number): Promise<string> => {
  const reader = response.body?.getReader()
  if (reader === undefined) return ""
  const chunks: Array<Uint8Array> = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.byteLength
    if (size > maxBytes) {
      await reader.cancel().catch(() => undefined)
      throw new Error(`the response is larger than ${maxBytes} bytes`)
    }
    chunks.push(value)
  }
  return Buffer.concat(chunks).toString("utf8")
}

const errorText = (error: unknown): string => {
  if (error instanceof Error) {
    const cause = (error as { cause?: unknown }).cause
    return cause instanceof Error ? `${error.message}: ${cause.message}` : error.message
  }
  if (typeof error === "object" && error !== null && "message" in error) return String((error as { message: unknown }).message)
  return String(error)
}

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)
const stringArray = (u: unknown): ReadonlyArray<string> | undefined =>
  Array.isArray(u) ? u.filter((x): x is string => typeof x === "string") : undefined
const str = (u: unknown): string | undefined => typeof u === "string" && u.length > 0 ? u : undefined

const JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
const CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

interface HttpResponse {
  readonly status: number
  readonly headers: Headers
  readonly text: string
}

interface ResourceInfo {
  readonly resource: string
  readonly authorizationServers: ReadonlyArray<string>
  readonly scopesSupported: ReadonlyArray<string> | undefined
  readonly legacy: boolean
}

interface AuthServer {
  readonly issuer: string
  readonly metadata: Record<string, unknown>
  readonly authorizationEndpoint: string | undefined
  readonly tokenEndpoint: string
  readonly registrationEndpoint: string | undefined
  readonly legacy: boolean
}

interface ClientIdentity {
  readonly clientId: string
  readonly clientSecret?: string
  readonly method: TokenEndpointAuthMethod
  readonly privateKey?: PreRegisteredClient["privateKey"]
}

/** The breaker policy of `Options.circuitBreaker` by default: open after 3 failures in a row, for 30 s. */
export const defaultCircuitBreaker: CircuitBreaker.Policy = { consecutiveFailures: 3, openDuration: "30 seconds" }

/** How a call to an authorization endpoint counts for its breaker: no answer or HTTP 5xx is a failure. */
const classifyExchange = (exit: Exit.Exit<HttpResponse, EndpointUnreachable | AuthServerTimeout>): CircuitBreaker.Outcome =>
  Exit.isSuccess(exit) ? (exit.value.status >= 500 ? "failure" : "success") : "failure"

/**
 * Makes an OAuth client for one MCP server. Its circuit breaker's timers live in the scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<OAuthClient, never, Scope.Scope> =>
  Effect.gen(function*() {
    const serverUrl = new URL(options.serverUrl)
    serverUrl.hash = ""
    const grant: Grant = options.grant ?? { type: "authorization_code" }
    const fetchFn = options.fetch ?? globalThis.fetch
    const requestMs = Duration.toMillis(Duration.fromInputUnsafe(options.requestTimeout ?? Duration.seconds(10)))
    const metadataTtlMs = Duration.toMillis(Duration.fromInputUnsafe(options.metadataTtl ?? Duration.minutes(5)))
    const breaker = options.circuitBreaker === false
      ? undefined
      : yield* CircuitBreaker.make({ name: "oauth", policy: options.circuitBreaker ?? defaultCircuitBreaker })
    const authorizationMs = Duration.toMillis(Duration.fromInputUnsafe(options.authorizationTimeout ?? Duration.minutes(5)))
    const challengeMs = Duration.toMillis(Duration.fromInputUnsafe(options.challengeTimeout ?? Duration.minutes(10)))
    const maxBytes = options.maxResponseBytes ?? 1024 * 1024
    const maxStepUps = options.maxStepUps ?? 2
    const wantsOffline = options.offlineAccess ?? true
    const preRegistered = options.preRegistered === undefined
      ? []
      : Array.isArray(options.preRegistered)
      ? options.preRegistered as ReadonlyArray<PreRegisteredClient>
      : [options.preRegistered as PreRegisteredClient]
    const cimdUrl = options.clientMetadataUrl !== undefined && isClientIdMetadataUrl(options.clientMetadataUrl)
      ? options.clientMetadataUrl
      : undefined
    if (options.clientMetadataUrl !== undefined && cimdUrl === undefined) {
      yield* Effect.logWarning(`clientMetadataUrl ${options.clientMetadataUrl} is not an HTTPS URL with a path; not used`)
    }
    const lock = yield* Semaphore.make(1)

    let tokens: Tokens | undefined
    let tokensByRefreshAt = 0
    let requestedScope: string | undefined
    let generation = 0
    let boundIssuer: string | undefined
    const registrations = new Map<string, ClientIdentity>()
    /** Authorization server metadata by issuer, with the Clock time it was fetched (reused for `metadataTtl`). */
    const servers = new Map<string, AuthServer & { readonly fetchedAt: number }>()
    /** Protected resource metadata by the `resource_metadata` URL it was looked up with ("" for none). */
    const resources = new Map<string, ResourceInfo & { readonly fetchedAt: number }>()
    const bindings = new Map<PreRegisteredClient, string>()
    /** Step-ups per challenged scope set, forgotten after a while (a long session may need them again). */
    const stepUps = new Map<string, { count: number; since: number }>()
    const STEP_UP_WINDOW_MS = 5 * 60_000
    /** A non-interactive grant that failed is not retried (WIF, client credentials). */
    let stickyFailure: TokenRequestFailed | undefined

    // DPoP (RFC 9449): one key per client
    const dpopKeys = options.dpop === true ? crypto.generateKeyPairSync("ec", { namedCurve: "P-256" }) : undefined
    const dpopJwk = dpopKeys === undefined ? undefined : (() => {
      const jwk = dpopKeys.publicKey.export({ format: "jwk" })
      return { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y }
    })()
    const dpopNonces = new Map<string, string>()
    const dpopProof = (method: string, url: string | URL, extra: { readonly ath?: string; readonly nonce?: string | undefined }) => {
      const target = new URL(url)
      const htu = `${target.origin}${target.pathname}`
      return signJwt({ typ: "dpop+jwt", jwk: dpopJwk }, {
        jti: crypto.randomUUID(),
        htm: method,
        htu,
        iat: Math.floor(Date.now() / 1000),
        ...(extra.ath === undefined ? {} : { ath: extra.ath }),
        ...(extra.nonce === undefined ? {} : { nonce: extra.nonce })
      }, dpopKeys!.privateKey, "ES256")
    }

    const log = <A, E>(effect: Effect.Effect<A, E>) => Effect.annotateLogs(effect, { module: "OAuthClient" })

    // ---- HTTP ---------------------------------------------------------------------------------------------

    /**
     * One exchange with an authorization endpoint: bounded in time and body, through the breaker of `server`
     * (an issuer, or the origin of a protected resource metadata URL).
     */
    const http = (
      server: string,
      url: URL,
      init: { readonly method: "GET" | "POST"; readonly headers?: Record<string, string>; readonly body?: string; readonly follow?: boolean }
    ): Effect.Effect<HttpResponse, AuthServiceError> => {
      const exchange = Effect.tryPromise({
        try: async (signal) => {
          const response = await fetchFn(url, {
            method: init.method,
            headers: { accept: "application/json", ...init.headers },
            ...(init.body === undefined ? {} : { body: init.body }),
            redirect: init.follow === true ? "follow" : "manual",
            signal
          })
          return { status: response.status, headers: response.headers, text: await readBounded(response, maxBytes) }
        },
        catch: (error) => new EndpointUnreachable({ url: url.href, detail: errorText(error) })
      }).pipe(
        Effect.timeoutOrElse({
          duration: requestMs,
          orElse: () => Effect.fail(new AuthServerTimeout({ endpoint: url.href, timeoutMs: requestMs }))
        })
      )
      if (breaker === undefined) return exchange
      return breaker.execute(server, exchange, { classify: classifyExchange }).pipe(
        Effect.catchTag("CircuitOpen", (open) =>
          Effect.fail(new AuthServerUnavailable({ server, endpoint: url.href, retryAfterMs: open.retryAfterMs })))
      )
    }

    const parseJson = (text: string): unknown => {
      try {
        return JSON.parse(text)
      } catch {
        return undefined
      }
    }

    const requireSecure = (url: string): Effect.Effect<URL, InsecureEndpoint> => {
      let parsed: URL
      try {
        parsed = new URL(url)
      } catch {
        return Effect.fail(new InsecureEndpoint({ url }))
      }
      return parsed.protocol === "https:" || (parsed.protocol === "http:" && (isLoopback(parsed) || options.allowInsecureHttp === true))
        ? Effect.succeed(parsed)
        : Effect.fail(new InsecureEndpoint({ url }))
    }

    // ---- discovery ----------------------------------------------------------------------------------------

    /** Slow or failing (timeout, open breaker): discovery stops there instead of trying the next URL. */
    const stopsDiscovery = (error: AuthServiceError): error is AuthServerTimeout | AuthServerUnavailable =>
      error._tag !== "EndpointUnreachable"

    /**
     * The protected resource metadata: the cached document while it is younger than `metadataTtl`, unless
     * `revalidate` (a 401 for a token held: the resource may have moved to another authorization server).
     */
    const discoverResource = (
      resourceMetadata: string | undefined,
      revalidate: boolean
    ): Effect.Effect<ResourceInfo, DiscoveryFailed | ResourceMismatch | AuthServerTimeout | AuthServerUnavailable> =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const cacheKey = resourceMetadata ?? ""
        const cached = resources.get(cacheKey)
        if (!revalidate && cached !== undefined && now - cached.fetchedAt < metadataTtlMs) return cached
        const found = yield* fetchResource(resourceMetadata)
        resources.set(cacheKey, { ...found, fetchedAt: now })
        return found
      })

    const fetchResource = (
      resourceMetadata: string | undefined
    ): Effect.Effect<ResourceInfo, DiscoveryFailed | ResourceMismatch | AuthServerTimeout | AuthServerUnavailable> =>
      Effect.gen(function*() {
        const candidates: Array<URL> = []
        if (resourceMetadata !== undefined) {
          try {
            candidates.push(new URL(resourceMetadata, serverUrl))
          } catch {
            // an unusable header value: the well-known URLs still apply
          }
        }
        for (const url of protectedResourceMetadataUrls(serverUrl)) {
          if (!candidates.some((c) => c.href === url.href)) candidates.push(url)
        }
        const tried: Array<string> = []
        const problems: Array<string> = []
        for (const candidate of candidates) {
          tried.push(candidate.href)
          const response = yield* Effect.result(http(candidate.origin, candidate, { method: "GET", follow: true }))
          if (Result.isFailure(response)) {
            if (stopsDiscovery(response.failure)) return yield* response.failure
            problems.push(response.failure.detail)
            continue
          }
          if (response.success.status !== 200) {
            problems.push(`${candidate.pathname}: HTTP ${response.success.status}`)
            continue
          }
          const doc = parseJson(response.success.text)
          const resource = isRecord(doc) ? str(doc.resource) : undefined
          const servers = isRecord(doc) ? stringArray(doc.authorization_servers) : undefined
          if (!isRecord(doc) || resource === undefined || servers === undefined || servers.length === 0) {
            problems.push(`${candidate.pathname}: not a protected resource metadata document with authorization_servers`)
            continue
          }
          if (!resourceMatches(serverUrl, resource)) {
            return yield* new ResourceMismatch({ serverUrl: serverUrl.href, resource })
          }
          yield* Effect.logDebug(`protected resource metadata from ${candidate.href}: ${resource} → ${servers.join(", ")}`)
          return { resource, authorizationServers: servers, scopesSupported: stringArray(doc.scopes_supported), legacy: false }
        }
        if (options.legacyDiscovery === true) {
          yield* Effect.logDebug("no protected resource metadata; 2025-03-26 discovery at the server's origin")
          return { resource: serverUrl.href, authorizationServers: [serverUrl.origin], scopesSupported: undefined, legacy: true }
        }
        return yield* new DiscoveryFailed({ document: "protected-resource", tried, detail: problems.join("; ") })
      })

    /** The authorization server metadata: the cached document while it is younger than `metadataTtl`. */
    const discoverServer = (
      issuer: string,
      legacy: boolean
    ): Effect.Effect<AuthServer, DiscoveryFailed | IssuerMismatch | InsecureEndpoint | AuthServerTimeout | AuthServerUnavailable> =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const cached = servers.get(issuer)
        if (cached !== undefined && now - cached.fetchedAt < metadataTtlMs) return cached
        yield* requireSecure(issuer)
        const tried: Array<string> = []
        const problems: Array<string> = []
        let urls: ReadonlyArray<URL>
        try {
          urls = authorizationServerMetadataUrls(issuer)
        } catch {
          return yield* new DiscoveryFailed({ document: "authorization-server", tried, detail: `${issuer} is not a URL` })
        }
        for (const url of urls) {
          tried.push(url.href)
          const response = yield* Effect.result(http(issuer, url, { method: "GET", follow: true }))
          if (Result.isFailure(response)) {
            if (stopsDiscovery(response.failure)) return yield* response.failure
            problems.push(response.failure.detail)
            continue
          }
          if (response.success.status !== 200) {
            problems.push(`${url.pathname}: HTTP ${response.success.status}`)
            continue
          }
          const doc = parseJson(response.success.text)
          if (!isRecord(doc)) {
            problems.push(`${url.pathname}: not a JSON object`)
            continue
          }
          // RFC 8414 §3.3 / OIDC Discovery §4.3: identical, by simple string comparison
          if (doc.issuer !== issuer) {
            return yield* new IssuerMismatch({
              where: "metadata",
              expected: issuer,
              ...(typeof doc.issuer === "string" ? { received: doc.issuer } : {}),
              url: url.href
            })
          }
          const tokenEndpoint = str(doc.token_endpoint)
          if (tokenEndpoint === undefined) {
            problems.push(`${url.pathname}: no token_endpoint`)
            continue
          }
          yield* requireSecure(tokenEndpoint)
          const authorizationEndpoint = str(doc.authorization_endpoint)
          if (authorizationEndpoint !== undefined) yield* requireSecure(authorizationEndpoint)
          const registrationEndpoint = str(doc.registration_endpoint)
          if (registrationEndpoint !== undefined) yield* requireSecure(registrationEndpoint)
          const server: AuthServer = { issuer, metadata: doc, authorizationEndpoint, tokenEndpoint, registrationEndpoint, legacy: false }
          yield* Effect.logDebug(`authorization server metadata from ${url.href}`)
          servers.set(issuer, { ...server, fetchedAt: now })
          return server
        }
        if (legacy) {
          // 2025-03-26: default endpoints at the authorization base URL; PKCE assumed
          const base = new URL(issuer)
          const server: AuthServer = {
            issuer,
            metadata: { code_challenge_methods_supported: ["S256"] },
            authorizationEndpoint: new URL("/authorize", base).href,
            tokenEndpoint: new URL("/token", base).href,
            registrationEndpoint: new URL("/register", base).href,
            legacy: true
          }
          servers.set(issuer, { ...server, fetchedAt: now })
          return server
        }
        return yield* new DiscoveryFailed({ document: "authorization-server", tried, detail: problems.join("; ") })
      })

    // ---- registration -------------------------------------------------------------------------------------

    const supportedMethods = (server: AuthServer) => stringArray(server.metadata.token_endpoint_auth_methods_supported)

    const useDpop = (server: AuthServer) => {
      if (dpopKeys === undefined) return false
      const algs = stringArray(server.metadata.dpop_signing_alg_values_supported)
      return algs !== undefined && algs.includes("ES256")
    }

    const identity = (server: AuthServer): Effect.Effect<ClientIdentity, RegistrationFailed | AuthServiceError> =>
      Effect.gen(function*() {
        const known = registrations.get(server.issuer)
        if (known !== undefined) return known
        // 1. pre-registered credentials for this issuer (or not yet bound to another)
        const pre = preRegistered.find((p) => p.issuer === server.issuer) ??
          preRegistered.find((p) => p.issuer === undefined && (bindings.get(p) ?? server.issuer) === server.issuer)
        if (pre !== undefined) {
          bindings.set(pre, server.issuer)
          const found: ClientIdentity = {
            clientId: pre.clientId,
            ...(pre.clientSecret === undefined ? {} : { clientSecret: pre.clientSecret }),
            ...(pre.privateKey === undefined ? {} : { privateKey: pre.privateKey }),
            method: pre.tokenEndpointAuthMethod ??
              tokenEndpointAuthMethod(supportedMethods(server), { hasSecret: pre.clientSecret !== undefined, hasPrivateKey: pre.privateKey !== undefined })
          }
          registrations.set(server.issuer, found)
          return found
        }
        if (preRegistered.length > 0 && grant.type !== "authorization_code") {
          return yield* new RegistrationFailed({
            issuer: server.issuer,
            detail: "the pre-registered credentials belong to another authorization server"
          })
        }
        // 2. a Client ID Metadata Document
        if (grant.type === "authorization_code" && cimdUrl !== undefined && server.metadata.client_id_metadata_document_supported === true) {
          const found: ClientIdentity = { clientId: cimdUrl, method: "none" }
          registrations.set(server.issuer, found)
          return found
        }
        // 3. Dynamic Client Registration
        if (server.registrationEndpoint === undefined) {
          return yield* new RegistrationFailed({
            issuer: server.issuer,
            detail: "no pre-registered credentials fit, and the server supports neither Client ID Metadata Documents nor Dynamic Client Registration"
          })
        }
        const method = registrationAuthMethod(supportedMethods(server))
        const grantTypes = grant.type === "authorization_code"
          ? ["authorization_code", "refresh_token"]
          : [grant.type === "client_credentials" ? "client_credentials" : JWT_BEARER]
        const body = {
          client_name: options.clientName ?? "effect-mcp client",
          application_type: options.applicationType ?? "native",
          grant_types: grantTypes,
          response_types: grant.type === "authorization_code" ? ["code"] : [],
          redirect_uris: options.redirectUri === undefined ? [] : [options.redirectUri],
          token_endpoint_auth_method: method,
          ...(useDpop(server) ? { dpop_bound_access_tokens: true } : {}),
          ...options.clientMetadata
        }
        const response = yield* http(server.issuer, new URL(server.registrationEndpoint), {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(body)
        })
        const doc = parseJson(response.text)
        if (response.status !== 200 && response.status !== 201) {
          return yield* new RegistrationFailed({
            issuer: server.issuer,
            status: response.status,
            ...(isRecord(doc) && typeof doc.error === "string" ? { error: doc.error } : {}),
            detail: isRecord(doc) && typeof doc.error_description === "string" ? doc.error_description : `HTTP ${response.status}`
          })
        }
        const clientId = isRecord(doc) ? str(doc.client_id) : undefined
        if (!isRecord(doc) || clientId === undefined) {
          return yield* new RegistrationFailed({ issuer: server.issuer, status: response.status, detail: "the registration response has no client_id" })
        }
        const secret = str(doc.client_secret)
        const answered = str(doc.token_endpoint_auth_method) as TokenEndpointAuthMethod | undefined
        let registered: TokenEndpointAuthMethod = answered ?? method
        if (registered !== "none" && registered !== "private_key_jwt" && secret === undefined) registered = "none"
        const found: ClientIdentity = { clientId, ...(secret === undefined ? {} : { clientSecret: secret }), method: registered }
        yield* Effect.logDebug(`registered with ${server.issuer} as ${clientId} (${registered})`)
        registrations.set(server.issuer, found)
        return found
      })

    // ---- the token endpoint -------------------------------------------------------------------------------

    const clientAssertion = (server: AuthServer, client: ClientIdentity): string => {
      const key = crypto.createPrivateKey(client.privateKey!.pem)
      const now = Math.floor(Date.now() / 1000)
      return signJwt(
        { typ: "JWT", ...(client.privateKey!.keyId === undefined ? {} : { kid: client.privateKey!.keyId }) },
        { iss: client.clientId, sub: client.clientId, aud: server.issuer, jti: crypto.randomUUID(), iat: now, exp: now + 300 },
        key,
        client.privateKey!.algorithm ?? "ES256"
      )
    }

    const tokenRequest = (
      server: AuthServer,
      client: ClientIdentity,
      grantType: string,
      params: Record<string, string>,
      resource: string,
      scope: string | undefined
    ): Effect.Effect<Tokens, TokenRequestFailed | AuthServiceError> =>
      Effect.gen(function*() {
        const endpoint = new URL(server.tokenEndpoint)
        const body = new URLSearchParams({ grant_type: grantType, ...params })
        const headers: Record<string, string> = { "content-type": "application/x-www-form-urlencoded" }
        switch (client.method) {
          case "client_secret_basic":
            headers.authorization = `Basic ${
              Buffer.from(`${encodeURIComponent(client.clientId)}:${encodeURIComponent(client.clientSecret ?? "")}`).toString("base64")
            }`
            break
          case "client_secret_post":
            body.set("client_id", client.clientId)
            body.set("client_secret", client.clientSecret ?? "")
            break
          case "private_key_jwt":
            body.set("client_id", client.clientId)
            body.set("client_assertion_type", CLIENT_ASSERTION_TYPE)
            body.set("client_assertion", clientAssertion(server, client))
            break
          case "none":
            body.set("client_id", client.clientId)
        }
        const dpop = useDpop(server)
        let response: HttpResponse | undefined
        for (let attempt = 0; attempt < 2; attempt++) {
          if (dpop) headers.dpop = dpopProof("POST", endpoint, { nonce: dpopNonces.get(server.issuer) })
          response = yield* http(server.issuer, endpoint, { method: "POST", headers, body: body.toString() })
          const nonce = response.headers.get("dpop-nonce")
          if (dpop && nonce !== null) dpopNonces.set(server.issuer, nonce)
          const error = response.status === 400 ? parseJson(response.text) : undefined
          if (!(dpop && nonce !== null && isRecord(error) && error.error === "use_dpop_nonce")) break
        }
        const answer = response!
        const doc = parseJson(answer.text)
        if (answer.status !== 200) {
          return yield* new TokenRequestFailed({
            grantType,
            status: answer.status,
            ...(isRecord(doc) && typeof doc.error === "string" ? { error: doc.error } : {}),
            ...(isRecord(doc) && typeof doc.error_description === "string" ? { errorDescription: doc.error_description } : {}),
            detail: isRecord(doc) && typeof doc.error === "string"
              ? `${doc.error}${typeof doc.error_description === "string" ? `: ${doc.error_description}` : ""}`
              : `HTTP ${answer.status}`
          })
        }
        const accessToken = isRecord(doc) ? str(doc.access_token) : undefined
        const tokenType = isRecord(doc) ? str(doc.token_type) : undefined
        const fail = (detail: string) => new TokenRequestFailed({ grantType, status: answer.status, detail })
        if (!isRecord(doc) || accessToken === undefined || tokenType === undefined) {
          return yield* fail("the response has no access_token or token_type")
        }
        const type = tokenType.toLowerCase()
        if (type !== "bearer" && !(type === "dpop" && dpop)) return yield* fail(`unsupported token_type ${tokenType}`)
        const expiresRaw = typeof doc.expires_in === "string" ? Number(doc.expires_in) : doc.expires_in
        const expiresIn = typeof expiresRaw === "number" && Number.isFinite(expiresRaw) && expiresRaw > 0 ? expiresRaw : undefined
        const granted = str(doc.scope) ?? scope
        const now = yield* Clock.currentTimeMillis
        const refreshToken = str(doc.refresh_token) ?? (grantType === "refresh_token" ? params.refresh_token : undefined)
        return {
          accessToken,
          tokenType: type === "dpop" ? "DPoP" : "Bearer",
          ...(refreshToken === undefined ? {} : { refreshToken }),
          ...(expiresIn === undefined ? {} : { expiresAt: now + expiresIn * 1000 }),
          ...(granted === undefined ? {} : { scope: granted }),
          issuer: server.issuer,
          resource
        } satisfies Tokens
      })

    // ---- grants -------------------------------------------------------------------------------------------

    const authorizationCode = (
      server: AuthServer,
      client: ClientIdentity,
      resource: string,
      scope: string | undefined
    ): Effect.Effect<Tokens, OAuthError> =>
      Effect.gen(function*() {
        const methods = stringArray(server.metadata.code_challenge_methods_supported) ?? []
        if (!methods.includes("S256")) return yield* new PkceUnsupported({ issuer: server.issuer, methods })
        if (server.authorizationEndpoint === undefined) {
          return yield* new DiscoveryFailed({ document: "authorization-server", tried: [server.issuer], detail: "no authorization_endpoint" })
        }
        const userAgent = options.userAgent
        const redirectUri = options.redirectUri
        if (userAgent === undefined || redirectUri === undefined) {
          return yield* new AuthorizationFailed({ reason: "not-configured", detail: "the authorization code grant needs a userAgent and a redirectUri" })
        }
        const { verifier, challenge } = pkcePair()
        const state = base64url(crypto.randomBytes(16))
        // the issuer recorded with the verifier and state (validated metadata)
        const expectedIssuer = server.issuer
        const url = new URL(server.authorizationEndpoint)
        url.searchParams.set("response_type", "code")
        url.searchParams.set("client_id", client.clientId)
        url.searchParams.set("redirect_uri", redirectUri)
        url.searchParams.set("code_challenge", challenge)
        url.searchParams.set("code_challenge_method", "S256")
        url.searchParams.set("state", state)
        url.searchParams.set("resource", resource)
        if (scope !== undefined) url.searchParams.set("scope", scope)
        yield* Effect.logDebug(`authorization request to ${server.authorizationEndpoint} (scope ${scope ?? "omitted"})`)
        const returned = yield* userAgent({ url, redirectUri, state }).pipe(
          Effect.mapError((error) =>
            error instanceof AuthorizationFailed ? error : new AuthorizationFailed({ reason: "user-agent", detail: errorText(error) })
          ),
          Effect.timeoutOrElse({
            duration: authorizationMs,
            orElse: () => Effect.fail(new AuthorizationFailed({ reason: "user-agent", detail: `no authorization response within ${authorizationMs} ms` }))
          })
        )
        let callback: URL
        try {
          callback = new URL(returned)
        } catch {
          return yield* new AuthorizationFailed({ reason: "user-agent", detail: `the user agent returned ${String(returned)}, not a URL` })
        }
        const response = callback.searchParams
        // RFC 9207 §2.4 first, error responses included: nothing of a mismatched response is acted on
        const iss = response.get("iss") ?? undefined
        const check = checkIssuer({
          issParameterSupported: server.metadata.authorization_response_iss_parameter_supported === true,
          expected: expectedIssuer,
          received: iss
        })
        if (check !== "ok") {
          return yield* new IssuerMismatch({ where: "authorization-response", expected: expectedIssuer, ...(iss === undefined ? {} : { received: iss }) })
        }
        if (response.get("state") !== state) {
          return yield* new AuthorizationFailed({ reason: "state-mismatch", detail: "the authorization response's state is not the one sent" })
        }
        const error = response.get("error")
        if (error !== null) {
          const description = response.get("error_description")
          return yield* new AuthorizationFailed({
            reason: "denied",
            error,
            ...(description === null ? {} : { errorDescription: description }),
            detail: description === null ? error : `${error}: ${description}`
          })
        }
        const code = response.get("code")
        if (code === null || code === "") {
          return yield* new AuthorizationFailed({ reason: "missing-code", detail: "the authorization response has no code" })
        }
        return yield* tokenRequest(server, client, "authorization_code", {
          code,
          redirect_uri: redirectUri,
          code_verifier: verifier,
          resource
        }, resource, scope)
      })

    const obtain = (
      server: AuthServer,
      client: ClientIdentity,
      resource: string,
      scope: string | undefined
    ): Effect.Effect<Tokens, OAuthError> => {
      switch (grant.type) {
        case "authorization_code":
          return authorizationCode(server, client, resource, scope)
        case "client_credentials":
          return tokenRequest(server, client, "client_credentials", {
            resource,
            ...(scope === undefined ? {} : { scope })
          }, resource, scope)
        case "jwt_bearer":
          return Effect.gen(function*() {
            const assertion = yield* grant.assertion({ issuer: server.issuer, tokenEndpoint: server.tokenEndpoint, resource, scope }).pipe(
              Effect.mapError((error) =>
                new TokenRequestFailed({ grantType: JWT_BEARER, status: 0, detail: `no assertion: ${errorText(error)}` })
              ),
              Effect.timeoutOrElse({
                duration: requestMs,
                orElse: () => Effect.fail(new TokenRequestFailed({ grantType: JWT_BEARER, status: 0, detail: `no assertion within ${requestMs} ms` }))
              })
            )
            return yield* tokenRequest(server, client, JWT_BEARER, {
              assertion,
              resource,
              ...(scope === undefined ? {} : { scope })
            }, resource, scope)
          })
      }
    }

    const refresh = (server: AuthServer, current: Tokens): Effect.Effect<Tokens, OAuthError> =>
      Effect.gen(function*() {
        const client = yield* identity(server)
        return yield* tokenRequest(server, client, "refresh_token", {
          refresh_token: current.refreshToken!,
          resource: current.resource
        }, current.resource, current.scope)
      })

    const store = (next: Tokens | undefined, byRefresh = false) => {
      tokens = next
      tokensByRefreshAt = byRefresh ? Date.now() : 0
      generation++
    }

    // ---- the flows ----------------------------------------------------------------------------------------

    /**
     * Discovery, registration and a grant; `refreshFirst` tries the refresh token before a new grant (a refresh
     * that fails because the authorization server is slow or down ends there: a new grant would meet the same
     * server); `revalidate` reads the protected resource metadata again whatever its age.
     */
    const acquire = (
      params: {
        readonly resourceMetadata?: string | undefined
        readonly challenged?: string | undefined
        readonly refreshFirst: boolean
        readonly revalidate: boolean
      }
    ): Effect.Effect<Tokens, OAuthError> =>
      Effect.gen(function*() {
        if (stickyFailure !== undefined) return yield* stickyFailure
        const info = yield* discoverResource(params.resourceMetadata, params.revalidate)
        const issuer = (boundIssuer !== undefined && info.authorizationServers.includes(boundIssuer))
          ? boundIssuer
          : info.authorizationServers[0]!
        if (tokens !== undefined && tokens.issuer !== issuer) {
          // SEP-2352: the resource moved to another authorization server; nothing of the old one is reused
          yield* Effect.logDebug(`the authorization server changed from ${tokens.issuer} to ${issuer}`)
          store(undefined)
        }
        boundIssuer = issuer
        const server = yield* discoverServer(issuer, info.legacy)
        const current = tokens
        if (
          params.refreshFirst && current?.refreshToken !== undefined && current.resource === info.resource &&
          (tokensByRefreshAt === 0 || Date.now() - tokensByRefreshAt > 10_000)
        ) {
          const refreshed = yield* Effect.result(refresh(server, current))
          if (Result.isSuccess(refreshed)) {
            store(refreshed.success, true)
            return refreshed.success
          }
          if (isAuthServiceError(refreshed.failure)) return yield* refreshed.failure
          yield* Effect.logDebug(`refresh failed (${refreshed.failure.message}); authorizing again`)
        }
        const offline = wantsOffline && grant.type === "authorization_code" &&
          (stringArray(server.metadata.scopes_supported) ?? []).includes("offline_access")
        const scope = selectScope({
          challenged: params.challenged,
          scopesSupported: info.scopesSupported,
          previous: requestedScope,
          offlineAccess: offline
        })
        const client = yield* identity(server)
        const obtained = yield* obtain(server, client, info.resource, scope).pipe(
          Effect.tapError((error) =>
            Effect.sync(() => {
              if (error._tag === "TokenRequestFailed" && grant.type !== "authorization_code" && error.status >= 400 && error.status < 500) {
                stickyFailure = error
              }
            })
          )
        )
        requestedScope = scope
        store(obtained)
        return obtained
      })

    const stepUp = (bearer: BearerChallenge | undefined): Effect.Effect<boolean, OAuthError> =>
      Effect.gen(function*() {
        const required = scopeSet(bearer?.scope)
        const granted = scopeSet(tokens?.scope)
        const key = [...required].sort().join(" ")
        const entry = stepUps.get(key)
        const attempts = entry !== undefined && Date.now() - entry.since < STEP_UP_WINDOW_MS ? entry.count : 0
        if (tokens !== undefined && required.length > 0 && required.every((s) => granted.includes(s))) {
          return yield* new InsufficientScope({
            required,
            granted,
            attempts,
            detail: "the token already carries every scope the server asks for; authorizing again would not help"
          })
        }
        if (attempts >= maxStepUps) {
          return yield* new InsufficientScope({ required, granted, attempts, detail: `gave up after ${attempts} step-up authorizations` })
        }
        stepUps.set(key, { count: attempts + 1, since: attempts === 0 ? Date.now() : entry!.since })
        yield* Effect.logDebug(`step-up authorization for ${bearer?.scope ?? "unspecified scopes"}`)
        yield* acquire({ resourceMetadata: bearer?.resourceMetadata, challenged: bearer?.scope, refreshFirst: false, revalidate: false })
        return true
      })

    const bounded = <A>(effect: Effect.Effect<A, OAuthError>): Effect.Effect<A, OAuthError> =>
      effect.pipe(
        Effect.timeoutOrElse({
          duration: challengeMs,
          orElse: () => Effect.fail(new AuthorizationFailed({ reason: "timeout", detail: `no token within ${challengeMs} ms` }))
        }),
        log
      )

    const challenge = (c: Challenge): Effect.Effect<boolean, OAuthError> => {
      const seen = generation
      return bounded(lock.withPermits(1)(
        Effect.gen(function*() {
          const bearer = bearerChallenge(c.wwwAuthenticate)
          if (bearer?.error === "use_dpop_nonce") {
            // RFC 9449 §9: the resource server's nonce goes into the next proofs; retry once with it
            const nonce = c.headers?.["dpop-nonce"]
            if (nonce === undefined || nonce === resourceNonce) return yield* new DpopNonceRequired({ url: c.url.href })
            resourceNonce = nonce
            return true
          }
          if (c.status === 403) {
            if (bearer?.error !== "insufficient_scope") return false
            // another request already stepped up to these scopes while this one waited
            const granted = scopeSet(tokens?.scope)
            if (generation !== seen && tokens !== undefined && scopeSet(bearer.scope).every((s) => granted.includes(s))) return true
            return yield* stepUp(bearer)
          }
          if (c.status !== 401) return false
          // another request already renewed the token while this one waited
          if (generation !== seen && tokens !== undefined) return true
          if (bearer?.error === "insufficient_scope") return yield* stepUp(bearer)
          // a token was rejected: the resource may have moved to another authorization server (SEP-2352)
          yield* acquire({
            resourceMetadata: bearer?.resourceMetadata,
            challenged: bearer?.scope,
            refreshFirst: true,
            revalidate: tokens !== undefined
          })
          return true
        })
      ))
    }

    const authorizationHeader = (t: Tokens): Record<string, string> => ({ authorization: `${t.tokenType} ${t.accessToken}` })

    /** Is a token good for a while yet (more than the 30 s margin before it expires)? */
    const fresh = (t: Tokens, now: number) => t.expiresAt === undefined || t.expiresAt - 30_000 > now

    /**
     * The held token, refreshed first when it is about to expire. While the authorization server is slow or down
     * (FM-18) a token that has not expired yet keeps being used; an expired one fails with the FM-18 error and
     * its refresh token is kept for later. A refresh the server refuses drops the tokens (a 401 then authorizes).
     */
    const headers: Effect.Effect<Readonly<Record<string, string>>, OAuthError> = Effect.flatMap(Clock.currentTimeMillis, (now) => {
      const current = tokens
      if (current === undefined) return Effect.succeed({})
      if (fresh(current, now) || current.refreshToken === undefined) return Effect.succeed(authorizationHeader(current))
      // expired (or nearly): refresh once, under the lock
      return bounded(lock.withPermits(1)(
        Effect.gen(function*() {
          if (tokens !== current) return tokens === undefined ? {} : authorizationHeader(tokens)
          const server = servers.get(current.issuer)
          if (server === undefined) return authorizationHeader(current)
          const refreshed = yield* Effect.result(refresh(server, current))
          if (Result.isFailure(refreshed)) {
            const failure = refreshed.failure
            if (isAuthServiceError(failure)) {
              const at = yield* Clock.currentTimeMillis
              if (current.expiresAt !== undefined && current.expiresAt > at) {
                yield* Effect.logWarning(`refresh failed (${failure.message}); the token stays in use until it expires`).pipe(
                  Effect.annotateLogs({ mode: failure.mode })
                )
                return authorizationHeader(current)
              }
              return yield* failure
            }
            yield* Effect.logDebug(`refresh failed: ${failure.message}`)
            store(undefined)
            return {}
          }
          store(refreshed.success, true)
          return authorizationHeader(refreshed.success)
        })
      ))
    })

    /** The last nonce a DPoP resource server asked for. */
    let resourceNonce: string | undefined
    const requestHeaders = (method = "POST", url: string | URL = serverUrl): Readonly<Record<string, string>> => {
      const current = tokens
      if (current === undefined || current.tokenType !== "DPoP" || dpopKeys === undefined) return {}
      const ath = crypto.createHash("sha256").update(current.accessToken, "ascii").digest("base64url")
      return { dpop: dpopProof(method, url, { ath, nonce: resourceNonce }) }
    }

    return {
      headers,
      challenge,
      requestHeaders,
      authorize: (scope) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) => {
          // a held token that is good for a while and carries the scopes asked for: no call to the server
          const current = tokens
          const granted = scopeSet(current?.scope)
          if (current !== undefined && fresh(current, now) && scopeSet(scope).every((s) => granted.includes(s))) {
            return Effect.succeed(current)
          }
          return bounded(lock.withPermits(1)(acquire({ challenged: scope, refreshFirst: false, revalidate: false })))
        }),
      tokens: Effect.sync(() => tokens),
      clear: Effect.sync(() => {
        store(undefined)
        requestedScope = undefined
        boundIssuer = undefined
        stickyFailure = undefined
        registrations.clear()
        servers.clear()
        resources.clear()
        bindings.clear()
        stepUps.clear()
        dpopNonces.clear()
      })
    } satisfies OAuthClient
  })
