import { describe, expect, setDefaultTimeout, test } from 'bun:test'
import { createChatServer } from '../src/app'
import { loadConfig } from '../src/config'
import { silentLogger } from '../src/lib/logger'
import { api, BACKGROUND_STATEMENT, groupRoom, openWs, PG_URL, register, testDatabase, until, type TestSocket } from './helpers'

// per file: Bun applies a preload's default timeout to the first file only
setDefaultTimeout(60_000)

/** The read that tells a room's sequencer where it starts: once per room a node starts following, not per connect. */
const ROOM_START = /^select "last_seq" from "rooms" where "rooms"\."id" = \$1$/

/**
 * Connects, counted in statements: a socket start is one statement at most (profile,
 * login still active, rooms with last_seq, presence audience with member
 * counts), plus one last_seq read per room this node did not follow yet. So
 * a storm of sockets whose rooms the node already follows costs one
 * statement per socket. Postgres only: the driver reports each statement.
 */
describe.if(!!PG_URL)('statements per connect (Postgres, counted by the driver)', () => {
  test('at most one statement per socket start; a room new to the node adds its last_seq read once', async () => {
    const queries: string[] = []
    const db = await testDatabase()
    const config = loadConfig({
      PORT: '0', HOST: '127.0.0.1', DATABASE_URL: db.url, JWT_SECRET: 'test-secret', LOG_LEVEL: 'error', RATE_AUTH: '0',
      RETENTION_SWEEP_MS: '3600000',
    })
    const chat = await createChatServer(config, silentLogger, { onQuery: (q) => queries.push(q) })
    const url = chat.listen().url.href.replace(/\/$/, '')
    const node = { wsUrl: url.replace(/^http/, 'ws') }
    const a = api(url)
    const sockets: TestSocket[] = []
    try {
      const [u, v] = await Promise.all([register(a, 'u'), register(a, 'v')])
      await groupRoom(a, u, [v])
      const space = (await a('POST', '/v1/spaces', { token: u.token, body: { name: 's', visibility: 'public' } })).body
      await a('POST', `/v1/spaces/${space.id}/join`, { token: v.token, body: {} })
      await a('POST', `/v1/spaces/${space.id}/channels`, { token: u.token, body: { name: 'two' } })

      /** Statements of the connects in `fn` (upgrade to finished session start). */
      async function counted(n: number, fn: () => Promise<void>) {
        const started = chat.gateway.stats.started
        const from = queries.length
        await fn()
        await until(() => chat.gateway.stats.started >= started + n, 15_000, 'the session starts')
        return queries.slice(from).filter((q) => !BACKGROUND_STATEMENT.test(q))
      }

      // the first socket: its start, and one last_seq read for each of its 3 rooms (group room, 2 channels)
      const first = await counted(1, async () => void sockets.push(await openWs(node, u)))
      expect(first.filter((q) => !ROOM_START.test(q))).toHaveLength(1)
      expect(first.filter((q) => ROOM_START.test(q))).toHaveLength(3)

      // 40 more sockets of both users, all at once: one statement each at most (starts waiting together share one)
      const more: TestSocket[] = []
      const storm = await counted(40, async () => {
        more.push(...(await Promise.all(Array.from({ length: 40 }, (_, i) => openWs(node, i % 2 ? u : v)))))
      })
      sockets.push(...more)
      console.log(`[connect statements] first socket: ${first.length} (1 start + 3 rooms new to the node); 40 more: ${storm.length}`)
      expect(storm.length).toBeGreaterThanOrEqual(1)
      expect(storm.length).toBeLessThanOrEqual(40)
      expect(new Set(storm).size).toBe(1)
      // each socket got its own user and rooms, whatever statement it shared
      more.forEach((ws, i) => {
        const ready = ws.frames[0]!
        expect(ready.user.id).toBe(i % 2 ? u.id : v.id)
        expect(ready.rooms).toHaveLength(3)
      })
    } finally {
      for (const s of sockets) s.close()
      await chat.close()
      await db.drop()
    }
  })
})
