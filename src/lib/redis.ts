import { Cluster, Redis, type ClusterNode, type RedisOptions } from 'ioredis'

/**
 * Where a node's Redis is: one server (`REDIS_URL`) or a Redis Cluster
 * (`REDIS_CLUSTER_NODES`, a few of its nodes; the rest are discovered).
 */
export type RedisTarget = { kind: 'single'; url: string } | { kind: 'cluster'; nodes: ClusterNode[] }

/** A connection to either: the commands this server uses exist on both. */
export type RedisClient = Redis | Cluster

/** The target from the config's REDIS_URL / REDIS_CLUSTER_NODES; null when neither is set (one node). */
export function redisTarget(url: string | undefined, clusterNodes: string): RedisTarget | null {
  if (clusterNodes) return { kind: 'cluster', nodes: parseClusterNodes(clusterNodes) }
  return url ? { kind: 'single', url } : null
}

/** `host:port,host:port` → nodes; throws on an entry that is not one. */
export function parseClusterNodes(value: string): ClusterNode[] {
  return value.split(',').map((s) => s.trim()).filter(Boolean).map((entry) => {
    // a host name or IPv4 address, or an IPv6 address in brackets; then the port
    const m = /^(?:([A-Za-z0-9.-]+)|\[([0-9A-Fa-f:.]+)\]):(\d{1,5})$/.exec(entry)
    const port = m ? Number(m[3]) : 0
    if (!m || port < 1 || port > 65535) throw new Error(`not host:port: ${JSON.stringify(entry)}`)
    return { host: (m[1] ?? m[2])!, port }
  })
}

export type RedisClientOptions = {
  /** shown by CLIENT LIST: `{nodeId}:{role}` */
  connectionName: string
  /** reconnect delay after the n-th failed attempt, ms */
  retryStrategy?: (attempt: number) => number
  /** cluster only: one subscriber connection per shard, for SSUBSCRIBE (the bus) */
  shardedSubscribers?: boolean
}

/**
 * A lazily connecting client for the target (call `connect()`). Commands fail
 * after 2 retries rather than queue forever, so a request never waits on a
 * Redis that is away longer than that.
 */
export function createRedisClient(target: RedisTarget, o: RedisClientOptions): RedisClient {
  const common: RedisOptions = { maxRetriesPerRequest: 2, connectionName: o.connectionName }
  if (target.kind === 'single') {
    return new Redis(target.url, { ...common, lazyConnect: true, retryStrategy: o.retryStrategy ?? defaultRetry })
  }
  return new Cluster(target.nodes, {
    lazyConnect: true,
    redisOptions: common,
    shardedSubscribers: o.shardedSubscribers ?? false,
    clusterRetryStrategy: o.retryStrategy ?? defaultRetry,
    // a node that restarts comes back on its own instead of waiting for a MOVED to refresh the map
    clusterNodeRetryStrategy: o.retryStrategy ?? defaultRetry,
  })
}

/** 50 ms more per attempt, at most 1 s. */
const defaultRetry = (n: number) => Math.min(50 * n, 1000)
