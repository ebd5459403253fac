/**
 * persist: messages/s committed through our server on real Postgres (many
 * WebSocket senders, closed loop, acked = committed) against one INSERT per
 * message on the same Postgres with the same number in flight, same run;
 * and against the Socket.IO baseline, which also INSERTs once per message.
 */
import postgres from 'postgres'
import { runInsertBaseline, type InsertBaselineResult } from '../baselines/insert-per-message.ts'
import { pgUrlFor } from '../lib/pg.ts'
import { compare, type Check, type Comparison } from '../report.ts'
import { log, runLoad, type LoadParams, type TargetRun } from './common.ts'
import { correctnessChecks, pickTargets, withTarget, type Ctx, type ScenarioResult } from './context.ts'

async function countRows(db: string | null): Promise<number> {
  if (!db) return -1
  const sql = postgres(pgUrlFor(db), { max: 1, onnotice: () => {} })
  try {
    const [r] = await sql<{ n: string }[]>`select count(*)::text as n from messages`
    return Number(r?.n ?? -1)
  } finally {
    await sql.end({ timeout: 1 })
  }
}

export async function persist(ctx: Ctx): Promise<ScenarioResult> {
  const o = ctx.opts
  const notes: string[] = []
  const { kinds, pg } = await pickTargets(ctx, ['ours', 'socketio'], notes)
  if (!pg) throw new Error('persist needs Postgres (BENCH_PG_URL, default postgres://postgres@127.0.0.1:5432/test)')
  const members = o.members ?? 10
  const p: LoadParams = {
    rooms: o.rooms ?? (o.smoke ? 10 : 100), members, senders: Math.min(members, o.senders ?? members), rates: [1],
    durationSec: o.duration ?? (o.smoke ? 3 : 15), warmupSec: o.warmup ?? (o.smoke ? 1 : 3), payload: o.payload ?? 64,
    workers: o.workers ?? 2, connectRate: o.connectRate ?? 2000, users: o.users ?? members, inflight: o.inflight ?? 2, drainSec: o.drain ?? 15,
  }
  const concurrency = p.rooms * p.senders * p.inflight
  const runs: TargetRun[] = []
  const rows: Record<string, number> = {}
  for (const kind of kinds) {
    runs.push(await withTarget({ kind, db: 'postgres', maxMembers: Math.max(100, members), logDir: ctx.logDir }, async (t) => {
      const run = await runLoad(t, p, ctx.logDir)
      rows[t.name] = await countRows(t.dbName)
      return run
    }))
  }
  const poolMax = 20
  log(`one INSERT per message: ${concurrency} in flight over a pool of ${poolMax}`)
  const ins: InsertBaselineResult = await runInsertBaseline({
    concurrency, poolMax, rooms: p.rooms, warmupMs: p.warmupSec * 1000, durationMs: p.durationSec * 1000, payload: p.payload,
  })
  log(`one INSERT per message: ${ins.perSec}/s, p99 ${ins.latency.p99} ms`)
  const comparisons: Comparison[] = []
  const checks: Check[] = []
  const ours = runs.find((r) => r.target === 'ours')
  const oursRound = ours?.rounds.at(-1)
  if (ours && oursRound) {
    // acked per second inside the window: acked messages of the round over its send period
    comparisons.push(compare('messages committed/s', '/s', oursRound.ackedPerSec, ins.perSec, 'one INSERT per message (direct)', 'higher'))
    comparisons.push(compare('commit wait p99', 'ms', oursRound.ack.p99, ins.latency.p99, 'one INSERT per message (direct)', 'lower'))
    for (const b of runs) {
      const br = b.rounds.at(-1)
      if (b === ours || !br) continue
      comparisons.push(compare('messages committed/s', '/s', oursRound.ackedPerSec, br.ackedPerSec, b.label, 'higher'))
      comparisons.push(compare('ack p99', 'ms', oursRound.ack.p99, br.ack.p99, b.label, 'lower'))
    }
    checks.push(...correctnessChecks(ours))
    checks.push({ name: 'every acked message is a row', pass: (rows.ours ?? -1) >= oursRound.acked, detail: `rows ${rows.ours}, acked ${oursRound.acked}` })
  }
  notes.push(`closed loop: ${p.rooms} rooms × ${p.senders} senders × ${p.inflight} in flight = ${concurrency} messages awaiting commit at any time, for every target`)
  notes.push(`the direct INSERT baseline runs in the bench process with a postgres.js pool of ${poolMax}; our server uses its own pool`)
  return {
    params: { ...p, concurrency, insertPool: poolMax, targets: kinds },
    runs, comparisons, checks,
    extra: {
      insertBaseline: ins, rows,
      tables: [{
        title: 'Committed messages',
        head: ['writer', 'committed/s', 'commit wait p50 ms', 'p99 ms', 'max ms', 'rows'],
        rows: [
          ...runs.map((r) => [r.label, r.rounds.at(-1)?.ackedPerSec ?? 0, r.rounds.at(-1)?.ack.p50 ?? 0, r.rounds.at(-1)?.ack.p99 ?? 0, r.rounds.at(-1)?.ack.max ?? 0, rows[r.target] ?? -1]),
          ['one INSERT per message (direct)', ins.perSec, ins.latency.p50, ins.latency.p99, ins.latency.max, ins.rows],
        ],
      }],
    },
    notes,
  }
}
