import { Elysia, t } from 'elysia'
import type { Authenticator } from '../auth/authenticator'
import type { RoomsService } from '../chat/rooms'
import { authGuard } from './auth-guard'
import { Id, IdList, Limit } from './schemas'

const CreateRoom = t.Object({
  type: t.Union([t.Literal('group'), t.Literal('direct')]),
  name: t.Optional(t.String({ maxLength: 400 })),
  description: t.Optional(t.Nullable(t.String({ maxLength: 4000 }))),
  visibility: t.Optional(t.Union([t.Literal('private'), t.Literal('public')])),
  member_ids: t.Optional(IdList),
  external_id: t.Optional(t.Nullable(t.String({ maxLength: 400 }))),
})
const PatchRoom = t.Object({
  name: t.Optional(t.String({ maxLength: 400 })),
  description: t.Optional(t.Nullable(t.String({ maxLength: 4000 }))),
  visibility: t.Optional(t.Union([t.Literal('private'), t.Literal('public')])),
})
const RoomParams = t.Object({ id: Id })

export const roomRoutes = (rooms: RoomsService, auth: Authenticator) =>
  new Elysia({ prefix: '/v1/rooms' })
    .use(authGuard(auth))
    .get('/', ({ userId, query }) => rooms.list(userId, { limit: query.limit ?? 50, cursor: query.cursor, externalId: query.external_id }), {
      query: t.Object({ limit: Limit(50), cursor: t.Optional(t.String({ maxLength: 500 })), external_id: t.Optional(t.String({ maxLength: 400 })) }),
    })
    .post('/', async ({ userId, body, set }) => {
      const { room, created } = await rooms.create(userId, body)
      set.status = created ? 201 : 200
      return room
    }, { body: CreateRoom })
    .get('/:id', ({ userId, params }) => rooms.get(params.id, userId), { params: RoomParams })
    .patch('/:id', ({ userId, params, body }) => rooms.update(params.id, userId, body), { params: RoomParams, body: PatchRoom })
    .delete('/:id', async ({ userId, params, set }) => {
      await rooms.remove(params.id, userId)
      set.status = 204
    }, { params: RoomParams })
    .get('/:id/members', async ({ userId, params }) => ({ members: await rooms.members(params.id, userId) }), { params: RoomParams })
    .post('/:id/members', async ({ userId, params, body }) => ({ members: await rooms.addMembers(params.id, userId, body.user_ids) }), {
      params: RoomParams,
      body: t.Object({ user_ids: t.Array(t.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }), { minItems: 1, maxItems: 1000 }) }),
    })
    .delete('/:id/members/:userId', async ({ userId, params, set }) => {
      await rooms.removeMemberBy(params.id, userId, params.userId)
      set.status = 204
    }, { params: t.Object({ id: Id, userId: Id }) })
    .post('/:id/join', ({ userId, params }) => rooms.join(params.id, userId), { params: RoomParams })
    .post('/:id/leave', async ({ userId, params, set }) => {
      await rooms.leave(params.id, userId)
      set.status = 204
    }, { params: RoomParams })
