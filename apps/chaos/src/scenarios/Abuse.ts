/**
 * Abuse of the server while legitimate clients work: slowloris (connections that trickle bytes), floods of
 * oversize and malformed frames, and a flood of 10,000 connections. The legitimate load must lose nothing;
 * the server must live, keep its memory bounded and serve new clients once the abuse stops.
 */
import * as http from "node:http"
import * as net from "node:net"
import { WebSocket } from "ws"
import type { ChaosClient, Kind } from "../Clients.ts"
import { closeAll, connectAll, probe } from "../Clients.ts"
import { type Context, checkLedgers, specs, window } from "../Context.ts"
import { fdsOf, isAlive, memoryOf, now, sleep } from "../Harness.ts"
import { runLoad, Tally } from "../Load.ts"
import { rowOf } from "../Report.ts"
import { transports } from "./Steady.ts"

type Net = (typeof transports)[number]

const portOf = (ctx: Context, kind: Net) => (kind === "tcp" ? ctx.main.tcp! : kind === "ws" ? ctx.main.ws! : ctx.main.http!)

/** Legitimate clients on every transport, connected straight to the main server, under load until stopped. */
const legitimate = async (ctx: Context, prefix: string) => {
  const clients = new Map<Kind, Array<ChaosClient>>()
  for (const kind of transports) clients.set(kind, await connectAll(specs(kind, portOf(ctx, kind), 2, prefix)))
  const tallies = new Map<Net, Tally>(transports.map((k) => [k, new Tally(`${prefix}-${k}`)]))
  let done = false
  const loads = Promise.all(transports.map((kind) =>
    runLoad({ clients: clients.get(kind)!, workersPerClient: 4, until: Infinity, maxCalls: Infinity, tally: tallies.get(kind)!, stop: () => done })
  ))
  return {
    tallies,
    stop: async () => {
      done = true
      await loads
      await Promise.all(transports.map((kind) => closeAll(clients.get(kind)!)))
    }
  }
}

/** A fresh client every `everyMs` while `active()`: how long each took to answer (undefined: it could not). */
const probing = (ctx: Context, kind: Net, everyMs: number, active: () => boolean) => {
  const results: Array<number | undefined> = []
  const reasons: Array<string> = []
  const loop = (async () => {
    let i = 0
    while (active()) {
      const spec = specs(kind, portOf(ctx, kind), 2, "probe")[i++ % 2]!
      results.push(await probe(spec, 10_000, (r) => reasons.push(r)))
      await sleep(everyMs)
    }
  })()
  return { results, reasons, done: loop }
}

const summary = (results: ReadonlyArray<number | undefined>) => {
  const ok = results.filter((r): r is number => r !== undefined)
  return `${ok.length}/${results.length} fresh clients answered${ok.length > 0 ? ` (slowest ${Math.round(Math.max(...ok))} ms)` : ""}`
}

