/**
 * Resources (fixed URIs) and resource templates (RFC 6570 URI templates) a server exposes.
 *
 * `read` returns the resource's contents: text, or full `ResourceContents` (text or base64 blob). A template
 * can also enumerate concrete resources (`list`) and complete its variables (`complete`).
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type * as Content from "./Content.ts"
import type { RequestContext } from "./RequestContext.ts"
import type { Icon } from "./Tool.ts"
import * as UriTemplate from "./UriTemplate.ts"

/** Metadata shared by resources and templates. */
export interface ResourceInfo {
  readonly name: string
  readonly title?: string
  readonly description?: string
  readonly mimeType?: string
  readonly icons?: ReadonlyArray<Icon>
  readonly annotations?: Content.Annotations
  readonly _meta?: Record<string, unknown>
}

/** A concrete resource, as listed by `resources/list`. */
export interface ResourceEntry extends ResourceInfo {
  readonly uri: string
  readonly size?: number
}

/** What a read returns: text (with the resource's MIME type), or contents. */
export type ReadResult = string | ReadonlyArray<Content.ResourceContents>

/** A resource at a fixed URI. */
export interface Resource<R = never> {
  readonly _tag: "Resource"
  readonly entry: ResourceEntry
  readonly read: Effect.Effect<ReadonlyArray<Content.ResourceContents>, unknown, R | RequestContext>
}

/** A family of resources addressed by a URI template. */
export interface ResourceTemplate<R = never> {
  readonly _tag: "ResourceTemplate"
  readonly template: UriTemplate.UriTemplate
  readonly info: ResourceInfo
  readonly read: (
    uri: string,
    variables: Readonly<Record<string, string>>
  ) => Effect.Effect<ReadonlyArray<Content.ResourceContents>, unknown, R | RequestContext>
  readonly list: Effect.Effect<ReadonlyArray<ResourceEntry>, unknown, R | RequestContext> | undefined
  readonly complete: Readonly<
    Record<string, (value: string, context: Readonly<Record<string, string>>) => Effect.Effect<ReadonlyArray<string>, unknown, R>>
  >
}

const contents = (uri: string, mimeType: string | undefined, result: ReadResult): ReadonlyArray<Content.ResourceContents> =>
  typeof result === "string" ? [mimeType === undefined ? { uri, text: result } : { uri, mimeType, text: result }] : result

/** Defines a resource at a fixed URI. */
export const make = <E, R>(
  uri: string,
  options: ResourceInfo & { readonly size?: number; readonly read: Effect.Effect<ReadResult, E, R> }
): Resource<Exclude<R, RequestContext>> => {
  const { read, ...entry } = options
  const resource: Resource<R> = {
    _tag: "Resource",
    entry: { uri, ...entry },
    read: Effect.map(read, (result) => contents(uri, entry.mimeType, result))
  }
  // RequestContext is provided by the server for every request
  return resource as unknown as Resource<Exclude<R, RequestContext>>
}

/**
 * Defines a resource template. Throws `UriTemplate.InvalidUriTemplate` at definition time for a malformed
 * template.
 *
 * @example
 * ```ts
 * const file = Resource.template("file:///{+path}", {
 *   name: "file",
 *   read: (uri, { path }) => readFile(path)
 * })
 * ```
 */
export const template = <E, R, E2 = never, R2 = never, R3 = never>(
  uriTemplate: string,
  options: ResourceInfo & {
    readonly read: (uri: string, variables: Readonly<Record<string, string>>) => Effect.Effect<ReadResult, E, R>
    readonly list?: Effect.Effect<ReadonlyArray<ResourceEntry>, E2, R2>
    readonly complete?: Readonly<
      Record<string, (value: string, context: Readonly<Record<string, string>>) => Effect.Effect<ReadonlyArray<string>, unknown, R3>>
    >
  }
): ResourceTemplate<Exclude<R | R2 | R3, RequestContext>> => {
  const { read, list, complete, ...info } = options
  const template: ResourceTemplate<R | R2 | R3> = {
    _tag: "ResourceTemplate",
    template: UriTemplate.parse(uriTemplate),
    info,
    read: (uri, variables) => Effect.map(read(uri, variables), (result) => contents(uri, info.mimeType, result)),
    list,
    complete: complete ?? {}
  }
  return template as unknown as ResourceTemplate<Exclude<R | R2 | R3, RequestContext>>
}

/** The `resources/templates/list` entry of a template. */
export const describeTemplate = (t: ResourceTemplate<any>): Record<string, unknown> => ({
  uriTemplate: t.template.template,
  ...t.info
})
