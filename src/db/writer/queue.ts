/**
 * The writer's waiting line and its lanes, without timers or a database:
 * which queued messages may go next so that a room's messages commit in
 * submission order and batches in flight never share a room.
 */

/** What the queue needs of a message: its room. */
export type Queued = { req: { roomId: number } }

/** Messages taken together into one transaction; hand it back with `release` once answered. */
export type Batch<T extends Queued> = {
  readonly items: T[]
  readonly rooms: ReadonlySet<number>
  /** lane part (room id % lanes) it was taken for under load; null = every room */
  readonly part: number | null
}

export type BatchQueueOptions = {
  /** messages per batch at most */
  batchMax: number
  /** batches in flight at once; 1 = one at a time */
  lanes: number
}

export type BatchQueue<T extends Queued> = {
  /** messages waiting, not yet in a batch */
  readonly waiting: number
  /** batches taken and not yet released */
  readonly inFlight: number
  /** messages in those batches */
  readonly inFlightMessages: number
  push(item: T): void
  /**
   * The next batch: queued messages in order, up to `batchMax`, skipping every
   * room that has a batch in flight (and so every later message of it). Under
   * load (a full batch waiting) the rooms are split by id into `lanes` parts,
   * one batch each, so that batches can run side by side; when it is quiet one
   * batch takes every room, and fewer statements run. null = nothing may go now
   * (every lane busy, or every waiting message is in a busy room).
   */
  take(): Batch<T> | null
  /** The batch is answered: its rooms and lane are free again. */
  release(batch: Batch<T>): void
  /** Removes and returns every waiting message (not those in flight). */
  clear(): T[]
}

export function createBatchQueue<T extends Queued>(opts: BatchQueueOptions): BatchQueue<T> {
  const lanes = Math.max(1, opts.lanes)
  let queue: T[] = []
  /** rooms with a batch in flight, and how many */
  const busyRooms = new Map<number, number>()
  /** lane parts with a batch in flight, under load */
  const busyParts = new Set<number>()
  let inFlight = 0
  let inFlightMessages = 0

  function pick(part: number | null): T[] {
    const batch: T[] = []
    const rest: T[] = []
    for (const item of queue) {
      const room = item.req.roomId
      if (batch.length < opts.batchMax && !busyRooms.has(room) && (part === null || room % lanes === part)) batch.push(item)
      else rest.push(item)
    }
    if (batch.length > 0) queue = rest
    return batch
  }

  return {
    get waiting() {
      return queue.length
    },
    get inFlight() {
      return inFlight
    },
    get inFlightMessages() {
      return inFlightMessages
    },
    push(item) {
      queue.push(item)
    },
    take() {
      if (inFlight >= lanes || queue.length === 0) return null
      const partitioned = lanes > 1 && queue.length >= opts.batchMax
      const parts: (number | null)[] = partitioned ? [...Array(lanes).keys()].filter((k) => !busyParts.has(k)) : [null]
      // the first free part that has a message free to go (a part may hold none)
      for (const part of parts) {
        const items = pick(part)
        if (items.length === 0) continue
        const rooms = new Set(items.map((p) => p.req.roomId))
        for (const r of rooms) busyRooms.set(r, (busyRooms.get(r) ?? 0) + 1)
        if (part !== null) busyParts.add(part)
        inFlight++
        inFlightMessages += items.length
        return { items, rooms, part }
      }
      return null
    },
    release(batch) {
      for (const r of batch.rooms) {
        const n = busyRooms.get(r)! - 1
        if (n === 0) busyRooms.delete(r)
        else busyRooms.set(r, n)
      }
      if (batch.part !== null) busyParts.delete(batch.part)
      inFlight--
      inFlightMessages -= batch.items.length
    },
    clear() {
      const all = queue
      queue = []
      return all
    },
  }
}
