/**
 * A bounded store of the SSE events one Streamable HTTP session sent, so a client that lost a stream can
 * resume it with `Last-Event-ID` and get what it missed (FM-13). Bounded by count and by bytes; the oldest
 * events go first. Per session, so one session's traffic never evicts another's.
 *
 * @since 0.1.0
 */

/** One stored event: its stream, its sequence number in that stream, and the message text. */
export interface StoredEvent {
  readonly streamId: string
  readonly seq: number
  readonly text: string
}

/** Limits (defaults: 1,000 events, 4 MiB). */
export interface Options {
  readonly maxEvents?: number
  readonly maxBytes?: number
}

/** A session's event store. */
export interface EventStore {
  /** Stores an event. */
  readonly append: (event: StoredEvent) => void
  /** The stored events of a stream after `seq`, in order. */
  readonly after: (streamId: string, seq: number) => ReadonlyArray<StoredEvent>
  /** Events held now. */
  readonly size: () => number
  /** Bytes held now (UTF-16 code units, the in-memory size that matters). */
  readonly bytes: () => number
  /** Events dropped to stay within the bounds, since creation. */
  readonly evicted: () => number
  /** Drops everything. */
  readonly clear: () => void
}

/** An empty store with the given bounds. */
export const make = (options: Options = {}): EventStore => {
  const maxEvents = options.maxEvents ?? 1_000
  const maxBytes = options.maxBytes ?? 4 * 1024 * 1024
  let events: Array<StoredEvent> = []
  let head = 0
  let bytes = 0
  let evicted = 0
  const evictOne = () => {
    const oldest = events[head]!
    events[head] = undefined as never
    head++
    bytes -= oldest.text.length
    evicted++
    if (head > 1024 && head * 2 > events.length) {
      events = events.slice(head)
      head = 0
    }
  }
  return {
    append: (event) => {
      if (event.text.length > maxBytes) {
        evicted++
        return
      }
      events.push(event)
      bytes += event.text.length
      while (events.length - head > maxEvents || bytes > maxBytes) evictOne()
    },
    after: (streamId, seq) => {
      const found: Array<StoredEvent> = []
      for (let i = head; i < events.length; i++) {
        const event = events[i]!
        if (event.streamId === streamId && event.seq > seq) found.push(event)
      }
      return found
    },
    size: () => events.length - head,
    bytes: () => bytes,
    evicted: () => evicted,
    clear: () => {
      events = []
      head = 0
      bytes = 0
    }
  }
}
