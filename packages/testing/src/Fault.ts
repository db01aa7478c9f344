/**
 * Network faults as data, each named after the FMEA mode it reproduces and carrying that mode's id (`mode`),
 * as every typed error in effect-mcp does. A fault is a plain JSON value (a Schema), so a schedule that made a
 * property fail can be printed, stored and replayed.
 *
 * Faults act on encoded frames between two real `JsonRpcCodec`s (see `FaultyTransport`): corruption flips
 * real bits, fragmentation cuts real bytes (even inside a UTF-8 character), loss and duplication act on whole
 * frames. Times are milliseconds on the Effect `Clock` since the faulty network was created (so the TestClock
 * drives them); `from`/`until` bound when a fault is active; `direction` says which way it acts
 * (`toServer`, `toClient` or `both`, the default); `probability` is per frame, drawn from a seeded `Random`.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Schema from "effect/Schema"

/**
 * Which way a fault acts: frames the client sends (`toServer`), frames the server sends (`toClient`), or both.
 *
 * @since 0.1.0
 * @category models
 */
export const Direction = Schema.Literals(["toServer", "toClient", "both"])
/**
 * @since 0.1.0
 * @category models
 */
export type Direction = typeof Direction.Type

/**
 * One way of a link: the direction a frame travels.
 *
 * @since 0.1.0
 * @category models
 */
export type Way = "toServer" | "toClient"

/** Milliseconds, bounded to a day (a schedule longer than that is a mistake, and arbitraries stay sane). */
const Millis = Schema.Finite.check(Schema.isBetween({ minimum: 0, maximum: 86_400_000 }))
const Probability = Schema.Finite.check(Schema.isBetween({ minimum: 0, maximum: 1 }))

const window = {
  direction: Schema.optionalKey(Direction),
  from: Schema.optionalKey(Millis),
  until: Schema.optionalKey(Millis)
}

/**
 * FM-24 High latency: every frame is delayed by `ms` plus a uniform jitter in `[0, jitterMs]`. The link stays a
 * stream: jitter never reorders frames (use `OutOfOrderPackets` for that).
 *
 * @since 0.1.0
 * @category models
 */
export const HighLatency = Schema.TaggedStruct("HighLatency", {
  mode: Schema.tag("FM-24"),
  ms: Millis,
  jitterMs: Schema.optionalKey(Millis),
  ...window
})
/**
 * @since 0.1.0
 * @category models
 */
export type HighLatency = typeof HighLatency.Type

/**
 * FM-22 / FM-23 Packet loss: each frame is lost with `probability` (FM-22 up to 5 %, FM-23 above).
 *
 * @since 0.1.0
 * @category models
 */
export const PacketLoss = Schema.TaggedStruct("PacketLoss", {
  mode: Schema.Literals(["FM-22", "FM-23"]),
  probability: Probability,
  ...window
})
/**
 * @since 0.1.0
 * @category models
 */
export type PacketLoss = typeof PacketLoss.Type

/**
 * FM-26 Duplicate packets: each frame is delivered twice with `probability`, the copy up to `gapMs` later.
 *
 * @since 0.1.0
 * @category models
 */
export const DuplicatePackets = Schema.TaggedStruct("DuplicatePackets", {
  mode: Schema.tag("FM-26"),
  probability: Probability,
  gapMs: Schema.optionalKey(Millis),
  ...window
})
/**
 * @since 0.1.0
 * @category models
 */
export type DuplicatePackets = typeof DuplicatePackets.Type

/**
 * FM-27 Out-of-order packets: each frame is held back with `probability` by a uniform `(0, holdMs]`, so frames
 * sent after it can overtake it. Whole frames only: bytes of two frames never interleave.
 *
 * @since 0.1.0
 * @category models
 */
export const OutOfOrderPackets = Schema.TaggedStruct("OutOfOrderPackets", {
  mode: Schema.tag("FM-27"),
  probability: Probability,
  holdMs: Millis,
  ...window
})
/**
 * @since 0.1.0
 * @category models
 */
export type OutOfOrderPackets = typeof OutOfOrderPackets.Type

