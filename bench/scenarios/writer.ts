/**
 * writer: the group-commit writer itself (src/db/writer.ts, in this process)
 * against one INSERT per message, same run, same Postgres, same schema (our
 * migrations, every index), same number of messages awaiting commit. The
 * baseline does the same job per message as a correct naive server would:
 * take the room's next seq and insert, in one statement.
 */
import postgres from 'postgres'
import { openDatabase, type Database } from '../../src/db/client.ts'
import { roomMembers, rooms, users } from '../../src/db/schema.ts'
import { createMessageWriter } from '../../src/db/writer.ts'
import { silentLogger } from '../../src/lib/logger.ts'
import { Histogram, type LatencySummary } from '../lib/hist.ts'
import { createDb, dropDb, pgUrlFor } from '../lib/pg.ts'
import { compare, type Check } from '../report.ts'
import { log } from './common.ts'
import type { Ctx, ScenarioResult } from './context.ts'

type Phase = { name: string; committed: number; perSec: number; latency: LatencySummary; gapless: boolean; rows: number; cpuSec: number; open: OpenLoop }

/** What an open loop at a fixed offered rate came to. */
type OpenLoop = {
  offeredPerSec: number
  /** messages sent in the measured window */
  sent: number
  /** commits that landed in the window, per second */
  committedPerSec: number
  /** not sent: `maxInFlight` messages were already waiting (the target fell behind) */
  shed: number
  /** answered with an error (the writer's queue full, or the database refused) */
  failed: number
  /** from each message's scheduled send time to its commit: a target that falls behind pays for it here */
  latency: LatencySummary
  cpuSec: number
}

async function seed(database: Database, nRooms: number, nUsers: number) {
  const u = await database.db.insert(users).values(Array.from({ length: nUsers }, (_, i) => ({ email: `w${i}@bench.local`, nickname: `w${i}` }))).returning({ id: users.id })
  const r = await database.db.insert(rooms).values(Array.from({ length: nRooms }, () => ({ type: 'group' as const, name: 'bench', maxMembers: 100 }))).returning({ id: rooms.id })
  await database.db.insert(roomMembers).values(r.flatMap((room) => u.map((x) => ({ roomId: room.id, userId: x.id }))))
  return { userIds: u.map((x) => x.id), roomIds: r.map((x) => x.id) }
}

async function checkGapless(url: string): Promise<{ gapless: boolean; rows: number }> {
  const sql = postgres(url, { max: 1, onnotice: () => {} })
  try {
    const [r] = await sql<{ rows: string; bad: string }[]>`
      select count(*)::text as rows,
        (select count(*) from (select room_id, max(seq) as mx, count(*) as n, count(distinct seq) as d from messages group by room_id) t
         where mx <> n or d <> n)::text as bad
      from messages`
    return { gapless: r?.bad === '0', rows: Number(r?.rows ?? 0) }
  } finally {
    await sql.end({ timeout: 1 })
  }
}

/** Closed loop: `concurrency` loops, each sending the next message once the last is committed. */
async function closedLoop(concurrency: number, warmupMs: number, durationMs: number, send: (loop: number, n: number) => Promise<void>) {
  const hist = new Histogram()
  const t0 = performance.now()
  const winStart = t0 + warmupMs
  const winEnd = winStart + durationMs
  let inWindow = 0
  let total = 0
  const cpu0 = process.cpuUsage()
  await Promise.all(Array.from({ length: concurrency }, async (_, loop) => {
    // bounded by the clock
    for (let n = 0; performance.now() < winEnd; n++) {
      const s = performance.now()
      await send(loop, n)
      total++
      if (s >= winStart) {
        hist.record(performance.now() - s)
        inWindow++
      }
    }
  }))
  const cpu = process.cpuUsage(cpu0)
  return { perSec: Math.round(inWindow / (durationMs / 1000)), latency: hist.summary(), total, cpuSec: (cpu.user + cpu.system) / 1e6 }
}

/**
 * Open loop: messages are offered at `rate` per second on a fixed schedule,
 * whatever the target's answers, for `warmupMs + durationMs` (bounded in
 * time, so in count: at most rate × that). Commit wait is measured from each
 * message's scheduled time (no coordinated omission). At most `maxInFlight`
 * wait at once; past it the schedule's messages are shed and counted, so a
 * target that cannot keep up is bounded in memory and shows it.
 */
