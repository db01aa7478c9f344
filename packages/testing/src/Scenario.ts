/**
 * The scenario runner: connects a client to a server over a faulty network, runs a workload under a fault
 * schedule (advancing the TestClock itself), tears everything down, and checks the invariants every
 * effect-mcp component must keep whatever the network does:
 *
 * - **exactly one answer**: every call the workload started ends in a result or a typed error (never a defect,
 *   never nothing: a call with no outcome within `answerWithin` is *lost*); on the wire, no request is answered
 *   more often than it was received, and no received request goes unanswered past the bound unless its sender
 *   cancelled it or the connection closed; every frame a peer could not decode (corrupted in flight, FM-12) is
 *   answered with a JSON-RPC error (-32700 or -32600) while the connection stays open;
 * - **its own answer**: a call that says what its answer must be (`expect`; `callTool`'s `expectText`, e.g. the
 *   echo of its arguments) gets that answer, never another call's (a *wrong answer*, FM-51: answers matched to
 *   the wrong request, as when they are matched by order and the network reorders them, FM-27);
 * - **no duplicate side effect**: a side effect recorded in the `Ledger` under a key (a tool call's
 *   idempotency key) happened once;
 * - **nothing left behind**: after teardown no fiber started by the scenario is alive, every `serve` has
 *   returned, and every probe (your caches, stores…) reads 0;
 * - **recovery within the backoff bounds**: with `reconnect`, every reconnection delay is within
 *   `Backoff.boundMs` of its attempt, and the client is back once the network is.
 *
 * The run is deterministic for a seed and a schedule on the TestClock; the report carries both, so a failing
 * property replays with `Scenario.run({ ...options, seed, schedule })`.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import type * as TestClock from "effect/testing/TestClock"
import { McpClient } from "@effect-mcp/client"
import { Backoff, Protocol, type Transport } from "@effect-mcp/core"
import { ErrorCode, type JsonRpc, type JsonRpcCodec } from "@effect-mcp/jsonrpc"
import type { Revision } from "@effect-mcp/schema"
import * as FaultSchedule from "./FaultSchedule.ts"
import * as FaultyTransport from "./FaultyTransport.ts"
import type * as Ledger from "./Ledger.ts"

// ---- what a scenario runs -------------------------------------------------------------------------------

/**
 * A server: anything that serves one connection until it closes (an `McpServer` is one).
 *
 * @since 0.1.0
 * @category models
 */
export interface Server<R = never> {
  readonly serve: (transport: Transport.Transport) => Effect.Effect<void, never, R>
}

/**
 * A client: how to connect one over a transport (in a scope that closes when the connection is done with).
 *
 * @since 0.1.0
 * @category models
 */
export interface Client<C> {
  readonly connect: (transport: Transport.Transport) => Effect.Effect<C, unknown, Scope.Scope>
}

/**
 * One call of a workload: started `at` after the client first connected, with the client of the moment.
 *
 * @since 0.1.0
 * @category models
 */
export interface Call<C> {
  readonly label?: string
  readonly at?: Duration.Input
  readonly run: (client: C) => Effect.Effect<unknown, unknown>
  /**
   * Checks that a result is this call's own answer: `undefined` if it is, else what is wrong with it (the
   * call's outcome is then a `WrongAnswer`).
   */
  readonly expect?: (result: unknown) => string | undefined
}

/** The text blocks of a `CallToolResult`, joined (`undefined` for anything else). */
const textOf = (result: unknown): string | undefined => {
  if (typeof result !== "object" || result === null) return undefined
  const content = (result as { readonly content?: unknown }).content
  if (!Array.isArray(content)) return undefined
  return content
    .map((block: unknown) =>
      typeof block === "object" && block !== null && (block as { readonly type?: unknown }).type === "text"
        ? String((block as { readonly text?: unknown }).text)
        : ""
    )
    .join("")
}

/**
 * An `McpClient` (default info `scenario 0.0.0`; every other option as `McpClient.connect`).
 *
 * @since 0.1.0
 * @category clients
 */
export const mcpClient = (options: Partial<McpClient.Options> = {}): Client<McpClient.McpClient> => ({
  connect: (transport) => McpClient.connect(transport, { info: { name: "scenario", version: "0.0.0" }, ...options })
})

/**
 * Options of a bare engine client.
 *
 * @since 0.1.0
 * @category clients
 */
export interface EngineClientOptions extends Partial<Protocol.Options> {
  /** Runs the stateful handshake with this revision first (default `"2025-11-25"`); `false` for none. */
  readonly initialize?: Revision.Revision | false
}

/**
 * A bare protocol engine as the client (no MCP negotiation beyond an optional `initialize`): for workloads of
 * raw requests, and for servers that are not MCP servers.
 *
 * @since 0.1.0
 * @category clients
 */
export const engineClient = (options: EngineClientOptions = {}): Client<Protocol.Protocol> => ({
  connect: (transport) =>
    Effect.gen(function*() {
      const { initialize = "2025-11-25", ...engine } = options
      const protocol = yield* Protocol.make(transport, { handler: () => undefined, ...engine })
      if (initialize !== false) {
        yield* protocol.request("initialize", {
          protocolVersion: initialize,
          capabilities: {},
          clientInfo: { name: "scenario", version: "0.0.0" }
        })
        yield* protocol.notify("notifications/initialized")
      }
      return protocol
    })
})

/**
 * A server made of bare engine handlers (for a scripted peer, or a deliberately broken one).
 *
 * @since 0.1.0
 * @category servers
 */
export const engineServer = (options: Protocol.Options): Server => ({
  serve: (transport) => Effect.scoped(Effect.flatMap(Protocol.make(transport, options), (protocol) => Effect.asVoid(protocol.closed)))
})

/**
 * A `tools/call` through an `McpClient`, optionally with an idempotency key and a retry policy. With
 * `expectText`, the result's text must be exactly that (the call's own answer, e.g. the echo of its
 * arguments); any other result is a `WrongAnswer`.
 *
 * @since 0.1.0
 * @category workloads
 */
