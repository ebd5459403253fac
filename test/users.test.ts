import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { expectError, expectStatus, expectUser, ISO } from './contract'
import { openWs, register, startServer, until, type TestServer, type TestUser } from './helpers'

setDefaultTimeout(60_000)

let s: TestServer
let alice: TestUser
let bob: TestUser

/** A prefix no other user of this server has. */
const tag = () => `q${Math.random().toString(36).slice(2, 8)}`

beforeAll(async () => {
  s = await startServer()
  ;[alice, bob] = await Promise.all([register(s.api, 'alice'), register(s.api, 'bob')])
})
afterAll(() => s.close())

describe('GET /v1/users/me', () => {
  test('200 with the caller’s User', async () => {
    const r = await s.api('GET', '/v1/users/me', { token: alice.token })
    expectStatus(r, 200)
    expectUser(r.body, { id: alice.id, email: alice.email, nickname: 'alice', avatar_url: null, bio: null })
  })

  test('401 without a token', async () => {
    expectError(await s.api('GET', '/v1/users/me'), 401, 'unauthorized')
  })
})

describe('PATCH /v1/users/me', () => {
  test('sets nickname, avatar_url and bio; others see them', async () => {
    const u = await register(s.api, 'patcher')
    const r = await s.api('PATCH', '/v1/users/me', {
      token: u.token, body: { nickname: '  새 이름  ', avatar_url: 'https://example.com/a.png', bio: 'hello there' },
    })
    expectStatus(r, 200)
    expectUser(r.body, { id: u.id, email: u.email, nickname: '새 이름', avatar_url: 'https://example.com/a.png', bio: 'hello there' })
    const seen = await s.api('GET', `/v1/users/${u.id}`, { token: bob.token })
    expectStatus(seen, 200)
    expect(seen.body).toMatchObject({ nickname: '새 이름', avatar_url: 'https://example.com/a.png', bio: 'hello there' })
  })

  test('only the given fields change', async () => {
    const u = await register(s.api, 'partial')
    await s.api('PATCH', '/v1/users/me', { token: u.token, body: { avatar_url: 'https://example.com/p.png', bio: 'b' } })
    const r = await s.api('PATCH', '/v1/users/me', { token: u.token, body: { nickname: 'renamed' } })
    expectStatus(r, 200)
    expect(r.body).toMatchObject({ nickname: 'renamed', avatar_url: 'https://example.com/p.png', bio: 'b' })
    const empty = await s.api('PATCH', '/v1/users/me', { token: u.token, body: {} })
    expectStatus(empty, 200)
    expect(empty.body).toMatchObject({ nickname: 'renamed', avatar_url: 'https://example.com/p.png', bio: 'b' })
  })

  test('null clears avatar_url and bio', async () => {
    const u = await register(s.api, 'clearer')
    await s.api('PATCH', '/v1/users/me', { token: u.token, body: { avatar_url: 'https://example.com/c.png', bio: 'something' } })
    const r = await s.api('PATCH', '/v1/users/me', { token: u.token, body: { avatar_url: null, bio: null } })
    expectStatus(r, 200)
    expect(r.body).toMatchObject({ nickname: 'clearer', avatar_url: null, bio: null })
    expect((await s.api('GET', '/v1/users/me', { token: u.token })).body).toMatchObject({ avatar_url: null, bio: null })
  })

  test('an empty, blank, null or too long nickname is 422 validation and changes nothing', async () => {
    const u = await register(s.api, 'keeper')
    for (const nickname of ['', '   ', null, 42, 'n'.repeat(300)]) {
      expectError(await s.api('PATCH', '/v1/users/me', { token: u.token, body: { nickname } }), 422, 'validation')
    }
    expect((await s.api('GET', '/v1/users/me', { token: u.token })).body.nickname).toBe('keeper')
  })

  test('a too long bio or avatar_url is 422 validation and changes nothing', async () => {
    const u = await register(s.api, 'longbio')
    expectError(await s.api('PATCH', '/v1/users/me', { token: u.token, body: { bio: 'b'.repeat(5000) } }), 422, 'validation')
    expectError(
      await s.api('PATCH', '/v1/users/me', { token: u.token, body: { avatar_url: `https://example.com/${'a'.repeat(5000)}` } }),
      422, 'validation',
    )
    // a valid field next to an invalid one is not applied either
    expectError(await s.api('PATCH', '/v1/users/me', { token: u.token, body: { nickname: 'changed', bio: 'b'.repeat(5000) } }), 422, 'validation')
    expect((await s.api('GET', '/v1/users/me', { token: u.token })).body).toMatchObject({ nickname: 'longbio', bio: null, avatar_url: null })
  })

  test('401 without a token', async () => {
    expectError(await s.api('PATCH', '/v1/users/me', { body: { nickname: 'x' } }), 401, 'unauthorized')
  })
})

