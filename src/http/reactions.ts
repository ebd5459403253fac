import { Elysia, t } from 'elysia'
import type { Authenticator } from '../auth/authenticator'
import type { ReactionsService } from '../chat/reactions'
import { authGuard } from './auth-guard'
import { Id } from './schemas'

const ReactionParams = t.Object({ id: Id, mid: Id, emoji: t.String({ format: 'text', minLength: 1, maxLength: 64 }) })

/** PUT and DELETE /v1/rooms/:id/messages/:mid/reactions/:emoji. */
export const reactionRoutes = (reactions: ReactionsService, auth: Authenticator) =>
  new Elysia({ prefix: '/v1' })
    .use(authGuard(auth))
    .put('/rooms/:id/messages/:mid/reactions/:emoji', ({ userId, params }) => reactions.add(params.id, userId, params.mid, params.emoji), {
      params: ReactionParams,
    })
    .delete('/rooms/:id/messages/:mid/reactions/:emoji', ({ userId, params }) => reactions.remove(params.id, userId, params.mid, params.emoji), {
      params: ReactionParams,
    })
