import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { sql } from 'drizzle-orm'
import { toMessage } from '../src/chat/message-view'
import { createFilesService } from '../src/chat/files'
import { createRoomPurger } from '../src/chat/purge'
import { createSearch } from '../src/chat/search'
import { openDatabase, type Database } from '../src/db/client'
import { roomMembers, roomPurges, rooms, users } from '../src/db/schema'
import { createDiskStorage } from '../src/files/storage.disk'
import { createMessageWriter, type MessageWriter, type WriteRequest } from '../src/db/writer'
import { silentLogger } from '../src/lib/logger'
import { createPacer } from '../src/lib/pace'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { aroundCompiled, backend, testDatabase, until } from './helpers'

// per file: Bun applies a preload's default timeout to the first file only
setDefaultTimeout(60_000)

let database: Database
let drop: () => Promise<void>
let roomId: number
let userId: number

const text = (content: string): WriteRequest => ({ roomId, senderId: userId, type: 'text', content })
const count = async (table: 'search_queue' | 'search_index') =>
  (await database.rows<{ n: number }>(sql`select count(*)::int as n from ${sql.raw(table)}`))[0]!.n

/** A writer on the real database whose first batch statement waits until `release()`: busy for as long as the test likes. */
function heldWriter(): { writer: MessageWriter; held: () => boolean; release: () => void } {
  let release = () => {}
  const gate = new Promise<void>((r) => (release = r))
  let held = false
  let statements = 0
  const gated = aroundCompiled(database, async (run) => {
    if (++statements === 1) {
      held = true
      await gate
    }
    return run()
  })
  const writer = createMessageWriter(gated, { flushMs: 2, batchMax: 1000, queueMax: 10_000, log: silentLogger })
  return { writer, held: () => held, release }
}

beforeAll(async () => {
  const db = await testDatabase()
  drop = db.drop
  database = await openDatabase({ url: db.url, dataDir: '/tmp', poolMax: 10 })
  await database.migrate()
  const [u] = await database.db.insert(users).values({ email: 'pace@x.io', nickname: 'pace' }).returning()
  const [r] = await database.db.insert(rooms).values({ type: 'group', name: 'p', maxMembers: 100 }).returning()
  await database.db.insert(roomMembers).values({ roomId: r!.id, userId: u!.id })
  roomId = r!.id
  userId = u!.id
})
afterAll(async () => {
  await database.close()
  await drop()
})

