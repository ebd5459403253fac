import { Elysia } from 'elysia'
import type { UsersService } from '../chat/users'
import { AppError } from '../lib/errors'
import { Login, RefreshToken, Register } from '../protocol/payloads'
import { Session, TokenPair } from '../protocol/objects'
import { examplePayloads as ex, exampleSession, exampleTokenPair } from '../protocol/examples'
import type { ClientIp } from './client-ip'
import { doc } from './route-docs'

const PREFIX = '/v1/auth'
/** The paths that exist only when this server owns accounts. */
const ACCOUNT_PATHS = new Set(['register', 'login', 'refresh'].map((p) => `${PREFIX}/${p}`))

/** What any unknown route answers (errors.ts), so a disabled route cannot be told from a missing one. */
const noSuchRoute = () => new AppError('not_found', 'No such route.')

/** The request's path as the router sees it, a trailing slash dropped (Elysia matches `/login/` too). */
function routedPath(url: string): string {
  const path = new URL(url).pathname
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path
}

/**
 * Register, login and refresh. They are always mounted, so that their types
 * are part of the app's type (the SDK's Eden client is typed from it) in
 * either mode. With `enabled` false (gateway mode: the API gateway owns
 * accounts) all three answer 404 `not_found` exactly as an unknown route
 * does, whatever the body.
 */
export function authRoutes(users: UsersService, clientIp: ClientIp, enabled: boolean) {
  const routes = new Elysia({ prefix: PREFIX })
  if (!enabled) {
    // onRequest runs before routing and so before the app-wide body parser: an oversized or malformed
    // body must not turn the 404 into a 413 or 400. Elysia applies it to every request, hence the path test.
    routes.onRequest(({ request }) => {
      if (request.method === 'POST' && request.url.includes(PREFIX) && ACCOUNT_PATHS.has(routedPath(request.url))) throw noSuchRoute()
    })
    // and should a request reach a route some other way, it still never touches accounts
    routes.onTransform(() => {
      throw noSuchRoute()
    })
  }
  // and the OpenAPI document leaves out what this server does not offer
  const hidden = <D extends object>(d: D) => (enabled ? d : { ...d, hide: true })
  return routes
    .post('/register', async ({ body, set, request }) => {
      const session = await users.register(body, clientIp.of(request))
      set.status = 201
      return session
    }, {
      body: Register,
      detail: hidden(doc({
        tag: 'Auth', summary: 'Register', public: true, requestExample: ex.Register,
        description: 'Creates a user and signs them in. Over `RATE_AUTH` per client address → 429.',
        ok: { 201: { description: 'The new user and a token pair.', schema: Session, example: exampleSession } },
        errors: [400, 409, 413, 422, 429, 503],
      })),
    })
    .post('/login', ({ body, request }) => users.login(body, clientIp.of(request)), {
      body: Login,
      detail: hidden(doc({
        tag: 'Auth', summary: 'Sign in', public: true, requestExample: ex.Login,
        description: 'A wrong email or password is 401. Over `RATE_AUTH` per client address, or `RATE_LOGIN_FAILURES` failed logins of one email, → 429.',
        ok: { 200: { description: 'The user and a token pair.', schema: Session, example: exampleSession } },
        errors: [400, 401, 413, 422, 429, 503],
      })),
    })
    .post('/refresh', ({ body, request }) => users.refresh(body.refresh, clientIp.of(request)), {
      body: RefreshToken,
      detail: hidden(doc({
        tag: 'Auth', summary: 'Rotate the refresh token', public: true, requestExample: ex.RefreshToken,
        description: 'The refresh token sent is revoked; reusing a revoked one revokes its whole login (401) and closes its sockets with 4001.',
        ok: { 200: { description: 'A new token pair.', schema: TokenPair, example: exampleTokenPair } },
        errors: [400, 401, 413, 422, 429, 503],
      })),
    })
}
