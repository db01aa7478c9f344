/**
 * Tier 2: resource-change subscriptions as topics (a resource URI, `tools/list_changed`, a task id).
 * Publishers never block: each subscriber has a bounded buffer that drops its oldest messages when it falls
 * behind (FM-15), and `publish` says how many subscribers it reached.
 *
 * The hub is its member's state. When the member crashes, every subscription stream ends (subscribers
 * subscribe again; a notification sent meanwhile is lost, as MCP allows) and publishing reaches no one
 * until the restarted hub is up, waiting at most `callTimeout`.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Stream from "effect/Stream"
import * as Member from "./internal/member.ts"

/** Settings. @since 0.1.0 @category models */
export interface Options {
  /** Messages buffered per subscriber before the oldest is dropped (default 256). */
  readonly bufferSize?: number
  /** How long `publish` and `subscribe` wait for a restarting hub (default 1 s). */
  readonly callTimeout?: Duration.Input
}

/** The service's shape. @since 0.1.0 @category models */
export interface Shape {
  /** Sends to the topic's subscribers; returns how many were reached (0 while the hub restarts). */
  readonly publish: (topic: string, message: unknown) => Effect.Effect<number>
  /** The topic's messages from now on; ends when the hub restarts (subscribe again). */
  readonly subscribe: (topic: string) => Stream.Stream<unknown>
  /** Topics with subscribers, and how many each has. */
  readonly topics: Effect.Effect<ReadonlyArray<{ readonly topic: string; readonly subscribers: number }>>
}

/**
 * The subscription hub.
 *
 * @since 0.1.0
 * @category services
 */
export class Subscriptions extends Context.Service<Subscriptions, Shape>()("effect-mcp/runtime/Subscriptions") {
  /** The hub supervised on its own (outside the tiers). */
  static readonly layer = (options: Options = {}): Layer.Layer<Subscriptions> =>
    Layer.effect(Subscriptions)(Effect.flatMap(make(options), (s) => Member.standalone("subscriptions", s)))
}

const dropped = Metric.counter("mcp_subscriptions_unpublished_total", {
  description: "Notifications published while the subscription hub was restarting",
  incremental: true
})

interface Hub {
  readonly topics: Map<string, Topic>
  readonly closed: Deferred.Deferred<void>
}

interface Topic {
  readonly pubsub: PubSub.PubSub<unknown>
  subscribers: number
}

/** The service and its member (`hub`). @since 0.1.0 @category constructors */
export const make = (options: Options = {}): Effect.Effect<Member.Supervised<Shape>> =>
  Effect.gen(function*() {
    const bufferSize = options.bufferSize ?? 256
    const callTimeout = Member.duration(options.callTimeout, "1 second")
    const hub = yield* Member.makeCell<Hub>()

    // the incarnation's end ends every subscription stream cleanly; its topics go with it
    const acquire = Effect.acquireRelease(
      Effect.sync((): Hub => ({ topics: new Map(), closed: Deferred.makeUnsafe<void>() })),
      ({ closed }) => Deferred.succeed(closed, undefined)
    )

    const service: Shape = {
      publish: Effect.fn("Subscriptions.publish")(function*(topic: string, message: unknown) {
        const topics = yield* hub.await(callTimeout)
        if (Option.isNone(topics)) {
          yield* Metric.update(dropped, 1)
          return 0
        }
        const found = topics.value.topics.get(topic)
        if (found === undefined) return 0
        yield* PubSub.publish(found.pubsub, message)
        return found.subscribers
      }),
      subscribe: (topic) =>
        Stream.unwrap(Effect.gen(function*() {
          const found = yield* hub.await(callTimeout)
          if (Option.isNone(found)) return Stream.empty
          const { closed, topics } = found.value
          const entry = topics.get(topic) ?? { pubsub: yield* PubSub.sliding<unknown>(bufferSize), subscribers: 0 }
          topics.set(topic, entry)
          // subscribed now, in the stream's scope: nothing published from here on is missed
          const subscription = yield* PubSub.subscribe(entry.pubsub)
          entry.subscribers++
          yield* Effect.addFinalizer(() =>
            Effect.sync(() => {
              entry.subscribers--
              if (entry.subscribers === 0 && topics.get(topic) === entry) topics.delete(topic)
            })
          )
          return Stream.fromSubscription(subscription).pipe(Stream.interruptWhen(Deferred.await(closed)))
        })),
      topics: Effect.map(hub.current, (topics) =>
        Option.match(topics, {
          onNone: () => [],
          onSome: (h) => [...h.topics].map(([topic, t]) => ({ topic, subscribers: t.subscribers }))
        }))
    }
    return { service, members: [Member.holder("hub", hub, acquire)] }
  })
