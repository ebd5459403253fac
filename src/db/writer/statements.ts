/**
 * The writer's SQL. Both paths (one statement for the common case, a
 * transaction for retries and client_msg_ids seen before) insert rows built
 * from ONE description, `writtenColumns`: adding a column to messages is one
 * entry there (plus MessageRow and messageColumns in ../message-row.ts).
 */
import { sql, type SQL } from 'drizzle-orm'
import type { Database, Executor } from '../client'
import { idList, jsonColumn, jsonRecords } from '../sql'
import { messageColumns, messageFrom, type MessageRow } from '../message-row'
import {
  duplicateOf, fastPathOutcomes, insertedRow, replay, toStored, errMember, errReply, errRoom, type CheckedRow, type StoredOutcome,
} from './outcome'
import type { Outcome, Pending, WriteRequest } from './types'

/** A column the writer fills from the request: its Postgres type (as json_to_recordset reads it) and value. */
type WrittenColumn<K extends keyof MessageRow> = { pgType: 'int8' | 'text' | 'jsonb'; of: (q: WriteRequest) => MessageRow[K] }

/**
 * The message columns a request fills, in insert order; the JSON keys are the
 * column names. Both insert paths and `Written` derive from this: a new
 * column of messages is one entry here, beside its MessageRow field.
 */
export const writtenColumns = {
  room_id: { pgType: 'int8', of: (q) => q.roomId },
  sender_id: { pgType: 'int8', of: (q) => q.senderId },
  type: { pgType: 'text', of: (q) => q.type },
  content: { pgType: 'text', of: (q) => q.content },
  reply_to_id: { pgType: 'int8', of: (q) => q.replyToId ?? null },
  attachment: { pgType: 'jsonb', of: (q) => q.attachment ?? null },
  client_msg_id: { pgType: 'text', of: (q) => q.clientMsgId ?? null },
} satisfies { [K in keyof MessageRow]?: WrittenColumn<K> }

/** The columns of a message the request decides (the database decides id, seq, created_at). */
export type Written = { [K in keyof typeof writtenColumns]: MessageRow[K] }

const columnNames = Object.keys(writtenColumns) as (keyof Written)[]

/** The request as the row it writes. */
export function written(q: WriteRequest): Written {
  const row: Partial<Record<keyof Written, unknown>> = {}
  for (const name of columnNames) row[name] = (writtenColumns[name] as WrittenColumn<typeof name>).of(q)
  return row as Written
}

/** `name type, …` for `json_to_recordset(…) as x(…)`, with extra leading columns. */
const recordset = (extra: string) => sql.raw([extra, ...columnNames.map((c) => `${c} ${writtenColumns[c].pgType}`)].join(', '))
/** `seq, room_id, …`: the insert's column list. */
const insertColumns = sql.raw(['seq', ...columnNames].join(', '))
/** `x.room_id, …`: the written values of recordset `x`. */
const insertValues = sql.raw(columnNames.map((c) => `x.${c}`).join(', '))

/**
 * Batches of at most this many messages take the index-probe form of the
 * one-statement path. json_to_recordset is estimated at 100 rows, so the
 * planner hashes room_members, users and rooms whole (a sequential scan each,
 * 4 ms at 20,000 memberships); a `limit` in the statement text tells it the
 * batch is small, and it probes the primary keys instead. At 20,000
 * memberships the planner keeps probing up to a limit of 64 and hashes from
 * 128 on, and probing costs Postgres about half the CPU of the set-based plan
 * at 16 to 32 messages and a third less at 64 (docs/architecture.md, "The
 * writer's cost"). Larger batches keep the set-based plan, which the planner
 * would choose for them anyway. Same statement otherwise, so the same
 * semantics: only the plan differs.
 */
export const PROBE_BATCH_MAX = 64
const probeLimit = sql.raw(` limit ${PROBE_BATCH_MAX}`)

/**
 * The stored code of a refused message (StoredOutcome), in the order the
 * checks run: the room, then membership, then the reply target. One
 * description for every statement form that records outcomes.
 */
