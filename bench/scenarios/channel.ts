/**
 * channel: fan-out to one big space channel (default 1,000 members) against a
 * 100-member group room, same server, same senders and rate, same run. A
 * channel's audience is its space's members; both use the one-publish-per-event
 * path, so the cost per delivery should match.
 */
import { compare } from '../report.ts'
import { pool } from '../targets/api.ts'
import { seedRooms, seedUsers, type Seeded } from '../targets/seed.ts'
import { log, runLoad, type LoadParams, type TargetRun } from './common.ts'
import { correctnessChecks, loadParamsOf, pickTargets, withTarget, type Ctx, type ScenarioResult } from './context.ts'

export async function channel(ctx: Ctx): Promise<ScenarioResult> {
  const o = ctx.opts
  const notes: string[] = []
  const { pg } = await pickTargets(ctx, ['ours'], notes)
  const db = o.db ?? (pg && !o.smoke ? 'postgres' : 'memory')
  const big = o.members ?? (o.smoke ? 100 : 1000)
  const small = o.smoke ? 20 : 100
  const base: Omit<LoadParams, 'members' | 'users'> = {
    rooms: 1,
    senders: o.senders ?? (o.smoke ? 5 : 10),
    rates: o.rates ?? [o.smoke ? 2 : 5],
    durationSec: o.duration ?? (o.smoke ? 3 : 20),
    warmupSec: o.warmup ?? (o.smoke ? 1 : 5),
    payload: o.payload ?? 64,
    workers: o.workers ?? 2,
    connectRate: o.connectRate ?? 2000,
    inflight: 0,
    drainSec: o.drain ?? 10,
    stopP99Ms: undefined,
  }
  const runs = await withTarget(
    { kind: 'ours', db, maxMembers: Math.max(100, small), logDir: ctx.logDir, env: { MAX_SPACE_MEMBERS: String(Math.max(1000, big)) } },
    async (t): Promise<TargetRun[]> => {
      log(`${t.label}: seeding a ${small}-member room`)
      const roomUsers = await seedUsers(t, small, 'room')
      const room: Seeded = { users: roomUsers, rooms: await seedRooms(t, roomUsers, 1, small, 'room') }
      const roomRun = await runLoad(t, { ...base, members: small, users: small }, ctx.logDir, room)

      log(`${t.label}: seeding a ${big}-member space`)
      const users = await seedUsers(t, big, 'space')
      const api = t.api()
      const space = await api.createSpace(users[0]!.access, 'bench space')
      await pool(users.slice(1), 8, (u) => api.joinSpace(u.access, space.id))
      const channelSeed: Seeded = { users, rooms: [{ id: space.general_channel_id, members: users.map((_, i) => i) }] }
      const channelRun = await runLoad(t, { ...base, members: big, users: big }, ctx.logDir, channelSeed)
      return [
        { ...roomRun, target: 'room', label: `ours: ${small}-member room` },
        { ...channelRun, target: 'channel', label: `ours: ${big}-member channel` },
      ]
    },
  )
  const [roomRun, channelRun] = runs as [TargetRun, TargetRun]
  const r = roomRun.rounds[0]
  const c = channelRun.rounds[0]
  const comparisons = r && c
    ? [
        compare('deliveries/s', '/s', c.deliveriesPerSec, r.deliveriesPerSec, roomRun.label, 'higher'),
        compare('p99 latency', 'ms', c.latency.p99, r.latency.p99, roomRun.label, 'lower'),
        compare('server CPU per 1,000 deliveries', 'ms', cpuPerK(c), cpuPerK(r), roomRun.label, 'lower'),
      ]
    : []
  notes.push(`our server's database: ${db}; one socket per member (/v1/ws); ${base.senders} senders at ${base.rates.join(',')} msg/s each in both`)
  return {
    params: { ...loadParamsOf({ ...base, members: big, users: big }), smallRoom: small, db },
    runs,
    comparisons,
    checks: runs.flatMap(correctnessChecks),
    extra: {},
    notes,
  }
}

/** Server CPU milliseconds per 1,000 deliveries in a round (CPU % of a core over deliveries/s). */
function cpuPerK(r: TargetRun['rounds'][number]): number {
  return r.deliveriesPerSec > 0 ? Math.round((r.serverCpuPct * 10_000 * 100) / r.deliveriesPerSec) / 100 : 0
}
