import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { createAccessTokens } from '../src/auth/tokens'
import {
  freshPostgres, groupRoom, openWs, PG_URL, REDIS_URL, register, startServer, TestSocket, until,
  type TestServer, type TestUser,
} from './helpers'
import { Opcode, RawWebSocket } from './raw-socket'

// per file: Bun applies a preload's default timeout to the first file only, and hooks start servers
setDefaultTimeout(60_000)

/** The claims of a JWT, unchecked (the test reads what the server signed). */
const claimsOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { sid: string; exp: number; sub: string }

/** A token the server accepts (same secret as startServer), for `user`'s login, living `ttl` seconds. */
const mint = (user: TestUser, ttl: number) => createAccessTokens('test-secret', ttl).sign(user.id, claimsOf(user.token).sid)

/** A second login of the same user: its own sid, refresh token and sockets. */
async function login(s: TestServer, u: TestUser): Promise<TestUser> {
  const r = await s.api('POST', '/v1/auth/login', { body: { email: u.email, password: 'password123' } })
  if (r.status !== 200) throw new Error(`login failed: ${r.status} ${JSON.stringify(r.body)}`)
  return { ...u, token: r.body.access, refresh: r.body.refresh }
}

/** Sends `n` messages over REST (each committed before the next). */
async function post(s: TestServer, u: TestUser, roomId: number, n: number) {
  for (let i = 0; i < n; i++) {
    const r = await s.api('POST', `/v1/rooms/${roomId}/messages`, { token: u.token, body: { content: `m${i}` } })
    if (r.status !== 201) throw new Error(`send failed: ${r.status}`)
  }
}

let s: TestServer
let alice: TestUser
let bob: TestUser

beforeAll(async () => {
  s = await startServer({ RATE_MESSAGES: '0' })
  ;[alice, bob] = await Promise.all([register(s.api, 'alice'), register(s.api, 'bob')])
}, 60_000) // starting a node takes seconds on a loaded box
afterAll(() => s.close())

describe('after_seq above the room’s last_seq', () => {
  test('subscribe: taken as last_seq for that socket; every other socket on the node keeps getting live messages', async () => {
    const room = await groupRoom(s.api, alice, [bob])
    await post(s, alice, room.id, 3)
    const watcher = await openWs(s, bob)
    const a = await openWs(s, alice, '&auto_subscribe=false')
    a.send({ type: 'subscribe', room_id: room.id, after_seq: 100_000_000 })
    expect(await a.next('subscribed')).toEqual({ type: 'subscribed', room_id: room.id, last_seq: 3 })
    expect(a.all('message.created')).toEqual([])
    await post(s, alice, room.id, 1)
    expect((await watcher.next('message.created')).message.seq).toBe(4)
    expect((await a.next('message.created')).message.seq).toBe(4)
    // a fresh subscriber on this node sees the room where it is
    const b = await openWs(s, bob, '&auto_subscribe=false')
    b.send({ type: 'subscribe', room_id: room.id })
    expect(await b.next('subscribed')).toEqual({ type: 'subscribed', room_id: room.id, last_seq: 4 })
    for (const x of [watcher, a, b]) x.close()
  })

  test('per-room socket ?after_seq=999999999999: same, nothing moves for anyone else', async () => {
    const room = await groupRoom(s.api, alice, [bob])
    await post(s, alice, room.id, 2)
    const watcher = await openWs(s, bob)
    const r = await TestSocket.open(`${s.wsUrl}/v1/rooms/${room.id}/ws?token=${alice.token}&after_seq=999999999999`)
    expect(await r.next('subscribed')).toEqual({ type: 'subscribed', room_id: room.id, last_seq: 2 })
    await post(s, alice, room.id, 1)
    expect((await watcher.next('message.created')).message.seq).toBe(3)
    expect((await r.next('message.created')).message.seq).toBe(3)
    watcher.close()
    r.close()
  })
})