export const callTool = (
  name: string,
  args: Record<string, unknown> = {},
  options: McpClient.CallOptions & {
    readonly label?: string
    readonly at?: Duration.Input
    /** The text this call's result must carry. */
    readonly expectText?: string
  } = {}
): Call<McpClient.McpClient> => {
  const { at, expectText, label, ...call } = options
  return {
    label: label ?? `tools/call ${name}${call.idempotencyKey === undefined ? "" : ` [${call.idempotencyKey}]`}`,
    ...(at === undefined ? {} : { at }),
    run: (client) => client.callTool(name, args, call),
    ...(expectText === undefined ? {} : {
      expect: (result: unknown) => {
        const text = textOf(result)
        return text === expectText ? undefined : `expected the text ${JSON.stringify(expectText)}, got ${text === undefined ? "no tool result" : JSON.stringify(text)}`
      }
    })
  }
}

/**
 * A raw request through a bare engine client.
 *
 * @since 0.1.0
 * @category workloads
 */
export const request = (
  method: string,
  params?: Record<string, unknown>,
  options: Protocol.RequestOptions & { readonly label?: string; readonly at?: Duration.Input } = {}
): Call<Protocol.Protocol> => {
  const { label, at, ...requestOptions } = options
  return {
    label: label ?? method,
    ...(at === undefined ? {} : { at }),
    run: (client) => client.request(method, params, requestOptions)
  }
}

/**
 * Reconnection: when the connection closes (or cannot be opened) the scenario reconnects after a backoff
 * delay, and checks every delay against `Backoff.boundMs(attempt, policy)`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Reconnect {
  /** The bounds (default `Backoff.defaults`: base 1 s, cap 16 s, reset after 30 s). */
  readonly policy?: Backoff.Policy
  /**
   * The delay before attempt `attempt` (0-based, reset as `Backoff` resets): your reconnect strategy under
   * test. Default: `Backoff.make(policy).next`.
   */
  readonly delay?: (attempt: number) => Effect.Effect<Duration.Duration>
  /** Most attempts in a row before giving up (default 32). */
  readonly maxAttempts?: number
}

/**
 * The invariants a scenario checks.
 *
 * @since 0.1.0
 * @category models
 */
export type Invariant =
  | "Lost"
  | "Defect"
  | "WrongAnswer"
  | "DuplicateAnswer"
  | "Unanswered"
  | "MalformedUnanswered"
  | "DuplicateSideEffect"
  | "LeakedFibers"
  | "LeakedSessions"
  | "LeakedProbe"
  | "SlowRecovery"
  | "NotRecovered"
  | "Hung"
  | "TraceIncomplete"

/** The FMEA mode each broken invariant points at. */
const modeOfInvariant: Record<Invariant, string> = {
  Lost: "FM-21",
  Defect: "FM-38",
  WrongAnswer: "FM-51",
  DuplicateAnswer: "FM-51",
  Unanswered: "FM-31",
  MalformedUnanswered: "FM-08",
  DuplicateSideEffect: "FM-10",
  LeakedFibers: "FM-09",
  LeakedSessions: "FM-09",
  LeakedProbe: "FM-03",
  SlowRecovery: "FM-25",
  NotRecovered: "FM-25",
  Hung: "FM-31",
  TraceIncomplete: "FM-19"
}

/**
 * A broken invariant, with the FMEA mode it points at and what exactly went wrong.
 *
 * @since 0.1.0
 * @category models
 */
export interface Violation {
  readonly invariant: Invariant
  readonly mode: string
  readonly detail: string
}

/**
 * How one call ended. Times are ms since the network started.
 *
 * @since 0.1.0
 * @category models
 */
export type Outcome =
  | { readonly _tag: "Answered"; readonly label: string; readonly startedAt: number; readonly endedAt: number }
  | {
    readonly _tag: "TypedError"
    readonly label: string
    readonly error: string
    readonly mode: string | undefined
    readonly startedAt: number
    readonly endedAt: number
  }
  | { readonly _tag: "Defect"; readonly label: string; readonly detail: string; readonly startedAt: number; readonly endedAt: number }
  /** A result that is not the call's own (its `expect` said what is wrong with it). */
  | { readonly _tag: "WrongAnswer"; readonly label: string; readonly detail: string; readonly startedAt: number; readonly endedAt: number }
  | { readonly _tag: "Lost"; readonly label: string; readonly startedAt: number }
  | { readonly _tag: "NotSent"; readonly label: string; readonly reason: string }

/**
 * One reconnection attempt.
 *
 * @since 0.1.0
 * @category models
 */
export interface Attempt {
  readonly at: number
  readonly ok: boolean
  /** The backoff delay slept before it, and its bound. */
  readonly delayMs: number
  readonly boundMs: number
  readonly detail: string
}

/**
 * One loss of the connection and what followed.
 *
 * @since 0.1.0
 * @category models
 */
export interface Recovery {
  readonly disconnectedAt: number
  /** When the network accepted connections again (after an outage), else when it was lost. */
  readonly networkBackAt: number
  readonly recoveredAt: number | undefined
  readonly attempts: ReadonlyArray<Attempt>
}

/**
 * What a scenario did and which invariants broke.
 *
 * @since 0.1.0
 * @category models
 */
