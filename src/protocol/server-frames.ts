import { Type, type Static } from '@sinclair/typebox'
import { LeaveReason, Message, Role, Room, Space, User } from './objects'

/**
 * Server → client frames (docs/protocol.md), keyed on `type`. The gateway and
 * the services build frames only through `frame()`, so every frame the server
 * sends has a type here; a client imports `ServerFrame` to switch on `type`.
 */

const Int = Type.Integer()
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(s: T) => Type.Union([s, Type.Null()])
const Timestamp = Type.String({ format: 'date-time' })

const f = <K extends string, P extends Parameters<typeof Type.Object>[0]>(type: K, props: P) =>
  Type.Object({ type: Type.Literal(type), ...props })

export const ServerFrames = {
  ready: f('ready', {
    user: User,
    rooms: Type.Array(Type.Object({ id: Int, last_seq: Int })),
    session_id: Type.String(),
    expires_at: Nullable(Timestamp),
  }),
  'message.created': f('message.created', { message: Message }),
  'message.updated': f('message.updated', { message: Message }),
  'message.deleted': f('message.deleted', { room_id: Int, message_id: Int, seq: Int }),
  typing: f('typing', { room_id: Int, user_id: Int, nickname: Type.String(), is_typing: Type.Boolean() }),
  read: f('read', { room_id: Int, user_id: Int, seq: Int }),
  presence: f('presence', {
    user_id: Int,
    nickname: Type.String(),
    status: Type.Union([Type.Literal('online'), Type.Literal('offline')]),
    last_seen: Nullable(Timestamp),
  }),
  'member.joined': f('member.joined', { room_id: Int, user: User }),
  'member.left': f('member.left', {
    room_id: Int,
    user_id: Int,
    nickname: Type.String(),
    reason: LeaveReason,
  }),
  'member.updated': f('member.updated', { room_id: Int, user_id: Int, role: Role }),
  'room.created': f('room.created', { room: Room }),
  'space.updated': f('space.updated', { space: Space }),
  'space.deleted': f('space.deleted', { space_id: Int }),
  'space.member.joined': f('space.member.joined', { space_id: Int, user: User }),
  'space.member.left': f('space.member.left', { space_id: Int, user_id: Int, reason: LeaveReason }),
  'space.member.updated': f('space.member.updated', { space_id: Int, user_id: Int, role: Role }),
  'room.updated': f('room.updated', { room: Room }),
  'room.deleted': f('room.deleted', { room_id: Int }),
  ack: f('ack', { client_msg_id: Nullable(Type.String()), message: Message }),
  error: f('error', {
    code: Type.String(),
    detail: Type.String(),
    client_msg_id: Type.Optional(Nullable(Type.String())),
    room_id: Type.Optional(Int),
  }),
  subscribed: f('subscribed', { room_id: Int, last_seq: Int }),
  unsubscribed: f('unsubscribed', { room_id: Int }),
  'presence.subscribed': f('presence.subscribed', { room_id: Int }),
  'presence.unsubscribed': f('presence.unsubscribed', { room_id: Int }),
  resync_required: f('resync_required', { room_id: Int, last_seq: Int }),
  pong: f('pong', {}),
  auth_ok: f('auth_ok', { expires_at: Nullable(Timestamp) }),
} as const

export type ServerFrameType = keyof typeof ServerFrames
export type ServerFrameOf<K extends ServerFrameType> = Static<(typeof ServerFrames)[K]>
export type ServerFrame = { [K in ServerFrameType]: ServerFrameOf<K> }[ServerFrameType]

/** A server frame of `type` with its fields, checked by the compiler. */
export const frame = <K extends ServerFrameType>(type: K, fields: Omit<ServerFrameOf<K>, 'type'>): ServerFrameOf<K> =>
  ({ type, ...fields }) as ServerFrameOf<K>

/**
 * JSON text of a server frame of type `K`. The brand is compile-time only: it
 * says which frame a pre-serialized string holds.
 */
export type ServerFrameJson<K extends ServerFrameType> = string & { readonly __serverFrame: K }

// The two hot-path frames are built around a message already serialized once
// for its room (JSON.stringify per recipient or per frame would cost more than
// the rest of the send path): the string is the frame `frame()` would build.

/** `message.created` around a message's JSON (live events, replays and gap fills alike). */
export const messageCreatedJson = (messageJson: string): ServerFrameJson<'message.created'> =>
  `{"type":"message.created","message":${messageJson}}` as ServerFrameJson<'message.created'>

/** The sender's `ack` around the same message JSON its room got. */
export const ackJson = (clientMsgId: string | null, messageJson: string): ServerFrameJson<'ack'> =>
  `{"type":"ack","client_msg_id":${JSON.stringify(clientMsgId)},"message":${messageJson}}` as ServerFrameJson<'ack'>
