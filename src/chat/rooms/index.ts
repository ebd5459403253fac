import { eq, sql } from 'drizzle-orm'
import type { Database } from '../../db/client'
import { roomMembers, roomPurges, rooms, spaces } from '../../db/schema'
import { conflict, forbidden, notFound, notMember, validation } from '../../lib/errors'
import { cleanText, hasBadChars } from '../../lib/text'
import type { Ban, Member, Role, Room } from '../../protocol/objects'
import type { CreateRoom, UpdateRoom } from '../../protocol/payloads'
import type { Events } from '../events'
import type { AttachmentUrl } from '../message-view'
import { authorize } from '../policy'
import type { UsersService } from '../users'
import { channelStartMark, createRoomMembers, roomFull, roomRow, userRoomIds } from './members'
import { createRoomViews, type RoomRow } from './views'
import { createOfflineReads, createSocketStarts, type SocketStart } from './socket-start'
import type { PresenceAudience } from '../../presence/announcer'
import { idList } from '../../db/sql'
import { frame } from '../../protocol/server-frames'

export type { Member, Role, Room }
export { userRoomIds }

export type RoomsDeps = {
  database: Database
  users: UsersService
  events: Events
  maxRoomMembers: number
  attachmentUrl: AttachmentUrl
  /** starts deleting what deleted rooms left (messages, files) in the background */
  purgeSoon: () => void
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

/** Rooms: create, list, read, change, delete; membership is `members`, rights are `policy`. */
export function createRoomsService({ database, users: usersService, events, maxRoomMembers, attachmentUrl, purgeSoon }: RoomsDeps) {
  const { db } = database
  const roomViews = createRoomViews(database, attachmentUrl)
  const { views } = roomViews
  const members = createRoomMembers({ database, users: usersService, events, views: roomViews })
  const { membership, requireMember } = members
  const socketStarts = createSocketStarts(database)
  const offlineReads = createOfflineReads(database)

  async function view(row: RoomRow, userId: number): Promise<Room> {
    const m = await membership(row.id, userId)
    const marks = new Map<number, number>()
    if (m) marks.set(row.id, m.lastReadSeq)
    return (await views([row], marks, userId))[0]!
  }

  /** The room with `externalId` for a caller who tried to create it: 200 if public or a member, else 409. */
  async function existingByExternalId(externalId: string, userId: number): Promise<Room> {
    const [row] = await db.select().from(rooms).where(eq(rooms.externalId, externalId))
    // deleted between the insert and this read: the caller may simply retry
    if (!row) throw conflict('A room with this external_id was just deleted; try again.')
    if (!(await visibleTo(row, userId))) throw conflict('Another room already has this external_id.')
    return view(row, userId)
  }

  /** A room anyone may see (public group) or one the user is in. */
  async function visibleTo(row: RoomRow, userId: number): Promise<boolean> {
    return (row.type === 'group' && row.visibility === 'public') || (await membership(row.id, userId)) !== undefined
  }

  return {
    requireMember,

    /** The room with `externalId`, if public or the caller's; else 404 (GET /v1/rooms/lookup). */
    async lookup(externalId: string, userId: number): Promise<Room> {
      const [row] = await db.select().from(rooms).where(eq(rooms.externalId, cleanText('external_id', externalId, 1, 200)))
      if (!row || !(await visibleTo(row, userId))) throw notFound('Room')
      return view(row, userId)
    },
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
          const v = await roomViews.one(row, 0)
          for (const id of [userId, other]) events.toUser(id, frame('room.created', { room: v }), { join: row.id })
        }
        return { room: await view(row, userId), created }
      }
      const name = cleanText('name', input.name ?? '', 1, 100)
      const description = input.description == null ? null : cleanText('description', input.description, 0, 1000)
      const externalId = input.external_id == null ? null : cleanText('external_id', input.external_id, 1, 200)
      if (others.length + 1 > maxRoomMembers) throw roomFull(maxRoomMembers)
      await usersService.requireAll(others)
      const row = await db.transaction(async (tx) => {
        // external_id is unique: of N parallel creates one inserts, the others find its room
        const [made] = await tx.insert(rooms).values({
          type: 'group', name, description, visibility: input.visibility ?? 'private', externalId,
          createdBy: userId, maxMembers: maxRoomMembers, memberCount: others.length + 1,
        }).onConflictDoNothing({ target: rooms.externalId, where: sql`${rooms.externalId} is not null` }).returning()
        if (!made) return null
        await tx.insert(roomMembers).values([
          { roomId: made.id, userId, role: 'owner' as const },
          ...others.map((id) => ({ roomId: made.id, userId: id, role: 'member' as const })),
        ])
        return made
      })
      if (!row) return { room: await existingByExternalId(externalId!, userId), created: false }
      const v = await roomViews.one(row, 0)
      for (const id of [userId, ...others]) events.toUser(id, frame('room.created', { room: v }), { join: row.id })
      return { room: await view(row, userId), created: true }
    },

    /** The caller's rooms, most recent activity first. `cursor` is opaque (from next_cursor). */
    async list(userId: number, opts: { limit: number; cursor?: string; externalId?: string }) {
      const after = opts.cursor === undefined ? null : decodeRoomCursor(opts.cursor)
      if (opts.externalId !== undefined && hasBadChars(opts.externalId)) throw validation('external_id: contains invalid characters.')
      const rows = await database.rows<{ room_id: number; last_read_seq: number; activity: string }>(
        sql`select r.id as room_id,
              coalesce(rm.last_read_seq, case when sm.user_id is not null then ${channelStartMark(sql`r`, sql`sm`)} else 0 end) as last_read_seq,
              to_char(r.last_activity_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as activity
            from rooms r
            left join room_members rm on rm.room_id = r.id and rm.user_id = ${userId}
            left join space_members sm on sm.space_id = r.space_id and sm.user_id = ${userId}
            where r.id in ${userRoomIds(userId)}
            ${opts.externalId !== undefined ? sql`and r.external_id = ${opts.externalId}` : sql``}
            ${after ? sql`and (r.last_activity_at, r.id) < (${after.t}::timestamptz, ${after.id})` : sql``}
            order by r.last_activity_at desc, r.id desc
            limit ${opts.limit + 1}`,
      )
      const page = rows.slice(0, opts.limit)
      const ids = page.map((r) => r.room_id)
      const full = ids.length === 0 ? [] : await db.select().from(rooms)
        .where(sql`${rooms.id} in ${idList(ids)}`)
      const byId = new Map(full.map((r) => [r.id, r]))
      const ordered = ids.map((id) => byId.get(id)).filter((r): r is RoomRow => r !== undefined)
      const result = await views(ordered, new Map(page.map((r) => [r.room_id, Number(r.last_read_seq)])), userId)
      const last = page[page.length - 1]
      const next = rows.length > opts.limit && last
        ? Buffer.from(JSON.stringify({ t: last.activity, id: last.room_id })).toString('base64url')
        : null
      return { rooms: result, next_cursor: next }
    },

    /**
     * The user's last socket closed at `at`: stores their last_seen and
     * returns where their offline goes, in one statement (shared by the users
     * going offline together).
     */
    wentOffline: (userId: number, at: Date): Promise<PresenceAudience> => offlineReads.read(userId, at),

    /**
     * Everything a socket needs to start, in one statement at most (shared
     * by the starts waiting together in a storm): profile, login still
     * active, rooms with last_seq, presence audience. Null: no such user.
     */
    socketStart: (userId: number, sid: string | null): Promise<SocketStart | null> => socketStarts.read(userId, sid),

    async get(roomId: number, userId: number): Promise<Room> {
      const row = await roomRow(database, roomId)
      if (!(await visibleTo(row, userId))) throw notMember()
      return view(row, userId)
    },

    async update(roomId: number, userId: number, patch: UpdateRoom) {
      const { room, member } = await requireMember(roomId, userId)
      authorize('room.update', member, room.type)
      const set: Partial<RoomRow> = { updatedAt: new Date() }
      if (patch.name !== undefined) set.name = cleanText('name', patch.name, 1, 100)
      if (patch.description !== undefined) {
        set.description = patch.description === null ? null : cleanText('description', patch.description, 0, 1000)
      }
      if (patch.visibility !== undefined) set.visibility = patch.visibility
      const [row] = await db.update(rooms).set(set).where(eq(rooms.id, roomId)).returning()
      if (!row) throw notFound('Room')
      events.toRoom(roomId, frame('room.updated', { room: await roomViews.one(row) }))
      return view(row, userId)
    },

    async remove(roomId: number, userId: number): Promise<void> {
      const { room, member } = await requireMember(roomId, userId)
      if (room.type === 'channel') {
        authorize('channel.delete', member, room.type)
        const [space] = await db.select({ general: spaces.generalRoomId }).from(spaces).where(eq(spaces.id, room.spaceId!))
        if (space?.general === roomId) throw forbidden('The general channel cannot be deleted.')
      } else {
        authorize('room.delete', member, room.type)
      }
      // a channel's audience follows it through the space; the room's own members are told one by one
      const memberIds = room.type === 'channel' ? [] : (await db.select({ id: roomMembers.userId }).from(roomMembers).where(eq(roomMembers.roomId, roomId)))
        .map((m) => m.id)
      await db.transaction(async (tx) => {
        // messages and files carry no foreign key (the writer's hot path): the purger deletes them in batches
        await tx.insert(roomPurges).values({ roomId }).onConflictDoNothing()
        await tx.delete(rooms).where(eq(rooms.id, roomId))
      })
      purgeSoon()
      for (const id of memberIds) events.toUser(id, frame('room.deleted', { room_id: roomId }), { leave: roomId })
      events.toRoom(roomId, frame('room.deleted', { room_id: roomId }), { closeRoom: roomId })
    },

    members: (roomId: number, userId: number): Promise<Member[]> => members.list(roomId, userId),
    addMembers: (roomId: number, actorId: number, ids: number[]): Promise<Member[]> => members.add(roomId, actorId, ids),
    removeMemberBy: (roomId: number, actorId: number, targetId: number): Promise<void> => members.remove(roomId, actorId, targetId),
    async join(roomId: number, userId: number): Promise<Room> {
      return view(await members.join(roomId, userId), userId)
    },
    leave: (roomId: number, userId: number): Promise<void> => members.leave(roomId, userId),
    setRole: (roomId: number, actorId: number, targetId: number, role: Role): Promise<Member> => members.setRole(roomId, actorId, targetId, role),
    ban: (roomId: number, actorId: number, targetId: number, reason: string | null): Promise<Ban> => members.ban(roomId, actorId, targetId, reason),
    bans: (roomId: number, actorId: number): Promise<Ban[]> => members.bans(roomId, actorId),
    unban: (roomId: number, actorId: number, targetId: number): Promise<void> => members.unban(roomId, actorId, targetId),
    /** A channel member's read-mark row exists before it is written (read, settings). */
    ensureMarkRow: members.ensureMarkRow,
    /** The room's row (404 without it). */
    row: (roomId: number): Promise<RoomRow> => roomRow(database, roomId),
    one: roomViews.one,
  }
}

export type RoomsService = ReturnType<typeof createRoomsService>
