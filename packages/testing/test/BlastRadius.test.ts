import { describe, expect, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { McpServer, Tool } from "@effect-mcp/server"
import * as BlastRadius from "../src/BlastRadius.ts"
import type * as Scenario from "../src/Scenario.ts"
import { codec } from "./helpers.ts"

const makeServer = (points?: BlastRadius.CrashPoints) =>
  McpServer.make({
    info: { name: "s", version: "1" },
    tools: [
      Tool.make("echo", { input: Schema.Struct({ text: Schema.String }), handler: ({ text }) => Effect.succeed(text) }),
      Tool.make("db", {
        input: Schema.Struct({}),
        handler: () => Effect.as(points === undefined ? Effect.void : points.point("db"), "rows")
      })
    ]
  })

describe("BlastRadius", () => {
  it.effect("FM-40 crashing one session's connection affects that session only", () =>
    Effect.gen(function*() {
      const server = yield* makeServer()
      const sessions = yield* BlastRadius.sessions(server, { count: 3, seed: 1 })
      const report = yield* BlastRadius.measure({ components: sessions.probes, crash: sessions.crash(1) })
      expect(report.affected).toEqual(["session-1"])
      expect(report.unaffected).toEqual(["session-0", "session-2"])
      expect(report.after["session-1"]).toMatchObject({ _tag: "Unhealthy" })
      yield* BlastRadius.assertContained(report, ["session-1"], { expectAffected: ["session-1"] })
      // the check can fail: nothing was allowed to be affected
      const exceeded = yield* Effect.flip(BlastRadius.assertContained(report, []))
      expect(exceeded).toMatchObject({ _tag: "BlastRadiusExceeded", mode: "FM-49", affected: ["session-1"] })
    }).pipe(Effect.provide(codec)))

  it.effect("a server whose sessions share one fate is caught: one crash takes every session down", () =>
    Effect.gen(function*() {
      const server = yield* makeServer()
      const doom = yield* Deferred.make<void>()
      // a broken fault domain: when any session ends, every session ends
      const sharedFate: Scenario.Server = {
        serve: (transport) =>
          Effect.raceFirst(server.serve(transport), Deferred.await(doom)).pipe(Effect.ensuring(Deferred.succeed(doom, undefined)))
      }
      const sessions = yield* BlastRadius.sessions(sharedFate, { count: 3, seed: 1 })
      const report = yield* BlastRadius.measure({ components: sessions.probes, crash: sessions.crash(0) })
      expect(report.affected).toEqual(["session-0", "session-1", "session-2"])
      const exceeded = yield* Effect.flip(BlastRadius.assertContained(report, ["session-0"]))
      expect(exceeded.affected).toEqual(["session-0", "session-1", "session-2"])
      expect(exceeded.message).toContain("session-1")
    }).pipe(Effect.provide(codec)))

  it.effect("FM-49 a crash point that dies or hangs in one tool leaves the other tools and sessions serving", () =>
    Effect.gen(function*() {
      const points = yield* BlastRadius.crashPoints
      const server = yield* makeServer(points)
      const sessions = yield* BlastRadius.sessions(server, { count: 2, seed: 1, client: { requestTimeout: "2 seconds" } })
      const [a, b] = sessions.clients
      const components = {
        "db tool": Effect.flatMap(a!.callTool("db"), (r) => (r.isError === true ? Effect.fail("isError") : Effect.void)),
        "echo tool": a!.callTool("echo", { text: "x" }),
        "other session": b!.callTool("echo", { text: "y" })
      }
      for (const kind of ["die", "hang"] as const) {
        yield* points.disarm("db")
        const report = yield* BlastRadius.measure({ components, crash: points.arm("db", kind), within: "5 seconds" })
        expect(report.affected, kind).toEqual(["db tool"])
        yield* BlastRadius.assertContained(report, ["db tool"], { expectAffected: ["db tool"] })
      }
      expect(yield* points.hits("db")).toBeGreaterThanOrEqual(2)
    }).pipe(Effect.provide(codec)))
})
