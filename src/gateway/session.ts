import type { Authenticator } from '../auth/authenticator'
import type { Bus } from '../bus/bus'
import type { Events } from '../chat/events'
import type { MessagesService } from '../chat/messages'
import type { RoomsService } from '../chat/rooms'
import type { User, UsersService } from '../chat/users'
import { AppError, unauthorized } from '../lib/errors'
import type { Logger } from '../lib/logger'
import type { PresenceStore } from '../presence/presence'
import { CloseCode, parseClientFrame, type ClientFrame } from '../protocol/frames'
import type { Hub, HubMember } from './hub'
import type { ServerFrame, ServerFrameOf } from '../protocol/server-frames'
import { roomTopic, spaceTopic, userTopic } from '../protocol/topics'

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
  presence: PresenceStore
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

/** More missing messages than this on subscribe: the client reads history over REST. */
export const REPLAY_MAX = 1000
/** Bad frames allowed per minute before the socket is closed with 1008. */
const ABUSE_PER_MINUTE = 20
/** Typing relayed at most once per user, room and this many ms. */
const TYPING_INTERVAL_MS = 1000
/** A typing indicator not refreshed for this long is cleared (is_typing false relayed). */
export const TYPING_TTL_MS = 6000
/** A slow socket whose buffer has not drained in this long is dropped without a close frame (its peer reads nothing). */
export const SLOW_DRAIN_MS = 15_000

/**
 * One WebSocket: authenticated user, followed rooms, frames in and out. The
 * Bun handlers only forward open/message/close here.
 */
export class Session implements HubMember {
  readonly sessionId = crypto.randomUUID()
  readonly userId: number
  private user: User | null = null
  /** followed rooms → generation; a newer subscribe or unsubscribe bumps it */
  private rooms = new Map<number, number>()
  /** spaces whose own events (space.*, new channels) this socket follows */
  private spaces = new Set<number>()
  private gen = 0
  private closed = false
  /** close() was asked of the socket; Bun's close handler follows */
  private closing = false
  /** past the send-buffer threshold: nothing more is sent; closed with 1013 once the buffer drains */
  private slowSince: number | null = null
  /** the login and expiry of the socket's credentials; an `auth` frame replaces them */
  private sid: string | null
  private expiresAt: number | null
  private abuse = 0
  private abuseWindow = 0
  /** rooms where this socket's user is typing: the stale-clear timer */
  private typing = new Map<number, { timer: ReturnType<typeof setTimeout> }>()

  constructor(
    private readonly ws: SocketLike,
    private readonly d: SessionDeps,
    private readonly o: SessionOptions,
    private readonly hooks: SessionHooks = { slowBytes: Infinity, onSlow: () => {}, onCredentialsEnded: () => {} },
  ) {
    this.userId = o.userId
    this.sid = o.sid
    this.expiresAt = o.expiresAt
  }

  /** Frames still go out: not closed, not slow. */
  private get live(): boolean {
    return !this.closed && !this.closing && this.slowSince === null
  }

  private send(frame: ServerFrame) {
    this.out(JSON.stringify(frame))
  }

  /** Every frame this session sends itself goes through here (topics are Bun's). */
  private out(data: string) {
    if (!this.live) return
    // -1: queued behind backpressure; 0: dropped (past Bun's hard limit), so the stream has a hole: slow either way
    const r = this.ws.send(data)
    if (r === 0 || (r < 0 && this.ws.getBufferedAmount() > this.hooks.slowBytes)) this.markSlow()
  }

  private get expiresIso(): string | null {
    return this.expiresAt === null ? null : new Date(this.expiresAt).toISOString()
  }