/** Connections that send their first bytes, then one byte a second, and never finish. */
export const slowloris = async (ctx: Context) => {
  const b = ctx.budget
  const legit = await legitimate(ctx, "slow")
  const measure = window(ctx)
  interface Slow {
    readonly socket: net.Socket
    readonly openedAt: number
    readonly trickle: string
    closedAt?: number
  }
  const sockets = new Map<Net, Array<Slow>>()
  const opening = (kind: Net, i: number) => {
    const socket = net.connect(portOf(ctx, kind), "127.0.0.1")
    // header bytes for a slow handshake or header block, spaces inside a string or a body otherwise
    const trickle = kind === "ws" || (kind === "http" && i % 2 === 0) ? "X" : " "
    const entry: Slow = { socket, openedAt: now(), trickle }
    socket.on("error", () => {})
    socket.on("data", () => {})
    socket.on("close", () => {
      entry.closedAt ??= now()
    })
    socket.once("connect", () => {
      const first = kind === "tcp"
        ? "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\",\"arguments\":{\"message\":\""
        : kind === "ws"
        ? "GET /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        : i % 2 === 0
        // slow headers
        ? "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        // slow body
        : "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: 100000\r\n\r\n{"
      socket.write(first)
    })
    return entry
  }
  let active = true
  for (const kind of transports) {
    const list: Array<Slow> = []
    for (let i = 0; i < b.slowSockets; i++) list.push(opening(kind, i))
    sockets.set(kind, list)
  }
  const trickle = setInterval(() => {
    for (const list of sockets.values()) {
      for (const { socket, trickle } of list) if (!socket.destroyed && socket.writable) socket.write(trickle)
    }
  }, 1_000)
  const probes = new Map(transports.map((kind) => [kind, probing(ctx, kind, 1_000, () => active)]))
  await sleep(b.slowMs)
  active = false
  clearInterval(trickle)
  await Promise.all([...probes.values()].map((p) => p.done))
  const end = now()
  await legit.stop()
  const figures = measure()
  for (const kind of transports) {
    const list = sockets.get(kind)!
    const closed = list.filter((s) => s.closedAt !== undefined && s.closedAt <= end)
    const held = closed.map((s) => s.closedAt! - s.openedAt)
    for (const { socket } of list) socket.destroy()
    const tally = legit.tallies.get(kind)!
    const p = probes.get(kind)!
    ctx.rows.push(rowOf(`slowloris (${b.slowSockets} slow connections, ${(b.slowMs / 1000).toFixed(0)} s)`, kind, tally, checkLedgers(tally, [ctx.mainLedger]), {
      ...figures,
      recoveryMs: p.results.every((r) => r !== undefined) ? Math.max(...(p.results as Array<number>)) : Infinity,
      recoveryNote: `a fresh client every second during the attack, the slowest one's first answer: ${summary(p.results)}${p.reasons.length > 0 ? `; e.g. ${p.reasons[0]}` : ""}`,
      notes: [
        `the server closed ${closed.length} of ${list.length} slow connections within the attack${
          held.length > 0 ? ` (after ${Math.round(Math.min(...held))}–${Math.round(Math.max(...held))} ms)` : ""
        }`
      ]
    }))
    ctx.log(`  slowloris / ${kind}: legit ${tally.sent} sent, ${tally.lost} lost; server closed ${closed.length}/${list.length}; ${summary(p.results)}`)
  }
}

/** Writes `data` and waits for the socket to take it. */
export const writeAll = (socket: net.Socket, data: string | Buffer) =>
  new Promise<void>((resolve) => {
    if (socket.destroyed) return resolve()
    if (socket.write(data)) return resolve()
    const done = () => {
      socket.off("drain", done)
      socket.off("close", done)
      resolve()
    }
    socket.on("drain", done)
    socket.on("close", done)
  })

/** Malformed frames of many kinds (never valid requests for `charge`). */
export const malformed = (i: number, rand: () => number): string => {
  switch (i % 10) {
    case 0:
      return "{\"jsonrpc\":\"2.0\",\"id\":" + i + ",\"method\":"
    case 1:
      return "not json at all " + i
    case 2:
      return "{\"jsonrpc\":\"1.0\",\"id\":" + i + ",\"method\":\"ping\"}"
    case 3:
      return "[" + "[".repeat(1 + Math.floor(rand() * 2_000))
    case 4:
      return "{\"jsonrpc\":\"2.0\",\"id\":{\"nested\":true},\"method\":\"ping\"}"
    case 5:
      return "{\"jsonrpc\":\"2.0\",\"id\":" + i + ",\"method\":\"tools/call\",\"params\":{\"name\":\"nope\",\"arguments\":" + i + "}}"
    case 6:
      return "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/" + "x".repeat(Math.floor(rand() * 100)) + "\"}"
    case 7:
      return "\"just a string\""
    case 8:
      return "{\"jsonrpc\":\"2.0\",\"id\":" + i + ",\"result\":{},\"error\":{\"code\":1,\"message\":\"both\"}}"
    default:
      return "{\"jsonrpc\":\"2.0\",\"id\":" + i + ",\"method\":\"ping\",\"params\":" + "{\"a\":".repeat(200) + "1" + "}".repeat(200) + "}"
  }
}

const OVERSIZE = 5 * 1024 * 1024

