/**
 * room-limit: rooms pre-filled to `prefill` members, then `joiners`
 * non-members join all at once: exactly the free places must be taken, the
 * rest refused with 422 room_full; a member's join when full still answers
 * 200. Then every member connects and the full room carries messages with
 * no loss. Joins/s is compared with the baselines.
 */
import { wallMs } from '../lib/procs.ts'
import { compare, type Check, type Comparison } from '../report.ts'
import { pool } from '../targets/api.ts'
import { seedUsers, type Seeded } from '../targets/seed.ts'
import type { Target } from '../targets/targets.ts'
import { log, round2, runLoad, type LoadParams, type TargetRun } from './common.ts'
import { correctnessChecks, pickTargets, withTarget, type Ctx, type ScenarioResult } from './context.ts'

type LimitFigures = {
  target: string
  label: string
  rooms: number
  maxMembers: number
  prefill: number
  joiners: number
  free: number
  admitted: number[]
  refused: Record<string, number>
  memberCounts: number[]
  listedMembers: number[]
  rejoinWhenFull: number
  outsiderWhenFull: string
  joinsPerSec: number
  joinP99Ms: number
}

async function limitRun(t: Target, rooms: number, max: number, prefill: number, joiners: number): Promise<{ fig: LimitFigures; seeded: Seeded }> {
  const api = t.api()
  log(`${t.label}: seeding ${prefill + joiners + 1} users`)
  const users = await seedUsers(t, prefill + joiners + 1, `${t.name}-limit`)
  const pre = users.slice(0, prefill)
  const join = users.slice(prefill, prefill + joiners)
  const outsider = users[prefill + joiners]!
  const owner = pre[0]!
  const roomIds: number[] = []
  for (let r = 0; r < rooms; r++) {
    const room = await api.createRoom(owner.access, `limit-${r}`)
    if (pre.length > 1) await api.addMembers(owner.access, room.id, pre.slice(1).map((u) => u.id))
    roomIds.push(room.id)
  }
  log(`${t.label}: ${rooms} room(s) at ${prefill}/${max}; ${joiners} joiners each, all at once`)
  const jobs = roomIds.flatMap((id) => join.map((u) => ({ id, u })))
  const lat: number[] = []
  const t0 = wallMs()
  const results = await Promise.all(jobs.map(async ({ id, u }) => {
    const s = wallMs()
    const r = await api.join(u.access, id)
    lat.push(wallMs() - s)
    return { id, u, ...r }
  }))
  const elapsed = (wallMs() - t0) / 1000
  const refused: Record<string, number> = {}
  const admitted = roomIds.map(() => 0)
  const membersOf = new Map<number, number[]>(roomIds.map((id) => [id, pre.map((_, i) => i)]))
  for (const r of results) {
    if (r.status === 200) {
      admitted[roomIds.indexOf(r.id)]! += 1
      membersOf.get(r.id)!.push(users.indexOf(r.u))
    } else {
      const k = `${r.status} ${r.code}`
      refused[k] = (refused[k] ?? 0) + 1
    }
  }
  const memberCounts = await pool(roomIds, 8, async (id) => (await api.room(owner.access, id)).member_count)
  const listedMembers = await pool(roomIds, 8, (id) => api.memberCount(owner.access, id))
  const rejoin = await api.join(owner.access, roomIds[0]!)
  const out = await api.join(outsider.access, roomIds[0]!)
  lat.sort((a, b) => a - b)
  const fig: LimitFigures = {
    target: t.name, label: t.label, rooms, maxMembers: max, prefill, joiners, free: max - prefill, admitted, refused,
    memberCounts, listedMembers, rejoinWhenFull: rejoin.status, outsiderWhenFull: `${out.status} ${out.code}`,
    joinsPerSec: Math.round(jobs.length / elapsed), joinP99Ms: round2(lat[Math.min(lat.length - 1, Math.floor(lat.length * 0.99))] ?? 0),
  }
  return { fig, seeded: { users, rooms: roomIds.map((id) => ({ id, members: membersOf.get(id)! })) } }
}