const refusedCode = (roomOk: SQL, memberOk: SQL) =>
  sql`case when not ${roomOk} then ${errRoom.code}::text when not ${memberOk} then ${errMember.code}::text else ${errReply.code}::text end`

/** One item of the one-statement path: the row, its place in the batch, the first of its client_msg_id. */
type FastItem = Written & { item: number; first_item: number | null }

/**
 * The forms of the one-statement path; same semantics, different plans.
 * `one`: a batch of one message, its values as scalar parameters (no JSON
 * recordset, no window, no aggregates): the common case at idle.
 * `probe`: at most PROBE_BATCH_MAX messages, the recordset with a `limit`.
 * `set`: any size, the set-based plan.
 */
export type StatementForm = 'one' | 'probe' | 'set'

/** The form the writer uses for a batch of `n` messages. */
export const formFor = (n: number): StatementForm => (n === 1 ? 'one' : n <= PROBE_BATCH_MAX ? 'probe' : 'set')

/** A placeholder, filled per call (the statements below are compiled once per database). */
const ph = (name: string) => sql.placeholder(name)

/**
 * The batch statement, `probe` or `set` form: the batch's rows travel as one
 * JSON parameter (`items`), its id as `batch_id`.
 */
const batchStatement = (probe: boolean) => sql`
    with x as (select * from json_to_recordset(${ph('items')}::json) as x(${recordset('item int, first_item int')})${probe ? probeLimit : sql``}),
      locked as materialized (select id, last_seq, space_id from rooms where id in (select distinct room_id from x) order by id for update),
      chk as (
        select x.item, x.first_item, x.room_id, x.sender_id, l.id is not null as room_ok,
          -- a channel's audience is its space's members; its room_members rows only hold read marks
          case when l.space_id is null then rm.user_id is not null else sm.user_id is not null end as member_ok,
          (x.reply_to_id is null or exists (select 1 from messages pm where pm.id = x.reply_to_id and pm.room_id = x.room_id)) as reply_ok
        from x left join locked l on l.id = x.room_id
          left join room_members rm on rm.room_id = x.room_id and rm.user_id = x.sender_id
          left join space_members sm on sm.space_id = l.space_id and sm.user_id = x.sender_id),
      ok as (
        select chk.item, chk.room_id, chk.sender_id, l.last_seq + row_number() over (partition by chk.room_id order by chk.item) as seq
        from chk join locked l on l.id = chk.room_id
        where chk.first_item is null and chk.room_ok and chk.member_ok and chk.reply_ok),
      m as (
        insert into messages (${insertColumns})
        select ok.seq, ${insertValues} from ok join x on x.item = ok.item
        returning id, room_id, seq, created_at),
      q as (insert into search_queue (message_id) select id from m),
      ru as (update rooms set last_seq = t.seq, last_activity_at = now()
             from (select room_id, max(seq) as seq from ok group by room_id) t where rooms.id = t.room_id),
      -- the sender's read mark moves to their message (a channel's read-mark row is created on first need)
      rmu as (insert into room_members (room_id, user_id, last_read_seq)
              select room_id, sender_id, max(seq) from ok group by room_id, sender_id
              on conflict (room_id, user_id) do update set last_read_seq = greatest(room_members.last_read_seq, excluded.last_read_seq)),
      -- the outcome as text, one number or error code per message (StoredOutcome): far cheaper than jsonb built per row
      b as (insert into writer_batches (id, outcome)
            select ${ph('batch_id')}, ('[' || coalesce(string_agg(case
                when o.seq is not null and c.first_item is null then o.seq::text
                when o.seq is not null then (-o.seq)::text
                else to_json(${refusedCode(sql`c0.room_ok`, sql`c0.member_ok`)})::text end, ',' order by c.item), '') || ']')::jsonb
            from chk c join chk c0 on c0.item = coalesce(c.first_item, c.item) left join ok o on o.item = coalesce(c.first_item, c.item))
    -- only what the client cannot tell itself (CheckedRow): the refused messages, the inserted rows (matched
    -- in JS by room and seq order, as the planner cannot size a CTE for a join), the senders' profiles
    select c.item, c.room_ok, c.member_ok, null::int8 as id, null::int8 as room_id, null::int8 as seq,
      null::timestamptz as created_at, null::text as nickname, null::text as avatar_url
    from chk c where c.first_item is null and not (c.room_ok and c.member_ok and c.reply_ok)
    union all
    select null, null, null, m.id, m.room_id, m.seq, m.created_at, null, null from m
    union all
    select null, null, null, u.id, null, null, null, u.nickname, u.avatar_url
    from (select distinct sender_id from ok) s join users u on u.id = s.sender_id`

