import type { Server } from 'bun'
import { Elysia } from 'elysia'
import { createAccessTokens } from './auth/tokens'
import { createGatewayAuthenticator, createJwtAuthenticator, type Authenticator } from './auth/authenticator'
import type { Bus } from './bus/bus'
import { createLocalBus } from './bus/bus.local'
import { createRedisBus } from './bus/bus.redis'
import { createEvents } from './chat/events'
import { createMessagesService } from './chat/messages'
import { createRateLimiter } from './chat/rate-limit'
import { createRoomPurger } from './chat/purge'
import { createRoomsService } from './chat/rooms'
import { createSpacesService } from './chat/spaces'
import { createUsersService } from './chat/users'
import { createPasswordHasher } from './auth/passwords'
import { createAuthLimits } from './limits/auth-limits'
import { createLimiterFactory } from './limits/rate-limit'
import { createClientIp } from './http/client-ip'
import { Redis } from 'ioredis'
import { toMessage, type MessageRow } from './chat/message-view'
import { createFilesService } from './chat/files'
import { createDiskStorage } from './files/storage.disk'
import { createS3Storage } from './files/storage.s3'
import { fileRoutes } from './http/files'
import { corsPlugin } from './http/cors'
import { docsRoutes } from './http/docs'
import { assignRequestId, requestLog } from './http/request-id'
import { webRoutes } from './http/web'
import { join } from 'node:path'
import { createReactionsService, withReactions } from './chat/reactions'
import { createSearch } from './chat/search'
import { createSettingsService } from './chat/settings'
import { featureRoutes } from './http/features'
import { corsOrigins, type Config } from './config'
import { openDatabase } from './db/client'
import { createMessageWriter } from './db/writer'
import { createGateway, type SocketData } from './gateway/gateway'
import { authRoutes } from './http/auth'
import { bodyParser } from './http/body'
import { errorPlugin, errorResponse } from './http/errors'
import { messageRoutes } from './http/messages'
import { opsRoutes } from './http/ops'
import { spaceRoutes } from './http/spaces'
import { roomRoutes } from './http/rooms'
import { userRoutes } from './http/users'
import { AppError } from './lib/errors'
import { createLogger, type Logger } from './lib/logger'
import { renderMetrics } from './lib/metrics'
import { createMemoryPresence } from './presence/presence.memory'
import { createRedisPresence } from './presence/presence.redis'
import type { PresenceStore } from './presence/presence'

/** Request line and headers together, bytes; past it 431 (Bun itself stops at 16 KiB). */
const MAX_HEADER_BYTES = 8 * 1024

/** Bun refuses bodies past this itself; every route's own limit is far lower. */
const BUN_BODY_CAP_BYTES = 2 ** 31

/** Size of the request line and headers as received (close enough: names, values, separators). */
function headerBytes(req: Request): number {
  let n = req.method.length + req.url.length + 12
  for (const [k, v] of req.headers) n += k.length + v.length + 4
  return n
}

export type ChatServer = Awaited<ReturnType<typeof createChatServer>>

/**
 * Wires the node together: picks the implementations the config asks for,
 * builds services, routes and gateway. `listen()` starts Bun's server;
 * `close()` drains and releases everything in reverse order.
 */
