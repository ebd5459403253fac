/** Users and rooms seeded through the public REST API (never SQL), and the sockets of a workload. */
import type { SocketSpec } from '../generator/types.ts'
import { pool, type Session } from './api.ts'
import type { Target } from './targets.ts'

export type SeededRoom = { id: number; /** indexes into the users array; [0] is the owner */ members: number[] }
export type Seeded = { users: Session[]; rooms: SeededRoom[] }

/** Registers `count` users (password hashing dominates: a few in parallel per core is enough). */
export async function seedUsers(t: Target, count: number, prefix: string, concurrency = 8): Promise<Session[]> {
  const api = t.api()
  const run = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`
  return pool(Array.from({ length: count }, (_, i) => i), concurrency, (i) =>
    api.register(`${prefix}-${run}-${i}@bench.test`, `${prefix}${i}`))
}

/**
 * Creates `rooms` public group rooms of `members` members each. Room r takes
 * users r·M … r·M+M−1 (mod the pool), so with a pool of R·M users every
 * socket is a different user, and with a pool of M every user is in every room.
 */
export async function seedRooms(t: Target, users: Session[], rooms: number, members: number, prefix: string): Promise<SeededRoom[]> {
  if (users.length < members) throw new Error(`need at least ${members} users for ${members}-member rooms, have ${users.length}`)
  const api = t.api()
  return pool(Array.from({ length: rooms }, (_, r) => r), 8, async (r) => {
    const idx = Array.from({ length: members }, (_, i) => (r * members + i) % users.length)
    const owner = users[idx[0]!]!
    const room = await api.createRoom(owner.access, `${prefix}-${r}`)
    if (idx.length > 1) await api.addMembers(owner.access, room.id, idx.slice(1).map((i) => users[i]!.id))
    return { id: room.id, members: idx }
  })
}

/**
 * One socket per (room, member). The first `senders` members of each room
 * send. Sockets of a room are spread over the target's nodes in turn. When
 * each user is in one room only, sockets use the user's `/v1/ws`; otherwise
 * the per-room socket, so that a socket carries one room.
 */
export function workloadSockets(t: Target, seeded: Seeded, senders: number): SocketSpec[] {
  const membership = new Map<number, number>()
  for (const r of seeded.rooms) for (const u of r.members) membership.set(u, (membership.get(u) ?? 0) + 1)
  const perRoom = [...membership.values()].some((n) => n > 1)
  const out: SocketSpec[] = []
  seeded.rooms.forEach((r, ri) => {
    r.members.forEach((u, i) => {
      out.push(t.socket(ri + i, seeded.users[u]!.access, r.id, i < senders ? i : -1, perRoom))
    })
  })
  return out
}
