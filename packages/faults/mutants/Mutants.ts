/**
 * The FMEA mutation table: for each mode the catalogue (`../src/FailureMode.ts`) calls mitigated (and the
 * partial ones where a part is built), one or more mutants that remove or disable that mitigation, and the
 * mode's proving tests that must then fail. `scripts/fmea-mutants.mjs` applies each mutant in a temporary
 * copy of the repository and runs its tests (`pnpm fmea:mutants`); `docs/fmea-mutants.md` is its report.
 *
 * Data only. `find` must occur exactly once in `file` (a test checks it on every run, so the table stays
 * true as the code changes); `replace` is what the mitigation becomes without its guard.
 *
 * @since 0.1.0
 */
import type { ModeId, TestRef } from "../src/FailureMode.ts"

/** One mutant: a single exact text replacement in one source file. */
export interface Mutant {
  /** The mode's id and a letter, e.g. `FM-01a`. */
  readonly id: string
  readonly mode: ModeId
  /** What is removed or disabled, in a few words. */
  readonly description: string
  /** The file to mutate, relative to the repository root. */
  readonly file: string
  /** Exact text that occurs exactly once in `file`. */
  readonly find: string
  /** Its replacement. */
  readonly replace: string
  /** The tests that must fail: the mode's catalogue tests (or other tests of the same files). */
  readonly tests: ReadonlyArray<TestRef>
  /** Why the tests let it survive (a finding), once a run has shown it. */
  readonly note?: string
}

const t = (file: string, name: string): TestRef => ({ file, name })

// ---- the proving tests, by file ---------------------------------------------------------------------------

const FRAME = "packages/jsonrpc/test/FrameDecoder.test.ts"
const CODEC = "packages/jsonrpc/test/JsonRpcCodec.test.ts"
const PROTO = "packages/core/test/Protocol.test.ts"
const ISO = "packages/core/test/Isolation.test.ts"
const ADM = "packages/core/test/Admission.test.ts"
const BACKOFF = "packages/core/test/Backoff.test.ts"
const SUP = "packages/faults/test/Supervisor.test.ts"
const BULK = "packages/faults/test/Bulkhead.test.ts"
const CB = "packages/faults/test/CircuitBreaker.test.ts"
const RL = "packages/faults/test/RateLimit.test.ts"
const AT = "packages/faults/test/AdaptiveTimeout.test.ts"
const BLAST = "packages/runtime/test/BlastRadius.test.ts"
const RM = "packages/runtime/test/ResourceMonitor.test.ts"
const TM = "packages/runtime/test/TaskManager.test.ts"
const REG = "packages/runtime/test/Registry.test.ts"
const DEDUP = "packages/runtime/test/DedupCache.test.ts"
const DRAIN = "packages/runtime/test/Drain.test.ts"
const HEALTH = "packages/runtime/test/Health.test.ts"
const SM = "packages/runtime/test/SessionManager.test.ts"
const OVER = "packages/server/test/Overload.test.ts"
const IDEM = "packages/server/test/Idempotency.test.ts"
const SCB = "packages/server/test/CircuitBreaker.test.ts"
const CONF = "packages/server/test/ServerConfig.test.ts"
const CLIENT = "packages/client/test/McpClient.test.ts"
const RECON = "packages/transports/test/ReconnectingTransport.test.ts"
const STDIO = "packages/transports/test/Stdio.test.ts"
const TCP = "packages/transports/test/Tcp.test.ts"
const WS = "packages/transports/test/WebSocket.test.ts"
const HTTP = "packages/transports/test/StreamableHttp.test.ts"
const KIT = "test/fault-modes.test.ts"

const oversize = t(FRAME, "FM-01 oversize frame is rejected before parsing")
const gib = t(FRAME, "FM-01 a 1 GiB line with no newline leaves RSS bounded")
const closing = t(PROTO, "closing the connection fails every pending request at once with ConnectionClosed")
const malformedAnswered = t(PROTO, "malformed frames get -32700 with id null and the connection continues")
const dupId = t(PROTO, "FM-10 a duplicate in-flight request id is refused with id null (the original's answer stays its own)")
const unknownId = t(PROTO, "FM-51 a response with an unknown id is recorded and dropped")
const resets = t(PROTO, "FM-21 timeout resets on progress")
const failing = t(ISO, "FM-16 a failing handler does not affect other requests")
const crashingProp = t(ISO, "FM-49 a crashing handler leaves the connection serving (property)")
const shed = t(RM, "admit sheds load: new sessions from high, everything at critical, with the mode of the resource that is short; CPU alone sheds nothing")
const flapping = t(BLAST, "tier 5 flapping never spends the root's intensity: tiers 1–4 are never touched")
const cbModel = t(CB, "FM-42 breaker transitions follow the model: failure and slow-call rates over the window, consecutive failures, half-open after openDuration, probes, reset, forced open (property, TestClock)")
const serverCb = t(SCB, "FM-42 repeated server-side failures open the tool's circuit; it closes after a good probe; tool errors do not count")
const serverBreaker = t(SCB, "FM-14 server.breaker(tool): forceOpen refuses the tool on every connection until reset; reset closes a circuit stuck open at once; its state is a metric")
const overload04 = t(OVER, "FM-04 a tool's own bulkhead refuses that tool only; the others keep the server's capacity")
const overload45 = t(OVER, "FM-45 the server bulkhead is shared by all connections: calls wait at most queueTimeout, past the queue they get -32010 with retryAfterMs; pings and lists are never queued")
const overload46 = t(OVER, "FM-46 a rate limit per client holds across the client's connections (per: client), with retryAfterMs; other clients are not affected")
const overload17 = t(OVER, "FM-17 when the rate limiter's store fails, the server fails open or closed as configured")
const overload21 = t(OVER, "FM-21 with adaptiveTimeout a tool's bound follows its latency: a hung call is answered with -32001 after p99 × factor, long before toolTimeout")
const atProp = t(AT, "FM-21 every call is bounded by percentile × factor of the recent window within [min, max] (max while warming up); a call past it is interrupted and recorded at the bound (property, TestClock)")
const idemRetry = t(IDEM, "FM-10 a retried call with the same idempotency key runs once, on any connection")
const idemCancel = t(IDEM, "FM-10 a keyed call cancelled after its side effect is joined by the retry, not run again")
const replay1699 = t(HTTP, "a stream the server ends on purpose is resumed with Last-Event-ID and nothing is lost (SEP-1699)")
const stdioBackpressure = t(STDIO, "stdio client: backpressure on a slow reader loses nothing")
const tcpStall = t(TCP, "FM-15 a send that waits stallTimeout for a peer that reads nothing disconnects it (TestClock)")
const kit = (name: string) => t(KIT, `${name}: every call answered or a typed error, no duplicate side effect, nothing left behind`)

// tests of the modes mitigated later (FM-09 listeners, FM-10 journal, FM-18, FM-19 export, FM-28, FM-34, FM-36/41 under HTTP, FM-39, FM-43)
const LEAK = "packages/runtime/test/ConnectionLeak.test.ts"
const AUTH = "packages/client/test/AuthFaults.test.ts"
const DNS = "packages/transports/test/Dns.test.ts"
const JOURNAL = "packages/server/test/IdempotencyStore.test.ts"
const OTLP = "packages/runtime/test/Telemetry.test.ts"
const HTTPSTATE = "packages/runtime/test/HttpState.test.ts"
const RESTART = "test/session-restart.test.ts"
const RESTORE = "packages/transports/test/StreamableHttpRestore.test.ts"
const SNAP = "packages/runtime/test/SessionSnapshot.test.ts"
const TIMERS = "packages/runtime/test/Timers.test.ts"
const RAW = "test/no-raw-timers.test.ts"
const leakTcp = t(LEAK, "FM-09 tcp: a crash of the listener closes every accepted connection (no socket left open), fails in-flight requests with ConnectionClosed, and the listener listens again on its port")
const leakTcpTier = t(LEAK, "FM-09 tcp: a crash of the whole transport tier closes every accepted connection (no socket left open), fails in-flight requests with ConnectionClosed, and the listener listens again on its port")
const leakWs = t(LEAK, "FM-09 websocket: a crash of the listener closes every accepted connection (no socket left open), fails in-flight requests with ConnectionClosed, and the listener listens again on its port")
const leakWsTier = t(LEAK, "FM-09 websocket: a crash of the whole transport tier closes every accepted connection (no socket left open), fails in-flight requests with ConnectionClosed, and the listener listens again on its port")
const leakStdio = t(LEAK, "FM-09 stdio: a server whose parent is killed with SIGKILL exits by itself on stdin EOF within seconds")
const authHang = t(AUTH, "a token endpoint that hangs fails with AuthServerTimeout exactly at the configured timeout")
const authBreaker = t(AUTH, "repeated timeouts open the breaker: calls fail fast with AuthServerUnavailable and retryAfterMs; a probe after the open time closes it")
const authHeld = t(AUTH, "while the server hangs a held token keeps being used; once it has expired the refresh reports AuthServerTimeout")
const authTtl = t(AUTH, "discovery documents are reused for the TTL (5 minutes) and fetched again after it; a 401 for a held token re-reads the resource metadata")
const dnsInvalid = t(DNS, "a name under .invalid: the TCP and WebSocket clients fail with HostUnresolved naming the host")
const dnsRetryable = t(DNS, "EAI_AGAIN from the resolver is a retryable HostUnresolved; ENOTFOUND is not retryable")
const dnsGiveUp = t(DNS, "tcp: a name that never resolves: after maxAttempts the transport closes with the FM-28 reason (no crash)")
const dnsStale = t(DNS, "the last good addresses answer while the resolver fails, within maxStale; after it, or for a name never resolved, the failure stands")
const dnsOutage = t(DNS, "a TCP client and a Streamable HTTP client reconnect through a resolver outage with cachingLookup; without it the HTTP send fails with HostUnresolved")
const journalTimeout = t(JOURNAL, "FM-34 a journal write that does not finish in time refuses the call (-32011) and the call does not run")
const journalBounded = t(JOURNAL, "FM-34 journal writes are bounded: past maxPendingWrites the call is refused at once (-32010) and does not run")
const journalFull = t(JOURNAL, "FM-34 a full disk (ENOSPC from /dev/full) is a typed refusal, the call does not run, the server lives on")
const journalUnknown = t(JOURNAL, "FM-10 a keyed call begun and never completed by a dead server is not run again: the retry gets -32012")
const journalCompleted = t(JOURNAL, "FM-10 a restarted server answers a completed key with the stored result or error, without running it")
const journalKill = t(JOURNAL, "FM-10 a server killed with -9 right after a side effect: the restarted server does not run the key again")
const otlpTimeout = t(OTLP, "an export that gets no answer gives up after exportTimeout; its spans are counted as dropped")
const otlpFull = t(OTLP, "a full queue drops new batches and counts their spans; one export at a time")
const stateExpiry = t(HTTPSTATE, "FM-41 sessions live in the SessionManager: its expiry ends the HTTP session (404) and drops its event store; the client initializes again and carries on")
const stateBusy = t(HTTPSTATE, "FM-41 a session with a request in flight does not expire; the answer counts as activity")
const stateBound = t(HTTPSTATE, "FM-36 past the SessionManager's bound a never-used session is evicted (404), sessions in use never are; with all in use a new one gets 503 with Retry-After")
const listenerCrash = t(HTTPSTATE, "FM-52 a crashed listener loses no session: restarted by its tier, it rebuilds the session at its next request (same id, no 404, no new initialize; the set-up replayed to a new server), and a GET resumed with Last-Event-ID gets what was sent after the stream closed")
const snapshotRestart = t(HTTPSTATE, "FM-52 with the SessionManager's snapshot a session outlives the process: a new runtime on the same file serves it under its id, its set-up replayed; a session deleted meanwhile is not")
const sdkRestart = t(RESTART, "the official 1.x client keeps its session through a kill -9 of the server and its restart on the session snapshot")
const stateSweeper = t(HTTPSTATE, "FM-41 a crash of the SessionManager's sweeper loses no HTTP session: they are served through its restart, and the restarted sweeper expires them")
const fm39crash = t(REG, "FM-39 a crashed registry tier is rebuilt from what runs: every live route resolves again, dead ones do not; lookups meanwhile fail typed at the call timeout or are answered")
const fm39race = t(REG, "FM-39 a route whose owner ends while the table is rebuilding stays dead, even if its source listed it a moment before; an owner that comes back is routed again")
const tickFails = t(TIMERS, "FM-43 a tick that fails does not stop future ticks: a failed reading crashes the sampler, which restarts and samples on schedule")
const samplerKilled = t(TIMERS, "FM-43 the resource sampler, killed, restarts after 50 ms and samples every interval again (TestClock)")
const sweeperKilled = t(TIMERS, "FM-43 the session sweeper, killed, restarts after 50 ms and still expires idle sessions on its schedule")
const noRawTimers = t(RAW, "FM-43 no raw timers in packages/*/src: every setTimeout, setInterval and setImmediate is on the allow-list, with its reason")

