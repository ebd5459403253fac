/**
 * connect: a connection storm. N sockets as fast as the generator can open
 * them, each token checked by the server; one in `badEvery` carries a
 * tampered token and must be refused. Accepted/s against the baselines.
 */
import { LoadGenerator } from '../generator/coordinator.ts'
import type { SocketSpec } from '../generator/types.ts'
import { compare, type Check, type Comparison } from '../report.ts'
import { seedRooms, seedUsers } from '../targets/seed.ts'
import { isOurs, OTHER_TRANSPORT_KIND, type Target, type TargetKind } from '../targets/targets.ts'
import { cpuPerK, gateReport, transportGate } from '../targets/transport-gate.ts'
import { Monitor, log, mb, round2, type TargetRun } from './common.ts'
import { pickTargets, withTarget, type Ctx, type ScenarioResult } from './context.ts'

/** Flips the last characters of a token: same shape, wrong signature (or an unknown user for the bare baseline). */
function tamper(token: string): string {
  if (/^u\d+$/.test(token)) return 'u999999999'
  const tail = token.slice(-4)
  return token.slice(0, -4) + [...tail].map((c) => (c === 'A' ? 'B' : 'A')).join('')
}

/** A storm's run, and the server's CPU seconds over the storm (upgrades, token checks, session starts). */
type StormRun = TargetRun & {
  stormCpuSec: number
  /** frames per socket accepted, by type, received from the first connect until they stopped coming (presence above all) */
  framesPerSocket: Record<string, number>
}

/** Waits until the generator's frame counts stop growing for `quietMs` (at most `maxMs`); returns the last counts. */
async function settledCounts(gen: LoadGenerator, quietMs = 1000, maxMs = 15_000): Promise<Record<string, number>> {
  const total = (f: Record<string, number>) => Object.values(f).reduce((a, b) => a + b, 0)
  const deadline = Date.now() + maxMs
  let last = (await gen.counts()).frames
  let since = Date.now()
  while (Date.now() < deadline) {
    await Bun.sleep(250)
    const now = (await gen.counts()).frames
    if (total(now) !== total(last)) {
      last = now
      since = Date.now()
    } else if (Date.now() - since >= quietMs) break
  }
  return last
}

async function storm(t: Target, n: number, users: number, rooms: number, members: number, badEvery: number, rate: number, workers: number, logDir: string): Promise<StormRun> {
  const t0 = performance.now()
  const pool = await seedUsers(t, users, `${t.name}-conn`)
  // users in rooms: each user's first socket is announced (presence) to the sockets of its rooms' members
  if (rooms > 0) await seedRooms(t, pool, rooms, Math.min(members, pool.length), `${t.name}-conn`)
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
    // CPU from before the storm to after the settle second: the session starts (a few reads each) end in it
    const [, cpuAfter, after] = mon.sample()
    const stormCpuSec = round2(cpuAfter - mon.samples[0]![1])
    rssVsSockets.push([c.connected, after])
    const frames = await settledCounts(gen)
    const framesPerSocket = Object.fromEntries(Object.entries(frames).map(([k, v]) => [k, round2(v / Math.max(1, c.connected))]))
    log(`${t.label}: frames per socket ${JSON.stringify(framesPerSocket)}`)
    log(`${t.label}: ${c.connected} ready at ${c.ratePerSec}/s (p99 ${c.latency.p99} ms), failed ${c.failed} ${JSON.stringify(c.errors)}, bad refused ${c.badRefused}, bad accepted ${c.badAccepted}, RSS ${mb(after)} MB`)
    const { rooms: _rooms, ...connect } = c
    return {
      target: t.name, label: t.label, nodes: t.procs.length, seedSec: round2(seedSec), connect,
      rss: { beforeConnect: before, afterConnect: after, perSocket: c.connected ? Math.round((after - before) / c.connected) : 0, peak: mon.peakRss() },
      rssVsSockets, rounds: [], stormCpuSec, framesPerSocket,
    }
  } finally {
    mon.stop()
    await gen.close()
  }
}

