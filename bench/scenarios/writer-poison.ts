/**
 * writer-poison: what a row the database refuses costs its neighbours. The
 * writer in this process on real Postgres, closed-loop normal senders, twice:
 * clean, then with one more loop that keeps sending a message with a NUL in
 * it (Postgres refuses it: 22P05), so nearly every batch carries one. The
 * writer splits such a batch until the bad row stands alone: the normal
 * senders' commit wait (p50/p99) is the figure; the poison gets 422 each time.
 */
import { openDatabase, type Database } from '../../src/db/client.ts'
import { roomMembers, rooms, users } from '../../src/db/schema.ts'
import { createMessageWriter } from '../../src/db/writer.ts'
import { AppError } from '../../src/lib/errors.ts'
import { silentLogger } from '../../src/lib/logger.ts'
import { Histogram, type LatencySummary } from '../lib/hist.ts'
import { createDb, dropDb, pgUrlFor } from '../lib/pg.ts'
import { compare, type Check } from '../report.ts'
import { log } from './common.ts'
import type { Ctx, ScenarioResult } from './context.ts'

type Phase = {
  name: 'clean' | 'poison'; perSec: number; latency: LatencySummary; normalFailed: number
  poisonSent: number; poisonRefused: number; poisonOther: number; splits: number; batches: number
}

async function seed(database: Database, nRooms: number, nUsers: number) {
  const u = await database.db.insert(users).values(Array.from({ length: nUsers }, (_, i) => ({ email: `p${i}@bench.local`, nickname: `p${i}` }))).returning({ id: users.id })
  const r = await database.db.insert(rooms).values(Array.from({ length: nRooms }, () => ({ type: 'group' as const, name: 'bench', maxMembers: 100 }))).returning({ id: rooms.id })
  await database.db.insert(roomMembers).values(r.flatMap((room) => u.map((x) => ({ roomId: room.id, userId: x.id }))))
  return { userIds: u.map((x) => x.id), roomIds: r.map((x) => x.id) }
}

export async function writerPoison(ctx: Ctx): Promise<ScenarioResult> {
  const o = ctx.opts
  const nRooms = o.rooms ?? 100
  const nUsers = o.members ?? 20
  const concurrency = o.inflight ?? (o.smoke ? 100 : 500)
  const warmupMs = (o.warmup ?? (o.smoke ? 1 : 2)) * 1000
  const durationMs = (o.duration ?? (o.smoke ? 3 : 10)) * 1000
  const lanes = Number(process.env.WRITER_LANES ?? 2)
  const phases: Phase[] = []

  for (const name of ['clean', 'poison'] as const) {
    const db = await createDb(`poison_${name}`)
    try {
      const database = await openDatabase({ url: pgUrlFor(db), dataDir: '/tmp', poolMax: 10 })
      await database.migrate()
      const { userIds, roomIds } = await seed(database, nRooms, nUsers)
      const w = createMessageWriter(database, { flushMs: 2, batchMax: 1000, queueMax: concurrency * 4, lanes, log: silentLogger })
      const hist = new Histogram()
      const t0 = performance.now()
      const winStart = t0 + warmupMs
      const winEnd = winStart + durationMs
      let inWindow = 0
      let normalFailed = 0
      let poisonSent = 0
      let poisonRefused = 0
      let poisonOther = 0
      log(`writer-poison ${name}: ${concurrency} normal senders in flight${name === 'poison' ? ' + 1 poison sender' : ''}, ${lanes} lanes`)
      const normal = Array.from({ length: concurrency }, async (_, loop) => {
        // bounded by the clock
        for (let n = 0; performance.now() < winEnd; n++) {
          const s = performance.now()
          const ok = await w.submit({
            roomId: roomIds[loop % nRooms]!, senderId: userIds[Math.floor(loop / nRooms) % nUsers]!, type: 'text',
            content: `${loop}:${n} normal`, clientMsgId: `${loop}-${n}`,
          }).then(() => true, () => false)
          if (!ok) normalFailed++
          if (s >= winStart) {
            hist.record(performance.now() - s)
            inWindow++
          }
        }
      })
      const poison = name === 'clean' ? [] : [(async () => {
        for (let n = 0; performance.now() < winEnd; n++) {
          poisonSent++
          const err = await w.submit({
            roomId: roomIds[n % nRooms]!, senderId: userIds[0]!, type: 'text', content: `poison \u0000 ${n}`, clientMsgId: `poison-${n}`,
          }).then(() => null, (e: unknown) => e)
          if (err instanceof AppError && err.code === 'validation') poisonRefused++
          else poisonOther++
        }
      })()]
      await Promise.all([...normal, ...poison])
      await w.close()
      await database.close()
      const p: Phase = {
        name, perSec: Math.round(inWindow / (durationMs / 1000)), latency: hist.summary(), normalFailed,
        poisonSent, poisonRefused, poisonOther, splits: w.stats.splits, batches: w.stats.batches,
      }
      phases.push(p)
      log(`${name}: ${p.perSec}/s, p50 ${p.latency.p50} ms, p99 ${p.latency.p99} ms, poison ${poisonRefused}/${poisonSent} refused, splits ${p.splits}`)
    } finally {
      await dropDb(db)
    }
  }
  const [clean, poisoned] = phases as [Phase, Phase]
  const checks: Check[] = [
    { name: 'no normal message failed', pass: clean.normalFailed + poisoned.normalFailed === 0, detail: `clean ${clean.normalFailed}, poison ${poisoned.normalFailed}` },
    { name: 'every poison message got 422 validation', pass: poisoned.poisonOther === 0 && poisoned.poisonRefused > 0, detail: `${poisoned.poisonRefused} of ${poisoned.poisonSent}` },
  ]
  return {
    params: { rooms: nRooms, users: nUsers, concurrency, warmupMs, durationMs, flushMs: 2, batchMax: 1000, lanes, pool: 10 },
    runs: [],
    comparisons: [
      compare('normal commit wait p99', 'ms', poisoned.latency.p99, clean.latency.p99, 'no poison', 'lower'),
      compare('normal messages committed/s', '/s', poisoned.perSec, clean.perSec, 'no poison', 'higher'),
    ],
    checks,
    extra: {
      phases,
      tables: [{
        title: 'Normal sends, with and without a refused row in (nearly) every batch',
        head: ['phase', 'committed/s', 'p50 ms', 'p99 ms', 'max ms', 'poison sent', 'poison 422', 'batch splits', 'batches'],
        rows: phases.map((p) => [p.name, p.perSec, p.latency.p50, p.latency.p99, p.latency.max, p.poisonSent, p.poisonRefused, p.splits, p.batches]),
      }],
    },
    notes: [
      `closed loop: ${concurrency} normal messages awaiting commit at any time; the poison loop has one in flight, so each poison is in one batch`,
      'Postgres, the writer and the loops share the 2 cores (and the box with other work)',
    ],
  }
}
