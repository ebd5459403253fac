/**
 * commit-cost: what one writer commit costs Postgres and the client, per
 * form of the writer's statement and per driver, in one run on one database.
 *
 *   bun bench/commit-cost.ts [--commits 1500] [--rooms 100] [--users 200]
 *
 * Seeds rooms × users memberships (default 20,000), then runs the writer's
 * one-statement path (src/db/writer/statements.ts) sequentially, one message
 * per commit (and batch phases: 100 messages; 16 and 64 in both the index-probe
 * and the set-based form, postgres.js only), through:
 *   - postgres.js (the app's driver, src/db/client.ts), in each form of the statement
 *     (`StatementForm`: one-message, index-probe, set-based);
 *   - Bun's native client (Bun.SQL), the same statement text and parameters.
 * Postgres CPU is the serving backend's own (utime + stime from /proc/<pid>/stat,
 * the backend that commits also flushes the WAL: synchronous_commit stays on).
 * Phases are interleaved over two rounds, so drift on a shared box hits each alike.
 * Bounded: commits per phase and the batch count are fixed.
 */
import { readFileSync } from 'node:fs'
import { fillPlaceholders, sql, type SQL } from 'drizzle-orm'
import { PgDialect } from 'drizzle-orm/pg-core'
import { openDatabase, type Database } from '../src/db/client.ts'
import { roomMembers, rooms, users } from '../src/db/schema.ts'
import { writeBatchInOneStatement, type StatementForm } from '../src/db/writer/statements.ts'
import type { Pending } from '../src/db/writer/types.ts'
import { numberArg } from './lib/args.ts'
import { createDb, dropDb, pgUrlFor } from './lib/pg.ts'

const COMMITS = numberArg('commits', 1500, 1, 100_000)
const BATCHES = numberArg('batches', 60, 1, 10_000)
const N_ROOMS = numberArg('rooms', 100, 1, 100_000)
const N_USERS = numberArg('users', 200, 1, 1_000_000)
const TICK_MS = 1000 / 100 // USER_HZ

/** CPU ms of a process so far (user + system). */
function cpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ')
  return (Number(rest[11]) + Number(rest[12])) * TICK_MS
}

type Driver = { name: string; database: Database; backendPid: number; close(): Promise<void> }

async function postgresJs(url: string): Promise<Driver> {
  const database = await openDatabase({ url, dataDir: '/tmp', poolMax: 1 })
  const [r] = await database.rows<{ pid: number }>(sql`select pg_backend_pid() as pid`)
  return { name: 'postgres.js', database, backendPid: r!.pid, close: () => database.close() }
}

/** The same Database surface over Bun.SQL: the writer's statement text and parameters, unchanged. */
async function bunSql(url: string, base: Database): Promise<Driver> {
  const client = new Bun.SQL(url, { max: 1, prepare: true })
  const dialect = new PgDialect()
  /** The statement's text once, its placeholders filled per call. */
  const compile = <T, P extends Record<string, unknown>>(q: SQL) => {
    const { sql: text, params } = dialect.sqlToQuery(q)
    // Bun.SQL sends a string bound to a json parameter as a JSON string (a scalar): bind the lists as text, cast after
    const bound = text.replace(/(\$\d+)::json\b/g, '$1::text::json')
    return async (values: P) => (await client.unsafe(bound, fillPlaceholders(params, values) as unknown[])) as unknown as T[]
  }
  const run = <T>(q: SQL): Promise<T[]> => compile<T, Record<string, never>>(q)({})
  const database: Database = { ...base, rows: (q) => run(q), compile }
  const [r] = await run<{ pid: number }>(sql`select pg_backend_pid() as pid`)
  return { name: 'Bun.SQL', database, backendPid: Number(r!.pid), close: () => client.close() }
}

type Figures = { phase: string; commits: number; messages: number; wallMs: number; clientCpuMs: number; pgCpuMs: number }

