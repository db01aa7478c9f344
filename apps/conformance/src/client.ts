/**
 * The conformance client: our `McpClient` over our Streamable HTTP client transport, doing what each referee
 * scenario asks. The referee runs it with `MCP_CONFORMANCE_SCENARIO`, optionally
 * `MCP_CONFORMANCE_PROTOCOL_VERSION` and `MCP_CONFORMANCE_CONTEXT`, and the server URL as the last argument.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import { McpClient, OAuthClient } from "@effect-mcp/client"
import { JsonRpcCodec } from "@effect-mcp/jsonrpc"
import { Revision } from "@effect-mcp/schema"
import { StreamableHttpClient } from "@effect-mcp/transports"

const scenario = process.env.MCP_CONFORMANCE_SCENARIO ?? ""
const version = process.env.MCP_CONFORMANCE_PROTOCOL_VERSION
const context = ((): Record<string, unknown> => {
  try {
    return JSON.parse(process.env.MCP_CONFORMANCE_CONTEXT ?? "{}")
  } catch {
    return {}
  }
})()
const url = process.argv[process.argv.length - 1] ?? ""

/** The client id the referee's CIMD scenarios expect (it need not resolve). */
const CLIENT_METADATA_URL = "https://conformance-test.local/client-metadata.json"
const REDIRECT_URI = "http://localhost:3000/callback"

const contextString = (key: string): string | undefined => {
  const value = context[key]
  return typeof value === "string" && value.length > 0 ? value : undefined
}

/**
 * The OAuth client of an `auth/*` scenario: credentials and keys come from `MCP_CONFORMANCE_CONTEXT`
 * (pre-registration, client credentials, enterprise-managed authorization, workload identity); the user agent
 * follows no redirect and reads the authorization response off the `Location` header.
 */
const oauthClient = (serverUrl: string) => {
  const clientId = contextString("client_id")
  const clientSecret = contextString("client_secret")
  const privateKeyPem = contextString("private_key_pem")
  const issuer = contextString("issuer")
  const preRegistered: OAuthClient.PreRegisteredClient | undefined = clientId === undefined ? undefined : {
    clientId,
    ...(clientSecret === undefined ? {} : { clientSecret }),
    ...(issuer === undefined ? {} : { issuer }),
    ...(privateKeyPem === undefined
      ? {}
      : { privateKey: { pem: privateKeyPem, algorithm: contextString("signing_algorithm") ?? "ES256" } })
  }
  const idpTokenEndpoint = contextString("idp_token_endpoint")
  const idpIdToken = contextString("idp_id_token")
  const idpClientId = contextString("idp_client_id")
  const workloadJwt = contextString("valid_jwt")
  const grant: OAuthClient.Grant = scenario.startsWith("auth/client-credentials")
    ? { type: "client_credentials" }
    : idpTokenEndpoint !== undefined && idpIdToken !== undefined && idpClientId !== undefined
    ? {
      type: "jwt_bearer",
      assertion: OAuthClient.idJagAssertion({ tokenEndpoint: idpTokenEndpoint, subjectToken: idpIdToken, clientId: idpClientId, timeout: "10 seconds" })
    }
    : workloadJwt !== undefined
    ? { type: "jwt_bearer", assertion: () => Effect.succeed(workloadJwt) }
    : { type: "authorization_code" }
  return OAuthClient.make({
    serverUrl,
    grant,
    redirectUri: REDIRECT_URI,
    userAgent: OAuthClient.redirectUserAgent({ timeout: "10 seconds" }),
    clientName: "effect-mcp-conformance-client",
    applicationType: "native",
    clientMetadataUrl: CLIENT_METADATA_URL,
    ...(preRegistered === undefined ? {} : { preRegistered }),
    dpop: true,
    legacyDiscovery: true,
    requestTimeout: "10 seconds",
    authorizationTimeout: "15 seconds"
  })
}

/**
 * Authorizes before the handshake in the 2026-07-28 era. McpClient gives `server/discover` 10 s, and a first
 * authorization (discovery, registration, user agent, token) inside that window fails on a loaded machine.
 * A bare `server/discover` is sent as the transport would send it; a 401/403 challenge goes to the OAuth
 * client, whose error (a mismatched resource or issuer, …) ends the run as the transport would end it.
 */