/** Counts the NDJSON lines a socket receives. */
const countLines = (socket: net.Socket) => {
  const counter = { lines: 0 }
  socket.on("data", (d: Buffer) => {
    for (let i = 0; i < d.length; i++) if (d[i] === 10) counter.lines++
  })
  return counter
}

const floodTcp = async (ctx: Context, rand: () => number, deadline: number) => {
  const port = ctx.main.tcp!
  const results = { oversizeSent: 0, malformedSent: 0, answers: 0 }
  const one = async (kind: "oversize" | "malformed", count: number) => {
    const socket = net.connect(port, "127.0.0.1")
    socket.on("error", () => {})
    const counter = countLines(socket)
    await new Promise<void>((r) => socket.once("connect", () => r()))
    const big = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":{\"pad\":\"" + "x".repeat(OVERSIZE) + "\"}}\n"
    for (let i = 0; i < count && now() < deadline && !socket.destroyed; i++) {
      if (kind === "oversize") {
        await writeAll(socket, big)
        results.oversizeSent++
      } else {
        const batch: Array<string> = []
        for (let j = 0; j < 200 && i < count; j++, i++) batch.push(malformed(i, rand))
        i--
        await writeAll(socket, batch.join("\n") + "\n")
        results.malformedSent += batch.length
      }
    }
    // wait until the answers stop coming: 1 s without one (at most 10 s)
    for (let last = -1, i = 0; i < 10 && counter.lines !== last; i++) {
      last = counter.lines
      await sleep(1_000)
    }
    results.answers += counter.lines
    socket.destroy()
  }
  const b = ctx.budget
  await Promise.all([
    one("oversize", Math.ceil(b.oversizeFrames / 2)),
    one("oversize", Math.floor(b.oversizeFrames / 2)),
    one("malformed", Math.ceil(b.malformedFrames / 2)),
    one("malformed", Math.floor(b.malformedFrames / 2))
  ])
  return `${results.oversizeSent} oversize (5 MiB) and ${results.malformedSent} malformed frames sent on 4 connections; ${results.answers} error answers`
}

const floodWs = async (ctx: Context, rand: () => number, deadline: number) => {
  const url = `ws://127.0.0.1:${ctx.main.ws!}/mcp`
  const results = { oversizeSent: 0, closed1009: 0, malformedSent: 0, answers: 0 }
  const open = () =>
    new Promise<WebSocket | undefined>((resolve) => {
      const ws = new WebSocket(url)
      ws.on("error", () => resolve(undefined))
      ws.once("open", () => resolve(ws))
    })
  const big = "x".repeat(OVERSIZE)
  const oversize = async (count: number) => {
    for (let i = 0; i < count && now() < deadline; i++) {
      const ws = await open()
      if (ws === undefined) continue
      const code = await new Promise<number>((resolve) => {
        ws.once("close", (c) => resolve(c))
        ws.send(big)
        setTimeout(() => resolve(-1), 5_000).unref()
      })
      results.oversizeSent++
      if (code === 1009) results.closed1009++
      ws.terminate()
    }
  }
  const flood = async (count: number) => {
    const ws = await open()
    if (ws === undefined) return
    ws.on("message", () => results.answers++)
    for (let i = 0; i < count && now() < deadline && ws.readyState === WebSocket.OPEN; i++) {
      ws.send(malformed(i, rand))
      results.malformedSent++
      if (ws.bufferedAmount > 1024 * 1024) await sleep(5)
      if (i % 500 === 0) await sleep(0)
    }
    for (let last = -1, i = 0; i < 10 && results.answers !== last; i++) {
      last = results.answers
      await sleep(1_000)
    }
    ws.terminate()
  }
  const b = ctx.budget
  await Promise.all([oversize(Math.ceil(b.oversizeFrames / 2)), oversize(Math.floor(b.oversizeFrames / 2)), flood(Math.ceil(b.malformedFrames / 2)), flood(Math.floor(b.malformedFrames / 2))])
  return `${results.oversizeSent} oversize (5 MiB) messages (${results.closed1009} closed with 1009) and ${results.malformedSent} malformed messages sent; ${results.answers} error answers`
}

