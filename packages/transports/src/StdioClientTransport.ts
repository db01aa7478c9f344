/**
 * The client side of the stdio transport: spawns the server as a child process and speaks NDJSON over its
 * stdin and stdout.
 *
 * If the child dies, `incoming` fails at once with `ConnectionClosed` naming the exit, so every pending
 * request fails immediately. So does a child that stops reading its stdin for `stallTimeout` (FM-15). Closing follows the MCP specification: end the child's stdin, wait, SIGTERM,
 * wait, SIGKILL; the child never outlives the scope.
 *
 * @since 0.1.0
 */
import { spawn } from "node:child_process"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as NodeStream from "@effect/platform-node/NodeStream"
import { Transport } from "@effect-mcp/core"
import { JsonRpcCodec } from "@effect-mcp/jsonrpc"
import * as Writer from "./internal/writer.ts"

/** How to launch the server. */
export interface Options {
  readonly command: string
  readonly args?: ReadonlyArray<string>
  /** Extra environment variables, added to a safe default set (PATH, HOME, USER, SHELL, TERM, LOGNAME…). */
  readonly env?: Readonly<Record<string, string>>
  /** Pass the whole parent environment instead of the safe default set. */
  readonly inheritEnv?: boolean
  readonly cwd?: string
  /** What to do with the child's stderr (default `inherit`). */
  readonly stderr?: "inherit" | "pipe" | "ignore"
  /** Waits of the close sequence: after ending stdin, and after SIGTERM (default 2 s each). */
  readonly closeTimeouts?: { readonly stdin?: Duration.Input; readonly sigterm?: Duration.Input }
  /**
   * Longest a write may wait for the child to read its stdin (default 30 s). Past it the child is judged one
   * that stopped reading (FM-15): the connection fails with `TransportFailure`, every pending request fails at
   * once, and closing the scope stops the child. `"infinity"` waits for as long as the child lives.
   */
  readonly stallTimeout?: Duration.Input
}

/** How the child ended. */
export interface ExitInfo {
  readonly code: number | null
  readonly signal: string | null
}

/** A stdio client transport and its child process. */
export interface StdioClientTransport extends Transport.Transport {
  readonly pid: number
  /** Completes when the child has exited. */
  readonly exit: Effect.Effect<ExitInfo>
  /** The child's stderr, when `stderr: "pipe"`. */
  readonly stderr: Stream.Stream<Uint8Array, Transport.TransportError>
}

const SAFE_ENV = process.platform === "win32"
  ? ["APPDATA", "HOMEDRIVE", "HOMEPATH", "LOCALAPPDATA", "PATH", "PROCESSOR_ARCHITECTURE", "SYSTEMDRIVE", "SYSTEMROOT", "TEMP", "USERNAME", "USERPROFILE"]
  : ["HOME", "LOGNAME", "PATH", "SHELL", "TERM", "USER", "TMPDIR", "LANG"]

/** Words for an exit. */
export const describeExit = (exit: ExitInfo): string =>
  exit.signal !== null ? `child killed by ${exit.signal}` : `child exited with code ${exit.code}`

