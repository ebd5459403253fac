import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { expectError, expectRoom, expectStatus, expectUser, ISO } from './contract'
import { groupRoom, openWs, register, startServer, type TestServer, type TestSocket, type TestUser } from './helpers'

setDefaultTimeout(60_000)

let s: TestServer
let alice: TestUser
let bob: TestUser
let carol: TestUser
let dave: TestUser
/** 100 more users, for the member limit (MAX_ROOM_MEMBERS = 100 by default). */
let pool: TestUser[]

const registerMany = (srv: TestServer, n: number, prefix: string) =>
  Promise.all(Array.from({ length: n }, (_, i) => register(srv.api, `${prefix}${i}`)))

beforeAll(async () => {
  s = await startServer({ RATE_MESSAGES: '0' })
  ;[alice, bob, carol, dave] = await Promise.all([
    register(s.api, 'alice'), register(s.api, 'bob'), register(s.api, 'carol'), register(s.api, 'dave'),
  ])
  pool = await registerMany(s, 100, 'pool')
}, 120_000)
afterAll(() => s.close())

const fresh = (name = 'fresh') => register(s.api, name)
const getRoom = (id: number, u: TestUser) => s.api('GET', `/v1/rooms/${id}`, { token: u.token })
const members = (id: number, u: TestUser) => s.api('GET', `/v1/rooms/${id}/members`, { token: u.token })
const list = (u: TestUser, q = '') => s.api('GET', `/v1/rooms${q}`, { token: u.token })
const send = (id: number, u: TestUser, content: string) => s.api('POST', `/v1/rooms/${id}/messages`, { token: u.token, body: { content } })
const memberIds = async (id: number, u: TestUser) => {
  const r = await members(id, u)
  expectStatus(r, 200)
  return (r.body.members as { user: { id: number } }[]).map((m) => m.user.id).sort((a, b) => a - b)
}
const sorted = (ids: number[]) => [...ids].sort((a, b) => a - b)

/** Opens a socket that is live on `roomIds` (explicit subscribe, so room events cannot slip past). */
async function openIn(u: TestUser, roomIds: number[]): Promise<TestSocket> {
  const ws = await openWs(s, u)
  for (const id of roomIds) await ws.subscribe(id)
  return ws
}

describe('POST /v1/rooms (group)', () => {
  test('201 with the Room; the caller is owner, the others members', async () => {
    const r = await s.api('POST', '/v1/rooms', {
      token: alice.token, body: { type: 'group', name: 'study', description: 'books', member_ids: [bob.id, carol.id] },
    })
    expectStatus(r, 201)
    expectRoom(r.body, {
      type: 'group', name: 'study', description: 'books', visibility: 'private', space_id: null, external_id: null,
      created_by: alice.id, member_count: 3, max_members: 100, last_seq: 0, last_message: null, unread_count: 0,
    })
    const m = await members(r.body.id, alice)
    expectStatus(m, 200)
    const roles = Object.fromEntries((m.body.members as { user: { id: number }; role: string }[]).map((x) => [x.user.id, x.role]))
    expect(roles).toEqual({ [alice.id]: 'owner', [bob.id]: 'member', [carol.id]: 'member' })
  })

  test('visibility and external_id are kept; the caller in member_ids is not counted twice', async () => {
    const r = await s.api('POST', '/v1/rooms', {
      token: alice.token,
      body: { type: 'group', name: 'open', visibility: 'public', external_id: 'post:42', member_ids: [alice.id, bob.id, bob.id] },
    })
    expectStatus(r, 201)
    expectRoom(r.body, { visibility: 'public', external_id: 'post:42', member_count: 2 })
  })

  test('an empty, blank, missing or too long name is 422 validation; 100 characters are fine', async () => {
    const u = await fresh()
    for (const name of ['', '   ', 'n'.repeat(101), undefined, 42]) {
      expectError(await s.api('POST', '/v1/rooms', { token: u.token, body: { type: 'group', name } }), 422, 'validation')
    }
    expect((await list(u)).body.rooms).toEqual([])
    const ok = await s.api('POST', '/v1/rooms', { token: u.token, body: { type: 'group', name: '가'.repeat(100) } })
    expectStatus(ok, 201)
    expect(ok.body.name).toBe('가'.repeat(100))
  })

  test('a bad type or visibility is 422 validation', async () => {
    expectError(await s.api('POST', '/v1/rooms', { token: alice.token, body: { type: 'channel', name: 'x' } }), 422, 'validation')
    expectError(await s.api('POST', '/v1/rooms', { token: alice.token, body: { type: 'group', name: 'x', visibility: 'secret' } }), 422, 'validation')
    expectError(await s.api('POST', '/v1/rooms', { token: alice.token, body: { type: 'group', name: 'x', member_ids: ['abc'] } }), 422, 'validation')
  })

  test('an unknown member id is 404 not_found and no room is created', async () => {
    const u = await fresh()
    const r = await s.api('POST', '/v1/rooms', { token: u.token, body: { type: 'group', name: 'x', member_ids: [bob.id, 987654321] } })
    expectError(r, 404, 'not_found')
    expect((await list(u)).body.rooms).toEqual([])
  })

  test('more than MAX_ROOM_MEMBERS in total is 422 room_full and no room is created', async () => {
    const u = await fresh()
    const r = await s.api('POST', '/v1/rooms', { token: u.token, body: { type: 'group', name: 'big', member_ids: pool.map((p) => p.id) } })
    expectError(r, 422, 'room_full')
    expect((await list(u)).body.rooms).toEqual([])
  })

  test('401 without a token', async () => {
    expectError(await s.api('POST', '/v1/rooms', { body: { type: 'group', name: 'x' } }), 401, 'unauthorized')
  })
})

