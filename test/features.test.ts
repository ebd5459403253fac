import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { rm } from 'node:fs/promises'
import { sql } from 'drizzle-orm'
import { sanitizeName } from '../src/chat/files'
import { groupRoom, openWs, register, startServer, TestSocket, until, type TestServer, type TestUser } from './helpers'

// per file: Bun applies a preload's default timeout to the first file only, and hooks start servers
setDefaultTimeout(60_000)

/** A real 1×1 PNG. */
const PNG = Uint8Array.from(atob('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=='), (c) => c.charCodeAt(0))

let s: TestServer
let alice: TestUser
let bob: TestUser
let eve: TestUser
let room: { id: number }

beforeAll(async () => {
  s = await startServer({ RATE_MESSAGES: '0', MAX_UPLOAD_BYTES: '65536', DATA_DIR: `/tmp/chat-test-${process.pid}` })
  ;[alice, bob, eve] = await Promise.all([register(s.api, 'alice'), register(s.api, 'bob'), register(s.api, 'eve')])
  room = await groupRoom(s.api, alice, [bob])
})
afterAll(async () => {
  await s.close()
  await rm(`/tmp/chat-test-${process.pid}`, { recursive: true, force: true })
})

const upload = (u: TestUser | null, roomId: number, file: Blob, name: string, extra: Record<string, string> = {}) => {
  const form = new FormData()
  form.append('file', file, name)
  for (const [k, v] of Object.entries(extra)) form.append(k, v)
  return fetch(`${s.url}/v1/rooms/${roomId}/attachments`, {
    method: 'POST', body: form, headers: u ? { authorization: `Bearer ${u.token}` } : {},
  })
}

