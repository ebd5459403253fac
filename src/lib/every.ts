import type { Logger } from './logger'

/** A background job started by `every`. */
export type Job = {
  /** No further runs; resolves once the run in progress (if any) has ended. */
  stop(): Promise<void>
}

/**
 * Runs `fn` every `ms` milliseconds, never two runs at once: the next run is
 * timed from the end of the previous one, so a slow run delays the next
 * instead of piling up. A failed run is logged as `${name} failed` and the
 * schedule goes on.
 */
export function every(ms: number, fn: () => Promise<unknown>, log: Logger, name = 'background job'): Job {
  let stopped = false
  let running: Promise<void> | null = null
  let timer: ReturnType<typeof setTimeout> | null = null

  const tick = () => {
    timer = null
    running = Promise.resolve()
      .then(fn)
      .then(() => {}, (err: unknown) => log.warn(`${name} failed`, { error: err }))
      .finally(() => {
        running = null
        if (!stopped) timer = setTimeout(tick, ms)
      })
  }
  timer = setTimeout(tick, ms)

  return {
    async stop() {
      stopped = true
      if (timer) clearTimeout(timer)
      timer = null
      await running
    },
  }
}
