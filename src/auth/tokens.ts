import { jwtVerify, SignJWT } from 'jose'
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

export function createAccessTokens(secret: string, ttlSeconds: number): AccessTokens {
  const key = new TextEncoder().encode(secret)
  async function claims(token: string): Promise<AccessClaims> {
    try {
      const { payload } = await jwtVerify(token, key, { algorithms: ['HS256'] })
      const id = Number(payload.sub)
      if (payload.typ !== 'access' || !Number.isSafeInteger(id) || id <= 0 || typeof payload.exp !== 'number') {
        throw new Error('bad claims')
      }
      const sid = payload.sid
      if (sid !== undefined && (typeof sid !== 'string' || sid.length === 0 || sid.length > SID_MAX)) throw new Error('bad sid')
      return { userId: id, sid: sid ?? null, expiresAt: payload.exp * 1000 }
    } catch {
      throw unauthorized('The access token is invalid or expired.')
    }
  }
  return {
    sign: (userId, sid) =>
      new SignJWT({ typ: 'access', sid })
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject(String(userId))
        .setIssuedAt()
        .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSeconds)
        .sign(key),
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
