/**
 * OTLP export (Telemetry) and its isolation from serving (FM-19): a real OTLP/HTTP collector on 127.0.0.1
 * that records, hangs, answers 500 or is not there, while an McpServer answers an McpClient over in-memory
 * transports. Time-driven parts (export timeout, intervals, queue bounds) run on the TestClock with a client
 * the test controls. `layerOpenTelemetry` is tested with the OpenTelemetry SDK's in-memory exporters and
 * readers, and with exporters and span processors that throw, fail or never answer.
 */
import { describe, expect, it } from "@effect/vitest"
import * as http from "node:http"
import type * as net from "node:net"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as HttpClient from "effect/http/HttpClient"
import type * as HttpClientRequest from "effect/http/HttpClientRequest"
import * as HttpClientResponse from "effect/http/HttpClientResponse"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as TestClock from "effect/testing/TestClock"
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  PeriodicExportingMetricReader,
  type PushMetricExporter
} from "@opentelemetry/sdk-metrics"
import {
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
  type SpanExporter,
  type SpanProcessor
} from "@opentelemetry/sdk-trace-base"
import { McpClient } from "@effect-mcp/client"
import { MemoryTransport } from "@effect-mcp/core"
import { JsonRpcCodec } from "@effect-mcp/jsonrpc"
import { McpServer, Tool } from "@effect-mcp/server"
import { Health, Telemetry } from "@effect-mcp/runtime"

// ---- a real OTLP/HTTP collector ---------------------------------------------------------------------------

type CollectorMode = "record" | "hang" | "fail"

interface Received {
  readonly path: string
  readonly body: unknown
}

interface Collector {
  readonly url: string
  readonly received: Array<Received>
  /** Requests the collector holds open now, and the most it ever held at once. */
  readonly open: () => number
  readonly maxOpen: () => number
}

const collector = (mode: CollectorMode): Effect.Effect<Collector, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(() =>
      new Promise<{ collector: Collector; server: http.Server }>((resolve) => {
        const received: Array<Received> = []
        let open = 0
        let maxOpen = 0
        const server = http.createServer((request, response) => {
          open++
          maxOpen = Math.max(maxOpen, open)
          response.on("close", () => open--)
          const chunks: Array<Buffer> = []
          request.on("data", (chunk: Buffer) => chunks.push(chunk))
          request.on("end", () => {
            if (mode === "hang") return // never answers
            if (mode === "fail") {
              response.writeHead(500, { "content-type": "text/plain" })
              response.end("collector failure")
              return
            }
            received.push({ path: request.url ?? "", body: JSON.parse(Buffer.concat(chunks).toString("utf8")) })
            response.writeHead(200, { "content-type": "application/json" })
            response.end("{}")
          })
        })
        server.listen(0, "127.0.0.1", () => {
          const port = (server.address() as net.AddressInfo).port
          resolve({ server, collector: { url: `http://127.0.0.1:${port}`, received, open: () => open, maxOpen: () => maxOpen } })
        })
      })
    ),
    ({ server }) =>
      Effect.promise(() =>
        new Promise<void>((resolve) => {
          server.closeAllConnections()
          server.close(() => resolve())
        })
      )
  ).pipe(Effect.map(({ collector }) => collector))

/** A URL where nothing listens (a port that was just freed). */
const nobody = Effect.promise(() =>
  new Promise<string>((resolve) => {
    const server = http.createServer()
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as net.AddressInfo).port
      server.close(() => resolve(`http://127.0.0.1:${port}`))
    })
  })
)

// ---- the OTLP payloads ------------------------------------------------------------------------------------

