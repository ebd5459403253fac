import { Elysia, t } from 'elysia'
import type { Authenticator } from '../auth/authenticator'
import type { UsersService } from '../chat/users'
import { RefreshToken, UpdateProfile } from '../protocol/payloads'
import { authGuard } from './auth-guard'
import { Id, Limit, QueryText } from './schemas'

export const userRoutes = (users: UsersService, auth: Authenticator) =>
  new Elysia({ prefix: '/v1' })
    .use(authGuard(auth))
    .post('/auth/logout', async ({ body, set }) => {
      await users.logout(body.refresh)
      set.status = 204
    }, { body: RefreshToken })
    .get('/users/me', ({ userId }) => users.get(userId))
    .patch('/users/me', ({ userId, body }) => users.update(userId, body), { body: UpdateProfile })
    .get('/users/:id', ({ params }) => users.get(params.id), { params: t.Object({ id: Id }) })
    .get('/users', async ({ query }) => ({ users: await users.search(query.query ?? '', query.limit ?? 20) }), {
      query: t.Object({ query: t.Optional(QueryText(200)), limit: Limit(20) }),
    })
