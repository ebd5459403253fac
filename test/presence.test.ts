import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import {
  backend, freshPostgres, groupRoom, openWs, PG_URL, REDIS_CLUSTER_NODES, REDIS_URL, register, startServer, until,
  type Frame, type TestServer, type TestSocket, type TestUser,
} from './helpers'

// per file: Bun applies a preload's default timeout to the first file only, and hooks start servers
setDefaultTimeout(60_000)

/**
 * Presence end to end: the contract's events for small rooms, a second
 * socket not announced, offline only when the last socket goes (on any node),
 * large rooms only on request, and coalescing. One node on the embedded
 * database and the in-process bus; with TEST_DATABASE_URL and TEST_REDIS_URL
 * two nodes on one Redis, and on a Redis Cluster with TEST_REDIS_CLUSTER_NODES.
 *
 * Nothing waits for a duration: "no event" is shown by waiting until the
 * server finished the session start or end in question (the gateway counts
 * them; the announcement is published before), then a ping on the watching
 * socket on the node that would have published it: its pong comes after
 * any frame published before.
 */

type Setup = { label: string; env: Record<string, string>; twoNodes: boolean }
const setups: Setup[] = [{ label: `one node, ${backend}, in-process bus`, env: {}, twoNodes: false }]
if (PG_URL && REDIS_URL) setups.push({ label: 'two nodes, Postgres, one Redis', env: { REDIS_URL }, twoNodes: true })
if (PG_URL && REDIS_CLUSTER_NODES) setups.push({ label: 'two nodes, Postgres, Redis Cluster', env: { REDIS_CLUSTER_NODES }, twoNodes: true })

/** Rooms of more than 3 members get presence on request only, here. */
const MAX = 3
const presenceOf = (id: number) => (f: Frame) => f.type === 'presence' && f.user_id === id

/** Opens a socket and waits until the server finished its start (presence announced or not). */
async function openOn(node: TestServer, u: TestUser): Promise<TestSocket> {
  const before = node.chat.gateway.stats.started
  const ws = await openWs(node, u)
  await until(() => node.chat.gateway.stats.started > before, 15_000, 'the session start to finish')
  return ws
}

/** Closes a socket and waits until the server finished its end (presence released, offline announced or not). */
async function closeOn(node: TestServer, ws: TestSocket): Promise<void> {
  const before = node.chat.gateway.stats.ended
  ws.close()
  await until(() => node.chat.gateway.stats.ended > before, 15_000, 'the session end to finish')
}

/** Everything published to `ws` before this call has arrived once it returns. */
async function barrier(ws: TestSocket): Promise<void> {
  const pongs = ws.all('pong').length
  ws.send({ type: 'ping' })
  await ws.waitCount('pong', pongs + 1)
}

const statuses = (ws: TestSocket, id: number) => ws.frames.filter(presenceOf(id)).map((f) => f.status as string)

