/**
 * The WebSocket protocol as an AsyncAPI 3.0 document, generated from the frame
 * schemas (ClientFrames, ServerFrames), the shared objects and the close-code
 * table, so it cannot drift from what the server parses and sends. Served at
 * `/docs/asyncapi.json`. Pure: importable by clients without the server.
 */
import type { TSchema } from '@sinclair/typebox'
import { ClosePolicy } from './close-codes'
import { exampleClientFrames, exampleServerFrames } from './examples'
import { ClientFrames, type ClientFrameType } from './frames'
import { schemaComponents } from './json-schema'
import * as O from './objects'
import { ServerFrames, type ServerFrameType } from './server-frames'

const clientSummary: Record<ClientFrameType, string> = {
  'message.send': 'Send a message. Answered by `ack` once committed, or `error` with the same `client_msg_id`.',
  typing: 'Typing started or stopped; relayed to the room\'s other members, not stored.',
  read: 'Move the read mark (as POST /v1/rooms/:id/read); relayed as `read` unless read receipts are off.',
  subscribe: 'Follow a room: replay after `after_seq`, then `subscribed`, then live events; `resync_required` past 1000 missing.',
  unsubscribe: 'Stop following a room; answered by `unsubscribed`.',
  'presence.subscribe': 'Hear `presence` of a room above PRESENCE_ROOM_MAX_MEMBERS (for a channel: of its whole space); answered by `presence.subscribed`. Members only.',
  'presence.unsubscribe': 'Stop hearing that presence; answered by `presence.unsubscribed`.',
  ping: 'Answered by `pong`.',
  auth: 'Renew the socket\'s credentials with a fresh access token of the same user; answered by `auth_ok` or `error {code: "unauthorized"}`.',
}

const serverSummary: Record<ServerFrameType, string> = {
  ready: 'The first frame: the user, the rooms with their last seq, and when the credentials expire.',
  'message.created': 'A committed message, in seq order per room (live, replayed or gap-filled).',
  'message.updated': 'A message edited or its reactions changed.',
  'message.deleted': 'A message deleted; it keeps its id and seq.',
  typing: 'Someone else in the room started or stopped typing.',
  read: 'A member moved their read mark.',
  presence: 'A user who shares a room went online or offline (at most one per user and room per PRESENCE_COALESCE_MS; rooms above PRESENCE_ROOM_MAX_MEMBERS only after `presence.subscribe`).',
  'member.joined': 'Someone joined or was added to the room.',
  'member.left': 'Someone left, was removed or banned.',
  'member.updated': 'A member\'s role changed.',
  'room.created': 'A room the user is now in (created, added to, or a new channel of their space).',
  'space.updated': 'A space of the user changed.',
  'space.deleted': 'A space of the user was deleted.',
  'space.member.joined': 'Someone joined the space.',
  'space.member.left': 'Someone left the space, was removed or banned.',
  'space.member.updated': 'A space member\'s role changed.',
  'room.updated': 'A room of the user changed.',
  'room.deleted': 'A room of the user was deleted, or the user was removed from it.',
  ack: 'The sender\'s `message.send` was committed.',
  error: 'A frame was refused (`bad_request`, `validation`, or the code the REST route would give); the socket stays open.',
  subscribed: 'A `subscribe` took effect: live events follow from `last_seq`.',
  unsubscribed: 'An `unsubscribe` took effect.',
  'presence.subscribed': 'A `presence.subscribe` took effect: the room\'s `presence` events follow.',
  'presence.unsubscribed': 'A `presence.unsubscribe` took effect.',
  resync_required: 'Over 1000 messages are missing: page history over REST up to `last_seq`, then subscribe again.',
  pong: 'The answer to `ping`.',
  auth_ok: 'The `auth` frame renewed the socket\'s credentials until `expires_at`.',
}

const frameName = (side: 'client' | 'server', type: string) => `${side}.${type}`
const schemaName = (side: 'client' | 'server', type: string) =>
  `${side === 'client' ? 'Client' : 'Server'}${type.split(/[._]/).map((w) => w[0]!.toUpperCase() + w.slice(1)).join('')}Frame`

/**
 * Close codes the server (or Bun) closes a socket with, and what a client
 * does next: the `x-close-codes` of the channels.
 */
const closeCodes = Object.fromEntries(Object.entries(ClosePolicy).map(([code, p]) => [code, { ...p }]))

