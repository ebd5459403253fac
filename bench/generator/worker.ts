/**
 * One load-generator process: opens its share of the sockets, sends on its
 * share of the senders, and checks every delivery (loss, duplicates, order,
 * latency from the send time carried in the content). Driven over IPC by the
 * coordinator; exits on `close`, when the coordinator goes away, or after
 * its maximum lifetime.
 */
import { Histogram } from '../lib/hist.ts'
import { raiseNoFile, wallMs } from '../lib/procs.ts'
import { RawWs, type RawWsEvents } from './rawws.ts'
import type {
  ConnectReport, CoordinatorMessage, Protocol, RoundReport, RoundSpec, SocketSpec, WorkerInit, WorkerMessage,
} from './types.ts'

raiseNoFile()

const send = (m: WorkerMessage) => process.send?.(m)
const parentPid = process.ppid
let init: WorkerInit | null = null

type Pending = { n: number; ts: number }

/** A socket and everything measured on it. */
class Sock {
  ws: RawWs<Sock> | null = null
  timer: Timer | null = null
  ready = false
  done = false
  createdAt = 0
  /** highest seq seen (chat), for the order check; kept across rounds */
  lastSeq = 0
  /** per sender of the room: bitset of the message numbers seen this round */
  bits: (Uint8Array | undefined)[] = []
  /** per sender: highest message number seen this round (order check without seq) */
  lastN: number[] = []
  unique = 0
  openAtRoundStart = false
  // as a sender
  n = 0
  nextAt = 0
  ackId = 0
  /** chat: keyed by the message number n; sio: by the ack id */
  pending = new Map<number, Pending>()
  constructor(readonly spec: SocketSpec, readonly index: number) {}
}

let sockets: Sock[] = []
let protocol: Protocol = 'chat'

// ---- connect phase -----------------------------------------------------------------------------

const connectErrors: Record<string, number> = {}
let connected = 0
let failed = 0
let badRefused = 0
let badAccepted = 0
const connectHist = new Histogram()
let inFlight = 0
let connectStartedAt = 0
let lastReadyAt = 0
let connectDone: (() => void) | null = null

function fail(s: Sock, reason: string): void {
  if (s.done) return
  s.done = true
  inFlight--
  if (s.spec.bad) {
    badRefused++
  } else {
    failed++
    connectErrors[reason] = (connectErrors[reason] ?? 0) + 1
  }
  try {
    s.ws?.close()
  } catch {
    // not open
  }
  checkConnectDone()
}

function markReady(s: Sock): void {
  if (s.done) return
  s.done = true
  s.ready = true
  inFlight--
  lastReadyAt = wallMs()
  if (s.spec.bad) {
    badAccepted++
    s.ws?.close()
  } else {
    connected++
    connectHist.record(lastReadyAt - s.createdAt)
  }
  checkConnectDone()
}

function checkConnectDone(): void {
  if (connectDone && connected + failed + badRefused + badAccepted === sockets.length) connectDone()
}

/**
 * BENCH_GEN_FLOOR=1, a diagnostic: deliveries are only counted (no loss, order or latency
 * accounting), so a run shows the framing's and the kernel's floor per delivery. Its loss
 * checks fail by design.
 */
const FLOOR = process.env.BENCH_GEN_FLOOR === '1'
/** One object for every socket's events (no closures per socket). */
const EVENTS: RawWsEvents<Sock> = {
  open() {
    // chat: wait for `ready`; sio: wait for Engine.IO open, then CONNECT
  },
  text(s, _ws, buf, start, end) {
    if (FLOOR && buf[start + 9] === 109) {
      const now = wallMs()
      stats.deliveries++
      if (now >= windowStart && now < windowEnd) stats.windowDeliveries++
      return
    }
    if (protocol === 'chat') onChat(s, buf, start, end)
    else onSio(s, buf.toString('utf8', start, end))
  },
  refused(s, _ws, reason) {
    if (s.timer) clearTimeout(s.timer)
    fail(s, reason)
  },
  closed(s, _ws, code) {
    if (s.timer) clearTimeout(s.timer)
    if (!s.ready) fail(s, `closed ${code} before ready`)
    else if (!closing) onClosed(s, code)
    else onClosedAtEnd()
  },
}

function open(s: Sock): void {
  s.createdAt = wallMs()
  inFlight++
  const ws = new RawWs(s, EVENTS)
  s.ws = ws
  s.timer = setTimeout(() => fail(s, 'timeout'), init?.connectTimeoutMs ?? 10_000)
  const src = init?.sourceAddresses ?? []
  ws.connect(s.spec.url, src.length ? src[s.index % src.length] : undefined)
}

