/**
 * fanout: R rooms × M members of authenticated sockets, S senders per room
 * at a rate, against the bare Bun pub/sub server and Socket.IO, same
 * generator, same workload, same run.
 */
import postgres from 'postgres'
import { log, runLoad, type LoadParams, type TargetRun } from './common.ts'
import { pgUrlFor } from '../lib/pg.ts'
import type { Target } from '../targets/targets.ts'
import { correctnessChecks, loadComparisons, loadParamsOf, pickTargets, sustained, withTarget, type Ctx, type ScenarioResult } from './context.ts'
import { isOurs, OTHER_TRANSPORT_KIND, type TargetKind } from '../targets/targets.ts'
import { cpuPerK, gateReport, transportGate } from '../targets/transport-gate.ts'
import type { Comparison } from '../report.ts'

export const P99_BOUND_MS = 50

export function fanoutParams(ctx: Ctx): LoadParams {
  const o = ctx.opts
  const smoke = o.smoke
  const members = o.members ?? (smoke ? 50 : 100)
  const sockets = o.sockets ?? (smoke ? 200 : 10_000)
  const rooms = o.rooms ?? Math.max(1, Math.round(sockets / members))
  return {
    rooms, members,
    senders: Math.min(members, o.senders ?? (smoke ? 5 : 10)),
    rates: o.rates ?? [smoke ? 5 : 1],
    durationSec: o.duration ?? (smoke ? 3 : 20),
    warmupSec: o.warmup ?? (smoke ? 1 : 5),
    payload: o.payload ?? 64,
    workers: o.workers ?? 2,
    connectRate: o.connectRate ?? (smoke ? 1000 : 2000),
    users: o.users ?? members,
    inflight: o.inflight ?? 0,
    drainSec: o.drain ?? 10,
    stopP99Ms: o.stopP99,
    // the smoke checks correctness, not speed: on a starved CI box a socket may take long to open
    connectTimeoutMs: smoke ? 60_000 : undefined,
  }
}

const MAX_BACKLOG = 1_000_000
const MAX_REPEAT = 9

export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

/** Per metric and baseline: the median of ours, of the baseline and of the ratio over the repeats that have it. */
export function medians(perRepeat: Comparison[][]): Comparison[] {
  const groups = new Map<string, Comparison[]>()
  for (const c of perRepeat.flat()) {
    const key = `${c.metric}\u0000${c.baselineName}`
    groups.set(key, [...(groups.get(key) ?? []), c])
  }
  return [...groups.values()].map((cs) => ({
    ...cs[0]!,
    metric: `${cs[0]!.metric} (median of ${cs.length})`,
    ours: median(cs.map((c) => c.ours)),
    baseline: median(cs.map((c) => c.baseline)),
    ratio: Math.round(median(cs.map((c) => c.ratio)) * 1000) / 1000,
  }))
}

/**
 * `--backlog N`: the state right after an N-message burst, while the search
 * indexer catches up. N messages committed (in a room of their own, as the
 * writer leaves them: numbered, queued for search) straight into our
 * server's database before the load starts; its indexer works them off
 * during the measured window. Returns what is left to run afterwards: the
 * queue's length then.
 */
async function queueBacklog(t: Target, n: number): Promise<() => Promise<number>> {
  const sql = postgres(pgUrlFor(t.dbName!), { max: 1, onnotice: () => {} })
  const [room] = await sql<{ id: string }[]>`insert into rooms (type, name, max_members, last_seq) values ('group', 'backlog', 100, ${n}) returning id`
  await sql`with m as (
              insert into messages (room_id, seq, type, content)
              select ${room!.id}, i, 'text', 'backlog ' || i || ' lorem ipsum dolor sit amet, consectetur adipiscing elit'
              from generate_series(1, ${n}::int) i returning id)
            insert into search_queue (message_id) select id from m`
  log(`backlog: ${n} messages queued for the indexer`)
  return async () => {
    try {
      const [q] = await sql<{ n: number }[]>`select count(*)::int as n from search_queue`
      return q!.n
    } finally {
      await sql.end({ timeout: 1 })
    }
  }
}

