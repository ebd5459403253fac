import { jwtVerify, SignJWT } from 'jose'
import { unauthorized } from '../lib/errors'

/** Signs and checks access tokens (HS256 JWTs carrying the user id). */
export type AccessTokens = {
  sign(userId: number): Promise<string>
  /** The user id of a valid access token; throws `unauthorized` otherwise. */
  verify(token: string): Promise<number>
}

export function createAccessTokens(secret: string, ttlSeconds: number): AccessTokens {
  const key = new TextEncoder().encode(secret)
  return {
    sign: (userId) =>
      new SignJWT({ typ: 'access' })
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject(String(userId))
        .setIssuedAt()
        .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSeconds)
        .sign(key),
    async verify(token) {
      try {
        const { payload } = await jwtVerify(token, key, { algorithms: ['HS256'] })
        const id = Number(payload.sub)
        if (payload.typ !== 'access' || !Number.isSafeInteger(id) || id <= 0) throw new Error('bad claims')
        return id
      } catch {
        throw unauthorized('The access token is invalid or expired.')
      }
    },
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