async function connectAll(): Promise<void> {
  const cfg = init!
  connectStartedAt = wallMs()
  const finished = new Promise<void>((resolve) => (connectDone = resolve))
  let next = 0
  let budget = 0
  const tickMs = 5
  const timer = setInterval(() => {
    budget = Math.min(budget + (cfg.connectRate * tickMs) / 1000, cfg.connectRate)
    while (next < sockets.length && budget >= 1 && inFlight < cfg.connectConcurrency) {
      budget -= 1
      open(sockets[next++]!)
    }
    if (next >= sockets.length) clearInterval(timer)
  }, tickMs)
  const progress = setInterval(() => send({ kind: 'progress', workerId: cfg.workerId, connected, failed }), 250)
  checkConnectDone()
  await finished
  clearInterval(timer)
  clearInterval(progress)
  const rooms = new Map<number, number>()
  for (const s of sockets) if (s.ready && !s.spec.bad) rooms.set(s.spec.room, (rooms.get(s.spec.room) ?? 0) + 1)
  const report: ConnectReport = {
    kind: 'connected',
    workerId: cfg.workerId,
    connected,
    failed,
    errors: connectErrors,
    badRefused,
    badAccepted,
    connectHist: connectHist.toData(),
    rooms: [...rooms],
    startedAt: connectStartedAt,
    endedAt: lastReadyAt || wallMs(),
  }
  send(report)
}

// ---- frames ------------------------------------------------------------------------------------

type ChatFrame = {
  type?: string
  message?: { room_id?: number; seq?: number; content?: string }
  client_msg_id?: string
  code?: string
}

/** frames received by type since the worker started (message.created counted apart: it is the hot path) */
const framesTotal: Record<string, number> = {}
let createdTotal = 0

const TYPE_AT = Buffer.from('{"type":"')
const SEQ_KEY = Buffer.from('"seq":')
const CONTENT_KEY = Buffer.from('"content":"')
const CMID_KEY = Buffer.from('"client_msg_id":"')

/** The unsigned integer at buf[i…] (digits only), or -1; `numEnd` is where it stopped. */
let numEnd = 0
function intAt(buf: Buffer, i: number, end: number): number {
  let v = 0
  let j = i
  for (; j < end; j++) {
    const c = buf[j]!
    if (c < 48 || c > 57) break
    v = v * 10 + (c - 48)
  }
  numEnd = j
  return j === i ? -1 : v
}

/** A decimal number `123.456` at buf[i…]; `numEnd` is where it stopped. */
function decimalAt(buf: Buffer, i: number, end: number): number {
  let v = intAt(buf, i, end)
  if (numEnd < end && buf[numEnd] === 46 /* . */) {
    let scale = 1
    let j = numEnd + 1
    for (; j < end; j++) {
      const c = buf[j]!
      if (c < 48 || c > 57) break
      scale /= 10
      v += (c - 48) * scale
    }
    numEnd = j
  }
  return v
}

/**
 * A chat frame, read by scanning its bytes: the type right after `{"type":"`,
 * and for a delivery only `"seq":` and the content's four numbers
 * (`sendTs|round|sender|n|`); for an ack only the client_msg_id's numbers.
 * Anything else (ready, errors, frames not shaped like the server's) is
 * decoded and parsed in full: they are rare.
 */
