/**
 * Pub/sub topic names, built and parsed in one place. A room's events go to
 * `room:{id}`; a user's own events (rooms added to or removed from, login
 * revocation) to `user:{id}`; a space's own events to `space:{id}`. Bun's server topics and the bus use the same
 * names.
 */
export type Topic = `room:${number}` | `user:${number}` | `space:${number}`

export const roomTopic = (roomId: number): Topic => `room:${roomId}`
export const userTopic = (userId: number): Topic => `user:${userId}`
/** A space's own events (space.*): its members' sockets follow it. */
export const spaceTopic = (spaceId: number): Topic => `space:${spaceId}`

/** The kind and id of a topic; null for anything else. */
export function parseTopic(topic: string): { kind: 'room' | 'user' | 'space'; id: number } | null {
  const m = /^(room|user|space):([1-9]\d{0,15})$/.exec(topic)
  if (!m) return null
  const id = Number(m[2])
  return Number.isSafeInteger(id) ? { kind: m[1] as 'room' | 'user' | 'space', id } : null
}
