/**
 * Property-based fuzz of the WebSocket protocol over real sockets: every
 * client frame type of src/protocol/frames.ts (plus `auth`, unknown types,
 * non-objects, broken JSON, binary and oversized frames) with hostile fields.
 * Each frame gets its answer per API.md (`error` with a contract code for a
 * bad one, the frame's own answer for a good one); the socket is closed
 * only with 1008 (repeated abuse) or 1009 (too big), never 1011 or dropped;
 * the node stays healthy; a neighbour's ordinary sends all commit.
 *
 * A failure prints fast-check's seed and path: FUZZ_SEED=… FUZZ_PATH=… bun test test/fuzz-ws.test.ts
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from 'bun:test'
import type { TSchema } from '@sinclair/typebox'
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler'
import fc from 'fast-check'
import { ClientFrames } from '../src/protocol/frames'
import {
  badJsonText, fuzzParams, historyCmids, MAX_DETAIL, nastyJson, nastyString, objectFor, SCALE, steadySender, WS_ERROR_CODES,
  type IdPool, type JsonSchema, healthyEvery } from './fuzz-kit'
import { groupRoom, register, startServer, TestSocket, type Frame, type TestServer, type TestUser } from './helpers'

// per file: Bun applies a preload's default timeout to the first file only, and hooks start servers
setDefaultTimeout(60_000)

/** Cases per run, and the time they may take on a loaded 2-core box. */
const RUNS = 8_000
const BUDGET_MS = 150_000
/** Longest wait for one frame's answer: generous, the box is shared. */
const ANSWER_MS = 20_000
const MAX_FRAME_BYTES = 16 * 1024

let s: TestServer
let alice: TestUser
let bob: TestUser
let steady: TestUser
const pool: IdPool = { rooms: [], messages: [], users: [] }
let steadyRoom: number

beforeAll(async () => {
  s = await startServer({ RATE_MESSAGES: '0', MAX_FRAME_BYTES: String(MAX_FRAME_BYTES) })
  ;[alice, bob, steady] = await Promise.all([register(s.api, 'wz-alice'), register(s.api, 'wz-bob'), register(s.api, 'wz-steady')])
  pool.users.push(alice.id, bob.id, steady.id, 999_999)
  for (let i = 0; i < 4; i++) {
    const r = await groupRoom(s.api, alice, i % 2 ? [bob] : [])
    pool.rooms.push(r.id)
    for (let j = 0; j < 3; j++) {
      const m = await s.api('POST', `/v1/rooms/${r.id}/messages`, { token: alice.token, body: { content: `seed ${i}.${j}` } })
      if (m.status === 201) pool.messages.push(m.body.id)
    }
  }
  const bobs = await groupRoom(s.api, bob)
  steadyRoom = (await groupRoom(s.api, steady)).id
  // rooms alice is not in, and one that does not exist
  pool.rooms.push(bobs.id, steadyRoom, 999_999)
})
afterAll(() => s?.close())

/** The frame types the server may send (API.md "Server → client", and the answers to the opt-in presence frames of docs/protocol.md). */
const SERVER_TYPES = new Set([
  'message.created', 'message.updated', 'message.deleted', 'typing', 'read', 'presence', 'member.joined', 'member.left', 'member.updated',
  'room.created', 'room.updated', 'room.deleted', 'ack', 'error', 'pong', 'ready', 'subscribed', 'unsubscribed', 'resync_required', 'auth_ok',
  'presence.subscribed', 'presence.unsubscribed',
])

const checks = Object.fromEntries(Object.entries(ClientFrames).map(([k, v]) => [k, TypeCompiler.Compile(v as TSchema)])) as Record<string, TypeCheck<TSchema>>

/** What a frame must get back. */
type Expect =
  | { kind: 'error'; code: string } // synchronously, before the ping that follows it
  | { kind: 'answer'; types: string[] } // one of these (or an error) eventually
  | { kind: 'none' } // nothing required (typing, read)
  | { kind: 'close'; code: number }

type Sent = { text: string | Uint8Array; expect: Expect; label: string }

/** Where the frame goes: the user socket (auto or manual subscribe) or a per-room one. */
const socketUrls = () => [
  `${s.wsUrl}/v1/ws?token=${alice.token}`,
  `${s.wsUrl}/v1/ws?token=${alice.token}&auto_subscribe=false`,
  `${s.wsUrl}/v1/rooms/${pool.rooms[0]}/ws?token=${alice.token}`,
  `${s.wsUrl}/v1/rooms/${pool.rooms[1]}/ws?token=${alice.token}&after_seq=0`,
]