async function openLoop(rate: number, warmupMs: number, durationMs: number, maxInFlight: number, send: (n: number) => Promise<void>): Promise<OpenLoop & { total: number }> {
  const hist = new Histogram()
  const t0 = performance.now()
  const winStart = t0 + warmupMs
  const winEnd = winStart + durationMs
  let scheduled = 0
  let inFlight = 0
  let sent = 0
  let committedInWindow = 0
  let total = 0
  let shed = 0
  let failed = 0
  const pending = new Set<Promise<void>>()
  const cpu0 = process.cpuUsage()
  for (;;) {
    const now = performance.now()
    if (now >= winEnd) break
    const due = Math.floor(((now - t0) * rate) / 1000)
    for (; scheduled < due; scheduled++) {
      const at = t0 + (scheduled * 1000) / rate
      const inWindow = at >= winStart
      if (inFlight >= maxInFlight) {
        if (inWindow) shed++
        continue
      }
      inFlight++
      if (inWindow) sent++
      const p = send(scheduled).then(
        () => {
          total++
          const done = performance.now()
          if (inWindow) hist.record(done - at)
          // throughput: commits that land in the window, whenever they were sent
          if (done >= winStart && done < winEnd) committedInWindow++
        },
        () => {
          if (inWindow) failed++
        },
      ).finally(() => {
        inFlight--
        pending.delete(p)
      })
      pending.add(p)
    }
    // sleep to the next tick (about 1 ms) and send what fell due meanwhile: a busy loop here would take a core from Postgres
    await new Promise((r) => setTimeout(r, 1))
  }
  await Promise.all(pending)
  const cpu = process.cpuUsage(cpu0)
  return {
    offeredPerSec: rate, sent, committedPerSec: Math.round(committedInWindow / (durationMs / 1000)), shed, failed,
    latency: hist.summary(), cpuSec: (cpu.user + cpu.system) / 1e6, total,
  }
}

