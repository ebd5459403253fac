import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { sql } from 'drizzle-orm'
import { expectError, expectStatus } from './contract'
import { createChatServer } from '../src/app'
import { loadConfig } from '../src/config'
import { silentLogger } from '../src/lib/logger'
import { api, BACKGROUND_STATEMENT, freshPostgres, openWs, PG_URL, REDIS_URL, register, startServer, testDatabase, TestSocket, until, type TestServer, type TestUser } from './helpers'

// per file: Bun applies a preload's default timeout to the first file only, and hooks start servers
setDefaultTimeout(60_000)

let s: TestServer
beforeAll(async () => {
  s = await startServer({ RATE_MESSAGES: '0', MAX_SPACE_MEMBERS: '6' })
})
afterAll(() => s.close())

const fresh = (name = 'sp') => register(s.api, name)
const call = (u: TestUser | null, method: string, path: string, body?: unknown) =>
  s.api(method, path, { token: u?.token, body })

async function space(owner: TestUser, extra: Record<string, unknown> = {}) {
  const r = await call(owner, 'POST', '/v1/spaces', { name: `space ${Math.random().toString(36).slice(2, 8)}`, ...extra })
  expectStatus(r, 201)
  return r.body as { id: number; general_channel_id: number; channels: { id: number; name: string; type: string }[]; owner_id: number; member_count: number }
}

async function member(sp: { id: number }, owner: TestUser, u: TestUser) {
  const inv = await call(owner, 'POST', `/v1/spaces/${sp.id}/invites`, {})
  expectStatus(inv, 201)
  expectStatus(await call(u, 'POST', `/v1/spaces/${sp.id}/join`, { invite_code: inv.body.code }), 200)
}

describe('spaces: create, read, change, delete', () => {
  test('create: 201 with a general channel; the caller is owner; list and get', async () => {
    const u = await fresh()
    const sp = await space(u, { description: 'd', visibility: 'private' })
    expect(sp).toMatchObject({ owner_id: u.id, member_count: 1, visibility: 'private', description: 'd', max_members: 6 })
    expect(sp.channels).toHaveLength(1)
    expect(sp.channels[0]).toMatchObject({ name: 'general', type: 'channel', space_id: sp.id, member_count: 1 })
    expect(sp.general_channel_id).toBe(sp.channels[0]!.id)
    const list = await call(u, 'GET', '/v1/spaces')
    expect(list.body.spaces.map((x: { id: number }) => x.id)).toContain(sp.id)
    expectStatus(await call(u, 'GET', `/v1/spaces/${sp.id}`), 200)
    const members = await call(u, 'GET', `/v1/spaces/${sp.id}/members`)
    expect(members.body.members).toEqual([expect.objectContaining({ role: 'owner', user: expect.objectContaining({ id: u.id }) })])
  })

  test('bad bodies are 422; no token 401; unknown space 404; a private space is 403 not_member to others', async () => {
    const [u, other] = await Promise.all([fresh(), fresh()])
    for (const body of [{}, { name: '' }, { name: 'x'.repeat(101) }, { name: 5 }, { name: 'a\u0000b' }, { name: 'x', visibility: 'secret' }, { name: 'x', icon_url: 'javascript:alert(1)' }]) {
      expectError(await call(u, 'POST', '/v1/spaces', body), 422, 'validation')
    }
    expectError(await call(null, 'POST', '/v1/spaces', { name: 'x' }), 401, 'unauthorized')
    expectError(await call(u, 'GET', '/v1/spaces/999999999'), 404, 'not_found')
    const sp = await space(u)
    expectError(await call(other, 'GET', `/v1/spaces/${sp.id}`), 403, 'not_member')
    expectError(await call(other, 'GET', `/v1/spaces/${sp.id}/members`), 403, 'not_member')
  })

  test('PATCH by owner and admin, not by a member; space.updated is not needed to read the change', async () => {
    const [o, a, m] = await Promise.all([fresh(), fresh(), fresh()])
    const sp = await space(o)
    await member(sp, o, a)
    await member(sp, o, m)
    expectStatus(await call(o, 'PATCH', `/v1/spaces/${sp.id}/members/${a.id}`, { role: 'admin' }), 200)
    const r = await call(a, 'PATCH', `/v1/spaces/${sp.id}`, { name: 'renamed', visibility: 'public' })
    expectStatus(r, 200)
    expect(r.body).toMatchObject({ name: 'renamed', visibility: 'public' })
    expectError(await call(m, 'PATCH', `/v1/spaces/${sp.id}`, { name: 'no' }), 403, 'forbidden')
  })

  test('DELETE: owner only; channels and their messages go (purged in the background)', async () => {
    const [o, a] = await Promise.all([fresh(), fresh()])
    const sp = await space(o)
    await member(sp, o, a)
    expectStatus(await call(o, 'PATCH', `/v1/spaces/${sp.id}/members/${a.id}`, { role: 'admin' }), 200)
    const general = sp.general_channel_id
    for (let i = 0; i < 3; i++) expectStatus(await call(a, 'POST', `/v1/rooms/${general}/messages`, { content: `m${i}` }), 201)
    expectError(await call(a, 'DELETE', `/v1/spaces/${sp.id}`), 403, 'forbidden')
    expectStatus(await call(o, 'DELETE', `/v1/spaces/${sp.id}`), 204)
    expectError(await call(o, 'GET', `/v1/spaces/${sp.id}`), 404, 'not_found')
    expectError(await call(o, 'GET', `/v1/rooms/${general}/messages`), 404, 'not_found')
    await until(async () => {
      const [row] = await s.chat.database.rows<{ n: number }>(sql`select count(*)::int as n from messages where room_id = ${general}`)
      return row!.n === 0
    }, 20_000, 'the purge of the channel')
  })
})