function onChat(s: Sock, buf: Buffer, start: number, end: number): void {
  const t = start + TYPE_AT.length
  if (end - start > t - start + 3 && buf.compare(TYPE_AT, 0, TYPE_AT.length, start, t) === 0) {
    const q = buf.indexOf(34 /* " */, t)
    const len = q - t
    // "message.created": 15 bytes, 'c' at 8 ("message.deleted" has 'd' there)
    if (len === 15 && buf[t] === 109 && buf[t + 8] === 99) {
      createdTotal++
      stats.created++
      stats.createdBytes += end - start
      const k = buf.indexOf(SEQ_KEY, q)
      const seq = k < 0 || k >= end ? 0 : intAt(buf, k + SEQ_KEY.length, end)
      const c = buf.indexOf(CONTENT_KEY, q)
      if (c < 0 || c >= end) return
      let i = c + CONTENT_KEY.length
      const sendTs = decimalAt(buf, i, end)
      i = numEnd + 1
      const rnd = intAt(buf, i, end)
      i = numEnd + 1
      const sender = intAt(buf, i, end)
      i = numEnd + 1
      const n = intAt(buf, i, end)
      if (buf[numEnd] !== 124 /* | */) {
        stats.stale++
        return
      }
      onDelivery(s, seq, sendTs, rnd, sender, n)
      return
    }
    // "ack": client_msg_id is `${round}.${sender}.${n}`
    if (len === 3 && buf[t] === 97) {
      count(framesTotal, 'ack')
      count(stats.frames, 'ack')
      const k = buf.indexOf(CMID_KEY, q)
      if (k >= 0 && k < end) {
        let i = k + CMID_KEY.length
        const rnd = intAt(buf, i, end)
        i = numEnd + 1
        intAt(buf, i, end)
        const n = intAt(buf, numEnd + 1, end)
        if (rnd === roundNo) onAnswer(s, n, null)
      }
      return
    }
    // presence and the rest: counted by type, parsed only when the accounting needs it
    const type = buf.toString('latin1', t, q)
    count(framesTotal, type)
    count(stats.frames, type)
    if (type !== 'ready' && type !== 'error' && type !== 'message.created') return
  }
  let f: ChatFrame
  try {
    f = JSON.parse(buf.toString('utf8', start, end)) as ChatFrame
  } catch {
    count(framesTotal, 'unparsable')
    return
  }
  switch (f.type) {
    case 'message.created': {
      const m = f.message
      if (m?.content !== undefined) onContent(s, m.seq ?? 0, m.content)
      return
    }
    case 'error':
      if (f.client_msg_id !== undefined) onAnswer(s, Number(f.client_msg_id.split('.')[2]), f.code ?? 'error')
      else count(frameErrors, f.code ?? 'error')
      return
    case 'ready':
      if (s.timer) clearTimeout(s.timer)
      markReady(s)
      return
  }
}

function onSio(s: Sock, data: string): void {
  const c = data.charCodeAt(0)
  if (c === 50 /* 2: Engine.IO ping */) {
    s.ws?.send('3')
    return
  }
  if (c === 48 /* 0: Engine.IO open */) {
    s.ws?.send(`40${JSON.stringify(s.spec.auth ?? {})}`)
    return
  }
  if (c !== 52 /* 4: Engine.IO message */) return
  const t = data.charCodeAt(1)
  if (t === 50 /* 2: EVENT */) {
    const [name, payload] = JSON.parse(data.slice(2)) as [string, ChatFrame['message'] & { message?: ChatFrame['message'] }]
    count(framesTotal, name)
    count(stats.frames, name)
    if (name === 'message.created') {
      const m = payload?.message ?? payload
      if (m?.content !== undefined) onContent(s, m.seq ?? 0, m.content)
    }
  } else if (t === 51 /* 3: ACK */) {
    const br = data.indexOf('[')
    const id = Number(data.slice(2, br))
    const [res] = JSON.parse(data.slice(br)) as [{ error?: { code?: string } } | undefined]
    onAnswer(s, id, res?.error ? (res.error.code ?? 'error') : null)
  } else if (t === 48 /* 0: CONNECT ok */) {
    if (s.timer) clearTimeout(s.timer)
    markReady(s)
  } else if (t === 52 /* 4: CONNECT_ERROR */) {
    if (s.timer) clearTimeout(s.timer)
    fail(s, 'connect_error')
  }
}

/** A delivery whose content came as a string (full parses: Socket.IO, and chat frames not shaped like ours). */
function onContent(s: Sock, seq: number, content: string): void {
  // content: `${sendTs}|${round}|${sender}|${n}|padding`
  const p = content.split('|', 5)
  if (p.length < 5) {
    stats.stale++
    return
  }
  onDelivery(s, seq, Number(p[0]), Number(p[1]), Number(p[2]), Number(p[3]))
}

// ---- rounds ------------------------------------------------------------------------------------

const frameErrors: Record<string, number> = {}
let round: RoundSpec | null = null
let roundNo = -1
let windowStart = 0
let windowEnd = 0
let sendEnd = 0
let stats = freshStats()
let closing = false
let roundStatusTimer: Timer | null = null
const closedCodes = new Map<number, number>()

function freshStats() {
  return {
    sent: 0,
    acked: 0,
    sendErrors: {} as Record<string, number>,
    ackHist: new Histogram(),
    latHist: new Histogram(),
    deliveries: 0,
    windowDeliveries: 0,
    dups: 0,
    outOfOrder: 0,
    stale: 0,
    roomAcked: new Map<number, number>(),
    tlDeliveries: [] as number[],
    tlSent: [] as number[],
    tlLat: [] as Histogram[],
    maxSendLagMs: 0,
    lastDeliveryAt: 0,
    /** message.created frames this round (stale ones too) */
    created: 0,
    /** their payload bytes */
    createdBytes: 0,
    /** other frames this round, by type */
    frames: {} as Record<string, number>,
  }
}

