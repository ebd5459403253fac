import { Elysia } from 'elysia'
import type { Authenticator } from '../auth/authenticator'
import type { RoomsService } from '../chat/rooms'
import { authGuard } from './auth-guard'
import { PresenceList } from '../protocol/objects'
import { AUTHED, doc } from './route-docs'
import { RoomParams } from './schemas'

/** GET /v1/rooms/:id/presence: who in the room is online. */
export const presenceRoutes = (rooms: RoomsService, auth: Authenticator) =>
  new Elysia({ prefix: '/v1' })
    .use(authGuard(auth))
    .get('/rooms/:id/presence', async ({ userId, params }) => ({
      members: (await rooms.members(params.id, userId)).map((m) => ({
        user_id: m.user.id, nickname: m.user.nickname, online: m.user.online, last_seen: m.user.last_seen,
      })),
    }), {
      params: RoomParams,
      detail: doc({
        tag: 'Rooms', summary: 'Who in a room is online',
        ok: { 200: { description: 'Each member\'s presence.', schema: PresenceList, example: { members: [{ user_id: 7, nickname: '하늘', online: true, last_seen: '2026-12-03T06:00:00.000Z' }] } } },
        errors: [...AUTHED, 403, 404],
      }),
    })
