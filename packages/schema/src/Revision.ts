/**
 * The MCP protocol revisions and what differs between them, as data: era (stateful with `initialize`, or the
 * stateless 2026-07-28), which methods exist in which direction (read from each revision's schema), batch
 * support, and error codes.
 *
 * @since 0.1.0
 */
import * as V2024_11_05 from "./generated/v2024_11_05.ts"
import * as V2025_03_26 from "./generated/v2025_03_26.ts"
import * as V2025_06_18 from "./generated/v2025_06_18.ts"
import * as V2025_11_25 from "./generated/v2025_11_25.ts"
import * as V2026_07_28 from "./generated/v2026_07_28.ts"

/** The revisions effect-mcp speaks, oldest first. */
export const all = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28"] as const

/** A protocol revision. */
export type Revision = typeof all[number]

/** The newest revision. */
export const latest: Revision = "2026-07-28"

/** The newest revision of the stateful era (the one negotiated by `initialize`). */
export const latestStateful: Revision = "2025-11-25"

/** The revisions negotiated with `initialize` (the stateful era), oldest first. */
export const stateful: ReadonlyArray<Revision> = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"]

/** The revisions without `initialize` (per-request `_meta`, `server/discover`). */
export const stateless: ReadonlyArray<Revision> = ["2026-07-28"]

/** Is this string a revision effect-mcp speaks? */
export const isRevision = (s: unknown): s is Revision => typeof s === "string" && (all as ReadonlyArray<string>).includes(s)

/** A revision's era. */
export type Era = "stateful" | "stateless"

/** The era of a revision: `stateless` for 2026-07-28, `stateful` before. */
export const era = (revision: Revision): Era => (revision === "2026-07-28" ? "stateless" : "stateful")

/** JSON-RPC batches exist only in 2025-03-26 (added there, removed in 2025-06-18). */
export const supportsBatch = (revision: Revision): boolean => revision === "2025-03-26"

/** Who sends a message. */
export type Sender = "client" | "server"

/** One method of one revision. */
export interface MethodInfo {
  readonly method: string
  readonly kind: "request" | "notification"
  readonly from: Sender
}

const tables = {
  "2024-11-05": V2024_11_05.methods,
  "2025-03-26": V2025_03_26.methods,
  "2025-06-18": V2025_06_18.methods,
  "2025-11-25": V2025_11_25.methods,
  "2026-07-28": V2026_07_28.methods
} as const

/** The generated method table of a revision (schemas included). */
export const methodTable = (revision: Revision) => tables[revision]

/** The methods of a revision, read from its schema. */
export const methods = (revision: Revision): ReadonlyArray<MethodInfo> =>
  Object.values(tables[revision]).map(({ method, kind, from }) => ({ method, kind, from }))

/** Does `method` exist in `revision`, sent by `from` (either side when omitted)? */
export const hasMethod = (revision: Revision, method: string, from?: Sender): boolean =>
  methods(revision).some((m) => m.method === method && (from === undefined || m.from === from))

/** The revisions in which a method exists (sent by `from`, when given). */
export const revisionsOf = (method: string, from?: Sender): ReadonlyArray<Revision> =>
  all.filter((revision) => hasMethod(revision, method, from))

/** An MCP-specific error code and the revisions that use it. */
export interface McpErrorCode {
  readonly code: number
  readonly name: string
  readonly revisions: ReadonlyArray<Revision>
}

/**
 * MCP's own error codes. -32002 (resource not found) is the stateful era's; 2025-11-25 adds -32042
 * (URL elicitation required); 2026-07-28 renumbers into the -32020 … -32099 range it reserves and drops the
 * old ones.
 */
export const errorCodes: ReadonlyArray<McpErrorCode> = [
  { code: -32002, name: "ResourceNotFound", revisions: ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"] },
  { code: -32042, name: "UrlElicitationRequired", revisions: ["2025-11-25"] },
  { code: -32020, name: "HeaderMismatch", revisions: ["2026-07-28"] },
  { code: -32021, name: "MissingRequiredClientCapability", revisions: ["2026-07-28"] },
  { code: -32022, name: "UnsupportedProtocolVersion", revisions: ["2026-07-28"] }
]

/** The MCP error codes a revision uses. */
export const errorCodesOf = (revision: Revision): ReadonlyArray<McpErrorCode> =>
  errorCodes.filter((c) => c.revisions.includes(revision))

/**
 * The stateful-era negotiation rule: answer the requested revision when supported, otherwise the latest
 * supported one (the client then decides whether it can continue). `supported` must not be empty.
 */
export const negotiate = (requested: string, supported: ReadonlyArray<Revision> = stateful): Revision => {
  if ((supported as ReadonlyArray<string>).includes(requested)) return requested as Revision
  return [...supported].sort().at(-1)!
}

/** The code for "resource not found": -32002 in the stateful era, -32602 (Invalid params) in 2026-07-28. */
export const resourceNotFoundCode = (revision: Revision): number => (era(revision) === "stateless" ? -32602 : -32002)

/**
 * The `_meta` keys 2026-07-28 reserves: every request carries the protocol version, the client's capabilities
 * and info (and optionally its log level); results carry the server's info; subscription notifications carry
 * the subscription id. Earlier revisions have none of them.
 */
export const metaKeys = {
  protocolVersion: "io.modelcontextprotocol/protocolVersion",
  clientCapabilities: "io.modelcontextprotocol/clientCapabilities",
  clientInfo: "io.modelcontextprotocol/clientInfo",
  logLevel: "io.modelcontextprotocol/logLevel",
  serverInfo: "io.modelcontextprotocol/serverInfo",
  subscriptionId: "io.modelcontextprotocol/subscriptionId"
} as const

/** Does this revision put `resultType` on every result (2026-07-28)? Absent means `"complete"`. */
export const hasResultType = (revision: Revision): boolean => era(revision) === "stateless"
