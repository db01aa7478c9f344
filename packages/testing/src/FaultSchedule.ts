/**
 * A fault schedule: the faults one faulty network applies, as data (`Fault`s, each with its FMEA mode), and
 * fast-check arbitraries that generate schedules for property tests. A schedule plus a seed determines every
 * decision the network makes, so a counterexample replays exactly.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import fc from "fast-check"
import type { FailureMode } from "@effect-mcp/faults"
import * as Fault from "./Fault.ts"

/**
 * The faults a network applies (order matters only for the order of random draws).
 *
 * @since 0.1.0
 * @category models
 */
export const FaultSchedule = Schema.Array(Fault.Fault)
/**
 * @since 0.1.0
 * @category models
 */
export type FaultSchedule = ReadonlyArray<Fault.Fault>

/**
 * No faults: a perfect network.
 *
 * @since 0.1.0
 * @category constructors
 */
export const none: FaultSchedule = []

/**
 * A schedule of the given faults.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (...faults: ReadonlyArray<Fault.Fault>): FaultSchedule => faults

/**
 * The FMEA modes a schedule exercises, sorted.
 *
 * @since 0.1.0
 * @category queries
 */
export const modes = (schedule: FaultSchedule): ReadonlyArray<FailureMode.ModeId> =>
  [...new Set(schedule.map((f) => f.mode as FailureMode.ModeId))].sort()

/**
 * One line per fault.
 *
 * @since 0.1.0
 * @category formatting
 */
export const describe = (schedule: FaultSchedule): string =>
  schedule.length === 0 ? "(no faults)" : schedule.map(Fault.describe).join("; ")

/**
 * The latest time a schedule mentions (a window's end, a disconnect, an outage's end), in ms.
 *
 * @since 0.1.0
 * @category queries
 */
export const horizonMs = (schedule: FaultSchedule): number => {
  let horizon = 0
  for (const f of schedule) {
    switch (f._tag) {
      case "Disconnect":
        horizon = Math.max(horizon, f.at)
        break
      case "ConnectionLoss":
        horizon = Math.max(horizon, f.at + f.forMs)
        break
      default:
        horizon = Math.max(horizon, f.from ?? 0, f.until ?? 0)
    }
  }
  return horizon
}

// ---- arbitraries ------------------------------------------------------------------------------------------

/**
 * Bounds of generated schedules.
 *
 * @since 0.1.0
 * @category arbitraries
 */
export interface ArbitraryOptions {
  /** The fault kinds to draw from (default: every per-frame fault, no disconnects). */
  readonly tags?: ReadonlyArray<Fault.Tag>
  /** At most this many faults (default 3). */
  readonly maxFaults?: number
  /** At least this many faults (default 0). */
  readonly minFaults?: number
  /** Windows and events fall within `[0, horizonMs)` (default 10 s). */
  readonly horizonMs?: number
  /** Largest latency, jitter, gap or hold (default 2 s). */
  readonly maxDelayMs?: number
  /** Largest per-frame probability (default 0.5): keep it below 1 so a workload can make progress. */
  readonly maxProbability?: number
  /** Longest hang, partition or outage (default 5 s). */
  readonly maxOutageMs?: number
}

const defaultTags: ReadonlyArray<Fault.Tag> = [
  "HighLatency",
  "PacketLoss",
  "DuplicatePackets",
  "OutOfOrderPackets",
  "MessageCorruption",
  "MessageFragmentation",
  "ConnectionHang",
  "NetworkPartition"
]

const direction = fc.constantFrom<Fault.Direction>("both", "toServer", "toClient")

/**
 * An arbitrary fault of one kind, within the bounds.
 *
 * @since 0.1.0
 * @category arbitraries
 */
