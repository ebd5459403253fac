import { and, eq, sql } from 'drizzle-orm'
import type { Database, Executor } from '../db/client'
import { messages, roomMembers, rooms, users } from '../db/schema'
import { AppError, forbidden, notFound, notMember, validation } from '../lib/errors'
import { iso } from '../lib/time'
import { messageColumns, messageFrom, toMessage, type AttachmentUrl, type Message, type MessageRow } from './message-view'
import type { Events } from './events'
import type { User, UsersService } from './users'
import { cleanText, hasBadChars } from '../lib/text'
import type { CreateRoom, UpdateRoom } from '../protocol/payloads'

export type Role = 'owner' | 'admin' | 'member'
type RoomRow = typeof rooms.$inferSelect

/** Room as API.md "Objects" defines it, for one caller. */
export type Room = {
  id: number
  type: RoomRow['type']
  name: string | null
  description: string | null
  visibility: RoomRow['visibility']
  space_id: number | null
  external_id: string | null
  created_by: number | null
  created_at: string
  updated_at: string
  member_count: number
  max_members: number
  last_seq: number
  last_message: Message | null
  unread_count: number
}

export type Member = { user: User; role: Role; joined_at: string; last_read_seq: number }


export type RoomsDeps = {
  database: Database
  users: UsersService
  events: Events
  maxRoomMembers: number
  attachmentUrl?: AttachmentUrl
}

/** Where a page of the room list ends: the last room's activity time (µs, UTC) and id. */
type RoomCursor = { t: string; id: number }
const CURSOR_TIME = /^(\d{4})-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/

/** A rooms cursor, fully checked: anything this server did not write is 422, never a query error. */
export function decodeRoomCursor(cursor: string): RoomCursor {
  const bad = () => validation('cursor: not a cursor this server gave out.')
  let v: unknown
  try {
    v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
  } catch {
    throw bad()
  }
  if (typeof v !== 'object' || v === null) throw bad()
  const { t, id } = v as Record<string, unknown>
  if (typeof t !== 'string' || !Number.isSafeInteger(id) || (id as number) < 1) throw bad()
  const year = CURSOR_TIME.exec(t)?.[1]
  // Postgres refuses year 0 and invalid days; Date.parse accepts neither as a round trip
  if (!year || Number(year) < 1 || Number.isNaN(Date.parse(t)) || new Date(t).toISOString().slice(0, 19) !== t.slice(0, 19)) throw bad()
  return { t, id: id as number }
}

const roomFull = (max: number) => new AppError('room_full', `The room is full (at most ${max} members).`)