const KeyValue = Schema.Struct({ key: Schema.String, value: Schema.Struct({ stringValue: Schema.optionalKey(Schema.String) }) })
const TracesPayload = Schema.Struct({
  resourceSpans: Schema.Array(Schema.Struct({
    resource: Schema.Struct({ attributes: Schema.Array(KeyValue) }),
    scopeSpans: Schema.Array(Schema.Struct({
      spans: Schema.Array(Schema.Struct({ name: Schema.String, traceId: Schema.String, spanId: Schema.String, attributes: Schema.Array(KeyValue) }))
    }))
  }))
})
const MetricsPayload = Schema.Struct({
  resourceMetrics: Schema.Array(Schema.Struct({
    resource: Schema.Struct({ attributes: Schema.Array(KeyValue) }),
    scopeMetrics: Schema.Array(Schema.Struct({ metrics: Schema.Array(Schema.Struct({ name: Schema.String })) }))
  }))
})

const serviceNameOf = (attributes: ReadonlyArray<typeof KeyValue.Type>) => attributes.find((a) => a.key === "service.name")?.value.stringValue

const spansOf = (received: ReadonlyArray<Received>) =>
  received.filter((r) => r.path === "/v1/traces").flatMap((r) =>
    Schema.decodeUnknownSync(TracesPayload)(r.body).resourceSpans.flatMap((rs) =>
      rs.scopeSpans.flatMap((ss) => ss.spans.map((span) => ({ ...span, service: serviceNameOf(rs.resource.attributes) })))
    )
  )

const metricsOf = (received: ReadonlyArray<Received>) =>
  received.filter((r) => r.path === "/v1/metrics").flatMap((r) =>
    Schema.decodeUnknownSync(MetricsPayload)(r.body).resourceMetrics.flatMap((rm) =>
      rm.scopeMetrics.flatMap((sm) => sm.metrics.map((m) => ({ name: m.name, service: serviceNameOf(rm.resource.attributes) })))
    )
  )

// ---- an MCP server and client over in-memory transports ------------------------------------------------

const tools = [
  Tool.make("echo", { input: Schema.Struct({ message: Schema.String }), handler: ({ message }) => Effect.succeed(message) })
]

const connect = Effect.gen(function*() {
  const server = yield* McpServer.make({ info: { name: "telemetry-test", version: "1" }, tools })
  const [a, b] = yield* MemoryTransport.makePair()
  yield* Effect.forkScoped(server.serve(a))
  return yield* McpClient.connect(b, { info: { name: "client", version: "1" } })
}).pipe(Effect.provide(JsonRpcCodec.JsonRpcCodec.layer))

const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

/**
 * Latencies (ms) of `n` tool calls to a server without telemetry and `n` to one under `telemetry`, interleaved
 * (after a warm-up) so that both see the same machine load; and the telemetry's stats at the end.
 */
const callLatencies = (telemetry: Layer.Layer<Telemetry.Telemetry>, n: number) =>
  Effect.scoped(Effect.gen(function*() {
    const plain = yield* connect
    const context = yield* Layer.build(telemetry)
    const observed = yield* Effect.provide(connect, context)
    const time = (client: McpClient.McpClient, i: number) =>
      Effect.gen(function*() {
        const start = performance.now()
        const result = yield* client.callTool("echo", { message: `m${i}` })
        const ms = performance.now() - start
        expect(result).toMatchObject({ content: [{ type: "text", text: `m${i}` }] })
        return ms
      })
    for (let i = 0; i < 30; i++) {
      yield* time(plain, i)
      yield* Effect.provide(time(observed, i), context)
    }
    const without: Array<number> = []
    const withTelemetry: Array<number> = []
    for (let i = 0; i < n; i++) {
      // alternate which goes first, so that neither always follows the other's work
      if (i % 2 === 0) without.push(yield* time(plain, i))
      withTelemetry.push(yield* Effect.provide(time(observed, i), context))
      if (i % 2 === 1) without.push(yield* time(plain, i))
    }
    const stats = yield* Context.get(context, Telemetry.Telemetry).stats
    return { without, withTelemetry, stats, callsEnded: performance.now() }
  }))

