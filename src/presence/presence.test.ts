import { afterEach, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { until } from '../../test/helpers'
import { silentLogger } from '../lib/logger'
import type { PresenceStore } from './presence'
import { createMemoryPresence } from './presence.memory'
import { createRedisPresence } from './presence.redis'

// per file: Bun applies a preload's default timeout to the first file only, and hooks start servers
setDefaultTimeout(60_000)

const REDIS = process.env.TEST_REDIS_URL

/** One suite, every implementation. `nodes(n)` = n nodes sharing one store. */
const impls: { name: string; nodes: (n: number, onExpired?: (id: number) => void) => Promise<PresenceStore[]>; shared: boolean }[] = [
  { name: 'memory', shared: false, nodes: async (n) => { const p = createMemoryPresence(); return Array(n).fill(p) } },
]
if (REDIS) {
  impls.push({
    name: 'redis',
    shared: true,
    nodes: async (n, onExpired) => {
      const prefix = `t${Math.random().toString(36).slice(2, 8)}:`
      const stores = await Promise.all(
        Array.from({ length: n }, (_, i) =>
          createRedisPresence({ url: REDIS, nodeId: `n${i}`, prefix, ttlMs: 1200, log: silentLogger, onExpired: (id) => onExpired?.(id) }),
        ),
      )
      // the test of a killed node needs the prefix for its child process
      return stores.map((s) => Object.assign(s, { prefix }))
    },
  })
}

for (const impl of impls) {
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

      test('users of a node killed with -9 go offline within the ttl, announced once', async () => {
        const expired: number[] = []
        const [b] = (stores = await impl.nodes(2, (id) => expired.push(id)))
        const prefix = (b as unknown as { prefix?: string }).prefix
        // node "a" in its own process, killed without a chance to release anything
        const script = `
          import { createRedisPresence } from '${import.meta.dir}/presence.redis'
          import { silentLogger } from '${import.meta.dir}/../lib/logger'
          const p = await createRedisPresence({ url: ${JSON.stringify(REDIS)}, nodeId: 'a', prefix: ${JSON.stringify(prefix)}, ttlMs: 1200, log: silentLogger })
          await p.connect(11)
          console.log('up')
          setInterval(() => {}, 1000)`
        const child = Bun.spawn(['bun', '-e', script], { stdout: 'pipe' })
        const reader = child.stdout.getReader()
        await reader.read()
        expect((await b!.getMany([11])).get(11)!.online).toBe(true)
        child.kill(9)
        await child.exited
        await until(() => expired.length > 0, 20_000, 'the expiry to be announced')
        expect((await b!.getMany([11])).get(11)!.online).toBe(false)
        // both survivors sweep: the second one must find nothing left to announce
        await Bun.sleep(600)
        expect(expired).toEqual([11])
      }, 40_000)
    }
  })
}