describe('joining: public, invites, limits, bans', () => {
  test('a public space is joined without a code; a private one needs a valid invite; joining twice is 200', async () => {
    const [o, u] = await Promise.all([fresh(), fresh()])
    const pub = await space(o, { visibility: 'public' })
    // GET is for members only, public or not; discover is how a non-member finds a public space
    expectError(await call(u, 'GET', `/v1/spaces/${pub.id}`), 403, 'not_member')
    const j = await call(u, 'POST', `/v1/spaces/${pub.id}/join`)
    expectStatus(j, 200)
    expect(j.body.member_count).toBe(2)
    expectStatus(await call(u, 'POST', `/v1/spaces/${pub.id}/join`, {}), 200)
    const priv = await space(o)
    expectError(await call(u, 'POST', `/v1/spaces/${priv.id}/join`), 403, 'forbidden')
    expectError(await call(u, 'POST', `/v1/spaces/${priv.id}/join`, { invite_code: 'nope' }), 403, 'forbidden')
    await member(priv, o, u)
    expectStatus(await call(u, 'POST', `/v1/spaces/${priv.id}/leave`), 204)
    expectError(await call(u, 'GET', `/v1/spaces/${priv.id}`), 403, 'not_member')
  })

  test('invites: owner/admin only; bounds checked; an expired code is 403', async () => {
    const [o, m, u] = await Promise.all([fresh(), fresh(), fresh()])
    const sp = await space(o)
    await member(sp, o, m)
    expectError(await call(m, 'POST', `/v1/spaces/${sp.id}/invites`, {}), 403, 'forbidden')
    for (const body of [{ expires_in: 59 }, { expires_in: 2_592_001 }, { max_uses: 0 }, { max_uses: 10_001 }, { max_uses: '1' }]) {
      expectError(await call(o, 'POST', `/v1/spaces/${sp.id}/invites`, body), 422, 'validation')
    }
    const inv = await call(o, 'POST', `/v1/spaces/${sp.id}/invites`, { expires_in: 60, max_uses: 5 })
    expectStatus(inv, 201)
    expect(inv.body).toMatchObject({ max_uses: 5, uses: 0, space_id: sp.id })
    await s.chat.database.rows(sql`update space_invites set expires_at = now() - interval '1 second' where code = ${inv.body.code}`)
    expectError(await call(u, 'POST', `/v1/spaces/${sp.id}/join`, { invite_code: inv.body.code }), 403, 'forbidden')
  })

  test('max_uses=1 under concurrency: exactly one of five joins succeeds', async () => {
    const o = await fresh()
    const sp = await space(o)
    const inv = await call(o, 'POST', `/v1/spaces/${sp.id}/invites`, { max_uses: 1 })
    const joiners = await Promise.all(Array.from({ length: 5 }, () => fresh()))
    const answers = await Promise.all(joiners.map((u) => call(u, 'POST', `/v1/spaces/${sp.id}/join`, { invite_code: inv.body.code })))
    expect(answers.map((a) => a.status).sort()).toEqual([200, 403, 403, 403, 403])
    const members = await call(o, 'GET', `/v1/spaces/${sp.id}/members`)
    expect(members.body.members).toHaveLength(2)
  })

  test('MAX_SPACE_MEMBERS holds under concurrent joins: 10 joiners, 5 places', async () => {
    const o = await fresh()
    const sp = await space(o, { visibility: 'public' })
    const joiners = await Promise.all(Array.from({ length: 10 }, () => fresh()))
    const answers = await Promise.all(joiners.map((u) => call(u, 'POST', `/v1/spaces/${sp.id}/join`)))
    expect(answers.filter((a) => a.status === 200)).toHaveLength(5)
    for (const a of answers.filter((x) => x.status !== 200)) expectError(a, 422, 'room_full')
    expect((await call(o, 'GET', `/v1/spaces/${sp.id}`)).body.member_count).toBe(6)
  })

  test('a ban removes the member and keeps them out (join, invite); unban lets them back', async () => {
    const [o, u] = await Promise.all([fresh(), fresh()])
    const sp = await space(o, { visibility: 'public' })
    expectStatus(await call(u, 'POST', `/v1/spaces/${sp.id}/join`), 200)
    const ban = await call(o, 'POST', `/v1/spaces/${sp.id}/bans`, { user_id: u.id, reason: 'spam' })
    expectStatus(ban, 201)
    expect(ban.body).toMatchObject({ user_id: u.id, reason: 'spam', banned_by: o.id })
    expectError(await call(u, 'GET', `/v1/rooms/${sp.general_channel_id}/messages`), 403, 'not_member')
    expectError(await call(u, 'POST', `/v1/spaces/${sp.id}/join`), 403, 'forbidden')
    const inv = await call(o, 'POST', `/v1/spaces/${sp.id}/invites`, {})
    expectError(await call(u, 'POST', `/v1/spaces/${sp.id}/join`, { invite_code: inv.body.code }), 403, 'forbidden')
    expect((await call(o, 'GET', `/v1/spaces/${sp.id}/bans`)).body.bans).toEqual([expect.objectContaining({ user_id: u.id })])
    expectStatus(await call(o, 'DELETE', `/v1/spaces/${sp.id}/bans/${u.id}`), 204)
    expectError(await call(o, 'DELETE', `/v1/spaces/${sp.id}/bans/${u.id}`), 404, 'not_found')
    expectStatus(await call(u, 'POST', `/v1/spaces/${sp.id}/join`), 200)
  })
})