function count(rec: Record<string, number>, key: string): void {
  rec[key] = (rec[key] ?? 0) + 1
}

function bump(arr: number[], i: number): void {
  while (arr.length <= i) arr.push(0)
  arr[i]! += 1
}

function onClosed(s: Sock, code: number): void {
  s.ready = false
  closedCodes.set(code, (closedCodes.get(code) ?? 0) + 1)
}

function onDelivery(s: Sock, seq: number, sendTs: number, rnd: number, sender: number, n: number): void {
  const now = wallMs()
  if (rnd !== roundNo || !round || sender < 0 || n < 0) {
    stats.stale++
    return
  }
  stats.deliveries++
  stats.lastDeliveryAt = now
  const t0 = round.t0
  bump(stats.tlDeliveries, Math.max(0, Math.floor((now - t0) / 1000)))
  if (now >= windowStart && now < windowEnd) stats.windowDeliveries++
  let bits = s.bits[sender]
  if (!bits || bits.length * 8 <= n) {
    const grown = new Uint8Array(Math.max(64, (n >> 3) * 2 + 8))
    if (bits) grown.set(bits)
    bits = s.bits[sender] = grown
  }
  const mask = 1 << (n & 7)
  if (bits[n >> 3]! & mask) {
    stats.dups++
    return
  }
  bits[n >> 3]! |= mask
  s.unique++
  if (seq > 0) {
    if (seq < s.lastSeq) stats.outOfOrder++
    else s.lastSeq = seq
  } else {
    const last = s.lastN[sender] ?? 0
    if (n < last) stats.outOfOrder++
    else s.lastN[sender] = n
  }
  if (sendTs >= windowStart && sendTs < windowEnd) {
    const lat = now - sendTs
    stats.latHist.record(lat)
    const sec = Math.max(0, Math.floor((now - t0) / 1000))
    while (stats.tlLat.length <= sec) stats.tlLat.push(new Histogram())
    stats.tlLat[sec]!.record(lat)
  }
}

function onAnswer(s: Sock, id: number, error: string | null): void {
  const p = s.pending.get(id)
  if (!p) return
  s.pending.delete(id)
  const now = wallMs()
  if (error) count(stats.sendErrors, error)
  else {
    stats.acked++
    stats.roomAcked.set(s.spec.room, (stats.roomAcked.get(s.spec.room) ?? 0) + 1)
    if (p.ts >= windowStart && p.ts < windowEnd) stats.ackHist.record(now - p.ts)
  }
  if (round && round.inflight > 0 && now < sendEnd) sendOne(s, now)
}

let padding = ''

function sendOne(s: Sock, now: number): void {
  const ws = s.ws
  if (!ws || !s.ready || !ws.isOpen || !round) return
  const n = ++s.n
  const head = `${now.toFixed(3)}|${roundNo}|${s.spec.sender}|${n}|`
  const content = head.length >= round.payload ? head : head + padding.slice(0, round.payload - head.length)
  if (protocol === 'chat') {
    const id = `${roundNo}.${s.spec.sender}.${n}`
    s.pending.set(n, { n, ts: now })
    ws.send(JSON.stringify({ type: 'message.send', room_id: s.spec.room, content, client_msg_id: id }))
  } else {
    const id = ++s.ackId
    s.pending.set(id, { n, ts: now })
    const body = JSON.stringify(['message.send', { room_id: s.spec.room, content, client_msg_id: `${roundNo}.${s.spec.sender}.${n}` }])
    ws.send(`42${id}${body}`)
  }
  stats.sent++
  bump(stats.tlSent, Math.max(0, Math.floor((now - round.t0) / 1000)))
}

