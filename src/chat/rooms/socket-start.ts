import { sql } from 'drizzle-orm'
import type { Database } from '../../db/client'
import { jsonColumn, jsonRecords } from '../../db/sql'
import type { PresenceAudience } from '../../presence/announcer'
import type { User } from '../users'

/** What a socket needs to start, read in one statement. */
export type SocketStart = {
  /** the user's profile (presence fields are the caller's: the socket is online) */
  user: User
  /** false: the login of the socket's token was logged out or revoked */
  loginActive: boolean
  /** every room of the user (channels of their spaces included) with its last_seq, by id */
  rooms: { id: number; last_seq: number }[]
  /** where the user's presence goes, with member counts */
  audience: PresenceAudience
}

const ISO = `'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'`


type StartRow = {
  i: number; id: number | string; email: string; nickname: string; avatar_url: string | null; bio: string | null
  last_seen: string | null; created_at: string; login_active: boolean; rooms: unknown; spaces: unknown
}

/**
 * The socket starts of many sockets in one statement: `keys` are
 * `{i, u, s}` (position, user id, login id or null), and every piece is an
 * indexed read (users by id, refresh_tokens by family, room_members and
 * space_members by user, rooms by space).
 */
const startStatement = (keys: { i: number; u: number; s: string | null }[]) => sql`select x.i, u.id, u.email, u.nickname, u.avatar_url, u.bio,
    to_char(u.last_seen_at at time zone 'UTC', ${sql.raw(ISO)}) as last_seen,
    to_char(u.created_at at time zone 'UTC', ${sql.raw(ISO)}) as created_at,
    (x.s is null or exists (select 1 from refresh_tokens t where t.family_id = x.s and t.revoked_at is null and t.expires_at > now())) as login_active,
    (select coalesce(json_agg(json_build_array(r.id, r.last_seq, r.member_count)), '[]'::json)
       from room_members rm join rooms r on r.id = rm.room_id and r.space_id is null where rm.user_id = u.id) as rooms,
    (select coalesce(json_agg(json_build_array(s.id, s.member_count,
        (select coalesce(json_agg(json_build_array(c.id, c.last_seq)), '[]'::json) from rooms c where c.space_id = s.id))), '[]'::json)
       from space_members sm join spaces s on s.id = sm.space_id where sm.user_id = u.id) as spaces
  from ${jsonRecords(keys, 'i int4, u int8, s text')}
  join users u on u.id = x.u`

function toStart(row: StartRow): SocketStart {
  const roomRows = jsonColumn(row.rooms as [number, number, number][])
  const spaceRows = jsonColumn(row.spaces as [number, number, [number, number][]][])
  const rooms: { id: number; last_seq: number }[] = []
  const audience: PresenceAudience = { rooms: [], spaces: [] }
  for (const [id, lastSeq, members] of roomRows) {
    rooms.push({ id: Number(id), last_seq: Number(lastSeq) })
    audience.rooms.push({ id: Number(id), members: Number(members) })
  }
  for (const [id, members, channels] of spaceRows) {
    audience.spaces.push({ id: Number(id), members: Number(members) })
    for (const [cid, lastSeq] of channels) rooms.push({ id: Number(cid), last_seq: Number(lastSeq) })
  }
  rooms.sort((a, b) => a.id - b.id)
  return {
    user: {
      id: Number(row.id), email: row.email, nickname: row.nickname, avatar_url: row.avatar_url, bio: row.bio,
      online: true, last_seen: row.last_seen, created_at: row.created_at,
    },
    loginActive: row.login_active === true,
    rooms,
    audience,
  }
}

/** Reads waiting for a statement at most, and statements in flight at most. */
export const SocketStartLimits = { batchMax: 500, inFlightMax: 2 } as const

/**
 * Reads of one kind, one statement each at most and fewer under load: a read
 * asked while `inFlightMax` statements are running waits for the next one,
 * which serves every waiting read together (up to `batchMax`). At idle a read
 * runs at once, alone; in a storm the statements stay few and large instead
 * of one per socket. `run` answers the keys in order.
 */
export function batched<K, V>(run: (keys: K[]) => Promise<V[]>, limits: { batchMax: number; inFlightMax: number } = SocketStartLimits) {
  type Waiter = { key: K; resolve: (v: V) => void; reject: (e: unknown) => void }
  let queue: Waiter[] = []
  let inFlight = 0
  let statements = 0

  function pump() {
    while (inFlight < limits.inFlightMax && queue.length > 0) {
      const batch = queue.slice(0, limits.batchMax)
      queue = queue.length <= limits.batchMax ? [] : queue.slice(limits.batchMax)
      inFlight++
      statements++
      run(batch.map((w) => w.key)).then(
        (values) => batch.forEach((w, i) => w.resolve(values[i]!)),
        (err) => batch.forEach((w) => w.reject(err)),
      ).finally(() => {
        inFlight--
        pump()
      })
    }
  }

  return {
    read(key: K): Promise<V> {
      return new Promise((resolve, reject) => {
        queue.push({ key, resolve, reject })
        pump()
      })
    },
    /** statements run so far */
    get statements() {
      return statements
    },
  }
}

/** Socket starts, batched: `read` resolves null for a user that does not exist. */
export function createSocketStarts(database: Database) {
  const reads = batched<{ userId: number; sid: string | null }, SocketStart | null>(async (keys) => {
    const rows = await database.rows<StartRow>(startStatement(keys.map((k, i) => ({ i, u: k.userId, s: k.sid }))))
    const found: (SocketStart | null)[] = keys.map(() => null)
    for (const row of rows) found[Number(row.i)] = toStart(row)
    return found
  })
  return { read: (userId: number, sid: string | null) => reads.read({ userId, sid }) }
}

/**
 * Users who went offline, batched like socket starts: one statement stores
 * each one's last_seen and reads where their presence goes (rooms and spaces
 * with member counts), so a disconnect storm is not two statements per user.
 */
export function createOfflineReads(database: Database) {
  const reads = batched<{ userId: number; at: string }, PresenceAudience>(async (keys) => {
    const rows = await database.rows<{ i: number; rooms: unknown; spaces: unknown }>(sql`with k as (
        select * from ${jsonRecords(keys.map((k, i) => ({ i, u: k.userId, at: k.at })), 'i int4, u int8, at timestamptz')}),
      seen as (update users set last_seen_at = m.at from (select u, max(at) as at from k group by u) m where users.id = m.u)
      select k.i,
        (select coalesce(json_agg(json_build_array(r.id, r.member_count)), '[]'::json)
           from room_members rm join rooms r on r.id = rm.room_id and r.space_id is null where rm.user_id = k.u) as rooms,
        (select coalesce(json_agg(json_build_array(s.id, s.member_count)), '[]'::json)
           from space_members sm join spaces s on s.id = sm.space_id where sm.user_id = k.u) as spaces
      from k`)
    const out: PresenceAudience[] = keys.map(() => ({ rooms: [], spaces: [] }))
    for (const row of rows) out[Number(row.i)] = { rooms: pairs(row.rooms), spaces: pairs(row.spaces) }
    return out
  })
  return { read: (userId: number, at: Date) => reads.read({ userId, at: at.toISOString() }) }
}

const pairs = (v: unknown) => jsonColumn((v ?? '[]') as [number, number][]).map(([id, members]) => ({ id: Number(id), members: Number(members) }))
