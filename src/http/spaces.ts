import { Elysia, t } from 'elysia'
import type { Authenticator } from '../auth/authenticator'
import type { SpacesService } from '../chat/spaces'
import { CreateBan, CreateChannel, CreateInvite, CreateSpace, JoinSpace, SetRole, UpdateSpace } from '../protocol/payloads'
import { authGuard } from './auth-guard'
import { Id, Limit, QueryText } from './schemas'

const SpaceParams = t.Object({ id: Id })
const MemberParams = t.Object({ id: Id, userId: Id })

/** /v1/spaces: Discord-style servers, their members, invites, bans and channels. */
export const spaceRoutes = (spaces: SpacesService, auth: Authenticator) =>
  new Elysia({ prefix: '/v1/spaces' })
    .use(authGuard(auth))
    .post('', async ({ userId, body, set }) => {
      set.status = 201
      return spaces.create(userId, body)
    }, { body: CreateSpace })
    .get('', async ({ userId }) => ({ spaces: await spaces.list(userId) }))
    .get('/discover', async ({ userId, query }) => ({ spaces: await spaces.discover(userId, query.query, query.limit ?? 20) }), {
      query: t.Object({ query: t.Optional(QueryText(400)), limit: Limit(20) }),
    })
    .get('/:id', ({ userId, params }) => spaces.get(params.id, userId), { params: SpaceParams })
    .patch('/:id', ({ userId, params, body }) => spaces.update(params.id, userId, body), { params: SpaceParams, body: UpdateSpace })
    .delete('/:id', async ({ userId, params, set }) => {
      await spaces.remove(params.id, userId)
      set.status = 204
    }, { params: SpaceParams })
    .post('/:id/join', ({ userId, params, body }) => spaces.join(params.id, userId, body?.invite_code ?? null), {
      params: SpaceParams,
      body: t.Optional(JoinSpace),
    })
    .post('/:id/leave', async ({ userId, params, set }) => {
      await spaces.leave(params.id, userId)
      set.status = 204
    }, { params: SpaceParams })
    .post('/:id/invites', async ({ userId, params, body, set }) => {
      set.status = 201
      return spaces.createInvite(params.id, userId, body ?? {})
    }, { params: SpaceParams, body: t.Optional(CreateInvite) })
    .get('/:id/members', async ({ userId, params }) => ({ members: await spaces.members(params.id, userId) }), { params: SpaceParams })
    .patch('/:id/members/:userId', ({ userId, params, body }) => spaces.setRole(params.id, userId, params.userId, body.role), {
      params: MemberParams,
      body: SetRole,
    })
    .delete('/:id/members/:userId', async ({ userId, params, set }) => {
      await spaces.removeMember(params.id, userId, params.userId)
      set.status = 204
    }, { params: MemberParams })
    .post('/:id/bans', async ({ userId, params, body, set }) => {
      set.status = 201
      return spaces.ban(params.id, userId, body.user_id, body.reason ?? null)
    }, { params: SpaceParams, body: CreateBan })
    .get('/:id/bans', async ({ userId, params }) => ({ bans: await spaces.bans(params.id, userId) }), { params: SpaceParams })
    .delete('/:id/bans/:userId', async ({ userId, params, set }) => {
      await spaces.unban(params.id, userId, params.userId)
      set.status = 204
    }, { params: MemberParams })
    .post('/:id/channels', async ({ userId, params, body, set }) => {
      set.status = 201
      return spaces.createChannel(params.id, userId, body)
    }, { params: SpaceParams, body: CreateChannel })
