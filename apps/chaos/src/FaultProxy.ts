/**
 * A fault-injecting TCP proxy on 127.0.0.1, in-process, at the byte level (node:net), for NDJSON over TCP,
 * Streamable HTTP and WebSocket alike. It sits between a client and a server and, per direction:
 *
 * - **latency**: every chunk is delivered `latencyMs` later;
 * - **jitter**: plus a uniform random `[0, jitterMs)`, order kept (TCP never reorders);
 * - **bandwidth cap**: at most `bandwidthBytesPerSecond` per direction per connection, paced in small pieces;
 * - **split writes**: every chunk is cut into random pieces of 1…`splitWrites` bytes, one write per event-loop
 *   turn (separate TCP segments);
 * - **duplicated frames**: a complete frame is delivered twice with probability `duplicate` — an NDJSON line,
 *   a whole WebSocket data frame (after the upgrade), or, for HTTP, the whole request replayed to the server on
 *   a connection of its own (its answer is read and dropped: HTTP has no room for a second answer);
 *
 * and, as events on every connection or a random share of them:
 *
 * - **stall**: nothing is delivered, and nothing read, for a while (bytes back up into the kernel's buffers);
 * - **clean close**: what is queued is flushed, then FIN both ways;
 * - **hard reset**: `resetAndDestroy` both ways (RST, queued bytes dropped);
 * - **down** (a network flap): every connection is reset, and for a while new connections are reset at once
 *   (`reset`) or accepted and never served (`blackhole`, reset when the network comes back).
 *
 * A proxy never buffers without bound: past 1 MiB queued in one direction it stops reading that side.
 * Randomness comes from a seeded generator, so a run can be replayed.
 */
import * as net from "node:net"

/** How the proxy cuts a byte stream into frames (only needed to duplicate frames). */
export type Framing = "raw" | "ndjson" | "websocket" | "http"

/** Continuous faults, applied to every chunk of every connection (changeable at any time with `shape`). */
export interface Shaping {
  readonly latencyMs?: number
  readonly jitterMs?: number
  readonly bandwidthBytesPerSecond?: number
  /** Largest piece of a split write, in bytes (0 or absent: no splitting). */
  readonly splitWrites?: number
  /** Probability that a complete frame is delivered twice (0 … 1). */
  readonly duplicate?: number
}

/** Proxy settings. */
export interface Options {
  /** The server behind the proxy. */
  readonly target: { readonly host?: string; readonly port: number }
  /** Port to listen on, on 127.0.0.1 (default 0: a free one). */
  readonly port?: number
  readonly framing?: Framing
  readonly shaping?: Shaping
  /** Seed of the fault generator (default 1). */
  readonly seed?: number
}

/** What the proxy did since it started. */
export interface Stats {
  readonly accepted: number
  readonly open: number
  readonly bytesUp: number
  readonly bytesDown: number
  readonly duplicated: number
  readonly replayed: number
  readonly splitPieces: number
  readonly stalls: number
  readonly cleanCloses: number
  readonly resets: number
  readonly refusedWhileDown: number
  readonly blackholed: number
}

/** A running proxy. */
export interface FaultProxy {
  readonly port: number
  /** Replaces the continuous faults (existing connections included). */
  readonly shape: (shaping: Shaping) => void
  /** Stalls every connection (or a random share of them) for `ms`, both directions. Returns how many. */
  readonly stall: (ms: number, share?: number) => number
  /** Closes every connection (or a random share) cleanly: queued bytes flushed, then FIN. Returns how many. */
  readonly closeClean: (share?: number) => number
  /** Resets every connection (or a random share) with `resetAndDestroy`. Returns how many. */
  readonly reset: (share?: number) => number
  /** A network flap: every connection reset now, and new ones refused (`reset`) or hung (`blackhole`) for `ms`. */
  readonly down: (ms: number, mode?: "reset" | "blackhole") => void
  /** Whether the network is down now. */
  readonly isDown: () => boolean
  readonly stats: () => Stats
  /** Stops listening and resets every connection. */
  readonly close: () => Promise<void>
}