const preflight = (oauth: OAuthClient.OAuthClient, serverUrl: string, revision: string) =>
  Effect.gen(function*() {
    const response = yield* Effect.tryPromise({
      try: (signal) =>
        fetch(serverUrl, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            accept: "application/json, text/event-stream",
            "mcp-protocol-version": revision,
            "mcp-method": "server/discover"
          },
          body: JSON.stringify({
            jsonrpc: "2.0",
            id: "effect-mcp-preflight",
            method: "server/discover",
            params: {
              _meta: {
                "io.modelcontextprotocol/protocolVersion": revision,
                "io.modelcontextprotocol/clientCapabilities": {},
                "io.modelcontextprotocol/clientInfo": { name: "effect-mcp-conformance-client", version: "0.1.0" }
              }
            }
          }),
          signal
        }).then(async (r) => {
          await r.body?.cancel().catch(() => undefined)
          return r
        }),
      catch: (error) => new Error(`preflight: ${String(error)}`)
    }).pipe(Effect.timeout("10 seconds"))
    if (response.status === 401 || response.status === 403) {
      yield* oauth.challenge({
        status: response.status,
        wwwAuthenticate: response.headers.get("www-authenticate") ?? undefined,
        url: new URL(serverUrl)
      })
    }
  })

interface ToolCall {
  readonly name: string
  readonly arguments?: Record<string, unknown>
}

/** Runs a step and logs (not fails on) a server error: the referee judges what was sent. */
const attempt = <A, E>(label: string, effect: Effect.Effect<A, E>) =>
  effect.pipe(
    Effect.tap(() => Effect.logDebug(`${label}: ok`)),
    Effect.catch((error) => Effect.as(Effect.logWarning(`${label} failed: ${String((error as { message?: string }).message ?? error)}`), undefined))
  )

const program = Effect.gen(function*() {
  if (url === "" || scenario === "") {
    return yield* Effect.fail(new Error("usage: MCP_CONFORMANCE_SCENARIO=<scenario> client.ts <server-url>"))
  }
  // the referee names the revision; without it (the 0.1.x referees) the stateful era, as they expect
  const revisions = version !== undefined && Revision.isRevision(version) ? [version] : Revision.stateful
  const authorization = scenario.startsWith("auth/") ? yield* oauthClient(url) : undefined
  if (authorization !== undefined && revisions.length === 1 && Revision.era(revisions[0]!) === "stateless") {
    yield* preflight(authorization, url, revisions[0]!)
  }
  const transport = yield* StreamableHttpClient.connect(
    authorization === undefined ? { url } : { url, authorization, headers: (request) => authorization.requestHeaders(request.method, request.url) }
  )
  const client = yield* McpClient.connect(transport, {
    info: { name: "effect-mcp-conformance-client", version: "0.1.0" },
    revisions,
    handlers: {
      sampling: () =>
        Effect.succeed({ role: "assistant", content: { type: "text", text: "A sampled answer." }, model: "conformance", stopReason: "endTurn" }),
      // defaults are applied by the client (SEP-1034); MRTR scenarios want a confirmation
      elicitation: () => Effect.succeed({ action: "accept", content: scenario.startsWith("sep-2322") ? { confirmed: true } : {} }),
      roots: Effect.succeed([{ uri: "file:///conformance", name: "conformance" }])
    }
  })

  const tools = (yield* attempt("tools/list", client.listAllTools)) ?? []
  if (scenario === "json-schema-ref-no-deref" || scenario === "request-metadata") return

  if (scenario === "json-schema-2020-12-preservation") {
    const focal = tools.find((t) => t.name === "json_schema_2020_12_tool")
    if (focal !== undefined) yield* attempt("echo", client.callTool("json_schema_echo", { schema: focal.inputSchema }))
    return
  }

  if (scenario.startsWith("sep-2322")) {
    for (const name of ["test_mrtr_echo_state", "test_mrtr_unrelated", "test_mrtr_no_state", "test_mrtr_no_result_type"]) {
      if (tools.some((t) => t.name === name)) yield* attempt(name, client.callTool(name, {}))
    }
    return
  }

  const calls = Array.isArray(context.toolCalls) ? context.toolCalls as ReadonlyArray<ToolCall> : undefined
  if (calls !== undefined) {
    for (const call of calls) yield* attempt(call.name, client.callTool(call.name, call.arguments ?? {}))
  } else {
    for (const tool of tools) yield* attempt(tool.name, client.callTool(tool.name, { a: 2, b: 3 }))
  }
  if (client.server.capabilities.resources !== undefined) {
    const resources = (yield* attempt("resources/list", client.listAllResources)) ?? []
    for (const resource of resources) yield* attempt(resource.uri, client.readResource(resource.uri))
  }
  if (client.server.capabilities.prompts !== undefined) {
    const prompts = (yield* attempt("prompts/list", client.listAllPrompts)) ?? []
    for (const prompt of prompts) yield* attempt(prompt.name, client.getPrompt(prompt.name, {}))
  }
}).pipe(
  Effect.scoped,
  Effect.provide(JsonRpcCodec.JsonRpcCodec.layer),
  Effect.provideService(Logger.LogToStderr, true),
  Effect.timeout("60 seconds")
)

NodeRuntime.runMain(program)
