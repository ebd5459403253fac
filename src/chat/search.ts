import { sql } from 'drizzle-orm'
import type { Database } from '../db/client'
import { validation } from '../lib/errors'
import { messageColumns, messageFrom, type Message, type MessageRow } from './message-view'

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
 * Case-insensitive substring search (ILIKE, served by the pg_trgm GIN index
 * for queries of three characters or more), newest first.
 */
export function createSearch(database: Database, view: (r: MessageRow) => Message) {
  async function run(where: ReturnType<typeof sql>, q: string, limit: number, order: 'seq' | 'id') {
    const rows = await database.rows<MessageRow>(
      sql`select ${messageColumns} from ${messageFrom}
          where ${where} and m.deleted_at is null and m.content ilike ${likePattern(q)}
          order by ${sql.raw(order === 'seq' ? 'm.seq' : 'm.id')} desc limit ${limit + 1}`,
    )
    const page = rows.slice(0, limit)
    return {
      messages: page.map((r): SearchHit => ({ ...view(r), highlight: highlight(r.content, q) })),
      has_more: rows.length > limit,
    }
  }
  return {
    /** One room; `beforeSeq` pages back. Membership is the caller's to check. */
    inRoom(roomId: number, query: string | undefined, limit: number, beforeSeq?: number) {
      const q = cleanQuery(query)
      const where = beforeSeq === undefined ? sql`m.room_id = ${roomId}` : sql`m.room_id = ${roomId} and m.seq < ${beforeSeq}`
      return run(where, q, limit, 'seq')
    },
    /** Every room the user belongs to; `beforeId` pages back. */
    everywhere(userId: number, query: string | undefined, limit: number, beforeId?: number) {
      const q = cleanQuery(query)
      const mine = sql`m.room_id in (select room_id from room_members where user_id = ${userId})`
      return run(beforeId === undefined ? mine : sql`${mine} and m.id < ${beforeId}`, q, limit, 'id')
    },
  }
}

export type SearchService = ReturnType<typeof createSearch>
