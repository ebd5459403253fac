/**
 * The message writer: batched group commit of messages (DESIGN.md "How a
 * message travels"), with an adaptive flush (see `schedule`). This file decides when batches go and what each sender
 * hears; writer/queue.ts picks the batches, writer/statements.ts runs them,
 * writer/failure.ts reads the errors, writer/outcome.ts maps the answers.
 *
 * Failures: a connection error is retried for `retryForMs` (about a second),
 * then the batch's senders get `unavailable` and the writer is down: submits
 * answer `unavailable` at once and the database is pinged every
 * `pingEveryMs` until it answers. Any other error splits the batch in two
 * and tries each half, so a row the database refuses fails alone (422) and
 * its neighbours commit.
 */
import { AppError, unavailable } from '../lib/errors'
import { sleep } from '../lib/time'
import type { Database } from './client'
import { classifyFailure, Failure, isRetryable, retryDelayMs } from './writer/failure'
import { refusedOutcome } from './writer/outcome'
import { createBatchQueue, type Batch } from './writer/queue'
import { writeBatch, writeBatchInOneStatement } from './writer/statements'
import type { MessageWriter, Outcome, Pending, WriteResult, WriterOptions, WriterStats } from './writer/types'

export type { MessageWriter, WriteRequest, WriteResult, WriterOptions, WriterStats } from './writer/types'

/** How a batch attempt ended, once retries are spent. */
type Attempted =
  | { kind: 'committed'; outcomes: Outcome[] }
  /** connection errors outlived the retry budget, or the writer is down */
  | { kind: 'unavailable' }
  /** the database refused the batch's data (or failed in a way a retry does not help) */
  | { kind: 'refused'; failure: Failure; error: unknown }