/** The AsyncAPI 3.0 document (a plain JSON value). */
export function asyncApiDocument(): Record<string, unknown> {
  const frames: Record<string, TSchema> = {}
  for (const [type, s] of Object.entries(ClientFrames)) frames[schemaName('client', type)] = s
  for (const [type, s] of Object.entries(ServerFrames)) frames[schemaName('server', type)] = s
  const components = schemaComponents({
    User: O.User, Sender: O.Sender, Attachment: O.Attachment, Reaction: O.Reaction, Message: O.Message, Room: O.Room,
    Space: O.Space, Role: O.Role, LeaveReason: O.LeaveReason, ...frames,
  }, '#/components/schemas/')

  const messages: Record<string, unknown> = {}
  /** One component message per frame type of a direction; returns their refs. */
  const addMessages = <T extends string>(dir: 'client' | 'server', types: T[], summary: Record<T, string>, examples: Record<T, unknown>) =>
    types.map((type) => {
      const name = frameName(dir, type)
      messages[name] = {
        name: type, title: `${type} (${dir === 'client' ? 'client → server' : 'server → client'})`, summary: summary[type],
        payload: { $ref: `#/components/schemas/${schemaName(dir, type)}` },
        examples: [{ name: type, payload: examples[type] }],
      }
      return { $ref: `#/components/messages/${name}` }
    })
  const clientRefs = addMessages('client', Object.keys(ClientFrames) as ClientFrameType[], clientSummary, exampleClientFrames)
  const serverRefs = addMessages('server', Object.keys(ServerFrames) as ServerFrameType[], serverSummary, exampleServerFrames)
  const channelMessages = Object.fromEntries(Object.keys(messages).map((name) => [name, { $ref: `#/components/messages/${name}` }]))
  const channelRef = (ch: string, refs: { $ref: string }[]) => refs.map((r) => ({ $ref: `#/channels/${ch}/messages/${r.$ref.split('/').pop()}` }))
  const token = { type: 'string', description: 'an access token (or, in a browser, the subprotocols `bearer, <token>`; or an `Authorization: Bearer` header)' }

  return {
    asyncapi: '3.0.0',
    info: {
      title: 'Chat server WebSocket protocol',
      version: '1',
      description: 'One WebSocket per client carries live events and sends. Every frame is one JSON text frame with a `type`. '
        + 'A bad or missing token is refused before the upgrade with HTTP 401 `{detail, code}`. '
        + 'The REST routes are in the OpenAPI document at /docs/json; docs/protocol.md in the repository explains resume and delivery guarantees.',
    },
    defaultContentType: 'application/json',
    channels: {
      socket: {
        address: '/v1/ws',
        title: 'The socket of a user',
        description: 'Follows every room of the user (unless `auto_subscribe=false`), their spaces and their own events.',
        messages: channelMessages,
        bindings: {
          ws: {
            method: 'GET',
            query: {
              type: 'object',
              properties: {
                token,
                auto_subscribe: { type: 'string', enum: ['true', 'false'], description: '`false`: follow only the user\'s own events; subscribe room by room (how to resume without a race)' },
              },
            },
          },
        },
        'x-close-codes': closeCodes,
      },
      roomSocket: {
        address: '/v1/rooms/{id}/ws',
        title: 'The socket of one room',
        description: 'The same socket, following one room only; 403 `not_member` before the upgrade for a non-member.',
        parameters: { id: { description: 'the room id' } },
        messages: channelMessages,
        bindings: {
          ws: {
            method: 'GET',
            query: {
              type: 'object',
              properties: { token, after_seq: { type: 'string', pattern: '^[0-9]+$', description: 'resume after this seq' } },
            },
          },
        },
        'x-close-codes': closeCodes,
      },
    },
    operations: {
      receiveClientFrames: {
        action: 'receive', channel: { $ref: '#/channels/socket' }, title: 'Frames a client sends', messages: channelRef('socket', clientRefs),
      },
      sendServerFrames: {
        action: 'send', channel: { $ref: '#/channels/socket' }, title: 'Frames the server sends', messages: channelRef('socket', serverRefs),
      },
      receiveRoomClientFrames: {
        action: 'receive', channel: { $ref: '#/channels/roomSocket' }, title: 'Frames a client sends (one-room socket)', messages: channelRef('roomSocket', clientRefs),
      },
      sendRoomServerFrames: {
        action: 'send', channel: { $ref: '#/channels/roomSocket' }, title: 'Frames the server sends (one-room socket)', messages: channelRef('roomSocket', serverRefs),
      },
    },
    components: { schemas: components.schemas, messages },
  }
}