describe('POST /v1/rooms (direct)', () => {
  test('201, then 200 with the same room from either side', async () => {
    const [a, b] = await Promise.all([fresh('da'), fresh('db')])
    const r = await s.api('POST', '/v1/rooms', { token: a.token, body: { type: 'direct', member_ids: [b.id] } })
    expectStatus(r, 201)
    expectRoom(r.body, { type: 'direct', member_count: 2, created_by: a.id, last_seq: 0, last_message: null, unread_count: 0 })
    expect(await memberIds(r.body.id, a)).toEqual(sorted([a.id, b.id]))
    const again = await s.api('POST', '/v1/rooms', { token: a.token, body: { type: 'direct', member_ids: [b.id] } })
    expectStatus(again, 200)
    expect(again.body.id).toBe(r.body.id)
    const other = await s.api('POST', '/v1/rooms', { token: b.token, body: { type: 'direct', member_ids: [a.id] } })
    expectStatus(other, 200)
    expect(other.body.id).toBe(r.body.id)
    expect((await list(a)).body.rooms.map((x: { id: number }) => x.id)).toEqual([r.body.id])
  })

  test('with oneself, nobody, or two others is 422 validation', async () => {
    const u = await fresh()
    for (const member_ids of [[u.id], [], [bob.id, carol.id]]) {
      expectError(await s.api('POST', '/v1/rooms', { token: u.token, body: { type: 'direct', member_ids } }), 422, 'validation')
    }
    expectError(await s.api('POST', '/v1/rooms', { token: u.token, body: { type: 'direct' } }), 422, 'validation')
    expect((await list(u)).body.rooms).toEqual([])
  })

  test('with an unknown user is 404 not_found', async () => {
    const u = await fresh()
    expectError(await s.api('POST', '/v1/rooms', { token: u.token, body: { type: 'direct', member_ids: [987654321] } }), 404, 'not_found')
    expect((await list(u)).body.rooms).toEqual([])
  })

  test('adding members to it is 403 forbidden, and nobody is added', async () => {
    const [a, b] = await Promise.all([fresh('da'), fresh('db')])
    const r = await s.api('POST', '/v1/rooms', { token: a.token, body: { type: 'direct', member_ids: [b.id] } })
    for (const u of [a, b]) {
      expectError(await s.api('POST', `/v1/rooms/${r.body.id}/members`, { token: u.token, body: { user_ids: [carol.id] } }), 403, 'forbidden')
    }
    expect(await memberIds(r.body.id, a)).toEqual(sorted([a.id, b.id]))
  })
})

