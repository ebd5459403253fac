import { describe, expect, setDefaultTimeout, test } from 'bun:test'
import { createBatchQueue } from './queue'

// per file: Bun applies a preload's default timeout to the first file only, and hooks start servers
setDefaultTimeout(60_000)

const msg = (roomId: number, n: number) => ({ req: { roomId }, n })
type Msg = ReturnType<typeof msg>
const ns = (items: Msg[]) => items.map((m) => m.n)

describe('batch queue', () => {
  test('takes queued messages in order, at most batchMax', () => {
    const q = createBatchQueue<Msg>({ batchMax: 3, lanes: 1 })
    for (let i = 0; i < 5; i++) q.push(msg(1 + (i % 2), i))
    const b = q.take()!
    expect(ns(b.items)).toEqual([0, 1, 2])
    expect(q.waiting).toBe(2)
    expect(q.inFlight).toBe(1)
    expect(q.inFlightMessages).toBe(3)
  })

  test('one lane: nothing more goes while a batch is in flight; release lets the rest go', () => {
    const q = createBatchQueue<Msg>({ batchMax: 2, lanes: 1 })
    for (let i = 0; i < 4; i++) q.push(msg(i, i))
    const b = q.take()!
    expect(q.take()).toBeNull()
    q.release(b)
    expect(q.inFlight).toBe(0)
    expect(ns(q.take()!.items)).toEqual([2, 3])
  })

  test('a room with a batch in flight waits, and so do its later messages; other rooms go', () => {
    const q = createBatchQueue<Msg>({ batchMax: 10, lanes: 2 })
    q.push(msg(1, 0))
    const b1 = q.take()!
    q.push(msg(1, 1))
    q.push(msg(2, 2))
    q.push(msg(1, 3))
    const b2 = q.take()!
    expect(ns(b2.items)).toEqual([2])
    // both lanes busy
    expect(q.take()).toBeNull()
    q.release(b2)
    // room 1 still busy: nothing may go
    expect(q.take()).toBeNull()
    q.release(b1)
    expect(ns(q.take()!.items)).toEqual([1, 3])
  })

  test('under load (a full batch waiting) rooms split by id into lanes, one batch each', () => {
    const q = createBatchQueue<Msg>({ batchMax: 4, lanes: 2 })
    for (let i = 0; i < 8; i++) q.push(msg(i, i))
    const a = q.take()!
    const b = q.take()!
    expect(a.part).toBe(0)
    expect(ns(a.items)).toEqual([0, 2, 4, 6])
    expect(b.part).toBe(1)
    expect(ns(b.items)).toEqual([1, 3, 5, 7])
    expect(q.take()).toBeNull()
  })

  test('under load a part with nothing free is skipped for the next', () => {
    const q = createBatchQueue<Msg>({ batchMax: 2, lanes: 3 })
    // rooms 5 and 8 are in part 2 and 2: parts 0 and 1 hold nothing
    for (let i = 0; i < 4; i++) q.push(msg(i % 2 ? 5 : 8, i))
    const b = q.take()!
    expect(b.part).toBe(2)
    expect(ns(b.items)).toEqual([0, 1])
  })

  test('quiet (less than a batch waiting): one batch takes every room', () => {
    const q = createBatchQueue<Msg>({ batchMax: 100, lanes: 2 })
    for (let i = 0; i < 5; i++) q.push(msg(i, i))
    const b = q.take()!
    expect(b.part).toBeNull()
    expect(ns(b.items)).toEqual([0, 1, 2, 3, 4])
  })

  test('clear removes what waits, not what is in flight', () => {
    const q = createBatchQueue<Msg>({ batchMax: 2, lanes: 1 })
    for (let i = 0; i < 5; i++) q.push(msg(1, i))
    const b = q.take()!
    expect(ns(q.clear())).toEqual([2, 3, 4])
    expect(q.waiting).toBe(0)
    expect(q.inFlightMessages).toBe(2)
    q.release(b)
    expect(q.take()).toBeNull()
  })
})
