/** What every load scenario does to one target: seed, connect, send rounds, measure the server from /proc. */
import { readFileSync } from 'node:fs'
import { LoadGenerator, type ConnectResult, type RoundResult } from '../generator/coordinator.ts'
import type { LatencySummary } from '../lib/hist.ts'
import { sampleProcs, wallMs } from '../lib/procs.ts'
import { seedRooms, seedUsers, workloadSockets, type Seeded } from '../targets/seed.ts'
import type { Target } from '../targets/targets.ts'

export type LoadParams = {
  rooms: number
  members: number
  senders: number
  /** messages per second per sender; one round per rate */
  rates: number[]
  durationSec: number
  warmupSec: number
  payload: number
  workers: number
  connectRate: number
  /** size of the user pool; < rooms·members puts users in several rooms (per-room sockets) */
  users: number
  /** > 0: closed loop with this many messages in flight per sender */
  inflight: number
  drainSec: number
  /** stop the rate steps once p99 passes this (ms) or a message is lost */
  stopP99Ms?: number
  /** a socket not ready within this long counts as failed (default 15 s) */
  connectTimeoutMs?: number
}

export type RoundFigures = Omit<RoundResult, 'latHist' | 'windowStart' | 'windowEnd'> & {
  rate: number
  serverCpuSec: number
  /** server CPU over the window, % of one core */
  serverCpuPct: number
  /** generator (all workers) CPU over the window, % of one core */
  generatorCpuPct: number
  /** generator CPU over the window per delivery received in it, µs (all workers; their sends included) */
  generatorUsPerDelivery: number
  /** of which kernel (system) time, µs per delivery */
  generatorSysUsPerDelivery: number
  /** everything else on the machine over the window (other processes, kernel), % of one core */
  otherCpuPct: number
  /** [s since the window start, MiB] */
  rssTimeline: [number, number][]
  serverRssEnd: number
  latencyCdf: [number, number][]
}

export type TargetRun = {
  target: string
  label: string
  nodes: number
  seedSec: number
  connect: Omit<ConnectResult, 'rooms'> & { latency: LatencySummary }
  rss: { beforeConnect: number; afterConnect: number; perSocket: number; peak: number }
  rssVsSockets: [number, number][]
  rounds: RoundFigures[]
  error?: string
}

/** Busy CPU seconds of the whole machine so far (all cores), from /proc/stat. */
function machineBusySec(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number)
  // user nice system idle iowait irq softirq steal
  const busy = line[0]! + line[1]! + line[2]! + line[5]! + line[6]! + line[7]!
  return busy / 100
}

type Sample = [number, number, number, number, number, number]

/** Samples every 250 ms: [wall ms, server cpu s, server rss bytes, generator cpu s, machine busy cpu s, generator kernel cpu s]. */
export class Monitor {
  readonly samples: Sample[] = []
  private timer: Timer | null = null
  constructor(private readonly pids: () => number[], private readonly genPids: () => number[] = () => []) {}
  start(): void {
    this.sample()
    this.timer = setInterval(() => this.sample(), 250)
  }
  sample(): Sample {
    const s = sampleProcs(this.pids())
    const g = sampleProcs(this.genPids())
    const row: Sample = [wallMs(), s.cpuSec, s.rss, g.cpuSec, machineBusySec(), g.sysSec]
    this.samples.push(row)
    return row
  }
  stop(): void {
    if (this.timer) clearInterval(this.timer)
  }
  /** CPU seconds between two wall times (nearest samples earlier): column 1 server, 3 generator, 4 machine, 5 generator kernel. */
  cpuBetween(a: number, b: number, col: 1 | 3 | 4 | 5 = 1): number {
    const at = (t: number) => {
      let best = this.samples[0]
      for (const s of this.samples) if (s[0] <= t) best = s
      return best?.[col] ?? 0
    }
    return at(b) - at(a)
  }
  /** [seconds since `from`, MiB] of the server's RSS between two wall times, at most `max` points. */
  rssSeries(from: number, to: number, max = 600): [number, number][] {
    const rows = this.samples.filter((s) => s[0] >= from && s[0] <= to)
    const step = Math.max(1, Math.ceil(rows.length / max))
    return rows.filter((_, i) => i % step === 0).map((s) => [round2((s[0] - from) / 1000), round2(s[2] / 1048576)])
  }
  peakRss(): number {
    const hwm = sampleProcs(this.pids()).peakRss
    return Math.max(hwm, ...this.samples.map((s) => s[2]))
  }
}

export function log(msg: string): void {
  console.log(`[${new Date().toISOString().slice(11, 19)}] ${msg}`)
}

/** Seeds the target through its API. */
export async function seed(t: Target, p: Pick<LoadParams, 'rooms' | 'members' | 'users'>, prefix: string): Promise<Seeded> {
  const users = await seedUsers(t, Math.max(p.users, p.members), prefix)
  const rooms = await seedRooms(t, users, p.rooms, p.members, prefix)
  return { users, rooms }
}

