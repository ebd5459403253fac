import { Type, type Static } from '@sinclair/typebox'

/**
 * The objects the server sends (REST answers and WebSocket frames), as TypeBox
 * schemas: one definition gives the TypeScript type the services build, the
 * OpenAPI response schemas, and what a client SDK imports. See docs/api.md
 * "Objects".
 */

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(s: T) => Type.Union([s, Type.Null()])
const Int = Type.Integer()
const Timestamp = Type.String({ format: 'date-time', description: 'ISO-8601, UTC' })

export const Role = Type.Union([Type.Literal('owner'), Type.Literal('admin'), Type.Literal('member')])
export type Role = Static<typeof Role>

/** A user's public profile. */
export const User = Type.Object({
  id: Int,
  email: Type.String(),
  nickname: Type.String(),
  avatar_url: Nullable(Type.String()),
  bio: Nullable(Type.String()),
  online: Type.Boolean(),
  last_seen: Nullable(Timestamp),
  created_at: Timestamp,
}, { $id: 'User' })
export type User = Static<typeof User>

export const Sender = Type.Object({ id: Int, nickname: Type.String(), avatar_url: Nullable(Type.String()) })
export const Attachment = Type.Object({ url: Type.String(), name: Type.String(), size: Int, mime: Type.String() })
/** One emoji on a message: how many reacted, whether the viewer did, and who. */
export const Reaction = Type.Object({
  emoji: Type.String(),
  count: Int,
  me: Type.Boolean(),
  // optional in the type only: the server's message views are built before their reactions are read
  user_ids: Type.Optional(Type.Array(Int, { description: 'the users who reacted, oldest first' })),
})

export const MessageType = Type.Union([Type.Literal('text'), Type.Literal('image'), Type.Literal('file'), Type.Literal('system')])

/** A message; deleted ones keep id and seq, with empty content and no attachment. */
export const Message = Type.Object({
  id: Int,
  room_id: Int,
  seq: Type.Integer({ minimum: 1, description: 'per room: 1, 2, 3… in commit order, no gaps' }),
  sender: Nullable(Sender),
  type: MessageType,
  content: Type.String(),
  reply_to_id: Nullable(Int),
  attachment: Nullable(Attachment),
  reactions: Type.Array(Reaction),
  client_msg_id: Nullable(Type.String()),
  created_at: Timestamp,
  edited_at: Nullable(Timestamp),
  deleted: Type.Boolean(),
}, { $id: 'Message' })
export type Message = Static<typeof Message>

/** A search hit: the message and its content with matches in `<mark>`. */
export const SearchHit = Type.Composite([Message, Type.Object({ highlight: Type.String() })])

export const RoomType = Type.Union([Type.Literal('direct'), Type.Literal('group'), Type.Literal('channel')])
export const Visibility = Type.Union([Type.Literal('private'), Type.Literal('public')])

/** A room, as one caller sees it. */
export const Room = Type.Object({
  id: Int,
  type: RoomType,
  name: Nullable(Type.String()),
  description: Nullable(Type.String()),
  visibility: Visibility,
  space_id: Nullable(Int),
  external_id: Nullable(Type.String()),
  created_by: Nullable(Int),
  created_at: Timestamp,
  updated_at: Timestamp,
  member_count: Int,
  max_members: Int,
  last_seq: Type.Integer({ minimum: 0 }),
  last_message: Nullable(Message),
  unread_count: Type.Integer({ minimum: 0 }),
}, { $id: 'Room' })
export type Room = Static<typeof Room>

export const Member = Type.Object({ user: User, role: Role, joined_at: Timestamp, last_read_seq: Type.Integer({ minimum: 0 }) })
export type Member = Static<typeof Member>

export const PresenceEntry = Type.Object({ user_id: Int, nickname: Type.String(), online: Type.Boolean(), last_seen: Nullable(Timestamp) })

export const RoomSettings = Type.Object({
  notifications: Type.Boolean(),
  read_receipts: Type.Boolean(),
  retention_days: Nullable(Type.Integer({ minimum: 1, maximum: 3650 })),
})

