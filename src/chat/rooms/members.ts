import { and, eq, sql } from 'drizzle-orm'
import type { Database, Executor } from '../../db/client'
import { roomMembers, rooms, users } from '../../db/schema'
import { AppError, forbidden, notFound, notMember } from '../../lib/errors'
import { iso } from '../../lib/time'
import type { Member, Role } from '../../protocol/objects'
import type { Events } from '../events'
import { authorize } from '../policy'
import type { UsersService } from '../users'
import type { RoomRow, RoomViews } from './views'

export type MemberRow = typeof roomMembers.$inferSelect

export const roomFull = (max: number) => new AppError('room_full', `The room is full (at most ${max} members).`)

/** The room's row; `lock` takes it FOR UPDATE (member changes serialize on it). 404 without it. */
export async function roomRow(database: Database, roomId: number, ex: Executor = database.db, lock = false): Promise<RoomRow> {
  const q = (ex as Database['db']).select().from(rooms).where(eq(rooms.id, roomId))
  const [row] = lock ? await q.for('update') : await q
  if (!row) throw notFound('Room')
  return row
}

/** Who is in a room and how: membership reads and changes, under the room's row lock. */
export function createRoomMembers(deps: { database: Database; users: UsersService; events: Events; views: RoomViews }) {
  const { database, users: usersService, events, views } = deps
  const { db } = database

  async function membership(roomId: number, userId: number, ex: Executor = db): Promise<MemberRow | undefined> {
    const [m] = await (ex as typeof db).select().from(roomMembers)
      .where(and(eq(roomMembers.roomId, roomId), eq(roomMembers.userId, userId)))
    return m
  }

  /** The room and the caller's membership; 404 without the room, 403 not_member without membership. */
  async function requireMember(roomId: number, userId: number): Promise<{ room: RoomRow; member: MemberRow }> {
    // one read: the room, and the caller's membership if any (every message route starts here)
    const [row] = await db.select({ room: rooms, member: roomMembers }).from(rooms)
      .leftJoin(roomMembers, and(eq(roomMembers.roomId, rooms.id), eq(roomMembers.userId, userId)))
      .where(eq(rooms.id, roomId))
    if (!row) throw notFound('Room')
    if (!row.member) throw notMember()
    return { room: row.room, member: row.member }
  }

  /**
   * Adds users to a room under its row lock, so the limit holds under
   * concurrency on any number of nodes. Returns the ids actually added.
   */
  async function addLocked(tx: Executor, room: RoomRow, ids: number[], role: Role): Promise<number[]> {
    const existing = await database.rows<{ user_id: number }>(
      sql`select user_id from room_members where room_id = ${room.id}
          and user_id in (select value::int8 from json_array_elements_text(${JSON.stringify(ids)}::json))`,
      tx,
    )
    const have = new Set(existing.map((e) => e.user_id))
    const fresh = ids.filter((id) => !have.has(id))
    if (room.memberCount + fresh.length > room.maxMembers) throw roomFull(room.maxMembers)
    if (fresh.length === 0) return []
    // a new member starts caught up: history is there to read, not unread (and their own
    // messages from an earlier membership stay below the mark)
    await (tx as typeof db).insert(roomMembers).values(fresh.map((userId) => ({ roomId: room.id, userId, role, lastReadSeq: room.lastSeq })))
    await (tx as typeof db).update(rooms)
      .set({ memberCount: sql`${rooms.memberCount} + ${fresh.length}` })
      .where(eq(rooms.id, room.id))
    return fresh
  }

  async function announceJoined(roomId: number, userIds: number[]) {
    if (userIds.length === 0) return
    const rows = await db.select().from(users)
      .where(sql`${users.id} in (select value::int8 from json_array_elements_text(${JSON.stringify(userIds)}::json))`)
    const profiles = await usersService.profiles(rows)
    const v = await views.one(await roomRow(database, roomId), 0)
    for (const u of profiles) {
      events.toRoom(roomId, { type: 'member.joined', room_id: roomId, user: u })
      events.toUser(u.id, { type: 'room.created', room: v }, { join: roomId })
    }
  }

  function announceLeft(roomId: number, user: { id: number; nickname: string }) {
    events.toRoom(roomId, { type: 'member.left', room_id: roomId, user_id: user.id, nickname: user.nickname })
    // the room leaves this user's list: their sockets drop it
    events.toUser(user.id, { type: 'room.deleted', room_id: roomId }, { leave: roomId })
  }

  async function removeMember(roomId: number, userId: number): Promise<void> {
    const removed = await db.transaction(async (tx) => {
      const room = await roomRow(database, roomId, tx, true)
      const m = await membership(roomId, userId, tx)
      if (!m) return false
      await tx.delete(roomMembers).where(and(eq(roomMembers.roomId, roomId), eq(roomMembers.userId, userId)))
      await tx.update(rooms).set({ memberCount: sql`${rooms.memberCount} - 1` }).where(eq(rooms.id, roomId))
      if (m.role === 'owner' && room.type !== 'direct') {
        // the longest-standing admin, else member, inherits the room
        await tx.execute(sql`update room_members set role = 'owner' where room_id = ${roomId} and user_id = (
          select user_id from room_members where room_id = ${roomId}
          order by case role when 'admin' then 0 else 1 end, joined_at, user_id limit 1)`)
      }
      return true
    })
    if (!removed) return
    const [u] = await db.select({ id: users.id, nickname: users.nickname }).from(users).where(eq(users.id, userId))
    announceLeft(roomId, u ?? { id: userId, nickname: '' })
  }

  async function list(roomId: number, userId: number): Promise<Member[]> {
    await requireMember(roomId, userId)
    const rows = await db.select({ m: roomMembers, u: users }).from(roomMembers)
      .innerJoin(users, eq(users.id, roomMembers.userId))
      .where(eq(roomMembers.roomId, roomId))
      .orderBy(roomMembers.joinedAt, roomMembers.userId)
    const profiles = await usersService.profiles(rows.map((r) => r.u))
    return rows.map((r, i) => ({
      user: profiles[i]!, role: r.m.role, joined_at: iso(r.m.joinedAt)!, last_read_seq: r.m.lastReadSeq,
    }))
  }

  return {
    membership,
    requireMember,
    addLocked,
    list,

    async add(roomId: number, actorId: number, ids: number[]): Promise<Member[]> {
      const { room, member } = await requireMember(roomId, actorId)
      if (room.type === 'direct') throw forbidden('Nobody can be added to a direct room.')
      authorize('members.add', member, room.type)
      const unique = [...new Set(ids)]
      await usersService.requireAll(unique)
      const added = await db.transaction(async (tx) => addLocked(tx, await roomRow(database, roomId, tx, true), unique, 'member'))
      await announceJoined(roomId, added)
      return list(roomId, actorId)
    },

    /** The actor removes `targetId`; anyone may remove themselves. */
    async remove(roomId: number, actorId: number, targetId: number): Promise<void> {
      const { room, member } = await requireMember(roomId, actorId)
      if (actorId !== targetId) {
        const target = await membership(roomId, targetId)
        authorize('member.remove', member, room.type, { role: target?.role ?? null })
        if (!target) throw notFound('Member')
      }
      await removeMember(roomId, targetId)
    },

    /** Joins a public group room; already a member → as is, even when full. */
    async join(roomId: number, userId: number): Promise<RoomRow> {
      const room0 = await roomRow(database, roomId)
      if (room0.type !== 'group') throw forbidden('Only group rooms can be joined.')
      if (await membership(roomId, userId)) return room0
      if (room0.visibility !== 'public') throw forbidden('This room is private; ask a member to add you.')
      const added = await db.transaction(async (tx) => {
        const room = await roomRow(database, roomId, tx, true)
        if (room.visibility !== 'public') throw forbidden('This room is private; ask a member to add you.')
        return addLocked(tx, room, [userId], 'member')
      })
      await announceJoined(roomId, added)
      return roomRow(database, roomId)
    },

    async leave(roomId: number, userId: number): Promise<void> {
      await requireMember(roomId, userId)
      await removeMember(roomId, userId)
    },
  }
}

export type RoomMembers = ReturnType<typeof createRoomMembers>
