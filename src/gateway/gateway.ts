import type { Server, ServerWebSocket, WebSocketHandler } from 'bun'
import type { Authenticator } from '../auth/authenticator'
import { AppError, notFound } from '../lib/errors'
import { CloseCode } from '../protocol/frames'
import { Session, type SessionDeps, type SessionOptions } from './session'

export type SocketData = { opts: SessionOptions; protocol: string | null; session?: Session }

export type GatewayOptions = {
  auth: Authenticator
  maxFrameBytes: number
  idleSeconds: number
  backpressureBytes: number
}

const WS_PATH = /^\/v1\/(?:ws|rooms\/(\d+)\/ws)$/

const errorJson = (e: AppError) =>
  new Response(JSON.stringify(e.toBody()), { status: e.status, headers: { 'content-type': 'application/json' } })

/**
 * WebSocket upgrade (auth before it), Bun's handlers, and the sweep that
 * closes sockets which cannot keep up.
 */
export function createGateway(deps: SessionDeps, o: GatewayOptions) {
  const sessions = new Set<Session>()
  let accepting = true

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
      const { userId, protocol } = await o.auth.fromUpgrade(url, req.headers)
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
        opts: { userId, autoSubscribe: url.searchParams.get('auto_subscribe') !== 'false', onlyRoom, afterSeq, roomLastSeq },
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
    // Bun drops frames past this; the sweep closes a slow socket well before, so its 1013 close frame still fits
    backpressureLimit: o.backpressureBytes * 4,
    closeOnBackpressureLimit: false,
    perMessageDeflate: false,
    publishToSelf: false,
    open(ws: ServerWebSocket<SocketData>) {
      const s = new Session(ws, deps, ws.data.opts)
      ws.data.session = s
      sessions.add(s)
      s.open().catch((err) => {
        deps.log.warn('gateway: open failed', { user_id: ws.data.opts.userId, error: err })
        ws.close(1011, 'could not start the session')
      })
    },
    message(ws, msg) {
      const s = ws.data.session
      if (!s) return
      void s.onText(typeof msg === 'string' ? msg : new TextDecoder().decode(msg))
    },
    close(ws) {
      const s = ws.data.session
      if (!s) return
      sessions.delete(s)
      s.close().catch((err) => deps.log.warn('gateway: close failed', { error: err }))
    },
  }

  // slow consumers are cut, not buffered without bound
  const sweep = setInterval(() => {
    for (const s of sessions) if (s.isSlow(o.backpressureBytes)) s.closeSocket(CloseCode.tryAgainLater, 'too slow')
  }, 1000)

  return {
    upgrade,
    websocket,
    get connections() {
      return sessions.size
    },
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