export function createRoomsService({ database, users: usersService, events, maxRoomMembers, attachmentUrl }: RoomsDeps) {
  const { db } = database

  async function lastMessages(rows: RoomRow[], ex: Executor = db): Promise<Map<number, Message>> {
    const keys = rows.filter((r) => r.lastSeq > 0).map((r) => ({ r: r.id, s: r.lastSeq }))
    const out = new Map<number, Message>()
    if (keys.length === 0) return out
    const msgs = await database.rows<MessageRow>(
      sql`select ${messageColumns} from ${messageFrom}
          where (m.room_id, m.seq) in (select x.r, x.s from json_to_recordset(${JSON.stringify(keys)}::json) as x(r int8, s int8))`,
      ex,
    )
    for (const m of msgs) out.set(m.room_id, toMessage(m, attachmentUrl))
    return out
  }

  /** Room views for one caller; `readMarks` = the caller's last_read_seq per room (absent: not a member). */
  async function views(rows: RoomRow[], readMarks: Map<number, number>): Promise<Room[]> {
    const last = await lastMessages(rows)
    return rows.map((r) => {
      const mark = readMarks.get(r.id)
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
        member_count: r.memberCount,
        max_members: r.maxMembers,
        last_seq: r.lastSeq,
        last_message: last.get(r.id) ?? null,
        unread_count: mark === undefined ? 0 : Math.max(0, r.lastSeq - mark),
      }
    })
  }

  async function roomRow(roomId: number, ex: Executor = db, lock = false): Promise<RoomRow> {
    const [row] = lock
      ? await (ex as typeof db).select().from(rooms).where(eq(rooms.id, roomId)).for('update')
      : await (ex as typeof db).select().from(rooms).where(eq(rooms.id, roomId))
    if (!row) throw notFound('Room')
    return row
  }

  async function membership(roomId: number, userId: number, ex: Executor = db) {
    const [m] = await (ex as typeof db).select().from(roomMembers)
      .where(and(eq(roomMembers.roomId, roomId), eq(roomMembers.userId, userId)))
    return m
  }

  /** The room and the caller's membership; 404 without the room, 403 not_member without membership. */
  async function requireMember(roomId: number, userId: number) {
    // one read: the room, and the caller's membership if any (every message route starts here)
    const [row] = await db.select({ room: rooms, member: roomMembers }).from(rooms)
      .leftJoin(roomMembers, and(eq(roomMembers.roomId, rooms.id), eq(roomMembers.userId, userId)))
      .where(eq(rooms.id, roomId))
    if (!row) throw notFound('Room')
    if (!row.member) throw notMember()
    return { room: row.room, member: row.member }
  }

  async function requireManager(roomId: number, userId: number) {
    const r = await requireMember(roomId, userId)
    if (r.member.role === 'member') throw forbidden('Only the owner or an admin of the room may do this.')
    return r
  }

  async function view(row: RoomRow, userId: number): Promise<Room> {
    const m = await membership(row.id, userId)
    const marks = new Map<number, number>()
    if (m) marks.set(row.id, m.lastReadSeq)
    return (await views([row], marks))[0]!
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
    const [v] = await views([await roomRow(roomId)], new Map([[roomId, 0]]))
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
      const room = await roomRow(roomId, tx, true)
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

  return {
    requireMember,
    views,

    async isMember(roomId: number, userId: number): Promise<boolean> {
      return (await membership(roomId, userId)) !== undefined
    },

    async create(userId: number, input: CreateRoom): Promise<{ room: Room; created: boolean }> {
      const others = [...new Set((input.member_ids ?? []).filter((id) => id !== userId))]
      if (input.type === 'direct') {
        if (others.length !== 1) throw validation('member_ids: a direct room needs exactly one other user.')
        const other = others[0]!
        await usersService.requireAll([other])
        const key = `${Math.min(userId, other)}:${Math.max(userId, other)}`
        const { row, created } = await db.transaction(async (tx) => {
          const [made] = await tx.insert(rooms)
            .values({ type: 'direct', directKey: key, createdBy: userId, maxMembers: 2, memberCount: 2, visibility: 'private' })
            .onConflictDoNothing({ target: rooms.directKey })
            .returning()
          if (made) {
            await tx.insert(roomMembers).values([
              { roomId: made.id, userId, role: 'member' },
              { roomId: made.id, userId: other, role: 'member' },
            ])
            return { row: made, created: true }
          }
          const [found] = await tx.select().from(rooms).where(eq(rooms.directKey, key))
          return { row: found!, created: false }
        })
        if (created) {
          const [v] = await views([row], new Map([[row.id, 0]]))
          for (const id of [userId, other]) events.toUser(id, { type: 'room.created', room: v }, { join: row.id })
        }
        return { room: await view(row, userId), created }
      }
      const name = cleanText('name', input.name ?? '', 1, 100)
      const description = input.description == null ? null : cleanText('description', input.description, 0, 1000)
      const externalId = input.external_id == null ? null : cleanText('external_id', input.external_id, 1, 200)
      if (others.length + 1 > maxRoomMembers) throw roomFull(maxRoomMembers)
      await usersService.requireAll(others)
      const row = await db.transaction(async (tx) => {
        const [made] = await tx.insert(rooms).values({
          type: 'group', name, description, visibility: input.visibility ?? 'private', externalId,
          createdBy: userId, maxMembers: maxRoomMembers, memberCount: others.length + 1,
        }).returning()
        await tx.insert(roomMembers).values([
          { roomId: made!.id, userId, role: 'owner' as const },
          ...others.map((id) => ({ roomId: made!.id, userId: id, role: 'member' as const })),
        ])
        return made!
      })
      const [v] = await views([row], new Map([[row.id, 0]]))
      for (const id of [userId, ...others]) events.toUser(id, { type: 'room.created', room: v }, { join: row.id })
      return { room: await view(row, userId), created: true }
    },

    /** The caller's rooms, most recent activity first. `cursor` is opaque (from next_cursor). */
    async list(userId: number, opts: { limit: number; cursor?: string; externalId?: string }) {
      const after = opts.cursor === undefined ? null : decodeRoomCursor(opts.cursor)
      if (opts.externalId !== undefined && hasBadChars(opts.externalId)) throw validation('external_id: contains invalid characters.')
      const rows = await database.rows<{ room_id: number; last_read_seq: number; activity: string }>(
        sql`select r.id as room_id, rm.last_read_seq, to_char(r.last_activity_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as activity
            from room_members rm join rooms r on r.id = rm.room_id
            where rm.user_id = ${userId}
            ${opts.externalId !== undefined ? sql`and r.external_id = ${opts.externalId}` : sql``}
            ${after ? sql`and (r.last_activity_at, r.id) < (${after.t}::timestamptz, ${after.id})` : sql``}
            order by r.last_activity_at desc, r.id desc
            limit ${opts.limit + 1}`,
      )
      const page = rows.slice(0, opts.limit)
      const ids = page.map((r) => r.room_id)
      const full = ids.length === 0 ? [] : await db.select().from(rooms)
        .where(sql`${rooms.id} in (select value::int8 from json_array_elements_text(${JSON.stringify(ids)}::json))`)
      const byId = new Map(full.map((r) => [r.id, r]))
      const ordered = ids.map((id) => byId.get(id)).filter((r): r is RoomRow => r !== undefined)
      const result = await views(ordered, new Map(page.map((r) => [r.room_id, r.last_read_seq])))
      const last = page[page.length - 1]
      const next = rows.length > opts.limit && last
        ? Buffer.from(JSON.stringify({ t: last.activity, id: last.room_id })).toString('base64url')
        : null
      return { rooms: result, next_cursor: next }
    },

    /** Rooms of the user with their last_seq, for the socket's `ready` frame. */
    async roomSeqs(userId: number): Promise<{ id: number; last_seq: number }[]> {
      return database.rows<{ id: number; last_seq: number }>(
        sql`select r.id, r.last_seq from room_members rm join rooms r on r.id = rm.room_id where rm.user_id = ${userId} order by r.id`,
      )
    },

    async get(roomId: number, userId: number): Promise<Room> {
      const row = await roomRow(roomId)
      const m = await membership(roomId, userId)
      if (!m && !(row.type === 'group' && row.visibility === 'public')) throw notMember()
      return view(row, userId)
    },

    async update(roomId: number, userId: number, patch: UpdateRoom) {
      const { room } = await requireManager(roomId, userId)
      if (room.type === 'direct') throw forbidden('A direct room cannot be changed.')
      const set: Partial<RoomRow> = { updatedAt: new Date() }
      if (patch.name !== undefined) set.name = cleanText('name', patch.name, 1, 100)
      if (patch.description !== undefined) {
        set.description = patch.description === null ? null : cleanText('description', patch.description, 0, 1000)
      }
      if (patch.visibility !== undefined) set.visibility = patch.visibility
      const [row] = await db.update(rooms).set(set).where(eq(rooms.id, roomId)).returning()
      if (!row) throw notFound('Room')
      const [v] = await views([row], new Map())
      events.toRoom(roomId, { type: 'room.updated', room: { ...v!, unread_count: 0 } })
      return view(row, userId)
    },

    async remove(roomId: number, userId: number): Promise<void> {
      const { member } = await requireMember(roomId, userId)
      if (member.role !== 'owner') throw forbidden('Only the owner may delete the room.')
      const memberIds = (await db.select({ id: roomMembers.userId }).from(roomMembers).where(eq(roomMembers.roomId, roomId)))
        .map((m) => m.id)
      await db.transaction(async (tx) => {
        // messages carry no foreign key (the writer's hot path): they go with the room here
        await tx.delete(messages).where(eq(messages.roomId, roomId))
        await tx.delete(rooms).where(eq(rooms.id, roomId))
      })
      for (const id of memberIds) events.toUser(id, { type: 'room.deleted', room_id: roomId }, { leave: roomId })
      events.toRoom(roomId, { type: 'room.deleted', room_id: roomId }, { closeRoom: roomId })
    },

    async members(roomId: number, userId: number): Promise<Member[]> {
      await requireMember(roomId, userId)
      const rows = await db.select({ m: roomMembers, u: users }).from(roomMembers)
        .innerJoin(users, eq(users.id, roomMembers.userId))
        .where(eq(roomMembers.roomId, roomId))
        .orderBy(roomMembers.joinedAt, roomMembers.userId)
      const profiles = await usersService.profiles(rows.map((r) => r.u))
      return rows.map((r, i) => ({
        user: profiles[i]!, role: r.m.role, joined_at: iso(r.m.joinedAt)!, last_read_seq: r.m.lastReadSeq,
      }))
    },

    async addMembers(roomId: number, userId: number, ids: number[]): Promise<Member[]> {
      const { room } = await requireMember(roomId, userId)
      if (room.type === 'direct') throw forbidden('Nobody can be added to a direct room.')
      const m = await membership(roomId, userId)
      if (m?.role === 'member') throw forbidden('Only the owner or an admin of the room may add members.')
      const unique = [...new Set(ids)]
      await usersService.requireAll(unique)
      const added = await db.transaction(async (tx) => addLocked(tx, await roomRow(roomId, tx, true), unique, 'member'))
      await announceJoined(roomId, added)
      return this.members(roomId, userId)
    },

    async removeMemberBy(roomId: number, actorId: number, targetId: number): Promise<void> {
      const { member } = await requireMember(roomId, actorId)
      if (actorId !== targetId) {
        if (member.role === 'member') throw forbidden('Only the owner or an admin of the room may remove members.')
        const target = await membership(roomId, targetId)
        if (!target) throw notFound('Member')
        if (target.role === 'owner' || (target.role === 'admin' && member.role !== 'owner')) {
          throw forbidden('You cannot remove this member.')
        }
      }
      await removeMember(roomId, targetId)
    },

    async join(roomId: number, userId: number): Promise<Room> {
      const room0 = await roomRow(roomId)
      if (room0.type !== 'group') throw forbidden('Only group rooms can be joined.')
      if (await membership(roomId, userId)) return view(room0, userId)
      if (room0.visibility !== 'public') throw forbidden('This room is private; ask a member to add you.')
      const added = await db.transaction(async (tx) => {
        const room = await roomRow(roomId, tx, true)
        if (room.visibility !== 'public') throw forbidden('This room is private; ask a member to add you.')
        return addLocked(tx, room, [userId], 'member')
      })
      await announceJoined(roomId, added)
      return view(await roomRow(roomId), userId)
    },

    async leave(roomId: number, userId: number): Promise<void> {
      await requireMember(roomId, userId)
      await removeMember(roomId, userId)
    },
  }
}

export type RoomsService = ReturnType<typeof createRoomsService>
