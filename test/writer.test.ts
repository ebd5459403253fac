import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { sql } from 'drizzle-orm'
import postgres from 'postgres'
import { openDatabase, type Database } from '../src/db/client'
import { roomMembers, rooms, spaceMembers, spaces, users } from '../src/db/schema'
import { createMessageWriter, type WriteRequest, type WriterOptions } from '../src/db/writer'
import { classifyFailure, Failure } from '../src/db/writer/failure'
import { PROBE_BATCH_MAX, writeBatch, writeBatchInOneStatement, type StatementForm } from '../src/db/writer/statements'
import { errMember, errReply, errRoom, type StoredOutcome } from '../src/db/writer/outcome'
import type { Outcome, Pending } from '../src/db/writer/types'
import { jsonColumn } from '../src/db/sql'
import { AppError } from '../src/lib/errors'
import { silentLogger } from '../src/lib/logger'
import { aroundCompiled, backend, PG_URL, testDatabase, until } from './helpers'

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

  test('adaptive flush: at idle a message commits at once; while a batch commits, arrivals gather into the next one', async () => {
    const [roomId] = await makeRooms(1)
    // the timer would wait ten minutes: only the idle path and the commit loop can finish this test
    let hold: (() => void) | null = null
    let held = false
    const gate = new Promise<void>((r) => (hold = r))
    // a real database; the second batch statement waits at the gate until the test has queued the rest
    let statements = 0
    const gated = aroundCompiled(database, async (run) => {
      if (++statements === 2) {
        held = true
        await gate
      }
      return run()
    })
    const w = createMessageWriter(gated, opts({ flushMs: 600_000, lanes: 1 }))
    expect((await w.submit(text(roomId!, userIds[0]!, 'alone'))).row.seq).toBe(1)
    await w.drain()
    expect(w.stats.lastBatchSizes).toEqual([1])
    const second = w.submit(text(roomId!, userIds[0]!, 'in flight'))
    await until(() => held, 15_000, 'the second batch in flight')
    expect(w.busy).toBe(true)
    const rest: Promise<unknown>[] = []
    for (let i = 0; i < 30; i++) {
      rest.push(w.submit(text(roomId!, userIds[1]!, `gathered ${i}`)))
      // arrivals spread over several ticks, as from sockets
      if (i % 10 === 9) await Bun.sleep(0)
    }
    expect(w.stats.queued).toBe(30)
    hold!()
    await Promise.all([second, ...rest])
    await w.drain()
    expect(w.stats.lastBatchSizes).toEqual([1, 1, 30])
    expect(await seqsOf(roomId!)).toEqual(Array.from({ length: 32 }, (_, i) => i + 1))
    expect(w.busy).toBe(false)
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
    // every statement of the writer goes through rows() or a compiled statement: the first three fail as a dropped connection would
    const lost = () => Promise.reject(new Error('connection terminated unexpectedly'))
    const flaky: Database = {
      ...aroundCompiled(database, (run) => (failures-- > 0 ? lost() : run())),
      rows: (q, ex) => (failures-- > 0 ? lost() : database.rows(q, ex)),
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
    const down: Database = { ...aroundCompiled(database, refused), rows: refused }
    const w = createMessageWriter(down, opts({ retryForMs: 300 }))
    const settled = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => w.submit(text(roomId!, userIds[0]!, `d${i}`))))
    expect(settled.every((s) => s.status === 'rejected' && (s.reason as AppError).code === 'unavailable')).toBe(true)
    expect(await seqsOf(roomId!)).toEqual([])
    await w.close()
  })

  test('a row the database refuses (NUL in content) fails alone with 422; the rest of its batch commits', async () => {
    const roomIds = await makeRooms(3)
    // one batch: the timer is the only trigger, and everything is queued before it fires
    const w = createMessageWriter(database, opts({ flushMs: 50, lanes: 2 }))
    const sends = Array.from({ length: 60 }, (_, i) =>
      w.submit(text(roomIds[i % 3]!, userIds[i % 5]!, i === 17 ? 'bad \u0000 row' : `ok${i}`, { clientMsgId: `p${i}` })))
    // a NUL in client_msg_id too, and in an attachment's JSON: both past the edge only through submit
    sends.push(w.submit(text(roomIds[0]!, userIds[0]!, 'fine', { clientMsgId: 'nul\u0000id' })))
    sends.push(w.submit(text(roomIds[1]!, userIds[1]!, 'fine', { attachment: { key: 'k', name: 'a\u0000b', size: 1, mime: 'text/plain' } })))
    const settled = await Promise.allSettled(sends)
    const codes = settled.map((s) => (s.status === 'fulfilled' ? s.value.status : (s.reason as AppError).code))
    expect(codes.filter((c) => c === 'validation')).toHaveLength(3)
    expect([codes[17], codes[60], codes[61]]).toEqual(['validation', 'validation', 'validation'])
    expect(codes.filter((c) => c === 'created')).toHaveLength(59)
    expect(w.stats.refused).toBe(3)
    // the others are all stored, each room gapless and in submission order
    for (const [k, id] of roomIds.entries()) {
      const want = Array.from({ length: 60 }, (_, i) => i).filter((i) => i % 3 === k && i !== 17).map((i) => `ok${i}`)
      const rows = await database.rows<{ content: string; seq: number }>(sql`select content, seq from messages where room_id = ${id} order by seq`)
      expect(rows.map((r) => r.content)).toEqual(want)
      expect(rows.map((r) => r.seq)).toEqual(want.map((_, i) => i + 1))
    }
    // the refused row left no trace: a client_msg_id retry of it with clean content is a new message
    const again = await w.submit(text(roomIds[2]!, userIds[2]!, 'clean now', { clientMsgId: 'p17' }))
    expect(again.status).toBe('created')
    await w.close()
  })

  test('a poison row on the retry path (client_msg_id seen before in the batch) still fails alone', async () => {
    const [roomId] = await makeRooms(1)
    const w = createMessageWriter(database, opts({ flushMs: 30 }))
    const first = await w.submit(text(roomId!, userIds[0]!, 'seen', { clientMsgId: 'seen' }))
    const settled = await Promise.allSettled([
      w.submit(text(roomId!, userIds[0]!, 'seen', { clientMsgId: 'seen' })),
      w.submit(text(roomId!, userIds[1]!, 'poison \u0000')),
      w.submit(text(roomId!, userIds[2]!, 'after')),
    ])
    const codes = settled.map((s) => (s.status === 'fulfilled' ? s.value.status : (s.reason as AppError).code))
    expect(codes).toEqual(['duplicate', 'validation', 'created'])
    expect((settled[0] as PromiseFulfilledResult<{ row: { id: number } }>).value.row.id).toBe(first.row.id)
    expect(await seqsOf(roomId!)).toEqual([1, 2])
    await w.close()
  })

  test('down: after the retry budget, submits answer unavailable at once; a successful ping brings it back', async () => {
    const [roomId] = await makeRooms(1)
    let up = false
    let pings = 0
    const refused = () => Promise.reject(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }))
    const flaky: Database = {
      ...aroundCompiled(database, (run) => (up ? run() : refused())),
      rows: (q, ex) => (up ? database.rows(q, ex) : refused()),
      ping: () => {
        pings++
        return up ? database.ping() : refused()
      },
    }
    const w = createMessageWriter(flaky, opts({ retryForMs: 200, pingEveryMs: 20 }))
    expect(w.healthy).toBe(true)
    const first = await w.submit(text(roomId!, userIds[0]!, 'lost')).catch((e: unknown) => e)
    expect((first as AppError).code).toBe('unavailable')
    expect(w.healthy).toBe(false)
    // refused without touching the database: the statement count does not move
    const errors = w.stats.errors
    const quick = await Promise.allSettled(Array.from({ length: 50 }, (_, i) => w.submit(text(roomId!, userIds[0]!, `q${i}`))))
    expect(quick.every((s) => s.status === 'rejected' && (s.reason as AppError).code === 'unavailable')).toBe(true)
    expect(w.stats.errors).toBe(errors)
    await until(() => pings >= 2)
    expect(w.healthy).toBe(false)
    up = true
    await until(() => w.healthy)
    const r = await w.submit(text(roomId!, userIds[0]!, 'back'))
    expect(r.row.seq).toBe(1)
    await w.close()
  })

  test('a transient failure within the budget is retried and stays healthy', async () => {
    const [roomId] = await makeRooms(1)
    let failures = 2
    const deadlock = () => Promise.reject(Object.assign(new Error('deadlock detected'), { code: '40P01' }))
    const flaky: Database = {
      ...aroundCompiled(database, (run) => (failures-- > 0 ? deadlock() : run())),
      rows: (q, ex) => (failures-- > 0 ? deadlock() : database.rows(q, ex)),
    }
    const w = createMessageWriter(flaky, opts())
    expect((await w.submit(text(roomId!, userIds[0]!, 'x'))).status).toBe('created')
    expect(w.stats.retries).toBe(2)
    expect(w.healthy).toBe(true)
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
    // the pool may still hold a connection killed in the last round: its next query fails once, then a fresh one answers
    const [count] = await readAfterKills(() => database.rows<{ n: number }>(
      sql`select count(*)::int8 as n from messages where room_id in (select value::int8 from json_array_elements_text(${JSON.stringify(roomIds)}::json))`,
    ))
    // nothing acked is lost, and retries never duplicated a message
    expect(count!.n).toBe(acked)
    for (const id of roomIds) {
      const seqs = await readAfterKills(() => seqsOf(id))
      expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1))
    }
    await w.close()
  })
})

