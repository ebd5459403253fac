import type { Authenticator } from '../auth/authenticator'
import type { Bus } from '../bus/bus'
import type { Events } from '../chat/events'
import type { MessagesService } from '../chat/messages'
import type { RoomsService } from '../chat/rooms'
import type { User, UsersService } from '../chat/users'
import { AppError, unauthorized } from '../lib/errors'
import type { Logger } from '../lib/logger'
import type { PresenceAnnouncer } from '../presence/announcer'
import type { PresenceStore } from '../presence/presence'
import { CloseCode } from '../protocol/close-codes'
import { parseClientFrame, type ClientFrame, type ClientFrameHandlers } from '../protocol/frames'
import { ackJson, frame, type ServerFrame } from '../protocol/server-frames'
import { roomPresenceTopic, roomTopic, spacePresenceTopic, spaceTopic, userTopic } from '../protocol/topics'
import type { Hub, HubMember } from './hub'
import { SocketTyping, type TypingThrottle } from './typing'

/** The part of Bun's ServerWebSocket a session uses (fakes in tests). */
export interface SocketLike {
  send(data: string): number
  publish(topic: string, data: string): number
  subscribe(topic: string): void
  unsubscribe(topic: string): void
  close(code?: number, reason?: string): void
  terminate(): void
  getBufferedAmount(): number
}

export type SessionDeps = {
  users: UsersService
  rooms: RoomsService
  messages: MessagesService
  events: Events
  bus: Bus
  hub: Hub
  /** this node's typing limits, shared by its sessions */
  typing: TypingThrottle
  presence: PresenceStore
  /** this node's presence announcements (coalesced; large rooms on request) */
  announcer: PresenceAnnouncer
  log: Logger
  /** checks the token of an `auth` frame */
  auth: Authenticator
}

/** What the gateway tells a session about its socket's limits, and hears back. */
export type SessionHooks = {
  /** send buffer past this many bytes: the socket is slow (stopped, then closed with 1013) */
  slowBytes: number
  /** the socket just became slow (counted once per socket) */
  onSlow(): void
  /** the socket is closed with 4001: its token expired, or its login was revoked */
  onCredentialsEnded(why: 'expired' | 'revoked'): void
}

export type SessionOptions = {
  userId: number
  /** false: only the user's own events; rooms one by one with `subscribe` */
  autoSubscribe: boolean
  /** the per-room socket (/v1/rooms/:id/ws): this room only */
  onlyRoom: number | null
  /** per-room socket: resume after this seq */
  afterSeq: number | null
  /** per-room socket: the room's last_seq when the upgrade checked membership */
  roomLastSeq?: number
  /** the login of the token the socket was opened with (null in gateway mode) */
  sid: string | null
  /** when that token expires, ms since the epoch (null in gateway mode: never) */
  expiresAt: number | null
}

/**
 * One handler per client frame type, shared by every session (a table, not
 * closures per socket: an idle socket's memory is what a node's capacity is
 * made of); the compiler rejects a table that misses one.
 */
type SessionFrameHandlers = {
  [K in keyof ClientFrameHandlers]: (s: Session, frame: Parameters<ClientFrameHandlers[K]>[0]) => Promise<void>
}

/**
 * Followed rooms → generation: a Map in effect, with the first room kept
 * inline (a per-room socket follows one room; most sockets few), so an idle
 * socket carries no hash table.
 */
export class RoomGenerations {
  /** the inline room; 0 = none (room ids start at 1) */
  private id = 0
  private gen = 0
  private rest: Map<number, number> | null = null

  has(id: number): boolean {
    return (id !== 0 && id === this.id) || (this.rest?.has(id) ?? false)
  }

  get(id: number): number | undefined {
    return id !== 0 && id === this.id ? this.gen : this.rest?.get(id)
  }

  set(id: number, gen: number): void {
    if (id !== 0 && (id === this.id || (this.id === 0 && !this.rest?.has(id)))) {
      this.id = id
      this.gen = gen
      return
    }
    (this.rest ??= new Map()).set(id, gen)
  }