export function createMessageWriter(database: Database, opts: WriterOptions): MessageWriter {
  const retryForMs = opts.retryForMs ?? 1_000
  const pingEveryMs = opts.pingEveryMs ?? 250
  const queue = createBatchQueue<Pending>({ batchMax: opts.batchMax, lanes: opts.lanes ?? 1 })
  const log = opts.log
  let closed = false
  let down = false
  const stats: WriterStats = {
    batches: 0, messages: 0, errors: 0, retries: 0, splits: 0, refused: 0, queued: 0, inFlight: 0, flushMsTotal: 0, lastBatchSizes: [],
  }
  let timer: ReturnType<typeof setTimeout> | null = null
  let idleWaiters: (() => void)[] = []

  const flushSoon = () => {
    if (timer) clearTimeout(timer)
    timer = null
    queueMicrotask(flush)
  }

  /**
   * Adaptive flush. Idle (no batch in flight): commit at once; the microtask
   * lets what arrived in the same tick (a burst read from one socket) join.
   * Busy: arrivals accumulate while batches commit and go as the next batch
   * when one ends (`run`), so batches grow with load: group commit under
   * load, one commit's latency at idle. A free lane beside a batch in flight
   * takes them after `flushMs` at most (or at once when a full batch waits).
   */
  const schedule = () => {
    if (queue.waiting === 0 || queue.inFlight >= (opts.lanes ?? 1)) return
    if (queue.inFlight === 0 || queue.waiting >= opts.batchMax || opts.flushMs === 0) flushSoon()
    else if (!timer) {
      timer = setTimeout(() => {
        timer = null
        flush()
      }, opts.flushMs)
    }
  }

  /** Starts batches while lanes are free and queued messages are free to go. */
  function flush() {
    for (let batch = queue.take(); batch; batch = queue.take()) void run(batch)
  }

  async function run(batch: Batch<Pending>) {
    const started = performance.now()
    await settle(batch.items)
    stats.batches++
    stats.flushMsTotal += performance.now() - started
    opts.onBatch?.(batch.items.length, (performance.now() - started) / 1000)
    stats.lastBatchSizes.push(batch.items.length)
    if (stats.lastBatchSizes.length > 64) stats.lastBatchSizes.shift()
    queue.release(batch)
    // those waited a whole commit already: go again at once
    if (queue.waiting > 0) flushSoon()
    else if (queue.inFlight === 0) {
      const waiters = idleWaiters
      idleWaiters = []
      for (const f of waiters) f()
    }
  }

  /**
   * Commits `items` and answers every sender. A refused batch is split in
   * two, the halves in order (a room's messages keep submission order), until
   * the rows the database refuses stand alone.
   */
  async function settle(items: Pending[]): Promise<void> {
    const r = await attempt(items)
    if (r.kind === 'committed') {
      items.forEach((p, i) => answer(p, r.outcomes[i]!))
      return
    }
    if (r.kind === 'unavailable') {
      const e = unavailable('The database is unavailable; the message was not stored. Retry later.')
      for (const p of items) p.reject(e)
      return
    }
    if (items.length === 1) {
      stats.refused++
      // data: the row's own fault; anything else may be a bug worth a look
      if (r.failure === Failure.data) log.warn('writer: the database refused a message', { failure: r.failure, error: r.error })
      else log.error('writer: a message failed alone', { failure: r.failure, error: r.error })
      items[0]!.reject(refusedOutcome(r.failure, r.error))
      return
    }
    stats.splits++
    const half = Math.ceil(items.length / 2)
    await settle(items.slice(0, half))
    await settle(items.slice(half))
  }

  /** One batch, retried while the failure is a passing one and the budget lasts. */
  async function attempt(items: Pending[]): Promise<Attempted> {
    const started = performance.now()
    // one id for every attempt: a retry finds what an attempt that did commit recorded
    const batchId = crypto.randomUUID()
    for (let tries = 0; ; tries++) {
      if (down) return { kind: 'unavailable' }
      try {
        return { kind: 'committed', outcomes: await commitOnce(items, batchId, tries > 0) }
      } catch (err) {
        stats.errors++
        const failure = classifyFailure(err)
        if (!isRetryable(failure)) return { kind: 'refused', failure, error: err }
        if (performance.now() - started + retryDelayMs(tries + 1) > retryForMs) {
          log.error('writer: batch failed, giving up', { size: items.length, failure, error: err })
          if (failure === Failure.connection) goDown()
          return { kind: 'unavailable' }
        }
        stats.retries++
        log.warn('writer: batch failed, retrying', { size: items.length, attempt: tries + 1, failure, error: err })
        await sleep(retryDelayMs(tries + 1))
      }
    }
  }

  /** Throws the driver's error when the statement fails. */
  async function commitOnce(items: Pending[], batchId: string, retry: boolean): Promise<Outcome[]> {
    // an earlier attempt may have committed: the transaction path reads its record first
    if (retry) return writeBatch(database, items, batchId, true)
    try {
      return await writeBatchInOneStatement(database, items, batchId)
    } catch (err) {
      // the common case in one statement; a client_msg_id seen before (rare) makes it fail as a whole
      if (classifyFailure(err) === Failure.duplicateClientMsgId) return writeBatch(database, items, batchId, false)
      throw err
    }
  }

  function answer(p: Pending, o: Outcome) {
    if (o instanceof AppError) p.reject(o)
    else {
      if (o.status === 'created') stats.messages++
      p.resolve(o)
    }
  }

  /** The database is gone: refuse at once instead of making senders wait, and watch for it to come back. */
  function goDown() {
    if (down) return
    down = true
    log.error('writer: the database is down; refusing messages until it answers')
    const e = unavailable('The database is unavailable; the message was not stored. Retry later.')
    for (const p of queue.clear()) p.reject(e)
    void (async () => {
      while (down && !closed) {
        await sleep(pingEveryMs)
        try {
          await database.ping()
          down = false
          log.info('writer: the database answers again')
        } catch {
          // still down: the next ping will tell
        }
      }
    })()
  }

  return {
    get stats() {
      stats.queued = queue.waiting
      stats.inFlight = queue.inFlight
      return stats
    },
    get healthy() {
      return !down
    },
    get busy() {
      return queue.inFlight > 0 || queue.waiting > 0
    },
    submit(req) {
      if (closed) return Promise.reject(unavailable('The server is shutting down; retry on another node.'))
      if (down) return Promise.reject(unavailable('The database is unavailable; the message was not stored. Retry later.'))
      if (queue.waiting + queue.inFlightMessages >= opts.queueMax) {
        return Promise.reject(unavailable('The server is overloaded: the write queue is full. Retry later.'))
      }
      const submitted = performance.now()
      const committed = opts.onCommitted
      return new Promise<WriteResult>((resolve, reject) => {
        queue.push({ req, resolve: committed ? (r) => { committed((performance.now() - submitted) / 1000); resolve(r) } : resolve, reject })
        schedule()
      })
    },
    drain() {
      if (queue.inFlight === 0 && queue.waiting === 0) return Promise.resolve()
      return new Promise<void>((r) => {
        idleWaiters.push(r)
        if (timer) flushSoon()
      })
    },
    async close() {
      closed = true
      await this.drain()
    },
  }
}