export async function writer(ctx: Ctx): Promise<ScenarioResult> {
  const o = ctx.opts
  const nRooms = o.rooms ?? 100
  const nUsers = o.members ?? 20
  const concurrency = o.inflight ?? (o.smoke ? 200 : 2000)
  const warmupMs = (o.warmup ?? (o.smoke ? 1 : 3)) * 1000
  const durationMs = (o.duration ?? (o.smoke ? 3 : 15)) * 1000
  const payload = o.payload ?? 64
  const pad = 'x'.repeat(payload)
  // as the server runs it (WRITER_LANES, default 2)
  const lanes = Number(process.env.WRITER_LANES ?? 2)
  // open loop: offered messages/s (--rate), and how many may wait before the rest are shed
  const rate = o.rates?.[0] ?? 50_000
  const maxInFlight = 20_000
  const phases: Phase[] = []

  for (const name of ['ours', 'insert'] as const) {
    const db = await createDb(`writer_${name}`)
    const url = pgUrlFor(db)
    try {
      const database = await openDatabase({ url, dataDir: '/tmp', poolMax: 10 })
      await database.migrate()
      const { userIds, roomIds } = await seed(database, nRooms, nUsers)
      const at = (loop: number) => ({ roomId: roomIds[loop % nRooms]!, senderId: userIds[Math.floor(loop / nRooms) % nUsers]! })
      const content = (loop: number, n: number) => `${loop}:${n}|`.padEnd(payload, pad)
      let r: Awaited<ReturnType<typeof closedLoop>>
      let open: Awaited<ReturnType<typeof openLoop>>
      // the open loop's messages: every loop slot's rooms and senders in turn, keys apart from the closed loop's
      const openAt = (n: number) => at(n % concurrency)
      if (name === 'ours') {
        log(`writer: ${concurrency} in flight, FLUSH_MS 2, BATCH_MAX 1000, ${lanes} lanes`)
        const w = createMessageWriter(database, { flushMs: 2, batchMax: 1000, queueMax: Math.max(concurrency * 2, maxInFlight), lanes, log: silentLogger })
        const submit = (roomId: number, senderId: number, text: string, key: string) =>
          w.submit({ roomId, senderId, type: 'text', content: text, clientMsgId: key }).then(() => {})
        r = await closedLoop(concurrency, warmupMs, durationMs, (loop, n) => {
          const { roomId, senderId } = at(loop)
          return submit(roomId, senderId, content(loop, n), `${loop}-${n}`)
        })
        log(`writer: open loop at ${rate}/s`)
        open = await openLoop(rate, warmupMs, durationMs, maxInFlight, (n) => {
          const { roomId, senderId } = openAt(n)
          return submit(roomId, senderId, content(n, -1), `open-${n}`)
        })
        await w.close()
        await database.close()
      } else {
        await database.close()
        log(`one INSERT per message: ${concurrency} in flight over a pool of 10`)
        const sql = postgres(url, { max: 10, onnotice: () => {} })
        const insert = async (roomId: number, senderId: number, text: string, key: string) => {
          await sql`with r as (update rooms set last_seq = last_seq + 1, last_activity_at = now() where id = ${roomId} returning last_seq),
                      m as (insert into messages (room_id, seq, sender_id, type, content, client_msg_id)
                            select ${roomId}, r.last_seq, ${senderId}, 'text', ${text}, ${key} from r returning id)
                    insert into search_queue (message_id) select id from m`
        }
        r = await closedLoop(concurrency, warmupMs, durationMs, (loop, n) => {
          const { roomId, senderId } = at(loop)
          return insert(roomId, senderId, content(loop, n), `${loop}-${n}`)
        })
        log(`one INSERT per message: open loop at ${rate}/s`)
        open = await openLoop(rate, warmupMs, durationMs, maxInFlight, (n) => {
          const { roomId, senderId } = openAt(n)
          return insert(roomId, senderId, content(n, -1), `open-${n}`)
        })
        await sql.end({ timeout: 2 })
      }
      const g = await checkGapless(url)
      const { total: openTotal, ...openResult } = open
      phases.push({ name, committed: r.total + openTotal, perSec: r.perSec, latency: r.latency, cpuSec: r.cpuSec, open: openResult, ...g })
      log(`${name}: closed ${r.perSec}/s, p99 ${r.latency.p99} ms; open at ${rate}/s: ${open.committedPerSec}/s committed, p50 ${open.latency.p50} p99 ${open.latency.p99} ms, shed ${open.shed}; rows ${g.rows}, gapless ${g.gapless}`)
    } finally {
      await dropDb(db)
    }
  }
  const [ours, ins] = phases as [Phase, Phase]
  const checks: Check[] = phases.map((p) => ({
    name: `${p.name}: every committed message is a row, per-room seq gapless`,
    pass: p.gapless && p.rows === p.committed,
    detail: `rows ${p.rows}, committed ${p.committed}`,
  }))
  return {
    params: { rooms: nRooms, users: nUsers, concurrency, warmupMs, durationMs, payload, flushMs: 2, batchMax: 1000, lanes, pool: 10, openRate: rate, openMaxInFlight: maxInFlight },
    runs: [],
    comparisons: [
      compare('messages committed/s', '/s', ours.perSec, ins.perSec, 'one INSERT per message', 'higher'),
      compare('commit wait p99', 'ms', ours.latency.p99, ins.latency.p99, 'one INSERT per message', 'lower'),
      compare(`open loop at ${rate}/s: committed/s`, '/s', ours.open.committedPerSec, ins.open.committedPerSec, 'one INSERT per message', 'higher'),
      compare(`open loop at ${rate}/s: commit wait p99`, 'ms', ours.open.latency.p99, ins.open.latency.p99, 'one INSERT per message', 'lower'),
    ],
    checks,
    extra: {
      phases,
      tables: [{
        title: 'Writer on real Postgres, same schema and indexes',
        head: ['writer', 'committed/s', 'commit wait p50 ms', 'p99 ms', 'max ms', 'rows', 'bench process CPU s'],
        rows: phases.map((p) => [p.name === 'ours' ? 'group commit (src/db/writer.ts)' : 'one INSERT per message', p.perSec, p.latency.p50, p.latency.p99, p.latency.max, p.rows, +p.cpuSec.toFixed(1)]),
      }, {
        title: `Open loop: ${rate} messages/s offered for ${durationMs / 1000} s after ${warmupMs / 1000} s warm-up (wait from the scheduled send)`,
        head: ['writer', 'offered/s', 'committed/s', 'sent', 'shed (over 20,000 waiting)', 'failed', 'commit wait p50 ms', 'p99 ms', 'max ms', 'bench process CPU s'],
        rows: phases.map((p) => [p.name === 'ours' ? 'group commit (src/db/writer.ts)' : 'one INSERT per message', p.open.offeredPerSec, p.open.committedPerSec, p.open.sent, p.open.shed, p.open.failed, p.open.latency.p50, p.open.latency.p99, p.open.latency.max, +p.open.cpuSec.toFixed(1)]),
      }],
    },
    notes: [
      `closed loop: ${concurrency} messages awaiting commit at any time, for both; Postgres, the writer and the loops share the 2 cores`,
      `open loop (after the closed loop, same database): ${rate} messages/s offered on a fixed schedule for both (--rate); commit wait from each message's scheduled time; at most ${maxInFlight} waiting, the rest shed and counted (a target that cannot keep up shows it as shed and as wait)`,
      'the baseline takes the next seq and inserts in one statement per message (what a correct naive server does); same indexes, same search queue',
    ],
  }
}