describe('roles', () => {
  test('owner makes admins; an admin cannot touch the owner or another admin; members cannot moderate', async () => {
    const [o, a1, a2, m] = await Promise.all([fresh(), fresh(), fresh(), fresh()])
    const sp = await space(o)
    for (const u of [a1, a2, m]) await member(sp, o, u)
    for (const a of [a1, a2]) expectStatus(await call(o, 'PATCH', `/v1/spaces/${sp.id}/members/${a.id}`, { role: 'admin' }), 200)
    expectError(await call(a1, 'PATCH', `/v1/spaces/${sp.id}/members/${m.id}`, { role: 'admin' }), 403, 'forbidden')
    expectError(await call(a1, 'DELETE', `/v1/spaces/${sp.id}/members/${o.id}`), 403, 'forbidden')
    expectError(await call(a1, 'DELETE', `/v1/spaces/${sp.id}/members/${a2.id}`), 403, 'forbidden')
    expectError(await call(a1, 'POST', `/v1/spaces/${sp.id}/bans`, { user_id: o.id }), 403, 'forbidden')
    expectError(await call(a1, 'POST', `/v1/spaces/${sp.id}/bans`, { user_id: a2.id }), 403, 'forbidden')
    expectError(await call(m, 'DELETE', `/v1/spaces/${sp.id}/members/${a1.id}`), 403, 'forbidden')
    expectError(await call(m, 'POST', `/v1/spaces/${sp.id}/bans`, { user_id: a1.id }), 403, 'forbidden')
    expectError(await call(o, 'PATCH', `/v1/spaces/${sp.id}/members/${m.id}`, { role: 'king' }), 422, 'validation')
    // an admin removes a plain member
    expectStatus(await call(a1, 'DELETE', `/v1/spaces/${sp.id}/members/${m.id}`), 204)
    expectError(await call(m, 'GET', `/v1/spaces/${sp.id}`), 403, 'not_member')
  })

  test('ownership transfer: the new owner owns the space, the old one is admin', async () => {
    const [o, u] = await Promise.all([fresh(), fresh()])
    const sp = await space(o)
    await member(sp, o, u)
    const r = await call(o, 'PATCH', `/v1/spaces/${sp.id}/members/${u.id}`, { role: 'owner' })
    expectStatus(r, 200)
    expect(r.body.role).toBe('owner')
    const members = (await call(u, 'GET', `/v1/spaces/${sp.id}/members`)).body.members as { user: { id: number }; role: string }[]
    expect(Object.fromEntries(members.map((x) => [x.user.id, x.role]))).toEqual({ [o.id]: 'admin', [u.id]: 'owner' })
    expect((await call(u, 'GET', `/v1/spaces/${sp.id}`)).body.owner_id).toBe(u.id)
    expectError(await call(o, 'DELETE', `/v1/spaces/${sp.id}`), 403, 'forbidden')
  })
})

