import { sql } from 'drizzle-orm'
import type { Database } from '../db/client'
import { notFound, validation } from '../lib/errors'
import type { Events } from './events'
import { messageColumns, messageFrom, type Message, type MessageRow } from './message-view'
import { idList } from '../db/sql'
import { frame } from '../protocol/server-frames'

export type Reaction = Message['reactions'][number] & { user_ids: number[] }

/**
 * Fills `reactions` of each message: one entry per emoji with its count,
 * the reacting user ids, and `me` for `viewerId` (null: nobody, as in
 * events serialized once for every recipient; clients read `user_ids`).
 */
export async function withReactions<T extends Message>(database: Database, msgs: T[], viewerId: number | null): Promise<T[]> {
  if (msgs.length === 0) return msgs
  const rows = await database.rows<{ message_id: number; emoji: string; user_ids: number[] | string }>(
    sql`select message_id, emoji, array_agg(user_id order by created_at, user_id) as user_ids
        from reactions
        where message_id in ${idList(msgs.map((m) => m.id))}
        group by message_id, emoji
        order by message_id, min(created_at), emoji`,
  )
  const by = new Map<number, Reaction[]>()
  for (const r of rows) {
    const ids = parseIds(r.user_ids)
    const list = by.get(r.message_id) ?? []
    list.push({ emoji: r.emoji, count: ids.length, me: viewerId !== null && ids.includes(viewerId), user_ids: ids })
    by.set(r.message_id, list)
  }
  for (const m of msgs) m.reactions = by.get(m.id) ?? []
  return msgs
}

/** int8[] arrives as an array from PGlite and as '{1,2}' text from postgres.js under drizzle. */
function parseIds(v: number[] | string): number[] {
  if (Array.isArray(v)) return v.map(Number)
  const inner = v.replace(/^\{|\}$/g, '')
  return inner === '' ? [] : inner.split(',').map(Number)
}

/** An emoji: 1..16 code points of a single grapheme, no spaces or control characters. */
export function validEmoji(e: string): boolean {
  if (e.length === 0 || [...e].length > 16 || /[\s\u0000-\u001f]/.test(e) || !e.isWellFormed()) return false
  const graphemes = [...new Intl.Segmenter(undefined, { granularity: 'grapheme' }).segment(e)]
  return graphemes.length === 1 || /^:[a-z0-9_+-]{1,14}:$/.test(e)
}

export type ReactionsDeps = {
  database: Database
  requireMember: (roomId: number, userId: number) => Promise<unknown>
  events: Events
  view: (r: MessageRow) => Message
}

/** Adds and removes a user's emoji on a message; each change is pushed as message.updated. */
export function createReactionsService(d: ReactionsDeps) {
  async function load(roomId: number, messageId: number): Promise<Message> {
    const [row] = await d.database.rows<MessageRow>(
      sql`select ${messageColumns} from ${messageFrom} where m.id = ${messageId} and m.room_id = ${roomId}`,
    )
    if (!row || row.deleted_at) throw notFound('Message')
    return d.view(row)
  }

  async function change(roomId: number, userId: number, messageId: number, emoji: string, add: boolean): Promise<Message> {
    await d.requireMember(roomId, userId)
    if (!validEmoji(emoji)) throw validation('emoji: must be a single emoji or a :shortcode:.')
    await load(roomId, messageId)
    const changed = add
      ? await d.database.rows(
          sql`insert into reactions (message_id, user_id, emoji) values (${messageId}, ${userId}, ${emoji})
              on conflict do nothing returning message_id`,
        )
      : await d.database.rows(
          sql`delete from reactions where message_id = ${messageId} and user_id = ${userId} and emoji = ${emoji} returning message_id`,
        )
    const message = await load(roomId, messageId)
    if (changed.length > 0) {
      const [forAll] = await withReactions(d.database, [{ ...message }], null)
      d.events.toRoom(roomId, frame('message.updated', { message: forAll! }))
    }
    const [mine] = await withReactions(d.database, [message], userId)
    return mine!
  }

  return {
    add: (roomId: number, userId: number, messageId: number, emoji: string) => change(roomId, userId, messageId, emoji, true),
    remove: (roomId: number, userId: number, messageId: number, emoji: string) => change(roomId, userId, messageId, emoji, false),
  }
}

export type ReactionsService = ReturnType<typeof createReactionsService>