export async function fanout(ctx: Ctx): Promise<ScenarioResult> {
  const notes: string[] = []
  // our server on its other WebSocket transport too: the transport gate compares the two in this run
  const { kinds, pg } = await pickTargets(ctx, ctx.opts.smoke ? ['ours'] : ['ours', OTHER_TRANSPORT_KIND, 'bare', 'socketio'], notes)
  const db = ctx.opts.db ?? (pg && !ctx.opts.smoke ? 'postgres' : 'memory')
  const p = fanoutParams(ctx)
  const maxMembers = ctx.opts.maxMembers ?? Math.max(100, p.members)
  const runs: TargetRun[] = []
  const backlog = Math.min(MAX_BACKLOG, Math.floor(ctx.opts.backlog ?? 0))
  if (backlog > 0 && db !== 'postgres') throw new Error('--backlog needs --db postgres')
  // --repeat N: every target N times, in alternating order (a drift of the box hits both sides alike)
  const repeats = Math.max(1, Math.min(MAX_REPEAT, Math.floor(ctx.opts.repeat ?? 1)))
  const perRepeat: Comparison[][] = []
  const firstRepeat: TargetRun[] = []
  for (let k = 0; k < repeats; k++) {
    const these: TargetRun[] = []
    for (const kind of k % 2 === 0 ? kinds : [...kinds].reverse()) {
      try {
        these.push(await withTarget({ kind, db, maxMembers, logDir: ctx.logDir }, async (t) => {
          if (backlog === 0 || !isOurs(kind)) return runLoad(t, p, ctx.logDir)
          const left = await queueBacklog(t, backlog)
          const run = await runLoad(t, p, ctx.logDir)
          notes.push(`${kind}: started with ${backlog} messages waiting for the search indexer; ${await left()} still waiting at the end`)
          return run
        }))
      } catch (e) {
        log(`${kind} failed: ${String(e)}`)
        notes.push(`${kind}: ${String(e)}`)
        if (isOurs(kind)) throw e
      }
    }
    perRepeat.push(loadComparisons(these, 'ours', P99_BOUND_MS))
    if (k === 0) firstRepeat.push(...these)
    if (repeats > 1) for (const r of these) r.label = `${r.label} #${k + 1}`
    runs.push(...these)
  }
  notes.push(`our server's database: ${db}; sockets ${p.users < p.rooms * p.members ? 'per room (/v1/rooms/:id/ws), users shared between rooms' : 'one per user (/v1/ws)'}`)
  notes.push(`comparisons use each target's best round with no loss and p99 ≤ ${P99_BOUND_MS} ms (or its best round if none qualifies)`)
  notes.push('out of order: by seq per socket (ours, bare Bun); by each sender\'s own order for Socket.IO, which has no seq')
  if (repeats > 1) {
    notes.push(`${repeats} repeats, targets in alternating order; a comparison marked "median" is the median over the repeats of ours, of the baseline and of the ratio (each repeat's own ratio), the others are one repeat each`)
  }
  const comparisons = repeats === 1 ? perRepeat[0]! : [...medians(perRepeat), ...perRepeat.flatMap((cs, k) => cs.map((c) => ({ ...c, metric: `${c.metric} (repeat ${k + 1})` })))]
  // the transport gate compares the first repeat's runs (one of each transport)
  const gate = transportGate(firstRepeat.map((r) => {
    const s = sustained(r, P99_BOUND_MS)
    return {
      target: r.target, label: r.label,
      figures: {
        rssPerSocket: r.rss.perSocket,
        ...(s ? { deliveriesPerSec: s.deliveriesPerSec, cpuPerDelivery: cpuPerK(s.serverCpuSec, s.windowDeliveries) } : {}),
      },
    }
  }))
  if (gate) {
    const g = gateReport(gate)
    comparisons.push(...g.comparisons)
    notes.push(g.note)
  }
  return {
    params: { ...loadParamsOf(p), db, maxMembers, targets: kinds, ...(backlog > 0 ? { backlog } : {}), ...(repeats > 1 ? { repeat: repeats } : {}) },
    runs,
    comparisons,
    // every run of our server, whichever transport, must be loss-free, duplicate-free and in order
    checks: runs.filter((r) => isOurs(r.target as TargetKind)).flatMap(correctnessChecks),
    extra: gate ? { transportGate: gate } : {},
    notes,
  }
}
