/**
 * Tier 5: resource levels and load shedding. A sampler reads, on a `Schedule` (so the TestClock drives it):
 *
 * | signal | against | mode |
 * | --- | --- | --- |
 * | heap used | V8's heap limit | FM-03 |
 * | RSS | the memory limit (cgroup, else total memory, or configured) | FM-03 |
 * | open file descriptors (`/proc/self/fd`) | the soft `ulimit -n` (`/proc/self/limits`) | FM-32 |
 * | event-loop delay, p99 over the interval (`perf_hooks.monitorEventLoopDelay`; not the first interval, the process's start) | 50 / 100 / 500 ms | FM-35 |
 * | process CPU time over wall time in the interval | one core | FM-33 |
 * | time the cgroup's CPU quota throttled the process (`cpu.stat`, v2 or v1), mean over `throttleSamples` | wall time: 25 / 50 / 75 % | FM-33 |
 * | depth of every queue or table reported with `reportQueue` | its capacity | FM-05 |
 *
 * A ratio at 70 / 85 / 95 % of its limit is `elevated` / `high` / `critical`; the level is the highest of
 * all signals, and falls back only once a signal is `hysteresis` (relative) below its threshold, so it does
 * not flap. `admit(kind)` is how callers shed load: at `high` new sessions are refused, at `critical`
 * everything (the recovery manager then drains). The source of samples is a service, so tests drive the
 * levels exactly.
 *
 * Serving must never depend on this tier (failure-domains: tier 5 has no blast radius): `admit` reads the
 * last status without waiting, and a status older than `staleAfter` (the sampler is down) admits everything.
 *
 * @since 0.1.0
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as perfHooks from "node:perf_hooks"
import * as v8 from "node:v8"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import * as Member from "./internal/member.ts"

/** How loaded the process is. @since 0.1.0 @category models */
export const Level = Schema.Literals(["normal", "elevated", "high", "critical"])
/** How loaded the process is. @since 0.1.0 @category models */
export type Level = typeof Level.Type

const levels: ReadonlyArray<Level> = ["normal", "elevated", "high", "critical"]
const rank = (level: Level): number => levels.indexOf(level)

/** The modes a resource signal stands for. @since 0.1.0 @category models */
export const ResourceMode = Schema.Literals(["FM-03", "FM-05", "FM-32", "FM-33", "FM-35"])
/** The modes a resource signal stands for. @since 0.1.0 @category models */
export type ResourceMode = typeof ResourceMode.Type

/** One reading of the process's resources; a missing field is a signal this platform does not give. @since 0.1.0 @category models */
export interface Sample {
  readonly heapUsedBytes?: number
  readonly heapLimitBytes?: number
  readonly rssBytes?: number
  readonly memoryLimitBytes?: number
  readonly openFds?: number
  readonly fdLimit?: number
  /** p99 of the event-loop delay since the last sample. */
  readonly eventLoopDelayMs?: number
  /** Process CPU time over wall time since the last sample, capped at one core (0–1). */
  readonly cpuUtilization?: number
  /**
   * Share of the wall time since the last sample that the cgroup's CPU quota held the process back (0–1;
   * `throttled_usec` of cgroup v2's `cpu.stat`, `throttled_time` of v1's). Absent without a quota.
   */
  readonly cpuThrottledRatio?: number
}

/** One signal's reading and level. @since 0.1.0 @category models */
export interface Signal {
  readonly name: string
  readonly mode: ResourceMode
  readonly value: number
  readonly limit: number
  readonly level: Level
}

/** The monitor's view. @since 0.1.0 @category models */
export interface Status {
  readonly level: Level
  /** The signals, the highest level first. */
  readonly signals: ReadonlyArray<Signal>
  readonly sampledAt: number
}

/**
 * FM-03/05/32/33/35: refused to shed load; `mode` names the resource that is short. Answer 503 with
 * Retry-After (or JSON-RPC Overloaded) and let the client back off.
 *
 * @since 0.1.0
 * @category errors
 */
