import { userRoomIds } from './rooms'
import { sql, type SQL } from 'drizzle-orm'
import type { Database } from '../db/client'
import { validation } from '../lib/errors'
import { messageColumns, messageFrom, type Message, type MessageRow } from './message-view'
import { AdvisoryLock } from '../lib/limits'
import { unpaced, type Pacer } from '../lib/pace'

export type SearchHit = Message & { highlight: string }

const HTML: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }
export const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => HTML[c]!)

/** The query as a literal, case-insensitive pattern for LIKE (its wildcards escaped). */
export function likePattern(q: string): string {
  return `%${q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`
}

/** `content` HTML-escaped, with each case-insensitive match of `q` wrapped in <mark>. */
export function highlight(content: string, q: string): string {
  const re = new RegExp(q.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'giu')
  let out = ''
  let at = 0
  for (const m of content.matchAll(re)) {
    out += escapeHtml(content.slice(at, m.index)) + '<mark>' + escapeHtml(m[0]) + '</mark>'
    at = m.index + m[0].length
  }
  return out + escapeHtml(content.slice(at))
}

export function cleanQuery(q: string | undefined): string {
  const v = (q ?? '').trim()
  if (v.length === 0) throw validation('q: must not be empty.')
  if ([...v].length > 200) throw validation('q: at most 200 characters.')
  if (v.includes('\u0000') || !v.isWellFormed()) throw validation('q: contains invalid characters.')
  return v
}

/**
 * Case-insensitive substring search, newest first. Committed messages sit in
 * `search_queue` until the indexer moves their text into `search_index`
 * (trigram GIN: ILIKE with three or more characters is an index scan); a
 * search reads both, so a message is findable as soon as it is committed.
 */
export type SearchOptions = {
  /** yields the indexer to the writer (default: unpaced) */
  pace?: Pacer
  /** most rows per indexing transaction (default INDEX_BATCH); the pacer's slice sizes each one */
  batch?: number
  /** after each indexing transaction: rows it moved */
  onBatch?: (rows: number) => void
}

/** Most rows per indexing transaction; a paced indexer sizes each to BACKGROUND_SLICE_MS (docs/architecture.md). */
export const INDEX_BATCH = 2000

export function createSearch(database: Database, view: (r: MessageRow) => Message, opts: SearchOptions = {}) {
  const pace = opts.pace ?? unpaced
  // one sizer for the job's life: what a row costs carries over from run to run
  const sizer = pace.sizer(Math.max(1, opts.batch ?? INDEX_BATCH))
  /**
   * `inIndex` scopes search_index rows (`s`), `inQueue` the queued messages
   * (`mm`); `maxId` bounds both (paging). Each side stops at limit + 1 hits,
   * newest first (within a room, id order is seq order: ids are taken under
   * the room's lock).
   */
  /** One transaction: up to `limit` queued messages into the index; none when another node is at it. */
  function indexBatch(limit: number): Promise<{ message_id: number }[]> {
    return database.db.transaction(async (tx) => {
      // the lock, and no WAL flush wait at commit (derived rows: a crash loses the queue delete and the insert together)
      const [lock] = await database.rows<{ ok: boolean }>(
        sql`select pg_try_advisory_xact_lock(${AdvisoryLock.searchIndex}) as ok, set_config('synchronous_commit', 'off', true)`, tx,
      )
      if (!lock?.ok) return []
      return database.rows<{ message_id: number }>(
        sql`with q as (
              delete from search_queue where ctid in (select ctid from search_queue limit ${limit}) returning message_id)
            insert into search_index (message_id, room_id, content)
            select m.id, m.room_id, m.content from messages m join q on q.message_id = m.id where m.deleted_at is null
            on conflict (message_id) do update set content = excluded.content
            returning message_id`,
        tx,
      )
    })
  }

  async function run(inIndex: SQL, inQueue: SQL, maxId: number | null, q: string, limit: number) {
    const pattern = likePattern(q)
    const n = limit + 1
    const bound = (col: string) => (maxId === null ? sql`` : sql`and ${sql.raw(col)} <= ${maxId}`)
    const rows = await database.rows<MessageRow>(
      sql`with hits as (
            (select s.message_id as id from search_index s
             where ${inIndex} ${bound('s.message_id')} and s.content ilike ${pattern}
             order by s.message_id desc limit ${n})
            union all
            (select mm.id from search_queue sq join messages mm on mm.id = sq.message_id
             where ${inQueue} ${bound('mm.id')} and mm.content ilike ${pattern}
             order by mm.id desc limit ${n}))
          select ${messageColumns} from ${messageFrom}
          where m.id in (select id from hits) and m.deleted_at is null
          order by m.id desc limit ${n}`,
    )
    const page = rows.slice(0, limit)
    return {
      messages: page.map((r): SearchHit => ({ ...view(r), highlight: highlight(r.content, q) })),
      has_more: rows.length > limit,
    }
  }

  return {
    /** One room; `beforeSeq` pages back. Membership is the caller's to check. */
    async inRoom(roomId: number, query: string | undefined, limit: number, beforeSeq?: number) {
      const q = cleanQuery(query)
      let maxId: number | null = null
      if (beforeSeq !== undefined) {
        const [b] = await database.rows<{ id: number }>(
          sql`select id from messages where room_id = ${roomId} and seq < ${beforeSeq} order by seq desc limit 1`,
        )
        if (!b) return { messages: [], has_more: false }
        maxId = b.id
      }
      return run(sql`s.room_id = ${roomId}`, sql`mm.room_id = ${roomId}`, maxId, q, limit)
    },
    /** Every room the user belongs to; `beforeId` pages back. */
    everywhere(userId: number, query: string | undefined, limit: number, beforeId?: number) {
      const q = cleanQuery(query)
      const mine = userRoomIds(userId)
      return run(sql`s.room_id in ${mine}`, sql`mm.room_id in ${mine}`, beforeId === undefined ? null : beforeId - 1, q, limit)
    },

    /**
     * Moves queued messages into the search index, at most `limit` this run,
     * in transactions sized to the pacer's slice (at most `batch` rows), each
     * after a turn of the pacer (it defers to a busy writer and pauses
     * between batches); one node at a time (advisory lock). Returns how many
     * were indexed.
     */
    async indexPending(limit = 5000): Promise<number> {
      // idle: one cheap read, no transaction (this runs every 250 ms on every node)
      const [queued] = await database.rows<{ any: boolean }>(sql`select exists (select 1 from search_queue) as any`)
      if (!queued?.any) return 0
      let total = 0
      for (let first = true; total < limit; first = false) {
        await pace.turn(first)
        const want = Math.min(sizer.size, limit - total)
        const n = (await sizer.run(() => indexBatch(want))).length
        opts.onBatch?.(n)
        total += n
        // fewer than asked: the queue is empty (or another node holds the lock)
        if (n < want) break
      }
      return total
    },
  }
}

export type SearchService = ReturnType<typeof createSearch>