/** Small batches and short intervals so that many exports happen while the calls run. */
const busy = (base: string) => ({
  tracesUrl: `${base}/v1/traces`,
  metricsUrl: `${base}/v1/metrics`,
  serviceName: "mcp-telemetry-test",
  tracesInterval: "20 millis",
  metricsInterval: "50 millis",
  maxBatchSize: 16,
  maxQueuedBatches: 2,
  exportTimeout: "1 second",
  shutdownTimeout: "500 millis"
} satisfies Telemetry.Options)

describe("Telemetry: OTLP export to a real collector", () => {
  it.live("exports Effect spans (Protocol.request, with their attributes) and every /metrics family, with service.name", () =>
    Effect.gen(function*() {
      const otlp = yield* collector("record")
      const telemetry = Telemetry.Telemetry.layer({ ...busy(otlp.url), metricsInterval: "100 millis", maxQueuedBatches: 64 })
      const families = yield* Effect.scoped(Effect.gen(function*() {
        const client = yield* connect
        for (let i = 0; i < 5; i++) yield* client.callTool("echo", { message: `hello ${i}` })
        yield* Effect.void.pipe(
          Effect.withSpan("McpServer.request", { attributes: { "mcp.method.name": "tools/call", "jsonrpc.request.id": "7" } })
        )
        const service = yield* Telemetry.Telemetry
        yield* service.flush
        // the metric families that Health's /metrics shows now: the next export must carry every one
        const families = [...Health.prometheus(yield* Effect.context<never>()).matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!)
        yield* service.flush
        expect(yield* service.stats).toMatchObject({ traces: { healthy: true, dropped: 0 }, metrics: { healthy: true, dropped: 0 } })
        return families
      }).pipe(Effect.provide(telemetry)))

      const spans = spansOf(otlp.received)
      expect(spans.filter((s) => s.name === "Protocol.request").length).toBeGreaterThanOrEqual(5)
      expect(spans.every((s) => s.service === "mcp-telemetry-test" && /^[0-9a-f]{32}$/.test(s.traceId))).toBe(true)
      const request = spans.find((s) => s.name === "McpServer.request")
      expect(request?.attributes).toEqual(expect.arrayContaining([
        { key: "mcp.method.name", value: { stringValue: "tools/call" } },
        { key: "jsonrpc.request.id", value: { stringValue: "7" } }
      ]))

      // every metric family of Health's Prometheus text arrives over OTLP too (same registry)
      const metrics = metricsOf(otlp.received)
      expect(metrics.every((m) => m.service === "mcp-telemetry-test")).toBe(true)
      expect(families).toContain("mcp_telemetry_exported_total")
      const exported = new Set(metrics.map((m) => m.name))
      expect(families.filter((f) => !exported.has(f))).toEqual([])
    }))

  for (const fault of ["hangs", "answers 500", "is not listening"] as const) {
    it.live(`a collector that ${fault} neither blocks nor slows tool calls; its losses are bounded and counted`, () =>
      Effect.gen(function*() {
        const otlp = fault === "is not listening" ? undefined : yield* collector(fault === "hangs" ? "hang" : "fail")
        const url = otlp?.url ?? (yield* nobody)
        const { callsEnded, stats, withTelemetry, without } = yield* callLatencies(Telemetry.Telemetry.layer(busy(url)), 150)
        const shutdown = performance.now() - callsEnded

        const p50 = median(withTelemetry)
        const base = median(without)
        const max = Math.max(...withTelemetry)
        yield* Effect.logDebug(
          `collector ${fault}: p50 ${p50.toFixed(3)} ms (without telemetry ${base.toFixed(3)} ms), max ${max.toFixed(1)} ms ` +
            `(without ${Math.max(...without).toFixed(1)} ms), shutdown ${shutdown.toFixed(0)} ms, traces ${JSON.stringify(stats.traces)}`
        )
        // no call waited for an export: one that did would take the export timeout (1 s) with a hung collector
        expect(max).toBeLessThan(1_000)
        expect(p50).toBeLessThan(base * 2 + 0.5)
        // nothing got through, every loss is counted, and the bounds held
        expect(stats.traces.exported).toBe(0)
        // (a hung export only fails at its timeout, which may come after the last call)
        if (fault !== "hangs") expect(stats.traces.healthy).toBe(false)
        expect(stats.traces.dropped).toBeGreaterThan(0)
        expect(stats.traces.queued).toBeLessThanOrEqual(2)
        if (otlp !== undefined) expect(otlp.maxOpen()).toBeLessThanOrEqual(2) // one export in flight per signal
        expect(shutdown).toBeLessThan(2_000) // it waits for the collector at most shutdownTimeout (500 ms)
      }))
  }

  it.live("a hung collector under a burst of 10,000 spans: memory stays bounded (queue, one export in flight), every span accounted for", () =>
    Effect.gen(function*() {
      const burst = 10_000
      const otlp = yield* collector("hang")
      const options = { ...busy(otlp.url), metricsUrl: undefined, maxBatchSize: 100, maxQueuedBatches: 3, exportTimeout: Duration.millis(300) }
      const started = performance.now()
      const stats = yield* Effect.scoped(Effect.gen(function*() {
        const service = yield* Telemetry.Telemetry
        for (let i = 0; i < burst; i++) yield* Effect.withSpan(Effect.void, "Load.span")
        const flushStart = performance.now()
        yield* service.flush
        expect(performance.now() - flushStart).toBeLessThan(1_000) // bounded by shutdownTimeout (500 ms)
        return yield* service.stats
      }).pipe(Effect.provide(Telemetry.Telemetry.layer(options))))
      expect(performance.now() - started).toBeLessThan(4_000) // shutdown included
      expect(otlp.maxOpen()).toBe(1)
      expect(stats.traces.queued).toBeLessThanOrEqual(3)
      expect(stats.traces.exported).toBe(0)
      // at most the queue, the export in flight and the exporter's own buffer are held; the rest is dropped
      expect(stats.traces.dropped).toBeGreaterThanOrEqual(burst - (3 + 1) * 100 - 100)
      expect(stats.traces.dropped + stats.traces.queued * 100).toBeLessThanOrEqual(burst)
    }))
})

