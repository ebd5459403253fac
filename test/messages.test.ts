import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { and, eq } from 'drizzle-orm'
import { roomMembers } from '../src/db/schema'
import {
  groupRoom, openWs, range, register, startServer, TestSocket, until,
  type ApiResponse, type Frame, type TestServer, type TestUser,
} from './helpers'
import { expectError, ISO } from './contract'

// bunfig's [test] timeout is not applied by this Bun: starting servers on a loaded machine needs more than 5 s
setDefaultTimeout(60_000)

let s: TestServer
let alice: TestUser
let bob: TestUser
let carol: TestUser
let dave: TestUser

beforeAll(async () => {
  s = await startServer({ RATE_MESSAGES: '0' })
  ;[alice, bob, carol, dave] = await Promise.all([
    register(s.api, 'alice'), register(s.api, 'bob'), register(s.api, 'carol'), register(s.api, 'dave'),
  ])
})
afterAll(() => s.close())

const MESSAGE_KEYS = [
  'attachment', 'client_msg_id', 'content', 'created_at', 'deleted', 'edited_at', 'id',
  'reactions', 'reply_to_id', 'room_id', 'sender', 'seq', 'type',
]

const send = (roomId: number, u: TestUser, body: unknown, srv: TestServer = s) =>
  srv.api('POST', `/v1/rooms/${roomId}/messages`, { token: u.token, body })
const list = (roomId: number, u: TestUser, query = '') =>
  s.api('GET', `/v1/rooms/${roomId}/messages${query}`, { token: u.token })
const read = (roomId: number, u: TestUser, body: unknown) =>
  s.api('POST', `/v1/rooms/${roomId}/read`, { token: u.token, body })
const getRoom = (roomId: number, u: TestUser) => s.api('GET', `/v1/rooms/${roomId}`, { token: u.token })

/** Sends `n` messages one after the other; returns them. */
async function fill(roomId: number, u: TestUser, n: number, prefix = 'm') {
  const out = []
  for (let i = 1; i <= n; i++) {
    const r = await send(roomId, u, { content: `${prefix}${i}` })
    expect(r.status).toBe(201)
    out.push(r.body)
  }
  return out
}

function expectIso(v: unknown) {
  expect(typeof v).toBe('string')
  expect(v as string).toMatch(ISO)
  expect(new Date(v as string).toISOString()).toBe(v as string)
}

/** A socket following exactly `roomId`, subscribed for sure (auto_subscribe=false, then subscribe). */
async function follow(u: TestUser, roomId: number): Promise<TestSocket> {
  const ws = await openWs(s, u, '&auto_subscribe=false')
  await ws.subscribe(roomId)
  return ws
}

const seqs = (r: ApiResponse) => (r.body.messages as { seq: number }[]).map((m) => m.seq)

