/**
 * What travels with an event besides its frame. `seq` marks a room's
 * `message.created` (sequenced per room on every node); `join`/`leave` on a
 * `user:{id}` topic tell the user's sockets to follow or drop a room;
 * `closeRoom` on a room topic drops the room from every socket (deleted);
 * `revokeLogin` on a user topic closes that login's sockets (not a frame for clients).
 */
export type EventMeta = {
  seq?: number
  /** user topic: the user's sockets start following this room */
  join?: number
  /** user topic: the user's sockets stop following this room */
  leave?: number
  /** user topic: the user's sockets start following these rooms (a space's channels) */
  joinRooms?: number[]
  /** user topic: the user's sockets stop following these rooms */
  leaveRooms?: number[]
  /** user topic: the user's sockets start / stop following this space's own events */
  joinSpace?: number
  leaveSpace?: number
  /** room topic: the room is gone; every socket drops it */
  closeRoom?: number
  /** space topic: the space is gone; every socket drops it */
  closeSpace?: number
  /** on a `user:{id}` topic: the login (token `sid`) was logged out or revoked; its sockets close with 4001 */
  revokeLogin?: string
  /** other nodes only: this node already delivered it (typing skips its sender) */
  remoteOnly?: boolean
}

/** Receives every event of a subscribed topic, this node's own included. */
export type BusHandler = (topic: string, frame: string, meta: EventMeta | undefined) => void

/**
 * Carries serialized events between nodes. Topics are `room:{id}` and
 * `user:{id}`. A node hears another node's events only for topics it
 * subscribed; its own publishes reach its handler at once, synchronously.
 */
export interface Bus {
  readonly kind: 'local' | 'redis'
  setHandler(handler: BusHandler): void
  /** Called after the relay reconnected: events may have been missed on every topic. */
  onResync(cb: () => void): void
  publish(topic: string, frame: string, meta?: EventMeta): void
  /** Resolves once the node receives the topics' events from other nodes. */
  subscribe(topics: string[]): Promise<void>
  unsubscribe(topics: string[]): void
  /** Relay figures for /metrics: events received from other nodes, their mean publish → receive lag (ms). */
  readonly relayStats: { received: number; lagMsAvg: number }
  /** Resolves when the relay answers (readiness). */
  ping(): Promise<void>
  close(): Promise<void>
}
