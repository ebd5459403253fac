import type { Bus, EventMeta } from '../bus/bus'
import { RoomSequencer, type FetchRange } from '../bus/sequencer'
import type { Logger } from '../lib/logger'
import { parseTopic, roomTopic, spaceTopic, userTopic } from '../protocol/topics'

/** What the hub needs of a socket session. */
export interface HubMember {
  readonly userId: number
  /** The user was added to a room (on any node). */
  onJoin(roomId: number): void
  /** The user left or was removed, or the room was deleted. */
  onLeave(roomId: number): void
  /** The login `sid` was logged out or revoked (on any node). */
  onRevoke(sid: string): void
  /** The user joined a space (on any node): follow its own events. */
  onJoinSpace(spaceId: number): void
  /** The user left or was removed from a space, or it was deleted. */
  onLeaveSpace(spaceId: number): void
}

/** Bun's server, for the one call the hub makes. */
export type Publisher = { publish(topic: string, data: string): number }

type RoomEntry = { members: Set<HubMember>; seq: RoomSequencer; ready: Promise<void> }

export type HubOptions = {
  bus: Bus
  fetchRange: FetchRange
  /** The room's committed last_seq, read after the bus subscription is active. */
  lastSeq: (roomId: number) => Promise<number>
  waitMs: number
  log: Logger
}

/**
 * This node's fan-out: what the bus brings goes to Bun's topic pub/sub, room
 * messages through a per-room sequencer. Rooms and users are followed on the
 * bus only while a local socket needs them (reference counted).
 */
export class Hub {
  private server: Publisher | null = null
  private rooms = new Map<number, RoomEntry>()
  private users = new Map<number, Set<HubMember>>()
  private spaces = new Map<number, Set<HubMember>>()
  /** opt-in presence topics of large rooms and spaces (presence.subscribe), followed while a local socket asks */
  private topics = new Map<string, { members: Set<HubMember>; ready: Promise<void> }>()
  /** message.created frames delivered to local topics, for metrics */
  delivered = 0

  constructor(private readonly o: HubOptions) {
    o.bus.setHandler((topic, frame, meta) => this.onEvent(topic, frame, meta))
    o.bus.onResync(() => void this.resync())
  }

  attach(server: Publisher) {
    this.server = server
  }

  get roomCount() {
    return this.rooms.size
  }

  /** Follows a room for `m`; resolves once its sequencer knows where it stands. */
  trackRoom(roomId: number, m: HubMember): Promise<void> {
    let e = this.rooms.get(roomId)
    if (!e) {
      const seq = new RoomSequencer(
        roomId,
        (frame) => this.emitRoom(roomId, frame),
        this.o.fetchRange,
        this.o.waitMs,
        (err) => this.o.log.warn('sequencer: gap fill failed', { room_id: roomId, error: err }),
      )
      const ready = this.o.bus
        .subscribe([roomTopic(roomId)])
        .then(() => this.o.lastSeq(roomId))
        .then((last) => seq.start(last))
      e = { members: new Set(), seq, ready }
      this.rooms.set(roomId, e)
      ready.catch((err) => {
        this.o.log.warn('hub: could not follow room', { room_id: roomId, error: err })
        if (this.rooms.get(roomId) === e) this.drop(roomId)
      })
    }
    e.members.add(m)
    return e.ready
  }

  untrackRoom(roomId: number, m: HubMember) {
    const e = this.rooms.get(roomId)
    if (!e || !e.members.delete(m)) return
    if (e.members.size === 0) this.drop(roomId)
  }

  /** Last seq of the room published to this node's sockets; -1 if not followed. */
  deliveredSeq(roomId: number): number {
    return this.rooms.get(roomId)?.seq.delivered ?? -1
  }

  /**
   * Publishes everything of the room up to `upto` to local sockets now, from
   * the database where missing, and returns the room's committed last_seq.
   * Never past that: a seq a client claims to have seen beyond it does not
   * exist, and moving the shared mark there would drop every later live
   * message for every socket on this node (the caller clamps its own cursor).
   */
  async catchUp(roomId: number, upto: number): Promise<number> {
    const committed = await this.o.lastSeq(roomId)
    await this.rooms.get(roomId)?.seq.catchUp(Math.min(upto, committed))
    return committed
  }

  trackUser(m: HubMember) {
    let set = this.users.get(m.userId)
    if (!set) {
      set = new Set()
      this.users.set(m.userId, set)
      this.o.bus.subscribe([userTopic(m.userId)]).catch((err) => {
        this.o.log.warn('hub: could not follow user', { user_id: m.userId, error: err })
      })
    }
    set.add(m)
  }

  untrackUser(m: HubMember) {
    const set = this.users.get(m.userId)
    if (!set || !set.delete(m)) return
    if (set.size === 0) {
      this.users.delete(m.userId)
      this.o.bus.unsubscribe([userTopic(m.userId)])
    }
  }

