import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { ChatClient, type Tokens } from '../client/src'
import { createAccessTokens } from '../src/auth/tokens'
import { startServer, type TestServer } from './helpers'

setDefaultTimeout(60_000)

let s: TestServer

beforeAll(async () => {
  s = await startServer()
})
afterAll(() => s.close())

/**
 * An answer's error as sent. Until the routes declare their error responses the App type knows only
 * Elysia's own validation shape, while the server answers every error as `{detail, code}`.
 */
const errorOf = (r: { error: { status: unknown; value: unknown } | null }) => r.error && { status: r.error.status, value: r.error.value as unknown }

const uniq = () => `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`
const PASSWORD = 'password123'

/** A client signed up through `client.api`; its session is the one register answered with. */
async function signedUp(nickname: string) {
  const seen: (Tokens | null)[] = []
  const client = new ChatClient(s.url, null, (t) => seen.push(t))
  const email = `${nickname}.${uniq()}@example.com`
  const r = await client.api.v1.auth.register.post({ email, password: PASSWORD, nickname })
  if (r.error) throw new Error(`register: ${r.status} ${JSON.stringify(r.error.value)}`)
  return { client, email, user: r.data.user, session: r.data, seen }
}

describe('ChatClient.api (Eden Treaty, typed from App)', () => {
  test('register adopts the session; login gives a new one that works', async () => {
    const { client, email, user, session, seen } = await signedUp('eden-a')
    expect(user).toMatchObject({ email, nickname: 'eden-a' })
    expect(client.session).toEqual({ access: session.access, refresh: session.refresh })
    expect(seen).toEqual([{ access: session.access, refresh: session.refresh }])

    const other = new ChatClient(s.url)
    const login = await other.api.v1.auth.login.post({ email, password: PASSWORD })
    expect(login.status).toBe(200)
    expect(login.data?.user.id).toBe(user.id)
    expect(other.session?.refresh).toBe(login.data!.refresh)
    expect(other.session?.refresh).not.toBe(session.refresh)
    const me = await other.api.v1.users.me.get()
    expect(me.status).toBe(200)
    expect(me.data).toMatchObject({ id: user.id, email, nickname: 'eden-a' })
  })

  test('create a room, send a message, list messages', async () => {
    const a = await signedUp('eden-owner')
    const b = await signedUp('eden-member')
    const room = await a.client.api.v1.rooms.post({ type: 'group', name: 'eden room', member_ids: [b.user.id] })
    expect(room.status).toBe(201)
    expect(room.data).toMatchObject({ type: 'group', name: 'eden room' })
    const id = room.data!.id

    const sent = await b.client.api.v1.rooms({ id }).messages.post({ content: '안녕 eden', client_msg_id: `c-${uniq()}` })
    expect(sent.status).toBe(201)
    expect(sent.data).toMatchObject({ room_id: id, seq: 1, content: '안녕 eden' })
    expect(sent.data?.sender?.id).toBe(b.user.id)

    await a.client.api.v1.rooms({ id }).messages.post({ content: 'second' })
    const list = await a.client.api.v1.rooms({ id }).messages.get({ query: { limit: 10 } })
    expect(list.status).toBe(200)
    expect(list.data?.messages.map((m) => [m.seq, m.content])).toEqual([[1, '안녕 eden'], [2, 'second']])
    const after = await a.client.api.v1.rooms({ id }).messages.get({ query: { after_seq: 1 } })
    expect(after.data?.messages.map((m) => m.seq)).toEqual([2])
  })

  test('a 4xx is error.value with the contract body, not a throw', async () => {
    const { client } = await signedUp('eden-err')
    const missing = await client.api.v1.rooms({ id: 999_999_999 }).get()
    expect(missing.data).toBeNull()
    expect(missing.status).toBe(404)
    expect(errorOf(missing)).toEqual({ status: 404, value: { detail: 'Room not found.', code: 'not_found' } })

    const empty = await client.api.v1.rooms({ id: 1 }).messages.post({ content: '' })
    expect(empty.status).toBe(422)
    expect(errorOf(empty)).toEqual({ status: 422, value: { detail: expect.stringContaining('content'), code: 'validation' } })

    const wrong = await new ChatClient(s.url).api.v1.auth.login.post({ email: `nobody.${uniq()}@example.com`, password: PASSWORD })
    expect(wrong.status).toBe(401)
    expect(errorOf(wrong)?.value).toEqual({ detail: expect.any(String), code: 'unauthorized' })
  })

  test('an expired access token is refreshed once and the call retried', async () => {
    const { user, session } = await signedUp('eden-refresh')
    const [, payload] = session.access.split('.')
    const { sid } = JSON.parse(Buffer.from(payload!, 'base64url').toString()) as { sid: string }
    const expired = await createAccessTokens('test-secret', -60).sign(user.id, sid)
    const stale = new ChatClient(s.url, { access: expired, refresh: session.refresh })
    const me = await stale.api.v1.users.me.get()
    expect(me.status).toBe(200)
    expect(me.data?.id).toBe(user.id)
    expect(stale.session?.access).not.toBe(expired)
    expect(stale.session?.refresh).not.toBe(session.refresh) // refresh rotates
  })

  test('logout through api ends the session it names', async () => {
    const { client, session } = await signedUp('eden-out')
    const r = await client.api.v1.auth.logout.post({ refresh: session.refresh })
    expect(r.status).toBe(204)
    expect(client.session).toBeNull()
    const again = await new ChatClient(s.url, { access: session.access, refresh: session.refresh }).api.v1.auth.refresh.post({ refresh: session.refresh })
    expect(again.status).toBe(401)
  })
})

/** Compile-time only: `bun run typecheck` covers test/, so each of these must stay a type error. */
export function typeChecks(client: ChatClient) {
  // @ts-expect-error login takes {email, password}
  void client.api.v1.auth.login.post({ email: 'a@b.c' })
  // @ts-expect-error content is a string
  void client.api.v1.rooms({ id: 1 }).messages.post({ content: 5 })
  // @ts-expect-error no such route
  void client.api.v1.roomz.get()
  // @ts-expect-error rooms/:id/messages has no PUT
  void client.api.v1.rooms({ id: 1 }).messages.put({ content: 'x' })
}
