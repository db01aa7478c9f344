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
