import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { highlight, likePattern } from '../src/chat/search'
import { groupRoom, register, startServer, type TestServer, type TestUser } from './helpers'

// per file: Bun applies a preload's default timeout to the first file only, and hooks start servers
setDefaultTimeout(60_000)

let s: TestServer
let alice: TestUser
let bob: TestUser
let eve: TestUser
let room: { id: number }
let other: { id: number }

const send = (u: TestUser, roomId: number, content: string) =>
  s.api('POST', `/v1/rooms/${roomId}/messages`, { token: u.token, body: { content } })

beforeAll(async () => {
  s = await startServer({ RATE_MESSAGES: '0' })
  ;[alice, bob, eve] = await Promise.all([register(s.api, 'alice'), register(s.api, 'bob'), register(s.api, 'eve')])
  room = await groupRoom(s.api, alice, [bob])
  other = await groupRoom(s.api, bob, [])
  for (const c of ['안녕하세요 여러분', 'Hello World', 'nothing here', 'say HELLO again', 'a <script>alert("hello")</script> & co', '100% sure_thing']) {
    await send(alice, room.id, c)
  }
  await send(bob, other.id, 'hello from the other room')
})
afterAll(() => s.close())

describe('highlight', () => {
  test('wraps each case-insensitive match and escapes the rest', () => {
    expect(highlight('Hello <b>hello</b>', 'hello')).toBe('<mark>Hello</mark> &lt;b&gt;<mark>hello</mark>&lt;/b&gt;')
    expect(highlight('안녕하세요', '녕하')).toBe('안<mark>녕하</mark>세요')
    expect(highlight('a.b*c', '.b*')).toBe('a<mark>.b*</mark>c')
  })
  test('LIKE wildcards in the query are literal', () => {
    expect(likePattern('100%_x')).toBe('%100\\%\\_x%')
  })
})

describe('room search', () => {
  test('finds Korean substrings', async () => {
    const r = await s.api('GET', `/v1/rooms/${room.id}/search?q=${encodeURIComponent('녕하')}`, { token: bob.token })
    expect(r.status).toBe(200)
    expect(r.body.messages.map((m: { content: string }) => m.content)).toEqual(['안녕하세요 여러분'])
    expect(r.body.messages[0].highlight).toBe('안<mark>녕하</mark>세요 여러분')
    expect(r.body.has_more).toBe(false)
  })

  test('case-insensitive English, newest first, highlights escaped', async () => {
    const r = await s.api('GET', `/v1/rooms/${room.id}/search?q=hello`, { token: alice.token })
    expect(r.body.messages.map((m: { content: string }) => m.content)).toEqual([
      'a <script>alert("hello")</script> & co', 'say HELLO again', 'Hello World',
    ])
    expect(r.body.messages[0].highlight).toBe('a &lt;script&gt;alert(&quot;<mark>hello</mark>&quot;)&lt;/script&gt; &amp; co')
    expect(r.body.messages[1].highlight).toBe('say <mark>HELLO</mark> again')
    expect(r.body.messages[0]).toMatchObject({ room_id: room.id, type: 'text', deleted: false })
  })

  test('limit, has_more and before_seq page back', async () => {
    const first = await s.api('GET', `/v1/rooms/${room.id}/search?q=hello&limit=2`, { token: alice.token })
    expect(first.body.messages).toHaveLength(2)
    expect(first.body.has_more).toBe(true)
    const seq = first.body.messages[1].seq
    const next = await s.api('GET', `/v1/rooms/${room.id}/search?q=hello&limit=2&before_seq=${seq}`, { token: alice.token })
    expect(next.body.messages.map((m: { content: string }) => m.content)).toEqual(['Hello World'])
    expect(next.body.has_more).toBe(false)
  })

  test('% and _ are matched literally', async () => {
    const r = await s.api('GET', `/v1/rooms/${room.id}/search?q=${encodeURIComponent('0% s')}`, { token: alice.token })
    expect(r.body.messages.map((m: { content: string }) => m.content)).toEqual(['100% sure_thing'])
    const none = await s.api('GET', `/v1/rooms/${room.id}/search?q=${encodeURIComponent('s_r')}`, { token: alice.token })
    expect(none.body.messages).toEqual([])
  })

  test('finds messages before and after the indexer ran, and not deleted ones', async () => {
    await s.chat.search.indexPending()
    const sent = await send(alice, room.id, 'fresh hello after indexing')
    const r = await s.api('GET', `/v1/rooms/${room.id}/search?q=fresh%20hello`, { token: alice.token })
    expect(r.body.messages.map((m: { id: number }) => m.id)).toEqual([sent.body.id])
    await s.api('DELETE', `/v1/rooms/${room.id}/messages/${sent.body.id}`, { token: alice.token })
    const gone = await s.api('GET', `/v1/rooms/${room.id}/search?q=fresh%20hello`, { token: alice.token })
    expect(gone.body.messages).toEqual([])
  })

  test('edits are searchable by their new text', async () => {
    const sent = await send(alice, room.id, 'original wording')
    await s.chat.search.indexPending()
    await s.api('PATCH', `/v1/rooms/${room.id}/messages/${sent.body.id}`, { token: alice.token, body: { content: 'revised wording' } })
    const r = await s.api('GET', `/v1/rooms/${room.id}/search?q=revised`, { token: alice.token })
    expect(r.body.messages.map((m: { id: number }) => m.id)).toEqual([sent.body.id])
    const old = await s.api('GET', `/v1/rooms/${room.id}/search?q=original`, { token: alice.token })
    expect(old.body.messages).toEqual([])
  })

  test('errors: non-member 403, empty q 422, bad limit 422, no token 401', async () => {
    expect((await s.api('GET', `/v1/rooms/${room.id}/search?q=hello`, { token: eve.token })).body.code).toBe('not_member')
    const empty = await s.api('GET', `/v1/rooms/${room.id}/search?q=%20`, { token: alice.token })
    expect([empty.status, empty.body.code]).toEqual([422, 'validation'])
    expect((await s.api('GET', `/v1/rooms/${room.id}/search`, { token: alice.token })).status).toBe(422)
    expect((await s.api('GET', `/v1/rooms/${room.id}/search?q=a&limit=0`, { token: alice.token })).status).toBe(422)
    expect((await s.api('GET', `/v1/rooms/${room.id}/search?q=a&limit=201`, { token: alice.token })).status).toBe(422)
    expect((await s.api('GET', `/v1/rooms/${room.id}/search?q=a`)).status).toBe(401)
  })
})

describe('search across rooms', () => {
  test('covers every room of the caller and no other', async () => {
    const b = await s.api('GET', '/v1/search?q=hello', { token: bob.token })
    expect(b.status).toBe(200)
    const rooms = new Set(b.body.messages.map((m: { room_id: number }) => m.room_id))
    expect(rooms).toEqual(new Set([room.id, other.id]))
    const a = await s.api('GET', '/v1/search?q=hello', { token: alice.token })
    expect(a.body.messages.every((m: { room_id: number }) => m.room_id === room.id)).toBe(true)
    const e = await s.api('GET', '/v1/search?q=hello', { token: eve.token })
    expect(e.body.messages).toEqual([])
    // newest first across rooms
    const ids = b.body.messages.map((m: { id: number }) => m.id)
    expect(ids).toEqual([...ids].sort((x: number, y: number) => y - x))
  })
})