  async open(): Promise<void> {
    const { d, o } = this
    d.hub.trackUser(this)
    // a per-room socket needs no room list (the upgrade read its room); the user's profile is cached briefly
    const followsSpaces = o.onlyRoom === null && o.autoSubscribe
    const [user, seqs, audiences, active] = await Promise.all([
      d.users.profileForSocket(this.userId),
      o.onlyRoom === null ? d.rooms.roomSeqs(this.userId) : null,
      d.rooms.audiences(this.userId),
      // a token outlives its login by up to ACCESS_TTL: a socket of a login already logged out does not start
      // (one logged out from here on is closed by onRevoke: the hub follows the user since trackUser above)
      this.sid === null ? true : d.users.loginActive(this.sid),
    ])
    if (this.closed) return
    if (!active) {
      this.hooks.onCredentialsEnded('revoked')
      this.closeSocket(CloseCode.unauthorized, 'logged out')
      return
    }
    this.user = user
    const listed = seqs ?? [{ id: o.onlyRoom!, last_seq: o.roomLastSeq ?? 0 }]
    // rooms followed from `ready` on: every room (auto_subscribe), or the per-room socket's room without after_seq
    const follow = o.onlyRoom === null ? (o.autoSubscribe ? listed : []) : o.afterSeq === null ? listed : []
    for (const r of follow) this.rooms.set(r.id, ++this.gen)
    const tracked = await Promise.allSettled(follow.map((r) => d.hub.trackRoom(r.id, this)))
    if (this.closed) return
    // from here to the last subscribe nothing can be published in between: `ready` tells each
    // room's last_seq as this node has delivered it, and live events continue right after it
    const following = new Set(follow.filter((_, i) => tracked[i]!.status === 'fulfilled').map((r) => r.id))
    const rooms = listed.map((r) => ({ id: r.id, last_seq: following.has(r.id) ? d.hub.deliveredSeq(r.id) : r.last_seq }))
    this.send({ type: 'ready', user: { ...user, online: true }, rooms, session_id: this.sessionId, expires_at: this.expiresIso })
    if (this.live) {
      if (o.onlyRoom === null) this.ws.subscribe(userTopic(this.userId))
      for (const id of following) this.ws.subscribe(roomTopic(id))
      if (followsSpaces) for (const id of audiences.spaces) this.followSpace(id)
    }
    for (const r of follow) if (!following.has(r.id)) this.dropRoom(r.id)
    if (await d.presence.connect(this.userId)) this.announcePresence(audiences, { type: 'presence', user_id: user.id, nickname: user.nickname, status: 'online', last_seen: null })
    if (o.onlyRoom !== null && o.afterSeq !== null) await this.subscribeRoom(o.onlyRoom, o.afterSeq, true)
  }

  async onText(text: string): Promise<void> {
    const parsed = parseClientFrame(text)
    if (!parsed.ok) {
      this.send({ type: 'error', code: parsed.code, detail: parsed.detail, ...(parsed.client_msg_id ? { client_msg_id: parsed.client_msg_id } : {}) })
      this.countAbuse()
      return
    }
    const f = parsed.frame
    try {
      await this.handle(f)
    } catch (err) {
      const e = err instanceof AppError ? err : null
      if (!e) this.d.log.error('gateway: frame failed', { type: f.type, error: err })
      this.send({
        type: 'error',
        code: e?.code ?? 'internal',
        detail: e?.message ?? 'Internal server error.',
        ...(f.type === 'message.send' ? { client_msg_id: f.client_msg_id ?? null } : {}),
        ...('room_id' in f ? { room_id: f.room_id } : {}),
      })
    }
  }

