/**
 * `McpServer`: serves tools, resources, resource templates and prompts over any transport, in both protocol
 * eras, on the shared protocol engine.
 *
 * - Stateful era (2024-11-05 … 2025-11-25): `initialize` negotiates the revision; requests before it are
 *   refused; `logging/setLevel`, `resources/subscribe`, `ping`, `list_changed` notifications.
 * - Stateless era (2026-07-28): no handshake; every request names its revision and client in `_meta`;
 *   `server/discover`; results carry `resultType`, `serverInfo` in `_meta`, and `ttlMs`/`cacheScope` when
 *   cacheable; per-request log level.
 *
 * Every request runs in its own fiber under the connection's scope (see `Protocol`); a tool's time is
 * bounded (per tool, or the server's default); concurrent requests per connection are bounded. Tasks of the
 * 2026-07-28 tasks extension belong to the server, not to a connection (over Streamable HTTP every 2026-07-28
 * request is a connection of its own): any request may poll them, and each runs for at most its time-to-live.
 *
 * Request-path resilience, all optional and reloadable at once with `reconfigure` (`ServerConfig`): a circuit
 * breaker per tool with manual control (`breaker`), a token-bucket rate limit per client, a server-wide and
 * per-tool bulkheads with bounded, time-limited queues, and adaptive time bounds per tool; the mechanisms are
 * those of `@effect-mcp/faults`, and every refusal carries its FMEA mode and a retry hint.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import type { RateLimiter } from "effect/persistence"
import * as Scope from "effect/Scope"
import * as Semaphore from "effect/Semaphore"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { Protocol, ProtocolError, type Transport } from "@effect-mcp/core"
import { AdaptiveTimeout, Bulkhead, CircuitBreaker as FaultsCircuitBreaker, RateLimit, Tunable } from "@effect-mcp/faults"
import { ErrorCode } from "@effect-mcp/jsonrpc"
import { Revision } from "@effect-mcp/schema"
import * as Content from "./Content.ts"
import * as Cursor from "./Cursor.ts"
import * as IdempotencyStore from "./IdempotencyStore.ts"
import * as Prompt from "./Prompt.ts"
import {
  type AskMethod,
  capabilityOf,
  type ClientInfo,
  InputRequired,
  isLogged,
  isSignal,
  LOG_LEVELS,
  type LogLevel,
  RequestContext,
  StartTask
} from "./RequestContext.ts"
import * as RequestState from "./internal/requestState.ts"
import * as Resource from "./Resource.ts"
import * as ServerConfig from "./ServerConfig.ts"
import * as TaskStore from "./TaskStore.ts"
import * as Tool from "./Tool.ts"
import * as UriTemplate from "./UriTemplate.ts"

/** How the server describes itself (`serverInfo`). */
export interface ServerInfo {
  readonly name: string
  readonly version: string
  readonly title?: string
  readonly description?: string
  readonly websiteUrl?: string
  readonly icons?: ReadonlyArray<Tool.Icon>
}

/**
 * Server settings. `R` is what the handlers need from the environment; `E` is how building the idempotency
 * store given as a layer can fail (`IdempotencyStore.JournalFailed` for `layerFile`).
 */
export interface Options<R, E = never> {
  readonly info: ServerInfo
  /** Instructions for the model, sent at initialize / discover. */
  readonly instructions?: string
  readonly tools?: ReadonlyArray<Tool.Tool<R>>
  readonly resources?: ReadonlyArray<Resource.Resource<R>>
  readonly resourceTemplates?: ReadonlyArray<Resource.ResourceTemplate<R>>
  readonly prompts?: ReadonlyArray<Prompt.Prompt<R>>
  /** The revisions served (default: all five). */
  readonly revisions?: ReadonlyArray<Revision.Revision>
  /** Items per page of the list methods (default 100). */
  readonly pageSize?: number
  /**
   * Requests handled (or queued) at once per connection; past it the client gets -32010 at once (FM-37;
   * default 64). Reconfigurable, as every setting of `ServerConfig`.
   */
  readonly maxConcurrentRequests?: number
  /** Time bound of a tool call unless the tool or `perTool` sets its own (default 5 minutes). */
  readonly toolTimeout?: Duration.Input
  /**
   * Key that signs 2026-07-28 `requestState` (the answers a replayed handler already has). Servers behind a
   * load balancer must share it; default: random per server instance.
   */
  readonly requestStateSecret?: string
  /**
   * A circuit breaker per tool, shared by all connections (`CircuitBreaker` of `@effect-mcp/faults`; FM-14,
   * FM-42). Server-side failures count (errors, defects and adaptive timeouts; not tool errors the model sees,
   * nor protocol errors); the policy opens the circuit on consecutive failures (`{ failures, openDuration }`,
   * the older form, still works), a failure rate or a slow-call rate over a window. Open, calls are refused
   * with -32011 and `retryAfterMs`; after `openDuration` it half-opens by itself and `halfOpenProbes` probes
   * decide. `server.breaker(tool)` reads its state, resets it or forces it open. Off by default.
   */
  readonly circuitBreaker?: FaultsCircuitBreaker.Policy
  /**
   * Deduplication of retried tool calls (FM-10): a `tools/call` whose `_meta` carries
   * `io.effect-mcp/idempotencyKey` runs once; a retry with the same key (on any connection, within `ttl`) gets
   * the first call's outcome, waiting for it if it is still running. Outcomes are kept in `store` (an
   * `IdempotencyStore` layer, built with the server, or a built store); by default in memory, `capacity` keys
   * (oldest dropped first) for `ttl` after they settle (10,000 keys, 10 minutes), and `capacity` keyed calls
   * run at once at most. With `IdempotencyStore.layerFile` keys survive restarts (kill -9 included): a retry of
   * a call that a dead process started and never settled gets `IdempotencyStore.OutcomeUnknown` (-32012,
   * `data: { mode: "FM-10", outcome: "unknown", key }`), never a second run; a journal that cannot record the
   * claim refuses the call without running it (-32010 when its writes back up, -32011 when it is slow or
   * failing, `data.mode: "FM-34"`).
   */
  readonly idempotency?: {
    readonly capacity?: number
    readonly ttl?: Duration.Input
    readonly store?: Layer.Layer<IdempotencyStore.IdempotencyStore, E> | IdempotencyStore.Store
  }
  /**
   * A token bucket per client (FM-46): `limit` requests per `window` per connection, or per client name
   * across connections (`per: "client"`); past it -32010 with `retryAfterMs`. `onLimiterFailure`: a failing
   * limiter admits (`"open"`, default) or refuses with -32011 (`"closed"`) (FM-17). Off by default.
   */
  readonly rateLimit?: ServerConfig.RateLimitSettings
  /**
   * A bulkhead shared by all connections for the requests that run handlers (`tools/call`,
   * `resources/read`, `prompts/get`, `completion/complete`): `maxConcurrent` at once, up to `maxQueue`
   * waiting for at most `queueTimeout`; past either bound -32010 with `retryAfterMs` (FM-04, FM-45). Off by
   * default. A tool's own bulkhead goes in `perTool`.
   */
  readonly bulkhead?: Bulkhead.Limits
  /**
   * Adaptive time bounds for every tool (FM-21, FM-24): percentile × factor of its recent latencies within
   * `[min, max]`, `max` until `minSamples` calls are in; never past the static bound (`toolTimeout`, the
   * tool's `timeout`). Past it the call is interrupted and answered with -32001. Off by default.
   */
  readonly adaptiveTimeout?: AdaptiveTimeout.Policy
  /**
   * Where the rate limit keeps its buckets (default: in memory, bounded), e.g. `RateLimiter.layerStoreRedis`
   * to share them between instances, and how long to wait for it (`timeout`) before it counts as failed.
   */
  readonly rateLimitStore?: {
    readonly layer: Layer.Layer<RateLimiter.RateLimiterStore>
    readonly timeout?: Duration.Input
  }
  /** Settings per tool name (timeout, breaker, bulkhead, adaptive timeout), over the server-wide ones. */
  readonly perTool?: { readonly [tool: string]: ServerConfig.ToolSettings }
  /**
   * Checks of your own on a configuration that passed the schema (e.g. against the deployment), at `make`
   * and at every `reconfigure`: the problems it returns refuse the configuration, with the schema's.
   */
  readonly checkConfig?: (config: ServerConfig.ServerConfig) => ReadonlyArray<Tunable.Problem>
  /**
   * Applies your own part of a reloaded configuration, as the last step of `reconfigure` (after the swap,
   * while reloads are still serialised). A failure refuses the reload and puts the previous configuration
   * back whole (FM-20); it is not called at `make`. It runs uninterruptibly and holds later reloads: bound
   * its own waits.
   */
  readonly applyConfig?: (config: ServerConfig.ServerConfig) => Effect.Effect<void, unknown>
  /**
   * Limits of the task stores: one per connection for 2025-11-25 tasks, one for the whole server for the
   * 2026-07-28 tasks extension (whose tasks outlive the request that started them).
   */
  readonly tasks?: TaskStore.Options
  /**
   * 2026-07-28 cache hints on cacheable results: one hint for all, or a hint per method (default `ttlMs: 0`,
   * `cacheScope: "private"`).
   */
  readonly cache?: CacheHint | CachePolicy
}

