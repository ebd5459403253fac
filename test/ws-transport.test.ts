import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { groupRoom, register, startServer, TestSocket, type TestServer, type TestUser } from './helpers'

// per file: Bun applies a preload's default timeout to the first file only, and hooks start servers
setDefaultTimeout(60_000)

/**
 * WS_TRANSPORT=bun (the node's fetch upgrades) and WS_TRANSPORT=elysia (the
 * app's ws() routes) must answer every upgrade alike: same refusals before
 * the upgrade, same status and body, and the same accepted sockets.
 */
const TRANSPORTS = ['bun', 'elysia'] as const
const servers = {} as Record<(typeof TRANSPORTS)[number], TestServer>
const users = {} as Record<(typeof TRANSPORTS)[number], { alice: TestUser; carol: TestUser; room: number }>

const UPGRADE = { upgrade: 'websocket', connection: 'upgrade', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-version': '13' }

beforeAll(async () => {
  for (const t of TRANSPORTS) {
    const s = await startServer({ WS_TRANSPORT: t })
    servers[t] = s
    const [alice, carol] = await Promise.all([register(s.api, 'alice'), register(s.api, 'carol')])
    users[t] = { alice, carol, room: (await groupRoom(s.api, alice)).id }
  }
})
afterAll(async () => {
  await Promise.all(Object.values(servers).map((s) => s.close()))
})

/** Status and body of an upgrade request that is refused (fetch cannot follow a 101). */
async function refused(s: TestServer, path: string, headers: Record<string, string> = UPGRADE): Promise<{ status: number; body: unknown }> {
  const r = await fetch(`${s.url}${path}`, { headers, keepalive: false })
  return { status: r.status, body: await r.json() }
}

/** The status line of a raw handshake with `Upgrade: <upgrade>` as written. */
async function handshakeStatus(s: TestServer, path: string, upgrade: string): Promise<number> {
  const port = Number(new URL(s.url).port)
  let head = ''
  const { promise, resolve } = Promise.withResolvers<number>()
  const sock = await Bun.connect({
    hostname: '127.0.0.1', port,
    socket: {
      open(c) {
        c.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: ${upgrade}\r\nConnection: Upgrade\r\n` +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n')
      },
      data(_c, d) {
        head += Buffer.from(d).toString('latin1')
        const m = /^HTTP\/1\.1 (\d{3})/.exec(head)
        if (m) resolve(Number(m[1]))
      },
      close: () => resolve(0),
      error: () => resolve(0),
    },
  })
  const status = await promise
  sock.end()
  return status
}

describe('both transports refuse alike before the upgrade', () => {
  const cases: [string, (u: (typeof users)['bun']) => string, Record<string, string> | undefined, number, string][] = [
    ['a plain GET', (u) => `/v1/ws?token=${u.alice.token}`, {}, 400, 'bad_request'],
    ['no token', () => '/v1/ws', undefined, 401, 'unauthorized'],
    ['a bad token', () => '/v1/ws?token=nope', undefined, 401, 'unauthorized'],
    ['a bad after_seq', (u) => `/v1/ws?token=${u.alice.token}&after_seq=-1`, undefined, 422, 'validation'],
    ['a trailing slash', (u) => `/v1/ws/?token=${u.alice.token}`, undefined, 404, 'not_found'],
    ['a room id that is not a number', (u) => `/v1/rooms/abc/ws?token=${u.alice.token}`, undefined, 404, 'not_found'],
    ['room 0', (u) => `/v1/rooms/0/ws?token=${u.alice.token}`, undefined, 404, 'not_found'],
    ['a non-member of the room', (u) => `/v1/rooms/${u.room}/ws?token=${u.carol.token}`, undefined, 403, 'not_member'],
  ]
  for (const [name, path, headers, status, code] of cases) {
    test(name, async () => {
      const answers = await Promise.all(TRANSPORTS.map((t) => refused(servers[t], path(users[t]), headers)))
      expect(answers[0]!.status).toBe(status)
      expect((answers[0]!.body as { code: string }).code).toBe(code)
      expect(answers[1]).toEqual(answers[0]!)
    })
  }
})

describe('both transports accept alike', () => {
  for (const t of TRANSPORTS) {
    test(`${t}: ?token=, bearer protocol, per-room socket, and any case of Upgrade`, async () => {
      const s = servers[t]
      const { alice, room } = users[t]
      const a = new TestSocket(`${s.wsUrl}/v1/ws?token=${alice.token}`)
      expect((await a.next(() => true)).type).toBe('ready')
      const b = await TestSocket.open(`${s.wsUrl}/v1/ws`, ['bearer', alice.token])
      expect(b.ws.protocol).toBe('bearer')
      const c = new TestSocket(`${s.wsUrl}/v1/rooms/${room}/ws?token=${alice.token}`)
      expect((await c.next(() => true)).type).toBe('ready')
      // RFC 6455: the Upgrade value is case-insensitive
      expect(await handshakeStatus(s, `/v1/ws?token=${alice.token}`, 'WebSocket')).toBe(101)
      for (const x of [a, b, c]) x.close()
    })
  }
})

describe('draining', () => {
  test('both transports refuse new sockets with 503 once the node stops accepting', async () => {
    for (const t of TRANSPORTS) servers[t].chat.gateway.stopAccepting()
    const answers = await Promise.all(TRANSPORTS.map((t) => refused(servers[t], `/v1/ws?token=${users[t].alice.token}`)))
    expect(answers[0]!.status).toBe(503)
    expect((answers[0]!.body as { code: string }).code).toBe('unavailable')
    expect(answers[1]).toEqual(answers[0]!)
  })
})
