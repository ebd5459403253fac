import { Elysia, t } from 'elysia'
import type { Authenticator } from '../auth/authenticator'
import type { RoomsService } from '../chat/rooms'
import type { SpacesService } from '../chat/spaces'
import { AddMembers, CreateBan, CreateRoom, SetRole, UpdateRoom } from '../protocol/payloads'
import { authGuard } from './auth-guard'
import { Ban, BanList, Member, MemberList, Room, RoomPage, SpaceMember } from '../protocol/objects'
import { exampleBan, exampleMember, examplePayloads as ex, exampleRoom } from '../protocol/examples'
import { AUTHED, AUTHED_BODY, doc } from './route-docs'
import { Id, Limit, QueryText, RoomParams } from './schemas'

const room = { description: 'The room, as the caller sees it.', schema: Room, example: exampleRoom }
const members = { description: 'The members.', schema: MemberList, example: { members: [exampleMember] } }

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
      detail: doc({
        tag: 'Rooms', summary: 'The caller\'s rooms',
        description: 'Rooms the caller is a member of (channels of their spaces included), most recent activity first. `cursor` is the `next_cursor` of the previous page; a forged one is 422.',
        ok: { 200: { description: 'One page.', schema: RoomPage, example: { rooms: [exampleRoom], next_cursor: 'eyJ0IjoiMjAyNi0xMi0wM1QwNjowMDowMC4wMDBaIiwiaSI6OH0' } } },
        errors: AUTHED,
      }),
    })
    .post('', async ({ userId, body, set }) => {
      const { room, created } = await rooms.create(userId, body)
      set.status = created ? 201 : 200
      return room
    }, {
      body: CreateRoom,
      detail: doc({
        tag: 'Rooms', summary: 'Create a room (or get it)', requestExample: ex.CreateRoom,
        description: 'A group room (the caller is `owner`) or a direct room with one other user. A direct room of the same two users, '
          + 'or a room that already has the `external_id` and is public or the caller\'s, is answered 200 (create-or-get, safe under concurrency); '
          + 'an `external_id` held by a room the caller may not see is 409. Over `MAX_ROOM_MEMBERS` → 422 `room_full`; an unknown member → 404.',
        ok: { 201: { ...room, description: 'Created.' }, 200: { ...room, description: 'The existing room.' } },
        errors: [...AUTHED_BODY, 404, 409],
      }),
    })
    .get('/lookup', ({ userId, query }) => rooms.lookup(query.external_id, userId), {
      query: t.Object({ external_id: QueryText(400) }),
      detail: doc({
        tag: 'Rooms', summary: 'Find a room by external_id',
        description: 'The room with that `external_id` if it is public or the caller is a member; else 404.',
        ok: { 200: room }, errors: [...AUTHED, 404],
      }),
    })
    .get('/:id', ({ userId, params }) => rooms.get(params.id, userId), {
      params: RoomParams,
      detail: doc({ tag: 'Rooms', summary: 'A room', description: 'Members only, or anyone for a public room.', ok: { 200: room }, errors: [...AUTHED, 403, 404] }),
    })
    .patch('/:id', ({ userId, params, body }) => rooms.update(params.id, userId, body), {
      params: RoomParams,
      body: UpdateRoom,
      detail: doc({
        tag: 'Rooms', summary: 'Change a room', requestExample: ex.UpdateRoom,
        description: 'Owner or admin (of the space, for a channel).', ok: { 200: room }, errors: [...AUTHED_BODY, 403, 404],
      }),
    })
    .delete('/:id', async ({ userId, params, set }) => {
      await rooms.remove(params.id, userId)
      set.status = 204
    }, {
      params: RoomParams,
      detail: doc({
        tag: 'Rooms', summary: 'Delete a room',
        description: 'The owner (owner or admin of the space, for a channel; a space\'s `general` channel cannot be deleted). Members get `room.deleted`.',
        ok: { 204: { description: 'Deleted.' } }, errors: [...AUTHED, 403, 404],
      }),
    })
    .get('/:id/members', async ({ userId, params }) => ({ members: await rooms.members(params.id, userId) }), {
      params: RoomParams,
      detail: doc({ tag: 'Rooms', summary: 'Members of a room', ok: { 200: members }, errors: [...AUTHED, 403, 404] }),
    })
    .post('/:id/members', async ({ userId, params, body }) => ({ members: await rooms.addMembers(params.id, userId, body.user_ids) }), {
      params: RoomParams,
      body: AddMembers,
      detail: doc({
        tag: 'Rooms', summary: 'Add members', requestExample: ex.AddMembers,
        description: 'Owner or admin of a group room. Users already in stay as they are. An unknown user (404), the member limit (422 `room_full`), '
          + 'a direct room or a channel (403) or a banned user (403): nobody is added.',
        ok: { 200: members }, errors: [...AUTHED_BODY, 403, 404],
      }),
    })
    .delete('/:id/members/:userId', async ({ userId, params, set }) => {
      const space = await spaceOf(params.id)
      if (space !== null && userId !== params.userId) await spaces.removeMember(space, userId, params.userId)
      else await rooms.removeMemberBy(params.id, userId, params.userId)
      set.status = 204
    }, {
      params: t.Object({ id: Id, userId: Id }),
      detail: doc({
        tag: 'Rooms', summary: 'Remove a member (or leave)',
        description: 'Owner or admin removes someone (an admin only plain members), or anyone removes themselves. For a channel, removes from the space.',
        ok: { 204: { description: 'Removed.' } }, errors: [...AUTHED, 403, 404],
      }),
    })
    .patch('/:id/members/:userId', async ({ userId, params, body }) => {
      const space = await spaceOf(params.id)
      return space === null ? rooms.setRole(params.id, userId, params.userId, body.role) : spaces.setRole(space, userId, params.userId, body.role)
    }, {
      params: t.Object({ id: Id, userId: Id }),
      body: SetRole,
      detail: doc({
        tag: 'Moderation', summary: 'Change a member\'s role', requestExample: ex.SetRole,
        description: 'Owner only; `owner` hands ownership over and the old owner becomes `admin`. For a channel this is the space\'s role (a space member, without `last_read_seq`).',
        ok: { 200: { description: 'The member.', schema: t.Union([Member, SpaceMember]), example: exampleMember } },
        errors: [...AUTHED_BODY, 403, 404],
      }),
    })
    .post('/:id/bans', async ({ userId, params, body, set }) => {
      const space = await spaceOf(params.id)
      const ban = space === null
        ? await rooms.ban(params.id, userId, body.user_id, body.reason ?? null)
        : await spaces.ban(space, userId, body.user_id, body.reason ?? null)
      set.status = 201
      return ban
    }, {
      params: RoomParams,
      body: CreateBan,
      detail: doc({
        tag: 'Moderation', summary: 'Ban a user', requestExample: ex.CreateBan,
        description: 'Owner or admin: removes the user and keeps them out (for a channel: out of the space).',
        ok: { 201: { description: 'The ban.', schema: Ban, example: exampleBan } }, errors: [...AUTHED_BODY, 403, 404],
      }),
    })
    .get('/:id/bans', async ({ userId, params }) => {
      const space = await spaceOf(params.id)
      return { bans: space === null ? await rooms.bans(params.id, userId) : await spaces.bans(space, userId) }
    }, {
      params: RoomParams,
      detail: doc({
        tag: 'Moderation', summary: 'Bans of a room', description: 'Owner or admin.',
        ok: { 200: { description: 'The bans.', schema: BanList, example: { bans: [exampleBan] } } }, errors: [...AUTHED, 403, 404],
      }),
    })
    .delete('/:id/bans/:userId', async ({ userId, params, set }) => {
      const space = await spaceOf(params.id)
      if (space === null) await rooms.unban(params.id, userId, params.userId)
      else await spaces.unban(space, userId, params.userId)
      set.status = 204
    }, {
      params: t.Object({ id: Id, userId: Id }),
      detail: doc({ tag: 'Moderation', summary: 'Lift a ban', description: 'Owner or admin.', ok: { 204: { description: 'Lifted.' } }, errors: [...AUTHED, 403, 404] }),
    })
    .post('/:id/join', ({ userId, params }) => rooms.join(params.id, userId), {
      params: RoomParams,
      detail: doc({
        tag: 'Rooms', summary: 'Join a public room',
        description: 'Public group rooms only (private → 403); already a member → 200, even when full; full → 422 `room_full`.',
        ok: { 200: room }, errors: [...AUTHED, 403, 404],
      }),
    })
    .post('/:id/leave', async ({ userId, params, set }) => {
      await rooms.leave(params.id, userId)
      set.status = 204
    }, {
      params: RoomParams,
      detail: doc({
        tag: 'Rooms', summary: 'Leave a room', description: 'A channel is left by leaving its space (403).',
        ok: { 204: { description: 'Left.' } }, errors: [...AUTHED, 403, 404],
      }),
    })
}
