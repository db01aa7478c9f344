/**
 * `@effect-mcp/testing`: property-test failure modes on the TestClock. A fault-injecting in-memory network
 * whose faults are named after the FMEA modes, fast-check arbitraries for MCP messages of every revision,
 * hostile frames and fault schedules, a scenario runner that checks the invariants every component must
 * keep, and helpers to crash a component and measure the blast radius.
 *
 * @since 0.1.0
 */

/** Network faults as data, each named after its FMEA mode. @since 0.1.0 */
export * as Fault from "./Fault.ts"

/** Fault schedules and their arbitraries. @since 0.1.0 */
export * as FaultSchedule from "./FaultSchedule.ts"

/** The fault-injecting in-memory network and transport pair. @since 0.1.0 */
export * as FaultyTransport from "./FaultyTransport.ts"

/** A ledger of side effects, to catch ones that ran twice. @since 0.1.0 */
export * as Ledger from "./Ledger.ts"

/** The scenario runner and its invariants. @since 0.1.0 */
export * as Scenario from "./Scenario.ts"

/** fast-check properties with Effect bodies, each run on a fresh TestClock. @since 0.1.0 */
export * as Property from "./Property.ts"

/** Arbitrary MCP messages of every revision, from the generated schemas. @since 0.1.0 */
export * as McpArbitrary from "./McpArbitrary.ts"

/** Arbitrary hostile frames, labelled with what the codec must make of them. @since 0.1.0 */
export * as HostileFrame from "./HostileFrame.ts"

/** Crash a component and check the blast radius. @since 0.1.0 */
export * as BlastRadius from "./BlastRadius.ts"
