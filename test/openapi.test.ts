/**
 * The published documents against the running server: /docs/json validates
 * as OpenAPI (@seriousme/openapi-schema-validator), /docs/asyncapi.json as
 * AsyncAPI (@asyncapi/parser); every route of the app is documented; real
 * requests through every documented operation (successes and errors) answer
 * a documented status with a body its schema accepts, and every frame a real
 * socket receives matches its AsyncAPI message. Bodies are checked by Ajv
 * against the documents' own schemas, closed (additionalProperties: false)
 * so that an undocumented field fails too.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { Parser } from '@asyncapi/parser'
import { Validator } from '@seriousme/openapi-schema-validator'
import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020'
import addFormats from 'ajv-formats'
import { rm } from 'node:fs/promises'
import { hasBadChars } from '../src/lib/text'
import { startServer, TestSocket, type ApiResponse, type Frame, type TestServer, type TestUser } from './helpers'

// per file: Bun applies a preload's default timeout to the first file only, and hooks start servers
setDefaultTimeout(60_000)

type Json = { [k: string]: unknown }
type Media = { schema?: Json; example?: unknown }
type ResponseObject = { $ref?: string; description?: string; content?: Record<string, Media> }
type Operation = { security?: unknown[]; parameters?: { name: string; in: string; schema: Json }[]; requestBody?: { content: Record<string, Media> }; responses: Record<string, ResponseObject> }
type OpenApi = { paths: Record<string, Record<string, Operation>>; components: { responses: Record<string, ResponseObject> } } & Json
type AsyncApi = { channels: Record<string, { address: string }>; components: { messages: Record<string, { payload: Json; examples?: { payload: unknown }[] }> } } & Json

/** A real 1×1 PNG. */
const PNG = Uint8Array.from(atob('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=='), (c) => c.charCodeAt(0))
const DATA_DIR = `/tmp/chat-openapi-${process.pid}`
/** Statuses no request of a test can produce on demand (a rate limit, a dependency down): checked when seen, not required. */
const NOT_DRIVEN = new Set(['429', '503'])

let s: TestServer
let openapi: OpenApi
let asyncapi: AsyncApi
const sockets: TestSocket[] = []

/**
 * A copy of a document for Ajv: local `$ref`s made absolute (`id#/…`), so any
 * part compiles alone, and every object schema closed.
 */
function forAjv<T>(doc: T, id: string): T {
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk)
    if (v === null || typeof v !== 'object') return v
    const o: Json = Object.fromEntries(Object.entries(v).map(([k, x]) => [k, k === '$ref' && typeof x === 'string' && x.startsWith('#') ? `${id}${x}` : walk(x)]))
    if (o.type === 'object' && o.properties && !('additionalProperties' in o)) o.additionalProperties = false
    return o
  }
  return walk(doc) as T
}

const ajv = new Ajv2020({ strict: false, allErrors: true, validateSchema: false })
addFormats(ajv)
ajv.addFormat('text', { type: 'string', validate: (v: string) => !hasBadChars(v) })
let oa: OpenApi // the Ajv copies
let aa: AsyncApi
const compiled = new Map<object, ValidateFunction>()
const validator = (schema: Json): ValidateFunction => {
  let v = compiled.get(schema)
  if (!v) compiled.set(schema, (v = ajv.compile(schema)))
  return v
}
/** Ajv's verdict on `value`: null when valid, else its errors as text. */
const verdict = (schema: Json, value: unknown): string | null => {
  const v = validator(schema)
  return v(value) ? null : ajv.errorsText(v.errors, { separator: '; ' })
}

