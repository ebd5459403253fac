import { and, eq, sql, type SQL } from 'drizzle-orm'
import type { Database, Executor } from '../../db/client'
import { roomBans, roomMembers, rooms, spaceMembers, users } from '../../db/schema'
import { AppError, forbidden, notFound, notMember, validation } from '../../lib/errors'
import { cleanText } from '../../lib/text'
import { iso } from '../../lib/time'
import type { Ban, LeaveReason, Member, Role } from '../../protocol/objects'
import type { Events } from '../events'
import { authorize } from '../policy'
import type { UsersService } from '../users'
import type { RoomRow, RoomViews } from './views'
import { idList } from '../../db/sql'
import { frame } from '../../protocol/server-frames'

/** A member of a room as the services see it. For a channel: the space's role, and the read-mark row if there is one. */
export type MemberRow = typeof roomMembers.$inferSelect

export const roomFull = (max: number) => new AppError('room_full', `The room is full (at most ${max} members).`)

/** The room's row; `lock` takes it FOR UPDATE (member changes serialize on it). 404 without it. */
export async function roomRow(database: Database, roomId: number, ex: Executor = database.db, lock = false): Promise<RoomRow> {
  const q = (ex as Database['db']).select().from(rooms).where(eq(rooms.id, roomId))
  const [row] = lock ? await q.for('update') : await q
  if (!row) throw notFound('Room')
  return row
}

/**
 * Ids of every room `userId` is in: group and direct rooms by room_members,
 * channels by membership of their space (one row per space, not per channel).
 */
export const userRoomIds = (userId: number): SQL =>
  sql`(select rm.room_id from room_members rm join rooms r on r.id = rm.room_id and r.space_id is null where rm.user_id = ${userId}
       union all
       select r.id from space_members sm join rooms r on r.space_id = sm.space_id where sm.user_id = ${userId})`

/**
 * A channel member's read mark before they have one: the channel's last seq
 * when they joined the space (what came before is history, not unread).
 * `r`, `sm` = the rooms and space_members aliases of the query.
 */
export const channelStartMark = (r: SQL, sm: SQL): SQL =>
  sql`(select coalesce(max(m.seq), 0) from messages m where m.room_id = ${r}.id and m.created_at <= ${sm}.joined_at)`