/** A 2026-07-28 cache hint (SEP-2549): how long a result may be reused (`ttlMs`), and by whom (`cacheScope`). */
export interface CacheHint {
  readonly ttlMs: number
  readonly scope: "private" | "public"
}

/** The methods whose 2026-07-28 results carry cache hints. */
export type CacheableMethod =
  | "server/discover"
  | "tools/list"
  | "prompts/list"
  | "resources/list"
  | "resources/templates/list"
  | "resources/read"

/** Cache hints per method; `default` covers the methods not named. */
export type CachePolicy = { readonly default?: CacheHint } & { readonly [M in CacheableMethod]?: CacheHint }

/**
 * FM-47: a definition the server cannot serve (a duplicate or invalid name, or invalid tunables: `kind`
 * `"configuration"`, with every problem in `problems`). Fails `make`.
 */
export class InvalidDefinition extends Schema.TaggedError<InvalidDefinition>()("InvalidDefinition", {
  mode: Schema.tag("FM-47"),
  kind: Schema.String,
  name: Schema.String,
  detail: Schema.String,
  problems: Schema.optionalKey(Schema.Array(Tunable.ProblemSchema))
}) {
  override get message(): string {
    return `Invalid ${this.kind} "${this.name}": ${this.detail}`
  }
}

/** What a running server offers. */
export interface McpServer<R> {
  /** Serves one connection until it closes. Handlers get `R` from the environment. */
  readonly serve: (transport: Transport.Transport) => Effect.Effect<void, never, R>
  /** Adds or replaces a tool; connected clients get `notifications/tools/list_changed`. */
  readonly addTool: (tool: Tool.Tool<R>) => Effect.Effect<void, InvalidDefinition>
  /** Removes a tool by name; connected clients are notified. */
  readonly removeTool: (name: string) => Effect.Effect<void>
  /**
   * The tool of that name, if any: for a transport that checks requests against tool definitions (e.g. the
   * 2026-07-28 `Mcp-Param-*` headers of `x-mcp-header` properties in `inputSchema`).
   */
  readonly findTool: (name: string) => Tool.Tool<R> | undefined
  /** Adds or replaces a prompt (by name); connected clients get `notifications/prompts/list_changed`. */
  readonly addPrompt: (prompt: Prompt.Prompt<R>) => Effect.Effect<void>
  /** Removes a prompt by name; connected clients are notified. */
  readonly removePrompt: (name: string) => Effect.Effect<void>
  /** Adds or replaces a resource (by URI); connected clients get `notifications/resources/list_changed`. */
  readonly addResource: (resource: Resource.Resource<R>) => Effect.Effect<void>
  /** Removes a resource by URI; connected clients are notified. */
  readonly removeResource: (uri: string) => Effect.Effect<void>
  /** Adds or replaces a resource template (by its URI template); connected clients are notified. */
  readonly addResourceTemplate: (template: Resource.ResourceTemplate<R>) => Effect.Effect<void>
  /** Removes a resource template by its URI template; connected clients are notified. */
  readonly removeResourceTemplate: (uriTemplate: string) => Effect.Effect<void>
  /** Tells subscribed clients that a resource changed (`notifications/resources/updated`). */
  readonly resourceUpdated: (uri: string) => Effect.Effect<void>
  /** The revisions served. */
  readonly revisions: ReadonlyArray<Revision.Revision>
  /**
   * Manual control of a tool's circuit (FM-14): its state, `reset` (closes it and empties its window, whatever
   * its state), `forceOpen` (refuses every call, with -32011, until `reset`). Works with or without a policy.
   */
  readonly breaker: (tool: string) => BreakerControl
  /**
   * Applies new tunables (FM-20): validated first (`InvalidConfig` lists every problem), then swapped in
   * atomically for every connection; on any failure the previous configuration stays in force. Reloads run
   * one at a time. A setting left out turns its mechanism off (or back to its default).
   */
  readonly reconfigure: (config: unknown) => Effect.Effect<void, ServerConfig.InvalidConfig>
  /** The configuration in force and its version (1 at `make`, one more per applied reload). */
  readonly config: Effect.Effect<{ readonly version: number; readonly config: ServerConfig.ServerConfig }>
}

/** Manual control of one tool's circuit breaker. */
export interface BreakerControl {
  readonly state: Effect.Effect<FaultsCircuitBreaker.State>
  readonly reset: Effect.Effect<void>
  readonly forceOpen: Effect.Effect<void>
}

const TOOL_NAME = /^[A-Za-z0-9_.-]{1,128}$/

const configVersion = Metric.gauge("mcp_config_version", { description: "Version of the configuration in force (FM-20)" })
const configReloads = Metric.counter("mcp_config_reloads_total", {
  description: "Configuration reloads by outcome: applied, or rejected with the previous one kept (FM-20)",
  incremental: true
})

type Change =
  | { readonly _tag: "ListChanged"; readonly list: "tools" | "resources" | "prompts" }
  | { readonly _tag: "ResourceUpdated"; readonly uri: string }
  | { readonly _tag: "TaskStatus"; readonly taskId: string; readonly params: Record<string, unknown> }

/** The 2026-07-28 tasks extension's identifier. */
export const TASKS_EXTENSION = "io.modelcontextprotocol/tasks"

interface Connection {
  era: Revision.Era | undefined
  revision: Revision.Revision
  initialized: boolean
  clientCapabilities: Record<string, unknown>
  clientInfo: ClientInfo | undefined
  logLevel: LogLevel | undefined
  readonly subscriptions: Set<string>
}

const isRecord = (u: unknown): u is Record<string, unknown> =>
  typeof u === "object" && u !== null && !Array.isArray(u)

const invalidParams = (message: string, data?: unknown) =>
  new ProtocolError.McpError(
    data === undefined ? { code: ErrorCode.InvalidParams, message } : { code: ErrorCode.InvalidParams, message, data }
  )

/** FM-34: the idempotency journal could not record a claim; the call did not run, a retry may. */
const journalRefusal = (e: IdempotencyStore.StoreError): ProtocolError.McpError =>
  e._tag === "JournalOverloaded"
    ? new ProtocolError.McpError({
      code: ErrorCode.Overloaded,
      message: "Too many idempotency journal writes pending; the call did not run",
      data: { mode: e.mode, retryAfterMs: 1_000 }
    })
    : new ProtocolError.McpError({
      code: ErrorCode.Unavailable,
      message: e._tag === "JournalTimeout"
        ? `The idempotency journal did not record the call within ${e.timeoutMs} ms; the call did not run`
        : `The idempotency journal could not record the call (${e.code}); the call did not run`,
      data: e._tag === "JournalTimeout"
        ? { mode: e.mode, timeoutMs: e.timeoutMs, retryAfterMs: 1_000 }
        : { mode: e.mode, code: e.code, retryAfterMs: 5_000 }
    })

/** A stored `CallToolResult` (from this server's own journal: checked, not trusted). */
const isCallToolResult = (u: unknown): u is Tool.CallToolResult =>
  isRecord(u) && Array.isArray(u.content) && u.content.every((block) => isRecord(block) && typeof block.type === "string")

/** A settled call's stored outcome, as the first caller got it. */
const replay = (outcome: IdempotencyStore.Outcome, tool: string, key: string): Effect.Effect<Tool.CallToolResult, ProtocolError.McpError> => {
  if (outcome._tag === "Error") {
    return Effect.fail(
      new ProtocolError.McpError(
        outcome.data === undefined
          ? { code: outcome.code, message: outcome.message }
          : { code: outcome.code, message: outcome.message, data: outcome.data }
      )
    )
  }
  return isCallToolResult(outcome.result)
    ? Effect.succeed(outcome.result)
    : Effect.fail(
      new ProtocolError.McpError({
        code: IdempotencyStore.OutcomeUnknown,
        message: `The stored outcome of a call of ${tool} with idempotency key ${key} is unreadable; it will not run again`,
        data: { mode: "FM-10", outcome: "unknown", key, tool }
      })
    )
}

/**
 * Builds a server. Fails with `InvalidDefinition` for duplicate or invalid names, and for invalid tunables
 * (`kind: "configuration"`, every problem in `problems`; validate a configuration read from a file with
 * `ServerConfig.validate` first to get `InvalidConfig`, FM-20), and, when `idempotency.store` is a layer, with
 * its error (`IdempotencyStore.JournalFailed` for a journal that cannot be opened, FM-34).
 */
