/**
 * OpenTelemetry export of the process's traces and metrics over OTLP/HTTP, isolated from serving (FM-19).
 *
 * - Spans: every Effect span (`Effect.fn("Protocol.request")`, `Effect.withSpan(...)`) goes to
 *   `<endpoint>/v1/traces`, batched (`maxBatchSize` spans, or every `tracesInterval`).
 * - Metrics: every Effect `Metric` (the same registry that `Health`'s `/metrics` renders as Prometheus text)
 *   goes to `<endpoint>/v1/metrics` every `metricsInterval`, cumulative.
 * - `layerConfig` reads the standard `OTEL_*` variables; with no endpoint, or `OTEL_SDK_DISABLED=true`, it is
 *   a no-op layer and nothing changes.
 *
 * **Why `effect/observability` and not `@effect/opentelemetry`.** `@effect/opentelemetry` 4.1 bridges Effect to
 * the OpenTelemetry JS SDK (`NodeSdk`, `OtelTracer`, `OtelMetrics`), but it ships no OTLP exporter: exporting
 * would also need `@opentelemetry/exporter-trace-otlp-http`, `@opentelemetry/exporter-metrics-otlp-http` and
 * their `otlp-transformer`/`otlp-exporter-base` (not dependencies of this workspace), or hand-written OTLP
 * encoders for the SDK's span and metric models, and would put an SDK span object behind every Effect span.
 * Its own guide says to use the dependency-free `effect/observability` OTLP modules (`OtlpTracer`,
 * `OtlpMetrics`, from the same authors) in new projects and `NodeSdk` only to join an existing OpenTelemetry
 * setup. So this module uses them, and reads metrics from the very registry `/metrics` shows.
 *
 * **Failure isolation (FM-19).** Those exporters post from their own fibers, but on their own they retry
 * (up to 3 times, for as long as a collector's `Retry-After` says), have no request timeout and start a new
 * export for every full batch, so a hung collector would pile up batches without bound. Here they post to a
 * local hand-off instead of the network: a batch is accepted at once into a bounded queue per signal (or,
 * when the queue is full, dropped and counted), and one sender fiber per signal posts the queued batches to
 * the collector, one at a time, each bounded by `exportTimeout`, never retried. A collector that is down,
 * hangs or answers 500 therefore costs serving nothing but span creation: at most `maxQueuedBatches` batches
 * wait per signal, at most one export per signal is in flight, and every lost span or data point is counted
 * (`stats`, and the `mcp_telemetry_*` metrics). Failures are logged when they start and when they end
 * (mode FM-19), not once per batch. A configuration that cannot be built (say a malformed
 * `OTEL_RESOURCE_ATTRIBUTES`) leaves a no-op layer and a warning, never a process that does not start.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FetchHttpClient from "effect/http/FetchHttpClient"
import type * as Headers from "effect/http/Headers"
import * as HttpClient from "effect/http/HttpClient"
import type * as HttpClientRequest from "effect/http/HttpClientRequest"
import * as HttpClientResponse from "effect/http/HttpClientResponse"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as OtlpExporter from "effect/observability/OtlpExporter"
import * as OtlpMetrics from "effect/observability/OtlpMetrics"
import * as OtlpSerialization from "effect/observability/OtlpSerialization"
import * as OtlpTracer from "effect/observability/OtlpTracer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"

/** A telemetry signal. @since 0.1.0 @category models */
export const Signal = Schema.Literals(["traces", "metrics"])
/** A telemetry signal. @since 0.1.0 @category models */
export type Signal = typeof Signal.Type

/**
 * FM-19: an export to the collector failed (it timed out, the collector answered a non-2xx status, or it could
 * not be reached). Its spans or data points are dropped and counted; nothing is retried and serving is not
 * affected. Recovery: none needed in the process; fix or scale the collector.
 *
 * @since 0.1.0
 * @category errors
 */
export class ExportFailed extends Schema.TaggedError<ExportFailed>()("ExportFailed", {
  mode: Schema.tag("FM-19"),
  signal: Signal,
  reason: Schema.Literals(["timeout", "status", "transport"]),
  /** The collector's HTTP status, for `status`. */
  status: Schema.optionalKey(Schema.Int),
  /** Spans or data points lost with the batch. */
  items: Schema.Int,
  detail: Schema.String
}) {}