/** Who is in a room and how: membership reads and changes, under the room's row lock. */
export function createRoomMembers(deps: { database: Database; users: UsersService; events: Events; views: RoomViews }) {
  const { database, users: usersService, events, views } = deps
  const { db } = database

  /** The room and the user's membership (undefined: not a member), in one read; channel-aware. */
  async function find(roomId: number, userId: number, ex: Executor = db): Promise<{ room: RoomRow; member: MemberRow | undefined } | undefined> {
    const [row] = await (ex as typeof db).select({
      room: rooms,
      rm: roomMembers,
      sm: spaceMembers,
      start: sql<number>`case when ${rooms.spaceId} is not null and ${roomMembers.userId} is null and ${spaceMembers.userId} is not null
        then ${channelStartMark(sql`rooms`, sql`space_members`)} else 0 end`.mapWith(Number),
    }).from(rooms)
      .leftJoin(roomMembers, and(eq(roomMembers.roomId, rooms.id), eq(roomMembers.userId, userId)))
      .leftJoin(spaceMembers, and(eq(spaceMembers.spaceId, rooms.spaceId), eq(spaceMembers.userId, userId)))
      .where(eq(rooms.id, roomId))
    if (!row) return undefined
    if (row.room.spaceId === null) return { room: row.room, member: row.rm ?? undefined }
    if (!row.sm) return { room: row.room, member: undefined }
    return {
      room: row.room,
      member: {
        roomId, userId, role: row.sm.role, joinedAt: row.sm.joinedAt,
        lastReadSeq: row.rm?.lastReadSeq ?? row.start,
        notifications: row.rm?.notifications ?? true,
        readReceipts: row.rm?.readReceipts ?? true,
      },
    }
  }

  async function membership(roomId: number, userId: number, ex: Executor = db): Promise<MemberRow | undefined> {
    return (await find(roomId, userId, ex))?.member
  }

  /** The room and the caller's membership; 404 without the room, 403 not_member without membership. */
  async function requireMember(roomId: number, userId: number): Promise<{ room: RoomRow; member: MemberRow }> {
    const found = await find(roomId, userId)
    if (!found) throw notFound('Room')
    if (!found.member) throw notMember()
    return { room: found.room, member: found.member }
  }

  /**
   * A channel member's read-mark row, created with their current mark the
   * first time it is written (read, settings); rooms always have theirs.
   */
  async function ensureMarkRow(room: RoomRow, member: MemberRow): Promise<void> {
    if (room.spaceId === null) return
    await db.insert(roomMembers).values({ roomId: room.id, userId: member.userId, lastReadSeq: member.lastReadSeq }).onConflictDoNothing()
  }

  /** 403 `forbidden` when the user is banned from the room. */
  async function refuseBanned(tx: Executor, roomId: number, ids: number[]): Promise<void> {
    const banned = await database.rows<{ user_id: number }>(
      sql`select user_id from room_bans where room_id = ${roomId}
          and user_id in ${idList(ids)} limit 1`,
      tx,
    )
    if (banned.length > 0) throw forbidden(`User ${banned[0]!.user_id} is banned from this room.`)
  }

  /**
   * Adds users to a room under its row lock, so the limit holds under
   * concurrency on any number of nodes. Returns the ids actually added.
   */
  async function addLocked(tx: Executor, room: RoomRow, ids: number[], role: Role): Promise<number[]> {
    const existing = await database.rows<{ user_id: number }>(
      sql`select user_id from room_members where room_id = ${room.id}
          and user_id in ${idList(ids)}`,
      tx,
    )
    const have = new Set(existing.map((e) => e.user_id))
    const fresh = ids.filter((id) => !have.has(id))
    if (fresh.length === 0) return []
    await refuseBanned(tx, room.id, fresh)
    if (room.memberCount + fresh.length > room.maxMembers) throw roomFull(room.maxMembers)
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
      .where(sql`${users.id} in ${idList(userIds)}`)
    const profiles = await usersService.profiles(rows)
    const v = await views.one(await roomRow(database, roomId), 0)
    for (const u of profiles) {
      events.toRoom(roomId, frame('member.joined', { room_id: roomId, user: u }))
      events.toUser(u.id, frame('room.created', { room: v }), { join: roomId })
    }
  }

  function announceLeft(roomId: number, user: { id: number; nickname: string }, reason: LeaveReason) {
    // the user's sockets drop the room first, on every node, so they hear nothing more of it
    events.toUser(user.id, frame('room.deleted', { room_id: roomId }), { leave: roomId })
    events.toRoom(roomId, frame('member.left', { room_id: roomId, user_id: user.id, nickname: user.nickname, reason }))
  }

  /** Removes the user (and bans them, when `ban` is given) under the room lock; announces it. */
  async function removeMember(roomId: number, userId: number, reason: LeaveReason, ban?: { by: number; reason: string | null }): Promise<void> {
    const removed = await db.transaction(async (tx) => {
      const room = await roomRow(database, roomId, tx, true)
      if (ban) {
        await tx.insert(roomBans).values({ roomId, userId, reason: ban.reason, bannedBy: ban.by })
          .onConflictDoUpdate({ target: [roomBans.roomId, roomBans.userId], set: { reason: ban.reason, bannedBy: ban.by } })
      }
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
    announceLeft(roomId, u ?? { id: userId, nickname: '' }, reason)
  }

  async function list(roomId: number, userId: number): Promise<Member[]> {
    const { room } = await requireMember(roomId, userId)
    const rows = room.spaceId === null
      ? await database.rows<{ user_id: number; role: Role; joined_at: Date | string; last_read_seq: number }>(
          sql`select user_id, role, joined_at, last_read_seq from room_members where room_id = ${roomId} order by joined_at, user_id`,
        )
      : await database.rows<{ user_id: number; role: Role; joined_at: Date | string; last_read_seq: number }>(
          sql`select sm.user_id, sm.role, sm.joined_at, coalesce(rm.last_read_seq, ${channelStartMark(sql`r`, sql`sm`)}) as last_read_seq
              from rooms r join space_members sm on sm.space_id = r.space_id
              left join room_members rm on rm.room_id = r.id and rm.user_id = sm.user_id
              where r.id = ${roomId} order by sm.joined_at, sm.user_id`,
        )
    const byId = new Map((await usersService.byIds(rows.map((r) => r.user_id))).map((u) => [u.id, u]))
    return rows.flatMap((r) => {
      const user = byId.get(r.user_id)
      return user ? [{ user, role: r.role, joined_at: iso(r.joined_at)!, last_read_seq: Number(r.last_read_seq) }] : []
    })
  }

  /** A group room's member rules; a channel's members, roles and bans are its space's. */
  async function requireGroup(roomId: number, actorId: number) {
    const r = await requireMember(roomId, actorId)
    if (r.room.type === 'channel') throw forbidden("A channel's members, roles and bans are its space's: use /v1/spaces/:id.")
    return r
  }

  return {
    find,
    membership,
    requireMember,
    ensureMarkRow,
    addLocked,
    list,

    async add(roomId: number, actorId: number, ids: number[]): Promise<Member[]> {
      const { room, member } = await requireMember(roomId, actorId)
      if (room.type === 'direct') throw forbidden('Nobody can be added to a direct room.')
      if (room.type === 'channel') throw forbidden("A channel's audience is its space's members: invite them to the space.")
      authorize('members.add', member, room.type)
      const unique = [...new Set(ids)]
      await usersService.requireAll(unique)
      const added = await db.transaction(async (tx) => addLocked(tx, await roomRow(database, roomId, tx, true), unique, 'member'))
      await announceJoined(roomId, added)
      return list(roomId, actorId)
    },

    /** The actor removes `targetId`; anyone may remove themselves. */
    async remove(roomId: number, actorId: number, targetId: number): Promise<void> {
      if (actorId === targetId) {
        const { room } = await requireMember(roomId, actorId)
        if (room.type === 'channel') throw forbidden('Leave the space to leave its channels.')
        return removeMember(roomId, targetId, 'left')
      }
      const { room, member } = await requireGroup(roomId, actorId)
      const target = await membership(roomId, targetId)
      authorize('member.remove', member, room.type, { role: target?.role ?? null })
      if (!target) throw notFound('Member')
      await removeMember(roomId, targetId, 'removed')
    },

    /** Changes a member's role (owner only); `owner` hands ownership over and the old owner becomes admin. */
    async setRole(roomId: number, actorId: number, targetId: number, role: Role): Promise<Member> {
      const { room, member } = await requireGroup(roomId, actorId)
      const target = await membership(roomId, targetId)
      authorize('member.role', member, room.type, { role: target?.role ?? null })
      if (!target) throw notFound('Member')
      await db.transaction(async (tx) => {
        await roomRow(database, roomId, tx, true)
        // the actor may have lost ownership meanwhile: checked again under the lock
        const now = await membership(roomId, actorId, tx)
        if (now?.role !== 'owner') throw forbidden('Only the owner may change roles.')
        if (role === 'owner') {
          await tx.update(roomMembers).set({ role: 'admin' }).where(and(eq(roomMembers.roomId, roomId), eq(roomMembers.userId, actorId)))
        }
        await tx.update(roomMembers).set({ role }).where(and(eq(roomMembers.roomId, roomId), eq(roomMembers.userId, targetId)))
      })
      if (role === 'owner') events.toRoom(roomId, frame('member.updated', { room_id: roomId, user_id: actorId, role: 'admin' }))
      events.toRoom(roomId, frame('member.updated', { room_id: roomId, user_id: targetId, role }))
      const all = await list(roomId, actorId)
      return all.find((m) => m.user.id === targetId)!
    },

    /** Bans a user (member or not): removes them and keeps them out. */
    async ban(roomId: number, actorId: number, targetId: number, reason: string | null): Promise<Ban> {
      const { room, member } = await requireGroup(roomId, actorId)
      if (targetId === actorId) throw validation('user_id: you cannot ban yourself.')
      const why = reason === null ? null : cleanText('reason', reason, 0, 500)
      await usersService.requireAll([targetId])
      const target = await membership(roomId, targetId)
      authorize('member.ban', member, room.type, { role: target?.role ?? null })
      await removeMember(roomId, targetId, 'banned', { by: actorId, reason: why })
      const [b] = await db.select().from(roomBans).where(and(eq(roomBans.roomId, roomId), eq(roomBans.userId, targetId)))
      return banView(b!)
    },

    async bans(roomId: number, actorId: number): Promise<Ban[]> {
      const { room, member } = await requireGroup(roomId, actorId)
      authorize('member.ban', member, room.type, { role: null })
      const rows = await db.select().from(roomBans).where(eq(roomBans.roomId, roomId)).orderBy(roomBans.createdAt, roomBans.userId)
      return rows.map(banView)
    },

    async unban(roomId: number, actorId: number, targetId: number): Promise<void> {
      const { room, member } = await requireGroup(roomId, actorId)
      authorize('member.ban', member, room.type, { role: null })
      const gone = await db.delete(roomBans).where(and(eq(roomBans.roomId, roomId), eq(roomBans.userId, targetId))).returning()
      if (gone.length === 0) throw notFound('Ban')
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
      const { room } = await requireMember(roomId, userId)
      if (room.type === 'channel') throw forbidden('Leave the space to leave its channels.')
      await removeMember(roomId, userId, 'left')
    },
  }
}

export function banView(b: typeof roomBans.$inferSelect | { userId: number; reason: string | null; bannedBy: number | null; createdAt: Date }): Ban {
  return { user_id: b.userId, reason: b.reason, banned_by: b.bannedBy, created_at: iso(b.createdAt)! }
}

export type RoomMembers = ReturnType<typeof createRoomMembers>
