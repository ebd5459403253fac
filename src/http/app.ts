/**
 * The HTTP side of a node: the Elysia app (errors, body parser, CORS, docs,
 * the web page, ops and every route) and the `fetch` Bun calls for each
 * request, which checks its size, tags it (request id, client IP) and hands
 * WebSocket upgrades to the gateway.
 */
import type { Server } from 'bun'
import { Elysia } from 'elysia'
import type { Authenticator } from '../auth/authenticator'
import { corsOrigins, type Config } from '../config'
import type { Gateway, SocketData } from '../gateway/gateway'
import type { Infrastructure } from '../infrastructure'
import { AppError } from '../lib/errors'
import type { Logger } from '../lib/logger'
import type { ChatServices } from '../services'
import { authRoutes } from './auth'
import { bodyParser } from './body'
import { createClientIp } from './client-ip'
import { corsPlugin } from './cors'
import { docsRoutes } from './docs'
import { errorPlugin, errorResponse } from './errors'
import { featureRoutes } from './features'
import { fileRoutes } from './files'
import { messageRoutes } from './messages'
import { opsRoutes } from './ops'
import { requestId, requestLog } from './request-id'
import { roomRoutes } from './rooms'
import { spaceRoutes } from './spaces'
import { tracingPlugin } from './tracing'
import { userRoutes } from './users'
import { webRoutes } from './web'

/** Request line and headers together, bytes; past it 431 (Bun itself stops at 16 KiB). */
export const MAX_HEADER_BYTES = 8 * 1024

/** Size of the request line and headers as received (close enough: names, values, separators). */
function headerBytes(req: Request): number {
  let n = req.method.length + req.url.length + 12
  for (const [k, v] of req.headers) n += k.length + v.length + 4
  return n
}

/**
 * Elysia finds the path at the first '/' from index 11, i.e. it assumes a host of 4+ characters:
 * under `Host: api` every route would be 404. Such a request gets a longer host (no route reads it).
 */
function elysiaRequest(req: Request): Request {
  const slash = req.url.indexOf('/', req.url.indexOf('//') + 2)
  return slash < 11 ? new Request(`http://localhost${req.url.slice(slash)}`, req) : req
}

export type HttpDeps = {
  config: Config
  log: Logger
  infra: Pick<Infrastructure, 'database' | 'bus' | 'writer' | 'metrics'>
  services: ChatServices
  auth: Authenticator
  gateway: Pick<Gateway, 'upgrade' | 'routes'>
  /** true once the node drains: readiness answers 503 */
  draining: () => boolean
}

export async function createHttpApp({ config, log, infra, services: s, auth, gateway, draining }: HttpDeps) {
  const { database, bus, writer } = infra
  const clientIp = createClientIp({ trustProxy: config.TRUST_PROXY === 1 })
  const body = bodyParser()
  // bodies are typed strictly: 'typebox' drops unknown fields but converts nothing (the default
  // normalizer turns a body of 5 into {} before validation)
  const app = new Elysia({ normalize: 'typebox' })
    .use(await tracingPlugin(config.OTEL_EXPORTER_OTLP_ENDPOINT, config.OTEL_SERVICE_NAME))
    .use(errorPlugin(log))
    .use(body.plugin)
    .use(corsPlugin(corsOrigins(config.CORS_ORIGINS)))
    .use(docsRoutes())
    .use(await webRoutes())
    .use(gateway.routes)
    .use(opsRoutes({ draining, metrics: infra.metrics, ready: async () => {
      // down = a connection error outlived the writer's retries: messages are refused until its ping succeeds
      if (!writer.healthy) throw new Error('the database is down (the message writer is refusing messages)')
      await database.ping()
      await bus.ping()
    } }))
    // always mounted, so the App type has them; in gateway mode (the gateway owns accounts) they answer 404
    .use(authRoutes(s.users, clientIp, auth.mode === 'jwt'))
    .use(userRoutes(s.users, auth))
    .use(roomRoutes(s.rooms, s.spaces, auth))
    .use(spaceRoutes(s.spaces, auth))
    .use(messageRoutes(s.messages, auth))
    .use(fileRoutes({ files: s.files, messages: s.messages, rooms: s.rooms, auth, maxUploadBytes: config.MAX_UPLOAD_BYTES }))
    .use(featureRoutes({ rooms: s.rooms, settings: s.settings, reactions: s.reactions, search: s.search, auth, withReactions: s.withReactions }))
  // multipart allowances come from the routes' metadata (method and route pattern, never the URL)
  body.index(app)

  const accessLog = config.LOG_LEVEL === 'debug'

  /**
   * Every HTTP request: size check, WebSocket upgrade, the Elysia app; a
   * request id on every response, and an access line at debug. A WebSocket
   * upgrade skips what only the app's routes use (the socket address, kept
   * for the auth routes' rate limits) or what only a response carries.
   */
  async function fetch(req: Request, server: Server<SocketData>): Promise<Response | undefined> {
    const started = accessLog ? performance.now() : 0
    let res: Response | undefined
    try {
      // HTTP/1.0 with no Host: Bun gives a bare path, which no URL parser (or route) takes
      if (req.url.startsWith('/')) throw new AppError('bad_request', 'The request has no Host header.')
      if (headerBytes(req) > MAX_HEADER_BYTES) {
        throw new AppError('headers_too_large', `The request line and headers are larger than ${MAX_HEADER_BYTES} bytes.`)
      }
      const up = await gateway.upgrade(req, server)
      if (up === null) {
        clientIp.remember(req, server.requestIP(req)?.address)
        res = await app.handle(elysiaRequest(req))
      } else if (up !== 'upgraded') res = up
    } catch (err) {
      res = errorResponse(err, 'UNKNOWN', requestLog(log, req))
    }
    if (res) {
      try {
        res.headers.set('x-request-id', requestId(req))
      } catch {} // a response with immutable headers keeps them
    }
    if (accessLog && !req.url.startsWith('/')) {
      const url = new URL(req.url)
      log.debug('request', {
        req_id: requestId(req), method: req.method, path: url.pathname + url.search, status: res?.status ?? 101,
        ms: Math.round((performance.now() - started) * 100) / 100,
      })
    }
    return res
  }

  return { app, fetch }
}

/**
 * The type of the Elysia app: every route with its params, query, body and
 * response types. The SDK's Eden Treaty client (`client/`) is typed from it;
 * import it type-only (`import type { App }`), it carries no runtime code.
 */
export type App = Awaited<ReturnType<typeof createHttpApp>>['app']
