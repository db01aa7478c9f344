/**
 * Writes frames to a Node writable stream in order, coalescing the frames of one event-loop turn into one
 * write, respecting backpressure with ONE persistent `drain` listener (never one per write), and turning
 * stream errors into typed transport errors.
 */
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Semaphore from "effect/Semaphore"
import { Transport } from "@effect-mcp/core"

/** A frame writer over one writable stream. */
export interface Writer {
  /** Writes a frame: bytes, or text (encoded as UTF-8 by the stream, in native code). */
  readonly write: (frame: Uint8Array | string) => Effect.Effect<void, Transport.TransportError>
  /** Ends the stream (idempotent). */
  readonly end: Effect.Effect<void>
  /** Fails with the stream's error or `ConnectionClosed` once the stream is unusable. */
  readonly failure: () => Transport.TransportError | undefined
  /** Bytes accepted but not yet taken by the operating system: queued here plus the stream's own buffer. */
  readonly buffered: () => number
  /** Makes the writer unusable with `error`: waiting and later writes fail with it (the first error wins). */
  readonly abort: (error: Transport.TransportError) => void
}

/** Writer settings (all optional: stdio uses none). */
export interface Options {
  /**
   * Most bytes that may be buffered (see `Writer.buffered`, counted after each write) before the peer is
   * judged a reader that does not keep up (FM-15): the write fails with the error `onOverflow` returns and the
   * writer is aborted with it. Default: no bound (backpressure alone).
   */
  readonly maxBufferedBytes?: number | undefined
  /** The error of an overflow; the caller usually drops the connection here. */
  readonly onOverflow?: ((buffered: number) => Transport.TransportError) | undefined
  /**
   * Longest a write may wait for the stream to drain (on Effect's `Clock`) before the reader is judged one that
   * does not read at all (FM-15): the write fails with the error `onStall` returns and the writer is aborted
   * with it. Default: no bound.
   */
  readonly stallTimeout?: Duration.Input | undefined
  /** The error of a stall; the caller usually drops the connection here. */
  readonly onStall?: ((timeoutMs: number) => Transport.TransportError) | undefined
}