/** A read right after backends were killed: retried while it meets a connection the kill closed (57P01, CONNECTION_*). */
async function readAfterKills<T>(read: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await read()
    } catch (err) {
      const code = String((err as { code?: unknown; cause?: { code?: unknown } }).cause?.code ?? (err as { code?: unknown }).code ?? '')
      if (attempt >= 5 || !(code === '57P01' || code.startsWith('CONNECTION_'))) throw err
    }
  }
}

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

  test('hostile text and JSON reach the row as sent, in every form', async () => {
    const [roomId] = await makeRooms(1)
    const nasty = ['', ' lead and trail ', 'NULL', 'null', '"', '\\', '\\"', 'a,b', '{x}', '{"a":1}', "it's", '한국어 ✓ 🎉', 'line\nbreak\ttab', '\\N', 'x'.repeat(4000)]
    const attachment = { key: 'k"\\{,}', name: 'NULL "n"', size: 1, mime: 'text/plain' }
    for (const form of ['one', 'probe', 'set'] as const) {
      const reqs = nasty.map((content, i) => text(roomId!, userIds[i % 5]!, content, { clientMsgId: `${form}-${content}-${i}`, ...(i === 3 ? { attachment } : {}) }))
      const out: Outcome[] = []
      if (form === 'set') out.push(...(await writeBatchInOneStatement(database, reqs.map((req) => ({ req, resolve: () => {}, reject: () => {} })), crypto.randomUUID(), 'set')))
      else {
        const size = form === 'one' ? 1 : PROBE_BATCH_MAX
        for (let i = 0; i < reqs.length; i += size) {
          out.push(...(await writeBatchInOneStatement(database, reqs.slice(i, i + size).map((req) => ({ req, resolve: () => {}, reject: () => {} })), crypto.randomUUID(), form)))
        }
      }
      const ids = out.map((o) => (o instanceof AppError ? -1 : o.row.id))
      const rows = await database.rows<{ id: number; content: string; client_msg_id: string; attachment: unknown }>(
        sql`select id, content, client_msg_id, attachment from messages where room_id = ${roomId} and client_msg_id like ${`${form}-%`}`)
      const byId = new Map(rows.map((r) => [Number(r.id), r]))
      expect(ids.map((id) => byId.get(id)?.content)).toEqual(nasty)
      expect(ids.map((id) => byId.get(id)?.client_msg_id ?? null)).toEqual(reqs.map((r) => r.clientMsgId ?? null))
      expect(jsonColumn(byId.get(ids[3]!)!.attachment)).toEqual(attachment)
    }
  })

  test('the one-message, index-probe and set-based forms of the batch statement give the same outcomes and rows', async () => {
    /**
     * Fresh rooms (a group room, a space's channel), the same messages, one form; what came back and what was written.
     * `one`: each message its own batch, as the writer sends a lone message (a client_msg_id seen before goes to writeBatch).
     */
    async function runWith(form: StatementForm) {
      const [group] = await makeRooms(1)
      const [sp] = await database.db.insert(spaces).values({ name: 's', maxMembers: 100 }).returning()
      const [channel] = await database.db.insert(rooms).values({ type: 'channel', name: 'c', maxMembers: 100, spaceId: sp!.id }).returning()
      // channel audience = space members: users 0 and 1 (user 2 has only a stale read-mark row, which does not count)
      await database.db.insert(spaceMembers).values([{ spaceId: sp!.id, userId: userIds[0]! }, { spaceId: sp!.id, userId: userIds[1]! }])
      await database.db.insert(roomMembers).values({ roomId: channel!.id, userId: userIds[2]! })
      const g = group!, c = channel!.id
      const [elsewhere] = await makeRooms(1)
      const w = createMessageWriter(database, opts())
      const foreign = await w.submit(text(elsewhere!, userIds[0]!, 'elsewhere'))
      await w.close()
      const reqs: WriteRequest[] = [
        text(g, userIds[0]!, 'a', { clientMsgId: 'k' }),
        text(c, userIds[1]!, 'channel ok'),
        text(g, userIds[0]!, 'a again', { clientMsgId: 'k' }),
        text(c, userIds[2]!, 'not in the space'),
        text(99_999_999, userIds[0]!, 'no room'),
        text(g, userIds[1]!, 'bad reply', { replyToId: foreign.row.id }),
        text(c, userIds[0]!, 'channel ok too'),
        text(g, userIds[1]!, 'b'),
      ]
      expect(reqs.length).toBeLessThanOrEqual(PROBE_BATCH_MAX)
      const batch: Pending[] = reqs.map((req) => ({ req, resolve: () => {}, reject: () => {} }))
      const batchIds: string[] = []
      const parts = form === 'one' ? batch.map((p) => [p]) : [batch]
      const out: Outcome[] = []
      for (const part of parts) {
        const id = crypto.randomUUID()
        batchIds.push(id)
        try {
          out.push(...(await writeBatchInOneStatement(database, part, id, form)))
        } catch (err) {
          expect(classifyFailure(err)).toBe(Failure.duplicateClientMsgId)
          out.push(...(await writeBatch(database, part, id, false)))
        }
      }
      const label = (room: number) => (room === g ? 'g' : room === c ? 'c' : room)
      const stored = (await database.rows<{ id: string; outcome: unknown }>(sql`select id, outcome from writer_batches where id in (select value from json_array_elements_text(${JSON.stringify(batchIds)}::json))`))
        .sort((a, b) => batchIds.indexOf(a.id) - batchIds.indexOf(b.id))
        .flatMap((r) => jsonColumn(r.outcome as StoredOutcome[]))
        // one entry per message, in order, about the message's own room
        .map((o, i) => (typeof o === 'number' ? [o > 0 ? 'created' : 'duplicate', label(reqs[i]!.roomId), Math.abs(o)] : o))
      const shapeOf = (os: Outcome[]) => os.map((o) => (o instanceof AppError ? o.code : `${o.status} ${o.row.content} seq ${o.row.seq} ${o.row.nickname}`))
      const shape = shapeOf(out)
      // a retry of each batch (as after a connection lost around its commit) answers from the recorded outcome, writing nothing
      const replayed: Outcome[] = []
      for (const [k, part] of parts.entries()) replayed.push(...(await writeBatch(database, part, batchIds[k]!, true)))
      expect(shapeOf(replayed)).toEqual(shape)
      expect(replayed.map((o) => (o instanceof AppError ? null : o.row.id))).toEqual(out.map((o) => (o instanceof AppError ? null : o.row.id)))
      const marks = await database.rows<{ room_id: number; user_id: number; last_read_seq: number }>(
        sql`select room_id, user_id, last_read_seq from room_members where room_id in (${g}, ${c}) and last_read_seq > 0 order by room_id, user_id`,
      )
      const [counts] = await database.rows<{ queued: number; last: string }>(sql`
        select (select count(*)::int from search_queue q join messages m on m.id = q.message_id where m.room_id in (${g}, ${c})) as queued,
          (select string_agg(last_seq::text, ',' order by id) from rooms where id in (${g}, ${c})) as last`)
      return { shape, stored, marks: marks.map((m) => [m.room_id === g ? 'g' : 'c', userIds.indexOf(Number(m.user_id)), Number(m.last_read_seq)]), counts }
    }
    const probe = await runWith('probe')
    const setBased = await runWith('set')
    const one = await runWith('one')
    expect(probe).toEqual(setBased)
    expect(one).toEqual(probe)
    expect(probe.stored).toEqual([
      ['created', 'g', 1], ['created', 'c', 1], ['duplicate', 'g', 1], errMember.code, errRoom.code, errReply.code, ['created', 'c', 2], ['created', 'g', 2],
    ])
    expect(probe.shape).toEqual([
      'created a seq 1 w0', 'created channel ok seq 1 w1', 'duplicate a seq 1 w0', 'not_member', 'not_found', 'validation',
      'created channel ok too seq 2 w0', 'created b seq 2 w1',
    ])
    expect(probe.marks).toEqual([['g', 0, 1], ['g', 1, 2], ['c', 0, 2], ['c', 1, 1]])
    expect(probe.counts).toEqual({ queued: 4, last: '2,2' })
    // the probe form refuses a batch its limit would cut short, the one-message form more than one message
    const tooMany = Array.from({ length: PROBE_BATCH_MAX + 1 }, (): Pending => ({ req: text(1, userIds[0]!, 'x'), resolve: () => {}, reject: () => {} }))
    await expect(writeBatchInOneStatement(database, tooMany, crypto.randomUUID(), 'probe')).rejects.toThrow('at most')
    await expect(writeBatchInOneStatement(database, tooMany.slice(0, 2), crypto.randomUUID(), 'one')).rejects.toThrow('exactly one')
  })
})
