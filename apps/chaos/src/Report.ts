/**
 * Rows of figures, goals, and the report: printed, and written to `docs/reliability.md` (each mode replaces
 * its own section, so the short CI run and the long run sit side by side).
 */
import * as fs from "node:fs"
import * as os from "node:os"
import type { LedgerCheck, Tally } from "./Load.ts"
import { percentile } from "./Load.ts"

/** One line of figures: a scenario on one transport. */
export interface Row {
  readonly scenario: string
  readonly transport: string
  readonly sent: number
  readonly answered: number
  readonly failed: number
  readonly lost: number
  /** Keys whose side effect ran more than once (keyed calls: all of them). */
  readonly duplicated: number
  /** Of those, keys run once in each of several server processes (the first died before answering). */
  readonly duplicatedAcrossRestarts: number
  /** Calls that failed with a typed error though their side effect ran (the caller was told "failed"). */
  readonly failedYetCharged: number
  /** Untyped failures (defects) and server crashes. */
  readonly crashes: number
  readonly failures: Readonly<Record<string, number>>
  readonly failureSamples: Readonly<Record<string, string>>
  /** Time to recover, in ms (its meaning is in `recoveryNote`). */
  readonly recoveryMs: number | undefined
  readonly recoveryNote: string | undefined
  readonly p50Ms: number
  readonly p99Ms: number
  readonly serverPeakRssMiB: number
  readonly harnessPeakRssMiB: number
  readonly seconds: number
  readonly notes: ReadonlyArray<string>
}

/** A goal figure and whether this run met it. */
export interface Goal {
  readonly name: string
  readonly ok: boolean
  readonly detail: string
}

export const rowOf = (
  scenario: string,
  transport: string,
  tally: Tally,
  ledger: LedgerCheck | undefined,
  extra: {
    readonly recoveryMs?: number | undefined
    readonly recoveryNote?: string | undefined
    readonly serverPeakRssMiB: number
    readonly harnessPeakRssMiB: number
    readonly seconds: number
    readonly crashes?: number
    readonly notes?: ReadonlyArray<string>
  }
): Row => ({
  scenario,
  transport,
  sent: tally.sent,
  answered: tally.answered,
  failed: tally.failed,
  lost: tally.lost,
  duplicated: ledger?.duplicatedKeys ?? 0,
  duplicatedAcrossRestarts: ledger?.acrossRestarts ?? 0,
  failedYetCharged: ledger?.failedYetCharged ?? 0,
  crashes: tally.defects + (extra.crashes ?? 0),
  failures: Object.fromEntries(tally.failures),
  failureSamples: Object.fromEntries(tally.failureSamples),
  recoveryMs: extra.recoveryMs,
  recoveryNote: extra.recoveryNote,
  p50Ms: percentile(tally.latencies, 50),
  p99Ms: percentile(tally.latencies, 99),
  serverPeakRssMiB: extra.serverPeakRssMiB,
  harnessPeakRssMiB: extra.harnessPeakRssMiB,
  seconds: extra.seconds,
  notes: [
    ...(extra.notes ?? []),
    ...(ledger !== undefined && ledger.duplicatedKeys > 0
      ? [`duplicated: ${ledger.duplicatedKeys} keys (${ledger.acrossRestarts} of them once per server process, across a restart), e.g. ${ledger.sampleDuplicates.join(", ")}`]
      : []),
    ...(ledger !== undefined && ledger.lostYetCharged > 0 ? [`${ledger.lostYetCharged} lost calls were charged`] : []),
    ...(ledger !== undefined && ledger.answeredNotCharged > 0 ? [`${ledger.answeredNotCharged} answers without a charge in the ledger`] : []),
    ...(tally.mismatched > 0 ? [`${tally.mismatched} answers carried another call's key`] : []),
    ...(tally.visibleDuplicates > 0 ? [`${tally.visibleDuplicates} answers reported a key charged before (count > 1)`] : [])
  ]
})

const n = (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString("en-US") : "–")
const ms = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? "–" : x < 10 ? x.toFixed(1) : Math.round(x).toLocaleString("en-US"))

