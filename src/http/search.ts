import { Elysia, t } from 'elysia'
import type { Authenticator } from '../auth/authenticator'
import type { Message } from '../chat/message-view'
import type { RoomsService } from '../chat/rooms'
import type { SearchService } from '../chat/search'
import { authGuard } from './auth-guard'
import { SearchPage } from '../protocol/objects'
import { exampleMessage } from '../protocol/examples'
import { AUTHED, doc } from './route-docs'
import { Id, Limit, QueryText, RoomParams, Seq } from './schemas'

const page = {
  description: 'Matches, newest first.', schema: SearchPage,
  example: { messages: [{ ...exampleMessage, highlight: '<mark>안녕</mark>하세요!' }], has_more: false },
}
const how = 'Case-insensitive substring match (Korean and English alike); `highlight` is the content HTML-escaped with each match in `<mark>…</mark>`.'

export type SearchRoutesDeps = {
  rooms: RoomsService
  search: SearchService
  /** adds each message's reactions as `viewer` sees them */
  withReactions: <T extends Message>(msgs: T[], viewer: number) => Promise<T[]>
  auth: Authenticator
}

/** GET /v1/rooms/:id/search (one room) and GET /v1/search (every room of the caller). */
export const searchRoutes = (d: SearchRoutesDeps) =>
  new Elysia({ prefix: '/v1' })
    .use(authGuard(d.auth))
    .get('/rooms/:id/search', async ({ userId, params, query }) => {
      await d.rooms.requireMember(params.id, userId)
      const r = await d.search.inRoom(params.id, query.q, query.limit ?? 20, query.before_seq)
      return { ...r, messages: await d.withReactions(r.messages, userId) }
    }, {
      params: RoomParams,
      query: t.Object({ q: t.Optional(QueryText(1000)), limit: Limit(20), before_seq: t.Optional(Seq) }),
      detail: doc({ tag: 'Search', summary: 'Search a room', description: `${how} \`before_seq\` pages back.`, ok: { 200: page }, errors: [...AUTHED, 403, 404] }),
    })
    .get('/search', async ({ userId, query }) => {
      const r = await d.search.everywhere(userId, query.q, query.limit ?? 20, query.before_id)
      return { ...r, messages: await d.withReactions(r.messages, userId) }
    }, {
      query: t.Object({ q: t.Optional(QueryText(1000)), limit: Limit(20), before_id: t.Optional(Id) }),
      detail: doc({ tag: 'Search', summary: 'Search all of the caller\'s rooms', description: `${how} \`before_id\` (a message id) pages back.`, ok: { 200: page }, errors: AUTHED }),
    })
