/**
 * At most `concurrency` jobs at a time; the others wait in one queue per key
 * (a client), served round-robin, so that one key's burst delays only its own
 * jobs: every other key waits for at most one job of each waiting key.
 * Waiting is bounded in total (`maxQueued`) and per key (`maxQueuedPerKey`):
 * past either, `run` throws a GateFull at once and holds nothing.
 */
export class GateFull extends Error {
  /** `key`: this key has too many jobs waiting; `total`: the whole queue is full */
  readonly scope: 'key' | 'total'
  constructor(scope: 'key' | 'total') {
    super(scope === 'key' ? 'too many jobs waiting for this key' : 'too many jobs waiting')
    this.scope = scope
  }
}

export type FairGateOptions = {
  /** jobs running at once; at least 1 */
  concurrency: number
  /** jobs waiting at most, all keys together; 0 = none may wait */
  maxQueued: number
  /** jobs of one key waiting at most (defaults to maxQueued) */
  maxQueuedPerKey?: number
}

export type FairGate = ReturnType<typeof createFairGate>

export function createFairGate(o: FairGateOptions) {
  const concurrency = Math.max(1, Math.floor(o.concurrency))
  const perKey = o.maxQueuedPerKey ?? o.maxQueued
  /** waiting starts, per key; Map order is the round-robin order */
  const queues = new Map<string, (() => void)[]>()
  const stats = { running: 0, queued: 0, peakRunning: 0, peakQueued: 0, started: 0, rejected: 0 }

  function start() {
    stats.started++
    stats.running++
    if (stats.running > stats.peakRunning) stats.peakRunning = stats.running
  }

  function release() {
    stats.running--
    const first = queues.entries().next()
    if (first.done) return
    const [key, q] = first.value
    const wake = q.shift()!
    // this key goes to the back of the line: the next free slot is another key's
    queues.delete(key)
    if (q.length > 0) queues.set(key, q)
    stats.queued--
    start()
    wake()
  }

  return {
    stats,
    /** Runs `job` when a slot is free and it is `key`'s turn; throws GateFull if it cannot wait. */
    async run<T>(key: string, job: () => Promise<T>): Promise<T> {
      if (stats.running < concurrency && stats.queued === 0) {
        start()
      } else {
        const q = queues.get(key)
        if (stats.queued >= o.maxQueued) {
          stats.rejected++
          throw new GateFull('total')
        }
        if ((q?.length ?? 0) >= perKey) {
          stats.rejected++
          throw new GateFull('key')
        }
        // the slot is handed over (and counted) by release() before this resolves
        await new Promise<void>((resolve) => {
          if (q) q.push(resolve)
          else queues.set(key, [resolve])
          stats.queued++
          if (stats.queued > stats.peakQueued) stats.peakQueued = stats.queued
        })
      }
      try {
        return await job()
      } finally {
        release()
      }
    },
  }
}