describe('GET /v1/rooms', () => {
  test('only the caller’s rooms', async () => {
    const [u, other] = await Promise.all([fresh('lister'), fresh('other')])
    const mine = [await groupRoom(s.api, u), await groupRoom(s.api, other, [u]), await groupRoom(s.api, u, [other])]
    await groupRoom(s.api, other)
    await groupRoom(s.api, alice, [bob])
    const r = await list(u)
    expectStatus(r, 200)
    expect(sorted(r.body.rooms.map((x: { id: number }) => x.id))).toEqual(sorted(mine.map((x) => x.id)))
    for (const room of r.body.rooms) expectRoom(room)
    expect(r.body.next_cursor).toBeNull()
  })

  test('most recent activity first: a message moves a room to the top', async () => {
    const u = await fresh()
    const [r1, r2, r3] = [await groupRoom(s.api, u), await groupRoom(s.api, u), await groupRoom(s.api, u)]
    const order = async () => (await list(u)).body.rooms.map((x: { id: number }) => x.id)
    expect(await order()).toEqual([r3!.id, r2!.id, r1!.id])
    expectStatus(await send(r1!.id, u, 'bump'), 201)
    expect(await order()).toEqual([r1!.id, r3!.id, r2!.id])
    expectStatus(await send(r2!.id, u, 'bump'), 201)
    expect(await order()).toEqual([r2!.id, r1!.id, r3!.id])
  })

  test('last_message and unread_count for each caller', async () => {
    const [u, v] = await Promise.all([fresh('u'), fresh('v')])
    const room = await groupRoom(s.api, u, [v])
    const mine = async (x: TestUser) => ((await list(x)).body.rooms as { id: number; last_message: unknown }[]).find((r) => r.id === room.id)
    expect(await mine(u)).toMatchObject({ last_seq: 0, last_message: null, unread_count: 0 })

    expectStatus(await send(room.id, v, 'one'), 201)
    const two = await send(room.id, v, 'two')
    expectStatus(two, 201)
    expect(await mine(u)).toMatchObject({ last_seq: 2, unread_count: 2 })
    expect((await mine(u))?.last_message).toEqual(two.body)
    // the sender's own messages are not unread for them
    expect(await mine(v)).toMatchObject({ last_seq: 2, unread_count: 0, last_message: { id: two.body.id, content: 'two' } })

    // u answers: the send moves u's read mark to it
    const three = await send(room.id, u, 'three')
    expect(await mine(u)).toMatchObject({ last_seq: 3, unread_count: 0, last_message: { id: three.body.id, seq: 3, content: 'three' } })
    expect(await mine(v)).toMatchObject({ last_seq: 3, unread_count: 1 })
    expect((await getRoom(room.id, v)).body).toMatchObject({ last_seq: 3, unread_count: 1, last_message: { id: three.body.id } })

    expectStatus(await s.api('POST', `/v1/rooms/${room.id}/read`, { token: v.token, body: { seq: 3 } }), 200)
    expect(await mine(v)).toMatchObject({ unread_count: 0 })
  })

  test('pages with limit and next_cursor cover every room exactly once, null at the end', async () => {
    const u = await fresh()
    const made: number[] = []
    for (let i = 0; i < 7; i++) made.push((await groupRoom(s.api, u, [], { name: `page ${i}` })).id)
    // activity in the middle of the list reorders it
    expectStatus(await send(made[2]!, u, 'bump'), 201)
    const all = (await list(u, '?limit=200')).body.rooms.map((x: { id: number }) => x.id) as number[]
    expect(all).toHaveLength(7)
    expect(all[0]).toBe(made[2]!)
    for (const limit of [1, 3, 7]) {
      const seen: number[] = []
      let cursor: string | null = null
      let pages = 0
      do {
        const q: string = `?limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`
        const r = await list(u, q)
        expectStatus(r, 200)
        expect(r.body.rooms.length).toBeLessThanOrEqual(limit)
        seen.push(...r.body.rooms.map((x: { id: number }) => x.id))
        cursor = r.body.next_cursor
        expect(cursor === null || typeof cursor === 'string').toBe(true)
        pages++
      } while (cursor !== null && pages < 20)
      expect(seen).toEqual(all)
      expect(pages).toBe(Math.ceil(7 / limit))
    }
  })

  test('a bad cursor is 422 validation', async () => {
    for (const cursor of ['garbage', Buffer.from('{"t":"x","id":1}').toString('base64url'), Buffer.from('[]').toString('base64url')]) {
      expectError(await list(alice, `?cursor=${cursor}`), 422, 'validation')
    }
  })

  test('limit 0, 201 or not an integer is 422 validation', async () => {
    for (const limit of ['0', '201', '-1', '1.5', 'x']) expectError(await list(alice, `?limit=${limit}`), 422, 'validation')
  })

  test('external_id filters the caller’s rooms', async () => {
    const [u, other] = await Promise.all([fresh(), fresh()])
    const post = await groupRoom(s.api, u, [], { external_id: 'post:7' })
    await groupRoom(s.api, u, [], { external_id: 'post:8' })
    await groupRoom(s.api, u)
    await groupRoom(s.api, other, [], { external_id: 'post:9' })
    const r = await list(u, '?external_id=post%3A7')
    expectStatus(r, 200)
    expect(r.body.rooms.map((x: { id: number }) => x.id)).toEqual([post.id])
    expect(r.body.rooms[0].external_id).toBe('post:7')
    expect((await list(u, '?external_id=post%3A9')).body).toEqual({ rooms: [], next_cursor: null })
  })

  test('401 without a token', async () => {
    expectError(await s.api('GET', '/v1/rooms'), 401, 'unauthorized')
  })
})

