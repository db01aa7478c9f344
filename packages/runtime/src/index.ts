/**
 * `@effect-mcp/runtime`: the five supervision tiers as Layers on the faults package's `Supervisor`, the root
 * that composes them, their members (registry, sessions, tasks, subscriptions, event stores, run-once cache,
 * drain, resource monitor, health, recovery) and fault injection.
 *
 * @since 0.1.0
 */

/** The root of the supervision tree: the tiers under a configurable strategy. @since 0.1.0 */
export * as Runtime from "./Runtime.ts"

/** The five tiers as Layers, and the server and transport registration APIs. @since 0.1.0 */
export * as Tiers from "./Tiers.ts"

/** Tier 1: the routing table, with a timeout on every call and rebuild on restart. @since 0.1.0 */
export * as Registry from "./Registry.ts"

/** Tier 2: sessions with idle expiry. @since 0.1.0 */
export * as SessionManager from "./SessionManager.ts"

/** Tier 2: process-wide background tasks. @since 0.1.0 */
export * as TaskManager from "./TaskManager.ts"

/** Tier 2: resource-change subscriptions by topic. @since 0.1.0 */
export * as Subscriptions from "./Subscriptions.ts"

/** Tier 2: the SSE resumption event stores of all sessions. @since 0.1.0 */
export * as EventStore from "./EventStore.ts"

/** Tier 2 as the Streamable HTTP server's state: its session table and event stores. @since 0.1.0 */
export * as HttpState from "./HttpState.ts"

/** Tier 2: run-once by key (idempotency). @since 0.1.0 */
export * as DedupCache from "./DedupCache.ts"

/** Tier 2: graceful drain. @since 0.1.0 */
export * as Drain from "./Drain.ts"

/** Tier 5: resource levels and load shedding. @since 0.1.0 */
export * as ResourceMonitor from "./ResourceMonitor.ts"

/** Tier 5: liveness, readiness, and the /health, /ready and /metrics routes. @since 0.1.0 */
export * as Health from "./Health.ts"

/** Tier 5: drains the process on a sustained resource emergency. @since 0.1.0 */
export * as RecoveryManager from "./RecoveryManager.ts"

/** Crash injection into supervised effects. @since 0.1.0 */
export * as FaultInjection from "./FaultInjection.ts"

/** Tier 5: OTLP export of traces and metrics, isolated from serving. @since 0.1.0 */
export * as Telemetry from "./Telemetry.ts"
