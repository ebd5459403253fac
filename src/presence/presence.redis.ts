import type { Logger } from '../lib/logger'
import { createRedisClient, type RedisTarget } from '../lib/redis'
import type { PresenceInfo, PresenceStore } from './presence'

export type RedisPresenceOptions = {
  /** one Redis server or a Redis Cluster */
  target: RedisTarget
  nodeId: string
  prefix: string
  /** a node's claim on its users lasts this long without a heartbeat, ms */
  ttlMs?: number
  log: Logger
  /** A user whose only node died went offline (found by the sweep). */
  onExpired?: (userId: number, lastSeen: string) => void
}

/**
 * Presence across nodes. `{prefix}p:{user}` is a sorted set of node ids
 * scored by the time their claim expires; each node renews its claims every
 * ttl/3, so the users of a crashed node go offline within the ttl. The sweep
 * finds them through `{prefix}p:due` (user → earliest expiry) and exactly one
 * node (the one whose ZREM wins) announces it.
 */
export async function createRedisPresence(o: RedisPresenceOptions): Promise<PresenceStore> {
  const ttl = o.ttlMs ?? 30_000
  const r = createRedisClient(o.target, { connectionName: `${o.nodeId}:presence` })
  r.on('error', (err) => o.log.warn('redis presence: connection error', { error: err }))
  await r.connect()
  const local = new Map<number, number>()
  // the scripts touch a user's claims and the due index together, and reads pipeline claims and
  // last-seen of many users: on a cluster a script's or a pipeline's keys must share one slot, so
  // every presence key carries the same {hash tag} (presence is one shard's work; docs/scaling.md)
  const key = (id: number) => `${o.prefix}{presence}p:${id}`
  const seenKey = (id: number) => `${o.prefix}{presence}seen:${id}`
  const due = `${o.prefix}{presence}p:due`
  let expired = o.onExpired

  // atomically: drop expired claims, count live ones, add ours; returns the count before ours
  const claim = `
    redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
    local before = redis.call('ZCARD', KEYS[1])
    redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
    redis.call('PEXPIRE', KEYS[1], ARGV[4])
    redis.call('ZADD', KEYS[2], ARGV[2], ARGV[5])
    return before`
  // atomically: drop our claim and expired ones; returns the live claims left
  const release = `
    redis.call('ZREM', KEYS[1], ARGV[2])
    redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
    local left = redis.call('ZCARD', KEYS[1])
    if left == 0 then redis.call('ZREM', KEYS[2], ARGV[3]) end
    return left`

  async function heartbeat() {
    if (local.size === 0) return
    const now = Date.now()
    const p = r.pipeline()
    for (const id of local.keys()) {
      p.zadd(key(id), now + ttl, o.nodeId)
      p.pexpire(key(id), ttl * 2)
      p.zadd(due, now + ttl, String(id))
    }
    await p.exec()
  }

  async function sweep() {
    const now = Date.now()
    const ids = await r.zrangebyscore(due, '-inf', now, 'LIMIT', 0, 500)
    for (const raw of ids) {
      const id = Number(raw)
      const left = Number(await r.eval(release, 2, key(id), due, now, '', raw))
      // ZREM of the due entry happened in `release` when nobody is left; claim the announcement
      if (left === 0) {
        const seen = new Date(now).toISOString()
        const fresh = await r.set(`${seenKey(id)}:announced:${Math.floor(now / ttl)}`, '1', 'PX', ttl, 'NX')
        await r.set(seenKey(id), seen)
        if (fresh === 'OK') expired?.(id, seen)
      }
    }
  }

  const timer = setInterval(() => {
    heartbeat()
      .then(sweep)
      .catch((err) => o.log.warn('redis presence: heartbeat failed', { error: err }))
  }, Math.max(100, Math.floor(ttl / 3)))

  return {
    onExpired(cb) {
      expired = cb
    },
    async connect(userId) {
      const n = (local.get(userId) ?? 0) + 1
      local.set(userId, n)
      if (n > 1) return false
      const now = Date.now()
      const before = await r.eval(claim, 2, key(userId), due, now, now + ttl, o.nodeId, ttl * 2, String(userId))
      return Number(before) === 0
    },
    async disconnect(userId) {
      const n = (local.get(userId) ?? 0) - 1
      if (n > 0) {
        local.set(userId, n)
        return false
      }
      local.delete(userId)
      const left = await r.eval(release, 2, key(userId), due, Date.now(), o.nodeId, String(userId))
      if (Number(left) > 0) return false
      await r.set(seenKey(userId), new Date().toISOString())
      return true
    },
    async getMany(userIds) {
      const out = new Map<number, PresenceInfo>()
      if (userIds.length === 0) return out
      const now = Date.now()
      const p = r.pipeline()
      for (const id of userIds) {
        p.zcount(key(id), `(${now}`, '+inf')
        p.get(seenKey(id))
      }
      const res = (await p.exec()) ?? []
      userIds.forEach((id, i) => {
        const count = Number(res[2 * i]?.[1] ?? 0)
        const seen = (res[2 * i + 1]?.[1] as string | null) ?? null
        out.set(id, { online: count > 0, lastSeen: seen })
      })
      return out
    },
    async close() {
      clearInterval(timer)
      // this node's users are gone with it
      const ids = [...local.keys()]
      local.clear()
      for (const id of ids) await r.eval(release, 2, key(id), due, Date.now(), o.nodeId, String(id)).catch(() => {})
      r.disconnect()
    },
  }
}
