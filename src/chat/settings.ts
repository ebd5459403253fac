import { and, eq, isNotNull, sql } from 'drizzle-orm'
import type { Database } from '../db/client'
import { roomMembers, rooms } from '../db/schema'
import type { Logger } from '../lib/logger'
import { unpaced, type Pacer } from '../lib/pace'
import type { FilesService } from './files'
import { authorize } from './policy'
import type { RoomsService } from './rooms'

export type RoomSettings = { notifications: boolean; read_receipts: boolean; retention_days: number | null }

/** Most messages deleted per retention statement; a paced sweep sizes each to BACKGROUND_SLICE_MS. */
export const RETENTION_BATCH = 500

export function createSettingsService(database: Database, roomsService: RoomsService, files: FilesService, log: Logger, pace: Pacer = unpaced) {
  const { db } = database

  async function get(roomId: number, userId: number): Promise<RoomSettings> {
    const { room, member } = await roomsService.requireMember(roomId, userId)
    return { notifications: member.notifications, read_receipts: member.readReceipts, retention_days: room.retentionDays }
  }

  return {
    get,

    /** `notifications`, `read_receipts`: the caller's own; `retention_days`: the room's, owner/admin only. */
    async update(roomId: number, userId: number, patch: Partial<RoomSettings>): Promise<RoomSettings> {
      const { room, member } = await roomsService.requireMember(roomId, userId)
      if (patch.retention_days !== undefined) {
        authorize('settings.retention', member, room.type)
        await db.update(rooms).set({ retentionDays: patch.retention_days, updatedAt: new Date() }).where(eq(rooms.id, roomId))
      }
      await roomsService.ensureMarkRow(room, member)
      const own: Partial<typeof roomMembers.$inferInsert> = {}
      if (patch.notifications !== undefined) own.notifications = patch.notifications
      if (patch.read_receipts !== undefined) own.readReceipts = patch.read_receipts
      if (Object.keys(own).length > 0) {
        await db.update(roomMembers).set(own).where(and(eq(roomMembers.roomId, roomId), eq(roomMembers.userId, userId)))
      }
      return get(roomId, userId)
    },

    /**
     * Deletes messages older than their room's retention, at most `batch` a
     * statement (sized to the pacer's slice), until none is left; each statement after a turn of the pacer
     * (it defers to a busy writer, and pauses after a statement that deleted rows). Returns
     * how many went.
     */
    async sweepRetention(batch = RETENTION_BATCH): Promise<number> {
      const withRetention = await db.select({ id: rooms.id, days: rooms.retentionDays }).from(rooms).where(isNotNull(rooms.retentionDays))
      let total = 0
      // a pause only after a statement that deleted rows: many rooms with nothing expired cost no sleeps
      let deleted = 0
      const sizer = pace.sizer(batch)
      for (const r of withRetention) {
        for (;;) {
          await pace.turn(deleted === 0)
          const size = sizer.size
          // expired messages and their files' rows in one statement; the bytes go after
          const gone = await sizer.run(() => database.rows<{ id: number; storage_key: string | null }>(
            sql`with m as (
                  delete from messages where id in (
                    select id from messages where room_id = ${r.id} and created_at < now() - make_interval(days => ${r.days}::int)
                    order by seq limit ${size})
                  returning id, attachment->>'key' as file_id),
                f as (delete from files where id in (select file_id from m where file_id is not null) returning id, storage_key)
                select m.id, f.storage_key from m left join f on f.id = m.file_id`,
          ))
          await files.deleteBytes(gone.flatMap((g) => (g.storage_key ? [g.storage_key] : [])))
          total += gone.length
          deleted = gone.length
          if (gone.length < size) break
        }
      }
      if (total > 0) log.info('retention: deleted expired messages', { count: total })
      return total
    },
  }
}

export type SettingsService = ReturnType<typeof createSettingsService>