/** `$1::int8, $2::text, …`: one request's written values as placeholders, in `insertColumns` order (jsonb travels as text). */
const oneValues = sql.join(columnNames.map((c) =>
  writtenColumns[c].pgType === 'jsonb' ? sql`${ph(c)}::text::jsonb` : sql`${ph(c)}::${sql.raw(writtenColumns[c].pgType)}`), sql`, `)

/**
 * The `one` form: one message, its written columns as placeholders named
 * after them (`OneValues`), the batch id as `batch_id`.
 */
const oneStatement = sql`
    with c as materialized (
        select l.last_seq + 1 as seq,
          -- a channel's audience is its space's members; its room_members rows only hold read marks
          case when l.space_id is null then exists (select 1 from room_members rm where rm.room_id = l.id and rm.user_id = ${ph('sender_id')}::int8)
            else exists (select 1 from space_members sm where sm.space_id = l.space_id and sm.user_id = ${ph('sender_id')}::int8) end as member_ok,
          (${ph('reply_to_id')}::int8 is null or exists (select 1 from messages pm where pm.id = ${ph('reply_to_id')}::int8 and pm.room_id = l.id)) as reply_ok
        from rooms l where l.id = ${ph('room_id')}::int8 for update),
      m as (
        insert into messages (${insertColumns})
        select c.seq, ${oneValues} from c where c.member_ok and c.reply_ok
        returning id, room_id, sender_id, seq, created_at),
      q as (insert into search_queue (message_id) select id from m),
      ru as (update rooms set last_seq = m.seq, last_activity_at = now() from m where rooms.id = ${ph('room_id')}::int8),
      -- the sender's read mark moves to their message (a channel's read-mark row is created on first need)
      rmu as (insert into room_members (room_id, user_id, last_read_seq)
              select m.room_id, m.sender_id, m.seq from m
              on conflict (room_id, user_id) do update set last_read_seq = greatest(room_members.last_read_seq, excluded.last_read_seq)),
      b as (insert into writer_batches (id, outcome)
            select ${ph('batch_id')}, jsonb_build_array(case
                when m.seq is not null then to_jsonb(m.seq)
                else to_jsonb(${refusedCode(sql`c.seq is not null`, sql`c.member_ok`)}) end)
            from (select) one left join c on true left join m on true)
    select c.seq is not null as room_ok, c.member_ok, m.id, m.seq, m.created_at, u.nickname, u.avatar_url
    from (select) one left join c on true left join m on true left join users u on u.id = ${ph('sender_id')}::int8`

/** What the one-message statement answers: its checks, and the inserted row's id and created_at when it went in. */
type OneRow = {
  room_ok: boolean
  member_ok: boolean | null
  id: number | null
  seq: number | null
  created_at: Date | string | null
  nickname: string | null
  avatar_url: string | null
}

/** The values of the `one` form: the written columns (jsonb as its text) and the batch id. */
type OneValues = { [K in keyof Written]: Written[K] | string } & { batch_id: string }

/** The one-statement path's forms, compiled once per database: building the text per call cost more than the values. */
type Compiled = {
  one: (v: OneValues) => Promise<OneRow[]>
  probe: (v: { items: string; batch_id: string }) => Promise<CheckedRow[]>
  set: (v: { items: string; batch_id: string }) => Promise<CheckedRow[]>
}
const compiledFor = new WeakMap<Database, Compiled>()