describe('channels', () => {
  test('owner/admin create, rename and delete channels; general is protected; members cannot', async () => {
    const [o, m] = await Promise.all([fresh(), fresh()])
    const sp = await space(o)
    await member(sp, o, m)
    expectError(await call(m, 'POST', `/v1/spaces/${sp.id}/channels`, { name: 'x' }), 403, 'forbidden')
    const c = await call(o, 'POST', `/v1/spaces/${sp.id}/channels`, { name: 'random', description: 'chat' })
    expectStatus(c, 201)
    expect(c.body).toMatchObject({ type: 'channel', space_id: sp.id, name: 'random', member_count: 2 })
    expectError(await call(m, 'PATCH', `/v1/rooms/${c.body.id}`, { name: 'no' }), 403, 'forbidden')
    expect((await call(o, 'PATCH', `/v1/rooms/${c.body.id}`, { name: 'off-topic' })).body.name).toBe('off-topic')
    expectError(await call(o, 'DELETE', `/v1/rooms/${sp.general_channel_id}`), 403, 'forbidden')
    expectError(await call(m, 'DELETE', `/v1/rooms/${c.body.id}`), 403, 'forbidden')
    expectStatus(await call(o, 'DELETE', `/v1/rooms/${c.body.id}`), 204)
    expectError(await call(o, 'GET', `/v1/rooms/${c.body.id}`), 404, 'not_found')
    // a channel has no members of its own
    expectError(await call(o, 'POST', `/v1/rooms/${sp.general_channel_id}/members`, { user_ids: [m.id] }), 403, 'forbidden')
    expectError(await call(m, 'POST', `/v1/rooms/${sp.general_channel_id}/leave`), 403, 'forbidden')
  })

  test('messages, unread counts, read marks, members and search work as in a group room', async () => {
    const [o, early, late, outsider] = await Promise.all([fresh(), fresh(), fresh(), fresh()])
    const sp = await space(o)
    await member(sp, o, early)
    const ch = sp.general_channel_id
    for (let i = 1; i <= 3; i++) expectStatus(await call(o, 'POST', `/v1/rooms/${ch}/messages`, { content: `before ${i} 채널` }), 201)
    await member(sp, o, late)
    expectStatus(await call(o, 'POST', `/v1/rooms/${ch}/messages`, { content: 'after 채널' }), 201)
    const unread = async (u: TestUser) => {
      const rooms = (await call(u, 'GET', '/v1/rooms')).body.rooms as { id: number; unread_count: number; last_seq: number }[]
      return rooms.find((r) => r.id === ch)
    }
    // the early member has everything unread; the late one only what came after they joined
    expect(await unread(early)).toMatchObject({ unread_count: 4, last_seq: 4 })
    expect(await unread(late)).toMatchObject({ unread_count: 1 })
    expect(await unread(o)).toMatchObject({ unread_count: 0 })
    const read = await call(early, 'POST', `/v1/rooms/${ch}/read`, { seq: 3 })
    expect(read.body).toEqual({ last_read_seq: 3, unread_count: 1 })
    expect(await unread(early)).toMatchObject({ unread_count: 1 })
    // members of a channel are the space's, with their read marks
    const members = (await call(o, 'GET', `/v1/rooms/${ch}/members`)).body.members as { user: { id: number }; last_read_seq: number; role: string }[]
    expect(Object.fromEntries(members.map((x) => [x.user.id, [x.role, x.last_read_seq]]))).toEqual({
      [o.id]: ['owner', 4], [early.id]: ['member', 3], [late.id]: ['member', 3],
    })
    const history = await call(late, 'GET', `/v1/rooms/${ch}/messages`)
    expect(history.body.messages).toHaveLength(4)
    // search across the caller's rooms reaches channels
    await until(async () => ((await call(late, 'GET', `/v1/search?q=${encodeURIComponent('채널')}`)).body.messages?.length ?? 0) === 4, 20_000, 'search')
    for (const path of [`/v1/rooms/${ch}/messages`, `/v1/rooms/${ch}/members`]) expectError(await call(outsider, 'GET', path), 403, 'not_member')
    expectError(await call(outsider, 'POST', `/v1/rooms/${ch}/messages`, { content: 'x' }), 403, 'not_member')
  })

  test('settings and moderation of a channel are per member and the space\'s', async () => {
    const [o, m] = await Promise.all([fresh(), fresh()])
    const sp = await space(o)
    await member(sp, o, m)
    const ch = sp.general_channel_id
    expectStatus(await call(m, 'PATCH', `/v1/rooms/${ch}/settings`, { notifications: false }), 200)
    expect((await call(m, 'GET', `/v1/rooms/${ch}/settings`)).body.notifications).toBe(false)
    expect((await call(o, 'GET', `/v1/rooms/${ch}/settings`)).body.notifications).toBe(true)
    // a ban through the channel's route bans from the space
    expectStatus(await call(o, 'POST', `/v1/rooms/${ch}/bans`, { user_id: m.id }), 201)
    expectError(await call(m, 'GET', `/v1/spaces/${sp.id}`), 403, 'not_member')
    expect((await call(o, 'GET', `/v1/spaces/${sp.id}/bans`)).body.bans).toHaveLength(1)
  })
})