/** Every error answer: REST bodies and the `error` frame's fields. */
export const ErrorBody = Type.Object({ detail: Type.String(), code: Type.String() }, { $id: 'Error' })
export type ErrorBody = Static<typeof ErrorBody>

/** A Discord-style server: its channels are rooms of type `channel`. */
export const Space = Type.Object({
  id: Int,
  name: Type.String(),
  description: Nullable(Type.String()),
  icon_url: Nullable(Type.String()),
  visibility: Visibility,
  owner_id: Nullable(Int),
  member_count: Int,
  max_members: Int,
  general_channel_id: Nullable(Int),
  channels: Type.Array(Room),
  created_at: Timestamp,
  updated_at: Timestamp,
}, { $id: 'Space' })
export type Space = Static<typeof Space>

export const SpaceMember = Type.Object({ user: User, role: Role, joined_at: Timestamp })
export type SpaceMember = Static<typeof SpaceMember>

export const Invite = Type.Object({ code: Type.String(), space_id: Int, expires_at: Timestamp, max_uses: Nullable(Int), uses: Int })
export type Invite = Static<typeof Invite>

export const Ban = Type.Object({ user_id: Int, reason: Nullable(Type.String()), banned_by: Nullable(Int), created_at: Timestamp })
export type Ban = Static<typeof Ban>

export const LeaveReason = Type.Union([Type.Literal('left'), Type.Literal('removed'), Type.Literal('banned')])
export type LeaveReason = Static<typeof LeaveReason>

// Envelopes of the REST answers: each route's success body, named once for
// the OpenAPI document and the client SDK.

/** POST /v1/auth/register (201) and /v1/auth/login (200). */
export const Session = Type.Object({
  user: User,
  access: Type.String({ description: 'access token (JWT), valid ACCESS_TTL seconds (default 900)' }),
  refresh: Type.String({ description: 'refresh token, valid REFRESH_TTL seconds (default 30 days); rotates on use' }),
})
export type Session = Static<typeof Session>

/** POST /v1/auth/refresh: a new pair; the refresh token sent is revoked. */
export const TokenPair = Type.Object({ access: Type.String(), refresh: Type.String() })
export type TokenPair = Static<typeof TokenPair>

/** GET /v1/users. */
export const UserList = Type.Object({ users: Type.Array(User) })
/** GET /v1/rooms: one page, most recent activity first. */
export const RoomPage = Type.Object({
  rooms: Type.Array(Room),
  next_cursor: Nullable(Type.String({ description: 'opaque; null on the last page' })),
})
/** GET and POST /v1/rooms/:id/members. */
export const MemberList = Type.Object({ members: Type.Array(Member) })
/** GET /v1/spaces/:id/members. */
export const SpaceMemberList = Type.Object({ members: Type.Array(SpaceMember) })
/** GET /v1/rooms/:id/presence. */
export const PresenceList = Type.Object({ members: Type.Array(PresenceEntry) })
/** GET /v1/rooms/:id/bans and /v1/spaces/:id/bans. */
export const BanList = Type.Object({ bans: Type.Array(Ban) })
/** GET /v1/spaces and /v1/spaces/discover. */
export const SpaceList = Type.Object({ spaces: Type.Array(Space) })
/** GET /v1/rooms/:id/messages: ascending by seq. */
export const MessagePage = Type.Object({ messages: Type.Array(Message), has_more: Type.Boolean() })
/** GET /v1/rooms/:id/search and /v1/search: newest first. */
export const SearchPage = Type.Object({ messages: Type.Array(SearchHit), has_more: Type.Boolean() })
/** POST /v1/rooms/:id/read. */
export const ReadMark = Type.Object({ last_read_seq: Type.Integer({ minimum: 0 }), unread_count: Type.Integer({ minimum: 0 }) })
/** GET /healthz. */
export const Health = Type.Object({ status: Type.Literal('ok') })
/** GET /readyz when every dependency answers (503 with ErrorBody otherwise). */
export const Readiness = Type.Object({ status: Type.Literal('ready') })
