/**
 * What clients send: one schema per payload, used by the REST route, the
 * WebSocket frame and the service alike (`const X = Type.Object(…)`,
 * `type X = Static<typeof X>`). Pure TypeBox, importable without the server.
 */
import { Type, type Static } from '@sinclair/typebox'
import {
  ClientMsgId, Content, Description, Email, ExternalId, HttpUrl, Id, IdList, Nickname, Nullable, Password, RoomName,
  Seq, Text, Visibility,
} from './fields'

export const Register = Type.Object({
  email: Email,
  password: Password,
  nickname: Nickname,
  password_confirm: Type.Optional(Text({ maxLength: 1024 })),
})
export type Register = Static<typeof Register>

export const Login = Type.Object({ email: Email, password: Text({ maxLength: 1024 }) })
export type Login = Static<typeof Login>

/** POST /v1/auth/refresh and /v1/auth/logout. */
export const RefreshToken = Type.Object({ refresh: Text({ minLength: 1, maxLength: 1024 }) })
export type RefreshToken = Static<typeof RefreshToken>

export const UpdateProfile = Type.Object({
  nickname: Type.Optional(Nickname),
  avatar_url: Type.Optional(Nullable(HttpUrl)),
  bio: Type.Optional(Nullable(Text({ maxLength: 2000, description: 'at most 500 characters' }))),
})
export type UpdateProfile = Static<typeof UpdateProfile>

export const CreateRoom = Type.Object({
  type: Type.Union([Type.Literal('group'), Type.Literal('direct')]),
  name: Type.Optional(RoomName),
  description: Type.Optional(Nullable(Description)),
  visibility: Type.Optional(Visibility),
  member_ids: Type.Optional(IdList),
  external_id: Type.Optional(Nullable(ExternalId)),
})
export type CreateRoom = Static<typeof CreateRoom>

export const UpdateRoom = Type.Object({
  name: Type.Optional(RoomName),
  description: Type.Optional(Nullable(Description)),
  visibility: Type.Optional(Visibility),
})
export type UpdateRoom = Static<typeof UpdateRoom>

export const AddMembers = Type.Object({ user_ids: Type.Array(Id, { minItems: 1, maxItems: 1000 }) })
export type AddMembers = Static<typeof AddMembers>

/** PATCH /v1/rooms/:id/members/:userId and /v1/spaces/:id/members/:userId. */
export const SetRole = Type.Object({ role: Type.Union([Type.Literal('owner'), Type.Literal('admin'), Type.Literal('member')]) })
export type SetRole = Static<typeof SetRole>

/** POST /v1/rooms/:id/bans and /v1/spaces/:id/bans. */
export const CreateBan = Type.Object({ user_id: Id, reason: Type.Optional(Nullable(Text({ maxLength: 2000, description: 'at most 500 characters' }))) })
export type CreateBan = Static<typeof CreateBan>

export const CreateSpace = Type.Object({
  name: RoomName,
  description: Type.Optional(Nullable(Description)),
  icon_url: Type.Optional(Nullable(HttpUrl)),
  visibility: Type.Optional(Visibility),
})
export type CreateSpace = Static<typeof CreateSpace>

export const UpdateSpace = Type.Object({
  name: Type.Optional(RoomName),
  description: Type.Optional(Nullable(Description)),
  icon_url: Type.Optional(Nullable(HttpUrl)),
  visibility: Type.Optional(Visibility),
})
export type UpdateSpace = Static<typeof UpdateSpace>

/** POST /v1/spaces/:id/join. */
export const JoinSpace = Type.Object({ invite_code: Type.Optional(Nullable(Text({ minLength: 1, maxLength: 100 }))) })
export type JoinSpace = Static<typeof JoinSpace>

export const CreateInvite = Type.Object({
  expires_in: Type.Optional(Type.Integer({ minimum: 60, maximum: 2_592_000, description: 'seconds; default 86400' })),
  max_uses: Type.Optional(Nullable(Type.Integer({ minimum: 1, maximum: 10_000 }))),
})
export type CreateInvite = Static<typeof CreateInvite>

export const CreateChannel = Type.Object({ name: RoomName, description: Type.Optional(Nullable(Description)) })
export type CreateChannel = Static<typeof CreateChannel>

/** A message to send: POST /v1/rooms/:id/messages, and the `message.send` frame (plus its room_id). */
export const SendMessage = Type.Object({
  content: Content,
  type: Type.Optional(Type.Literal('text')),
  reply_to_id: Type.Optional(Nullable(Id)),
  client_msg_id: Type.Optional(Nullable(ClientMsgId)),
})
export type SendMessage = Static<typeof SendMessage>

export const EditMessage = Type.Object({ content: Content })
export type EditMessage = Static<typeof EditMessage>

/** POST /v1/rooms/:id/read, and the `read` frame (plus its room_id). */
export const MarkRead = Type.Object({ seq: Seq })
export type MarkRead = Static<typeof MarkRead>

export const UpdateSettings = Type.Object({
  notifications: Type.Optional(Type.Boolean()),
  read_receipts: Type.Optional(Type.Boolean()),
  retention_days: Type.Optional(Nullable(Type.Integer({ minimum: 1, maximum: 3650 }))),
})
export type UpdateSettings = Static<typeof UpdateSettings>

/** The text fields of an upload (multipart: `file`, optional `content`, `client_msg_id`). */
export const UploadFields = Type.Object({
  content: Type.Optional(Content),
  client_msg_id: Type.Optional(ClientMsgId),
})
export type UploadFields = Static<typeof UploadFields>