describe('POST /v1/rooms/:id/messages', () => {
  test('201 with a Message of exactly the documented fields; content trimmed', async () => {
    const room = await groupRoom(s.api, alice, [bob])
    const r = await send(room.id, alice, { content: '  안녕하세요! hello \n', client_msg_id: 'shape-1' })
    expect(r.status).toBe(201)
    expect(r.headers.get('content-type') ?? '').toContain('application/json')
    expect(Object.keys(r.body).sort()).toEqual(MESSAGE_KEYS)
    expect(r.body).toEqual({
      id: expect.any(Number),
      room_id: room.id,
      seq: 1,
      sender: { id: alice.id, nickname: 'alice', avatar_url: null },
      type: 'text',
      content: '안녕하세요! hello',
      reply_to_id: null,
      attachment: null,
      reactions: [],
      client_msg_id: 'shape-1',
      created_at: expect.any(String),
      edited_at: null,
      deleted: false,
    })
    expect(Number.isSafeInteger(r.body.id)).toBe(true)
    expect(r.body.id).toBeGreaterThan(0)
    expectIso(r.body.created_at)
    // committed: readable at once, identical
    const l = await list(room.id, bob)
    expect(l.status).toBe(200)
    expect(l.body).toEqual({ messages: [r.body], has_more: false })
  })

  test('client_msg_id is null when not given; type "text" is accepted', async () => {
    const room = await groupRoom(s.api, alice)
    const r = await send(room.id, alice, { content: 'plain', type: 'text' })
    expect(r.status).toBe(201)
    expect(r.body.client_msg_id).toBeNull()
    expect(r.body.type).toBe('text')
    const n = await send(room.id, alice, { content: 'nulls', client_msg_id: null, reply_to_id: null })
    expect(n.status).toBe(201)
    expect(n.body).toMatchObject({ client_msg_id: null, reply_to_id: null, seq: 2 })
  })

  test('another type than "text" → 422 validation', async () => {
    const room = await groupRoom(s.api, alice)
    for (const type of ['system', 'image', 'file', 'bogus', 1]) {
      expectError(await send(room.id, alice, { content: 'x', type }), 422, 'validation')
    }
    expect((await getRoom(room.id, alice)).body.last_seq).toBe(0)
  })

  test('seq is 1,2,3… per room, independent across rooms', async () => {
    const a = await groupRoom(s.api, alice, [bob])
    const b = await groupRoom(s.api, bob, [alice])
    const got: [number, number][] = []
    for (const [room, u] of [[a, alice], [b, bob], [a, bob], [a, alice], [b, alice], [a, alice], [b, bob]] as const) {
      const r = await send(room.id, u, { content: 'x' })
      expect(r.status).toBe(201)
      got.push([room.id, r.body.seq])
    }
    expect(got.filter(([id]) => id === a.id).map(([, q]) => q)).toEqual([1, 2, 3, 4])
    expect(got.filter(([id]) => id === b.id).map(([, q]) => q)).toEqual([1, 2, 3])
    expect(seqs(await list(a.id, alice))).toEqual([1, 2, 3, 4])
    expect(seqs(await list(b.id, alice))).toEqual([1, 2, 3])
    expect((await getRoom(a.id, alice)).body.last_seq).toBe(4)
    expect((await getRoom(b.id, alice)).body.last_seq).toBe(3)
  })

  test('parallel senders get distinct seqs 1..N with no gaps', async () => {
    const room = await groupRoom(s.api, alice, [bob, carol])
    const rs = await Promise.all(
      Array.from({ length: 30 }, (_, i) => send(room.id, [alice, bob, carol][i % 3]!, { content: `p${i}` })),
    )
    expect(rs.map((r) => r.status)).toEqual(Array(30).fill(201))
    expect(rs.map((r) => r.body.seq as number).sort((x, y) => x - y)).toEqual(range(1, 30))
    expect(new Set(rs.map((r) => r.body.id)).size).toBe(30)
    expect(seqs(await list(room.id, alice))).toEqual(range(1, 30))
  })

  test('empty or whitespace-only content → 422 validation, nothing stored', async () => {
    const room = await groupRoom(s.api, alice)
    for (const content of ['', ' ', '   ', '\n\t \r\n', '\u3000']) {
      expectError(await send(room.id, alice, { content }), 422, 'validation')
    }
    expect((await list(room.id, alice)).body).toEqual({ messages: [], has_more: false })
  })

  test('1000 code points are accepted: ASCII, Korean, emoji (2000 UTF-16 units), mixed; trimming comes first', async () => {
    const room = await groupRoom(s.api, alice)
    const emoji = '😀'.repeat(1000)
    expect(emoji.length).toBe(2000)
    const mixed = '가😀'.repeat(500)
    for (const content of ['a'.repeat(1000), '가'.repeat(1000), emoji, mixed]) {
      const r = await send(room.id, alice, { content })
      expect(r.status).toBe(201)
      expect(r.body.content).toBe(content)
    }
    const padded = await send(room.id, alice, { content: `   ${emoji}   ` })
    expect(padded.status).toBe(201)
    expect(padded.body.content).toBe(emoji)
    const stored = (await list(room.id, alice)).body.messages as { content: string }[]
    expect(stored.map((m) => m.content)).toEqual(['a'.repeat(1000), '가'.repeat(1000), emoji, mixed, emoji])
  })

  test('1001 code points → 422 message_too_long', async () => {
    const room = await groupRoom(s.api, alice)
    for (const content of ['a'.repeat(1001), '가'.repeat(1001), '😀'.repeat(1001), `${'😀'.repeat(1000)}a`]) {
      expectError(await send(room.id, alice, { content }), 422, 'message_too_long')
    }
    expect((await getRoom(room.id, alice)).body.last_seq).toBe(0)
  })

  test('missing or mistyped fields → 422 validation', async () => {
    const room = await groupRoom(s.api, alice)
    const bad: unknown[] = [
      {}, { content: null }, { content: 5 }, { content: ['x'] }, { client_msg_id: 'x' },
      { content: 'x', reply_to_id: 'abc' }, { content: 'x', reply_to_id: 0 }, { content: 'x', reply_to_id: -3 },
      { content: 'x', reply_to_id: 1.5 }, { content: 'x', client_msg_id: 7 }, { content: 'x', client_msg_id: '' },
      { content: 'x', client_msg_id: 'k'.repeat(101) },
    ]
    for (const body of bad) expectError(await send(room.id, alice, body), 422, 'validation')
    expect((await getRoom(room.id, alice)).body.last_seq).toBe(0)
  })

  test('JSON that is not an object, NUL or a lone surrogate → 422 validation', async () => {
    const room = await groupRoom(s.api, alice)
    for (const raw of ['[]', '"hello"', 'null', '42', '{"content":"a\\u0000b"}', '{"content":"a\\ud800b"}']) {
      const r = await s.api('POST', `/v1/rooms/${room.id}/messages`, { token: alice.token, raw })
      expectError(r, 422, 'validation')
    }
    expect((await getRoom(room.id, alice)).body.last_seq).toBe(0)
  })

  test('a body over the size limit → 413 too_large with the error body', async () => {
    const room = await groupRoom(s.api, alice)
    expectError(await send(room.id, alice, { content: 'x'.repeat(2 * 1024 * 1024) }), 413, 'too_large')
  })

  test('failed sends in between leave no gap in seq', async () => {
    const room = await groupRoom(s.api, alice, [bob])
    const rs = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        i % 3 !== 1
          ? send(room.id, i % 2 ? bob : alice, { content: `ok ${i}` })
          : i % 2 === 0
            ? send(room.id, carol, { content: `not a member ${i}` })
            : send(room.id, alice, { content: `bad reply ${i}`, reply_to_id: 2 ** 40 })),
    )
    const ok = rs.filter((r) => r.status === 201)
    expect(ok).toHaveLength(rs.filter((_, i) => i % 3 !== 1).length)
    rs.forEach((r, i) => {
      if (i % 3 === 1) expectError(r, i % 2 === 0 ? 403 : 422, i % 2 === 0 ? 'not_member' : 'validation')
    })
    expect(ok.map((r) => r.body.seq as number).sort((x, y) => x - y)).toEqual(range(1, ok.length))
    expect(seqs(await list(room.id, alice))).toEqual(range(1, ok.length))
  })

  test('over the WebSocket, a long message gets error message_too_long with its client_msg_id', async () => {
    const room = await groupRoom(s.api, alice)
    const ws = await openWs(s, alice, '&auto_subscribe=false')
    ws.send({ type: 'message.send', room_id: room.id, content: '가'.repeat(1001), client_msg_id: 'ws-long' })
    expect(await ws.next('error')).toMatchObject({ code: 'message_too_long', client_msg_id: 'ws-long' })
    ws.send({ type: 'message.send', room_id: room.id, content: '😀'.repeat(1000), client_msg_id: 'ws-max' })
    expect((await ws.next('ack')).message).toMatchObject({ seq: 1, content: '😀'.repeat(1000), client_msg_id: 'ws-max' })
    ws.close()
  })

  test('a body that is not JSON → 400 bad_request', async () => {
    const room = await groupRoom(s.api, alice)
    for (const raw of ['not json', '{"content": "x"', "{'content': 'x'}"]) {
      const r = await s.api('POST', `/v1/rooms/${room.id}/messages`, { token: alice.token, raw })
      expectError(r, 400, 'bad_request')
    }
    expect((await getRoom(room.id, alice)).body.last_seq).toBe(0)
  })

  test('no or a bad token → 401 unauthorized', async () => {
    const room = await groupRoom(s.api, alice)
    expectError(await s.api('POST', `/v1/rooms/${room.id}/messages`, { body: { content: 'x' } }), 401, 'unauthorized')
    expectError(await s.api('POST', `/v1/rooms/${room.id}/messages`, { token: 'nope', body: { content: 'x' } }), 401, 'unauthorized')
  })

  test('a non-member → 403 not_member; nothing stored', async () => {
    const room = await groupRoom(s.api, alice, [bob])
    expectError(await send(room.id, carol, { content: 'let me in' }), 403, 'not_member')
    expect((await list(room.id, alice)).body.messages).toEqual([])
  })

  test('an unknown room → 404 not_found', async () => {
    expectError(await send(2 ** 40, alice, { content: 'hello?' }), 404, 'not_found')
  })

  test('a room id that is not a positive integer → 422 (or 404), never a crash', async () => {
    for (const id of ['abc', '0', '-1']) {
      const r = await s.api('POST', `/v1/rooms/${id}/messages`, { token: alice.token, body: { content: 'x' } })
      expect([404, 422]).toContain(r.status)
      expect(r.body).toEqual({ detail: expect.any(String), code: r.status === 404 ? 'not_found' : 'validation' })
    }
  })
})

