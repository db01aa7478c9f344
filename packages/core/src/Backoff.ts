/**
 * Reconnection backoff, the same for every client transport (FM-07, FM-21, FM-25): exponential with full
 * jitter, `delay = random(0, min(cap, base · 2^attempt))`, base 1 s and cap 16 s by default, and a reset after
 * the connection stayed healthy for a while. Randomness comes from Effect's `Random` and time from `Clock`, so
 * tests drive both (TestClock, a seeded Random).
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Random from "effect/Random"
import * as Schedule from "effect/Schedule"

/** Backoff settings. */
export interface Policy {
  /** First delay bound (default 1 s). */
  readonly base?: Duration.Input
  /** Largest delay (default 16 s). */
  readonly cap?: Duration.Input
  /** A connection that stayed up this long resets the attempt count (default 30 s). */
  readonly resetAfter?: Duration.Input
}

/** The defaults: base 1 s, cap 16 s, reset after 30 s healthy. */
export const defaults = { base: Duration.seconds(1), cap: Duration.seconds(16), resetAfter: Duration.seconds(30) } as const

const millis = (input: Duration.Input | undefined, fallback: Duration.Duration) =>
  Duration.toMillis(input === undefined ? fallback : Duration.fromInputUnsafe(input))

/** The upper bound of attempt `n`'s delay (0-based): `min(cap, base · 2^n)`, in milliseconds. */
export const boundMs = (attempt: number, policy: Policy = {}): number =>
  Math.min(millis(policy.cap, defaults.cap), millis(policy.base, defaults.base) * 2 ** Math.min(attempt, 52))

/** Attempt `n`'s delay for a uniform random `u` in [0, 1): `floor(u · bound(n))`. */
export const delayMs = (attempt: number, u: number, policy: Policy = {}): number => Math.floor(u * boundMs(attempt, policy))

/** The policy as a `Schedule` (for `Effect.retry` / `Effect.repeat`): full-jitter delays, forever. */
export const schedule = (policy: Policy = {}): Schedule.Schedule<number> =>
  Schedule.forever.pipe(
    Schedule.modifyDelay(({ attempt }) => Effect.map(Random.next, (u) => Duration.millis(delayMs(attempt - 1, u, policy))))
  )

/** A reconnect loop's state: the next delay, and a reset once the connection has been healthy long enough. */
export interface Backoff {
  /** The delay before the next attempt (and counts the attempt). */
  readonly next: Effect.Effect<Duration.Duration>
  /** Records that a connection is up now. */
  readonly connected: Effect.Effect<void>
  /** Records that the connection dropped: resets the count if it had been up for `resetAfter`. */
  readonly disconnected: Effect.Effect<void>
  /** Attempts since the last reset. */
  readonly attempts: Effect.Effect<number>
}

/** A fresh backoff state. */
export const make = (policy: Policy = {}): Backoff => {
  const resetAfterMs = millis(policy.resetAfter, defaults.resetAfter)
  let attempt = 0
  let upSince: number | undefined
  return {
    next: Effect.map(Random.next, (u) => Duration.millis(delayMs(attempt++, u, policy))),
    connected: Effect.map(Clock.currentTimeMillis, (now) => {
      upSince = now
    }),
    disconnected: Effect.map(Clock.currentTimeMillis, (now) => {
      if (upSince !== undefined && now - upSince >= resetAfterMs) attempt = 0
      upSince = undefined
    }),
    attempts: Effect.sync(() => attempt)
  }
}