describe('external_id: unique, create-or-get, lookup', () => {
  const key = () => `post:${Math.random().toString(36).slice(2)}`
  const create = (u: { token: string }, body: Record<string, unknown>) =>
    s.api('POST', '/v1/rooms', { token: u.token, body: { type: 'group', name: 'post chat', ...body } })

  test('20 parallel creates of one external_id make one room: one 201, the rest 200 with that room', async () => {
    const [u, ...others] = await Promise.all(Array.from({ length: 5 }, () => fresh()))
    const k = key()
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => create(i % 5 === 0 ? u! : others[i % 4]!, { external_id: k, visibility: 'public' })))
    expect(answers.map((a) => a.status).sort()).toEqual([...Array(19).fill(200), 201])
    expect(new Set(answers.map((a) => a.body.id)).size).toBe(1)
    const lookup = await s.api('GET', `/v1/rooms/lookup?external_id=${encodeURIComponent(k)}`, { token: u!.token })
    expectStatus(lookup, 200)
    expect(lookup.body.id).toBe(answers[0]!.body.id)
  })

  test('a private room with the key: 200 for its members, 409 conflict for others; lookup 404 for them', async () => {
    const [owner, member, outsider] = await Promise.all([fresh(), fresh(), fresh()])
    const k = key()
    const made = await create(owner, { external_id: k, member_ids: [member.id] })
    expectStatus(made, 201)
    const again = await create(member, { external_id: k })
    expectStatus(again, 200)
    expect(again.body.id).toBe(made.body.id)
    expectError(await create(outsider, { external_id: k }), 409, 'conflict')
    expectError(await s.api('GET', `/v1/rooms/lookup?external_id=${encodeURIComponent(k)}`, { token: outsider.token }), 404, 'not_found')
    expectStatus(await s.api('GET', `/v1/rooms/lookup?external_id=${encodeURIComponent(k)}`, { token: member.token }), 200)
  })

  test('lookup: unknown key 404, missing or bad key 422, no token 401', async () => {
    const u = await fresh()
    expectError(await s.api('GET', `/v1/rooms/lookup?external_id=${key()}`, { token: u.token }), 404, 'not_found')
    expectError(await s.api('GET', '/v1/rooms/lookup', { token: u.token }), 422, 'validation')
    expectError(await s.api('GET', '/v1/rooms/lookup?external_id=%00x', { token: u.token }), 422, 'validation')
    expectError(await s.api('GET', `/v1/rooms/lookup?external_id=${'x'.repeat(201)}`, { token: u.token }), 422, 'validation')
    expectError(await s.api('GET', '/v1/rooms/lookup?external_id=x'), 401, 'unauthorized')
  })
})

describe('GET /v1/rooms/:id', () => {
  test('a member gets 200 with the Room', async () => {
    const room = await groupRoom(s.api, alice, [bob])
    const r = await getRoom(room.id, bob)
    expectStatus(r, 200)
    expectRoom(r.body, { id: room.id, type: 'group', member_count: 2, created_by: alice.id })
  })

  test('a non-member of a private room gets 403 not_member', async () => {
    const room = await groupRoom(s.api, alice, [bob])
    expectError(await getRoom(room.id, carol), 403, 'not_member')
  })

  test('a public room is 200 for anyone', async () => {
    const room = await groupRoom(s.api, alice, [], { visibility: 'public', name: 'lobby' })
    const r = await getRoom(room.id, carol)
    expectStatus(r, 200)
    expectRoom(r.body, { id: room.id, name: 'lobby', visibility: 'public', member_count: 1 })
  })

  test('an unknown room is 404 not_found; a bad id 422 validation', async () => {
    expectError(await getRoom(987654321, alice), 404, 'not_found')
    for (const id of ['abc', '0', '1.5']) expectError(await s.api('GET', `/v1/rooms/${id}`, { token: alice.token }), 422, 'validation')
  })
})