  /** Follows a space's own events (space.*, new channels) for `m`. */
  trackSpace(spaceId: number, m: HubMember) {
    let set = this.spaces.get(spaceId)
    if (!set) {
      set = new Set()
      this.spaces.set(spaceId, set)
      this.o.bus.subscribe([spaceTopic(spaceId)]).catch((err) => {
        this.o.log.warn('hub: could not follow space', { space_id: spaceId, error: err })
      })
    }
    set.add(m)
  }

  untrackSpace(spaceId: number, m: HubMember) {
    const set = this.spaces.get(spaceId)
    if (!set || !set.delete(m)) return
    if (set.size === 0) {
      this.spaces.delete(spaceId)
      this.o.bus.unsubscribe([spaceTopic(spaceId)])
    }
  }

  /**
   * Follows a presence topic (`room-presence:{id}`, `space-presence:{id}`) on
   * the bus for `m`: what other nodes announce there reaches this node's
   * sockets that subscribed it (resolves once the bus delivers it). Presence
   * of small rooms rides on the room's own topic and needs none of this.
   */
  trackTopic(topic: string, m: HubMember): Promise<void> {
    let entry = this.topics.get(topic)
    if (!entry) {
      const ready = this.o.bus.subscribe([topic]).catch((err) => {
        this.o.log.warn('hub: could not follow topic', { topic, error: err })
      })
      entry = { members: new Set(), ready }
      this.topics.set(topic, entry)
    }
    entry.members.add(m)
    return entry.ready
  }

  untrackTopic(topic: string, m: HubMember) {
    const entry = this.topics.get(topic)
    if (!entry || !entry.members.delete(m)) return
    if (entry.members.size === 0) {
      this.topics.delete(topic)
      this.o.bus.unsubscribe([topic])
    }
  }

  close() {
    for (const id of [...this.rooms.keys()]) this.drop(id)
  }

  private drop(roomId: number) {
    const e = this.rooms.get(roomId)
    if (!e) return
    e.seq.stop()
    this.rooms.delete(roomId)
    this.o.bus.unsubscribe([roomTopic(roomId)])
  }

  private emitRoom(roomId: number, frame: string) {
    this.delivered++
    this.server?.publish(roomTopic(roomId), frame)
  }

  private onEvent(topic: string, frame: string, meta: EventMeta | undefined) {
    const t = parseTopic(topic)
    if (!t) return
    if (meta?.revokeLogin !== undefined) {
      // for the sessions, not a frame for clients
      if (t.kind === 'user') for (const m of [...(this.users.get(t.id) ?? [])]) m.onRevoke(meta.revokeLogin)
      return
    }
    if (meta?.seq !== undefined) {
      // not followed here: no local socket wants it
      if (t.kind === 'room') this.rooms.get(t.id)?.seq.push(meta.seq, frame)
      return
    }
    this.server?.publish(topic, frame)
    if (!meta) return
    // who follows what changed: the user's sockets, or every local member of a space
    const members = t.kind === 'user' ? this.users.get(t.id) : t.kind === 'space' ? this.spaces.get(t.id) : undefined
    const joins = [...(meta.join !== undefined ? [meta.join] : []), ...(meta.joinRooms ?? [])]
    const leaves = [...(meta.leave !== undefined ? [meta.leave] : []), ...(meta.leaveRooms ?? [])]
    if (members && (joins.length > 0 || leaves.length > 0 || meta.joinSpace !== undefined || meta.leaveSpace !== undefined)) {
      for (const m of [...members]) {
        if (meta.leaveSpace !== undefined) m.onLeaveSpace(meta.leaveSpace)
        for (const id of leaves) m.onLeave(id)
        if (meta.joinSpace !== undefined) m.onJoinSpace(meta.joinSpace)
        for (const id of joins) m.onJoin(id)
      }
    }
    if (meta.closeRoom !== undefined) {
      for (const m of [...(this.rooms.get(meta.closeRoom)?.members ?? [])]) m.onLeave(meta.closeRoom)
    }
    if (meta.closeSpace !== undefined) {
      for (const m of [...(this.spaces.get(meta.closeSpace) ?? [])]) m.onLeaveSpace(meta.closeSpace)
    }
  }

  /**
   * After a relay reconnect: every followed room may have missed events. Not
   * covered yet: a room or space joined on another node while the relay was
   * down (its user-topic event is gone) is followed by this node's sockets only
   * after they reconnect; the fix is for each session to re-read its rooms here.
   */
  private async resync() {
    for (const [roomId, e] of this.rooms) {
      try {
        await e.ready
        await e.seq.catchUp(await this.o.lastSeq(roomId))
      } catch (err) {
        this.o.log.warn('hub: resync failed', { room_id: roomId, error: err })
      }
    }
  }
}
