import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { api, freePort, freshPostgres, groupRoom, PG_URL, REDIS_URL, register, spawnNode, TestSocket, until, type NodeProcess } from './helpers'

// per file: Bun applies a preload's default timeout to the first file only, and hooks start servers
setDefaultTimeout(60_000)

/** The real balancer config (deploy/haproxy.cfg) in front of three local nodes. */
const haproxy = Bun.which('haproxy')
const enabled = !!(PG_URL && REDIS_URL && haproxy)
const CFG = `${import.meta.dir}/../deploy/haproxy.cfg`

/** A node's open WebSockets, from its own /metrics. */
async function connectionsOf(n: NodeProcess): Promise<number> {
  const text = await (await fetch(`${n.url}/metrics`)).text()
  return Number(/^chat_connections\{[^}]*\} (\d+)/m.exec(text)?.[1] ?? 0)
}

if (enabled) {
  describe('HAProxy in front of three nodes', () => {
    let db: { url: string; drop: () => Promise<void> }
    const nodes: NodeProcess[] = []
    let lb: ReturnType<typeof Bun.spawn>
    let lbUrl: string
    let statsUrl: string
    let tmp: string

    /** Server name → HAProxy's status of it (UP, DOWN, …), from the stats page's CSV. */
    async function lbStatus(): Promise<Record<string, string>> {
      const csv = await (await fetch(`${statsUrl};csv`)).text()
      const [head, ...rows] = csv.trim().split('\n')
      const cols = head!.replace(/^# /, '').split(',')
      const sv = cols.indexOf('svname')
      const st = cols.indexOf('status')
      const px = cols.indexOf('pxname')
      const out: Record<string, string> = {}
      for (const r of rows) {
        const c = r.split(',')
        if (c[px] === 'nodes') out[c[sv]!] = c[st]!
      }
      return out
    }

    beforeAll(async () => {
      db = await freshPostgres()
      const prefix = `t${Math.random().toString(36).slice(2, 8)}:`
      for (let i = 0; i < 3; i++) {
        nodes.push(await spawnNode({ DATABASE_URL: db.url, REDIS_URL: REDIS_URL!, REDIS_PREFIX: prefix, NODE_ID: `lb${i}`, RATE_MESSAGES: '0' }))
      }
      const port = freePort()
      const statsPort = freePort()
      lbUrl = `http://127.0.0.1:${port}`
      statsUrl = `http://127.0.0.1:${statsPort}/stats`
      // the stats page (to see what HAProxy thinks of each node) in a second file, in a temp dir
      tmp = mkdtempSync(join(tmpdir(), 'chat-haproxy-'))
      writeFileSync(join(tmp, 'stats.cfg'), `listen stats\n    bind 127.0.0.1:${statsPort}\n    stats enable\n    stats uri /stats\n`)
      lb = Bun.spawn([haproxy!, '-f', CFG, '-f', join(tmp, 'stats.cfg'), '-db'], {
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
      await until(async () => (await fetch(`${lbUrl}/readyz`).catch(() => null))?.status === 200, 20_000, 'the balancer')
      // every node passed its health checks
      await until(async () => {
        const s = await lbStatus().catch(() => ({}) as Record<string, string>)
        return ['chat1', 'chat2', 'chat3'].every((n) => s[n] === 'UP')
      }, 30_000, 'HAProxy to see all three nodes up').catch(async (e: unknown) => {
        throw new Error(`${String(e)}: ${JSON.stringify(await lbStatus())}`)
      })
    }, 90_000)
    afterAll(async () => {
      lb?.kill()
      for (const n of nodes) n.proc.kill(9)
      await Promise.all([lb?.exited, ...nodes.map((n) => n.proc.exited)])
      await db.drop()
      rmSync(tmp, { recursive: true, force: true })
    }, 30_000)

    test('the config is valid', () => {
      const r = Bun.spawnSync([haproxy!, '-c', '-f', CFG], {
        env: { ...process.env, LB_BIND: '127.0.0.1:1', CHAT1_ADDR: '127.0.0.1:1', CHAT2_ADDR: '127.0.0.1:2', CHAT3_ADDR: '127.0.0.1:3' },
      })
      expect(r.exitCode).toBe(0)
    })

    test('REST and WebSocket through the balancer; sockets on different nodes chat', async () => {
      const lbApi = api(lbUrl)
      const [a, b] = await Promise.all([register(lbApi, 'lba'), register(lbApi, 'lbb')])
      const room = await groupRoom(lbApi, a, [b])
      const wsUrl = lbUrl.replace('http', 'ws')
      // open sockets one by one and see on which node each lands (its connection count moves) until two
      // nodes hold one: bounded, and independent of how the balancer happens to spread them
      const socks: { s: TestSocket; node: number }[] = []
      for (let i = 0; i < 30 && new Set(socks.map((x) => x.node)).size < 2; i++) {
        const before = await Promise.all(nodes.map(connectionsOf))
        const s = await TestSocket.open(`${wsUrl}/v1/ws?token=${(i % 2 ? b : a).token}`)
        let node = -1
        await until(async () => {
          const now = await Promise.all(nodes.map(connectionsOf))
          node = now.findIndex((c, k) => c > before[k]!)
          return node >= 0
        }, 10_000, 'the socket to show on a node')
        socks.push({ s, node })
      }
      const nodesUsed = new Set(socks.map((x) => x.node))
      expect(nodesUsed.size).toBeGreaterThanOrEqual(2)
      // a message sent on one node reaches the sockets on the other: it crossed the relay
      const from = socks[0]!
      from.s.send({ type: 'message.send', room_id: room.id, content: 'through the lb' })
      for (const { s } of socks) expect((await s.next('message.created', 15_000)).message.content).toBe('through the lb')
      expect(socks.some((x) => x.node !== from.node)).toBe(true)
      socks.forEach((x) => x.s.close())
    })

    test('a killed node leaves the rotation; requests keep succeeding', async () => {
      const lbApi = api(lbUrl)
      nodes[0]!.proc.kill(9)
      await nodes[0]!.proc.exited
      // until the health checks fail, a connect to the dead node is refused and redispatched to another
      await until(async () => (await lbStatus())['chat1']?.startsWith('DOWN') === true, 30_000, 'HAProxy to mark chat1 down')
      let ok = 0
      for (let i = 0; i < 30; i++) if ((await lbApi('GET', '/healthz')).status === 200) ok++
      expect(ok).toBe(30)
      // and sockets still open through it, on the live nodes
      const u = await register(lbApi, 'lbc')
      const s = await TestSocket.open(`${lbUrl.replace('http', 'ws')}/v1/ws?token=${u.token}`)
      s.close()
    })
  })
}
