import { describe, expect, test } from 'bun:test'
import { BatchSizer, SLICE_MIN_ROWS, createPacer, unpaced } from './pace'

describe('BatchSizer: batches sized to a time budget', () => {
  test('starts small and grows at most 2× a batch while batches are fast', () => {
    const s = new BatchSizer(2000, 4)
    expect(s.size).toBe(SLICE_MIN_ROWS)
    const seen: number[] = []
    for (let i = 0; i < 10; i++) {
      seen.push(s.size)
      // 0.01 ms a row: the slice would hold 400 rows
      s.record(s.size, s.size * 0.01)
    }
    expect(seen).toEqual([10, 20, 40, 80, 160, 320, 400, 400, 400, 400])
  })

  test('a slow batch shrinks the next one to fit the slice, never below the minimum', () => {
    const s = new BatchSizer(2000, 4)
    for (let i = 0; i < 12; i++) s.record(s.size, s.size * 0.001)
    expect(s.size).toBe(2000)
    // the database got slow: 0.1 ms a row
    s.record(2000, 200)
    expect(s.size).toBe(40)
    // a row now costs more than the whole slice
    s.record(40, 400)
    expect(s.size).toBe(SLICE_MIN_ROWS)
  })

  test('never above max; an empty batch or a zero duration says nothing about speed', () => {
    const s = new BatchSizer(25, 4)
    s.record(10, 0)
    expect(s.size).toBe(20)
    s.record(0, 50)
    expect(s.size).toBe(20)
    s.record(20, 0.001)
    expect(s.size).toBe(25)
    expect(new BatchSizer(5, 4).size).toBe(5)
  })

  test('sliceMs 0 and the unpaced pacer: always the largest batch', async () => {
    const s = new BatchSizer(500, 0)
    s.record(500, 10_000)
    expect(s.size).toBe(500)
    expect(unpaced.sizer(700).size).toBe(700)
    const p = createPacer({ busy: () => false, idle: async () => {}, maxDeferMs: 0, pauseMs: 0, sliceMs: 3 })
    expect(p.sizer(700).size).toBe(SLICE_MIN_ROWS)
  })

  test('run() times the work and counts the rows it returns', async () => {
    const s = new BatchSizer(1000, 1_000_000)
    const asked: number[] = []
    const batch = async () => {
      const n = s.size
      asked.push(n)
      return Array.from({ length: n }, (_, i) => i)
    }
    const rows = await s.run(batch)
    expect(rows.length).toBe(10)
    await s.run(batch)
    expect(asked).toEqual([10, 20])
    expect(s.size).toBe(40)
  })
})
