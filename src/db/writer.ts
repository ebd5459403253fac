import { sql } from 'drizzle-orm'
import { AppError, notFound, notMember, unavailable, validation } from '../lib/errors'
import type { Logger } from '../lib/logger'
import { sleep } from '../lib/time'
import { messageColumns, messageFrom, type MessageRow } from '../chat/message-view'
import type { Database, Executor } from './client'
import type { AttachmentRow } from './schema'

/** One message to persist. The writer checks what only the database can tell. */
export type WriteRequest = {
  roomId: number
  senderId: number
  type: 'text' | 'image' | 'file' | 'system'
  /** already trimmed and length-checked */
  content: string
  replyToId?: number | null
  clientMsgId?: string | null
  attachment?: AttachmentRow | null
}

export type WriteResult =
  /** committed now */
  | { status: 'created'; row: MessageRow }
  /** a message with the same client_msg_id from the same sender in the room was committed before */
  | { status: 'duplicate'; row: MessageRow }

export type WriterOptions = {
  /** longest wait before a batch is flushed, ms; 0 = next tick */
  flushMs: number
  /** messages per transaction at most */
  batchMax: number
  /** messages waiting at most (queued and in flight); past it submit rejects with `unavailable` */
  queueMax: number
  /** how long a failing batch is retried before its senders get `unavailable`, ms */
  retryForMs?: number
  /**
   * batches in flight at once, on disjoint rooms (a room's messages commit in
   * submission order); 1 = one transaction at a time
   */
  lanes?: number
  log: Logger
}

export type WriterStats = {
  batches: number
  messages: number
  errors: number
  retries: number
  queued: number
  /** sum and count of batch commit durations, for averages */
  flushMsTotal: number
  /** sizes of the last batches (ring of 64) */
  lastBatchSizes: number[]
}

/** Batched group commit of messages: see DESIGN.md "How a message travels". */
export interface MessageWriter {
  /** Resolves once the message is committed (or found committed before); rejects with AppError. */
  submit(req: WriteRequest): Promise<WriteResult>
  readonly stats: WriterStats
  /** Resolves when everything accepted so far is committed or answered. */
  drain(): Promise<void>
  /** Refuses new messages, then drains. */
  close(): Promise<void>
}

type Pending = { req: WriteRequest; resolve: (r: WriteResult) => void; reject: (e: unknown) => void }

