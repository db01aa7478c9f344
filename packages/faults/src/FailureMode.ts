/**
 * The FMEA catalogue as data: all 52 failure modes of the design's FMEA (`design/fmea.md`), each with its
 * scores, the mitigation the design wants, what effect-mcp does about it, its status, the typed errors that
 * carry it and the tests that prove it.
 *
 * Every typed error in effect-mcp has a `mode` field fixed by its class (`FrameTooLarge` is always `"FM-01"`);
 * `modeOf` turns any such error back into its catalogue entry, for logs, metrics and reports.
 *
 * @since 0.1.0
 */

/** A failure mode's id: `FM-` and its two-digit row number in the FMEA. */
export type ModeId =
  "FM-01" | "FM-02" | "FM-03" | "FM-04" | "FM-05" | "FM-06" | "FM-07" | "FM-08" | "FM-09" | "FM-10" | "FM-11" | "FM-12" | "FM-13" | "FM-14" | "FM-15" | "FM-16" | "FM-17" | "FM-18" | "FM-19" | "FM-20" | "FM-21" | "FM-22" | "FM-23" | "FM-24" | "FM-25" | "FM-26" | "FM-27" | "FM-28" | "FM-29" | "FM-30" | "FM-31" | "FM-32" | "FM-33" | "FM-34" | "FM-35" | "FM-36" | "FM-37" | "FM-38" | "FM-39" | "FM-40" | "FM-41" | "FM-42" | "FM-43" | "FM-44" | "FM-45" | "FM-46" | "FM-47" | "FM-48" | "FM-49" | "FM-50" | "FM-51" | "FM-52"

/** The FMEA's failure categories. */
export type Category = "Cascading" | "Data" | "Network" | "Process" | "Resource"

/** The priority the FMEA assigns (as written in its table). */
export type Priority = "HIGH" | "LOW" | "MEDIUM" | "URGENT"

/**
 * Where effect-mcp stands on a mode: `mitigated` (built, with typed errors and tests), `partial` (some of the
 * mitigation is built), `planned` (not built yet; `mitigation` says what will be).
 */
export type Status = "mitigated" | "partial" | "planned"

/** A test that proves a mitigation: the file and the exact test name. */
export interface TestRef {
  readonly file: string
  readonly name: string
}

/** One failure mode. */
export interface FailureMode {
  readonly id: ModeId
  readonly number: number
  readonly name: string
  readonly category: Category
  /** Severity, 1–10. */
  readonly severity: number
  /** Occurrence, 1–10. */
  readonly occurrence: number
  /** Detection (10 = hardest to detect), 1–10. */
  readonly detection: number
  /** Risk priority number, computed: severity × occurrence × detection. */
  readonly rpn: number
  /** The RPN as printed in the FMEA table (a test checks it equals `rpn`). */
  readonly documentedRpn: number
  readonly priority: Priority
  /** The reference system's mitigation, as the FMEA describes it. */
  readonly documentedMitigation: string
  /** The gap the FMEA names. */
  readonly gap: string
  /** The mitigation the FMEA recommends. */
  readonly mitigationWanted: string
  /** What effect-mcp does (or, for modes not yet mitigated, will do). */
  readonly mitigation: string
  readonly status: Status
  /** The typed error classes that carry this mode. */
  readonly errors: ReadonlyArray<string>
  /** The modules that implement the mitigation. */
  readonly location: ReadonlyArray<string>
  /** The tests that prove it. */
  readonly tests: ReadonlyArray<TestRef>
}

type Details = Pick<
  FailureMode,
  "documentedMitigation" | "gap" | "mitigationWanted" | "mitigation" | "status" | "errors" | "location" | "tests"
>

const row = (
  number: number,
  name: string,
  category: Category,
  severity: number,
  occurrence: number,
  detection: number,
  documentedRpn: number,
  priority: Priority,
  details: Details
): FailureMode => ({
  id: `FM-${String(number).padStart(2, "0")}` as ModeId,
  number,
  name,
  category,
  severity,
  occurrence,
  detection,
  rpn: severity * occurrence * detection,
  documentedRpn,
  priority,
  ...details
})

