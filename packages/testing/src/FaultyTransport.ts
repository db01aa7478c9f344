/**
 * A fault-injecting in-memory network: pairs of `Transport`s whose messages really go through the codec
 * (encoded to NDJSON bytes by the sender's `JsonRpcCodec`, framed and decoded by the receiver's), with the
 * faults of a `FaultSchedule` applied to the bytes in between. Corruption flips real bits, fragmentation
 * cuts real frames, loss and duplication act on whole frames, delays are `Effect.sleep`s (the TestClock
 * drives them) and every random decision comes from a `Random` seeded per link and direction, so a seed and a
 * schedule replay exactly.
 *
 * Everything is bounded: frames in flight per direction (a full link makes `send` wait), received chunks
 * waiting for the reader, the trace.
 *
 * @since 0.1.0
 */
import type * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Queue from "effect/Queue"
import * as Random from "effect/Random"
import * as Result from "effect/Result"
import type * as Scope from "effect/Scope"
import * as Semaphore from "effect/Semaphore"
import * as Stream from "effect/Stream"
import { Transport } from "@effect-mcp/core"
import { type JsonRpc, JsonRpcCodec } from "@effect-mcp/jsonrpc"
import * as Fault from "./Fault.ts"
import type { FaultSchedule } from "./FaultSchedule.ts"

/**
 * One way of a link: `toServer` (what the client end sends) or `toClient`.
 *
 * @since 0.1.0
 * @category models
 */
export type Way = Fault.Way

/**
 * What happened on the network, in order. `at` is ms since the network started; `link` is the connection's
 * index (0 for the first).
 *
 * @since 0.1.0
 * @category models
 */
export type TraceEntry =
  /** A message accepted by `send` (before any fault). `frame` numbers the frames of one way. */
  | {
    readonly _tag: "Sent"
    readonly at: number
    readonly link: number
    readonly way: Way
    readonly frame: number
    readonly message: JsonRpc.Incoming
  }
  /** The network handed a whole frame (or copy) to the receiving end (`pieces` chunks; `frame` -1: injected). */
  | {
    readonly _tag: "Delivered"
    readonly at: number
    readonly link: number
    readonly way: Way
    readonly frame: number
    readonly pieces: number
  }
  /** A message the receiving end decoded and handed to its reader. */
  | { readonly _tag: "Received"; readonly at: number; readonly link: number; readonly way: Way; readonly message: JsonRpc.Incoming }
  /** A frame the receiving end could not decode (the codec's typed error and its FMEA mode). */
  | {
    readonly _tag: "Undecodable"
    readonly at: number
    readonly link: number
    readonly way: Way
    readonly error: string
    readonly mode: string
  }
  /** A fault acted on a frame (`frame` is -1 for injected bytes). */
  | {
    readonly _tag: "Faulted"
    readonly at: number
    readonly link: number
    readonly way: Way
    readonly frame: number
    readonly fault: Fault.Tag
    readonly mode: string
    readonly detail: string
  }
  /** Raw bytes written into a way by `inject`. */
  | { readonly _tag: "Injected"; readonly at: number; readonly link: number; readonly way: Way; readonly bytes: number }
  /** The link closed. */
  | {
    readonly _tag: "Closed"
    readonly at: number
    readonly link: number
    readonly kind: "clean" | "abrupt"
    readonly reason: string
  }
  /** A connection attempt was refused (an outage). */
  | { readonly _tag: "Refused"; readonly at: number; readonly reason: string }

/**
 * Counters of one way of a link.
 *
 * @since 0.1.0
 * @category models
 */
export interface WayStats {
  /** Frames accepted by `send`. */
  readonly sent: number
  /** Frames (or copies) fully handed to the receiving end. */
  readonly delivered: number
  /** Chunks handed to the receiving end (more than `delivered` when frames were fragmented). */
  readonly chunks: number
  readonly lost: number
  readonly duplicated: number
  readonly corrupted: number
  readonly fragmented: number
  readonly reordered: number
  readonly delayed: number
  /** Frames held back by a connection hang. */
  readonly hung: number
  /** Frames discarded by an abrupt disconnect while in flight. */
  readonly reset: number
}

