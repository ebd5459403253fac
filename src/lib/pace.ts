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
}

export function createPacer(o: PacerOptions): Pacer {
  let deferred = 0
  return {
    get deferred() {
      return deferred
    },
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
export const unpaced: Pacer = { turn: () => Promise.resolve(), deferred: 0 }