describe('GET /v1/users/:id', () => {
  test('200 with the User', async () => {
    const r = await s.api('GET', `/v1/users/${bob.id}`, { token: alice.token })
    expectStatus(r, 200)
    expectUser(r.body, { id: bob.id, email: bob.email, nickname: 'bob' })
  })

  test('an unknown id is 404 not_found', async () => {
    expectError(await s.api('GET', '/v1/users/987654321', { token: alice.token }), 404, 'not_found')
  })

  test('a non-numeric or non-positive id is an error ({detail, code}, 422 validation)', async () => {
    for (const id of ['abc', '0', '-1', '1.5', '99999999999999999999']) {
      const r = await s.api('GET', `/v1/users/${id}`, { token: alice.token })
      expectError(r, r.status === 404 ? 404 : 422, r.status === 404 ? 'not_found' : 'validation')
    }
    expectError(await s.api('GET', '/v1/users/abc', { token: alice.token }), 422, 'validation')
    expectError(await s.api('GET', '/v1/users/1.5', { token: alice.token }), 422, 'validation')
  })

  test('401 without a token', async () => {
    expectError(await s.api('GET', `/v1/users/${bob.id}`), 401, 'unauthorized')
  })
})

describe('GET /v1/users (search)', () => {
  const search = (q: string, extra = '') => s.api('GET', `/v1/users?query=${encodeURIComponent(q)}${extra}`, { token: alice.token })
  const ids = (r: { body: { users: { id: number }[] } }) => r.body.users.map((u) => u.id).sort((a, b) => a - b)

  test('prefix match on the nickname, case-insensitive', async () => {
    const t = tag()
    const [a, b, c] = await Promise.all([
      register(s.api, `${t}Apple`), register(s.api, `${t.toUpperCase()}apricot`), register(s.api, `x${t}`),
    ])
    const r = await search(t)
    expectStatus(r, 200)
    expect(ids(r)).toEqual([a.id, b.id].sort((x, y) => x - y))
    for (const u of r.body.users) expectUser(u)
    expect(ids(await search(t.toUpperCase()))).toEqual([a.id, b.id].sort((x, y) => x - y))
    expect(ids(await search(`${t}ap`))).toEqual([a.id, b.id].sort((x, y) => x - y))
    expect(ids(await search(`${t}APR`))).toEqual([b.id])
    // not a substring search
    expect(ids(await search(`x${t}`))).toEqual([c.id])
    expect(ids(await search('pple'))).toEqual([])
  })

  test('prefix match on the email', async () => {
    const t = tag()
    const u = await register(s.api, `${t}mail`)
    // register() makes emails "<nickname>.<time>.<n>@example.com"
    const r = await search(u.email.slice(0, u.email.indexOf('@') + 3))
    expectStatus(r, 200)
    expect(ids(r)).toEqual([u.id])
    expect(ids(await search(u.email.toUpperCase()))).toEqual([u.id])
    expect(ids(await search(u.email.slice(3)))).toEqual([])
  })

  test('a Korean nickname prefix works', async () => {
    const t = `별빛${Math.random().toString(36).slice(2, 6)}`
    const [sea, sky] = await Promise.all([register(s.api, `${t}바다`), register(s.api, `${t}하늘`)])
    expect(ids(await search(t))).toEqual([sea.id, sky.id].sort((x, y) => x - y))
    expect(ids(await search(`${t}하`))).toEqual([sky.id])
  })

  test('a LIKE wildcard in the query is taken literally', async () => {
    const t = tag()
    await register(s.api, `${t}wild`)
    expect(ids(await search(`${t.slice(0, 2)}%`))).toEqual([])
    expect(ids(await search(`${t.slice(0, 2)}_${t.slice(3)}`))).toEqual([])
  })

  test('limit bounds the page', async () => {
    const t = tag()
    await Promise.all([1, 2, 3].map((i) => register(s.api, `${t}n${i}`)))
    expect((await search(t, '&limit=2')).body.users).toHaveLength(2)
    expect((await search(t, '&limit=200')).body.users).toHaveLength(3)
  })

  test('limit 0, 201 or not a number is 422 validation', async () => {
    for (const limit of ['0', '201', '-1', '1.5', 'abc']) expectError(await search('a', `&limit=${limit}`), 422, 'validation')
  })

  test('401 without a token', async () => {
    expectError(await s.api('GET', '/v1/users?query=a'), 401, 'unauthorized')
  })
})

describe('presence in the profile', () => {
  test('online while a WebSocket of the user is open, then offline with last_seen', async () => {
    const u = await register(s.api, 'present')
    const get = async () => (await s.api('GET', `/v1/users/${u.id}`, { token: alice.token })).body
    expect(await get()).toMatchObject({ online: false, last_seen: null })
    const ws = await openWs(s, u)
    await until(async () => (await get()).online === true, 15_000, 'online')
    const ws2 = await openWs(s, u)
    const open = s.chat.gateway.connections
    ws.close()
    await ws.closed
    // the server has handled the close; still one socket open
    await until(() => s.chat.gateway.connections === open - 1, 15_000, 'the server to see the close')
    expect((await get()).online).toBe(true)
    ws2.close()
    await ws2.closed
    await until(async () => (await get()).online === false, 15_000, 'offline')
    const after = await get()
    expect(after.last_seen).toMatch(ISO)
    expect(Date.parse(after.last_seen)).toBeGreaterThanOrEqual(Date.parse(after.created_at))
    // the search answer carries presence too
    const found = await s.api('GET', `/v1/users?query=${encodeURIComponent(u.email)}`, { token: alice.token })
    expect(found.body.users).toEqual([after])
  })
})
