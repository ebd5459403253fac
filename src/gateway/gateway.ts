import type { Server, ServerWebSocket, WebSocketHandler } from 'bun'
import { Elysia } from 'elysia'
import { websocket as elysiaWebsocket } from 'elysia/ws'
import type { Authenticator } from '../auth/authenticator'
import { AppError, notFound } from '../lib/errors'
import { CloseCode } from '../protocol/close-codes'
import { Hub } from './hub'
import { Session, type SessionDeps, type SessionHooks, type SessionOptions, type SocketLike } from './session'
import { TypingThrottle } from './typing'

export type SocketData = { opts: SessionOptions; protocol: string | null; session?: Session }

/**
 * Who serves the socket: `bun` = the node's own `fetch` upgrades before the
 * Elysia app and Bun's handlers drive the sessions; `elysia` = Elysia's `ws()`
 * routes (auth in a `resolve` hook before the upgrade). Same sessions, hub,
 * limits and close codes either way.
 */
export type WsTransport = 'bun' | 'elysia'

export type GatewayOptions = {
  auth: Authenticator
  maxFrameBytes: number
  idleSeconds: number
  backpressureBytes: number
  /** how long a room's sequencer waits for a missing seq before reading it from the database, ms */
  sequencerWaitMs: number
  /** who serves the socket (default `bun`) */
  transport?: WsTransport
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
 * keep up (1013). `hub.attach(server)` once Bun's server listens. On the
 * `elysia` transport `routes` (mounted on the app) upgrade instead of
 * `upgrade`, and `websocket` is Elysia's dispatcher with the same limits.
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
  /** counters for /metrics; `started`/`ended`: sessions whose open (ready, presence announced) or close (presence released) finished */
  const stats = { slow: 0, expired: 0, revoked: 0, started: 0, ended: 0 }
  const transport: WsTransport = o.transport ?? 'bun'
  const hooks: SessionHooks = {
    slowBytes: o.backpressureBytes,
    onSlow: () => {
      stats.slow++
    },
    onCredentialsEnded: (why) => {
      stats[why]++
    },
  }

  const notUpgrade = () => new AppError('bad_request', 'This route takes a WebSocket upgrade.')

  /**
   * Auth and checks before any upgrade (both transports): the socket's data,
   * or an AppError (503 draining, 401, 422 after_seq, 404/403 per-room).
   * `roomParam` is the per-room socket's `:id` (null for /v1/ws).
   */
  async function admit(url: URL, headers: Headers, roomParam: string | null): Promise<SocketData> {
    if (!accepting) throw new AppError('unavailable', 'The server is shutting down.')
    const { userId, protocol, sid, expiresAt } = await o.auth.fromUpgrade(url, headers)
    const onlyRoom = roomParam === null ? null : Number(roomParam)
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
    return {
      opts: {
        userId, autoSubscribe: url.searchParams.get('auto_subscribe') !== 'false', onlyRoom, afterSeq, roomLastSeq, sid, expiresAt,
      },
      protocol,
    }
  }

  /**
   * Transport `bun`: upgrades a WebSocket request: 'upgraded', an error
   * response, or null when the path is not a WebSocket route. Transport
   * `elysia`: always null (the app's `ws()` routes upgrade), after making an
   * `Upgrade: WebSocket` header lowercase, since Elysia's router only takes
   * `websocket` (RFC 6455 says any case).
   */
  async function upgrade(req: Request, server: Server<SocketData>): Promise<Response | 'upgraded' | null> {
    if (transport === 'elysia') {
      const h = req.headers.get('upgrade')
      if (h !== null && h !== 'websocket' && h.toLowerCase() === 'websocket') req.headers.set('upgrade', 'websocket')
      return null
    }
    const url = new URL(req.url)
    const m = WS_PATH.exec(url.pathname)
    if (!m) return null
    try {
      if (!accepting) throw new AppError('unavailable', 'The server is shutting down.')
      if (req.headers.get('upgrade')?.toLowerCase() !== 'websocket') throw notUpgrade()
      const data = await admit(url, req.headers, m[1] ?? null)
      const { protocol } = data
      const ok = server.upgrade(req, { data, headers: protocol ? { 'Sec-WebSocket-Protocol': protocol } : undefined })
      if (!ok) throw new AppError('bad_request', 'WebSocket upgrade failed.')
      return 'upgraded'
    } catch (err) {
      if (err instanceof AppError) return errorJson(err)
      throw err
    }
  }

  // the socket events, shared by both transports: `data` is the socket's own (Bun's ws.data, or the
  // `socket` an Elysia resolve hook added to the route's context)
  function onOpen(ws: SocketLike, data: SocketData) {
    const s = new Session(ws, deps, data.opts, hooks)
    data.session = s
    sessions.add(s)
    s.open().then(() => {
      stats.started++
    }, (err) => {
      deps.log.warn('gateway: open failed', { user_id: data.opts.userId, error: err })
      ws.close(CloseCode.internal, 'could not start the session')
    })
  }
  function onClose(data: SocketData) {
    const s = data.session
    if (!s) return
    sessions.delete(s)
    s.close().then(() => {
      stats.ended++
    }, (err) => deps.log.warn('gateway: close failed', { error: err }))
  }

  /** Bun's limits on every socket, whichever transport drives it. */
  const limits = {
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
  } satisfies Partial<WebSocketHandler<SocketData>>

  const bunHandlers: WebSocketHandler<SocketData> = {
    ...limits,
    open(ws: ServerWebSocket<SocketData>) {
      onOpen(ws, ws.data)
    },
    message(ws, msg) {
      void ws.data.session?.onText(typeof msg === 'string' ? msg : new TextDecoder().decode(msg))
    },
    drain(ws) {
      ws.data.session?.onDrain()
    },
    close(ws) {
      onClose(ws.data)
    },
  }

  /**
   * Transport `elysia`: the WebSocket routes as Elysia `ws()` routes. The
   * `resolve` hook authenticates before the upgrade (an AppError becomes the
   * app's JSON error, no upgrade); a plain GET is 400 as on the `bun` path.
   * Always mounted, so the app's type carries the routes; on the `bun`
   * transport the node's `fetch` upgrades first and they never run.
   */
  // not REST: out of the OpenAPI document (which has no WebSocket method); docs/protocol.md describes them
  const hidden = { detail: { hide: true } }
  const routes = new Elysia({ name: 'gateway-ws' })
    .get('/v1/ws', ({ request }) => {
      routeOf(request)
      throw notUpgrade()
    }, hidden)
    .get('/v1/rooms/:id/ws', ({ request }) => {
      routeOf(request)
      throw notUpgrade()
    }, hidden)
    .resolve(async ({ request, set }) => {
      const { url, roomParam } = routeOf(request)
      const socket = await admit(url, request.headers, roomParam)
      if (socket.protocol) set.headers['sec-websocket-protocol'] = socket.protocol
      return { socket }
    })
    .ws('/v1/ws', { ...elysiaSocket(), ...hidden })
    .ws('/v1/rooms/:id/ws', { ...elysiaSocket(), ...hidden })

  /**
   * The URL and room of a request the `ws()` routes matched. Elysia also
   * matches `/v1/ws/` and any `:id`, and on the `bun` transport these routes
   * stand in for none: such a request is 404 as on the `bun` path.
   */
  function routeOf(request: Request): { url: URL; roomParam: string | null } {
    const url = new URL(request.url)
    const m = WS_PATH.exec(url.pathname)
    if (!m || transport !== 'elysia') throw new AppError('not_found', 'No such route.')
    return { url, roomParam: m[1] ?? null }
  }

  /**
   * The handlers of one `ws()` route. The session gets Bun's socket itself
   * (`ws.raw`): Elysia wraps it anew on every event. Elysia has parsed a JSON
   * text frame already; the session checks frames from their text (depth
   * first, then one schema), so an object goes back to text.
   */
  function elysiaSocket() {
    return {
      open(ws: { raw: object; data: { socket: SocketData } }) {
        // Elysia types `raw` with its own copy of Bun's socket type, which lacks getBufferedAmount; it is Bun's
        onOpen(ws.raw as SocketLike, ws.data.socket)
      },
      message(ws: { data: { socket: SocketData } }, msg: unknown) {
        const text = typeof msg === 'string' ? msg : msg instanceof Uint8Array ? new TextDecoder().decode(msg) : JSON.stringify(msg)
        void ws.data.socket.session?.onText(text)
      },
      drain(ws: { data: { socket: SocketData } }) {
        ws.data.socket.session?.onDrain()
      },
      close(ws: { data: { socket: SocketData } }) {
        onClose(ws.data.socket)
      },
    }
  }

  /** What Bun.serve takes as `websocket`: this gateway's handlers, or Elysia's dispatcher, with the same limits. */
  const websocket: WebSocketHandler<SocketData> = transport === 'elysia'
    // Elysia's dispatcher reads its per-socket handlers from ws.data, which its upgrade put there
    ? ({ ...elysiaWebsocket, ...limits } as unknown as WebSocketHandler<SocketData>)
    : bunHandlers

  // expired credentials close (4001); slow consumers stop and close (1013), never buffered without bound
  const sweep = setInterval(() => {
    const now = Date.now()
    for (const s of sessions) s.tick(now)
  }, SWEEP_MS)

  return {
    transport,
    upgrade,
    websocket,
    routes,
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
