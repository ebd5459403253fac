import { timingSafeEqual } from 'node:crypto'
import { unauthorized } from '../lib/errors'
import type { AccessClaims, AccessTokens } from './tokens'

/**
 * Who opened a socket and until when: `sid` is the login the token belongs
 * to, `expiresAt` (ms since the epoch) when the socket's credentials end;
 * both null in gateway mode (the gateway vouches; nothing expires here).
 */
export type SocketCredentials = { userId: number; protocol: string | null; sid: string | null; expiresAt: number | null }

/** The user behind a request. One implementation per AUTH_MODE, chosen at wiring. */
export interface Authenticator {
  readonly mode: 'jwt' | 'gateway'
  /** The user of an HTTP request; throws `unauthorized`. */
  fromHeaders(headers: Headers): Promise<number>
  /** True when the request carries credentials at all (optional-auth routes). */
  hasCredentials(headers: Headers): boolean
  /**
   * The user of a WebSocket upgrade (query parameters or headers), and the
   * subprotocol to answer with, if the browser sent its token that way.
   */
  fromUpgrade(url: URL, headers: Headers): Promise<SocketCredentials>
  /** The claims of an access token sent on an open socket (`auth` frame); throws `unauthorized`. */
  renew(token: string): Promise<AccessClaims>
}

/** Pulls the bearer token out of an Authorization header. */
export function bearer(header: string | null | undefined): string | null {
  if (!header) return null
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header)
  return m ? m[1]! : null
}

/** AUTH_MODE=jwt: `Authorization: Bearer <access token>`; for sockets also `?token=` or `Sec-WebSocket-Protocol: bearer, <token>`. */
export function createJwtAuthenticator(tokens: AccessTokens): Authenticator {
  return {
    mode: 'jwt',
    hasCredentials: (h) => h.has('authorization'),
    async fromHeaders(h) {
      const token = bearer(h.get('authorization'))
      if (!token) throw unauthorized('Missing bearer token.')
      return tokens.verify(token)
    },
    async fromUpgrade(url, h) {
      let token = url.searchParams.get('token') ?? bearer(h.get('authorization'))
      let protocol: string | null = null
      const proto = h.get('sec-websocket-protocol')
      if (!token && proto) {
        const parts = proto.split(',').map((s) => s.trim())
        if (parts[0] === 'bearer' && parts[1]) {
          token = parts[1]
          protocol = 'bearer'
        }
      }
      if (!token) throw unauthorized('Missing access token.')
      const c = await tokens.claims(token)
      return { userId: c.userId, protocol, sid: c.sid, expiresAt: c.expiresAt }
    },
    renew: (token) => tokens.claims(token),
  }
}

/** What the API gateway vouches for. */
export type GatewayIdentity = { id: number; nickname: string; email: string; avatar: string | null }

/** Seconds a gateway signature stays acceptable either side of now. */
export const GATEWAY_SKEW_SECONDS = 60

/** Lowercase hex HMAC-SHA256 over "{id}\n{nickname}\n{email}\n{avatar}\n{timestamp}" (decoded values; no avatar = ""). */
export function gatewaySignature(secret: string, v: { id: string; nickname: string; email: string; avatar: string; ts: string }): string {
  return new Bun.CryptoHasher('sha256', secret).update(`${v.id}\n${v.nickname}\n${v.email}\n${v.avatar}\n${v.ts}`).digest('hex')
}

/**
 * Checks the six gateway values (raw: nickname and avatar still
 * percent-encoded) and returns the identity; throws `unauthorized`.
 */
