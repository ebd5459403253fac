import type { Logger } from '../lib/logger'
import type { RedisTarget } from '../lib/redis'
import type { Bus, BusHandler, EventMeta } from './bus'
import { createClusterPubSub } from './pubsub.cluster'
import { createSinglePubSub } from './pubsub.single'

export type RedisBusOptions = {
  /** one Redis server (plain pub/sub) or a Redis Cluster (sharded pub/sub) */
  target: RedisTarget
  nodeId: string
  /** prefix of every channel (tests use a unique one) */
  prefix: string
  log: Logger
  /** per event relayed from another node: its publish → receive lag, seconds (for /metrics) */
  onRelayLag?: (seconds: number) => void
}

/**
 * Several nodes over Redis pub/sub (sharded on a cluster). Each event is
 * published once, on its topic's channel, as `[nodeId, meta]\n<frame>`; a
 * node hears only topics it subscribed and drops its own. Redis pub/sub is
 * at-most-once: after a reconnect the node resubscribes (topics wanted
 * meanwhile too) and `onResync` callbacks fill the gaps.
 */
export async function createRedisBus(o: RedisBusOptions): Promise<Bus> {
  const ps = o.target.kind === 'cluster' ? createClusterPubSub(o.target, o.nodeId, o.log) : createSinglePubSub(o.target, o.nodeId, o.log)
  let handler: BusHandler = () => {}
  const resyncs: (() => void)[] = []
  /** what the hub wants; `active` what Redis has */
  const wanted = new Set<string>()
  const active = new Set<string>()
  let waiters: { topics: string[]; resolve: () => void; reject: (e: unknown) => void }[] = []
  let flushQueued = false
  let everReady = false
  let closed = false
  const relayStats = { received: 0, lagMsAvg: 0 }

  ps.onRecovered(() => {
    // ioredis resubscribed what it had; topics wanted while it was down are subscribed now;
    // then the events missed in between are filled from the database
    o.log.warn('redis bus: reconnected; filling gaps from the database')
    void flush().finally(() => {
      for (const cb of resyncs) cb()
    })
  })
  const prefixLen = o.prefix.length
  ps.onMessage((channel: string, payload: string) => {
    const nl = payload.indexOf('\n')
    if (nl < 0) return
    let head: [string, EventMeta | undefined, number?]
    try {
      head = JSON.parse(payload.slice(0, nl)) as [string, EventMeta | undefined, number?]
    } catch {
      return
    }
    // what this node published it delivered itself, synchronously
    if (head[0] === o.nodeId) return
    if (head[2]) {
      // mean over the last ~1000 events; clocks of nodes on one host (or NTP) agree to well under a ms
      relayStats.received++
      const lagMs = Date.now() - head[2]
      relayStats.lagMsAvg += (lagMs - relayStats.lagMsAvg) / Math.min(relayStats.received, 1000)
      o.onRelayLag?.(Math.max(0, lagMs) / 1000)
    }
    handler(channel.slice(prefixLen), payload.slice(nl + 1), head[1] ?? undefined)
  })

  await ps.connect()
  everReady = true

  /** One SUBSCRIBE and one UNSUBSCRIBE per tick, whatever the number of rooms. */
  async function flush() {
    flushQueued = false
    const batch = waiters
    waiters = []
    const toSub = [...wanted].filter((t) => !active.has(t))
    const toUnsub = [...active].filter((t) => !wanted.has(t))
    try {
      if (toUnsub.length > 0) {
        for (const t of toUnsub) active.delete(t)
        await ps.unsubscribe(toUnsub.map((t) => o.prefix + t))
      }
      if (toSub.length > 0) {
        await ps.subscribe(toSub.map((t) => o.prefix + t))
        for (const t of toSub) active.add(t)
      }
      for (const w of batch) w.resolve()
    } catch (err) {
      // the connection is down: the topics stay wanted and are subscribed on reconnect (see 'ready')
      if (!ps.up && !closed) for (const w of batch) w.resolve()
      else for (const w of batch) w.reject(err)
    }
  }
  const queueFlush = () => {
    if (flushQueued) return
    flushQueued = true
    setImmediate(() => void flush())
  }

  return {
    kind: 'redis',
    relayStats,
    setHandler: (h) => {
      handler = h
    },
    onResync: (cb) => {
      resyncs.push(cb)
    },
    publish(topic, frame, meta) {
      if (!meta?.remoteOnly) handler(topic, frame, meta)
      const head = JSON.stringify([o.nodeId, meta ?? null, Date.now()])
      ps.publish(o.prefix + topic, `${head}\n${frame}`).catch((err: unknown) => {
        // other nodes fill the gap from the database (sequencer, resync)
        o.log.warn('redis bus: publish failed', { topic, error: err })
      })
    },
    subscribe(topics) {
      for (const t of topics) wanted.add(t)
      // while Redis is down this node's own events still reach it; the topics are subscribed on
      // reconnect, and what other nodes sent meanwhile is filled from the database (onResync)
      if (topics.every((t) => active.has(t)) || (everReady && !ps.up)) return Promise.resolve()
      return new Promise<void>((resolve, reject) => {
        waiters.push({ topics, resolve, reject })
        queueFlush()
      })
    },
    unsubscribe(topics) {
      for (const t of topics) wanted.delete(t)
      if (!closed) queueFlush()
    },
    async ping() {
      await ps.ping()
    },
    async close() {
      closed = true
      ps.close()
    },
  }
}
