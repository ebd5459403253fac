import { Elysia } from 'elysia'
import type { Authenticator } from '../auth/authenticator'

/**
 * Adds `userId` to every route after it; missing or bad credentials are 401
 * before the body is validated.
 */
export const authGuard = (auth: Authenticator) =>
  new Elysia({ name: 'auth-guard' }).derive({ as: 'scoped' }, async ({ request }) => ({
    userId: await auth.fromHeaders(request.headers),
  }))
