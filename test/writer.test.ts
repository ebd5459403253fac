import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { sql } from 'drizzle-orm'
import postgres from 'postgres'
import { openDatabase, type Database } from '../src/db/client'
import { roomMembers, rooms, users } from '../src/db/schema'
import { createMessageWriter, type WriteRequest, type WriterOptions } from '../src/db/writer'
import { AppError } from '../src/lib/errors'
import { silentLogger } from '../src/lib/logger'
import { backend, PG_URL, testDatabase } from './helpers'

// per file: Bun applies a preload's default timeout to the first file only, and hooks start servers
setDefaultTimeout(60_000)

let database: Database
let drop: () => Promise<void>
let dbUrl: string
let userIds: number[] = []

const opts = (o: Partial<WriterOptions> = {}): WriterOptions => ({ flushMs: 2, batchMax: 1000, queueMax: 50_000, log: silentLogger, ...o })

/** Rooms with every seeded user as a member. */
async function makeRooms(n: number): Promise<number[]> {
  const made = await database.db.insert(rooms).values(Array.from({ length: n }, () => ({ type: 'group' as const, name: 'w', maxMembers: 100 }))).returning()
  await database.db.insert(roomMembers).values(made.flatMap((r) => userIds.map((u) => ({ roomId: r.id, userId: u }))))
  return made.map((r) => r.id)
}

async function seqsOf(roomId: number): Promise<number[]> {
  const rows = await database.rows<{ seq: number }>(sql`select seq from messages where room_id = ${roomId} order by seq`)
  return rows.map((r) => r.seq)
}

const text = (roomId: number, senderId: number, content: string, extra: Partial<WriteRequest> = {}): WriteRequest =>
  ({ roomId, senderId, type: 'text', content, ...extra })

beforeAll(async () => {
  const db = await testDatabase()
  dbUrl = db.url
  drop = db.drop
  database = await openDatabase({ url: db.url, dataDir: '/tmp', poolMax: 10 })
  await database.migrate()
  const u = await database.db.insert(users).values(Array.from({ length: 5 }, (_, i) => ({ email: `w${i}@x.io`, nickname: `w${i}` }))).returning()
  userIds = u.map((x) => x.id)
})
afterAll(async () => {
  await database.close()
  await drop()
})

