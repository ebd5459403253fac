/**
 * Postgres goes away mid-burst. A private cluster (initdb into a temp dir,
 * its own port on 127.0.0.1, fsync on) carries one node; several users send
 * over REST; the cluster is stopped (`pg_ctl stop -m fast`) for 10 s and
 * started again. While it is down every send answers 503 within 2 s and
 * /readyz is 503; the node recovers by itself; every acked (201) message is
 * stored exactly once.
 *
 * Runs when TEST_DATABASE_URL is set (the Postgres suites) and the server
 * binaries are under /usr/lib/postgresql/<version>/bin.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import postgres from 'postgres'
import { freePort, groupRoom, PG_URL, register, startServer, until, type TestServer, type TestUser } from './helpers'

// per file: Bun applies a preload's default timeout to the first file only, and hooks start servers
setDefaultTimeout(60_000)

/** initdb and pg_ctl of the newest installed server, or null. */
function postgresBin(): string | null {
  const root = '/usr/lib/postgresql'
  if (!existsSync(root)) return null
  const versions = readdirSync(root).filter((v) => existsSync(join(root, v, 'bin/initdb')) && existsSync(join(root, v, 'bin/pg_ctl')))
  versions.sort((a, b) => Number(b) - Number(a))
  return versions[0] ? join(root, versions[0], 'bin') : null
}

const bin = postgresBin()
const isRoot = process.getuid?.() === 0

/** Runs a server binary, as the postgres OS user when we are root (Postgres refuses to run as root). */
async function pg(args: string[]): Promise<string> {
  const cmd = isRoot ? ['runuser', '-u', 'postgres', '--', ...args] : args
  const proc = Bun.spawn(cmd, { stdout: 'pipe', stderr: 'pipe' })
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited])
  if (code !== 0) throw new Error(`${args.join(' ')} exited ${code}: ${out}${err}`)
  return out
}

/** A port free on 127.0.0.1 now. */
type Send = { user: number; clientMsgId: string; startedAt: number; endedAt: number; status: number }

