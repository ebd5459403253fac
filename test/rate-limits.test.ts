import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import http from 'node:http'
import { availableParallelism } from 'node:os'
import { ConfigError, loadConfig } from '../src/config'
import { expectError } from './contract'
import { REDIS_URL, startServer, type ApiResponse, type TestServer } from './helpers'

// per file: Bun applies no preload's default timeout to this file's hooks, and they start servers
setDefaultTimeout(60_000)

/** Runs every server of this file on Redis too when TEST_REDIS_URL is set (counters then live there). */
const redisEnv = (): Record<string, string> => (REDIS_URL ? { REDIS_URL, REDIS_PREFIX: `rl${Math.random().toString(36).slice(2, 8)}:` } : {})

/** A request from a given loopback source address (127.0.0.0/8 all reach the server on 127.0.0.1). */
function fromAddress(base: string, source: string, path: string, body: unknown, headers: Record<string, string> = {}): Promise<ApiResponse> {
  const u = new URL(base + path)
  const data = JSON.stringify(body)
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: u.hostname, port: Number(u.port), path: u.pathname, method: 'POST', localAddress: source,
      headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(data)), ...headers },
    }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => (text += c))
      res.on('end', () => {
        const h = new Headers()
        for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') h.set(k, v)
        let parsed: unknown = text
        try {
          parsed = text ? JSON.parse(text) : null
        } catch {}
        resolve({ status: res.statusCode ?? 0, body: parsed, headers: h } as ApiResponse)
      })
    })
    req.on('error', reject)
    req.end(data)
  })
}

function expectLimited(r: ApiResponse, maxSeconds: number) {
  expectError(r, 429, 'rate_limited')
  const ra = r.headers.get('retry-after')
  expect(ra).toMatch(/^\d+$/)
  expect(Number(ra)).toBeGreaterThanOrEqual(1)
  expect(Number(ra)).toBeLessThanOrEqual(maxSeconds)
}

const wrongLogin = { email: 'nobody@example.com', password: 'wrong-password' }

describe('config', () => {
  test('RATE_AUTH, RATE_LOGIN_FAILURES, TRUST_PROXY: defaults of API.md, 0 allowed, bad values named', () => {
    expect(loadConfig({})).toMatchObject({ RATE_AUTH: 30, RATE_LOGIN_FAILURES: 10, TRUST_PROXY: 0 })
    expect(loadConfig({ RATE_AUTH: '0', RATE_LOGIN_FAILURES: '0', TRUST_PROXY: '1' }))
      .toMatchObject({ RATE_AUTH: 0, RATE_LOGIN_FAILURES: 0, TRUST_PROXY: 1 })
    for (const [k, v] of [['RATE_AUTH', '-1'], ['RATE_LOGIN_FAILURES', 'ten'], ['TRUST_PROXY', 'yes']] as const) {
      expect(() => loadConfig({ [k]: v })).toThrow(ConfigError)
      expect(() => loadConfig({ [k]: v })).toThrow(k)
    }
  })
})

describe('RATE_AUTH by socket address (no TRUST_PROXY)', () => {
  let s: TestServer
  beforeAll(async () => {
    s = await startServer({ RATE_AUTH: '3', RATE_LOGIN_FAILURES: '0', ...redisEnv() })
  })
  afterAll(() => s.close())

  test('the 4th register/login/refresh from one address is 429 with Retry-After, and hashes nothing', async () => {
    const ip = '127.0.0.2'
    expect((await fromAddress(s.url, ip, '/v1/auth/login', wrongLogin)).status).toBe(401)
    expect((await fromAddress(s.url, ip, '/v1/auth/refresh', { refresh: 'not-a-token' })).status).toBe(401)
    const reg = await fromAddress(s.url, ip, '/v1/auth/register', { email: 'rl-a@example.com', password: 'password123', nickname: 'a' })
    expect(reg.status).toBe(201)
    const hashed = s.chat.passwords.stats.started
    for (const [path, body] of [
      ['/v1/auth/login', { email: 'rl-a@example.com', password: 'password123' }],
      ['/v1/auth/register', { email: 'rl-b@example.com', password: 'password123', nickname: 'b' }],
      ['/v1/auth/refresh', { refresh: reg.body.refresh }],
    ] as const) {
      expectLimited(await fromAddress(s.url, ip, path, body), 60)
    }
    expect(s.chat.passwords.stats.started).toBe(hashed)
  })

  test('another address is not affected', async () => {
    for (let i = 0; i < 3; i++) expect((await fromAddress(s.url, '127.0.0.3', '/v1/auth/login', wrongLogin)).status).toBe(401)
    expectLimited(await fromAddress(s.url, '127.0.0.3', '/v1/auth/login', wrongLogin), 60)
    expect((await fromAddress(s.url, '127.0.0.4', '/v1/auth/login', wrongLogin)).status).toBe(401)
  })

  test('X-Forwarded-For is ignored: a forged address per request does not get a fresh budget', async () => {
    const statuses: number[] = []
    for (let i = 0; i < 5; i++) {
      const r = await fromAddress(s.url, '127.0.0.5', '/v1/auth/login', wrongLogin, { 'x-forwarded-for': `203.0.113.${i + 1}` })
      statuses.push(r.status)
    }
    expect(statuses).toEqual([401, 401, 401, 429, 429])
  })

  test('a request handled in-process (no socket address) is limited as one client, never a 5xx', async () => {
    const statuses: number[] = []
    for (let i = 0; i < 4; i++) {
      const r = await s.chat.app.handle(new Request('http://local/v1/auth/login', {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(wrongLogin),
      }))
      statuses.push(r.status)
    }
    expect(statuses).toEqual([401, 401, 401, 429])
  })
})