export function createMessageWriter(database: Database, opts: WriterOptions): MessageWriter {
  const retryForMs = opts.retryForMs ?? 10_000
  const maxInFlight = Math.max(1, opts.lanes ?? 1)
  let closed = false
  const stats: WriterStats = {
    batches: 0, messages: 0, errors: 0, retries: 0, queued: 0, flushMsTotal: 0, lastBatchSizes: [],
  }
  let queue: Pending[] = []
  /** rooms with a batch in flight: their later messages wait, so a room commits in submission order */
  const busyRooms = new Map<number, number>()
  /** parts (room id % lanes) with a batch in flight, under load */
  const busyParts = new Set<number>()
  const lastPart = new WeakMap<Pending[], number>()
  let inFlight = 0
  let inFlightMessages = 0
  let timer: ReturnType<typeof setTimeout> | null = null
  let idleWaiters: (() => void)[] = []

  const flushSoon = () => {
    if (timer) clearTimeout(timer)
    timer = null
    queueMicrotask(flush)
  }

  const schedule = () => {
    if (queue.length === 0 || inFlight >= maxInFlight) return
    if (queue.length >= opts.batchMax || opts.flushMs === 0) flushSoon()
    else if (!timer) {
      timer = setTimeout(() => {
        timer = null
        flush()
      }, opts.flushMs)
    }
  }

  /**
   * Takes the next batch: queued messages in order, up to BATCH_MAX, skipping
   * every room that has a batch in flight (and so every later message of it).
   * Under load (a full batch waiting) the rooms are split by id into `lanes`
   * parts, one batch each, so that batches can run side by side; when it is
   * quiet one batch takes every room, and fewer statements run.
   */
  function takeBatch(): Pending[] {
    const partitioned = maxInFlight > 1 && queue.length >= opts.batchMax
    const parts = partitioned ? [...Array(maxInFlight).keys()].filter((k) => !busyParts.has(k)) : [-1]
    // the first free part that has a message free to go (a part may hold none)
    for (const part of parts) {
      const batch: Pending[] = []
      const rest: Pending[] = []
      for (const p of queue) {
        const r = p.req.roomId
        if (batch.length < opts.batchMax && !busyRooms.has(r) && (part < 0 || r % maxInFlight === part)) batch.push(p)
        else rest.push(p)
      }
      if (batch.length === 0) continue
      queue = rest
      if (part >= 0) lastPart.set(batch, part)
      return batch
    }
    return []
  }

  /** Starts batches while fewer than `lanes` are in flight and queued messages are free to go. */
  function flush() {
    while (inFlight < maxInFlight && queue.length > 0) {
      const batch = takeBatch()
      if (batch.length === 0) return
      void commit(batch)
    }
  }

  async function commit(batch: Pending[]) {
    const rooms = new Set(batch.map((p) => p.req.roomId))
    for (const r of rooms) busyRooms.set(r, (busyRooms.get(r) ?? 0) + 1)
    const part = lastPart.get(batch)
    if (part !== undefined) busyParts.add(part)
    inFlight++
    inFlightMessages += batch.length
    const started = performance.now()
    const batchId = crypto.randomUUID()
    let attempt = 0
    for (;;) {
      try {
        const outcomes = await commitBatch(database, batch, batchId, attempt > 0)
        batch.forEach((p, i) => settle(p, outcomes[i]!))
        break
      } catch (err) {
        stats.errors++
        if (performance.now() - started > retryForMs) {
          opts.log.error('writer: batch failed, giving up', { size: batch.length, error: err })
          const e = unavailable('The database is unavailable; the message was not stored. Retry later.')
          for (const p of batch) p.reject(e)
          break
        }
        attempt++
        stats.retries++
        opts.log.warn('writer: batch failed, retrying', { size: batch.length, attempt, error: err })
        await sleep(Math.min(50 * 2 ** (attempt - 1), 1000))
      }
    }
    stats.batches++
    stats.flushMsTotal += performance.now() - started
    stats.lastBatchSizes.push(batch.length)
    if (stats.lastBatchSizes.length > 64) stats.lastBatchSizes.shift()
    for (const r of rooms) {
      const n = busyRooms.get(r)! - 1
      if (n === 0) busyRooms.delete(r)
      else busyRooms.set(r, n)
    }
    if (part !== undefined) busyParts.delete(part)
    inFlight--
    inFlightMessages -= batch.length
    if (stats.batches % 1000 === 0) {
      database.rows(sql`delete from writer_batches where created_at < now() - interval '1 hour'`).catch(() => {})
    }
    // those waited a whole commit already: go again at once
    if (queue.length > 0) flushSoon()
    else if (inFlight === 0) {
      const w = idleWaiters
      idleWaiters = []
      for (const f of w) f()
    }
  }

  function settle(p: Pending, o: Outcome) {
    if (o instanceof AppError) p.reject(o)
    else {
      if (o.status === 'created') stats.messages++
      p.resolve(o)
    }
  }

  return {
    get stats() {
      stats.queued = queue.length
      return stats
    },
    submit(req) {
      if (closed) return Promise.reject(unavailable('The server is shutting down; retry on another node.'))
      if (queue.length + inFlightMessages >= opts.queueMax) {
        return Promise.reject(unavailable('The server is overloaded: the write queue is full. Retry later.'))
      }
      return new Promise<WriteResult>((resolve, reject) => {
        queue.push({ req, resolve, reject })
        schedule()
      })
    },
    drain() {
      if (inFlight === 0 && queue.length === 0) return Promise.resolve()
      return new Promise<void>((r) => {
        idleWaiters.push(r)
        if (timer) flushSoon()
      })
    },
    async close() {
      closed = true
      await this.drain()
    },
  }
}

type Outcome = WriteResult | AppError

/**
 * A batch's outcome as writer_batches keeps it, written in the same
 * statement as the messages (so by room and seq, not id): created, a
 * duplicate of an earlier message, or an error.
 */
type StoredOutcome = { c: [number, number] } | { d: [number, number] } | { e: AppError['code']; m: string }

