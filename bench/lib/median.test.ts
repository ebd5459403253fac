import { describe, expect, test } from 'bun:test'
import { median, medians } from '../scenarios/fanout.ts'
import { compare } from '../report.ts'

describe('fanout --repeat: medians over repeats', () => {
  test('median of odd and even counts', () => {
    expect(median([3, 1, 2])).toBe(2)
    expect(median([4, 1, 3, 2])).toBe(2.5)
    expect(median([7])).toBe(7)
  })

  test('each metric and baseline: median of ours, of the baseline and of the per-repeat ratio', () => {
    const repeat = (oursP99: number, bareP99: number, socketioP99: number) => [
      compare('p99 latency', 'ms', oursP99, bareP99, 'bare Bun', 'lower'),
      compare('p99 latency', 'ms', oursP99, socketioP99, 'Socket.IO', 'lower'),
    ]
    const m = medians([repeat(100, 50, 1000), repeat(300, 40, 900), repeat(120, 80, 2000)])
    expect(m).toHaveLength(2)
    const bare = m.find((c) => c.baselineName === 'bare Bun')!
    expect(bare.metric).toBe('p99 latency (median of 3)')
    expect(bare.ours).toBe(120)
    expect(bare.baseline).toBe(50)
    // the ratios are 2, 7.5, 1.5: their median, not the ratio of the medians (2.4)
    expect(bare.ratio).toBe(2)
    const sio = m.find((c) => c.baselineName === 'Socket.IO')!
    expect(sio.baseline).toBe(1000)
    // 0.1, 0.333, 0.06
    expect(sio.ratio).toBe(0.1)
  })
})
