import type { Server, ServerWebSocket, WebSocketHandler } from 'bun'
import type { Authenticator } from '../auth/authenticator'
import { AppError, notFound } from '../lib/errors'
import { CloseCode } from '../protocol/close-codes'
import { Hub } from './hub'
import { Session, type SessionDeps, type SessionHooks, type SessionOptions } from './session'
import { TypingThrottle } from './typing'

export type SocketData = { opts: SessionOptions; protocol: string | null; session?: Session }

export type GatewayOptions = {
  auth: Authenticator
  maxFrameBytes: number
  idleSeconds: number
  backpressureBytes: number
  /** how long a room's sequencer waits for a missing seq before reading it from the database, ms */
  sequencerWaitMs: number
}

/** What the gateway's sessions use; the gateway builds the hub and the typing limits itself. */
export type GatewayDeps = Omit<SessionDeps, 'auth' | 'hub' | 'typing'>

const WS_PATH = /^\/v1\/(?:ws|rooms\/(\d+)\/ws)$/

const errorJson = (e: AppError) =>
  new Response(JSON.stringify(e.toBody()), { status: e.status, headers: { 'content-type': 'application/json' } })

/** What a slow socket may still be handed between two sweeps before Bun cuts it, bytes. */
const HARD_HEADROOM_BYTES = 16 * 1024 * 1024

/** How often sockets are checked for an expired token and a full send buffer, ms. */
export const SWEEP_MS = 500

/**
 * WebSocket upgrade (auth before it), Bun's handlers, this node's hub, and the
 * sweep that closes sockets whose credentials ended (4001) or which cannot
 * keep up (1013). `hub.attach(server)` once Bun's server listens.
 */
export function createGateway(base: GatewayDeps, o: GatewayOptions) {
  const hub = new Hub({
    bus: base.bus, log: base.log, waitMs: o.sequencerWaitMs,
    fetchRange: (roomId, after, upto) => base.messages.frames(roomId, after, upto),
    lastSeq: (roomId) => base.messages.lastSeq(roomId),
  })
  const deps: SessionDeps = { ...base, auth: o.auth, hub, typing: new TypingThrottle() }
  const sessions = new Set<Session>()
  let accepting = true
  /** counters for /metrics */
  const stats = { slow: 0, expired: 0, revoked: 0 }
  const hooks: SessionHooks = {
    slowBytes: o.backpressureBytes,
    onSlow: () => {
      stats.slow++
    },
    onCredentialsEnded: (why) => {
      stats[why]++
    },
  }

  /**
   * Upgrades a WebSocket request: 'upgraded', an error response, or null when
   * the path is not a WebSocket route.
   */
  async function upgrade(req: Request, server: Server<SocketData>): Promise<Response | 'upgraded' | null> {
    const url = new URL(req.url)
    const m = WS_PATH.exec(url.pathname)
    if (!m) return null
    try {
      if (!accepting) throw new AppError('unavailable', 'The server is shutting down.')
      if (req.headers.get('upgrade')?.toLowerCase() !== 'websocket') {
        throw new AppError('bad_request', 'This route takes a WebSocket upgrade.')
      }
      const { userId, protocol, sid, expiresAt } = await o.auth.fromUpgrade(url, req.headers)
      const onlyRoom = m[1] ? Number(m[1]) : null
      const afterRaw = url.searchParams.get('after_seq')
      let afterSeq: number | null = null
      if (afterRaw !== null) {
        if (!/^\d{1,15}$/.test(afterRaw)) throw new AppError('validation', 'after_seq: must be a non-negative integer.')
        afterSeq = Number(afterRaw)
      }
      let roomLastSeq: number | undefined
      if (onlyRoom !== null) {
        if (!Number.isSafeInteger(onlyRoom) || onlyRoom < 1) throw notFound('Room')
        roomLastSeq = (await deps.rooms.requireMember(onlyRoom, userId)).room.lastSeq
      }
      const data: SocketData = {
        opts: {
          userId, autoSubscribe: url.searchParams.get('auto_subscribe') !== 'false', onlyRoom, afterSeq, roomLastSeq, sid, expiresAt,
        },
        protocol,
      }
      const ok = server.upgrade(req, { data, headers: protocol ? { 'Sec-WebSocket-Protocol': protocol } : undefined })
      if (!ok) throw new AppError('bad_request', 'WebSocket upgrade failed.')
      return 'upgraded'
    } catch (err) {
      if (err instanceof AppError) return errorJson(err)
      throw err
    }
  }

  const websocket: WebSocketHandler<SocketData> = {
    maxPayloadLength: o.maxFrameBytes,
    idleTimeout: o.idleSeconds,
    sendPings: true,
    // a socket past backpressureBytes is flagged slow (sweep or its own sends) and sent nothing more (its
    // topics left), then closed with 1013 once its buffer drained, so the close frame comes last. This hard
    // limit only catches what a room publishes between two sweeps: past it Bun cuts the socket rather than
    // dropping frames, since a hole in the stream the client cannot see would lose messages on resume
    backpressureLimit: o.backpressureBytes + HARD_HEADROOM_BYTES,
    closeOnBackpressureLimit: true,
    perMessageDeflate: false,
    publishToSelf: false,
    open(ws: ServerWebSocket<SocketData>) {
      const s = new Session(ws, deps, ws.data.opts, hooks)
      ws.data.session = s
      sessions.add(s)
      s.open().catch((err) => {
        deps.log.warn('gateway: open failed', { user_id: ws.data.opts.userId, error: err })
        ws.close(CloseCode.internal, 'could not start the session')
      })
    },
    message(ws, msg) {
      const s = ws.data.session
      if (!s) return
      void s.onText(typeof msg === 'string' ? msg : new TextDecoder().decode(msg))
    },
    drain(ws) {
      ws.data.session?.onDrain()
    },
    close(ws) {
      const s = ws.data.session
      if (!s) return
      sessions.delete(s)
      s.close().catch((err) => deps.log.warn('gateway: close failed', { error: err }))
    },
  }

  // expired credentials close (4001); slow consumers stop and close (1013), never buffered without bound
  const sweep = setInterval(() => {
    const now = Date.now()
    for (const s of sessions) s.tick(now)
  }, SWEEP_MS)

  return {
    upgrade,
    websocket,
    /** this node's fan-out: attach Bun's server to it, close it on shutdown */
    hub,
    get connections() {
      return sessions.size
    },
    stats,
    /** Stops new upgrades (drain). */
    stopAccepting() {
      accepting = false
    },
    /** Closes every socket (1001 on shutdown). */
    closeAll(code: number = CloseCode.goingAway, reason = 'server shutting down') {
      clearInterval(sweep)
      for (const s of sessions) s.closeSocket(code, reason)
    },
  }
}

export type Gateway = ReturnType<typeof createGateway>