const floodHttp = async (ctx: Context, rand: () => number, deadline: number) => {
  const port = ctx.main.http!
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 })
  const statuses = new Map<number, number>()
  const post = (body: string | Buffer, chunked: boolean) =>
    new Promise<void>((resolve) => {
      const request = http.request({
        host: "127.0.0.1",
        port,
        path: "/mcp",
        method: "POST",
        agent,
        headers: {
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
          "mcp-protocol-version": "2026-07-28",
          ...(chunked ? { "transfer-encoding": "chunked" } : { "content-length": String(Buffer.byteLength(body)) })
        }
      }, (res) => {
        statuses.set(res.statusCode ?? 0, (statuses.get(res.statusCode ?? 0) ?? 0) + 1)
        res.resume()
        res.on("end", () => resolve())
        res.on("error", () => resolve())
      })
      request.on("error", () => {
        statuses.set(0, (statuses.get(0) ?? 0) + 1)
        resolve()
      })
      request.setTimeout(10_000, () => request.destroy())
      request.end(body)
    })
  const big = Buffer.alloc(OVERSIZE, "x")
  const b = ctx.budget
  const oversize = async (count: number, chunked: boolean) => {
    for (let i = 0; i < count && now() < deadline; i++) await post(big, chunked)
  }
  const requests = Math.ceil(b.malformedFrames / 10)
  let next = 0
  const flood = async () => {
    while (next < requests && now() < deadline) await post(malformed(next++, rand), false)
  }
  await Promise.all([
    oversize(Math.ceil(b.oversizeFrames / 2), false),
    oversize(Math.floor(b.oversizeFrames / 2), true),
    ...Array.from({ length: 6 }, () => flood())
  ])
  agent.destroy()
  return `${b.oversizeFrames} oversize (5 MiB) bodies (half with Content-Length, half chunked) and ${requests} malformed bodies; HTTP statuses ${
    [...statuses].sort((x, y) => x[0] - y[0]).map(([s, c]) => `${s === 0 ? "cut" : s}: ${c}`).join(", ")
  }`
}

/** Oversize and malformed floods on every transport at once, with legitimate load. */
export const floods = async (ctx: Context) => {
  const b = ctx.budget
  const legit = await legitimate(ctx, "flood")
  const before = memoryOf(ctx.main.pid).rss
  const measure = window(ctx)
  const rand = Math.random
  const deadline = now() + b.floodMs
  const [tcp, ws, httpText] = await Promise.all([floodTcp(ctx, rand, deadline), floodWs(ctx, rand, deadline), floodHttp(ctx, rand, deadline)])
  await legit.stop()
  const figures = measure()
  const alive = isAlive(ctx.main.pid)
  const grown = figures.serverPeakRssMiB - before
  ctx.goals.push({
    name: "oversize and malformed floods: the server lives, its memory stays bounded (peak < 512 MiB over its level before)",
    ok: alive && grown < 512,
    detail: `alive: ${alive}; server RSS ${Math.round(before)} MiB before, peak ${Math.round(figures.serverPeakRssMiB)} MiB during`
  })
  const texts: Record<Net, string> = { tcp, ws, http: httpText }
  for (const kind of transports) {
    const tally = legit.tallies.get(kind)!
    ctx.rows.push(rowOf("oversize and malformed floods", kind, tally, checkLedgers(tally, [ctx.mainLedger]), {
      ...figures,
      crashes: alive ? 0 : 1,
      notes: [`flood: ${texts[kind]}`, `server RSS ${Math.round(before)} MiB before the flood`]
    }))
    ctx.log(`  floods / ${kind}: legit ${tally.sent} sent, ${tally.lost} lost; ${texts[kind]}`)
  }
}

/** Opens `count` connections at once (500 connecting at a time), each doing `greet` once connected. */
const openMany = async (port: number, count: number, greet: (socket: net.Socket) => void, releasing: { now: boolean }) => {
  const sockets: Array<net.Socket> = []
  const stats = { connected: 0, failed: 0, answered: 0, closedByServer: 0 }
  let next = 0
  const one = () =>
    new Promise<void>((resolve) => {
      const socket = net.connect(port, "127.0.0.1")
      sockets.push(socket)
      let connected = false
      socket.on("error", () => {})
      socket.once("data", () => stats.answered++)
      socket.once("close", () => {
        if (!connected) stats.failed++
        else if (!releasing.now) stats.closedByServer++
        resolve()
      })
      socket.once("connect", () => {
        connected = true
        stats.connected++
        greet(socket)
        resolve()
      })
    })
  await Promise.all(Array.from({ length: 500 }, async () => {
    while (next < count) {
      next++
      await one()
    }
  }))
  return { sockets, stats }
}

