import { describe, expect, it } from "@effect/vitest"
import { spawn } from "node:child_process"
import * as net from "node:net"
import { fileURLToPath } from "node:url"
import { WebSocket } from "ws"

const main = fileURLToPath(new URL("../src/main.ts", import.meta.url))

/** Starts the sample app with a network transport on a free port; resolves with the address it logged. */
const start = (transport: "tcp" | "ws") =>
  new Promise<{ address: string; stop: () => Promise<number | null> }>((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", main, "--transport", transport, "--port", "0"], { stdio: ["ignore", "pipe", "pipe"] })
    let stderr = ""
    let stdout = ""
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d))
    const timer = setTimeout(() => {
      child.kill("SIGKILL")
      reject(new Error(`no address logged: ${stderr}`))
    }, 30_000)
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      stderr += d
      const match = /on (ws:\/\/\S+|127\.0\.0\.1:\d+)/.exec(stderr)
      if (match) {
        clearTimeout(timer)
        resolve({
          address: match[1]!,
          stop: () =>
            new Promise((done) => {
              child.once("exit", (code) => {
                expect(stdout).toBe("") // network modes write nothing to stdout
                done(code)
              })
              child.kill("SIGINT")
            })
        })
      }
    })
  })

const ping = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" })

describe("sample app on the network (real sockets on 127.0.0.1)", () => {
  it("serves over TCP and stops on SIGINT", async () => {
    const server = await start("tcp")
    const [host, port] = server.address.split(":")
    const reply = await new Promise<string>((resolve) => {
      const socket = net.connect(Number(port), host!, () => socket.write(ping + "\n"))
      socket.setEncoding("utf8").on("data", (d: string) => {
        socket.destroy()
        resolve(d)
      })
    })
    expect(JSON.parse(reply)).toEqual({ jsonrpc: "2.0", id: 1, result: {} })
    await server.stop()
  })

  it("serves over WebSocket and stops on SIGINT", async () => {
    const server = await start("ws")
    const reply = await new Promise<string>((resolve) => {
      const ws = new WebSocket(server.address)
      ws.on("open", () => ws.send(ping))
      ws.on("message", (d) => {
        ws.close()
        resolve(d.toString())
      })
    })
    expect(JSON.parse(reply)).toEqual({ jsonrpc: "2.0", id: 1, result: {} })
    await server.stop()
  })
})
