import { describe, expect, setDefaultTimeout, test } from 'bun:test'
import { createFairGate, GateFull } from './fair-gate'

// per file: Bun applies a preload's default timeout to the first file only
setDefaultTimeout(60_000)

/** A job the test finishes by hand; `started` tells whether the gate let it run. */
function held(log: string[], name: string) {
  let finish!: () => void
  let fail!: (e: Error) => void
  const state = { started: false }
  const done = new Promise<string>((resolve, reject) => {
    finish = () => resolve(name)
    fail = reject
  })
  return {
    state,
    job: () => {
      state.started = true
      log.push(name)
      return done
    },
    finish: () => finish(),
    fail: (e: Error) => fail(e),
  }
}

/** Lets resolved promises run their continuations. */
const settle = async () => {
  for (let i = 0; i < 5; i++) await Promise.resolve()
}

describe('fair gate', () => {
  test('runs at most `concurrency` jobs; the next starts when one ends', async () => {
    const gate = createFairGate({ concurrency: 2, maxQueued: 10 })
    const log: string[] = []
    const jobs = ['a', 'b', 'c', 'd'].map((n) => held(log, n))
    const results = jobs.map((j) => gate.run('k', j.job))
    await settle()
    expect(log).toEqual(['a', 'b'])
    expect(gate.stats).toMatchObject({ running: 2, queued: 2 })
    jobs[0]!.finish()
    await settle()
    expect(log).toEqual(['a', 'b', 'c'])
    for (const j of jobs) j.finish()
    expect(await Promise.all(results)).toEqual(['a', 'b', 'c', 'd'])
    expect(gate.stats).toMatchObject({ running: 0, queued: 0, peakRunning: 2, peakQueued: 2 })
  })

  test("one key's burst does not starve another: waiting keys take turns", async () => {
    const gate = createFairGate({ concurrency: 1, maxQueued: 100 })
    const log: string[] = []
    const first = held(log, 'a0')
    const p0 = gate.run('A', first.job)
    const burst = Array.from({ length: 5 }, (_, i) => held(log, `a${i + 1}`))
    const pa = burst.map((j) => gate.run('A', j.job))
    const other = [held(log, 'b0'), held(log, 'b1')]
    const pb = other.map((j) => gate.run('B', j.job))
    const third = held(log, 'c0')
    const pc = gate.run('C', third.job)
    // finish whatever runs, one at a time, and watch the order
    for (let i = 0; i < 9; i++) {
      await settle()
      for (const j of [first, ...burst, ...other, third]) if (j.state.started) j.finish()
    }
    await Promise.all([p0, ...pa, ...pb, pc])
    expect(log).toEqual(['a0', 'a1', 'b0', 'c0', 'a2', 'b1', 'a3', 'a4', 'a5'])
  })

  test('the wait is bounded in total and per key; a refused job holds nothing', async () => {
    const gate = createFairGate({ concurrency: 1, maxQueued: 3, maxQueuedPerKey: 2 })
    const log: string[] = []
    const running = held(log, 'run')
    const pr = gate.run('A', running.job)
    const waiting = [held(log, 'a1'), held(log, 'a2')]
    const pw = waiting.map((j) => gate.run('A', j.job))
    // a third of key A's is over the per-key bound
    const overKey = gate.run('A', held(log, 'a3').job)
    await expect(overKey).rejects.toBeInstanceOf(GateFull)
    await expect(overKey).rejects.toMatchObject({ scope: 'key' })
    // key B fits once more, then the whole queue is full
    const b = held(log, 'b1')
    const pb = gate.run('B', b.job)
    const overTotal = gate.run('C', held(log, 'c1').job)
    await expect(overTotal).rejects.toBeInstanceOf(GateFull)
    await expect(overTotal).rejects.toMatchObject({ scope: 'total' })
    expect(gate.stats).toMatchObject({ running: 1, queued: 3, rejected: 2 })
    for (let i = 0; i < 5; i++) {
      await settle()
      for (const j of [running, ...waiting, b]) if (j.state.started) j.finish()
    }
    await Promise.all([pr, ...pw, pb])
    expect(log).toEqual(['run', 'a1', 'b1', 'a2'])
    expect(gate.stats).toMatchObject({ running: 0, queued: 0 })
  })

  test('a job that throws frees its slot', async () => {
    const gate = createFairGate({ concurrency: 1, maxQueued: 10 })
    const log: string[] = []
    const bad = held(log, 'bad')
    const good = held(log, 'good')
    const pBad = gate.run('k', bad.job)
    const pGood = gate.run('k', good.job)
    await settle()
    bad.fail(new Error('boom'))
    await expect(pBad).rejects.toThrow('boom')
    await settle()
    expect(good.state.started).toBe(true)
    good.finish()
    expect(await pGood).toBe('good')
    expect(gate.stats.running).toBe(0)
  })

  test('no waiting allowed (maxQueued 0): a busy gate refuses at once', async () => {
    const gate = createFairGate({ concurrency: 1, maxQueued: 0 })
    const j = held([], 'x')
    const p = gate.run('k', j.job)
    await expect(gate.run('other', async () => 1)).rejects.toBeInstanceOf(GateFull)
    j.finish()
    await p
    expect(await gate.run('other', async () => 2)).toBe(2)
  })
})