/**
 * A link's state.
 *
 * @since 0.1.0
 * @category models
 */
export type LinkState =
  | { readonly _tag: "Open" }
  | { readonly _tag: "Closed"; readonly at: number; readonly kind: "clean" | "abrupt"; readonly reason: string }

/**
 * One connection: the client's end, the server's end, and controls.
 *
 * @since 0.1.0
 * @category models
 */
export interface Link {
  /** The connection's index on its network (0 for the first). */
  readonly index: number
  /** The client's end: it sends `toServer` and receives `toClient`. */
  readonly client: Transport.Transport
  /** The server's end. */
  readonly server: Transport.Transport
  /** Closes the connection now: `clean` (in-flight frames arrive, then end of input) or `abrupt` (a reset). */
  readonly disconnect: (kind: "clean" | "abrupt", reason?: string) => Effect.Effect<void>
  /** Frames in `direction` vanish from now, for `duration` (default: until `heal`). FM-13. */
  readonly partition: (direction: Fault.Direction, duration?: Duration.Input) => Effect.Effect<void>
  /** Nothing is delivered in `direction` from now, for `duration` (default: until `heal`). FM-31. */
  readonly hang: (direction: Fault.Direction, duration?: Duration.Input) => Effect.Effect<void>
  /** Ends every partition and hang started with `partition` or `hang`. */
  readonly heal: Effect.Effect<void>
  /** Writes raw bytes into a way, in order with the frames (hostile frames, by hand). */
  readonly inject: (way: Way, bytes: Uint8Array | string) => Effect.Effect<void>
  readonly state: Effect.Effect<LinkState>
  /** Closed, and everything in flight delivered (or reset): both ends have seen the end of their input. */
  readonly drained: Effect.Effect<boolean>
  /** Completes when the link closes. */
  readonly closed: Effect.Effect<Extract<LinkState, { readonly _tag: "Closed" }>>
  readonly stats: Effect.Effect<{ readonly toServer: WayStats; readonly toClient: WayStats }>
  /** Frames and chunks held by the link (in flight or waiting for the reader). */
  readonly buffered: Effect.Effect<number>
  /** This link's part of the network's trace. */
  readonly trace: Effect.Effect<ReadonlyArray<TraceEntry>>
}

/**
 * A faulty network: every `connect` makes a new link with the network's schedule (times are the network's:
 * a `Disconnect` at 5 s closes whatever links are open at 5 s).
 *
 * @since 0.1.0
 * @category models
 */
export interface Network {
  readonly seed: string | number
  readonly schedule: FaultSchedule
  /** The clock time (ms) the network started at: fault times count from it. */
  readonly startedAt: number
  /** A counter of everything that happened (for drivers that wait for the network to settle). */
  readonly activityUnsafe: () => number
  /** A new connection; refused with `TransportFailure` during a `ConnectionLoss` outage (FM-25). */
  readonly connect: Effect.Effect<Link, Transport.TransportFailure>
  readonly links: Effect.Effect<ReadonlyArray<Link>>
  /** Milliseconds since the network started, on the Effect clock. */
  readonly elapsed: Effect.Effect<number>
  /** When new connections are accepted again, if an outage is in effect. */
  readonly refusedUntil: Effect.Effect<number | undefined>
  /** Closes every open link. */
  readonly disconnectAll: (kind: "clean" | "abrupt", reason?: string) => Effect.Effect<void>
  /** Frames and chunks held by every link. */
  readonly buffered: Effect.Effect<number>
  /** Everything that happened, oldest first (bounded: see `traceDropped`). */
  readonly trace: Effect.Effect<ReadonlyArray<TraceEntry>>
  /** Trace entries dropped because the trace was full (then the trace is incomplete). */
  readonly traceDropped: Effect.Effect<number>
}

