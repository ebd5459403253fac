import { afterAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ChatClient, type Message } from '../client/src'
import { api, freshPostgres, groupRoom, PG_URL, REDIS_URL, register, spawnNode, until, type NodeProcess } from './helpers'

// per file: Bun applies a preload's default timeout to the first file only, and hooks start servers
setDefaultTimeout(90_000)

/** A port nobody listens on now, so a node can come back on the same one. */
function portNow(): number {
  const s = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => new Response() })
  const port = s.port!
  s.stop(true)
  return port
}

const dirs: string[] = []
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

/** One node in its own process on a fixed port and its own embedded database, restartable. */
async function restartableNode(extra: Record<string, string> = {}) {
  const port = portNow()
  const dataDir = mkdtempSync(join(tmpdir(), 'chat-sdk-'))
  dirs.push(dataDir)
  const env = { PORT: String(port), DATA_DIR: dataDir, DATABASE_URL: '', REDIS_URL: '', RATE_MESSAGES: '0', SHUTDOWN_GRACE_MS: '3000', ...extra }
  let node = await spawnNode(env)
  return {
    url: node.url,
    get node() {
      return node
    },
    async stop() {
      node.proc.kill('SIGTERM')
      await node.proc.exited
    },
    async start() {
      node = await spawnNode(env)
    },
  }
}

async function signedIn(url: string, name: string) {
  const u = await register(api(url), name)
  return { user: u, client: new ChatClient(url, { access: u.token, refresh: u.refresh }) }
}

const seqsOf = (msgs: Message[], roomId: number) => msgs.filter((m) => m.room_id === roomId).map((m) => m.seq)
const oneTo = (n: number) => Array.from({ length: n }, (_, i) => i + 1)

describe('client SDK (client/)', () => {
  test('survives a server restart: every message acked once, the receiver sees 1..N in order, none twice', async () => {
    const n = await restartableNode()
    try {
      const a = await signedIn(n.url, 'sdk-a')
      const b = await signedIn(n.url, 'sdk-b')
      const room = await groupRoom(api(n.url), a.user, [b.user])
      const sender = a.client.socket({ backoffMs: { initial: 100, max: 1000 } })
      const receiver = b.client.socket({ backoffMs: { initial: 100, max: 1000 } })
      const got: Message[] = []
      receiver.on('message.created', (f) => got.push(f.message))
      await until(() => sender.connected && receiver.connected, 20_000, 'both sockets ready')
      const total = 40
      const acks: Promise<Message>[] = []
      for (let i = 0; i < total; i++) {
        acks.push(sender.send(room.id, `m${i}`))
        if (i === total / 2) {
          // mid-stream: the node drains and stops; the rest wait in the outbox until it is back
          await n.stop()
          await n.start()
        }
        await Bun.sleep(10)
      }
      const acked = await Promise.all(acks)
      expect(new Set(acked.map((m) => m.seq)).size).toBe(total)
      await until(() => got.length >= total, 30_000, 'every message on the receiver')
      expect(seqsOf(got, room.id)).toEqual(oneTo(total))
      const history = await b.client.call<{ messages: Message[] }>('GET', `/v1/rooms/${room.id}/messages?limit=200`)
      expect(history.messages.map((m) => m.content).sort()).toEqual(Array.from({ length: total }, (_, i) => `m${i}`).sort())
      sender.close()
      receiver.close()
    } finally {
      await n.stop().catch(() => {})
    }
  })

  test('an offline outbox flushes exactly once when the server comes back', async () => {
    const n = await restartableNode()
    try {
      const a = await signedIn(n.url, 'sdk-o')
      const room = await groupRoom(api(n.url), a.user)
      const socket = a.client.socket({ backoffMs: { initial: 100, max: 500 } })
      await until(() => socket.connected, 20_000, 'ready')
      await n.stop()
      await until(() => !socket.connected, 10_000, 'the socket to notice')
      const sends = Array.from({ length: 5 }, (_, i) => socket.send(room.id, `offline ${i}`))
      expect(socket.pending).toBe(5)
      await n.start()
      const acked = await Promise.all(sends)
      expect(acked.map((m) => m.content)).toEqual(Array.from({ length: 5 }, (_, i) => `offline ${i}`))
      expect(socket.pending).toBe(0)
      const history = await a.client.call<{ messages: Message[] }>('GET', `/v1/rooms/${room.id}/messages`)
      expect(history.messages.map((m) => m.content)).toEqual(Array.from({ length: 5 }, (_, i) => `offline ${i}`))
      socket.close()
    } finally {
      await n.stop().catch(() => {})
    }
  })

  test('credentials: renewed with the auth frame before they expire; after a 4001 close, refreshed and reconnected', async () => {
    const n = await restartableNode({ ACCESS_TTL: '2' })
    try {
      const a = await signedIn(n.url, 'sdk-r')
      // renewal in time: the socket outlives several token lifetimes without a reconnect
      const renewing = a.client.socket({ renewBeforeMs: 1500 })
      let readies = 0
      let renewals = 0
      renewing.on('ready', () => readies++)
      renewing.on('auth_ok', () => renewals++)
      await until(() => renewals >= 3, 30_000, 'three renewals')
      expect(readies).toBe(1)
      renewing.close()
      // renewal too late (after expiry): the server closes with 4001, the SDK refreshes and comes back
      const late = a.client.socket({ renewBeforeMs: -60_000, backoffMs: { initial: 100, max: 500 } })
      let lateReadies = 0
      late.on('ready', () => lateReadies++)
      await until(() => lateReadies >= 2, 30_000, 'a second ready after the 4001')
      late.close()
    } finally {
      await n.stop().catch(() => {})
    }
  })
})