// ---- time-driven parts on the TestClock, with a client the test controls ---------------------------------

/** An HTTP client that records each request and answers 200 once `open` is called (`answerNow`: at once). */
const controlled = (answerNow = false) =>
  Effect.gen(function*() {
    const gate = yield* Deferred.make<void>()
    if (answerNow) yield* Deferred.succeed(gate, undefined)
    const requests: Array<HttpClientRequest.HttpClientRequest> = []
    const client = HttpClient.make((request) =>
      Effect.andThen(Effect.sync(() => requests.push(request)), Deferred.await(gate)).pipe(
        Effect.as(HttpClientResponse.fromWeb(request, new Response("{}", { status: 200 })))
      )
    )
    return { client, requests, open: Deferred.succeed(gate, undefined) }
  })

const spans = (n: number) => Effect.forEach(Array.from({ length: n }), () => Effect.withSpan(Effect.void, "Test.span"), { discard: true })

/** Lets forked fibers run (no time passes). */
const settle = Effect.forEach(Array.from({ length: 50 }), () => Effect.yieldNow, { discard: true })

describe("Telemetry: bounds and timeouts (TestClock)", () => {
  it.effect("an export that gets no answer gives up after exportTimeout; its spans are counted as dropped", () =>
    Effect.gen(function*() {
      const collector = yield* controlled()
      const layer = Telemetry.Telemetry.layer({
        tracesUrl: "http://collector.test/v1/traces",
        tracesInterval: "1 second",
        exportTimeout: "2 seconds",
        httpClient: collector.client
      })
      yield* Effect.scoped(Effect.gen(function*() {
        const service = yield* Telemetry.Telemetry
        yield* spans(5)
        yield* TestClock.adjust("1 second")
        yield* settle
        expect(collector.requests.map((r) => r.url)).toEqual(["http://collector.test/v1/traces"])
        expect(yield* service.stats).toMatchObject({ traces: { queued: 0, exported: 0, dropped: 0, healthy: true } })
        yield* TestClock.adjust("1999 millis")
        yield* settle
        expect((yield* service.stats).traces.failedBatches).toBe(0)
        yield* TestClock.adjust("1 millis")
        yield* settle
        expect(yield* service.stats).toMatchObject({ traces: { failedBatches: 1, dropped: 5, droppedBatches: 1, healthy: false } })
        // the next export is tried (never retried, never paused): it is the collector's turn to answer
        yield* spans(2)
        yield* TestClock.adjust("1 second")
        yield* settle
        expect(collector.requests).toHaveLength(2)
      }).pipe(Effect.ensuring(collector.open), Effect.provide(layer))) // lets shutdown end without moving the clock
    }))

  it.effect("a full queue drops new batches and counts their spans; one export at a time", () =>
    Effect.gen(function*() {
      const collector = yield* controlled()
      const layer = Telemetry.Telemetry.layer({
        tracesUrl: "http://collector.test/v1/traces",
        maxBatchSize: 1,
        maxQueuedBatches: 2,
        exportTimeout: "1 minute",
        httpClient: collector.client
      })
      yield* Effect.scoped(Effect.gen(function*() {
        const service = yield* Telemetry.Telemetry
        yield* spans(1)
        yield* settle
        yield* spans(9)
        yield* settle
        // one batch in flight, two queued, seven dropped
        expect(collector.requests).toHaveLength(1)
        expect(yield* service.stats).toMatchObject({ traces: { queued: 2, dropped: 7, droppedBatches: 7, exported: 0 } })
        yield* collector.open
        yield* settle
        expect(yield* service.stats).toMatchObject({ traces: { queued: 0, exported: 3, exportedBatches: 3, dropped: 7 } })
      }).pipe(Effect.ensuring(collector.open), Effect.provide(layer)))
    }))

  it.effect("metrics go out every metricsInterval; a 2xx counts as exported", () =>
    Effect.gen(function*() {
      const collector = yield* controlled(true)
      const layer = Telemetry.Telemetry.layer({
        metricsUrl: "http://collector.test/v1/metrics",
        metricsInterval: "30 seconds",
        httpClient: collector.client
      })
      yield* Effect.scoped(Effect.gen(function*() {
        const service = yield* Telemetry.Telemetry
        yield* settle
        expect(collector.requests).toHaveLength(0)
        yield* TestClock.adjust("30 seconds")
        yield* settle
        expect(collector.requests.map((r) => r.url)).toEqual(["http://collector.test/v1/metrics"])
        yield* TestClock.adjust("30 seconds")
        yield* settle
        expect(collector.requests).toHaveLength(2)
        const stats = yield* service.stats
        expect(stats.metrics).toMatchObject({ exportedBatches: 2, failedBatches: 0, healthy: true })
        expect(stats.metrics.exported).toBeGreaterThan(0)
      }).pipe(Effect.provide(layer)))
    }))
})

