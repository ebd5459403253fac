/**
 * A typed WebSocket client for the chat server (docs/protocol.md): one socket
 * per client, reconnect with backoff and jitter, per-room resume with
 * `after_seq` (paging history over REST on `resync_required`), token renewal
 * before expiry (the `auth` frame) and after a 4001 close, idempotent sends
 * with `client_msg_id` kept in an outbox across reconnects and offline spells,
 * and typed event listeners. Works in browsers, Bun and Node (≥ 22, or pass
 * a WebSocket implementation).
 */
import { reconnectPolicy } from '../../src/protocol/close-codes'
import type { ClientFrame } from '../../src/protocol/frames'
import type { Message } from '../../src/protocol/objects'
import type { ServerFrame, ServerFrameOf, ServerFrameType } from '../../src/protocol/server-frames'

export type { ClientFrame, Message, ServerFrame, ServerFrameOf, ServerFrameType }

type Listener<K extends ServerFrameType> = (frame: ServerFrameOf<K>) => void

export type ChatSocketOptions = {
  /** base URLs of the server (http:// or https://), tried in turn after a failure (several nodes, or one balancer) */
  urls: string[]
  /** the current access token; null when the connection is authenticated otherwise (gateway mode: the gateway's cookie) */
  token: () => string | null | Promise<string | null>
  /** gets a fresh access token (POST /v1/auth/refresh); when absent, a socket closed with 4001 stays closed */
  refresh?: () => Promise<string>
  /** the WebSocket class (defaults to the global one) */
  WebSocket?: typeof WebSocket
  /** first reconnect delay and the cap, ms (each attempt doubles, times a random 0.5..1.5) */
  backoffMs?: { initial: number; max: number }
  /** renew this long before the token expires, ms */
  renewBeforeMs?: number
}

type Outgoing = {
  room_id: number
  content: string
  reply_to_id?: number | null
  client_msg_id: string
  resolve: (m: Message) => void
  reject: (e: ChatError) => void
}

/** A refused send or a socket that ended for good: the server's `code` and `detail`. */
export class ChatError extends Error {
  constructor(readonly code: string, detail: string) {
    super(detail)
  }
}

/** codes of a send worth trying again on the next connection */
const TRANSIENT = new Set(['unavailable', 'rate_limited', 'internal'])

export class ChatSocket {
  private ws: WebSocket | null = null
  private listeners = new Map<string, Set<(f: ServerFrame) => void>>()
  /** highest seq delivered per room: the resume point */
  readonly lastSeq = new Map<number, number>()
  /** rooms followed on the current socket */
  private following = new Set<number>()
  private outbox = new Map<string, Outgoing>()
  private attempt = 0
  private urlIndex = 0
  private closed = false
  private renewTimer: ReturnType<typeof setTimeout> | null = null
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null
  private readonly WS: typeof WebSocket
  private readonly backoff: { initial: number; max: number }

  constructor(private readonly options: ChatSocketOptions) {
    if (options.urls.length === 0) throw new Error('ChatSocket: at least one URL')
    this.WS = options.WebSocket ?? globalThis.WebSocket
    this.backoff = options.backoffMs ?? { initial: 500, max: 30_000 }
    void this.connect()
  }

  /** True while a socket is open and `ready` arrived. */
  get connected(): boolean {
    return this.ws?.readyState === this.WS.OPEN && this.ready
  }
  private ready = false

  /** Listens to one frame type; returns the unsubscribe function. */
  on<K extends ServerFrameType>(type: K, fn: Listener<K>): () => void {
    let set = this.listeners.get(type)
    if (!set) this.listeners.set(type, (set = new Set()))
    set.add(fn as (f: ServerFrame) => void)
    return () => set.delete(fn as (f: ServerFrame) => void)
  }