/**
 * FM-19: a batch found its signal's export queue full (the collector is slower than the process produces) and
 * was dropped. Recovery: none needed in the process; raise `maxQueuedBatches` or fix the collector.
 *
 * @since 0.1.0
 * @category errors
 */
export class BatchDropped extends Schema.TaggedError<BatchDropped>()("BatchDropped", {
  mode: Schema.tag("FM-19"),
  signal: Signal,
  items: Schema.Int,
  capacity: Schema.Int
}) {}

/** Where and how to export. Signals without a URL are not exported. @since 0.1.0 @category models */
export interface Options {
  /** The full OTLP/HTTP traces URL (e.g. `http://127.0.0.1:4318/v1/traces`). */
  readonly tracesUrl?: string | undefined
  /** The full OTLP/HTTP metrics URL (e.g. `http://127.0.0.1:4318/v1/metrics`). */
  readonly metricsUrl?: string | undefined
  /** `service.name` (default: `OTEL_SERVICE_NAME`, then `OTEL_RESOURCE_ATTRIBUTES`, then `"effect-mcp"`). */
  readonly serviceName?: string | undefined
  readonly serviceVersion?: string | undefined
  /** More resource attributes (`OTEL_RESOURCE_ATTRIBUTES` is read as well). */
  readonly attributes?: Record<string, unknown> | undefined
  /** Headers of every export (e.g. an API key). */
  readonly headers?: Headers.Input | undefined
  /** `http/json` (default) or `http/protobuf`. */
  readonly protocol?: "http/json" | "http/protobuf" | undefined
  /** Longest time a span waits for its batch to be exported (default 5 s). */
  readonly tracesInterval?: Duration.Input | undefined
  /** How often metrics are exported (default 60 s, as `OTEL_METRIC_EXPORT_INTERVAL`). */
  readonly metricsInterval?: Duration.Input | undefined
  /** Most spans per export (default 512). */
  readonly maxBatchSize?: number | undefined
  /** Batches that may wait for the collector, per signal, before new ones are dropped (default 4). */
  readonly maxQueuedBatches?: number | undefined
  /** Time bound of one export, connection to response body (default 10 s). */
  readonly exportTimeout?: Duration.Input | undefined
  /** How long shutdown (and `flush`) may spend exporting what is left (default 3 s). */
  readonly shutdownTimeout?: Duration.Input | undefined
  /** The client that posts to the collector (default: `fetch`). */
  readonly httpClient?: HttpClient.HttpClient | undefined
}

/** One signal's counts since start. @since 0.1.0 @category models */
export interface SignalStats {
  /** Spans (traces) or data points (metrics) the collector accepted. */
  readonly exported: number
  readonly exportedBatches: number
  /** Spans or data points lost: to a full queue or to a failed export. */
  readonly dropped: number
  readonly droppedBatches: number
  readonly failedBatches: number
  /** Batches waiting for the collector now (at most `maxQueuedBatches`). */
  readonly queued: number
  /** Whether the last export succeeded (`true` before the first). */
  readonly healthy: boolean
}

/** Both signals' counts. @since 0.1.0 @category models */
export interface Stats {
  readonly traces: SignalStats
  readonly metrics: SignalStats
}

/** The service's shape. @since 0.1.0 @category models */
export interface Shape {
  /** Which signals are exported (both `false` for the no-op layer). */
  readonly enabled: { readonly traces: boolean; readonly metrics: boolean }
  /** Exports what is buffered now and waits until the queues are empty, for at most `shutdownTimeout`. */
  readonly flush: Effect.Effect<void>
  readonly stats: Effect.Effect<Stats>
}

const emptySignal: SignalStats = {
  exported: 0,
  exportedBatches: 0,
  dropped: 0,
  droppedBatches: 0,
  failedBatches: 0,
  queued: 0,
  healthy: true
}

/**
 * OTLP export of traces and metrics. Provide its layer around the program whose spans should be exported
 * (spans go to the tracer of their fiber's context); metrics are read from the process's registry.
 *
 * @since 0.1.0
 * @category services
 */
