/**
 * Defects the fuzz suites (fuzz-rest, fuzz-ws) found at the edge, each kept
 * as a plain test: deeply nested JSON was a stack overflow (500), and a 422
 * echoed a bad value whole (megabytes) in its `detail`.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { parseClientFrame } from '../src/protocol/frames'
import { jsonTooDeep, quoteValue } from '../src/lib/text'
import { expectError } from './contract'
import { groupRoom, openWs, register, startServer, type TestServer, type TestUser } from './helpers'

// per file: Bun applies a preload's default timeout to the first file only, and hooks start servers
setDefaultTimeout(60_000)

const nest = (n: number, inner = '1') => '{"a":'.repeat(n) + inner + '}'.repeat(n)
const arr = (n: number) => '['.repeat(n) + ']'.repeat(n)

describe('jsonTooDeep and quoteValue', () => {
  test('depth counts arrays and objects, not brackets inside strings', () => {
    expect(jsonTooDeep(arr(32))).toBe(false)
    expect(jsonTooDeep(arr(33))).toBe(true)
    expect(jsonTooDeep(nest(33))).toBe(true)
    expect(jsonTooDeep(JSON.stringify({ content: '['.repeat(1000) }))).toBe(false)
    expect(jsonTooDeep(JSON.stringify({ content: '\\"[[[[' + '{'.repeat(100) }))).toBe(false)
    // siblings do not add up
    expect(jsonTooDeep(`[${Array(100).fill(arr(20)).join(',')}]`)).toBe(false)
  })

  test('a quoted value is cut to 80 code points, never splitting a pair', () => {
    expect(quoteValue('short')).toBe('"short"')
    expect(quoteValue(5)).toBe('5')
    const long = quoteValue('x'.repeat(500_000))
    expect(long.length).toBe(81)
    expect(long.endsWith('…')).toBe(true)
    const emoji = quoteValue('😀'.repeat(500_000))
    expect(Array.from(emoji).length).toBe(81)
    expect(emoji.isWellFormed()).toBe(true)
    expect(quoteValue('😀'.repeat(30))).toBe(JSON.stringify('😀'.repeat(30)))
    expect(quoteValue(undefined)).toBe('undefined')
  })

  test('a frame nested deeper than 32 is bad_request, not a validation walk', () => {
    const r = parseClientFrame(`{"type":"message.send","room_id":1,"content":${arr(5000)}}`)
    expect(r).toMatchObject({ ok: false, code: 'bad_request' })
    expect(parseClientFrame(`{"type":"ping","x":${arr(30)}}`)).toMatchObject({ ok: true })
  })
})

describe('over HTTP and WebSocket', () => {
  let s: TestServer
  let alice: TestUser
  let room: { id: number }
  beforeAll(async () => {
    s = await startServer({ RATE_MESSAGES: '0' })
    alice = await register(s.api, 'edge-alice')
    room = await groupRoom(s.api, alice)
  })
  afterAll(() => s?.close())

  test('a body nested 10,000 or 100,000 deep is 400, not a 500, with or without a token', async () => {
    for (const raw of [`{"content":${arr(10_000)}}`, arr(100_000), `{"content":"x","z":${nest(100_000)}}`]) {
      expectError(await s.api('POST', `/v1/rooms/${room.id}/messages`, { token: alice.token, raw }), 400, 'bad_request')
    }
    expectError(await s.api('POST', '/v1/auth/login', { raw: `{"email":${arr(10_000)}}` }), 400, 'bad_request')
    // shallow extra fields are still dropped, as before
    const ok = await s.api('POST', `/v1/rooms/${room.id}/messages`, { token: alice.token, raw: `{"content":"x","z":${nest(30)}}` })
    expect(ok.status).toBe(201)
    expect((await s.api('GET', '/healthz')).status).toBe(200)
  })

  test('a 422 quotes a bad value cut short, never megabytes of it', async () => {
    const r = await s.api('POST', `/v1/rooms/${room.id}/messages`, { token: alice.token, body: { content: 'x', client_msg_id: 'x'.repeat(500_000) } })
    expectError(r, 422, 'validation')
    expect(r.body.detail.length).toBeLessThan(200)
    expect(r.body.detail).toContain('…')
    const q = await s.api('GET', `/v1/users?limit=${'9'.repeat(5000)}`, { token: alice.token })
    expectError(q, 422, 'validation')
    expect(q.body.detail.length).toBeLessThan(200)
    const p = await s.api('GET', `/v1/rooms/${'9'.repeat(5000)}`, { token: alice.token })
    expectError(p, 422, 'validation')
    expect(p.body.detail.length).toBeLessThan(200)
  })

  test('a WebSocket frame nested deep is error bad_request and the socket stays open', async () => {
    const sock = await openWs(s, alice)
    sock.send(`{"type":"message.send","room_id":${room.id},"content":${arr(5000)}}`)
    expect(await sock.next('error')).toMatchObject({ code: 'bad_request' })
    sock.send({ type: 'ping' })
    await sock.next('pong')
    sock.close()
  })
})