  /**
   * Sends a message; resolves with it once committed (the `ack`). While the
   * socket is down it waits in the outbox and goes on the next connection, with
   * the same `client_msg_id`, so it is stored exactly once.
   */
  send(roomId: number, content: string, opts: { replyToId?: number; clientMsgId?: string } = {}): Promise<Message> {
    const client_msg_id = opts.clientMsgId ?? crypto.randomUUID()
    return new Promise<Message>((resolve, reject) => {
      const out: Outgoing = { room_id: roomId, content, reply_to_id: opts.replyToId ?? null, client_msg_id, resolve, reject }
      this.outbox.set(client_msg_id, out)
      if (this.connected) this.transmit(out)
    })
  }

  /** Messages waiting for their ack. */
  get pending(): number {
    return this.outbox.size
  }

  /**
   * Follows a room the socket does not get by itself: one joined over REST
   * (a public room, a space's channel). Rooms in `ready` and rooms the user is
   * added to (`room.created`) are followed already; following one again is a no-op.
   */
  follow(roomId: number, afterSeq?: number): void {
    if (this.following.has(roomId)) return
    this.subscribe(roomId, afterSeq ?? this.lastSeq.get(roomId) ?? 0)
  }

  typing(roomId: number, isTyping: boolean): void {
    this.frame({ type: 'typing', room_id: roomId, is_typing: isTyping })
  }

  read(roomId: number, seq: number): void {
    this.frame({ type: 'read', room_id: roomId, seq })
  }

  /** Closes for good: no reconnect; unsent messages are rejected. */
  close(): void {
    this.closed = true
    this.clearTimers()
    this.ws?.close(1000)
    for (const o of this.outbox.values()) o.reject(new ChatError('closed', 'The socket was closed before the message was sent.'))
    this.outbox.clear()
  }

  private frame(f: ClientFrame): boolean {
    if (this.ws?.readyState !== this.WS.OPEN) return false
    this.ws.send(JSON.stringify(f))
    return true
  }

  private transmit(o: Outgoing) {
    this.frame({ type: 'message.send', room_id: o.room_id, content: o.content, reply_to_id: o.reply_to_id, client_msg_id: o.client_msg_id })
  }

  private emit(f: ServerFrame) {
    for (const fn of this.listeners.get(f.type) ?? []) fn(f)
  }

  private base(): string {
    return this.options.urls[this.urlIndex % this.options.urls.length]!.replace(/\/$/, '')
  }

  private async connect() {
    if (this.closed) return
    this.ready = false
    let token: string | null
    try {
      token = await this.options.token()
    } catch {
      return this.scheduleReconnect()
    }
    const url = `${this.base().replace(/^http/, 'ws')}/v1/ws?auto_subscribe=false${token === null ? '' : `&token=${encodeURIComponent(token)}`}`
    const ws = new this.WS(url)
    this.ws = ws
    this.following = new Set()
    ws.onmessage = (e) => {
      if (ws === this.ws) this.onFrame(JSON.parse(String(e.data)) as ServerFrame)
    }
    ws.onclose = (e) => {
      if (ws !== this.ws) return
      this.ready = false
      this.clearTimers()
      void this.onClose(e.code, e.reason)
    }
  }

  /** What to do after a close: the protocol's reconnect policy for its code (src/protocol/close-codes.ts). */
  private async onClose(code: number, reason: string) {
    if (this.closed) return
    const policy = reconnectPolicy(code)
    if (policy === 'never') {
      this.closed = true
      this.emit({ type: 'error', code: `closed_${code}`, detail: reason || `The server closed the socket (${code}).` })
      return
    }
    if (policy === 'refresh-then-reconnect') {
      if (!this.options.refresh) {
        this.closed = true
        this.emit({ type: 'error', code: 'unauthorized', detail: 'The credentials ended and no refresh is configured.' })
        return
      }
      try {
        await this.options.refresh()
        return void this.connect()
      } catch {
        // fall through to a backoff: the refresh may work later
      }
    }
    // another node may answer: at once after a drain, else after a backoff
    this.urlIndex++
    if (policy === 'now') return void this.connect()
    this.scheduleReconnect()
  }

