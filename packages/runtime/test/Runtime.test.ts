import { describe, expect, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { ResourceMonitor, Runtime } from "@effect-mcp/runtime"
import { allRunning, quiet, until } from "./support/world.ts"

const fromEnv = (env: Record<string, string>) => ConfigProvider.layer(ConfigProvider.fromUnknown(env))

describe("Runtime", () => {
  it.effect("config: reads the root strategy and the tiers' settings from Config; unset keys keep their defaults", () =>
    Effect.gen(function*() {
      const config = yield* Effect.provide(Runtime.config, fromEnv({
        MCP_ROOT_STRATEGY: "rest_for_one",
        MCP_SUPERVISOR_INTENSITY: "3",
        MCP_SUPERVISOR_PERIOD: "30 seconds",
        MCP_SESSION_IDLE_TIMEOUT: "5 minutes",
        MCP_SESSION_SNAPSHOT: "/var/lib/mcp/sessions.json",
        MCP_DRAIN_ON_CRITICAL: "false"
      }))
      expect(config.rootStrategy).toBe("rest_for_one")
      expect(config.root).toEqual({ intensity: 3, periodMs: 30_000 })
      expect(config.infrastructure?.sessions?.maxSessions).toBeUndefined()
      expect(config.infrastructure?.sessions?.snapshot).toEqual({ path: "/var/lib/mcp/sessions.json" })
      expect((yield* Effect.provide(Runtime.config, fromEnv({}))).infrastructure?.sessions?.snapshot).toBeUndefined()
      expect(config.observability?.recovery).toEqual({ drainOnCritical: false })
      expect(yield* Effect.flip(Effect.provide(Runtime.config, fromEnv({ MCP_ROOT_STRATEGY: "one_for_all" })))).toMatchObject({ _tag: "ConfigError" })
      expect((yield* Effect.provide(Runtime.config, fromEnv({}))).rootStrategy).toBeUndefined()
    }))

  it.effect("layerConfig builds the tree with the configured root strategy", () =>
    quiet(Effect.gen(function*() {
      const runtime = yield* Runtime.Runtime
      expect(runtime.rootStrategy).toBe("rest_for_one")
      yield* until("up", allRunning(runtime))
      expect(Runtime.summary(yield* runtime.tiers)).toBe(
        "registry#1[2/2] infrastructure#1[6/6] servers#1[0/0] transports#1[0/0] observability#1[3/3]"
      )
    }).pipe(Effect.provide(Runtime.Runtime.layerConfig.pipe(
      Layer.provide(fromEnv({ MCP_ROOT_STRATEGY: "rest_for_one", MCP_MEMORY_LIMIT_BYTES: "1073741824" }))
    )))))

  it.effect("closing the runtime's scope stops every tier; await completes", () =>
    quiet(Effect.gen(function*() {
      const awaited = yield* Effect.scoped(Effect.gen(function*() {
        const runtime = yield* Runtime.Runtime
        yield* until("up", allRunning(runtime))
        return runtime
      }).pipe(Effect.provide(Runtime.Runtime.layer({ resourceSource: ResourceMonitor.Source.fromSync(() => ({})) }))))
      yield* awaited.await
      expect((yield* awaited.tiers).every((t) => !t.running)).toBe(true)
    })))
})
