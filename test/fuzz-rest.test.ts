/**
 * Property-based fuzz of every REST route the app registers (read from the
 * Elysia app itself, so a new route is fuzzed without touching this file):
 * hostile path parameters, query strings, bodies, content types and
 * credentials. Whatever comes in, the answer is never a 5xx, every error is
 * `{detail, code}` with a code of API.md, the node stays healthy, and a
 * neighbour's ordinary sends all commit meanwhile.
 *
 * A failure prints fast-check's seed and path: FUZZ_SEED=… FUZZ_PATH=… bun test test/fuzz-rest.test.ts
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from 'bun:test'
import fc from 'fast-check'
import {
  answerProblem, badJsonText, bodyFor, fuzzParams, historyCmids, nastyString, SCALE, steadySender, validish,
  type IdPool, type JsonSchema, healthyEvery } from './fuzz-kit'
import { groupRoom, register, startServer, type TestServer, type TestUser } from './helpers'

// per file: Bun applies a preload's default timeout to the first file only, and hooks start servers
setDefaultTimeout(60_000)

/** Cases per run, and the time they may take on a loaded 2-core box. */
const RUNS = 13_000
const BUDGET_MS = 150_000

let s: TestServer
let alice: TestUser
let bob: TestUser
let steady: TestUser
const pool: IdPool = { rooms: [], messages: [], users: [] }
let steadyRoom: number

beforeAll(async () => {
  // no message rate limit: the fuzz's own sends reach the writer (poison rows and all)
  s = await startServer({ RATE_MESSAGES: '0' })
  ;[alice, bob, steady] = await Promise.all([register(s.api, 'fz-alice'), register(s.api, 'fz-bob'), register(s.api, 'fz-steady')])
  pool.users.push(alice.id, bob.id, steady.id, 999_999)
  for (let i = 0; i < 6; i++) {
    const r = await groupRoom(s.api, alice, i % 2 ? [bob] : [], i === 0 ? { visibility: 'public' } : {})
    pool.rooms.push(r.id)
    for (let j = 0; j < 3; j++) {
      const m = await s.api('POST', `/v1/rooms/${r.id}/messages`, { token: (j % 2 ? bob : alice).token, body: { content: `seed ${i}.${j}` } })
      if (m.status === 201) pool.messages.push(m.body.id)
    }
  }
  steadyRoom = (await groupRoom(s.api, steady)).id
  pool.rooms.push(steadyRoom, 999_999)
})
afterAll(() => s?.close())

/** encodeURIComponent, but a lone surrogate goes out as the (invalid) UTF-8 bytes it would be. */
function enc(v: string): string {
  try {
    return encodeURIComponent(v)
  } catch {
    return [...v].map((c) => (/[\ud800-\udfff]/.test(c) ? '%ED%A0%80' : encodeURIComponent(c))).join('')
  }
}

type Route = { method: string; path: string; params: string[]; query?: JsonSchema; body?: JsonSchema; multipart: boolean }

function routesOf(srv: TestServer): Route[] {
  // Elysia lists its ws() upgrades as method "WS"; the same paths are fuzzed as plain GETs below
  const out: Route[] = srv.chat.app.routes.filter((r) => r.method !== 'WS').map((r) => {
    const hooks = r.hooks as { query?: JsonSchema; body?: JsonSchema; detail?: Record<string, unknown> }
    return {
      method: r.method,
      path: r.path,
      params: [...r.path.matchAll(/:(\w+)/g)].map((m) => m[1]!),
      query: hooks.query,
      body: hooks.body,
      multipart: typeof hooks.detail?.['x-multipart-max-bytes'] === 'number',
    }
  })
  // the WebSocket paths answer plain HTTP too, and an unknown route must be a JSON 404
  out.push(
    { method: 'GET', path: '/v1/ws', params: [], multipart: false },
    { method: 'GET', path: '/v1/rooms/:id/ws', params: ['id'], multipart: false },
    { method: 'GET', path: '/v1/nope/:id', params: ['id'], multipart: false },
    { method: 'POST', path: '/v1/rooms/:id/nope', params: ['id'], multipart: false },
  )
  return out
}