// ---- mutations used by several modes ----------------------------------------------------------------------

const FIFO = {
  file: "packages/core/src/Protocol.ts",
  find: `    const entry = response.id === null ? undefined : pending.get(response.id)
    if (entry === undefined) return record(new UnknownResponseId({ id: response.id }))
    pending.delete(response.id!)`,
  replace: `    const first = response.id === null ? undefined : pending.entries().next().value
    if (first === undefined) return record(new UnknownResponseId({ id: response.id }))
    const entry = first[1]
    pending.delete(first[0])`
}
const NO_REQUEST_TIMEOUT = {
  file: "packages/core/src/Protocol.ts",
  find: "if (timeoutMs === Infinity && totalMs === Infinity) {",
  replace: "if (true) {"
}
const NO_IDEMPOTENCY = {
  file: "packages/server/src/McpServer.ts",
  find: "keyed ? once(tool.name, key, run, bound) : run",
  replace: "run"
}
const DEFECTS_ESCAPE = {
  file: "packages/core/src/Protocol.ts",
  find: "        const defect = Cause.findDefect(exit.cause)",
  replace: "        if (!Cause.hasInterruptsOnly(exit.cause)) return Effect.failCause(exit.cause) as never\n        const defect = Cause.findDefect(exit.cause)"
}
const NO_PROGRESS_RESET = {
  file: "packages/core/src/Protocol.ts",
  find: "if (entry.resetOnProgress) entry.lastActivity = now",
  replace: ""
}
const NO_SELF_HEALING = {
  file: "packages/runtime/src/Tiers.ts",
  find: "const start = options.selfHealing === undefined ? incarnation : selfHealing(id, incarnation, options.selfHealing)",
  replace: "const start = incarnation"
}
const NO_ADAPTATION = {
  file: "packages/faults/src/AdaptiveTimeout.ts",
  find: "if (window.length < r.minSamples) return",
  replace: "if (true) return"
}
const NO_REPLAY = {
  file: "packages/transports/src/StreamableHttpServer.ts",
  find: "const missed = session.events?.after(streamId, Number.isFinite(seq) ? seq : 0) ?? []",
  replace: "const missed = [] as Array<never>"
}
const NO_JITTER = {
  file: "packages/core/src/Backoff.ts",
  find: "Math.floor(u * boundMs(attempt, policy))",
  replace: "boundMs(attempt, policy)"
}
const NO_DRAIN_WAIT = {
  file: "packages/transports/src/internal/writer.ts",
  find: "while (needDrain || queued > HIGH_WATER) {",
  replace: "while (false) {"
}
const MALFORMED_THROWS = {
  file: "packages/jsonrpc/src/JsonRpcCodec.ts",
  find: "return Result.fail(new MalformedJson({ detail: cause instanceof Error ? cause.message : String(cause) }))",
  replace: "throw cause"
}
const NO_PENDING_FAIL = {
  file: "packages/core/src/Protocol.ts",
  find: "      for (const entry of pending.values()) yield* Deferred.fail(entry.deferred, reason)\n",
  replace: ""
}
const STREAM_GUARD = {
  file: "packages/jsonrpc/src/FrameDecoder.ts",
  find: "if (this.buffered + rest > this.maxFrameBytes) {",
  replace: "if (false) {"
}
const NO_DUP_CHECK = {
  file: "packages/core/src/Protocol.ts",
  find: "if (active.has(request.id)) {",
  replace: "if (false) {"
}

// ---- the table --------------------------------------------------------------------------------------------