function oracle(value: unknown): Expect {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { kind: 'error', code: 'bad_request' }
  const type = (value as { type?: unknown }).type
  if (typeof type !== 'string' || !Object.hasOwn(checks, type)) return { kind: 'error', code: 'bad_request' }
  if (!checks[type]!.Check(value)) return { kind: 'error', code: 'validation' }
  switch (type) {
    case 'ping': return { kind: 'answer', types: ['pong'] }
    case 'unsubscribe': return { kind: 'answer', types: ['unsubscribed'] }
    case 'message.send': return { kind: 'answer', types: ['ack'] }
    case 'subscribe': return { kind: 'answer', types: ['subscribed', 'resync_required'] }
    case 'auth': return { kind: 'answer', types: ['auth_ok'] }
    case 'presence.subscribe': return { kind: 'answer', types: ['presence.subscribed'] }
    case 'presence.unsubscribe': return { kind: 'answer', types: ['presence.unsubscribed'] }
    default: return { kind: 'none' }
  }
}

/** Nesting depth of a parsed JSON value (arrays and objects). */
const depth = (v: unknown): number =>
  typeof v === 'object' && v !== null ? 1 + Math.max(0, ...Object.values(v).map(depth)) : 0

/** The answer a text frame must get: bad_request when it is not JSON or nests deeper than 32, else by its value. */
function judge(text: string): Expect {
  let v: unknown
  try {
    v = JSON.parse(text)
  } catch {
    return { kind: 'error', code: 'bad_request' }
  }
  return depth(v) > 32 ? { kind: 'error', code: 'bad_request' } : oracle(v)
}

const frameArb = (): fc.Arbitrary<Sent> => {
  const types = [...Object.keys(ClientFrames), 'auth']
  const schemaFrame = fc.tuple(fc.constantFrom(...types), fc.nat(9)).chain(([type, n]) => {
    const schema = (ClientFrames as Record<string, unknown>)[type] as JsonSchema | undefined
    const fields: fc.Arbitrary<Record<string, unknown>> = schema
      ? fc.oneof({ weight: 2, arbitrary: objectFor(schema, pool) }, { weight: 1, arbitrary: objectFor(schema, pool, 'valid') })
      : fc.record({ token: fc.oneof(fc.constant(alice.token), fc.constant(bob.token), nastyString) })
    // the type kept 9 times in 10, else whatever the generator put there (usually missing)
    return fields.map((o) => ({ ...o, type: n > 0 ? type : o.type }))
  })
  const frame = (text: string, label: string): Sent =>
    new TextEncoder().encode(text).byteLength > MAX_FRAME_BYTES
      ? { text, expect: { kind: 'close', code: 1009 }, label: `${text.length} chars: ${text.slice(0, 100)}` }
      : { text, expect: judge(text), label: label.slice(0, 300) }
  const json = (v: unknown): Sent => {
    const text = JSON.stringify(v) ?? 'null'
    return frame(text, text)
  }
  const raw = (t: string): Sent => frame(t, t)
  return fc.oneof(
    { weight: 12, arbitrary: schemaFrame.map(json) },
    { weight: 2, arbitrary: nastyJson.map(json) },
    { weight: 2, arbitrary: badJsonText.map(raw) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((b): Sent => ({ text: b, expect: { kind: 'none' }, label: `binary ${b.length} B` })) },
  )
}

class Conn {
  sock!: TestSocket
  opened = 0
  closes: number[] = []
  private url = 0

  async ensure() {
    if (this.sock && this.sock.ws.readyState === WebSocket.OPEN) return
    if (this.sock) {
      const c = await this.sock.closed
      this.closes.push(c.code)
      if (c.code !== 1008 && c.code !== 1009) throw new Error(`socket closed with ${c.code} ${c.reason}`)
    }
    const urls = socketUrls()
    this.sock = await TestSocket.open(urls[this.url++ % urls.length]!)
    this.opened++
  }
}

/** Checks every frame the server sent: a known type; errors with a contract code and a short detail. */
function frameProblem(f: Frame): string | null {
  if (typeof f.type !== 'string' || (!SERVER_TYPES.has(f.type) && !f.type.startsWith('space.'))) return `unknown server frame ${JSON.stringify(f).slice(0, 200)}`
  if (f.type === 'error') {
    if (!WS_ERROR_CODES.has(f.code)) return `error code ${f.code}: ${String(f.detail).slice(0, 200)}`
    if (typeof f.detail !== 'string' || !f.detail || f.detail.length > MAX_DETAIL) return `error detail ${String(f.detail).slice(0, 200)}`
  }
  return null
}