/** 10,000 connections at once on each transport; the legitimate clients keep working; new ones are served after. */
export const connectionFlood = async (ctx: Context) => {
  const b = ctx.budget
  const legit = await legitimate(ctx, "connflood")
  const measure = window(ctx)
  const notes = new Map<Net, Array<string>>()
  const recoveries = new Map<Net, number>()
  for (const kind of b.floodTransports) {
    const fdsBefore = fdsOf(ctx.main.pid)
    const start = now()
    const greet = kind === "tcp"
      ? (_: net.Socket) => {}
      : kind === "ws"
      ? (s: net.Socket) => {
        s.write(`GET /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${Buffer.from(String(Math.random())).toString("base64").slice(0, 22)}==\r\nSec-WebSocket-Version: 13\r\n\r\n`)
      }
      : (_: net.Socket) => {}
    const releasing = { now: false }
    const { sockets, stats } = await openMany(portOf(ctx, kind), b.floodConnections, greet, releasing)
    const opened = now() - start
    await sleep(1_000)
    const fdsDuring = fdsOf(ctx.main.pid)
    releasing.now = true
    for (const s of sockets) s.destroy()
    const released = now()
    // a fresh client until one answers
    let recovered: number | undefined
    const reasons: Array<string> = []
    for (let i = 0; i < 100 && recovered === undefined; i++) {
      const t = await probe(specs(kind, portOf(ctx, kind), 2, "after-flood")[i % 2]!, 10_000, (r) => reasons.push(r))
      if (t !== undefined) recovered = now() - released
      else await sleep(100)
      if (now() - released > 30_000) break
    }
    recoveries.set(kind, recovered ?? Infinity)
    await sleep(2_000)
    const fdsAfter = fdsOf(ctx.main.pid)
    notes.set(kind, [
      `${b.floodConnections.toLocaleString("en-US")} connections opened in ${(opened / 1000).toFixed(1)} s: ${stats.connected} connected, ${stats.failed} failed to connect, ${stats.answered} got bytes back (${
        kind === "tcp" ? "the -32010 refusal frame" : kind === "ws" ? "101 or 503" : "nothing is sent to idle HTTP connections"
      }), ${stats.closedByServer} closed by the server`,
      `server file descriptors: ${fdsBefore} before, ${fdsDuring} during, ${fdsAfter} 2 s after`,
      ...(recovered === undefined ? [`no fresh client was served within 30 s: ${reasons[0] ?? ""}`] : []),
      ...(reasons.length > 0 ? [`${reasons.length} fresh clients failed before one was served, e.g. ${reasons[0]!.replace(/\s+/g, " ").slice(0, 160)}`] : [])
    ])
    ctx.log(`  connection flood / ${kind}: ${stats.connected} connected in ${(opened / 1000).toFixed(1)} s; fresh client after ${recovered === undefined ? "never" : Math.round(recovered)} ms; fds ${fdsBefore}→${fdsDuring}→${fdsAfter}`)
  }
  await legit.stop()
  const figures = measure()
  for (const kind of transports) {
    const tally = legit.tallies.get(kind)!
    const flooded = b.floodTransports.includes(kind)
    ctx.rows.push(rowOf(`connection flood (${b.floodConnections.toLocaleString("en-US")} connections on ${b.floodTransports.join(", ")})`, kind, tally, checkLedgers(tally, [ctx.mainLedger]), {
      ...figures,
      ...(flooded ? { recoveryMs: recoveries.get(kind), recoveryNote: "from the flood's connections closing to a fresh client's first answer" } : {}),
      notes: flooded ? notes.get(kind)! : ["not flooded itself in this run: legitimate load only"]
    }))
  }
}