if (PG_URL && bin) describe('Postgres stopped mid-burst (private cluster)', () => {
  let dir: string
  let port: number
  let s: TestServer
  let users: TestUser[]
  let roomId: number
  const pgCtl = (...args: string[]) => pg([join(bin, 'pg_ctl'), '-D', join(dir, 'data'), ...args])
  const startCluster = () =>
    pgCtl('-l', join(dir, 'log'), '-w', '-t', '60', '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=on`, 'start')

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'chaos-pg-'))
    chmodSync(dir, 0o777)
    port = freePort()
    await pg([join(bin, 'initdb'), '-D', join(dir, 'data'), '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync'])
    await startCluster()
    s = await startServer({ RATE_MESSAGES: '0' }, `postgres://postgres@127.0.0.1:${port}/postgres`)
    users = await Promise.all(Array.from({ length: 6 }, (_, i) => register(s.api, `chaos${i}`)))
    roomId = (await groupRoom(s.api, users[0]!, users.slice(1))).id
  }, 120_000)

  afterAll(async () => {
    await s?.close().catch(() => {})
    await pgCtl('-m', 'immediate', '-w', 'stop').catch(() => {})
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  test('sends answer 503 within 2 s while it is down, /readyz is 503, the node recovers, every ack is stored once', async () => {
    const sends: Send[] = []
    const readyz: { at: number; status: number }[] = []
    let n = 0
    let stopping = false
    const t0 = performance.now()
    // bounded: at most 2 minutes and 20,000 sends, whatever happens
    const hardStop = t0 + 120_000
    const send = async (user: number) => {
      const clientMsgId = `c${user}-${++n}`
      const startedAt = performance.now()
      let status = 0
      try {
        const res = await fetch(`${s.url}/v1/rooms/${roomId}/messages`, {
          method: 'POST',
          headers: { authorization: `Bearer ${users[user]!.token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ content: `m ${clientMsgId}`, client_msg_id: clientMsgId }),
        })
        status = res.status
        await res.arrayBuffer()
      } catch {
        status = -1
      }
      sends.push({ user, clientMsgId, startedAt, endedAt: performance.now(), status })
      // a refused client backs off a little before its next message, as a real one would
      if (status !== 201) await Bun.sleep(50)
    }
    // each user: two sends in flight, one after another
    const loops = users.flatMap((_, user) => [0, 1].map(async () => {
      while (!stopping && performance.now() < hardStop && n < 20_000) await send(user)
    }))
    const probe = (async () => {
      while (!stopping && performance.now() < hardStop) {
        const res = await fetch(`${s.url}/readyz`).catch(() => null)
        readyz.push({ at: performance.now(), status: res?.status ?? -1 })
        await res?.arrayBuffer()
        await Bun.sleep(100)
      }
    })()

    const acked = () => sends.filter((x) => x.status === 201).length
    await until(() => acked() >= 300, 60_000, '300 acks before the stop')
    const stopAsked = performance.now()
    await pgCtl('-m', 'fast', '-w', 'stop')
    const downAt = performance.now()
    // the outage itself: 10 s of a stopped database, by the scenario's definition
    await Bun.sleep(10_000)
    const upAsked = performance.now()
    await startCluster()
    const upAt = performance.now()
    await until(() => sends.some((x) => x.status === 201 && x.startedAt >= upAt), 60_000, 'a send acked after the restart')
    const recoveredAt = Math.min(...sends.filter((x) => x.status === 201 && x.startedAt >= upAt).map((x) => x.endedAt))
    await until(() => readyz.some((r) => r.at > upAt && r.status === 200), 60_000, '/readyz 200 after the restart')
    const ackedBefore = acked()
    await until(() => acked() >= ackedBefore + 300, 60_000, '300 more acks after recovery')
    stopping = true
    await Promise.all([...loops, probe])

    // every send got an answer: 201 or 503, never a 500 or silence
    const statuses = new Map<number, number>()
    for (const x of sends) statuses.set(x.status, (statuses.get(x.status) ?? 0) + 1)
    // sent while the cluster was stopped (asked to start = may answer again)
    const whileDown = sends.filter((x) => x.startedAt >= downAt && x.startedAt < upAsked)
    const slowestWhileDown = Math.max(...whileDown.map((x) => x.endedAt - x.startedAt))
    // including the sends caught by the stop itself (in flight or sent while Postgres was shutting down)
    const fromStop = sends.filter((x) => x.endedAt >= stopAsked && x.startedAt < upAsked)
    const slowestFromStop = Math.max(...fromStop.map((x) => x.endedAt - x.startedAt))
    const readyWhileDown = readyz.filter((r) => r.at >= downAt && r.at < upAsked)

    const admin = postgres(`postgres://postgres@127.0.0.1:${port}/postgres`, { max: 1, onnotice: () => {} })
    const rows = await admin<{ client_msg_id: string; n: number }[]>`
      select client_msg_id, count(*)::int as n from messages where room_id = ${roomId} group by client_msg_id`
    await admin.end()
    const stored = new Map(rows.map((r) => [r.client_msg_id, r.n]))
    const ackedIds = sends.filter((x) => x.status === 201).map((x) => x.clientMsgId)
    const lost = ackedIds.filter((id) => !stored.has(id))
    const duplicated = rows.filter((r) => r.n > 1)
    const storedUnacked = [...stored.keys()].filter((id) => !ackedIds.includes(id)).length

    console.log('chaos-postgres figures', JSON.stringify({
      sent: sends.length, acked: ackedIds.length, statuses: Object.fromEntries(statuses), stored: rows.length,
      storedWithoutAck: storedUnacked, lost: lost.length, duplicated: duplicated.length,
      stopMs: Math.round(downAt - stopAsked), downMs: Math.round(upAsked - downAt),
      sentWhileDown: whileDown.length, slowestAnswerWhileDownMs: Math.round(slowestWhileDown),
      slowestAnswerFromStopMs: Math.round(slowestFromStop),
      readyzWhileDown: readyWhileDown.length, readyzWhileDown503: readyWhileDown.filter((r) => r.status === 503).length,
      recoverMsAfterRestart: Math.round(recoveredAt - upAt),
    }))

    expect([...statuses.keys()].sort()).toEqual([201, 503])
    expect(whileDown.length).toBeGreaterThan(0)
    expect(whileDown.every((x) => x.status === 503)).toBe(true)
    expect(slowestWhileDown).toBeLessThan(2000)
    expect(readyWhileDown.length).toBeGreaterThan(0)
    expect(readyWhileDown.every((r) => r.status === 503)).toBe(true)
    expect(s.chat.writer.healthy).toBe(true)
    expect(lost).toEqual([])
    expect(duplicated).toEqual([])
  }, 240_000)
})
