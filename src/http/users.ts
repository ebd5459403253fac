import { Elysia, t } from 'elysia'
import type { Authenticator } from '../auth/authenticator'
import type { UsersService } from '../chat/users'
import { authGuard } from './auth-guard'
import { Id, Limit } from './schemas'

const PatchMe = t.Object({
  nickname: t.Optional(t.String({ maxLength: 200 })),
  avatar_url: t.Optional(t.Nullable(t.String({ maxLength: 2048 }))),
  bio: t.Optional(t.Nullable(t.String({ maxLength: 2000 }))),
})

export const userRoutes = (users: UsersService, auth: Authenticator) =>
  new Elysia({ prefix: '/v1' })
    .use(authGuard(auth))
    .post('/auth/logout', async ({ body, set }) => {
      await users.logout(body.refresh)
      set.status = 204
    }, { body: t.Object({ refresh: t.String({ minLength: 1, maxLength: 200 }) }) })
    .get('/users/me', ({ userId }) => users.get(userId))
    .patch('/users/me', ({ userId, body }) => users.update(userId, body), { body: PatchMe })
    .get('/users/:id', ({ params }) => users.get(params.id), { params: t.Object({ id: Id }) })
    .get('/users', async ({ query }) => ({ users: await users.search(query.query ?? '', query.limit ?? 20) }), {
      query: t.Object({ query: t.Optional(t.String({ maxLength: 200 })), limit: Limit(20) }),
    })
