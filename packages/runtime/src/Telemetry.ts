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
 * **Two layers.** `layer`/`layerConfig` export over OTLP/HTTP with `effect/observability`'s dependency-free
 * `OtlpTracer`/`OtlpMetrics` (no OpenTelemetry SDK in the process). `layerOpenTelemetry` is for programs that
 * already run the OpenTelemetry JS SDK: it hands Effect's spans and Effect's `Metric` registry to the SDK's own
 * span processors/exporters and metric readers/exporters through `@effect/opentelemetry` (`OtelTracer`,
 * `OtelMetrics`, `Resource`, `NodeSdk.layerTracerProvider`), so any SDK exporter and propagator works. Both
 * read metrics from the very registry `/metrics` shows, and both provide this `Telemetry` service.
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
 * With `layerOpenTelemetry` the SDK's `BatchSpanProcessor` and `PeriodicExportingMetricReader` do the hand-off
 * (bounded buffer, exports from timers, sync throws caught), and every exporter given to it is wrapped so that
 * an export that hangs is answered as failed after `exportTimeout` while later batches are dropped until it
 * returns (at most one export in flight per exporter), and span processors given as they are cannot throw into
 * a request's fiber.
 *
 * @since 0.1.0
 */
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import * as OtelMetrics from "@effect/opentelemetry/OtelMetrics"
import * as OtelTracer from "@effect/opentelemetry/OtelTracer"
import * as OtelResource from "@effect/opentelemetry/Resource"
import type * as OtelApi from "@opentelemetry/api"
import * as Resources from "@opentelemetry/resources"
import {
  type MetricReader,
  PeriodicExportingMetricReader,
  type PushMetricExporter,
  type ResourceMetrics
} from "@opentelemetry/sdk-metrics"
import { BatchSpanProcessor, type SpanExporter, type SpanProcessor } from "@opentelemetry/sdk-trace-base"
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from "@opentelemetry/semantic-conventions"
import * as Cause from "effect/Cause"
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberSet from "effect/FiberSet"
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
import * as Scope from "effect/Scope"
import * as Semaphore from "effect/Semaphore"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"

/** A telemetry signal. @since 0.1.0 @category models */
export const Signal = Schema.Literals(["traces", "metrics"])
/** A telemetry signal. @since 0.1.0 @category models */
export type Signal = typeof Signal.Type

/**
 * FM-19: an export to the collector failed (it timed out, the collector answered a non-2xx status, it could
 * not be reached, or an OpenTelemetry SDK exporter reported failure or threw). Its spans or data points are dropped and counted; nothing is retried and serving is not
 * affected. Recovery: none needed in the process; fix or scale the collector.
 *
 * @since 0.1.0
 * @category errors
 */
