import { Elysia, t } from 'elysia'
import type { Authenticator } from '../auth/authenticator'
import type { ReactionsService } from '../chat/reactions'
import { authGuard } from './auth-guard'
import { Message } from '../protocol/objects'
import { exampleMessage } from '../protocol/examples'
import { AUTHED, doc } from './route-docs'
import { Id } from './schemas'

const message = { description: 'The message with its reactions as the caller sees them.', schema: Message, example: exampleMessage }

const ReactionParams = t.Object({ id: Id, mid: Id, emoji: t.String({ format: 'text', minLength: 1, maxLength: 64 }) })

/** PUT and DELETE /v1/rooms/:id/messages/:mid/reactions/:emoji. */
export const reactionRoutes = (reactions: ReactionsService, auth: Authenticator) =>
  new Elysia({ prefix: '/v1' })
    .use(authGuard(auth))
    .put('/rooms/:id/messages/:mid/reactions/:emoji', ({ userId, params }) => reactions.add(params.id, userId, params.mid, params.emoji), {
      params: ReactionParams,
      detail: doc({ tag: 'Messages', summary: 'React to a message', description: 'Idempotent: adding the same emoji again changes nothing.', ok: { 200: message }, errors: [...AUTHED, 403, 404] }),
    })
    .delete('/rooms/:id/messages/:mid/reactions/:emoji', ({ userId, params }) => reactions.remove(params.id, userId, params.mid, params.emoji), {
      params: ReactionParams,
      detail: doc({ tag: 'Messages', summary: 'Take a reaction back', ok: { 200: message }, errors: [...AUTHED, 403, 404] }),
    })