describe.if(!!(PG_URL && REDIS_URL))('client SDK across nodes', () => {
  const nodes: NodeProcess[] = []
  let drop: () => Promise<void> = async () => {}
  afterAll(async () => {
    for (const n of nodes) if (n.proc.exitCode === null) n.proc.kill(9)
    await drop()
  })

  test('kill -9 of its node: the SDK moves to the other, no message lost or repeated, in order', async () => {
    const db = await freshPostgres()
    drop = db.drop
    const env = { DATABASE_URL: db.url, REDIS_URL: REDIS_URL!, REDIS_PREFIX: `sdk${Math.random().toString(36).slice(2, 7)}:`, RATE_MESSAGES: '0' }
    nodes.push(await spawnNode({ ...env, NODE_ID: 'sdk-a' }), await spawnNode({ ...env, NODE_ID: 'sdk-b' }))
    const [na, nb] = nodes as [NodeProcess, NodeProcess]
    const a = await signedIn(na.url, 'k-a')
    const b = await signedIn(na.url, 'k-b')
    const room = await groupRoom(na.api, a.user, [b.user])
    const sender = new ChatClient(na.url, a.client.session).socket({ urls: [na.url, nb.url], backoffMs: { initial: 100, max: 500 } })
    const receiver = new ChatClient(na.url, b.client.session).socket({ urls: [na.url, nb.url], backoffMs: { initial: 100, max: 500 } })
    const got: Message[] = []
    receiver.on('message.created', (f) => got.push(f.message))
    await until(() => sender.connected && receiver.connected, 20_000, 'both ready on node A')
    const total = 40
    const acks: Promise<Message>[] = []
    for (let i = 0; i < total; i++) {
      acks.push(sender.send(room.id, `k${i}`))
      if (i === total / 2) na.proc.kill(9)
      await Bun.sleep(10)
    }
    const acked = await Promise.all(acks)
    expect(new Set(acked.map((m) => m.seq)).size).toBe(total)
    await until(() => got.length >= total, 30_000, 'every message on the receiver')
    expect(seqsOf(got, room.id)).toEqual(oneTo(total))
    sender.close()
    receiver.close()
  })
})