/**
 * One transaction for the whole batch, in two statements: the first locks
 * the batch's rooms in ascending id order (no deadlock between nodes) and
 * reads membership, senders and reply targets; the second inserts every
 * message, queues them for search, advances rooms.last_seq and the senders'
 * read marks, and records the outcome under `batchId`. `retry` = an earlier
 * attempt may have committed: its recorded outcome is the answer.
 */
async function commitBatch(database: Database, batch: Pending[], batchId: string, retry: boolean): Promise<Outcome[]> {
  try {
    // the common case in one statement; a client_msg_id seen before (rare) makes it fail as a whole
    if (!retry) return await writeBatchInOneStatement(database, batch, batchId)
    return await database.db.transaction((tx) => writeBatch(database, tx, batch, batchId, retry, false))
  } catch (err) {
    if (isClientMsgIdConflict(err)) return database.db.transaction((tx) => writeBatch(database, tx, batch, batchId, retry, true))
    if (err instanceof AlreadyCommitted) return err.outcomes
    if (err instanceof SeenBefore) return database.db.transaction((tx) => writeBatch(database, tx, batch, batchId, retry, true))
    throw err
  }
}

function isClientMsgIdConflict(err: unknown): boolean {
  const e = err as { code?: string; constraint_name?: string; constraint?: string; message?: string }
  return e?.code === '23505' && String(e.constraint_name ?? e.constraint ?? e.message).includes('messages_client_msg_key')
}

/** A message as the insert wrote it, in json_to_recordset's short names. */
type Written = { r: number; u: number; t: WriteRequest['type']; c: string; p: number | null; a: AttachmentRow | null; k: string | null }

/** The row of a message just inserted: what the batch sent, plus what the database decided. */
function insertedRow(
  x: Written, seq: number, id: number, createdAt: Date | string, sender: { nickname: string | null; avatar: string | null } | undefined,
): MessageRow {
  return {
    id, room_id: x.r, seq, sender_id: x.u, nickname: sender?.nickname ?? null, avatar_url: sender?.avatar ?? null,
    type: x.t, content: x.c, reply_to_id: x.p, attachment: x.a, client_msg_id: x.k, created_at: createdAt,
    edited_at: null, deleted_at: null,
  }
}

const errRoom = notFound('Room')
const errMember = notMember()
const errReply = validation('reply_to_id: no such message in this room.')

/**
 * The whole batch as one autocommitted statement (one round trip): lock the
 * rooms in id order, check room, membership and reply targets, number the
 * valid messages per room, insert them, queue them for search, advance
 * rooms.last_seq and the senders' read marks, record the outcome. A
 * client_msg_id seen in an earlier batch violates its unique index and the
 * statement fails whole, for the slower path to sort out.
 */