  private async handle(f: ClientFrame): Promise<void> {
    const { d } = this
    switch (f.type) {
      case 'ping':
        this.send({ type: 'pong' })
        return
      case 'auth': {
        // a bad token or another user's: the socket keeps its old credentials
        const c = await d.auth.renew(f.token)
        if (c.userId !== this.userId) throw unauthorized('The token belongs to another user.')
        if (c.sid !== null && !(await d.users.loginActive(c.sid))) throw unauthorized('The token’s login was logged out.')
        if (this.closed) return
        this.sid = c.sid
        this.expiresAt = c.expiresAt
        this.send({ type: 'auth_ok', expires_at: this.expiresIso })
        return
      }
      case 'message.send': {
        const { json } = await d.messages.send(this.userId, f.room_id, {
          content: f.content, reply_to_id: f.reply_to_id, client_msg_id: f.client_msg_id,
        })
        // the message's JSON was serialized once for the room; the ack wraps the same string
        this.out(`{"type":"ack","client_msg_id":${JSON.stringify(f.client_msg_id ?? null)},"message":${json}}`)
        return
      }
      case 'typing': {
        if (!this.rooms.has(f.room_id)) await d.rooms.requireMember(f.room_id, this.userId)
        const now = Date.now()
        const active = this.typing.get(f.room_id)
        if (f.is_typing) {
          if (active) clearTimeout(active.timer)
          // stale typing clears itself: no refresh within TYPING_TTL_MS relays is_typing false
          const timer = setTimeout(() => this.stopTyping(f.room_id), TYPING_TTL_MS)
          this.typing.set(f.room_id, { timer })
          // once a second per user and room, whichever of the user's sockets on this node types
          if (d.hub.typingAllowed(this.userId, f.room_id, now, TYPING_INTERVAL_MS)) this.relayTyping(f.room_id, true)
        } else {
          this.stopTyping(f.room_id)
        }
        return
      }
      case 'read':
        await d.messages.read(f.room_id, this.userId, f)
        return
      case 'subscribe':
        if (this.o.onlyRoom !== null && f.room_id !== this.o.onlyRoom) {
          throw new AppError('forbidden', 'This socket follows one room only; use /v1/ws for others.')
        }
        await d.rooms.requireMember(f.room_id, this.userId)
        await this.subscribeRoom(f.room_id, f.after_seq ?? null, true)
        return
      case 'unsubscribe':
        this.dropRoom(f.room_id)
        this.send({ type: 'unsubscribed', room_id: f.room_id })
        return
    }
  }