export const mutants: ReadonlyArray<Mutant> = [
  // FM-01 Message size limit bypass
  { id: "FM-01a", mode: "FM-01", description: "no size check while a line is still arriving (the framer buffers an endless line)", ...STREAM_GUARD, tests: [oversize, gib] },
  { id: "FM-01b", mode: "FM-01", description: "no size check on a complete line", file: "packages/jsonrpc/src/FrameDecoder.ts", find: "} else if (lineLength > this.maxFrameBytes) {", replace: "} else if (false) {", tests: [oversize] },

  // FM-02 Supervisor restart cascades
  { id: "FM-02a", mode: "FM-02", description: "a supervisor never escalates past its intensity", file: "packages/faults/src/Supervisor.ts", find: "return { restarts: kept, escalate: kept.length > intensity }", replace: "return { restarts: kept, escalate: false }", tests: [t(SUP, "FM-02 more than intensity restarts within period escalates: children stopped in reverse order, typed failure"), t(SUP, "a supervisor on the TestClock escalates at exactly the crash the model predicts, never before"), t(BLAST, "past the root's intensity the runtime stops: await fails with SupervisorEscalated and liveness is down")] },
  { id: "FM-02b", mode: "FM-02", description: "restarts never leave the period's window (no sliding window)", file: "packages/faults/src/Supervisor.ts", find: "const kept = [...restarts.filter((t) => now - t <= periodMs), now]", replace: "const kept = [...restarts, now]", tests: [t(SUP, "a supervisor on the TestClock escalates at exactly the crash the model predicts, never before")] },
  { id: "FM-02c", mode: "FM-02", description: "tier 5 does not heal itself: its failures reach the root", ...NO_SELF_HEALING, tests: [flapping] },

  // FM-03 Memory exhaustion under load
  { id: "FM-03a", mode: "FM-03", description: "the heap is not a resource signal", file: "packages/runtime/src/ResourceMonitor.ts", find: "      ratio(\"heap\", \"FM-03\", sample.heapUsedBytes, sample.heapLimitBytes)\n", replace: "", tests: [t(RM, "FM-03 heap at 70/85/95 % is elevated/high/critical, sampled on the schedule; levels are published on change")] },
  { id: "FM-03b", mode: "FM-03", description: "admission never sheds load", file: "packages/runtime/src/ResourceMonitor.ts", find: "const refuse = s.level === \"critical\" || (s.level === \"high\" && kind === \"session\")", replace: "const refuse = false", tests: [shed] },
  { id: "FM-03c", mode: "FM-03", description: "a sustained critical level never drains the process", file: "packages/runtime/src/RecoveryManager.ts", find: "level === \"critical\" && options.drainOnCritical !== false ? Stream.fromEffect(act)", replace: "false ? Stream.fromEffect(act)", tests: [t(RM, "critical for less than the grace does nothing; critical for the whole grace drains the process")] },
  { id: "FM-03d", mode: "FM-03", description: "the grace is not a sustained period (a brief critical still drains later)", file: "packages/runtime/src/RecoveryManager.ts", find: "Stream.switchMap((level) =>", replace: "Stream.flatMap((level) =>", tests: [t(RM, "critical for less than the grace does nothing; critical for the whole grace drains the process"), t(RM, "FM-03 the grace is a sustained spell: a critical spell that ended does not drain when a later spell is critical at its deadline")] },
  { id: "FM-03e", mode: "FM-03", description: "Streamable HTTP does not ask admission (no 503)", file: "packages/transports/src/StreamableHttpServer.ts", find: "if (admit === undefined) return dispatchPost(decoded.success, request, res)", replace: "if (true) return dispatchPost(decoded.success, request, res)", tests: [t(HTTP, "admission control: a refused session or request gets 503 with Retry-After and -32010; admitted ones are served")] },

  // FM-04 Process pool exhaustion
  { id: "FM-04a", mode: "FM-04", description: "a bulkhead's queue is unbounded (never BulkheadFull)", file: "packages/faults/src/Bulkhead.ts", find: "if (queue.size >= maxQueue) {", replace: "if (false) {", tests: [t(BULK, "FM-04 past maxQueue a call is refused at once with BulkheadFull and a retry hint; FM-45 a queued call is refused after queueTimeout"), overload04] },
  { id: "FM-04b", mode: "FM-04", description: "the engine ignores the bulkheads", file: "packages/core/src/Protocol.ts", find: "if (options.bulkheads === undefined) return serve(request, handler, incoming)", replace: "if (true) return serve(request, handler, incoming)", tests: [overload04] },
  { id: "FM-04c", mode: "FM-04", description: "a tool's own bulkhead is not used", file: "packages/server/src/McpServer.ts", find: "const own = typeof name === \"string\" ? toolBulkheads.get(name) : undefined", replace: "const own = undefined", tests: [overload04] },

  // FM-05 ETS table overflow
  { id: "FM-05a", mode: "FM-05", description: "the task manager has no capacity", file: "packages/runtime/src/TaskManager.ts", find: "if (tasks.size >= maxTasks) return yield* new TaskLimitReached({ limit: maxTasks })", replace: "", tests: [t(TM, "FM-05 past maxTasks a task is refused")] },
  { id: "FM-05b", mode: "FM-05", description: "table depths are not resource signals", file: "packages/runtime/src/ResourceMonitor.ts", find: "for (const [name, q] of queues) ratio(`queue:${name}`, \"FM-05\", q.depth, q.capacity)", replace: "", tests: [shed] },

  // FM-06 Registry deadlock
  { id: "FM-06a", mode: "FM-06", description: "registry calls wait for the table without a timeout", file: "packages/runtime/src/Registry.ts", find: "Effect.flatMap(table.await(callTimeout), (found) =>", replace: "Effect.flatMap(table.await(Duration.infinity), (found) =>", tests: [t(REG, "FM-06 every call has a timeout: while the table is down, calls fail with RegistryTimeout after callTimeout; unregister never waits")] },
  { id: "FM-06b", mode: "FM-06", description: "a restarted table is not rebuilt from its sources", file: "packages/runtime/src/Registry.ts", find: "for (const route of found.value.value) routes.set(route.key, route.target)", replace: "", tests: [t(BLAST, "tier 1: the routing table restarts alone after 50 ms; a call made meanwhile waits and succeeds; routes with a source are rebuilt")] },

  // FM-07 TCP socket timeout
  { id: "FM-07a", mode: "FM-07", description: "no jitter: every delay is the full bound", ...NO_JITTER, tests: [t(BACKOFF, "every delay is within [0, min(cap, base·2^n)) (property)"), t(RECON, "after a drop, the delays on the state stream stay under min(cap, base·2^n); the cap holds")] },
  { id: "FM-07b", mode: "FM-07", description: "no cap on the exponential bound", file: "packages/core/src/Backoff.ts", find: "Math.min(millis(policy.cap, defaults.cap), millis(policy.base, defaults.base) * 2 ** Math.min(attempt, 52))", replace: "millis(policy.base, defaults.base) * 2 ** Math.min(attempt, 52)", tests: [t(BACKOFF, "every delay is within [0, min(cap, base·2^n)) (property)"), t(RECON, "after a drop, the delays on the state stream stay under min(cap, base·2^n); the cap holds")] },
  { id: "FM-07c", mode: "FM-07", description: "plain requests in flight are not failed when the connection drops", file: "packages/transports/src/ReconnectingTransport.ts", find: "        deliver(lost(id, `Connection lost: ${reason}`))\n", replace: "", tests: [t(RECON, "a dropped connection fails plain requests at once, sends keyed ones again, and re-initializes")] },
  { id: "FM-07d", mode: "FM-07", description: "keyed requests are not sent again after a drop", file: "packages/transports/src/ReconnectingTransport.ts", find: "        if (idempotent(entry.request)) {\n          expire(id, entry, now)", replace: "        if (false) {\n          expire(id, entry, now)", tests: [t(RECON, "a dropped connection fails plain requests at once, sends keyed ones again, and re-initializes")] },

  // FM-08 JSON parse error
  { id: "FM-08a", mode: "FM-08", description: "malformed JSON is not caught: the parse error is thrown", ...MALFORMED_THROWS, tests: [t(CODEC, "FM-08 malformed JSON becomes -32700 with id null")] },

  // FM-09 Connection leak on process crash (partial)
  { id: "FM-09a", mode: "FM-09", description: "closing a connection does not fail its pending requests", ...NO_PENDING_FAIL, tests: [closing] },
  { id: "FM-09b", mode: "FM-09", description: "a TCP listener that ends leaves its accepted connections running", file: "packages/transports/src/TcpTransport.ts", find: "        yield* Fiber.interruptAll([...fibers])\n", replace: "", tests: [leakTcp, leakTcpTier] },
  { id: "FM-09c", mode: "FM-09", description: "a WebSocket listener that ends leaves its accepted connections running", file: "packages/transports/src/WebSocketTransport.ts", find: "        for (const client of server.clients) client.terminate()\n        if (secure === undefined) server.close(() => Deferred.doneUnsafe(stopped, Effect.void))\n        else {\n          // `ws` leaves a server it was given open: close it, with its idle HTTP connections and handshakes\n          server.close()\n          secure.close(() => Deferred.doneUnsafe(stopped, Effect.void))\n          secure.closeAllConnections()\n          handshakes?.dropAll()\n        }\n        yield* Fiber.interruptAll([...fibers])\n", replace: "        if (secure === undefined) server.close(() => Deferred.doneUnsafe(stopped, Effect.void))\n        else {\n          server.close()\n          secure.close(() => Deferred.doneUnsafe(stopped, Effect.void))\n          secure.closeAllConnections()\n          handshakes?.dropAll()\n        }\n", tests: [leakWs, leakWsTier] },
  { id: "FM-09d", mode: "FM-09", description: "a dead listener's connections are stopped one at a time, each waiting for its peer to close", file: "packages/runtime/src/Tiers.ts", find: "                  transport.close,\n", replace: "                  Effect.void,\n", tests: [leakTcp, leakTcpTier] },
  { id: "FM-09e", mode: "FM-09", description: "the stdio server process outlives its connection (does not exit after stdin EOF)", file: "apps/sample/src/main.ts", find: "  yield* server.serve(yield* StdioServerTransport.make())", replace: "  yield* server.serve(yield* StdioServerTransport.make())\n  yield* Effect.never", tests: [leakStdio] },

  // FM-10 Duplicate message delivery
  { id: "FM-10a", mode: "FM-10", description: "an in-flight request id is not checked for duplicates", ...NO_DUP_CHECK, tests: [dupId] },
  { id: "FM-10b", mode: "FM-10", description: "the server ignores idempotency keys (every retry runs the tool)", ...NO_IDEMPOTENCY, tests: [idemRetry, idemCancel] },
  { id: "FM-10c", mode: "FM-10", description: "a keyed call is not detached: it dies with its caller, and the retry runs it again", file: "packages/server/src/McpServer.ts", find: "        yield* Effect.forkIn(\n          claimAndRun.pipe(", replace: "        yield* ((effect: any, _scope: any, options: any) => Effect.forkChild(effect, options))(\n          claimAndRun.pipe(", tests: [idemCancel] },
  { id: "FM-10d", mode: "FM-10", description: "the runtime's dedup cache never hits", file: "packages/runtime/src/DedupCache.ts", find: "if (known !== undefined && known.expiresAt > now) {", replace: "if (false) {", tests: [t(DEDUP, "FM-10 runs once per key within the TTL; concurrent callers join the running one; failures are pinned too")] },
  { id: "FM-10e", mode: "FM-10", description: "claims the dead process never settled are not reloaded (a restarted server runs the key again)", file: "packages/server/src/IdempotencyStore.ts", find: "      else if (r.o === \"b\") index.put(r.k, { _tag: \"Unknown\", at: r.t, expiresAt: r.t + ttlMs })\n", replace: "      else if (r.o === \"b\") void 0\n", tests: [journalUnknown, journalKill] },
  { id: "FM-10f", mode: "FM-10", description: "completed outcomes are not reloaded (a restarted server runs a completed key again)", file: "packages/server/src/IdempotencyStore.ts", find: "      else index.put(r.k, { _tag: \"Completed\", at: r.t, outcome: r.r, expiresAt: r.t + ttlMs })\n", replace: "      else void 0\n", tests: [journalCompleted, journalKill] },

  // FM-11 Out-of-order delivery
  { id: "FM-11a", mode: "FM-11", description: "answers are matched by position (oldest pending first), not by id", ...FIFO, tests: [kit("FM-27 out-of-order packets"), unknownId] },

  // FM-12 Message corruption (partial)
  { id: "FM-12a", mode: "FM-12", description: "a corrupted frame's parse error is thrown, not typed", ...MALFORMED_THROWS, tests: [malformedAnswered, kit("FM-12 message corruption")] },
  { id: "FM-12b", mode: "FM-12", description: "a frame that does not decode is not answered", file: "packages/core/src/Protocol.ts", find: "return Effect.andThen(record(decoded.failure), sendQuietly(CodecError.toResponse(decoded.failure)))", replace: "return Effect.void", tests: [malformedAnswered, kit("FM-12 message corruption")] },
  { id: "FM-12c", mode: "FM-12", description: "a TLS record that fails its integrity check is not told apart (FM-29, not retryable)", file: "packages/transports/src/TcpTransport.ts", find: "const corrupted = code !== undefined && CORRUPTION.test(code)", replace: "const corrupted = false", tests: [t("packages/transports/test/Tls.test.ts", "FM-12 a flipped bit in a TLS record fails the connection with TlsFailure (bad record MAC); nothing corrupted is delivered"), t("packages/transports/test/Tls.test.ts", "FM-12 wss: a flipped bit in a TLS record ends the connection with TlsFailure mode FM-12; nothing corrupted is delivered")] },

  // FM-13 Network partition split-brain (partial)
  { id: "FM-13a", mode: "FM-13", description: "idle sessions never expire", file: "packages/transports/src/StreamableHttpServer.ts", find: "if (!entry.busy && at - entry.lastActivity >= idleMs) gone.push(", replace: "if (false) gone.push(", tests: [t(HTTP, "sessions: minted ids, 404 for unknown, DELETE ends one, idle ones expire and are freed")] },
  { id: "FM-13b", mode: "FM-13", description: "requests have no timeout (a partitioned call waits forever)", ...NO_REQUEST_TIMEOUT, tests: [kit("FM-13 one-way network partition")] },
  { id: "FM-13c", mode: "FM-13", description: "a client whose session the node does not own (404) does not initialize again", file: "packages/transports/src/StreamableHttpClient.ts", find: "if (status === 404 && sentSession !== undefined &&", replace: "if (false && status === 404 && sentSession !== undefined &&", tests: [t(HTTP, "the client re-initializes when its session expires (404) and carries on")] },

  // FM-14 Circuit breaker stuck open
  { id: "FM-14a", mode: "FM-14", description: "an open circuit does not half-open by itself (no timer)", file: "packages/faults/src/CircuitBreaker.ts", find: "          return announce(move(key, circuit, \"HalfOpen\", \"open-elapsed\", at))", replace: "          return Effect.void", tests: [t(CB, "FM-14 an open circuit half-opens by itself after openDuration, with no call arriving (TestClock)")] },
  { id: "FM-14b", mode: "FM-14", description: "half-open lets any number of probes through", file: "packages/faults/src/CircuitBreaker.ts", find: "if (c.probing >= policy.probes) {", replace: "if (false) {", tests: [t(CB, "FM-14 at most halfOpenProbes probes run at once; all must succeed to close, one failure reopens")] },
  { id: "FM-14c", mode: "FM-14", description: "a failed probe does not reopen the circuit", file: "packages/faults/src/CircuitBreaker.ts", find: "      if (outcome === \"failure\" || slow) return open(key, circuit, policy, \"probe-failed\", now)\n", replace: "", tests: [t(CB, "FM-14 at most halfOpenProbes probes run at once; all must succeed to close, one failure reopens")] },
  { id: "FM-14d", mode: "FM-14", description: "reset does not close the circuit", file: "packages/faults/src/CircuitBreaker.ts", find: "      const transition = move(key, circuit, \"Closed\", \"reset\", now)", replace: "      const transition = undefined", tests: [t(CB, "FM-14 manual override: forceOpen refuses every call until reset; reset closes an open circuit at once"), serverBreaker] },
  { id: "FM-14e", mode: "FM-14", description: "a forced-open circuit admits calls", file: "packages/faults/src/CircuitBreaker.ts", find: "    if (circuit.state === \"ForcedOpen\") return reject(key, \"ForcedOpen\", policy?.openMs ?? 60_000)\n", replace: "", tests: [t(CB, "FM-14 manual override: forceOpen refuses every call until reset; reset closes an open circuit at once"), serverBreaker] },

  // FM-15 Backpressure lost
  { id: "FM-15a", mode: "FM-15", description: "writers never wait for a drain", ...NO_DRAIN_WAIT, tests: [stdioBackpressure, tcpStall] },
  { id: "FM-15b", mode: "FM-15", description: "no bound on bytes waiting for a slow reader", file: "packages/transports/src/internal/writer.ts", find: "if (pending <= maxBuffered) return undefined", replace: "if (true) return undefined", tests: [t(TCP, "FM-15 a reader that never reads is disconnected once maxBufferedBytes wait for it (typed TransportFailure)")] },
  { id: "FM-15c", mode: "FM-15", description: "a stalled send waits forever (no stallTimeout)", file: "packages/transports/src/internal/writer.ts", find: "        if (stallTimeout === undefined) {", replace: "        if (true) {", tests: [tcpStall] },
  { id: "FM-15d", mode: "FM-15", description: "TCP reading does not pause: an unbounded buffer between socket and consumer", file: "packages/transports/src/TcpTransport.ts", find: "const frames = codec.decodeNdjson(bytes, { allowBatch: true })", replace: "const frames = codec.decodeNdjson(Stream.buffer(bytes, { capacity: \"unbounded\" }), { allowBatch: true })", tests: [t(TCP, "FM-15 reading pauses while the consumer is slow: the peer's writes stall, nothing piles up, nothing is lost")] },
  { id: "FM-15e", mode: "FM-15", description: "WebSocket does not bound bufferedAmount", file: "packages/transports/src/WebSocketTransport.ts", find: "if (buffered > maxBuffered) {", replace: "if (false) {", tests: [t(WS, "FM-15 a reader that does not read is terminated once bufferedAmount passes maxBufferedBytes (typed TransportFailure)")] },

  // FM-16 Handler crash cascade
  { id: "FM-16a", mode: "FM-16", description: "a handler's typed failure escapes its fiber (no safe -32603)", file: "packages/core/src/Protocol.ts", find: "          if (error instanceof McpError) {", replace: "          if (!(error instanceof McpError)) return Effect.failCause(exit.cause) as never\n          if (error instanceof McpError) {", tests: [failing] },
  { id: "FM-16b", mode: "FM-16", description: "a handler's defect escapes its fiber (no safe -32603)", ...DEFECTS_ESCAPE, tests: [failing] },

  // FM-17 Rate limiter crash
  { id: "FM-17a", mode: "FM-17", description: "a failing limiter always fails closed (no fail-open policy)", file: "packages/faults/src/RateLimit.ts", find: "Effect.andThen(policy === \"open\" ? Effect.void : Effect.fail(new LimiterUnavailable", replace: "Effect.andThen(false ? Effect.void : Effect.fail(new LimiterUnavailable", tests: [t(RL, "FM-17 a failing limiter fails open by policy: requests are admitted, the store is bypassed after repeated failures, and a probe after the cooldown restores the limit"), overload17] },
  { id: "FM-17b", mode: "FM-17", description: "a failing limiter always fails open (no fail-closed policy)", file: "packages/faults/src/RateLimit.ts", find: "Effect.andThen(policy === \"open\" ? Effect.void : Effect.fail(new LimiterUnavailable", replace: "Effect.andThen(true ? Effect.void : Effect.fail(new LimiterUnavailable", tests: [t(RL, "FM-17 a failing limiter fails closed by policy: requests are refused with LimiterUnavailable and the remaining cooldown"), overload17] },
  { id: "FM-17c", mode: "FM-17", description: "a failing store is never bypassed (its failures are not counted)", file: "packages/faults/src/RateLimit.ts", find: "classify: (exit) => (exit._tag === \"Success\" ? \"success\" : \"failure\")", replace: "classify: () => \"success\"", tests: [t(RL, "FM-17 a failing limiter fails open by policy: requests are admitted, the store is bypassed after repeated failures, and a probe after the cooldown restores the limit")] },

  // FM-18 Auth service timeout
  { id: "FM-18a", mode: "FM-18", description: "an exchange with the authorization server has no timeout", file: "packages/client/src/OAuthClient.ts", find: "          duration: requestMs,\n          orElse: () => Effect.fail(new AuthServerTimeout({ endpoint: url.href, timeoutMs: requestMs }))", replace: "          duration: Duration.infinity,\n          orElse: () => Effect.fail(new AuthServerTimeout({ endpoint: url.href, timeoutMs: requestMs }))", tests: [authHang, authBreaker] },
  { id: "FM-18b", mode: "FM-18", description: "no circuit breaker in front of the authorization server", file: "packages/client/src/OAuthClient.ts", find: "      if (breaker === undefined) return exchange", replace: "      if (true) return exchange", tests: [authBreaker] },
  { id: "FM-18c", mode: "FM-18", description: "a refresh that fails while the server is slow drops the still-valid token", file: "packages/client/src/OAuthClient.ts", find: "if (current.expiresAt !== undefined && current.expiresAt > at) {", replace: "if (false) {", tests: [authHeld] },
  { id: "FM-18d", mode: "FM-18", description: "the protected resource metadata is not cached", file: "packages/client/src/OAuthClient.ts", find: "if (!revalidate && cached !== undefined && now - cached.fetchedAt < metadataTtlMs) return cached", replace: "if (false) return cached", tests: [authTtl] },

  // FM-19 Monitoring system down
  { id: "FM-19a", mode: "FM-19", description: "tier 5 does not heal itself: its failures reach the root", ...NO_SELF_HEALING, tests: [flapping] },
  { id: "FM-19b", mode: "FM-19", description: "a stale status keeps shedding (monitoring blocks serving)", file: "packages/runtime/src/ResourceMonitor.ts", find: "if (now - s.sampledAt > staleMs) return Effect.void // the sampler is down: fail open", replace: "", tests: [t(RM, "a sampler that stops answering leaves a stale status, and a stale status admits everything (tier 5 never blocks serving)")] },
  { id: "FM-19c", mode: "FM-19", description: "a health check has no timeout", file: "packages/runtime/src/Health.ts", find: "        Effect.timeoutOption(checkTimeout),", replace: "        Effect.timeoutOption(Duration.infinity),", tests: [t(HEALTH, "a check that does not answer within the check timeout counts as failed, not as a hung probe")] },
  { id: "FM-19d", mode: "FM-19", description: "an OTLP export has no timeout (a hung collector holds its sender forever)", file: "packages/runtime/src/Telemetry.ts", find: "        duration: settings.exportTimeout,", replace: "        duration: Duration.infinity,", tests: [otlpTimeout] },
  { id: "FM-19e", mode: "FM-19", description: "the OTLP hand-off queue is unbounded (a hung collector piles up batches)", file: "packages/runtime/src/Telemetry.ts", find: "  const queue = yield* Queue.dropping<Batch>(settings.capacity)", replace: "  const queue = yield* Queue.unbounded<Batch>()", tests: [otlpFull] },

  // FM-20 Config reload failure
  { id: "FM-20a", mode: "FM-20", description: "configuration is not validated", file: "packages/server/src/ServerConfig.ts", find: "    if (Result.isFailure(result)) return Effect.fail(new InvalidConfig({ problems: result.failure }))", replace: "    if (Result.isFailure(result)) return Effect.succeed(input as ServerConfig)", tests: [t(CONF, "FM-20 an invalid configuration is refused with every problem listed and nothing applied; a valid one applies to every connection at once"), t(CONF, "FM-20 any reload either applies exactly the validated configuration or leaves the previous one in force (property)")] },
  { id: "FM-20b", mode: "FM-20", description: "a reload that fails while swapping does not put the previous configuration back", file: "packages/server/src/McpServer.ts", find: "          Effect.onError(() => commit(previous, before.version)),\n", replace: "", tests: [t(CONF, "FM-20 a reload that fails while it is applied puts the previous configuration back whole, limits included"), t(CONF, "FM-20 reload is atomic: a configuration with one bad field changes nothing; reloads run one at a time, versioned, logged and counted"), t(CONF, "FM-20 any reload either applies exactly the validated configuration or leaves the previous one in force (property)")] },
  { id: "FM-20c", mode: "FM-20", description: "reloads are not serialised", file: "packages/server/src/McpServer.ts", find: "      reloads.withPermit(Effect.gen(function*() {\n        const before = live", replace: "      ((effect: any) => effect)(Effect.gen(function*() {\n        const before = live", tests: [t(CONF, "FM-20 reloads run one at a time: a reload waits while another is still being applied, and each gets its own version"), t(CONF, "FM-20 reload is atomic: a configuration with one bad field changes nothing; reloads run one at a time, versioned, logged and counted")] },

  // FM-21 Connection timeout cascade
  { id: "FM-21a", mode: "FM-21", description: "progress does not reset a request's timeout", ...NO_PROGRESS_RESET, tests: [resets] },
  { id: "FM-21b", mode: "FM-21", description: "the client ignores the retry policy", file: "packages/client/src/McpClient.ts", find: "return callOptions.retry === undefined ? once : Effect.retry(once, { schedule: callOptions.retry, while: isTransient })", replace: "return once", tests: [t(CLIENT, "FM-21 transient failures are retried with backoff; an idempotency key makes the retries run the tool once")] },
  { id: "FM-21c", mode: "FM-21", description: "McpClient.defaultRetry never gives up", file: "packages/client/src/McpClient.ts", find: "  Schedule.upTo({ times: 5 })\n)", replace: "  (schedule) => schedule\n)", tests: [t(KIT, "FM-21 McpClient.defaultRetry gives up after 5 retries")] },
  { id: "FM-21d", mode: "FM-21", description: "adaptive bounds never adapt (always max)", ...NO_ADAPTATION, tests: [atProp, overload21] },
  { id: "FM-21e", mode: "FM-21", description: "the adaptive bound is not enforced", file: "packages/faults/src/AdaptiveTimeout.ts", find: "const exit = yield* Effect.timeoutOption(Effect.exit(effect), Duration.millis(timeoutMs))", replace: "const exit = yield* Effect.timeoutOption(Effect.exit(effect), Duration.infinity)", tests: [atProp, overload21] },

  // FM-22 / FM-23 Packet loss
  { id: "FM-22a", mode: "FM-22", description: "requests have no timeout (a lost frame is never found)", ...NO_REQUEST_TIMEOUT, tests: [kit("FM-22 packet loss (≤ 5%)")] },
  { id: "FM-22b", mode: "FM-22", description: "the server ignores idempotency keys (a retry after a lost answer runs the tool again)", ...NO_IDEMPOTENCY, tests: [kit("FM-22 packet loss (≤ 5%)")] },
  { id: "FM-23a", mode: "FM-23", description: "requests have no timeout (a lost frame is never found)", ...NO_REQUEST_TIMEOUT, tests: [kit("FM-23 packet loss (10%)")] },
  { id: "FM-23b", mode: "FM-23", description: "the server ignores idempotency keys (a retry after a lost answer runs the tool again)", ...NO_IDEMPOTENCY, tests: [kit("FM-23 packet loss (10%)")] },

  // FM-24 High latency
  { id: "FM-24a", mode: "FM-24", description: "the adaptive bound is not a gauge", file: "packages/faults/src/AdaptiveTimeout.ts", find: "          Metric.update(Metric.withAttributes(boundGauge, attributes), next.timeoutMs),", replace: "          Effect.void,", tests: [t(AT, "FM-24 the bound and the observed percentile are gauges; each change of phase is a log line")] },
  { id: "FM-24b", mode: "FM-24", description: "adaptive bounds never follow latency (always max)", ...NO_ADAPTATION, tests: [t(AT, "FM-21 the bound tightens around a fast tool, follows it when it slows down for good, and stops at max")] },
  { id: "FM-24c", mode: "FM-24", description: "progress does not reset a request's timeout (slow-but-alive calls are cut)", ...NO_PROGRESS_RESET, tests: [resets] },

  // FM-25 Persistent connection loss
  { id: "FM-25a", mode: "FM-25", description: "reconnection never gives up", file: "packages/transports/src/ReconnectingTransport.ts", find: "if (failures >= maxAttempts) {", replace: "if (false) {", tests: [t(RECON, "gives up after maxAttempts and says so on the state stream")] },
  { id: "FM-25b", mode: "FM-25", description: "no jitter: every reconnection delay is the full bound", ...NO_JITTER, tests: [t(RECON, "retries a refused connection with full-jitter delays within the bounds, then connects")] },
  { id: "FM-25c", mode: "FM-25", description: "the HTTP client does not re-initialize on 404", file: "packages/transports/src/StreamableHttpClient.ts", find: "if (status === 404 && sentSession !== undefined &&", replace: "if (false && status === 404 && sentSession !== undefined &&", tests: [t(HTTP, "the client re-initializes when its session expires (404) and carries on")] },
  { id: "FM-25d", mode: "FM-25", description: "Last-Event-ID replays nothing", ...NO_REPLAY, tests: [replay1699] },
  { id: "FM-25e", mode: "FM-25", description: "a new connection does not replay the initialize handshake", file: "packages/transports/src/ReconnectingTransport.ts", find: "        if (handshake !== undefined) {\n          const answered", replace: "        if (false) {\n          const answered", tests: [t(RECON, "a dropped connection fails plain requests at once, sends keyed ones again, and re-initializes"), t(RECON, "a connection that dies during the replayed handshake is retried at once, not after the handshake timeout"), t(RECON, "a replayed handshake never answered: after handshakeTimeout the connection is closed and retried with backoff")] },

  // FM-26 Duplicate packets
  { id: "FM-26a", mode: "FM-26", description: "a duplicate id is refused with the original's id (taken as the original's answer)", file: "packages/core/src/Protocol.ts", find: "errorResponse(null, ErrorCode.InvalidRequest, `Invalid Request: a request with id", replace: "errorResponse(request.id, ErrorCode.InvalidRequest, `Invalid Request: a request with id", tests: [t(KIT, "FM-26 a duplicated request that arrives while the original is in flight does not fail the original call"), dupId] },
  { id: "FM-26b", mode: "FM-26", description: "an in-flight request id is not checked for duplicates", ...NO_DUP_CHECK, tests: [t(KIT, "FM-26 a duplicated request that arrives while the original is in flight does not fail the original call"), dupId] },

  // FM-27 Out-of-order packets
  { id: "FM-27a", mode: "FM-27", description: "answers are matched by position (oldest pending first), not by id", ...FIFO, tests: [kit("FM-27 out-of-order packets")] },

  // FM-28 DNS resolution failure
  { id: "FM-28a", mode: "FM-28", description: "a TCP connect that fails to resolve is a plain TransportFailure", file: "packages/transports/src/TcpTransport.ts", find: "          hostUnresolved(error, host, port) ??\n            (options.tls", replace: "          (options.tls", tests: [dnsInvalid, dnsRetryable, dnsGiveUp] },
  { id: "FM-28b", mode: "FM-28", description: "EAI_AGAIN is not marked retryable", file: "packages/core/src/Transport.ts", find: "retryable: code === \"EAI_AGAIN\"", replace: "retryable: false", tests: [dnsRetryable] },
  { id: "FM-28c", mode: "FM-28", description: "the caching lookup does not fall back on the last good addresses (no stale-if-error)", file: "packages/transports/src/HostResolver.ts", find: "if (entry !== undefined && entry.addresses.length > 0 && now() - entry.at < ttl + maxStale && RESOLUTION_CODES.has(code)) {", replace: "if (false) {", tests: [dnsStale, dnsOutage] },
  { id: "FM-28d", mode: "FM-28", description: "stale addresses answer for ever (maxStale not enforced)", file: "packages/transports/src/HostResolver.ts", find: "now() - entry.at < ttl + maxStale && RESOLUTION_CODES", replace: "true && RESOLUTION_CODES", tests: [dnsStale] },

  // FM-29 TLS handshake failure (partial: Host/Origin checks)
  { id: "FM-29a", mode: "FM-29", description: "Host and Origin are not checked", file: "packages/transports/src/StreamableHttpServer.ts", find: "      if (refused !== undefined) {\n        stats.rejectedHostOrOrigin++", replace: "      if (false) {\n        stats.rejectedHostOrOrigin++", tests: [t(HTTP, "FM-29 Host and Origin are checked (403), failing closed for a non-loopback bind with no lists")] },
  { id: "FM-29b", mode: "FM-29", description: "TLS clients do not verify the server's certificate by default", file: "packages/transports/src/TcpTransport.ts", find: "rejectUnauthorized: options.rejectUnauthorized ?? true,", replace: "rejectUnauthorized: options.rejectUnauthorized ?? false,", tests: [t("packages/transports/test/Tls.test.ts", "FM-29 an expired server certificate: connect fails with TlsFailure CERT_HAS_EXPIRED, not retryable"), t("packages/transports/test/Tls.test.ts", "FM-29 a certificate for another name: connect fails with TlsFailure ERR_TLS_CERT_ALTNAME_INVALID"), t("packages/transports/test/Tls.test.ts", "FM-29 wss: expired, wrong-name and unknown-issuer certificates are typed TlsFailures")] },
  { id: "FM-29c", mode: "FM-29", description: "mTLS accepts a client certificate that does not verify", file: "packages/transports/src/TcpTransport.ts", find: "{ requestCert: true, rejectUnauthorized: true }", replace: "{ requestCert: true, rejectUnauthorized: false }", tests: [t("packages/transports/test/Tls.test.ts", "FM-29 mTLS: a client without a certificate, or with one from an unknown issuer, is refused and counted; a client with a good one is served throughout")] },
  { id: "FM-29d", mode: "FM-29", description: "https: handshakes are not bounded or counted", file: "packages/transports/src/StreamableHttpServer.ts", find: "const handshakes = options.tls === undefined ? undefined : watchTlsHandshakes(", replace: "const handshakes = (true as boolean) ? undefined : watchTlsHandshakes(", tests: [t("packages/transports/test/Tls.test.ts", "FM-29 https: a handshake left hanging is dropped after handshakeTimeout and counted (TestClock)"), t("packages/transports/test/Tls.test.ts", "FM-29 https mTLS: a client without a certificate is refused and counted; one with a good certificate is served")] },
  { id: "FM-29e", mode: "FM-29", description: "the https client does not type TLS failures", file: "packages/transports/src/StreamableHttpClient.ts", find: "(secure ? tlsFailureOf(error, url.hostname, port) : undefined) ??", replace: "undefined ??", tests: [t("packages/transports/test/Tls.test.ts", "FM-29 https: expired, wrong-name and unknown-issuer certificates fail the send with typed TlsFailures")] },

  // FM-30 Message fragmentation
  { id: "FM-30a", mode: "FM-30", description: "fragments are not reassembled (only a line's last fragment is kept)", file: "packages/jsonrpc/src/FrameDecoder.ts", find: "if (parts.length === 0) return last", replace: "return last", tests: [t(FRAME, "FM-30 arbitrary chunkings decode identically")] },
  { id: "FM-30b", mode: "FM-30", description: "input that ends inside a frame is not TruncatedFrame", file: "packages/jsonrpc/src/JsonRpcCodec.ts", find: "? Result.fail(new TruncatedFrame({ received: event.bytes.length }))", replace: "? decoded", tests: [t(CODEC, "FM-30 input that ends inside a frame is TruncatedFrame; a complete unterminated frame is accepted")] },

  // FM-31 Connection hang
  { id: "FM-31a", mode: "FM-31", description: "a peer that does not answer the heartbeat is never dropped", file: "packages/transports/src/internal/liveness.ts", find: "if (!options.behind()) return options.onHung({ _tag: \"NotAnswered\", timeoutMs })", replace: "if (false) return options.onHung({ _tag: \"NotAnswered\", timeoutMs })", tests: [t(TCP, "FM-31 heartbeat on Effect's Clock (TestClock): probes every interval; only the peer that misses the deadline is dropped"), t(TCP, "FM-31 heartbeat: MCP peers answer the probe in both eras and never see it; a peer that does not answer is dropped"), t(WS, "FM-31 ping/pong heartbeat: clients that pong stay; one that never pongs is terminated with a typed reason")] },
  { id: "FM-31b", mode: "FM-31", description: "Streamable HTTP has no header or body timeout", file: "packages/transports/src/StreamableHttpServer.ts", find: "    server.headersTimeout = headersTimeoutMs\n    server.requestTimeout = requestTimeoutMs", replace: "    server.headersTimeout = 0\n    server.requestTimeout = 0", tests: [t(HTTP, "a slowloris client (headers never finished, or a body trickled) is cut off; others are served meanwhile")] },

  // FM-32 File descriptor exhaustion
  { id: "FM-32a", mode: "FM-32", description: "open fds are not a resource signal", file: "packages/runtime/src/ResourceMonitor.ts", find: "      ratio(\"fds\", \"FM-32\", sample.openFds, sample.fdLimit)\n", replace: "", tests: [shed] },
  { id: "FM-32b", mode: "FM-32", description: "the soft fd limit is not read", file: "packages/runtime/src/ResourceMonitor.ts", find: "const line = limits.split(\"\\n\").find((l) => l.startsWith(\"Max open files\"))", replace: "const line = undefined as string | undefined", tests: [t(RM, "reads the soft fd limit from /proc/self/limits")] },

  // FM-33 CPU throttling (partial)
  { id: "FM-33a", mode: "FM-33", description: "CPU alone can shed (no cap at elevated)", file: "packages/runtime/src/ResourceMonitor.ts", find: "if (cpu !== -1 && rank(out[cpu]!.level) > rank(\"elevated\")) out[cpu] = { ...out[cpu]!, level: \"elevated\" }", replace: "", tests: [shed] },

  // FM-34 Disk I/O saturation
  { id: "FM-34a", mode: "FM-34", description: "a journal write waits without a time limit", file: "packages/server/src/IdempotencyStore.ts", find: "            duration: writeTimeout,", replace: "            duration: Duration.infinity,", tests: [journalTimeout] },
  { id: "FM-34b", mode: "FM-34", description: "journal writes are not bounded in number (an unbounded queue)", file: "packages/server/src/IdempotencyStore.ts", find: "    const queue = yield* Queue.dropping<Job, Cause.Done>(maxPending)", replace: "    const queue = yield* Queue.unbounded<Job, Cause.Done>()", tests: [journalBounded] },
  { id: "FM-34c", mode: "FM-34", description: "a claim that could not be recorded still runs the call", file: "packages/server/src/IdempotencyStore.ts", find: "        yield* write(\"begin\", beginLine(key, now)).pipe(", replace: "        yield* Effect.ignore(write(\"begin\", beginLine(key, now))).pipe(", tests: [journalTimeout, journalBounded, journalFull] },

  // FM-35 GC pause
  { id: "FM-35a", mode: "FM-35", description: "the event-loop delay is not a resource signal", file: "packages/runtime/src/ResourceMonitor.ts", find: "if (sample.eventLoopDelayMs !== undefined) {", replace: "if (false) {", tests: [shed] },
  { id: "FM-35b", mode: "FM-35", description: "Node's source does not read the event-loop delay", file: "packages/runtime/src/ResourceMonitor.ts", find: "          ...(delay === undefined ? {} : { eventLoopDelayMs: delay }),\n", replace: "", tests: [t(RM, "Node's source reads heap, RSS, CPU, event-loop delay, and on Linux open fds against the soft limit")] },

  // FM-36 Connection limit reached
  { id: "FM-36a", mode: "FM-36", description: "TCP does not bound its connections", file: "packages/transports/src/TcpTransport.ts", find: "if (open >= maxConnections && !evictSilent()) return refuse(socket)", replace: "", tests: [t(TCP, "FM-36 a flood of 300 connections past a limit of 20: each refused one gets one retry-after frame; the served ones keep answering")] },
  { id: "FM-36t", mode: "FM-36", description: "a full TCP server never evicts a silent connection (slowloris locks clients out)", file: "packages/transports/src/TcpTransport.ts", find: "if (open >= maxConnections && !evictSilent()) return refuse(socket)", replace: "if (open >= maxConnections) return refuse(socket)", tests: [t(TCP, "FM-36 a full server makes room for a new client by closing the oldest connection that never sent a message; clients that talk are never evicted")] },
  { id: "FM-36u", mode: "FM-36", description: "no first-message timeout: a silent TCP connection is held forever", file: "packages/transports/src/TcpTransport.ts", find: "          if (received) return\n", replace: "          return\n", tests: [t(TCP, "FM-36 slowloris: a connection that sends no complete message within firstMessageTimeout is closed; one that sent a message is kept (TestClock)")] },
  { id: "FM-36v", mode: "FM-36", description: "no first-message timeout on WebSocket: a silent connection is held forever", file: "packages/transports/src/WebSocketTransport.ts", find: "          if (received) return\n", replace: "          return\n", tests: [t(WS, "FM-36 slowloris: a WebSocket connection that sends no message within firstMessageTimeout is closed; one that sent a message is kept (TestClock)")] },
  { id: "FM-36b", mode: "FM-36", description: "WebSocket accepts every handshake", file: "packages/transports/src/WebSocketTransport.ts", find: "          if (busy() >= maxConnections) {\n            refused++", replace: "          if (false) {\n            refused++", tests: [t(WS, "FM-36 a flood of 100 handshakes past a limit of 5: each refused one gets HTTP 503 with Retry-After; the served ones keep answering")] },
  { id: "FM-36c", mode: "FM-36", description: "Streamable HTTP does not cap sessions", file: "packages/transports/src/StreamableHttpServer.ts", find: "while (table.size >= maxSessions && table.size > 0) {", replace: "while (false) {", tests: [t(HTTP, "a flood of 10,000 session creations stays within the cap with memory bounded; sessions in use are not pushed out")] },
  { id: "FM-36d", mode: "FM-36", description: "eviction does not spare sessions in use (plain LRU)", file: "packages/transports/src/StreamableHttpServer.ts", find: "              if (!entry.used) {\n                oldest = key", replace: "              if (false) {\n                oldest = key", tests: [t(HTTP, "a flood of 10,000 session creations stays within the cap with memory bounded; sessions in use are not pushed out")] },
  { id: "FM-36e", mode: "FM-36", description: "HTTP sessions are not opened provisional (a flood of never-used sessions cannot be evicted)", file: "packages/runtime/src/HttpState.ts", find: "sessions.open(id, { provisional: true })", replace: "sessions.open(id, { provisional: false })", tests: [stateBound] },

  // FM-37 Message queue overflow
  { id: "FM-37a", mode: "FM-37", description: "concurrent handlers per connection are not bounded", file: "packages/core/src/Protocol.ts", find: "if (inFlight >= limit) {", replace: "if (false) {", tests: [t(ISO, "FM-37 past maxConcurrentIncoming the peer gets Overloaded"), t(ADM, "FM-37 maxConcurrentIncoming given as a function is read at every request")] },
  { id: "FM-37b", mode: "FM-37", description: "a function bound is read once, not at every request", file: "packages/core/src/Protocol.ts", find: "const maxIncoming = typeof configuredIncoming === \"function\" ? configuredIncoming : () => configuredIncoming", replace: "const maxIncoming = typeof configuredIncoming === \"function\" ? ((n: number) => () => n)(configuredIncoming()) : () => configuredIncoming", tests: [t(ADM, "FM-37 maxConcurrentIncoming given as a function is read at every request")] },
  { id: "FM-37c", mode: "FM-37", description: "queue wait is not a metric", file: "packages/faults/src/Bulkhead.ts", find: "            yield* Metric.update(wait$, end - start)\n", replace: "", tests: [t(BULK, "FM-37 occupancy, queue wait and refusals are metrics; saturation and recovery are log lines")] },
  { id: "FM-37d", mode: "FM-37", description: "refusals are not counted nor logged", file: "packages/faults/src/Bulkhead.ts", find: "return Metric.update(full$, 1).pipe(Effect.andThen(setSaturated(true)), Effect.andThen(Effect.fail(error)))", replace: "return Effect.fail(error)", tests: [t(BULK, "FM-37 occupancy, queue wait and refusals are metrics; saturation and recovery are log lines")] },

  // FM-38 Handler process crash
  { id: "FM-38a", mode: "FM-38", description: "handlers have no time bound", file: "packages/core/src/Protocol.ts", find: "      if (limit === undefined) return Effect.void\n      const ms =", replace: "      if (true) return Effect.void\n      const ms =", tests: [t(ISO, "FM-38 a handler past its time bound is interrupted and answered")] },
  { id: "FM-38b", mode: "FM-38", description: "a handler's defect escapes its fiber (no safe -32603)", ...DEFECTS_ESCAPE, tests: [failing] },

  // FM-39 Registry partition crash
  { id: "FM-39a", mode: "FM-39", description: "a restarted table is not rebuilt from its sources", file: "packages/runtime/src/Registry.ts", find: "for (const route of found.value.value) routes.set(route.key, route.target)", replace: "", tests: [fm39crash] },
  { id: "FM-39b", mode: "FM-39", description: "removals made while the table is down are forgotten (a source brings a dead route back)", file: "packages/runtime/src/Registry.ts", find: "          tombstones.add(key)\n", replace: "", tests: [fm39race] },
  { id: "FM-39c", mode: "FM-39", description: "an owner that registers again does not cancel the removal recorded while the table was down", file: "packages/runtime/src/Registry.ts", find: "        tombstones.delete(route.key)", replace: "        void 0", tests: [fm39crash] },

  // FM-40 Transport process crash
  { id: "FM-40a", mode: "FM-40", description: "closing a connection does not fail its pending requests", ...NO_PENDING_FAIL, tests: [closing] },
  { id: "FM-40b", mode: "FM-40", description: "a dead stdio child ends the stream quietly (the exit is not named)", file: "packages/transports/src/StdioClientTransport.ts", find: "      Stream.concat(Stream.fromEffect(exitFailure)),\n", replace: "", tests: [t(STDIO, "stdio client: a child that dies fails incoming at once with the exit named")] },
  { id: "FM-40c", mode: "FM-40", description: "close never escalates to SIGKILL", file: "packages/transports/src/StdioClientTransport.ts", find: "child.kill(\"SIGKILL\")", replace: "void 0", tests: [t(STDIO, "stdio client: close escalates stdin EOF → SIGTERM → SIGKILL")] },
  { id: "FM-40d", mode: "FM-40", description: "the transport tier is one_for_all (a crashed transport restarts the others)", file: "packages/runtime/src/Tiers.ts", find: "makeTier(\"transports\", { strategy: \"one_for_one\" }", replace: "makeTier(\"transports\", { strategy: \"one_for_all\" }", tests: [t(BLAST, "tier 4: a crashed transient transport restarts after 50 ms; the other transports never notice (FM-40)")] },
  { id: "FM-40e", mode: "FM-40", description: "draining does not stop accepting", file: "packages/runtime/src/Drain.ts", find: "if (now !== \"accepting\") return Effect.fail(new Draining({ phase: now }))", replace: "", tests: [t(DRAIN, "FM-40 drain stops accepting, lets in-flight work finish, then runs the close hooks last-first and reports")] },
  { id: "FM-40f", mode: "FM-40", description: "draining does not wait for in-flight work", file: "packages/runtime/src/Drain.ts", find: "const finished = yield* Effect.timeoutOption(idle, Duration.millis(left))", replace: "const finished = yield* Effect.timeoutOption(idle, Duration.millis(0))", tests: [t(DRAIN, "FM-40 drain stops accepting, lets in-flight work finish, then runs the close hooks last-first and reports")] },

  // FM-41 Session manager crash
  { id: "FM-41a", mode: "FM-41", description: "idle sessions never expire", file: "packages/runtime/src/SessionManager.ts", find: "const gone = [...sessions.values()].filter((s) => !s.busy && now - s.lastActivity >= idleMs).map((s) => s.id)", replace: "const gone: Array<string> = []", tests: [t(SM, "FM-41 an idle session expires at the next sweep; a touched one lives on; a gone one is SessionNotFound")] },
  { id: "FM-41b", mode: "FM-41", description: "sessions live in the sweeper's incarnation (a restart loses them)", file: "packages/runtime/src/SessionManager.ts", find: "const members = [Member.periodic(\"sweeper\", sweepInterval, sweep)]", replace: "const sweeper = Member.periodic(\"sweeper\", sweepInterval, sweep)\n    const members = [{ ...sweeper, start: Effect.andThen(Effect.sync(() => sessions.clear()), sweeper.start) }]", tests: [t(BLAST, "tier 2: a crashed session sweeper restarts alone and no session is lost (FM-41)")] },
  { id: "FM-41c", mode: "FM-41", description: "the infrastructure tier is one_for_all (the sweeper's crash restarts every member)", file: "packages/runtime/src/Tiers.ts", find: "makeTier(\"infrastructure\", { strategy: \"one_for_one\" }", replace: "makeTier(\"infrastructure\", { strategy: \"one_for_all\" }", tests: [t(BLAST, "tier 2: a crashed session sweeper restarts alone and no session is lost (FM-41)")] },
  { id: "FM-41d", mode: "FM-41", description: "an expired session is not announced (its HTTP session outlives the expiry)", file: "packages/runtime/src/SessionManager.ts", find: "      yield* PubSub.publishAll(ended, gone.map((id): Ended => ({ id, reason: \"expired\" })))\n", replace: "", tests: [stateExpiry, stateSweeper] },
  { id: "FM-41e", mode: "FM-41", description: "a request in flight does not keep its HTTP session alive", file: "packages/runtime/src/HttpState.ts", find: "  busy: sessions.setBusy,", replace: "  busy: () => Effect.void,", tests: [stateBusy] },

  // FM-42 Message handler crash
  { id: "FM-42a", mode: "FM-42", description: "consecutive failures never open a circuit", file: "packages/faults/src/CircuitBreaker.ts", find: "if (policy.consecutive !== undefined && circuit.streak >= policy.consecutive) {", replace: "if (false) {", tests: [cbModel, serverCb, t(ADM, "FM-42 an outbound circuit breaker opens after the peer's server-side errors; requests then fail at once with CircuitOpen until it half-opens")] },
  { id: "FM-42b", mode: "FM-42", description: "the failure rate never opens a circuit", file: "packages/faults/src/CircuitBreaker.ts", find: "if (policy.failureRate !== undefined && failures > 0 && failures / calls >= policy.failureRate) {", replace: "if (false) {", tests: [cbModel] },
  { id: "FM-42c", mode: "FM-42", description: "the slow-call rate never opens a circuit", file: "packages/faults/src/CircuitBreaker.ts", find: "if (policy.slowMs !== undefined && slowCalls > 0 && slowCalls / calls >= policy.slowRate) {", replace: "if (false) {", tests: [t(CB, "FM-42 slow calls open the circuit even when they succeed (TestClock)"), cbModel] },
  { id: "FM-42d", mode: "FM-42", description: "the engine ignores the outbound breaker", file: "packages/core/src/Protocol.ts", find: "const guardedRequest: Protocol[\"request\"] = outbound === undefined", replace: "const guardedRequest: Protocol[\"request\"] = true", tests: [t(ADM, "FM-42 an outbound circuit breaker opens after the peer's server-side errors; requests then fail at once with CircuitOpen until it half-opens")] },
  { id: "FM-42e", mode: "FM-42", description: "the server's tool calls bypass the breaker", file: "packages/server/src/McpServer.ts", find: "if (breakerPolicy(tool) === undefined && !forced.has(tool) && bounded === call) return call", replace: "return call", tests: [serverCb] },

  // FM-43 Timer process crash
  { id: "FM-43a", mode: "FM-43", description: "the runtime's periodic members are not restarted after a crash", file: "packages/runtime/src/internal/member.ts", find: "  restart: \"permanent\",\n  shutdown: 1_000,\n  start: Effect.repeat(task, Schedule.spaced(interval))", replace: "  restart: \"temporary\",\n  shutdown: 1_000,\n  start: Effect.repeat(task, Schedule.spaced(interval))", tests: [tickFails, samplerKilled, sweeperKilled] },
  { id: "FM-43b", mode: "FM-43", description: "a raw setTimeout in the runtime", file: "packages/runtime/src/Registry.ts", find: "const timeouts = Metric.counter(", replace: "export const timer = () => setTimeout(() => {}, 0)\nconst timeouts = Metric.counter(", tests: [noRawTimers] },

  // FM-44 Monitoring process crash
  { id: "FM-44a", mode: "FM-44", description: "the observability tier is one_for_all (a crashed sampler restarts every member)", file: "packages/runtime/src/Tiers.ts", find: "makeTier(\"observability\", { strategy: \"one_for_one\" }", replace: "makeTier(\"observability\", { strategy: \"one_for_all\" }", tests: [t(BLAST, "tier 5: a crashed resource sampler restarts alone; admission keeps answering from the last status")] },
  { id: "FM-44b", mode: "FM-44", description: "tier 5 does not heal itself: its failures reach the root", ...NO_SELF_HEALING, tests: [flapping] },

  // FM-45 Connection pool starvation
  { id: "FM-45a", mode: "FM-45", description: "a queued call waits without a time limit", file: "packages/faults/src/Bulkhead.ts", find: "Effect.timeoutOption(Deferred.await(waiter.deferred), Duration.millis(timeoutMs))", replace: "Effect.timeoutOption(Deferred.await(waiter.deferred), Duration.infinity)", tests: [t(BULK, "FM-45 bounded concurrency, a FIFO queue bounded in length and in time: every call starts, or is refused, exactly when the model says (property, TestClock)"), overload45] },
  { id: "FM-45b", mode: "FM-45", description: "cheap requests (ping, lists) queue in the bulkhead too", file: "packages/server/src/McpServer.ts", find: "if ((serverBulkhead === undefined && toolBulkheads.size === 0) || !handlerMethods.has(request.method)) return noBulkheads", replace: "if (serverBulkhead === undefined && toolBulkheads.size === 0) return noBulkheads", tests: [overload45] },
  { id: "FM-45c", mode: "FM-45", description: "a bulkhead does not bound concurrency", file: "packages/faults/src/Bulkhead.ts", find: "if (active < maxConcurrent && queue.size === 0) {", replace: "if (true) {", tests: [t(BULK, "FM-45 bounded concurrency, a FIFO queue bounded in length and in time: every call starts, or is refused, exactly when the model says (property, TestClock)")] },

  // FM-46 Message explosion
  { id: "FM-46a", mode: "FM-46", description: "a limiter never refuses (the bucket's verdict is ignored)", file: "packages/faults/src/RateLimit.ts", find: "exceeded === undefined ? Effect.void : Effect.andThen(Metric.update(limited$, 1), Effect.fail(exceeded))", replace: "Effect.void", tests: [t(RL, "FM-46 a token bucket per client: admitted exactly while the client's bucket has a token, refilled one token per window/limit, keys independent; after retryAfterMs the next request is admitted (property, TestClock)"), t(ISO, "FM-46 past the rate limit requests are refused with a retry hint, then admitted again"), overload46] },
  { id: "FM-46b", mode: "FM-46", description: "the engine ignores its connection's rate limit", file: "packages/core/src/Protocol.ts", find: "const own = limiter === undefined ? Effect.void : limiter.consume(\"connection\")", replace: "const own = Effect.void", tests: [t(ISO, "FM-46 past the rate limit requests are refused with a retry hint, then admitted again")] },
  { id: "FM-46c", mode: "FM-46", description: "per: client is keyed by connection (a client escapes its limit with more connections)", file: "packages/server/src/McpServer.ts", find: "return current.consume(name === undefined ? connectionKey : `client:${name}`)", replace: "return current.consume(connectionKey)", tests: [overload46] },
  { id: "FM-46d", mode: "FM-46", description: "no size check while a line is still arriving", ...STREAM_GUARD, tests: [oversize] },

  // FM-47 Protocol violation
  { id: "FM-47a", mode: "FM-47", description: "the envelope is not validated (any JSON value is a message)", file: "packages/jsonrpc/src/JsonRpcCodec.ts", find: "return message instanceof InvalidMessage ? Result.fail(message) : Result.succeed(message)", replace: "return Result.succeed(value as JsonRpc.Message)", tests: [t(CODEC, "FM-47 invalid JSON-RPC becomes -32600 with the id"), t(CODEC, "arbitrary bytes never throw and always give messages or typed errors (property)")] },
  { id: "FM-47b", mode: "FM-47", description: "the jsonrpc version is not checked", file: "packages/jsonrpc/src/JsonRpcCodec.ts", find: "if (v.jsonrpc !== \"2.0\") return invalid(", replace: "if (false) return invalid(", tests: [t(CODEC, "FM-47 invalid JSON-RPC becomes -32600 with the id"), t(CODEC, "arbitrary bytes never throw and always give messages or typed errors (property)")] },

  // FM-48 Backpressure signal lost (partial)
  { id: "FM-48a", mode: "FM-48", description: "writers never wait for a drain", ...NO_DRAIN_WAIT, tests: [stdioBackpressure] },

  // FM-49 One handler crash → cascade
  { id: "FM-49a", mode: "FM-49", description: "a handler's defect escapes its fiber (no answer)", ...DEFECTS_ESCAPE, tests: [crashingProp, t(KIT, "FM-49 a handler that dies or hangs affects its own tool only, on every session")] },
  { id: "FM-49b", mode: "FM-49", description: "handlers run inline on the connection's reader, not in their own fibers", file: "packages/core/src/Protocol.ts", find: "        Effect.forkIn(scope, { startImmediately: true }),\n        Effect.map((fiber) => {", replace: "        Effect.exit,\n        Effect.map((fiber: any) => {", tests: [crashingProp, t(KIT, "FM-49 a handler that dies or hangs affects its own tool only, on every session")] },

  // FM-50 Deserialization failure
  { id: "FM-50a", mode: "FM-50", description: "UTF-8 decoding is not strict (invalid bytes become U+FFFD)", file: "packages/jsonrpc/src/JsonRpcCodec.ts", find: "const utf8 = new TextDecoder(\"utf-8\", { fatal: true, ignoreBOM: true })", replace: "const utf8 = new TextDecoder(\"utf-8\", { fatal: false, ignoreBOM: true })", tests: [t(CODEC, "FM-50 invalid UTF-8 is a typed error")] },

  // FM-51 Response mismatch
  { id: "FM-51a", mode: "FM-51", description: "ids are matched loosely (\"0\" answers 0)", file: "packages/core/src/Protocol.ts", find: "const entry = response.id === null ? undefined : pending.get(response.id)", replace: "const entry = response.id === null ? undefined : pending.get(response.id) ?? pending.get(Number(response.id))", tests: [unknownId] },
  { id: "FM-51b", mode: "FM-51", description: "an unknown id is dropped without a record", file: "packages/core/src/Protocol.ts", find: "if (entry === undefined) return record(new UnknownResponseId({ id: response.id }))", replace: "if (entry === undefined) return Effect.void", tests: [unknownId] },

  // FM-52 Session data loss
  { id: "FM-52a", mode: "FM-52", description: "Last-Event-ID replays nothing", ...NO_REPLAY, tests: [t(HTTP, "the GET stream carries server-initiated messages and replays what was sent while it was down"), replay1699] },
  { id: "FM-52b", mode: "FM-52", description: "a session the listener holds no connection for is never rebuilt (404)", file: "packages/transports/src/StreamableHttpServer.ts", find: "if (!restorable) return k(undefined)", replace: "if (true as boolean) return k(undefined)", tests: [listenerCrash, snapshotRestart, sdkRestart, t(RESTORE, "FM-52 the session of a crashed server is rebuilt at its client's next request: same session id, no 404, its set-up replayed in order to a new server, the replayed answers never reach the client")] },
  { id: "FM-52c", mode: "FM-52", description: "a rebuilt session's set-up is not replayed to its new server", file: "packages/transports/src/StreamableHttpServer.ts", find: "for (const message of setup.messages) {", replace: "for (const message of setup.messages.slice(setup.messages.length)) {", tests: [listenerCrash, snapshotRestart, t(RESTORE, "FM-52 the session of a crashed server is rebuilt at its client's next request: same session id, no 404, its set-up replayed in order to a new server, the replayed answers never reach the client")] },
  { id: "FM-52d", mode: "FM-52", description: "a listener that stops ends its sessions in the store", file: "packages/transports/src/StreamableHttpServer.ts", find: "endSession(session, \"the server is shutting down\", false, keepable(session))", replace: "endSession(session, \"the server is shutting down\")", tests: [listenerCrash, snapshotRestart] },
  { id: "FM-52e", mode: "FM-52", description: "a GET resumed from the old connection's stream is not the new connection's GET stream", file: "packages/transports/src/StreamableHttpServer.ts", find: "if (stream === undefined && streamId.startsWith(\"g-\") && ", replace: "if (false as boolean && stream === undefined && streamId.startsWith(\"g-\") && ", tests: [listenerCrash, t(RESTORE, "FM-52 a GET resumed with the Last-Event-ID of the crashed connection's GET stream gets what was kept for it, then the new connection's messages")] },
  { id: "FM-52f", mode: "FM-52", description: "the session snapshot is never written", file: "packages/runtime/src/SessionManager.ts", find: "if (!dirty) return Effect.void", replace: "if (true as boolean) return Effect.void", tests: [snapshotRestart, sdkRestart, t(SNAP, "FM-52 sessions with a state outlive the table: written to the snapshot within its interval and read back by a new table"), t(SNAP, "FM-52 the last changes are written when the table stops")] },
  { id: "FM-52g", mode: "FM-52", description: "the session snapshot is not read back at start", file: "packages/runtime/src/SessionManager.ts", find: "for (const { id, openedAt, state } of restored.slice(-maxSessions)) {", replace: "for (const { id, openedAt, state } of restored.slice(restored.length)) {", tests: [snapshotRestart, sdkRestart, t(SNAP, "FM-52 sessions with a state outlive the table: written to the snapshot within its interval and read back by a new table")] },
  { id: "FM-52h", mode: "FM-52", description: "the session of a crashed server ends with it", file: "packages/transports/src/StreamableHttpServer.ts", find: "endSession(session, \"the server of the session crashed\", false, keepable(session))", replace: "endSession(session, \"the server of the session crashed\")", tests: [t(RESTORE, "FM-52 the session of a crashed server is rebuilt at its client's next request: same session id, no 404, its set-up replayed in order to a new server, the replayed answers never reach the client"), t(RESTORE, "FM-52 a GET resumed with the Last-Event-ID of the crashed connection's GET stream gets what was kept for it, then the new connection's messages")] },
  { id: "FM-52i", mode: "FM-52", description: "requests during a rebuild reach the new server before its set-up", file: "packages/transports/src/StreamableHttpServer.ts", find: "      const waiting = restoring.get(id)\n      if (waiting !== undefined) return void waiting.push(k)\n      const live = sessions.get(id)\n      if (live !== undefined && !live.ended) return k(live)\n", replace: "      const live = sessions.get(id)\n      if (live !== undefined && !live.ended) return k(live)\n      const waiting = restoring.get(id)\n      if (waiting !== undefined) return void waiting.push(k)\n", tests: [t(RESTORE, "FM-52 concurrent requests during a rebuild wait for one rebuild and are all answered")] },
  { id: "FM-52j", mode: "FM-52", description: "a rebuilt session gets a new, empty event store", file: "packages/transports/src/StreamableHttpServer.ts", find: "options.eventStores ?? ownStore", replace: "options.eventStores ?? ((_id: string) => EventStore.make({}))", tests: [t(RESTORE, "FM-52 a GET resumed with the Last-Event-ID of the crashed connection's GET stream gets what was kept for it, then the new connection's messages")] },
  { id: "FM-52k", mode: "FM-52", description: "a snapshot write that failed is not tried again", file: "packages/runtime/src/SessionManager.ts", find: "}).pipe(Effect.tapError(() => Effect.sync(() => void (dirty = true))))", replace: "})", tests: [t(SNAP, "FM-52 a snapshot that cannot be written is a SnapshotFailed and is tried again; the table goes on")] },
  { id: "FM-52l", mode: "FM-52", description: "tier 3 closes the connection of a crashed server (its session ends)", file: "packages/runtime/src/Tiers.ts", find: "Exit.isFailure(exit) && transport.abandon !== undefined ? transport.abandon : transport.close,", replace: "transport.close,", tests: [t("packages/runtime/test/Wiring.test.ts", "each connection is a tier-3 server; a crashed one loses its connection only, and its session gets a new server at the next request (FM-52); a crashed listener comes back on its port")] }
]