describe('attachments', () => {
  test('an image upload is an image message; members download it; the signed URL works without a token', async () => {
    const watcher = await openWs(s, bob)
    const r = await upload(alice, room.id, new Blob([PNG]), 'pixel.png', { content: 'look', client_msg_id: 'up-1' })
    expect(r.status).toBe(201)
    const m = (await r.json()) as { id: number; type: string; content: string; attachment: { url: string; name: string; size: number; mime: string } }
    expect(m).toMatchObject({ type: 'image', content: 'look', attachment: { name: 'pixel.png', size: PNG.length, mime: 'image/png' } })
    expect((await watcher.next('message.created')).message.id).toBe(m.id)
    const id = m.attachment.url.split('/').pop()!.split('?')[0]!
    const byToken = await fetch(`${s.url}/v1/files/${id}`, { headers: { authorization: `Bearer ${bob.token}` } })
    expect(byToken.status).toBe(200)
    expect(byToken.headers.get('content-type')).toBe('image/png')
    expect(byToken.headers.get('content-disposition')).toStartWith('inline;')
    expect(new Uint8Array(await byToken.arrayBuffer())).toEqual(PNG)
    const bySig = await fetch(`${s.url}${m.attachment.url}`)
    expect(bySig.status).toBe(200)
    // the same client_msg_id again: the first message, not a second copy
    const again = await upload(alice, room.id, new Blob([PNG]), 'pixel.png', { content: 'look', client_msg_id: 'up-1' })
    expect(again.status).toBe(200)
    expect(((await again.json()) as { id: number }).id).toBe(m.id)
    watcher.close()
  })

  test('type comes from the bytes: a text file named x.png is a file, downloaded as an attachment', async () => {
    const r = await upload(alice, room.id, new Blob(['just text, not a picture']), 'x.png')
    expect(r.status).toBe(201)
    const m = (await r.json()) as { type: string; attachment: { mime: string; url: string } }
    expect(m.type).toBe('file')
    expect(m.attachment.mime).toBe('application/octet-stream')
    const d = await fetch(`${s.url}${m.attachment.url}`)
    expect(d.headers.get('content-disposition')).toStartWith('attachment;')
    expect(d.headers.get('x-content-type-options')).toBe('nosniff')
  })

  test('path traversal in names is harmless', async () => {
    expect(sanitizeName('../../etc/passwd')).toBe('passwd')
    expect(sanitizeName('..\\..\\boot.ini')).toBe('boot.ini')
    expect(sanitizeName('..')).toBe('file')
    expect(sanitizeName('a\u0000b\nc.txt')).toBe('a_b_c.txt')
    const r = await upload(alice, room.id, new Blob(['secret']), '../../../../etc/passwd')
    const m = (await r.json()) as { attachment: { name: string; url: string } }
    expect(m.attachment.name).toBe('passwd')
    const d = await fetch(`${s.url}${m.attachment.url}`)
    expect(await d.text()).toBe('secret')
  })

  test('oversize → 413 too_large with the error body; empty → 422; no file → 422', async () => {
    const big = await upload(alice, room.id, new Blob([new Uint8Array(70_000)]), 'big.bin')
    expect(big.status).toBe(413)
    expect(await big.json()).toEqual({ detail: expect.any(String), code: 'too_large' })
    const huge = await upload(alice, room.id, new Blob([new Uint8Array(300_000)]), 'huge.bin')
    expect(huge.status).toBe(413)
    expect(((await huge.json()) as { code: string }).code).toBe('too_large')
    const empty = await upload(alice, room.id, new Blob([]), 'empty.txt')
    expect(empty.status).toBe(422)
    const form = new FormData()
    form.append('content', 'no file')
    const none = await fetch(`${s.url}/v1/rooms/${room.id}/attachments`, { method: 'POST', body: form, headers: { authorization: `Bearer ${alice.token}` } })
    expect(none.status).toBe(422)
  })

  test('downloads: non-member 403 not_member, no token 401, bad or expired signature 401, unknown 404', async () => {
    const r = await upload(alice, room.id, new Blob([PNG]), 'p.png')
    const m = (await r.json()) as { attachment: { url: string } }
    const id = m.attachment.url.split('/').pop()!.split('?')[0]!
    const asEve = await fetch(`${s.url}/v1/files/${id}`, { headers: { authorization: `Bearer ${eve.token}` } })
    expect([asEve.status, ((await asEve.json()) as { code: string }).code]).toEqual([403, 'not_member'])
    expect((await fetch(`${s.url}/v1/files/${id}`)).status).toBe(401)
    expect((await fetch(`${s.url}/v1/files/${id}?exp=9999999999&sig=${'0'.repeat(64)}`)).status).toBe(401)
    const expired = m.attachment.url.replace(/exp=\d+/, 'exp=1000')
    expect((await fetch(`${s.url}${expired}`)).status).toBe(401)
    expect((await fetch(`${s.url}/v1/files/00000000-0000-0000-0000-000000000000`, { headers: { authorization: `Bearer ${alice.token}` } })).status).toBe(404)
  })

  test('uploads: non-member 403, no token 401', async () => {
    expect((await upload(eve, room.id, new Blob([PNG]), 'p.png')).status).toBe(403)
    expect((await upload(null, room.id, new Blob([PNG]), 'p.png')).status).toBe(401)
  })
})

describe('deleting a room', () => {
  test('answers at once; its messages, files and their bytes are purged in the background', async () => {
    const r = await groupRoom(s.api, alice, [bob])
    const png = new Blob([Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, ...new Uint8Array(64)])])
    const up = await upload(alice, r.id, png, 'x.png')
    expect(up.status).toBe(201)
    for (let i = 0; i < 5; i++) expect((await s.api('POST', `/v1/rooms/${r.id}/messages`, { token: bob.token, body: { content: `m${i}` } })).status).toBe(201)
    const [{ key }] = await s.chat.database.rows<{ key: string }>(sql`select storage_key as key from files where room_id = ${r.id}`) as [{ key: string }]
    expect((await s.api('DELETE', `/v1/rooms/${r.id}`, { token: alice.token })).status).toBe(204)
    expect((await s.api('GET', `/v1/rooms/${r.id}/messages`, { token: alice.token })).status).toBe(404)
    const left = async () => {
      const [row] = await s.chat.database.rows<{ m: number; f: number; p: number }>(sql`select
        (select count(*)::int from messages where room_id = ${r.id}) as m,
        (select count(*)::int from files where room_id = ${r.id}) as f,
        (select count(*)::int from room_purges where room_id = ${r.id}) as p`)
      return row!
    }
    await until(async () => { const l = await left(); return l.m + l.f + l.p === 0 }, 20_000, 'the purge')
    expect(await Bun.file(`/tmp/chat-test-${process.pid}/uploads/${key}`).exists()).toBe(false)
  })
})

