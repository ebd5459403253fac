import { Elysia, t } from 'elysia'
import type { Authenticator } from '../auth/authenticator'
import type { Message } from '../chat/message-view'
import type { ReactionsService } from '../chat/reactions'
import type { RoomsService } from '../chat/rooms'
import type { SearchService } from '../chat/search'
import type { SettingsService } from '../chat/settings'
import { authGuard } from './auth-guard'
import { UpdateSettings } from '../protocol/payloads'
import { Id, Limit, QueryText, Seq } from './schemas'

const RoomParams = t.Object({ id: Id })
const ReactionParams = t.Object({ id: Id, mid: Id, emoji: t.String({ format: 'text', minLength: 1, maxLength: 64 }) })

/** Presence, settings, reactions and search (the routes of the chat features). */
export const featureRoutes = (d: {
  rooms: RoomsService
  settings: SettingsService
  reactions: ReactionsService
  search: SearchService
  withReactions: <T extends Message>(msgs: T[], viewer: number) => Promise<T[]>
  auth: Authenticator
}) =>
  new Elysia({ prefix: '/v1' })
    .use(authGuard(d.auth))
    .get('/rooms/:id/presence', async ({ userId, params }) => ({
      members: (await d.rooms.members(params.id, userId)).map((m) => ({
        user_id: m.user.id, nickname: m.user.nickname, online: m.user.online, last_seen: m.user.last_seen,
      })),
    }), { params: RoomParams })
    .get('/rooms/:id/settings', ({ userId, params }) => d.settings.get(params.id, userId), { params: RoomParams })
    .patch('/rooms/:id/settings', ({ userId, params, body }) => d.settings.update(params.id, userId, body), {
      params: RoomParams,
      body: UpdateSettings,
    })
    .put('/rooms/:id/messages/:mid/reactions/:emoji', ({ userId, params }) => d.reactions.add(params.id, userId, params.mid, params.emoji), {
      params: ReactionParams,
    })
    .delete('/rooms/:id/messages/:mid/reactions/:emoji', ({ userId, params }) => d.reactions.remove(params.id, userId, params.mid, params.emoji), {
      params: ReactionParams,
    })
    .get('/rooms/:id/search', async ({ userId, params, query }) => {
      await d.rooms.requireMember(params.id, userId)
      const r = await d.search.inRoom(params.id, query.q, query.limit ?? 20, query.before_seq)
      return { ...r, messages: await d.withReactions(r.messages, userId) }
    }, {
      params: RoomParams,
      query: t.Object({ q: t.Optional(QueryText(1000)), limit: Limit(20), before_seq: t.Optional(Seq) }),
    })
    .get('/search', async ({ userId, query }) => {
      const r = await d.search.everywhere(userId, query.q, query.limit ?? 20, query.before_id)
      return { ...r, messages: await d.withReactions(r.messages, userId) }
    }, {
      query: t.Object({ q: t.Optional(QueryText(1000)), limit: Limit(20), before_id: t.Optional(Id) }),
    })
