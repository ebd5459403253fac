import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { connect } from 'node:net'
import { freePort, freshPostgres, groupRoom, PG_URL, REDIS_URL, register, spawnNode, TestSocket, until, type NodeProcess } from './helpers'

// per file: Bun applies a preload's default timeout to the first file only, and hooks start servers
setDefaultTimeout(60_000)

/**
 * Redis dies mid-traffic under a 2-node cluster and comes back on the same port.
 * A PRIVATE redis-server (free port) so the machine's shared one is never touched.
 */
const redisServer = Bun.which('redis-server')
const enabled = !!(PG_URL && REDIS_URL && redisServer)

/** True when a Redis answers PING on the port. */
function redisPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect(port, '127.0.0.1')
    const done = (ok: boolean) => {
      c.destroy()
      resolve(ok)
    }
    c.setTimeout(2000, () => done(false))
    c.on('error', () => done(false))
    c.on('connect', () => c.write('PING\r\n'))
    c.on('data', (d: Buffer) => done(d.toString().startsWith('+PONG')))
  })
}

function startRedis(port: number) {
  return Bun.spawn([redisServer!, '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdout: 'ignore',
    stderr: 'ignore',
  })
}

/** A node's counter or gauge from its /metrics. */
async function metric(n: NodeProcess, name: string): Promise<number> {
  const text = await (await fetch(`${n.url}/metrics`)).text()
  return Number(new RegExp(`^${name}\\{[^}]*\\} ([0-9.e+-]+)`, 'm').exec(text)?.[1] ?? NaN)
}

type Acked = { seq: number; at: number }
type Client = { name: string; node: number; s: TestSocket; sent: number; acked: Acked[]; errors: number }