describe('reactions', () => {
  test('a set of emoji per message with counts and me; pushed as message.updated', async () => {
    const sent = await s.api('POST', `/v1/rooms/${room.id}/messages`, { token: alice.token, body: { content: 'react to me' } })
    const mid = sent.body.id
    const watcher = await TestSocket.open(`${s.wsUrl}/v1/ws?token=${alice.token}`)
    const thumbs = encodeURIComponent('👍')
    const a = await s.api('PUT', `/v1/rooms/${room.id}/messages/${mid}/reactions/${thumbs}`, { token: alice.token })
    expect(a.status).toBe(200)
    expect(a.body.reactions).toEqual([{ emoji: '👍', count: 1, me: true, user_ids: [alice.id] }])
    const upd = await watcher.next('message.updated')
    expect(upd.message.reactions[0]).toMatchObject({ emoji: '👍', count: 1 })
    const b = await s.api('PUT', `/v1/rooms/${room.id}/messages/${mid}/reactions/${thumbs}`, { token: bob.token })
    expect(b.body.reactions).toEqual([{ emoji: '👍', count: 2, me: true, user_ids: [alice.id, bob.id] }])
    // the same reaction twice is still one
    const again = await s.api('PUT', `/v1/rooms/${room.id}/messages/${mid}/reactions/${thumbs}`, { token: bob.token })
    expect(again.body.reactions[0].count).toBe(2)
    const list = await s.api('GET', `/v1/rooms/${room.id}/messages?limit=1`, { token: alice.token })
    expect(list.body.messages[0].reactions).toEqual([{ emoji: '👍', count: 2, me: true, user_ids: [alice.id, bob.id] }])
    const off = await s.api('DELETE', `/v1/rooms/${room.id}/messages/${mid}/reactions/${thumbs}`, { token: alice.token })
    expect(off.body.reactions).toEqual([{ emoji: '👍', count: 1, me: false, user_ids: [bob.id] }])
    watcher.close()
  })

  test('bad emoji 422, non-member 403, unknown message 404', async () => {
    const sent = await s.api('POST', `/v1/rooms/${room.id}/messages`, { token: alice.token, body: { content: 'x' } })
    const path = `/v1/rooms/${room.id}/messages/${sent.body.id}/reactions`
    expect((await s.api('PUT', `${path}/${encodeURIComponent('not an emoji')}`, { token: alice.token })).status).toBe(422)
    expect((await s.api('PUT', `${path}/${encodeURIComponent('👍')}`, { token: eve.token })).body.code).toBe('not_member')
    expect((await s.api('PUT', `/v1/rooms/${room.id}/messages/99999999/reactions/${encodeURIComponent('👍')}`, { token: alice.token })).status).toBe(404)
  })
})

