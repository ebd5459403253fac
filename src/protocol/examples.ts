/**
 * Example values of the protocol's objects, payloads and frames, for the
 * OpenAPI and AsyncAPI documents. Each is typed by its schema's static type,
 * so a field renamed in a schema breaks the build here; test/openapi.test.ts
 * also validates every example against its schema at run time.
 */
import type { ClientFrameOf, ClientFrameType } from './frames'
import type {
  Ban, ErrorBody, Invite, Member, Message, Room, Session, Space, SpaceMember, TokenPair, User,
} from './objects'
import type * as P from './payloads'
import type { ServerFrameOf, ServerFrameType } from './server-frames'

const at = '2026-12-03T06:00:00.000Z'
const later = '2026-12-03T06:05:00.000Z'

export const exampleUser: User = {
  id: 7, email: 'a@example.com', nickname: '하늘', avatar_url: null, bio: null, online: true, last_seen: at, created_at: at,
}
const bob: User = { ...exampleUser, id: 9, email: 'b@example.com', nickname: 'bob', online: false, last_seen: later }

export const exampleMessage: Message = {
  id: 1234, room_id: 8, seq: 41,
  sender: { id: 7, nickname: '하늘', avatar_url: null },
  type: 'text', content: '안녕하세요!', reply_to_id: null, attachment: null,
  reactions: [{ emoji: '👍', count: 2, me: true, user_ids: [9, 7] }],
  client_msg_id: '9b2f1c3e-6d0a-4f5e-8a7b-2c4d6e8f0a1b',
  created_at: at, edited_at: null, deleted: false,
}

export const exampleImageMessage: Message = {
  ...exampleMessage, id: 1235, seq: 42, type: 'image', content: 'the whiteboard', reactions: [], client_msg_id: null,
  attachment: { url: '/v1/files/ab12cd34?exp=1796277600&sig=3f9a…', name: 'board.png', size: 48213, mime: 'image/png' },
}

export const exampleRoom: Room = {
  id: 8, type: 'group', name: 'study', description: null, visibility: 'private', space_id: null, external_id: null,
  created_by: 7, created_at: at, updated_at: at, member_count: 2, max_members: 100, last_seq: 41,
  last_message: exampleMessage, unread_count: 3,
}

const exampleChannel: Room = {
  ...exampleRoom, id: 11, type: 'channel', name: 'general', visibility: 'public', space_id: 3, created_by: 7,
  member_count: 42, max_members: 1000, last_seq: 0, last_message: null, unread_count: 0,
}

export const exampleMember: Member = { user: exampleUser, role: 'owner', joined_at: at, last_read_seq: 41 }
export const exampleSpaceMember: SpaceMember = { user: bob, role: 'member', joined_at: later }

export const exampleSpace: Space = {
  id: 3, name: 'study group', description: null, icon_url: null, visibility: 'public', owner_id: 7,
  member_count: 42, max_members: 1000, general_channel_id: 11, channels: [exampleChannel], created_at: at, updated_at: at,
}

export const exampleInvite: Invite = { code: 'k3J9xQ2mP7', space_id: 3, expires_at: '2026-12-04T06:00:00.000Z', max_uses: 10, uses: 0 }
export const exampleBan: Ban = { user_id: 9, reason: 'spam', banned_by: 7, created_at: at }

export const exampleSession: Session = {
  user: exampleUser,
  access: 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI3Iiwic2lkIjoiNDIifQ.sig',
  refresh: 'r1.Xk2v9Q7mN3pL8sT4wZ6y',
}
export const exampleTokenPair: TokenPair = { access: exampleSession.access, refresh: 'r1.Pq8rS2tU5vW9xY3zA7bC' }

/** One error body per status the API answers with, each with its commonest code. */
export const exampleErrors = {
  400: { detail: 'The request body is not valid JSON.', code: 'bad_request' },
  401: { detail: 'The access token is missing, malformed, expired or revoked.', code: 'unauthorized' },
  403: { detail: 'You are not a member of this room.', code: 'not_member' },
  404: { detail: 'Room not found.', code: 'not_found' },
  409: { detail: 'This client_msg_id was used for another message.', code: 'conflict' },
  413: { detail: 'The request body is larger than 1048576 bytes.', code: 'too_large' },
  422: { detail: 'content: Expected string.', code: 'validation' },
  429: { detail: 'Too many messages. Retry in 1 s.', code: 'rate_limited' },
  503: { detail: 'The database is unavailable. Retry later.', code: 'unavailable' },
} as const satisfies Record<number, ErrorBody>

