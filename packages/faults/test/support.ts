import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as Metric from "effect/Metric"
import * as References from "effect/References"
import type * as Scope from "effect/Scope"
import * as TestClock from "effect/testing/TestClock"

/** Runs one property case on a fresh TestClock, a fresh metric registry, in its own scope. */
export const onTestClock = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>): Promise<A> =>
  Effect.runPromise(
    effect.pipe(
      Effect.scoped,
      Effect.provide(TestClock.layer()),
      Effect.provideService(Metric.MetricRegistry, new Map()),
      Effect.provideService(References.MinimumLogLevel, "None")
    )
  )

/** The value of a counter (count) or gauge (value) with exactly these attributes, from the current registry. */
export const metricValue = (name: string, attributes: Record<string, string>) =>
  Effect.map(Metric.snapshot, (snapshot) => {
    const found = snapshot.find((m) =>
      m.id === name && JSON.stringify(Object.entries(m.attributes ?? {}).sort()) === JSON.stringify(Object.entries(attributes).sort())
    )
    if (found === undefined) return undefined
    if (found.type === "Counter") return Number(found.state.count)
    if (found.type === "Gauge") return Number(found.state.value)
    if (found.type === "Histogram") return found.state.count
    return undefined
  })

/** A logger that keeps every line (level, text, annotations). */
export const captureLogs = () => {
  const lines: Array<{ readonly level: string; readonly message: string; readonly annotations: Record<string, unknown> }> = []
  const logger = Logger.make(({ fiber, logLevel, message }) => {
    lines.push({
      level: logLevel,
      message: Array.isArray(message) ? message.map(String).join(" ") : String(message),
      annotations: { ...fiber.getRef(References.CurrentLogAnnotations) }
    })
  })
  return { lines, layer: Logger.layer([logger]) }
}
