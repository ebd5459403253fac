import { Elysia } from 'elysia'
import type { UsersService } from '../chat/users'
import { Login, RefreshToken, Register } from '../protocol/payloads'

export const authRoutes = (users: UsersService) =>
  new Elysia({ prefix: '/v1/auth' })
    .post('/register', async ({ body, set }) => {
      set.status = 201
      return users.register(body)
    }, { body: Register })
    .post('/login', ({ body }) => users.login(body), { body: Login })
    .post('/refresh', ({ body }) => users.refresh(body.refresh), { body: RefreshToken })