  private scheduleReconnect() {
    if (this.closed) return
    const base = Math.min(this.backoff.max, this.backoff.initial * 2 ** this.attempt++)
    this.reconnectTimer = setTimeout(() => void this.connect(), base * (0.5 + Math.random()))
  }

  private clearTimers() {
    if (this.renewTimer) clearTimeout(this.renewTimer)
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer)
    this.renewTimer = this.reconnectTimer = null
  }

  private subscribe(roomId: number, fallback: number) {
    this.following.add(roomId)
    this.frame({ type: 'subscribe', room_id: roomId, after_seq: this.lastSeq.get(roomId) ?? fallback })
  }

  private onFrame(f: ServerFrame) {
    switch (f.type) {
      case 'ready':
        this.attempt = 0
        this.ready = true
        // resume every room from the last seq seen (or from now, for a room never seen)
        for (const r of f.rooms) this.subscribe(r.id, r.last_seq)
        for (const o of this.outbox.values()) this.transmit(o)
        this.scheduleRenewal(f.expires_at)
        break
      case 'auth_ok':
        this.scheduleRenewal(f.expires_at)
        break
      case 'message.created': {
        const m = f.message
        // a replay after a reconnect can repeat what was delivered: each seq once, in order
        if (m.seq <= (this.lastSeq.get(m.room_id) ?? 0)) return
        this.lastSeq.set(m.room_id, m.seq)
        break
      }
      case 'ack': {
        const o = f.client_msg_id ? this.outbox.get(f.client_msg_id) : undefined
        if (o) {
          this.outbox.delete(o.client_msg_id)
          o.resolve(f.message)
        }
        break
      }
      case 'error': {
        const o = f.client_msg_id ? this.outbox.get(f.client_msg_id) : undefined
        // refused for good: the sender hears why; a transient refusal goes again on the next connection
        if (o && !TRANSIENT.has(f.code)) {
          this.outbox.delete(o.client_msg_id)
          o.reject(new ChatError(f.code, f.detail))
        }
        break
      }
      case 'room.created':
        if (!this.following.has(f.room.id)) this.subscribe(f.room.id, f.room.last_seq)
        break
      case 'room.deleted':
        this.following.delete(f.room_id)
        this.lastSeq.delete(f.room_id)
        break
      case 'resync_required':
        void this.resync(f.room_id, f.last_seq)
        break
      default:
        break
    }
    this.emit(f)
  }

  /** More than the server replays is missing: page the history over REST, then subscribe again. */
  private async resync(roomId: number, lastSeq: number) {
    try {
      let after = this.lastSeq.get(roomId) ?? 0
      while (after < lastSeq) {
        const token = await this.options.token()
        const res = await fetch(`${this.base()}/v1/rooms/${roomId}/messages?after_seq=${after}&limit=200`, {
          headers: token === null ? {} : { authorization: `Bearer ${token}` },
        })
        if (!res.ok) throw new ChatError(String(res.status), `history: ${res.status}`)
        const page = (await res.json()) as { messages: Message[] }
        if (page.messages.length === 0) break
        for (const m of page.messages) this.onFrame({ type: 'message.created', message: m })
        after = page.messages[page.messages.length - 1]!.seq
      }
      this.subscribe(roomId, after)
    } catch {
      // the next reconnect resumes from what was delivered
      this.ws?.close(4000, 'resync failed')
    }
  }

  /** Renews the socket's credentials shortly before they end (`auth` frame). */
  private scheduleRenewal(expiresAt: string | null) {
    if (this.renewTimer) clearTimeout(this.renewTimer)
    if (!expiresAt || !this.options.refresh) return
    const ms = Date.parse(expiresAt) - Date.now() - (this.options.renewBeforeMs ?? 60_000)
    this.renewTimer = setTimeout(async () => {
      try {
        this.frame({ type: 'auth', token: await this.options.refresh!() })
      } catch {
        // the 4001 close that follows refreshes again
      }
    }, Math.max(1000, ms))
  }
}