async function runRound(spec: RoundSpec): Promise<void> {
  const cfg = init!
  round = spec
  roundNo = spec.round
  stats = freshStats()
  closedCodes.clear()
  padding = 'x'.repeat(spec.payload)
  windowStart = spec.t0 + spec.warmupMs
  windowEnd = windowStart + spec.durationMs
  sendEnd = windowEnd
  const senders: Sock[] = []
  for (const s of sockets) {
    s.bits = []
    s.lastN = []
    s.unique = 0
    s.n = 0
    s.pending.clear()
    s.openAtRoundStart = s.ready && !s.spec.bad
    if (s.openAtRoundStart && s.spec.sender >= 0) senders.push(s)
  }
  roundStatusTimer = setInterval(() => {
    let pendingAcks = 0
    for (const s of senders) pendingAcks += s.pending.size
    send({
      kind: 'status', workerId: cfg.workerId, round: roundNo, sent: stats.sent, pendingAcks,
      deliveries: stats.deliveries, lastDeliveryAt: stats.lastDeliveryAt,
    })
  }, 250)
  const wait = spec.t0 - wallMs()
  if (wait > 0) await Bun.sleep(wait)
  if (spec.inflight > 0) {
    const now = wallMs()
    for (const s of senders) for (let i = 0; i < spec.inflight; i++) sendOne(s, now)
  } else {
    const interval = 1000 / spec.rate
    for (const s of senders) s.nextAt = spec.t0 + Math.random() * interval
    // open loop: each sender keeps its own schedule; a late tick catches up (bounded per tick)
    await new Promise<void>((resolve) => {
      const tick = setInterval(() => {
        const now = wallMs()
        for (const s of senders) {
          let k = 0
          while (s.nextAt <= now && s.nextAt < sendEnd && k++ < 1000) {
            const lag = now - s.nextAt
            if (lag > stats.maxSendLagMs) stats.maxSendLagMs = lag
            sendOne(s, now)
            s.nextAt += interval
          }
        }
        if (now >= sendEnd) {
          clearInterval(tick)
          resolve()
        }
      }, 2)
    })
  }
}

function roundReport(): RoundReport {
  if (roundStatusTimer) clearInterval(roundStatusTimer)
  roundStatusTimer = null
  let unacked = 0
  const rooms = new Map<number, [number, number]>()
  for (const s of sockets) {
    unacked += s.pending.size
    if (!s.openAtRoundStart) continue
    const r = rooms.get(s.spec.room) ?? [0, 0]
    r[0] += 1
    r[1] += s.unique
    rooms.set(s.spec.room, r)
  }
  const out: RoundReport = {
    kind: 'round',
    workerId: init!.workerId,
    round: roundNo,
    sent: stats.sent,
    acked: stats.acked,
    sendErrors: stats.sendErrors,
    unacked,
    ackHist: stats.ackHist.toData(),
    latHist: stats.latHist.toData(),
    deliveries: stats.deliveries,
    windowDeliveries: stats.windowDeliveries,
    dups: stats.dups,
    outOfOrder: stats.outOfOrder,
    stale: stats.stale,
    roomAcked: [...stats.roomAcked],
    roomReceived: [...rooms].map(([id, [n, u]]) => [id, n, u]),
    frames: { ...stats.frames, 'message.created': stats.created },
    createdBytes: stats.createdBytes,
    timeline: { deliveries: stats.tlDeliveries, sent: stats.tlSent, lat: stats.tlLat.map((h) => h.toData()) },
    maxSendLagMs: stats.maxSendLagMs,
    closed: [...closedCodes],
  }
  round = null
  return out
}

let openAtClose = 0
let closeDone: (() => void) | null = null

function onClosedAtEnd(): void {
  if (--openAtClose <= 0) closeDone?.()
}

async function closeAll(): Promise<void> {
  closing = true
  const open = sockets.filter((s) => s.ws?.isOpen)
  openAtClose = open.length
  const closed = new Promise<void>((resolve) => (closeDone = resolve))
  for (const s of open) s.ws!.close(1000)
  if (open.length) await Promise.race([closed, Bun.sleep(5000)])
  send({ kind: 'closed', workerId: init?.workerId ?? -1 })
}

process.on('message', (raw) => {
  const msg = raw as CoordinatorMessage
  void (async () => {
    try {
      switch (msg.kind) {
        case 'init':
          init = msg
          protocol = msg.protocol
          sockets = msg.sockets.map((s, i) => new Sock(s, i))
          setTimeout(() => process.exit(3), msg.maxLifetimeMs).unref()
          send({ kind: 'hello', workerId: msg.workerId })
          return
        case 'connect':
          await connectAll()
          return
        case 'round':
          await runRound(msg)
          return
        case 'report':
          send(roundReport())
          return
        case 'counts':
          send({ kind: 'counts', workerId: init?.workerId ?? -1, frames: { ...framesTotal, 'message.created': createdTotal }, open: sockets.filter((x) => x.ws?.isOpen).length })
          return
        case 'close':
          await closeAll()
          setTimeout(() => process.exit(0), 100)
          return
      }
    } catch (e) {
      send({ kind: 'fatal', workerId: init?.workerId ?? -1, error: e instanceof Error ? (e.stack ?? e.message) : String(e) })
    }
  })()
})

// the coordinator gone: nothing left to do
setInterval(() => {
  if (process.ppid !== parentPid) process.exit(4)
}, 1000).unref()
process.on('disconnect', () => process.exit(4))
// stopped by the coordinator: exit normally (a CPU profile, BENCH_GEN_PROF, is written on exit)
process.on('SIGTERM', () => process.exit(0))