export class LoadShed extends Schema.TaggedError<LoadShed>()("LoadShed", {
  mode: ResourceMode,
  kind: Schema.Literals(["session", "request"]),
  level: Level,
  signal: Schema.String
}) {
  override get message(): string {
    return `${this.kind} refused: resources ${this.level} (${this.signal})`
  }
}

/** Where samples come from. @since 0.1.0 @category services */
export class Source extends Context.Service<Source, { readonly sample: Effect.Effect<Sample> }>()("effect-mcp/runtime/ResourceMonitor/Source") {
  /** Node's own readings (see the module's table). */
  static readonly node = (options: { readonly memoryLimitBytes?: number } = {}): Layer.Layer<Source> =>
    Layer.effect(Source)(nodeSource(options))
  /** Fixed or changing readings from a function (tests, other runtimes). */
  static readonly fromSync = (read: () => Sample): Layer.Layer<Source> => Layer.succeed(Source)({ sample: Effect.sync(read) })
}

/** Thresholds of one kind of signal, lowest first: elevated, high, critical. @since 0.1.0 @category models */
export type Thresholds = readonly [elevated: number, high: number, critical: number]

/** Settings. @since 0.1.0 @category models */
export interface Options {
  /** How often to sample (default 1 s). */
  readonly interval?: Duration.Input
  /** Ratio thresholds (default 0.70 / 0.85 / 0.95). */
  readonly ratios?: Thresholds
  /** Event-loop delay thresholds in ms (default 50 / 100 / 500). */
  readonly eventLoopDelayMs?: Thresholds
  /**
   * Thresholds of the share of wall time the CPU quota throttled the process (default 0.25 / 0.50 / 0.75),
   * judged on the mean of the last `throttleSamples` readings (default 5) so one busy interval sheds nothing.
   */
  readonly cpuThrottled?: Thresholds
  readonly throttleSamples?: number
  /** Relative margin below a threshold before a signal's level falls (default 0.05). */
  readonly hysteresis?: number
  /** A status older than this admits everything (default 3 intervals). */
  readonly staleAfter?: Duration.Input
}

/** The service's shape. @since 0.1.0 @category models */
export interface Shape {
  readonly current: Effect.Effect<Status>
  /** The level, now and at every change. */
  readonly levels: Stream.Stream<Level>
  /** Every status, now and at every sample. */
  readonly statuses: Stream.Stream<Status>
  /** Refuses work the level says to shed: sessions from `high`, everything at `critical`. Never waits. */
  readonly admit: (kind: "session" | "request") => Effect.Effect<void, LoadShed>
  /** Reports a queue's or table's depth against its capacity (a gauge the sampler reads). */
  readonly reportQueue: (name: string, depth: number, capacity: number) => Effect.Effect<void>
  readonly removeQueue: (name: string) => Effect.Effect<void>
  /** Takes a sample now (the sampler does it on its schedule). */
  readonly sampleNow: Effect.Effect<Status>
}

/**
 * The resource monitor.
 *
 * @since 0.1.0
 * @category services
 */
export class ResourceMonitor extends Context.Service<ResourceMonitor, Shape>()("effect-mcp/runtime/ResourceMonitor") {
  /** The monitor supervised on its own (outside the tiers). */
  static readonly layer = (options: Options = {}): Layer.Layer<ResourceMonitor, never, Source> =>
    Layer.effect(ResourceMonitor)(Effect.flatMap(make(options), (s) => Member.standalone("resource-monitor", s)))
}

const levelGauge = Metric.gauge("mcp_resource_level", { description: "Resource level: 0 normal, 1 elevated, 2 high, 3 critical" })
const signalGauge = Metric.gauge("mcp_resource_signal", { description: "Each resource signal's reading (ratio of its limit, or ms)" })
const queueGauge = Metric.gauge("mcp_queue_depth", { description: "Depth of queues and tables reported to the resource monitor" })
const shed = Metric.counter("mcp_load_shed_total", { description: "Work refused by the resource monitor", incremental: true })