export interface Report {
  readonly seed: string | number
  readonly schedule: FaultSchedule.FaultSchedule
  /** Calls started. */
  readonly sent: number
  /** Calls that got a result. */
  readonly answered: number
  /** Calls that failed with a typed error (a value with a `_tag`). */
  readonly typedErrors: number
  /** Calls with no outcome within `answerWithin`. */
  readonly lost: number
  /** Calls that died or failed with an untyped value. */
  readonly defects: number
  /** Calls whose result was not their own answer (their `expect` refused it). */
  readonly wrongAnswers: number
  /** Calls never started for want of a connection. */
  readonly notSent: number
  /** Typed errors by tag. */
  readonly errors: Readonly<Record<string, number>>
  /** Side effects recorded in the ledger, and how many of them were repeats of a key. */
  readonly sideEffects: number
  readonly duplicatedSideEffects: number
  /** Wire: responses sent beyond the requests received (per id and connection). */
  readonly duplicateAnswers: number
  /** Wire: requests received and never answered within the bound (not cancelled, connection open). */
  readonly unanswered: number
  /**
   * Wire: answers to calls carrying an idempotency key that the network lost (packet loss, partition), so that
   * the client could only retry: each is a chance for a side effect to run twice.
   */
  readonly keyedAnswersLost: number
  /** Faults that acted, by `mode tag`. */
  readonly faults: Readonly<Record<string, number>>
  readonly connections: number
  readonly connectErrors: ReadonlyArray<string>
  readonly recoveries: ReadonlyArray<Recovery>
  readonly leaks: {
    readonly fibers: number
    readonly sessions: number
    readonly probes: Readonly<Record<string, number>>
  }
  readonly outcomes: ReadonlyArray<Outcome>
  readonly violations: ReadonlyArray<Violation>
  /** Virtual (or real) time the scenario took, in ms. */
  readonly elapsedMs: number
}

/**
 * A scenario.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options<C, R> {
  readonly server: Server<R>
  readonly client: Client<C>
  readonly workload: ReadonlyArray<Call<C>>
  /** The faults (default none). */
  readonly schedule?: FaultSchedule.FaultSchedule
  /** The network's seed (default: drawn from the ambient `Random`). */
  readonly seed?: string | number
  /** A call with no outcome this long after it started is lost (default 2 minutes: longer than any client timeout). */
  readonly answerWithin?: Duration.Input
  /** Bound of one connection attempt, handshake included (default 1 minute). */
  readonly connectWithin?: Duration.Input
  /** After the workload, how long servers and fibers may take to stop (default 30 s: past the engine's drain). */
  readonly drainWithin?: Duration.Input
  /** Side effects to check for duplicates. */
  readonly ledger?: Ledger.Ledger
  /** Gauges that must read 0 after teardown (a cache's size, a store's entries…). */
  readonly probes?: Readonly<Record<string, Effect.Effect<number>>>
  /** Reconnect when the connection is lost (default: one connection, no reconnection). */
  readonly reconnect?: Reconnect
  /** Invariants not to report (e.g. `["Lost"]` for a workload that is expected to lose calls). */
  readonly allow?: ReadonlyArray<Invariant>
  /** How far the TestClock moves per step (default 1 s; timers inside a step still fire in order). */
  readonly step?: Duration.Input
  /** Network settings (capacity, trace size). */
  readonly network?: Omit<FaultyTransport.Options, "seed">
}

// ---- the clock driver ---------------------------------------------------------------------------------

/**
 * FM-31: `drive` gave up: the effect was still running after `within`.
 *
 * @since 0.1.0
 * @category errors
 */
export class StillRunning extends Schema.TaggedError<StillRunning>()("StillRunning", {
  mode: Schema.tag("FM-31"),
  withinMs: Schema.Number
}) {
  override get message(): string {
    return `Still running after ${this.withinMs} ms`
  }
}

const isTestClock = (clock: Clock.Clock): clock is TestClock.TestClock =>
  typeof (clock as { readonly adjust?: unknown }).adjust === "function"

/**
 * Runs an effect while moving time: on the TestClock, advances it by `step` until the effect completes (timers
 * within a step still fire in order); on a live clock, just waits. Fails with `StillRunning` after `within`
 * (default 1 hour of clock time), interrupting the effect without waiting for it to stop. `activity`, if given, is read to let work that
 * does not wait on the clock settle before each step.
 *
 * @since 0.1.0
 * @category running
 */
export const drive = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  options: { readonly step?: Duration.Input; readonly within?: Duration.Input; readonly activity?: () => number } = {}
): Effect.Effect<A, E | StillRunning, R> =>
  Effect.gen(function*() {
    const clock = yield* Clock.clockWith(Effect.succeed)
    const withinMs = Duration.toMillis(Duration.fromInputUnsafe(options.within ?? Duration.hours(1)))
    // detached, so that an effect that will not stop cannot hold up its parent; interrupting `drive` interrupts it
    const fiber = yield* Effect.forkDetach(effect)
    const run: Effect.Effect<A, E | StillRunning> = Effect.gen(function*() {
      if (!isTestClock(clock)) {
        const exit = yield* Effect.timeoutOption(Fiber.await(fiber), Duration.millis(withinMs))
        if (Option.isSome(exit)) return yield* exit.value
        // not awaited: what does not finish may not stop either
        fiber.interruptUnsafe()
        return yield* new StillRunning({ withinMs })
      }
      const step = Duration.fromInputUnsafe(options.step ?? Duration.seconds(1))
      const started = clock.currentTimeMillisUnsafe()
      const activity = options.activity ?? (() => 0)
      while (true) {
        // let work that is not waiting on a timer settle (bounded)
        for (let round = 0; round < 32; round++) {
          const before = activity()
          for (let i = 0; i < 4; i++) yield* Effect.yieldNow
          if (fiber.pollUnsafe() !== undefined || activity() === before) break
        }
        const exit = fiber.pollUnsafe()
        if (exit !== undefined) return yield* exit
        if (clock.currentTimeMillisUnsafe() - started >= withinMs) {
          fiber.interruptUnsafe()
          return yield* new StillRunning({ withinMs })
        }
        yield* clock.adjust(step)
      }
    })
    return yield* Effect.onInterrupt(run, () => Effect.sync(() => fiber.interruptUnsafe()))
  })

// ---- running a scenario -------------------------------------------------------------------------------

const millis = (input: Duration.Input | undefined, fallback: Duration.Input) =>
  Duration.toMillis(Duration.fromInputUnsafe(input ?? fallback))

