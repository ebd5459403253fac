import { Elysia, t } from 'elysia'
import type { UsersService } from '../chat/users'

const Register = t.Object({
  email: t.String({ maxLength: 320 }),
  password: t.String({ maxLength: 1024 }),
  nickname: t.String({ maxLength: 200 }),
  password_confirm: t.Optional(t.String({ maxLength: 1024 })),
})
const Login = t.Object({ email: t.String({ maxLength: 320 }), password: t.String({ maxLength: 1024 }) })
const Refresh = t.Object({ refresh: t.String({ minLength: 1, maxLength: 200 }) })

export const authRoutes = (users: UsersService) =>
  new Elysia({ prefix: '/v1/auth' })
    .post('/register', async ({ body, set }) => {
      set.status = 201
      return users.register(body)
    }, { body: Register })
    .post('/login', ({ body }) => users.login(body), { body: Login })
    .post('/refresh', ({ body }) => users.refresh(body.refresh), { body: Refresh })