/** A small seeded generator (mulberry32): uniform in [0, 1). */
export const random = (seed: number): (() => number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** A piece of a byte stream: a complete frame (which may be duplicated) or bytes that are not one. */
interface Piece {
  readonly data: Buffer
  readonly frame: boolean
}

/** Frames longer than this pass through unframed (never duplicated, never buffered whole). */
const FRAME_LIMIT = 1024 * 1024
/** Bytes queued in one direction before the proxy stops reading that side. */
const HIGH_WATER = 1024 * 1024

type Framer = (chunk: Buffer) => Array<Piece>

/** NDJSON: one frame per line (with its newline). */
const ndjsonFramer = (): Framer => {
  let pending: Buffer = Buffer.alloc(0)
  let skipping = false
  return (chunk) => {
    const out: Array<Piece> = []
    let data = pending.length === 0 ? chunk : Buffer.concat([pending, chunk])
    pending = Buffer.alloc(0)
    for (;;) {
      const newline = data.indexOf(10)
      if (newline === -1) break
      const line = data.subarray(0, newline + 1)
      out.push({ data: line, frame: !skipping })
      skipping = false
      data = data.subarray(newline + 1)
    }
    if (data.length > FRAME_LIMIT || (skipping && data.length > 0)) {
      out.push({ data, frame: false })
      skipping = true
    } else if (data.length > 0) {
      pending = Buffer.from(data)
    }
    return out
  }
}

/** WebSocket: the HTTP upgrade passes as is; then one frame per WebSocket frame (data frames with FIN duplicable). */
const websocketFramer = (): Framer => {
  let handshake = true
  let pending: Buffer = Buffer.alloc(0)
  let rawRemaining = 0
  return (chunk) => {
    const out: Array<Piece> = []
    let data = pending.length === 0 ? chunk : Buffer.concat([pending, chunk])
    pending = Buffer.alloc(0)
    if (handshake) {
      const end = data.indexOf("\r\n\r\n")
      if (end === -1) {
        if (data.length > 64 * 1024) {
          out.push({ data, frame: false })
          return out
        }
        pending = Buffer.from(data)
        return out
      }
      out.push({ data: data.subarray(0, end + 4), frame: false })
      data = data.subarray(end + 4)
      handshake = false
    }
    while (data.length > 0) {
      if (rawRemaining > 0) {
        const n = Math.min(rawRemaining, data.length)
        out.push({ data: data.subarray(0, n), frame: false })
        rawRemaining -= n
        data = data.subarray(n)
        continue
      }
      if (data.length < 2) break
      const b0 = data[0]!
      const b1 = data[1]!
      const len7 = b1 & 0x7f
      const masked = (b1 & 0x80) !== 0
      let header = 2 + (masked ? 4 : 0)
      let length: number
      if (len7 === 126) {
        if (data.length < 4) break
        length = data.readUInt16BE(2)
        header += 2
      } else if (len7 === 127) {
        if (data.length < 10) break
        length = Number(data.readBigUInt64BE(2))
        header += 8
      } else {
        length = len7
      }
      const total = header + length
      if (total > FRAME_LIMIT) {
        rawRemaining = total
        continue
      }
      if (data.length < total) break
      const opcode = b0 & 0x0f
      const fin = (b0 & 0x80) !== 0
      out.push({ data: data.subarray(0, total), frame: fin && (opcode === 1 || opcode === 2) })
      data = data.subarray(total)
    }
    if (data.length > 0) pending = Buffer.from(data)
    return out
  }
}

/** HTTP/1.1 requests with a `Content-Length` body: one frame per request; anything else passes through. */
const httpRequestFramer = (): Framer => {
  let pending: Buffer = Buffer.alloc(0)
  let passthrough = false
  return (chunk) => {
    if (passthrough) return [{ data: chunk, frame: false }]
    const out: Array<Piece> = []
    let data = pending.length === 0 ? chunk : Buffer.concat([pending, chunk])
    pending = Buffer.alloc(0)
    while (data.length > 0) {
      const end = data.indexOf("\r\n\r\n")
      if (end === -1) {
        if (data.length > 64 * 1024) {
          passthrough = true
          out.push({ data, frame: false })
          return out
        }
        break
      }
      const head = data.subarray(0, end).toString("latin1")
      if (/\r\ntransfer-encoding:/i.test(head)) {
        passthrough = true
        out.push({ data, frame: false })
        return out
      }
      const match = /\r\ncontent-length:\s*(\d+)/i.exec(head)
      const total = end + 4 + (match === null ? 0 : Number(match[1]))
      if (total > FRAME_LIMIT) {
        passthrough = true
        out.push({ data, frame: false })
        return out
      }
      if (data.length < total) break
      // only requests that carry a body are worth replaying (a GET stream is not)
      out.push({ data: data.subarray(0, total), frame: head.startsWith("POST ") })
      data = data.subarray(total)
    }
    if (data.length > 0) pending = Buffer.from(data)
    return out
  }
}

interface Item {
  readonly data: Buffer
  readonly due: number
}

/** Starts a proxy. */
export const start = (options: Options): Promise<FaultProxy> => {
  const rand = random(options.seed ?? 1)
  const targetHost = options.target.host ?? "127.0.0.1"
  const framing = options.framing ?? "raw"
  let shaping: Shaping = options.shaping ?? {}
  let downUntil = 0
  let downMode: "reset" | "blackhole" = "reset"
  const stats = {
    accepted: 0,
    bytesUp: 0,
    bytesDown: 0,
    duplicated: 0,
    replayed: 0,
    splitPieces: 0,
    stalls: 0,
    cleanCloses: 0,
    resets: 0,
    refusedWhileDown: 0,
    blackholed: 0
  }
  const links = new Set<Link>()
  const held = new Set<net.Socket>()
  const replays = new Set<net.Socket>()

  /** Sends an HTTP request to the server again on a connection of its own; its answer is dropped. */
  const replay = (request: Buffer) => {
    stats.replayed++
    const socket = net.connect(options.target.port, targetHost)
    replays.add(socket)
    socket.on("error", () => {})
    let timer: NodeJS.Timeout | undefined = setTimeout(() => socket.destroy(), 10_000)
    socket.on("data", () => {
      // enough of the answer has arrived: let the server finish writing, then go
      if (timer !== undefined) clearTimeout(timer)
      timer = setTimeout(() => socket.destroy(), 2_000)
    })
    socket.on("close", () => {
      if (timer !== undefined) clearTimeout(timer)
      replays.delete(socket)
    })
    socket.write(request)
  }

  class Pipe {
    private queue: Array<Item> = []
    private queuedBytes = 0
    private lastDue = 0
    private busyUntil = 0
    private stalledUntil = 0
    private timer: NodeJS.Timeout | undefined
    private immediate: NodeJS.Immediate | undefined
    private waitingDrain = false
    private srcEnded = false
    private finished = false
    private readonly framer: Framer | undefined
    constructor(
      readonly src: net.Socket,
      readonly dst: net.Socket,
      readonly direction: "up" | "down",
      readonly link: Link
    ) {
      this.framer = framing === "ndjson"
        ? ndjsonFramer()
        : framing === "websocket"
        ? websocketFramer()
        : framing === "http" && direction === "up"
        ? httpRequestFramer()
        : undefined
      src.on("data", (chunk: Buffer) => this.accept(chunk))
      src.on("end", () => {
        this.srcEnded = true
        this.schedule()
      })
      dst.on("drain", () => {
        this.waitingDrain = false
        this.schedule()
      })
    }

    private accept(chunk: Buffer) {
      if (this.link.dead) return
      if (this.direction === "up") stats.bytesUp += chunk.length
      else stats.bytesDown += chunk.length
      const duplicate = shaping.duplicate ?? 0
      // the framer sees every byte from the first (so that duplication can be switched on at any time)
      const pieces = this.framer === undefined ? [{ data: chunk, frame: false }] : this.framer(chunk)
      for (const piece of pieces) {
        this.enqueue(piece.data)
        if (piece.frame && rand() < duplicate) {
          stats.duplicated++
          if (framing === "http") replay(Buffer.from(piece.data))
          else this.enqueue(piece.data)
        }
      }
      if (this.queuedBytes > HIGH_WATER) this.src.pause()
      this.schedule()
    }

    private enqueue(data: Buffer) {
      const now = performance.now()
      const latency = (shaping.latencyMs ?? 0) + (shaping.jitterMs ?? 0) * rand()
      let due = Math.max(now + latency, this.lastDue)
      const bandwidth = shaping.bandwidthBytesPerSecond ?? 0
      const split = shaping.splitWrites ?? 0
      // pieces: for pacing under a bandwidth cap (about 50 per second) and for split writes
      const pieceMax = split > 0 ? split : bandwidth > 0 ? Math.max(64, Math.floor(bandwidth / 50)) : Infinity
      let offset = 0
      while (offset < data.length) {
        const size = split > 0 ? 1 + Math.floor(rand() * pieceMax) : Math.min(pieceMax, data.length - offset)
        const piece = data.subarray(offset, Math.min(data.length, offset + size))
        offset += piece.length
        if (bandwidth > 0) {
          const startAt = Math.max(due, this.busyUntil)
          this.busyUntil = startAt + (piece.length / bandwidth) * 1000
          due = this.busyUntil
        }
        if (split > 0) stats.splitPieces++
        this.queue.push({ data: Buffer.from(piece), due })
        this.queuedBytes += piece.length
      }
      this.lastDue = due
    }

    stall(until: number) {
      this.stalledUntil = Math.max(this.stalledUntil, until)
      this.src.pause()
      setTimeout(() => {
        if (!this.link.dead && performance.now() >= this.stalledUntil) this.pump()
      }, Math.max(0, Math.ceil(until - performance.now()))).unref()
      this.schedule()
    }

    /** The source closed cleanly: deliver what is queued, then end the destination. */
    sourceClosed() {
      this.srcEnded = true
      this.schedule()
    }

    /** The destination is gone: nothing more can be delivered. */
    destinationClosed() {
      this.clear()
      if (!this.finished) {
        this.finished = true
        this.link.halfClosed()
      }
    }

    /** Delivers everything queued now, ignoring delays (a clean close). */
    flushNow() {
      for (const item of this.queue) if (!this.dst.destroyed) this.dst.write(item.data)
      this.queue = []
      this.queuedBytes = 0
    }

    private schedule() {
      if (this.timer !== undefined || this.immediate !== undefined || this.link.dead) return
      const head = this.queue[0]
      if (head === undefined) {
        this.maybeFinish()
        return
      }
      if (this.waitingDrain) return
      const now = performance.now()
      const at = Math.max(head.due, this.stalledUntil)
      if (at <= now) {
        this.immediate = setImmediate(() => {
          this.immediate = undefined
          this.pump()
        })
      } else {
        this.timer = setTimeout(() => {
          this.timer = undefined
          this.pump()
        }, Math.ceil(at - now))
      }
    }

    private pump() {
      if (this.link.dead) return
      const now = performance.now()
      if (now < this.stalledUntil) return this.schedule()
      const split = (shaping.splitWrites ?? 0) > 0
      while (this.queue.length > 0 && this.queue[0]!.due <= now) {
        const item = this.queue.shift()!
        this.queuedBytes -= item.data.length
        const ok = this.dst.destroyed ? true : this.dst.write(item.data)
        if (!ok) {
          this.waitingDrain = true
          break
        }
        // split writes go out one per turn, so that each is a write (a segment) of its own
        if (split) break
      }
      if (this.queuedBytes <= HIGH_WATER / 2 && this.src.isPaused() && now >= this.stalledUntil && !this.link.closing) {
        this.src.resume()
      }
      this.schedule()
    }

    private maybeFinish() {
      if (!this.srcEnded || this.finished || this.queue.length > 0) return
      this.finished = true
      if (!this.dst.destroyed) this.dst.end()
      this.link.halfClosed()
    }

    clear() {
      if (this.timer !== undefined) clearTimeout(this.timer)
      if (this.immediate !== undefined) clearImmediate(this.immediate)
      this.timer = undefined
      this.immediate = undefined
      this.queue = []
      this.queuedBytes = 0
    }
  }

  class Link {
    dead = false
    closing = false
    private halves = 0
    readonly up: Pipe
    readonly down: Pipe
    constructor(readonly client: net.Socket, readonly upstream: net.Socket) {
      this.up = new Pipe(client, upstream, "up", this)
      this.down = new Pipe(upstream, client, "down", this)
      const onClose = (closed: net.Socket, other: net.Socket, from: Pipe, into: Pipe) => (hadError: boolean) => {
        if (this.dead) return
        if (hadError) {
          // a reset on one side is a reset on the other
          this.kill()
          if (!other.destroyed) other.resetAndDestroy()
          return
        }
        // a clean close: what is queued for the other side still goes, then FIN; nothing more reaches `closed`
        void closed
        into.destinationClosed()
        from.sourceClosed()
        setTimeout(() => this.destroy(), 5_000).unref()
      }
      client.on("close", onClose(client, upstream, this.up, this.down))
      upstream.on("close", onClose(upstream, client, this.down, this.up))
    }
    halfClosed() {
      if (++this.halves === 2) {
        // both sides ended: give the sockets a moment to close by themselves
        setTimeout(() => this.destroy(), 2_000).unref()
      }
    }
    kill() {
      this.dead = true
      this.up.clear()
      this.down.clear()
      links.delete(this)
    }
    destroy() {
      this.kill()
      this.client.destroy()
      this.upstream.destroy()
    }
    reset() {
      if (this.dead) return
      this.kill()
      stats.resets++
      if (!this.client.destroyed) this.client.resetAndDestroy()
      if (!this.upstream.destroyed) this.upstream.resetAndDestroy()
    }
    closeClean() {
      if (this.dead || this.closing) return
      this.closing = true
      stats.cleanCloses++
      this.client.pause()
      this.upstream.pause()
      this.up.flushNow()
      this.down.flushNow()
      this.kill()
      if (!this.client.destroyed) this.client.end()
      if (!this.upstream.destroyed) this.upstream.end()
      // discard whatever the peers still send, and make sure the sockets go
      this.client.on("data", () => {}).resume()
      this.upstream.on("data", () => {}).resume()
      setTimeout(() => {
        this.client.destroy()
        this.upstream.destroy()
      }, 2_000).unref()
    }
    stall(until: number) {
      if (this.dead) return
      stats.stalls++
      this.up.stall(until)
      this.down.stall(until)
    }
  }

  const pick = (share: number | undefined): Array<Link> => {
    const all = [...links]
    return share === undefined || share >= 1 ? all : all.filter(() => rand() < share)
  }

  const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (client) => {
    client.on("error", () => {})
    stats.accepted++
    if (performance.now() < downUntil) {
      if (downMode === "reset") {
        stats.refusedWhileDown++
        client.resetAndDestroy()
      } else {
        stats.blackholed++
        held.add(client)
        client.on("close", () => held.delete(client))
      }
      return
    }
    const upstream = net.connect({ port: options.target.port, host: targetHost, allowHalfOpen: true })
    upstream.on("error", () => {})
    client.setNoDelay(true)
    upstream.setNoDelay(true)
    const link = new Link(client, upstream)
    links.add(link)
    upstream.once("connect", () => {
      if (!link.dead) client.resume()
    })
  })
  server.on("error", () => {})

  return new Promise((resolve, reject) => {
    server.once("error", reject)
    server.listen(options.port ?? 0, "127.0.0.1", () => {
      const port = (server.address() as net.AddressInfo).port
      resolve({
        port,
        shape: (next) => {
          shaping = next
        },
        stall: (ms, share) => {
          const until = performance.now() + ms
          const chosen = pick(share)
          for (const link of chosen) link.stall(until)
          return chosen.length
        },
        closeClean: (share) => {
          const chosen = pick(share)
          for (const link of chosen) link.closeClean()
          return chosen.length
        },
        reset: (share) => {
          const chosen = pick(share)
          for (const link of chosen) link.reset()
          return chosen.length
        },
        down: (ms, mode = "reset") => {
          downUntil = performance.now() + ms
          downMode = mode
          for (const link of [...links]) link.reset()
          setTimeout(() => {
            for (const socket of [...held]) socket.resetAndDestroy()
            held.clear()
          }, ms).unref()
        },
        isDown: () => performance.now() < downUntil,
        stats: () => ({ ...stats, open: links.size }),
        close: () =>
          new Promise<void>((done) => {
            for (const link of [...links]) link.reset()
            for (const socket of [...held]) socket.resetAndDestroy()
            for (const socket of [...replays]) socket.destroy()
            server.close(() => done())
          })
      })
    })
  })
}
