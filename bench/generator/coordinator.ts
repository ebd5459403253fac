/**
 * The load generator's coordinator: forks worker processes (one process
 * saturates long before the server does), hands each a share of the
 * sockets, runs connect and send rounds on a common clock, and merges what
 * the workers measured.
 */
import { join } from 'node:path'
import { Histogram, type LatencySummary, round3 } from '../lib/hist.ts'
import { sampleProcs, spawnManaged, wallMs, type Managed } from '../lib/procs.ts'
import type {
  ConnectReport, CoordinatorMessage, Protocol, RoundReport, RoundStatus, SocketSpec, WorkerMessage,
} from './types.ts'

export type GeneratorOptions = {
  protocol: Protocol
  sockets: SocketSpec[]
  workers: number
  /** sockets per second over all workers */
  connectRate: number
  connectConcurrency?: number
  connectTimeoutMs?: number
  logDir: string
  /** hard bound on a worker's life */
  maxLifetimeMs: number
  /**
   * Loopback source addresses the sockets connect from (127.0.0.2, 127.0.0.3, …), each with its own
   * ~28k ephemeral ports; default 4. 0: the kernel picks (127.0.0.1).
   */
  sourceAddresses?: number
}

/** BENCH_SRC_ADDRS=n: how many source addresses by default (0: the kernel's choice, for a system without 127.0.0.0/8 on lo). */
const DEFAULT_SOURCE_ADDRESSES = process.env.BENCH_SRC_ADDRS === undefined ? 4 : Math.max(0, Math.floor(Number(process.env.BENCH_SRC_ADDRS) || 0))

/** `count` loopback source addresses from 127.0.0.2 on. */
export function sourceAddresses(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `127.0.${Math.floor((i + 2) / 256)}.${(i + 2) % 256}`)
}

export type ConnectResult = {
  requested: number
  connected: number
  failed: number
  errors: Record<string, number>
  badRefused: number
  badAccepted: number
  /** sockets ready per second, from the first attempt to the last ready */
  ratePerSec: number
  durationSec: number
  latency: LatencySummary
  /** room id → sockets ready */
  rooms: Map<number, number>
}

export type RoundOptions = {
  warmupMs: number
  durationMs: number
  rate: number
  inflight?: number
  payload: number
  /** after the send window: wait for acks and a quiet spell, at most this long */
  drainMs: number
  quietMs?: number
  /** called about every 250 ms while the round runs */
  onTick?: (s: { elapsedMs: number; sent: number; deliveries: number; pendingAcks: number }) => void
}

export type RoundResult = {
  sent: number
  acked: number
  sendErrors: Record<string, number>
  unacked: number
  /** acked messages × sockets of their room open at the start of the round */
  expected: number
  deliveries: number
  unique: number
  lost: number
  dups: number
  outOfOrder: number
  stale: number
  windowDeliveries: number
  deliveriesPerSec: number
  /** messages sent inside the window and acked, per second of the window */
  ackedPerSec: number
  latency: LatencySummary
  ack: LatencySummary
  latHist: Histogram
  timeline: { sec: number[]; deliveries: number[]; sent: number[]; p99: number[] }
  maxSendLagMs: number
  closed: Record<string, number>
  /** frames received over the round by type (message.created includes stale ones) */
  frames: Record<string, number>
  /** mean size of a message.created frame's payload, bytes (0: none read by the byte scan) */
  createdFrameBytes: number
  /** generator CPU seconds (all workers) during the round */
  generatorCpuSec: number
  /** wall ms of the window */
  windowStart: number
  windowEnd: number
}

type Waiter = { pred: (m: WorkerMessage) => boolean; resolve: (m: WorkerMessage) => void }

export class LoadGenerator {
  private workers: Managed[] = []
  private waiters: Waiter[] = []
  private statuses = new Map<number, RoundStatus>()
  private progress = new Map<number, { connected: number; failed: number }>()
  private roundNo = 0
  private fatal: string | null = null