const describeValue = (u: unknown): string => {
  if (u instanceof Error) return `${u.name}: ${u.message}`
  if (typeof u === "object" && u !== null && typeof (u as { _tag?: unknown })._tag === "string") {
    const message = (u as { message?: unknown }).message
    return typeof message === "string" && message.length > 0 ? `${(u as { _tag: string })._tag}: ${message}` : (u as { _tag: string })._tag
  }
  try {
    return String(u)
  } catch {
    return "unprintable"
  }
}

const tagOf = (u: unknown): string | undefined =>
  typeof u === "object" && u !== null && typeof (u as { _tag?: unknown })._tag === "string"
    ? (u as { _tag: string })._tag
    : undefined

const modeOfError = (u: unknown): string | undefined =>
  typeof u === "object" && u !== null && typeof (u as { mode?: unknown }).mode === "string"
    ? (u as { mode: string }).mode
    : undefined

/** Counts fibers started and ended under it (Effect's runtime-metrics hook, which every forked fiber inherits). */
const fiberTracker = () => {
  const counts = { started: 0, ended: 0 }
  const service: Metric.FiberRuntimeMetricsService = {
    recordFiberStart: () => {
      counts.started++
    },
    recordFiberEnd: () => {
      counts.ended++
    }
  }
  return { service, alive: () => counts.started - counts.ended }
}

interface Connection<C> {
  readonly link: FaultyTransport.Link
  readonly client: C
  readonly scope: Scope.Closeable
}

/**
 * The wire invariants of one link, in both directions: no request answered more often than it was received;
 * no request received and left unanswered (unless its sender cancelled it, or the connection closed first)
 * past `answerWithinMs`; while the link is open, at least as many -32700/-32600 errors sent back as frames
 * the receiver could not decode. `waiting` lists when each still-unanswered request arrived.
 */
const checkWire = (
  trace: ReadonlyArray<FaultyTransport.TraceEntry>,
  closedAt: number | undefined,
  endAt: number,
  answerWithinMs: number
) => {
  let duplicateAnswers = 0
  let unanswered = 0
  const waiting: Array<number> = []
  const details: Array<Violation> = []
  for (const way of ["toServer", "toClient"] as const) {
    const back = way === "toServer" ? "toClient" : "toServer"
    const received = new Map<JsonRpc.RequestId, { count: number; firstAt: number; method: string }>()
    const answered = new Map<JsonRpc.RequestId, number>()
    /** When the sender cancelled each request. */
    const cancelled = new Map<JsonRpc.RequestId, number>()
    /** Frames the receiver could not decode while the link was open, and the decode errors it sent back. */
    let undecodable = 0
    let decodeErrors = 0
    const openUntil = closedAt ?? endAt
    for (const entry of trace) {
      if (entry._tag === "Undecodable" && entry.way === way && entry.error !== "TruncatedFrame" && entry.at < openUntil) {
        undecodable++
        continue
      }
      if (entry._tag === "Sent" && entry.way === back) {
        for (const m of FaultyTransport.messagesOf(entry)) {
          if ("error" in m && (m.error.code === ErrorCode.ParseError || m.error.code === ErrorCode.InvalidRequest)) decodeErrors++
        }
      }
      if (entry._tag === "Received" && entry.way === way) {
        for (const m of FaultyTransport.messagesOf(entry)) {
          if ("method" in m && "id" in m) {
            const known = received.get(m.id)
            if (known === undefined) received.set(m.id, { count: 1, firstAt: entry.at, method: m.method })
            else known.count++
          }
        }
      } else if (entry._tag === "Sent" && entry.way === back) {
        for (const m of FaultyTransport.messagesOf(entry)) {
          if (!("method" in m) && m.id !== null) answered.set(m.id, (answered.get(m.id) ?? 0) + 1)
        }
      } else if (entry._tag === "Sent" && entry.way === way) {
        for (const m of FaultyTransport.messagesOf(entry)) {
          if ("method" in m && !("id" in m) && m.method === "notifications/cancelled") {
            const params = m.params as { readonly requestId?: unknown } | undefined
            const id = params?.requestId
            if ((typeof id === "string" || typeof id === "number") && !cancelled.has(id)) cancelled.set(id, entry.at)
          }
        }
      }
    }
    const receiver = way === "toServer" ? "server" : "client"
    if (decodeErrors < undecodable) {
      details.push({
        invariant: "MalformedUnanswered",
        mode: modeOfInvariant.MalformedUnanswered,
        detail: `the ${receiver} could not decode ${undecodable} frame(s) but sent back only ${decodeErrors} parse or invalid-request error(s)`
      })
    }
    for (const [id, n] of answered) {
      // answers to frames that never decoded as this request (a corrupted frame's -32600) are not counted
      const got = received.get(id)?.count ?? 0
      if (got > 0 && n > got) {
        duplicateAnswers += n - got
        details.push({
          invariant: "DuplicateAnswer",
          mode: modeOfInvariant.DuplicateAnswer,
          detail: `the ${receiver} answered request ${JSON.stringify(id)} ${n} times but received it ${got} time(s)`
        })
      }
    }
    for (const [id, r] of received) {
      const deadline = r.firstAt + answerWithinMs
      const cancelledAt = cancelled.get(id)
      // a sender that gave up in time excuses the silence; one that gave up only at the bound (a lost call
      // interrupted by the runner) does not
      if ((answered.get(id) ?? 0) > 0 || (cancelledAt !== undefined && cancelledAt < deadline)) continue
      waiting.push(r.firstAt)
      if (deadline > endAt) continue
      if (closedAt !== undefined && closedAt < deadline) continue
      unanswered++
      details.push({
        invariant: "Unanswered",
        mode: modeOfInvariant.Unanswered,
        detail: `the ${receiver} received ${r.method} (id ${JSON.stringify(id)}) at ${r.firstAt} ms and never answered it`
      })
    }
  }
  return { duplicateAnswers, unanswered, waiting, details }
}

/** The `_meta` key under which `McpClient` sends a call's idempotency key. */
const IDEMPOTENCY_KEY = "io.effect-mcp/idempotencyKey"

