import calculateSlot from 'cluster-key-slot'
import type { Logger } from '../lib/logger'
import { createRedisClient, type RedisTarget } from '../lib/redis'
import type { PubSub } from './pubsub'

/**
 * Sharded pub/sub on a Redis Cluster. SPUBLISH goes to the shard that owns the
 * channel's slot; ioredis keeps one subscriber connection per shard
 * (`shardedSubscribers`) and resubscribes after a topology change. One
 * SSUBSCRIBE may only name channels of one slot, so subscriptions are grouped
 * by slot.
 */
export function createClusterPubSub(target: Extract<RedisTarget, { kind: 'cluster' }>, nodeId: string, log: Logger): PubSub {
  const c = createRedisClient(target, { connectionName: `${nodeId}:bus`, shardedSubscribers: true })
  c.on('error', (err) => log.warn('redis bus (cluster): connection error', { error: err }))
  c.on('nodeError', (err: unknown, node: string) => log.warn('redis bus (cluster): node error', { node, error: err }))
  let lost = false
  let recovered: () => void = () => {}
  // a subscriber replaced (its shard's connection dropped, or the slots moved): what it would have
  // received meanwhile is gone; once every subscriber is back, the gaps are filled
  c.on('-subscriber', () => {
    lost = true
  })
  c.on('-node', () => {
    lost = true
  })
  c.on('subscribersReady', () => {
    if (!lost) return
    lost = false
    recovered()
  })

  const bySlot = (channels: string[]) => {
    const groups = new Map<number, string[]>()
    for (const ch of channels) {
      const slot = calculateSlot(ch)
      const g = groups.get(slot)
      if (g) g.push(ch)
      else groups.set(slot, [ch])
    }
    return [...groups.values()]
  }

  return {
    publish: (channel, payload) => c.spublish(channel, payload),
    subscribe: (channels) => Promise.all(bySlot(channels).map((g) => c.ssubscribe(...g))),
    unsubscribe: (channels) => Promise.all(bySlot(channels).map((g) => c.sunsubscribe(...g))),
    onMessage: (cb) => void c.on('smessage', cb),
    onRecovered: (cb) => {
      recovered = cb
    },
    get up() {
      return c.status === 'ready'
    },
    connect: () => c.connect(),
    ping: () => c.ping(),
    close: () => c.disconnect(),
  }
}
