import { Elysia } from 'elysia'
import type { Authenticator } from '../auth/authenticator'
import type { SettingsService } from '../chat/settings'
import { UpdateSettings } from '../protocol/payloads'
import { authGuard } from './auth-guard'
import { RoomSettings } from '../protocol/objects'
import { examplePayloads as ex } from '../protocol/examples'
import { AUTHED, AUTHED_BODY, doc } from './route-docs'
import { RoomParams } from './schemas'

const settingsAnswer = { description: 'The settings.', schema: RoomSettings, example: { notifications: true, read_receipts: true, retention_days: null } }

/** /v1/rooms/:id/settings. */
export const settingsRoutes = (settings: SettingsService, auth: Authenticator) =>
  new Elysia({ prefix: '/v1' })
    .use(authGuard(auth))
    .get('/rooms/:id/settings', ({ userId, params }) => settings.get(params.id, userId), {
      params: RoomParams,
      detail: doc({ tag: 'Rooms', summary: 'Settings of a room', ok: { 200: settingsAnswer }, errors: [...AUTHED, 403, 404] }),
    })
    .patch('/rooms/:id/settings', ({ userId, params, body }) => settings.update(params.id, userId, body), {
      params: RoomParams,
      body: UpdateSettings,
      detail: doc({
        tag: 'Rooms', summary: 'Change settings', requestExample: ex.UpdateSettings,
        description: '`notifications` and `read_receipts` are the caller\'s own; `retention_days` (null or 1..3650) is the room\'s, owner or admin only; a periodic sweep deletes older messages.',
        ok: { 200: settingsAnswer }, errors: [...AUTHED_BODY, 403, 404],
      }),
    })