/**
 * Answers (client-bound responses) of requests that carry an idempotency key, lost by the network on one link:
 * a `Faulted` entry that lost a frame the server sent, whose messages answer such a request.
 */
const keyedAnswersLost = (trace: ReadonlyArray<FaultyTransport.TraceEntry>): number => {
  const keyed = new Set<JsonRpc.RequestId>()
  const answers = new Map<number, ReadonlyArray<JsonRpc.RequestId>>()
  const lostFrames: Array<number> = []
  for (const entry of trace) {
    if (entry._tag === "Sent" && entry.way === "toServer") {
      for (const m of FaultyTransport.messagesOf(entry)) {
        if (!("method" in m) || !("id" in m)) continue
        const meta = (m.params as { readonly _meta?: Record<string, unknown> } | undefined)?._meta
        if (typeof meta?.[IDEMPOTENCY_KEY] === "string") keyed.add(m.id)
      }
    } else if (entry._tag === "Sent" && entry.way === "toClient") {
      const ids = FaultyTransport.messagesOf(entry).flatMap((m) => (!("method" in m) && m.id !== null ? [m.id] : []))
      if (ids.length > 0) answers.set(entry.frame, ids)
    } else if (entry._tag === "Faulted" && entry.way === "toClient" && entry.detail.startsWith("frame lost")) {
      lostFrames.push(entry.frame)
    }
  }
  let lost = 0
  for (const frame of lostFrames) for (const id of answers.get(frame) ?? []) if (keyed.has(id)) lost++
  return lost
}

/**
 * A scenario of `McpClient` calls: `client` may be left out (it is then `mcpClient()`).
 *
 * @since 0.1.0
 * @category models
 */
export type McpOptions<R> = Omit<Options<McpClient.McpClient, R>, "client"> & { readonly client?: Client<McpClient.McpClient> }

/**
 * Runs a scenario and returns its report (it never fails: broken invariants are in `violations`; use
 * `assert` to fail a test with them). It moves the TestClock itself: call it from `it.effect` and do not
 * adjust the clock concurrently. Without a `client`, the client is an `McpClient` (`mcpClient()`).
 *
 * @since 0.1.0
 * @category running
 */
export const run: {
  <R>(options: McpOptions<R>): Effect.Effect<Report, never, R | JsonRpcCodec.JsonRpcCodec>
  <C, R>(options: Options<C, R>): Effect.Effect<Report, never, R | JsonRpcCodec.JsonRpcCodec>
} = <C, R>(options: Options<C, R> | McpOptions<R>) =>
  runWith((options.client === undefined ? { ...options, client: mcpClient() } : options) as Options<C, R>)