if (enabled) {
  describe('chaos: Redis stops mid-traffic under two nodes', () => {
    let db: { url: string; drop: () => Promise<void> }
    let port: number
    let redis: ReturnType<typeof Bun.spawn> | null = null
    const nodes: NodeProcess[] = []

    beforeAll(async () => {
      port = freePort()
      redis = startRedis(port)
      await until(() => redisPing(port), 20_000, 'the private redis-server')
      db = await freshPostgres()
      const env = { DATABASE_URL: db.url, REDIS_URL: `redis://127.0.0.1:${port}`, REDIS_PREFIX: 'chaos:', RATE_MESSAGES: '0' }
      nodes.push(await spawnNode({ ...env, NODE_ID: 'chaos-a' }), await spawnNode({ ...env, NODE_ID: 'chaos-b' }))
    }, 90_000)
    afterAll(async () => {
      for (const n of nodes) n.proc.kill(9)
      redis?.kill(9)
      await Promise.all([...nodes.map((n) => n.proc.exited), redis?.exited])
      await db?.drop()
    }, 30_000)

    test('each node serves its sockets while Redis is down; after it returns every socket has every acked message once, in order', async () => {
      const [a, b] = nodes as [NodeProcess, NodeProcess]
      const users = await Promise.all(['alice', 'bob', 'carol', 'dave'].map((n) => register(a.api, n)))
      const room = await groupRoom(a.api, users[0]!, users.slice(1))
      // two sockets per node, one user each
      const clients: Client[] = await Promise.all(users.map(async (u, i) => {
        const node = i < 2 ? a : b
        const s = await TestSocket.open(`${node.wsUrl}/v1/ws?token=${u.token}`)
        return { name: u.nickname, node: i < 2 ? 0 : 1, s, sent: 0, acked: [], errors: 0 }
      }))
      const created = (c: Client) =>
        c.s.frames.filter((f) => f.type === 'message.created' && f.message.room_id === room.id).map((f) => f.message.seq as number)
      const ackedSince = (c: Client, t: number) => c.acked.filter((x) => x.at >= t)

      // closed loop per socket: one message in flight, paced; bounded in count and stopped below
      let stop = false
      const loops = clients.map(async (c) => {
        while (!stop && c.sent < 1500) {
          const id = `${c.name}-${c.sent++}`
          c.s.send({ type: 'message.send', room_id: room.id, content: id, client_msg_id: id })
          const r = await c.s.next((f) => (f.type === 'ack' || f.type === 'error') && f.client_msg_id === id, 30_000)
          if (r.type === 'ack') c.acked.push({ seq: r.message.seq as number, at: Date.now() })
          else c.errors++
          await Bun.sleep(15) // pacing only
        }
      })
      const failed = Promise.all(loops).then(() => null, (e: unknown) => e)

      try {
        // 1. healthy: acks everywhere, and the relay carries messages across
        await until(() => clients.every((c) => c.acked.length >= 3), 30_000, 'acks before the outage')
        await until(async () => (await metric(a, 'chat_relay_received_total')) > 0 && (await metric(b, 'chat_relay_received_total')) > 0, 30_000, 'relayed events')

        // 2. Redis dies
        const tDown = Date.now()
        redis!.kill(9)
        await redis!.exited
        redis = null
        expect(await redisPing(port)).toBe(false)
        // each node still acks its sockets' sends and delivers them to its other local socket
        await until(() => clients.every((c) => ackedSince(c, tDown).length >= 3), 30_000, 'acks while Redis is down')
        for (const c of clients) {
          const peer = clients.find((o) => o.node === c.node && o !== c)!
          const seqs = ackedSince(c, tDown).map((x) => x.seq)
          await until(() => { const got = new Set(created(peer)); return seqs.every((q) => got.has(q)) }, 30_000, `${c.name}'s sends on ${peer.name} (same node) while Redis is down`)
        }
        // a socket opened while Redis is down gets its `ready` and follows the room (checked at the end)
        const late = await TestSocket.open(`${b.wsUrl}/v1/ws?token=${users[3]!.token}`)
        const lateFrom = (late.frames.find((f) => f.type === 'ready')!.rooms as { id: number; last_seq: number }[])
          .find((r) => r.id === room.id)!.last_seq
        // a room made on node a while Redis is down: alice's socket (node a) follows it
        const room2 = await groupRoom(a.api, users[0]!, [users[1]!])
        // keep it down a few seconds in all (ioredis backs off and retries meanwhile)
        await until(() => Date.now() - tDown >= 3000, 10_000, 'the outage to last')
        const downFor = Date.now() - tDown

        // 3. Redis returns on the same port; the relay resumes by itself
        const relayedBefore = await Promise.all(nodes.map((n) => metric(n, 'chat_relay_received_total')))
        redis = startRedis(port)
        await until(() => redisPing(port), 20_000, 'redis-server back')
        const tUp = Date.now()
        await until(async () => {
          const now = await Promise.all(nodes.map((n) => metric(n, 'chat_relay_received_total')))
          return now.every((x, i) => x > relayedBefore[i]!)
        }, 30_000, 'the relay to carry events again on both nodes')
        const resumeMs = Date.now() - tUp
        const tResumed = Date.now()
        await until(() => clients.every((c) => ackedSince(c, tResumed).length >= 3), 30_000, 'acks after the relay resumed')

        // the room made during the outage carries its messages
        for (let k = 0; k < 5; k++) {
          const r = await a.api('POST', `/v1/rooms/${room2.id}/messages`, { token: users[0]!.token, body: { content: `r2-${k}` } })
          expect(r.status).toBe(201)
        }
        const inRoom2 = (c: Client) => c.s.frames.filter((f) => f.type === 'message.created' && f.message.room_id === room2.id).map((f) => f.message.seq as number)
        await until(() => inRoom2(clients[0]!).length >= 5 && inRoom2(clients[1]!).length >= 5, 30_000, "room 2's messages on alice and bob").catch(() => {})
        expect({ alice: inRoom2(clients[0]!), bob: inRoom2(clients[1]!) }).toEqual({ alice: [1, 2, 3, 4, 5], bob: [1, 2, 3, 4, 5] })

        // 4. stop sending; every socket ends with 1..last, each once, in order
        stop = true
        const err = await failed
        if (err) throw err
        const acked = clients.flatMap((c) => c.acked.map((x) => x.seq))
        const last = Math.max(...acked)
        await until(() => clients.every((c) => created(c).filter((q) => q <= last).length >= last), 30_000, 'every socket to catch up')
        const expected = Array.from({ length: last }, (_, i) => i + 1)
        const figures = clients.map((c) => {
          const got = created(c)
          const seen = new Set(got)
          return {
            socket: `${c.name}@${c.node ? 'b' : 'a'}`, sent: c.sent, acked: c.acked.length, errors: c.errors, delivered: got.length,
            gaps: expected.filter((q) => !seen.has(q)).length, dups: got.length - seen.size,
            outOfOrder: got.filter((q, i) => i > 0 && q <= got[i - 1]!).length,
          }
        })
        const lateSeqs = () => late.frames.filter((f) => f.type === 'message.created' && f.message.room_id === room.id).map((f) => f.message.seq as number)
        await until(() => lateSeqs().filter((q) => q <= last).length >= last - lateFrom, 30_000, 'the socket opened during the outage to catch up').catch(() => {})
        console.log(JSON.stringify({ downMs: downFor, resumeMs, lastSeq: last, acked: acked.length, clients: figures, lateFrom, lateGot: lateSeqs().length }))
        expect(lateSeqs()).toEqual(expected.slice(lateFrom))
        late.close()
        // every acked message has a distinct seq, and the seqs are exactly 1..last
        expect(new Set(acked).size).toBe(acked.length)
        expect([...acked].sort((x, y) => x - y)).toEqual(expected)
        for (const c of clients) expect(created(c)).toEqual(expected)
      } finally {
        stop = true
        await failed
        for (const c of clients) c.s.close()
      }
    }, 180_000)
  })
}