/**
 * Settings of a faulty network.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Seed of every random decision (default: drawn from the ambient `Random`, so `Random.withSeed` fixes it). */
  readonly seed?: string | number
  /** Frames in flight per direction of a link; past it `send` waits (default 1024). */
  readonly capacity?: number
  /** Trace entries kept (default 100,000). */
  readonly maxTrace?: number
  /** Links at once (default 1,024); past it `connect` is refused. */
  readonly maxLinks?: number
}

interface Entry {
  readonly at: number
  readonly seq: number
  /** Frame number of the way, -1 for injected bytes. */
  readonly frame: number
  /** One delivered copy of a frame (a duplicate is another unit). */
  readonly unit: number
  readonly piece: number
  readonly pieces: number
  readonly bytes: Uint8Array
  hung: boolean
}

interface MutableStats {
  sent: number
  delivered: number
  chunks: number
  lost: number
  duplicated: number
  corrupted: number
  fragmented: number
  reordered: number
  delayed: number
  hung: number
  reset: number
}

const emptyStats = (): MutableStats => ({
  sent: 0,
  delivered: 0,
  chunks: 0,
  lost: 0,
  duplicated: 0,
  corrupted: 0,
  fragmented: 0,
  reordered: 0,
  delayed: 0,
  hung: 0,
  reset: 0
})

const encoder = new TextEncoder()
const NEWLINE = 10

/** Flips `bits` random bits of a frame: never its final newline, never into a newline. */
const corrupt = (bytes: Uint8Array, bits: number, next: () => number): Uint8Array => {
  const out = bytes.slice()
  const body = out.length - (out[out.length - 1] === NEWLINE ? 1 : 0)
  if (body <= 0) return out
  for (let i = 0; i < bits; i++) {
    const at = Math.floor(next() * body)
    let bit = Math.floor(next() * 8)
    // exactly one bit turns a byte into "\n"; take the next one instead
    if ((out[at]! ^ (1 << bit)) === NEWLINE) bit = (bit + 1) % 8
    out[at] = out[at]! ^ (1 << bit)
  }
  return out
}

/** Cuts bytes into `pieces` non-empty chunks at random points. */
const cut = (bytes: Uint8Array, pieces: number, next: () => number): Array<Uint8Array> => {
  const n = Math.min(pieces, bytes.length)
  if (n < 2) return [bytes]
  const points = new Set<number>()
  while (points.size < n - 1) points.add(1 + Math.floor(next() * (bytes.length - 1)))
  const sorted = [...points].sort((a, b) => a - b)
  const out: Array<Uint8Array> = []
  let start = 0
  for (const p of sorted) {
    out.push(bytes.subarray(start, p))
    start = p
  }
  out.push(bytes.subarray(start))
  return out
}

const insert = (pending: Array<Entry>, entry: Entry) => {
  let low = 0
  let high = pending.length
  while (low < high) {
    const mid = (low + high) >>> 1
    const m = pending[mid]!
    if (m.at < entry.at || (m.at === entry.at && m.seq < entry.seq)) low = mid + 1
    else high = mid
  }
  pending.splice(low, 0, entry)
}

const flatten = (incoming: JsonRpc.Incoming): ReadonlyArray<JsonRpc.Message> =>
  Array.isArray(incoming) ? incoming as ReadonlyArray<JsonRpc.Message> : [incoming as JsonRpc.Message]

/**
 * The messages of a trace entry (`Sent` or `Received`), batches flattened.
 *
 * @since 0.1.0
 * @category queries
 */
export const messagesOf = (entry: TraceEntry): ReadonlyArray<JsonRpc.Message> =>
  entry._tag === "Sent" || entry._tag === "Received" ? flatten(entry.message) : []