  constructor(readonly opts: GeneratorOptions) {}

  pids(): number[] {
    return this.workers.map((w) => w.pid)
  }

  private onMessage(m: WorkerMessage): void {
    if (m.kind === 'status') this.statuses.set(m.workerId, m)
    else if (m.kind === 'progress') this.progress.set(m.workerId, { connected: m.connected, failed: m.failed })
    else if (m.kind === 'fatal') {
      this.fatal = `worker ${m.workerId}: ${m.error}`
      console.error(`bench: ${this.fatal}`)
    }
    for (const w of [...this.waiters]) {
      if (w.pred(m)) {
        this.waiters.splice(this.waiters.indexOf(w), 1)
        w.resolve(m)
      }
    }
  }

  /** Waits for one message from each worker matching `kind`, within `timeoutMs`. */
  private collect<K extends WorkerMessage['kind']>(kind: K, timeoutMs: number, extra?: (m: WorkerMessage) => boolean): Promise<Extract<WorkerMessage, { kind: K }>[]> {
    const all = this.workers.map((_, id) =>
      new Promise<WorkerMessage>((resolve) => this.waiters.push({
        pred: (m) => m.kind === kind && 'workerId' in m && m.workerId === id && (!extra || extra(m)),
        resolve,
      })))
    return Promise.race([
      Promise.all(all) as Promise<Extract<WorkerMessage, { kind: K }>[]>,
      Bun.sleep(timeoutMs).then(() => {
        throw new Error(`workers did not answer '${kind}' within ${timeoutMs} ms${this.fatal ? ` (${this.fatal})` : ''}`)
      }),
    ])
  }

  private tell(i: number, m: CoordinatorMessage): void {
    this.workers[i]!.proc.send(m)
  }

  private broadcast(m: CoordinatorMessage): void {
    for (let i = 0; i < this.workers.length; i++) this.tell(i, m)
  }

