import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { sql } from 'drizzle-orm'
import {
  freshPostgres, groupRoom, openWs, PG_URL, range, REDIS_CLUSTER_NODES, REDIS_URL, register, spawnNode, startServer, TestSocket, until,
  type Frame, type NodeProcess, type TestServer, type TestUser,
} from './helpers'

// per file: Bun applies a preload's default timeout to the first file only, and hooks start servers
setDefaultTimeout(60_000)

/** Several nodes on one Postgres and one Redis: runs when both are given. */
const enabled = !!(PG_URL && REDIS_URL)

const seqsIn = (frames: Frame[], roomId: number) =>
  frames.filter((f) => f.type === 'message.created' && f.message.room_id === roomId).map((f) => f.message.seq as number)

/** The Redis a pair of nodes share: one server, and a Redis Cluster (sharded pub/sub) when TEST_REDIS_CLUSTER_NODES is set. */
type RedisUnderTest = { label: string; env: Record<string, string>; servers: string[] }
const redises: RedisUnderTest[] = []
if (REDIS_URL) {
  const u = new URL(REDIS_URL)
  redises.push({ label: 'one Redis', env: { REDIS_URL }, servers: [`${u.hostname}:${u.port || 6379}`] })
}
if (REDIS_CLUSTER_NODES) {
  const servers = REDIS_CLUSTER_NODES.split(',')
  redises.push({ label: 'Redis Cluster, sharded pub/sub', env: { REDIS_CLUSTER_NODES }, servers })
}

