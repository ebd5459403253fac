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

/**
 * Bus topics followed while a local socket needs them, reference counted: the
 * first follower subscribes the topic, the last one to go unsubscribes it.
 * Users, spaces and opt-in presence topics (rooms have their sequencers).
 */
class Follows<K> {
  private entries = new Map<K, { members: Set<HubMember>; ready: Promise<void> }>()

  constructor(
    private readonly bus: Bus,
    private readonly topicOf: (key: K) => string,
    private readonly warn: (key: K, err: unknown) => void,
  ) {}

  /** Resolves once the bus delivers the topic (a failure is logged, not thrown). */
  follow(key: K, m: HubMember): Promise<void> {
    let entry = this.entries.get(key)
    if (!entry) {
      entry = { members: new Set(), ready: this.bus.subscribe([this.topicOf(key)]).catch((err) => this.warn(key, err)) }
      this.entries.set(key, entry)
    }
    entry.members.add(m)
    return entry.ready
  }

  unfollow(key: K, m: HubMember) {
    const entry = this.entries.get(key)
    if (!entry || !entry.members.delete(m)) return
    if (entry.members.size === 0) {
      this.entries.delete(key)
      this.bus.unsubscribe([this.topicOf(key)])
    }
  }

  /** The local followers of `key`, a copy (safe while they change what they follow). */
  members(key: K): HubMember[] {
    return [...(this.entries.get(key)?.members ?? [])]
  }
}

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
  private users: Follows<number>
  private spaces: Follows<number>
  /** opt-in presence topics of large rooms and spaces (presence.subscribe), followed while a local socket asks */
  private topics: Follows<string>
  /** message.created frames delivered to local topics, for metrics */
  delivered = 0

  constructor(private readonly o: HubOptions) {
    this.users = new Follows(o.bus, userTopic, (id, err) => o.log.warn('hub: could not follow user', { user_id: id, error: err }))
    this.spaces = new Follows(o.bus, spaceTopic, (id, err) => o.log.warn('hub: could not follow space', { space_id: id, error: err }))
    this.topics = new Follows(o.bus, (t: string) => t, (topic, err) => o.log.warn('hub: could not follow topic', { topic, error: err }))
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
    void this.users.follow(m.userId, m)
  }

  untrackUser(m: HubMember) {
    this.users.unfollow(m.userId, m)
  }

  /** Follows a space's own events (space.*, new channels) for `m`. */
  trackSpace(spaceId: number, m: HubMember) {
    void this.spaces.follow(spaceId, m)
  }

  untrackSpace(spaceId: number, m: HubMember) {
    this.spaces.unfollow(spaceId, m)
  }

  /**
   * Follows a presence topic (`room-presence:{id}`, `space-presence:{id}`) on
   * the bus for `m`: what other nodes announce there reaches this node's
   * sockets that subscribed it (resolves once the bus delivers it). Presence
   * of small rooms rides on the room's own topic and needs none of this.
   */
  trackTopic(topic: string, m: HubMember): Promise<void> {
    return this.topics.follow(topic, m)
  }

  untrackTopic(topic: string, m: HubMember) {
    this.topics.unfollow(topic, m)
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
      if (t.kind === 'user') for (const m of this.users.members(t.id)) m.onRevoke(meta.revokeLogin)
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
    const joins = [...(meta.join !== undefined ? [meta.join] : []), ...(meta.joinRooms ?? [])]
    const leaves = [...(meta.leave !== undefined ? [meta.leave] : []), ...(meta.leaveRooms ?? [])]
    const follows = t.kind === 'user' ? this.users : t.kind === 'space' ? this.spaces : undefined
    if (follows && (joins.length > 0 || leaves.length > 0 || meta.joinSpace !== undefined || meta.leaveSpace !== undefined)) {
      for (const m of follows.members(t.id)) {
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
      for (const m of this.spaces.members(meta.closeSpace)) m.onLeaveSpace(meta.closeSpace)
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
