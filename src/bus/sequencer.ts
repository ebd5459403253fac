/** A committed message.created frame with its room seq. */
export type SeqFrame = { seq: number; frame: string }

/**
 * Reads committed messages of a room with after < seq <= upto, ascending, as
 * frames: the first page of them (the reader may cap how many); callers page
 * on from the last seq returned until a page comes back empty.
 */
export type FetchRange = (roomId: number, after: number, upto: number) => Promise<SeqFrame[]>

/**
 * Puts one room's message.created events in seq order on this node. Later
 * events wait until the gap before them is filled; after `waitMs` the gap is
 * read from the database. Each seq is emitted once.
 */
export class RoomSequencer {
  /** last seq emitted; -1 until `start` */
  delivered = -1
  private pending = new Map<number, string>()
  private timer: ReturnType<typeof setTimeout> | null = null
  private filling: Promise<void> | null = null
  private stopped = false

  constructor(
    readonly roomId: number,
    private readonly emit: (frame: string, seq: number) => void,
    private readonly fetch: FetchRange,
    private readonly waitMs: number,
    private readonly onError: (err: unknown) => void = () => {},
  ) {}

  /** Sets the starting point: events up to `lastSeq` are already in the database. */
  start(lastSeq: number) {
    this.delivered = Math.max(this.delivered, lastSeq)
    this.drain()
  }

  get started() {
    return this.delivered >= 0
  }

  push(seq: number, frame: string) {
    if (this.stopped || seq <= this.delivered || this.pending.has(seq)) return
    this.pending.set(seq, frame)
    if (this.started) this.drain()
  }

  /** Emits everything up to `upto` at once, from the database where missing. */
  async catchUp(upto: number): Promise<void> {
    for (let attempt = 0; attempt < 3 && upto > this.delivered && !this.stopped; attempt++) {
      await (this.filling ?? this.fill(upto))
    }
  }

  stop() {
    this.stopped = true
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
    this.pending.clear()
  }

  private drain() {
    for (;;) {
      const next = this.delivered + 1
      const frame = this.pending.get(next)
      if (frame === undefined) break
      this.pending.delete(next)
      this.delivered = next
      this.emit(frame, next)
    }
    for (const s of this.pending.keys()) if (s <= this.delivered) this.pending.delete(s)
    if (this.pending.size > 0 && !this.timer && !this.filling) {
      this.timer = setTimeout(() => {
        this.timer = null
        void this.fill(Math.min(...this.pending.keys()) - 1)
      }, this.waitMs)
    }
  }

  private fill(upto: number): Promise<void> {
    if (this.filling) return this.filling
    if (this.stopped || upto <= this.delivered) return Promise.resolve()
    this.filling = this.fillOnce(upto)
    return this.filling
  }

  private async fillOnce(upto: number): Promise<void> {
    try {
      // page by page: a reader returns at most a page (1000 rows), and everything up to `upto` is due
      for (let after = this.delivered; after < upto; ) {
        const rows = await this.fetch(this.roomId, after, upto)
        if (this.stopped) return
        for (const r of rows) {
          if (r.seq <= this.delivered) continue
          this.pending.delete(r.seq)
          this.delivered = r.seq
          this.emit(r.frame, r.seq)
        }
        if (rows.length === 0) break
        after = Math.max(this.delivered, rows[rows.length - 1]!.seq)
      }
      // a seq missing from the database (expired, or never to come) is skipped
      this.delivered = Math.max(this.delivered, upto)
    } catch (err) {
      this.onError(err)
    } finally {
      this.filling = null
    }
    if (!this.stopped) this.drain()
  }
}