/** The whole load run against one (started) target. */
export async function runLoad(t: Target, p: LoadParams, logDir: string, seeded?: Seeded): Promise<TargetRun> {
  const started = wallMs()
  if (!seeded) log(`${t.label}: seeding ${Math.max(p.users, p.members)} users, ${p.rooms} rooms × ${p.members}`)
  const s = seeded ?? (await seed(t, p, t.name))
  const seedSec = (wallMs() - started) / 1000
  const sockets = workloadSockets(t, s, p.senders)
  const gen: LoadGenerator = new LoadGenerator({
    protocol: t.protocol, sockets, workers: p.workers, connectRate: p.connectRate, logDir, connectTimeoutMs: p.connectTimeoutMs,
    maxLifetimeMs: (sockets.length / p.connectRate + p.rates.length * (p.warmupSec + p.durationSec + p.drainSec + 5) + 300) * 1000,
  })
  const mon = new Monitor(() => t.pids(), () => gen.pids())
  const rssVsSockets: [number, number][] = []
  try {
    await gen.start()
    mon.start()
    const before = mon.sample()[2]
    rssVsSockets.push([0, before])
    log(`${t.label}: connecting ${sockets.length} sockets at ${p.connectRate}/s over ${p.workers} workers`)
    const c = await gen.connect((n) => rssVsSockets.push([n, mon.samples.at(-1)?.[2] ?? 0]))
    await Bun.sleep(1000) // let the server settle before the idle figure
    const after = mon.sample()[2]
    rssVsSockets.push([c.connected, after])
    log(`${t.label}: ${c.connected}/${c.requested} ready at ${c.ratePerSec}/s, ${c.failed} failed ${JSON.stringify(c.errors)}; RSS ${mb(after)} MB`)
    const rounds: RoundFigures[] = []
    for (const rate of p.rates) {
      const r = await gen.round({
        warmupMs: p.warmupSec * 1000, durationMs: p.durationSec * 1000, rate, inflight: p.inflight,
        payload: p.payload, drainMs: p.drainSec * 1000,
      })
      const cpu = mon.cpuBetween(r.windowStart, r.windowEnd)
      const genCpu = mon.cpuBetween(r.windowStart, r.windowEnd, 3)
      const boxCpu = mon.cpuBetween(r.windowStart, r.windowEnd, 4)
      const genSys = mon.cpuBetween(r.windowStart, r.windowEnd, 5)
      const { latHist, windowStart, windowEnd, ...rest } = r
      const pct = (x: number) => Math.round((x / ((windowEnd - windowStart) / 1000)) * 100)
      const fig: RoundFigures = {
        ...rest, rate, serverCpuSec: round2(cpu), serverCpuPct: pct(cpu), generatorCpuPct: pct(genCpu),
        generatorUsPerDelivery: r.windowDeliveries ? round2((genCpu * 1e6) / r.windowDeliveries) : 0,
        generatorSysUsPerDelivery: r.windowDeliveries ? round2((genSys * 1e6) / r.windowDeliveries) : 0,
        otherCpuPct: Math.max(0, pct(boxCpu - cpu - genCpu)),
        serverRssEnd: mon.sample()[2], latencyCdf: latHist.cdf(), rssTimeline: mon.rssSeries(windowStart, windowEnd),
      }
      rounds.push(fig)
      log(`${t.label}: rate ${p.inflight ? `closed loop ×${p.inflight}` : `${rate}/s/sender`}: ${fig.deliveriesPerSec} deliveries/s, ${fig.ackedPerSec} acked/s, p99 ${fig.latency.p99} ms, frame ${fig.createdFrameBytes} B, lost ${fig.lost}, dup ${fig.dups}, ooo ${fig.outOfOrder}, errors ${JSON.stringify(fig.sendErrors)}, server CPU ${fig.serverCpuPct}%, generator ${fig.generatorCpuPct}% (${fig.generatorUsPerDelivery} µs/delivery, kernel ${fig.generatorSysUsPerDelivery}), other ${fig.otherCpuPct}%`)
      if (p.stopP99Ms !== undefined && (fig.latency.p99 > p.stopP99Ms || fig.lost > 0)) break
    }
    return {
      target: t.name, label: t.label, nodes: t.procs.length, seedSec: round2(seedSec),
      connect: { ...c, rooms: undefined } as TargetRun['connect'],
      rss: { beforeConnect: before, afterConnect: after, perSocket: c.connected ? Math.round((after - before) / c.connected) : 0, peak: mon.peakRss() },
      rssVsSockets, rounds,
    }
  } finally {
    mon.stop()
    await gen.close()
  }
}

export const mb = (b: number) => (b / 1048576).toFixed(1)
export const round2 = (x: number) => Math.round(x * 100) / 100