/** The level of one reading against its thresholds, given the signal's previous level (hysteresis). @since 0.1.0 @category policies */
export const levelOf = (value: number, thresholds: Thresholds, previous: Level, hysteresis: number): Level => {
  let level = 0
  for (let i = 0; i < 3; i++) {
    const threshold = thresholds[i]!
    // to stay at or above a level already held, the value may sit a margin below its threshold
    const bar = i < rank(previous) ? threshold * (1 - hysteresis) : threshold
    if (value >= bar) level = i + 1
  }
  return levels[level]!
}

/** The service and its member (`sampler`). @since 0.1.0 @category constructors */
export const make = (options: Options = {}): Effect.Effect<Member.Supervised<Shape>, never, Source> =>
  Effect.gen(function*() {
    const source = yield* Source
    const interval = Member.duration(options.interval, "1 second")
    const ratios = options.ratios ?? [0.70, 0.85, 0.95]
    const delays = options.eventLoopDelayMs ?? [50, 100, 500]
    const hysteresis = options.hysteresis ?? 0.05
    const throttledThresholds = options.cpuThrottled ?? [0.25, 0.5, 0.75]
    const throttleSamples = Math.max(1, options.throttleSamples ?? 5)
    /** The last throttling readings, for a mean that shows sustained throttling (FM-33). */
    const throttled: Array<number> = []
    const staleMs = Duration.toMillis(Member.duration(options.staleAfter, Duration.times(interval, 3)))
    const status = yield* SubscriptionRef.make<Status>({ level: "normal", signals: [], sampledAt: yield* Clock.currentTimeMillis })
    const queues = new Map<string, { readonly depth: number; readonly capacity: number }>()

    const signalsOf = (sample: Sample, previous: ReadonlyArray<Signal>): ReadonlyArray<Signal> => {
      const was = (name: string): Level => previous.find((s) => s.name === name)?.level ?? "normal"
      const out: Array<Signal> = []
      const ratio = (name: string, mode: ResourceMode, value: number | undefined, limit: number | undefined) => {
        if (value === undefined || limit === undefined || !(limit > 0)) return
        out.push({ name, mode, value, limit, level: levelOf(value / limit, ratios, was(name), hysteresis) })
      }
      ratio("heap", "FM-03", sample.heapUsedBytes, sample.heapLimitBytes)
      ratio("rss", "FM-03", sample.rssBytes, sample.memoryLimitBytes)
      ratio("fds", "FM-32", sample.openFds, sample.fdLimit)
      ratio("cpu", "FM-33", sample.cpuUtilization, 1)
      // a busy Node process runs at 100 % CPU by design (and at start-up, compiling): CPU is reported but sheds
      // nothing by itself; overload shows in the event-loop delay (FM-35), which does shed
      const cpu = out.findIndex((s) => s.name === "cpu")
      if (cpu !== -1 && rank(out[cpu]!.level) > rank("elevated")) out[cpu] = { ...out[cpu]!, level: "elevated" }
      // throttling by a CPU quota is different: the process gets less CPU than it needs, for as long as the
      // quota holds. Sustained (the mean of the last readings), it sheds like any short resource (FM-33)
      if (sample.cpuThrottledRatio !== undefined) {
        throttled.push(Math.min(1, Math.max(0, sample.cpuThrottledRatio)))
        while (throttled.length > throttleSamples) throttled.shift()
        // over the whole window (readings not yet taken count as none), so a busy start sheds nothing
        const mean = throttled.reduce((a, b) => a + b, 0) / throttleSamples
        out.push({
          name: "cpu-throttled",
          mode: "FM-33",
          value: mean,
          limit: 1,
          level: levelOf(mean, throttledThresholds, was("cpu-throttled"), hysteresis)
        })
      }
      if (sample.eventLoopDelayMs !== undefined) {
        out.push({
          name: "event-loop-delay",
          mode: "FM-35",
          value: sample.eventLoopDelayMs,
          limit: delays[2],
          level: levelOf(sample.eventLoopDelayMs, delays, was("event-loop-delay"), hysteresis)
        })
      }
      for (const [name, q] of queues) ratio(`queue:${name}`, "FM-05", q.depth, q.capacity)
      return out.sort((a, b) => rank(b.level) - rank(a.level))
    }

    const sampleNow = Effect.gen(function*() {
      const sample = yield* source.sample
      const now = yield* Clock.currentTimeMillis
      const before = yield* SubscriptionRef.get(status)
      const signals = signalsOf(sample, before.signals)
      const level = signals[0]?.level ?? "normal"
      const next: Status = { level, signals, sampledAt: now }
      yield* SubscriptionRef.set(status, next)
      yield* Metric.update(levelGauge, rank(level))
      for (const s of signals) {
        yield* Metric.update(Metric.withAttributes(signalGauge, { signal: s.name }), s.name === "event-loop-delay" ? s.value : s.value / s.limit)
      }
      if (level !== before.level) {
        const top = signals[0]
        const log = rank(level) > rank(before.level) ? Effect.logWarning : Effect.logInfo
        yield* log(`resources: ${before.level} → ${level}${top === undefined ? "" : ` (${top.name})`}`).pipe(
          Effect.annotateLogs(top === undefined ? {} : { mode: top.mode })
        )
      }
      return next
    }).pipe(Effect.withSpan("ResourceMonitor.sample"))

    const service: Shape = {
      current: SubscriptionRef.get(status),
      levels: SubscriptionRef.changes(status).pipe(Stream.map((s) => s.level), Stream.changes),
      statuses: SubscriptionRef.changes(status),
      admit: (kind) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) => {
          const s = SubscriptionRef.getUnsafe(status)
          if (now - s.sampledAt > staleMs) return Effect.void // the sampler is down: fail open
          const refuse = s.level === "critical" || (s.level === "high" && kind === "session")
          if (!refuse) return Effect.void
          const top = s.signals[0]!
          return Effect.andThen(
            Metric.update(Metric.withAttributes(shed, { kind, mode: top.mode }), 1),
            Effect.fail(new LoadShed({ mode: top.mode, kind, level: s.level, signal: top.name }))
          )
        }),
      reportQueue: (name, depth, capacity) =>
        Effect.andThen(
          Effect.sync(() => void queues.set(name, { depth, capacity })),
          Metric.update(Metric.withAttributes(queueGauge, { queue: name }), depth)
        ),
      removeQueue: (name) => Effect.sync(() => void queues.delete(name)),
      sampleNow
    }
    // a failed reading crashes the sampler, which its tier restarts; meanwhile the status goes stale
    return { service, members: [Member.periodic("sampler", interval, Effect.asVoid(sampleNow))] }
  })