const failuresText = (row: Row) =>
  Object.entries(row.failures).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k}: ${n(v)}`).join("; ") || "–"

/** The figures as a Markdown table. */
export const table = (rows: ReadonlyArray<Row>): string => {
  const lines = [
    "| scenario | transport | sent | answered | failed (typed) | lost | duplicated | failed yet charged | crashes | recovery ms | p50 / p99 ms | peak RSS MiB server / harness | s |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
  ]
  for (const r of rows) {
    lines.push(
      `| ${r.scenario} | ${r.transport} | ${n(r.sent)} | ${n(r.answered)} | ${n(r.failed)} | ${n(r.lost)} | ${n(r.duplicated)} | ${n(r.failedYetCharged)} | ${
        n(r.crashes)
      } | ${ms(r.recoveryMs)} | ${ms(r.p50Ms)} / ${ms(r.p99Ms)} | ${n(r.serverPeakRssMiB)} / ${n(r.harnessPeakRssMiB)} | ${r.seconds.toFixed(1)} |`
    )
  }
  return lines.join("\n")
}

/** The typed failures and notes of each row, as a list. */
export const details = (rows: ReadonlyArray<Row>): string => {
  const lines: Array<string> = []
  for (const r of rows) {
    const parts: Array<string> = []
    if (r.failed > 0) parts.push(`failures: ${failuresText(r)}`)
    if (r.recoveryNote !== undefined) parts.push(`recovery: ${r.recoveryNote}`)
    parts.push(...r.notes)
    if (parts.length > 0) lines.push(`- **${r.scenario} / ${r.transport}**: ${parts.join(". ")}`)
  }
  return lines.join("\n")
}

/** One sample message per failure kind, over all rows. */
export const samples = (rows: ReadonlyArray<Row>): string => {
  const seen = new Map<string, string>()
  for (const r of rows) for (const [k, v] of Object.entries(r.failureSamples)) if (!seen.has(k)) seen.set(k, v)
  return [...seen].map(([k, v]) => `- \`${k}\`: ${v.replace(/\s+/g, " ").replace(/\|/g, "\\|")}`).join("\n")
}

export const goalsTable = (goals: ReadonlyArray<Goal>): string =>
  ["| goal | met | measured |", "| --- | --- | --- |", ...goals.map((g) => `| ${g.name} | ${g.ok ? "yes" : "**no**"} | ${g.detail} |`)].join("\n")

export const machine = (): string =>
  `Node ${process.version}, ${os.cpus()[0]?.model ?? "unknown CPU"} × ${os.cpus().length}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.platform()} ${os.arch()}, load average ${
    os.loadavg().map((l) => l.toFixed(1)).join(" ")
  } at the end`

const HEADER = `# Reliability under chaos

Generated by \`pnpm chaos\` (short, in CI) and \`pnpm chaos --full\` (the goal figures), from \`apps/chaos\`. Each
run replaces its own section below. Everything runs on real sockets on 127.0.0.1: a chaos server (an
\`McpServer\` with a keyed side-effect tool, \`charge\`) in a process of its own, our clients (\`McpClient\` over
\`ReconnectingTransport\` for TCP, WebSocket and stdio, over \`StreamableHttpClient\` for Streamable HTTP; half
of them in the 2026-07-28 era, half in 2025-11-25) and an in-process fault proxy between them.

How to read the figures:

- **sent**: calls of \`charge\`, each with its own idempotency key and a bounded retry on transient errors
  (exponential from 50 ms, jittered, each delay ≤ 1 s, ≤ 5 retries; 2 s per attempt).
- **answered**: a result, checked to be the answer for that key. **failed (typed)**: a typed error (the
  kinds are listed under each table). **lost**: no outcome at all within 25 s (a plain timer outside Effect),
  must be 0.
- **duplicated**: keys whose side effect ran more than once, read from the server's ledger (a synchronous
  append per run, so it survives kill -9), must be 0. **failed yet charged**: calls the caller was told
  failed although the side effect ran (not a goal figure, but what a payment tool's caller would need to
  know).
- **crashes**: defects (untyped failures) in calls, and server processes that died when nobody killed them.
- **recovery**: per scenario, said in the notes (after kill -9: from the new server listening to each
  client's first answer, the slowest client; after a flap: from the network coming back).
- **peak RSS**: sampled every 200 ms during the scenario, server process and harness process.
`

