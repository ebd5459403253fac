import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { SignJWT } from 'jose'
import { createAccessTokens } from '../src/auth/tokens'
import { expectError, expectStatus, expectUser } from './contract'
import { register, startServer, type TestServer, type TestUser } from './helpers'

setDefaultTimeout(60_000)

let s: TestServer
let alice: TestUser

const uniq = () => `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`

beforeAll(async () => {
  s = await startServer()
  alice = await register(s.api, 'alice')
})
afterAll(() => s.close())

const me = (token: string) => s.api('GET', '/v1/users/me', { token })

describe('register', () => {
  test('201 with {user, access, refresh}; the access token works', async () => {
    const email = `reg.${uniq()}@example.com`
    const r = await s.api('POST', '/v1/auth/register', { body: { email, password: 'password123', nickname: '하늘' } })
    expectStatus(r, 201)
    expectUser(r.body.user, { email, nickname: '하늘', avatar_url: null, bio: null })
    expect(typeof r.body.access).toBe('string')
    expect(r.body.access.split('.')).toHaveLength(3)
    expect(typeof r.body.refresh).toBe('string')
    expect(r.body.refresh.length).toBeGreaterThan(0)
    const m = await me(r.body.access)
    expectStatus(m, 200)
    expect(m.body.id).toBe(r.body.user.id)
  })

  test('the email is trimmed and lower-cased; the same email in another case is 409 email_taken', async () => {
    const local = `Mixed.${uniq()}`
    const r = await s.api('POST', '/v1/auth/register', {
      body: { email: `  ${local}@Example.COM  `, password: 'password123', nickname: 'mixed' },
    })
    expectStatus(r, 201)
    expect(r.body.user.email).toBe(`${local.toLowerCase()}@example.com`)
    const again = await s.api('POST', '/v1/auth/register', {
      body: { email: `${local.toUpperCase()}@example.com`, password: 'password456', nickname: 'other' },
    })
    expectError(again, 409, 'email_taken')
    // the first account keeps its password
    expectStatus(await s.api('POST', '/v1/auth/login', { body: { email: `${local}@example.com`, password: 'password123' } }), 200)
    expectError(await s.api('POST', '/v1/auth/login', { body: { email: `${local}@example.com`, password: 'password456' } }), 401, 'unauthorized')
  })

  test('a password shorter than 8 characters is 422 validation; 8 is enough', async () => {
    const email = `short.${uniq()}@example.com`
    expectError(await s.api('POST', '/v1/auth/register', { body: { email, password: '1234567', nickname: 'short' } }), 422, 'validation')
    // nothing was created
    expectError(await s.api('POST', '/v1/auth/login', { body: { email, password: '1234567' } }), 401, 'unauthorized')
    expectStatus(await s.api('POST', '/v1/auth/register', { body: { email, password: '12345678', nickname: 'short' } }), 201)
  })

  test('password_confirm must match when given', async () => {
    const email = `confirm.${uniq()}@example.com`
    expectError(
      await s.api('POST', '/v1/auth/register', { body: { email, password: 'password123', password_confirm: 'password124', nickname: 'c' } }),
      422, 'validation',
    )
    expectStatus(
      await s.api('POST', '/v1/auth/register', { body: { email, password: 'password123', password_confirm: 'password123', nickname: 'c' } }),
      201,
    )
  })

  test('an invalid email is 422 validation', async () => {
    for (const email of ['nope', 'a@b', '@example.com', 'a b@example.com', 'a@', '', `${'x'.repeat(300)}@example.com`]) {
      const r = await s.api('POST', '/v1/auth/register', { body: { email, password: 'password123', nickname: 'bad' } })
      expectError(r, 422, 'validation')
    }
  })

  test('a missing or mistyped field is 422 validation', async () => {
    const full = { email: `missing.${uniq()}@example.com`, password: 'password123', nickname: 'missing' }
    for (const drop of ['email', 'password', 'nickname'] as const) {
      const body: Record<string, unknown> = { ...full }
      delete body[drop]
      expectError(await s.api('POST', '/v1/auth/register', { body }), 422, 'validation')
    }
    expectError(await s.api('POST', '/v1/auth/register', { body: { ...full, password: 12345678 } }), 422, 'validation')
    expectError(await s.api('POST', '/v1/auth/register', { body: { ...full, nickname: '' } }), 422, 'validation')
    expectError(await s.api('POST', '/v1/auth/register', { body: [] }), 422, 'validation')
    expectError(await s.api('POST', '/v1/auth/login', { body: full }), 401, 'unauthorized')
  })

  test('a body that is not JSON is 400 bad_request', async () => {
    expectError(await s.api('POST', '/v1/auth/register', { raw: '{"email": "a@example.com", ' }), 400, 'bad_request')
    expectError(await s.api('POST', '/v1/auth/login', { raw: 'not json' }), 400, 'bad_request')
    expectError(await s.api('POST', '/v1/auth/refresh', { raw: '{' }), 400, 'bad_request')
  })
})