function compiled(database: Database): Compiled {
  let c = compiledFor.get(database)
  if (!c) {
    c = {
      one: database.compile<OneRow, OneValues>(oneStatement),
      probe: database.compile<CheckedRow, { items: string; batch_id: string }>(batchStatement(true)),
      set: database.compile<CheckedRow, { items: string; batch_id: string }>(batchStatement(false)),
    }
    compiledFor.set(database, c)
  }
  return c
}

/**
 * The whole batch as one autocommitted statement (one round trip): lock the
 * rooms in id order, check room, membership and reply targets, number the
 * valid messages per room, insert them, queue them for search, advance
 * rooms.last_seq and the senders' read marks, record the outcome. A
 * client_msg_id seen in an earlier batch violates its unique index and the
 * statement fails whole, for `writeBatch` to sort out.
 */
export async function writeBatchInOneStatement(
  database: Database, batch: Pending[], batchId: string, form: StatementForm = formFor(batch.length),
): Promise<Outcome[]> {
  if (form === 'one') {
    if (batch.length !== 1) throw new Error('writer: the one-message statement takes exactly one message')
    return [await writeOneInOneStatement(database, batch[0]!.req, batchId)]
  }
  // the limit must never cut a batch short
  if (form === 'probe' && batch.length > PROBE_BATCH_MAX) throw new Error(`writer: the index-probe statement takes at most ${PROBE_BATCH_MAX} messages`)
  const first = new Map<string, number>()
  const items = batch.map((p, i): FastItem => {
    const q = p.req
    let firstItem: number | null = null
    if (q.clientMsgId) {
      const key = `${q.roomId}:${q.senderId}:${q.clientMsgId}`
      firstItem = first.get(key) ?? null
      if (firstItem === null) first.set(key, i)
    }
    return { item: i, first_item: firstItem, ...written(q) }
  })
  const rows = await compiled(database)[form]({ items: JSON.stringify(items), batch_id: batchId })
  return fastPathOutcomes(items, rows)
}

/**
 * One message as one autocommitted statement: the `one` form of
 * writeBatchInOneStatement, the same steps and the same outcome row, with
 * the message's values as scalar parameters. A lone message at idle is the
 * common case, and the batch statement's fixed cost (its JSON recordset,
 * window, aggregates and about sixty plan nodes to start and end) was most
 * of its commit: see docs/architecture.md "The writer's cost".
 */
async function writeOneInOneStatement(database: Database, q: WriteRequest, batchId: string): Promise<Outcome> {
  const w = written(q)
  const [r] = await compiled(database).one({ ...w, attachment: w.attachment === null ? null : JSON.stringify(w.attachment), batch_id: batchId })
  if (!r || r.id === null || r.seq === null) return !r?.room_ok ? errRoom : !r.member_ok ? errMember : errReply
  return { status: 'created', row: insertedRow(w, Number(r.seq), Number(r.id), r.created_at!, { nickname: r.nickname, avatar: r.avatar_url }) }
}

type Snapshot = {
  rooms: [number, number][]
  members: [number, number, string, string | null][]
  replies: [number, number][] | null
}


/** A client_msg_id appeared under the rooms' locks: cannot happen while every insert goes through a writer; retried. */
export class LockedInsertRace extends Error {
  readonly code = '40001'
  constructor() {
    super('writer: a client_msg_id was inserted under the room lock; retrying the batch')
  }
}

/**
 * The batch in one transaction, in three statements: lock the batch's rooms
 * in ascending id order (no deadlock between nodes) and read membership,
 * senders and reply targets; look up client_msg_ids committed before; insert
 * every new message, queue them for search, advance rooms.last_seq and the
 * senders' read marks, and record the outcome under `batchId`. `retry` = an
 * earlier attempt may have committed: its recorded outcome is the answer.
 */
export function writeBatch(database: Database, batch: Pending[], batchId: string, retry: boolean): Promise<Outcome[]> {
  return database.db.transaction((tx) => writeBatchIn(database, tx, batch, batchId, retry))
}

