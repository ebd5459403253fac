import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { api, freshPostgres, groupRoom, PG_URL, REDIS_URL, register, spawnNode, TestSocket, until, type NodeProcess } from './helpers'

// per file: Bun applies a preload's default timeout to the first file only, and hooks start servers
setDefaultTimeout(60_000)

/** The real balancer config (deploy/haproxy.cfg) in front of three local nodes. */
const haproxy = Bun.which('haproxy')
const enabled = !!(PG_URL && REDIS_URL && haproxy)

function freePort(): number {
  const s = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => new Response() })
  const port = s.port!
  s.stop(true)
  return port
}

if (enabled) {
  describe('HAProxy in front of three nodes', () => {
    let db: { url: string; drop: () => Promise<void> }
    const nodes: NodeProcess[] = []
    let lb: ReturnType<typeof Bun.spawn>
    let lbUrl: string

    beforeAll(async () => {
      db = await freshPostgres()
      const prefix = `t${Math.random().toString(36).slice(2, 8)}:`
      for (let i = 0; i < 3; i++) {
        nodes.push(await spawnNode({ DATABASE_URL: db.url, REDIS_URL: REDIS_URL!, REDIS_PREFIX: prefix, NODE_ID: `lb${i}`, RATE_MESSAGES: '0' }))
      }
      const port = freePort()
      lbUrl = `http://127.0.0.1:${port}`
      lb = Bun.spawn([haproxy!, '-f', `${import.meta.dir}/../deploy/haproxy.cfg`, '-db'], {
        env: {
          ...process.env,
          LB_BIND: `127.0.0.1:${port}`,
          CHAT1_ADDR: nodes[0]!.url.replace('http://', ''),
          CHAT2_ADDR: nodes[1]!.url.replace('http://', ''),
          CHAT3_ADDR: nodes[2]!.url.replace('http://', ''),
        },
        stdout: 'ignore',
        stderr: 'ignore',
      })
      await until(async () => (await fetch(`${lbUrl}/readyz`).catch(() => null))?.status === 200, 10_000, 'the balancer')
    }, 60_000)
    afterAll(async () => {
      lb?.kill()
      for (const n of nodes) n.proc.kill(9)
      await Promise.all(nodes.map((n) => n.proc.exited))
      await db.drop()
    }, 20_000)

    test('the config is valid', () => {
      const r = Bun.spawnSync([haproxy!, '-c', '-f', `${import.meta.dir}/../deploy/haproxy.cfg`], {
        env: { ...process.env, LB_BIND: '127.0.0.1:1', CHAT1_ADDR: '127.0.0.1:1', CHAT2_ADDR: '127.0.0.1:2', CHAT3_ADDR: '127.0.0.1:3' },
      })
      expect(r.exitCode).toBe(0)
    })

    test('REST and WebSocket through the balancer; sockets on different nodes chat', async () => {
      const lbApi = api(lbUrl)
      const [a, b] = await Promise.all([register(lbApi, 'lba'), register(lbApi, 'lbb')])
      const room = await groupRoom(lbApi, a, [b])
      const wsUrl = lbUrl.replace('http', 'ws')
      // leastconn spreads these over the nodes
      const socks = await Promise.all([a, b, a, b, a, b].map((u) => TestSocket.open(`${wsUrl}/v1/ws?token=${u.token}`)))
      socks[0]!.send({ type: 'message.send', room_id: room.id, content: 'through the lb' })
      for (const s of socks) expect((await s.next('message.created')).message.content).toBe('through the lb')
      const perNode = await Promise.all(nodes.map(async (n) => {
        const text = await (await fetch(`${n.url}/metrics`)).text()
        return Number(/^chat_connections\{[^}]*\} (\d+)/m.exec(text)?.[1] ?? 0)
      }))
      // the sockets really were spread: the message crossed nodes
      expect(perNode.filter((c) => c > 0).length).toBeGreaterThanOrEqual(2)
      socks.forEach((s) => s.close())
    })

    test('a killed node leaves the rotation; requests keep succeeding', async () => {
      const lbApi = api(lbUrl)
      nodes[0]!.proc.kill(9)
      await nodes[0]!.proc.exited
      // HAProxy retries and redispatches failed connects, then marks the node down
      let ok = 0
      for (let i = 0; i < 30; i++) if ((await lbApi('GET', '/healthz')).status === 200) ok++
      expect(ok).toBe(30)
    })
  })
}