/**
 * A faulty network in the current scope. Closing the scope resets every link and stops every fiber.
 *
 * @since 0.1.0
 * @category constructors
 */
export const network = (
  schedule: FaultSchedule,
  options: Options = {}
): Effect.Effect<Network, never, JsonRpcCodec.JsonRpcCodec | Scope.Scope> =>
  Effect.gen(function*() {
    const codec = yield* JsonRpcCodec.JsonRpcCodec
    const scope = yield* Effect.scope
    const clock = yield* Clock.clockWith(Effect.succeed)
    const seed = options.seed ?? (yield* Random.nextIntBetween(0, 0x7fffffff))
    const capacity = Math.max(1, options.capacity ?? 1024)
    const maxTrace = Math.max(1, options.maxTrace ?? 100_000)
    const maxLinks = Math.max(1, options.maxLinks ?? 1024)
    const start = clock.currentTimeMillisUnsafe()
    // to the microsecond: the same whatever the clock read when the network started (a replay's floats agree)
    const elapsed = () => Math.round((clock.currentTimeMillisUnsafe() - start) * 1_000) / 1_000

    const traceEntries: Array<TraceEntry> = []
    let traceDropped = 0
    let activity = 0
    const record = (entry: TraceEntry) => {
      activity++
      if (traceEntries.length >= maxTrace) {
        traceDropped++
        return
      }
      traceEntries.push(entry)
    }

    const links: Array<Link> = []
    const closers: Array<(kind: "clean" | "abrupt", reason: string) => Effect.Effect<void>> = []
    let refusedUntil: number | undefined

    const seeded = (label: string) =>
      Random.withSeed(
        Effect.gen(function*() {
          return yield* Random.Random
        }),
        `${seed}:${label}`
      )

    const makeLink = (index: number) =>
      Effect.gen(function*() {
        /** Faults started by `partition` and `hang` on this link. */
        const dynamic: Array<Fault.Fault> = []
        const faultsAt = (way: Way, now: number) =>
          [...schedule, ...dynamic].filter((f) => Fault.isActive(f, way, now))
        let state: LinkState = { _tag: "Open" }
        let inputsEnded = 0
        const closedSignal = yield* Deferred.make<Extract<LinkState, { readonly _tag: "Closed" }>>()

        const makeWay = (way: Way) =>
          Effect.gen(function*() {
            return {
              way,
              rng: yield* seeded(`${index}:${way}`),
              inbox: yield* Queue.bounded<Uint8Array, Transport.TransportFailure | Cause.Done>(capacity),
              wake: yield* Queue.sliding<void>(1),
              permits: yield* Semaphore.make(capacity),
              pending: [] as Array<Entry>,
              fifoAt: 0,
              open: undefined as number | undefined,
              frames: 0,
              units: 0,
              seq: 0,
              remaining: new Map<number, number>(),
              stats: emptyStats()
            }
          })
        type WayState = Effect.Success<ReturnType<typeof makeWay>>
        const ways: Record<Way, WayState> = { toServer: yield* makeWay("toServer"), toClient: yield* makeWay("toClient") }

        const fault = (ws: WayState, frame: number, f: Fault.Fault, detail: string) =>
          record({ _tag: "Faulted", at: elapsed(), link: index, way: ws.way, frame, fault: f._tag, mode: f.mode, detail })

        const settle = (ws: WayState, entry: Entry) => {
          if (entry.frame < 0) return Effect.void
          const left = (ws.remaining.get(entry.frame) ?? 1) - 1
          if (left > 0) {
            ws.remaining.set(entry.frame, left)
            return Effect.void
          }
          ws.remaining.delete(entry.frame)
          return Effect.asVoid(ws.permits.release(1))
        }

        /** Decides every fault of one frame and schedules its deliveries. */
        const plan = (ws: WayState, frame: number, bytes: Uint8Array) => {
          const now = elapsed()
          const next = () => ws.rng.nextDoubleUnsafe()
          const active = faultsAt(ws.way, now)
          const partition = active.find((f) => f._tag === "NetworkPartition")
          if (partition !== undefined) {
            ws.stats.lost++
            fault(ws, frame, partition, "frame lost in a partition")
            return false
          }
          for (const f of active) {
            if (f._tag === "PacketLoss" && next() < f.probability) {
              ws.stats.lost++
              fault(ws, frame, f, "frame lost")
              return false
            }
          }
          let body = bytes
          for (const f of active) {
            if (f._tag === "MessageCorruption" && next() < f.probability) {
              body = corrupt(body, f.bits ?? 1, next)
              ws.stats.corrupted++
              fault(ws, frame, f, `${f.bits ?? 1} bit(s) flipped`)
            }
          }
          let copies = 1
          let copyGap = 0
          for (const f of active) {
            if (f._tag === "DuplicatePackets" && copies === 1 && next() < f.probability) {
              copies = 2
              copyGap = Math.round(next() * (f.gapMs ?? 0))
              ws.stats.duplicated++
              fault(ws, frame, f, `delivered twice, the copy ${Math.round(copyGap)} ms later`)
            }
          }
          let entries = 0
          for (let copy = 0; copy < copies; copy++) {
            const unit = ws.units++
            let delay = copy === 0 ? 0 : copyGap
            for (const f of active) {
              if (f._tag !== "HighLatency") continue
              const latency = Math.round(f.ms + next() * (f.jitterMs ?? 0))
              delay += latency
              if (latency > 0) fault(ws, frame, f, `delayed ${latency} ms`)
            }
            if (delay > 0) ws.stats.delayed++
            let pieces = [body]
            let pieceGap = 0
            for (const f of active) {
              if (f._tag === "MessageFragmentation" && pieces.length === 1 && next() < f.probability) {
                pieces = cut(body, 2 + Math.floor(next() * ((f.maxPieces ?? 4) - 1)), next)
                pieceGap = f.gapMs ?? 0
                if (pieces.length > 1) {
                  ws.stats.fragmented++
                  fault(ws, frame, f, `cut into ${pieces.length} chunks`)
                }
              }
            }
            // whole milliseconds: the same times whatever the clock read when the network started
            let at = Math.ceil(now) + delay
            let fifo = true
            for (const f of active) {
              if (f._tag === "OutOfOrderPackets" && fifo && pieces.length === 1 && next() < f.probability) {
                const hold = Math.max(1, Math.round(next() * f.holdMs))
                at += hold
                fifo = false
                ws.stats.reordered++
                fault(ws, frame, f, `held back ${Math.round(hold)} ms`)
              }
            }
            if (fifo) at = Math.max(at, ws.fifoAt)
            for (let piece = 0; piece < pieces.length; piece++) {
              if (piece > 0) at += Math.round(next() * pieceGap)
              insert(ws.pending, { at, seq: ws.seq++, frame, unit, piece, pieces: pieces.length, bytes: pieces[piece]!, hung: false })
              entries++
            }
            if (fifo) ws.fifoAt = at
          }
          ws.remaining.set(frame, entries)
          return true
        }

        const hangUntil = (way: Way, now: number): number | undefined => {
          let until: number | undefined
          for (const f of faultsAt(way, now)) {
            if (f._tag === "ConnectionHang") until = Math.max(until ?? 0, f.until)
          }
          return until
        }
        const partitionAt = (way: Way, now: number) => faultsAt(way, now).find((f) => f._tag === "NetworkPartition")

        const pick = (ws: WayState): Entry | undefined =>
          ws.open === undefined ? ws.pending[0] : ws.pending.find((e) => e.unit === ws.open)

        /** Hands due chunks to the receiving end, in order, until the link closes. */
        const deliver = (ws: WayState): Effect.Effect<void> =>
          Effect.gen(function*() {
            while (true) {
              if (state._tag === "Closed" && state.kind === "abrupt") return
              const next = pick(ws)
              if (next === undefined) {
                if (state._tag === "Closed") {
                  yield* Queue.end(ws.inbox)
                  inputsEnded++
                  return
                }
                yield* Queue.take(ws.wake)
                continue
              }
              const now = elapsed()
              const hung = hangUntil(ws.way, now)
              if (hung !== undefined) {
                // every frame due during the hang waits for its end
                const f = faultsAt(ws.way, now).find((f) => f._tag === "ConnectionHang")!
                for (const e of ws.pending) {
                  if (e.hung || e.piece > 0 || e.at > hung) continue
                  e.hung = true
                  if (e.frame < 0) continue
                  ws.stats.hung++
                  fault(ws, e.frame, f, `held by a connection hang until ${hung} ms`)
                }
              }
              const until = Math.max(next.at, hung ?? -Infinity)
              if (until > now) {
                // at least a whole millisecond: a sleep shorter than the clock's resolution would spin
                yield* Number.isFinite(until)
                  ? Effect.raceFirst(Effect.sleep(Duration.millis(Math.max(1, Math.ceil(until - now)))), Queue.take(ws.wake))
                  : Queue.take(ws.wake)
                continue
              }
              ws.pending.splice(ws.pending.indexOf(next), 1)
              ws.open = next.piece < next.pieces - 1 ? next.unit : undefined
              const partition = partitionAt(ws.way, now)
              if (partition !== undefined) {
                if (next.piece === 0) {
                  ws.stats.lost++
                  fault(ws, next.frame, partition, "frame lost in a partition")
                }
                yield* settle(ws, next)
                continue
              }
              yield* Queue.offer(ws.inbox, next.bytes)
              ws.stats.chunks++
              if (next.piece === next.pieces - 1) {
                if (next.frame >= 0) ws.stats.delivered++
                record({ _tag: "Delivered", at: elapsed(), link: index, way: ws.way, frame: next.frame, pieces: next.pieces })
              }
              yield* settle(ws, next)
            }
          })

        const deliverers = [
          yield* Effect.forkIn(deliver(ways.toServer), scope),
          yield* Effect.forkIn(deliver(ways.toClient), scope)
        ]

        const signal = (ws: WayState) => Queue.offerUnsafe(ws.wake, undefined)

        const disconnect = (kind: "clean" | "abrupt", reason?: string): Effect.Effect<void> =>
          Effect.suspend(() => {
            if (state._tag === "Closed" && (state.kind === "abrupt" || kind === "clean")) return Effect.void
            // a hang-up turned into a reset keeps the time the link first closed
            const at = state._tag === "Closed" ? state.at : elapsed()
            const why = reason ?? (kind === "clean" ? "the peer closed the connection" : "connection reset")
            state = { _tag: "Closed", at, kind, reason: why }
            record({ _tag: "Closed", at: elapsed(), link: index, kind, reason: why })
            const closedState = state
            if (kind === "clean") {
              signal(ways.toServer)
              signal(ways.toClient)
              return Effect.asVoid(Deferred.succeed(closedSignal, closedState))
            }
            return Effect.gen(function*() {
              yield* Fiber.interruptAll(deliverers)
              for (const ws of [ways.toServer, ways.toClient]) {
                const lost = new Set(ws.pending.filter((e) => e.frame >= 0).map((e) => e.frame))
                ws.stats.reset += lost.size
                ws.pending = []
                ws.remaining.clear()
                yield* Effect.ignore(Queue.clear(ws.inbox))
                yield* Queue.fail(ws.inbox, new Transport.TransportFailure({ detail: `${why} (FM-40)` }))
                // wake every sender waiting for room: they see the link closed
                yield* ws.permits.releaseAll
              }
              yield* Deferred.succeed(closedSignal, closedState)
            })
          })

        const isClosed = () => state._tag === "Closed"
        const closedError = () =>
          state._tag === "Closed" && state.kind === "abrupt"
            ? new Transport.TransportFailure({ detail: state.reason })
            : new Transport.ConnectionClosed({ reason: state._tag === "Closed" ? state.reason : "closed" })

        const endOf = (out: WayState, inbox: WayState): Transport.Transport => ({
          incoming: codec.decodeNdjson(Stream.fromQueue(inbox.inbox), { allowBatch: true }).pipe(
            Stream.tap((decoded) =>
              Effect.sync(() => {
                record(
                  Result.isSuccess(decoded)
                    ? { _tag: "Received", at: elapsed(), link: index, way: inbox.way, message: decoded.success }
                    : {
                      _tag: "Undecodable",
                      at: elapsed(),
                      link: index,
                      way: inbox.way,
                      error: decoded.failure._tag,
                      mode: decoded.failure.mode
                    }
                )
              })
            )
          ),
          send: (message) =>
            Effect.gen(function*() {
              if (state._tag === "Closed") return yield* Effect.fail(closedError())
              const frame = codec.encodeNdjson(message)
              if (Result.isFailure(frame)) return yield* Effect.fail(frame.failure)
              yield* out.permits.take(1)
              if (isClosed()) {
                yield* out.permits.release(1)
                return yield* Effect.fail(closedError())
              }
              const number = out.frames++
              out.stats.sent++
              record({ _tag: "Sent", at: elapsed(), link: index, way: out.way, frame: number, message })
              if (plan(out, number, frame.success)) signal(out)
              else yield* out.permits.release(1)
            }),
          close: disconnect("clean", "closed locally")
        })

        const dynamicWindow = (
          make: (from: number, until: number | undefined) => Fault.Fault,
          duration: Duration.Input | undefined
        ) =>
          Effect.sync(() => {
            const now = elapsed()
            // bounded: the oldest window goes first
            if (dynamic.length >= 256) dynamic.shift()
            dynamic.push(make(now, duration === undefined ? undefined : now + Duration.toMillis(Duration.fromInputUnsafe(duration))))
            signal(ways.toServer)
            signal(ways.toClient)
          })

        const link: Link = {
          index,
          client: endOf(ways.toServer, ways.toClient),
          server: endOf(ways.toClient, ways.toServer),
          disconnect,
          partition: (direction, duration) =>
            dynamicWindow(
              (from, until) =>
                Fault.NetworkPartition.make({ direction, from, ...(until === undefined ? {} : { until }) }),
              duration
            ),
          hang: (direction, duration) =>
            dynamicWindow(
              (from, until) => Fault.ConnectionHang.make({ direction, from, until: until ?? 86_400_000 }),
              duration
            ),
          heal: Effect.sync(() => {
            dynamic.length = 0
            signal(ways.toServer)
            signal(ways.toClient)
          }),
          inject: (way, bytes) =>
            Effect.sync(() => {
              const ws = ways[way]
              if (state._tag === "Closed") return
              const data = typeof bytes === "string" ? encoder.encode(bytes) : bytes
              record({ _tag: "Injected", at: elapsed(), link: index, way, bytes: data.length })
              const at = Math.max(Math.ceil(elapsed()), ws.fifoAt)
              ws.fifoAt = at
              insert(ws.pending, { at, seq: ws.seq++, frame: -1, unit: ws.units++, piece: 0, pieces: 1, bytes: data, hung: false })
              signal(ws)
            }),
          state: Effect.sync(() => state),
          drained: Effect.sync(() => state._tag === "Closed" && (state.kind === "abrupt" || inputsEnded === 2)),
          closed: Deferred.await(closedSignal),
          stats: Effect.sync(() => ({ toServer: { ...ways.toServer.stats }, toClient: { ...ways.toClient.stats } })),
          buffered: Effect.sync(() =>
            ways.toServer.pending.length + ways.toClient.pending.length +
            Queue.sizeUnsafe(ways.toServer.inbox) + Queue.sizeUnsafe(ways.toClient.inbox)
          ),
          trace: Effect.sync(() => traceEntries.filter((e) => "link" in e && e.link === index))
        }
        closers.push(disconnect)
        return link
      })

    // timed events: disconnects and outages act on the links open at that moment
    for (const f of schedule) {
      if (f._tag !== "Disconnect" && f._tag !== "ConnectionLoss") continue
      yield* Effect.sleep(Duration.millis(f.at)).pipe(
        Effect.andThen(Effect.suspend(() => {
          if (f._tag === "ConnectionLoss") refusedUntil = Math.max(refusedUntil ?? 0, f.at + f.forMs)
          const reason = f._tag === "Disconnect"
            ? `scheduled ${f.kind} disconnect (${f.mode})`
            : `connection lost for ${f.forMs} ms (${f.mode})`
          return Effect.forEach(links, (link, i) =>
            Effect.flatMap(link.state, (state) => {
              if (state._tag === "Closed") return Effect.void
              record({ _tag: "Faulted", at: elapsed(), link: link.index, way: "toServer", frame: -1, fault: f._tag, mode: f.mode, detail: reason })
              return closers[i]!(f._tag === "Disconnect" ? f.kind : "abrupt", reason)
            }), { discard: true })
        })),
        Effect.forkIn(scope)
      )
    }
    yield* Effect.addFinalizer(() =>
      Effect.forEach(closers, (close) => close("abrupt", "the network was shut down"), { discard: true })
    )

    const connect: Effect.Effect<Link, Transport.TransportFailure> = Effect.suspend(() => {
      const now = elapsed()
      if (refusedUntil !== undefined && now < refusedUntil) {
        const reason = `connection refused: the network is down until ${refusedUntil} ms (FM-25)`
        record({ _tag: "Refused", at: now, reason })
        return Effect.fail(new Transport.TransportFailure({ detail: reason }))
      }
      if (links.length >= maxLinks) {
        return Effect.fail(new Transport.TransportFailure({ detail: `connection refused: ${maxLinks} links already` }))
      }
      return Effect.tap(makeLink(links.length), (link) => Effect.sync(() => links.push(link)))
    })

    return {
      seed,
      schedule,
      startedAt: start,
      activityUnsafe: () => activity,
      connect,
      links: Effect.sync(() => [...links]),
      elapsed: Effect.sync(elapsed),
      refusedUntil: Effect.sync(() => (refusedUntil !== undefined && elapsed() < refusedUntil ? refusedUntil : undefined)),
      disconnectAll: (kind, reason) =>
        Effect.forEach(closers, (close) => close(kind, reason ?? `every connection closed (${kind})`), { discard: true }),
      buffered: Effect.map(Effect.forEach(links, (l) => l.buffered), (sizes) => sizes.reduce((a, b) => a + b, 0)),
      trace: Effect.sync(() => [...traceEntries]),
      traceDropped: Effect.sync(() => traceDropped)
    } satisfies Network
  })

/**
 * One faulty connection (a network with one link) in the current scope: `link.client` for the client,
 * `link.server` for the server.
 *
 * @example
 * ```ts
 * const link = yield* FaultyTransport.pair([Fault.packetLoss(0.1), Fault.highLatency("50 millis")], { seed: 42 })
 * yield* Effect.forkScoped(server.serve(link.server))
 * const client = yield* McpClient.connect(link.client, { info: { name: "test", version: "1" } })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const pair = (
  schedule: FaultSchedule = [],
  options: Options = {}
): Effect.Effect<Link, never, JsonRpcCodec.JsonRpcCodec | Scope.Scope> =>
  Effect.flatMap(network(schedule, options), (net) => Effect.orDie(net.connect))
