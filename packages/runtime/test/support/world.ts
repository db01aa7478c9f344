/**
 * A running supervision tree for the blast-radius tests: the runtime with fault injection on, a resource
 * source the test controls, two servers and three transports whose starts are counted.
 */
import * as net from "node:net"
import { expect } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as References from "effect/References"
import { Registry, ResourceMonitor, Runtime, Tiers } from "@effect-mcp/runtime"

export interface World {
  readonly runtime: Runtime.Shape
  readonly servers: Tiers.ServerTierShape
  readonly transports: Tiers.TransportTierShape
  readonly registry: Registry.Shape
  /** Starts of each server and transport workload. */
  readonly starts: Record<string, number>
}

/** A port free on 127.0.0.1 now (for a listener that must come back on the same port after a restart). */
export const freePort = Effect.promise(() =>
  new Promise<number>((resolve) => {
    const server = net.createServer()
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as net.AddressInfo).port
      server.close(() => resolve(port))
    })
  })
)

/** What the test's resource source reports (mutable by the test). */
export const readings: { current: ResourceMonitor.Sample } = { current: {} }

/** The runtime under test. */
export const runtimeLayer = (config: Runtime.RuntimeConfig = {}): Layer.Layer<Runtime.Services> =>
  Runtime.Runtime.layer({
    faultInjection: true,
    resourceSource: ResourceMonitor.Source.fromSync(() => readings.current),
    ...config
  })

/** Lets the tree's fibers run until `condition` holds (bounded; fails the test otherwise). */
export const until = <E>(label: string, condition: Effect.Effect<boolean, E>) =>
  Effect.gen(function*() {
    for (let i = 0; i < 5_000; i++) {
      if (yield* condition) return
      yield* Effect.yieldNow
    }
    expect.fail(`timed out waiting for: ${label}`)
  })

/** Lets every runnable fiber run for a while (for asserting that something did not happen). */
export const settle = Effect.gen(function*() {
  for (let i = 0; i < 300; i++) yield* Effect.yieldNow
})

/** Each tier's generation in the root (it grows at every restart). */
export const generations = (runtime: Runtime.Shape) =>
  Effect.map(runtime.tiers, (tiers) => Object.fromEntries(tiers.map((t) => [t.id, t.generation])) as Record<Tiers.TierId, number>)

/** The tiers whose generation changed. */
export const changed = (before: Record<Tiers.TierId, number>, after: Record<Tiers.TierId, number>): ReadonlyArray<Tiers.TierId> =>
  Tiers.order.filter((id) => before[id] !== after[id])

/** Each member's generation within its tier's current incarnation. */
export const memberGenerations = (runtime: Runtime.Shape, tier: Tiers.TierId) =>
  Effect.map(runtime.tiers, (tiers) => Object.fromEntries((tiers.find((t) => t.id === tier)?.members ?? []).map((m) => [m.id, m.generation])))

export const allRunning = (runtime: Runtime.Shape) =>
  Effect.map(runtime.tiers, (tiers) => tiers.every((t) => t.running && t.members.every((m) => m.running)))

/** A workload that counts its starts and runs until stopped. */
const workload = (starts: Record<string, number>, id: string) =>
  Effect.andThen(Effect.sync(() => void (starts[id] = (starts[id] ?? 0) + 1)), Effect.never)

/** Starts the tree's workloads: servers s1, s2; transports t1, t2 (transient) and t3 (temporary, like stdio). */
export const world = Effect.gen(function*() {
  const runtime = yield* Runtime.Runtime
  const servers = yield* Tiers.ServerTier
  const transports = yield* Tiers.TransportTier
  const registry = yield* Registry.Registry
  const starts: Record<string, number> = {}
  yield* until("the tree is up", allRunning(runtime))
  yield* servers.startServer("s1", workload(starts, "s1"))
  yield* servers.startServer("s2", workload(starts, "s2"))
  yield* transports.startTransport("t1", workload(starts, "t1"))
  yield* transports.startTransport("t2", workload(starts, "t2"))
  yield* transports.startTransport("t3", workload(starts, "t3"), "temporary")
  yield* until("workloads started", Effect.sync(() => Object.keys(starts).length === 5))
  yield* until("routes registered", Effect.map(registry.routes, (r) => r.length === 5))
  return { runtime, servers, transports, registry, starts } satisfies World
})

/** Quiet logs: the tests assert on events, not on log lines. */
export const quiet = <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.provideService(self, References.MinimumLogLevel, "None")