async function writeBatchInOneStatement(database: Database, batch: Pending[], batchId: string): Promise<Outcome[]> {
  const first = new Map<string, number>()
  const items = batch.map((p, i) => {
    const q = p.req
    let f: number | null = null
    if (q.clientMsgId) {
      const key = `${q.roomId}:${q.senderId}:${q.clientMsgId}`
      f = first.get(key) ?? null
      if (f === null) first.set(key, i)
    }
    return { i, f, r: q.roomId, u: q.senderId, t: q.type, c: q.content, p: q.replyToId ?? null, a: q.attachment ?? null, k: q.clientMsgId ?? null }
  })
  type Row = {
    i: number | null; f: number | null; room_ok: boolean; member_ok: boolean; s: number | null; id: number | null
    room_id: number | null; created_at: Date | string | null; nickname: string | null; avatar_url: string | null
  }
  const rows = await database.rowsPrepared<Row>(sql`
    with x as (select * from json_to_recordset(${JSON.stringify(items)}::json)
                 as x(i int, f int, r int8, u int8, t text, c text, p int8, a jsonb, k text)),
      locked as materialized (select id, last_seq from rooms where id in (select distinct r from x) order by id for update),
      chk as (
        select x.*, l.id is not null as room_ok, rm.user_id is not null as member_ok,
          (x.p is null or exists (select 1 from messages pm where pm.id = x.p and pm.room_id = x.r)) as reply_ok,
          u.nickname, u.avatar_url
        from x left join locked l on l.id = x.r
          left join room_members rm on rm.room_id = x.r and rm.user_id = x.u
          left join users u on u.id = x.u),
      ok as (
        select chk.i, chk.r, chk.u, l.last_seq + row_number() over (partition by chk.r order by chk.i) as s
        from chk join locked l on l.id = chk.r
        where chk.f is null and chk.room_ok and chk.member_ok and chk.reply_ok),
      m as (
        insert into messages (room_id, seq, sender_id, type, content, reply_to_id, attachment, client_msg_id)
        select x.r, ok.s, x.u, x.t, x.c, x.p, x.a, x.k from ok join x on x.i = ok.i
        returning id, room_id, seq, created_at),
      q as (insert into search_queue (message_id) select id from m),
      ru as (update rooms set last_seq = t.s, last_activity_at = now()
             from (select r, max(s) as s from ok group by r) t where rooms.id = t.r),
      rmu as (update room_members set last_read_seq = greatest(last_read_seq, t.s)
              from (select r, u, max(s) as s from ok group by r, u) t
              where room_members.room_id = t.r and room_members.user_id = t.u),
      b as (insert into writer_batches (id, outcome)
            select ${batchId}, coalesce(jsonb_agg(case
                when o.s is not null and c.f is null then jsonb_build_object('c', jsonb_build_array(c.r, o.s))
                when o.s is not null then jsonb_build_object('d', jsonb_build_array(c.r, o.s))
                when not c0.room_ok then jsonb_build_object('e', 'not_found', 'm', ${errRoom.message}::text)
                when not c0.member_ok then jsonb_build_object('e', 'not_member', 'm', ${errMember.message}::text)
                else jsonb_build_object('e', 'validation', 'm', ${errReply.message}::text) end order by c.i), '[]'::jsonb)
            from chk c join chk c0 on c0.i = coalesce(c.f, c.i) left join ok o on o.i = coalesce(c.f, c.i))
    select c.i, c.f, c.room_ok, c.member_ok, o.s, null::int8 as id, null::int8 as room_id, null::timestamptz as created_at,
      c.nickname, c.avatar_url
    from chk c left join ok o on o.i = c.i
    union all
    -- the inserted rows apart: joined in JS by (room, seq), as the planner cannot size a CTE
    select null, null, null, null, m.seq, m.id, m.room_id, m.created_at, null, null from m`)
  const inserted = new Map<string, Row>()
  const checked: Row[] = []
  for (const r of rows) {
    if (r.id !== null) inserted.set(`${r.room_id}:${r.s}`, r)
    else checked[Number(r.i)] = r
  }
  const byIndex = items.map((x, i): Outcome => {
    const r = checked[i]!
    const m = r.s === null ? undefined : inserted.get(`${x.r}:${r.s}`)
    if (r.f !== null || !m) {
      if (r.f !== null) return errRoom // replaced below by the first's outcome
      return !r.room_ok ? errRoom : !r.member_ok ? errMember : errReply
    }
    return { status: 'created', row: insertedRow(x, Number(r.s), Number(m.id), m.created_at!, { nickname: r.nickname, avatar: r.avatar_url }) }
  })
  return items.map((x, i) => {
    if (x.f === null) return byIndex[i]!
    // the same client_msg_id earlier in this batch: its outcome, as a duplicate
    const o = byIndex[x.f]!
    return o instanceof AppError ? o : { status: 'duplicate', row: o.row }
  })
}

class AlreadyCommitted {
  constructor(readonly outcomes: Outcome[]) {}
}

/** The insert met a client_msg_id committed before: roll back, go again looking them up first. */
class SeenBefore {}

const idList = (ids: number[]) => sql`(select value::int8 from json_array_elements_text(${JSON.stringify(ids)}::json))`

type Snapshot = {
  rooms: [number, number][]
  members: [number, number, string, string | null][]
  replies: [number, number][] | null
}