/** The documented operation of a real request: the template with the fewest parameters that matches. */
function operationOf(method: string, pathname: string): { template: string; op: Operation } | null {
  let best: { template: string; op: Operation; params: number } | null = null
  for (const [template, item] of Object.entries(oa.paths)) {
    const op = item[method.toLowerCase()]
    if (!op) continue
    const re = new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`)
    const params = (template.match(/\{/g) ?? []).length
    if (re.test(pathname) && (!best || params < best.params)) best = { template, op, params }
  }
  return best
}

const resolveResponse = (r: ResponseObject, doc: OpenApi = oa): ResponseObject =>
  r.$ref ? doc.components.responses[r.$ref.split('/').pop()!]! : r

/** Observed statuses per operation ("get /v1/rooms/{id}" → statuses). */
const observed = new Map<string, Set<string>>()

/**
 * Checks one real answer against the document: its status is documented for
 * the operation, and its body has a documented media type whose schema
 * accepts it (no body where none is documented).
 */
function checkAnswer(method: string, url: string, status: number, contentType: string | null, body: unknown, text: string): void {
  const pathname = new URL(url, 'http://x').pathname
  const found = operationOf(method, pathname)
  if (!found) throw new Error(`${method} ${pathname} is not in the OpenAPI document`)
  const key = `${method.toLowerCase()} ${found.template}`
  const raw = found.op.responses[String(status)]
  if (!raw) throw new Error(`${key} answered ${status}, which is not documented (body ${text.slice(0, 300)})`)
  if (!observed.has(key)) observed.set(key, new Set())
  observed.get(key)!.add(String(status))
  const res = resolveResponse(raw)
  if (!res.content) {
    if (text !== '') throw new Error(`${key} ${status} has a body where none is documented: ${text.slice(0, 200)}`)
    return
  }
  const type = (contentType ?? '').split(';')[0]!.trim()
  const media = res.content[type] ?? res.content['*/*']
  if (!media) throw new Error(`${key} ${status} answered ${type}, documented: ${Object.keys(res.content).join(', ')}`)
  if (!media.schema || res.content['*/*'] === media) return // bytes of any type: the status and presence are what is documented
  const problem = verdict(media.schema, type === 'application/json' ? body : text)
  if (problem) throw new Error(`${key} ${status}: the body does not match its schema: ${problem}\n${text.slice(0, 600)}`)
}

type Opts = { token?: string; body?: unknown; raw?: string; headers?: Record<string, string> }

/** A request whose answer is checked against the document. */
async function call(method: string, path: string, opts: Opts = {}): Promise<ApiResponse> {
  const headers: Record<string, string> = { ...opts.headers }
  if (opts.token) headers.authorization = `Bearer ${opts.token}`
  const body = opts.raw ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body))
  if (body !== undefined) headers['content-type'] ??= 'application/json'
  return send(method, path, { method, headers, body })
}

async function send(method: string, path: string, init: RequestInit): Promise<ApiResponse> {
  const res = await fetch(s.url + path, { ...init, keepalive: false })
  const text = await res.text()
  let parsed: unknown = text
  try {
    parsed = text ? JSON.parse(text) : null
  } catch {}
  checkAnswer(method, path, res.status, res.headers.get('content-type'), parsed, text)
  return { status: res.status, body: parsed, headers: res.headers } as ApiResponse
}

/** An upload (multipart), checked like any call. */
function upload(u: TestUser | null, roomId: number, file: Blob, name: string, extra: Record<string, string> = {}) {
  const form = new FormData()
  form.append('file', file, name)
  for (const [k, v] of Object.entries(extra)) form.append(k, v)
  return send('POST', `/v1/rooms/${roomId}/attachments`, { method: 'POST', body: form, headers: u ? { authorization: `Bearer ${u.token}` } : {} })
}

async function socket(u: TestUser, query = ''): Promise<TestSocket> {
  const ws = await TestSocket.open(`${s.wsUrl}/v1/ws?token=${u.token}${query}`)
  sockets.push(ws)
  return ws
}

beforeAll(async () => {
  s = await startServer({ RATE_MESSAGES: '0', MAX_UPLOAD_BYTES: '65536', DATA_DIR })
  openapi = (await (await fetch(`${s.url}/docs/json`)).json()) as OpenApi
  asyncapi = (await (await fetch(`${s.url}/docs/asyncapi.json`)).json()) as AsyncApi
  oa = forAjv(openapi, 'openapi.json')
  aa = forAjv(asyncapi, 'asyncapi.json')
  ajv.addSchema(oa, 'openapi.json')
  ajv.addSchema(aa, 'asyncapi.json')
})
afterAll(async () => {
  for (const ws of sockets) ws.close()
  await s?.close()
  await rm(DATA_DIR, { recursive: true, force: true })
})

describe('the documents', () => {
  test('/docs/json is a valid OpenAPI 3.1 document', async () => {
    const v = new Validator()
    const res = await v.validate(structuredClone(openapi))
    expect(res.errors ?? []).toEqual([])
    expect(res.valid).toBe(true)
    expect(v.version).toBe('3.1')
  })

  test('/docs/asyncapi.json is a valid AsyncAPI 3 document', async () => {
    const { document, diagnostics } = await new Parser().parse(JSON.stringify(asyncapi))
    // severity 0 = error; 1+ are warnings and hints (such as "a newer AsyncAPI version exists")
    expect(diagnostics.filter((d) => d.severity === 0).map((d) => `${d.message} at ${d.path.join('.')}`)).toEqual([])
    expect(document).toBeDefined()
    expect(document!.version()).toBe('3.0.0')
    expect(document!.channels().all().map((c) => c.address()).sort()).toEqual(['/v1/rooms/{id}/ws', '/v1/ws'])
  })

  test('/docs links the AsyncAPI document, and docs/protocol.md names both', async () => {
    const description = String((openapi.info as Json).description)
    expect(description).toContain('/docs/asyncapi.json')
    expect(description).not.toMatch(/["<>]/) // the UI page writes it into <meta> attributes as it is
    expect(await (await fetch(`${s.url}/docs`)).text()).toContain('/docs/json')
    const protocol = await Bun.file(`${import.meta.dir}/../docs/protocol.md`).text()
    expect(protocol).toContain('/docs/asyncapi.json')
    expect(protocol).toContain('/docs/json')
  })

  test('no path has a trailing slash; every route of the app is in a document', () => {
    const paths = Object.keys(openapi.paths)
    expect(paths.filter((p) => p.length > 1 && p.endsWith('/'))).toEqual([])
    const addresses = Object.values(asyncapi.channels).map((c) => c.address)
    let routes = 0
    for (const r of s.chat.app.routes) {
      // CORS preflights are not API operations
      if (r.method === 'OPTIONS' || (r.hooks.detail as { hide?: boolean } | undefined)?.hide) continue
      const path = r.path.replace(/:([^/]+)/g, '{$1}')
      // a WebSocket route (Elysia's ws()) is described by the AsyncAPI document
      if (r.method === 'WS' || r.method === 'SUBSCRIBE') expect(addresses).toContain(path)
      else expect(openapi.paths[path]?.[r.method.toLowerCase()], `${r.method} ${r.path}`).toBeDefined()
      routes++
    }
    expect(routes).toBeGreaterThanOrEqual(50)
    // the WebSocket endpoints themselves, whether or not they are Elysia routes
    expect(addresses).toContain('/v1/ws')
  })

  test('every operation has a summary, a tag, a success answer with a schema or none, and error answers of {detail, code}', () => {
    for (const [path, item] of Object.entries(openapi.paths)) {
      for (const [method, op] of Object.entries(item)) {
        const where = `${method} ${path}`
        expect((op as Json).summary, where).toBeString()
        expect(((op as Json).tags as string[] | undefined)?.length, where).toBe(1)
        const statuses = Object.keys(op.responses)
        expect(statuses.some((st) => st.startsWith('2')), where).toBe(true)
        for (const st of statuses) {
          const res = resolveResponse(op.responses[st]!, openapi)
          if (st.startsWith('2') && st !== '204') expect(res.content, `${where} ${st}`).toBeDefined()
          if (Number(st) >= 400) expect(res.content?.['application/json']?.schema, `${where} ${st}`).toEqual({ $ref: '#/components/schemas/Error' })
        }
        if (['post', 'put', 'patch'].includes(method) && op.requestBody) {
          const media = Object.values(op.requestBody.content)
          expect(media.length, where).toBe(1)
          expect(media[0]!.schema, where).toBeDefined()
        }
      }
    }
  })

  test('every example in both documents matches its schema', () => {
    let n = 0
    const media = (m: Media, where: string) => {
      if (m.example === undefined || !m.schema) return
      expect(verdict(m.schema, m.example), where).toBeNull()
      n++
    }
    for (const [path, item] of Object.entries(oa.paths)) {
      for (const [method, op] of Object.entries(item)) {
        for (const [type, m] of Object.entries(op.requestBody?.content ?? {})) media(m, `${method} ${path} request ${type}`)
        for (const [st, r] of Object.entries(op.responses)) for (const [type, m] of Object.entries(r.content ?? {})) media(m, `${method} ${path} ${st} ${type}`)
      }
    }
    for (const [name, r] of Object.entries(oa.components.responses)) for (const m of Object.values(r.content ?? {})) media(m, name)
    for (const [name, msg] of Object.entries(aa.components.messages)) {
      for (const ex of msg.examples ?? []) {
        expect(verdict(msg.payload, ex.payload), name).toBeNull()
        n++
      }
    }
    expect(n).toBeGreaterThan(80)
  })
})

// ---- real traffic -----------------------------------------------------------

let alice: TestUser
let bob: TestUser
let carol: TestUser // a stranger to every fixture
let dave: TestUser
let erin: TestUser
/** fixtures the error pass below acts on: a private group room (alice owner, bob member), a message in it, a private space, an upload */
const fx = { room: 0, message: 0, space: 0, file: '', fileUrl: '' }

/** A registered user, through the checked client. */
async function user(name: string): Promise<TestUser> {
  const email = `${name}.${Date.now()}.${Math.random().toString(36).slice(2, 6)}@example.com`
  const r = await call('POST', '/v1/auth/register', { body: { email, password: 'password123', nickname: name } })
  expect(r.status).toBe(201)
  return { id: r.body.user.id, token: r.body.access, refresh: r.body.refresh, email, nickname: name }
}

describe('every documented operation against real answers', () => {
  test('auth, users', async () => {
    ;[alice, bob, carol, dave, erin] = (await Promise.all(['alice', 'bob', 'carol', 'dave', 'erin'].map(user))) as [TestUser, TestUser, TestUser, TestUser, TestUser]
    await socket(alice)
    await socket(bob)
    expect((await call('POST', '/v1/auth/register', { body: { email: alice.email, password: 'password123', nickname: 'again' } })).status).toBe(409)
    expect((await call('POST', '/v1/auth/login', { body: { email: alice.email, password: 'password123' } })).status).toBe(200)
    expect((await call('POST', '/v1/auth/login', { body: { email: alice.email, password: 'wrong-password' } })).status).toBe(401)
    const login = await call('POST', '/v1/auth/login', { body: { email: erin.email, password: 'password123' } })
    const rotated = await call('POST', '/v1/auth/refresh', { body: { refresh: login.body.refresh } })
    expect(rotated.status).toBe(200)
    expect((await call('POST', '/v1/auth/refresh', { body: { refresh: login.body.refresh } })).status).toBe(401) // reuse revokes the login
    const other = await call('POST', '/v1/auth/login', { body: { email: erin.email, password: 'password123' } })
    expect((await call('POST', '/v1/auth/logout', { token: other.body.access, body: { refresh: other.body.refresh } })).status).toBe(204)

    expect((await call('GET', '/v1/users/me', { token: alice.token })).status).toBe(200)
    expect((await call('PATCH', '/v1/users/me', { token: alice.token, body: { bio: 'hi', avatar_url: 'https://example.com/a.png' } })).status).toBe(200)
    expect((await call('GET', `/v1/users/${bob.id}`, { token: alice.token })).status).toBe(200)
    expect((await call('GET', '/v1/users?query=bo&limit=5', { token: alice.token })).status).toBe(200)
  })

  test('rooms, moderation, presence, settings', async () => {
    const room = await call('POST', '/v1/rooms', { token: alice.token, body: { type: 'group', name: 'fixture', member_ids: [bob.id] } })
    expect(room.status).toBe(201)
    fx.room = room.body.id
    const pub = await call('POST', '/v1/rooms', { token: alice.token, body: { type: 'group', name: 'post 1', visibility: 'public', external_id: 'post:1' } })
    expect(pub.status).toBe(201)
    expect((await call('POST', '/v1/rooms', { token: carol.token, body: { type: 'group', name: 'post 1', external_id: 'post:1' } })).status).toBe(200)
    expect((await call('POST', '/v1/rooms', { token: alice.token, body: { type: 'group', name: 'secret', external_id: 'secret:1' } })).status).toBe(201)
    expect((await call('POST', '/v1/rooms', { token: carol.token, body: { type: 'group', name: 'secret', external_id: 'secret:1' } })).status).toBe(409)
    expect((await call('POST', '/v1/rooms', { token: alice.token, body: { type: 'direct', member_ids: [dave.id] } })).status).toBe(201)
    expect((await call('POST', '/v1/rooms', { token: alice.token, body: { type: 'direct', member_ids: [dave.id] } })).status).toBe(200)
    expect((await call('POST', '/v1/rooms', { token: alice.token, body: { type: 'group', name: 'x', member_ids: [2 ** 40] } })).status).toBe(404)

    const page = await call('GET', '/v1/rooms?limit=1', { token: alice.token })
    expect(page.status).toBe(200)
    expect((await call('GET', `/v1/rooms?limit=50&cursor=${encodeURIComponent(page.body.next_cursor)}`, { token: alice.token })).status).toBe(200)
    expect((await call('GET', '/v1/rooms?cursor=forged', { token: alice.token })).status).toBe(422)
    expect((await call('GET', '/v1/rooms/lookup?external_id=post:1', { token: carol.token })).status).toBe(200)
    expect((await call('GET', '/v1/rooms/lookup?external_id=nothing', { token: carol.token })).status).toBe(404)
    expect((await call('GET', `/v1/rooms/${fx.room}`, { token: bob.token })).status).toBe(200)
    expect((await call('PATCH', `/v1/rooms/${fx.room}`, { token: alice.token, body: { name: 'fixture!', description: 'for the docs' } })).status).toBe(200)
    expect((await call('GET', `/v1/rooms/${fx.room}/members`, { token: bob.token })).status).toBe(200)
    expect((await call('POST', `/v1/rooms/${fx.room}/members`, { token: alice.token, body: { user_ids: [dave.id] } })).status).toBe(200)
    expect((await call('PATCH', `/v1/rooms/${fx.room}/members/${dave.id}`, { token: alice.token, body: { role: 'admin' } })).status).toBe(200)
    expect((await call('DELETE', `/v1/rooms/${fx.room}/members/${dave.id}`, { token: alice.token })).status).toBe(204)
    expect((await call('POST', `/v1/rooms/${fx.room}/bans`, { token: alice.token, body: { user_id: dave.id, reason: 'test' } })).status).toBe(201)
    expect((await call('GET', `/v1/rooms/${fx.room}/bans`, { token: alice.token })).status).toBe(200)
    expect((await call('DELETE', `/v1/rooms/${fx.room}/bans/${dave.id}`, { token: alice.token })).status).toBe(204)
    expect((await call('POST', `/v1/rooms/${pub.body.id}/join`, { token: bob.token })).status).toBe(200)
    expect((await call('POST', `/v1/rooms/${pub.body.id}/leave`, { token: bob.token })).status).toBe(204)
    expect((await call('GET', `/v1/rooms/${fx.room}/presence`, { token: bob.token })).status).toBe(200)
    expect((await call('GET', `/v1/rooms/${fx.room}/settings`, { token: bob.token })).status).toBe(200)
    expect((await call('PATCH', `/v1/rooms/${fx.room}/settings`, { token: alice.token, body: { read_receipts: true, retention_days: 365 } })).status).toBe(200)
    expect((await call('DELETE', `/v1/rooms/${pub.body.id}`, { token: alice.token })).status).toBe(204)
  })

  test('messages, reactions, reads, search, uploads and files', async () => {
    const path = `/v1/rooms/${fx.room}/messages`
    const sent = await call('POST', path, { token: alice.token, body: { content: '안녕하세요 hello', client_msg_id: 'docs-1' } })
    expect(sent.status).toBe(201)
    fx.message = sent.body.id
    expect((await call('POST', path, { token: alice.token, body: { content: '안녕하세요 hello', client_msg_id: 'docs-1' } })).status).toBe(200)
    expect((await call('POST', path, { token: alice.token, body: { content: 'other', client_msg_id: 'docs-1' } })).status).toBe(409)
    const reply = await call('POST', path, { token: bob.token, body: { content: 'reply', reply_to_id: fx.message } })
    expect(reply.status).toBe(201)
    expect((await call('GET', `${path}?limit=1`, { token: bob.token })).status).toBe(200)
    expect((await call('GET', `${path}?after_seq=0&limit=50`, { token: bob.token })).status).toBe(200)
    expect((await call('PATCH', `${path}/${reply.body.id}`, { token: bob.token, body: { content: 'reply, edited' } })).status).toBe(200)
    expect((await call('PUT', `${path}/${fx.message}/reactions/${encodeURIComponent('👍')}`, { token: bob.token })).status).toBe(200)
    expect((await call('DELETE', `${path}/${fx.message}/reactions/${encodeURIComponent('👍')}`, { token: bob.token })).status).toBe(200)
    expect((await call('PUT', `${path}/${fx.message}/reactions/${encodeURIComponent('🎉')}`, { token: alice.token })).status).toBe(200)
    expect((await call('POST', `/v1/rooms/${fx.room}/read`, { token: bob.token, body: { seq: sent.body.seq } })).status).toBe(200)
    expect((await call('GET', `/v1/rooms/${fx.room}/search?q=${encodeURIComponent('안녕')}`, { token: bob.token })).status).toBe(200)
    expect((await call('GET', `/v1/search?q=hello&limit=5`, { token: bob.token })).status).toBe(200)
    expect((await call('DELETE', `${path}/${reply.body.id}`, { token: bob.token })).status).toBe(204)

    const up = await upload(alice, fx.room, new Blob([PNG]), 'pixel.png', { content: 'look', client_msg_id: 'docs-up' })
    expect(up.status).toBe(201)
    expect((await upload(alice, fx.room, new Blob([PNG]), 'pixel.png', { content: 'look', client_msg_id: 'docs-up' })).status).toBe(200)
    expect((await upload(alice, fx.room, new Blob([new Uint8Array(70_000)]), 'big.bin')).status).toBe(413)
    expect((await upload(null, fx.room, new Blob([PNG]), 'pixel.png')).status).toBe(401)
    expect((await upload(carol, fx.room, new Blob([PNG]), 'pixel.png')).status).toBe(403)
    expect((await upload(alice, 2 ** 40, new Blob([PNG]), 'pixel.png')).status).toBe(404)
    expect((await call('POST', `/v1/rooms/${fx.room}/attachments`, { token: alice.token, raw: 'not json' })).status).toBe(400)
    fx.fileUrl = up.body.attachment.url
    fx.file = new URL(fx.fileUrl, s.url).pathname.split('/').pop()!
    expect((await call('GET', fx.fileUrl)).status).toBe(200) // the signed URL, no token
    expect((await call('GET', `/v1/files/${fx.file}`, { token: bob.token })).status).toBe(200)
  })

  test('spaces and their moderation', async () => {
    const made = await call('POST', '/v1/spaces', { token: alice.token, body: { name: 'docs space', visibility: 'private' } })
    expect(made.status).toBe(201)
    fx.space = made.body.id
    const pub = await call('POST', '/v1/spaces', { token: alice.token, body: { name: 'docs public', visibility: 'public' } })
    expect(pub.status).toBe(201)
    expect((await call('GET', '/v1/spaces', { token: alice.token })).status).toBe(200)
    expect((await call('GET', '/v1/spaces/discover?query=docs&limit=5', { token: carol.token })).status).toBe(200)
    expect((await call('GET', `/v1/spaces/${fx.space}`, { token: alice.token })).status).toBe(200)
    expect((await call('PATCH', `/v1/spaces/${fx.space}`, { token: alice.token, body: { description: 'for the docs' } })).status).toBe(200)
    const invite = await call('POST', `/v1/spaces/${fx.space}/invites`, { token: alice.token, body: { max_uses: 5 } })
    expect(invite.status).toBe(201)
    expect((await call('POST', `/v1/spaces/${fx.space}/invites`, { token: alice.token })).status).toBe(201) // the body is optional
    for (const u of [bob, dave]) expect((await call('POST', `/v1/spaces/${fx.space}/join`, { token: u.token, body: { invite_code: invite.body.code } })).status).toBe(200)
    expect((await call('POST', `/v1/spaces/${pub.body.id}/join`, { token: erin.token })).status).toBe(200)
    expect((await call('GET', `/v1/spaces/${fx.space}/members`, { token: bob.token })).status).toBe(200)
    expect((await call('PATCH', `/v1/spaces/${fx.space}/members/${dave.id}`, { token: alice.token, body: { role: 'admin' } })).status).toBe(200)
    const channel = await call('POST', `/v1/spaces/${fx.space}/channels`, { token: alice.token, body: { name: 'homework' } })
    expect(channel.status).toBe(201)
    // a channel's member routes act on the space: the answer is a space member
    expect((await call('PATCH', `/v1/rooms/${channel.body.id}/members/${dave.id}`, { token: alice.token, body: { role: 'member' } })).status).toBe(200)
    expect((await call('DELETE', `/v1/spaces/${fx.space}/members/${dave.id}`, { token: alice.token })).status).toBe(204)
    expect((await call('POST', `/v1/spaces/${fx.space}/bans`, { token: alice.token, body: { user_id: dave.id } })).status).toBe(201)
    expect((await call('GET', `/v1/spaces/${fx.space}/bans`, { token: alice.token })).status).toBe(200)
    expect((await call('DELETE', `/v1/spaces/${fx.space}/bans/${dave.id}`, { token: alice.token })).status).toBe(204)
    expect((await call('POST', `/v1/spaces/${pub.body.id}/leave`, { token: erin.token })).status).toBe(204)
    expect((await call('DELETE', `/v1/spaces/${pub.body.id}`, { token: alice.token })).status).toBe(204)
  })

  test('operations', async () => {
    expect((await call('GET', '/healthz')).status).toBe(200)
    expect((await call('GET', '/readyz')).status).toBe(200)
    expect((await call('GET', '/metrics')).status).toBe(200)
    expect((await call('GET', '/')).status).toBe(200)
  })

  test('the common errors of every operation: no token, a bad or unknown id, a stranger, a bad body', async () => {
    const big = JSON.stringify({ content: 'x'.repeat(1024 * 1024 + 16) })
    const value = (path: string, name: string): string => {
      if (name === 'emoji') return encodeURIComponent('👍')
      if (name === 'mid') return String(fx.message)
      if (name === 'userId') return String(bob.id)
      if (path.startsWith('/v1/files/')) return fx.file
      if (path.startsWith('/v1/spaces/')) return String(fx.space)
      if (path.startsWith('/v1/users/')) return String(bob.id)
      return String(fx.room)
    }
    const fill = (template: string, over: Record<string, string> = {}) =>
      template.replace(/\{([^}]+)\}/g, (_, name: string) => over[name] ?? value(template, name))
    let calls = 0
    for (const [template, item] of Object.entries(openapi.paths)) {
      for (const [m, op] of Object.entries(item)) {
        const method = m.toUpperCase()
        // `security: []` is a public route; a list with `{}` in it takes a token or not (a signed file URL), and without either is 401
        const secured = !(Array.isArray(op.security) && op.security.length === 0)
        const params = (op.parameters ?? []).filter((p) => p.in === 'path')
        const json = op.requestBody?.content['application/json']
        // a valid body (the documented example), so that what answers is the route's check, not the body's
        const body = json ? { body: json.example ?? {} } : {}
        if (secured) {
          await call(method, fill(template), body)
          calls++
        }
        // query parameters that do not parse or hold a NUL: 422
        for (const q of (op.parameters ?? []).filter((p) => p.in === 'query')) {
          const bad = q.schema.type === 'integer' ? '-1' : '%00'
          await call(method, `${fill(template)}?${q.name}=${bad}`, { token: alice.token, ...body })
          calls++
        }
        if (params.length === 0) continue
        for (const p of params.filter((q) => q.schema.type === 'integer')) {
          await call(method, fill(template, { [p.name]: '0' }), { token: alice.token, ...body }) // below the minimum: 422
          await call(method, fill(template, { [p.name]: String(2 ** 40) }), { token: alice.token, ...body }) // no such thing
          calls += 2
        }
        if (template.startsWith('/v1/files/')) await call(method, fill(template, { id: 'nosuchfile' }), { token: alice.token })
        await call(method, fill(template), { token: carol.token, ...body }) // a stranger
        calls++
      }
    }
    for (const [template, item] of Object.entries(openapi.paths)) {
      for (const [m, op] of Object.entries(item)) {
        if (!op.requestBody?.content['application/json']) continue
        const path = fill(template)
        await call(m.toUpperCase(), path, { token: alice.token, raw: 'not json' }) // 400
        await call(m.toUpperCase(), path, { token: alice.token, raw: '5' }) // a number for an object: 422
        await call(m.toUpperCase(), path, { token: alice.token, raw: big }) // 413
        calls += 3
      }
    }
    expect(calls).toBeGreaterThan(150)
  })

  test('every documented status of every operation was answered above (but rate limits and outages)', () => {
    const missing: string[] = []
    for (const [template, item] of Object.entries(openapi.paths)) {
      for (const [m, op] of Object.entries(item)) {
        const key = `${m} ${template}`
        for (const st of Object.keys(op.responses)) if (!NOT_DRIVEN.has(st) && !observed.get(key)?.has(st)) missing.push(`${key} ${st}`)
      }
    }
    expect(missing).toEqual([])
  })
})

describe('WebSocket frames against the AsyncAPI document', () => {
  test('every frame the sockets received matches its message; client frames sent match theirs', async () => {
    const ws = await socket(carol, '&auto_subscribe=false')
    const clientFrames: Json[] = [
      { type: 'ping' },
      { type: 'subscribe', room_id: fx.room }, // carol is no member: error
      { type: 'auth', token: carol.token },
    ]
    for (const f of clientFrames) ws.send(f)
    // answered in any order: the subscribe's membership check reads the database
    for (const type of ['pong', 'error', 'auth_ok']) await ws.waitCount(type, 1)
    const [a, b] = sockets as [TestSocket, TestSocket]
    const sendFrames: Json[] = [
      { type: 'subscribe', room_id: fx.room, after_seq: 0 },
      { type: 'message.send', room_id: fx.room, content: 'over the socket', client_msg_id: 'ws-1' },
      { type: 'typing', room_id: fx.room, is_typing: true },
      { type: 'read', room_id: fx.room, seq: 1 },
      { type: 'unsubscribe', room_id: fx.room },
    ]
    clientFrames.push(...sendFrames)
    // frames are handled concurrently: an unsubscribe that overtakes the subscribe's replay cancels its `subscribed`
    a.send(sendFrames[0]!)
    await a.waitCount('subscribed', 1)
    for (const f of sendFrames.slice(1)) a.send(f)
    await a.waitCount('ack', 1, 15_000, (f) => f.client_msg_id === 'ws-1')
    await a.waitCount('unsubscribed', 1)
    await b.waitCount('typing', 1)
    for (const f of clientFrames) expect(verdict(aa.components.messages[`client.${f.type}`]!.payload, f), String(f.type)).toBeNull()

    const types = new Set<string>()
    for (const sock of sockets) {
      for (const f of sock.frames as Frame[]) {
        const msg = aa.components.messages[`server.${f.type}`]
        expect(msg, `frame type ${f.type} is in the AsyncAPI document`).toBeDefined()
        expect(verdict(msg!.payload, f), JSON.stringify(f).slice(0, 300)).toBeNull()
        types.add(f.type)
      }
    }
    for (const t of ['ready', 'message.created', 'message.updated', 'message.deleted', 'ack', 'error', 'typing', 'member.joined', 'member.left',
      'member.updated', 'room.created', 'room.updated', 'room.deleted', 'space.updated', 'space.member.joined', 'space.member.left',
      'space.member.updated', 'space.deleted', 'subscribed', 'unsubscribed', 'pong', 'auth_ok']) expect([...types]).toContain(t)
  })
})
