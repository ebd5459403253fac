import { afterEach, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { until } from '../../test/helpers'
import { silentLogger } from '../lib/logger'
import { parseClusterNodes, type RedisTarget } from '../lib/redis'
import type { PresenceStore } from './presence'
import { createRedisPresence } from './presence.redis'
import { presenceSuite, type PresenceFactory } from './presence.suite'

// per file: Bun applies a preload's default timeout to the first file only
setDefaultTimeout(60_000)

/** Real Redis: runs when TEST_REDIS_URL is set. Every test's nodes share a key prefix of their own. */
const REDIS = process.env.TEST_REDIS_URL

/** `n` nodes on one Redis prefix. */
const redisNodes = (url: string, n: number, prefix: string, onExpired?: (id: number) => void) => nodesOn({ kind: 'single', url }, n, prefix, onExpired)
const nodesOn = (target: RedisTarget, n: number, prefix: string, onExpired?: (id: number) => void) =>
  Promise.all(
    Array.from({ length: n }, (_, i) =>
      createRedisPresence({ target, nodeId: `n${i}`, prefix, ttlMs: 1200, log: silentLogger, onExpired: (id) => onExpired?.(id) }),
    ),
  )

/** A Redis Cluster when TEST_REDIS_CLUSTER_NODES is set: the claim scripts must stay in one slot. */
const CLUSTER = process.env.TEST_REDIS_CLUSTER_NODES
if (CLUSTER) {
  const target: RedisTarget = { kind: 'cluster', nodes: parseClusterNodes(CLUSTER) }
  presenceSuite({ name: 'redis cluster', shared: true, nodes: (n) => nodesOn(target, n, newPrefix()) })
}
const newPrefix = () => `t${Math.random().toString(36).slice(2, 8)}:`

if (REDIS) {
  const factories: PresenceFactory[] = [{ name: 'redis', shared: true, nodes: (n) => redisNodes(REDIS, n, newPrefix()) }]
  for (const f of factories) presenceSuite(f)

  describe('presence: redis, a node killed', () => {
    let stores: PresenceStore[] = []
    afterEach(async () => {
      for (const s of stores) await s.close()
      stores = []
    })

    test('users of a node killed with -9 go offline within the ttl, announced once', async () => {
      const expired: number[] = []
      const prefix = newPrefix()
      const [b] = (stores = await redisNodes(REDIS, 2, prefix, (id) => expired.push(id)))
      // node "a" in its own process, killed without a chance to release anything
      const script = `
        import { createRedisPresence } from '${import.meta.dir}/presence.redis'
        import { silentLogger } from '${import.meta.dir}/../lib/logger'
        const p = await createRedisPresence({ target: { kind: 'single', url: ${JSON.stringify(REDIS)} }, nodeId: 'a', prefix: ${JSON.stringify(prefix)}, ttlMs: 1200, log: silentLogger })
        await p.connect(11)
        console.log('up')
        setInterval(() => {}, 1000)`
      const child = Bun.spawn(['bun', '-e', script], { stdout: 'pipe' })
      const reader = child.stdout.getReader()
      await reader.read()
      expect((await b!.getMany([11])).get(11)!.online).toBe(true)
      child.kill(9)
      await child.exited
      await until(() => expired.length > 0, 20_000, 'the expiry to be announced')
      expect((await b!.getMany([11])).get(11)!.online).toBe(false)
      // both survivors sweep: the second one must find nothing left to announce
      await Bun.sleep(600)
      expect(expired).toEqual([11])
    }, 40_000)
  })
}
