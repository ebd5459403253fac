import type { Logger } from '../lib/logger'
import { createRedisClient, type RedisTarget } from '../lib/redis'
import type { PubSub } from './pubsub'

/** Plain pub/sub on one Redis server: a publishing and a subscribing connection. */
export function createSinglePubSub(target: Extract<RedisTarget, { kind: 'single' }>, nodeId: string, log: Logger): PubSub {
  const pub = createRedisClient(target, { connectionName: `${nodeId}:pub` })
  const sub = createRedisClient(target, { connectionName: `${nodeId}:sub` })
  for (const c of [pub, sub]) c.on('error', (err) => log.warn('redis bus: connection error', { error: err }))
  let everReady = false
  let recovered: () => void = () => {}
  sub.on('ready', () => {
    // the first ready is the start; later ones follow a lost connection (ioredis resubscribed what it had)
    if (everReady) recovered()
    everReady = true
  })
  return {
    publish: (channel, payload) => pub.publish(channel, payload),
    subscribe: (channels) => sub.subscribe(...channels),
    unsubscribe: (channels) => sub.unsubscribe(...channels),
    onMessage: (cb) => void sub.on('message', cb),
    onRecovered: (cb) => {
      recovered = cb
    },
    get up() {
      return sub.status === 'ready'
    },
    connect: async () => {
      await Promise.all([pub.connect(), sub.connect()])
    },
    ping: () => pub.ping(),
    close: () => {
      pub.disconnect()
      sub.disconnect()
    },
  }
}
