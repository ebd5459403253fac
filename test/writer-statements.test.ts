import { describe, expect, setDefaultTimeout, test } from 'bun:test'
import { createChatServer } from '../src/app'
import { loadConfig } from '../src/config'
import { silentLogger } from '../src/lib/logger'
import { api, groupRoom, openWs, PG_URL, register, testDatabase, until } from './helpers'

// per file: Bun applies a preload's default timeout to the first file only
setDefaultTimeout(60_000)

/**
 * Group commit, counted in statements: the writer's batch is one statement
 * (`insert into messages …` with its CTEs) per transaction, so statements per
 * message is the inverse of the batch size. Adaptive flush: a lone message at idle commits at
 * once in its own batch (1 per message, no FLUSH_MS wait); a burst gathers while a batch commits and shares
 * batches (far below 1). Postgres only: the driver reports each statement.
 */
describe.if(!!PG_URL)('writer statements per message (Postgres, counted by the driver)', () => {
  test('idle: one batch statement per message; a burst of 500: at most one per 4 messages', async () => {
    const queries: string[] = []
    const db = await testDatabase()
    const config = loadConfig({
      PORT: '0', HOST: '127.0.0.1', DATABASE_URL: db.url, JWT_SECRET: 'test-secret', LOG_LEVEL: 'error', RATE_AUTH: '0', RATE_MESSAGES: '0',
    })
    const chat = await createChatServer(config, silentLogger, { onQuery: (q) => queries.push(q) })
    const url = chat.listen().url.href.replace(/\/$/, '')
    const a = api(url)
    const batches = () => queries.filter((q) => /insert into messages\b/i.test(q)).length
    try {
      const u = await register(a, 'w')
      const room = await groupRoom(a, u)
      const ws = await openWs({ wsUrl: url.replace(/^http/, 'ws') }, u)

      // idle: each message waits for its ack before the next is sent
      const before = batches()
      for (let i = 0; i < 20; i++) {
        ws.send({ type: 'message.send', room_id: room.id, content: `idle ${i}`, client_msg_id: `idle-${i}` })
        await ws.next((f) => f.type === 'ack' && f.client_msg_id === `idle-${i}`)
      }
      const idle = batches() - before
      expect(idle).toBe(20)

      // burst: 500 sent at once
      const burstStart = batches()
      for (let i = 0; i < 500; i++) ws.send({ type: 'message.send', room_id: room.id, content: `burst ${i}`, client_msg_id: `burst-${i}` })
      await until(() => ws.all('ack').length >= 520, 30_000, 'the burst acked')
      const burst = batches() - burstStart
      console.log(`[writer statements] idle: ${idle} for 20 messages; burst: ${burst} for 500 messages (${(burst / 500).toFixed(3)} per message)`)
      expect(ws.all('error')).toEqual([])
      expect(burst).toBeGreaterThanOrEqual(1)
      expect(burst / 500).toBeLessThanOrEqual(0.25)
      ws.close()
    } finally {
      await chat.close()
      await db.drop()
    }
  })
})