describe('PATCH /v1/rooms/:id', () => {
  test('the owner changes the room; members get room.updated', async () => {
    const room = await groupRoom(s.api, alice, [bob])
    const b = await openIn(bob, [room.id])
    const r = await s.api('PATCH', `/v1/rooms/${room.id}`, {
      token: alice.token, body: { name: 'renamed', description: 'about', visibility: 'public' },
    })
    expectStatus(r, 200)
    expectRoom(r.body, { id: room.id, name: 'renamed', description: 'about', visibility: 'public' })
    const ev = await b.next((f) => f.type === 'room.updated' && f.room.id === room.id)
    expectRoom(ev.room, { id: room.id, name: 'renamed', description: 'about', visibility: 'public' })
    expect((await getRoom(room.id, bob)).body).toMatchObject({ name: 'renamed', description: 'about', visibility: 'public' })
    // description null clears it
    const cleared = await s.api('PATCH', `/v1/rooms/${room.id}`, { token: alice.token, body: { description: null } })
    expectStatus(cleared, 200)
    expect(cleared.body).toMatchObject({ name: 'renamed', description: null })
    b.close()
  })

  test('a plain member gets 403 forbidden; a non-member 403 not_member; nothing changes', async () => {
    const room = await groupRoom(s.api, alice, [bob], { name: 'keep' })
    expectError(await s.api('PATCH', `/v1/rooms/${room.id}`, { token: bob.token, body: { name: 'mine' } }), 403, 'forbidden')
    expectError(await s.api('PATCH', `/v1/rooms/${room.id}`, { token: carol.token, body: { name: 'mine' } }), 403, 'not_member')
    expect((await getRoom(room.id, alice)).body.name).toBe('keep')
  })

  test('a bad visibility or name is 422 validation', async () => {
    const room = await groupRoom(s.api, alice, [], { name: 'keep' })
    for (const body of [{ visibility: 'secret' }, { name: '' }, { name: 'n'.repeat(101) }, { name: null }]) {
      expectError(await s.api('PATCH', `/v1/rooms/${room.id}`, { token: alice.token, body }), 422, 'validation')
    }
    expect((await getRoom(room.id, alice)).body).toMatchObject({ name: 'keep', visibility: 'private' })
  })

  test('a direct room cannot be changed: 403 forbidden', async () => {
    const [a, b] = await Promise.all([fresh(), fresh()])
    const d = await s.api('POST', '/v1/rooms', { token: a.token, body: { type: 'direct', member_ids: [b.id] } })
    expectError(await s.api('PATCH', `/v1/rooms/${d.body.id}`, { token: a.token, body: { name: 'ours' } }), 403, 'forbidden')
    expect((await getRoom(d.body.id, a)).body.name).toBeNull()
  })

  test('an unknown room is 404 not_found', async () => {
    expectError(await s.api('PATCH', '/v1/rooms/987654321', { token: alice.token, body: { name: 'x' } }), 404, 'not_found')
  })
})

describe('DELETE /v1/rooms/:id', () => {
  test('the owner deletes: 204, then 404; members’ sockets get room.deleted', async () => {
    const room = await groupRoom(s.api, alice, [bob, carol])
    const [b, c] = await Promise.all([openIn(bob, [room.id]), openIn(carol, [room.id])])
    const r = await s.api('DELETE', `/v1/rooms/${room.id}`, { token: alice.token })
    expect(r.status).toBe(204)
    for (const ws of [b, c]) {
      expect(await ws.next((f) => f.type === 'room.deleted' && f.room_id === room.id)).toMatchObject({ room_id: room.id })
    }
    expectError(await getRoom(room.id, alice), 404, 'not_found')
    expectError(await getRoom(room.id, bob), 404, 'not_found')
    expect((await list(bob)).body.rooms.map((x: { id: number }) => x.id)).not.toContain(room.id)
    b.close()
    c.close()
  })

  test('a member gets 403 forbidden, a non-member 403 not_member, and the room stays', async () => {
    const room = await groupRoom(s.api, alice, [bob])
    expectError(await s.api('DELETE', `/v1/rooms/${room.id}`, { token: bob.token }), 403, 'forbidden')
    expectError(await s.api('DELETE', `/v1/rooms/${room.id}`, { token: carol.token }), 403, 'not_member')
    expectStatus(await getRoom(room.id, bob), 200)
  })

  test('an unknown room is 404 not_found', async () => {
    expectError(await s.api('DELETE', '/v1/rooms/987654321', { token: alice.token }), 404, 'not_found')
  })
})

describe('GET /v1/rooms/:id/members', () => {
  test('200 with user, role, joined_at and last_read_seq', async () => {
    const room = await groupRoom(s.api, alice, [bob])
    await send(room.id, bob, 'hello')
    const r = await members(room.id, alice)
    expectStatus(r, 200)
    expect(r.body.members).toHaveLength(2)
    for (const m of r.body.members) {
      expectUser(m.user)
      expect(['owner', 'admin', 'member']).toContain(m.role)
      expect(m.joined_at).toMatch(ISO)
      expect(Number.isSafeInteger(m.last_read_seq)).toBe(true)
    }
    const by = Object.fromEntries(r.body.members.map((m: { user: { id: number } }) => [m.user.id, m]))
    expect(by[alice.id]).toMatchObject({ role: 'owner', last_read_seq: 0, user: { id: alice.id, nickname: 'alice', email: alice.email } })
    expect(by[bob.id]).toMatchObject({ role: 'member', last_read_seq: 1, user: { id: bob.id, nickname: 'bob' } })
  })

  test('a non-member gets 403 not_member, even for a public room', async () => {
    const priv = await groupRoom(s.api, alice, [bob])
    const pub = await groupRoom(s.api, alice, [], { visibility: 'public' })
    expectError(await members(priv.id, carol), 403, 'not_member')
    expectError(await members(pub.id, carol), 403, 'not_member')
    expectError(await members(987654321, carol), 404, 'not_found')
  })
})

