/**
 * connect: a connection storm. N sockets as fast as the generator can open
 * them, each token checked by the server; one in `badEvery` carries a
 * tampered token and must be refused. Accepted/s against the baselines.
 */
import { LoadGenerator } from '../generator/coordinator.ts'
import type { SocketSpec } from '../generator/types.ts'
import { compare, type Check, type Comparison } from '../report.ts'
import { seedUsers } from '../targets/seed.ts'
import type { Target } from '../targets/targets.ts'
import { Monitor, log, mb, round2, type TargetRun } from './common.ts'
import { pickTargets, withTarget, type Ctx, type ScenarioResult } from './context.ts'

/** Flips the last characters of a token: same shape, wrong signature (or an unknown user for the bare baseline). */
function tamper(token: string): string {
  if (/^u\d+$/.test(token)) return 'u999999999'
  const tail = token.slice(-4)
  return token.slice(0, -4) + [...tail].map((c) => (c === 'A' ? 'B' : 'A')).join('')
}

async function storm(t: Target, n: number, users: number, badEvery: number, rate: number, workers: number, logDir: string): Promise<TargetRun> {
  const t0 = performance.now()
  const pool = await seedUsers(t, users, `${t.name}-conn`)
  const seedSec = (performance.now() - t0) / 1000
  const sockets: SocketSpec[] = Array.from({ length: n }, (_, i) => {
    const bad = badEvery > 0 && i % badEvery === badEvery - 1
    const tok = pool[i % pool.length]!.access
    return t.socket(i, bad ? tamper(tok) : tok, 0, -1, false, bad)
  })
  const mon = new Monitor(() => t.pids())
  const gen = new LoadGenerator({ protocol: t.protocol, sockets, workers, connectRate: rate, connectConcurrency: 4000, logDir, maxLifetimeMs: 300_000 })
  const rssVsSockets: [number, number][] = []
  try {
    await gen.start()
    mon.start()
    const before = mon.sample()[2]
    rssVsSockets.push([0, before])
    log(`${t.label}: storm of ${n} sockets (${sockets.filter((s) => s.bad).length} bad tokens), ${workers} workers`)
    const c = await gen.connect((k) => rssVsSockets.push([k, mon.samples.at(-1)?.[2] ?? 0]))
    await Bun.sleep(1000)
    const after = mon.sample()[2]
    rssVsSockets.push([c.connected, after])
    log(`${t.label}: ${c.connected} ready at ${c.ratePerSec}/s (p99 ${c.latency.p99} ms), failed ${c.failed} ${JSON.stringify(c.errors)}, bad refused ${c.badRefused}, bad accepted ${c.badAccepted}, RSS ${mb(after)} MB`)
    const { rooms: _rooms, ...connect } = c
    return {
      target: t.name, label: t.label, nodes: t.procs.length, seedSec: round2(seedSec), connect,
      rss: { beforeConnect: before, afterConnect: after, perSocket: c.connected ? Math.round((after - before) / c.connected) : 0, peak: mon.peakRss() },
      rssVsSockets, rounds: [],
    }
  } finally {
    mon.stop()
    await gen.close()
  }
}

export async function connect(ctx: Ctx): Promise<ScenarioResult> {
  const o = ctx.opts
  const notes: string[] = []
  const { kinds, pg } = await pickTargets(ctx, o.smoke ? ['ours'] : ['ours', 'bare', 'socketio'], notes)
  const db = o.db ?? (pg && !o.smoke ? 'postgres' : 'memory')
  const n = o.sockets ?? (o.smoke ? 300 : 10_000)
  const users = o.users ?? 100
  const badEvery = o.badEvery ?? 20
  const rate = o.connectRate ?? 50_000
  const workers = o.workers ?? 2
  const runs: TargetRun[] = []
  for (const kind of kinds) {
    runs.push(await withTarget({ kind, db, maxMembers: o.maxMembers ?? 100, logDir: ctx.logDir }, (t) => storm(t, n, users, badEvery, rate, workers, ctx.logDir)))
  }
  const checks: Check[] = []
  const comparisons: Comparison[] = []
  const ours = runs.find((r) => r.target === 'ours')
  if (ours) {
    const bad = badEvery > 0 ? Math.floor(n / badEvery) : 0
    checks.push({ name: 'every good token connected', pass: ours.connect.connected === n - bad, detail: `${ours.connect.connected}/${n - bad}, errors ${JSON.stringify(ours.connect.errors)}` })
    checks.push({ name: 'every bad token refused', pass: ours.connect.badRefused === bad && ours.connect.badAccepted === 0, detail: `refused ${ours.connect.badRefused}/${bad}, accepted ${ours.connect.badAccepted}` })
    for (const b of runs) {
      if (b === ours) continue
      comparisons.push(compare('connections accepted/s', '/s', ours.connect.ratePerSec, b.connect.ratePerSec, b.label, 'higher'))
      comparisons.push(compare('connect p99', 'ms', ours.connect.latency.p99, b.connect.latency.p99, b.label, 'lower'))
      comparisons.push(compare('RSS per socket', 'bytes', ours.rss.perSocket, b.rss.perSocket, b.label, 'lower'))
    }
  }
  notes.push(`one socket in ${badEvery} carries a tampered token; accepted/s counts ready sockets and refusals over the storm's span`)
  notes.push('sockets are users\' /v1/ws sockets (socket.io: CONNECT with the token), users shared among sockets')
  return { params: { sockets: n, users, badEvery, connectRate: rate, workers, db, targets: kinds }, runs, comparisons, checks, extra: {}, notes }
}