  delete(id: number): boolean {
    if (id !== 0 && id === this.id) {
      this.id = 0
      this.gen = 0
      return true
    }
    return this.rest?.delete(id) ?? false
  }

  /** The followed rooms (a copy: safe to change the set while going through it). */
  keys(): number[] {
    const out = this.rest ? [...this.rest.keys()] : []
    if (this.id !== 0) out.unshift(this.id)
    return out
  }
}

/** More missing messages than this on subscribe: the client reads history over REST. */
export const REPLAY_MAX = 1000
/** Bad frames allowed per minute before the socket is closed with 1008. */
export const ABUSE_PER_MINUTE = 20
/** A slow socket whose buffer has not drained in this long is dropped without a close frame (its peer reads nothing). */
export const SLOW_DRAIN_MS = 15_000

/**
 * One WebSocket: authenticated user, followed rooms, frames in and out. The
 * Bun handlers only forward open/message/close here.
 */
export class Session implements HubMember {
  readonly userId: number
  private user: User | null = null
  /** followed rooms → generation; a newer subscribe or unsubscribe bumps it */
  private rooms = new RoomGenerations()
  /** spaces whose own events (space.*, new channels) this socket follows; null until the first */
  private spaces: Set<number> | null = null
  private generation = 0
  private closed = false
  /** close() was asked of the socket; Bun's close handler follows */
  private closing = false
  /** past the send-buffer threshold: nothing more is sent; closed with 1013 once the buffer drains */
  private slowSince: number | null = null
  /** the login and expiry of the socket's credentials; an `auth` frame replaces them */
  private sid: string | null
  private expiresAt: number | null
  /** bad frames in the current minute, and which minute (ms since the epoch / 60 000) */
  private badFrames = 0
  private badFramesMinute = 0
  /** this socket's typing indicators; created by its first typing frame (most sockets never type) */
  private typing: SocketTyping | null = null
  /** presence.subscribe: room → the presence topic followed for it (unset until the first one: most sockets never ask) */
  private presenceTopics: Map<number, string> | undefined

  constructor(
    private readonly ws: SocketLike,
    private readonly deps: SessionDeps,
    private readonly options: SessionOptions,
    private readonly hooks: SessionHooks = { slowBytes: Infinity, onSlow: () => {}, onCredentialsEnded: () => {} },
  ) {
    this.userId = options.userId
    this.sid = options.sid
    this.expiresAt = options.expiresAt
  }

  private typingState(): SocketTyping {
    // the throttle is shared by the node's sessions
    this.typing ??= new SocketTyping(this.userId, this.deps.typing, (roomId, isTyping) => this.relayTyping(roomId, isTyping))
    return this.typing
  }

  /** Frames still go out: not closed, not slow. */
  private get live(): boolean {
    return !this.closed && !this.closing && this.slowSince === null
  }

  private send(serverFrame: ServerFrame) {
    this.out(JSON.stringify(serverFrame))
  }

  /** Every frame this session sends itself goes through here (topics are Bun's). */
  private out(data: string) {
    if (!this.live) return
    // -1: queued behind backpressure; 0: dropped (past Bun's hard limit), so the stream has a hole: slow either way
    const sent = this.ws.send(data)
    if (sent === 0 || (sent < 0 && this.ws.getBufferedAmount() > this.hooks.slowBytes)) this.markSlow()
  }

  private get expiresIso(): string | null {
    return this.expiresAt === null ? null : new Date(this.expiresAt).toISOString()
  }

