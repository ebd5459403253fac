/**
 * presence-storm: a bounded connect storm against one node, standalone (not
 * the bench generator). N users, one socket each, in group rooms of
 * `--room-members` (users i..i+M-1 share room i/M), all connect at once
 * through `--workers` client processes with at most `--concurrency` upgrades
 * in flight. Every token is checked by the server (JWT, login still active).
 *
 * Reports connects/s (first upgrade sent → last `ready`), presence frames
 * received per socket (during the storm and a settle second after it), and
 * the server's CPU per 1,000 connects. `--server-dir` runs another checkout's
 * server (a before/after pair in one invocation: `--server-dir /work/main`).
 * `--cpu-prof` runs the server under Bun's profiler and writes a markdown
 * profile into `--prof-dir`.
 *
 *   timeout 300 bun bench/presence-storm.ts --sockets 10000 --room-members 100
 *
 * Everything listens on and connects to 127.0.0.1; every loop is bounded in
 * time (`--max-seconds`) and count.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import postgres from 'postgres'
import { createAccessTokens } from '../src/auth/tokens'
import { createDb, dropDb, pgUrlFor } from './lib/pg'

type Args = {
  sockets: number; roomMembers: number; workers: number; concurrency: number; serverDir: string; maxSeconds: number
  env: Record<string, string>; cpuProf: boolean; profDir: string; label: string
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    sockets: 10_000, roomMembers: 100, workers: 2, concurrency: 1000, serverDir: resolve(import.meta.dir, '..'), maxSeconds: 120,
    env: {}, cpuProf: false, profDir: tmpdir(), label: '',
  }
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!
    const v = () => argv[++i] ?? ''
    if (k === '--sockets') a.sockets = Number(v())
    else if (k === '--room-members') a.roomMembers = Number(v())
    else if (k === '--workers') a.workers = Number(v())
    else if (k === '--concurrency') a.concurrency = Number(v())
    else if (k === '--server-dir') a.serverDir = resolve(v())
    else if (k === '--max-seconds') a.maxSeconds = Number(v())
    else if (k === '--env') {
      const [key, ...rest] = v().split('=')
      a.env[key!] = rest.join('=')
    } else if (k === '--cpu-prof') a.cpuProf = true
    else if (k === '--prof-dir') a.profDir = resolve(v())
    else if (k === '--label') a.label = v()
    else throw new Error(`unknown argument ${k}`)
  }
  return a
}

/** One worker's share: open every socket, count frames, report. */
type WorkerReport = { ready: number; failed: number; presence: number; firstSentAt: number; lastReadyAt: number; errors: Record<string, number> }

async function worker(file: string, from: number, to: number, startAt: number, concurrency: number, url: string, maxMs: number) {
  const tokens = (JSON.parse(readFileSync(file, 'utf8')) as string[]).slice(from, to)
  const r: WorkerReport = { ready: 0, failed: 0, presence: 0, firstSentAt: 0, lastReadyAt: 0, errors: {} }
  const open: WebSocket[] = []
  let next = 0
  let inFlight = 0
  let lastPresenceAt = 0
  const deadline = startAt + maxMs
  await Bun.sleep(Math.max(0, startAt - Date.now()))
  r.firstSentAt = Date.now()
  await new Promise<void>((done) => {
    const launch = () => {
      while (inFlight < concurrency && next < tokens.length && Date.now() < deadline) {
        const token = tokens[next++]!
        inFlight++
        const ws = new WebSocket(`${url}/v1/ws?token=${token}`)
        open.push(ws)
        let ready = false
        const finish = (ok: boolean, why?: string) => {
          if (ready) return
          ready = true
          inFlight--
          if (ok) {
            r.ready++
            r.lastReadyAt = Date.now()
          } else {
            r.failed++
            r.errors[why ?? 'error'] = (r.errors[why ?? 'error'] ?? 0) + 1
          }
          if (r.ready + r.failed === tokens.length) done()
          else launch()
        }
        ws.onmessage = (e) => {
          const text = String(e.data)
          // a cheap scan: only the type matters for the count
          if (text.startsWith('{"type":"ready"')) finish(true)
          else if (text.startsWith('{"type":"presence"')) {
            r.presence++
            lastPresenceAt = Date.now()
          }
        }
        ws.onerror = () => finish(false, 'error')
        ws.onclose = (e) => finish(false, `close ${e.code}`)
      }
      if (Date.now() >= deadline && r.ready + r.failed < tokens.length) done()
    }
    launch()
  })
  // settle: presence still in flight (an announcement trails its session start) arrives within this second
  const settleUntil = Date.now() + 1000
  while (Date.now() < settleUntil || Date.now() - lastPresenceAt < 300) {
    if (Date.now() > deadline + 5000) break
    await Bun.sleep(100)
  }
  process.stdout.write(`${JSON.stringify(r)}\n`)
  for (const ws of open) ws.close()
}

/** utime + stime of a process, seconds. */
function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  return (Number(f[11]) + Number(f[12])) / 100
}

function freePort(): number {
  const s = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } })
  const p = s.port
  s.stop(true)
  return p
}

