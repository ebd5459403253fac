/**
 * The protocol's types, checked two ways. `bun run typecheck` checks the
 * `@ts-expect-error` lines: each must be an error, so a builder or handler map
 * that stops catching the mistake fails the typecheck. `bun test` checks that
 * every ServerFrames schema accepts frames as the server really builds them.
 */
import { describe, expect, setDefaultTimeout, test } from 'bun:test'
import { FormatRegistry } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { fakeNode, sampleMessage, sampleUser } from '../src/gateway/testing'
import { TypingThrottle } from '../src/gateway/typing'
import { ClosePolicy, CloseCode, reconnectPolicy } from '../src/protocol/close-codes'
import { ClientFrames, type ClientFrameHandlers, type ClientFrameOf } from '../src/protocol/frames'
import type { Room, Space } from '../src/protocol/objects'
import {
  ackJson, frame, messageCreatedJson, ServerFrames,
  type ServerFrame, type ServerFrameJson, type ServerFrameOf, type ServerFrameType,
} from '../src/protocol/server-frames'

setDefaultTimeout(60_000)

// the server's own schemas leave date-time to Elysia's format registry; outside it, the same check here
if (!FormatRegistry.Has('date-time')) {
  FormatRegistry.Set('date-time', (v) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(v) && !Number.isNaN(Date.parse(v)))
}

const noop = async () => {}

/** Never called: the lines below only have to compile (or, marked, fail to). */
export function typeLevelChecks() {
  // a server frame with every field, right
  frame('subscribed', { room_id: 1, last_seq: 2 })
  // @ts-expect-error: a field the frame does not have
  frame('subscribed', { room_id: 1, last_seq: 2, after_seq: 3 })
  // @ts-expect-error: a field missing
  frame('subscribed', { room_id: 1 })
  // @ts-expect-error: a field of the wrong type
  frame('read', { room_id: 1, user_id: 2, seq: '3' })
  // @ts-expect-error: a value outside the field's union
  frame('presence', { user_id: 1, nickname: 'a', status: 'away', last_seen: null })
  // @ts-expect-error: a frame type that does not exist
  frame('message.sent', { message: sampleMessage(1, 1) })
  // @ts-expect-error: a hand-built frame is checked against the union too
  const handBuilt: ServerFrame = { type: 'unsubscribed', room_id: 1, last_seq: 2 }
  // @ts-expect-error: a pre-serialized message.created is not an ack
  const notAnAck: ServerFrameJson<'ack'> = messageCreatedJson('{}')

  const complete: ClientFrameHandlers = {
    'message.send': noop, typing: noop, read: noop, subscribe: noop, unsubscribe: noop, ping: noop, auth: noop,
    'presence.subscribe': noop, 'presence.unsubscribe': noop,
  }
  // @ts-expect-error: a handler map that misses a client frame type (auth)
  const missing: ClientFrameHandlers = {
    'message.send': noop, typing: noop, read: noop, subscribe: noop, unsubscribe: noop, ping: noop,
    'presence.subscribe': noop, 'presence.unsubscribe': noop,
  }
  const wrongFrame: ClientFrameHandlers = {
    ...complete,
    // @ts-expect-error: a handler typed for another frame
    ping: async (f: ClientFrameOf<'auth'>) => void f.token,
  }
  return [handBuilt, notAnAck, missing, wrongFrame]
}

const timestamp = '2026-01-01T00:00:00.000Z'
const room: Room = {
  id: 1, type: 'group', name: 'general', description: null, visibility: 'private', space_id: null, external_id: null,
  created_by: 7, created_at: timestamp, updated_at: timestamp, member_count: 2, max_members: 100, last_seq: 3,
  last_message: sampleMessage(1, 3), unread_count: 0,
}
const space: Space = {
  id: 10, name: 'space', description: null, icon_url: null, visibility: 'public', owner_id: 7, member_count: 1,
  max_members: 1000, general_channel_id: 1, channels: [{ ...room, type: 'channel', space_id: 10 }], created_at: timestamp, updated_at: timestamp,
}
const parsed = <K extends ServerFrameType>(json: ServerFrameJson<K>) => JSON.parse(json) as ServerFrameOf<K>