  async open(): Promise<void> {
    const { deps, options } = this
    deps.hub.trackUser(this)
    // a per-room socket needs no room list (the upgrade read its room); the user's profile is cached briefly
    const followsSpaces = options.onlyRoom === null && options.autoSubscribe
    // one statement: profile, login still active, rooms with last_seq, presence audience. A token outlives its
    // login by up to ACCESS_TTL: a socket of a login already logged out does not start (one logged out from here
    // on is closed by onRevoke: the hub follows the user since trackUser above)
    const start = await deps.rooms.socketStart(this.userId, this.sid)
    if (!start) throw new AppError('not_found', 'No such user.')
    const { user, loginActive, audience } = start
    const roomSeqs = options.onlyRoom === null ? start.rooms : null
    if (this.closed) return
    if (!loginActive) {
      this.hooks.onCredentialsEnded('revoked')
      this.closeSocket(CloseCode.unauthorized, 'logged out')
      return
    }
    this.user = user
    const listed = roomSeqs ?? [{ id: options.onlyRoom!, last_seq: options.roomLastSeq ?? 0 }]
    // rooms followed from `ready` on: every room (auto_subscribe), or the per-room socket's room without after_seq
    const toFollow = options.onlyRoom === null ? (options.autoSubscribe ? listed : []) : options.afterSeq === null ? listed : []
    for (const room of toFollow) this.rooms.set(room.id, ++this.generation)
    const tracked = await Promise.allSettled(toFollow.map((room) => deps.hub.trackRoom(room.id, this)))
    if (this.closed) return
    // from here to the last subscribe nothing can be published in between: `ready` tells each
    // room's last_seq as this node has delivered it, and live events continue right after it
    const following = new Set(toFollow.filter((_, i) => tracked[i]!.status === 'fulfilled').map((room) => room.id))
    const rooms = listed.map((room) => ({
      id: room.id,
      last_seq: following.has(room.id) ? deps.hub.deliveredSeq(room.id) : room.last_seq,
    }))
    this.send(frame('ready', { user: { ...user, online: true }, rooms, session_id: crypto.randomUUID(), expires_at: this.expiresIso }))
    if (this.live) {
      if (options.onlyRoom === null) this.ws.subscribe(userTopic(this.userId))
      for (const roomId of following) this.ws.subscribe(roomTopic(roomId))
      if (followsSpaces) for (const space of audience.spaces) this.followSpace(space.id)
    }
    for (const room of toFollow) if (!following.has(room.id)) this.dropRoom(room.id)
    // the store says whether the user just came online (not for a second socket, here or on another node)
    if (await deps.presence.connect(this.userId)) {
      deps.announcer.announce(this.userId, { status: 'online', nickname: user.nickname, lastSeen: null }, audience)
    }
    if (options.onlyRoom !== null && options.afterSeq !== null) await this.subscribeRoom(options.onlyRoom, options.afterSeq, true)
  }

  async onText(text: string): Promise<void> {
    const parsed = parseClientFrame(text)
    if (!parsed.ok) {
      this.send(frame('error', {
        code: parsed.code,
        detail: parsed.detail,
        ...(parsed.client_msg_id ? { client_msg_id: parsed.client_msg_id } : {}),
      }))
      this.countBadFrame()
      return
    }
    const clientFrame = parsed.frame
    try {
      // TypeScript cannot correlate the handler with the frame's own type across the union: the table's type does
      const handler = Session.handlers[clientFrame.type] as (s: Session, f: ClientFrame) => Promise<void>
      await handler(this, clientFrame)
    } catch (err) {
      const known = err instanceof AppError ? err : null
      if (!known) this.deps.log.error('gateway: frame failed', { type: clientFrame.type, error: err })
      this.send(frame('error', {
        code: known?.code ?? 'internal',
        detail: known?.message ?? 'Internal server error.',
        ...(clientFrame.type === 'message.send' ? { client_msg_id: clientFrame.client_msg_id ?? null } : {}),
        ...('room_id' in clientFrame ? { room_id: clientFrame.room_id } : {}),
      }))
    }
  }

