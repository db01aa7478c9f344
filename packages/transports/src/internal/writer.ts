/**
 * Writes frames to a Node writable stream in order, coalescing the frames of one event-loop turn into one
 * write, respecting backpressure with ONE persistent `drain` listener (never one per write), and turning
 * stream errors into typed transport errors.
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
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
}

/** Wraps a writable stream. Listeners are removed when the scope closes. */
export const make = (stream: NodeJS.WritableStream, name: string) =>
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
    const HIGH_WATER = 1024 * 1024
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
        yield* Deferred.await(waiter)
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
          return needDrain ? lock.withPermits(1)(waitDrain) : Effect.void
        }
        queue.push(bytes)
        queued += bytes.length // UTF-16 units for text: an estimate, only used for the high-water mark
        if (!scheduled) {
          scheduled = true
          setImmediate(flush)
        }
        return needDrain || queued > HIGH_WATER ? lock.withPermits(1)(waitDrain) : Effect.void
      })
    return {
      write,
      end: Effect.sync(() => {
        flush()
        const writable = stream as NodeJS.WritableStream & { readonly writableEnded?: boolean }
        if (writable.writableEnded !== true) stream.end()
      }),
      failure: () => failed
    } satisfies Writer
  })