describe('resync_required', () => {
  test('carries the room’s last_seq when no other socket on the node follows the room; 1000 missing still replay', async () => {
    // users of their own: no socket left by another test follows the room
    const [alice, bob] = await Promise.all([register(s.api, 'sender'), register(s.api, 'late')])
    const room = await groupRoom(s.api, alice, [bob])
    // the sender follows no room: nothing on this node tracks it
    const a = await openWs(s, alice, '&auto_subscribe=false')
    for (let i = 0; i < 1003; i++) a.send({ type: 'message.send', room_id: room.id, content: `bulk ${i}` })
    await a.waitCount('ack', 1003, 60_000)
    a.close()
    await until(() => s.chat.hub.deliveredSeq(room.id) === -1, 10_000, 'nobody on the node to follow the room')
    const b = await openWs(s, bob, '&auto_subscribe=false')
    b.send({ type: 'subscribe', room_id: room.id, after_seq: 0 })
    expect(await b.next('resync_required')).toEqual({ type: 'resync_required', room_id: room.id, last_seq: 1003 })
    b.send({ type: 'subscribe', room_id: room.id, after_seq: 3 })
    const sub = await b.next('subscribed', 30_000)
    expect(sub).toEqual({ type: 'subscribed', room_id: room.id, last_seq: 1003 })
    expect(b.all('message.created').map((f) => f.message.seq)).toEqual(Array.from({ length: 1000 }, (_, i) => i + 4))
    b.close()
  }, 90_000)
})

describe('credentials', () => {
  test('ready.expires_at is when the socket’s access token expires; the token names its login (sid)', async () => {
    const c = claimsOf(alice.token)
    expect(c.sid).toMatch(/^[0-9a-f-]{36}$/)
    const a = await openWs(s, alice)
    expect(a.frames[0]!.expires_at).toBe(new Date(c.exp * 1000).toISOString())
    a.close()
  })

  test('the socket is closed with 4001 when its token expires', async () => {
    const token = await mint(alice, 2)
    const exp = claimsOf(token).exp * 1000
    const a = await TestSocket.open(`${s.wsUrl}/v1/ws?token=${token}`)
    expect(a.frames[0]!.expires_at).toBe(new Date(exp).toISOString())
    const closed = await a.closed
    expect(closed.code).toBe(4001)
    expect(Date.now()).toBeGreaterThanOrEqual(exp)
  }, 20_000)

  test('auth with a fresh token of the same user renews: auth_ok {expires_at}, and the old expiry passes', async () => {
    const old = await mint(alice, 2)
    const oldExp = claimsOf(old).exp * 1000
    const a = await TestSocket.open(`${s.wsUrl}/v1/ws?token=${old}`)
    const fresh = await mint(alice, 3600)
    a.send({ type: 'auth', token: fresh })
    expect(await a.next('auth_ok')).toEqual({ type: 'auth_ok', expires_at: new Date(claimsOf(fresh).exp * 1000).toISOString() })
    // past the old expiry and several sweeps: still open
    await until(() => Date.now() > oldExp + 1500, 10_000, 'the old expiry to pass')
    a.send({ type: 'ping' })
    expect((await a.next('pong')).type).toBe('pong')
    a.close()
  }, 20_000)

  test('auth with another user’s or a bad token: error unauthorized, and the socket keeps its old expiry', async () => {
    const token = await mint(alice, 3)
    const a = await TestSocket.open(`${s.wsUrl}/v1/ws?token=${token}`)
    a.send({ type: 'auth', token: bob.token })
    expect(await a.next('error')).toMatchObject({ type: 'error', code: 'unauthorized' })
    a.send({ type: 'auth', token: 'not-a-token' })
    expect(await a.next('error')).toMatchObject({ type: 'error', code: 'unauthorized' })
    a.send({ type: 'auth', token: await createAccessTokens('other-secret', 3600).sign(alice.id, 'x') })
    expect(await a.next('error')).toMatchObject({ type: 'error', code: 'unauthorized' })
    a.send({ type: 'auth' })
    expect(await a.next('error')).toMatchObject({ type: 'error', code: 'validation' })
    expect((await a.closed).code).toBe(4001)
    expect(Date.now()).toBeGreaterThanOrEqual(claimsOf(token).exp * 1000)
  }, 20_000)

  test('logout closes that login’s sockets (4001) within 2 s, and only that login’s', async () => {
    const first = await login(s, alice)
    const second = await login(s, alice)
    const room = await groupRoom(s.api, alice, [bob])
    const a1 = await openWs(s, first)
    const a1room = await TestSocket.open(`${s.wsUrl}/v1/rooms/${room.id}/ws?token=${first.token}`)
    const a2 = await openWs(s, second)
    const r = await s.api('POST', '/v1/auth/logout', { token: first.token, body: { refresh: first.refresh } })
    expect(r.status).toBe(204)
    let codes: number[] = []
    void Promise.all([a1.closed, a1room.closed]).then((c) => { codes = c.map((x) => x.code) })
    await until(() => codes.length === 2, 2000, 'the login’s sockets to close')
    expect(codes).toEqual([4001, 4001])
    a2.send({ type: 'ping' })
    expect((await a2.next('pong')).type).toBe('pong')
    // REST keeps the access token until it expires (API.md)
    expect((await s.api('GET', '/v1/users/me', { token: first.token })).status).toBe(200)
    a2.close()
  })

  test('reusing a rotated refresh token revokes the login: its sockets close with 4001', async () => {
    const l = await login(s, alice)
    const a = await openWs(s, l)
    const r1 = await s.api('POST', '/v1/auth/refresh', { body: { refresh: l.refresh } })
    expect(r1.status).toBe(200)
    // the new access token is of the same login
    expect(claimsOf(r1.body.access).sid).toBe(claimsOf(l.token).sid)
    const r2 = await s.api('POST', '/v1/auth/refresh', { body: { refresh: l.refresh } })
    expect(r2.status).toBe(401)
    expect((await a.closed).code).toBe(4001)
  })

  test('a socket renewed with another login’s token follows that login', async () => {
    const l1 = await login(s, alice)
    const l2 = await login(s, alice)
    const a = await openWs(s, l1)
    a.send({ type: 'auth', token: l2.token })
    await a.next('auth_ok')
    expect((await s.api('POST', '/v1/auth/logout', { token: l1.token, body: { refresh: l1.refresh } })).status).toBe(204)
    a.send({ type: 'ping' })
    expect((await a.next('pong')).type).toBe('pong')
    expect((await s.api('POST', '/v1/auth/logout', { token: l2.token, body: { refresh: l2.refresh } })).status).toBe(204)
    expect((await a.closed).code).toBe(4001)
  })

  test('a token of a login already logged out opens no socket (4001), and renews none', async () => {
    const gone = await login(s, alice)
    const live = await openWs(s, alice)
    expect((await s.api('POST', '/v1/auth/logout', { token: gone.token, body: { refresh: gone.refresh } })).status).toBe(204)
    const late = new TestSocket(`${s.wsUrl}/v1/ws?token=${gone.token}`)
    expect((await late.closed).code).toBe(4001)
    expect(late.all('ready')).toEqual([])
    live.send({ type: 'auth', token: gone.token })
    expect(await live.next('error')).toMatchObject({ type: 'error', code: 'unauthorized' })
    live.send({ type: 'ping' })
    expect((await live.next('pong')).type).toBe('pong')
    live.close()
  })

  test('refresh and logout bodies: refresh at most 1024 characters', async () => {
    for (const path of ['/v1/auth/refresh', '/v1/auth/logout']) {
      const long = await s.api('POST', path, { token: alice.token, body: { refresh: 'x'.repeat(1025) } })
      expect([long.status, long.body.code]).toEqual([422, 'validation'])
      const unknown = await s.api('POST', path, { token: alice.token, body: { refresh: 'x'.repeat(1024) } })
      expect([unknown.status, unknown.body.code]).toEqual([401, 'unauthorized'])
    }
  })
})