const runWith = <C, R>(
  options: Options<C, R>
): Effect.Effect<Report, never, R | JsonRpcCodec.JsonRpcCodec> =>
  Effect.gen(function*() {
    const answerWithinMs = millis(options.answerWithin, Duration.minutes(2))
    const connectWithinMs = millis(options.connectWithin, Duration.minutes(1))
    const drainWithinMs = millis(options.drainWithin, Duration.seconds(30))
    const schedule = options.schedule ?? FaultSchedule.none
    const policy = options.reconnect?.policy ?? {}
    const capMs = Backoff.boundMs(1_000, policy)
    const latestCall = Math.max(0, ...options.workload.map((c) => (c.at === undefined ? 0 : millis(c.at, 0))))
    const withinMs = FaultSchedule.horizonMs(schedule) + latestCall + 2 * answerWithinMs + 2 * drainWithinMs +
      connectWithinMs + (options.reconnect === undefined ? 0 : 40 * (capMs + connectWithinMs)) + 60_000

    const clock = yield* Clock.clockWith(Effect.succeed)
    const tracker = fiberTracker()
    let activity = 0
    let netActivity = () => 0
    const sessions = { open: 0, started: 0 }
    const outcomes: Array<Outcome> = []
    const connectErrors: Array<string> = []
    const recoveries: Array<{
      disconnectedAt: number
      networkBackAt: number
      recoveredAt: number | undefined
      attempts: Array<Attempt>
    }> = []
    let gaveUp: string | undefined
    /** The reconnect loop: is an attempt under way, and when did the last one end. */
    const attempts = { trying: false, lastEndedAt: 0 }

    // one seed for the network's faults and for every other random choice in the run (retry jitter, backoff)
    const seed = options.seed ?? (yield* Random.nextIntBetween(0, 0x7fffffff))
    const scenario = Effect.gen(function*() {
      // closed explicitly below; also when the run is interrupted (a hung scenario)
      const networkScope = yield* Scope.fork(yield* Effect.scope)
      const net = yield* FaultyTransport.network(schedule, {
        ...options.network,
        seed
      }).pipe(Scope.provide(networkScope))
      netActivity = net.activityUnsafe
      const now = () => Math.round((clock.currentTimeMillisUnsafe() - net.startedAt) * 1_000) / 1_000

      const serveOn = (link: FaultyTransport.Link) =>
        Effect.sync(() => {
          sessions.open++
          sessions.started++
        }).pipe(
          Effect.andThen(options.server.serve(link.server)),
          Effect.ensuring(Effect.sync(() => {
            sessions.open--
          })),
          Effect.forkIn(networkScope)
        )

      const connectOnce: Effect.Effect<Connection<C>, string, R> = Effect.gen(function*() {
        const link = yield* Effect.mapError(net.connect, (e) => e.message)
        yield* serveOn(link)
        const scope = yield* Scope.fork(networkScope)
        const connected = yield* options.client.connect(link.client).pipe(
          Scope.provide(scope),
          Effect.mapError(describeValue),
          Effect.timeoutOption(Duration.millis(connectWithinMs)),
          Effect.exit
        )
        if (Exit.isSuccess(connected) && Option.isSome(connected.value)) {
          return { link, client: connected.value.value, scope }
        }
        yield* Scope.close(scope, Exit.void)
        yield* link.disconnect("abrupt", "the client could not connect")
        return yield* Effect.fail(
          Exit.isSuccess(connected)
            ? `no connection within ${connectWithinMs} ms`
            : Option.getOrElse(Cause.findErrorOption(connected.cause), () => Cause.pretty(connected.cause))
        )
      })

      // the connection of the moment; calls wait for one
      let ready = yield* Deferred.make<Connection<C>, string>()
      let current: Connection<C> | undefined
      let manager: Fiber.Fiber<void> | undefined

      if (options.reconnect === undefined) {
        const first = yield* Effect.exit(connectOnce)
        if (Exit.isSuccess(first)) {
          current = first.value
          yield* Deferred.succeed(ready, first.value)
        } else {
          const reason = Option.getOrElse(Cause.findErrorOption(first.cause), () => "interrupted")
          connectErrors.push(reason)
          yield* Deferred.fail(ready, reason)
        }
      } else {
        const reconnect = options.reconnect
        const maxAttempts = reconnect.maxAttempts ?? 32
        const firstTry = yield* Deferred.make<void>()
        manager = yield* Effect.forkIn(
          Effect.gen(function*() {
            const backoff = Backoff.make(policy)
            let recovery: (typeof recoveries)[number] | undefined
            let failures = 0
            let delayMs = 0
            let boundMs = 0
            while (true) {
              const at = now()
              attempts.trying = true
              const exit = yield* Effect.exit(connectOnce)
              attempts.trying = false
              attempts.lastEndedAt = now()
              yield* Deferred.succeed(firstTry, undefined)
              if (Exit.isSuccess(exit)) {
                failures = 0
                recovery?.attempts.push({ at, ok: true, delayMs, boundMs, detail: "connected" })
                if (recovery !== undefined) recovery.recoveredAt = now()
                recovery = undefined
                current = exit.value
                yield* Deferred.succeed(ready, exit.value)
                yield* backoff.connected
                yield* exit.value.link.closed
                ready = yield* Deferred.make<Connection<C>, string>()
                current = undefined
                yield* Scope.close(exit.value.scope, Exit.void)
                yield* backoff.disconnected
                const lostAt = now()
                recovery = { disconnectedAt: lostAt, networkBackAt: lostAt, recoveredAt: undefined, attempts: [] }
                recoveries.push(recovery)
              } else {
                const reason = Option.getOrElse(Cause.findErrorOption(exit.cause), () => "interrupted")
                if (connectErrors.length < 1_000) connectErrors.push(reason)
                if (recovery === undefined) {
                  recovery = { disconnectedAt: at, networkBackAt: at, recoveredAt: undefined, attempts: [] }
                  recoveries.push(recovery)
                }
                recovery.attempts.push({ at, ok: false, delayMs, boundMs, detail: reason })
                if (++failures >= maxAttempts) {
                  gaveUp = `gave up after ${failures} attempts: ${reason}`
                  yield* Deferred.fail(ready, gaveUp)
                  return
                }
              }
              const refused = yield* net.refusedUntil
              if (refused !== undefined) recovery!.networkBackAt = Math.max(recovery!.networkBackAt, refused)
              const attempt = yield* backoff.attempts
              const chosen = reconnect.delay === undefined ? undefined : yield* reconnect.delay(attempt)
              const planned = yield* backoff.next
              const delay = chosen ?? planned
              boundMs = Backoff.boundMs(attempt, policy)
              const before = now()
              yield* Effect.sleep(delay)
              delayMs = now() - before
            }
          }),
          networkScope
        )
        yield* Deferred.await(firstTry)
      }

      const started = now()
      const waitConnection = (label: string) =>
        Effect.gen(function*() {
          const got = yield* Deferred.await(ready).pipe(
            Effect.timeoutOption(Duration.millis(answerWithinMs)),
            Effect.result
          )
          if (got._tag === "Failure") return { _tag: "NotSent", label, reason: got.failure } as const
          if (Option.isNone(got.success)) {
            return { _tag: "NotSent", label, reason: `no connection within ${answerWithinMs} ms` } as const
          }
          return got.success.value
        })

      yield* Effect.forEach(options.workload, (call, i) =>
        Effect.gen(function*() {
          const label = call.label ?? `call ${i}`
          if (call.at !== undefined) {
            const wait = started + millis(call.at, 0) - now()
            if (wait > 0) yield* Effect.sleep(Duration.millis(wait))
          }
          const connection = yield* waitConnection(label)
          if ("_tag" in connection) {
            outcomes.push(connection)
            return
          }
          const startedAt = now()
          const exit = yield* call.run(connection.client).pipe(
            Effect.exit,
            Effect.timeoutOption(Duration.millis(answerWithinMs))
          )
          activity++
          const endedAt = now()
          if (Option.isNone(exit)) {
            outcomes.push({ _tag: "Lost", label, startedAt })
          } else if (Exit.isSuccess(exit.value)) {
            const wrong = call.expect?.(exit.value.value)
            if (wrong === undefined) outcomes.push({ _tag: "Answered", label, startedAt, endedAt })
            else outcomes.push({ _tag: "WrongAnswer", label, detail: wrong, startedAt, endedAt })
          } else {
            const error = Cause.findErrorOption(exit.value.cause)
            const tag = Option.isSome(error) ? tagOf(error.value) : undefined
            if (Option.isSome(error) && tag !== undefined) {
              outcomes.push({ _tag: "TypedError", label, error: tag, mode: modeOfError(error.value), startedAt, endedAt })
            } else {
              outcomes.push({
                _tag: "Defect",
                label,
                detail: Option.isSome(error) ? `untyped failure: ${describeValue(error.value)}` : Cause.pretty(exit.value.cause),
                startedAt,
                endedAt
              })
            }
          }
        }), { concurrency: "unbounded", discard: true })

      // let requests still being handled reach their bound, so that the wire check can judge them
      const pendingDeadline = Effect.gen(function*() {
        const trace = yield* net.trace
        const links = yield* net.links
        let latest = 0
        for (const link of links) {
          const state = yield* link.state
          if (state._tag === "Closed") continue
          const check = checkWire(trace.filter((e) => "link" in e && e.link === link.index), undefined, 0, answerWithinMs)
          for (const at of check.waiting) latest = Math.max(latest, at + answerWithinMs)
        }
        return latest
      })
      while (true) {
        const deadline = yield* pendingDeadline
        if (deadline <= now()) break
        yield* Effect.sleep(Duration.millis(Math.max(1, Math.min(1_000, Math.ceil(deadline - now())))))
      }

      // teardown: stop reconnecting, close the client (a clean close of its connection), let servers drain
      if (manager !== undefined) yield* Fiber.interrupt(manager)
      if (current !== undefined) yield* Scope.close(current.scope, Exit.void)
      yield* net.disconnectAll("clean", "the scenario finished")
      const endAt = now()
      // the network delivers what is still in flight (bounded: a link that cannot is reset), then every
      // server has seen the end of its input and must return within the bound
      const links = yield* net.links
      const deliveredBy = now() + drainWithinMs
      while (now() < deliveredBy && !(yield* Effect.forEach(links, (l) => l.drained)).every(Boolean)) {
        yield* Effect.sleep(Duration.millis(100))
      }
      for (const link of links) {
        if (!(yield* link.drained)) yield* link.disconnect("abrupt", "the network could not deliver what was in flight in time")
      }
      const drainUntil = now() + drainWithinMs
      while (sessions.open > 0 && now() < drainUntil) yield* Effect.sleep(Duration.millis(100))
      // serve calls still running now outlived their connection (closing the network will interrupt them)
      const sessionsLeft = sessions.open

      const trace = yield* net.trace
      const traceDropped = yield* net.traceDropped
      const wire = { duplicateAnswers: 0, unanswered: 0, keyedAnswersLost: 0, details: [] as Array<Violation> }
      for (const link of links) {
        wire.keyedAnswersLost += keyedAnswersLost(trace.filter((e) => "link" in e && e.link === link.index))
        const state = yield* link.state
        const closedAt = state._tag === "Closed" ? state.at : undefined
        const check = checkWire(
          trace.filter((e) => "link" in e && e.link === link.index),
          closedAt !== undefined && closedAt < endAt ? closedAt : undefined,
          endAt,
          answerWithinMs
        )
        wire.duplicateAnswers += check.duplicateAnswers
        wire.unanswered += check.unanswered
        wire.details.push(...check.details)
      }
      yield* Scope.close(networkScope, Exit.void)
      return { net, trace, traceDropped, links: links.length, wire, endAt, sessionsLeft }
    }).pipe(Effect.scoped, Effect.provideService(Metric.FiberRuntimeMetrics, tracker.service), Random.withSeed(`scenario:${seed}`))

    const startedAt = clock.currentTimeMillisUnsafe()
    const result = yield* drive(
      Effect.gen(function*() {
        const done = yield* scenario
        // every fiber the scenario started must end (bounded)
        const until = clock.currentTimeMillisUnsafe() + drainWithinMs
        while (tracker.alive() > 0 && clock.currentTimeMillisUnsafe() < until) yield* Effect.sleep(Duration.millis(100))
        return done
      }),
      { within: Duration.millis(withinMs), activity: () => activity + netActivity() + sessions.started }
    ).pipe(Effect.result)

    const violations: Array<Violation> = []
    const violate = (invariant: Invariant, detail: string) =>
      violations.push({ invariant, mode: modeOfInvariant[invariant], detail })

    const counts = { answered: 0, typedErrors: 0, lost: 0, defects: 0, wrongAnswers: 0, notSent: 0 }
    const errors: Record<string, number> = {}
    for (const o of outcomes) {
      switch (o._tag) {
        case "Answered":
          counts.answered++
          break
        case "TypedError":
          counts.typedErrors++
          errors[o.error] = (errors[o.error] ?? 0) + 1
          break
        case "Lost":
          counts.lost++
          violate("Lost", `${o.label} (started at ${o.startedAt} ms) had no answer and no typed error within ${answerWithinMs} ms`)
          break
        case "Defect":
          counts.defects++
          violate("Defect", `${o.label}: ${o.detail}`)
          break
        case "WrongAnswer":
          counts.wrongAnswers++
          violate("WrongAnswer", `${o.label} (started at ${o.startedAt} ms) got an answer that is not its own: ${o.detail}`)
          break
        case "NotSent":
          counts.notSent++
          break
      }
    }

    const ledger = options.ledger
    const sideEffects = ledger === undefined ? 0 : yield* ledger.total
    const duplicatedSideEffects = ledger === undefined ? 0 : yield* ledger.duplicates
    if (ledger !== undefined && duplicatedSideEffects > 0) {
      const repeated = [...(yield* ledger.counts)].filter(([, n]) => n > 1).slice(0, 10)
      violate(
        "DuplicateSideEffect",
        `${duplicatedSideEffects} side effect(s) ran again: ${repeated.map(([k, n]) => `${k} ×${n}`).join(", ")}`
      )
    }

    const probes: Record<string, number> = {}
    for (const [name, probe] of Object.entries(options.probes ?? {})) {
      probes[name] = yield* probe
      if (probes[name] !== 0) violate("LeakedProbe", `probe ${name} reads ${probes[name]} after teardown`)
    }
    // a hung scenario never got to its teardown: only Hung is reported
    const leakedFibers = tracker.alive()
    if (result._tag === "Success" && leakedFibers > 0) {
      violate("LeakedFibers", `${leakedFibers} fiber(s) started by the scenario still alive after teardown`)
    }
    const sessionsLeft = result._tag === "Success" ? result.success.sessionsLeft : sessions.open
    if (result._tag === "Success" && sessionsLeft > 0) {
      violate("LeakedSessions", `${sessionsLeft} serve call(s) still running ${drainWithinMs} ms after their connection closed`)
    }

    let faults: Record<string, number> = {}
    let links = 0
    const endAt = result._tag === "Success" ? result.success.endAt : clock.currentTimeMillisUnsafe() - startedAt
    if (result._tag === "Success") {
      const done = result.success
      links = done.links
      for (const e of done.trace) {
        if (e._tag === "Faulted") faults[`${e.mode} ${e.fault}`] = (faults[`${e.mode} ${e.fault}`] ?? 0) + 1
      }
      faults = Object.fromEntries(Object.entries(faults).sort(([a], [b]) => a.localeCompare(b)))
      for (const v of done.wire.details) violations.push(v)
      if (done.traceDropped > 0) violate("TraceIncomplete", `${done.traceDropped} trace entries were dropped; wire checks are incomplete`)
    } else {
      violate("Hung", `the scenario did not finish within ${withinMs} ms of clock time`)
    }

    if (options.reconnect !== undefined) {
      for (const r of recoveries) {
        for (const a of r.attempts) {
          if (a.delayMs > a.boundMs) {
            violate("SlowRecovery", `a reconnection waited ${a.delayMs} ms, past its backoff bound of ${a.boundMs} ms`)
          }
        }
        if (r.recoveredAt === undefined) {
          // the client must keep trying (a network that stays bad may keep it from succeeding): it gave up, or
          // it stopped trying although the network was back
          const idleSince = Math.max(attempts.lastEndedAt, r.disconnectedAt, r.networkBackAt)
          const stalled = !attempts.trying && endAt - idleSince > capMs + connectWithinMs
          if (gaveUp !== undefined || stalled) {
            violate(
              "NotRecovered",
              `not reconnected after the loss at ${r.disconnectedAt} ms: ${gaveUp ?? `no attempt since ${idleSince} ms`}`
            )
          }
        }
      }
    }

    const allowed = new Set(options.allow ?? [])
    return {
      seed,
      schedule,
      sent: outcomes.length - counts.notSent,
      answered: counts.answered,
      typedErrors: counts.typedErrors,
      lost: counts.lost,
      defects: counts.defects,
      wrongAnswers: counts.wrongAnswers,
      notSent: counts.notSent,
      errors,
      sideEffects,
      duplicatedSideEffects,
      duplicateAnswers: result._tag === "Success" ? result.success.wire.duplicateAnswers : 0,
      unanswered: result._tag === "Success" ? result.success.wire.unanswered : 0,
      keyedAnswersLost: result._tag === "Success" ? result.success.wire.keyedAnswersLost : 0,
      faults,
      connections: links,
      connectErrors,
      recoveries: recoveries.map((r) => ({ ...r, attempts: [...r.attempts] })),
      leaks: { fibers: leakedFibers, sessions: sessionsLeft, probes },
      outcomes,
      violations: violations.filter((v) => !allowed.has(v.invariant)),
      elapsedMs: clock.currentTimeMillisUnsafe() - startedAt
    } satisfies Report
  })