  /** The frame handlers of every session (see SessionFrameHandlers). */
  private static readonly handlers: SessionFrameHandlers = {
    ping: async (s) => {
      s.send(frame('pong', {}))
    },
    auth: async (s, { token }) => {
      // a bad token or another user's: the socket keeps its old credentials
      const credentials = await s.deps.auth.renew(token)
      if (credentials.userId !== s.userId) throw unauthorized('The token belongs to another user.')
      if (credentials.sid !== null && !(await s.deps.users.loginActive(credentials.sid))) {
        throw unauthorized('The token’s login was logged out.')
      }
      if (s.closed) return
      s.sid = credentials.sid
      s.expiresAt = credentials.expiresAt
      s.send(frame('auth_ok', { expires_at: s.expiresIso }))
    },
    'message.send': async (s, send) => {
      const { json } = await s.deps.messages.send(s.userId, send.room_id, {
        content: send.content, reply_to_id: send.reply_to_id, client_msg_id: send.client_msg_id,
      })
      // the message's JSON was serialized once for the room; the ack wraps the same string
      s.out(ackJson(send.client_msg_id ?? null, json))
    },
    typing: async (s, { room_id: roomId, is_typing: isTyping }) => {
      if (!s.rooms.has(roomId)) await s.deps.rooms.requireMember(roomId, s.userId)
      if (isTyping) s.typingState().start(roomId)
      else s.typing?.stop(roomId)
    },
    read: async (s, read) => {
      await s.deps.messages.read(read.room_id, s.userId, read)
    },
    subscribe: async (s, { room_id: roomId, after_seq: afterSeq }) => {
      if (s.options.onlyRoom !== null && roomId !== s.options.onlyRoom) {
        throw new AppError('forbidden', 'This socket follows one room only; use /v1/ws for others.')
      }
      await s.deps.rooms.requireMember(roomId, s.userId)
      await s.subscribeRoom(roomId, afterSeq ?? null, true)
    },
    unsubscribe: async (s, { room_id: roomId }) => {
      s.dropRoom(roomId)
      s.send(frame('unsubscribed', { room_id: roomId }))
    },
    'presence.subscribe': (s, { room_id: roomId }) => s.subscribePresence(roomId),
    'presence.unsubscribe': async (s, { room_id: roomId }) => {
      s.dropPresence(roomId)
      s.send(frame('presence.unsubscribed', { room_id: roomId }))
    },
  }

  /**
   * Opt-in presence of a large room (a channel: of its space, heard once for
   * all its channels). Small rooms' presence comes with the room's own events;
   * this adds nothing for them.
   */
  private async subscribePresence(roomId: number): Promise<void> {
    if (this.options.onlyRoom !== null && roomId !== this.options.onlyRoom) {
      throw new AppError('forbidden', 'This socket follows one room only; use /v1/ws for others.')
    }
    const { room } = await this.deps.rooms.requireMember(roomId, this.userId)
    if (!this.live) return
    const topic = room.spaceId === null ? roomPresenceTopic(roomId) : spacePresenceTopic(room.spaceId)
    const topics = (this.presenceTopics ??= new Map())
    if (!topics.has(roomId)) {
      const followed = [...topics.values()].includes(topic)
      topics.set(roomId, topic)
      if (!followed) {
        this.ws.subscribe(topic)
        // from `presence.subscribed` on, other nodes' announcements reach this socket too
        await this.deps.hub.trackTopic(topic, this)
      }
    }
    this.send(frame('presence.subscribed', { room_id: roomId }))
  }

  /** Stops the opt-in presence of a room; its topic is left once no other room of the socket needs it. */
  private dropPresence(roomId: number) {
    const topics = this.presenceTopics
    const topic = topics?.get(roomId)
    if (!topics || topic === undefined) return
    topics.delete(roomId)
    if ([...topics.values()].includes(topic)) return
    this.ws.unsubscribe(topic)
    this.deps.hub.untrackTopic(topic, this)
  }

  /** Drops every opt-in presence of a space's channels (the user left the space). */
  private dropSpacePresence(spaceId: number) {
    const topic = spacePresenceTopic(spaceId)
    for (const [roomId, t] of this.presenceTopics ?? []) if (t === topic) this.dropPresence(roomId)
  }

