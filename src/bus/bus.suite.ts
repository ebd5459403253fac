import { afterEach, describe, expect, test } from 'bun:test'
import { until } from '../../test/helpers'
import type { Bus, EventMeta } from './bus'

type Got = { topic: string; frame: string; meta: EventMeta | undefined }

/**
 * One implementation under the shared suite. `pair` gives two nodes' buses
 * on one relay (or one bus twice when there is no relay); `multiNode` adds
 * the tests between nodes.
 */
export type BusFactory = {
  name: string
  pair: () => Promise<[Bus, Bus]>
  multiNode: boolean
  /**
   * false for sharded pub/sub: topics on different shards travel on different
   * connections, so only each topic's own order holds (the rooms' seq order)
   */
  orderedAcrossTopics?: boolean
}

/** The shared suite of the Bus interface: one `describe` per implementation. */
export function busSuite(impl: BusFactory): void {
  describe(`bus: ${impl.name}`, () => {
    let buses: Bus[] = []
    afterEach(async () => {
      for (const b of new Set(buses)) await b.close()
      buses = []
    })
    const collect = (b: Bus) => {
      const got: Got[] = []
      b.setHandler((topic, frame, meta) => got.push({ topic, frame, meta }))
      return got
    }

    test('a publish reaches this node at once, with its meta', async () => {
      const [a] = (buses = await impl.pair())
      const got = collect(a)
      await a.subscribe(['room:1'])
      a.publish('room:1', '{"x":1}', { seq: 4 })
      expect(got).toEqual([{ topic: 'room:1', frame: '{"x":1}', meta: { seq: 4 } }])
    })

    test('remoteOnly skips this node', async () => {
      const [a] = (buses = await impl.pair())
      const got = collect(a)
      a.publish('room:1', 'x', { remoteOnly: true })
      expect(got).toEqual([])
    })

    if (impl.multiNode) {
      test('another node hears subscribed topics only, once, never its own echo', async () => {
        const [a, b] = (buses = await impl.pair())
        const gotA = collect(a)
        const gotB = collect(b)
        await b.subscribe(['room:1', 'user:9'])
        a.publish('room:1', 'r1', { seq: 1 })
        a.publish('room:2', 'r2', { seq: 1 })
        a.publish('user:9', 'u9', { join: 5 })
        // one publishing connection keeps order: once u9 is here, r2 would have come before it
        // (sharded: each arrives on its own shard's connection; r2's shard drops it, B never asked)
        const ordered = impl.orderedAcrossTopics !== false
        await until(() => gotB.some((g) => g.frame === 'u9') && (ordered || gotB.some((g) => g.frame === 'r1')), 15_000, 'u9 on B')
        if (!ordered) gotB.sort((x, y) => x.frame.localeCompare(y.frame))
        expect(gotB).toEqual([
          { topic: 'room:1', frame: 'r1', meta: { seq: 1 } },
          { topic: 'user:9', frame: 'u9', meta: { join: 5 } },
        ])
        expect(gotA.map((g) => g.frame)).toEqual(['r1', 'r2', 'u9'])
      })

      test("one topic's events arrive in publish order (a room's seq order rests on it)", async () => {
        const [a, b] = (buses = await impl.pair())
        const gotB = collect(b)
        await b.subscribe(['room:77', 'room:78'])
        for (let i = 1; i <= 300; i++) a.publish(i % 3 ? 'room:77' : 'room:78', String(i), { seq: i })
        await until(() => gotB.length >= 300, 15_000, 'all 300 on B')
        for (const topic of ['room:77', 'room:78']) {
          const seqs = gotB.filter((g) => g.topic === topic).map((g) => g.meta?.seq ?? 0)
          expect(seqs).toEqual([...seqs].sort((x, y) => x - y))
        }
      })

      test('after unsubscribe nothing more arrives', async () => {
        const [a, b] = (buses = await impl.pair())
        const gotB = collect(b)
        await b.subscribe(['room:3'])
        b.unsubscribe(['room:3'])
        await b.subscribe(['room:4'])
        a.publish('room:3', 'gone')
        a.publish('room:4', 'here')
        // 'gone' was published before 'here' on the same connection (sharded: after room:3's shard
        // took the unsubscribe, which the subscribe of room:4 waited for, so it is dropped there)
        await until(() => gotB.some((g) => g.frame === 'here'), 15_000, "'here' on B")
        expect(gotB.map((g) => g.frame)).toEqual(['here'])
      })

      test('many subscribes in one tick', async () => {
        const [a, b] = (buses = await impl.pair())
        const gotB = collect(b)
        await Promise.all(Array.from({ length: 200 }, (_, i) => b.subscribe([`room:${i}`])))
        for (let i = 0; i < 200; i++) a.publish(`room:${i}`, String(i))
        await until(() => gotB.length >= 200, 15_000, 'all 200 on B')
        const frames = gotB.map((g) => g.frame)
        if (impl.orderedAcrossTopics === false) frames.sort((x, y) => Number(x) - Number(y))
        expect(frames).toEqual(Array.from({ length: 200 }, (_, i) => String(i)))
      })
    }
  })
}