  /** Forks the workers and hands each its share of the sockets (round-robin, so a room spreads over them). */
  async start(): Promise<void> {
    const n = Math.max(1, Math.min(this.opts.workers, this.opts.sockets.length || 1))
    const shares: SocketSpec[][] = Array.from({ length: n }, () => [])
    this.opts.sockets.forEach((s, i) => shares[i % n]!.push(s))
    for (let i = 0; i < n; i++) {
      this.workers.push(spawnManaged({
        name: `worker-${i}`,
        // BENCH_GEN_PROF=dir: a CPU profile of each worker, written when it exits
        cmd: process.env.BENCH_GEN_PROF
          ? ['bun', '--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_GEN_PROF}`, join(import.meta.dir, 'worker.ts')]
          : ['bun', join(import.meta.dir, 'worker.ts')],
        logFile: join(this.opts.logDir, `worker-${i}.log`),
        ipc: (m) => this.onMessage(m as WorkerMessage),
      }))
    }
    const hello = this.collect('hello', 20_000)
    shares.forEach((sockets, i) => this.tell(i, {
      kind: 'init', workerId: i, protocol: this.opts.protocol, sockets,
      connectRate: this.opts.connectRate / n,
      connectConcurrency: Math.max(16, Math.floor((this.opts.connectConcurrency ?? 2000) / n)),
      connectTimeoutMs: this.opts.connectTimeoutMs ?? 15_000,
      maxLifetimeMs: this.opts.maxLifetimeMs,
      sourceAddresses: sourceAddresses(this.opts.sourceAddresses ?? DEFAULT_SOURCE_ADDRESSES),
    }))
    await hello
  }

  /** Total sockets ready so far (from the workers' progress reports). */
  connectedSoFar(): number {
    let n = 0
    for (const p of this.progress.values()) n += p.connected
    return n
  }

  async connect(onTick?: (connected: number) => void): Promise<ConnectResult> {
    const total = this.opts.sockets.length
    const bound = Math.ceil((total / this.opts.connectRate) * 1000) + (this.opts.connectTimeoutMs ?? 15_000) + 30_000
    const done = this.collect('connected', bound)
    this.broadcast({ kind: 'connect' })
    const ticker = onTick ? setInterval(() => onTick(this.connectedSoFar()), 250) : null
    let reports: ConnectReport[]
    try {
      reports = await done
    } finally {
      if (ticker) clearInterval(ticker)
    }
    const hist = new Histogram()
    const errors: Record<string, number> = {}
    const rooms = new Map<number, number>()
    let connected = 0, failed = 0, badRefused = 0, badAccepted = 0
    let startedAt = Infinity, endedAt = 0
    for (const r of reports) {
      connected += r.connected
      failed += r.failed
      badRefused += r.badRefused
      badAccepted += r.badAccepted
      hist.merge(r.connectHist)
      for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v
      for (const [id, n] of r.rooms) rooms.set(id, (rooms.get(id) ?? 0) + n)
      startedAt = Math.min(startedAt, r.startedAt)
      endedAt = Math.max(endedAt, r.endedAt)
    }
    const durationSec = Math.max(0.001, (endedAt - startedAt) / 1000)
    return {
      requested: total, connected, failed, errors, badRefused, badAccepted,
      ratePerSec: Math.round((connected + badRefused) / durationSec), durationSec: round3(durationSec),
      latency: hist.summary(), rooms,
    }
  }

  /** Frames received so far by type (all workers, since they started), and sockets open now. */
  async counts(): Promise<{ frames: Record<string, number>; open: number }> {
    const p = this.collect('counts', 10_000)
    this.broadcast({ kind: 'counts' })
    const frames: Record<string, number> = {}
    let open = 0
    for (const r of await p) {
      open += r.open
      for (const [k, v] of Object.entries(r.frames)) frames[k] = (frames[k] ?? 0) + v
    }
    return { frames, open }
  }

  /** One send round on every worker, then a drain, then the merged figures. */
  async round(o: RoundOptions): Promise<RoundResult> {
    const round = ++this.roundNo
    const t0 = wallMs() + 300
    const windowStart = t0 + o.warmupMs
    const windowEnd = windowStart + o.durationMs
    this.statuses.clear()
    const cpu0 = sampleProcs(this.pids()).cpuSec
    this.broadcast({
      kind: 'round', round, t0, warmupMs: o.warmupMs, durationMs: o.durationMs, rate: o.rate,
      inflight: o.inflight ?? 0, payload: o.payload,
    })
    const quiet = o.quietMs ?? 1000
    // bounded: the send window, then at most drainMs
    while (true) {
      await Bun.sleep(250)
      const now = wallMs()
      let sent = 0, deliveries = 0, pending = 0, last = 0
      for (const s of this.statuses.values()) {
        if (s.round !== round) continue
        sent += s.sent
        deliveries += s.deliveries
        pending += s.pendingAcks
        last = Math.max(last, s.lastDeliveryAt)
      }
      o.onTick?.({ elapsedMs: now - t0, sent, deliveries, pendingAcks: pending })
      if (this.fatal) throw new Error(this.fatal)
      if (now < windowEnd + 250) continue
      if (pending === 0 && now - Math.max(last, windowEnd) >= quiet) break
      if (now >= windowEnd + o.drainMs) break
    }
    const reportsP = this.collect('round', 30_000, (m) => m.kind === 'round' && m.round === round)
    this.broadcast({ kind: 'report', round })
    const reports = await reportsP
    const cpu1 = sampleProcs(this.pids()).cpuSec
    return merge(reports, o, windowStart, windowEnd, cpu1 - cpu0)
  }

  /** Closes every socket and ends the workers (killed if they do not go within a few seconds). */
  async close(): Promise<void> {
    if (!this.workers.length) return
    try {
      const closed = this.collect('closed', 8_000)
      this.broadcast({ kind: 'close' })
      await closed
    } catch {
      // they are killed below
    }
    await Promise.all(this.workers.map((w) => w.stop(3000)))
    this.workers = []
  }
}

function merge(reports: RoundReport[], o: RoundOptions, windowStart: number, windowEnd: number, cpu: number): RoundResult {
  const lat = new Histogram()
  const ack = new Histogram()
  const sendErrors: Record<string, number> = {}
  const closed: Record<string, number> = {}
  const frames: Record<string, number> = {}
  const roomAcked = new Map<number, number>()
  const roomRecv = new Map<number, [number, number]>()
  const tl = { deliveries: [] as number[], sent: [] as number[], lat: [] as Histogram[] }
  const add = (arr: number[], i: number, v: number) => {
    while (arr.length <= i) arr.push(0)
    arr[i]! += v
  }
  let createdBytes = 0
  let sent = 0, acked = 0, unacked = 0, deliveries = 0, dups = 0, ooo = 0, stale = 0, win = 0, lag = 0
  for (const r of reports) {
    sent += r.sent
    acked += r.acked
    unacked += r.unacked
    deliveries += r.deliveries
    dups += r.dups
    ooo += r.outOfOrder
    stale += r.stale
    win += r.windowDeliveries
    lag = Math.max(lag, r.maxSendLagMs)
    lat.merge(r.latHist)
    ack.merge(r.ackHist)
    for (const [k, v] of Object.entries(r.sendErrors)) sendErrors[k] = (sendErrors[k] ?? 0) + v
    for (const [code, n] of r.closed) closed[code] = (closed[code] ?? 0) + n
    for (const [k, v] of Object.entries(r.frames)) frames[k] = (frames[k] ?? 0) + v
    createdBytes += r.createdBytes
    createdBytes += r.createdBytes
    for (const [id, n] of r.roomAcked) roomAcked.set(id, (roomAcked.get(id) ?? 0) + n)
    for (const [id, socks, uniq] of r.roomReceived) {
      const cur = roomRecv.get(id) ?? [0, 0]
      cur[0] += socks
      cur[1] += uniq
      roomRecv.set(id, cur)
    }
    r.timeline.deliveries.forEach((v, i) => add(tl.deliveries, i, v))
    r.timeline.sent.forEach((v, i) => add(tl.sent, i, v))
    r.timeline.lat.forEach((h, i) => {
      while (tl.lat.length <= i) tl.lat.push(new Histogram())
      tl.lat[i]!.merge(h)
    })
  }
  let expected = 0, unique = 0, lost = 0
  for (const [id, [socks, uniq]] of roomRecv) {
    const exp = (roomAcked.get(id) ?? 0) * socks
    expected += exp
    unique += uniq
    lost += Math.max(0, exp - uniq)
  }
  const secs = Math.max(tl.deliveries.length, tl.sent.length)
  return {
    sent, acked, sendErrors, unacked, expected, deliveries, unique, lost, dups, outOfOrder: ooo, stale,
    windowDeliveries: win,
    deliveriesPerSec: Math.round(win / (o.durationMs / 1000)),
    ackedPerSec: Math.round(ack.count / (o.durationMs / 1000)),
    latency: lat.summary(),
    ack: ack.summary(),
    latHist: lat,
    timeline: {
      sec: Array.from({ length: secs }, (_, i) => i - o.warmupMs / 1000),
      deliveries: Array.from({ length: secs }, (_, i) => tl.deliveries[i] ?? 0),
      sent: Array.from({ length: secs }, (_, i) => tl.sent[i] ?? 0),
      p99: Array.from({ length: secs }, (_, i) => round3(tl.lat[i]?.quantile(0.99) ?? 0)),
    },
    maxSendLagMs: round3(lag),
    closed,
    frames,
    createdFrameBytes: frames['message.created'] ? Math.round(createdBytes / frames['message.created']) : 0,
    generatorCpuSec: round3(cpu),
    windowStart,
    windowEnd,
  }
}