describe('POST /v1/rooms/:id/members', () => {
  const add = (id: number, u: TestUser, user_ids: number[]) => s.api('POST', `/v1/rooms/${id}/members`, { token: u.token, body: { user_ids } })

  test('the owner adds: 200 with the members; the new member gets room.created, the others member.joined', async () => {
    const room = await groupRoom(s.api, alice, [bob])
    const [b, c] = await Promise.all([openIn(bob, [room.id]), openWs(s, carol)])
    const r = await add(room.id, alice, [carol.id])
    expectStatus(r, 200)
    const roles = Object.fromEntries(r.body.members.map((m: { user: { id: number }; role: string }) => [m.user.id, m.role]))
    expect(roles).toEqual({ [alice.id]: 'owner', [bob.id]: 'member', [carol.id]: 'member' })
    for (const m of r.body.members) expectUser(m.user)
    const created = await c.next((f) => f.type === 'room.created' && f.room.id === room.id)
    expectRoom(created.room, { id: room.id, member_count: 3 })
    const joined = await b.next((f) => f.type === 'member.joined' && f.room_id === room.id)
    expectUser(joined.user, { id: carol.id, nickname: 'carol' })
    expect((await getRoom(room.id, carol)).body.member_count).toBe(3)
    b.close()
    c.close()
  })

  test('those already members stay as they are', async () => {
    const room = await groupRoom(s.api, alice, [bob])
    const r = await add(room.id, alice, [alice.id, bob.id, carol.id, carol.id])
    expectStatus(r, 200)
    const roles = Object.fromEntries(r.body.members.map((m: { user: { id: number }; role: string }) => [m.user.id, m.role]))
    expect(roles).toEqual({ [alice.id]: 'owner', [bob.id]: 'member', [carol.id]: 'member' })
    expect(r.body.members).toHaveLength(3)
    expect((await getRoom(room.id, alice)).body.member_count).toBe(3)
    // adding only existing members changes nothing
    const again = await add(room.id, alice, [bob.id])
    expectStatus(again, 200)
    expect(again.body.members).toHaveLength(3)
    expect((await getRoom(room.id, alice)).body.member_count).toBe(3)
  })

  test('an unknown user is 404 not_found and nobody is added', async () => {
    const room = await groupRoom(s.api, alice, [bob])
    expectError(await add(room.id, alice, [carol.id, 987654321]), 404, 'not_found')
    expect(await memberIds(room.id, alice)).toEqual(sorted([alice.id, bob.id]))
    expect((await getRoom(room.id, alice)).body.member_count).toBe(2)
  })

  test('over the limit is 422 room_full and nobody is added', async () => {
    const u = await fresh('filler')
    const room = await groupRoom(s.api, u, pool.slice(0, 97)) // 98 members
    expectError(await add(room.id, u, [pool[97]!.id, pool[98]!.id, pool[99]!.id]), 422, 'room_full')
    expect((await getRoom(room.id, u)).body.member_count).toBe(98)
    expect(await memberIds(room.id, u)).toHaveLength(98)
    // exactly up to the limit is fine
    expectStatus(await add(room.id, u, [pool[97]!.id, pool[98]!.id]), 200)
    expect((await getRoom(room.id, u)).body.member_count).toBe(100)
    expectError(await add(room.id, u, [pool[99]!.id]), 422, 'room_full')
    // re-adding members of a full room is no change, not an overflow
    expectStatus(await add(room.id, u, [pool[0]!.id]), 200)
  })

  test('a plain member gets 403 forbidden, a non-member 403 not_member; nobody is added', async () => {
    const room = await groupRoom(s.api, alice, [bob])
    expectError(await add(room.id, bob, [carol.id]), 403, 'forbidden')
    expectError(await add(room.id, carol, [carol.id]), 403, 'not_member')
    expect(await memberIds(room.id, alice)).toEqual(sorted([alice.id, bob.id]))
  })

  test('a bad body is 422 validation; an unknown room 404', async () => {
    const room = await groupRoom(s.api, alice)
    for (const body of [{}, { user_ids: [] }, { user_ids: ['x'] }, { user_ids: [0] }]) {
      expectError(await s.api('POST', `/v1/rooms/${room.id}/members`, { token: alice.token, body }), 422, 'validation')
    }
    expectError(await add(987654321, alice, [bob.id]), 404, 'not_found')
  })
})