export class Telemetry extends Context.Service<Telemetry, Shape>()("effect-mcp/runtime/Telemetry") {
  /** Exports what `options` names; with neither URL, the no-op layer. */
  static readonly layer = (options: Options = {}): Layer.Layer<Telemetry> => layer(options)
  /** The same from the standard `OTEL_*` variables (see `config`); nothing configured: the no-op layer. */
  static readonly layerConfig: Layer.Layer<Telemetry, Config.ConfigError> = Layer.unwrap(Effect.map(
    Effect.suspend(() => config),
    (options) => layer(options)
  ))
  /** Exports nothing; `flush` returns at once. */
  static readonly layerNoop: Layer.Layer<Telemetry> = Layer.succeed(Telemetry, {
    enabled: { traces: false, metrics: false },
    flush: Effect.void,
    stats: Effect.succeed({ traces: emptySignal, metrics: emptySignal })
  })
}

// ---- configuration -------------------------------------------------------------------------------------

/** `OTEL_EXPORTER_OTLP_<SIGNAL>_ENDPOINT` as is, else `OTEL_EXPORTER_OTLP_ENDPOINT` + `/v1/<signal>`. */
const endpoint = (signal: "TRACES" | "METRICS") =>
  Config.option(Config.URL(`OTEL_EXPORTER_OTLP_${signal}_ENDPOINT`)).pipe(
    Config.flatMap((specific) =>
      Option.isSome(specific)
        ? Config.succeed(Option.some(specific.value.toString()))
        : Config.map(Config.option(Config.URL("OTEL_EXPORTER_OTLP_ENDPOINT")), Option.map((base) => {
          const slash = base.pathname.endsWith("/") ? "" : "/"
          base.pathname += `${slash}v1/${signal.toLowerCase()}`
          return base.toString()
        }))
    )
  )

/** `OTEL_<SIGNAL>_EXPORTER` (default `otlp`): whether it names `otlp`. */
const exporterIsOtlp = (signal: "TRACES" | "METRICS") =>
  Config.String(`OTEL_${signal}_EXPORTER`).pipe(
    Config.withDefault("otlp"),
    Config.map((list) => list.split(",").map((s) => s.trim().toLowerCase()).includes("otlp"))
  )

const millis = (name: string) => Config.option(Config.map(Config.Int(name), Duration.millis))

/**
 * The options from the standard OpenTelemetry variables (environment variables by default):
 * `OTEL_SDK_DISABLED`, `OTEL_EXPORTER_OTLP_ENDPOINT` (base URL; `/v1/traces` and `/v1/metrics` are appended),
 * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` and `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT` (full URLs),
 * `OTEL_TRACES_EXPORTER`/`OTEL_METRICS_EXPORTER` (`none` turns a signal off), `OTEL_EXPORTER_OTLP_HEADERS`,
 * `OTEL_EXPORTER_OTLP_PROTOCOL` (`http/json` or `http/protobuf`), `OTEL_EXPORTER_OTLP_TIMEOUT` (ms),
 * `OTEL_METRIC_EXPORT_INTERVAL` (ms), `OTEL_BSP_SCHEDULE_DELAY` (ms), `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`,
 * `OTEL_BSP_MAX_QUEUE_SIZE` (spans; divided into batches). `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES`
 * are read when the layer is built.
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Options> = Config.all({
  disabled: Config.Boolean("OTEL_SDK_DISABLED").pipe(Config.withDefault(false)),
  traces: endpoint("TRACES"),
  metrics: endpoint("METRICS"),
  tracesOn: exporterIsOtlp("TRACES"),
  metricsOn: exporterIsOtlp("METRICS"),
  headers: Config.option(Config.Record(Schema.String, Schema.StringFromUriComponent, "OTEL_EXPORTER_OTLP_HEADERS")),
  protocol: Config.option(Config.Literals(["http/json", "http/protobuf"], "OTEL_EXPORTER_OTLP_PROTOCOL")),
  timeout: millis("OTEL_EXPORTER_OTLP_TIMEOUT"),
  metricsInterval: millis("OTEL_METRIC_EXPORT_INTERVAL"),
  tracesInterval: millis("OTEL_BSP_SCHEDULE_DELAY"),
  maxBatchSize: Config.option(Config.Int("OTEL_BSP_MAX_EXPORT_BATCH_SIZE")),
  maxQueueSize: Config.option(Config.Int("OTEL_BSP_MAX_QUEUE_SIZE"))
}).pipe(Config.map((c): Options => {
  if (c.disabled) return {}
  const batch = Option.getOrUndefined(c.maxBatchSize)
  return {
    tracesUrl: c.tracesOn ? Option.getOrUndefined(c.traces) : undefined,
    metricsUrl: c.metricsOn ? Option.getOrUndefined(c.metrics) : undefined,
    headers: Option.getOrUndefined(c.headers),
    protocol: Option.getOrUndefined(c.protocol),
    exportTimeout: Option.getOrUndefined(c.timeout),
    metricsInterval: Option.getOrUndefined(c.metricsInterval),
    tracesInterval: Option.getOrUndefined(c.tracesInterval),
    maxBatchSize: batch,
    maxQueuedBatches: Option.match(c.maxQueueSize, {
      onNone: () => undefined,
      onSome: (spans) => Math.max(1, Math.floor(spans / (batch ?? 512)))
    })
  }
}))

// ---- metrics of the exporter itself ----------------------------------------------------------------------

const exportedTotal = Metric.counter("mcp_telemetry_exported_total", {
  description: "Spans or metric data points accepted by the OTLP collector",
  incremental: true
})
const droppedTotal = Metric.counter("mcp_telemetry_dropped_total", {
  description: "Spans or metric data points dropped: export queue full or export failed (FM-19)",
  incremental: true
})
const failuresTotal = Metric.counter("mcp_telemetry_export_failures_total", {
  description: "OTLP exports that failed, by reason (FM-19)",
  incremental: true
})
const queuedGauge = Metric.gauge("mcp_telemetry_queued_batches", { description: "Batches waiting for the OTLP collector" })

// ---- the layer -------------------------------------------------------------------------------------------

interface Batch {
  readonly request: HttpClientRequest.HttpClientRequest
  readonly items: number
}

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null

const arrayOf = (u: unknown, key: string): ReadonlyArray<unknown> => {
  const v = isRecord(u) ? u[key] : undefined
  return Array.isArray(v) ? v : []
}

/** Spans in a trace payload. */
const spansIn = (data: OtlpTracer.TraceData): number => {
  let n = 0
  for (const r of data.resourceSpans) for (const s of r.scopeSpans) n += s.spans.length
  return n
}