describe('client_msg_id idempotency', () => {
  test('the same id and content again → 200 with the same message; one copy', async () => {
    const room = await groupRoom(s.api, alice, [bob])
    const first = await send(room.id, alice, { content: 'once', client_msg_id: 'idem-1' })
    expect(first.status).toBe(201)
    const again = await send(room.id, alice, { content: 'once', client_msg_id: 'idem-1' })
    expect(again.status).toBe(200)
    expect(again.body).toEqual(first.body)
    // the content is compared after trimming, as it is stored
    const padded = await send(room.id, alice, { content: '  once ', client_msg_id: 'idem-1' })
    expect(padded.status).toBe(200)
    expect(padded.body).toEqual(first.body)
    const l = await list(room.id, alice)
    expect(l.body.messages).toEqual([first.body])
    expect((await getRoom(room.id, alice)).body.last_seq).toBe(1)
  })

  test('the same id with different content → 409 conflict; the first message stays', async () => {
    const room = await groupRoom(s.api, alice)
    const first = await send(room.id, alice, { content: 'original', client_msg_id: 'idem-2' })
    expect(first.status).toBe(201)
    expectError(await send(room.id, alice, { content: 'changed', client_msg_id: 'idem-2' }), 409, 'conflict')
    expect((await list(room.id, alice)).body.messages).toEqual([first.body])
  })

  test('the same id from another sender, or in another room, is independent → 201', async () => {
    const room = await groupRoom(s.api, alice, [bob])
    const other = await groupRoom(s.api, alice)
    const a = await send(room.id, alice, { content: 'same', client_msg_id: 'shared-id' })
    const b = await send(room.id, bob, { content: 'same', client_msg_id: 'shared-id' })
    const c = await send(other.id, alice, { content: 'same', client_msg_id: 'shared-id' })
    expect([a.status, b.status, c.status]).toEqual([201, 201, 201])
    expect(new Set([a.body.id, b.body.id, c.body.id]).size).toBe(3)
    expect(b.body).toMatchObject({ seq: 2, client_msg_id: 'shared-id', sender: { id: bob.id } })
    expect(c.body).toMatchObject({ seq: 1, room_id: other.id, client_msg_id: 'shared-id' })
    expect(seqs(await list(room.id, alice))).toEqual([1, 2])
    // and each one is idempotent on its own
    const b2 = await send(room.id, bob, { content: 'same', client_msg_id: 'shared-id' })
    expect(b2.status).toBe(200)
    expect(b2.body).toEqual(b.body)
  })

  test('10 parallel POSTs with the same client_msg_id → exactly one message; every answer has its id', async () => {
    const room = await groupRoom(s.api, alice)
    const rs = await Promise.all(
      Array.from({ length: 10 }, () => send(room.id, alice, { content: 'parallel', client_msg_id: 'race-1' })),
    )
    expect(rs.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 200, 200, 200, 200, 200, 201])
    const ids = new Set(rs.map((r) => r.body.id))
    expect(ids.size).toBe(1)
    for (const r of rs) expect(r.body).toEqual(rs[0]!.body)
    const l = await list(room.id, alice)
    expect(l.body.messages).toHaveLength(1)
    expect(l.body.messages[0].id).toBe(rs[0]!.body.id)
    expect((await getRoom(room.id, alice)).body.last_seq).toBe(1)
  })

  test('parallel POSTs with the same client_msg_id but different content: one stored, the others 409', async () => {
    const room = await groupRoom(s.api, alice)
    const rs = await Promise.all(
      Array.from({ length: 6 }, (_, i) => send(room.id, alice, { content: `variant ${i}`, client_msg_id: 'race-2' })),
    )
    expect(rs.filter((r) => r.status === 201)).toHaveLength(1)
    for (const r of rs.filter((x) => x.status !== 201)) expectError(r, 409, 'conflict')
    const l = await list(room.id, alice)
    expect(l.body.messages).toEqual([rs.find((r) => r.status === 201)!.body])
  })

  test('the WebSocket send shares the REST idempotency key', async () => {
    const room = await groupRoom(s.api, alice)
    const first = await send(room.id, alice, { content: 'both ways', client_msg_id: 'idem-ws' })
    expect(first.status).toBe(201)
    const ws = await openWs(s, alice, '&auto_subscribe=false')
    ws.send({ type: 'message.send', room_id: room.id, content: 'both ways', client_msg_id: 'idem-ws' })
    const ack = await ws.next('ack')
    expect(ack).toEqual({ type: 'ack', client_msg_id: 'idem-ws', message: first.body })
    ws.close()
    expect((await list(room.id, alice)).body.messages).toHaveLength(1)
  })
})