/** A request body of each payload schema. */
export const examplePayloads = {
  Register: { email: 'a@example.com', password: 'correct horse', nickname: '하늘' },
  Login: { email: 'a@example.com', password: 'correct horse' },
  RefreshToken: { refresh: exampleSession.refresh },
  UpdateProfile: { nickname: '하늘', bio: 'hello' },
  CreateRoom: { type: 'group', name: 'study', visibility: 'private', member_ids: [9], external_id: 'post:42' },
  UpdateRoom: { name: 'study (new)', description: 'weekly study room' },
  AddMembers: { user_ids: [9, 12] },
  SetRole: { role: 'admin' },
  CreateBan: { user_id: 9, reason: 'spam' },
  CreateSpace: { name: 'study group', visibility: 'public' },
  UpdateSpace: { description: 'a place to study together' },
  JoinSpace: { invite_code: exampleInvite.code },
  CreateInvite: { expires_in: 86400, max_uses: 10 },
  CreateChannel: { name: 'homework' },
  SendMessage: { content: '안녕하세요!', client_msg_id: exampleMessage.client_msg_id },
  EditMessage: { content: '안녕하세요! (edited)' },
  MarkRead: { seq: 41 },
  UpdateSettings: { notifications: false, retention_days: 30 },
} satisfies {
  Register: P.Register; Login: P.Login; RefreshToken: P.RefreshToken; UpdateProfile: P.UpdateProfile; CreateRoom: P.CreateRoom
  UpdateRoom: P.UpdateRoom; AddMembers: P.AddMembers; SetRole: P.SetRole; CreateBan: P.CreateBan; CreateSpace: P.CreateSpace
  UpdateSpace: P.UpdateSpace; JoinSpace: P.JoinSpace; CreateInvite: P.CreateInvite; CreateChannel: P.CreateChannel
  SendMessage: P.SendMessage; EditMessage: P.EditMessage; MarkRead: P.MarkRead; UpdateSettings: P.UpdateSettings
}

/** One frame of each client frame type. */
export const exampleClientFrames: { [K in ClientFrameType]: ClientFrameOf<K> } = {
  'message.send': { type: 'message.send', room_id: 8, content: '안녕하세요!', client_msg_id: exampleMessage.client_msg_id },
  typing: { type: 'typing', room_id: 8, is_typing: true },
  read: { type: 'read', room_id: 8, seq: 41 },
  subscribe: { type: 'subscribe', room_id: 8, after_seq: 40 },
  unsubscribe: { type: 'unsubscribe', room_id: 8 },
  'presence.subscribe': { type: 'presence.subscribe', room_id: 8 },
  'presence.unsubscribe': { type: 'presence.unsubscribe', room_id: 8 },
  ping: { type: 'ping' },
  auth: { type: 'auth', token: exampleSession.access },
}

/** One frame of each server frame type. */
export const exampleServerFrames: { [K in ServerFrameType]: ServerFrameOf<K> } = {
  ready: { type: 'ready', user: exampleUser, rooms: [{ id: 8, last_seq: 41 }], session_id: 'n1-42', expires_at: '2026-12-03T06:15:00.000Z' },
  'message.created': { type: 'message.created', message: exampleMessage },
  'message.updated': { type: 'message.updated', message: { ...exampleMessage, content: '안녕하세요! (edited)', edited_at: later } },
  'message.deleted': { type: 'message.deleted', room_id: 8, message_id: 1234, seq: 41 },
  typing: { type: 'typing', room_id: 8, user_id: 9, nickname: 'bob', is_typing: true },
  read: { type: 'read', room_id: 8, user_id: 9, seq: 41 },
  presence: { type: 'presence', user_id: 9, nickname: 'bob', status: 'offline', last_seen: later },
  'member.joined': { type: 'member.joined', room_id: 8, user: bob },
  'member.left': { type: 'member.left', room_id: 8, user_id: 9, nickname: 'bob', reason: 'left' },
  'member.updated': { type: 'member.updated', room_id: 8, user_id: 9, role: 'admin' },
  'room.created': { type: 'room.created', room: exampleRoom },
  'space.updated': { type: 'space.updated', space: exampleSpace },
  'space.deleted': { type: 'space.deleted', space_id: 3 },
  'space.member.joined': { type: 'space.member.joined', space_id: 3, user: bob },
  'space.member.left': { type: 'space.member.left', space_id: 3, user_id: 9, reason: 'banned' },
  'space.member.updated': { type: 'space.member.updated', space_id: 3, user_id: 9, role: 'member' },
  'room.updated': { type: 'room.updated', room: { ...exampleRoom, name: 'study (new)' } },
  'room.deleted': { type: 'room.deleted', room_id: 8 },
  ack: { type: 'ack', client_msg_id: exampleMessage.client_msg_id, message: exampleMessage },
  error: { type: 'error', code: 'not_member', detail: 'You are not a member of this room.', client_msg_id: null, room_id: 8 },
  subscribed: { type: 'subscribed', room_id: 8, last_seq: 41 },
  unsubscribed: { type: 'unsubscribed', room_id: 8 },
  'presence.subscribed': { type: 'presence.subscribed', room_id: 8 },
  'presence.unsubscribed': { type: 'presence.unsubscribed', room_id: 8 },
  resync_required: { type: 'resync_required', room_id: 8, last_seq: 5041 },
  pong: { type: 'pong' },
  auth_ok: { type: 'auth_ok', expires_at: '2026-12-03T06:30:00.000Z' },
}
