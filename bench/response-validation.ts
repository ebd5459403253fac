/**
 * What Elysia's runtime response validation would cost on the hot history
 * route, `GET /v1/rooms/:id/messages` (docs/api.md "The OpenAPI document").
 *
 *   bun bench/response-validation.ts [pages=4000]
 *
 * One process, no network: a real node (embedded database) gives a real page
 * of 50 messages (with reactions) and the CPU cost of the real route through
 * `app.handle`; two bare Elysia apps with the same route options return that
 * page, one without and one with `response: { 200: MessagePage }`, in
 * alternating rounds. Prints CPU µs per request (user + system) for each and
 * the difference. Bounded: `pages` requests per variant per round, 5 rounds.
 */
import { Elysia, t } from 'elysia'
import { MessagePage } from '../src/protocol/objects'
import { Limit, RoomParams, Seq } from '../src/http/schemas'
import { startServer } from '../test/helpers'

const PAGES = Number(process.argv[2] ?? 4000)
const ROUNDS = 5

const s = await startServer({ RATE_MESSAGES: '0' })
try {
  const reg = async (n: string) => (await s.api('POST', '/v1/auth/register', { body: { email: `${n}@example.com`, password: 'password123', nickname: n } })).body
  const a = await reg('alice')
  const b = await reg('bob')
  const room = (await s.api('POST', '/v1/rooms', { token: a.access, body: { type: 'group', name: 'bench', member_ids: [b.user.id] } })).body
  for (let i = 0; i < 50; i++) {
    const m = await s.api('POST', `/v1/rooms/${room.id}/messages`, { token: i % 2 ? a.access : b.access, body: { content: `message ${i} — 안녕하세요, a line of ordinary chat text` } })
    if (i % 5 === 0) await s.api('PUT', `/v1/rooms/${room.id}/messages/${m.body.id}/reactions/${encodeURIComponent('👍')}`, { token: a.access })
  }
  const url = `http://localhost/v1/rooms/${room.id}/messages?limit=50`
  const auth = { authorization: `Bearer ${a.access}` }
  const page = (await (await s.chat.app.handle(new Request(url, { headers: auth }))).json()) as { messages: unknown[] }
  if (page.messages.length !== 50) throw new Error('expected a page of 50')

  const query = t.Object({ before_seq: t.Optional(Seq), after_seq: t.Optional(Seq), limit: Limit(50) })
  // the handler returns a fresh copy each time, as the service does
  const body = JSON.stringify(page)
  const bare = new Elysia({ normalize: 'typebox' }).get('/v1/rooms/:id/messages', () => JSON.parse(body), { params: RoomParams, query })
  const validated = new Elysia({ normalize: 'typebox' }).get('/v1/rooms/:id/messages', () => JSON.parse(body), {
    params: RoomParams, query, response: { 200: MessagePage },
  })

  const cpu = async (handle: (r: Request) => Promise<Response> | Response, n: number, headers: Record<string, string> = {}) => {
    const before = process.cpuUsage()
    for (let i = 0; i < n; i++) {
      const res = await handle(new Request(url, { headers }))
      if (res.status !== 200) throw new Error(`status ${res.status}: ${await res.text()}`)
      await res.arrayBuffer()
    }
    const d = process.cpuUsage(before)
    return (d.user + d.system) / n
  }
  // warm-up: compile schemas and JIT both paths
  await cpu((r) => bare.handle(r), 500)
  await cpu((r) => validated.handle(r), 500)
  await cpu((r) => s.chat.app.handle(r), 200, auth)

  const rows: { bare: number; validated: number; real: number }[] = []
  for (let round = 0; round < ROUNDS; round++) {
    const bareUs = await cpu((r) => bare.handle(r), PAGES)
    const validatedUs = await cpu((r) => validated.handle(r), PAGES)
    const realUs = await cpu((r) => s.chat.app.handle(r), Math.ceil(PAGES / 10), auth)
    rows.push({ bare: bareUs, validated: validatedUs, real: realUs })
  }
  const median = (xs: number[]) => xs.sort((x, y) => x - y)[Math.floor(xs.length / 2)]!
  const m = { bare: median(rows.map((r) => r.bare)), validated: median(rows.map((r) => r.validated)), real: median(rows.map((r) => r.real)) }
  const delta = m.validated - m.bare
  console.log(`page: 50 messages, ${body.length} bytes of JSON; ${PAGES} requests per variant per round, ${ROUNDS} rounds (medians)`)
  console.log(`bare route (no response schema):   ${m.bare.toFixed(1)} µs CPU/request`)
  console.log(`with response: { 200: MessagePage }: ${m.validated.toFixed(1)} µs CPU/request (+${delta.toFixed(1)} µs, ×${(m.validated / m.bare).toFixed(2)})`)
  console.log(`the real route (auth, database, reactions): ${m.real.toFixed(1)} µs CPU/request; validation would add ${((delta / m.real) * 100).toFixed(1)}%`)
} finally {
  await s.close()
}
