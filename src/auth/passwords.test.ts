import { describe, expect, setDefaultTimeout, test } from 'bun:test'
import { AppError } from '../lib/errors'
import { createPasswordHasher } from './passwords'

// per file: Bun applies a preload's default timeout to the first file only
setDefaultTimeout(60_000)

/** Hashing functions the test completes by hand, counting how many run at once. */
function heldImpl() {
  const pending: (() => void)[] = []
  const seen = { running: 0, peak: 0 }
  const run = <T>(value: T) => new Promise<T>((resolve) => {
    seen.running++
    seen.peak = Math.max(seen.peak, seen.running)
    pending.push(() => {
      seen.running--
      resolve(value)
    })
  })
  return {
    seen,
    releaseAll: () => { for (const p of pending.splice(0)) p() },
    impl: { hash: (p: string) => run(`h:${p}`), verify: (p: string, h: string) => run(h === `h:${p}`) },
  }
}

const settle = async () => {
  for (let i = 0; i < 5; i++) await Promise.resolve()
}

describe('password hasher', () => {
  test('at most `concurrency` hashes at once; the rest wait and then run', async () => {
    const h = heldImpl()
    const hasher = createPasswordHasher({ concurrency: 2, impl: h.impl })
    const all = Array.from({ length: 7 }, (_, i) => hasher.hash(`pw${i}`, `client${i % 3}`))
    while (hasher.stats.running + hasher.stats.queued > 0) {
      await settle()
      expect(h.seen.running).toBeLessThanOrEqual(2)
      h.releaseAll()
      await settle()
    }
    expect(await Promise.all(all)).toEqual(Array.from({ length: 7 }, (_, i) => `h:pw${i}`))
    expect(h.seen.peak).toBe(2)
    expect(await (async () => { const p = hasher.verify('pw1', 'h:pw1', 'c'); await settle(); h.releaseAll(); return p })()).toBe(true)
  })

  test('a full queue answers at once: one client over its share → 429, everyone over the total → 503', async () => {
    const h = heldImpl()
    const hasher = createPasswordHasher({ concurrency: 1, maxQueued: 3, maxQueuedPerClient: 2, impl: h.impl })
    const ok = [hasher.hash('a', 'A'), hasher.hash('b', 'A'), hasher.hash('c', 'A')]
    const perClient = await hasher.hash('d', 'A').catch((e: unknown) => e)
    expect(perClient).toBeInstanceOf(AppError)
    expect(perClient).toMatchObject({ code: 'rate_limited', status: 429, retryAfter: 1 })
    ok.push(hasher.hash('e', 'B'))
    const total = await hasher.hash('f', 'C').catch((e: unknown) => e)
    expect(total).toMatchObject({ code: 'unavailable', status: 503 })
    while (hasher.stats.running + hasher.stats.queued > 0) {
      await settle()
      h.releaseAll()
      await settle()
    }
    expect(await Promise.all(ok)).toEqual(['h:a', 'h:b', 'h:c', 'h:e'])
    expect(hasher.stats.rejected).toBe(2)
  })
})