for (const setup of setups) {
  describe(`presence: ${setup.label}`, () => {
    let db: { url: string; drop: () => Promise<void> } | null = null
    /** no coalescing: every announcement would show at once */
    let a: TestServer
    let b: TestServer
    /** the same database and bus, with a coalescing window */
    let c: TestServer
    const prefix = `t${Math.random().toString(36).slice(2, 8)}:`

    beforeAll(async () => {
      db = PG_URL ? await freshPostgres() : null
      const env = { ...setup.env, REDIS_PREFIX: prefix, RATE_MESSAGES: '0', PRESENCE_ROOM_MAX_MEMBERS: String(MAX) }
      a = await startServer({ ...env, NODE_ID: 'a', PRESENCE_COALESCE_MS: '0' }, db?.url)
      b = setup.twoNodes ? await startServer({ ...env, NODE_ID: 'b', PRESENCE_COALESCE_MS: '0' }, db!.url) : a
      // the embedded database is one process's: the coalescing node is then its own server
      c = await startServer({ ...env, NODE_ID: 'c', PRESENCE_COALESCE_MS: '60000' }, db?.url)
    })
    afterAll(async () => {
      await c.close()
      if (b !== a) await b.close()
      await a.close()
      await db?.drop()
    })

    test('small room: online when the first socket opens, offline with last_seen when the last closes; a second socket is not announced', async () => {
      const [alice, bob] = await Promise.all([register(a.api, 'alice'), register(a.api, 'bob')])
      await groupRoom(a.api, alice, [bob])
      // a watcher on each node: an announcement from either node reaches the one beside it first
      const wa = await openOn(a, alice)
      const wb = b === a ? wa : await openOn(b, alice)
      const b1 = await openOn(a, bob)
      expect(await wa.next(presenceOf(bob.id))).toEqual({ type: 'presence', user_id: bob.id, nickname: 'bob', status: 'online', last_seen: null })
      if (wb !== wa) await wb.next(presenceOf(bob.id))
      // a second socket of bob, on the other node when there are two
      const b2 = await openOn(b, bob)
      await barrier(wb)
      await barrier(wa)
      expect(statuses(wa, bob.id)).toEqual(['online'])
      expect(statuses(wb, bob.id)).toEqual(['online'])
      // one socket goes: bob is still online (the other socket, on any node)
      await closeOn(a, b1)
      await barrier(wa)
      expect(statuses(wa, bob.id)).toEqual(['online'])
      expect((await a.api('GET', `/v1/users/${bob.id}`, { token: alice.token })).body.online).toBe(true)
      // the last one goes: offline, once, to both nodes' sockets
      await closeOn(b, b2)
      const off = await wa.next((f) => presenceOf(bob.id)(f) && f.status === 'offline')
      expect(off).toMatchObject({ nickname: 'bob', status: 'offline' })
      expect(Number.isNaN(Date.parse(off.last_seen))).toBe(false)
      if (wb !== wa) await wb.next((f) => presenceOf(bob.id)(f) && f.status === 'offline')
      await barrier(wa)
      await barrier(wb)
      expect(statuses(wa, bob.id)).toEqual(['online', 'offline'])
      expect(statuses(wb, bob.id)).toEqual(['online', 'offline'])
      // the offline's last_seen was stored: bob's next socket starts with it
      const again = await openOn(a, bob)
      expect(again.frames[0]!.user.last_seen).toBe(off.last_seen)
      for (const w of new Set([wa, wb, again])) w.close()
    })

    test('large room: no presence unless subscribed; after presence.subscribe it comes, after presence.unsubscribe it stops', async () => {
      const [owner, p, q, r] = (await Promise.all(['o', 'p', 'q', 'r'].map((n) => register(a.api, n)))) as [TestUser, TestUser, TestUser, TestUser]
      const room = await groupRoom(a.api, owner, [p, q, r])
      expect(room.member_count).toBeGreaterThan(MAX)
      const watcher = await openOn(b, owner)
      // p comes online on the other node: the room does not hear it
      const sp = await openOn(a, p)
      await barrier(watcher)
      expect(watcher.all('presence')).toEqual([])
      // REST still tells
      const listed = await b.api('GET', `/v1/rooms/${room.id}/presence`, { token: owner.token })
      expect(listed.body.members.find((m: { user_id: number }) => m.user_id === p.id)).toMatchObject({ online: true })
      // opt in: q's online and p's offline reach the watcher, once each
      watcher.send({ type: 'presence.subscribe', room_id: room.id })
      expect(await watcher.next('presence.subscribed')).toEqual({ type: 'presence.subscribed', room_id: room.id })
      const sq = await openOn(a, q)
      expect(await watcher.next(presenceOf(q.id))).toMatchObject({ status: 'online', nickname: 'q' })
      await closeOn(a, sp)
      expect(await watcher.next(presenceOf(p.id))).toMatchObject({ status: 'offline' })
      // opt out: r's online does not come
      watcher.send({ type: 'presence.unsubscribe', room_id: room.id })
      expect(await watcher.next('presence.unsubscribed')).toEqual({ type: 'presence.unsubscribed', room_id: room.id })
      const sr = await openOn(a, r)
      await barrier(watcher)
      expect(watcher.all('presence').map((f) => [f.user_id, f.status])).toEqual([[q.id, 'online'], [p.id, 'offline']])
      // a non-member may not listen in
      const stranger = await register(a.api, 's')
      const ws = await openOn(a, stranger)
      ws.send({ type: 'presence.subscribe', room_id: room.id })
      expect(await ws.next('error')).toMatchObject({ code: 'not_member' })
      for (const s of [watcher, sq, sr, ws]) s.close()
    })

    test('large space: its channels hear presence once per space, and only on request', async () => {
      const [owner, ...others] = (await Promise.all(['so', 'sp', 'sq', 'sr'].map((n) => register(a.api, n)))) as [TestUser, ...TestUser[]]
      const space = (await a.api('POST', '/v1/spaces', { token: owner.token, body: { name: 'big', visibility: 'public' } })).body
      for (const u of others) expect((await a.api('POST', `/v1/spaces/${space.id}/join`, { token: u.token, body: {} })).status).toBe(200)
      const second = (await a.api('POST', `/v1/spaces/${space.id}/channels`, { token: owner.token, body: { name: 'two' } })).body
      const watcher = await openOn(b, owner)
      const s1 = await openOn(a, others[0]!)
      await barrier(watcher)
      expect(watcher.all('presence')).toEqual([])
      // subscribing through two channels of the space: one stream, once per event
      for (const id of [space.general_channel_id, second.id]) {
        watcher.send({ type: 'presence.subscribe', room_id: id })
        await watcher.next((f) => f.type === 'presence.subscribed' && f.room_id === id)
      }
      const s2 = await openOn(a, others[1]!)
      await watcher.next(presenceOf(others[1]!.id))
      // dropping one channel keeps the space's stream for the other
      watcher.send({ type: 'presence.unsubscribe', room_id: second.id })
      await watcher.next('presence.unsubscribed')
      const s3 = await openOn(a, others[2]!)
      await watcher.next(presenceOf(others[2]!.id))
      await barrier(watcher)
      expect(watcher.all('presence').map((f) => f.user_id)).toEqual([others[1]!.id, others[2]!.id])
      for (const s of [watcher, s1, s2, s3]) s.close()
    })

    test('small space: presence once per space, not once per channel, without asking', async () => {
      const [owner, u] = await Promise.all([register(a.api, 'to'), register(a.api, 'tu')])
      const space = (await a.api('POST', '/v1/spaces', { token: owner.token, body: { name: 'small', visibility: 'public' } })).body
      await a.api('POST', `/v1/spaces/${space.id}/join`, { token: u.token, body: {} })
      await a.api('POST', `/v1/spaces/${space.id}/channels`, { token: owner.token, body: { name: 'two' } })
      const watcher = await openOn(b, owner)
      const su = await openOn(a, u)
      await watcher.next(presenceOf(u.id))
      await barrier(watcher)
      expect(statuses(watcher, u.id)).toEqual(['online'])
      for (const s of [watcher, su]) s.close()
    })

    test('coalescing: a flap inside the window sends nothing more; the final state goes out when the window ends', async () => {
      const [alice, bob] = await Promise.all([register(c.api, 'ca'), register(c.api, 'cb')])
      await groupRoom(c.api, alice, [bob])
      const watcher = await openOn(c, alice)
      const bobs = () => statuses(watcher, bob.id)
      // the window is a minute long: everything below happens inside one, whatever the load; endWindows() ends it
      const s1 = await openOn(c, bob)
      expect(await watcher.next(presenceOf(bob.id))).toMatchObject({ status: 'online' })
      // online → offline → online: nothing more, even once the window ended
      await closeOn(c, s1)
      const s2 = await openOn(c, bob)
      c.chat.announcer.endWindows()
      await barrier(watcher)
      expect(bobs()).toEqual(['online'])
      expect(c.chat.announcer.open).toBe(0)
      // offline goes at once (no window open), then flaps are held
      await closeOn(c, s2)
      await watcher.next((f) => presenceOf(bob.id)(f) && f.status === 'offline')
      for (let i = 0; i < 5; i++) await closeOn(c, await openOn(c, bob))
      const s3 = await openOn(c, bob)
      await barrier(watcher)
      expect(bobs()).toEqual(['online', 'offline'])
      // the window ends on online, which the room last heard as offline: it goes out, once
      c.chat.announcer.endWindows()
      await watcher.next((f) => presenceOf(bob.id)(f) && f.status === 'online')
      c.chat.announcer.endWindows()
      await barrier(watcher)
      expect(bobs()).toEqual(['online', 'offline', 'online'])
      for (const s of [watcher, s3]) s.close()
    })
  })
}
