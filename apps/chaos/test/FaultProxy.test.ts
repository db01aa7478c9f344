/**
 * Each fault of the chaos proxy does what it says, on real sockets on 127.0.0.1 (every test bounded, the file
 * well under 10 s).
 */
import * as http from "node:http"
import * as net from "node:net"
import { afterEach, describe, expect, it } from "vitest"
import { WebSocket, WebSocketServer } from "ws"
import * as FaultProxy from "../src/FaultProxy.ts"

const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

interface Upstream {
  readonly port: number
  /** Every chunk the server received, with its arrival time. */
  readonly chunks: Array<{ readonly at: number; readonly data: Buffer }>
  readonly sockets: Array<net.Socket>
  readonly events: Array<string>
}

/** A TCP server that records what it receives and echoes it when `echo`. */
const upstream = (echo: boolean): Promise<Upstream> =>
  new Promise((resolve) => {
    const chunks: Array<{ at: number; data: Buffer }> = []
    const sockets: Array<net.Socket> = []
    const events: Array<string> = []
    const server = net.createServer({ allowHalfOpen: true }, (socket) => {
      sockets.push(socket)
      socket.on("data", (data) => {
        chunks.push({ at: performance.now(), data })
        if (echo) socket.write(data)
      })
      socket.on("end", () => {
        events.push("end")
        socket.end()
      })
      socket.on("error", (error: NodeJS.ErrnoException) => events.push(`error ${error.code}`))
    })
    cleanups.push(() => new Promise<void>((done) => {
      for (const s of sockets) s.destroy()
      server.close(() => done())
    }))
    server.listen(0, "127.0.0.1", () => resolve({ port: (server.address() as net.AddressInfo).port, chunks, sockets, events }))
  })

const proxyTo = async (port: number, options: Omit<FaultProxy.Options, "target"> = {}) => {
  const proxy = await FaultProxy.start({ target: { port }, ...options })
  cleanups.push(() => proxy.close())
  return proxy
}

const connect = (port: number): Promise<net.Socket> =>
  new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: "127.0.0.1", allowHalfOpen: true }, () => resolve(socket))
    socket.once("error", reject)
    cleanups.push(() => {
      socket.destroy()
    })
  })

/** Reads from `socket` until `bytes` bytes arrived; resolves with them and the time of the last one. */
const readBytes = (socket: net.Socket, bytes: number): Promise<{ data: Buffer; at: number }> =>
  new Promise((resolve) => {
    const parts: Array<Buffer> = []
    let size = 0
    const onData = (data: Buffer) => {
      parts.push(data)
      size += data.length
      if (size >= bytes) {
        socket.off("data", onData)
        resolve({ data: Buffer.concat(parts), at: performance.now() })
      }
    }
    socket.on("data", onData)
  })

