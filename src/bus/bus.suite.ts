import { afterEach, describe, expect, test } from 'bun:test'
import { until } from '../../test/helpers'
import type { Bus, EventMeta } from './bus'

type Got = { topic: string; frame: string; meta: EventMeta | undefined }

/**
 * One implementation under the shared suite. `pair` gives two nodes' buses
 * on one relay (or one bus twice when there is no relay); `multiNode` adds
 * the tests between nodes.
 */
export type BusFactory = { name: string; pair: () => Promise<[Bus, Bus]>; multiNode: boolean }

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
        await until(() => gotB.some((g) => g.frame === 'u9'), 15_000, 'u9 on B')
        expect(gotB).toEqual([
          { topic: 'room:1', frame: 'r1', meta: { seq: 1 } },
          { topic: 'user:9', frame: 'u9', meta: { join: 5 } },
        ])
        expect(gotA.map((g) => g.frame)).toEqual(['r1', 'r2', 'u9'])
      })

      test('after unsubscribe nothing more arrives', async () => {
        const [a, b] = (buses = await impl.pair())
        const gotB = collect(b)
        await b.subscribe(['room:3'])
        b.unsubscribe(['room:3'])
        await b.subscribe(['room:4'])
        a.publish('room:3', 'gone')
        a.publish('room:4', 'here')
        // 'gone' was published before 'here' on the same connection
        await until(() => gotB.some((g) => g.frame === 'here'), 15_000, "'here' on B")
        expect(gotB.map((g) => g.frame)).toEqual(['here'])
      })

      test('many subscribes in one tick', async () => {
        const [a, b] = (buses = await impl.pair())
        const gotB = collect(b)
        await Promise.all(Array.from({ length: 200 }, (_, i) => b.subscribe([`room:${i}`])))
        for (let i = 0; i < 200; i++) a.publish(`room:${i}`, String(i))
        await until(() => gotB.length >= 200, 15_000, 'all 200 on B')
        expect(gotB.map((g) => g.frame)).toEqual(Array.from({ length: 200 }, (_, i) => String(i)))
      })
    }
  })
}
