import type { Server } from 'bun'
import { createAuthenticator } from './auth/authenticator'
import type { Config } from './config'
import { createGateway, type Gateway, type SocketData } from './gateway/gateway'
import type { Hub } from './gateway/hub'
import { createHttpApp } from './http/app'
import { errorResponse } from './http/errors'
import { raiseListenBacklog } from './http/listen-backlog'
import { openInfrastructure, type Diagnostics } from './infrastructure'
import { createLogger, type Logger } from './lib/logger'
import type { Metrics } from './lib/metrics'
import { createChatServices } from './services'

/** Bun refuses bodies past this itself; every route's own limit is far lower (the body parser answers 413). */
const BUN_BODY_CAP_BYTES = 2 ** 31

/** How long close frames get to flush before the listener goes, ms. */
const CLOSE_FRAMES_FLUSH_MS = 50

export type ChatServer = Awaited<ReturnType<typeof createChatServer>>

/**
 * The composition root: infrastructure, then services, then transports.
 * `listen()` starts Bun's server; `close()` drains and releases everything in
 * reverse order.
 */
export async function createChatServer(
  config: Config,
  log: Logger = createLogger(config.LOG_LEVEL, { node: config.NODE_ID }),
  diagnostics: Diagnostics = {},
) {
  const infra = await openInfrastructure(config, log, diagnostics)
  const services = createChatServices(infra, config, log)
  const { users, rooms, messages, events } = services
  const auth = createAuthenticator(config, users, infra.tokens)
  const gateway = createGateway(
    { users, rooms, messages, events, bus: infra.bus, presence: infra.presence, announcer: services.announcer, log },
    {
      auth, maxFrameBytes: config.MAX_FRAME_BYTES, idleSeconds: config.WS_IDLE_SECONDS,
      backpressureBytes: config.WS_BACKPRESSURE_BYTES, sequencerWaitMs: config.SEQUENCER_WAIT_MS,
      transport: config.WS_TRANSPORT,
    },
  )
  const { hub } = gateway
  gatewayMetrics(infra.metrics, gateway, hub)
  infra.metrics.counter('chat_presence_events_total', 'presence frames published by this node (one per room or space topic)', () => services.announcer.published)
  infra.metrics.gauge('chat_presence_windows', 'users whose presence coalescing window is open here', () => services.announcer.open)
  let draining = false
  const http = await createHttpApp({ config, log, infra, services, auth, gateway, draining: () => draining })
  let server: Server<SocketData> | null = null

  return {
    config, log, app: http.app, database: infra.database, writer: infra.writer, bus: infra.bus, hub, gateway,
    announcer: services.announcer,
    passwords: services.passwords, search: services.search, settings: services.settings,
    /** Starts listening on HOST:PORT (PORT 0 = any free port). */
    listen(): Server<SocketData> {
      server = Bun.serve<SocketData>({
        port: config.PORT, hostname: config.HOST, fetch: http.fetch, websocket: gateway.websocket,
        maxRequestBodySize: BUN_BODY_CAP_BYTES, error: (err) => errorResponse(err, 'UNKNOWN', log),
      })
      if (config.LISTEN_BACKLOG > 0 && server.port !== undefined) {
        const r = raiseListenBacklog(server.port, config.LISTEN_BACKLOG)
        if (r.ok) log.info('listen backlog', { backlog: r.backlog })
        else log.warn("listen backlog left at Bun's 512", { reason: r.reason })
      }
      hub.attach(server)
      // Elysia's ws() upgrades through the app's server; app.handle() alone is given none
      http.app.server = server
      return server
    },
    /** Drains: readiness goes 503, no new upgrades or requests, every accepted message is committed, sockets close with 1001. */
    async close(): Promise<void> {
      draining = true
      const jobsStopped = services.stop()
      gateway.stopAccepting()
      server?.stop(false)
      await infra.writer.close()
      await jobsStopped
      gateway.closeAll()
      hub.close()
      await Bun.sleep(CLOSE_FRAMES_FLUSH_MS)
      server?.stop(true)
      await infra.close()
    },
  }
}

/** The WebSocket side's figures on /metrics. */
function gatewayMetrics(m: Metrics, gateway: Gateway, hub: Hub): void {
  m.gauge('chat_connections', 'open WebSockets', () => gateway.connections)
  m.counter('chat_ws_slow_total', 'sockets that passed WS_BACKPRESSURE_BYTES (stopped, closed 1013 once drained)', () => gateway.stats.slow)
  m.counter('chat_ws_expired_total', 'sockets closed 4001: access token expired', () => gateway.stats.expired)
  m.counter('chat_ws_revoked_total', 'sockets closed 4001: login logged out or revoked', () => gateway.stats.revoked)
  m.gauge('chat_rooms_subscribed', 'rooms followed by local sockets', () => hub.roomCount)
  m.counter('chat_messages_out_total', 'message.created frames published to local topics', () => hub.delivered)
}
