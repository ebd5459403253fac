/**
 * Pub/sub topic names, built and parsed in one place. A room's events go to
 * `room:{id}`; a user's own events (rooms added to or removed from, login
 * revocation) to `user:{id}`; a space's own events to `space:{id}`. Presence
 * of a room (or space) too large for presence to everyone goes to
 * `room-presence:{id}` (`space-presence:{id}`), which only sockets that sent
 * `presence.subscribe` follow. Bun's server topics and the bus use the same
 * names.
 */
export type Topic =
  | `room:${number}` | `user:${number}` | `space:${number}`
  | `room-presence:${number}` | `space-presence:${number}`

export type TopicKind = 'room' | 'user' | 'space' | 'room-presence' | 'space-presence'

export const roomTopic = (roomId: number): Topic => `room:${roomId}`
export const userTopic = (userId: number): Topic => `user:${userId}`
/** A space's own events (space.*): its members' sockets follow it. */
export const spaceTopic = (spaceId: number): Topic => `space:${spaceId}`
/** Presence of a large room: followed on request (`presence.subscribe`) only. */
export const roomPresenceTopic = (roomId: number): Topic => `room-presence:${roomId}`
/** Presence of a large space (all its channels at once): followed on request only. */
export const spacePresenceTopic = (spaceId: number): Topic => `space-presence:${spaceId}`

/** The kind and id of a topic; null for anything else. */
export function parseTopic(topic: string): { kind: TopicKind; id: number } | null {
  const m = /^(room|user|space|room-presence|space-presence):([1-9]\d{0,15})$/.exec(topic)
  if (!m) return null
  const id = Number(m[2])
  return Number.isSafeInteger(id) ? { kind: m[1] as TopicKind, id } : null
}
