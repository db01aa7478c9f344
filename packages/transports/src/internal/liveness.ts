/**
 * Liveness checks shared by the socket transports (FM-31, connection hang): an idle watch (no bytes for a
 * while) and a heartbeat (probe the peer, expect an answer in time). Both run as fibers on Effect's `Clock`, so
 * they follow `TestClock` in tests, and both report through a callback that drops the connection.
 *
 * Neither knows what a probe is: the TCP transport sends a JSON-RPC request and waits for its reply, the
 * WebSocket transport sends a ping frame and waits for the pong.
 */
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"

/** The time of the last activity on a connection, in `Clock` milliseconds. */
export interface Activity {
  /** Records activity now. */
  readonly touch: () => void
  /** When the last activity was. */
  readonly last: () => number
}

/** An activity tracker on the current fiber's `Clock` (a `TestClock` in tests). */
export const activity: Effect.Effect<Activity> = Effect.clockWith((clock) =>
  Effect.sync(() => {
    let last = clock.currentTimeMillisUnsafe()
    return {
      touch: () => {
        last = clock.currentTimeMillisUnsafe()
      },
      last: () => last
    }
  })
)

const millis = (input: Duration.Input): number => Duration.toMillis(Duration.fromInputUnsafe(input))

/**
 * Calls `onIdle` once no activity has been seen for `timeout`, then returns. While `behind()` says input is
 * waiting to be read locally (our consumer is slow, not the peer), the connection counts as active.
 */
export const idleWatch = (options: {
  readonly timeout: Duration.Input
  readonly activity: Activity
  readonly behind: () => boolean
  readonly onIdle: (timeoutMs: number) => void
}): Effect.Effect<void> =>
  Effect.gen(function*() {
    const ms = millis(options.timeout)
    while (true) {
      const now = yield* Clock.currentTimeMillis
      if (options.behind()) options.activity.touch()
      const quiet = now - options.activity.last()
      if (quiet >= ms) return options.onIdle(ms)
      yield* Effect.sleep(Duration.millis(ms - quiet))
    }
  })

/** Why a heartbeat gave up on the peer. */
export type Hung =
  | { readonly _tag: "NotRead"; readonly timeoutMs: number }
  | { readonly _tag: "NotAnswered"; readonly timeoutMs: number }

/**
 * Probes the peer every `interval` until interrupted. `probe` sends one probe and arranges for `answered` to be
 * called when the peer's answer arrives. The peer is hung when the probe cannot even be sent within `timeout`
 * (it does not read: `NotRead`) or its answer does not arrive within `timeout` (`NotAnswered`); then `onHung`
 * is called and the heartbeat stops. While `behind()` says our own input is waiting to be read, the answer may
 * be sitting behind it, so the deadline is extended by another `timeout`. A probe that fails to send stops the
 * heartbeat quietly: the connection is already broken and that is reported where it is noticed.
 */
export const heartbeat = (options: {
  readonly interval: Duration.Input
  readonly timeout: Duration.Input
  readonly probe: (answered: () => void) => Effect.Effect<void, unknown>
  readonly behind: () => boolean
  readonly onHung: (hung: Hung) => void
}): Effect.Effect<void> =>
  Effect.gen(function*() {
    const interval = Duration.fromInputUnsafe(options.interval)
    const timeoutMs = millis(options.timeout)
    while (true) {
      yield* Effect.sleep(interval)
      const answer = Deferred.makeUnsafe<void>()
      const start = yield* Clock.currentTimeMillis
      const sent = yield* options.probe(() => Deferred.doneUnsafe(answer, Effect.void)).pipe(
        Effect.timeoutOption(Duration.millis(timeoutMs)),
        Effect.option
      )
      if (Option.isNone(sent)) return // the connection is broken
      if (Option.isNone(sent.value)) return options.onHung({ _tag: "NotRead", timeoutMs })
      let deadline = start + timeoutMs
      while (true) {
        const now = yield* Clock.currentTimeMillis
        const answered = yield* Effect.timeoutOption(Deferred.await(answer), Duration.millis(Math.max(0, deadline - now)))
        if (Option.isSome(answered)) break
        if (!options.behind()) return options.onHung({ _tag: "NotAnswered", timeoutMs })
        deadline += timeoutMs
      }
    }
  })
