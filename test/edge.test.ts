/**
 * The edge: every body, query and frame field is typed strictly and checked
 * for NUL, lone surrogates and size before anything reaches the database;
 * size limits hold for chunked bodies; the web page and files carry strict
 * headers; logs carry no data. Each case was a defect (a coerced body, a 500,
 * an empty 413) before the edge was closed.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { sql } from 'drizzle-orm'
import { createChatServer } from '../src/app'
import { loadConfig } from '../src/config'
import { createLogger, errorFields, redact } from '../src/lib/logger'
import { expectError } from './contract'
import { groupRoom, openWs, register, startServer, testDatabase, type TestServer, type TestUser } from './helpers'

// per file: Bun applies a preload's default timeout to the first file only, and hooks start servers
setDefaultTimeout(60_000)

let s: TestServer
let alice: TestUser
let bob: TestUser
let carol: TestUser

beforeAll(async () => {
  s = await startServer({ RATE_MESSAGES: '0', MAX_UPLOAD_BYTES: String(256 * 1024) })
  ;[alice, bob, carol] = await Promise.all([register(s.api, 'alice'), register(s.api, 'bob'), register(s.api, 'carol')])
})
afterAll(() => s.close())

/** A body of `bytes` sent chunked: no Content-Length, counted as it arrives. */
function chunked(bytes: Uint8Array, chunk = 64 * 1024): ReadableStream<Uint8Array> {
  let at = 0
  return new ReadableStream({
    pull(c) {
      if (at >= bytes.length) return c.close()
      c.enqueue(bytes.subarray(at, at + chunk))
      at += chunk
    },
  })
}

async function rawJson(res: Response) {
  const text = await res.text()
  let body: unknown = text
  try {
    body = JSON.parse(text)
  } catch {}
  // any: a response body is asserted field by field
  return { status: res.status, body, headers: res.headers } as { status: number; body: any; headers: Headers }
}

describe('bodies are typed strictly, never coerced', () => {
  test('member_ids "12" is 422 and adds nobody (it used to add users 1 and 2)', async () => {
    const before = await s.api('GET', '/v1/rooms', { token: bob.token })
    const r = await s.api('POST', '/v1/rooms', { token: alice.token, body: { type: 'group', name: 'x', member_ids: `${bob.id}${carol.id}` } })
    expectError(r, 422, 'validation')
    const after = await s.api('GET', '/v1/rooms', { token: bob.token })
    expect(after.body.rooms.length).toBe(before.body.rooms.length)
  })

  test('a value of the wrong type is 422 wherever it is', async () => {
    const room = await groupRoom(s.api, alice, [bob])
    const cases: [string, string, unknown][] = [
      ['POST', '/v1/rooms', { type: 'group', name: 'x', member_ids: [String(bob.id)] }],
      ['POST', '/v1/rooms', { type: 'group', name: 5 }],
      ['POST', '/v1/rooms', { type: 'group', name: 'x', visibility: true }],
      ['POST', `/v1/rooms/${room.id}/messages`, { content: 5 }],
      ['POST', `/v1/rooms/${room.id}/messages`, { content: 'x', reply_to_id: '1' }],
      ['POST', `/v1/rooms/${room.id}/messages`, { content: 'x', client_msg_id: 7 }],
      ['POST', `/v1/rooms/${room.id}/read`, { seq: '1' }],
      ['POST', `/v1/rooms/${room.id}/read`, { seq: 1.5 }],
      ['POST', `/v1/rooms/${room.id}/members`, { user_ids: [`${carol.id}`] }],
      ['POST', `/v1/rooms/${room.id}/members`, { user_ids: `${carol.id}` }],
      ['PATCH', `/v1/rooms/${room.id}/settings`, { notifications: 'false' }],
      ['PATCH', `/v1/rooms/${room.id}/settings`, { retention_days: '3' }],
      ['PATCH', '/v1/users/me', { nickname: 12 }],
      ['POST', `/v1/rooms/${room.id}/messages`, 5],
      ['POST', `/v1/rooms/${room.id}/messages`, ['x']],
      ['POST', `/v1/rooms/${room.id}/messages`, 'x'],
      ['POST', `/v1/rooms/${room.id}/messages`, null],
    ]
    for (const [method, path, body] of cases) {
      const r = await s.api(method, path, { token: alice.token, body })
      expect({ method, path, body, status: r.status }).toEqual({ method, path, body, status: 422 })
      expectError(r, 422, 'validation')
    }
    // nothing of it was stored
    expect((await s.api('GET', `/v1/rooms/${room.id}/members`, { token: alice.token })).body.members.length).toBe(2)
    expect((await s.api('GET', `/v1/rooms/${room.id}/messages`, { token: alice.token })).body.messages).toEqual([])
  })

  test('a body that is not JSON is 400; unknown fields are ignored, not stored', async () => {
    const room = await groupRoom(s.api, alice)
    expectError(await s.api('POST', `/v1/rooms/${room.id}/messages`, { token: alice.token, raw: '{"content":' }), 400, 'bad_request')
    const ok = await s.api('POST', `/v1/rooms/${room.id}/messages`, { token: alice.token, body: { content: 'hi', extra: { a: 1 } } })
    expect(ok.status).toBe(201)
    expect(ok.body.extra).toBeUndefined()
  })

  test('multipart is refused where a route takes JSON', async () => {
    const form = new FormData()
    form.append('content', 'hi')
    const room = await groupRoom(s.api, alice)
    const r = await rawJson(await fetch(`${s.url}/v1/rooms/${room.id}/messages`, { method: 'POST', body: form, headers: { authorization: `Bearer ${alice.token}` } }))
    expectError(r, 400, 'bad_request')
  })
})