/**
 * FM-12 Message corruption (bit flip): with `probability`, `bits` random bits of the frame are flipped (never
 * the final newline, and never into a newline, so one frame stays one frame). JSON-RPC has no checksum: a
 * corrupted frame may still decode, as a different message.
 *
 * @since 0.1.0
 * @category models
 */
export const MessageCorruption = Schema.TaggedStruct("MessageCorruption", {
  mode: Schema.tag("FM-12"),
  probability: Probability,
  bits: Schema.optionalKey(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 64 }))),
  ...window
})
/**
 * @since 0.1.0
 * @category models
 */
export type MessageCorruption = typeof MessageCorruption.Type

/**
 * FM-30 Message fragmentation: with `probability`, a frame arrives as 2 … `maxPieces` chunks cut at random
 * bytes, up to `gapMs` apart. Frames after it wait (a stream never interleaves).
 *
 * @since 0.1.0
 * @category models
 */
export const MessageFragmentation = Schema.TaggedStruct("MessageFragmentation", {
  mode: Schema.tag("FM-30"),
  probability: Probability,
  maxPieces: Schema.optionalKey(Schema.Int.check(Schema.isBetween({ minimum: 2, maximum: 64 }))),
  gapMs: Schema.optionalKey(Millis),
  ...window
})
/**
 * @since 0.1.0
 * @category models
 */
export type MessageFragmentation = typeof MessageFragmentation.Type

/**
 * FM-31 Connection hang: between `from` and `until` nothing is delivered in `direction`; frames wait (bounded
 * by the link's capacity, which then pushes back on senders) and arrive, in order, when the hang ends.
 *
 * @since 0.1.0
 * @category models
 */
export const ConnectionHang = Schema.TaggedStruct("ConnectionHang", {
  mode: Schema.tag("FM-31"),
  direction: Schema.optionalKey(Direction),
  from: Millis,
  until: Millis
})
/**
 * @since 0.1.0
 * @category models
 */
export type ConnectionHang = typeof ConnectionHang.Type

/**
 * FM-13 Network partition: while active, frames in `direction` vanish at delivery time and the connection
 * stays up (nobody is told). A one-way partition (`toServer` or `toClient`) is the nasty kind.
 *
 * @since 0.1.0
 * @category models
 */
export const NetworkPartition = Schema.TaggedStruct("NetworkPartition", {
  mode: Schema.tag("FM-13"),
  ...window
})
/**
 * @since 0.1.0
 * @category models
 */
export type NetworkPartition = typeof NetworkPartition.Type

/**
 * FM-40 Transport crash: at `at`, every open connection closes. `clean`: the peer hung up (frames already
 * sent still arrive, then both ends see the end of input, as `ConnectionClosed`). `abrupt`: a reset (frames
 * in flight are lost, both ends fail at once with `TransportFailure`).
 *
 * @since 0.1.0
 * @category models
 */
export const Disconnect = Schema.TaggedStruct("Disconnect", {
  mode: Schema.tag("FM-40"),
  at: Millis,
  kind: Schema.Literals(["clean", "abrupt"])
})
/**
 * @since 0.1.0
 * @category models
 */
export type Disconnect = typeof Disconnect.Type

/**
 * FM-25 Persistent connection loss: at `at`, every open connection is reset and new connections are refused
 * for `forMs` (a client must reconnect, with backoff, once the network is back).
 *
 * @since 0.1.0
 * @category models
 */
export const ConnectionLoss = Schema.TaggedStruct("ConnectionLoss", {
  mode: Schema.tag("FM-25"),
  at: Millis,
  forMs: Millis
})
/**
 * @since 0.1.0
 * @category models
 */
export type ConnectionLoss = typeof ConnectionLoss.Type

/**
 * Any fault.
 *
 * @since 0.1.0
 * @category models
 */
export const Fault = Schema.Union([
  HighLatency,
  PacketLoss,
  DuplicatePackets,
  OutOfOrderPackets,
  MessageCorruption,
  MessageFragmentation,
  ConnectionHang,
  NetworkPartition,
  Disconnect,
  ConnectionLoss
])
/**
 * @since 0.1.0
 * @category models
 */
