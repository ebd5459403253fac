import { afterAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ChatClient, ChatError, type Message } from '../client/src'
import { startGatewayDev } from '../scripts/gateway-dev'
import { api, freshPostgres, groupRoom, PG_URL, REDIS_URL, register, spawnNode, startServer, until, type NodeProcess } from './helpers'

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

describe('client SDK: uploads, following a joined room, gateway mode', () => {
  // a 1×1 PNG
  const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==', 'base64')

  test('upload(): multipart to /attachments, an image message back, progress to the end; refusals are ChatErrors', async () => {
    const s = await startServer({ MAX_UPLOAD_BYTES: '2048' })
    try {
      const a = await signedIn(s.url, 'up-a')
      const room = await groupRoom(s.api, a.user)
      const progress: [number, number][] = []
      const m = await a.client.upload(room.id, new File([PNG], 'dot.png', { type: 'image/png' }), {
        content: 'a dot', clientMsgId: 'up-1', onProgress: (sent, total) => progress.push([sent, total]),
      })
      expect(m.type).toBe('image')
      expect(m.content).toBe('a dot')
      expect(m.client_msg_id).toBe('up-1')
      expect(m.attachment?.name).toBe('dot.png')
      expect(progress.at(-1)).toEqual([PNG.length, PNG.length])
      // the signed URL opens without a token
      const file = await fetch(new URL(m.attachment!.url, s.url))
      expect(file.status).toBe(200)
      expect(new Uint8Array(await file.arrayBuffer())).toEqual(new Uint8Array(PNG))
      // the same client_msg_id again: the same message, not a second one
      const again = await a.client.upload(room.id, new File([PNG], 'dot.png', { type: 'image/png' }), { content: 'a dot', clientMsgId: 'up-1' })
      expect(again.id).toBe(m.id)
      const err = await a.client.upload(room.id, new File([new Uint8Array(4096)], 'big.bin')).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(ChatError)
      expect((err as ChatError).code).toBe('too_large')
      const stranger = await signedIn(s.url, 'up-b')
      const denied = await stranger.client.upload(room.id, new File([PNG], 'dot.png')).catch((e: unknown) => e)
      expect((denied as ChatError).code).toBe('not_member')
    } finally {
      await s.close()
    }
  })

  test('follow(): a space channel joined over REST streams from the seq given, each message once', async () => {
    const s = await startServer({ RATE_MESSAGES: '0' })
    try {
      const a = await signedIn(s.url, 'fo-a')
      const b = await signedIn(s.url, 'fo-b')
      const space = await a.client.api.v1.spaces.post({ name: `follow-${Date.now()}`, visibility: 'public' })
      if (!space.data) throw new Error(`space: ${space.status}`)
      const general = space.data.channels[0]!
      await a.client.api.v1.rooms({ id: general.id }).messages.post({ content: 'before' })
      const socket = b.client.socket()
      const got: Message[] = []
      socket.on('message.created', (f) => got.push(f.message))
      await until(() => socket.connected)
      const joined = await b.client.api.v1.spaces({ id: space.data.id }).join.post({})
      if (!joined.data) throw new Error(`join: ${joined.status}`)
      socket.follow(general.id, joined.data.channels[0]!.last_seq)
      socket.follow(general.id, 0) // already followed: no second stream
      for (const content of ['one', 'two', 'three']) await a.client.api.v1.rooms({ id: general.id }).messages.post({ content })
      await until(() => got.length >= 3)
      expect(got.map((m) => m.content)).toEqual(['one', 'two', 'three'])
      expect(seqsOf(got, general.id)).toEqual([2, 3, 4])
      socket.close()
    } finally {
      await s.close()
    }
  })

  test('gateway mode: no token on the socket; the gateway in front says who the user is', async () => {
    const secret = 'sdk-gateway-secret'
    const s = await startServer({ AUTH_MODE: 'gateway', GATEWAY_SECRET: secret })
    const gw = startGatewayDev({ secret, upstream: s.url, port: 0 })
    try {
      const client = new ChatClient(gw.url, null, undefined, { gateway: true })
      const opened: string[] = []
      // Bun's WebSocket takes headers: the dev gateway's X-Dev-* identity (a browser sends its cookie instead)
      class DevWebSocket extends WebSocket {
        constructor(url: string | URL) {
          opened.push(String(url))
          super(url, { headers: { 'x-dev-user-id': '4242', 'x-dev-nickname': encodeURIComponent('게이트'), 'x-dev-email': 'gate@example.com' } })
        }
      }
      const socket = client.socket({ WebSocket: DevWebSocket as typeof WebSocket })
      const ready = new Promise<{ id: number; nickname: string }>((resolve) => socket.on('ready', (f) => resolve(f.user)))
      expect(await ready).toMatchObject({ id: 4242, nickname: '게이트' })
      expect(opened[0]).not.toContain('token=')
      socket.close()
      // without the gateway option and without a session, there is nothing to connect with
      const plain = new ChatClient(gw.url).socket({ WebSocket: DevWebSocket as typeof WebSocket, backoffMs: { initial: 60_000, max: 60_000 } })
      expect(opened.length).toBe(1)
      plain.close()
    } finally {
      gw.stop()
      await s.close()
    }
  })
})
