/**
 * sdk: the client SDK (client/) as the load generator. R rooms × M users, one
 * `ChatSocket` per user (its `/v1/ws`), S senders per room sending through
 * `ChatSocket.send` (client_msg_id, acked = committed) at r msg/s each; every
 * socket counts `message.created` per room by seq. Then the same workload with
 * the bench's own raw-protocol generator against the same server, in the same
 * run: the ratio is what the SDK adds on the client side (CPU per delivery,
 * latency), and both must deliver everything exactly once, in order.
 *
 * The SDK runs in this process (as an app would), so its CPU is this
 * process's CPU over the window; the raw generator's is its workers'.
 */
import { ChatSocket } from '../../client/src/index.ts'
import { Histogram } from '../lib/hist.ts'
import { sampleProcs, wallMs } from '../lib/procs.ts'
import { compare, type Check } from '../report.ts'
import { seedRooms, seedUsers, type Seeded } from '../targets/seed.ts'
import type { Target } from '../targets/targets.ts'
import { log, round2, runLoad, type LoadParams } from './common.ts'
import { correctnessChecks, loadParamsOf, pickTargets, withTarget, type Ctx, type ScenarioResult } from './context.ts'

export type SdkRound = {
  sockets: number
  connectSec: number
  sent: number
  acked: number
  sendErrors: Record<string, number>
  expected: number
  unique: number
  lost: number
  dups: number
  outOfOrder: number
  deliveriesPerSec: number
  latency: ReturnType<Histogram['summary']>
  ack: ReturnType<Histogram['summary']>
  /** this process (the SDK clients) over the window, % of one core */
  clientCpuPct: number
  /** client CPU per delivery, µs */
  clientUsPerDelivery: number
  serverCpuPct: number
}

/** Every user's socket through the SDK; a bounded send window; counts per socket and room. */
async function sdkRun(t: Target, seeded: Seeded, p: LoadParams): Promise<SdkRound> {
  const base = t.api().base
  const started = wallMs()
  const sockets = seeded.users.map((u) => new ChatSocket({ urls: [base], token: () => u.access, backoffMs: { initial: 200, max: 2000 } }))
  // per socket: room → last seq seen, and message ids seen (duplicates)
  const lastSeq = sockets.map(() => new Map<number, number>())
  const seen = sockets.map(() => new Set<number>())
  const lat = new Histogram()
  const ackLat = new Histogram()
  let deliveries = 0
  let dups = 0
  let outOfOrder = 0
  let windowOpen = false
  sockets.forEach((s, i) => {
    s.on('message.created', (f) => {
      const m = f.message
      if (seen[i]!.has(m.id)) dups++
      else seen[i]!.add(m.id)
      const prev = lastSeq[i]!.get(m.room_id) ?? 0
      if (m.seq <= prev) outOfOrder++
      lastSeq[i]!.set(m.room_id, m.seq)
      deliveries++
      const sentAt = Number(m.content.slice(0, m.content.indexOf('|')))
      if (windowOpen && sentAt > 0) lat.record(wallMs() - sentAt)
    })
  })
  const deadline = Date.now() + 60_000
  while (sockets.some((s) => !s.connected) && Date.now() < deadline) await Bun.sleep(20)
  const connected = sockets.filter((s) => s.connected).length
  const connectSec = (wallMs() - started) / 1000
  log(`${t.label} via SDK: ${connected}/${sockets.length} sockets ready in ${round2(connectSec)} s`)
  // subscriptions follow `ready`; a message sent before a room's subscribe lands would be replayed, not lost,
  // but the window should measure live delivery: one probe per room, seen by every member, opens it
  const probes = await Promise.all(seeded.rooms.map((r) => sockets[r.members[0]!]!.send(r.id, `0|probe`)))
  const probeDeadline = Date.now() + 60_000
  while (Date.now() < probeDeadline && !seeded.rooms.every((r, k) => r.members.every((i) => seen[i]!.has(probes[k]!.id)))) await Bun.sleep(20)

  const senders = seeded.rooms.flatMap((r) => r.members.slice(0, p.senders).map((i) => ({ room: r.id, socket: sockets[i]! })))
  const rate = p.rates[0]!
  const sendErrors: Record<string, number> = {}
  let sent = 0
  let acked = 0
  const inFlight: Promise<void>[] = []
  const deliveredBefore = deliveries
  const cpu0 = process.cpuUsage()
  const server0 = sampleProcs(t.pids()).cpuSec
  const w0 = wallMs()
  windowOpen = true
  const windowMs = p.durationSec * 1000
  // each sender sends every 1/rate s, spread over the interval; bounded by the window
  const interval = 1000 / rate
  let n = 0
  while (wallMs() - w0 < windowMs) {
    const tickStart = wallMs()
    for (const s of senders) {
      const at = wallMs()
      sent++
      const content = `${at}|${n}|${'x'.repeat(Math.max(0, p.payload - 20))}`
      inFlight.push(s.socket.send(s.room, content).then(
        () => {
          acked++
          ackLat.record(wallMs() - at)
        },
        (e: unknown) => {
          const code = (e as { code?: string }).code ?? 'error'
          sendErrors[code] = (sendErrors[code] ?? 0) + 1
        },
      ))
    }
    n++
    const spare = interval - (wallMs() - tickStart)
    if (spare > 0) await Bun.sleep(spare)
  }
  const w1 = wallMs()
  const cpu = process.cpuUsage(cpu0)
  const serverCpu = sampleProcs(t.pids()).cpuSec - server0
  windowOpen = false
  // drain: every send answered, then every delivery of what was acked (bounded)
  await Promise.race([Promise.allSettled(inFlight), Bun.sleep(p.drainSec * 1000)])
  const expectedOf = () => acked * seeded.rooms[0]!.members.length + probes.length * seeded.rooms[0]!.members.length
  const drainEnd = Date.now() + p.drainSec * 1000
  while (deliveries - dups < expectedOf() && Date.now() < drainEnd) await Bun.sleep(20)
  const windowSec = (w1 - w0) / 1000
  const windowDeliveries = deliveries - deliveredBefore
  for (const s of sockets) s.close()
  const unique = seen.reduce((a, s) => a + s.size, 0)
  const clientCpuSec = (cpu.user + cpu.system) / 1e6
  return {
    sockets: connected, connectSec: round2(connectSec), sent, acked, sendErrors,
    expected: expectedOf(), unique, lost: Math.max(0, expectedOf() - unique), dups, outOfOrder,
    deliveriesPerSec: Math.round(windowDeliveries / windowSec),
    latency: lat.summary(), ack: ackLat.summary(),
    clientCpuPct: Math.round((clientCpuSec / windowSec) * 100),
    clientUsPerDelivery: windowDeliveries ? round2((clientCpuSec * 1e6) / windowDeliveries) : 0,
    serverCpuPct: Math.round((serverCpu / windowSec) * 100),
  }
}