const until = async (condition: () => boolean, ms = 3_000) => {
  const deadline = performance.now() + ms
  while (!condition()) {
    if (performance.now() > deadline) throw new Error("condition not met in time")
    await new Promise((r) => setTimeout(r, 5))
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe("FaultProxy", () => {
  it("passes bytes through unchanged when no fault is on", async () => {
    const server = await upstream(true)
    const proxy = await proxyTo(server.port)
    const socket = await connect(proxy.port)
    const payload = Buffer.from(Array.from({ length: 100_000 }, (_, i) => i % 251))
    const reading = readBytes(socket, payload.length)
    socket.write(payload)
    expect((await reading).data.equals(payload)).toBe(true)
  })

  it("latency delays every chunk each way; jitter adds a bounded random delay and keeps the order", async () => {
    const server = await upstream(true)
    const proxy = await proxyTo(server.port, { shaping: { latencyMs: 100 } })
    const socket = await connect(proxy.port)
    let start = performance.now()
    const reading = readBytes(socket, 5)
    socket.write("hello")
    const rtt = (await reading).at - start
    expect(rtt).toBeGreaterThanOrEqual(195) // 100 ms each way
    expect(rtt).toBeLessThan(600)

    proxy.shape({ latencyMs: 20, jitterMs: 80 })
    const lines = Array.from({ length: 40 }, (_, i) => `line ${String(i).padStart(2, "0")}\n`)
    const total = lines.join("").length
    const echoed = readBytes(socket, total)
    start = performance.now()
    for (const line of lines) {
      socket.write(line)
      await sleep(2)
    }
    const { data, at } = await echoed
    expect(data.toString()).toBe(lines.join("")) // order kept
    expect(at - start).toBeGreaterThanOrEqual(40)
    expect(at - start).toBeLessThan(1_000)
  })

  it("caps bandwidth per direction", async () => {
    const server = await upstream(false)
    const proxy = await proxyTo(server.port, { shaping: { bandwidthBytesPerSecond: 40_000 } })
    const socket = await connect(proxy.port)
    const start = performance.now()
    socket.write(Buffer.alloc(40_000, 1))
    await until(() => server.chunks.reduce((n, c) => n + c.data.length, 0) >= 40_000, 4_000)
    const elapsed = server.chunks.at(-1)!.at - start
    expect(elapsed).toBeGreaterThanOrEqual(900) // 40,000 bytes at 40,000 B/s
    expect(elapsed).toBeLessThan(2_500)
    expect(server.chunks.length).toBeGreaterThan(10) // paced in pieces, not one burst at the end
  })

  it("splits writes into small pieces that arrive as separate chunks, bytes intact", async () => {
    const server = await upstream(false)
    const proxy = await proxyTo(server.port, { shaping: { splitWrites: 7 } })
    const socket = await connect(proxy.port)
    const payload = Buffer.from("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\n".repeat(20))
    socket.write(payload)
    await until(() => server.chunks.reduce((n, c) => n + c.data.length, 0) >= payload.length)
    expect(Buffer.concat(server.chunks.map((c) => c.data)).equals(payload)).toBe(true)
    expect(server.chunks.length).toBeGreaterThan(payload.length / 7 / 4)
    expect(proxy.stats().splitPieces).toBeGreaterThanOrEqual(payload.length / 7)
  })

  it("stalls: nothing is delivered during the stall, everything after it", async () => {
    const server = await upstream(false)
    const proxy = await proxyTo(server.port)
    const socket = await connect(proxy.port)
    socket.write("before\n")
    await until(() => server.chunks.length === 1)
    const start = performance.now()
    expect(proxy.stall(400)).toBe(1)
    socket.write("during\n")
    await sleep(250)
    expect(server.chunks.length).toBe(1)
    await until(() => server.chunks.length >= 2, 2_000)
    expect(server.chunks[1]!.at - start).toBeGreaterThanOrEqual(390)
    expect(server.chunks[1]!.data.toString()).toBe("during\n")
    expect(proxy.stats().stalls).toBe(1)
  })

  it("duplicates whole NDJSON lines, never parts of one", async () => {
    const server = await upstream(false)
    const proxy = await proxyTo(server.port, { framing: "ndjson", shaping: { duplicate: 1 } })
    const socket = await connect(proxy.port)
    socket.write("{\"a\":1}\n{\"b\"")
    await sleep(20)
    socket.write(":2}\n")
    await until(() => Buffer.concat(server.chunks.map((c) => c.data)).toString().split("\n").length >= 5)
    expect(Buffer.concat(server.chunks.map((c) => c.data)).toString()).toBe("{\"a\":1}\n{\"a\":1}\n{\"b\":2}\n{\"b\":2}\n")
    expect(proxy.stats().duplicated).toBe(2)
  })

  it("duplicates whole WebSocket messages after the upgrade", async () => {
    const received: Array<string> = []
    const wss = new WebSocketServer({ port: 0, host: "127.0.0.1" })
    await new Promise((r) => wss.once("listening", r))
    wss.on("connection", (ws) => ws.on("message", (data) => received.push(data.toString())))
    cleanups.push(() => new Promise<void>((done) => {
      for (const c of wss.clients) c.terminate()
      wss.close(() => done())
    }))
    const proxy = await proxyTo((wss.address() as net.AddressInfo).port, { framing: "websocket", shaping: { duplicate: 1 } })
    const ws = new WebSocket(`ws://127.0.0.1:${proxy.port}/`)
    cleanups.push(() => ws.terminate())
    await new Promise((r) => ws.once("open", r))
    ws.send("one")
    ws.send("x".repeat(70_000)) // a 64-bit length header
    await until(() => received.length >= 4)
    expect(received.map((m) => m.slice(0, 3))).toEqual(["one", "one", "xxx", "xxx"])
  })

  it("duplicates an HTTP request by replaying it to the server; the client sees one answer", async () => {
    const bodies: Array<string> = []
    const server = http.createServer((req, res) => {
      let body = ""
      req.on("data", (d) => (body += d))
      req.on("end", () => {
        bodies.push(body)
        res.end(`got ${body}`)
      })
    })
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()))
    cleanups.push(() => new Promise<void>((done) => {
      server.closeAllConnections()
      server.close(() => done())
    }))
    const proxy = await proxyTo((server.address() as net.AddressInfo).port, { framing: "http", shaping: { duplicate: 1 } })
    const answer = await new Promise<string>((resolve, reject) => {
      const req = http.request({ port: proxy.port, host: "127.0.0.1", method: "POST", path: "/", agent: false }, (res) => {
        let text = ""
        res.on("data", (d) => (text += d))
        res.on("end", () => resolve(text))
      })
      req.on("error", reject)
      req.end("charge-1")
    })
    expect(answer).toBe("got charge-1")
    await until(() => bodies.length === 2)
    expect(bodies).toEqual(["charge-1", "charge-1"])
    expect(proxy.stats().replayed).toBe(1)
  })

  it("a clean close flushes what is queued and sends FIN both ways", async () => {
    const server = await upstream(false)
    const proxy = await proxyTo(server.port, { shaping: { latencyMs: 200 } })
    const socket = await connect(proxy.port)
    const events: Array<string> = []
    socket.on("end", () => events.push("end"))
    socket.on("error", (error: NodeJS.ErrnoException) => events.push(`error ${error.code}`))
    socket.write("queued\n")
    await sleep(20)
    expect(proxy.closeClean()).toBe(1)
    await until(() => events.includes("end") && server.events.includes("end"))
    expect(Buffer.concat(server.chunks.map((c) => c.data)).toString()).toBe("queued\n")
    expect(events).toEqual(["end"])
    expect(server.events).toEqual(["end"])
  })

  it("a hard reset sends RST both ways (ECONNRESET, queued bytes dropped)", async () => {
    const server = await upstream(false)
    const proxy = await proxyTo(server.port, { shaping: { latencyMs: 500 } })
    const socket = await connect(proxy.port)
    const events: Array<string> = []
    socket.on("end", () => events.push("end"))
    socket.on("error", (error: NodeJS.ErrnoException) => events.push(`error ${error.code}`))
    await until(() => server.sockets.length === 1)
    socket.write("never delivered\n")
    await sleep(20)
    expect(proxy.reset()).toBe(1)
    await until(() => events.length > 0 && server.events.length > 0)
    expect(events).toEqual(["error ECONNRESET"])
    expect(server.events).toEqual(["error ECONNRESET"])
    expect(server.chunks).toEqual([])
    expect(proxy.stats().resets).toBe(1)
  })

  it("a network flap resets every connection; while down new ones are reset or hung; then it serves again", async () => {
    const server = await upstream(true)
    const proxy = await proxyTo(server.port)
    const before = await connect(proxy.port)
    const errors: Array<string> = []
    before.on("error", (error: NodeJS.ErrnoException) => errors.push(String(error.code)))
    await until(() => server.sockets.length === 1)
    proxy.down(300, "reset")
    await until(() => errors.length === 1)
    expect(errors).toEqual(["ECONNRESET"])
    expect(proxy.isDown()).toBe(true)
    // a connection made while down is reset at once
    const duringErrors: Array<string> = []
    const during = net.connect({ port: proxy.port, host: "127.0.0.1" })
    cleanups.push(() => {
      during.destroy()
    })
    during.on("error", (error: NodeJS.ErrnoException) => duringErrors.push(String(error.code)))
    await until(() => duringErrors.length === 1)
    expect(duringErrors).toEqual(["ECONNRESET"])
    // blackhole: accepted, never served, reset when the network comes back
    await until(() => !proxy.isDown(), 1_000)
    // long enough that a busy machine cannot end it during the 150 ms look below
    proxy.down(1_500, "blackhole")
    const hung = await connect(proxy.port)
    const hungEvents: Array<string> = []
    hung.on("data", () => hungEvents.push("data"))
    hung.on("error", (error: NodeJS.ErrnoException) => hungEvents.push(String(error.code)))
    hung.write("anyone?\n")
    await sleep(150)
    expect(hungEvents).toEqual([])
    await until(() => hungEvents.length === 1, 3_000)
    expect(hungEvents).toEqual(["ECONNRESET"])
    // back up: served again
    const after = await connect(proxy.port)
    const echoed = readBytes(after, 3)
    after.write("ok\n")
    expect((await echoed).data.toString()).toBe("ok\n")
    expect(proxy.stats().refusedWhileDown).toBe(1)
    expect(proxy.stats().blackholed).toBe(1)
  })
})
