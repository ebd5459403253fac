import { Elysia, t } from 'elysia'
import type { Authenticator } from '../auth/authenticator'
import type { RoomsService } from '../chat/rooms'
import { AddMembers, CreateRoom, UpdateRoom } from '../protocol/payloads'
import { authGuard } from './auth-guard'
import { Id, Limit, QueryText } from './schemas'

const RoomParams = t.Object({ id: Id })

export const roomRoutes = (rooms: RoomsService, auth: Authenticator) =>
  new Elysia({ prefix: '/v1/rooms' })
    .use(authGuard(auth))
    .get('', ({ userId, query }) => rooms.list(userId, { limit: query.limit ?? 50, cursor: query.cursor, externalId: query.external_id }), {
      query: t.Object({ limit: Limit(50), cursor: t.Optional(QueryText(500)), external_id: t.Optional(QueryText(400)) }),
    })
    .post('', async ({ userId, body, set }) => {
      const { room, created } = await rooms.create(userId, body)
      set.status = created ? 201 : 200
      return room
    }, { body: CreateRoom })
    .get('/lookup', ({ userId, query }) => rooms.lookup(query.external_id, userId), {
      query: t.Object({ external_id: QueryText(400) }),
    })
    .get('/:id', ({ userId, params }) => rooms.get(params.id, userId), { params: RoomParams })
    .patch('/:id', ({ userId, params, body }) => rooms.update(params.id, userId, body), { params: RoomParams, body: UpdateRoom })
    .delete('/:id', async ({ userId, params, set }) => {
      await rooms.remove(params.id, userId)
      set.status = 204
    }, { params: RoomParams })
    .get('/:id/members', async ({ userId, params }) => ({ members: await rooms.members(params.id, userId) }), { params: RoomParams })
    .post('/:id/members', async ({ userId, params, body }) => ({ members: await rooms.addMembers(params.id, userId, body.user_ids) }), {
      params: RoomParams,
      body: AddMembers,
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
