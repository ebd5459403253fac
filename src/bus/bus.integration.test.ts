import { setDefaultTimeout } from 'bun:test'
import { silentLogger } from '../lib/logger'
import { createRedisBus } from './bus.redis'
import { busSuite, type BusFactory } from './bus.suite'

// per file: Bun applies a preload's default timeout to the first file only
setDefaultTimeout(60_000)

/** Real Redis: runs when TEST_REDIS_URL is set. Two nodes per test, on a key prefix of their own. */
const REDIS = process.env.TEST_REDIS_URL
const factories: BusFactory[] = REDIS
  ? [{
      name: 'redis',
      multiNode: true,
      pair: async () => {
        const prefix = `t${Math.random().toString(36).slice(2, 8)}:`
        return [
          await createRedisBus({ url: REDIS, nodeId: 'a', prefix, log: silentLogger }),
          await createRedisBus({ url: REDIS, nodeId: 'b', prefix, log: silentLogger }),
        ]
      },
    }]
  : []
for (const f of factories) busSuite(f)
