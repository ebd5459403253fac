import { timingSafeEqual } from 'node:crypto'
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
 * Access tokens signed through `@elysiajs/jwt` (its `jwt` decorator works
 * outside a request, so REST and the WebSocket share this one signer) and
 * checked natively (`hs256Verifier`, the connect's hot path): HS256 only, the
 * claims `typ: "access"`, `sub` (user id), `sid`, `iat` and `exp` (now +
 * `ttlSeconds`; a negative TTL mints expired tokens, which tests use).
 */
export function createAccessTokens(secret: string, ttlSeconds: number): AccessTokens {
  const signer = jwt({ secret, alg: 'HS256' }).decorator.jwt
  const verifyHs256 = hs256Verifier(secret)
  async function claims(token: string): Promise<AccessClaims> {
    // null for a bad signature, another algorithm, an expired, not yet valid or malformed token
    const payload = verifyHs256(token, Math.floor(Date.now() / 1000))
    if (payload === null) throw unauthorized('The access token is invalid or expired.')
    const id = Number(payload.sub)
    const sid = payload.sid
    if (
      payload.typ !== 'access' || typeof payload.sub !== 'string' || !Number.isSafeInteger(id) || id <= 0 || typeof payload.exp !== 'number' ||
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

/** A JWS compact part: base64url without padding. */
const B64URL = /^[A-Za-z0-9_-]+$/

/** Longest token accepted for verification (ours are about 250 bytes). */
const TOKEN_MAX = 4096

/**
 * Checks an HS256 JWT the way jose's jwtVerify does with `algorithms:
 * ['HS256']` and no clock tolerance: header `alg` HS256 and no `crit` (so no
 * unencoded payload), signature (HMAC-SHA256, compared in constant time),
 * `exp` (expired at exp <= now) and `nbf` (not before) when present, `iat` a
 * number when present. Returns the payload, or null. Synchronous and native
 * (Bun.CryptoHasher): one HMAC, two base64url decodes and two JSON.parse per
 * token, where jose's WebCrypto path imports the key and awaits per token,
 * the largest part of a connect's CPU in a storm.
 */
export function hs256Verifier(secret: string): (token: string, nowSeconds: number) => Record<string, unknown> | null {
  const key = new TextEncoder().encode(secret)
  return (token, now) => {
    if (token.length > TOKEN_MAX) return null
    const dot1 = token.indexOf('.')
    const dot2 = token.indexOf('.', dot1 + 1)
    if (dot1 <= 0 || dot2 <= dot1 + 1 || dot2 === token.length - 1 || token.indexOf('.', dot2 + 1) !== -1) return null
    const h = token.slice(0, dot1)
    const p = token.slice(dot1 + 1, dot2)
    const sig = token.slice(dot2 + 1)
    if (!B64URL.test(h) || !B64URL.test(p) || !B64URL.test(sig)) return null
    const want = new Bun.CryptoHasher('sha256', key).update(token.slice(0, dot2)).digest()
    const got = Buffer.from(sig, 'base64url')
    if (got.length !== want.length || !timingSafeEqual(got, want)) return null
    let header: unknown
    let payload: unknown
    try {
      header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8'))
      payload = JSON.parse(Buffer.from(p, 'base64url').toString('utf8'))
    } catch {
      return null
    }
    if (typeof header !== 'object' || header === null || Array.isArray(header)) return null
    const hd = header as Record<string, unknown>
    if (hd.alg !== 'HS256' || hd.crit !== undefined || hd.b64 !== undefined) return null
    if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return null
    const pl = payload as Record<string, unknown>
    if (pl.exp !== undefined && (typeof pl.exp !== 'number' || !Number.isFinite(pl.exp) || pl.exp <= now)) return null
    if (pl.nbf !== undefined && (typeof pl.nbf !== 'number' || !Number.isFinite(pl.nbf) || pl.nbf > now)) return null
    if (pl.iat !== undefined && (typeof pl.iat !== 'number' || !Number.isFinite(pl.iat))) return null
    return pl
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
