/**
 * Background work that yields to the foreground: the search indexer, the
 * retention sweep and the room purge call `turn()` before each bounded batch.
 * While the message writer has work (messages waiting or committing) a turn
 * waits for it to go idle, at most `maxDeferMs` (so a writer that is never
 * idle cannot starve the background for good); between two batches it
 * pauses `pauseMs`, so a long backlog is worked off in slices with the
 * foreground's commits in between, never in one long transaction.
 */
import { sleep } from './time'

export type PacerOptions = {
  /** true while the foreground has work: the background holds back */
  busy: () => boolean
  /** resolves once the foreground is idle */
  idle: () => Promise<void>
  /** longest a turn defers to a busy foreground, ms */
  maxDeferMs: number
  /** pause before a turn that follows work done, ms */
  pauseMs: number
  /** what one batch should take, ms: batch sizes adapt to it (see BatchSizer) */
  sliceMs: number
}

export type Pacer = {
  /**
   * Resolves when the next batch may run. `noPause`: the first batch of a
   * run, or one after a batch that found nothing to do (no pause before it;
   * it still defers to a busy foreground).
   */
  turn(noPause?: boolean): Promise<void>
  /** turns that found the foreground busy and waited (for tests and /metrics) */
  readonly deferred: number
  /** Batch sizes for one job, at most `max` rows: fitted to the slice (unpaced: always `max`). */
  sizer(max: number): BatchSizer
}

/** Smallest adaptive batch, rows. */
export const SLICE_MIN_ROWS = 10

/**
 * Sizes a background job's batches to a time budget. A commit that arrives
 * while a batch runs waits for it (on 2 cores it shares the CPU, and its WAL
 * flush carries the batch's WAL), so what bounds the foreground's tail is
 * how long one batch takes, not how many rows it holds: a row of the search
 * indexer costs ~0.1 ms of trigrams on this box, a retention delete far less.
 * Each batch is sized from the last one's rows per millisecond to take about
 * `sliceMs`; it grows at most 2× a batch (a fast batch of a few rows says
 * little), never below SLICE_MIN_ROWS or above `max`.
 */
export class BatchSizer {
  #size: number
  constructor(
    readonly max: number,
    private readonly sliceMs: number,
  ) {
    this.#size = Math.min(max, sliceMs > 0 ? SLICE_MIN_ROWS : max)
  }

  /** Rows for the next batch. */
  get size(): number {
    return this.#size
  }

  /** After a batch: it handled `rows` in `ms` (wall time, as the foreground sees it). */
  record(rows: number, ms: number): void {
    if (this.sliceMs <= 0 || rows <= 0) return
    const fit = ms <= 0 ? this.max : Math.floor((rows * this.sliceMs) / ms)
    this.#size = Math.max(Math.min(SLICE_MIN_ROWS, this.max), Math.min(this.max, fit, this.#size * 2))
  }

  /** Runs one batch (of at most `size` rows) through `work`, timed; `work` returns the rows it handled. */
  async run<T extends readonly unknown[]>(work: () => Promise<T>): Promise<T> {
    const t0 = performance.now()
    const rows = await work()
    this.record(rows.length, performance.now() - t0)
    return rows
  }
}

export function createPacer(o: PacerOptions): Pacer {
  let deferred = 0
  return {
    get deferred() {
      return deferred
    },
    sizer: (max) => new BatchSizer(max, o.sliceMs),
    async turn(noPause = false) {
      if (!noPause && o.pauseMs > 0) await sleep(o.pauseMs)
      if (!o.busy()) return
      deferred++
      let timer: ReturnType<typeof setTimeout> | null = null
      await Promise.race([o.idle(), new Promise<void>((r) => (timer = setTimeout(r, o.maxDeferMs)))])
      if (timer) clearTimeout(timer)
    },
  }
}

/** No pacing: batches run back to back (tools, benches and tests of the job itself). */
export const unpaced: Pacer = { turn: () => Promise.resolve(), deferred: 0, sizer: (max) => new BatchSizer(max, 0) }
