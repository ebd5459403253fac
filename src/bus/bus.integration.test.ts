import { setDefaultTimeout } from 'bun:test'
import { silentLogger } from '../lib/logger'
import { parseClusterNodes, type RedisTarget } from '../lib/redis'
import { createRedisBus } from './bus.redis'
import { busSuite, type BusFactory } from './bus.suite'

// per file: Bun applies a preload's default timeout to the first file only
setDefaultTimeout(60_000)

/**
 * Real Redis: one server when TEST_REDIS_URL is set (plain pub/sub), a Redis
 * Cluster when TEST_REDIS_CLUSTER_NODES is (sharded pub/sub). Two nodes per
 * test, on a key prefix of their own.
 */
const targets: [string, RedisTarget][] = []
if (process.env.TEST_REDIS_URL) targets.push(['redis', { kind: 'single', url: process.env.TEST_REDIS_URL }])
if (process.env.TEST_REDIS_CLUSTER_NODES) {
  targets.push(['redis cluster (sharded pub/sub)', { kind: 'cluster', nodes: parseClusterNodes(process.env.TEST_REDIS_CLUSTER_NODES) }])
}
const factories: BusFactory[] = targets.map(([name, target]) => ({
  name,
  multiNode: true,
  orderedAcrossTopics: target.kind === 'single',
  pair: async () => {
    const prefix = `t${Math.random().toString(36).slice(2, 8)}:`
    return [
      await createRedisBus({ target, nodeId: 'a', prefix, log: silentLogger }),
      await createRedisBus({ target, nodeId: 'b', prefix, log: silentLogger }),
    ]
  },
}))
for (const f of factories) busSuite(f)