/** Parses the soft "Max open files" of `/proc/self/limits`. @since 0.1.0 @category parsing */
export const parseFdLimit = (limits: string): number | undefined => {
  const line = limits.split("\n").find((l) => l.startsWith("Max open files"))
  const soft = line?.slice("Max open files".length).trim().split(/\s+/)[0]
  if (soft === undefined || soft === "unlimited") return undefined
  const n = Number(soft)
  return Number.isFinite(n) && n > 0 ? n : undefined
}

/**
 * The cumulative time (µs) the CPU quota throttled the process, from `cpu.stat` text: cgroup v2's
 * `throttled_usec`, or v1's `throttled_time` (ns). Undefined when the text has neither.
 * @since 0.1.0 @category parsing
 */
export const parseThrottledUs = (cpuStat: string): number | undefined => {
  const field = (name: string) => {
    const line = cpuStat.split("\n").find((l) => l.startsWith(`${name} `))
    const n = line === undefined ? NaN : Number(line.slice(name.length + 1).trim())
    return Number.isFinite(n) && n >= 0 ? n : undefined
  }
  const v2 = field("throttled_usec")
  if (v2 !== undefined) return v2
  const v1 = field("throttled_time")
  return v1 === undefined ? undefined : v1 / 1_000
}

/** Reads the process's cgroup throttled time, if it runs under a CPU quota (v2 `cpu.max`, v1 `cfs_quota_us`). */
const cgroupThrottledReader = (): (() => number | undefined) | undefined => {
  const read = (path: string) => Option.getOrUndefined(readOption(() => fs.readFileSync(path, "utf8")))
  // cgroup v2: the process's own group, from /proc/self/cgroup ("0::/path")
  const own = read("/proc/self/cgroup")?.split("\n").find((l) => l.startsWith("0::"))?.slice(3).trim()
  const candidates: Array<{ readonly stat: string; readonly limited: () => boolean }> = []
  if (own !== undefined) {
    const dir = `/sys/fs/cgroup${own === "/" ? "" : own}`
    candidates.push({ stat: `${dir}/cpu.stat`, limited: () => (read(`${dir}/cpu.max`)?.trim().split(/\s+/)[0] ?? "max") !== "max" })
  }
  for (const dir of ["/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct"]) {
    candidates.push({ stat: `${dir}/cpu.stat`, limited: () => Number(read(`${dir}/cpu.cfs_quota_us`)?.trim() ?? "-1") > 0 })
  }
  for (const c of candidates) {
    const text = read(c.stat)
    if (text !== undefined && parseThrottledUs(text) !== undefined && c.limited()) {
      return () => {
        const now = read(c.stat)
        return now === undefined ? undefined : parseThrottledUs(now)
      }
    }
  }
  return undefined
}

