/**
 * search: latency of message search on a large history (default 1,000,000
 * messages in 10 rooms, real Postgres), through the same services the
 * server uses: messages committed by the writer, moved into the trigram
 * index by the indexer, then searched per room and across rooms.
 */
import { openDatabase } from '../../src/db/client.ts'
import { roomMembers, rooms, users } from '../../src/db/schema.ts'
import { createMessageWriter } from '../../src/db/writer.ts'
import { createSearch } from '../../src/chat/search.ts'
import { toMessage } from '../../src/chat/message-view.ts'
import { silentLogger } from '../../src/lib/logger.ts'
import { Histogram } from '../lib/hist.ts'
import { createDb, dropDb, pgUrlFor } from '../lib/pg.ts'
import type { Check } from '../report.ts'
import { log } from './common.ts'
import type { Ctx, ScenarioResult } from './context.ts'

const WORDS = ['hello', 'world', 'meeting', 'lunch', 'project', 'deploy', 'review', 'coffee', 'weekend', 'server',
  '안녕하세요', '회의', '점심', '프로젝트', '배포', '리뷰', '커피', '주말', '서버', '감사합니다', '내일', '오늘']

export async function search(ctx: Ctx): Promise<ScenarioResult> {
  const o = ctx.opts
  const total = o.sockets ?? (o.smoke ? 20_000 : 1_000_000)
  const nRooms = o.rooms ?? 10
  const runs = o.smoke ? 5 : 30
  const db = await createDb('search')
  const database = await openDatabase({ url: pgUrlFor(db), dataDir: '/tmp', poolMax: 10 })
  try {
    await database.migrate()
    const [u] = await database.db.insert(users).values({ email: 'search@bench.local', nickname: 'search' }).returning({ id: users.id })
    const r = await database.db.insert(rooms).values(Array.from({ length: nRooms }, () => ({ type: 'group' as const, name: 's', maxMembers: 100 }))).returning({ id: rooms.id })
    await database.db.insert(roomMembers).values(r.map((x) => ({ roomId: x.id, userId: u!.id })))
    const roomIds = r.map((x) => x.id)
    const w = createMessageWriter(database, { flushMs: 2, batchMax: 1000, queueMax: 100_000, lanes: 2, log: silentLogger })
    let rnd = 42
    const next = () => (rnd = (rnd * 1103515245 + 12345) % 2147483648)
    const sentence = (i: number) => {
      const n = 4 + (next() % 8)
      const words = Array.from({ length: n }, () => WORDS[next() % WORDS.length]!)
      // a rare needle every 100,000 messages
      if (i % 100_000 === 7) words.push('zebra-needle')
      return words.join(' ')
    }
    log(`search: writing ${total} messages into ${nRooms} rooms`)
    const t0 = performance.now()
    for (let i = 0; i < total; i += 5000) {
      await Promise.all(Array.from({ length: Math.min(5000, total - i) }, (_, k) =>
        w.submit({ roomId: roomIds[(i + k) % nRooms]!, senderId: u!.id, type: 'text', content: sentence(i + k) })))
    }
    await w.close()
    const writeSec = (performance.now() - t0) / 1000
    const svc = createSearch(database, (row) => toMessage(row, () => ''))
    log(`search: indexing`)
    const t1 = performance.now()
    let moved = 0
    for (let n = 1; n > 0; ) {
      n = await svc.indexPending(20_000)
      moved += n
    }
    const indexSec = (performance.now() - t1) / 1000
    await database.rows((await import('drizzle-orm')).sql`analyze`)
    const queries: { name: string; run: () => Promise<{ messages: unknown[] }> }[] = [
      { name: 'room, common English word "meeting"', run: () => svc.inRoom(roomIds[0]!, 'meeting', 20) },
      { name: 'room, rare word "zebra-needle"', run: () => svc.inRoom(roomIds[7 % nRooms]!, 'zebra-needle', 20) },
      { name: 'room, Korean 3 chars "안녕하"', run: () => svc.inRoom(roomIds[0]!, '안녕하', 20) },
      { name: 'room, Korean 2 chars "녕하" (below trigram length)', run: () => svc.inRoom(roomIds[0]!, '녕하', 20) },
      { name: 'room, no match "xylophone"', run: () => svc.inRoom(roomIds[0]!, 'xylophone', 20) },
      { name: 'all rooms, "zebra-needle"', run: () => svc.everywhere(u!.id, 'zebra-needle', 20) },
      { name: 'all rooms, "deploy"', run: () => svc.everywhere(u!.id, 'deploy', 20) },
    ]
    const rows: (string | number)[][] = []
    const checks: Check[] = []
    for (const q of queries) {
      const h = new Histogram()
      let hits = 0
      for (let i = 0; i < runs; i++) {
        const s = performance.now()
        hits = (await q.run()).messages.length
        h.record(performance.now() - s)
      }
      const sum = h.summary()
      rows.push([q.name, hits, sum.p50, sum.p99, sum.max])
      log(`${q.name}: ${hits} hits, p50 ${sum.p50} ms, p99 ${sum.p99} ms`)
    }
    checks.push({ name: 'every message indexed', pass: moved === total, detail: `${moved} of ${total}` })
    checks.push({ name: 'the rare needle is found in every room search', pass: Number(rows[1]![1]) >= 1, detail: `${rows[1]![1]} hits` })
    return {
      params: { messages: total, rooms: nRooms, runsPerQuery: runs, limit: 20 },
      runs: [],
      comparisons: [],
      checks,
      extra: {
        writeSec: +writeSec.toFixed(1), indexSec: +indexSec.toFixed(1),
        tables: [{ title: `Search latency on ${total.toLocaleString('en')} messages (ms)`, head: ['query', 'hits', 'p50', 'p99', 'max'], rows }],
      },
      notes: [
        `written by the group-commit writer in ${writeSec.toFixed(1)} s; indexed (trigrams) in ${indexSec.toFixed(1)} s, off the commit path`,
        'queries of fewer than 3 characters have no trigram: they scan the room’s rows newest first until 21 hits',
      ],
    }
  } finally {
    await database.close()
    await dropDb(db)
  }
}