describe('discover', () => {
  test('public spaces by name prefix, most members first; private ones never', async () => {
    const [o, u1, u2] = await Promise.all([fresh(), fresh(), fresh()])
    const tag = `zq${Math.random().toString(36).slice(2, 7)}`
    const small = await space(o, { name: `${tag} small`, visibility: 'public' })
    const big = await space(o, { name: `${tag.toUpperCase()} big`, visibility: 'public' })
    await space(o, { name: `${tag} hidden` })
    for (const u of [u1, u2]) expectStatus(await call(u, 'POST', `/v1/spaces/${big.id}/join`), 200)
    const r = await call(u1, 'GET', `/v1/spaces/discover?query=${tag}`)
    expectStatus(r, 200)
    expect(r.body.spaces.map((x: { id: number }) => x.id)).toEqual([big.id, small.id])
    expectError(await call(u1, 'GET', '/v1/spaces/discover?limit=0'), 422, 'validation')
    expectError(await call(u1, 'GET', '/v1/spaces/discover?query=%00'), 422, 'validation')
  })
})

describe('live: a socket follows its spaces', () => {
  test('joining a space with a socket open: it hears the space and its channels at once; a new channel too', async () => {
    const [o, u] = await Promise.all([fresh(), fresh()])
    const sp = await space(o, { visibility: 'public' })
    const ws = await openWs(s, u)
    expectStatus(await call(u, 'POST', `/v1/spaces/${sp.id}/join`), 200)
    expect((await ws.next('space.member.joined')).space_id).toBe(sp.id)
    // the channel's messages reach the socket without a reconnect (retried: the follow lands right after the event)
    await until(async () => {
      expectStatus(await call(o, 'POST', `/v1/rooms/${sp.general_channel_id}/messages`, { content: 'hello channel' }), 201)
      return ws.frames.some((f) => f.type === 'message.created' && f.message.room_id === sp.general_channel_id)
    }, 10_000, 'a channel message on the joiner’s socket')
    const c = await call(o, 'POST', `/v1/spaces/${sp.id}/channels`, { name: 'new' })
    expect((await ws.next((f) => f.type === 'room.created' && f.room.id === c.body.id)).room.space_id).toBe(sp.id)
    expectStatus(await call(o, 'POST', `/v1/rooms/${c.body.id}/messages`, { content: 'in new' }), 201)
    expect((await ws.next((f) => f.type === 'message.created' && f.message.room_id === c.body.id)).message.content).toBe('in new')
    ws.close()
  })

  test('ready lists channels; space events and presence arrive once per space, not once per channel', async () => {
    const [o, u] = await Promise.all([fresh(), fresh()])
    const sp = await space(o)
    await member(sp, o, u)
    for (const name of ['a', 'b', 'c']) expectStatus(await call(o, 'POST', `/v1/spaces/${sp.id}/channels`, { name }), 201)
    const wu = await openWs(s, u)
    const ready = wu.frames.find((f) => f.type === 'ready')!
    expect(ready.rooms.map((r: { id: number }) => r.id)).toContain(sp.general_channel_id)
    expect(ready.rooms.length).toBeGreaterThanOrEqual(4)
    const wo = await openWs(s, o)
    await wu.next((f) => f.type === 'presence' && f.user_id === o.id && f.status === 'online')
    expectStatus(await call(o, 'PATCH', `/v1/spaces/${sp.id}`, { description: 'now' }), 200)
    expect((await wu.next('space.updated')).space).toMatchObject({ id: sp.id, description: 'now' })
    expect(wu.frames.filter((f) => f.type === 'presence' && f.user_id === o.id && f.status === 'online')).toHaveLength(1)
    wu.close()
    wo.close()
  })

  test('a banned user’s socket stops receiving the space at once', async () => {
    const [o, u] = await Promise.all([fresh(), fresh()])
    const sp = await space(o)
    await member(sp, o, u)
    const ws = await openWs(s, u)
    expectStatus(await call(o, 'POST', `/v1/spaces/${sp.id}/bans`, { user_id: u.id }), 201)
    expect(await ws.next((f) => f.type === 'space.member.left' && f.user_id === u.id)).toMatchObject({ reason: 'banned' })
    const sentinel = await openWs(s, o)
    expectStatus(await call(o, 'POST', `/v1/rooms/${sp.general_channel_id}/messages`, { content: 'after the ban' }), 201)
    await sentinel.next((f) => f.type === 'message.created' && f.message.content === 'after the ban')
    // the owner's socket saw it; the banned one must not (its frames are in order: a ping answered after it proves it)
    ws.send({ type: 'ping' })
    await ws.next('pong')
    expect(ws.frames.some((f) => f.type === 'message.created' && f.message.content === 'after the ban')).toBe(false)
    ws.close()
    sentinel.close()
  })
})

