import { AppError } from '../lib/errors'

/**
 * Per-user token bucket: `perSecond` tokens a second, holding at most twice
 * that. One bucket per user for REST and WebSocket alike. 0 = no limit.
 */
export function createRateLimiter(perSecond: number, now: () => number = performance.now.bind(performance)) {
  const buckets = new Map<number, { tokens: number; at: number }>()
  const burst = perSecond * 2
  let sweepAt = now()
  return {
    /** Takes one token or throws `rate_limited` with the seconds to wait. */
    take(userId: number) {
      if (perSecond <= 0) return
      const t = now()
      if (t - sweepAt > 60_000) {
        // full buckets carry no information: forget them
        for (const [id, b] of buckets) if (b.tokens + ((t - b.at) / 1000) * perSecond >= burst) buckets.delete(id)
        sweepAt = t
      }
      const b = buckets.get(userId) ?? { tokens: burst, at: t }
      b.tokens = Math.min(burst, b.tokens + ((t - b.at) / 1000) * perSecond)
      b.at = t
      buckets.set(userId, b)
      if (b.tokens < 1) {
        throw new AppError('rate_limited', 'Too many messages; slow down.', Math.max(1, Math.ceil((1 - b.tokens) / perSecond)))
      }
      b.tokens -= 1
    },
  }
}