async function phase(d: Driver, label: string, form: StatementForm | 'naive', perBatch: number, batches: number, room: () => number, user: () => number): Promise<Figures> {
  const pg0 = cpuMs(d.backendPid)
  const c0 = process.cpuUsage()
  const t0 = performance.now()
  for (let b = 0; b < batches; b++) {
    if (form === 'naive') {
      // the floor: the writer bench's baseline (next seq and insert in one statement), no checks, no outcome row, no read mark
      const roomId = room()
      await d.database.rows(sql`with r as (update rooms set last_seq = last_seq + 1, last_activity_at = now() where id = ${roomId} returning last_seq),
          m as (insert into messages (room_id, seq, sender_id, type, content, client_msg_id)
                select ${roomId}, r.last_seq, ${user()}, 'text', ${`naive ${b}`.padEnd(64, 'x')}, ${crypto.randomUUID()} from r returning id)
        insert into search_queue (message_id) select id from m`)
      continue
    }
    const items: Pending[] = Array.from({ length: perBatch }, (_, i) => ({
      req: { roomId: room(), senderId: user(), type: 'text', content: `cost ${b}.${i} `.padEnd(64, 'x'), clientMsgId: crypto.randomUUID() },
      resolve: () => {}, reject: () => {},
    }))
    const out = await writeBatchInOneStatement(d.database, items, crypto.randomUUID(), form)
    if (out.some((o) => !('status' in o))) throw new Error(`${label}: a message was refused`)
  }
  const wallMs = performance.now() - t0
  const c = process.cpuUsage(c0)
  return { phase: `${d.name} ${label}`, commits: batches, messages: batches * perBatch, wallMs, clientCpuMs: (c.user + c.system) / 1000, pgCpuMs: cpuMs(d.backendPid) - pg0 }
}

const dbName = await createDb('commit_cost')
try {
  const url = pgUrlFor(dbName)
  const setup = await openDatabase({ url, dataDir: '/tmp', poolMax: 2 })
  await setup.migrate()
  const u = await setup.db.insert(users).values(Array.from({ length: N_USERS }, (_, i) => ({ email: `c${i}@bench.local`, nickname: `c${i}` }))).returning({ id: users.id })
  const r = await setup.db.insert(rooms).values(Array.from({ length: N_ROOMS }, () => ({ type: 'group' as const, name: 'cost', maxMembers: 100_000 }))).returning({ id: rooms.id })
  for (let i = 0; i < r.length; i += 20) {
    await setup.db.insert(roomMembers).values(r.slice(i, i + 20).flatMap((room) => u.map((x) => ({ roomId: room.id, userId: x.id }))))
  }
  await setup.rows(sql`analyze`)
  let k = 0
  const room = () => r[k++ % r.length]!.id
  const user = () => u[Math.floor(k / r.length) % u.length]!.id
  const pgjs = await postgresJs(url)
  const bun = await bunSql(url, pgjs.database)
  console.log(`commit-cost: ${N_ROOMS} rooms × ${N_USERS} users = ${N_ROOMS * N_USERS} memberships; ${COMMITS} one-message commits per phase and round, ${BATCHES} 100-message batches`)
  const all: Figures[] = []
  for (let round = 0; round < 2; round++) {
    for (const d of round === 0 ? [pgjs, bun] : [bun, pgjs]) {
      // warm: prepare both plans on this connection before measuring
      for (const form of ['one', 'probe', 'set', 'naive'] as const) await phase(d, 'warm', form, 1, 20, room, user)
      all.push(await phase(d, '1 msg, one INSERT (floor, no checks)', 'naive', 1, COMMITS, room, user))
      all.push(await phase(d, '1 msg, set-based', 'set', 1, COMMITS, room, user))
      all.push(await phase(d, '1 msg, index-probe (before)', 'probe', 1, COMMITS, room, user))
      all.push(await phase(d, '1 msg, one-message form (now)', 'one', 1, COMMITS, room, user))
      all.push(await phase(d, '100 msgs, set-based', 'set', 100, BATCHES, room, user))
      // where the index-probe form ends (PROBE_BATCH_MAX): both plans at batch sizes it covers
      if (d === pgjs) {
        for (const n of [16, 64]) {
          all.push(await phase(d, `${n} msgs, index-probe (now)`, 'probe', n, BATCHES, room, user))
          all.push(await phase(d, `${n} msgs, set-based (before)`, 'set', n, BATCHES, room, user))
        }
      }
    }
  }
  const merged = new Map<string, Figures>()
  for (const f of all) {
    const m = merged.get(f.phase)
    if (!m) merged.set(f.phase, { ...f })
    else for (const key of ['commits', 'messages', 'wallMs', 'clientCpuMs', 'pgCpuMs'] as const) m[key] += f[key]
  }
  console.log('| driver, batch, plan | commits | wall ms/commit | Postgres backend CPU ms/commit | client CPU ms/commit | Postgres CPU µs/message |')
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |')
  for (const f of merged.values()) {
    console.log(`| ${f.phase} | ${f.commits} | ${(f.wallMs / f.commits).toFixed(3)} | ${(f.pgCpuMs / f.commits).toFixed(3)} | ${(f.clientCpuMs / f.commits).toFixed(3)} | ${((f.pgCpuMs / f.messages) * 1000).toFixed(0)} |`)
  }
  await bun.close()
  await pgjs.close()
  await setup.close()
} finally {
  await dropDb(dbName)
}
