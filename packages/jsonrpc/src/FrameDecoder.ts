/**
 * Incremental NDJSON framing with the size guard (FM-01) and exact reassembly of fragments (FM-30).
 *
 * Bytes go in as they arrive, split anywhere (even inside a multi-byte UTF-8 character); complete frames
 * come out. The limit is enforced while reading, before any JSON parse: once the current line passes
 * `maxFrameBytes`, the decoder reports `FrameTooLarge` once, drops what it buffered and skips the rest of the
 * line without buffering it, so a 1 GiB line with no newline costs no more memory than the limit.
 *
 * This module is pure and synchronous (no Effect): `JsonRpcCodec` wraps it for streams.
 *
 * @since 0.1.0
 */
import { FrameTooLarge } from "./CodecError.ts"

/** The default maximum frame size: 4 MiB. */
export const DEFAULT_MAX_FRAME_BYTES = 4 * 1024 * 1024

/** A complete frame: the line's bytes without the newline (and without a trailing `\r`). */
export interface Frame {
  readonly _tag: "Frame"
  readonly bytes: Uint8Array
}

/**
 * Bytes left when the input ended without a final newline. The codec decides whether they are a complete
 * message (accepted) or a truncated one (`TruncatedFrame`).
 */
export interface Remainder {
  readonly _tag: "Remainder"
  readonly bytes: Uint8Array
}

/** What the framer emits. */
export type FrameEvent = Frame | Remainder | FrameTooLarge

const NEWLINE = 10
const CR = 13

const isBlank = (bytes: Uint8Array): boolean => {
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!
    if (b !== 32 && b !== 9 && b !== CR && b !== NEWLINE) return false
  }
  return true
}

const concat = (parts: ReadonlyArray<Uint8Array>, total: number, last: Uint8Array): Uint8Array => {
  if (parts.length === 0) return last
  const out = new Uint8Array(total + last.length)
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.length
  }
  out.set(last, offset)
  return out
}

/**
 * A stateful NDJSON framer for one byte stream. Blank lines are ignored. Input chunks are referenced, not
 * copied, until their frame completes: do not mutate a chunk after pushing it.
 */
export class NdjsonFramer {
  private parts: Array<Uint8Array> = []
  private buffered = 0
  private skipping = false

  constructor(readonly maxFrameBytes: number = DEFAULT_MAX_FRAME_BYTES) {
    if (!Number.isSafeInteger(maxFrameBytes) || maxFrameBytes < 1) {
      throw new RangeError(`maxFrameBytes must be a positive integer, got ${maxFrameBytes}`)
    }
  }

  /** Bytes currently held for an incomplete frame (never more than `maxFrameBytes`). */
  get bufferedBytes(): number {
    return this.buffered
  }

  /** True when no partial frame is held and no oversize frame is being skipped. */
  get idle(): boolean {
    return this.buffered === 0 && !this.skipping
  }

  /** Feeds a chunk; calls `emit` for each event, in order. */
  pushTo(chunk: Uint8Array, emit: (event: FrameEvent) => void): void {
    let start = 0
    const length = chunk.length
    while (start < length) {
      const newline = chunk.indexOf(NEWLINE, start)
      if (newline === -1) {
        const rest = length - start
        if (this.skipping) return
        if (this.buffered + rest > this.maxFrameBytes) {
          emit(this.tooLarge(this.buffered + rest))
          this.skipping = true
          return
        }
        this.parts.push(start === 0 ? chunk : chunk.subarray(start))
        this.buffered += rest
        return
      }
      const lineLength = this.buffered + (newline - start)
      if (this.skipping) {
        this.skipping = false
      } else if (lineLength > this.maxFrameBytes) {
        emit(this.tooLarge(lineLength))
      } else {
        let bytes = concat(this.parts, this.buffered, chunk.subarray(start, newline))
        this.parts = []
        this.buffered = 0
        if (bytes.length > 0 && bytes[bytes.length - 1] === CR) bytes = bytes.subarray(0, bytes.length - 1)
        if (bytes.length > 0 && !isBlank(bytes)) emit({ _tag: "Frame", bytes })
      }
      start = newline + 1
    }
  }

  /** Feeds a chunk and returns the events it completed. */
  push(chunk: Uint8Array): Array<FrameEvent> {
    const out: Array<FrameEvent> = []
    this.pushTo(chunk, (event) => out.push(event))
    return out
  }

  /**
   * Signals the end of input. Returns the bytes of an unterminated last line, if any (and not blank), as a
   * `Remainder`. The framer is reset and can be reused.
   */
  end(): Array<FrameEvent> {
    const skipping = this.skipping
    const bytes = concat(this.parts, this.buffered, new Uint8Array(0))
    this.reset()
    if (skipping || bytes.length === 0 || isBlank(bytes)) return []
    return [{ _tag: "Remainder", bytes }]
  }

  /** Drops any buffered partial frame. */
  reset(): void {
    this.parts = []
    this.buffered = 0
    this.skipping = false
  }

  private tooLarge(received: number): FrameTooLarge {
    this.parts = []
    this.buffered = 0
    return new FrameTooLarge({ limit: this.maxFrameBytes, received })
  }
}