if (enabled) for (const redis of redises) {
  describe(`two nodes in one process (${redis.label})`, () => {
    let db: { url: string; drop: () => Promise<void> }
    let a: TestServer
    let b: TestServer
    let alice: TestUser
    let bob: TestUser
    let carol: TestUser
    const prefix = `t${Math.random().toString(36).slice(2, 8)}:`

    beforeAll(async () => {
      db = await freshPostgres()
      const env = { ...redis.env, REDIS_PREFIX: prefix, RATE_MESSAGES: '0', MAX_ROOM_MEMBERS: '10' }
      a = await startServer({ ...env, NODE_ID: 'a' }, db.url)
      b = await startServer({ ...env, NODE_ID: 'b' }, db.url)
      ;[alice, bob, carol] = await Promise.all([register(a.api, 'alice'), register(b.api, 'bob'), register(a.api, 'carol')])
    })
    afterAll(async () => {
      await a.close()
      await b.close()
      await db.drop()
    })

    test('users on different nodes chat both ways', async () => {
      const room = await groupRoom(a.api, alice, [bob])
      const sa = await openWs(a, alice)
      const sb = await openWs(b, bob)
      sa.send({ type: 'message.send', room_id: room.id, content: 'from A' })
      expect((await sb.next('message.created')).message).toMatchObject({ content: 'from A', seq: 1 })
      sb.send({ type: 'message.send', room_id: room.id, content: 'from B' })
      await until(() => seqsIn(sa.frames, room.id).length === 2, 15_000, 'B’s message on A')
      expect(sa.all('message.created')[1]!.message).toMatchObject({ content: 'from B', seq: 2 })
      sa.close()
      sb.close()
    })

    test('3 senders on 2 nodes: every receiver on both nodes sees 1..N in order', async () => {
      const room = await groupRoom(a.api, alice, [bob, carol])
      const senders = [await openWs(a, alice), await openWs(b, bob), await openWs(a, carol)]
      const receivers = [await openWs(a, bob), await openWs(b, alice), await openWs(b, carol)]
      const per = 80
      senders.forEach((s, i) => {
        for (let k = 0; k < per; k++) s.send({ type: 'message.send', room_id: room.id, content: `${i}-${k}` })
      })
      for (const r of [...receivers, ...senders]) {
        await until(() => seqsIn(r.frames, room.id).length >= per * 3, 15_000, 'all messages')
        expect(seqsIn(r.frames, room.id)).toEqual(range(1, per * 3))
      }
      ;[...senders, ...receivers].forEach((s) => s.close())
    })

    test('resume on the other node with after_seq: no gap, no duplicate', async () => {
      const room = await groupRoom(a.api, alice, [bob])
      const sa = await openWs(a, alice)
      for (let i = 0; i < 30; i++) sa.send({ type: 'message.send', room_id: room.id, content: `x${i}` })
      // a client resumes after a seq it saw, so one that was committed: an after_seq above the room's
      // last_seq is taken as last_seq (API.md), and seqs 11.. would then come live
      await sa.waitCount('ack', 10)
      const sb = await openWs(b, bob, '&auto_subscribe=false')
      sb.send({ type: 'subscribe', room_id: room.id, after_seq: 10 })
      for (let i = 0; i < 30; i++) sa.send({ type: 'message.send', room_id: room.id, content: `y${i}` })
      await until(() => seqsIn(sb.frames, room.id).length >= 50, 15_000, 'replay and live')
      // one more after: in-order delivery puts any duplicate of 11..60 before it
      sa.send({ type: 'message.send', room_id: room.id, content: 'last' })
      await until(() => seqsIn(sb.frames, room.id).includes(61), 15_000, 'the last message')
      expect(seqsIn(sb.frames, room.id)).toEqual(range(11, 61))
      sa.close()
      sb.close()
    })

    test('the member limit holds across nodes: 30 joins for 5 places admit 5', async () => {
      const owner = alice
      const members = await Promise.all(Array.from({ length: 4 }, (_, i) => register(a.api, `m${i}`)))
      const room = await groupRoom(a.api, owner, members, { visibility: 'public' })
      const joiners = await Promise.all(Array.from({ length: 30 }, (_, i) => register(i % 2 ? a.api : b.api, `j${i}`)))
      const res = await Promise.all(joiners.map((j, i) => (i % 2 ? a : b).api('POST', `/v1/rooms/${room.id}/join`, { token: j.token })))
      expect(res.filter((r) => r.status === 200)).toHaveLength(5)
      expect(res.filter((r) => r.status === 422 && r.body.code === 'room_full')).toHaveLength(25)
      expect((await b.api('GET', `/v1/rooms/${room.id}`, { token: owner.token })).body.member_count).toBe(10)
    })

    test('client_msg_id holds across nodes', async () => {
      const room = await groupRoom(a.api, alice, [bob])
      const body = { content: 'once', client_msg_id: 'same-everywhere' }
      const res = await Promise.all(
        Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).api('POST', `/v1/rooms/${room.id}/messages`, { token: alice.token, body })),
      )
      expect(new Set(res.map((r) => r.body.id)).size).toBe(1)
      expect(res.filter((r) => r.status === 201)).toHaveLength(1)
      const list = await a.api('GET', `/v1/rooms/${room.id}/messages`, { token: alice.token })
      expect(list.body.messages).toHaveLength(1)
    })

    test('presence of a user on A is visible from B', async () => {
      const room = await groupRoom(a.api, alice, [carol])
      const watcher = await openWs(b, carol)
      const sa = await openWs(a, alice)
      // an earlier test's offline for alice may still come first: announcements are coalesced per PRESENCE_COALESCE_MS
      const seen = await watcher.next((f) => f.type === 'presence' && f.user_id === alice.id && f.status === 'online')
      expect(seen).toMatchObject({ status: 'online', nickname: 'alice' })
      expect((await b.api('GET', `/v1/users/${alice.id}`, { token: carol.token })).body.online).toBe(true)
      sa.close()
      expect(await watcher.next((f) => f.type === 'presence' && f.user_id === alice.id && f.status === 'offline')).toBeTruthy()
      expect((await b.api('GET', `/v1/users/${alice.id}`, { token: carol.token })).body.online).toBe(false)
      watcher.close()
      void room
    })

    test('Redis connections cut mid-traffic: delivery resumes, gaps filled, no duplicates', async () => {
      const room = await groupRoom(a.api, alice, [bob])
      const sa = await openWs(a, alice)
      const sb = await openWs(b, bob)
      let acked = 0
      const total = 300
      for (let i = 0; i < total; i++) {
        sa.send({ type: 'message.send', room_id: room.id, content: `r${i}`, client_msg_id: `r${i}` })
        if (i === 100) {
          // cut every client connection of the Redis server(s) (ours reconnect by themselves)
          const cut = ['pubsub', 'normal'].map((type) => redis.servers.reduce((n, hp) => {
            const [host, port] = hp.split(':') as [string, string]
            return n + Number(Bun.spawnSync(['redis-cli', '-h', host, '-p', port, 'CLIENT', 'KILL', 'TYPE', type]).stdout.toString().trim())
          }, 0))
          // both nodes' subscriber connections (and more) really went down
          expect(cut[0]).toBeGreaterThanOrEqual(2)
          expect(cut[1]).toBeGreaterThanOrEqual(2)
        }
        if (i % 20 === 0) await Bun.sleep(5)
      }
      await until(() => (acked = sa.all('ack').length + sa.all('error').length) >= total, 20_000, 'answers')
      const ackedSeqs = sa.all('ack').map((f) => f.message.seq as number)
      const max = Math.max(...ackedSeqs)
      await until(() => seqsIn(sb.frames, room.id).length >= max, 15_000, 'delivery on B after the cut')
      expect(seqsIn(sb.frames, room.id)).toEqual(range(1, max))
      expect(acked).toBe(total)
      sa.close()
      sb.close()
    })
  })
}