describe('reply_to_id', () => {
  test('a message of the same room → 201 with reply_to_id', async () => {
    const room = await groupRoom(s.api, alice, [bob])
    const m = await send(room.id, alice, { content: 'question?' })
    const r = await send(room.id, bob, { content: 'answer', reply_to_id: m.body.id })
    expect(r.status).toBe(201)
    expect(r.body).toMatchObject({ reply_to_id: m.body.id, seq: 2, content: 'answer' })
    expect((await list(room.id, alice)).body.messages[1].reply_to_id).toBe(m.body.id)
  })

  test('a message of another room, or none → 422 validation; nothing stored', async () => {
    const room = await groupRoom(s.api, alice)
    const elsewhere = await groupRoom(s.api, alice)
    const foreign = await send(elsewhere.id, alice, { content: 'over there' })
    expect(foreign.status).toBe(201)
    expectError(await send(room.id, alice, { content: 'reply', reply_to_id: foreign.body.id }), 422, 'validation')
    expectError(await send(room.id, alice, { content: 'reply', reply_to_id: 2 ** 40 }), 422, 'validation')
    expect((await getRoom(room.id, alice)).body.last_seq).toBe(0)
  })
})

describe('GET /v1/rooms/:id/messages', () => {
  let room: { id: number }
  const N = 57

  beforeAll(async () => {
    room = await groupRoom(s.api, alice, [bob])
    await fill(room.id, alice, N)
  })

  test('an empty room → no messages, has_more false', async () => {
    const empty = await groupRoom(s.api, alice)
    const r = await list(empty.id, alice)
    expect(r.status).toBe(200)
    expect(r.body).toEqual({ messages: [], has_more: false })
  })

  test('without a cursor: the newest page of 50, ascending by seq', async () => {
    const r = await list(room.id, bob)
    expect(r.status).toBe(200)
    expect(Object.keys(r.body).sort()).toEqual(['has_more', 'messages'])
    expect(seqs(r)).toEqual(range(N - 49, N))
    expect(r.body.has_more).toBe(true)
    expect(r.body.messages[0].content).toBe(`m${N - 49}`)
    for (const m of r.body.messages) expect(Object.keys(m).sort()).toEqual(MESSAGE_KEYS)
  })

  test('limit picks the page size; has_more tells whether older ones exist', async () => {
    const r = await list(room.id, alice, '?limit=5')
    expect(seqs(r)).toEqual(range(N - 4, N))
    expect(r.body.has_more).toBe(true)
    const all = await list(room.id, alice, `?limit=${N}`)
    expect(seqs(all)).toEqual(range(1, N))
    expect(all.body.has_more).toBe(false)
    const max = await list(room.id, alice, '?limit=200')
    expect(max.status).toBe(200)
    expect(seqs(max)).toEqual(range(1, N))
    expect(max.body.has_more).toBe(false)
    const one = await list(room.id, alice, '?limit=1')
    expect(seqs(one)).toEqual([N])
    expect(one.body.has_more).toBe(true)
  })

  test('before_seq pages back through everything exactly once', async () => {
    const seen: number[] = []
    let r = await list(room.id, alice, '?limit=8')
    for (let pages = 0; ; pages++) {
      expect(r.status).toBe(200)
      const page = seqs(r)
      expect(page).toEqual([...page].sort((x, y) => x - y))
      seen.unshift(...page)
      if (!r.body.has_more) break
      expect(pages).toBeLessThan(20)
      r = await list(room.id, alice, `?limit=8&before_seq=${page[0]}`)
    }
    expect(seen).toEqual(range(1, N))
    const r2 = await list(room.id, alice, '?before_seq=4&limit=10')
    expect(seqs(r2)).toEqual([1, 2, 3])
    expect(r2.body.has_more).toBe(false)
    const r3 = await list(room.id, alice, '?before_seq=1')
    expect(r3.body).toEqual({ messages: [], has_more: false })
  })

  test('after_seq reads forward; has_more tells whether newer ones exist', async () => {
    const r = await list(room.id, alice, '?after_seq=3&limit=4')
    expect(seqs(r)).toEqual([4, 5, 6, 7])
    expect(r.body.has_more).toBe(true)
    const seen: number[] = []
    let after = 0
    for (let pages = 0; ; pages++) {
      const p = await list(room.id, alice, `?after_seq=${after}&limit=10`)
      expect(p.status).toBe(200)
      seen.push(...seqs(p))
      if (!p.body.has_more) break
      expect(pages).toBeLessThan(20)
      after = seqs(p).at(-1)!
    }
    expect(seen).toEqual(range(1, N))
    const tail = await list(room.id, alice, `?after_seq=${N - 2}`)
    expect(seqs(tail)).toEqual([N - 1, N])
    expect(tail.body.has_more).toBe(false)
    expect((await list(room.id, alice, `?after_seq=${N}`)).body).toEqual({ messages: [], has_more: false })
  })

  test('limit outside 1..200, or a bad cursor → 422 validation', async () => {
    for (const q of ['?limit=0', '?limit=201', '?limit=-1', '?limit=abc', '?limit=1.5', '?before_seq=-1', '?before_seq=2.5', '?after_seq=x', '?after_seq=0.5']) {
      expectError(await list(room.id, alice, q), 422, 'validation')
    }
  })

  test('a non-member → 403 not_member; an unknown room → 404 not_found', async () => {
    expectError(await list(room.id, carol), 403, 'not_member')
    expectError(await list(2 ** 40, alice), 404, 'not_found')
    expectError(await s.api('GET', `/v1/rooms/${room.id}/messages`), 401, 'unauthorized')
  })
})

