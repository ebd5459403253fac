import { Elysia } from 'elysia'
import type { Authenticator } from '../auth/authenticator'
import type { SettingsService } from '../chat/settings'
import { UpdateSettings } from '../protocol/payloads'
import { authGuard } from './auth-guard'
import { RoomParams } from './schemas'

/** /v1/rooms/:id/settings. */
export const settingsRoutes = (settings: SettingsService, auth: Authenticator) =>
  new Elysia({ prefix: '/v1' })
    .use(authGuard(auth))
    .get('/rooms/:id/settings', ({ userId, params }) => settings.get(params.id, userId), { params: RoomParams })
    .patch('/rooms/:id/settings', ({ userId, params, body }) => settings.update(params.id, userId, body), {
      params: RoomParams,
      body: UpdateSettings,
    })
