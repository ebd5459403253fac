/**
 * The node's infrastructure: what holds a connection or a file. Each part is
 * picked by the config (an embedded or in-memory default, Postgres, Redis or
 * S3 when configured); `close()` releases them in reverse order.
 */
import { join } from 'node:path'
import { createAccessTokens } from './auth/tokens'
import type { Bus } from './bus/bus'
import { createLocalBus } from './bus/bus.local'
import { busMetrics } from './bus/metrics'
import { createRedisBus } from './bus/bus.redis'
import type { Config } from './config'
import { openDatabase } from './db/client'
import { createMessageWriter } from './db/writer'
import { writerMetrics } from './db/writer/metrics'
import { pruneBatchOutcomes } from './db/writer/statements'
import type { FileStorage } from './files/storage'
import { createDiskStorage } from './files/storage.disk'
import { createS3Storage } from './files/storage.s3'
import { createLimiterFactory } from './limits/rate-limit'
import { every } from './lib/every'
import type { Logger } from './lib/logger'
import { createMetrics } from './lib/metrics'
import { createRedisClient, redisTarget } from './lib/redis'
import type { PresenceStore } from './presence/presence'
import { createMemoryPresence } from './presence/presence.memory'
import { createRedisPresence } from './presence/presence.redis'

/** Test and bench hooks into the infrastructure. */
export type Diagnostics = { onQuery?: (sql: string) => void }

export type Infrastructure = Awaited<ReturnType<typeof openInfrastructure>>

/**
 * How often the writer's batch outcomes older than an hour are deleted, ms
 * (a retry reads its batch's outcome within seconds; every node prunes, a
 * second delete finds nothing).
 */
const PRUNE_BATCH_OUTCOMES_EVERY_MS = 60_000

/** Backoff of the rate-limit connection's reconnects, ms: 50 per attempt, at most a second. */
const limitsRetryMs = (attempt: number) => Math.min(50 * attempt, 1000)

/**
 * Opens the database (and migrates it when MIGRATE), the bus, presence, file
 * storage, the rate-limit connection and the message writer. A failure midway
 * closes what was opened.
 */
export async function openInfrastructure(config: Config, log: Logger, diagnostics: Diagnostics = {}) {
  const opened: (() => Promise<unknown>)[] = []
  const close = async () => {
    for (const c of opened.splice(0).reverse()) await c().catch((err) => log.warn('close failed', { error: err }))
  }
  try {
    const metrics = createMetrics(config.NODE_ID)
    const database = await openDatabase({
      url: config.DATABASE_URL, dataDir: config.DATA_DIR, poolMax: config.DATABASE_POOL, prepare: config.DATABASE_PREPARE === 1,
      onQuery: diagnostics.onQuery,
    })
    opened.push(() => database.close())
    if (config.MIGRATE) await database.migrate()

    const target = redisTarget(config.REDIS_URL, config.REDIS_CLUSTER_NODES)
    const redis = target ? { target, nodeId: config.NODE_ID, prefix: config.REDIS_PREFIX, log } : null
    const relay = busMetrics(metrics)
    const bus: Bus = redis ? await createRedisBus({ ...redis, onRelayLag: relay.onRelayLag }) : createLocalBus()
    opened.push(() => bus.close())
    relay.watch(bus)
    const presence: PresenceStore = redis
      ? await createRedisPresence({ ...redis, ttlMs: config.PRESENCE_TTL_MS })
      : createMemoryPresence()
    opened.push(() => presence.close())

    // rate limits: one counter for the cluster on Redis (each node on its own while Redis is away)
    const limitsRedis = redis
      ? createRedisClient(redis.target, { connectionName: `${redis.nodeId}:limits`, retryStrategy: limitsRetryMs })
      : null
    if (limitsRedis) {
      limitsRedis.on('error', (err) => log.warn('redis limits: connection error', { error: err }))
      opened.push(() => limitsRedis.quit())
      await limitsRedis.connect()
    }
    const limiters = createLimiterFactory({ redis: limitsRedis, prefix: config.REDIS_PREFIX })

    const storage: FileStorage = config.S3_BUCKET
      ? createS3Storage({
          bucket: config.S3_BUCKET, endpoint: config.S3_ENDPOINT, region: config.S3_REGION,
          accessKeyId: config.S3_ACCESS_KEY_ID, secretAccessKey: config.S3_SECRET_ACCESS_KEY,
        })
      : createDiskStorage(join(config.DATA_DIR, 'uploads'))
    const tokens = createAccessTokens(config.JWT_SECRET, config.ACCESS_TTL)

    const writing = writerMetrics(metrics)
    const writer = createMessageWriter(database, {
      flushMs: config.FLUSH_MS, batchMax: config.BATCH_MAX, queueMax: config.WRITE_QUEUE_MAX, lanes: config.WRITER_LANES, log,
      ...writing.hooks,
    })
    opened.push(() => writer.close())
    writing.watch(writer)
    const pruning = every(PRUNE_BATCH_OUTCOMES_EVERY_MS, () => pruneBatchOutcomes(database), log, 'writer: pruning batch outcomes')
    opened.push(() => pruning.stop())

    return { database, bus, presence, limiters, storage, tokens, writer, metrics, close }
  } catch (err) {
    await close()
    throw err
  }
}