/** Writes (or replaces) this mode's section of `docs/reliability.md`. */
export const write = (path: string, mode: "short" | "full", section: string) => {
  const begin = `<!-- chaos:${mode}:begin -->`
  const end = `<!-- chaos:${mode}:end -->`
  const block = `${begin}\n${section}\n${end}`
  let text = fs.existsSync(path) ? fs.readFileSync(path, "utf8") : HEADER
  if (!text.startsWith("# Reliability under chaos")) text = HEADER
  const start = text.indexOf(begin)
  const stop = text.indexOf(end)
  if (start !== -1 && stop !== -1) {
    text = text.slice(0, start) + block + text.slice(stop + end.length)
  } else if (mode === "short") {
    const full = text.indexOf("<!-- chaos:full:begin -->")
    text = full === -1 ? `${text.trimEnd()}\n\n${block}\n` : `${text.slice(0, full)}${block}\n\n${text.slice(full)}`
  } else {
    text = `${text.trimEnd()}\n\n${block}\n`
  }
  // the header is the harness's: refresh it
  const firstSection = text.indexOf("<!-- chaos:")
  text = HEADER + "\n" + text.slice(firstSection)
  fs.writeFileSync(path, text)
}

/** A cause the figures point at: seen in this run, with where in the SDK it comes from. */
interface Signature {
  readonly seen: (rows: ReadonlyArray<Row>, goals: ReadonlyArray<Goal>) => string | undefined
  readonly cause: string
}

const kinds = (rows: ReadonlyArray<Row>, prefix: string) => {
  const hits = rows.filter((r) => Object.keys(r.failures).some((k) => k.startsWith(prefix)))
  if (hits.length === 0) return undefined
  const total = hits.reduce((n, r) => n + Object.entries(r.failures).filter(([k]) => k.startsWith(prefix)).reduce((m, [, v]) => m + v, 0), 0)
  return `${total} calls in ${hits.map((r) => `${r.scenario} / ${r.transport}`).join("; ")}`
}

