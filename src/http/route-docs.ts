/**
 * OpenAPI metadata of a route, given as its `detail`: summary, tag, the
 * success answers with their schemas and examples, and the error statuses it
 * can give. The schemas are documentation only: Elysia does not validate or
 * reshape responses with them (docs/api.md "The OpenAPI document" says why),
 * and src/http/docs.ts turns them into the document's components.
 */
import type { TSchema } from '@sinclair/typebox'
import { exampleErrors } from '../protocol/examples'

/** The tags of the document, in the order the UI lists them. */
export const Tags = {
  Auth: 'Register, sign in, rotate and revoke tokens.',
  Users: 'Profiles.',
  Rooms: 'Direct rooms, group rooms and channels; membership, presence and per-member settings.',
  Moderation: 'Roles and bans (for a channel they act on its space).',
  Messages: 'History, sends, edits, deletes, reactions, read marks and uploads.',
  Search: 'Full-text search in one room or in all of the caller\'s rooms.',
  Spaces: 'Discord-style servers: members, invites, bans and channels.',
  Operations: 'Health, readiness, metrics and the web page.',
} as const
export type Tag = keyof typeof Tags

export type ErrorStatus = keyof typeof exampleErrors

/** What each error status means here; the body is always `{detail, code}`. */
export const errorMeaning: Record<ErrorStatus, string> = {
  400: '`bad_request`: the body is not valid JSON (or nests deeper than 32 levels), or multipart where JSON is expected.',
  401: '`unauthorized`: missing, malformed, expired or revoked token; a wrong password.',
  403: '`not_member`: not a member of the room or space; `forbidden`: lacking the role, a private room or space, a banned user, a direct room.',
  404: '`not_found`: no such user, room, space, message or file.',
  409: '`email_taken`: the email is registered; `conflict`: a `client_msg_id` reused with other content, or an `external_id` held by a room the caller may not see.',
  413: '`too_large`: a JSON body over 1 MiB or an upload over `MAX_UPLOAD_BYTES`, with or without Content-Length.',
  422: '`validation`: a field, path or query parameter fails its schema (types are never converted in bodies); `room_full`: over a member limit; `message_too_long`: over `MAX_MESSAGE_CHARS`.',
  429: '`rate_limited`: a rate limit; the `Retry-After` header says how many seconds to wait.',
  503: '`unavailable`: the server is overloaded or a dependency (Postgres, Redis) is down; retry later.',
}

type Media = 'json' | 'text' | 'html' | 'binary'
const mediaType: Record<Media, string> = { json: 'application/json', text: 'text/plain', html: 'text/html', binary: '*/*' }

/** A success answer: a body of `schema` (JSON unless `media` says otherwise), or none (`schema` absent, e.g. 204). */
export type Answer = { description: string; schema?: TSchema; example?: unknown; media?: Media }

export type RouteDoc = {
  tag: Tag
  summary: string
  description?: string
  ok: Record<number, Answer>
  errors: ErrorStatus[]
  /** true for routes that take no bearer token (sign-in, operations, signed file URLs) */
  public?: boolean
  /** an example request body (the body's schema comes from the route's `body`) */
  requestExample?: unknown
}

/** The `detail` of a documented route. */
export function doc(d: RouteDoc): Record<string, unknown> {
  const responses: Record<string, unknown> = {}
  for (const [status, a] of Object.entries(d.ok)) {
    responses[status] = a.schema === undefined
      ? { description: a.description }
      : {
          description: a.description,
          content: { [mediaType[a.media ?? 'json']]: { schema: a.schema, ...(a.example === undefined ? {} : { example: a.example }) } },
        }
  }
  for (const status of [...d.errors].sort((a, b) => a - b)) responses[status] = { $ref: `#/components/responses/Error${status}` }
  return {
    tags: [d.tag],
    summary: d.summary,
    ...(d.description ? { description: d.description } : {}),
    ...(d.public ? { security: [] } : {}),
    ...(d.requestExample === undefined ? {} : { 'x-request-example': d.requestExample }),
    responses,
  }
}

/** Error statuses of a route that takes a bearer token and path or query parameters. */
export const AUTHED = [401, 422, 503] as const satisfies ErrorStatus[]
/** …and a JSON body. */
export const AUTHED_BODY = [400, 401, 413, 422, 503] as const satisfies ErrorStatus[]