/** Data points in a metrics payload. */
const pointsIn = (data: OtlpMetrics.MetricsData): number => {
  let n = 0
  for (const r of data.resourceMetrics) {
    for (const s of arrayOf(r, "scopeMetrics")) {
      for (const m of arrayOf(s, "metrics")) {
        if (!isRecord(m)) continue
        for (const kind of ["sum", "gauge", "histogram", "exponentialHistogram", "summary"]) {
          n += arrayOf(m[kind], "dataPoints").length
        }
      }
    }
  }
  return n
}

/** One signal: the hand-off client the OTLP exporter posts to, and the sender that drains it. */
const makeSignal = Effect.fnUntraced(function*(
  signal: Signal,
  settings: {
    readonly capacity: number
    readonly exportTimeout: Duration.Duration
    readonly transport: HttpClient.HttpClient
    readonly itemsOf: (request: HttpClientRequest.HttpClientRequest) => number
    readonly pending: SubscriptionRef.SubscriptionRef<number>
  }
) {
  const queue = yield* Queue.dropping<Batch>(settings.capacity)
  const stats = yield* Ref.make(emptySignal)
  const tagged = { signal }
  const dropped = Metric.withAttributes(droppedTotal, tagged)

  const handOff = HttpClient.make((request) =>
    Effect.gen(function*() {
      const items = settings.itemsOf(request)
      yield* SubscriptionRef.update(settings.pending, (n) => n + 1)
      if (Queue.offerUnsafe(queue, { request, items })) {
        yield* Ref.update(stats, (s) => ({ ...s, queued: s.queued + 1 }))
        yield* Metric.update(Metric.withAttributes(queuedGauge, tagged), Queue.sizeUnsafe(queue))
      } else {
        yield* SubscriptionRef.update(settings.pending, (n) => n - 1)
        yield* Ref.update(stats, (s) => ({ ...s, dropped: s.dropped + items, droppedBatches: s.droppedBatches + 1 }))
        yield* Metric.update(dropped, items)
        const error = new BatchDropped({ signal, items, capacity: settings.capacity })
        yield* Effect.logDebug(error.message).pipe(Effect.annotateLogs({ mode: error.mode, error: error._tag }))
      }
      // the OTLP exporter sees every batch accepted: it never retries, never disables itself, never waits
      return HttpClientResponse.fromWeb(request, new Response(null, { status: 202 }))
    })
  )

  const post = (batch: Batch): Effect.Effect<void, ExportFailed> =>
    settings.transport.execute(batch.request).pipe(
      Effect.flatMap((response) =>
        Effect.andThen(
          Effect.ignore(response.arrayBuffer),
          response.status >= 200 && response.status < 300
            ? Effect.void
            : Effect.fail(
              new ExportFailed({
                signal,
                reason: "status",
                status: response.status,
                items: batch.items,
                detail: `the collector answered ${response.status}`
              })
            )
        )
      ),
      Effect.catchTag("HttpClientError", (e) =>
        Effect.fail(new ExportFailed({ signal, reason: "transport", items: batch.items, detail: e.message }))),
      Effect.timeoutOrElse({
        duration: settings.exportTimeout,
        orElse: () =>
          Effect.fail(
            new ExportFailed({
              signal,
              reason: "timeout",
              items: batch.items,
              detail: `no answer within ${Duration.format(settings.exportTimeout)}`
            })
          )
      }),
      Effect.withTracerEnabled(false)
    )

  const record = (batch: Batch, exit: Exit.Exit<void, ExportFailed>) =>
    Effect.gen(function*() {
      const before = yield* Ref.get(stats)
      if (Exit.isSuccess(exit)) {
        yield* Ref.set(stats, {
          ...before,
          exported: before.exported + batch.items,
          exportedBatches: before.exportedBatches + 1,
          healthy: true
        })
        yield* Metric.update(Metric.withAttributes(exportedTotal, tagged), batch.items)
        if (!before.healthy) {
          yield* Effect.logInfo(`telemetry: ${signal} export recovered (${before.dropped} items dropped so far)`).pipe(
            Effect.annotateLogs({ mode: "FM-19" })
          )
        }
        return
      }
      const error = Cause.findErrorOption(exit.cause)
      const reason = Option.isSome(error) ? error.value.reason : "transport"
      yield* Ref.set(stats, {
        ...before,
        dropped: before.dropped + batch.items,
        droppedBatches: before.droppedBatches + 1,
        failedBatches: before.failedBatches + 1,
        healthy: false
      })
      yield* Metric.update(dropped, batch.items)
      yield* Metric.update(Metric.withAttributes(failuresTotal, { signal, reason }), 1)
      if (before.healthy) {
        const detail = Option.isSome(error) ? error.value.detail : Cause.pretty(exit.cause).split("\n")[0]
        yield* Effect.logWarning(`telemetry: ${signal} export failing (${reason}: ${detail}); dropping until it recovers`).pipe(
          Effect.annotateLogs({ mode: "FM-19", error: "ExportFailed" })
        )
      }
    })

  // one export at a time per signal: a hung collector holds one batch, never a pile of them
  yield* Queue.take(queue).pipe(
    Effect.tap(() =>
      Effect.andThen(
        Ref.update(stats, (s) => ({ ...s, queued: s.queued - 1 })),
        Metric.update(Metric.withAttributes(queuedGauge, tagged), Queue.sizeUnsafe(queue))
      )
    ),
    Effect.flatMap((batch) =>
      Effect.exit(post(batch)).pipe(
        Effect.flatMap((exit) => record(batch, exit)),
        Effect.ensuring(SubscriptionRef.update(settings.pending, (n) => n - 1))
      )
    ),
    Effect.forever,
    Effect.forkScoped
  )

  return { handOff, stats: Ref.get(stats) }
})

