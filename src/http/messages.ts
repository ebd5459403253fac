import { Elysia, t } from 'elysia'
import type { Authenticator } from '../auth/authenticator'
import type { MessagesService } from '../chat/messages'
import { EditMessage, MarkRead, SendMessage } from '../protocol/payloads'
import { authGuard } from './auth-guard'
import { Id, Limit, RoomParams, Seq } from './schemas'

const MessageParams = t.Object({ id: Id, mid: Id })

export const messageRoutes = (messages: MessagesService, auth: Authenticator) =>
  new Elysia({ prefix: '/v1/rooms/:id' })
    .use(authGuard(auth))
    .get('/messages', ({ userId, params, query }) => messages.list(params.id, userId, { ...query, limit: query.limit ?? 50 }), {
      params: RoomParams,
      query: t.Object({ before_seq: t.Optional(Seq), after_seq: t.Optional(Seq), limit: Limit(50) }),
    })
    .post('/messages', async ({ userId, params, body, set }) => {
      const { message, created } = await messages.send(userId, params.id, body)
      set.status = created ? 201 : 200
      return message
    }, { params: RoomParams, body: SendMessage })
    .patch('/messages/:mid', ({ userId, params, body }) => messages.edit(params.id, userId, params.mid, body), {
      params: MessageParams,
      body: EditMessage,
    })
    .delete('/messages/:mid', async ({ userId, params, set }) => {
      await messages.remove(params.id, userId, params.mid)
      set.status = 204
    }, { params: MessageParams })
    .post('/read', ({ userId, params, body }) => messages.read(params.id, userId, body), {
      params: RoomParams,
      body: MarkRead,
    })