/** A path parameter: a real id (or emoji) half the time, garbage otherwise. */
const paramValue = (name: string): fc.Arbitrary<string> => {
  const real = name === 'emoji'
    ? fc.constantFrom('👍', '❤️', '%F0%9F%98%80', 'ok')
    : name === 'mid'
      ? fc.constantFrom(...pool.messages.map(String))
      : name === 'userId'
        ? fc.constantFrom(...pool.users.map(String))
        : fc.constantFrom(...pool.rooms.map(String))
  const garbage = fc.oneof(
    nastyString.filter((x) => x.length < 3000).map(enc),
    fc.constantFrom('%ZZ', '%', '%00', '%ED%A0%80', '%C0%80', '..', '%2F', '%2e%2e', '-0', '0', '-1', '1e3', '1.0', '0x1', '+1', '%201', '00001', '9007199254740992', '9007199254740993', '99999999999999999999', 'NaN', 'Infinity', 'null', '[]'),
  )
  return fc.oneof(real, garbage)
}

/** A query string: the route's own keys with valid-ish or hostile values, duplicates, and junk. */
const queryFor = (q: JsonSchema | undefined): fc.Arbitrary<string> => {
  const keys = Object.entries(q?.properties ?? {})
  const pair = keys.length
    ? fc.constantFrom(...keys).chain(([k, sch]) =>
        fc.oneof(validish(sch, pool, k).map((v) => String(v)), nastyString.filter((x) => x.length < 5000)).map((v) => `${k}=${enc(v)}`))
    : fc.constant('x=1')
  const junk = fc.constantFrom('', '=', '&&', 'limit', 'limit=', '%ZZ=1', 'limit=%ZZ', 'q=%ED%A0%80', 'cursor=%00', 'a[]=1', 'limit=1&limit=2', '__proto__=1')
  return fc.array(fc.oneof({ weight: 4, arbitrary: pair }, { weight: 1, arbitrary: junk }), { maxLength: 4 }).map((ps) => (ps.length ? `?${ps.join('&')}` : ''))
}

type Auth = 'alice' | 'bob' | 'none' | string
const authArb: fc.Arbitrary<Auth> = fc.oneof(
  { weight: 6, arbitrary: fc.constant('alice') },
  { weight: 1, arbitrary: fc.constant('bob') },
  { weight: 2, arbitrary: fc.constant('none') },
  {
    weight: 2,
    arbitrary: fc.oneof(
      fc.constantFrom('Bearer', 'Bearer ', 'bearer x', 'Basic YTpi', 'Bearer a.b.c', 'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.', 'Bearer ' + 'x'.repeat(10_000)),
      // field-value characters only: Bun's HTTP parser answers an empty 400 itself for control characters, before the app
      fc.string({ unit: 'binary-ascii', maxLength: 60 }).map((x) => `Bearer ${x.replace(/[\x00-\x08\x0a-\x1f\x7f]/g, '')}`),
    ),
  },
)

type Body =
  | { kind: 'none' }
  | { kind: 'json'; value: unknown; contentType: string | null }
  | { kind: 'raw'; text: string; contentType: string | null }
  | { kind: 'multipart'; fields: [string, string][]; file: number | null }

const contentTypes = fc.constantFrom<string | null>('application/json', 'application/json', 'application/json; charset=utf-8', 'text/plain', null, 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=zz', 'application/octet-stream')

const bodyArb = (r: Route): fc.Arbitrary<Body> =>
  fc.oneof(
    { weight: r.body ? 1 : 4, arbitrary: fc.constant<Body>({ kind: 'none' }) },
    { weight: 8, arbitrary: fc.tuple(bodyFor(r.body, pool), contentTypes).map(([value, contentType]): Body => ({ kind: 'json', value, contentType })) },
    { weight: 2, arbitrary: fc.tuple(badJsonText, contentTypes).map(([text, contentType]): Body => ({ kind: 'raw', text, contentType })) },
    {
      weight: r.multipart ? 8 : 1,
      arbitrary: fc
        .tuple(
          fc.array(fc.tuple(fc.constantFrom('content', 'client_msg_id', 'file', 'x'), nastyString.filter((x) => x.length < 5000)), { maxLength: 3 }),
          fc.option(fc.constantFrom(0, 1, 100, 70_000)),
        )
        .map(([fields, file]): Body => ({ kind: 'multipart', fields, file })),
    },
  )

const PNG = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52])