describe('PATCH /v1/rooms/:id/messages/:mid', () => {
  test('the author → 200 with new content and edited_at; members’ sockets get message.updated', async () => {
    const room = await groupRoom(s.api, alice, [bob])
    const m = await send(room.id, alice, { content: 'typo', client_msg_id: 'edit-1' })
    const b = await follow(bob, room.id)
    const r = await s.api('PATCH', `/v1/rooms/${room.id}/messages/${m.body.id}`, { token: alice.token, body: { content: '  fixed  ' } })
    expect(r.status).toBe(200)
    expect(Object.keys(r.body).sort()).toEqual(MESSAGE_KEYS)
    expect(r.body).toEqual({ ...m.body, content: 'fixed', edited_at: expect.any(String) })
    expectIso(r.body.edited_at)
    expect(Date.parse(r.body.edited_at)).toBeGreaterThanOrEqual(Date.parse(m.body.created_at))
    const ev = await b.next('message.updated')
    expect(ev).toEqual({ type: 'message.updated', message: r.body })
    expect((await list(room.id, bob)).body.messages).toEqual([r.body])
    b.close()
  })

  test('another member → 403 forbidden, even the owner; the message is unchanged', async () => {
    const room = await groupRoom(s.api, alice, [bob])
    const m = await send(room.id, bob, { content: 'mine' })
    const r = await s.api('PATCH', `/v1/rooms/${room.id}/messages/${m.body.id}`, { token: alice.token, body: { content: 'hijacked' } })
    expectError(r, 403, 'forbidden')
    expect((await list(room.id, bob)).body.messages).toEqual([m.body])
  })

  test('empty content → 422 validation; too long → 422 message_too_long; missing → 422', async () => {
    const room = await groupRoom(s.api, alice)
    const m = await send(room.id, alice, { content: 'keep' })
    const patch = (body: unknown) => s.api('PATCH', `/v1/rooms/${room.id}/messages/${m.body.id}`, { token: alice.token, body })
    expectError(await patch({ content: '' }), 422, 'validation')
    expectError(await patch({ content: '  \n ' }), 422, 'validation')
    expectError(await patch({}), 422, 'validation')
    expectError(await patch({ content: '😀'.repeat(1001) }), 422, 'message_too_long')
    const ok = await patch({ content: '😀'.repeat(1000) })
    expect(ok.status).toBe(200)
    expect(ok.body.content).toBe('😀'.repeat(1000))
  })

  test('an unknown message, or one of another room → 404 not_found; a non-member → 403 not_member', async () => {
    const room = await groupRoom(s.api, alice, [bob])
    const other = await groupRoom(s.api, alice)
    const foreign = await send(other.id, alice, { content: 'elsewhere' })
    const patch = (rid: number, mid: number, u: TestUser) =>
      s.api('PATCH', `/v1/rooms/${rid}/messages/${mid}`, { token: u.token, body: { content: 'x' } })
    expectError(await patch(room.id, 2 ** 40, alice), 404, 'not_found')
    expectError(await patch(room.id, foreign.body.id, alice), 404, 'not_found')
    expectError(await patch(other.id, foreign.body.id, bob), 403, 'not_member')
    expect((await list(other.id, alice)).body.messages).toEqual([foreign.body])
  })
})