  /**
   * Follows a room from `afterSeq`: replays what this node already published
   * from the database, then joins the live topic at a point where nothing can
   * slip between (no gap, no duplicate at the seam).
   */
  private async subscribeRoom(roomId: number, afterSeq: number | null, announce: boolean): Promise<void> {
    const { hub } = this.deps
    const topic = roomTopic(roomId)
    const generation = ++this.generation
    this.rooms.set(roomId, generation)
    this.ws.unsubscribe(topic)
    const current = () => this.live && this.rooms.get(roomId) === generation
    try {
      await hub.trackRoom(roomId, this)
      if (!current()) return
      // `sent` is this socket's own cursor; the room's shared mark (hub.deliveredSeq) only ever moves to committed seqs
      let sent = afterSeq ?? hub.deliveredSeq(roomId)
      const lastSeq = hub.deliveredSeq(roomId)
      if (afterSeq !== null && lastSeq - afterSeq > REPLAY_MAX) {
        this.dropRoom(roomId)
        this.send(frame('resync_required', { room_id: roomId, last_seq: lastSeq }))
        return
      }
      for (let rounds = 0; ; rounds++) {
        const delivered = hub.deliveredSeq(roomId)
        if (delivered < 0 || rounds > 50) throw new AppError('unavailable', 'Could not follow the room; subscribe again.')
        if (sent === delivered) break
        if (sent > delivered) {
          // the client claims more than this node published: publish what is committed up to it first; past
          // the committed last_seq there is nothing, and the claim is taken as last_seq for this socket only
          const committed = await hub.catchUp(roomId, sent)
          if (sent > committed) sent = committed
        } else {
          // page by page: a read returns at most 1000 rows, and everything up to `delivered` is due
          for (let after = sent; sent < delivered; after = sent) {
            const page = await this.deps.messages.frames(roomId, after, delivered)
            if (!current()) return
            for (const replayed of page) {
              if (replayed.seq <= sent) continue
              this.out(replayed.frame)
              sent = replayed.seq
            }
            if (page.length === 0) break
          }
          // seqs the database no longer has (expired) are skipped
          sent = Math.max(sent, delivered)
        }
        if (!current()) return
      }
      // synchronous from the last check: no event can be published in between
      this.ws.subscribe(topic)
      if (announce) this.send(frame('subscribed', { room_id: roomId, last_seq: sent }))
    } catch (err) {
      if (this.rooms.get(roomId) === generation) this.dropRoom(roomId)
      throw err
    }
  }

  private relayTyping(roomId: number, isTyping: boolean) {
    const typingJson = JSON.stringify(frame('typing', {
      room_id: roomId, user_id: this.userId, nickname: this.user?.nickname ?? '', is_typing: isTyping,
    }))
    if (this.closed) {
      // the socket is gone: everyone on every node
      this.deps.bus.publish(roomTopic(roomId), typingJson)
      return
    }
    // everyone but this socket: Bun's ws.publish skips the publisher; other nodes via the bus
    this.ws.publish(roomTopic(roomId), typingJson)
    this.deps.bus.publish(roomTopic(roomId), typingJson, { remoteOnly: true })
  }

  private dropRoom(roomId: number) {
    if (!this.rooms.delete(roomId)) return
    this.ws.unsubscribe(roomTopic(roomId))
    this.deps.hub.untrackRoom(roomId, this)
  }

  private followSpace(spaceId: number) {
    this.spaces ??= new Set()
    if (this.spaces.has(spaceId)) return
    this.spaces.add(spaceId)
    this.ws.subscribe(spaceTopic(spaceId))
    this.deps.hub.trackSpace(spaceId, this)
  }

  onJoinSpace(spaceId: number) {
    if (!this.live || !this.options.autoSubscribe || this.options.onlyRoom !== null || this.closed) return
    this.followSpace(spaceId)
  }

  onLeaveSpace(spaceId: number) {
    this.dropSpacePresence(spaceId)
    if (!this.spaces?.delete(spaceId)) return
    this.ws.unsubscribe(spaceTopic(spaceId))
    this.deps.hub.untrackSpace(spaceId, this)
  }

  onJoin(roomId: number) {
    if (!this.live || !this.options.autoSubscribe || this.options.onlyRoom !== null || this.rooms.has(roomId)) return
    // from what this node publishes next: the room.created event carried last_seq
    this.subscribeRoom(roomId, null, false).catch((err) => {
      this.deps.log.warn('gateway: auto-subscribe failed', { room_id: roomId, error: err })
    })
  }

  onLeave(roomId: number) {
    this.dropRoom(roomId)
    this.dropPresence(roomId)
  }

