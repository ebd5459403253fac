/**
 * idle: many sockets on one node doing nothing (default 19,000: the node's
 * open-file limit here is 20,000). Reports, after a full GC in the server
 * (bench/lib/mem-hook.ts, preloaded; SIGUSR2), RSS per socket and JS heap per
 * socket separately, the heap object types that grow per socket, and the
 * presence frames each socket received while the others connected. Against
 * the bare Bun baseline in the same run.
 *
 * The generator's sockets are spread over its worker processes (each under
 * its own open-file limit) and over several loopback source addresses.
 */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { LoadGenerator } from '../generator/coordinator.ts'
import { memSnapshot, typeGrowth, type MemSnapshot } from '../lib/mem.ts'
import { sampleProcs, wallMs } from '../lib/procs.ts'
import { compare, type Check, type Comparison } from '../report.ts'
import { workloadSockets } from '../targets/seed.ts'
import { isOurs, type Target, type TargetKind } from '../targets/targets.ts'
import { log, mb, round2, seed, type TargetRun } from './common.ts'
import { pickTargets, withTarget, type Ctx, type ScenarioResult } from './context.ts'

/** Everything one target's idle run measured. */
export type IdleFigures = {
  target: string
  label: string
  sockets: number
  connected: number
  /** still open when measured (after the hold) */
  openAtEnd: number
  /** after a full GC, before the sockets and after them; the heap as the process reports it */
  before: { rss: number; heapUsed: number; heapTotal: number } | null
  after: { rss: number; heapUsed: number; heapTotal: number } | null
  /** RSS from /proc right after connecting, before the GC (no preload needed) */
  rssNoGc: { before: number; after: number }
  rssPerSocket: number
  rssPerSocketNoGc: number
  heapPerSocket: number | null
  /** JS heap capacity (heapTotal) per socket: what the heap kept, in use or not */
  heapCapacityPerSocket: number | null
  /** heap object types that grew, objects per socket */
  heapTypesPerSocket: [string, number][]
  /** frames each socket received over the connect and the hold, by type */
  framesPerSocket: Record<string, number>
  connectsPerSec: number
}

/** Handshakes in flight at most, over all workers. */
export const IDLE_CONNECT_CONCURRENCY = 64

const fieldsOf = (m: MemSnapshot | null) => (m ? { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal } : null)

async function snapshot(t: Target, dir: string): Promise<MemSnapshot | null> {
  // one node; a target without the preload (Node) has none
  if (t.kind === 'socketio') return null
  return memSnapshot(t.pids()[0]!, dir)
}

async function idleRun(t: Target, ctx: Ctx, p: { sockets: number; members: number; holdSec: number; workers: number; connectRate: number }, memDir: string): Promise<{ run: TargetRun; fig: IdleFigures }> {
  const rooms = Math.max(1, Math.round(p.sockets / p.members))
  log(`${t.label}: seeding ${p.members} users, ${rooms} rooms × ${p.members}`)
  const t0 = wallMs()
  const seeded = await seed(t, { rooms, members: p.members, users: p.members }, t.name)
  const seedSec = (wallMs() - t0) / 1000
  const sockets = workloadSockets(t, seeded, 0)
  const gen = new LoadGenerator({
    protocol: t.protocol, sockets, workers: p.workers, connectRate: p.connectRate, logDir: ctx.logDir,
    // few handshakes in flight: the figure is the idle sockets', not a backlog of half-open sessions
    // (what a storm leaves behind is the connect scenario's; it reports RSS per socket too)
    connectConcurrency: IDLE_CONNECT_CONCURRENCY,
    connectTimeoutMs: ctx.opts.smoke ? 60_000 : 30_000,
    maxLifetimeMs: (sockets.length / p.connectRate + p.holdSec + 180) * 1000,
  })
  try {
    await gen.start()
    const m0 = await snapshot(t, memDir)
    const rss0 = sampleProcs(t.pids()).rss
    log(`${t.label}: connecting ${sockets.length} idle sockets at ${p.connectRate}/s over ${p.workers} workers`)
    const c = await gen.connect()
    // bounded hold: presence and session starts settle, Bun's pings go by
    await Bun.sleep(p.holdSec * 1000)
    const rss1 = sampleProcs(t.pids()).rss
    const m1 = await snapshot(t, memDir)
    const counts = await gen.counts()
    const n = c.connected || 1
    const rssPerSocket = m0 && m1 ? Math.round((m1.rss - m0.rss) / n) : Math.round((rss1 - rss0) / n)
    const fig: IdleFigures = {
      target: t.name, label: t.label, sockets: sockets.length, connected: c.connected, openAtEnd: counts.open,
      before: fieldsOf(m0), after: fieldsOf(m1), rssNoGc: { before: rss0, after: rss1 },
      rssPerSocket, rssPerSocketNoGc: Math.round((rss1 - rss0) / n),
      heapPerSocket: m0 && m1 ? Math.round((m1.heapUsed - m0.heapUsed) / n) : null,
      heapCapacityPerSocket: m0 && m1 ? Math.round((m1.heapTotal - m0.heapTotal) / n) : null,
      heapTypesPerSocket: m0 && m1 ? typeGrowth(m0, m1, n) : [],
      framesPerSocket: Object.fromEntries(Object.entries(counts.frames).map(([k, v]) => [k, round2(v / n)])),
      connectsPerSec: c.ratePerSec,
    }
    log(`${t.label}: ${c.connected}/${sockets.length} ready at ${c.ratePerSec}/s, ${counts.open} open after ${p.holdSec} s; after GC: RSS ${mb(m1?.rss ?? rss1)} MB, ${fig.rssPerSocket} B/socket, heap ${fig.heapPerSocket ?? '?'} B/socket in use, ${fig.heapCapacityPerSocket ?? '?'} B/socket capacity; frames/socket ${JSON.stringify(fig.framesPerSocket)}`)
    const { rooms: _r, ...connect } = c
    const run: TargetRun = {
      target: t.name, label: t.label, nodes: t.procs.length, seedSec: round2(seedSec), connect,
      rss: { beforeConnect: m0?.rss ?? rss0, afterConnect: m1?.rss ?? rss1, perSocket: rssPerSocket, peak: sampleProcs(t.pids()).peakRss },
      rssVsSockets: [[0, m0?.rss ?? rss0], [c.connected, m1?.rss ?? rss1]], rounds: [],
    }
    return { run, fig }
  } finally {
    await gen.close()
  }
}