describe('DELETE /v1/rooms/:id/messages/:mid', () => {
  test('the author → 204; GET shows it deleted with the same id and seq; sockets get message.deleted', async () => {
    const room = await groupRoom(s.api, alice, [bob])
    await send(room.id, alice, { content: 'first' })
    const m = await send(room.id, bob, { content: 'oops', client_msg_id: 'del-1' })
    await send(room.id, alice, { content: 'third' })
    const a = await follow(alice, room.id)
    const r = await s.api('DELETE', `/v1/rooms/${room.id}/messages/${m.body.id}`, { token: bob.token })
    expect(r.status).toBe(204)
    expect(r.body).toBeNull()
    expect(await a.next('message.deleted')).toEqual({ type: 'message.deleted', room_id: room.id, message_id: m.body.id, seq: 2 })
    const l = await list(room.id, alice)
    expect(seqs(l)).toEqual([1, 2, 3])
    expect(l.body.messages[1]).toEqual({ ...m.body, content: '', attachment: null, deleted: true })
    a.close()
  })

  test('the owner or an admin may delete someone else’s message → 204', async () => {
    const room = await groupRoom(s.api, alice, [bob, carol])
    await s.chat.database.db.update(roomMembers).set({ role: 'admin' })
      .where(and(eq(roomMembers.roomId, room.id), eq(roomMembers.userId, carol.id)))
    const m1 = await send(room.id, bob, { content: 'by bob 1' })
    const m2 = await send(room.id, bob, { content: 'by bob 2' })
    expect((await s.api('DELETE', `/v1/rooms/${room.id}/messages/${m1.body.id}`, { token: alice.token })).status).toBe(204)
    expect((await s.api('DELETE', `/v1/rooms/${room.id}/messages/${m2.body.id}`, { token: carol.token })).status).toBe(204)
    const l = await list(room.id, bob)
    expect(l.body.messages.map((m: { deleted: boolean; content: string }) => [m.deleted, m.content])).toEqual([[true, ''], [true, '']])
  })

  test('a plain member deleting another’s message → 403 forbidden; it stays', async () => {
    const room = await groupRoom(s.api, alice, [bob, carol])
    const m = await send(room.id, alice, { content: 'the owner speaks' })
    const b = await send(room.id, bob, { content: 'bob speaks' })
    expectError(await s.api('DELETE', `/v1/rooms/${room.id}/messages/${m.body.id}`, { token: bob.token }), 403, 'forbidden')
    expectError(await s.api('DELETE', `/v1/rooms/${room.id}/messages/${b.body.id}`, { token: carol.token }), 403, 'forbidden')
    expect((await list(room.id, alice)).body.messages).toEqual([m.body, b.body])
  })

  test('an unknown message → 404; a non-member → 403 not_member', async () => {
    const room = await groupRoom(s.api, alice)
    const m = await send(room.id, alice, { content: 'x' })
    expectError(await s.api('DELETE', `/v1/rooms/${room.id}/messages/${2 ** 40}`, { token: alice.token }), 404, 'not_found')
    expectError(await s.api('DELETE', `/v1/rooms/${room.id}/messages/${m.body.id}`, { token: dave.token }), 403, 'not_member')
    expect((await list(room.id, alice)).body.messages[0].deleted).toBe(false)
  })
})

