import { Elysia } from 'elysia'
import type { Authenticator } from '../auth/authenticator'
import type { RoomsService } from '../chat/rooms'
import { authGuard } from './auth-guard'
import { RoomParams } from './schemas'

/** GET /v1/rooms/:id/presence: who in the room is online. */
export const presenceRoutes = (rooms: RoomsService, auth: Authenticator) =>
  new Elysia({ prefix: '/v1' })
    .use(authGuard(auth))
    .get('/rooms/:id/presence', async ({ userId, params }) => ({
      members: (await rooms.members(params.id, userId)).map((m) => ({
        user_id: m.user.id, nickname: m.user.nickname, online: m.user.online, last_seen: m.user.last_seen,
      })),
    }), { params: RoomParams })