// ---- configuration -----------------------------------------------------------------------------------------

const fromEnv = (env: Record<string, string>) => ConfigProvider.layer(ConfigProvider.fromUnknown(env))

const enabledWith = (env: Record<string, string>) =>
  Effect.scoped(Effect.gen(function*() {
    const context = yield* Layer.build(Telemetry.Telemetry.layerConfig.pipe(Layer.provide(fromEnv(env))))
    return Context.get(context, Telemetry.Telemetry).enabled
  }))

describe("Telemetry: configuration from OTEL_* variables", () => {
  it.effect("nothing configured, or OTEL_SDK_DISABLED: the no-op layer", () =>
    Effect.gen(function*() {
      expect(yield* enabledWith({})).toEqual({ traces: false, metrics: false })
      expect(yield* enabledWith({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318", OTEL_SDK_DISABLED: "true" }))
        .toEqual({ traces: false, metrics: false })
    }))

  it.effect("OTEL_EXPORTER_OTLP_ENDPOINT is a base URL; the per-signal endpoints are used as they are; `none` turns a signal off", () =>
    Effect.gen(function*() {
      const options = (env: Record<string, string>) => Effect.provide(Effect.gen(function*() {
        return yield* Telemetry.config
      }), fromEnv(env))
      expect(yield* options({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318" })).toMatchObject({
        tracesUrl: "http://127.0.0.1:4318/v1/traces",
        metricsUrl: "http://127.0.0.1:4318/v1/metrics"
      })
      expect(yield* options({
        OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318/base/",
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://traces:9999/custom",
        OTEL_METRIC_EXPORT_INTERVAL: "15000",
        OTEL_EXPORTER_OTLP_TIMEOUT: "2500"
      })).toMatchObject({
        tracesUrl: "http://traces:9999/custom",
        metricsUrl: "http://collector:4318/base/v1/metrics",
        metricsInterval: Duration.millis(15_000),
        exportTimeout: Duration.millis(2_500)
      })
      expect(yield* enabledWith({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318", OTEL_TRACES_EXPORTER: "none" }))
        .toEqual({ traces: false, metrics: true })
    }))

  it.effect("a resource configuration that cannot be used leaves telemetry off, never the process down (FM-19)", () =>
    Effect.gen(function*() {
      expect(yield* enabledWith({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318", OTEL_RESOURCE_ATTRIBUTES: "team=%ZZ" }))
        .toEqual({ traces: false, metrics: false })
    }))
})

// ---- through the OpenTelemetry JS SDK (layerOpenTelemetry) ---------------------------------------------------

type ExportResult = Parameters<Parameters<SpanExporter["export"]>[1]>[0]

/** The metric names of the last export an in-memory metric exporter received, and their service.name. */
const lastMetricExport = (exporter: InMemoryMetricExporter) => {
  const last = exporter.getMetrics().at(-1)
  return {
    names: new Set(last?.scopeMetrics.flatMap((scope) => scope.metrics.map((metric) => metric.descriptor.name)) ?? []),
    service: last?.resource.attributes["service.name"]
  }
}

/** The metric families that Health's /metrics shows now. */
const prometheusFamilies = Effect.map(
  Effect.context<never>(),
  (context) => [...Health.prometheus(context).matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!)
)

const attributesOf = (span: ReadableSpan) => span.attributes

/** Lets the SDK's promise chains run (real event-loop turns; no clock time passes). */
const settleIO = Effect.forEach(
  Array.from({ length: 10 }),
  () => Effect.andThen(Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve))), settle),
  { discard: true }
)

describe("Telemetry: through the OpenTelemetry SDK (layerOpenTelemetry)", () => {
  it.live("an McpServer's spans (Protocol.request, Protocol.handle) and every /metrics family reach the SDK's exporters, with service.name", () =>
    Effect.gen(function*() {
      const spanExporter = new InMemorySpanExporter()
      const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE)
      const telemetry = Telemetry.Telemetry.layerOpenTelemetry({
        spanExporters: spanExporter,
        metricExporters: metricExporter,
        serviceName: "mcp-otel-test",
        serviceVersion: "1.2.3"
      })
      yield* Effect.scoped(Effect.gen(function*() {
        const service = yield* Telemetry.Telemetry
        expect(service.enabled).toEqual({ traces: true, metrics: true })
        const client = yield* connect
        for (let i = 0; i < 5; i++) yield* client.callTool("echo", { message: `hello ${i}` })
        yield* service.flush
        const families = yield* prometheusFamilies
        yield* service.flush

        const spans = spanExporter.getFinishedSpans()
        expect(spans.filter((s) => s.name === "Protocol.request").length).toBeGreaterThanOrEqual(5)
        const handled = spans.filter((s) => s.name === "Protocol.handle" && attributesOf(s)["mcp.method.name"] === "tools/call")
        expect(handled.length).toBe(5)
        expect(handled[0]!.kind).toBe(1) // SpanKind.SERVER
        expect(spans.every((s) => s.resource.attributes["service.name"] === "mcp-otel-test")).toBe(true)
        expect(spans[0]!.resource.attributes["service.version"]).toBe("1.2.3")

        // every metric family of Health's Prometheus text arrives through the SDK too, under the same name
        const metrics = lastMetricExport(metricExporter)
        expect(metrics.service).toBe("mcp-otel-test")
        expect(families).toContain("mcp_telemetry_exported_total")
        expect(families.filter((f) => !metrics.names.has(f))).toEqual([])
        expect(yield* service.stats).toMatchObject({
          traces: { healthy: true, dropped: 0, failedBatches: 0 },
          metrics: { healthy: true, dropped: 0, failedBatches: 0 }
        })
        expect((yield* service.stats).traces.exported).toBeGreaterThanOrEqual(spans.length)
      }).pipe(Effect.provide(telemetry)))
    }))

  it.live("span processors and metric readers are used as they are; OTEL_SERVICE_NAME names the service", () =>
    Effect.gen(function*() {
      const spanExporter = new InMemorySpanExporter()
      const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE)
      const telemetry = Telemetry.Telemetry.layerOpenTelemetry({
        spanProcessors: new SimpleSpanProcessor(spanExporter),
        metricReaders: new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 60_000 })
      }).pipe(Layer.provide(fromEnv({ OTEL_SERVICE_NAME: "from-env" })))
      yield* Effect.scoped(Effect.gen(function*() {
        const service = yield* Telemetry.Telemetry
        const client = yield* connect
        yield* client.callTool("echo", { message: "hello" })
        yield* service.flush
        const spans = spanExporter.getFinishedSpans()
        expect(spans.map((s) => s.name)).toEqual(expect.arrayContaining(["Protocol.request", "Protocol.handle"]))
        expect(spans.every((s) => s.resource.attributes["service.name"] === "from-env")).toBe(true)
        const metrics = lastMetricExport(metricExporter)
        expect(metrics.service).toBe("from-env")
        const families = yield* prometheusFamilies
        expect(families.length).toBeGreaterThan(0)
        expect(families.filter((f) => !metrics.names.has(f))).toEqual([])
      }).pipe(Effect.provide(telemetry)))
    }))

  it.live("exporters and a span processor that throw or fail neither break nor slow tool calls; the failures are counted", () =>
    Effect.gen(function*() {
      const throws: SpanExporter = {
        export: () => {
          throw new Error("span exporter down")
        },
        shutdown: () => Promise.resolve()
      }
      const refuses: SpanExporter = {
        export: (_spans, done) => done({ code: 1, error: new Error("collector refused") }),
        shutdown: () => Promise.resolve()
      }
      // built once: constructing an Error (its stack) per span is the broken processor's own cost, not ours
      const brokenOnStart = new Error("processor broken on start")
      const brokenOnEnd = new Error("processor broken on end")
      const processor: SpanProcessor = {
        onStart: () => {
          throw brokenOnStart
        },
        onEnd: () => {
          throw brokenOnEnd
        },
        forceFlush: () => Promise.reject(new Error("processor cannot flush")),
        shutdown: () => Promise.resolve()
      }
      const metricsThrow: PushMetricExporter = {
        export: () => {
          throw new Error("metric exporter down")
        },
        forceFlush: () => Promise.resolve(),
        shutdown: () => Promise.resolve()
      }
      const layer = Telemetry.Telemetry.layerOpenTelemetry({
        spanExporters: [throws, refuses],
        spanProcessors: processor,
        metricExporters: metricsThrow,
        tracesInterval: "20 millis",
        metricsInterval: "50 millis",
        maxBatchSize: 16,
        exportTimeout: "1 second",
        shutdownTimeout: "500 millis"
      })
      const { callsEnded, stats, withTelemetry, without } = yield* callLatencies(layer, 150)
      const shutdown = performance.now() - callsEnded
      const p50 = median(withTelemetry)
      const base = median(without)
      const max = Math.max(...withTelemetry)
      yield* Effect.logDebug(
        `throwing OTel exporters: p50 ${p50.toFixed(3)} ms (without telemetry ${base.toFixed(3)} ms), max ${max.toFixed(1)} ms, ` +
          `shutdown ${shutdown.toFixed(0)} ms, traces ${JSON.stringify(stats.traces)}, metrics ${JSON.stringify(stats.metrics)}`
      )
      // every call answered (callLatencies checks each result), none waited for an exporter
      expect(max).toBeLessThan(1_000)
      expect(p50).toBeLessThan(base * 2 + 0.5)
      expect(stats.traces).toMatchObject({ exported: 0, healthy: false })
      expect(stats.traces.failedBatches).toBeGreaterThan(0)
      expect(stats.traces.dropped).toBeGreaterThan(0)
      expect(stats.metrics.failedBatches).toBeGreaterThan(0)
      expect(shutdown).toBeLessThan(2_000)
    }))
})

describe("Telemetry: layerOpenTelemetry bounds (TestClock)", () => {
  it.effect("an exporter that never answers: the export fails after exportTimeout, and batches are dropped while it hangs (one export in flight)", () =>
    Effect.gen(function*() {
      const answers: Array<(result: ExportResult) => void> = []
      const batches: Array<number> = []
      const hangs: SpanExporter = {
        export: (spans, done) => {
          batches.push(spans.length)
          answers.push(done)
        },
        shutdown: () => Promise.resolve()
      }
      const layer = Telemetry.Telemetry.layerOpenTelemetry({
        spanExporters: hangs,
        tracesInterval: "1 hour", // exports only on flush
        exportTimeout: "2 seconds",
        shutdownTimeout: "1 minute"
      })
      yield* Effect.scoped(Effect.gen(function*() {
        const service = yield* Telemetry.Telemetry
        yield* spans(5)
        const first = yield* Effect.forkChild(service.flush)
        yield* settleIO
        expect(batches).toEqual([5])
        yield* TestClock.adjust("1999 millis")
        yield* settleIO
        expect((yield* service.stats).traces.failedBatches).toBe(0)
        yield* TestClock.adjust("1 millis")
        yield* settleIO
        expect((yield* service.stats).traces).toMatchObject({ failedBatches: 1, dropped: 5, droppedBatches: 1, healthy: false })
        yield* Fiber.join(first) // the SDK got its answer: flush returns

        // still hanging: the next batch is not handed to the exporter but dropped at once and counted
        yield* spans(3)
        yield* service.flush
        expect(batches).toEqual([5])
        expect((yield* service.stats).traces).toMatchObject({ failedBatches: 1, dropped: 8, droppedBatches: 2 })

        // the hung export answers at last: the exporter gets batches again
        answers[0]!({ code: 0 })
        yield* settleIO
        yield* spans(2)
        const third = yield* Effect.forkChild(service.flush)
        yield* settleIO
        expect(batches).toEqual([5, 2])
        answers[1]!({ code: 0 })
        yield* Fiber.join(third)
        expect((yield* service.stats).traces).toMatchObject({ exported: 2, exportedBatches: 1, dropped: 8, healthy: true })
      }).pipe(Effect.provide(layer)))
    }))

  it.effect("nothing given: the no-op layer", () =>
    Effect.gen(function*() {
      const service = yield* Telemetry.Telemetry
      expect(service.enabled).toEqual({ traces: false, metrics: false })
    }).pipe(Effect.provide(Telemetry.Telemetry.layerOpenTelemetry({}))))
})