describe(`background work yields to the writer (${backend})`, () => {
  test('the search indexer defers while the writer has work, then works a backlog off in bounded batches', async () => {
    // a backlog of 1,234 committed messages waiting for the indexer
    const plain = createMessageWriter(database, { flushMs: 2, batchMax: 1000, queueMax: 10_000, log: silentLogger })
    await Promise.all(Array.from({ length: 1234 }, (_, i) => plain.submit(text(`backlog ${i}`))))
    await plain.close()
    expect(await count('search_queue')).toBe(1234)

    const { writer, held, release } = heldWriter()
    const pace = createPacer({ busy: () => writer.busy, idle: () => writer.drain(), maxDeferMs: 600_000, pauseMs: 0, sliceMs: 0 })
    const sizes: number[] = []
    const search = createSearch(database, (r) => toMessage(r, () => ''), { pace, batch: 100, onBatch: (n) => sizes.push(n) })

    // the writer is committing (held): the indexer must not start a batch
    const sending = writer.submit(text('foreground'))
    await until(held, 15_000, 'the writer busy')
    const indexing = search.indexPending(10_000)
    await until(() => pace.deferred === 1, 15_000, 'the indexer deferring')
    expect(sizes).toEqual([])
    expect(await count('search_queue')).toBe(1234)

    // the writer goes idle: the foreground message commits first, then the indexer runs, 100 rows at a time
    release()
    expect((await sending).status).toBe('created')
    expect(await indexing).toBe(1235)
    expect(sizes).toEqual([...Array(12).fill(100), 35])
    expect(await count('search_queue')).toBe(0)
    expect(await count('search_index')).toBe(1235)
    await writer.close()
  })

  test('a run is bounded by its limit; the rest waits for the next run', async () => {
    const plain = createMessageWriter(database, { flushMs: 2, batchMax: 1000, queueMax: 10_000, log: silentLogger })
    await Promise.all(Array.from({ length: 250 }, (_, i) => plain.submit(text(`more ${i}`))))
    await plain.close()
    const sizes: number[] = []
    const pace = createPacer({ busy: () => plain.busy, idle: () => plain.drain(), maxDeferMs: 600_000, pauseMs: 1, sliceMs: 0 })
    const search = createSearch(database, (r) => toMessage(r, () => ''), { pace, batch: 100, onBatch: (n) => sizes.push(n) })
    expect(await search.indexPending(150)).toBe(150)
    expect(sizes).toEqual([100, 50])
    expect(await count('search_queue')).toBe(100)
    expect(await search.indexPending(150)).toBe(100)
    // a full last batch: one more (empty) look finds the queue drained
    expect(sizes).toEqual([100, 50, 100, 0])
    expect(pace.deferred).toBe(0)
  })

  test('a paced indexer sizes its batches to the slice: from 10 rows, at most doubling, never above its batch', async () => {
    const plain = createMessageWriter(database, { flushMs: 2, batchMax: 1000, queueMax: 10_000, log: silentLogger })
    await Promise.all(Array.from({ length: 300 }, (_, i) => plain.submit(text(`sliced ${i}`))))
    await plain.close()
    expect(await count('search_queue')).toBe(300)
    const sizes: number[] = []
    // a slice far longer than any batch takes: every batch is "fast", so each may double
    const pace = createPacer({ busy: () => plain.busy, idle: () => plain.drain(), maxDeferMs: 600_000, pauseMs: 0, sliceMs: 600_000 })
    const search = createSearch(database, (r) => toMessage(r, () => ''), { pace, batch: 100, onBatch: (n) => sizes.push(n) })
    expect(await search.indexPending(10_000)).toBe(300)
    expect(sizes).toEqual([10, 20, 40, 80, 100, 50])
    expect(await count('search_queue')).toBe(0)
  })

  test('the room purge defers while the writer has work, then deletes in bounded statements', async () => {
    const [gone] = await database.db.insert(rooms).values({ type: 'group', name: 'gone', maxMembers: 100 }).returning()
    await database.db.insert(roomMembers).values({ roomId: gone!.id, userId })
    const plain = createMessageWriter(database, { flushMs: 2, batchMax: 1000, queueMax: 10_000, log: silentLogger })
    await Promise.all(Array.from({ length: 345 }, (_, i) => plain.submit({ roomId: gone!.id, senderId: userId, type: 'text', content: `doomed ${i}` })))
    await plain.close()
    await database.db.insert(roomPurges).values({ roomId: gone!.id })
    const inRoom = async () => (await database.rows<{ n: number }>(sql`select count(*)::int as n from messages where room_id = ${gone!.id}`))[0]!.n

    const { writer, held, release } = heldWriter()
    const pace = createPacer({ busy: () => writer.busy, idle: () => writer.drain(), maxDeferMs: 600_000, pauseMs: 0, sliceMs: 0 })
    // every purge statement, as sent: each deletes at most `batch` rows
    const deletes: string[] = []
    const watched: Database = { ...database, rows: (q, ex) => {
      const text = q.queryChunks.map((c) => (typeof c === 'object' && c !== null && 'value' in c ? String(c.value) : '')).join('')
      if (/delete from (messages|files)/.test(text)) deletes.push(text)
      return database.rows(q, ex)
    } }
    const files = createFilesService({ database, storage: createDiskStorage(join(tmpdir(), `pace-${Date.now()}`)), secret: 's', urlTtl: 60, maxUploadBytes: 1024 })
    const purger = createRoomPurger({ database: watched, files, log: silentLogger, batch: 100, pace })

    const sending = writer.submit(text('foreground'))
    await until(held, 15_000, 'the writer busy')
    const purging = purger.kick()
    await until(() => pace.deferred === 1, 15_000, 'the purge deferring')
    expect(deletes).toEqual([])
    expect(await inRoom()).toBe(345)

    release()
    expect((await sending).status).toBe('created')
    expect(await purging).toBe(345)
    expect(await inRoom()).toBe(0)
    // files (none) once, then messages 100 at a time: 100, 100, 100, 45
    expect(deletes.filter((d) => d.includes('delete from messages'))).toHaveLength(4)
    await writer.close()
  })
})
