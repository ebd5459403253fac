import { Elysia, t } from 'elysia'
import type { Authenticator } from '../auth/authenticator'
import type { UsersService } from '../chat/users'
import { RefreshToken, UpdateProfile } from '../protocol/payloads'
import { authGuard } from './auth-guard'
import { User, UserList } from '../protocol/objects'
import { examplePayloads as ex, exampleUser } from '../protocol/examples'
import { AUTHED, AUTHED_BODY, doc } from './route-docs'
import { Id, Limit, QueryText } from './schemas'

export const userRoutes = (users: UsersService, auth: Authenticator) =>
  new Elysia({ prefix: '/v1' })
    .use(authGuard(auth))
    .post('/auth/logout', async ({ body, set }) => {
      await users.logout(body.refresh)
      set.status = 204
    }, {
      body: RefreshToken,
      detail: doc({
        tag: 'Auth', summary: 'Sign out', requestExample: ex.RefreshToken,
        description: 'Revokes the login of the refresh token; its sockets close with 4001 on every node within 2 s.',
        ok: { 204: { description: 'Signed out.' } },
        errors: AUTHED_BODY,
      }),
    })
    .get('/users/me', ({ userId }) => users.get(userId), {
      detail: doc({ tag: 'Users', summary: 'The caller\'s profile', ok: { 200: { description: 'The caller.', schema: User, example: exampleUser } }, errors: [401, 503] }),
    })
    .patch('/users/me', ({ userId, body }) => users.update(userId, body), {
      body: UpdateProfile,
      detail: doc({
        tag: 'Users', summary: 'Change the caller\'s profile', requestExample: ex.UpdateProfile,
        description: 'Any of `nickname` (1..50 characters), `avatar_url` (an http(s) URL, or null), `bio` (at most 500 characters, or null).',
        ok: { 200: { description: 'The updated profile.', schema: User, example: exampleUser } },
        errors: AUTHED_BODY,
      }),
    })
    .get('/users/:id', ({ params }) => users.get(params.id), {
      params: t.Object({ id: Id }),
      detail: doc({ tag: 'Users', summary: 'A user\'s profile', ok: { 200: { description: 'The user.', schema: User, example: exampleUser } }, errors: [...AUTHED, 404] }),
    })
    .get('/users', async ({ query }) => ({ users: await users.search(query.query ?? '', query.limit ?? 20) }), {
      query: t.Object({ query: t.Optional(QueryText(200)), limit: Limit(20) }),
      detail: doc({
        tag: 'Users', summary: 'Find users', description: 'Prefix match on nickname or email.',
        ok: { 200: { description: 'Matching users.', schema: UserList, example: { users: [exampleUser] } } },
        errors: AUTHED,
      }),
    })