describe('settings and retention', () => {
  test('defaults; own flags for anyone; retention for owner/admin only', async () => {
    const g = await s.api('GET', `/v1/rooms/${room.id}/settings`, { token: bob.token })
    expect(g.body).toEqual({ notifications: true, read_receipts: true, retention_days: null })
    const p = await s.api('PATCH', `/v1/rooms/${room.id}/settings`, { token: bob.token, body: { notifications: false } })
    expect(p.body).toEqual({ notifications: false, read_receipts: true, retention_days: null })
    expect((await s.api('GET', `/v1/rooms/${room.id}/settings`, { token: alice.token })).body.notifications).toBe(true)
    const denied = await s.api('PATCH', `/v1/rooms/${room.id}/settings`, { token: bob.token, body: { retention_days: 7 } })
    expect([denied.status, denied.body.code]).toEqual([403, 'forbidden'])
    for (const bad of [0, 3651, 'x', 1.5]) {
      expect((await s.api('PATCH', `/v1/rooms/${room.id}/settings`, { token: alice.token, body: { retention_days: bad } })).status).toBe(422)
    }
    expect((await s.api('PATCH', `/v1/rooms/${room.id}/settings`, { token: alice.token, body: { retention_days: 30 } })).body.retention_days).toBe(30)
    expect((await s.api('PATCH', `/v1/rooms/${room.id}/settings`, { token: alice.token, body: { retention_days: null } })).body.retention_days).toBe(null)
    expect((await s.api('GET', `/v1/rooms/${room.id}/settings`, { token: eve.token })).body.code).toBe('not_member')
  })

  test('the sweep deletes messages older than the retention, and only those', async () => {
    const r = await groupRoom(s.api, alice)
    for (let i = 0; i < 5; i++) await s.api('POST', `/v1/rooms/${r.id}/messages`, { token: alice.token, body: { content: `m${i}` } })
    await s.api('PATCH', `/v1/rooms/${r.id}/settings`, { token: alice.token, body: { retention_days: 1 } })
    await s.chat.database.rows(sql`update messages set created_at = now() - interval '2 days' where room_id = ${r.id} and seq <= 3`)
    expect(await s.chat.settings.sweepRetention(2)).toBe(3)
    const left = await s.api('GET', `/v1/rooms/${r.id}/messages`, { token: alice.token })
    expect(left.body.messages.map((m: { seq: number }) => m.seq)).toEqual([4, 5])
  })

  test('read receipts off: the read is stored but not relayed', async () => {
    const r = await groupRoom(s.api, alice, [bob])
    const sent = await s.api('POST', `/v1/rooms/${r.id}/messages`, { token: alice.token, body: { content: 'read me' } })
    const a = await TestSocket.open(`${s.wsUrl}/v1/ws?token=${alice.token}`)
    await s.api('PATCH', `/v1/rooms/${r.id}/settings`, { token: bob.token, body: { read_receipts: false } })
    const res = await s.api('POST', `/v1/rooms/${r.id}/read`, { token: bob.token, body: { seq: sent.body.seq } })
    expect(res.body).toEqual({ last_read_seq: 1, unread_count: 0 })
    await s.api('PATCH', `/v1/rooms/${r.id}/settings`, { token: alice.token, body: { read_receipts: true } })
    a.send({ type: 'ping' })
    await a.next('pong')
    expect(a.all('read')).toEqual([])
    a.close()
  })
})

describe('presence', () => {
  test('GET /rooms/:id/presence and presence events to co-members', async () => {
    const r = await groupRoom(s.api, alice, [bob])
    const a = await openWs(s, alice)
    const p = await s.api('GET', `/v1/rooms/${r.id}/presence`, { token: alice.token })
    expect(p.status).toBe(200)
    const byId = new Map(p.body.members.map((m: { user_id: number }) => [m.user_id, m]))
    expect(byId.get(alice.id)).toMatchObject({ nickname: 'alice', online: true })
    expect(byId.get(bob.id)).toMatchObject({ nickname: 'bob', online: false })
    const b = await openWs(s, bob)
    expect(await a.next((f) => f.type === 'presence' && f.user_id === bob.id)).toMatchObject({ status: 'online', nickname: 'bob' })
    b.close()
    const off = await a.next((f) => f.type === 'presence' && f.user_id === bob.id && f.status === 'offline')
    expect(typeof off.last_seen).toBe('string')
    expect((await s.api('GET', `/v1/rooms/${r.id}/presence`, { token: eve.token })).body.code).toBe('not_member')
    a.close()
  })
})