export type Fault = typeof Fault.Type

/**
 * The tag of a fault.
 *
 * @since 0.1.0
 * @category models
 */
export type Tag = Fault["_tag"]

/**
 * Every fault tag, in the order faults act on a frame.
 *
 * @since 0.1.0
 * @category models
 */
export const tags: ReadonlyArray<Tag> = [
  "NetworkPartition",
  "PacketLoss",
  "MessageCorruption",
  "DuplicatePackets",
  "MessageFragmentation",
  "OutOfOrderPackets",
  "HighLatency",
  "ConnectionHang",
  "Disconnect",
  "ConnectionLoss"
]

// ---- constructors -----------------------------------------------------------------------------------------

/**
 * When and where a per-frame fault is active.
 *
 * @since 0.1.0
 * @category models
 */
export interface Window {
  readonly direction?: Direction
  /** Start, since the network was created (default: from the start). */
  readonly from?: Duration.Input
  /** End, exclusive (default: forever). */
  readonly until?: Duration.Input
}

const ms = (input: Duration.Input): number => Duration.toMillis(Duration.fromInputUnsafe(input))

const windowOf = (w: Window | undefined) => ({
  ...(w?.direction === undefined ? {} : { direction: w.direction }),
  ...(w?.from === undefined ? {} : { from: ms(w.from) }),
  ...(w?.until === undefined ? {} : { until: ms(w.until) })
})

const probabilityOf = (p: number): number => {
  if (!(p >= 0 && p <= 1)) throw new RangeError(`a probability is between 0 and 1, got ${p}`)
  return p
}

/**
 * FM-24: delays every frame by `latency` plus up to `jitter`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const highLatency = (latency: Duration.Input, options?: Window & { readonly jitter?: Duration.Input }): HighLatency =>
  HighLatency.make({
    ms: ms(latency),
    ...(options?.jitter === undefined ? {} : { jitterMs: ms(options.jitter) }),
    ...windowOf(options)
  })

/**
 * FM-22 (≤ 5 %) or FM-23 (more): loses each frame with `probability`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const packetLoss = (probability: number, options?: Window): PacketLoss =>
  PacketLoss.make({
    mode: probabilityOf(probability) <= 0.05 ? "FM-22" : "FM-23",
    probability,
    ...windowOf(options)
  })

/**
 * FM-26: delivers each frame twice with `probability`, the copy up to `gap` later.
 *
 * @since 0.1.0
 * @category constructors
 */
export const duplicatePackets = (probability: number, options?: Window & { readonly gap?: Duration.Input }): DuplicatePackets =>
  DuplicatePackets.make({
    probability: probabilityOf(probability),
    ...(options?.gap === undefined ? {} : { gapMs: ms(options.gap) }),
    ...windowOf(options)
  })

/**
 * FM-27: holds each frame back with `probability` by up to `hold`, so later frames overtake it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const outOfOrderPackets = (probability: number, hold: Duration.Input, options?: Window): OutOfOrderPackets =>
  OutOfOrderPackets.make({ probability: probabilityOf(probability), holdMs: ms(hold), ...windowOf(options) })

/**
 * FM-12: flips `bits` (default 1) random bits of each frame with `probability`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const messageCorruption = (probability: number, options?: Window & { readonly bits?: number }): MessageCorruption =>
  MessageCorruption.make({
    probability: probabilityOf(probability),
    ...(options?.bits === undefined ? {} : { bits: options.bits }),
    ...windowOf(options)
  })

/**
 * FM-30: cuts each frame with `probability` into 2 … `maxPieces` (default 4) chunks, up to `gap` apart.
 *
 * @since 0.1.0
 * @category constructors
 */
export const messageFragmentation = (
  probability: number,
  options?: Window & { readonly maxPieces?: number; readonly gap?: Duration.Input }
): MessageFragmentation =>
  MessageFragmentation.make({
    probability: probabilityOf(probability),
    ...(options?.maxPieces === undefined ? {} : { maxPieces: options.maxPieces }),
    ...(options?.gap === undefined ? {} : { gapMs: ms(options.gap) }),
    ...windowOf(options)
  })