describe('TRUST_PROXY=1: the first X-Forwarded-For address; failed logins per email', () => {
  let s: TestServer
  let n = 0
  /** A fresh client address for each call, so RATE_AUTH stays out of the way. */
  const freshIp = () => `198.51.100.${++n}`
  /** A failed login of an email not seen before (the per-email limit stays out of the way). */
  const wrong = () => ({ email: `nobody${++n}@example.com`, password: 'wrong-password' })
  const post = (path: string, body: unknown, xff: string) => s.api('POST', path, { body, headers: { 'x-forwarded-for': xff } })
  const registerAs = async (email: string) => {
    const r = await post('/v1/auth/register', { email, password: 'password123', nickname: email.split('@')[0] }, freshIp())
    expect(r.status).toBe(201)
  }

  beforeAll(async () => {
    s = await startServer({ TRUST_PROXY: '1', RATE_AUTH: '3', RATE_LOGIN_FAILURES: '3', ...redisEnv() })
  })
  afterAll(() => s.close())

  test('counted per forwarded address (the first one); other addresses unaffected', async () => {
    const statuses: number[] = []
    for (let i = 0; i < 4; i++) statuses.push((await post('/v1/auth/login', wrong(), `192.0.2.7, 10.0.0.${i}`)).status)
    expect(statuses).toEqual([401, 401, 401, 429])
    expectLimited(await post('/v1/auth/login', wrong(), '192.0.2.7'), 60)
    expect((await post('/v1/auth/login', wrong(), '192.0.2.8')).status).toBe(401)
  })

  test('IPv6 clients are counted by /64', async () => {
    const statuses: number[] = []
    for (const ip of ['2001:db8:1:2::1', '2001:db8:1:2::2', '2001:db8:1:2:ffff:ffff:ffff:ffff', '2001:db8:1:2::abcd']) {
      statuses.push((await post('/v1/auth/login', wrong(), ip)).status)
    }
    expect(statuses).toEqual([401, 401, 401, 429])
    expect((await post('/v1/auth/login', wrong(), '2001:db8:1:3::1')).status).toBe(401)
  })

  test('without a usable X-Forwarded-For the socket address counts', async () => {
    const statuses: number[] = []
    for (const xff of ['', 'garbage', 'unknown, 192.0.2.99', '']) {
      const r = await fromAddress(s.url, '127.0.0.9', '/v1/auth/login', wrong(), xff ? { 'x-forwarded-for': xff } : {})
      statuses.push(r.status)
    }
    expect(statuses).toEqual([401, 401, 401, 429])
  })

  test('RATE_LOGIN_FAILURES: an email is locked after 3 failures from any addresses (the right password too, unhashed); another email still logs in', async () => {
    await registerAs('victim@example.com')
    await registerAs('bystander@example.com')
    for (let i = 0; i < 3; i++) {
      expectError(await post('/v1/auth/login', { email: 'victim@example.com', password: `guess-${i}-xx` }, freshIp()), 401, 'unauthorized')
    }
    const hashed = s.chat.passwords.stats.started
    expectLimited(await post('/v1/auth/login', { email: ' Victim@Example.com ', password: 'password123' }, freshIp()), 900)
    expect(s.chat.passwords.stats.started).toBe(hashed)
    expect((await post('/v1/auth/login', { email: 'bystander@example.com', password: 'password123' }, freshIp())).status).toBe(200)
  })

  test('a successful login forgets the failures; unknown emails are counted as well', async () => {
    await registerAs('forgetful@example.com')
    const login = (password: string) => post('/v1/auth/login', { email: 'forgetful@example.com', password }, freshIp())
    expect((await login('nope-nope-1')).status).toBe(401)
    expect((await login('nope-nope-2')).status).toBe(401)
    expect((await login('password123')).status).toBe(200)
    const statuses = [(await login('nope-nope-3')).status, (await login('nope-nope-4')).status, (await login('nope-nope-5')).status]
    expect(statuses).toEqual([401, 401, 401])
    expect((await login('password123')).status).toBe(429)
    const ghost = []
    for (let i = 0; i < 4; i++) ghost.push((await post('/v1/auth/login', { email: 'ghost@example.com', password: 'whatever1' }, freshIp())).status)
    expect(ghost).toEqual([401, 401, 401, 429])
  })

  test('a burst of logins waits for the hashing slots: never more hashes at once than cores', async () => {
    const emails = Array.from({ length: 12 }, (_, i) => `burst${i}@example.com`)
    for (const e of emails) await registerAs(e)
    const before = { ...s.chat.passwords.stats }
    const res = await Promise.all(emails.map((email) => post('/v1/auth/login', { email, password: 'password123' }, freshIp())))
    expect(res.map((r) => r.status)).toEqual(emails.map(() => 200))
    const st = s.chat.passwords.stats
    expect(st.started - before.started).toBe(12)
    expect(st.peakRunning).toBeGreaterThanOrEqual(1)
    expect(st.peakRunning).toBeLessThanOrEqual(availableParallelism())
    // 12 at once against `cores` slots: the rest waited in the queue
    expect(st.peakQueued).toBeGreaterThanOrEqual(1)
    expect(st).toMatchObject({ running: 0, queued: 0, rejected: 0 })
  })
})

describe('RATE_AUTH=0 disables the limit', () => {
  let s: TestServer
  beforeAll(async () => {
    s = await startServer({ RATE_AUTH: '0', RATE_LOGIN_FAILURES: '0', ...redisEnv() })
  })
  afterAll(() => s.close())

  test('many attempts from one address are all answered on their merits', async () => {
    const statuses: number[] = []
    for (let i = 0; i < 15; i++) statuses.push((await s.api('POST', '/v1/auth/refresh', { body: { refresh: 'x' } })).status)
    expect(new Set(statuses)).toEqual(new Set([401]))
  })
})