export function verifyGateway(
  secret: string,
  raw: { id: string | null; nickname: string | null; email: string | null; avatar: string | null; ts: string | null; sig: string | null },
  nowSeconds = Date.now() / 1000,
): GatewayIdentity {
  const { id, email, ts, sig } = raw
  if (!id || !raw.nickname || !email || !ts || !sig) throw unauthorized('Missing gateway identity headers.')
  if (!/^[1-9]\d{0,15}$/.test(id) || !Number.isSafeInteger(Number(id))) throw unauthorized('X-User-Id must be a positive integer.')
  if (!/^\d{1,12}$/.test(ts) || Math.abs(nowSeconds - Number(ts)) > GATEWAY_SKEW_SECONDS) {
    throw unauthorized('The gateway timestamp is missing or more than 60 s away.')
  }
  let nickname: string
  let avatar: string
  try {
    nickname = decodeURIComponent(raw.nickname)
    avatar = raw.avatar ? decodeURIComponent(raw.avatar) : ''
  } catch {
    throw unauthorized('Nickname or avatar is not valid percent-encoding.')
  }
  const want = gatewaySignature(secret, { id, nickname, email, avatar, ts })
  if (sig.length !== want.length || !timingSafeEqual(Buffer.from(sig.toLowerCase()), Buffer.from(want))) {
    throw unauthorized('The gateway signature does not match.')
  }
  return { id: Number(id), nickname, email: email.trim().toLowerCase(), avatar: avatar || null }
}

/**
 * AUTH_MODE=gateway: the API gateway in front has authenticated the user and
 * signs who it is; `ensureUser` creates or updates the user row on sight.
 * Bearer tokens are refused.
 */
export function createGatewayAuthenticator(secret: string, ensureUser: (u: GatewayIdentity) => Promise<void>): Authenticator {
  const check = async (raw: Parameters<typeof verifyGateway>[1], hasBearer: boolean) => {
    if (hasBearer && !raw.sig) throw unauthorized('Bearer tokens are not accepted here: the API gateway authenticates.')
    const who = verifyGateway(secret, raw)
    await ensureUser(who)
    return who.id
  }
  const fromHeaders = (h: Headers) =>
    check({
      id: h.get('x-user-id'), nickname: h.get('x-user-nickname'), email: h.get('x-user-email'),
      avatar: h.get('x-user-avatar'), ts: h.get('x-gateway-timestamp'), sig: h.get('x-gateway-signature'),
    }, h.has('authorization'))
  return {
    mode: 'gateway',
    hasCredentials: (h) => h.has('x-gateway-signature') || h.has('authorization'),
    fromHeaders,
    async fromUpgrade(url, h) {
      const q = url.searchParams
      if (q.has('sig')) {
        const userId = await check({
          id: q.get('user_id'), nickname: q.get('nickname') === null ? null : encodeURIComponent(q.get('nickname')!),
          email: q.get('email'), avatar: q.get('profile_url') === null ? null : encodeURIComponent(q.get('profile_url')!),
          ts: q.get('ts'), sig: q.get('sig'),
        }, q.has('token'))
        return { userId, protocol: null, sid: null, expiresAt: null }
      }
      if (q.has('token')) throw unauthorized('Bearer tokens are not accepted here: the API gateway authenticates.')
      return { userId: await fromHeaders(h), protocol: null, sid: null, expiresAt: null }
    },
    async renew() {
      throw unauthorized('Bearer tokens are not accepted here: the API gateway authenticates.')
    },
  }
}

/**
 * The authenticator AUTH_MODE asks for: JWT bearer tokens, or the API
 * gateway's signed identity (whose users are created on sight).
 */
export function createAuthenticator(
  config: { AUTH_MODE: 'jwt' | 'gateway'; GATEWAY_SECRET?: string },
  users: { ensureGatewayUser(u: GatewayIdentity): Promise<void> },
  tokens: AccessTokens,
): Authenticator {
  if (config.AUTH_MODE === 'jwt') return createJwtAuthenticator(tokens)
  // config validation requires GATEWAY_SECRET in gateway mode
  return createGatewayAuthenticator(config.GATEWAY_SECRET!, (u) => users.ensureGatewayUser(u))
}
