import { frame } from '../protocol/server-frames'
import { roomPresenceTopic, roomTopic, spacePresenceTopic, spaceTopic } from '../protocol/topics'

/**
 * Where a user's presence goes: their group and direct rooms one by one, and
 * each of their spaces once (its members hear it on one topic, not once per
 * channel), each with its member count.
 */
export type PresenceAudience = {
  rooms: { id: number; members: number }[]
  spaces: { id: number; members: number }[]
}

/** A presence change as the store reported it. */
export type PresenceChange = { status: 'online' | 'offline'; nickname: string; lastSeen: string | null }

/** The timer the coalescing window runs on (a fake one in tests). */
export type AnnouncerClock = {
  setTimeout(fn: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
}

const realClock: AnnouncerClock = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
}

export type AnnouncerOptions = {
  /** publishes one serialized frame on a topic (the bus: this node and the others) */
  publish(topic: string, json: string): void
  /** at most one event per user per room per this many ms; 0 = every change at once */
  coalesceMs: number
  /** rooms and spaces with more members get presence on their `*-presence` topic only (on request) */
  roomMaxMembers: number
  clock?: AnnouncerClock
}

/** The topics a user's presence is published on: the room's own for small rooms, its presence topic for large ones. */
export function presenceTopics(audience: PresenceAudience, roomMaxMembers: number): string[] {
  const topics: string[] = []
  for (const r of audience.rooms) topics.push(r.members > roomMaxMembers ? roomPresenceTopic(r.id) : roomTopic(r.id))
  for (const s of audience.spaces) topics.push(s.members > roomMaxMembers ? spacePresenceTopic(s.id) : spaceTopic(s.id))
  return topics
}

type Pending = { change: PresenceChange; audience: PresenceAudience }
/** A user whose window is open: the state each topic last heard, and the latest change since (last wins). */
type Window = { announced: Map<string, PresenceChange['status']>; pending: Pending | null; timer: unknown }

/**
 * This node's presence announcements, coalesced per user and room: the first
 * change is sent at once and opens a window of `coalesceMs`; changes inside
 * it only replace the pending state, and when the window ends the pending
 * state goes to every room (topic) that last heard another state, or none
 * (a room the user joined since), which opens the next window. So each room
 * hears at most one event per user per window: an online → offline → online
 * flap inside one sends nothing more, and the final state always goes out.
 *
 * Whether a change is one at all (a second socket, a socket on another node)
 * is the PresenceStore's to say; this only paces what it reports.
 */
export class PresenceAnnouncer {
  private readonly windows = new Map<number, Window>()
  private readonly clock: AnnouncerClock
  private closed = false
  /** presence frames published (one per topic), for metrics and tests */
  published = 0

  constructor(private readonly o: AnnouncerOptions) {
    this.clock = o.clock ?? realClock
  }

  /** Users with an open window (tests, metrics). */
  get open(): number {
    return this.windows.size
  }

  /** The store reported a change of `userId`'s presence; `audience` is where it goes. */
  announce(userId: number, change: PresenceChange, audience: PresenceAudience): void {
    if (this.o.coalesceMs <= 0 || this.closed) {
      this.emit(userId, change, presenceTopics(audience, this.o.roomMaxMembers))
      return
    }
    const w = this.windows.get(userId)
    if (w) {
      w.pending = { change, audience }
      return
    }
    this.flush(userId, new Map(), { change, audience })
  }

  /**
   * Ends every open window now, as if its time were up: what is pending goes
   * out where it differs from what was announced. Tests use it instead of
   * waiting for the window.
   */
  endWindows(): void {
    for (const [userId, w] of [...this.windows]) {
      this.clock.clearTimeout(w.timer)
      this.windowEnd(userId, w)
    }
  }

  /** Sends what is still pending where it differs from what was announced, and stops the timers; later changes go out at once. */
  close(): void {
    this.closed = true
    this.endWindows()
  }

  /** The topics of `p` that last heard another state than `p`'s, or nothing. */
  private due(announced: Map<string, PresenceChange['status']>, p: Pending): string[] {
    return presenceTopics(p.audience, this.o.roomMaxMembers).filter((t) => announced.get(t) !== p.change.status)
  }

  /** Sends `p` where due and, if anything went out, opens the user's next window. */
  private flush(userId: number, announced: Map<string, PresenceChange['status']>, p: Pending) {
    const topics = this.due(announced, p)
    if (topics.length === 0) return
    this.emit(userId, p.change, topics)
    if (this.closed) return
    for (const t of topics) announced.set(t, p.change.status)
    const w: Window = { announced, pending: null, timer: null }
    w.timer = this.clock.setTimeout(() => this.windowEnd(userId, w), this.o.coalesceMs)
    this.windows.set(userId, w)
  }

  private windowEnd(userId: number, w: Window) {
    if (this.windows.get(userId) !== w) return
    this.windows.delete(userId)
    if (w.pending) this.flush(userId, w.announced, w.pending)
  }

  private emit(userId: number, c: PresenceChange, topics: string[]) {
    if (topics.length === 0) return
    // serialized once for every room
    const json = JSON.stringify(frame('presence', { user_id: userId, nickname: c.nickname, status: c.status, last_seen: c.lastSeen }))
    for (const t of topics) this.o.publish(t, json)
    this.published += topics.length
  }
}
