/**
 * Real-time waits for transport tests: the tests that move a TestClock still do real I/O on sockets, so they
 * wait for it on the wall clock.
 */
import * as Effect from "effect/Effect"

/** Waits `ms` in real time. */
export const realSleep = (ms: number) => Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, ms)))

/** Polls `condition` in real time until it holds or `ms` pass; whether it held. */
export const eventually = (condition: () => boolean, ms = 5_000) =>
  Effect.promise(() =>
    new Promise<boolean>((resolve) => {
      const start = Date.now()
      const poll = () => {
        if (condition()) return resolve(true)
        if (Date.now() - start > ms) return resolve(false)
        setTimeout(poll, 5)
      }
      poll()
    })
  )
