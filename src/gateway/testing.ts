/**
 * In-memory stand-ins for what a Session and the Hub talk to: Bun's topics and
 * sockets, the bus, and the few chat-service calls a session makes. Unit tests
 * drive sessions with raw client frames over these, with no server and no
 * database. Not imported by the server.
 */
import type { Authenticator } from '../auth/authenticator'
import type { Bus, BusHandler, EventMeta } from '../bus/bus'
import { createEvents } from '../chat/events'
import type { MessagesService } from '../chat/messages'
import type { RoomsService } from '../chat/rooms'
import type { UsersService } from '../chat/users'
import { AppError, notMember, unauthorized } from '../lib/errors'
import type { Logger } from '../lib/logger'
import { PresenceAnnouncer, type AnnouncerOptions } from '../presence/announcer'
import { createMemoryPresence } from '../presence/presence.memory'
import type { Message, User } from '../protocol/objects'
import { messageCreatedJson, type ServerFrame, type ServerFrameOf, type ServerFrameType } from '../protocol/server-frames'
import { roomTopic } from '../protocol/topics'
import { Hub, type Publisher } from './hub'
import { Session, type SessionDeps, type SessionHooks, type SessionOptions, type SocketLike } from './session'
import { TypingThrottle } from './typing'

/** Bun's topic pub/sub: a publish reaches every subscribed socket but the publisher. */
export class FakeTopics implements Publisher {
  private subscribers = new Map<string, Set<FakeSocket>>()

  publish(topic: string, data: string, publisher?: FakeSocket): number {
    for (const socket of this.subscribers.get(topic) ?? []) if (socket !== publisher) socket.receive(data)
    return data.length
  }

  subscribe(topic: string, socket: FakeSocket) {
    let set = this.subscribers.get(topic)
    if (!set) this.subscribers.set(topic, (set = new Set()))
    set.add(socket)
  }

  unsubscribe(topic: string, socket: FakeSocket) {
    this.subscribers.get(topic)?.delete(socket)
  }
}

/** A socket that keeps every frame it got, the topics it follows and how it was closed. */
export class FakeSocket implements SocketLike {
  /** frames as sent, in order (the session's own and the topics') */
  readonly texts: string[] = []
  readonly topics = new Set<string>()
  /** what getBufferedAmount reports, bytes */
  buffered = 0
  /** what send returns: bytes sent; -1 queued behind backpressure; 0 dropped */
  sendResult: number | null = null
  closedWith: { code: number | undefined; reason: string | undefined } | null = null
  terminated = false

  constructor(private readonly bunTopics: FakeTopics = new FakeTopics()) {}

  send(data: string): number {
    this.texts.push(data)
    return this.sendResult ?? data.length
  }

  /** A topic delivery: Bun skips a socket that left the topic, and writes to its buffer like send does. */
  receive(data: string) {
    this.texts.push(data)
  }

  publish(topic: string, data: string): number {
    return this.bunTopics.publish(topic, data, this)
  }

  subscribe(topic: string) {
    this.topics.add(topic)
    this.bunTopics.subscribe(topic, this)
  }

  unsubscribe(topic: string) {
    this.topics.delete(topic)
    this.bunTopics.unsubscribe(topic, this)
  }

  close(code?: number, reason?: string) {
    this.closedWith ??= { code, reason }
  }

  terminate() {
    this.terminated = true
  }

  getBufferedAmount(): number {
    return this.buffered
  }

  /** Every frame, parsed. */
  get frames(): ServerFrame[] {
    return this.texts.map((text) => JSON.parse(text) as ServerFrame)
  }

  /** The frames of one type, in order. */
  framesOf<K extends ServerFrameType>(type: K): ServerFrameOf<K>[] {
    return this.frames.filter((f): f is ServerFrameOf<K> => f.type === type)
  }

  /** The seqs of the room's message.created frames, in the order received. */
  seqs(roomId: number): number[] {
    return this.framesOf('message.created').filter((f) => f.message.room_id === roomId).map((f) => f.message.seq)
  }
}

/**
 * The bus of one node: publishes reach the handler synchronously (but
 * `remoteOnly`), every call is recorded, and `subscribe` can be held open or
 * made to fail.
 */
export class FakeBus implements Bus {
  readonly kind = 'local' as const
  readonly relayStats = { received: 0, lagMsAvg: 0 }
  readonly published: { topic: string; frame: string; meta: EventMeta | undefined }[] = []
  /** topic → subscribe calls minus unsubscribe calls */
  readonly following = new Map<string, number>()
  /** what the next subscribe calls wait for (null: resolve at once) */
  subscribeGate: Promise<void> | null = null
  private handler: BusHandler = () => {}
  private resync: () => void = () => {}

  setHandler(handler: BusHandler) {
    this.handler = handler
  }

  onResync(cb: () => void) {
    this.resync = cb
  }

  /** The relay reconnected: the hub catches its rooms up. */
  triggerResync() {
    this.resync()
  }

