import { sql } from 'drizzle-orm'
import type { Database, Executor } from '../../db/client'
import type { rooms } from '../../db/schema'
import { iso } from '../../lib/time'
import type { Message, Room } from '../../protocol/objects'
import { messageColumns, messageFrom, toMessage, type AttachmentUrl, type MessageRow } from '../message-view'
import { idList, jsonRecords } from '../../db/sql'

export type RoomRow = typeof rooms.$inferSelect

/** Builds Room objects (docs/api.md "Objects") from rows, for one caller. */
export function createRoomViews(database: Database, attachmentUrl: AttachmentUrl) {
  /** The newest message of each room, in one query. */
  async function lastMessages(rows: RoomRow[], ex: Executor = database.db): Promise<Map<number, Message>> {
    const keys = rows.filter((r) => r.lastSeq > 0).map((r) => ({ r: r.id, s: r.lastSeq }))
    const out = new Map<number, Message>()
    if (keys.length === 0) return out
    const msgs = await database.rows<MessageRow>(
      sql`select ${messageColumns} from ${messageFrom}
          where (m.room_id, m.seq) in (select x.r, x.s from ${jsonRecords(keys, 'r int8, s int8')})`,
      ex,
    )
    for (const m of msgs) out.set(m.room_id, toMessage(m, attachmentUrl))
    return out
  }

  /** member_count and max_members of the spaces of channels among `rows`. */
  async function spaceAudience(rows: RoomRow[]): Promise<Map<number, { member_count: number; max_members: number }>> {
    const ids = [...new Set(rows.flatMap((r) => (r.spaceId === null ? [] : [r.spaceId])))]
    if (ids.length === 0) return new Map()
    const got = await database.rows<{ id: number; member_count: number; max_members: number }>(
      sql`select id, member_count, max_members from spaces where id in ${idList(ids)}`,
    )
    return new Map(got.map((g) => [Number(g.id), { member_count: Number(g.member_count), max_members: Number(g.max_members) }]))
  }

  /**
   * unread_count per room (docs/api.md): the messages after the caller's read
   * mark that are neither deleted nor the caller's own, in one query.
   */
  async function unreadCounts(rows: RoomRow[], readMarks: Map<number, number>, userId: number | undefined): Promise<Map<number, number>> {
    const keys = rows.flatMap((r) => {
      const mark = readMarks.get(r.id)
      return mark !== undefined && r.lastSeq > mark ? [{ r: r.id, s: mark }] : []
    })
    const out = new Map<number, number>()
    if (keys.length === 0) return out
    const counts = await database.rows<{ room_id: number; n: number }>(
      sql`select m.room_id, count(*)::int as n
          from ${jsonRecords(keys, 'r int8, s int8')} join messages m on m.room_id = x.r and m.seq > x.s
          where m.deleted_at is null ${userId === undefined ? sql`` : sql`and m.sender_id is distinct from ${userId}`}
          group by m.room_id`,
    )
    for (const c of counts) out.set(Number(c.room_id), Number(c.n))
    return out
  }

  /**
   * Room views for one caller; `readMarks` = the caller's last_read_seq per
   * room (absent: not a member, unread 0); `userId`, the caller, whose own
   * messages are never unread.
   */
  async function views(rows: RoomRow[], readMarks: Map<number, number>, userId?: number): Promise<Room[]> {
    const [last, audience, unread] = await Promise.all([lastMessages(rows), spaceAudience(rows), unreadCounts(rows, readMarks, userId)])
    return rows.map((r) => {
      const mark = readMarks.get(r.id)
      // a channel's members are its space's
      const space = r.spaceId === null ? undefined : audience.get(r.spaceId)
      return {
        id: r.id,
        type: r.type,
        name: r.name,
        description: r.description,
        visibility: r.visibility,
        space_id: r.spaceId,
        external_id: r.externalId,
        created_by: r.createdBy,
        created_at: iso(r.createdAt)!,
        updated_at: iso(r.updatedAt)!,
        member_count: space?.member_count ?? r.memberCount,
        max_members: space?.max_members ?? r.maxMembers,
        last_seq: r.lastSeq,
        last_message: last.get(r.id) ?? null,
        unread_count: mark === undefined ? 0 : (unread.get(r.id) ?? 0),
      }
    })
  }

  /** One room's view; `readMark` as in `views`. */
  async function one(row: RoomRow, readMark?: number): Promise<Room> {
    const [v] = await views([row], readMark === undefined ? new Map() : new Map([[row.id, readMark]]))
    return v!
  }

  return { views, one }
}

export type RoomViews = ReturnType<typeof createRoomViews>
