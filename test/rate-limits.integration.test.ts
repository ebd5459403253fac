import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { expectError } from './contract'
import { api, freshPostgres, groupRoom, PG_URL, REDIS_CLUSTER_NODES, REDIS_URL, register, startServer, until, type TestServer } from './helpers'

// per file: Bun applies no preload's default timeout to this file's hooks, and they start servers
setDefaultTimeout(60_000)

const enabled = !!(PG_URL && REDIS_URL)

/** One Redis server, and a Redis Cluster when TEST_REDIS_CLUSTER_NODES is set (keys hash to any shard). */
const redises: [string, Record<string, string>][] = [
  ...(REDIS_URL ? [['Redis', { REDIS_URL }] as [string, Record<string, string>]] : []),
  ...(REDIS_CLUSTER_NODES ? [['Redis Cluster', { REDIS_CLUSTER_NODES }] as [string, Record<string, string>]] : []),
]

if (enabled) for (const [label, redisEnv] of redises) {
  describe(`two nodes on ${label} share the rate-limit counters`, () => {
    let db: { url: string; drop: () => Promise<void> }
    let a: TestServer
    let b: TestServer

    beforeAll(async () => {
      db = await freshPostgres()
      const env = {
        ...redisEnv, REDIS_PREFIX: `rli${Math.random().toString(36).slice(2, 8)}:`,
        TRUST_PROXY: '1', RATE_AUTH: '3', RATE_LOGIN_FAILURES: '2', RATE_MESSAGES: '2',
      }
      a = await startServer({ ...env, NODE_ID: 'rl-a' }, db.url)
      b = await startServer({ ...env, NODE_ID: 'rl-b' }, db.url)
    })
    afterAll(async () => {
      await a?.close()
      await b?.close()
      await db?.drop()
    })

    let n = 0
    const post = (s: TestServer, path: string, body: unknown, ip: string) => s.api('POST', path, { body, headers: { 'x-forwarded-for': ip } })
    const wrong = () => ({ email: `nobody${++n}@example.com`, password: 'wrong-password' })

    test('RATE_AUTH: 3 attempts from one address on two nodes, the 4th is 429 on either', async () => {
      const ip = '192.0.2.50'
      const statuses = [
        (await post(a, '/v1/auth/login', wrong(), ip)).status,
        (await post(b, '/v1/auth/login', wrong(), ip)).status,
        (await post(a, '/v1/auth/refresh', { refresh: 'nope' }, ip)).status,
      ]
      expect(statuses).toEqual([401, 401, 401])
      for (const s of [a, b]) {
        const r = await post(s, '/v1/auth/login', wrong(), ip)
        expectError(r, 429, 'rate_limited')
        expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
      }
      expect((await post(b, '/v1/auth/login', wrong(), '192.0.2.51')).status).toBe(401)
    })

    test('RATE_LOGIN_FAILURES: failures on two nodes lock the email on both', async () => {
      const email = `victim${Date.now()}@example.com`
      expect((await post(a, '/v1/auth/register', { email, password: 'password123', nickname: 'v' }, '192.0.2.60')).status).toBe(201)
      expect((await post(a, '/v1/auth/login', { email, password: 'guess-one' }, '192.0.2.61')).status).toBe(401)
      expect((await post(b, '/v1/auth/login', { email, password: 'guess-two' }, '192.0.2.62')).status).toBe(401)
      for (const [s, ip] of [[a, '192.0.2.63'], [b, '192.0.2.64']] as const) {
        expectError(await post(s, '/v1/auth/login', { email, password: 'password123' }, ip), 429, 'rate_limited')
      }
    })

    test('RATE_MESSAGES: one budget per user across nodes (per-node counters would accept 4 on each)', async () => {
      // a fresh user: a fresh budget of 4 (burst twice the rate of 2/s) on every counter
      const u = await register(api(a.url), 'burst')
      const room = await groupRoom(api(a.url), u)
      const send = (s: TestServer, i: number) =>
        s.api('POST', `/v1/rooms/${room.id}/messages`, { token: u.token, body: { content: `m${i}` } })
      const res = await Promise.all(Array.from({ length: 12 }, (_, i) => send(i % 2 ? b : a, i)))
      const accepted = res.filter((r) => r.status === 201).length
      for (const r of res.filter((r) => r.status !== 201)) expectError(r, 429, 'rate_limited')
      // shared: 4 in the 2-second window (8 only if the burst straddled two windows); per node: at least 4 + 4
      expect(accepted).toBeGreaterThanOrEqual(4)
      expect(accepted).toBeLessThan(8)
      const listed = await a.api('GET', `/v1/rooms/${room.id}/messages?limit=50`, { token: u.token })
      expect(listed.body.messages).toHaveLength(accepted)
    })
  })
}

/** The real balancer config in front of a node that trusts X-Forwarded-For. */
const haproxy = Bun.which('haproxy')

if (haproxy) {
  describe('behind deploy/haproxy.cfg a client cannot forge X-Forwarded-For', () => {
    let s: TestServer
    let lb: ReturnType<typeof Bun.spawn>
    let lbUrl: string

    beforeAll(async () => {
      s = await startServer({
        TRUST_PROXY: '1', RATE_AUTH: '3', RATE_LOGIN_FAILURES: '0',
        ...(REDIS_URL ? { REDIS_URL, REDIS_PREFIX: `rlh${Math.random().toString(36).slice(2, 8)}:` } : {}),
      })
      const probe = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => new Response() })
      const port = probe.port!
      probe.stop(true)
      lbUrl = `http://127.0.0.1:${port}`
      const node = s.url.replace('http://', '')
      lb = Bun.spawn([haproxy, '-f', `${import.meta.dir}/../deploy/haproxy.cfg`, '-db'], {
        env: { ...process.env, LB_BIND: `127.0.0.1:${port}`, CHAT1_ADDR: node, CHAT2_ADDR: node, CHAT3_ADDR: node },
        stdout: 'ignore',
        stderr: 'ignore',
      })
      await until(async () => (await fetch(`${lbUrl}/readyz`).catch(() => null))?.status === 200, 20_000, 'the balancer')
    })
    afterAll(async () => {
      lb?.kill()
      await lb?.exited
      await s?.close()
    })

    test('a forged address per request still counts as the one real client', async () => {
      const lbApi = api(lbUrl)
      const statuses: number[] = []
      for (let i = 0; i < 5; i++) {
        const r = await lbApi('POST', '/v1/auth/refresh', { body: { refresh: 'nope' }, headers: { 'x-forwarded-for': `203.0.113.${i + 1}` } })
        statuses.push(r.status)
      }
      expect(statuses).toEqual([401, 401, 401, 429, 429])
    })
  })
}
