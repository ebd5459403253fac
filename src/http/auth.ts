import { Elysia } from 'elysia'
import type { UsersService } from '../chat/users'
import { Login, RefreshToken, Register } from '../protocol/payloads'
import { Session, TokenPair } from '../protocol/objects'
import { examplePayloads as ex, exampleSession, exampleTokenPair } from '../protocol/examples'
import type { ClientIp } from './client-ip'
import { doc } from './route-docs'

export const authRoutes = (users: UsersService, clientIp: ClientIp) =>
  new Elysia({ prefix: '/v1/auth' })
    .post('/register', async ({ body, set, request }) => {
      const session = await users.register(body, clientIp.of(request))
      set.status = 201
      return session
    }, {
      body: Register,
      detail: doc({
        tag: 'Auth', summary: 'Register', public: true, requestExample: ex.Register,
        description: 'Creates a user and signs them in. Over `RATE_AUTH` per client address → 429.',
        ok: { 201: { description: 'The new user and a token pair.', schema: Session, example: exampleSession } },
        errors: [400, 409, 413, 422, 429, 503],
      }),
    })
    .post('/login', ({ body, request }) => users.login(body, clientIp.of(request)), {
      body: Login,
      detail: doc({
        tag: 'Auth', summary: 'Sign in', public: true, requestExample: ex.Login,
        description: 'A wrong email or password is 401. Over `RATE_AUTH` per client address, or `RATE_LOGIN_FAILURES` failed logins of one email, → 429.',
        ok: { 200: { description: 'The user and a token pair.', schema: Session, example: exampleSession } },
        errors: [400, 401, 413, 422, 429, 503],
      }),
    })
    .post('/refresh', ({ body, request }) => users.refresh(body.refresh, clientIp.of(request)), {
      body: RefreshToken,
      detail: doc({
        tag: 'Auth', summary: 'Rotate the refresh token', public: true, requestExample: ex.RefreshToken,
        description: 'The refresh token sent is revoked; reusing a revoked one revokes its whole login (401) and closes its sockets with 4001.',
        ok: { 200: { description: 'A new token pair.', schema: TokenPair, example: exampleTokenPair } },
        errors: [400, 401, 413, 422, 429, 503],
      }),
    })