export class ExportFailed extends Schema.TaggedError<ExportFailed>()("ExportFailed", {
  mode: Schema.tag("FM-19"),
  signal: Signal,
  /** `exporter`: an OpenTelemetry SDK exporter or span processor reported failure or threw (`layerOpenTelemetry`). */
  reason: Schema.Literals(["timeout", "status", "transport", "exporter"]),
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
  /**
   * Hands Effect's spans and `Metric` registry to the OpenTelemetry JS SDK pieces in `options` (exporters,
   * span processors, metric readers, resource) through `@effect/opentelemetry`, for programs that already run
   * the SDK. Nothing given: the no-op layer. See `OpenTelemetryOptions`.
   */
  static readonly layerOpenTelemetry = (options: OpenTelemetryOptions): Layer.Layer<Telemetry> =>
    layerOpenTelemetry(options)
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

// ---- through the OpenTelemetry JS SDK (@effect/opentelemetry) -------------------------------------------

/**
 * The OpenTelemetry JS SDK pieces that `layerOpenTelemetry` hands Effect's spans and metrics to. Give exporters
 * (the layer batches them, bounds them and counts their failures) or processors and readers (used as they
 * are); at least one of the four turns a signal on.
 *
 * @since 0.1.0
 * @category models
 */
export interface OpenTelemetryOptions {
  /** Span exporters (`OTLPTraceExporter`, `InMemorySpanExporter`, ...): each behind its own `BatchSpanProcessor`. */
  readonly spanExporters?: SpanExporter | ReadonlyArray<SpanExporter> | undefined
  /** Span processors used as they are; their exports are theirs to bound (only their throws are caught). */
  readonly spanProcessors?: SpanProcessor | ReadonlyArray<SpanProcessor> | undefined
  /** Metric exporters: each behind its own `PeriodicExportingMetricReader` (every `metricsInterval`). */
  readonly metricExporters?: PushMetricExporter | ReadonlyArray<PushMetricExporter> | undefined
  /**
   * Metric readers used as they are. Each becomes a reader of Effect's registry only: give readers that are not
   * also registered on a `MeterProvider` (a reader has one producer).
   */
  readonly metricReaders?: MetricReader | ReadonlyArray<MetricReader> | undefined
  /** Your SDK's resource (detectors and all); `OTEL_SERVICE_NAME`/`OTEL_RESOURCE_ATTRIBUTES` are read under it. */
  readonly resource?: Resources.Resource | undefined
  /** `service.name`, over everything else (default: the resource's, then `"effect-mcp"`). */
  readonly serviceName?: string | undefined
  readonly serviceVersion?: string | undefined
  /** More resource attributes, over the resource's. */
  readonly attributes?: OtelApi.Attributes | undefined
  /** Sampler, span limits, id generator of the tracer provider. */
  readonly tracerConfig?: Omit<TracerConfig, "resource" | "spanProcessors"> | undefined
  /** `cumulative` (default) or `delta` sums and histograms. */
  readonly metricTemporality?: OtelMetrics.TemporalityPreference | undefined
  /** Longest time a span waits for its batch (`spanExporters`; default 5 s). */
  readonly tracesInterval?: Duration.Input | undefined
  /** How often metrics are exported (`metricExporters`; default 60 s). */
  readonly metricsInterval?: Duration.Input | undefined
  /** Most spans per export (default 512). */
  readonly maxBatchSize?: number | undefined
  /** Spans that may wait for an exporter before new ones are dropped (default 2048). */
  readonly maxQueueSize?: number | undefined
  /** Time after which an export that has not answered counts as failed (default 10 s). */
  readonly exportTimeout?: Duration.Input | undefined
  /** How long shutdown (and `flush`) may spend exporting what is left (default 3 s). */
  readonly shutdownTimeout?: Duration.Input | undefined
}

type TracerConfig = NonNullable<Parameters<typeof NodeSdk.layerTracerProvider>[1]>
type ExportResult = Parameters<Parameters<SpanExporter["export"]>[1]>[0]

/** `ExportResultCode.SUCCESS` and `FAILED` of `@opentelemetry/core`. */
const SUCCESS = 0
const FAILED = 1

const listOf = <A>(value: A | ReadonlyArray<A> | undefined): ReadonlyArray<A> =>
  value === undefined ? [] : Array.isArray(value) ? value : [value as A]

const messageOf = (cause: unknown): string => cause instanceof Error ? cause.message : String(cause)

/** Data points in the SDK's metric model. */
const sdkPointsIn = (metrics: ResourceMetrics): number => {
  let n = 0
  for (const scope of metrics.scopeMetrics) for (const metric of scope.metrics) n += metric.dataPoints.length
  return n
}

/** Hands a foreign promise-returning call's sync throws over as rejections. */
const later = (f: () => Promise<void>): Promise<void> => Promise.resolve().then(f)

/**
 * One signal of `layerOpenTelemetry`: its counts, and guards for its exporters. A guard runs each export in a
 * fiber: the exporter's answer, its throw, or `exportTimeout` without answer settles it (once), and while an
 * export has not answered (even past its timeout) the exporter gets no other: new batches are dropped and
 * counted, so a hung exporter holds one batch, never a pile of them.
 */
const makeSdkSignal = Effect.fnUntraced(function*(signal: Signal, exportTimeout: Duration.Duration) {
  const stats = yield* Ref.make(emptySignal)
  const runFork = yield* FiberSet.makeRuntime<never, void, never>()
  // the attributed metrics, once: a lookup per update would cost the serving thread tens of µs each
  const exportedMetric = Metric.withAttributes(exportedTotal, { signal })
  const droppedMetric = Metric.withAttributes(droppedTotal, { signal })
  const failuresMetric = {
    timeout: Metric.withAttributes(failuresTotal, { signal, reason: "timeout" }),
    exporter: Metric.withAttributes(failuresTotal, { signal, reason: "exporter" })
  }

  /** What became of `items` spans or data points: exported (`undefined`), dropped, or failed `failures` times. */
  type Outcome =
    | undefined
    | { readonly _tag: "dropped" }
    | {
      readonly _tag: "failed"
      readonly reason: "timeout" | "exporter"
      readonly failures: number
      readonly detail: () => string
    }

  // errors are only built to be logged or handed to the SDK: building one costs ~0.2 ms of the serving thread
  const record = (items: number, outcome: Outcome) =>
    Effect.gen(function*() {
      const before = yield* Ref.get(stats)
      if (outcome === undefined) {
        yield* Ref.set(stats, {
          ...before,
          exported: before.exported + items,
          exportedBatches: before.exportedBatches + 1,
          healthy: true
        })
        yield* Metric.update(exportedMetric, items)
        if (!before.healthy) {
          yield* Effect.logInfo(`telemetry: ${signal} export recovered (${before.dropped} items dropped so far)`).pipe(
            Effect.annotateLogs({ mode: "FM-19" })
          )
        }
        return
      }
      yield* Metric.update(droppedMetric, items)
      if (outcome._tag === "dropped") {
        yield* Ref.set(stats, { ...before, dropped: before.dropped + items, droppedBatches: before.droppedBatches + 1 })
        yield* Effect.logDebug(`telemetry: ${signal} exporter still busy; ${items} items dropped`).pipe(
          Effect.annotateLogs({ mode: "FM-19", error: "BatchDropped" })
        )
        return
      }
      yield* Ref.set(stats, {
        ...before,
        dropped: before.dropped + items,
        droppedBatches: before.droppedBatches + 1,
        failedBatches: before.failedBatches + outcome.failures,
        healthy: false
      })
      yield* Metric.update(failuresMetric[outcome.reason], outcome.failures)
      if (before.healthy) {
        yield* Effect.logWarning(
          `telemetry: ${signal} export failing (${outcome.reason}: ${outcome.detail()}); dropping until it recovers`
        ).pipe(Effect.annotateLogs({ mode: "FM-19", error: "ExportFailed" }))
      }
    })

  /**
   * Counts faults outside an export (a span processor that threw), from the SDK's synchronous callbacks on the
   * serving fiber. Faults are tallied in place and recorded by one fiber per burst, so a processor that throws
   * on every span costs serving a counter increment, not a fiber per span.
   */
  const pending = { faults: 0, items: 0, detail: (): string => "", scheduled: false }
  const recordFaults = Effect.suspend(() => {
    const { detail, faults, items } = pending
    pending.faults = 0
    pending.items = 0
    pending.scheduled = false
    return record(items, { _tag: "failed", reason: "exporter", failures: faults, detail })
  })
  const fault = (items: number, detail: () => string): void => {
    pending.faults++
    pending.items += items
    pending.detail = detail
    if (!pending.scheduled) {
      pending.scheduled = true
      runFork(recordFaults)
    }
  }

  const guard = Effect.map(Semaphore.make(1), (busy) =>
    (items: number, call: (answer: (result: ExportResult) => void) => void, done: (result: ExportResult) => void) => {
      const answer = (result: ExportResult) =>
        Effect.sync(() => {
          try {
            done(result)
          } catch {
            // the SDK's own callback failing is its business; the export is settled either way
          }
        })
      runFork(Effect.gen(function*() {
        if (!(yield* Semaphore.takeIfAvailable(busy, 1))) {
          yield* record(items, { _tag: "dropped" })
          return yield* answer({ code: FAILED, error: new BatchDropped({ signal, items, capacity: 1 }) })
        }
        const answered = yield* Deferred.make<ExportResult>()
        // the exporter's own call holds the permit until it answers, however late
        runFork(
          Effect.callback<ExportResult>((resume) => {
            try {
              call((result) => resume(Effect.succeed(result)))
            } catch (cause) {
              resume(Effect.succeed({ code: FAILED, error: cause instanceof Error ? cause : new Error(String(cause)) }))
            }
          }).pipe(
            Effect.flatMap((result) => Deferred.succeed(answered, result)),
            Effect.ensuring(Semaphore.release(busy, 1))
          )
        )
        const failure = yield* Deferred.await(answered).pipe(
          Effect.map((result): Outcome =>
            result.code === SUCCESS ? undefined : {
              _tag: "failed",
              reason: "exporter",
              failures: 1,
              detail: () => result.error === undefined ? "the exporter reported failure" : messageOf(result.error)
            }
          ),
          Effect.timeoutOrElse({
            duration: exportTimeout,
            orElse: () =>
              Effect.succeed<Outcome>({
                _tag: "failed",
                reason: "timeout",
                failures: 1,
                detail: () => `the exporter did not answer within ${Duration.format(exportTimeout)}`
              })
          })
        )
        yield* record(items, failure)
        yield* answer(
          failure === undefined || failure._tag !== "failed"
            ? { code: SUCCESS }
            : { code: FAILED, error: new ExportFailed({ signal, reason: failure.reason, items, detail: failure.detail() }) }
        )
      }).pipe(Effect.withTracerEnabled(false)))
    })

  const spanExporter = (exporter: SpanExporter) =>
    Effect.map(guard, (run): SpanExporter => ({
      export: (spans, done) => run(spans.length, (answer) => exporter.export(spans, answer), done),
      shutdown: () => later(() => exporter.shutdown()),
      forceFlush: () => later(() => exporter.forceFlush?.() ?? Promise.resolve())
    }))

  const metricExporter = (exporter: PushMetricExporter) =>
    Effect.map(guard, (run): PushMetricExporter => {
      const temporality = exporter.selectAggregationTemporality
      const aggregation = exporter.selectAggregation
      return {
        export: (metrics, done) => run(sdkPointsIn(metrics), (answer) => exporter.export(metrics, answer), done),
        shutdown: () => later(() => exporter.shutdown()),
        forceFlush: () => later(() => exporter.forceFlush()),
        ...(temporality === undefined ? {} : { selectAggregationTemporality: temporality.bind(exporter) }),
        ...(aggregation === undefined ? {} : { selectAggregation: aggregation.bind(exporter) })
      }
    })

  /** A span processor whose throws (on the serving fiber, at span start and end) are caught and counted. */
  const spanProcessor = (processor: SpanProcessor): SpanProcessor => {
    const onEnding = processor.onEnding
    return {
      onStart: (span, context) => {
        try {
          processor.onStart(span, context)
        } catch (cause) {
          fault(0, () => `span processor threw on start: ${messageOf(cause)}`)
        }
      },
      onEnd: (span) => {
        try {
          processor.onEnd(span)
        } catch (cause) {
          fault(1, () => `span processor threw on end: ${messageOf(cause)}`)
        }
      },
      ...(onEnding === undefined ? {} : {
        onEnding: (span: Parameters<typeof onEnding>[0]) => {
          try {
            onEnding.call(processor, span)
          } catch (cause) {
            fault(0, () => `span processor threw on ending: ${messageOf(cause)}`)
          }
        }
      }),
      forceFlush: () => later(() => processor.forceFlush()),
      shutdown: () => later(() => processor.shutdown())
    }
  }

  return { stats: Ref.get(stats), spanExporter, metricExporter, spanProcessor }
})

/** Effect's tracer and `Metric` registry into the OpenTelemetry SDK pieces of `options`. */
const layerOpenTelemetry = (options: OpenTelemetryOptions): Layer.Layer<Telemetry> => {
  const spanExporters = listOf(options.spanExporters)
  const spanProcessors = listOf(options.spanProcessors)
  const metricExporters = listOf(options.metricExporters)
  const metricReaders = listOf(options.metricReaders)
  const tracing = spanExporters.length + spanProcessors.length > 0
  const metering = metricExporters.length + metricReaders.length > 0
  if (!tracing && !metering) return Telemetry.layerNoop
  return Layer.effectContext(Effect.gen(function*() {
    const exportTimeout = Duration.fromInputUnsafe(options.exportTimeout ?? Duration.seconds(10))
    const shutdownTimeout = Duration.fromInputUnsafe(options.shutdownTimeout ?? Duration.seconds(3))
    const millis = (input: Duration.Input | undefined, fallback: Duration.Input) =>
      Math.max(1, Math.round(Duration.toMillis(Duration.fromInputUnsafe(input ?? fallback))))
    const traces = yield* makeSdkSignal("traces", exportTimeout)
    const metrics = yield* makeSdkSignal("metrics", exportTimeout)

    // resource: OTEL_* variables, under your resource, under serviceName/serviceVersion/attributes
    const fromEnv = yield* Effect.provide(Effect.service(OtelResource.Resource), OtelResource.layerFromEnv())
    const explicit = Resources.resourceFromAttributes({
      ...options.attributes,
      ...(options.serviceName === undefined ? {} : { [ATTR_SERVICE_NAME]: options.serviceName }),
      ...(options.serviceVersion === undefined ? {} : { [ATTR_SERVICE_VERSION]: options.serviceVersion })
    })
    const merged = (options.resource === undefined ? fromEnv : fromEnv.merge(options.resource)).merge(explicit)
    const resource = merged.attributes[ATTR_SERVICE_NAME] === undefined
      ? merged.merge(Resources.resourceFromAttributes({ [ATTR_SERVICE_NAME]: "effect-mcp" }))
      : merged

    // the SDK's batching does the hand-off (bounded buffer, exports from its timers); the guards bound each export
    const maxQueueSize = Math.max(1, options.maxQueueSize ?? 2048)
    const batching = {
      maxQueueSize,
      maxExportBatchSize: Math.min(maxQueueSize, Math.max(1, options.maxBatchSize ?? 512)),
      scheduledDelayMillis: millis(options.tracesInterval, Duration.seconds(5)),
      // later than the guard's own timeout, which answers first
      exportTimeoutMillis: Math.round(Duration.toMillis(exportTimeout)) + 1_000
    }
    const processors: Array<SpanProcessor> = [
      ...(yield* Effect.forEach(spanExporters, (exporter) =>
        Effect.map(traces.spanExporter(exporter), (guarded) => new BatchSpanProcessor(guarded, batching)))),
      ...spanProcessors.map(traces.spanProcessor)
    ]
    const interval = millis(options.metricsInterval, Duration.seconds(60))
    const readers: Array<MetricReader> = [
      ...(yield* Effect.forEach(metricExporters, (exporter) =>
        Effect.flatMap(metrics.metricExporter(exporter), (guarded) =>
          Effect.sync(() =>
            new PeriodicExportingMetricReader({
              exporter: guarded,
              exportIntervalMillis: interval,
              exportTimeoutMillis: Math.min(interval, Math.round(Duration.toMillis(exportTimeout)) + 1_000)
            })
          )))),
      ...metricReaders
    ]

    const [firstProcessor, ...moreProcessors] = processors
    const [firstReader, ...moreReaders] = readers
    const sdk = Layer.mergeAll(
      firstProcessor === undefined ? Layer.empty : OtelTracer.layer.pipe(
        Layer.provide(NodeSdk.layerTracerProvider([firstProcessor, ...moreProcessors], {
          ...options.tracerConfig,
          shutdownTimeout
        }))
      ),
      firstReader === undefined ? Layer.empty : OtelMetrics.layer(() => [firstReader, ...moreReaders], {
        shutdownTimeout,
        temporality: options.metricTemporality
      })
    ).pipe(Layer.provide(Layer.succeed(OtelResource.Resource, resource)))
    // the SDK's shutdown (bounded by shutdownTimeout) runs in a scope of its own: a processor, reader or
    // exporter whose flush or shutdown rejects costs a warning, never a failed shutdown of the program
    const sdkScope = yield* Scope.make()
    yield* Effect.addFinalizer(() =>
      Effect.flatMap(Effect.exit(Scope.close(sdkScope, Exit.void)), (exit) =>
        Exit.isSuccess(exit) ? Effect.void : Effect.logWarning(
          `telemetry: the OpenTelemetry SDK did not shut down cleanly: ${Cause.pretty(exit.cause).split("\n")[0]}`
        ).pipe(Effect.annotateLogs({ mode: "FM-19" })))
    )
    const context = yield* Layer.buildWithScope(sdk, sdkScope)

    const flushAll = Effect.promise(() =>
      Promise.allSettled([
        ...processors.map((processor) => later(() => processor.forceFlush())),
        ...readers.map((reader) => later(() => reader.forceFlush()))
      ])
    )
    const service: Shape = {
      enabled: { traces: tracing, metrics: metering },
      flush: Effect.asVoid(Effect.timeoutOption(flushAll, shutdownTimeout)),
      stats: Effect.all({ traces: traces.stats, metrics: metrics.stats })
    }
    return Context.add(context, Telemetry, service)
  })).pipe(
    // telemetry that cannot be set up must not keep the process from serving (FM-19)
    Layer.catchCause((cause) =>
      Layer.unwrap(
        Effect.as(
          Effect.logWarning(`telemetry: not exported, the OpenTelemetry SDK could not start: ${Cause.pretty(cause).split("\n")[0]}`).pipe(
            Effect.annotateLogs({ mode: "FM-19" })
          ),
          Telemetry.layerNoop
        )
      )
    )
  )
}
