/**
 * Baseline for `persist`: one INSERT per message, awaited, into a table
 * equivalent to our `messages` (same columns and unique keys), on the same
 * Postgres, with the same number of messages in flight as the senders keep
 * against our server. The naive writer a team starts with.
 */
import postgres from 'postgres'
import { Histogram, type LatencySummary } from '../lib/hist.ts'
import { createDb, dropDb, pgUrlFor } from '../lib/pg.ts'
import { wallMs } from '../lib/procs.ts'

export type InsertBaselineOptions = {
  /** messages in flight at once (closed loop) */
  concurrency: number
  /** connections in the pool; more in flight than this queue in the driver */
  poolMax: number
  rooms: number
  warmupMs: number
  durationMs: number
  payload: number
}

export type InsertBaselineResult = {
  committed: number
  /** committed inside the window, per second */
  perSec: number
  /** send → committed, inside the window */
  latency: LatencySummary
  rows: number
}

export async function runInsertBaseline(o: InsertBaselineOptions): Promise<InsertBaselineResult> {
  const db = await createDb('insert')
  const sql = postgres(pgUrlFor(db), { max: o.poolMax, onnotice: () => {} })
  try {
    await sql`create table messages (
      id bigserial primary key, room_id bigint not null, seq bigint, sender_id bigint, type text not null default 'text',
      content text not null, reply_to_id bigint, attachment jsonb, client_msg_id text,
      created_at timestamptz(3) not null default now(), edited_at timestamptz(3), deleted_at timestamptz(3))`
    await sql`create unique index messages_client_msg_key on messages (room_id, sender_id, client_msg_id)`
    const pad = 'x'.repeat(o.payload)
    const hist = new Histogram()
    const t0 = wallMs()
    const winStart = t0 + o.warmupMs
    const winEnd = winStart + o.durationMs
    let committed = 0
    let inWindow = 0
    let n = 0
    const worker = async (w: number) => {
      // bounded by the clock: stops sending at the end of the window
      while (wallMs() < winEnd) {
        const k = ++n
        const s = wallMs()
        const content = `${s.toFixed(3)}|${k}|`.padEnd(o.payload, pad)
        await sql`insert into messages (room_id, sender_id, content, client_msg_id)
          values (${(w % o.rooms) + 1}, ${w + 1}, ${content}, ${String(k)}) returning id`
        const e = wallMs()
        committed++
        if (s >= winStart && s < winEnd) {
          hist.record(e - s)
          inWindow++
        }
      }
    }
    await Promise.all(Array.from({ length: o.concurrency }, (_, w) => worker(w)))
    const [row] = await sql<{ n: string }[]>`select count(*)::text as n from messages`
    return { committed, perSec: Math.round(inWindow / (o.durationMs / 1000)), latency: hist.summary(), rows: Number(row?.n ?? 0) }
  } finally {
    await sql.end({ timeout: 2 })
    await dropDb(db)
  }
}
