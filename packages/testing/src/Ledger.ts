/**
 * A ledger of side effects: a tool handler under test records each side effect it performs under a key (an
 * order id, the call's idempotency key), and the scenario runner checks that no key was recorded twice (a
 * retried or duplicated request must not charge a card twice, FM-10).
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"

/**
 * A bounded count of side effects by key.
 *
 * @since 0.1.0
 * @category models
 */
export interface Ledger {
  /** Records one side effect under `key`. */
  readonly record: (key: string) => Effect.Effect<void>
  /** How many times `key` was recorded. */
  readonly count: (key: string) => Effect.Effect<number>
  /** Every key and its count. */
  readonly counts: Effect.Effect<ReadonlyMap<string, number>>
  /** Side effects recorded in all. */
  readonly total: Effect.Effect<number>
  /** Recorded side effects beyond the first, per key, summed: 0 when nothing ran twice. */
  readonly duplicates: Effect.Effect<number>
  /** Keys that were not recorded because the ledger was full. */
  readonly overflow: Effect.Effect<number>
}

/**
 * A new, empty ledger holding at most `capacity` keys (default 100,000; more keys are counted in `overflow`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (capacity = 100_000): Effect.Effect<Ledger> =>
  Effect.sync(() => {
    const counts = new Map<string, number>()
    let total = 0
    let overflow = 0
    return {
      record: (key) =>
        Effect.sync(() => {
          const known = counts.get(key)
          if (known === undefined && counts.size >= capacity) {
            overflow++
            return
          }
          counts.set(key, (known ?? 0) + 1)
          total++
        }),
      count: (key) => Effect.sync(() => counts.get(key) ?? 0),
      counts: Effect.sync(() => new Map(counts)),
      total: Effect.sync(() => total),
      duplicates: Effect.sync(() => {
        let extra = 0
        for (const n of counts.values()) extra += n - 1
        return extra
      }),
      overflow: Effect.sync(() => overflow)
    } satisfies Ledger
  })