const layer = (options: Options): Layer.Layer<Telemetry> => {
  if (options.tracesUrl === undefined && options.metricsUrl === undefined) return Telemetry.layerNoop
  return Layer.effectContext(Effect.gen(function*() {
    const exportTimeout = Duration.fromInputUnsafe(options.exportTimeout ?? Duration.seconds(10))
    const shutdownTimeout = Duration.fromInputUnsafe(options.shutdownTimeout ?? Duration.seconds(3))
    const capacity = Math.max(1, options.maxQueuedBatches ?? 4)
    const transport = options.httpClient ?? (yield* Effect.provide(Effect.service(HttpClient.HttpClient), FetchHttpClient.layer))
    const base = yield* Effect.provide(
      Effect.service(OtlpSerialization.OtlpSerialization),
      options.protocol === "http/protobuf" ? OtlpSerialization.layerProtobuf : OtlpSerialization.layerJson
    )
    // each body remembers how many spans or data points it carries, so a lost batch is counted in items
    const items = new WeakMap<object, number>()
    const serialization = OtlpSerialization.OtlpSerialization.of({
      traces: (data) => {
        const body = base.traces(data)
        items.set(body, spansIn(data))
        return body
      },
      metrics: (data) => {
        const body = base.metrics(data)
        items.set(body, pointsIn(data))
        return body
      },
      logs: base.logs
    })
    const itemsOf = (request: HttpClientRequest.HttpClientRequest) => items.get(request.body) ?? 0
    const pending = yield* SubscriptionRef.make(0)
    const settings = { capacity, exportTimeout, transport, itemsOf, pending }
    const traces = options.tracesUrl === undefined ? undefined : yield* makeSignal("traces", settings)
    const metrics = options.metricsUrl === undefined ? undefined : yield* makeSignal("metrics", settings)

    // resource: explicit options, then OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES, then "effect-mcp"
    const named = yield* Config.all({
      name: Config.option(Config.String("OTEL_SERVICE_NAME")),
      attributes: Config.option(Config.String("OTEL_RESOURCE_ATTRIBUTES"))
    }).pipe(
      Effect.map(({ attributes, name }) =>
        Option.isSome(name) || (Option.isSome(attributes) && /(^|,)\s*service\.name\s*=/.test(attributes.value))
      ),
      Effect.orElseSucceed(() => false)
    )
    const resource = {
      serviceName: options.serviceName ?? (named ? undefined : "effect-mcp"),
      serviceVersion: options.serviceVersion,
      ...(options.attributes === undefined ? {} : { attributes: options.attributes })
    }
    const signals = Layer.mergeAll(
      traces === undefined || options.tracesUrl === undefined ? OtlpExporter.layerFlusher : OtlpTracer.layer({
        url: options.tracesUrl,
        resource,
        headers: options.headers,
        exportInterval: options.tracesInterval ?? Duration.seconds(5),
        maxBatchSize: Math.max(1, options.maxBatchSize ?? 512),
        shutdownTimeout
      }).pipe(Layer.provide(Layer.succeed(HttpClient.HttpClient, traces.handOff))),
      metrics === undefined || options.metricsUrl === undefined ? OtlpExporter.layerFlusher : OtlpMetrics.layer({
        url: options.metricsUrl,
        resource,
        headers: options.headers,
        exportInterval: options.metricsInterval ?? Duration.seconds(60),
        shutdownTimeout
      }).pipe(Layer.provide(Layer.succeed(HttpClient.HttpClient, metrics.handOff)))
    ).pipe(Layer.provide(Layer.succeed(OtlpSerialization.OtlpSerialization, serialization)))
    const idle = SubscriptionRef.changes(pending).pipe(Stream.filter((n) => n <= 0), Stream.take(1), Stream.runDrain)
    // finalizers run in reverse: the exporters hand over their last batches, then the queues get
    // `shutdownTimeout` to empty, then the senders stop
    yield* Effect.addFinalizer(() => Effect.asVoid(Effect.timeoutOption(idle, shutdownTimeout)))
    const exporters = yield* Layer.build(signals)
    const flusher = Context.get(exporters, OtlpExporter.Flusher)
    const drain = Effect.timeoutOption(Effect.andThen(flusher.flush, idle), shutdownTimeout)

    const service: Shape = {
      enabled: { traces: traces !== undefined, metrics: metrics !== undefined },
      flush: Effect.asVoid(drain),
      stats: Effect.all({
        traces: traces === undefined ? Effect.succeed(emptySignal) : traces.stats,
        metrics: metrics === undefined ? Effect.succeed(emptySignal) : metrics.stats
      })
    }
    return Context.add(exporters, Telemetry, service)
  })).pipe(
    // telemetry that cannot be set up must not keep the process from serving (FM-19)
    Layer.catchCause((cause) =>
      Layer.unwrap(
        Effect.as(
          Effect.logWarning(`telemetry: not exported, the exporter could not start: ${Cause.pretty(cause).split("\n")[0]}`).pipe(
            Effect.annotateLogs({ mode: "FM-19" })
          ),
          Telemetry.layerNoop
        )
      )
    )
  )
}