describe(`writer on ${backend}`, () => {
  test('5,000 sends over 50 rooms commit with gapless per-room seq', async () => {
    const roomIds = await makeRooms(50)
    const w = createMessageWriter(database, opts())
    const results = await Promise.all(
      Array.from({ length: 5000 }, (_, i) => w.submit(text(roomIds[i % 50]!, userIds[i % 5]!, `m${i}`))),
    )
    expect(results.every((r) => r.status === 'created')).toBe(true)
    for (const id of roomIds) expect(await seqsOf(id)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1))
    // within a room, seq follows submission order
    const r0 = results.filter((r) => r.row.room_id === roomIds[0])
    expect(r0.map((r) => r.row.content)).toEqual(Array.from({ length: 100 }, (_, i) => `m${i * 50}`))
    const [room] = await database.rows<{ last_seq: number }>(sql`select last_seq from rooms where id = ${roomIds[7]!}`)
    expect(room!.last_seq).toBe(100)
    expect(w.stats.batches).toBeLessThan(5000)
    await w.close()
  })

  test('BATCH_MAX bounds every transaction', async () => {
    const [roomId] = await makeRooms(1)
    const w = createMessageWriter(database, opts({ batchMax: 7 }))
    await Promise.all(Array.from({ length: 50 }, (_, i) => w.submit(text(roomId!, userIds[0]!, `b${i}`))))
    expect(Math.max(...w.stats.lastBatchSizes)).toBeLessThanOrEqual(7)
    expect(w.stats.batches).toBeGreaterThanOrEqual(8)
    await w.close()
  })

  test('a full batch flushes without waiting for the timer', async () => {
    const [roomId] = await makeRooms(1)
    // the timer would wait ten minutes: only the size trigger can finish this test
    const w = createMessageWriter(database, opts({ batchMax: 5, flushMs: 600_000 }))
    const r = await Promise.all(Array.from({ length: 5 }, (_, i) => w.submit(text(roomId!, userIds[0]!, `f${i}`))))
    expect(r).toHaveLength(5)
    expect(w.stats.batches).toBe(1)
    await w.close()
  })

  test('FLUSH_MS flushes a batch smaller than BATCH_MAX', async () => {
    const [roomId] = await makeRooms(1)
    const w = createMessageWriter(database, opts({ batchMax: 1000, flushMs: 20 }))
    const r = await Promise.all(Array.from({ length: 3 }, (_, i) => w.submit(text(roomId!, userIds[0]!, `t${i}`))))
    expect(r.map((x) => x.row.seq)).toEqual([1, 2, 3])
    expect(w.stats.batches).toBe(1)
    await w.close()
  })

  test('a full queue fails fast with unavailable; what was accepted still commits', async () => {
    const [roomId] = await makeRooms(1)
    const w = createMessageWriter(database, opts({ queueMax: 10, flushMs: 600_000, batchMax: 1000 }))
    const accepted = Array.from({ length: 10 }, (_, i) => w.submit(text(roomId!, userIds[0]!, `q${i}`)))
    const refused = await w.submit(text(roomId!, userIds[0]!, 'one too many')).catch((e: unknown) => e)
    expect(refused).toBeInstanceOf(AppError)
    expect((refused as AppError).code).toBe('unavailable')
    await w.drain()
    expect((await Promise.all(accepted)).map((r) => r.row.seq)).toEqual(Array.from({ length: 10 }, (_, i) => i + 1))
    await w.close()
  })

  test('client_msg_id: a repeat in the same batch or a later one returns the first message', async () => {
    const [roomId] = await makeRooms(1)
    const w = createMessageWriter(database, opts())
    const [a, b] = await Promise.all([
      w.submit(text(roomId!, userIds[0]!, 'same', { clientMsgId: 'k1' })),
      w.submit(text(roomId!, userIds[0]!, 'same', { clientMsgId: 'k1' })),
    ])
    expect(a.status).toBe('created')
    expect(b.status).toBe('duplicate')
    expect(b.row.id).toBe(a.row.id)
    const c = await w.submit(text(roomId!, userIds[0]!, 'same', { clientMsgId: 'k1' }))
    expect(c).toMatchObject({ status: 'duplicate', row: { id: a.row.id } })
    // another sender's k1 is their own
    expect((await w.submit(text(roomId!, userIds[1]!, 'same', { clientMsgId: 'k1' }))).status).toBe('created')
    expect(await seqsOf(roomId!)).toEqual([1, 2])
    await w.close()
  })

  test('per-message errors (no room, not a member, foreign reply) do not fail the batch', async () => {
    const [r1, r2] = await makeRooms(2)
    const outsider = (await database.db.insert(users).values({ email: `out${Date.now()}@x.io`, nickname: 'out' }).returning())[0]!
    const w = createMessageWriter(database, opts({ flushMs: 20 }))
    const first = await w.submit(text(r2!, userIds[0]!, 'in r2'))
    const settled = await Promise.allSettled([
      w.submit(text(r1!, userIds[0]!, 'ok')),
      w.submit(text(99_999_999, userIds[0]!, 'no room')),
      w.submit(text(r1!, outsider.id, 'not a member')),
      w.submit(text(r1!, userIds[1]!, 'bad reply', { replyToId: first.row.id })),
      w.submit(text(r1!, userIds[1]!, 'ok too')),
    ])
    const codes = settled.map((s) => (s.status === 'fulfilled' ? s.value.status : (s.reason as AppError).code))
    expect(codes).toEqual(['created', 'not_found', 'not_member', 'validation', 'created'])
    expect(await seqsOf(r1!)).toEqual([1, 2])
    await w.close()
  })

  test('a failing driver: the batch is retried, every sender gets an ack, nothing is lost', async () => {
    const [roomId] = await makeRooms(1)
    let failures = 3
    // every statement of the writer goes through rows() or rowsPrepared(): the first three fail as a dropped connection would
    const lost = () => Promise.reject(new Error('connection terminated unexpectedly'))
    const flaky: Database = {
      ...database,
      rows: (q, ex) => (failures-- > 0 ? lost() : database.rows(q, ex)),
      rowsPrepared: (q) => (failures-- > 0 ? lost() : database.rowsPrepared(q)),
    }
    const w = createMessageWriter(flaky, opts())
    const r = await Promise.all(Array.from({ length: 40 }, (_, i) => w.submit(text(roomId!, userIds[0]!, `x${i}`))))
    expect(r.every((x) => x.status === 'created')).toBe(true)
    expect(w.stats.retries).toBe(3)
    expect(await seqsOf(roomId!)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1))
    await w.close()
  })

  test('a database that stays down: every sender gets unavailable, never silence', async () => {
    const [roomId] = await makeRooms(1)
    const refused = () => Promise.reject(new Error('connect ECONNREFUSED'))
    const down: Database = { ...database, rows: refused, rowsPrepared: refused }
    const w = createMessageWriter(down, opts({ retryForMs: 300 }))
    const settled = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => w.submit(text(roomId!, userIds[0]!, `d${i}`))))
    expect(settled.every((s) => s.status === 'rejected' && (s.reason as AppError).code === 'unavailable')).toBe(true)
    expect(await seqsOf(roomId!)).toEqual([])
    await w.close()
  })

  if (PG_URL) test('Postgres connections killed mid-traffic: acked messages are all stored, everyone gets an answer', async () => {
    const roomIds = await makeRooms(10)
    const w = createMessageWriter(database, opts())
    const dbName = new URL(dbUrl).pathname.slice(1)
    const admin = postgres(PG_URL!, { max: 1, onnotice: () => {} })
    const pending: Promise<unknown>[] = []
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 100; i++) pending.push(w.submit(text(roomIds[i % 10]!, userIds[i % 5]!, `k${round}-${i}`)))
      if (round % 5 === 2) {
        await admin`select pg_terminate_backend(pid) from pg_stat_activity where datname = ${dbName} and pid <> pg_backend_pid()`
      }
      await Bun.sleep(5)
    }
    const settled = await Promise.allSettled(pending)
    await admin.end()
    expect(settled).toHaveLength(2000)
    const acked = settled.filter((s) => s.status === 'fulfilled').length
    const failed = settled.filter((s) => s.status === 'rejected' && (s.reason as AppError).code === 'unavailable').length
    expect(acked + failed).toBe(2000)
    const [count] = await database.rows<{ n: number }>(
      sql`select count(*)::int8 as n from messages where room_id in (select value::int8 from json_array_elements_text(${JSON.stringify(roomIds)}::json))`,
    )
    // nothing acked is lost, and retries never duplicated a message
    expect(count!.n).toBe(acked)
    for (const id of roomIds) {
      const seqs = await seqsOf(id)
      expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1))
    }
    await w.close()
  }, 60_000)
})