// ---- judging --------------------------------------------------------------------------------------------

/**
 * Do all invariants hold?
 *
 * @since 0.1.0
 * @category judging
 */
export const holds = (report: Report): boolean => report.violations.length === 0

/**
 * A report in a few lines: counts, faults, violations, and how to replay it.
 *
 * @since 0.1.0
 * @category judging
 */
export const format = (report: Report): string =>
  [
    `seed ${JSON.stringify(report.seed)}; schedule ${FaultSchedule.describe(report.schedule)}`,
    `sent ${report.sent}, answered ${report.answered}, typed errors ${report.typedErrors}` +
    (Object.keys(report.errors).length === 0 ? "" : ` (${Object.entries(report.errors).map(([t, n]) => `${t} ×${n}`).join(", ")})`) +
    `, wrong answers ${report.wrongAnswers}, lost ${report.lost}, defects ${report.defects}, not sent ${report.notSent}`,
    `side effects ${report.sideEffects} (${report.duplicatedSideEffects} duplicated); wire: ${report.duplicateAnswers} duplicate answers, ${report.unanswered} unanswered, ${report.keyedAnswersLost} keyed answers lost`,
    `faults: ${Object.entries(report.faults).map(([f, n]) => `${f} ×${n}`).join(", ") || "none acted"}`,
    `leaks: ${report.leaks.fibers} fibers, ${report.leaks.sessions} sessions` +
    (Object.keys(report.leaks.probes).length === 0
      ? ""
      : `, ${Object.entries(report.leaks.probes).map(([p, n]) => `${p}=${n}`).join(", ")}`),
    ...(report.violations.length === 0
      ? ["all invariants hold"]
      : report.violations.map((v) => `VIOLATED ${v.invariant} (${v.mode}): ${v.detail}`)),
    `replay: Scenario.run({ ...options, seed: ${JSON.stringify(report.seed)}, schedule: ${JSON.stringify(report.schedule)} })`
  ].join("\n")