/** One frame per type, built the way the gateway and the services build it; the type makes the list complete. */
const samples: { [K in ServerFrameType]: ServerFrameOf<K> } = {
  ready: frame('ready', { user: { ...sampleUser(7), online: true }, rooms: [{ id: 1, last_seq: 3 }], session_id: crypto.randomUUID(), expires_at: timestamp }),
  'message.created': parsed(messageCreatedJson(JSON.stringify(sampleMessage(1, 3)))),
  'message.updated': frame('message.updated', { message: { ...sampleMessage(1, 3), edited_at: timestamp } }),
  'message.deleted': frame('message.deleted', { room_id: 1, message_id: 3, seq: 3 }),
  typing: frame('typing', { room_id: 1, user_id: 7, nickname: 'user7', is_typing: true }),
  read: frame('read', { room_id: 1, user_id: 7, seq: 3 }),
  presence: frame('presence', { user_id: 7, nickname: 'user7', status: 'offline', last_seen: timestamp }),
  'member.joined': frame('member.joined', { room_id: 1, user: sampleUser(8) }),
  'member.left': frame('member.left', { room_id: 1, user_id: 8, nickname: 'user8', reason: 'banned' }),
  'member.updated': frame('member.updated', { room_id: 1, user_id: 8, role: 'admin' }),
  'room.created': frame('room.created', { room }),
  'space.updated': frame('space.updated', { space }),
  'space.deleted': frame('space.deleted', { space_id: 10 }),
  'space.member.joined': frame('space.member.joined', { space_id: 10, user: sampleUser(8) }),
  'space.member.left': frame('space.member.left', { space_id: 10, user_id: 8, reason: 'left' }),
  'space.member.updated': frame('space.member.updated', { space_id: 10, user_id: 8, role: 'member' }),
  'room.updated': frame('room.updated', { room: { ...room, last_message: null } }),
  'room.deleted': frame('room.deleted', { room_id: 1 }),
  ack: parsed(ackJson('c-1', JSON.stringify(sampleMessage(1, 3, 7, 'c-1')))),
  error: frame('error', { code: 'not_member', detail: 'You are not a member of this room.', client_msg_id: null, room_id: 1 }),
  subscribed: frame('subscribed', { room_id: 1, last_seq: 3 }),
  unsubscribed: frame('unsubscribed', { room_id: 1 }),
  'presence.subscribed': frame('presence.subscribed', { room_id: 1 }),
  'presence.unsubscribed': frame('presence.unsubscribed', { room_id: 1 }),
  resync_required: frame('resync_required', { room_id: 1, last_seq: 2000 }),
  pong: frame('pong', {}),
  auth_ok: frame('auth_ok', { expires_at: null }),
}

const check = (f: ServerFrame) => {
  const schema = ServerFrames[f.type]
  return { type: f.type, ok: Value.Check(schema, f), errors: [...Value.Errors(schema, f)].map((e) => `${e.path}: ${e.message}`) }
}

describe('server frames', () => {
  test('every ServerFrames schema accepts a frame as the server builds it', () => {
    expect(Object.keys(samples).sort()).toEqual(Object.keys(ServerFrames).sort())
    for (const f of Object.values(samples) as ServerFrame[]) expect(check(f)).toEqual({ type: f.type, ok: true, errors: [] })
  })

  test('the schemas refuse a frame with a field missing or of the wrong type', () => {
    const { last_seq: _dropped, ...withoutSeq } = samples.subscribed
    expect(Value.Check(ServerFrames.subscribed, withoutSeq)).toBe(false)
    expect(Value.Check(ServerFrames.read, { ...samples.read, seq: '3' })).toBe(false)
  })

  test('the frames a session sends over a fake node all match their schema', async () => {
    const node = fakeNode({ typing: new TypingThrottle(60_000, 60_000) })
    node.chat.addRoom(1, [7, 8], 10)
    node.chat.store(1, 1)
    const a = await node.connect(7)
    const b = await node.connect(8, { autoSubscribe: false })
    await b.send({ type: 'subscribe', room_id: 1, after_seq: 0 })
    await a.send({ type: 'message.send', room_id: 1, content: 'hi', client_msg_id: 'c-1' })
    await a.send({ type: 'typing', room_id: 1, is_typing: true })
    await a.send({ type: 'ping' })
    await a.send({ type: 'read', room_id: 2, seq: 1 })
    await b.send({ type: 'unsubscribe', room_id: 1 })
    await b.send({ type: 'subscribe', room_id: 1, after_seq: 0 })
    await a.session.close()
    const sent = [...a.socket.frames, ...b.socket.frames]
    const types = new Set(sent.map((f) => f.type))
    for (const t of ['ready', 'message.created', 'ack', 'typing', 'presence', 'pong', 'error', 'subscribed', 'unsubscribed'] as const) {
      expect(types.has(t)).toBe(true)
    }
    for (const f of sent) expect(check(f)).toEqual({ type: f.type, ok: true, errors: [] })
  })
})

describe('close codes', () => {
  test('every close code has a reconnect policy; codes outside the table back off', () => {
    expect(Object.keys(ClosePolicy).map(Number).sort()).toEqual(Object.values(CloseCode).sort())
    expect(reconnectPolicy(CloseCode.goingAway)).toBe('now')
    expect(reconnectPolicy(CloseCode.tryAgainLater)).toBe('backoff')
    expect(reconnectPolicy(CloseCode.unauthorized)).toBe('refresh-then-reconnect')
    expect(reconnectPolicy(CloseCode.policy)).toBe('never')
    expect(reconnectPolicy(CloseCode.tooBig)).toBe('never')
    expect(reconnectPolicy(1006)).toBe('backoff')
  })

  test('client frames are keyed on their type', () => {
    for (const [type, schema] of Object.entries(ClientFrames)) expect(schema.properties.type.const as string).toBe(type)
  })
})
