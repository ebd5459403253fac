import { describe, expect, setDefaultTimeout, test } from 'bun:test'
import { every } from './every'
import { silentLogger, type Logger } from './logger'

setDefaultTimeout(60_000)

/** Resolves once `cond` holds, checking on each turn of the event loop. */
async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 1))
}

describe('every', () => {
  test('never runs the job twice at once, however slow a run', async () => {
    let running = 0
    let most = 0
    let runs = 0
    const gates: (() => void)[] = []
    const job = every(1, async () => {
      running++
      most = Math.max(most, running)
      runs++
      await new Promise<void>((r) => gates.push(r))
      running--
    }, silentLogger)
    for (let i = 0; i < 5; i++) {
      await until(() => gates.length > 0)
      // the run in progress holds; ticks keep coming meanwhile
      await new Promise((r) => setTimeout(r, 5))
      gates.shift()!()
    }
    await until(() => runs >= 6)
    const stopped = job.stop()
    gates.shift()?.()
    await stopped
    expect(most).toBe(1)
  })

  test('stop() waits for the run in progress and no run starts after it', async () => {
    let release!: () => void
    let finished = false
    let runs = 0
    const job = every(1, async () => {
      runs++
      await new Promise<void>((r) => { release = r })
      finished = true
    }, silentLogger)
    await until(() => runs === 1)
    let stopDone = false
    const stopping = job.stop().then(() => { stopDone = true })
    await new Promise((r) => setTimeout(r, 5))
    expect(stopDone).toBe(false)
    release()
    await stopping
    expect(finished).toBe(true)
    await new Promise((r) => setTimeout(r, 10))
    expect(runs).toBe(1)
  })

  test('a failed run is logged with its name and the schedule goes on', async () => {
    const warned: string[] = []
    const log: Logger = { ...silentLogger, warn: (msg: string) => void warned.push(msg), child: () => log }
    let runs = 0
    const job = every(1, async () => {
      runs++
      throw new Error('boom')
    }, log, 'search indexer')
    await until(() => runs >= 3)
    await job.stop()
    expect(warned[0]).toBe('search indexer failed')
  })
})