describe('DELETE /v1/rooms/:id/members/:userId', () => {
  const remove = (id: number, actor: TestUser, target: number) =>
    s.api('DELETE', `/v1/rooms/${id}/members/${target}`, { token: actor.token })

  test('the owner removes someone: 204, the others get member.left, the removed user room.deleted', async () => {
    const room = await groupRoom(s.api, alice, [bob, carol])
    const [b, c] = await Promise.all([openIn(bob, [room.id]), openIn(carol, [room.id])])
    expect((await remove(room.id, alice, bob.id)).status).toBe(204)
    const left = await c.next((f) => f.type === 'member.left' && f.room_id === room.id)
    expect(left).toMatchObject({ room_id: room.id, user_id: bob.id, nickname: 'bob' })
    expect(await b.next((f) => f.type === 'room.deleted' && f.room_id === room.id)).toMatchObject({ room_id: room.id })
    b.close()
    expect(await memberIds(room.id, alice)).toEqual(sorted([alice.id, carol.id]))
    expect((await getRoom(room.id, alice)).body.member_count).toBe(2)
    expectError(await getRoom(room.id, bob), 403, 'not_member')
    c.close()
  })

  test('a member removes themselves: 204', async () => {
    const room = await groupRoom(s.api, alice, [bob, carol])
    expect((await remove(room.id, bob, bob.id)).status).toBe(204)
    expect(await memberIds(room.id, alice)).toEqual(sorted([alice.id, carol.id]))
  })

  test('a member removing another is 403 forbidden and nobody leaves', async () => {
    const room = await groupRoom(s.api, alice, [bob, carol])
    expectError(await remove(room.id, bob, carol.id), 403, 'forbidden')
    expectError(await remove(room.id, bob, alice.id), 403, 'forbidden')
    expect(await memberIds(room.id, alice)).toEqual(sorted([alice.id, bob.id, carol.id]))
  })

  test('a target who is not a member is 404 not_found', async () => {
    const room = await groupRoom(s.api, alice, [bob])
    expectError(await remove(room.id, alice, carol.id), 404, 'not_found')
    expectError(await remove(room.id, alice, 987654321), 404, 'not_found')
    expect((await getRoom(room.id, alice)).body.member_count).toBe(2)
  })

  test('a non-member actor is 403 not_member', async () => {
    const room = await groupRoom(s.api, alice, [bob])
    expectError(await remove(room.id, carol, bob.id), 403, 'not_member')
  })
})