/** All 52 modes, in FMEA row order. */
export const all: ReadonlyArray<FailureMode> = [
  row(1, "Message size limit bypass (stdio)", "Network", 7, 6, 8, 336, "URGENT", {
    documentedMitigation: "Max size check in transport",
    gap: "Not enforced before decode",
    mitigationWanted: "Enforce the maximum message size in the transport while reading, before any JSON decode; skip the rest of an oversize frame and report it.",
    mitigation: "NDJSON framing counts bytes while reading; past the limit (default 4 MiB) the rest of the line is skipped without buffering and FrameTooLarge names the limit.",
    status: "mitigated",
    errors: ["FrameTooLarge"],
    location: ["packages/jsonrpc/src/FrameDecoder.ts"],
    tests: [{ file: "packages/jsonrpc/test/FrameDecoder.test.ts", name: "FM-01 oversize frame is rejected before parsing" }, { file: "packages/jsonrpc/test/FrameDecoder.test.ts", name: "FM-01 a 1 GiB line with no newline leaves RSS bounded" }]
  }),
  row(2, "Supervisor restart cascades", "Cascading", 8, 5, 7, 280, "HIGH", {
    documentedMitigation: "Restart strategy configured",
    gap: "No isolated failure domains",
    mitigationWanted: "Implement multi-level supervision with isolation. Add gradual recovery (spread restarts over time). Implement connection draining phase.",
    mitigation: "Multi-level supervision with isolation: an OTP supervisor as data (permanent/transient/temporary; one_for_one, one_for_all, rest_for_one, simple_one_for_one with templates; inclusive intensity/period escalating with SupervisorEscalated; restart backoff applied after the affected siblings stop; shutdown times; every start, exit, restart and escalation an event, a counter and a log line) and the five tiers of packages/runtime on it, each its own failure domain, under a root that is one_for_one by default (rest_for_one by configuration); tier 5 heals itself and never spends the root's budget.",
    status: "mitigated",
    errors: ["SupervisorEscalated", "InvalidSpec", "SupervisorStopped", "TierUnavailable"],
    location: ["packages/faults/src/Supervisor.ts", "packages/runtime/src/Tiers.ts", "packages/runtime/src/Runtime.ts"],
    tests: [{ file: "packages/faults/test/Supervisor.test.ts", name: "FM-02 more than intensity restarts within period escalates: children stopped in reverse order, typed failure" }, { file: "packages/faults/test/Supervisor.test.ts", name: "a supervisor on the TestClock escalates at exactly the crash the model predicts, never before" }, { file: "packages/runtime/test/BlastRadius.test.ts", name: "tier 5 flapping never spends the root's intensity: tiers 1–4 are never touched" }, { file: "packages/runtime/test/BlastRadius.test.ts", name: "past the root's intensity the runtime stops: await fails with SupervisorEscalated and liveness is down" }]
  }),
  row(3, "Memory exhaustion under load", "Resource", 9, 4, 8, 288, "HIGH", {
    documentedMitigation: "GC tuning in vm.args",
    gap: "No proactive limits",
    mitigationWanted: "Implement memory monitors per major component. Add alerting at 70%, 85%, 95% memory usage. Implement emergency cleanup (drop idle connections).",
    mitigation: "A resource monitor (tier 5) samples heap and RSS against their limits on a Schedule, with levels at 70/85/95 % (elevated/high/critical, with hysteresis); from high new sessions are refused, at critical every request (LoadShed, HTTP 503 with Retry-After), and a sustained emergency drains the process. Everything that holds data is bounded (frames, queues, sessions, event stores, task stores, dedup keys).",
    status: "mitigated",
    errors: ["LoadShed"],
    location: ["packages/runtime/src/ResourceMonitor.ts", "packages/runtime/src/RecoveryManager.ts", "packages/transports/src/StreamableHttpServer.ts"],
    tests: [{ file: "packages/runtime/test/ResourceMonitor.test.ts", name: "FM-03 heap at 70/85/95 % is elevated/high/critical, sampled on the schedule; levels are published on change" }, { file: "packages/runtime/test/ResourceMonitor.test.ts", name: "admit sheds load: new sessions from high, everything at critical, with the mode of the resource that is short; CPU alone sheds nothing" }, { file: "packages/runtime/test/ResourceMonitor.test.ts", name: "critical for less than the grace does nothing; critical for the whole grace drains the process" }, { file: "packages/transports/test/StreamableHttp.test.ts", name: "admission control: a refused session or request gets 503 with Retry-After and -32010; admitted ones are served" }, { file: "packages/runtime/test/ResourceMonitor.test.ts", name: "FM-03 the grace is a sustained spell: a critical spell that ended does not drain when a later spell is critical at its deadline" }]
  }),
  row(4, "Process pool exhaustion", "Resource", 8, 5, 6, 240, "HIGH", {
    documentedMitigation: "Poolboy connection pool",
    gap: "No queue backpressure",
    mitigationWanted: "Implement queue backpressure (reject if queue > threshold). Add SLA-based request prioritization. Monitor queue length and overflow rate.",
    mitigation: "Bulkheads: bounded concurrency and a bounded FIFO queue per server (shared by every connection) and per tool; past the queue a call is refused at once with BulkheadFull and a retry hint (-32010 with data.retryAfterMs); occupancy and refusals are metrics.",
    status: "mitigated",
    errors: ["BulkheadFull"],
    location: ["packages/faults/src/Bulkhead.ts", "packages/core/src/Protocol.ts", "packages/server/src/McpServer.ts"],
    tests: [{ file: "packages/faults/test/Bulkhead.test.ts", name: "FM-04 past maxQueue a call is refused at once with BulkheadFull and a retry hint; FM-45 a queued call is refused after queueTimeout" }, { file: "packages/server/test/Overload.test.ts", name: "FM-04 a tool's own bulkhead refuses that tool only; the others keep the server's capacity" }]
  }),
  row(5, "ETS table overflow", "Resource", 7, 4, 7, 196, "MEDIUM", {
    documentedMitigation: "ETS table sizing",
    gap: "No monitoring/alerts",
    mitigationWanted: "Add ETS table size monitoring. Implement LRU eviction policy. Add table statistics collection.",
    mitigation: "Every table is bounded and reported: per-connection and server-wide task stores and the runtime's TaskManager refuse past their capacity (TaskLimitReached), sessions and event stores are capped with eviction, dedup keys are capped; tables report their depth to the resource monitor, which sheds load as a table fills (queue signals, FM-05).",
    status: "mitigated",
    errors: ["TaskLimitReached", "LoadShed"],
    location: ["packages/server/src/TaskStore.ts", "packages/runtime/src/TaskManager.ts", "packages/runtime/src/ResourceMonitor.ts"],
    tests: [{ file: "packages/runtime/test/TaskManager.test.ts", name: "FM-05 past maxTasks a task is refused" }, { file: "packages/runtime/test/ResourceMonitor.test.ts", name: "admit sheds load: new sessions from high, everything at critical, with the mode of the resource that is short; CPU alone sheds nothing" }]
  }),
  row(6, "Registry deadlock (gproc)", "Process", 9, 3, 8, 216, "HIGH", {
    documentedMitigation: "gproc built-in monitoring",
    gap: "No timeout protection",
    mitigationWanted: "Put a timeout on every registry call and detect lock-ups; fail fast with a typed error instead of blocking callers.",
    mitigation: "The registry (tier 1) never blocks its callers: every call has a timeout (RegistryTimeout), unregister never waits, a restart rebuilds the routes from their sources (a source that does not answer is skipped), and its health is a readiness check.",
    status: "mitigated",
    errors: ["RegistryTimeout"],
    location: ["packages/runtime/src/Registry.ts"],
    tests: [{ file: "packages/runtime/test/Registry.test.ts", name: "FM-06 every call has a timeout: while the table is down, calls fail with RegistryTimeout after callTimeout; unregister never waits" }, { file: "packages/runtime/test/BlastRadius.test.ts", name: "tier 1: the routing table restarts alone after 50 ms; a call made meanwhile waits and succeeds; routes with a source are rebuilt" }]
  }),
  row(7, "TCP socket timeout", "Network", 6, 7, 4, 168, "MEDIUM", {
    documentedMitigation: "5000ms timeout in client",
    gap: "No exponential backoff",
    mitigationWanted: "Retry with exponential backoff and jitter instead of a fixed timeout; make timeouts configurable.",
    mitigation: "Every client transport reconnects with the same policy: ReconnectingTransport (TCP, WebSocket, spawned stdio) and StreamableHttpClient's stream resumption use Backoff — exponential with full jitter, random(0, min(cap, base·2^n)), base 1 s, cap 16 s, reset after 30 s healthy; connection state is a Stream. Requests in flight when a connection drops fail at once (-32000, data.mode FM-07) or, carrying an idempotency key, are sent again — only within resendWithin (30 s) and never a request its caller cancelled. A connection lost during the server/discover probe fails the connect with NegotiationFailed, never a fall back to the legacy era. Requests time out (the timeout covers the send: a peer that stopped reading cannot hold a call) (60 s by default, reset on progress) and transient failures can be retried with a Schedule.",
    status: "mitigated",
    errors: ["TransportFailure", "ConnectionClosed", "RequestTimedOut", "NegotiationFailed"],
    location: ["packages/core/src/Backoff.ts", "packages/transports/src/ReconnectingTransport.ts", "packages/transports/src/StreamableHttpClient.ts"],
    tests: [{ file: "packages/core/test/Backoff.test.ts", name: "every delay is within [0, min(cap, base·2^n)) (property)" }, { file: "packages/transports/test/ReconnectingTransport.test.ts", name: "after a drop, the delays on the state stream stay under min(cap, base·2^n); the cap holds" }, { file: "packages/transports/test/ReconnectingTransport.test.ts", name: "a dropped connection fails plain requests at once, sends keyed ones again, and re-initializes" }, { file: "packages/transports/test/ReconnectingTransport.test.ts", name: "a keyed request its caller cancelled is not sent again on the next connection; a cancel while disconnected is dropped" }, { file: "packages/transports/test/ReconnectingTransport.test.ts", name: "a keyed request pending longer than resendWithin fails with -32000 / FM-07 instead of being sent again" }, { file: "packages/core/test/Protocol.test.ts", name: "FM-21 the timeout covers the send: a peer that stopped reading ends the call with RequestTimedOut in time" }, { file: "packages/client/test/Faults.test.ts", name: "FM-07 the connection lost during server/discover (-32000, data.mode FM-07) fails the connect with NegotiationFailed, never a legacy session" }]
  }),
  row(8, "JSON parse error on malformed input", "Network", 5, 6, 3, 90, "LOW", {
    documentedMitigation: "Jesse JSON schema validation",
    gap: "Incomplete error recovery",
    mitigationWanted: "Recover completely from malformed input: answer with a parse error and keep the connection serving.",
    mitigation: "MalformedJson is answered with -32700 and id null; the connection keeps serving.",
    status: "mitigated",
    errors: ["MalformedJson"],
    location: ["packages/jsonrpc/src/JsonRpcCodec.ts"],
    tests: [{ file: "packages/jsonrpc/test/JsonRpcCodec.test.ts", name: "FM-08 malformed JSON becomes -32700 with id null" }]
  }),
  row(9, "Connection leak on process crash", "Process", 8, 4, 7, 224, "HIGH", {
    documentedMitigation: "Supervisor cleanup",
    gap: "No explicit connection drain",
    mitigationWanted: "Release every connection's resources when its owner crashes (scoped resources, explicit drain).",
    mitigation: "Each connection's engine, handlers and pending requests live in one Scope; closing it, crash or not, interrupts the handlers and fails every pending request with ConnectionClosed. Socket listeners serve their accepted connections in fibers under the listener's scope: when a listener ends (crashed, its tier restarted, or stopped) all its connections close at once, then their tier-3 servers stop; in-flight requests fail typed at once, no socket stays open, and the listener listens again on its port after its backoff. A stdio server exits on stdin EOF, so a client killed with SIGKILL leaves no orphan.",
    status: "mitigated",
    errors: ["ConnectionClosed"],
    location: ["packages/core/src/Protocol.ts", "packages/transports/src/TcpTransport.ts", "packages/transports/src/WebSocketTransport.ts", "packages/transports/src/StdioServerTransport.ts", "packages/runtime/src/Tiers.ts"],
    tests: [{ file: "packages/core/test/Protocol.test.ts", name: "closing the connection fails every pending request at once with ConnectionClosed" }, { file: "packages/runtime/test/ConnectionLeak.test.ts", name: "FM-09 tcp: a crash of the listener closes every accepted connection (no socket left open), fails in-flight requests with ConnectionClosed, and the listener listens again on its port" }, { file: "packages/runtime/test/ConnectionLeak.test.ts", name: "FM-09 websocket: a crash of the whole transport tier closes every accepted connection (no socket left open), fails in-flight requests with ConnectionClosed, and the listener listens again on its port" }, { file: "packages/runtime/test/ConnectionLeak.test.ts", name: "FM-09 stdio: a server whose parent is killed with SIGKILL exits by itself on stdin EOF within seconds" }, { file: "packages/runtime/test/ConnectionLeak.test.ts", name: "FM-09 tcp: a crash of the whole transport tier closes every accepted connection (no socket left open), fails in-flight requests with ConnectionClosed, and the listener listens again on its port" }, { file: "packages/runtime/test/ConnectionLeak.test.ts", name: "FM-09 websocket: a crash of the listener closes every accepted connection (no socket left open), fails in-flight requests with ConnectionClosed, and the listener listens again on its port" }]
  }),
  row(10, "Duplicate message delivery (retries)", "Data", 6, 5, 8, 240, "HIGH", {
    documentedMitigation: "Request ID correlation",
    gap: "No idempotency guarantee",
    mitigationWanted: "Implement request deduplication cache. Require idempotency keys on all mutations. Add time-windowed cache (5-30 min).",
    mitigation: "A request whose id is already in flight is refused with id null (DuplicateRequestId; the original keeps its own answer) and the first continues; a tools/call carrying an idempotency key in _meta runs once per key (on any connection, within a TTL, bounded cache), detached from its caller within the tool's time bound: a retry after a cancel, an attempt timeout or a reset joins the running call and gets its outcome; input rounds (MRTR) do not pin an outcome. Settled outcomes live in an IdempotencyStore: in memory, or in an append-only journal whose claim is fsynced before the tool runs and which is reloaded at start, so a restarted server (after kill -9) answers a completed key with its stored outcome and a key the dead process claimed but never settled with -32012 (outcome unknown), never running it again (chaos kill -9 runs: 11 keys charged twice before, 0 after). Over HTTP a duplicated POST of a request in flight gets 409 with the same duplicate error and cannot take the first POST's response.",
    status: "mitigated",
    errors: ["DuplicateRequestId"],
    location: ["packages/core/src/Protocol.ts", "packages/server/src/McpServer.ts", "packages/server/src/IdempotencyStore.ts", "packages/transports/src/StreamableHttpServer.ts", "packages/runtime/src/DedupCache.ts"],
    tests: [{ file: "packages/core/test/Protocol.test.ts", name: "FM-10 a duplicate in-flight request id is refused with id null (the original's answer stays its own)" }, { file: "packages/server/test/Idempotency.test.ts", name: "FM-10 a retried call with the same idempotency key runs once, on any connection" }, { file: "packages/server/test/Idempotency.test.ts", name: "FM-10 a keyed call cancelled after its side effect is joined by the retry, not run again" }, { file: "packages/runtime/test/DedupCache.test.ts", name: "FM-10 runs once per key within the TTL; concurrent callers join the running one; failures are pinned too" }, { file: "packages/server/test/IdempotencyStore.test.ts", name: "FM-10 a server killed with -9 right after a side effect: the restarted server does not run the key again" }, { file: "packages/server/test/IdempotencyStore.test.ts", name: "FM-10 a keyed call begun and never completed by a dead server is not run again: the retry gets -32012" }, { file: "packages/server/test/IdempotencyStore.test.ts", name: "FM-10 a restarted server answers a completed key with the stored result or error, without running it" }, { file: "packages/transports/test/StreamableHttpFaults.test.ts", name: "FM-10 a duplicated POST of a request in flight gets the duplicate error (409); the first POST gets its result; the handler ran once" }]
  }),
  row(11, "Out-of-order delivery (async)", "Data", 5, 6, 7, 210, "MEDIUM", {
    documentedMitigation: "Message sequencing",
    gap: "No ordering guarantee",
    mitigationWanted: "Add optional sequence numbers to notifications. Implement notification buffering if ordering needed. Add ordering tests.",
    mitigation: "Order does not matter to correctness: the engine correlates every answer by its exact id (never by position), notifications carry their own context (progress tokens, request ids), and each request runs in its own fiber; tested with reordered frames on the testing kit.",
    status: "mitigated",
    errors: ["UnknownResponseId"],
    location: ["packages/core/src/Protocol.ts"],
    tests: [{ file: "test/fault-modes.test.ts", name: "FM-27 out-of-order packets: every call answered or a typed error, no duplicate side effect, nothing left behind" }, { file: "packages/core/test/Protocol.test.ts", name: "FM-51 a response with an unknown id is recorded and dropped" }]
  }),
  row(12, "Message corruption (bit flip)", "Data", 10, 2, 8, 160, "MEDIUM", {
    documentedMitigation: "Binary protocols",
    gap: "No checksums",
    mitigationWanted: "Add optional message checksums. Implement message signing (HMAC). Add corruption detection tests.",
    mitigation: "Over TLS every record carries an authentication tag: a byte flipped on the wire fails the check on the side that receives it and the connection fails with TlsFailure mode FM-12 (bad record MAC, retryable) before any byte of the record reaches the codec; ReconnectingTransport reconnects and the next call is answered. Without TLS, a corrupted frame that no longer parses or validates is a typed decode error (MalformedJson, InvalidUtf8, InvalidMessage) answered with a JSON-RPC error while the connection keeps serving, and every call still ends answered or with a typed error (property-tested under bit flips); MRTR request state is sealed with HMAC-SHA256. A flip that yields another valid message is undetectable only on a plaintext transport, which is why network deployments should use TLS (the JSON-RPC wire has no checksum field, and one only effect-mcp peers understood would not interoperate).",
    status: "mitigated",
    errors: ["TlsFailure"],
    location: ["packages/core/src/Transport.ts", "packages/transports/src/TcpTransport.ts", "packages/transports/src/WebSocketTransport.ts", "packages/jsonrpc/src/JsonRpcCodec.ts", "packages/server/src/internal/requestState.ts"],
    tests: [{ file: "packages/transports/test/Tls.test.ts", name: "FM-12 a flipped bit in a TLS record fails the connection with TlsFailure (bad record MAC); nothing corrupted is delivered" }, { file: "packages/transports/test/Tls.test.ts", name: "FM-12 after a flipped bit kills the TLS connection, the reconnecting client reconnects and the next call is answered" }, { file: "packages/transports/test/Tls.test.ts", name: "FM-12 wss: a flipped bit in a TLS record ends the connection with TlsFailure mode FM-12; nothing corrupted is delivered" }, { file: "test/fault-modes.test.ts", name: "FM-12 message corruption: every call answered or a typed error, no duplicate side effect, nothing left behind" }, { file: "packages/core/test/Protocol.test.ts", name: "malformed frames get -32700 with id null and the connection continues" }]
  }),
  row(13, "Network partition split-brain", "Cascading", 10, 2, 9, 180, "MEDIUM", {
    documentedMitigation: "Registry nodes separate",
    gap: "No split-brain detection",
    mitigationWanted: "Implement witness node for quorum (3-node minimum). Add timestamp-based conflict resolution. Implement read-your-writes consistency.",
    mitigation: "Split-brain is designed out: no state is replicated between nodes, every piece of state has exactly one owner (docs/deployment.md lists them), so a partition makes state unreachable but never lets two copies diverge — the CP choice. The 2026-07-28 era is stateless (each request carries its version, capabilities and HMAC-sealed requestState, valid on any node sharing the secret); a 2025-era request that reaches a node not owning its session gets 404 and the client initializes again rather than acting on stale state; tasks and keyed-call outcomes are answered only by their owner (elsewhere: not found, typed). Under a one-way partition every call still ends answered or with a typed error (property-tested). Quorum and witness nodes belong to a replicated registry, which effect-mcp deliberately does not have.",
    status: "mitigated",
    errors: [],
    location: ["packages/transports/src/StreamableHttpServer.ts", "packages/transports/src/StreamableHttpClient.ts", "packages/server/src/McpServer.ts", "docs/deployment.md"],
    tests: [{ file: "packages/transports/test/StreamableHttp.test.ts", name: "sessions: minted ids, 404 for unknown, DELETE ends one, idle ones expire and are freed" }, { file: "packages/transports/test/StreamableHttp.test.ts", name: "the client re-initializes when its session expires (404) and carries on" }, { file: "test/fault-modes.test.ts", name: "FM-13 one-way network partition: every call answered or a typed error, no duplicate side effect, nothing left behind" }]
  }),
  row(14, "Circuit breaker stuck open", "Cascading", 8, 3, 9, 216, "HIGH", {
    documentedMitigation: "gun library retry logic",
    gap: "No manual override",
    mitigationWanted: "Implement explicit circuit breaker module. Add automatic half-open timeout (e.g., 30s). Implement test request in half-open state.",
    mitigation: "Circuit breakers cannot stay stuck: an open circuit half-opens by itself after openDuration (no call needed), lets a bounded number of probes through, closes only when they succeed; operators can reset a circuit or force it open (server.breaker(tool)); the state is a gauge and every transition a log line and a counter.",
    status: "mitigated",
    errors: ["CircuitOpen"],
    location: ["packages/faults/src/CircuitBreaker.ts", "packages/server/src/McpServer.ts"],
    tests: [{ file: "packages/faults/test/CircuitBreaker.test.ts", name: "FM-14 an open circuit half-opens by itself after openDuration, with no call arriving (TestClock)" }, { file: "packages/faults/test/CircuitBreaker.test.ts", name: "FM-14 at most halfOpenProbes probes run at once; all must succeed to close, one failure reopens" }, { file: "packages/faults/test/CircuitBreaker.test.ts", name: "FM-14 manual override: forceOpen refuses every call until reset; reset closes an open circuit at once" }, { file: "packages/server/test/CircuitBreaker.test.ts", name: "FM-14 server.breaker(tool): forceOpen refuses the tool on every connection until reset; reset closes a circuit stuck open at once; its state is a metric" }]
  }),
  row(15, "Backpressure lost", "Cascading", 7, 5, 8, 280, "HIGH", {
    documentedMitigation: "ranch backpressure",
    gap: "No monitoring signals",
    mitigationWanted: "Monitor socket queue depth explicitly. Implement explicit backpressure signal. Add metrics on backpressure frequency.",
    mitigation: "Every transport respects backpressure both ways and bounds what waits: stdio, TCP and WebSocket writers wait for drain with one persistent listener; reading pauses while the consumer is slow (nothing piles up); past maxBufferedBytes of unsent bytes (16 MiB by default) or a send stalled for stallTimeout (30 s) the peer is disconnected with a typed TransportFailure naming FM-15; Streamable HTTP SSE sends wait for the response to drain (one listener per response) and a response that stalls for stallTimeout (30 s) or lets more than maxBufferedBytes wait is cut, failing the send with TransportFailure naming FM-15 (the client resumes with Last-Event-ID); each session's inbox is bounded (503 with Retry-After).",
    status: "mitigated",
    errors: ["TransportFailure"],
    location: ["packages/transports/src/internal/writer.ts", "packages/transports/src/TcpTransport.ts", "packages/transports/src/WebSocketTransport.ts", "packages/transports/src/StreamableHttpServer.ts"],
    tests: [{ file: "packages/transports/test/Stdio.test.ts", name: "stdio client: backpressure on a slow reader loses nothing" }, { file: "packages/transports/test/Tcp.test.ts", name: "FM-15 reading pauses while the consumer is slow: the peer's writes stall, nothing piles up, nothing is lost" }, { file: "packages/transports/test/Tcp.test.ts", name: "FM-15 a reader that never reads is disconnected once maxBufferedBytes wait for it (typed TransportFailure)" }, { file: "packages/transports/test/Tcp.test.ts", name: "FM-15 a send that waits stallTimeout for a peer that reads nothing disconnects it (TestClock)" }, { file: "packages/transports/test/WebSocket.test.ts", name: "FM-15 a reader that does not read is terminated once bufferedAmount passes maxBufferedBytes (typed TransportFailure)" }, { file: "packages/transports/test/Backpressure.test.ts", name: "Streamable HTTP: a reader that stops for good holds the sends, is cut after stallTimeout with TransportFailure (FM-15), and resumes with Last-Event-ID without a gap (TestClock)" }, { file: "packages/transports/test/Backpressure.test.ts", name: "Streamable HTTP: sends that pile up on a reader that stopped are cut at maxBufferedBytes with TransportFailure (FM-15); the session goes on" }]
  }),
  row(16, "Handler crash cascade", "Cascading", 8, 4, 6, 192, "MEDIUM", {
    documentedMitigation: "Supervisor restarts",
    gap: "No isolation per handler",
    mitigationWanted: "Implement handler-level circuit breaker. Add pattern detection (crash patterns). Isolate handler per request.",
    mitigation: "Each request runs in its own fiber, forked in the connection's scope and keyed by request id; a failure becomes a safe -32603, is recorded with its mode, and affects nothing else.",
    status: "mitigated",
    errors: ["HandlerError", "HandlerDefect"],
    location: ["packages/core/src/Protocol.ts"],
    tests: [{ file: "packages/core/test/Isolation.test.ts", name: "FM-16 a failing handler does not affect other requests" }]
  }),
  row(17, "Rate limiter crash (Gap #1.9)", "Process", 8, 3, 7, 168, "MEDIUM", {
    documentedMitigation: "Rate limiter module exists",
    gap: "No bypass circuit breaker",
    mitigationWanted: "Implement fail-open mode (allow traffic if limiter down). Add health checks on limiter process. Implement secondary rate limiter.",
    mitigation: "A failing rate limiter has a policy: fail open (admit, the default) or fail closed (LimiterUnavailable, -32011, with the remaining cooldown); after repeated failures the store is bypassed for a cooldown and then probed; a store that does not answer in time counts as failed; its health is a gauge.",
    status: "mitigated",
    errors: ["LimiterUnavailable"],
    location: ["packages/faults/src/RateLimit.ts", "packages/core/src/Protocol.ts"],
    tests: [{ file: "packages/faults/test/RateLimit.test.ts", name: "FM-17 a failing limiter fails open by policy: requests are admitted, the store is bypassed after repeated failures, and a probe after the cooldown restores the limit" }, { file: "packages/faults/test/RateLimit.test.ts", name: "FM-17 a failing limiter fails closed by policy: requests are refused with LimiterUnavailable and the remaining cooldown" }, { file: "packages/server/test/Overload.test.ts", name: "FM-17 when the rate limiter's store fails, the server fails open or closed as configured" }]
  }),
  row(18, "Auth service timeout", "Cascading", 7, 4, 8, 224, "HIGH", {
    documentedMitigation: "OAuth timeout config",
    gap: "No fallback auth",
    mitigationWanted: "Implement auth result caching (5 min TTL). Add circuit breaker for auth service. Implement fallback auth (basic auth, certs).",
    mitigation: "Every exchange with an authorization endpoint (protected resource metadata, server metadata, registration, token, enterprise identity provider) has a timeout (requestTimeout, default 10 s: AuthServerTimeout) and goes through a circuit breaker per authorization server (keyed by issuer; 3 failures in a row open it for 30 s; timeouts, unreachable endpoints and HTTP 5xx count); an open circuit fails at once with AuthServerUnavailable and retryAfterMs. Results are cached: discovery documents for 5 minutes (a 401 for a held token re-reads the resource metadata), and the access token itself, which is used without contacting the authorization server while it is valid and kept in use when a refresh fails because the server is slow or down; once expired, the refresh reports the FM-18 error and keeps the refresh token. The fallback is the cached token: MCP authorization is OAuth 2.1, so falling back to another scheme (basic auth, client certificates) is not something a client may choose; a server that accepts them says so in its own metadata.",
    status: "mitigated",
    errors: ["AuthServerTimeout", "AuthServerUnavailable", "EndpointUnreachable"],
    location: ["packages/client/src/OAuthClient.ts", "packages/faults/src/CircuitBreaker.ts"],
    tests: [{ file: "packages/client/test/AuthFaults.test.ts", name: "a token endpoint that hangs fails with AuthServerTimeout exactly at the configured timeout" }, { file: "packages/client/test/AuthFaults.test.ts", name: "repeated timeouts open the breaker: calls fail fast with AuthServerUnavailable and retryAfterMs; a probe after the open time closes it" }, { file: "packages/client/test/AuthFaults.test.ts", name: "while the server hangs a held token keeps being used; once it has expired the refresh reports AuthServerTimeout" }, { file: "packages/client/test/AuthFaults.test.ts", name: "discovery documents are reused for the TTL (5 minutes) and fetched again after it; a 401 for a held token re-reads the resource metadata" }]
  }),
  row(19, "Monitoring system down", "Process", 6, 2, 9, 108, "MEDIUM", {
    documentedMitigation: "health_monitor module",
    gap: "No fallback metrics",
    mitigationWanted: "Keep a fallback path for metrics when the monitoring system is down; never let monitoring failures affect serving.",
    mitigation: "Observability is its own failure domain (tier 5): it heals itself after a cooldown and never escalates, a resource sampler that stops answering leaves a stale status that admits everything (monitoring never blocks serving), and a health check that does not answer counts as failed instead of hanging the probe. OTLP export (Telemetry) hands batches to a bounded queue per signal and returns at once; one sender per signal posts them one at a time within an export timeout, never retrying; a full queue or a failed export drops the batch and counts it (mcp_telemetry_dropped_total, mcp_telemetry_export_failures_total), logged once when failures start and once when they end; a telemetry configuration that cannot be built leaves export off, never the process down. /metrics (Prometheus text) stays the fallback path when the collector is down. Through the application's own OpenTelemetry SDK (layerOpenTelemetry), each exporter is guarded the same way (export timeout, one export in flight, batches dropped and counted while it hangs) and span processors that throw never reach a request.",
    status: "mitigated",
    errors: ["ExportFailed", "BatchDropped"],
    location: ["packages/runtime/src/Tiers.ts", "packages/runtime/src/ResourceMonitor.ts", "packages/runtime/src/Health.ts", "packages/runtime/src/Telemetry.ts"],
    tests: [{ file: "packages/runtime/test/BlastRadius.test.ts", name: "tier 5 flapping never spends the root's intensity: tiers 1–4 are never touched" }, { file: "packages/runtime/test/ResourceMonitor.test.ts", name: "a sampler that stops answering leaves a stale status, and a stale status admits everything (tier 5 never blocks serving)" }, { file: "packages/runtime/test/Health.test.ts", name: "a check that does not answer within the check timeout counts as failed, not as a hung probe" }, { file: "packages/runtime/test/Telemetry.test.ts", name: "a hung collector under a burst of 10,000 spans: memory stays bounded (queue, one export in flight), every span accounted for" }, { file: "packages/runtime/test/Telemetry.test.ts", name: "a full queue drops new batches and counts their spans; one export at a time" }, { file: "packages/runtime/test/Telemetry.test.ts", name: "an export that gets no answer gives up after exportTimeout; its spans are counted as dropped" }, { file: "packages/runtime/test/Telemetry.test.ts", name: "exporters and a span processor that throw or fail neither break nor slow tool calls; the failures are counted" }, { file: "packages/runtime/test/Telemetry.test.ts", name: "an exporter that never answers: the export fails after exportTimeout, and batches are dropped while it hangs (one export in flight)" }]
  }),
  row(20, "Config reload failure", "Cascading", 7, 3, 8, 168, "MEDIUM", {
    documentedMitigation: "sys.config reload support",
    gap: "No rollback on error",
    mitigationWanted: "Implement pre-reload validation. Add automatic rollback on failure. Implement atomic reload (all-or-nothing).",
    mitigation: "Server configuration is a Schema: validated before it is applied (InvalidConfig lists every problem, nothing applied), reloaded atomically with server.reconfigure (one at a time, versioned, logged, counted), the previous configuration kept when a reload fails.",
    status: "mitigated",
    errors: ["InvalidConfig"],
    location: ["packages/server/src/ServerConfig.ts", "packages/server/src/McpServer.ts"],
    tests: [{ file: "packages/server/test/ServerConfig.test.ts", name: "FM-20 an invalid configuration is refused with every problem listed and nothing applied; a valid one applies to every connection at once" }, { file: "packages/server/test/ServerConfig.test.ts", name: "FM-20 reload is atomic: a configuration with one bad field changes nothing; reloads run one at a time, versioned, logged and counted" }, { file: "packages/server/test/ServerConfig.test.ts", name: "FM-20 any reload either applies exactly the validated configuration or leaves the previous one in force (property)" }, { file: "packages/server/test/ServerConfig.test.ts", name: "FM-20 a reload that fails while it is applied puts the previous configuration back whole, limits included" }, { file: "packages/server/test/ServerConfig.test.ts", name: "FM-20 reloads run one at a time: a reload waits while another is still being applied, and each gets its own version" }]
  }),
  row(21, "Connection timeout cascade", "Network", 7, 5, 7, 245, "HIGH", {
    documentedMitigation: "5000ms timeout + retry",
    gap: "No adaptive timeout",
    mitigationWanted: "Implement exponential backoff: 1s → 2s → 4s → 8s → 16s (max). Add adaptive timeouts based on historical latency (SLO tracking). Make timeout configurable per transport.",
    mitigation: "Every request has a timeout (default 60 s) that resets on progress, with an optional total bound, and is cancelled at the peer when it expires; a tool's bound can follow its observed latency (adaptive: p99 × factor within [min, max]); calls can be retried on transient failures with a Schedule (McpClient.defaultRetry: exponential from 100 ms, jittered, each delay ≤ 5 s, at most 5 retries), and an idempotency key makes the retries run the tool once.",
    status: "mitigated",
    errors: ["RequestTimedOut", "AdaptiveTimeoutExceeded"],
    location: ["packages/core/src/Protocol.ts", "packages/client/src/McpClient.ts", "packages/faults/src/AdaptiveTimeout.ts"],
    tests: [{ file: "packages/core/test/Protocol.test.ts", name: "FM-21 timeout resets on progress" }, { file: "packages/client/test/McpClient.test.ts", name: "FM-21 transient failures are retried with backoff; an idempotency key makes the retries run the tool once" }, { file: "test/fault-modes.test.ts", name: "FM-21 McpClient.defaultRetry gives up after 5 retries" }, { file: "packages/faults/test/AdaptiveTimeout.test.ts", name: "FM-21 every call is bounded by percentile × factor of the recent window within [min, max] (max while warming up); a call past it is interrupted and recorded at the bound (property, TestClock)" }, { file: "packages/server/test/Overload.test.ts", name: "FM-21 with adaptiveTimeout a tool's bound follows its latency: a hung call is answered with -32001 after p99 × factor, long before toolTimeout" }]
  }),
  row(22, "Packet loss (1%)", "Network", 5, 8, 4, 160, "MEDIUM", {
    documentedMitigation: "TCP retransmission",
    gap: "Application-level retries",
    mitigationWanted: "Add packet loss detection (track retransmit rate). Switch to UDP with application-level ACKs if TCP loss > 5%. Add per-message deduplication (idempotency keys).",
    mitigation: "A lost frame is found by the request's timeout (reset on progress) and the call is retried with backoff; with an idempotency key the retry runs the tool once. Property-tested under 1–5 % loss: every call answered or a typed error, no duplicate side effect, nothing left behind.",
    status: "mitigated",
    errors: ["RequestTimedOut"],
    location: ["packages/core/src/Protocol.ts", "packages/client/src/McpClient.ts"],
    tests: [{ file: "test/fault-modes.test.ts", name: "FM-22 packet loss (≤ 5%): every call answered or a typed error, no duplicate side effect, nothing left behind" }]
  }),
  row(23, "Packet loss (10%)", "Network", 7, 3, 5, 105, "MEDIUM", {
    documentedMitigation: "TCP retransmission",
    gap: "No detection",
    mitigationWanted: "Detect heavy packet loss (timeouts, retransmission signals) and surface it; retry at the application level.",
    mitigation: "As for FM-22, under 6–15 % loss: timeouts find the lost frames, keyed retries with backoff run each side effect once; property-tested.",
    status: "mitigated",
    errors: ["RequestTimedOut"],
    location: ["packages/core/src/Protocol.ts", "packages/client/src/McpClient.ts"],
    tests: [{ file: "test/fault-modes.test.ts", name: "FM-23 packet loss (10%): every call answered or a typed error, no duplicate side effect, nothing left behind" }]
  }),
  row(24, "High latency (100ms→1s)", "Network", 5, 6, 3, 90, "LOW", {
    documentedMitigation: "Client timeout handling",
    gap: "No SLO tracking",
    mitigationWanted: "Add latency metrics to observability. Implement p50/p95/p99 latency tracking. Add SLO-based alerting (e.g., p95 < 200ms).",
    mitigation: "Latency is tracked and bounds follow it: adaptive timeouts set a tool's bound to its observed p99 × factor within [min, max] (AdaptiveTimeoutExceeded past it), the observed percentile and the bound are gauges; request timeouts reset on progress, so slow-but-alive calls are not cut.",
    status: "mitigated",
    errors: ["AdaptiveTimeoutExceeded"],
    location: ["packages/faults/src/AdaptiveTimeout.ts", "packages/server/src/McpServer.ts"],
    tests: [{ file: "packages/faults/test/AdaptiveTimeout.test.ts", name: "FM-24 the bound and the observed percentile are gauges; each change of phase is a log line" }, { file: "packages/faults/test/AdaptiveTimeout.test.ts", name: "FM-21 the bound tightens around a fast tool, follows it when it slows down for good, and stops at max" }, { file: "packages/core/test/Protocol.test.ts", name: "FM-21 timeout resets on progress" }]
  }),
  row(25, "Persistent connection loss", "Network", 8, 4, 6, 192, "MEDIUM", {
    documentedMitigation: "auto_reconnect in client",
    gap: "No exponential backoff",
    mitigationWanted: "Implement exponential backoff with jitter: `delay = min(base * 2^attempts + random(0, base), max)`. Add maximum backoff (16s) to prevent slow recovery. Expose connection state via health_monitor.",
    mitigation: "ReconnectingTransport keeps a client connected through losses (full-jitter backoff, reset when healthy, give-up after maxAttempts observable on the state Stream) and replays the initialize handshake on each new connection, bounded by handshakeTimeout (10 s) and abandoned at once when that connection dies, with nothing else sent before the session is back; StreamableHttpClient re-initializes when the server lost its session (404) and resumes SSE streams with Last-Event-ID from the server's bounded per-session EventStore.",
    status: "mitigated",
    errors: ["ConnectionClosed", "TransportFailure"],
    location: ["packages/transports/src/ReconnectingTransport.ts", "packages/transports/src/StreamableHttpClient.ts", "packages/transports/src/EventStore.ts"],
    tests: [{ file: "packages/transports/test/ReconnectingTransport.test.ts", name: "retries a refused connection with full-jitter delays within the bounds, then connects" }, { file: "packages/transports/test/ReconnectingTransport.test.ts", name: "gives up after maxAttempts and says so on the state stream" }, { file: "packages/transports/test/StreamableHttp.test.ts", name: "the client re-initializes when its session expires (404) and carries on" }, { file: "packages/transports/test/StreamableHttp.test.ts", name: "a stream the server ends on purpose is resumed with Last-Event-ID and nothing is lost (SEP-1699)" }, { file: "test/fault-modes.test.ts", name: "FM-25 after an outage the client is back within one backoff bound of the network" }, { file: "packages/transports/test/ReconnectingTransport.test.ts", name: "a connection that dies during the replayed handshake is retried at once, not after the handshake timeout" }, { file: "packages/transports/test/ReconnectingTransport.test.ts", name: "a replayed handshake never answered: after handshakeTimeout the connection is closed and retried with backoff" }, { file: "packages/transports/test/ReconnectingTransport.test.ts", name: "a dropped connection fails plain requests at once, sends keyed ones again, and re-initializes" }]
  }),
  row(26, "Duplicate packets", "Network", 4, 5, 6, 120, "MEDIUM", {
    documentedMitigation: "TCP deduplication",
    gap: "No application tracking",
    mitigationWanted: "Implement request deduplication at erlmcp_server level. Require idempotency keys on all tool calls. Add time-limited cache of processed requests (5 min).",
    mitigation: "Duplicates do nothing twice: a request whose id is already in flight is refused with id null (the original keeps its own answer) and recorded; tool calls with an idempotency key run once across retries and connections; answers with unknown ids are dropped.",
    status: "mitigated",
    errors: ["DuplicateRequestId", "UnknownResponseId"],
    location: ["packages/core/src/Protocol.ts", "packages/server/src/McpServer.ts"],
    tests: [{ file: "test/fault-modes.test.ts", name: "FM-26 a duplicated request that arrives while the original is in flight does not fail the original call" }, { file: "packages/core/test/Protocol.test.ts", name: "FM-10 a duplicate in-flight request id is refused with id null (the original's answer stays its own)" }]
  }),
  row(27, "Out-of-order packets", "Network", 4, 7, 5, 140, "MEDIUM", {
    documentedMitigation: "TCP ordering",
    gap: "No application handling",
    mitigationWanted: "Add optional sequence numbers to notifications. Implement notification buffering if ordering needed. Add test cases for out-of-order message handling.",
    mitigation: "Answers are matched by exact id, never by order; a reordered stream of frames leaves every call correctly answered (property-tested with frames held and released out of order).",
    status: "mitigated",
    errors: ["UnknownResponseId"],
    location: ["packages/core/src/Protocol.ts"],
    tests: [{ file: "test/fault-modes.test.ts", name: "FM-27 out-of-order packets: every call answered or a typed error, no duplicate side effect, nothing left behind" }]
  }),
  row(28, "DNS resolution failure", "Network", 6, 3, 6, 108, "MEDIUM", {
    documentedMitigation: "gun DNS support",
    gap: "No DNS failover",
    mitigationWanted: "Implement DNS caching with TTL awareness. Add secondary DNS server support. Cache previous successful IPs (use on DNS failure).",
    mitigation: "Every client transport (TCP, WebSocket, Streamable HTTP) reports a host name that does not resolve as HostUnresolved, naming the host, port and resolver code (retryable for EAI_AGAIN), apart from refused connections (TransportFailure, FM-40); ReconnectingTransport retries it with full-jitter backoff (Disconnected with the reason and retryInMs) and reconnects once the name resolves. HostResolver.cachingLookup, a drop-in lookup for all of them, caches resolved names for a TTL and, when the resolver then fails, answers with the last good addresses for up to maxStale (stale-if-error). A second DNS server is the resolver's business (resolv.conf); the lookup option is where a custom one plugs in.",
    status: "mitigated",
    errors: ["HostUnresolved"],
    location: ["packages/core/src/Transport.ts", "packages/transports/src/HostResolver.ts", "packages/transports/src/TcpTransport.ts", "packages/transports/src/WebSocketTransport.ts", "packages/transports/src/StreamableHttpClient.ts", "packages/transports/src/ReconnectingTransport.ts"],
    tests: [{ file: "packages/transports/test/Dns.test.ts", name: "a name under .invalid: the TCP and WebSocket clients fail with HostUnresolved naming the host" }, { file: "packages/transports/test/Dns.test.ts", name: "EAI_AGAIN from the resolver is a retryable HostUnresolved; ENOTFOUND is not retryable" }, { file: "packages/transports/test/Dns.test.ts", name: "tcp: a name that never resolves: after maxAttempts the transport closes with the FM-28 reason (no crash)" }, { file: "packages/transports/test/Dns.test.ts", name: "the last good addresses answer while the resolver fails, within maxStale; after it, or for a name never resolved, the failure stands" }, { file: "packages/transports/test/Dns.test.ts", name: "a TCP client and a Streamable HTTP client reconnect through a resolver outage with cachingLookup; without it the HTTP send fails with HostUnresolved" }]
  }),
  row(29, "TLS handshake failure", "Network", 8, 2, 7, 112, "MEDIUM", {
    documentedMitigation: "gun/ranch TLS",
    gap: "No certificate validation",
    mitigationWanted: "Implement certificate pinning (public key + expiry). Add certificate expiry monitoring (warn at 30 days). Support certificate chain validation.",
    mitigation: "TCP, WebSocket and Streamable HTTP (https://) serve and connect over TLS (minVersion TLSv1.2; mutual TLS by option); the client verifies the certificate chain and name by default. A failed handshake is a typed TlsFailure naming OpenSSL's or Node's code (CERT_HAS_EXPIRED, ERR_TLS_CERT_ALTNAME_INVALID, DEPTH_ZERO_SELF_SIGNED_CERT, UNABLE_TO_VERIFY_LEAF_SIGNATURE, ERR_SSL_*), certificate and protocol failures marked not retryable; a handshake that does not finish within connectTimeout is TlsFailure ERR_TLS_HANDSHAKE_TIMEOUT. Servers count every failed handshake (tlsFailures) and log it with FM-29 and its code, never blocking the listener; a handshake holds a connection slot and is dropped after handshakeTimeout (10 s, on Effect's Clock): no TLS-level slowloris. Streamable HTTP validates Host and Origin against allow-lists failing closed (403); TLS for it is terminated in front of it (a reverse proxy) or through Node's https server.",
    status: "mitigated",
    errors: ["TlsFailure", "TransportFailure"],
    location: ["packages/core/src/Transport.ts", "packages/transports/src/TcpTransport.ts", "packages/transports/src/WebSocketTransport.ts", "packages/transports/src/internal/httpGuard.ts", "packages/transports/src/StreamableHttpServer.ts", "packages/transports/src/StreamableHttpClient.ts"],
    tests: [{ file: "packages/transports/test/Tls.test.ts", name: "FM-29 an expired server certificate: connect fails with TlsFailure CERT_HAS_EXPIRED, not retryable" }, { file: "packages/transports/test/Tls.test.ts", name: "FM-29 a certificate for another name: connect fails with TlsFailure ERR_TLS_CERT_ALTNAME_INVALID" }, { file: "packages/transports/test/Tls.test.ts", name: "FM-29 mTLS: a client without a certificate, or with one from an unknown issuer, is refused and counted; a client with a good one is served throughout" }, { file: "packages/transports/test/Tls.test.ts", name: "FM-29 a plaintext client to a TLS server is refused and counted; the listener keeps serving" }, { file: "packages/transports/test/Tls.test.ts", name: "FM-29 a TLS slowloris (a handshake left hanging) holds a slot until handshakeTimeout, then is dropped and counted (TestClock)" }, { file: "packages/transports/test/Tls.test.ts", name: "FM-29 wss: expired, wrong-name and unknown-issuer certificates are typed TlsFailures" }, { file: "packages/transports/test/StreamableHttp.test.ts", name: "FM-29 Host and Origin are checked (403), failing closed for a non-loopback bind with no lists" }, { file: "packages/transports/test/Tls.test.ts", name: "FM-29 https: expired, wrong-name and unknown-issuer certificates fail the send with typed TlsFailures" }, { file: "packages/transports/test/Tls.test.ts", name: "FM-29 https mTLS: a client without a certificate is refused and counted; one with a good certificate is served" }, { file: "packages/transports/test/Tls.test.ts", name: "FM-29 https: a handshake left hanging is dropped after handshakeTimeout and counted (TestClock)" }]
  }),
  row(30, "Message fragmentation", "Network", 5, 4, 8, 160, "MEDIUM", {
    documentedMitigation: "Transport framing",
    gap: "No defragmentation",
    mitigationWanted: "Add framing layer above TCP, assemble fragments.",
    mitigation: "Frames are reassembled exactly from arbitrary chunks (byte-level framing before UTF-8 decoding); a stream that ends mid-frame gives TruncatedFrame.",
    status: "mitigated",
    errors: ["TruncatedFrame"],
    location: ["packages/jsonrpc/src/FrameDecoder.ts", "packages/jsonrpc/src/JsonRpcCodec.ts"],
    tests: [{ file: "packages/jsonrpc/test/FrameDecoder.test.ts", name: "FM-30 arbitrary chunkings decode identically" }, { file: "packages/jsonrpc/test/JsonRpcCodec.test.ts", name: "FM-30 input that ends inside a frame is TruncatedFrame; a complete unterminated frame is accepted" }]
  }),
  row(31, "Connection hang", "Network", 7, 3, 8, 168, "MEDIUM", {
    documentedMitigation: "Socket timeouts",
    gap: "No keep-alive probes",
    mitigationWanted: "Enable TCP_KEEPALIVE, add application-level heartbeats.",
    mitigation: "Hung peers are detected, not waited on: TCP keep-alive (30 s) plus an application heartbeat (a JSON-RPC probe every interval whose answer, result or error, proves the peer alive; `ping` works in both eras) and an idle timeout; WebSocket ping/pong with a deadline, both sides; Streamable HTTP header and body timeouts (408) and SSE keep-alive comments; every request has a timeout. A dropped peer gets a typed ConnectionClosed naming FM-31.",
    status: "mitigated",
    errors: ["ConnectionClosed"],
    location: ["packages/transports/src/internal/liveness.ts", "packages/transports/src/TcpTransport.ts", "packages/transports/src/WebSocketTransport.ts", "packages/transports/src/StreamableHttpServer.ts"],
    tests: [{ file: "packages/transports/test/Tcp.test.ts", name: "FM-31 heartbeat on Effect's Clock (TestClock): probes every interval; only the peer that misses the deadline is dropped" }, { file: "packages/transports/test/Tcp.test.ts", name: "FM-31 heartbeat: MCP peers answer the probe in both eras and never see it; a peer that does not answer is dropped" }, { file: "packages/transports/test/WebSocket.test.ts", name: "FM-31 ping/pong heartbeat: clients that pong stay; one that never pongs is terminated with a typed reason" }, { file: "packages/transports/test/StreamableHttp.test.ts", name: "a slowloris client (headers never finished, or a body trickled) is cut off; others are served meanwhile" }]
  }),
  row(32, "File descriptor exhaustion", "Resource", 9, 3, 8, 216, "HIGH", {
    documentedMitigation: "ulimit in docker",
    gap: "No monitoring",
    mitigationWanted: "Add FD usage monitoring via /proc (Linux) or netstat. Alert when FD > 80% of ulimit. Implement connection draining when FD > 90%.",
    mitigation: "Open file descriptors are sampled from /proc/self/fd against the soft limit (/proc/self/limits) with 70/85/95 % levels: new sessions and connections are shed first; every listener bounds its connections.",
    status: "mitigated",
    errors: ["LoadShed"],
    location: ["packages/runtime/src/ResourceMonitor.ts"],
    tests: [{ file: "packages/runtime/test/ResourceMonitor.test.ts", name: "admit sheds load: new sessions from high, everything at critical, with the mode of the resource that is short; CPU alone sheds nothing" }, { file: "packages/runtime/test/ResourceMonitor.test.ts", name: "reads the soft fd limit from /proc/self/limits" }]
  }),
  row(33, "CPU throttling", "Resource", 6, 3, 7, 126, "MEDIUM", {
    documentedMitigation: "VM args tuning",
    gap: "No adaptive scheduling",
    mitigationWanted: "Add CPU metrics, alert on throttling.",
    mitigation: "CPU is measured two ways, both gauges with levels and a log line on every change. Utilisation (process CPU over wall time) is reported but sheds nothing by itself, since a busy Node process runs at 100 % and overload shows in the event-loop delay (FM-35). Throttling by the cgroup's CPU quota (v2 or v1 cpu.stat, read only under a quota) is judged on the mean of the last five readings: sustained throttling at 25 / 50 / 75 % of wall time is elevated / high / critical and sheds like any short resource (LoadShed with FM-33: new sessions from high, everything at critical), while one throttled interval sheds nothing.",
    status: "mitigated",
    errors: ["LoadShed"],
    location: ["packages/runtime/src/ResourceMonitor.ts"],
    tests: [{ file: "packages/runtime/test/ResourceMonitor.test.ts", name: "FM-33 sustained CPU throttling by the cgroup quota sheds (mean of the last readings, on the schedule); one throttled interval sheds nothing" }, { file: "packages/runtime/test/ResourceMonitor.test.ts", name: "admit sheds load: new sessions from high, everything at critical, with the mode of the resource that is short; CPU alone sheds nothing" }]
  }),
  row(34, "Disk I/O saturation", "Resource", 7, 2, 8, 112, "MEDIUM", {
    documentedMitigation: "Async I/O in ranch",
    gap: "No rate limiting",
    mitigationWanted: "Monitor I/O latency, add rate limiting.",
    mitigation: "The SDK's one disk writer, the idempotency journal, never lets a slow or full disk block or crash serving: writes are asynchronous, done by one writer that fsyncs each batch once; each wait is bounded (writeTimeout, 5 s: JournalTimeout, -32011) and so is the queue (maxPendingWrites, 1,024: JournalOverloaded, -32010 at once); ENOSPC, EIO, EACCES become JournalFailed with the errno (-32011), the server keeps serving; a call whose claim could not be recorded does not run; the journal is bounded by TTL, capacity and compaction. Everything else (SSE event stores, sessions, tasks) is in memory and bounded.",
    status: "mitigated",
    errors: ["JournalTimeout", "JournalOverloaded", "JournalFailed"],
    location: ["packages/server/src/IdempotencyStore.ts", "packages/server/src/McpServer.ts"],
    tests: [{ file: "packages/server/test/IdempotencyStore.test.ts", name: "FM-34 a journal write that does not finish in time refuses the call (-32011) and the call does not run" }, { file: "packages/server/test/IdempotencyStore.test.ts", name: "FM-34 journal writes are bounded: past maxPendingWrites the call is refused at once (-32010) and does not run" }, { file: "packages/server/test/IdempotencyStore.test.ts", name: "FM-34 a full disk (ENOSPC from /dev/full) is a typed refusal, the call does not run, the server lives on" }]
  }),
  row(35, "GC pause > 100ms", "Resource", 7, 4, 9, 252, "HIGH", {
    documentedMitigation: "GC tuning (Gap #5.2)",
    gap: "No predictable latency",
    mitigationWanted: "Implement GC pause monitoring. Add alerting for pauses > 50ms. Export GC metrics to observability.",
    mitigation: "The event-loop delay (Node's analogue of a GC pause, monitorEventLoopDelay) is sampled with levels at 50/100/500 ms: new sessions are shed from high, every request at critical, and a sustained emergency drains the process.",
    status: "mitigated",
    errors: ["LoadShed"],
    location: ["packages/runtime/src/ResourceMonitor.ts", "packages/runtime/src/RecoveryManager.ts"],
    tests: [{ file: "packages/runtime/test/ResourceMonitor.test.ts", name: "admit sheds load: new sessions from high, everything at critical, with the mode of the resource that is short; CPU alone sheds nothing" }, { file: "packages/runtime/test/ResourceMonitor.test.ts", name: "Node's source reads heap, RSS, CPU, event-loop delay, and on Linux open fds against the soft limit" }]
  }),
  row(36, "Connection limit reached", "Resource", 8, 5, 5, 200, "MEDIUM", {
    documentedMitigation: "Connection limits module",
    gap: "No graceful degradation",
    mitigationWanted: "Implement graceful rejection with retry-after. Prioritize connections by request type (e.g., health checks). Add connection draining (close idle conns if near limit).",
    mitigation: "Every listener bounds its connections and refuses gracefully: TCP past maxConnections first closes the oldest connection that never sent a message to make room, else writes one JSON-RPC error frame (-32010, data.retryAfterMs) and closes, and a connection that sends no complete message within firstMessageTimeout (30 s) of being accepted is closed, so silent or trickling connections (slowloris) cannot hold the slots; WebSocket answers the handshake with HTTP 503 and Retry-After and closes a connection silent for firstMessageTimeout (30 s); Streamable HTTP caps sessions (never-used sessions evicted first, then the least recently used; under the runtime the tier-2 SessionManager's bound, where sessions in use are never evicted and a new session past the bound gets 503 with Retry-After) and bounds each session's inbox. The served connections are unaffected; refusals are counted.",
    status: "mitigated",
    errors: ["ConnectionClosed", "TransportFailure", "SessionLimitReached"],
    location: ["packages/transports/src/TcpTransport.ts", "packages/transports/src/WebSocketTransport.ts", "packages/transports/src/StreamableHttpServer.ts", "packages/runtime/src/SessionManager.ts", "packages/runtime/src/HttpState.ts"],
    tests: [{ file: "packages/transports/test/Tcp.test.ts", name: "FM-36 a flood of 300 connections past a limit of 20: each refused one gets one retry-after frame; the served ones keep answering" }, { file: "packages/transports/test/WebSocket.test.ts", name: "FM-36 a flood of 100 handshakes past a limit of 5: each refused one gets HTTP 503 with Retry-After; the served ones keep answering" }, { file: "packages/transports/test/StreamableHttp.test.ts", name: "a flood of 10,000 session creations stays within the cap with memory bounded; sessions in use are not pushed out" }, { file: "packages/runtime/test/HttpState.test.ts", name: "FM-36 past the SessionManager's bound a never-used session is evicted (404), sessions in use never are; with all in use a new one gets 503 with Retry-After" }, { file: "packages/transports/test/Tcp.test.ts", name: "FM-36 slowloris: a connection that sends no complete message within firstMessageTimeout is closed; one that sent a message is kept (TestClock)" }, { file: "packages/transports/test/Tcp.test.ts", name: "FM-36 a full server makes room for a new client by closing the oldest connection that never sent a message; clients that talk are never evicted" }, { file: "packages/transports/test/WebSocket.test.ts", name: "FM-36 slowloris: a WebSocket connection that sends no message within firstMessageTimeout is closed; one that sent a message is kept (TestClock)" }]
  }),
  row(37, "Message queue overflow", "Resource", 8, 4, 7, 224, "HIGH", {
    documentedMitigation: "gen_server queue limits",
    gap: "No monitoring/alerts",
    mitigationWanted: "Implement per-process queue monitoring. Add metrics on queue depth and dwell time. Implement priority queue (critical messages first).",
    mitigation: "Concurrent handlers per connection are bounded (default 64, or a function read at every request); past the bound the peer gets Overloaded (-32010) at once, or waits in a bulkhead queue bounded in length and time; occupancy, queue wait and refusals are metrics. Pending outgoing requests and every session inbox are bounded too.",
    status: "mitigated",
    errors: ["Overloaded", "BulkheadFull", "QueueTimeout"],
    location: ["packages/core/src/Protocol.ts", "packages/faults/src/Bulkhead.ts"],
    tests: [{ file: "packages/core/test/Isolation.test.ts", name: "FM-37 past maxConcurrentIncoming the peer gets Overloaded" }, { file: "packages/core/test/Admission.test.ts", name: "FM-37 maxConcurrentIncoming given as a function is read at every request" }, { file: "packages/faults/test/Bulkhead.test.ts", name: "FM-37 occupancy, queue wait and refusals are metrics; saturation and recovery are log lines" }]
  }),
  row(38, "Handler process crash", "Process", 7, 5, 6, 210, "MEDIUM", {
    documentedMitigation: "Supervisor restarts",
    gap: "No error logs to registry",
    mitigationWanted: "Implement handler error logging (track errors over time). Add circuit breaker (disable handler after N failures). Detect crash patterns (e.g., every 5th request).",
    mitigation: "A defect or thrown exception in a handler is caught in its fiber, answered with a safe -32603 (no stack, no internal text) and recorded; a handler past its time bound is interrupted (finalizers run) and answered with -32001.",
    status: "mitigated",
    errors: ["HandlerDefect", "HandlerTimedOut"],
    location: ["packages/core/src/Protocol.ts"],
    tests: [{ file: "packages/core/test/Isolation.test.ts", name: "FM-16 a failing handler does not affect other requests" }, { file: "packages/core/test/Isolation.test.ts", name: "FM-38 a handler past its time bound is interrupted and answered" }]
  }),
  row(39, "Registry partition crash", "Process", 10, 2, 8, 160, "MEDIUM", {
    documentedMitigation: "gproc replication",
    gap: "No witness node",
    mitigationWanted: "Add witness node (3-node minimum for quorum). Implement local cache of registry entries. Add replication to standby node.",
    mitigation: "The routing table (tier 1) is a cache that every new incarnation rebuilds from sources of truth that outlive it — the server and transport tiers' supervisors, which list the servers, connections and listeners running now — each source bounded by the call timeout, before answering anyone: after a crash of the table or of its whole tier every live route resolves again. Removals made while the table is down are remembered per key and applied to the rebuilt table (a route whose owner ended meanwhile stays dead); an owner that registers again cancels its removal. Calls made during the restart wait at most the call timeout, then fail with RegistryTimeout. One process is one node: there is no registry partition to heal across nodes (docs/deployment.md).",
    status: "mitigated",
    errors: ["RegistryTimeout"],
    location: ["packages/runtime/src/Registry.ts", "packages/runtime/src/Tiers.ts"],
    tests: [{ file: "packages/runtime/test/Registry.test.ts", name: "FM-39 a crashed registry tier is rebuilt from what runs: every live route resolves again, dead ones do not; lookups meanwhile fail typed at the call timeout or are answered" }, { file: "packages/runtime/test/Registry.test.ts", name: "FM-39 a route whose owner ends while the table is rebuilding stays dead, even if its source listed it a moment before; an owner that comes back is routed again" }]
  }),
  row(40, "Transport process crash", "Process", 8, 4, 6, 192, "MEDIUM", {
    documentedMitigation: "Transport supervisor",
    gap: "No graceful shutdown",
    mitigationWanted: "Implement graceful shutdown (drain pending requests). Add pending request tracking (recover on reconnect). Implement transport health checks.",
    mitigation: "When a connection ends every pending request fails at once with ConnectionClosed naming the reason, handlers are interrupted, and a peer's clean end first lets accepted requests finish (bounded drain); a stdio child is closed by stdin EOF, then SIGTERM, then SIGKILL. Transports are supervised (tier 4, transient): a crashed listener restarts after its backoff and the others never notice; a crashed connection takes down its own session only; graceful drain stops accepting, finishes in-flight work within a deadline, then closes.",
    status: "mitigated",
    errors: ["ConnectionClosed", "TransportFailure", "Draining"],
    location: ["packages/core/src/Protocol.ts", "packages/transports/src/StdioClientTransport.ts", "packages/runtime/src/Tiers.ts", "packages/runtime/src/Drain.ts"],
    tests: [{ file: "packages/core/test/Protocol.test.ts", name: "closing the connection fails every pending request at once with ConnectionClosed" }, { file: "packages/transports/test/Stdio.test.ts", name: "stdio client: a child that dies fails incoming at once with the exit named" }, { file: "packages/transports/test/Stdio.test.ts", name: "stdio client: close escalates stdin EOF → SIGTERM → SIGKILL" }, { file: "packages/runtime/test/BlastRadius.test.ts", name: "tier 4: a crashed transient transport restarts after 50 ms; the other transports never notice (FM-40)" }, { file: "packages/runtime/test/Drain.test.ts", name: "FM-40 drain stops accepting, lets in-flight work finish, then runs the close hooks last-first and reports" }, { file: "test/fault-modes.test.ts", name: "FM-40 a crashed connection takes down its own session only" }]
  }),
  row(41, "Session manager crash", "Process", 8, 3, 7, 168, "MEDIUM", {
    documentedMitigation: "Session state in ETS",
    gap: "No session replication",
    mitigationWanted: "Implement session replication (ETS replication). Add periodic session snapshots. Implement session recovery handshake.",
    mitigation: "Sessions are their own fault domain: the HTTP server's sessions are the tier-2 SessionManager's (HttpState); idle sessions expire there, never while a request is in flight; an expired session ends its HTTP session (404) and drops its event store, and the client initializes again. The table lives outside its sweeper member, so a sweeper crash loses no session and the restarted sweeper expires them; an unknown session is a typed SessionNotFound (404 on HTTP).",
    status: "mitigated",
    errors: ["SessionNotFound"],
    location: ["packages/runtime/src/SessionManager.ts", "packages/runtime/src/HttpState.ts", "packages/transports/src/StreamableHttpServer.ts"],
    tests: [{ file: "packages/runtime/test/BlastRadius.test.ts", name: "tier 2: a crashed session sweeper restarts alone and no session is lost (FM-41)" }, { file: "packages/runtime/test/SessionManager.test.ts", name: "FM-41 an idle session expires at the next sweep; a touched one lives on; a gone one is SessionNotFound" }, { file: "packages/runtime/test/HttpState.test.ts", name: "FM-41 sessions live in the SessionManager: its expiry ends the HTTP session (404) and drops its event store; the client initializes again and carries on" }, { file: "packages/runtime/test/HttpState.test.ts", name: "FM-41 a session with a request in flight does not expire; the answer counts as activity" }, { file: "packages/runtime/test/HttpState.test.ts", name: "FM-41 a crash of the SessionManager's sweeper loses no HTTP session: they are served through its restart, and the restarted sweeper expires them" }]
  }),
  row(42, "Message handler crash", "Process", 7, 5, 6, 210, "MEDIUM", {
    documentedMitigation: "Error handling in dispatch",
    gap: "No circuit breaker",
    mitigationWanted: "Add circuit breaker for repeated failures. Implement message pattern detection. Quarantine problematic message patterns.",
    mitigation: "Typed handler failures are contained, answered safely and recorded; a circuit breaker per tool (and one for outbound requests) opens on consecutive failures, a failure rate or a slow-call rate over a window, refuses with CircuitOpen (-32011, retryAfterMs), half-opens by itself and closes after good probes; its state is a metric.",
    status: "mitigated",
    errors: ["HandlerError", "RemoteError", "CircuitOpen"],
    location: ["packages/core/src/Protocol.ts", "packages/server/src/McpServer.ts", "packages/faults/src/CircuitBreaker.ts"],
    tests: [{ file: "packages/core/test/Isolation.test.ts", name: "FM-16 a failing handler does not affect other requests" }, { file: "packages/server/test/CircuitBreaker.test.ts", name: "FM-42 repeated server-side failures open the tool's circuit; it closes after a good probe; tool errors do not count" }, { file: "packages/faults/test/CircuitBreaker.test.ts", name: "FM-42 breaker transitions follow the model: failure and slow-call rates over the window, consecutive failures, half-open after openDuration, probes, reset, forced open (property, TestClock)" }, { file: "packages/faults/test/CircuitBreaker.test.ts", name: "FM-42 slow calls open the circuit even when they succeed (TestClock)" }, { file: "packages/core/test/Admission.test.ts", name: "FM-42 an outbound circuit breaker opens after the peer's server-side errors; requests then fail at once with CircuitOpen until it half-opens" }]
  }),
  row(43, "Timer process crash", "Process", 5, 2, 8, 80, "LOW", {
    documentedMitigation: "erlang:start_timer",
    gap: "No recovery automation",
    mitigationWanted: "Add timer restart mechanism.",
    mitigation: "Timers are Effect fibers on the Clock and Schedule (the TestClock drives them in tests). Every periodic one is a permanent supervised member — registry health check, session sweeper, task reaper, event-store and run-once janitors, resource sampler, health monitor: one that dies, or whose tick fails, restarts alone after its tier's backoff and fires again on schedule; ticks that keep failing exhaust only their own tier, and tier 5 replaces itself after its cooldown. A source scan fails on any setTimeout, setInterval, setImmediate or node:timers use in packages/*/src that is not on an exact allow-list with its reason.",
    status: "mitigated",
    errors: [],
    location: ["packages/runtime/src/internal/member.ts", "packages/runtime/src/Tiers.ts", "test/no-raw-timers.test.ts"],
    tests: [{ file: "packages/runtime/test/Timers.test.ts", name: "FM-43 a tick that fails does not stop future ticks: a failed reading crashes the sampler, which restarts and samples on schedule" }, { file: "packages/runtime/test/Timers.test.ts", name: "FM-43 the session sweeper, killed, restarts after 50 ms and still expires idle sessions on its schedule" }, { file: "test/no-raw-timers.test.ts", name: "FM-43 no raw timers in packages/*/src: every setTimeout, setInterval and setImmediate is on the allow-list, with its reason" }, { file: "packages/runtime/test/Timers.test.ts", name: "FM-43 the resource sampler, killed, restarts after 50 ms and samples every interval again (TestClock)" }]
  }),
  row(44, "Monitoring process crash", "Process", 6, 3, 8, 144, "MEDIUM", {
    documentedMitigation: "health_monitor supervisor",
    gap: "No dual monitoring",
    mitigationWanted: "Add redundant monitoring.",
    mitigation: "A crashed monitoring process restarts alone in tier 5; admission keeps answering from the last status meanwhile, and tiers 1–4 never notice.",
    status: "mitigated",
    errors: [],
    location: ["packages/runtime/src/Tiers.ts", "packages/runtime/src/ResourceMonitor.ts"],
    tests: [{ file: "packages/runtime/test/BlastRadius.test.ts", name: "tier 5: a crashed resource sampler restarts alone; admission keeps answering from the last status" }, { file: "packages/runtime/test/BlastRadius.test.ts", name: "tier 5 flapping never spends the root's intensity: tiers 1–4 are never touched" }]
  }),
  row(45, "Connection pool starvation", "Cascading", 7, 4, 7, 196, "MEDIUM", {
    documentedMitigation: "poolboy max_overflow",
    gap: "No queue time limits",
    mitigationWanted: "Add timeouts on queued requests.",
    mitigation: "Every queued wait is bounded in length and in time: a bulkhead's queue refuses past maxQueue and after queueTimeout (QueueTimeout, -32010 with retryAfterMs); cheap requests (ping, lists) never queue.",
    status: "mitigated",
    errors: ["QueueTimeout", "BulkheadFull"],
    location: ["packages/faults/src/Bulkhead.ts", "packages/core/src/Protocol.ts", "packages/server/src/McpServer.ts"],
    tests: [{ file: "packages/faults/test/Bulkhead.test.ts", name: "FM-45 bounded concurrency, a FIFO queue bounded in length and in time: every call starts, or is refused, exactly when the model says (property, TestClock)" }, { file: "packages/server/test/Overload.test.ts", name: "FM-45 the server bulkhead is shared by all connections: calls wait at most queueTimeout, past the queue they get -32010 with retryAfterMs; pings and lists are never queued" }]
  }),
  row(46, "Message explosion", "Cascading", 9, 2, 8, 144, "MEDIUM", {
    documentedMitigation: "Message size limits",
    gap: "No rate limiting",
    mitigationWanted: "Add rate limits on message size/count.",
    mitigation: "Message size is limited before decoding (FrameTooLarge) and message count by token buckets (effect/persistence RateLimiter) per connection or per client across its connections (and shared by connections): past it, requests are refused at once with -32010 and a retryAfterMs hint (RateLimitExceeded), and recorded as RateLimited.",
    status: "mitigated",
    errors: ["FrameTooLarge", "RateLimited", "RateLimitExceeded"],
    location: ["packages/jsonrpc/src/FrameDecoder.ts", "packages/core/src/Protocol.ts", "packages/faults/src/RateLimit.ts"],
    tests: [{ file: "packages/jsonrpc/test/FrameDecoder.test.ts", name: "FM-01 oversize frame is rejected before parsing" }, { file: "packages/core/test/Isolation.test.ts", name: "FM-46 past the rate limit requests are refused with a retry hint, then admitted again" }, { file: "packages/faults/test/RateLimit.test.ts", name: "FM-46 a token bucket per client: admitted exactly while the client's bucket has a token, refilled one token per window/limit, keys independent; after retryAfterMs the next request is admitted (property, TestClock)" }, { file: "packages/server/test/Overload.test.ts", name: "FM-46 a rate limit per client holds across the client's connections (per: client), with retryAfterMs; other clients are not affected" }]
  }),
  row(47, "Protocol violation", "Process", 6, 3, 6, 108, "MEDIUM", {
    documentedMitigation: "JSON-RPC validation",
    gap: "No fuzzing tests",
    mitigationWanted: "Validate every message against JSON-RPC and MCP schemas; fuzz the decoder with property tests.",
    mitigation: "Every message's envelope is validated; invalid JSON-RPC is InvalidMessage, answered with -32600 and the id; the decoder is property-tested on arbitrary bytes.",
    status: "mitigated",
    errors: ["InvalidMessage"],
    location: ["packages/jsonrpc/src/JsonRpcCodec.ts"],
    tests: [{ file: "packages/jsonrpc/test/JsonRpcCodec.test.ts", name: "FM-47 invalid JSON-RPC becomes -32600 with the id" }, { file: "packages/jsonrpc/test/JsonRpcCodec.test.ts", name: "arbitrary bytes never throw and always give messages or typed errors (property)" }]
  }),
  row(48, "Backpressure signal lost", "Cascading", 8, 3, 8, 192, "MEDIUM", {
    documentedMitigation: "ranch built-in",
    gap: "No external validation",
    mitigationWanted: "Validate backpressure mechanism.",
    mitigation: "Every transport keeps backpressure end to end, proven on real sockets: stdio, TCP and WebSocket writers wait for drain on one persistent listener; Streamable HTTP SSE responses (POST responses in SSE mode and the GET stream) record each event in the session's event store, write it in order, and make the send wait while the response needs a drain, with one drain listener per response, so a handler never runs ahead of a slow reader, and only sends to that response wait (other requests, sessions and the GET stream go on). A reader that stops for good ends the wait with a typed error: TransportFailure naming FM-15 after stallTimeout or past maxBufferedBytes (the HTTP client then resumes with Last-Event-ID without a gap), or on WebSocket ConnectionClosed from the heartbeat.",
    status: "mitigated",
    errors: ["TransportFailure", "ConnectionClosed"],
    location: ["packages/transports/src/internal/writer.ts", "packages/transports/src/TcpTransport.ts", "packages/transports/src/WebSocketTransport.ts", "packages/transports/src/StdioClientTransport.ts", "packages/transports/src/StreamableHttpServer.ts"],
    tests: [{ file: "packages/transports/test/Stdio.test.ts", name: "stdio client: backpressure on a slow reader loses nothing" }, { file: "packages/transports/test/Backpressure.test.ts", name: "TCP: a slow reader gets 3,000 frames of 10 KB, in order; the writer waits, its buffer stays bounded, one drain listener" }, { file: "packages/transports/test/Backpressure.test.ts", name: "WebSocket: a slow reader gets 3,000 frames of 10 KB, in order; the writer waits, its buffer stays bounded, one drain listener" }, { file: "packages/transports/test/Backpressure.test.ts", name: "Streamable HTTP, SSE response: a slow reader gets 3,000 events of 10 KB, in order, and the handler's sends wait for it" }, { file: "packages/transports/test/Backpressure.test.ts", name: "Streamable HTTP, GET stream: a slow reader gets 3,000 events of 10 KB, in order, and the sends wait for it" }, { file: "packages/transports/test/Backpressure.test.ts", name: "Streamable HTTP: a reader that stopped holds only the sends to its own response; the session's other requests, its GET stream and other sessions go on at once" }]
  }),
  row(49, "One handler crash → cascade", "Cascading", 8, 4, 6, 192, "MEDIUM", {
    documentedMitigation: "one_for_all supervisor",
    gap: "No fault isolation",
    mitigationWanted: "Implement isolation per handler.",
    mitigation: "Handlers are isolated per request under the connection's scope: any mix of failing, dying and throwing handlers leaves every other request answered and the connection serving (property-tested); a handler that dies or hangs affects its own tool only, on every session (blast radius measured with the testing kit).",
    status: "mitigated",
    errors: ["HandlerError", "HandlerDefect"],
    location: ["packages/core/src/Protocol.ts"],
    tests: [{ file: "packages/core/test/Isolation.test.ts", name: "FM-49 a crashing handler leaves the connection serving (property)" }, { file: "test/fault-modes.test.ts", name: "FM-49 a handler that dies or hangs affects its own tool only, on every session" }]
  }),
  row(50, "Deserialization failure", "Data", 7, 3, 6, 126, "MEDIUM", {
    documentedMitigation: "Type specs on records",
    gap: "No schema versioning",
    mitigationWanted: "Add schema versioning to messages. Implement version-based handlers. Add forward compatibility layer.",
    mitigation: "Strict UTF-8 decoding (InvalidUtf8) and MCP schemas per revision; outgoing values that cannot be serialised are UnencodableMessage.",
    status: "mitigated",
    errors: ["InvalidUtf8", "UnencodableMessage"],
    location: ["packages/jsonrpc/src/JsonRpcCodec.ts"],
    tests: [{ file: "packages/jsonrpc/test/JsonRpcCodec.test.ts", name: "FM-50 invalid UTF-8 is a typed error" }]
  }),
  row(51, "Response mismatch (wrong ID)", "Data", 6, 2, 8, 96, "LOW", {
    documentedMitigation: "Request ID correlation",
    gap: "No explicit validation",
    mitigationWanted: "Add validation in client.",
    mitigation: "Responses are matched to pending requests by exact id (1 is not \"1\"); a response with an unknown id is recorded (UnknownResponseId) and dropped.",
    status: "mitigated",
    errors: ["UnknownResponseId"],
    location: ["packages/core/src/Protocol.ts"],
    tests: [{ file: "packages/core/test/Protocol.test.ts", name: "FM-51 a response with an unknown id is recorded and dropped" }, { file: "packages/testing/test/Scenario.test.ts", name: "the checker catches an answer that is not the call's own (WrongAnswer, FM-51); its own answer passes" }]
  }),
  row(52, "Session data loss", "Data", 9, 2, 7, 126, "MEDIUM", {
    documentedMitigation: "ETS snapshot backup",
    gap: "No replication",
    mitigationWanted: "Add session replication.",
    mitigation: "Sessions outlive their connection, their listener and, with a snapshot, their process. The session table keeps each 2025-era session's set-up (initialize, notifications/initialized, the last logging/setLevel, the live resources/subscribe; SessionStore.saveSetup), and a request for a session the table has but the listener holds no connection for rebuilds it: a new server gets the set-up replayed in order (its answers kept from the client), bounded by restoreTimeout (a rebuild refused or not answered in time is a SessionRestoreFailed, logged with its mode: the session ends, 404), concurrent requests waiting for the one rebuild; the client goes on under the same Mcp-Session-Id with no 404 and no new initialize. Under the runtime (HttpState) the table is tier 2's SessionManager, so a listener crashed and restarted by tier 4 serves its sessions again, and a GET resumed with the old stream's Last-Event-ID gets what it missed from tier 2's EventStore (per-listener stream ids, so event ids never repeat) and becomes the new GET stream. A crashed tier-3 server abandons its connection (Transport.abandon): its session gets a new server at the next request. With SessionManager's snapshot (MCP_SESSION_SNAPSHOT) the table is written atomically to a file (mode 0600) at most 1 s after a change and when it stops, and read back at start (size-checked, schema-decoded): a kill -9 of the process loses at most the last second of session changes. A snapshot that cannot be written or read is a typed SnapshotFailed, logged and counted, retried, never a stop of the table. Not kept: SSE events across a process restart (in memory), requests in flight at a crash (clients retry; keyed calls stay run-once through the IdempotencyStore).",
    status: "mitigated",
    errors: ["SnapshotFailed", "SessionRestoreFailed"],
    location: ["packages/transports/src/StreamableHttpServer.ts", "packages/runtime/src/SessionManager.ts", "packages/runtime/src/HttpState.ts", "packages/runtime/src/EventStore.ts", "packages/runtime/src/Runtime.ts", "packages/runtime/src/Tiers.ts"],
    tests: [{ file: "packages/runtime/test/HttpState.test.ts", name: "FM-52 a crashed listener loses no session: restarted by its tier, it rebuilds the session at its next request (same id, no 404, no new initialize; the set-up replayed to a new server), and a GET resumed with Last-Event-ID gets what was sent after the stream closed" }, { file: "packages/runtime/test/HttpState.test.ts", name: "FM-52 with the SessionManager's snapshot a session outlives the process: a new runtime on the same file serves it under its id, its set-up replayed; a session deleted meanwhile is not" }, { file: "test/session-restart.test.ts", name: "the official 1.x client keeps its session through a kill -9 of the server and its restart on the session snapshot" }, { file: "packages/transports/test/StreamableHttpRestore.test.ts", name: "FM-52 a GET resumed with the Last-Event-ID of the crashed connection's GET stream gets what was kept for it, then the new connection's messages" }, { file: "packages/transports/test/StreamableHttpRestore.test.ts", name: "FM-52 the session of a crashed server is rebuilt at its client's next request: same session id, no 404, its set-up replayed in order to a new server, the replayed answers never reach the client" }, { file: "packages/transports/test/StreamableHttpRestore.test.ts", name: "FM-52 concurrent requests during a rebuild wait for one rebuild and are all answered" }, { file: "packages/transports/test/StreamableHttpRestore.test.ts", name: "FM-52 a rebuild the new server refuses ends the session: 404, restoresFailed" }, { file: "packages/transports/test/StreamableHttpRestore.test.ts", name: "FM-52 a rebuild not answered within restoreTimeout ends the session (TestClock)" }, { file: "packages/transports/test/StreamableHttpRestore.test.ts", name: "FM-52 a session whose server ended normally is not rebuilt (404)" }, { file: "packages/transports/test/StreamableHttpRestore.test.ts", name: "FM-52 DELETE ends a session the listener holds no connection for" }, { file: "packages/runtime/test/SessionSnapshot.test.ts", name: "FM-52 sessions with a state outlive the table: written to the snapshot within its interval and read back by a new table" }, { file: "packages/runtime/test/SessionSnapshot.test.ts", name: "FM-52 the last changes are written when the table stops" }, { file: "packages/runtime/test/SessionSnapshot.test.ts", name: "FM-52 closed and expired sessions leave the snapshot" }, { file: "packages/runtime/test/SessionSnapshot.test.ts", name: "FM-52 a corrupt or oversized snapshot is a SnapshotFailed: the table starts empty and serves" }, { file: "packages/runtime/test/SessionSnapshot.test.ts", name: "FM-52 a snapshot that cannot be written is a SnapshotFailed and is tried again; the table goes on" }, { file: "packages/runtime/test/HttpState.test.ts", name: "FM-52 a crash of the EventStore's janitor loses no event: a stream the server ended is resumed with Last-Event-ID from the tier-2 store" }, { file: "packages/transports/test/StreamableHttp.test.ts", name: "the GET stream carries server-initiated messages and replays what was sent while it was down" }, { file: "packages/transports/test/StreamableHttp.test.ts", name: "a stream the server ends on purpose is resumed with Last-Event-ID and nothing is lost (SEP-1699)" }, { file: "packages/runtime/test/Wiring.test.ts", name: "each connection is a tier-3 server; a crashed one loses its connection only, and its session gets a new server at the next request (FM-52); a crashed listener comes back on its port" }]
  })
]

const byId = new Map<string, FailureMode>(all.map((m) => [m.id, m]))

/** Is this string a mode id of the catalogue? */
export const isModeId = (s: string): s is ModeId => byId.has(s)

/** The mode with this id. */
export const get = (id: ModeId): FailureMode => byId.get(id)!

/** The modes of one category, in row order. */
export const byCategory = (category: Category): ReadonlyArray<FailureMode> =>
  all.filter((m) => m.category === category)

/** The `n` modes with the highest RPN (ties by row number). */
export const topByRpn = (n: number): ReadonlyArray<FailureMode> =>
  [...all].sort((a, b) => b.rpn - a.rpn || a.number - b.number).slice(0, n)

/**
 * The catalogue entry of a typed error (any value with a string `mode` field naming a mode), or `undefined`.
 */
export const modeOf = (error: unknown): FailureMode | undefined => {
  if (typeof error !== "object" || error === null) return undefined
  const mode = (error as { readonly mode?: unknown }).mode
  return typeof mode === "string" ? byId.get(mode) : undefined
}

/** The modes that a typed error class carries, by its tag. */
export const modesOfError = (tag: string): ReadonlyArray<FailureMode> => all.filter((m) => m.errors.includes(tag))