const signatures: ReadonlyArray<Signature> = [
  {
    seen: (_, goals) => goals.find((g) => g.name.startsWith("McpClient.defaultRetry") && !g.ok)?.detail,
    cause: "A regression of the fix to `McpClient.defaultRetry` (packages/client/src/McpClient.ts): it must stop after 5 retries (`exponential…upTo(5)`, delays capped); a schedule that recurs while *any* part does never ends."
  },
  {
    seen: (rows) => {
      const hits = rows.filter((r) => r.duplicated - r.duplicatedAcrossRestarts > 0)
      return hits.length === 0
        ? undefined
        : `${hits.reduce((n, r) => n + r.duplicated - r.duplicatedAcrossRestarts, 0)} keys in ${hits.map((r) => `${r.scenario} / ${r.transport}`).join("; ")}`
    },
    cause: "A regression: keyed calls must run once per key in one server process. The first run of a keyed call runs detached from its caller (packages/server/src/McpServer.ts `once`), so a cancel, an attempt timeout or a dropped connection cannot make the retry run it again; `ReconnectingTransport` never re-sends a request its caller cancelled and re-sends keyed ones only within `resendWithin`. Check those two places first."
  },
  {
    seen: (rows) => {
      const hits = rows.filter((r) => r.duplicatedAcrossRestarts > 0)
      return hits.length === 0 ? undefined : `${hits.reduce((n, r) => n + r.duplicatedAcrossRestarts, 0)} keys in ${hits.map((r) => `${r.scenario} / ${r.transport}`).join("; ")}`
    },
    cause: "A regression: keyed calls must run once across a kill -9. The chaos server keeps its idempotency journal next to its ledger (`--idempotency-journal`, default LEDGER.journal; packages/server/src/IdempotencyStore.ts `layerFile`), fsynced before the tool runs; a restarted server that does not load it (a changed path, `--idempotency-journal off`) runs keys again."
  },
  {
    seen: (rows) => kinds(rows, "RemoteError -32600 \"Invalid Request: a request with this id"),
    cause: "A regression: a request sent twice on one connection. `ReconnectingTransport` sends nothing on a new connection before its session is back, then re-sends what is pending once (packages/transports/src/ReconnectingTransport.ts `session`); the engine answers a duplicate in-flight id with id null (packages/core/src/Protocol.ts admission), never under the original's id."
  },
  {
    seen: (rows) => kinds(rows, "RemoteError -32603 \"The response was larger than"),
    cause: "A regression: a Streamable HTTP response cut by the network must fail with retryable -32000 (data.mode FM-07), not -32603 (packages/transports/src/StreamableHttpClient.ts `readAll`, the SSE reader)."
  },
  {
    seen: (rows) => kinds(rows, "RemoteError -32600 \"Bad Request: Mcp-Session-Id") ?? kinds(rows, "RemoteError -32001"),
    cause: "A regression: while `StreamableHttpClient` re-initializes a lost session, other messages wait for that one handshake and go out with the new session id (packages/transports/src/StreamableHttpClient.ts `reinitialize`)."
  },
  {
    seen: (rows) => {
      const hits = rows.filter((r) => r.lost > 0)
      return hits.length === 0 ? undefined : `${hits.reduce((n, r) => n + r.lost, 0)} lost in ${hits.map((r) => `${r.scenario} / ${r.transport}`).join("; ")}`
    },
    cause: "Calls with no outcome at all. A call's timeout covers its send (packages/core/src/Protocol.ts `sendAndAwait`) and the stdio client fails a child that stops reading after `stallTimeout` (packages/transports/src/StdioClientTransport.ts): a regression in either leaves a call whose frame cannot be written waiting forever."
  },
  {
    seen: (rows) => {
      const hits = rows.filter((r) =>
        r.scenario.startsWith("network flap") && (r.recoveryNote?.includes("none within") === true || (r.recoveryMs ?? 0) > 5_000)
      )
      return hits.length === 0
        ? undefined
        : hits.map((r) => `${r.scenario} / ${r.transport}: ${r.recoveryMs !== undefined && Number.isFinite(r.recoveryMs) ? `${Math.round(r.recoveryMs)} ms` : "not back within the wait"}`).join("; ")
    },
    cause: "A client came back long after the network did (or not within the wait). `ReconnectingTransport` bounds the replayed handshake by `handshakeTimeout` and abandons it at once when its connection dies (packages/transports/src/ReconnectingTransport.ts `session`); look there first, then at the backoff cap."
  },
  {
    seen: (rows) => {
      const hits = rows.filter((r) => r.scenario.startsWith("duplicated frames") && r.transport === "http" && r.p99Ms >= 4_000)
      return hits.length === 0 ? undefined : hits.map((r) => `p99 ${Math.round(r.p99Ms)} ms`).join("; ")
    },
    cause: "A regression: a duplicated POST of a request in flight in a 2025-11-25 session must get 409 with the duplicate error and leave the original's response alone (packages/transports/src/StreamableHttpServer.ts, the in-flight check before `requestStreams.set`)."
  },
  {
    seen: (rows) => {
      const held = (n: string) => {
        const m = /^the server closed (\d+) of (\d+) slow connections/.exec(n)
        return m !== null && Number(m[1]) < Number(m[2])
      }
      const hits = rows.filter((r) => r.scenario.startsWith("slowloris") && (r.transport === "tcp" || r.transport === "ws") && r.notes.some(held))
      return hits.length === 0 ? undefined : hits.map((r) => r.transport).join(", ")
    },
    cause: "Not a defect, a default: the TCP and WebSocket servers have no idle or handshake timeout by default (TCP `idleTimeout` is opt-in; the WebSocket upgrade waits for Node's 60 s `headersTimeout`), so slow connections are held, up to `maxConnections` (1,024), past which new clients are refused."
  }
]

/** The causes the figures of this run point at (only those seen). */
export const diagnose = (rows: ReadonlyArray<Row>, goals: ReadonlyArray<Goal>): string => {
  const lines: Array<string> = []
  for (const s of signatures) {
    const seen = s.seen(rows, goals)
    if (seen !== undefined) lines.push(`- ${s.cause} *Seen: ${seen}.*`)
  }
  return lines.length === 0 ? "(nothing)" : lines.join("\n")
}