if (enabled) {
  describe('nodes in their own processes', () => {
    let db: { url: string; drop: () => Promise<void> }
    const prefix = `t${Math.random().toString(36).slice(2, 8)}:`
    const nodes: NodeProcess[] = []
    const env = () => ({ DATABASE_URL: db.url, REDIS_URL: REDIS_URL!, REDIS_PREFIX: prefix, RATE_MESSAGES: '0', PRESENCE_TTL_MS: '3000' })

    beforeAll(async () => {
      db = await freshPostgres()
    })
    afterAll(async () => {
      for (const n of nodes) n.proc.kill(9)
      await Promise.all(nodes.map((n) => n.proc.exited))
      await db.drop()
    })

    test('kill -9 of a node during a burst: clients resume on the other, every acked message exactly once and stored', async () => {
      const A = await spawnNode({ ...env(), NODE_ID: 'pa' })
      const B = await spawnNode({ ...env(), NODE_ID: 'pb' })
      nodes.push(A, B)
      const [s1, s2, rcv] = await Promise.all([register(A.api, 's1'), register(A.api, 's2'), register(A.api, 'rcv')])
      const room = await groupRoom(A.api, s1, [s2, rcv])
      let onA = await openWs(A, s1)
      const onB = await openWs(B, s2)
      const receiver = await openWs(A, rcv)
      const received: Frame[] = []
      const acked = new Map<string, number>()
      const per = 200
      const sendFrom = (ws: TestSocket, who: string, k: number) =>
        ws.send({ type: 'message.send', room_id: room.id, content: `${who}-${k}`, client_msg_id: `${who}-${k}` })
      for (let k = 0; k < per; k++) {
        sendFrom(onA, 's1', k)
        sendFrom(onB, 's2', k)
        if (k === 80) {
          A.proc.kill(9)
          await A.proc.exited
        }
        if (k % 10 === 0) await Bun.sleep(2)
      }
      await onA.closed
      await receiver.closed
      received.push(...receiver.all('message.created'))
      for (const f of onA.all('ack')) acked.set(f.client_msg_id, f.message.id)
      // resume on B: the receiver from its last seq, the sender re-sends what was not acked (same client_msg_id)
      const lastSeen = Math.max(0, ...seqsIn(received, room.id))
      const resumed = await openWs(B, rcv, '&auto_subscribe=false')
      resumed.send({ type: 'subscribe', room_id: room.id, after_seq: lastSeen })
      onA = await openWs(B, s1)
      for (let k = 0; k < per; k++) if (!acked.has(`s1-${k}`)) sendFrom(onA, 's1', k)
      await until(() => onA.all('ack').length + acked.size >= per, 20_000, 's1 acks after resume')
      await until(() => onB.all('ack').length >= per, 20_000, 's2 acks')
      for (const f of [...onA.all('ack'), ...onB.all('ack')]) acked.set(f.client_msg_id, f.message.id)
      expect(acked.size).toBe(2 * per)
      const total = await B.api('GET', `/v1/rooms/${room.id}`, { token: rcv.token })
      await until(() => seqsIn(resumed.frames, room.id).at(-1) === total.body.last_seq, 15_000, 'the resumed stream')
      const all = [...received, ...resumed.all('message.created')].filter((f) => f.message.room_id === room.id)
      // every seq exactly once, in order, across the two connections
      expect(all.map((f) => f.message.seq)).toEqual(range(1, total.body.last_seq))
      const deliveredIds = new Set(all.map((f) => f.message.id))
      for (const id of acked.values()) expect(deliveredIds.has(id)).toBe(true)
      expect(total.body.last_seq).toBe(2 * per)
      ;[onA, onB, resumed].forEach((s) => s.close())
    }, 90_000)

    test('presence: a user of a killed node goes offline within the TTL', async () => {
      const A = await spawnNode({ ...env(), NODE_ID: 'qa' })
      const B = await spawnNode({ ...env(), NODE_ID: 'qb' })
      nodes.push(A, B)
      const [u, w] = await Promise.all([register(A.api, 'ghost'), register(B.api, 'watch')])
      await groupRoom(A.api, u, [w])
      const watcher = await openWs(B, w)
      await openWs(A, u)
      await watcher.next((f) => f.type === 'presence' && f.user_id === u.id && f.status === 'online')
      A.proc.kill(9)
      const off = await watcher.next((f) => f.type === 'presence' && f.user_id === u.id && f.status === 'offline', 10_000)
      expect(typeof off.last_seen).toBe('string')
      expect((await B.api('GET', `/v1/users/${u.id}`, { token: w.token })).body).toMatchObject({ online: false })
      watcher.close()
    }, 30_000)

    test('SIGTERM drains: every accepted message committed, sockets closed with 1001, exit 0', async () => {
      const N = await spawnNode({ ...env(), NODE_ID: 'drain' })
      const [u1, u2] = await Promise.all([register(N.api, 'd1'), register(N.api, 'd2')])
      const room = await groupRoom(N.api, u1, [u2])
      const s = await openWs(N, u1)
      const other = await openWs(N, u2)
      for (let i = 0; i < 500; i++) s.send({ type: 'message.send', room_id: room.id, content: `d${i}`, client_msg_id: `d${i}` })
      await s.next('ack')
      N.proc.kill('SIGTERM')
      expect((await s.closed).code).toBe(1001)
      expect((await other.closed).code).toBe(1001)
      expect(await N.proc.exited).toBe(0)
      const acks = s.all('ack')
      // what the server accepted it committed: the database holds exactly the acked messages
      const { openDatabase } = await import('../src/db/client')
      const d = await openDatabase({ url: db.url, dataDir: '/tmp' })
      const rows = await d.rows<{ client_msg_id: string }>(sql`select client_msg_id from messages where room_id = ${room.id} order by seq`)
      await d.close()
      expect(rows.map((r) => r.client_msg_id).sort()).toEqual(acks.map((f) => f.client_msg_id as string).sort())
      expect(acks.length).toBeGreaterThan(0)
    }, 30_000)
  })
}