async function send(r: Route, params: Record<string, string>, query: string, auth: Auth, body: Body) {
  const path = r.path.replace(/:(\w+)/g, (_, k: string) => params[k] ?? '1') + query
  const headers: Record<string, string> = {}
  if (auth === 'alice') headers.authorization = `Bearer ${alice.token}`
  else if (auth === 'bob') headers.authorization = `Bearer ${bob.token}`
  else if (auth !== 'none') headers.authorization = auth
  let payload: string | FormData | undefined
  if (body.kind === 'json' || body.kind === 'raw') {
    payload = body.kind === 'json' ? (body.value === undefined ? undefined : JSON.stringify(body.value)) : body.text
    if (body.contentType) headers['content-type'] = body.contentType
  } else if (body.kind === 'multipart') {
    const form = new FormData()
    for (const [k, v] of body.fields) form.append(k, v)
    if (body.file !== null) form.append('file', new Blob([body.file > 16 ? PNG : new Uint8Array(body.file), new Uint8Array(Math.max(0, body.file - 16))]), 'f.png')
    payload = form
  }
  if (r.method === 'GET' || r.method === 'HEAD') payload = undefined
  // past 16 KiB of request line and headers Bun answers an empty 431 itself, before the app (noted, not fuzzed)
  fc.pre(path.length + (headers.authorization?.length ?? 0) < 15_000)
  const res = await fetch(s.url + path, { method: r.method, headers, body: payload })
  const text = await res.text()
  return { path, status: res.status, text, contentType: res.headers.get('content-type') ?? '', headers: res.headers }
}

test('fuzz: every REST route, any input: never a 5xx, errors are {detail, code}, the node stays healthy, a neighbour is unharmed', async () => {
  const routes = routesOf(s)
  expect(routes.length).toBeGreaterThan(30)
  const neighbour = steadySender(s.api, steady, steadyRoom)
  const statuses = new Map<number, number>()
  const debug = new Map<string, number>()
  let cases = 0
  // sending and editing reach the writer and the database: fuzzed more often than the rest
  const weight = (r: Route) => 1 + (r.body ? 1 : 0) + (/\/messages(\/:mid)?$/.test(r.path) && r.method !== 'GET' && r.method !== 'DELETE' ? 8 : 0)
  const caseArb = fc.oneof(...routes.map((r, i) => ({ weight: weight(r), arbitrary: fc.constant(i) }))).chain((i) => {
    const r = routes[i]!
    const params = fc.record(Object.fromEntries(r.params.map((p) => [p, paramValue(p)])) as Record<string, fc.Arbitrary<string>>)
    return fc.tuple(fc.constant(i), params, queryFor(r.query), authArb, bodyArb(r))
  })
  const prop = fc.asyncProperty(caseArb, async ([i, params, query, auth, body]) => {
    const r = routes[i]!
    const got = await send(r, params, query, auth, body)
    cases++
    statuses.set(got.status, (statuses.get(got.status) ?? 0) + 1)
    if (process.env.FUZZ_DEBUG && r.path.endsWith('/messages') && r.method === 'POST') {
      const k = `${auth.slice(0, 6)} ${got.status} ${body.kind} ${got.status >= 400 ? got.text.slice(0, 60) : ""}`
      debug.set(k, (debug.get(k) ?? 0) + 1)
    }
    const problem = answerProblem(got.status, got.contentType, got.text, got.headers)
    if (problem) throw new Error(`${r.method} ${got.path.slice(0, 300)} [auth ${auth.slice(0, 20)}] body ${JSON.stringify(body).slice(0, 300)} → ${got.status}: ${problem}; ${got.text.slice(0, 300)}`)
    // now and then mid-run: still healthy
    await healthyEvery(s.url, cases)
  })
  try {
    await fc.assert(prop, fuzzParams('rest', RUNS, BUDGET_MS))
  } finally {
    await neighbour.finish()
    if (debug.size) console.log([...debug].sort((a, b) => b[1] - a[1]).slice(0, 30))
    console.log(`[fuzz] rest: ${cases} cases over ${routes.length} routes; statuses ${JSON.stringify(Object.fromEntries(statuses))}`)
  }
  const sent = await neighbour.finish()
  expect((await fetch(`${s.url}/healthz`)).status).toBe(200)
  expect((await fetch(`${s.url}/readyz`)).status).toBe(200)
  // at full scale, a loaded box still gets through most of the cases
  if (SCALE >= 1) expect(cases).toBeGreaterThanOrEqual(Math.min(RUNS, 8_000))
  // the neighbour: every send 201, every message in history
  expect(sent.length).toBeGreaterThan(0)
  expect(sent.filter((x) => x.status !== 201)).toEqual([])
  const history = await historyCmids(s.api, steady, steadyRoom)
  expect(sent.filter((x) => !history.has(x.cmid)).map((x) => x.cmid)).toEqual([])
}, 400_000)