describe('text is checked for NUL, lone surrogates and length before the database', () => {
  const NUL = 'bad\u0000id'
  const LONE = 'bad\ud800id'

  test('register and login emails with NUL are 422 (they were 500)', async () => {
    for (const email of [`a${NUL}@example.com`, `a${LONE}@example.com`]) {
      expectError(await s.api('POST', '/v1/auth/register', { body: { email, password: 'password123', nickname: 'n' } }), 422, 'validation')
      expectError(await s.api('POST', '/v1/auth/login', { body: { email, password: 'password123' } }), 422, 'validation')
    }
    expectError(await s.api('POST', '/v1/auth/login', { body: { email: alice.email, password: `pass${NUL}` } }), 422, 'validation')
  })

  test('query parameters with NUL are 422 (they were 500)', async () => {
    for (const path of ['/v1/users?query=%00', '/v1/users?query=a%00b', '/v1/rooms?external_id=%00', '/v1/search?q=ab%00c']) {
      expectError(await s.api('GET', path, { token: alice.token }), 422, 'validation')
    }
    const room = await groupRoom(s.api, alice)
    expectError(await s.api('GET', `/v1/rooms/${room.id}/search?q=%00`, { token: alice.token }), 422, 'validation')
  })

  test('a forged or stale rooms cursor is 422 (it was 500)', async () => {
    const forge = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url')
    const cursors = [
      'garbage', forge({ t: '0000-01-01T00:00:00.000000Z', id: 1 }), forge({ t: 'infinity', id: 1 }),
      forge({ t: '2026-02-31T00:00:00.000000Z', id: 1 }), forge({ t: '2026-01-01T00:00:00.000000Z', id: 2 ** 60 }),
      forge({ t: '2026-01-01 00:00:00\u0000', id: 1 }), forge([1, 2]), forge(null),
    ]
    for (const c of cursors) {
      expectError(await s.api('GET', `/v1/rooms?cursor=${encodeURIComponent(c)}`, { token: alice.token }), 422, 'validation')
    }
  })

  test('every text field of a body refuses NUL and lone surrogates with 422', async () => {
    const room = await groupRoom(s.api, alice, [bob])
    const sent = await s.api('POST', `/v1/rooms/${room.id}/messages`, { token: alice.token, body: { content: 'hello' } })
    for (const bad of [NUL, LONE]) {
      const cases: [string, string, Record<string, unknown>][] = [
        ['POST', '/v1/auth/register', { email: 'z@example.com', password: 'password123', nickname: bad }],
        ['POST', '/v1/auth/register', { email: 'z@example.com', password: `password${bad}`, nickname: 'n' }],
        ['POST', '/v1/auth/refresh', { refresh: bad }],
        ['PATCH', '/v1/users/me', { nickname: bad }],
        ['PATCH', '/v1/users/me', { bio: bad }],
        ['PATCH', '/v1/users/me', { avatar_url: `https://x.example/${bad}` }],
        ['POST', '/v1/rooms', { type: 'group', name: bad }],
        ['POST', '/v1/rooms', { type: 'group', name: 'x', description: bad }],
        ['POST', '/v1/rooms', { type: 'group', name: 'x', external_id: bad }],
        ['PATCH', `/v1/rooms/${room.id}`, { name: bad }],
        ['POST', `/v1/rooms/${room.id}/messages`, { content: bad }],
        ['POST', `/v1/rooms/${room.id}/messages`, { content: 'x', client_msg_id: bad }],
        ['PATCH', `/v1/rooms/${room.id}/messages/${sent.body.id}`, { content: bad }],
      ]
      for (const [method, path, body] of cases) {
        const r = await s.api(method, path, { token: alice.token, body })
        expect({ path, body, status: r.status }).toEqual({ path, body, status: 422 })
        expectError(r, 422, 'validation')
      }
    }
  })

  test('a NUL client_msg_id over the socket is an error frame, and another user’s concurrent send commits', async () => {
    const room = await groupRoom(s.api, alice, [bob])
    const a = await openWs(s, alice)
    const other = s.api('POST', `/v1/rooms/${room.id}/messages`, { token: bob.token, body: { content: 'mine commits' } })
    a.send({ type: 'message.send', room_id: room.id, content: 'x', client_msg_id: NUL })
    const err = await a.next('error')
    expect(err.code).toBe('validation')
    expect((await other).status).toBe(201)
    a.close()
  })

  test('lengths are counted in code points: 100 emoji make a valid name, 101 do not', async () => {
    const ok = await s.api('POST', '/v1/rooms', { token: alice.token, body: { type: 'group', name: '😀'.repeat(100) } })
    expect(ok.status).toBe(201)
    expectError(await s.api('POST', '/v1/rooms', { token: alice.token, body: { type: 'group', name: '😀'.repeat(101) } }), 422, 'validation')
  })
})