describe('slow consumer', () => {
  let slowServer: TestServer
  let u1: TestUser
  let u2: TestUser

  beforeAll(async () => {
    slowServer = await startServer({
      RATE_MESSAGES: '0', WS_BACKPRESSURE_BYTES: '65536', MAX_MESSAGE_CHARS: '50000', MAX_FRAME_BYTES: '131072', WS_IDLE_SECONDS: '300',
    })
    ;[u1, u2] = await Promise.all([register(slowServer.api, 'sender'), register(slowServer.api, 'reader')])
  })
  afterAll(() => slowServer.close())

  test('a socket that reads nothing is flagged, sent nothing more, and closed with 1013 after what it was sent: the close frame comes last', async () => {
    const sv = slowServer
    const room = await groupRoom(sv.api, u1, [u2])
    const raw = await RawWebSocket.open(Number(new URL(sv.url).port), `/v1/ws?token=${u2.token}`)
    expect(raw.status).toBe(101)
    await until(() => raw.json().some((f) => f.type === 'ready'), 10_000, 'ready')
    raw.pause()
    const sender = await openWs(sv, u1, '&auto_subscribe=false')
    const big = 'x'.repeat(48_000)
    // fill the kernel's buffers, then the server's 64 KiB allowance; bounded in count and time
    const deadline = Date.now() + 60_000
    let sent = 0
    while (sv.chat.gateway.stats.slow === 0 && sent < 1500 && Date.now() < deadline) {
      for (let k = 0; k < 4; k++) sender.send({ type: 'message.send', room_id: room.id, content: `${sent++} ${big}` })
      await sender.waitCount('ack', sent, 30_000)
    }
    await until(() => sv.chat.gateway.stats.slow === 1, 10_000, 'the socket to be flagged slow')
    expect(sv.chat.gateway.connections).toBe(2)
    const metrics = await (await fetch(`${sv.url}/metrics`)).text()
    expect(metrics).toMatch(/^chat_ws_slow_total\{[^}]*\} 1$/m)
    // the room does not wait for it: more messages are committed and acked while it is stopped
    for (let k = 0; k < 4; k++) sender.send({ type: 'message.send', room_id: room.id, content: `${sent++} after` })
    await sender.waitCount('ack', sent, 30_000)
    raw.resume()
    await until(() => raw.ended, 30_000, 'the server to close the socket')
    const last = raw.frames.at(-1)!
    expect(last.opcode).toBe(Opcode.close)
    expect(raw.closeCode()).toBe(1013)
    expect(raw.frames.filter((f) => f.opcode === Opcode.close)).toHaveLength(1)
    // what it got is a gapless prefix of the room, ending before the messages sent after the flag
    const seqs = raw.json().filter((f) => f.type === 'message.created').map((f) => f.message.seq as number)
    expect(seqs.length).toBeGreaterThan(0)
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1))
    expect(seqs.length).toBeLessThanOrEqual(sent - 4)
    // and it resumes from there
    const resumed = await openWs(sv, u2, '&auto_subscribe=false')
    resumed.send({ type: 'subscribe', room_id: room.id, after_seq: seqs.at(-1)! })
    const sub = await resumed.next((f) => f.type === 'subscribed' || f.type === 'resync_required', 30_000)
    expect(sub).toEqual({ type: 'subscribed', room_id: room.id, last_seq: sent })
    expect(resumed.all('message.created').map((f) => f.message.seq)).toEqual(
      Array.from({ length: sent - seqs.at(-1)! }, (_, i) => seqs.at(-1)! + 1 + i),
    )
    sender.close()
    resumed.close()
    await until(() => sv.chat.gateway.connections === 0, 10_000, 'the sessions to go')
  }, 120_000)
})