/** Spawns the server and returns its transport. Fails with `TransportFailure` if it cannot be started. */
export const make = (
  options: Options
): Effect.Effect<StdioClientTransport, Transport.TransportFailure, JsonRpcCodec.JsonRpcCodec | Scope.Scope> =>
  Effect.gen(function*() {
    const codec = yield* JsonRpcCodec.JsonRpcCodec
    const env: Record<string, string> = {}
    if (options.inheritEnv === true) Object.assign(env, process.env)
    else for (const key of SAFE_ENV) if (process.env[key] !== undefined) env[key] = process.env[key]!
    Object.assign(env, options.env)

    const child = spawn(options.command, [...(options.args ?? [])], {
      stdio: ["pipe", "pipe", options.stderr ?? "inherit"],
      env,
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
      windowsHide: true
    })
    const exited = yield* Deferred.make<ExitInfo>()
    child.once("exit", (code, signal) => Deferred.doneUnsafe(exited, Effect.succeed({ code, signal })))
    // wait until the child started or failed to start (ENOENT, EACCES)
    yield* Effect.callback<void, Transport.TransportFailure>((resume) => {
      const onSpawn = () => {
        child.off("error", onError)
        resume(Effect.void)
      }
      const onError = (error: Error) => {
        child.off("spawn", onSpawn)
        resume(Effect.fail(new Transport.TransportFailure({ detail: `cannot start ${options.command}: ${error.message}`, cause: error })))
      }
      child.once("spawn", onSpawn)
      child.once("error", onError)
    })
    // later errors (e.g. kill failures) must not crash the process
    child.on("error", () => {})

    const stdinTimeout = Duration.fromInputUnsafe(options.closeTimeouts?.stdin ?? Duration.seconds(2))
    const sigtermTimeout = Duration.fromInputUnsafe(options.closeTimeouts?.sigterm ?? Duration.seconds(2))
    const waitExit = (d: Duration.Duration) => Effect.timeoutOption(Deferred.await(exited), d)
    const close = Effect.gen(function*() {
      if (Option.isSome(yield* Deferred.poll(exited))) return
      child.stdin!.end()
      if (Option.isSome(yield* waitExit(stdinTimeout))) return
      child.kill("SIGTERM")
      if (Option.isSome(yield* waitExit(sigtermTimeout))) return
      child.kill("SIGKILL")
      yield* waitExit(Duration.seconds(5))
    }).pipe(Effect.uninterruptible)
    yield* Effect.addFinalizer(() => close)

    const stalled = yield* Deferred.make<never, Transport.TransportError>()
    const stallTimeout = Duration.fromInputUnsafe(options.stallTimeout ?? Duration.seconds(30))
    const writer = yield* Writer.make(child.stdin!, "child stdin", {
      stallTimeout: Duration.isFinite(stallTimeout) ? stallTimeout : undefined,
      onStall: (ms) => {
        const error = new Transport.TransportFailure({ detail: `the child has not read its stdin for ${ms} ms (FM-15)` })
        Deferred.doneUnsafe(stalled, Effect.fail(error))
        return error
      }
    })
    const exitFailure = Effect.flatMap(
      Deferred.await(exited),
      (exit) => Effect.fail(new Transport.ConnectionClosed({ reason: describeExit(exit) }))
    )
    const stdout = NodeStream.fromReadable<Uint8Array, Transport.TransportError>({
      evaluate: () => child.stdout!,
      onError: (error) => new Transport.TransportFailure({ detail: `child stdout: ${String(error)}`, cause: error })
    })
    const incoming = codec.decodeNdjson(stdout, { allowBatch: true }).pipe(
      // stdout ended: the child is gone (or going); fail with how it ended
      Stream.concat(Stream.fromEffect(exitFailure)),
      // the child died but something still holds its stdout open: do not wait for it
      Stream.interruptWhen(Effect.andThen(Deferred.await(exited), Effect.sleep("1 second"))),
      // the child stopped reading: the connection is unusable, fail it now rather than per request
      Stream.interruptWhen(Deferred.await(stalled))
    )
    const stderr = child.stderr === null
      ? Stream.empty
      : NodeStream.fromReadable<Uint8Array, Transport.TransportError>({
        evaluate: () => child.stderr!,
        onError: (error) => new Transport.TransportFailure({ detail: `child stderr: ${String(error)}`, cause: error })
      })

    return {
      pid: child.pid!,
      exit: Deferred.await(exited),
      stderr,
      incoming,
      send: (message) => {
        // text frames: the stream encodes UTF-8 natively, cheaper than TextEncoder plus a copy
        const frame = codec.encode(message)
        return Result.isFailure(frame) ? Effect.fail(frame.failure) : writer.write(frame.success + "\n")
      },
      close
    } satisfies StdioClientTransport
  })