describe('login', () => {
  test('200 with {user, access, refresh}', async () => {
    const r = await s.api('POST', '/v1/auth/login', { body: { email: alice.email, password: 'password123' } })
    expectStatus(r, 200)
    expectUser(r.body.user, { id: alice.id, email: alice.email, nickname: 'alice' })
    expect(typeof r.body.access).toBe('string')
    expect(typeof r.body.refresh).toBe('string')
    expect(r.body.refresh).not.toBe(alice.refresh)
    expect((await me(r.body.access)).body.id).toBe(alice.id)
  })

  test('a wrong password is 401 unauthorized', async () => {
    expectError(await s.api('POST', '/v1/auth/login', { body: { email: alice.email, password: 'password124' } }), 401, 'unauthorized')
  })

  test('an unknown email is 401 unauthorized', async () => {
    expectError(await s.api('POST', '/v1/auth/login', { body: { email: `nobody.${uniq()}@example.com`, password: 'password123' } }), 401, 'unauthorized')
  })

  test('the email in another case and with spaces works', async () => {
    const r = await s.api('POST', '/v1/auth/login', { body: { email: `  ${alice.email.toUpperCase()} `, password: 'password123' } })
    expectStatus(r, 200)
    expect(r.body.user.id).toBe(alice.id)
  })

  test('a missing field is 422 validation', async () => {
    expectError(await s.api('POST', '/v1/auth/login', { body: { email: alice.email } }), 422, 'validation')
    expectError(await s.api('POST', '/v1/auth/login', { body: { password: 'password123' } }), 422, 'validation')
  })
})

describe('refresh', () => {
  const login = async () => {
    const r = await s.api('POST', '/v1/auth/login', { body: { email: alice.email, password: 'password123' } })
    expectStatus(r, 200)
    return { access: r.body.access as string, refresh: r.body.refresh as string }
  }
  const refresh = (token: string) => s.api('POST', '/v1/auth/refresh', { body: { refresh: token } })

  test('200 with a new pair that works', async () => {
    const first = await login()
    const r = await refresh(first.refresh)
    expectStatus(r, 200)
    expect(typeof r.body.access).toBe('string')
    expect(typeof r.body.refresh).toBe('string')
    expect(r.body.refresh).not.toBe(first.refresh)
    expect((await me(r.body.access)).body.id).toBe(alice.id)
    // the new refresh token rotates in turn
    expectStatus(await refresh(r.body.refresh), 200)
  })

  test('the old refresh token is revoked; reusing it revokes the whole login, other logins stay', async () => {
    const first = await login()
    const other = await login()
    const rotated = await refresh(first.refresh)
    expectStatus(rotated, 200)
    expectError(await refresh(first.refresh), 401, 'unauthorized')
    // the reuse revoked the family: even the newest token of that login is dead
    expectError(await refresh(rotated.body.refresh), 401, 'unauthorized')
    // another login (another family) is untouched
    expectStatus(await refresh(other.refresh), 200)
    // access tokens stay valid until they expire
    expectStatus(await me(rotated.body.access), 200)
  })

  test('a missing refresh field is 422 validation', async () => {
    expectError(await s.api('POST', '/v1/auth/refresh', { body: {} }), 422, 'validation')
    expectError(await s.api('POST', '/v1/auth/refresh', { body: { refresh: 42 } }), 422, 'validation')
  })

  test('a garbage refresh token is 401 unauthorized', async () => {
    expectError(await refresh('garbage'), 401, 'unauthorized')
    expectError(await refresh(alice.token), 401, 'unauthorized') // an access token is not a refresh token
  })
})

