import { Elysia, t } from 'elysia'
import type { Authenticator } from '../auth/authenticator'
import type { RoomsService } from '../chat/rooms'
import type { SpacesService } from '../chat/spaces'
import { AddMembers, CreateBan, CreateRoom, SetRole, UpdateRoom } from '../protocol/payloads'
import { authGuard } from './auth-guard'
import { Id, Limit, QueryText, RoomParams } from './schemas'

/**
 * /v1/rooms. A channel's members, roles and bans are its space's: the member
 * and ban routes of a channel act on the space.
 */
export const roomRoutes = (rooms: RoomsService, spaces: SpacesService, auth: Authenticator) =>
{
  /** The space of a channel (null for other rooms); 404 for no room. */
  const spaceOf = async (roomId: number) => (await rooms.row(roomId)).spaceId
  return new Elysia({ prefix: '/v1/rooms' })
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
      const space = await spaceOf(params.id)
      if (space !== null && userId !== params.userId) await spaces.removeMember(space, userId, params.userId)
      else await rooms.removeMemberBy(params.id, userId, params.userId)
      set.status = 204
    }, { params: t.Object({ id: Id, userId: Id }) })
    .patch('/:id/members/:userId', async ({ userId, params, body }) => {
      const space = await spaceOf(params.id)
      return space === null ? rooms.setRole(params.id, userId, params.userId, body.role) : spaces.setRole(space, userId, params.userId, body.role)
    }, { params: t.Object({ id: Id, userId: Id }), body: SetRole })
    .post('/:id/bans', async ({ userId, params, body, set }) => {
      const space = await spaceOf(params.id)
      const ban = space === null
        ? await rooms.ban(params.id, userId, body.user_id, body.reason ?? null)
        : await spaces.ban(space, userId, body.user_id, body.reason ?? null)
      set.status = 201
      return ban
    }, { params: RoomParams, body: CreateBan })
    .get('/:id/bans', async ({ userId, params }) => {
      const space = await spaceOf(params.id)
      return { bans: space === null ? await rooms.bans(params.id, userId) : await spaces.bans(space, userId) }
    }, { params: RoomParams })
    .delete('/:id/bans/:userId', async ({ userId, params, set }) => {
      const space = await spaceOf(params.id)
      if (space === null) await rooms.unban(params.id, userId, params.userId)
      else await spaces.unban(space, userId, params.userId)
      set.status = 204
    }, { params: t.Object({ id: Id, userId: Id }) })
    .post('/:id/join', ({ userId, params }) => rooms.join(params.id, userId), { params: RoomParams })
    .post('/:id/leave', async ({ userId, params, set }) => {
      await rooms.leave(params.id, userId)
      set.status = 204
    }, { params: RoomParams })
}