export async function idle(ctx: Ctx): Promise<ScenarioResult> {
  const o = ctx.opts
  const notes: string[] = []
  const { kinds, pg } = await pickTargets(ctx, o.smoke ? ['ours'] : ['ours', 'bare'], notes)
  const db = o.db ?? (pg && !o.smoke ? 'postgres' : 'memory')
  const p = {
    sockets: o.sockets ?? (o.smoke ? 200 : 19_000),
    members: o.members ?? (o.smoke ? 50 : 100),
    holdSec: o.duration ?? (o.smoke ? 1 : 10),
    // each worker holds its share of the sockets under its own open-file limit
    workers: o.workers ?? (o.smoke ? 1 : 2),
    connectRate: o.connectRate ?? 1000,
  }
  const memDir = join(ctx.logDir, 'mem')
  mkdirSync(memDir, { recursive: true })
  const runs: TargetRun[] = []
  const figs: IdleFigures[] = []
  for (const kind of kinds) {
    const r = await withTarget({ kind, db, maxMembers: Math.max(100, p.members), logDir: ctx.logDir, memDir }, (t) => idleRun(t, ctx, p, memDir))
    runs.push(r.run)
    figs.push(r.fig)
  }
  const checks: Check[] = []
  for (const f of figs.filter((x) => isOurs(x.target as TargetKind))) {
    checks.push({ name: `${f.label}: every socket ready`, pass: f.connected === f.sockets, detail: `${f.connected}/${f.sockets}` })
    checks.push({ name: `${f.label}: every socket still open after the hold`, pass: f.openAtEnd === f.connected, detail: `${f.openAtEnd}/${f.connected}` })
  }
  const comparisons: Comparison[] = []
  const ours = figs.find((f) => f.target === 'ours')
  for (const b of figs) {
    if (!ours || b === ours) continue
    comparisons.push(compare('RSS per idle socket (after GC)', 'bytes', ours.rssPerSocket, b.rssPerSocket, b.label, 'lower'))
    if (ours.heapPerSocket !== null && b.heapPerSocket !== null) {
      comparisons.push(compare('JS heap per idle socket (after GC)', 'bytes', ours.heapPerSocket, b.heapPerSocket, b.label, 'lower'))
    }
  }
  if (ours) notes.push(`target: ≤ 4,096 B RSS per idle socket; ours ${ours.rssPerSocket} B (${ours.rssPerSocket <= 4096 ? 'met' : 'not met'}), JS heap ${ours.heapPerSocket ?? '?'} B in use, ${ours.heapCapacityPerSocket ?? '?'} B capacity (a fast storm leaves capacity behind; --connect-rate sets the arrival)`)
  notes.push('per socket = (after connecting and a hold − before connecting) / sockets connected; both after Bun.gc(true) in the server (SIGUSR2 to bench/lib/mem-hook.ts, preloaded); RSS also without the GC')
  notes.push(`connects: ${p.connectRate}/s asked, at most ${IDLE_CONNECT_CONCURRENCY} handshakes in flight`)
  notes.push(`sockets are per-room sockets (/v1/rooms/:id/ws) of ${p.members} users, each user in every room; our server's database: ${db}`)
  return {
    params: { ...p, db, targets: kinds },
    runs, comparisons, checks,
    extra: { idle: figs },
    notes,
  }
}