const cluster = !!(PG_URL && REDIS_URL)
describe.if(cluster)('spaces on two nodes', () => {
  let db: { url: string; drop: () => Promise<void> }
  let a: TestServer
  let b: TestServer
  beforeAll(async () => {
    db = await freshPostgres()
    const env = { REDIS_URL: REDIS_URL!, REDIS_PREFIX: `sp${Math.random().toString(36).slice(2, 8)}:`, RATE_MESSAGES: '0', MAX_SPACE_MEMBERS: '5' }
    a = await startServer({ ...env, NODE_ID: 'a' }, db.url)
    b = await startServer({ ...env, NODE_ID: 'b' }, db.url)
  })
  afterAll(async () => {
    await a?.close()
    await b?.close()
    await db?.drop()
  })

  test('channel messages from both nodes reach sockets on both, in order, gapless, exactly once', async () => {
    const [o, u] = await Promise.all([register(a.api, 'o'), register(b.api, 'u')])
    const sp = (await a.api('POST', '/v1/spaces', { token: o.token, body: { name: 'x', visibility: 'public' } })).body
    expectStatus(await b.api('POST', `/v1/spaces/${sp.id}/join`, { token: u.token }), 200)
    const ch = sp.general_channel_id as number
    const [sa, sb] = [await openWs(a, o), await openWs(b, u)]
    const per = 40
    for (let k = 0; k < per; k++) {
      sa.send({ type: 'message.send', room_id: ch, content: `a${k}` })
      sb.send({ type: 'message.send', room_id: ch, content: `b${k}` })
    }
    const seqs = (w: TestSocket) => w.frames.filter((f) => f.type === 'message.created' && f.message.room_id === ch).map((f) => f.message.seq as number)
    await until(() => seqs(sa).length >= 2 * per && seqs(sb).length >= 2 * per, 30_000, 'every message on both nodes')
    const want = Array.from({ length: 2 * per }, (_, i) => i + 1)
    expect(seqs(sa)).toEqual(want)
    expect(seqs(sb)).toEqual(want)
    sa.close()
    sb.close()
  })

  test('a ban on node A stops the banned user’s socket on node B at once', async () => {
    const [o, u] = await Promise.all([register(a.api, 'o'), register(b.api, 'u')])
    const sp = (await a.api('POST', '/v1/spaces', { token: o.token, body: { name: 'y', visibility: 'public' } })).body
    expectStatus(await b.api('POST', `/v1/spaces/${sp.id}/join`, { token: u.token }), 200)
    const wb = await openWs(b, u)
    expectStatus(await a.api('POST', `/v1/spaces/${sp.id}/bans`, { token: o.token, body: { user_id: u.id } }), 201)
    await wb.next((f) => f.type === 'space.member.left' && f.user_id === u.id)
    const watcher = await openWs(b, o)
    expectStatus(await a.api('POST', `/v1/rooms/${sp.general_channel_id}/messages`, { token: o.token, body: { content: 'secret' } }), 201)
    await watcher.next((f) => f.type === 'message.created' && f.message.content === 'secret')
    wb.send({ type: 'ping' })
    await wb.next('pong')
    expect(wb.frames.some((f) => f.type === 'message.created' && f.message.content === 'secret')).toBe(false)
    wb.close()
    watcher.close()
  })

  test('MAX_SPACE_MEMBERS holds with joins spread over two nodes', async () => {
    const o = await register(a.api, 'o')
    const sp = (await a.api('POST', '/v1/spaces', { token: o.token, body: { name: 'z', visibility: 'public' } })).body
    const joiners = await Promise.all(Array.from({ length: 8 }, (_, i) => register(i % 2 ? a.api : b.api, `j${i}`)))
    const answers = await Promise.all(joiners.map((u, i) => (i % 2 ? a.api : b.api)('POST', `/v1/spaces/${sp.id}/join`, { token: u.token })))
    expect(answers.filter((r) => r.status === 200)).toHaveLength(4)
    expect(answers.filter((r) => r.status === 422)).toHaveLength(4)
  })
})