describe('logout', () => {
  test('204 with a bearer token; the refresh token is then 401', async () => {
    const l = await s.api('POST', '/v1/auth/login', { body: { email: alice.email, password: 'password123' } })
    const r = await s.api('POST', '/v1/auth/logout', { token: l.body.access, body: { refresh: l.body.refresh } })
    expect(r.status).toBe(204)
    expectError(await s.api('POST', '/v1/auth/refresh', { body: { refresh: l.body.refresh } }), 401, 'unauthorized')
  })

  test('without a bearer token it is 401 and the login stays', async () => {
    const l = await s.api('POST', '/v1/auth/login', { body: { email: alice.email, password: 'password123' } })
    expectError(await s.api('POST', '/v1/auth/logout', { body: { refresh: l.body.refresh } }), 401, 'unauthorized')
    expectStatus(await s.api('POST', '/v1/auth/refresh', { body: { refresh: l.body.refresh } }), 200)
  })

  test('a missing refresh field is 422 validation', async () => {
    expectError(await s.api('POST', '/v1/auth/logout', { token: alice.token, body: {} }), 422, 'validation')
  })
})

describe('access tokens', () => {
  test('missing → 401', async () => {
    expectError(await s.api('GET', '/v1/users/me'), 401, 'unauthorized')
  })

  test('malformed → 401', async () => {
    for (const authorization of ['Bearer x.y.z', 'Bearer ', 'Bearer', `Basic ${btoa('a:b')}`, alice.token, `Bearer ${alice.token}x`]) {
      expectError(await s.api('GET', '/v1/users/me', { headers: { authorization } }), 401, 'unauthorized')
    }
  })

  test('signed with another secret → 401', async () => {
    const forged = await new SignJWT({ typ: 'access' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(String(alice.id))
      .setIssuedAt()
      .setExpirationTime('15m')
      .sign(new TextEncoder().encode('another-secret'))
    expectError(await me(forged), 401, 'unauthorized')
    // the same claims with the server's secret pass: the secret is what failed
    const genuine = await new SignJWT({ typ: 'access' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(String(alice.id))
      .setIssuedAt()
      .setExpirationTime('15m')
      .sign(new TextEncoder().encode('test-secret'))
    expectStatus(await me(genuine), 200)
  })

  test('an unsigned token (alg none) → 401', async () => {
    const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url')
    const none = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ typ: 'access', sub: String(alice.id), exp: Math.floor(Date.now() / 1000) + 600 })}.`
    expectError(await me(none), 401, 'unauthorized')
  })

  test('expired → 401', async () => {
    const short = await startServer({ ACCESS_TTL: '1' })
    try {
      const u = await register(short.api, 'brief')
      // the server signs with its ACCESS_TTL (read from the token: no waiting for the clock)
      const claims = JSON.parse(Buffer.from(u.token.split('.')[1]!, 'base64url').toString()) as { iat: number; exp: number; sid: string }
      expect(claims.exp - claims.iat).toBe(1)
      // the same token, its expiry passed (signed with the test secret): 401
      const expired = await createAccessTokens('test-secret', -60).sign(u.id, claims.sid)
      expectError(await short.api('GET', '/v1/users/me', { token: expired }), 401, 'unauthorized')
      // a refresh gives a fresh access token, signed the same way
      const r = await short.api('POST', '/v1/auth/refresh', { body: { refresh: u.refresh } })
      expectStatus(r, 200)
      const fresh = JSON.parse(Buffer.from(String(r.body.access).split('.')[1]!, 'base64url').toString()) as { iat: number; exp: number; sub: string }
      expect({ ttl: fresh.exp - fresh.iat, sub: fresh.sub }).toEqual({ ttl: 1, sub: String(u.id) })
      // and a token that is still valid works (the main server's TTL leaves time under any load)
      const valid = await createAccessTokens('test-secret', 600).sign(u.id, claims.sid)
      expectStatus(await short.api('GET', '/v1/users/me', { token: valid }), 200)
    } finally {
      await short.close()
    }
  })
})

describe('unknown routes', () => {
  const routes: [string, string][] = [
    ['GET', '/nope'],
    ['GET', '/v1/nope'],
    ['POST', '/v1/auth/nope'],
    ['GET', '/v1/users/me/nope'],
    ['GET', '/v1/rooms/1/nope'],
    ['PUT', '/v1/nope/1'],
  ]

  test('404 not_found without a token', async () => {
    for (const [method, path] of routes) expectError(await s.api(method, path), 404, 'not_found')
  })

  test('404 not_found with a token', async () => {
    for (const [method, path] of routes) expectError(await s.api(method, path, { token: alice.token }), 404, 'not_found')
  })
})

describe('operations', () => {
  test('/healthz is 200 {status: "ok"}', async () => {
    const r = await s.api('GET', '/healthz')
    expectStatus(r, 200)
    expect(r.body).toEqual({ status: 'ok' })
  })

  test('/readyz is 200', async () => {
    expectStatus(await s.api('GET', '/readyz'), 200)
  })
})
