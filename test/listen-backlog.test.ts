import { afterAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import type { Socket } from 'bun'
import { raiseListenBacklog, somaxconn } from '../src/http/listen-backlog'
import { spawnNode, startServer, until, type NodeProcess } from './helpers'

/** The backlog the kernel gives the socket listening on `port`, from `ss` (Send-Q of a LISTEN socket). */
function ssBacklog(port: number): number {
  const out = Bun.spawnSync(['ss', '-Hltn', `sport = :${port}`]).stdout.toString().trim()
  const cols = out.split(/\s+/)
  // State Recv-Q Send-Q Local Peer
  return Number(cols[2])
}

setDefaultTimeout(60_000)

const linux = process.platform === 'linux'
const cap = somaxconn() ?? 0

describe('LISTEN_BACKLOG', () => {
  test.if(linux && !!Bun.which('ss'))('the listening socket takes the configured backlog (capped by somaxconn); 0 leaves Bun its 512', async () => {
    const raised = await startServer({ LISTEN_BACKLOG: '2000', DATABASE_URL: 'memory://' })
    const bun = await startServer({ LISTEN_BACKLOG: '0', DATABASE_URL: 'memory://' })
    try {
      expect(ssBacklog(Number(new URL(raised.url).port))).toBe(Math.min(2000, cap))
      expect(ssBacklog(Number(new URL(bun.url).port))).toBe(512)
    } finally {
      await raised.close()
      await bun.close()
    }
  })

  test.if(linux)('a port nothing of this process listens on is reported, not guessed', () => {
    const r = raiseListenBacklog(1, 4096)
    expect(r).toEqual({ ok: false, reason: 'no listening socket of this process on port 1' })
  })

  // a stopped node accepts nothing: the kernel completes handshakes only while its accept queue has room.
  // With Bun's 512 the rest of a storm's SYNs are dropped and wait for TCP's retransmit; with the default
  // backlog every one of them completes, and the node serves them all once it runs again
  describe.if(linux && cap > 1200)('a storm against a node that is not accepting', () => {
    let node: NodeProcess | undefined
    const sockets: Socket<{ reply: string }>[] = []
    afterAll(() => {
      for (const s of sockets) s.end()
      node?.proc.kill('SIGCONT')
      node?.proc.kill()
    })

    test('more handshakes than 512 complete while it is stopped, and each is served after', async () => {
      node = await spawnNode({ DATABASE_URL: 'memory://' })
      const { hostname, port } = new URL(node.url)
      const n = 1200
      let connected = 0
      let answered = 0
      node.proc.kill('SIGSTOP')
      try {
        // not awaited: a connect whose SYN was dropped stays pending until TCP retransmits it
        const opening = Array.from({ length: n }, () => Bun.connect<{ reply: string }>({
          hostname, port: Number(port), data: { reply: '' },
          socket: {
            open() {
              connected++
            },
            data(sock, chunk) {
              sock.data.reply += chunk.toString()
              if (sock.data.reply.startsWith('HTTP/1.1 200') && sock.data.reply.includes('"ok"')) answered++
            },
          },
        }))
        await until(() => connected === n, 15_000, 'every handshake while the node is stopped')
        sockets.push(...await Promise.all(opening))
      } finally {
        node.proc.kill('SIGCONT')
      }
      for (const s of sockets) s.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n')
      await until(() => answered === n, 20_000, `${n} answers (${answered})`)
      expect(node.output()).not.toContain('listen backlog left')
    })
  })
})
