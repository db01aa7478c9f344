/**
 * Writes frames to a Node writable stream in order, respecting backpressure with ONE persistent `drain`
 * listener (never one per write), and turning stream errors into typed transport errors.
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Semaphore from "effect/Semaphore"
import { Transport } from "@effect-mcp/core"

/** A frame writer over one writable stream. */
export interface Writer {
  readonly write: (bytes: Uint8Array) => Effect.Effect<void, Transport.TransportError>
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
    const write = (bytes: Uint8Array) =>
      lock.withPermits(1)(Effect.gen(function*() {
        if (failed !== undefined) return yield* Effect.fail(failed)
        const writable = stream as NodeJS.WritableStream & { readonly writableEnded?: boolean; readonly destroyed?: boolean }
        if (writable.writableEnded === true || writable.destroyed === true) {
          failed = new Transport.ConnectionClosed({ reason: `${name} closed` })
          return yield* Effect.fail(failed)
        }
        if (stream.write(bytes)) return
        const waiter = yield* Deferred.make<void, Transport.TransportError>()
        drained = waiter
        yield* Deferred.await(waiter)
      }))
    return {
      write,
      end: Effect.sync(() => {
        const writable = stream as NodeJS.WritableStream & { readonly writableEnded?: boolean }
        if (writable.writableEnded !== true) stream.end()
      }),
      failure: () => failed
    } satisfies Writer
  })
