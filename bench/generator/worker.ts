/**
 * One load-generator process: opens its share of the sockets, sends on its
 * share of the senders, and checks every delivery (loss, duplicates, order,
 * latency from the send time carried in the content). Driven over IPC by the
 * coordinator; exits on `close`, when the coordinator goes away, or after
 * its maximum lifetime.
 */
import { Histogram } from '../lib/hist.ts'
import { raiseNoFile, wallMs } from '../lib/procs.ts'
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
  ws: WebSocket | null = null
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
  pending = new Map<string | number, Pending>()
  constructor(readonly spec: SocketSpec) {}
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

function open(s: Sock): void {
  s.createdAt = wallMs()
  inFlight++
  const ws = new WebSocket(s.spec.url)
  s.ws = ws
  const timer = setTimeout(() => fail(s, 'timeout'), init?.connectTimeoutMs ?? 10_000)
  ws.onopen = () => {
    // chat: wait for `ready`; sio: wait for Engine.IO open, then CONNECT
  }
  ws.onerror = (ev) => {
    const msg = (ev as ErrorEvent).message ?? ''
    const status = /status code: (\d+)/.exec(msg)?.[1]
    if (!s.ready) fail(s, status ? `http ${status}` : 'error')
  }
  ws.onclose = (ev) => {
    clearTimeout(timer)
    if (!s.ready) fail(s, `closed ${ev.code} before ready`)
    else if (!closing) onClosed(s, ev.code)
  }
  ws.onmessage = protocol === 'chat' ? (ev) => onChat(s, ev.data as string, timer) : (ev) => onSio(s, ev.data as string, timer)
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

/** The number after `"key":` in a JSON text, or -1. */
function numberAfter(data: string, key: string): number {
  const i = data.indexOf(key)
  if (i < 0) return -1
  let v = 0
  for (let j = i + key.length; j < data.length; j++) {
    const c = data.charCodeAt(j)
    if (c < 48 || c > 57) break
    v = v * 10 + (c - 48)
  }
  return v
}

function onChat(s: Sock, data: string, timer: Timer): void {
  // hot path: a delivery, read without a full parse; our content never holds a quote or a backslash
  if (data.includes('"type":"message.created"')) {
    const c = data.indexOf('"content":"')
    if (c >= 0) {
      const end = data.indexOf('"', c + 11)
      onDelivery(s, numberAfter(data, '"seq":'), data.slice(c + 11, end))
      return
    }
  }
  let f: ChatFrame
  try {
    f = JSON.parse(data) as ChatFrame
  } catch {
    return
  }
  switch (f.type) {
    case 'message.created': {
      const m = f.message
      if (m?.content !== undefined) onDelivery(s, m.seq ?? 0, m.content)
      return
    }
    case 'ack':
      if (f.client_msg_id !== undefined) onAnswer(s, f.client_msg_id, null)
      return
    case 'error':
      if (f.client_msg_id !== undefined) onAnswer(s, f.client_msg_id, f.code ?? 'error')
      else count(frameErrors, f.code ?? 'error')
      return
    case 'ready':
      clearTimeout(timer)
      markReady(s)
      return
  }
}

function onSio(s: Sock, data: string, timer: Timer): void {
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
    if (name === 'message.created') {
      const m = payload?.message ?? payload
      if (m?.content !== undefined) onDelivery(s, m.seq ?? 0, m.content)
    }
  } else if (t === 51 /* 3: ACK */) {
    const br = data.indexOf('[')
    const id = Number(data.slice(2, br))
    const [res] = JSON.parse(data.slice(br)) as [{ error?: { code?: string } } | undefined]
    onAnswer(s, id, res?.error ? (res.error.code ?? 'error') : null)
  } else if (t === 48 /* 0: CONNECT ok */) {
    clearTimeout(timer)
    markReady(s)
  } else if (t === 52 /* 4: CONNECT_ERROR */) {
    clearTimeout(timer)
    fail(s, 'connect_error')
  }
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

function onDelivery(s: Sock, seq: number, content: string): void {
  const now = wallMs()
  // content: `${sendTs}|${round}|${sender}|${n}|padding`
  const a = content.indexOf('|')
  const b = content.indexOf('|', a + 1)
  const c = content.indexOf('|', b + 1)
  const d = content.indexOf('|', c + 1)
  if (a < 0 || d < 0 || Number(content.slice(a + 1, b)) !== roundNo || !round) {
    stats.stale++
    return
  }
  const sendTs = Number(content.slice(0, a))
  const sender = Number(content.slice(b + 1, c))
  const n = Number(content.slice(c + 1, d))
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

function onAnswer(s: Sock, id: string | number, error: string | null): void {
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
  if (!ws || !s.ready || ws.readyState !== WebSocket.OPEN || !round) return
  const n = ++s.n
  const head = `${now.toFixed(3)}|${roundNo}|${s.spec.sender}|${n}|`
  const content = head.length >= round.payload ? head : head + padding.slice(0, round.payload - head.length)
  if (protocol === 'chat') {
    const id = `${roundNo}.${s.spec.sender}.${n}`
    s.pending.set(id, { n, ts: now })
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
    timeline: { deliveries: stats.tlDeliveries, sent: stats.tlSent, lat: stats.tlLat.map((h) => h.toData()) },
    maxSendLagMs: stats.maxSendLagMs,
    closed: [...closedCodes],
  }
  round = null
  return out
}

async function closeAll(): Promise<void> {
  closing = true
  const open = sockets.filter((s) => s.ws && s.ws.readyState === WebSocket.OPEN)
  const closed = Promise.all(
    open.map((s) => new Promise<void>((resolve) => {
      s.ws!.addEventListener('close', () => resolve())
      s.ws!.close(1000)
    })),
  )
  await Promise.race([closed, Bun.sleep(5000)])
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
          sockets = msg.sockets.map((s) => new Sock(s))
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