export async function createChatServer(
  config: Config,
  log: Logger = createLogger(config.LOG_LEVEL, { node: config.NODE_ID }),
  diagnostics: { onQuery?: (sql: string) => void } = {},
) {
  const database = await openDatabase({
    url: config.DATABASE_URL, dataDir: config.DATA_DIR, poolMax: config.DATABASE_POOL, prepare: config.DATABASE_PREPARE === 1,
    onQuery: diagnostics.onQuery,
  })
  if (config.MIGRATE) await database.migrate()
  let onPresenceExpired: (userId: number, lastSeen: string) => void = () => {}
  const redis = config.REDIS_URL
    ? { url: config.REDIS_URL, nodeId: config.NODE_ID, prefix: config.REDIS_PREFIX, log }
    : null
  const bus: Bus = redis ? await createRedisBus(redis) : createLocalBus()
  const presence: PresenceStore = redis
    ? await createRedisPresence({ ...redis, ttlMs: config.PRESENCE_TTL_MS, onExpired: (id, seen) => onPresenceExpired(id, seen) })
    : createMemoryPresence()
  // rate limits: one counter for the cluster on Redis (each node on its own while Redis is away)
  const limitsRedis = redis
    ? new Redis(redis.url, {
        lazyConnect: true, maxRetriesPerRequest: 2, connectionName: `${redis.nodeId}:limits`,
        retryStrategy: (n: number) => Math.min(50 * n, 1000),
      })
    : null
  if (limitsRedis) {
    limitsRedis.on('error', (err) => log.warn('redis limits: connection error', { error: err }))
    await limitsRedis.connect()
  }
  const limiters = createLimiterFactory({ redis: limitsRedis, prefix: config.REDIS_PREFIX })
  const passwords = createPasswordHasher()
  const authLimits = createAuthLimits(limiters, {
    perClientPerMinute: config.RATE_AUTH, loginFailuresPer15Min: config.RATE_LOGIN_FAILURES,
  })
  const clientIp = createClientIp({ trustProxy: config.TRUST_PROXY === 1 })
  const tokens = createAccessTokens(config.JWT_SECRET, config.ACCESS_TTL)
  const writer = createMessageWriter(database, {
    flushMs: config.FLUSH_MS, batchMax: config.BATCH_MAX, queueMax: config.WRITE_QUEUE_MAX, lanes: config.WRITER_LANES, log,
  })
  const events = createEvents(bus)
  const storage = config.S3_BUCKET
    ? createS3Storage({
        bucket: config.S3_BUCKET, endpoint: config.S3_ENDPOINT, region: config.S3_REGION,
        accessKeyId: config.S3_ACCESS_KEY_ID, secretAccessKey: config.S3_SECRET_ACCESS_KEY,
      })
    : createDiskStorage(join(config.DATA_DIR, 'uploads'))
  const files = createFilesService({
    database, storage, secret: config.JWT_SECRET, urlTtl: config.FILE_URL_TTL, maxUploadBytes: config.MAX_UPLOAD_BYTES,
  })
  /** Every message leaves the server through this: attachment URLs signed. */
  const view = (r: MessageRow) => toMessage(r, (a) => files.url(a))
  const users = createUsersService({
    database, tokens, presence, refreshTtl: config.REFRESH_TTL, passwords, authLimits, gatewayPlaceholders: config.AUTH_MODE === 'gateway',
    // the user topic reaches every node holding one of the user's sockets
    onLoginRevoked: (userId, sid) => events.revokeLogin(userId, sid),
  })
  const purger = createRoomPurger({ database, files, log })
  const purgeSoon = () => void purger.kick().catch((err) => log.warn('room purge failed', { error: err }))
  const rooms = createRoomsService({
    database, users, events, maxRoomMembers: config.MAX_ROOM_MEMBERS, attachmentUrl: (a) => files.url(a), purgeSoon,
  })
  const spaces = createSpacesService({ database, users, rooms, events, maxSpaceMembers: config.MAX_SPACE_MEMBERS, purgeSoon })
  const messages = createMessagesService({
    database, writer, rooms, events, limiter: createRateLimiter(config.RATE_MESSAGES, limiters), maxMessageChars: config.MAX_MESSAGE_CHARS,
    attachmentUrl: (a) => files.url(a), files,
  })
  onPresenceExpired = (userId, lastSeen) => {
    void (async () => {
      await users.touchLastSeen(userId, new Date(lastSeen))
      const u = await users.get(userId)
      const frame = { type: 'presence', user_id: userId, nickname: u.nickname, status: 'offline', last_seen: lastSeen } as const
      const to = await rooms.audiences(userId)
      for (const id of to.rooms) events.toRoom(id, frame)
      for (const id of to.spaces) events.toSpace(id, frame)
    })().catch((err) => log.warn('presence: offline announcement failed', { user_id: userId, error: err }))
  }
  const search = createSearch(database, view)
  const reactions = createReactionsService({ database, requireMember: rooms.requireMember, events, view })
  const settings = createSettingsService(database, rooms, files, log)
  // retention: every node sweeps; a second delete of the same rows finds nothing
  const retentionTimer = setInterval(() => {
    settings.sweepRetention().catch((err) => log.warn('retention sweep failed', { error: err }))
    // rooms deleted by a node that stopped before their purge finished
    purgeSoon()
  }, config.RETENTION_SWEEP_MS)
  // trigrams are computed here, off the commit path; searches also read the queue, so nothing waits for this
  let indexing = false
  const indexTimer = setInterval(() => {
    if (indexing) return
    indexing = true
    search.indexPending()
      .catch((err) => log.warn('search indexer failed', { error: err }))
      .finally(() => { indexing = false })
  }, 250)
  const auth: Authenticator = config.AUTH_MODE === 'gateway'
    ? createGatewayAuthenticator(config.GATEWAY_SECRET!, (u) => users.ensureGatewayUser(u))
    : createJwtAuthenticator(tokens)
  const gateway = createGateway(
    { users, rooms, messages, events, bus, presence, log },
    { auth, maxFrameBytes: config.MAX_FRAME_BYTES, idleSeconds: config.WS_IDLE_SECONDS, backpressureBytes: config.WS_BACKPRESSURE_BYTES, sequencerWaitMs: config.SEQUENCER_WAIT_MS },
  )
  const { hub } = gateway
  let draining = false
  const started = Date.now()

  const metrics = () =>
    renderMetrics(
      [
        { name: 'chat_connections', help: 'open WebSockets', type: 'gauge', value: () => gateway.connections },
        { name: 'chat_ws_slow_total', help: 'sockets that passed WS_BACKPRESSURE_BYTES (stopped, closed 1013 once drained)', type: 'counter', value: () => gateway.stats.slow },
        { name: 'chat_ws_expired_total', help: 'sockets closed 4001: access token expired', type: 'counter', value: () => gateway.stats.expired },
        { name: 'chat_ws_revoked_total', help: 'sockets closed 4001: login logged out or revoked', type: 'counter', value: () => gateway.stats.revoked },
        { name: 'chat_rooms_subscribed', help: 'rooms followed by local sockets', type: 'gauge', value: () => hub.roomCount },
        { name: 'chat_messages_in_total', help: 'messages committed by this node', type: 'counter', value: () => writer.stats.messages },
        { name: 'chat_messages_out_total', help: 'message.created frames published to local topics', type: 'counter', value: () => hub.delivered },
        { name: 'chat_writer_batches_total', help: 'writer transactions', type: 'counter', value: () => writer.stats.batches },
        { name: 'chat_writer_queue', help: 'messages waiting for the writer', type: 'gauge', value: () => writer.stats.queued },
        {
          name: 'chat_writer_batch_size_avg', help: 'mean size of the last 64 batches', type: 'gauge',
          value: () => { const s = writer.stats.lastBatchSizes; return s.length ? s.reduce((a, b) => a + b, 0) / s.length : 0 },
        },
        {
          name: 'chat_writer_flush_ms_avg', help: 'mean batch commit time, ms', type: 'gauge',
          value: () => (writer.stats.batches ? writer.stats.flushMsTotal / writer.stats.batches : 0),
        },
        { name: 'chat_writer_errors_total', help: 'failed batch attempts', type: 'counter', value: () => writer.stats.errors },
        { name: 'chat_writer_refused_total', help: 'messages the database refused alone (422)', type: 'counter', value: () => writer.stats.refused },
        { name: 'chat_writer_up', help: '1 while the writer accepts messages, 0 while the database is down', type: 'gauge', value: () => (writer.healthy ? 1 : 0) },
        { name: 'chat_relay_received_total', help: 'events received from other nodes', type: 'counter', value: () => bus.relayStats.received },
        { name: 'chat_relay_lag_ms_avg', help: 'mean publish → receive lag of relayed events, ms', type: 'gauge', value: () => bus.relayStats.lagMsAvg },
        { name: 'chat_uptime_seconds', help: 'seconds since start', type: 'gauge', value: () => (Date.now() - started) / 1000 },
      ],
      { node: config.NODE_ID },
    )

  const body = bodyParser()
  // bodies are typed strictly: 'typebox' drops unknown fields but converts nothing (the default
  // normalizer turns a body of 5 into {} before validation)
  const app = new Elysia({ normalize: 'typebox' })
    .use(errorPlugin(log))
    .use(body.plugin)
    .use(corsPlugin(corsOrigins(config.CORS_ORIGINS)))
    .use(docsRoutes())
    .use(await webRoutes())
    .use(opsRoutes({ draining: () => draining, metrics, ready: async () => {
      // down = a connection error outlived the writer's retries: messages are refused until its ping succeeds
      if (!writer.healthy) throw new Error('the database is down (the message writer is refusing messages)')
      await database.ping()
      await bus.ping()
    } }))
    // gateway mode: the gateway owns accounts; register, login and refresh are not routes here (404)
    .use(auth.mode === 'jwt' ? authRoutes(users, clientIp) : new Elysia())
    .use(userRoutes(users, auth))
    .use(roomRoutes(rooms, spaces, auth))
    .use(spaceRoutes(spaces, auth))
    .use(messageRoutes(messages, auth))
    .use(fileRoutes({ files, messages, rooms, auth, maxUploadBytes: config.MAX_UPLOAD_BYTES }))
    .use(featureRoutes({ rooms, settings, reactions, search, auth, withReactions: (msgs, viewer) => withReactions(database, msgs, viewer) }))
  body.index(app)

  const accessLog = config.LOG_LEVEL === 'debug'

  /**
   * Elysia finds the path at the first '/' from index 11, i.e. it assumes a host of 4+ characters:
   * under `Host: api` every route would be 404. Such a request gets a longer host (no route reads it).
   */
  function elysiaRequest(req: Request): Request {
    const slash = req.url.indexOf('/', req.url.indexOf('//') + 2)
    return slash < 11 ? new Request(`http://localhost${req.url.slice(slash)}`, req) : req
  }

  /** Every HTTP request: a request id, then WebSocket upgrade, size check, the Elysia app; an access line at debug. */
  async function fetch(req: Request, server: Server<SocketData>): Promise<Response | undefined> {
    const started = accessLog ? performance.now() : 0
    const reqId = assignRequestId(req)
    let res: Response | undefined
    try {
      // HTTP/1.0 with no Host: Bun gives a bare path, which no URL parser (or route) takes
      if (req.url.startsWith('/')) throw new AppError('bad_request', 'The request has no Host header.')
      clientIp.remember(req, server.requestIP(req)?.address)
      if (headerBytes(req) > MAX_HEADER_BYTES) {
        throw new AppError('headers_too_large', `The request line and headers are larger than ${MAX_HEADER_BYTES} bytes.`)
      }
      const up = await gateway.upgrade(req, server)
      if (up !== 'upgraded') res = up ?? (await app.handle(elysiaRequest(req)))
    } catch (err) {
      res = errorResponse(err, 'UNKNOWN', requestLog(log, req))
    }
    if (res) {
      try {
        res.headers.set('x-request-id', reqId)
      } catch {} // a response with immutable headers keeps them
    }
    if (accessLog && !req.url.startsWith('/')) {
      const url = new URL(req.url)
      log.debug('request', {
        req_id: reqId, method: req.method, path: url.pathname + url.search, status: res?.status ?? 101,
        ms: Math.round((performance.now() - started) * 100) / 100,
      })
    }
    return res
  }

  let server: Server<SocketData> | null = null

  return {
    config, database, writer, bus, hub, gateway, users, rooms, messages, settings, search, app, log, passwords,
    /** Starts listening on HOST:PORT (PORT 0 = any free port). */
    listen(): Server<SocketData> {
      server = Bun.serve<SocketData>({
        port: config.PORT,
        hostname: config.HOST,
        fetch,
        websocket: gateway.websocket,
        // bodies are counted (chunked too) and refused with a JSON 413 by the body parser, route by
        // route; Bun's own cap, which answers an empty 413, sits far above every route's limit
        maxRequestBodySize: BUN_BODY_CAP_BYTES,
        error: (err) => errorResponse(err, 'UNKNOWN', log),
      })
      hub.attach(server)
      return server
    },
    /**
     * Drains: readiness goes 503, no new upgrades or requests, every accepted
     * message is committed, sockets close with 1001, then resources close.
     */
    async close(): Promise<void> {
      draining = true
      clearInterval(retentionTimer)
      clearInterval(indexTimer)
      gateway.stopAccepting()
      server?.stop(false)
      await writer.close()
      await purger.settle()
      gateway.closeAll()
      hub.close()
      // let close frames flush before the listener goes
      await Bun.sleep(50)
      server?.stop(true)
      await bus.close()
      await presence.close()
      await limitsRedis?.quit().catch(() => {})
      await database.close()
    },
  }
}