describe('POST /v1/rooms/:id/read and unread_count', () => {
  test('200 {last_read_seq, unread_count}; only forward; clamped to last_seq; others’ sockets get read', async () => {
    const room = await groupRoom(s.api, alice, [bob])
    await fill(room.id, alice, 5)
    const a = await follow(alice, room.id)
    const r = await read(room.id, bob, { seq: 3 })
    expect(r.status).toBe(200)
    expect(r.body).toEqual({ last_read_seq: 3, unread_count: 2 })
    expect(await a.next('read')).toEqual({ type: 'read', room_id: room.id, user_id: bob.id, seq: 3 })
    // a lower seq keeps the higher mark
    expect((await read(room.id, bob, { seq: 1 })).body).toEqual({ last_read_seq: 3, unread_count: 2 })
    expect((await read(room.id, bob, { seq: 0 })).body).toEqual({ last_read_seq: 3, unread_count: 2 })
    // beyond last_seq: clamped
    const far = await read(room.id, bob, { seq: 1_000_000 })
    expect(far.status).toBe(200)
    expect(far.body).toEqual({ last_read_seq: 5, unread_count: 0 })
    expect(await a.next('read')).toEqual({ type: 'read', room_id: room.id, user_id: bob.id, seq: 5 })
    const members = await s.api('GET', `/v1/rooms/${room.id}/members`, { token: alice.token })
    expect(members.body.members.find((m: { user: { id: number } }) => m.user.id === bob.id).last_read_seq).toBe(5)
    // a later message is unread again
    await send(room.id, alice, { content: 'six' })
    expect((await read(room.id, bob, { seq: 5 })).body).toEqual({ last_read_seq: 5, unread_count: 1 })
    a.close()
  })

  test('bad seq → 422 validation; non-member → 403; unknown room → 404', async () => {
    const room = await groupRoom(s.api, alice, [bob])
    await fill(room.id, alice, 2)
    for (const body of [{ seq: -1 }, { seq: 'x' }, { seq: 1.5 }, {}, { seq: null }]) {
      expectError(await read(room.id, bob, body), 422, 'validation')
    }
    expectError(await s.api('POST', `/v1/rooms/${room.id}/read`, { token: bob.token, raw: 'nope' }), 400, 'bad_request')
    expectError(await read(room.id, carol, { seq: 1 }), 403, 'not_member')
    expectError(await read(2 ** 40, bob, { seq: 1 }), 404, 'not_found')
    expect((await getRoom(room.id, bob)).body.unread_count).toBe(2)
  })

  test('unread_count in GET /v1/rooms/:id counts others’ messages after the mark; sending moves the sender’s mark', async () => {
    const room = await groupRoom(s.api, alice, [bob])
    const unread = async (u: TestUser) => {
      const r = await getRoom(room.id, u)
      expect(r.status).toBe(200)
      return r.body.unread_count as number
    }
    expect([await unread(alice), await unread(bob)]).toEqual([0, 0])
    await fill(room.id, alice, 3)
    // own messages are never unread
    expect([await unread(alice), await unread(bob)]).toEqual([0, 3])
    expect((await read(room.id, bob, { seq: 1 })).body).toEqual({ last_read_seq: 1, unread_count: 2 })
    expect(await unread(bob)).toBe(2)
    // bob sends: his mark moves to his message
    const mine = await send(room.id, bob, { content: 'caught up' })
    expect(mine.body.seq).toBe(4)
    expect([await unread(alice), await unread(bob)]).toEqual([1, 0])
    await fill(room.id, alice, 2, 'more')
    expect([await unread(alice), await unread(bob)]).toEqual([0, 2])
    expect((await read(room.id, alice, { seq: 6 })).body).toEqual({ last_read_seq: 6, unread_count: 0 })
    // the room list agrees
    const rooms = await s.api('GET', '/v1/rooms', { token: bob.token })
    expect(rooms.body.rooms.find((r: { id: number }) => r.id === room.id).unread_count).toBe(2)
  })

  test('a deleted message is not unread: the room, the room list, a space\'s channels and POST /read agree', async () => {
    const room = await groupRoom(s.api, alice, [bob])
    const sent = [await send(room.id, alice, { content: 'one' }), await send(room.id, alice, { content: 'two' }), await send(room.id, alice, { content: 'three' })]
    expect((await getRoom(room.id, bob)).body.unread_count).toBe(3)
    expect((await s.api('DELETE', `/v1/rooms/${room.id}/messages/${sent[1]!.body.id}`, { token: alice.token })).status).toBe(204)
    expect((await getRoom(room.id, bob)).body.unread_count).toBe(2)
    const listed = await s.api('GET', '/v1/rooms', { token: bob.token })
    expect(listed.body.rooms.find((r: { id: number }) => r.id === room.id).unread_count).toBe(2)
    expect((await read(room.id, bob, { seq: 1 })).body).toEqual({ last_read_seq: 1, unread_count: 1 })
    expect((await s.api('DELETE', `/v1/rooms/${room.id}/messages/${sent[2]!.body.id}`, { token: alice.token })).status).toBe(204)
    expect((await getRoom(room.id, bob)).body.unread_count).toBe(0)
    // a channel: the same count through GET /v1/spaces
    const space = await s.api('POST', '/v1/spaces', { token: alice.token, body: { name: `unread-${Date.now()}`, visibility: 'public' } })
    expect(space.status).toBe(201)
    expect((await s.api('POST', `/v1/spaces/${space.body.id}/join`, { token: bob.token, body: {} })).status).toBe(200)
    const general = space.body.channels[0].id as number
    const c1 = await send(general, alice, { content: 'c1' })
    await send(general, alice, { content: 'c2' })
    expect((await s.api('DELETE', `/v1/rooms/${general}/messages/${c1.body.id}`, { token: alice.token })).status).toBe(204)
    const spaces = await s.api('GET', '/v1/spaces', { token: bob.token })
    const channel = spaces.body.spaces.find((x: { id: number }) => x.id === space.body.id).channels.find((c: { id: number }) => c.id === general)
    expect(channel.unread_count).toBe(1)
  })

  test('a member added again starts caught up: own earlier messages are never unread', async () => {
    const room = await groupRoom(s.api, alice, [bob])
    await send(room.id, alice, { content: 'one' })
    await send(room.id, bob, { content: 'two' })
    await send(room.id, bob, { content: 'three' })
    expect((await s.api('POST', `/v1/rooms/${room.id}/leave`, { token: bob.token })).status).toBe(204)
    expect((await s.api('POST', `/v1/rooms/${room.id}/members`, { token: alice.token, body: { user_ids: [bob.id] } })).status).toBe(200)
    expect((await getRoom(room.id, bob)).body.unread_count).toBe(0)
    expect((await read(room.id, bob, { seq: 0 })).body).toEqual({ last_read_seq: 3, unread_count: 0 })
    await send(room.id, alice, { content: 'four' })
    expect((await getRoom(room.id, bob)).body.unread_count).toBe(1)
  })

  test('a WebSocket send also moves the sender’s mark', async () => {
    const room = await groupRoom(s.api, alice, [bob])
    await fill(room.id, alice, 2)
    const b = await openWs(s, bob, '&auto_subscribe=false')
    b.send({ type: 'message.send', room_id: room.id, content: 'via ws', client_msg_id: 'ws-mark' })
    expect((await b.next('ack')).message.seq).toBe(3)
    expect((await getRoom(room.id, bob)).body.unread_count).toBe(0)
    expect((await getRoom(room.id, alice)).body.unread_count).toBe(1)
    b.close()
  })
})