/**
 * FM-31: nothing is delivered in `direction` between `from` and `until`; frames wait and then arrive in order.
 *
 * @since 0.1.0
 * @category constructors
 */
export const connectionHang = (
  from: Duration.Input,
  until: Duration.Input,
  direction: Direction = "both"
): ConnectionHang => ConnectionHang.make({ from: ms(from), until: ms(until), direction })

/**
 * FM-13: frames in `direction` vanish while the partition lasts (default: from the start, forever).
 *
 * @since 0.1.0
 * @category constructors
 */
export const networkPartition = (direction: Direction, options?: Omit<Window, "direction">): NetworkPartition =>
  NetworkPartition.make({ ...windowOf(options), direction })

/**
 * FM-40: at `at`, every open connection closes, cleanly or abruptly.
 *
 * @since 0.1.0
 * @category constructors
 */
export const disconnect = (at: Duration.Input, kind: "clean" | "abrupt"): Disconnect =>
  Disconnect.make({ at: ms(at), kind })

/**
 * FM-25: at `at`, every open connection is reset and new ones are refused for `duration`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const connectionLoss = (at: Duration.Input, duration: Duration.Input): ConnectionLoss =>
  ConnectionLoss.make({ at: ms(at), forMs: ms(duration) })

// ---- queries ----------------------------------------------------------------------------------------------

/**
 * Does a per-frame fault act on `way` at `now` (ms since the network started)? Timed faults (`Disconnect`,
 * `ConnectionLoss`) are events, not windows: never "active".
 *
 * @since 0.1.0
 * @category queries
 */
export const isActive = (fault: Fault, way: Way, now: number): boolean => {
  if (fault._tag === "Disconnect" || fault._tag === "ConnectionLoss") return false
  const direction = fault.direction ?? "both"
  if (direction !== "both" && direction !== way) return false
  if (fault.from !== undefined && now < fault.from) return false
  if (fault.until !== undefined && now >= fault.until) return false
  return true
}

/**
 * A one-line description of a fault, for logs and reports (`FM-24 HighLatency 100 ms ±50 ms toServer`).
 *
 * @since 0.1.0
 * @category formatting
 */
export const describe = (fault: Fault): string => {
  const when = (f: { readonly from?: number; readonly until?: number; readonly direction?: Direction }) => {
    const parts: Array<string> = [f.direction ?? "both"]
    if (f.from !== undefined || f.until !== undefined) parts.push(`[${f.from ?? 0} ms, ${f.until ?? "∞"} ms)`)
    return parts.join(" ")
  }
  switch (fault._tag) {
    case "HighLatency":
      return `${fault.mode} HighLatency ${fault.ms} ms ±${fault.jitterMs ?? 0} ms ${when(fault)}`
    case "PacketLoss":
      return `${fault.mode} PacketLoss p=${fault.probability} ${when(fault)}`
    case "DuplicatePackets":
      return `${fault.mode} DuplicatePackets p=${fault.probability} gap≤${fault.gapMs ?? 0} ms ${when(fault)}`
    case "OutOfOrderPackets":
      return `${fault.mode} OutOfOrderPackets p=${fault.probability} hold≤${fault.holdMs} ms ${when(fault)}`
    case "MessageCorruption":
      return `${fault.mode} MessageCorruption p=${fault.probability} bits=${fault.bits ?? 1} ${when(fault)}`
    case "MessageFragmentation":
      return `${fault.mode} MessageFragmentation p=${fault.probability} pieces≤${fault.maxPieces ?? 4} gap≤${fault.gapMs ?? 0} ms ${when(fault)}`
    case "ConnectionHang":
      return `${fault.mode} ConnectionHang ${when(fault)}`
    case "NetworkPartition":
      return `${fault.mode} NetworkPartition ${when(fault)}`
    case "Disconnect":
      return `${fault.mode} Disconnect ${fault.kind} at ${fault.at} ms`
    case "ConnectionLoss":
      return `${fault.mode} ConnectionLoss at ${fault.at} ms for ${fault.forMs} ms`
  }
}
