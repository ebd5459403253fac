/**
 * after-burst: does background work take the foreground's latency? The
 * writer's commit wait for a light trickle (one message every 5 ms, as at
 * 200 msg/s) on one Postgres database, in four phases of one run:
 *   1. fresh: nothing queued for the search indexer;
 *   2. right after a burst of --burst messages, no indexer at all (the control: what
 *      the burst alone leaves behind, autovacuum and checkpoints);
 *   3. right after another burst, the indexer paced (as the server runs it:
 *      batches sized to take --slice ms, each after the writer goes idle and a pause);
 *   4. right after another burst, the indexer unpaced (the former behaviour: up to 5,000
 *      rows per transaction every 250 ms, whatever the writer does);
 * then what indexing costs: one more burst, indexed by the indexer alone, with
 * the Postgres CPU of this database's backends per row.
 *
 *   bun bench/after-burst.ts [--burst 100000] [--seconds 10] [--index-batch 2000] [--pause 10] [--slice 4]
 *
 * Bounded: the burst count, the trickle's duration and the catch-up wait are fixed.
 */
import { readFileSync } from 'node:fs'
import { sql } from 'drizzle-orm'
import { toMessage } from '../src/chat/message-view.ts'
import { createSearch } from '../src/chat/search.ts'
import { openDatabase, type Database } from '../src/db/client.ts'
import { roomMembers, rooms, users } from '../src/db/schema.ts'
import { createMessageWriter, type MessageWriter } from '../src/db/writer.ts'
import { every } from '../src/lib/every.ts'
import { silentLogger } from '../src/lib/logger.ts'
import { createPacer, unpaced, type Pacer } from '../src/lib/pace.ts'
import { Histogram } from './lib/hist.ts'
import { numberArg } from './lib/args.ts'
import { createDb, dropDb, pgUrlFor } from './lib/pg.ts'

const BURST = numberArg('burst', 100_000, 1, 1_000_000)
const SECONDS = numberArg('seconds', 10, 1, 120)
const INDEX_BATCH_ARG = numberArg('index-batch', 0, 0, 100_000)
const PAUSE_MS = numberArg('pause', 10, 0, 10_000)
const SLICE_MS = numberArg('slice', 4, 0, 10_000)
const N_ROOMS = 10
const N_USERS = 100

/** CPU ms of this database's Postgres backends so far (user + system, /proc; USER_HZ 100). */
async function backendCpuMs(database: Database, pids?: number[]): Promise<{ pids: number[]; ms: number }> {
  pids ??= (await database.rows<{ pid: number }>(sql`select pid from pg_stat_activity where datname = current_database()`)).map((r) => r.pid)
  let ms = 0
  for (const pid of pids) {
    try {
      const f = readFileSync(`/proc/${pid}/stat`, 'utf8')
      const rest = f.slice(f.lastIndexOf(')') + 2).split(' ')
      ms += (Number(rest[11]) + Number(rest[12])) * 10
    } catch {
      // a backend that ended: its CPU is lost to the sum (the pool keeps its connections, so none should)
    }
  }
  return { pids, ms }
}

const queued = async (database: Database) =>
  (await database.rows<{ n: number }>(sql`select count(*)::int as n from search_queue`))[0]!.n

async function burst(w: MessageWriter, roomIds: number[], userIds: number[], tag: string) {
  const inflight = 2000
  let next = 0
  await Promise.all(Array.from({ length: inflight }, async () => {
    for (let i = next++; i < BURST; i = next++) {
      await w.submit({ roomId: roomIds[i % roomIds.length]!, senderId: userIds[i % userIds.length]!, type: 'text', content: `${tag} ${i} lorem ipsum dolor sit amet consectetur` })
    }
  }))
}

/** One message every 5 ms for SECONDS; commit wait of each. */
async function trickle(w: MessageWriter, roomIds: number[], userIds: number[]) {
  const hist = new Histogram()
  const end = performance.now() + SECONDS * 1000
  const pending: Promise<void>[] = []
  for (let i = 0; performance.now() < end; i++) {
    const s = performance.now()
    pending.push(w.submit({ roomId: roomIds[i % roomIds.length]!, senderId: userIds[i % userIds.length]!, type: 'text', content: `trickle ${i}` })
      .then(() => hist.record(performance.now() - s)))
    await Bun.sleep(5)
  }
  await Promise.all(pending)
  return hist.summary()
}