describe('POST /v1/rooms/:id/join', () => {
  const join = (id: number, u: TestUser) => s.api('POST', `/v1/rooms/${id}/join`, { token: u.token })

  test('a public room: 200 with the Room, member_count + 1', async () => {
    const room = await groupRoom(s.api, alice, [bob], { visibility: 'public' })
    const r = await join(room.id, carol)
    expectStatus(r, 200)
    expectRoom(r.body, { id: room.id, member_count: 3 })
    expect(await memberIds(room.id, carol)).toEqual(sorted([alice.id, bob.id, carol.id]))
    const roles = (await members(room.id, carol)).body.members.find((m: { user: { id: number } }) => m.user.id === carol.id).role
    expect(roles).toBe('member')
  })

  test('a private room is 403 forbidden', async () => {
    const room = await groupRoom(s.api, alice, [bob])
    expectError(await join(room.id, carol), 403, 'forbidden')
    expect((await getRoom(room.id, alice)).body.member_count).toBe(2)
  })

  test('already a member: 200 without change', async () => {
    const room = await groupRoom(s.api, alice, [bob], { visibility: 'public' })
    const r = await join(room.id, bob)
    expectStatus(r, 200)
    expect(r.body.member_count).toBe(2)
    // a private room's member may "join" it too
    const priv = await groupRoom(s.api, alice, [bob])
    expectStatus(await join(priv.id, bob), 200)
  })

  test('a direct room is 403 forbidden; an unknown room 404', async () => {
    const [a, b] = await Promise.all([fresh(), fresh()])
    const d = await s.api('POST', '/v1/rooms', { token: a.token, body: { type: 'direct', member_ids: [b.id] } })
    expectError(await join(d.body.id, carol), 403, 'forbidden')
    expectError(await join(987654321, carol), 404, 'not_found')
  })

  test('the existing members get member.joined, the joiner room.created', async () => {
    const room = await groupRoom(s.api, alice, [], { visibility: 'public' })
    const [a, d] = await Promise.all([openIn(alice, [room.id]), openWs(s, dave)])
    expectStatus(await join(room.id, dave), 200)
    expect((await a.next((f) => f.type === 'member.joined' && f.room_id === room.id)).user.id).toBe(dave.id)
    expect((await d.next((f) => f.type === 'room.created' && f.room.id === room.id)).room.member_count).toBe(2)
    a.close()
    d.close()
  })

  test('the member limit: with 100 members the 101st is refused with 422 room_full; members may still "join"', async () => {
    const owner = await fresh('big')
    const joiner = pool[99]!
    const r = await s.api('POST', '/v1/rooms', {
      token: owner.token, body: { type: 'group', name: 'full', visibility: 'public', member_ids: pool.slice(0, 99).map((p) => p.id) },
    })
    expectStatus(r, 201)
    expect(r.body).toMatchObject({ member_count: 100, max_members: 100 })
    expectError(await join(r.body.id, joiner), 422, 'room_full')
    expect((await getRoom(r.body.id, owner)).body.member_count).toBe(100)
    expect(await memberIds(r.body.id, owner)).toHaveLength(100)
    expectError(await getRoom(r.body.id, joiner).then(() => members(r.body.id, joiner)), 403, 'not_member')
    // already a member: 200 even when full
    const again = await join(r.body.id, pool[5]!)
    expectStatus(again, 200)
    expect(again.body.member_count).toBe(100)
    // a place frees up, and the joiner gets it
    expect((await s.api('POST', `/v1/rooms/${r.body.id}/leave`, { token: pool[5]!.token })).status).toBe(204)
    expectStatus(await join(r.body.id, joiner), 200)
    expect((await getRoom(r.body.id, owner)).body.member_count).toBe(100)
  })

  test('30 parallel joins for 5 free places admit exactly 5', async () => {
    const small = await startServer({ MAX_ROOM_MEMBERS: '10' })
    try {
      const [owner, ...rest] = await registerMany(small, 35, 'small')
      const seeded = rest.slice(0, 4)
      const joiners = rest.slice(4)
      expect(joiners).toHaveLength(30)
      const made = await groupRoom(small.api, owner!, seeded, { visibility: 'public' })
      expect(made).toMatchObject({ member_count: 5, max_members: 10 })
      const results = await Promise.all(joiners.map((u) => small.api('POST', `/v1/rooms/${made.id}/join`, { token: u.token })))
      const ok = results.filter((r) => r.status === 200)
      const full = results.filter((r) => r.status === 422)
      expect(ok).toHaveLength(5)
      expect(full).toHaveLength(25)
      for (const r of full) expectError(r, 422, 'room_full')
      const room = await small.api('GET', `/v1/rooms/${made.id}`, { token: owner!.token })
      expect(room.body.member_count).toBe(10)
      const m = await small.api('GET', `/v1/rooms/${made.id}/members`, { token: owner!.token })
      expect(m.body.members).toHaveLength(10)
      const admitted = joiners.filter((_, i) => results[i]!.status === 200).map((u) => u.id)
      expect(sorted(m.body.members.map((x: { user: { id: number } }) => x.user.id)))
        .toEqual(sorted([owner!.id, ...seeded.map((u) => u.id), ...admitted]))
      // a member "joining" the full room is still 200
      expectStatus(await small.api('POST', `/v1/rooms/${made.id}/join`, { token: seeded[0]!.token }), 200)
    } finally {
      await small.close()
    }
  })
})

describe('POST /v1/rooms/:id/leave', () => {
  const leave = (id: number, u: TestUser) => s.api('POST', `/v1/rooms/${id}/leave`, { token: u.token })

  test('204; afterwards the room is 403 not_member and gone from the list', async () => {
    const room = await groupRoom(s.api, alice, [bob, carol])
    const c = await openIn(carol, [room.id])
    expect((await leave(room.id, bob)).status).toBe(204)
    expectError(await getRoom(room.id, bob), 403, 'not_member')
    expect((await list(bob)).body.rooms.map((x: { id: number }) => x.id)).not.toContain(room.id)
    expect((await getRoom(room.id, alice)).body.member_count).toBe(2)
    expect(await c.next((f) => f.type === 'member.left' && f.room_id === room.id)).toMatchObject({ user_id: bob.id })
    c.close()
  })

  test('the owner leaving hands ownership to another member', async () => {
    const room = await groupRoom(s.api, alice, [bob, carol])
    expect((await leave(room.id, alice)).status).toBe(204)
    const r = await members(room.id, bob)
    expectStatus(r, 200)
    const roles = r.body.members.map((m: { role: string }) => m.role).sort()
    expect(roles).toEqual(['member', 'owner'])
    const heir = r.body.members.find((m: { role: string }) => m.role === 'owner').user.id as number
    expect([bob.id, carol.id]).toContain(heir)
    const newOwner = heir === bob.id ? bob : carol
    expectStatus(await s.api('PATCH', `/v1/rooms/${room.id}`, { token: newOwner.token, body: { name: 'inherited' } }), 200)
  })

  test('a non-member is 403 not_member; an unknown room 404', async () => {
    const room = await groupRoom(s.api, alice)
    expectError(await leave(room.id, bob), 403, 'not_member')
    expectError(await leave(987654321, bob), 404, 'not_found')
  })
})
