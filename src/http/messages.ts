import { Elysia, t } from 'elysia'
import type { Authenticator } from '../auth/authenticator'
import type { MessagesService } from '../chat/messages'
import { authGuard } from './auth-guard'
import { Id, Limit, Seq } from './schemas'

export const SendMessageBody = t.Object({
  content: t.String({ maxLength: 100_000 }),
  type: t.Optional(t.Literal('text')),
  reply_to_id: t.Optional(t.Nullable(t.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }))),
  client_msg_id: t.Optional(t.Nullable(t.String({ maxLength: 100 }))),
})
const RoomParams = t.Object({ id: Id })
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
    }, { params: RoomParams, body: SendMessageBody })
    .patch('/messages/:mid', ({ userId, params, body }) => messages.edit(params.id, userId, params.mid, body.content), {
      params: MessageParams,
      body: t.Object({ content: t.String({ maxLength: 100_000 }) }),
    })
    .delete('/messages/:mid', async ({ userId, params, set }) => {
      await messages.remove(params.id, userId, params.mid)
      set.status = 204
    }, { params: MessageParams })
    .post('/read', ({ userId, params, body }) => messages.read(params.id, userId, body.seq), {
      params: RoomParams,
      body: t.Object({ seq: t.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }) }),
    })