export const make = <R = never, E = never>(options: Options<R, E>): Effect.Effect<McpServer<R>, InvalidDefinition | E> =>
  Effect.gen(function*() {
    const initialConfig = yield* ServerConfig.validate(ServerConfig.pick(options), options.checkConfig).pipe(
      Effect.mapError((e) =>
        new InvalidDefinition({
          kind: "configuration",
          name: "options",
          detail: e.problems.map((p) => (p.path === "" ? p.message : `${p.path}: ${p.message}`)).join("; "),
          problems: e.problems
        })
      )
    )
    const revisions = [...(options.revisions ?? Revision.all)].sort()
    const statefulRevisions = revisions.filter((r) => Revision.era(r) === "stateful")
    const statelessRevisions = revisions.filter((r) => Revision.era(r) === "stateless")
    const pageSize = options.pageSize ?? Cursor.DEFAULT_PAGE_SIZE
    const cache = options.cache
    const noCache: CacheHint = { ttlMs: 0, scope: "private" }
    const cacheHint = (method: CacheableMethod): CacheHint =>
      cache === undefined ? noCache : "ttlMs" in cache ? cache : cache[method] ?? cache.default ?? noCache
    const stateKey = RequestState.key(options.requestStateSecret)

    const tools = new Map<string, Tool.Tool<R>>()
    const prompts = new Map<string, Prompt.Prompt<R>>()
    const resources = new Map<string, Resource.Resource<R>>()
    let templates: ReadonlyArray<Resource.ResourceTemplate<R>> = [...(options.resourceTemplates ?? [])]
    const checkTool = (tool: Tool.Tool<R>) =>
      TOOL_NAME.test(tool.name)
        ? Effect.void
        : Effect.fail(new InvalidDefinition({ kind: "tool", name: tool.name, detail: "names are 1-128 of A-Z a-z 0-9 _ - ." }))
    for (const tool of options.tools ?? []) {
      yield* checkTool(tool)
      if (tools.has(tool.name)) return yield* new InvalidDefinition({ kind: "tool", name: tool.name, detail: "defined twice" })
      tools.set(tool.name, tool)
    }
    for (const prompt of options.prompts ?? []) {
      if (prompts.has(prompt.name)) {
        return yield* new InvalidDefinition({ kind: "prompt", name: prompt.name, detail: "defined twice" })
      }
      prompts.set(prompt.name, prompt)
    }
    for (const resource of options.resources ?? []) {
      if (resources.has(resource.entry.uri)) {
        return yield* new InvalidDefinition({ kind: "resource", name: resource.entry.uri, detail: "defined twice" })
      }
      resources.set(resource.entry.uri, resource)
    }

    const changes = yield* PubSub.bounded<Change>({ capacity: 256, replay: 0 })

    // what lives as long as the server value: the breaker, the 2026-07-28 tasks and their fibers
    const serverScope = yield* Scope.make()
    const tasksV2 = yield* TaskStore.make(options.tasks)

    // retried tool calls carrying an idempotency key run once (shared by all connections): the store keeps
    // their outcomes (in memory, or in a journal that survives restarts); the calls running now are joined here
    const idempotencyCapacity = options.idempotency?.capacity ?? 10_000
    const storeOption = options.idempotency?.store
    const idempotency: IdempotencyStore.Store = storeOption === undefined
      ? yield* IdempotencyStore.makeMemory({
        capacity: idempotencyCapacity,
        ...(options.idempotency?.ttl === undefined ? {} : { ttl: options.idempotency.ttl })
      })
      : "begin" in storeOption
      ? storeOption
      : Context.get(yield* Layer.buildWithScope(storeOption, serverScope), IdempotencyStore.IdempotencyStore)
    const running = new Map<string, Deferred.Deferred<Tool.CallToolResult, unknown>>()
    const once = <R2>(
      tool: string,
      key: string,
      call: Effect.Effect<Tool.CallToolResult, unknown, R2>,
      bound: Duration.Duration
    ): Effect.Effect<Tool.CallToolResult, unknown, R2> =>
      Effect.gen(function*() {
        const storeKey = `${tool}:${key}`
        const joined = running.get(storeKey)
        if (joined !== undefined) return yield* Deferred.await(joined)
        if (running.size >= idempotencyCapacity) {
          return yield* new ProtocolError.McpError({
            code: ErrorCode.Overloaded,
            message: `Too many keyed tool calls running (limit ${idempotencyCapacity})`,
            data: { mode: "FM-10", limit: idempotencyCapacity, retryAfterMs: 1_000 }
          })
        }
        const done = yield* Deferred.make<Tool.CallToolResult, unknown>()
        running.set(storeKey, done)
        const context = yield* Effect.context<R2>()
        // claim, run, record: detached from the caller, within the tool's time bound; a caller that goes away
        // (cancelled, its attempt timed out, its connection reset) stops waiting but does not stop the call, so
        // the retry that follows joins it instead of running the side effect again (FM-10, found by apps/chaos)
        const claimAndRun = Effect.gen(function*() {
          const claim = yield* idempotency.begin(storeKey).pipe(
            Effect.tapError((e) =>
              Effect.logWarning(`A keyed call of ${tool} was refused: ${e.message}`).pipe(Effect.annotateLogs({ mode: e.mode, error: e._tag }))
            ),
            Effect.mapError(journalRefusal)
          )
          switch (claim._tag) {
            case "Completed":
              return yield* replay(claim.outcome, tool, key)
            case "Unknown":
              return yield* new ProtocolError.McpError({
                code: IdempotencyStore.OutcomeUnknown,
                message: `A call of ${tool} with idempotency key ${key} started before the server restarted and its outcome is unknown; it will not run again`,
                data: { mode: "FM-10", outcome: "unknown", key, tool, startedAt: claim.since }
              })
            case "InProgress":
              return yield* new ProtocolError.McpError({
                code: ErrorCode.Overloaded,
                message: `A call of ${tool} with idempotency key ${key} is still running`,
                data: { mode: "FM-10", outcome: "pending", key, tool, retryAfterMs: 1_000 }
              })
          }
          return yield* call.pipe(
            Effect.timeoutOrElse({
              duration: bound,
              orElse: () =>
                Effect.fail(new ProtocolError.McpError({ code: ErrorCode.RequestTimeout, message: `Timed out after ${Duration.toMillis(bound)} ms` }))
            }),
            Effect.onExit((exit) => settle(storeKey, exit))
          )
        })
        yield* Effect.forkIn(
          claimAndRun.pipe(
            Effect.onExit((exit) => Effect.andThen(Effect.sync(() => running.delete(storeKey)), Deferred.done(done, exit))),
            Effect.provideContext(context)
          ),
          serverScope,
          { startImmediately: true }
        )
        return yield* Deferred.await(done)
      })
    /** Records how a claimed call ended: its outcome, or nothing pinned (interrupted, or a 2026-07-28 signal). */
    const settle = (key: string, exit: Exit.Exit<Tool.CallToolResult, unknown>): Effect.Effect<void> => {
      if (Exit.isSuccess(exit)) return record(key, { _tag: "Result", result: exit.value })
      // interrupted (the server is shutting down): nothing is pinned, a retry runs again
      if (Cause.hasInterruptsOnly(exit.cause)) return idempotency.release(key)
      const error = Option.getOrUndefined(Cause.findErrorOption(exit.cause))
      // a 2026-07-28 round asking for input or starting a task: this caller gets it, the next runs again
      if (isSignal(error)) return idempotency.release(key)
      if (error instanceof ProtocolError.McpError) {
        return record(
          key,
          error.data === undefined
            ? { _tag: "Error", code: error.code, message: error.message }
            : { _tag: "Error", code: error.code, message: error.message, data: error.data }
        )
      }
      // any other failure is answered with a safe -32603; a retry gets the same
      return record(key, { _tag: "Error", code: ErrorCode.InternalError, message: "Internal error" })
    }
    // the caller gets its answer even if the outcome could not be recorded: a retry after a restart is then
    // told the outcome is unknown (never run twice)
    const record = (key: string, outcome: IdempotencyStore.Outcome) =>
      idempotency.complete(key, outcome).pipe(
        Effect.catch((e) =>
          Effect.logWarning(`The outcome of a keyed call was not recorded: ${e.message}`).pipe(
            Effect.annotateLogs({ mode: e.mode, error: e._tag })
          )
        )
      )

    // ---- resilience: the tunables (validated), swapped atomically by reconfigure ---------------------------

    let live: { readonly version: number; readonly config: ServerConfig.ServerConfig } = {
      version: 1,
      config: initialConfig
    }
    const toolSettings = (tool: string): ServerConfig.ToolSettings | undefined => live.config.perTool?.[tool]
    const breakerPolicy = (tool: string): FaultsCircuitBreaker.Policy | undefined => {
      const own = toolSettings(tool)?.circuitBreaker
      return own === false ? undefined : own ?? live.config.circuitBreaker
    }
    const adaptivePolicy = (tool: string): AdaptiveTimeout.Policy | undefined => {
      const own = toolSettings(tool)?.adaptiveTimeout
      return own === false ? undefined : own ?? live.config.adaptiveTimeout
    }
    // one breaker and one set of adaptive bounds for the server, keyed by tool (shared by all connections)
    const breaker = yield* FaultsCircuitBreaker.make({ name: "tool", policy: breakerPolicy }).pipe(Scope.provide(serverScope))
    const adaptive = yield* AdaptiveTimeout.make({ name: "tool", policy: adaptivePolicy })
    /** Tools an operator forced open (they go through the breaker even with no policy). */
    const forced = new Set<string>()
    /** The rate limiter in force, and the one kept while none is (its buckets and bypass live on). */
    let limiter: RateLimit.RateLimit | undefined
    let limiterKept: RateLimit.RateLimit | undefined
    let serverBulkhead: Bulkhead.Bulkhead | undefined
    let toolBulkheads = new Map<string, Bulkhead.Bulkhead>()

    /** The objects a configuration needs, reusing the current ones (nothing visible changes here). */
    const prepare = (config: ServerConfig.ServerConfig) =>
      Effect.gen(function*() {
        const nextLimiter = config.rateLimit === undefined
          ? undefined
          : limiterKept ?? (yield* RateLimit.make({
            name: "client",
            ...config.rateLimit,
            ...(options.rateLimitStore === undefined ? {} : { store: options.rateLimitStore.layer }),
            ...(options.rateLimitStore?.timeout === undefined ? {} : { storeTimeout: options.rateLimitStore.timeout })
          }).pipe(Scope.provide(serverScope)))
        const nextServerBulkhead = config.bulkhead === undefined
          ? undefined
          : serverBulkhead ?? (yield* Bulkhead.make("server", config.bulkhead))
        const nextToolBulkheads = new Map<string, Bulkhead.Bulkhead>()
        for (const [tool, settings] of Object.entries(config.perTool ?? {})) {
          if (settings.bulkhead === undefined) continue
          nextToolBulkheads.set(tool, toolBulkheads.get(tool) ?? (yield* Bulkhead.make(`tool:${tool}`, settings.bulkhead)))
        }
        return { config, limiter: nextLimiter, serverBulkhead: nextServerBulkhead, toolBulkheads: nextToolBulkheads }
      })
    type Prepared = Effect.Success<ReturnType<typeof prepare>>

    /** Swaps a prepared configuration in (one step: every reader sees the old one or the new one). */
    const commit = (prepared: Prepared, version: number) =>
      Effect.gen(function*() {
        live = { version, config: prepared.config }
        limiter = prepared.limiter
        limiterKept = prepared.limiter ?? limiterKept
        serverBulkhead = prepared.serverBulkhead
        toolBulkheads = prepared.toolBulkheads
        if (prepared.limiter !== undefined && prepared.config.rateLimit !== undefined) {
          yield* prepared.limiter.reconfigure(prepared.config.rateLimit)
        }
        if (prepared.serverBulkhead !== undefined && prepared.config.bulkhead !== undefined) {
          yield* prepared.serverBulkhead.reconfigure(prepared.config.bulkhead)
        }
        for (const [tool, bulkhead] of prepared.toolBulkheads) {
          const limits = prepared.config.perTool?.[tool]?.bulkhead
          if (limits !== undefined) yield* bulkhead.reconfigure(limits)
        }
        yield* Metric.update(configVersion, version)
      })

    yield* commit(yield* prepare(initialConfig), 1)
    const reloads = yield* Semaphore.make(1)

    const reconfigure = (input: unknown): Effect.Effect<void, ServerConfig.InvalidConfig> =>
      reloads.withPermit(Effect.gen(function*() {
        const before = live
        const rejected = (error: ServerConfig.InvalidConfig) =>
          Effect.logWarning(`Configuration refused, v${before.version} stays in force: ${error.message}`).pipe(
            Effect.annotateLogs({ mode: "FM-20", version: before.version }),
            Effect.andThen(Metric.update(Metric.withAttributes(configReloads, { outcome: "rejected" }), 1)),
            Effect.andThen(Effect.fail(error))
          )
        const config = yield* ServerConfig.validate(input, options.checkConfig).pipe(Effect.catch(rejected))
        const previous: Prepared = { config: before.config, limiter, serverBulkhead, toolBulkheads }
        const prepared = yield* prepare(config)
        // all or nothing: a failure while swapping puts the previous configuration back
        yield* commit(prepared, before.version + 1).pipe(
          Effect.andThen(options.applyConfig === undefined ? Effect.void : Effect.suspend(() => options.applyConfig!(config))),
          Effect.onError(() => commit(previous, before.version)),
          Effect.catchCause((cause) =>
            rejected(new ServerConfig.InvalidConfig({ problems: [{ path: "", message: `could not be applied: ${Cause.pretty(cause)}` }] }))
          ),
          Effect.uninterruptible
        )
        yield* Metric.update(Metric.withAttributes(configReloads, { outcome: "applied" }), 1)
        yield* Effect.logInfo(
          `Configuration v${live.version} applied (changed: ${ServerConfig.changed(before.config, config).join(", ") || "nothing"})`
        ).pipe(Effect.annotateLogs({ mode: "FM-20", version: live.version }))
      }))

    /** Runs a tool call through its adaptive bound and its breaker (server-side failures and timeouts count). */
    const classify = (exit: Exit.Exit<unknown, unknown>): FaultsCircuitBreaker.Outcome =>
      Exit.isSuccess(exit)
        ? "success"
        : Option.match(Cause.findErrorOption(exit.cause), {
          onNone: () => "failure",
          onSome: (e) => (e instanceof ProtocolError.McpError || isSignal(e) ? "ignored" : "failure")
        })
    const isCircuitOpen = (e: unknown): e is FaultsCircuitBreaker.CircuitOpen => e instanceof FaultsCircuitBreaker.CircuitOpen
    const isAdaptiveTimeout = (e: unknown): e is AdaptiveTimeout.AdaptiveTimeoutExceeded =>
      e instanceof AdaptiveTimeout.AdaptiveTimeoutExceeded
    const guarded = <A, E, R2>(tool: string, call: Effect.Effect<A, E, R2>): Effect.Effect<A, E | ProtocolError.McpError, R2> => {
      const bounded = adaptivePolicy(tool) === undefined ? call : adaptive.run(tool, call)
      if (breakerPolicy(tool) === undefined && !forced.has(tool) && bounded === call) return call
      return breaker.execute(tool, bounded, { classify }).pipe(
        Effect.catchIf(isCircuitOpen, (e) =>
          Effect.fail(
            new ProtocolError.McpError({
              code: ErrorCode.Unavailable,
              message: e.state === "ForcedOpen"
                ? `Tool ${tool} is disabled by an operator`
                : `Tool ${tool} is temporarily unavailable after repeated failures`,
              data: { retryAfterMs: e.retryAfterMs, state: e.state, mode: e.mode }
            })
          )),
        Effect.catchIf(isAdaptiveTimeout, (e) =>
          Effect.fail(
            new ProtocolError.McpError({
              code: ErrorCode.RequestTimeout,
              message: `Tool ${tool} timed out after ${e.timeoutMs} ms (its adaptive bound)`,
              data: { timeoutMs: e.timeoutMs, mode: e.mode }
            })
          ))
      ) as Effect.Effect<A, E | ProtocolError.McpError, R2>
    }

    const handlerMethods = new Set(["tools/call", "resources/read", "prompts/get", "completion/complete"])
    const noBulkheads: ReadonlyArray<Bulkhead.Bulkhead> = []
    /** The bulkheads of a request, outermost first: the tool's own, then the server's. */
    const bulkheadsFor = (request: Protocol.IncomingRequest): ReadonlyArray<Bulkhead.Bulkhead> => {
      if ((serverBulkhead === undefined && toolBulkheads.size === 0) || !handlerMethods.has(request.method)) return noBulkheads
      const name = request.method === "tools/call" ? request.params?.name : undefined
      const own = typeof name === "string" ? toolBulkheads.get(name) : undefined
      return own === undefined
        ? serverBulkhead === undefined ? noBulkheads : [serverBulkhead]
        : serverBulkhead === undefined ? [own] : [own, serverBulkhead]
    }

    const taskTools = () => [...tools.values()].some((t) => (t.info.taskSupport ?? "forbidden") !== "forbidden")
    const capabilities = (revision?: Revision.Revision): Record<string, unknown> => ({
      ...(tools.size > 0 ? { tools: { listChanged: true } } : {}),
      ...(revision === "2025-11-25" && taskTools()
        ? { tasks: { list: {}, cancel: {}, requests: { tools: { call: {} } } } }
        : {}),
      ...(revision === "2026-07-28" && taskTools() ? { extensions: { [TASKS_EXTENSION]: {} } } : {}),
      ...(resources.size > 0 || templates.length > 0 ? { resources: { subscribe: true, listChanged: true } } : {}),
      ...(prompts.size > 0 ? { prompts: { listChanged: true } } : {}),
      logging: {},
      completions: {}
    })

    const serve = (transport: Transport.Transport): Effect.Effect<void, never, R> =>
      Effect.scoped(Effect.gen(function*() {
        const context = yield* Effect.context<R>()
        const connectionScope = yield* Effect.scope
        const taskStore = yield* TaskStore.make(options.tasks)
        // providing an empty context still costs a merge per request: skip it when there is nothing to provide
        const withContext = context.mapUnsafe.size === 0
          ? <A, E>(effect: Effect.Effect<A, E, R>) => effect as Effect.Effect<A, E>
          : <A, E>(effect: Effect.Effect<A, E, R>) => Effect.provide(effect, context)
        const connection: Connection = {
          era: undefined,
          revision: Revision.latestStateful,
          initialized: false,
          clientCapabilities: {},
          clientInfo: undefined,
          logLevel: undefined,
          subscriptions: new Set()
        }
        /** This connection's rate-limit key (unless the limit is per client). */
        const connectionKey = `connection:${crypto.randomUUID()}`
        // the engine is created below; handlers reach it through this reference
        let engine: Protocol.Protocol | undefined

        /** The revision of one request: its `_meta` in the stateless era, the negotiated one otherwise. */
        const requestRevision = (request: Protocol.IncomingRequest): Revision.Revision | ProtocolError.McpError => {
          const declared = request.meta?.[Revision.metaKeys.protocolVersion]
          if (declared === undefined) {
            if (connection.era === "stateful") return connection.revision
            // a stateless-era connection: every request names its revision
            if (connection.era === "stateless") return invalidParams(`_meta must carry ${Revision.metaKeys.protocolVersion}`)
            if (statefulRevisions.length === 0) {
              return new ProtocolError.McpError({
                code: ErrorCode.UnsupportedProtocolVersion,
                message: "Unsupported protocol version",
                data: { supported: revisions, requested: "(none: initialize first or name the version in _meta)" }
              })
            }
            return new ProtocolError.McpError({
              code: ErrorCode.InvalidRequest,
              message: "Server not initialized: send initialize first"
            })
          }
          if (typeof declared === "string" && (statelessRevisions as ReadonlyArray<string>).includes(declared)) {
            if (!isRecord(request.meta?.[Revision.metaKeys.clientCapabilities])) {
              return invalidParams(`_meta must carry ${Revision.metaKeys.clientCapabilities}`)
            }
            return declared as Revision.Revision
          }
          return new ProtocolError.McpError({
            code: ErrorCode.UnsupportedProtocolVersion,
            message: "Unsupported protocol version",
            data: { supported: revisions, requested: String(declared) }
          })
        }

        /** The answers a replayed 2026-07-28 handler already has: signed state plus this round's responses. */
        const answersOf = (request: Protocol.IncomingRequest): Record<string, unknown> | ProtocolError.McpError => {
          const state = request.params?.requestState
          const previous = state === undefined ? {} : typeof state === "string" ? RequestState.open(stateKey, state) : undefined
          if (previous === undefined) return invalidParams("Invalid requestState")
          const responses = isRecord(request.params?.inputResponses) ? request.params.inputResponses : {}
          return { ...previous, ...responses }
        }

        /**
         * The context of one run of a handler. `mode`: a plain request; `preTask`, the part of a `taskStart:
         * "handler"` tool before `startTask`; `task`, a run inside a 2026-07-28 task.
         */
        const contextFor = (
          request: Protocol.IncomingRequest,
          revision: Revision.Revision,
          answers: Record<string, unknown>,
          mode: "request" | "preTask" | "task" = "request"
        ) => {
          const stateless = Revision.era(revision) === "stateless"
          const meta = request.meta
          const capabilities = stateless && isRecord(meta?.[Revision.metaKeys.clientCapabilities])
            ? meta![Revision.metaKeys.clientCapabilities] as Record<string, unknown>
            : connection.clientCapabilities
          const info = stateless ? meta?.[Revision.metaKeys.clientInfo] as ClientInfo | undefined : connection.clientInfo
          const related = { relatedRequestId: request.id }
          const requested = meta?.[Revision.metaKeys.logLevel]
          const threshold: LogLevel | undefined = stateless
            ? (LOG_LEVELS as ReadonlyArray<unknown>).includes(requested) ? requested as LogLevel : undefined
            : connection.logLevel
          /** Asks the client: requests to it in the stateful era, the answers of the replay (or their absence) in 2026-07-28. */
          const askMany = (
            requests: ReadonlyArray<readonly [key: string, method: AskMethod, params: Record<string, unknown>]>
          ): Effect.Effect<Record<string, Record<string, unknown>>, unknown> =>
            Effect.suspend((): Effect.Effect<Record<string, Record<string, unknown>>, unknown> => {
              const missing = [...new Set(requests.map(([, method]) => capabilityOf(method)))]
                .filter((capability) => !isRecord(capabilities[capability]))
              if (missing.length > 0) {
                return Effect.fail(
                  stateless
                    ? new ProtocolError.McpError({
                      code: ErrorCode.MissingRequiredClientCapability,
                      message: `This request needs the client capabilities ${missing.map((c) => `"${c}"`).join(", ")}`,
                      data: { requiredCapabilities: Object.fromEntries(missing.map((c) => [c, {}])) }
                    })
                    : new ProtocolError.McpError({
                      code: ErrorCode.InvalidRequest,
                      message: `The client did not declare the ${missing.map((c) => `"${c}"`).join(", ")} capability`
                    })
                )
              }
              if (!stateless) {
                if (engine === undefined) return Effect.die("engine not started")
                const peer = engine
                return Effect.map(
                  Effect.forEach(requests, ([key, method, params]) =>
                    Effect.flatMap(peer.request(method, params, related), (result) =>
                      isRecord(result)
                        ? Effect.succeed([key, result] as const)
                        : Effect.fail(invalidParams(`${method}: the client's result is not an object`))), {
                    concurrency: "unbounded"
                  }),
                  (entries) => Object.fromEntries(entries)
                )
              }
              const got: Record<string, Record<string, unknown>> = {}
              const needed: Record<string, { method: AskMethod; params: Record<string, unknown> }> = {}
              for (const [key, method, params] of requests) {
                const answer = answers[key]
                if (isRecord(answer)) got[key] = answer
                else needed[key] = { method, params }
              }
              return Object.keys(needed).length === 0 ? Effect.succeed(got) : Effect.fail(new InputRequired(needed))
            })
          let asked = 0
          return RequestContext.of({
            requestId: request.id,
            method: request.method,
            revision,
            clientCapabilities: capabilities,
            clientInfo: info,
            meta,
            progress: (progress, total, message) =>
              request.sendProgress({
                progress,
                ...(total === undefined ? {} : { total }),
                ...(message === undefined ? {} : { message })
              }),
            log: (level, data, logger) =>
              threshold === undefined || !isLogged(level, threshold) || engine === undefined
                ? Effect.void
                : Effect.ignore(engine.notify("notifications/message", { level, data, ...(logger === undefined ? {} : { logger }) }, related)),
            closeStream: transport.closeRequestStream === undefined ? Effect.void : transport.closeRequestStream(request.id),
            ask: (method, params = {}, options) =>
              Effect.suspend(() => {
                const key = options?.key ?? `${capabilityOf(method)}-${asked++}`
                return Effect.map(askMany([[key, method, params]]), (answers) => answers[key]!)
              }),
            askAll: (requests) =>
              askMany(Object.entries(requests).map(([key, request]) => [key, request.method, request.params ?? {}] as const)),
            startTask: mode === "preTask" ? Effect.fail(new StartTask()) : Effect.void
          })
        }

        /** Adds what the stateless era wants on every result. */
        const finish = (revision: Revision.Revision, result: Record<string, unknown>, cacheable?: CacheableMethod) => {
          if (Revision.era(revision) !== "stateless") return result
          const hint = cacheable === undefined ? undefined : cacheHint(cacheable)
          return {
            ...result,
            resultType: "complete",
            ...(hint === undefined ? {} : { ttlMs: hint.ttlMs, cacheScope: hint.scope }),
            _meta: { ...(isRecord(result._meta) ? result._meta : {}), [Revision.metaKeys.serverInfo]: options.info }
          }
        }

        const page = <A>(items: ReadonlyArray<A>, request: Protocol.IncomingRequest, key: (a: A) => string) => {
          const cursor = request.params?.cursor
          if (cursor !== undefined && typeof cursor !== "string") return Effect.fail(invalidParams("Invalid cursor"))
          const result = Cursor.paginate(items, cursor, key, pageSize)
          return result === undefined ? Effect.fail(invalidParams("Invalid cursor")) : Effect.succeed(result)
        }

        type Handler = (
          request: Protocol.IncomingRequest,
          revision: Revision.Revision,
          /** 2026-07-28: the answers the request brings (signed state and input responses). */
          answers: Record<string, unknown>
        ) => Effect.Effect<Record<string, unknown>, unknown, R | RequestContext>

        const listed = (nextCursor: string | undefined) => (nextCursor === undefined ? {} : { nextCursor })

        const requestDeclaresTasks = (request: Protocol.IncomingRequest) => {
          const caps = request.meta?.[Revision.metaKeys.clientCapabilities]
          return isRecord(caps) && isRecord(caps.extensions) && isRecord(caps.extensions[TASKS_EXTENSION])
        }

        /**
         * 2026-07-28 tasks extension: answers at once with a task handle (`resultType: "task"`) and runs the tool
         * in the server's scope (the task outlives this request and its connection), for at most the task's
         * time-to-live. When the tool asks for input the task goes to `input_required` with the requests;
         * `tasks/update` brings the answers (possibly a few at a time) and, once all are there, the tool is
         * replayed with them. `answers` are those gathered before the task (a `taskStart: "handler"` tool).
         */
        const runAsTaskV2 = (
          request: Protocol.IncomingRequest,
          revision: Revision.Revision,
          tool: Tool.Tool<R>,
          answers: Record<string, unknown>
        ): Effect.Effect<Record<string, unknown>, unknown, R | RequestContext> =>
          Effect.gen(function*() {
            const entry = yield* tasksV2.create(undefined).pipe(
              Effect.mapError((e) => new ProtocolError.McpError({ code: ErrorCode.Overloaded, message: e.message }))
            )
            const gathered: Record<string, unknown> = { ...answers }
            const runOnce = withContext(
              Effect.suspend(() =>
                Effect.provideService(tool.call(request.params?.arguments), RequestContext, contextFor(request, revision, gathered, "task"))
              )
            )
            const loop: Effect.Effect<TaskStore.Outcome, never, R> = Effect.gen(function*() {
              for (let round = 0; round < 16; round++) {
                const exit = yield* Effect.exit(runOnce)
                if (exit._tag === "Success") return { _tag: "Result", result: finish(revision, { ...exit.value }) } as const
                const error = Cause.findErrorOption(exit.cause)
                if (Option.isSome(error) && error.value instanceof InputRequired) {
                  entry.inputRequests = { ...error.value.requests }
                  entry.inputResponses = {}
                  entry.update = yield* Deferred.make<Record<string, unknown>>()
                  const task = yield* tasksV2.transition(entry, "input_required")
                  if (task !== undefined) yield* notifyTaskStatusV2(entry, undefined)
                  Object.assign(gathered, yield* Deferred.await(entry.update))
                  entry.inputRequests = undefined
                  entry.inputResponses = {}
                  entry.update = undefined
                  if ((yield* tasksV2.transition(entry, "working")) !== undefined) yield* notifyTaskStatusV2(entry, undefined)
                  continue
                }
                if (Option.isSome(error) && error.value instanceof ProtocolError.McpError) {
                  const e = error.value
                  return e.data === undefined
                    ? { _tag: "Error", code: e.code, message: e.message } as const
                    : { _tag: "Error", code: e.code, message: e.message, data: e.data } as const
                }
                yield* Effect.logWarning("A task's call failed").pipe(
                  Effect.annotateLogs({ mode: "FM-42", taskId: entry.task.taskId, cause: Cause.pretty(exit.cause) })
                )
                return { _tag: "Error", code: ErrorCode.InternalError, message: "Internal error" } as const
              }
              return { _tag: "Error", code: ErrorCode.InternalError, message: "The task asked for input too many times" } as const
            })
            const services = yield* Effect.context<R>()
            const run = loop.pipe(
              Effect.flatMap((outcome) =>
                Effect.gen(function*() {
                  // a tool error (isError) is a completed task whose result says so; failed is for protocol errors
                  const task = yield* tasksV2.transition(entry, outcome._tag === "Error" ? "failed" : "completed")
                  yield* Deferred.succeed(entry.outcome, outcome)
                  if (task !== undefined) yield* notifyTaskStatusV2(entry, outcome)
                })
              ),
              // past its time-to-live the task is gone from the store: nobody can see its outcome any more
              (effect) => entry.task.ttl === null ? effect : Effect.timeoutOption(effect, Duration.millis(entry.task.ttl)),
              Effect.provide(services)
            )
            entry.fiber = yield* Effect.forkIn(run, serverScope)
            const { inputRequests: _none, ...handle } = TaskStore.detailV2(entry, undefined)
            return { ...handle, resultType: "task", _meta: { [Revision.metaKeys.serverInfo]: options.info } }
          })

        /** 2026-07-28: the task a tasks-extension request names, for a client that declared the extension. */
        const taskOfV2 = (request: Protocol.IncomingRequest) =>
          Effect.gen(function*() {
            if (!requestDeclaresTasks(request)) {
              return yield* new ProtocolError.McpError({
                code: ErrorCode.MissingRequiredClientCapability,
                message: `${request.method} needs the ${TASKS_EXTENSION} extension: declare it in the client capabilities`,
                data: { requiredCapabilities: { extensions: { [TASKS_EXTENSION]: {} } } }
              })
            }
            const entry = yield* tasksV2.get(request.params?.taskId)
            if (entry === undefined) return yield* invalidParams("Unknown task")
            return entry
          })

        /** 2026-07-28: task status changes go to the subscriptions that asked for the task (`taskIds`). */
        const notifyTaskStatusV2 = (entry: TaskStore.TaskEntry, outcome: TaskStore.Outcome | undefined) =>
          Effect.asVoid(PubSub.publish(changes, { _tag: "TaskStatus", taskId: entry.task.taskId, params: TaskStore.detailV2(entry, outcome) }))

        const notifyTaskStatus = (task: TaskStore.Task) =>
          engine === undefined ? Effect.void : Effect.ignore(engine.notify("notifications/tasks/status", { ...task }))

        /**
         * Runs a call as a task: answers at once with the task, runs the call in the connection's scope (not the
         * request's), and records its outcome. An `isError` result makes the task `failed`.
         */
        const runAsTask = (
          call: Effect.Effect<Record<string, unknown>, unknown, R | RequestContext>,
          ttl: unknown
        ): Effect.Effect<Record<string, unknown>, unknown, R | RequestContext> =>
          Effect.gen(function*() {
            const entry = yield* taskStore.create(ttl).pipe(
              Effect.mapError((e) => new ProtocolError.McpError({ code: ErrorCode.Overloaded, message: e.message }))
            )
            const services = yield* Effect.context<R | RequestContext>()
            const run = call.pipe(
              Effect.exit,
              Effect.flatMap((exit) =>
                Effect.gen(function*() {
                  let outcome: TaskStore.Outcome
                  if (exit._tag === "Success") {
                    outcome = { _tag: "Result", result: exit.value }
                  } else {
                    const error = Cause.findErrorOption(exit.cause)
                    if (Option.isSome(error) && error.value instanceof ProtocolError.McpError) {
                      const e = error.value
                      outcome = e.data === undefined
                        ? { _tag: "Error", code: e.code, message: e.message }
                        : { _tag: "Error", code: e.code, message: e.message, data: e.data }
                    } else {
                      yield* Effect.logWarning("A task's call failed").pipe(
                        Effect.annotateLogs({ mode: "FM-42", taskId: entry.task.taskId, cause: Cause.pretty(exit.cause) })
                      )
                      outcome = { _tag: "Error", code: ErrorCode.InternalError, message: "Internal error" }
                    }
                  }
                  const failed = outcome._tag === "Error" || outcome.result.isError === true
                  const task = yield* taskStore.transition(entry, failed ? "failed" : "completed")
                  yield* Deferred.succeed(entry.outcome, outcome)
                  if (task !== undefined) yield* notifyTaskStatus(task)
                })
              ),
              Effect.provide(services)
            )
            entry.fiber = yield* Effect.forkIn(run, connectionScope)
            return { task: { ...entry.task } }
          })

        const methods: Record<string, Handler> = {
          "ping": () => Effect.succeed({}),
          "server/discover": (_request, revision) =>
            Effect.succeed(finish(revision, {
              supportedVersions: revisions,
              capabilities: capabilities(revision),
              ...(options.instructions === undefined ? {} : { instructions: options.instructions })
            }, "server/discover")),
          "tools/list": (request, revision) =>
            Effect.map(page([...tools.values()], request, (t) => t.name), ({ items, nextCursor }) =>
              finish(revision, { tools: items.map(Tool.describe), ...listed(nextCursor) }, "tools/list")),
          "tools/call": (request, revision, answers) => {
            const name = request.params?.name
            const tool = typeof name === "string" ? tools.get(name) : undefined
            if (tool === undefined) return Effect.fail(invalidParams(`Unknown tool: ${String(name)}`))
            // content types newer than the revision are downgraded (resource_link, audio)
            const downgrade = revision < "2025-06-18"
            const key = request.meta?.["io.effect-mcp/idempotencyKey"]
            const run = guarded(tool.name, tool.call(request.params?.arguments))
            const keyed = typeof key === "string" && key.length > 0 && key.length <= 256
            const bound = Duration.fromInputUnsafe(toolSettings(tool.name)?.timeout ?? tool.info.timeout ?? live.config.toolTimeout ?? Duration.minutes(5))
            const call = Effect.map(keyed ? once(tool.name, key, run, bound) : run, (result) =>
              finish(
                revision,
                downgrade ? { ...result, content: result.content.map((block) => Content.forRevision(block, revision)) } : { ...result }
              ))
            if (revision === "2026-07-28") {
              // the io.modelcontextprotocol/tasks extension: the server runs task tools as tasks for clients
              // that declared the extension; a required task tool needs it
              const support = tool.info.taskSupport ?? "forbidden"
              if (support === "forbidden") return call
              const declared = requestDeclaresTasks(request)
              if (!declared && support === "required") {
                return Effect.fail(new ProtocolError.McpError({
                  code: ErrorCode.MissingRequiredClientCapability,
                  message: `Tool ${tool.name} runs as a task: declare the ${TASKS_EXTENSION} extension`,
                  data: { requiredCapabilities: { extensions: { [TASKS_EXTENSION]: {} } } }
                }))
              }
              if (!declared) return call
              if (tool.info.taskStart !== "handler") return runAsTaskV2(request, revision, tool, answers)
              // the handler runs as a plain request (its asks are input_required rounds of this call) until it
              // reaches startTask; the task then replays it with the answers gathered so far
              return Effect.catchIf(
                Effect.provideService(call, RequestContext, contextFor(request, revision, answers, "preTask")),
                (e): e is StartTask => e instanceof StartTask,
                () => runAsTaskV2(request, revision, tool, answers)
              )
            }
            if (revision !== "2025-11-25") return call
            const support = tool.info.taskSupport ?? "forbidden"
            const task = request.params?.task
            if (task !== undefined && support === "forbidden") {
              return Effect.fail(new ProtocolError.McpError({ code: ErrorCode.MethodNotFound, message: `Tool ${tool.name} cannot run as a task` }))
            }
            if (task === undefined && support === "required") {
              return Effect.fail(new ProtocolError.McpError({ code: ErrorCode.MethodNotFound, message: `Tool ${tool.name} must run as a task` }))
            }
            return task === undefined ? call : runAsTask(call, isRecord(task) ? task.ttl : undefined)
          },
          "prompts/list": (request, revision) =>
            Effect.map(page([...prompts.values()], request, (p) => p.name), ({ items, nextCursor }) =>
              finish(revision, { prompts: items.map(Prompt.describe), ...listed(nextCursor) }, "prompts/list")),
          "prompts/get": (request, revision) =>
            Effect.gen(function*() {
              const name = request.params?.name
              const prompt = typeof name === "string" ? prompts.get(name) : undefined
              if (prompt === undefined) return yield* invalidParams(`Unknown prompt: ${String(name)}`)
              const result = yield* prompt.get(request.params?.arguments).pipe(
                Effect.catchIf(
                  (e): e is Prompt.InvalidPromptArguments => e instanceof Prompt.InvalidPromptArguments,
                  (e) => Effect.fail(invalidParams(e.message))
                )
              )
              return finish(revision, { ...result })
            }),
          "resources/list": (request, revision) =>
            Effect.gen(function*() {
              const fromTemplates = yield* Effect.forEach(templates, (t) => t.list ?? Effect.succeed([]))
              const all = [...[...resources.values()].map((r) => r.entry), ...fromTemplates.flat()]
              const { items, nextCursor } = yield* page(all, request, (r) => r.uri)
              return finish(revision, { resources: items, ...listed(nextCursor) }, "resources/list")
            }),
          "resources/templates/list": (request, revision) =>
            Effect.map(page(templates, request, (t) => t.template.template), ({ items, nextCursor }) =>
              finish(revision, { resourceTemplates: items.map(Resource.describeTemplate), ...listed(nextCursor) }, "resources/templates/list")),
          "resources/read": (request, revision) =>
            Effect.gen(function*() {
              const uri = request.params?.uri
              if (typeof uri !== "string") return yield* invalidParams("uri is required")
              const fixed = resources.get(uri)
              if (fixed !== undefined) return finish(revision, { contents: yield* fixed.read }, "resources/read")
              for (const template of templates) {
                const variables = UriTemplate.match(template.template, uri)
                if (variables !== undefined) {
                  return finish(revision, { contents: yield* template.read(uri, variables) }, "resources/read")
                }
              }
              return yield* new ProtocolError.McpError({
                code: Revision.resourceNotFoundCode(revision),
                message: `Resource not found: ${uri}`,
                data: { uri }
              })
            }),
          "subscriptions/listen": (request, revision) =>
            Effect.scoped(Effect.gen(function*() {
              const requested = isRecord(request.params?.notifications) ? request.params.notifications : {}
              const hasResources = resources.size > 0 || templates.length > 0
              // the subset the server honours: it never sends what was not asked for
              const uris = Array.isArray(requested.resourceSubscriptions)
                ? requested.resourceSubscriptions.filter((u): u is string => typeof u === "string").slice(0, 1_000)
                : []
              // tasks extension: status notifications for the listed tasks
              const taskIds = Array.isArray(requested.taskIds)
                ? requested.taskIds.filter((t): t is string => typeof t === "string").slice(0, 1_000)
                : []
              const watchedTasks = new Set(taskIds)
              const honoured: Record<string, unknown> = {
                ...(taskIds.length > 0 ? { taskIds } : {}),
                ...(requested.toolsListChanged === true && tools.size > 0 ? { toolsListChanged: true } : {}),
                ...(requested.promptsListChanged === true && prompts.size > 0 ? { promptsListChanged: true } : {}),
                ...(requested.resourcesListChanged === true && hasResources ? { resourcesListChanged: true } : {}),
                ...(uris.length > 0 && hasResources ? { resourceSubscriptions: uris } : {})
              }
              const meta = { [Revision.metaKeys.subscriptionId]: request.id }
              const subscription = yield* PubSub.subscribe(changes)
              const send = (method: string, params: Record<string, unknown>) =>
                engine === undefined
                  ? Effect.void
                  : Effect.ignore(engine.notify(method, { ...params, _meta: meta }, { relatedRequestId: request.id }))
              // the acknowledgment comes first; nothing is sent on this subscription before it
              yield* send("notifications/subscriptions/acknowledged", { notifications: honoured })
              const watched = new Set(uris)
              return yield* Stream.fromSubscription(subscription).pipe(
                Stream.runForEach((change) => {
                  if (change._tag === "ResourceUpdated") {
                    return honoured.resourceSubscriptions !== undefined && watched.has(change.uri)
                      ? send("notifications/resources/updated", { uri: change.uri })
                      : Effect.void
                  }
                  if (change._tag === "TaskStatus") {
                    return watchedTasks.has(change.taskId) ? send("notifications/tasks", change.params) : Effect.void
                  }
                  const key = `${change.list}ListChanged`
                  return honoured[key] === true ? send(`notifications/${change.list}/list_changed`, {}) : Effect.void
                }),
                // runs until the client cancels it (notifications/cancelled interrupts this fiber, no response)
                // or the connection ends; a server that ends it answers with a completion result
                Effect.as(finish(revision, { _meta: meta }))
              )
            })),
          "tasks/get": (request, revision) =>
            Effect.gen(function*() {
              if (revision === "2026-07-28") {
                const entry = yield* taskOfV2(request)
                const polled = yield* Deferred.poll(entry.outcome)
                const outcome = Option.isSome(polled) ? yield* polled.value : undefined
                return finish(revision, TaskStore.detailV2(entry, outcome))
              }
              const entry = yield* taskStore.get(request.params?.taskId)
              if (entry === undefined) return yield* invalidParams("Unknown task")
              return { ...entry.task }
            }),
          "tasks/update": (request, revision) =>
            Effect.gen(function*() {
              const entry = yield* taskOfV2(request)
              const responses = request.params?.inputResponses
              if (!isRecord(responses)) return yield* invalidParams("inputResponses is required")
              // answers to requests the task is not waiting for (any more) are ignored
              yield* TaskStore.answer(entry, responses)
              return finish(revision, {})
            }),
          "tasks/result": (request) =>
            Effect.gen(function*() {
              const entry = yield* taskStore.get(request.params?.taskId)
              if (entry === undefined) return yield* invalidParams("Unknown task")
              // blocks until the task is terminal, then returns exactly what the request would have returned
              const outcome = yield* Deferred.await(entry.outcome)
              const related = { "io.modelcontextprotocol/related-task": { taskId: entry.task.taskId } }
              if (outcome._tag === "Result") {
                return { ...outcome.result, _meta: { ...(isRecord(outcome.result._meta) ? outcome.result._meta : {}), ...related } }
              }
              return yield* new ProtocolError.McpError(
                outcome.data === undefined
                  ? { code: outcome.code, message: outcome.message, data: related }
                  : { code: outcome.code, message: outcome.message, data: outcome.data }
              )
            }),
          "tasks/list": (request) =>
            Effect.flatMap(taskStore.list, (all) =>
              Effect.map(page(all, request, (t) => t.taskId), ({ items, nextCursor }) => ({ tasks: items, ...listed(nextCursor) }))),
          "tasks/cancel": (request, revision) =>
            Effect.gen(function*() {
              if (revision === "2026-07-28") {
                // an empty acknowledgment, also for a task already terminal
                const entry = yield* taskOfV2(request)
                if ((yield* tasksV2.transition(entry, "cancelled", "The task was cancelled by request.")) !== undefined) {
                  yield* Deferred.succeed(entry.outcome, { _tag: "Error", code: ErrorCode.InternalError, message: "Task was cancelled" })
                  if (entry.fiber !== undefined) yield* Fiber.interrupt(entry.fiber)
                  yield* notifyTaskStatusV2(entry, undefined)
                }
                return finish(revision, {})
              }
              const entry = yield* taskStore.get(request.params?.taskId)
              if (entry === undefined) return yield* invalidParams("Unknown task")
              if (TaskStore.isTerminal(entry.task.status)) return yield* invalidParams(`Task is already ${entry.task.status}`)
              const task = yield* taskStore.transition(entry, "cancelled", "The task was cancelled by request.")
              yield* Deferred.succeed(entry.outcome, { _tag: "Error", code: ErrorCode.InternalError, message: "Task was cancelled" })
              if (entry.fiber !== undefined) yield* Fiber.interrupt(entry.fiber)
              if (task !== undefined) yield* notifyTaskStatus(task)
              return { ...entry.task }
            }),
          "resources/subscribe": (request) =>
            Effect.sync(() => {
              if (typeof request.params?.uri === "string") connection.subscriptions.add(request.params.uri)
              return {}
            }),
          "resources/unsubscribe": (request) =>
            Effect.sync(() => {
              if (typeof request.params?.uri === "string") connection.subscriptions.delete(request.params.uri)
              return {}
            }),
          "logging/setLevel": (request) => {
            const level = request.params?.level
            if (!(LOG_LEVELS as ReadonlyArray<unknown>).includes(level)) {
              return Effect.fail(invalidParams(`Invalid log level: ${String(level)}`))
            }
            connection.logLevel = level as LogLevel
            return Effect.succeed({})
          },
          "completion/complete": (request, revision) =>
            Effect.gen(function*() {
              const ref = request.params?.ref
              const argument = request.params?.argument
              if (!isRecord(ref) || !isRecord(argument) || typeof argument.name !== "string") {
                return yield* invalidParams("ref and argument are required")
              }
              const value = typeof argument.value === "string" ? argument.value : ""
              const given = isRecord(request.params?.context) && isRecord(request.params.context.arguments)
                ? request.params.context.arguments as Record<string, string>
                : {}
              let complete:
                | ((value: string, context: Readonly<Record<string, string>>) => Effect.Effect<ReadonlyArray<string>, unknown, R>)
                | undefined
              if (ref.type === "ref/prompt") {
                const prompt = typeof ref.name === "string" ? prompts.get(ref.name) : undefined
                if (prompt === undefined) return yield* invalidParams(`Unknown prompt: ${String(ref.name)}`)
                complete = prompt.complete[argument.name]
              } else if (ref.type === "ref/resource") {
                const template = templates.find((t) => t.template.template === ref.uri)
                if (template === undefined && !resources.has(String(ref.uri))) {
                  return yield* invalidParams(`Unknown resource template: ${String(ref.uri)}`)
                }
                complete = template?.complete[argument.name]
              } else {
                return yield* invalidParams(`Unknown ref type: ${String(ref.type)}`)
              }
              const values = complete === undefined ? [] : yield* complete(value, given)
              return finish(revision, {
                completion: { values: values.slice(0, 100), total: values.length, hasMore: values.length > 100 }
              })
            })
        }

        const stateOnly = new Set(["ping", "resources/subscribe", "resources/unsubscribe", "logging/setLevel"])
        const v2TaskMethods = new Set(["tasks/get", "tasks/update", "tasks/cancel"])
        const statelessOnly = new Set(["server/discover", "subscriptions/listen"])

        const initialize: Protocol.RequestHandler = (request) =>
          Effect.gen(function*() {
            if (statefulRevisions.length === 0) {
              return yield* new ProtocolError.McpError({
                code: ErrorCode.UnsupportedProtocolVersion,
                message: "Unsupported protocol version",
                data: { supported: revisions, requested: String(request.params?.protocolVersion) }
              })
            }
            const declared = request.meta?.[Revision.metaKeys.protocolVersion]
            if (connection.era === "stateless" || (typeof declared === "string" && declared >= "2026-07-28")) {
              // the stateless era has no initialize
              return yield* new ProtocolError.McpError({ code: ErrorCode.MethodNotFound, message: "Method not found: initialize (not in protocol 2026-07-28)" })
            }
            const requested = request.params?.protocolVersion
            if (typeof requested !== "string") return yield* invalidParams("protocolVersion is required")
            connection.era = "stateful"
            connection.revision = Revision.negotiate(requested, statefulRevisions)
            connection.clientCapabilities = isRecord(request.params?.capabilities) ? request.params.capabilities : {}
            connection.clientInfo = isRecord(request.params?.clientInfo)
              ? request.params.clientInfo as unknown as ClientInfo
              : undefined
            return {
              protocolVersion: connection.revision,
              capabilities: capabilities(connection.revision),
              serverInfo: options.info,
              ...(options.instructions === undefined ? {} : { instructions: options.instructions })
            }
          })

        const handler = (method: string): Protocol.RequestHandler | undefined => {
          if (method === "initialize") return initialize
          const serveMethod = methods[method]
          if (serveMethod === undefined) return undefined
          const isInputRequired = (e: unknown): e is InputRequired => e instanceof InputRequired
          // the hot path: plain code and a few Effect nodes per request, no generator
          return (request) => {
            const revision = requestRevision(request)
            if (revision instanceof ProtocolError.McpError) {
              // ping is allowed before initialization (as the spec says)
              return method === "ping" && connection.era !== "stateless" ? Effect.succeed({}) : Effect.fail(revision)
            }
            const stateless = Revision.era(revision) === "stateless"
            if (stateless) connection.era ??= "stateless"
            // tasks: core methods in 2025-11-25; get/update/cancel of the tasks extension in 2026-07-28
            const exists = !method.startsWith("tasks/") ||
              (revision === "2025-11-25" ? method !== "tasks/update" : revision === "2026-07-28" && v2TaskMethods.has(method))
            if (!exists || (stateless && stateOnly.has(method)) || (!stateless && statelessOnly.has(method))) {
              return Effect.fail(
                new ProtocolError.McpError({
                  code: ErrorCode.MethodNotFound,
                  message: `Method not found: ${method} (not in protocol ${revision})`
                })
              )
            }
            const answers = stateless ? answersOf(request) : {}
            if (answers instanceof ProtocolError.McpError) return Effect.fail(answers)
            const served = withContext(
              Effect.provideService(serveMethod(request, revision, answers), RequestContext, contextFor(request, revision, answers))
            )
            return stateless
              ? Effect.catchIf(served, isInputRequired, (needed) =>
                // 2026-07-28: the handler needs input; answer input_required, carrying what it already has
                Effect.succeed({
                  resultType: "input_required",
                  inputRequests: needed.requests,
                  requestState: RequestState.seal(stateKey, answers),
                  _meta: { [Revision.metaKeys.serverInfo]: options.info }
                }))
              : served
          }
        }

        // registry changes from now on (subscribed before the first request is served, so none is missed)
        const changed = yield* PubSub.subscribe(changes)
        const protocol = yield* Protocol.make(transport, {
          handler,
          onNotification: (notification) =>
            Effect.sync(() => {
              if (notification.method === "notifications/initialized" && connection.era === "stateful") {
                connection.initialized = true
              }
            }),
          maxConcurrentIncoming: () => live.config.maxConcurrentRequests ?? 64,
          rateLimiter: (request) => {
            const current = limiter
            if (current === undefined) return undefined
            if (live.config.rateLimit?.per !== "client") return current.consume(connectionKey)
            const declared: unknown = request.method === "initialize"
              ? request.params?.clientInfo
              : connection.era === "stateful"
              ? connection.clientInfo
              : request.meta?.[Revision.metaKeys.clientInfo]
            const name = isRecord(declared) && typeof declared.name === "string" ? declared.name : undefined
            return current.consume(name === undefined ? connectionKey : `client:${name}`)
          },
          bulkheads: bulkheadsFor,
          handlerTimeout: (request) => {
            if (request.method !== "tools/call") return undefined
            const name = request.params?.name
            if (typeof name !== "string") return undefined
            return toolSettings(name)?.timeout ?? tools.get(name)?.info.timeout ?? live.config.toolTimeout ?? Duration.minutes(5)
          },
          allowBatch: () => connection.era === "stateful" && Revision.supportsBatch(connection.revision)
        })
        engine = protocol

        // forward registry changes to this client (stateful era: list_changed and resource updates)
        yield* Stream.fromSubscription(changed).pipe(
          Stream.runForEach((change) => {
            if (connection.era !== "stateful" || !connection.initialized) return Effect.void
            if (change._tag === "ListChanged") {
              return Effect.ignore(protocol.notify(`notifications/${change.list}/list_changed`))
            }
            if (change._tag === "TaskStatus") return Effect.void
            return connection.subscriptions.has(change.uri)
              ? Effect.ignore(protocol.notify("notifications/resources/updated", { uri: change.uri }))
              : Effect.void
          }),
          Effect.forkScoped
        )
        yield* protocol.closed
      }))

    const listChanged = (list: "tools" | "resources" | "prompts") =>
      Effect.asVoid(PubSub.publish(changes, { _tag: "ListChanged", list }))

    return {
      serve,
      revisions,
      breaker: (tool) => ({
        state: breaker.state(tool),
        reset: Effect.andThen(Effect.sync(() => forced.delete(tool)), breaker.reset(tool)),
        forceOpen: Effect.andThen(Effect.sync(() => forced.add(tool)), breaker.forceOpen(tool))
      }),
      reconfigure,
      config: Effect.sync(() => live),
      addTool: (tool) =>
        Effect.andThen(checkTool(tool), () => {
          tools.set(tool.name, tool)
          return listChanged("tools")
        }),
      findTool: (name) => tools.get(name),
      removeTool: (name) => Effect.suspend(() => tools.delete(name) ? listChanged("tools") : Effect.void),
      addPrompt: (prompt) =>
        Effect.suspend(() => {
          prompts.set(prompt.name, prompt)
          return listChanged("prompts")
        }),
      removePrompt: (name) => Effect.suspend(() => prompts.delete(name) ? listChanged("prompts") : Effect.void),
      addResource: (resource) =>
        Effect.suspend(() => {
          resources.set(resource.entry.uri, resource)
          return listChanged("resources")
        }),
      removeResource: (uri) => Effect.suspend(() => resources.delete(uri) ? listChanged("resources") : Effect.void),
      addResourceTemplate: (template) =>
        Effect.suspend(() => {
          templates = [...templates.filter((t) => t.template.template !== template.template.template), template]
          return listChanged("resources")
        }),
      removeResourceTemplate: (uriTemplate) =>
        Effect.suspend(() => {
          const kept = templates.filter((t) => t.template.template !== uriTemplate)
          if (kept.length === templates.length) return Effect.void
          templates = kept
          return listChanged("resources")
        }),
      resourceUpdated: (uri) => Effect.asVoid(PubSub.publish(changes, { _tag: "ResourceUpdated", uri }))
    } satisfies McpServer<R>
  })

/** Re-exported so handlers can fail with a specific JSON-RPC error. */
export const McpError = ProtocolError.McpError