async function writeBatch(
  database: Database, ex: Executor, batch: Pending[], batchId: string, retry: boolean, lookUp: boolean,
): Promise<Outcome[]> {
  const roomIds = [...new Set(batch.map((p) => p.req.roomId))].sort((a, b) => a - b)
  const pairs = [...new Set(batch.map((p) => `${p.req.roomId}:${p.req.senderId}`))].map((k) => {
    const [r, u] = k.split(':')
    return { r: Number(r), u: Number(u) }
  })
  const replyIds = [...new Set(batch.map((p) => p.req.replyToId).filter((x): x is number => x != null))]
  // the rooms' row locks first (materialized, in id order), then what the checks need, in one round trip
  const [snap] = await database.rows<Snapshot>(
    sql`with locked as materialized (select id, last_seq from rooms where id in ${idList(roomIds)} order by id for update)
        select
          (select coalesce(json_agg(json_build_array(id, last_seq)), '[]') from locked) as rooms,
          (select coalesce(json_agg(json_build_array(rm.room_id, rm.user_id, u.nickname, u.avatar_url)), '[]')
             from room_members rm join users u on u.id = rm.user_id
             where rm.room_id in (select id from locked)
               and (rm.room_id, rm.user_id) in (select x.r, x.u from json_to_recordset(${JSON.stringify(pairs)}::json) as x(r int8, u int8))
          ) as members,
          ${replyIds.length === 0 ? sql`null` : sql`(select coalesce(json_agg(json_build_array(id, room_id)), '[]') from messages where id in ${idList(replyIds)})`} as replies`,
    ex,
  )
  const parse = <T>(v: T | string): T => (typeof v === 'string' ? (JSON.parse(v) as T) : v)
  const lastSeq = new Map(parse(snap!.rooms).map(([id, seq]) => [Number(id), Number(seq)]))
  const members = parse(snap!.members)
  const isMember = new Set(members.map(([r, u]) => `${r}:${u}`))
  const profile = new Map(members.map(([, u, nickname, avatar]) => [Number(u), { nickname, avatar }]))
  const replyRoom = new Map((snap!.replies === null ? [] : parse(snap!.replies)).map(([id, r]) => [Number(id), Number(r)]))

  if (retry) {
    // its own statement: a fresh snapshot, taken after the locks waited for an earlier attempt still running
    const [prior] = await database.rows<{ outcome: StoredOutcome[] | string }>(
      sql`select outcome from writer_batches where id = ${batchId}`,
      ex,
    )
    if (prior) throw new AlreadyCommitted(await replay(database, ex, parse(prior.outcome)))
  }

  const existing = new Map<string, MessageRow>()
  const keyed = batch.filter((p) => p.req.clientMsgId)
  if (lookUp && keyed.length > 0) {
    const keys = keyed.map((p) => ({ r: p.req.roomId, u: p.req.senderId, c: p.req.clientMsgId }))
    const rows = await database.rows<MessageRow>(
      sql`select ${messageColumns} from ${messageFrom}
          where (m.room_id, m.sender_id, m.client_msg_id) in
            (select x.r, x.u, x.c from json_to_recordset(${JSON.stringify(keys)}::json) as x(r int8, u int8, c text))`,
      ex,
    )
    for (const r of rows) existing.set(`${r.room_id}:${r.sender_id}:${r.client_msg_id}`, r)
  }

  /** one row of the multi-row insert, as json_to_recordset reads it */
  type Insert = Written & { s: number }
  const inserts: Insert[] = []
  const outcomes: (Outcome | { index: number })[] = []
  const firstInBatch = new Map<string, number>()
  const readMarks = new Map<string, { r: number; u: number; s: number }>()
  for (const p of batch) {
    const q = p.req
    if (!lastSeq.has(q.roomId)) {
      outcomes.push(notFound('Room'))
      continue
    }
    if (!isMember.has(`${q.roomId}:${q.senderId}`)) {
      outcomes.push(notMember())
      continue
    }
    if (q.replyToId != null && replyRoom.get(q.replyToId) !== q.roomId) {
      outcomes.push(validation('reply_to_id: no such message in this room.'))
      continue
    }
    if (q.clientMsgId) {
      const key = `${q.roomId}:${q.senderId}:${q.clientMsgId}`
      const prior = existing.get(key)
      if (prior) {
        outcomes.push({ status: 'duplicate', row: prior })
        continue
      }
      const first = firstInBatch.get(key)
      if (first !== undefined) {
        // index < 0: the same client_msg_id earlier in this batch
        outcomes.push({ index: -1 - first })
        continue
      }
      firstInBatch.set(key, inserts.length)
    }
    const seq = lastSeq.get(q.roomId)! + 1
    lastSeq.set(q.roomId, seq)
    readMarks.set(`${q.roomId}:${q.senderId}`, { r: q.roomId, u: q.senderId, s: seq })
    outcomes.push({ index: inserts.length })
    inserts.push({
      r: q.roomId, s: seq, u: q.senderId, t: q.type, c: q.content,
      p: q.replyToId ?? null, a: q.attachment ?? null, k: q.clientMsgId ?? null,
    })
  }

  const stored: StoredOutcome[] = outcomes.map((o) => {
    if (o instanceof AppError) return { e: o.code, m: o.message }
    if ('status' in o) return { d: [o.row.room_id, o.row.seq] }
    const x = inserts[o.index >= 0 ? o.index : -1 - o.index]!
    return o.index >= 0 ? { c: [x.r, x.s] } : { d: [x.r, x.s] }
  })
  const advanced = [...lastSeq].map(([r, s]) => ({ r, s }))
  // one statement writes everything; only what the database decides (id, created_at) comes back
  const inserted = await database.rows<{ id: number; room_id: number; seq: number; created_at: Date | string }>(
    sql`with m as (
          insert into messages (room_id, seq, sender_id, type, content, reply_to_id, attachment, client_msg_id)
          select x.r, x.s, x.u, x.t, x.c, x.p, x.a, x.k
          from json_to_recordset(${JSON.stringify(inserts)}::json)
            as x(r int8, s int8, u int8, t text, c text, p int8, a jsonb, k text)
          on conflict (room_id, sender_id, client_msg_id) where client_msg_id is not null do nothing
          returning id, room_id, seq, created_at),
        q as (insert into search_queue (message_id) select id from m),
        r as (update rooms set last_seq = x.s, last_activity_at = now()
              from json_to_recordset(${JSON.stringify(advanced)}::json) as x(r int8, s int8)
              where rooms.id = x.r and rooms.last_seq < x.s),
        rm as (update room_members set last_read_seq = greatest(last_read_seq, x.s)
               from json_to_recordset(${JSON.stringify([...readMarks.values()])}::json) as x(r int8, u int8, s int8)
               where room_members.room_id = x.r and room_members.user_id = x.u),
        b as (insert into writer_batches (id, outcome) values (${batchId}, ${JSON.stringify(stored)}::jsonb))
        select id, room_id, seq, created_at from m`,
    ex,
  )
  if (inserted.length < inserts.length) throw new SeenBefore()
  const bySeq = new Map(inserted.map((r) => [`${r.room_id}:${r.seq}`, r]))
  const rowAt = (i: number): MessageRow => {
    const x = inserts[i]!
    const got = bySeq.get(`${x.r}:${x.s}`)!
    return insertedRow(x, x.s, got.id, got.created_at, profile.get(x.u))
  }
  return outcomes.map((o): Outcome => {
    if (o instanceof AppError || 'status' in o) return o
    return o.index >= 0 ? { status: 'created', row: rowAt(o.index) } : { status: 'duplicate', row: rowAt(-1 - o.index) }
  })
}

/** Rebuilds a committed batch's outcomes from writer_batches. */
async function replay(database: Database, ex: Executor, stored: StoredOutcome[]): Promise<Outcome[]> {
  const keys = stored.flatMap((o) => ('c' in o ? [o.c] : 'd' in o ? [o.d] : [])).map(([r, s]) => ({ r, s }))
  const rows = keys.length === 0 ? [] : await database.rows<MessageRow>(
    sql`select ${messageColumns} from ${messageFrom}
        where (m.room_id, m.seq) in (select x.r, x.s from json_to_recordset(${JSON.stringify(keys)}::json) as x(r int8, s int8))`,
    ex,
  )
  const byKey = new Map(rows.map((r) => [`${r.room_id}:${r.seq}`, r]))
  return stored.map((o): Outcome => {
    if ('e' in o) return new AppError(o.e, o.m)
    const [r, s] = 'c' in o ? o.c : o.d
    const row = byKey.get(`${r}:${s}`)
    if (!row) return notFound('Message')
    return { status: 'c' in o ? 'created' : 'duplicate', row }
  })
}
