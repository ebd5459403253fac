import { and, eq, sql } from 'drizzle-orm'
import type { Database, Executor } from '../db/client'
import { roomPurges, rooms, spaceBans, spaceInvites, spaceMembers, spaces } from '../db/schema'
import { AppError, forbidden, notFound, notMember, validation } from '../lib/errors'
import { cleanText, escapeLike, hasBadChars, isHttpUrl } from '../lib/text'
import { iso } from '../lib/time'
import type { Ban, Invite, LeaveReason, Role, Room, Space, SpaceMember } from '../protocol/objects'
import type { CreateChannel, CreateInvite, CreateSpace, UpdateSpace } from '../protocol/payloads'
import type { Events } from './events'
import { authorize } from './policy'
import { banView } from './rooms/members'
import type { RoomsService } from './rooms'
import type { UsersService } from './users'
import { idList } from '../db/sql'
import { frame } from '../protocol/server-frames'

type SpaceRow = typeof spaces.$inferSelect
type SpaceMemberRow = typeof spaceMembers.$inferSelect

export type SpacesDeps = {
  database: Database
  users: UsersService
  rooms: RoomsService
  events: Events
  maxSpaceMembers: number
  /** starts deleting what deleted channels left (messages, files) in the background */
  purgeSoon: () => void
}

const spaceFull = (max: number) => new AppError('room_full', `The space is full (at most ${max} members).`)
const DAY = 86_400

/**
 * Discord-style spaces: members with roles, invites, bans, and channels (rooms
 * of type `channel` whose audience is the space's members). Joining writes one
 * space_members row, whatever the number of channels; the member limit holds
 * under concurrency through the space's row lock.
 */
