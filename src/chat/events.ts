import type { Bus, EventMeta } from '../bus/bus'

/** Serializes an event once and publishes it on the bus. */
export type Events = {
  toRoom(roomId: number, event: { type: string } & Record<string, unknown>, meta?: EventMeta): void
  toUser(userId: number, event: { type: string } & Record<string, unknown>, meta?: EventMeta): void
  /** A committed message to its room, from its JSON serialized once (the sender's ack reuses it). */
  messageCreated(roomId: number, seq: number, messageJson: string): void
}

/** The `message.created` frame around a message's JSON (live events, replays and gap fills alike). */
export const messageCreatedFrame = (messageJson: string) => `{"type":"message.created","message":${messageJson}}`

export function createEvents(bus: Bus): Events {
  return {
    toRoom: (roomId, event, meta) => bus.publish(`room:${roomId}`, JSON.stringify(event), meta),
    toUser: (userId, event, meta) => bus.publish(`user:${userId}`, JSON.stringify(event), meta),
    messageCreated: (roomId, seq, json) => bus.publish(`room:${roomId}`, messageCreatedFrame(json), { seq }),
  }
}
