/** How the database's answers become each sender's result or error. */
import { sql } from 'drizzle-orm'
import { AppError, notFound, notMember, unavailable, validation } from '../../lib/errors'
import type { Database, Executor } from '../client'
import { jsonRecords } from '../sql'
import { messageColumns, messageFrom, type MessageRow } from '../message-row'
import { Failure } from './failure'
import type { Written } from './statements'
import type { Outcome, WriteResult } from './types'


export const errRoom = notFound('Room')
export const errMember = notMember()
export const errReply = validation('reply_to_id: no such message in this room.')

/**
 * A batch's outcome as writer_batches keeps it, written in the same
 * statement as the messages (so by seq, not id): one entry per message of the
 * batch, in batch order, each about the message's own room. A number > 0:
 * created at that seq; < 0: a duplicate of the message at seq -n (the same
 * client_msg_id, so the same room); a string: the code of the message's error
 * (errRoom, errMember, errReply). Plain numbers and strings rather than an
 * object per message: the batch statement builds the array as text
 * (`string_agg`), which cost a fraction of `jsonb_agg(jsonb_build_object(…))`
 * per row (docs/architecture.md, "The writer's cost").
 */
export type StoredOutcome = number | StoredError

/** The errors a batch records, by code: the only ones the checks give. */
const storedErrors = { [errRoom.code]: errRoom, [errMember.code]: errMember, [errReply.code]: errReply } as const
type StoredError = keyof typeof storedErrors

export function toStored(o: Outcome): StoredOutcome {
  if (o instanceof AppError) {
    if (!(o.code in storedErrors) || storedErrors[o.code as StoredError] !== o) throw new Error(`writer: cannot record ${o.code} as a batch outcome`)
    return o.code as StoredError
  }
  return o.status === 'created' ? o.row.seq : -o.row.seq
}

export const duplicateOf = (row: MessageRow): WriteResult => ({ status: 'duplicate', row })

/** The row of a message just inserted: what the batch sent, plus what the database decided. */
export function insertedRow(
  x: Written, seq: number, id: number, createdAt: Date | string, sender: { nickname: string | null; avatar: string | null } | undefined,
): MessageRow {
  return {
    ...x, id, seq, nickname: sender?.nickname ?? null, avatar_url: sender?.avatar ?? null, created_at: createdAt,
    edited_at: null, deleted_at: null,
  }
}

/**
 * A row of the one-statement path, one of three kinds: a refused message
 * (`item` set: its checks), an inserted message (`room_id` set: id, seq,
 * created_at), a sender's profile (`id` = the user, nickname, avatar_url).
 * Accepted messages get no row of their own: the client knows them.
 */
export type CheckedRow = {
  item: number | null
  room_ok: boolean | null
  member_ok: boolean | null
  id: number | null
  room_id: number | null
  seq: number | null
  created_at: Date | string | null
  nickname: string | null
  avatar_url: string | null
}

/**
 * Outcomes of the one-statement path, in batch order. A message is accepted
 * unless it has a refused row or repeats an earlier client_msg_id of the
 * batch (`first_item`); the statement numbers a room's accepted messages in
 * batch order (row_number() over the room), so the room's k-th accepted
 * message is its k-th inserted row by seq.
 */
export function fastPathOutcomes(items: (Written & { item: number; first_item: number | null })[], rows: CheckedRow[]): Outcome[] {
  const refused = new Map<number, CheckedRow>()
  const inserted = new Map<number, CheckedRow[]>()
  const profiles = new Map<number, { nickname: string | null; avatar: string | null }>()
  for (const r of rows) {
    if (r.item !== null) refused.set(Number(r.item), r)
    else if (r.room_id !== null) {
      const room = Number(r.room_id)
      const list = inserted.get(room)
      if (list) list.push(r)
      else inserted.set(room, [r])
    } else profiles.set(Number(r.id), { nickname: r.nickname, avatar: r.avatar_url })
  }
  for (const list of inserted.values()) list.sort((a, b) => Number(a.seq) - Number(b.seq))
  const taken = new Map<number, number>()
  const own = items.map((x, i): Outcome | null => {
    // the same client_msg_id earlier in this batch: settled below from the first
    if (x.first_item !== null) return null
    const r = refused.get(i)
    if (r) return !r.room_ok ? errRoom : !r.member_ok ? errMember : errReply
    const k = taken.get(x.room_id) ?? 0
    taken.set(x.room_id, k + 1)
    const m = inserted.get(x.room_id)?.[k]
    if (!m) throw new Error('writer: an accepted message has no inserted row')
    return { status: 'created', row: insertedRow(x, Number(m.seq), Number(m.id), m.created_at!, x.sender_id === null ? undefined : profiles.get(x.sender_id)) }
  })
  return items.map((x, i) => {
    if (x.first_item === null) return own[i]!
    const o = own[x.first_item]!
    return o instanceof AppError ? o : duplicateOf(o.row)
  })
}

/** Rebuilds a committed batch's outcomes from writer_batches: `rooms` = each message's room, in batch order. */
export async function replay(database: Database, ex: Executor, stored: StoredOutcome[], rooms: number[]): Promise<Outcome[]> {
  if (stored.length !== rooms.length) throw new Error('writer: a recorded batch outcome does not match its batch')
  const keys = stored.flatMap((o, i) => (typeof o === 'number' ? [{ room_id: rooms[i]!, seq: Math.abs(o) }] : []))
  const rows = keys.length === 0 ? [] : await database.rows<MessageRow>(
    sql`select ${messageColumns} from ${messageFrom}
        where (m.room_id, m.seq) in
          (select x.room_id, x.seq from ${jsonRecords(keys, 'room_id int8, seq int8')})`,
    ex,
  )
  const byKey = new Map(rows.map((r) => [`${r.room_id}:${r.seq}`, r]))
  return stored.map((o, i): Outcome => {
    if (typeof o !== 'number') return storedErrors[o] ?? unavailable('The message could not be stored. Retry later.')
    const row = byKey.get(`${rooms[i]}:${Math.abs(o)}`)
    if (!row) return notFound('Message')
    return { status: o > 0 ? 'created' : 'duplicate', row }
  })
}

/** The sender's answer when the database refuses their message alone (a batch of one). */
export function refusedOutcome(failure: Failure, err: unknown): AppError {
  if (failure !== Failure.data) return unavailable('The message could not be stored. Retry later.')
  const e = (err as { cause?: { code?: unknown; constraint_name?: unknown } })?.cause ?? err
  const { code, constraint_name: constraint } = e as { code?: unknown; constraint_name?: unknown }
  // a foreign key the checks did not see (the room or sender went away meanwhile): what the checks would have said
  if (code === '23503' && typeof constraint === 'string') {
    if (constraint.includes('room')) return errRoom
    if (constraint.includes('sender') || constraint.includes('user')) return errMember
    if (constraint.includes('reply')) return errReply
  }
  return validation('The message contains data the database cannot store (e.g. a NUL character or invalid text).')
}
