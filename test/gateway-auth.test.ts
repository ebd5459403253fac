import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { gatewaySignature } from '../src/auth/authenticator'
import { startServer, TestSocket, type TestServer } from './helpers'

// per file: Bun applies a preload's default timeout to the first file only, and hooks start servers
setDefaultTimeout(60_000)

const SECRET = 'gateway-test-secret'
let s: TestServer

type Who = { id: number; nickname: string; email: string; avatar?: string }

/** The six values as the gateway sends them: nickname and avatar percent-encoded, signed decoded. */
function signed(u: Who, ts = Math.floor(Date.now() / 1000), secret = SECRET) {
  const sig = gatewaySignature(secret, { id: String(u.id), nickname: u.nickname, email: u.email, avatar: u.avatar ?? '', ts: String(ts) })
  return {
    headers: {
      'x-user-id': String(u.id), 'x-user-nickname': encodeURIComponent(u.nickname), 'x-user-email': u.email,
      ...(u.avatar ? { 'x-user-avatar': encodeURIComponent(u.avatar) } : {}),
      'x-gateway-timestamp': String(ts), 'x-gateway-signature': sig,
    } as Record<string, string>,
    query: new URLSearchParams({
      user_id: String(u.id), nickname: u.nickname, email: u.email, ...(u.avatar ? { profile_url: u.avatar } : {}), ts: String(ts), sig,
    }).toString(),
  }
}

const alice: Who = { id: 501, nickname: '하늘 Alice', email: 'alice@gw.example', avatar: 'https://cdn.example/a b.png' }
const bob: Who = { id: 502, nickname: 'bob', email: 'bob@gw.example' }

beforeAll(async () => {
  s = await startServer({ AUTH_MODE: 'gateway', GATEWAY_SECRET: SECRET, RATE_MESSAGES: '0' })
})
afterAll(() => s.close())

describe('AUTH_MODE=gateway', () => {
  test('a signed request is the gateway’s user, created on first sight and updated after', async () => {
    const r = await s.api('GET', '/v1/users/me', { headers: signed(alice).headers })
    expect(r.status).toBe(200)
    expect(r.body).toMatchObject({ id: 501, nickname: '하늘 Alice', email: 'alice@gw.example', avatar_url: 'https://cdn.example/a b.png' })
    const renamed = { ...alice, nickname: 'Alice 2' }
    expect((await s.api('GET', '/v1/users/me', { headers: signed(renamed).headers })).body.nickname).toBe('Alice 2')
  })

  test('bad signature, stale timestamp, missing headers, bearer tokens: 401', async () => {
    const bad = signed(bob, undefined, 'wrong-secret').headers
    expect((await s.api('GET', '/v1/users/me', { headers: bad })).status).toBe(401)
    const stale = signed(bob, Math.floor(Date.now() / 1000) - 61).headers
    expect((await s.api('GET', '/v1/users/me', { headers: stale })).body.code).toBe('unauthorized')
    const tampered = { ...signed(bob).headers, 'x-user-id': '503' }
    expect((await s.api('GET', '/v1/users/me', { headers: tampered })).status).toBe(401)
    expect((await s.api('GET', '/v1/users/me')).status).toBe(401)
    expect((await s.api('GET', '/v1/users/me', { token: 'eyJhbGciOiJIUzI1NiJ9.e30.x' })).status).toBe(401)
  })

  test('register, login and refresh are 404', async () => {
    for (const p of ['/v1/auth/register', '/v1/auth/login', '/v1/auth/refresh']) {
      const r = await s.api('POST', p, { body: { email: 'x@y.z', password: 'password123', nickname: 'x', refresh: 'r' } })
      expect([r.status, r.body.code]).toEqual([404, 'not_found'])
    }
    // the routes are mounted (the App type has them) but answer as missing ones, whatever the body or its size
    const unknown = (await s.api('POST', '/v1/no-such-route')).body
    for (const [p, opts] of [
      ['/v1/auth/login/', { body: { email: 'x@y.z', password: 'password123' } }],
      ['/v1/auth/register?x=1', { raw: '{not json' }],
      ['/v1/auth/refresh', { raw: 'x'.repeat(2 * 1024 * 1024) }],
      ['/v1/auth/login', { body: { email: 5 } }],
      ['/v1/auth/login', { ...signed(alice), body: { email: 'x@y.z', password: 'password123' } }],
    ] as const) {
      const r = await s.api('POST', p, opts)
      expect([p, r.status, r.body]).toEqual([p, 404, unknown])
    }
    const documented = Object.keys((await s.api('GET', '/docs/json')).body.paths).filter((p) => p.startsWith('/v1/auth/'))
    expect(documented).toEqual(['/v1/auth/logout'])
  })

  test('sockets from query parameters; two gateway users chat', async () => {
    const room = await s.api('POST', '/v1/rooms', { headers: signed(alice).headers, body: { type: 'group', name: 'gw', member_ids: [] } })
    await s.api('GET', '/v1/users/me', { headers: signed(bob).headers })
    await s.api('POST', `/v1/rooms/${room.body.id}/members`, { headers: signed(alice).headers, body: { user_ids: [bob.id] } })
    const a = await TestSocket.open(`${s.wsUrl}/v1/ws?${signed(alice).query}`)
    const b = await TestSocket.open(`${s.wsUrl}/v1/ws?${signed(bob).query}`)
    expect(a.frames[0]!.user.id).toBe(501)
    // nothing expires here: the gateway vouches; an auth frame (a bearer token) is refused
    expect(a.frames[0]!.expires_at).toBeNull()
    a.send({ type: 'auth', token: 'x.y.z' })
    expect(await a.next('error')).toMatchObject({ type: 'error', code: 'unauthorized' })
    a.send({ type: 'message.send', room_id: room.body.id, content: 'via the gateway' })
    expect((await b.next('message.created')).message).toMatchObject({ content: 'via the gateway', sender: { id: 501 } })
    a.close()
    b.close()
    const bad = await fetch(`${s.url}/v1/ws?${signed(alice, undefined, 'nope').query}`, {
      headers: { upgrade: 'websocket', connection: 'upgrade', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-version': '13' },
    })
    expect(bad.status).toBe(401)
  })
})