export function createSpacesService(d: SpacesDeps) {
  const { database, events } = d
  const { db } = database

  async function spaceRow(spaceId: number, ex: Executor = db, lock = false): Promise<SpaceRow> {
    const q = (ex as typeof db).select().from(spaces).where(eq(spaces.id, spaceId))
    const [row] = lock ? await q.for('update') : await q
    if (!row) throw notFound('Space')
    return row
  }

  async function membership(spaceId: number, userId: number, ex: Executor = db): Promise<SpaceMemberRow | undefined> {
    const [m] = await (ex as typeof db).select().from(spaceMembers)
      .where(and(eq(spaceMembers.spaceId, spaceId), eq(spaceMembers.userId, userId)))
    return m
  }

  async function requireMember(spaceId: number, userId: number): Promise<{ space: SpaceRow; member: SpaceMemberRow }> {
    const space = await spaceRow(spaceId)
    const member = await membership(spaceId, userId)
    if (!member) throw notMember('You are not a member of this space.')
    return { space, member }
  }

  async function channelIds(spaceId: number, ex: Executor = db): Promise<number[]> {
    const rows = await (ex as typeof db).select({ id: rooms.id }).from(rooms).where(eq(rooms.spaceId, spaceId)).orderBy(rooms.id)
    return rows.map((r) => r.id)
  }

  /** Space views for one caller (channels with the caller's unread counts when a member). */
  async function views(rows: SpaceRow[], userId: number): Promise<Space[]> {
    if (rows.length === 0) return []
    const ids = rows.map((r) => r.id)
    const channelRows = await db.select().from(rooms)
      .where(sql`${rooms.spaceId} in ${idList(ids)}`)
      .orderBy(rooms.id)
    const marks = await database.rows<{ room_id: number; mark: number }>(
      sql`select r.id as room_id, coalesce(rm.last_read_seq, (select coalesce(max(m.seq), 0) from messages m
              where m.room_id = r.id and m.created_at <= sm.joined_at)) as mark
          from rooms r join space_members sm on sm.space_id = r.space_id and sm.user_id = ${userId}
          left join room_members rm on rm.room_id = r.id and rm.user_id = ${userId}
          where r.space_id in ${idList(ids)}`,
    )
    const channelViews = await d.rooms.views(channelRows, new Map(marks.map((m) => [Number(m.room_id), Number(m.mark)])), userId)
    return rows.map((s) => ({
      id: s.id,
      name: s.name,
      description: s.description,
      icon_url: s.iconUrl,
      visibility: s.visibility,
      owner_id: s.ownerId,
      member_count: s.memberCount,
      max_members: s.maxMembers,
      general_channel_id: s.generalRoomId,
      channels: channelViews.filter((c) => c.space_id === s.id),
      created_at: iso(s.createdAt)!,
      updated_at: iso(s.updatedAt)!,
    }))
  }
  const view = async (row: SpaceRow, userId: number) => (await views([row], userId))[0]!

  async function newChannel(tx: Executor, spaceId: number, creatorId: number, name: string, description: string | null) {
    const [row] = await (tx as typeof db).insert(rooms).values({
      type: 'channel', spaceId, name, description, visibility: 'private', createdBy: creatorId, maxMembers: 0, memberCount: 0,
    }).returning()
    return row!
  }

  /** Adds a member under the space's row lock: bans and the limit hold under concurrency. Returns false when already a member. */
  async function addLocked(tx: Executor, space: SpaceRow, userId: number, role: Role): Promise<boolean> {
    if (await membership(space.id, userId, tx)) return false
    const [ban] = await (tx as typeof db).select().from(spaceBans).where(and(eq(spaceBans.spaceId, space.id), eq(spaceBans.userId, userId)))
    if (ban) throw forbidden('You are banned from this space.')
    if (space.memberCount + 1 > space.maxMembers) throw spaceFull(space.maxMembers)
    await (tx as typeof db).insert(spaceMembers).values({ spaceId: space.id, userId, role })
    await (tx as typeof db).update(spaces).set({ memberCount: sql`${spaces.memberCount} + 1` }).where(eq(spaces.id, space.id))
    return true
  }

  async function announceJoined(spaceId: number, userId: number) {
    const [user, channels] = await Promise.all([d.users.get(userId), channelIds(spaceId)])
    // the joiner's sockets follow the space and its channels at once, on every node
    events.toUser(userId, frame('space.member.joined', { space_id: spaceId, user }), { joinSpace: spaceId, joinRooms: channels })
    events.toSpace(spaceId, frame('space.member.joined', { space_id: spaceId, user }))
  }

  /** Removes a member (banning them first when `ban` is given), under the space lock; announces it. */
  async function removeMember(spaceId: number, userId: number, reason: LeaveReason, ban?: { by: number; reason: string | null }) {
    const removed = await db.transaction(async (tx) => {
      await spaceRow(spaceId, tx, true)
      if (ban) {
        await tx.insert(spaceBans).values({ spaceId, userId, reason: ban.reason, bannedBy: ban.by })
          .onConflictDoUpdate({ target: [spaceBans.spaceId, spaceBans.userId], set: { reason: ban.reason, bannedBy: ban.by } })
      }
      const m = await membership(spaceId, userId, tx)
      if (!m) return false
      await tx.delete(spaceMembers).where(and(eq(spaceMembers.spaceId, spaceId), eq(spaceMembers.userId, userId)))
      await tx.update(spaces).set({ memberCount: sql`${spaces.memberCount} - 1` }).where(eq(spaces.id, spaceId))
      // the read marks they had in its channels
      await tx.execute(sql`delete from room_members where user_id = ${userId} and room_id in (select id from rooms where space_id = ${spaceId})`)
      if (m.role === 'owner') {
        // the longest-standing admin, else member, inherits the space
        const [heir] = await (tx as typeof db).select({ userId: spaceMembers.userId }).from(spaceMembers)
          .where(eq(spaceMembers.spaceId, spaceId))
          .orderBy(sql`case ${spaceMembers.role} when 'admin' then 0 else 1 end`, spaceMembers.joinedAt, spaceMembers.userId)
          .limit(1)
        await tx.update(spaces).set({ ownerId: heir?.userId ?? null }).where(eq(spaces.id, spaceId))
        if (heir) await tx.update(spaceMembers).set({ role: 'owner' }).where(and(eq(spaceMembers.spaceId, spaceId), eq(spaceMembers.userId, heir.userId)))
      }
      return true
    })
    if (!removed) return
    const channels = await channelIds(spaceId)
    // their sockets drop the space and its channels first, on every node
    events.toUser(userId, frame('space.member.left', { space_id: spaceId, user_id: userId, reason }), { leaveSpace: spaceId, leaveRooms: channels })
    events.toSpace(spaceId, frame('space.member.left', { space_id: spaceId, user_id: userId, reason }))
  }

  function checkedFields(input: { name?: string; description?: string | null; icon_url?: string | null }) {
    const out: Partial<typeof spaces.$inferInsert> = {}
    if (input.name !== undefined) out.name = cleanText('name', input.name, 1, 100)
    if (input.description !== undefined) out.description = input.description === null ? null : cleanText('description', input.description, 0, 1000)
    if (input.icon_url !== undefined) {
      if (input.icon_url !== null && !isHttpUrl(input.icon_url)) throw validation('icon_url: must be an http(s) URL.')
      out.iconUrl = input.icon_url
    }
    return out
  }

  async function announceUpdated(spaceId: number) {
    const row = await spaceRow(spaceId)
    // channels without the caller's read marks: the same frame goes to everyone
    events.toSpace(spaceId, frame('space.updated', { space: await view(row, 0) }))
  }

  return {
    /** The space a channel belongs to, for routes that act on a channel's members. */
    requireMember,

    async create(userId: number, input: CreateSpace): Promise<Space> {
      const fields = checkedFields(input)
      const row = await db.transaction(async (tx) => {
        const [made] = await tx.insert(spaces).values({
          name: fields.name!, description: fields.description ?? null, iconUrl: fields.iconUrl ?? null,
          visibility: input.visibility ?? 'private', ownerId: userId, memberCount: 1, maxMembers: d.maxSpaceMembers,
        }).returning()
        await tx.insert(spaceMembers).values({ spaceId: made!.id, userId, role: 'owner' })
        const general = await newChannel(tx, made!.id, userId, 'general', null)
        const [withGeneral] = await tx.update(spaces).set({ generalRoomId: general.id }).where(eq(spaces.id, made!.id)).returning()
        return withGeneral!
      })
      const channels = await channelIds(row.id)
      const user = await d.users.get(userId)
      events.toUser(userId, frame('space.member.joined', { space_id: row.id, user }), { joinSpace: row.id, joinRooms: channels })
      return view(row, userId)
    },

    async list(userId: number): Promise<Space[]> {
      const rows = await db.select({ s: spaces }).from(spaceMembers)
        .innerJoin(spaces, eq(spaces.id, spaceMembers.spaceId))
        .where(eq(spaceMembers.userId, userId))
        .orderBy(spaces.id)
      return views(rows.map((r) => r.s), userId)
    },

    /** Public spaces whose name starts with `query`, most members first. */
    async discover(userId: number, query: string | undefined, limit: number): Promise<Space[]> {
      const q = (query ?? '').trim().toLowerCase()
      if (hasBadChars(q) || q.length > 100) throw validation('query: at most 100 characters, no control characters.')
      const rows = await db.select().from(spaces)
        .where(sql`${spaces.visibility} = 'public' and lower(${spaces.name}) like ${`${escapeLike(q)}%`}`)
        .orderBy(sql`${spaces.memberCount} desc`, spaces.id)
        .limit(limit)
      return views(rows, userId)
    },

    async get(spaceId: number, userId: number): Promise<Space> {
      // members only, public or not (the contract); a non-member finds public spaces through discover
      const row = await spaceRow(spaceId)
      if (!(await membership(spaceId, userId))) throw notMember('You are not a member of this space.')
      return view(row, userId)
    },

    async update(spaceId: number, userId: number, patch: UpdateSpace): Promise<Space> {
      const { member } = await requireMember(spaceId, userId)
      authorize('room.update', member, 'space')
      const set = { ...checkedFields(patch), updatedAt: new Date() }
      if (patch.visibility !== undefined) set.visibility = patch.visibility
      await db.update(spaces).set(set).where(eq(spaces.id, spaceId))
      await announceUpdated(spaceId)
      return view(await spaceRow(spaceId), userId)
    },

    /** Deletes the space and its channels at once; their messages and files go in the background. */
    async remove(spaceId: number, userId: number): Promise<void> {
      const { member } = await requireMember(spaceId, userId)
      authorize('room.delete', member, 'space')
      await db.transaction(async (tx) => {
        await spaceRow(spaceId, tx, true)
        const channels = await channelIds(spaceId, tx)
        if (channels.length > 0) await tx.insert(roomPurges).values(channels.map((roomId) => ({ roomId }))).onConflictDoNothing()
        // channels (and their read marks) go with the space: rooms.space_id cascades
        await tx.delete(spaces).where(eq(spaces.id, spaceId))
      })
      d.purgeSoon()
      events.toSpace(spaceId, frame('space.deleted', { space_id: spaceId }), { closeSpace: spaceId })
    },

    /** Joins a public space, or any space with a valid invite code; already a member → 200 as is. */
    async join(spaceId: number, userId: number, inviteCode: string | null): Promise<Space> {
      const space0 = await spaceRow(spaceId)
      if (await membership(spaceId, userId)) return view(space0, userId)
      const joined = await db.transaction(async (tx) => {
        const space = await spaceRow(spaceId, tx, true)
        if (inviteCode) {
          // counted atomically: the row lock of the space serializes joins, and the use is taken here
          const [used] = await tx.update(spaceInvites).set({ uses: sql`${spaceInvites.uses} + 1` })
            .where(and(
              eq(spaceInvites.code, inviteCode), eq(spaceInvites.spaceId, spaceId),
              sql`${spaceInvites.expiresAt} > now()`,
              sql`(${spaceInvites.maxUses} is null or ${spaceInvites.uses} < ${spaceInvites.maxUses})`,
            )).returning()
          if (!used) throw forbidden('The invite code is unknown, expired or used up.')
        } else if (space.visibility !== 'public') {
          throw forbidden('This space is private: join it with an invite code.')
        }
        return addLocked(tx, space, userId, 'member')
      })
      if (joined) await announceJoined(spaceId, userId)
      return view(await spaceRow(spaceId), userId)
    },

    async leave(spaceId: number, userId: number): Promise<void> {
      await requireMember(spaceId, userId)
      await removeMember(spaceId, userId, 'left')
    },

    async createInvite(spaceId: number, userId: number, input: CreateInvite): Promise<Invite> {
      const { member } = await requireMember(spaceId, userId)
      authorize('space.manage', member, 'space')
      const code = Buffer.from(crypto.getRandomValues(new Uint8Array(12))).toString('base64url')
      const expiresAt = new Date(Date.now() + (input.expires_in ?? DAY) * 1000)
      const [row] = await db.insert(spaceInvites)
        .values({ code, spaceId, createdBy: userId, expiresAt, maxUses: input.max_uses ?? null })
        .returning()
      return { code: row!.code, space_id: spaceId, expires_at: iso(row!.expiresAt)!, max_uses: row!.maxUses, uses: row!.uses }
    },

    async members(spaceId: number, userId: number): Promise<SpaceMember[]> {
      await requireMember(spaceId, userId)
      const rows = await db.select().from(spaceMembers).where(eq(spaceMembers.spaceId, spaceId))
        .orderBy(spaceMembers.joinedAt, spaceMembers.userId)
      const byId = new Map((await d.users.byIds(rows.map((r) => r.userId))).map((u) => [u.id, u]))
      return rows.flatMap((r) => {
        const user = byId.get(r.userId)
        return user ? [{ user, role: r.role, joined_at: iso(r.joinedAt)! }] : []
      })
    },

    /** The actor removes `targetId` from the space; anyone may remove themselves. */
    async removeMember(spaceId: number, actorId: number, targetId: number): Promise<void> {
      const { member } = await requireMember(spaceId, actorId)
      if (actorId === targetId) return removeMember(spaceId, targetId, 'left')
      const target = await membership(spaceId, targetId)
      authorize('member.remove', member, 'space', { role: target?.role ?? null })
      if (!target) throw notFound('Member')
      await removeMember(spaceId, targetId, 'removed')
    },

    /** Owner only; `owner` hands the space over and the old owner becomes admin. */
    async setRole(spaceId: number, actorId: number, targetId: number, role: Role): Promise<SpaceMember> {
      const { member } = await requireMember(spaceId, actorId)
      const target = await membership(spaceId, targetId)
      authorize('member.role', member, 'space', { role: target?.role ?? null })
      if (!target) throw notFound('Member')
      await db.transaction(async (tx) => {
        await spaceRow(spaceId, tx, true)
        const now = await membership(spaceId, actorId, tx)
        if (now?.role !== 'owner') throw forbidden('Only the owner may change roles.')
        if (role === 'owner') {
          await tx.update(spaceMembers).set({ role: 'admin' }).where(and(eq(spaceMembers.spaceId, spaceId), eq(spaceMembers.userId, actorId)))
          await tx.update(spaces).set({ ownerId: targetId, updatedAt: new Date() }).where(eq(spaces.id, spaceId))
        }
        await tx.update(spaceMembers).set({ role }).where(and(eq(spaceMembers.spaceId, spaceId), eq(spaceMembers.userId, targetId)))
      })
      if (role === 'owner') events.toSpace(spaceId, frame('space.member.updated', { space_id: spaceId, user_id: actorId, role: 'admin' }))
      events.toSpace(spaceId, frame('space.member.updated', { space_id: spaceId, user_id: targetId, role }))
      const user = await d.users.get(targetId)
      const [m] = await db.select().from(spaceMembers).where(and(eq(spaceMembers.spaceId, spaceId), eq(spaceMembers.userId, targetId)))
      return { user, role: m!.role, joined_at: iso(m!.joinedAt)! }
    },

    async ban(spaceId: number, actorId: number, targetId: number, reason: string | null): Promise<Ban> {
      const { member } = await requireMember(spaceId, actorId)
      if (targetId === actorId) throw validation('user_id: you cannot ban yourself.')
      const why = reason === null ? null : cleanText('reason', reason, 0, 500)
      await d.users.requireAll([targetId])
      const target = await membership(spaceId, targetId)
      authorize('member.ban', member, 'space', { role: target?.role ?? null })
      await removeMember(spaceId, targetId, 'banned', { by: actorId, reason: why })
      const [b] = await db.select().from(spaceBans).where(and(eq(spaceBans.spaceId, spaceId), eq(spaceBans.userId, targetId)))
      return banView(b!)
    },

    async bans(spaceId: number, actorId: number): Promise<Ban[]> {
      const { member } = await requireMember(spaceId, actorId)
      authorize('member.ban', member, 'space', { role: null })
      const rows = await db.select().from(spaceBans).where(eq(spaceBans.spaceId, spaceId)).orderBy(spaceBans.createdAt, spaceBans.userId)
      return rows.map(banView)
    },

    async unban(spaceId: number, actorId: number, targetId: number): Promise<void> {
      const { member } = await requireMember(spaceId, actorId)
      authorize('member.ban', member, 'space', { role: null })
      const gone = await db.delete(spaceBans).where(and(eq(spaceBans.spaceId, spaceId), eq(spaceBans.userId, targetId))).returning()
      if (gone.length === 0) throw notFound('Ban')
    },

    async createChannel(spaceId: number, userId: number, input: CreateChannel): Promise<Room> {
      const { member } = await requireMember(spaceId, userId)
      authorize('space.manage', member, 'space')
      const name = cleanText('name', input.name, 1, 100)
      const description = input.description == null ? null : cleanText('description', input.description, 0, 1000)
      const row = await db.transaction(async (tx) => {
        await spaceRow(spaceId, tx, true)
        return newChannel(tx, spaceId, userId, name, description)
      })
      // every member's sockets follow the new channel: the space topic carries the join to each node
      events.toSpace(spaceId, frame('room.created', { room: await d.rooms.one(row, row.lastSeq) }), { joinRooms: [row.id] })
      return d.rooms.one(row, row.lastSeq)
    },
  }
}

export type SpacesService = ReturnType<typeof createSpacesService>
