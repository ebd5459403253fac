import { AppError } from '../lib/errors'
import { createLimiterFactory, retryAfterSeconds, type LimiterFactory } from '../limits/rate-limit'

export type MessageRateLimiter = ReturnType<typeof createRateLimiter>

/**
 * RATE_MESSAGES: `perSecond` messages a second per user, burst twice that,
 * REST and WebSocket together, and on all nodes together when the limiters
 * are on Redis. Counted as 2·perSecond per 2-second window: a burst of twice
 * the rate, and the rate on average. 0 = no limit.
 */
export function createRateLimiter(perSecond: number, limiters: LimiterFactory = createLimiterFactory({ redis: null, prefix: '' })) {
  const window = perSecond > 0 ? limiters.create({ name: 'msg', points: perSecond * 2, durationSec: 2 }) : null
  return {
    /** Counts one message of the user, or throws `rate_limited` with the seconds to wait. */
    async take(userId: number): Promise<void> {
      if (!window) return
      const v = await window.consume(String(userId))
      if (!v.ok) throw new AppError('rate_limited', 'Too many messages; slow down.', retryAfterSeconds(v.msBeforeNext))
    },
  }
}