export async function sdk(ctx: Ctx): Promise<ScenarioResult> {
  const o = ctx.opts
  const notes: string[] = []
  const { pg } = await pickTargets(ctx, ['ours'], notes)
  const db = o.db ?? (pg && !o.smoke ? 'postgres' : 'memory')
  const members = o.members ?? 10
  const rooms = o.rooms ?? (o.smoke ? 4 : 20)
  const p: LoadParams = {
    rooms, members, users: rooms * members,
    senders: o.senders ?? 2,
    rates: [o.rates?.[0] ?? (o.smoke ? 2 : 5)],
    durationSec: o.duration ?? (o.smoke ? 3 : 15),
    warmupSec: o.warmup ?? (o.smoke ? 1 : 3),
    payload: o.payload ?? 64,
    workers: o.workers ?? 1,
    connectRate: o.connectRate ?? 1000,
    inflight: 0,
    drainSec: o.drain ?? 10,
  }
  const checks: Check[] = []
  const result = await withTarget({ kind: 'ours', db, maxMembers: Math.max(100, members), logDir: ctx.logDir }, async (t) => {
    log(`${t.label}: seeding ${p.users} users, ${rooms} rooms × ${members}`)
    const users = await seedUsers(t, p.users, 'sdk')
    const seeded: Seeded = { users, rooms: await seedRooms(t, users, rooms, members, 'sdk') }
    const viaSdk = await sdkRun(t, seeded, p)
    log(`${t.label} via SDK: ${viaSdk.deliveriesPerSec} deliveries/s, p99 ${viaSdk.latency.p99} ms, lost ${viaSdk.lost}, dup ${viaSdk.dups}, ooo ${viaSdk.outOfOrder}, client ${viaSdk.clientUsPerDelivery} µs/delivery`)
    const raw = await runLoad(t, p, ctx.logDir, seeded)
    return { viaSdk, raw }
  })
  const { viaSdk: s, raw } = result
  const r = raw.rounds[0]
  const label = 'raw-protocol generator'
  checks.push({ name: 'SDK: every socket ready', pass: s.sockets === p.users, detail: `${s.sockets}/${p.users}` })
  checks.push({ name: 'SDK: every send acked', pass: s.sent > 0 && s.acked === s.sent, detail: `sent ${s.sent}, acked ${s.acked}, errors ${JSON.stringify(s.sendErrors)}` })
  checks.push({ name: 'SDK: no loss', pass: s.lost === 0, detail: `expected ${s.expected}, delivered ${s.unique}` })
  checks.push({ name: 'SDK: no duplicates', pass: s.dups === 0, detail: `${s.dups}` })
  checks.push({ name: 'SDK: in order', pass: s.outOfOrder === 0, detail: `${s.outOfOrder}` })
  checks.push(...correctnessChecks(raw))
  const comparisons = r
    ? [
        compare('deliveries/s', '/s', s.deliveriesPerSec, r.deliveriesPerSec, label, 'higher'),
        compare('p50 latency', 'ms', s.latency.p50, r.latency.p50, label, 'lower'),
        compare('p99 latency', 'ms', s.latency.p99, r.latency.p99, label, 'lower'),
        compare('client CPU', '% of a core', s.clientCpuPct, r.generatorCpuPct, label, 'lower'),
        compare('server CPU', '% of a core', s.serverCpuPct, r.serverCpuPct, label, 'lower'),
      ]
    : []
  notes.push('SDK clients run in the bench process (one JS thread, as an app would); the raw generator in forked workers.')
  return { params: { ...loadParamsOf(p), db }, runs: [raw], comparisons, checks, extra: { sdk: s }, notes }
}
