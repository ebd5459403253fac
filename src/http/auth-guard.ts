import { Elysia } from 'elysia'
import type { AccessTokens } from '../auth/tokens'
import { unauthorized } from '../lib/errors'

/** Pulls the bearer token out of an Authorization header. */
export function bearer(header: string | null | undefined): string | null {
  if (!header) return null
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header)
  return m ? m[1]! : null
}

/**
 * Adds `userId` to every route after it; a missing or bad token is 401
 * before the body is validated.
 */
export const authGuard = (tokens: AccessTokens) =>
  new Elysia({ name: 'auth-guard' }).derive({ as: 'scoped' }, async ({ headers }) => {
    const token = bearer(headers.authorization)
    if (!token) throw unauthorized('Missing bearer token.')
    return { userId: await tokens.verify(token) }
  })