describe(`writer lanes on ${backend}`, () => {
  test('a backlog in one room (more than BATCH_MAX) drains with two lanes, in order', async () => {
    // a room outside lane part 0 for 2 and 3 lanes (id % 6 = 5): the part a naive pick would try first
    const roomId = (await makeRooms(6)).find((id) => id % 6 === 5)
    for (const lanes of [2, 3]) {
      const w = createMessageWriter(database, opts({ batchMax: 50, lanes }))
      const r = await Promise.all(Array.from({ length: 400 }, (_, i) => w.submit(text(roomId!, userIds[i % 5]!, `b${lanes}-${i}`))))
      const seqs = r.map((x) => x.row.seq)
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b))
      await w.close()
    }
    expect(await seqsOf(roomId!)).toEqual(Array.from({ length: 800 }, (_, i) => i + 1))
  })

  test('rooms commit side by side under load, each in submission order', async () => {
    const roomIds = await makeRooms(7)
    const w = createMessageWriter(database, opts({ batchMax: 40, lanes: 2 }))
    const r = await Promise.all(Array.from({ length: 1400 }, (_, i) => w.submit(text(roomIds[(i * 3) % 7]!, userIds[0]!, `p${i}`))))
    for (const id of roomIds) {
      const mine = r.filter((x) => x.row.room_id === id).map((x) => x.row.seq)
      expect(mine).toEqual(Array.from({ length: 200 }, (_, i) => i + 1))
    }
    await w.close()
  })
})
