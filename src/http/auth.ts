import { Elysia } from 'elysia'
import type { UsersService } from '../chat/users'
import { Login, RefreshToken, Register } from '../protocol/payloads'
import type { ClientIp } from './client-ip'

export const authRoutes = (users: UsersService, clientIp: ClientIp) =>
  new Elysia({ prefix: '/v1/auth' })
    .post('/register', async ({ body, set, request }) => {
      const session = await users.register(body, clientIp.of(request))
      set.status = 201
      return session
    }, { body: Register })
    .post('/login', ({ body, request }) => users.login(body, clientIp.of(request)), { body: Login })
    .post('/refresh', ({ body, request }) => users.refresh(body.refresh, clientIp.of(request)), { body: RefreshToken })
