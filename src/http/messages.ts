import { Elysia, t } from 'elysia'
import type { Authenticator } from '../auth/authenticator'
import type { MessagesService } from '../chat/messages'
import { EditMessage, MarkRead, SendMessage } from '../protocol/payloads'
import { authGuard } from './auth-guard'
import { Message, MessagePage, ReadMark } from '../protocol/objects'
import { exampleMessage, examplePayloads as ex } from '../protocol/examples'
import { AUTHED, AUTHED_BODY, doc } from './route-docs'
import { Id, Limit, RoomParams, Seq } from './schemas'

const message = { description: 'The message.', schema: Message, example: exampleMessage }

const MessageParams = t.Object({ id: Id, mid: Id })

export const messageRoutes = (messages: MessagesService, auth: Authenticator) =>
  new Elysia({ prefix: '/v1/rooms/:id' })
    .use(authGuard(auth))
    .get('/messages', ({ userId, params, query }) => messages.list(params.id, userId, { ...query, limit: query.limit ?? 50 }), {
      params: RoomParams,
      query: t.Object({ before_seq: t.Optional(Seq), after_seq: t.Optional(Seq), limit: Limit(50) }),
      detail: doc({
        tag: 'Messages', summary: 'History of a room',
        description: 'Ascending by `seq`. Without a cursor the newest page; `before_seq` pages back, `after_seq` alone reads forward (resume).',
        ok: { 200: { description: 'One page.', schema: MessagePage, example: { messages: [exampleMessage], has_more: true } } },
        errors: [...AUTHED, 403, 404],
      }),
    })
    .post('/messages', async ({ userId, params, body, set }) => {
      const { message, created } = await messages.send(userId, params.id, body)
      set.status = created ? 201 : 200
      return message
    }, {
      params: RoomParams,
      body: SendMessage,
      detail: doc({
        tag: 'Messages', summary: 'Send a message', requestExample: ex.SendMessage,
        description: 'Answered once the message is committed. The same `client_msg_id` from the same sender in the same room again → 200 with the first message '
          + '(with other content → 409), across restarts and nodes. Empty or over `MAX_MESSAGE_CHARS` → 422; over `RATE_MESSAGES` → 429.',
        ok: { 201: { ...message, description: 'Sent.' }, 200: { ...message, description: 'Sent before with this `client_msg_id`: the first message.' } },
        errors: [...AUTHED_BODY, 403, 404, 409, 429],
      }),
    })
    .patch('/messages/:mid', ({ userId, params, body }) => messages.edit(params.id, userId, params.mid, body), {
      params: MessageParams,
      body: EditMessage,
      detail: doc({
        tag: 'Messages', summary: 'Edit a message', description: 'The author only; `edited_at` is set.', requestExample: ex.EditMessage,
        ok: { 200: message }, errors: [...AUTHED_BODY, 403, 404],
      }),
    })
    .delete('/messages/:mid', async ({ userId, params, set }) => {
      await messages.remove(params.id, userId, params.mid)
      set.status = 204
    }, {
      params: MessageParams,
      detail: doc({
        tag: 'Messages', summary: 'Delete a message',
        description: 'The author, or an owner or admin of the room. The message keeps its id and seq, with empty content and no attachment.',
        ok: { 204: { description: 'Deleted.' } }, errors: [...AUTHED, 403, 404],
      }),
    })
    .post('/read', ({ userId, params, body }) => messages.read(params.id, userId, body), {
      params: RoomParams,
      body: MarkRead,
      detail: doc({
        tag: 'Messages', summary: 'Move the read mark', description: 'The mark only moves forward.', requestExample: ex.MarkRead,
        ok: { 200: { description: 'The read mark and unread count.', schema: ReadMark, example: { last_read_seq: 41, unread_count: 0 } } },
        errors: [...AUTHED_BODY, 403, 404],
      }),
    })