const readOption = <A>(read: () => A): Option.Option<A> => {
  try {
    return Option.some(read())
  } catch {
    return Option.none()
  }
}

const nodeSource = (options: { readonly memoryLimitBytes?: number }): Effect.Effect<Source["Service"], never, Scope.Scope> =>
  Effect.gen(function*() {
    const histogram = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const h = perfHooks.monitorEventLoopDelay({ resolution: 20 })
        h.enable()
        return h
      }),
      (h) => Effect.sync(() => h.disable())
    )
    const constrained = typeof process.constrainedMemory === "function" ? process.constrainedMemory() : 0
    const memoryLimit = options.memoryLimitBytes ?? (constrained > 0 && constrained < Number.MAX_SAFE_INTEGER ? constrained : os.totalmem())
    const fdLimit = Option.getOrUndefined(Option.flatMap(readOption(() => fs.readFileSync("/proc/self/limits", "utf8")), (text) => Option.fromUndefinedOr(parseFdLimit(text))))
    let lastCpu = process.cpuUsage()
    let lastAt = performance.now()
    const readThrottled = cgroupThrottledReader()
    let lastThrottledUs = readThrottled?.()
    // the first interval with readings holds the process's start (module loading, compiling, JIT): that is
    // not load, and a server just started must not shed its first sessions for it
    let warm = false
    return {
      sample: Effect.sync((): Sample => {
        const heap = v8.getHeapStatistics()
        const fds = readOption(() => fs.readdirSync("/proc/self/fd").length - 1)
        const cpu = process.cpuUsage(lastCpu)
        const at = performance.now()
        const elapsedUs = Math.max(1, (at - lastAt) * 1_000)
        lastCpu = process.cpuUsage()
        lastAt = at
        const throttledUs = readThrottled?.()
        const throttledRatio = throttledUs === undefined || lastThrottledUs === undefined
          ? undefined
          : Math.min(1, Math.max(0, (throttledUs - lastThrottledUs) / elapsedUs))
        lastThrottledUs = throttledUs
        const delay = histogram.count > 0 && warm ? histogram.percentile(99) / 1e6 : undefined
        if (histogram.count > 0) warm = true
        histogram.reset()
        return {
          heapUsedBytes: heap.used_heap_size,
          heapLimitBytes: heap.heap_size_limit,
          rssBytes: process.memoryUsage.rss(),
          memoryLimitBytes: memoryLimit,
          ...(Option.isSome(fds) && fdLimit !== undefined ? { openFds: fds.value, fdLimit } : {}),
          ...(delay === undefined ? {} : { eventLoopDelayMs: delay }),
          cpuUtilization: Math.min(1, (cpu.user + cpu.system) / elapsedUs),
          ...(throttledRatio === undefined ? {} : { cpuThrottledRatio: throttledRatio })
        }
      })
    }
  })
