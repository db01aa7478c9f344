/**
 * `@effect-mcp/chaos`: the chaos harness (`pnpm chaos`). Its parts that other tests can use: the fault proxy
 * and the chaos target server.
 *
 * @since 0.1.0
 */

/** A fault-injecting TCP proxy (latency, jitter, bandwidth, split writes, stalls, duplicates, close, reset, flaps). @since 0.1.0 */
export * as FaultProxy from "./FaultProxy.ts"

/** The chaos target: an `McpServer` with a keyed side-effect tool and a ledger. @since 0.1.0 */
export * as ChaosServer from "./ChaosServer.ts"
