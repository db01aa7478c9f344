/**
 * `@effect-mcp/faults`: the FMEA catalogue as data, and its report.
 *
 * @since 0.1.0
 */

/** The 52 failure modes as data, and the lookup of a typed error's mode. @since 0.1.0 */
export * as FailureMode from "./FailureMode.ts"

/** The generated FMEA matrix (`docs/fmea.md`). @since 0.1.0 */
export * as FmeaReport from "./FmeaReport.ts"

/** An OTP-style supervisor: child specs, strategies, intensity and period, as data. @since 0.1.0 */
export * as Supervisor from "./Supervisor.ts"

/** Keyed circuit breakers: failure-rate and slow-call thresholds, half-open probes, manual control (FM-14, FM-42). @since 0.1.0 */
export * as CircuitBreaker from "./CircuitBreaker.ts"

/** Bulkheads: bounded concurrency, a bounded queue with a queue-time limit (FM-04, FM-37, FM-45). @since 0.1.0 */
export * as Bulkhead from "./Bulkhead.ts"

/** Token-bucket rate limits per key, failing open or closed when the limiter fails (FM-17, FM-46). @since 0.1.0 */
export * as RateLimit from "./RateLimit.ts"

/** Time bounds that follow observed latency: percentile × factor within [min, max] (FM-21, FM-24). @since 0.1.0 */
export * as AdaptiveTimeout from "./AdaptiveTimeout.ts"

/** Schemas for tunable settings, and validation that lists every problem (FM-20). @since 0.1.0 */
export * as Tunable from "./Tunable.ts"