  publish(topic: string, frame: string, meta?: EventMeta) {
    this.published.push({ topic, frame, meta })
    if (!meta?.remoteOnly) this.handler(topic, frame, meta)
  }

  /** An event from another node (remoteOnly ones included). */
  deliver(topic: string, frame: string, meta?: EventMeta) {
    this.handler(topic, frame, meta)
  }

  async subscribe(topics: string[]) {
    for (const t of topics) this.following.set(t, (this.following.get(t) ?? 0) + 1)
    if (this.subscribeGate) await this.subscribeGate
  }

  unsubscribe(topics: string[]) {
    for (const t of topics) {
      const n = (this.following.get(t) ?? 0) - 1
      if (n <= 0) this.following.delete(t)
      else this.following.set(t, n)
    }
  }

  async ping() {}
  async close() {}
}

/** A promise with its resolve, to hold a fake call open. */
export function gate() {
  let open!: () => void
  const promise = new Promise<void>((resolve) => {
    open = resolve
  })
  return { promise, open }
}

export const silentLog: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
  child: () => silentLog,
}

export const sampleUser = (id: number): User => ({
  id,
  email: `user${id}@example.com`,
  nickname: `user${id}`,
  avatar_url: null,
  bio: null,
  online: false,
  last_seen: null,
  created_at: '2026-01-01T00:00:00.000Z',
})

export const sampleMessage = (roomId: number, seq: number, senderId = 1, clientMsgId: string | null = null): Message => ({
  id: roomId * 100_000 + seq,
  room_id: roomId,
  seq,
  sender: { id: senderId, nickname: `user${senderId}`, avatar_url: null },
  type: 'text',
  content: `message ${seq}`,
  reply_to_id: null,
  attachment: null,
  reactions: [],
  client_msg_id: clientMsgId,
  created_at: '2026-01-01T00:00:00.000Z',
  edited_at: null,
  deleted: false,
})

/**
 * Rooms, spaces, messages and logins in memory, with the service calls a
 * session and the hub make. A committed message goes out on the bus the way
 * Events.messageCreated sends it.
 */
export class FakeChat {
  /** room → member user ids */
  readonly members = new Map<number, Set<number>>()
  /** space → member user ids */
  readonly spaceMembers = new Map<number, Set<number>>()
  /** channel → its space */
  readonly roomSpace = new Map<number, number>()
  /** room → committed messages' JSON by seq (a seq may be missing: expired) */
  readonly messages = new Map<number, Map<number, string>>()
  /** room → committed last_seq */
  readonly lastSeqs = new Map<number, number>()
  readonly revokedLogins = new Set<string>()
  /** token → the user and login it stands for */
  readonly tokens = new Map<string, { userId: number; sid: string | null; expiresAt: number | null }>()
  /** what each `frames` read waits for first (null: nothing) */
  framesGate: Promise<void> | null = null
  framesCalls = 0

  constructor(private readonly bus: FakeBus) {}

  addRoom(roomId: number, memberIds: number[], spaceId?: number) {
    this.members.set(roomId, new Set(memberIds))
    this.lastSeqs.set(roomId, this.lastSeqs.get(roomId) ?? 0)
    if (spaceId !== undefined) {
      this.roomSpace.set(roomId, spaceId)
      const set = this.spaceMembers.get(spaceId) ?? new Set()
      for (const id of memberIds) set.add(id)
      this.spaceMembers.set(spaceId, set)
    }
  }

  /** Commits a message and publishes it as the messages service does; returns its JSON. */
  commit(roomId: number, senderId = 1, clientMsgId: string | null = null): string {
    const seq = (this.lastSeqs.get(roomId) ?? 0) + 1
    const json = this.store(roomId, seq, senderId, clientMsgId)
    this.bus.publish(roomTopic(roomId), messageCreatedJson(json), { seq })
    return json
  }

  /** Commits a message without publishing it (its event was lost, or not yet relayed). */
  store(roomId: number, seq: number, senderId = 1, clientMsgId: string | null = null): string {
    const json = JSON.stringify(sampleMessage(roomId, seq, senderId, clientMsgId))
    const room = this.messages.get(roomId) ?? new Map<number, string>()
    room.set(seq, json)
    this.messages.set(roomId, room)
    this.lastSeqs.set(roomId, Math.max(seq, this.lastSeqs.get(roomId) ?? 0))
    return json
  }

  async frames(roomId: number, after: number, upto: number) {
    this.framesCalls++
    if (this.framesGate) await this.framesGate
    const room = this.messages.get(roomId) ?? new Map<number, string>()
    return [...room.entries()]
      .filter(([seq]) => seq > after && seq <= upto)
      .sort(([a], [b]) => a - b)
      .map(([seq, json]) => ({ seq, frame: messageCreatedJson(json) as string }))
  }

  async lastSeq(roomId: number) {
    return this.lastSeqs.get(roomId) ?? 0
  }