async function coordinator(a: Args) {
  const secret = 'presence-storm-secret'
  const dbName = await createDb('presence_storm')
  const dbUrl = pgUrlFor(dbName)
  const port = freePort()
  const url = `http://127.0.0.1:${port}`
  const profName = `presence-storm-${Date.now()}.md`
  const server = Bun.spawn(
    ['bun', ...(a.cpuProf ? ['--cpu-prof-md', `--cpu-prof-dir=${a.profDir}`, `--cpu-prof-name=${profName}`] : []), 'src/index.ts'],
    {
      cwd: a.serverDir,
      env: {
        ...process.env, PORT: String(port), HOST: '127.0.0.1', DATABASE_URL: dbUrl, JWT_SECRET: secret, LOG_LEVEL: 'warn',
        RATE_AUTH: '0', RATE_MESSAGES: '0', ACCESS_TTL: '3600', NODE_ENV: 'production', ...a.env,
      },
      stdout: 'inherit', stderr: 'inherit',
    },
  )
  const sql = postgres(dbUrl, { max: 2, onnotice: () => {} })
  try {
    for (let i = 0; ; i++) {
      if (i > 300) throw new Error('server did not become ready')
      const ok = await fetch(`${url}/readyz`).then((r) => r.ok, () => false)
      if (ok) break
      await Bun.sleep(100)
    }
    // seed in SQL: users, their logins, group rooms of roomMembers
    const n = a.sockets
    const m = a.roomMembers
    await sql.unsafe(`insert into users (id, email, nickname) select g, 'u' || g || '@storm.test', 'u' || g from generate_series(1, ${n}) g`)
    await sql.unsafe(`select setval('users_id_seq', ${n})`)
    await sql.unsafe(`insert into refresh_tokens (user_id, family_id, token_hash, expires_at)
      select g, 'login-' || g, md5('t' || g), now() + interval '1 day' from generate_series(1, ${n}) g`)
    const rooms = Math.ceil(n / m)
    await sql.unsafe(`insert into rooms (id, type, name, visibility, created_by, max_members, member_count)
      select r, 'group', 'room ' || r, 'private', (r - 1) * ${m} + 1, ${Math.max(m, 2)}, least(${m}, ${n} - (r - 1) * ${m}) from generate_series(1, ${rooms}) r`)
    await sql.unsafe(`select setval('rooms_id_seq', ${rooms})`)
    await sql.unsafe(`insert into room_members (room_id, user_id, role) select (g - 1) / ${m} + 1, g, 'member' from generate_series(1, ${n}) g`)
    const signer = createAccessTokens(secret, 3600)
    const tokens: string[] = []
    for (let i = 1; i <= n; i++) tokens.push(await signer.sign(i, `login-${i}`))
    const dir = mkdtempSync(join(tmpdir(), 'storm-'))
    const file = join(dir, 'tokens.json')
    writeFileSync(file, JSON.stringify(tokens))

    const pid = server.pid
    const startAt = Date.now() + 1500
    const per = Math.ceil(n / a.workers)
    const cpuBefore = cpuSeconds(pid)
    const workers = Array.from({ length: a.workers }, (_, w) =>
      Bun.spawn(['bun', import.meta.path, '--worker', file, String(w * per), String(Math.min(n, (w + 1) * per)), String(startAt),
        String(Math.ceil(a.concurrency / a.workers)), url.replace(/^http/, 'ws'), String(a.maxSeconds * 1000)], { stdout: 'pipe', stderr: 'inherit' }))
    const reports = await Promise.all(workers.map(async (p) => {
      const text = await new Response(p.stdout).text()
      await p.exited
      return JSON.parse(text.trim().split('\n').at(-1)!) as WorkerReport
    }))
    const cpuAfter = cpuSeconds(pid)
    const ready = reports.reduce((s, r) => s + r.ready, 0)
    const failed = reports.reduce((s, r) => s + r.failed, 0)
    const presence = reports.reduce((s, r) => s + r.presence, 0)
    const t0 = Math.min(...reports.map((r) => r.firstSentAt))
    const t1 = Math.max(...reports.map((r) => r.lastReadyAt))
    const errors: Record<string, number> = {}
    for (const r of reports) for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v
    const result = {
      label: a.label || a.serverDir, sockets: n, roomMembers: m, env: a.env, ready, failed, errors,
      connectsPerSec: Math.round(ready / ((t1 - t0) / 1000)),
      presenceFrames: presence, presencePerSocket: Number((presence / Math.max(1, ready)).toFixed(3)),
      // CPU over the storm and the settle second: upgrades, token checks, session starts, presence
      serverCpuMsPer1000Connects: Math.round(((cpuAfter - cpuBefore) * 1000 * 1000) / Math.max(1, ready)),
      ...(a.cpuProf ? { profile: join(a.profDir, profName) } : {}),
    }
    console.log(JSON.stringify(result))
  } finally {
    await sql.end({ timeout: 1 })
    server.kill('SIGTERM')
    await server.exited
    await dropDb(dbName)
  }
}

const argv = process.argv.slice(2)
if (argv[0] === '--worker') {
  const [, file, from, to, startAt, concurrency, url, maxMs] = argv
  await worker(file!, Number(from), Number(to), Number(startAt), Number(concurrency), url!, Number(maxMs))
  process.exit(0)
} else {
  await coordinator(parseArgs(argv))
  process.exit(0)
}
