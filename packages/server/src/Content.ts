/**
 * MCP content blocks (what tools return and prompts contain), as wire shapes, with constructors.
 *
 * @since 0.1.0
 */

/** Optional audience/priority hints on content. */
export interface Annotations {
  readonly audience?: ReadonlyArray<"user" | "assistant">
  readonly priority?: number
  readonly lastModified?: string
}

/** Text content. */
export interface TextContent {
  readonly type: "text"
  readonly text: string
  readonly annotations?: Annotations
  readonly _meta?: Record<string, unknown>
}

/** Base64-encoded image content. */
export interface ImageContent {
  readonly type: "image"
  readonly data: string
  readonly mimeType: string
  readonly annotations?: Annotations
  readonly _meta?: Record<string, unknown>
}

/** Base64-encoded audio content (2025-03-26+). */
export interface AudioContent {
  readonly type: "audio"
  readonly data: string
  readonly mimeType: string
  readonly annotations?: Annotations
  readonly _meta?: Record<string, unknown>
}

/** A link to a resource the client may read (2025-06-18+). */
export interface ResourceLink {
  readonly type: "resource_link"
  readonly uri: string
  readonly name: string
  readonly title?: string
  readonly description?: string
  readonly mimeType?: string
  readonly size?: number
  readonly annotations?: Annotations
  readonly _meta?: Record<string, unknown>
}

/** The contents of one resource: text or a base64 blob. */
export type ResourceContents =
  | {
    readonly uri: string
    readonly mimeType?: string
    readonly text: string
    readonly _meta?: Record<string, unknown>
  }
  | {
    readonly uri: string
    readonly mimeType?: string
    readonly blob: string
    readonly _meta?: Record<string, unknown>
  }

/** A resource embedded in content. */
export interface EmbeddedResource {
  readonly type: "resource"
  readonly resource: ResourceContents
  readonly annotations?: Annotations
  readonly _meta?: Record<string, unknown>
}

/** Any content block. */
export type ContentBlock = TextContent | ImageContent | AudioContent | ResourceLink | EmbeddedResource

/** A text block. */
export const text = (text: string): TextContent => ({ type: "text", text })

/** An image block from base64 data. */
export const image = (data: string, mimeType: string): ImageContent => ({ type: "image", data, mimeType })

/** An audio block from base64 data. */
export const audio = (data: string, mimeType: string): AudioContent => ({ type: "audio", data, mimeType })

/** A resource link block. */
export const resourceLink = (
  uri: string,
  name: string,
  options: Omit<ResourceLink, "type" | "uri" | "name"> = {}
): ResourceLink => ({ type: "resource_link", uri, name, ...options })

/** An embedded text resource block. */
export const embeddedText = (uri: string, text: string, mimeType?: string): EmbeddedResource => ({
  type: "resource",
  resource: mimeType === undefined ? { uri, text } : { uri, text, mimeType }
})

/**
 * Downgrades content for an older revision: `resource_link` (2025-06-18+) becomes text naming the link, and
 * `audio` (2025-03-26+) becomes text saying audio was omitted, so an older client never sees a type it cannot
 * parse.
 */
export const forRevision = (block: ContentBlock, revision: string): ContentBlock => {
  if (block.type === "resource_link" && revision < "2025-06-18") {
    return text(`${block.title ?? block.name}: ${block.uri}`)
  }
  if (block.type === "audio" && revision < "2025-03-26") {
    return text(`[audio content (${block.mimeType}) omitted: not supported by protocol ${revision}]`)
  }
  return block
}
