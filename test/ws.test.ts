import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { groupRoom, openWs, register, startServer, TestSocket, until, type TestServer, type TestUser } from './helpers'

// per file: Bun applies a preload's default timeout to the first file only, and hooks start servers
setDefaultTimeout(60_000)

let s: TestServer
let alice: TestUser
let bob: TestUser
let carol: TestUser

beforeAll(async () => {
  s = await startServer({ RATE_MESSAGES: '0' })
  ;[alice, bob, carol] = await Promise.all([register(s.api, 'alice'), register(s.api, 'bob'), register(s.api, 'carol')])
})
afterAll(() => s.close())

describe('upgrade', () => {
  test('refuses a missing or bad token with 401 before the upgrade', async () => {
    for (const q of ['', '?token=nope']) {
      const r = await fetch(`${s.url}/v1/ws${q}`, { headers: { upgrade: 'websocket', connection: 'upgrade', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-version': '13' } })
      expect(r.status).toBe(401)
      expect(((await r.json()) as { code: string }).code).toBe('unauthorized')
    }
  })

  test('the first frame is ready with the user, rooms and a session id', async () => {
    const room = await groupRoom(s.api, alice)
    const ws = new TestSocket(`${s.wsUrl}/v1/ws?token=${alice.token}`)
    const ready = await ws.next(() => true)
    expect(ready.type).toBe('ready')
    expect(ready.user.id).toBe(alice.id)
    expect(ready.rooms).toContainEqual({ id: room.id, last_seq: 0 })
    expect(typeof ready.session_id).toBe('string')
    ws.close()
  })

  test('accepts the token as Sec-WebSocket-Protocol "bearer, <token>"', async () => {
    const ws = await TestSocket.open(`${s.wsUrl}/v1/ws`, ['bearer', alice.token])
    expect(ws.ws.protocol).toBe('bearer')
    ws.close()
  })

  test('per-room socket: 403 before the upgrade for a non-member', async () => {
    const room = await groupRoom(s.api, alice)
    const r = await fetch(`${s.url}/v1/rooms/${room.id}/ws?token=${carol.token}`, {
      headers: { upgrade: 'websocket', connection: 'upgrade', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-version': '13' },
    })
    expect(r.status).toBe(403)
    expect(((await r.json()) as { code: string }).code).toBe('not_member')
  })
})

describe('chat', () => {
  test('two users in a room get each other’s messages; the sender gets an ack', async () => {
    const room = await groupRoom(s.api, alice, [bob])
    const a = await openWs(s, alice)
    const b = await openWs(s, bob)
    a.send({ type: 'message.send', room_id: room.id, content: 'hi bob', client_msg_id: 'a1' })
    const ack = await a.next('ack')
    expect(ack.client_msg_id).toBe('a1')
    expect(ack.message).toMatchObject({ room_id: room.id, seq: 1, content: 'hi bob', client_msg_id: 'a1' })
    const got = await b.next('message.created')
    expect(got.message).toEqual(ack.message)
    // the sender's own sockets get the message.created too (before or after the ack)
    expect((await a.waitCount('message.created', 1))[0]!.message.id).toBe(ack.message.id)
    b.send({ type: 'message.send', room_id: room.id, content: 'hi alice' })
    const mine = await a.waitCount('message.created', 2)
    expect(mine[1]!.message).toMatchObject({ seq: 2, content: 'hi alice', sender: { id: bob.id } })
    a.close()
    b.close()
  })

  test('REST sends reach sockets too', async () => {
    const room = await groupRoom(s.api, alice, [bob])
    const b = await openWs(s, bob)
    const r = await s.api('POST', `/v1/rooms/${room.id}/messages`, { token: alice.token, body: { content: 'over rest' } })
    expect(r.status).toBe(201)
    expect((await b.next('message.created')).message).toEqual(r.body)
    b.close()
  })

  test('3 concurrent senders: every socket sees seq 1..N in order, no gaps, no duplicates', async () => {
    const room = await groupRoom(s.api, alice, [bob, carol])
    const socks = await Promise.all([openWs(s, alice), openWs(s, bob), openWs(s, carol), openWs(s, alice)])
    const per = 60
    await Promise.all(
      socks.slice(0, 3).map(async (ws, i) => {
        for (let k = 0; k < per; k++) ws.send({ type: 'message.send', room_id: room.id, content: `m${i}-${k}`, client_msg_id: `${i}-${k}` })
      }),
    )
    const n = per * 3
    for (const ws of socks) {
      const got = await ws.waitCount('message.created', n, 15_000, (f) => f.message.room_id === room.id)
      expect(got.map((f) => f.message.seq)).toEqual(Array.from({ length: n }, (_, i) => i + 1))
    }
    for (const ws of socks.slice(0, 3)) expect((await ws.waitCount('ack', per)).length).toBe(per)
    socks.forEach((w) => w.close())
  })

  test('typing is relayed to the other members, not echoed', async () => {
    const room = await groupRoom(s.api, alice, [bob])
    const a = await openWs(s, alice)
    const b = await openWs(s, bob)
    a.send({ type: 'typing', room_id: room.id, is_typing: true })
    const t = await b.next('typing')
    expect(t).toEqual({ type: 'typing', room_id: room.id, user_id: alice.id, nickname: 'alice', is_typing: true })
    a.send({ type: 'ping' })
    await a.next('pong')
    expect(a.all('typing')).toHaveLength(0)
    a.close()
    b.close()
  })

  test('a room joined while the socket is open is followed (auto_subscribe)', async () => {
    const room = await groupRoom(s.api, alice, [], { visibility: 'public' })
    const b = await openWs(s, bob)
    const joined = await s.api('POST', `/v1/rooms/${room.id}/join`, { token: bob.token })
    expect(joined.status).toBe(200)
    expect((await b.next('room.created')).room.id).toBe(room.id)
    // the subscription completes asynchronously after room.created
    await until(async () => {
      await s.api('POST', `/v1/rooms/${room.id}/messages`, { token: alice.token, body: { content: 'welcome' } })
      return b.all('message.created').some((f) => f.message.room_id === room.id)
    }, 3000, 'the new room’s messages')
    b.close()
  })

  test('auto_subscribe=false gets only own events until subscribe', async () => {
    const room = await groupRoom(s.api, alice, [bob])
    const b = await openWs(s, bob, '&auto_subscribe=false')
    await s.api('POST', `/v1/rooms/${room.id}/messages`, { token: alice.token, body: { content: 'not seen' } })
    b.send({ type: 'subscribe', room_id: room.id })
    const sub = await b.next('subscribed')
    expect(sub).toEqual({ type: 'subscribed', room_id: room.id, last_seq: 1 })
    expect(b.all('message.created')).toHaveLength(0)
    await s.api('POST', `/v1/rooms/${room.id}/messages`, { token: alice.token, body: { content: 'seen' } })
    expect((await b.next('message.created')).message.seq).toBe(2)
    b.send({ type: 'unsubscribe', room_id: room.id })
    expect(await b.next('unsubscribed')).toEqual({ type: 'unsubscribed', room_id: room.id })
    await s.api('POST', `/v1/rooms/${room.id}/messages`, { token: alice.token, body: { content: 'not seen either' } })
    b.send({ type: 'ping' })
    await b.next('pong')
    expect(b.all('message.created')).toHaveLength(1)
    b.close()
  })
})

describe('resume', () => {
  test('subscribe with after_seq replays, then goes live: no gap, no duplicate at the seam', async () => {
    const room = await groupRoom(s.api, alice, [bob])
    for (let i = 0; i < 20; i++) {
      await s.api('POST', `/v1/rooms/${room.id}/messages`, { token: alice.token, body: { content: `before ${i}` } })
    }
    const a = await openWs(s, alice)
    const b = await openWs(s, bob, '&auto_subscribe=false')
    // keep sending while bob resumes
    const sending = (async () => {
      for (let i = 0; i < 40; i++) a.send({ type: 'message.send', room_id: room.id, content: `during ${i}` })
    })()
    b.send({ type: 'subscribe', room_id: room.id, after_seq: 5 })
    await sending
    const got = await b.waitCount('message.created', 55)
    expect(got.map((f) => f.message.seq)).toEqual(Array.from({ length: 55 }, (_, i) => i + 6))
    // when the replay's catch-up covered every live message too, `subscribed` comes after the 55th
    await b.next('subscribed')
    const sub = b.frames.findIndex((f) => f.type === 'subscribed')
    expect(sub).toBeGreaterThan(0)
    expect(b.frames[sub]!.last_seq).toBe(b.frames.slice(0, sub).filter((f) => f.type === 'message.created').at(-1)!.message.seq)
    a.close()
    b.close()
  })

  test('per-room socket resumes after after_seq', async () => {
    const room = await groupRoom(s.api, alice, [bob])
    for (let i = 0; i < 5; i++) await s.api('POST', `/v1/rooms/${room.id}/messages`, { token: alice.token, body: { content: `m${i}` } })
    const b = await TestSocket.open(`${s.wsUrl}/v1/rooms/${room.id}/ws?token=${bob.token}&after_seq=2`)
    const got = await b.waitCount('message.created', 3)
    expect(got.map((f) => f.message.seq)).toEqual([3, 4, 5])
    expect(await b.next('subscribed')).toEqual({ type: 'subscribed', room_id: room.id, last_seq: 5 })
    b.close()
  })

  test('more than 1000 missing: resync_required and no subscription', async () => {
    const room = await groupRoom(s.api, alice, [bob])
    const a = await openWs(s, alice)
    for (let i = 0; i < 1002; i++) a.send({ type: 'message.send', room_id: room.id, content: `bulk ${i}` })
    await a.waitCount('ack', 1002, 30_000)
    const b = await openWs(s, bob, '&auto_subscribe=false')
    b.send({ type: 'subscribe', room_id: room.id, after_seq: 1 })
    expect(await b.next('resync_required')).toEqual({ type: 'resync_required', room_id: room.id, last_seq: 1002 })
    b.send({ type: 'subscribe', room_id: room.id, after_seq: 1000 })
    expect((await b.waitCount('message.created', 2)).map((f) => f.message.seq)).toEqual([1001, 1002])
    expect((await b.next('subscribed')).last_seq).toBe(1002)
    a.close()
    b.close()
  })
})

describe('bad frames', () => {
  test('not JSON, unknown type, failed validation: an error frame, the socket lives on', async () => {
    const a = await openWs(s, alice)
    a.send('not json')
    expect(await a.next('error')).toMatchObject({ code: 'bad_request' })
    a.send({ type: 'nope' })
    expect(await a.next('error')).toMatchObject({ code: 'bad_request' })
    a.send({ type: 'message.send', room_id: 'x', content: 'hi' })
    expect(await a.next('error')).toMatchObject({ code: 'validation' })
    a.send({ type: 'message.send', room_id: 999999, content: 'hi', client_msg_id: 'z' })
    expect(await a.next('error')).toMatchObject({ code: 'not_found', client_msg_id: 'z' })
    const room = await groupRoom(s.api, bob)
    a.send({ type: 'message.send', room_id: room.id, content: 'hi', client_msg_id: 'y' })
    expect(await a.next('error')).toMatchObject({ code: 'not_member', client_msg_id: 'y' })
    a.send({ type: 'subscribe', room_id: room.id })
    expect(await a.next('error')).toMatchObject({ code: 'not_member' })
    a.send({ type: 'message.send', room_id: room.id, content: '   ' })
    expect(await a.next('error')).toMatchObject({ code: 'validation' })
    a.send({ type: 'ping' })
    expect(await a.next('pong')).toEqual({ type: 'pong' })
    a.close()
  })

  test('a frame over MAX_FRAME_BYTES closes the socket with 1009', async () => {
    const a = await openWs(s, alice)
    a.send({ type: 'ping', pad: 'x'.repeat(s.config.MAX_FRAME_BYTES + 10) })
    expect((await a.closed).code).toBe(1009)
  })

  test('repeated abuse closes the socket with 1008', async () => {
    const a = await openWs(s, alice)
    for (let i = 0; i < 30; i++) a.send('garbage')
    expect((await a.closed).code).toBe(1008)
  })
})