describe('typing', () => {
  test('throttled to one relay per second; stops relay is_typing false', async () => {
    const r = await groupRoom(s.api, alice, [bob])
    const a = await openWs(s, alice)
    const b = await openWs(s, bob)
    for (let i = 0; i < 5; i++) a.send({ type: 'typing', room_id: r.id, is_typing: true })
    a.send({ type: 'typing', room_id: r.id, is_typing: false })
    await until(() => b.all('typing').length >= 2, 15_000, 'typing frames')
    expect(b.all('typing').map((f) => f.is_typing)).toEqual([true, false])
    a.send({ type: 'typing', room_id: 999999, is_typing: true })
    expect((await a.next('error')).code).toBe('not_found')
    a.close()
    b.close()
  })

  test('the throttle is per user: two sockets of one user typing relay once', async () => {
    const r = await groupRoom(s.api, alice, [bob])
    const [a1, a2, b] = await Promise.all([openWs(s, alice), openWs(s, alice), openWs(s, bob)])
    a1.send({ type: 'typing', room_id: r.id, is_typing: true })
    a2.send({ type: 'typing', room_id: r.id, is_typing: true })
    await b.next('typing')
    // each socket's frames are handled in order: a relay of its typing would reach b before its message
    a1.send({ type: 'message.send', room_id: r.id, content: 'from a1' })
    a2.send({ type: 'message.send', room_id: r.id, content: 'from a2' })
    await b.waitCount('message.created', 2)
    expect(b.all('typing').filter((f) => f.is_typing)).toHaveLength(1)
    ;[a1, a2, b].forEach((x) => x.close())
  })

  test('a socket that closes while typing clears its indicator', async () => {
    const r = await groupRoom(s.api, alice, [bob])
    const a = await openWs(s, alice)
    const b = await openWs(s, bob)
    a.send({ type: 'typing', room_id: r.id, is_typing: true })
    await b.next('typing')
    a.close()
    expect(await b.next((f) => f.type === 'typing' && f.room_id === r.id)).toMatchObject({ is_typing: false, user_id: alice.id })
    b.close()
  })
})

