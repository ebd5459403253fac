import { afterEach, describe, expect, test } from 'bun:test'
import type { PresenceStore } from './presence'

/**
 * One implementation under the shared suite. `nodes(n)` = n nodes sharing
 * one store; `shared` adds the tests across nodes.
 */
export type PresenceFactory = { name: string; shared: boolean; nodes: (n: number) => Promise<PresenceStore[]> }

/** The shared suite of the PresenceStore interface: one `describe` per implementation. */
export function presenceSuite(impl: PresenceFactory): void {
  describe(`presence: ${impl.name}`, () => {
    let stores: PresenceStore[] = []
    afterEach(async () => {
      for (const s of new Set(stores)) await s.close()
      stores = []
    })

    test('online while a socket is open; offline with last_seen after the last closes', async () => {
      const [p] = (stores = await impl.nodes(1))
      expect((await p!.getMany([1])).get(1)).toEqual({ online: false, lastSeen: null })
      expect(await p!.connect(1)).toBe(true)
      expect(await p!.connect(1)).toBe(false)
      expect((await p!.getMany([1])).get(1)!.online).toBe(true)
      expect(await p!.disconnect(1)).toBe(false)
      expect(await p!.disconnect(1)).toBe(true)
      const after = (await p!.getMany([1])).get(1)!
      expect(after.online).toBe(false)
      expect(Number.isNaN(Date.parse(after.lastSeen!))).toBe(false)
    })

    if (impl.shared) {
      test('a user on two nodes stays online until both close', async () => {
        const [a, b] = (stores = await impl.nodes(2))
        expect(await a!.connect(7)).toBe(true)
        expect(await b!.connect(7)).toBe(false)
        expect((await b!.getMany([7])).get(7)!.online).toBe(true)
        expect(await a!.disconnect(7)).toBe(false)
        expect((await a!.getMany([7])).get(7)!.online).toBe(true)
        expect(await b!.disconnect(7)).toBe(true)
      })
    }
  })
}