async function writeBatchIn(database: Database, ex: Executor, batch: Pending[], batchId: string, retry: boolean): Promise<Outcome[]> {
  const roomIds = [...new Set(batch.map((p) => p.req.roomId))].sort((a, b) => a - b)
  const pairs = [...new Set(batch.map((p) => `${p.req.roomId}:${p.req.senderId}`))].map((k) => {
    const [room, sender] = k.split(':')
    return { room_id: Number(room), sender_id: Number(sender) }
  })
  const replyIds = [...new Set(batch.map((p) => p.req.replyToId).filter((x): x is number => x != null))]
  // the rooms' row locks first (materialized, in id order), then what the checks need, in one round trip
  const [snap] = await database.rows<Snapshot>(
    sql`with locked as materialized (select id, last_seq, space_id from rooms where id in ${idList(roomIds)} order by id for update)
        select
          (select coalesce(json_agg(json_build_array(id, last_seq)), '[]') from locked) as rooms,
          (select coalesce(json_agg(json_build_array(a.room_id, a.user_id, u.nickname, u.avatar_url)), '[]')
             from (
               -- a group or direct room's members; a channel's audience is its space's members
               select rm.room_id, rm.user_id from room_members rm join locked l on l.id = rm.room_id and l.space_id is null
               union all
               select l.id, sm.user_id from locked l join space_members sm on sm.space_id = l.space_id
             ) a join users u on u.id = a.user_id
             where (a.room_id, a.user_id) in
                 (select x.room_id, x.sender_id from ${jsonRecords(pairs, 'room_id int8, sender_id int8')})
          ) as members,
          ${replyIds.length === 0 ? sql`null` : sql`(select coalesce(json_agg(json_build_array(id, room_id)), '[]') from messages where id in ${idList(replyIds)})`} as replies`,
    ex,
  )
  const lastSeq = new Map(jsonColumn(snap!.rooms).map(([id, seq]) => [Number(id), Number(seq)]))
  const members = jsonColumn(snap!.members)
  const isMember = new Set(members.map(([r, u]) => `${r}:${u}`))
  const profile = new Map(members.map(([, u, nickname, avatar]) => [Number(u), { nickname, avatar }]))
  const replyRoom = new Map((snap!.replies === null ? [] : jsonColumn(snap!.replies)).map(([id, r]) => [Number(id), Number(r)]))

  if (retry) {
    // its own statement: a fresh snapshot, taken after the locks waited for an earlier attempt still running
    const [prior] = await database.rows<{ outcome: StoredOutcome[] | string }>(
      sql`select outcome from writer_batches where id = ${batchId}`,
      ex,
    )
    // committed before: read it back (the transaction only read, its commit changes nothing)
    if (prior) return replay(database, ex, jsonColumn(prior.outcome), batch.map((p) => p.req.roomId))
  }

  // under the rooms' locks no other writer inserts into them: what this finds is all there is
  const existing = new Map<string, MessageRow>()
  const keyed = batch.filter((p) => p.req.clientMsgId)
  if (keyed.length > 0) {
    const keys = keyed.map((p) => ({ room_id: p.req.roomId, sender_id: p.req.senderId, client_msg_id: p.req.clientMsgId }))
    const rows = await database.rows<MessageRow>(
      sql`select ${messageColumns} from ${messageFrom}
          where (m.room_id, m.sender_id, m.client_msg_id) in
            (select x.room_id, x.sender_id, x.client_msg_id
             from ${jsonRecords(keys, 'room_id int8, sender_id int8, client_msg_id text')})`,
      ex,
    )
    for (const r of rows) existing.set(`${r.room_id}:${r.sender_id}:${r.client_msg_id}`, r)
  }

  /** one row of the multi-row insert, as json_to_recordset reads it */
  type Insert = Written & { seq: number }
  const inserts: Insert[] = []
  /** an outcome known now, or the insert it waits for (`duplicate`: the same client_msg_id earlier in this batch) */
  const outcomes: (Outcome | { insert: number; duplicate: boolean })[] = []
  const firstInBatch = new Map<string, number>()
  const readMarks = new Map<string, { room_id: number; sender_id: number; seq: number }>()
  for (const p of batch) {
    const q = p.req
    if (!lastSeq.has(q.roomId)) {
      outcomes.push(errRoom)
      continue
    }
    if (!isMember.has(`${q.roomId}:${q.senderId}`)) {
      outcomes.push(errMember)
      continue
    }
    if (q.replyToId != null && replyRoom.get(q.replyToId) !== q.roomId) {
      outcomes.push(errReply)
      continue
    }
    if (q.clientMsgId) {
      const key = `${q.roomId}:${q.senderId}:${q.clientMsgId}`
      const prior = existing.get(key)
      if (prior) {
        outcomes.push({ status: 'duplicate', row: prior })
        continue
      }
      const firstInsert = firstInBatch.get(key)
      if (firstInsert !== undefined) {
        outcomes.push({ insert: firstInsert, duplicate: true })
        continue
      }
      firstInBatch.set(key, inserts.length)
    }
    const seq = lastSeq.get(q.roomId)! + 1
    lastSeq.set(q.roomId, seq)
    readMarks.set(`${q.roomId}:${q.senderId}`, { room_id: q.roomId, sender_id: q.senderId, seq })
    outcomes.push({ insert: inserts.length, duplicate: false })
    inserts.push({ seq, ...written(q) })
  }

  const stored: StoredOutcome[] = outcomes.map((o) => {
    if ('insert' in o) {
      const x = inserts[o.insert]!
      return o.duplicate ? -x.seq : x.seq
    }
    return toStored(o)
  })
  const advanced = [...lastSeq].map(([room_id, seq]) => ({ room_id, seq }))
  // one statement writes everything; only what the database decides (id, created_at) comes back
  const inserted = await database.rows<{ id: number; room_id: number; seq: number; created_at: Date | string }>(
    sql`with m as (
          insert into messages (${insertColumns})
          select x.seq, ${insertValues}
          from ${jsonRecords(inserts, recordset('seq int8'))}
          on conflict (room_id, sender_id, client_msg_id) where client_msg_id is not null do nothing
          returning id, room_id, seq, created_at),
        q as (insert into search_queue (message_id) select id from m),
        r as (update rooms set last_seq = x.seq, last_activity_at = now()
              from ${jsonRecords(advanced, 'room_id int8, seq int8')}
              where rooms.id = x.room_id and rooms.last_seq < x.seq),
        rm as (insert into room_members (room_id, user_id, last_read_seq)
               select x.room_id, x.sender_id, x.seq
               from ${jsonRecords([...readMarks.values()], 'room_id int8, sender_id int8, seq int8')}
               on conflict (room_id, user_id) do update set last_read_seq = greatest(room_members.last_read_seq, excluded.last_read_seq)),
        b as (insert into writer_batches (id, outcome) values (${batchId}, ${JSON.stringify(stored)}::jsonb))
        select id, room_id, seq, created_at from m`,
    ex,
  )
  // rolls the transaction back; classified transient, so the batch is tried again
  if (inserted.length < inserts.length) throw new LockedInsertRace()
  const bySeq = new Map(inserted.map((r) => [`${r.room_id}:${r.seq}`, r]))
  const rowAt = (i: number): MessageRow => {
    const x = inserts[i]!
    const got = bySeq.get(`${x.room_id}:${x.seq}`)!
    return insertedRow(x, x.seq, got.id, got.created_at, x.sender_id === null ? undefined : profile.get(x.sender_id))
  }
  return outcomes.map((o): Outcome => {
    if (!('insert' in o)) return o
    const row = rowAt(o.insert)
    return o.duplicate ? duplicateOf(row) : { status: 'created', row }
  })
}

/** Deletes batch outcomes older than an hour (they only serve retries of a batch). */
export const pruneBatchOutcomes = (database: Database) =>
  database.rows(sql`delete from writer_batches where created_at < now() - interval '1 hour'`)
