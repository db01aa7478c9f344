import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as TestClock from "effect/testing/TestClock"
import { JsonRpcCodec } from "@effect-mcp/jsonrpc"
import { StreamableHttpServer } from "@effect-mcp/transports"
import { Drain, Health, ResourceMonitor, Runtime } from "@effect-mcp/runtime"
import { quiet } from "./support/world.ts"

const get = (url: string, method = "GET") =>
  Effect.promise(async () => {
    const response = await fetch(url, { method })
    return { status: response.status, type: response.headers.get("content-type") ?? "", body: await response.text() }
  })

/** Asks until the answer satisfies `ok` (real time, bounded). */
const eventually = (url: string, ok: (r: { status: number; body: string }) => boolean) =>
  Effect.gen(function*() {
    for (let i = 0; i < 100; i++) {
      const r = yield* get(url)
      if (ok(r)) return r
      yield* Effect.sleep("20 millis")
    }
    return yield* Effect.die(new Error(`no satisfying answer from ${url}`))
  })

const runtime = Runtime.Runtime.layer({ resourceSource: ResourceMonitor.Source.fromSync(() => ({ heapUsedBytes: 1, heapLimitBytes: 100 })) })

describe("Health", () => {
  it.live("serves /health, /ready and /metrics as the routes of StreamableHttpServer.serve; other paths fall through", () =>
    quiet(Effect.gen(function*() {
      const health = yield* Health.Health
      const drain = yield* Drain.Drain
      const latency = Metric.histogram("test_latency_ms", { description: "a test histogram", boundaries: [10, 100] })
      yield* Metric.update(latency, 5)
      yield* Metric.update(latency, 50)
      yield* Metric.update(Metric.gauge("test_depth"), 7)
      const server = yield* StreamableHttpServer.serve({ port: 0, routes: yield* health.routes() }, () => Effect.void)
      const base = `http://127.0.0.1:${server.port}`

      const live = yield* get(`${base}/health`)
      expect(live.status).toBe(200)
      expect(live.type).toBe("application/json")
      expect(JSON.parse(live.body)).toMatchObject({ status: "up", checks: [{ name: "supervision", ok: true }] })

      const ready = yield* eventually(`${base}/ready`, (r) => r.status === 200)
      expect(JSON.parse(ready.body).checks.map((c: Health.CheckResult) => [c.name, c.ok])).toEqual([
        ["tiers", true],
        ["registry", true],
        ["drain", true],
        ["resources", true]
      ])

      const metrics = yield* get(`${base}/metrics`)
      expect(metrics.status).toBe(200)
      expect(metrics.type).toContain("text/plain; version=0.0.4")
      expect(metrics.body).toContain("# TYPE mcp_supervisor_starts_total counter")
      expect(metrics.body).toContain(`mcp_supervisor_starts_total{supervisor="root",child="registry"} 1`)
      expect(metrics.body).toContain(`mcp_supervisor_starts_total{supervisor="infrastructure",child="sessions/sweeper"} 1`)
      expect(metrics.body).toContain("# HELP test_latency_ms a test histogram\n# TYPE test_latency_ms histogram")
      expect(metrics.body).toContain(`test_latency_ms_bucket{le="10"} 1\ntest_latency_ms_bucket{le="100"} 2\ntest_latency_ms_bucket{le="+Inf"} 2\ntest_latency_ms_sum 55\ntest_latency_ms_count 2`)
      expect(metrics.body).toContain("# TYPE test_depth gauge\ntest_depth 7")

      expect((yield* get(`${base}/health`, "POST")).status).toBe(405)
      expect((yield* get(`${base}/elsewhere`)).status).toBe(404) // not ours: the transport answers

      // draining: not ready (503), still live
      yield* Effect.forkChild(drain.drain("1 second"))
      const notReady = yield* eventually(`${base}/ready`, (r) => r.status === 503)
      expect(JSON.parse(notReady.body).checks).toContainEqual({ name: "drain", ok: false, detail: "closed" })
      expect((yield* get(`${base}/health`)).status).toBe(200)
    }).pipe(Effect.provide(Layer.merge(runtime, JsonRpcCodec.JsonRpcCodec.layer)), Effect.provideService(Metric.MetricRegistry, new Map()))))

  it.effect("a check that does not answer within the check timeout counts as failed, not as a hung probe", () =>
    Effect.gen(function*() {
      const health = yield* Health.Health
      yield* health.addReadinessCheck("stuck", Effect.never)
      yield* health.addReadinessCheck("fine", Effect.succeed(true))
      const report = yield* Effect.forkChild(health.readiness)
      yield* TestClock.adjust("1 second")
      expect(yield* Fiber.join(report)).toMatchObject({
        status: "down",
        checks: [{ name: "stuck", ok: false, detail: "no answer within 1s" }, { name: "fine", ok: true }]
      })
    }).pipe(Effect.provide(Health.Health.layer())))
})
