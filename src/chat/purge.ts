import { sql } from 'drizzle-orm'
import type { Database } from '../db/client'
import type { Logger } from '../lib/logger'
import { unpaced, type Pacer } from '../lib/pace'
import type { FilesService } from './files'

/** Most rows deleted per purge statement; a paced purge sizes each to BACKGROUND_SLICE_MS. */
export const PURGE_BATCH = 500

/**
 * Deletes what deleted rooms leave behind (their messages and files), in
 * bounded batches off the request path: deleting a room or a whole space
 * answers at once, and no transaction holds thousands of rows. Every node runs
 * it; batches from two nodes at once only find less to do. Each statement
 * waits its turn of the pacer (it yields to a busy writer).
 */
export function createRoomPurger(d: { database: Database; files: FilesService; log: Logger; batch?: number; pace?: Pacer }) {
  const batch = d.batch ?? PURGE_BATCH
  const pace = d.pace ?? unpaced
  let running: Promise<number> | null = null
  let again = false

  /** One pass over every queued room; returns the rows it deleted. */
  async function pass(): Promise<number> {
    const queued = await d.database.rows<{ room_id: number }>(sql`select room_id from room_purges order by created_at limit 100`)
    let total = 0
    /** rows the last statement deleted: a pause follows only work done */
    let deleted = 0
    /** before each statement: defer to a busy writer, pause after one that deleted rows */
    const turn = () => pace.turn(deleted === 0)
    const sizer = pace.sizer(batch)
    for (const { room_id: roomId } of queued) {
      for (;;) {
        await turn()
        const size = sizer.size
        const gone = await sizer.run(() => d.database.rows<{ storage_key: string }>(
          sql`delete from files where id in (select id from files where room_id = ${roomId} limit ${size}) returning storage_key`,
        ))
        await d.files.deleteBytes(gone.map((g) => g.storage_key))
        total += gone.length
        deleted = gone.length
        if (gone.length < size) break
      }
      for (;;) {
        await turn()
        const size = sizer.size
        // reactions and the search copy go with their message (foreign keys)
        const n = (await sizer.run(() => d.database.rows<{ id: number }>(
          sql`delete from messages where id in (select id from messages where room_id = ${roomId} limit ${size}) returning id`,
        ))).length
        total += n
        deleted = n
        if (n < size) break
      }
      await d.database.rows(sql`delete from room_purges where room_id = ${roomId}`)
    }
    if (total > 0) d.log.info('purged deleted rooms', { rooms: queued.length, rows: total })
    return total
  }

  return {
    /** Resolves when no pass is running (shutdown). */
    async settle(): Promise<void> {
      await running?.catch(() => {})
    },

    /** Runs a pass now (or once more after the one running); resolves with the rows it deleted. */
    kick(): Promise<number> {
      if (running) {
        again = true
        return running
      }
      running = (async () => {
        let total = 0
        do {
          again = false
          total += await pass()
        } while (again)
        return total
      })().finally(() => {
        running = null
      })
      return running
    },
  }
}

export type RoomPurger = ReturnType<typeof createRoomPurger>