describe('size limits', () => {
  test('a JSON body over 1 MiB is 413 with the error body, with or without Content-Length', async () => {
    const room = await groupRoom(s.api, alice)
    const big = new TextEncoder().encode(JSON.stringify({ content: 'y'.repeat(5 * 1024 * 1024) }))
    const url = `${s.url}/v1/rooms/${room.id}/messages`
    const headers = { 'content-type': 'application/json', authorization: `Bearer ${alice.token}` }
    expectError(await rawJson(await fetch(url, { method: 'POST', body: big, headers })), 413, 'too_large')
    expectError(await rawJson(await fetch(url, { method: 'POST', body: chunked(big), headers })), 413, 'too_large')
    // nothing was stored
    expect((await s.api('GET', `/v1/rooms/${room.id}/messages`, { token: alice.token })).body.messages).toEqual([])
  })

  test('an upload over MAX_UPLOAD_BYTES is 413 with the error body, chunked too', async () => {
    const room = await groupRoom(s.api, alice)
    const form = new FormData()
    form.append('file', new Blob([new Uint8Array(600 * 1024)]), 'big.bin')
    const bytes = new Uint8Array(await new Response(form).arrayBuffer())
    const type = new Response(form).headers.get('content-type')!
    const url = `${s.url}/v1/rooms/${room.id}/attachments`
    const headers = { authorization: `Bearer ${alice.token}`, 'content-type': type }
    expectError(await rawJson(await fetch(url, { method: 'POST', body: chunked(bytes), headers })), 413, 'too_large')
  })

  test('headers over the limit are 431 with the error body', async () => {
    const r = await rawJson(await fetch(`${s.url}/v1/users/me`, { headers: { authorization: `Bearer ${alice.token}`, 'x-pad': 'a'.repeat(12 * 1024) } }))
    expectError(r, 431, 'headers_too_large')
  })
})