export const faultArbitrary = (tag: Fault.Tag, options: ArbitraryOptions = {}): fc.Arbitrary<Fault.Fault> => {
  const horizon = Math.max(1, Math.floor(options.horizonMs ?? 10_000))
  const maxDelay = Math.max(1, Math.floor(options.maxDelayMs ?? 2_000))
  const maxOutage = Math.max(1, Math.floor(options.maxOutageMs ?? 5_000))
  const maxP = options.maxProbability ?? 0.5
  // in thousandths: fast-check's doubles crowd around 0, where a fault never acts
  const permille = (max: number) => fc.integer({ min: 1, max: Math.max(1, Math.round(max * 1000)) }).map((n) => n / 1000)
  const probability = permille(maxP)
  const delay = fc.integer({ min: 0, max: maxDelay })
  const at = fc.integer({ min: 0, max: horizon - 1 })
  /** A window: mostly the whole run, sometimes a slice of it. */
  const window = fc.oneof(
    { weight: 2, arbitrary: fc.constant({}) },
    {
      weight: 1,
      arbitrary: fc.tuple(at, fc.integer({ min: 1, max: maxOutage })).map(([from, length]) => ({ from, until: from + length }))
    }
  )
  const withDirection = <A>(a: fc.Arbitrary<A>) =>
    fc.tuple(a, direction, window).map(([fields, dir, w]) => ({ ...fields, direction: dir, ...w }))
  switch (tag) {
    case "HighLatency":
      return withDirection(fc.record({ ms: delay, jitterMs: delay })).map((f) =>
        Fault.HighLatency.make(f)
      )
    case "PacketLoss":
      return withDirection(fc.record({ probability })).map((f) =>
        Fault.PacketLoss.make({ ...f, mode: f.probability <= 0.05 ? "FM-22" : "FM-23" })
      )
    case "DuplicatePackets":
      return withDirection(fc.record({ probability, gapMs: delay })).map((f) => Fault.DuplicatePackets.make(f))
    case "OutOfOrderPackets":
      return withDirection(fc.record({ probability, holdMs: fc.integer({ min: 1, max: maxDelay }) })).map((f) =>
        Fault.OutOfOrderPackets.make(f)
      )
    case "MessageCorruption":
      return withDirection(fc.record({ probability, bits: fc.integer({ min: 1, max: 8 }) })).map((f) =>
        Fault.MessageCorruption.make(f)
      )
    case "MessageFragmentation":
      return withDirection(
        fc.record({ probability: permille(1), maxPieces: fc.integer({ min: 2, max: 16 }), gapMs: delay })
      ).map((f) => Fault.MessageFragmentation.make(f))
    case "ConnectionHang":
      return fc.tuple(at, fc.integer({ min: 1, max: maxOutage }), direction).map(([from, length, dir]) =>
        Fault.ConnectionHang.make({ from, until: from + length, direction: dir })
      )
    case "NetworkPartition":
      return fc.tuple(at, fc.integer({ min: 1, max: maxOutage }), direction).map(([from, length, dir]) =>
        Fault.NetworkPartition.make({ from, until: from + length, direction: dir })
      )
    case "Disconnect":
      return fc.tuple(at, fc.constantFrom<"clean" | "abrupt">("clean", "abrupt")).map(([t, kind]) =>
        Fault.Disconnect.make({ at: t, kind })
      )
    case "ConnectionLoss":
      return fc.tuple(at, fc.integer({ min: 0, max: maxOutage })).map(([t, forMs]) =>
        Fault.ConnectionLoss.make({ at: t, forMs })
      )
  }
}

/**
 * Arbitrary schedules: up to `maxFaults` faults of the given kinds (default: every per-frame fault, moderate
 * probabilities, windows within 10 s). Shrinks towards fewer, milder faults.
 *
 * @since 0.1.0
 * @category arbitraries
 */
export const arbitrary = (options: ArbitraryOptions = {}): fc.Arbitrary<FaultSchedule> => {
  const tags = options.tags ?? defaultTags
  if (tags.length === 0) return fc.constant(none)
  const fault = fc.oneof(...tags.map((tag) => faultArbitrary(tag, options)))
  return fc.array(fault, { minLength: options.minFaults ?? 0, maxLength: options.maxFaults ?? 3 })
}

/**
 * An arbitrary seed for a faulty network (replay a failure with the seed fast-check prints).
 *
 * @since 0.1.0
 * @category arbitraries
 */
export const seedArbitrary: fc.Arbitrary<number> = fc.integer({ min: 0, max: 0x7fffffff })