/** Wraps a writable stream. Listeners are removed when the scope closes. */
export const make = (stream: NodeJS.WritableStream, name: string, options: Options = {}) =>
  Effect.gen(function*() {
    const lock = yield* Semaphore.make(1)
    let failed: Transport.TransportError | undefined
    let drained: Deferred.Deferred<void, Transport.TransportError> | undefined
    const onDrain = () => {
      needDrain = false
      const waiter = drained
      drained = undefined
      if (waiter !== undefined) Deferred.doneUnsafe(waiter, Effect.void)
    }
    const onError = (error: unknown) => {
      failed ??= new Transport.TransportFailure({
        detail: `${name}: ${error instanceof Error ? error.message : String(error)}`,
        cause: error
      })
      const waiter = drained
      drained = undefined
      if (waiter !== undefined) Deferred.doneUnsafe(waiter, Effect.fail(failed))
    }
    const onClose = () => {
      failed ??= new Transport.ConnectionClosed({ reason: `${name} closed` })
      const waiter = drained
      drained = undefined
      if (waiter !== undefined) Deferred.doneUnsafe(waiter, Effect.fail(failed))
    }
    const abort = (error: Transport.TransportError) => {
      failed ??= error
      queue = []
      queued = 0
      const waiter = drained
      drained = undefined
      if (waiter !== undefined) Deferred.doneUnsafe(waiter, Effect.fail(failed))
    }
    const streamBuffered = () => (stream as NodeJS.WritableStream & { readonly writableLength?: number }).writableLength ?? 0
    const buffered = () => queued + streamBuffered()
    const maxBuffered = options.maxBufferedBytes
    const stallTimeout = options.stallTimeout === undefined ? undefined : Duration.fromInputUnsafe(options.stallTimeout)
    /** After a write: past the bound, the writer is aborted with the overflow error (returned), else undefined. */
    const overflowed = (): Transport.TransportError | undefined => {
      if (maxBuffered === undefined) return undefined
      if (failed !== undefined) return failed
      const pending = buffered()
      if (pending <= maxBuffered) return undefined
      const error = options.onOverflow?.(pending) ??
        new Transport.TransportFailure({ detail: `${name}: ${pending} bytes buffered, past the bound of ${maxBuffered} (FM-15)` })
      abort(error)
      return failed
    }
    stream.on("drain", onDrain)
    stream.on("error", onError)
    stream.on("close", onClose)
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        stream.off("drain", onDrain)
        stream.off("close", onClose)
        // keep an error listener: a late EPIPE must not crash the process
        stream.off("error", onError)
        stream.on("error", () => {})
      })
    )
    // Frames written in the same turn of the event loop are coalesced into one write (one syscall on a pipe).
    // Writers wait only when the stream asked for a drain or too much is queued: backpressure without a
    // listener per write.
    let queue: Array<Uint8Array | string> = []
    let queued = 0
    let scheduled = false
    let needDrain = false
    const flush = () => {
      scheduled = false
      if (queue.length === 0 || failed !== undefined) return
      const chunk = queue.length === 1
        ? queue[0]!
        : queue.every((f) => typeof f === "string")
        ? (queue as Array<string>).join("")
        : Buffer.concat(queue.map((f) => (typeof f === "string" ? Buffer.from(f, "utf8") : f)))
      queue = []
      queued = 0
      try {
        if (!stream.write(chunk)) needDrain = true
      } catch (error) {
        onError(error)
      }
    }
    // frames of one turn are coalesced up to this many bytes before writers wait: well inside any bound
    const HIGH_WATER = maxBuffered === undefined ? 1024 * 1024 : Math.max(1, Math.min(1024 * 1024, Math.floor(maxBuffered / 4)))
    const waitDrain = Effect.gen(function*() {
      while (needDrain || queued > HIGH_WATER) {
        if (failed !== undefined) return yield* Effect.fail(failed)
        const waiter = drained ?? (yield* Deferred.make<void, Transport.TransportError>())
        drained = waiter
        if (queued > HIGH_WATER && !needDrain) {
          // the stream is not full: flush now instead of waiting for the turn to end
          flush()
          continue
        }
        if (stallTimeout === undefined) {
          yield* Deferred.await(waiter)
          continue
        }
        const drainedInTime = yield* Effect.timeoutOption(Deferred.await(waiter), stallTimeout)
        if (Option.isNone(drainedInTime)) {
          const ms = Duration.toMillis(stallTimeout)
          abort(
            options.onStall?.(ms) ??
              new Transport.TransportFailure({ detail: `${name}: the reader has not read for ${ms} ms (FM-15)` })
          )
        }
      }
    })
    const write = (bytes: Uint8Array | string) =>
      Effect.suspend(() => {
        if (failed !== undefined) return Effect.fail(failed)
        const writable = stream as NodeJS.WritableStream & { readonly writableEnded?: boolean; readonly destroyed?: boolean }
        if (writable.writableEnded === true || writable.destroyed === true) {
          failed = new Transport.ConnectionClosed({ reason: `${name} closed` })
          return Effect.fail(failed)
        }
        if (!scheduled && !needDrain) {
          // the first frame of a turn goes out at once (latency); later ones wait for the turn's end (one write)
          scheduled = true
          setImmediate(flush)
          try {
            if (!stream.write(bytes)) needDrain = true
          } catch (error) {
            onError(error)
          }
          const overflow = overflowed()
          if (overflow !== undefined) return Effect.fail(overflow)
          return needDrain ? lock.withPermits(1)(waitDrain) : Effect.void
        }
        queue.push(bytes)
        queued += bytes.length // UTF-16 units for text: an estimate, used for the high-water mark and the bound
        if (!scheduled) {
          scheduled = true
          setImmediate(flush)
        }
        const overflow = overflowed()
        if (overflow !== undefined) return Effect.fail(overflow)
        return needDrain || queued > HIGH_WATER ? lock.withPermits(1)(waitDrain) : Effect.void
      })
    return {
      write,
      end: Effect.sync(() => {
        flush()
        const writable = stream as NodeJS.WritableStream & { readonly writableEnded?: boolean }
        if (writable.writableEnded !== true) stream.end()
      }),
      failure: () => failed,
      buffered,
      abort
    } satisfies Writer
  })