/**
 * A scenario broke invariants. The message is the report (`format`), with the seed and schedule to replay.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvariantViolated extends Schema.TaggedError<InvariantViolated>()("InvariantViolated", {
  violations: Schema.Array(Schema.Struct({ invariant: Schema.String, mode: Schema.String, detail: Schema.String })),
  report: Schema.String
}) {
  override get message(): string {
    return `Scenario invariants violated:\n${this.report}`
  }
}

/**
 * Fails with `InvariantViolated` unless every invariant holds.
 *
 * @since 0.1.0
 * @category judging
 */
export const assert = (report: Report): Effect.Effect<void, InvariantViolated> =>
  holds(report)
    ? Effect.void
    : Effect.fail(new InvariantViolated({ violations: report.violations, report: format(report) }))

/**
 * Runs a scenario and fails with `InvariantViolated` if any invariant broke; returns the report otherwise.
 *
 * @since 0.1.0
 * @category running
 */
export const check: {
  <R>(options: McpOptions<R>): Effect.Effect<Report, InvariantViolated, R | JsonRpcCodec.JsonRpcCodec>
  <C, R>(options: Options<C, R>): Effect.Effect<Report, InvariantViolated, R | JsonRpcCodec.JsonRpcCodec>
} = <C, R>(options: Options<C, R> | McpOptions<R>) => Effect.tap(run(options as Options<C, R>), assert)