test('fuzz: every client frame type, any fields: a contract answer, no crash or 1011, the node stays healthy, a neighbour is unharmed', async () => {
  const conn = new Conn()
  const neighbour = steadySender(s.api, steady, steadyRoom)
  let cases = 0
  let checked = 0
  const outcomes = new Map<string, number>()
  const prop = fc.asyncProperty(frameArb(), async (f) => {
    await conn.ensure()
    const sock = conn.sock
    const from = sock.frames.length
    sock.ws.send(f.text)
    cases++
    const key = f.expect.kind === 'error' ? `error:${f.expect.code}` : f.expect.kind === 'answer' ? f.expect.types[0]! : f.expect.kind
    outcomes.set(key, (outcomes.get(key) ?? 0) + 1)
    const fail = (why: string): never => {
      throw new Error(`${f.label} → ${why}; frames: ${JSON.stringify(sock.frames.slice(from, from + 5)).slice(0, 600)}`)
    }
    if (f.expect.kind === 'close') {
      const c = await Promise.race([sock.closed, Bun.sleep(ANSWER_MS).then(() => null)])
      if (!c) fail('not closed')
      if (c!.code !== f.expect.code) fail(`closed with ${c!.code}`)
      return
    }
    // a ping after it: the socket still answers (or was closed for abuse)
    sock.ws.send('{"type":"ping"}')
    const want = f.expect
    const done = (fr: Frame[]) => {
      const after = fr.slice(from)
      const pong = after.findIndex((x) => x.type === 'pong')
      if (want.kind === 'answer') {
        const answered = after.some((x) => want.types.includes(x.type) || x.type === 'error')
        // a ping frame's own pong and the sentinel's: two
        return answered && (want.types[0] === 'pong' ? after.filter((x) => x.type === 'pong').length >= 2 : pong >= 0)
      }
      return pong >= 0
    }
    const end = Date.now() + ANSWER_MS
    while (!done(sock.frames) && sock.ws.readyState === WebSocket.OPEN && Date.now() < end) {
      await Promise.race([sock.closed, Bun.sleep(5)])
    }
    const after = sock.frames.slice(from)
    for (const x of after) {
      const p = frameProblem(x)
      if (p) fail(p)
    }
    if (sock.ws.readyState !== WebSocket.OPEN) {
      const c = await sock.closed
      // closed for repeated abuse: its error came first
      if (c.code === 1008 && want.kind !== 'answer' && after.some((x) => x.type === 'error')) return
      fail(`socket closed with ${c.code} ${c.reason}`)
    }
    if (!done(sock.frames)) fail(`no answer within ${ANSWER_MS} ms`)
    if (want.kind === 'error') {
      const pong = after.findIndex((x) => x.type === 'pong')
      // (an earlier frame's late answer, e.g. a read's not_found, may arrive in between)
      const errs = after.slice(0, pong).filter((x) => x.type === 'error')
      if (!errs.some((x) => x.code === want.code)) fail(`expected error ${want.code} before the pong, got ${errs.map((x) => x.code).join(',') || 'none'}`)
    }
    checked++
    // now and then mid-run: still healthy
    await healthyEvery(s.url, cases)
  })
  try {
    await fc.assert(prop, fuzzParams('ws', RUNS, BUDGET_MS))
  } finally {
    await neighbour.finish()
    console.log(`[fuzz] ws: ${cases} cases (${checked} answered), ${conn.opened} sockets, closes ${JSON.stringify(conn.closes.reduce<Record<number, number>>((a, c) => ({ ...a, [c]: (a[c] ?? 0) + 1 }), {}))}; expected ${JSON.stringify(Object.fromEntries(outcomes))}`)
  }
  const sent = neighbour.sent
  expect((await fetch(`${s.url}/healthz`)).status).toBe(200)
  expect((await fetch(`${s.url}/readyz`)).status).toBe(200)
  if (SCALE >= 1) expect(cases).toBeGreaterThanOrEqual(Math.min(RUNS, 5_000))
  // a fresh socket still works end to end
  const sock = await TestSocket.open(`${s.wsUrl}/v1/ws?token=${alice.token}`)
  sock.send({ type: 'message.send', room_id: pool.rooms[0], content: 'after the fuzz', client_msg_id: 'after-fuzz' })
  expect((await sock.next((x) => x.type === 'ack' && x.client_msg_id === 'after-fuzz', ANSWER_MS)).message.content).toBe('after the fuzz')
  sock.close()
  expect(sent.length).toBeGreaterThan(0)
  expect(sent.filter((x) => x.status !== 201)).toEqual([])
  const history = await historyCmids(s.api, steady, steadyRoom)
  expect(sent.filter((x) => !history.has(x.cmid)).map((x) => x.cmid)).toEqual([])
}, 400_000)