describe('operations', () => {
  test('/docs serves the OpenAPI UI and /docs/json the document with every REST route', async () => {
    const ui = await fetch(`${s.url}/docs`)
    expect(ui.status).toBe(200)
    expect(ui.headers.get('content-type')).toContain('text/html')
    const doc = (await (await fetch(`${s.url}/docs/json`)).json()) as { openapi: string; paths: Record<string, unknown> }
    expect(doc.openapi).toStartWith('3.')
    for (const p of ['/v1/auth/register', '/v1/rooms/{id}/messages', '/v1/rooms/{id}/search', '/v1/files/{id}', '/v1/rooms']) expect(doc.paths[p]).toBeDefined()
    // no trailing-slash twins, and the UI's own assets are not API routes
    expect(Object.keys(doc.paths).filter((p) => p.length > 1 && p.endsWith('/'))).toEqual([])
    expect(Object.keys(doc.paths).filter((p) => p.startsWith('/docs'))).toEqual([])
  })

  test('/docs works offline: every script and stylesheet it loads comes from this server', async () => {
    const html = await (await fetch(`${s.url}/docs`)).text()
    const refs = [...html.matchAll(/<(?:script|link)\b[^>]*\b(?:src|href)="([^"]+)"/g)].map((m) => m[1]!)
    expect(refs.length).toBeGreaterThanOrEqual(2)
    for (const ref of refs) {
      expect(ref).toStartWith('/') // same origin: no CDN
      expect(ref).not.toStartWith('//')
      const r = await fetch(`${s.url}${ref}`)
      expect(r.status).toBe(200)
      expect((await r.arrayBuffer()).byteLength).toBeGreaterThan(10_000)
    }
    expect((await fetch(`${s.url}/docs/assets/..%2Fpackage.json`)).status).toBe(404)
    expect((await fetch(`${s.url}/docs/assets/index.html`)).status).toBe(404)
  })

  test('/metrics is Prometheus text with the node’s figures', async () => {
    const r = await fetch(`${s.url}/metrics`)
    expect(r.status).toBe(200)
    const text = await r.text()
    for (const m of ['chat_connections', 'chat_rooms_subscribed', 'chat_messages_in_total', 'chat_messages_out_total', 'chat_writer_batches_total', 'chat_writer_flush_ms_avg', 'chat_writer_errors_total']) {
      expect(text).toMatch(new RegExp(`^${m}\\{node="[^"]+"\\} [0-9.]+$`, 'm'))
    }
  })

  test('/metrics has latency histograms in seconds and the process figures, all labelled with the node', async () => {
    expect((await s.api('POST', `/v1/rooms/${room.id}/messages`, { token: alice.token, body: { content: 'measured' } })).status).toBe(201)
    const r = await fetch(`${s.url}/metrics`)
    expect(r.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8')
    const text = await r.text()
    for (const h of ['chat_writer_send_to_commit_seconds', 'chat_commit_to_publish_seconds', 'chat_writer_batch_size']) {
      expect(text).toContain(`# TYPE ${h} histogram`)
      expect(text).toMatch(new RegExp(`^${h}_bucket\\{le="\\+Inf",node="[^"]+"\\} [1-9][0-9]*$`, 'm'))
      expect(Number(new RegExp(`^${h}_count\\{node="[^"]+"\\} ([0-9]+)$`, 'm').exec(text)?.[1])).toBeGreaterThanOrEqual(1)
    }
    // relayed events exist only between nodes; the histogram is there, empty or not
    expect(text).toContain('# TYPE chat_relay_lag_seconds histogram')
    expect(text).toMatch(/^process_cpu_seconds_total\{node="[^"]+"\} [0-9.e+-]+$/m)
    expect(text).toMatch(/^chat_uptime_seconds\{node="[^"]+"\} [0-9.]+$/m)
  })
})

describe('web page', () => {
  test('GET / serves the chat page', async () => {
    const r = await fetch(`${s.url}/`)
    expect(r.status).toBe(200)
    expect(r.headers.get('content-type')).toContain('text/html')
    const html = await r.text()
    expect(html).toContain('<div id="app">')
    expect(html).toMatch(/<script type="module" src="\/assets\/main-[\w-]+\.js">/)
  })
})

describe('CORS (CORS_ORIGINS)', () => {
  let c: TestServer
  beforeAll(async () => {
    c = await startServer({ CORS_ORIGINS: 'https://app.example.com, http://localhost:5173' })
  })
  afterAll(() => c.close())

  test('a preflight from a listed origin is allowed, with the headers the API needs', async () => {
    const r = await fetch(`${c.url}/v1/rooms`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
    })
    expect(r.status).toBe(204)
    expect(r.headers.get('access-control-allow-origin')).toBe('https://app.example.com')
    expect(r.headers.get('access-control-allow-methods')).toContain('POST')
    expect(r.headers.get('access-control-allow-headers')).toContain('authorization')
    expect(r.headers.get('access-control-allow-credentials')).toBeNull()
  })

  test('a real request from a listed origin carries allow-origin; another origin gets none', async () => {
    const ok = await fetch(`${c.url}/healthz`, { headers: { origin: 'http://localhost:5173' } })
    expect(ok.headers.get('access-control-allow-origin')).toBe('http://localhost:5173')
    expect(ok.headers.get('access-control-expose-headers')).toContain('retry-after')
    const other = await fetch(`${c.url}/v1/rooms`, { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } })
    expect(other.headers.get('access-control-allow-origin')).toBeNull()
  })

  test('unset: same origin only', async () => {
    const r = await fetch(`${s.url}/v1/rooms`, { method: 'OPTIONS', headers: { origin: 'https://app.example.com', 'access-control-request-method': 'GET' } })
    expect(r.headers.get('access-control-allow-origin')).toBeNull()
  })
})