export async function connect(ctx: Ctx): Promise<ScenarioResult> {
  const o = ctx.opts
  const notes: string[] = []
  // our server on its other WebSocket transport too: the transport gate compares the two in this run
  const { kinds, pg } = await pickTargets(ctx, o.smoke ? ['ours'] : ['ours', OTHER_TRANSPORT_KIND, 'bare', 'socketio'], notes)
  const db = o.db ?? (pg && !o.smoke ? 'postgres' : 'memory')
  const n = o.sockets ?? (o.smoke ? 300 : 10_000)
  const users = o.users ?? 100
  const rooms = o.rooms ?? (o.smoke ? 2 : 10)
  const members = o.members ?? 100
  const badEvery = o.badEvery ?? 20
  const rate = o.connectRate ?? 50_000
  const workers = o.workers ?? 2
  const runs: StormRun[] = []
  for (const kind of kinds) {
    runs.push(await withTarget({ kind, db, maxMembers: o.maxMembers ?? 100, logDir: ctx.logDir }, (t) => storm(t, n, users, rooms, members, badEvery, rate, workers, ctx.logDir)))
  }
  const checks: Check[] = []
  const comparisons: Comparison[] = []
  const bad = badEvery > 0 ? Math.floor(n / badEvery) : 0
  for (const r of runs.filter((x) => isOurs(x.target as TargetKind))) {
    const who = r.target === 'ours' ? '' : `${r.label}: `
    checks.push({ name: `${who}every good token connected`, pass: r.connect.connected === n - bad, detail: `${r.connect.connected}/${n - bad}, errors ${JSON.stringify(r.connect.errors)}` })
    checks.push({ name: `${who}every bad token refused`, pass: r.connect.badRefused === bad && r.connect.badAccepted === 0, detail: `refused ${r.connect.badRefused}/${bad}, accepted ${r.connect.badAccepted}` })
  }
  const ours = runs.find((r) => r.target === 'ours')
  if (ours) {
    for (const b of runs) {
      if (b === ours) continue
      comparisons.push(compare('connections accepted/s', '/s', ours.connect.ratePerSec, b.connect.ratePerSec, b.label, 'higher'))
      comparisons.push(compare('connect p99', 'ms', ours.connect.latency.p99, b.connect.latency.p99, b.label, 'lower'))
      comparisons.push(compare('RSS per socket', 'bytes', ours.rss.perSocket, b.rss.perSocket, b.label, 'lower'))
    }
  }
  const gate = transportGate(runs.map((r) => ({
    target: r.target, label: r.label,
    figures: {
      rssPerSocket: r.rss.perSocket, connectsPerSec: r.connect.ratePerSec,
      cpuPerConnect: cpuPerK(r.stormCpuSec, r.connect.connected + r.connect.badRefused),
    },
  })))
  if (gate) {
    const g = gateReport(gate)
    comparisons.push(...g.comparisons)
    notes.push(g.note)
  }
  notes.push(`one socket in ${badEvery} carries a tampered token; accepted/s counts ready sockets and refusals over the storm's span`)
  notes.push('server CPU per connect: CPU seconds from before the storm to a second after it, over sockets accepted and refused')
  for (const r of runs) notes.push(`${r.label}: ${r.framesPerSocket.presence ?? 0} presence frames per socket over the storm (target ≤ 2 for ours at 10,000 sockets)`)
  notes.push(`sockets are users' /v1/ws sockets (socket.io: CONNECT with the token), ${users} users shared among sockets, in ${rooms} rooms of ${Math.min(members, users)} members (--rooms, --members)`)
  return {
    params: { sockets: n, users, rooms, members: Math.min(members, users), badEvery, connectRate: rate, workers, db, targets: kinds }, runs, comparisons, checks,
    extra: {
      serverCpuSecPerStorm: Object.fromEntries(runs.map((r) => [r.target, r.stormCpuSec])),
      framesPerSocket: Object.fromEntries(runs.map((r) => [r.target, r.framesPerSocket])),
      presencePerSocket: Object.fromEntries(runs.map((r) => [r.target, r.framesPerSocket.presence ?? 0])),
      ...(gate ? { transportGate: gate } : {}),
    },
    notes,
  }
}