  onRevoke(sid: string) {
    if (this.sid !== sid || this.closed || this.closing) return
    this.hooks.onCredentialsEnded('revoked')
    this.closeSocket(CloseCode.unauthorized, 'logged out')
  }

  closeSocket(code: number, reason: string) {
    if (this.closed || this.closing) return
    this.closing = true
    this.ws.close(code, reason)
  }

  /**
   * The gateway's periodic check: closes the socket with 4001 once its token
   * expired; flags a socket whose send buffer passed the threshold as slow;
   * closes a slow one with 1013 once its buffer drained (the close frame then
   * comes right after everything it was sent), or drops it after SLOW_DRAIN_MS.
   */
  tick(now: number) {
    if (this.closed || this.closing) return
    if (this.expiresAt !== null && now >= this.expiresAt) {
      this.hooks.onCredentialsEnded('expired')
      this.closeSocket(CloseCode.unauthorized, 'token expired')
      return
    }
    if (this.slowSince === null) {
      if (this.ws.getBufferedAmount() > this.hooks.slowBytes) this.markSlow()
      return
    }
    if (this.ws.getBufferedAmount() === 0) this.closeSocket(CloseCode.tryAgainLater, 'too slow')
    else if (now - this.slowSince > SLOW_DRAIN_MS) {
      // the peer reads nothing: no close frame can reach it
      this.closing = true
      this.ws.terminate()
    }
  }

  /** Bun's drain: the send buffer shrank. A slow socket closes once it is empty. */
  onDrain() {
    if (this.slowSince !== null && !this.closed && !this.closing && this.ws.getBufferedAmount() === 0) {
      this.closeSocket(CloseCode.tryAgainLater, 'too slow')
    }
  }

  /** True once the socket was flagged slow. */
  get slow(): boolean {
    return this.slowSince !== null
  }

  /**
   * Stops sending: the socket leaves its topics (Bun publishes nothing more to
   * it) and `out` sends nothing; what is buffered drains, then 1013. The room
   * is never slowed for it, and it resumes with after_seq.
   */
  private markSlow() {
    if (this.slowSince !== null || this.closed || this.closing) return
    this.slowSince = Date.now()
    for (const roomId of this.rooms.keys()) this.ws.unsubscribe(roomTopic(roomId))
    for (const spaceId of this.spaces ?? []) this.ws.unsubscribe(spaceTopic(spaceId))
    if (this.options.onlyRoom === null) this.ws.unsubscribe(userTopic(this.userId))
    for (const topic of new Set(this.presenceTopics?.values())) this.ws.unsubscribe(topic)
    this.hooks.onSlow()
  }

  private countBadFrame() {
    const minute = Math.floor(Date.now() / 60_000)
    if (minute !== this.badFramesMinute) {
      this.badFramesMinute = minute
      this.badFrames = 0
    }
    if (++this.badFrames > ABUSE_PER_MINUTE) this.closeSocket(CloseCode.policy, 'too many bad frames')
  }

  /** The socket closed: release rooms and presence. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    const { deps } = this
    this.typing?.stopAll()
    for (const roomId of this.rooms.keys()) {
      this.rooms.delete(roomId)
      deps.hub.untrackRoom(roomId, this)
    }
    const spaces = this.spaces ?? []
    this.spaces = null
    for (const spaceId of spaces) deps.hub.untrackSpace(spaceId, this)
    for (const topic of new Set(this.presenceTopics?.values())) deps.hub.untrackTopic(topic, this)
    this.presenceTopics = undefined
    deps.hub.untrackUser(this)
    if (!this.user) return
    // offline only when the user's last socket, on any node, went (the store counts them)
    if (await deps.presence.disconnect(this.userId)) {
      const at = new Date()
      // last_seen stored and the audience read in one statement
      let audience
      try {
        audience = await deps.rooms.wentOffline(this.userId, at)
      } catch (err) {
        // the database is down: the co-members learn it from GET /presence later, not from an event
        deps.log.warn('gateway: offline announcement failed', { user_id: this.userId, error: err })
        return
      }
      deps.announcer.announce(this.userId, { status: 'offline', nickname: this.user.nickname, lastSeen: at.toISOString() }, audience)
    }
  }
}
