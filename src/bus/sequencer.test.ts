import { describe, expect, setDefaultTimeout, test } from 'bun:test'
import { until } from '../../test/helpers'
import { RoomSequencer, type SeqFrame } from './sequencer'

// per file: Bun applies a preload's default timeout to the first file only, and hooks start servers
setDefaultTimeout(60_000)

/** A sequencer whose database holds `stored` and whose emits are recorded. */
function make(stored: SeqFrame[] = [], waitMs = 20) {
  const out: number[] = []
  const fetches: [number, number][] = []
  const seq = new RoomSequencer(
    1,
    (_frame, s) => out.push(s),
    async (_room, after, upto) => {
      fetches.push([after, upto])
      return stored.filter((f) => f.seq > after && f.seq <= upto)
    },
    waitMs,
  )
  return { seq, out, fetches }
}
const f = (s: number): SeqFrame => ({ seq: s, frame: `m${s}` })

describe('RoomSequencer', () => {
  test('in-order events pass straight through', () => {
    const { seq, out } = make()
    seq.start(0)
    for (const s of [1, 2, 3]) seq.push(s, `m${s}`)
    expect(out).toEqual([1, 2, 3])
  })

  test('events before start wait; those already in the database at start are dropped', () => {
    const { seq, out } = make()
    seq.push(5, 'm5')
    seq.push(6, 'm6')
    expect(out).toEqual([])
    seq.start(5)
    expect(out).toEqual([6])
  })

  test('a later event waits for the gap; the gap arrives; order holds', () => {
    const { seq, out } = make()
    seq.start(0)
    seq.push(2, 'm2')
    seq.push(3, 'm3')
    expect(out).toEqual([])
    seq.push(1, 'm1')
    expect(out).toEqual([1, 2, 3])
  })

  test('duplicates are dropped, whenever they come', () => {
    const { seq, out } = make()
    seq.start(0)
    seq.push(1, 'm1')
    seq.push(1, 'm1')
    seq.push(3, 'm3')
    seq.push(3, 'm3')
    seq.push(2, 'm2')
    seq.push(2, 'm2')
    expect(out).toEqual([1, 2, 3])
  })

  test('a gap that never arrives is filled from the database after the wait', async () => {
    const { seq, out, fetches } = make([f(1), f(2), f(3), f(4)], 20)
    seq.start(0)
    seq.push(3, 'm3')
    seq.push(4, 'm4')
    await until(() => out.length >= 4, 15_000, 'the gap filled')
    expect(out).toEqual([1, 2, 3, 4])
    expect(fetches).toEqual([[0, 2]])
  })

  test('a seq the database no longer has is skipped, not waited for forever', async () => {
    const { seq, out } = make([f(1), f(3)], 10)
    seq.start(0)
    seq.push(3, 'm3')
    await until(() => out.length >= 2, 15_000, 'the gap skipped')
    expect(out).toEqual([1, 3])
  })

  test('catchUp emits everything up to a seq from the database', async () => {
    const { seq, out } = make([f(1), f(2), f(3)], 1000)
    seq.start(0)
    await seq.catchUp(3)
    expect(out).toEqual([1, 2, 3])
    expect(seq.delivered).toBe(3)
    seq.push(2, 'm2')
    seq.push(4, 'm4')
    expect(out).toEqual([1, 2, 3, 4])
  })

  test('catchUp of more than a page (the reader returns at most 1000 rows) pages on, skipping nothing', async () => {
    const stored = Array.from({ length: 2500 }, (_, i) => f(i + 1))
    const out: number[] = []
    const fetches: [number, number][] = []
    const seq = new RoomSequencer(1, (_f, s) => out.push(s), async (_r, after, upto) => {
      fetches.push([after, upto])
      return stored.filter((x) => x.seq > after && x.seq <= upto).slice(0, 1000)
    }, 1000)
    seq.start(0)
    await seq.catchUp(2500)
    expect(out).toEqual(stored.map((x) => x.seq))
    expect(fetches).toEqual([[0, 2500], [1000, 2500], [2000, 2500]])
    seq.push(2501, 'm2501')
    expect(out.at(-1)).toBe(2501)
  })

  test('a gap of more than a page is filled page by page', async () => {
    const stored = Array.from({ length: 1500 }, (_, i) => f(i + 1))
    const out: number[] = []
    const seq = new RoomSequencer(1, (_f, s) => out.push(s), async (_r, after, upto) =>
      stored.filter((x) => x.seq > after && x.seq <= upto).slice(0, 1000), 10)
    seq.start(0)
    seq.push(1501, 'm1501')
    await seq.catchUp(1500)
    expect(out).toEqual([...stored.map((x) => x.seq), 1501])
  })

  test('a failing fetch is retried after the wait', async () => {
    let fail = true
    const out: number[] = []
    const seq = new RoomSequencer(1, (_f, s) => out.push(s), async (_r, after, upto) => {
      if (fail) {
        fail = false
        throw new Error('db down')
      }
      return [f(1), f(2)].filter((x) => x.seq > after && x.seq <= upto)
    }, 10)
    seq.start(0)
    seq.push(3, 'm3')
    await until(() => out.length >= 3, 15_000, 'the retried fill')
    expect(out).toEqual([1, 2, 3])
  })

  test('stop drops what waits and emits nothing more', async () => {
    const { seq, out } = make([f(1)], 10)
    seq.start(0)
    seq.push(2, 'm2')
    seq.stop()
    await Bun.sleep(30)
    seq.push(1, 'm1')
    expect(out).toEqual([])
  })
})