function limitChecks(f: LimitFigures): Check[] {
  const exact = f.admitted.every((a) => a === f.free)
  return [
    { name: `${f.label}: exactly the free places taken`, pass: exact, detail: `free ${f.free} per room, admitted ${JSON.stringify(f.admitted)}` },
    { name: `${f.label}: the others refused with 422 room_full`, pass: Object.keys(f.refused).every((k) => k === '422 room_full') && (f.refused['422 room_full'] ?? 0) === f.rooms * f.joiners - f.admitted.reduce((a, b) => a + b, 0), detail: JSON.stringify(f.refused) },
    { name: `${f.label}: member_count = limit`, pass: f.memberCounts.every((c) => c === f.maxMembers), detail: JSON.stringify(f.memberCounts) },
    { name: `${f.label}: member list = limit`, pass: f.listedMembers.every((c) => c === f.maxMembers), detail: JSON.stringify(f.listedMembers) },
    { name: `${f.label}: a member joining a full room gets 200`, pass: f.rejoinWhenFull === 200, detail: String(f.rejoinWhenFull) },
    { name: `${f.label}: an outsider joining a full room gets 422 room_full`, pass: f.outsiderWhenFull === '422 room_full', detail: f.outsiderWhenFull },
  ]
}

export async function roomLimit(ctx: Ctx): Promise<ScenarioResult> {
  const o = ctx.opts
  const notes: string[] = []
  const { kinds, pg } = await pickTargets(ctx, o.smoke ? ['ours'] : ['ours', 'bare', 'socketio'], notes)
  const db = o.db ?? (pg && !o.smoke ? 'postgres' : 'memory')
  const max = o.maxMembers ?? 100
  const prefill = Math.max(1, Math.min(max, o.prefill ?? 60))
  const joiners = o.joiners ?? (o.smoke ? 60 : 200)
  const rooms = o.rooms ?? (o.smoke ? 1 : 5)
  const fan: LoadParams = {
    rooms, members: max, senders: Math.min(max, o.senders ?? 5), rates: o.rates ?? [5], durationSec: o.duration ?? (o.smoke ? 2 : 5),
    warmupSec: o.warmup ?? 1, payload: o.payload ?? 64, workers: o.workers ?? 2, connectRate: o.connectRate ?? 1000,
    users: 0, inflight: 0, drainSec: o.drain ?? 10,
  }
  const figs: LimitFigures[] = []
  const runs: TargetRun[] = []
  const checks: Check[] = []
  for (const kind of kinds) {
    await withTarget({ kind, db, maxMembers: max, logDir: ctx.logDir }, async (t) => {
      const { fig, seeded } = await limitRun(t, rooms, max, prefill, joiners)
      figs.push(fig)
      log(`${t.label}: admitted ${JSON.stringify(fig.admitted)} of ${fig.free} free, refused ${JSON.stringify(fig.refused)}, ${fig.joinsPerSec} joins/s`)
      // the full rooms carry messages: every member connected, no loss
      const run = await runLoad(t, { ...fan, users: seeded.users.length }, ctx.logDir, seeded)
      runs.push(run)
      if (kind === 'ours') checks.push(...limitChecks(fig), ...correctnessChecks(run))
    })
  }
  const comparisons: Comparison[] = []
  const ours = figs.find((f) => f.target === 'ours')
  for (const b of figs) {
    if (!ours || b === ours) continue
    comparisons.push(compare('joins/s under contention', '/s', ours.joinsPerSec, b.joinsPerSec, b.label, 'higher'))
    comparisons.push(compare('join p99', 'ms', ours.joinP99Ms, b.joinP99Ms, b.label, 'lower'))
  }
  return {
    params: { rooms, maxMembers: max, prefill, joiners, db, targets: kinds, fanout: fan },
    runs, comparisons, checks,
    extra: {
      limit: figs,
      tables: [{
        title: 'Concurrent joins',
        head: ['target', 'rooms', 'free per room', 'joiners per room', 'admitted', 'refused', 'member_count', 'joins/s', 'join p99 ms'],
        rows: figs.map((f) => [f.label, f.rooms, f.free, f.joiners, JSON.stringify(f.admitted), JSON.stringify(f.refused), JSON.stringify(f.memberCounts), f.joinsPerSec, f.joinP99Ms]),
      }],
    },
    notes,
  }
}