  /**
   * Follows a room from `afterSeq`: replays what this node already published
   * from the database, then joins the live topic at a point where nothing can
   * slip between (no gap, no duplicate at the seam).
   */
  private async subscribeRoom(roomId: number, afterSeq: number | null, announce: boolean): Promise<void> {
    const { hub } = this.d
    const topic = roomTopic(roomId)
    const gen = ++this.gen
    this.rooms.set(roomId, gen)
    this.ws.unsubscribe(topic)
    const current = () => this.live && this.rooms.get(roomId) === gen
    try {
      await hub.trackRoom(roomId, this)
      if (!current()) return
      // `sent` is this socket's own cursor; the room's shared mark (hub.deliveredSeq) only ever moves to committed seqs
      let sent = afterSeq ?? hub.deliveredSeq(roomId)
      const lastSeq = hub.deliveredSeq(roomId)
      if (afterSeq !== null && lastSeq - afterSeq > REPLAY_MAX) {
        this.dropRoom(roomId)
        this.send({ type: 'resync_required', room_id: roomId, last_seq: lastSeq })
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
            const frames = await this.d.messages.frames(roomId, after, delivered)
            if (!current()) return
            for (const f of frames) {
              if (f.seq <= sent) continue
              this.out(f.frame)
              sent = f.seq
            }
            if (frames.length === 0) break
          }
          // seqs the database no longer has (expired) are skipped
          sent = Math.max(sent, delivered)
        }
        if (!current()) return
      }
      // synchronous from the last check: no event can be published in between
      this.ws.subscribe(topic)
      if (announce) this.send({ type: 'subscribed', room_id: roomId, last_seq: sent })
    } catch (err) {
      if (this.rooms.get(roomId) === gen) this.dropRoom(roomId)
      throw err
    }
  }

  private relayTyping(roomId: number, isTyping: boolean) {
    const frame = JSON.stringify({
      type: 'typing', room_id: roomId, user_id: this.userId, nickname: this.user?.nickname ?? '', is_typing: isTyping,
    })
    if (this.closed) {
      // the socket is gone: everyone on every node
      this.d.bus.publish(roomTopic(roomId), frame)
      return
    }
    // everyone but this socket: Bun's ws.publish skips the publisher; other nodes via the bus
    this.ws.publish(roomTopic(roomId), frame)
    this.d.bus.publish(roomTopic(roomId), frame, { remoteOnly: true })
  }

  private stopTyping(roomId: number) {
    const active = this.typing.get(roomId)
    if (!active) return
    clearTimeout(active.timer)
    this.typing.delete(roomId)
    this.relayTyping(roomId, false)
  }

  private dropRoom(roomId: number) {
    if (!this.rooms.delete(roomId)) return
    this.ws.unsubscribe(roomTopic(roomId))
    this.d.hub.untrackRoom(roomId, this)
  }

  private followSpace(spaceId: number) {
    if (this.spaces.has(spaceId)) return
    this.spaces.add(spaceId)
    this.ws.subscribe(spaceTopic(spaceId))
    this.d.hub.trackSpace(spaceId, this)
  }

  /** Presence to the user's rooms one by one and to each of their spaces once (not once per channel). */
  private announcePresence(to: { rooms: number[]; spaces: number[] }, frame: ServerFrameOf<'presence'>) {
    for (const id of to.rooms) this.d.events.toRoom(id, frame)
    for (const id of to.spaces) this.d.events.toSpace(id, frame)
  }

  onJoinSpace(spaceId: number) {
    if (!this.live || !this.o.autoSubscribe || this.o.onlyRoom !== null || this.closed) return
    this.followSpace(spaceId)
  }

  onLeaveSpace(spaceId: number) {
    if (!this.spaces.delete(spaceId)) return
    this.ws.unsubscribe(spaceTopic(spaceId))
    this.d.hub.untrackSpace(spaceId, this)
  }

  onJoin(roomId: number) {
    if (!this.live || !this.o.autoSubscribe || this.o.onlyRoom !== null || this.rooms.has(roomId)) return
    // from what this node publishes next: the room.created event carried last_seq
    this.subscribeRoom(roomId, null, false).catch((err) => {
      this.d.log.warn('gateway: auto-subscribe failed', { room_id: roomId, error: err })
    })
  }

  onLeave(roomId: number) {
    this.dropRoom(roomId)
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
    for (const spaceId of this.spaces) this.ws.unsubscribe(spaceTopic(spaceId))
    if (this.o.onlyRoom === null) this.ws.unsubscribe(userTopic(this.userId))
    this.hooks.onSlow()
  }

  private countAbuse() {
    const minute = Math.floor(Date.now() / 60_000)
    if (minute !== this.abuseWindow) {
      this.abuseWindow = minute
      this.abuse = 0
    }
    if (++this.abuse > ABUSE_PER_MINUTE) this.closeSocket(CloseCode.policy, 'too many bad frames')
  }

  /** The socket closed: release rooms and presence. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    const { d } = this
    for (const roomId of [...this.typing.keys()]) this.stopTyping(roomId)
    for (const roomId of [...this.rooms.keys()]) {
      this.rooms.delete(roomId)
      d.hub.untrackRoom(roomId, this)
    }
    for (const spaceId of [...this.spaces]) {
      this.spaces.delete(spaceId)
      d.hub.untrackSpace(spaceId, this)
    }
    d.hub.untrackUser(this)
    if (!this.user) return
    if (await d.presence.disconnect(this.userId)) {
      const at = new Date()
      await d.users.touchLastSeen(this.userId, at).catch(() => {})
      const audiences = await d.rooms.audiences(this.userId).catch(() => ({ rooms: [], spaces: [] }))
      this.announcePresence(audiences, {
        type: 'presence', user_id: this.userId, nickname: this.user.nickname, status: 'offline', last_seen: at.toISOString(),
      })
    }
  }
}