describe('rate limit (RATE_MESSAGES=2, burst 4)', () => {
  let rs: TestServer
  let u1: TestUser
  let u2: TestUser
  let u3: TestUser
  let u4: TestUser
  let room: { id: number }

  beforeAll(async () => {
    rs = await startServer({ RATE_MESSAGES: '2' })
    ;[u1, u2, u3, u4] = await Promise.all([register(rs.api, 'r1'), register(rs.api, 'r2'), register(rs.api, 'r3'), register(rs.api, 'r4')])
    room = await groupRoom(rs.api, u1, [u2, u3, u4])
  })
  afterAll(() => rs.close())

  const wsOpen = (u: TestUser) => openWs(rs, u, '&auto_subscribe=false')

  test('10 quick REST sends: some 429 rate_limited with an integer Retry-After ≥ 1; only the accepted are stored', async () => {
    const res = await Promise.all(Array.from({ length: 10 }, (_, i) => send(room.id, u1, { content: `burst ${i}` }, rs)))
    const ok = res.filter((r) => r.status === 201)
    const limited = res.filter((r) => r.status !== 201)
    expect(ok.length).toBeGreaterThanOrEqual(1)
    expect(limited.length).toBeGreaterThanOrEqual(1)
    for (const r of limited) {
      expectError(r, 429, 'rate_limited')
      const ra = r.headers.get('retry-after')
      expect(ra).toMatch(/^\d+$/)
      expect(Number(ra)).toBeGreaterThanOrEqual(1)
    }
    const l = await rs.api('GET', `/v1/rooms/${room.id}/messages?limit=200`, { token: u1.token })
    expect(l.body.messages.filter((m: { sender: { id: number } }) => m.sender.id === u1.id)).toHaveLength(ok.length)
  })

  test('a WebSocket message.send past the limit gets error {code: rate_limited, client_msg_id}', async () => {
    const ws = await wsOpen(u2)
    const ids = Array.from({ length: 10 }, (_, i) => `ws-burst-${i}`)
    for (const id of ids) ws.send({ type: 'message.send', room_id: room.id, content: id, client_msg_id: id })
    await until(() => ws.all('ack').length + ws.all('error').length >= 10, 10_000, 'ten answers')
    const acks = ws.all('ack')
    const errors = ws.all('error')
    expect(acks.length + errors.length).toBe(10)
    expect(acks.length).toBeGreaterThanOrEqual(1)
    expect(errors.length).toBeGreaterThanOrEqual(1)
    for (const e of errors) {
      expect(e.code).toBe('rate_limited')
      expect(typeof e.detail).toBe('string')
      expect(ids).toContain(e.client_msg_id)
    }
    expect([...acks, ...errors].map((f: Frame) => f.client_msg_id as string).sort()).toEqual([...ids].sort())
    ws.close()
  })

  test('REST then WebSocket share one bucket', async () => {
    const ws = await wsOpen(u3)
    const res = await Promise.all(Array.from({ length: 10 }, (_, i) => send(room.id, u3, { content: `rest ${i}` }, rs)))
    expect(res.some((r) => r.status === 429)).toBe(true)
    for (const id of ['after-rest-1', 'after-rest-2', 'after-rest-3']) {
      ws.send({ type: 'message.send', room_id: room.id, content: id, client_msg_id: id })
    }
    const err = await ws.next((f) => f.type === 'error')
    expect(err).toMatchObject({ code: 'rate_limited', client_msg_id: expect.stringMatching(/^after-rest-/) })
    ws.close()
  })

  test('WebSocket then REST share one bucket', async () => {
    const ws = await wsOpen(u4)
    for (let i = 0; i < 10; i++) ws.send({ type: 'message.send', room_id: room.id, content: `ws ${i}`, client_msg_id: `u4-${i}` })
    await ws.next((f) => f.type === 'error' && f.code === 'rate_limited')
    const res = await Promise.all(Array.from({ length: 3 }, (_, i) => send(room.id, u4, { content: `after ws ${i}` }, rs)))
    const limited = res.filter((r) => r.status === 429)
    expect(limited.length).toBeGreaterThanOrEqual(1)
    for (const r of limited) expectError(r, 429, 'rate_limited')
    ws.close()
  })
})