const dbName = await createDb('after_burst')
try {
  const database = await openDatabase({ url: pgUrlFor(dbName), dataDir: '/tmp', poolMax: 10 })
  await database.migrate()
  const u = await database.db.insert(users).values(Array.from({ length: N_USERS }, (_, i) => ({ email: `a${i}@bench.local`, nickname: `a${i}` }))).returning({ id: users.id })
  const r = await database.db.insert(rooms).values(Array.from({ length: N_ROOMS }, () => ({ type: 'group' as const, name: 'burst', maxMembers: 1000 }))).returning({ id: rooms.id })
  await database.db.insert(roomMembers).values(r.flatMap((room) => u.map((x) => ({ roomId: room.id, userId: x.id }))))
  const roomIds = r.map((x) => x.id)
  const userIds = u.map((x) => x.id)
  const w = createMessageWriter(database, { flushMs: 2, batchMax: 1000, queueMax: 100_000, lanes: 2, log: silentLogger })
  const paced = createPacer({ busy: () => w.busy, idle: () => w.drain(), maxDeferMs: 1000, pauseMs: PAUSE_MS, sliceMs: SLICE_MS })

  /** The indexer as the server schedules it (every 250 ms), with `pace`. */
  const indexer = (pace: Pacer) => {
    const search = createSearch(database, (row) => toMessage(row, () => ''), { pace, batch: pace === unpaced ? 5000 : INDEX_BATCH_ARG || undefined })
    return every(250, () => search.indexPending(), silentLogger, 'indexer')
  }
  const rows: string[] = []
  const report = (name: string, s: { p50: number; p99: number; max: number; count: number }, q0: number, q1: number) =>
    rows.push(`| ${name} | ${s.count} | ${s.p50} | ${s.p99} | ${s.max} | ${q0} → ${q1} |`)

  let job = indexer(paced)
  let q0 = await queued(database)
  report('fresh, indexer paced', await trickle(w, roomIds, userIds), q0, await queued(database))

  const phases: [string, Pacer | null][] = [
    ['after a burst, no indexer (control)', null],
    ['after a burst, indexer paced', paced],
    ['after a burst, indexer unpaced (before)', unpaced],
  ]
  for (const [name, pace] of phases) {
    await job.stop()
    await burst(w, roomIds, userIds, name)
    // the control: what a burst alone leaves behind (autovacuum, checkpoints) with no indexer at work
    job = indexer(pace ?? unpaced)
    if (!pace) await job.stop()
    q0 = await queued(database)
    report(`${name} (${BURST} burst)`, await trickle(w, roomIds, userIds), q0, await queued(database))
    if (!pace) job = indexer(unpaced)
    // bounded catch-up before the next phase
    const until = performance.now() + 120_000
    while ((await queued(database)) > 0 && performance.now() < until) await Bun.sleep(250)
  }
  await job.stop()

  // what indexing costs Postgres: another burst, then the indexer alone, unpaced, until the queue is empty
  await burst(w, roomIds, userIds, 'cost')
  const search = createSearch(database, (row) => toMessage(row, () => ''), { batch: 2000 })
  const toIndex = await queued(database)
  const cpu0 = await backendCpuMs(database)
  const t0 = performance.now()
  for (let i = 0; i < 10_000 && (await queued(database)) > 0; i++) await search.indexPending(1_000_000)
  const wallS = (performance.now() - t0) / 1000
  const pgMs = (await backendCpuMs(database, cpu0.pids)).ms - cpu0.ms
  const cost = `indexer alone, unpaced, 2,000-row transactions: ${toIndex} rows in ${wallS.toFixed(1)} s (${Math.round(toIndex / wallS)} rows/s), ` +
    `${((pgMs * 1000) / toIndex).toFixed(1)} µs of Postgres CPU per row (this database's backends)`
  await w.close()
  console.log(`after-burst: trickle of one message / 5 ms for ${SECONDS} s; writer FLUSH_MS 2, BATCH_MAX 1000, 2 lanes; paced: batches of at most ${INDEX_BATCH_ARG || 'INDEX_BATCH'} sized to ${SLICE_MS} ms, pause ${PAUSE_MS} ms, deferred ${paced.deferred} turns`)
  console.log('| phase | messages | commit wait p50 ms | p99 ms | max ms | search_queue at start → end |')
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |')
  for (const row of rows) console.log(row)
  console.log(cost)
  await database.close()
} finally {
  await dropDb(dbName)
}
