import { jwt } from '@elysiajs/jwt'
import { unauthorized } from '../lib/errors'

/** What a valid access token says. */
export type AccessClaims = {
  userId: number
  /** the login (refresh-token family) the token was issued for; null for a token without one */
  sid: string | null
  /** when the token expires, ms since the epoch */
  expiresAt: number
}

/** Signs and checks access tokens (HS256 JWTs carrying the user id and the login id `sid`). */
export type AccessTokens = {
  /** A token for `userId`, issued for the login `sid`. */
  sign(userId: number, sid: string): Promise<string>
  /** The user id of a valid access token; throws `unauthorized` otherwise. */
  verify(token: string): Promise<number>
  /** The claims of a valid access token; throws `unauthorized` otherwise. */
  claims(token: string): Promise<AccessClaims>
}

/** Longest login id accepted in a token's `sid` (ours are UUIDs). */
const SID_MAX = 64

/**
 * Access tokens through `@elysiajs/jwt` (its `jwt` decorator works outside a
 * request, so REST and the WebSocket share this one signer): HS256 only, the
 * claims `typ: "access"`, `sub` (user id), `sid`, `iat` and `exp` (now +
 * `ttlSeconds`; a negative TTL mints expired tokens, which tests use).
 */
export function createAccessTokens(secret: string, ttlSeconds: number): AccessTokens {
  const signer = jwt({ secret, alg: 'HS256' }).decorator.jwt
  async function claims(token: string): Promise<AccessClaims> {
    // the plugin answers false for a bad signature, a wrong algorithm, an expired or malformed token
    const payload = await signer.verify(token, { algorithms: ['HS256'] })
    if (payload === false) throw unauthorized('The access token is invalid or expired.')
    const id = Number(payload.sub)
    const sid = payload.sid
    if (
      payload.typ !== 'access' || !Number.isSafeInteger(id) || id <= 0 || typeof payload.exp !== 'number' ||
      (sid !== undefined && (typeof sid !== 'string' || sid.length === 0 || sid.length > SID_MAX))
    ) {
      throw unauthorized('The access token is invalid or expired.')
    }
    return { userId: id, sid: sid ?? null, expiresAt: payload.exp * 1000 }
  }
  return {
    sign: (userId, sid) =>
      signer.sign({ typ: 'access', sid, sub: String(userId), exp: Math.floor(Date.now() / 1000) + ttlSeconds }),
    verify: async (token) => (await claims(token)).userId,
    claims,
  }
}

/** A new opaque refresh token (256 random bits, base64url). */
export function newRefreshToken(): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64url')
}

/** What the database stores of a refresh token. */
export function hashToken(token: string): string {
  return new Bun.CryptoHasher('sha256').update(token).digest('hex')
}
