import { afterAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { Redis } from 'ioredis'
import { createLimiterFactory, retryAfterSeconds, type LimiterFactory } from './rate-limit'

// per file: Bun applies a preload's default timeout to the first file only
setDefaultTimeout(60_000)

const REDIS_URL = process.env.TEST_REDIS_URL
const prefix = () => `rlt${Math.random().toString(36).slice(2, 8)}:`
const clients: Redis[] = []
const redis = async () => {
  const r = new Redis(REDIS_URL!, { lazyConnect: true, maxRetriesPerRequest: 2 })
  await r.connect()
  clients.push(r)
  return r
}
afterAll(async () => {
  for (const c of clients) c.disconnect()
})

/** One suite, every implementation. */
const impls: [string, () => Promise<LimiterFactory>][] = [
  ['memory', async () => createLimiterFactory({ redis: null, prefix: '' })],
  ...(REDIS_URL ? [['redis', async () => createLimiterFactory({ redis: await redis(), prefix: prefix() })] as [string, () => Promise<LimiterFactory>]] : []),
]

for (const [name, make] of impls) {
  describe(`limiter (${name})`, () => {
    test('points per window per key; refused with the ms left; keys apart', async () => {
      const f = await make()
      expect(f.kind).toBe(name as 'memory' | 'redis')
      const l = f.create({ name: 't', points: 3, durationSec: 60 })
      const got = []
      for (let i = 0; i < 4; i++) got.push(await l.consume('a'))
      expect(got.slice(0, 3)).toEqual([{ ok: true }, { ok: true }, { ok: true }])
      const last = got[3]!
      expect(last.ok).toBe(false)
      if (!last.ok) {
        expect(last.msBeforeNext).toBeGreaterThan(0)
        expect(last.msBeforeNext).toBeLessThanOrEqual(60_000)
      }
      expect(await l.consume('b')).toEqual({ ok: true })
      expect((await l.peek('a')).consumed).toBe(4)
      expect(await l.peek('never')).toEqual({ consumed: 0, msBeforeNext: 0 })
    })

    test('refund gives a point back; reset starts afresh', async () => {
      const f = await make()
      const l = f.create({ name: 'u', points: 2, durationSec: 60 })
      await l.consume('k')
      await l.consume('k')
      await l.refund('k')
      expect(await l.consume('k')).toEqual({ ok: true })
      expect((await l.consume('k')).ok).toBe(false)
      await l.reset('k')
      expect(await l.consume('k')).toEqual({ ok: true })
    })

    test('two limiters of one name and prefix share the counter only on Redis', async () => {
      const a = (await make()).create({ name: 's', points: 2, durationSec: 60 })
      const b = name === 'redis' ? null : (await make()).create({ name: 's', points: 2, durationSec: 60 })
      expect(await a.consume('x')).toEqual({ ok: true })
      expect(await a.consume('x')).toEqual({ ok: true })
      if (b) expect(await b.consume('x')).toEqual({ ok: true })
    })
  })
}

if (REDIS_URL) {
  test('on Redis, two nodes (clients) count one counter', async () => {
    const p = prefix()
    const a = createLimiterFactory({ redis: await redis(), prefix: p }).create({ name: 'n', points: 3, durationSec: 60 })
    const b = createLimiterFactory({ redis: await redis(), prefix: p }).create({ name: 'n', points: 3, durationSec: 60 })
    expect([(await a.consume('u')).ok, (await b.consume('u')).ok, (await a.consume('u')).ok, (await b.consume('u')).ok])
      .toEqual([true, true, true, false])
    const keys = await (await redis()).keys(`${p}rl:n:*`)
    expect(keys).toEqual([`${p}rl:n:u`])
  })
}

test('Redis unreachable: the memory insurance answers, no error', async () => {
  const dead = new Redis('redis://127.0.0.1:1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
  dead.on('error', () => {})
  const l = createLimiterFactory({ redis: dead, prefix: 'x:' }).create({ name: 'i', points: 2, durationSec: 60 })
  expect([(await l.consume('k')).ok, (await l.consume('k')).ok, (await l.consume('k')).ok]).toEqual([true, true, false])
  await l.reset('k')
  expect((await l.consume('k')).ok).toBe(true)
  dead.disconnect()
})

test('retryAfterSeconds: whole seconds, at least 1', () => {
  expect([0, 1, 999, 1000, 1001, 59_001].map(retryAfterSeconds)).toEqual([1, 1, 1, 1, 2, 60])
})
