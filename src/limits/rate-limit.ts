import type { RedisClient } from '../lib/redis'
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible'

/**
 * A fixed-window counter per key: `points` per `durationSec`. With Redis it is
 * one counter for the whole cluster; without, one per node.
 */
export type Limiter = {
  /**
   * Counts `points` against `key`. `ok: false` once the window's points are
   * spent, with the milliseconds until the window ends. A failed attempt still
   * counts (a client that keeps knocking does not get a fresh window).
   */
  consume(key: string, points?: number): Promise<Verdict>
  /** Points counted in the current window, and ms until it ends; 0 and 0 when none. */
  peek(key: string): Promise<{ consumed: number; msBeforeNext: number }>
  /** Gives `points` back (a counted attempt that did not happen after all). */
  refund(key: string, points?: number): Promise<void>
  /** Forgets the key: a fresh window. */
  reset(key: string): Promise<void>
}

export type Verdict = { ok: true } | { ok: false; msBeforeNext: number }

export type LimiterSpec = {
  /** a short name, part of the Redis key: `{REDIS_PREFIX}rl:{name}:{key}` */
  name: string
  /** points per window; at least 1 */
  points: number
  /** window length, seconds; at least 1 */
  durationSec: number
}

export type LimiterFactory = {
  readonly kind: 'memory' | 'redis'
  create(spec: LimiterSpec): Limiter
}

/**
 * Makes limiters: in memory (one node) when `redis` is null, else on Redis
 * with a memory limiter as insurance, so that while Redis is unreachable each
 * node limits on its own instead of failing the request.
 */
export function createLimiterFactory(o: { redis: RedisClient | null; prefix: string }): LimiterFactory {
  return {
    kind: o.redis ? 'redis' : 'memory',
    create(spec) {
      if (!(spec.points >= 1 && spec.durationSec >= 1)) throw new Error(`limiter ${spec.name}: points and duration must be ≥ 1`)
      const memory = new RateLimiterMemory({ keyPrefix: spec.name, points: spec.points, duration: spec.durationSec })
      const rl: RateLimiterAbstract = o.redis
        ? new RateLimiterRedis({
            storeClient: o.redis,
            keyPrefix: `${o.prefix}rl:${spec.name}`,
            points: spec.points,
            duration: spec.durationSec,
            // while the connection is down, answer from the insurance at once rather than queue commands
            rejectIfRedisNotReady: true,
            insuranceLimiter: memory,
          })
        : memory
      return wrap(rl)
    },
  }
}

function wrap(rl: RateLimiterAbstract): Limiter {
  return {
    async consume(key, points = 1) {
      try {
        await rl.consume(key, points)
        return { ok: true }
      } catch (rej) {
        if (rej instanceof RateLimiterRes) return { ok: false, msBeforeNext: Math.max(0, rej.msBeforeNext) }
        throw rej
      }
    },
    async peek(key) {
      const r = await rl.get(key)
      return r ? { consumed: r.consumedPoints, msBeforeNext: Math.max(0, r.msBeforeNext) } : { consumed: 0, msBeforeNext: 0 }
    },
    async refund(key, points = 1) {
      await rl.reward(key, points)
    },
    async reset(key) {
      await rl.delete(key)
    },
  }
}

/** Whole seconds to wait for a `Retry-After` header: at least 1. */
export const retryAfterSeconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000))