// two nodes share one database (Postgres) and Redis
if (PG_URL && REDIS_URL) {
  describe('across nodes', () => {
    let db: { url: string; drop: () => Promise<void> }
    let a: TestServer
    let b: TestServer
    const prefix = `t${Math.random().toString(36).slice(2, 8)}:`

    beforeAll(async () => {
      db = await freshPostgres()
      const env = { REDIS_URL: REDIS_URL!, REDIS_PREFIX: prefix, RATE_MESSAGES: '0' }
      a = await startServer({ ...env, NODE_ID: 'a' }, db.url)
      b = await startServer({ ...env, NODE_ID: 'b' }, db.url)
    })
    afterAll(async () => {
      await a.close()
      await b.close()
      await db.drop()
    })

    test('logout on node A closes the login’s socket on node B with 4001 within 2 s', async () => {
      const u = await register(a.api, 'roamer')
      const other = await login(a, u)
      const onB = await openWs(b, u)
      const otherOnB = await openWs(b, other)
      expect((await a.api('POST', '/v1/auth/logout', { token: u.token, body: { refresh: u.refresh } })).status).toBe(204)
      let code = 0
      void onB.closed.then((c) => { code = c.code })
      await until(() => code !== 0, 2000, 'the socket on B to close')
      expect(code).toBe(4001)
      otherOnB.send({ type: 'ping' })
      expect((await otherOnB.next('pong')).type).toBe('pong')
      otherOnB.close()
    })

    test('after_seq above last_seq on node B moves nothing for B’s other sockets, whatever A publishes', async () => {
      const [x, y] = await Promise.all([register(a.api, 'x'), register(b.api, 'y')])
      const room = await groupRoom(a.api, x, [y])
      await post(a, x, room.id, 2)
      const watcher = await openWs(b, y)
      const bad = await openWs(b, y, '&auto_subscribe=false')
      bad.send({ type: 'subscribe', room_id: room.id, after_seq: 100_000_000 })
      expect(await bad.next('subscribed')).toEqual({ type: 'subscribed', room_id: room.id, last_seq: 2 })
      await post(a, x, room.id, 1)
      expect((await watcher.next('message.created')).message.seq).toBe(3)
      expect((await bad.next('message.created')).message.seq).toBe(3)
      watcher.close()
      bad.close()
    })
  })
}