describe('hygiene', () => {
  test('avatar_url must be http(s): javascript: and data: are 422', async () => {
    for (const url of ['javascript:alert(1)', 'JAVASCRIPT:alert(1)', 'data:text/html,<b>x</b>', 'ftp://x.example/a.png', '/relative.png']) {
      expectError(await s.api('PATCH', '/v1/users/me', { token: carol.token, body: { avatar_url: url } }), 422, 'validation')
    }
    const ok = await s.api('PATCH', '/v1/users/me', { token: carol.token, body: { avatar_url: 'https://cdn.example/c.png' } })
    expect(ok.body.avatar_url).toBe('https://cdn.example/c.png')
  })

  test('GET / sends a strict CSP, nosniff and frame-ancestors none', async () => {
    const res = await fetch(`${s.url}/`)
    const csp = res.headers.get('content-security-policy') ?? ''
    expect(csp).toContain("frame-ancestors 'none'")
    expect(csp).toContain("default-src 'none'")
    expect(csp).not.toContain('unsafe-inline')
    expect(csp).not.toContain('unsafe-eval')
    expect(res.headers.get('x-content-type-options')).toBe('nosniff')
    expect(csp).toContain("script-src 'self'")
    // no inline code at all: the page's scripts and styles are files of this server, served under the same CSP
    const html = await res.text()
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/)
    expect(html).not.toMatch(/<style[\s>]|\sstyle=/)
    const srcs = [...html.matchAll(/<script[^>]*\bsrc="([^"]+)"/g)].map((m) => m[1]!)
    expect(srcs.length).toBeGreaterThan(0)
    for (const src of srcs) {
      expect(src.startsWith('/assets/')).toBe(true)
      const js = await fetch(`${s.url}${src}`)
      expect(js.status).toBe(200)
      expect(js.headers.get('content-security-policy')).toBe(csp)
    }
  })

  test('deleting a message makes its attachment unreachable, by bearer and by signed URL', async () => {
    const room = await groupRoom(s.api, alice, [bob])
    const form = new FormData()
    form.append('file', new Blob(['some bytes']), 'notes.txt')
    const up = await rawJson(await fetch(`${s.url}/v1/rooms/${room.id}/attachments`, { method: 'POST', body: form, headers: { authorization: `Bearer ${alice.token}` } }))
    expect(up.status).toBe(201)
    const url = `${s.url}${up.body.attachment.url}`
    expect((await fetch(url)).status).toBe(200)
    expect((await s.api('DELETE', `/v1/rooms/${room.id}/messages/${up.body.id}`, { token: alice.token })).status).toBe(204)
    expectError(await rawJson(await fetch(url)), 404, 'not_found')
    const path = new URL(url).pathname
    expectError(await s.api('GET', path, { token: bob.token }), 404, 'not_found')
  })

  test('errors are logged without data: no SQL parameters, no message text, credentials redacted', async () => {
    const lines: string[] = []
    const db = await testDatabase()
    try {
      const config = loadConfig({ PORT: '0', HOST: '127.0.0.1', DATABASE_URL: db.url, JWT_SECRET: 'test-secret', LOG_LEVEL: 'debug', RATE_MESSAGES: '0' })
      const log = createLogger('debug', { node: 't' }, { write: (l) => lines.push(l) })
      const chat = await createChatServer(config, log)
      try {
        // a database error whose driver message quotes the parameter
        const err = await chat.database.rows(sql`select ${'secret-message-text'}::int as x`).catch((e: unknown) => e)
        log.error('query failed', { error: err })
        log.warn('socket', { url: 'ws://h/v1/ws?token=eyJabc.def.ghi&after_seq=1', sig: 'x' })
      } finally {
        await chat.close()
      }
    } finally {
      await db.drop()
    }
    const all = lines.join('\n')
    // pino's standard keys, one JSON object per line
    const first = JSON.parse(lines.find((l) => l.includes('query failed'))!) as Record<string, unknown>
    expect(first).toMatchObject({ level: 'error', msg: 'query failed', node: 't' })
    expect(new Date(String(first.time)).toISOString()).toBe(first.time as string)
    expect(all).toContain('query failed')
    expect(all).not.toContain('secret-message-text')
    expect(all).not.toContain('eyJabc')
    expect(all).toContain('token=***')
  })

  test('errorFields keeps kind, code and frames; redact hides tokens and signatures', () => {
    const drizzleLike = Object.assign(new Error('Failed query: select $1\nparams: hunter2'), { name: 'DrizzleQueryError', cause: { code: '22P02' } })
    const f = errorFields(drizzleLike)
    expect(f.code).toBe('22P02')
    expect(JSON.stringify(f)).not.toContain('hunter2')
    expect(redact('/v1/files/x?exp=1&sig=abcdef')).toBe('/v1/files/x?exp=1&sig=***')
    expect(redact('/v1/ws?token=a.b.c')).toBe('/v1/ws?token=***')
  })
})
