import type { Bus, EventMeta } from '../bus/bus'
import { messageCreatedJson, type ServerFrame } from '../protocol/server-frames'
import { roomTopic, spaceTopic, userTopic } from '../protocol/topics'

/** Serializes an event once and publishes it on the bus. Only typed server frames go out. */
export type Events = {
  toRoom(roomId: number, event: ServerFrame, meta?: EventMeta): void
  toUser(userId: number, event: ServerFrame, meta?: EventMeta): void
  /** To the members of a space (their sockets follow `space:{id}`). */
  toSpace(spaceId: number, event: ServerFrame, meta?: EventMeta): void
  /** Closes the sockets of one login (logout, token reuse) on every node; nothing reaches clients. */
  revokeLogin(userId: number, sid: string): void
  /** A committed message to its room, from its JSON serialized once (the sender's ack reuses it). */
  messageCreated(roomId: number, seq: number, messageJson: string): void
}

export function createEvents(bus: Bus): Events {
  return {
    toRoom: (roomId, event, meta) => bus.publish(roomTopic(roomId), JSON.stringify(event), meta),
    toUser: (userId, event, meta) => bus.publish(userTopic(userId), JSON.stringify(event), meta),
    toSpace: (spaceId, event, meta) => bus.publish(spaceTopic(spaceId), JSON.stringify(event), meta),
    revokeLogin: (userId, sid) => bus.publish(userTopic(userId), '{"type":"login.revoked"}', { revokeLogin: sid }),
    messageCreated: (roomId, seq, json) => bus.publish(roomTopic(roomId), messageCreatedJson(json), { seq }),
  }
}