describe.if(!!PG_URL)('cost of joining a space (Postgres: statements counted by the driver)', () => {
  test('is the same with 1 channel or 50: one space_members row, no per-channel row, a fixed number of statements', async () => {
    const queries: string[] = []
    const db = await testDatabase()
    const config = loadConfig({ PORT: '0', HOST: '127.0.0.1', DATABASE_URL: db.url, JWT_SECRET: 'test-secret', LOG_LEVEL: 'error', RATE_AUTH: '0' })
    const chat = await createChatServer(config, silentLogger, { onQuery: (q) => queries.push(q) })
    const url = chat.listen().url.href.replace(/\/$/, '')
    const a = api(url)
    try {
      const [o, u1, u50] = await Promise.all([register(a, 'o'), register(a, 'u1'), register(a, 'u50')])
      const cost = async (channels: number, u: TestUser) => {
        const sp = (await a('POST', '/v1/spaces', { token: o.token, body: { name: `c${channels}`, visibility: 'public' } })).body
        for (let i = 1; i < channels; i++) expectStatus(await a('POST', `/v1/spaces/${sp.id}/channels`, { token: o.token, body: { name: `ch${i}` } }), 201)
        const count = async () => (await chat.database.rows<{ sm: number; rm: number }>(
          sql`select (select count(*)::int from space_members) as sm, (select count(*)::int from room_members) as rm`,
        ))[0]!
        const before = await count()
        queries.length = 0
        expectStatus(await a('POST', `/v1/spaces/${sp.id}/join`, { token: u.token }), 200)
        // the node's background jobs run on timers beside the request, and a request may open a pooled connection
        const own = queries.filter((q) => !BACKGROUND_STATEMENT.test(q))
        const statements = own.length
        const writes = own.filter((q) => /^\s*(with[\s\S]*\b)?(insert|update|delete)\b/i.test(q)).length
        const after = await count()
        return { statements, writes, spaceMembers: after.sm - before.sm, roomMembers: after.rm - before.rm }
      }
      const one = await cost(1, u1)
      const fifty = await cost(50, u50)
      console.log(`[join cost] 1 channel: ${JSON.stringify(one)}; 50 channels: ${JSON.stringify(fifty)}`)
      expect(fifty).toEqual(one)
      expect(fifty).toMatchObject({ spaceMembers: 1, roomMembers: 0 })
    } finally {
      await chat.close()
      await db.drop()
    }
  })
})