  private requireMember(roomId: number, userId: number) {
    if (!this.members.get(roomId)?.has(userId)) throw notMember()
    return { room: { lastSeq: this.lastSeqs.get(roomId) ?? 0, spaceId: this.roomSpace.get(roomId) ?? null } }
  }

  /** socketStart calls (one per session open) */
  socketStarts = 0

  /** The user's rooms (channels left out) and spaces, with member counts. */
  private audience(userId: number) {
    return {
      rooms: this.roomsOf(userId).filter((id) => !this.roomSpace.has(id)).map((id) => ({ id, members: this.members.get(id)!.size })),
      spaces: [...this.spaceMembers].filter(([, ids]) => ids.has(userId)).map(([id, ids]) => ({ id, members: ids.size })),
    }
  }

  private roomsOf(userId: number): number[] {
    return [...this.members].filter(([, ids]) => ids.has(userId)).map(([id]) => id)
  }

  /**
   * The services' calls a session makes. The casts say these implement only
   * the methods sessions call; a session calling another one fails the test.
   */
  services() {
    const users = {
      loginActive: async (sid: string) => !this.revokedLogins.has(sid),
    } as unknown as UsersService
    const rooms = {
      socketStart: async (userId: number, sid: string | null) => {
        this.socketStarts++
        return {
          user: { ...sampleUser(userId), online: true },
          loginActive: sid === null || !this.revokedLogins.has(sid),
          rooms: this.roomsOf(userId).sort((a, b) => a - b).map((id) => ({ id, last_seq: this.lastSeqs.get(id) ?? 0 })),
          audience: this.audience(userId),
        }
      },
      audiences: async (userId: number) => this.audience(userId),
      wentOffline: async (userId: number) => this.audience(userId),
      requireMember: async (roomId: number, userId: number) => this.requireMember(roomId, userId),
    } as unknown as RoomsService
    const messages = {
      send: async (userId: number, roomId: number, input: { client_msg_id?: string }) => {
        this.requireMember(roomId, userId)
        return { json: this.commit(roomId, userId, input.client_msg_id ?? null), created: true }
      },
      read: async (roomId: number, userId: number) => {
        this.requireMember(roomId, userId)
        return { last_read_seq: 0, unread_count: 0 }
      },
      frames: (roomId: number, after: number, upto: number) => this.frames(roomId, after, upto),
      lastSeq: (roomId: number) => this.lastSeq(roomId),
    } as unknown as MessagesService
    const auth = {
      fromUpgrade: async () => {
        throw new AppError('bad_request', 'not in unit tests')
      },
      renew: async (token: string) => {
        const claims = this.tokens.get(token)
        if (!claims) throw unauthorized('The token is invalid.')
        return claims
      },
    } as unknown as Authenticator
    return { users, rooms, messages, auth }
  }
}

/** One node for unit tests: its topics, bus, hub, chat data, and a way to open sessions. */
export function fakeNode(o: { typing?: TypingThrottle; sequencerWaitMs?: number; announcer?: Partial<AnnouncerOptions> } = {}) {
  const topics = new FakeTopics()
  const bus = new FakeBus()
  const chat = new FakeChat(bus)
  const hub = new Hub({
    bus,
    log: silentLog,
    waitMs: o.sequencerWaitMs ?? 20,
    fetchRange: (roomId, after, upto) => chat.frames(roomId, after, upto),
    lastSeq: (roomId) => chat.lastSeq(roomId),
  })
  hub.attach(topics)
  const presence = createMemoryPresence()
  const services = chat.services()
  const deps: SessionDeps = {
    ...services,
    events: createEvents(bus),
    bus,
    hub,
    typing: o.typing ?? new TypingThrottle(),
    presence,
    // no window by default: unit tests of sessions see each change at once; presence tests pass a clock
    announcer: new PresenceAnnouncer({ publish: (topic, json) => bus.publish(topic, json), coalesceMs: 0, roomMaxMembers: 50, ...o.announcer }),
    log: silentLog,
  }
  const stats = { slow: 0, expired: 0, revoked: 0 }
  const hooks: SessionHooks = {
    slowBytes: 1000,
    onSlow: () => void stats.slow++,
    onCredentialsEnded: (why) => void stats[why]++,
  }

  /** Opens a session as the gateway does (`open` awaited: `ready` was sent). */
  async function connect(userId: number, options: Partial<Omit<SessionOptions, 'userId'>> = {}) {
    const socket = new FakeSocket(topics)
    const session = new Session(socket, deps, {
      userId, autoSubscribe: true, onlyRoom: null, afterSeq: null, sid: `login-${userId}`, expiresAt: null, ...options,
    }, hooks)
    await session.open()
    return { socket, session, send: (clientFrame: object | string) => session.onText(typeof clientFrame === 'string' ? clientFrame : JSON.stringify(clientFrame)) }
  }

  return { topics, bus, chat, hub, deps, hooks, stats, presence, connect }
}
